#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# The KASLR decompressor chooses the kernel's physical address before the
# kernel parses hvcarve=. With a carveout covering most of the RAM it could
# choose, a decompressor that ignored hvcarve= would land in it most of the
# time; ours must never. The stock 6.1 kernel, which knows nothing of
# hvcarve=, is the negative control that shows the check can fail.

load helpers
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

# 768 MiB of the 1 GiB guest: [128 MiB, 896 MiB). KASLR may place the
# kernel anywhere in RAM from 16 MiB up, below the initrd at the top.
CARVE_START=$((0x8000000))
CARVE_END=$((0x38000000))
CARVE="hvcarve=768M@0x8000000"
BOOTS=${KASLR_BOOTS:-5}

teardown() {
	hvt_teardown
}

SCENARIO='
hvt_result state "$(cat /sys/kernel/mm/hvcarve/state 2>/dev/null || echo absent)"
start=$(awk -F"[- :]+" "/ Kernel code\$/ { print \$2 }" /proc/iomem)
end=$(awk -F"[- :]+" "/ Kernel bss\$/ { print \$3 }" /proc/iomem)
hvt_result kernel_range "0x$start 0x$end"
hvt_done
'

# kernel_positions KERNEL: boot it $BOOTS times with the carveout and KASLR
# on; print one "START END STATE" line per boot.
kernel_positions() {
	local i
	for i in $(seq 1 "$BOOTS"); do
		VM_TAG=boot$i VM_KERNEL=$1 vm_run - "$CARVE" <<<"$SCENARIO" >&2 || return 1
		echo "$(VM_TAG=boot$i result kernel_range 0) $(VM_TAG=boot$i result state 0)"
	done
}

# in_carveout START END: does [START, END] touch the carveout?
in_carveout() {
	[ $(($1)) -lt "$CARVE_END" ] && [ $(($2)) -ge "$CARVE_START" ]
}

@test "KASLR never places the patched kernel in the carveout ($BOOTS boots)" {
	local pos start end state inside=0
	pos=$(kernel_positions "$NEW_KERNEL")
	echo "$pos"
	[ "$(echo "$pos" | wc -l)" -eq "$BOOTS" ]
	while read -r start end state; do
		assert_equal "$state" active
		if in_carveout "$start" "$end"; then
			inside=$((inside + 1))
		fi
	done <<<"$pos"
	assert_equal "$inside" 0
	# Randomization really was on: the kernel moved between boots.
	[ "$(echo "$pos" | cut -d' ' -f1 | sort -u | wc -l)" -ge 2 ]
}

@test "negative control: the stock 6.1 decompressor lands in the carveout" {
	local pos start end state inside=0
	pos=$(VM_MEM=1G kernel_positions "$OLD_KERNEL")
	echo "$pos"
	while read -r start end state; do
		assert_equal "$state" absent
		if in_carveout "$start" "$end"; then
			inside=$((inside + 1))
		fi
	done <<<"$pos"
	# 5 boots all missing 80% of the slots happens 3 times in 10000.
	[ "$inside" -ge 1 ]
}

@test "more than 8 regions: physical KASLR is turned off, and says so" {
	local p="hvcarve=2M@0x30000000" i
	for i in 1 2 3 4 5 6 7 8; do
		p+=",2M@$(printf '0x%x' $((0x30000000 + i * 0x400000)))"
	done
	vm_run - "earlyprintk=serial,ttyS0,115200 $p" <<<"$SCENARIO"
	run console_grep 'Physical KASLR disabled: hvcarve= is malformed or has more than 8 regions'
	assert_success
	# The kernel stayed where it was loaded, at LOAD_PHYSICAL_ADDR.
	assert_equal "$(result kernel_range 0 | cut -d' ' -f1)" 0x01000000
	assert_equal "$(result state 0)" invalid
}

@test "a malformed hvcarve= also turns physical KASLR off" {
	vm_run - "earlyprintk=serial,ttyS0,115200 hvcarve=64M@zz" <<<"$SCENARIO"
	run console_grep 'Physical KASLR disabled: hvcarve= is malformed'
	assert_success
	assert_equal "$(result kernel_range 0 | cut -d' ' -f1)" 0x01000000
}
