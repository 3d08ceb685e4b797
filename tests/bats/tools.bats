#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# The host tools of tools/hvcarve: hvcarve-dump (decode, diff, held-kept,
# map, forge) on forged carveout dumps, checked against exact values and
# against an independent second implementation of the page format
# (tests/model/hvcsim-model.c, written in C from the format text of
# drivers/hv/hv_carve_sim.c, not from tools/hvcarve/hvcsim-format.h); and
# memhog, the guest's memory filler, run on the host with a small share.
# No VM, no kernel build.

bats_require_minimum_version 1.5.0

setup_file() {
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	# A private build from scratch of a copy of the sources: the log below
	# shows every compiler message, and the tools that other suites (maybe
	# running in parallel) use are not rebuilt under them.
	# hvcarve-parse includes the kernel's parser by its path in the tree:
	# the copy keeps that layout.
	local src=$BATS_FILE_TMPDIR/tree/tools/hvcarve
	mkdir -p "$src" "$BATS_FILE_TMPDIR/tree/include/linux"
	cp "$REPO"/tools/hvcarve/Makefile "$REPO"/tools/hvcarve/*.[ch] "$src"/
	cp "$REPO"/include/linux/hvcarve_parse.h "$BATS_FILE_TMPDIR/tree/include/linux/"
	ln -s tree/tools/hvcarve "$BATS_FILE_TMPDIR/hvcarve"
	make -C "$src" >"$BATS_FILE_TMPDIR/build.log" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/build.log" >&3
		return 1
	}
	cc -std=c11 -O2 -Wall -Wextra -Werror -Wshadow -Wconversion \
		-o "$BATS_FILE_TMPDIR/hvcsim-model" "$REPO/tests/model/hvcsim-model.c" \
		>"$BATS_FILE_TMPDIR/model.log" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/model.log" >&3
		return 1
	}
}

setup() {
	load '/usr/lib/bats/bats-support/load'
	load '/usr/lib/bats/bats-assert/load'
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	DUMP=$BATS_FILE_TMPDIR/hvcarve/hvcarve-dump
	MEMHOG=$BATS_FILE_TMPDIR/hvcarve/memhog
	MODEL=$BATS_FILE_TMPDIR/hvcsim-model
	BASE=0x3a000000
	cd "$BATS_TEST_TMPDIR" || return 1
}

# The checksum of the page for pfn 0x3a000, partition 1, serial 1.
KNOWN_CHECKSUM=c5a3168d27d2a017

# The model (tests/model/hvcsim-model.c), for cross-checking the encoder
# and decoder of hvcarve-dump:
#   $MODEL page OUT PAGES BASE [IDX:PARTITION:SERIAL]...   write a dump
#   $MODEL decode BASE DUMP        the counts, as hvcarve-dump decode

# The 64-page fixture with three partitions: 1 (10 pages), 2 (10), 7 (5).
forge3() {
	"$DUMP" forge --base "$BASE" --pages 64 "$1" --hold 0-9:1:1 \
		--hold 20-29:2:11 --hold 40-44:7:21 "${@:2}" >/dev/null
}

# Overwrite bytes of FILE at OFFSET with the bytes given as hex pairs.
poke() {
	local file=$1 off=$2 hex=$3 esc=
	while [ -n "$hex" ]; do
		esc+="\\x${hex:0:2}"
		hex=${hex:2}
	done
	# shellcheck disable=SC2059
	printf "$esc" | dd of="$file" bs=1 seek="$((off))" conv=notrunc status=none
}

# --- build and known-good vector -------------------------------------------

@test "build: hvcarve-dump and memhog compile with -Werror and no warnings" {
	run cat "$BATS_FILE_TMPDIR/build.log"
	assert_output --partial "-Wall -Wextra -Werror -Wshadow -Wconversion"
	refute_output --partial "warning"
	[ -x "$DUMP" ]
	[ -x "$MEMHOG" ]
	# memhog runs in a busybox guest: no program interpreter (static).
	run readelf -l "$MEMHOG"
	assert_success
	refute_output --partial "INTERP"
}

@test "forge: the known-good page (pfn 0x3a000, partition 1, serial 1) has checksum 0xc5a3168d27d2a017" {
	run "$DUMP" forge --base "$BASE" --pages 1 one.bin --hold 0:1:1
	assert_success
	assert_output "forged 1 pages: held 1, corrupted 0: one.bin"
	[ "$(stat -c %s one.bin)" -eq 4096 ]
	run od -A n -t x8 -N 48 one.bin
	assert_output "$(printf ' %s %s\n' 31304d4953435648 000000000003a000 \
		0000000000000001 0000000000000001 $KNOWN_CHECKSUM 4c544d4953435648)"
	# the first payload words
	run od -A n -t x8 -j 48 -N 16 one.bin
	assert_output " 9bcbc2c7b74e25b0 6eae4b75fb819fc1"
	run "$DUMP" decode --base "$BASE" one.bin --list
	assert_success
	assert_output "0x3a000 1 1"
}

@test "forge: byte-identical to the independent model of the format" {
	run "$MODEL" page m.bin 1 "$BASE" 0:1:1
	assert_success
	"$DUMP" forge --base "$BASE" --pages 1 c.bin --hold 0:1:1 >/dev/null
	cmp m.bin c.bin
	run od -A n -t x8 -j 32 -N 8 m.bin
	assert_output " $KNOWN_CHECKSUM"

	# More pages: free ones, partition 0, large ids and serials, a base
	# given in decimal.
	"$MODEL" page m.bin 6 0x100000 0:1:1 2:0:0 3:0xffffffffffffffff:0x8000000000000001 5:7:42
	"$DUMP" forge --base 1048576 --pages 6 c.bin --hold 0:1:1 --hold 2:0:0 \
		--hold 3:0xffffffffffffffff:0x8000000000000001 --hold 5:7:42 >/dev/null
	cmp m.bin c.bin
}

@test "decode: the model agrees on a dump with every kind of corruption" {
	forge3 c.bin --corrupt 2:torn --corrupt 21:checksum --corrupt 22:pfn \
		--corrupt 40:payload
	run "$MODEL" decode "$BASE" c.bin
	assert_success
	local expect=$output
	run -1 --separate-stderr "$DUMP" decode --base "$BASE" c.bin
	assert_output "$expect"
}

# --- decode ----------------------------------------------------------------

@test "decode: a dump of zeros is all free" {
	head -c $((64 * 4096)) /dev/zero >z.bin
	run -0 "$DUMP" decode --base "$BASE" z.bin
	assert_output "pages 64
held 0
free 64
corrupted 0
torn 0
bad_checksum 0
wrong_pfn 0
bad_payload 0
max_serial 0"
	run -0 "$DUMP" decode --base "$BASE" z.bin --list
	assert_output ""
}

@test "decode: three partitions, exact counts" {
	forge3 f.bin
	run -0 "$DUMP" decode --base "$BASE" f.bin
	assert_output "pages 64
held 25
free 39
partition 1 10
partition 2 10
partition 7 5
corrupted 0
torn 0
bad_checksum 0
wrong_pfn 0
bad_payload 0
max_serial 25"
}

@test "decode --json and --list" {
	forge3 f.bin
	run -0 "$DUMP" decode --base "$BASE" f.bin --json
	assert_output '{"base":973078528,"pages":64,"held":25,"free":39,"partitions":{"1":10,"2":10,"7":5},"corrupted":0,"torn":0,"bad_checksum":0,"wrong_pfn":0,"bad_payload":0,"max_serial":25}'
	run -0 "$DUMP" decode --base "$BASE" f.bin --list
	assert_equal "${#lines[@]}" 25
	assert_line --index 0 "0x3a000 1 1"
	assert_line --index 10 "0x3a014 2 11"
	assert_line --index 24 "0x3a02c 7 25"
}

# decode a forge3 fixture with one page corrupted as KIND, expect CLASS
decode_corrupt() {
	local idx=$1 kind=$2 class=$3 pfn=$4
	forge3 k.bin --corrupt "$idx:$kind"
	run -1 --separate-stderr "$DUMP" decode --base "$BASE" k.bin
	assert_line "held 24"
	assert_line "corrupted 1"
	assert_line "$class 1"
	local c
	for c in torn bad_checksum wrong_pfn bad_payload; do
		[ "$c" = "$class" ] || assert_line "$c 0"
	done
	[[ $stderr == "hvcarve-dump: pfn $pfn: $class"* ]] ||
		fail "stderr does not name pfn $pfn as $class: $stderr"
}

@test "decode: a torn page (tail magic gone) counts as torn" {
	decode_corrupt 2 torn torn 0x3a002
}

@test "decode: a flipped payload bit counts as bad_checksum" {
	decode_corrupt 21 checksum bad_checksum 0x3a015
}

@test "decode: a valid page of another pfn counts as wrong_pfn" {
	decode_corrupt 22 pfn wrong_pfn 0x3a016
	assert_line "partition 2 9"
}

@test "decode: a changed payload with a recomputed checksum counts as bad_payload" {
	decode_corrupt 40 payload bad_payload 0x3a028
	assert_line "partition 7 4"
}

@test "decode: a page torn by hand (head magic only), a withdrawn page is free" {
	forge3 h.bin
	# page 3: zero the tail magic; page 4: zero the whole header (withdraw)
	poke h.bin $((3 * 4096 + 40)) 0000000000000000
	dd if=/dev/zero of=h.bin bs=1 seek=$((4 * 4096)) count=48 conv=notrunc status=none
	run -1 "$DUMP" decode --base "$BASE" h.bin
	assert_line "held 23"
	assert_line "free 40"
	assert_line "partition 1 8"
	assert_line "torn 1"
	assert_line "corrupted 1"
}

@test "decode: the wrong --base makes every held page wrong_pfn" {
	forge3 f.bin
	run -1 "$DUMP" decode --base 0x3a001000 f.bin
	assert_line "held 0"
	assert_line "wrong_pfn 25"
	# the same base in decimal is fine
	run -0 "$DUMP" decode --base 973078528 f.bin
	assert_line "held 25"
}

@test "decode: a 64 MiB dump, fully held and mixed, agrees with the model" {
	"$DUMP" forge --base "$BASE" --pages 16384 big.bin --hold 0-16383:3:1 >/dev/null
	run -0 "$DUMP" decode --base "$BASE" big.bin
	assert_line "held 16384"
	assert_line "partition 3 16384"
	assert_line "max_serial 16384"
	local expect=$output
	run -0 "$MODEL" decode "$BASE" big.bin
	assert_output "$expect"
	# Several partitions, free pages and every kind of corruption.
	"$DUMP" forge --base "$BASE" --pages 16384 big.bin --hold 0-4999:1:1 \
		--hold 6000-9999:1000:5001 --hold 12000-16383:0xffffffff:9001 \
		--corrupt 17:torn --corrupt 6001:checksum --corrupt 9999:pfn \
		--corrupt 16383:payload >/dev/null
	run -1 --separate-stderr "$DUMP" decode --base "$BASE" big.bin
	assert_line "corrupted 4"
	expect=$output
	run -0 "$MODEL" decode "$BASE" big.bin
	assert_output "$expect"
}

# --- diff ------------------------------------------------------------------

@test "diff: identical dumps" {
	forge3 a.bin
	cp a.bin b.bin
	run -0 "$DUMP" diff --base "$BASE" a.bin b.bin
	assert_output "pages 64
differing_pages 0
identical"
}

@test "diff: one byte changed at a known offset" {
	forge3 a.bin
	cp a.bin b.bin
	poke b.bin $((5 * 4096 + 0x123)) ff
	run -1 "$DUMP" diff --base "$BASE" a.bin b.bin
	assert_output "pages 64
differing_pages 1
pfn 0x3a005: first difference at offset 0x123 (bytes differ: 1), A: held p=1 s=6, B: bad_checksum p=1 s=6
DIFFERENT"
	# a free page written
	cp a.bin b.bin
	poke b.bin $((63 * 4096 + 0xfff)) 01
	run -1 "$DUMP" diff --base "$BASE" a.bin b.bin
	assert_line "pfn 0x3a03f: first difference at offset 0xfff (bytes differ: 1), A: free, B: free"
}

@test "diff: --max limits the pages listed" {
	forge3 a.bin
	forge3 b.bin --corrupt 0:torn --corrupt 20:pfn --corrupt 41:payload
	run -1 "$DUMP" diff --base "$BASE" a.bin b.bin --max 1
	assert_output "pages 64
differing_pages 3
pfn 0x3a000: first difference at offset 0x28 (bytes differ: 8), A: held p=1 s=1, B: torn
... and 2 more differing pages
DIFFERENT"
	run -1 "$DUMP" diff --base "$BASE" a.bin b.bin
	assert_line "pfn 0x3a014: first difference at offset 0x8 (bytes differ: 4045), A: held p=2 s=11, B: wrong_pfn (names 0x3a015) p=2 s=11"
	assert_line --partial "pfn 0x3a029: first difference at offset 0x20 "
	assert_line --partial "B: bad_payload p=7 s=22"
	# cmp agrees on the number of differing bytes of that page
	run bash -c "cmp -l a.bin b.bin | awk '\$1 > 20 * 4096 && \$1 <= 21 * 4096' | wc -l"
	assert_output 4045
}

@test "diff: dumps of different sizes are an error" {
	forge3 a.bin
	head -c $((63 * 4096)) a.bin >b.bin
	run -2 "$DUMP" diff --base "$BASE" a.bin b.bin
	assert_output "hvcarve-dump: a.bin and b.bin differ in size (262144 vs 258048 bytes): not dumps of the same range"
}

# --- held-kept -------------------------------------------------------------

@test "held-kept: pages newly held in AFTER are fine" {
	forge3 before.bin
	"$DUMP" forge --base "$BASE" --pages 64 after.bin --hold 0-9:1:1 \
		--hold 20-29:2:11 --hold 40-44:7:21 --hold 50-59:3:26 >/dev/null
	run -0 "$DUMP" held-kept --base "$BASE" before.bin after.bin
	assert_output "pages 64
held_before 25
held_after 35
kept 25
newly_held 10
not_kept 0
ok: every page held in BEFORE is unchanged"
}

@test "held-kept: a held page overwritten by a new deposit fails, named" {
	forge3 before.bin
	# page 42 (partition 7) now holds a deposit for partition 3
	"$DUMP" forge --base "$BASE" --pages 64 after.bin --hold 0-9:1:1 \
		--hold 20-29:2:11 --hold 40-41:7:21 --hold 42:3:26 \
		--hold 43-44:7:24 >/dev/null
	run -1 "$DUMP" held-kept --base "$BASE" before.bin after.bin
	assert_output "pages 64
held_before 25
held_after 25
kept 24
newly_held 0
not_kept 1
pfn 0x3a02a: BEFORE: held p=7 s=23, AFTER: held p=3 s=26, first difference at offset 0x10 (bytes differ: 4046)
VIOLATED: pages held in BEFORE were changed"
}

@test "held-kept: a held page withdrawn or damaged in AFTER fails" {
	forge3 before.bin
	cp before.bin after.bin
	dd if=/dev/zero of=after.bin bs=1 seek=$((9 * 4096)) count=48 conv=notrunc status=none
	poke after.bin $((25 * 4096 + 100)) 00
	run -1 "$DUMP" held-kept --base "$BASE" before.bin after.bin
	assert_line "not_kept 2"
	assert_line "kept 23"
	assert_line "pfn 0x3a009: BEFORE: held p=1 s=10, AFTER: free, first difference at offset 0x0 (bytes differ: 29)"
	assert_line --partial "pfn 0x3a019: BEFORE: held p=2 s=16, AFTER: bad_checksum p=2 s=16, first difference at offset 0x64 "
	assert_line --index 8 "VIOLATED: pages held in BEFORE were changed"
	# BEFORE and AFTER swapped: both pages are newly held, which is fine
	run -0 "$DUMP" held-kept --base "$BASE" after.bin before.bin
	assert_line "held_before 23"
	assert_line "newly_held 2"
	assert_line "not_kept 0"
}

# --- map -------------------------------------------------------------------

@test "map: deterministic output on a fixture" {
	forge3 f.bin
	run -0 "$DUMP" map --base "$BASE" f.bin --width 16
	assert_output "map of 64 pages, pfn 0x3a000-0x3a03f, 1 page per cell, 16 cells per row
0x3a000 1111111111......
0x3a010 ....2222222222..
0x3a020 ........77777...
0x3a030 ................
legend: . free  ! corrupted  + several partitions  1 partition 1 (10)  2 partition 2 (10)  7 partition 7 (5)
pages 64 held 25 free 39 corrupted 0"
	local first=$output
	run -0 "$DUMP" map --base "$BASE" f.bin --width 16
	assert_output "$first"
}

@test "map: cells of several pages, '+' for a mix, '!' for a corrupted page" {
	forge3 f.bin --hold 30-31:3:50 --corrupt 41:checksum
	run -1 --separate-stderr "$DUMP" map --base "$BASE" f.bin --width 8 --per-cell 4
	assert_output "map of 64 pages, pfn 0x3a000-0x3a03f, 4 pages per cell, 8 cells per row
0x3a000 111..22+
0x3a020 ..!7....
legend: . free  ! corrupted  + several partitions  1 partition 1 (10)  2 partition 2 (10)  3 partition 3 (2)  7 partition 7 (4)
pages 64 held 26 free 37 corrupted 1"
}

@test "map: 16384 pages fill 64 x 16 cells; large partition ids are ranked" {
	"$DUMP" forge --base "$BASE" --pages 16384 big.bin --hold 0-8191:1000:1 \
		--hold 8192-16383:36:8193 >/dev/null
	run -0 "$DUMP" map --base "$BASE" big.bin
	assert_line --index 0 "map of 16384 pages, pfn 0x3a000-0x3dfff, 16 pages per cell, 64 cells per row"
	assert_equal "${#lines[@]}" 19
	assert_line --index 1 "0x3a000 $(printf '2%.0s' {1..64})"
	assert_line --index 16 "0x3dc00 $(printf '1%.0s' {1..64})"
	assert_line --index 17 "legend: . free  ! corrupted  + several partitions  1 partition 36 (8192)  2 partition 1000 (8192)"
}

# --- usage and I/O errors --------------------------------------------------

@test "usage: unknown command, no command, --help" {
	run -2 "$DUMP" frobnicate
	assert_line --index 0 "hvcarve-dump: unknown command 'frobnicate'"
	assert_line --partial "usage: hvcarve-dump decode"
	run -2 "$DUMP"
	assert_line --index 0 "hvcarve-dump: missing command"
	run -0 "$DUMP" --help
	assert_line --index 0 --partial "usage: hvcarve-dump decode"
}

@test "usage: missing arguments and unknown options" {
	forge3 f.bin
	run -2 "$DUMP" decode f.bin
	assert_line --index 0 "hvcarve-dump: decode: missing --base ADDR"
	run -2 "$DUMP" decode --base "$BASE"
	assert_line --index 0 "hvcarve-dump: decode: missing DUMP"
	run -2 "$DUMP" decode --base
	assert_line --index 0 "hvcarve-dump: decode: option --base needs a value"
	run -2 "$DUMP" decode --base "$BASE" f.bin --verbose
	assert_line --index 0 "hvcarve-dump: decode: unknown option '--verbose'"
	run -2 "$DUMP" decode --base "$BASE" f.bin f.bin
	assert_line --index 0 "hvcarve-dump: decode: one DUMP only, got 'f.bin' too"
	run -2 "$DUMP" decode --base "$BASE" f.bin --json --list
	assert_line --index 0 "hvcarve-dump: decode: --json and --list exclude each other"
	run -2 "$DUMP" diff --base "$BASE" f.bin
	assert_line --index 0 "hvcarve-dump: diff: want two dumps A B"
	run -2 "$DUMP" held-kept --base "$BASE" f.bin
	assert_line --index 0 "hvcarve-dump: held-kept: want two dumps BEFORE AFTER"
	run -2 "$DUMP" map --base "$BASE" f.bin --width 0
	assert_line --index 0 "hvcarve-dump: map: --width: 0 is not in 1..1024"
	run -2 "$DUMP" diff --base "$BASE" f.bin f.bin --max lots
	assert_line --index 0 "hvcarve-dump: diff: --max: bad number 'lots' (decimal or 0x hex)"
}

@test "usage: bad ADDR" {
	forge3 f.bin
	local addr
	for addr in 0x3a00zz -1 "" 0x 12abc 99999999999999999999999; do
		run -2 "$DUMP" decode --base "$addr" f.bin
		assert_line --index 0 "hvcarve-dump: decode: --base: bad address '$addr' (decimal or 0x hex)"
	done
	run -2 "$DUMP" decode --base 0x3a000800 f.bin
	assert_line --index 0 "hvcarve-dump: decode: --base: address 0x3a000800 is not page aligned"
	run -2 "$DUMP" decode --base=1234 f.bin
	assert_line --index 0 "hvcarve-dump: decode: --base: address 0x4d2 is not page aligned"
}

@test "I/O errors: missing file, directory, empty or partial dump" {
	run -2 "$DUMP" decode --base "$BASE" nosuch.bin
	assert_output "hvcarve-dump: nosuch.bin: No such file or directory"
	run -2 "$DUMP" diff --base "$BASE" nosuch.bin nosuch.bin
	assert_output "hvcarve-dump: nosuch.bin: No such file or directory"
	mkdir d
	run -2 "$DUMP" decode --base "$BASE" d
	assert_output "hvcarve-dump: d: not a regular file"
	: >empty.bin
	run -2 "$DUMP" decode --base "$BASE" empty.bin
	assert_output "hvcarve-dump: empty.bin: empty dump"
	head -c 5000 /dev/zero >odd.bin
	run -2 "$DUMP" map --base "$BASE" odd.bin
	assert_output "hvcarve-dump: odd.bin: size 5000 is not a multiple of 4096 bytes"
	run -2 "$DUMP" forge --base "$BASE" --pages 1 nodir/out.bin
	assert_output "hvcarve-dump: nodir/out.bin: No such file or directory"
}

@test "forge: bad specifications are usage errors" {
	run -2 "$DUMP" forge --base "$BASE" x.bin
	assert_line --index 0 "hvcarve-dump: forge: missing --pages N"
	run -2 "$DUMP" forge --base "$BASE" --pages 4
	assert_line --index 0 "hvcarve-dump: forge: missing OUT"
	run -2 "$DUMP" forge --base "$BASE" --pages 4 x.bin --hold 4:1:1
	assert_line --index 0 "hvcarve-dump: forge: --hold '4:1:1': page index 4 is outside the 4 pages"
	run -2 "$DUMP" forge --base "$BASE" --pages 4 x.bin --hold 1:1
	assert_line --index 0 "hvcarve-dump: forge: --hold '1:1': want IDX[-IDX]:PARTITION:SERIAL"
	run -2 "$DUMP" forge --base "$BASE" --pages 4 x.bin --hold 0-2:1:1 --hold 2:1:5
	assert_line --index 0 "hvcarve-dump: forge: --hold '2:1:5': page 2 is held twice"
	run -2 "$DUMP" forge --base "$BASE" --pages 4 x.bin --corrupt 1:torn
	assert_line --index 0 "hvcarve-dump: forge: --corrupt '1:torn': page 1 is not held (add --hold)"
	run -2 "$DUMP" forge --base "$BASE" --pages 4 x.bin --hold 1:1:1 --corrupt 1:zap
	assert_line --index 0 "hvcarve-dump: forge: --corrupt '1:zap': want IDX:torn|checksum|pfn|payload"
	[ ! -e x.bin ]
}

# --- memhog ----------------------------------------------------------------

@test "memhog: fills and verifies 1% of MemAvailable on the host" {
	run -0 "$MEMHOG" 1
	assert_output --regexp '^memhog: touched [0-9]+ KiB \(1% of MemAvailable\), verified$'
	run -0 "$MEMHOG" 1 --seed 0x1234
	assert_output --regexp '^memhog: touched [0-9]+ KiB \(1% of MemAvailable\), verified$'
}

@test "memhog: backs off when an allocation fails, keeps what it reached" {
	# 200 MB of address space: the third 64 MiB chunk cannot be mapped
	run -0 bash -c 'ulimit -v 200000 && exec "$1" 100' _ "$MEMHOG"
	assert_output --regexp '^memhog: touched [0-9]+ KiB \([0-9]+% of MemAvailable; wanted 100%, stopped: (mmap failed|MemAvailable ran low)\), verified$'
	local kib
	kib=$(sed -E 's/^memhog: touched ([0-9]+) KiB.*/\1/' <<<"$output")
	[ "$kib" -gt 0 ]
	[ "$kib" -le 200000 ]
}

@test "memhog: usage errors" {
	run -2 "$MEMHOG" 0
	assert_output --partial "memhog: PCT must be a number in 1..100"
	run -2 "$MEMHOG" 101
	assert_output --partial "memhog: PCT must be a number in 1..100"
	run -2 "$MEMHOG" ten
	assert_output --partial "memhog: PCT must be a number in 1..100"
	run -2 "$MEMHOG" 1 --seed
	assert_output --partial "memhog: --seed needs a number"
	run -2 "$MEMHOG" 1 2
	assert_output --partial "memhog: too many arguments"
}
