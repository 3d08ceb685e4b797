#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: the static checks of the kernel code and of the series, one
# verdict line per check ("check: NAME: ok (N s)" or "check: NAME: FAILED
# (N s) ..."). Exit status 0 only if every check passed.
#
#   check.sh [CHECK...]          (default: all of them, in this order)
#
# Checks:
#   series            the upstream series generated (scripts/make-series.sh
#                     --no-build --placeholder-ok, into build/check/series):
#                     every new file in the patch that adds it, git am onto
#                     the pristine tree, checkpatch.pl --strict on every
#                     patch with no finding patches/checkpatch-justified.txt
#                     does not justify. The bisect build is make series's
#                     alone (it builds a bzImage per patch).
#   checkpatch-files checkpatch-patches kernel-doc sparse shellcheck no-python
#                     scripts/check-style.sh's gates: sparse is C=2 with W=1
#                     on the hvcarve objects, kernel-doc -Wall.
#   compile-hyperv    the Hyper-V root side (HYPERV + MSHV_ROOT): the
#                     deposit glue's hypercall backend and the hooks in
#                     hv_proc.c and mshv_root_hv_call.c, in build/kbuild-hv.
#   compile-off       HVCARVE=n with HYPERV, MSHV_ROOT, KEXEC and the EFI
#                     stub: every object the series hooks into compiles
#                     against the stubs, and no hvcarve object is built
#                     (build/kbuild-off).
#   compile-i386      a 32-bit x86 kernel (ARCH=i386): HVCARVE cannot be
#                     enabled there (asked for, it is dropped, while KEXEC
#                     stays; on x86_64 the same request keeps it), and the
#                     hooked objects 32-bit builds have compile
#                     (build/kbuild-i386).
#
# Only objects are compiled (after olddefconfig and kbuild's prepare), never
# a whole kernel: make check is part of make test. Every compile holds
# build/.kernel.lock, as make kernel does.
#
# Environment: KTREE (patched tree, default build/linux), KOUT (its built
# output, build/kbuild, for sparse), PRISTINE (the tree the series is
# against, default build/src/linux-source-7.3), CHECK_OUT (where the
# compile checks build, default build), HVCARVE_PROBE_ARCH (the
# architecture compile-i386 probes; x86_64 is the negative control).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
ktree=${KTREE:-$top/build/linux}
pristine=${PRISTINE:-$top/build/src/linux-source-7.3}
check_out=${CHECK_OUT:-$top/build}
case $ktree in /*) ;; *) ktree=$PWD/$ktree ;; esac
case $pristine in /*) ;; *) pristine=$PWD/$pristine ;; esac
case $check_out in /*) ;; *) check_out=$PWD/$check_out ;; esac
lock=$top/build/.kernel.lock
logs=$check_out/check
cfg=$top/configs

style_gates="checkpatch-files checkpatch-patches kernel-doc sparse shellcheck no-python"
all="series $style_gates compile-hyperv compile-off compile-i386"

# The objects the series changes (hooks), by where they are built.
# arch/x86/boot/compressed/kaslr.c is not among them: kbuild cannot build
# the decompressor's objects one by one (they get arch/x86's flags), and its
# hook does not depend on CONFIG_HVCARVE; every bzImage compiles it (make
# kernel, make series).
hooks_common="arch/x86/kernel/e820.o arch/x86/kernel/setup.o kernel/kexec_core.o
	drivers/firmware/efi/libstub/x86-stub.o"
hooks_hv="drivers/hv/hv_proc.o drivers/hv/mshv_root_hv_call.o"
hvcarve_objs="mm/hvcarve.o mm/hvcarve_sysfs.o arch/x86/kernel/hvcarve.o
	drivers/hv/hv_carve_deposit.o"

usage() {
	echo "usage: $0 [CHECK...]; checks: $all" >&2
	exit 2
}

checks=()
for a in "$@"; do
	case " $all " in
	*" $a "*) checks+=("$a") ;;
	*) echo "check: unknown check '$a'" >&2; usage ;;
	esac
done
[ ${#checks[@]} -gt 0 ] || read -r -a checks <<<"$all"

need_tree() {
	if [ ! -f "$ktree/Makefile" ]; then
		echo "no patched tree at $ktree: run 'make tree' (or make kernel) first"
		return 1
	fi
}

# build OUTDIR ARCH FRAGMENT... -- TARGET...: scripts/build-kernel.sh (ARCH
# empty: the native one), under the kernel lock.
build() {
	local out=$1 arch=$2
	shift 2
	mkdir -p "$(dirname "$lock")"
	# No ARCH at all for the native build: kbuild takes an empty one as set.
	env ${arch:+ARCH=$arch} flock "$lock" "$top/scripts/build-kernel.sh" "$ktree" "$out" "$@"
}

# kconfig_probe ARCH [bare]: does HVCARVE survive olddefconfig when asked
# for on ARCH (tinyconfig + hvcarve-i386.config + CONFIG_HVCARVE=y, and
# unless "bare" what it depends on: HYPERVISOR_GUEST, HYPERV, MSHV_ROOT)?
# Prints "available" or "unavailable"; fails if KEXEC_CORE did not survive
# (then the probe would prove nothing about the architecture).
kconfig_probe() {
	local arch=$1 dir=$check_out/kconfig-probe-$1${2:+-$2}
	mkdir -p "$dir"
	printf 'CONFIG_HVCARVE=y\n' >"$dir/want.config"
	[ "${2:-}" = bare ] ||
		printf 'CONFIG_HYPERVISOR_GUEST=y\nCONFIG_HYPERV=y\nCONFIG_MSHV_ROOT=y\n' >>"$dir/want.config"
	{
		make -C "$ktree" O="$dir" ARCH="$arch" HOSTCC=gcc -s tinyconfig &&
			"$ktree/scripts/kconfig/merge_config.sh" -m -O "$dir" "$dir/.config" \
				"$cfg/hvcarve-i386.config" "$dir/want.config" &&
			make -C "$ktree" O="$dir" ARCH="$arch" HOSTCC=gcc -s olddefconfig
	} >"$dir/probe.log" 2>&1 || { cat "$dir/probe.log"; return 1; }
	if ! grep -qx 'CONFIG_KEXEC_CORE=y' "$dir/.config"; then
		echo "kconfig probe ($arch): KEXEC_CORE is off, the probe shows nothing"
		return 1
	fi
	if grep -qx 'CONFIG_HVCARVE=y' "$dir/.config"; then
		echo available
	else
		echo unavailable
	fi
}

check_series() {
	"$top/scripts/make-series.sh" --no-build --placeholder-ok \
		--out "$check_out/check/series" "$pristine"
}

check_style() {
	"$top/scripts/check-style.sh" "$1"
}

check_compile_hyperv() {
	need_tree || return 1
	# shellcheck disable=SC2086 # object lists
	build "$check_out/kbuild-hv" "" "$cfg/hvcarve-test.config" "$cfg/hvcarve-hyperv.config" -- \
		drivers/hv/hv_carve_deposit.o drivers/hv/hv_carve_sim.o $hooks_hv || return 1
	local o="$check_out/kbuild-hv" ok=0
	grep -qx 'CONFIG_MSHV_ROOT=y' "$o/.config" || { echo "MSHV_ROOT is off"; return 1; }
	# The backend is really compiled, and the hooks call the glue.
	nm "$o/drivers/hv/hv_carve_deposit.o" | grep ' hv_carve_hv_deposit$' >/dev/null ||
		{ echo "hv_carve_deposit.o has no hv_carve_hv_deposit: the Hyper-V backend was not compiled"; ok=1; }
	nm "$o/drivers/hv/hv_proc.o" | grep ' U hv_carve_deposit_pages$' >/dev/null ||
		{ echo "hv_proc.o does not call hv_carve_deposit_pages"; ok=1; }
	return $ok
}

check_compile_off() {
	need_tree || return 1
	local o="$check_out/kbuild-off" f bad=0
	# shellcheck disable=SC2086 # object lists
	build "$o" "" "$cfg/hvcarve-test.config" "$cfg/hvcarve-hyperv.config" \
		"$cfg/hvcarve-off.config" -- $hooks_common $hooks_hv || return 1
	if grep -q '^CONFIG_HVCARVE' "$o/.config"; then
		echo "hvcarve is not off: $(grep '^CONFIG_HVCARVE' "$o/.config" | paste -sd' ')"
		return 1
	fi
	grep -qx 'CONFIG_MSHV_ROOT=y' "$o/.config" || { echo "MSHV_ROOT is off"; return 1; }
	# No object of hvcarve itself may be left from an earlier configuration:
	# kbuild does not build them with HVCARVE=n.
	for f in $hvcarve_objs; do
		[ ! -e "$o/$f" ] || { echo "$f exists with HVCARVE=n"; bad=1; }
	done
	# The hooks compiled to nothing that needs hvcarve.
	for f in $hooks_hv kernel/kexec_core.o arch/x86/kernel/setup.o; do
		if nm "$o/$f" | grep -E ' U (hvcarve_|hv_carve_)'; then
			echo "$f refers to hvcarve with HVCARVE=n"
			bad=1
		fi
	done
	return $bad
}

check_compile_i386() {
	need_tree || return 1
	local arch=${HVCARVE_PROBE_ARCH:-i386} o="$check_out/kbuild-i386" got
	got=$(kconfig_probe "$arch") || { echo "$got"; return 1; }
	if [ "$got" != unavailable ]; then
		echo "HVCARVE=y asked for on $arch survives olddefconfig: the Kconfig dependencies let it build there"
		return 1
	fi
	echo "kconfig: HVCARVE=y asked for on $arch is dropped, KEXEC_CORE stays"
	# What can deposit: on x86_64, asked for without MSHV_ROOT, it is dropped
	# too (the negative control shows the probe finds it with MSHV_ROOT).
	got=$(kconfig_probe x86_64 bare) || { echo "$got"; return 1; }
	if [ "$got" != unavailable ]; then
		echo "HVCARVE=y asked for on x86_64 without MSHV_ROOT survives olddefconfig: it does not depend on what deposits"
		return 1
	fi
	echo "kconfig: HVCARVE=y asked for on x86_64 without MSHV_ROOT is dropped"
	# shellcheck disable=SC2086 # object lists
	build "$o" i386 "$cfg/hvcarve-i386.config" -- $hooks_common || return 1
	grep -qx 'CONFIG_X86_32=y' "$o/.config" || { echo "not a 32-bit configuration"; return 1; }
	if nm "$o/kernel/kexec_core.o" "$o/arch/x86/kernel/setup.o" | grep -E ' U hvcarve_'; then
		echo "a 32-bit object refers to hvcarve"
		return 1
	fi
}

mkdir -p "$logs"
failed=0
for c in "${checks[@]}"; do
	log=$logs/$c.log
	start=$(date +%s)
	case $c in
	series) check_series ;;
	compile-hyperv) check_compile_hyperv ;;
	compile-off) check_compile_off ;;
	compile-i386) check_compile_i386 ;;
	*) check_style "$c" ;;
	esac >"$log" 2>&1
	rc=$?
	t=$(($(date +%s) - start))
	if [ $rc = 0 ]; then
		echo "check: $c: ok ($t s)"
	else
		failed=1
		echo "check: $c: FAILED ($t s); log $log:"
		tail -n 15 "$log" | sed 's/^/    /'
	fi
done
exit $failed
