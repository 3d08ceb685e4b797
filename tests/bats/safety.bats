#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# The safety of a root partition across kexec: no ordinary (overflow) page
# stays deposited across kexec -e: a reboot image loads only while none is
# deposited, and none is deposited while it is loaded, not even racing the
# load; a crash kernel still loads; a carveout next to a reserved range is
# recognised after every kexec and through the stock kernel, while a
# reservation that is not a carveout is refused; a root partition never
# panics for hvcarve; learning stops on a refusal of everything; the kexec
# e820 limit. The simulated hypervisor plays the hypervisor; the host checks
# memory with QEMU dumps.

load helpers
hvt_chain_firmware
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

DUMP=$HVT_ROOT/tools/hvcarve/hvcarve-dump
CARVE_SIZE=0x4000000
SMALL_SIZE=0x400000
# safety_carve BASE: the carveout of 64 MiB ($CARVE) and of 4 MiB ($SMALL)
# at BASE.
safety_carve() {
	CARVE_BASE=$1
	CARVE="hvcarve=64M@$CARVE_BASE"
	SMALL="hvcarve=4M@$CARVE_BASE"
}
# 512 MiB: RAM under SeaBIOS and OVMF alike, clear of OVMF's boot
# services memory near the top of the 1 GiB (reserve.bats).
safety_carve 0x20000000

# The tests of the boot memory map's layout (a reservation beside the
# carveout, the 128-entry limit, SETUP_E820_EXT, the kexec-tools 2.0.20
# /proc/iomem path) and of hibernation build on SeaBIOS's map, with the
# carveout at 928 MiB, as they were written; the others boot UEFI.
# shellcheck disable=SC2034 # VM_FIRMWARE is vm_run's
safety_bios() {
	VM_FIRMWARE=bios
	NOKASLR=nokaslr
	safety_carve 0x3a000000
}

teardown() {
	hvt_teardown
}

r() {
	result "$1" "${2:-0}"
}

# decode_value DUMP BASE KEY: one value of the host decoder's summary.
decode_value() {
	"$DUMP" decode --base "$2" "$1" | awk -v k="$3" '$1 == k { print $2; f = 1 } END { exit !f }'
}

# ram_held NAME...: pages held in the simulator's format in the RAM dumps
# NAME (checkpoints of [0, carveout) and [carveout end, 1 GiB) of the
# tests with $SMALL), as the host decodes them: ordinary pages the
# hypervisor holds.
ram_held() {
	local low high
	low=$(decode_value "$(dump_file "$1")" 0 held) || return 1
	high=$(decode_value "$(dump_file "$2")" $((CARVE_BASE + SMALL_SIZE)) held) || return 1
	echo $((low + high))
}

# Guest: checkpoint NAME-low and NAME-high, all of RAM but the carveout
# ($SMALL).
RAM_CKPT='
ram_ckpt() {
	hvt_ckpt "$1-low" 0 '$CARVE_BASE'
	hvt_ckpt "$1-high" '$((CARVE_BASE + SMALL_SIZE))' '$((0x40000000 - CARVE_BASE - SMALL_SIZE))'
}
'

# Item 1. Once a kexec reboot image is loaded, no ordinary page is
# deposited until it is unloaded: a deposit past the carveout gets the
# carveout's pages and then fails with EBUSY, so the load decided the
# kexec and kexec -e goes through. The converse: kexec -u reopens the gate,
# ordinary pages go in again, and a load is then refused with EBUSY until
# they are withdrawn. The host scans RAM for pages the hypervisor holds
# while the image is loaded, while the ordinary pages are deposited (the
# control: it must find them) and in the next kernel.
@test "after a kexec load no ordinary page is deposited until kexec -u; kexec -e goes through and the next kernel's RAM holds none" {
	vm_run - "$NOKASLR $SMALL hvcarve.overflow=allow" <<EOF
. /hvt/sim.sh
$RAM_CKPT
export HVT_DUMP_RANGES="$CARVE_BASE $SMALL_SIZE"
if [ "\$(hvt_gen)" = 0 ]; then
	hvt_kexec_load -s /boot/vmlinuz-new "$SMALL" || hvt_fail "kexec load failed"
	# Asks for the carveout's 1024 pages and 976 ordinary ones.
	if hvt_sim_deposit 2000 1; then
		hvt_result past ok
	else
		hvt_result past "\$hvt_sim_err"
	fi
	hvt_result past.last "\$(grep ^last_deposit \$HVT_SIM/ledger)"
	hvt_sim_report past
	hvt_result past.loaded "\$(cat /sys/kernel/kexec_loaded)"
	ram_ckpt loaded
	# Unloaded, ordinary pages go in again (partition 2: the carveout
	# is full), and a load is refused until they are withdrawn.
	kexec -u || hvt_fail "kexec -u failed"
	hvt_result unloaded "\$(cat /sys/kernel/kexec_loaded)"
	hvt_sim_deposit 976 2 || hvt_fail "deposit after kexec -u: \$hvt_sim_err"
	hvt_result reopened.overflow "\$(cat \$HVT_HVC/overflow_pages)"
	ram_ckpt with-overflow
	hvt_kexec_load -s /boot/vmlinuz-new "$SMALL" && hvt_fail "kexec loaded with ordinary pages deposited"
	hvt_result refused.loaded "\$(cat /sys/kernel/kexec_loaded)"
	hvt_sim_withdraw 1000000 2 || hvt_fail "withdraw: \$hvt_sim_err"
	hvt_result withdrawn.overflow "\$(cat \$HVT_HVC/overflow_pages)"
	hvt_kexec_load -s /boot/vmlinuz-new "$SMALL" || hvt_fail "kexec load failed after the withdrawal"
	ram_ckpt at-kexec
	hvt_kexec_exec
	hvt_fail "kexec -e refused after an accepted load: \$hvt__kout"
fi
ram_ckpt next-kernel
hvt_ckpt post-boot $CARVE_BASE 0x400000
# Memory pressure: the next kernel hands out all it can; the carveout must
# come through that too.
hvt_memhog_run 90 80
hvt_memhog_release
hvt_ckpt post-hog $CARVE_BASE 0x400000
hvt_sim_report boot
hvt_done
EOF
	assert_equal "$(last_gen)" 1
	# Loaded: the deposit got the carveout's 1024 pages, then failed with
	# EBUSY instead of depositing ordinary ones; the image stayed loaded.
	run r past
	assert_output --partial "Device or resource busy"
	run r past.last
	assert_output --regexp '^last_deposit requested=2000 deposited=1024 overflow=0 rc=-16 '
	assert_equal "$(r past.deposited_pages)" 1024
	assert_equal "$(r past.deposit_fail_pages)" 976
	assert_equal "$(r past.overflow_pages)" 0
	assert_equal "$(r past.sim_held)" 1024
	assert_equal "$(r past.loaded)" 1
	run console_grep -g 0 'hvcarve: partition 0x1: 976 ordinary pages not deposited: a kexec image is loaded'
	assert_success
	run console_grep -g 0 'hvcarve: deposited [0-9]+ ordinary pages for partition 0x1 '
	assert_failure
	# The host finds no ordinary page the hypervisor holds...
	assert_equal "$(ram_held loaded-low loaded-high)" 0
	# ...while after kexec -u it finds the 976 that go in again: the
	# scan sees them when they are there.
	assert_equal "$(r unloaded)" 0
	assert_equal "$(r reopened.overflow)" 976
	assert_equal "$(ram_held with-overflow-low with-overflow-high)" 976
	# With them deposited the load is refused, and nothing is loaded.
	run awk '$2 == "kexec_load" { print $3 }' "$(vm_artifacts)/results.txt"
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_line --index 0 rc=0
	assert_line --index 1 --regexp '^rc=[1-9]'
	assert_line --index 2 rc=0
	run r kexec_load_err
	assert_output --partial "Device or resource busy"
	run console_grep -g 0 'hv_deposit: kexec refused: 976 ordinary pages are deposited in the hypervisor'
	assert_success
	assert_equal "$(r refused.loaded)" 0
	assert_equal "$(r withdrawn.overflow)" 0
	# None at the kexec either: the check its control (below) shows
	# failing, whatever the next kernel then writes over.
	assert_equal "$(ram_held at-kexec-low at-kexec-high)" 0
	# kexec -e went through at once; no ordinary page the hypervisor
	# holds is in the next kernel's RAM, and the carveout crossed whole.
	assert_equal "$(ram_held next-kernel-low next-kernel-high)" 0
	dumps_equal pre-kexec-gen0 post-boot
	local why
	why=$(memhog_floor_ok "$(r memhog 1)") || fail "$why"
	dumps_equal pre-kexec-gen0 post-hog
	assert_equal "$(decode_value "$(dump_file post-boot)" "$CARVE_BASE" held)" 1024
	assert_equal "$(r boot.sim_held 1)" 1024
	assert_equal "$(r boot.sim_corrupted 1)" 0
}

# Item 1's negative control: the simulator's "forget" file turns the gate
# off (it uncounts ordinary pages it still holds), so kexec -s goes ahead
# with 1000 ordinary pages deposited. The host finds all of them held in
# RAM at the kexec: the check ram_held at-kexec ... = 0 of the test above
# catches an ordinary page that crosses a kexec.
@test "negative control: with the gate told the ordinary pages came back, kexec goes ahead, and the host finds them held at the kexec" {
	# "forget" taints the kernel (U) on purpose.
	vm_run - "$NOKASLR $SMALL hvcarve.overflow=allow" --allow-taint U <<EOS
. /hvt/sim.sh
$RAM_CKPT
export HVT_DUMP_RANGES="$CARVE_BASE $SMALL_SIZE"
if [ "\$(hvt_gen)" = 0 ]; then
	# The carveout's 1024 pages and 1000 ordinary ones.
	hvt_sim_deposit 2024 1 || hvt_fail "deposit: \$hvt_sim_err"
	hvt_result overflow "\$(cat \$HVT_HVC/overflow_pages)"
	ram_ckpt deposited
	echo 1000 >\$HVT_SIM/forget || hvt_fail "forget failed"
	hvt_result forgotten "\$(cat \$HVT_HVC/overflow_pages)"
	ram_ckpt at-kexec
	hvt_kexec -s /boot/vmlinuz-new "$SMALL"
fi
ram_ckpt next-kernel
hvt_done
EOS
	assert_equal "$(r overflow 0)" 1000
	assert_equal "$(ram_held deposited-low deposited-high)" 1000
	assert_equal "$(r forgotten 0)" 0
	run console_grep -g 0 'hvcarve_sim: the kexec gate is told 1000 ordinary pages came back'
	assert_success
	assert_equal "$(last_gen)" 1
	# The check of the test above, at the kexec: it finds all 1000.
	assert_equal "$(ram_held at-kexec-low at-kexec-high)" 1000
	# The next kernel writes over some of them as it boots: the decoder
	# reports those as corrupted (and exits 1), which counts here too.
	local held=0 n f base
	for f in low high; do
		base=0
		[ $f = high ] && base=$((CARVE_BASE + SMALL_SIZE))
		# Exit 1 means corrupted pages found; anything else is an error.
		run "$DUMP" decode --base "$base" "$(dump_file "next-kernel-$f")"
		[ "$status" -le 1 ] || fail "hvcarve-dump decode next-kernel-$f: exit $status: $output"
		n=$(awk '$1 == "held" || $1 == "corrupted" { n += $2 } END { print n + 0 }' <<<"$output")
		held=$((held + n))
	done
	# Not asserted: where the next kernel is loaded over them, no trace is
	# left. Under SeaBIOS the pages came from the top of RAM and were found
	# there; under OVMF they came from below 16 MiB and none was found
	# (seen once; the next kernel loaded over them is the likely reason,
	# not checked). So the next kernel's scan cannot be relied on alone;
	# the scan at the kexec can.
	echo "held ordinary pages found in the next kernel's RAM, intact or written over: $held of 1000"
}

# Item 1, racing. A second vCPU deposits and withdraws ordinary pages in a
# loop, and keeps going, while the first retries the kexec load until it is
# accepted: a load is accepted only when no ordinary page is deposited,
# and from then on none may be, so the racer's deposits fail with EBUSY
# (it counts its failures, and their errors, in a file) and kexec -e goes
# through at its first try. Each of HVT_RACE_GENERATIONS (default 3)
# kexecs is one such race. The racer holds its 300 ordinary pages for most
# of each round (it reads sysfs 20 times before it withdraws them), so most
# loads must be refused and only the short gap before the next deposit
# lets one through: the test counts the refusals instead of hoping to see
# one. The host scans RAM just before kexec -e and in the next kernel for
# pages the hypervisor holds, and compares the carveout before kexec -e
# and after the boot.
@test "a kexec load racing overflow deposits from a second vCPU: refused while any is deposited, none slips in after it, kexec -e goes through" {
	local n=${HVT_RACE_GENERATIONS:-3} g refused=0 tries busy
	vm_run - "$NOKASLR $SMALL hvcarve.overflow=allow" --smp 2 --timeout $((60 + n * 150)) <<EOF
. /hvt/sim.sh
$RAM_CKPT
export HVT_DUMP_RANGES="$CARVE_BASE $SMALL_SIZE"
g=\$(hvt_gen)
if [ "\$g" -gt 0 ]; then
	ram_ckpt "next-kernel-gen\$g"
	hvt_ckpt "post-boot-gen\$g" $CARVE_BASE 0x400000
	hvt_sim_report boot
fi
if [ "\$g" -lt $n ]; then
	# The carveout is full: every further page is an ordinary one.
	[ "\$g" = 0 ] && { hvt_sim_deposit 1024 1 || hvt_fail "deposit: \$hvt_sim_err"; }
	# The next kernel's initramfs, packed once for all the loads below.
	hvt_rebuild_initramfs /tmp/next.cpio || hvt_fail "hvt_rebuild_initramfs failed"
	# The racer: one line in /tmp/racer.fail per failed deposit, its
	# error (the simulator's last_deposit rc).
	: >/tmp/racer.fail
	(
		while :; do
			echo "300 9" >\$HVT_SIM/deposit 2>/dev/null ||
				awk '\$1 == "last_deposit" { sub(/.* rc=/, ""); print \$1 }' \
					\$HVT_SIM/ledger >>/tmp/racer.fail
			i=0
			while [ \$i -lt 20 ]; do
				read -r x <\$HVT_HVC/overflow_pages
				i=\$((i + 1))
			done
			echo "300 9" >\$HVT_SIM/withdraw 2>/dev/null
		done
	) &
	# Wait (up to 20 s) until the racer holds ordinary pages: a single
	# sample could fall into the short gap between its rounds.
	i=0 seen=0
	while [ \$i -lt 200 ] && [ "\$seen" = 0 ]; do
		seen=\$(cat \$HVT_HVC/overflow_pages)
		i=\$((i + 1))
		[ "\$seen" != 0 ] || sleep 0.1
	done
	hvt_result racing_overflow "\$seen"
	# The load, until it is accepted; only EBUSY may refuse it.
	n=0 busy=0
	while :; do
		n=\$((n + 1))
		[ \$n -le 500 ] || hvt_fail "kexec load refused \$busy times"
		rc=0
		out=\$(kexec -s -l /boot/vmlinuz-new --initrd=/tmp/next.cpio \
			--append="console=ttyS0 $SMALL hvcarve.overflow=allow" 2>&1) || rc=\$?
		[ \$rc = 0 ] && break
		case \$out in
		*"Device or resource busy"*) busy=\$((busy + 1)) ;;
		*) hvt_fail "kexec load failed: rc=\$rc \$out" ;;
		esac
	done
	hvt_result load_tries "\$n"
	hvt_result load_busy "\$busy"
	hvt_result loaded "\$(cat /sys/kernel/kexec_loaded)"
	# Loaded: the racer goes on, and its deposits fail. Sample the
	# count of ordinary pages and the pages partition 9 holds in the
	# simulator's ledger (both must stay 0: the load was accepted with
	# none deposited) until it has failed 3 more times, at least 5
	# samples, at most 10 s.
	f0=\$(wc -l </tmp/racer.fail)
	i=0 ov= p9=
	while :; do
		i=\$((i + 1))
		ov="\${ov:+\$ov }\$(cat \$HVT_HVC/overflow_pages)"
		p9="\${p9:+\$p9 }\$(hvt_sim_partition 9)"
		f=\$((\$(wc -l </tmp/racer.fail) - f0))
		[ \$i -ge 5 ] && [ \$f -ge 3 ] && break
		[ \$i -lt 100 ] || break
		sleep 0.1
	done
	hvt_result after_load.overflow "\$ov"
	hvt_result after_load.p9 "\$p9"
	hvt_result after_load.fails "\$f"
	hvt_result racer_errors "\$(sort /tmp/racer.fail | uniq -c | tr -s ' \n' '  ')"
	ram_ckpt "at-kexec-gen\$g"
	hvt_kexec_exec
	hvt_fail "kexec -e refused after an accepted load: \$hvt__kout"
fi
hvt_done
EOF
	assert_equal "$(last_gen)" "$n"
	for ((g = 1; g <= n; g++)); do
		tries=$(r load_tries $((g - 1)))
		busy=$(r load_busy $((g - 1)))
		echo "race $g: the load was accepted at try $tries, after $busy refusals with EBUSY;" \
			"the racer failed $(r after_load.fails $((g - 1))) times after it (errors: $(r racer_errors $((g - 1))))"
		refused=$((refused + busy))
		# The racer was running: ordinary pages were deposited.
		[ "$(r racing_overflow $((g - 1)))" -gt 0 ] || fail "race $g: no ordinary page deposited before the load"
		assert_equal "$(r loaded $((g - 1)))" 1
		# After the load, no ordinary page: the count and the ledger
		# stayed 0, and the racer's deposits failed, with EBUSY only.
		run r after_load.overflow $((g - 1))
		assert_output --regexp '^0( 0){4,}$'
		run r after_load.p9 $((g - 1))
		assert_output --regexp '^0( 0){4,}$'
		[ "$(r after_load.fails $((g - 1)))" -ge 3 ] || fail "race $g: the racer's deposits did not fail after the load"
		run r racer_errors $((g - 1))
		assert_output --regexp '^ *[0-9]+ -16 *$'
		# No ordinary page the hypervisor holds is in RAM at the kexec
		# (the check test 2 shows failing), nor in the next kernel's
		# RAM...
		assert_equal "$(ram_held "at-kexec-gen$((g - 1))-low" "at-kexec-gen$((g - 1))-high")" 0
		assert_equal "$(ram_held "next-kernel-gen$g-low" "next-kernel-gen$g-high")" 0
		# ...and the carveout crossed the kexec whole.
		dumps_equal "pre-kexec-gen$((g - 1))" "post-boot-gen$g"
		assert_equal "$(r boot.sim_held "$g")" 1024
	done
	# The racer really raced: loads were refused for ordinary pages.
	echo "kexec load refused with EBUSY $refused times in $n races"
	[ "$refused" -gt 0 ] || fail "the load was never refused with EBUSY: the race was not run"
	run console_grep 'hv_deposit: kexec refused: [0-9]+ ordinary pages are deposited'
	assert_success
	run console_grep 'hvcarve: partition 0x9: 300 ordinary pages not deposited: a kexec image is loaded'
	assert_success
}

# Item 5 and 6 together. After a kexec the hypervisor can hold every page
# of the carveout: no deposit can then be confirmed by a carveout page.
# With hvcarve.overflow=allow the ordinary pages that follow decide it: the
# hypervisor accepts them, so the refusals were about their pages and are
# learnt as inherited. With deny nothing can confirm them: the deposit
# fails and learns nothing. Either way the carveout crosses untouched.
@test "a carveout the hypervisor holds whole after kexec: allow deposits ordinary pages and learns, deny fails and learns nothing" {
	vm_run - "$NOKASLR $SMALL" --timeout 180 <<EOF
. /hvt/sim.sh
g=\$(hvt_gen)
case \$g in
0)
	hvt_sim_deposit 1024 1 || hvt_fail "deposit: \$hvt_sim_err"
	hvt_ckpt full-gen0 $CARVE_BASE 0x400000
	hvt_kexec_load -s /boot/vmlinuz-new "$SMALL hvcarve.overflow=allow" || hvt_fail "load failed"
	hvt_kexec_exec ;;
1)
	hvt_sim_deposit 300 9 || hvt_fail "deposit: \$hvt_sim_err"
	hvt_result overflow "\$(cat \$HVT_HVC/overflow_pages)"
	hvt_result inherited "\$(cat \$(hvt_region)/inherited_pages)"
	hvt_result deposited "\$(cat \$(hvt_region)/deposited_pages)"
	hvt_sim_deposit 300 9 || hvt_fail "second deposit: \$hvt_sim_err"
	hvt_result overflow2 "\$(cat \$HVT_HVC/overflow_pages)"
	hvt_result inherited2 "\$(cat \$(hvt_region)/inherited_pages)"
	hvt_sim_withdraw 600 9 || hvt_fail "withdraw: \$hvt_sim_err"
	hvt_result overflow_after "\$(cat \$HVT_HVC/overflow_pages)"
	hvt_ckpt full-gen1 $CARVE_BASE 0x400000
	hvt_kexec_load -s /boot/vmlinuz-new "$SMALL" || hvt_fail "load failed"
	hvt_kexec_exec ;;
2)
	if hvt_sim_deposit 300 9; then
		hvt_result deny ok
	else
		hvt_result deny "\$hvt_sim_err"
	fi
	hvt_result overflow "\$(cat \$HVT_HVC/overflow_pages)"
	hvt_result inherited "\$(cat \$(hvt_region)/inherited_pages)"
	hvt_result free "\$(cat \$(hvt_region)/free_pages)"
	hvt_ckpt full-gen2 $CARVE_BASE 0x400000
	hvt_done ;;
esac
EOF
	assert_equal "$(last_gen)" 2
	# allow: the first deposit went to ordinary pages and confirmed the
	# refusals before them (up to HV_CARVE_UNCONFIRMED_MAX); the second
	# learnt the rest: all 1024 are inherited, none deposited by this
	# kernel.
	assert_equal "$(r overflow 1)" 300
	assert_equal "$(r deposited 1)" 0
	# At most HV_CARVE_UNCONFIRMED_MAX (528) confirmed by the first one.
	[ "$(r inherited 1)" -gt 0 ] && [ "$(r inherited 1)" -le 528 ] ||
		fail "learnt by the first deposit: $(r inherited 1), not 1..528"
	assert_equal "$(r overflow2 1)" 600
	assert_equal "$(r inherited2 1)" 1024
	assert_equal "$(r overflow_after 1)" 0
	run console_grep -g 1 'ordinary pages go next, and decide whether those were pages the hypervisor holds'
	assert_success
	# deny: refused, nothing learnt, nothing deposited.
	run r deny 2
	assert_output --partial "Permission denied"
	assert_equal "$(r overflow 2)" 0
	assert_equal "$(r inherited 2)" 0
	assert_equal "$(r free 2)" 1024
	# The host: the carveout never changed.
	dumps_equal full-gen0 full-gen1
	dumps_equal full-gen0 full-gen2
	assert_equal "$(decode_value "$(dump_file full-gen2)" "$CARVE_BASE" held)" 1024
}

# Item 11: a crash kernel runs in its own reserved memory; overflow pages
# do not keep it from loading, nor does it, loaded, keep ordinary pages
# from being deposited, while a reboot kernel is refused.
@test "a crash kernel loads while ordinary pages are deposited; a reboot kernel does not" {
	vm_run - "$NOKASLR $SMALL hvcarve.overflow=allow crashkernel=96M" <<'EOF'
. /hvt/sim.sh
hvt_sim_deposit 1100 1 || hvt_fail "deposit: $hvt_sim_err"
hvt_result overflow "$(cat $HVT_HVC/overflow_pages)"
echo x >/tmp/rd
rc=0
out=$(kexec -s -p /boot/vmlinuz-new --initrd=/tmp/rd --append="console=ttyS0 nr_cpus=1" 2>&1) || rc=$?
hvt_result crash_s "rc=$rc $out"
hvt_result crash_loaded "$(cat /sys/kernel/kexec_crash_loaded)"
kexec -p -u
rc=0
out=$(kexec -c -p /boot/vmlinuz-new --initrd=/tmp/rd --append="console=ttyS0 nr_cpus=1" 2>&1) || rc=$?
hvt_result crash_l "rc=$rc $out"
hvt_result crash_loaded_l "$(cat /sys/kernel/kexec_crash_loaded)"
# A loaded crash kernel does not stop ordinary deposits.
hvt_sim_deposit 10 2 || hvt_fail "deposit with a crash kernel loaded: $hvt_sim_err"
hvt_result overflow2 "$(cat $HVT_HVC/overflow_pages)"
rc=0
out=$(kexec -s -l /boot/vmlinuz-new --initrd=/tmp/rd --append="console=ttyS0" 2>&1) || rc=$?
hvt_result reboot_s "rc=$rc $out"
hvt_done
EOF
	assert_equal "$(r overflow)" 76
	assert_equal "$(r crash_s)" "rc=0"
	assert_equal "$(r crash_loaded)" 1
	# (kexec-tools also warns that it cannot read /proc/kallsyms.)
	run r crash_l
	assert_output --regexp '^rc=0( |$)'
	assert_equal "$(r crash_loaded_l)" 1
	assert_equal "$(r overflow2)" 86
	run r reboot_s
	assert_output --partial "Device or resource busy"
	run console_grep -g 0 'hv_deposit: kexec refused: 86 ordinary pages are deposited in the hypervisor'
	assert_success
}

# Item 1, child partitions (and with them an encrypted partition's guest
# memory, exclusive to the hypervisor while the partition lives): kexec is
# refused, by either syscall, while the gate counts a child partition, and
# no partition is counted while a reboot image is loaded. The simulator's
# "partition" file counts one as mshv does around HvCallCreatePartition and
# HvCallDeletePartition: no hypervisor here can create one.
@test "kexec is refused while a child partition exists, and no partition is created while a reboot image is loaded" {
	vm_run - "$NOKASLR $SMALL" <<'EOF2'
. /hvt/sim.sh
parts() {
	awk '$1 == "gate_partitions" { print $2 }' $HVT_SIM/ledger
}
echo create >$HVT_SIM/partition || hvt_fail "partition create failed"
hvt_result counted "$(parts)"
hvt_kexec_load -s /boot/vmlinuz-new && hvt_fail "kexec_file_load accepted with a child partition"
hvt_kexec_load -l /boot/vmlinuz-new && hvt_fail "kexec_load accepted with a child partition"
hvt_result refused.loaded "$(cat /sys/kernel/kexec_loaded)"
echo delete >$HVT_SIM/partition || hvt_fail "partition delete failed"
hvt_result deleted "$(parts)"
hvt_kexec_load -s /boot/vmlinuz-new || hvt_fail "kexec load refused with no partition"
if out=$( (echo create >$HVT_SIM/partition) 2>&1); then
	hvt_result create_loaded ok
else
	hvt_result create_loaded "$out"
fi
hvt_result loaded.partitions "$(parts)"
kexec -u || hvt_fail "kexec -u failed"
echo create >$HVT_SIM/partition || hvt_fail "partition create after kexec -u failed"
hvt_result unloaded.partitions "$(parts)"
hvt_done
EOF2
	assert_equal "$(r counted)" 1
	run awk '$2 == "kexec_load" { print $3 }' "$(vm_artifacts)/results.txt"
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_line --index 0 --regexp '^rc=[1-9]'
	assert_line --index 1 --regexp '^rc=[1-9]'
	assert_line --index 2 rc=0
	assert_equal "$(console_grep -g 0 'hv_deposit: kexec refused: 1 child partition\(s\) not deleted' | wc -l)" 2
	run console_grep -g 0 'hv_deposit: child partition not created: a kexec image is loaded'
	assert_success
	run console_grep -g 0 'kexec refused: [0-9]+ ordinary pages'
	assert_failure
	assert_equal "$(r refused.loaded)" 0
	assert_equal "$(r deleted)" 0
	run r create_loaded
	assert_output --partial "Device or resource busy"
	assert_equal "$(r loaded.partitions)" 0
	assert_equal "$(r unloaded.partitions)" 1
}

# Items 2 and 3. A carveout right above the firmware's reservation
# [0xfffc0000-0xffffffff] of a 4 GiB q35 guest. Every patched kernel gets
# the same hvcarve= and must accept the region as inherited, through kexec
# -s (the hvcarve type arrives), kexec -l (kexec-tools makes it reserved,
# one entry of its own) and the stock kernel.
@test "a carveout that touches a firmware reservation is recognised after kexec -s, -l and the stock kernel" {
	safety_bios
	local high=0x100000000 hsize=0x4000000 g
	VM_MEM=4G vm_run - "$NOKASLR hvcarve=64M@$high" --timeout 400 <<EOF
. /hvt/sim.sh
export HVT_DUMP_RANGES="$high $hsize"
g=\$(hvt_gen)
hvt_result state "\$(cat \$HVT_HVC/state 2>/dev/null || echo absent)"
if [ -d \$HVT_SIM ]; then
	hvt_ckpt "post-boot-gen\$g" $high $hsize
	hvt_sim_report boot
	hvt_sim_deposit 200 \$((g + 1)) || hvt_fail "deposit: \$hvt_sim_err"
	hvt_sim_report end
else
	hvt_ckpt "post-boot-gen\$g" $high $hsize
fi
case \$g in
0) hvt_kexec -s /boot/vmlinuz-new "hvcarve=64M@$high" ;;
1) hvt_kexec -l /boot/vmlinuz-new "hvcarve=64M@$high" ;;
2) hvt_kexec -s /boot/vmlinuz-old ;;
3) hvt_kexec -l /boot/vmlinuz-new "hvcarve=64M@$high" ;;
*) hvt_done ;;
esac
EOF
	assert_equal "$(last_gen)" 4
	# The firmware's reservation really is the carveout's neighbour.
	e820_range_is 0 0xfffc0000 0x40000 reserved BIOS-e820
	e820_range_is 0 "$high" "$hsize" usable BIOS-e820
	e820_range_is 1 "$high" "$hsize" hvcarve BIOS-e820
	e820_range_is 2 "$high" "$hsize" reserved BIOS-e820
	e820_range_is 3 "$high" "$hsize" hvcarve BIOS-e820
	e820_range_is 4 "$high" "$hsize" reserved BIOS-e820
	for g in 0 1 2 4; do
		assert_equal "$(r state "$g")" active
		run console_grep -g "$g" 'hvcarve: rejecting'
		assert_failure
	done
	for g in 1 2 4; do
		run console_grep -g "$g" 'hvcarve: region 0: \[mem 0x0000000100000000-0x0000000103ffffff\] 64 MiB reserved \(inherited from the kernel before kexec\)'
		assert_success
	done
	for g in 1 2 3 4; do
		dumps_equal "pre-kexec-gen$((g - 1))" "post-boot-gen$g"
	done
	# Every patched kernel found the earlier deposits held and kept them.
	assert_equal "$(r end.sim_held 4)" 800
	assert_equal "$(r end.sim_corrupted 4)" 0
	assert_equal "$(decode_value "$(dump_file pre-kexec-gen3)" "$high" held)" 600
}

# The real memory map, with one page of RAM on each side of the carveout
# made reserved, as a firmware might have it.
NEIGHBOURS='
hvt_memmap_dump | while read -r s e t; do
	if [ "$((e))" = $((CARVE_BASE - 1)) ]; then
		printf "0x%x 0x%x System RAM\n" "$((s))" $((CARVE_BASE - 0x1001))
		printf "0x%x 0x%x Reserved\n" $((CARVE_BASE - 0x1000)) $((CARVE_BASE - 1))
	elif [ "$((s))" = $((CARVE_BASE + CARVE_SIZE)) ]; then
		printf "0x%x 0x%x Reserved\n" "$((s))" $((CARVE_BASE + CARVE_SIZE + 0xfff))
		printf "0x%x 0x%x System RAM\n" $((CARVE_BASE + CARVE_SIZE + 0x1000)) "$((e))"
	else
		echo "$s $e $t"
	fi
done >/tmp/map
'

# Items 2 and 3, on both sides. The first kexec -l gets a memory map with
# reserved pages right below and right above the carveout; from then on
# the carveout has reserved neighbours, which e820 would merge it with.
@test "a carveout between two reservations survives kexec -l, -s and the stock kernel, recognised each time" {
	safety_bios
	vm_run - "$NOKASLR $CARVE" --timeout 400 <<EOF
. /hvt/sim.sh
CARVE_BASE=$CARVE_BASE CARVE_SIZE=$CARVE_SIZE
export HVT_DUMP_RANGES="$CARVE_BASE $CARVE_SIZE"
g=\$(hvt_gen)
hvt_result state "\$(cat \$HVT_HVC/state 2>/dev/null || echo absent)"
hvt_ckpt "post-boot-gen\$g" $CARVE_BASE $CARVE_SIZE
if [ -d \$HVT_SIM ]; then
	hvt_sim_deposit 300 \$((g + 1)) || hvt_fail "deposit: \$hvt_sim_err"
	hvt_sim_report end
fi
case \$g in
0)
	$NEIGHBOURS
	hvt_fake_memmap /tmp/map || hvt_fail "fake memmap"
	hvt_kexec -l /boot/vmlinuz-new "$CARVE"
	;;
1) hvt_kexec -s /boot/vmlinuz-new "$CARVE" ;;
2) hvt_kexec -s /boot/vmlinuz-old ;;
3) hvt_kexec -l /boot/vmlinuz-new "$CARVE" ;;
*) hvt_done ;;
esac
EOF
	local g below=$((CARVE_BASE - 0x1000)) above=$((CARVE_BASE + CARVE_SIZE))
	assert_equal "$(last_gen)" 4
	for g in 1 2 3 4; do
		e820_range_is "$g" "$below" 0x1000 reserved BIOS-e820
		e820_range_is "$g" "$above" 0x1000 reserved BIOS-e820
		dumps_equal "pre-kexec-gen$((g - 1))" "post-boot-gen$g"
	done
	# Merged with both neighbours in the sanitized map of gen 1 and 4;
	# its own type, next to them, in gen 2 and 3.
	e820_range_is 1 "$below" $((CARVE_SIZE + 0x2000)) reserved BIOS-e820
	e820_range_is 2 "$CARVE_BASE" "$CARVE_SIZE" hvcarve BIOS-e820
	e820_range_is 3 "$CARVE_BASE" "$CARVE_SIZE" hvcarve BIOS-e820
	e820_range_is 4 "$below" $((CARVE_SIZE + 0x2000)) reserved BIOS-e820
	for g in 1 2 4; do
		assert_equal "$(r state "$g")" active
		run console_grep -g "$g" 'hvcarve: region 0: .* reserved \(inherited from the kernel before kexec\)'
		assert_success
	done
	assert_equal "$(r end.sim_held 4)" 1200
	assert_equal "$(r end.sim_corrupted 4)" 0
}

# fake_chain MAP_SHELL: gen 0 hands gen 1 (same hvcarve=) the map the
# shell code MAP_SHELL writes to /tmp/map, with kexec -l.
fake_chain() {
	vm_run - "$NOKASLR $CARVE" <<EOF
. /hvt/sim.sh
hvt_result state "\$(cat \$HVT_HVC/state)"
if [ "\$(hvt_gen)" = 0 ]; then
	$1
	hvt_fake_memmap /tmp/map || hvt_fail "fake memmap"
	hvt_kexec -l /boot/vmlinuz-new "$CARVE"
fi
hvt_result regions "\$(ls -d \$HVT_HVC/region* 2>/dev/null | wc -l)"
hvt_done
EOF
}

# Negative control of items 2 and 3: what the fix keeps the handover from
# producing -- the carveout merged with its neighbour into one reserved
# entry -- cannot be told from a firmware reservation, and is refused. The
# range stays reserved all the same.
@test "negative control: a carveout merged with a reserved neighbour is refused after kexec, and stays reserved" {
	safety_bios
	fake_chain "
hvt_memmap_dump | while read -r s e t; do
	if [ \"\$((e))\" = $((CARVE_BASE - 1)) ]; then
		printf '0x%x 0x%x System RAM\n' \"\$((s))\" $((CARVE_BASE - 0x1001))
	elif [ \"\$((s))\" = $((CARVE_BASE)) ]; then
		printf '0x%x 0x%x Reserved\n' $((CARVE_BASE - 0x1000)) $((CARVE_BASE + CARVE_SIZE - 1))
	else
		echo \"\$s \$e \$t\"
	fi
done >/tmp/map"
	assert_equal "$(last_gen)" 1
	assert_equal "$(r state 0)" active
	assert_equal "$(r state 1)" invalid
	assert_equal "$(r regions 1)" 0
	run console_grep -g 1 'hvcarve: rejecting hvcarve region "64M@0x3a000000" .*: overlaps reserved \[mem 0x0000000039fff000-0x000000003dffffff\] of the boot memory map, which is not the carveout of an earlier kernel'
	assert_success
	e820_range_is 1 "$CARVE_BASE" "$CARVE_SIZE" reserved
}

# Item 3 after a kexec: a reservation inside the region that is not shaped
# like a carveout is a firmware one, whatever the rest looks like. The
# map has RAM inside the region, where kexec-tools may put kexec_load
# segments (it does, on 6.12: the smaller next kernel sits higher and the
# initrd goes into the region), and the running kernel would refuse the
# load; --mem-max keeps them below the region, so what is tested is the
# next kernel's check.
@test "a reservation inside the region that is not a carveout is refused after kexec" {
	safety_bios
	fake_chain "
HVT_KEXEC_OPTS=--mem-max=$(printf %#x $((CARVE_BASE - 1)))
hvt_memmap_dump | while read -r s e t; do
	if [ \"\$((s))\" = $((CARVE_BASE)) ]; then
		printf '0x%x 0x%x System RAM\n' $CARVE_BASE 0x3affffff
		printf '0x%x 0x%x Reserved\n' 0x3b000000 0x3b0fffff
		printf '0x%x 0x%x System RAM\n' 0x3b100000 $((CARVE_BASE + CARVE_SIZE - 1))
	else
		echo \"\$s \$e \$t\"
	fi
done >/tmp/map"
	assert_equal "$(last_gen)" 1
	assert_equal "$(r state 1)" invalid
	run console_grep -g 1 'hvcarve: rejecting .*overlaps reserved \[mem 0x000000003b000000-0x000000003b0fffff\] of the boot memory map, which is not the carveout of an earlier kernel'
	assert_success
}

# Item 10. The kexec e820 table must fit in boot_params (128 entries). A
# memory map of 125 entries: low RAM cut into 58 reserved pieces with RAM
# between them, no two neighbours of one type; each region then splits the
# last RAM entry in three.
MANY='
hvt_memmap_dump | while read -r s e t; do
	if [ "$((s))" = 1048576 ]; then
		a=0x10000000
		printf "0x%x 0x%x System RAM\n" "$((s))" $((a - 1))
		n=0
		while [ $n -lt 58 ]; do
			printf "0x%x 0x%x Reserved\n" $((a + n * 0x400000)) $((a + n * 0x400000 + 0x1fffff))
			[ $n -lt 57 ] && printf "0x%x 0x%x System RAM\n" \
				$((a + n * 0x400000 + 0x200000)) $((a + n * 0x400000 + 0x3fffff))
			n=$((n + 1))
		done
		printf "0x%x 0x%x System RAM\n" $((a + 57 * 0x400000 + 0x200000)) "$((e))"
	else
		echo "$s $e $t"
	fi
done >/tmp/map
'

# e820_chain MAP APPEND1: gen 0 writes the map with the script MAP into
# /tmp/map and hands it to gen 1 with kexec -l, and APPEND1 (hvcarve=).
e820_chain() {
	vm_run - "$NOKASLR" <<EOF
. /hvt/sim.sh
if [ "\$(hvt_gen)" = 0 ]; then
	$1
	hvt_result map_entries "\$(wc -l </tmp/map)"
	hvt_result carve_index "\$(grep -n '^0x30000000 ' /tmp/map | cut -d: -f1)"
	hvt_fake_memmap /tmp/map || hvt_fail "fake memmap"
	hvt_kexec -l /boot/vmlinuz-new "$2"
fi
hvt_result state "\$(cat \$HVT_HVC/state)"
hvt_result reason "\$(cat \$HVT_HVC/reason)"
hvt_result kexec_entries "\$(ls /sys/firmware/memmap | wc -l)"
hvt_result ext "\$(dmesg | grep -c 'extended physical RAM map')"
hvt_done
EOF
}

@test "a carveout that would take the kexec e820 past 128 entries is refused" {
	safety_bios
	# Two regions in the last RAM entry: 125 + 2 * 2 entries.
	e820_chain "$MANY" "hvcarve=1M@0x30000000,1M@0x30800000"
	assert_equal "$(last_gen)" 1
	assert_equal "$(r map_entries 0)" 125
	assert_equal "$(r state 1)" invalid
	run console_grep -g 1 'hvcarve: rejecting .*: the e820 map handed to the next kernel would have 129 entries, more than the 128 boot_params carries'
	assert_success
	# Nothing was changed: the next kernel would get the 125.
	assert_equal "$(r kexec_entries 1)" 125
}

@test "control: one region less, 127 entries, is accepted" {
	safety_bios
	e820_chain "$MANY" "hvcarve=1M@0x30000000"
	assert_equal "$(last_gen)" 1
	assert_equal "$(r state 1)" active
	assert_equal "$(r kexec_entries 1)" 127
}

# Issue 16, item 5. A boot loader puts the entries of its map beyond 128 in
# SETUP_E820_EXT blocks (kexec-tools' kexec_load() does). A map of 151
# entries: low RAM in 140 adjacent 1 MiB pieces, which the next kernel
# merges again, then a reserved range at 0x30000000, the 143rd entry, in
# the extension. hvcarve's check of the loader's raw map must read it
# there: before, it saw only the first 128, and refused the earlier
# kernel's carveout as "not shown as a carveout".
# ext_map SIZE: that map, the reserved range SIZE bytes long.
ext_map() {
	cat <<EOS
hvt_memmap_dump | while read -r s e t; do
	if [ "\$((s))" = 1048576 ]; then
		n=0
		while [ \$n -lt 140 ]; do
			printf "0x%x 0x%x System RAM\\n" \$((0x100000 * (n + 1))) \$((0x100000 * (n + 2) - 1))
			n=\$((n + 1))
		done
		printf "0x%x 0x2fffffff System RAM\\n" \$((0x100000 * 141))
		printf "0x30000000 0x%x Reserved\\n" \$((0x30000000 + $1 - 1))
		printf "0x%x 0x%x System RAM\\n" \$((0x30000000 + $1)) "\$((e))"
	else
		echo "\$s \$e \$t"
	fi
done >/tmp/map
EOS
}

@test "a carveout handed on in the SETUP_E820_EXT part of the boot map (entry 143 of 151) is recognised as inherited" {
	safety_bios
	e820_chain "$(ext_map 0x100000)" "hvcarve=1M@0x30000000"
	assert_equal "$(last_gen)" 1
	assert_equal "$(r map_entries 0)" 151
	assert_equal "$(r carve_index 0)" 143
	# The next kernel read an extended map: the setup is what it claims.
	assert_equal "$(r ext 1)" 1
	assert_equal "$(r state 1)" active
	run console_grep -g 1 'hvcarve: region 0: \[mem 0x0000000030000000-0x00000000300fffff\] 1 MiB reserved \(inherited from the kernel before kexec\)'
	assert_success
}

@test "control: a reserved range in SETUP_E820_EXT larger than the region is refused as not the carveout" {
	safety_bios
	e820_chain "$(ext_map 0x200000)" "hvcarve=1M@0x30000000"
	assert_equal "$(last_gen)" 1
	assert_equal "$(r carve_index 0)" 143
	assert_equal "$(r ext 1)" 1
	assert_equal "$(r state 1)" invalid
	run r reason 1
	assert_output --partial 'overlaps reserved [mem 0x0000000030000000-0x00000000301fffff] of the boot memory map, which is not the carveout of an earlier kernel'
}


# Issue 16, item 5. kexec_file_load() hands over at most 128 e820 entries
# and cuts off the highest. hvcarve's check at boot sees the table as it
# is then, but it grows later: update_mptable with alloc_mptable reserves
# the new MP table in e820_table_kexec after it. A map of exactly 128
# entries with the carveout last (low RAM only, cut into reserved pieces as
# above, one piece in two types so that the count comes out even, the
# carveout at the end of RAM and nothing above it); the MP table then
# takes one more, below the carveout, and the carveout would be cut off.
CUT='
hvt_memmap_dump | while read -r s e t; do
	[ "$((s))" -lt 1048576 ] && echo "$s $e $t"
done >/tmp/map
a=0x10000000
{
	printf "0x100000 0x%x System RAM\n" $((a - 1))
	n=0
	while [ $n -lt 61 ]; do
		b=$((a + n * 0x400000))
		if [ $n = 0 ]; then
			printf "0x%x 0x%x Reserved\n" $b $((b + 0xfffff))
			printf "0x%x 0x%x ACPI Non-volatile Storage\n" $((b + 0x100000)) $((b + 0x1fffff))
		else
			printf "0x%x 0x%x Reserved\n" $b $((b + 0x1fffff))
		fi
		[ $n -lt 60 ] && printf "0x%x 0x%x System RAM\n" $((b + 0x200000)) $((b + 0x3fffff))
		n=$((n + 1))
	done
	printf "0x%x 0x3fdfffff System RAM\n" $((a + 60 * 0x400000 + 0x200000))
} >>/tmp/map
'

# e820_cut APPEND1: gen 0 hands gen 1 that map and APPEND1; gen 1 tries
# kexec -s.
e820_cut() {
	vm_run - "$NOKASLR" <<EOF
. /hvt/sim.sh
if [ "\$(hvt_gen)" = 0 ]; then
	$CUT
	hvt_result map_entries "\$(wc -l </tmp/map)"
	hvt_fake_memmap /tmp/map || hvt_fail "fake memmap"
	hvt_kexec -l /boot/vmlinuz-new "hvcarve=1M@0x3fd00000 $1"
fi
hvt_result state "\$(cat \$HVT_HVC/state)"
hvt_result mptable "\$(dmesg | grep -c 'update e820_table_kexec for e820__memblock_alloc_reserved')"
hvt_kexec_load -s /boot/vmlinuz-new "hvcarve=1M@0x3fd00000"
hvt_done
EOF
}

@test "kexec -s is refused when the 128-entry cut of the kexec e820 would drop the carveout (the table grew after boot)" {
	safety_bios
	e820_cut "update_mptable alloc_mptable"
	assert_equal "$(last_gen)" 1
	assert_equal "$(r state 1)" active
	assert_equal "$(r map_entries 0)" 127
	assert_equal "$(r mptable 1)" 1
	run result kexec_load_err 1
	assert_output --partial "Argument list too long"
	run console_grep -g 1 'kexec-bzImage64: the e820 map has 1(29|30) entries, boot_params carries 128: hvcarve \[mem 0x000000003fd00000-0x000000003fdfffff\] would be cut off; refused'
	assert_success
}

@test "control: the same map without the MP table loads, 128 entries" {
	safety_bios
	e820_cut ""
	assert_equal "$(last_gen)" 1
	assert_equal "$(r state 1)" active
	assert_equal "$(r mptable 1)" 0
	assert_equal "$(result kexec_load 1)" "rc=0"
}
# Item 5. A rejected carveout: deposits made while the kernel boots (the
# simulator does them at its init, as a root partition does in
# smp_prepare_cpus()) use ordinary memory, loudly; the machine is up; kexec
# is refused until they are withdrawn, and once it is loaded no deposit
# (all of them ordinary pages) goes in.
@test "a rejected carveout keeps a root partition up: boot deposits use ordinary memory, kexec waits for them" {
	vm_run - "$NOKASLR hvcarve=64M@zz hvcarve_sim.boot_deposit=300,1" <<'EOF'
. /hvt/sim.sh
hvt_result state "$(cat $HVT_HVC/state)"
hvt_result overflow "$(cat $HVT_HVC/overflow_pages)"
hvt_result held "$(hvt_sim_ledger held)"
hvt_kexec_load -s /boot/vmlinuz-new && hvt_fail "kexec loaded with ordinary pages deposited"
# Runtime deposits too, under the same rule.
hvt_sim_deposit 20 2 || hvt_fail "runtime deposit: $hvt_sim_err"
hvt_result overflow2 "$(cat $HVT_HVC/overflow_pages)"
hvt_sim_withdraw 300 1 || hvt_fail "withdraw: $hvt_sim_err"
hvt_sim_withdraw 20 2 || hvt_fail "withdraw: $hvt_sim_err"
hvt_result overflow3 "$(cat $HVT_HVC/overflow_pages)"
hvt_kexec_load -s /boot/vmlinuz-new || hvt_fail "kexec refused after the withdrawal"
# Loaded: the next deposit, all ordinary pages, fails.
if hvt_sim_deposit 20 2; then hvt_result loaded_deposit ok; else hvt_result loaded_deposit "$hvt_sim_err"; fi
hvt_result overflow4 "$(cat $HVT_HVC/overflow_pages)"
hvt_result held4 "$(hvt_sim_ledger held)"
hvt_done
EOF
	assert_equal "$(r state)" invalid
	run console_grep -g 0 'hvcarve_sim: boot deposit of 300 pages for partition 1: 0; 300 ordinary pages deposited'
	assert_success
	run console_grep -g 0 'hvcarve: the carveout is not usable: deposits use ordinary memory'
	assert_success
	assert_equal "$(r overflow)" 300
	assert_equal "$(r held)" 300
	run awk '$2 == "kexec_load" { print $3 }' "$(vm_artifacts)/results.txt"
	assert_success
	assert_line --index 0 --regexp '^rc=[1-9]'
	assert_line --index 1 rc=0
	run r kexec_load_err
	assert_output --partial "Device or resource busy"
	assert_equal "$(r overflow2)" 320
	assert_equal "$(r overflow3)" 0
	# Once loaded, no ordinary page goes in.
	run r loaded_deposit
	assert_output --partial "Device or resource busy"
	assert_equal "$(r overflow4)" 0
	assert_equal "$(r held4)" 0
}

@test "a carveout exhausted during boot: the rest comes from ordinary memory; at runtime deny still fails" {
	vm_run - "$NOKASLR hvcarve=1M@$CARVE_BASE hvcarve_sim.boot_deposit=300,1" <<'EOF'
. /hvt/sim.sh
hvt_result policy "$(cat /sys/module/hvcarve/parameters/overflow)"
hvt_result state "$(cat $HVT_HVC/state)"
hvt_result overflow "$(cat $HVT_HVC/overflow_pages)"
hvt_result deposited "$(cat $(hvt_region)/deposited_pages)"
if hvt_sim_deposit 10 2; then hvt_result runtime ok; else hvt_result runtime "failed: $hvt_sim_err"; fi
hvt_result overflow2 "$(cat $HVT_HVC/overflow_pages)"
hvt_done
EOF
	assert_equal "$(r policy)" deny
	assert_equal "$(r state)" active
	assert_equal "$(r deposited)" 256
	assert_equal "$(r overflow)" 44
	run console_grep -g 0 'hvcarve: deposited 44 ordinary pages for partition 0x1 \(overflow: carveout exhausted during boot\)'
	assert_success
	run r runtime
	assert_output --partial "Cannot allocate memory"
	assert_equal "$(r overflow2)" 44
}

# Item 6. Refusals that are not about a page: learning stops within its
# bound, learns nothing, keeps the pool as it was, and leaks no page.
@test "a partition-wide refusal ends within its bound and leaves the pool and the carveout as they were" {
	vm_run - "$NOKASLR $CARVE" <<EOF
. /hvt/sim.sh
hvt_sim_deposit 100 1 || hvt_fail "deposit: \$hvt_sim_err"
hvt_sim_deposit 100 5 || hvt_fail "deposit: \$hvt_sim_err"
hvt_sim_report before
calls0=\$(hvt_sim_ledger deposit_calls)
hvt_ckpt before $CARVE_BASE $CARVE_SIZE
echo "deny 5" >\$HVT_SIM/inject
if hvt_sim_deposit 200 5; then hvt_result denied ok; else hvt_result denied "\$hvt_sim_err"; fi
hvt_result deny_calls "\$((\$(hvt_sim_ledger deposit_calls) - calls0))"
hvt_sim_report deny
calls0=\$(hvt_sim_ledger deposit_calls)
echo "access 5" >\$HVT_SIM/inject
if hvt_sim_deposit 200 5; then hvt_result access ok; else hvt_result access "\$hvt_sim_err"; fi
hvt_result access_calls "\$((\$(hvt_sim_ledger deposit_calls) - calls0))"
hvt_ckpt after $CARVE_BASE $CARVE_SIZE
hvt_sim_report access
echo none >\$HVT_SIM/inject
hvt_sim_deposit 100 5 || hvt_fail "deposit after the injection: \$hvt_sim_err"
hvt_sim_report end
hvt_done
EOF
	assert_equal "$(r before.sim_held)" 200
	run r denied
	assert_output --partial "Permission denied"
	# The bound: one refusal per doubling in every region, and a few more.
	[ "$(r deny_calls)" -le $((8 * (64 + 2) + 2)) ]
	run console_grep -g 0 'hvcarve: partition 0x5: [0-9]+ deposits in a row were refused at their first page and none was accepted'
	assert_success
	run r access
	assert_output --partial "Permission denied"
	assert_equal "$(r access_calls)" 1
	local k
	for k in free_pages deposited_pages inherited_pages skipped_pages sim_held; do
		assert_equal "$(r "deny.$k")" "$(r "before.$k")"
		assert_equal "$(r "access.$k")" "$(r "before.$k")"
	done
	# A refusal of everything is not about a page: nothing contradicted.
	assert_equal "$(r access.state)" active
	assert_equal "$(r access.reason)" none
	# No page leaked or written: the host's view.
	dumps_equal before after
	assert_equal "$(decode_value "$(dump_file after)" "$CARVE_BASE" held)" 200
	# And the pool still works.
	assert_equal "$(r end.sim_held)" 300
}

# Issue 16, items 10 and 11: what the hypervisor does that contradicts what
# hvcarve assumes of it stops the carveout, loudly. (1) On a cold boot the
# hypervisor holds no carveout page (assumed), so a refusal about one page
# is a contradiction, not something to learn. After a kexec, where an
# earlier kernel deposited from the region, the same refusal is learnt.
@test "a page refused on a cold boot contradicts hvcarve: the carveout is distrusted, says so, and is used no more; after a kexec the same refusal is learnt" {
	local pfn=$((CARVE_BASE / 4096 + 150)) pfn2=$((CARVE_BASE / 4096 + 400))
	vm_run - "$NOKASLR $CARVE" <<EOF
. /hvt/sim.sh
if [ "\$(hvt_gen)" = 0 ]; then
	hvt_sim_deposit 100 1 || hvt_fail "deposit: \$hvt_sim_err"
	echo "inuse $pfn" >\$HVT_SIM/inject
	if hvt_sim_deposit 100 5; then hvt_result cold ok; else hvt_result cold "\$hvt_sim_err"; fi
	echo none >\$HVT_SIM/inject
	hvt_sim_report cold
	if hvt_sim_deposit 10 6; then hvt_result after ok; else hvt_result after "\$hvt_sim_err"; fi
	hvt_sim_report after
	hvt_kexec -s /boot/vmlinuz-new "nokaslr $CARVE"
fi
hvt_sim_report kexec
echo "inuse $pfn2" >\$HVT_SIM/inject
if hvt_sim_deposit 400 7; then hvt_result warm ok; else hvt_result warm "\$hvt_sim_err"; fi
hvt_sim_report warm
hvt_done
EOF
	# Gen 0: 50 pages went in with the refused one, and it contradicted.
	run r cold
	assert_output --partial "Cannot allocate memory"
	assert_equal "$(r cold.state)" distrusted
	assert_equal "$(r cold.reason)" "partition 0x5: carveout pfn $(printf '%#x' "$pfn") was refused, but no kernel before this one deposited from its region"
	# The refused page is kept out all the same.
	assert_equal "$(r cold.inherited_pages)" 1
	assert_equal "$(r cold.deposited_pages)" 150
	assert_equal "$(r cold.sim_held)" 150
	run console_grep -g 0 'hvcarve: the hypervisor contradicted what hvcarve assumes: partition 0x5: .*\. No more carveout pages will be deposited'
	assert_success
	# Nothing more goes in: no carveout page, nor an ordinary one
	# (hvcarve.overflow=deny).
	run r after
	assert_output --partial "Cannot allocate memory"
	assert_equal "$(r after.deposited_pages)" 150
	assert_equal "$(r after.free_pages)" "$(r cold.free_pages)"
	assert_equal "$(r after.sim_held)" 150
	# Gen 1: the region is inherited, so the refusal is learnt.
	assert_equal "$(r kexec.state 1)" active
	assert_equal "$(r kexec.reason 1)" none
	assert_equal "$(r warm 1)" ok
	assert_equal "$(r warm.state 1)" active
	assert_equal "$(r warm.reason 1)" none
	assert_equal "$(r warm.sim_held 1)" 550
	[ "$(r warm.inherited_pages 1)" -ge 1 ]
}

# (2) A hypervisor that accepts a page it already holds gives no refusal
# to learn from, and would make learning after a kexec unsafe. Its memory
# balance shows it: the simulator's "blind" injection accepts the pages an
# earlier kernel deposited without taking them again, so the partition's
# balance does not grow. The control runs the same chain without it.
BLIND_SCENARIO='. /hvt/sim.sh
if [ "$(hvt_gen)" = 0 ]; then
	hvt_sim_deposit 100 1 || hvt_fail "deposit: $hvt_sim_err"
	hvt_kexec -s /boot/vmlinuz-new "nokaslr $CARVE"
fi
echo "$MODE" >$HVT_SIM/inject
if hvt_sim_deposit 50 2; then hvt_result second ok; else hvt_result second "$hvt_sim_err"; fi
echo none >$HVT_SIM/inject
hvt_sim_report second
if hvt_sim_deposit 10 3; then hvt_result third ok; else hvt_result third "$hvt_sim_err"; fi
hvt_sim_report third
hvt_done'

@test "a hypervisor that accepts a page it already holds is caught by its memory balance: the carveout is distrusted" {
	local mode
	for mode in blind none; do
		VM_TAG=$mode vm_run - "$NOKASLR $CARVE" \
			<<<"CARVE='$CARVE' MODE=$mode; $BLIND_SCENARIO"
	done
	# The injection: 50 pages "accepted", none of them taken.
	export VM_TAG=blind
	assert_equal "$(r second 1)" ok
	assert_equal "$(r second.sim_held 1)" 100
	assert_equal "$(r second.state 1)" distrusted
	assert_equal "$(r second.reason 1)" "partition 0x2: 50 pages were accepted, but its memory balance grew by 0"
	run console_grep -g 1 'hvcarve: the hypervisor contradicted what hvcarve assumes: partition 0x2: 50 pages were accepted'
	assert_success
	run r third 1
	assert_output --partial "Cannot allocate memory"
	assert_equal "$(r third.deposited_pages 1)" "$(r second.deposited_pages 1)"
	# The control: the same pages are refused, learnt, and the rest taken.
	export VM_TAG=none
	assert_equal "$(r second 1)" ok
	assert_equal "$(r second.sim_held 1)" 150
	assert_equal "$(r second.state 1)" active
	assert_equal "$(r second.reason 1)" none
	assert_equal "$(r third 1)" ok
	assert_equal "$(r third.sim_held 1)" 160
	run console_grep -g 1 'contradicted'
	assert_failure
}

# Hibernation (issue 16.9): the hypervisor holds deposited carveout pages,
# which no image carries, and the pool's state would come back from the
# image; the check of the resuming boot's map does not see the carveout
# on a firmware boot.
# hvcarve refuses hibernation whenever hvcarve= is given. The control runs
# hibernation without hvcarve= up to the freezer and back (pm_test, no swap
# device needed): the same write then succeeds, after freezing every task.
HIBERNATE='
echo freezer >/sys/power/pm_test || hvt_fail "no /sys/power/pm_test"
if echo disk >/sys/power/state 2>/tmp/err; then
	hvt_result hibernate ok
else
	hvt_result hibernate "failed: $(cat /tmp/err)"
fi
# The other way in: the /dev/snapshot of uswsusp, opened for reading (to
# hibernate), in a subshell, which closes it again.
if (exec 3</dev/snapshot) 2>/tmp/err; then
	hvt_result snapshot ok
else
	hvt_result snapshot "failed: $(cat /tmp/err)"
fi
hvt_result state "$(cat /sys/kernel/mm/hvcarve/state 2>/dev/null || echo absent)"
hvt_done
'

@test "hibernation is refused while hvcarve= is given, active or rejected, by /sys/power/state and /dev/snapshot, before any task is frozen" {
	safety_bios
	local v n=0
	for v in "$CARVE" "hvcarve=64M@zz"; do
		n=$((n + 1))
		VM_TAG=hib$n vm_run - "$NOKASLR $v" <<<"$HIBERNATE"
		VM_TAG=hib$n console_grep -g 0 "hvcarve: hibernation refused: hvcarve= was given \\(carveout $([ $n = 1 ] || echo 'not ')active\\)" >/dev/null ||
			fail "$v: no refusal in the console"
		[[ "$(VM_TAG=hib$n r hibernate)" == "failed: "*"Device or resource busy" ]] ||
			fail "$v: the write to /sys/power/state: $(VM_TAG=hib$n r hibernate)"
		[[ "$(VM_TAG=hib$n r snapshot)" == "failed: "*"Device or resource busy" ]] ||
			fail "$v: the open of /dev/snapshot: $(VM_TAG=hib$n r snapshot)"
		VM_TAG=hib$n console_grep -g 0 'Freezing user space processes' >/dev/null &&
			fail "$v: tasks were frozen before the refusal"
	done
	assert_equal "$(VM_TAG=hib1 r state)" active
	assert_equal "$(VM_TAG=hib2 r state)" invalid
}

@test "control: without hvcarve= the same hibernation runs to the freezer test and back" {
	safety_bios
	vm_run - "$NOKASLR" <<<"$HIBERNATE"
	assert_equal "$(r state)" disabled
	assert_equal "$(r hibernate)" ok
	assert_equal "$(r snapshot)" ok
	run console_grep -g 0 'Freezing user space processes'
	assert_success
	run console_grep -g 0 'hibernation refused'
	assert_failure
}

# Issue 16, item 8: with no /sys/firmware/memmap (no CONFIG_FIRMWARE_MEMMAP,
# or add_efi_memmap), kexec -l builds the next map from /proc/iomem. Debian
# 11's kexec-tools 2.0.20 skips the "Reserved" it finds there for the
# carveout, so the next kernel gets a hole: none of it is RAM to that
# kernel (safe), and the patched kernel rejects the region, which it cannot
# tell from a hole. kexec-tools 2.0.21 and later (here the machine's own)
# read "Reserved" whatever its case and hand the carveout on reserved, and
# the region is taken back. Both runs go through the real binaries; the
# host checks that the carveout is as the first kernel left it.
OLD_KEXEC=$(hvt_abspath "${OLD_KEXEC:-build/kexec-tools/bullseye/kexec}")

@test "kexec -l from /proc/iomem: kexec-tools 2.0.20 hands the carveout on as a hole, the next kernel rejects it and leaves it alone; the machine's kexec-tools hands it on reserved" {
	safety_bios
	[ -x "$OLD_KEXEC" ] || fail "no kexec-tools 2.0.20 at $OLD_KEXEC (make oldkexec)"
	local piece=$BATS_TEST_TMPDIR/oldkexec.cpio k
	mkdir -p "$BATS_TEST_TMPDIR/piece/opt/kexec-2.0.20"
	cp "$OLD_KEXEC" "$BATS_TEST_TMPDIR/piece/opt/kexec-2.0.20/kexec"
	(cd "$BATS_TEST_TMPDIR/piece" && find . | cpio -o -H newc --owner=0:0 --quiet) >"$piece"
	for k in old machine; do
		VM_TAG=$k vm_run - "$NOKASLR $CARVE" --initrd "$piece" <<EOF
. /hvt/sim.sh
if [ "\$(hvt_gen)" = 0 ]; then
	hvt_sim_deposit 100 1 || hvt_fail "deposit: \$hvt_sim_err"
	# No /sys/firmware/memmap: kexec-tools reads /proc/iomem.
	mount -t tmpfs none /sys/firmware || hvt_fail "cannot hide /sys/firmware"
	[ $k = old ] && PATH=/opt/kexec-2.0.20:\$PATH
	hvt_result kexec_version "\$(kexec --version 2>&1)"
	hvt_ckpt pre-kexec $CARVE_BASE $CARVE_SIZE
	hvt_kexec -l /boot/vmlinuz-new "nokaslr $CARVE"
fi
hvt_result state "\$(cat /sys/kernel/mm/hvcarve/state)"
hvt_result memmap "\$(hvt_memmap_dump | tr '\n' ';')"
hvt_ckpt post-boot $CARVE_BASE $CARVE_SIZE
hvt_done
EOF
	done
	local hole
	hole=$(printf '%#x is not in the boot memory map' $((CARVE_BASE)))

	export VM_TAG=old
	assert_equal "$(r kexec_version)" "kexec-tools 2.0.20"
	assert_equal "$(last_gen)" 1
	assert_equal "$(r state 1)" invalid
	run console_grep -g 1 "hvcarve: rejecting hvcarve region .*: $hole"
	assert_success
	# The next kernel's map has nothing over the carveout.
	local a e t over=0
	while read -r a e t; do
		[ -n "$a" ] || continue
		[ $((a)) -lt $((CARVE_BASE + CARVE_SIZE)) ] && [ $((e)) -ge $((CARVE_BASE)) ] &&
			over=$((over + 1))
	done < <(tr ';' '\n' <<<"$(r memmap 1)")
	assert_equal "$over" 0
	# ...and is a map (the check above cannot pass on an empty one).
	[ "$(tr ';' '\n' <<<"$(r memmap 1)" | grep -c '^0x')" -ge 3 ]
	# The host: the carveout is byte for byte as the first kernel left it.
	dumps_equal pre-kexec post-boot

	export VM_TAG=machine
	[[ $(r kexec_version) == "kexec-tools 2.0.2"[1-9]* ]] || fail "machine's kexec: $(r kexec_version)"
	assert_equal "$(last_gen)" 1
	assert_equal "$(r state 1)" active
	run console_grep -g 1 "$hole"
	assert_failure
	run console_grep -g 1 'hvcarve: region 0: .* reserved \(inherited from the kernel before kexec\)'
	assert_success
	# Handed on as one reserved entry of exactly the region.
	run grep -c "^$(printf '%#x %#x' $((CARVE_BASE)) $((CARVE_BASE + CARVE_SIZE - 1))) Reserved\$" \
		< <(tr ';' '\n' <<<"$(r memmap 1)")
	assert_output 1
	dumps_equal pre-kexec post-boot
}
