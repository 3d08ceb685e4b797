#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# hvcarve-cmdline: the administrator's tool for the hvcarve= kernel parameter.
#
# Linux running as the root partition of the Microsoft Hypervisor deposits
# RAM pages into the hypervisor; those pages must survive kexec.  hvcarve
# reserves a fixed carveout with hvcarve=SIZE@ADDR[,SIZE@ADDR...], and every
# kernel of a kexec chain also excludes it with memmap=SIZE$ADDR (understood
# by old kernels and by the x86 KASLR decompressor).  This script keeps those
# parameters consistent; run "hvcarve-cmdline --help" for the subcommands
# (next, check, suggest, size, status, kexec-args, install, remove).
#
# One parser with the kernel: whether hvcarve= is accepted, why it is
# refused and which regions it names is decided by hvcarve-parse
# (tools/hvcarve/hvcarve-parse.c), which compiles the kernel's own parser,
# include/linux/hvcarve_parse.h, and splits the command line as the kernel
# does.  It is looked up as $HVCARVE_PARSE, beside this script,
# <this script's directory>/../tools/hvcarve/hvcarve-parse,
# /usr/local/lib/hvcarve/hvcarve-parse, then in PATH; build it with
# "make -C tools/hvcarve".  This script keeps only what that parser does not
# cover: memmap=, crashkernel=, mem=, the memory map, the EFI memory map,
# GRUB and kdump/kexec configuration, and the sysfs statistics.
#
# Other numbers (memmap=, crashkernel=, suggest SIZE) are parsed into two
# 32-bit limbs so that anything that does not fit in 64 bits, or whose end
# lies beyond 2^63 (where bash's signed 64-bit arithmetic would wrap), is
# rejected by name instead of silently wrapping.
set -euo pipefail
export LC_ALL=C

PROG=hvcarve-cmdline
VERSION=0.4

# Exit codes (documented in every --help).
EX_PROBLEM=1	# problems found / validation failed / nothing suitable
EX_USAGE=2	# unknown subcommand or option, missing/extra/malformed argument
EX_NOINPUT=3	# a needed file or program is missing, unreadable or unwritable

PAGE=4096
ALIGN_2M=$((2 << 20))
KASLR_MEMMAP_MAX=4
# Regions one carveout may have (include/linux/hvcarve_parse.h), for the
# help texts only: hvcarve-parse enforces it.
MAX_REGIONS=8
MAX_S63=9223372036854775807	# 2^63 - 1, the largest bash integer
CMDLINE_MAX=2047		# x86 COMMAND_LINE_SIZE - 1
# Physical address bits for hvcarve-parse: x86-64 with 5-level paging (52),
# or with 4-level paging (46).  At most 62 here: region ends must stay
# below 2^63, the largest bash integer.
PHYS_BITS_5LEVEL=52
PHYS_BITS_4LEVEL=46
PHYS_BITS=$PHYS_BITS_5LEVEL

# Parameters never carried into the next kernel (compared with '-' == '_').
DROP_DEFAULT=(BOOT_IMAGE initrd kexec_jump_back_entry elfcorehdr)
DROP=("${DROP_DEFAULT[@]}")

EXIT_CODES_HELP="Exit status:
  0  success (warnings may have been printed)
  1  problems found: validation failed (the kernel would refuse hvcarve=),
     conflicting parameters, or no suitable range
  2  usage error: unknown subcommand or option, missing, extra or malformed
     argument
  3  input unavailable: /proc/cmdline, the --from file, the RAM map
     (/sys/firmware/memmap and /proc/iomem), a NUMA node, the hvcarve
     statistics in sysfs, a KERNEL or INITRD file, the --efi-map file (or
     it holds no firmware EFI memory map), the hvcarve-parse program, or
     an unreadable or unwritable --root DIR
Diagnostics go to stderr, results to stdout."

NERR=0
NWARN=0
# Every diagnostic, for --json.
ERRS=()
WARNS=()

perr() {
	NERR=$((NERR + 1))
	ERRS+=("$*")
	printf '%s: error: %s\n' "$PROG" "$*" >&2
}

pwarn() {
	NWARN=$((NWARN + 1))
	WARNS+=("$*")
	printf '%s: warning: %s\n' "$PROG" "$*" >&2
}

die() {
	local rc=$1
	shift
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit "$rc"
}

usage_err() {
	local sub=$1
	shift
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	if [[ -n $sub ]]; then
		printf "Try '%s %s --help'.\n" "$PROG" "$sub" >&2
	else
		printf "Try '%s --help'.\n" "$PROG" >&2
	fi
	exit "$EX_USAGE"
}

# ---------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------

# parse_num STR
# Parse STR like the kernel's memparse() (for memmap=, crashkernel=, mem= and
# suggest's SIZE; hvcarve= is hvcarve-parse's): 0x<hex>, 0<octal>, or <decimal>,
# optionally followed by one of K M G T P E (any case).  The value is built in
# two 32-bit limbs, so no bash arithmetic ever overflows.  Sets:
#   NUM_CLASS  ok   value < 2^63, NUM holds it exactly
#              big  2^63 <= value < 2^64 (valid u64, beyond any address)
#              ovf  value >= 2^64 (does not fit in 64 bits)
#              bad  not a number
parse_num() {
	local s=$1 digits rest base i d hi=0 lo=0 ovf=0 shl=0
	NUM=0 NUM_CLASS=bad
	if [[ $s =~ ^0[xX]([0-9a-fA-F]+)(.*)$ ]]; then
		base=16
	elif [[ $s =~ ^(0[0-7]*)(.*)$ ]]; then
		base=8
	elif [[ $s =~ ^([1-9][0-9]*)(.*)$ ]]; then
		base=10
	else
		return 0
	fi
	digits=${BASH_REMATCH[1]} rest=${BASH_REMATCH[2]}
	case $rest in
	'') ;;
	[Kk]) shl=10 ;;
	[Mm]) shl=20 ;;
	[Gg]) shl=30 ;;
	[Tt]) shl=40 ;;
	[Pp]) shl=50 ;;
	[Ee]) shl=60 ;;
	*) return 0 ;;
	esac
	for ((i = 0; i < ${#digits}; i++)); do
		d=$((16#${digits:i:1}))
		lo=$((lo * base + d))
		hi=$((hi * base + (lo >> 32)))
		lo=$((lo & 0xffffffff))
		if ((hi > 0xffffffff)); then
			ovf=1
			hi=$((hi & 0xffffffff))
		fi
	done
	for ((i = 0; i < shl; i++)); do
		hi=$(((hi << 1) | (lo >> 31)))
		lo=$(((lo << 1) & 0xffffffff))
		if ((hi > 0xffffffff)); then
			ovf=1
			hi=$((hi & 0xffffffff))
		fi
	done
	if ((ovf)); then
		NUM_CLASS=ovf
		return 0
	fi
	if ((hi > 0x7fffffff)); then
		NUM_CLASS=big
		return 0
	fi
	NUM=$(((hi << 32) | lo))
	NUM_CLASS=ok
}

# fmt_size N: canonical size, the largest exact binary suffix (64M, 1G, 2052K).
fmt_size() {
	local v=$1 sh suf
	for sh in 60:E 50:P 40:T 30:G 20:M 10:K; do
		suf=${sh#*:}
		sh=${sh%:*}
		if ((v > 0 && v % (1 << sh) == 0)); then
			printf '%d%s' $((v >> sh)) "$suf"
			return 0
		fi
	done
	printf '%d' "$v"
}

# fmt_addr N: canonical address, lower-case 0x hex without leading zeros.
fmt_addr() {
	printf '0x%x' "$1"
}

# fmt_range START END_EXCLUSIVE
fmt_range() {
	printf '0x%x-0x%x' "$1" $(($2 - 1))
}

# fmt_mib BYTES: human-readable amount.
fmt_mib() {
	local v=$1
	if ((v >= (1 << 30) && v % (1 << 30) == 0)); then
		printf '%d GiB' $((v >> 30))
	else
		printf '%d MiB' $((v >> 20))
	fi
}

# parse_hex_u63 STR: a sysfs/iomem hex number (with or without 0x) below
# 2^63.  Sets HEXV; returns 1 when malformed or too large.
parse_hex_u63() {
	local s=${1#0x}
	s=${s#0X}
	if [[ ! $s =~ ^[0-9a-fA-F]{1,16}$ ]]; then
		return 1
	fi
	while [[ ${#s} -gt 1 && ${s:0:1} == 0 ]]; do
		s=${s:1}
	done
	if ((${#s} == 16)) && [[ ${s:0:1} == [89a-fA-F] ]]; then
		return 1
	fi
	HEXV=$((16#$s))
}

# num_problem CLASS TEXT: the message for a number that is not usable.
num_problem() {
	case $1 in
	bad) printf "'%s' is not a number (expected decimal, 0x hex or 0 octal, with an optional K/M/G/T/P/E suffix)" "$2" ;;
	ovf) printf "'%s' does not fit in 64 bits" "$2" ;;
	big) printf "'%s' is 2^63 or more, beyond any physical address" "$2" ;;
	esac
}

# ---------------------------------------------------------------------------
# JSON output (--json)
# ---------------------------------------------------------------------------

# json_str STR: STR as a JSON string: \ and " escaped, control characters
# as \n \t \r \b \f or \u00XX.  Other bytes are copied (command lines are
# expected to be UTF-8 or ASCII).
json_str() {
	local s=$1 out="" c i
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/\\n}
	s=${s//$'\t'/\\t}
	s=${s//$'\r'/\\r}
	s=${s//$'\f'/\\f}
	s=${s//$'\b'/\\b}
	if [[ $s == *[$'\x01'-$'\x1f']* ]]; then
		for ((i = 0; i < ${#s}; i++)); do
			c=${s:i:1}
			if [[ $c == [$'\x01'-$'\x1f'] ]]; then
				printf -v c '\\u%04x' "'$c"
			fi
			out+=$c
		done
		s=$out
	fi
	printf '"%s"' "$s"
}

# json_str_or_null STR: null for an empty STR, else json_str.
json_str_or_null() {
	if [[ -z $1 ]]; then
		printf 'null'
	else
		json_str "$1"
	fi
}

# json_num_or_null STR: STR when it is a decimal integer, else null.
json_num_or_null() {
	if [[ $1 =~ ^-?[0-9]+$ ]]; then
		printf '%s' "$1"
	else
		printf 'null'
	fi
}

# json_array STR...: a JSON array of strings.
json_array() {
	local sep="" s
	printf '['
	for s in "$@"; do
		printf '%s' "$sep"
		json_str "$s"
		sep=,
	done
	printf ']'
}

# json_diagnostics: the "errors" and "warnings" members (no braces).
json_diagnostics() {
	printf '"errors":'
	json_array ${ERRS[@]+"${ERRS[@]}"}
	printf ',"warnings":'
	json_array ${WARNS[@]+"${WARNS[@]}"}
}

# json_head COMMAND: the members every document starts with (no braces).
json_head() {
	printf '"tool":"%s","version":"%s","command":"%s"' "$PROG" "$VERSION" "$1"
}

# ---------------------------------------------------------------------------
# The kernel's hvcarve= parser (hvcarve-parse)
# ---------------------------------------------------------------------------

# find_parse: the hvcarve-parse program into HVP, or exit 3.  Looked up as
# $HVCARVE_PARSE (which must then be an executable file), beside this
# script, <script dir>/../tools/hvcarve/hvcarve-parse,
# /usr/local/lib/hvcarve/hvcarve-parse, then in PATH.
find_parse() {
	local self dir c
	[[ -z ${HVP:-} ]] || return 0
	if [[ -n ${HVCARVE_PARSE:-} ]]; then
		if [[ ! -x $HVCARVE_PARSE || -d $HVCARVE_PARSE ]]; then
			die "$EX_NOINPUT" "HVCARVE_PARSE=$HVCARVE_PARSE is not an executable file"
		fi
		HVP=$HVCARVE_PARSE
		return 0
	fi
	self=$(readlink -f -- "${BASH_SOURCE[0]}") || self=${BASH_SOURCE[0]}
	dir=${self%/*}
	[[ $self == */* ]] || dir=.
	for c in "$dir/hvcarve-parse" "$dir/../tools/hvcarve/hvcarve-parse" /usr/local/lib/hvcarve/hvcarve-parse; do
		if [[ -x $c && ! -d $c ]]; then
			HVP=$c
			return 0
		fi
	done
	if c=$(command -v hvcarve-parse); then
		HVP=$c
		return 0
	fi
	die "$EX_NOINPUT" "hvcarve-parse, the kernel's hvcarve= parser, is not installed: build it with 'make -C tools/hvcarve' in the hvcarve source tree (or install it as /usr/local/lib/hvcarve/hvcarve-parse, or set HVCARVE_PARSE)"
}

# run_parse LINE: what the kernel makes of the hvcarve= parameters of the
# command line LINE, with PHYS_BITS physical address bits.  Sets
#   HP_VERDICT  none (no hvcarve=), accept, or refuse
#   HP_MSG      the kernel's message when refused: rejecting "hvcarve=V": "E": WHY
#   HP_A HP_S   the regions (address, size) when accepted, in order
# Exits 3 when the program is missing or fails.
run_parse() {
	local line=$1 out rc=0 l a s
	find_parse
	# A line that starts with "--x" would be taken for an option; the
	# kernel skips leading spaces, so one more changes nothing.
	if [[ $line == --?* ]]; then
		line=" $line"
	fi
	out=$("$HVP" --phys-bits "$PHYS_BITS" "$line") || rc=$?
	HP_VERDICT=none HP_MSG="" HP_A=() HP_S=()
	case $rc in
	0)
		while IFS= read -r l; do
			[[ -n $l ]] || continue
			if [[ ! $l =~ ^region\ [0-9]+\ (0x[0-9a-f]+)\ (0x[0-9a-f]+)$ ]]; then
				die "$EX_NOINPUT" "$HVP printed '$l', not 'region I BASE SIZE': is it the hvcarve-parse of this version?"
			fi
			a=${BASH_REMATCH[1]} s=${BASH_REMATCH[2]}
			parse_hex_u63 "$a" || die "$EX_NOINPUT" "$HVP: address $a out of range"
			a=$HEXV
			parse_hex_u63 "$s" || die "$EX_NOINPUT" "$HVP: size $s out of range"
			s=$HEXV
			HP_A+=("$a") HP_S+=("$s")
		done <<<"$out"
		if ((${#HP_A[@]})); then
			HP_VERDICT=accept
		fi
		;;
	1)
		if [[ $out != rejecting\ * || $out == *$'\n'* ]]; then
			die "$EX_NOINPUT" "$HVP refused with an unexpected message: '$out'"
		fi
		HP_VERDICT=refuse HP_MSG=$out
		;;
	*)
		die "$EX_NOINPUT" "$HVP failed (exit $rc)"
		;;
	esac
}

# kernel_refusal MSG: report the kernel's refusal of hvcarve=.
kernel_refusal() {
	perr "$1 (the kernel's own parser: it would reserve nothing and disable the whole carveout)"
}

# host_phys_bits ROOT: the physical address bits of the machine at ROOT:
# 52 when ROOT/proc/cpuinfo lists the la57 flag (5-level paging), 46 when
# it is readable without it, 52 when it is not readable.
host_phys_bits() {
	local f=$1/proc/cpuinfo
	if [[ ! -r $f || -d $f ]]; then
		echo "$PHYS_BITS_5LEVEL"
	elif grep -qE '^flags[[:space:]]*:.*[[:space:]]la57([[:space:]]|$)' "$f"; then
		echo "$PHYS_BITS_5LEVEL"
	else
		echo "$PHYS_BITS_4LEVEL"
	fi
}

# parse_live_cmdline ROOT: parse_cmdline of ROOT/proc/cmdline (the running
# kernel's), with the physical address bits of the host at ROOT.
parse_live_cmdline() {
	local PHYS_BITS
	PHYS_BITS=$(host_phys_bits "$1")
	parse_cmdline "$(<"$1/proc/cmdline")"
}

# set_phys_bits SUB OPTION_VALUE LIVE ROOT: PHYS_BITS from --phys-bits when
# given (exit 2 unless 12..62), else from the host at ROOT when the command
# line is the live one (LIVE=1), else 52.
set_phys_bits() {
	if [[ -n $2 ]]; then
		if [[ ! $2 =~ ^[0-9]{1,2}$ ]] || ((10#$2 < 12 || 10#$2 > 62)); then
			usage_err "$1" "$1: --phys-bits needs a number of bits from 12 to 62, not '$2'"
		fi
		PHYS_BITS=$((10#$2))
	elif (($3)); then
		PHYS_BITS=$(host_phys_bits "$4")
	else
		PHYS_BITS=$PHYS_BITS_5LEVEL
	fi
}

# ---------------------------------------------------------------------------
# Command-line parsing, following the kernel's next_arg()
# ---------------------------------------------------------------------------

# kparse TOKEN: what the kernel makes of one raw parameter.
# Sets KP_NAME, KP_VAL, KP_HASVAL and KP_KEY (name with '-' as '_').
kparse() {
	local a=$1 q=0 tail_done=0
	KP_NAME="" KP_VAL="" KP_HASVAL=0
	if [[ $a == \"* ]]; then
		a=${a:1}
		q=1
	fi
	# The first '=' after the first character separates name and value.
	if [[ $a =~ ^(.[^=]*)=(.*)$ ]]; then
		KP_NAME=${BASH_REMATCH[1]} KP_VAL=${BASH_REMATCH[2]} KP_HASVAL=1
		if [[ $KP_VAL == \"* ]]; then
			KP_VAL=${KP_VAL:1}
			tail_done=1
			if [[ $KP_VAL == *\" ]]; then
				KP_VAL=${KP_VAL%\"}
			fi
		fi
	else
		KP_NAME=$a
	fi
	if ((q && !tail_done)); then
		if ((KP_HASVAL)); then
			if [[ $KP_VAL == *\" ]]; then KP_VAL=${KP_VAL%\"}; fi
		elif [[ $KP_NAME == *\" ]]; then
			KP_NAME=${KP_NAME%\"}
		fi
	fi
	KP_KEY=${KP_NAME//-/_}
}

# tokenize STR
# Split like the kernel: whitespace (space, tab, newline, CR, VT, FF)
# separates parameters except inside double quotes.  Fills K_RAW (kernel
# parameters, raw text) and I_RAW (init arguments after "--"), sets HAS_DD.
tokenize() {
	local s=$1 tok inq
	local re_plain='^[^"[:space:]]+' re_quoted='^[^"]*' re_ws='^[[:space:]]+'
	K_RAW=() I_RAW=() HAS_DD=0
	while :; do
		if [[ $s =~ $re_ws ]]; then
			s=${s:${#BASH_REMATCH[0]}}
		fi
		[[ -n $s ]] || break
		tok="" inq=0
		while [[ -n $s ]]; do
			if ((inq)); then
				[[ $s =~ $re_quoted ]]
				tok+=${BASH_REMATCH[0]}
				s=${s:${#BASH_REMATCH[0]}}
				if [[ -n $s ]]; then
					tok+='"'
					s=${s:1}
					inq=0
				fi
			else
				if [[ $s =~ $re_plain ]]; then
					tok+=${BASH_REMATCH[0]}
					s=${s:${#BASH_REMATCH[0]}}
				fi
				if [[ ${s:0:1} == '"' ]]; then
					tok+='"'
					s=${s:1}
					inq=1
				else
					break
				fi
			fi
		done
		if ((HAS_DD)); then
			I_RAW+=("$tok")
			continue
		fi
		kparse "$tok"
		if [[ $KP_NAME == -- && $KP_HASVAL == 0 ]]; then
			HAS_DD=1
			continue
		fi
		K_RAW+=("$tok")
	done
}

# parse_mm ITEM: one comma-separated item of a memmap= value.
# MM_TYPE: exactmap, @ (usable RAM), # (ACPI), $ (reserved), ! (protected),
# % (type change), limit (nn alone: RAM above nn removed), or bad.
# MM_A/MM_S address and size (bash integers).
parse_mm() {
	local it=$1 st at
	MM_TYPE=bad MM_A=0 MM_S=0
	if [[ $it == exactmap* ]]; then
		MM_TYPE=exactmap
		return 0
	fi
	if [[ $it =~ ^([^@#\$!%]+)$ ]]; then
		parse_num "$it"
		if [[ $NUM_CLASS == ok ]]; then
			MM_TYPE=limit MM_S=$NUM
		fi
		return 0
	fi
	if [[ ! $it =~ ^([^@#\$!%]+)([@#\$!%])(.+)$ ]]; then
		return 0
	fi
	st=${BASH_REMATCH[1]} at=${BASH_REMATCH[3]}
	local type=${BASH_REMATCH[2]}
	if [[ $type == % ]]; then
		if [[ ! $at =~ ^([^-+]+)(-[0-9]+)?(\+[0-9]+)?$ ]]; then
			return 0
		fi
		at=${BASH_REMATCH[1]}
	fi
	parse_num "$st"
	[[ $NUM_CLASS == ok ]] || return 0
	MM_S=$NUM
	parse_num "$at"
	[[ $NUM_CLASS == ok ]] || return 0
	MM_A=$NUM
	if ((MM_S > MAX_S63 - MM_A)); then
		return 0
	fi
	MM_TYPE=$type
}

# split_commas STR: the comma-separated fields of STR (empty ones kept) in
# SPLIT, as the kernel's strchr(',') loops see them.
split_commas() {
	local s=$1
	SPLIT=()
	while [[ $s == *,* ]]; do
		SPLIT+=("${s%%,*}")
		s=${s#*,}
	done
	SPLIT+=("$s")
}

# join_by SEP WORD...: the words joined by SEP.
join_by() {
	local sep=$1 out=""
	shift
	if (($#)); then
		out=$1
		shift
	fi
	while (($#)); do
		out+=$sep$1
		shift
	done
	printf '%s' "$out"
}

# overlap A1 E1 A2 E2 (exclusive ends)
overlap() {
	(($1 < $4 && $3 < $2))
}

# key_dropped KEY: KEY (with '-' as '_') is in DROP.
key_dropped() {
	local d
	for d in "${DROP[@]}"; do
		if [[ $1 == "${d//-/_}" ]]; then
			return 0
		fi
	done
	return 1
}

# octal_lint TOKEN: warn about numbers in an hvcarve= value that the kernel
# reads as octal (a leading 0).  Only a hint: the verdict is hvcarve-parse's.
octal_lint() {
	local item n
	kparse "$1"
	((KP_HASVAL)) || return 0
	split_commas "$KP_VAL"
	for item in "${SPLIT[@]}"; do
		[[ $item == *@* ]] || continue
		for n in "size:${item%%@*}" "address:${item#*@}"; do
			if [[ ${n#*:} =~ ^0[0-7]+([KkMmGgTtPpEe])?$ ]]; then
				pwarn "hvcarve region '$item': ${n%%:*} '${n#*:}' has a leading 0, so the kernel reads it as octal"
			fi
		done
	done
}

# parse_cmdline STR [ADD_ADDR ADD_SIZE]...
# Tokenize STR; take its hvcarve regions from the kernel's parser
# (run_parse: a refusal is an error and leaves no region, as in the kernel)
# and add the extra regions (next --add; an extra region identical to one
# already there is skipped, one that overlaps is an error); parse the
# memmap= items and relate them to the regions.  Parameters named in DROP
# are ignored: they will not be in the next command line.  Problems are
# reported with perr/pwarn.
#   R_A R_S R_TXT     regions (address, size, canonical SIZE@ADDR)
#   R_MM              1 when a memmap=SIZE$ADDR identical to the region exists
#   HV_VERDICT HV_MSG what the kernel makes of hvcarve= (run_parse)
#   M_TOK M_RAW M_TYPE M_A M_S M_DUP   memmap items
#   CRASH_A CRASH_S   crashkernel=SIZE@OFFSET when given in that form
#   NOKASLR           1 when nokaslr is present
parse_cmdline() {
	local line=$1
	shift
	local i j item val a s txt skip
	R_A=() R_S=() R_TXT=() R_MM=()
	M_TOK=() M_RAW=() M_TYPE=() M_A=() M_S=() M_DUP=()
	CRASH_A=-1 CRASH_S=0 NOKASLR=0 MEMLIMIT=-1
	HV_VERDICT=none HV_MSG=""
	tokenize "$line"
	for ((i = 0; i < ${#K_RAW[@]}; i++)); do
		kparse "${K_RAW[i]}"
		key_dropped "$KP_KEY" && continue
		case $KP_KEY in
		hvcarve)
			octal_lint "${K_RAW[i]}"
			;;
		memmap)
			val=$KP_VAL
			if ((!KP_HASVAL)); then val=""; fi
			split_commas "$val"
			for item in "${SPLIT[@]}"; do
				parse_mm "$item"
				M_TOK+=("$i") M_RAW+=("$item") M_TYPE+=("$MM_TYPE")
				M_A+=("$MM_A") M_S+=("$MM_S") M_DUP+=(0)
			done
			;;
		crashkernel)
			if [[ $KP_VAL =~ ^([^@,:]+)@([^@,:]+)$ ]]; then
				local cs=${BASH_REMATCH[1]} ca=${BASH_REMATCH[2]}
				parse_num "$cs"
				if [[ $NUM_CLASS == ok ]]; then
					CRASH_S=$NUM
					parse_num "$ca"
					if [[ $NUM_CLASS == ok ]] && ((NUM > 0 && CRASH_S <= MAX_S63 - NUM)); then
						CRASH_A=$NUM
					fi
				fi
			fi
			;;
		mem)
			parse_num "$KP_VAL"
			if [[ $NUM_CLASS == ok ]] && ((NUM > 0)); then
				MEMLIMIT=$NUM
			fi
			;;
		nokaslr)
			NOKASLR=1
			;;
		esac
	done
	# The kernel's verdict on hvcarve=: the regions, or its refusal.
	if ! key_dropped hvcarve; then
		run_parse "$line"
		HV_VERDICT=$HP_VERDICT HV_MSG=$HP_MSG
		case $HP_VERDICT in
		refuse) kernel_refusal "$HP_MSG" ;;
		accept)
			for ((i = 0; i < ${#HP_A[@]}; i++)); do
				R_A+=("${HP_A[i]}") R_S+=("${HP_S[i]}") R_MM+=(0)
				R_TXT+=("$(fmt_size "${HP_S[i]}")@$(fmt_addr "${HP_A[i]}")")
			done
			;;
		esac
	fi
	while (($# >= 2)); do
		a=$1 s=$2
		shift 2
		txt="$(fmt_size "$s")@$(fmt_addr "$a")"
		skip=0
		for ((j = 0; j < ${#R_A[@]}; j++)); do
			if ((R_A[j] == a && R_S[j] == s)); then
				skip=1
				break
			fi
			if overlap "$a" $((a + s)) "${R_A[j]}" $((R_A[j] + R_S[j])); then
				perr "added region $txt overlaps hvcarve region ${R_TXT[j]}"
				skip=1
				break
			fi
		done
		((skip)) && continue
		R_A+=("$a") R_S+=("$s") R_MM+=(0) R_TXT+=("$txt")
	done
	relate_memmaps
}

# relate_memmaps: mark memmap items identical to a region as duplicates and
# report items that conflict with a region.
relate_memmaps() {
	local k j a e t raw hint
	for ((k = 0; k < ${#M_RAW[@]}; k++)); do
		t=${M_TYPE[k]} raw=${M_RAW[k]}
		case $t in
		bad)
			hint=""
			if [[ $raw == *\\* ]]; then
				hint=" (a backslash reached the kernel: over-escaped in the boot loader configuration?)"
			fi
			pwarn "memmap='$raw' is not understood (the kernel ignores it), so it cannot be checked against the hvcarve regions$hint"
			continue
			;;
		exactmap)
			if ((${#R_A[@]})); then
				perr "memmap=exactmap replaces the whole memory map, so the hvcarve regions cannot be guaranteed; remove it"
			fi
			continue
			;;
		esac
		a=${M_A[k]} e=$((M_A[k] + M_S[k]))
		for ((j = 0; j < ${#R_A[@]}; j++)); do
			if [[ $t == limit ]]; then
				if ((R_A[j] + R_S[j] > M_S[k])); then
					perr "memmap=$raw conflicts with hvcarve region ${R_TXT[j]}: it removes all RAM above $(fmt_addr "${M_S[k]}")"
				fi
				continue
			fi
			if [[ $t == \$ ]] && ((a == R_A[j] && M_S[k] == R_S[j])); then
				M_DUP[k]=1
				R_MM[j]=1
				continue
			fi
			if ((M_S[k] > 0)) && overlap "$a" "$e" "${R_A[j]}" $((R_A[j] + R_S[j])); then
				case $t in
				@) perr "memmap=$raw conflicts with hvcarve region ${R_TXT[j]}: it declares usable RAM inside the carveout" ;;
				\$) perr "memmap=$raw conflicts with hvcarve region ${R_TXT[j]}: it overlaps the region but is not memmap=${R_TXT[j]/@/\$}" ;;
				*) perr "memmap=$raw conflicts with hvcarve region ${R_TXT[j]}: it changes the type of memory inside the carveout" ;;
				esac
			fi
		done
	done
}

# kaslr_entries: the memmap entries the x86 KASLR decompressor records, in
# command-line order (arch/x86/boot/compressed/kaslr.c: only #, $ and !
# items with a non-zero start count; a list stops at an item it cannot
# parse).  Sets KASLR_LIST (item texts).
kaslr_entries() {
	local k prev=-1 stop=0
	KASLR_LIST=()
	for ((k = 0; k < ${#M_RAW[@]}; k++)); do
		if ((M_TOK[k] != prev)); then
			prev=${M_TOK[k]}
			stop=0
		fi
		((stop)) && continue
		case ${M_TYPE[k]} in
		bad | exactmap) stop=1 ;;
		\# | \$ | !) if ((M_A[k] != 0)); then KASLR_LIST+=("memmap=${M_RAW[k]}"); fi ;;
		esac
	done
}

# kaslr_report: warn when more than 4 memmap reservations exist.  Only a
# warning: the x86 KASLR decompressor of old kernels honours 4, but the
# kernel's hvcarve= takes up to 8 regions (and its decompressor avoids them
# itself), and a kexec'd kernel gets the carveout from the e820 map anyway.
kaslr_report() {
	local n extra
	kaslr_entries
	n=${#KASLR_LIST[@]}
	((n > KASLR_MEMMAP_MAX)) || return 0
	extra="${KASLR_LIST[*]:KASLR_MEMMAP_MAX}"
	local why="$n memmap= reservations, but the x86 KASLR decompressor of a kernel without hvcarve honours only $KASLR_MEMMAP_MAX: separate memmap= parameters after the ${KASLR_MEMMAP_MAX}th are ignored (such a kernel, booted from the firmware, may be decompressed into them) and extra entries in one comma list disable physical randomisation; affected: $extra"
	if ((NOKASLR)); then
		pwarn "$why (harmless here: nokaslr is set)"
	else
		pwarn "$why; use fewer regions or add nokaslr if such a kernel is ever booted from the firmware (kernels with hvcarve, and any kernel entered by kexec, are not affected)"
	fi
}

# ---------------------------------------------------------------------------
# Output of the next command line
# ---------------------------------------------------------------------------

# build_next: assemble the next command line from the parsed state into
# NEXT_LINE and NEXT_WORDS (an array of its parameters, "--" included).
# Parameters in DROP are left out; with hvcarve in DROP there is no
# hvcarve= at all, with memmap in DROP no memmap= (not even the twins).
build_next() {
	local i k key placed=0
	local -a words=() block=() kept
	if ((${#R_A[@]})) && ! key_dropped hvcarve; then
		block=("hvcarve=$(join_by , "${R_TXT[@]}")")
		if ! key_dropped memmap; then
			for ((k = 0; k < ${#R_A[@]}; k++)); do
				block+=("memmap=$(fmt_size "${R_S[k]}")\$$(fmt_addr "${R_A[k]}")")
			done
		fi
	fi
	for ((i = 0; i < ${#K_RAW[@]}; i++)); do
		kparse "${K_RAW[i]}"
		key=$KP_KEY
		key_dropped "$key" && continue
		case $key in
		hvcarve)
			if ((!placed)); then
				words+=(${block[@]+"${block[@]}"})
				placed=1
			fi
			continue
			;;
		memmap)
			kept=()
			local ndup=0
			for ((k = 0; k < ${#M_RAW[@]}; k++)); do
				((M_TOK[k] == i)) || continue
				if ((M_DUP[k])); then
					ndup=$((ndup + 1))
				else
					kept+=("${M_RAW[k]}")
				fi
			done
			if ((ndup == 0)); then
				words+=("${K_RAW[i]}")
			elif ((${#kept[@]})); then
				words+=("memmap=$(join_by , "${kept[@]}")")
			fi
			continue
			;;
		esac
		words+=("${K_RAW[i]}")
	done
	if ((!placed && ${#block[@]})); then
		words+=("${block[@]}")
	fi
	if ((HAS_DD)); then
		words+=(--)
		words+=(${I_RAW[@]+"${I_RAW[@]}"})
	fi
	NEXT_WORDS=(${words[@]+"${words[@]}"})
	NEXT_LINE="${words[*]}"
}

# shell_quote STR: one single-quoted shell word that evaluates to STR.
shell_quote() {
	local q="'\\''"
	printf "'%s'" "${1//\'/$q}"
}

# maybe_quote STR: STR itself when it is a plain shell word, else quoted.
maybe_quote() {
	if [[ -n $1 && $1 =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
		printf '%s' "$1"
	else
		shell_quote "$1"
	fi
}

GRUB_RESERVED=" case do done elif else esac fi for function if in select then until while { } [[ ]] "

# grub_word RAW: the grub.cfg text for one parameter, or return 1.
#
# GRUB's script parser (grub-core/script/yylex.l, execute.c) splits the
# "linux" line into words, expands $NAME, ${NAME}, $0... and removes quotes
# and backslashes; the linux loader (grub_create_loader_cmdline) then joins
# the words with spaces, wrapping a word that contains a space in "..." and
# escaping \ ' and " inside a word with a backslash.  So the word GRUB must
# produce is what the kernel makes of the parameter (name=value with the
# kernel's quotes removed): foo="a b" becomes the word foo=a b, which reaches
# the kernel as "foo=a b" and parses identically.  A literal $ is written
# \$ in grub.cfg (outside or inside double quotes GRUB turns \$ into $).
grub_word() {
	local w name val
	kparse "$1"
	w=$KP_NAME name=$KP_NAME val=$KP_VAL
	if ((KP_HASVAL)); then w+="=$KP_VAL"; fi
	if [[ $w =~ [\"\'\\] || $w =~ [[:cntrl:]] ]]; then
		return 1
	fi
	if [[ $w =~ ^[A-Za-z0-9_.,:/=@%+\$-]+$ && $GRUB_RESERVED != *" $w "* ]]; then
		GW=${w//\$/\\\$}
	elif ((KP_HASVAL)) && [[ $name =~ ^[A-Za-z0-9_.,:/@%+-]+$ ]]; then
		GW="$name=\"${val//\$/\\\$}\""
	else
		GW="\"${w//\$/\\\$}\""
	fi
}

# grub_sh_text WORD...: the words as the inside of a "..." value of
# /etc/default/grub (or a grub.d drop-in) into GRUB_SH; returns 1 (with
# GW_BAD the word) when a word cannot pass through GRUB unchanged.
grub_sh_text() {
	local w g s out=()
	for w in "$@"; do
		if ! grub_word "$w"; then
			GW_BAD=$w
			return 1
		fi
		out+=("$GW")
	done
	g="${out[*]}"
	# /etc/default/grub is sourced by /bin/sh: inside "..." a backslash
	# escapes \ $ ` and ", so each of those gets one more backslash
	# (grub.cfg's \$ is therefore written \\\$ here).
	s=${g//\\/\\\\}
	s=${s//\$/\\\$}
	s=${s//\`/\\\`}
	s=${s//\"/\\\"}
	GRUB_SH=$s
}

# format_line FORMAT: print NEXT_LINE in FORMAT.
format_line() {
	case $1 in
	raw) printf '%s\n' "$NEXT_LINE" ;;
	shell) printf '%s\n' "$(shell_quote "$NEXT_LINE")" ;;
	grub)
		if ! grub_sh_text ${NEXT_WORDS[@]+"${NEXT_WORDS[@]}"}; then
			die "$EX_PROBLEM" "'$GW_BAD' cannot be passed through GRUB unchanged: GRUB escapes ' \\ and \" inside a word and splits at tabs and newlines"
		fi
		if ((HAS_DD)); then
			pwarn "the line contains '--': grub-mkconfig appends GRUB_CMDLINE_LINUX_DEFAULT after GRUB_CMDLINE_LINUX, so those parameters would become init arguments"
		fi
		printf 'GRUB_CMDLINE_LINUX="%s"\n' "$GRUB_SH"
		;;
	esac
}

# ---------------------------------------------------------------------------
# Machine information
# ---------------------------------------------------------------------------

# read_cmdline_file FILE: contents of FILE into CMDLINE, or exit 3.
read_cmdline_file() {
	if [[ ! -r $1 || -d $1 ]]; then
		die "$EX_NOINPUT" "cannot read $1"
	fi
	CMDLINE=$(<"$1")
}

# running_reserved ROOT: "start end" lines (exclusive end) of the hvcarve
# regions and memmap=$ items of the running kernel's command line, and of
# the "hvcarve" entries of ROOT/proc/iomem: in /proc/iomem those show as
# Reserved (or hvcarve) instead of System RAM.
running_reserved() {
	local f=$1/proc/cmdline k
	iomem_hvcarve "$1"
	[[ -r $f ]] || return 0
	(
		parse_live_cmdline "$1"
		for ((k = 0; k < ${#R_A[@]}; k++)); do
			echo "${R_A[k]} $((R_A[k] + R_S[k]))"
		done
		for ((k = 0; k < ${#M_RAW[@]}; k++)); do
			if [[ ${M_TYPE[k]} == \$ ]]; then
				echo "${M_A[k]} $((M_A[k] + M_S[k]))"
			fi
		done
	) 2>/dev/null || true
}

# load_ram ROOT
# Read the firmware memory map (ROOT/sys/firmware/memmap, falling back to
# ROOT/proc/iomem with a warning).  Since Linux 6.15 /sys/firmware/memmap
# shows the map kexec hands on, where a running hvcarve kernel marks its
# carveout "Reserved" (one merged entry for adjacent regions): an entry
# shaped exactly like the running carveout (running_regions: the regions
# of ROOT/proc/cmdline and the "hvcarve" entries of ROOT/proc/iomem) is
# counted as the RAM it was, as the kernel accepts an earlier kernel's
# carveout as inherited.  Sets:
#   MAP_A MAP_E MAP_T   all top-level entries (exclusive ends), sorted
#   RAM_A RAM_E         System RAM, adjacent/overlapping entries coalesced
#   RAM_SRC             the file(s) used
# Returns 1 (after perr) when neither source exists.
load_ram() {
	local root=$1 dir=$1/sys/firmware/memmap iomem=$1/proc/iomem d s e t line k
	local -a rows=()
	MAP_A=() MAP_E=() MAP_T=() RAM_A=() RAM_E=() RAM_SRC=""
	running_regions "$root"
	if [[ -d $dir ]] && compgen -G "$dir/*/start" >/dev/null; then
		RAM_SRC=$dir
		for d in "$dir"/*/; do
			[[ -r ${d}start && -r ${d}end && -r ${d}type ]] || continue
			s=$(<"${d}start") e=$(<"${d}end") t=$(<"${d}type")
			parse_hex_u63 "$s" || continue
			s=$HEXV
			parse_hex_u63 "$e" || continue
			e=$HEXV
			((e >= s && e < MAX_S63)) || continue
			if [[ $t == [Rr]eserved || $t == hvcarve* ]] &&
				running_carveout_shaped "$s" $((e + 1)); then
				t="System RAM"
			fi
			rows+=("$s $((e + 1)) $t")
		done
	elif [[ -r $iomem ]]; then
		RAM_SRC=$iomem
		pwarn "$dir is missing: falling back to $iomem (less precise: it shows the running kernel's view of memory)"
		local -a res_a=() res_e=()
		while read -r s e; do
			res_a+=("$s") res_e+=("$e")
		done < <(running_reserved "$root")
		local nonzero=0
		while IFS= read -r line; do
			[[ $line =~ ^([0-9a-fA-F]+)-([0-9a-fA-F]+)\ :\ (.*)$ ]] || continue
			t=${BASH_REMATCH[3]} e=${BASH_REMATCH[2]}
			parse_hex_u63 "${BASH_REMATCH[1]}" || continue
			s=$HEXV
			parse_hex_u63 "$e" || continue
			e=$HEXV
			((e > 0)) && nonzero=1
			((e >= s && e < MAX_S63)) || continue
			e=$((e + 1))
			if [[ $t == [Rr]eserved || $t == hvcarve* ]]; then
				if running_carveout_shaped "$s" "$e"; then
					t="System RAM"
				fi
				for ((k = 0; k < ${#res_a[@]}; k++)); do
					if ((s >= res_a[k] && e <= res_e[k])); then
						t="System RAM"
						break
					fi
				done
			fi
			rows+=("$s $e $t")
		done <"$iomem"
		if ((!nonzero && ${#rows[@]})); then
			perr "$iomem shows only zero addresses (read it as root)"
			return 1
		fi
	else
		perr "no RAM map: neither $dir nor $iomem exists"
		return 1
	fi
	local cur_a=-1 cur_e=-1
	while read -r s e t; do
		[[ -n $s ]] || continue
		MAP_A+=("$s") MAP_E+=("$e") MAP_T+=("$t")
		[[ $t == "System RAM" ]] || continue
		if ((cur_a >= 0 && s <= cur_e)); then
			((e > cur_e)) && cur_e=$e
		else
			if ((cur_a >= 0)); then
				RAM_A+=("$cur_a") RAM_E+=("$cur_e")
			fi
			cur_a=$s cur_e=$e
		fi
	done < <(if ((${#rows[@]})); then printf '%s\n' "${rows[@]}" | sort -n -k1,1 -k2,2; fi)
	if ((cur_a >= 0)); then
		RAM_A+=("$cur_a") RAM_E+=("$cur_e")
	fi
	if ((${#RAM_A[@]} == 0)); then
		perr "no System RAM in $RAM_SRC"
		return 1
	fi
}

# load_crash ROOT: "Crash kernel" ranges of ROOT/proc/iomem (any nesting)
# into CK_A/CK_E; CK_SRC names where each comes from.
load_crash() {
	local iomem=$1/proc/iomem line s e
	CK_A=() CK_E=() CK_SRC=()
	if [[ -r $iomem ]]; then
		while IFS= read -r line; do
			[[ $line =~ ^[[:space:]]*([0-9a-fA-F]+)-([0-9a-fA-F]+)\ :\ Crash\ kernel ]] || continue
			e=${BASH_REMATCH[2]}
			parse_hex_u63 "${BASH_REMATCH[1]}" || continue
			s=$HEXV
			parse_hex_u63 "$e" || continue
			e=$HEXV
			((e > s)) || continue
			CK_A+=("$s") CK_E+=($((e + 1))) CK_SRC+=("\"Crash kernel\" in $iomem")
		done <"$iomem"
	fi
	if ((CRASH_A >= 0)); then
		CK_A+=("$CRASH_A") CK_E+=($((CRASH_A + CRASH_S)))
		CK_SRC+=("crashkernel=$(fmt_size "$CRASH_S")@$(fmt_addr "$CRASH_A")")
	fi
}

# load_iomem_reserved ROOT: nested iomem entries inside RAM that the next
# kernel must not get either (Reserved, hvcarve, persistent memory) into
# XR_A/XR_E.  "Kernel code/data/bss" belong to the running kernel only.
load_iomem_reserved() {
	local iomem=$1/proc/iomem line s e
	XR_A=() XR_E=()
	[[ -r $iomem ]] || return 0
	while IFS= read -r line; do
		[[ $line =~ ^[[:space:]]+([0-9a-fA-F]+)-([0-9a-fA-F]+)\ :\ (.*)$ ]] || continue
		case ${BASH_REMATCH[3]} in
		[Rr]eserved | hvcarve* | Persistent\ Memory*) ;;
		*) continue ;;
		esac
		e=${BASH_REMATCH[2]}
		parse_hex_u63 "${BASH_REMATCH[1]}" || continue
		s=$HEXV
		parse_hex_u63 "$e" || continue
		e=$HEXV
		((e > s)) || continue
		XR_A+=("$s") XR_E+=($((e + 1)))
	done <"$iomem"
}

# ---------------------------------------------------------------------------
# The EFI memory map
# ---------------------------------------------------------------------------

# On a UEFI machine the e820 map (/sys/firmware/memmap, /proc/iomem) is
# built from the EFI memory map by the EFI stub, which turns boot services
# code and data, the boot loader's memory and conventional memory alike
# into System RAM. The kernel refuses a region over EFI boot services or
# runtime memory, so the e820 view cannot tell a good region from a bad
# one. Nothing in sysfs has the whole EFI map (runtime-map has only the
# runtime entries); the kernel prints it at boot with efi=debug:
#   efi: mem07: [Boot Data   |   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] range=[0x0000000000900000-0x00000000014fffff] (12MB)

# efi_machine ROOT: ROOT/sys/firmware/efi exists (the kernel booted on EFI).
efi_machine() {
	[[ -d $1/sys/firmware/efi ]]
}

# efi_warning ROOT: the warning for a UEFI machine checked without its
# EFI memory map.
efi_warning() {
	pwarn "UEFI machine ($1/sys/firmware/efi exists): $RAM_SRC shows EFI boot services code and data, and the boot loader's memory, as System RAM, so they cannot be told apart from free RAM here; the kernel refuses a region over EFI boot services or runtime memory. Boot once with efi=debug and pass its EFI memory map (dmesg | grep 'efi: mem' >FILE) with --efi-map FILE"
}

# load_efi_map FILE: the first EFI memory map in FILE, from its
# "efi: memNN: [TYPE|ATTRIBUTES] range=[S-E]" lines (kernel log lines;
# anything else is ignored; a kernel booted with efi=debug prints the map
# again later, renumbered from mem00, after its own changes: that and any
# later map are not read), sorted by address, into EFI_A EFI_E (exclusive
# end) EFI_T (type, e.g. "Boot Data") EFI_RUN (1: EFI_MEMORY_RUNTIME).
# Exits 3 when FILE is unreadable, holds no entry, or only runtime entries
# (the map a kexec hands on, not the firmware's).
load_efi_map() {
	local f=$1 line idx t attrs s e run nrun=0 prev=-1
	local re='efi: mem([0-9]+): \[([^]|]*)\|([^]]*)\] range=\[0x([0-9a-fA-F]+)-0x([0-9a-fA-F]+)\]'
	local -a rows=()
	EFI_A=() EFI_E=() EFI_T=() EFI_RUN=()
	if [[ ! -r $f || -d $f ]]; then
		die "$EX_NOINPUT" "cannot read the EFI memory map $f"
	fi
	while IFS= read -r line; do
		[[ $line =~ $re ]] || continue
		idx=$((10#${BASH_REMATCH[1]})) t=${BASH_REMATCH[2]} attrs=${BASH_REMATCH[3]}
		s=${BASH_REMATCH[4]} e=${BASH_REMATCH[5]}
		((idx > prev)) || break
		prev=$idx
		parse_hex_u63 "$s" || continue
		s=$HEXV
		parse_hex_u63 "$e" || continue
		e=$HEXV
		((e >= s && e < MAX_S63)) || continue
		t=${t%"${t##*[! ]}"}
		run=0
		[[ $attrs == RUN* ]] && run=1
		rows+=("$s $((e + 1)) $run ${t// /_}")
	done <"$f"
	((${#rows[@]})) || die "$EX_NOINPUT" "$f holds no EFI memory map (the 'efi: memNN: [...] range=[...]' lines a kernel booted with efi=debug prints)"
	while read -r s e run t; do
		EFI_A+=("$s") EFI_E+=("$e") EFI_RUN+=("$run") EFI_T+=("${t//_/ }")
		nrun=$((nrun + run))
	done < <(printf '%s\n' "${rows[@]}" | sort -n -k1,1)
	if ((nrun == ${#EFI_A[@]})); then
		die "$EX_NOINPUT" "$f has EFI runtime entries only: that is the map a kexec hands on, not the firmware's; take it from a boot from the firmware with efi=debug"
	fi
}

# efi_class I: what the kernel makes of EFI entry I for a carveout:
# free (conventional memory), loader (the boot loader's or the kernel's:
# its image, the initrd, or the EFI stub's allocation of a region),
# boot (boot services memory) and runtime (EFI_MEMORY_RUNTIME, or runtime
# code or data), which the kernel refuses a region over, or notram.
efi_class() {
	if ((EFI_RUN[$1])); then
		echo runtime
		return
	fi
	case ${EFI_T[$1]} in
	Conventional) echo free ;;
	"Loader Code" | "Loader Data") echo loader ;;
	"Boot Code" | "Boot Data") echo boot ;;
	"Runtime Code" | "Runtime Data") echo runtime ;;
	*) echo notram ;;
	esac
}

# efi_check_region A E TXT: errors and warnings for the region [A, E)
# against the EFI memory map, one line per kind of problem (the first
# entry, and how many more); RUN_A/RUN_E are the regions of the running
# kernel's command line, whose EFI stub allocation (Loader Data) is
# expected.
efi_check_region() {
	local a=$1 e=$2 txt=$3 j k pos=$1 cls mine more
	local -A first=() count=()
	for ((j = 0; j < ${#EFI_A[@]}; j++)); do
		overlap "$a" "$e" "${EFI_A[j]}" "${EFI_E[j]}" || continue
		if ((EFI_A[j] > pos)); then
			count[hole]=$((${count[hole]:-0} + 1))
			[[ -n ${first[hole]:-} ]] || first[hole]=$(fmt_range "$pos" "${EFI_A[j]}")
		fi
		((EFI_E[j] > pos)) && pos=${EFI_E[j]}
		cls=$(efi_class "$j")
		if [[ $cls == loader ]]; then
			mine=0
			for ((k = 0; k < ${#RUN_A[@]}; k++)); do
				if ((EFI_A[j] >= RUN_A[k] && EFI_E[j] <= RUN_E[k])); then
					mine=1
				fi
			done
			((mine)) && continue
		fi
		[[ $cls == free ]] && continue
		count[$cls]=$((${count[$cls]:-0} + 1))
		[[ -n ${first[$cls]:-} ]] || first[$cls]="${EFI_T[j]} $(fmt_range "${EFI_A[j]}" "${EFI_E[j]}")"
	done
	if ((pos < e)); then
		count[hole]=$((${count[hole]:-0} + 1))
		[[ -n ${first[hole]:-} ]] || first[hole]=$(fmt_range "$pos" "$e")
	fi
	for cls in boot runtime notram hole loader; do
		[[ -n ${count[$cls]:-} ]] || continue
		more=""
		if ((count[$cls] > 1)); then
			more=" (and $((count[$cls] - 1)) more)"
		fi
		case $cls in
		boot) perr "hvcarve region $txt overlaps EFI boot services memory, ${first[$cls]}$more: the kernel refuses it (the firmware may use it until SetVirtualAddressMap())" ;;
		runtime) perr "hvcarve region $txt overlaps EFI runtime memory, ${first[$cls]}$more: the kernel refuses it" ;;
		notram) perr "hvcarve region $txt overlaps EFI ${first[$cls]}$more, which is not RAM" ;;
		hole) perr "hvcarve region $txt: ${first[$cls]}$more is in no entry of the EFI memory map" ;;
		loader) pwarn "hvcarve region $txt overlaps EFI ${first[$cls]}$more: the boot loader, the kernel image or the initrd was there on that boot; the kernel refuses a region over its own image or initrd" ;;
		esac
	done
}

# efi_free_only: keep only EFI conventional memory in FREE_A/FREE_E.
efi_free_only() {
	local j prev=0
	for ((j = 0; j < ${#EFI_A[@]}; j++)); do
		if ((EFI_A[j] > prev)); then
			subtract_range "$prev" "${EFI_A[j]}"
		fi
		[[ $(efi_class "$j") == free ]] || subtract_range "${EFI_A[j]}" "${EFI_E[j]}"
		((EFI_E[j] > prev)) && prev=${EFI_E[j]}
	done
	subtract_range "$prev" "$MAX_S63"
}

# running_regions ROOT: RUN_A/RUN_E (exclusive ends), the running carveout:
# the hvcarve regions of ROOT/proc/cmdline (as the kernel's parser reads
# them, with the host's physical address bits) and every ROOT/proc/iomem
# entry named "hvcarve" (the regions the running kernel reserved).
running_regions() {
	local s e
	RUN_A=() RUN_E=()
	while read -r s e; do
		[[ -n $s ]] && RUN_A+=("$s") RUN_E+=("$e")
	done < <(
		if [[ -r $1/proc/cmdline ]]; then
			(
				parse_live_cmdline "$1"
				for ((k = 0; k < ${#R_A[@]}; k++)); do
					echo "${R_A[k]} $((R_A[k] + R_S[k]))"
				done
			) 2>/dev/null || true
		fi
		iomem_hvcarve "$1"
	)
}

# iomem_hvcarve ROOT: "start end" lines (exclusive end) of the entries of
# ROOT/proc/iomem named "hvcarve", at any nesting level.
iomem_hvcarve() {
	local iomem=$1/proc/iomem line s e
	[[ -r $iomem ]] || return 0
	while IFS= read -r line; do
		[[ $line =~ ^[[:space:]]*([0-9a-fA-F]+)-([0-9a-fA-F]+)\ :\ hvcarve$ ]] || continue
		e=${BASH_REMATCH[2]}
		parse_hex_u63 "${BASH_REMATCH[1]}" || continue
		s=$HEXV
		parse_hex_u63 "$e" || continue
		e=$HEXV
		((e > s)) || continue
		echo "$s $((e + 1))"
	done <"$iomem"
}

# running_carveout_shaped S E: [S, E) looks exactly like the running
# carveout: it starts where a running region starts, ends where one ends,
# and holds nothing but running regions (two adjacent regions are one
# merged Reserved entry in /sys/firmware/memmap).
running_carveout_shaped() {
	local s=$1 e=$2 k cur starts=0 ends=0 found
	for ((k = 0; k < ${#RUN_A[@]}; k++)); do
		((RUN_A[k] == s)) && starts=1
		((RUN_E[k] == e)) && ends=1
	done
	((starts && ends)) || return 1
	cur=$s
	while ((cur < e)); do
		found=-1
		for ((k = 0; k < ${#RUN_A[@]}; k++)); do
			if ((RUN_A[k] <= cur && cur < RUN_E[k])); then
				found=$k
				break
			fi
		done
		((found >= 0)) || return 1
		cur=${RUN_E[found]}
	done
}

# ---------------------------------------------------------------------------
# Option helpers
# ---------------------------------------------------------------------------

# need_arg SUB OPT NARGS: exit 2 when an option lacks its value.
need_arg() {
	if (($3 < 2)); then
		usage_err "$1" "option '$2' needs an argument"
	fi
}

# ---------------------------------------------------------------------------
# next
# ---------------------------------------------------------------------------

help_next() {
	cat <<EOF
Usage: $PROG next [--cmdline STR | --from FILE | --root DIR] [--phys-bits N]
                  [--add SIZE@ADDR[,...]]... [--drop NAME]...
                  [--format raw|grub|shell]

Print the kernel command line for the next kernel (kexec or next boot).

Input: STR (--cmdline), the contents of FILE (--from), DIR/proc/cmdline
(--root DIR), or by default /proc/cmdline.  Whitespace is spaces, tabs and
newlines; double quotes group a value with spaces (foo="a b"), as in the
kernel's own parser.

The hvcarve regions are those the kernel's own parser (hvcarve-parse) finds
in the input (all hvcarve= parameters before "--", which may be repeated
and add up), then every --add region (each --add is checked by the same
parser on its own; a region already there is not added twice).  The
physical address bits are those of the host (DIR/proc/cpuinfo) for
DIR/proc/cmdline, else 52, or --phys-bits N (12 to 62).

The output guarantees, for every hvcarve region:
  * one hvcarve= parameter listing all regions, and
  * one memmap=SIZE\$ADDR per region, so that a kernel without hvcarve
    support reserves them too and the x86 KASLR decompressor avoids them.
The kernel's parser reads the output again and must find exactly those
regions.  Running next on its own output changes nothing (idempotent).

Canonical form:
  SIZE   the largest exact binary suffix: 2M, 64M, 1G, 2052K
  ADDR   lower-case hexadecimal with 0x and no leading zeros: 0x30000000
  Regions keep the kernel's order.  "hvcarve=S@A[,S@A...] memmap=S\$A
  [memmap=S\$A...]" is placed where the first hvcarve= was, or at the end
  (before "--") when the input had none.  Every other parameter keeps its
  text and its order; parameters are separated by single spaces.

Removed:
  * further hvcarve= parameters, and memmap=SIZE\$ADDR entries identical to
    a region (also inside a comma-separated memmap= list, whose other
    entries are kept)
  * BOOT_IMAGE=             the boot loader's path of the current image
  * initrd=                 boot loader / EFI stub initrd path (give the
                            initrd to kexec instead)
  * kexec_jump_back_entry=  only valid for the kexec-jump that set it
  * elfcorehdr=             kdump only: would make a normal kernel believe
                            it is a crash-capture kernel
  * every NAME given with --drop NAME ('-' and '_' are equivalent).
    --drop hvcarve leaves out every hvcarve= (with a warning: the next
    kernel has no carveout; the input's hvcarve= is then not checked), and
    --drop memmap every memmap=, the twins too (with a warning): together
    they roll the carveout back.
  crashkernel= is deliberately kept: dropping it would silently disable
  kdump in the next kernel.  When loading a kdump capture kernel
  (kexec -p), add --drop crashkernel.

Refused (exit 1, with the reason):
  * hvcarve= that the kernel refuses (it would then reserve nothing and
    disable the whole carveout), with the kernel's own message
    'rejecting "hvcarve=VALUE": "ELEMENT": REASON': not SIZE@ADDR, zero
    size, address or size not page aligned, a number that does not fit in
    64 bits, an end beyond the physical address space, overlapping regions
    (also across hvcarve= parameters: the same region given twice), more
    than $MAX_REGIONS regions, an empty value or element
  * --add regions that overlap (without being equal to) a region, or take
    the carveout past what the kernel accepts
  * memmap= entries that overlap a region without being exactly
    memmap=SIZE\$ADDR: nn@ss (usable RAM), nn#ss, nn!ss, nn%ss..., a
    different nn\$ss, nn alone (removes RAM above nn), memmap=exactmap
An --add value the kernel's parser refuses on its own is a malformed
argument (exit 2).
Parameters after "--" belong to init: they are not interpreted and stay,
unchanged and in order, at the end.

Formats (--format):
  raw    the line itself, for kexec --append (the default)
  shell  one single-quoted shell word that evaluates to the raw line
         (embedded ' written as '\\'')
  grub   a GRUB_CMDLINE_LINUX="..." line for /etc/default/grub, the whole
         line (to add the carveout to the distribution's line instead, use
         "$PROG install").  The value passes two interpreters:
           1. grub-mkconfig sources /etc/default/grub with /bin/sh; inside
              "..." it turns \\\\ into \\, \\\$ into \$, \\" into " and \\\` into \`.
           2. 10_linux copies the value verbatim into the "linux" command of
              grub.cfg, where GRUB's script parser expands \$NAME, \${NAME}
              and \$0..\$9 (memmap=64M\$0x30000000 would lose "\$0") and
              turns \\\$ into a literal \$.
         A literal \$ must therefore reach grub.cfg as \\\$, which in
         /etc/default/grub is written \\\\\\\$ (sh makes \\\\ into \\ and \\\$ into \$):
           GRUB_CMDLINE_LINUX="... memmap=64M\\\\\\\$0x30000000"
         GRUB then joins the words for the kernel, wrapping a word with a
         space in "..." (foo="a b" arrives as "foo=a b", parsed the same)
         and escaping ' \\ and " with a backslash.  A parameter whose value
         needs a literal ' \\ or " (beyond the kernel's own quoting), a tab
         or a newline cannot pass through GRUB unchanged and is refused
         (exit 1).  grub-mkconfig adds root=... ro itself and appends
         GRUB_CMDLINE_LINUX_DEFAULT after this value.

Warnings (stderr) for numbers with a leading 0 (octal to the kernel), for
memmap= entries the kernel cannot parse, for more than $KASLR_MEMMAP_MAX memmap
reservations (see "$PROG check --help"), and for a line longer than
$CMDLINE_MAX bytes (x86 kernels truncate it; an hvcarve= beyond that is an error).

$EXIT_CODES_HELP
EOF
}

cmd_next() {
	local format=raw src="" from="" root="" cmdline="" have_cmdline=0 pbits="" add k
	local -a adds=() addr=()
	while (($#)); do
		case $1 in
		-h | --help) help_next; exit 0 ;;
		--cmdline) need_arg next "$1" $#; cmdline=$2; have_cmdline=1; shift 2 ;;
		--cmdline=*) cmdline=${1#*=}; have_cmdline=1; shift ;;
		--from) need_arg next "$1" $#; from=$2; shift 2 ;;
		--from=*) from=${1#*=}; shift ;;
		--root) need_arg next "$1" $#; root=$2; shift 2 ;;
		--root=*) root=${1#*=}; shift ;;
		--format) need_arg next "$1" $#; format=$2; shift 2 ;;
		--format=*) format=${1#*=}; shift ;;
		--add) need_arg next "$1" $#; adds+=("$2"); shift 2 ;;
		--add=*) adds+=("${1#*=}"); shift ;;
		--drop) need_arg next "$1" $#; DROP+=("$2"); shift 2 ;;
		--drop=*) DROP+=("${1#*=}"); shift ;;
		--phys-bits) need_arg next "$1" $#; pbits=$2; shift 2 ;;
		--phys-bits=*) pbits=${1#*=}; shift ;;
		-*) usage_err next "next: unknown option '$1'" ;;
		*) usage_err next "next: unexpected argument '$1'" ;;
		esac
	done
	case $format in
	raw | grub | shell) ;;
	*) usage_err next "next: unknown format '$format' (raw, grub or shell)" ;;
	esac
	local nsrc=$((have_cmdline + (${#from} > 0) + (${#root} > 0)))
	if ((nsrc > 1)); then
		usage_err next "next: give only one of --cmdline, --from and --root"
	fi
	set_phys_bits next "$pbits" $((nsrc == 0 || ${#root} > 0)) "${root:-}"
	# Each --add is a value of hvcarve= on its own: one the kernel would
	# refuse is a malformed argument.
	for add in ${adds[@]+"${adds[@]}"}; do
		if [[ $add =~ [[:space:]\"] ]]; then
			usage_err next "next: --add '$add': expected SIZE@ADDR[,SIZE@ADDR...] without spaces or quotes"
		fi
		run_parse "hvcarve=$add"
		if [[ $HP_VERDICT == refuse ]]; then
			usage_err next "next: --add '$add': $HP_MSG"
		fi
		for ((k = 0; k < ${#HP_A[@]}; k++)); do
			addr+=("${HP_A[k]}" "${HP_S[k]}")
		done
	done
	if ((have_cmdline)); then
		src=$cmdline
	elif [[ -n $from ]]; then
		read_cmdline_file "$from"
		src=$CMDLINE
	else
		read_cmdline_file "${root:-}/proc/cmdline"
		src=$CMDLINE
	fi
	next_line "$src" ${addr[@]+"${addr[@]}"}
	format_line "$format"
}

# next_line STR [ADD_ADDR ADD_SIZE]...: parse, validate and build NEXT_LINE
# (exit 1 on errors).  The regions of the result are checked once more by
# the kernel's parser, on the whole new line.
next_line() {
	local k
	parse_cmdline "$@"
	if ((NERR == 0 && ${#R_A[@]} > 0)); then
		# Extra regions may take the carveout past what the kernel takes.
		run_parse "hvcarve=$(join_by , "${R_TXT[@]}")"
		if [[ $HP_VERDICT == refuse ]]; then
			kernel_refusal "$HP_MSG"
		fi
	fi
	if ((NERR)); then
		exit "$EX_PROBLEM"
	fi
	if key_dropped hvcarve; then
		pwarn "--drop hvcarve: the next kernel gets no hvcarve= (and no carveout)"
	elif ((${#R_A[@]} == 0)); then
		pwarn "no hvcarve= regions: nothing to reserve"
	elif key_dropped memmap; then
		pwarn "--drop memmap: the next kernel gets hvcarve= without its memmap=SIZE\$ADDR twins, so a kernel without hvcarve support would use the carveout as RAM"
	fi
	build_next
	if ((${#NEXT_LINE} > CMDLINE_MAX)); then
		pwarn "the command line is ${#NEXT_LINE} bytes: x86 kernels keep only the first $CMDLINE_MAX (COMMAND_LINE_SIZE 2048)"
	fi
	# The kernel's parser must find exactly these regions in the result.
	run_parse "$NEXT_LINE"
	local ok=1
	if key_dropped hvcarve; then
		[[ $HP_VERDICT == none ]] || ok=0
	elif ((${#HP_A[@]} != ${#R_A[@]})); then
		ok=0
	else
		for ((k = 0; k < ${#R_A[@]}; k++)); do
			((HP_A[k] == R_A[k] && HP_S[k] == R_S[k])) || ok=0
		done
	fi
	if ((!ok && ${#NEXT_LINE} > CMDLINE_MAX)); then
		die "$EX_PROBLEM" "the kernel would not see the whole hvcarve= parameter: it lies (partly) beyond the first $CMDLINE_MAX bytes; shorten the command line"
	elif ((!ok)); then
		die "$EX_PROBLEM" "internal error: the kernel's parser reads the new line differently (${HP_MSG:-${#HP_A[@]} region(s)}): $NEXT_LINE"
	fi
	# Re-parse the result quietly to count the memmap reservations in order.
	(
		parse_cmdline "$NEXT_LINE" 2>/dev/null
		kaslr_report
	) || true
}

# ---------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------

help_check() {
	cat <<EOF
Usage: $PROG check [--cmdline STR] [--root DIR] [--efi-map FILE]
                   [--phys-bits N] [--json]

Check the hvcarve regions of a command line (STR, or DIR/proc/cmdline,
default /proc/cmdline) against the machine's memory map.  The regions, or
the refusal of hvcarve=, come from the kernel's own parser (hvcarve-parse),
with the physical address bits of the host (DIR/proc/cpuinfo: 52 with the
la57 flag, 46 without, 52 when unreadable) for DIR/proc/cmdline, 52 for
--cmdline, or --phys-bits N (12 to 62).

The map is read from DIR/sys/firmware/memmap (N/start, N/end inclusive,
N/type; the firmware's view, unaffected by memmap=).  When it is missing,
DIR/proc/iomem is used with a warning: there, ranges that the running
kernel's hvcarve=/memmap=\$ reserved show as Reserved and are counted as RAM.
With neither, check fails (exit 3).  --root DIR (default /) also locates
DIR/proc/iomem and DIR/proc/cmdline, for tests and offline use.  The
running carveout (the regions of DIR/proc/cmdline and the entries of
DIR/proc/iomem named "hvcarve") is Reserved in /sys/firmware/memmap since
Linux 6.15, adjacent regions as one merged entry: an entry shaped exactly
like it counts as RAM, as the kernel accepts an earlier kernel's carveout
(E820_TYPE_HVCARVE) as inherited.

On a UEFI machine (DIR/sys/firmware/efi exists) that map comes from the
EFI stub, which makes EFI boot services code and data, the boot loader's
memory and conventional memory alike System RAM; the kernel refuses a
region over boot services or runtime memory, and no sysfs file has the
whole EFI memory map.  So check warns, unless --efi-map FILE gives that map:
the "efi: memNN: [TYPE|...] range=[START-END]" lines a kernel booted from
the firmware with efi=debug prints (dmesg | grep 'efi: mem' >FILE; other
lines are ignored).  Each region must then lie in EFI entries without a
gap: an overlap with Boot Code/Data, Runtime Code/Data (or any entry with
the RUN attribute) or memory that is not RAM is an error, one with Loader
Code/Data a warning (the boot loader, the kernel image or the initrd was
there on that boot) unless the entry lies in the running carveout (the EFI
stub's allocation of it).  A map with runtime entries only (what a kexec
hands on) is refused (exit 3).

Errors (exit 1):
  * hvcarve= that the kernel refuses, with its own message (see "$PROG next
    --help"): then it reserves nothing, so there is no region to check
  * a region not inside one contiguous System RAM range (adjacent RAM
    entries are joined)
  * no hvcarve= at all
  * overlap with the crash kernel: crashkernel=SIZE@OFFSET, and every
    "Crash kernel" entry of /proc/iomem (which also covers crashkernel=
    forms whose place the kernel chooses)
  * memmap= entries that conflict with a region (see "$PROG next --help")
  * a region without its memmap=SIZE\$ADDR: kernels without hvcarve support
    would use it, and KASLR may decompress the kernel into it (with
    nokaslr only a warning)
Warnings: address or size not 2 MiB aligned (recommended, huge pages),
octal numbers (leading 0), memmap= entries the kernel cannot parse, and
more than $KASLR_MEMMAP_MAX memmap= reservations (#, \$, ! entries): the x86 KASLR
decompressor of a kernel without hvcarve records only $KASLR_MEMMAP_MAX (further
separate memmap= parameters are not avoided, extra entries in one comma
list make it give up physical randomisation), which matters only when such
a kernel is booted from the firmware: the kernel takes up to $MAX_REGIONS regions,
its own decompressor avoids them, and a kexec'd kernel gets the carveout
from the e820 map.

Every problem is one line on stderr, prefixed "$PROG: error:" or
"$PROG: warning:"; stdout gets one line per region and a summary.

--json prints one JSON object on stdout instead of those lines (the
diagnostics still go to stderr too): tool, version, command ("check"), ok
(no error), phys_bits, cmdline, hvcarve ({verdict: "accept", "refuse" or
"none", message: the kernel's refusal or null}), regions ([{index, region
(SIZE@ADDR), base, size, end (hex strings, end inclusive), system_ram (the
RAM range holding it, or null), memmap_twin}]), memory_map,
efi_memory_map, errors, warnings.  On exit 2 or 3 there is no document.

$EXIT_CODES_HELP
EOF
}

cmd_check() {
	local root="" cmdline="" have_cmdline=0 k j s e a found reason efimap="" json=0 pbits=""
	local -a jreg=()
	while (($#)); do
		case $1 in
		-h | --help) help_check; exit 0 ;;
		--cmdline) need_arg check "$1" $#; cmdline=$2; have_cmdline=1; shift 2 ;;
		--cmdline=*) cmdline=${1#*=}; have_cmdline=1; shift ;;
		--root) need_arg check "$1" $#; root=$2; shift 2 ;;
		--root=*) root=${1#*=}; shift ;;
		--efi-map) need_arg check "$1" $#; efimap=$2; shift 2 ;;
		--efi-map=*) efimap=${1#*=}; shift ;;
		--phys-bits) need_arg check "$1" $#; pbits=$2; shift 2 ;;
		--phys-bits=*) pbits=${1#*=}; shift ;;
		--json) json=1; shift ;;
		-*) usage_err check "check: unknown option '$1'" ;;
		*) usage_err check "check: unexpected argument '$1'" ;;
		esac
	done
	set_phys_bits check "$pbits" $((!have_cmdline)) "${root:-}"
	find_parse
	if ((!have_cmdline)); then
		read_cmdline_file "${root:-}/proc/cmdline"
		cmdline=$CMDLINE
	fi
	parse_cmdline "$cmdline"
	if ((${#R_A[@]} == 0 && NERR == 0)); then
		perr "no hvcarve= regions on the command line"
	fi
	if ! load_ram "${root:-}"; then
		exit "$EX_NOINPUT"
	fi
	load_crash "${root:-}"
	if [[ -n $efimap ]]; then
		load_efi_map "$efimap"
		running_regions "${root:-}"
	elif efi_machine "${root:-}"; then
		efi_warning "${root:-}"
	fi
	for ((k = 0; k < ${#R_A[@]}; k++)); do
		a=${R_A[k]} e=$((R_A[k] + R_S[k]))
		if ((a % ALIGN_2M)); then
			pwarn "hvcarve region ${R_TXT[k]}: address is not 2 MiB aligned (recommended)"
		fi
		if ((R_S[k] % ALIGN_2M)); then
			pwarn "hvcarve region ${R_TXT[k]}: size is not a multiple of 2 MiB (recommended)"
		fi
		found=-1
		for ((j = 0; j < ${#RAM_A[@]}; j++)); do
			if ((a >= RAM_A[j] && e <= RAM_E[j])); then
				found=$j
				break
			fi
		done
		if ((found < 0)); then
			reason=""
			for ((j = 0; j < ${#MAP_A[@]}; j++)); do
				if [[ ${MAP_T[j]} != "System RAM" ]] && overlap "$a" "$e" "${MAP_A[j]}" "${MAP_E[j]}"; then
					reason="overlaps ${MAP_T[j]} $(fmt_range "${MAP_A[j]}" "${MAP_E[j]}")"
					break
				fi
			done
			if [[ -z $reason ]]; then
				for ((j = 0; j < ${#RAM_A[@]}; j++)); do
					if overlap "$a" "$e" "${RAM_A[j]}" "${RAM_E[j]}"; then
						reason="runs past System RAM $(fmt_range "${RAM_A[j]}" "${RAM_E[j]}") into a hole"
						break
					fi
				done
			fi
			[[ -n $reason ]] || reason="lies outside every System RAM range"
			perr "hvcarve region ${R_TXT[k]} ($(fmt_range "$a" "$e")) is not inside one contiguous System RAM range: $reason"
		fi
		if [[ -n $efimap ]]; then
			efi_check_region "$a" "$e" "${R_TXT[k]}"
		fi
		for ((j = 0; j < ${#CK_A[@]}; j++)); do
			if overlap "$a" "$e" "${CK_A[j]}" "${CK_E[j]}"; then
				perr "hvcarve region ${R_TXT[k]} overlaps the crash kernel reservation $(fmt_range "${CK_A[j]}" "${CK_E[j]}") (${CK_SRC[j]})"
			fi
		done
		if ((!R_MM[k])); then
			if ((NOKASLR)); then
				pwarn "hvcarve region ${R_TXT[k]} has no memmap=${R_TXT[k]/@/\$}: a kernel without hvcarve support would use it as RAM (run '$PROG next')"
			else
				perr "hvcarve region ${R_TXT[k]} has no memmap=${R_TXT[k]/@/\$}: a kernel without hvcarve support would use it as RAM and KASLR may decompress the kernel into it (run '$PROG next')"
			fi
		fi
		local ram=""
		if ((found >= 0)); then
			ram=$(fmt_range "${RAM_A[found]}" "${RAM_E[found]}")
			if ((!json)); then
				printf '%s: region %d: %s = %s, in System RAM %s\n' "$PROG" "$k" "${R_TXT[k]}" \
					"$(fmt_range "$a" "$e")" "$ram"
			fi
		fi
		jreg+=("$(printf '{"index":%d,"region":"%s","base":"%s","size":"0x%x","end":"0x%x","system_ram":%s,"memmap_twin":%s}' \
			"$k" "${R_TXT[k]}" "$(fmt_addr "$a")" "${R_S[k]}" $((e - 1)) "$(json_str_or_null "$ram")" \
			"$( ((R_MM[k])) && echo true || echo false)")")
	done
	kaslr_report
	if ((json)); then
		printf '{'
		json_head check
		printf ',"ok":%s,"phys_bits":%d,"cmdline":' "$( ((NERR)) && echo false || echo true)" "$PHYS_BITS"
		json_str "$cmdline"
		printf ',"hvcarve":{"verdict":"%s","message":' "$HV_VERDICT"
		json_str_or_null "$HV_MSG"
		printf '},"regions":[%s],"memory_map":' "$(join_by , ${jreg[@]+"${jreg[@]}"})"
		json_str "$RAM_SRC"
		printf ',"efi_memory_map":'
		json_str_or_null "$efimap"
		printf ','
		json_diagnostics
		printf '}\n'
	else
		printf '%s: check: %d region(s), %d error(s), %d warning(s) (memory map: %s%s)\n' \
			"$PROG" "${#R_A[@]}" "$NERR" "$NWARN" "$RAM_SRC" "${efimap:+; EFI memory map: $efimap}"
	fi
	if ((NERR)); then
		exit "$EX_PROBLEM"
	fi
}

# ---------------------------------------------------------------------------
# suggest
# ---------------------------------------------------------------------------

help_suggest() {
	cat <<EOF
Usage: $PROG suggest SIZE [--node N] [--root DIR] [--cmdline STR] [--efi-map FILE]
                     [--phys-bits N]

Propose a place for a carveout of SIZE bytes (memparse syntax: 64M, 0x4000000,
1G; a multiple of 4 KiB) and print it as the parameter hvcarve=SIZE@ADDR.

The address is 2 MiB aligned and as high as possible in System RAM (the
memory map as for "check"; below 4 GiB is not required), and the region
avoids:
  * the first 1 MiB
  * the crash kernel ("Crash kernel" in DIR/proc/iomem, crashkernel=S@O)
  * Reserved, hvcarve and persistent-memory entries nested in RAM in
    DIR/proc/iomem (Kernel code/data/bss are ignored: they belong to the
    running kernel only)
  * the hvcarve= regions, every memmap= range, crashkernel=S@O and the RAM
    above memmap=nn or mem=nn, of the running kernel's command line
    (DIR/proc/cmdline, when readable) and of STR (--cmdline), as the
    kernel's own parser (hvcarve-parse) reads them: an hvcarve= it
    refuses reserves nothing (physical address bits as for "check")
With --node N, only RAM of NUMA node N is used: the memory blocks linked
as DIR/sys/devices/system/node/nodeN/memoryK cover K * block size ..
(K+1) * block size - 1, with the block size (hex) from
DIR/sys/devices/system/memory/block_size_bytes.
With --efi-map FILE (see "$PROG check --help"), only EFI conventional
memory is used; on a UEFI machine without it, suggest warns as check does.

Fails with exit 1 when no free range is large enough.

$EXIT_CODES_HELP
EOF
}

# subtract_range XS XE: remove [XS, XE) from the FREE_A/FREE_E list.
subtract_range() {
	local xs=$1 xe=$2 i
	local -a na=() ne=()
	for ((i = 0; i < ${#FREE_A[@]}; i++)); do
		if ! overlap "${FREE_A[i]}" "${FREE_E[i]}" "$xs" "$xe"; then
			na+=("${FREE_A[i]}") ne+=("${FREE_E[i]}")
			continue
		fi
		if ((FREE_A[i] < xs)); then
			na+=("${FREE_A[i]}") ne+=("$xs")
		fi
		if ((xe < FREE_E[i])); then
			na+=("$xe") ne+=("${FREE_E[i]}")
		fi
	done
	FREE_A=("${na[@]}") FREE_E=("${ne[@]}")
}

cmd_suggest() {
	local root="" node="" size_txt="" cmdline="" have_cmdline=0 k i efimap="" pbits=""
	while (($#)); do
		case $1 in
		-h | --help) help_suggest; exit 0 ;;
		--node) need_arg suggest "$1" $#; node=$2; shift 2 ;;
		--node=*) node=${1#*=}; shift ;;
		--root) need_arg suggest "$1" $#; root=$2; shift 2 ;;
		--root=*) root=${1#*=}; shift ;;
		--efi-map) need_arg suggest "$1" $#; efimap=$2; shift 2 ;;
		--efi-map=*) efimap=${1#*=}; shift ;;
		--cmdline) need_arg suggest "$1" $#; cmdline=$2; have_cmdline=1; shift 2 ;;
		--cmdline=*) cmdline=${1#*=}; have_cmdline=1; shift ;;
		--phys-bits) need_arg suggest "$1" $#; pbits=$2; shift 2 ;;
		--phys-bits=*) pbits=${1#*=}; shift ;;
		-*) usage_err suggest "suggest: unknown option '$1'" ;;
		*)
			if [[ -n $size_txt ]]; then
				usage_err suggest "suggest: unexpected argument '$1'"
			fi
			size_txt=$1
			shift
			;;
		esac
	done
	[[ -n $size_txt ]] || usage_err suggest "suggest: SIZE is missing"
	parse_num "$size_txt"
	case $NUM_CLASS in
	ok) ;;
	*) usage_err suggest "suggest: SIZE $(num_problem "$NUM_CLASS" "$size_txt")" ;;
	esac
	local size=$NUM
	if ((size == 0)); then
		usage_err suggest "suggest: SIZE is zero"
	fi
	if ((size % PAGE)); then
		usage_err suggest "suggest: SIZE $size_txt is not a multiple of 4 KiB"
	fi
	if [[ -n $node && ! $node =~ ^[0-9]+$ ]]; then
		usage_err suggest "suggest: --node needs a node number, not '$node'"
	fi
	if ((size % ALIGN_2M)); then
		pwarn "SIZE $size_txt is not a multiple of 2 MiB (recommended)"
	fi
	set_phys_bits suggest "$pbits" $((!have_cmdline)) "${root:-}"
	find_parse
	# Ranges to avoid: those of the running kernel's command line and of
	# --cmdline (both, when both are there).
	local -a exc_a=() exc_e=() lines=()
	if [[ -r ${root:-}/proc/cmdline ]]; then
		lines+=("$(<"${root:-}/proc/cmdline")")
	fi
	if ((have_cmdline)); then
		lines+=("$cmdline")
	fi
	local l
	for l in "${lines[@]}"; do
		parse_cmdline "$l" 2>/dev/null
		for ((k = 0; k < ${#R_A[@]}; k++)); do
			exc_a+=("${R_A[k]}") exc_e+=($((R_A[k] + R_S[k])))
		done
		for ((k = 0; k < ${#M_RAW[@]}; k++)); do
			case ${M_TYPE[k]} in
			limit) exc_a+=("${M_S[k]}") exc_e+=("$MAX_S63") ;;
			\# | \$ | ! | %) exc_a+=("${M_A[k]}") exc_e+=($((M_A[k] + M_S[k]))) ;;
			esac
		done
		if ((MEMLIMIT >= 0)); then
			exc_a+=("$MEMLIMIT") exc_e+=("$MAX_S63")
		fi
		if ((CRASH_A >= 0)); then
			exc_a+=("$CRASH_A") exc_e+=($((CRASH_A + CRASH_S)))
		fi
	done
	CRASH_A=-1
	NERR=0 NWARN=0
	load_ram "${root:-}" || exit "$EX_NOINPUT"
	FREE_A=("${RAM_A[@]}") FREE_E=("${RAM_E[@]}")
	if [[ -n $efimap ]]; then
		load_efi_map "$efimap"
		efi_free_only
	elif efi_machine "${root:-}"; then
		efi_warning "${root:-}"
	fi
	if [[ -n $node ]]; then
		local ndir=${root:-}/sys/devices/system/node/node$node
		local bsf=${root:-}/sys/devices/system/memory/block_size_bytes bs m
		[[ -d $ndir ]] || die "$EX_NOINPUT" "NUMA node $node not found ($ndir is missing)"
		[[ -r $bsf ]] || die "$EX_NOINPUT" "cannot read $bsf"
		if ! parse_hex_u63 "$(<"$bsf")" || ((HEXV == 0)); then
			die "$EX_NOINPUT" "malformed $bsf"
		fi
		bs=$HEXV
		local -a blocks=()
		for m in "$ndir"/memory[0-9]*; do
			[[ -e $m || -L $m ]] || continue
			m=${m##*/memory}
			[[ $m =~ ^[0-9]+$ ]] && blocks+=("$((10#$m))")
		done
		((${#blocks[@]})) || die "$EX_NOINPUT" "NUMA node $node has no memory blocks in $ndir"
		# Keep only node memory: subtract the gaps between its blocks.
		local prev=0 b
		while read -r b; do
			if ((b * bs > prev)); then
				subtract_range "$prev" $((b * bs))
			fi
			prev=$(((b + 1) * bs))
		done < <(printf '%s\n' "${blocks[@]}" | sort -n)
		subtract_range "$prev" "$MAX_S63"
	fi
	subtract_range 0 $((1 << 20))
	load_crash "${root:-}"
	for ((k = 0; k < ${#CK_A[@]}; k++)); do
		subtract_range "${CK_A[k]}" "${CK_E[k]}"
	done
	load_iomem_reserved "${root:-}"
	for ((k = 0; k < ${#XR_A[@]}; k++)); do
		subtract_range "${XR_A[k]}" "${XR_E[k]}"
	done
	for ((k = 0; k < ${#exc_a[@]}; k++)); do
		subtract_range "${exc_a[k]}" "${exc_e[k]}"
	done
	local best=-1 top cand
	for ((i = 0; i < ${#FREE_A[@]}; i++)); do
		((FREE_E[i] - FREE_A[i] >= size)) || continue
		top=$((FREE_E[i] - size))
		cand=$((top - top % ALIGN_2M))
		if ((cand >= FREE_A[i] && cand > best)); then
			best=$cand
		fi
	done
	if ((best < 0)); then
		die "$EX_PROBLEM" "no free 2 MiB-aligned range of $(fmt_size "$size") in System RAM${node:+ of node $node}"
	fi
	printf 'hvcarve=%s@%s\n' "$(fmt_size "$size")" "$(fmt_addr "$best")"
}

# ---------------------------------------------------------------------------
# size
# ---------------------------------------------------------------------------

# Mainline Linux 7.3's deposit constants (the rule of "size").
DEP_PARTITION=208	# HV_INIT_PARTITION_DEPOSIT_PAGES
DEP_MAP_GPA=256		# HV_MAP_GPA_DEPOSIT_PAGES
DEP_VP=90		# hv_call_create_vp()
DEP_LP=8		# HV_MAX_CONTIGUOUS_ALLOCATION_PAGES
SRC_PARTITION="HV_INIT_PARTITION_DEPOSIT_PAGES, deposited by hv_call_initialize_partition() before HVCALL_INITIALIZE_PARTITION, drivers/hv/mshv_root_hv_call.c"
SRC_MAP_GPA="HV_MAP_GPA_DEPOSIT_PAGES, deposited by hv_do_map_gpa_hcall() each time HVCALL_MAP_GPA_PAGES lacks memory while guest RAM is mapped, drivers/hv/mshv_root_hv_call.c"
SRC_VP="deposited by hv_call_create_vp() for each VP of a guest partition (\"The value 90 is empirically determined. It may change.\"; the root's own VPs get none), drivers/hv/hv_proc.c"
SRC_LP="hv_call_add_logical_proc(), drivers/hv/hv_proc.c, deposits only when the hypervisor asks, through hv_deposit_memory_node(): 1 page for HV_STATUS_INSUFFICIENT_MEMORY, HV_MAX_CONTIGUOUS_ALLOCATION_PAGES = 8 (include/hyperv/hvhdk_mini.h) for HV_STATUS_INSUFFICIENT_CONTIGUOUS_MEMORY; one such 8-page deposit per LP is assumed"

help_size() {
	cat <<EOF
Usage: $PROG size [--margin PCT] [--root DIR] [--json]
                  [--partitions N] [--vps N] [--lps N] [--map-deposits N]

Recommend a carveout size: from what the hypervisor really took (the
counters of a running hvcarve), from a rule built on the deposits of
mainline Linux 7.3, or from both (then the larger wins).

Counters: used when DIR/sys/kernel/mm/hvcarve/ (DIR defaults to /) has
region directories (region@<base>, one per region): the sum of every region's
peak_deposited_pages, plus overflow_pages if present (the pages that did
not fit into the carveout).  A region whose peak_deposited_pages reached
its total_pages was full at some point: a warning says so (stderr, and in
--json), since the real need was then higher than the counters show.

Rule: used when any of --partitions, --vps, --lps, --map-deposits is
given, and on a host without a running carveout (no region directories,
or no DIR/sys/kernel/mm/hvcarve at all): then every count is assumed, with
a warning.  In 4 KiB pages:
  P x $DEP_PARTITION   P partitions (--partitions, default 1):
             $SRC_PARTITION
  M x $DEP_MAP_GPA   M GPA-map deposits (--map-deposits, default P, one per
             partition; how many there are depends on the guests' memory):
             $SRC_MAP_GPA
  V x $DEP_VP    V guest VPs in all (--vps, default L):
             $SRC_VP
  L x $DEP_LP     L logical processors of the host (--lps, default the
             processors of DIR/proc/cpuinfo, or 1 assumed):
             $SRC_LP
Deposits made on demand elsewhere (hv_deposit_memory() after a hypercall
reports too little memory: partition creation, VP state, ports, ...) have
no constant: run the guests, then ask again for the counters.

The recommendation is

  pages x 4096 x (1 + PCT/100)

rounded up to a multiple of 2 MiB, at least 2 MiB.  PCT is a whole number
from 0 to 1000, default 25.  Each step of the arithmetic is printed, with
the source of each constant, then "recommended size: SIZE".

--json prints one JSON object instead: tool, version, command ("size"),
method ("counters", "rule" or "both"), page_size, margin_percent,
counters (null, or {regions: [{region, peak_deposited_pages, total_pages,
full}], overflow_pages, pages}), rule (null, or {partitions, map_deposits,
vps, lps, steps: [{name, count, pages_each, pages, assumed, source}],
pages}), pages, bytes, bytes_with_margin, recommended_bytes, recommended
(SIZE text), errors, warnings.

$EXIT_CODES_HELP
EOF
}

# read_pages FILE: a page count into PAGES, or exit 3.
read_pages() {
	local v
	[[ -r $1 ]] || die "$EX_NOINPUT" "cannot read $1"
	v=$(<"$1")
	v=${v//[[:space:]]/}
	if [[ ! $v =~ ^[0-9]{1,13}$ ]] || ((10#$v > (1 << 40))); then
		die "$EX_NOINPUT" "$1: '$v' is not a plausible page count"
	fi
	PAGES=$((10#$v))
}

# region_dirs DIR: the names of DIR's region directories (region@<hex
# base>, below 2^52), in order of base address, into REGION_NAMES.
region_dirs() {
	local d name
	REGION_NAMES=()
	while read -r name; do
		[[ -n $name ]] && REGION_NAMES+=("$name")
	done < <(for d in "$1"/region@*/; do
		[[ -d $d ]] || continue
		d=${d%/}
		d=${d##*/}
		[[ $d =~ ^region@[0-9a-f]{1,13}$ ]] && printf '%d %s\n' "$((16#${d#region@}))" "$d"
	done | sort -n | cut -d' ' -f2)
}

# full_warning NAME PEAK TOTAL: the warning for a region that was full.
full_warning() {
	pwarn "$1: peak_deposited_pages $2 reached total_pages $3: the carveout region was full at some point (deposits then failed, or used ordinary memory), so the hypervisor needed more than these counters show"
}

# count_arg SUB OPT VALUE: VALUE as a count from 0 to 100000 into COUNT,
# or exit 2.
count_arg() {
	if [[ ! $3 =~ ^[0-9]{1,6}$ ]] || ((10#$3 > 100000)); then
		usage_err "$1" "$1: $2 needs a whole number from 0 to 100000, not '$3'"
	fi
	COUNT=$((10#$3))
}

cmd_size() {
	local root="" margin=25 dir name sum=0 total overflow=0 bytes withm rounded json=0
	local parts="" vps="" lps="" maps="" use_rule=0 use_counters=0 cpus
	local -a terms=() lines=() jreg=() jsteps=() rterms=()
	local cjson=null rjson=null method cpages=0 rpages=0 full
	while (($#)); do
		case $1 in
		-h | --help) help_size; exit 0 ;;
		--margin) need_arg size "$1" $#; margin=$2; shift 2 ;;
		--margin=*) margin=${1#*=}; shift ;;
		--root) need_arg size "$1" $#; root=$2; shift 2 ;;
		--root=*) root=${1#*=}; shift ;;
		--partitions) need_arg size "$1" $#; count_arg size "$1" "$2"; parts=$COUNT; shift 2 ;;
		--partitions=*) count_arg size --partitions "${1#*=}"; parts=$COUNT; shift ;;
		--vps) need_arg size "$1" $#; count_arg size "$1" "$2"; vps=$COUNT; shift 2 ;;
		--vps=*) count_arg size --vps "${1#*=}"; vps=$COUNT; shift ;;
		--lps) need_arg size "$1" $#; count_arg size "$1" "$2"; lps=$COUNT; shift 2 ;;
		--lps=*) count_arg size --lps "${1#*=}"; lps=$COUNT; shift ;;
		--map-deposits) need_arg size "$1" $#; count_arg size "$1" "$2"; maps=$COUNT; shift 2 ;;
		--map-deposits=*) count_arg size --map-deposits "${1#*=}"; maps=$COUNT; shift ;;
		--json) json=1; shift ;;
		-*) usage_err size "size: unknown option '$1'" ;;
		*) usage_err size "size: unexpected argument '$1'" ;;
		esac
	done
	margin=${margin%\%}
	if [[ ! $margin =~ ^[0-9]{1,4}$ ]] || ((10#$margin > 1000)); then
		usage_err size "size: --margin needs a whole percentage from 0 to 1000, not '$margin'"
	fi
	margin=$((10#$margin))
	dir=${root:-}/sys/kernel/mm/hvcarve
	REGION_NAMES=()
	if [[ -d $dir ]]; then
		region_dirs "$dir"
	fi
	((${#REGION_NAMES[@]})) && use_counters=1
	if [[ -n $parts$vps$lps$maps ]]; then
		use_rule=1
	elif ((!use_counters)); then
		use_rule=1
		if [[ -d $dir ]]; then
			pwarn "no region directories (region@<base>) under $dir (no carveout yet): the size comes from the rule alone, with assumed counts; give --partitions, --vps and --lps, or ask again for the counters once guests have run"
		else
			pwarn "$dir is missing (no carveout yet): the size comes from the rule alone, with assumed counts; give --partitions, --vps and --lps, or ask again for the counters once guests have run on a kernel with hvcarve"
		fi
	fi

	if ((use_counters)); then
		for name in "${REGION_NAMES[@]}"; do
			read_pages "$dir/$name/peak_deposited_pages"
			local peak=$PAGES tp=null
			lines+=("$(printf '%s: peak_deposited_pages = %d' "$name" "$peak")")
			full=false
			if [[ -e $dir/$name/total_pages ]]; then
				read_pages "$dir/$name/total_pages"
				tp=$PAGES
				if ((peak >= tp)); then
					full=true
					full_warning "$name" "$peak" "$tp"
				fi
			fi
			jreg+=("$(printf '{"region":"%s","peak_deposited_pages":%d,"total_pages":%s,"full":%s}' "$name" "$peak" "$tp" "$full")")
			sum=$((sum + peak))
			terms+=("$peak")
		done
		if [[ -e $dir/overflow_pages ]]; then
			read_pages "$dir/overflow_pages"
			overflow=$PAGES
			lines+=("$(printf 'overflow_pages = %d' "$overflow")")
		else
			lines+=('overflow_pages: not present, counted as 0')
		fi
		terms+=("$overflow")
		cpages=$((sum + overflow))
		lines+=("$(printf '%spages: %s = %d' "$( ((use_rule)) && echo 'counter ')" "$(join_by ' + ' "${terms[@]}")" "$cpages")")
		cjson=$(printf '{"regions":[%s],"overflow_pages":%d,"pages":%d}' "$(join_by , "${jreg[@]}")" "$overflow" "$cpages")
	fi

	if ((use_rule)); then
		local ap=false am=false av=false al=false step
		if [[ -z $lps ]]; then
			al=true
			cpus=0
			if [[ -r ${root:-}/proc/cpuinfo ]]; then
				cpus=$(grep -c '^processor[[:space:]]*:' "${root:-}/proc/cpuinfo" || true)
			fi
			lps=$((cpus > 0 ? cpus : 1))
			((cpus == 0)) || al=false
		fi
		[[ -n $parts ]] || { parts=1; ap=true; }
		[[ -n $maps ]] || { maps=$parts; am=true; }
		[[ -n $vps ]] || { vps=$lps; av=true; }
		lines+=("rule: the deposits of mainline Linux 7.3 (drivers/hv/mshv_root_hv_call.c, drivers/hv/hv_proc.c)")
		for step in "partitions:$parts:$DEP_PARTITION:$ap:$SRC_PARTITION" \
			"GPA-map deposits:$maps:$DEP_MAP_GPA:$am:$SRC_MAP_GPA" \
			"guest VPs:$vps:$DEP_VP:$av:$SRC_VP" \
			"LPs:$lps:$DEP_LP:$al:$SRC_LP"; do
			local sname=${step%%:*} rest=${step#*:} cnt each asm src
			cnt=${rest%%:*} rest=${rest#*:}
			each=${rest%%:*} rest=${rest#*:}
			asm=${rest%%:*} src=${rest#*:}
			lines+=("$(printf '%s: %d x %d = %d pages%s (%s)' "$sname" "$cnt" "$each" $((cnt * each)) \
				"$([[ $asm == true ]] && echo ', count assumed')" "$src")")
			rterms+=($((cnt * each)))
			rpages=$((rpages + cnt * each))
			jsteps+=("$(printf '{"name":%s,"count":%d,"pages_each":%d,"pages":%d,"assumed":%s,"source":%s}' \
				"$(json_str "$sname")" "$cnt" "$each" $((cnt * each)) "$asm" "$(json_str "$src")")")
		done
		lines+=("$(printf '%spages: %s = %d' "$( ((use_counters)) && echo 'rule ')" "$(join_by ' + ' "${rterms[@]}")" "$rpages")")
		rjson=$(printf '{"partitions":%d,"map_deposits":%d,"vps":%d,"lps":%d,"steps":[%s],"pages":%d}' \
			"$parts" "$maps" "$vps" "$lps" "$(join_by , "${jsteps[@]}")" "$rpages")
	fi

	if ((use_counters && use_rule)); then
		method=both
		total=$((cpages > rpages ? cpages : rpages))
		lines+=("$(printf 'pages: the larger of counters and rule, max(%d, %d) = %d' "$cpages" "$rpages" "$total")")
	elif ((use_counters)); then
		method=counters total=$cpages
	else
		method=rule total=$rpages
	fi
	bytes=$((total * PAGE))
	lines+=("$(printf 'bytes: %d x %d = %d' "$total" "$PAGE" "$bytes")")
	withm=$(((bytes * (100 + margin) + 99) / 100))
	lines+=("$(printf 'with %d%% margin: %d x %d / 100 = %d (rounded up)' "$margin" "$bytes" $((100 + margin)) "$withm")")
	rounded=$(((withm + ALIGN_2M - 1) / ALIGN_2M * ALIGN_2M))
	if ((rounded < ALIGN_2M)); then
		rounded=$ALIGN_2M
		lines+=("$(printf 'raised to the 2 MiB minimum: %d' "$rounded")")
	else
		lines+=("$(printf 'rounded up to 2 MiB: %d (%d x 2 MiB)' "$rounded" $((rounded / ALIGN_2M)))")
	fi
	lines+=("recommended size: $(fmt_size "$rounded")")
	if ((json)); then
		printf '{'
		json_head size
		printf ',"method":"%s","page_size":%d,"margin_percent":%d,"counters":%s,"rule":%s' \
			"$method" "$PAGE" "$margin" "$cjson" "$rjson"
		printf ',"pages":%d,"bytes":%d,"bytes_with_margin":%d,"recommended_bytes":%d,"recommended":"%s",' \
			"$total" "$bytes" "$withm" "$rounded" "$(fmt_size "$rounded")"
		json_diagnostics
		printf '}\n'
	else
		printf '%s\n' "${lines[@]}"
	fi
}

# ---------------------------------------------------------------------------
# status
# ---------------------------------------------------------------------------

# The counters of a region (beside base, size and node), and their kind for
# --prom: g gauge, c counter.
STATUS_REGION_FILES=(total_pages:g free_pages:g deposited_pages:g inherited_pages:g
	peak_deposited_pages:g deposit_success_pages:c
	deposit_fail_pages:c withdrawn_pages:c)

help_status() {
	cat <<EOF
Usage: $PROG status [--json | --prom] [--root DIR]

The state of a running hvcarve, from DIR/sys/kernel/mm/hvcarve/ (DIR
defaults to /; the files are described in
Documentation/ABI/testing/sysfs-kernel-mm-hvcarve): state, overflow_pages,
overflow_cumulative_pages and, per region (region@<base>, in order of
base), base, size, node, total_pages, free_pages, deposited_pages,
inherited_pages, peak_deposited_pages, deposit_success_pages,
deposit_fail_pages and withdrawn_pages; and the overflow policy from
DIR/sys/module/hvcarve/parameters/overflow.  A missing file is shown as "-" (null in --json, no
sample in --prom); a malformed one is an error (exit 3).

Default: human-readable lines, one for the carveout and one per region.

--json: one JSON object: tool, version, command ("status"), present (false
when DIR/sys/kernel/mm/hvcarve is missing), state, overflow_pages,
overflow_cumulative_pages, overflow_policy, regions ([{region (the
directory's name), base, size, node, total_pages, free_pages,
deposited_pages, inherited_pages, peak_deposited_pages, deposit_success_pages, deposit_fail_pages,
withdrawn_pages, full}]), errors, warnings.

--prom: node_exporter's textfile-collector format (write it to a .prom file
in the collector's directory), with # HELP and # TYPE lines:
  hvcarve_present                        gauge: 1, or 0 without the directory
  hvcarve_state{state="..."}             gauge: 1 for the current state
                                         (disabled, active, invalid,
                                         distrusted), 0 others
  hvcarve_overflow_pages                 gauge
  hvcarve_overflow_cumulative_pages_total  counter
  hvcarve_overflow_policy{policy="..."}  gauge: 1 for the current one of
                                         deny and allow, 0 for the other
and per region, labelled base="0x...":
  gauges    hvcarve_region_size_bytes, hvcarve_region_node,
            hvcarve_region_total_pages, hvcarve_region_free_pages,
            hvcarve_region_deposited_pages, hvcarve_region_inherited_pages,
            hvcarve_region_peak_deposited_pages
  counters  hvcarve_region_deposit_success_pages_total,
            hvcarve_region_deposit_fail_pages_total,
            hvcarve_region_withdrawn_pages_total

A region whose peak_deposited_pages reached its total_pages was full at
some point: a warning says so (stderr, and in --json).

Without DIR/sys/kernel/mm/hvcarve (hvcarve is not running: a kernel without
it), status says so on stderr and exits 3; with --json or --prom it still
prints its document ("present": false, or hvcarve_present 0 and nothing
else), so that a collector's file is replaced instead of going stale.

$EXIT_CODES_HELP
EOF
}

# sysfs_read FILE KIND: the value of FILE into SV ("" when missing), or exit
# 3 when it is malformed.  KIND: count (unsigned decimal), int (signed
# decimal), hex (0x...), word (lower-case letters).
sysfs_read() {
	local v re
	SV=""
	[[ -e $1 ]] || return 0
	[[ -r $1 && ! -d $1 ]] || die "$EX_NOINPUT" "cannot read $1"
	v=$(<"$1")
	v=${v//[[:space:]]/}
	case $2 in
	count) re='^[0-9]{1,18}$' ;;
	int) re='^-?[0-9]{1,18}$' ;;
	hex) re='^0x[0-9a-fA-F]{1,16}$' ;;
	word) re='^[a-z]{1,32}$' ;;
	esac
	if [[ ! $v =~ $re ]]; then
		die "$EX_NOINPUT" "$1: '$v' is malformed"
	fi
	SV=$v
	if [[ $2 == count ]]; then
		SV=$((10#$v))
	elif [[ $2 == int ]]; then
		SV=$((10#${v#-}))
		if [[ $v == -* ]]; then SV=$((-SV)); fi
	fi
}

# prom_head NAME TYPE HELP
prom_head() {
	printf '# HELP %s %s\n# TYPE %s %s\n' "$1" "$3" "$1" "$2"
}

# prom_region_metrics: the per-region families of status --prom, as
# FILE:NAME:KIND:HELP (KIND g gauge, c counter).
PROM_REGION_METRICS=(
	"size:size_bytes:g:Length of the region in bytes."
	"node:node:g:NUMA node of the region (-1: its pool could not be set up)."
	"total_pages:total_pages:g:Base pages in the region."
	"free_pages:free_pages:g:Pages of the region in the pool."
	"deposited_pages:deposited_pages:g:Pages of the region this kernel deposited (or is depositing)."
	"inherited_pages:inherited_pages:g:Pages of the region the hypervisor was found to hold from an earlier kernel."
	"peak_deposited_pages:peak_deposited_pages:g:Highest deposited_pages + inherited_pages of the region since boot."
	"deposit_success_pages:deposit_success_pages_total:c:Pages of the region the hypervisor accepted since boot."
	"deposit_fail_pages:deposit_fail_pages_total:c:Pages deposits asked for and did not get since boot."
	"withdrawn_pages:withdrawn_pages_total:c:Pages of the region the hypervisor gave back since boot."
)

cmd_status() {
	local root="" fmt=human dir name k state policy overflow cumul n s
	while (($#)); do
		case $1 in
		-h | --help) help_status; exit 0 ;;
		--json | --prom)
			if [[ $fmt != human && $fmt != "${1#--}" ]]; then
				usage_err status "status: give only one of --json and --prom"
			fi
			fmt=${1#--}
			shift
			;;
		--root) need_arg status "$1" $#; root=$2; shift 2 ;;
		--root=*) root=${1#*=}; shift ;;
		-*) usage_err status "status: unknown option '$1'" ;;
		*) usage_err status "status: unexpected argument '$1'" ;;
		esac
	done
	dir=${root:-}/sys/kernel/mm/hvcarve
	if [[ ! -d $dir ]]; then
		perr "$dir is missing: hvcarve is not running (a kernel without hvcarve)"
		case $fmt in
		json)
			printf '{'
			json_head status
			printf ',"present":false,"state":null,"overflow_pages":null,"overflow_cumulative_pages":null,"overflow_policy":null,"regions":[],'
			json_diagnostics
			printf '}\n'
			;;
		prom)
			prom_head hvcarve_present gauge "1 when /sys/kernel/mm/hvcarve exists (a kernel with hvcarve), else 0."
			printf 'hvcarve_present 0\n'
			;;
		esac
		exit "$EX_NOINPUT"
	fi
	sysfs_read "$dir/state" word
	state=$SV
	sysfs_read "${root:-}/sys/module/hvcarve/parameters/overflow" word
	policy=$SV
	sysfs_read "$dir/overflow_pages" count
	overflow=$SV
	sysfs_read "$dir/overflow_cumulative_pages" count
	cumul=$SV
	if [[ $state == distrusted ]]; then
		local why=unknown
		[[ -r $dir/reason ]] && why=$(<"$dir/reason")
		pwarn "the carveout is distrusted: the hypervisor contradicted what hvcarve assumes ($why); this kernel deposits no more carveout pages"
	fi
	region_dirs "$dir"
	local -a rbase=() rsize=() rnode=() rfull=()
	local -A rv=()
	for ((k = 0; k < ${#REGION_NAMES[@]}; k++)); do
		name=${REGION_NAMES[k]}
		sysfs_read "$dir/$name/base" hex
		rbase+=("$SV")
		sysfs_read "$dir/$name/size" count
		rsize+=("$SV")
		sysfs_read "$dir/$name/node" int
		rnode+=("$SV")
		for n in "${STATUS_REGION_FILES[@]}"; do
			sysfs_read "$dir/$name/${n%:*}" count
			rv[$k,${n%:*}]=$SV
		done
		rfull+=(false)
		if [[ -n ${rv[$k,peak_deposited_pages]} && -n ${rv[$k,total_pages]} ]] &&
			((rv[$k,peak_deposited_pages] >= rv[$k,total_pages])); then
			rfull[k]=true
			full_warning "$name" "${rv[$k,peak_deposited_pages]}" "${rv[$k,total_pages]}"
		fi
	done
	case $fmt in
	human)
		printf 'hvcarve: state %s, overflow_policy %s, overflow_pages %s (%s since boot), %d region(s)\n' \
			"${state:--}" "${policy:--}" "${overflow:--}" "${cumul:--}" "${#REGION_NAMES[@]}"
		for ((k = 0; k < ${#REGION_NAMES[@]}; k++)); do
			s=${rsize[k]}
			[[ -z $s ]] || s=$(fmt_size "$s")
			printf '%s: %s at %s, node %s: %s pages: %s free, %s deposited, %s inherited; peak %s; since boot %s deposited, %s failed, %s withdrawn\n' \
				"${REGION_NAMES[k]}" "${s:--}" "${rbase[k]:--}" "${rnode[k]:--}" \
				"${rv[$k,total_pages]:--}" "${rv[$k,free_pages]:--}" "${rv[$k,deposited_pages]:--}" \
				"${rv[$k,inherited_pages]:--}" \
				"${rv[$k,peak_deposited_pages]:--}" "${rv[$k,deposit_success_pages]:--}" \
				"${rv[$k,deposit_fail_pages]:--}" "${rv[$k,withdrawn_pages]:--}"
		done
		;;
	json)
		local -a jr=()
		local o
		for ((k = 0; k < ${#REGION_NAMES[@]}; k++)); do
			o=$(printf '{"region":"%s","base":%s,"size":%s,"node":%s' "${REGION_NAMES[k]}" \
				"$(json_str_or_null "${rbase[k]}")" "$(json_num_or_null "${rsize[k]}")" \
				"$(json_num_or_null "${rnode[k]}")")
			for n in "${STATUS_REGION_FILES[@]}"; do
				o+=$(printf ',"%s":%s' "${n%:*}" "$(json_num_or_null "${rv[$k,${n%:*}]}")")
			done
			jr+=("$o,\"full\":${rfull[k]}}")
		done
		printf '{'
		json_head status
		printf ',"present":true,"state":%s,"overflow_pages":%s,"overflow_cumulative_pages":%s,"overflow_policy":%s,"regions":[%s],' \
			"$(json_str_or_null "$state")" "$(json_num_or_null "$overflow")" "$(json_num_or_null "$cumul")" \
			"$(json_str_or_null "$policy")" "$(join_by , ${jr[@]+"${jr[@]}"})"
		json_diagnostics
		printf '}\n'
		;;
	prom)
		local st metric file rest mname kind help v printed
		prom_head hvcarve_present gauge "1 when /sys/kernel/mm/hvcarve exists (a kernel with hvcarve), else 0."
		printf 'hvcarve_present 1\n'
		if [[ -n $state ]]; then
			prom_head hvcarve_state gauge "The state of the carveout (/sys/kernel/mm/hvcarve/state): 1 for the current one."
			for st in disabled active invalid distrusted; do
				printf 'hvcarve_state{state="%s"} %d\n' "$st" "$([[ $state == "$st" ]] && echo 1 || echo 0)"
			done
			case $state in
			disabled | active | invalid | distrusted) ;;
			*) printf 'hvcarve_state{state="%s"} 1\n' "$state" ;;
			esac
		fi
		if [[ -n $overflow ]]; then
			prom_head hvcarve_overflow_pages gauge "Ordinary (non-carveout) pages deposited into the hypervisor now; kexec is refused while not 0."
			printf 'hvcarve_overflow_pages %s\n' "$overflow"
		fi
		if [[ -n $cumul ]]; then
			prom_head hvcarve_overflow_cumulative_pages_total counter "Ordinary (non-carveout) pages the hypervisor accepted since boot, withdrawn since or not."
			printf 'hvcarve_overflow_cumulative_pages_total %s\n' "$cumul"
		fi
		if [[ -n $policy ]]; then
			prom_head hvcarve_overflow_policy gauge "The overflow policy (hvcarve.overflow=): 1 for the current one."
			for st in deny allow; do
				printf 'hvcarve_overflow_policy{policy="%s"} %d\n' "$st" "$([[ $policy == "$st" ]] && echo 1 || echo 0)"
			done
		fi
		# One family at a time, every region in it.
		for metric in "${PROM_REGION_METRICS[@]}"; do
			file=${metric%%:*} rest=${metric#*:}
			mname=hvcarve_region_${rest%%:*} rest=${rest#*:}
			kind=${rest%%:*} help=${rest#*:}
			printed=0
			for ((k = 0; k < ${#REGION_NAMES[@]}; k++)); do
				case $file in
				size) v=${rsize[k]} ;;
				node) v=${rnode[k]} ;;
				*) v=${rv[$k,$file]} ;;
				esac
				[[ -n $v ]] || continue
				if ((!printed)); then
					prom_head "$mname" "$([[ $kind == c ]] && echo counter || echo gauge)" "$help"
					printed=1
				fi
				printf '%s{base="%s"} %s\n' "$mname" "${rbase[k]}" "$v"
			done
		done
		;;
	esac
}

# ---------------------------------------------------------------------------
# kexec-args
# ---------------------------------------------------------------------------

help_kexec_args() {
	cat <<EOF
Usage: $PROG kexec-args KERNEL [INITRD] [--cmdline STR] [--root DIR] [--phys-bits N]

Print a safe kexec command for KERNEL (and INITRD), with the command line
from "$PROG next" (from STR, or DIR/proc/cmdline, default /proc/cmdline),
quoted as one single-quoted shell word.  KERNEL and INITRD must be readable
files (exit 3 otherwise); the command line is checked as by "next" (exit 1
when the kernel would refuse its hvcarve=):

  kexec -s -l KERNEL --initrd=INITRD --append='<next command line>'

kexec_file_load (-s) places every segment in the kernel's own System RAM
resources, which exclude the memmap=\$ reservations, so it never loads into
the carveout: it is preferred.

A second, commented line gives the kexec_load variant (without -s).
kexec-tools places its segments using /sys/firmware/memmap, where the
carveout still looks like RAM, so --mem-min/--mem-max confine them to a
window without any carveout region: the address space is cut at every
region (below the first, between two, above the last) and the window with
the most System RAM is chosen, preferring windows that have RAM below
2 GiB (kexec-tools on x86-64 loads purgatory between 0x3000 and
0x7fffffff); its bounds are its lowest and highest RAM addresses
(inclusive).  The choice is explained in a comment.

$EXIT_CODES_HELP
EOF
}

cmd_kexec_args() {
	local root="" cmdline="" have_cmdline=0 kernel="" initrd="" nargs=0 pbits="" fl
	while (($#)); do
		case $1 in
		-h | --help) help_kexec_args; exit 0 ;;
		--cmdline) need_arg kexec-args "$1" $#; cmdline=$2; have_cmdline=1; shift 2 ;;
		--cmdline=*) cmdline=${1#*=}; have_cmdline=1; shift ;;
		--root) need_arg kexec-args "$1" $#; root=$2; shift 2 ;;
		--root=*) root=${1#*=}; shift ;;
		--phys-bits) need_arg kexec-args "$1" $#; pbits=$2; shift 2 ;;
		--phys-bits=*) pbits=${1#*=}; shift ;;
		-*) usage_err kexec-args "kexec-args: unknown option '$1'" ;;
		*)
			nargs=$((nargs + 1))
			case $nargs in
			1) kernel=$1 ;;
			2) initrd=$1 ;;
			*) usage_err kexec-args "kexec-args: unexpected argument '$1'" ;;
			esac
			shift
			;;
		esac
	done
	[[ -n $kernel ]] || usage_err kexec-args "kexec-args: KERNEL is missing"
	set_phys_bits kexec-args "$pbits" $((!have_cmdline)) "${root:-}"
	# The files as given (kexec runs here, with these paths): a command
	# for a file that is not there would fail only when it is run.
	for fl in "$kernel" ${initrd:+"$initrd"}; do
		if [[ ! -f $fl || ! -r $fl ]]; then
			die "$EX_NOINPUT" "cannot read $fl"
		fi
	done
	find_parse
	if ((!have_cmdline)); then
		read_cmdline_file "${root:-}/proc/cmdline"
		cmdline=$CMDLINE
	fi
	next_line "$cmdline"
	local files append
	files=$(maybe_quote "$kernel")
	if [[ -n $initrd ]]; then
		files+=" --initrd=$(maybe_quote "$initrd")"
	fi
	append="--append=$(shell_quote "$NEXT_LINE")"
	printf 'kexec -s -l %s %s\n' "$files" "$append"

	if ((${#R_A[@]} == 0)); then
		printf '# Alternative without -s (kexec_load); no carveout, so no bounds are needed:\n'
		printf '# kexec -l %s %s\n' "$files" "$append"
		return 0
	fi
	if ! load_ram "${root:-}" 2>/dev/null; then
		pwarn "no RAM map under ${root:-/}: cannot compute --mem-min/--mem-max"
		printf '# Alternative without -s (kexec_load): not computed, no RAM map available.\n'
		return 0
	fi
	# Windows between the regions, sorted by address.
	local -a cuts=() wa=() we=()
	local k j lo hi ram best=-1 best_ram=0 best_lo=0 best_hi=0 a e
	while read -r a e; do
		cuts+=("$a" "$e")
	done < <(for ((k = 0; k < ${#R_A[@]}; k++)); do
		echo "${R_A[k]} $((R_A[k] + R_S[k]))"
	done | sort -n)
	wa=(0) we=()
	for ((k = 0; k < ${#cuts[@]}; k += 2)); do
		we+=("${cuts[k]}")
		wa+=("${cuts[k + 1]}")
	done
	we+=("$MAX_S63")
	# Prefer windows with RAM below 2 GiB: kexec-tools (x86-64) places
	# purgatory between 0x3000 and 0x7fffffff.
	local low best_low=0
	for ((k = 0; k < ${#wa[@]}; k++)); do
		ram=0 lo=-1 hi=-1 low=0
		for ((j = 0; j < ${#RAM_A[@]}; j++)); do
			a=$((RAM_A[j] > wa[k] ? RAM_A[j] : wa[k]))
			e=$((RAM_E[j] < we[k] ? RAM_E[j] : we[k]))
			((a < e)) || continue
			ram=$((ram + e - a))
			((lo < 0)) && lo=$a
			hi=$e
			if ((a < 0x80000000 && e > 0x3000)); then low=1; fi
		done
		((ram > 0)) || continue
		if ((best < 0 || low > best_low || (low == best_low && ram > best_ram))); then
			best=$k best_ram=$ram best_lo=$lo best_hi=$hi best_low=$low
		fi
	done
	if ((best < 0)); then
		printf '# Alternative without -s (kexec_load): not possible, no System RAM outside the carveout.\n'
		return 0
	fi
	local where
	if ((best == 0)); then
		where="below the first carveout region"
	elif ((best == ${#wa[@]} - 1)); then
		where="above the last carveout region"
	else
		where="between two carveout regions"
	fi
	printf '# Alternative without -s (kexec_load): kexec-tools reads /sys/firmware/memmap, where the carveout looks like RAM,\n'
	if ((best_low)); then
		printf '# so keep every segment in %s, %s: of the windows free of the carveout that have RAM\n' \
			"$(fmt_range "$best_lo" "$best_hi")" "$where"
		printf '# below 2 GiB (where kexec-tools puts purgatory), the one with the most RAM (%s)\n' "$(fmt_mib "$best_ram")"
	else
		printf '# so keep every segment in %s, %s: the window free of the carveout with the most RAM (%s);\n' \
			"$(fmt_range "$best_lo" "$best_hi")" "$where" "$(fmt_mib "$best_ram")"
		printf '# no such window has RAM below 2 GiB, which older kexec-tools need for purgatory\n'
	fi
	printf '# kexec -l %s --mem-min=%s --mem-max=%s %s\n' "$files" \
		"$(fmt_addr "$best_lo")" "$(fmt_addr $((best_hi - 1)))" "$append"
}

# ---------------------------------------------------------------------------
# install, remove
# ---------------------------------------------------------------------------

GRUB_DROPIN=etc/default/grub.d/hvcarve.cfg
KDUMP_DEFAULTS=etc/default/kdump-tools
KEXEC_DEFAULTS=etc/default/kexec
KEXEC_SNIPPET=etc/default/kexec.d/hvcarve
KDUMP_BEGIN="# BEGIN hvcarve (hvcarve-cmdline install; hvcarve-cmdline remove deletes this block)"
KDUMP_END="# END hvcarve"
# The first line of every file install writes whole: remove deletes only
# files that start with it.
INSTALL_MARK="# Written by hvcarve-cmdline install (scripts/hvcarve-cmdline.sh);"

help_install() {
	cat <<EOF
Usage: $PROG install --root DIR [--phys-bits N] SIZE@ADDR[,SIZE@ADDR...]

Make every kernel this system boots or loads get the carveout: hvcarve=
with the regions, and one memmap=SIZE\$ADDR twin per region.  --root DIR
is the root of the system to change: --root / for this one (needed, so
that nothing is changed by accident).

The value is first checked by the kernel's own parser (hvcarve-parse, with
the physical address bits of DIR/proc/cpuinfo, 52 when unreadable, or
--phys-bits): a value the kernel would refuse is refused with its message
(exit 1), and nothing is written.  So is a GRUB configuration that already
has hvcarve= (DIR/etc/default/grub, DIR/etc/default/grub.d/*.cfg): the
kernel would get it twice, find the regions overlapping and refuse them;
remove it there first (with its memmap= twins).

Written (each only when its content changes; running install twice gives
identical files, and a new value replaces the old one):

  DIR/$GRUB_DROPIN
      A GRUB drop-in that appends to the distribution's line instead of
      replacing it (root=, ro and kdump-tools' crashkernel= stay once):
        GRUB_CMDLINE_LINUX="\$GRUB_CMDLINE_LINUX hvcarve=... memmap=SIZE\\\\\\\$ADDR"
      grub-mkconfig sources it with /bin/sh, which leaves memmap=SIZE\\\$ADDR in
      grub.cfg, where GRUB's own \$ expansion leaves the kernel
      memmap=SIZE\$ADDR (see "$PROG next --help", format grub).

  DIR/$KDUMP_DEFAULTS (only if it exists; else skipped, saying so)
      A block between the lines
        $KDUMP_BEGIN
        $KDUMP_END
      at the end of the file (replaced by a new install, deleted by
      remove; the rest of the file is left as it is).  Debian's
      kdump-config builds the crash kernel's command line from
      /proc/cmdline and runs "eval \$KEXEC_CMD" with
      --command-line="<line>", which turns memmap=64M\$0x3a000000 into
      memmap=64M<its own name>x3a000000, a RAM limit.  The block sets
      KDUMP_CMDLINE, computed from /proc/cmdline when kdump-config (or
      /etc/init.d/kdump-tools) sources the file, in one assignment line
      that systemd's EnvironmentFile= parser also reads without harm:
      /proc/cmdline without crashkernel=, hugepages=, hugepagesz=, abm= (as
      kdump-config drops them) and hvcarve= (a crash kernel never
      deposits), with every \\ " \$ and \` escaped by a backslash, so that the
      eval gives the original text back.  A KDUMP_CMDLINE set elsewhere in
      the file is overridden (the block comes last): a warning says so.

  DIR/$KEXEC_SNIPPET (only if DIR/$KEXEC_DEFAULTS exists)
      kexec-tools' kexec-load (Debian 12's /etc/init.d/kexec-load, Debian
      13's /usr/sbin/kexec-load-kernel) sources /etc/default/kexec, then
      every /etc/default/kexec.d/ file (run-parts names: no dot), and runs
      kexec -l ... --append="\$APPEND" (/proc/cmdline when APPEND is empty;
      after the reboot it has the carveout).  The snippet sets
      USE_GRUB_CONFIG=false: with true, kexec-load reads grub.cfg through
      eval, which mangles memmap=SIZE\\\$ADDR (a warning says so when
      /etc/default/kexec sets it; removing the snippet restores it).  A
      non-empty APPEND gets every hvcarve= and every memmap= twin of one
      (of the installed regions, or of an hvcarve= in APPEND) replaced by
      the installed parameters, before any "--".

Then install prints what it did and reminds to run update-grub and to
reboot; it runs neither.

$EXIT_CODES_HELP
EOF
}

help_remove() {
	cat <<EOF
Usage: $PROG remove --root DIR

Undo "$PROG install" on the system at DIR (--root / for this one): delete
DIR/$GRUB_DROPIN and DIR/$KEXEC_SNIPPET (only files that
install wrote: they start with its mark), and the hvcarve block of
DIR/$KDUMP_DEFAULTS (the rest of that file is left byte for byte).  On a
system without them it does nothing and succeeds.  Then run update-grub
and reboot: the next kernel boots without the carveout.  A damaged block
(a BEGIN line without its END) is refused (exit 1): fix it by hand.

$EXIT_CODES_HELP
EOF
}

# grub_dropin_text SH_TEXT: the GRUB drop-in for the sh-escaped words.
grub_dropin_text() {
	cat <<EOF
$INSTALL_MARK "hvcarve-cmdline remove"
# deletes it.  Run update-grub after any change.  It appends the carveout to the
# distribution's GRUB_CMDLINE_LINUX (for every entry, recovery included):
# hvcarve= and one memmap=SIZE\$ADDR twin per region.  sh makes \\\\\\\$ into \\\$, which
# GRUB's grub.cfg parser turns into the \$ the kernel needs.
GRUB_CMDLINE_LINUX="\$GRUB_CMDLINE_LINUX $1"
EOF
}

# kdump_block_text: the managed block of /etc/default/kdump-tools.
kdump_block_text() {
	cat <<'EOF'
# BEGIN hvcarve (hvcarve-cmdline install; hvcarve-cmdline remove deletes this block)
# kdump-config runs "eval $KEXEC_CMD" with --command-line="$KDUMP_CMDLINE ...",
# which would turn the memmap=SIZE$ADDR twins of the carveout into RAM limits
# ($0 expanded).  So: /proc/cmdline without crashkernel=, hugepages=,
# hugepagesz=, abm= (as kdump-config drops them) and hvcarve= (a crash kernel
# never deposits), with \ " $ and ` escaped for that eval.
KDUMP_CMDLINE=$(sed -E -e 's/(^| )(crashkernel|hugepages|hugepagesz|abm|hvcarve)=[^ ]*//g' -e 's/^ +//' -e 's/[\\"$`]/\\&/g' /proc/cmdline)
# END hvcarve
EOF
}

# kexec_snippet_text PARAMS TWINS: the /etc/default/kexec.d snippet;
# PARAMS the installed parameters, TWINS their memmap= words (space
# separated); neither holds a quote or a backslash.
kexec_snippet_text() {
	cat <<EOF
$INSTALL_MARK "hvcarve-cmdline remove"
# deletes it.  kexec-load sources /etc/default/kexec, then this file.
#
# USE_GRUB_CONFIG=true would make kexec-load read the kernel's command line
# from grub.cfg through "eval", which turns the memmap=SIZE\$ADDR twins of the
# carveout into RAM limits (\$0 expanded): KERNEL_IMAGE and INITRD of
# /etc/default/kexec are loaded instead.  Removing this file restores the
# setting of /etc/default/kexec.
USE_GRUB_CONFIG=false
# An empty APPEND means /proc/cmdline, which has the carveout after the
# reboot.  A non-empty one gets its hvcarve= and their memmap= twins replaced
# by these (before any "--"; the \$ is literal in single quotes).
if [ -n "\$APPEND" ]; then
	APPEND=\$(printf '%s\\n' "\$APPEND" | tr ' ' '\\n' | awk -v add='$1' -v twins='$2' '
		BEGIN { n = split(twins, t, " "); for (i = 1; i <= n; i++) drop[t[i]] = 1 }
		dd { w[++c] = \$0; next }
		\$0 == "--" { dd = 1; at = c + 1; w[++c] = \$0; next }
		/^hvcarve=/ {
			n = split(substr(\$0, 9), e, ",")
			for (i = 1; i <= n; i++) { x = e[i]; sub(/@/, "\$", x); drop["memmap=" x] = 1 }
			next
		}
		{ w[++c] = \$0 }
		END {
			if (!dd) at = c + 1
			for (i = 1; i <= c + 1; i++) {
				if (i == at) { out = out sep add; sep = " " }
				if (i > c || (i < at && w[i] in drop)) continue
				out = out sep w[i]; sep = " "
			}
			print out
		}')
fi
EOF
}

# block_ok FILE: the hvcarve blocks of FILE are whole (each BEGIN line has
# its END line before the next BEGIN).
block_ok() {
	awk -v b="$KDUMP_BEGIN" -v e="$KDUMP_END" '
		$0 == b { if (in_block) bad = 1; in_block = 1; next }
		$0 == e { if (!in_block) bad = 1; in_block = 0; next }
		END { exit (bad || in_block) }' "$1"
}

# strip_block FILE: FILE without its hvcarve blocks, on stdout, byte for
# byte otherwise.
strip_block() {
	# sed keeps the file's own ending (awk would add a final newline); in
	# a basic regular expression the marker's ( ) ; are literal.
	sed -e "\\~^${KDUMP_BEGIN}\$~,\\~^${KDUMP_END}\$~d" "$1"
}

# put_file PATH TMP: move TMP (written next to PATH) over PATH unless they
# are identical; keeps PATH's mode and owner.  Sets CHANGED.  Exit 3 when
# that fails.
put_file() {
	local path=$1 tmp=$2
	if [[ -e $path ]] && cmp -s "$tmp" "$path"; then
		rm -f "$tmp"
		CHANGED=0
		return 0
	fi
	if [[ -e $path ]]; then
		chmod --reference="$path" "$tmp" 2>/dev/null || true
		chown --reference="$path" "$tmp" 2>/dev/null || true
	else
		chmod 0644 "$tmp"
	fi
	if ! mv -f "$tmp" "$path"; then
		rm -f "$tmp"
		die "$EX_NOINPUT" "cannot write $path"
	fi
	CHANGED=1
}

# new_tmp PATH: a new temporary file beside PATH into TMPF, or exit 3.
new_tmp() {
	local d=${1%/*}
	if ! mkdir -p "$d" 2>/dev/null || [[ ! -w $d ]]; then
		die "$EX_NOINPUT" "cannot write in $d"
	fi
	TMPF=$(mktemp "$d/.${1##*/}.hvcarve.XXXXXX" 2>/dev/null) || die "$EX_NOINPUT" "cannot write in $d"
}

# install_root SUB DIR: check that DIR is the root of a system: DIR and
# DIR/etc/default are directories; exit 3 otherwise.
install_root() {
	[[ -d $2 ]] || die "$EX_NOINPUT" "$1: $2 is not a directory"
	[[ -d $2/etc/default && -r $2/etc/default ]] ||
		die "$EX_NOINPUT" "$1: $2/etc/default is missing or unreadable: is $2 the root of a Debian system?"
	[[ -w $2/etc/default ]] || die "$EX_NOINPUT" "$1: $2/etc/default is not writable"
}

# report WHAT PATH: "wrote"/"unchanged" after put_file.
report() {
	if ((CHANGED)); then
		printf '%s: wrote %s (%s)\n' "$PROG" "$2" "$1"
	else
		printf '%s: unchanged %s (%s)\n' "$PROG" "$2" "$1"
	fi
}

cmd_install() {
	local root="" value="" pbits="" k f g line
	while (($#)); do
		case $1 in
		-h | --help) help_install; exit 0 ;;
		--root) need_arg install "$1" $#; root=$2; shift 2 ;;
		--root=*) root=${1#*=}; shift ;;
		--phys-bits) need_arg install "$1" $#; pbits=$2; shift 2 ;;
		--phys-bits=*) pbits=${1#*=}; shift ;;
		-*) usage_err install "install: unknown option '$1'" ;;
		*)
			[[ -z $value ]] || usage_err install "install: unexpected argument '$1'"
			value=$1
			shift
			;;
		esac
	done
	[[ -n $root ]] || usage_err install "install: --root DIR is needed (--root / for this system)"
	[[ -n $value ]] || usage_err install "install: SIZE@ADDR[,SIZE@ADDR...] is missing"
	value=${value#hvcarve=}
	if [[ $value =~ [[:space:]\"\'\\] ]]; then
		usage_err install "install: '$value' is not one hvcarve= value (no spaces, quotes or backslashes)"
	fi
	root=${root%/}
	set_phys_bits install "$pbits" 1 "$root"
	find_parse
	# The kernel's verdict first: nothing is written for a refused value.
	run_parse "hvcarve=$value"
	if [[ $HP_VERDICT != accept ]]; then
		kernel_refusal "$HP_MSG"
		exit "$EX_PROBLEM"
	fi
	install_root install "${root:-/}"
	local -a twins=() txt=()
	for ((k = 0; k < ${#HP_A[@]}; k++)); do
		txt+=("$(fmt_size "${HP_S[k]}")@$(fmt_addr "${HP_A[k]}")")
		twins+=("memmap=$(fmt_size "${HP_S[k]}")\$$(fmt_addr "${HP_A[k]}")")
	done
	local hv
	hv="hvcarve=$(join_by , "${txt[@]}")"
	# hvcarve= given elsewhere to GRUB would reach the kernel twice.
	for f in "$root/etc/default/grub" "$root"/etc/default/grub.d/*.cfg; do
		[[ -f $f && $f != "$root/$GRUB_DROPIN" ]] || continue
		while IFS= read -r line; do
			perr "$f: line ${line%%:*} already passes hvcarve= to the kernel, which would get it twice and refuse the overlapping regions: remove it there (with its memmap= twins) first"
		done < <(grep -n -E '^[^#]*hvcarve=' "$f" || true)
	done
	if ((NERR)); then
		exit "$EX_PROBLEM"
	fi
	if ! grub_sh_text "$hv" "${twins[@]}"; then
		die "$EX_PROBLEM" "internal error: '$GW_BAD' cannot pass through GRUB"
	fi
	g=$GRUB_SH

	# 1. GRUB.
	new_tmp "$root/$GRUB_DROPIN"
	grub_dropin_text "$g" >"$TMPF" || die "$EX_NOINPUT" "cannot write $TMPF"
	put_file "$root/$GRUB_DROPIN" "$TMPF"
	report "GRUB: $hv ${twins[*]}" "$root/$GRUB_DROPIN"

	# 2. kdump-tools.
	f=$root/$KDUMP_DEFAULTS
	if [[ -f $f ]]; then
		[[ -r $f ]] || die "$EX_NOINPUT" "cannot read $f"
		block_ok "$f" || die "$EX_PROBLEM" "$f has a damaged hvcarve block (a '$KDUMP_BEGIN' line without its '$KDUMP_END' line): fix it by hand"
		strip_block "$f" | grep -n -E '^[[:space:]]*(export[[:space:]]+)?KDUMP_CMDLINE=' | while IFS= read -r line; do
			printf '%s: warning: %s sets KDUMP_CMDLINE itself (%s): the hvcarve block at the end of the file overrides it\n' "$PROG" "$f" "${line#*:}" >&2
		done || true
		new_tmp "$f"
		strip_block "$f" >"$TMPF" || die "$EX_NOINPUT" "cannot write $TMPF"
		if [[ -s $TMPF && $(tail -c 1 "$TMPF" | od -An -c | tr -d ' ') != '\n' ]]; then
			printf '\n' >>"$TMPF"
		fi
		kdump_block_text >>"$TMPF" || die "$EX_NOINPUT" "cannot write $TMPF"
		put_file "$f" "$TMPF"
		report "kdump-tools: KDUMP_CMDLINE, /proc/cmdline escaped for kdump-config's eval" "$f"
	else
		printf '%s: skipped %s: it does not exist (kdump-tools is not installed)\n' "$PROG" "$f"
	fi

	# 3. kexec-tools' kexec-load.
	f=$root/$KEXEC_DEFAULTS
	if [[ -f $f ]]; then
		if grep -q -E '^[[:space:]]*(export[[:space:]]+)?USE_GRUB_CONFIG=["'\'']?(true|1)' "$f"; then
			pwarn "$f sets USE_GRUB_CONFIG=true: kexec-load would read grub.cfg through eval, which mangles memmap=SIZE\$ADDR; $root/$KEXEC_SNIPPET sets it to false (it loads KERNEL_IMAGE and INITRD of $f instead; remove restores the setting)"
		fi
		new_tmp "$root/$KEXEC_SNIPPET"
		kexec_snippet_text "$hv ${twins[*]}" "${twins[*]}" >"$TMPF" || die "$EX_NOINPUT" "cannot write $TMPF"
		put_file "$root/$KEXEC_SNIPPET" "$TMPF"
		report "kexec-load: USE_GRUB_CONFIG=false, the carveout in a non-empty APPEND" "$root/$KEXEC_SNIPPET"
	else
		printf '%s: skipped %s: %s does not exist (kexec-tools is not installed)\n' "$PROG" "$root/$KEXEC_SNIPPET" "$f"
	fi
	printf '%s: next: run update-grub (grub-mkconfig -o /boot/grub/grub.cfg) in %s, then reboot: the carveout is reserved at boot\n' "$PROG" "${root:-/}"
}

cmd_remove() {
	local root="" f removed=0
	while (($#)); do
		case $1 in
		-h | --help) help_remove; exit 0 ;;
		--root) need_arg remove "$1" $#; root=$2; shift 2 ;;
		--root=*) root=${1#*=}; shift ;;
		-*) usage_err remove "remove: unknown option '$1'" ;;
		*) usage_err remove "remove: unexpected argument '$1'" ;;
		esac
	done
	[[ -n $root ]] || usage_err remove "remove: --root DIR is needed (--root / for this system)"
	root=${root%/}
	install_root remove "${root:-/}"
	for f in "$root/$GRUB_DROPIN" "$root/$KEXEC_SNIPPET"; do
		[[ -e $f ]] || continue
		if [[ $(head -n 1 "$f" 2>/dev/null) != "$INSTALL_MARK"* ]]; then
			pwarn "$f was not written by '$PROG install': left alone"
			continue
		fi
		rm -f "$f" || die "$EX_NOINPUT" "cannot remove $f"
		printf '%s: removed %s\n' "$PROG" "$f"
		removed=1
	done
	f=$root/$KDUMP_DEFAULTS
	if [[ -f $f ]] && grep -qxF "$KDUMP_BEGIN" "$f"; then
		block_ok "$f" || die "$EX_PROBLEM" "$f has a damaged hvcarve block (a '$KDUMP_BEGIN' line without its '$KDUMP_END' line): fix it by hand"
		new_tmp "$f"
		strip_block "$f" >"$TMPF" || die "$EX_NOINPUT" "cannot write $TMPF"
		put_file "$f" "$TMPF"
		printf '%s: removed the hvcarve block of %s\n' "$PROG" "$f"
		removed=1
	fi
	if ((removed)); then
		printf '%s: next: run update-grub (grub-mkconfig -o /boot/grub/grub.cfg) in %s, then reboot: the next boot has no carveout\n' "$PROG" "${root:-/}"
	else
		printf '%s: nothing to remove in %s\n' "$PROG" "${root:-/}"
	fi
}

# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

help_main() {
	cat <<EOF
Usage: $PROG SUBCOMMAND [OPTIONS]
       $PROG --version

Manage the hvcarve= kernel parameter, the RAM carveout that the Microsoft
Hypervisor root partition keeps across kexec.  hvcarve=SIZE@ADDR[,...]
takes memparse numbers (decimal, 0x hex, 0 octal; K M G T P E suffixes), up
to $MAX_REGIONS page-aligned regions (2 MiB alignment recommended) inside the
physical address space; repeated hvcarve= parameters add up to one
carveout, and a region given twice overlaps itself.  The kernel refuses any
fault and then disables the whole carveout: every subcommand asks the
kernel's own parser (hvcarve-parse; build it with 'make -C tools/hvcarve')
and reports its message.  Every kernel also needs memmap=SIZE\$ADDR per
region.

Subcommands (each has --help):
  next        print the command line for the next kernel
  check       validate the regions against the machine's memory map
  suggest     propose hvcarve=SIZE@ADDR for a carveout of SIZE
  size        recommend a carveout size (hvcarve statistics, or a rule)
  status      show a running hvcarve (human, --json or --prom)
  kexec-args  print a kexec command that keeps the carveout
  install     write GRUB, kdump-tools and kexec-load configuration
  remove      delete what install wrote

--version prints "$PROG VERSION".  check, size and status take --json for
one JSON object on stdout (its keys are in their --help).

Physical address bits (--phys-bits N of next, check, suggest, kexec-args,
install): from /proc/cpuinfo when the command line is the live one (52 with
the la57 flag, else 46), else 52 (x86-64 with 5-level paging).

$EXIT_CODES_HELP
EOF
}

main() {
	(($#)) || usage_err "" "a subcommand is needed"
	local sub=$1
	shift
	case $sub in
	-h | --help | help) help_main ;;
	--version | version) printf '%s %s\n' "$PROG" "$VERSION" ;;
	next) cmd_next "$@" ;;
	check) cmd_check "$@" ;;
	suggest) cmd_suggest "$@" ;;
	size) cmd_size "$@" ;;
	status) cmd_status "$@" ;;
	kexec-args) cmd_kexec_args "$@" ;;
	install) cmd_install "$@" ;;
	remove) cmd_remove "$@" ;;
	*) usage_err "" "unknown subcommand '$sub'" ;;
	esac
}

main "$@"
