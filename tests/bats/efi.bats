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
#
# Then kexec under UEFI: a chain that alternates the patched kernel with
# Debian's stock 6.1, 5.10, 6.12 and 7.3 in turn, with both syscalls,
# add_efi_memmap, and a negative control, all with host dumps
# (tools/hvcarve/hvcarve-dump) as integrity.bats does.
#
#   KASLR_BOOTS          boots of the patched kernel's placement test (20)
#   KASLR_STOCK_BOOTS    boots of its negative control, the stock kernel (3)
#   HVT_EFI_GENERATIONS  kexecs of the chain (16: each of the four stock
#                        kernels entered and left with both syscalls).
#                        The 4th kexec of the former chain (patched and
#                        6.1 only), 6.1 -s> patched, used to halt with
#                        "uncompression error": see "the EFI stub's
#                        initrd table" below

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
BOOTS=${KASLR_BOOTS:-20}
STOCK_BOOTS=${KASLR_STOCK_BOOTS:-3}

setup_file() {
	[ -f "$OVMF" ] || fail "no $OVMF: install-deps.sh installs ovmf"
}

teardown() {
	hvt_teardown
}

# Where the kernel is, the state of hvcarve and its first region.
# shellcheck disable=SC2016 # expanded in the guest
SCENARIO='
hvt_result state "$(cat /sys/kernel/mm/hvcarve/state 2>/dev/null || echo absent)"
hvt_result efi "$(cat /sys/firmware/efi/systab 2>/dev/null | head -n 1)"
start=$(awk -F"[- :]+" "/ Kernel code\$/ { print \$2 }" /proc/iomem)
end=$(awk -F"[- :]+" "/ Kernel bss\$/ { print \$3 }" /proc/iomem)
[ -n "$start" ] && [ -n "$end" ] || hvt_fail "no Kernel code/bss lines in /proc/iomem"
hvt_result kernel_range "0x$start 0x$end"
'

# banners NAME: "B W": B is 1 if the carveout dump NAME holds a kernel
# banner ("Linux version N"), else 0; W is 1 if the dump is not all zero;
# fails if the dump is missing or short. A dump of zeros (what the
# carveout of a patched kernel's boot is: QEMU's RAM before anyone wrote
# it) has none, which cmp finds faster than grep.
banners() {
	local f
	f=$(dump_file "$1")
	[ -f "$f" ] || { echo "no dump $f"; return 1; }
	[ "$(stat -c %s "$f")" -eq "$CARVE_SIZE" ] || { echo "dump $f is short"; return 1; }
	if cmp -s -n "$CARVE_SIZE" "$f" /dev/zero; then
		echo 0 0
	else
		echo "$(LC_ALL=C grep -a -c -m 1 'Linux version [0-9]' "$f" || true) 1"
	fi
}

# efi_boot I KERNEL APPEND: boot KERNEL under OVMF with APPEND (VM_TAG
# bootI); print "START END STATE BANNERS WRITTEN": where the kernel is,
# hvcarve's state, the kernel banners in the host's dump of the carveout,
# and 1 if that dump is not all zero.
efi_boot() {
	local r s e nb
	printf '%s\nhvt_ckpt post-boot %s %s\nhvt_done\n' "$SCENARIO" "$CARVE_START" "$CARVE_SIZE" |
		VM_TAG=boot$1 VM_KERNEL=$2 vm_run - "$3" "${EFI_ARGS[@]}" >&2 || return 1
	r=$(VM_TAG=boot$1 result kernel_range 0) || { echo "boot $1: no kernel_range" >&2; return 1; }
	[[ $r =~ ^0x[0-9a-f]+\ 0x[0-9a-f]+$ ]] || { echo "boot $1: bad range '$r'" >&2; return 1; }
	read -r s e <<<"$r"
	[ -n "$(VM_TAG=boot$1 result efi 0)" ] || { echo "boot $1: not an EFI boot" >&2; return 1; }
	nb=$(VM_TAG=boot$1 banners post-boot) || { echo "boot $1: $nb" >&2; return 1; }
	echo "$s $e $(VM_TAG=boot$1 result state 0) $nb"
	# 768 MiB: not kept.
	rm -f "$(VM_TAG=boot$1 dump_file post-boot)"
}

in_carveout() {
	[ $(($1)) -lt $((CARVE_START + CARVE_SIZE)) ] && [ $(($2)) -ge "$CARVE_START" ]
}

# boot_data_of I: the first OVMF Boot Data range of 2 MiB or more in the
# EFI memory map (efi=debug) of boot I.
boot_data_of() {
	VM_TAG=boot$1 console_grep -g 0 'efi: mem[0-9]+: \[Boot Data ' |
		sed -n -E 's/.*range=\[0x0*([0-9a-f]+)-0x0*([0-9a-f]+)\].*/\1 \2/p' |
		while read -r s e; do
			[ $((0x$e - 0x$s + 1)) -ge $((0x200000)) ] && { printf '0x%x\n' $((0x$s)); break; }
		done
}

@test "UEFI: the EFI stub allocates the free part of the region first and never places the patched kernel in it ($BOOTS KASLR boots)" {
	local i l start end state nb written inside=0 starts=()
	for ((i = 1; i <= BOOTS; i++)); do
		l=$(efi_boot "$i" "$NEW_KERNEL" "efi=debug $CARVE") || fail "boot $i failed"
		echo "boot $i: $l"
		read -r start end state nb written <<<"$l"
		starts+=("$start")
		assert_equal "$state" active
		in_carveout "$start" "$end" && inside=$((inside + 1))
		# The host's check: no kernel in the carveout, and not one byte
		# of it written (QEMU hands over RAM zeroed; the stub only
		# allocates the region, and the kernel does not touch it).
		assert_equal "$nb" 0
		assert_equal "$written" 0
		# The stub prints before the kernel's first line.
		VM_TAG=boot$i console_grep 'EFI stub: hvcarve: kept 0x30000000 of \[mem 0x4000000-0x33ffffff\] free for the kernel' ||
			fail "boot $i: no stub allocation line"
		# The kernel's EFI memory map has the whole region as the stub's
		# allocation, which is RAM in e820 and reserved by hvcarve.
		VM_TAG=boot$i console_grep -g 0 'efi: mem[0-9]+: \[Loader Data .* range=\[0x0000000004000000-0x0000000033ffffff\]' ||
			fail "boot $i: the region is not one Loader Data entry of the EFI map"
		VM_TAG=boot$i e820_range_is 0 "$CARVE_START" "$CARVE_SIZE" usable BIOS-e820 ||
			fail "boot $i: the region is not RAM in the firmware's e820"
		VM_TAG=boot$i e820_range_is 0 "$CARVE_START" "$CARVE_SIZE" hvcarve modified ||
			fail "boot $i: the region is not hvcarve in the modified e820"
	done
	assert_equal "$inside" 0
	# Physical randomization was on: the kernel moved between boots.
	[ "$(printf '%s\n' "${starts[@]}" | sort -u | wc -l)" -ge 2 ] || fail "the kernel did not move: ${starts[*]}"
	# For the boot services test below: OVMF's Boot Data of boot 1.
	boot_data_of 1 >"$BATS_FILE_TMPDIR/boot-data"
}

# The stock kernel's decompressor picks a KASLR slot in EFI conventional
# memory, most of which is the carveout: its image (about 52 MiB, code to
# bss) fits outside only above 0x34000000, so about one boot in ten misses
# the carveout, and three boots in a row all miss it about once in a
# thousand runs.
@test "UEFI negative control: the stock kernel, booted the same way, lands in the carveout ($STOCK_BOOTS boots)" {
	local i l start end state nb written inside=0 seen=0
	for ((i = 1; i <= STOCK_BOOTS; i++)); do
		l=$(efi_boot "$i" "$OLD_KERNEL" "$CARVE") || fail "boot $i failed"
		echo "boot $i: $l"
		read -r start end state nb written <<<"$l"
		assert_equal "$state" absent
		if in_carveout "$start" "$end"; then
			inside=$((inside + 1))
			# The host finds the kernel it says is there: its banner if
			# the whole image is inside, else at least its written part
			# (an image across the region's end has its banner outside).
			if [ $((start)) -ge "$CARVE_START" ] && [ $((end)) -lt $((CARVE_START + CARVE_SIZE)) ]; then
				[ "$nb" -ge 1 ] || fail "kernel at $start-$end, yet no banner in the dump"
			else
				[ "$written" = 1 ] || fail "kernel at $start-$end across the region's end, yet the dump is all zero"
			fi
		fi
		[ "$written" = 0 ] || seen=$((seen + 1))
	done
	[ "$inside" -ge 1 ] || fail "the stock kernel never landed in the carveout"
	[ "$seen" -ge 1 ]
}

# The kernel refuses a region the firmware still uses after boot: OVMF's
# boot services data, found in the EFI memory map of the first test's first
# boot (or, when this test runs alone, of a boot of its own).
@test "UEFI: a region over EFI boot services memory is refused" {
	local bs=''
	[ -s "$BATS_FILE_TMPDIR/boot-data" ] && bs=$(cat "$BATS_FILE_TMPDIR/boot-data")
	if [ -z "$bs" ]; then
		printf '%s\nhvt_done\n' "$SCENARIO" | VM_TAG=boot1 vm_run - "efi=debug" "${EFI_ARGS[@]}"
		bs=$(boot_data_of 1)
	fi
	[ -n "$bs" ] || fail "no Boot Data range of 2 MiB or more in OVMF's map"
	echo "boot services data at $bs"
	vm_run - "hvcarve=4K@$bs" "${EFI_ARGS[@]}" <<<"$SCENARIO
hvt_done"
	run console_grep -g 0 "hvcarve: rejecting hvcarve region \"4K@$bs\" .*: overlaps EFI boot services memory"
	assert_success
	assert_equal "$(result state 0)" invalid
}

# no_room_boot TAG APPEND VALUE WHAT: boot with APPEND under OVMF (VM_TAG
# TAG), and check that the stub kept the regions of hvcarve=VALUE first,
# then let them go for WHAT ("kernel" or "initrd") and for nothing else,
# and that the kernel refused the region: no carveout, and the boot went on.
no_room_boot() {
	local tag=$1 append=$2 v=$3 what=$4 other=kernel
	[ "$what" = kernel ] && other=initrd
	VM_TAG=$tag vm_run - "$append" "${EFI_ARGS[@]}" <<<"$SCENARIO
hvt_done" || fail "hvcarve=$v: the boot did not reach user space"
	[ -n "$(VM_TAG=$tag result efi 0)" ] || fail "hvcarve=$v: not an EFI boot"
	VM_TAG=$tag console_grep 'EFI stub: hvcarve: kept 0x[0-9a-f]+ of \[mem ' >/dev/null ||
		fail "hvcarve=$v: the stub kept nothing free"
	VM_TAG=$tag console_grep "EFI stub: ERROR: hvcarve: no room for the $what outside the hvcarve= regions" >/dev/null ||
		fail "hvcarve=$v: the stub did not say it let the regions go for the $what"
	VM_TAG=$tag console_grep "EFI stub: ERROR: hvcarve: no room for the $other " >/dev/null &&
		fail "hvcarve=$v: the $other, not the $what, found no room"
	VM_TAG=$tag console_grep -g 0 "hvcarve: rejecting hvcarve region \"$v\" .*: overlaps " >/dev/null ||
		fail "hvcarve=$v: the kernel did not refuse the region"
	assert_equal "$(VM_TAG=$tag result state 0)" invalid
}

# Valid values that cover nearly all of the 1 GiB guest's low memory: the
# stub cannot place the kernel outside them. Before the stub let its
# regions go, each of these stopped in the stub with "Failed to decompress
# kernel" and went back to the firmware: the machine did not boot.
NOROOM="960M@0x1000000 1000M@0x900000"

@test "UEFI: an hvcarve= that leaves the kernel no room still boots: the stub lets the regions go and the kernel refuses them" {
	local v n=0
	for v in $NOROOM; do
		n=$((n + 1))
		no_room_boot "noroom$n" "efi=debug hvcarve=$v" "$v" kernel
	done
}

@test "UEFI: an hvcarve= that leaves the kernel room but not the initrd still boots: the stub lets the regions go for the initrd" {
	# nokaslr: the stub places the kernel at 16 MiB, below the region;
	# the region takes the rest of low RAM but OVMF's own pages at the
	# top, where the initrd (about 19 MiB) does not fit.
	no_room_boot noinitrd "efi=debug nokaslr hvcarve=944M@0x3000000" 944M@0x3000000 initrd
}

@test "UEFI: an hvcarve= the kernel rejects keeps nothing free in the stub, and the boot goes on" {
	# Overlapping regions: parsed by the kernel's parser in the stub too.
	# efi=debug: the stub prints its info lines ("kept ...") too.
	vm_run - "efi=debug hvcarve=64M@0x20000000,64M@0x20000000" "${EFI_ARGS[@]}" <<<"$SCENARIO
hvt_done"
	run console_grep 'EFI stub: ERROR: hvcarve: "hvcarve=64M@0x20000000,64M@0x20000000": region overlaps another hvcarve region: no region kept free'
	assert_success
	run console_grep 'EFI stub: hvcarve: kept '
	assert_failure
	run console_grep -g 0 'hvcarve: rejecting "hvcarve=64M@0x20000000,64M@0x20000000": "64M@0x20000000": region overlaps another hvcarve region'
	assert_success
	assert_equal "$(result state 0)" invalid
}

# --- kexec chains under UEFI -------------------------------------------------
#
# The first boot's map comes from the firmware: the carveout lies in EFI
# conventional memory of OVMF's 1 GiB map (RAM [0x900000, 0x3eeb7000);
# conventional [0xee00000, 0x3ae97000) here), away from where OVMF loads
# the initrd (Loader Data near the top) and boot services data. The
# kexec'd kernels boot with efi=debug (the EFI memory map they were handed,
# on the console) and earlyprintk (what their decompressor's KASLR says),
# and the stock kernels get nothing else. The first kernel of a chain has
# no efi=debug: that would keep boot services memory in the EFI map that
# kexec hands on (see efi_map_ok). The host dumps the carveout before
# every kexec -e and after the next kernel booted and dirtied 90% of its
# free memory, and compares (tools/hvcarve/hvcarve-dump), as integrity.bats
# does on BIOS.

UBASE=0x20000000
USIZE=0x4000000
UCARVE="hvcarve=64M@$UBASE"
UMEMMAP="memmap=64M\$$UBASE"
# retain_initrd: each kexec'd kernel keeps its initrd for the host to
# compare with what the kernel before loaded (initrd_intact).
DIAG="efi=debug earlyprintk=serial,ttyS0,115200 retain_initrd"
DUMP=$HVT_ROOT/tools/hvcarve/hvcarve-dump

# Guest code of every generation: memory pressure, the post-boot dump,
# where the kernel is and whether it runs on EFI; deposit N P deposits
# through the simulator and dumps the result.
# shellcheck disable=SC2016 # expanded in the guest
UGUEST='
. /hvt/sim.sh
g=$(hvt_gen)
HVT_CHECK_FILES=1
hvt_files_report
[ "$g" = 0 ] || hvt_initrd_ckpt
export HVT_DUMP_RANGES="$UBASE $USIZE"
hvt_result efi "$([ -d /sys/firmware/efi ] && echo yes || echo no)"
hvt_result kernel_code "$(awk -F"[- :]+" "/ Kernel code\$/ { print \"0x\" \$2 \" 0x\" \$3 }" /proc/iomem)"
hvt_result iomem_carveout "$(grep -i "^$(printf %x $UBASE)-" /proc/iomem | tr -s " " | tr "\n" ";")"
hvt_result memattr "$(dmesg | grep -c "Processing EFI Memory Attributes table")"
hvt_memhog_run 90 80
hvt_ckpt "post-boot-gen$g" $UBASE $USIZE
deposit() {
	hvt_sim_deposit "$1" "$2" || hvt_fail "deposit: $hvt_sim_err"
	echo 1 >$HVT_SIM/scan
	hvt_result state "$(cat $HVT_HVC/state)"
	hvt_result held "$(hvt_sim_ledger held)"
	hvt_result inherited "$(cat $(hvt_region)/inherited_pages)"
	hvt_result refusals "$(hvt_sim_ledger refusals)"
	hvt_ckpt "after-deposit-gen$g" $UBASE $USIZE
}
'

# ukept G: the carveout did not change from generation G-1's last moment
# to generation G after its boot and memory pressure. Explicit returns:
# it also runs under `run`.
ukept() {
	local out rc=0
	out=$("$DUMP" diff --base "$UBASE" "$(dump_file "pre-kexec-gen$(($1 - 1))")" "$(dump_file "post-boot-gen$1")") || rc=$?
	if [ "$rc" -ne 0 ] || [[ $out != *identical* ]]; then
		echo "gen $1: the carveout changed across the kexec (rc $rc): $out"
		return 1
	fi
}

# held_kept G BEFORE AFTER N: hvcarve-dump held-kept of the dumps BEFORE
# and AFTER holds N pages in BEFORE, all of them unchanged in AFTER.
held_kept() {
	local out
	out=$("$DUMP" held-kept --base "$UBASE" --expect-held "$4" "$(dump_file "$2")" "$(dump_file "$3")") ||
		{ echo "gen $1: held pages not kept ($2 -> $3): $out"; return 1; }
}

# host_held NAME: pages held in dump NAME, as the host decodes them.
host_held() {
	"$DUMP" decode --base "$UBASE" "$(dump_file "$1")" | awk '$1 == "held" { print $2 }'
}

# efi_map_ok GEN [bs]: kernel GEN's EFI memory map (efi=debug) is what
# kexec hands on: runtime entries only (RUN), no conventional memory,
# nothing over the carveout, and at least one entry. With "bs", boot
# services code and data without RUN are allowed too (and counted): a
# kernel booted with efi=debug keeps them in its EFI map for
# /sys/kernel/debug/efi (efi_free_boot_services() returns early), and
# both kexec paths hand that map on. Explicit returns: it also runs under
# `run`.
efi_map_ok() {
	local lines l s e n=0 nbs=0
	lines=$(console_grep -g "$1" 'efi: mem[0-9]+: \[') || { echo "gen $1: no EFI memory map on the console"; return 1; }
	while IFS= read -r l; do
		n=$((n + 1))
		[[ $l =~ range=\[(0x[0-9a-f]+)-(0x[0-9a-f]+)\] ]] || { echo "gen $1: unreadable: $l"; return 1; }
		s=${BASH_REMATCH[1]} e=${BASH_REMATCH[2]}
		if [[ $l == *"[Conventional"* ]]; then
			echo "gen $1: conventional memory in the EFI map: $l"
			return 1
		fi
		if [ "${2:-}" = bs ] && [[ $l =~ \[Boot\ (Code|Data)\ *\|\ *\| ]]; then
			nbs=$((nbs + 1))
		elif [[ $l != *"|RUN|"* ]]; then
			echo "gen $1: an entry without EFI_MEMORY_RUNTIME: $l"
			return 1
		fi
		if [ $((s)) -lt $((UBASE + USIZE)) ] && [ $((e)) -ge $((UBASE)) ]; then
			echo "gen $1: an EFI map entry over the carveout: $l"
			return 1
		fi
	done <<<"$lines"
	echo "gen $1: $n entries, $nbs of them boot services without RUN"
}

# memattr_ok GEN: kernel GEN (booted with efi=debug) applied the
# firmware's EFI Memory Attributes Table, and none of its entries (they
# describe runtime code and data) is over the carveout. Explicit returns.
memattr_ok() {
	local s e n=0
	[ "$(result memattr "$1")" = 1 ] || { echo "gen $1: the Memory Attributes Table was not applied"; return 1; }
	while read -r s e; do
		n=$((n + 1))
		if [ $((0x$s)) -lt $((UBASE + USIZE)) ] && [ $((0x$e)) -ge $((UBASE)) ]; then
			echo "gen $1: a Memory Attributes Table entry over the carveout: 0x$s-0x$e"
			return 1
		fi
	done < <(console_gen "$1" | sed -n -E 's/.*efi: memattr: +!? *0x([0-9a-f]{12})-0x([0-9a-f]{12}) \[.*/\1 \2/p')
	[ "$n" -ge 1 ] || { echo "gen $1: no Memory Attributes Table entries on the console"; return 1; }
	echo "gen $1: $n Memory Attributes Table entries, none over the carveout"
}

# outside GEN: kernel GEN's code is not in the carveout. Explicit
# returns: it also runs under `run`.
outside() {
	local s e
	read -r s e <<<"$(result kernel_code "$1")"
	[ -n "$e" ] || { echo "gen $1: no Kernel code line"; return 1; }
	if [ $((s)) -lt $((UBASE + USIZE)) ] && [ $((e)) -ge $((UBASE)) ]; then
		echo "gen $1: the kernel is in the carveout ($s-$e)"
		return 1
	fi
}

# The stock kernels of the chain's odd generations, in turn: bookworm's
# 6.1 (/boot/vmlinuz-old, in every initramfs) and those of distro.cpio
# (scripts/fetch-kernels.sh): bullseye's 5.10, bookworm-backports' 6.12
# and trixie-backports' unpatched 7.3. 5.10 cannot be kexec'd into from a
# kernel running 5-level paging under TCG: the guest runs -cpu max,la57=off
# (ERMS and FSRM off too, as tests/lib/vmrun.sh says).
STOCK_NAMES=(6.1 5.10 6.12 7.3-stock)
STOCK_PATHS=(boot/vmlinuz-old boot/vmlinuz-5.10 boot/vmlinuz-6.12 boot/vmlinuz-7.3-stock)
STOCK_RELEASES=('^6\.1\.' '^5\.10\.' '^6\.12\.' '^7\.3\.')
DISTRO_INITRD=$(hvt_abspath "${DISTRO_INITRD:-build/initramfs/distro.cpio}")
KERNELS_DIR=$(hvt_abspath "${HVT_KERNELS_DIR:-build/kernels}")
UCPU=max,la57=off,erms=off,fsrm=off

# stock_of G: the index in STOCK_* of odd generation G's kernel.
stock_of() {
	echo $(((($1 - 1) / 2) % ${#STOCK_NAMES[@]}))
}

# stock_file I: the host's file of stock kernel I.
stock_file() {
	if [ "$1" = 0 ]; then
		echo "$OLD_KERNEL"
	else
		echo "$KERNELS_DIR/${STOCK_NAMES[$1]}/vmlinuz"
	fi
}

# into G: the kexec syscall into generation G of the chain: patched -s>
# stock -l> patched -l> stock -s> patched ..., so that four kexecs enter
# both kernels with both syscalls; in every second round of the four
# stock kernels (8 kexecs) the other way round, so that each stock kernel
# is entered and left with both syscalls.
into() {
	local s
	case $(($1 % 4)) in
	1 | 0) s=-s ;;
	*) s=-l ;;
	esac
	if [ $(((($1 - 1) / 8) % 2)) = 1 ]; then
		if [ "$s" = -s ]; then s=-l; else s=-s; fi
	fi
	echo "$s"
}

# per_gen N: the pages each patched generation of a chain of N kexecs
# deposits: 700, or fewer in a chain so long that its patched generations
# would fill the carveout (all but 1024 of its pages stay free).
per_gen() {
	local room=$((USIZE / 4096 - 1024)) k=$(($1 / 2 + 1))
	if [ $((700 * k)) -le "$room" ]; then echo 700; else echo $((room / k)); fi
}

# uefi_chain N: generations 0..N, the even ones patched (the first booted
# by OVMF through the EFI stub), the odd ones the stock kernels in turn
# (stock_of; nothing on their command lines but the diagnostics), each
# entered with kexec $(into G). Each patched generation deposits
# $(per_gen N) pages for partition g+1; every generation runs memhog and
# is dumped by the host after it, and before its kexec -e.
uefi_chain() {
	local n=$1 g sys='' img='' per
	per=$(per_gen "$n")
	for ((g = 1; g <= n; g++)); do
		sys+="$(into "$g") "
		if [ $((g % 2)) = 1 ]; then
			img+="/${STOCK_PATHS[$(stock_of "$g")]} "
		else
			img+="/boot/vmlinuz-new "
		fi
	done
	VM_TIMEOUT=$((240 + n * 150)) vm_run - "$UCARVE $UMEMMAP" --cpu "$UCPU" \
		--initrd "$DISTRO_INITRD" "${EFI_ARGS[@]}" <<EOS
UBASE=$UBASE USIZE=$USIZE
$UGUEST
[ \$((g % 2)) = 0 ] && deposit $per \$((g + 1))
set -- $sys
shift "\$g"
img=\$(echo $img | cut -d' ' -f\$((g + 1)))
if [ "\$g" -ge $n ]; then
	hvt_done
elif [ \$((g % 2)) = 0 ]; then
	hvt_kexec "\$1" "\$img" "$DIAG"
else
	hvt_kexec "\$1" "\$img" "$UCARVE $DIAG"
fi
EOS
}

# uefi_chain_checks N: the host's and the guest's checks of a uefi_chain N
# run. The carveout in the boot e820 of generation G: hvcarve when kexec -s
# from a patched kernel entered it (the type of hvcarve's kexec e820),
# else reserved (kexec-tools reads "Reserved" from a patched kernel's
# /sys/firmware/memmap, and a stock kernel hands on what it got).
uefi_chain_checks() {
	local n=$1 g why t i per
	assert_equal "$(last_gen)" "$n"
	for ((g = 0; g <= n; g++)); do
		# Every kernel runs on EFI: both kexec paths hand EFI on.
		assert_equal "$(result efi "$g")" yes
		assert_memhog "$g"
		why=$(outside "$g") || fail "$why"
		if [ $((g % 2)) = 1 ]; then
			run result uname_r "$g"
			assert_output --regexp "${STOCK_RELEASES[$(stock_of "$g")]}"
			refute_output --partial hvcarve
			run result cmdline "$g"
			refute_output --partial hvcarve=
			refute_output --partial memmap=
		fi
	done
	# The first boot: the kernel has the firmware's map, with the
	# carveout RAM, and reserves it.
	e820_range_is 0 "$UBASE" "$USIZE" usable BIOS-e820 || fail "gen 0: the carveout is not RAM in the firmware's e820"
	e820_range_is 0 "$UBASE" "$USIZE" hvcarve modified || fail "gen 0: the carveout is not hvcarve in the modified e820"
	for ((g = 1; g <= n; g++)); do
		# EFI memory attributes: no kexec'd kernel applies the firmware's
		# Memory Attributes Table; the first boot does (memattr_ok).
		[ "$(result memattr "$g")" = 0 ] || fail "gen $g applied the Memory Attributes Table"
		t=reserved
		[ $((g % 2)) = 1 ] && [ "$(into "$g")" = -s ] && t=hvcarve
		e820_range_is "$g" "$UBASE" "$USIZE" "$t" BIOS-e820 || fail "gen $g: the carveout is not $t in its boot e820"
		# The host's proof, across every kexec.
		why=$(ukept "$g") || fail "$why"
		why=$(efi_map_ok "$g") || fail "$why"
		echo "$why"
		# What the kernel before handed on arrived intact: the initrd
		# it loaded, every file in it, the kernel images as the host
		# built and fetched them.
		why=$(initrd_intact "$g") || fail "$why"
		why=$(files_intact $((g - 1)) "$g") || fail "$why"
		why=$(file_matches "$g" boot/vmlinuz-new "$NEW_KERNEL") || fail "$why"
		for ((i = 0; i < ${#STOCK_NAMES[@]}; i++)); do
			why=$(file_matches "$g" "${STOCK_PATHS[$i]}" "$(stock_file "$i")") || fail "$why"
		done
	done
	# The next kernel's decompressor takes KASLR slots from the EFI map
	# alone, which has no conventional memory: it leaves the kernel where
	# kexec put it, once per kexec.
	assert_equal "$(console_log | grep -c '^Physical KASLR disabled: no suitable memory region!')" "$n"
	# Deposits: per_gen per patched generation, each avoiding what the
	# hypervisor held (held-kept, on the host's dumps).
	per=$(per_gen "$n")
	assert_equal "$(host_held after-deposit-gen0)" "$per"
	for ((g = 2; g <= n; g += 2)); do
		assert_equal "$(result state "$g")" active
		why=$(held_kept "$g" "post-boot-gen$g" "after-deposit-gen$g" $((per * g / 2))) || fail "$why"
		assert_equal "$(host_held "after-deposit-gen$g")" $((per * (g / 2 + 1)))
		assert_equal "$(result held "$g")" $((per * (g / 2 + 1)))
		# The guest's view agrees: every refusal it met was learnt as
		# inherited, one for one (deposit.bats).
		assert_equal "$(result inherited "$g")" "$(result refusals "$g")"
	done
}

# Both syscalls into and out of each stock kernel from 16 kexecs on.
@test "UEFI chain: patched and stock 6.1, 5.10, 6.12, 7.3 by turns, both syscalls in and out of each (${HVT_EFI_GENERATIONS:-16} kexecs), deposits, pressure; carveout byte-identical, images and initrds intact" {
	local n=${HVT_EFI_GENERATIONS:-16}
	uefi_chain "$n"
	uefi_chain_checks "$n"
}

# --- add_efi_memmap ------------------------------------------------------------
#
# add_efi_memmap adds the EFI memory map to e820. On the first boot that map
# has the carveout as the EFI stub's Loader Data, which add_efi_memmap adds
# as RAM; e820__update_table() gives overlapping entries the larger type,
# and E820_TYPE_HVCARVE (0xeffffffe) is larger than RAM, so the carveout
# stays hvcarve. After a kexec the EFI map has runtime entries only, none
# of them RAM. kexec-tools, when /proc/cmdline has add_efi_memmap, builds
# the next kernel's e820 from /proc/iomem instead of /sys/firmware/memmap:
# there the carveout is a "Reserved" range (nested in the "hvcarve" one).
# To show which source kexec -l used, the first kernel's
# /sys/firmware/memmap is faked (a tmpfs over it) to call the carveout
# System RAM: with add_efi_memmap the next kernel still gets it reserved;
# without it (the negative control), it gets RAM and uses it.

# The guest code of the first kernel: the faked /sys/firmware/memmap.
# shellcheck disable=SC2016 # expanded in the guest
FAKE_MEMMAP='
hvt_memmap_dump | awk -v s="$(printf 0x%x $UBASE)" "\$1 == s { print \$1, \$2, \"System RAM\"; next } { print }" >/tmp/map
hvt_fake_memmap /tmp/map || hvt_fail "fake memmap"
hvt_result fake_memmap "$(hvt_memmap_dump | grep -c "^$(printf 0x%x $UBASE) .* System RAM\$")"
'

# The guest code of the negative control: /sys/firmware/efi/runtime-map,
# which kexec -l copies into the next kernel's EFI memory map, faked (a
# tmpfs over it) to have one more entry, conventional memory over the
# carveout.
# shellcheck disable=SC2016 # expanded in the guest
FAKE_RUNTIME_MAP='
rm -rf /tmp/rm
mkdir -p /tmp/rm
cp -a /sys/firmware/efi/runtime-map/. /tmp/rm/
n=$(ls /tmp/rm | wc -l)
mkdir /tmp/rm/$n
echo $UBASE >/tmp/rm/$n/phys_addr
printf "0x%x\n" $((USIZE >> 12)) >/tmp/rm/$n/num_pages
echo 0x7 >/tmp/rm/$n/type
echo 0xf >/tmp/rm/$n/attribute
echo 0x0 >/tmp/rm/$n/virt_addr
mount -t tmpfs hvtrm /sys/firmware/efi/runtime-map || hvt_fail "mount over runtime-map"
cp -a /tmp/rm/. /sys/firmware/efi/runtime-map/
hvt_result fake_runtime_map "$(cat /sys/firmware/efi/runtime-map/$n/phys_addr) $(ls /sys/firmware/efi/runtime-map | wc -l)"
'

@test "UEFI add_efi_memmap: the carveout stays hvcarve on the first boot, and kexec -l (from /proc/iomem) hands it to the stock kernel reserved, under memory pressure" {
	VM_TIMEOUT=600 vm_run - "$UCARVE $UMEMMAP add_efi_memmap efi=debug" "${EFI_ARGS[@]}" <<EOS
UBASE=$UBASE USIZE=$USIZE
$UGUEST
case \$g in
0)
	deposit 700 1
	$FAKE_MEMMAP
	hvt_kexec -l /boot/vmlinuz-old "add_efi_memmap $DIAG"
	;;
*) hvt_done ;;
esac
EOS
	assert_equal "$(last_gen)" 1
	local g why
	for g in 0 1; do
		run result cmdline "$g"
		assert_output --partial add_efi_memmap
		assert_equal "$(result efi "$g")" yes
		assert_memhog "$g"
		why=$(outside "$g") || fail "$why"
	done
	assert_equal "$(result fake_memmap 0)" 1
	# The first boot: add_efi_memmap added the EFI map, with the stub's
	# Loader Data over the carveout, as RAM, and the carveout is still
	# hvcarve.
	console_grep -g 0 'efi: mem[0-9]+: \[Loader Data .*\|WB\|.* range=\[0x0000000020000000-0x0000000023ffffff\]' ||
		fail "gen 0: the carveout is not the stub's Loader Data (WB) in the EFI map"
	run result iomem_carveout 0
	assert_output --regexp '^20000000-23ffffff : hvcarve;'
	refute_output --partial "System RAM"
	assert_equal "$(result state 0)" active
	# ...and the kernel did not use it, under memory pressure: still zero.
	cmp -n $((USIZE)) "$(dump_file post-boot-gen0)" /dev/zero || fail "gen 0 used the carveout"
	# kexec -l took the map from /proc/iomem, not the faked memmap.
	e820_range_is 1 "$UBASE" "$USIZE" reserved BIOS-e820 || fail "gen 1: the carveout is not reserved in its boot e820"
	run result iomem_carveout 1
	refute_output --partial "System RAM"
	why=$(ukept 1) || fail "$why"
	why=$(held_kept 1 pre-kexec-gen0 post-boot-gen1 700) || fail "$why"
	# The EFI map kexec -l handed on: gen 0 ran with efi=debug, so it has
	# boot services code and data (no RUN) besides the runtime entries;
	# none of them conventional memory, none over the carveout.
	why=$(efi_map_ok 1 bs) || fail "$why"
	echo "$why"
	[[ $why =~ ,\ [1-9][0-9]*\ of\ them\ boot\ services ]] || fail "gen 1: no boot services entries in the EFI map of an efi=debug parent"
	run efi_map_ok 1
	assert_failure
	assert_output --regexp 'an entry without EFI_MEMORY_RUNTIME: .*\[Boot (Code|Data)'
	# EFI memory attributes: the first boot applied OVMF's Memory
	# Attributes Table, away from the carveout; the kexec'd kernel did not.
	why=$(memattr_ok 0) || fail "$why"
	echo "$why"
	[ "$(result memattr 1)" = 0 ] || fail "gen 1 applied the Memory Attributes Table"
	run memattr_ok 1
	assert_failure
}

# The negative control of the checks above, in one kexec -l into the stock
# kernel: its e820 from the faked /sys/firmware/memmap has the carveout as
# RAM (no add_efi_memmap), and its EFI map from the faked runtime-map has
# it as conventional memory, so that the stock decompressor's KASLR, which
# takes its slots from the EFI map alone, puts the kernel there.
@test "UEFI negative control: kexec -l from a faked memmap and EFI runtime map hands the stock kernel the carveout as RAM, and the host's checks catch it" {
	VM_TIMEOUT=600 vm_run - "$UCARVE $UMEMMAP" "${EFI_ARGS[@]}" <<EOS
UBASE=$UBASE USIZE=$USIZE
$UGUEST
case \$g in
0)
	deposit 700 1
	$FAKE_MEMMAP
	$FAKE_RUNTIME_MAP
	hvt_kexec -l /boot/vmlinuz-old "$DIAG"
	;;
*) hvt_done ;;
esac
EOS
	assert_equal "$(last_gen)" 1
	assert_equal "$(result fake_memmap 0)" 1
	run result fake_runtime_map 0
	assert_output --regexp "^$UBASE [0-9]+\$"
	assert_memhog 1
	assert_equal "$(host_held pre-kexec-gen0)" 700
	# The e820 came from the faked memmap: RAM.
	e820_range_is 1 "$UBASE" "$USIZE" usable BIOS-e820 || fail "gen 1 did not get the carveout as RAM"
	# The EFI map from the faked runtime-map: efi_map_ok sees the lie...
	run efi_map_ok 1
	assert_failure
	assert_output --partial "conventional memory in the EFI map"
	# ...and the decompressor used it: the stock kernel is in the carveout.
	assert_equal "$(console_log | grep -c '^Physical KASLR disabled')" 0
	run outside 1
	assert_failure
	assert_output --partial "the kernel is in the carveout"
	[ "$(LC_ALL=C grep -a -c -m 1 'Linux version 6\.1\.' "$(dump_file post-boot-gen1)")" -ge 1 ] || fail "no 6.1 banner in the host's dump of the carveout"
	# The host's checks catch the carveout the stock kernel used.
	run ukept 1
	assert_failure
	assert_output --partial "the carveout changed across the kexec (rc 1)"
	run "$DUMP" diff --base "$UBASE" "$(dump_file pre-kexec-gen0)" "$(dump_file post-boot-gen1)"
	assert_failure 1
	assert_output --partial DIFFERENT
	run "$DUMP" held-kept --base "$UBASE" --expect-held 700 "$(dump_file pre-kexec-gen0)" "$(dump_file post-boot-gen1)"
	assert_failure 1
	assert_output --partial VIOLATED
	refute_output --partial "WRONG COUNT"
}

# --- the EFI stub's initrd table and kexec -----------------------------------
#
# The EFI stub installs a LINUX_EFI_INITRD_MEDIA configuration table, a
# 16-byte struct linux_efi_initrd (base, size), and every kernel with EFI
# clears it when it reads it at boot (efi_config_parse_tables()). Mainline's
# stub puts it in EFI_LOADER_DATA, which the first kernel frees as RAM,
# while the firmware's configuration table, which kexec hands to every
# later kernel, keeps pointing there: every kexec'd kernel then writes 16
# zero bytes into memory that has been reused since. That was the "fourth
# UEFI kexec halts" of this suite's chain: the 16 bytes fell into the
# initrd of the kernel doing the writing, in its copy of the patched
# bzImage, which the next kexec_file_load hashed as it was. The series'
# first patch allocates the table as EFI_ACPI_RECLAIM_MEMORY instead.
#
# The test: the first kernel, booted by OVMF through its stub, reads the
# table's address T from its "efi: ... INITRD=" line and kexec -l's the
# patched kernel with retain_initrd, its initramfs ending in a 4 MiB
# ballast file of a known pattern. With the stock kernel first, T is RAM:
# --mem-max puts the next kernel's image just above T, so that its
# initramfs, which kexec-tools puts right below the image, ends over T, in
# the ballast. The host dumps the initrd the next kernel kept
# (retain_initrd) and compares it with what the first one loaded; the next
# kernel reports every file it unpacked and how many bytes of the ballast
# differ from the pattern.

# shellcheck disable=SC2016 # expanded in the guest
INITRD_TABLE='
HVT_CHECK_FILES=1
t=$(dmesg | sed -n "s/.*efi: .*INITRD=\(0x[0-9a-f]*\).*/\1/p" | head -n 1)
hvt_result initrd_table "$t"
hvt_result ramdisk "$(dmesg | sed -n "s/.*RAMDISK: \[mem \(0x[0-9a-f]*\)-\(0x[0-9a-f]*\)\].*/\1 \2/p" | head -n 1)"
hvt_files_report
ballast() { yes hvcarve-ballast-0123456789abcdef | head -c 4194304; }
if [ "$(hvt_gen)" = 0 ]; then
	mkdir -p /tmp/b/ballast
	ballast >/tmp/b/ballast/pattern
	(cd /tmp/b && find ballast | cpio -o -H newc) >/tmp/ballast.cpio 2>/dev/null
	export HVT_INITRD_APPEND=/tmp/ballast.cpio
	if [ "${FORCE:-0}" = 1 ]; then
		init=$(od -An -tu4 -j 608 -N 4 /boot/vmlinuz-new | tr -d " ")
		a=$(((t + 0x200000) & ~0x1fffff))
		export HVT_KEXEC_OPTS="--mem-max=$(printf 0x%x $((a + (init + 4095) / 4096 * 4096 + 0x100000)))"
	fi
	hvt_kexec -l /boot/vmlinuz-new "retain_initrd efi=debug"
fi
hvt_initrd_ckpt
hvt_result ballast_diff "$(ballast | cmp -l - /ballast/pattern 2>/dev/null | wc -l)"
hvt_done
'

# initrd_table_run KERNEL FORCE: the run described above, KERNEL booted
# first; T (the result initrd_table) must be an address.
initrd_table_run() {
	VM_KERNEL=$1 vm_run - "" "${EFI_ARGS[@]}" <<<"FORCE=$2
$INITRD_TABLE"
	assert_equal "$(last_gen)" 1
	T=$(result initrd_table 0) || fail "gen 0 reported no initrd_table"
	[[ $T =~ ^0x[0-9a-f]+$ ]] || fail "gen 0: no INITRD= address on its efi: line ('$T')"
	# Gen 1 is the patched kernel, booted with the initrd gen 0 loaded.
	run result uname_r 1
	assert_output --regexp -- '-hvcarve$'
	assert_equal "$(result kexec_load 0)" rc=0
}

@test "UEFI, stock kernels first (mainline's bug, the negative control): Debian's 7.3 stub leaves its initrd table in RAM, and the next kernel clears 16 bytes of its own initrd there" {
	initrd_table_run "$HVT_ROOT/build/kernels/7.3-stock/vmlinuz" 1
	run result uname_r 0
	refute_output --regexp -- '-hvcarve$'
	# T is RAM in the first kernel's map: the stub's EFI_LOADER_DATA.
	e820_range_is 0 "$T" 16 usable BIOS-e820 || fail "the table at $T is not RAM in gen 0's e820"
	# The run did what it set out to: gen 1's initrd covers T.
	read -r rs re <<<"$(result ramdisk 1)"
	[ $((rs)) -le $((T)) ] && [ $((T + 15)) -le $((re)) ] || fail "gen 1's initrd [$rs-$re] does not cover the table at $T"
	# The initrd gen 1 kept is not the one gen 0 loaded, and exactly the
	# 16 bytes of the table differ in the ballast it unpacked.
	run initrd_intact 1
	assert_failure
	assert_output --partial "gen 1 booted with an initrd of sha256"
	assert_equal "$(result ballast_diff 1)" 16
	# What gen 0 handed on otherwise arrived intact.
	why=$(files_intact 0 1) || fail "$why"
}

@test "UEFI: the patched kernel's stub puts its initrd table where no later kernel takes memory, and the initrd the next kernel boots with is the one loaded" {
	initrd_table_run "$NEW_KERNEL" 0
	# T is ACPI data (EFI_ACPI_RECLAIM_MEMORY) in the first kernel's map and
	# in the map kexec handed to the next.
	e820_range_is 0 "$T" 16 "ACPI data" BIOS-e820 || fail "the table at $T is not ACPI data in gen 0's e820"
	e820_range_is 1 "$T" 16 "ACPI data" BIOS-e820 || fail "the table at $T is not ACPI data in gen 1's e820"
	why=$(initrd_intact 1) || fail "$why"
	assert_equal "$(result ballast_diff 1)" 0
	why=$(files_intact 0 1) || fail "$why"
	why=$(file_matches 1 boot/vmlinuz-new "$NEW_KERNEL") || fail "$why"
	why=$(file_matches 1 boot/vmlinuz-old "$OLD_KERNEL") || fail "$why"
}
