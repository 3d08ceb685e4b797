#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetch one of Debian's stock kernels for the kexec chain tests. The .debs
# come through the project's private apt state (scripts/debian-fetch.sh)
# and are only unpacked, never installed.
#
# Usage: fetch-kernels.sh NAME OUTDIR
#        fetch-kernels.sh --list
#   NAME       suite               meta package
#   5.10       bullseye            linux-image-amd64
#   6.1        bookworm            linux-image-amd64   (build/old, the "old kernel")
#   6.1-cloud  bookworm            linux-image-cloud-amd64
#   6.12       bookworm-backports  linux-image-amd64
#   7.3-stock  trixie-backports    linux-image-amd64   (unpatched 7.3)
#
# The meta package's Depends name the concrete image package, whose Depends
# may in turn name the package that has the image (7.x: linux-binary-*,
# with usr/lib/modules/VERSION/vmlinuz); the first package of that chain
# that has a vmlinuz is used. Leaves OUTDIR/vmlinuz (bzImage),
# OUTDIR/version (uname -r of that kernel), OUTDIR/package (the package and
# version the image came from), OUTDIR/config and OUTDIR/System.map where
# the package has them; the .debs stay in OUTDIR/debs. Does nothing if
# OUTDIR/vmlinuz and OUTDIR/version exist.
#
# The apt state of SUITE is build/apt-SUITE (trixie-backports: build/apt-trixie,
# which the kernel source fetch uses too), or $HVT_APT_STATE if set.
set -euo pipefail

die() { echo "fetch-kernels: $*" >&2; exit 1; }

# NAME SUITE META
KERNELS='
5.10 bullseye linux-image-amd64
6.1 bookworm linux-image-amd64
6.1-cloud bookworm linux-image-cloud-amd64
6.12 bookworm-backports linux-image-amd64
7.3-stock trixie-backports linux-image-amd64
'

if [ "${1:-}" = --list ]; then
	awk 'NF == 3 { print $1 }' <<<"$KERNELS"
	exit 0
fi
[ $# -eq 2 ] || die "usage: $0 NAME OUTDIR | --list"
name=$1 out=$2
read -r suite meta < <(awk -v n="$name" '$1 == n { print $2, $3 }' <<<"$KERNELS") ||
	die "unknown kernel '$name' (known: $(awk 'NF == 3 { printf "%s ", $1 }' <<<"$KERNELS"))"

if [ -s "$out/vmlinuz" ] && [ -s "$out/version" ]; then
	echo "fetch-kernels: $out/vmlinuz present ($(cat "$out/version")), skipping" >&2
	exit 0
fi

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
case $suite in
trixie-backports) state=$root/build/apt-trixie ;;
*) state=$root/build/apt-$suite ;;
esac
state=${HVT_APT_STATE:-$state}
# One fetch at a time per apt state (make -j, or a test fetching on its own).
mkdir -p "$(dirname "$state")"
exec 9>"$state.lock"
flock 9
# Another fetch may have finished it meanwhile.
if [ -s "$out/vmlinuz" ] && [ -s "$out/version" ]; then
	exit 0
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
debs=$out/debs
mkdir -p "$debs"

# fetch PKG: download PKG (unless a .deb of it is here already) and print
# the path of its .deb. The meta package is always fetched again, so that
# a cache left from another version is not trusted.
fetch() {
	local pkg=$1 files
	files=("$debs/${pkg}"_*.deb)
	if [ ! -f "${files[0]}" ]; then
		"$here/debian-fetch.sh" "$state" "$suite" "$debs" "$pkg"
		files=("$debs/${pkg}"_*.deb)
	fi
	[ -f "${files[0]}" ] || die "$pkg: download from $suite failed"
	[ "${#files[@]}" -eq 1 ] || die "$pkg: more than one .deb in $debs: ${files[*]}"
	printf '%s\n' "${files[0]}"
}

# next_pkg DEB: the versioned linux-image-N* or linux-binary-N* package that
# DEB depends on (its first alternative), if any.
next_pkg() {
	dpkg-deb -f "$1" Depends | tr ',|' '\n' | sed 's/(.*//; s/[[:space:]]//g' |
		grep -E '^linux-(image|binary)-[0-9][^[:space:]]*$' | head -n 1 || true
}

# image_path DEB: the member of DEB that is the kernel image, if any.
image_path() {
	dpkg-deb -c "$1" | awk '{ print $NF }' |
		grep -E '^\./(boot/vmlinuz-[^/]+|usr/lib/modules/[^/]+/vmlinuz)$' | head -n 1 || true
}

rm -f "$debs/${meta}"_*.deb
deb=$(fetch "$meta")
pkg=$meta img=""
for _ in 1 2 3 4; do
	img=$(image_path "$deb")
	[ -z "$img" ] || break
	next=$(next_pkg "$deb")
	[ -n "$next" ] || die "$pkg has no kernel image and depends on no linux-image/linux-binary package: $(dpkg-deb -f "$deb" Depends)"
	pkg=$next
	deb=$(fetch "$pkg")
done
[ -n "$img" ] || die "no kernel image found from $meta of $suite"
case $img in
./boot/vmlinuz-*) ver=${img#./boot/vmlinuz-} ;;
*) ver=${img#./usr/lib/modules/} ver=${ver%/vmlinuz} ;;
esac

# Only the image, its config and System.map are unpacked.
tmp=$(mktemp -d "$out/.x.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards "$img" \
	"./boot/config-$ver" "./boot/System.map-$ver" \
	"./usr/lib/modules/$ver/config" "./usr/lib/modules/$ver/System.map" 2>/dev/null || true
[ -s "$tmp/$img" ] || die "$deb: cannot unpack $img"
cp "$tmp/$img" "$out/vmlinuz.tmp"
for f in config System.map; do
	for src in "$tmp/boot/$f-$ver" "$tmp/usr/lib/modules/$ver/$f"; do
		if [ -f "$src" ]; then
			cp "$src" "$out/$f"
			break
		fi
	done
done
printf '%s %s\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)" >"$out/package"
printf '%s\n' "$ver" >"$out/version.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$out/version.tmp" "$out/version"
echo "fetch-kernels: $name: $out/vmlinuz is $ver ($(basename "$deb"), $suite)" >&2
