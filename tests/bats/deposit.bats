#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# Deposits through the carveout pool: the simulated hypervisor in the test
# kernel plays the hypervisor, the counters must match its ledger, pages
# come back to the pool, a new kernel learns what the hypervisor still holds
# from refusals, exhaustion follows hvcarve.overflow=, the kexec guards hold,
# and nobody but root (with CAP_SYS_ADMIN) can drive any of it.

load helpers
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

CARVE_BASE=0x3a000000
CARVE_SIZE=0x4000000
CARVE="hvcarve=64M@$CARVE_BASE"
PAGES=16384

teardown() {
	hvt_teardown
}

# r KEY [GEN]: a result of generation GEN (default 0).
r() {
	result "$1" "${2:-0}"
}

# host_held NAME: pages held in dump NAME, as the host's decoder counts them.
host_held() {
	"$HVT_ROOT/tools/hvcarve/hvcarve-dump" decode --base "$CARVE_BASE" "$(dump_file "$1")" |
		awk '$1 == "held" { print $2; f = 1 } END { exit !f }'
}

# host_parts NAME: "P:n ..." per partition in dump NAME, from the decoder.
host_parts() {
	"$HVT_ROOT/tools/hvcarve/hvcarve-dump" decode --base "$CARVE_BASE" "$(dump_file "$1")" |
		awk '$1 == "partition" { printf "%s%s:%s", sep, $2, $3; sep = " " } END { print "" }'
}

@test "deposit 1000 pages for two partitions; withdraw 400; counters match the ledger" {
	vm_run - "nokaslr $CARVE" <<'EOF'
. /hvt/sim.sh
hvt_sim_deposit 600 1 || hvt_fail "deposit P1: $hvt_sim_err"
hvt_sim_deposit 400 2 || hvt_fail "deposit P2: $hvt_sim_err"
hvt_sim_report dep
hvt_result dep.p1 "$(hvt_sim_partition 1)"
hvt_result dep.p2 "$(hvt_sim_partition 2)"
hvt_sim_withdraw 400 1 || hvt_fail "withdraw: $hvt_sim_err"
hvt_sim_report wd
hvt_result wd.p1 "$(hvt_sim_partition 1)"
hvt_result wd.p2 "$(hvt_sim_partition 2)"
hvt_done
EOF
	assert_equal "$(r dep.sim_held)" 1000
	assert_equal "$(r dep.p1)" 600
	assert_equal "$(r dep.p2)" 400
	assert_equal "$(r dep.deposited_pages)" 1000
	assert_equal "$(r dep.deposit_success_pages)" 1000
	assert_equal "$(r dep.free_pages)" $((PAGES - 1000))
	assert_equal "$(r dep.peak_deposited_pages)" 1000
	assert_equal "$(r dep.inherited_pages)" 0
	assert_equal "$(r dep.sim_corrupted)" 0

	assert_equal "$(r wd.sim_held)" 600
	assert_equal "$(r wd.p1)" 200
	assert_equal "$(r wd.p2)" 400
	assert_equal "$(r wd.deposited_pages)" 600
	assert_equal "$(r wd.withdrawn_pages)" 400
	assert_equal "$(r wd.free_pages)" $((PAGES - 600))
	# The peak is kept.
	assert_equal "$(r wd.peak_deposited_pages)" 1000
	assert_equal "$(r wd.deposit_fail_pages)" 0
}

# Generation 0 deposits and withdraws; every later generation deposits 500
# more with no knowledge handed over, and must step around what the
# hypervisor still holds.
@test "after kexec -l and kexec -s, new deposits avoid every page held before; inherited = refusals" {
	vm_run - "nokaslr $CARVE" <<EOS
. /hvt/sim.sh
export HVT_DUMP_RANGES="$CARVE_BASE $CARVE_SIZE"
g=\$(hvt_gen)
hvt_sim_report boot
if [ "\$g" = 0 ]; then
	hvt_sim_deposit 600 1 || hvt_fail "deposit: \$hvt_sim_err"
	hvt_sim_deposit 400 2 || hvt_fail "deposit: \$hvt_sim_err"
	hvt_sim_withdraw 400 1 || hvt_fail "withdraw: \$hvt_sim_err"
else
	hvt_sim_deposit 500 3 || hvt_fail "deposit: \$hvt_sim_err"
	hvt_ckpt "after-deposit-gen\$g" $CARVE_BASE $CARVE_SIZE
fi
echo 1 >\$HVT_SIM/scan
hvt_sim_report end
case \$g in
0) hvt_kexec -l /boot/vmlinuz-new "$CARVE" ;;
1) hvt_kexec -s /boot/vmlinuz-new "$CARVE" ;;
*) hvt_done ;;
esac
EOS
	local g held=600
	assert_equal "$(r end.sim_held 0)" 600
	for g in 1 2; do
		# The new kernel's simulator rebuilt its ledger from the pages.
		assert_equal "$(r boot.sim_held $g)" "$held"
		assert_equal "$(r boot.sim_corrupted $g)" 0
		assert_equal "$(r boot.inherited_pages $g)" 0
		# 500 more, none of them on a page held before.
		assert_equal "$(r end.sim_held $g)" $((held + 500))
		assert_equal "$(r end.deposited_pages $g)" 500
		# Every refusal met was learnt as inherited, one for one.
		[ "$(r end.sim_refusals $g)" -gt 0 ]
		assert_equal "$(r end.inherited_pages $g)" "$(r end.sim_refusals $g)"
		assert_equal "$(r end.free_pages $g)" \
			$((PAGES - 500 - $(r end.inherited_pages $g) - $(r end.skipped_pages $g)))
		assert_equal "$(r end.sim_corrupted $g)" 0
		assert_equal "$(r end.deposit_fail_pages $g)" 0
		# Host side, from the dumps: the pages held before the kexec, as
		# many as the scenario left deposited, are byte-identical after
		# the new deposits.
		run "$HVT_ROOT/tools/hvcarve/hvcarve-dump" held-kept --base "$CARVE_BASE" --expect-held "$held" \
			"$(dump_file "pre-kexec-gen$((g - 1))")" "$(dump_file "after-deposit-gen$g")"
		assert_success
		assert_line "held_after $((held + 500))"
		# What the scenario deposited, partition by partition, as the host
		# decodes it: 200 + 400 left from generation 0, 500 more for
		# partition 3 per later generation.
		assert_equal "$(host_parts "after-deposit-gen$g")" "1:200 2:400 3:$((500 * g))"
		held=$((held + 500))
	done
}

@test "deny policy: the deposit fails at exhaustion and the counters are exact" {
	vm_run - "nokaslr hvcarve=4M@$CARVE_BASE" <<'EOF'
. /hvt/sim.sh
hvt_result policy "$(cat /sys/module/hvcarve/parameters/overflow)"
hvt_sim_deposit 1000 1 || hvt_fail "first deposit: $hvt_sim_err"
if hvt_sim_deposit 100 1; then
	hvt_result second ok
else
	hvt_result second "failed: $hvt_sim_err"
fi
hvt_sim_report x
hvt_done
EOF
	assert_equal "$(r policy)" deny
	run r second
	assert_output --partial "failed"
	assert_output --partial "Cannot allocate memory"
	# 1024 pages: 1000 + the 24 that were left; 76 could not be had.
	assert_equal "$(r x.deposited_pages)" 1024
	assert_equal "$(r x.deposit_success_pages)" 1024
	assert_equal "$(r x.deposit_fail_pages)" 76
	assert_equal "$(r x.free_pages)" 0
	assert_equal "$(r x.sim_held)" 1024
	assert_equal "$(r x.overflow_pages)" 0
	run console_grep 'hvcarve: carveout exhausted: 76 of 100 pages for partition 0x1 not deposited \(hvcarve.overflow=deny\)'
	assert_success
}

# hvcarve.overflow=allow: past the carveout, ordinary pages are deposited
# and counted, and a kexec load (-s and -l) is refused with EBUSY while any
# is deposited. Once they are withdrawn the load is accepted, and from then
# on no ordinary page is deposited: a deposit past the carveout gets the
# carveout's pages and fails with EBUSY. So kexec -e goes through, and the
# next kernel finds the carveout's pages held, the host the same in its
# dumps.
@test "allow policy: overflow is counted, kexec refused with EBUSY until it is withdrawn; once loaded, no ordinary page is deposited" {
	vm_run - "nokaslr hvcarve=4M@$CARVE_BASE hvcarve.overflow=allow" <<EOF
. /hvt/sim.sh
export HVT_DUMP_RANGES="$CARVE_BASE 0x400000"
if [ "\$(hvt_gen)" = 0 ]; then
	hvt_result policy "\$(cat /sys/module/hvcarve/parameters/overflow)"
	hvt_sim_deposit 1100 1 || hvt_fail "deposit: \$hvt_sim_err"
	hvt_sim_report over
	hvt_kexec -s /boot/vmlinuz-new && hvt_fail "kexec -s loaded with overflow pages deposited"
	hvt_kexec -l /boot/vmlinuz-new && hvt_fail "kexec -l loaded with overflow pages deposited"
	hvt_sim_withdraw 1100 1 || hvt_fail "withdraw: \$hvt_sim_err"
	hvt_sim_report back
	hvt_kexec_load -s /boot/vmlinuz-new "hvcarve=4M@$CARVE_BASE" ||
		hvt_fail "kexec -s refused after the withdrawal"
	if hvt_sim_deposit 1100 1; then
		hvt_result loaded_deposit ok
	else
		hvt_result loaded_deposit "\$hvt_sim_err"
	fi
	hvt_result loaded_last "\$(grep ^last_deposit \$HVT_SIM/ledger)"
	hvt_sim_report loaded
	hvt_kexec_exec
	hvt_fail "kexec -e refused after an accepted load: \$hvt__kout"
else
	hvt_ckpt post-boot $CARVE_BASE 0x400000
	hvt_sim_report next
	hvt_done
fi
EOF
	assert_equal "$(r policy)" allow
	assert_equal "$(r over.deposited_pages)" 1024
	assert_equal "$(r over.overflow_pages)" 76
	assert_equal "$(r over.overflow_cumulative_pages)" 76
	assert_equal "$(r over.sim_held)" 1100
	run console_grep 'hv_deposit: kexec refused: 76 ordinary pages are deposited'
	assert_success
	run awk '$2 == "kexec_load_err" { print }' "$(vm_artifacts)/results.txt"
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --partial "Device or resource busy"
	assert_line --index 1 --partial "Device or resource busy"
	assert_equal "$(r back.overflow_pages)" 0
	# Held now is 0; since boot stays: what was deposited, not held.
	assert_equal "$(r back.overflow_cumulative_pages)" 76
	assert_equal "$(r back.sim_held)" 0
	assert_equal "$(r back.free_pages)" 1024
	# Loaded: the carveout's 1024 pages went in, the 76 ordinary ones
	# were refused with EBUSY, and the simulator holds none of them.
	run r loaded_deposit
	assert_output --partial "Device or resource busy"
	run r loaded_last
	assert_output --regexp '^last_deposit requested=1100 deposited=1024 overflow=0 rc=-16 '
	assert_equal "$(r loaded.deposited_pages)" 1024
	assert_equal "$(r loaded.overflow_pages)" 0
	# The 76 refused with EBUSY were never accepted, so not counted.
	assert_equal "$(r loaded.overflow_cumulative_pages)" 76
	assert_equal "$(r loaded.sim_held)" 1024
	# kexec -e went through; the next kernel's simulator finds the
	# carveout's 1024 pages held, and so does the host, byte for byte.
	assert_equal "$(last_gen)" 1
	assert_equal "$(r next.sim_held 1)" 1024
	assert_equal "$(r next.sim_corrupted 1)" 0
	assert_equal "$(r next.overflow_cumulative_pages 1)" 0
	dumps_equal pre-kexec-gen0 post-boot
	assert_equal "$(host_held post-boot)" 1024
	assert_equal "$(host_parts post-boot)" "1:1024"
}

# Issue 16, item 1: the gate without hvcarve= (forgotten on one command
# line, say). Before the fix every such deposit failed with -ENODEV in the
# test kernel, and on a root partition took mainline's path uncounted.
@test "without hvcarve=, every deposit is ordinary and counted: kexec refused with EBUSY until it is withdrawn, the pages freed; once loaded, nothing is deposited" {
	vm_run - "nokaslr" <<'EOF'
. /hvt/sim.sh
export HVT_DUMP_RANGES=
# Free memory in kB, with the pages on the per-CPU free lists (/proc/zoneinfo
# "count:", in pages), which MemFree leaves out.
memfree() {
	awk '$1 == "MemFree:" { f = $2 } $1 == "count:" { c += $2 } END { print f + c * 4 }' \
		/proc/meminfo /proc/zoneinfo
}
if [ "$(hvt_gen)" != 0 ]; then
	hvt_result next.overflow "$(cat $HVT_HVC/overflow_pages)"
	hvt_done
fi
hvt_result free0 "$(memfree)"
hvt_sim_deposit 4000 1 || hvt_fail "deposit: $hvt_sim_err"
hvt_result dep.overflow "$(cat $HVT_HVC/overflow_pages)"
hvt_result dep.held "$(hvt_sim_ledger held)"
hvt_result free1 "$(memfree)"
hvt_kexec -s /boot/vmlinuz-new && hvt_fail "kexec -s loaded with ordinary pages deposited"
hvt_kexec -l /boot/vmlinuz-new && hvt_fail "kexec -l loaded with ordinary pages deposited"
hvt_result free2 "$(memfree)"
hvt_sim_withdraw 4000 1 || hvt_fail "withdraw: $hvt_sim_err"
hvt_result wd.overflow "$(cat $HVT_HVC/overflow_pages)"
hvt_result wd.held "$(hvt_sim_ledger held)"
hvt_result free3 "$(memfree)"
hvt_kexec_load -s /boot/vmlinuz-new || hvt_fail "kexec -s refused after the withdrawal"
if hvt_sim_deposit 10 1; then
	hvt_result loaded_deposit ok
else
	hvt_result loaded_deposit "$hvt_sim_err"
fi
hvt_result loaded.held "$(hvt_sim_ledger held)"
hvt_result loaded.overflow "$(cat $HVT_HVC/overflow_pages)"
hvt_kexec_exec
hvt_fail "kexec -e refused after an accepted load: $hvt__kout"
EOF
	# No carveout: every page deposited is ordinary, and each is counted.
	assert_equal "$(r dep.overflow)" 4000
	assert_equal "$(r dep.held)" 4000
	# 4000 pages are 16000 kB out of the page allocator.
	(($(r free0) - $(r free1) >= 15000))
	run console_grep 'hv_deposit: kexec refused: 4000 ordinary pages are deposited'
	assert_success
	run awk '$1 == 0 && $2 == "kexec_load_err" { print }' "$(vm_artifacts)/results.txt"
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --partial "Device or resource busy"
	assert_line --index 1 --partial "Device or resource busy"
	# Withdrawn: uncounted, and freed, not leaked: the 16000 kB are back.
	assert_equal "$(r wd.overflow)" 0
	assert_equal "$(r wd.held)" 0
	(($(r free3) - $(r free2) >= 15000))
	run console_grep 'never deposited it'
	assert_failure
	# Loaded: the deposit is refused, nothing goes in, and kexec -e goes.
	run r loaded_deposit
	assert_output --partial "Device or resource busy"
	assert_equal "$(r loaded.held)" 0
	assert_equal "$(r loaded.overflow)" 0
	assert_equal "$(last_gen)" 1
	assert_equal "$(r next.overflow 1)" 0
}

# What the gate means on a root partition without hvcarve=: what it deposits
# while booting (for its processors) is never withdrawn, so it never kexecs;
# mainline would, into the 2023 crash.
@test "without hvcarve=, boot deposits are ordinary and counted, said once, and kexec is refused" {
	vm_run - "nokaslr hvcarve_sim.boot_deposit=300,1" <<'EOF'
. /hvt/sim.sh
hvt_result overflow "$(cat $HVT_HVC/overflow_pages)"
hvt_result held "$(hvt_sim_ledger held)"
hvt_kexec_load -s /boot/vmlinuz-new && hvt_fail "kexec -s loaded with boot deposits in the hypervisor"
hvt_done
EOF
	assert_equal "$(r overflow)" 300
	assert_equal "$(r held)" 300
	run console_grep 'hvcarve: hvcarve= not given: deposits use ordinary memory, and kexec is refused while any of it is deposited'
	assert_success
	assert_equal "${#lines[@]}" 1
	run result kexec_load_err
	assert_output --partial "Device or resource busy"
}

# kexec-tools places segments wherever /sys/firmware/memmap says RAM. Lie to
# it (a tmpfs over /sys/firmware/memmap calling the carveout RAM) and force
# the segments in with --mem-min/--mem-max: the kernel must refuse the load.
#
# What the carveout dumps around the refused load prove, and what not: a
# kexec_load image is not copied into place at load time. kexec -l copies
# the segments into pages the kernel allocates (the final place only if
# that page happens to be free in the page allocator, which no carveout
# page ever is); kexec -e copies them into place. So an unchanged carveout
# after the refused load shows only that the refusal wrote nothing there.
# What keeps kexec -e from ever writing the segments into the carveout is
# that the image was refused: no image is loaded (kexec_loaded stays 0),
# where the control load, outside the carveout, makes it 1.
@test "kexec -l forced into the carveout is refused at load time: no image is left for kexec -e" {
	vm_run - "nokaslr $CARVE" <<EOS
. /hvt/sim.sh
hvt_sim_deposit 300 1 || hvt_fail "deposit: \$hvt_sim_err"
# A copy of the memmap with the carveout turned into "System RAM".
mkdir -p /tmp/fw
for d in /sys/firmware/memmap/*; do
	n=\${d##*/}
	mkdir -p /tmp/fw/\$n
	cat \$d/start >/tmp/fw/\$n/start
	cat \$d/end >/tmp/fw/\$n/end
	if [ "\$(cat \$d/start)" = $CARVE_BASE ]; then
		echo "System RAM" >/tmp/fw/\$n/type
	else
		cat \$d/type >/tmp/fw/\$n/type
	fi
done
mount -t tmpfs fake /sys/firmware/memmap
cp -a /tmp/fw/. /sys/firmware/memmap/
hvt_result fake_ram_entries "\$(grep -l "System RAM" /sys/firmware/memmap/*/type | wc -l)"
hvt_result loaded_before "\$(cat /sys/kernel/kexec_loaded)"
hvt_ckpt before $CARVE_BASE $CARVE_SIZE
echo x >/tmp/rd
rc=0
out=\$(kexec -c -l /boot/vmlinuz-new --initrd=/tmp/rd --mem-min=$CARVE_BASE --mem-max=0x3dffffff 2>&1) || rc=\$?
hvt_result forced_rc "\$rc"
hvt_result forced_err "\$out"
hvt_result loaded_after_forced "\$(cat /sys/kernel/kexec_loaded)"
hvt_ckpt after $CARVE_BASE $CARVE_SIZE
# Control: the same lie, the same command, a window outside the carveout.
rc=0
out=\$(kexec -c -l /boot/vmlinuz-new --initrd=/tmp/rd --mem-min=0x20000000 --mem-max=0x2fffffff 2>&1) || rc=\$?
hvt_result control_rc "\$rc"
hvt_result control_err "\$out"
hvt_result loaded_after_control "\$(cat /sys/kernel/kexec_loaded)"
kexec -u
hvt_result loaded_after_unload "\$(cat /sys/kernel/kexec_loaded)"
echo 1 >\$HVT_SIM/scan
hvt_sim_report end
hvt_done
EOS
	assert_equal "$(r fake_ram_entries)" 4
	assert_equal "$(r loaded_before)" 0
	[ "$(r forced_rc)" != 0 ]
	run r forced_err
	assert_success
	assert_output --partial "Cannot assign requested address"
	run console_grep 'kexec_core: segment [0-9]+ \[mem 0x000000003[a-d][0-9a-f]{6}-0x000000003[a-d][0-9a-f]{6}\] overlaps reserved memory: refused'
	assert_success
	# The refused image is not loaded: kexec -e has nothing to copy.
	assert_equal "$(r loaded_after_forced)" 0
	# Control: the same load outside the carveout is accepted, and shows
	# as loaded, so the check above can fail.
	assert_equal "$(r control_rc)" 0
	assert_equal "$(r loaded_after_control)" 1
	assert_equal "$(r loaded_after_unload)" 0
	# The refusal itself wrote nothing into the carveout (see above for
	# how little that says), and the 300 held pages are intact.
	dumps_equal before after
	assert_equal "$(host_held after)" 300
	assert_equal "$(r end.sim_held)" 300
	assert_equal "$(r end.sim_corrupted)" 0
}

# The check above is kexec core's, not hvcarve's: kexec_load() refuses a
# segment in any memory reserved in the resource tree. memmap=$ reserves a
# range in the kernel's e820 table only, so /sys/firmware/memmap still calls
# it RAM and kexec-tools places segments there when told to. No hvcarve=.
forced_reserved_load() {
	VM_KERNEL=$1 vm_run - "nokaslr memmap=64M\$0x30000000" <<EOS
hvt_result reserved "\$(grep -c '^ *30000000-33ffffff : Reserved$' /proc/iomem)"
echo x >/tmp/rd
rc=0
out=\$(kexec -c -l /boot/vmlinuz-new --initrd=/tmp/rd --mem-min=0x30000000 --mem-max=0x33ffffff 2>&1) || rc=\$?
hvt_result forced_rc "\$rc"
hvt_result forced_err "\$out"
hvt_result loaded_after_forced "\$(cat /sys/kernel/kexec_loaded)"
kexec -u
rc=0
out=\$(kexec -c -l /boot/vmlinuz-new --initrd=/tmp/rd --mem-min=0x20000000 --mem-max=0x2fffffff 2>&1) || rc=\$?
hvt_result control_rc "\$rc"
hvt_result loaded_after_control "\$(cat /sys/kernel/kexec_loaded)"
kexec -u
hvt_done
EOS
}

@test "kexec -l forced into memory memmap=\$ reserved is refused too, without hvcarve= (kexec core's check); the stock kernel takes it (control)" {
	forced_reserved_load "$NEW_KERNEL"
	assert_equal "$(r reserved)" 1
	[ "$(r forced_rc)" != 0 ] || fail "the patched kernel loaded segments into memmap=\$ memory"
	run r forced_err
	assert_output --partial "Cannot assign requested address"
	run console_grep 'kexec_core: segment [0-9]+ \[mem 0x000000003[0-3][0-9a-f]{6}-0x000000003[0-3][0-9a-f]{6}\] overlaps reserved memory: refused'
	assert_success
	assert_equal "$(r loaded_after_forced)" 0
	assert_equal "$(r control_rc)" 0
	assert_equal "$(r loaded_after_control)" 1
	# Control: Debian's 6.1, without the check, loads the same segments.
	forced_reserved_load "$OLD_KERNEL"
	assert_equal "$(r reserved)" 1
	assert_equal "$(r forced_rc)" 0
	assert_equal "$(r loaded_after_forced)" 1
}

# Every hvcarve sysfs and simulator debugfs file, written by `nobody` and
# by root without capabilities (nocaps): all refused. Positive controls
# first: both can write elsewhere, so a refusal is the files' own checks.
# The host compares the carveout before and after the attempts, and after
# a deposit by root with its capabilities (which the dump must show).
@test "unprivileged: no hvcarve sysfs or debugfs file can be written; the sysfs files are exactly those Documentation/ABI documents, skipped_pages is in debugfs only" {
	vm_run - "nokaslr $CARVE" <<EOS
. /hvt/sim.sh
# The scenario's initramfs piece (vm_run) packs its mktemp -d stage as "."
# with mode 0700, which becomes the mode of /: nobody could not even run
# /bin/sh (the positive control below found that out). Undo it.
chmod 755 /
# Let everyone reach debugfs, so the files' own checks are what is tested.
mount -o remount,mode=755 /sys/kernel/debug
# Positive controls. nobody: a world-writable file, a new file in /tmp.
: >/tmp/anyone
chmod 666 /tmp/anyone
hvt_result nobody_uid "\$(su -s /bin/sh nobody -c 'id -u')"
su -s /bin/sh nobody -c 'echo 1 1 >/tmp/anyone && echo 1 1 >/tmp/nobody-new' && hvt_result nobody_writes_tmp ok
# Root without capabilities: a root-owned mode 0600 file, which needs
# nothing but the owner's mode bits (the debugfs files are root's, 0600).
: >/tmp/rootonly
chmod 600 /tmp/rootonly
hvt_result nocaps_uid "\$(nocaps sh -c 'id -u')"
hvt_result nocaps_capeff "\$(nocaps sh -c 'grep CapEff /proc/self/status' | tr -d ' \t')"
nocaps sh -c 'echo 1 1 >/tmp/rootonly' && hvt_result nocaps_writes_tmp ok
hvt_result tmp_contents "\$(echo \$(cat /tmp/anyone /tmp/nobody-new /tmp/rootonly))"
files=\$(find \$HVT_HVC \$HVT_HVCD \$HVT_SIM /sys/kernel/debug/hvcarve_bench -type f)
hvt_result nfiles "\$(echo "\$files" | wc -l)"
# The names, regions as region@BASE, for the ABI check on the host.
hvt_result sysfs_names "\$(echo \$(cd \$HVT_HVC && find . -type f | sed 's|^\./||; s|^region@[0-9a-f]*/|region@BASE/|' | sort))"
hvt_result debugfs_names "\$(echo \$(cd \$HVT_HVCD && find . -type f | sed 's|^\./||; s|^region@[0-9a-f]*/|region@BASE/|' | sort))"
hvt_ckpt before-attempts $CARVE_BASE $CARVE_SIZE
nobody_ok=0 nocaps_ok=0 root_sysfs_ok=0
for f in \$files; do
	su -s /bin/sh nobody -c "echo '1 1' >\$f" 2>/dev/null && { nobody_ok=\$((nobody_ok + 1)); echo "nobody wrote \$f"; }
	nocaps sh -c "echo '1 1' >\$f" 2>/dev/null && { nocaps_ok=\$((nocaps_ok + 1)); echo "root without caps wrote \$f"; }
done
for f in \$(find \$HVT_HVC -type f); do
	(echo 1 >\$f) 2>/dev/null && root_sysfs_ok=\$((root_sysfs_ok + 1))
done
hvt_result nobody_writes "\$nobody_ok"
hvt_result nocaps_writes "\$nocaps_ok"
hvt_result root_sysfs_writes "\$root_sysfs_ok"
hvt_result held_after "\$(hvt_sim_ledger held)"
hvt_ckpt after-attempts $CARVE_BASE $CARVE_SIZE
# Control: root with its capabilities can deposit, and the host sees it.
hvt_sim_deposit 5 1 && hvt_result root_deposit ok
hvt_result held_root "\$(hvt_sim_ledger held)"
hvt_ckpt after-root $CARVE_BASE $CARVE_SIZE
hvt_done
EOS
	# The positive controls: both could write where their rights allow.
	assert_equal "$(r nobody_uid)" 65534
	assert_equal "$(r nobody_writes_tmp)" ok
	assert_equal "$(r nocaps_uid)" 0
	assert_equal "$(r nocaps_capeff)" CapEff:0000000000000000
	assert_equal "$(r nocaps_writes_tmp)" ok
	assert_equal "$(r tmp_contents)" "1 1 1 1 1 1"
	# 4 global + 11 per-region sysfs files; debugfs: 1 of hvcarve's own (the
	# region's skipped_pages), 11 simulator and 2 benchmark files.
	assert_equal "$(r nfiles)" 29
	# sysfs is ABI: its files are exactly those Documentation/ABI documents,
	# and the learning internal skipped_pages is in debugfs only.
	local abi
	abi=$(sed -n 's|^What:[[:space:]]*/sys/kernel/mm/hvcarve/\(.\{1,\}\)$|\1|p' \
		"$HVT_ROOT/Documentation/ABI/testing/sysfs-kernel-mm-hvcarve" |
		sed 's|^region@<base>/|region@BASE/|' | LC_ALL=C sort)
	abi=$(paste -sd' ' <<<"$abi")
	[ "$(wc -w <<<"$abi")" -eq 15 ] || fail "ABI file lists $(wc -w <<<"$abi") sysfs files: $abi"
	assert_equal "$(r sysfs_names)" "$abi"
	assert_equal "$(r debugfs_names)" "region@BASE/skipped_pages"
	assert_equal "$(r nobody_writes)" 0
	assert_equal "$(r nocaps_writes)" 0
	assert_equal "$(r root_sysfs_writes)" 0
	assert_equal "$(r held_after)" 0
	# The host's view: the attempts changed nothing in the carveout...
	dumps_equal before-attempts after-attempts
	assert_equal "$(host_held after-attempts)" 0
	# ...while root's deposit is there, so the dumps would have shown one.
	assert_equal "$(r root_deposit)" ok
	assert_equal "$(r held_root)" 5
	run dumps_equal after-attempts after-root
	assert_failure
	assert_equal "$(host_held after-root)" 5
}

# crashkernel= and the carveout: the carveout is kept, the crash kernel
# memory is not reserved there, and the kernel says why.
CRASH_SCENARIO='
hvt_result state "$(cat /sys/kernel/mm/hvcarve/state)"
hvt_result crash "$(grep "Crash kernel" /proc/iomem | tr -d " ")"
hvt_done
'

@test "crashkernel= overlapping the carveout is refused with a clear message" {
	vm_run - "nokaslr $CARVE crashkernel=32M@0x3c000000" <<<"$CRASH_SCENARIO"
	run console_grep 'hvcarve: crashkernel= \[mem 0x000000003c000000-0x000000003dffffff\] overlaps carveout region 0 \[mem 0x000000003a000000-0x000000003dffffff\]: no crash kernel memory will be reserved, the carveout is kept'
	assert_success
	assert_equal "$(r state)" active
	assert_equal "$(r crash)" ""
	e820_range_is 0 "$CARVE_BASE" "$CARVE_SIZE" hvcarve modified
}

@test "control: crashkernel= elsewhere is reserved next to the carveout" {
	vm_run - "nokaslr $CARVE crashkernel=32M@0x20000000" <<<"$CRASH_SCENARIO"
	run console_grep 'hvcarve: crashkernel='
	assert_failure
	assert_equal "$(r state)" active
	assert_equal "$(r crash)" "20000000-21ffffff:Crashkernel"
}

# Item 7: HV_STATUS_INSUFFICIENT_CONTIGUOUS_MEMORY asks for contiguous
# memory. The deposit is one naturally aligned block of the carveout, whole,
# never scattered pages; with no such block free it fails and says so.
@test "a contiguous request gets one naturally aligned block; with none free it fails, scattering nothing" {
	vm_run - "nokaslr hvcarve=64K@$CARVE_BASE" <<EOF
. /hvt/sim.sh
# Three pages first, so that the pool's next page is not aligned.
hvt_sim_deposit 3 1 || hvt_fail "deposit: \$hvt_sim_err"
if (echo "8 2" >\$HVT_SIM/deposit_contig) 2>/tmp/err; then hvt_result contig ok; else hvt_result contig "\$(cat /tmp/err)"; fi
hvt_ckpt one-block $CARVE_BASE 0x10000
# 16 pages: blocks at 0 (3 taken) and 8 (taken now); none left.
if (echo "8 3" >\$HVT_SIM/deposit_contig) 2>/tmp/err; then hvt_result contig2 ok; else hvt_result contig2 "\$(cat /tmp/err)"; fi
hvt_result held2 "\$(hvt_sim_ledger held)"
hvt_sim_report end
hvt_done
EOF
	assert_equal "$(r contig)" ok
	# The host's decode: partition 2 holds 8 pages, consecutive, the first
	# aligned to 8 pages.
	local pfns
	pfns=$("$HVT_ROOT/tools/hvcarve/hvcarve-dump" decode --base "$CARVE_BASE" --list \
		"$(dump_file one-block)" | awk '$2 == 2 { print $1 }')
	echo "partition 2: $pfns"
	assert_equal "$(wc -l <<<"$pfns")" 8
	local first i=0 p
	first=$(head -n 1 <<<"$pfns")
	assert_equal $((first % 8)) 0
	for p in $pfns; do
		assert_equal "$((p))" $((first + i))
		i=$((i + 1))
	done
	run r contig2
	assert_output --partial "Cannot allocate memory"
	assert_equal "$(r held2)" 11
	run console_grep 'hvcarve: no naturally aligned block of 8 free carveout pages could be deposited for partition 0x3'
	assert_success
}

# Learning is logarithmic in the run it meets (issue 11): after a kexec
# that left 30000 pages held in one run, 5000 pages cost at most
# 2 * ceil(log2(30000)) + 5000 / 511 + 10 = 49 backend calls, not one per
# held page. The same deposit across 1000 pages held one by one (runs of
# one page, nothing to skip) costs one call per held page: the count is
# real, and the bound tells the two apart.
@test "learning after kexec -s: 5000 pages past a run of 30000 held cost at most 2 ceil(log2 30000) + 5000/511 + 10 backend calls; the probes' seed is logged" {
	local carve="hvcarve=256M@0x40000000"
	VM_MEM=2G vm_run - "nokaslr $carve" <<EOS
. /hvt/sim.sh
R0=\$(hvt_region)
calls() { # TAG PARTITION: deposit 5000 pages, report the backend calls
	c0=\$(hvt_sim_ledger deposit_calls)
	hvt_sim_deposit 5000 "\$2" || hvt_fail "deposit \$1: \$hvt_sim_err"
	hvt_result "\$1.calls" \$((\$(hvt_sim_ledger deposit_calls) - c0))
	hvt_result "\$1.inherited" "\$(cat \$R0/inherited_pages)"
	hvt_result "\$1.skipped" "\$(hvt_skipped)"
	hvt_result "\$1.sim_held" "\$(hvt_sim_ledger held)"
}
if [ "\$(hvt_gen)" = 0 ]; then
	hvt_sim_deposit 30000 1 || hvt_fail "deposit: \$hvt_sim_err"
	hvt_kexec -s /boot/vmlinuz-new "nokaslr $carve"
fi
calls run 2
hvt_result probe_seed_param "\$(cat /sys/module/hvcarve/parameters/probe_seed)"
# Everything back, then 1000 pages held one by one, 1 page apart.
hvt_sim_withdraw 100000 1 || hvt_fail "withdraw: \$hvt_sim_err"
hvt_sim_withdraw 100000 2 || hvt_fail "withdraw: \$hvt_sim_err"
hvt_result whole "\$(cat \$R0/free_pages)"
echo "0x40000 1000 1 1 1" >\$HVT_SIM/hold || hvt_fail "hold failed"
calls frag 2
hvt_done
EOS
	assert_equal "$(r run.sim_held 1)" 35000
	local bound seed
	bound=$(call_bound 30000 1 5000)
	[ "$(r run.calls 1)" -le "$bound" ] || fail "$(r run.calls 1) calls past a run of 30000 held pages, more than $bound"
	# The seed of the probes: none given (the parameter is 0), one drawn
	# and logged, once.
	assert_equal "$(r probe_seed_param 1)" 0
	run console_grep -g 1 "hvcarve: learning's probes: seed [0-9]+"
	assert_success
	assert_equal "${#lines[@]}" 1
	seed=$(sed -E "s/.*learning's probes: seed ([0-9]+).*/\1/" <<<"$output")
	[[ $seed =~ ^[1-9][0-9]*$ ]] || fail "probe seed '$seed'"
	echo "probe seed $seed: $(r run.calls 1) calls (bound $bound)"
	# Every held page was kept out: learnt (inherited) or passed over.
	[ "$(r run.inherited 1)" -ge 1 ]
	assert_equal $(($(r run.inherited 1) + $(r run.skipped 1))) 30000
	assert_equal "$(r whole 1)" 65536
	assert_equal "$(r frag.sim_held 1)" 6000
	assert_equal "$(r frag.inherited 1)" 1000
	[ "$(r frag.calls 1)" -gt 1000 ] || fail "$(r frag.calls 1) calls past 1000 pages held one by one"
}
