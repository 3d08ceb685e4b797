#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# The KASLR decompressor chooses the kernel's physical address before the
# kernel parses hvcarve=. With a carveout covering most of the RAM it could
# choose, a decompressor that ignored hvcarve= would land in it most of the
# time; ours must never. The guest says where its kernel is (/proc/iomem),
# and the host checks for itself: after every boot it dumps the whole
# carveout through the QEMU monitor, and the dump must still be all zero,
# as QEMU hands over guest RAM (nothing but a kernel that ignored the
# carveout writes there: the test kernel's simulator writes only when told
# to deposit). The stock 6.1 kernel, which knows nothing of hvcarve=, is
# the negative control that shows both checks can fail.

load helpers
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

# 768 MiB of the 1 GiB guest: [128 MiB, 896 MiB). KASLR may place the
# kernel anywhere in RAM from 16 MiB up, below the initrd at the top.
CARVE_START=$((0x8000000))
CARVE_END=$((0x38000000))
CARVE_SIZE=$((CARVE_END - CARVE_START))
CARVE="hvcarve=768M@0x8000000"
BOOTS=${KASLR_BOOTS:-5}

teardown() {
	hvt_teardown
}

# Where the kernel is, and the state of hvcarve. A value that cannot be
# read is no value: the scenario fails rather than report an empty one.
SCENARIO='
hvt_result state "$(cat /sys/kernel/mm/hvcarve/state 2>/dev/null || echo absent)"
start=$(awk -F"[- :]+" "/ Kernel code\$/ { print \$2 }" /proc/iomem)
end=$(awk -F"[- :]+" "/ Kernel bss\$/ { print \$3 }" /proc/iomem)
[ -n "$start" ] && [ -n "$end" ] || hvt_fail "no Kernel code/bss lines in /proc/iomem"
hvt_result kernel_range "0x$start 0x$end"
'

# kernel_range: "START END" of the kernel image (code to bss) that
# generation 0 reported; fails, saying why, unless there are
# two hex numbers, START <= END.
kernel_range() {
	local r s e
	r=$(result kernel_range 0) || { echo "no kernel_range result"; return 1; }
	if ! [[ $r =~ ^0x[0-9a-f]+\ 0x[0-9a-f]+$ ]]; then
		echo "kernel_range is not two hex numbers: '$r'"
		return 1
	fi
	read -r s e <<<"$r"
	[ $((s)) -le $((e)) ] || { echo "kernel_range ends before it starts: '$r'"; return 1; }
	echo "$s $e"
}

# hvcarve_state: the state generation 0 reported; fails if none.
hvcarve_state() {
	local s
	s=$(result state 0) || { echo "no state result"; return 1; }
	[ -n "$s" ] || { echo "empty state result"; return 1; }
	echo "$s"
}

# carveout_dump_verdict NAME: "zero" if dump NAME covers the whole carveout
# and is all zero bytes, else "nonzero" and cmp's first difference. Fails
# if the dump is missing or has the wrong size. An all-zero dump is removed
# (768 MiB; the verdict stays), a nonzero one kept for a look.
carveout_dump_verdict() {
	local f out rc=0
	f=$(dump_file "$1")
	[ -f "$f" ] || { echo "no dump $f"; return 1; }
	[ "$(stat -c %s "$f")" -eq "$CARVE_SIZE" ] ||
		{ echo "dump $f has $(stat -c %s "$f") bytes, not $CARVE_SIZE"; return 1; }
	out=$(cmp -n "$CARVE_SIZE" -- "$f" /dev/zero 2>&1) || rc=$?
	case $rc in
	0) rm -f "$f"; echo zero ;;
	1) echo "nonzero (${out##*: })" ;;
	*) echo "cmp failed: $out"; return 1 ;;
	esac
}

# kernel_positions KERNEL: boot it $BOOTS times with the carveout and KASLR
# on, the host dumping the carveout after each boot; print one
# "START END STATE VERDICT" line per boot (VERDICT: carveout_dump_verdict).
kernel_positions() {
	local i range state verdict
	for i in $(seq 1 "$BOOTS"); do
		printf '%s\nhvt_ckpt post-boot %s %s\nhvt_done\n' "$SCENARIO" "$CARVE_START" "$CARVE_SIZE" |
			VM_TAG=boot$i VM_KERNEL=$1 vm_run - "$CARVE" >&2 || return 1
		range=$(VM_TAG=boot$i kernel_range) || { echo "boot $i: $range" >&2; return 1; }
		state=$(VM_TAG=boot$i hvcarve_state) || { echo "boot $i: $state" >&2; return 1; }
		verdict=$(VM_TAG=boot$i carveout_dump_verdict post-boot) ||
			{ echo "boot $i: $verdict" >&2; return 1; }
		echo "$range $state $verdict"
	done
}

# in_carveout START END: does [START, END] touch the carveout?
in_carveout() {
	[ $(($1)) -lt "$CARVE_END" ] && [ $(($2)) -ge "$CARVE_START" ]
}

@test "KASLR never places the patched kernel in the carveout, which stays all zero ($BOOTS boots)" {
	local pos start end state verdict inside=0
	pos=$(kernel_positions "$NEW_KERNEL")
	echo "$pos"
	assert_equal "$(wc -l <<<"$pos")" "$BOOTS"
	while read -r start end state verdict; do
		assert_equal "$state" active
		if in_carveout "$start" "$end"; then
			inside=$((inside + 1))
		fi
		# The host's own check: not one byte of the carveout was written.
		assert_equal "$verdict" zero
	done <<<"$pos"
	assert_equal "$inside" 0
	# Randomization really was on: the kernel moved between boots.
	[ "$(cut -d' ' -f1 <<<"$pos" | sort -u | wc -l)" -ge 2 ]
}

@test "negative control: the stock 6.1 decompressor lands in the carveout, and the host sees it written" {
	local pos start end state verdict inside=0 written=0
	pos=$(VM_MEM=1G kernel_positions "$OLD_KERNEL")
	echo "$pos"
	assert_equal "$(wc -l <<<"$pos")" "$BOOTS"
	while read -r start end state verdict; do
		assert_equal "$state" absent
		if in_carveout "$start" "$end"; then
			inside=$((inside + 1))
			# A kernel that says it is in there is in the host's dump.
			[[ $verdict == nonzero* ]] || fail "kernel at $start-$end, yet the carveout dump is $verdict"
		fi
		[[ $verdict == zero ]] || written=$((written + 1))
	done <<<"$pos"
	# 5 boots all missing 80% of the slots happens 3 times in 10000.
	[ "$inside" -ge 1 ]
	[ "$written" -ge 1 ]
}

@test "negative control: a missing or empty kernel position is a failure, never 0" {
	# Results in the guest's format, as a broken scenario would leave them.
	mkdir -p "$(vm_artifacts)/dumps"
	printf '0 state active\n0 kernel_range 0x1000000 0x2ffffff\n' >"$(vm_artifacts)/results.txt"
	run kernel_range
	assert_success
	assert_output "0x1000000 0x2ffffff"
	printf '0 state active\n0 kernel_range 0x 0x\n' >"$(vm_artifacts)/results.txt"
	run kernel_range
	assert_failure
	assert_output "kernel_range is not two hex numbers: '0x 0x'"
	printf '0 state active\n0 kernel_range 0x2000000 0x1000000\n' >"$(vm_artifacts)/results.txt"
	run kernel_range
	assert_failure
	assert_output --partial "ends before it starts"
	printf '0 state active\n' >"$(vm_artifacts)/results.txt"
	run kernel_range
	assert_failure
	assert_output "no kernel_range result"
	printf '0 state \n' >"$(vm_artifacts)/results.txt"
	run hvcarve_state
	assert_failure
	# And a dump that is missing or short is no verdict.
	run carveout_dump_verdict post-boot
	assert_failure
	assert_output --partial "no dump"
	head -c 4096 /dev/zero >"$(dump_file post-boot)"
	run carveout_dump_verdict post-boot
	assert_failure
	assert_output --partial "has 4096 bytes"
}

# kernel_start: the start of the kernel image generation 0 reported.
kernel_start() {
	local r
	r=$(kernel_range) || { echo "$r"; return 1; }
	echo "${r%% *}"
}

@test "more than 8 regions: physical KASLR is turned off, and says so" {
	local p="hvcarve=2M@0x30000000" i
	for i in 1 2 3 4 5 6 7 8; do
		p+=",2M@$(printf '0x%x' $((0x30000000 + i * 0x400000)))"
	done
	vm_run - "earlyprintk=serial,ttyS0,115200 $p" <<<"$SCENARIO hvt_done"
	run console_grep "Physical KASLR disabled: hvcarve= rejected: more than 8 regions$"
	assert_success
	# The kernel stayed where it was loaded, at LOAD_PHYSICAL_ADDR.
	run kernel_start
	assert_success
	assert_output 0x01000000
	assert_equal "$(hvcarve_state)" invalid
}

@test "a malformed hvcarve= also turns physical KASLR off" {
	vm_run - "earlyprintk=serial,ttyS0,115200 hvcarve=64M@zz" <<<"$SCENARIO hvt_done"
	run console_grep "Physical KASLR disabled: hvcarve= rejected: address is not a number$"
	assert_success
	run kernel_start
	assert_success
	assert_output 0x01000000
}

# The decompressor reads hvcarve= with the kernel's own parser
# (<linux/hvcarve_parse.h>, issue 16 item 4). Each value below is one the
# kernel refuses and an unchecked memparse() reading avoided as written,
# randomizing on around it: an unaligned address, and regions of two
# hvcarve= parameters that overlap. Now the decompressor refuses it too, for
# the kernel's reason, and does not guess: physical KASLR goes off.
@test "the decompressor refuses what the kernel refuses, for the same reason, and turns physical KASLR off" {
	local params reason n=0
	while IFS='|' read -r params reason; do
		n=$((n + 1))
		VM_TAG=value$n vm_run - "earlyprintk=serial,ttyS0,115200 $params" <<<"$SCENARIO hvt_done"
		VM_TAG=value$n run console_grep "Physical KASLR disabled: hvcarve= rejected: $reason\$"
		assert_success
		VM_TAG=value$n run console_grep "hvcarve: rejecting \"hvcarve=.*\": $reason\$"
		assert_success
		VM_TAG=value$n run kernel_start
		assert_success
		assert_output 0x01000000
		assert_equal "$(VM_TAG=value$n hvcarve_state)" invalid
	done <<'VALUES'
hvcarve=64M@0x30000800|address is not page aligned
hvcarve=64M@0x30000000 hvcarve=32M@0x32000000|region overlaps another hvcarve region
VALUES
	assert_equal "$n" 2
}
