#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# hvcarve's style gate. Prints each problem as FILE:LINE: message and exits
# non-zero if there is any.
#
#   check-style.sh [--kernel-only | --shell-only] [GATE...]
#
# Gates (all by default):
#   * checkpatch-files    checkpatch.pl --strict --no-tree -f on every
#                         project kernel C/H file (mm include drivers kernel
#                         arch)
#   * checkpatch-patches  checkpatch.pl --strict on every patches/*.patch
#   * checkpatch-series   (only when named) checkpatch.pl --strict on every
#                         patch of the generated series (SERIES_DIR, see
#                         scripts/make-series.sh), the cover letter aside
#   * kernel-doc          kernel-doc -none -Wall on those C/H files, and
#                         every non-static function of a .c file documented
#   * sparse              the kernel build's C=2 sparse run, with W=1, on the object of
#                         every project .c file built in the configuration;
#                         any warning or error in a project file fails
#   * shellcheck          scripts/*.sh, .ci/run, tests/guest/*, tests/lib/*.sh and *.bash,
#                         tests/bats/*.bash and tests/host/ (agent, scenario,
#                         image/) (.bats files are not shell)
#   * no-python           no project file is Python or runs it (outside
#                         patches/ and the documentation): no *.py file, no
#                         python #! line, no command word python, python3 ...
#                         on a line that is not a comment, unless the line
#                         says "python-gate: allowed" and why. The kernel
#                         tree's own scripts are not project files; 7.3's
#                         kernel-doc is Python, and the kernel-doc gate runs
#                         it as /usr/bin/python3, bypassing PATH.
# --kernel-only runs the first four, --shell-only the last two.
#
# Environment:
#   KTREE        patched kernel tree (default build/linux)
#   KOUT         its configured and built output directory (build/kbuild)
#   SERIES_DIR   the generated series for checkpatch-series (build/series)
#   KBUILD_LOCK  lock file held around make in KOUT (build/.kernel.lock), so
#                that the gate and a concurrent "make kernel" or compile
#                check take turns
#   SPARSE       sparse binary (default: build/tools/sparse/bin/sparse,
#                built by scripts/fetch-sparse.sh when missing)
#   STYLE_ROOT   check the project files under this directory instead of
#                the repository (the tests use it for copies with injected
#                problems). For the sparse gate the .c files under it are
#                then compiled as an external tree (make M=STYLE_ROOT; an
#                empty Kbuild is created in each of their directories that
#                lacks one) against KOUT; a file counts as built if the
#                repository's file of the same name is.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "${STYLE_ROOT:-$top}" && pwd)
ktree=${KTREE:-$top/build/linux}
kout=${KOUT:-$top/build/kbuild}
series_dir=${SERIES_DIR:-$top/build/series}
kbuild_lock=${KBUILD_LOCK:-$top/build/.kernel.lock}
sparse=${SPARSE:-$top/build/tools/sparse/bin/sparse}
# Relative paths are taken from where the script was started.
case $ktree in /*) ;; *) ktree=$PWD/$ktree ;; esac
case $kout in /*) ;; *) kout=$PWD/$kout ;; esac
case $series_dir in /*) ;; *) series_dir=$PWD/$series_dir ;; esac
case $sparse in /*) ;; *) sparse=$PWD/$sparse ;; esac

all_gates="checkpatch-files checkpatch-patches kernel-doc sparse shellcheck no-python"
kernel_gates="checkpatch-files checkpatch-patches kernel-doc sparse"
# Gates that run only when named.
extra_gates="checkpatch-series"

usage() {
	echo "usage: $0 [--kernel-only | --shell-only] [GATE...]" >&2
	echo "gates: $all_gates (by default); $extra_gates (when named)" >&2
	exit 2
}

gates=""
for arg in "$@"; do
	case $arg in
	--kernel-only) gates="$gates $kernel_gates" ;;
	--shell-only) gates="$gates shellcheck no-python" ;;
	-h | --help) usage ;;
	-*) usage ;;
	*)
		case " $all_gates $extra_gates " in
		*" $arg "*) gates="$gates $arg" ;;
		*) echo "check-style: unknown gate '$arg'" >&2; usage ;;
		esac ;;
	esac
done
[ -n "$gates" ] || gates=$all_gates

cd "$root" || exit 2

failed=""
fail() { # GATE: record a failed gate
	case " $failed " in
	*" $1 "*) ;;
	*) failed="$failed $1" ;;
	esac
}

need_tree() { # GATE
	if [ ! -f "$ktree/scripts/checkpatch.pl" ]; then
		echo "check-style: $1: no kernel tree at $ktree (run 'make tree' or set KTREE)" >&2
		fail "$1"
		return 1
	fi
}

# Project kernel sources and headers, relative to $root.
kfiles=()
while IFS= read -r f; do
	kfiles+=("$f")
done < <(find mm include drivers kernel arch -name '*.[ch]' -type f 2>/dev/null | LC_ALL=C sort)

# checkpatch.pl findings that stay, each with its reason: lines
# GLOB|MESSAGE|WHY of patches/checkpatch-justified.txt. GLOB matches a
# patch's file name (for checkpatch-patches), "series/" and the file name
# of a generated patch (for checkpatch-series) or a source file's path
# (for checkpatch-files); MESSAGE is exactly the finding after "FILE:LINE: ".
justified=patches/checkpatch-justified.txt
justified_used=""
tmpfile=$(mktemp)
trap 'rm -f "$tmpfile"' EXIT

# justify NAME: copy checkpatch's terse output on stdin to stdout, without
# the findings $justified allows for NAME.
justify() {
	local name=$1 line glob msg why
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		while IFS='|' read -r glob msg why; do
			case $glob in '' | '#'*) continue ;; esac
			# shellcheck disable=SC2254 # glob is a pattern
			case $name in $glob) ;; *) continue ;; esac
			# The finding without its "FILE:LINE: ".
			if [ "${line#"${line%%:[0-9]*: *}":[0-9]*: }" = "$msg" ] && [ -n "$why" ]; then
				justified_used+="$glob|$msg"$'\n'
				continue 2
			fi
		done <"$justified"
		printf '%s\n' "$line"
	done
}

# stale_justifications GATE KIND: fail GATE for every entry of KIND
# ("series": GLOB starts with series/, for the generated series; "patch":
# another GLOB that ends in .patch, for patches/; "file": any other) no
# finding used.
stale_justifications() {
	local gate=$1 kind=$2 glob msg why
	while IFS='|' read -r glob msg why; do
		case $glob in '' | '#'*) continue ;; esac
		case $glob in
		series/*) [ "$kind" = series ] || continue ;;
		*.patch) [ "$kind" = patch ] || continue ;;
		*) [ "$kind" = file ] || continue ;;
		esac
		if ! grep -qxF "$glob|$msg" <<<"$justified_used"; then
			echo "$justified: no longer found: $glob|$msg"
			fail "$gate"
		fi
	done <"$justified"
}

gate_checkpatch_files() {
	need_tree checkpatch-files || return
	local f out rc
	for f in "${kfiles[@]}"; do
		rc=0
		out=$("$ktree/scripts/checkpatch.pl" --strict --no-tree --terse --showfile \
			--no-summary -f "$f" 2>&1) || rc=$?
		if [ $rc -ne 0 ] && [ -z "$out" ]; then
			out="$f: checkpatch.pl failed"
		fi
		# Not in a subshell: justify records what it used.
		justify "$f" <<<"$out" >"$tmpfile"
		if [ -s "$tmpfile" ]; then
			cat "$tmpfile"
			fail checkpatch-files
		fi
	done
	stale_justifications checkpatch-files file
}

gate_checkpatch_patches() {
	need_tree checkpatch-patches || return
	local p out rc n=0
	for p in patches/*.patch; do
		[ -f "$p" ] || continue
		n=$((n + 1))
		# An absolute path: checkpatch.pl treats a relative name that git
		# tracks as a source file (-f), not as a patch.
		rc=0
		out=$("$ktree/scripts/checkpatch.pl" --strict --no-tree --terse \
			--no-summary "$root/$p" 2>&1) || rc=$?
		out=${out//"$root/"/}
		if [ $rc -ne 0 ] && [ -z "$out" ]; then
			out="$p: checkpatch.pl failed"
		fi
		justify "${p##*/}" <<<"$out" >"$tmpfile"
		if [ -s "$tmpfile" ]; then
			cat "$tmpfile"
			fail checkpatch-patches
		fi
	done
	if [ $n = 0 ]; then
		echo "patches: no *.patch files"
		fail checkpatch-patches
	fi
	stale_justifications checkpatch-patches patch
}

# The generated series (scripts/make-series.sh): every patch but the cover
# letter, findings shown as series/NAME:LINE.
gate_checkpatch_series() {
	need_tree checkpatch-series || return
	local p name out rc n=0
	for p in "$series_dir"/*.patch; do
		[ -f "$p" ] || continue
		name=${p##*/}
		case $name in 0000-cover-letter.patch) continue ;; esac
		n=$((n + 1))
		rc=0
		out=$("$ktree/scripts/checkpatch.pl" --strict --no-tree --terse \
			--no-summary "$p" 2>&1) || rc=$?
		out=${out//"$series_dir/"/series/}
		if [ $rc -ne 0 ] && [ -z "$out" ]; then
			out="series/$name: checkpatch.pl failed"
		fi
		justify "series/$name" <<<"$out" >"$tmpfile"
		if [ -s "$tmpfile" ]; then
			cat "$tmpfile"
			fail checkpatch-series
		fi
	done
	if [ $n = 0 ]; then
		echo "series: no generated patches in $series_dir (run 'make series')"
		fail checkpatch-series
	fi
	stale_justifications checkpatch-series series
}

# "FILE NAME" for each function defined in a .c file without `static`: a
# line starting with `{` at column 0 whose signature (the lines before it,
# back to a blank line, `;`, `}`, a comment end or a directive) has a `(`.
nonstatic_functions() {
	perl -ne '
		if (/^\{/) {
			my $sig = join(" ", @sig);
			if ($sig =~ /\(/ && $sig !~ /(^|\s)static\s/ && $sig !~ /=/ &&
			    $sig =~ /(\w+)\s*\(/) {
				print "$ARGV $1\n";
			}
			@sig = ();
			next;
		}
		if (/^\s*$/ || /[;}]\s*$/ || m{\*/\s*$} || /^#/ || /^\s/ && !@sig) {
			@sig = ();
			next;
		}
		push @sig, $_ =~ s/\n//r;
	' "$@"
}

gate_kernel_doc() {
	need_tree kernel-doc || return
	[ ${#kfiles[@]} -gt 0 ] || return 0
	local out rc=0 cfiles=() documented f fn kdoc=("$ktree/scripts/kernel-doc") first=
	# 7.3's kernel-doc is a Python script: run it with the system's
	# interpreter by its full path, so that nothing else finds python in
	# PATH (the project itself runs no Python; see the no-python gate).
	IFS= read -r first <"${kdoc[0]}" || true
	case $first in
	"#!"*python*) # python-gate: allowed (recognises a Python kernel-doc)
		kdoc=(/usr/bin/python3 "${kdoc[0]}") # python-gate: allowed (the kernel tree's kernel-doc)
		if [ ! -x "${kdoc[0]}" ]; then
			echo "check-style: kernel-doc: ${kdoc[1]} is Python and ${kdoc[0]} is missing" >&2
			fail kernel-doc
			return
		fi ;;
	esac
	out=$("${kdoc[@]}" -none -Wall "${kfiles[@]}" 2>&1) || rc=$?
	if [ $rc -ne 0 ] || [ -n "$out" ]; then
		printf '%s\n' "${out:-kernel-doc failed}"
		fail kernel-doc
	fi
	for f in "${kfiles[@]}"; do
		case $f in *.c) cfiles+=("$f") ;; esac
	done
	[ ${#cfiles[@]} -gt 0 ] || return 0
	# Functions with a kernel-doc comment anywhere in the project files.
	documented=" $("${kdoc[@]}" -rst "${kfiles[@]}" 2>/dev/null |
		sed -n 's/^\.\. c:function:: [^(]*[ *]\([A-Za-z_][A-Za-z0-9_]*\) *(.*/\1/p' |
		tr '\n' ' ')"
	while read -r f fn; do
		case $documented in
		*" $fn "*) ;;
		*)
			echo "$f:$(grep -n -m1 "\\b$fn *(" "$f" | cut -d: -f1): warning: non-static function $fn() has no kernel-doc comment"
			fail kernel-doc ;;
		esac
	done < <(nonstatic_functions "${cfiles[@]}")
}

gate_sparse() {
	need_tree sparse || return
	if [ ! -f "$kout/.config" ]; then
		echo "check-style: sparse: $kout is not a configured kernel build (run 'make kernel' or set KOUT)" >&2
		fail sparse
		return
	fi
	if [ -z "${SPARSE:-}" ]; then
		KTREE=$ktree "$top/scripts/fetch-sparse.sh" "$(dirname "$(dirname "$sparse")")" ||
			{ fail sparse; return; }
	fi
	if [ "$(sh -eu "$ktree/scripts/checker-valid.sh" "$sparse" 2>/dev/null)" != 1 ]; then
		echo "check-style: sparse: $sparse is rejected by $ktree/scripts/checker-valid.sh" >&2
		fail sparse
		return
	fi

	local f o objs=() pats=() ext=() out make_out rc cc
	for f in "${kfiles[@]}"; do
		pats+=("$f")
		case $f in *.c) ;; *) continue ;; esac
		o=${f%.c}.o
		# Built in this configuration: kbuild left its command file.
		[ -f "$kout/$(dirname "$o")/.$(basename "$o").cmd" ] || continue
		objs+=("$o")
	done
	[ ${#objs[@]} -gt 0 ] || { echo "sparse: no project object is built in $kout/.config"; return 0; }
	if [ "$root" != "$top" ]; then
		# kbuild descends from M's top to each object's directory.
		local d parent
		for o in "${objs[@]}"; do
			d=$(dirname "$o")
			while :; do
				[ -f "$d/Kbuild" ] || [ -f "$d/Makefile" ] || : >"$d/Kbuild"
				[ "$d" = . ] && break
				parent=$(dirname "$d")
				grep -qxF "obj-y += ${d##*/}/" "$parent/Kbuild" 2>/dev/null ||
					echo "obj-y += ${d##*/}/" >>"$parent/Kbuild"
				d=$parent
			done
		done
		ext=(M="$root")
	fi

	cc=gcc
	command -v ccache >/dev/null && cc="ccache gcc"
	rc=0
	mkdir -p "$(dirname "$kbuild_lock")"
	out=$(CCACHE_DIR=${CCACHE_DIR:-$top/build/ccache} CCACHE_BASEDIR=$ktree \
		KBUILD_BUILD_USER=hvcarve KBUILD_BUILD_HOST=hvcarve \
		MAKEFLAGS='' MFLAGS='' \
		flock "$kbuild_lock" make -C "$kout" "${ext[@]}" V=0 C=2 W=1 CHECK="$sparse" CC="$cc" HOSTCC=gcc \
		"${objs[@]}" 2>&1) || rc=$?
	make_out=$out
	# kbuild silently stops checking when it rejects the checker: insist on
	# its CHECK line for every object.
	for o in "${objs[@]}"; do
		if ! printf '%s\n' "$out" | grep -xF "  CHECK   ${o%.o}.c" >/dev/null; then
			echo "${o%.o}.c: sparse did not run (kbuild printed no CHECK line for it)"
			fail sparse
		fi
	done
	if printf '%s\n' "$out" | grep 'is not available or not up to date' >/dev/null; then
		printf '%s\n' "$out" | grep 'is not available or not up to date'
		fail sparse
	fi
	# Messages (and their indented continuation lines) about project files.
	local re
	re=$(printf '%s\n' "${pats[@]}" | sed 's/[.]/\\./g' | paste -sd '|')
	out=$(printf '%s\n' "$out" | awk -v re="(^|/)($re):[0-9]+(:[0-9]+)?: " -v root="$root/" -v ktree="$ktree/" '
		$0 ~ re { keep = 1; sub("^" ktree, ""); sub("^" root, ""); print; next }
		keep && /^[ \t]/ { print; next }
		{ keep = 0 }')
	if [ -n "$out" ]; then
		printf '%s\n' "$out"
		fail sparse
	fi
	if [ $rc -ne 0 ]; then
		printf '%s\n' "$make_out" | tail -n 20 >&2
		echo "check-style: sparse: make ${objs[*]} failed (exit $rc)" >&2
		fail sparse
	fi
}

gate_shellcheck() {
	local files=() f
	for f in scripts/*.sh .ci/run tests/guest/* tests/lib/*.sh tests/lib/*.bash tests/bats/*.bash \
		tests/host/agent tests/host/scenario tests/host/image/hvt-boot \
		tests/host/image/hvt-provision; do
		[ -f "$f" ] && files+=("$f")
	done
	[ ${#files[@]} -gt 0 ] || return 0
	if ! shellcheck -f gcc "${files[@]}"; then
		fail shellcheck
	fi
}

gate_no_python() {
	local f n line
	# python, python3, python3.11 as a word (not vmrun.py or pyenv).
	local re='(^|[^A-Za-z0-9_.-])python[0-9.]*([^A-Za-z0-9_.-]|$)' # python-gate: allowed (the pattern)
	while IFS= read -r -d '' f; do
		f=${f#./}
		case $f in
		*.py)
			echo "$f:1: error: a Python file"
			fail no-python
			continue ;;
		esac
		# grep -I: binary files (the built tools) have no lines to show.
		while IFS=: read -r n line; do
			case $line in *"python-gate: allowed"*) continue ;; esac
			if [ "$n" = 1 ] && [[ $line == '#!'* ]]; then
				echo "$f:1: error: a Python script: $line"
			elif [[ $line =~ ^[[:space:]]*(#|//|/\*|\*) ]]; then
				continue
			else
				echo "$f:$n: error: runs Python: $line"
			fi
			fail no-python
		done < <(grep -nIE -- "$re" "$f")
	done < <(find . \( -path ./.git -o -path ./build -o -path ./patches -o -path ./Documentation \) -prune \
		-o -type f ! -name '*.md' ! -name '*.rst' -print0 | LC_ALL=C sort -z)
}

for g in $gates; do
	case $g in
	checkpatch-files) gate_checkpatch_files ;;
	checkpatch-patches) gate_checkpatch_patches ;;
	checkpatch-series) gate_checkpatch_series ;;
	kernel-doc) gate_kernel_doc ;;
	sparse) gate_sparse ;;
	shellcheck) gate_shellcheck ;;
	no-python) gate_no_python ;;
	esac
done

if [ -n "$failed" ]; then
	echo "check-style: FAILED:$failed" >&2
	exit 1
fi
echo "check-style: OK:$gates"
