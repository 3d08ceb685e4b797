#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# Tests for scripts/hvcarve-cmdline.sh.  Machine fixtures live under
# tests/fixtures/cmdline/: qemu-1g (QEMU, 1 GiB, running with
# hvcarve=64M@0x30000000 and crashkernel=128M) and numa-2node (two NUMA
# nodes, RAM above 4 GiB split per node, a 2 GiB hole, crashkernel=,high),
# ovmf-1g (captured from an OVMF guest running the patched kernel, with
# the EFI memory map it printed; see the UEFI section below),
# plus command lines in tests/fixtures/cmdline/cmdlines/.
#
# Literal $ in single quotes is intended throughout; $stderr is set by bats.
# shellcheck disable=SC2016,SC2154

bats_require_minimum_version 1.5.0

setup() {
	load '/usr/lib/bats/bats-support/load'
	load '/usr/lib/bats/bats-assert/load'
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	HV=$REPO/scripts/hvcarve-cmdline.sh
	FIX=$REPO/tests/fixtures/cmdline
	QEMU=$FIX/qemu-1g
	NUMA=$FIX/numa-2node
	CL=$FIX/cmdlines
	# Output that this suite evaluates (eval, or a shell sourcing a GRUB
	# file) carries payloads that create this file, and nothing worse, if
	# quoting ever breaks; each such test asserts it does not exist.
	CANARY=$BATS_TEST_TMPDIR/canary
	set -o pipefail
}

# guarded_eval VAR TEXT: VAR=TEXT evaluated in a subshell with no PATH
# (no command can be found, should a payload ever get out); prints VAR.
# Then the canary must not exist.
guarded_eval() {
	(
		PATH=/nonexistent
		eval "$1=$2"
		printf '%s' "${!1}"
	)
}

# no_canary: fail if an evaluated payload created the canary.
no_canary() {
	if [ -e "$CANARY" ]; then
		echo "quoting broke: evaluated output ran a payload ($CANARY exists)"
		return 1
	fi
}

# guarded_words TEXT: the words of TEXT, as a shell command line (the way
# the user would run it), evaluated as guarded_eval does; NUL-terminated.
guarded_words() {
	(
		PATH=/nonexistent
		eval "set -- $1"
		printf '%s\0' "$@"
	)
}

# A copy of the qemu-1g machine without /sys/firmware/memmap.
iomem_only_root() {
	local r=$BATS_TEST_TMPDIR/iomem-only
	mkdir -p "$r/proc"
	cp "$QEMU/proc/iomem" "$QEMU/proc/cmdline" "$r/proc/"
	printf '%s' "$r"
}

# ---------------------------------------------------------------- usage --

@test "no subcommand is a usage error" {
	run "$HV"
	assert_failure 2
	assert_output --partial "hvcarve-cmdline: error: a subcommand is needed"
}

@test "unknown subcommand is a usage error" {
	run "$HV" frobnicate
	assert_failure 2
	assert_output --partial "hvcarve-cmdline: error: unknown subcommand 'frobnicate'"
}

@test "every subcommand has --help documenting the exit codes" {
	local sub
	for sub in next check suggest size kexec-args; do
		run "$HV" "$sub" --help
		assert_success
		assert_line --index 0 --partial "Usage: hvcarve-cmdline $sub "
		assert_output --partial "Exit status:"
		assert_output --partial "2  usage error"
		assert_output --partial "3  input unavailable"
	done
	run "$HV" --help
	assert_success
	assert_output --partial "kexec-args  print a kexec command"
}

@test "next --help documents dropped parameters, canonical form and GRUB escaping" {
	run "$HV" next --help
	assert_success
	assert_output --partial "BOOT_IMAGE="
	assert_output --partial "initrd="
	assert_output --partial "kexec_jump_back_entry="
	assert_output --partial "elfcorehdr="
	assert_output --partial "crashkernel= is deliberately kept"
	assert_output --partial 'lower-case hexadecimal with 0x'
	assert_output --partial 'GRUB_CMDLINE_LINUX="... memmap=64M\\\$0x30000000"'
}

@test "next rejects an unknown flag" {
	run "$HV" next --bogus
	assert_failure 2
	assert_output --partial "hvcarve-cmdline: error: next: unknown option '--bogus'"
	assert_output --partial "Try 'hvcarve-cmdline next --help'."
}

@test "unknown flags are usage errors for every subcommand" {
	local sub
	for sub in check suggest size kexec-args; do
		run "$HV" "$sub" --frob
		assert_failure 2
		assert_output --partial "hvcarve-cmdline: error: $sub: unknown option '--frob'"
	done
}

@test "an option without its argument is a usage error" {
	run "$HV" next --cmdline
	assert_failure 2
	assert_output --partial "option '--cmdline' needs an argument"
}

@test "next rejects an unknown format" {
	run "$HV" next --cmdline 'hvcarve=2M@0x1000000' --format yaml
	assert_failure 2
	assert_output --partial "next: unknown format 'yaml' (raw, grub or shell)"
}

@test "next rejects two inputs at once" {
	run "$HV" next --cmdline 'quiet' --from "$CL/repeated.cmdline"
	assert_failure 2
	assert_output --partial "give only one of --cmdline, --from and --root"
}

@test "next --from a missing file exits 3" {
	run "$HV" next --from "$BATS_TEST_TMPDIR/nope"
	assert_failure 3
	assert_output "hvcarve-cmdline: error: cannot read $BATS_TEST_TMPDIR/nope"
}

# ----------------------------------------------------------------- next --

@test "next reads DIR/proc/cmdline, drops BOOT_IMAGE and keeps the rest in order" {
	run "$HV" next --root "$QEMU"
	assert_success
	assert_output 'root=UUID=0f3c5a8e-9a51-4a0e-8a52-2d6d8b3e6c11 ro console=ttyS0,115200n8 crashkernel=128M hvcarve=64M@0x30000000 memmap=64M$0x30000000 quiet'
}

@test "next reads /proc/cmdline by default" {
	[[ -r /proc/cmdline ]] || skip "no /proc/cmdline"
	run --separate-stderr "$HV" next --from /proc/cmdline
	local expected=$output expected_status=$status
	run --separate-stderr "$HV" next
	assert_equal "$status" "$expected_status"
	assert_output "$expected"
}

@test "next canonicalises hex, decimal and suffixes, and removes duplicate memmaps" {
	run "$HV" next --cmdline 'a hvcarve=0x4000000@805306368,2048K@0x100000000 b memmap=67108864$0x30000000 memmap=0x200000$4294967296 c'
	assert_success
	assert_output 'a hvcarve=64M@0x30000000,2M@0x100000000 memmap=64M$0x30000000 memmap=2M$0x100000000 b c'
}

@test "next accepts lower-case suffixes and reads a leading 0 as octal, with a warning" {
	run --separate-stderr "$HV" next --cmdline 'hvcarve=2m@0100000000,1g@0x40000000'
	assert_success
	assert_output 'hvcarve=2M@0x1000000,1G@0x40000000 memmap=2M$0x1000000 memmap=1G$0x40000000'
	[[ $stderr == *"address '0100000000' has a leading 0, so the kernel reads it as octal"* ]]
}

@test "next: sizes without an exact binary suffix stay decimal-free of rounding" {
	run "$HV" next --cmdline 'hvcarve=0x201000@0x1000000,0x1000@0x7ffff000'
	assert_success
	assert_output 'hvcarve=2052K@0x1000000,4K@0x7ffff000 memmap=2052K$0x1000000 memmap=4K$0x7ffff000'
}

@test "next merges repeated hvcarve= parameters into their union" {
	run "$HV" next --from "$CL/repeated.cmdline"
	assert_success
	assert_output 'root=/dev/sda2 ro hvcarve=2M@0x1000000,4M@0x2000000 memmap=2M$0x1000000 memmap=4M$0x2000000 quiet memmap=16M$0x50000000 splash'
}

@test "next is idempotent" {
	local f first
	for f in repeated.cmdline hostile.cmdline kaslr-five.cmdline; do
		first=$("$HV" next --from "$CL/$f" 2>/dev/null)
		run --separate-stderr "$HV" next --cmdline "$first"
		assert_success
		assert_output "$first"
	done
	first=$("$HV" next --root "$QEMU")
	run "$HV" next --cmdline "$first"
	assert_output "$first"
}

@test "next --add appends regions before -- when there is no hvcarve=" {
	run "$HV" next --cmdline 'root=/dev/sda1 quiet -- single' --add 0x2000000@0x40000000 --add 32M@1073741824
	assert_success
	assert_output 'root=/dev/sda1 quiet hvcarve=32M@0x40000000 memmap=32M$0x40000000 -- single'
}

@test "next drops BOOT_IMAGE, initrd, kexec_jump_back_entry and elfcorehdr, keeps crashkernel" {
	run "$HV" next --cmdline 'BOOT_IMAGE=/vmlinuz initrd=\EFI\initrd.img kexec-jump-back-entry=0x9f000 elfcorehdr=0x7f000000 crashkernel=256M hvcarve=2M@0x1000000 ro'
	assert_success
	assert_output 'crashkernel=256M hvcarve=2M@0x1000000 memmap=2M$0x1000000 ro'
	run "$HV" next --cmdline 'crashkernel=256M hvcarve=2M@0x1000000 ro' --drop crashkernel
	assert_success
	assert_output 'hvcarve=2M@0x1000000 memmap=2M$0x1000000 ro'
}

@test "next handles quotes, spaces, \$ in other parameters, tabs, newlines and --" {
	run "$HV" next --from "$CL/hostile.cmdline"
	assert_success
	assert_output 'root=/dev/vda1 ro dyndbg="file drivers/hv/* +p" hvcarve=64M@0x30000000 memmap=64M$0x30000000 systemd.setenv=PS1=$HOME> "quoted=x y" crashkernel=256M -- single "two words" hvcarve=2M@0x0'
}

@test "next leaves hvcarve=, memmap= and initrd= after -- to init" {
	run --separate-stderr "$HV" next --cmdline $'quiet\t--\tinitrd=x\thvcarve=junk  memmap=1@2'
	assert_success
	assert_output 'quiet -- initrd=x hvcarve=junk memmap=1@2'
}

@test "next follows the kernel for quoted parameters and an unbalanced quote" {
	run "$HV" next --cmdline '"hvcarve=2M@0x1000000" hvcarve="4M@0x2000000" "BOOT_IMAGE=/a b"'
	assert_success
	assert_output 'hvcarve=2M@0x1000000,4M@0x2000000 memmap=2M$0x1000000 memmap=4M$0x2000000'
	# The kernel reads everything after an unbalanced quote as one value,
	# so there is no hvcarve= parameter here.
	run --separate-stderr "$HV" next --cmdline 'foo="open hvcarve=2M@0x1000000'
	assert_success
	assert_output 'foo="open hvcarve=2M@0x1000000'
	assert_equal "$stderr" "hvcarve-cmdline: warning: no hvcarve= regions: nothing to reserve"
}

@test "next keeps a quoted value with spaces, tabs and a newline intact" {
	run "$HV" next --cmdline $'a="x  y\tz\nw" hvcarve=2M@0x1000000'
	assert_success
	assert_output $'a="x  y\tz\nw" hvcarve=2M@0x1000000 memmap=2M$0x1000000'
}

@test "next on empty input prints an empty line and warns" {
	run --separate-stderr "$HV" next --from "$CL/empty.cmdline"
	assert_success
	assert_output ''
	assert_equal "$stderr" "hvcarve-cmdline: warning: no hvcarve= regions: nothing to reserve"
	run --separate-stderr "$HV" next --cmdline $' \t\n '
	assert_success
	assert_output ''
}

@test "next keeps unrelated memmap entries and the rest of a memmap list" {
	run "$HV" next --cmdline 'memmap=64M$0x30000000,16M$0x50000000 hvcarve=64M@0x30000000 memmap=1G@0x100000000 memmap=4K#0x9f000'
	assert_success
	assert_output 'memmap=16M$0x50000000 hvcarve=64M@0x30000000 memmap=64M$0x30000000 memmap=1G@0x100000000 memmap=4K#0x9f000'
}

@test "next refuses memmap=X@Y (usable RAM) overlapping the carveout" {
	run "$HV" next --from "$CL/conflict-usable.cmdline"
	assert_failure 1
	assert_output "hvcarve-cmdline: error: memmap=32M@0x32000000 conflicts with hvcarve region 64M@0x30000000: it declares usable RAM inside the carveout"
}

@test "next refuses a memmap\$ of a different extent overlapping a region" {
	run "$HV" next --cmdline 'hvcarve=64M@0x30000000 memmap=32M$0x31000000'
	assert_failure 1
	assert_output 'hvcarve-cmdline: error: memmap=32M$0x31000000 conflicts with hvcarve region 64M@0x30000000: it overlaps the region but is not memmap=64M$0x30000000'
}

@test "next refuses memmap # and ! over a region, RAM limits below it, and exactmap" {
	run "$HV" next --cmdline 'hvcarve=64M@0x30000000 memmap=4K#0x30000000 memmap=1M!0x33f00000'
	assert_failure 1
	assert_line "hvcarve-cmdline: error: memmap=4K#0x30000000 conflicts with hvcarve region 64M@0x30000000: it changes the type of memory inside the carveout"
	assert_line "hvcarve-cmdline: error: memmap=1M!0x33f00000 conflicts with hvcarve region 64M@0x30000000: it changes the type of memory inside the carveout"
	run "$HV" next --cmdline 'hvcarve=64M@0x30000000 memmap=512M'
	assert_failure 1
	assert_output "hvcarve-cmdline: error: memmap=512M conflicts with hvcarve region 64M@0x30000000: it removes all RAM above 0x20000000"
	run "$HV" next --cmdline 'memmap=exactmap memmap=640K@0 hvcarve=64M@0x30000000'
	assert_failure 1
	assert_output --partial "memmap=exactmap replaces the whole memory map"
}

@test "next warns about a memmap it cannot parse and keeps it" {
	run --separate-stderr "$HV" next --cmdline 'hvcarve=2M@0x1000000 memmap=16M\$0x50000000'
	assert_success
	assert_output 'hvcarve=2M@0x1000000 memmap=2M$0x1000000 memmap=16M\$0x50000000'
	[[ $stderr == *"warning: memmap='16M\\\$0x50000000' is not understood"*"over-escaped"* ]]
}

@test "next rejects 0xffffffffffffffff, 16E and 2^64 written in decimal" {
	run "$HV" next --cmdline 'hvcarve=0xffffffffffffffff@0x0'
	assert_failure 1
	assert_output "hvcarve-cmdline: error: hvcarve region '0xffffffffffffffff@0x0': region ends at or beyond 2^63, above any possible physical address"
	run "$HV" next --cmdline 'hvcarve=16E@0x1000'
	assert_failure 1
	assert_output "hvcarve-cmdline: error: hvcarve region '16E@0x1000': size '16E' does not fit in 64 bits"
	run "$HV" next --cmdline 'hvcarve=2M@18446744073709551616'
	assert_failure 1
	assert_output "hvcarve-cmdline: error: hvcarve region '2M@18446744073709551616': address '18446744073709551616' does not fit in 64 bits"
}

@test "next rejects a sum that overflows past 2^64" {
	run "$HV" next --cmdline 'hvcarve=2M@0xffffffffffe00001'
	assert_failure 1
	assert_output "hvcarve-cmdline: error: hvcarve region '2M@0xffffffffffe00001': address + size overflows past 2^64"
	run "$HV" next --cmdline 'hvcarve=8E@8E'
	assert_failure 1
	assert_output "hvcarve-cmdline: error: hvcarve region '8E@8E': address + size overflows past 2^64"
}

@test "next rejects huge values that do not wrap around into small ones" {
	# 0x10000000000200000 wraps to 0x200000 in 64 bits; 17 hex digits.
	run "$HV" next --cmdline 'hvcarve=0x10000000000200000@0x1000000'
	assert_failure 1
	assert_output --partial "size '0x10000000000200000' does not fit in 64 bits"
	run "$HV" next --cmdline 'hvcarve=2M@0x7fffffffffe00000'
	assert_failure 1
	assert_output --partial "region ends at or beyond 2^63"
}

@test "next rejects malformed, zero, unaligned and empty region entries" {
	run "$HV" next --cmdline 'hvcarve=64M'
	assert_failure 1
	assert_output "hvcarve-cmdline: error: hvcarve region '64M': expected SIZE@ADDR"
	run "$HV" next --cmdline 'hvcarve=0@0x1000000'
	assert_failure 1
	assert_output "hvcarve-cmdline: error: hvcarve region '0@0x1000000': size is zero"
	run "$HV" next --cmdline 'hvcarve=2M@0x1000800'
	assert_failure 1
	assert_output "hvcarve-cmdline: error: hvcarve region '2M@0x1000800': address 0x1000800 is not page (4 KiB) aligned"
	run "$HV" next --cmdline 'hvcarve=5000@0x1000000'
	assert_failure 1
	assert_output "hvcarve-cmdline: error: hvcarve region '5000@0x1000000': size 5000 is not a multiple of the page size (4 KiB)"
	run "$HV" next --cmdline 'hvcarve=2M@0x1000000,,2M@0x2000000'
	assert_failure 1
	assert_output "hvcarve-cmdline: error: 'hvcarve=2M@0x1000000,,2M@0x2000000': empty entry in the hvcarve= list"
	run "$HV" next --cmdline 'hvcarve=2Q@0x1000000 hvcarve'
	assert_failure 1
	assert_line "hvcarve-cmdline: error: hvcarve region '2Q@0x1000000': size '2Q' is not a number (expected decimal, 0x hex or 0 octal, with an optional K/M/G/T/P/E suffix)"
	assert_line "hvcarve-cmdline: error: 'hvcarve': hvcarve= needs SIZE@ADDR[,SIZE@ADDR...]"
}

@test "next rejects overlapping regions and more than 8 regions" {
	run "$HV" next --cmdline 'hvcarve=64M@0x30000000 hvcarve=4M@0x33e00000'
	assert_failure 1
	assert_output "hvcarve-cmdline: error: hvcarve regions 64M@0x30000000 and 4M@0x33e00000 overlap"
	run "$HV" next --from "$CL/nine-regions.cmdline"
	assert_failure 1
	assert_output "hvcarve-cmdline: error: 9 hvcarve regions, but at most 8 are supported"
}

@test "next warns when more than 4 memmap reservations defeat KASLR" {
	run --separate-stderr "$HV" next --from "$CL/kaslr-five.cmdline"
	assert_success
	assert_output 'root=/dev/sda2 hvcarve=2M@0x1000000,2M@0x1400000,2M@0x1800000,2M@0x1c00000,2M@0x2000000 memmap=2M$0x1000000 memmap=2M$0x1400000 memmap=2M$0x1800000 memmap=2M$0x1c00000 memmap=2M$0x2000000'
	[[ $stderr == "hvcarve-cmdline: warning: 5 memmap= reservations, but the x86 KASLR decompressor honours only 4"*'affected: memmap=2M$0x2000000; use fewer regions or add nokaslr' ]]
}

@test "next warns when the line is longer than an x86 kernel keeps" {
	local long
	long="hvcarve=2M@0x1000000 x=$(printf 'a%.0s' {1..2100})"
	run --separate-stderr "$HV" next --cmdline "$long"
	assert_success
	assert_equal "$stderr" "hvcarve-cmdline: warning: the command line is 2143 bytes: x86 kernels keep only the first 2047 (COMMAND_LINE_SIZE 2048)"
}

@test "format raw is the default" {
	local a
	a=$("$HV" next --from "$CL/hostile.cmdline")
	run "$HV" next --from "$CL/hostile.cmdline" --format raw
	assert_success
	assert_output "$a"
}

@test "format shell round-trips through eval, even with quotes and \$" {
	local raw x input
	for input in "$(cat "$CL/hostile.cmdline")" \
		"it's=a'b hvcarve=2M@0x1000000 x=\$(>$CANARY) y=\`>$CANARY\` z=\"q 'r' s\" w=\\\\" \
		$'t="a\tb\nc" hvcarve=1G@0x40000000 u=$(>'"$CANARY"$')'; do
		raw=$("$HV" next --cmdline "$input")
		run "$HV" next --cmdline "$input" --format shell
		assert_success
		[[ $output == \'*\' ]]
		x=$(guarded_eval x "$output")
		no_canary
		assert_equal "$x" "$raw"
	done
}

@test "negative control: the canary catches evaluated output whose quoting broke" {
	local input="hvcarve=2M@0x1000000 x=\$(>$CANARY)" raw
	raw=$("$HV" next --cmdline "$input")
	[[ $raw == *"x=\$(>$CANARY)"* ]]
	# The raw line in double quotes instead of the shell format: the
	# payload runs (a redirection needs no PATH), and the check says so.
	guarded_eval x "\"$raw\"" >/dev/null
	run no_canary
	assert_failure
	assert_output --partial "quoting broke"
	rm -f "$CANARY"
	# The shell format of the same line does not run it.
	run "$HV" next --cmdline "$input" --format shell
	assert_success
	guarded_eval x "$output" >/dev/null
	no_canary
}

@test "format grub writes \\\\\\\$ so the \$ survives sh and GRUB" {
	load "$FIX/grub-sim.bash"
	run "$HV" next --cmdline 'root=/dev/vda1 ro hvcarve=64M@0x30000000 quiet' --format grub
	assert_success
	assert_output 'GRUB_CMDLINE_LINUX="root=/dev/vda1 ro hvcarve=64M@0x30000000 memmap=64M\\\$0x30000000 quiet"'
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/grub"
	# Stage 1: /etc/default/grub sourced by a shell (bash and /bin/sh agree).
	run grub_sim_source "$BATS_TEST_TMPDIR/grub" bash
	assert_output 'root=/dev/vda1 ro hvcarve=64M@0x30000000 memmap=64M\$0x30000000 quiet'
	run grub_sim_source "$BATS_TEST_TMPDIR/grub" sh
	assert_output 'root=/dev/vda1 ro hvcarve=64M@0x30000000 memmap=64M\$0x30000000 quiet'
	# Stage 2: grub.cfg gets \$ verbatim.
	run grub_sim_render "$BATS_TEST_TMPDIR/grub"
	assert_output $'\tlinux\t/boot/vmlinuz-7.3.4-hvcarve root=/dev/vda1 ro root=/dev/vda1 ro hvcarve=64M@0x30000000 memmap=64M\\$0x30000000 quiet '
	# Stage 3: GRUB's parser and loader: a literal $ reaches the kernel.
	run grub_sim_kernel_cmdline "$output"
	assert_success
	assert_output 'root=/dev/vda1 ro root=/dev/vda1 ro hvcarve=64M@0x30000000 memmap=64M$0x30000000 quiet'
}

@test "the GRUB emulation loses a \$ that is escaped only once" {
	load "$FIX/grub-sim.bash"
	printf '%s\n' 'GRUB_CMDLINE_LINUX="memmap=64M\$0x30000000"' >"$BATS_TEST_TMPDIR/grub"
	run grub_sim_render "$BATS_TEST_TMPDIR/grub"
	run grub_sim_kernel_cmdline "$output"
	assert_success
	assert_output 'root=/dev/vda1 ro memmap=64Mx30000000'
}

@test "format grub keeps quoted values and \$ in other parameters through GRUB" {
	load "$FIX/grub-sim.bash"
	run --separate-stderr "$HV" next --from "$CL/hostile.cmdline" --format grub
	assert_success
	assert_output 'GRUB_CMDLINE_LINUX="root=/dev/vda1 ro dyndbg=\"file drivers/hv/* +p\" hvcarve=64M@0x30000000 memmap=64M\\\$0x30000000 systemd.setenv=\"PS1=\\\$HOME>\" quoted=\"x y\" crashkernel=256M -- single \"two words\" hvcarve=2M@0x0"'
	[[ $stderr == *"warning: the line contains '--'"* ]]
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/grub"
	run grub_sim_render "$BATS_TEST_TMPDIR/grub"
	run grub_sim_kernel_cmdline "$output"
	assert_success
	# GRUB re-quotes a word with spaces as a whole ("foo=a b"), which the
	# kernel parses exactly like foo="a b".
	assert_output 'root=/dev/vda1 ro root=/dev/vda1 ro "dyndbg=file drivers/hv/* +p" hvcarve=64M@0x30000000 memmap=64M$0x30000000 systemd.setenv=PS1=$HOME> "quoted=x y" crashkernel=256M -- single "two words" hvcarve=2M@0x0'
	# And that kernel line means the same to next as the original.
	run "$HV" next --cmdline "$output" --drop root --drop ro
	assert_output "$("$HV" next --from "$CL/hostile.cmdline" --drop root --drop ro | sed 's/dyndbg="file drivers\/hv\/\* +p"/"dyndbg=file drivers\/hv\/* +p"/')"
}

@test "format grub: \$( and backquotes in a parameter never run when the GRUB file is sourced" {
	load "$FIX/grub-sim.bash"
	run "$HV" next --cmdline "hvcarve=64M@0x30000000 x=\$(>$CANARY) y=\`>$CANARY\`" --format grub
	assert_success
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/grub"
	run grub_sim_source "$BATS_TEST_TMPDIR/grub" bash
	assert_success
	no_canary
	run grub_sim_source "$BATS_TEST_TMPDIR/grub" sh
	assert_success
	no_canary
	run grub_sim_render "$BATS_TEST_TMPDIR/grub"
	assert_success
	no_canary
	run grub_sim_kernel_cmdline "$output"
	assert_success
	assert_output "root=/dev/vda1 ro hvcarve=64M@0x30000000 memmap=64M\$0x30000000 x=\$(>$CANARY) y=\`>$CANARY\`"
	# Negative control: the same payload written into the file without
	# the escaping runs when the file is sourced, and the check says so.
	printf 'GRUB_CMDLINE_LINUX="x=$(>%s)"\n' "$CANARY" >"$BATS_TEST_TMPDIR/grub-broken"
	run grub_sim_source "$BATS_TEST_TMPDIR/grub-broken" sh
	assert_success
	run no_canary
	assert_failure
}

@test "format grub refuses what GRUB would mangle" {
	run "$HV" next --cmdline "hvcarve=2M@0x1000000 acpi_osi='Linux'" --format grub
	assert_failure 1
	assert_output --partial "hvcarve-cmdline: error: 'acpi_osi='Linux'' cannot be passed through GRUB unchanged"
	run "$HV" next --cmdline 'hvcarve=2M@0x1000000 path=C:\boot' --format grub
	assert_failure 1
	assert_output --partial "cannot be passed through GRUB unchanged"
}

# ---------------------------------------------------------------- check --

@test "check accepts the qemu-1g machine as it runs" {
	run "$HV" check --root "$QEMU"
	assert_success
	assert_output - <<EOF
hvcarve-cmdline: region 0: 64M@0x30000000 = 0x30000000-0x33ffffff, in System RAM 0x100000-0x3ffdffff
hvcarve-cmdline: check: 1 region(s), 0 error(s), 0 warning(s) (memory map: $QEMU/sys/firmware/memmap)
EOF
}

@test "check joins adjacent RAM entries (numa-2node node boundary)" {
	run "$HV" check --root "$NUMA" --cmdline 'hvcarve=2G@0x470000000 memmap=2G$0x470000000'
	assert_success
	assert_line --index 0 "hvcarve-cmdline: region 0: 2G@0x470000000 = 0x470000000-0x4efffffff, in System RAM 0x100000000-0x87fffffff"
}

@test "check rejects a region running into the hole of numa-2node" {
	run "$HV" check --root "$NUMA" --cmdline 'hvcarve=4G@0x860000000 memmap=4G$0x860000000'
	assert_failure 1
	assert_line "hvcarve-cmdline: error: hvcarve region 4G@0x860000000 (0x860000000-0x95fffffff) is not inside one contiguous System RAM range: runs past System RAM 0x100000000-0x87fffffff into a hole"
	assert_line --partial "1 error(s)"
}

@test "check rejects a region overlapping reserved firmware memory" {
	run "$HV" check --root "$QEMU" --cmdline 'hvcarve=2M@0x3fe00000 memmap=2M$0x3fe00000'
	assert_failure 1
	assert_line "hvcarve-cmdline: error: hvcarve region 2M@0x3fe00000 (0x3fe00000-0x3fffffff) is not inside one contiguous System RAM range: overlaps Reserved 0x3ffe0000-0x3fffffff"
	run "$HV" check --root "$QEMU" --cmdline 'hvcarve=2M@0x80000000 memmap=2M$0x80000000'
	assert_failure 1
	assert_line --partial "lies outside every System RAM range"
}

@test "check rejects overlap with the Crash kernel of /proc/iomem" {
	run "$HV" check --root "$QEMU" --cmdline 'hvcarve=16M@0x3e000000 memmap=16M$0x3e000000'
	assert_failure 1
	assert_line "hvcarve-cmdline: error: hvcarve region 16M@0x3e000000 overlaps the crash kernel reservation 0x37000000-0x3effffff (\"Crash kernel\" in $QEMU/proc/iomem)"
}

@test "check rejects overlap with crashkernel=SIZE@OFFSET" {
	run "$HV" check --root "$QEMU" --cmdline 'crashkernel=64M@16M hvcarve=2M@0x4000000 memmap=2M$0x4000000'
	assert_failure 1
	assert_line "hvcarve-cmdline: error: hvcarve region 2M@0x4000000 overlaps the crash kernel reservation 0x1000000-0x4ffffff (crashkernel=64M@0x1000000)"
}

@test "check: 4 KiB misalignment is an error, 2 MiB misalignment a warning" {
	run "$HV" check --root "$QEMU" --cmdline 'hvcarve=1028K@0x1001000 memmap=1028K$0x1001000'
	assert_success
	assert_line "hvcarve-cmdline: warning: hvcarve region 1028K@0x1001000: address is not 2 MiB aligned (recommended)"
	assert_line "hvcarve-cmdline: warning: hvcarve region 1028K@0x1001000: size is not a multiple of 2 MiB (recommended)"
	assert_line --partial "0 error(s), 2 warning(s)"
	run "$HV" check --root "$QEMU" --cmdline 'hvcarve=2M@0x1000200 memmap=2M$0x1000200'
	assert_failure 1
	assert_line "hvcarve-cmdline: error: hvcarve region '2M@0x1000200': address 0x1000200 is not page (4 KiB) aligned"
}

@test "check requires the matching memmap (a warning only with nokaslr)" {
	run "$HV" check --root "$QEMU" --cmdline 'hvcarve=64M@0x30000000'
	assert_failure 1
	assert_line "hvcarve-cmdline: error: hvcarve region 64M@0x30000000 has no memmap=64M\$0x30000000: a kernel without hvcarve support would use it as RAM and KASLR may decompress the kernel into it (run 'hvcarve-cmdline next')"
	run "$HV" check --root "$QEMU" --cmdline 'hvcarve=64M@0x30000000 nokaslr'
	assert_success
	assert_line --partial "warning: hvcarve region 64M@0x30000000 has no memmap=64M\$0x30000000"
}

@test "check: more than 4 memmap reservations is an error unless nokaslr" {
	local line
	line=$("$HV" next --from "$CL/kaslr-five.cmdline" 2>/dev/null)
	run "$HV" check --root "$QEMU" --cmdline "$line"
	assert_failure 1
	assert_line --partial 'hvcarve-cmdline: error: 5 memmap= reservations, but the x86 KASLR decompressor honours only 4'
	assert_line --partial 'affected: memmap=2M$0x2000000; use fewer regions or add nokaslr'
	run "$HV" check --root "$QEMU" --cmdline "$line nokaslr"
	assert_success
	assert_line --partial '(harmless here: nokaslr is set)'
}

@test "check counts memmap entries of other parameters towards the KASLR limit" {
	run "$HV" check --root "$QEMU" --cmdline 'memmap=4K$0x9f000,4K#0xa0000 memmap=1M!0x200000 memmap=1M$0x400000 hvcarve=64M@0x30000000 memmap=64M$0x30000000'
	assert_failure 1
	assert_line --partial 'affected: memmap=64M$0x30000000'
}

@test "check rejects more than 8 regions and overlapping regions" {
	run "$HV" check --root "$QEMU" --cmdline "$(cat "$CL/nine-regions.cmdline") nokaslr"
	assert_failure 1
	assert_line "hvcarve-cmdline: error: 9 hvcarve regions, but at most 8 are supported"
	run "$HV" check --root "$QEMU" --cmdline 'hvcarve=4M@0x1000000,2M@0x1200000 nokaslr'
	assert_failure 1
	assert_line "hvcarve-cmdline: error: hvcarve regions 4M@0x1000000 and 2M@0x1200000 overlap"
}

@test "check names huge and overflowing values" {
	run "$HV" check --root "$QEMU" --cmdline 'hvcarve=16E@0,2M@0xffffffffffffffff,0xffffffffffffffff@0x0'
	assert_failure 1
	assert_line "hvcarve-cmdline: error: hvcarve region '16E@0': size '16E' does not fit in 64 bits"
	assert_line "hvcarve-cmdline: error: hvcarve region '2M@0xffffffffffffffff': address + size overflows past 2^64"
	assert_line "hvcarve-cmdline: error: hvcarve region '0xffffffffffffffff@0x0': region ends at or beyond 2^63, above any possible physical address"
	assert_line --partial "check: 0 region(s), 3 error(s), 0 warning(s)"
}

@test "check reports conflicting memmap entries" {
	run "$HV" check --root "$QEMU" --cmdline "$(cat "$CL/conflict-usable.cmdline")"
	assert_failure 1
	assert_line "hvcarve-cmdline: error: memmap=32M@0x32000000 conflicts with hvcarve region 64M@0x30000000: it declares usable RAM inside the carveout"
}

@test "check without any hvcarve= fails" {
	run "$HV" check --root "$QEMU" --cmdline 'root=/dev/vda1 quiet'
	assert_failure 1
	assert_line "hvcarve-cmdline: error: no hvcarve= regions on the command line"
}

@test "check falls back to /proc/iomem with a warning when /sys/firmware/memmap is missing" {
	local r
	r=$(iomem_only_root)
	run "$HV" check --root "$r"
	assert_success
	assert_line "hvcarve-cmdline: warning: $r/sys/firmware/memmap is missing: falling back to $r/proc/iomem (less precise: it shows the running kernel's view of memory)"
	# 0x30000000-0x33ffffff is "Reserved" in iomem because of memmap=$ on
	# the running kernel; it still counts as RAM.
	assert_line "hvcarve-cmdline: region 0: 64M@0x30000000 = 0x30000000-0x33ffffff, in System RAM 0x100000-0x3ffdffff"
}

@test "check fails with exit 3 without any RAM map, or without a command line" {
	mkdir -p "$BATS_TEST_TMPDIR/bare/proc"
	run "$HV" check --root "$BATS_TEST_TMPDIR/bare" --cmdline 'hvcarve=2M@0x1000000 memmap=2M$0x1000000'
	assert_failure 3
	assert_output "hvcarve-cmdline: error: no RAM map: neither $BATS_TEST_TMPDIR/bare/sys/firmware/memmap nor $BATS_TEST_TMPDIR/bare/proc/iomem exists"
	run "$HV" check --root "$BATS_TEST_TMPDIR/bare"
	assert_failure 3
	assert_output "hvcarve-cmdline: error: cannot read $BATS_TEST_TMPDIR/bare/proc/cmdline"
}

@test "check refuses an iomem whose addresses are hidden (not root)" {
	mkdir -p "$BATS_TEST_TMPDIR/hidden/proc"
	sed -E 's/^( *)[0-9a-f]+-[0-9a-f]+/\100000000-00000000/' "$QEMU/proc/iomem" >"$BATS_TEST_TMPDIR/hidden/proc/iomem"
	run "$HV" check --root "$BATS_TEST_TMPDIR/hidden" --cmdline 'hvcarve=2M@0x1000000 memmap=2M$0x1000000'
	assert_failure 3
	assert_line "hvcarve-cmdline: error: $BATS_TEST_TMPDIR/hidden/proc/iomem shows only zero addresses (read it as root)"
}

# -------------------------------------------------------------- suggest --

@test "suggest prefers the top of RAM, avoiding the carveout and the crash kernel" {
	run "$HV" suggest 64M --root "$QEMU"
	assert_success
	assert_output 'hvcarve=64M@0x2c000000'
	run "$HV" suggest 8M --root "$QEMU"
	assert_success
	assert_output 'hvcarve=8M@0x3f600000'
}

@test "suggest on numa-2node avoids nested Reserved and the high crash kernel" {
	run "$HV" suggest 0x4000000 --root "$NUMA"
	assert_success
	assert_output 'hvcarve=64M@0xc5be00000'
	run "$HV" suggest 16G --root "$NUMA"
	assert_success
	assert_output 'hvcarve=16G@0x400000000'
}

@test "suggest --node restricts the search to the node's memory blocks" {
	run "$HV" suggest 64M --node 0 --root "$NUMA"
	assert_success
	assert_output 'hvcarve=64M@0x47c000000'
	run "$HV" suggest 16G --node 1 --root "$NUMA"
	assert_failure 1
	assert_output 'hvcarve-cmdline: error: no free 2 MiB-aligned range of 16G in System RAM of node 1'
}

@test "suggest avoids the regions of --cmdline and works from /proc/iomem alone" {
	run "$HV" suggest 64M --root "$QEMU" --cmdline 'hvcarve=64M@0x2c000000 memmap=64M$0x2c000000'
	assert_success
	assert_output 'hvcarve=64M@0x28000000'
	local r
	r=$(iomem_only_root)
	run --separate-stderr "$HV" suggest 64M --root "$r"
	assert_success
	assert_output 'hvcarve=64M@0x2c000000'
}

@test "suggest rejects bad SIZE and --node values" {
	run "$HV" suggest --root "$QEMU"
	assert_failure 2
	assert_output --partial "suggest: SIZE is missing"
	run "$HV" suggest 16E --root "$QEMU"
	assert_failure 2
	assert_output --partial "suggest: SIZE '16E' does not fit in 64 bits"
	run "$HV" suggest 0 --root "$QEMU"
	assert_failure 2
	assert_output --partial "suggest: SIZE is zero"
	run "$HV" suggest 1000 --root "$QEMU"
	assert_failure 2
	assert_output --partial "suggest: SIZE 1000 is not a multiple of 4 KiB"
	run "$HV" suggest 2M --node one --root "$NUMA"
	assert_failure 2
	assert_output --partial "suggest: --node needs a node number, not 'one'"
	run "$HV" suggest 2M 4M --root "$NUMA"
	assert_failure 2
	assert_output --partial "suggest: unexpected argument '4M'"
}

@test "suggest fails with exit 3 for a missing node or RAM map" {
	run "$HV" suggest 2M --node 7 --root "$NUMA"
	assert_failure 3
	assert_output "hvcarve-cmdline: error: NUMA node 7 not found ($NUMA/sys/devices/system/node/node7 is missing)"
	mkdir -p "$BATS_TEST_TMPDIR/bare"
	run "$HV" suggest 2M --root "$BATS_TEST_TMPDIR/bare"
	assert_failure 3
	assert_output --partial "error: no RAM map"
}

# ----------------------------------------------------------------- size --

@test "size explains the arithmetic from peaks and overflow" {
	run "$HV" size --root "$NUMA"
	assert_success
	assert_output - <<'EOF'
region0: peak_deposited_pages = 180000
region1: peak_deposited_pages = 30000
overflow_pages = 1234
pages: 180000 + 30000 + 1234 = 211234
bytes: 211234 x 4096 = 865214464
with 25% margin: 865214464 x 125 / 100 = 1081518080 (rounded up)
rounded up to 2 MiB: 1082130432 (516 x 2 MiB)
recommended size: 1032M
EOF
}

@test "size without overflow_pages, with --margin, and the 2 MiB minimum" {
	run "$HV" size --root "$QEMU" --margin 0
	assert_success
	assert_line 'overflow_pages: not present, counted as 0'
	assert_line 'with 0% margin: 20480000 x 100 / 100 = 20480000 (rounded up)'
	assert_line 'recommended size: 20M'
	local r=$BATS_TEST_TMPDIR/zero/sys/kernel/mm/hvcarve
	mkdir -p "$r/region0"
	echo 0 >"$r/region0/peak_deposited_pages"
	run "$HV" size --root "$BATS_TEST_TMPDIR/zero"
	assert_success
	assert_line 'raised to the 2 MiB minimum: 2097152'
	assert_line 'recommended size: 2M'
}

@test "size orders region10 after region2" {
	local r=$BATS_TEST_TMPDIR/many/sys/kernel/mm/hvcarve n
	for n in 0 1 2 10; do
		mkdir -p "$r/region$n"
		echo $((n + 1)) >"$r/region$n/peak_deposited_pages"
	done
	run "$HV" size --root "$BATS_TEST_TMPDIR/many"
	assert_success
	assert_line --index 2 'region2: peak_deposited_pages = 3'
	assert_line --index 3 'region10: peak_deposited_pages = 11'
	assert_line 'pages: 1 + 2 + 3 + 11 + 0 = 17'
}

@test "size error paths" {
	run "$HV" size --root "$BATS_TEST_TMPDIR/none"
	assert_failure 3
	assert_output "hvcarve-cmdline: error: $BATS_TEST_TMPDIR/none/sys/kernel/mm/hvcarve is missing: is the running kernel using hvcarve?"
	run "$HV" size --root "$NUMA" --margin -5
	assert_failure 2
	assert_output --partial "size: --margin needs a whole percentage from 0 to 1000, not '-5'"
	run "$HV" size --root "$NUMA" extra
	assert_failure 2
	assert_output --partial "size: unexpected argument 'extra'"
	run "$HV" size --root "$NUMA" --margin=lots
	assert_failure 2
	assert_output --partial "size: --margin needs a whole percentage from 0 to 1000, not 'lots'"
	local r=$BATS_TEST_TMPDIR/bad/sys/kernel/mm/hvcarve
	mkdir -p "$r/region0"
	echo 99999999999999999999 >"$r/region0/peak_deposited_pages"
	run "$HV" size --root "$BATS_TEST_TMPDIR/bad"
	assert_failure 3
	assert_output "hvcarve-cmdline: error: $r/region0/peak_deposited_pages: '99999999999999999999' is not a plausible page count"
	mkdir -p "$BATS_TEST_TMPDIR/empty/sys/kernel/mm/hvcarve"
	run "$HV" size --root "$BATS_TEST_TMPDIR/empty"
	assert_failure 3
	assert_output --partial "no region directories (region0, ...)"
}

# ----------------------------------------------------------- kexec-args --

@test "kexec-args prints kexec -s with the next command line, and a bounded kexec -l" {
	run "$HV" kexec-args /boot/vmlinuz-7.3.4 /boot/initrd.img-7.3.4 --root "$QEMU"
	assert_success
	local app="--append='root=UUID=0f3c5a8e-9a51-4a0e-8a52-2d6d8b3e6c11 ro console=ttyS0,115200n8 crashkernel=128M hvcarve=64M@0x30000000 memmap=64M\$0x30000000 quiet'"
	assert_line --index 0 "kexec -s -l /boot/vmlinuz-7.3.4 --initrd=/boot/initrd.img-7.3.4 $app"
	assert_line --index 2 --partial "# so keep every segment in 0x0-0x2fffffff, below the first carveout region"
	assert_line --index 4 "# kexec -l /boot/vmlinuz-7.3.4 --initrd=/boot/initrd.img-7.3.4 --mem-min=0x0 --mem-max=0x2fffffff $app"
}

@test "kexec-args picks the largest window with low RAM between regions" {
	run "$HV" kexec-args /boot/vmlinuz --root "$NUMA" --cmdline 'hvcarve=1G@0x800000000,256M@0x200000000,2M@0x1000000'
	assert_success
	assert_line --index 2 --partial "# so keep every segment in 0x1200000-0x1ffffffff, between two carveout regions"
	assert_line --partial "--mem-min=0x1200000 --mem-max=0x1ffffffff"
}

@test "kexec-args output evaluates to the right kexec arguments" {
	run "$HV" kexec-args '/boot/my kernel' --cmdline "x='y' z=\$(>$CANARY) hvcarve=2M@0x1000000 BOOT_IMAGE=/old" --root "$QEMU"
	assert_success
	local -a argv
	mapfile -d '' argv < <(guarded_words "${lines[0]}")
	no_canary
	assert_equal "${#argv[@]}" 5
	assert_equal "${argv[0]}" kexec
	assert_equal "${argv[3]}" '/boot/my kernel'
	assert_equal "${argv[4]}" "--append=x='y' z=\$(>$CANARY) hvcarve=2M@0x1000000 memmap=2M\$0x1000000"
	# The negative control: the same words, had kexec-args not quoted the
	# --append value, would have run the payload.
	guarded_words "${lines[0]//\'/}" >/dev/null
	run no_canary
	assert_failure
}

@test "kexec-args error paths" {
	run "$HV" kexec-args --root "$QEMU"
	assert_failure 2
	assert_output --partial "kexec-args: KERNEL is missing"
	run "$HV" kexec-args a b c --root "$QEMU"
	assert_failure 2
	assert_output --partial "kexec-args: unexpected argument 'c'"
	run "$HV" kexec-args /boot/vmlinuz --cmdline "$(cat "$CL/conflict-usable.cmdline")"
	assert_failure 1
	assert_output --partial "memmap=32M@0x32000000 conflicts with hvcarve region 64M@0x30000000"
}

# ------------------------------------------------------------------ UEFI --
#
# ovmf-1g: captured from an OVMF guest (1 GiB) running the patched kernel
# with hvcarve=64M@0x20000000 memmap=64M$0x20000000 efi=debug: proc/,
# sys/firmware/memmap, sys/firmware/efi (that it exists is what the tool
# reads), and efi-memmap.txt, that boot's dmesg | grep 'efi: mem' (the
# firmware's map, then the kernel's own print after SetVirtualAddressMap).
# efi-memmap-after-kexec.txt is the map a kexec'd kernel printed: runtime
# entries only.

ovmf_setup() {
	OVMF=$FIX/ovmf-1g
	EFIMAP=$OVMF/efi-memmap.txt
}

@test "check on a UEFI machine (ovmf-1g, as it runs) accepts its carveout and says sysfs cannot show EFI boot services memory" {
	ovmf_setup
	run --separate-stderr "$HV" check --root "$OVMF"
	assert_success
	assert_output - <<EOF2
hvcarve-cmdline: region 0: 64M@0x20000000 = 0x20000000-0x23ffffff, in System RAM 0x900000-0x3eeb6fff
hvcarve-cmdline: check: 1 region(s), 0 error(s), 1 warning(s) (memory map: $OVMF/sys/firmware/memmap)
EOF2
	[[ $stderr == *"warning: UEFI machine ($OVMF/sys/firmware/efi exists): $OVMF/sys/firmware/memmap shows EFI boot services code and data, and the boot loader's memory, as System RAM"*"--efi-map FILE"* ]]
	# The BIOS fixture is no UEFI machine: no such warning.
	run --separate-stderr "$HV" check --root "$QEMU"
	assert_success
	[[ $stderr != *"UEFI machine"* ]]
}

@test "check: the running kernel's carveout, Reserved in /sys/firmware/memmap (the kexec map since 6.15), counts as RAM; no other Reserved entry does" {
	ovmf_setup
	grep -qx Reserved "$OVMF/sys/firmware/memmap/8/type"
	[ "$(cat "$OVMF/sys/firmware/memmap/8/start") $(cat "$OVMF/sys/firmware/memmap/8/end")" = "0x20000000 0x23ffffff" ]
	# The same machine, had its kernel run without hvcarve=: the
	# Reserved entry is then an obstacle, and check says so.
	local r=$BATS_TEST_TMPDIR/ovmf-no-hvcarve
	cp -a "$OVMF" "$r"
	echo "console=ttyS0 efi=debug" >"$r/proc/cmdline"
	run "$HV" check --root "$r" --cmdline 'hvcarve=64M@0x20000000 memmap=64M$0x20000000'
	assert_failure 1
	assert_line --partial "error: hvcarve region 64M@0x20000000 (0x20000000-0x23ffffff) is not inside one contiguous System RAM range: overlaps Reserved 0x20000000-0x23ffffff"
	# A firmware reservation stays one even on the running machine.
	run "$HV" check --root "$OVMF" --cmdline 'hvcarve=2M@0x3ee00000 memmap=2M$0x3ee00000'
	assert_failure 1
	assert_line --partial "overlaps Reserved 0x3eeb7000-0x3ef77fff"
}

@test "check --efi-map: the running carveout is the EFI stub's Loader Data, in conventional memory otherwise: no warning" {
	ovmf_setup
	grep -q 'Loader Data .*range=\[0x0000000020000000-0x0000000023ffffff\]' "$EFIMAP"
	run --separate-stderr "$HV" check --root "$OVMF" --efi-map "$EFIMAP"
	assert_success
	assert_output - <<EOF2
hvcarve-cmdline: region 0: 64M@0x20000000 = 0x20000000-0x23ffffff, in System RAM 0x900000-0x3eeb6fff
hvcarve-cmdline: check: 1 region(s), 0 error(s), 0 warning(s) (memory map: $OVMF/sys/firmware/memmap; EFI memory map: $EFIMAP)
EOF2
	assert_equal "$stderr" ""
	# The Loader Data of the running region is expected only there: the
	# same map with the machine running without hvcarve= warns.
	local r=$BATS_TEST_TMPDIR/r
	cp -a "$OVMF" "$r"
	echo "console=ttyS0 efi=debug" >"$r/proc/cmdline"
	run "$HV" check --root "$r" --efi-map "$EFIMAP" --cmdline 'hvcarve=64M@0x24000000 memmap=64M$0x24000000'
	assert_success
	run "$HV" check --root "$r" --efi-map "$EFIMAP" --cmdline 'hvcarve=64M@0x1e000000 memmap=64M$0x1e000000'
	assert_line --partial "warning: hvcarve region 64M@0x1e000000 overlaps EFI Loader Data 0x20000000-0x23ffffff: the boot loader, the kernel image or the initrd was there on that boot"
}

@test "check --efi-map refuses regions that sysfs shows as RAM: EFI boot services data; warns for the kernel's Loader Code" {
	ovmf_setup
	local c='hvcarve=2M@0xa00000 memmap=2M$0xa00000'
	# Without the EFI map, [0xa00000, 0xc00000) is plain System RAM.
	run "$HV" check --root "$OVMF" --cmdline "$c"
	assert_success
	run "$HV" check --root "$OVMF" --cmdline "$c" --efi-map "$EFIMAP"
	assert_failure 1
	assert_line "hvcarve-cmdline: error: hvcarve region 2M@0xa00000 overlaps EFI boot services memory, Boot Data 0x900000-0x14fffff: the kernel refuses it (the firmware may use it until SetVirtualAddressMap())"
	assert_line --partial "1 error(s), 0 warning(s)"
	# 48 boot services entries under 0x3ae00000 + 64M: one line says so.
	run "$HV" check --root "$OVMF" --cmdline 'hvcarve=64M@0x3ae00000 memmap=64M$0x3ae00000' --efi-map "$EFIMAP"
	assert_failure 1
	assert_line "hvcarve-cmdline: error: hvcarve region 64M@0x3ae00000 overlaps EFI boot services memory, Boot Data 0x3bf75000-0x3bf94fff (and 48 more): the kernel refuses it (the firmware may use it until SetVirtualAddressMap())"
	assert_line --partial "warning: hvcarve region 64M@0x3ae00000 overlaps EFI Loader Data 0x3ae97000-0x3bf74fff (and 2 more)"
	# The running kernel's image (Loader Code): a warning.
	run "$HV" check --root "$OVMF" --cmdline 'hvcarve=2M@0x1600000 memmap=2M$0x1600000' --efi-map "$EFIMAP"
	assert_success
	assert_line "hvcarve-cmdline: warning: hvcarve region 2M@0x1600000 overlaps EFI Loader Code 0x1600000-0x21fffff: the boot loader, the kernel image or the initrd was there on that boot; the kernel refuses a region over its own image or initrd"
}

@test "check --efi-map refuses EFI runtime memory, memory that is not RAM and holes in the EFI map" {
	ovmf_setup
	run "$HV" check --root "$OVMF" --cmdline 'hvcarve=4K@0x3eeb7000 memmap=4K$0x3eeb7000' --efi-map "$EFIMAP"
	assert_failure 1
	assert_line "hvcarve-cmdline: error: hvcarve region 4K@0x3eeb7000 overlaps EFI runtime memory, Runtime Data 0x3eeb7000-0x3ef77fff: the kernel refuses it"
	run "$HV" check --root "$OVMF" --cmdline 'hvcarve=2M@0x800000 memmap=2M$0x800000' --efi-map "$EFIMAP"
	assert_failure 1
	assert_line "hvcarve-cmdline: error: hvcarve region 2M@0x800000 overlaps EFI ACPI Mem NVS 0x800000-0x807fff (and 2 more), which is not RAM"
	run "$HV" check --root "$OVMF" --cmdline 'hvcarve=2M@0x40000000 memmap=2M$0x40000000' --efi-map "$EFIMAP"
	assert_failure 1
	assert_line "hvcarve-cmdline: error: hvcarve region 2M@0x40000000: 0x40000000-0x401fffff is in no entry of the EFI memory map"
}

@test "suggest on a UEFI machine: from sysfs alone it lands on EFI boot services data and warns; with --efi-map it stays in conventional memory" {
	ovmf_setup
	run --separate-stderr "$HV" suggest 64M --root "$OVMF"
	assert_success
	assert_output 'hvcarve=64M@0x3ae00000'
	[[ $stderr == *"warning: UEFI machine"* ]]
	# ...which check with the EFI map refuses (above), and the kernel too
	# (efi.bats: a region over EFI boot services memory is refused).
	run --separate-stderr "$HV" suggest 64M --root "$OVMF" --efi-map "$EFIMAP"
	assert_success
	assert_output 'hvcarve=64M@0x36e00000'
	assert_equal "$stderr" ""
	run "$HV" check --root "$OVMF" --efi-map "$EFIMAP" --cmdline "$("$HV" next --cmdline '' --add 64M@0x36e00000)"
	assert_success
	assert_line --partial "0 error(s), 0 warning(s)"
	# Every conventional range of at least 1 GiB is gone: none is left.
	run "$HV" suggest 1G --root "$OVMF" --efi-map "$EFIMAP"
	assert_failure 1
}

@test "--efi-map: the first map of the file only, and exit 3 for a missing file, no map, or runtime entries only (a kexec'd kernel's)" {
	ovmf_setup
	# The kernel prints the map again after SetVirtualAddressMap,
	# renumbered from mem00: only the first (the firmware's) is read; the
	# second alone would be the same check.
	grep -c 'efi: mem00:' "$EFIMAP" | grep -qx 2
	run "$HV" check --root "$OVMF" --efi-map <(sed -n '1,/efi: mem125:/p' "$EFIMAP")
	assert_success
	run "$HV" check --root "$OVMF" --efi-map "$BATS_TEST_TMPDIR/nonexistent"
	assert_failure 3
	assert_output --partial "cannot read the EFI memory map"
	printf 'Linux version 7.3\nefi: EFI v2.7 by EDK II\n' >"$BATS_TEST_TMPDIR/nomap"
	run "$HV" suggest 64M --root "$OVMF" --efi-map "$BATS_TEST_TMPDIR/nomap"
	assert_failure 3
	assert_output --partial "holds no EFI memory map"
	run "$HV" check --root "$OVMF" --efi-map "$OVMF/efi-memmap-after-kexec.txt"
	assert_failure 3
	assert_output --partial "has EFI runtime entries only: that is the map a kexec hands on, not the firmware's"
	run "$HV" check --root "$OVMF" --efi-map
	assert_failure 2
}
