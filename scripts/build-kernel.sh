#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Configure and build a kernel from the patched tree.
#
#   build-kernel.sh TREE OUTDIR FRAGMENT... -- TARGET...
#
# The .config is tinyconfig plus the fragments; it is regenerated only when a
# fragment is newer than it (or the tree changed), and every option the
# fragments ask for is verified to have survived (when several fragments set
# the same option, the last one wins, as in merge_config.sh). Compiles go
# through ccache. ARCH (environment) selects another architecture, e.g.
# ARCH=i386 for a 32-bit x86 build.
set -euo pipefail

die() { echo "build-kernel: $*" >&2; exit 1; }

tree=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
shift 2
frags=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
	frags+=("$(cd "$(dirname "$1")" && pwd)/$(basename "$1")")
	shift
done
[ "${1:-}" = "--" ] && shift
targets=("$@")

cc="gcc"
command -v ccache >/dev/null && cc="ccache gcc"
export CCACHE_DIR=${CCACHE_DIR:-$(cd "$out/.." && pwd)/ccache}
export CCACHE_BASEDIR=$tree
export KBUILD_BUILD_USER=hvcarve KBUILD_BUILD_HOST=hvcarve
kmake=(make -C "$tree" O="$out" CC="$cc" HOSTCC=gcc -j"$(nproc)")
[ -z "${ARCH:-}" ] || kmake+=(ARCH="$ARCH")

need_config=0
[ -f "$out/.config" ] || need_config=1
for f in "${frags[@]}"; do
	[ "$f" -nt "$out/.config" ] && need_config=1
done
[ "$tree/.hvcarve-patches" -nt "$out/.config" ] && need_config=1
# Another list of fragments (or another architecture) than last time.
setup="${ARCH:-} ${frags[*]}"
[ "$(cat "$out/.hvcarve-config" 2>/dev/null)" = "$setup" ] || need_config=1

if [ $need_config = 1 ]; then
	echo "build-kernel: configuring $out (tinyconfig + ${frags[*]##*/})"
	"${kmake[@]}" -s tinyconfig >/dev/null
	"$tree/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${frags[@]}" >"$out/merge.log"
	"${kmake[@]}" -s olddefconfig >/dev/null
	# Every option the fragments set must be in the final .config, as the
	# last fragment that sets it says.
	bad=0
	declare -A want=() from=()
	for f in "${frags[@]}"; do
		while IFS= read -r line; do
			case "$line" in
			CONFIG_*=*) want[${line%%=*}]=$line from[${line%%=*}]=$f ;;
			esac
		done <"$f"
	done
	for opt in "${!want[@]}"; do
		line=${want[$opt]} f=${from[$opt]}
		case "$line" in
		CONFIG_*=n)
			if grep -q "^$opt=" "$out/.config"; then
				echo "build-kernel: $f asks for $opt off, .config has: $(grep "^$opt=" "$out/.config")" >&2
				bad=1
			fi ;;
		*)
			if ! grep -qxF "$line" "$out/.config"; then
				echo "build-kernel: $f asks for $line, .config has: $(grep "^$opt=" "$out/.config" || echo unset)" >&2
				bad=1
			fi ;;
		esac
	done
	[ $bad = 0 ] || die "configuration incomplete (a dependency is missing)"
	printf "%s\n" "$setup" >"$out/.hvcarve-config"
fi

start=$SECONDS
echo "build-kernel: make ${targets[*]} in $out"
# kbuild's one line per step, condensed to a progress count (a cold build
# compiles a few thousand files); warnings and errors pass through.
"${kmake[@]}" "${targets[@]}" | awk '
	/^make\[[0-9]+\]: (Entering|Leaving) directory/ { next }
	/^  [A-Z]/ { n++; if (n % 250 == 0) { printf "build-kernel: %d build steps done\n", n; fflush() } next }
	{ print; fflush() }
	END { if (n) printf "build-kernel: %d build steps\n", n }'
echo "build-kernel: ${targets[*]} in $out took $((SECONDS - start)) s"
