#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# The proof of the design, from outside the guest: the host dumps the whole
# carveout through the QEMU monitor just before every kexec -e, and again
# after the next kernel booted and dirtied 90% of its free memory. The two
# dumps must be byte-identical, over the whole carveout. The host decodes
# the dumps itself (tools/hvcarve/hvcarve-dump) and replays the seeded
# deposits and withdrawals on its own: the pages per partition it expects
# must be what it decodes. Only then are the guest's sysfs counters and the
# simulator's ledger compared too.
#
#   HVT_GENERATIONS   kexec generations of the loop (default 10; 50 works)
#   HVT_SEED          seed of the deposit/withdraw churn (default: random,
#                     printed; the same seed gives the same run)

load helpers
hvt_chain_firmware
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

# 512 MiB: RAM under SeaBIOS and OVMF alike, clear of OVMF's boot
# services memory near the top of the 1 GiB (reserve.bats).
BASE=0x20000000
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

# Guest code shared by the scenarios: memory pressure (memhog 90 --min 80;
# the host checks its numbers, assert_memhog), then the post-boot
# checkpoint, then the report of the simulator's view.
GUEST_COMMON='
. /hvt/sim.sh
export HVT_DUMP_RANGES="$BASE $SIZE"
g=$(hvt_gen)
hvt_memhog_run 90 80
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

# replay_churn SEED N: the host's own account of the loop, from nothing but
# the seed, the churn awk and the deposit/withdraw semantics: a deposit of
# N pages for P adds N (the loop asserts no deposit failed), a withdrawal
# of N from P takes min(N, pages P holds). The churn of a generation
# depends on the pages held at its boot, which the host takes from its own
# replay, never from the guest. Fills, per generation G:
#   REPLAY_OPS[G]    the ops, as the guest reports them ("d 12 3;w 5 1;...")
#   REPLAY_BOOT[G]   pages held at G's boot
#   REPLAY_HELD[G]   pages held after G's churn
#   REPLAY_PARTS[G]  "P:n ..." after G's churn, as host_partitions prints it
replay_churn() {
	local seed=$1 n=$2 g held=0 ops op cnt p take parts
	local -A part=()
	REPLAY_OPS=() REPLAY_BOOT=() REPLAY_HELD=() REPLAY_PARTS=()
	for ((g = 0; g <= n; g++)); do
		REPLAY_BOOT[g]=$held
		ops=$(busybox awk -v seed="$((seed))" -v held="$held" -v g="$g" \
			"BEGIN { seed += g } $CHURN_AWK") || return 1
		while read -r op cnt p; do
			case $op in
			d) take=$cnt ;;
			w)
				take=${part[$p]:-0}
				[ "$take" -le "$cnt" ] || take=$cnt
				take=$((-take))
				;;
			*) echo "replay: bad op '$op'" >&2; return 1 ;;
			esac
			part[$p]=$((${part[$p]:-0} + take))
			held=$((held + take))
		done <<<"$ops"
		REPLAY_OPS[g]=$(tr '\n' ';' <<<"$ops")
		REPLAY_HELD[g]=$held
		parts=""
		for p in $(printf '%s\n' "${!part[@]}" | sort -n); do
			[ "${part[$p]}" -gt 0 ] && parts+="${parts:+ }$p:${part[$p]}"
		done
		REPLAY_PARTS[g]=$parts
	done
}

# replay_check SEED N: for every generation, the host's decode of its
# pre-kexec dump holds exactly the pages per partition (and in all) that
# replay_churn SEED N expects, and the guest ran the ops of that replay.
# Explicit returns, so that it also runs under `run`.
replay_check() {
	local seed=$1 n=$2 g got
	replay_churn "$seed" "$n" || { echo "replay of seed $seed failed"; return 1; }
	for ((g = 0; g <= n; g++)); do
		got=$(host_partitions "$(dump_file "pre-kexec-gen$g")") ||
			{ echo "gen $g: the host cannot decode pre-kexec-gen$g (or it has corrupted pages)"; return 1; }
		if [ "$got" != "${REPLAY_PARTS[g]}" ]; then
			echo "gen $g: host decode [$got], host replay of seed $seed [${REPLAY_PARTS[g]}]"
			return 1
		fi
		got=$(host_value "$(dump_file "pre-kexec-gen$g")" held)
		if [ "$got" != "${REPLAY_HELD[g]}" ]; then
			echo "gen $g: host decode holds $got pages, host replay of seed $seed ${REPLAY_HELD[g]}"
			return 1
		fi
		got=$(result ops "$g") || { echo "gen $g: no ops result"; return 1; }
		if [ "$got" != "${REPLAY_OPS[g]}" ]; then
			echo "gen $g: the guest ran [$got], the replay of seed $seed is [${REPLAY_OPS[g]}]"
			return 1
		fi
	done
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
	VM_TIMEOUT=$((120 + n * 60)) vm_run - "$NOKASLR $CARVE" <<EOF
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
	local g pre s0 why
	for ((g = 0; g <= n; g++)); do
		pre=$(dump_file "pre-kexec-gen$g")
		# Memory pressure really ran, over at least 80% of MemAvailable.
		assert_memhog "$g"
		[ "$g" -eq 0 ] || assert_kexec_kept "$g"
		assert_equal "$(host_value "$pre" corrupted)" 0
	done
	# The host's replay of the seed == the host's decode of the dumps, per
	# partition, every generation; the guest ran the replay's ops.
	why=$(replay_check "$seed" "$n") || fail "$why"
	# Negative control: the same dumps against the replay of another seed.
	run replay_check $((seed + 1)) "$n"
	assert_failure
	assert_output --regexp '^gen [0-9]+: '
	# Only now the guest's own view, which must agree: the simulator's
	# ledger, and sysfs.
	replay_churn "$seed" "$n"
	for ((g = 0; g <= n; g++)); do
		pre=$(dump_file "pre-kexec-gen$g")
		assert_equal "$(result boot.sim_held "$g")" "${REPLAY_BOOT[g]}"
		assert_equal "$(guest_partitions "$g")" "${REPLAY_PARTS[g]}"
		assert_equal "$(result end.sim_held "$g")" "${REPLAY_HELD[g]}"
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
	vm_run - "$NOKASLR $CARVE $extra" <<EOF
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
		assert_success
		assert_output --regexp '^6\.1\.'
		run result cmdline "$g"
		assert_success
		refute_output --partial "hvcarve="
	done
	local expect=""
	for g in 0 1 2 3 4; do
		assert_memhog "$g"
	done
	for g in 0 2 4; do
		# What the scenario deposited, as the host counts it: 700 pages for
		# partition g+1 in each patched generation, none ever withdrawn.
		if [ "$g" -eq 0 ]; then
			# Nothing is held before the first deposit: held-kept has
			# nothing to check here, and says so.
			assert_equal "$(host_value "$(dump_file post-boot-gen0)" held)" 0
			run "$DUMP" held-kept --base "$BASE" "$(dump_file post-boot-gen0)" "$(dump_file after-deposit-gen0)"
			assert_failure 1
			assert_output --partial "EMPTY: no page is held in BEFORE"
		else
			# Each deposit after a return to a patched kernel avoided every
			# page the hypervisor already held: all of them are unchanged.
			run "$DUMP" held-kept --base "$BASE" --expect-held $((700 * (g / 2))) \
				"$(dump_file "post-boot-gen$g")" "$(dump_file "after-deposit-gen$g")"
			[ "$status" -eq 0 ] || fail "gen $g: held pages not kept: $output"
			assert_line "held_after $((700 * (g / 2 + 1)))"
		fi
		expect+="${expect:+ }$((g + 1)):700"
		assert_equal "$(host_partitions "$(dump_file "after-deposit-gen$g")")" "$expect"
		assert_equal "$(host_value "$(dump_file "after-deposit-gen$g")" corrupted)" 0
		# The guest's view agrees.
		assert_equal "$(guest_partitions "$g")" "$expect"
		assert_equal "$(result end.sim_held "$g")" $((700 * (g / 2 + 1)))
		assert_equal "$(result end.sim_corrupted "$g")" 0
		assert_equal "$(result end.inherited_pages "$g")" "$(result end.sim_refusals "$g")"
	done
}

# A chain like this one without memmap= (stock kernels get nothing) runs
# under UEFI, longer and through every stock kernel (efi.bats, "UEFI
# chain"), with the host's held-kept checks but not the per-partition
# ledgers above; reserve.bats (also on SeaBIOS) and distro.bats run such
# chains too.
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
	vm_run - "$NOKASLR" <<EOF
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
	# ...after real memory pressure in the unprotected kernel.
	assert_memhog 1
}

@test "negative control (b): memmap= on the first boot only, hypervisor pages lost at kexec" {
	# 1024 pages in the simulator's format, as a hypervisor would hold
	# them, spread over the whole region in 8 runs of 128, written into
	# the memmap= region by the first kernel. The 64 MiB image is mostly
	# zeros: it travels as a gzip-compressed initramfs piece.
	# The first kernel is Debian's 6.1: kexec-tools puts kexec -l's
	# segments in the memmap= range, which /sys/firmware/memmap calls RAM,
	# and the next kernel, told nothing, is copied over the held pages. A
	# patched first kernel refuses that load (kexec core's reserved-memory
	# check, deposit.bats), and with kexec -s nothing need touch the range.
	local stage=$BATS_TEST_TMPDIR/forged i holds=()
	mkdir -p "$stage/hvt"
	for i in 0 1 2 3 4 5 6 7; do
		holds+=(--hold "$((i * 2048))-$((i * 2048 + 127)):7:$((i * 128 + 1))")
	done
	"$DUMP" forge --base "$BASE" --pages 16384 "${holds[@]}" "$stage/hvt/forged.bin"
	(cd "$stage" && find hvt | cpio -o -H newc --owner=0:0 --quiet) | gzip -1 >"$BATS_TEST_TMPDIR/forged.cpio"
	# nokaslr under either firmware: this control is about the next
	# kernel, and the first one must not sit where it writes the image.
	VM_KERNEL=$OLD_KERNEL vm_run - "nokaslr memmap=64M\$$BASE" --initrd "$BATS_TEST_TMPDIR/forged.cpio" <<EOF
BASE=$BASE SIZE=$SIZE
g=\$(hvt_gen)
export HVT_DUMP_RANGES="$BASE $SIZE"
if [ "\$g" = 0 ]; then
	dd if=/hvt/forged.bin of=/dev/mem bs=4096 seek=\$(($BASE / 4096)) conv=notrunc 2>/tmp/dd.err ||
		hvt_fail "cannot write the memmap= region: \$(cat /tmp/dd.err)"
	rm -f /hvt/forged.bin
	hvt_kexec -l /boot/vmlinuz-new
fi
hvt_memhog_run 90 80
hvt_ckpt "post-boot-gen\$g" $BASE $SIZE
hvt_done
EOF
	# The first kernel did hold them...
	assert_equal "$(host_value "$(dump_file pre-kexec-gen0)" held)" 1024
	# ...the next one, told nothing, used the memory: the checker says so.
	run "$DUMP" diff --base "$BASE" "$(dump_file pre-kexec-gen0)" "$(dump_file post-boot-gen1)"
	assert_equal "$status" 1
	run "$DUMP" held-kept --base "$BASE" --expect-held 1024 "$(dump_file pre-kexec-gen0)" "$(dump_file post-boot-gen1)"
	assert_equal "$status" 1
	assert_line "held_before 1024"
	assert_output --partial VIOLATED
	refute_output --partial "WRONG COUNT"
	assert_memhog 1
}

# Negative controls of the checks themselves, on the host.

@test "negative control (c): held-kept passes no empty BEFORE and no wrong count" {
	cd "$BATS_TEST_TMPDIR"
	"$DUMP" forge --base "$BASE" --pages 64 empty.bin >/dev/null
	"$DUMP" forge --base "$BASE" --pages 64 held.bin --hold 0-9:1:1 --hold 20-24:2:11 >/dev/null
	# Control: 15 held pages, all kept, the count right.
	run "$DUMP" held-kept --base "$BASE" --expect-held 15 held.bin held.bin
	assert_success
	assert_output --partial "ok: every page held in BEFORE is unchanged"
	# An empty BEFORE (say, a dump taken before the deposits) never passes.
	run "$DUMP" held-kept --base "$BASE" empty.bin held.bin
	assert_failure 1
	assert_output --partial "EMPTY: no page is held in BEFORE, so nothing was checked"
	refute_output --partial "ok:"
	run "$DUMP" held-kept --base "$BASE" empty.bin empty.bin
	assert_failure 1
	# Nor does a BEFORE with another count than the scenario deposited.
	run "$DUMP" held-kept --base "$BASE" --expect-held 16 held.bin held.bin
	assert_failure 1
	assert_output --partial "WRONG COUNT: BEFORE holds 15 pages, expected 16"
	run "$DUMP" held-kept --base "$BASE" --expect-held 15 empty.bin held.bin
	assert_failure 1
	assert_output --partial "WRONG COUNT: BEFORE holds 0 pages, expected 15"
	# Expecting nothing is no check at all.
	run "$DUMP" held-kept --base "$BASE" --expect-held 0 empty.bin empty.bin
	assert_failure 2
}

@test "negative control (d): the memory-pressure check rejects too little memory touched" {
	local memhog=$HVT_ROOT/tools/hvcarve/memhog out rc
	# Real memhog runs on the host, where 2% of MemAvailable is plenty.
	rc=0
	out=$("$memhog" 2 --min 1 2>&1) || rc=$?
	# Control: the numbers are read, and a floor of 1% passes.
	run memhog_floor_ok "rc=$rc $out" 1 0
	assert_success
	# The floor of the loop (80%) does not.
	run memhog_floor_ok "rc=$rc $out" 80 0
	assert_failure
	assert_output --regexp '^memhog touched [0-9]+ KiB, below 80% of [0-9]+ KiB available$'
	# Nor does "verified" without the numbers.
	out=$("$memhog" 1 2>&1)
	run memhog_floor_ok "rc=0 $out" 1 0
	assert_failure
	assert_output --partial "no available_kib/touched_kib numbers"
	# A run that is stopped early (200 MB of address space) fails memhog's
	# own floor, exit 4, and the host's check.
	rc=0
	out=$(bash -c 'ulimit -v 200000 && exec "$1" 50 --min 10' _ "$memhog" 2>&1) || rc=$?
	assert_equal "$rc" 4
	[[ $out == *"below the floor of 10%"* ]] || fail "memhog said: $out"
	run memhog_floor_ok "rc=$rc $out" 1 0
	assert_failure
	assert_output --partial "memhog failed: rc=4"
	run memhog_floor_ok "rc=0 $out" 10 0
	assert_failure
	assert_output --partial "below 10% of"
	# The tmpfs filler of lib.sh (hvt_memhog) has a check of its own.
	run hog_floor_ok 1000000 900000
	assert_success
	run hog_floor_ok 1000000 700000
	assert_failure
	run hog_floor_ok "" 900000
	assert_failure
	assert_output --partial "reported no numbers"
}
