#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the bats suites and finish with one summary line
# ("N passed, N failed, N skipped"). Exit status is bats' own.
#
#   run-tests.sh [BATS ARGS...] [FILES OR DIRS...]
set -uo pipefail

log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
bats --formatter tap --timing "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
passed=$(grep -cE '^ok [0-9]+ ' "$log" | tr -d ' ')
skipped=$(grep -cE '^ok [0-9]+ .*# skip' "$log" | tr -d ' ')
failed=$(grep -cE '^not ok [0-9]+ ' "$log" | tr -d ' ')
passed=$((passed - skipped))
echo "# suite time: $(( $(date +%s) - start )) s"
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$rc" -eq 0 ] && [ "$failed" -gt 0 ]; then
	rc=1
fi
exit "$rc"
