#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build a sparse that Linux 7.3's kbuild accepts and install it as
# OUTDIR/bin/sparse.
#
# Debian 12's sparse (0.6.4) lacks __typeof_unqual__, which
# scripts/checker-valid.sh requires, and sid's binary package needs a newer
# glibc. So this takes sid's *source* package (through debian-fetch.sh, which
# leaves the machine's apt configuration alone), unpacks it with dpkg-source
# (Debian's patches applied) and builds only the `sparse` program with the
# host gcc: no LLVM, libxml, sqlite or GTK, so nothing beyond build-essential
# is needed.
#
# Usage: fetch-sparse.sh OUTDIR
#   OUTDIR  e.g. build/tools/sparse; holds the apt state, the downloaded
#           source, the build directory and bin/sparse
#
# Environment:
#   KTREE         kernel tree whose scripts/checker-valid.sh must accept the
#                 result (default: build/linux of this repository)
#   SPARSE_SUITE  Debian suite to take the source from (default: sid)
#   FORCE=1       rebuild even if OUTDIR/bin/sparse is already valid
#
# Idempotent: when OUTDIR/bin/sparse exists and checker-valid.sh accepts it,
# nothing is fetched or built.
set -euo pipefail

die() { echo "fetch-sparse: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
ktree=${KTREE:-$top/build/linux}
suite=${SPARSE_SUITE:-sid}
checker=$ktree/scripts/checker-valid.sh
sparse=$out/bin/sparse

[ -f "$checker" ] ||
	die "$checker missing: prepare the kernel tree first (make tree) or set KTREE"

# checker-valid.sh prints 1 when the checker handles the kernel's C, else 0
# (it exits 0 either way).
valid() {
	[ -x "$1" ] && [ "$(sh -eu "$checker" "$1" 2>/dev/null)" = 1 ]
}

if [ "${FORCE:-0}" != 1 ] && valid "$sparse"; then
	echo "fetch-sparse: $sparse is valid ($("$sparse" --version)), nothing to do" >&2
	exit 0
fi

for tool in gcc make dpkg-source apt-get; do
	command -v "$tool" >/dev/null || die "$tool missing (make deps)"
done

start=$SECONDS
dl=$out/dl
rm -rf "$dl"
"$top/scripts/debian-fetch.sh" --source "$out/apt-$suite" "$suite" "$dl" sparse

dsc=$(find "$dl" -maxdepth 1 -name 'sparse_*.dsc' | sort | tail -n 1)
[ -n "$dsc" ] || die "no sparse .dsc downloaded"
# e.g. sparse_0.6.5~rc1-2.dsc -> 0.6.5~rc1-2
debver=$(basename "$dsc" .dsc)
debver=${debver#sparse_}

src=$out/src
rm -rf "$src"
# apt-get has already checked every file against the signed Release file of
# the suite; the maintainer's key of the inline .dsc signature is not on the
# machine, so dpkg-source's own check would only warn.
dpkg-source --no-check -x "$dsc" "$src" >&2

# Debian patches the Makefile to CC = gcc-<its default>; use the host gcc,
# whose include directory sparse then records. Only the sparse program.
echo "fetch-sparse: building sparse $debver" >&2
make -C "$src" -j"$(nproc)" -s \
	CC=gcc LD=gcc \
	HAVE_LLVM=no HAVE_LIBXML=no HAVE_SQLITE=no HAVE_GTK=no \
	SPARSE_VERSION="${debver%-*} (Debian source $debver)" \
	sparse >&2

valid "$src/sparse" ||
	die "the built $src/sparse is rejected by $checker"
mkdir -p "$out/bin"
install -m 0755 "$src/sparse" "$sparse.new"
mv -f "$sparse.new" "$sparse"
# dpkg-source leaves a link to the upstream tarball beside the tree.
rm -rf "$src" "$out"/sparse_*.orig.tar.*
echo "fetch-sparse: installed $sparse ($("$sparse" --version)) in $((SECONDS - start))s" >&2
