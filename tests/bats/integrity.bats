#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# The proof of the design, from outside the guest: the host dumps the whole
# carveout through the QEMU monitor just before every kexec -e, and again
# after the next kernel booted and dirtied 90% of its free memory. The two
# dumps must be byte-identical, over the whole carveout. The host decodes
# the dumps itself (tools/hvcarve/hvcarve-dump) and its counts must agree
# with the guest's sysfs counters and the simulator's ledger.
#
#   HVT_GENERATIONS   kexec generations of the loop (default 10; 50 works)
#   HVT_SEED          seed of the deposit/withdraw churn (default: random,
#                     printed; the same seed gives the same run)

load helpers
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

BASE=0x3a000000
SIZE=0x4000000
CARVE="hvcarve=64M@$BASE"
DUMP=$HVT_ROOT/tools/hvcarve/hvcarve-dump

teardown() {
	hvt_teardown
}

# The churn of generation G: a few deposit (d) / withdraw (w) operations
# "OP PAGES PARTITION", from busybox awk seeded with SEED + G. The guest
# runs the same busybox, so the host can recompute the ops of any run.
CHURN_AWK='BEGIN {
	srand(seed)
	for (i = 0; i < 6; i++) {
		# Lean towards withdrawals as the carveout fills up.
		op = (rand() < (held > 9000 ? 0.2 : 0.65)) ? "d" : "w"
		printf "%s %d %d\n", op, int(rand() * 400) + 1, int(rand() * 3) + 1
	}
}'

# Guest code shared by the scenarios: memory pressure, then the post-boot
# checkpoint, then the report of the simulator's view.
GUEST_COMMON='
. /hvt/sim.sh
export HVT_DUMP_RANGES="$BASE $SIZE"
g=$(hvt_gen)
hvt_result memhog "$(memhog 90 2>&1)"
hvt_ckpt "post-boot-gen$g" $BASE $SIZE
partitions() {
	awk '"'"'$1 == "partition" { printf "%s:%s ", $2, $3 }'"'"' $HVT_SIM/ledger 2>/dev/null
}
'

# host_partitions DUMP: "P1:n1 P2:n2 ..." from the host's decoder.
host_partitions() {
	"$DUMP" decode --base "$BASE" "$1" | awk '$1 == "partition" { printf "%s%s:%s", sep, $2, $3; sep = " " }'
}

# The guest's partition list, in the same form.
guest_partitions() {
	# shellcheck disable=SC2046,SC2005 # word splitting trims the list
	echo $(result end.partitions "$1")
}
host_value() {
	"$DUMP" decode --base "$BASE" "$1" | awk -v k="$2" '$1 == k { print $2 }'
}

# Pages held in DUMP with a serial above SERIAL: deposited by the kernel
# whose boot-time maximum serial was SERIAL.
host_held_since() {
	"$DUMP" decode --base "$BASE" --list "$1" | awk -v s="$2" '$3 > s { n++ } END { print n + 0 }'
}

# assert_kexec_kept G: the carveout did not change from generation G-1's
# last moment to generation G after its boot and memory pressure.
assert_kexec_kept() {
	local g=$1
	run "$DUMP" diff --base "$BASE" "$(dump_file "pre-kexec-gen$((g - 1))")" "$(dump_file "post-boot-gen$g")"
	if [ "$status" -ne 0 ]; then
		# The diff report stays with the logs and dumps.
		echo "$output" >"$(vm_artifacts)/diff-gen$g.txt"
		fail "gen $g: the carveout changed across the kexec (report: $(vm_artifacts)/diff-gen$g.txt): $output"
	fi
	assert_output --partial identical
}

@test "loop: ${HVT_GENERATIONS:-10} kexec generations, kexec -l/-s alternating, seeded churn" {
	local n=${HVT_GENERATIONS:-10} seed=${HVT_SEED:-$((RANDOM * 32768 + RANDOM))}
	echo "# integrity loop: $n generations, seed $seed (HVT_SEED=$seed reproduces it)" >&3
	VM_TIMEOUT=$((120 + n * 60)) vm_run - "nokaslr $CARVE" <<EOF
BASE=$BASE SIZE=$SIZE
$GUEST_COMMON
hvt_sim_report boot
ops=\$(awk -v seed=$((seed)) -v held="\$(hvt_sim_ledger held)" -v g="\$g" 'BEGIN { seed += g } $CHURN_AWK')
hvt_result ops "\$(echo "\$ops" | tr '\n' ';')"
echo "\$ops" | while read -r op n p; do
	if [ "\$op" = d ]; then
		hvt_sim_deposit "\$n" "\$p" || hvt_fail "gen \$g: deposit \$n for \$p: \$hvt_sim_err"
	else
		hvt_sim_withdraw "\$n" "\$p" || hvt_fail "gen \$g: withdraw \$n from \$p: \$hvt_sim_err"
	fi
done
echo 1 >\$HVT_SIM/scan
hvt_sim_report end
hvt_result end.partitions "\$(partitions)"
if [ "\$g" -lt $n ]; then
	if [ \$((g % 2)) = 0 ]; then hvt_kexec -l /boot/vmlinuz-new "$CARVE"; else hvt_kexec -s /boot/vmlinuz-new "$CARVE"; fi
else
	hvt_ckpt "pre-kexec-gen\$g" $BASE $SIZE
	hvt_done
fi
EOF
	assert_equal "$(last_gen)" "$n"
	local g pre s0 expect_ops
	for ((g = 0; g <= n; g++)); do
		pre=$(dump_file "pre-kexec-gen$g")
		# Memory pressure really ran.
		run result memhog "$g"
		assert_output --partial "verified"
		[ "$g" -eq 0 ] || assert_kexec_kept "$g"
		# The ops were those of the seed.
		expect_ops=$(busybox awk -v seed="$((seed))" -v held="$(result boot.sim_held "$g")" -v g="$g" \
			"BEGIN { seed += g } $CHURN_AWK" | tr '\n' ';')
		assert_equal "$(result ops "$g")" "$expect_ops"
		# Host decoder == simulator ledger, per partition; no corruption.
		assert_equal "$(host_partitions "$pre")" "$(guest_partitions "$g")"
		assert_equal "$(host_value "$pre" held)" "$(result end.sim_held "$g")"
		assert_equal "$(host_value "$pre" corrupted)" 0
		assert_equal "$(result end.sim_corrupted "$g")" 0
		assert_equal "$(result boot.sim_corrupted "$g")" 0
		# Host decoder == sysfs: the pages this kernel deposited and still has
		# deposited are exactly the held pages with a serial newer than the
		# newest one at its boot.
		s0=$(host_value "$(dump_file "post-boot-gen$g")" max_serial)
		assert_equal "$(host_held_since "$pre" "$s0")" "$(result end.deposited_pages "$g")"
		assert_equal "$(result end.deposit_fail_pages "$g")" 0
	done
}

# patched -> stock -> patched -> stock -> patched. EXTRA goes on every
# kernel's command line (the stock kernels get nothing else).
mixed_chain() {
	local extra=$1
	vm_run - "nokaslr $CARVE $extra" <<EOF
BASE=$BASE SIZE=$SIZE
$GUEST_COMMON
if [ -d \$HVT_SIM ]; then
	hvt_sim_report boot
	hvt_sim_deposit 700 \$((g + 1)) || hvt_fail "deposit: \$hvt_sim_err"
	echo 1 >\$HVT_SIM/scan
	hvt_sim_report end
	hvt_result end.partitions "\$(partitions)"
	hvt_ckpt "after-deposit-gen\$g" $BASE $SIZE
fi
case \$g in
0 | 2) hvt_kexec -s /boot/vmlinuz-old '$extra' ;;
1 | 3) hvt_kexec -l /boot/vmlinuz-new '$CARVE $extra' ;;
*) hvt_done ;;
esac
EOF
	assert_equal "$(last_gen)" 4
	local g
	for g in 1 2 3 4; do
		assert_kexec_kept "$g"
	done
	for g in 1 3; do
		run result uname_r "$g"
		assert_output --regexp '^6\.1\.'
		run result cmdline "$g"
		refute_output --partial "hvcarve="
	done
	for g in 0 2 4; do
		# Each deposit after a return to a patched kernel avoided every
		# page the hypervisor already held: all of them are unchanged.
		run "$DUMP" held-kept --base "$BASE" "$(dump_file "post-boot-gen$g")" "$(dump_file "after-deposit-gen$g")"
		[ "$status" -eq 0 ] || fail "gen $g: a held page was overwritten: $output"
		assert_equal "$(result end.sim_held "$g")" $((700 * (g / 2 + 1)))
		assert_equal "$(result end.sim_corrupted "$g")" 0
		assert_equal "$(result end.inherited_pages "$g")" "$(result end.sim_refusals "$g")"
		assert_equal "$(host_partitions "$(dump_file "after-deposit-gen$g")")" "$(guest_partitions "$g")"
	done
}

@test "mixed chain: patched -> stock 6.1 -> patched -> stock -> patched, stock kernels get nothing" {
	mixed_chain ""
}

@test "mixed chain with memmap= on every command line (hvcarve-cmdline.sh)" {
	local line memmap
	line=$("$HVT_ROOT/scripts/hvcarve-cmdline.sh" next --cmdline "" --add "64M@$BASE")
	memmap=$(echo "$line" | tr ' ' '\n' | grep '^memmap=')
	assert_equal "$memmap" "memmap=64M\$$BASE"
	mixed_chain "$memmap"
	for g in 1 3; do
		run result cmdline "$g"
		assert_output --partial "$memmap"
	done
}

# Negative controls: the same checker must call these corrupted.

@test "negative control (a): no protection at all is detected" {
	vm_run - "nokaslr" <<EOF
BASE=$BASE SIZE=$SIZE
$GUEST_COMMON
case \$g in
0) hvt_kexec -s /boot/vmlinuz-new ;;
*) hvt_done ;;
esac
EOF
	run "$DUMP" diff --base "$BASE" "$(dump_file pre-kexec-gen0)" "$(dump_file post-boot-gen1)"
	assert_equal "$status" 1
	assert_output --partial DIFFERENT
	run assert_kexec_kept 1
	assert_failure
}

@test "negative control (b): memmap= on the first boot only, hypervisor pages lost at kexec" {
	# 1024 pages in the simulator's format, as a hypervisor would hold
	# them, spread over the whole region in 8 runs of 128, written into
	# the memmap= region by the first kernel. The 64 MiB image is mostly
	# zeros: it travels as a gzip-compressed initramfs piece.
	local stage=$BATS_TEST_TMPDIR/forged i holds=()
	mkdir -p "$stage/hvt"
	for i in 0 1 2 3 4 5 6 7; do
		holds+=(--hold "$((i * 2048))-$((i * 2048 + 127)):7:$((i * 128 + 1))")
	done
	"$DUMP" forge --base "$BASE" --pages 16384 "${holds[@]}" "$stage/hvt/forged.bin"
	(cd "$stage" && find hvt | cpio -o -H newc --owner=0:0 --quiet) | gzip -1 >"$BATS_TEST_TMPDIR/forged.cpio"
	vm_run - "nokaslr memmap=64M\$$BASE" --initrd "$BATS_TEST_TMPDIR/forged.cpio" <<EOF
BASE=$BASE SIZE=$SIZE
g=\$(hvt_gen)
export HVT_DUMP_RANGES="$BASE $SIZE"
if [ "\$g" = 0 ]; then
	dd if=/hvt/forged.bin of=/dev/mem bs=4096 seek=\$(($BASE / 4096)) conv=notrunc 2>/tmp/dd.err ||
		hvt_fail "cannot write the memmap= region: \$(cat /tmp/dd.err)"
	rm -f /hvt/forged.bin
	hvt_kexec -l /boot/vmlinuz-new
fi
hvt_result memhog "\$(memhog 90 2>&1)"
hvt_ckpt "post-boot-gen\$g" $BASE $SIZE
hvt_done
EOF
	# The first kernel did hold them...
	assert_equal "$(host_value "$(dump_file pre-kexec-gen0)" held)" 1024
	# ...the next one, told nothing, used the memory: the checker says so.
	run "$DUMP" diff --base "$BASE" "$(dump_file pre-kexec-gen0)" "$(dump_file post-boot-gen1)"
	assert_equal "$status" 1
	run "$DUMP" held-kept --base "$BASE" "$(dump_file pre-kexec-gen0)" "$(dump_file post-boot-gen1)"
	assert_equal "$status" 1
	assert_output --partial VIOLATED
}
