# shellcheck shell=sh
# shellcheck disable=SC2034 # hvt_sim_err is read by the scenarios
# SPDX-License-Identifier: GPL-2.0
#
# Guest helpers for scenarios that deposit through the simulated hypervisor
# (drivers/hv/hv_carve_sim.c). Source after lib.sh: . /hvt/sim.sh

HVT_SIM=/sys/kernel/debug/hvcarve_sim
HVT_HVC=/sys/kernel/mm/hvcarve
HVT_HVCD=/sys/kernel/debug/hvcarve

# hvt_region [N]: the sysfs directory of region N (default 0), counting in
# order of base address; the directories are named region@<hex base>.
hvt_region() {
	for hvt__d in "$HVT_HVC"/region@*; do
		[ -d "$hvt__d" ] && echo "$(($(cat "$hvt__d/base"))) $hvt__d"
	done | sort -n | awk -v n="${1:-0}" 'NR == n + 1 { print $2 }'
}

# hvt_skipped [N]: region N's skipped pages (debugfs: not ABI).
hvt_skipped() {
	hvt__d=$(hvt_region "$1")
	cat "$HVT_HVCD/${hvt__d##*/}/skipped_pages"
}

# hvt_sim_deposit N PARTITION [NODE]: deposit through the glue; returns the
# write's status, and leaves its error text in $hvt_sim_err.
hvt_sim_deposit() {
	hvt_sim_err=$( (echo "$1 $2${3:+ $3}" >"$HVT_SIM/deposit") 2>&1)
}

# hvt_sim_withdraw N PARTITION
hvt_sim_withdraw() {
	hvt_sim_err=$( (echo "$1 $2" >"$HVT_SIM/withdraw") 2>&1)
}

# hvt_sim_ledger KEY: one value of the simulator's ledger.
hvt_sim_ledger() {
	awk -v k="$1" '$1 == k { print $2; exit }' "$HVT_SIM/ledger"
}

# hvt_sim_partition P: pages the simulator holds for partition P.
hvt_sim_partition() {
	awk -v p="$1" '$1 == "partition" && $2 == p { print $3; f = 1 } END { if (!f) print 0 }' "$HVT_SIM/ledger"
}

# hvt_sim_report TAG [REGION]: report region REGION's counters (see
# hvt_region), the global overflow counters and the simulator's ledger (if
# the simulator keeps one) as results "TAG.name value".
hvt_sim_report() {
	hvt__r=$(hvt_region "${2:-0}")
	for hvt__f in free_pages deposited_pages inherited_pages \
		peak_deposited_pages deposit_success_pages deposit_fail_pages \
		withdrawn_pages; do
		hvt_result "$1.$hvt__f" "$(cat "$hvt__r/$hvt__f")"
	done
	hvt_result "$1.skipped_pages" "$(hvt_skipped "${2:-0}")"
	hvt_result "$1.overflow_pages" "$(cat $HVT_HVC/overflow_pages)"
	hvt_result "$1.overflow_cumulative_pages" "$(cat $HVT_HVC/overflow_cumulative_pages)"
	hvt_result "$1.state" "$(cat $HVT_HVC/state)"
	hvt_result "$1.reason" "$(cat $HVT_HVC/reason)"
	# In host mode (hvcarve_sim.host=) the ledger is the host's.
	[ -e "$HVT_SIM/ledger" ] || return 0
	! grep -q '^host ' "$HVT_SIM/ledger" || return 0
	for hvt__f in held refusals corrupted bad_checksum wrong_pfn torn; do
		hvt_result "$1.sim_$hvt__f" "$(hvt_sim_ledger $hvt__f)"
	done
}
