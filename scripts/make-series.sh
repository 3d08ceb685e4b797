#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Generate the upstream patch series and prove it bisectable.
#
#   make-series.sh [--no-build] [--placeholder-ok] [--out DIR] [PRISTINE]
#
# PRISTINE is the untouched kernel tree the series is against (default:
# Debian's linux-source-7.3 under build/src). The series is patches/series
# with the project's new files (patches/new-files says which patch adds
# each) folded into their patches, written by git format-patch into DIR
# (default build/series) with the cover letter (patches/cover-letter.txt)
# first.
#
# Author and Signed-off-by: AUTHOR="Name <mail>", else git config user.name
# and user.email. The patches in the repository are signed by a
# placeholder, which is replaced everywhere (From:, Signed-off-by:, the
# MAINTAINERS entry's M:). With no author the script says what to set and
# stops, unless --placeholder-ok (make check, whose series is never sent)
# lets the placeholder stand.
#
# Checks, in this order; the first that fails stops the script and names
# the patch:
#   * the manifest: every project kernel file in exactly one patch of
#     patches/series (or on the "-" line), every file a patch adds to a
#     Makefile's obj- list present by that patch;
#   * each patch applies in order, with git am, to the pristine files;
#   * unless --no-build: the series applied one patch at a time with
#     patch(1) to a hard-link copy of PRISTINE (build/series-bisect/linux),
#     and a bzImage built after each patch (incrementally, with ccache) with
#     tinyconfig + configs/hvcarve-test.config + configs/hvcarve-hyperv.config
#     (SERIES_CONFIGS, blank-separated, to use others);
#   * checkpatch.pl --strict on every patch (scripts/check-style.sh
#     checkpatch-series): no finding that patches/checkpatch-justified.txt
#     does not justify.
#
# Environment: AUTHOR, SERIES_CONFIGS, SERIES_ROOT (take patches/ and the
# kernel files from this directory instead of the repository; the tests
# use it for broken copies).
set -euo pipefail

die() { echo "make-series: $*" >&2; exit 1; }
say() { echo "make-series: $*"; }

top=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "${SERIES_ROOT:-$top}" && pwd)
placeholder="hvcarve developers <hvcarve@localhost>"
build=1 placeholder_ok=0 out=$top/build/series pristine=""
while [ $# -gt 0 ]; do
	case $1 in
	--no-build) build=0 ;;
	--placeholder-ok) placeholder_ok=1 ;;
	--out) out=$2; shift ;;
	-h | --help) sed -n '3,39p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) die "unknown option $1" ;;
	*) pristine=$1 ;;
	esac
	shift
done
[ -n "$pristine" ] || pristine=$top/build/src/linux-source-7.3
if [ ! -f "$pristine/Makefile" ] || [ ! -d "$pristine/mm" ]; then
	die "$pristine is not a kernel tree (run 'make source' or give one)"
fi
pristine=$(cd "$pristine" && pwd)
case $out in /*) ;; *) out=$PWD/$out ;; esac
# Scratch space next to the output, so that runs into other directories
# (the tests) do not share it.
work=${out%/}-work
bisect=$top/build/series-bisect

# ------------------------------------------------------------- author --

author=${AUTHOR:-}
if [ -z "$author" ]; then
	name=$(git -C "$root" config user.name 2>/dev/null || true)
	mail=$(git -C "$root" config user.email 2>/dev/null || true)
	[ -z "$name" ] || [ -z "$mail" ] || author="$name <$mail>"
fi
if [ -z "$author" ]; then
	[ $placeholder_ok = 1 ] ||
		die "no author for the series: set AUTHOR=\"Name <mail>\" (make series AUTHOR=...), or git config user.name and user.email"
	author=$placeholder
fi
if ! [[ $author =~ ^[^\<\>@]+\ \<[^\<\>\ ]+@[^\<\>\ ]+\>$ ]]; then
	die "AUTHOR must look like \"Name <mail@example.org>\", not \"$author\""
fi

# ----------------------------------------------------------- manifest --

series=()
while read -r p; do
	case $p in '' | '#'*) continue ;; esac
	[ -f "$root/patches/$p" ] || die "patches/series names $p, which is missing"
	series+=("$p")
done <"$root/patches/series"
[ ${#series[@]} -gt 0 ] || die "patches/series is empty"

declare -A file_patch=() patch_files=()
manifest=$root/patches/new-files
[ -f "$manifest" ] || die "no patches/new-files"
while read -r p files; do
	case $p in '' | '#'*) continue ;; esac
	if [ "$p" != - ]; then
		case " ${series[*]} " in
		*" $p "*) ;;
		*) die "patches/new-files: $p is not in patches/series" ;;
		esac
	fi
	for f in $files; do
		[ -f "$root/$f" ] || die "patches/new-files: $f (in $p) does not exist"
		[ -z "${file_patch[$f]:-}" ] ||
			die "patches/new-files: $f is in ${file_patch[$f]} and in $p"
		file_patch[$f]=$p
		patch_files[$p]="${patch_files[$p]:-} $f"
	done
done <"$manifest"
while read -r f; do
	[ -n "${file_patch[$f]:-}" ] ||
		die "$f is in no patch: add it to patches/new-files"
	[ ! -e "$pristine/$f" ] ||
		die "$f exists in $pristine: change it with a patch instead"
done < <(cd "$root" && find mm include drivers kernel arch Documentation -type f 2>/dev/null | LC_ALL=C sort)

# ------------------------------------------------------- the git work --

# A small repository with the pristine versions of the files the series
# changes, the series committed on top (git am, then the new files of each
# patch added to its commit), and format-patch run on it: the blob hashes
# are those of the kernel's files, so the patches apply to any tree with
# these files.
repo=$work/repo
rm -rf "$work"
mkdir -p "$repo" "$work/patches"
touched=$(sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "${series[@]/#/$root/patches/}" | LC_ALL=C sort -u)
for f in $touched; do
	[ -f "$pristine/$f" ] ||
		die "a patch adds $f: a new file goes into patches/new-files instead"
	mkdir -p "$repo/$(dirname "$f")"
	cp "$pristine/$f" "$repo/$f"
done

# The author's name and mail, for git.
a_name=${author% <*}
a_mail=${author##*<}
a_mail=${a_mail%>}
g() {
	GIT_AUTHOR_NAME=$a_name GIT_AUTHOR_EMAIL=$a_mail \
		GIT_COMMITTER_NAME=$a_name GIT_COMMITTER_EMAIL=$a_mail \
		GIT_CONFIG_NOSYSTEM=1 HOME=$work git -C "$repo" -c core.autocrlf=false "$@"
}
g init -q -b series
g add -A
GIT_AUTHOR_DATE="@0 +0000" GIT_COMMITTER_DATE="@0 +0000" g commit -q -m "pristine files the series changes"
g tag pristine

# replace TEXT: stdin with every placeholder replaced by the author.
replace() {
	awk -v from="$placeholder" -v to="$author" '{
		out = ""
		while ((i = index($0, from)) > 0) {
			out = out substr($0, 1, i - 1) to
			$0 = substr($0, i + length(from))
		}
		print out $0
	}'
}

n=0
for p in "${series[@]}"; do
	n=$((n + 1))
	replace <"$root/patches/$p" >"$work/patches/$p"
	if ! g am -q --committer-date-is-author-date "$work/patches/$p" >"$work/am.log" 2>&1; then
		cat "$work/am.log" >&2
		die "patch $n, $p, does not apply to the pristine files"
	fi
	if [ -n "${patch_files[$p]:-}" ]; then
		for f in ${patch_files[$p]}; do
			mkdir -p "$repo/$(dirname "$f")"
			cp "$root/$f" "$repo/$f"
			g add "$f"
		done
		g commit -q --amend --no-edit --allow-empty
	fi
	# What this patch adds to a Makefile's obj- lists must exist now.
	while read -r mk objs; do
		for o in $objs; do
			case $o in
			*/) [ -d "$repo/$(dirname "$mk")/$o" ] || [ -d "$pristine/$(dirname "$mk")/$o" ] ||
				die "patch $n, $p, adds $o to $mk, which does not exist yet" ;;
			*.o)
				src=$(dirname "$mk")/${o%.o}
				[ -f "$repo/$src.c" ] || [ -f "$repo/$src.S" ] ||
					[ -f "$pristine/$src.c" ] || [ -f "$pristine/$src.S" ] ||
					die "patch $n, $p, adds $o to $mk, but $src.c is not in the series by then (patches/new-files)" ;;
			esac
		done
	done < <(g show --format= -U0 HEAD -- '*Makefile' '*Kbuild' |
		awk '/^\+\+\+ b\// { mk = substr($0, 7); next }
			/^\+[ \t]*obj-[^ \t]*[ \t]*[:+]?=/ {
				sub(/^\+[ \t]*obj-[^=]*=[ \t]*/, ""); print mk, $0 }')
done
say "${#series[@]} patches apply in order to $pristine; every new file is in the patch that builds it"

# format-patch, then the cover letter filled in.
rm -rf "$out"
mkdir -p "$out"
last_date=$(g log -1 --format=%aD)
GIT_AUTHOR_DATE=$last_date GIT_COMMITTER_DATE=$last_date \
	g format-patch -q --zero-commit --no-signature --cover-letter -o "$out" pristine..HEAD
cover=$out/0000-cover-letter.patch
letter=$root/patches/cover-letter.txt
[ -f "$letter" ] || die "no patches/cover-letter.txt"
version=$(sed -n 's/^VERSION = //p; s/^PATCHLEVEL = //p; s/^SUBLEVEL = //p' "$pristine/Makefile" | paste -sd.)
subject=$(head -n 1 "$letter")
[ -n "$subject" ] || die "patches/cover-letter.txt: the first line is the subject"
tail -n +2 "$letter" | sed '1{/^$/d}' | replace |
	sed "s/@KERNEL_VERSION@/$version/g; s/@NR_PATCHES@/${#series[@]}/g" >"$work/blurb"
awk -v subject="$subject" -v blurb="$work/blurb" '
	/\*\*\* SUBJECT HERE \*\*\*/ { sub(/\*\*\* SUBJECT HERE \*\*\*/, subject) }
	/^\*\*\* BLURB HERE \*\*\*$/ {
		while ((getline line < blurb) > 0) print line
		next
	}
	{ print }' "$cover" >"$cover.new"
mv "$cover.new" "$cover"
if grep -qF "$placeholder" "$out"/*.patch && [ "$author" != "$placeholder" ]; then
	die "the placeholder author is left in $(grep -lF "$placeholder" "$out"/*.patch | head -n 1)"
fi
say "wrote $out: $(find "$out" -name '*.patch' | wc -l) files ($(basename "$cover") and ${#series[@]} patches) by $author"

# ------------------------------------------------------------ bisect --

if [ $build = 1 ]; then
	read -r -a frags <<<"${SERIES_CONFIGS:-$top/configs/hvcarve-test.config $top/configs/hvcarve-hyperv.config}"
	tree=$bisect/linux kout=$bisect/kbuild
	mkdir -p "$bisect"
	if [ "$(cat "$tree/.hvcarve-pristine" 2>/dev/null)" != "$pristine" ]; then
		say "making $tree, a hard-link copy of $pristine"
		rm -rf "$tree" "$kout"
		cp -al "$pristine" "$tree.tmp"
		echo "$pristine" >"$tree.tmp/.hvcarve-pristine"
		mv "$tree.tmp" "$tree"
	fi
	# Back to pristine: the files the last run patched or added. A copy,
	# touched, so that make rebuilds what was built from the patched one.
	touch "$tree/.hvcarve-touched"
	while read -r f; do
		[ -n "$f" ] || continue
		if [ -f "$pristine/$f" ]; then
			cp --remove-destination "$pristine/$f" "$tree/$f.hvtmp"
			mv "$tree/$f.hvtmp" "$tree/$f"
			touch "$tree/$f"
		else
			rm -f "$tree/$f"
		fi
	done < <(sort -u "$tree/.hvcarve-touched")
	: >"$tree/.hvcarve-touched"

	cc=gcc
	command -v ccache >/dev/null && cc="ccache gcc"
	kmake=(make -C "$tree" O="$kout" CC="$cc" HOSTCC=gcc -j"$(nproc)")
	# The base directory holds the tree and the output directory, as build/
	# holds build/linux and build/kbuild: the same relative paths.
	export CCACHE_DIR=${CCACHE_DIR:-$top/build/ccache} CCACHE_BASEDIR=$bisect
	export KBUILD_BUILD_USER=hvcarve KBUILD_BUILD_HOST=hvcarve
	mkdir -p "$kout"
	config_desc="tinyconfig + ${frags[*]##*/}"
	say "building every step: bzImage with $config_desc, in $kout"
	n=0 total=${#series[@]}
	for p in "$out"/[0-9][0-9][0-9][0-9]-*.patch; do
		case $p in */0000-cover-letter.patch) continue ;; esac
		n=$((n + 1))
		step=$(printf '%02d/%02d' "$n" "$total")
		name=${p##*/}
		log=$bisect/step-$(printf '%02d' "$n").log
		sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$p" >>"$tree/.hvcarve-touched"
		patch -d "$tree" -p1 -s -F0 --no-backup-if-mismatch <"$p" >"$log" 2>&1 ||
			{ cat "$log" >&2; die "patch $step, $name, does not apply to the tree of the patches before it"; }
		start=$(date +%s)
		# Configure on the first step and whenever a patch changes Kconfig.
		if [ $n = 1 ] || grep -q '^+++ b/.*Kconfig' "$p"; then
			{
				"${kmake[@]}" -s tinyconfig &&
					"$tree/scripts/kconfig/merge_config.sh" -m -O "$kout" "$kout/.config" "${frags[@]}" &&
					"${kmake[@]}" -s olddefconfig
			} >>"$log" 2>&1 || { tail -n 30 "$log" >&2; die "patch $step, $name: configuring failed"; }
		fi
		if ! "${kmake[@]}" bzImage >>"$log" 2>&1; then
			grep -E 'error|Error' "$log" | head -n 20 >&2
			die "patch $step, $name, does not build (bzImage, $config_desc); log: $log"
		fi
		opts=$(grep -oE '^CONFIG_(HVCARVE[A-Z_]*|MSHV_ROOT)=y' "$kout/.config" | sed 's/=y$//; s/^CONFIG_//' | paste -sd, || true)
		say "$step $name: applies, builds ($(($(date +%s) - start)) s; on: ${opts:-no hvcarve option yet})"
	done
	say "every step builds (bzImage, $config_desc)"
fi

# -------------------------------------------------------- checkpatch --

if ! SERIES_DIR=$out KTREE=$pristine STYLE_ROOT=$root "$top/scripts/check-style.sh" checkpatch-series; then
	die "checkpatch.pl --strict: the patches named above have findings patches/checkpatch-justified.txt does not justify"
fi
say "checkpatch.pl --strict: every patch clean (justified findings aside)"
