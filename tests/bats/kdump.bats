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
hvt_chain_firmware
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

# 512 MiB: RAM under SeaBIOS and OVMF alike, clear of OVMF's boot
# services memory near the top of the 1 GiB (reserve.bats).
CARVE_BASE=0x20000000
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

# raw_e820 HEX: the e820_table of a zero page given as hex (struct
# boot_params: e820_entries at 0x1e8, e820_table at 0x2d0, 20-byte
# entries; Documentation/arch/x86/zero-page.rst), one "0xADDR 0xSIZE TYPE"
# line per entry, unsorted and unmerged, as the kernel was handed it.
raw_e820() {
	local f=$BATS_TEST_TMPDIR/zero-page n i o
	[ ${#1} -ge $((2 * 0xd00)) ] || { echo "zero page of ${#1} hex digits"; return 1; }
	printf '%b' "$(sed 's/../\\x&/g' <<<"$1")" >"$f"
	n=$(le_u "$f" $((0x1e8)) 1) || return 1
	for ((i = 0; i < n; i++)); do
		o=$((0x2d0 + 20 * i))
		printf '0x%x 0x%x %d\n' "$(le_u "$f" "$o" 8)" "$(le_u "$f" $((o + 8)) 8)" \
			"$(le_u "$f" $((o + 16)) 4)"
	done
}

# crash_e820_ok LIST: LIST (raw_e820's lines) hands the carveout over
# once, whole and reserved (type 2); otherwise it says why, and fails.
crash_e820_ok() {
	local a s t over=()
	while read -r a s t; do
		[ -n "$a" ] || continue
		[ $((a)) -lt $((CARVE_BASE + CARVE_SIZE)) ] && [ $((a + s)) -gt $((CARVE_BASE)) ] &&
			over+=("$a $s $t")
	done <<<"$1"
	[ ${#over[@]} = 1 ] || { echo "${#over[@]} entries over the carveout: ${over[*]}"; return 1; }
	[ "${over[0]}" = "$(printf '0x%x 0x%x 2' $((CARVE_BASE)) $((CARVE_SIZE)))" ] ||
		{ echo "the carveout handed over as ${over[0]}"; return 1; }
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
	vm_run - "$NOKASLR hvcarve=64M@$CARVE_BASE crashkernel=160M" \
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
	if [ "$fake" = fake-iomem ]; then
		# The control of the scan's count of held ordinary pages.
		hvt_ckpt ram-low 0 $CARVE_BASE
		hvt_ckpt ram-high $((CARVE_BASE + CARVE_SIZE)) $((0x40000000 - CARVE_BASE - CARVE_SIZE))
	fi
	echo c >/proc/sysrq-trigger
	hvt_fail "still alive after the panic"
fi
# The crash kernel: where its ELF core header is (kexec_file_load writes
# elfcorehdr=0xADDR; kexec_load elfcorehdr=NK), for the host to dump.
ech=\$(tr ' ' '\n' </proc/cmdline | sed -n 's/^elfcorehdr=//p')
hvt_result elfcorehdr "\$ech"
# The e820 map kexec_file_load built for this kernel, raw (the zero page
# as it was handed over; the kernel merges duplicates before it prints).
hvt_result boot_params "\$(od -A n -v -t x1 /sys/kernel/boot_params/data | tr -d ' \n')"
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
	# It was handed the carveout once, reserved (E820_TYPE_RESERVED, 2),
	# though /proc/iomem has it twice with IORES_DESC_RESERVED: "hvcarve"
	# and, nested in it, the e820 entry's "Reserved". (The crash e820 of
	# arch/x86/kernel/crash.c takes one: walk_iomem_res_desc() goes on
	# after the end of each match.) raw_e820 reads the zero page's 128
	# entries only, not SETUP_E820_EXT: a longer map fails this check.
	local raw
	raw=$(raw_e820 "$(result boot_params 1)") || fail "the crash kernel's zero page: $raw"
	echo "crash kernel's e820, as handed over:"$'\n'"$raw"
	run crash_e820_ok "$raw"
	assert_success
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

# forge_zero_page [ADDR SIZE TYPE]...: a zero page, as hex, whose
# e820_table holds those entries.
forge_zero_page() {
	local f=$BATS_TEST_TMPDIR/forged-zero-page n=$(($# / 3))
	{
		head -c $((0x1e8)) /dev/zero
		printf '%b' "$(le "$n" 1)"
		head -c $((0x2d0 - 0x1e9)) /dev/zero
		while [ $# -ge 3 ]; do
			printf '%b' "$(le "$1" 8)$(le "$2" 8)$(le "$3" 4)"
			shift 3
		done
		head -c $((0xd00 - 0x2d0 - 20 * n)) /dev/zero
	} >"$f"
	od -An -v -t x1 -- "$f" | tr -d ' \n'
}

# Issue 16, item 10: arch/x86/kernel/crash.c could hand the carveout over
# twice, once for "hvcarve" and once for the "Reserved" nested in it. The
# kdump test above finds it once; this shows its check would see twice.
@test "negative control: the host's check of the crash kernel's e820 catches the carveout handed over twice, split, or as RAM" {
	# RAM from 1 MiB up to the carveout, as the crash kernel's map has it.
	local ram raw
	ram="0x100000 $(printf %#x $((CARVE_BASE - 0x100000))) 1"
	# shellcheck disable=SC2086 # $ram is three words
	raw=$(raw_e820 "$(forge_zero_page $ram $CARVE_BASE $CARVE_SIZE 2)")
	assert_equal "$raw" "$ram"$'\n'"$CARVE_BASE $CARVE_SIZE 2"
	run crash_e820_ok "$raw"
	assert_success
	# shellcheck disable=SC2086
	run crash_e820_ok "$(raw_e820 "$(forge_zero_page $ram $CARVE_BASE $CARVE_SIZE 2 $CARVE_BASE $CARVE_SIZE 2)")"
	assert_failure
	assert_output "2 entries over the carveout: $CARVE_BASE $CARVE_SIZE 2 $CARVE_BASE $CARVE_SIZE 2"
	# shellcheck disable=SC2086
	run crash_e820_ok "$(raw_e820 "$(forge_zero_page $ram $CARVE_BASE $((CARVE_SIZE / 2)) 2 $((CARVE_BASE + CARVE_SIZE / 2)) $((CARVE_SIZE / 2)) 2)")"
	assert_failure
	assert_output --partial "2 entries over the carveout"
	run crash_e820_ok "$(raw_e820 "$(forge_zero_page $CARVE_BASE $CARVE_SIZE 1)")"
	assert_failure
	assert_output "the carveout handed over as $CARVE_BASE $CARVE_SIZE 1"
	# shellcheck disable=SC2086
	run crash_e820_ok "$(raw_e820 "$(forge_zero_page $ram)")"
	assert_failure
	assert_output "0 entries over the carveout: "
}

@test "negative control: the host's elfcorehdr check rejects a carveout PT_LOAD, a bad header, a short read" {
	cd "$BATS_TEST_TMPDIR"
	local loads
	# Control: RAM below and right after the carveout, as the real header,
	# up to the top of the 1 GiB (0x3ffe0000).
	local below=$((CARVE_BASE - 0x100000)) end=$((CARVE_BASE + CARVE_SIZE))
	local above=$((0x3ffe0000 - end))
	forge_core good.bin 0x100000 $below $end $above
	run elf_loads good.bin
	assert_success
	assert_output "0x100000 $(printf %#x $((CARVE_BASE - 1)))
$(printf %#x $end) 0x3ffdffff
memsz $((below + above))"
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
	forge_core low.bin 0x100000 $below
	run loads_ok "$(elf_loads low.bin)"
	assert_failure
	assert_output --partial "no PT_LOAD covers the RAM at $(printf %#x $end)"
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

# --- makedumpfile ----------------------------------------------------------
#
# kdump as distributions do it: Debian's makedumpfile in the crash kernel
# filters /proc/vmcore (-d 31: zero, cache, user and free pages out) into
# a dump file. The binary and its libraries travel in an extra initramfs
# piece built here; the first kernel's root file system, repacked for the
# crash kernel, takes it along. The first kernel has the whole carveout
# deposited and 300 ordinary pages on top (hvcarve.overflow=allow), which
# it marks PageOffline: makedumpfile must count those as "Offline pages"
# and leave them out. The host checks
#   * the carveout byte for byte, before the panic and after makedumpfile;
#   * the crash kernel's whole memory after makedumpfile (tests/progs/
#     carve-scan.c, every byte offset): no copy of a carveout page (the
#     simulator's page header, naming a carveout pfn) may be in it. The
#     dump file lives in that memory (a tmpfs), so a dumped carveout page
#     would be found there;
#   * makedumpfile's own account, and the panicked kernel's log it
#     extracts from the dump file (--dump-dmesg), with a marker this test
#     wrote into it just before the panic.
# Negative control: a kexec -p -l whose /proc/iomem (bind-mounted over)
# calls the carveout System RAM, so that kexec-tools puts it in the
# crash kernel's ELF core header: then makedumpfile dumps every carveout
# page, the scan finds them all, and the carveout is still byte-identical
# (so the dump comparison alone could not have told).
#
# Debian 12's makedumpfile (1.7.2) predates 7.3: it prints "The kernel
# version is not supported." and "The makedumpfile operation may be
# incomplete." and goes on, reading 7.3's VMCOREINFO (page types by value,
# PAGE_BUDDY_MAPCOUNT_VALUE and PAGE_OFFLINE_MAPCOUNT_VALUE). The test
# records that warning and checks the result instead of trusting it.

MDF_CRASHKERNEL=256M  # room for a dump with the whole carveout in it (the negative control)
MDF_DEPOSIT=$(( (CARVE_SIZE >> 12) + 300 ))

setup_file() {
	local mdf=${MAKEDUMPFILE:-/usr/bin/makedumpfile} st lib
	[ -x "$mdf" ] || fail "no $mdf: install-deps.sh installs makedumpfile"
	st=$BATS_FILE_TMPDIR/mdf-stage
	mkdir -p "$st/usr/bin"
	cp -L "$mdf" "$st/usr/bin/makedumpfile"
	while read -r lib; do
		mkdir -p "$st/$(dirname "$lib")"
		cp -L "$lib" "$st/$lib"
	done < <(ldd "$mdf" | awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }')
	[ -e "$st/lib64/ld-linux-x86-64.so.2" ] || fail "ldd $mdf named no dynamic loader"
	(cd "$st" && find . | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --reproducible --quiet) \
		>"$BATS_FILE_TMPDIR/makedumpfile.cpio"
	gcc -O2 -Wall -Wextra -Werror -o "$BATS_FILE_TMPDIR/carve-scan" "$HVT_ROOT/tests/progs/carve-scan.c"
}

# carve_scan FILE: "COPIES DISTINCT OTHER": carveout page headers in FILE,
# the carveout pfns they name, and headers of held pages outside the
# carveout (ordinary pages deposited, or copies of them).
carve_scan() {
	local out
	out=$("$BATS_FILE_TMPDIR/carve-scan" "$1" "$CARVE_BASE" "$CARVE_SIZE") || return 1
	[[ $out =~ ^copies\ ([0-9]+)\ distinct\ ([0-9]+)\ other\ ([0-9]+)$ ]] ||
		{ echo "carve-scan said '$out'"; return 1; }
	echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]} ${BASH_REMATCH[3]}"
}

# mdf_run SYSCALL [fake-iomem]: the whole carveout and 300 ordinary pages
# deposited, kexec SYSCALL -p (-s: kexec_file_load, -c: kexec_load), a
# panic, makedumpfile -d 31 in the crash kernel. With fake-iomem (only
# with -c), kexec-tools reads a /proc/iomem in which the carveout is
# System RAM.
mdf_run() {
	local sys=$1 fake=${2:-} token=$RANDOM$RANDOM
	vm_run - "$NOKASLR hvcarve=64M@$CARVE_BASE crashkernel=$MDF_CRASHKERNEL hvcarve.overflow=allow" \
		--initrd "$BATS_FILE_TMPDIR/makedumpfile.cpio" \
		--allow 'Kernel panic - not syncing: sysrq triggered crash' <<EOS2
. /hvt/sim.sh
if [ "\$(hvt_gen)" = 0 ]; then
	cr=\$(grep 'Crash kernel' /proc/iomem | tr -d ' ')
	hvt_result crash_res "\$cr"
	s=\${cr%%-*} e=\${cr#*-}
	e=\${e%%:*}
	hvt_state_set crash_range "0x\$s \$((0x\$e - 0x\$s + 1))"
	hvt_sim_deposit $MDF_DEPOSIT 1 || hvt_fail "deposit: \$hvt_sim_err"
	hvt_result overflow_pages "\$(cat \$HVT_HVC/overflow_pages)"
	hvt_result free_pages "\$(cat \$(hvt_region)/free_pages)"
	if [ "$fake" = fake-iomem ]; then
		awk '/^[0-9a-f]+-[0-9a-f]+ : / { skip = 0 }
			/^$(printf '%x' $((CARVE_BASE)))-/ { print \$1 " : System RAM"; skip = 1; next }
			skip && /^ / { next } { print }' /proc/iomem >/tmp/iomem
		mount --bind /tmp/iomem /proc/iomem || hvt_fail "cannot bind-mount over /proc/iomem"
		hvt_result fake_iomem "\$(grep -c '^$(printf '%x' $((CARVE_BASE)))-.* : System RAM\$' /proc/iomem)"
	fi
	hvt_rebuild_initramfs /tmp/crash.cpio || hvt_fail "initramfs"
	kexec $sys -p /boot/vmlinuz-new --initrd=/tmp/crash.cpio \
		--append="console=ttyS0 nokaslr irqpoll nr_cpus=1 reset_devices" || hvt_fail "kexec $sys -p"
	rm -f /tmp/crash.cpio
	hvt_result crash_loaded "\$(cat /sys/kernel/kexec_crash_loaded)"
	hvt_ckpt pre-panic $CARVE_BASE $CARVE_SIZE
	if [ "$fake" = fake-iomem ]; then
		# The control of the scan's count of held ordinary pages.
		hvt_ckpt ram-low 0 $CARVE_BASE
		hvt_ckpt ram-high $((CARVE_BASE + CARVE_SIZE)) $((0x40000000 - CARVE_BASE - CARVE_SIZE))
	fi
	echo "hvt-kdump-marker $token" >/dev/kmsg
	echo c >/proc/sysrq-trigger
	hvt_fail "still alive after the panic"
fi
vmcore-phdrs >/tmp/phdrs || hvt_fail "no PT_LOAD in /proc/vmcore"
hvt_result phdrs "\$(tr '\n' ' ' </tmp/phdrs)"
# The dump goes to /tmp, a tmpfs of half the crash kernel's memory by
# default: too small for the negative control's dump.
mount -o remount,size=90% /tmp || hvt_fail "cannot grow /tmp"
rc=0
makedumpfile --message-level 31 -d 31 /proc/vmcore /tmp/dump >/tmp/mdf.out 2>&1 || rc=\$?
hvt_result mdf_rc "\$rc"
tr '\r' '\n' </tmp/mdf.out >/tmp/mdf.txt
hvt_result mdf_notes "\$(grep -E '^(The kernel version|The makedumpfile operation|makedumpfile (Completed|Failed))' /tmp/mdf.txt | sort -u | tr '\n' '|')"
[ "\$rc" = 0 ] || hvt_fail "makedumpfile -d 31 exited \$rc: \$(tail -n 5 /tmp/mdf.txt | tr '\n' '|')"
sed -n -E 's/^ *(Original pages|Pages filled with zero|Non-private cache pages|Private cache pages|User process data pages|Free pages|Offline pages|Remaining pages|Total pages) *: (0x[0-9a-f]+)\$/\1=\2/p' /tmp/mdf.txt |
	tr ' ' '_' >/tmp/report
while IFS== read -r k v; do hvt_result "mdf.\$k" "\$v"; done </tmp/report
hvt_result dump_magic "\$(head -c 8 /tmp/dump | tr -c 'A-Z' '_')"
hvt_result dump_bytes "\$(stat -c %s /tmp/dump)"
rc=0
makedumpfile --dump-dmesg /tmp/dump /tmp/dmesg.txt >/tmp/dmesg.out 2>&1 || rc=\$?
hvt_result dmesg_rc "\$rc"
hvt_result dmesg_marker "\$(grep -c 'hvt-kdump-marker $token\$' /tmp/dmesg.txt)"
hvt_result dmesg_panic "\$(grep -c 'Kernel panic - not syncing: sysrq triggered crash' /tmp/dmesg.txt)"
hvt_ckpt after-makedumpfile $CARVE_BASE $CARVE_SIZE
hvt_ckpt crash-memory \$(hvt_state_get crash_range)
hvt_done
EOS2
}

# mdf_val KEY: a number of makedumpfile's report (0x...), as decimal.
mdf_val() {
	local v
	v=$(result "mdf.$1" 1) || { echo "no makedumpfile '$1' line" >&2; return 1; }
	[[ $v =~ ^0x[0-9a-f]+$ ]] || { echo "makedumpfile '$1' is '$v'" >&2; return 1; }
	echo $((v))
}

# The checks of a makedumpfile run, shared by both syscalls.
mdf_checks() {
	local held scan copies distinct offline free total remaining orig
	assert_equal "$(result crash_loaded 0)" 1
	assert_equal "$(last_gen)" 1
	# The host's decode: the whole carveout held before the panic, and 300
	# ordinary pages deposited on top (the kernel's count).
	held=$("$HVT_ROOT/tools/hvcarve/hvcarve-dump" decode --base "$CARVE_BASE" "$(dump_file pre-panic)" |
		awk '$1 == "held" { print $2 }')
	assert_equal "$held" $((CARVE_SIZE >> 12))
	assert_equal "$(result overflow_pages 0)" 300
	assert_equal "$(result free_pages 0)" 0
	# makedumpfile ran to its end and wrote a kdump-compressed file.
	assert_equal "$(result mdf_rc 1)" 0
	echo "makedumpfile said: $(result mdf_notes 1)"
	assert_equal "$(result dump_magic 1)" KDUMP___
	# Its account: the ordinary pages as Offline, free pages left out.
	offline=$(mdf_val Offline_pages) free=$(mdf_val Free_pages) total=$(mdf_val Total_pages)
	remaining=$(mdf_val Remaining_pages) orig=$(mdf_val Original_pages)
	echo "makedumpfile: original $orig, free $free, offline $offline, remaining $remaining, total $total"
	assert_equal "$offline" 300
	[ "$free" -gt 0 ] || fail "makedumpfile excluded no free page"
	[ "$remaining" -lt "$orig" ] || fail "makedumpfile excluded nothing"
	# The dump holds the panicked kernel: its log, to the marker written
	# just before the panic, and the panic itself.
	assert_equal "$(result dmesg_rc 1)" 0
	assert_equal "$(result dmesg_marker 1)" 1
	assert_equal "$(result dmesg_panic 1)" 1
	# Nothing wrote to the carveout.
	dumps_equal pre-panic after-makedumpfile
	# The vmcore's PT_LOADs leave the carveout out, and no page of it is in
	# the crash kernel's memory (host scan).
	local why
	why=$(loads_ok "$(result phdrs 1 | xargs -n 2)") || fail "vmcore: $why"
	scan=$(carve_scan "$(dump_file crash-memory)") || fail "$scan"
	echo "held-page headers in the crash kernel's memory (carveout copies, distinct, other): $scan"
	# Nor a copy of any page the hypervisor held: the 300 ordinary pages
	# were left out as Offline, unread.
	assert_equal "$scan" "0 0 0"
}

@test "kdump: makedumpfile -d 31 after kexec -p -s never touches the carveout (host scan of the crash kernel's memory)" {
	mdf_run -s
	mdf_checks
	assert_equal "$(dump_size crash-memory)" $((256 << 20))
}

@test "kdump: makedumpfile -d 31 after kexec -p -l never touches the carveout (host scan of the crash kernel's memory)" {
	mdf_run -c
	mdf_checks
}

@test "kdump negative control: a vmcore that includes the carveout gets it dumped, and the host scan finds every page" {
	mdf_run -c fake-iomem
	assert_equal "$(result fake_iomem 0)" 1
	# kexec-tools took the lie: the carveout is in the crash kernel's vmcore.
	run loads_ok "$(result phdrs 1 | xargs -n 2)"
	assert_failure
	assert_output --partial "overlaps the carveout"
	assert_equal "$(result mdf_rc 1)" 0
	local scan copies distinct other low high
	scan=$(carve_scan "$(dump_file crash-memory)") || fail "$scan"
	echo "held-page headers in the crash kernel's memory (carveout copies, distinct, other): $scan"
	read -r copies distinct other <<<"$scan"
	# Every held carveout page is in the dump file, so in that memory.
	assert_equal "$distinct" $((CARVE_SIZE >> 12))
	[ "$copies" -ge "$distinct" ]
	# The ordinary pages, Offline, stay out of the dump all the same.
	assert_equal "$other" 0
	# The scan's "other" count finds held ordinary pages where they are:
	# the first kernel's 300, in its RAM outside the carveout.
	low=$(carve_scan "$(dump_file ram-low)") || fail "$low"
	high=$(carve_scan "$(dump_file ram-high)") || fail "$high"
	echo "held-page headers in the first kernel's RAM below and above the carveout: $low; $high"
	[ $(("${low##* }" + "${high##* }")) = 300 ] ||
		fail "the scan found $(("${low##* }" + "${high##* }")) held ordinary pages in RAM, not the 300 deposited"
	# ...while the carveout itself is unchanged: reading leaves no trace
	# in it, which is why the host scans the crash kernel's memory.
	dumps_equal pre-panic after-makedumpfile
}
