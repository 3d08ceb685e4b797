#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# The Hyper-V side of the glue (the real hypercall backend, and the hooks in
# hv_proc.c and mshv_root_hv_call.c) is not in the test kernel, which runs
# on the simulator. Compile it with HYPERV + MSHV_ROOT so it cannot rot.

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

@test "the Hyper-V build really contains the hypercall backend, the test build does not" {
	# Proves the check above covers the Hyper-V-only code: its functions
	# exist in this object and not in the simulator-only test kernel.
	[ -f "$KOUT_HV/drivers/hv/hv_carve_deposit.o" ] || fail "run the compile test first"
	run nm "$KOUT_HV/drivers/hv/hv_carve_deposit.o"
	assert_output --partial "hv_carve_hv_deposit"
	assert_output --partial "hv_carve_hv_withdraw"
	run nm "$HVT_ROOT/build/kbuild/drivers/hv/hv_carve_deposit.o"
	assert_success
	refute_output --partial "hv_carve_hv_deposit"
	# hv_proc.c's deposit goes through the carveout glue.
	run nm "$KOUT_HV/drivers/hv/hv_proc.o"
	assert_output --partial "U hv_carve_deposit_pages"
	run nm "$KOUT_HV/drivers/hv/mshv_root_hv_call.o"
	assert_output --partial "U hv_carve_withdrawn"
}
