/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The hvcarve= parser. The kernel (arch/x86/kernel/hvcarve.c), the x86
 * EFI stub (drivers/firmware/efi/libstub/x86-stub.c) and the
 * administrator's tool (tools/hvcarve/hvcarve-parse.c, which
 * scripts/hvcarve-cmdline.sh calls) compile this very file, and so does
 * the x86 decompressor (arch/x86/boot/compressed/kaslr.c), the way the
 * x86 boot code includes the kernel's own helpers, so that they cannot
 * disagree about what is accepted.
 *
 * It is static code that needs nothing but u64, bool, NULL and the errno
 * values EINVAL, ERANGE and E2BIG; the includer provides them (the kernel
 * through <linux/types.h> and <linux/errno.h>). Nothing here allocates,
 * sleeps or touches global state.
 */
#ifndef _LINUX_HVCARVE_PARSE_H
#define _LINUX_HVCARVE_PARSE_H

/* Regions one carveout may have, over all hvcarve= parameters. */
#define HVCARVE_MAX_REGIONS	8

/*
 * Longest number accepted, prefix included: "0x" and 16 hex digits, or 20
 * decimal or octal digits (more is taken as too large).
 */
#define HVCARVE_NUM_MAX_LEN	20

/* memparse()'s binary suffixes, in order: each is 2^10 times the last. */
#define HVCARVE_SUFFIXES	"KMGTPE"
#define HVCARVE_SUFFIX_SHIFT	10

/* U64_MAX, which the tool's C library does not have. */
#define HVCARVE_U64_MAX		((u64)~(u64)0)

/*
 * The end of the largest x86-64 physical address space (5-level paging:
 * MAX_PHYSMEM_BITS is 52). The x86 boot code (the EFI stub and the
 * decompressor) checks regions against it, since it does not know yet
 * which paging mode the kernel will run in; the kernel checks its own.
 */
#define HVCARVE_X86_BOOT_PHYS_LIMIT	((u64)1 << 52)

/**
 * struct hvcarve_range - one physical range named by hvcarve=
 * @base: physical start address, page aligned
 * @size: length in bytes, a multiple of the page size
 */
struct hvcarve_range {
	u64 base;
	u64 size;
};

/* Do [@base1, @base1 + @size1) and [@base2, @base2 + @size2) overlap? */
static inline bool hvcarve_overlap(u64 base1, u64 size1, u64 base2, u64 size2)
{
	return base1 < base2 + size2 && base2 < base1 + size1;
}

/* The value of digit @c in @base, or -1. */
static inline int hvcarve_digit(char c, unsigned int base)
{
	int v;

	if (c >= '0' && c <= '9')
		v = c - '0';
	else if (c >= 'a' && c <= 'f')
		v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		v = c - 'A' + 10;
	else
		return -1;
	return v < (int)base ? v : -1;
}

/*
 * Parse one memparse()-style number at @s ("64M", "0x3a000000", "1G"): a
 * "0x" prefix means hex, a leading 0 octal (as kstrtoull() with base 0),
 * an optional K, M, G, T, P or E (either case) multiplies by a power of
 * 2^10. *@end is left after it. Unlike memparse(), a value that does not
 * fit in 64 bits is an error.
 *
 * Return: 0, -EINVAL if there is no number or a digit is not one of its
 * base, -ERANGE if it does not fit in 64 bits.
 */
static inline int hvcarve_parse_num(const char *s, const char **end, u64 *val)
{
	const char *p = s, *digits, *suffix;
	unsigned int base = 10, shift;
	u64 v = 0, lim, rem;
	int d;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	} else if (p[0] == '0') {
		base = 8;
	}
	digits = p;
	/* The characters of the number: hex digits after "0x", else 0-9. */
	while (hvcarve_digit(*p, 16) >= 0 && (base == 16 || (*p >= '0' && *p <= '9')))
		p++;
	if (p == digits)
		return -EINVAL;
	if (p - s > HVCARVE_NUM_MAX_LEN)
		return -ERANGE;
	/*
	 * v * base + d fits if v < lim, or v == lim and d <= rem. No 64-bit
	 * division by a variable: the x86-32 boot code has no libgcc.
	 */
	lim = base == 16 ? HVCARVE_U64_MAX >> 4 :
	      base == 8 ? HVCARVE_U64_MAX >> 3 : HVCARVE_U64_MAX / 10;
	rem = HVCARVE_U64_MAX - lim * base;
	for (; digits < p; digits++) {
		d = hvcarve_digit(*digits, base);
		if (d < 0)
			return -EINVAL;
		if (v > lim || (v == lim && (u64)d > rem))
			return -ERANGE;
		v = v * base + (u64)d;
	}
	for (suffix = HVCARVE_SUFFIXES; *p && *suffix; suffix++) {
		if (*p == *suffix || *p == *suffix - 'A' + 'a')
			break;
	}
	if (*p && *suffix) {
		shift = (unsigned int)(suffix - HVCARVE_SUFFIXES + 1) *
			HVCARVE_SUFFIX_SHIFT;
		if (v > (HVCARVE_U64_MAX >> shift))
			return -ERANGE;
		v <<= shift;
		p++;
	}
	*end = p;
	*val = v;
	return 0;
}

/**
 * hvcarve_parse_value() - parse the value of one hvcarve= parameter
 * @str: the text after "hvcarve=", e.g. "64M@0x3a000000,32M@2G"
 * @ranges: table of HVCARVE_MAX_REGIONS entries to append to
 * @nr: number of entries already in @ranges; updated on success. On
 *	failure it is the index of the element that was rejected.
 * @page_size: the page size every size and address must be a multiple of
 *	(a power of two)
 * @phys_limit: the end of the physical address space; no region may go
 *	beyond it
 * @reason: set to a static description of the problem on failure
 *
 * Each element is size@address in memparse() notation. Sizes and addresses
 * must be multiples of @page_size, sizes non-zero, regions inside the
 * physical address space, and the new ranges may overlap neither each other
 * nor the ones already in @ranges: hvcarve= may be given more than once,
 * and all of them together make one carveout. Nothing is appended unless
 * the whole string is valid.
 *
 * Return: 0 on success, -EINVAL for a malformed or unsafe element, -E2BIG
 * when the table would hold more than HVCARVE_MAX_REGIONS ranges.
 */
static inline int hvcarve_parse_value(const char *str,
				      struct hvcarve_range *ranges,
				      unsigned int *nr, u64 page_size,
				      u64 phys_limit, const char **reason)
{
	unsigned int n = *nr, i;
	const char *p = str;
	int ret;

	if (!str || !*str) {
		*reason = "empty parameter, expected size@address[,size@address...]";
		return -EINVAL;
	}

	for (;;) {
		struct hvcarve_range r;

		if (n >= HVCARVE_MAX_REGIONS) {
			*nr = n;
			/* HVCARVE_MAX_REGIONS */
			*reason = "more than 8 regions";
			return -E2BIG;
		}
		*nr = n;
		if (*p == ',' || !*p) {
			*reason = "empty region, expected size@address";
			return -EINVAL;
		}
		if (*p == '@') {
			*reason = "missing size before '@'";
			return -EINVAL;
		}
		ret = hvcarve_parse_num(p, &p, &r.size);
		if (ret) {
			*reason = ret == -ERANGE ? "size does not fit in 64 bits" :
				  "size is not a number";
			return -EINVAL;
		}
		if (*p != '@') {
			*reason = *p && *p != ',' ? "garbage after the size" :
				  "missing '@address' after the size";
			return -EINVAL;
		}
		p++;
		if (!*p || *p == ',') {
			*reason = "missing address after '@'";
			return -EINVAL;
		}
		ret = hvcarve_parse_num(p, &p, &r.base);
		if (ret) {
			*reason = ret == -ERANGE ? "address does not fit in 64 bits" :
				  "address is not a number";
			return -EINVAL;
		}
		if (*p && *p != ',') {
			*reason = "garbage after the address";
			return -EINVAL;
		}
		if (!r.size) {
			*reason = "size is zero";
			return -EINVAL;
		}
		if (r.size & (page_size - 1)) {
			*reason = "size is not a multiple of the page size";
			return -EINVAL;
		}
		if (r.base & (page_size - 1)) {
			*reason = "address is not page aligned";
			return -EINVAL;
		}
		if (r.base + r.size < r.base) {
			*reason = "size + address overflows";
			return -EINVAL;
		}
		if (r.base + r.size > phys_limit) {
			*reason = "region ends beyond the physical address space";
			return -EINVAL;
		}
		for (i = 0; i < n; i++) {
			if (hvcarve_overlap(r.base, r.size, ranges[i].base,
					    ranges[i].size)) {
				*reason = "region overlaps another hvcarve region";
				return -EINVAL;
			}
		}
		ranges[n++] = r;
		if (!*p)
			break;
		p++;
	}
	*nr = n;
	return 0;
}

#endif /* _LINUX_HVCARVE_PARSE_H */
