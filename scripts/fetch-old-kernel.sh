#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetch the "old kernel" of the kexec chain tests: the image package that
# Debian bookworm's linux-image-amd64 depends on (6.1.x). The .deb is only
# unpacked, never installed. scripts/fetch-kernels.sh does the work (it
# fetches the other stock kernels too).
#
# Usage: fetch-old-kernel.sh OUTDIR
#   Leaves OUTDIR/vmlinuz (bzImage), OUTDIR/version (uname -r of that
#   kernel), OUTDIR/config, OUTDIR/System.map and OUTDIR/package; the .debs
#   stay in OUTDIR/debs. Does nothing if OUTDIR/vmlinuz and OUTDIR/version
#   exist. The apt state dir is build/apt-bookworm (or $HVT_APT_STATE).
set -euo pipefail

[ $# -eq 1 ] || { echo "fetch-old-kernel: usage: $0 OUTDIR" >&2; exit 1; }
exec "$(dirname "$0")/fetch-kernels.sh" 6.1 "$1"
