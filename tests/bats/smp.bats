#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# Several CPUs. The simulator's stress runs one thread per vCPU, each
# depositing and withdrawing random numbers of pages for random partitions
# through the real glue and pool, for a bounded time with a fixed seed.
# Afterwards the counters, the simulator's ledger and the host's decode of a
# dump must agree, and no counter may have wrapped. Then a kexec load racing
# the stress: refused while ordinary pages are deposited, none deposited
# after it, and kexec -e goes through.
#
# The hypervisor is the simulator in the guest, or with HVT_HV_MODE the
# model on the host (tests/hv/hv-model.c, helpers.bash's hvt_hv_mode),
# which the real Hyper-V backend's hypercalls reach over a UART: then the
# counters must be the model's own ledger, and the model checks on the
# host that no page it holds is written and no ordinary one crosses the
# kexec. make test runs the suite both ways, the second as smp@adversarial
# (scripts/run-tests.sh).
#
#   HVT_STRESS_SECONDS  length of each stress run (default 15; the one
#                       kexec races runs 4 times as long, at least 60 s)
#   HVT_SEED            its seed (default 4242)
#   HVT_HV_MODE         honest or adversarial: the model (default: none)
#   HVT_HV_SEED         the model's seed (default 7)
#   HVT_HV_STRESS_SECONDS, HVT_HV_RACE_SECONDS  the two stress runs'
#                       guest time against the model (defaults 3, and 20
#                       or 8 against the adversarial model)

load helpers
hvt_chain_firmware
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

DUMP=$HVT_ROOT/tools/hvcarve/hvcarve-dump
# 512 MiB: RAM under SeaBIOS and OVMF alike, clear of OVMF's boot
# services memory near the top of the 1 GiB (reserve.bats).
CARVE_BASE=0x20000000
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

# With HVT_HV_MODE (honest or adversarial; hvt_hv_mode) the hypervisor is
# the model on the host, and the simulator only carries the real Hyper-V
# backend's hypercalls to it over a UART, one at a time: the vCPUs that
# wait for it spin with interrupts off, so the guest's clock lags, and the
# stress runs HVT_HV_STRESS_SECONDS (default 3) of guest time, about 40 s.
# The counters must then be the model's own ledger, and the model checks
# on the host that the guest wrote no page it holds. Against the
# adversarial model the carveout may be distrusted (a refusal on a cold
# boot) and the rest go to ordinary pages (hvcarve.overflow=allow).
@test "4 vCPUs: concurrent deposits and withdrawals keep counters = ledger = host decode, none wrapped" {
	hvt_hv_mode "$CARVE_BASE" 0x1000000
	local secs=$SECONDS_ append=
	if [ -n "$HV_MODE" ]; then
		secs=${HVT_HV_STRESS_SECONDS:-3}
		append=$HV_APPEND
		[ "$HV_MODE" != adversarial ] || append="$append hvcarve.overflow=allow"
		echo "# hv-model $HV_MODE, seed $HV_SEED" >&3
	fi
	vm_run - "$NOKASLR hvcarve=16M@$CARVE_BASE $append" --smp 4 \
		--timeout $((120 + (${#HV_ARGS[@]} ? 20 : 1) * secs)) "${HV_ARGS[@]}" <<EOF
. /hvt/sim.sh
hvt_result cpus "\$(grep -c ^processor /proc/cpuinfo)"
echo "$secs $SEED 4" >\$HVT_SIM/stress || hvt_fail "stress failed"
hvt_result stress "\$(grep ^stress \$HVT_SIM/ledger)"
hvt_sim_report end
hvt_result total "\$(cat \$(hvt_region)/total_pages)"
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
	[ "$ops" -ge 100 ] || fail "ops=$ops"
	[ "$deps" -ge 10 ] || fail "deposits=$deps"
	[ "$wds" -ge 10 ] || fail "withdrawals=$wds"
	# The four states add up to the region, and none has wrapped.
	local k sum=0
	for k in free_pages deposited_pages inherited_pages skipped_pages; do
		[ "$(r "end.$k")" -le "$(r total)" ] || fail "$k = $(r "end.$k") > $(r total)"
		sum=$((sum + $(r "end.$k")))
	done
	assert_equal "$sum" "$(r total)"
	if [ -n "$HV_MODE" ]; then
		# Counters = the model's ledger, and no page it holds written.
		local l
		l=$(vm_artifacts)/dumps/end.hv-ledger
		echo "state $(r end.state): $(r end.reason)"
		assert_equal "$(r end.deposited_pages)" "$(hv_ledger held_carveout "$l")"
		assert_equal "$(r end.overflow_pages)" "$(hv_ledger held_ordinary "$l")"
		assert_equal "$(hv_ledger guest_writes)" 0
		assert_equal "$(hv_ledger bad_frames)" 0
		assert_equal "$(hv_ledger epoch "$l")" 1
		host_mode_clean
		if [ "$HV_MODE" = adversarial ]; then
			[ "$(hv_ledger injected "$l")" -gt 0 ] || fail "the adversary did nothing"
			return 0
		fi
	fi
	# Nothing was inherited: deposited = accepted - withdrawn, exactly.
	assert_equal "$(r end.inherited_pages)" 0
	assert_equal "$(r end.deposited_pages)" \
		$(($(r end.deposit_success_pages) - $(r end.withdrawn_pages)))
	[ "$(r end.peak_deposited_pages)" -ge "$(r end.deposited_pages)" ]
	[ -z "$HV_MODE" ] || return 0
	# Counters = the simulator's ledger = the host's decode of the dump.
	assert_equal "$(r end.deposited_pages)" "$(r end.sim_held)"
	assert_equal "$(decode_value "$(dump_file end)" "$CARVE_BASE" held)" "$(r end.sim_held)"
	assert_equal "$(host_parts "$(dump_file end)")" "$(r parts)"
	assert_equal "$(r end.sim_corrupted)" 0
}

# A kexec load while the vCPUs stress deposits with ordinary pages allowed
# (16 MiB of carveout: the stress fills it now and then, and spills into
# ordinary pages). While partition 99 holds ordinary pages every load is
# refused with EBUSY, stress or not; once they are withdrawn the load is
# retried (on EBUSY only) until it is accepted, with no ordinary page
# deposited. From then on none may be: partition 98 takes every free
# carveout page (none, if the stress holds them all) and fails with EBUSY
# at the first ordinary one, the stress's deposits that need ordinary pages
# fail the same way (the stress counts them as errors and goes on), the
# count stays 0, and kexec -e goes through at its first try while the
# stress still runs. The host finds no ordinary page the hypervisor holds
# in the next kernel's RAM, and partition 98's carveout pages, if any,
# there; the next kernel keeps every carveout page the hypervisor held
# through memory pressure.
@test "a kexec load racing the stress on the other vCPUs is refused while ordinary pages are deposited, lets none in after it, and keeps the carveout" {
	local low=$((CARVE_BASE)) high=$((CARVE_BASE + 0x1000000))
	# The stress must outlast the loads (at least a minute). Against the
	# model (HVT_HV_MODE) the stress's hypercalls go over the UART one at a
	# time and the vCPUs waiting for it spin with interrupts off, so the
	# guest's clock lags: HVT_HV_RACE_SECONDS of guest time (default 20,
	# 8 against the adversary, where the race's shape is not asserted,
	# below) take far longer on the wall clock. A call the adversarial
	# model fails (partition 99's deposit, its withdrawal) is recorded,
	# not fatal (soft_fail), and partition 99 is withdrawn again at every
	# refused load (a short withdrawal leaves it pages); its deposit must
	# still leave ordinary pages.
	hvt_hv_mode "$CARVE_BASE" 0x1000000
	local stress=$((SECONDS_ * 4 > 60 ? SECONDS_ * 4 : 60)) timeout adv=0
	timeout=$((240 + stress))
	if [ -n "$HV_MODE" ]; then
		[ "$HV_MODE" != adversarial ] || adv=1
		stress=${HVT_HV_RACE_SECONDS:-$((adv ? 8 : 20))}
		timeout=$((300 + 20 * stress))
		echo "# hv-model $HV_MODE, seed $HV_SEED" >&3
	fi
	vm_run - "$NOKASLR hvcarve=16M@$CARVE_BASE hvcarve.overflow=allow $HV_APPEND" --smp 4 \
		--timeout "$timeout" "${HV_ARGS[@]}" <<EOF
. /hvt/sim.sh
# soft_fail KEY TEXT: fails the run, or against the adversarial model
# only records TEXT as result KEY.
soft_fail() {
	if [ $adv = 1 ]; then hvt_result "\$1" "\$2"; else hvt_fail "\$1: \$2"; fi
}
if [ "\$(hvt_gen)" = 0 ]; then
	# The next kernel's initramfs, packed once for all the loads below.
	hvt_rebuild_initramfs /tmp/next.cpio || hvt_fail "hvt_rebuild_initramfs failed"
	load() {
		kexec -s -l /boot/vmlinuz-new --initrd=/tmp/next.cpio \
			--append="console=ttyS0 hvcarve=16M@$CARVE_BASE $HV_APPEND" 2>&1
	}
	# The carveout full, and 100 ordinary pages.
	hvt_sim_deposit 4196 99 || soft_fail dep99_err "\$hvt_sim_err"
	hvt_result overflow99 "\$(cat \$HVT_HVC/overflow_pages)"
	# The host's control: its scan finds those 100 where they are.
	hvt_ckpt ram99-low 0 $low
	hvt_ckpt ram99-high $high \$((0x40000000 - $high))
	(
		echo "$stress $SEED 3" >\$HVT_SIM/stress
		echo "hvt: stress over"
		for p in 1 2 3; do echo "1000000 \$p" >\$HVT_SIM/withdraw; done
		touch /tmp/stress-over
	) &
	sleep 2
	for i in 1 2 3; do
		rc=0
		out=\$(load) || rc=\$?
		hvt_result "refused\$i" "rc=\$rc loaded=\$(cat /sys/kernel/kexec_loaded) \$out"
	done
	hvt_sim_withdraw 1000000 99 || soft_fail withdraw99_err "\$hvt_sim_err"
	hvt_result overflow_seen "\$(cat \$HVT_HVC/overflow_pages)"
	n=0 busy=0
	while :; do
		n=\$((n + 1))
		[ \$n -le 600 ] || hvt_fail "kexec load refused \$busy times"
		rc=0
		out=\$(load) || rc=\$?
		[ \$rc = 0 ] && break
		case \$out in
		*"Device or resource busy"*)
			busy=\$((busy + 1))
			hvt_sim_withdraw 1000000 99 || :
			# The stress over, what short withdrawals left it.
			if [ -e /tmp/stress-over ]; then
				for p in 1 2 3; do hvt_sim_withdraw 1000000 \$p || :; done
			fi
			;;
		*) hvt_fail "kexec load failed: rc=\$rc \$out" ;;
		esac
	done
	hvt_result load "tries=\$n busy=\$busy"
	hvt_result loaded "\$(cat /sys/kernel/kexec_loaded)"
	# Ordinary pages deposited since boot, when the load went through:
	# partition 99's 100, and what the stress deposited before it.
	hvt_result cumulative_at_load "\$(cat \$HVT_HVC/overflow_cumulative_pages)"
	if hvt_sim_deposit 4196 98; then
		hvt_result dep98 ok
	else
		hvt_result dep98 "\$hvt_sim_err"
	fi
	hvt_result p98 "\$(hvt_sim_partition 98)"
	ov=
	for i in 1 2 3 4 5 6 7 8 9 10; do
		ov="\${ov:+\$ov }\$(cat \$HVT_HVC/overflow_pages)"
		sleep 0.2
	done
	hvt_result overflow_after_load "\$ov"
	# A stress deposit refused for want of ordinary pages (up to 20 s).
	i=0
	while [ \$i -lt 200 ] &&
		! dmesg | grep -Eq 'hvcarve: partition 0x[123]: [0-9]+ ordinary pages not deposited: a kexec image is loaded'; do
		sleep 0.1
		i=\$((i + 1))
	done
	hvt_result overflow_end "\$(cat \$HVT_HVC/overflow_pages)"
	# What the hypervisor holds outside the carveout as kexec -e starts.
	hvt_ckpt pre-kexec-low 0 $low
	hvt_ckpt pre-kexec-high $high \$((0x40000000 - $high))
	hvt__taint
	out=\$(kexec -e 2>&1)
	hvt_fail "kexec -e refused after an accepted load: \$out"
fi
hvt_ckpt ram-low 0 $low
hvt_ckpt ram-high $high \$((0x40000000 - $high))
hvt_ckpt post-boot $CARVE_BASE 0x1000000
hvt_result memhog "\$(memhog 90 2>&1)"
hvt_ckpt post-hog $CARVE_BASE 0x1000000
hvt_sim_report boot
hvt_result boot.p98 "\$(hvt_sim_partition 98)"
hvt_done
EOF
	assert_equal "$(last_gen)" 1
	echo "the load was accepted: $(r load 0), racing from $(r overflow_seen 0) ordinary pages;" \
		"partition 98 took $(r p98 0) carveout pages"
	# With partition 99's 100 ordinary pages deposited, three loads were
	# refused with EBUSY, and the kernel said why. (The adversary may fail
	# part of that deposit: it must still have left ordinary pages.)
	local ov99
	ov99=$(r overflow99 0)
	if [ "$HV_MODE" = adversarial ]; then
		[ "$ov99" -gt 0 ] ||
			fail "seed $HV_SEED left partition 99 no ordinary page ($(r dep99_err 0 || echo no error)): nothing to refuse"
	else
		assert_equal "$ov99" 100
	fi
	local i
	for i in 1 2 3; do
		run r "refused$i" 0
		assert_output --regexp '^rc=[1-9][0-9]* loaded=0 .*Device or resource busy'
	done
	run console_grep -g 0 'hv_deposit: kexec refused: [0-9]+ ordinary pages are deposited in the hypervisor'
	assert_success
	[ "${#lines[@]}" -ge 3 ] || fail "${#lines[@]} refusals in the log, not 3"
	# Loaded: partition 98's deposit failed with EBUSY, no ordinary page
	# went in, the stress's deposits were refused the same way, and
	# kexec -e went through while the stress still ran.
	assert_equal "$(r loaded 0)" 1
	run r dep98 0
	if [ "$HV_MODE" = adversarial ]; then
		# More than the carveout: it cannot succeed (the adversary may
		# fail it before its first ordinary page).
		refute_output ok
	else
		assert_output --partial "Device or resource busy"
	fi
	run r overflow_after_load 0
	assert_output --regexp '^0( 0){9}$'
	assert_equal "$(r overflow_end 0)" 0
	# The race's shape: kexec -e while the stress still ran, a stress
	# deposit refused after the load. Not against the adversary: once a
	# lie on the cold boot has the carveout distrusted, every stress
	# deposit is ordinary, and the load goes through only when the stress
	# holds none, which may be only after it ended (a clean-clone run:
	# 69 tries, the stress over first).
	if [ "$HV_MODE" != adversarial ]; then
		run console_grep -g 0 'hvcarve: partition 0x[123]: [0-9]+ ordinary pages not deposited: a kexec image is loaded'
		assert_success
		run console_grep -g 0 '^hvt: stress over'
		assert_failure
	fi
	# The race raced: the stress deposited ordinary pages of its own
	# before the load went through (more than partition 99's).
	[ "$(r cumulative_at_load 0)" -gt "$ov99" ] ||
		fail "the stress deposited no ordinary page before the load: $(r cumulative_at_load 0) since boot"
	if [ -n "$HV_MODE" ]; then
		# The model holds partition 99's ordinary pages (the control),
		# none as kexec -e starts, and found none held across the kexec
		# when the next kernel said hello; the next kernel wrote no page
		# it holds, through memory pressure, and partition 98's pages are
		# still its.
		local art
		art=$(vm_artifacts)/dumps
		assert_equal "$(hv_ledger held_ordinary "$art/ram99-low.hv-ledger")" "$ov99"
		assert_equal "$(hv_ledger held_ordinary "$art/pre-kexec-low.hv-ledger")" 0
		assert_equal "$(hv_ledger held_ordinary "$art/ram-low.hv-ledger")" 0
		assert_equal "$(hv_ledger ordinary_across_kexec)" 0
		assert_equal "$(hv_ledger guest_writes)" 0
		assert_equal "$(hv_ledger epoch)" 2
		host_mode_clean
		# What the carveout gave the checks below: nothing, if a lie of
		# the adversary on the cold boot had it distrusted.
		echo "carveout at kexec -e: $(hv_ledger held_carveout "$art/pre-kexec-low.hv-ledger") pages held; next kernel: $(r boot.state 1) ($(r boot.reason 1 || true))"
		[ "$HV_MODE" = adversarial ] ||
			[ "$(hv_ledger held_carveout "$art/pre-kexec-low.hv-ledger")" -gt 0 ]
		assert_equal "$(grep '^partition 0x62 ' "$art/post-hog.hv-ledger" || echo none)" \
			"$(grep '^partition 0x62 ' "$art/pre-kexec-low.hv-ledger" || echo none)"
		dumps_equal post-boot post-hog
		return 0
	fi
	# The host's scan finds ordinary pages the hypervisor holds: partition
	# 99's 100 (the control); none as kexec -e starts, and none in the
	# next kernel's RAM.
	held_outside() {
		echo $(($(decode_value "$(dump_file "$1-low")" 0 held) + \
			$(decode_value "$(dump_file "$1-high")" "$high" held)))
	}
	assert_equal "$(held_outside ram99)" 100
	assert_equal "$(held_outside pre-kexec)" 0
	assert_equal "$(held_outside ram)" 0
	# The next kernel found the carveout pages held (at most the one page
	# the simulator was writing when the CPUs stopped can be torn), among
	# them all of partition 98's, which the host decodes there too; and
	# kept them through memory pressure.
	[ "$(r boot.sim_held 1)" -gt 0 ]
	[ "$(r boot.sim_corrupted 1)" -le 1 ]
	assert_equal "$(r boot.p98 1)" "$(r p98 0)"
	assert_equal "$("$DUMP" decode --base "$CARVE_BASE" "$(dump_file post-boot)" |
		awk '$1 == "partition" && $2 == 98 { n = $3 } END { print n + 0 }')" "$(r p98 0)"
	dumps_equal post-boot post-hog
}
