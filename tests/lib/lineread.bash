# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# read_line FD BUFFER-VAR TIMEOUT: read one complete line from FD into
# LINE, waiting up to TIMEOUT seconds for its first new character. A line
# not complete yet stays in the variable named BUFFER-VAR for the next
# call, and the call fails. It never blocks for long: the descriptors it
# reads are FIFOs opened read-write, which never reach end of file.
#
# Why not `read -t TIMEOUT` of a whole line: bash 5.2's read builtin checks
# its timer once more after the loop that ends at the delimiter
# (builtins/read.def, the check_read_timeout() after input_string[i] =
# '\0'). When the timer expires between that read of the newline and that
# check, read returns as timed out with the line but without its newline,
# and the next line is glued onto it: two protocol lines become one, and
# the second is lost (tests/bats/harness.bats, "control channel" test).
# With -N 1, read stores each character before any timer check, so a
# timeout loses none. Only the wait for the first character is long; the
# rest of the line is read only while `read -t 0` says input is there, and
# with a short timeout of its own, because `read -N 1` skips a NUL byte
# without counting it and would wait for the byte after it.
#
# In the C locale every byte is a character: in a UTF-8 one, bash would
# take an invalid byte and the newline after it for one character.
# shellcheck disable=SC2034 # LINE is for the caller
read_line() {
	local -n read_line__buf=$2
	local c rc LC_ALL=C
	IFS= read -r -N 1 -t "$3" -u "$1" c
	rc=$?
	while :; do
		# 1-128: end of file or an error; >128: timed out, with or
		# without a character.
		[ "$rc" -eq 0 ] || [ "$rc" -gt 128 ] || return 1
		if [ "$c" = $'\n' ]; then
			LINE=$read_line__buf
			read_line__buf=''
			return 0
		fi
		read_line__buf+=$c
		read -t 0 -u "$1" || return 1
		IFS= read -r -N 1 -t 0.05 -u "$1" c
		rc=$?
	done
}
