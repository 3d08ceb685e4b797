#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# A matrix of distribution kernels: one kexec chain from the patched 7.3
# kernel through every stock Debian kernel the tests have -- bullseye 5.10,
# bookworm 6.1 (generic and cloud), bookworm-backports 6.12 and the
# unpatched trixie-backports 7.3 -- and back to the patched kernel between
# some of them, with kexec -s and kexec -l, memory pressure in every
# generation and nothing on the stock kernels' command lines but
# console=ttyS0. The carveout has three regions: one in low RAM, one above
# 4 GiB, and one at the top of RAM (it ends where the RAM above 4 GiB ends).
#
# The host dumps the carveout just before every kexec -e and after the next
# kernel booted and dirtied 90% of its free memory: the region dumps must be
# byte-identical across every kexec. Every patched kernel deposits through
# the simulated hypervisor and must find what the earlier ones deposited
# still held (hvcarve-dump held-kept, with the count the host expects per
# region). Every kernel's boot e820 map has every region as the type the
# path to it hands on, never as RAM.
#
# The guest runs with -cpu max,la57=off (ERMS and FSRM off too, as
# tests/lib/vmrun.sh says): a kexec from a kernel running
# 5-level paging into Debian's 5.10 (built without CONFIG_X86_5LEVEL)
# triple-faults (Documentation/virt/hyperv/hvcarve.rst, "Limits").
#
#   HVT_DISTRO_ROUNDS  rounds of the chain (default 1: every stock kernel
#                      once, 7 kexecs); each further round takes the stock
#                      kernels in another order, and 3 rounds (21 kexecs)
#                      enter each with both syscalls and both e820 types
#                      (today the 3-round form fails at gen 21: the 7th
#                      patched kernel's deposit of 128 pages ends in
#                      -EACCES, 528 refusals in a row, as the learning's
#                      probes in region 2 land on the pages earlier
#                      kernels' probes deposited, drivers/hv/hv_carve_deposit.c)

load helpers
hvt_chain_firmware
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

DUMP=$HVT_ROOT/tools/hvcarve/hvcarve-dump
DISTRO_INITRD=$(hvt_abspath "${DISTRO_INITRD:-build/initramfs/distro.cpio}")
KERNELS_DIR=$(hvt_abspath "${HVT_KERNELS_DIR:-build/kernels}")
# The stock kernels of distro.cpio (/boot/vmlinuz-NAME, from
# scripts/fetch-kernels.sh); bookworm's generic 6.1 is /boot/vmlinuz-old.
DISTRO_NAMES=(5.10 6.1-cloud 6.12 7.3-stock)

# 512 MiB below 4 GiB, 256 MiB above it: RAM at 0x100000000-0x10fffffff.
VM_MEM_DISTRO=768M
MACHINE=q35,max-ram-below-4g=512M
CPU=max,la57=off,erms=off,fsrm=off

# Three regions of 4096 pages: low RAM at 128 MiB (below the initrd that
# QEMU, or OVMF, puts near the top of low RAM: at 384 MiB the region
# overlapped OVMF's boot services memory, 0x17f87000-0x1bf94fff, and the
# kernel rejected it), above 4 GiB (not next to the firmware's
# reservation that ends at 4 GiB), and the last 16 MiB of RAM.
R_BASE=(0x8000000 0x104000000 0x10f000000)
R_SIZE=(0x1000000 0x1000000 0x1000000)
R_PAGES=4096
CARVE="hvcarve=16M@${R_BASE[0]},16M@${R_BASE[1]},16M@${R_BASE[2]}"
RANGES="${R_BASE[0]} ${R_SIZE[0]} ${R_BASE[1]} ${R_SIZE[1]} ${R_BASE[2]} ${R_SIZE[2]}"
# Generation 0 deposits regions 0 and 1 whole and 256 pages of region 2
# (the pool fills the regions in order), so that every region holds
# hypervisor pages across every kexec; each later patched kernel deposits
# 128 more, which can only land in region 2.
FIRST_DEPOSIT=$((2 * R_PAGES + 256))
LATER_DEPOSIT=128

# One round: seven kexecs, "new" being the patched kernel and S0..S4 the
# stock kernels in this round's order. Into stock kernels from the patched
# one, out of them into it, and from one stock kernel to the next, each
# with both syscalls:
#   new -s S0 -s S1 -s S2 -l new -l S3 -l S4 -s new
# S0..S2 get the regions as hvcarve (kexec -s hands the type on, through
# stock kernels too), S3 and S4 as reserved (kexec -l). Round 0 takes
# STOCK in this order, the largest images first (they leave the initramfs
# after their last use); each further round rotates it by 3, so that three
# rounds give every stock kernel both syscalls in and both types.
STOCK=(7.3-stock 6.1-cloud 6.12 5.10 old)
ROUND=("S0 -s" "S1 -s" "S2 -s" "new -l" "S3 -l" "S4 -l" "new -s")

# distro_plan ROUNDS: one line "GEN KERNEL MODE KEEP" per kexec, GEN being
# the generation it enters. KEEP is "drop" on the last use of a kernel
# file: the guest moves it out of the root file system before it repacks
# it, so later generations carry less.
distro_plan() {
	local rounds=$1 r i g=0 k m
	local -a lines=()
	for ((r = 0; r < rounds; r++)); do
		for i in "${!ROUND[@]}"; do
			read -r k m <<<"${ROUND[i]}"
			case $k in
			S?) k=${STOCK[(${k#S} + 3 * r) % ${#STOCK[@]}]} ;;
			esac
			g=$((g + 1))
			lines+=("$g $k $m")
		done
	done
	printf '%s\n' "${lines[@]}" | awk '
		{ line[NR] = $0; k[NR] = $2; last[$2] = NR }
		END { for (i = 1; i <= NR; i++) print line[i], (last[k[i]] == i ? "drop" : "keep") }'
}

# plan_load PLAN: KERNEL[g], MODE[g], PATCHED[g] for g = 0..N (N in NGEN),
# and the e820 type every region must have in the boot map of g (TYPE[g]):
# after kexec -l, "reserved" (kexec-tools' name for any type it does not
# know); after kexec -s, the type in the previous kernel's kexec table,
# which is "hvcarve" when that kernel had hvcarve= and otherwise the type
# its own boot map had (a kernel without hvcarve hands its map on as it got
# it).
plan_load() {
	local g k m prev
	KERNEL=(new) MODE=(boot) PATCHED=(1) TYPE=(usable)
	NGEN=0
	while read -r g k m _; do
		KERNEL[g]=$k MODE[g]=$m
		if [ "$k" = new ]; then PATCHED[g]=1; else PATCHED[g]=0; fi
		prev=$((g - 1))
		if [ "$m" = -l ]; then
			TYPE[g]=reserved
		elif [ "${PATCHED[prev]}" = 1 ]; then
			TYPE[g]=hvcarve
		else
			TYPE[g]=${TYPE[prev]}
		fi
		NGEN=$g
	done <<<"$1"
}

# kernel_version NAME: the uname -r that kernel NAME must report.
kernel_version() {
	case $1 in
	new) result uname_r 0 ;;
	old) cat "$(dirname "$OLD_KERNEL")/version" ;;
	*) cat "$KERNELS_DIR/$1/version" ;;
	esac
}

# --- the guest ---------------------------------------------------------------

# distro_scenario PLAN PROTECT: the scenario, run in every
# generation. PROTECT=1: patched kernels get $CARVE and deposit; 0 (the
# negative control): nobody gets anything, and gen 0 forges held pages into
# the regions through /dev/mem instead (the first boot's memmap= keeps them
# out of its own use).
distro_scenario() {
	local plan=$1 protect=$2
	cat <<EOF
. /hvt/sim.sh
PLAN='$plan'
export HVT_DUMP_RANGES="$RANGES"
g=\$(hvt_gen)
hvt_result state "\$(cat \$HVT_HVC/state 2>/dev/null || echo absent)"
if [ "\$g" = 0 ] && [ $protect = 0 ]; then
	set -- $RANGES
	i=0
	while [ \$# -gt 0 ] && [ -f /hvt/forged\$i.bin ]; do
		dd if=/hvt/forged\$i.bin of=/dev/mem bs=4096 seek=\$((\$1 / 4096)) conv=notrunc 2>/tmp/dd.err ||
			hvt_fail "cannot write region \$i: \$(cat /tmp/dd.err)"
		rm -f /hvt/forged\$i.bin
		i=\$((i + 1))
		shift 2
	done
fi
hvt_memhog_run 90 80
hvt_ckpt "post-boot-gen\$g" $RANGES
if [ "\$(cat \$HVT_HVC/state 2>/dev/null)" = active ]; then
	hvt_result regions "\$(ls -d \$HVT_HVC/region* | wc -l)"
	for i in 0 1 2; do
		hvt_result region\$i "\$(cat \$(hvt_region \$i)/base) \$(cat \$(hvt_region \$i)/size)"
	done
	n=$LATER_DEPOSIT
	[ "\$g" = 0 ] && n=$FIRST_DEPOSIT
	hvt_sim_deposit \$n \$((g + 1)) || hvt_fail "gen \$g: deposit of \$n pages: \$hvt_sim_err"
	echo 1 >\$HVT_SIM/scan
	for i in 0 1 2; do
		hvt_sim_report end.r\$i \$i
	done
	hvt_ckpt "after-deposit-gen\$g" $RANGES
fi
next=\$(echo "\$PLAN" | awk -v g=\$((g + 1)) '\$1 == g { print \$2, \$3, \$4 }')
if [ -z "\$next" ]; then
	hvt_ckpt "pre-kexec-gen\$g" $RANGES
	hvt_done
fi
set -- \$next
k=\$1 mode=\$2 keep=\$3
f=/boot/vmlinuz-\$k
if [ "\$keep" = drop ]; then
	mv "\$f" /tmp/vmlinuz-\$k || hvt_fail "no \$f"
	f=/tmp/vmlinuz-\$k
fi
append=
[ "\$k" = new ] && [ $protect = 1 ] && append="$CARVE"
hvt_kexec "\$mode" "\$f" "\$append" || hvt_fail "gen \$g: kexec \$mode \$k: load failed"
EOF
}

# run_chain PLAN PROTECT [vm_run args...]: the chain, with the stock kernels
# of $CHAIN_INITRD (default: all of distro.cpio) on top of the base.
run_chain() {
	local plan=$1 protect=$2 first
	shift 2
	plan_load "$plan"
	if [ "$protect" = 1 ]; then
		first=$CARVE
	else
		first="memmap=16M\$${R_BASE[0]} memmap=16M\$${R_BASE[1]} memmap=16M\$${R_BASE[2]}"
	fi
	VM_MEM=$VM_MEM_DISTRO VM_TIMEOUT=$((240 + NGEN * 150)) \
		vm_run - "$first" --machine "$MACHINE" --cpu "$CPU" \
		--initrd "${CHAIN_INITRD:-$DISTRO_INITRD}" "$@" < <(distro_scenario "$plan" "$protect")
}

# --- host checks ---------------------------------------------------------------
# Explicit returns, so that they also run under `run` (negative control).

# region_dump NAME I: region I of dump NAME, split out into its own file
# (the checkpoints dump the regions one after the other); prints its path.
region_dump() {
	local name=$1 i=$2 off=0 j out dump
	for ((j = 0; j < i; j++)); do
		off=$((off + R_SIZE[j]))
	done
	out=$BATS_TEST_TMPDIR/$name.r$i.bin
	dump=$(dump_file "$name")
	if [ ! -f "$out" ]; then
		# The checkpoint dumped the three regions, in order, in full.
		[ "$(awk 'NR > 1 { printf "%s %s ", $1, $2 }' "${dump%.bin}.ranges")" = "$RANGES " ] || return 1
		[ "$(stat -c %s "$dump")" = $((R_SIZE[0] + R_SIZE[1] + R_SIZE[2])) ] || return 1
		dd if="$dump" of="$out" bs=1M iflag=skip_bytes,count_bytes \
			skip="$off" count="$((R_SIZE[i]))" status=none || return 1
	fi
	printf '%s\n' "$out"
}

# region_decode NAME I: the host decoder's summary of region I in dump
# NAME (kept, as the dumps do not change; tamper drops it).
region_decode() {
	local f out=$BATS_TEST_TMPDIR/$1.r$2.decode
	if [ ! -f "$out" ]; then
		f=$(region_dump "$1" "$2") || return 1
		"$DUMP" decode --base "${R_BASE[$2]}" "$f" >"$out.tmp" || { rm -f "$out.tmp"; return 1; }
		mv "$out.tmp" "$out"
	fi
	cat "$out"
}

# region_value NAME I KEY: one value of region_decode NAME I.
region_value() {
	region_decode "$1" "$2" | awk -v k="$3" '$1 == k { print $2; f = 1 } END { exit !f }'
}

# tamper NAME I: overwrite 8 bytes in the middle of the first page held in
# region I of dump NAME, in the split copy the checks read (a negative
# control of the checks); untamper NAME I splits it out again.
tamper() {
	local f pfn
	f=$(region_dump "$1" "$2") || return 1
	pfn=$("$DUMP" decode --base "${R_BASE[$2]}" --list "$f" | awk 'NR == 1 { print $1 }')
	[ -n "$pfn" ] || return 1
	printf TAMPERED | dd of="$f" bs=1 seek=$(((pfn - R_BASE[$2] / 4096) * 4096 + 2048)) \
		conv=notrunc status=none
	rm -f "$BATS_TEST_TMPDIR/$1.r$2.decode"
}
untamper() {
	rm -f "$BATS_TEST_TMPDIR/$1.r$2.bin" "$BATS_TEST_TMPDIR/$1.r$2.decode"
}

# dump_partitions NAME: "P:n ..." over all regions of dump NAME.
dump_partitions() {
	local i
	for i in 0 1 2; do
		region_decode "$1" "$i" || return 1
	done | awk '$1 == "partition" { n[$2] += $3 }
		END { for (p in n) print p, n[p] }' | sort -n | awk '{ printf "%s%s:%s", sep, $1, $2; sep = " " }'
}

# check_types: every generation's boot map has every region as TYPE[g]
# (generation 0: RAM, as the firmware has it), and no byte of any region
# usable after generation 0.
check_types() {
	local g i
	for ((g = 0; g <= NGEN; g++)); do
		for i in 0 1 2; do
			e820_range_is "$g" "${R_BASE[i]}" "${R_SIZE[i]}" "${TYPE[g]}" BIOS-e820 ||
				{ echo "gen $g (${KERNEL[g]}, ${MODE[g]}): region $i (${R_BASE[i]}) is not ${TYPE[g]} in its boot e820"; return 1; }
			if [ "$g" -gt 0 ] && e820_range_overlaps "$g" "${R_BASE[i]}" "${R_SIZE[i]}" usable BIOS-e820; then
				echo "gen $g (${KERNEL[g]}): part of region $i (${R_BASE[i]}) is usable RAM in its boot e820"
				return 1
			fi
		done
	done
}

# check_kept: across every kexec, every region's dump after the next kernel
# booted and ran memhog is byte-identical to the one before kexec -e.
check_kept() {
	local g i a b out
	for ((g = 1; g <= NGEN; g++)); do
		for i in 0 1 2; do
			a=$(region_dump "pre-kexec-gen$((g - 1))" "$i") || { echo "gen $((g - 1)): no complete pre-kexec dump of the regions"; return 1; }
			b=$(region_dump "post-boot-gen$g" "$i") || { echo "gen $g: no complete post-boot dump of the regions"; return 1; }
			out=$("$DUMP" diff --base "${R_BASE[i]}" "$a" "$b" --max 3) ||
				{ echo "gen $g (${KERNEL[g]}, ${MODE[g]}): region $i (${R_BASE[i]}) changed across the kexec: $(tr '\n' ' ' <<<"$out")"; return 1; }
		done
	done
}

# check_held: every patched kernel after the first found each region's held
# pages as the host expects them (regions 0 and 1 full, region 2 with 256 +
# 128 per later patched kernel) and kept every one of them while it
# deposited; its deposits are where the host expects them, and the
# partitions are those the host counts.
check_held() {
	local g i before after parts="" out f0 f1 expect=() np=0
	for ((g = 0; g <= NGEN; g++)); do
		[ "${PATCHED[g]}" = 1 ] || continue
		before=("${expect[@]}")
		if [ "$np" = 0 ]; then
			expect=("$R_PAGES" "$R_PAGES" $((FIRST_DEPOSIT - 2 * R_PAGES)))
			parts="$((g + 1)):$FIRST_DEPOSIT"
		else
			expect[2]=$((expect[2] + LATER_DEPOSIT))
			parts+=" $((g + 1)):$LATER_DEPOSIT"
		fi
		np=$((np + 1))
		for i in 0 1 2; do
			f0=$(region_dump "post-boot-gen$g" "$i") || { echo "gen $g: no complete post-boot dump of the regions"; return 1; }
			f1=$(region_dump "after-deposit-gen$g" "$i") || { echo "gen $g: no complete after-deposit dump of the regions"; return 1; }
			if [ "$np" = 1 ]; then
				after=$(region_value "post-boot-gen$g" "$i" held) || return 1
				[ "$after" = 0 ] || { echo "gen $g: region $i holds $after pages before the first deposit"; return 1; }
			else
				out=$("$DUMP" held-kept --base "${R_BASE[i]}" --expect-held "${before[i]}" "$f0" "$f1") ||
					{ echo "gen $g: region $i: held pages not kept: $(tr '\n' ' ' <<<"$out")"; return 1; }
			fi
			after=$(region_value "after-deposit-gen$g" "$i" held) || return 1
			[ "$after" = "${expect[i]}" ] ||
				{ echo "gen $g: region $i holds $after pages after the deposit, the host expects ${expect[i]}"; return 1; }
			after=$(region_value "after-deposit-gen$g" "$i" corrupted) || return 1
			[ "$after" = 0 ] || { echo "gen $g: region $i: $after corrupted pages"; return 1; }
		done
		out=$(dump_partitions "after-deposit-gen$g") || return 1
		[ "$out" = "$parts" ] || { echo "gen $g: partitions [$out], the host expects [$parts]"; return 1; }
	done
	# The end: the last kernel's carveout is still what it deposited into.
	out=$(cmp "$(dump_file "after-deposit-gen$NGEN")" "$(dump_file "pre-kexec-gen$NGEN")") ||
		{ echo "gen $NGEN: the carveout changed after the last deposit: $out"; return 1; }
}

@test "chain: patched 7.3 through stock 5.10, 6.1, 6.1 cloud, 6.12 and 7.3 and back, kexec -s and -l, 3 regions" {
	local rounds=${HVT_DISTRO_ROUNDS:-1} plan g i k why np
	# Region 2 has room for 256 pages and 2 * 128 more per round: 15 rounds.
	[[ $rounds =~ ^[1-9][0-9]*$ ]] && [ "$rounds" -le 15 ] ||
		fail "HVT_DISTRO_ROUNDS=$rounds: 1 to 15 rounds"
	plan=$(distro_plan "$rounds")
	echo "# distro chain, $rounds round(s): $(awk '{ printf "%s%s %s", sep, $3, $2; sep = ", " }' <<<"$plan")" >&3
	run_chain "$plan" 1
	assert_equal "$(last_gen)" "$NGEN"
	assert_equal "$(console_boots)" $((NGEN + 1))
	for ((g = 0; g <= NGEN; g++)); do
		k=${KERNEL[g]}
		assert_equal "$(result uname_r "$g")" "$(kernel_version "$k")"
		# Memory pressure really ran, over at least 80% of MemAvailable.
		assert_memhog "$g"
		if [ "${PATCHED[g]}" = 1 ]; then
			run result cmdline "$g"
			assert_output --partial "$CARVE"
			assert_equal "$(result state "$g")" active
			assert_equal "$(result regions "$g")" 3
			for i in 0 1 2; do
				assert_equal "$(result "region$i" "$g")" "$(printf '0x%x %d' "${R_BASE[i]}" "${R_SIZE[i]}")"
				# The map this kernel uses has the region as its own type.
				e820_range_is "$g" "${R_BASE[i]}" "${R_SIZE[i]}" hvcarve modified
				assert_equal "$(result "end.r$i.deposit_fail_pages" "$g")" 0
				assert_equal "$(result "end.r$i.overflow_pages" "$g")" 0
				assert_equal "$(result "end.r$i.sim_corrupted" "$g")" 0
				if [ "$g" -gt 0 ]; then
					run console_grep -g "$g" "hvcarve: region $i: \\[mem $(printf '0x%016x-0x%016x' "${R_BASE[i]}" $((R_BASE[i] + R_SIZE[i] - 1)))\\] 16 MiB reserved \\(inherited from the kernel before kexec\\)"
					assert_success
				fi
			done
			run console_grep -g "$g" 'hvcarve: rejecting'
			assert_failure
		else
			# Nothing on a stock kernel's command line but console=ttyS0.
			# shellcheck disable=SC2046,SC2005 # word splitting trims it
			assert_equal "$(echo $(result cmdline "$g"))" console=ttyS0
			assert_equal "$(result state "$g")" absent
		fi
	done
	# The first boot's firmware map has the regions as RAM; every later
	# boot map has them as the path to it hands them on.
	why=$(check_types) || fail "$why"
	why=$(check_kept) || fail "$why"
	why=$(check_held) || fail "$why"
	# Negative controls of these checks, on this run's own dumps: one
	# changed held page in any one region is found, and named.
	for i in 0 1 2; do
		tamper "post-boot-gen$NGEN" "$i"
		run check_kept
		assert_failure
		assert_output --regexp "^gen $NGEN \\(new, ${MODE[NGEN]}\\): region $i \\(${R_BASE[i]}\\) changed across the kexec: "
		run check_held
		assert_failure
		untamper "post-boot-gen$NGEN" "$i"
		tamper "after-deposit-gen$NGEN" "$i"
		run check_held
		assert_failure
		assert_output --regexp "^gen $NGEN: region $i: held pages not kept: .*VIOLATED"
		untamper "after-deposit-gen$NGEN" "$i"
	done
	why=$(check_kept) || fail "after untamper: $why"
	why=$(check_held) || fail "after untamper: $why"
	# The simulator's own ledger agrees with the host at the end.
	np=$(printf "%s\n" "${PATCHED[@]}" | grep -c "^1\$")
	assert_equal "$(result end.r0.sim_held "$NGEN")" $((FIRST_DEPOSIT + LATER_DEPOSIT * (np - 1)))
	# The chain went through every stock kernel.
	for k in old "${DISTRO_NAMES[@]}"; do
		printf '%s\n' "${KERNEL[@]}" | grep -qxF -- "$k" || fail "the chain misses $k"
	done
}

@test "negative control: the same checks catch regions that only the first boot's memmap= kept" {
	# The first step of the chain, but gen 0 has memmap= for the three
	# regions instead of hvcarve=, and kexecs into the stock 7.3 kernel,
	# which is told nothing. Gen 0 writes 1024 held pages in the
	# simulator's format into regions 0 and 1 through /dev/mem, as a
	# hypervisor would hold them; region 2, at the top of RAM, is above
	# high_memory, where /dev/mem writes nothing (EFAULT): it stays as QEMU
	# made it, all zero.
	local plan holds=() i j stage=$BATS_TEST_TMPDIR/forged
	mkdir -p "$stage/hvt"
	for i in 0 1; do
		holds=()
		for j in 0 1 2 3; do
			holds+=(--hold "$((j * 1024))-$((j * 1024 + 255)):7:$((i * 1024 + j * 256 + 1))")
		done
		"$DUMP" forge --base "${R_BASE[i]}" --pages "$R_PAGES" "${holds[@]}" "$stage/hvt/forged$i.bin" >/dev/null
	done
	(cd "$stage" && find hvt | cpio -o -H newc --owner=0:0 --quiet) | gzip -1 >"$BATS_TEST_TMPDIR/forged.cpio"
	plan=$(distro_plan 1 | head -n 1)
	# Only the kernel this step needs, for a smaller initramfs.
	"$HVT_ROOT/scripts/mkinitramfs.sh" --out "$BATS_TEST_TMPDIR/k.cpio" --kernels-only \
		--kernel "7.3-stock=$KERNELS_DIR/7.3-stock/vmlinuz" 2>/dev/null
	CHAIN_INITRD=$BATS_TEST_TMPDIR/k.cpio run_chain "$plan" 0 --initrd "$BATS_TEST_TMPDIR/forged.cpio"
	assert_equal "$(last_gen)" 1
	assert_equal "$(result state 0)" disabled
	assert_equal "$(result uname_r 1)" "$(kernel_version 7.3-stock)"
	assert_memhog 1
	# The first kernel did keep the regions out of its own use...
	for i in 0 1 2; do
		e820_range_is 0 "${R_BASE[i]}" "${R_SIZE[i]}" reserved user
	done
	assert_equal "$(region_value pre-kexec-gen0 0 held)" 1024
	assert_equal "$(region_value pre-kexec-gen0 1 held)" 1024
	assert_equal "$(region_value pre-kexec-gen0 2 held)" 0
	# ...the next one got them as RAM, and used them: the checks say so.
	run check_types
	assert_failure
	assert_output "gen 1 (7.3-stock, -s): region 0 (${R_BASE[0]}) is not hvcarve in its boot e820"
	run check_kept
	assert_failure
	assert_output --regexp '^gen 1 \(7\.3-stock, -s\): region [012] \(0x[0-9a-f]+\) changed across the kexec: .* DIFFERENT ?$'
	# Every region was RAM to the unprotected kernel.
	for i in 0 1 2; do
		e820_range_overlaps 1 "${R_BASE[i]}" "${R_SIZE[i]}" usable BIOS-e820
	done
	# Regions 1 and 2 are 32 of the 256 MiB above 4 GiB (ZONE_NORMAL),
	# which a memhog of 90% of MemAvailable (more than 256 MiB) fills
	# first: both were written, and region 1 lost held pages. What became
	# of region 0 (ZONE_DMA32) depends on which pages were left free.
	for i in 1 2; do
		run "$DUMP" diff --base "${R_BASE[i]}" "$(region_dump pre-kexec-gen0 "$i")" "$(region_dump post-boot-gen1 "$i")"
		assert_failure 1
		assert_output --partial DIFFERENT
	done
	run "$DUMP" held-kept --base "${R_BASE[1]}" --expect-held 1024 \
		"$(region_dump pre-kexec-gen0 1)" "$(region_dump post-boot-gen1 1)"
	assert_failure 1
	assert_output --partial VIOLATED
	run "$DUMP" diff --base "${R_BASE[0]}" "$(region_dump pre-kexec-gen0 0)" "$(region_dump post-boot-gen1 0)"
	echo "# region 0 after the unprotected kernel: $(grep -E '^(differing_pages|identical|DIFFERENT)' <<<"$output" | tr '\n' ' ')" >&3
}
