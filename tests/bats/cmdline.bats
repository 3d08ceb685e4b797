#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# Tests for scripts/hvcarve-cmdline.sh.  Machine fixtures live under
# tests/fixtures/cmdline/: qemu-1g (QEMU, 1 GiB, running with
# hvcarve=64M@0x30000000 and crashkernel=128M) and numa-2node (two NUMA
# nodes, RAM above 4 GiB split per node, a 2 GiB hole, crashkernel=,high),
# ovmf-1g (captured from an OVMF guest running the patched kernel, with
# the EFI memory map it printed; see the UEFI section below),
# flat-4p (one System RAM range over the whole 52-bit address space: the
# machine of the hvcarve= corpus, tests/fixtures/hvcarve-values.txt),
# qemu-1g-adjacent (qemu-1g running two adjacent regions, one merged
# Reserved entry in /sys/firmware/memmap, two "hvcarve" entries in
# /proc/iomem), host-2region (a complete /sys/kernel/mm/hvcarve of two
# regions, the second full, and a /proc/cpuinfo with la57) and debian-root
# (/etc/default of a Debian 12 system with GRUB, kdump-tools and
# kexec-tools, from their packages), plus command lines in
# tests/fixtures/cmdline/cmdlines/.
#
# The hvcarve= rules are the kernel's: tools/hvcarve/hvcarve-parse, built
# by setup_file.  Tests of JSON output need jq.
#
# Literal $ in single quotes is intended throughout; $stderr is set by bats.
# shellcheck disable=SC2016,SC2154

bats_require_minimum_version 1.5.0

# hvcarve-parse, the kernel's own hvcarve= parser that the tool asks, is
# built once for the file (make is a no-op when it is up to date).
setup_file() {
	make -s -C "$BATS_TEST_DIRNAME/../../tools/hvcarve" hvcarve-parse
}

setup() {
	load '/usr/lib/bats/bats-support/load'
	load '/usr/lib/bats/bats-assert/load'
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	HV=$REPO/scripts/hvcarve-cmdline.sh
	FIX=$REPO/tests/fixtures/cmdline
	QEMU=$FIX/qemu-1g
	NUMA=$FIX/numa-2node
	CL=$FIX/cmdlines
	PARSE=$REPO/tools/hvcarve/hvcarve-parse
	FLAT=$FIX/flat-4p
	ADJ=$FIX/qemu-1g-adjacent
	HOST2=$FIX/host-2region
	DEBROOT=$FIX/debian-root
	CORPUS=$REPO/tests/fixtures/hvcarve-values.txt
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

# refusal MSG: the tool's error line for the kernel's refusal MSG.
refusal() {
	printf "hvcarve-cmdline: error: %s (the kernel's own parser: it would reserve nothing and disable the whole carveout)" "$1"
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
	for sub in next check suggest size status kexec-args install remove; do
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
	assert_output --partial "install     write GRUB, kdump-tools and kexec-load configuration"
	assert_output --partial "status      show a running hvcarve"
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
	for sub in check suggest size status kexec-args install remove; do
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
	# repeated.cmdline used to repeat 2M@0x1000000 in its second hvcarve=
	# (as 0x200000@16777216), and next listed it once; the kernel refuses
	# that (the region overlaps itself), so the fixture now repeats the
	# parameter with disjoint regions only, and the old line is
	# repeated-same-region.cmdline, refused below (item 1 of the issue).
	run "$HV" next --from "$CL/repeated.cmdline"
	assert_success
	assert_output 'root=/dev/sda2 ro hvcarve=2M@0x1000000,4M@0x2000000 memmap=2M$0x1000000 memmap=4M$0x2000000 quiet memmap=16M$0x50000000 splash'
}

@test "one parser: next refuses a region given twice across hvcarve= parameters, as the kernel does" {
	run "$HV" next --from "$CL/repeated-same-region.cmdline"
	assert_failure 1
	assert_output 'hvcarve-cmdline: error: rejecting "hvcarve=0x200000@16777216,4m@0x2000000": "0x200000@16777216": region overlaps another hvcarve region (the kernel'"'"'s own parser: it would reserve nothing and disable the whole carveout)'
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

# The next/check/kexec-args tests below expected the bash parser's own
# messages ("hvcarve region '...': size is zero", "... overflows past 2^64",
# "9 hvcarve regions, but at most 8 ...").  That parser is gone (item 1 of
# the issue: one parser with the kernel): they now expect the kernel's
# message, from hvcarve-parse, which also checks in the kernel's order
# (0xffffffffffffffff is refused for its size, not the page, first).

@test "next rejects 0xffffffffffffffff, 16E and 2^64 written in decimal, with the kernel's messages" {
	run "$HV" next --cmdline 'hvcarve=0xffffffffffffffff@0x0'
	assert_failure 1
	assert_output "$(refusal 'rejecting "hvcarve=0xffffffffffffffff@0x0": "0xffffffffffffffff@0x0": size is not a multiple of the page size')"
	run "$HV" next --cmdline 'hvcarve=16E@0x1000'
	assert_failure 1
	assert_output "$(refusal 'rejecting "hvcarve=16E@0x1000": "16E@0x1000": size does not fit in 64 bits')"
	run "$HV" next --cmdline 'hvcarve=2M@18446744073709551616'
	assert_failure 1
	assert_output "$(refusal 'rejecting "hvcarve=2M@18446744073709551616": "2M@18446744073709551616": address does not fit in 64 bits')"
}

@test "next rejects a sum that overflows past 2^64" {
	run "$HV" next --cmdline 'hvcarve=2M@0xffffffffffe00000'
	assert_failure 1
	assert_output "$(refusal 'rejecting "hvcarve=2M@0xffffffffffe00000": "2M@0xffffffffffe00000": size + address overflows')"
	run "$HV" next --cmdline 'hvcarve=8E@8E'
	assert_failure 1
	assert_output "$(refusal 'rejecting "hvcarve=8E@8E": "8E@8E": size + address overflows')"
}

@test "next rejects huge values that do not wrap around into small ones, and ends beyond the physical address space" {
	# 0x10000000000200000 wraps to 0x200000 in 64 bits; 17 hex digits.
	run "$HV" next --cmdline 'hvcarve=0x10000000000200000@0x1000000'
	assert_failure 1
	assert_output --partial '"0x10000000000200000@0x1000000": size does not fit in 64 bits'
	run "$HV" next --cmdline 'hvcarve=2M@0x7fffffffffe00000'
	assert_failure 1
	assert_output --partial '"2M@0x7fffffffffe00000": region ends beyond the physical address space'
}

@test "next rejects malformed, zero, unaligned and empty region entries" {
	run "$HV" next --cmdline 'hvcarve=64M'
	assert_failure 1
	assert_output "$(refusal 'rejecting "hvcarve=64M": "64M": missing '"'"'@address'"'"' after the size')"
	run "$HV" next --cmdline 'hvcarve=0@0x1000000'
	assert_failure 1
	assert_output "$(refusal 'rejecting "hvcarve=0@0x1000000": "0@0x1000000": size is zero')"
	run "$HV" next --cmdline 'hvcarve=2M@0x1000800'
	assert_failure 1
	assert_output "$(refusal 'rejecting "hvcarve=2M@0x1000800": "2M@0x1000800": address is not page aligned')"
	run "$HV" next --cmdline 'hvcarve=5000@0x1000000'
	assert_failure 1
	assert_output "$(refusal 'rejecting "hvcarve=5000@0x1000000": "5000@0x1000000": size is not a multiple of the page size')"
	run "$HV" next --cmdline 'hvcarve=2M@0x1000000,,2M@0x2000000'
	assert_failure 1
	assert_output "$(refusal 'rejecting "hvcarve=2M@0x1000000,,2M@0x2000000": "": empty region, expected size@address')"
	# The first rejection wins: one message, as in the kernel.
	run "$HV" next --cmdline 'hvcarve=2Q@0x1000000 hvcarve'
	assert_failure 1
	assert_output "$(refusal 'rejecting "hvcarve=2Q@0x1000000": "2Q@0x1000000": garbage after the size')"
	run "$HV" next --cmdline 'hvcarve'
	assert_failure 1
	assert_output "$(refusal 'rejecting "hvcarve=": "": empty parameter, expected size@address[,size@address...]')"
}

@test "next rejects overlapping regions and more than 8 regions" {
	run "$HV" next --cmdline 'hvcarve=64M@0x30000000 hvcarve=4M@0x33e00000'
	assert_failure 1
	assert_output "$(refusal 'rejecting "hvcarve=4M@0x33e00000": "4M@0x33e00000": region overlaps another hvcarve region')"
	run "$HV" next --from "$CL/nine-regions.cmdline"
	assert_failure 1
	assert_output --partial '": "2M@0x3000000": more than 8 regions (the kernel'
}

@test "next warns when more than 4 memmap reservations defeat KASLR" {
	# The warning now says who is affected (kernels without hvcarve booted
	# from the firmware), since check no longer refuses it (item 6a).
	run --separate-stderr "$HV" next --from "$CL/kaslr-five.cmdline"
	assert_success
	assert_output 'root=/dev/sda2 hvcarve=2M@0x1000000,2M@0x1400000,2M@0x1800000,2M@0x1c00000,2M@0x2000000 memmap=2M$0x1000000 memmap=2M$0x1400000 memmap=2M$0x1800000 memmap=2M$0x1c00000 memmap=2M$0x2000000'
	[[ $stderr == "hvcarve-cmdline: warning: 5 memmap= reservations, but the x86 KASLR decompressor of a kernel without hvcarve honours only 4"*'affected: memmap=2M$0x2000000; use fewer regions or add nokaslr if such a kernel is ever booted from the firmware'* ]]
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
	assert_line "$(refusal 'rejecting "hvcarve=2M@0x1000200": "2M@0x1000200": address is not page aligned')"
}

@test "check requires the matching memmap (a warning only with nokaslr)" {
	run "$HV" check --root "$QEMU" --cmdline 'hvcarve=64M@0x30000000'
	assert_failure 1
	assert_line "hvcarve-cmdline: error: hvcarve region 64M@0x30000000 has no memmap=64M\$0x30000000: a kernel without hvcarve support would use it as RAM and KASLR may decompress the kernel into it (run 'hvcarve-cmdline next')"
	run "$HV" check --root "$QEMU" --cmdline 'hvcarve=64M@0x30000000 nokaslr'
	assert_success
	assert_line --partial "warning: hvcarve region 64M@0x30000000 has no memmap=64M\$0x30000000"
}

# Item 6a: this used to be an error ("memmap= limit of old KASLR
# decompressors"); the kernel takes up to 8 regions and a kexec'd kernel
# gets the carveout from the e820 map, so check now only warns.
@test "item 6a: check warns, no longer refuses, more than 4 memmap reservations" {
	local line
	line=$("$HV" next --from "$CL/kaslr-five.cmdline" 2>/dev/null)
	run "$HV" check --root "$QEMU" --cmdline "$line"
	assert_success
	assert_line --partial 'hvcarve-cmdline: warning: 5 memmap= reservations, but the x86 KASLR decompressor of a kernel without hvcarve honours only 4'
	assert_line --partial 'affected: memmap=2M$0x2000000; use fewer regions or add nokaslr if such a kernel is ever booted from the firmware'
	assert_line --partial 'check: 5 region(s), 0 error(s), 1 warning(s)'
	run "$HV" check --root "$QEMU" --cmdline "$line nokaslr"
	assert_success
	assert_line --partial '(harmless here: nokaslr is set)'
	# All 8 regions the kernel takes: accepted, with the warning.
	line=$("$HV" next --cmdline "$(sed 's/,2M@0x3000000//' "$CL/nine-regions.cmdline")" 2>/dev/null)
	run "$HV" check --root "$QEMU" --cmdline "$line"
	assert_success
	assert_line --partial 'check: 8 region(s), 0 error(s), 1 warning(s)'
}

@test "check counts memmap entries of other parameters towards the KASLR limit" {
	run "$HV" check --root "$QEMU" --cmdline 'memmap=4K$0x9f000,4K#0xa0000 memmap=1M!0x200000 memmap=1M$0x400000 hvcarve=64M@0x30000000 memmap=64M$0x30000000'
	assert_success
	assert_line --partial 'warning: 5 memmap= reservations'
	assert_line --partial 'affected: memmap=64M$0x30000000'
}

@test "check rejects more than 8 regions and overlapping regions" {
	run "$HV" check --root "$QEMU" --cmdline "$(cat "$CL/nine-regions.cmdline") nokaslr"
	assert_failure 1
	assert_line --partial '": "2M@0x3000000": more than 8 regions (the kernel'
	run "$HV" check --root "$QEMU" --cmdline 'hvcarve=4M@0x1000000,2M@0x1200000 nokaslr'
	assert_failure 1
	assert_line "$(refusal 'rejecting "hvcarve=4M@0x1000000,2M@0x1200000": "2M@0x1200000": region overlaps another hvcarve region')"
}

@test "check names the first huge or overflowing value, as the kernel does" {
	run "$HV" check --root "$QEMU" --cmdline 'hvcarve=16E@0,2M@0xffffffffffffffff,0xffffffffffffffff@0x0'
	assert_failure 1
	assert_line "$(refusal 'rejecting "hvcarve=16E@0,2M@0xffffffffffffffff,0xffffffffffffffff@0x0": "16E@0": size does not fit in 64 bits')"
	assert_line --partial "check: 0 region(s), 1 error(s), 0 warning(s)"
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
region@200000000: peak_deposited_pages = 30000
region@800000000: peak_deposited_pages = 180000
overflow_pages = 1234
pages: 30000 + 180000 + 1234 = 211234
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
	mkdir -p "$r/region@1000000"
	echo 0 >"$r/region@1000000/peak_deposited_pages"
	run "$HV" size --root "$BATS_TEST_TMPDIR/zero"
	assert_success
	assert_line 'raised to the 2 MiB minimum: 2097152'
	assert_line 'recommended size: 2M'
}

# Issue 16, Form: regions are named by base address, so their order is the
# bases' (a string sort would put 0xa0000000 after 0x100000000), and a
# directory of the old index names or a malformed name is no region.
@test "size orders regions by base address, not by name" {
	local r=$BATS_TEST_TMPDIR/many/sys/kernel/mm/hvcarve n d
	n=0
	for d in region@1000000 region@a0000000 region@100000000 region@9fffe00000; do
		n=$((n + 1))
		mkdir -p "$r/$d"
		echo "$n" >"$r/$d/peak_deposited_pages"
	done
	for d in region0 region@xyz region@10000000000000; do
		mkdir -p "$r/$d"
		echo 1000 >"$r/$d/peak_deposited_pages"
	done
	run "$HV" size --root "$BATS_TEST_TMPDIR/many"
	assert_success
	assert_line --index 0 'region@1000000: peak_deposited_pages = 1'
	assert_line --index 1 'region@a0000000: peak_deposited_pages = 2'
	assert_line --index 2 'region@100000000: peak_deposited_pages = 3'
	assert_line --index 3 'region@9fffe00000: peak_deposited_pages = 4'
	assert_line 'pages: 1 + 2 + 3 + 4 + 0 = 10'
}

@test "size error paths" {
	# Without DIR/sys/kernel/mm/hvcarve (or without region directories) size
	# used to fail with exit 3; it now answers from the rule (item 4), see
	# the size tests below.  Malformed counters are still exit 3.
	run "$HV" size --root "$NUMA" --margin -5
	assert_failure 2
	assert_output --partial "size: --margin needs a whole percentage from 0 to 1000, not '-5'"
	run "$HV" size --root "$NUMA" extra
	assert_failure 2
	assert_output --partial "size: unexpected argument 'extra'"
	run "$HV" size --root "$NUMA" --margin=lots
	assert_failure 2
	assert_output --partial "size: --margin needs a whole percentage from 0 to 1000, not 'lots'"
	run "$HV" size --root "$NUMA" --vps many
	assert_failure 2
	assert_output --partial "size: --vps needs a whole number from 0 to 100000, not 'many'"
	local r=$BATS_TEST_TMPDIR/bad/sys/kernel/mm/hvcarve
	mkdir -p "$r/region@1000000"
	echo 99999999999999999999 >"$r/region@1000000/peak_deposited_pages"
	run "$HV" size --root "$BATS_TEST_TMPDIR/bad"
	assert_failure 3
	assert_output "hvcarve-cmdline: error: $r/region@1000000/peak_deposited_pages: '99999999999999999999' is not a plausible page count"
}

# ----------------------------------------------------------- kexec-args --
#
# kexec-args now refuses a KERNEL or INITRD that is not there (exit 3, item
# 3), so these tests make the files instead of naming /boot paths that do
# not exist.

# kernel_files: $K and $I, a kernel and an initrd file in the test's dir.
kernel_files() {
	mkdir -p "$BATS_TEST_TMPDIR/boot"
	K=$BATS_TEST_TMPDIR/boot/vmlinuz-7.3.4
	I=$BATS_TEST_TMPDIR/boot/initrd.img-7.3.4
	echo kernel >"$K"
	echo initrd >"$I"
}

@test "kexec-args prints kexec -s with the next command line, and a bounded kexec -l" {
	kernel_files
	run "$HV" kexec-args "$K" "$I" --root "$QEMU"
	assert_success
	local app="--append='root=UUID=0f3c5a8e-9a51-4a0e-8a52-2d6d8b3e6c11 ro console=ttyS0,115200n8 crashkernel=128M hvcarve=64M@0x30000000 memmap=64M\$0x30000000 quiet'"
	assert_line --index 0 "kexec -s -l $K --initrd=$I $app"
	assert_line --index 2 --partial "# so keep every segment in 0x0-0x2fffffff, below the first carveout region"
	assert_line --index 4 "# kexec -l $K --initrd=$I --mem-min=0x0 --mem-max=0x2fffffff $app"
}

@test "kexec-args picks the largest window with low RAM between regions" {
	kernel_files
	run "$HV" kexec-args "$K" --root "$NUMA" --cmdline 'hvcarve=1G@0x800000000,256M@0x200000000,2M@0x1000000'
	assert_success
	assert_line --index 2 --partial "# so keep every segment in 0x1200000-0x1ffffffff, between two carveout regions"
	assert_line --partial "--mem-min=0x1200000 --mem-max=0x1ffffffff"
}

@test "kexec-args output evaluates to the right kexec arguments" {
	local k="$BATS_TEST_TMPDIR/my kernel"
	echo kernel >"$k"
	run "$HV" kexec-args "$k" --cmdline "x='y' z=\$(>$CANARY) hvcarve=2M@0x1000000 BOOT_IMAGE=/old" --root "$QEMU"
	assert_success
	local -a argv
	mapfile -d '' argv < <(guarded_words "${lines[0]}")
	no_canary
	assert_equal "${#argv[@]}" 5
	assert_equal "${argv[0]}" kexec
	assert_equal "${argv[3]}" "$k"
	assert_equal "${argv[4]}" "--append=x='y' z=\$(>$CANARY) hvcarve=2M@0x1000000 memmap=2M\$0x1000000"
	# The negative control: the same words, had kexec-args not quoted the
	# --append value, would have run the payload.
	guarded_words "${lines[0]//\'/}" >/dev/null
	run no_canary
	assert_failure
}

@test "kexec-args error paths" {
	kernel_files
	run "$HV" kexec-args --root "$QEMU"
	assert_failure 2
	assert_output --partial "kexec-args: KERNEL is missing"
	run "$HV" kexec-args a b c --root "$QEMU"
	assert_failure 2
	assert_output --partial "kexec-args: unexpected argument 'c'"
	run "$HV" kexec-args "$K" --cmdline "$(cat "$CL/conflict-usable.cmdline")"
	assert_failure 1
	assert_output --partial "memmap=32M@0x32000000 conflicts with hvcarve region 64M@0x30000000"
}

@test "item 3: kexec-args exits 3 for a KERNEL or INITRD that is not there (it exited 0)" {
	kernel_files
	run "$HV" kexec-args /boot/vmlinuz-nonexistent --root "$QEMU"
	assert_failure 3
	assert_output "hvcarve-cmdline: error: cannot read /boot/vmlinuz-nonexistent"
	run "$HV" kexec-args "$K" "$BATS_TEST_TMPDIR/no-initrd" --root "$QEMU"
	assert_failure 3
	assert_output "hvcarve-cmdline: error: cannot read $BATS_TEST_TMPDIR/no-initrd"
	run "$HV" kexec-args "$BATS_TEST_TMPDIR" --root "$QEMU"
	assert_failure 3
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
	# ...and without the "hvcarve" entry in /proc/iomem that a kernel with
	# hvcarve= has (check now takes the running carveout from there too).
	sed -i '/ : hvcarve$/d' "$r/proc/iomem"
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
	# ...and without the "hvcarve" entry in /proc/iomem that a kernel with
	# hvcarve= has (check now takes the running carveout from there too).
	sed -i '/ : hvcarve$/d' "$r/proc/iomem"
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

# ------------------------------------------- item 1: one parser, corpus --

# corpus_check: run every line of the corpus through hvcarve-parse ($PARSE)
# and through "check" on flat-4p (nokaslr first: a region without its
# memmap= twin is then only a warning), and compare both with the verdict
# of the line.  Prints the first disagreement and returns 1; prints the
# number of lines checked otherwise.
corpus_check() {
	local line cmd verdict n=0 rc out exp r i err
	while IFS= read -r line; do
		[[ -z $line || $line == \#* ]] && continue
		[[ $line == *' => '* ]] || { echo "corpus line without ' => ': $line"; return 1; }
		cmd=${line% => *} verdict=${line##* => }
		n=$((n + 1))
		# The kernel's parser itself.
		rc=0
		out=$("$PARSE" "$cmd") || rc=$?
		case $verdict in
		none) exp="0:" ;;
		accept\ *)
			exp="0:" i=0
			for r in ${verdict#accept }; do
				exp+="region $i ${r%%:*} ${r#*:}"$'\n'
				i=$((i + 1))
			done
			exp=${exp%$'\n'}
			;;
		refuse\ *) exp="1:${verdict#refuse }" ;;
		*) echo "corpus line with an unknown verdict: $line"; return 1 ;;
		esac
		if [[ "$rc:$out" != "$exp" ]]; then
			printf 'hvcarve-parse disagrees with the corpus on: %s\n  expected: %s\n  got:      %s\n' "$cmd" "$exp" "$rc:$out"
			return 1
		fi
		# The tool's check.
		rc=0
		out=$("$HV" check --root "$FLAT" --cmdline "nokaslr $cmd" 2>"$BATS_TEST_TMPDIR/err") || rc=$?
		err=$(grep ': error: ' "$BATS_TEST_TMPDIR/err" || true)
		case $verdict in
		none)
			if [[ $rc != 1 || $err != "hvcarve-cmdline: error: no hvcarve= regions on the command line" ]]; then
				printf 'check disagrees (none) on: %s\n  exit %s, errors: %s\n' "$cmd" "$rc" "$err"
				return 1
			fi
			;;
		accept\ *)
			exp="" i=0
			for r in ${verdict#accept }; do
				exp+=" $i:$(printf '0x%x-0x%x' "${r%%:*}" $((${r%%:*} + ${r#*:} - 1)))"
				i=$((i + 1))
			done
			out=$(sed -n -E 's/^hvcarve-cmdline: region ([0-9]+): [^ ]+ = (0x[0-9a-f]+-0x[0-9a-f]+), in System RAM .*/ \1:\2/p' <<<"$out" | tr -d '\n')
			if [[ $rc != 0 || -n $err || $out != "$exp" ]]; then
				printf 'check disagrees (accept) on: %s\n  exit %s, regions%s (expected%s), errors: %s\n' "$cmd" "$rc" "$out" "$exp" "$err"
				return 1
			fi
			;;
		refuse\ *)
			if [[ $rc != 1 || $err != "$(refusal "${verdict#refuse }")" ]]; then
				printf 'check disagrees (refuse) on: %s\n  exit %s, errors: %s\n' "$cmd" "$rc" "$err"
				return 1
			fi
			;;
		esac
	done <"$CORPUS"
	echo "$n corpus lines"
}

@test "item 1: every corpus value gets the corpus's verdict from hvcarve-parse and from check" {
	run corpus_check
	assert_success
	# Every kind the issue names is there.
	local k
	for k in '=67108864@' '=0x4000000@' '=0400000000@' '64m@1g' '1t@1T' '1p@2P' '4K@0e' '16E@0' \
		'size + address overflows' 'size is zero' 'not page aligned' 'beyond the physical address space' \
		'garbage after' '": "": empty region' 'empty parameter' 'more than 8 regions' \
		'hvcarve=64M@0x3a000000,64M@0x3a000000 =>' 'hvcarve=64M@0x3a000000 hvcarve=64M@0x3a000000 =>' \
		'"hvcarve=64M@0x3a000000" =>' 'quiet -- hvcarve=' '"--" hvcarve'; do
		grep -qF -- "$k" "$CORPUS" || fail "the corpus has no line with '$k'"
	done
	[ "$(grep -c ' => ' "$CORPUS")" -ge 60 ]
}

@test "item 1: negative controls: the corpus check fails when a parser drifts, or the corpus is wrong" {
	# A parser that took 46 physical address bits for every line (what the
	# tool would ask on a 4-level host) refuses 1p@2P: check then disagrees
	# with hvcarve-parse and with the corpus.
	local stub=$BATS_TEST_TMPDIR/drifted-parse
	printf '#!/bin/sh\nfor a; do last=$a; done\nexec %s --phys-bits 46 "$last"\n' "$PARSE" >"$stub"
	chmod +x "$stub"
	HVCARVE_PARSE=$stub run corpus_check
	assert_failure
	assert_output --partial 'check disagrees (accept) on: hvcarve=1p@2P'
	# A corpus whose verdict is wrong is caught by hvcarve-parse itself.
	CORPUS=$BATS_TEST_TMPDIR/corpus
	echo 'hvcarve=64M@0x3a000000,64M@0x3a000000 => accept 0x3a000000:0x4000000' >"$CORPUS"
	run corpus_check
	assert_failure
	assert_output --partial 'hvcarve-parse disagrees with the corpus on: hvcarve=64M@0x3a000000,64M@0x3a000000'
}

@test "item 1: the issue's examples: check refuses a region given twice, in one hvcarve= or two (it reported 0 errors)" {
	run --separate-stderr "$HV" check --root "$FLAT" --cmdline 'hvcarve=64M@0x3a000000,64M@0x3a000000 memmap=64M$0x3a000000'
	assert_failure 1
	assert_equal "$stderr" "$(refusal 'rejecting "hvcarve=64M@0x3a000000,64M@0x3a000000": "64M@0x3a000000": region overlaps another hvcarve region')"
	assert_output --partial 'check: 0 region(s), 1 error(s)'
	run --separate-stderr "$HV" check --root "$FLAT" --cmdline 'hvcarve=64M@0x3a000000 hvcarve=64M@0x3a000000 memmap=64M$0x3a000000'
	assert_failure 1
	assert_equal "$stderr" "$(refusal 'rejecting "hvcarve=64M@0x3a000000": "64M@0x3a000000": region overlaps another hvcarve region')"
	# next and kexec-args refuse them the same way.
	run "$HV" next --cmdline 'hvcarve=64M@0x3a000000 hvcarve=64M@0x3a000000'
	assert_failure 1
	kernel_files
	run "$HV" kexec-args "$K" --cmdline 'hvcarve=64M@0x3a000000,64M@0x3a000000'
	assert_failure 1
	assert_output --partial 'region overlaps another hvcarve region'
}

@test "item 1: the bash copy of the kernel's rules is gone from the script" {
	# What replaced it: run_parse; what must not come back: the region
	# checks of the old parser.
	grep -q '^run_parse() {' "$HV"
	run grep -nE '^check_region\(\)|is not page \(4 KiB\) aligned|at most \$MAX_REGIONS are supported|empty entry in the hvcarve= list' "$HV"
	assert_failure
}

@test "item 1: hvcarve-parse is found as \$HVCARVE_PARSE, beside the script, then ../tools/hvcarve; exit 3 with how to build it" {
	local d=$BATS_TEST_TMPDIR/inst stub
	mkdir -p "$d/bin"
	cp "$HV" "$d/bin/hvcarve-cmdline"
	# Neither beside the copy nor in ../tools/hvcarve, nor in PATH.
	if [ -x /usr/local/lib/hvcarve/hvcarve-parse ]; then
		skip "/usr/local/lib/hvcarve/hvcarve-parse is installed on this machine"
	fi
	PATH=/usr/bin:/bin run "$d/bin/hvcarve-cmdline" next --cmdline 'hvcarve=2M@0x1000000'
	assert_failure 3
	assert_output --partial "hvcarve-parse, the kernel's hvcarve= parser, is not installed: build it with 'make -C tools/hvcarve'"
	# --help and --version need no parser.
	PATH=/usr/bin:/bin run "$d/bin/hvcarve-cmdline" --version
	assert_success
	# In ../tools/hvcarve, as in the source tree.
	mkdir -p "$d/tools/hvcarve"
	ln -s "$PARSE" "$d/tools/hvcarve/hvcarve-parse"
	PATH=/usr/bin:/bin run "$d/bin/hvcarve-cmdline" next --cmdline 'hvcarve=2M@0x1000000'
	assert_success
	assert_output 'hvcarve=2M@0x1000000 memmap=2M$0x1000000'
	# Beside the script comes first: a stub there answers instead.
	stub=$d/bin/hvcarve-parse
	printf '#!/bin/sh\necho "region 0 0x2000000 0x400000"\n' >"$stub"
	chmod +x "$stub"
	PATH=/usr/bin:/bin run "$d/bin/hvcarve-cmdline" next --cmdline 'quiet'
	assert_output 'quiet hvcarve=4M@0x2000000 memmap=4M$0x2000000'
	# $HVCARVE_PARSE comes before everything, and must be executable.
	HVCARVE_PARSE=$PARSE PATH=/usr/bin:/bin run --separate-stderr "$d/bin/hvcarve-cmdline" next --cmdline 'quiet'
	assert_output 'quiet'
	HVCARVE_PARSE=$BATS_TEST_TMPDIR/none run "$HV" next --cmdline 'quiet'
	assert_failure 3
	assert_output "hvcarve-cmdline: error: HVCARVE_PARSE=$BATS_TEST_TMPDIR/none is not an executable file"
}

@test "item 1: physical address bits: the host's (la57 or not) for its own /proc/cmdline, 52 for --cmdline, or --phys-bits" {
	local r=$BATS_TEST_TMPDIR/host
	mkdir -p "$r/proc"
	# 64 TiB = 2^46: beyond 4-level paging, inside 5-level paging.
	echo 'hvcarve=64M@0x400000000000' >"$r/proc/cmdline"
	printf 'processor\t: 0\nflags\t\t: fpu sse la57 avx\n' >"$r/proc/cpuinfo"
	run "$HV" next --root "$r"
	assert_success
	assert_output 'hvcarve=64M@0x400000000000 memmap=64M$0x400000000000'
	printf 'processor\t: 0\nflags\t\t: fpu sse avx\n' >"$r/proc/cpuinfo"
	run "$HV" next --root "$r"
	assert_failure 1
	assert_output --partial '"64M@0x400000000000": region ends beyond the physical address space'
	# --cmdline is not the host's line: 52 bits unless told.
	run "$HV" next --cmdline 'hvcarve=64M@0x400000000000'
	assert_success
	run "$HV" next --cmdline 'hvcarve=64M@0x400000000000' --phys-bits 46
	assert_failure 1
	run "$HV" check --root "$FLAT" --cmdline 'hvcarve=64M@0x400000000000 nokaslr' --phys-bits 46
	assert_failure 1
	assert_output --partial 'region ends beyond the physical address space'
	run "$HV" next --cmdline 'quiet' --phys-bits 64
	assert_failure 2
	assert_output --partial "next: --phys-bits needs a number of bits from 12 to 62, not '64'"
}

@test "item 1: next --add is checked by the kernel's parser; the result is the union; more than 8 regions is the kernel's refusal" {
	run "$HV" next --cmdline 'hvcarve=2M@0x1000000' --add 2M@0x1000000 --add 4M@0x2000000,2M@0x3000000
	assert_success
	assert_output 'hvcarve=2M@0x1000000,4M@0x2000000,2M@0x3000000 memmap=2M$0x1000000 memmap=4M$0x2000000 memmap=2M$0x3000000'
	run "$HV" next --cmdline 'hvcarve=2M@0x1000000' --add 4M@0x1000000
	assert_failure 1
	assert_output "hvcarve-cmdline: error: added region 4M@0x1000000 overlaps hvcarve region 2M@0x1000000"
	run "$HV" next --from "$CL/kaslr-five.cmdline" --add 2M@0x2400000,2M@0x2800000,2M@0x2c00000,2M@0x3000000
	assert_failure 1
	assert_output --partial '": "2M@0x3000000": more than 8 regions (the kernel'
}

# --------------------------------------- item 3: conventions, exit codes --

@test "item 3: --version prints the tool's version" {
	run "$HV" --version
	assert_success
	assert_output --regexp '^hvcarve-cmdline [0-9]+\.[0-9]+$'
	grep -q "^VERSION=${output#hvcarve-cmdline }\$" "$HV"
}

@test "item 3: next --add with a malformed value is a usage error (exit 2, it was 1)" {
	run "$HV" next --cmdline 'quiet' --add 1G
	assert_failure 2
	assert_line "hvcarve-cmdline: error: next: --add '1G': rejecting \"hvcarve=1G\": \"1G\": missing '@address' after the size"
	assert_line "Try 'hvcarve-cmdline next --help'."
	run "$HV" next --cmdline 'quiet' --add '2M@0x1000000 x=1'
	assert_failure 2
	run "$HV" next --cmdline 'quiet' --add 2M@0x1000800
	assert_failure 2
}

@test "item 3: next --drop hvcarve --drop memmap really drops them (rollback; it printed them again)" {
	run --separate-stderr "$HV" next --root "$QEMU" --drop hvcarve --drop memmap
	assert_success
	assert_output 'root=UUID=0f3c5a8e-9a51-4a0e-8a52-2d6d8b3e6c11 ro console=ttyS0,115200n8 crashkernel=128M quiet'
	assert_equal "$stderr" "hvcarve-cmdline: warning: --drop hvcarve: the next kernel gets no hvcarve= (and no carveout)"
	# Even a line the kernel would refuse can be rolled back.
	run --separate-stderr "$HV" next --cmdline 'a hvcarve=junk memmap=2M$0x1000000 b' --drop hvcarve --drop memmap
	assert_success
	assert_output 'a b'
	# --drop memmap alone: hvcarve= stays, without twins, with a warning.
	run --separate-stderr "$HV" next --cmdline 'hvcarve=2M@0x1000000 memmap=2M$0x1000000 memmap=1G@0x100000000' --drop memmap
	assert_success
	assert_output 'hvcarve=2M@0x1000000'
	[[ $stderr == *"--drop memmap: the next kernel gets hvcarve= without its memmap=SIZE\$ADDR twins"* ]]
}

@test "item 3: diagnostics go to stderr, results to stdout" {
	run --separate-stderr "$HV" check --root "$QEMU" --cmdline 'hvcarve=1028K@0x1001000 memmap=1028K$0x1001000 hvcarve=64M@0x30000000'
	assert_failure 1
	[[ $output != *error:* && $output != *warning:* ]]
	[[ $stderr == *"hvcarve-cmdline: warning:"* ]]
	run --separate-stderr "$HV" size --root "$BATS_TEST_TMPDIR/none"
	assert_success
	[[ $output != *warning:* ]]
	[[ $stderr == *"warning:"*"no carveout yet"* ]]
}

# jq_valid: stdin is one valid JSON object; prints it compactly.
jq_valid() {
	command -v jq >/dev/null || { echo "jq is needed for the JSON tests (apt-get install jq)"; return 1; }
	jq -c -e 'type == "object"'" and .tool == \"hvcarve-cmdline\"" >/dev/null || return 1
}

@test "item 3: check --json is one valid JSON object, with the kernel's verdict and the regions" {
	run --separate-stderr "$HV" check --root "$QEMU" --json
	assert_success
	jq_valid <<<"$output"
	assert_equal "$(jq -r '.ok, .hvcarve.verdict, .regions[0].region, .regions[0].base, .regions[0].size, .regions[0].system_ram, .regions[0].memmap_twin, (.errors|length)' <<<"$output" | tr '\n' ' ')" \
		"true accept 64M@0x30000000 0x30000000 0x4000000 0x100000-0x3ffdffff true 0 "
	run --separate-stderr "$HV" check --root "$QEMU" --json --cmdline 'hvcarve=64M@0x3a000000 hvcarve=64M@0x3a000000'
	assert_failure 1
	jq_valid <<<"$output"
	assert_equal "$(jq -r '.ok, .hvcarve.verdict, .hvcarve.message, (.regions|length)' <<<"$output" | tr '\n' '|')" \
		'false|refuse|rejecting "hvcarve=64M@0x3a000000": "64M@0x3a000000": region overlaps another hvcarve region|0|'
}

@test "item 3: the JSON string escaper: quotes, backslashes, \$, tabs, newlines and control characters round-trip" {
	local line=$'hvcarve=2M@0x1000000 memmap=2M$0x1000000 a="x \\" y" b=\\\\ c=\t d=\x01\x1f e=\'\' f=\xc3\xa9'
	run --separate-stderr "$HV" check --root "$QEMU" --json --cmdline "$line"
	jq_valid <<<"$output"
	assert_equal "$(jq -j .cmdline <<<"$output")" "$line"
	# The control characters are escaped, not raw.
	[[ $output == *'\u0001\u001f'* && $output == *'c=\t'* ]]
}

@test "item 3: size --json and status --json are valid JSON objects" {
	run --separate-stderr "$HV" size --root "$HOST2" --json
	assert_success
	jq_valid <<<"$output"
	assert_equal "$(jq -r '.method, .pages, .recommended, .counters.regions[1].full, (.warnings|length)' <<<"$output" | tr '\n' ' ')" "counters 23576 116M true 1 "
	run --separate-stderr "$HV" status --root "$HOST2" --json
	assert_success
	jq_valid <<<"$output"
}

# -------------------------------------------- item 4: size without hvcarve --

@test "item 4: size answers on a host without a carveout, from mainline's deposit constants, naming each source" {
	local r=$BATS_TEST_TMPDIR/new-host
	mkdir -p "$r/proc"
	printf 'processor\t: 0\nflags\t: fpu\n\nprocessor\t: 1\nflags\t: fpu\n\nprocessor\t: 2\nflags\t: fpu\n\nprocessor\t: 3\nflags\t: fpu\n' >"$r/proc/cpuinfo"
	run --separate-stderr "$HV" size --root "$r"
	assert_success
	[[ $stderr == *"$r/sys/kernel/mm/hvcarve is missing (no carveout yet): the size comes from the rule alone, with assumed counts"* ]]
	assert_line --index 0 'rule: the deposits of mainline Linux 7.3 (drivers/hv/mshv_root_hv_call.c, drivers/hv/hv_proc.c)'
	assert_line --index 1 --partial 'partitions: 1 x 208 = 208 pages, count assumed (HV_INIT_PARTITION_DEPOSIT_PAGES, deposited by hv_call_initialize_partition()'
	assert_line --index 2 --partial 'GPA-map deposits: 1 x 256 = 256 pages, count assumed (HV_MAP_GPA_DEPOSIT_PAGES, deposited by hv_do_map_gpa_hcall()'
	assert_line --index 3 --partial 'guest VPs: 4 x 90 = 360 pages, count assumed (deposited by hv_call_create_vp()'
	assert_line --index 4 --partial 'LPs: 4 x 8 = 32 pages (hv_call_add_logical_proc(), drivers/hv/hv_proc.c, deposits only when the hypervisor asks, through hv_deposit_memory_node()'
	assert_line --index 5 'pages: 208 + 256 + 360 + 32 = 856'
	assert_line 'recommended size: 6M'
	# The constants are the 7.3 tree's, where it is at hand.
	local t=$REPO/build/linux
	if [ -f "$t/drivers/hv/mshv_root_hv_call.c" ]; then
		grep -qE '^#define HV_INIT_PARTITION_DEPOSIT_PAGES[[:space:]]+208$' "$t/drivers/hv/mshv_root_hv_call.c"
		grep -qE '^#define HV_MAP_GPA_DEPOSIT_PAGES[[:space:]]+256$' "$t/drivers/hv/mshv_root_hv_call.c"
		grep -q 'hv_call_deposit_pages(node, partition_id, 90);' "$t/drivers/hv/hv_proc.c"
		grep -qE '^#define HV_MAX_CONTIGUOUS_ALLOCATION_PAGES[[:space:]]+8$' "$t/include/hyperv/hvhdk_mini.h"
	fi
}

@test "item 4: size with --partitions --vps --lps, and with the counters too (the larger wins)" {
	run --separate-stderr "$HV" size --root "$BATS_TEST_TMPDIR/none" --partitions 4 --vps 32 --lps 64 --map-deposits 10 --margin 0
	assert_success
	assert_equal "$stderr" ""
	assert_line 'pages: 832 + 2560 + 2880 + 512 = 6784'
	assert_line 'recommended size: 28M'
	run --separate-stderr "$HV" size --root "$NUMA" --partitions 1 --vps 2 --lps 2
	assert_success
	assert_line 'counter pages: 30000 + 180000 + 1234 = 211234'
	assert_line 'rule pages: 208 + 256 + 180 + 16 = 660'
	assert_line 'pages: the larger of counters and rule, max(211234, 660) = 211234'
	assert_line 'recommended size: 1032M'
	# An empty hvcarve directory (state disabled: no regions) is no carveout.
	mkdir -p "$BATS_TEST_TMPDIR/empty/sys/kernel/mm/hvcarve"
	run --separate-stderr "$HV" size --root "$BATS_TEST_TMPDIR/empty"
	assert_success
	[[ $stderr == *"no region directories (region@<base>) under"* ]]
}

@test "item 4: size warns when a region's peak reached its total (the carveout was full)" {
	run --separate-stderr "$HV" size --root "$HOST2"
	assert_success
	assert_equal "$stderr" "hvcarve-cmdline: warning: region@850000000: peak_deposited_pages 8192 reached total_pages 8192: the carveout region was full at some point (deposits then failed, or used ordinary memory), so the hypervisor needed more than these counters show"
	run --separate-stderr "$HV" size --root "$NUMA"
	assert_equal "$stderr" ""
}

# ------------------------------------------------------- item 5: status --

@test "item 5: status shows a running hvcarve" {
	run --separate-stderr "$HV" status --root "$HOST2"
	assert_success
	assert_output - <<'EOF'
hvcarve: state active, overflow_policy deny, overflow_pages 0 (300 since boot), 2 region(s)
region@30000000: 64M at 0x30000000, node 0: 16384 pages: 1000 free, 15000 deposited, 384 inherited; peak 15384; since boot 20000 deposited, 0 failed, 5000 withdrawn
region@850000000: 32M at 0x850000000, node 1: 8192 pages: 0 free, 8000 deposited, 192 inherited; peak 8192; since boot 9000 deposited, 12 failed, 1000 withdrawn
EOF
	[[ $stderr == *"warning: region@850000000: peak_deposited_pages 8192 reached total_pages 8192"* ]]
	# Files that are missing show as "-".
	run --separate-stderr "$HV" status --root "$NUMA"
	assert_success
	assert_line --index 0 'hvcarve: state -, overflow_policy -, overflow_pages 1234 (- since boot), 2 region(s)'
	assert_line --index 2 'region@800000000: - at -, node -: - pages: - free, - deposited, - inherited; peak 180000; since boot - deposited, - failed, - withdrawn'
}

# Issue 16, item 11: a distrusted carveout is said, with what happened.
@test "item 5: status warns when the carveout is distrusted, with the contradiction" {
	local root=$BATS_TEST_TMPDIR/host-distrusted
	cp -r "$HOST2" "$root"
	echo distrusted >"$root/sys/kernel/mm/hvcarve/state"
	echo "partition 0x2: 50 pages were accepted, but its memory balance grew by 0" \
		>"$root/sys/kernel/mm/hvcarve/reason"
	run --separate-stderr "$HV" status --root "$root"
	assert_success
	assert_line --index 0 'hvcarve: state distrusted, overflow_policy deny, overflow_pages 0 (300 since boot), 2 region(s)'
	[[ $stderr == *"hvcarve-cmdline: warning: the carveout is distrusted: the hypervisor contradicted what hvcarve assumes (partition 0x2: 50 pages were accepted, but its memory balance grew by 0); this kernel deposits no more carveout pages"* ]]
	# Control: active, no such warning.
	run --separate-stderr "$HV" status --root "$HOST2"
	[[ $stderr != *distrusted* ]]
}

@test "item 5: status --json has every file of every region" {
	run --separate-stderr "$HV" status --root "$HOST2" --json
	assert_success
	jq_valid <<<"$output"
	assert_equal "$(jq -c '.regions[1]' <<<"$output")" \
		'{"region":"region@850000000","base":"0x850000000","size":33554432,"node":1,"total_pages":8192,"free_pages":0,"deposited_pages":8000,"inherited_pages":192,"peak_deposited_pages":8192,"deposit_success_pages":9000,"deposit_fail_pages":12,"withdrawn_pages":1000,"full":true}'
	assert_equal "$(jq -r '.present, .state, .overflow_policy, .overflow_pages, .overflow_cumulative_pages, (.warnings|length)' <<<"$output" | tr '\n' ' ')" "true active deny 0 300 1 "
}

# prom_valid: stdin is node_exporter text format: every sample of a family
# after its # HELP and # TYPE, names hvcarve_*, counters *_total, numbers.
prom_valid() {
	local line name typed=" " seen=" "
	while IFS= read -r line; do
		if [[ $line =~ ^#\ HELP\ (hvcarve_[a-z_]+)\ .+$ ]]; then
			continue
		elif [[ $line =~ ^#\ TYPE\ (hvcarve_[a-z_]+)\ (gauge|counter)$ ]]; then
			name=${BASH_REMATCH[1]}
			[[ $seen != *" $name "* ]] || { echo "family $name twice"; return 1; }
			seen+="$name "
			typed+="$name:${BASH_REMATCH[2]} "
			[[ ${BASH_REMATCH[2]} != counter || $name == *_total ]] || { echo "counter $name without _total"; return 1; }
		elif [[ $line =~ ^(hvcarve_[a-z_]+)(\{[a-z_]+=\"[^\"]*\"(,[a-z_]+=\"[^\"]*\")*\})?\ -?[0-9]+$ ]]; then
			name=${BASH_REMATCH[1]}
			[[ $typed == *" $name:"* ]] || { echo "sample before # TYPE: $line"; return 1; }
		else
			echo "not textfile format: $line"
			return 1
		fi
	done
}

@test "item 5: status --prom writes node_exporter's textfile format: gauges, counters, label base" {
	run --separate-stderr "$HV" status --root "$HOST2" --prom
	assert_success
	prom_valid <<<"$output"
	assert_line 'hvcarve_present 1'
	assert_line 'hvcarve_state{state="active"} 1'
	assert_line 'hvcarve_state{state="invalid"} 0'
	assert_line 'hvcarve_overflow_policy{policy="deny"} 1'
	assert_line '# TYPE hvcarve_region_free_pages gauge'
	assert_line 'hvcarve_state{state="distrusted"} 0'
	assert_line 'hvcarve_region_free_pages{base="0x850000000"} 0'
	assert_line '# TYPE hvcarve_region_deposit_fail_pages_total counter'
	assert_line 'hvcarve_region_deposit_fail_pages_total{base="0x850000000"} 12'
	assert_line 'hvcarve_region_size_bytes{base="0x30000000"} 67108864'
	assert_line '# TYPE hvcarve_overflow_cumulative_pages_total counter'
	assert_line 'hvcarve_overflow_cumulative_pages_total 300'
	# The checker itself catches a broken document.
	run prom_valid <<<$'# TYPE hvcarve_x counter\nhvcarve_x 1'
	assert_failure
	run prom_valid <<<'hvcarve_y 1'
	assert_failure
}

@test "item 5: status without hvcarve exits 3 and says so; --json and --prom still print their document" {
	run --separate-stderr "$HV" status --root "$BATS_TEST_TMPDIR/none"
	assert_failure 3
	assert_output ''
	assert_equal "$stderr" "hvcarve-cmdline: error: $BATS_TEST_TMPDIR/none/sys/kernel/mm/hvcarve is missing: hvcarve is not running (a kernel without hvcarve)"
	run --separate-stderr "$HV" status --root "$BATS_TEST_TMPDIR/none" --json
	assert_failure 3
	jq_valid <<<"$output"
	assert_equal "$(jq -r '.present, .state, (.regions|length), (.errors|length)' <<<"$output" | tr '\n' ' ')" "false null 0 1 "
	run --separate-stderr "$HV" status --root "$BATS_TEST_TMPDIR/none" --prom
	assert_failure 3
	prom_valid <<<"$output"
	assert_line 'hvcarve_present 0'
	run "$HV" status --json --prom
	assert_failure 2
	local r=$BATS_TEST_TMPDIR/bad/sys/kernel/mm/hvcarve
	mkdir -p "$r/region@1000000"
	echo lots >"$r/region@1000000/free_pages"
	run "$HV" status --root "$BATS_TEST_TMPDIR/bad"
	assert_failure 3
	assert_output "hvcarve-cmdline: error: $r/region@1000000/free_pages: 'lots' is malformed"
}

# ------------------------------- item 6b: two adjacent running regions --

@test "item 6b: two adjacent running regions, one merged Reserved entry in /sys/firmware/memmap, are accepted (both were refused)" {
	grep -qx Reserved "$ADJ/sys/firmware/memmap/4/type"
	[ "$(cat "$ADJ/sys/firmware/memmap/4/start") $(cat "$ADJ/sys/firmware/memmap/4/end")" = "0x30000000 0x33ffffff" ]
	run --separate-stderr "$HV" check --root "$ADJ"
	assert_success
	assert_output - <<EOF
hvcarve-cmdline: region 0: 32M@0x30000000 = 0x30000000-0x31ffffff, in System RAM 0x100000-0x3ffdffff
hvcarve-cmdline: region 1: 32M@0x32000000 = 0x32000000-0x33ffffff, in System RAM 0x100000-0x3ffdffff
hvcarve-cmdline: check: 2 region(s), 0 error(s), 0 warning(s) (memory map: $ADJ/sys/firmware/memmap)
EOF
	# The "hvcarve" entries of /proc/iomem alone name the running
	# carveout (a command line that is not readable, or that differs).
	local r=$BATS_TEST_TMPDIR/adj
	cp -a "$ADJ" "$r"
	echo 'root=/dev/sda1 ro' >"$r/proc/cmdline"
	run "$HV" check --root "$r" --cmdline 'hvcarve=32M@0x30000000,32M@0x32000000 memmap=32M$0x30000000 memmap=32M$0x32000000'
	assert_success
	# From /proc/iomem alone, without /sys/firmware/memmap, too.
	rm -r "$r/sys/firmware/memmap"
	run "$HV" check --root "$r" --cmdline 'hvcarve=32M@0x30000000,32M@0x32000000 memmap=32M$0x30000000 memmap=32M$0x32000000'
	assert_success
}

@test "item 6b: negative controls: without the running carveout, or for a range not shaped like it, the merged entry is an obstacle" {
	local r=$BATS_TEST_TMPDIR/adj
	cp -a "$ADJ" "$r"
	echo 'root=/dev/sda1 ro' >"$r/proc/cmdline"
	sed -i '/ : hvcarve$/d' "$r/proc/iomem"
	run "$HV" check --root "$r" --cmdline 'hvcarve=32M@0x30000000,32M@0x32000000 memmap=32M$0x30000000 memmap=32M$0x32000000'
	assert_failure 1
	assert_line --partial "error: hvcarve region 32M@0x30000000 (0x30000000-0x31ffffff) is not inside one contiguous System RAM range: overlaps Reserved 0x30000000-0x33ffffff"
	assert_line --partial "error: hvcarve region 32M@0x32000000 (0x32000000-0x33ffffff) is not inside one contiguous System RAM range: overlaps Reserved 0x30000000-0x33ffffff"
	# Only one of the two regions running: the merged entry is not its
	# shape, so it stays Reserved.
	cp -a "$ADJ" "$r.one"
	echo 'root=/dev/sda1 ro hvcarve=32M@0x30000000 memmap=32M$0x30000000' >"$r.one/proc/cmdline"
	sed -i '/22000000-33ffffff : hvcarve$/d; /32000000-33ffffff : hvcarve$/d' "$r.one/proc/iomem"
	run "$HV" check --root "$r.one" --cmdline 'hvcarve=32M@0x30000000 memmap=32M$0x30000000'
	assert_failure 1
	assert_line --partial "overlaps Reserved 0x30000000-0x33ffffff"
}

# -------------------------------------------- item 2: install, remove --

# new_root: a copy of debian-root in $R.
new_root() {
	R=$BATS_TEST_TMPDIR/root
	rm -rf "$R"
	cp -a "$DEBROOT" "$R"
}

# tree_sums DIR: a checksum line per file under DIR, sorted.
tree_sums() {
	(cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
}

@test "item 2: install writes the GRUB drop-in, the kdump-tools block and the kexec.d snippet; twice gives identical files; remove restores the files byte for byte" {
	new_root
	run --separate-stderr "$HV" install --root "$R" 64M@0x3a000000
	assert_success
	assert_equal "$stderr" ""
	assert_line --index 0 "hvcarve-cmdline: wrote $R/etc/default/grub.d/hvcarve.cfg (GRUB: hvcarve=64M@0x3a000000 memmap=64M\$0x3a000000)"
	assert_line --index 1 --partial "hvcarve-cmdline: wrote $R/etc/default/kdump-tools (kdump-tools: "
	assert_line --index 2 --partial "hvcarve-cmdline: wrote $R/etc/default/kexec.d/hvcarve (kexec-load: "
	assert_line --index 3 "hvcarve-cmdline: next: run update-grub (grub-mkconfig -o /boot/grub/grub.cfg) in $R, then reboot: the carveout is reserved at boot"
	# The drop-in: a header naming the tool and how to remove it, then
	# exactly the appending line.
	run head -n 1 "$R/etc/default/grub.d/hvcarve.cfg"
	assert_output --partial 'hvcarve-cmdline install'
	grep -q 'hvcarve-cmdline remove' "$R/etc/default/grub.d/hvcarve.cfg"
	run grep -v '^#' "$R/etc/default/grub.d/hvcarve.cfg"
	assert_output 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX hvcarve=64M@0x3a000000 memmap=64M\\\$0x3a000000"'
	# The block is at the end of kdump-tools, the rest is the original.
	run tail -n 8 "$R/etc/default/kdump-tools"
	assert_line --index 0 '# BEGIN hvcarve (hvcarve-cmdline install; hvcarve-cmdline remove deletes this block)'
	assert_line --index 7 '# END hvcarve'
	cmp <(head -c "$(stat -c %s "$DEBROOT/etc/default/kdump-tools")" "$R/etc/default/kdump-tools") "$DEBROOT/etc/default/kdump-tools"
	# Twice: identical files, said so.
	local before after
	before=$(tree_sums "$R")
	run --separate-stderr "$HV" install --root "$R" 64M@0x3a000000
	assert_success
	assert_line --index 0 --partial "hvcarve-cmdline: unchanged $R/etc/default/grub.d/hvcarve.cfg"
	assert_line --index 1 --partial "hvcarve-cmdline: unchanged $R/etc/default/kdump-tools"
	assert_line --index 2 --partial "hvcarve-cmdline: unchanged $R/etc/default/kexec.d/hvcarve"
	after=$(tree_sums "$R")
	assert_equal "$after" "$before"
	# remove: every file as it was (kexec.d, which Debian's kexec-tools
	# ships, stays, empty).
	run --separate-stderr "$HV" remove --root "$R"
	assert_success
	assert_line "hvcarve-cmdline: removed $R/etc/default/grub.d/hvcarve.cfg"
	assert_line "hvcarve-cmdline: removed $R/etc/default/kexec.d/hvcarve"
	assert_line "hvcarve-cmdline: removed the hvcarve block of $R/etc/default/kdump-tools"
	assert_equal "$(tree_sums "$R")" "$(tree_sums "$DEBROOT")"
	# remove on a system without them: nothing, exit 0.
	run --separate-stderr "$HV" remove --root "$R"
	assert_success
	assert_output "hvcarve-cmdline: nothing to remove in $R"
	assert_equal "$(tree_sums "$R")" "$(tree_sums "$DEBROOT")"
}

@test "item 2: install with a new value replaces the old one: the same files as a fresh install of the new value" {
	new_root
	"$HV" install --root "$R" 64M@0x3a000000 >/dev/null
	run --separate-stderr "$HV" install --root "$R" 0x2000000@0x50000000,32M@0x52000000
	assert_success
	assert_line --index 0 "hvcarve-cmdline: wrote $R/etc/default/grub.d/hvcarve.cfg (GRUB: hvcarve=32M@0x50000000,32M@0x52000000 memmap=32M\$0x50000000 memmap=32M\$0x52000000)"
	local replaced
	replaced=$(tree_sums "$R")
	new_root
	"$HV" install --root "$R" 32M@0x50000000,32M@0x52000000 >/dev/null
	assert_equal "$(tree_sums "$R")" "$replaced"
	[ "$(grep -c '^# BEGIN hvcarve' "$R/etc/default/kdump-tools")" = 1 ]
	run grep -c 0x3a000000 -r "$R/etc"
	assert_failure
}

# grub_files ROOT: /etc/default/grub and its drop-ins in grub-mkconfig's
# order, as one file (each is only sourced in turn).
grub_files() {
	cat "$1/etc/default/grub" "$1"/etc/default/grub.d/*.cfg
}

@test "item 2: GRUB: the drop-in appends to the distribution's line; grub.cfg gets memmap=64M\\\$0x3a000000 and the kernel memmap=64M\$0x3a000000" {
	load "$FIX/grub-sim.bash"
	new_root
	"$HV" install --root "$R" 64M@0x3a000000 >/dev/null
	grub_files "$R" >"$BATS_TEST_TMPDIR/grub"
	run grub_sim_source "$BATS_TEST_TMPDIR/grub" sh
	assert_output 'console=ttyS0,115200n8 hvcarve=64M@0x3a000000 memmap=64M\$0x3a000000'
	run grub_sim_render "$BATS_TEST_TMPDIR/grub"
	assert_output $'\tlinux\t/boot/vmlinuz-7.3.4-hvcarve root=/dev/vda1 ro console=ttyS0,115200n8 hvcarve=64M@0x3a000000 memmap=64M\\$0x3a000000 quiet crashkernel=384M-:128M'
	run grub_sim_kernel_cmdline "$output"
	assert_success
	# root=, ro and kdump-tools' crashkernel= once each.
	assert_output 'root=/dev/vda1 ro console=ttyS0,115200n8 hvcarve=64M@0x3a000000 memmap=64M$0x3a000000 quiet crashkernel=384M-:128M'
	# Negative control: the whole line of "next --format grub" written as
	# GRUB_CMDLINE_LINUX (what the tool offered before) repeats root=, ro
	# and crashkernel=; install refuses a GRUB configuration with hvcarve=.
	local line
	line=$("$HV" next --cmdline 'root=/dev/vda1 ro console=ttyS0,115200n8 crashkernel=384M-:128M' --add 64M@0x3a000000 --format grub)
	sed -i "s|^GRUB_CMDLINE_LINUX=.*|$(printf '%s' "$line" | sed 's/[\\&|]/\\&/g')|" "$R/etc/default/grub"
	"$HV" remove --root "$R" >/dev/null
	grub_files "$R" >"$BATS_TEST_TMPDIR/grub-old"
	run grub_sim_render "$BATS_TEST_TMPDIR/grub-old"
	run grub_sim_kernel_cmdline "$output"
	assert_output 'root=/dev/vda1 ro root=/dev/vda1 ro console=ttyS0,115200n8 crashkernel=384M-:128M hvcarve=64M@0x3a000000 memmap=64M$0x3a000000 quiet crashkernel=384M-:128M'
	run --separate-stderr "$HV" install --root "$R" 64M@0x3a000000
	assert_failure 1
	[[ $stderr == *"error: $R/etc/default/grub: line "*" already passes hvcarve= to the kernel, which would get it twice"* ]]
	[ ! -e "$R/etc/default/grub.d/hvcarve.cfg" ]
}

@test "item 2: GRUB: Debian's own grub-mkconfig, in a private /etc/default and /boot, writes memmap=64M\\\$0x3a000000 into grub.cfg" {
	[ "$(id -u)" = 0 ] || skip "needs root (a mount namespace of its own)"
	command -v grub-mkconfig >/dev/null || skip "no grub-mkconfig (grub-common)"
	[ -x /etc/grub.d/10_linux ] || skip "no /etc/grub.d/10_linux"
	unshare --mount true 2>/dev/null || skip "unshare --mount is not allowed here"
	new_root
	"$HV" install --root "$R" 64M@0x3a000000 >/dev/null
	local b=$BATS_TEST_TMPDIR/boot
	mkdir -p "$b/grub"
	echo kernel >"$b/vmlinuz-7.3.4-hvcarve"
	echo initrd >"$b/initrd.img-7.3.4-hvcarve"
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --mount --propagation private sh -c \
		'mount --bind "$1" /etc/default && mount --bind "$2" /boot && exec grub-mkconfig -o "$3"' \
		sh "$R/etc/default" "$b" "$BATS_TEST_TMPDIR/grub.cfg" >"$BATS_TEST_TMPDIR/mkconfig.log" 2>&1 ||
		{ cat "$BATS_TEST_TMPDIR/mkconfig.log"; false; }
	run grep -m 1 -P '^\tlinux\t' "$BATS_TEST_TMPDIR/grub.cfg"
	assert_success
	assert_output --regexp $'^\tlinux\t/.*/vmlinuz-7.3.4-hvcarve root=[^ ]+ ro console=ttyS0,115200n8 hvcarve=64M@0x3a000000 memmap=64M\\\\\\$0x3a000000 quiet crashkernel=384M-:128M$'
	load "$FIX/grub-sim.bash"
	run grub_sim_kernel_cmdline "$output"
	assert_output --partial ' console=ttyS0,115200n8 hvcarve=64M@0x3a000000 memmap=64M$0x3a000000 quiet crashkernel=384M-:128M'
}

# kdump_load DEFAULTS CMDLINE_FILE: what Debian's kdump-config (1.8.1,
# kdump_load()) passes to kexec as --command-line, with DEFAULTS as
# /etc/default/kdump-tools and CMDLINE_FILE as /proc/cmdline: it sources
# the defaults, builds KEXEC_CMD and runs "eval $KEXEC_CMD", as it does.
kdump_load() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	sh -c '
		fake_kexec() { for a; do case $a in --command-line=*) printf "%s\n" "${a#--command-line=}" ;; esac; done; }
		. "$1"
		KDUMP_CMDLINE_APPEND=${KDUMP_CMDLINE_APPEND:="reset_devices systemd.unit=kdump-tools-dump.service nr_cpus=1 irqpoll usbcore.nousb"}
		KEXEC=fake_kexec
		KEXEC_CMD="$KEXEC -p"
		if [ -z "$KDUMP_CMDLINE" ] ; then
			KDUMP_CMDLINE=$(sed -re "s/(^| )(crashkernel|hugepages|hugepagesz|abm)=[^ ]*//g;s/\"/\\\\\\\\\"/" "$2")
		fi
		KDUMP_CMDLINE="$KDUMP_CMDLINE $KDUMP_CMDLINE_APPEND"
		KEXEC_CMD="$KEXEC_CMD --command-line=\"$KDUMP_CMDLINE\""
		KEXEC_CMD="$KEXEC_CMD --initrd=/var/lib/kdump/initrd.img"
		KEXEC_CMD="$KEXEC_CMD /var/lib/kdump/vmlinuz"
		eval $KEXEC_CMD
	' kdump-config "$1" "$2"
}

@test "item 2: kdump-tools: through kdump-config's eval, the block gives the crash kernel /proc/cmdline without the dropped parameters; without it \$0 is expanded" {
	new_root
	"$HV" install --root "$R" 64M@0x3a000000 >/dev/null
	# The block, with a test file for /proc/cmdline (its one use).
	local defaults=$BATS_TEST_TMPDIR/kdump-tools cmdline=$BATS_TEST_TMPDIR/cmdline
	[ "$(grep -c '/proc/cmdline)$' "$R/etc/default/kdump-tools")" = 1 ]
	sed "s|/proc/cmdline)\$|$cmdline)|" "$R/etc/default/kdump-tools" >"$defaults"
	printf '%s\n' "BOOT_IMAGE=/vmlinuz-7.3.4 root=/dev/vda1 ro crashkernel=384M-:128M hugepages=4 hugepagesz=2M abm=1 hvcarve=64M@0x3a000000 memmap=64M\$0x3a000000 x=\$(>$CANARY) y=\`>$CANARY\` d=\"a b\" e=back\\slash f=\\\$HOME quiet" >"$cmdline"
	run kdump_load "$defaults" "$cmdline"
	assert_success
	no_canary
	assert_output "BOOT_IMAGE=/vmlinuz-7.3.4 root=/dev/vda1 ro memmap=64M\$0x3a000000 x=\$(>$CANARY) y=\`>$CANARY\` d=\"a b\" e=back\\slash f=\\\$HOME quiet reset_devices systemd.unit=kdump-tools-dump.service nr_cpus=1 irqpoll usbcore.nousb"
	# Negative control: Debian's file without the block: the twin becomes
	# memmap=64M<name of the shell>x3a000000 (a RAM limit), and the
	# payload runs.
	run kdump_load "$DEBROOT/etc/default/kdump-tools" "$cmdline"
	assert_success
	assert_output --partial ' memmap=64Mkdump-configx3a000000 '
	run no_canary
	assert_failure
}

@test "item 2: kdump-tools: one simple assignment line for systemd's EnvironmentFile=; skipped without the file; a KDUMP_CMDLINE of the operator is warned about" {
	new_root
	"$HV" install --root "$R" 64M@0x3a000000 >/dev/null
	run sed -n '/^# BEGIN hvcarve/,/^# END hvcarve/{/^#/d;p}' "$R/etc/default/kdump-tools"
	assert_equal "${#lines[@]}" 1
	assert_output --regexp '^KDUMP_CMDLINE=\$\(sed .* /proc/cmdline\)$'
	[[ $output != *\\ ]]
	# Without kdump-tools: skipped, said so.
	new_root
	rm "$R/etc/default/kdump-tools"
	run --separate-stderr "$HV" install --root "$R" 64M@0x3a000000
	assert_success
	assert_line "hvcarve-cmdline: skipped $R/etc/default/kdump-tools: it does not exist (kdump-tools is not installed)"
	[ ! -e "$R/etc/default/kdump-tools" ]
	# The operator's own KDUMP_CMDLINE: a warning, the block overrides it;
	# remove gives the file back as it was.
	new_root
	echo 'KDUMP_CMDLINE="root=/dev/vda1 nr_cpus=1"' >>"$R/etc/default/kdump-tools"
	cp "$R/etc/default/kdump-tools" "$BATS_TEST_TMPDIR/orig"
	run --separate-stderr "$HV" install --root "$R" 64M@0x3a000000
	assert_success
	assert_equal "$stderr" "hvcarve-cmdline: warning: $R/etc/default/kdump-tools sets KDUMP_CMDLINE itself (KDUMP_CMDLINE=\"root=/dev/vda1 nr_cpus=1\"): the hvcarve block at the end of the file overrides it"
	"$HV" remove --root "$R" >/dev/null
	cmp "$R/etc/default/kdump-tools" "$BATS_TEST_TMPDIR/orig"
	# A damaged block is refused, and left alone.
	printf '# BEGIN hvcarve (hvcarve-cmdline install; hvcarve-cmdline remove deletes this block)\nKDUMP_CMDLINE=x\n' >>"$R/etc/default/kdump-tools"
	cp "$R/etc/default/kdump-tools" "$BATS_TEST_TMPDIR/damaged"
	run "$HV" remove --root "$R"
	assert_failure 1
	assert_output --partial "has a damaged hvcarve block"
	cmp "$R/etc/default/kdump-tools" "$BATS_TEST_TMPDIR/damaged"
}

# kexec_load ROOT: USE_GRUB_CONFIG and APPEND after kexec-load's sourcing
# (Debian 12's /etc/init.d/kexec-load, Debian 13's kexec-load-kernel):
# ROOT/etc/default/kexec, then every run-parts name of ROOT/etc/default/kexec.d.
kexec_load() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	sh -c '
		test -r "$1/etc/default/kexec" && . "$1/etc/default/kexec"
		if [ -d "$1/etc/default/kexec.d" ] ; then
			for snippet in $(run-parts --list "$1/etc/default/kexec.d") ; do
				. "$snippet"
			done
		fi
		printf "%s\n%s\n" "$USE_GRUB_CONFIG" "$APPEND"
	' kexec-load "$1"
}

@test "item 2: kexec-load: the snippet sets USE_GRUB_CONFIG=false and puts the installed carveout into a non-empty APPEND" {
	new_root
	"$HV" install --root "$R" 64M@0x3a000000 >/dev/null
	# An empty APPEND (the package's default) stays empty: /proc/cmdline.
	run kexec_load "$R"
	assert_output false
	# A non-empty one, with an older carveout and its twin, and --: they
	# are replaced, the rest is kept, the new ones come before --.
	sed -i 's/^APPEND=""$/APPEND="root=\/dev\/vda1 ro hvcarve=32M@0x50000000 memmap=32M\\$0x50000000 memmap=1G@0x100000000 quiet -- single"/' "$R/etc/default/kexec"
	run kexec_load "$R"
	assert_line --index 0 false
	assert_line --index 1 'root=/dev/vda1 ro memmap=1G@0x100000000 quiet hvcarve=64M@0x3a000000 memmap=64M$0x3a000000 -- single'
	# Its own twins, already there, are not doubled.
	sed -i 's/^APPEND=.*/APPEND="ro hvcarve=64M@0x3a000000 memmap=64M\\$0x3a000000"/' "$R/etc/default/kexec"
	run kexec_load "$R"
	assert_line --index 1 'ro hvcarve=64M@0x3a000000 memmap=64M$0x3a000000'
	# USE_GRUB_CONFIG=true: warned; the snippet wins; remove restores it.
	sed -i 's/^USE_GRUB_CONFIG=false$/USE_GRUB_CONFIG=true/' "$R/etc/default/kexec"
	run --separate-stderr "$HV" install --root "$R" 64M@0x3a000000
	assert_success
	[[ $stderr == "hvcarve-cmdline: warning: $R/etc/default/kexec sets USE_GRUB_CONFIG=true: kexec-load would read grub.cfg through eval"* ]]
	run kexec_load "$R"
	assert_line --index 0 false
	"$HV" remove --root "$R" >/dev/null
	run kexec_load "$R"
	assert_line --index 0 true
	# Without kexec-tools: skipped.
	new_root
	rm "$R/etc/default/kexec"
	run "$HV" install --root "$R" 64M@0x3a000000
	assert_success
	assert_line "hvcarve-cmdline: skipped $R/etc/default/kexec.d/hvcarve: $R/etc/default/kexec does not exist (kexec-tools is not installed)"
	[ ! -e "$R/etc/default/kexec.d/hvcarve" ]
}

@test "item 2: negative control: kexec-load's USE_GRUB_CONFIG=true path (eval of grub.cfg's linux line) mangles memmap=64M\\\$0x3a000000" {
	# process_grub_entry() and the eval of Debian 12's /etc/init.d/kexec-load.
	# shellcheck disable=SC2016 # expanded by the inner shell
	run sh -c '
		process_grub_entry() {
			initrd_image=
			while read command args; do
				if [ "$command" = "linux" ]; then
					echo "$args" | while read kernel append; do
					echo KERNEL_IMAGE=\"${prefix}${kernel}\"
					echo APPEND=\"${append}\"
					done
				elif [ "$command" = "initrd" ]; then
					initrd_image=${prefix}${args}
				fi
			done
			echo INITRD=\"$initrd_image\"
		}
		entry="	linux	/vmlinuz-7.3.4 root=/dev/vda1 ro hvcarve=64M@0x3a000000 memmap=64M\\\$0x3a000000"
		eval $(echo "$entry" | process_grub_entry)
		printf "%s\n" "$APPEND"' kexec-load
	assert_success
	assert_output 'root=/dev/vda1 ro hvcarve=64M@0x3a000000 memmap=64Mkexec-loadx3a000000'
}

@test "item 2: install refuses a value the kernel refuses (exit 1, nothing written); usage errors exit 2; an unusable DIR exits 3" {
	new_root
	run --separate-stderr "$HV" install --root "$R" 64M@0x3a000000,64M@0x3a000000
	assert_failure 1
	assert_equal "$stderr" "$(refusal 'rejecting "hvcarve=64M@0x3a000000,64M@0x3a000000": "64M@0x3a000000": region overlaps another hvcarve region')"
	assert_equal "$(tree_sums "$R")" "$(tree_sums "$DEBROOT")"
	run "$HV" install --root "$R" hvcarve=64M@0x3a000800
	assert_failure 1
	assert_output --partial '"64M@0x3a000800": address is not page aligned'
	assert_equal "$(tree_sums "$R")" "$(tree_sums "$DEBROOT")"
	run "$HV" install 64M@0x3a000000
	assert_failure 2
	assert_output --partial "install: --root DIR is needed (--root / for this system)"
	run "$HV" install --root "$R"
	assert_failure 2
	run "$HV" install --root "$R" 64M@0x3a000000 2M@0x1000000
	assert_failure 2
	run "$HV" install --root "$R" '64M@0x3a000000 quiet'
	assert_failure 2
	run "$HV" remove
	assert_failure 2
	run "$HV" install --root "$BATS_TEST_TMPDIR/nowhere" 64M@0x3a000000
	assert_failure 3
	assert_output "hvcarve-cmdline: error: install: $BATS_TEST_TMPDIR/nowhere is not a directory"
	mkdir -p "$BATS_TEST_TMPDIR/bare"
	run "$HV" remove --root "$BATS_TEST_TMPDIR/bare"
	assert_failure 3
	assert_output --partial "/etc/default is missing or unreadable"
	# A file of the same name that install did not write is left alone.
	new_root
	echo 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX mine"' >"$R/etc/default/grub.d/hvcarve.cfg"
	run --separate-stderr "$HV" remove --root "$R"
	assert_success
	[[ $stderr == *"$R/etc/default/grub.d/hvcarve.cfg was not written by 'hvcarve-cmdline install': left alone"* ]]
	[ -e "$R/etc/default/grub.d/hvcarve.cfg" ]
}
