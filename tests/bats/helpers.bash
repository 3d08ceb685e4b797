# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Shared helpers of the hvcarve bats suites. Load with
#   load helpers
# and call hvt_teardown from teardown() (it keeps the artifacts of a failed
# test and removes those of a passed one).
#
# Environment (relative paths are taken from the repository root):
#   NEW_KERNEL   patched kernel          (build/kbuild/arch/x86/boot/bzImage)
#   OLD_KERNEL   stock Debian 6.1 kernel (build/old/vmlinuz)
#   BASE_INITRD  base initramfs          (build/initramfs/base.cpio)
#   VM_KERNEL    kernel vm_run boots     ($NEW_KERNEL)
#   VM_TIMEOUT   seconds per VM run      (300)
#   VM_MEM       guest memory            (1G)
#   VM_FIRMWARE  uefi: OVMF ($OVMF, Debian's ovmf), the kernel through its
#                EFI stub; bios: SeaBIOS (bios)
#   HVT_FIRMWARE the kexec-chain suites' VM_FIRMWARE (uefi); run-tests.sh
#                runs reserve.bats once more with bios
#   VM_TAG       suffix of the artifact dir, for several VMs in one test
#   HVT_KEEP_ARTIFACTS=1  keep artifacts of passed tests too

HVT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# `run -N` and `run !` need bats >= 1.5.
bats_require_minimum_version 1.5.0

# A pipeline in a test or a helper fails when any part of it fails (a
# `result` that found nothing, a decoder that could not read its dump),
# not only when its last command does.
set -o pipefail

hvt_abspath() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s\n' "$HVT_ROOT/$1" ;;
	esac
}

NEW_KERNEL=$(hvt_abspath "${NEW_KERNEL:-build/kbuild/arch/x86/boot/bzImage}")
OLD_KERNEL=$(hvt_abspath "${OLD_KERNEL:-build/old/vmlinuz}")
BASE_INITRD=$(hvt_abspath "${BASE_INITRD:-build/initramfs/base.cpio}")
VMRUN=$HVT_ROOT/tests/lib/vmrun.sh
OVMF=${OVMF:-/usr/share/ovmf/OVMF.fd}
HVT_ARTIFACTS_ROOT=$(hvt_abspath "${HVT_ARTIFACTS_ROOT:-build/test-artifacts}")
export NEW_KERNEL OLD_KERNEL BASE_INITRD

# --- artifacts -------------------------------------------------------------

# Directory of the current test's VM run (build/test-artifacts/FILE/TEST[.TAG]).
vm_artifacts() {
	local file
	file=$(basename "${BATS_TEST_FILENAME:-adhoc}" .bats)
	printf '%s/%s/%s%s\n' "$HVT_ARTIFACTS_ROOT" "$file" \
		"${BATS_TEST_NAME:-adhoc}" "${VM_TAG:+.$VM_TAG}"
}

hvt_teardown() {
	local base
	base=$(VM_TAG='' vm_artifacts)
	if [ -n "${BATS_TEST_COMPLETED:-}" ] && [ "${HVT_KEEP_ARTIFACTS:-0}" != 1 ]; then
		rm -rf "$base" "$base".*
		rmdir "$(dirname "$base")" 2>/dev/null || true
	elif compgen -G "$base*" >/dev/null; then
		echo "# artifacts kept in: $(compgen -G "$base*" | tr '\n' ' ')" >&2
	fi
}

# (Re)build an initramfs if it is missing or older than its inputs.
# hvt_ensure_initrd OUT NEW_KERNEL OLD_KERNEL [mkinitramfs args...]
hvt_ensure_initrd() {
	local out=$1 new=$2 old=$3 f stale=0
	shift 3
	if [ ! -f "$out" ]; then
		stale=1
	else
		for f in "$new" "$old" "$HVT_ROOT/scripts/mkinitramfs.sh" "$HVT_ROOT"/tests/guest/*; do
			[ "$f" -nt "$out" ] && stale=1
		done
	fi
	[ "$stale" = 0 ] && return 0
	"$HVT_ROOT/scripts/mkinitramfs.sh" --out "$out" --new-kernel "$new" \
		--old-kernel "$old" "$@"
}

# --- running a VM ----------------------------------------------------------

# vm_run SCENARIO_FILE APPEND [vmrun.sh args...]
#   SCENARIO_FILE is a busybox sh script run as /hvt/scenario in every
#   generation ("-" reads it from stdin). APPEND is added to the first
#   kernel's command line (after console=ttyS0). Later vmrun.sh args win
#   (--kernel, --timeout, --mem ...); --initrd adds more cpio pieces.
#   Returns vmrun.sh's exit code (0 DONE, 1 FAIL, 2 setup error,
#   3 timeout, 4 crash or taint, 5 QEMU died), also left in VM_RC when
#   not run in a subshell.
vm_run() {
	local scenario=$1 append=$2 art stage
	shift 2
	local fw=()
	case ${VM_FIRMWARE:-bios} in
	uefi) fw=(--qemu-arg "-bios $OVMF") ;;
	bios) ;;
	*) echo "vm_run: VM_FIRMWARE=$VM_FIRMWARE: uefi or bios" >&2; return 2 ;;
	esac
	art=$(vm_artifacts)
	rm -rf "$art"
	mkdir -p "$art"
	stage=$(mktemp -d "${BATS_TEST_TMPDIR:-/tmp}/scenario.XXXXXX")
	mkdir -p "$stage/hvt"
	if [ "$scenario" = - ]; then
		cat >"$stage/hvt/scenario"
	else
		cp "$scenario" "$stage/hvt/scenario"
	fi
	chmod 755 "$stage/hvt/scenario"
	cp "$stage/hvt/scenario" "$art/scenario.sh"
	(cd "$stage" && find . | LC_ALL=C sort |
		cpio -o -H newc --owner=0:0 --reproducible --quiet) >"$art/scenario.cpio"
	rm -rf "$stage"
	local attempt
	for attempt in 1 2; do
		VM_RC=0
		"$VMRUN" --kernel "${VM_KERNEL:-$NEW_KERNEL}" \
			--initrd "$BASE_INITRD" "$art/scenario.cpio" \
			--append "console=ttyS0 $append" --mem "${VM_MEM:-1G}" \
			--timeout "${VM_TIMEOUT:-300}" --artifacts "$art" \
			"${fw[@]}" "$@" || VM_RC=$?
		if [ "$VM_RC" -ne 4 ] || [ "$attempt" != 1 ] || ! hvt_ioapic_race "$art"; then
			break
		fi
		# Kept for the record; the test sees the second boot only. The
		# retry is said in the TAP output too (fd 3), pass or fail.
		echo "vm_run: the kernel hit the IO-APIC setup race before user space (see hvt_ioapic_race); booting once more" >&2
		{ echo "# vm_run: RETRY of \"${BATS_TEST_DESCRIPTION:-?}\": the IO-APIC setup race before user space, the one crash hvt_ioapic_race allows a second boot for; first boot's artifacts in $art/ioapic-race" >&3; } 2>/dev/null || true
		mkdir -p "$art/ioapic-race"
		mv "$art"/*.log "$art"/*.txt "$art/ioapic-race/"
	done
	if [ "$VM_RC" -ne 0 ]; then
		echo "vm_run: exit $VM_RC; artifacts in $art" >&2
	fi
	return "$VM_RC"
}

# hvt_ioapic_race ART: did the run in ART crash in the one known race of
# the kernel under test that has nothing to do with hvcarve? Linux 7.3
# under TCG, rarely (seen once, on an overloaded 2-CPU host; its console,
# symbolised, is tests/fixtures/console/ioapic-race.log): an interrupt
# during setup_IO_APIC() reaches
# mask_ioapic_irq() for an IRQ whose IO-APIC chip data is not set yet,
# a NULL pointer dereference in io_apic_modify_irq() at 0.01 s. Only a
# crash with that trace, before the guest's user space ran, counts.
hvt_ioapic_race() {
	! grep -q '@@HVT BOOT' "$1/control.log" 2>/dev/null &&
		grep -q 'BUG: kernel NULL pointer dereference' "$1/console.log" &&
		grep -q 'RIP: 0010:io_apic_modify_irq' "$1/console.log" &&
		grep -q 'setup_IO_APIC' "$1/console.log"
}

# hvt_chain_firmware: the firmware of the kexec-chain suites (issue 17):
# VM_FIRMWARE from HVT_FIRMWARE, uefi unless set; and NOKASLR, for their
# first boot's command line: empty on uefi, where the EFI stub places the
# kernel at random (KASLR on); "nokaslr" on bios, the SeaBIOS variant.
# shellcheck disable=SC2034 # VM_FIRMWARE is vm_run's; NOKASLR the suites'
hvt_chain_firmware() {
	VM_FIRMWARE=${HVT_FIRMWARE:-uefi}
	NOKASLR=
	if [ "$VM_FIRMWARE" = bios ]; then
		NOKASLR=nokaslr
	fi
}

# hvt_hv_mode BASE SIZE: the hypervisor of a suite that takes HVT_HV_MODE
# (issue 18 item 3). Unset or empty: the simulator in the guest
# (drivers/hv/hv_carve_sim.c), HV_APPEND empty and HV_ARGS empty. "honest"
# or "adversarial": tests/hv/hv-model.c on the host, seeded with
# HVT_HV_SEED (default 7), holding the carveout BASE..BASE+SIZE as such:
# HV_APPEND is the kernel line's host mode (the simulator only carries
# the real Hyper-V backend's hypercalls to the host) with learning's probe
# seed, HV_ARGS vm_run's --hv-model option. The model answers no boot
# call with a demand for pages (--lp-pages 0). Any other value fails.
# HV_MODE and HV_SEED are what was chosen.
# shellcheck disable=SC2034 # HV_APPEND and HV_ARGS are the suites'
hvt_hv_mode() {
	HV_MODE=${HVT_HV_MODE:-}
	HV_SEED=${HVT_HV_SEED:-7}
	HV_APPEND=
	HV_ARGS=()
	case $HV_MODE in
	'') return 0 ;;
	honest | adversarial) ;;
	*)
		fail "HVT_HV_MODE=$HV_MODE: not honest, adversarial or empty"
		return 1
		;;
	esac
	HV_APPEND="hvcarve_sim.host=0x3e8 hvcarve.probe_seed=$HV_SEED"
	HV_ARGS=(--hv-model "--carveout $1:$2 --mode $HV_MODE --seed $HV_SEED --lp-pages 0")
}

# hv_ledger KEY [FILE]: a value of the model's ledger (default: its last,
# written when QEMU ended), or fails.
hv_ledger() {
	awk -v k="$1" '$1 == k { print $2; f = 1 } END { exit !f }' \
		"${2:-$(vm_artifacts)/hv-ledger.txt}"
}

# host_mode_clean [TYPE]: for the simulator's host mode (hvcarve_sim.host=,
# the hypervisor model on the host): every boot of the patched kernel set
# host mode up as a TYPE partition (an ERE; default root), one line of
# success each, and every "hvcarve_sim: host mode" line of the console is
# one of success. An error (a dead transport, a boot call that failed, a
# port not had) or a host mode that never started fails the test.
host_mode_clean() {
	local bad boots up ok
	ok="the hypervisor is the host.s, behind I/O port 0x3e8; this kernel is its ${1:-root} partition"
	ok="$ok|[0-9]+ of [0-9]+ logical processors added: [0-9]+ ordinary pages deposited"
	bad=$(console_log | grep 'hvcarve_sim: host mode' |
		grep -Ev "host mode: ($ok)\$" || true)
	[ -z "$bad" ] || { fail "host mode errors: $bad"; return 1; }
	boots=$(console_log | grep -c 'Linux version [^ ]*-hvcarve ' || true)
	up=$(console_log | grep -c 'hvcarve_sim: host mode: the hypervisor is the host' || true)
	if [ "$boots" -eq 0 ] || [ "$up" != "$boots" ]; then
		fail "host mode set up in $up of $boots boots of the patched kernel"
		return 1
	fi
}

# --- reading the artifacts -------------------------------------------------

# result KEY [GEN]: the VALUE of the last "GEN KEY VALUE" line (any gen if
# GEN is omitted). Fails if there is none.
result() {
	awk -v k="$1" -v g="${2:-}" '
		$2 == k && (g == "" || $1 == g) {
			v = $0; sub(/^[^ ]+ [^ ]+ ?/, "", v); found = 1
		}
		END { if (!found) exit 1; print v }' "$(vm_artifacts)/results.txt"
}

# Highest generation that reported anything.
last_gen() {
	awk 'END { print g + 0 } { if ($1 + 0 > g) g = $1 + 0 }' "$(vm_artifacts)/results.txt"
}

# The console log without carriage returns.
console_log() {
	tr -d '\r' <"$(vm_artifacts)/console.log"
}

# console_gen N: the console lines of generation N (the N+1-th kernel boot,
# from its "Linux version" line up to the next one).
console_gen() {
	console_log | awk -v n="$1" '
		/Linux version / && !/^hvt:/ { g++ }
		g - 1 == n { print }'
}

# Number of kernel boots in the console.
console_boots() {
	console_log | grep -v '^hvt:' | grep -c 'Linux version ' || true
}

# console_grep [-g GEN] PATTERN: grep -E in the console (of one generation).
console_grep() {
	if [ "$1" = -g ]; then
		console_gen "$2" | grep -E -- "$3"
	else
		console_log | grep -E -- "$1"
	fi
}

control_grep() {
	grep -E -- "$1" "$(vm_artifacts)/control.log"
}

dump_file() {
	printf '%s/dumps/%s.bin\n' "$(vm_artifacts)" "$1"
}

dump_size() {
	stat -c %s "$(dump_file "$1")"
}

# dumps_equal NAME1 NAME2: byte-identical dumps (prints the first difference).
dumps_equal() {
	cmp -- "$(dump_file "$1")" "$(dump_file "$2")"
}

# --- what a kernel hands to the next (hvt_files_report) --------------------

# files_of GEN: "PATH SHA256" of every file generation GEN reported, sorted.
files_of() {
	awk -v g="$1" '$1 == g && $2 ~ /^file:/ { print substr($2, 6), $3 }' \
		"$(vm_artifacts)/results.txt" | LC_ALL=C sort
}

# files_intact A B: every file generations A and B both reported has the
# same hash in both, and they reported at least one in common. Explicit
# returns (it also runs under `run`); prints what changed.
files_intact() {
	local common changed
	common=$(LC_ALL=C join <(files_of "$1") <(files_of "$2"))
	[ -n "$common" ] || { echo "gen $1 and gen $2 reported no file in common"; return 1; }
	changed=$(awk '$2 != $3 { printf " %s", $1 }' <<<"$common")
	[ -z "$changed" ] || { echo "changed from gen $1 to gen $2:$changed"; return 1; }
}

# file_matches GEN PATH FILE: generation GEN reported PATH with the hash of
# the host's FILE. Explicit returns.
file_matches() {
	local want have
	want=$(sha256sum <"$3" | cut -d' ' -f1)
	have=$(result "file:$2" "$1") || { echo "gen $1 reported no $2"; return 1; }
	[ "$have" = "$want" ] || { echo "gen $1: $2 has sha256 $have, the host's $3 $want"; return 1; }
}

# initrd_intact GEN: the initramfs generation GEN-1 loaded (its result
# next_initrd: sha256 and size) is what the host found where generation GEN
# booted with it (the dump initrd-genG of hvt_initrd_ckpt). Explicit
# returns.
initrd_intact() {
	local sent sha size got f
	sent=$(result next_initrd $(($1 - 1))) || { echo "gen $(($1 - 1)) reported no next_initrd"; return 1; }
	read -r sha size <<<"$sent"
	f=$(dump_file "initrd-gen$1")
	[ -s "$f" ] || { echo "gen $1: no dump of its initrd (hvt_initrd_ckpt)"; return 1; }
	[ "$(stat -c %s "$f")" -ge "$size" ] || { echo "gen $1: its initrd is shorter than the $size bytes gen $(($1 - 1)) loaded"; return 1; }
	got=$(head -c "$size" "$f" | sha256sum | cut -d' ' -f1)
	[ "$got" = "$sha" ] || { echo "gen $1 booted with an initrd of sha256 $got; gen $(($1 - 1)) loaded $sha ($size bytes)"; return 1; }
}

# --- e820 ------------------------------------------------------------------

# e820_table GEN [TABLE]: the e820 map that kernel GEN printed, one
# "0xSTART 0xEND TYPE" line per entry (END inclusive, lower-case hex).
# TABLE is the printk prefix: BIOS-e820 (default: the map the kernel got from
# firmware or from kexec's boot_params), user (after memmap=) or modified
# (after hvcarve=). TYPE is normalised to the 6.1 names: 7.x prints
# "System RAM" and "device reserved" where 6.1 printed "usable" and
# "reserved", and 7.x "[gap ...]" lines are dropped. E820_TYPE_HVCARVE
# (0xeffffffe), which a patched kernel prints as "hvcarve" and any other
# as "type 4026531838", is "hvcarve".
e820_table() {
	console_gen "$1" | sed -n -E \
		"s/.*${2:-BIOS-e820}: \[mem 0x([0-9a-fA-F]+)-0x([0-9a-fA-F]+)\] +(.*)\$/0x\1 0x\2 \3/p" |
		sed -E -e 's/ System RAM$/ usable/' -e 's/ device reserved$/ reserved/' \
			-e 's/ type 4026531838$/ hvcarve/' \
			-e 's/^(0x[0-9a-fA-F]+ 0x[0-9a-fA-F]+)/\L\1/'
}

# The last table kernel GEN printed: "user" if it has one, else BIOS-e820.
e820_final_table_name() {
	if [ -n "$(e820_table "$1" user)" ]; then echo user; else echo BIOS-e820; fi
}

# e820_range_is GEN BASE SIZE [TYPE [TABLE]]: true if [BASE, BASE+SIZE) is
# entirely covered by entries of TYPE (default reserved) in kernel GEN's
# TABLE (default: its final table).
e820_range_is() {
	local gen=$1 base=$(($2)) size=$(($3)) type=${4:-reserved} table=${5:-}
	local pos end s e t
	[ -n "$table" ] || table=$(e820_final_table_name "$gen")
	pos=$base
	end=$((base + size))
	while read -r s e; do
		[ "$pos" -ge "$end" ] && break
		if [ "$s" -le "$pos" ] && [ "$e" -ge "$pos" ]; then
			pos=$((e + 1))
		fi
	done < <(e820_table "$gen" "$table" | while read -r s e t; do
		[ "$t" = "$type" ] && echo "$((s)) $((e))"
	done | sort -n -k1,1)
	[ "$pos" -ge "$end" ]
}

# e820_range_overlaps GEN BASE SIZE [TYPE [TABLE]]: true if any byte of
# [BASE, BASE+SIZE) is in an entry of TYPE (default usable).
e820_range_overlaps() {
	local gen=$1 base=$(($2)) size=$(($3)) type=${4:-usable} table=${5:-}
	local s e t
	[ -n "$table" ] || table=$(e820_final_table_name "$gen")
	while read -r s e t; do
		[ "$t" = "$type" ] || continue
		if [ "$((s))" -lt "$((base + size))" ] && [ "$((e))" -ge "$base" ]; then
			return 0
		fi
	done < <(e820_table "$gen" "$table")
	return 1
}

# --- memory pressure -------------------------------------------------------

# memhog_floor_ok TEXT [MIN_PCT [MIN_KIB]]: TEXT is what hvt_memhog_run
# reported ("rc=N" and memhog's output). True if memhog exited 0, read
# everything back ("verified"), and its numbers show at least MIN_PCT
# (default 80) percent of the MemAvailable it started from touched, and at
# least MIN_KIB KiB (default 262144: 256 MiB) in all. A number that is
# missing is a failure, never 0. Prints why not.
memhog_floor_ok() {
	local text=$1 min_pct=${2:-80} min_kib=${3:-262144} avail touched
	# As the guest sends it: one line.
	text=${text//$'\n'/ }
	case $text in
	"rc=0 "*) ;;
	*) echo "memhog failed: $text"; return 1 ;;
	esac
	case $text in
	*", verified" | *", verified "*) ;;
	*) echo "memhog did not verify what it wrote: $text"; return 1 ;;
	esac
	avail=$(sed -n -E 's/.*memhog: available_kib ([0-9]+) touched_kib [0-9]+ min_pct [0-9]+.*/\1/p' <<<"$text")
	touched=$(sed -n -E 's/.*memhog: available_kib [0-9]+ touched_kib ([0-9]+) min_pct [0-9]+.*/\1/p' <<<"$text")
	if [ -z "$avail" ] || [ -z "$touched" ]; then
		echo "memhog reported no available_kib/touched_kib numbers: $text"
		return 1
	fi
	if [ "$avail" -le 0 ] || [ $((touched * 100)) -lt $((avail * min_pct)) ]; then
		echo "memhog touched $touched KiB, below $min_pct% of $avail KiB available"
		return 1
	fi
	if [ "$touched" -lt "$min_kib" ]; then
		echo "memhog touched $touched KiB, below the floor of $min_kib KiB"
		return 1
	fi
}

# assert_memhog GEN [MIN_PCT [MIN_KIB]]: generation GEN's memhog run (the
# "memhog" result of hvt_memhog_run) passes memhog_floor_ok.
assert_memhog() {
	local text why
	text=$(result memhog "$1") || fail "gen $1: no memhog result"
	why=$(memhog_floor_ok "$text" "${2:-80}" "${3:-262144}") || fail "gen $1: $why"
}

# hog_floor_ok AVAIL_KIB FILLED_KIB [MIN_PCT [MIN_KIB]]: the numbers of
# hvt_memhog (memhog_avail_kib, memhog_kib) show at least MIN_PCT (default
# 80) percent of MemAvailable and MIN_KIB (default 262144) KiB filled.
hog_floor_ok() {
	local avail=$1 filled=$2 min_pct=${3:-80} min_kib=${4:-262144}
	if ! [[ $avail =~ ^[0-9]+$ && $filled =~ ^[0-9]+$ ]]; then
		echo "hvt_memhog reported no numbers (available '$avail', filled '$filled')"
		return 1
	fi
	if [ "$avail" -le 0 ] || [ $((filled * 100)) -lt $((avail * min_pct)) ] ||
		[ "$filled" -lt "$min_kib" ]; then
		echo "hvt_memhog filled $filled KiB of $avail KiB available (floor $min_pct%, $min_kib KiB)"
		return 1
	fi
}

# assert_hog_floor GEN [MIN_PCT [MIN_KIB]]: generation GEN's hvt_memhog
# passes hog_floor_ok.
assert_hog_floor() {
	local avail filled why
	avail=$(result memhog_avail_kib "$1") || fail "gen $1: no memhog_avail_kib result"
	filled=$(result memhog_kib "$1") || fail "gen $1: no memhog_kib result"
	why=$(hog_floor_ok "$avail" "$filled" "${2:-80}" "${3:-262144}") || fail "gen $1: $why"
}

# --- timing ----------------------------------------------------------------

# timeline_at REGEX: host time (s since QEMU start) of the first timeline
# event matching REGEX (awk syntax).
timeline_at() {
	awk -v re="$1" '{ t = $1; $1 = ""; if ($0 ~ re) { print t; found = 1; exit } }
		END { if (!found) exit 1 }' "$(vm_artifacts)/timeline.txt"
}

# kexec_seconds GEN: wall time from the end of the pre-kexec checkpoint of
# generation GEN to the BOOT message of generation GEN+1 (kexec -e, the
# purgatory, decompression, kernel boot, init up to the control channel).
kexec_seconds() {
	local a b
	a=$(timeline_at "CKPT pre-kexec-gen$1 ") || return 1
	b=$(timeline_at "^ BOOT gen=$(($1 + 1)) ") || return 1
	awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f\n", b - a }'
}

# boot_seconds: wall time from QEMU start to the first BOOT message.
boot_seconds() {
	timeline_at "^ BOOT gen=0 "
}

# call_bound K R N: the bound on learning's backend calls for N pages past
# K held pages in R runs (issues 11 and 19), 2 R ceil(log2(K / R)) +
# floor(N / 511) + 10 (511: the pages one HvCallDepositMemory takes).
call_bound() {
	local q=$((($1 + $2 - 1) / $2)) l=0
	while [ $((1 << l)) -lt "$q" ]; do
		l=$((l + 1))
	done
	echo $((2 * $2 * l + $3 / 511 + 10))
}
