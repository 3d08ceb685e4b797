#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# UEFI: the test kernel booted under OVMF (Debian's ovmf) through the EFI
# stub, as every real root partition boots. On a UEFI boot the stub, not
# the decompressor's kaslr.c, places the kernel (efi_random_alloc()), and
# it must keep it -- and everything else it allocates -- out of the
# hvcarve= regions. The host checks that for itself: after each boot it
# dumps the carveout, and no kernel may be in it (a decompressed kernel
# holds its banner, "Linux version ..."; the compressed image OVMF loads
# does not).

load helpers
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

OVMF=${OVMF:-/usr/share/ovmf/OVMF.fd}
EFI_ARGS=(--qemu-arg "-bios $OVMF")
# OVMF's 1 GiB map has RAM at [0x900000, 0x3eeb7000): 768 MiB of it from
# 64 MiB, where the stub would otherwise place the kernel most of the time.
CARVE_START=$((0x4000000))
CARVE_SIZE=$((0x30000000))
CARVE="hvcarve=768M@0x4000000"
BOOTS=${KASLR_BOOTS:-5}

setup_file() {
	[ -f "$OVMF" ] || fail "no $OVMF: install-deps.sh installs ovmf"
}

teardown() {
	hvt_teardown
}

# Where the kernel is, the state of hvcarve and its first region.
SCENARIO='
hvt_result state "$(cat /sys/kernel/mm/hvcarve/state 2>/dev/null || echo absent)"
hvt_result efi "$(cat /sys/firmware/efi/systab 2>/dev/null | head -n 1)"
start=$(awk -F"[- :]+" "/ Kernel code\$/ { print \$2 }" /proc/iomem)
end=$(awk -F"[- :]+" "/ Kernel bss\$/ { print \$3 }" /proc/iomem)
[ -n "$start" ] && [ -n "$end" ] || hvt_fail "no Kernel code/bss lines in /proc/iomem"
hvt_result kernel_range "0x$start 0x$end"
'

# banners NAME: how many kernel banners ("Linux version ") the carveout
# dump NAME holds; fails if the dump is missing or short.
banners() {
	local f
	f=$(dump_file "$1")
	[ -f "$f" ] || { echo "no dump $f"; return 1; }
	[ "$(stat -c %s "$f")" -eq "$CARVE_SIZE" ] || { echo "dump $f is short"; return 1; }
	grep -a -c 'Linux version [0-9]' "$f" || true
}

# efi_positions KERNEL: boot it $BOOTS times under OVMF with the carveout
# and KASLR; print "START END STATE BANNERS" per boot.
efi_positions() {
	local i r s e
	for i in $(seq 1 "$BOOTS"); do
		printf '%s\nhvt_ckpt post-boot %s %s\nhvt_done\n' "$SCENARIO" "$CARVE_START" "$CARVE_SIZE" |
			VM_TAG=boot$i VM_KERNEL=$1 vm_run - "$CARVE" "${EFI_ARGS[@]}" >&2 || return 1
		r=$(VM_TAG=boot$i result kernel_range 0) || { echo "boot $i: no kernel_range" >&2; return 1; }
		[[ $r =~ ^0x[0-9a-f]+\ 0x[0-9a-f]+$ ]] || { echo "boot $i: bad range '$r'" >&2; return 1; }
		read -r s e <<<"$r"
		[ -n "$(VM_TAG=boot$i result efi 0)" ] || { echo "boot $i: not an EFI boot" >&2; return 1; }
		echo "$s $e $(VM_TAG=boot$i result state 0) $(VM_TAG=boot$i banners post-boot)"
		rm -f "$(VM_TAG=boot$i dump_file post-boot)"
	done
}

in_carveout() {
	[ $(($1)) -lt $((CARVE_START + CARVE_SIZE)) ] && [ $(($2)) -ge "$CARVE_START" ]
}

@test "UEFI: the EFI stub never places the patched kernel in the carveout ($BOOTS KASLR boots)" {
	local pos start end state nb inside=0
	pos=$(efi_positions "$NEW_KERNEL")
	echo "$pos"
	assert_equal "$(wc -l <<<"$pos")" "$BOOTS"
	while read -r start end state nb; do
		assert_equal "$state" active
		in_carveout "$start" "$end" && inside=$((inside + 1))
		# The host's check: no kernel in the carveout.
		assert_equal "$nb" 0
	done <<<"$pos"
	assert_equal "$inside" 0
	# Physical randomization was on: the kernel moved between boots.
	[ "$(cut -d' ' -f1 <<<"$pos" | sort -u | wc -l)" -ge 2 ]
}

@test "UEFI negative control: the stock kernel, booted the same way, lands in the carveout" {
	local pos start end state nb inside=0 seen=0
	pos=$(efi_positions "$OLD_KERNEL")
	echo "$pos"
	assert_equal "$(wc -l <<<"$pos")" "$BOOTS"
	while read -r start end state nb; do
		assert_equal "$state" absent
		if in_carveout "$start" "$end"; then
			inside=$((inside + 1))
			# The host finds the kernel it says is there.
			[ "$nb" -ge 1 ] || fail "kernel at $start-$end, yet no banner in the dump"
		fi
		[ "$nb" = 0 ] || seen=$((seen + 1))
	done <<<"$pos"
	[ "$inside" -ge 1 ]
	[ "$seen" -ge 1 ]
}

@test "UEFI: the stub allocates the free part of every region before it places anything" {
	vm_run - "efi=debug $CARVE" "${EFI_ARGS[@]}" <<<"$SCENARIO
hvt_done"
	# The stub prints before the kernel's first line.
	run console_grep 'EFI stub: hvcarve: kept 0x30000000 of \[mem 0x4000000-0x33ffffff\] free for the kernel'
	assert_success
	# The kernel's EFI memory map has the whole region as the stub's
	# allocation, which is RAM in e820 and reserved by hvcarve.
	run console_grep -g 0 'efi: mem[0-9]+: \[Loader Data .* range=\[0x0000000004000000-0x0000000033ffffff\]'
	assert_success
	assert_equal "$(result state 0)" active
	e820_range_is 0 "$CARVE_START" "$CARVE_SIZE" usable BIOS-e820
	e820_range_is 0 "$CARVE_START" "$CARVE_SIZE" hvcarve modified
}

# The kernel refuses a region the firmware still uses after boot: OVMF's
# boot services data, found in the EFI memory map of this very boot.
@test "UEFI: a region over EFI boot services memory is refused" {
	vm_run - "efi=debug" "${EFI_ARGS[@]}" <<<"$SCENARIO
hvt_done"
	local bs
	bs=$(console_grep -g 0 'efi: mem[0-9]+: \[Boot Data ' | sed -n -E 's/.*range=\[0x0*([0-9a-f]+)-0x0*([0-9a-f]+)\].*/\1 \2/p' |
		while read -r s e; do
			[ $((0x$e - 0x$s + 1)) -ge $((0x200000)) ] && { printf '0x%x\n' $((0x$s)); break; }
		done)
	[ -n "$bs" ] || fail "no Boot Data range of 2 MiB or more in OVMF's map"
	echo "boot services data at $bs"
	vm_run - "hvcarve=4K@$bs" "${EFI_ARGS[@]}" <<<"$SCENARIO
hvt_done"
	run console_grep -g 0 "hvcarve: rejecting hvcarve region \"4K@$bs\" .*: overlaps EFI boot services memory"
	assert_success
	assert_equal "$(result state 0)" invalid
}
