#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetch the kexec binary of another Debian suite's kexec-tools, for the
# tests that need an older kexec-tools than the machine's: Debian 11's
# 2.0.20 reads the capitalised "Reserved" of /proc/iomem as nothing at all
# (kexec-tools learnt it in 2.0.21), so a kexec -l that builds the next
# map from /proc/iomem hands the carveout on as a hole. The .deb comes
# through the project's private apt state (scripts/debian-fetch.sh) and is
# only unpacked, never installed.
#
# Usage: fetch-kexec-tools.sh SUITE OUTDIR
# Leaves OUTDIR/kexec (the binary, dynamically linked against libraries
# the test initramfs carries for the machine's own kexec), OUTDIR/version
# (the package version) and OUTDIR/debs. Does nothing if both exist.
set -euo pipefail

die() { echo "fetch-kexec-tools: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: $0 SUITE OUTDIR"
suite=$1 out=$2
if [ -x "$out/kexec" ] && [ -s "$out/version" ]; then
	echo "fetch-kexec-tools: $out/kexec present ($(cat "$out/version")), skipping" >&2
	exit 0
fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
state=${HVT_APT_STATE:-$root/build/apt-$suite}
mkdir -p "$(dirname "$state")"
exec 9>"$state.lock"
flock 9

mkdir -p "$out/debs"
out=$(cd "$out" && pwd)
rm -f "$out/debs"/kexec-tools_*.deb
"$here/debian-fetch.sh" "$state" "$suite" "$out/debs" kexec-tools
debs=("$out/debs"/kexec-tools_*.deb)
[ -f "${debs[0]}" ] || die "kexec-tools: download from $suite failed"
[ "${#debs[@]}" -eq 1 ] || die "more than one kexec-tools .deb in $out/debs"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "${debs[0]}" "$tmp"
bin=$tmp/sbin/kexec
[ -x "$bin" ] || bin=$tmp/usr/sbin/kexec
[ -x "$bin" ] || die "no sbin/kexec in ${debs[0]}"
install -m 0755 "$bin" "$out/kexec"
dpkg-deb -f "${debs[0]}" Version >"$out/version"
echo "fetch-kexec-tools: $out/kexec is kexec-tools $(cat "$out/version") of $suite" >&2
