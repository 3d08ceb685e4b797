# shellcheck shell=sh
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of "make demo" (scripts/demo.sh prepends BASE=, SIZE= and
# CARVE=, the hvcarve= parameter that generation 2 is given).
#
#   gen 0  patched kernel, hvcarve= + memmap= (from hvcarve-cmdline.sh):
#          the reservation; deposits through the simulated hypervisor;
#          memory pressure; kexec -s into the stock 6.1 kernel, with
#          nothing on its command line
#   gen 1  stock Debian 6.1: knows nothing; memory pressure; kexec -l into
#          the patched kernel with $CARVE
#   gen 2  patched kernel: finds the range reserved and its simulator
#          rebuilds the ledger from the pages; deposits more; pressure
#
# The host dumps the carveout at pre-kexec-gen0 (after the deposits and
# memory pressure), post-boot-gen1, pre-kexec-gen1 (after pressure),
# post-boot-gen2 and end-gen2 (after the deposits and pressure).
# Everything the host checks is reported as a result (scripts/demo.sh
# reads results.txt); the LOG lines are only the narration.

BASE=${BASE:?}
SIZE=${SIZE:?}
CARVE=${CARVE:?}
gen=$(hvt_gen)
# Read by hvt_kexec for its pre-kexec checkpoint.
export HVT_DUMP_RANGES="$BASE $SIZE"
HVC=/sys/kernel/mm/hvcarve
# The region's sysfs directory, named by its base address.
R0=$HVC/region@$(printf %x "$BASE")

# The type of the boot e820 entry holding BASE, as this kernel names it:
# "usable", "reserved", "hvcarve", or "type 4026531838" from a kernel that
# does not know E820_TYPE_HVCARVE (0xeffffffe); and "(part only)" if that
# entry does not cover the whole carveout. Kernels from 6.15 on spell RAM
# "System RAM" and reserved "device reserved": both are normalised.
e820_carveout() {
	dmesg | sed -n 's/.*BIOS-e820: \[mem \(0x[0-9a-f]*\)-\(0x[0-9a-f]*\)\] *\(.*\)$/\1 \2 \3/p' |
		while read -r s e t; do
			if [ $((s)) -le $((BASE)) ] && [ $((e)) -ge $((BASE)) ]; then
				if [ $((e)) -ge $((BASE + SIZE - 1)) ]; then
					echo "$t"
				else
					echo "$t (part only)"
				fi
			fi
		done | sed 's/device reserved/reserved/; s/System RAM/usable/'
}

# The type of the /sys/firmware/memmap entry holding BASE: the e820 map
# that kexec -l hands to the next kernel ("usable", "reserved" for
# "Reserved", or what the kernel calls a type it does not know: "Unknown
# E820 type", which kexec-tools reads as reserved).
memmap_carveout() {
	for d in /sys/firmware/memmap/*; do
		[ -r "$d/start" ] || continue
		if [ $(($(cat "$d/start"))) -le $((BASE)) ] && [ $(($(cat "$d/end"))) -ge $((BASE)) ]; then
			if [ $(($(cat "$d/end"))) -ge $((BASE + SIZE - 1)) ]; then
				cat "$d/type"
			else
				echo "$(cat "$d/type") (part only)"
			fi
		fi
	done | sed 's/^System RAM/usable/; s/^Reserved/reserved/'
}

# e820_said: the type of e820_carveout, explained for the narration.
e820_said() {
	demo_t=$(e820_carveout)
	case $demo_t in
	"type 4026531838")
		echo "$demo_t: 0xeffffffe, E820_TYPE_HVCARVE, a type this kernel does" \
			"not know -- so not RAM: only RAM entries go to memblock" ;;
	*) echo "$demo_t" ;;
	esac
}

# The /proc/iomem lines at BASE ("A > B" for a nested entry).
iomem_carveout() {
	demo_b=$(printf '%x' $((BASE)))
	grep "^ *$demo_b-" /proc/iomem | sed 's/^ *//' | tr '\n' '|' | sed 's/|$//; s/|/ > /g'
}

# say TEXT...: narrate, folded to fit a terminal (the host adds
# "  [gen G] " in front).
say() {
	printf '%s\n' "$*" | fold -s -w 84 | {
		IFS= read -r demo_l
		hvt_log "$demo_l"
		while IFS= read -r demo_l; do
			hvt_log "    $demo_l"
		done
	}
}

# Kernel messages, without their time stamps.
klog() {
	dmesg | sed -n "s/^\[[ 0-9.]*\] //; /$1/p"
}

# "P:N P:N ..." held per partition, from the simulator's ledger ("none").
sim_partitions() {
	awk '$1 == "partition" { printf "%s%s:%s", s, $2, $3; s = " " }
		END { if (s == "") printf "none"; print "" }' "$HVT_SIM/ledger"
}

# counters TAG: narrate the simulator's ledger and the region's counters
# compactly, and report them (results TAG.*, TAG.partitions).
counters() {
	hvt_sim_report "$1"
	hvt_result "$1.partitions" "$(sim_partitions)"
	hvt_result "$1.total_pages" "$(cat "$R0/total_pages")"
	say "  hypervisor's ledger: held $(hvt_sim_ledger held) [partition:pages" \
		"$(sim_partitions)], refusals $(hvt_sim_ledger refusals)," \
		"corrupted $(hvt_sim_ledger corrupted)"
	demo_c=
	for demo_f in free deposited inherited peak_deposited \
		deposit_success deposit_fail withdrawn; do
		demo_c="$demo_c $demo_f $(cat "$R0/${demo_f}_pages"),"
	done
	demo_c="$demo_c skipped $(hvt_skipped) (debugfs),"
	say "  hvcarve ${R0##*/} (pages):$demo_c overflow $(cat $HVC/overflow_pages)"
}

# hvt_sim_err is set by sim.sh's helpers.
# shellcheck disable=SC2154
deposit() {
	hvt_sim_deposit "$1" "$2" || hvt_fail "deposit $1 for partition $2: $hvt_sim_err"
	say "deposit $1 pages for partition $2: ok"
}

# shellcheck disable=SC2154
withdraw() {
	hvt_sim_withdraw "$1" "$2" || hvt_fail "withdraw $1 from partition $2: $hvt_sim_err"
	say "withdraw $1 pages from partition $2: ok"
}

pressure() {
	say "memory pressure: memhog 90 (fill 90% of MemAvailable, read it back)"
	demo_mrc=0
	demo_mout=$(memhog 90 2>&1) || demo_mrc=$?
	hvt_result memhog "rc=$demo_mrc $demo_mout"
	say "  $demo_mout"
}

hvt_result e820_carveout "$(e820_carveout)"
hvt_result memmap_carveout "$(memmap_carveout)"

say "---- generation $gen: Linux $(uname -r)"
say "command line: $(cat /proc/cmdline)"
if [ "$gen" = 0 ]; then
	say "boot e820 map (the firmware's): $BASE is $(e820_said)"
else
	say "boot e820 map (handed over by kexec): $BASE is $(e820_said)"
fi

if [ -d $HVC ]; then
	# shellcheck disable=SC1091 # in the base initramfs (tests/guest/sim.sh)
	. /hvt/sim.sh
	hvt_result hvcarve_state "$(cat $HVC/state)"
	hvt_result hvcarve_region "$(klog 'hvcarve: region 0: \[mem')"
	klog 'hvcarve: region' | while read -r l; do say "dmesg: $l"; done
	say "/proc/iomem: $(iomem_carveout)"
	say "sysfs: state $(cat $HVC/state); ${R0##*/}: base $(cat "$R0/base")," \
		"$(($(cat "$R0/size") >> 20)) MiB, $(cat "$R0/total_pages") pages," \
		"node $(cat "$R0/node")"
	say "/sys/firmware/memmap (the e820 map kexec hands on): $BASE is $(memmap_carveout)"
	hvt_result sim_boot_line "$(klog 'hvcarve_sim: ledger:')"
	say "dmesg: $(klog 'hvcarve_sim: ledger:')"
else
	say "no /sys/kernel/mm/hvcarve: this kernel has never heard of hvcarve"
	say "/proc/iomem: $(iomem_carveout)"
	say "/sys/firmware/memmap (the e820 map kexec hands on): $BASE is $(memmap_carveout)"
	[ "$(memmap_carveout)" != "Unknown E820 type" ] ||
		say "  (kexec-tools reads \"Unknown E820 type\" as reserved: kexec -l hands it on so)"
fi

case $gen in
0)
	hvt_ckpt "post-boot-gen$gen" "$BASE" "$SIZE"
	say "the host dumped the carveout as the first boot (KASLR on) left it"
	say "deposits through the simulated hypervisor (they come from the carveout):"
	deposit 3000 1
	deposit 2000 2
	withdraw 1000 1
	counters dep
	pressure
	hvt_result kexec_mode -s
	hvt_result kexec_append ""
	say "kexec -s into the stock Debian 6.1 kernel, command line: console=ttyS0 --" \
		"no hvcarve=, no memmap= (the host dumps the carveout just before kexec -e)"
	hvt_kexec -s /boot/vmlinuz-old || hvt_fail "kexec -s failed"
	;;
1)
	hvt_ckpt "post-boot-gen$gen" "$BASE" "$SIZE"
	say "the host dumped the carveout"
	pressure
	hvt_result kexec_mode -l
	hvt_result kexec_append "$CARVE"
	say "kexec -l (kexec-tools reads /sys/firmware/memmap) into the patched kernel," \
		"command line: console=ttyS0 $CARVE -- no memmap="
	hvt_kexec -l /boot/vmlinuz-new "$CARVE" || hvt_fail "kexec -l failed"
	;;
*)
	say "the simulator rebuilt the hypervisor's ledger from the pages; hvcarve knows" \
		"nothing of them yet:"
	counters boot
	hvt_ckpt "post-boot-gen$gen" "$BASE" "$SIZE"
	say "the host dumped the carveout"
	deposit 1500 3
	echo 1 >"$HVT_SIM/scan"
	counters end
	say "  (the hypervisor refused $(hvt_sim_ledger refusals) of the pages it still holds: hvcarve" \
		"learnt those as inherited, and skipped $(hvt_skipped) more inside the" \
		"held runs it found -- trying pages 1, 2, 4, ... further on, then bisecting --" \
		"without a call for each)"
	pressure
	hvt_ckpt "end-gen$gen" "$BASE" "$SIZE"
	say "the host dumped the carveout"
	hvt_done
	;;
esac
