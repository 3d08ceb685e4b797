#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install the host packages hvcarve's build, tests and demo need -- only the
# ones that are missing, without recommends. Run as root on Debian 12.
set -euo pipefail

pkgs=(
	# kernel build
	build-essential bc bison flex libelf-dev libssl-dev cpio xz-utils
	ccache perl kmod
	# Only for the kernel tree's own scripts: 7.3's scripts/kernel-doc is
	# Python, and check-style.sh runs it as /usr/bin/python3. Nothing of
	# the project itself runs Python (check-style.sh no-python).
	python3 # python-gate: allowed (the kernel tree's kernel-doc)
	# fetching Debian packages
	apt debian-archive-keyring dpkg ca-certificates
	# tests and demo
	qemu-system-x86 qemu-utils kexec-tools busybox-static
	# UEFI guests (efi.bats): OVMF, booting the kernel through its EFI stub
	ovmf
	# real GRUB (grub.bats): grub-mkrescue images for BIOS and UEFI, grub-mkconfig
	grub-common grub-pc-bin grub-efi-amd64-bin xorriso mtools
	# kdump as distributions do it (kdump.bats): makedumpfile in the crash kernel
	makedumpfile
	bats bats-assert bats-support
	# make test runs the suites side by side (scripts/run-tests.sh)
	parallel
	# make deb: the kernel tree's bindeb-pkg (dpkg-buildpackage, debhelper; its
	# generated control file also asks for libdw-dev and rsync)
	dpkg-dev debhelper libdw-dev rsync
	# the tool's --json output, checked in cmdline.bats
	jq
	# the Debian host of host.bats: a Debian 13 tree built from packages,
	# a GPT disk (sfdisk) with an ext4 root made from it (mke2fs -d) and an
	# EFI system partition (mtools), qcow2 overlays (qemu-utils)
	mmdebstrap fdisk e2fsprogs
	# checks
	shellcheck sparse git
)

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing+=("$p")
	fi
done

# linux-source-7.3 comes from trixie-backports: its signing keys arrived in a
# bookworm point release of debian-archive-keyring. Upgrade an older one.
if [ ! -e /usr/share/keyrings/debian-archive-trixie-automatic.gpg ]; then
	missing+=(debian-archive-keyring)
fi

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#pkgs[@]} host packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root to install them" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
