#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Download Debian packages from a suite the machine is not configured for,
# without touching the machine's apt configuration.
#
# The archive URI is copied at run time from the machine's own Debian source
# entry (deb822 or one-line format); no host name is written in this repo.
#
# Usage: debian-fetch.sh [--source] STATE_DIR SUITE OUT_DIR PACKAGE...
#        debian-fetch.sh --uri
#   --source   fetch the source packages (.dsc and its files) instead of
#              .debs; unpack them with dpkg-source -x
#   STATE_DIR  private apt state/cache/lists directory (created)
#   SUITE      e.g. trixie-backports or bookworm
#   OUT_DIR    where the .deb (or source) files are left
set -euo pipefail

die() { echo "debian-fetch: $*" >&2; exit 1; }

# The first Debian main-archive URI the machine uses (not -security).
debian_uri() {
	local f uri=""
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		uri=$(awk '
			/^URIs:/ { for (i = 2; i <= NF; i++) u[n++] = $i }
			END { for (i = 0; i < n; i++) if (u[i] ~ /\/debian\/?$/) { print u[i]; exit } }
		' "$f")
		[ -n "$uri" ] && break
	done
	if [ -z "$uri" ]; then
		uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\/.*\/debian\/?$/) { print $i; exit } }')
	fi
	[ -n "$uri" ] || die "no Debian archive URI found in /etc/apt/sources.list{,.d}"
	echo "${uri%/}"
}

# --uri: print the archive URI the machine uses, and nothing else (for
# scripts that hand it to another tool, such as mmdebstrap).
if [ "${1:-}" = "--uri" ]; then
	debian_uri
	exit 0
fi

source_mode=0
if [ "${1:-}" = "--source" ]; then
	source_mode=1
	shift
fi

[ $# -ge 4 ] || die "usage: $0 [--source] STATE_DIR SUITE OUT_DIR PACKAGE..."
state=$1 suite=$2 out=$3
shift 3
mkdir -p "$state" "$out"
state=$(cd "$state" && pwd) out=$(cd "$out" && pwd)

uri=$(debian_uri)
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/etc/none"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || die "$keyring missing (install debian-archive-keyring)"
kind=deb
[ $source_mode = 1 ] && kind=deb-src
srcline="$kind [signed-by=$keyring] $uri $suite main"
# A state directory switched to another suite or kind needs a new index.
if [ "$(cat "$state/etc/sources.list" 2>/dev/null)" != "$srcline" ]; then
	rm -f "$state/updated"
fi
printf '%s\n' "$srcline" >"$state/etc/sources.list"
: >"$state/status"

apt_opts=(
	-o "Dir::State=$state"
	-o "Dir::State::Lists=$state/lists"
	-o "Dir::State::status=$state/status"
	-o "Dir::Cache=$state/cache"
	-o "Dir::Etc::SourceList=$state/etc/sources.list"
	-o "Dir::Etc::SourceParts=$state/etc/none"
	-o "APT::Get::List-Cleanup=0"
	-o "Debug::NoLocking=1"
	-o "APT::Sandbox::User=root"
)

# Refresh the index at most once a day.
stamp=$state/updated
if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +1440)" ]; then
	echo "debian-fetch: updating package index for $suite" >&2
	apt-get "${apt_opts[@]}" -q update >&2
	touch "$stamp"
fi

cd "$out"
for pkg in "$@"; do
	if [ $source_mode = 1 ]; then
		echo "debian-fetch: downloading source package $pkg from $suite" >&2
		apt-get "${apt_opts[@]}" -q source --download-only "$pkg" >&2
	else
		echo "debian-fetch: downloading $pkg from $suite" >&2
		apt-get "${apt_opts[@]}" -q download "$pkg" >&2
	fi
done
