#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# kdump with a carveout: the patched kernel panics, the crash kernel boots,
# and the ELF core header the panicked kernel prepared for it leaves the
# carveout out (it is not System RAM). The host checks that header itself:
# the crash kernel names it (elfcorehdr= on its command line), the host
# dumps it through the QEMU monitor and parses its program headers on its
# own (od, below). The crash kernel's /proc/vmcore must have the same
# PT_LOADs, the guest must read all of it (bytes read == its size, at
# least every PT_LOAD's bytes), and that read leaves the carveout
# byte-identical.

load helpers
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

CARVE_BASE=0x3a000000
CARVE_SIZE=0x4000000
# What the crash kernel dumps from its elfcorehdr= address: far more than
# the header of a 1-CPU guest with a handful of RAM ranges needs.
HDR_DUMP=0x10000

teardown() {
	hvt_teardown
}

# le_u FILE OFFSET BYTES: the unsigned little-endian number at OFFSET.
le_u() {
	local v
	v=$(od -An -v --endian=little -j "$2" -N "$3" -t "u$3" -- "$1" | tr -d ' ') || return 1
	[ -n "$v" ] || return 1
	echo "$v"
}

# elf_loads FILE: the PT_LOADs of the ELF64 core header at the start of
# FILE, one "0xSTART 0xEND" line each (END inclusive; p_paddr and
# p_memsz, as vmcore-phdrs prints them), then "memsz TOTAL". Fails, saying
# why, unless FILE starts with a little-endian ELF64 ET_CORE header whose
# program headers lie inside FILE, with at least one PT_LOAD.
elf_loads() {
	local f=$1 size phoff phentsize phnum i o type paddr memsz loads=0 total=0
	[ -f "$f" ] || { echo "no file $f"; return 1; }
	size=$(stat -c %s -- "$f")
	[ "$size" -ge 64 ] || { echo "$f: $size bytes, shorter than an ELF64 header"; return 1; }
	if [ "$(od -An -v -t x1 -N 6 -- "$f" | tr -d ' ')" != 7f454c460201 ]; then
		echo "$f: not a little-endian ELF64 file: $(od -An -v -t x1 -N 6 -- "$f")"
		return 1
	fi
	[ "$(le_u "$f" 16 2)" = 4 ] || { echo "$f: e_type is not ET_CORE"; return 1; }
	phoff=$(le_u "$f" 32 8) phentsize=$(le_u "$f" 54 2) phnum=$(le_u "$f" 56 2)
	[ "$phentsize" = 56 ] || { echo "$f: e_phentsize $phentsize, not 56"; return 1; }
	if [ "$phnum" -lt 1 ] || [ $((phoff + phnum * phentsize)) -gt "$size" ]; then
		echo "$f: $phnum program headers at $phoff do not fit in its $size bytes"
		return 1
	fi
	for ((i = 0; i < phnum; i++)); do
		o=$((phoff + i * phentsize))
		type=$(le_u "$f" "$o" 4)
		[ "$type" = 1 ] || continue
		paddr=$(le_u "$f" $((o + 24)) 8) memsz=$(le_u "$f" $((o + 40)) 8)
		[ "$memsz" -gt 0 ] || continue
		printf '0x%x 0x%x\n' "$paddr" $((paddr + memsz - 1))
		total=$((total + memsz))
		loads=$((loads + 1))
	done
	[ "$loads" -gt 0 ] || { echo "$f: no PT_LOAD"; return 1; }
	echo "memsz $total"
}

# loads_ok LOADS: LOADS (elf_loads lines) leave the carveout out, and the
# RAM right after the carveout is in them (the control: the check looks
# where RAM is). Explicit returns: it also runs under `run`.
loads_ok() {
	local s e covered=0 end=$((CARVE_BASE + CARVE_SIZE))
	while read -r s e; do
		[ "$s" = memsz ] && continue
		if [ $((s)) -lt "$end" ] && [ $((e)) -ge $((CARVE_BASE)) ]; then
			echo "PT_LOAD $s-$e overlaps the carveout"
			return 1
		fi
		if [ $((s)) -le "$end" ] && [ $((e)) -ge "$end" ]; then
			covered=1
		fi
	done <<<"$1"
	[ "$covered" = 1 ] || { echo "no PT_LOAD covers the RAM at $(printf '0x%x' "$end")"; return 1; }
}

# vmcore_read_ok SIZE READ MEMSZ: the guest read READ bytes of a
# /proc/vmcore of SIZE bytes; all of it, and at least the MEMSZ bytes of
# its PT_LOADs. Missing numbers fail.
vmcore_read_ok() {
	local size=$1 read=$2 memsz=$3
	if ! [[ $size =~ ^[0-9]+$ && $read =~ ^[0-9]+$ && $memsz =~ ^[0-9]+$ ]]; then
		echo "not numbers: size '$size', read '$read', memsz '$memsz'"
		return 1
	fi
	[ "$read" -eq "$size" ] || { echo "read $read of the $size bytes of /proc/vmcore"; return 1; }
	[ "$size" -ge "$memsz" ] || { echo "/proc/vmcore has $size bytes, less than its PT_LOADs' $memsz"; return 1; }
}

@test "kdump: the host's elfcorehdr and /proc/vmcore exclude the carveout, reading all of it leaves the carveout intact" {
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
# The crash kernel: where its ELF core header is (kexec_file_load writes
# elfcorehdr=0xADDR; kexec_load elfcorehdr=NK), for the host to dump.
ech=\$(tr ' ' '\n' </proc/cmdline | sed -n 's/^elfcorehdr=//p')
hvt_result elfcorehdr "\$ech"
case \$ech in
0x[0-9a-fA-F]*) addr=\$ech ;;
*[0-9]K) addr=\$(( \${ech%K} * 1024 )) ;;
*) hvt_fail "no elfcorehdr=0xADDR in /proc/cmdline: '\$ech'" ;;
esac
hvt_ckpt elfcorehdr \$addr $HDR_DUMP
hvt_result vmcore_size "\$(stat -c %s /proc/vmcore)"
vmcore-phdrs >/tmp/phdrs || hvt_fail "no PT_LOAD in /proc/vmcore"
hvt_result phdrs "\$(tr '\n' ' ' </tmp/phdrs)"
n=\$( (set -o pipefail; cat /proc/vmcore | wc -c) ) || hvt_fail "reading /proc/vmcore failed"
hvt_result vmcore_read_bytes "\$n"
hvt_ckpt after-vmcore $CARVE_BASE $CARVE_SIZE
hvt_done
EOS2
	run result crash_res 0
	assert_success
	assert_output --regexp '^[0-9a-f]+-[0-9a-f]+:Crashkernel$'
	assert_equal "$(result crash_loaded 0)" 1
	# The crash kernel ran.
	assert_equal "$(last_gen)" 1
	# The host's parse of the header it dumped itself.
	local loads why memsz
	loads=$(elf_loads "$(dump_file elfcorehdr)") || fail "elfcorehdr dump: $loads"
	echo "host, elfcorehdr PT_LOADs: $loads"
	why=$(loads_ok "$loads") || fail "elfcorehdr: $why"
	# /proc/vmcore, as the crash kernel built it from that header, has
	# exactly its PT_LOADs.
	# shellcheck disable=SC2005,SC2046 # a one-line list
	assert_equal "$(echo $(grep -v '^memsz ' <<<"$loads"))" "$(echo $(result phdrs 1))"
	# The guest read all of /proc/vmcore.
	memsz=$(sed -n 's/^memsz //p' <<<"$loads")
	why=$(vmcore_read_ok "$(result vmcore_size 1)" "$(result vmcore_read_bytes 1)" "$memsz") ||
		fail "$why"
	# ...which left the carveout as the panicked kernel left it.
	dumps_equal pre-panic after-vmcore
}

# Negative controls of the host's checks, on forged headers.

# le N BYTES: N as BYTES little-endian bytes, for printf %b.
le() {
	local i s=""
	for ((i = 0; i < $2; i++)); do
		s+=$(printf '\\x%02x' $((($1 >> (8 * i)) & 0xff)))
	done
	echo "$s"
}

# forge_core FILE [START MEMSZ]...: an ELF64 core header with one PT_NOTE
# and a PT_LOAD per START MEMSZ.
forge_core() {
	local f=$1 n
	shift
	n=$(($# / 2 + 1))
	{
		printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000'
		printf '%b' "$(le 4 2)$(le 62 2)$(le 1 4)$(le 0 8)$(le 64 8)$(le 0 8)"
		printf '%b' "$(le 0 4)$(le 64 2)$(le 56 2)$(le "$n" 2)$(le 0 2)$(le 0 2)$(le 0 2)"
		# PT_NOTE
		printf '%b' "$(le 4 4)$(le 0 4)$(le 4096 8)$(le 0 8)$(le 0x1000 8)$(le 0x100 8)$(le 0x100 8)$(le 0 8)"
		while [ $# -ge 2 ]; do
			printf '%b' "$(le 1 4)$(le 7 4)$(le 8192 8)$(le $((0xffff888000000000 + $1)) 8)$(le "$1" 8)$(le "$2" 8)$(le "$2" 8)$(le 0 8)"
			shift 2
		done
	} >"$f"
}

@test "negative control: the host's elfcorehdr check rejects a carveout PT_LOAD, a bad header, a short read" {
	cd "$BATS_TEST_TMPDIR"
	local loads
	# Control: RAM below and right after the carveout, as the real header.
	forge_core good.bin 0x100000 0x39f00000 0x3e000000 0x1fe0000
	run elf_loads good.bin
	assert_success
	assert_output "0x100000 0x39ffffff
0x3e000000 0x3ffdffff
memsz $((0x39f00000 + 0x1fe0000))"
	loads=$output
	run loads_ok "$loads"
	assert_success
	# The same header with the carveout in System RAM, as a kernel that
	# knew nothing of it would write.
	forge_core bad.bin 0x100000 0x3fee0000
	run elf_loads bad.bin
	assert_success
	run loads_ok "$output"
	assert_failure
	assert_output "PT_LOAD 0x100000-0x3ffdffff overlaps the carveout"
	# A header that stops short of the carveout's end proves nothing.
	forge_core low.bin 0x100000 0x39f00000
	run loads_ok "$(elf_loads low.bin)"
	assert_failure
	assert_output --partial "no PT_LOAD covers the RAM at 0x3e000000"
	# No header at all (a dump of the wrong place), or a truncated one.
	head -c 65536 /dev/zero >zero.bin
	run elf_loads zero.bin
	assert_failure
	assert_output --partial "not a little-endian ELF64 file"
	head -c 150 good.bin >short.bin
	run elf_loads short.bin
	assert_failure
	assert_output --partial "do not fit in its 150 bytes"
	# The guest's read of /proc/vmcore: all of it, or a failure.
	run vmcore_read_ok 1000 1000 900
	assert_success
	run vmcore_read_ok 1000 999 900
	assert_failure
	assert_output "read 999 of the 1000 bytes of /proc/vmcore"
	run vmcore_read_ok 800 800 900
	assert_failure
	run vmcore_read_ok "" 0 900
	assert_failure
	assert_output --partial "not numbers"
}
