#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# vmrun.sh: run one QEMU VM of the hvcarve tests to completion.
#
# The guest side is tests/guest/ (init + lib.sh). It talks on its second
# serial port (ttyS1), which QEMU connects to a pair of FIFOs read and
# written here (QEMU's "pipe" chardev):
#
#   guest -> host   @@HVT BOOT gen=G release=R
#                   @@HVT RESULT KEY VALUE...     -> results.txt "G KEY VALUE..."
#                   @@HVT CKPT NAME gen=G [BASE SIZE]...
#                   @@HVT LOG TEXT...
#                   @@HVT TAINT N                 /proc/sys/kernel/tainted
#                   @@HVT DONE | @@HVT FAIL MSG...
#   host -> guest   GO NAME          after the ranges of CKPT NAME were dumped
#                   ACK DONE | ACK FAIL
#
# The QEMU monitor is QMP, on two more FIFOs. QMP answers one JSON object
# per line, so the shell only needs to tell {"return"...}, {"error"...}
# and {"timestamp"... "event"...} lines apart.
#
# On CKPT the VM is stopped (QMP "stop", before anything else is done with
# the line), every range is saved with QMP "pmemsave" and the parts are
# concatenated in order into dumps/NAME.bin (dumps/NAME.ranges: "gen G",
# then one "0xBASE 0xSIZE" line per range), the VM is resumed ("cont") and
# GO NAME is sent. No guest instruction runs between the stop and the
# resume.
#
# The run fails as a crash (exit 4) when the kernel console shows a panic,
# an oops, a BUG, a WARNING, a general protection fault, a soft or hard
# lockup, an RCU stall or a hung task (see crash_re below; lines of our own
# guest scripts, "hvt:" or "@@HVT", never count, nor lines matching an
# --allow REGEX), and when a TAINT report is not 0. The guest reports the
# taint before every kexec -e and before DONE; DONE without a TAINT report
# of its generation is a protocol error (exit 2), and so is a BOOT whose
# gen= is not the number of kernel boots the console showed before it,
# less one. --allow-taint LETTERS tolerates those flags (e.g. NW for a
# KUnit boot: KUnit sets TAINT_TEST whenever it runs, and its suites WARN
# on purpose).
# Every lockdep report is a crash, and so is lockdep turning itself off.
#
# At DONE or FAIL the host answers ACK and quits QEMU at once (the guest
# would only sync and reboot).
#
# --no-kernel: QEMU gets no -kernel, -initrd or -append; the firmware boots
# from the disks given with --qemu-arg (a boot loader image, which loads
# the kernel, its command line and the initramfs; grub.bats).
#
# --reboot: a reboot of the guest reboots it (QEMU runs without -no-reboot):
# for a whole system whose cold reboots are part of the test (host.bats).
#
# --reset-dump "BASE SIZE" (with --reboot): the VM stops when the guest
# resets, before the firmware runs again (QEMU -action reboot=shutdown,
# shutdown=pause); the range is dumped as dumps/reset-genG.bin (G: the
# generation that reset, .ranges as for a checkpoint), then the VM is reset
# and resumed. Once per generation: further resets (the firmware's own)
# pass until the guest's next BOOT. RAM keeps its contents across a reset,
# so what a cold boot wrote is what changed from this dump. A guest power
# off still ends the run.
#
# --hv-model "ARGS": the hypervisor is a process on the host
# (tests/hv/hv-model.c, HVT_HV_MODEL or build/tools/hv-model), started
# before QEMU and stopped (SIGTERM: its last checks) after it. Guest RAM is
# then a shared file (memory-backend-file, share=on, in /dev/shm) that the
# model maps, and the third serial port (ttyS2, I/O port 0x3e8) is a
# socket to it; the guest kernel needs hvcarve_sim.host=0x3e8. ARGS go to
# the model as they are (--mode, --seed, --carveout, --hold, --lp-pages,
# --vp-pages). A model that does not end with 0 fails a run that would
# have passed (exit 2). Its ledger and log are hv-ledger.txt and hv-model.log in
# the artifacts. With --numa, only with --memdev (one RAM file per node).
#
# --memdev "ID:SIZE" (repeatable, with --numa): a memory backend of its own
# for a NUMA node, named ID for --numa's memdev=. Without --hv-model it is
# memory-backend-ram with reserve=off: the host gives it memory only where
# the guest writes, so a guest of hundreds of GiB costs the host what it
# uses. With --hv-model it is a shared RAM file (sparse) that the model
# maps too. Give them in node order (nodeid 0 first): QEMU lays the nodes'
# backends out one after the other in that order, and the model takes the
# files so. The sizes must add up to --mem.
#
# host-memory.txt (artifacts): what the host gave the guest, in KiB, read
# at the guest's DONE or FAIL (else just before QEMU is told to quit):
# QEMU's peak and last resident memory (VmHWM, VmRSS) and its parts
# (RssAnon, RssShmem), the model's peak (model_VmHWM), and the blocks
# allocated to the RAM files (ram_files). Not written if none could be read.
#
# Artifacts (--artifacts DIR):
#   console.log   serial 0 (kernel console), written by QEMU itself
#   control.log   every control line, with host time since start, "<" from
#                 the guest, ">" to it
#   results.txt   one "GEN KEY VALUE..." line per RESULT (and "GEN tainted N"
#                 per TAINT)
#   timeline.txt  host-side events (boots, checkpoints, end) with times
#   dumps/        NAME.bin and NAME.ranges per checkpoint (and
#                 NAME.hv-ledger, the model's ledger then, after it checked
#                 every page it holds, with --hv-model)
#   qemu.log      QEMU's own stdout/stderr;  cmdline.txt  its argv
#   hv-ledger.txt, hv-model.log, hv-model.out  the model's (--hv-model)
#   status.txt    "RC REASON"
#
# Exit codes: 0 guest DONE, 1 guest FAIL, 2 usage/setup/protocol error,
# 3 timeout (or interrupted), 4 kernel crash or taint, 5 QEMU ended
# unexpectedly.
#
#   vmrun.sh --check-console FILE [--allow REGEX]...
# runs only the console crash check on FILE (an old console.log): prints
# the crash lines and exits 4 if there are any, else 0.
#
# Bash and coreutils only; REGEX is a POSIX extended regular expression.
set -uo pipefail

readonly EXIT_DONE=0 EXIT_FAIL=1 EXIT_SETUP=2 EXIT_TIMEOUT=3 EXIT_CRASH=4 EXIT_QEMU=5

# read_line: every line of the control channel and of QMP is read with it
# (bash's own read -t can glue two lines together).
# shellcheck source=tests/lib/lineread.bash
source "$(dirname -- "${BASH_SOURCE[0]}")/lineread.bash" || exit $EXIT_SETUP

# --- console patterns ---------------------------------------------------

# A kernel crash or a warning; one alternative per kind.
crash_re='Kernel panic'
crash_re+='|kernel BUG at'
crash_re+='|(^|[^A-Za-z_])BUG:'              # BUG: soft lockup, BUG: unable to handle ...
crash_re+='|(^|[^A-Za-z_])WARNING:'          # WARN*(), lockdep, suspicious RCU usage
crash_re+='|Oops:'
crash_re+='|general protection fault'
crash_re+='|soft lockup'
crash_re+='|hard LOCKUP'
crash_re+='|(self-)?detected( expedited)? stalls? on' # RCU stalls
crash_re+='|INFO: task .* blocked for more than'      # hung tasks
crash_re+='|INFO: trying to register non-static key' # lockdep turns itself off (no WARNING:)
# Lines our own guest scripts print; a message text must not look like a crash.
ours_re='^(\[[ 0-9.]+\] )?(hvt:|@@HVT)'
# A kernel message that began in the middle of such a line: the last printk
# time stamp and what follows it.
spliced_re='^.+(\[ *[0-9]+\.[0-9]+\] .*)$'
# The end of an oops or panic report (its lines are collected up to here).
crash_end_re='---\[ end (Kernel panic|trace)'
boot_re='Linux version [^[:space:]]+'
CRASH_GRACE_US=5000000   # to collect the rest of an oops/panic
QMP_TIMEOUT=600          # seconds for one QMP command (a pmemsave of GiBs)

# Taint flag letters, bit 0 first (include/linux/panic.h).
TAINT_LETTERS=PFSRMBUDAWCIOELKXTNJ

usage() {
	cat >&2 <<'EOF'
usage: vmrun.sh --kernel FILE --initrd CPIO [CPIO...] --artifacts DIR
                [--append CMDLINE] [--mem SIZE] [--smp N] [--numa VALUE]...
                [--qemu-arg ARGS]... [--timeout SECONDS] [--machine M]
                [--cpu CPU] [--accel auto|tcg|kvm] [--qemu BINARY]
                [--allow REGEX]... [--allow-taint LETTERS] [--narrate]
                [--interactive] [--reboot] [--reset-dump "BASE SIZE"]
                [--hv-model "ARGS"] [--memdev ID:SIZE]...
       vmrun.sh --no-kernel --artifacts DIR [the options above, but --kernel,
                --initrd and --append]
       vmrun.sh --check-console FILE [--allow REGEX]...
EOF
}

usage_error() {
	usage
	echo "vmrun: error: $*" >&2
	exit "$EXIT_SETUP"
}

# --- options ------------------------------------------------------------

kernel='' append=console=ttyS0 mem=1G smp=1 timeout=300 art=''
machine=${HVT_MACHINE:-q35}
# The CPU model. ERMS and FSRM are off: with them the guest kernels copy and
# clear memory with rep movsb/stosb (arch/x86/lib). The likely reason it
# is slower, not profiled: TCG runs a rep string instruction one element
# per step, more steps than the kernel's other copies take. Measured, one
# guest at a time under TCG (memory pressure, kexec -s, pressure again):
# 9.9 s against 11.8 and 13.2 s with plain max. No test depends on either
# flag; under KVM they only hide the two features. HVT_CPU=max restores
# the old model. Tests that pass --cpu turn the same two flags off
# (efi.bats, distro.bats).
cpu=${HVT_CPU:-max,erms=off,fsrm=off}
accel=${HVT_ACCEL:-auto}
qemu=${QEMU:-qemu-system-x86_64}
initrds=() numas=() qemu_args=() allows=() allow_taint=''
narrate=0 interactive=0 reboot=0 check_console=''
reset_dump='' reset_armed=0 reset_pending=0 poweroff_pending=0
have_kernel=0 have_art=0 no_kernel=0 kernel_args=()
hv_model_args='' hv_model=0 hv_pid='' hv_rc='' ram_files=() memdevs=()

while [ $# -gt 0 ]; do
	opt=$1
	shift
	val='' has_val=0
	case $opt in
	--*=*)
		val=${opt#*=}
		opt=${opt%%=*}
		has_val=1
		;;
	esac
	case $opt in
	-h | --help)
		usage
		exit 0
		;;
	--narrate | --interactive | --no-kernel | --reboot)
		[ "$has_val" = 0 ] || usage_error "argument $opt: ignored explicit argument '$val'"
		case $opt in
		--narrate) narrate=1 ;;
		--interactive) interactive=1 ;;
		--no-kernel) no_kernel=1 ;;
		--reboot) reboot=1 ;;
		esac
		;;
	--initrd)
		# One or more files, up to the next option; repeatable.
		kernel_args+=(--initrd)
		n=${#initrds[@]}
		[ "$has_val" = 0 ] || initrds+=("$val")
		while [ $# -gt 0 ] && [[ $1 != -* ]]; do
			initrds+=("$1")
			shift
		done
		[ "${#initrds[@]}" -gt "$n" ] || usage_error "argument --initrd: expected at least one argument"
		;;
	--kernel | --append | --mem | --smp | --numa | --qemu-arg | --timeout | --artifacts | \
		--machine | --cpu | --accel | --qemu | --allow | --allow-taint | --check-console | \
		--reset-dump | --hv-model | --memdev)
		if [ "$has_val" = 0 ]; then
			[ $# -gt 0 ] || usage_error "argument $opt: expected one argument"
			val=$1
			shift
		fi
		case $opt in
		--kernel) kernel=$val have_kernel=1 kernel_args+=(--kernel) ;;
		--append) append=$val kernel_args+=(--append) ;;
		--mem) mem=$val ;;
		--smp) smp=$val ;;
		--numa) numas+=("$val") ;;
		--qemu-arg) qemu_args+=("$val") ;;
		--timeout) timeout=$val ;;
		--artifacts) art=$val have_art=1 ;;
		--machine) machine=$val ;;
		--cpu) cpu=$val ;;
		--accel) accel=$val ;;
		--qemu) qemu=$val ;;
		--allow) allows+=("$val") ;;
		--allow-taint) allow_taint+=$val ;;
		--check-console) check_console=$val ;;
		--reset-dump) reset_dump=$val ;;
		--hv-model) hv_model_args=$val hv_model=1 ;;
		--memdev) memdevs+=("$val") ;;
		esac
		;;
	*) usage_error "unrecognized argument: $opt" ;;
	esac
done

if [ -n "$reset_dump" ]; then
	[ "$reboot" = 1 ] || usage_error "argument --reset-dump: needs --reboot"
	[[ $reset_dump =~ ^0[xX][0-9a-fA-F]{1,16}\ 0[xX][0-9a-fA-F]{1,16}$ ]] ||
		usage_error "argument --reset-dump: expected \"BASE SIZE\" in hex, not '$reset_dump'"
fi

if [ "$hv_model" = 1 ] && [ ${#numas[@]} -gt 0 ] && [ ${#memdevs[@]} = 0 ]; then
	usage_error "argument --hv-model: with --numa, only with --memdev"
fi
# Without --numa no node would use the backends (and with --hv-model the
# model would watch files the guest never touches).
if [ ${#memdevs[@]} -gt 0 ] && [ ${#numas[@]} = 0 ]; then
	usage_error "argument --memdev: only with --numa"
fi
# Each --memdev ID:SIZE, and each node's memdev= the ID of the --memdev of
# its place: the model takes the RAM files in --memdev order.
for f in "${memdevs[@]}"; do
	[[ $f =~ ^[A-Za-z][A-Za-z0-9_-]*:[0-9]+[MGT]$ ]] ||
		usage_error "argument --memdev: expected ID:SIZE (SIZE in M, G or T), not '$f'"
done
for f in "${numas[@]}"; do
	[ ${#memdevs[@]} -gt 0 ] || break
	[[ $f == node,* ]] || continue
	[[ $f =~ (^|,)nodeid=([0-9]{1,3})(,|$) ]] || usage_error "argument --numa: with --memdev, give nodeid= ('$f')"
	n=$((10#${BASH_REMATCH[2]}))
	id=''
	[[ ! $f =~ (^|,)memdev=([^,]+)(,|$) ]] || id=${BASH_REMATCH[2]}
	[ "${memdevs[n]%%:*}" = "$id" ] ||
		usage_error "argument --numa: node $n's memdev= must be the ID of --memdev number $((n + 1)) ('$f')"
done

# Every --allow must be a valid ERE ([[ =~ ]] returns 2 for a bad one).
for re in "${allows[@]}"; do
	[[ x =~ $re ]]
	[ $? -ne 2 ] || usage_error "argument --allow: bad regular expression '$re'"
done
# --allow-taint: the mask of the flags named.
allow_taint_mask=0
for ((i = 0; i < ${#allow_taint}; i++)); do
	c=${allow_taint:i:1} b=${TAINT_LETTERS%%"$c"*}
	[ "$b" != "$TAINT_LETTERS" ] || usage_error "argument --allow-taint: unknown taint flag '$c' (flags: $TAINT_LETTERS)"
	allow_taint_mask=$((allow_taint_mask | 1 << ${#b}))
done

# --- console check ------------------------------------------------------

boots=0
crash_lines=()
crash_deadline=0
crash_ended=0

allowed() { # LINE: matches an --allow REGEX
	local re
	for re in "${allows[@]}"; do
		[[ $1 =~ $re ]] && return 0
	done
	return 1
}

# is_crash LINE: a crash line of the kernel, not ours, not allowed. In a
# line of ours, only a kernel message spliced into it counts.
is_crash() {
	local line=$1
	if [[ $line =~ $ours_re ]]; then
		[[ $line =~ $spliced_re ]] || return 1
		line=${BASH_REMATCH[1]}
	fi
	[[ $line =~ $crash_re ]] && ! allowed "$line"
}

# One complete console line: count kernel boots, collect crash lines,
# notice a FAIL that init printed on the console.
console_line() {
	local line=$1
	# Not in a line of ours (hvt_log can print anything), as the crash
	# check and helpers.bash's console_boots.
	if [[ $line =~ $boot_re ]] && [[ $line != *"Command line"* ]] &&
		! [[ $line =~ $ours_re ]]; then
		boots=$((boots + 1))
		strip "$line"
		event "console boot #$boots: ${STRIPPED:0:120}"
	fi
	if is_crash "$line"; then
		if [ ${#crash_lines[@]} -eq 0 ]; then
			strip "$line"
			event "console crash: $STRIPPED"
			now_us
			crash_deadline=$((NOW_US + CRASH_GRACE_US))
		fi
		crash_lines+=("$line")
	fi
	if [ ${#crash_lines[@]} -gt 0 ] && [[ $line =~ $crash_end_re ]]; then
		crash_ended=1
	fi
	if [[ $line == "@@HVT FAIL"* ]] && [ -z "$status" ]; then
		strip "${line#@@HVT FAIL}"
		status=FAIL
		fail_msg="$STRIPPED (console)"
		event "FAIL (console) $fail_msg"
	fi
}

# STRIPPED=$1 without leading and trailing white space.
strip() {
	STRIPPED=$1
	STRIPPED=${STRIPPED#"${STRIPPED%%[![:space:]]*}"}
	STRIPPED=${STRIPPED%"${STRIPPED##*[![:space:]]}"}
}

if [ -n "$check_console" ]; then
	event() { :; }
	now_us() { NOW_US=0; }
	status=''
	[ -f "$check_console" ] || usage_error "no such file: $check_console"
	while IFS= read -r l || [ -n "$l" ]; do
		console_line "${l%$'\r'}"
	done <"$check_console"
	for l in "${crash_lines[@]}"; do
		printf 'vmrun: console: %s\n' "$l"
	done
	[ ${#crash_lines[@]} -eq 0 ] || exit "$EXIT_CRASH"
	exit "$EXIT_DONE"
fi

if [ "$no_kernel" = 1 ]; then
	# The firmware boots what it finds on the disks of --qemu-arg (a boot
	# loader, which loads the kernel and its initrd itself).
	[ ${#kernel_args[@]} -eq 0 ] ||
		usage_error "argument --no-kernel: not allowed with ${kernel_args[0]}"
	[ "$have_art" = 1 ] || usage_error "the following arguments are required: --artifacts"
elif [ "$have_kernel" = 0 ] || [ ${#initrds[@]} -eq 0 ] || [ "$have_art" = 0 ]; then
	usage_error "the following arguments are required: --kernel, --initrd, --artifacts"
fi
[[ $timeout =~ ^[0-9]+$ ]] || usage_error "argument --timeout: invalid int value: '$timeout'"
timeout=$((10#$timeout))
case $accel in auto | tcg | kvm) ;; *) usage_error "argument --accel: invalid choice: '$accel' (choose from 'auto', 'tcg', 'kvm')" ;; esac

# --- artifacts and logging ----------------------------------------------

mkdir -p "$art/dumps" || exit "$EXIT_SETUP"
art=$(cd "$art" && pwd) || exit "$EXIT_SETUP"
for f in console.log control.log results.txt timeline.txt qemu.log status.txt cmdline.txt host-memory.txt; do
	rm -f "$art/$f"
done
find "$art/dumps" -mindepth 1 -delete || exit "$EXIT_SETUP"
rundir=$(mktemp -d "${TMPDIR:-/tmp}/vmrun.XXXXXX") || exit "$EXIT_SETUP"
exec {ctl_log}>"$art/control.log" {res_fd}>"$art/results.txt" {tl_fd}>"$art/timeline.txt"

T0=${EPOCHREALTIME/[.,]/}

now_us() { # NOW_US: microseconds since the epoch
	NOW_US=${EPOCHREALTIME/[.,]/}
}

stamp() { # STAMP: seconds since start, "%9.3f"
	local us frac
	now_us
	us=$((NOW_US - T0))
	printf -v frac '%03d' $(((us / 1000) % 1000))
	printf -v STAMP '%9s' "$((us / 1000000)).$frac"
}

event() { # TEXT: a line of timeline.txt
	stamp
	printf '%s %s\n' "$STAMP" "$*" >&"$tl_fd"
}

# --- QEMU ----------------------------------------------------------------

qpid=''
qemu_rc=''
ctl_r='' ctl_w='' qmp_r='' qmp_w='' con_fd=''
# shellcheck disable=SC2034 # read_line's buffers, passed by name
ctl_buf='' qmp_buf='' con_tail=''
qmp_err=''
interrupted=''

qemu_alive() {
	local st
	[ -n "$qpid" ] || return 1
	{ IFS= read -r st <"/proc/$qpid/stat"; } 2>/dev/null || return 1
	st=${st##*) }
	[ "${st:0:1}" != Z ]
}

# qemu_rc: QEMU's exit status, once it has ended.
reap_qemu() {
	if [ -z "$qemu_rc" ]; then
		wait "$qpid" 2>/dev/null
		qemu_rc=$?
	fi
}

# A setup (or protocol) error ends the run with exit 2 and this reason.
setup_error() {
	end_rc=$EXIT_SETUP
	end_reason=$1
	return 1
}

# KVM if the CPU has it and /dev/kvm opens, unless HVT_ACCEL=tcg.
kvm_usable() {
	[ "${HVT_ACCEL:-}" != tcg ] || return 1
	grep -qwE 'vmx|svm' /proc/cpuinfo 2>/dev/null || return 1
	{ : <>/dev/kvm; } 2>/dev/null
}

# A word as the shell would need it quoted (for cmdline.txt).
shquote() {
	if [[ $1 =~ ^[A-Za-z0-9@%+=:,./_-]+$ ]]; then
		printf '%s' "$1"
	else
		printf "'%s'" "${1//\'/\'\"\'\"\'}"
	fi
}

# The initrd: the cpio pieces concatenated, each padded to 4 bytes.
make_initrd() {
	local out=$rundir/initrd.cpio part size
	: >"$out" || return 1
	for part in "${initrds[@]}"; do
		cat -- "$part" >>"$out" || return 1
		size=$(stat -c %s "$out") || return 1
		if [ $((size % 4)) -ne 0 ]; then
			head -c $((4 - size % 4)) /dev/zero >>"$out" || return 1
		fi
	done
}

# Split a --qemu-arg the way a shell would (quotes, backslashes), without
# running anything: xargs does the splitting.
split_words() { # STRING -> WORDS array
	WORDS=()
	local w
	while IFS= read -r -d '' w; do
		WORDS+=("$w")
	done < <(printf '%s\n' "$1" | xargs -r printf '%s\0')
}

# Bytes in a QEMU size (-m): a number with an optional K, M, G or T.
size_bytes() {
	local n=${1%[KkMmGgTt]} u=${1: -1}
	[[ $n =~ ^[0-9]+$ ]] || return 1
	n=$((10#$n))
	case $u in
	[Kk]) n=$((n << 10)) ;;
	[Mm]) n=$((n << 20)) ;;
	[Gg]) n=$((n << 30)) ;;
	[Tt]) n=$((n << 40)) ;;
	[0-9]) n=$((n << 20)) ;; # QEMU: a bare -m number is MiB
	esac
	SIZE_BYTES=$n
}

# --hv-model: the RAM file, the model, and QEMU's options for both.
start_hv_model() {
	local bin=${HVT_HV_MODEL:-$(dirname -- "${BASH_SOURCE[0]}")/../../build/tools/hv-model}
	local lowmem i
	[ -x "$bin" ] || { setup_error "no hypervisor model at $bin (make all builds it)"; return 1; }
	size_bytes "$mem" || { setup_error "--hv-model: cannot read --mem $mem"; return 1; }
	# RAM below 4 GiB, as QEMU lays it out: q35 keeps 2 GiB there when
	# the guest has 2.75 GiB or more (hw/i386/pc_q35.c), pc 3 GiB when it
	# has 3.5 GiB or more (hw/i386/pc_piix.c, gigabyte_align).
	lowmem=$SIZE_BYTES
	case $machine in
	*max-ram-below-4g*) setup_error "--hv-model: max-ram-below-4g is not supported"; return 1 ;;
	q35 | q35,* | pc-q35-*) [ "$SIZE_BYTES" -lt $((0xb0000000)) ] || lowmem=$((0x80000000)) ;;
	pc | pc,* | pc-i440fx-*) [ "$SIZE_BYTES" -lt $((0xe0000000)) ] || lowmem=$((0xc0000000)) ;;
	*) setup_error "--hv-model: no RAM layout known for machine $machine"; return 1 ;;
	esac
	local dir=$rundir d f rams=() objs=() sizes=("$SIZE_BYTES")
	[ ! -w /dev/shm ] || dir=/dev/shm
	[ ${#memdevs[@]} = 0 ] || sizes=("${memdev_bytes[@]}")
	# One sparse RAM file per backend: the machine's, or each node's.
	for i in "${!sizes[@]}"; do
		if ! f=$(mktemp "$dir/hvt-ram.XXXXXX"); then
			setup_error "--hv-model: cannot make a RAM file in $dir"
			return 1
		fi
		ram_files+=("$f")
		truncate -s "${sizes[i]}" "$f" ||
			{ setup_error "--hv-model: cannot size the RAM file $f"; return 1; }
		rams+=(--ram "$f")
		f=${f//,/,,}
		if [ ${#memdevs[@]} = 0 ]; then
			objs+=(-object "memory-backend-file,id=hvtram,size=${sizes[i]},mem-path=$f,share=on"
				-machine "memory-backend=hvtram")
		else
			d=${memdevs[i]%%:*}
			objs+=(-object "memory-backend-file,id=$d,size=${sizes[i]},mem-path=$f,share=on")
		fi
	done
	split_words "$hv_model_args"
	# A session of its own, as QEMU's: a ^C of the tests reaches us only.
	setsid "$bin" "${rams[@]}" --lowmem "$lowmem" --socket "$rundir/hv.sock" \
		--ledger "$art/hv-ledger.txt" --log "$art/hv-model.log" "${WORDS[@]}" \
		</dev/null >"$art/hv-model.out" 2>&1 3>&- {ctl_log}>&- {res_fd}>&- {tl_fd}>&- &
	hv_pid=$!
	# It logs "listening on" once the socket takes connections.
	for ((i = 0; i < 600; i++)); do
		grep -q '^hv-model: listening on ' "$art/hv-model.log" 2>/dev/null && break
		kill -0 "$hv_pid" 2>/dev/null || break
		sleep 0.05
	done
	grep -q '^hv-model: listening on ' "$art/hv-model.log" 2>/dev/null ||
		{ setup_error "the hypervisor model did not start; see $art/hv-model.log and .out"; return 1; }
	event "hv-model pid=$hv_pid $hv_model_args"
	local sock=${rundir//,/,,}/hv.sock
	HV_QEMU=("${objs[@]}"
		-chardev "socket,id=hv0,path=$sock" -serial chardev:hv0)
}

# hv_model_check OUT: have the model check every page it holds (SIGUSR1),
# wait for its ledger to count that check (full_checks), and copy the
# ledger to OUT.
hv_model_check() {
	local before now i
	before=$(awk '$1 == "full_checks" { print $2 }' "$art/hv-ledger.txt" 2>/dev/null)
	[ -n "$before" ] || return 1
	kill -USR1 "$hv_pid" 2>/dev/null || return 1
	for ((i = 0; i < 600; i++)); do
		now=$(awk '$1 == "full_checks" { print $2 }' "$art/hv-ledger.txt" 2>/dev/null)
		[ -n "$now" ] && [ "$now" -gt "$before" ] && cp -- "$art/hv-ledger.txt" "$1" && return 0
		sleep 0.05
	done
	return 1
}

# Stop the model: SIGTERM, on which it makes its last checks, writes its
# ledger and exits 0; SIGKILL after 10 s. hv_rc: its exit status, or
# "killed".
stop_hv_model() {
	local i
	[ -n "$hv_pid" ] || return 0
	kill -TERM "$hv_pid" 2>/dev/null
	for ((i = 0; i < 200; i++)); do
		kill -0 "$hv_pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -KILL "$hv_pid" 2>/dev/null; then
		hv_rc=killed
		wait "$hv_pid" 2>/dev/null
	else
		wait "$hv_pid" 2>/dev/null
		hv_rc=$?
	fi
	hv_pid=''
	event "hv-model end rc=$hv_rc"
}

start_qemu() {
	local f q con_dev cmd=() line boot=()
	if [ "$no_kernel" = 0 ]; then
		for f in "$kernel" "${initrds[@]}"; do
			[ -f "$f" ] || { setup_error "no such file: $f"; return 1; }
		done
		make_initrd || { setup_error "cannot build the initrd in $rundir"; return 1; }
	fi
	mkfifo "$rundir/ctl.in" "$rundir/ctl.out" "$rundir/qmp.in" "$rundir/qmp.out" ||
		{ setup_error "mkfifo in $rundir failed"; return 1; }
	# The console is ttyS0 (serial 0, console.log) unless told otherwise.
	if [ "$no_kernel" = 0 ]; then
		if ! [[ $append =~ (^|[[:space:]])console=ttyS0 ]]; then
			strip "console=ttyS0 $append"
			append=$STRIPPED
		fi
		boot=(-kernel "$kernel" -initrd "$rundir/initrd.cpio" -append "$append")
	fi
	if [ "$accel" = auto ]; then
		if kvm_usable; then accel=kvm; else accel=tcg; fi
	fi
	# Paths inside QEMU option values: a comma is written twice.
	local con=${art//,/,,}/console.log run=${rundir//,/,,}
	if [ "$interactive" = 1 ]; then
		con_dev="stdio,id=con0,mux=on,signal=off,logfile=$con"
	else
		con_dev="file,id=con0,path=$con"
	fi
	# shellcheck disable=SC2054 # commas inside QEMU option values
	cmd=("$qemu"
		-machine "$machine" -cpu "$cpu" -accel "$accel"
		-m "$mem" -smp "$smp"
		-nodefaults -nographic
		"${boot[@]}"
		-chardev "$con_dev" -serial chardev:con0
		-chardev "pipe,id=ctl0,path=$run/ctl" -serial chardev:ctl0
		-chardev "pipe,id=qmp0,path=$run/qmp" -mon chardev=qmp0,mode=control)
	# A reboot of the guest ends QEMU, unless the guest is a whole system
	# that reboots as part of the test (--reboot).
	[ "$reboot" = 1 ] || cmd+=(-no-reboot)
	if [ -n "$reset_dump" ]; then
		# shellcheck disable=SC2054 # commas inside a QEMU option value
		cmd+=(-action reboot=shutdown,shutdown=pause)
		reset_armed=1
	fi
	# --memdev: each node's backend (the model's RAM files, below, with
	# --hv-model), and their sizes must make the RAM size.
	memdev_bytes=()
	if [ ${#memdevs[@]} -gt 0 ]; then
		local total=0 want
		size_bytes "$mem" || { setup_error "cannot read --mem $mem"; return 1; }
		want=$SIZE_BYTES
		for f in "${memdevs[@]}"; do
			size_bytes "${f#*:}" || { setup_error "--memdev $f: cannot read its size"; return 1; }
			memdev_bytes+=("$SIZE_BYTES")
			total=$((total + SIZE_BYTES))
			[ "$hv_model" = 1 ] ||
				cmd+=(-object "memory-backend-ram,id=${f%%:*},size=$SIZE_BYTES,reserve=off")
		done
		[ "$total" = "$want" ] ||
			{ setup_error "the --memdev sizes add up to $total bytes, --mem is $want"; return 1; }
	fi
	for f in "${numas[@]}"; do
		cmd+=(-numa "$f")
	done
	if [ "$hv_model" = 1 ]; then
		start_hv_model || return 1
		cmd+=("${HV_QEMU[@]}")
	fi
	for q in "${qemu_args[@]}"; do
		split_words "$q"
		cmd+=("${WORDS[@]}")
	done
	line=''
	for f in "${cmd[@]}"; do
		line+="${line:+ }$(shquote "$f")"
	done
	printf '%s\n' "$line" >"$art/cmdline.txt"

	event "start accel=$accel"
	# QEMU gets none of our descriptors (bats waits for fd 3 to close).
	if [ "$interactive" = 1 ]; then
		# The console is this terminal (and still logged); ^A x quits.
		"${cmd[@]}" <&0 2>"$art/qemu.log" 3>&- {ctl_log}>&- {res_fd}>&- {tl_fd}>&- &
	else
		# A session of its own, so that a ^C of the tests reaches us only.
		setsid "${cmd[@]}" </dev/null >"$art/qemu.log" 2>&1 3>&- \
			{ctl_log}>&- {res_fd}>&- {tl_fd}>&- &
	fi
	qpid=$!
	# Read-write opens of a FIFO never block, whatever QEMU does.
	exec {ctl_r}<>"$rundir/ctl.out" {ctl_w}<>"$rundir/ctl.in" \
		{qmp_r}<>"$rundir/qmp.out" {qmp_w}<>"$rundir/qmp.in"

	# The QMP greeting, then capabilities negotiation.
	qmp_read_reply 60 greeting || {
		if ! qemu_alive; then
			reap_qemu
			setup_error "QEMU exited (rc=$qemu_rc) before the QMP greeting; see $art/qemu.log"
		else
			setup_error "no QMP greeting: $qmp_err"
		fi
		return 1
	}
	qmp_cmd qmp_capabilities || { setup_error "QMP qmp_capabilities: $qmp_err"; return 1; }
	# QEMU and the model have the RAM file open now: its name can go, so
	# that nothing is left in /dev/shm whatever becomes of us.
	if [ ${#ram_files[@]} -gt 0 ]; then
		rm -f -- "${ram_files[@]}"
		ram_files=()
	fi
}

# --- QMP -------------------------------------------------------------------

# A QMP event line: log it in the timeline.
qmp_event() {
	if [[ $1 =~ \"event\":\ *\"([A-Za-z0-9_]+)\" ]]; then
		event "qmp-event ${BASH_REMATCH[1]}"
	fi
	# --reset-dump: the VM stopped at a guest reset or power off; the
	# main loop handles it (no QMP command can run from here).
	[ -n "$reset_dump" ] || return 0
	case $1 in
	*\"SHUTDOWN\"*\"guest\":\ true*\"reason\":\ \"guest-reset\"*) reset_pending=1 ;;
	*\"SHUTDOWN\"*\"guest\":\ true*) poweroff_pending=1 ;;
	esac
}

# Read QMP lines until the reply (WHAT: greeting or return), within TIMEOUT
# seconds. Events on the way are logged. Fails with qmp_err set.
qmp_read_reply() { # TIMEOUT WHAT
	local end line
	now_us
	end=$((NOW_US + $1 * 1000000))
	while :; do
		if read_line "$qmp_r" qmp_buf 0.5; then
			line=${LINE%$'\r'}
			case $line in
			'{"QMP"'*) [ "$2" = greeting ] && return 0 ;;
			'{"return"'*) [ "$2" = return ] && return 0 ;;
			'{"error"'*)
				qmp_err=$line
				[[ $line =~ \"desc\":\ *\"([^\"]*)\" ]] && qmp_err=${BASH_REMATCH[1]}
				return 1
				;;
			*'"event"'*) qmp_event "$line" ;;
			esac
			continue
		fi
		if ! qemu_alive; then
			qmp_err="QEMU exited"
			return 1
		fi
		now_us
		if [ "$NOW_US" -ge "$end" ]; then
			qmp_err="QMP timeout"
			return 1
		fi
	done
}

# qmp_cmd NAME [ARGUMENTS-JSON [TIMEOUT]]: run one command, wait for its
# return. Fails with qmp_err set.
qmp_cmd() {
	local req="{\"execute\":\"$1\"${2:+,\"arguments\":$2}}"
	printf '%s\n' "$req" >&"$qmp_w" || { qmp_err="cannot write to QMP"; return 1; }
	qmp_read_reply "${3:-$QMP_TIMEOUT}" return
}

# Log the events QEMU sent unasked.
qmp_poll_events() {
	while read -t 0 -u "$qmp_r" && read_line "$qmp_r" qmp_buf 0.5; do
		qmp_event "${LINE%$'\r'}"
	done
}

json_string() { # TEXT -> JSON string literal
	local s=${1//\\/\\\\}
	printf '"%s"' "${s//\"/\\\"}"
}

# --- control channel ----------------------------------------------------

gen=0
status=''        # DONE or FAIL
fail_msg=''
taint_gen=-1     # generation of the last TAINT report
taint_bad=''     # the reason, when a report was not clean
gen_bad=''       # the reason, when a BOOT disagreed with the console
end_rc='' end_reason=''

send() { # TEXT: one line to the guest
	stamp
	printf '%s > %s\n' "$STAMP" "$1" >&"$ctl_log"
	printf '%s\n' "$1" 1>&"$ctl_w" 2>/dev/null || event "control send failed"
}

# Read one control line (waiting up to $1 seconds) and act on it. Fails
# when there was no complete line.
poll_ctl() {
	read_line "$ctl_r" ctl_buf "$1" || return 1
	ctl_line "$LINE"
}

ctl_line() {
	local line=${1//$'\r'/} msg='' word
	if [[ $line == *"@@HVT "* ]]; then
		strip "${line#*"@@HVT "}"
		msg=$STRIPPED
	fi
	word=${msg%% *}
	# A checkpoint stops the VM before anything else happens.
	local stopped=0
	if [ "$word" = CKPT ] && [[ $msg == "CKPT "?* ]]; then
		qmp_cmd stop || { setup_error "QMP stop: $qmp_err"; return 1; }
		stopped=1
	fi
	stamp
	printf '%s < %s\n' "$STAMP" "$line" >&"$ctl_log"
	[ -n "$msg" ] || return 0
	local rest=''
	[[ $msg == *" "* ]] && rest=${msg#* }
	case $word in
	BOOT)
		[[ $rest =~ gen=([0-9]+) ]] && gen=$((10#${BASH_REMATCH[1]}))
		event "BOOT $rest"
		# --reset-dump: this generation's reset stops the VM again.
		if [ -n "$reset_dump" ] && [ "$reset_armed" = 0 ]; then
			qmp_cmd set-action '{"reboot":"shutdown"}' ||
				{ setup_error "QMP set-action: $qmp_err"; return 1; }
			reset_armed=1
		fi
		# Every boot the guest reports is one the console showed: a kernel
		# that came up twice (a reset in the middle of a kexec, say) or a
		# generation that skipped one fails the run. The console may lag
		# the control channel: read what it has first.
		poll_console
		if [ "$gen" -ne $((boots - 1)) ] && [ -z "$gen_bad" ]; then
			gen_bad="protocol error: BOOT gen=$gen, but $boots kernel boots in the console"
			event "$gen_bad"
		fi
		;;
	RESULT)
		local key=$rest value=''
		if [[ $rest == *" "* ]]; then
			key=${rest%% *}
			value=${rest#* }
		fi
		printf '%d %s %s\n' "$gen" "$key" "$value" >&"$res_fd"
		;;
	CKPT)
		if [ "$stopped" = 0 ]; then
			event "CKPT without a name"
			return 0
		fi
		checkpoint "$rest"
		;;
	LOG)
		[ "$narrate" = 1 ] && printf '  [gen %d] %s\n' "$gen" "$rest" >&2
		;;
	TAINT) taint_report "$rest" ;;
	DONE | FAIL)
		if [ -z "$status" ]; then
			status=$word
			fail_msg=$rest
		fi
		event "$word gen=$gen $rest"
		# While the guest waits for the ACK, QEMU is surely alive.
		[ -e "$art/host-memory.txt" ] || host_memory
		send "ACK $word"
		;;
	*) event "unknown message: $msg" ;;
	esac
	return 0
}

# Checkpoint "NAME gen=G [BASE SIZE]...": the VM is already stopped; dump,
# resume, answer GO NAME.
checkpoint() {
	local toks name safe ck_gen=$gen nums=() t i ranges='' t0 us
	read -r -a toks <<<"$1"
	name=${toks[0]}
	safe=${name//[^A-Za-z0-9_.+-]/_}
	now_us
	t0=$NOW_US
	for t in "${toks[@]:1}"; do
		case $t in
		gen=*)
			t=${t#gen=}
			[[ $t =~ ^[0-9]+$ ]] || { ckpt_error "CKPT $name: bad gen= '$t'"; return 1; }
			ck_gen=$((10#$t))
			;;
		0[xX]*)
			[[ $t =~ ^0[xX][0-9a-fA-F]{1,16}$ ]] || { ckpt_error "CKPT $name: bad number '$t'"; return 1; }
			nums+=($((t)))
			;;
		*)
			[[ $t =~ ^[0-9]{1,19}$ ]] || { ckpt_error "CKPT $name: bad number '$t'"; return 1; }
			nums+=($((10#$t)))
			;;
		esac
	done
	if [ $((${#nums[@]} % 2)) -ne 0 ]; then
		event "CKPT $name: odd number of BASE SIZE values"
		unset 'nums[-1]'
	fi
	for ((i = 0; i < ${#nums[@]}; i += 2)); do
		printf -v t '0x%x+0x%x' "${nums[i]}" "${nums[i + 1]}"
		ranges+=" $t"
	done
	if ! dump_ranges "$safe" "$ck_gen" "${nums[@]}"; then
		ckpt_error "QMP pmemsave: $qmp_err"
		return 1
	fi
	# The model's ledger as the stopped guest left it, after a check of
	# every page it holds (SIGUSR1). A scenario checkpoints between its
	# commands, when no hypercall is on the wire.
	if [ "$hv_model" = 1 ] && ! hv_model_check "$art/dumps/$safe.hv-ledger"; then
		ckpt_error "CKPT $name: no hypervisor model ledger after a full check"
		return 1
	fi
	qmp_cmd cont || { setup_error "QMP cont: $qmp_err"; return 1; }
	now_us
	us=$((NOW_US - t0))
	printf -v t '%d.%02d' $((us / 1000000)) $(((us / 10000) % 100))
	event "CKPT $name gen=$ck_gen${ranges} dumped in ${t}s"
	send "GO $name"
}

# dump_ranges SAFE GEN [BASE SIZE]...: save the ranges, in order, as
# dumps/SAFE.bin, and "gen GEN" and the ranges as dumps/SAFE.ranges. The VM
# is stopped. Fails with qmp_err set.
dump_ranges() {
	local safe=$1 g=$2 out i base size part
	shift 2
	local nums=("$@")
	out=$art/dumps/$safe.bin
	: >"$out"
	for ((i = 0; i < ${#nums[@]}; i += 2)); do
		base=${nums[i]} size=${nums[i + 1]}
		[ "$size" -gt 0 ] || continue
		part=$art/dumps/.$safe.part$((i / 2))
		qmp_cmd pmemsave "{\"val\":$base,\"size\":$size,\"filename\":$(json_string "$part")}" ||
			return 1
		cat -- "$part" >>"$out" && rm -f -- "$part"
	done
	{
		printf 'gen %d\n' "$g"
		for ((i = 0; i < ${#nums[@]}; i += 2)); do
			printf '0x%x 0x%x\n' "${nums[i]}" "${nums[i + 1]}"
		done
	} >"$art/dumps/$safe.ranges"
}

# --reset-dump: the guest reset and the VM stopped before the firmware ran.
# Dump the range as reset-genG, then reset and resume, with resets passing
# until the guest's next BOOT. A failure ends the run.
reset_stop() {
	local nums=()
	read -r -a nums <<<"$reset_dump"
	if ! dump_ranges "reset-gen$gen" "$gen" $((nums[0])) $((nums[1])); then
		setup_error "reset dump: QMP pmemsave: $qmp_err"
		return 1
	fi
	event "reset at gen $gen: dumped $reset_dump as reset-gen$gen"
	reset_armed=0
	if ! qmp_cmd set-action '{"reboot":"reset"}' || ! qmp_cmd system_reset ||
		! qmp_cmd cont; then
		setup_error "reset: QMP: $qmp_err"
		return 1
	fi
}

# A checkpoint that cannot be taken ends the run (after resuming the VM).
ckpt_error() {
	qmp_cmd cont
	setup_error "$1"
}

# "TAINT N": the guest's /proc/sys/kernel/tainted.
taint_report() {
	local v=$1 bad flags='' b
	if ! [[ $v =~ ^[0-9]{1,19}$ ]]; then
		taint_bad="bad TAINT report '$v' at gen $gen"
		return
	fi
	v=$((10#$v))
	printf '%d tainted %d\n' "$gen" "$v" >&"$res_fd"
	taint_gen=$gen
	bad=$((v & ~allow_taint_mask))
	for ((b = 0; b < ${#TAINT_LETTERS}; b++)); do
		[ $((v >> b & 1)) = 1 ] && flags+=${TAINT_LETTERS:b:1}
	done
	[ $((v >> ${#TAINT_LETTERS})) = 0 ] || flags+='?'
	event "TAINT gen=$gen $v${flags:+ ($flags)}"
	if [ "$bad" -ne 0 ]; then
		taint_bad="kernel tainted at gen $gen: $v (flags $flags)"
	fi
}

# --- console --------------------------------------------------------------

# Feed the complete lines QEMU has appended to console.log since last time.
poll_console() {
	local l
	if [ -z "$con_fd" ]; then
		[ -f "$art/console.log" ] || return 0
		exec {con_fd}<"$art/console.log" || return 0
	fi
	while IFS= read -r -u "$con_fd" l; do
		l=$con_tail$l
		con_tail=''
		console_line "${l%$'\r'}"
	done
	con_tail+=$l
}

# --- the run ----------------------------------------------------------------

# The main loop: control lines, the console, QEMU's life, the deadline.
run_loop() {
	local deadline
	now_us
	deadline=$((NOW_US + timeout * 1000000))
	while :; do
		poll_ctl 0.1
		[ -z "$end_rc" ] || return
		qmp_poll_events
		if [ "$reset_pending" = 1 ]; then
			reset_pending=0
			reset_stop || return
		fi
		if [ "$poweroff_pending" = 1 ]; then
			# Paused by shutdown=pause: end QEMU as a power off would.
			poweroff_pending=0
			event "guest power off"
			qmp_cmd quit '' 5 >/dev/null 2>&1
		fi
		poll_console
		now_us
		if [ -n "$interrupted" ]; then
			end_rc=$EXIT_TIMEOUT end_reason="interrupted ($interrupted)"
			return
		fi
		if [ ${#crash_lines[@]} -gt 0 ]; then
			# The report is complete, its time is up, or the guest is done.
			if [ "$crash_ended" = 1 ] || [ "$NOW_US" -ge "$crash_deadline" ] ||
				[ -n "$status" ] || ! qemu_alive; then
				return
			fi
			continue
		fi
		[ -z "$taint_bad" ] || return
		[ -z "$gen_bad" ] || return
		[ -z "$status" ] || return
		if ! qemu_alive; then
			reap_qemu
			event "qemu exited rc=$qemu_rc"
			# What the guest said before the end.
			while poll_ctl 0.05; do :; done
			return
		fi
		if [ "$NOW_US" -ge "$deadline" ]; then
			end_rc=$EXIT_TIMEOUT
			end_reason="timeout after ${timeout}s at gen $gen ($boots kernel boots seen)"
			return
		fi
	done
}

# host-memory.txt: what the host gave the guest (see the header), while
# QEMU and the model still run. A figure that cannot be read is left out.
host_memory() {
	local k v rest fd kib=0 found=0 out=()
	[ -n "$qpid" ] && qemu_alive || return 0
	# Either may end meanwhile: then its lines are missing, quietly.
	{
		while read -r k v rest; do
			case $k in
			VmHWM: | VmRSS: | RssAnon: | RssShmem:) out+=("qemu_${k%:} $v") ;;
			esac
		done <"/proc/$qpid/status"
	} 2>/dev/null
	if [ -n "$hv_pid" ]; then
		{
			while read -r k v rest; do
				[ "$k" != VmHWM: ] || out+=("model_VmHWM $v")
			done <"/proc/$hv_pid/status"
		} 2>/dev/null
	fi
	# The RAM files are unlinked by now; QEMU keeps each open.
	if [ "$hv_model" = 1 ]; then
		for fd in /proc/"$qpid"/fd/*; do
			[[ $(readlink "$fd" 2>/dev/null) == */hvt-ram.* ]] || continue
			v=$(stat -L -c '%b %B' "$fd" 2>/dev/null) || continue
			kib=$((kib + ${v% *} * ${v#* } / 1024))
			found=1
		done
		[ "$found" = 0 ] || out+=("ram_files $kib")
	fi
	[ ${#out[@]} = 0 ] || printf '%s\n' "${out[@]}" >"$art/host-memory.txt"
}

# Quit QEMU (QMP quit, then SIGKILL after 5 s) and reap it.
stop_qemu() {
	local i
	[ -n "$qpid" ] || return 0
	if qemu_alive; then
		qmp_cmd quit '' 5 >/dev/null 2>&1
		for ((i = 0; i < 100; i++)); do
			qemu_alive || break
			sleep 0.05
		done
		qemu_alive && kill -KILL "$qpid" 2>/dev/null
	fi
	reap_qemu
}

# The exit code and reason, from what was seen (first match wins).
verdict() {
	if [ ${#crash_lines[@]} -gt 0 ]; then
		# The first crash line, without its printk time stamp.
		strip "${crash_lines[0]}"
		[[ $STRIPPED =~ ^\[[\ 0-9.]+\]\ (.*)$ ]] && STRIPPED=${BASH_REMATCH[1]}
		end_rc=$EXIT_CRASH end_reason="kernel crash in the console (gen $gen): ${STRIPPED:0:160}"
	elif [ -n "$end_rc" ]; then
		:
	elif [ -n "$taint_bad" ]; then
		end_rc=$EXIT_CRASH end_reason=$taint_bad
	elif [ -n "$gen_bad" ]; then
		end_rc=$EXIT_SETUP end_reason=$gen_bad
	elif [ "$status" = DONE ]; then
		if [ "$taint_gen" != "$gen" ]; then
			end_rc=$EXIT_SETUP end_reason="protocol error: DONE at gen $gen without a TAINT report"
		else
			end_rc=$EXIT_DONE end_reason="guest DONE at gen $gen"
		fi
	elif [ "$status" = FAIL ]; then
		end_rc=$EXIT_FAIL end_reason="guest FAIL at gen $gen: $fail_msg"
	else
		reap_qemu
		end_rc=$EXIT_QEMU
		end_reason="QEMU ended unexpectedly (rc=$qemu_rc) at gen $gen; see $art/qemu.log"
	fi
}

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	[ -n "$qpid" ] && qemu_alive && kill -KILL "$qpid" 2>/dev/null
	[ -z "$hv_pid" ] || kill -KILL "$hv_pid" 2>/dev/null
	[ ${#ram_files[@]} = 0 ] || rm -f -- "${ram_files[@]}"
	rm -rf -- "$rundir"
}
trap cleanup EXIT
trap 'interrupted="signal 15"' TERM
trap 'interrupted="signal 1"' HUP
trap 'interrupted="signal 2"' INT

if start_qemu; then
	run_loop
fi
# A timeout: what each vCPU was doing, for a hang no console line explains
# (a boot that stopped before the clocksource switch was seen twice).
if [ "$end_rc" = "$EXIT_TIMEOUT" ] && [ -z "$interrupted" ] && qemu_alive &&
	qmp_cmd human-monitor-command '{"command-line":"info registers -a"}' 10; then
	printf '%s\n' "${LINE%$'\r'}" | sed 's/\\r\\n/\n/g' >"$art/timeout-registers.txt"
	event "vCPU registers at the timeout: timeout-registers.txt"
fi
[ -e "$art/host-memory.txt" ] || host_memory
stop_qemu
stop_hv_model
# The console up to QEMU's end, including a last line without a newline.
poll_console
if [ -n "$con_tail" ]; then
	console_line "${con_tail%$'\r'}"
	con_tail=''
fi
verdict
# A model that died, or did not end as asked, leaves its checks undone.
if [ "$hv_model" = 1 ] && [ "$end_rc" = "$EXIT_DONE" ] && [ "$hv_rc" != 0 ]; then
	end_rc=$EXIT_SETUP end_reason="the hypervisor model ended with ${hv_rc:-no status}; see $art/hv-model.log"
fi
if [ "$end_rc" = "$EXIT_CRASH" ]; then
	for l in "${crash_lines[@]:0:20}"; do
		strip "$l"
		printf 'vmrun: console: %s\n' "$STRIPPED" >&2
	done
fi
event "end rc=$end_rc $end_reason"
printf '%d %s\n' "$end_rc" "$end_reason" >"$art/status.txt"
stamp
strip "$STAMP"
msg="vmrun: $end_reason (exit $end_rc, ${STRIPPED%??}s, $boots kernel boot(s)); artifacts in $art"
if [ "$end_rc" = 0 ]; then
	printf '%s\n' "$msg"
else
	printf '%s\n' "$msg" >&2
fi
exit "$end_rc"
