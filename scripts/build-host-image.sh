#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the Debian 13 root host of tests/bats/host.bats from Debian's own
# packages, and cache it: OUT/disk.img, a raw GPT disk (sparse) with an EFI
# system partition and an ext4 root.
#
#   build-host-image.sh [OUT]          (default build/host)
#
# 1. mmdebstrap builds a trixie tree with the packages of
#    configs/host-packages (systemd, GRUB for UEFI, kexec-tools,
#    kdump-tools, makedumpfile, Debian's stock kernel), from the archive
#    the machine's own apt sources name (scripts/debian-fetch.sh --uri).
# 2. The tree gets what a host of this kind is given by hand: fstab, a
#    serial console and no menu delay for GRUB, and the tests' agent
#    (tests/host/image/: a unit that runs the agent of the payload disk the tests
#    attach, if there is one). No hvcarve setting is made here: the tests
#    install the kernel package and the tool's drop-ins themselves.
# 3. The root file system is made from the tree (mke2fs -d), the EFI system
#    partition with mtools, the disk with sfdisk; nothing is mounted.
# 4. One boot of the image under OVMF, Debian's kernel started by QEMU with
#    tests/host/image/hvt-provision as init, installs GRUB (grub-install
#    --removable) and writes grub.cfg (update-grub), as on a real host.
#
# The image is built again only when configs/host-packages, this script or
# tests/host/image/ change (OUT/key). Needs root (mmdebstrap, file ownership).
set -euo pipefail

die() { echo "build-host-image: $*" >&2; exit 1; }
say() { echo "build-host-image: $*"; }

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/host}
mkdir -p "$out"
out=$(cd "$out" && pwd)
pkgs_file=$top/configs/host-packages
ovmf=${OVMF:-/usr/share/ovmf/OVMF.fd}
suite=trixie

# Sizes: the EFI system partition, the root file system (sparse).
ESP_MIB=64
ROOT_MIB=3072
SECTOR=512
ESP_START=2048

key=$( {
	cat "$pkgs_file" "$0"
	(cd "$top" && find tests/host/image -type f | LC_ALL=C sort | xargs cat)
} | sha256sum | cut -d' ' -f1)
if [ -f "$out/disk.img" ] && [ "$(cat "$out/key" 2>/dev/null)" = "$key" ]; then
	say "$out/disk.img is up to date"
	exit 0
fi
[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap, file ownership in the image)"
[ -f "$ovmf" ] || die "no $ovmf (install ovmf)"
rm -f "$out/key" "$out/disk.img"

work=$out/work
rm -rf --one-file-system "$work"
mkdir -p "$work"
trap 'rm -rf --one-file-system "$work"' EXIT
tree=$work/root

pkgs=$(grep -v -e '^#' -e '^[[:space:]]*$' "$pkgs_file" | paste -sd, -)
uri=$("$top/scripts/debian-fetch.sh" --uri)
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
say "mmdebstrap $suite: $pkgs"
mmdebstrap --quiet --variant=apt --include="$pkgs" "$suite" "$tree" \
	"deb [signed-by=$keyring] $uri $suite main" >"$out/mmdebstrap.log" 2>&1 ||
	die "mmdebstrap failed; see $out/mmdebstrap.log"

# --- what the host is given by hand ------------------------------------------

echo hvchost >"$tree/etc/hostname"
cat >"$tree/etc/fstab" <<EOF
LABEL=hvcroot	/		ext4	errors=remount-ro	0 1
LABEL=HVCESP	/boot/efi	vfat	umask=0077		0 2
EOF
mkdir -p "$tree/boot/efi"
# GRUB: no menu delay, the kernel console on the first serial port (the one
# QEMU logs); the distribution's GRUB_CMDLINE_LINUX is otherwise left as
# Debian ships it, for the drop-ins to append to.
# /etc/default/grub is grub2-common's template, as the postinst of
# grub-efi-amd64 (not installed here: GRUB goes in at the provisioning boot)
# would put it there.
[ -f "$tree/etc/default/grub" ] ||
	install -m 0644 "$tree/usr/share/grub/default/grub" "$tree/etc/default/grub"
sed -i -e 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=0/' \
	-e 's/^GRUB_CMDLINE_LINUX_DEFAULT=.*/GRUB_CMDLINE_LINUX_DEFAULT=""/' \
	-e 's/^GRUB_CMDLINE_LINUX=.*/GRUB_CMDLINE_LINUX="console=ttyS0,115200"/' \
	"$tree/etc/default/grub"
grep -q '^GRUB_TIMEOUT=0$' "$tree/etc/default/grub" || die "no GRUB_TIMEOUT in /etc/default/grub"
# Periodic jobs that would only compete with the tests for the CPU.
for t in apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer e2scrub_reap.service \
	fstrim.timer dpkg-db-backup.timer; do
	ln -sfn /dev/null "$tree/etc/systemd/system/$t"
done
install -m 0644 "$top/tests/host/image/hvt-agent.service" "$top/tests/host/image/hvt-agent-crash.service" \
	"$tree/etc/systemd/system/"
mkdir -p "$tree/etc/systemd/system/multi-user.target.wants" \
	"$tree/etc/systemd/system/kdump-tools-dump.service.d"
ln -sfn /etc/systemd/system/hvt-agent.service \
	"$tree/etc/systemd/system/multi-user.target.wants/hvt-agent.service"
install -m 0644 "$top/tests/host/image/kdump-tools-dump-hvt.conf" \
	"$tree/etc/systemd/system/kdump-tools-dump.service.d/hvt.conf"
install -m 0755 "$top/tests/host/image/hvt-boot" "$top/tests/host/image/hvt-provision" "$tree/usr/local/sbin/"

kver=$(basename "$(find "$tree/boot" -maxdepth 1 -name 'vmlinuz-*' | sort | tail -n 1)")
kver=${kver#vmlinuz-}
[ -n "$kver" ] || die "no kernel in $tree/boot"
cp "$tree/boot/vmlinuz-$kver" "$work/vmlinuz"
cp "$tree/boot/initrd.img-$kver" "$work/initrd.img"

# --- the disk ---------------------------------------------------------------

say "root file system ($ROOT_MIB MiB, sparse) and EFI system partition"
mke2fs -q -t ext4 -L hvcroot -d "$tree" "$work/root.ext4" "${ROOT_MIB}M"
truncate -s "${ESP_MIB}M" "$work/esp.img"
mformat -i "$work/esp.img" -v HVCESP ::
# mformat fills the boot code area with what GRUB takes for an MBR with a
# partition ("improperly nested partition"); a FAT has no use for it.
dd if=/dev/zero of="$work/esp.img" bs=1 seek=446 count=64 conv=notrunc status=none
esp_sectors=$((ESP_MIB << 20 >> 9))
root_start=$((ESP_START + esp_sectors))
root_sectors=$((ROOT_MIB << 20 >> 9))
truncate -s $(((root_start + root_sectors + 2048) * SECTOR)) "$work/disk.img"
sfdisk --quiet "$work/disk.img" <<EOF
label: gpt
start=$ESP_START, size=$esp_sectors, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp
start=$root_start, size=$root_sectors, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root
EOF
dd if="$work/esp.img" of="$work/disk.img" bs=$SECTOR seek=$ESP_START conv=notrunc status=none
dd if="$work/root.ext4" of="$work/disk.img" bs=1M seek=$((root_start * SECTOR >> 20)) \
	conv=notrunc,sparse status=none
rm -rf --one-file-system "$tree" "$work/root.ext4" "$work/esp.img"

# --- GRUB, installed by the system itself -----------------------------------

say "provisioning boot: grub-install and update-grub in the image ($kver)"
timeout 600 qemu-system-x86_64 -machine q35 -cpu max -accel tcg -m 1G -nodefaults \
	-nographic -no-reboot -bios "$ovmf" -serial "file:$out/provision.log" \
	-drive "file=$work/disk.img,format=raw,if=virtio" \
	-kernel "$work/vmlinuz" -initrd "$work/initrd.img" \
	-append "root=LABEL=hvcroot ro console=ttyS0 init=/usr/local/sbin/hvt-provision" \
	>"$out/provision-qemu.log" 2>&1 || die "the provisioning boot failed; see $out/provision.log"
grep -q '^hvt-provision: done' "$out/provision.log" ||
	die "GRUB was not installed; see $out/provision.log"

mv "$work/disk.img" "$out/disk.img"
echo "$kver" >"$out/stock-kernel"
echo "$key" >"$out/key"
say "$out/disk.img ($(du -h "$out/disk.img" | cut -f1) used), Debian's kernel $kver, built in $SECONDS s"
