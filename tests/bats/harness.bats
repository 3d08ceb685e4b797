#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# Tests of the VM test harness itself (tests/guest, tests/lib/vmrun.sh,
# helpers.bash), with the stock Debian 6.1 kernel as both the "new" and the
# "old" kernel. Needs build/old/vmlinuz (scripts/fetch-old-kernel.sh).

load helpers

# memmap=$ reserves 64 MiB at 928 MiB (below the initrd QEMU puts at the top
# of 1 GiB).
# shellcheck disable=SC2016 # a literal $
MEMMAP='memmap=64M$0x3a000000'

setup_file() {
	if [ ! -f "$OLD_KERNEL" ]; then
		"$HVT_ROOT/scripts/fetch-old-kernel.sh" "$(dirname "$OLD_KERNEL")" >&2
	fi
	export BASE_INITRD=$HVT_ROOT/build/initramfs/harness.cpio
	hvt_ensure_initrd "$BASE_INITRD" "$OLD_KERNEL" "$OLD_KERNEL" >&2
	export VM_KERNEL=$OLD_KERNEL
	export VM_TIMEOUT=240
}

teardown() {
	hvt_teardown
}

@test "boot reaches DONE; results, passwd and e820 parsing work" {
	vm_run - "$MEMMAP" <<'EOF'
hvt_result gen "$(hvt_gen)"
hvt_result nobody "$(id -u nobody):$(id -g nobody)"
hvt_result kexec "$(kexec --version 2>&1 | head -n 1)"
hvt_result multi "one two  three"
hvt_done
EOF
	[ "$(result uname_r 0)" = "$(cat "$(dirname "$OLD_KERNEL")/version")" ]
	[ "$(result gen)" = 0 ]
	[ "$(result nobody)" = 65534:65534 ]
	[[ "$(result kexec)" == kexec-tools* ]]
	[ "$(result multi 0)" = "one two  three" ]
	[[ "$(result cmdline 0)" == *"$MEMMAP"* ]]
	[ "$(console_boots)" = 1 ]
	control_grep '@@HVT DONE'
	# The firmware map has the range as RAM, memmap= made it reserved.
	[ "$(e820_table 0 | wc -l)" -ge 3 ]
	e820_range_is 0 0x3a000000 0x4000000 usable BIOS-e820
	run ! e820_range_is 0 0x3a000000 0x4000000 reserved BIOS-e820
	[ "$(e820_final_table_name 0)" = user ]
	e820_range_is 0 0x3a000000 0x4000000 reserved
	e820_range_is 0 0x3a000000 0x4000000 reserved user
	run ! e820_range_overlaps 0 0x3a000000 0x4000000 usable user
	e820_range_overlaps 0 0x39fff000 0x2000 usable user
	e820_range_is 0 0xf0000 0x10000 reserved BIOS-e820
}

@test "checkpoint dumps the ranges in order, with the right size and content" {
	vm_run - '' <<'EOF'
# The BIOS area is e820-reserved, so /dev/mem may read it.
hvt_result rom "$(dd if=/dev/mem bs=4096 skip=240 count=16 2>/dev/null | md5sum | cut -d' ' -f1)"
hvt_ckpt two 0xf0000 0x10000 0x100000 0x3000
hvt_ckpt none
hvt_done
EOF
	[ "$(dump_size two)" = $((0x13000)) ]
	[ "$(dump_size none)" = 0 ]
	[ "$(head -c $((0x10000)) "$(dump_file two)" | md5sum | cut -d' ' -f1)" = "$(result rom)" ]
	grep -qx '0xf0000 0x10000' "$(vm_artifacts)/dumps/two.ranges"
	grep -q 'CKPT two gen=0' "$(vm_artifacts)/timeline.txt"
}

@test "kexec -l (kexec_load): stock -> stock reaches generation 1" {
	vm_run - '' <<'EOF'
HVT_DUMP_RANGES="0xf0000 0x10000"
case $(hvt_gen) in
0)
	hvt_state_set token carried-over
	hvt_kexec -l /boot/vmlinuz-old "hvt.test=1" || hvt_fail "kexec load failed"
	;;
*)
	hvt_result token "$(hvt_state_get token)"
	hvt_done
	;;
esac
EOF
	[ "$(result kexec_load 0)" = rc=0 ]
	[ "$(result token 1)" = carried-over ]
	[ "$(last_gen)" = 1 ]
	[[ "$(result cmdline 1)" == *hvt.test=1* ]]
	[ "$(console_boots)" = 2 ]
	[ "$(dump_size pre-kexec-gen0)" = $((0x10000)) ]
	# Both kernels printed an e820 map; the second one got it from kexec.
	e820_range_is 1 0xf0000 0x10000 reserved BIOS-e820
	e820_range_overlaps 1 0x100000 0x1000 usable
}

@test "kexec -s (kexec_file_load): stock -> stock reaches generation 1" {
	vm_run - '' <<'EOF'
case $(hvt_gen) in
0) hvt_kexec -s /boot/vmlinuz-new "hvt.test=2" || hvt_fail "kexec load failed" ;;
*) hvt_done ;;
esac
EOF
	[ "$(result kexec_load 0)" = rc=0 ]
	[ "$(last_gen)" = 1 ]
	[[ "$(result cmdline 1)" == *hvt.test=2* ]]
	[ "$(console_boots)" = 2 ]
	[ -f "$(dump_file pre-kexec-gen0)" ]
	[ "$(e820_table 1 | wc -l)" -ge 3 ]
}

@test "a failed kexec load is reported, not fatal" {
	vm_run - '' <<'EOF'
hvt_kexec -s /boot/no-such-kernel "" && hvt_fail "kexec of a missing file succeeded"
hvt_result after "$(hvt_gen)"
hvt_done
EOF
	[ "$(result kexec_load 0)" != rc=0 ]
	[ -n "$(result kexec_load_err 0)" ]
	[ "$(result after 0)" = 0 ]
}

@test "hvt_fail yields exit 1" {
	run -1 vm_run - '' <<'EOF'
hvt_fail "deliberate failure BUG: not a crash"
EOF
	[[ "$output" == *"deliberate failure"* ]]
	control_grep '@@HVT FAIL deliberate failure'
}

@test "a scenario that ends without hvt_done yields exit 1" {
	run -1 vm_run - '' <<'EOF'
true
EOF
	[[ "$output" == *"without hvt_done"* ]]
}

@test "a kernel panic yields exit 4" {
	run -4 vm_run - '' <<'EOF'
echo c >/proc/sysrq-trigger
sleep 100
EOF
	[[ "$output" == *"Kernel panic"* ]]
}

@test "a timeout yields exit 3" {
	run -3 vm_run - '' --timeout 25 <<'EOF'
sleep 1000
EOF
	[[ "$output" == *timeout* ]]
}

@test "a guest that reboots without DONE yields exit 5" {
	run -5 vm_run - '' <<'EOF'
reboot -f
EOF
	[[ "$output" == *"QEMU ended unexpectedly"* ]]
}

# The host-side dump comparison must be able to fail (negative control) and
# must not fail when the range really is left alone (positive control).
# Stock kernels only: memmap= on every command line + kexec_file_load keeps
# the range; dropping memmap= after a kexec_load does not.
@test "dump comparison: memmap= on every kernel + kexec -s keeps the range intact" {
	vm_run - "$MEMMAP" <<'EOF2'
HVT_DUMP_RANGES="0x3a000000 0x4000000 0xf0000 0x10000"
case $(hvt_gen) in
0) hvt_kexec -s /boot/vmlinuz-old 'memmap=64M$0x3a000000' || hvt_fail "kexec load failed" ;;
*)
	hvt_memhog 90
	hvt_memhog_release
	hvt_ckpt after-hog $HVT_DUMP_RANGES
	hvt_done
	;;
esac
EOF2
	[ "$(last_gen)" = 1 ]
	[ "$(result memhog_kib 1)" -gt 500000 ]
	[ "$(dump_size after-hog)" = $((0x4010000)) ]
	dumps_equal pre-kexec-gen0 after-hog
	e820_range_is 0 0x3a000000 0x4000000 reserved user
	e820_range_is 1 0x3a000000 0x4000000 reserved user
}

@test "dump comparison: detects a range the next kernel used (memmap= dropped, kexec -l)" {
	vm_run - "$MEMMAP" <<'EOF2'
HVT_DUMP_RANGES="0x3a000000 0x4000000 0xf0000 0x10000"
case $(hvt_gen) in
0) hvt_kexec -l /boot/vmlinuz-old '' || hvt_fail "kexec load failed" ;;
*)
	hvt_memhog 90
	hvt_memhog_release
	hvt_ckpt after-hog $HVT_DUMP_RANGES
	hvt_done
	;;
esac
EOF2
	[ "$(last_gen)" = 1 ]
	e820_range_is 0 0x3a000000 0x4000000 reserved
	e820_range_is 1 0x3a000000 0x4000000 usable
	run ! dumps_equal pre-kexec-gen0 after-hog
	# ... while the BIOS area, reserved everywhere, is unchanged.
	cmp -i $((0x4000000)) "$(dump_file pre-kexec-gen0)" "$(dump_file after-hog)"
}
