# shellcheck shell=sh
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of "make demo" (scripts/demo.sh prepends BASE= and SIZE=).
# Runs in every generation: 0 patched, 1 stock 6.1, 2 patched.

BASE=${BASE:?}
SIZE=${SIZE:?}
gen=$(hvt_gen)
# Read by hvt_kexec for its pre-kexec checkpoint.
export HVT_DUMP_RANGES="$BASE $SIZE"

# The boot e820 entry that holds the carveout: "reserved" or "usable", and
# whether one entry covers all of it.
e820_carveout() {
	dmesg | sed -n 's/.*BIOS-e820: \[mem \(0x[0-9a-f]*\)-\(0x[0-9a-f]*\)\] *\(.*\)$/\1 \2 \3/p' |
		while read -r s e t; do
			if [ $((s)) -le $((BASE)) ] && [ $((e)) -ge $((BASE)) ]; then
				if [ $((e)) -ge $((BASE + SIZE - 1)) ]; then
					echo "$t (whole range)"
				else
					echo "$t (part only)"
				fi
			fi
		done | sed 's/device reserved/reserved/; s/System RAM/usable/'
}

hvt_log "generation $gen: Linux $(uname -r), command line: $(cat /proc/cmdline)"
hvt_result e820_carveout "$(e820_carveout)"
hvt_log "boot e820 entry holding $BASE: $(e820_carveout)"
if [ -d /sys/kernel/mm/hvcarve ]; then
	hvt_log "hvcarve state: $(cat /sys/kernel/mm/hvcarve/state)"
	dmesg | grep -E 'hvcarve: (region|rejecting|carveout)' | sed 's/^\[[ 0-9.]*\] //' | while read -r l; do hvt_log "  dmesg: $l"; done
	grep -B1 ': hvcarve$' /proc/iomem | while read -r l; do hvt_log "  /proc/iomem: $l"; done
else
	hvt_log "this kernel has never heard of hvcarve"
fi

hvt_log "memory pressure: filling 90% of MemAvailable"
hvt_memhog 90 >/dev/null
hvt_memhog_release
hvt_ckpt "post-boot-gen$gen" "$BASE" "$SIZE"
hvt_log "host dumped the carveout after boot + pressure"

case $gen in
0)
	hvt_result kexec_mode -s
	hvt_log "kexec -s into the stock Debian 6.1 kernel, no hvcarve=, no memmap="
	hvt_kexec -s /boot/vmlinuz-old
	;;
1)
	hvt_result kexec_mode -l
	hvt_log "kexec -l (kexec-tools reads /sys/firmware/memmap) into the patched kernel, no parameters"
	hvt_kexec -l /boot/vmlinuz-new
	;;
*)
	hvt_done
	;;
esac
