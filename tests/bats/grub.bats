#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# Real GRUB: the way a root partition is booted. The GRUB_CMDLINE_LINUX line
# of an /etc/default/grub is written by `hvcarve-cmdline.sh next --format
# grub`, Debian's grub-mkconfig (with its /etc/grub.d/10_linux) turns it
# into a grub.cfg, and grub-mkrescue (grub-pc-bin and grub-efi-amd64-bin,
# xorriso, mtools) makes one image that boots under SeaBIOS and under OVMF.
# QEMU boots that image from its CD drive, with no -kernel (vmrun.sh
# --no-kernel): GRUB's script parser and its linux loader build the
# kernel's command line, and the guest's /proc/cmdline must carry
# memmap=64M$0x... intact, with the carveout reserved (state active, the
# hvcarve e820 type) and, as the host sees it, untouched by GRUB and the
# boot (all zero, QEMU's fresh RAM).
#
# grub-mkconfig reads /etc/default/grub and /boot of the machine it runs
# on. It runs here in a mount namespace of its own (unshare -m, so it needs
# root), with a private directory bind-mounted on /etc/default (only the
# test's grub file, not the host's grub.d snippets) and the staged kernel
# and initramfs on /boot; the host's /etc and /boot are never written.
# grub-mkconfig names the files by their path on the host's file system
# (grub-mkrelpath of the bind mount), so the image holds them at that path.
#
# The bash emulation of GRUB's $ expansion (tests/fixtures/cmdline/
# grub-sim.bash, cmdline.bats) stays the fast test; here it must predict
# what real GRUB gave the kernel, for the right escaping and for a $
# escaped only once, which real GRUB turns into memmap=64Mx... (a RAM
# limit at 64 MiB: the kernel boots with 64 MiB and refuses the carveout).

load helpers
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

OVMF=${OVMF:-/usr/share/ovmf/OVMF.fd}
BASE=0x20000000
SIZE=0x4000000
HV=$HVT_ROOT/scripts/hvcarve-cmdline.sh
# What GRUB_CMDLINE_LINUX holds besides the carveout.
REST="console=ttyS0"
KVER=7.3-hvcarve-grub

setup_file() {
	local t
	for t in grub-mkconfig grub-mkrescue xorriso mformat unshare; do
		command -v "$t" >/dev/null || fail "no $t: install-deps.sh installs grub-common, grub-pc-bin, grub-efi-amd64-bin, xorriso and mtools"
	done
	[ -d /usr/lib/grub/i386-pc ] || fail "no /usr/lib/grub/i386-pc: install grub-pc-bin"
	[ -d /usr/lib/grub/x86_64-efi ] || fail "no /usr/lib/grub/x86_64-efi: install grub-efi-amd64-bin"
	[ -f "$OVMF" ] || fail "no $OVMF: install-deps.sh installs ovmf"
	[ "$(id -u)" = 0 ] || fail "grub.bats runs grub-mkconfig in a mount namespace of its own: run it as root"
	# The initramfs GRUB loads: the base one and this suite's scenario.
	local st=$BATS_FILE_TMPDIR/scenario
	mkdir -p "$st/hvt"
	cat >"$st/hvt/scenario" <<EOF
hvt_result state "\$(cat /sys/kernel/mm/hvcarve/state 2>/dev/null || echo absent)"
hvt_result region0 "\$(echo \$(cat /sys/kernel/mm/hvcarve/region@*/base /sys/kernel/mm/hvcarve/region@*/size 2>/dev/null))"
hvt_result efi "\$([ -d /sys/firmware/efi ] && echo yes || echo no)"
# The carveout of this boot's command line (64 MiB), for the host.
base=\$(tr ' ' '\n' </proc/cmdline | sed -n 's/^hvcarve=64M@//p')
hvt_ckpt carveout \${base:-$BASE} $SIZE
hvt_done
EOF
	chmod 755 "$st/hvt/scenario"
	(cd "$st" && find . | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --reproducible --quiet) \
		>"$BATS_FILE_TMPDIR/scenario.cpio"
	cat "$BASE_INITRD" "$BATS_FILE_TMPDIR/scenario.cpio" >"$BATS_FILE_TMPDIR/initrd.img"
	# The host's own GRUB defaults, to show they are left alone.
	HOST_GRUB_DEFAULTS=$(host_grub_defaults)
	export HOST_GRUB_DEFAULTS
}

teardown() {
	hvt_teardown
}

# host_grub_defaults: what the host has in /etc/default/grub*, as a checksum.
host_grub_defaults() {
	find /etc/default -maxdepth 2 -path '/etc/default/grub*' -type f -print0 2>/dev/null |
		LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum
}

# grub_image NAME LINE: /etc/default/grub with LINE as its
# GRUB_CMDLINE_LINUX line, grub-mkconfig's grub.cfg for it
# ($BATS_FILE_TMPDIR/NAME/grub.cfg), and the GRUB image
# $BATS_FILE_TMPDIR/NAME.iso with the kernel and initramfs where that
# grub.cfg loads them from.
grub_image() {
	local name=$1 line=$2 d=$BATS_FILE_TMPDIR/$1 kpath ipath
	rm -rf "$d"
	mkdir -p "$d/etc-default" "$d/boot/grub" "$d/iso/boot/grub"
	cat >"$d/etc-default/grub" <<EOF
# /etc/default/grub of the grub.bats test machine
GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=hvcarve
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_RECOVERY=true
GRUB_DISABLE_SUBMENU=y
GRUB_DISABLE_OS_PROBER=true
GRUB_CMDLINE_LINUX_DEFAULT=""
$line
EOF
	cp "$NEW_KERNEL" "$d/boot/vmlinuz-$KVER"
	cp "$BATS_FILE_TMPDIR/initrd.img" "$d/boot/initrd.img-$KVER"
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --mount --propagation private sh -c \
		'mount --bind "$1" /etc/default && mount --bind "$2" /boot && exec grub-mkconfig -o "$3"' \
		sh "$d/etc-default" "$d/boot" "$d/grub.cfg" >"$d/mkconfig.log" 2>&1 ||
		{ cat "$d/mkconfig.log"; return 1; }
	# The first menu entry's files, as grub-mkconfig named them.
	kpath=$(awk '$1 == "linux" { print $2; exit }' "$d/grub.cfg")
	ipath=$(awk '$1 == "initrd" { print $2; exit }' "$d/grub.cfg")
	[[ $kpath == /*/vmlinuz-$KVER && $ipath == /*/initrd.img-$KVER ]] ||
		{ echo "grub-mkconfig wrote no linux/initrd lines for $KVER: '$kpath' '$ipath'"; return 1; }
	cp "$d/grub.cfg" "$d/iso/boot/grub/grub.cfg"
	mkdir -p "$d/iso$(dirname "$kpath")" "$d/iso$(dirname "$ipath")"
	cp "$d/boot/vmlinuz-$KVER" "$d/iso$kpath"
	cp "$d/boot/initrd.img-$KVER" "$d/iso$ipath"
	grub-mkrescue -o "$BATS_FILE_TMPDIR/$name.iso" "$d/iso" >"$d/mkrescue.log" 2>&1 ||
		{ cat "$d/mkrescue.log"; return 1; }
}

# linux_line NAME: the linux command of NAME's grub.cfg, as written.
linux_line() {
	grep -m 1 -P '^\tlinux\t' "$BATS_FILE_TMPDIR/$1/grub.cfg"
}

# grub_boot NAME [vmrun.sh args...]: boot NAME.iso from QEMU's CD drive.
grub_boot() {
	local iso=$BATS_FILE_TMPDIR/$1.iso art
	shift
	art=$(vm_artifacts)
	rm -rf "$art"
	mkdir -p "$art"
	VM_RC=0
	"$VMRUN" --no-kernel --artifacts "$art" --mem "${VM_MEM:-1G}" --timeout "${VM_TIMEOUT:-300}" \
		--qemu-arg "-cdrom $iso -boot d" "$@" || VM_RC=$?
	[ "$VM_RC" = 0 ] || echo "grub_boot: exit $VM_RC; artifacts in $art" >&2
	return "$VM_RC"
}

# The kernel command line GRUB made, without the BOOT_IMAGE= it adds.
grub_cmdline() {
	result cmdline 0 | sed -E 's/^BOOT_IMAGE=[^ ]+ //'
}

# good_image: the image of the right escaping (built once per file).
good_image() {
	[ -f "$BATS_FILE_TMPDIR/good.iso" ] && return
	local line
	line=$("$HV" next --cmdline "$REST" --add "64M@$BASE" --format grub) || return 1
	grub_image good "$line"
}

# grub_checks FIRMWARE: the checks of a boot of the good image.
grub_checks() {
	local line predicted
	# GRUB did the booting: its menu entry line, which GRUB writes to its
	# serial terminal itself. Not its "Welcome to GRUB!" banner: under
	# BIOS that goes through SeaBIOS's serial console, which writes the
	# screen out lazily; CI once saw GRUB take the UART over first.
	console_grep "Booting .hvcarve GNU/Linux, with Linux $KVER'" >/dev/null || fail "GRUB booted no entry"
	run result cmdline 0
	assert_output --regexp '^BOOT_IMAGE=/'
	# The parameters arrived intact: $ and all.
	run grub_cmdline
	assert_output --regexp " hvcarve=64M@$BASE memmap=64M\\\$$BASE( |\$)"
	assert_output --partial "$REST"
	# ...and exactly as the bash emulation of GRUB predicts from the
	# grub.cfg grub-mkconfig wrote.
	load "$HVT_ROOT/tests/fixtures/cmdline/grub-sim.bash"
	line=$(linux_line good)
	predicted=$(grub_sim_kernel_cmdline "$line") || fail "the GRUB emulation refused: $line"
	assert_equal "$(grub_cmdline)" "$predicted"
	# The carveout is reserved.
	assert_equal "$(result state 0)" active
	assert_equal "$(result region0 0)" "$BASE $((SIZE))"
	e820_range_is 0 "$BASE" "$SIZE" usable BIOS-e820
	e820_range_is 0 "$BASE" "$SIZE" hvcarve modified
	assert_equal "$(result efi 0)" "$1"
	# GRUB and the boot left it alone: still QEMU's zeroes.
	cmp -n "$((SIZE))" "$(dump_file carveout)" /dev/zero || fail "the carveout is not all zero after the boot"
}

@test "GRUB: grub-mkconfig turns hvcarve-cmdline.sh's GRUB_CMDLINE_LINUX into a linux line with \\\$, in a private /etc/default" {
	good_image
	run grep -c . "$BATS_FILE_TMPDIR/good/etc-default/grub"
	grep -q "^GRUB_CMDLINE_LINUX=\"$REST hvcarve=64M@$BASE memmap=64M\\\\\\\\\\\\\\\$$BASE\"\$" \
		"$BATS_FILE_TMPDIR/good/etc-default/grub" || fail "unexpected GRUB_CMDLINE_LINUX: $(grep CMDLINE_LINUX= "$BATS_FILE_TMPDIR/good/etc-default/grub")"
	run linux_line good
	assert_output --regexp "^	linux	/.*/vmlinuz-$KVER .*$REST hvcarve=64M@$BASE memmap=64M\\\\\\\$$BASE \$"
	# The host's GRUB defaults are as they were.
	assert_equal "$(host_grub_defaults)" "$HOST_GRUB_DEFAULTS"
}

@test "GRUB (BIOS): /proc/cmdline carries memmap=64M\$$BASE intact and the carveout is reserved" {
	good_image
	grub_boot good
	grub_checks no
}

@test "GRUB (UEFI, OVMF): /proc/cmdline carries memmap=64M\$$BASE intact and the carveout is reserved" {
	good_image
	grub_boot good --qemu-arg "-bios $OVMF"
	grub_checks yes
}

@test "GRUB negative control: a \$ escaped only once loses \"\$0\" in real GRUB, as the emulation predicts" {
	local line predicted
	grub_image once "GRUB_CMDLINE_LINUX=\"$REST hvcarve=64M@$BASE memmap=64M\\\$$BASE\""
	line=$(linux_line once)
	[[ $line == *" memmap=64M\$$BASE "* ]] || fail "grub.cfg: $line"
	load "$HVT_ROOT/tests/fixtures/cmdline/grub-sim.bash"
	predicted=$(grub_sim_kernel_cmdline "$line")
	[[ $predicted == *" memmap=64Mx${BASE#0x}" ]] || fail "the emulation predicts: $predicted"
	grub_boot once
	assert_equal "$(grub_cmdline)" "$predicted"
	# memmap=64Mx... is a RAM limit at 64 MiB: the kernel refuses the
	# region, which is no RAM any more, and reserves nothing.
	assert_equal "$(result state 0)" invalid
	console_grep "hvcarve: rejecting hvcarve region \"64M@$BASE\" .*was made unusable by a memmap= or mem= parameter" >/dev/null ||
		fail "no rejection of the region on the console"
	e820_range_is 0 0x4000000 $((BASE - 0x4000000)) usable user && fail "RAM above 64 MiB left in the user map"
	console_grep "user: \[mem 0x0000000000100000-0x0000000003ffffff\] +System RAM" >/dev/null ||
		fail "the user map does not end RAM at 64 MiB"
}

@test "vmrun.sh --no-kernel refuses --kernel, --initrd and --append, and needs --artifacts" {
	run "$VMRUN" --no-kernel --kernel "$NEW_KERNEL" --artifacts "$BATS_TEST_TMPDIR/a"
	assert_failure 2
	assert_output --partial "argument --no-kernel: not allowed with --kernel"
	run "$VMRUN" --no-kernel --initrd "$BASE_INITRD" --artifacts "$BATS_TEST_TMPDIR/a"
	assert_failure 2
	assert_output --partial "not allowed with --initrd"
	run "$VMRUN" --no-kernel --append x --artifacts "$BATS_TEST_TMPDIR/a"
	assert_failure 2
	assert_output --partial "not allowed with --append"
	run "$VMRUN" --no-kernel
	assert_failure 2
	assert_output --partial "required: --artifacts"
	# Without --no-kernel, a kernel is still required.
	run "$VMRUN" --artifacts "$BATS_TEST_TMPDIR/a"
	assert_failure 2
	assert_output --partial "required: --kernel, --initrd, --artifacts"
}

# GRUB (i386-pc) puts the initrd high in the RAM below 1 GiB here
# ([mem 0x35e33000-0x36f10fff] for this initramfs) without knowing of any
# carveout: a carveout there is refused at boot (the kernel says why), and
# the host finds the initramfs in it. This is also the negative control of
# the all-zero check above.
@test "GRUB negative control: a carveout where GRUB puts the initrd is refused, and the host finds the initrd in it" {
	local base=0x34000000 line ramdisk s e
	line=$("$HV" next --cmdline "$REST" --add "64M@$base" --format grub)
	grub_image initrd "$line"
	grub_boot initrd
	ramdisk=$(console_grep -g 0 'RAMDISK: \[mem 0x[0-9a-f]+-0x[0-9a-f]+\]' | sed -n -E 's/.*RAMDISK: \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\].*/\1 \2/p')
	read -r s e <<<"$ramdisk"
	[ -n "$e" ] || fail "no RAMDISK line"
	echo "GRUB put the initrd at [$s-$e]"
	[ $((s)) -ge $((base)) ] && [ $((e)) -lt $((base + SIZE)) ] || fail "the initrd is not inside the carveout this time"
	run grub_cmdline
	assert_output --partial "memmap=64M\$$base"
	assert_equal "$(result state 0)" invalid
	console_grep "hvcarve: rejecting hvcarve region \"64M@$base\" .*overlaps the initrd" >/dev/null ||
		fail "no rejection for the initrd on the console"
	# The host finds the initramfs there: its first 4 KiB, a newc header.
	local dump
	dump=$(dump_file carveout)
	cmp -n $((SIZE)) "$dump" /dev/zero >/dev/null && fail "the carveout dump is all zero"
	cmp -n 4096 -i "$((s - base)):0" "$dump" "$BATS_FILE_TMPDIR/initrd.img" ||
		fail "the first page of the initramfs is not where the kernel says it was"
}
