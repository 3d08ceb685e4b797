# shellcheck shell=sh
# SPDX-License-Identifier: GPL-2.0
#
# Guest-side helpers of the hvcarve test harness, sourced by /init (so a
# scenario, which init runs in a subshell, has them all).
#
# Control protocol (one line each way, on the second serial port):
#   guest -> host  @@HVT BOOT gen=G release=R
#                  @@HVT RESULT KEY VALUE...
#                  @@HVT CKPT NAME gen=G [BASE SIZE]...
#                  @@HVT LOG TEXT...
#                  @@HVT TAINT N     (/proc/sys/kernel/tainted, before
#                                    kexec -e and DONE; the host fails the
#                                    run unless it is 0 or the test
#                                    allowed its flags)
#                  @@HVT DONE
#                  @@HVT FAIL MSG...
#   host -> guest  GO NAME        (after it dumped the ranges of CKPT NAME)
#                  ACK DONE|FAIL  (the host has seen the end of the run)
# Numbers may be decimal or 0x-prefixed hex.
#
# Everything the guest keeps across kexec lives under /hvt/state/ (the
# whole root file system is repacked into the next kernel's initramfs).
# Variables of these helpers are prefixed hvt__ (busybox sh, no `local`).

HVT_CTL=${HVT_CTL:-/dev/ttyS1}
# Ranges "BASE SIZE..." that hvt_kexec dumps at its pre-kexec checkpoint.
HVT_DUMP_RANGES=${HVT_DUMP_RANGES:-}

# Open the control channel as fd 3 (raw, no echo). init does this once; an
# interactive shell (which does not inherit fd 3) on first use.
hvt_ctl_open() {
	[ -c "$HVT_CTL" ] || return 1
	stty -F "$HVT_CTL" 115200 raw -echo clocal -crtscts 2>/dev/null || return 1
	exec 3<>"$HVT_CTL" || return 1
}

# Send one protocol line (newlines in the text become spaces).
hvt__send() {
	[ -e /proc/self/fd/3 ] || hvt_ctl_open || return 1
	printf '@@HVT %s\n' "$(printf '%s' "$*" | tr '\r\n' '  ')" >&3
}

# Read control lines until one equals $1. Optional $2: timeout in seconds.
hvt__wait_for() {
	while :; do
		if [ -n "${2:-}" ]; then
			# shellcheck disable=SC3045 # busybox read has -t
			IFS= read -r -t "$2" hvt__line <&3 || return 1
		else
			IFS= read -r hvt__line <&3 || return 1
		fi
		hvt__line=$(printf '%s' "$hvt__line" | tr -d '\r')
		[ "$hvt__line" = "$1" ] && return 0
	done
}

hvt__halt() {
	sync
	# Let the UARTs drain what user space wrote.
	sleep 1
	# QEMU runs with -no-reboot, so a reboot ends it; this works on any
	# kernel, unlike a power-off, which needs ACPI.
	reboot -f
	sleep 3
	poweroff -f
	while :; do sleep 60; done
}

# Generation: 0 on the first boot, +1 per kexec.
hvt_gen() {
	if [ -s /hvt/state/gen ]; then
		cat /hvt/state/gen
	else
		echo 0
	fi
}

# State that survives kexec (files under /hvt/state/).
hvt_state_set() {
	mkdir -p /hvt/state
	printf '%s\n' "$2" >"/hvt/state/$1"
}
hvt_state_get() {
	cat "/hvt/state/$1" 2>/dev/null
}

# hvt_memhog [PCT [MINPCT]]: fill PCT (default 90) percent of MemAvailable
# with non-zero page-cache data (a tmpfs at /mnt/hog), so that memory the
# kernel thinks is free gets written. Reports "RESULT memhog_avail_kib A"
# (MemAvailable before) and "RESULT memhog_kib N" (what the tmpfs holds),
# numbers for the host to check (helpers.bash: assert_hog_floor). Fails
# unless N is at least MINPCT (default PCT - 10, at least 1) percent of A.
# Undo with hvt_memhog_release.
hvt_memhog() {
	hvt__pct=${1:-90}
	hvt__min=${2:-$((hvt__pct > 10 ? hvt__pct - 10 : 1))}
	hvt__avail=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
	hvt_result memhog_avail_kib "$hvt__avail"
	hvt__kib=$((hvt__avail * hvt__pct / 100))
	mkdir -p /mnt/hog
	mount -t tmpfs -o "size=${hvt__kib}k" hvthog /mnt/hog || return 1
	# A 16 MiB pattern block, then copies of it until the tmpfs is full.
	yes "hvcarve-memhog-gen$(hvt_gen)-0123456789abcdef" 2>/dev/null |
		head -c 1048576 >/mnt/hog/p0
	for hvt__i in 1 2 3 4; do
		cat "/mnt/hog/p$((hvt__i - 1))" "/mnt/hog/p$((hvt__i - 1))" \
			>"/mnt/hog/p$hvt__i" 2>/dev/null || break
		rm -f "/mnt/hog/p$((hvt__i - 1))"
	done
	while cat /mnt/hog/p* >>/mnt/hog/fill 2>/dev/null; do :; done
	hvt__kib=$(du -sk /mnt/hog | cut -f1)
	hvt_result memhog_kib "$hvt__kib"
	if [ $((hvt__kib * 100)) -lt $((hvt__avail * hvt__min)) ]; then
		hvt_log "hvt_memhog: filled $hvt__kib KiB, below $hvt__min% of $hvt__avail KiB"
		return 1
	fi
}

# hvt_memhog_run [PCT [MINPCT]]: memhog PCT --min MINPCT (tools/hvcarve/
# memhog.c: fills anonymous memory with a pattern and reads it all back),
# defaults 90 and 80. Reports "RESULT memhog rc=N OUTPUT" (OUTPUT has the
# line "memhog: available_kib A touched_kib T min_pct M" that the host
# checks, helpers.bash: assert_memhog) and returns memhog's status.
hvt_memhog_run() {
	hvt__mrc=0
	hvt__mout=$(memhog "${1:-90}" --min "${2:-80}" 2>&1) || hvt__mrc=$?
	hvt_result memhog "rc=$hvt__mrc $hvt__mout"
	return "$hvt__mrc"
}

hvt_memhog_release() {
	rm -f /mnt/hog/*
	umount /mnt/hog 2>/dev/null
	return 0
}

hvt_log() {
	echo "hvt: $*"
	hvt__send "LOG $*"
}

# hvt_result KEY VALUE...  -> results.txt line "GEN KEY VALUE..."
hvt_result() {
	hvt__key=$1
	shift
	hvt__send "RESULT $hvt__key $*"
}

# hvt_ckpt NAME [BASE SIZE]...: the host stops the VM, dumps the ranges
# (concatenated, in order) to dumps/NAME.bin, resumes it and answers GO NAME.
# Blocks until then.
hvt_ckpt() {
	hvt__ck=$1
	shift
	echo "hvt: checkpoint $hvt__ck $*"
	hvt__send "CKPT $hvt__ck gen=$(hvt_gen) $*" || hvt_fail "cannot send CKPT $hvt__ck"
	hvt__wait_for "GO $hvt__ck" || hvt_fail "no GO for checkpoint $hvt__ck"
}

# hvt_rebuild_initramfs OUT: pack the running root file system (without the
# contents of /proc, /sys, /dev, /tmp or any other mount) into an
# uncompressed newc cpio, with /hvt/state/gen incremented.
hvt_rebuild_initramfs() {
	hvt__out=$1
	hvt__stage=/tmp/.hvt-stage
	rm -rf "$hvt__stage"
	mkdir -p "$hvt__stage/hvt/state" "$hvt__stage/dev" || return 1
	echo $(($(hvt_gen) + 1)) >"$hvt__stage/hvt/state/gen"
	mknod -m 600 "$hvt__stage/dev/console" c 5 1 || return 1
	mknod -m 666 "$hvt__stage/dev/null" c 1 3 || return 1
	(cd / && find . -xdev ! -path ./hvt/state/gen | cpio -o -H newc) \
		>"$hvt__out" 2>/tmp/.hvt-cpio.err || {
		cat /tmp/.hvt-cpio.err
		return 1
	}
	(cd "$hvt__stage" && find . | cpio -o -H newc) \
		>>"$hvt__out" 2>/tmp/.hvt-cpio.err || {
		cat /tmp/.hvt-cpio.err
		return 1
	}
	# A test's own tail (for a file that must lie at the initramfs's end).
	if [ -n "${HVT_INITRD_APPEND:-}" ]; then
		cat "$HVT_INITRD_APPEND" >>"$hvt__out" || return 1
	fi
	rm -rf "$hvt__stage"
}

# hvt_files_report: report "RESULT file:PATH SHA256" for every regular file
# of the root file system that the next initramfs carries (all but
# /hvt/state/, which changes by design), for the host to compare with its
# own hashes of the images it packed and with the generation before
# (helpers.bash: files_intact, file_matches).
hvt_files_report() {
	(cd / && find . -xdev -type f ! -path './hvt/state/*' | LC_ALL=C sort |
		xargs sha256sum) | while read -r hvt__sha hvt__path; do
		hvt_result "file:${hvt__path#./}" "$hvt__sha"
	done
}

# hvt_initrd_ckpt: the checkpoint initrd-genG, where the host dumps the
# initrd this kernel booted with, as its "RAMDISK: [mem START-END]" line
# has it (every x86 kernel prints it), to compare with what the kernel
# before loaded (helpers.bash: initrd_intact). The kernel must have been
# told retain_initrd, which keeps that memory from being freed. With
# HVT_CHECK_FILES set, hvt_kexec_load reports the initramfs it loads as
# "RESULT next_initrd SHA256 BYTES".
hvt_initrd_ckpt() {
	grep -qw retain_initrd /proc/cmdline || hvt_fail "hvt_initrd_ckpt: no retain_initrd"
	hvt__rd=$(dmesg | sed -n 's/.*RAMDISK: \[mem \(0x[0-9a-f]*\)-\(0x[0-9a-f]*\)\].*/\1 \2/p' | head -n 1)
	[ -n "$hvt__rd" ] || hvt_fail "hvt_initrd_ckpt: no RAMDISK line"
	hvt_ckpt "initrd-gen$(hvt_gen)" "${hvt__rd% *}" $((${hvt__rd#* } - ${hvt__rd% *} + 1))
}

# hvt_kexec_load MODE KERNEL [APPEND...]
#   MODE -l (kexec_load: kexec -c -l) or -s (kexec_file_load: kexec -s -l;
#   no fallback to kexec_load). Loads KERNEL with a repacked initramfs and
#   "console=ttyS0 APPEND". HVT_KEXEC_OPTS, if set, are more kexec options
#   (words), e.g. --mem-max=ADDR to keep kexec_load segments below ADDR.
#   Reports "RESULT kexec_load rc=N" (and "kexec_load_err TEXT" on
#   failure) and returns N.
hvt_kexec_load() {
	hvt__mode=$1
	hvt__kernel=$2
	shift 2
	case $hvt__mode in
	-l) hvt__sys=-c ;;
	-s) hvt__sys=-s ;;
	*) hvt_fail "hvt_kexec_load: MODE must be -l or -s, not $hvt__mode" ;;
	esac
	hvt__initrd=/tmp/hvt-next.cpio
	hvt_rebuild_initramfs "$hvt__initrd" || hvt_fail "hvt_rebuild_initramfs failed"
	if [ -n "${HVT_CHECK_FILES:-}" ]; then
		hvt_result next_initrd "$(sha256sum <"$hvt__initrd" | cut -d' ' -f1)" \
			"$(wc -c <"$hvt__initrd")"
	fi
	echo "hvt: kexec $hvt__mode ${HVT_KEXEC_OPTS:+$HVT_KEXEC_OPTS }$hvt__kernel --append=console=ttyS0 $*"
	hvt__krc=0
	# shellcheck disable=SC2086 # options are a list of words
	hvt__kout=$(kexec "$hvt__sys" ${HVT_KEXEC_OPTS:-} -l "$hvt__kernel" --initrd="$hvt__initrd" \
		--append="console=ttyS0 $*" 2>&1) || hvt__krc=$?
	rm -f "$hvt__initrd"
	[ -n "$hvt__kout" ] && printf '%s\n' "$hvt__kout"
	hvt_result kexec_load "rc=$hvt__krc"
	[ "$hvt__krc" -eq 0 ] && return 0
	hvt_result kexec_load_err "$hvt__kout"
	return "$hvt__krc"
}

# hvt_kexec_exec: checkpoint pre-kexec-genG with $HVT_DUMP_RANGES, the
# taint report, then kexec -e. Returns only if kexec -e fails: reports
# "RESULT kexec_exec rc=N" and "kexec_exec_err TEXT", and returns N.
hvt_kexec_exec() {
	# shellcheck disable=SC2086 # ranges are a list of words
	hvt_ckpt "pre-kexec-gen$(hvt_gen)" $HVT_DUMP_RANGES
	hvt__taint
	hvt__krc=0
	hvt__kout=$(kexec -e 2>&1) || hvt__krc=$?
	[ "$hvt__krc" -ne 0 ] || hvt__krc=255
	printf '%s\n' "$hvt__kout"
	hvt_result kexec_exec "rc=$hvt__krc"
	hvt_result kexec_exec_err "$hvt__kout"
	return "$hvt__krc"
}

# hvt_kexec MODE KERNEL [APPEND...]: hvt_kexec_load, then hvt_kexec_exec.
# Returns the load's error; fails the run if kexec -e returns.
hvt_kexec() {
	hvt_kexec_load "$@" || return
	hvt_kexec_exec || hvt_fail "kexec -e returned $hvt__krc"
}

# hvt_fake_memmap FILE: mount a tmpfs over /sys/firmware/memmap holding the
# entries of FILE, one "START END TYPE..." line each (hex, END inclusive, as
# the kernel shows them), so that kexec -l (kexec-tools) builds the next
# kernel's e820 map from them.
hvt_fake_memmap() {
	rm -rf /tmp/.hvt-fw
	mkdir -p /tmp/.hvt-fw
	hvt__n=0
	while read -r hvt__s hvt__e hvt__t; do
		[ -n "$hvt__s" ] || continue
		mkdir -p "/tmp/.hvt-fw/$hvt__n"
		echo "$hvt__s" >"/tmp/.hvt-fw/$hvt__n/start"
		echo "$hvt__e" >"/tmp/.hvt-fw/$hvt__n/end"
		echo "$hvt__t" >"/tmp/.hvt-fw/$hvt__n/type"
		hvt__n=$((hvt__n + 1))
	done <"$1"
	mount -t tmpfs hvtfw /sys/firmware/memmap || return 1
	cp -a /tmp/.hvt-fw/. /sys/firmware/memmap/
}

# hvt_memmap_dump: the real /sys/firmware/memmap, in hvt_fake_memmap's
# format, sorted by start.
hvt_memmap_dump() {
	for hvt__d in /sys/firmware/memmap/*; do
		echo "$(cat "$hvt__d/start") $(cat "$hvt__d/end") $(cat "$hvt__d/type")"
	done | sort
}

# The kernel's taint flags, for the host to check: a WARNING, an oops, a soft
# lockup ... each leaves one, even when its console lines got lost.
hvt__taint() {
	hvt__send "TAINT $(cat /proc/sys/kernel/tainted)"
}

hvt_done() {
	echo "hvt: DONE (generation $(hvt_gen))"
	hvt__taint
	hvt__send "DONE"
	hvt__wait_for "ACK DONE" 10
	hvt__halt
}

hvt_fail() {
	echo "hvt: FAIL: $*"
	hvt__send "FAIL $*" || echo "@@HVT FAIL $*"
	hvt__wait_for "ACK FAIL" 10
	hvt__halt
}
