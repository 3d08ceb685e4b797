#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Print the series of a backport: patches/series (the 7.3 series) with the
# rules of patches/VERSION/series applied (replace, after, drop; see that
# file). One patch per line, relative to patches/, the form
# scripts/prepare-tree.sh takes as its SERIES argument.
#
#   backport-series.sh [--without FILE]... VERSION
#
# --without FILE leaves out FILE, a patch of patches/VERSION/ that an
# "after" rule adds (for a build without that one change); naming a
# patch the series does not add is an error.
set -euo pipefail

die() { echo "backport-series: $*" >&2; exit 1; }

top=$(cd "$(dirname "$0")/.." && pwd)
without=()
while [ $# -gt 0 ]; do
	case $1 in
	--without)
		[ $# -ge 2 ] || die "--without needs a FILE"
		without+=("$2")
		shift 2
		;;
	-*) die "unknown option $1" ;;
	*) break ;;
	esac
done
[ $# -eq 1 ] || die "usage: $0 [--without FILE]... VERSION"
ver=$1
rules=$top/patches/$ver/series
[ -f "$rules" ] || die "$rules: no such file"

# 7.3 patches, one per line.
base=$(grep -v -e '^#' -e '^[[:space:]]*$' "$top/patches/series")

awk -v dir="$ver" -v patches="$top/patches" -v without="${without[*]:-}" -v rulesfile="$rules" '
	function name_of(p) {
		sub(/^[0-9]+-/, "", p)
		sub(/\.patch$/, "", p)
		return p
	}
	BEGIN {
		n = split(without, w, " ")
		for (i = 1; i <= n; i++)
			skip[w[i]] = 1
		while ((getline line < rulesfile) > 0) {
			nr++
			if (line ~ /^[[:space:]]*(#|$)/)
				continue
			split(line, f, /[[:space:]]+/)
			op = f[1]; name = f[2]; file = f[3]
			if (op !~ /^(replace|after|drop)$/ || name == "" || file == "") {
				printf "backport-series: %s:%d: bad rule: %s\n", rulesfile, nr, line > "/dev/stderr"
				bad = 1
				continue
			}
			if (op == "replace") {
				if (name in repl) {
					printf "backport-series: %s:%d: %s replaced twice\n", rulesfile, nr, name > "/dev/stderr"
					bad = 1
				}
				repl[name] = file
			} else if (op == "drop") {
				drop[name] = 1
			} else {
				add[name] = add[name] " " file
			}
			path = patches "/" dir "/" file
			if (op != "drop" && (getline t < path) < 0) {
				printf "backport-series: %s:%d: %s/%s: no such patch\n", rulesfile, nr, dir, file > "/dev/stderr"
				bad = 1
			}
			close(path)
			if (op == "replace" && name in drop || op == "drop" && name in repl) {
				printf "backport-series: %s:%d: %s both replaced and dropped\n", rulesfile, nr, name > "/dev/stderr"
				bad = 1
			}
			named[name] = nr
		}
	}
	{
		nm = name_of($0)
		seen[nm] = 1
		if (nm in drop) {
			# dropped
		} else if (nm in repl) {
			print dir "/" repl[nm]
		} else {
			print $0
		}
		k = split(add[nm], a, " ")
		for (i = 1; i <= k; i++) {
			if (a[i] in skip) {
				used[a[i]] = 1
				continue
			}
			print dir "/" a[i]
		}
	}
	END {
		for (nm in named)
			if (!(nm in seen)) {
				printf "backport-series: %s:%d: %s is not in patches/series\n", rulesfile, named[nm], nm > "/dev/stderr"
				bad = 1
			}
		for (s in skip)
			if (!(s in used)) {
				printf "backport-series: --without %s: no rule of %s adds it\n", s, rulesfile > "/dev/stderr"
				bad = 1
			}
		exit bad
	}' <<<"$base"
