#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the bats suites, HVT_JOBS of them at a time (default: one per CPU),
# with GNU parallel; print each suite's TAP output when it ends, then each
# suite's time and one summary line ("N passed, N failed, N skipped, N boots
# retried"; the retried boots, after the one crash vm_run allows a second
# boot for, are also listed).
# Exit status: 0 only if every suite passed.
#
#   run-tests.sh [FILE OR DIR...]      (default: tests/bats)
#
# Environment: HVT_JOBS (suites at once), BATS_ARGS (extra bats options,
# split on blanks). The tests of one suite run in order, one at a time.
#
# The kexec-chain suites boot UEFI (OVMF) unless HVT_FIRMWARE=bios
# (tests/bats/helpers.bash, hvt_chain_firmware); the suites of
# $bios_too run a second time with SeaBIOS, as NAME@bios. The suites of
# $adversarial_too run a second time against the adversarial hypervisor
# model, as NAME@adversarial (HVT_HV_MODE=adversarial, HVT_HV_SEED as set,
# else the suite's default; hvt_hv_mode).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)

# Suites that take longest go first, so that the others fill in around them.
slow_first="host efi safety integrity hvmodel harness lockdep distro grub kdump kho smp demo reserve kaslr series"
# Chain suites also run with SeaBIOS: the BIOS variant of issue 17.
bios_too="reserve"
# Suites that also run against the adversarial model: issue 18 item 3.
adversarial_too="smp"

# suite_file FILE[@VARIANT]: FILE. suite_variant: VARIANT, or empty.
# Only a "@uefi", "@bios" or "@adversarial" after ".bats" is one (a
# path may hold an @).
suite_file() {
	case $1 in
	*.bats@uefi | *.bats@bios | *.bats@adversarial) echo "${1%@*}" ;;
	*) echo "$1" ;;
	esac
}
suite_variant() {
	case $1 in
	*.bats@uefi | *.bats@bios | *.bats@adversarial) echo "${1##*@}" ;;
	esac
}
# suite_name FILE[@VARIANT]: NAME or NAME@VARIANT.
suite_name() {
	local v
	v=$(suite_variant "$1")
	echo "$(basename "$(suite_file "$1")" .bats)${v:+@$v}"
}

if [ "${1:-}" = --one ]; then
	# --one FILE[@VARIANT] OUTDIR: run one suite into
	# OUTDIR/NAME[@VARIANT].{tap,rc,time}, with HVT_FIRMWARE=VARIANT, or
	# HVT_HV_MODE=adversarial for that variant.
	f=$(suite_file "$2") out=$3 v=$(suite_variant "$2")
	name=$(suite_name "$2")
	case $v in
	'') ;;
	adversarial) export HVT_HV_MODE=adversarial ;;
	*) export HVT_FIRMWARE=$v ;;
	esac
	# Its own artifacts: both runs of a suite may run at once.
	[ -z "$v" ] || export HVT_ARTIFACTS_ROOT=${HVT_ARTIFACTS_ROOT:-build/test-artifacts}/$v
	start=$(date +%s)
	# shellcheck disable=SC2086 # BATS_ARGS is a list of options
	bats --formatter tap --timing ${BATS_ARGS:-} "$f" >"$out/$name.tap" 2>&1
	echo $? >"$out/$name.rc"
	echo $(($(date +%s) - start)) >"$out/$name.time"
	echo "# ---- $name ($(cat "$out/$name.time") s)"
	cat "$out/$name.tap"
	exit 0
fi

[ $# -gt 0 ] || set -- tests/bats
files=()
for a in "$@"; do
	if [ -d "$a" ]; then
		files+=("$a"/*.bats)
	else
		files+=("$a")
	fi
done
ordered=()
# add FILE: the suite, and its SeaBIOS and adversarial runs right after it
# if it has them.
add() {
	ordered+=("$1")
	case " $bios_too " in *" $(basename "$1" .bats) "*) ordered+=("$1@bios") ;; esac
	case " $adversarial_too " in *" $(basename "$1" .bats) "*) ordered+=("$1@adversarial") ;; esac
}
for s in $slow_first; do
	for f in "${files[@]}"; do
		if [ "$(basename "$f" .bats)" = "$s" ]; then
			add "$f"
		fi
	done
done
for f in "${files[@]}"; do
	case " $slow_first " in *" $(basename "$f" .bats) "*) ;; *) add "$f" ;; esac
done

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
jobs=${HVT_JOBS:-$(nproc)}
start=$(date +%s)
parallel --will-cite --jobs "$jobs" "$here/run-tests.sh" --one {} "$out" ::: "${ordered[@]}"

rc=0 passed=0 skipped=0 failed=0 retries=0
echo "# suite times (s), $jobs at a time:"
for f in "${ordered[@]}"; do
	name=$(suite_name "$f")
	if [ ! -f "$out/$name.rc" ]; then
		echo "# $name: did not run"
		rc=1
		continue
	fi
	[ "$(cat "$out/$name.rc")" = 0 ] || rc=1
	p=$(grep -cE '^ok [0-9]+ ' "$out/$name.tap")
	s=$(grep -cE '^ok [0-9]+ .*# skip' "$out/$name.tap")
	n=$(grep -cE '^not ok [0-9]+ ' "$out/$name.tap")
	printf '#   %-16s %5s   %d passed, %d failed, %d skipped\n' "$name" \
		"$(cat "$out/$name.time")" $((p - s)) "$n" "$s"
	passed=$((passed + p - s)) skipped=$((skipped + s)) failed=$((failed + n))
	retries=$((retries + $(grep -c '^# vm_run: RETRY ' "$out/$name.tap")))
done
echo "# suite time: $(($(date +%s) - start)) s"
# A boot retried after the one allowed crash (tests/bats/helpers.bash).
[ "$retries" -eq 0 ] || grep -h '^# vm_run: RETRY ' "$out"/*.tap
echo "$passed passed, $failed failed, $skipped skipped, $retries boots retried"
[ "$failed" -eq 0 ] || rc=1
exit "$rc"
