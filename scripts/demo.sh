#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The hvcarve demo: boot the patched kernel with a carveout, kexec into the
# stock Debian 6.1 kernel and back with nothing on their command lines, and
# let the host -- playing the hypervisor's auditor -- check after every
# step that not one byte of the carveout changed.
#
# Run through "make demo", which builds everything first.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

new_kernel=${NEW_KERNEL:-build/kbuild/arch/x86/boot/bzImage}
base_initrd=${BASE_INITRD:-build/initramfs/base.cpio}
art=build/demo
base=0x3a000000
size_m=64
size=$((size_m << 20))

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }

bold "== hvcarve demo =="
cat <<EOF
The carveout: ${size_m} MiB at $base, the only memory a root partition would
ever deposit into the Microsoft Hypervisor. A simulated hypervisor in the
test kernel plays the hypervisor's part.

Chain: patched 7.3 (hvcarve=) --kexec -s--> stock Debian 6.1 (knows nothing)
       --kexec -l--> patched 7.3. The kernels after the first get NO hvcarve=
       and NO memmap=: the e820 map kexec hands over is all they have.
EOF

# The first kernel's command line, the way an administrator would write it.
first=$(scripts/hvcarve-cmdline.sh next --cmdline "nokaslr" --add "${size_m}M@$base")
bold "First kernel's command line (scripts/hvcarve-cmdline.sh next):"
echo "  $first"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/hvt"
cat >"$stage/hvt/scenario" <<EOF
BASE=$base
SIZE=$size
$(cat tests/guest/demo-scenario.sh)
EOF
(cd "$stage" && find hvt | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet) >"$stage/scenario.cpio"

rm -rf "$art"
mkdir -p "$art"
bold "Booting (QEMU, TCG; each generation takes a few seconds)..."
rc=0
python3 tests/lib/vmrun.py --kernel "$new_kernel" \
	--initrd "$base_initrd" "$stage/scenario.cpio" \
	--append "console=ttyS0 $first" --mem 1G --timeout 600 \
	--artifacts "$art" --narrate || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "demo: the VM run failed (exit $rc); see $art/" >&2
	exit 1
fi

# The host's verdict: each pre-kexec dump against the next kernel's dump,
# taken after it booted and put the memory under pressure.
bold "The host's verdict (dumps of guest-physical memory through the QEMU monitor):"
printf '  %-4s %-16s %-9s %-26s %-24s %s\n' gen kernel loaded "told about the carveout?" "boot e820 says" "carveout since last step"
verdict=0
gens=$(awk '{ print $1 }' "$art/results.txt" | sort -un)
for g in $gens; do
	kernel=$(awk -v g="$g" '$1 == g && $2 == "uname_r" { print $3 }' "$art/results.txt")
	cmdline=$(awk -v g="$g" '$1 == g && $2 == "cmdline" { $1 = $2 = ""; print }' "$art/results.txt")
	how=QEMU
	if [ "$g" -gt 0 ]; then
		how=$(awk -v g="$((g - 1))" '$1 == g && $2 == "kexec_mode" { print "kexec " $3 }' "$art/results.txt")
	fi
	case $cmdline in
	*hvcarve=*) told="yes: hvcarve= + memmap=" ;;
	*) told="no" ;;
	esac
	e820=$(awk -v g="$g" '$1 == g && $2 == "e820_carveout" { $1 = $2 = ""; print }' "$art/results.txt" | xargs)
	same="(first boot)"
	if [ "$g" -gt 0 ]; then
		if cmp -s "$art/dumps/pre-kexec-gen$((g - 1)).bin" "$art/dumps/post-boot-gen$g.bin"; then
			same="byte-identical"
		else
			same="CHANGED"
			verdict=1
		fi
	fi
	printf '  %-4s %-16s %-9s %-26s %-24s %s\n' "$g" "$kernel" "$how" "$told" "${e820:-?}" "$same"
done

echo
if [ "$verdict" -eq 0 ]; then
	bold "Verdict: the carveout survived every kexec, into the new and the old kernel."
else
	bold "Verdict: the carveout was CHANGED: see $art/"
	exit 1
fi
echo "Serial logs, dumps and results: $art/"
