#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: what the carveout costs and saves, measured side by side in
# one run on this machine. Prints a table and writes build/bench/results.json.
#
#   bench.sh [PART...]    PART: alloc learn boot kexec scale (default: all)
#
# Every figure is a ratio or a count measured in this run, with the median
# and the min-max of BENCH_REPS (default 5, at least 5) repetitions and the
# raw values beside it; absolute times are shown only as the raw material
# of a ratio. Nothing here is compared with a constant except the targets
# the table names (a missed target is printed as missed).
#
# The guests run the test kernel (build/kbuild) under QEMU, TCG unless KVM
# is there, with the simulated hypervisor (drivers/hv/hv_carve_sim.c) and
# the benchmark module (drivers/hv/hv_carve_bench.c).
#
#   alloc  the deposit path's own cost per page: 64 MiB per thread in
#          deposits of 511 pages and back, through the pool and through
#          mainline's alloc_pages_node() + split_page() strategy, both
#          behind a null hypercall, with 1 and 4 vCPUs depositing at once;
#          in a 2 GiB guest (320 MiB carved out) and in scale's 256 GiB
#          guest (192 GiB carved out, two vCPUs per node)
#   learn  after a kexec left K pages held in R runs, deposit 5000 pages:
#          backend calls and refusals, against the 2 R ceil(log2(K/R)) +
#          5000/511 + 10 target, and against one call per held page; held
#          pages are planted by the simulator ("hold") before a kexec -s
#          into the same kernel, and one case is repeated with pages held
#          by real deposits before the kexec, to show it is the same state
#   boot   hvcarve's page-state setup at boot for 64 MiB, 1 GiB and 4 GiB;
#          metadata bytes per GiB; MemTotal and the "Memory:" line of a
#          1 GiB carveout against the same range as crashkernel=1G@ADDR
#   kexec  kexec -e to the next kernel's user space, host-timed, with a
#          1 GiB carveout half deposited, against the same guest without
#          hvcarve
#   scale  a root host's size (tests/bats/scale.bats's 256 GiB guest on
#          two nodes): boot to user space, MemTotal, page state and QEMU's
#          peak resident memory for carveouts of 64 MiB to 192 GiB against
#          memmap= and crashkernel= on the same guest; learning past K =
#          10^4 .. 10^7 pages held in 100 runs (the hypervisor model);
#          plots in build/bench/scale-*.svg (scripts/svg-plot.sh)
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
reps=${BENCH_REPS:-5}
out=$top/build/bench
json=$out/results.json

die() { echo "bench: $*" >&2; exit 1; }

case $reps in '' | *[!0-9]*) die "BENCH_REPS must be a number" ;; esac
[ "$reps" -ge 5 ] || die "BENCH_REPS=$reps: at least 5 repetitions"

# The VM helpers of the bats suites, outside bats.
bats_require_minimum_version() { :; }
# shellcheck source=tests/bats/helpers.bash
. "$top/tests/bats/helpers.bash"
export HVT_ARTIFACTS_ROOT=$out/artifacts
HVT_ARTIFACTS_ROOT=$out/artifacts
BATS_TEST_FILENAME=bench
export VM_TIMEOUT=${VM_TIMEOUT:-1800}

[ -f "$NEW_KERNEL" ] || die "no test kernel at $NEW_KERNEL: run 'make all'"
[ -f "$BASE_INITRD" ] || die "no initramfs at $BASE_INITRD: run 'make all'"

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(alloc learn boot kexec scale)
for p in "${parts[@]}"; do
	case $p in alloc | learn | boot | kexec | scale) ;; *) die "unknown part '$p'" ;; esac
done
mkdir -p "$out"

# --- statistics ------------------------------------------------------------

# stats VALUE...: "median min max" (the median of an even count is the
# mean of the middle two).
stats() {
	printf '%s\n' "$@" | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) exit 1
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.6g %.6g %.6g\n", m, v[1], v[NR]
		}'
}

# pairwise EXPR "A..." "B...": EXPR (in a and b) for each pair of the two
# blank-separated lists, one result per line (same repetition, side by side).
pairwise() {
	awk -v as="$2" -v bs="$3" "BEGIN {
		n = split(as, A, \" \"); split(bs, B, \" \")
		for (i = 1; i <= n; i++) { a = A[i]; b = B[i]; printf \"%.6g\\n\", $1 }
	}"
}

# calc EXPR: awk arithmetic, 6 significant digits.
calc() {
	awk "BEGIN { printf \"%.6g\n\", $1 }"
}

# JSON members, collected per part; json_num NAME VALUE... adds
# "NAME": {"median": m, "min": a, "max": b, "values": [...]}.
declare -a J=()
json_stat() {
	local name=$1 m lo hi vals
	shift
	read -r m lo hi < <(stats "$@")
	vals=$(printf '%s, ' "$@")
	J+=("\"$name\": {\"median\": $m, \"min\": $lo, \"max\": $hi, \"values\": [${vals%, }]}")
}
json_raw() { # NAME JSON-VALUE
	J+=("\"$1\": $2")
}

# row LABEL VALUE...: a table row with the median and min-max of VALUEs.
row() {
	local label=$1 m lo hi
	shift
	read -r m lo hi < <(stats "$@")
	printf '  %-46s %12s   [%s - %s]\n' "$label" "$m" "$lo" "$hi"
}

# verdict NAME MET(0|1) TEXT
declare -a V=()
verdict() {
	local word=met
	[ "$2" = 1 ] || word=MISSED
	printf '  target %-40s %s (%s)\n' "$1" "$word" "$3"
	V+=("{\"target\": \"$1\", \"met\": $([ "$2" = 1 ] && echo true || echo false), \"detail\": \"$3\"}")
}

# bench_vm NAME APPEND [vmrun args...] < SCENARIO: one guest; dies if it
# does not end with DONE.
bench_vm() {
	local name=$1 append=$2
	shift 2
	BATS_TEST_NAME=$name
	vm_run - "$append" "$@" || die "$name: guest failed (exit $VM_RC); artifacts in $(vm_artifacts)"
}

# res KEY [GEN]: a result of the last guest.
res() {
	result "$@" || die "$BATS_TEST_NAME: no result $1"
}

# field NAME LINE: the value after "NAME " or "NAME=" in LINE.
field() {
	printf '%s\n' "$2" | awk -v k="$1" '{
		for (i = 1; i <= NF; i++) {
			if ($i == k) { print $(i + 1); exit }
			if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit }
		}
		exit 1 }'
}

# --- alloc: the deposit path's cost per page ---------------------------------

PAGES_PER_THREAD=16384 # 64 MiB of 4 KiB pages

# alloc_case LABEL SUFFIX APPEND [VMARGS...]: one guest's runs; the table
# rows name LABEL, the JSON names end in SUFFIX.
alloc_case() {
	local label=$1 sfx=$2 append=$3 t mode rep line d w m
	shift 3
	echo "alloc ($label): pool against the page allocator, $reps x {1, 4} threads" >&2
	bench_vm "alloc$sfx" "$append" "$@" <<EOF
. /hvt/sim.sh
B=/sys/kernel/debug/hvcarve_bench
free_all() { cat "\$HVT_HVC"/region@*/free_pages | awk '{ s += \$1 } END { print s }'; }
total=\$(free_all)
for rep in \$(seq 1 $reps); do
	for t in 1 4; do
		for mode in pool buddy; do
			echo "\$mode \$t $PAGES_PER_THREAD" >\$B/run || hvt_fail "bench \$mode \$t failed"
			hvt_result "alloc.\$mode.\$t.\$rep" "\$(cat \$B/result)"
			[ "\$(free_all)" = "\$total" ] ||
				hvt_fail "the pool did not get its pages back after \$mode \$t"
		done
	done
done
hvt_done
EOF
	echo "Deposit path, $label, ns per page (null hypercall; median [min - max] of $reps)"
	local what
	for t in 1 4; do
		local -A v=()
		for rep in $(seq 1 "$reps"); do
			for mode in pool buddy; do
				line=$(res "alloc.$mode.$t.$rep")
				d=$(field deposit_ns "$line")
				w=$(field withdraw_ns "$line")
				v[$mode.deposit]+="$(calc "$d / ($t * $PAGES_PER_THREAD)") "
				v[$mode.withdraw]+="$(calc "$w / ($t * $PAGES_PER_THREAD)") "
				v[$mode.both]+="$(calc "($d + $w) / ($t * $PAGES_PER_THREAD)") "
			done
		done
		for what in deposit withdraw both; do
			local -a p b r
			read -r -a p <<<"${v[pool.$what]}"
			read -r -a b <<<"${v[buddy.$what]}"
			mapfile -t r < <(pairwise "b / a" "${v[pool.$what]}" "${v[buddy.$what]}")
			row "$what, $t vCPU(s): pool" "${p[@]}"
			row "$what, $t vCPU(s): alloc_pages_node + split_page" "${b[@]}"
			row "$what, $t vCPU(s): ratio buddy / pool" "${r[@]}"
			json_stat "pool_${what}_ns_per_page_${t}cpu$sfx" "${p[@]}"
			json_stat "buddy_${what}_ns_per_page_${t}cpu$sfx" "${b[@]}"
			json_stat "ratio_${what}_${t}cpu$sfx" "${r[@]}"
		done
		read -r m _ < <(stats "${r[@]}")
		verdict "pool >= 10x cheaper, $t vCPU(s), $label" "$(awk -v m="$m" 'BEGIN { print (m >= 10) }')" \
			"median ratio $m, deposit and withdraw"
	done
}

bench_alloc() {
	J=()
	VM_MEM=2G alloc_case "320 MiB carveout" "" "nokaslr hvcarve=320M@0x40000000" --smp 4
	# The large size: the scale part's 256 GiB guest, 192 GiB carved out,
	# two vCPUs per node. lazy_scan: the simulator, which this part does
	# not use, must not read 192 GiB.
	# shellcheck disable=SC2054 # commas inside QEMU option values
	alloc_case "192 GiB carveout" _large \
		"nokaslr hvcarve=96G@$SCALE_LO,96G@$SCALE_HI hvcarve_sim.lazy_scan=1" \
		--mem 256G --smp 4,sockets=2 --memdev m0:128G --memdev m1:128G \
		--numa "node,nodeid=0,cpus=0-1,memdev=m0" --numa "node,nodeid=1,cpus=2-3,memdev=m1"
	ALLOC_JSON=$(IFS=,; echo "{${J[*]}}")
}

# --- learn: learning after a kexec -------------------------------------------

LEARN_BASE_PFN=0x100000	# the carveout below starts at 4 GiB
LEARN_DEPOSIT=5000
LEARN_GAP=1000		# free pages between the runs of R = 3

# learn_scenario K SHAPE: one learning guest, which plants K held pages
# (SHAPE 1: one run; 3: three runs LEARN_GAP apart; frag: one by one,
# every other page) where the new kernel's pool starts, goes through a
# kexec -s into the same kernel, and deposits. Learning runs only in a
# region an earlier kernel deposited from: on a cold boot a refusal is a
# contradiction, and the carveout is distrusted.
learn_scenario() {
	local shape
	case $2 in
	1) shape="" ;;
	3) shape="$((($1 + 2) / 3)) $LEARN_GAP" ;;
	frag) shape="1 1" ;;
	esac
	cat <<EOF
. /hvt/sim.sh
R0=\$(hvt_region)
if [ "\$(hvt_gen)" = 0 ]; then
	echo "$LEARN_BASE_PFN $1 99 $shape" >\$HVT_SIM/hold || hvt_fail "hold failed"
	hvt_kexec -s /boot/vmlinuz-new "\$(sed 's/^console=ttyS0 //' /proc/cmdline)"
fi
c0=\$(hvt_sim_ledger deposit_calls)
r0=\$(hvt_sim_ledger refusals)
hvt_sim_deposit $LEARN_DEPOSIT 100 || hvt_fail "deposit: \$hvt_sim_err"
ns=\$(awk '\$1 == "last_deposit" { for (i = 2; i <= NF; i++) if (\$i ~ /^ns=/) print substr(\$i, 4) }' \$HVT_SIM/ledger)
hvt_result learn "calls \$((\$(hvt_sim_ledger deposit_calls) - c0)) refusals \$((\$(hvt_sim_ledger refusals) - r0)) ns \$ns inherited \$(cat \$R0/inherited_pages) skipped \$(hvt_skipped)"
hvt_done
EOF
}

# learn_kexec_scenario CMDLINE: the same state as "hold 30000" through a
# real kexec: deposit 30000 pages, kexec -s into the same kernel with
# CMDLINE, deposit 5000.
learn_kexec_scenario() {
	cat <<EOF
. /hvt/sim.sh
R0=\$(hvt_region)
if [ "\$(hvt_gen)" = 0 ]; then
	hvt_sim_deposit 30000 99 || hvt_fail "deposit 30000: \$hvt_sim_err"
	hvt_kexec -s /boot/vmlinuz-new "$1"
fi
c0=\$(hvt_sim_ledger deposit_calls)
r0=\$(hvt_sim_ledger refusals)
hvt_sim_deposit $LEARN_DEPOSIT 100 || hvt_fail "deposit: \$hvt_sim_err"
hvt_result learn.kexec "calls \$((\$(hvt_sim_ledger deposit_calls) - c0)) refusals \$((\$(hvt_sim_ledger refusals) - r0)) inherited \$(cat \$R0/inherited_pages) skipped \$(hvt_skipped)"
hvt_done
EOF
}

bench_learn() {
	# 2.5 GiB: room for 250000 pages held one by one
	local carve="hvcarve=2560M@0x100000000" k shape rep line bound base
	echo "learn: 9 cases x $reps, each in a new guest, and one through a real kexec" >&2
	local -A got=()
	for rep in $(seq 1 "$reps"); do
		for k in 1000 30000 250000; do
			for shape in 1 3 frag; do
				VM_MEM=5G bench_vm "learn-$k-$shape-$rep" "nokaslr $carve" \
					< <(learn_scenario "$k" "$shape")
				got[$k.$shape.$rep]=$(res learn 1)
			done
		done
	done
	echo "Learning after a kexec: backend calls to deposit $LEARN_DEPOSIT pages"
	J=()
	local -a cases=()
	for k in 1000 30000 250000; do
		for shape in 1 3 frag; do
			local -a calls=() refusals=() nsp=() vsbase=() hidden=()
			for rep in $(seq 1 "$reps"); do
				line=${got[$k.$shape.$rep]}
				calls+=("$(field calls "$line")")
				refusals+=("$(field refusals "$line")")
				nsp+=("$(calc "$(field ns "$line") / $LEARN_DEPOSIT")")
				# Free pages learning passed over with the held ones
				# (between runs): kept for when the pool runs low.
				[ "$shape" = frag ] ||
					hidden+=("$(($(field inherited "$line") + $(field skipped "$line") - k))")
			done
			# One call per held page met, plus the batches.
			if [ "$shape" = frag ]; then
				base=$(calc "($k < $LEARN_DEPOSIT ? $k : $LEARN_DEPOSIT) + int(($LEARN_DEPOSIT + 510) / 511)")
			else
				base=$(calc "$k + int(($LEARN_DEPOSIT + 510) / 511)")
			fi
			for c in "${calls[@]}"; do vsbase+=("$(calc "$c / $base")"); done
			row "K=$k R=$shape: calls" "${calls[@]}"
			row "K=$k R=$shape: refusals" "${refusals[@]}"
			row "K=$k R=$shape: calls / one-per-held-page ($base)" "${vsbase[@]}"
			[ "$shape" = frag ] || row "K=$k R=$shape: free pages skipped with the runs" "${hidden[@]}"
			row "K=$k R=$shape: ns per deposited page (with sim)" "${nsp[@]}"
			J=()
			json_stat calls "${calls[@]}"
			json_stat refusals "${refusals[@]}"
			json_stat ns_per_page "${nsp[@]}"
			json_stat calls_vs_one_per_page "${vsbase[@]}"
			json_raw one_per_page_calls "$base"
			[ "$shape" = frag ] || json_stat free_pages_skipped "${hidden[@]}"
			if [ "$shape" != frag ]; then
				bound=$(calc "2 * $shape * int(log($k / $shape) / log(2) + 0.999999) + $LEARN_DEPOSIT / 511 + 10")
				json_raw target_calls "$bound"
				read -r m lo hi < <(stats "${calls[@]}")
				verdict "K=$k R=$shape calls <= $bound" \
					"$(awk -v h="$hi" -v b="$bound" 'BEGIN { print (h <= b) }')" "at most $hi"
			fi
			cases+=("\"K${k}_R${shape}\": {$(IFS=,; echo "${J[*]}")}")
		done
	done

	VM_MEM=5G bench_vm learn-kexec "nokaslr $carve" < <(learn_kexec_scenario "nokaslr $carve")
	line=$(res learn.kexec 1)
	# Probes are jittered (hv_carve_skip_run()), so a real kexec matches the
	# planted state in kind, not call for call: within the same bound.
	local kc hc=() m lo hi
	kc=$(field calls "$line")
	for rep in $(seq 1 "$reps"); do hc+=("$(field calls "${got[30000.1.$rep]}")"); done
	read -r m lo hi < <(stats "${hc[@]}")
	bound=$(calc "2 * int(log(30000) / log(2) + 0.999999) + $LEARN_DEPOSIT / 511 + 10")
	printf '  %-46s %12s   (hold: %s..%s)\n' "K=30000 R=1 through a real kexec: calls" "$kc" "$lo" "$hi"
	verdict "real kexec like the planted state: K=30000 R=1 calls <= $bound" \
		"$(awk -v k="$kc" -v b="$bound" 'BEGIN { print (k <= b) }')" "kexec $kc calls, hold $lo..$hi"
	cases+=("\"K30000_R1_kexec\": {\"calls\": $kc, \"refusals\": $(field refusals "$line")}")
	LEARN_JSON="{$(IFS=,; echo "${cases[*]}")}"
}

# --- boot: setup cost and memory ---------------------------------------------

BOOT_BASE=0x100000000

boot_scenario() {
	cat <<'EOF'
hvt_result memtotal_kb "$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)"
hvt_result memory_line "$(dmesg | sed -n 's/.*\] Memory: //p' | head -n 1)"
hvt_result setup "$(dmesg | sed -n 's/.*hvcarve: page state of \([0-9]*\) pages set up in \([0-9]*\) cycles/pages \1 cycles \2/p')"
hvt_result state_bytes "$(dmesg | sed -n 's/.*hvcarve: region 0: node [0-9-]*, \([0-9]*\) bytes of page state/\1/p')"
hvt_done
EOF
}

# boot_to_userspace: seconds from QEMU's start to the guest's first
# control line (host clock).
boot_to_userspace() {
	awk '/< .*@@HVT BOOT gen=0/ { print $1; f = 1; exit } END { exit !f }' \
		"$(vm_artifacts)/control.log"
}

bench_boot() {
	local rep size name line
	echo "boot: {64M, 1G, 4G, crashkernel=1G} x $reps" >&2
	local -A cyc=() memtotal=() memline=() bytes=() userspace=()
	for rep in $(seq 1 "$reps"); do
		for size in 64M 1G 4G crash; do
			name=boot-$size-$rep
			if [ "$size" = crash ]; then
				VM_MEM=6G bench_vm "$name" "nokaslr crashkernel=1G@$BOOT_BASE hvcarve_sim.lazy_scan=1" \
					< <(boot_scenario)
			else
				VM_MEM=6G bench_vm "$name" "nokaslr hvcarve=$size@$BOOT_BASE hvcarve_sim.lazy_scan=1" \
					< <(boot_scenario)
				line=$(res setup)
				cyc[$size]+="$(field cycles "$line") "
				bytes[$size]=$(res state_bytes)
			fi
			memtotal[$size]+="$(res memtotal_kb) "
			userspace[$size]+="$(boot_to_userspace) "
			memline[$size]=$(res memory_line)
		done
	done
	echo "Boot: hvcarve's page-state setup (hvcarve_pool_init), get_cycles()"
	J=()
	local s
	for s in 64M 1G 4G; do
		# shellcheck disable=SC2086 # lists of numbers
		row "$s carveout: setup (cycles)" ${cyc[$s]}
		# shellcheck disable=SC2086
		json_stat "setup_cycles_$s" ${cyc[$s]}
	done
	local -a r
	mapfile -t r < <(pairwise "a / b" "${cyc[4G]}" "${cyc[64M]}")
	row "ratio 4G / 64M setup" "${r[@]}"
	json_stat ratio_setup_4G_64M "${r[@]}"
	read -r m _ < <(stats "${r[@]}")
	verdict "4 GiB setup <= 2x 64 MiB" "$(awk -v m="$m" 'BEGIN { print (m <= 2) }')" \
		"median ratio $m: zeroing two bits of page state per page"
	# The whole boot, for scale: QEMU start to user space.
	mapfile -t r < <(pairwise "a / b" "${userspace[4G]}" "${userspace[64M]}")
	row "ratio 4G / 64M, QEMU start to user space" "${r[@]}"
	json_stat ratio_boot_4G_64M "${r[@]}"

	echo "Memory"
	local per_gib
	per_gib=${bytes[1G]}
	printf '  %-46s %12s\n' "page state per GiB of carveout (bytes)" "$per_gib"
	json_raw state_bytes_per_gib "$per_gib"
	verdict "metadata <= 32 KiB per GiB + a constant" \
		"$([ "$per_gib" -le 32768 ] && echo 1 || echo 0)" "$per_gib bytes per GiB: two bits per page"
	local -a saved
	mapfile -t saved < <(pairwise "(a - b) / 1024" "${memtotal[1G]}" "${memtotal[crash]}")
	row "MemTotal, hvcarve=1G minus crashkernel=1G (MiB)" "${saved[@]}"
	json_stat memtotal_saved_mib_per_gib "${saved[@]}"
	printf '  %-46s %s\n' "Memory: with hvcarve=1G" "${memline[1G]}"
	printf '  %-46s %s\n' "Memory: with crashkernel=1G" "${memline[crash]}"
	json_raw memory_line_hvcarve "\"${memline[1G]}\""
	json_raw memory_line_crashkernel "\"${memline[crash]}\""
	BOOT_JSON=$(IFS=,; echo "{${J[*]}}")
}

# --- kexec: latency ------------------------------------------------------------

HALF_PAGES=131072 # half of 1 GiB

# kexec_scenario CMDLINE: deposit half the carveout if there is one, then
# kexec -s into the same kernel with CMDLINE.
kexec_scenario() {
	cat <<EOF
. /hvt/sim.sh
if [ "\$(hvt_gen)" = 0 ]; then
	if [ -n "\$(hvt_region)" ]; then
		hvt_sim_deposit $HALF_PAGES 1 || hvt_fail "deposit: \$hvt_sim_err"
	fi
	hvt_kexec -s /boot/vmlinuz-new "$1"
fi
hvt_done
EOF
}

# kexec_latency: seconds from the last control line before kexec -e (the
# taint report) to the next generation's BOOT line, host clock.
kexec_latency() {
	awk '
		/< @@HVT TAINT/ && !boot1 { t = $1 }
		/< @@HVT BOOT gen=1/ { print $1 - t; boot1 = 1; exit }
		END { if (!boot1) exit 1 }' "$(vm_artifacts)/control.log"
}

bench_kexec() {
	local rep with without
	echo "kexec: with and without a half-deposited 1 GiB carveout, $reps x 2" >&2
	local -a w=() wo=() r=()
	for rep in $(seq 1 "$reps"); do
		with="nokaslr hvcarve=1G@$BOOT_BASE hvcarve_sim.lazy_scan=1"
		VM_MEM=4G bench_vm "kexec-with-$rep" "$with" < <(kexec_scenario "$with")
		w+=("$(kexec_latency)") || die "no kexec in kexec-with-$rep"
		without="nokaslr hvcarve_sim.lazy_scan=1"
		VM_MEM=4G bench_vm "kexec-without-$rep" "$without" < <(kexec_scenario "$without")
		wo+=("$(kexec_latency)") || die "no kexec in kexec-without-$rep"
		r+=("$(calc "${w[-1]} / ${wo[-1]}")")
	done
	echo "kexec -e to the next user space (host clock, s)"
	J=()
	row "1 GiB carveout, half deposited (s)" "${w[@]}"
	row "no hvcarve (s)" "${wo[@]}"
	row "ratio" "${r[@]}"
	json_stat with_s "${w[@]}"
	json_stat without_s "${wo[@]}"
	json_stat ratio "${r[@]}"
	read -r m _ < <(stats "${r[@]}")
	verdict "kexec latency ratio <= 1.05" "$(awk -v m="$m" 'BEGIN { print (m <= 1.05) }')" "median ratio $m"
	KEXEC_JSON=$(IFS=,; echo "{${J[*]}}")
}

# --- scale: a root host's size (issue 19) ----------------------------------------

# The guest of tests/bats/scale.bats: 256 GiB on two nodes, each node's RAM
# a backend of its own (memory-backend-ram, reserve=off: the host gives it
# memory where the guest writes). Node 0 is GPA [0, 2 GiB) + [4, 130 GiB),
# node 1 [130, 258 GiB). A carveout of SIZE is two ranges of SIZE / 2, one
# per node, at 8 GiB and 134 GiB; crashkernel= takes one range, SIZE@8G.
SCALE_SIZES=(64M 4G 64G 192G)
# shellcheck disable=SC2054 # commas inside QEMU option values
SCALE_VM=(--mem 256G --smp 2,sockets=2 --memdev m0:128G --memdev m1:128G
	--numa "node,nodeid=0,cpus=0,memdev=m0"
	--numa "node,nodeid=1,cpus=1,memdev=m1")
SCALE_LO=0x200000000	# 8 GiB
SCALE_HI=0x2180000000	# 134 GiB
# Learning: the top of node 1 as one 60 GiB region, K pages held in 100
# runs one page apart from its base, by the model (unfilled).
SCALE_TOP=0x3180000000	# 198 GiB
SCALE_KS=(0 10000 100000 1000000 10000000)

# size_mib SIZE: 64M, 4G... in MiB.
size_mib() {
	case $1 in
	*M) echo "${1%M}" ;;
	*G) echo $((${1%G} * 1024)) ;;
	esac
}

scale_scenario() {
	cat <<'EOF'
hvt_result memtotal_kb "$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)"
hvt_result state_bytes "$(dmesg | sed -n 's/.*hvcarve: region [0-9]*: node [0-9-]*, \([0-9]*\) bytes of page state/\1/p' | awk '{ s += $1 } END { print s + 0 }')"
hvt_result crash_reserved "$(dmesg | grep -c 'crashkernel reserved: ')"
hvt_done
EOF
}

# scale_append CONFIG SIZE: the kernel command line of one boot.
scale_append() {
	local half
	half="$(($(size_mib "$2") / 2))M"
	case $1 in
	hvcarve) echo "nokaslr hvcarve=$half@$SCALE_LO,$half@$SCALE_HI hvcarve_sim.lazy_scan=1" ;;
	memmap) echo "nokaslr memmap=$half\$$SCALE_LO,$half\$$SCALE_HI hvcarve_sim.lazy_scan=1" ;;
	crashkernel) echo "nokaslr crashkernel=$2@$SCALE_LO hvcarve_sim.lazy_scan=1" ;;
	esac
}

# scale_order REP: hvcarve, memmap and crashkernel, rotated by REP.
scale_order() {
	local all=(hvcarve memmap crashkernel) i
	for i in 0 1 2; do
		echo "${all[(i + $1) % 3]}"
	done
}

# host_kib KEY: a figure of the last guest's host-memory.txt.
host_kib() {
	awk -v k="$1" '$1 == k { print $2; f = 1 } END { exit !f }' "$(vm_artifacts)/host-memory.txt"
}

# learn_scale_scenario: kexec -s into the same kernel, then 5000 pages on
# node 1, marked on the host clock (control.log) and checkpointed for the
# model's call count.
learn_scale_scenario() {
	cat <<'EOF'
. /hvt/sim.sh
if [ "$(hvt_gen)" = 0 ]; then
	hvt_kexec -s /boot/vmlinuz-new "$(sed 's/^console=ttyS0 //' /proc/cmdline)"
fi
hvt_ckpt before
hvt_result mark before
hvt_sim_deposit 5000 5 1 || hvt_fail "deposit: $hvt_sim_err"
hvt_result mark after
hvt_ckpt after
top=$(hvt_region 2)
hvt_result top "$(cat "$top/deposited_pages") $(cat "$top/inherited_pages") $(hvt_skipped 2)"
hvt_done
EOF
}

# control_at REGEX: host seconds of the first control line matching REGEX.
control_at() {
	awk -v re="$1" '$0 ~ re { print $1; f = 1; exit } END { exit !f }' "$(vm_artifacts)/control.log"
}

bench_scale() {
	local rep size cfg name k kib margs art v c0 c1 t0 t1 tk
	echo "scale: {${SCALE_SIZES[*]}} x {hvcarve, memmap, crashkernel} x $reps, then learning for K = ${SCALE_KS[*]} x $reps" >&2
	local -A boot=() memt=() state=() nocrash=() rss=() ncalls=() learn=() kx=() learnt=()
	for rep in $(seq 1 "$reps"); do
		# A boot not counted first: the first guest of a series booted
		# slower (up to 3x, whatever its command line).
		bench_vm "scale-warmup-$rep" "$(scale_append memmap 64M)" "${SCALE_VM[@]}" \
			< <(scale_scenario)
		for size in "${SCALE_SIZES[@]}"; do
			# The three in turn, each first in one repetition of three.
			for cfg in $(scale_order "$rep"); do
				name=scale-$cfg-$size-$rep
				bench_vm "$name" "$(scale_append "$cfg" "$size")" "${SCALE_VM[@]}" \
					< <(scale_scenario)
				boot[$cfg.$size]+="$(boot_to_userspace) "
				memt[$cfg.$size]+="$(res memtotal_kb) "
				kib=$(host_kib qemu_VmHWM) || die "$name: no qemu_VmHWM in host-memory.txt"
				rss[$cfg.$size]+="$((kib / 1024)) "
				[ "$cfg" != hvcarve ] || state[$size]=$(res state_bytes)
				# crashkernel= takes one range, which may not be free.
				[ "$cfg" != crashkernel ] || [ "$(res crash_reserved)" = 1 ] ||
					nocrash[$size]=1
			done
		done
		for k in "${SCALE_KS[@]}"; do
			margs=(--carveout "$SCALE_TOP:0xf00000000" --carveout "$SCALE_HI:0xc00000000"
				--carveout "$SCALE_LO:0xc00000000" --lp-pages 0)
			[ "$k" = 0 ] || margs+=(--hold-runs "$SCALE_TOP:$k:100:1:7")
			bench_vm "scale-learn-$k-$rep" \
				"nokaslr hvcarve=60G@$SCALE_TOP,48G@$SCALE_HI,48G@$SCALE_LO hvcarve_sim.host=0x3e8" \
				"${SCALE_VM[@]}" --hv-model "${margs[*]}" < <(learn_scale_scenario)
			art=$(vm_artifacts)
			if ! c1=$(hv_ledger calls_deposit "$art/dumps/after.hv-ledger") ||
				! c0=$(hv_ledger calls_deposit "$art/dumps/before.hv-ledger") ||
				! t1=$(control_at '@@HVT RESULT mark after') ||
				! t0=$(control_at '@@HVT RESULT mark before') ||
				! tk=$(kexec_latency); then
				die "scale-learn-$k-$rep: a figure is missing; artifacts in $art"
			fi
			ncalls[$k]+="$((c1 - c0)) "
			learn[$k]+="$(calc "$t1 - $t0") "
			kx[$k]+="$tk "
			learnt[$k]=$(res top 1)
		done
	done

	J=()
	local -a r=() v=()
	local m lo hi s gib plot peer
	echo "Scale: 256 GiB guest on 2 nodes; carveout in two ranges, one per node"
	plot=$out/scale-plots.txt
	: >"$plot"
	for size in "${SCALE_SIZES[@]}"; do
		gib=$(calc "$(size_mib "$size") / 1024")
		# Boot against the cheaper peer of each repetition; crashkernel=
		# only where it reserved its range every time.
		[ -z "${nocrash[$size]:-}" ] ||
			printf '  %-46s\n' "$size: crashkernel=$size@$SCALE_LO not reserved: left out"
		peer=''
		[ -n "${nocrash[$size]:-}" ] || peer=${boot[crashkernel.$size]}
		mapfile -t r < <(awk -v h="${boot[hvcarve.$size]}" -v m="${boot[memmap.$size]}" \
			-v c="$peer" 'BEGIN {
				n = split(h, H, " "); split(m, M, " "); split(c, C, " ")
				for (i = 1; i <= n; i++) printf "%.6g\n", H[i] / (C[i] == "" || M[i] < C[i] ? M[i] : C[i]) }')
		# shellcheck disable=SC2086 # lists of numbers
		{
		row "$size: boot to user space, hvcarve (s)" ${boot[hvcarve.$size]}
		row "$size: boot to user space, memmap=\$ (s)" ${boot[memmap.$size]}
		row "$size: boot to user space, crashkernel= (s)" ${boot[crashkernel.$size]}
		row "$size: boot ratio, hvcarve / cheaper peer" "${r[@]}"
		json_stat "boot_ratio_$size" "${r[@]}"
		read -r m _ < <(stats "${r[@]}")
		echo "boot_ratio $gib $m" >>"$plot"
		for cfg in hvcarve memmap crashkernel; do
			mapfile -t v < <(for m in ${memt[$cfg.$size]}; do echo $((m / 1024)); done)
			row "$size: MemTotal, $cfg (MiB)" "${v[@]}"
			read -r m _ < <(stats ${memt[$cfg.$size]})
			[ "$cfg.${nocrash[$size]:-}" = crashkernel.1 ] ||
				echo "memtotal_$cfg $gib $(calc "$m / 1024 / 1024")" >>"$plot"
			json_stat "memtotal_kb_${cfg}_$size" ${memt[$cfg.$size]}
			row "$size: host memory of QEMU (peak, MiB), $cfg" ${rss[$cfg.$size]}
			json_stat "qemu_peak_mib_${cfg}_$size" ${rss[$cfg.$size]}
			read -r m _ < <(stats ${rss[$cfg.$size]})
			echo "rss_$cfg $gib $m" >>"$plot"
		done
		mapfile -t v < <(pairwise "(a - b)" "${memt[hvcarve.$size]}" "${memt[memmap.$size]}")
		row "$size: MemTotal hvcarve minus memmap=\$ (KiB)" "${v[@]}"
		json_stat "memtotal_hvcarve_minus_memmap_kb_$size" "${v[@]}"
		s=$(calc "${state[$size]} / $gib")
		printf '  %-46s %12s\n' "$size: page state per GiB of carveout (bytes)" "$s"
		json_raw "state_bytes_per_gib_$size" "$s"
		echo "state_per_gib $gib $s" >>"$plot"
		}
	done
	read -r m _ < <(stats "${r[@]}")
	verdict "192G boot <= 1.05x the cheaper peer" "$(awk -v m="$m" 'BEGIN { print (m <= 1.05) }')" "median ratio $m"
	read -r _ lo _ < <(stats "${v[@]}")
	verdict "192G MemTotal: hvcarve gives up no more than memmap=\$" "$(awk -v m="$lo" 'BEGIN { print (m >= 0) }')" \
		"hvcarve minus memmap=\$ at least $lo KiB"
	verdict "192G page state <= 32 KiB per GiB" "$(awk -v m="$s" 'BEGIN { print (m <= 32768) }')" \
		"$s bytes per GiB: two bitmaps, one bit each per page"

	echo "Learning in the 256 GiB guest: 5000 pages past K held pages in 100 runs, after kexec -s"
	local bound
	for k in "${SCALE_KS[@]}"; do
		# shellcheck disable=SC2086 # lists of numbers
		{
		row "K=$k: deposit calls" ${ncalls[$k]}
		row "K=$k: deposit wall time (s, host)" ${learn[$k]}
		json_stat "learn_calls_K$k" ${ncalls[$k]}
		json_stat "learn_seconds_K$k" ${learn[$k]}
		mapfile -t r < <(pairwise "(a + b) / a" "${kx[$k]}" "${learn[$k]}")
		row "K=$k: (kexec + deposit) / kexec" "${r[@]}"
		json_stat "generation_ratio_K$k" "${r[@]}"
		read -r m _ < <(stats "${r[@]}")
		echo "generation_ratio $k $m" >>"$plot"
		read -r m lo hi < <(stats ${ncalls[$k]})
		}
		[ "$k" = 0 ] && continue
		bound=$(call_bound "$k" 100 5000)
		echo "calls $k $m" >>"$plot"
		echo "bound $k $bound" >>"$plot"
		json_raw "learn_bound_K$k" "$bound"
		verdict "K=$k R=100 calls <= $bound" "$(awk -v h="$hi" -v b="$bound" 'BEGIN { print (h <= b) }')" \
			"at most $hi; learnt (deposited inherited skipped): ${learnt[$k]}"
	done
	read -r m _ < <(stats "${r[@]}")
	verdict "K=10^7 generation (kexec + learning) <= 1.05x kexec alone" \
		"$(awk -v m="$m" 'BEGIN { print (m <= 1.05) }')" "median ratio $m"
	scale_plots "$plot"
	SCALE_JSON=$(IFS=,; echo "{${J[*]}}")
}

# plot NAME TITLE XLABEL YLABEL < DATA: $out/NAME.svg (scripts/svg-plot.sh,
# which writes it only when it succeeds). It runs in a pipeline, where a
# failure would stop nothing: scale_plots checks that every plot is there.
plot() {
	"$top/scripts/svg-plot.sh" "$2" "$3" "$4" "$out/$1.svg"
}

# scale_plots FILE: the SVGs beside results.json, from "NAME X Y" lines.
scale_plots() {
	local ticks name
	rm -f -- "$out"/scale-*.svg
	ticks=$(printf -- '- 0.0625 64M\n- 4 4G\n- 64 64G\n- 192 192G\n')
	{ awk '$1 == "boot_ratio" { print "hvcarve/peer", $2, $3 }' "$1"; echo "$ticks"; } |
		plot scale-boot "Boot to user space: hvcarve / cheaper peer" carveout "ratio (median)"
	{ awk '$1 ~ /^memtotal_/ { sub(/^memtotal_/, "", $1); print }' "$1"; echo "$ticks"; } |
		plot scale-memtotal "MemTotal of the 256 GiB guest" carveout "GiB (median)"
	{ awk '$1 ~ /^rss_/ { sub(/^rss_/, "", $1); print }' "$1"; echo "$ticks"; } |
		plot scale-host-memory "QEMU peak resident memory on the host" carveout "MiB (median)"
	{ awk '$1 == "state_per_gib" { print "hvcarve", $2, $3; print "target", $2, 32768 }' "$1"; echo "$ticks"; } |
		plot scale-state "Page state per GiB of carveout" carveout bytes
	awk '$1 == "calls" || $1 == "bound"' "$1" |
		plot scale-learn "Learning: calls for 5000 pages past K held (100 runs)" K "deposit calls (median)"
	awk '$1 == "generation_ratio" && $2 > 0 { print "kexec+learning/kexec", $2, $3 }' "$1" |
		plot scale-generation "Learning's cost in the kexec generation" K "ratio (median)"
	for name in boot memtotal host-memory state learn generation; do
		[ -s "$out/scale-$name.svg" ] || die "cannot plot scale-$name.svg"
	done
}

# --- main ------------------------------------------------------------------------

ALLOC_JSON=null LEARN_JSON=null BOOT_JSON=null KEXEC_JSON=null SCALE_JSON=null
echo "hvcarve bench: $reps repetitions, $(nproc) host CPUs, kernel $NEW_KERNEL"
for p in "${parts[@]}"; do
	"bench_$p"
done
# How QEMU ran the last guest (vmrun.sh picks KVM when it can).
accel=$(sed -n 's/.* start accel=\([a-z]*\).*/\1/p' "$(vm_artifacts)/timeline.txt" | head -n 1)
echo "bench: QEMU accelerator: ${accel:-unknown}"

{
	printf '{\n  "repetitions": %s,\n  "accel": "%s",\n  "host_cpus": %s,\n' "$reps" "$accel" "$(nproc)"
	printf '  "date": "%s",\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	printf '  "alloc": %s,\n  "learn": %s,\n  "boot": %s,\n  "kexec": %s,\n  "scale": %s,\n' \
		"$ALLOC_JSON" "$LEARN_JSON" "$BOOT_JSON" "$KEXEC_JSON" "$SCALE_JSON"
	printf '  "targets": [%s]\n}\n' "$(IFS=,; echo "${V[*]}")"
} >"$json"
echo "bench: results in $json"
