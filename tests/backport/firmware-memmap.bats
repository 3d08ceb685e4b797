#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# kexec -l and /sys/firmware/memmap on the kernel under test (NEW_KERNEL;
# make backport-check runs this on the 6.12 test kernel).
#
# kexec-tools' kexec_load path builds the next kernel's e820 map from
# /sys/firmware/memmap. From 6.15 on (mainline a2498e5c453b) that is
# e820_table_kexec, where hvcarve marks the carveout; before, it was
# e820_table_firmware, which hvcarve leaves alone. patches/6.12/0003 is
# that mainline commit, for 6.12; without it a 6.12 kernel shows the
# carveout as System RAM there, and kexec -l hands it on as RAM.
#
# Proved from outside the guest: the host dumps the carveout (QMP
# pmemsave) right before kexec -e and after the stock Debian 6.1 kernel,
# told nothing, has dirtied 90% of its free memory; the dumps must be
# byte-identical, and every page the simulated hypervisor held must be
# unchanged. Two negative controls show the same checks fail when the
# carveout reaches the next kernel as RAM: the kernel under test with its
# /sys/firmware/memmap overlaid by the view of a 6.12 kernel without the
# patch, and, when BP_NOFIX_KERNEL names it, that very kernel.
#
# Environment (besides helpers.bash's):
#   BP_NOFIX_KERNEL    the kernel under test built without the memmap patch
#                      (scripts/backport-check.sh builds it); without it
#                      that negative control is skipped
#   BP_EXPECT_RELEASE  an extended regex that uname -r of the kernel under
#                      test must match (backport-check: ^6\.12\.)

load ../bats/helpers
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

# Low in the 1 GiB guest. kexec-tools puts kexec -l segments top-down in the
# highest System RAM below 1 GiB; a carveout near the top that
# /sys/firmware/memmap calls System RAM gets some of them, and the kernel
# refuses the load (patches/6.12/0008; the last test) before the next kernel
# could be handed the carveout as RAM. Here the segments land above it, and
# the negative controls reach that hand-out.
CARVE_BASE=0x10000000
CARVE_SIZE=0x4000000
# Where the segments do land in the carveout (the 7.3 suites' usual place).
HIGH_BASE=0x3a000000
CARVE="hvcarve=64M@$CARVE_BASE"
DUMP=$HVT_ROOT/tools/hvcarve/hvcarve-dump
# Pages the simulated hypervisor holds before the kexec.
HELD=5000

teardown() {
	hvt_teardown
}

# Guest code: report /sys/firmware/memmap as the result "fwmap", entries
# "START END TYPE" (as sysfs has them) joined by '|'.
# shellcheck disable=SC2016 # guest code: it expands in the guest
REPORT_FWMAP='
hvt__fw=/sys/firmware/memmap
if [ -d $hvt__fw ]; then
	for hvt__d in $(ls $hvt__fw | sort -n); do
		echo "$(cat $hvt__fw/$hvt__d/start) $(cat $hvt__fw/$hvt__d/end) $(cat $hvt__fw/$hvt__d/type)"
	done >/tmp/fwmap
	hvt_result fwmap "$(tr "\n" "|" </tmp/fwmap)"
else
	hvt_result fwmap absent
fi
'

# fwmap_entries GEN: generation GEN's /sys/firmware/memmap, one
# "START END TYPE..." line per entry (decimal, END inclusive).
fwmap_entries() {
	local map s e t
	map=$(result fwmap "$1") || return 1
	[ "$map" != absent ] || return 1
	while read -r s e t; do
		[ -n "$s" ] || continue
		echo "$((s)) $((e)) $t"
	done < <(tr '|' '\n' <<<"$map")
}

# fwmap_check GEN: the carveout is one "Reserved" entry of GEN's
# /sys/firmware/memmap, exactly, and no "System RAM" entry overlaps it.
# Explicit returns: it also runs under `run`.
fwmap_check() {
	local base=$((CARVE_BASE)) end=$((CARVE_BASE + CARVE_SIZE - 1)) s e t exact=0 entries
	entries=$(fwmap_entries "$1") || { echo "gen $1: no /sys/firmware/memmap"; return 1; }
	while read -r s e t; do
		if [ "$s" -le "$end" ] && [ "$e" -ge "$base" ] && [ "$t" = "System RAM" ]; then
			printf 'gen %s: /sys/firmware/memmap has System RAM [%#x-%#x] in the carveout\n' "$1" "$s" "$e"
			return 1
		fi
		[ "$s" = "$base" ] && [ "$e" = "$end" ] && [ "$t" = Reserved ] && exact=1
	done <<<"$entries"
	[ "$exact" = 1 ] || { echo "gen $1: /sys/firmware/memmap has no Reserved entry that is the carveout"; return 1; }
}

# The chain of every test here: generation 0 (the kernel under test, or
# the one given) deposits HELD pages through the simulated hypervisor and
# kexec -l's the stock 6.1 kernel with nothing on its command line, which
# dirties 90% of its free memory (memhog 90 --min 80) before the host
# dumps the carveout again. PRE runs in generation 0 just before the
# kexec.
chain() {
	local pre=$1
	shift
	vm_run - "nokaslr $CARVE" "$@" <<EOF
. /hvt/sim.sh
CARVE_BASE=$CARVE_BASE CARVE_SIZE=$CARVE_SIZE
export HVT_DUMP_RANGES="$CARVE_BASE $CARVE_SIZE"
g=\$(hvt_gen)
$REPORT_FWMAP
if [ "\$g" = 0 ]; then
	hvt_result state "\$(cat \$HVT_HVC/state 2>/dev/null || echo absent)"
	hvt_sim_deposit $HELD 1 || hvt_fail "deposit: \$hvt_sim_err"
	hvt_result held "\$(hvt_sim_ledger held)"
	$pre
	hvt_kexec -l /boot/vmlinuz-old
	hvt_fail "kexec -l into the stock kernel failed"
fi
hvt_memhog_run 90 80
hvt_ckpt "post-boot-gen\$g" $CARVE_BASE $CARVE_SIZE
hvt_done
EOF
}

# The stock kernel booted by kexec -l, told nothing.
assert_gen1_stock() {
	assert_equal "$(last_gen)" 1
	run result uname_r 1
	assert_success
	assert_output --regexp '^6\.1\.'
	run result cmdline 1
	assert_success
	refute_output --partial hvcarve=
	refute_output --partial memmap=
	assert_memhog 1
	assert_equal "$(result held 0)" "$HELD"
}

# kept: the host's verdict on the carveout across the kexec; prints the
# reason when it changed.
kept() {
	"$DUMP" diff --base "$CARVE_BASE" "$(dump_file pre-kexec-gen0)" "$(dump_file post-boot-gen1)" &&
		"$DUMP" held-kept --base "$CARVE_BASE" --expect-held "$HELD" \
			"$(dump_file pre-kexec-gen0)" "$(dump_file post-boot-gen1)"
}

# assert_lost_at_kexec_l: generation 0's /sys/firmware/memmap called the
# carveout System RAM, so kexec -l gave it to the stock kernel as RAM, which
# used it, and the host's checks say so.
assert_lost_at_kexec_l() {
	run fwmap_check 0
	assert_failure
	assert_output --partial "System RAM"
	assert_gen1_stock
	e820_range_overlaps 1 "$CARVE_BASE" "$CARVE_SIZE" usable BIOS-e820
	run kept
	assert_failure
	assert_output --partial DIFFERENT
}

@test "the carveout is Reserved in /sys/firmware/memmap, as in the kexec e820" {
	vm_run - "nokaslr $CARVE" <<EOF
$REPORT_FWMAP
hvt_done
EOF
	if [ -n "${BP_EXPECT_RELEASE:-}" ]; then
		run result uname_r 0
		assert_output --regexp "$BP_EXPECT_RELEASE"
	fi
	run console_grep -g 0 "$(printf 'hvcarve: region 0: \\[mem 0x%016x-0x%016x\\] 64 MiB reserved' \
		$((CARVE_BASE)) $((CARVE_BASE + CARVE_SIZE - 1)))"
	assert_success
	run fwmap_check 0
	assert_success
	# The control: without hvcarve= the same range is System RAM there.
	vm_run - "nokaslr" <<EOF
$REPORT_FWMAP
hvt_done
EOF
	run fwmap_check 0
	assert_failure
	assert_output --partial "System RAM"
}

@test "kexec -l into the stock 6.1 kernel, told nothing: the carveout is byte-identical after memory pressure" {
	chain ""
	if [ -n "${BP_EXPECT_RELEASE:-}" ]; then
		run result uname_r 0
		assert_output --regexp "$BP_EXPECT_RELEASE"
	fi
	run fwmap_check 0
	assert_success
	assert_gen1_stock
	# kexec-tools handed the Reserved entry on as reserved.
	e820_range_is 1 "$CARVE_BASE" "$CARVE_SIZE" reserved BIOS-e820
	run e820_range_overlaps 1 "$CARVE_BASE" "$CARVE_SIZE" usable BIOS-e820
	assert_failure
	run kept
	assert_success
	assert_output --partial identical
	assert_output --partial "ok: every page held in BEFORE is unchanged"
}

# What a 6.12 kernel without the patch shows, overlaid on the kernel under
# test: the carveout's entry of /sys/firmware/memmap as System RAM.
@test "negative control: /sys/firmware/memmap with the carveout as System RAM, and kexec -l loses it" {
	chain "
awk -v b=$(printf %#x $((CARVE_BASE))) -v e=$(printf %#x $((CARVE_BASE + CARVE_SIZE - 1))) '{
	t = \$3; for (i = 4; i <= NF; i++) t = t \" \" \$i
	if (\$1 == b && \$2 == e && t == \"Reserved\") t = \"System RAM\"
	print \$1, \$2, t
}' /tmp/fwmap >/tmp/fwmap.ram
hvt_fake_memmap /tmp/fwmap.ram || hvt_fail 'fake memmap'
$REPORT_FWMAP
"
	# The overlay was in place (the last fwmap of generation 0 wins), and
	# the stock kernel got the carveout as RAM.
	assert_lost_at_kexec_l
}

@test "negative control: the same kernel without the memmap patch loses the carveout at kexec -l" {
	[ -n "${BP_NOFIX_KERNEL:-}" ] ||
		skip "BP_NOFIX_KERNEL is not set: no build without the memmap patch to run (make backport-check builds one)"
	local nofix
	nofix=$(hvt_abspath "$BP_NOFIX_KERNEL")
	[ -f "$nofix" ] || fail "BP_NOFIX_KERNEL=$BP_NOFIX_KERNEL: no such file"
	VM_KERNEL=$nofix chain ""
	if [ -n "${BP_EXPECT_RELEASE:-}" ]; then
		run result uname_r 0
		assert_output --regexp "$BP_EXPECT_RELEASE"
	fi
	# It reserved the carveout as well as the fixed kernel does...
	assert_equal "$(result state 0)" active
	e820_range_is 0 "$CARVE_BASE" "$CARVE_SIZE" hvcarve modified
	# ...but /sys/firmware/memmap still calls it System RAM, so kexec -l
	# gave it to the stock kernel as RAM.
	assert_lost_at_kexec_l
}

# Where kexec-tools puts the segments in the carveout (HIGH_BASE, below the
# top of RAM), the kernel's own segment check (patches/6.12/0008) is what
# stops kexec -l on a kernel without the memmap patch: it refuses the load,
# so a 6.12 kernel without 0003 fails there instead of losing the carveout.
# The fixed kernel, with the same carveout, kexec's (its /sys/firmware/memmap
# keeps the segments out).
@test "without the memmap patch, kexec -l segments in a carveout that memmap calls RAM are refused; with it, they avoid it" {
	[ -n "${BP_NOFIX_KERNEL:-}" ] ||
		skip "BP_NOFIX_KERNEL is not set: no build without the memmap patch to run (make backport-check builds one)"
	local nofix high_end msg
	nofix=$(hvt_abspath "$BP_NOFIX_KERNEL")
	[ -f "$nofix" ] || fail "BP_NOFIX_KERNEL=$BP_NOFIX_KERNEL: no such file"
	high_end=$((HIGH_BASE + CARVE_SIZE - 1))
	msg=$(printf 'hvcarve: kexec segment [0-9]+ \\[mem 0x[0-9a-f]{16}-0x[0-9a-f]{16}\\] overlaps carveout region 0 \\[mem 0x%016x-0x%016x\\]: refused' \
		$((HIGH_BASE)) "$high_end")
	VM_KERNEL=$nofix vm_run - "nokaslr hvcarve=64M@$HIGH_BASE" <<EOF
$REPORT_FWMAP
hvt_kexec_load -l /boot/vmlinuz-old
hvt_done
EOF
	if [ -n "${BP_EXPECT_RELEASE:-}" ]; then
		run result uname_r 0
		assert_output --regexp "$BP_EXPECT_RELEASE"
	fi
	CARVE_BASE=$HIGH_BASE run fwmap_check 0
	assert_failure
	assert_output --partial "System RAM"
	run result kexec_load 0
	assert_output rc=255
	run console_grep -g 0 "$msg"
	assert_success
	# The same carveout on the fixed kernel: Reserved, and the load is fine.
	vm_run - "nokaslr hvcarve=64M@$HIGH_BASE" <<EOF
$REPORT_FWMAP
hvt_kexec_load -l /boot/vmlinuz-old
hvt_done
EOF
	CARVE_BASE=$HIGH_BASE run fwmap_check 0
	assert_success
	run result kexec_load 0
	assert_output rc=0
	run console_grep -g 0 "$msg"
	assert_failure
}
