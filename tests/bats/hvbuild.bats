#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# The Hyper-V side of the glue (the real hypercall backend, and the hooks in
# hv_proc.c and mshv_root_hv_call.c) never runs under QEMU, where the
# simulator takes the deposits. It is compiled into the test kernel
# (HVCARVE depends on MSHV_ROOT), and make check compiles it on its own
# with HYPERV + MSHV_ROOT, so it cannot rot.

load helpers
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

KTREE=${KTREE:-$HVT_ROOT/build/linux}
KOUT_HV=$HVT_ROOT/build/kbuild-hv

@test "the Hyper-V deposit glue compiles with HYPERV and MSHV_ROOT (make check: compile-hyperv)" {
	[ -f "$KTREE/Makefile" ] || fail "no patched tree at $KTREE: run 'make kernel' first"
	# scripts/check.sh builds the objects into build/kbuild-hv under the
	# kernel lock, and checks the backend and the hooks are in them.
	run "$HVT_ROOT/scripts/check.sh" compile-hyperv
	echo "$output"
	assert_success
	assert_output --regexp '^check: compile-hyperv: ok'
	grep -qx 'CONFIG_MSHV_ROOT=y' "$KOUT_HV/.config"
	grep -qx 'CONFIG_HYPERV=y' "$KOUT_HV/.config"
}

@test "the test kernel itself has the hypercall backend and the hooks (HVCARVE depends on MSHV_ROOT), as the Hyper-V build does" {
	# The test kernel is built with MSHV_ROOT (configs/hvcarve-test.config),
	# which HVCARVE depends on: under QEMU the backend stays idle and the
	# simulator takes the deposits, but the code a root partition runs is
	# compiled into the kernel the suite boots.
	local o
	[ -f "$KOUT_HV/drivers/hv/hv_carve_deposit.o" ] || fail "run the compile test first"
	grep -qx 'CONFIG_MSHV_ROOT=y' "$HVT_ROOT/build/kbuild/.config"
	grep -qx 'CONFIG_HVCARVE=y' "$HVT_ROOT/build/kbuild/.config"
	for o in "$KOUT_HV" "$HVT_ROOT/build/kbuild"; do
		run nm "$o/drivers/hv/hv_carve_deposit.o"
		assert_success
		assert_output --partial "hv_carve_hv_deposit"
		assert_output --partial "hv_carve_hv_withdraw"
		# hv_proc.c's deposit goes through the carveout glue.
		run nm "$o/drivers/hv/hv_proc.o"
		assert_output --partial "U hv_carve_deposit_pages"
		run nm "$o/drivers/hv/mshv_root_hv_call.o"
		assert_output --partial "U hv_carve_withdrawn"
	done
}
