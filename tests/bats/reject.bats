#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# Bad hvcarve= input fails closed: the kernel boots on, prints one
# "hvcarve: rejecting ..." line that names the parameter text and the reason,
# and reserves nothing at all. Each case is a real boot under QEMU.
#
# QEMU's 1 GiB "pc" map: RAM 0x100000-0x3ffdffff, reserved 0x3ffe0000-
# 0x3fffffff, a hole from 0x40000000; the kernel is at 16 MiB (nokaslr).

load helpers
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

teardown() {
	hvt_teardown
}

SCENARIO='
s=/sys/kernel/mm/hvcarve
hvt_result state "$(cat $s/state)"
hvt_result regions "$(ls -d $s/region* 2>/dev/null | wc -l)"
hvt_result iomem_hvcarve "$(grep -c ": hvcarve$" /proc/iomem)"
hvt_result reason "$(cat $s/reason)"
hvt_done
'

# boot_with APPEND: one boot with APPEND after "nokaslr".
boot_with() {
	vm_run - "nokaslr $1" <<<"$SCENARIO"
}

# assert_rejected TEXT REASON: the boot completed, named the parameter text
# and the reason, and left no trace of a carveout.
assert_rejected() {
	local text=$1 reason=$2
	run console_grep -g 0 'hvcarve: rejecting'
	assert_success
	assert_output --partial "$text"
	assert_output --partial "$reason"
	run console_grep -g 0 'hvcarve: carveout disabled: no memory reserved'
	assert_success
	assert_equal "$(result state 0)" invalid
	# sysfs says why, in the words of the log's first rejection.
	local first
	first=$(console_grep -g 0 'hvcarve: rejecting' | head -n 1 | sed -E 's/^.*hvcarve: //')
	[ -n "$first" ] || fail "no rejection line"
	assert_equal "$(result reason 0)" "$first"
	assert_equal "$(result regions 0)" 0
	assert_equal "$(result iomem_hvcarve 0)" 0
	# The e820 map was not touched by hvcarve.
	run console_grep -g 0 'modified physical RAM map|hvcarve: region [0-9]'
	assert_failure
}

@test "reject: empty value" {
	boot_with "hvcarve="
	assert_rejected '"hvcarve="' "empty parameter"
}

@test "reject: no value at all" {
	boot_with "hvcarve"
	assert_rejected '"hvcarve="' "empty parameter"
}

@test "reject: 0" {
	boot_with "hvcarve=0"
	assert_rejected '"hvcarve=0"' "missing '@address' after the size"
}

@test "reject: garbage" {
	boot_with "hvcarve=garbage"
	assert_rejected '"hvcarve=garbage"' "size is not a number"
}

@test "reject: missing @" {
	boot_with "hvcarve=64M"
	assert_rejected '"hvcarve=64M"' "missing '@address' after the size"
}

@test "reject: missing size" {
	boot_with "hvcarve=@0x3a000000"
	assert_rejected '"hvcarve=@0x3a000000"' "missing size before '@'"
}

@test "reject: unaligned address" {
	boot_with "hvcarve=64M@0x3a000800"
	assert_rejected '"64M@0x3a000800"' "address is not page aligned"
}

@test "reject: size not a multiple of the page size" {
	boot_with "hvcarve=0x1800@0x3a000000"
	assert_rejected '"0x1800@0x3a000000"' "size is not a multiple of the page size"
}

@test "reject: region beyond RAM" {
	boot_with "hvcarve=64M@0x200000000"
	assert_rejected '"64M@0x200000000"' "0x200000000 is not in the boot memory map"
}

@test "reject: region over a RAM hole" {
	boot_with "hvcarve=64K@0xa0000"
	assert_rejected '"64K@0xa0000"' "0xa0000 is not in the boot memory map"
}

# A firmware reservation that lies wholly inside the region is not a
# carveout inherited over kexec: its boundaries are not the region's.
# (Until the fix it was taken for one, and the rejection came only from
# the hole after it.)
@test "reject: a firmware reservation inside the region, on a cold boot" {
	boot_with "hvcarve=4M@0x3fe00000"
	assert_rejected '"4M@0x3fe00000"' "overlaps reserved [mem 0x000000003ffe0000-0x000000003fffffff] of the boot memory map, which is not the carveout of an earlier kernel"
}

@test "reject: region over a firmware reservation" {
	boot_with "hvcarve=128K@0x3ffd0000"
	assert_rejected '"128K@0x3ffd0000"' "overlaps reserved [mem 0x000000003ffe0000-0x000000003fffffff] of the boot memory map"
}

@test "reject: two regions overlap" {
	boot_with "hvcarve=64M@0x3a000000,64M@0x3c000000"
	assert_rejected '"64M@0x3c000000"' "region overlaps another hvcarve region"
}

@test "reject: overlap with the kernel image" {
	boot_with "hvcarve=2M@0x1000000"
	assert_rejected '"2M@0x1000000"' "overlaps the kernel image [mem 0x0000000001000000-"
}

@test "reject: overlap with the initrd" {
	# Where QEMU puts this initrd: learn it from a boot without hvcarve=,
	# with the very same initramfs (same size, same place).
	VM_TAG=probe boot_with ""
	local rd
	rd=$(VM_TAG=probe console_grep -g 0 'RAMDISK: \[mem 0x' |
		sed -E 's/.*RAMDISK: \[mem (0x[0-9a-f]+)-.*/\1/')
	[ -n "$rd" ]
	# A 2 MiB block inside the initrd.
	local base=$(( (rd + 0x200000) & ~0x1fffff ))
	base=$(printf '0x%x' "$base")
	boot_with "hvcarve=2M@$base"
	assert_rejected "\"2M@$base\"" "overlaps the initrd [mem "
}

@test "reject: size + address overflows" {
	boot_with "hvcarve=8E@8E"
	assert_rejected '"8E@8E"' "size + address overflows"
}

@test "reject: size does not fit in 64 bits" {
	boot_with "hvcarve=99999999999999999999@0x3a000000"
	assert_rejected '"99999999999999999999@0x3a000000"' "size does not fit in 64 bits"
}

@test "reject: more than 8 regions" {
	local p="hvcarve=2M@0x30000000" i
	for i in 1 2 3 4 5 6 7 8; do
		p+=",2M@$(printf '0x%x' $((0x30000000 + i * 0x400000)))"
	done
	boot_with "$p"
	assert_rejected '"2M@0x32000000"' "more than 8 regions"
}

@test "reject: memmap= made part of the region unusable" {
	boot_with "memmap=2M#0x3b000000 hvcarve=64M@0x3a000000"
	assert_rejected '"64M@0x3a000000"' "0x3b000000 was made unusable by a memmap= or mem= parameter"
}

@test "reject: one bad repeated parameter rejects them all" {
	boot_with "hvcarve=32M@0x3a000000 hvcarve=garbage"
	assert_rejected '"hvcarve=garbage"' "size is not a number"
}

# Positive controls: the same checks pass when the input is good.

@test "accept: a repeated parameter adds regions" {
	boot_with "hvcarve=32M@0x3a000000 hvcarve=16M@0x3c000000,16M@0x3d000000"
	assert_equal "$(result state 0)" active
	assert_equal "$(result regions 0)" 3
	assert_equal "$(result iomem_hvcarve 0)" 3
	run console_grep -g 0 'hvcarve: region 2: \[mem 0x000000003d000000-0x000000003dffffff\] 16 MiB reserved'
	assert_success
	run assert_rejected "" ""
	assert_failure
}

@test "accept: memmap=\$ over the same range, as hvcarve-cmdline.sh writes it" {
	boot_with "hvcarve=64M@0x3a000000 memmap=64M\$0x3a000000"
	assert_equal "$(result state 0)" active
	assert_equal "$(result regions 0)" 1
	run console_grep -g 0 'hvcarve: rejecting'
	assert_failure
}
