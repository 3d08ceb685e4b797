#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the tree's own LUO selftests (tools/testing/selftests/liveupdate/)
# for the test guest: static binaries, compiled on the host with gcc
# against the tree's uapi headers (installed as make headers_install
# does), packed as a cpio piece to add to the initramfs (vm_run --initrd).
#
#   build-luo-selftest.sh TREE OUTDIR [TEST...]     (default: luo_kexec_simple)
#
# OUTDIR/usr/include    the uapi headers
# OUTDIR/root/usr/bin/  the binaries
# OUTDIR/luo.cpio       the cpio piece with usr/bin/TEST...
# Nothing is redone when OUTDIR/luo.cpio is newer than this script, the
# tree's patch stamp, the selftest sources and the uapi header they use.
set -euo pipefail

die() { echo "build-luo-selftest: $*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: $0 TREE OUTDIR [TEST...]"
tree=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
shift 2
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(luo_kexec_simple)

sel=$tree/tools/testing/selftests
src=$sel/liveupdate
[ -f "$src/lib/lu_utils.c" ] || die "$src: no LUO selftests in this tree"

inputs=("$0" "$tree/.hvcarve-patches" "$tree/include/uapi/linux/liveupdate.h"
	"$src/lib/lu_utils.c" "$src/lib/include/libliveupdate.h" "$sel/kselftest.h")
for t in "${tests[@]}"; do
	[ -f "$src/$t.c" ] || die "$src/$t.c: no such selftest"
	inputs+=("$src/$t.c")
done
stale=0
[ -f "$out/luo.cpio" ] || stale=1
for f in "${inputs[@]}"; do
	[ -e "$f" ] || die "$f missing"
	[ "$f" -nt "$out/luo.cpio" ] && stale=1
done
if [ $stale = 0 ]; then
	exit 0
fi

echo "build-luo-selftest: uapi headers into $out/usr"
rm -rf "${out:?}/usr" "$out/hdr-build" "$out/root"
# make headers_install is "make headers" and an rsync of the *.h files of
# usr/include into INSTALL_HDR_PATH; the same here with cp, so that rsync
# is not needed.
make -s -C "$tree" O="$out/hdr-build" HOSTCC=gcc headers >"$out/headers.log" 2>&1 ||
	{ cat "$out/headers.log" >&2; die "make headers failed"; }
(cd "$out/hdr-build" && find usr/include -name "*.h" -print0 | cpio -0 -pdm --quiet "$out")
[ -f "$out/usr/include/linux/liveupdate.h" ] || die "make headers made no linux/liveupdate.h"

mkdir -p "$out/root/usr/bin"
for t in "${tests[@]}"; do
	echo "build-luo-selftest: $t (static)"
	# As the selftest Makefile builds it (-Wall -O2 -Wno-unused-function),
	# with the installed headers instead of the tree's usr/include.
	gcc -static -O2 -Wall -Wno-unused-function -Werror \
		-isystem "$out/usr/include" -I "$src/lib/include" \
		-o "$out/root/usr/bin/$t" "$src/$t.c" "$src/lib/lu_utils.c"
	if ldd "$out/root/usr/bin/$t" >/dev/null 2>&1; then
		die "$t is not static"
	fi
done

(cd "$out/root" && find . | LC_ALL=C sort |
	cpio -o -H newc --owner=0:0 --reproducible --quiet) >"$out/luo.cpio.tmp"
mv "$out/luo.cpio.tmp" "$out/luo.cpio"
echo "build-luo-selftest: $out/luo.cpio"
