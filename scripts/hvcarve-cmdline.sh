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
# parameters consistent; run "hvcarve-cmdline --help" for the subcommands.
#
# Numbers are handled exactly: values are parsed into two 32-bit limbs so
# that anything that does not fit in 64 bits, or whose end lies beyond 2^63
# (where bash's signed 64-bit arithmetic would wrap), is rejected by name
# instead of silently wrapping.
set -euo pipefail
export LC_ALL=C

PROG=hvcarve-cmdline

# Exit codes (documented in every --help).
EX_PROBLEM=1	# problems found / validation failed / nothing suitable
EX_USAGE=2	# unknown subcommand or option, missing/extra/malformed argument
EX_NOINPUT=3	# a needed file (cmdline, RAM map, sysfs statistics) is missing

PAGE=4096
ALIGN_2M=$((2 << 20))
MAX_REGIONS=8
KASLR_MEMMAP_MAX=4
MAX_S63=9223372036854775807	# 2^63 - 1, the largest bash integer
CMDLINE_MAX=2047		# x86 COMMAND_LINE_SIZE - 1

# Parameters never carried into the next kernel (compared with '-' == '_').
DROP_DEFAULT=(BOOT_IMAGE initrd kexec_jump_back_entry elfcorehdr)
DROP=("${DROP_DEFAULT[@]}")

EXIT_CODES_HELP="Exit status:
  0  success (warnings may have been printed)
  1  problems found: validation failed, conflicting parameters, or no
     suitable range
  2  usage error: unknown subcommand or option, missing, extra or malformed
     argument
  3  input unavailable: /proc/cmdline, the --from file, the RAM map
     (/sys/firmware/memmap and /proc/iomem), a NUMA node or the hvcarve
     statistics in sysfs are missing or unreadable, or the --efi-map file
     is unreadable or holds no firmware EFI memory map"

NERR=0
NWARN=0

perr() {
	NERR=$((NERR + 1))
	printf '%s: error: %s\n' "$PROG" "$*" >&2
}

pwarn() {
	NWARN=$((NWARN + 1))
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
# Parse STR like the kernel's memparse(): 0x<hex>, 0<octal>, or <decimal>,
# optionally followed by one of K M G T P E (any case).  The value is built in
# two 32-bit limbs, so no bash arithmetic ever overflows.  Sets:
#   NUM_CLASS  ok   value < 2^63, NUM holds it exactly
#              big  2^63 <= value < 2^64 (valid u64, beyond any address)
#              ovf  value >= 2^64 (does not fit in 64 bits)
#              bad  not a number
#   NUM_HI NUM_LO  the limbs (for ok and big)
#   NUM_OCTAL      1 when a leading 0 made the kernel read it as octal
parse_num() {
	local s=$1 digits rest base i d hi=0 lo=0 ovf=0 shl=0
	NUM=0 NUM_HI=0 NUM_LO=0 NUM_CLASS=bad NUM_OCTAL=0
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
	if ((base == 8 && ${#digits} > 1)); then
		NUM_OCTAL=1
	fi
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
	NUM_HI=$hi NUM_LO=$lo
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

# check_region SIZE_TEXT ADDR_TEXT LABEL
# Validate one SIZE@ADDR pair; errors name LABEL.  On success sets RG_SIZE
# and RG_ADDR and returns 0; otherwise returns 1.
check_region() {
	local st=$1 at=$2 label=$3 sc sh sl ac ah al hi lo ok=1
	parse_num "$st"
	sc=$NUM_CLASS sh=$NUM_HI sl=$NUM_LO RG_SIZE=$NUM
	if ((NUM_OCTAL)); then
		pwarn "$label: size '$st' has a leading 0, so the kernel reads it as octal"
	fi
	parse_num "$at"
	ac=$NUM_CLASS ah=$NUM_HI al=$NUM_LO RG_ADDR=$NUM
	if ((NUM_OCTAL)); then
		pwarn "$label: address '$at' has a leading 0, so the kernel reads it as octal"
	fi
	if [[ $sc == bad || $sc == ovf ]]; then
		perr "$label: size $(num_problem "$sc" "$st")"
		ok=0
	fi
	if [[ $ac == bad || $ac == ovf ]]; then
		perr "$label: address $(num_problem "$ac" "$at")"
		ok=0
	fi
	((ok)) || return 1
	# Both fit in 64 bits: add the limbs to see where the region ends.
	lo=$((sl + al))
	hi=$((sh + ah + (lo >> 32)))
	if ((hi > 0xffffffff)); then
		perr "$label: address + size overflows past 2^64"
		return 1
	fi
	if ((hi > 0x7fffffff)); then
		perr "$label: region ends at or beyond 2^63, above any possible physical address"
		return 1
	fi
	if ((RG_SIZE == 0)); then
		perr "$label: size is zero"
		ok=0
	fi
	if ((RG_ADDR % PAGE)); then
		perr "$label: address $(fmt_addr "$RG_ADDR") is not page (4 KiB) aligned"
		ok=0
	fi
	if ((RG_SIZE % PAGE)); then
		perr "$label: size $RG_SIZE is not a multiple of the page size (4 KiB)"
		ok=0
	fi
	((ok))
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

# parse_cmdline STR [EXTRA_REGION...]
# Tokenize STR, collect and validate the hvcarve regions (union of every
# hvcarve= and the extra SIZE@ADDR regions), parse the memmap= items and
# relate them to the regions.  Problems are reported with perr/pwarn.
#   R_A R_S R_TXT     regions (address, size, canonical SIZE@ADDR)
#   R_MM              1 when a memmap=SIZE$ADDR identical to the region exists
#   M_TOK M_RAW M_TYPE M_A M_S M_DUP   memmap items
#   CRASH_A CRASH_S   crashkernel=SIZE@OFFSET when given in that form
#   NOKASLR           1 when nokaslr is present
parse_cmdline() {
	local line=$1
	shift
	local i j item label val
	R_A=() R_S=() R_TXT=() R_MM=()
	M_TOK=() M_RAW=() M_TYPE=() M_A=() M_S=() M_DUP=()
	CRASH_A=-1 CRASH_S=0 NOKASLR=0 MEMLIMIT=-1
	tokenize "$line"
	local -a cand_txt=() cand_lbl=()
	for ((i = 0; i < ${#K_RAW[@]}; i++)); do
		kparse "${K_RAW[i]}"
		case $KP_KEY in
		hvcarve)
			if ((!KP_HASVAL)) || [[ -z $KP_VAL ]]; then
				perr "'${K_RAW[i]}': hvcarve= needs SIZE@ADDR[,SIZE@ADDR...]"
				continue
			fi
			split_commas "$KP_VAL"
			for item in "${SPLIT[@]}"; do
				if [[ -z $item ]]; then
					perr "'${K_RAW[i]}': empty entry in the hvcarve= list"
					continue
				fi
				cand_txt+=("$item")
				cand_lbl+=("hvcarve region '$item'")
			done
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
	for item in "$@"; do
		cand_txt+=("$item")
		cand_lbl+=("added region '$item'")
	done
	# Validate and merge the regions.
	for ((i = 0; i < ${#cand_txt[@]}; i++)); do
		item=${cand_txt[i]} label=${cand_lbl[i]}
		[[ -n $item ]] || continue
		if [[ ! $item =~ ^([^@]*)@([^@]*)$ ]]; then
			perr "$label: expected SIZE@ADDR"
			continue
		fi
		check_region "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "$label" || continue
		local dup=0
		for ((j = 0; j < ${#R_A[@]}; j++)); do
			if ((R_A[j] == RG_ADDR && R_S[j] == RG_SIZE)); then
				dup=1
				break
			fi
			if overlap "$RG_ADDR" $((RG_ADDR + RG_SIZE)) "${R_A[j]}" $((R_A[j] + R_S[j])); then
				perr "hvcarve regions ${R_TXT[j]} and $(fmt_size "$RG_SIZE")@$(fmt_addr "$RG_ADDR") overlap"
				dup=1
				break
			fi
		done
		((dup)) && continue
		R_A+=("$RG_ADDR") R_S+=("$RG_SIZE") R_MM+=(0)
		R_TXT+=("$(fmt_size "$RG_SIZE")@$(fmt_addr "$RG_ADDR")")
	done
	if ((${#R_A[@]} > MAX_REGIONS)); then
		perr "${#R_A[@]} hvcarve regions, but at most $MAX_REGIONS are supported"
	fi
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

# kaslr_report LEVEL: complain when more than 4 memmap reservations exist.
kaslr_report() {
	local n extra
	kaslr_entries
	n=${#KASLR_LIST[@]}
	((n > KASLR_MEMMAP_MAX)) || return 0
	extra="${KASLR_LIST[*]:KASLR_MEMMAP_MAX}"
	local why="$n memmap= reservations, but the x86 KASLR decompressor honours only $KASLR_MEMMAP_MAX: separate memmap= parameters after the ${KASLR_MEMMAP_MAX}th are ignored (the kernel may be decompressed into them) and extra entries in one comma list disable physical randomisation; affected: $extra"
	if ((NOKASLR)); then
		pwarn "$why (harmless here: nokaslr is set)"
	elif [[ $1 == error ]]; then
		perr "$why; use fewer regions or add nokaslr"
	else
		pwarn "$why; use fewer regions or add nokaslr"
	fi
}

# ---------------------------------------------------------------------------
# Output of the next command line
# ---------------------------------------------------------------------------

# build_next: assemble the next command line from the parsed state into
# NEXT_LINE and NEXT_WORDS (an array of its parameters, "--" included).
build_next() {
	local i k key placed=0 d
	local -a words=() block=() kept
	if ((${#R_A[@]})); then
		block=("hvcarve=$(join_by , "${R_TXT[@]}")")
		for ((k = 0; k < ${#R_A[@]}; k++)); do
			block+=("memmap=$(fmt_size "${R_S[k]}")\$$(fmt_addr "${R_A[k]}")")
		done
	fi
	for ((i = 0; i < ${#K_RAW[@]}; i++)); do
		kparse "${K_RAW[i]}"
		key=$KP_KEY
		for d in "${DROP[@]}"; do
			if [[ $key == "${d//-/_}" ]]; then
				continue 2
			fi
		done
		case $key in
		hvcarve)
			if ((!placed)); then
				words+=("${block[@]}")
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
		words+=("${I_RAW[@]}")
	fi
	NEXT_WORDS=("${words[@]}")
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

# format_line FORMAT: print NEXT_LINE in FORMAT.
format_line() {
	local w g out=() s
	case $1 in
	raw) printf '%s\n' "$NEXT_LINE" ;;
	shell) printf '%s\n' "$(shell_quote "$NEXT_LINE")" ;;
	grub)
		for w in "${NEXT_WORDS[@]}"; do
			if ! grub_word "$w"; then
				die "$EX_PROBLEM" "'$w' cannot be passed through GRUB unchanged: GRUB escapes ' \\ and \" inside a word and splits at tabs and newlines"
			fi
			out+=("$GW")
		done
		if ((HAS_DD)); then
			pwarn "the line contains '--': grub-mkconfig appends GRUB_CMDLINE_LINUX_DEFAULT after GRUB_CMDLINE_LINUX, so those parameters would become init arguments"
		fi
		g="${out[*]}"
		# /etc/default/grub is sourced by /bin/sh: inside "..." a backslash
		# escapes \ $ ` and ", so each of those gets one more backslash
		# (grub.cfg's \$ is therefore written \\\$ here).
		s=${g//\\/\\\\}
		s=${s//\$/\\\$}
		s=${s//\`/\\\`}
		s=${s//\"/\\\"}
		printf 'GRUB_CMDLINE_LINUX="%s"\n' "$s"
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
# regions and memmap=$ items of the running kernel's command line: in
# /proc/iomem those show as Reserved instead of System RAM.
running_reserved() {
	local f=$1/proc/cmdline k
	[[ -r $f ]] || return 0
	(
		parse_cmdline "$(<"$f")"
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
# carveout (a "Reserved" entry of exactly a region): an entry of exactly a
# region of ROOT/proc/cmdline is counted as the RAM it was.  Sets:
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
			if [[ $t == [Rr]eserved || $t == hvcarve* ]]; then
				for ((k = 0; k < ${#RUN_A[@]}; k++)); do
					if ((s == RUN_A[k] && e + 1 == RUN_E[k])); then
						t="System RAM"
					fi
				done
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
				local k
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

# running_regions ROOT: RUN_A/RUN_E, the hvcarve regions of ROOT/proc/cmdline.
running_regions() {
	local s e
	RUN_A=() RUN_E=()
	while read -r s e; do
		[[ -n $s ]] && RUN_A+=("$s") RUN_E+=("$e")
	done < <(
		[[ -r $1/proc/cmdline ]] || exit 0
		parse_cmdline "$(<"$1/proc/cmdline")" 2>/dev/null
		for ((k = 0; k < ${#R_A[@]}; k++)); do
			echo "${R_A[k]} $((R_A[k] + R_S[k]))"
		done
	)
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
Usage: $PROG next [--cmdline STR | --from FILE | --root DIR]
                  [--add SIZE@ADDR]... [--drop NAME]... [--format raw|grub|shell]

Print the kernel command line for the next kernel (kexec or next boot).

Input: STR (--cmdline), the contents of FILE (--from), DIR/proc/cmdline
(--root DIR), or by default /proc/cmdline.  Whitespace is spaces, tabs and
newlines; double quotes group a value with spaces (foo="a b"), as in the
kernel's own parser.

The output guarantees, for every hvcarve region (the union of all hvcarve=
parameters, which may be repeated, and of every --add region):
  * one hvcarve= parameter listing all regions, and
  * one memmap=SIZE\$ADDR per region, so that a kernel without hvcarve
    support reserves them too and the x86 KASLR decompressor avoids them.
Running it on its own output changes nothing (idempotent).

Canonical form:
  SIZE   the largest exact binary suffix: 2M, 64M, 1G, 2052K
  ADDR   lower-case hexadecimal with 0x and no leading zeros: 0x30000000
  Regions keep the order in which they first appear; a region given twice
  is listed once.  "hvcarve=S@A[,S@A...] memmap=S\$A [memmap=S\$A...]" is
  placed where the first hvcarve= was, or at the end (before "--") when the
  input had none.  Every other parameter keeps its text and its order;
  parameters are separated by single spaces.

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
  * every NAME given with --drop NAME ('-' and '_' are equivalent)
  crashkernel= is deliberately kept: dropping it would silently disable
  kdump in the next kernel.  When loading a kdump capture kernel
  (kexec -p), add --drop crashkernel.

Refused (exit 1, the offending parameter is named):
  * memmap= entries that overlap a region without being exactly
    memmap=SIZE\$ADDR: nn@ss (usable RAM), nn#ss, nn!ss, nn%ss..., a
    different nn\$ss, nn alone (removes RAM above nn), memmap=exactmap
  * invalid regions: not SIZE@ADDR, zero size, address or size not 4 KiB
    aligned, a number that does not fit in 64 bits, an end beyond 2^63,
    overlapping regions, more than $MAX_REGIONS regions
Parameters after "--" belong to init: they are not interpreted and stay,
unchanged and in order, at the end.

Formats (--format):
  raw    the line itself, for kexec --append (the default)
  shell  one single-quoted shell word that evaluates to the raw line
         (embedded ' written as '\\'')
  grub   a GRUB_CMDLINE_LINUX="..." line for /etc/default/grub.  The value
         passes two interpreters:
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

Warnings (stderr) for memmap= entries the kernel cannot parse, for more
than $KASLR_MEMMAP_MAX memmap reservations (see "$PROG check --help"), and for a
line longer than $CMDLINE_MAX bytes (x86 kernels truncate it).

$EXIT_CODES_HELP
EOF
}

cmd_next() {
	local format=raw src="" from="" root="" cmdline="" have_cmdline=0
	local -a adds=()
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
	if ((have_cmdline)); then
		src=$cmdline
	elif [[ -n $from ]]; then
		read_cmdline_file "$from"
		src=$CMDLINE
	else
		read_cmdline_file "${root:-}/proc/cmdline"
		src=$CMDLINE
	fi
	next_line "$src" "${adds[@]}"
	format_line "$format"
}

# next_line STR [ADD...]: parse, validate and build NEXT_LINE (exit 1 on
# errors).
next_line() {
	parse_cmdline "$@"
	if ((NERR)); then
		exit "$EX_PROBLEM"
	fi
	if ((${#R_A[@]} == 0)); then
		pwarn "no hvcarve= regions: nothing to reserve"
	fi
	build_next
	if ((${#NEXT_LINE} > CMDLINE_MAX)); then
		pwarn "the command line is ${#NEXT_LINE} bytes: x86 kernels keep only the first $CMDLINE_MAX (COMMAND_LINE_SIZE 2048)"
	fi
	# Re-parse the result quietly to count the memmap reservations in order.
	(
		parse_cmdline "$NEXT_LINE" 2>/dev/null
		kaslr_report warning
	) || true
}

# ---------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------

help_check() {
	cat <<EOF
Usage: $PROG check [--cmdline STR] [--root DIR] [--efi-map FILE]

Check the hvcarve regions of a command line (STR, or DIR/proc/cmdline,
default /proc/cmdline) against the machine's memory map.

The map is read from DIR/sys/firmware/memmap (N/start, N/end inclusive,
N/type; the firmware's view, unaffected by memmap=).  When it is missing,
DIR/proc/iomem is used with a warning: there, ranges that the running
kernel's hvcarve=/memmap=\$ reserved show as Reserved and are counted as RAM.
With neither, check fails (exit 3).  --root DIR (default /) also locates
DIR/proc/iomem and DIR/proc/cmdline, for tests and offline use.

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
there on that boot) unless the entry lies in a region of DIR/proc/cmdline
(the EFI stub's allocation of the running carveout).  A map with runtime
entries only (what a kexec hands on) is refused (exit 3).

Errors (exit 1):
  * a region that is not SIZE@ADDR, has a zero size, is not page (4 KiB)
    aligned, has a number that does not fit in 64 bits, an address + size
    that overflows past 2^64 or ends beyond 2^63
  * a region not inside one contiguous System RAM range (adjacent RAM
    entries are joined)
  * overlapping regions; more than $MAX_REGIONS regions; no hvcarve= at all
  * overlap with the crash kernel: crashkernel=SIZE@OFFSET, and every
    "Crash kernel" entry of /proc/iomem (which also covers crashkernel=
    forms whose place the kernel chooses)
  * memmap= entries that conflict with a region (see "$PROG next --help")
  * a region without its memmap=SIZE\$ADDR: kernels without hvcarve support
    would use it, and KASLR may decompress the kernel into it
  * more than $KASLR_MEMMAP_MAX memmap= reservations (#, \$, ! entries): the x86
    KASLR decompressor records only $KASLR_MEMMAP_MAX; further separate memmap=
    parameters are silently not avoided, and extra entries in one comma
    list make it give up physical randomisation.  With nokaslr this and
    the missing memmap are only warnings.
Warnings: address or size not 2 MiB aligned (recommended, huge pages),
octal numbers (leading 0), memmap= entries the kernel cannot parse.

Every problem is one line on stderr, prefixed "$PROG: error:" or
"$PROG: warning:"; stdout gets one line per region and a summary.

$EXIT_CODES_HELP
EOF
}

cmd_check() {
	local root="" cmdline="" have_cmdline=0 k j s e a found reason efimap=""
	while (($#)); do
		case $1 in
		-h | --help) help_check; exit 0 ;;
		--cmdline) need_arg check "$1" $#; cmdline=$2; have_cmdline=1; shift 2 ;;
		--cmdline=*) cmdline=${1#*=}; have_cmdline=1; shift ;;
		--root) need_arg check "$1" $#; root=$2; shift 2 ;;
		--root=*) root=${1#*=}; shift ;;
		--efi-map) need_arg check "$1" $#; efimap=$2; shift 2 ;;
		--efi-map=*) efimap=${1#*=}; shift ;;
		-*) usage_err check "check: unknown option '$1'" ;;
		*) usage_err check "check: unexpected argument '$1'" ;;
		esac
	done
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
		if ((found >= 0)); then
			printf '%s: region %d: %s = %s, in System RAM %s\n' "$PROG" "$k" "${R_TXT[k]}" \
				"$(fmt_range "$a" "$e")" "$(fmt_range "${RAM_A[found]}" "${RAM_E[found]}")"
		fi
	done
	kaslr_report error
	printf '%s: check: %d region(s), %d error(s), %d warning(s) (memory map: %s%s)\n' \
		"$PROG" "${#R_A[@]}" "$NERR" "$NWARN" "$RAM_SRC" "${efimap:+; EFI memory map: $efimap}"
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
    (DIR/proc/cmdline, when readable) and of STR (--cmdline)
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
	local root="" node="" size_txt="" cmdline="" have_cmdline=0 k i efimap=""
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

help_size() {
	cat <<EOF
Usage: $PROG size [--margin PCT] [--root DIR]

Recommend a carveout size from what the hypervisor really took.

Reads DIR/sys/kernel/mm/hvcarve/regionN/peak_deposited_pages for every
region (region0, region1, ...) and, if present, the pages that did not fit
into the carveout, DIR/sys/kernel/mm/hvcarve/overflow_pages (4 KiB pages;
DIR defaults to /).  The recommendation is

  (sum of peaks + overflow) x 4096 x (1 + PCT/100)

rounded up to a multiple of 2 MiB, at least 2 MiB.  PCT is a whole number
from 0 to 1000, default 25.  Each step of the arithmetic is printed, then
"recommended size: SIZE".

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

cmd_size() {
	local root="" margin=25 dir d name sum=0 total overflow=0 bytes withm rounded
	local -a names=() terms=()
	while (($#)); do
		case $1 in
		-h | --help) help_size; exit 0 ;;
		--margin) need_arg size "$1" $#; margin=$2; shift 2 ;;
		--margin=*) margin=${1#*=}; shift ;;
		--root) need_arg size "$1" $#; root=$2; shift 2 ;;
		--root=*) root=${1#*=}; shift ;;
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
	[[ -d $dir ]] || die "$EX_NOINPUT" "$dir is missing: is the running kernel using hvcarve?"
	while read -r name; do
		[[ -n $name ]] && names+=("$name")
	done < <(for d in "$dir"/region[0-9]*/; do
		[[ -d $d ]] || continue
		d=${d%/}
		d=${d##*/}
		[[ $d =~ ^region[0-9]+$ ]] && printf '%s %s\n' "${d#region}" "$d"
	done | sort -n | cut -d' ' -f2)
	((${#names[@]})) || die "$EX_NOINPUT" "no region directories (region0, ...) under $dir"
	for name in "${names[@]}"; do
		read_pages "$dir/$name/peak_deposited_pages"
		printf '%s: peak_deposited_pages = %d\n' "$name" "$PAGES"
		sum=$((sum + PAGES))
		terms+=("$PAGES")
	done
	if [[ -e $dir/overflow_pages ]]; then
		read_pages "$dir/overflow_pages"
		overflow=$PAGES
		printf 'overflow_pages = %d\n' "$overflow"
	else
		printf 'overflow_pages: not present, counted as 0\n'
	fi
	terms+=("$overflow")
	total=$((sum + overflow))
	printf 'pages: %s = %d\n' "$(join_by ' + ' "${terms[@]}")" "$total"
	bytes=$((total * PAGE))
	printf 'bytes: %d x %d = %d\n' "$total" "$PAGE" "$bytes"
	withm=$(((bytes * (100 + margin) + 99) / 100))
	printf 'with %d%% margin: %d x %d / 100 = %d (rounded up)\n' "$margin" "$bytes" $((100 + margin)) "$withm"
	rounded=$(((withm + ALIGN_2M - 1) / ALIGN_2M * ALIGN_2M))
	if ((rounded < ALIGN_2M)); then
		rounded=$ALIGN_2M
		printf 'raised to the 2 MiB minimum: %d\n' "$rounded"
	else
		printf 'rounded up to 2 MiB: %d (%d x 2 MiB)\n' "$rounded" $((rounded / ALIGN_2M))
	fi
	printf 'recommended size: %s\n' "$(fmt_size "$rounded")"
}

# ---------------------------------------------------------------------------
# kexec-args
# ---------------------------------------------------------------------------

help_kexec_args() {
	cat <<EOF
Usage: $PROG kexec-args KERNEL [INITRD] [--cmdline STR] [--root DIR]

Print a safe kexec command for KERNEL (and INITRD), with the command line
from "$PROG next" (from STR, or DIR/proc/cmdline, default /proc/cmdline),
quoted as one single-quoted shell word:

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
	local root="" cmdline="" have_cmdline=0 kernel="" initrd="" nargs=0
	while (($#)); do
		case $1 in
		-h | --help) help_kexec_args; exit 0 ;;
		--cmdline) need_arg kexec-args "$1" $#; cmdline=$2; have_cmdline=1; shift 2 ;;
		--cmdline=*) cmdline=${1#*=}; have_cmdline=1; shift ;;
		--root) need_arg kexec-args "$1" $#; root=$2; shift 2 ;;
		--root=*) root=${1#*=}; shift ;;
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
# main
# ---------------------------------------------------------------------------

help_main() {
	cat <<EOF
Usage: $PROG SUBCOMMAND [OPTIONS]

Manage the hvcarve= kernel parameter, the RAM carveout that the Microsoft
Hypervisor root partition keeps across kexec.  hvcarve=SIZE@ADDR[,...]
takes memparse numbers (decimal, 0x hex, 0 octal; K M G T P E suffixes), up
to $MAX_REGIONS page-aligned regions (2 MiB alignment recommended); repeated
hvcarve= parameters add up.  Every kernel also needs memmap=SIZE\$ADDR per
region.

Subcommands (each has --help):
  next        print the command line for the next kernel
  check       validate the regions against the machine's memory map
  suggest     propose hvcarve=SIZE@ADDR for a carveout of SIZE
  size        recommend a carveout size from the hvcarve statistics
  kexec-args  print a kexec command that keeps the carveout

$EXIT_CODES_HELP
EOF
}

main() {
	(($#)) || usage_err "" "a subcommand is needed"
	local sub=$1
	shift
	case $sub in
	-h | --help | help) help_main ;;
	next) cmd_next "$@" ;;
	check) cmd_check "$@" ;;
	suggest) cmd_suggest "$@" ;;
	size) cmd_size "$@" ;;
	kexec-args) cmd_kexec_args "$@" ;;
	*) usage_err "" "unknown subcommand '$sub'" ;;
	esac
}

main "$@"
