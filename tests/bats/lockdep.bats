#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# The lockdep kernel: the test kernel with PROVE_LOCKING and
# DEBUG_ATOMIC_SLEEP, less what none of these tests runs (block devices,
# networking, cgroups, hibernation, EFI: configs/hvcarve-lockdep.config,
# built by `make lockdep-kernel` in build/kbuild-lockdep). deposit.bats's
# main cases and smp.bats (one stress thread per vCPU) run under it,
# every generation of their kexec chains included: its initramfs has the
# lockdep kernel as /boot/vmlinuz-new. Any lockdep or atomic-sleep report
# fails a run: the driver's console check (tests/lib/vmrun.sh) takes every
# report these can print for a crash, which the last two tests show, on a
# real report and on every report title in the tree's sources.
#
#   LOCKDEP_KERNEL  the lockdep bzImage (build/kbuild-lockdep/arch/x86/boot/bzImage)
#   HVT_LOCKDEP_STRESS_SECONDS  smp.bats's stress runs here (default 5;
#                   smp.bats alone: 15)

load helpers
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

LOCKDEP_KERNEL=$(hvt_abspath "${LOCKDEP_KERNEL:-build/kbuild-lockdep/arch/x86/boot/bzImage}")
LOCKDEP_CONFIG=$(cd "$(dirname "$LOCKDEP_KERNEL")/../../.." 2>/dev/null && pwd)/.config
LOCKDEP_INITRD=$HVT_ROOT/build/initramfs/lockdep.cpio
KTREE=${KTREE:-$HVT_ROOT/build/linux}
CARVE_BASE=0x3a000000

# deposit.bats's cases that run here (the prefixes of their names): the
# deposit/withdraw paths, learning after kexec -l and -s, both overflow
# policies with the kexec gate, and contiguous blocks.
DEPOSIT_CASES=(
	'deposit 1000 pages for two partitions'
	'after kexec -l and kexec -s, new deposits avoid'
	'deny policy:'
	'allow policy:'
	'a contiguous request gets one naturally aligned block'
)

# The locks lockdep must have seen (lock class names in /proc/lockdep):
# hvcarve's region lock, the kexec gate's (drivers/hv/hv_deposit_gate.c),
# the glue's backend mutex and the simulator's.
HVCARVE_LOCKS=('&reg->lock' hv_deposit_gate_lock hv_carve_backend_lock hvcsim_lock)

setup_file() {
	[ -f "$LOCKDEP_KERNEL" ] || {
		echo "no lockdep kernel at $LOCKDEP_KERNEL: run 'make lockdep-kernel'" >&2
		return 1
	}
	# The base initramfs with the lockdep kernel as /boot/vmlinuz-new: a
	# second newc archive after it, whose file replaces the first one's.
	if [ ! -f "$LOCKDEP_INITRD" ] || [ "$LOCKDEP_KERNEL" -nt "$LOCKDEP_INITRD" ] ||
		[ "$BASE_INITRD" -nt "$LOCKDEP_INITRD" ]; then
		local stage
		stage=$(mktemp -d "$BATS_FILE_TMPDIR/lockdep-initrd.XXXXXX")
		chmod 755 "$stage"
		mkdir -p "$stage/boot"
		cp "$LOCKDEP_KERNEL" "$stage/boot/vmlinuz-new"
		{
			cat "$BASE_INITRD"
			(cd "$stage" && find . | LC_ALL=C sort |
				cpio -o -H newc --owner=0:0 --reproducible --quiet)
		} >"$LOCKDEP_INITRD.tmp"
		mv "$LOCKDEP_INITRD.tmp" "$LOCKDEP_INITRD"
		rm -rf "$stage"
	fi
}

teardown() {
	hvt_teardown
}

r() {
	result "$1" "${2:-0}"
}

# lockdep_suite FILE FILTER N [VAR=VALUE...]: run the bats suite FILE (its
# tests matching FILTER, a bash regex) under the lockdep kernel, with
# VAR=VALUE... in its environment; exactly N tests must run, and all pass
# (none skipped).
lockdep_suite() {
	local file=$1 filter=$2 want=$3 n_ok n_not n_skip plan
	# Its artifacts, all kept (the consoles are checked below); removed
	# when everything passed.
	local art=$HVT_ARTIFACTS_ROOT/lockdep-runs/${file%.bats}
	shift 3
	rm -rf "$art"
	run env "$@" VM_KERNEL="$LOCKDEP_KERNEL" NEW_KERNEL="$LOCKDEP_KERNEL" \
		BASE_INITRD="$LOCKDEP_INITRD" HVT_ARTIFACTS_ROOT="$art" HVT_KEEP_ARTIFACTS=1 \
		bats --formatter tap --timing --filter "$filter" "$HVT_ROOT/tests/bats/$file"
	echo "$output"
	plan=$(sed -n -E 's/^1\.\.([0-9]+)$/\1/p' <<<"$output")
	n_ok=$(grep -cE '^ok [0-9]+ ' <<<"$output" || true)
	n_skip=$(grep -cE '^ok [0-9]+ .*# skip' <<<"$output" || true)
	n_not=$(grep -cE '^not ok [0-9]+ ' <<<"$output" || true)
	assert_equal "$plan" "$want"
	assert_equal "$n_not" 0
	assert_equal "$n_skip" 0
	assert_equal "$n_ok" "$want"
	assert_success
	# Every kernel those tests booted, kexec'd ones included, was the
	# lockdep kernel: each boot in their consoles ran the locking API
	# self-tests, which only it has.
	local con boots selftests runs=0
	while IFS= read -r con; do
		boots=$(tr -d '\r' <"$con" | grep -v '^hvt:' | grep -c 'Linux version ' || true)
		selftests=$(grep -cE 'Good, all +[0-9]+ testcases passed! \|' "$con" || true)
		echo "$boots boot(s), $selftests with lockdep self-tests: $con"
		if [ "$boots" -lt 1 ] || [ "$selftests" != "$boots" ]; then
			fail "a kernel other than the lockdep kernel ran: $con"
		fi
		runs=$((runs + 1))
	done < <(find "$art" -name console.log | sort)
	[ "$runs" -ge "$want" ] || fail "only $runs VM runs for $want tests"
	rm -rf "$art"
}

@test "the lockdep kernel is a second configuration: PROVE_LOCKING and DEBUG_ATOMIC_SLEEP, in hvcarve's objects too; the test kernel has neither" {
	local opt
	for opt in CONFIG_PROVE_LOCKING CONFIG_DEBUG_ATOMIC_SLEEP CONFIG_LOCKDEP CONFIG_DEBUG_LOCK_ALLOC \
		CONFIG_DEBUG_SPINLOCK CONFIG_DEBUG_MUTEXES CONFIG_PROVE_RCU CONFIG_DEBUG_LOCKING_API_SELFTESTS \
		CONFIG_HVCARVE CONFIG_HVCARVE_SIM CONFIG_KEXEC_HANDOVER; do
		grep -qx "$opt=y" "$LOCKDEP_CONFIG" || fail "$LOCKDEP_CONFIG: no $opt=y"
	done
	for opt in CONFIG_PROVE_LOCKING CONFIG_DEBUG_ATOMIC_SLEEP CONFIG_LOCKDEP; do
		run grep -x "$opt=y" "$HVT_ROOT/build/kbuild/.config"
		assert_failure
	done
	# hvcarve's own code is instrumented: the glue's and the simulator's
	# mutexes go through lockdep (mutex_lock_nested), the glue's
	# might_sleep() checks are compiled in (__might_sleep), the pool's
	# spinlocks get lockdep classes (__raw_spin_lock_init); the test
	# kernel's objects have none of that.
	local ld=${LOCKDEP_CONFIG%/.config} sym obj
	for sym in hv_carve_deposit.o:mutex_lock_nested hv_carve_deposit.o:__might_sleep \
		hv_carve_sim.o:mutex_lock_nested; do
		obj=drivers/hv/${sym%%:*}
		run nm "$ld/$obj"
		assert_line --regexp "^ +U ${sym#*:}\$"
		run nm "$HVT_ROOT/build/kbuild/$obj"
		assert_success
		refute_line --regexp "^ +U ${sym#*:}\$"
	done
	run nm "$ld/mm/hvcarve.o"
	assert_line --regexp '^ +U __raw_spin_lock_init$'
	run nm "$HVT_ROOT/build/kbuild/mm/hvcarve.o"
	assert_success
	refute_line --regexp '^ +U __raw_spin_lock_init$'
	# The initramfs of these runs kexecs into the lockdep kernel.
	run cmp "$LOCKDEP_KERNEL" "$NEW_KERNEL"
	assert_failure
}

# Lockdep stays on only as long as it has found nothing (its first report
# turns it off): debug_locks still 1 after the stress and a kexec, with
# hvcarve's locks among the classes it tracks, is its verdict on them.
@test "4 vCPUs under lockdep: its self-tests pass, it tracks hvcarve's locks, and after stress and kexec -s it is still on" {
	vm_run - "nokaslr hvcarve=16M@$CARVE_BASE" --kernel "$LOCKDEP_KERNEL" \
		--initrd "$LOCKDEP_INITRD" --smp 4 --timeout 300 <<EOF
. /hvt/sim.sh
lockdep_report() {
	hvt_result "\$1.debug_locks" "\$(awk '/debug_locks:/ { print \$2 }' /proc/lockdep_stats)"
	hvt_result "\$1.classes" "\$(awk '/lock-classes:/ { print \$2 }' /proc/lockdep_stats)"
	hvt_result "\$1.dependencies" "\$(awk '\$1 == "direct" && \$2 == "dependencies:" { print \$3 }' /proc/lockdep_stats)"
	for l in $(printf "'%s' " "${HVCARVE_LOCKS[@]}"); do
		hvt_result "\$1.class.\$l" "\$(awk -v l="\$l" '\$NF == l { n++ } END { print n + 0 }' /proc/lockdep)"
	done
}
if [ "\$(hvt_gen)" = 0 ]; then
	lockdep_report boot
	# 1000 pages for partition 9, which the stress (partitions 1-4) leaves
	# alone; what the stress leaves is withdrawn.
	hvt_sim_deposit 1000 9 || hvt_fail "deposit: \$hvt_sim_err"
	echo "3 4242 4" >\$HVT_SIM/stress || hvt_fail "stress failed"
	hvt_result stress "\$(grep ^stress \$HVT_SIM/ledger)"
	for p in 1 2 3 4; do
		hvt_sim_withdraw 1000000 \$p || hvt_fail "withdraw: \$hvt_sim_err"
	done
	hvt_result held "\$(hvt_sim_ledger held)"
	lockdep_report stress
	hvt_kexec -s /boot/vmlinuz-new "hvcarve=16M@$CARVE_BASE"
	hvt_fail "kexec -s did not happen"
fi
# The next (lockdep) kernel learns what the hypervisor holds.
hvt_sim_deposit 500 5 || hvt_fail "deposit: \$hvt_sim_err"
hvt_sim_report end
lockdep_report end
hvt_done
EOF
	assert_equal "$(last_gen)" 1
	# Both boots: the stock locking API self-tests, every deliberate
	# locking bug caught.
	local g
	for g in 0 1; do
		run console_grep -g "$g" 'Good, all +[0-9]+ testcases passed! \|'
		assert_success
	done
	run console_grep 'unexpected failures|FAILED\|'
	assert_failure
	[[ $(r stress) =~ threads=4\ ops=([0-9]+) ]] || fail "no stress line: $(r stress)"
	[ "${BASH_REMATCH[1]}" -ge 50 ]
	local k l
	for k in boot stress; do
		assert_equal "$(r "$k.debug_locks")" 1
	done
	assert_equal "$(r end.debug_locks 1)" 1
	for l in "${HVCARVE_LOCKS[@]}"; do
		[ "$(r "stress.class.$l")" -ge 1 ] || fail "lockdep has no class $l after the stress"
		[ "$(r "end.class.$l" 1)" -ge 1 ] || fail "lockdep has no class $l in the next kernel"
	done
	# It kept learning dependencies during the run.
	[ "$(r stress.dependencies)" -gt "$(r boot.dependencies)" ]
	# The deposits themselves: partition 9's 1000 pages crossed the kexec,
	# and the next kernel learnt them from refusals.
	assert_equal "$(r held)" 1000
	assert_equal "$(r end.sim_held 1)" 1500
	assert_equal "$(r end.deposited_pages 1)" 500
	[ "$(r end.sim_refusals 1)" -gt 0 ]
	assert_equal "$(r end.inherited_pages 1)" "$(r end.sim_refusals 1)"
	assert_equal "$(r end.sim_corrupted 1)" 0
}

@test "deposit.bats's main cases pass under the lockdep kernel" {
	local filter='' c
	for c in "${DEPOSIT_CASES[@]}"; do
		# shellcheck disable=SC2001,SC2016 # the name, regex-quoted
		filter+="${filter:+|}^$(sed 's/[][\.*^$()+?{}|]/\\&/g' <<<"$c")"
	done
	lockdep_suite deposit.bats "$filter" "${#DEPOSIT_CASES[@]}"
}

@test "smp.bats (4-vCPU stress, a kexec load racing it) passes under the lockdep kernel" {
	# SeaBIOS: the lockdep kernel has no EFI stub.
	lockdep_suite smp.bats '.' 2 HVT_STRESS_SECONDS="${HVT_LOCKDEP_STRESS_SECONDS:-5}" HVT_FIRMWARE=bios
}

# The negative control: a real lockdep report. The locking API self-tests
# print theirs with debug_locks_verbose= (1: the spinlock cases); those
# must fail the run as a crash.
@test "control: real lockdep reports in the console fail the run (exit 4)" {
	run -4 vm_run - "nokaslr debug_locks_verbose=1" --kernel "$LOCKDEP_KERNEL" \
		--initrd "$LOCKDEP_INITRD" --timeout 200 <<<'hvt_done'
	assert_output --regexp "kernel crash in the console \(gen 0\): (\[ *[0-9.]+\] )?WARNING: possible (recursive|circular) locking"
	run console_grep '^(\[ *[0-9.]+\] )?WARNING: possible recursive locking detected$'
	assert_success
	run "$VMRUN" --check-console "$(vm_artifacts)/console.log"
	assert_failure 4
}

# Every report title lockdep, the spinlock debugging and DEBUG_ATOMIC_SLEEP
# have in the tree's sources, as a console line: each is a crash for the
# driver. ("INFO: lockdep is turned off." is no report: it is printed with
# the held locks of a report that came before.)
@test "the driver's crash check catches every lockdep, spinlock and atomic-sleep report of the tree" {
	[ -f "$KTREE/kernel/locking/lockdep.c" ] || fail "no tree at $KTREE"
	local titles t con=$BATS_TEST_TMPDIR/console.log n
	titles=$(
		{
			grep -ohE '"(WARNING|BUG|INFO): [^"]*"' "$KTREE/kernel/locking/lockdep.c" \
				"$KTREE/kernel/locking/spinlock_debug.c"
			grep -ohE '"BUG: [^"]*"' "$KTREE/kernel/sched/core.c" |
				grep -E 'sleeping function|scheduling while atomic|atomic context'
		} | sed -E -e 's/^"//' -e 's/"$//' -e 's/\\n$//' -e 's/%p[a-z]*/ffff888003a1c000/g' \
			-e 's/%[-0-9]*l*[sduxi]/7/g' |
			grep -vxF 'INFO: lockdep is turned off.' | sort -u
	)
	echo "$titles"
	n=$(wc -l <<<"$titles")
	[ "$n" -ge 25 ] || fail "only $n report titles found in the sources"
	grep -qxF 'INFO: trying to register non-static key.' <<<"$titles"
	grep -qxF 'BUG: sleeping function called from invalid context at 7:7' <<<"$titles"
	while IFS= read -r t; do
		printf '[    1.234567] %s\r\n' "$t" >"$con"
		run -4 "$VMRUN" --check-console "$con"
		assert_output "vmrun: console: [    1.234567] $t"
	done <<<"$titles"
}
