#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the patched kernel as a Debian package (the kernel tree's own
# "make bindeb-pkg"), for a host that installs kernels with dpkg.
#
#   build-deb.sh TREE OUTDIR FRAGMENT...
#
# TREE is the patched tree (scripts/prepare-tree.sh); the kernel is built in
# OUTDIR/kbuild with tinyconfig plus the FRAGMENTs (scripts/build-kernel.sh),
# and the packages land in OUTDIR. OUTDIR/image.deb is a link to the
# linux-image package just built (the linux-libc-dev package bindeb-pkg
# also makes is left as it is). Rebuilds only what changed;
# a package is made again only when the kernel image changed.
set -euo pipefail

die() { echo "build-deb: $*" >&2; exit 1; }

[ $# -ge 3 ] || die "usage: $0 TREE OUTDIR FRAGMENT..."
tree=$1 out=$2
shift 2
command -v dpkg-buildpackage >/dev/null || die "dpkg-buildpackage missing (install dpkg-dev)"
mkdir -p "$out"
out=$(cd "$out" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

"$here/build-kernel.sh" "$tree" "$out/kbuild" "$@" -- bzImage
release=$(cat "$out/kbuild/include/config/kernel.release")
deb=$(find "$out" -maxdepth 1 -name "linux-image-${release}_*.deb" -newer "$out/kbuild/arch/x86/boot/bzImage" | head -n 1)
if [ -z "$deb" ]; then
	rm -f "$out"/linux-image-"${release}"_*.deb "$out"/linux-headers-"${release}"_*.deb
	# bindeb-pkg writes the packages next to its output directory. No
	# linux-headers package: nothing here builds modules against it.
	DPKG_FLAGS=-Ppkg.linux-upstream.nokernelheaders \
		"$here/build-kernel.sh" "$tree" "$out/kbuild" "$@" -- bindeb-pkg
	deb=$(find "$out" -maxdepth 1 -name "linux-image-${release}_*.deb" | head -n 1)
	[ -n "$deb" ] || die "bindeb-pkg made no linux-image-${release} package in $out"
fi
ln -sfn "$(basename "$deb")" "$out/image.deb"
echo "build-deb: $deb"
