#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make backport-check: the hvcarve series on Debian's 6.12 LTS kernel.
#
#   backport-check.sh [--build-only]
#
# 1. fetches Debian's linux-source-6.12 (trixie, through a private apt
#    state: scripts/debian-fetch.sh) and extracts it once, to
#    build/src-6.12;
# 2. applies the 6.12 series (scripts/backport-series.sh 6.12: patches/series
#    with the rules of patches/6.12/series) to a hard-link copy,
#    build/6.12/linux, and builds the test kernel (tinyconfig,
#    configs/hvcarve-test.config and configs/hvcarve-test-6.12.config) in
#    build/6.12/kbuild;
#    the same without the /sys/firmware/memmap patch in build/6.12-nofix/
#    (the negative control of tests/backport/firmware-memmap.bats). The two
#    trees sit at the same relative paths, so ccache serves the second
#    build from the first;
# 3. builds an initramfs with the 6.12 kernel as /boot/vmlinuz-new;
# 4. runs what tests/backport/6.12.tests lists, with NEW_KERNEL the 6.12
#    bzImage, two suites at a time (HVT_JOBS), and reports each test and
#    one "N passed, N failed, N skipped" line; a listed skip counts as
#    skipped, with its reason.
#
# Expects what make's deps, tools and oldkernel targets provide (host
# packages, tools/hvcarve, build/old/vmlinuz) and build/guest-extra.
# Artifacts of failed tests stay in build/6.12/test-artifacts/.
# Exit status: 0 only if nothing failed.
set -euo pipefail

die() { echo "backport-check: $*" >&2; exit 1; }

top=$(cd "$(dirname "$0")/.." && pwd)

# tap_name SUITE: the file its TAP output goes to (under OUTDIR).
tap_name() {
	echo "$1" | tr '/.' '__'
}

if [ "${1:-}" = --one ]; then
	# --one SUITE REGEX OUTDIR: run SUITE's tests that match REGEX, TAP
	# into OUTDIR, then print it (GNU parallel runs this, one per suite).
	[ $# -eq 4 ] || die "usage: $0 --one SUITE REGEX OUTDIR"
	suite=$2 regex=$3 tap=$4/$(tap_name "$2").tap
	if [ -f "$top/tests/$suite" ]; then
		# SeaBIOS: the chain suites boot UEFI by default since the
		# backport was last run (not tried with it under OVMF).
		HVT_FIRMWARE=bios bats --formatter tap --timing --filter "$regex" "$top/tests/$suite" >"$tap" 2>&1 || true
	else
		echo "not ok 1 $suite: no such suite" >"$tap"
	fi
	echo "# ---- $suite"
	cat "$tap"
	exit 0
fi

build=$top/build
ver=6.12
src=$build/src-$ver
pristine=$src/linux-source-$ver
fix=$build/$ver
nofix=$build/$ver-nofix
memmap_patch=0003-x86-kexec-export-e820_table_kexec-to-sysfs.patch
old=$build/old/vmlinuz
extra=$build/guest-extra
select=$top/tests/backport/$ver.tests
build_only=0
[ "${1:-}" = --build-only ] && build_only=1

t0=$(date +%s)
stamp() { echo "backport-check: [$(($(date +%s) - t0)) s] $*"; }

# --- 1. the source -----------------------------------------------------------

if [ ! -f "$pristine/Makefile" ]; then
	stamp "fetching linux-source-$ver (about 150 MB)"
	"$top/scripts/debian-fetch.sh" "$build/apt-trixie-$ver" trixie "$build/debs-$ver" "linux-source-$ver"
	debs=("$build/debs-$ver/linux-source-${ver}_"*.deb)
	[ -f "${debs[-1]}" ] || die "linux-source-$ver download failed"
	rm -rf "$src.tmp" && mkdir -p "$src.tmp"
	dpkg-deb --fsys-tarfile "${debs[-1]}" |
		tar -x -C "$src.tmp" --strip-components=3 "./usr/src/linux-source-$ver.tar.xz"
	tar -x -C "$src.tmp" -f "$src.tmp/linux-source-$ver.tar.xz"
	rm -f "$src.tmp/linux-source-$ver.tar.xz"
	[ -f "$src.tmp/linux-source-$ver/Makefile" ] || die "no linux-source-$ver in ${debs[-1]}"
	rm -rf "$src" && mv "$src.tmp" "$src"
fi
stamp "source: $(make -s -C "$pristine" kernelversion) ($pristine)"

# --- 2. the kernels ----------------------------------------------------------

# build_variant DIR [backport-series.sh options]: DIR/linux, DIR/kbuild.
build_variant() {
	local dir=$1
	shift
	mkdir -p "$dir"
	"$top/scripts/backport-series.sh" "$@" "$ver" >"$dir/series.new" ||
		die "the $ver series does not resolve (patches/$ver/series against patches/series)"
	mv "$dir/series.new" "$dir/series"
	"$top/scripts/prepare-tree.sh" "$pristine" "$dir/linux" "$dir/series"
	"$top/scripts/build-kernel.sh" "$dir/linux" "$dir/kbuild" \
		"$top/configs/hvcarve-test.config" "$top/configs/hvcarve-test-$ver.config" -- bzImage
	[ -f "$dir/kbuild/arch/x86/boot/bzImage" ] || die "no bzImage in $dir/kbuild"
}

export CCACHE_DIR=${CCACHE_DIR:-$build/ccache-$ver}
mkdir -p "$build"
(
	flock 9
	stamp "building the $ver test kernel"
	build_variant "$fix"
	stamp "building it without $memmap_patch"
	build_variant "$nofix" --without "$memmap_patch"
) 9>"$build/.kernel-$ver.lock"
new=$fix/kbuild/arch/x86/boot/bzImage
stamp "kernels: $new, $nofix/kbuild/arch/x86/boot/bzImage"

# --- 3. the initramfs --------------------------------------------------------

[ -f "$old" ] || die "$old missing (make oldkernel)"
[ -d "$extra" ] || die "$extra missing (make initramfs builds it)"
initrd=$fix/initramfs.cpio
stale=0
[ -f "$initrd" ] || stale=1
for f in "$new" "$old" "$top/scripts/mkinitramfs.sh" "$top"/tests/guest/* "$extra"/usr/bin/*; do
	[ "$f" -nt "$initrd" ] && stale=1
done
if [ "$stale" = 1 ]; then
	"$top/scripts/mkinitramfs.sh" --out "$initrd" --new-kernel "$new" \
		--old-kernel "$old" --extra "$extra"
fi
[ "$build_only" = 0 ] || { stamp "built"; exit 0; }

# --- 4. the tests ------------------------------------------------------------

export NEW_KERNEL=$new OLD_KERNEL=$old BASE_INITRD=$initrd
export BP_NOFIX_KERNEL=$nofix/kbuild/arch/x86/boot/bzImage
export BP_EXPECT_RELEASE="^${ver//./\\.}\\."
export HVT_ARTIFACTS_ROOT=$fix/test-artifacts

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
runs=() skips=()
while read -r what suite rest; do
	case $what in
	'' | '#'*) continue ;;
	run) runs+=("$suite"$'\t'"$rest") ;;
	skip) skips+=("$suite"$'\t'"$rest") ;;
	*) die "$select: bad line: $what $suite $rest" ;;
	esac
done <"$select"

stamp "running ${#runs[@]} suites on the $ver kernel, ${HVT_JOBS:-2} at a time"
printf '%s\n' "${runs[@]}" |
	parallel --will-cite --jobs "${HVT_JOBS:-2}" --colsep '\t' "$top/scripts/backport-check.sh" --one '{1}' '{2}' "$out"

passed=0 failed=0 skipped=0
echo "# backport-check $ver, by suite:"
for r in "${runs[@]}"; do
	suite=${r%%$'\t'*}
	tap=$out/$(tap_name "$suite").tap
	p=$(grep -cE '^ok [0-9]+ ' "$tap" || true)
	s=$(grep -cE '^ok [0-9]+ .*# skip' "$tap" || true)
	n=$(grep -cE '^not ok [0-9]+ ' "$tap" || true)
	# A suite whose filter matched nothing ran nothing: that is a failure.
	if [ "$((p + n))" = 0 ]; then
		echo "#   $suite: no test ran (filter: ${r#*$'\t'})"
		n=1
	fi
	printf '#   %-32s %d passed, %d failed, %d skipped\n' "$suite" $((p - s)) "$n" "$s"
	passed=$((passed + p - s)) failed=$((failed + n)) skipped=$((skipped + s))
done
for s in "${skips[@]}"; do
	echo "#   ${s%%$'\t'*}: skipped: ${s#*$'\t'}"
	skipped=$((skipped + 1))
done
stamp "done"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
