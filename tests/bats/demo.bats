#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# The README's main command, `make demo`, exactly as a newcomer types it:
# it must end "Verdict: PASS" with no check failed, so that it can never
# break again without `make test` failing. Then its audit
# (scripts/demo.sh --audit-only) is run again on copies of that run's
# artifacts with one thing spoilt at a time, and must fail on exactly the
# check that looks at it: a held page changed across kexec -s, the first
# boot's carveout written, the stock kernel's boot e820 giving the
# carveout as RAM, learning that stepped over fewer pages than the host
# found held, and learning that took one refusal per page.

load helpers
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

DEMO_ART=$HVT_ROOT/build/demo
BASE=0x3a000000

setup_file() {
	# One run of `make demo` for the whole file; its output is kept for
	# the first test, its artifacts for the controls.
	make -C "$HVT_ROOT" --no-print-directory demo >"$BATS_FILE_TMPDIR/demo.out" 2>&1 &&
		echo 0 >"$BATS_FILE_TMPDIR/demo.rc" || echo $? >"$BATS_FILE_TMPDIR/demo.rc"
}

# spoilt: a copy of the demo's artifacts ($BATS_TEST_TMPDIR/art) whose
# files are hard links, so that a control replaces the file it changes.
spoilt() {
	[ -s "$DEMO_ART/results.txt" ] || fail "no artifacts of make demo in $DEMO_ART"
	cp -al "$DEMO_ART" "$BATS_TEST_TMPDIR/art"
	ART=$BATS_TEST_TMPDIR/art
}

# own FILE: replace the hard link FILE of the copy by a private copy.
own() {
	cp --remove-destination "$DEMO_ART/${1#"$ART"/}" "$1"
}

# flip FILE OFFSET: change the byte at OFFSET of FILE (to another value).
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d " ")
	# shellcheck disable=SC2059 # an octal escape, built here
	printf "\\$(printf %03o $(((b + 1) % 256)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# audit N: the demo's audit of the spoilt copy; it must fail N checks.
audit() {
	run -1 "$HVT_ROOT/scripts/demo.sh" --audit-only "$ART"
	assert_output --partial "Verdict: FAIL -- $1 check(s) failed"
}

@test "make demo, the README's main command, ends with Verdict: PASS and no check failed" {
	run cat "$BATS_FILE_TMPDIR/demo.out"
	[ "$(cat "$BATS_FILE_TMPDIR/demo.rc")" = 0 ] || fail "make demo exited $(cat "$BATS_FILE_TMPDIR/demo.rc"): $(tail -n 40 "$BATS_FILE_TMPDIR/demo.out")"
	assert_output --partial "Verdict: PASS -- the carveout crossed both kexecs byte for byte"
	refute_output --regexp '^  FAIL '
	# The checks that carry the story are all there and passed.
	assert_output --partial "ok    host: after the first boot, KASLR on, the carveout is all zero"
	assert_output --regexp "ok    guest: its boot e820 says type 4026531838 \(0xeffffffe, E820_TYPE_HVCARVE"
	assert_output --partial "ok    host: after kexec -s and boot: byte-identical to gen 0's last dump"
	assert_output --partial "(inherited from the kernel before kexec)"
	assert_output --regexp "ok    guest: inherited [0-9]+ \+ skipped [0-9]+ = the 4000 pages the host found held at boot"
	assert_output --partial "ok    host: every page held at boot is unchanged after the deposit and pressure"
	# KASLR is on for the first boot: nothing on its line turns it off.
	run grep -m 1 "Command line:" "$DEMO_ART/console.log"
	assert_output --partial "hvcarve=64M@0x3a000000 memmap=64M\$0x3a000000"
	refute_output --partial nokaslr
}

@test "demo audit, negative control: one held page changed across kexec -s is caught" {
	spoilt
	local f=$ART/dumps/post-boot-gen1.bin pfn
	own "$f"
	# The first page the host decodes as held.
	pfn=$("$HVT_ROOT/tools/hvcarve/hvcarve-dump" decode --base "$BASE" --list "$f" | awk 'NR == 1 { print $1 }')
	[ -n "$pfn" ] || fail "no held page in $f"
	flip "$f" $((((pfn) << 12) - BASE + 100))
	# It is compared with the dump before (gen 0's last) and after (after
	# memory pressure under 6.1): both checks catch it, and nothing else.
	audit 2
	assert_output --partial "FAIL  host: after kexec -s and boot: byte-identical to gen 0's last dump"
	assert_output --partial "FAIL  host: after memory pressure under 6.1, before kexec -l: still byte-identical"
	assert_output --partial "pfn $pfn: first difference at offset 0x64"
}

@test "demo audit, negative control: a first boot that wrote into the carveout is caught" {
	spoilt
	local f=$ART/dumps/post-boot-gen0.bin
	own "$f"
	printf 'Linux version 7.3' | dd of="$f" bs=1 seek=$((0x200000)) conv=notrunc status=none
	audit 1
	assert_output --partial "FAIL  host: after the first boot, KASLR on, the carveout is all zero"
}

@test "demo audit, negative control: the stock kernel's boot e820 giving the carveout as RAM is caught" {
	spoilt
	own "$ART/results.txt"
	sed -i 's/^1 e820_carveout .*/1 e820_carveout usable/' "$ART/results.txt"
	audit 1
	assert_output --partial "FAIL  guest: its boot e820 says usable"
}

@test "demo audit, negative control: learning that stepped over fewer held pages, or took a refusal per page, is caught" {
	spoilt
	own "$ART/results.txt"
	# 100 pages fewer skipped: the free count is adjusted so that only
	# the comparison with the host's held pages can fail.
	awk '$1 == 2 && $2 == "end.skipped_pages" { $3 -= 100 }
		$1 == 2 && $2 == "end.free_pages" { $3 += 100 } { print }' \
		"$DEMO_ART/results.txt" >"$ART/results.txt"
	audit 1
	assert_output --regexp "FAIL  guest: inherited [0-9]+ \+ skipped [0-9]+ = the 4000 pages the host found held"
	# One refusal per held page, as a learner without runs would need.
	awk '$1 == 2 && $2 == "end.skipped_pages" { $3 = 0 }
		$1 == 2 && ($2 == "end.inherited_pages" || $2 == "end.sim_refusals") { $3 = 4000 }
		{ print }' "$DEMO_ART/results.txt" >"$ART/results.txt"
	audit 1
	assert_output --regexp "FAIL  guest: 4000 refusals for 4000 held pages in 1 run\(s\): at most [0-9]+"
}
