#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# The foundation: hvcarve= reserves the carveout, every later kernel
# (patched or stock 6.1, kexec -l or -s, nothing on its command line)
# receives it as reserved, bad input fails closed, KASLR avoids it.
# Real QEMU (TCG), real kexec-tools, real kernels.

load helpers
hvt_chain_firmware
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

# 64 MiB at 512 MiB: RAM in the 1 GiB maps of SeaBIOS and OVMF, clear of
# the kernel (16 MiB with nokaslr), of the initrd at the top, and of
# OVMF's boot services memory near the top (a carveout at 928 MiB
# overlapped it, at 0x3bf75000 in one boot, and the kernel rejected it).
CARVE_BASE=0x20000000
CARVE_SIZE=0x4000000
CARVE="hvcarve=64M@$CARVE_BASE"

teardown() {
	hvt_teardown
}

# What every generation reports about hvcarve, then what the scenario adds.
report_state() {
	cat <<'EOF'
s=/sys/kernel/mm/hvcarve
hvt_result state "$(cat $s/state 2>/dev/null || echo absent)"
hvt_result iomem_hvcarve "$(grep -c ': hvcarve$' /proc/iomem)"
hvt_result memtotal_kb "$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
EOF
}

@test "boot with a 64 MiB carveout: dmesg, e820, iomem, sysfs, MemTotal, /dev/mem" {
	vm_run - "$NOKASLR" <<EOF
$(report_state)
hvt_done
EOF
	local base_total
	base_total=$(result memtotal_kb 0)

	vm_run - "$NOKASLR $CARVE" <<EOF
$(report_state)
r=\$s/region@20000000
hvt_result region0 "\$(cat \$r/base) \$(cat \$r/size) \$(cat \$r/node) \$(cat \$r/total_pages)"
hvt_result regions "\$(ls -d \$s/region* | wc -l)"
hvt_result iomem_line "\$(grep -A1 ': hvcarve\$' /proc/iomem | tr -s ' ' | tr '\n' '|')"
# One page in the middle of the carveout, through /dev/mem.
if dd if=/dev/mem of=/tmp/page bs=4096 count=1 skip=\$(( ($CARVE_BASE + 0x100000) / 4096 )) 2>/tmp/err; then
	hvt_result devmem_carveout "readable"
else
	hvt_result devmem_carveout "refused: \$(cat /tmp/err | head -n 1)"
fi
# Control: /dev/mem works at all (the low 1 MiB is always allowed).
if dd if=/dev/mem of=/tmp/page bs=4096 count=1 skip=$(( 0xf0000 / 4096 )) 2>/dev/null; then
	hvt_result devmem_control readable
else
	hvt_result devmem_control refused
fi
hvt_done
EOF
	run console_grep -g 0 'hvcarve: region 0: \[mem 0x0000000020000000-0x0000000023ffffff\] 64 MiB reserved'
	assert_success
	# The map this kernel uses has the range as hvcarve's own type...
	e820_range_is 0 "$CARVE_BASE" "$CARVE_SIZE" hvcarve modified
	# ...by its name, as e820_print_type() prints it (a kernel without
	# hvcarve prints "type 4026531838": the 6.1 test below).
	run console_grep -g 0 'modified: \[mem 0x0000000020000000-0x0000000023ffffff\] +hvcarve$'
	assert_success
	run e820_range_overlaps 0 "$CARVE_BASE" "$CARVE_SIZE" usable modified
	assert_failure
	# ...while the firmware's map, as booted, had it as RAM.
	e820_range_is 0 "$CARVE_BASE" "$CARVE_SIZE" usable BIOS-e820
	assert_equal "$(result state 0)" active
	assert_equal "$(result regions 0)" 1
	assert_equal "$(result region0 0)" "0x20000000 67108864 0 16384"
	assert_equal "$(result iomem_hvcarve 0)" 1
	# The busy, exclusive "hvcarve" at the top level, the e820 entry
	# ("Reserved", the name kexec-tools reads as reserved) inside it.
	assert_equal "$(result iomem_line 0)" "20000000-23ffffff : hvcarve| 20000000-23ffffff : Reserved|"
	# MemTotal shrank by the carveout (64 MiB), give or take the memory
	# map and page tables of a slightly different layout.
	local carve_total diff
	carve_total=$(result memtotal_kb 0)
	diff=$((base_total - carve_total))
	echo "MemTotal without: $base_total kB, with: $carve_total kB, diff $diff kB"
	[ "$diff" -ge $((65536 - 1024)) ]
	[ "$diff" -le $((65536 + 1024)) ]
	assert_equal "$(result devmem_control 0)" readable
	run result devmem_carveout 0
	assert_output --partial "refused"
	assert_output --partial "Operation not permitted"
}

# Generation 0 reserves; generations 1 and 2 get nothing on the command line.
chain_scenario() {
	local mode1=$1 kernel1=$2 mode2=$3 kernel2=$4
	cat <<EOF
$(report_state)
case \$(hvt_gen) in
0) hvt_kexec $mode1 $kernel1 ;;
1) hvt_kexec $mode2 $kernel2 ;;
*) hvt_done ;;
esac
EOF
}

# assert_chain_reserved TYPE1 TYPE2: every kernel after the first got
# neither hvcarve= nor memmap=, yet its boot e820 has the whole carveout as
# TYPEn (for generation n) and no byte of it usable. kexec_file_load (-s)
# hands the kexec table on as it is, so E820_TYPE_HVCARVE arrives as
# "hvcarve"; kexec-tools (-l) makes every range it does not know
# "reserved". Explicit returns: this also runs under `run`, where a
# failing command does not stop a function.
assert_chain_reserved() {
	local gen cmdline types=("" "$1" "$2")
	[ "$(console_boots)" = 3 ] || { echo "expected 3 boots"; return 1; }
	for gen in 1 2; do
		cmdline=$(result cmdline "$gen") || { echo "no cmdline for gen $gen"; return 1; }
		case $cmdline in
		*hvcarve=* | *memmap=*) echo "gen $gen was told: $cmdline"; return 1 ;;
		esac
		e820_range_is "$gen" "$CARVE_BASE" "$CARVE_SIZE" "${types[gen]}" BIOS-e820 ||
			{ echo "gen $gen: carveout not ${types[gen]} in its boot e820"; return 1; }
		if e820_range_overlaps "$gen" "$CARVE_BASE" "$CARVE_SIZE" usable BIOS-e820; then
			echo "gen $gen: part of the carveout is usable RAM"
			return 1
		fi
	done
}

@test "patched -> patched (kexec -l) -> patched (kexec -s): reserved with no parameter" {
	vm_run - "$NOKASLR $CARVE" < <(chain_scenario -l /boot/vmlinuz-new -s /boot/vmlinuz-new)
	# Gen 1 has no hvcarve=: it hands its boot map on as it got it.
	assert_chain_reserved reserved reserved
	assert_equal "$(result uname_r 1)" "$(result uname_r 0)"
	assert_equal "$(result state 1)" disabled
	assert_equal "$(result state 2)" disabled
	# The kexec'd kernels lost the 64 MiB too.
	[ "$(result memtotal_kb 1)" -lt $(( $(result memtotal_kb 0) + 2048 )) ]
}

@test "patched -> stock 6.1 (kexec -s) -> patched (kexec -l): reserved through an old kernel" {
	vm_run - "$NOKASLR $CARVE" < <(chain_scenario -s /boot/vmlinuz-old -l /boot/vmlinuz-new)
	# 6.1 keeps the type it does not know, and passes it to kexec-tools
	# as "Unknown E820 type", which kexec-tools makes reserved.
	assert_chain_reserved hvcarve reserved
	run console_grep -g 1 'BIOS-e820: \[mem 0x0000000020000000-0x0000000023ffffff\] type 4026531838'
	assert_success
	run result uname_r 1
	assert_output --regexp '^6\.1\.'
	assert_equal "$(result state 1)" absent
	assert_equal "$(result state 2)" disabled
}

@test "patched -> stock 6.1 (kexec -l) -> patched (kexec -s): reserved through an old kernel" {
	vm_run - "$NOKASLR $CARVE" < <(chain_scenario -l /boot/vmlinuz-old -s /boot/vmlinuz-new)
	assert_chain_reserved reserved reserved
	run result uname_r 1
	assert_output --regexp '^6\.1\.'
}

# Negative control of the chain check: memmap= alone on the first boot is
# not carried by kexec, so the next kernel must see the range as usable.
@test "negative control: memmap=\$ on the first boot only does not reach the next kernel" {
	vm_run - "$NOKASLR memmap=64M\$$CARVE_BASE" < <(chain_scenario -s /boot/vmlinuz-new -l /boot/vmlinuz-new)
	# The first kernel did reserve it...
	e820_range_is 0 "$CARVE_BASE" "$CARVE_SIZE" reserved user
	# ...but the next one got it as RAM, and the check says so.
	e820_range_overlaps 1 "$CARVE_BASE" "$CARVE_SIZE" usable BIOS-e820
	run assert_chain_reserved reserved reserved
	assert_failure
	assert_output "gen 1: carveout not reserved in its boot e820"
}
