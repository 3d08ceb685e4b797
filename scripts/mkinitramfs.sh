#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the base initramfs of the hvcarve VM tests: an uncompressed newc cpio
# with busybox (static), kexec-tools and its shared libraries, the guest
# harness of tests/guest/ (/init and /hvt/), and two kernels to kexec into.
#
# Usage: mkinitramfs.sh --out FILE --new-kernel BZIMAGE --old-kernel VMLINUZ
#                       [--kernel NAME=VMLINUZ]... [--extra DIR]...
#        mkinitramfs.sh --out FILE --kernels-only --kernel NAME=VMLINUZ...
#   --kernel NAME=VMLINUZ  also put VMLINUZ in as /boot/vmlinuz-NAME
#                          (repeatable; NAME is letters, digits, . _ -)
#   --extra DIR            copy the tree DIR on top of the root file system
#                          (repeatable, applied in order)
#   --kernels-only         a piece with nothing but /boot and the --kernel
#                          images, to append to a base initramfs
#                          (build/initramfs/distro.cpio: Debian's stock
#                          kernels for tests/bats/distro.bats, which the
#                          other suites do not carry from kexec to kexec)
#
# Layout: /init, /hvt/{lib.sh,...}, /hvt/state/gen (0), /bin/busybox and its
# applet links, /usr/sbin/kexec, /boot/vmlinuz-new, /boot/vmlinuz-old,
# /etc/{passwd,group} (root, nobody=65534), /dev/console, /dev/null,
# empty /proc /sys /dev /tmp /mnt /run /root.
#
# A test appends its own small cpio with /hvt/scenario (concatenated newc
# archives are a valid initramfs). Needs no root: files are recorded as
# owned by 0:0 and device nodes are written by hand.
set -euo pipefail

die() { echo "mkinitramfs: $*" >&2; exit 1; }
usage() {
	die "usage: $0 --out FILE --new-kernel BZIMAGE --old-kernel VMLINUZ [--kernel NAME=VMLINUZ]... [--extra DIR]...
       $0 --out FILE --kernels-only --kernel NAME=VMLINUZ..."
}

out="" new="" old="" kernels_only=0
extras=() kernels=()
while [ $# -gt 0 ]; do
	case $1 in
	--out) out=${2:-}; shift 2 || usage ;;
	--new-kernel) new=${2:-}; shift 2 || usage ;;
	--old-kernel) old=${2:-}; shift 2 || usage ;;
	--kernel) kernels+=("${2:-}"); shift 2 || usage ;;
	--kernels-only) kernels_only=1; shift ;;
	--extra) extras+=("${2:-}"); shift 2 || usage ;;
	-h | --help) usage ;;
	*) die "unknown argument: $1" ;;
	esac
done
[ -n "$out" ] || usage
for k in "${kernels[@]}"; do
	[[ $k =~ ^[A-Za-z0-9._-]+=. ]] || die "--kernel $k: expected NAME=VMLINUZ"
	case ${k%%=*} in
	new | old) die "--kernel $k: /boot/vmlinuz-${k%%=*} is --${k%%=*}-kernel" ;;
	esac
	[ -f "${k#*=}" ] || die "kernel ${k#*=} not found"
done
if [ "$kernels_only" = 1 ]; then
	if [ -n "$new" ] || [ -n "$old" ] || [ "${#extras[@]}" -gt 0 ] || [ "${#kernels[@]}" -eq 0 ]; then
		die "--kernels-only takes --out and --kernel only"
	fi
else
	if [ -z "$new" ] || [ -z "$old" ]; then usage; fi
	[ -f "$new" ] || die "new kernel $new not found"
	[ -f "$old" ] || die "old kernel $old not found"
fi
for d in "${extras[@]}"; do
	[ -d "$d" ] || die "--extra $d is not a directory"
done

mkdir -p "$(dirname "$out")"
stage=$(mktemp -d "$(dirname "$out")/.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"

# put_kernels: the --kernel images, as /boot/vmlinuz-NAME.
put_kernels() {
	local k
	mkdir -p "$stage/boot"
	for k in "${kernels[@]}"; do
		cp "${k#*=}" "$stage/boot/vmlinuz-${k%%=*}"
	done
}

if [ "$kernels_only" = 1 ]; then
	put_kernels
	tmp_out=$out.tmp.$$
	(cd "$stage" && find . | LC_ALL=C sort |
		cpio -o -H newc --owner=0:0 --reproducible --quiet) >"$tmp_out"
	mv "$tmp_out" "$out"
	echo "mkinitramfs: $out ($(($(stat -c %s "$out") / 1024)) KiB, kernels only)" >&2
	exit 0
fi

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
guest=$root/tests/guest
busybox=${BUSYBOX:-/bin/busybox}
kexec=${KEXEC:-/usr/sbin/kexec}
[ -x "$busybox" ] || die "$busybox missing (install busybox-static)"
[ -x "$kexec" ] || die "$kexec missing (install kexec-tools)"
if ldd "$busybox" >/dev/null 2>&1; then
	die "$busybox is dynamically linked (install busybox-static)"
fi

mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc,boot,hvt/state,proc,sys,dev,tmp,mnt,run,root,lib64}
chmod 1777 "$stage/tmp"
chmod 700 "$stage/root"

# busybox and a link for each applet, where busybox would put it.
cp "$busybox" "$stage/bin/busybox"
while read -r applet; do
	[ -n "$applet" ] || continue
	[ -e "$stage/$applet" ] || [ -L "$stage/$applet" ] && continue
	mkdir -p "$stage/$(dirname "$applet")"
	ln -s /bin/busybox "$stage/$applet"
done < <("$busybox" --list-full)
[ -e "$stage/bin/sh" ] || ln -s busybox "$stage/bin/sh"

# kexec-tools with the libraries ldd names, and the dynamic loader.
install_elf() {
	local src=$1 dst=$2 lib
	mkdir -p "$stage/$(dirname "$dst")"
	cp -L "$src" "$stage/$dst"
	while read -r lib; do
		[ -n "$lib" ] || continue
		[ -e "$stage/$lib" ] && continue
		mkdir -p "$stage/$(dirname "$lib")"
		cp -L "$lib" "$stage/$lib"
	done < <(ldd "$src" | awk '
		$2 == "=>" && $3 ~ /^\// { print $3; next }
		$1 ~ /^\// { print $1 }')
}
install_elf "$kexec" /usr/sbin/kexec

# The guest harness.
cp "$guest/init" "$stage/init"
chmod 755 "$stage/init"
for f in "$guest"/*; do
	[ "$(basename "$f")" = init ] && continue
	cp -R "$f" "$stage/hvt/"
done
echo 0 >"$stage/hvt/state/gen"

# Kernels.
cp "$new" "$stage/boot/vmlinuz-new"
cp "$old" "$stage/boot/vmlinuz-old"
put_kernels

cat >"$stage/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
cat >"$stage/etc/group" <<'GR'
root:x:0:
nogroup:x:65534:
GR
cat >"$stage/etc/profile" <<'PR'
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
. /hvt/lib.sh
PR

for d in "${extras[@]}"; do
	cp -R "$d/." "$stage/"
done

# One newc entry of a device node (or the trailer, with name TRAILER!!!).
newc_entry() { # NAME MODE RDEVMAJOR RDEVMINOR
	local name=$1 mode=$2 maj=$3 min=$4 namesize pad
	namesize=$((${#name} + 1))
	printf '070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x' \
		0 "$mode" 0 0 1 0 0 0 0 "$maj" "$min" "$namesize" 0
	printf '%s\0' "$name"
	pad=$(((4 - (110 + namesize) % 4) % 4))
	[ "$pad" -eq 0 ] || head -c "$pad" /dev/zero
}

tmp_out=$out.tmp.$$
(cd "$stage" && find . | LC_ALL=C sort |
	cpio -o -H newc --owner=0:0 --reproducible --quiet) >"$tmp_out"
{
	newc_entry dev/console $((8#020600)) 5 1
	newc_entry dev/null $((8#020666)) 1 3
	newc_entry 'TRAILER!!!' 0 0 0
} >>"$tmp_out"
mv "$tmp_out" "$out"
echo "mkinitramfs: $out ($(($(stat -c %s "$out") / 1024)) KiB)" >&2
