#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The hvcarve demo. A QEMU guest runs three kernels:
#
#   gen 0  the patched kernel, hvcarve= + memmap= (scripts/hvcarve-cmdline.sh
#          next), KASLR on: the reservation (the host finds the carveout
#          all zero), deposits through the simulated hypervisor
#   gen 1  kexec -s into the stock Debian 6.1 kernel, told nothing: its boot
#          e820 has the carveout as E820_TYPE_HVCARVE, a type it does not
#          know and so never uses as RAM
#   gen 2  kexec -l back into the patched kernel, told hvcarve= only: it
#          rebuilds the hypervisor's ledger from the pages and deposits more,
#          learning the held runs from the hypervisor's refusals
#
# The guest narrates (tests/guest/demo-scenario.sh). The host -- playing the
# hypervisor's auditor -- dumps the carveout through the QEMU monitor before
# every kexec and after every boot, and then checks the dumps itself with
# tools/hvcarve/hvcarve-dump: byte-identical across each kexec, what it
# decodes agrees with the guest's ledger and counters, the pages held before
# new deposits are kept. It ends with a table and exits 1 if any check
# failed.
#
# Run through "make demo", which builds everything first.
#
#   scripts/demo.sh                      the demo
#   scripts/demo.sh --audit-only [DIR]   only the host's audit, of the
#                                        artifacts of an earlier run
#                                        (default build/demo)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

new_kernel=${NEW_KERNEL:-build/kbuild/arch/x86/boot/bzImage}
base_initrd=${BASE_INITRD:-build/initramfs/base.cpio}
hvdump=tools/hvcarve/hvcarve-dump
art=build/demo
audit_only=0
case "${1:-}" in
"") ;;
--audit-only)
	audit_only=1
	art=${2:-$art}
	;;
*)
	echo "usage: $0 [--audit-only [DIR]]" >&2
	exit 2
	;;
esac
base=0x3a000000
size_m=64
size=$((size_m << 20))
# What generation 2 is given on its command line (by kexec -l --append).
carve="hvcarve=${size_m}M@$base"
# What the scenario deposits: gen 0 3000 for partition 1 and 2000 for
# partition 2, then withdraws 1000 from partition 1; gen 2 1500 for 3.
want_gen0="1:2000 2:2000"
want_gen2="1:2000 2:2000 3:1500"
gen2_deposit=1500

if [ -t 1 ]; then
	bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
else
	bold() { printf '\n%s\n' "$*"; }
fi

# Boot the chain, narrating; the artifacts go to $art.
run_vm() {
	local first rc
	bold "== hvcarve demo =="
	cat <<EOF
The carveout: ${size_m} MiB at $base, the only memory a root partition ever
deposits into the Microsoft Hypervisor. A simulated hypervisor in the test
kernel plays the hypervisor's part: it writes into every page it holds.

  gen 0  patched 7.3, hvcarve= + memmap=; deposits for partitions 1 and 2
  gen 1  --kexec -s--> stock Debian 6.1: NO hvcarve=, NO memmap=
  gen 2  --kexec -l--> patched 7.3, $carve only; deposits for partition 3

The first boot keeps KASLR on: the decompressor keeps the kernel out of the
carveout. The host dumps the carveout after each boot and before each kexec.
EOF

	# The first kernel's command line, the way an administrator writes it.
	first=$(scripts/hvcarve-cmdline.sh next --cmdline "" --add "${size_m}M@$base")
	bold "First kernel's command line (scripts/hvcarve-cmdline.sh next):"
	echo "  $first"

	stage=$(mktemp -d)
	trap 'rm -rf "$stage"' EXIT
	mkdir -p "$stage/hvt"
	{
		printf 'BASE=%s\nSIZE=%s\nCARVE=%s\n' "$base" "$size" "$carve"
		cat tests/guest/demo-scenario.sh
	} >"$stage/hvt/scenario"
	(cd "$stage" && find hvt | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet) \
		>"$stage/scenario.cpio"

	rm -rf "$art"
	mkdir -p "$art"
	bold "The guest's story (QEMU; about 15 s per generation without KVM):"
	rc=0
	tests/lib/vmrun.sh --kernel "$new_kernel" \
		--initrd "$base_initrd" "$stage/scenario.cpio" \
		--append "console=ttyS0 $first" --mem 1G --timeout 300 \
		--artifacts "$art" --narrate 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		printf '\ndemo: the VM run failed (vmrun exit %s): %s\n' "$rc" \
			"$(cat "$art/status.txt" 2>/dev/null)"
		fails=$((fails + 1))
	fi
}

fails=0
if [ "$audit_only" = 0 ]; then
	run_vm
else
	bold "== hvcarve demo: the host's audit of $art/ =="
	if [ ! -s "$art/results.txt" ]; then
		echo "demo: no $art/results.txt to audit" >&2
		exit 2
	fi
fi

# --- the host's audit -------------------------------------------------------

results=$art/results.txt

# res GEN KEY: the value the guest reported (empty if none).
res() {
	awk -v g="$1" -v k="$2" '$1 == g && $2 == k {
		sub(/^[^ ]+ [^ ]+ ?/, ""); print; exit }' "$results"
}

dump() {
	printf '%s/dumps/%s.bin' "$art" "$1"
}

# check WHAT TEST...: run the test, print "ok" or "FAIL" and WHAT (and,
# on failure, the $detail the test left); sets passed to 1 or 0.
check() {
	local what=$1
	shift
	detail=
	if "$@"; then
		printf '  ok    %s\n' "$what"
		passed=1
	else
		printf '  FAIL  %s\n' "$what"
		[ -z "$detail" ] || printf '%s\n' "$detail" | sed 's/^/          /'
		fails=$((fails + 1))
		passed=0
	fi
}

# decode NAME: the host's own decoding of a dump; sets d_parts ("P:N ...",
# or "none"), d_held and d_corrupted ("?" if unknown).
decode() {
	local out
	d_parts="?" d_held="?" d_corrupted="?"
	if [ ! -s "$(dump "$1")" ]; then
		check "host: no dump $(dump "$1")" false
		return 0
	fi
	# Exit 1 means corrupted pages, which the caller checks.
	out=$("$hvdump" decode --base "$base" "$(dump "$1")" 2>/dev/null) || true
	d_parts=$(awk '$1 == "partition" { printf "%s%s:%s", s, $2, $3; s = " " }
		END { if (s == "") printf "none"; print "" }' <<<"$out")
	d_held=$(awk '$1 == "held" { print $2 }' <<<"$out")
	d_corrupted=$(awk '$1 == "corrupted" { print $2 }' <<<"$out")
	: "${d_held:=?}" "${d_corrupted:=?}"
}

# compare CMD A B: hvcarve-dump CMD (diff or held-kept) of the dumps A and
# B; its report goes to $art/CMD-A-B.txt, and what it found (at most 3
# pages) to $detail.
compare() {
	local out=$art/$1-$2-$3.txt a b
	a=$(dump "$2") b=$(dump "$3")
	if [ ! -s "$a" ] || [ ! -s "$b" ]; then
		detail=$(for f in "$a" "$b"; do [ -s "$f" ] || echo "no dump $f"; done)
		return 1
	fi
	"$hvdump" "$1" --base "$base" --max 3 "$a" "$b" >"$out" 2>&1 && return 0
	detail=$(grep -E '^(pfn|\.\.\.|hvcarve-dump:)' "$out" | fold -s -w 86)
	return 1
}

# same A B: A and B are byte-identical.
same() { compare diff "$1" "$2"; }

# kept BEFORE AFTER: every page held in BEFORE is unchanged in AFTER.
kept() { compare held-kept "$1" "$2"; }

# map NAME TITLE: the occupancy map of a dump, 32 pages a cell. The
# partitions of the legend get a line of their own.
map() {
	bold "$2"
	if [ ! -s "$(dump "$1")" ]; then
		echo "  (no dump)"
		return 0
	fi
	"$hvdump" map --base "$base" --width 64 --per-cell 32 "$(dump "$1")" 2>&1 |
		sed 's/^\(legend: .*several partitions\)  \(.\)/\1\n        \2/; s/^/  /' || true
}

# verified GEN: memhog filled the guest's memory and read it all back.
verified() {
	case $(res "$1" memhog) in
	"rc=0 memhog: touched "*", verified") return 0 ;;
	*) return 1 ;;
	esac
}

# told CMDLINE: the carveout parameters on a command line.
told() {
	case " $1 " in
	*" hvcarve="*" memmap="* | *" memmap="*" hvcarve="*) echo "hvcarve= memmap=" ;;
	*" hvcarve="*) echo "hvcarve=" ;;
	*" memmap="*) echo "memmap=" ;;
	*) echo "nothing" ;;
	esac
}

eq() { [ "$1" = "$2" ]; }

# zeroed NAME: dump NAME is the whole carveout and all zero (what QEMU's RAM
# is before anyone wrote it).
zeroed() {
	local f
	f=$(dump "$1")
	if [ ! -s "$f" ] || [ "$(stat -c %s "$f")" -ne "$size" ]; then
		detail="no dump of $size bytes: $f"
		return 1
	fi
	cmp -s -n "$size" "$f" /dev/zero && return 0
	detail=$(cmp -n "$size" "$f" /dev/zero 2>&1 | head -n 1)
	return 1
}

# num X: X if it is a decimal number, else -1 (what the guest reported is
# not trusted into shell arithmetic).
num() {
	case $1 in
	"" | *[!0-9]*) echo -1 ;;
	*) echo "$((10#$1))" ;;
	esac
}

# learnt INHERITED REFUSALS: pages were learnt, one for each refusal.
learnt() { [ "$(num "$1")" -gt 0 ] && [ "$1" = "$2" ]; }

# learn_bound K R: the refusals learning may meet crossing K held pages in R
# runs, from the algorithm drivers/hv/hv_carve_deposit.c describes: two
# refusals of neighbouring pages, then single pages 1, 2, 4, ... further
# on (each plus less than half the step), refused at most log2 L + 1
# times, then a bisection of the last step, less than 3 L pages, refused at
# most log2 L + 2 times: per run of L pages at most 2 log2 L + 5.
learn_bound() {
	local per=$((($1 + $2 - 1) / $2)) lg=0
	while [ $((1 << lg)) -lt "$per" ]; do lg=$((lg + 1)); done
	echo $(($2 * (2 * lg + 5)))
}

# in_runs REFUSALS K R: learning took at least one refusal per run, and no
# more than learn_bound K R.
in_runs() {
	[ "$(num "$3")" -gt 0 ] && [ "$(num "$1")" -ge "$3" ] &&
		[ "$(num "$1")" -le "$(learn_bound "$(num "$2")" "$3")" ]
}

# agree HOST GUEST: the ledger column of the summary.
agree() {
	if [ "$1" = "$2" ]; then echo yes; else echo NO; fi
}

# Summary rows: "gen|kernel|loaded|told|e820|host|held|ledger".
rows=()
row() {
	local IFS='|'
	rows+=("$*")
}

for g in 0 1 2; do
	if [ -z "$(res "$g" uname_r)" ]; then
		bold "Verdict: FAIL -- generation $g never reported; see $art/"
		exit 1
	fi
done
k0=$(res 0 uname_r) k1=$(res 1 uname_r) k2=$(res 2 uname_r)

bold "The host's audit (its own decoder, tools/hvcarve/hvcarve-dump, on the dumps):"

# Step 0 -------------------------------------------------------------------
bold "gen 0: $k0, started by QEMU, told: $(told "$(res 0 cmdline)")"
check "guest: hvcarve state $(res 0 hvcarve_state), $(res 0 hvcarve_region | sed 's/.*\] //')" \
	eq "$(res 0 hvcarve_state)" active
check "guest: it hands the range on as $(res 0 memmap_carveout) (/sys/firmware/memmap)" \
	eq "$(res 0 memmap_carveout)" reserved
check "host: after the first boot, KASLR on, the carveout is all zero: nothing was put in it" \
	zeroed post-boot-gen0
check "guest: deposited $(res 0 dep.deposited_pages) = ledger's held $(res 0 dep.sim_held), peak $(res 0 dep.peak_deposited_pages), withdrawn $(res 0 dep.withdrawn_pages)" \
	eq "$(res 0 dep.deposited_pages) $(res 0 dep.peak_deposited_pages) $(res 0 dep.withdrawn_pages)" \
	"$(res 0 dep.sim_held) 5000 1000"
check "guest: memhog filled 90% of free memory and read it all back" verified 0
decode pre-kexec-gen0
check "host: just before kexec -s: $d_held pages held, $d_corrupted corrupted" \
	eq "$d_held|$d_corrupted" "4000|0"
check "host [$d_parts] = guest's ledger [$(res 0 dep.partitions)] = planned" \
	eq "$d_parts|$(res 0 dep.partitions)" "$want_gen0|$want_gen0"
row 0 "$k0" QEMU "$(told "$(res 0 cmdline)")" "$(res 0 e820_carveout)" \
	"$d_corrupted corrupted" "$d_parts" "$(agree "$d_parts" "$(res 0 dep.partitions)")"
map pre-kexec-gen0 "Occupancy map, gen 0, just before kexec -s:"

# Step 1 -------------------------------------------------------------------
bold "gen 1: $k1, loaded by kexec $(res 0 kexec_mode), told: $(told "$(res 1 cmdline)")"
check "guest: no hvcarve=, no memmap= on its command line: $(res 1 cmdline)" \
	eq "$(told "$(res 1 cmdline)")" nothing
# kexec -s hands on e820_table_kexec, where the carveout has the type
# E820_TYPE_HVCARVE (0xeffffffe). 6.1 does not know it: it prints the
# number, adds only RAM entries to memblock (e820__memblock_setup()), and
# names it "Unknown E820 type" in /sys/firmware/memmap, which kexec-tools
# reads as reserved (kexec/firmware_memmap.c).
check "guest: its boot e820 says $(res 1 e820_carveout) (0xeffffffe, E820_TYPE_HVCARVE: unknown to 6.1, so not RAM)" \
	eq "$(res 1 e820_carveout)" "type $((0xeffffffe))"
check "guest: it hands the range on as $(res 1 memmap_carveout) (/sys/firmware/memmap; kexec-tools reads reserved)" \
	eq "$(res 1 memmap_carveout)" "Unknown E820 type"
check "guest: memhog filled 90% of free memory and read it all back" verified 1
check "host: after kexec -s and boot: byte-identical to gen 0's last dump" \
	same pre-kexec-gen0 post-boot-gen1
host_ok=$passed
check "host: after memory pressure under 6.1, before kexec -l: still byte-identical" \
	same post-boot-gen1 pre-kexec-gen1
host_ok=$((host_ok & passed))
decode pre-kexec-gen1
check "host: [$d_parts], $d_corrupted corrupted: what gen 0's ledger said" \
	eq "$d_parts|$d_corrupted" "$(res 0 dep.partitions)|0"
host=byte-identical
[ "$host_ok" = 1 ] || host=CHANGED
row 1 "$k1" "kexec $(res 0 kexec_mode)" "$(told "$(res 1 cmdline)")" \
	"$(res 1 e820_carveout | sed "s/^type 4026531838$/0xeffffffe/")" "$host" "$d_parts" "n/a"
map pre-kexec-gen1 "Occupancy map, gen 1, just before kexec -l:"

# Step 2: the boot ---------------------------------------------------------
bold "gen 2: $k2, loaded by kexec $(res 1 kexec_mode), told: $(told "$(res 2 cmdline)")"
check "guest: its boot e820 says $(res 2 e820_carveout), before it read $carve" \
	eq "$(res 2 e820_carveout)" reserved
check "guest: hvcarve state $(res 2 hvcarve_state), $(res 2 hvcarve_region | sed 's/.*\] //')" \
	eq "$(res 2 hvcarve_state)|$(res 2 hvcarve_region |
		sed -n 's/.*(inherited from the kernel before kexec)$/inherited/p')" \
	"active|inherited"
check "guest: the simulator rebuilt its ledger from the pages: [$(res 2 boot.partitions)], $(res 2 boot.sim_corrupted) corrupted" \
	eq "$(res 2 boot.partitions)|$(res 2 boot.sim_corrupted)" "$want_gen0|0"
check "host: after kexec -l and boot: byte-identical to gen 1's last dump" \
	same pre-kexec-gen1 post-boot-gen2
host_ok=$passed
decode post-boot-gen2
check "host: [$d_parts], $d_corrupted corrupted: the rebuilt ledger agrees" \
	eq "$d_parts|$d_corrupted" "$(res 2 boot.partitions)|0"
host=byte-identical
[ "$host_ok" = 1 ] || host=CHANGED
row 2 "$k2" "kexec $(res 1 kexec_mode)" "$(told "$(res 2 cmdline)")" \
	"$(res 2 e820_carveout)" "$host" "$d_parts" "$(agree "$d_parts" "$(res 2 boot.partitions)")"

# Step 2: the deposits -----------------------------------------------------
# What the host found held when gen 2 booted, and in how many runs.
held0=$d_held
runs0=0
prev=-2
while read -r pfn _; do
	[ $((pfn)) -eq $((prev + 1)) ] || runs0=$((runs0 + 1))
	prev=$((pfn))
done < <("$hvdump" decode --base "$base" --list "$(dump post-boot-gen2)" 2>/dev/null || true)
inh=$(res 2 end.inherited_pages) skp=$(res 2 end.skipped_pages)
refusals=$(res 2 end.sim_refusals)
total=$(res 2 end.total_pages)
bold "gen 2: deposit $gen2_deposit pages for partition 3, knowing nothing of gen 0's"
check "guest: inherited_pages $inh = the hypervisor's refusals $refusals: learnt, not handed over" \
	learnt "$inh" "$refusals"
check "guest: inherited $inh + skipped $skp = the $held0 pages the host found held at boot: the deposit stepped over all of them" \
	eq "$(($(num "$inh") + $(num "$skp")))" "$held0"
check "guest: $refusals refusals for $held0 held pages in $runs0 run(s): at most $(learn_bound "$held0" "$runs0") (about 2 log2 of a run's length each), not one per page" \
	in_runs "$refusals" "$held0" "$runs0"
check "guest: deposited $(res 2 end.deposited_pages), failed $(res 2 end.deposit_fail_pages), free $(res 2 end.free_pages) = $total - $gen2_deposit - $inh inherited - $skp skipped" \
	eq "$(res 2 end.deposited_pages)|$(res 2 end.deposit_fail_pages)|$(res 2 end.free_pages)" \
	"$gen2_deposit|0|$(($(num "$total") - gen2_deposit - $(num "$inh") - $(num "$skp")))"
check "guest: memhog filled 90% of free memory and read it all back" verified 2
check "host: every page held at boot is unchanged after the deposit and pressure" \
	kept post-boot-gen2 end-gen2
host_ok=$passed
decode end-gen2
check "host: $d_held pages held, $d_corrupted corrupted (the guest's scan: $(res 2 end.sim_corrupted))" \
	eq "$d_corrupted|$(res 2 end.sim_corrupted)" "0|0"
host_ok=$((host_ok & passed))
check "host [$d_parts] = guest's ledger [$(res 2 end.partitions)] = planned" \
	eq "$d_parts|$(res 2 end.partitions)" "$want_gen2|$want_gen2"
host="held kept"
[ "$host_ok" = 1 ] || host="NOT KEPT"
row 2 "+$gen2_deposit for P3" "" "" "" "$host" "$d_parts" \
	"$(agree "$d_parts" "$(res 2 end.partitions)")"
map end-gen2 "Occupancy map, gen 2, after the deposit for partition 3:"

# Summary ------------------------------------------------------------------
bold "Summary"
fmt='  %-3s %-14s %-8s %-16s %-8s %-14s %-20s %s\n'
# shellcheck disable=SC2059 # the format is ours
printf "$fmt" gen kernel loaded told e820 "host: dumps" "held (P:pages)" ledger
for r in "${rows[@]}"; do
	IFS='|' read -r c1 c2 c3 c4 c5 c6 c7 c8 <<<"$r"
	# shellcheck disable=SC2059
	printf "$fmt" "$c1" "$c2" "$c3" "$c4" "$c5" "$c6" "$c7" "$c8"
done
cat <<EOF
  told: carveout parameters on its command line. e820: the range in the boot
  e820 map it was handed (the firmware's, for gen 0); 0xeffffffe is
  E820_TYPE_HVCARVE, which kexec -s hands on and 6.1 does not know, so it
  never takes it for RAM. ledger: the simulated hypervisor's ledger agrees
  with the host's decoding (6.1 has none).
EOF

if [ "$fails" -eq 0 ]; then
	bold "Verdict: PASS -- the carveout crossed both kexecs byte for byte; deposits went on after."
	echo "(${SECONDS}s; serial logs, dumps and results in $art/)"
else
	bold "Verdict: FAIL -- $fails check(s) failed; see $art/"
	echo "(${SECONDS}s)"
	exit 1
fi
