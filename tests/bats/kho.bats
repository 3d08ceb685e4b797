#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# Live update next to the carveout: the kernel's own kexec handover (KHO)
# and Live Update Orchestrator (LUO) tests, across a kexec -s of a guest
# with an active carveout that holds deposits.
#
# * lib/test_kho.c (CONFIG_TEST_KEXEC_HANDOVER, built in): with kho=on it
#   fills 8 MiB of folios with random data at boot, preserves them and a
#   checksum in a KHO subtree; the kernel after the kexec restores them and
#   prints "test_kho: KHO restore succeeded" (or "KHO restore failed").
# * tools/testing/selftests/liveupdate/luo_kexec_simple (static, built on
#   the host against the tree's uapi headers: scripts/build-luo-selftest.sh):
#   stage 1 (-s 1) preserves a memfd in a LUO session and leaves a child
#   holding it; stage 2 (-s 2), after the kexec, restores and verifies it
#   and prints "--- SIMPLE KEXEC TEST PASSED ---". A failure is
#   "Bail out!" (kselftest) and a non-zero exit.
# Between the stages hvcarve refuses the kexec load (-EBUSY) while ordinary
# pages are deposited, before anything is frozen or handed over; the load
# after they are withdrawn, and its kexec -e, still carry the sessions.
#
# The host dumps the carveout before the kexec, after the next kernel
# booted and after memory pressure: byte-identical. KHO's scratch areas
# (memory the next kernel boots from, and where kexec -s puts its
# segments) must never overlap the carveout: the first kernel's list
# (/sys/kernel/debug/kho/out/scratch_*), and the array KHO hands to the
# next kernel, which the host dumps from guest memory (the address is in
# the SETUP_KEXEC_KHO setup_data the next kernel got). The control: the
# same boot without hvcarve= puts scratch into that range, and the check
# sees it.

load helpers
hvt_chain_firmware
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

# 64 MiB where KHO's scratch areas go without hvcarve= (the control
# below), near the top of RAM: under OVMF they were [0x2e000000,
# 0x3a800000), above which lies boot services memory (from 0x3bf75000 in
# one boot) that no carveout may overlap; under SeaBIOS they reached
# 0x3a000000.
if [ "$VM_FIRMWARE" = uefi ]; then
	CARVE_BASE=0x30000000
else
	CARVE_BASE=0x3a000000
fi
CARVE_SIZE=0x4000000
CARVE="hvcarve=64M@$CARVE_BASE"
# KHO's default scratch sizes (200% of early kernel allocations): in a 1 GiB
# guest they would fill the top of RAM, where the carveout is.
LU="kho=on liveupdate=on"
DUMP=$HVT_ROOT/tools/hvcarve/hvcarve-dump
KTREE=${KTREE:-$HVT_ROOT/build/linux}
LUO_OUT=$HVT_ROOT/build/luo
LUO_CPIO=$LUO_OUT/luo.cpio

setup_file() {
	[ -f "$KTREE/Makefile" ] || {
		echo "no patched tree at $KTREE: run 'make kernel' first" >&2
		return 1
	}
	mkdir -p "$LUO_OUT"
	flock "$LUO_OUT/.lock" "$HVT_ROOT/scripts/build-luo-selftest.sh" "$KTREE" "$LUO_OUT" \
		luo_kexec_simple >&3 2>&1
}

teardown() {
	hvt_teardown
}

r() {
	result "$1" "${2:-0}"
}

host_decode() {
	"$DUMP" decode --base "$CARVE_BASE" "$(dump_file "$1")" |
		awk -v k="$2" '$1 == k { print $2; f = 1 } END { exit !f }'
}

host_parts() {
	"$DUMP" decode --base "$CARVE_BASE" "$(dump_file "$1")" |
		awk '$1 == "partition" { printf "%s%s:%s", sep, $2, $3; sep = " " } END { print "" }'
}

# scratch_pairs PHYS_LIST LEN_LIST: "0xADDR 0xSIZE" per area, from the two
# lists of /sys/kernel/debug/kho/out/scratch_phys and scratch_len.
scratch_pairs() {
	local -a a s
	local i
	read -r -a a <<<"$1"
	read -r -a s <<<"$2"
	if [ "${#a[@]}" = 0 ] || [ "${#a[@]}" != "${#s[@]}" ]; then
		echo "scratch lists empty or of different lengths: '$1' / '$2'" >&2
		return 1
	fi
	for i in "${!a[@]}"; do
		printf '0x%x 0x%x\n' "$((a[i]))" "$((s[i]))"
	done
}

# scratch_from_dump NAME: "0xADDR 0xSIZE" per struct kho_scratch (two
# little-endian u64) in dump NAME, decoded on the host.
scratch_from_dump() {
	local f
	f=$(dump_file "$1")
	if [ ! -s "$f" ] || [ $(($(stat -c %s "$f") % 16)) != 0 ]; then
		echo "dump $1 is no array of struct kho_scratch" >&2
		return 1
	fi
	od -An -v -tx8 -w16 "$f" | while read -r a s; do
		printf '0x%x 0x%x\n' "$((16#$a))" "$((16#$s))"
	done
}

# scratch_overlaps BASE SIZE: reads "ADDR SIZE" lines; prints every area
# that overlaps [BASE, BASE + SIZE) and succeeds if there is one.
scratch_overlaps() {
	local base=$(($1)) end=$(($1 + $2)) a s hit=1
	while read -r a s; do
		if [ "$((s))" -gt 0 ] && [ "$((a))" -lt "$end" ] && [ $((a + s)) -gt "$base" ]; then
			echo "scratch [mem $(printf '%#x-%#x' "$((a))" $((a + s - 1)))] overlaps [mem $(printf '%#x-%#x' "$base" $((end - 1)))]"
			hit=0
		fi
	done
	return "$hit"
}

# kho_scenario MODE APPEND: the guest side. Generation 0 reports its KHO
# state, runs stage 1 of the LUO test and kexecs (-s, with APPEND) with KHO;
# generation 1 reports what it was handed and runs stage 2. With MODE
# "deposits", generation 0 deposits first and has a kexec load refused for
# ordinary pages before the one that is accepted, and generation 1 goes
# under memory pressure and deposits again.
kho_scenario() {
	cat <<EOF
. /hvt/sim.sh
export HVT_DUMP_RANGES="$CARVE_BASE $CARVE_SIZE"
kho=/sys/kernel/debug/kho
luo_run() {
	rc=0
	out=\$(luo_kexec_simple -s "\$1" 2>&1) || rc=\$?
	printf '%s\n' "\$out"
	hvt_result "luo.rc" "\$rc"
	hvt_result "luo.out" "\$out"
}
if [ "\$(hvt_gen)" = 0 ]; then
	hvt_result kho_enabled "\$([ -d \$kho/out ] && echo yes || echo no)"
	hvt_result sub_fdts "\$(ls \$kho/out/sub_fdts | sort | tr '\n' ' ')"
	hvt_result scratch_phys "\$(cat \$kho/out/scratch_phys)"
	hvt_result scratch_len "\$(cat \$kho/out/scratch_len)"
	if [ "$1" = deposits ]; then
		hvt_sim_deposit 3000 1 || hvt_fail "deposit P1: \$hvt_sim_err"
		hvt_sim_deposit 1000 2 || hvt_fail "deposit P2: \$hvt_sim_err"
		hvt_sim_withdraw 500 1 || hvt_fail "withdraw P1: \$hvt_sim_err"
		hvt_sim_report dep
	fi
	luo_run 1
	if [ "$1" = deposits ]; then
		# With LUO's sessions open, ordinary pages (hvcarve.overflow=
		# allow: the carveout full, and 100 more): hvcarve refuses the
		# load with EBUSY, before anything is frozen or handed over, so
		# the load once they are withdrawn still carries the sessions.
		hvt_sim_deposit \$((\$(cat \$(hvt_region)/free_pages) + 100)) 7 ||
			hvt_fail "deposit P7: \$hvt_sim_err"
		hvt_result overflow "\$(cat \$HVT_HVC/overflow_pages)"
		hvt_kexec_load -s /boot/vmlinuz-new "$2" &&
			hvt_fail "kexec -s loaded with ordinary pages deposited"
		hvt_result refused "rc=\$hvt__krc \$hvt__kout"
		hvt_result loaded_refused "\$(cat /sys/kernel/kexec_loaded)"
		hvt_sim_withdraw 1000000 7 || hvt_fail "withdraw P7: \$hvt_sim_err"
		hvt_result overflow_after "\$(cat \$HVT_HVC/overflow_pages)"
		hvt_result held_after "\$(hvt_sim_ledger held)"
	fi
	hvt_kexec_load -s /boot/vmlinuz-new "$2" || hvt_fail "kexec -s load failed"
	hvt_kexec_exec
	hvt_fail "kexec -e returned \$hvt__krc"
fi
hvt_ckpt post-boot $CARVE_BASE $CARVE_SIZE
# The SETUP_KEXEC_KHO (10) setup_data: struct kho_data, four u64: the
# FDT's address and size, the scratch array's address and size.
kd=
for d in /sys/kernel/boot_params/setup_data/*; do
	[ "\$((\$(cat \$d/type)))" = 10 ] && kd=\$(od -An -v -tx8 \$d/data | tr -s ' \n' '  ')
done
hvt_result kho_data "\$kd"
set -- \$kd
[ \$# = 4 ] || hvt_fail "no SETUP_KEXEC_KHO setup_data: '\$kd'"
hvt_ckpt scratch-array 0x\$3 0x\$4
hvt_result in_sub_fdts "\$(ls \$kho/in/sub_fdts | sort | tr '\n' ' ')"
hvt_result scratch_phys "\$(cat \$kho/out/scratch_phys)"
hvt_result scratch_len "\$(cat \$kho/out/scratch_len)"
luo_run 2
hvt_sim_report boot
if [ "$1" = deposits ]; then
	hvt_memhog_run 90 80
	hvt_ckpt post-hog $CARVE_BASE $CARVE_SIZE
	hvt_sim_deposit 500 3 || hvt_fail "deposit P3: \$hvt_sim_err"
	hvt_sim_report end
fi
hvt_done
EOF
}

@test "KHO test module and LUO selftest pass across kexec -s; deposits and carveout intact; scratch outside it" {
	vm_run - "$NOKASLR $CARVE $LU hvcarve.overflow=allow" --initrd "$LUO_CPIO" --timeout 400 \
		< <(kho_scenario deposits "$NOKASLR $CARVE $LU")
	assert_equal "$(last_gen)" 1

	# KHO was on in both kernels, and the test module preserved its data.
	assert_equal "$(r kho_enabled)" yes
	assert_equal "$(r sub_fdts)" "LUO kexec-metadata kho_test"
	assert_equal "$(r in_sub_fdts 1)" "LUO kexec-metadata kho_test"
	run console_grep -g 1 'KHO: found kexec handover data\.'
	assert_success
	# lib/test_kho.c's verdict.
	run console_grep 'test_kho: '
	assert_success
	assert_equal "${#lines[@]}" 1
	assert_output --regexp 'test_kho: KHO restore succeeded$'
	run console_grep -g 1 'test_kho: KHO restore succeeded$'
	assert_success
	run console_grep -g 1 'luo: Retrieved live update data, liveupdate number: 1$'
	assert_success

	# luo_kexec_simple's verdicts, stage 1 and stage 2.
	assert_equal "$(r luo.rc 0)" 0
	run r luo.out 0
	assert_output --partial "[STAGE 1] You may now perform kexec reboot."
	refute_output --partial "Bail out!"
	assert_equal "$(r luo.rc 1)" 0
	run r luo.out 1
	assert_output --partial "[STAGE 2] Test data verified successfully."
	assert_output --partial "--- SIMPLE KEXEC TEST PASSED ---"
	refute_output --partial "Bail out!"
	# Between the stages, hvcarve refused the kexec load for 100 ordinary
	# pages, with LUO's sessions open, and left nothing loaded; the load
	# after they were withdrawn carried the sessions.
	assert_equal "$(r overflow)" 100
	run r refused
	assert_output --regexp '^rc=[1-9][0-9]* .*Device or resource busy'
	assert_equal "$(r loaded_refused)" 0
	run awk '$2 == "kexec_load" { print $3 }' "$(vm_artifacts)/results.txt"
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --regexp '^rc=[1-9]'
	assert_line --index 1 rc=0
	run console_grep -g 0 'hv_deposit: kexec refused: 100 ordinary pages are deposited'
	assert_success
	assert_equal "$(r overflow_after)" 0
	assert_equal "$(r held_after)" 3500

	# The carveout: 3500 pages held, in the dumps and in the simulator's
	# ledger before and after; byte-identical across the kexec and the
	# memory pressure of the KHO boot.
	assert_equal "$(r dep.sim_held)" 3500
	assert_equal "$(r dep.deposited_pages)" 3500
	dumps_equal pre-kexec-gen0 post-boot
	dumps_equal post-boot post-hog
	assert_equal "$(host_decode pre-kexec-gen0 held)" 3500
	assert_equal "$(host_parts post-hog)" "1:2500 2:1000"
	assert_equal "$(r boot.sim_held 1)" 3500
	assert_equal "$(r boot.sim_corrupted 1)" 0
	assert_memhog 1
	# The KHO boot's pool steps around what the hypervisor holds.
	assert_equal "$(r end.sim_held 1)" 4000
	assert_equal "$(r end.deposited_pages 1)" 500
	assert_equal "$(r end.inherited_pages 1)" "$(r end.sim_refusals 1)"
	assert_equal "$(r end.sim_corrupted 1)" 0
	e820_range_is 1 "$CARVE_BASE" "$CARVE_SIZE" hvcarve BIOS-e820

	# Scratch. Generation 0's own list, the array the next kernel was
	# handed (host decode of guest memory) and the next kernel's list
	# are the same, and no area overlaps the carveout.
	local gen0 handed gen1
	gen0=$(scratch_pairs "$(r scratch_phys 0)" "$(r scratch_len 0)")
	handed=$(scratch_from_dump scratch-array)
	gen1=$(scratch_pairs "$(r scratch_phys 1)" "$(r scratch_len 1)")
	echo "scratch areas:"$'\n'"$handed"
	[ "$(awk '$2 != "0x0"' <<<"$handed" | wc -l)" -ge 2 ] || fail "fewer than 2 non-empty scratch areas"
	assert_equal "$handed" "$gen0"
	assert_equal "$gen1" "$gen0"
	run scratch_overlaps "$CARVE_BASE" "$CARVE_SIZE" <<<"$handed"
	assert_failure
	assert_output ""
}

# The control: the same boots without hvcarve= (the range is plain RAM):
# KHO's scratch lands in it, and both checks above say so, from the
# first kernel's list and from the array the host dumps in the next one.
@test "control: without hvcarve= the same KHO boot puts scratch into that range, and the check fails" {
	vm_run - "$NOKASLR $LU" --initrd "$LUO_CPIO" --timeout 300 \
		< <(kho_scenario none "$NOKASLR $LU")
	assert_equal "$(last_gen)" 1
	local gen0 handed
	gen0=$(scratch_pairs "$(r scratch_phys 0)" "$(r scratch_len 0)")
	handed=$(scratch_from_dump scratch-array)
	echo "scratch areas:"$'\n'"$handed"
	assert_equal "$handed" "$gen0"
	run scratch_overlaps "$CARVE_BASE" "$CARVE_SIZE" <<<"$handed"
	assert_success
	assert_output --partial "overlaps [mem $(printf '0x%x-0x%x' $((CARVE_BASE)) $((CARVE_BASE + CARVE_SIZE - 1)))]"
	# Live update itself worked there too.
	assert_equal "$(r luo.rc 1)" 0
	run r luo.out 1
	assert_output --partial "--- SIMPLE KEXEC TEST PASSED ---"
	run console_grep -g 1 'test_kho: KHO restore succeeded$'
	assert_success
}
