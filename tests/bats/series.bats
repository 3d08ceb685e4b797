#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# make check inside make test: the upstream series (scripts/make-series.sh
# without its bisect build, which is make series's alone) and the compile
# checks of scripts/check.sh, each with a negative control: make-series
# refuses broken copies of the repository (SERIES_ROOT), and the 32-bit
# check fails where hvcarve can be enabled. The style gates are
# style.bats's, the Hyper-V compile check is hvbuild.bats's.

bats_require_minimum_version 1.5.0

setup_file() {
	# The compile checks share build/ output directories.
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
}

setup() {
	load '/usr/lib/bats/bats-support/load'
	load '/usr/lib/bats/bats-assert/load'
	set -o pipefail
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	SERIES=$REPO/scripts/make-series.sh
	CHECK=$REPO/scripts/check.sh
	PRISTINE=${PRISTINE:-$REPO/build/src/linux-source-7.3}
	ROOT=$BATS_TEST_TMPDIR/root
	OUT=$BATS_TEST_TMPDIR/series
	export AUTHOR="hvcarve test <test@example.org>"
}

need_pristine() {
	[ -f "$PRISTINE/Makefile" ] || fail "no pristine tree at $PRISTINE: run 'make source' first"
}

# A copy of what make-series reads: patches/ and the kernel files.
copy_root() {
	mkdir -p "$ROOT"
	cp -a "$REPO/patches" "$ROOT/"
	local d
	for d in mm include drivers kernel arch Documentation; do
		[ ! -d "$REPO/$d" ] ||
			(cd "$REPO" && find "$d" -type f -exec cp -a --parents -t "$ROOT/" {} +)
	done
}

# The number and name of the patch of patches/series that adds FILE.
patch_of() {
	awk -v f="$1" '$1 !~ /^#/ { for (i = 2; i <= NF; i++) if ($i == f) print $1 }' "$REPO/patches/new-files"
}

@test "series: make check's series check passes (manifest, git am, checkpatch --strict)" {
	need_pristine
	run "$CHECK" series
	echo "$output"
	assert_success
	assert_output --regexp '^check: series: ok \([0-9]+ s\)$'
}

@test "series: cover letter first, then every patch, each new file created by the patch the manifest names" {
	need_pristine
	run "$SERIES" --no-build --out "$OUT" "$PRISTINE"
	echo "$output"
	assert_success
	first=$(find "$OUT" -name '*.patch' | LC_ALL=C sort | head -n 1)
	[ "${first##*/}" = 0000-cover-letter.patch ]
	# The cover letter counts the patches of patches/series.
	n=$(grep -c '^[0-9]' "$REPO/patches/series")
	grep -q "^Subject: \[PATCH 00/$n\] hvcarve: " "$first" ||
		fail "the cover letter's subject does not count the $n patches of patches/series"
	# No placeholder left, and the author signs every patch.
	run grep -l 'hvcarve@localhost' "$OUT"/*.patch
	assert_failure
	for p in "$OUT"/[0-9][0-9][0-9][0-9]-*.patch; do
		case $p in */0000-cover-letter.patch) continue ;; esac
		grep -qx "Signed-off-by: $AUTHOR" "$p" || fail "${p##*/} is not signed by $AUTHOR"
	done
	# Each new file is created once, in its patch.
	while read -r p files; do
		case $p in '' | '#'* | -) continue ;; esac
		for f in $files; do
			run grep -l "^ create mode [0-9]* $f\$" "$OUT"/[0-9][0-9][0-9][1-9]-*.patch "$OUT"/[0-9][0-9][1-9]0-*.patch
			assert_success
			[ "${lines[0]##*/}" = "$p" ] || fail "$f is created in ${lines[0]##*/}, not in $p"
			[ ${#lines[@]} = 1 ]
		done
	done <"$REPO/patches/new-files"
}

# Does patch FILE name hvcarve, outside its author lines (AUTHOR, set
# above, may be named anything)?
names_hvcarve() {
	# Not grep -q: it would end the pipe early (pipefail).
	grep -v -e '^From: ' -e '^Signed-off-by: ' "$1" | grep -i hvcarve >/dev/null
}

# Patches 1-5 are what upstream can take without hvcarve (the cover
# letter's first part): the initrd-table fix, the kexec veto, the deposit
# fix, the deposit gate and kexec_load()'s reserved-memory check. None
# of them may name hvcarve, in code, new files or message; make series
# builds each.
@test "series: patches 1-5 need no hvcarve: the gate, the veto, the deposit fix and the kexec check never name it" {
	need_pristine
	run "$SERIES" --no-build --out "$OUT" "$PRISTINE"
	assert_success
	local p n=0
	for p in "$OUT"/000[1-5]-*.patch; do
		n=$((n + 1))
		! names_hvcarve "$p" || fail "${p##*/} names hvcarve"
	done
	assert_equal "$n" 5
	grep -q '^ create mode [0-9]* drivers/hv/hv_deposit_gate.c$' "$OUT"/0004-*.patch
	grep -q '^Subject: \[PATCH 02/[0-9]*\] kexec: let a subsystem veto' "$OUT"/0002-*.patch
	# Control: the check finds hvcarve where it is, from patch 6 on.
	for p in "$OUT"/000[6-9]-*.patch; do
		names_hvcarve "$p" || fail "${p##*/} does not name hvcarve: the check above cannot see it"
	done
}

# The lines a patch adds to one file.
added_to() {
	awk -v f="b/$2" '/^diff --git /{on = ($4 == f)} on && /^\+[^+]/' "$1"
}

# What mm/ must not hold: a kernel parameter's parser (crashkernel='s
# too), a hypercall, or the hibernation policy.
NOT_MM='early_param\(|__setup\(|module_param|core_param|hvcarve_parse_value\(|parse_crashkernel\(|hv_do_(rep_)?hypercall|HVCALL_|register_pm_notifier\('

@test "series: mm/ holds only the page pool: no parameter, no hypercall and no hibernation policy in any file the series adds under mm/; hvcarve= and crashkernel='s overlap are arch/x86's, hvcarve.overflow= and hibernation drivers/hv's" {
	need_pristine
	run "$SERIES" --no-build --out "$OUT" "$PRISTINE"
	assert_success
	local p f n=0
	for p in "$OUT"/00[0-9][0-9]-*.patch; do
		[ "${p##*/0000-}" = "$p" ] || continue
		for f in $(sed -n 's|^ create mode [0-9]* \(mm/.*\)$|\1|p' "$p"); do
			n=$((n + 1))
			run added_to "$p" "$f"
			assert_success
			[ -n "$output" ] || fail "$f: no lines found in ${p##*/}"
			if grep -nE "$NOT_MM" <<<"$output"; then
				fail "$f (${p##*/}) parses a parameter or makes a hypercall"
			fi
		done
	done
	[ "$n" -ge 4 ] || fail "only $n files under mm/ found in the series"
	# Control: the same check finds them where they are.
	run added_to "$OUT"/0008-*.patch arch/x86/kernel/hvcarve.c
	grep -qE '^\+early_param\("hvcarve", ' <<<"$output"
	grep -qE '^\+	if \(parse_crashkernel\(' <<<"$output"
	grep -qE "$NOT_MM" <<<"$output"
	run added_to "$OUT"/0012-*.patch drivers/hv/hv_carve_deposit.c
	grep -qE '^\+module_param_cb\(overflow, ' <<<"$output"
	grep -qE '^\+#define MODULE_PARAM_PREFIX "hvcarve\."$' <<<"$output"
	grep -qE '^\+	ret = register_pm_notifier\(&hv_carve_pm_nb\);$' <<<"$output"
	grep -qE "$NOT_MM" <<<"$output"
}

@test "series negative control: a patch that builds a file the manifest puts in a later patch is refused, by name" {
	need_pristine
	copy_root
	p=$(patch_of drivers/hv/hv_carve_sim.c)
	[ -n "$p" ]
	# Move the simulator to the next patch's line.
	awk -v f=drivers/hv/hv_carve_sim.c -v p="$p" '
		$1 == p { sub(" " f, "") ; print; moved = 1; next }
		moved == 1 && $1 !~ /^#/ { print $0 " " f; moved = 2; next }
		{ print }' "$REPO/patches/new-files" >"$ROOT/patches/new-files"
	run env SERIES_ROOT="$ROOT" "$SERIES" --no-build --out "$OUT" "$PRISTINE"
	echo "$output"
	assert_failure
	assert_output --partial "patch $((10#${p%%-*})), "
	assert_output --partial "$p, adds hv_carve_sim.o to drivers/hv/Makefile, but drivers/hv/hv_carve_sim.c is not in the series by then"
	refute_output --partial "wrote $OUT"
}

@test "series negative control: a project file in no patch is refused" {
	need_pristine
	copy_root
	sed -i 's| mm/hvcarve_sysfs.c||' "$ROOT/patches/new-files"
	run env SERIES_ROOT="$ROOT" "$SERIES" --no-build --out "$OUT" "$PRISTINE"
	assert_failure
	assert_output --partial "mm/hvcarve_sysfs.c is in no patch: add it to patches/new-files"
}

@test "series negative control: a patch that does not apply is refused, by name" {
	need_pristine
	copy_root
	p=$(sed -n 6p "$REPO/patches/series")
	# Damage one context line of the patch's first hunk.
	awk '/^@@/ && !done { print; getline; print " /* not in the kernel */"; done = 1; next } { print }' \
		"$REPO/patches/$p" >"$ROOT/patches/$p"
	run env SERIES_ROOT="$ROOT" "$SERIES" --no-build --out "$OUT" "$PRISTINE"
	echo "$output"
	assert_failure
	assert_output --partial "patch 6, $p, does not apply to the pristine files"
}

@test "series negative control: a checkpatch finding in a new file stops the series" {
	need_pristine
	copy_root
	printf 'static int hvcarve_bad(void) { return 0; } \n' >>"$ROOT/mm/hvcarve_sysfs.c"
	run env SERIES_ROOT="$ROOT" "$SERIES" --no-build --out "$OUT" "$PRISTINE"
	echo "$output"
	assert_failure
	assert_output --partial "series/$(patch_of mm/hvcarve_sysfs.c)"
	assert_output --partial "make-series: checkpatch.pl --strict: the patches named above"
}

@test "series negative control: with no author it says what to set and stops" {
	need_pristine
	run env -u AUTHOR HOME="$BATS_TEST_TMPDIR" GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 \
		"$SERIES" --no-build --out "$OUT" "$PRISTINE"
	assert_failure
	assert_output --partial 'no author for the series: set AUTHOR="Name <mail>"'
	[ ! -e "$OUT" ]
	run env AUTHOR="nobody" "$SERIES" --no-build --out "$OUT" "$PRISTINE"
	assert_failure
	assert_output --partial 'AUTHOR must look like "Name <mail@example.org>"'
}

@test "compile: hvcarve disabled, every hooked object compiles against the stubs (HYPERV, MSHV_ROOT, KEXEC, EFI stub)" {
	run "$CHECK" compile-off
	echo "$output"
	assert_success
	assert_output --regexp '^check: compile-off: ok'
}

@test "compile: 32-bit x86 cannot enable hvcarve, nor x86_64 without MSHV_ROOT (what deposits), and the 32-bit hooked objects compile" {
	run "$CHECK" compile-i386
	echo "$output"
	assert_success
	assert_output --regexp '^check: compile-i386: ok'
	grep -q 'HVCARVE=y asked for on i386 is dropped' "$REPO/build/check/compile-i386.log"
	grep -q 'HVCARVE=y asked for on x86_64 without MSHV_ROOT is dropped' "$REPO/build/check/compile-i386.log"
}

@test "compile negative control: the same Kconfig probe on x86_64 finds hvcarve available, and the check fails" {
	run env HVCARVE_PROBE_ARCH=x86_64 CHECK_OUT="$BATS_TEST_TMPDIR" "$CHECK" compile-i386
	echo "$output"
	assert_failure
	assert_output --partial "check: compile-i386: FAILED"
	assert_output --partial "HVCARVE=y asked for on x86_64 survives olddefconfig"
}

@test "series negative control: a justified checkpatch finding the series no longer has fails the series" {
	need_pristine
	copy_root
	echo 'series/0001-*.patch|CHECK: no such finding|a reason' >>"$ROOT/patches/checkpatch-justified.txt"
	run env SERIES_ROOT="$ROOT" "$SERIES" --no-build --out "$OUT" "$PRISTINE"
	echo "$output"
	assert_failure
	assert_output --partial "no longer found: series/0001-*.patch|CHECK: no such finding"
}
