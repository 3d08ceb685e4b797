#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# Several CPUs. The simulator's stress runs one thread per vCPU, each
# depositing and withdrawing random numbers of pages for random partitions
# through the real glue and pool, for a bounded time with a fixed seed.
# Afterwards the counters, the simulator's ledger and the host's decode of a
# dump must agree, and no counter may have wrapped. Then the same with
# kexec -e racing the stress.
#
#   HVT_STRESS_SECONDS  length of each stress run (default 15)
#   HVT_SEED            its seed (default 4242)

load helpers
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

DUMP=$HVT_ROOT/tools/hvcarve/hvcarve-dump
CARVE_BASE=0x3a000000
SECONDS_=${HVT_STRESS_SECONDS:-15}
SEED=${HVT_SEED:-4242}

teardown() {
	hvt_teardown
}

r() {
	result "$1" "${2:-0}"
}

decode_value() {
	"$DUMP" decode --base "$2" "$1" | awk -v k="$3" '$1 == k { print $2; f = 1 } END { exit !f }'
}

host_parts() {
	"$DUMP" decode --base "$CARVE_BASE" "$1" |
		awk '$1 == "partition" { printf "%s%s:%s", sep, $2, $3; sep = " " } END { print "" }'
}

@test "4 vCPUs: concurrent deposits and withdrawals keep counters = ledger = host decode, none wrapped" {
	vm_run - "nokaslr hvcarve=16M@$CARVE_BASE" --smp 4 --timeout $((120 + SECONDS_)) <<EOF
. /hvt/sim.sh
hvt_result cpus "\$(grep -c ^processor /proc/cpuinfo)"
echo "$SECONDS_ $SEED 4" >\$HVT_SIM/stress || hvt_fail "stress failed"
hvt_result stress "\$(grep ^stress \$HVT_SIM/ledger)"
hvt_sim_report end
hvt_result total "\$(cat \$HVT_HVC/region0/total_pages)"
hvt_result parts "\$(awk '\$1 == "partition" { printf "%s%s:%s", sep, \$2, \$3; sep = " " }' \$HVT_SIM/ledger)"
hvt_ckpt end $CARVE_BASE 0x1000000
hvt_done
EOF
	assert_equal "$(r cpus)" 4
	local stress ops deps wds
	stress=$(r stress)
	echo "$stress"
	[[ $stress =~ threads=4\ ops=([0-9]+)\ deposits=([0-9]+)\ withdrawals=([0-9]+) ]] ||
		fail "no stress line: $stress"
	ops=${BASH_REMATCH[1]} deps=${BASH_REMATCH[2]} wds=${BASH_REMATCH[3]}
	[ "$ops" -ge 100 ] && [ "$deps" -ge 10 ] && [ "$wds" -ge 10 ]
	# The four states add up to the region, and none has wrapped.
	local k sum=0
	for k in free_pages deposited_pages inherited_pages skipped_pages; do
		[ "$(r "end.$k")" -le "$(r total)" ] || fail "$k = $(r "end.$k") > $(r total)"
		sum=$((sum + $(r "end.$k")))
	done
	assert_equal "$sum" "$(r total)"
	# Nothing was inherited: deposited = accepted - withdrawn, exactly.
	assert_equal "$(r end.inherited_pages)" 0
	assert_equal "$(r end.deposited_pages)" \
		$(($(r end.deposit_success_pages) - $(r end.withdrawn_pages)))
	[ "$(r end.peak_deposited_pages)" -ge "$(r end.deposited_pages)" ]
	# Counters = the simulator's ledger = the host's decode of the dump.
	assert_equal "$(r end.deposited_pages)" "$(r end.sim_held)"
	assert_equal "$(decode_value "$(dump_file end)" "$CARVE_BASE" held)" "$(r end.sim_held)"
	assert_equal "$(host_parts "$(dump_file end)")" "$(r parts)"
	assert_equal "$(r end.sim_corrupted)" 0
}

# kexec -e while the vCPUs stress deposits with ordinary pages allowed
# (16 MiB of carveout: the stress fills it now and then, and spills into
# ordinary pages): kexec -e goes through only when no ordinary page is
# deposited, none is deposited after it, and the next kernel keeps every
# carveout page the hypervisor held.
@test "kexec -e racing the stress on the other vCPUs lets no ordinary page through and keeps the carveout" {
	local low=$((0x3a000000)) high=$((0x3b000000))
	vm_run - "nokaslr hvcarve=16M@$CARVE_BASE hvcarve.overflow=allow" --smp 4 \
		--timeout $((180 + SECONDS_)) <<EOF
. /hvt/sim.sh
if [ "\$(hvt_gen)" = 0 ]; then
	hvt_kexec_load -s /boot/vmlinuz-new "hvcarve=16M@$CARVE_BASE" || hvt_fail "load failed"
	# The carveout full, and 100 ordinary pages.
	hvt_sim_deposit 4196 99 || hvt_fail "deposit 99: \$hvt_sim_err"
	(
		echo "$((SECONDS_ * 4)) $SEED 3" >\$HVT_SIM/stress
		echo "hvt: stress over"
		for p in 1 2 3; do echo "1000000 \$p" >\$HVT_SIM/withdraw; done
	) &
	# While partition 99 holds ordinary pages, kexec -e is refused, stress
	# or not; then they are withdrawn, and kexec -e races the stress.
	sleep 2
	hvt__taint
	for i in 1 2 3; do
		kexec -e 2>/dev/null
		hvt_result refused "\$i"
	done
	hvt_sim_withdraw 1000000 99 || hvt_fail "withdraw 99: \$hvt_sim_err"
	hvt_result overflow_seen "\$(cat \$HVT_HVC/overflow_pages)"
	n=0
	while [ \$n -lt 20000 ]; do
		n=\$((n + 1))
		[ \$((n % 20)) = 1 ] && hvt_result tries "\$n"
		kexec -e 2>/dev/null
	done
	hvt_fail "kexec -e refused \$n times"
fi
hvt_ckpt ram-low 0 $low
hvt_ckpt ram-high $high \$((0x40000000 - $high))
hvt_ckpt post-boot $CARVE_BASE 0x1000000
hvt_result memhog "\$(memhog 90 2>&1)"
hvt_ckpt post-hog $CARVE_BASE 0x1000000
hvt_sim_report boot
hvt_done
EOF
	assert_equal "$(last_gen)" 1
	echo "kexec -e went through after try $(r tries 0), racing from $(r overflow_seen 0) ordinary pages"
	# No ordinary page the hypervisor holds crossed the kexec.
	assert_equal $(($(decode_value "$(dump_file ram-low)" 0 held) + \
		$(decode_value "$(dump_file ram-high)" "$high" held))) 0
	# The next kernel found the carveout pages held (at most the one page
	# the simulator was writing when the CPUs stopped can be torn), and
	# kept them through memory pressure.
	[ "$(r boot.sim_held 1)" -gt 0 ]
	[ "$(r boot.sim_corrupted 1)" -le 1 ]
	dumps_equal post-boot post-hog
	# kexec -e was refused three times for ordinary pages, and went through
	# while the stress still ran.
	assert_equal "$(r refused 0)" 3
	run console_grep -g 0 'hvcarve: kexec refused: [0-9]+ ordinary pages are deposited'
	assert_success
	run console_grep -g 0 '^hvt: stress over'
	assert_failure
}
