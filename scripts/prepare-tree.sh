#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Make the patched kernel tree that kbuild compiles.
#
#   prepare-tree.sh PRISTINE PATCHED [SERIES]
#
# PRISTINE is an untouched Linux tree (Debian's linux-source-7.3, or KSRC=).
# PATCHED is recreated as a hard-link copy of PRISTINE with patches/series
# applied -- but only when the patches (or PRISTINE) changed since the last
# run. SERIES replaces patches/series: a file of the same form, its names
# relative to patches/ (scripts/backport-series.sh writes one for a
# backport).  The project's new files (mm/hvcarve.c, ...) are symlinked into
# PATCHED on every run, so editing them and re-running make rebuilds only
# what kbuild says is stale.
set -euo pipefail

die() { echo "prepare-tree: $*" >&2; exit 1; }

[ $# -eq 2 ] || [ $# -eq 3 ] || die "usage: $0 PRISTINE PATCHED [SERIES]"
top=$(cd "$(dirname "$0")/.." && pwd)
pristine=$(cd "$1" && pwd)
patched=$2
series=${3:-$top/patches/series}
[ -f "$series" ] || die "$series: no such series file"
if [ ! -f "$pristine/Makefile" ] || [ ! -d "$pristine/mm" ]; then
	die "$pristine is not a kernel tree"
fi

# Directories of the repo that hold files at kernel paths.
kdirs=(mm include drivers kernel arch Documentation)

stamp_of() {
	{
		echo "$pristine"
		cat "$series"
		while read -r p; do
			case "$p" in ''|'#'*) continue ;; esac
			cat "$top/patches/$p"
		done <"$series"
	} | sha256sum | cut -d' ' -f1
}

want=$(stamp_of)
have=$(cat "$patched/.hvcarve-patches" 2>/dev/null || true)

if [ "$want" != "$have" ]; then
	echo "prepare-tree: applying patches/ to a fresh copy of $pristine" >&2
	# Files the previous series touched must look new to make, even if the
	# new series leaves them pristine again.
	old_touched=$(cat "$patched/.hvcarve-touched" 2>/dev/null || true)
	rm -rf "$patched.tmp"
	cp -al "$pristine" "$patched.tmp"
	touched=""
	while read -r p; do
		case "$p" in ''|'#'*) continue ;; esac
		# patch(1) writes a new file, breaking the hard link to PRISTINE.
		patch -d "$patched.tmp" -p1 --no-backup-if-mismatch -s -F0 \
			<"$top/patches/$p" || die "patches/$p does not apply to $pristine"
		touched+=$(sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$top/patches/$p")$'\n'
	done <"$series"
	# shellcheck disable=SC2086 # file lists, one path per word
	for f in $old_touched $touched; do
		[ -f "$patched.tmp/$f" ] || continue
		# Replace the hard link by a copy before touching: touching a
		# hard link would change PRISTINE's mtime too.
		cp --remove-destination "$patched.tmp/$f" "$patched.tmp/$f.hvtmp"
		mv "$patched.tmp/$f.hvtmp" "$patched.tmp/$f"
		touch "$patched.tmp/$f"
	done
	printf '%s' "$touched" >"$patched.tmp/.hvcarve-touched"
	echo "$want" >"$patched.tmp/.hvcarve-patches"
	rm -rf "$patched"
	mv "$patched.tmp" "$patched"
fi

# Symlink the project's own kernel files into the tree.
for d in "${kdirs[@]}"; do
	[ -d "$top/$d" ] || continue
	(cd "$top" && find "$d" -type f) | while read -r f; do
		if [ -e "$pristine/$f" ]; then
			die "$f exists in the kernel tree: change it with a patch instead"
		fi
		mkdir -p "$patched/$(dirname "$f")"
		ln -sfn "$top/$f" "$patched/$f"
	done
done

# Links to project files that no longer exist.
find "$patched" -xtype l -lname "$top/*" -delete
