#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# kdump with a carveout: the patched kernel panics, the crash kernel boots,
# /proc/vmcore's program headers leave the carveout out (it is not System
# RAM), and reading all of the vmcore leaves the carveout byte-identical.

load helpers
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

CARVE_BASE=0x3a000000
CARVE_SIZE=0x4000000

teardown() {
	hvt_teardown
}

@test "kdump: vmcore excludes the carveout, reading it leaves the carveout intact" {
	vm_run - "nokaslr hvcarve=64M@$CARVE_BASE crashkernel=160M" \
		--allow 'Kernel panic - not syncing: sysrq triggered crash' <<EOS2
. /hvt/sim.sh
if [ "\$(hvt_gen)" = 0 ]; then
	hvt_result crash_res "\$(grep 'Crash kernel' /proc/iomem | tr -d ' ')"
	hvt_sim_deposit 500 1 || hvt_fail "deposit: \$hvt_sim_err"
	hvt_rebuild_initramfs /tmp/crash.cpio || hvt_fail "initramfs"
	kexec -s -p /boot/vmlinuz-new --initrd=/tmp/crash.cpio \
		--append="console=ttyS0 nokaslr irqpoll nr_cpus=1 reset_devices" || hvt_fail "kexec -p"
	rm -f /tmp/crash.cpio
	hvt_result crash_loaded "\$(cat /sys/kernel/kexec_crash_loaded)"
	hvt_ckpt pre-panic $CARVE_BASE $CARVE_SIZE
	echo c >/proc/sysrq-trigger
	hvt_fail "still alive after the panic"
fi
hvt_result vmcore_size "\$(stat -c %s /proc/vmcore)"
vmcore-phdrs >/tmp/phdrs || hvt_fail "no PT_LOAD in /proc/vmcore"
hvt_result phdrs "\$(tr '\n' ' ' </tmp/phdrs)"
hvt_result vmcore_read_kib "\$(cat /proc/vmcore | wc -c | awk '{ print int(\$1 / 1024) }')"
hvt_ckpt after-vmcore $CARVE_BASE $CARVE_SIZE
hvt_done
EOS2
	run result crash_res 0
	assert_output --regexp '^[0-9a-f]+-[0-9a-f]+:Crashkernel$'
	assert_equal "$(result crash_loaded 0)" 1
	# The crash kernel ran and saw a vmcore.
	assert_equal "$(last_gen)" 1
	[ "$(result vmcore_read_kib 1)" -gt 100000 ]
	local phdrs s e covered=0
	phdrs=$(result phdrs 1)
	echo "PT_LOAD: $phdrs"
	# shellcheck disable=SC2086 # a list of numbers
	set -- $phdrs
	while [ $# -ge 2 ]; do
		s=$(($1)) e=$(($2))
		shift 2
		if [ "$s" -lt $((CARVE_BASE + CARVE_SIZE)) ] && [ "$e" -ge $((CARVE_BASE)) ]; then
			fail "PT_LOAD $(printf '0x%x-0x%x' "$s" "$e") overlaps the carveout"
		fi
		# The RAM right after the carveout is in the dump (control).
		if [ "$s" -le $((CARVE_BASE + CARVE_SIZE)) ] && [ "$e" -ge $((CARVE_BASE + CARVE_SIZE)) ]; then
			covered=1
		fi
	done
	assert_equal "$covered" 1
	dumps_equal pre-panic after-vmcore
}
