#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetch the "old kernel" of the kexec chain tests: the image package that
# Debian bookworm's linux-image-amd64 depends on (6.1.x). The .deb is only
# unpacked, never installed.
#
# Usage: fetch-old-kernel.sh OUTDIR
#   Leaves OUTDIR/vmlinuz (bzImage), OUTDIR/version (uname -r of that
#   kernel), OUTDIR/config and OUTDIR/System.map; the .debs stay in
#   OUTDIR/debs. Does nothing if OUTDIR/vmlinuz and OUTDIR/version exist.
#   The apt state dir is build/apt-bookworm (or $HVT_APT_STATE).
set -euo pipefail

die() { echo "fetch-old-kernel: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
out=$1
if [ -s "$out/vmlinuz" ] && [ -s "$out/version" ]; then
	echo "fetch-old-kernel: $out/vmlinuz present ($(cat "$out/version")), skipping" >&2
	exit 0
fi

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
state=${HVT_APT_STATE:-$root/build/apt-bookworm}
mkdir -p "$out"
out=$(cd "$out" && pwd)
debs=$out/debs
mkdir -p "$debs"

# 1. The meta package, to learn which concrete image it depends on.
rm -f "$debs"/linux-image-amd64_*.deb
"$here/debian-fetch.sh" "$state" bookworm "$debs" linux-image-amd64
metas=("$debs"/linux-image-amd64_*.deb)
meta=${metas[0]}
[ -f "$meta" ] || die "linux-image-amd64 download failed"
dep=$(dpkg-deb -f "$meta" Depends)
# Depends looks like "linux-image-6.1.0-41-amd64 (= 6.1.158-1)"; take the
# first linux-image-* alternative.
pkg=$(printf '%s\n' "$dep" | tr ',|' '\n' | sed 's/(.*//; s/[[:space:]]//g' |
	grep -E '^linux-image-[0-9].*-amd64$' | head -n 1) ||
	die "cannot parse Depends of linux-image-amd64: $dep"
[ -n "$pkg" ] || die "no linux-image-N-amd64 in Depends: $dep"
ver=${pkg#linux-image-}

# 2. The concrete image package (skip the download if already here).
debfiles=("$debs/${pkg}"_*.deb)
if [ ! -f "${debfiles[0]}" ]; then
	"$here/debian-fetch.sh" "$state" bookworm "$debs" "$pkg"
	debfiles=("$debs/${pkg}"_*.deb)
fi
deb=${debfiles[0]}
[ -f "$deb" ] || die "$pkg download failed"

# 3. Unpack into a scratch dir and keep only what the tests need.
tmp=$(mktemp -d "$out/.x.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp"
[ -f "$tmp/boot/vmlinuz-$ver" ] || die "$deb has no /boot/vmlinuz-$ver"
cp "$tmp/boot/vmlinuz-$ver" "$out/vmlinuz.tmp"
if [ -f "$tmp/boot/config-$ver" ]; then
	cp "$tmp/boot/config-$ver" "$out/config"
fi
if [ -f "$tmp/boot/System.map-$ver" ]; then
	cp "$tmp/boot/System.map-$ver" "$out/System.map"
fi
printf '%s\n' "$ver" >"$out/version.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$out/version.tmp" "$out/version"
echo "fetch-old-kernel: $out/vmlinuz is $ver ($(basename "$deb"))" >&2
