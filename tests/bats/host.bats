#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# hvcarve on a real Debian root host: Debian 13 built from Debian's packages
# (scripts/build-host-image.sh: systemd, GRUB for UEFI, kexec-tools,
# kdump-tools with makedumpfile, Debian's kernel package), booted by OVMF
# from its disk, with the patched kernel as the Debian packages `make deb`
# builds (build/deb: the test kernel's configuration without its test code,
# configs/hvcarve-host.config), and the test kernel itself, with the
# simulated hypervisor, kexec'd from the payload for the steps that
# deposit (the "-sim" kernel: same release name, so the package's initrd
# and kdump-tools serve it too). The
# operator's commands are Debian's own: dpkg, update-grub, systemctl,
# kexec-load-kernel, kdump-config; the carveout's settings come from the
# tool's install and go with its remove (scripts/hvcarve-cmdline.sh).
#
# One run of the host's life (tests/host/scenario says what each boot does;
# tests/host/agent runs it at every boot), then one test per claim:
#
#   gen 0  Debian's kernel by GRUB: the tool's install, dpkg -i (whose kernel
#          hook runs update-grub), systemctl reboot
#   gen 1  the package's kernel by GRUB: the drop-in's line, the carveout
#          active; kdump-tools loaded by its service; sysrq c
#   gen 2  the crash kernel: its line, /proc/vmcore; kdump-tools saves the
#          dump with makedumpfile and reboots
#   gen 3  GRUB again: the dump in /var/crash; kexec -s into the -sim
#          kernel, systemctl kexec
#   gen 4  -sim: deposits; ordinary pages deposited: the load is refused,
#          systemctl kexec with it, nothing stops; withdrawn: kexec-tools'
#          way (/etc/default/kexec, kexec-load-kernel, systemctl kexec)
#          into Debian's kernel
#   gen 5  Debian's kernel: kexec -l into -sim, systemctl kexec
#   gen 6  -sim: learns what the hypervisor holds; the tool's remove,
#          update-grub, systemctl reboot
#   gen 7  GRUB: no carveout, no memmap=
#
# The host dumps the carveout after every boot, before every kexec and in
# the crash kernel, and checks the dumps itself.
#
#   HVT_HOST_TIMEOUT   seconds for the whole run (2400)

load helpers
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

OVMF=${OVMF:-/usr/share/ovmf/OVMF.fd}
IMAGE=$HVT_ROOT/build/host/disk.img
DEB=$HVT_ROOT/build/deb/image.deb
CARVE=64M@0x40000000
BASE=0x40000000
SIZE=0x4000000
DUMP=$HVT_ROOT/tools/hvcarve/hvcarve-dump
ART=$HVT_ARTIFACTS_ROOT/host/life

# All the tests read the one run's artifacts.
vm_artifacts() {
	printf '%s\n' "$ART"
}

# release DEB: the kernel release of a linux-image package.
release() {
	dpkg-deb -f "$1" Package | sed 's/^linux-image-//'
}

setup_file() {
	local f payload=$BATS_FILE_TMPDIR/payload
	for f in "$IMAGE" "$DEB" "$NEW_KERNEL" "$OVMF"; do
		[ -e "$f" ] || { echo "# no $f: make test builds it (make all deb host-image)" >&3; return 1; }
	done
	rm -rf "$ART"
	mkdir -p "$ART" "$payload/bin" "$payload/debs"
	cp "$HVT_ROOT/tests/host/agent" "$HVT_ROOT/tests/host/scenario" \
		"$HVT_ROOT/tests/guest/lib.sh" "$HVT_ROOT/tests/guest/sim.sh" "$payload/"
	cp "$HVT_ROOT/scripts/hvcarve-cmdline.sh" "$payload/bin/hvcarve-cmdline"
	cp "$HVT_ROOT/tools/hvcarve/hvcarve-parse" "$HVT_ROOT/tools/hvcarve/memhog" \
		"$HVT_ROOT/build/guest-extra/usr/bin/vmcore-phdrs" "$payload/bin/"
	cp "$(readlink -f "$DEB")" "$payload/debs/"
	cp "$NEW_KERNEL" "$payload/vmlinuz-sim"
	cat >"$payload/config" <<EOF
CARVE=$CARVE
BASE=$BASE
SIZE=$SIZE
STOCK=$(cat "$HVT_ROOT/build/host/stock-kernel")
REAL=$(release "$DEB")
EOF
	cp "$payload/config" "$ART/config"
	mke2fs -q -t ext4 -L HVTPAYLOAD -d "$payload" "$BATS_FILE_TMPDIR/payload.img" \
		$(($(du -sm "$payload" | cut -f1) + 32))M
	qemu-img create -q -f qcow2 -b "$IMAGE" -F raw "$BATS_FILE_TMPDIR/disk.qcow2"
	local rc=0
	# shellcheck disable=SC2054 # commas inside QEMU option values
	"$VMRUN" --no-kernel --reboot --reset-dump "$BASE $SIZE" --artifacts "$ART" --mem 2G \
		--timeout "${HVT_HOST_TIMEOUT:-2400}" \
		--allow 'Kernel panic - not syncing: sysrq triggered crash' \
		--qemu-arg "-bios $OVMF" \
		--qemu-arg "-drive file=$BATS_FILE_TMPDIR/disk.qcow2,format=qcow2,if=virtio" \
		--qemu-arg "-drive file=$BATS_FILE_TMPDIR/payload.img,format=raw,if=virtio,readonly=on" \
		>"$ART/vmrun.out" 2>&1 || rc=$?
	echo "$rc" >"$ART/vmrun.rc"
}

teardown() {
	[ -n "${BATS_TEST_COMPLETED:-}" ] || touch "$ART/.keep"
}

teardown_file() {
	if [ -e "$ART/.keep" ] || [ "$(cat "$ART/vmrun.rc" 2>/dev/null)" != 0 ] ||
		[ "${HVT_KEEP_ARTIFACTS:-0}" = 1 ]; then
		echo "# artifacts kept in: $ART" >&3
	else
		rm -rf "$ART"
	fi
}

# cfg KEY: a value of the run's config.
cfg() {
	sed -n "s/^$1=//p" "$ART/config"
}

# same A B: the host's dumps A and B are byte-identical (prints the report).
same() {
	"$DUMP" diff --base "$BASE" "$(dump_file "$1")" "$(dump_file "$2")"
}

held() {
	"$DUMP" decode --base "$BASE" "$(dump_file "$1")" | awk '$1 == "held" { print $2 }'
}

@test "the host's life runs to its end: 8 boots through GRUB, a crash kernel and kexec, with nothing in the console the harness calls a crash" {
	run cat "$ART/vmrun.out"
	assert_equal "$(cat "$ART/vmrun.rc")" 0
	assert_output --partial "guest DONE at gen 7"
	assert_equal "$(last_gen)" 7
	# The boots the host saw on the console, one per generation.
	assert_equal "$(console_boots)" 8
}

@test "the image is Debian 13, built from packages, and boots Debian's own kernel first, under systemd" {
	run result os 0
	assert_output --regexp '^Debian GNU/Linux 13 '
	assert_equal "$(result uname_r 0)" "$(cfg STOCK)"
	run result dpkg_install 0
	assert_output --regexp '^rc=0 '
	assert_output --partial "Setting up linux-image-$(cfg REAL) "
	console_grep -g 0 'Reached target|systemd\[1\]' >/dev/null || fail "no systemd in gen 0's console"
}

@test "a cold boot through GRUB into the packaged kernel, its line from the tool's drop-in and update-grub: the carveout is active" {
	assert_equal "$(result uname_r 1)" "$(cfg REAL)"
	# The package's kernel: no simulator in it.
	assert_equal "$(result sim 1)" no
	# The drop-in appends to Debian's line (console=, kdump-tools'
	# crashkernel=), and update-grub wrote memmap='s $ escaped for GRUB.
	run result grub_linux 0
	assert_output --partial "console=ttyS0,115200 hvcarve=$CARVE memmap=64M\\\$$BASE"
	assert_output --partial "crashkernel="
	# GRUB's default entry is the package's kernel (the newest).
	run result grub_default 0
	assert_output --partial "/boot/vmlinuz-$(cfg REAL) "
	run result dpkg_install 0
	assert_output --partial "Generating grub configuration file"
	run result cmdline 1
	assert_output --regexp "^BOOT_IMAGE=/boot/vmlinuz-$(cfg REAL) "
	assert_output --partial " console=ttyS0,115200 hvcarve=$CARVE memmap=64M\$$BASE "
	assert_output --partial " crashkernel="
	[ "$(grep -o 'hvcarve=' <<<"$output" | wc -l)" = 1 ] || fail "hvcarve= more than once: $output"
	[ "$(grep -o ' ro\b' <<<"$output" | wc -l)" = 1 ] || fail "ro more than once: $output"
	assert_equal "$(result state 1)" active
	# The tool, on the host, before and after.
	run result tool_suggest 0
	assert_output --regexp '^rc=0 .*hvcarve=64M@0x[0-9a-f]+'
	run result tool_check 0
	assert_output --regexp '^rc=0 '
	run result tool_install 0
	assert_output --regexp '^rc=0 '
	assert_output --partial /etc/default/grub.d/hvcarve.cfg
	run result tool_status 1
	assert_output --regexp '^rc=0 '
	assert_output --partial active
	run result tool_prom 1
	assert_output --partial 'hvcarve_state{state="active"} 1'
	run result region 1
	assert_output --partial "[mem 0x0000000040000000-0x0000000043ffffff] 64 MiB reserved"
	refute_output --partial inherited
	assert_equal "$(result e820 1)" "System RAM"
	# The host: nothing was put in the carveout by OVMF, GRUB, the stub,
	# the decompressor or the boot. RAM keeps its contents across the
	# reset, so the range holds what Debian's kernel left there in gen 0
	# (before the carveout existed): it must be just that, as dumped when
	# the VM stopped at the reset (vmrun.sh --reset-dump), before OVMF ran.
	local d
	for d in reset-gen0 post-boot-gen1 after-deposit-gen4; do
		assert_equal "$(dump_size "$d")" $((SIZE))
	done
	run same reset-gen0 post-boot-gen1
	assert_success
	# Control: the comparison sees a change (gen 4 deposited into it):
	# differences (1), not an error (2).
	run same reset-gen0 after-deposit-gen4
	assert_failure 1
}

@test "kdump-tools: its eval mangles memmap= without the tool's setting (negative control); with it, the service loads a crash kernel with the line intact" {
	# Debian's kdump-config, run as it is: the command its eval ran.
	run result kdump_eval_plain 1
	assert_output --partial "memmap=64M/usr/sbin/kdump-configx40000000"
	run result kdump_eval_tool 1
	assert_output --partial "memmap=64M\$$BASE"
	refute_output --partial "hvcarve="
	refute_output --partial "kdump-configx"
	assert_equal "$(result crash_loaded 1)" 1
	assert_equal "$(result crash_loaded_again 1)" 1
}

@test "a crash (sysrq c) boots the crash kernel with a sane line; the carveout is not in /proc/vmcore and unchanged in memory; makedumpfile's dump lands in /var/crash" {
	local s e
	assert_equal "$(result uname_r 2)" "$(cfg REAL)"
	run result cmdline 2
	assert_output --partial "memmap=64M\$$BASE"
	assert_output --partial "reset_devices"
	assert_output --partial "systemd.unit=kdump-tools-dump.service"
	refute_output --partial "hvcarve="
	refute_output --partial "crashkernel="
	assert_equal "$(result vmcore 2)" yes
	# vmcore-phdrs: "0xSTART 0xEND" (inclusive) per PT_LOAD, joined by ";".
	local n=0
	while read -r s e; do
		[ -n "$e" ] || continue
		n=$((n + 1))
		if [ $((s)) -lt $((BASE + SIZE)) ] && [ $((e)) -ge $((BASE)) ]; then
			fail "a PT_LOAD of /proc/vmcore covers the carveout: $s-$e"
		fi
	done < <(result vmcore_phdrs 2 | tr ';' '\n')
	[ "$n" -ge 2 ] || fail "/proc/vmcore has $n PT_LOAD ranges"
	# Control: RAM on both sides of the carveout is in it.
	run result vmcore_phdrs 2
	assert_output --regexp "0x[0-9a-f]+ 0x3fffffff;0x44000000 "
	run same pre-crash-gen1 crash-gen2
	assert_success
	run result crash_dump 3
	assert_output --regexp '^/var/crash/[0-9]+/dump\.[0-9]+ [0-9]+$'
	[ "$(awk '{ print $2 }' <<<"$output")" -gt 1048576 ] || fail "the dump is too small: $output"
	run result crash_dmesg 3
	assert_output --regexp '^/var/crash/[0-9]+/dmesg\.[0-9]+$'
}

@test "kexec the two ways operators use, through systemd: kexec -s or -l then systemctl kexec, and kexec-tools' /etc/default/kexec with kexec-load-kernel; the carveout byte-identical across each" {
	# gen 3 -> 4: kexec -s into -sim, systemctl kexec.
	assert_equal "$(result uname_r 4)" "$(cfg REAL)"
	assert_equal "$(result sim 4)" yes
	run same pre-kexec-gen3 post-boot-gen4
	assert_success
	run result region 4
	assert_output --partial "(inherited from the kernel before kexec)"
	# gen 4 -> 5: kexec-tools' way, into Debian's kernel.
	assert_equal "$(result uname_r 5)" "$(cfg STOCK)"
	run result kexec_load_kernel 4
	assert_output --partial "kexec kernel loaded"
	assert_equal "$(result loaded 4)" 1
	run result cmdline 5
	assert_output --partial "hvcarve=$CARVE memmap=64M\$$BASE"
	assert_equal "$(held pre-kexec-gen4)" 5000
	run same pre-kexec-gen4 post-boot-gen5
	assert_success
	# Debian's kernel under memory pressure, then kexec -l back.
	assert_memhog 5
	assert_equal "$(result uname_r 6)" "$(cfg REAL)"
	assert_equal "$(result sim 6)" yes
	run same pre-kexec-gen5 post-boot-gen6
	assert_success
}

@test "with ordinary pages deposited, systemctl kexec is refused before anything shuts down: the load is refused, every service still runs; withdrawn, it goes through" {
	assert_equal "$(result overflow 4)" 300
	run result refused_load 4
	assert_output --partial "Device or resource busy"
	assert_equal "$(result refused_loaded 4)" 0
	run result refused_systemctl 4
	refute_output --regexp '^rc=0 '
	assert_equal "$(result refused_running 4)" running
	assert_equal "$(result refused_units 4)" "active active active active"
	assert_equal "$(result refused_jobs 4)" 0
	console_grep -g 4 'hv_deposit: kexec refused: 300 ordinary pages are deposited' >/dev/null ||
		fail "no refusal in gen 4's kernel log"
	assert_equal "$(result overflow_after 4)" 0
	assert_equal "$(last_gen)" 7
}

@test "a kexec back into the patched kernel learns what the hypervisor holds: it deposits around every held page (host dumps)" {
	local inh skp
	assert_equal "$(held post-boot-gen6)" 5000
	inh=$(result end.inherited_pages 6)
	skp=$(result end.skipped_pages 6)
	assert_equal "$((inh + skp))" 5000
	assert_equal "$(result end.deposited_pages 6)" 1500
	run "$DUMP" held-kept --base "$BASE" --expect-held 5000 "$(dump_file post-boot-gen6)" "$(dump_file after-deposit-gen6)"
	assert_success
	assert_equal "$(held after-deposit-gen6)" 6500
}

@test "rollback: the tool's remove, update-grub and a reboot leave no carveout and no memmap=" {
	run result tool_remove 6
	assert_output --regexp '^rc=0'
	run result grub_linux 6
	assert_output --partial "console=ttyS0,115200"
	refute_output --partial "hvcarve="
	refute_output --partial "memmap="
	assert_equal "$(result uname_r 7)" "$(cfg REAL)"
	run result cmdline 7
	refute_output --partial "hvcarve="
	refute_output --partial "memmap="
	assert_output --partial "crashkernel="
	assert_equal "$(result state 7)" disabled
	assert_equal "$(result dropins 7)" ""
	assert_equal "$(result kdump_block 7)" 0
}
