#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the patched kernel as a Debian package (the kernel tree's own
# "make bindeb-pkg"), for a host that installs kernels with dpkg.
#
#   build-deb.sh [--seed DIR] TREE KBUILD OUTDIR FRAGMENT...
#
# TREE is the patched tree (scripts/prepare-tree.sh); the kernel is built in
# KBUILD with tinyconfig plus the FRAGMENTs (scripts/build-kernel.sh), and
# the packages end up in OUTDIR, with OUTDIR/image.deb a link to the
# linux-image package (the linux-libc-dev package bindeb-pkg also makes is
# left next to it). Rebuilds only what changed; a package is made again only
# when the kernel image changed.
#
# --seed DIR: when KBUILD has no .config yet, start from a copy of DIR, the
# test kernel's output directory. Kbuild's fixdep records which CONFIG_
# options each object depends on (include/config/), so after the
# configuration changes only the objects that use a changed option are
# compiled again: the few the host fragment turns off, not the whole tree
# (a different autoconf.h defeats ccache's direct mode for every file).
set -euo pipefail

die() { echo "build-deb: $*" >&2; exit 1; }

seed=
if [ "${1:-}" = --seed ]; then
	seed=${2:?--seed needs a directory}
	shift 2
fi
[ $# -ge 4 ] || die "usage: $0 [--seed DIR] TREE KBUILD OUTDIR FRAGMENT..."
tree=$1 kbuild=$2 out=$3
shift 3
command -v dpkg-buildpackage >/dev/null || die "dpkg-buildpackage missing (install dpkg-dev)"
mkdir -p "$out" "$kbuild"
out=$(cd "$out" && pwd) kbuild=$(cd "$kbuild" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

if [ -n "$seed" ] && [ ! -f "$kbuild/.config" ] && [ -f "$seed/.config" ]; then
	echo "build-deb: starting $kbuild from a copy of $seed"
	# Copied aside and moved into place: an interrupted copy leaves no
	# .config in KBUILD, so the next run starts over.
	rm -rf "$kbuild.seed"
	cp -a --reflink=auto "$seed" "$kbuild.seed"
	# Not this package's image until it is built again here.
	rm -f "$kbuild.seed/arch/x86/boot/bzImage"
	rm -rf "$kbuild"
	mv "$kbuild.seed" "$kbuild"
fi

"$here/build-kernel.sh" "$tree" "$kbuild" "$@" -- bzImage
release=$(cat "$kbuild/include/config/kernel.release")
deb=$(find "$out" -maxdepth 1 -name "linux-image-${release}_*.deb" -newer "$kbuild/arch/x86/boot/bzImage" | head -n 1)
if [ -z "$deb" ]; then
	rm -f "$out"/linux-image-"${release}"_*.deb
	# bindeb-pkg writes the packages next to its output directory. No
	# linux-headers package: nothing here builds modules against it.
	DPKG_FLAGS=-Ppkg.linux-upstream.nokernelheaders \
		"$here/build-kernel.sh" "$tree" "$kbuild" "$@" -- bindeb-pkg
	parent=$(dirname "$kbuild")
	for f in "$parent"/linux-image-"${release}"_*.deb "$parent"/linux-libc-dev_*.deb \
		"$parent"/linux-upstream_*.buildinfo "$parent"/linux-upstream_*.changes; do
		[ -e "$f" ] && mv -f "$f" "$out/"
	done
	deb=$(find "$out" -maxdepth 1 -name "linux-image-${release}_*.deb" | head -n 1)
	[ -n "$deb" ] || die "bindeb-pkg made no linux-image-${release} package"
fi
ln -sfn "$(basename "$deb")" "$out/image.deb"
echo "build-deb: $deb"
