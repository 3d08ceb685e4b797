#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# The hypervisor outside the guest. The guest kernel's real Hyper-V deposit
# backend (drivers/hv/hv_carve_deposit.c: hv_carve_hv_deposit(),
# _withdraw() and _balance(), through mainline's hv_do_hypercall() and
# hv_do_rep_hypercall()) talks to tests/hv/hv-model.c, a process on the
# host that keeps which pages each partition holds. The simulator's host
# mode (hvcarve_sim.host=) only carries the hypercalls over a UART; it
# keeps no ledger. The model's state outlives every kexec, and it checks
# on the host, at every kernel's hello, at every checkpoint (the guest
# stopped) and at the end, that no page it holds was written by the guest
# and that no ordinary page it holds crossed a kexec. Every test also
# requires that the host mode logged nothing but its two lines of success
# (host_mode_clean, helpers.bash): a dead transport or a failed boot call
# fails it. The one test of boots that must not set host mode up (the
# simulator's refusal under a hypervisor) checks its one boot that does.

load helpers
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

CARVE_BASE=0x3a000000
CARVE_SIZE=0x4000000
CARVE="hvcarve=64M@$CARVE_BASE"
HOST="hvcarve_sim.host=0x3e8"
MODEL="--carveout $CARVE_BASE:$CARVE_SIZE"

teardown() {
	hvt_teardown
}

# r KEY [GEN]: a result of generation GEN (default 0).
r() {
	result "$1" "${2:-0}"
}

# ledger_parts FILE: "P:n ..." per partition in the ledger FILE, P in
# decimal, or "self" for HV_PARTITION_ID_SELF.
ledger_parts() {
	local key p n out=()
	while read -r key p n; do
		[ "$key" = partition ] || continue
		if [ "$p" = 0xffffffffffffffff ]; then p=self; else p=$((p)); fi
		out+=("$p:$n")
	done <"$1"
	echo "${out[*]}"
}

@test "control: host_mode_clean fails on a dead transport, a failed boot call, a port not had, a boot without host mode or as another partition type, and passes the lines of success" {
	local art
	art=$(vm_artifacts)
	mkdir -p "$art"
	local boot='[    0.0] Linux version 7.3.4-hvcarve (hvcarve@hvcarve) #1 SMP'
	local ok1='[    0.2] hvcarve_sim: host mode: the hypervisor is the host'"'"'s, behind I/O port 0x3e8; this kernel is its root partition'
	local ok2='[    0.3] hvcarve_sim: host mode: 3 of 3 logical processors added: 0 ordinary pages deposited'
	printf '%s\r\n' "$boot" "$ok1" "$ok2" >"$art/console.log"
	host_mode_clean
	# A boot that never set host mode up, with no error line.
	printf '%s\r\n' "$boot" "$ok1" "$ok2" "$boot" >"$art/console.log"
	run host_mode_clean
	assert_failure
	assert_output --partial "host mode set up in 1 of 2 boots"
	printf '%s\r\n' "$boot" >"$art/console.log"
	run host_mode_clean
	assert_failure
	local bad
	for bad in 'hvcarve_sim: host mode: no valid answer from the host to call 0x1000000048 (seq 9): the transport is dead' \
		'hvcarve_sim: host mode: adding logical processor 2 failed: -12' \
		'hvcarve_sim: host mode: 2 of 3 logical processors added: 0 ordinary pages deposited x' \
		'hvcarve_sim: host mode: host_partition= named none of root, l1vh, guest: not set up' \
		'hvcarve_sim: host mode: I/O ports 0x3e8-0x3ef are busy'; do
		printf '%s\r\n' "$boot" "$ok1" "[    0.4] $bad" "$ok2" >"$art/console.log"
		run host_mode_clean
		assert_failure
		assert_output --partial "$bad"
	done
	# A partition of another type than the test asked for.
	printf '%s\r\n' "$boot" "$ok1" >"$art/console.log"
	run host_mode_clean l1vh
	assert_failure
	assert_output --partial "this kernel is its root partition"
}

@test "the real Hyper-V backend against a hypervisor on the host: deposits, withdrawal, kexec -s and -l, learning from its refusals; the guest's counters are its ledger" {
	vm_run - "nokaslr $CARVE $HOST" --hv-model "$MODEL" <<EOS
. /hvt/sim.sh
g=\$(hvt_gen)
hvt_result backend "\$(dmesg | grep -c 'hvcarve: deposit backend: hyperv\$')"
hvt_result host "\$(dmesg | grep -c 'hvcarve_sim: host mode: the hypervisor is the host')"
if [ "\$g" = 0 ]; then
	hvt_sim_deposit 600 1 || hvt_fail "deposit P1: \$hvt_sim_err"
	hvt_sim_deposit 400 2 || hvt_fail "deposit P2: \$hvt_sim_err"
	hvt_sim_withdraw 400 1 || hvt_fail "withdraw: \$hvt_sim_err"
else
	hvt_sim_deposit 500 3 || hvt_fail "deposit P3: \$hvt_sim_err"
fi
hvt_sim_report end
hvt_ckpt "end-gen\$g"
case \$g in
0) hvt_kexec -s /boot/vmlinuz-new "$CARVE $HOST" ;;
1) hvt_kexec -l /boot/vmlinuz-new "$CARVE $HOST" ;;
*) hvt_done ;;
esac
EOS
	local art g l held refused=0
	art=$(vm_artifacts)
	assert_equal "$(last_gen)" 2
	for g in 0 1 2; do
		# The Hyper-V backend took the deposits, through the host.
		assert_equal "$(r backend $g)" 1
		assert_equal "$(r host $g)" 1
		assert_equal "$(r end.state $g)" active
		assert_equal "$(r end.deposit_fail_pages $g)" 0
		l=$art/dumps/end-gen$g.hv-ledger
		# A new epoch per kernel: the model saw every boot.
		assert_equal "$(hv_ledger epoch "$l")" $((g + 1))
		assert_equal "$(hv_ledger held_ordinary "$l")" 0
		assert_equal "$(hv_ledger guest_writes "$l")" 0
		assert_equal "$(hv_ledger bad_frames "$l")" 0
	done
	# Generation 0: the guest's count is the model's.
	l=$art/dumps/end-gen0.hv-ledger
	assert_equal "$(r end.deposited_pages 0)" 600
	assert_equal "$(hv_ledger held "$l")" 600
	assert_equal "$(ledger_parts "$l")" "1:200 2:400"
	assert_equal "$(hv_ledger pages_withdrawn "$l")" 400
	assert_equal "$(hv_ledger refusals "$l")" 0
	# Later generations know nothing of the pages held before; the model
	# refuses each such page offered, and each refusal is learnt, one for
	# one. The model counts refusals since it started.
	held=600
	for g in 1 2; do
		l=$art/dumps/end-gen$g.hv-ledger
		held=$((held + 500))
		assert_equal "$(r end.deposited_pages $g)" 500
		assert_equal "$(hv_ledger held "$l")" "$held"
		assert_equal "$(hv_ledger held_carveout "$l")" "$held"
		assert_equal "$(ledger_parts "$l")" "1:200 2:400 3:$((500 * g))"
		[ "$(r end.inherited_pages $g)" -gt 0 ]
		refused=$((refused + $(r end.inherited_pages $g)))
		assert_equal "$(hv_ledger refusals "$l")" "$refused"
	done
	# The model's last checks, after QEMU ended.
	assert_equal "$(hv_ledger guest_writes)" 0
	assert_equal "$(hv_ledger ordinary_across_kexec)" 0
	assert_equal "$(hv_ledger held)" 1600
	host_mode_clean
}

# The check above can fail: ordinary pages the kexec gate is told came
# back (the simulator's "forget", which taints U) cross the kexec while
# the model holds them. It finds exactly those at the next kernel's hello,
# and the next kernel, under memory pressure, writes over some of them.
@test "negative control: ordinary pages the gate forgot cross the kexec; the model finds exactly them held, and written by the next kernel" {
	vm_run - "nokaslr $HOST" --allow-taint U --hv-model "" <<EOS
. /hvt/sim.sh
if [ "\$(hvt_gen)" = 0 ]; then
	hvt_sim_deposit 300 1 || hvt_fail "deposit P1: \$hvt_sim_err"
	hvt_sim_deposit 200 2 || hvt_fail "deposit P2: \$hvt_sim_err"
	hvt_sim_withdraw 200 2 || hvt_fail "withdraw: \$hvt_sim_err"
	hvt_result overflow "\$(cat \$HVT_HVC/overflow_pages)"
	echo 300 >\$HVT_SIM/forget || hvt_fail "forget failed"
	hvt_kexec -s /boot/vmlinuz-new "$HOST"
fi
hvt_memhog 90 80
hvt_memhog_release
# One more call, which this kernel may offer on a page the model still
# holds (refused); the checkpoint after it checks every held page.
hvt_sim_deposit 1 2
hvt_result last_deposit "rc=\$? \$hvt_sim_err"
hvt_ckpt after-memhog
hvt_done
EOS
	local art
	art=$(vm_artifacts)
	assert_equal "$(last_gen)" 1
	assert_equal "$(r overflow 0)" 300
	assert_equal "$(hv_ledger held_ordinary "$art/dumps/pre-kexec-gen0.hv-ledger")" 300
	assert_equal "$(hv_ledger ordinary_across_kexec "$art/dumps/after-memhog.hv-ledger")" 300
	local w
	w=$(hv_ledger guest_writes "$art/dumps/after-memhog.hv-ledger")
	echo "held ordinary pages the next kernel wrote over: $w of 300"
	[ "$w" -gt 0 ]
	run grep -c '^hv-model: .*ordinary_across_kexec: pfn' "$art/hv-model.log"
	assert_success
	host_mode_clean
}

# An adversarial hypervisor, seeded (HVT_HV_SEED, default 7): it returns
# early from rep calls, refuses free pages, answers INSUFFICIENT_MEMORY,
# withdraws in random order and in short counts, and may refuse a
# partition whole. Deposits may fail, and a refusal on a cold boot makes
# hvcarve distrust the carveout: both are allowed. What must hold: no
# WARNING or crash (vm_run), no held page written by the guest, no
# ordinary page held across a kexec, and the guest's count of carveout
# pages it deposited is what the model took in that generation.
@test "an adversarial hypervisor (HVT_HV_SEED): the host's invariants hold across kexec -s and -l, and the guest counts what it took" {
	local seed=${HVT_HV_SEED:-7}
	echo "# hv-model seed $seed" >&3
	vm_run - "nokaslr $CARVE $HOST hvcarve.probe_seed=$seed" \
		--hv-model "$MODEL --mode adversarial --seed $seed" <<EOS
. /hvt/sim.sh
g=\$(hvt_gen)
hvt_sim_report start
for p in 1 2 3 4 5 6; do
	hvt_sim_deposit 150 \$((p + 3 * g))
	hvt_result "dep\$p" "rc=\$? \$hvt_sim_err"
done
if [ "\$g" = 0 ]; then
	hvt_sim_withdraw 100 1
	hvt_result wd "rc=\$? \$hvt_sim_err"
fi
hvt_sim_report end
hvt_ckpt "end-gen\$g"
case \$g in
0) hvt_kexec -s /boot/vmlinuz-new "$CARVE $HOST hvcarve.probe_seed=$seed" ;;
1) hvt_kexec -l /boot/vmlinuz-new "$CARVE $HOST hvcarve.probe_seed=$seed" ;;
*) hvt_done ;;
esac
EOS
	local art g l prev=0 held
	art=$(vm_artifacts)
	assert_equal "$(last_gen)" 2
	for g in 0 1 2; do
		l=$art/dumps/end-gen$g.hv-ledger
		echo "gen $g: state $(r end.state $g) ($(r end.reason $g)); deposited $(r end.deposited_pages $g), inherited $(r end.inherited_pages $g); model: held $(hv_ledger held "$l"), refusals $(hv_ledger refusals "$l"), injected $(hv_ledger injected "$l")"
		assert_equal "$(hv_ledger guest_writes "$l")" 0
		assert_equal "$(hv_ledger ordinary_across_kexec "$l")" 0
		assert_equal "$(hv_ledger bad_frames "$l")" 0
		# Ordinary pages the guest deposited are the model's ordinary ones.
		assert_equal "$(hv_ledger held_ordinary "$l")" "$(r end.overflow_pages $g)"
		# Carveout pages: what this generation deposited is what the
		# model took since the last one (no generation after the first
		# withdraws).
		held=$(hv_ledger held_carveout "$l")
		assert_equal $((held - prev)) \
			$(($(r end.deposited_pages $g) - $(r start.deposited_pages $g)))
		prev=$held
	done
	# Deposits went through, the adversary did act, and nothing it did
	# broke an invariant.
	[ "$(hv_ledger pages_deposited)" -gt 0 ]
	[ "$(hv_ledger injected)" -gt 0 ]
	assert_equal "$(hv_ledger guest_writes)" 0
	assert_equal "$(hv_ledger ordinary_across_kexec)" 0
	run grep -c "^hv-model: seed $seed call " "$art/hv-model.log"
	assert_success
	host_mode_clean
}

# Issue 18 item 4. A root partition deposits while it boots, in
# smp_prepare_cpus(): mainline's hv_smp_prepare_cpus() adds each logical
# processor with hv_call_add_logical_proc(), which deposits a page through
# hv_call_deposit_pages() (the hook into hvcarve's glue) whenever the
# hypervisor answers INSUFFICIENT_MEMORY. In host mode the simulator does
# the same there, and the model asks for --lp-pages per processor.
# boot_run APPEND MODEL-ARGS: 4 vCPUs; the scenario reports the boot and
# checkpoints "boot", then runs what is on stdin.
boot_run() {
	local append=$1 model=$2 body
	body=$(cat)
	vm_run - "nokaslr $append $HOST" --smp 4 --hv-model "$model" <<EOS
. /hvt/sim.sh
hvt_result state "\$(cat \$HVT_HVC/state)"
hvt_result overflow "\$(cat \$HVT_HVC/overflow_pages)"
r0=\$(hvt_region)
hvt_result deposited "\$([ -n "\$r0" ] && cat "\$r0/deposited_pages" || echo none)"
hvt_ckpt "boot-gen\$(hvt_gen)"
$body
EOS
}

# boot_before_smp GEN TEXT: the console line TEXT of generation GEN comes
# before the secondary CPUs are brought up.
boot_before_smp() {
	local line smp
	line=$(console_log | grep -n "$2" | cut -d: -f1 | head -1)
	smp=$(console_log | grep -n 'smp: Bringing up secondary CPUs' | sed -n "$(($1 + 1))p" | cut -d: -f1)
	[ -n "$line" ] || fail "no line '$2'"
	[ -n "$smp" ] || fail "no secondary CPU bring-up line in generation $1"
	[ "$line" -lt "$smp" ] || fail "'$2' (line $line) after the bring-up (line $smp)"
	host_mode_clean
}

@test "boot deposits in smp_prepare_cpus(), through hv_call_add_logical_proc(): carveout pages for the root, before the secondary CPUs start; after kexec the processors exist and nothing is deposited" {
	boot_run "$CARVE" "$MODEL --lp-pages 5" <<EOS
if [ "\$(hvt_gen)" = 0 ]; then
	hvt_kexec -s /boot/vmlinuz-new "$CARVE $HOST"
fi
hvt_sim_deposit 100 1 || hvt_fail "deposit: \$hvt_sim_err"
hvt_result after "\$(cat \$(hvt_region)/deposited_pages) \$(cat \$(hvt_region)/inherited_pages)"
hvt_ckpt end
hvt_done
EOS
	local art l
	art=$(vm_artifacts)
	boot_before_smp 0 'hvcarve_sim: host mode: 3 of 3 logical processors added: 0 ordinary pages deposited'
	l=$art/dumps/boot-gen0.hv-ledger
	# 3 processors, 5 pages each, all from the carveout, all in use.
	assert_equal "$(hv_ledger lps "$l")" 3
	assert_equal "$(hv_ledger in_use "$l")" 15
	assert_equal "$(ledger_parts "$l")" "self:15"
	assert_equal "$(hv_ledger held_carveout "$l")" 15
	assert_equal "$(hv_ledger held_ordinary "$l")" 0
	assert_equal "$(r state 0)" active
	assert_equal "$(r deposited 0)" 15
	assert_equal "$(r overflow 0)" 0
	# The kexec'd kernel finds the processors (hv_lp_exists()) and adds
	# none; the model took nothing more at its boot.
	run console_grep -g 1 'hvcarve_sim: host mode: the hypervisor is the host'
	assert_success
	run console_grep -g 1 'logical processors added'
	assert_failure 1
	l=$art/dumps/boot-gen1.hv-ledger
	assert_equal "$(hv_ledger lps "$l")" 3
	assert_equal "$(hv_ledger held "$l")" 15
	assert_equal "$(r deposited 1)" 0
	# The 15 pages in use stay the root's; 100 more for partition 1 step
	# around whatever of them learning meets.
	l=$art/dumps/end.hv-ledger
	assert_equal "$(hv_ledger held_carveout "$l")" 115
	assert_equal "$(ledger_parts "$l")" "1:100 self:15"
	assert_equal "$(hv_ledger guest_writes)" 0
}

@test "boot deposits with a rejected carveout: ordinary pages, counted, said; the machine is up and kexec is refused" {
	boot_run "hvcarve=64M@zz" "--lp-pages 5" <<'EOS'
hvt_kexec_load -s /boot/vmlinuz-new && hvt_fail "kexec loaded with ordinary pages deposited"
hvt_done
EOS
	local l
	l=$(vm_artifacts)/dumps/boot-gen0.hv-ledger
	assert_equal "$(r state)" invalid
	assert_equal "$(r overflow)" 15
	assert_equal "$(hv_ledger held_ordinary "$l")" 15
	assert_equal "$(hv_ledger in_use "$l")" 15
	boot_before_smp 0 'hvcarve_sim: host mode: 3 of 3 logical processors added: 15 ordinary pages deposited'
	run r kexec_load_err
	assert_output --partial "Device or resource busy"
}

@test "boot deposits past a carveout exhausted during boot: the rest from ordinary memory" {
	boot_run "hvcarve=1M@$CARVE_BASE" "--carveout $CARVE_BASE:0x100000 --lp-pages 100" <<<'hvt_done'
	local l
	l=$(vm_artifacts)/dumps/boot-gen0.hv-ledger
	assert_equal "$(r state)" active
	assert_equal "$(r deposited)" 256
	assert_equal "$(r overflow)" 44
	assert_equal "$(hv_ledger held_carveout "$l")" 256
	assert_equal "$(hv_ledger held_ordinary "$l")" 44
	assert_equal "$(hv_ledger in_use "$l")" 300
	boot_before_smp 0 'hvcarve_sim: host mode: 3 of 3 logical processors added: 44 ordinary pages deposited'
}

# The hypervisor holds the whole carveout before the first boot (--hold):
# every carveout page offered at smp_prepare_cpus() is refused, which a cold
# boot takes as a contradiction. The boot goes on with ordinary pages, the
# carveout distrusted, and the pages held are never written.
@test "boot deposits into a carveout the hypervisor holds whole: refused, distrusted, ordinary pages; the boot goes on" {
	boot_run "$CARVE" "$MODEL --lp-pages 5 --hold $CARVE_BASE:$CARVE_SIZE:5" <<<'hvt_done'
	local l
	l=$(vm_artifacts)/dumps/boot-gen0.hv-ledger
	assert_equal "$(r state)" distrusted
	assert_equal "$(r overflow)" 15
	assert_equal "$(hv_ledger held_ordinary "$l")" 15
	assert_equal "$(hv_ledger held_carveout "$l")" 16384
	assert_equal "$(ledger_parts "$l")" "5:16384 self:15"
	[ "$(hv_ledger refusals "$l")" -gt 0 ]
	assert_equal "$(hv_ledger guest_writes)" 0
}

# Issue 16 item 2. mshv serves an L1VH partition too: hv_parent_partition()
# without hv_root_partition() (the CreatePartitions privilege without
# CpuManagement, hv_identify_partition_type()). It deposits for its
# children with the same hypercall. hvcarve_sim.host_partition=l1vh makes
# this kernel one: the glue then registers the Hyper-V backend itself, at
# early_initcall time (hv_carve_hyperv_init()), as on Hyper-V, and no boot
# deposit is made (mainline adds logical processors on the root only).
# The last kernel of the chain is a guest partition, the control: it gets
# no backend and its deposit fails, which is what every L1VH deposit did
# while the glue took only the root for a depositor.
@test "an L1VH partition: the glue takes the Hyper-V backend itself; deposits go to the host's hypervisor, counted, across kexec -s and -l; no boot deposits; a guest partition (the control) has no backend and deposits nothing" {
	local l1vh="hvcarve_sim.host_partition=l1vh"
	local guest="hvcarve_sim.host_partition=guest"
	vm_run - "nokaslr $CARVE $HOST $l1vh" --smp 2 --hv-model "$MODEL --lp-pages 5" <<EOS
. /hvt/sim.sh
g=\$(hvt_gen)
hvt_result backend "\$(dmesg | grep -c 'hvcarve: deposit backend: hyperv\$')"
hvt_result boot "\$(cat \$(hvt_region)/deposited_pages)"
hvt_ckpt "boot-gen\$g"
if hvt_sim_deposit 200 1; then
	hvt_result err none
else
	hvt_result err "\$hvt_sim_err"
fi
hvt_result after "\$(cat \$(hvt_region)/deposited_pages) \$(cat \$HVT_HVC/overflow_pages)"
hvt_ckpt "end-gen\$g"
case \$g in
0) hvt_kexec -s /boot/vmlinuz-new "$CARVE $HOST $l1vh" ;;
1) hvt_kexec -l /boot/vmlinuz-new "$CARVE $HOST $guest" ;;
*) hvt_done ;;
esac
EOS
	local art g l
	art=$(vm_artifacts)
	assert_equal "$(last_gen)" 2
	for g in 0 1; do
		run console_grep -g "$g" 'hvcarve_sim: host mode: the hypervisor is the host.s, behind I/O port 0x3e8; this kernel is its l1vh partition$'
		assert_success
		# mshv saw a parent partition too, and stopped where it found no
		# Hyper-V version in CPUID (TCG has none).
		run console_grep -g "$g" 'hv_get_hypervisor_version: Could not detect Hyper-V version'
		assert_success
		assert_equal "$(r backend $g)" 1
		assert_equal "$(r boot $g)" 0
		assert_equal "$(r err $g)" none
		assert_equal "$(r after $g)" "200 0"
		# Nothing at boot: no logical processor added, no page taken.
		l=$art/dumps/boot-gen$g.hv-ledger
		assert_equal "$(hv_ledger lps "$l")" 0
		assert_equal "$(hv_ledger held "$l")" $((200 * g))
		l=$art/dumps/end-gen$g.hv-ledger
		assert_equal "$(hv_ledger held_carveout "$l")" $((200 * (g + 1)))
		assert_equal "$(hv_ledger held_ordinary "$l")" 0
		assert_equal "$(ledger_parts "$l")" "1:$((200 * (g + 1)))"
	done
	run console_grep 'logical processors added'
	assert_failure 1
	# The control: a guest partition, the same kernel and carveout.
	run console_grep -g 2 'this kernel is its guest partition$'
	assert_success
	run console_grep -g 2 'hv_get_hypervisor_version'
	assert_failure 1
	assert_equal "$(r backend 2)" 0
	run r err 2
	assert_output --partial "No such device"
	assert_equal "$(r after 2)" "0 0"
	l=$art/dumps/end-gen2.hv-ledger
	assert_equal "$(hv_ledger held "$l")" 400
	assert_equal "$(hv_ledger guest_writes)" 0
	assert_equal "$(hv_ledger ordinary_across_kexec)" 0
	host_mode_clean '(l1vh|guest)'
}

# Issue 16 item 7. The simulator must never run under a real hypervisor:
# it would read, through its scan, the carveout pages the hypervisor holds.
# It finds one by its CPUID signature ("Microsoft Hv"), which QEMU's TCG
# cannot show; hvcarve_sim.refuse_hv= names one more signature to refuse
# under, and TCG shows "TCGTCGTCGTCG" (QEMU's tcg-cpuid). The same check
# and the same refusal then run, in host mode (generation 0) and as the
# in-guest hypervisor (generation 2), and with the CPU's "hypervisor" flag
# cleared (clearcpuid=hypervisor, generation 3): CPUID still shows the
# hypervisor's leaves, and a real root would still be one. A refuse_hv= of
# the wrong length is refused whole (generation 4). Generation 1 is the
# control: the same kernel without refuse_hv=, whose deposits go through;
# the model holds them across every later boot, and nothing writes them.
@test "the simulator never runs under a hypervisor it must not simulate (its CPUID signature; TCG's, named by refuse_hv=), in host mode or not: no backend, no scan, no debugfs; the control without it deposits" {
	local tcg="hvcarve_sim.refuse_hv=TCGTCGTCGTCG"
	# clearcpuid= taints S (TAINT_CPU_OUT_OF_SPEC): allowed, and required
	# below of generation 3 only.
	vm_run - "nokaslr $CARVE $HOST $tcg" --hv-model "$MODEL" --allow-taint S <<EOS
. /hvt/sim.sh
g=\$(hvt_gen)
hvt_result backend "\$(dmesg | grep -c 'hvcarve: deposit backend')"
hvt_result debugfs "\$(ls /sys/kernel/debug/hvcarve_sim 2>/dev/null | wc -l)"
if [ "\$g" = 1 ]; then
	hvt_sim_deposit 100 1 || hvt_fail "deposit: \$hvt_sim_err"
fi
hvt_result deposited "\$(cat \$(hvt_region)/deposited_pages)"
hvt_ckpt "end-gen\$g"
case \$g in
0) hvt_kexec -s /boot/vmlinuz-new "$CARVE $HOST" ;;
1) hvt_kexec -l /boot/vmlinuz-new "$CARVE $tcg" ;;
2) hvt_kexec -s /boot/vmlinuz-new "$CARVE $tcg clearcpuid=hypervisor" ;;
3) hvt_kexec -s /boot/vmlinuz-new "$CARVE hvcarve_sim.refuse_hv=TCG" ;;
*) hvt_done ;;
esac
EOS
	local art g l
	art=$(vm_artifacts)
	assert_equal "$(last_gen)" 4
	for g in 0 1 2 4; do
		assert_equal "$(r tainted $g)" 0
	done
	assert_equal "$(r tainted 3)" 4
	for g in 0 2 3 4; do
		assert_equal "$(r backend $g)" 0
		assert_equal "$(r debugfs $g)" 0
		assert_equal "$(r deposited $g)" 0
		run console_grep -g "$g" 'hvcarve_sim: (host mode|ledger:)'
		assert_failure 1
	done
	for g in 0 2 3; do
		run console_grep -g "$g" '^\[ *[0-9.]+\] hvcarve_sim: not used: a hypervisor that must not be simulated is present \(TCGTCGTCGTCG\), and the carveout pages it holds must not be read$'
		assert_success
	done
	run console_grep -g 4 'hvcarve_sim: not used: a hypervisor that must not be simulated is present \(a bad refuse_hv=: not 12 characters, or a second signature\)'
	assert_success
	# The control: host mode up, and nothing but its line of success.
	run console_grep -g 1 'hvcarve_sim: host mode: the hypervisor is the host.s, behind I/O port 0x3e8; this kernel is its root partition$'
	assert_success
	run console_grep -g 1 'hvcarve_sim: host mode: '
	assert_equal "${#lines[@]}" 1
	assert_equal "$(r backend 1)" 1
	assert_equal "$(r debugfs 1)" 7
	assert_equal "$(r deposited 1)" 100
	# The model: generation 0, in host mode but refused, never said hello;
	# the control did, and its 100 pages are held. Generations 2 to 4
	# do not talk to the model: when QEMU ended it found none of those
	# pages written by them.
	l=$art/dumps/end-gen0.hv-ledger
	assert_equal "$(hv_ledger epoch "$l")" 0
	l=$art/dumps/end-gen1.hv-ledger
	assert_equal "$(hv_ledger epoch "$l")" 1
	assert_equal "$(hv_ledger held_carveout "$l")" 100
	assert_equal "$(hv_ledger held_carveout)" 100
	assert_equal "$(hv_ledger guest_writes)" 0
}

# Issue 18 item 3, integrity.bats's loop against the adversarial model: a
# chain through Debian's stock kernel (6.1, which knows nothing of hvcarve
# or of the model), both syscalls, memory pressure (memhog 90%) in every
# generation and deposits in every patched one. At every checkpoint, with
# the guest stopped, the model checks every page it holds: none may have
# been written, by the stock kernel either, and no ordinary page may have
# crossed a kexec.
@test "a chain through the stock kernel against the adversarial model (HVT_HV_SEED), memory pressure everywhere: no held page written, none ordinary across a kexec" {
	local seed=${HVT_HV_SEED:-7}
	echo "# hv-model seed $seed" >&3
	vm_run - "nokaslr $CARVE $HOST hvcarve.probe_seed=$seed" --timeout 600 \
		--hv-model "$MODEL --mode adversarial --seed $seed" <<EOS
. /hvt/sim.sh
g=\$(hvt_gen)
next="$CARVE $HOST hvcarve.probe_seed=$seed"
case "\$(uname -r)" in
*hvcarve*)
	hvt_sim_report start
	# The adversary fails whole deposits (INSUFFICIENT_MEMORY): up to
	# three tries each.
	for p in 1 2 3; do
		for t in 1 2 3; do
			hvt_sim_deposit \$((100 * p)) \$((p + 3 * g)) && break
		done
		hvt_result "dep\$p" "tries=\$t \$hvt_sim_err"
	done
	hvt_sim_report end
	patched=1 ;;
*)	patched=0 ;;
esac
hvt_result patched "\$patched"
hvt_memhog_run 90 80 || hvt_fail "memhog failed"
hvt_memhog_release
hvt_ckpt "gen\$g"
case \$g in
0) hvt_kexec -s /boot/vmlinuz-old ;;
1) hvt_kexec -l /boot/vmlinuz-new "\$next" ;;
2) hvt_kexec -l /boot/vmlinuz-new "\$next" ;;
3) hvt_kexec -s /boot/vmlinuz-old ;;
4) hvt_kexec -s /boot/vmlinuz-new "\$next" ;;
*) hvt_done ;;
esac
EOS
	local art g l prev=0 held checks=0
	art=$(vm_artifacts)
	assert_equal "$(last_gen)" 5
	for g in 0 1 2 3 4 5; do
		l=$art/dumps/gen$g.hv-ledger
		held=$(hv_ledger held_carveout "$l")
		echo "gen $g: patched $(r patched $g); model: epoch $(hv_ledger epoch "$l"), held $held, injected $(hv_ledger injected "$l"), full checks $(hv_ledger full_checks "$l")"
		assert_equal "$(hv_ledger guest_writes "$l")" 0
		assert_equal "$(hv_ledger ordinary_across_kexec "$l")" 0
		assert_equal "$(hv_ledger held_ordinary "$l")" 0
		assert_equal "$(hv_ledger bad_frames "$l")" 0
		# Each checkpoint is a full check of its own.
		[ "$(hv_ledger full_checks "$l")" -gt "$checks" ]
		checks=$(hv_ledger full_checks "$l")
		if [ "$(r patched $g)" = 1 ]; then
			# What this generation deposited, the model took, and it
			# did deposit.
			assert_equal $((held - prev)) \
				$(($(r end.deposited_pages $g) - $(r start.deposited_pages $g)))
			[ "$held" -gt "$prev" ] || fail "generation $g deposited nothing"
		else
			# The stock kernel deposits nothing, and says no hello.
			assert_equal "$held" "$prev"
			assert_equal "$(hv_ledger epoch "$l")" \
				"$(hv_ledger epoch "$art/dumps/gen$((g - 1)).hv-ledger")"
		fi
		prev=$held
	done
	[ "$held" -gt 0 ]
	assert_equal "$(hv_ledger guest_writes)" 0
	assert_equal "$(hv_ledger ordinary_across_kexec)" 0
	host_mode_clean
}

# A hypervisor for which hvcarve's assumption is false: it accepts a page
# it already holds (SUCCESS) instead of refusing it, and does not take it
# again (the model's --mode blind). Generation 1 offers the pages
# generation 0 deposited, and learns nothing; through the real backend's
# HvCallGetMemoryBalance, the glue sees the balance grow by less than what
# was accepted, and stops depositing into the carveout. The control is the
# same chain against the honest model, which refuses those pages.
BLIND_SCENARIO='. /hvt/sim.sh
g=$(hvt_gen)
if [ "$g" = 0 ]; then
	hvt_sim_deposit 100 1 || hvt_fail "deposit: $hvt_sim_err"
	hvt_kexec -s /boot/vmlinuz-new "nokaslr $CARVE $HOST"
fi
if hvt_sim_deposit 50 2; then hvt_result second ok; else hvt_result second "$hvt_sim_err"; fi
hvt_sim_report second
if hvt_sim_deposit 10 3; then hvt_result third ok; else hvt_result third "$hvt_sim_err"; fi
hvt_sim_report third
hvt_ckpt end
hvt_done'

@test "a hypervisor that accepts a page it already holds (the model's blind mode) is caught by the real backend's memory balance: the carveout is distrusted; the honest model is the control" {
	local mode l
	for mode in blind honest; do
		VM_TAG=$mode vm_run - "nokaslr $CARVE $HOST" --hv-model "$MODEL --mode $mode" \
			<<<"CARVE='$CARVE' HOST='$HOST'; $BLIND_SCENARIO"
		VM_TAG=$mode host_mode_clean
	done
	export VM_TAG=blind
	l=$(vm_artifacts)/dumps/end.hv-ledger
	assert_equal "$(hv_ledger mode "$l")" blind
	# 50 pages "accepted" in generation 1, none of them taken.
	assert_equal "$(r second 1)" ok
	assert_equal "$(hv_ledger accepted_held "$l")" 50
	# The glue asked the model for the balance: HvCallGetMemoryBalance.
	[ "$(hv_ledger calls_balance "$l")" -gt 0 ]
	assert_equal "$(hv_ledger refusals "$l")" 0
	assert_equal "$(r second.state 1)" distrusted
	assert_equal "$(r second.reason 1)" "partition 0x2: 50 pages were accepted, but its memory balance grew by 0"
	run console_grep -g 1 'hvcarve: the hypervisor contradicted what hvcarve assumes: partition 0x2: 50 pages were accepted'
	assert_success
	# Nothing more goes into the carveout.
	run r third 1
	assert_output --partial "Cannot allocate memory"
	assert_equal "$(r third.deposited_pages 1)" "$(r second.deposited_pages 1)"
	assert_equal "$(hv_ledger held "$l")" 100
	assert_equal "$(ledger_parts "$l")" "1:100"
	assert_equal "$(hv_ledger guest_writes)" 0
	assert_equal "$(hv_ledger ordinary_across_kexec)" 0
	# The control: those pages are refused, learnt, and the rest taken.
	export VM_TAG=honest
	l=$(vm_artifacts)/dumps/end.hv-ledger
	assert_equal "$(hv_ledger mode "$l")" honest
	assert_equal "$(r second 1)" ok
	assert_equal "$(r third 1)" ok
	assert_equal "$(r third.state 1)" active
	assert_equal "$(r third.reason 1)" none
	assert_equal "$(hv_ledger accepted_held "$l")" 0
	[ "$(hv_ledger refusals "$l")" -gt 0 ]
	assert_equal "$(hv_ledger held "$l")" 160
	assert_equal "$(ledger_parts "$l")" "1:100 2:50 3:10"
	run console_grep -g 1 'contradicted'
	assert_failure
	assert_equal "$(hv_ledger guest_writes)" 0
}
