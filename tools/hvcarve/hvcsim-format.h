/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hvcsim-format.h - the page format of the simulated hypervisor
 * (drivers/hv/hv_carve_sim.c), implemented a second time, independently of
 * the kernel, for the host tools that audit carveout dumps.
 *
 * A dump is the carveout's bytes as saved by QEMU's pmemsave, starting at
 * physical address BASE (page aligned): page i of the file is page frame
 * BASE / 4096 + i.
 *
 * Every page the simulator holds starts with a 48-byte header followed by a
 * payload; all fields are 64-bit little-endian:
 *
 *   offset size field
 *        0    8 magic       "HVCSIM01" = 0x31304d4953435648
 *        8    8 pfn         page frame number of the page itself
 *       16    8 partition   partition the page was deposited for
 *       24    8 serial      deposit serial number
 *       32    8 checksum    see below
 *       40    8 tail_magic  "HVCSIMTL" = 0x4c544d4953435648
 *       48 4048 payload     506 words of xorshift64*
 *
 * Payload: seed = FNV-1a 64 of the 24 bytes at offsets 8..31 (pfn,
 * partition, serial as stored); a seed of 0 is replaced by the FNV offset
 * basis. Then for each of the 506 words, in order, with x starting at the
 * seed:
 *     x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
 *     word = x * 0x2545f4914f6cdd1d            (all mod 2^64)
 *
 * Checksum: FNV-1a 64 (offset basis 0xcbf29ce484222325, prime
 * 0x100000001b3, one byte at a time: h ^= byte; h *= prime) over bytes
 * 0..31 and then bytes 40..4095: the whole page except the checksum field.
 *
 * Classification of a page, in this order:
 *   free          neither magic valid (a withdrawn page has its 48 header
 *                 bytes zeroed; the rest of the page may hold anything)
 *   torn          exactly one of the two magics valid
 *   bad_checksum  both magics valid, checksum field wrong
 *   wrong_pfn     intact, but the pfn field names another page
 *   bad_payload   checksum right, but the payload is not the xorshift64*
 *                 stream of the header: only possible if someone recomputed
 *                 the checksum. The kernel does not check this (it would
 *                 count the page as held); these tools count it as
 *                 corrupted.
 *   held          everything checks out
 * torn, bad_checksum, wrong_pfn and bad_payload are "corrupted".
 */
#ifndef HVCSIM_FORMAT_H
#define HVCSIM_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HVCSIM_PAGE_SIZE	4096u
#define HVCSIM_PAGE_SHIFT	12

#define HVCSIM_MAGIC		0x31304d4953435648ULL	/* "HVCSIM01" */
#define HVCSIM_TAIL_MAGIC	0x4c544d4953435648ULL	/* "HVCSIMTL" */

/* Header field offsets */
#define HVCSIM_OFF_MAGIC	0u
#define HVCSIM_OFF_PFN		8u
#define HVCSIM_OFF_PARTITION	16u
#define HVCSIM_OFF_SERIAL	24u
#define HVCSIM_OFF_CHECKSUM	32u
#define HVCSIM_OFF_TAIL_MAGIC	40u
#define HVCSIM_HEADER_SIZE	48u
#define HVCSIM_PAYLOAD_WORDS	((HVCSIM_PAGE_SIZE - HVCSIM_HEADER_SIZE) / 8u)

/* FNV-1a 64 */
#define HVCSIM_FNV_OFFSET	0xcbf29ce484222325ULL
#define HVCSIM_FNV_PRIME	0x100000001b3ULL

/* xorshift64* (Vigna): shifts and multiplier */
#define HVCSIM_XS_A		12
#define HVCSIM_XS_B		25
#define HVCSIM_XS_C		27
#define HVCSIM_XS_MULT		0x2545f4914f6cdd1dULL

enum hvcsim_class {
	HVCSIM_FREE,
	HVCSIM_HELD,
	HVCSIM_TORN,
	HVCSIM_BAD_CHECKSUM,
	HVCSIM_WRONG_PFN,
	HVCSIM_BAD_PAYLOAD,
};

static inline const char *hvcsim_class_name(enum hvcsim_class c)
{
	switch (c) {
	case HVCSIM_FREE:		return "free";
	case HVCSIM_HELD:		return "held";
	case HVCSIM_TORN:		return "torn";
	case HVCSIM_BAD_CHECKSUM:	return "bad_checksum";
	case HVCSIM_WRONG_PFN:		return "wrong_pfn";
	case HVCSIM_BAD_PAYLOAD:	return "bad_payload";
	}
	return "?";
}

static inline int hvcsim_class_corrupted(enum hvcsim_class c)
{
	return c != HVCSIM_FREE && c != HVCSIM_HELD;
}

/* Byte-order independent 64-bit little-endian access. */
static inline uint64_t hvcsim_get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static inline void hvcsim_put_le64(unsigned char *p, uint64_t v)
{
	unsigned int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t hvcsim_fnv1a(uint64_t h, const unsigned char *p,
				    size_t len)
{
	while (len--) {
		h ^= *p++;
		h *= HVCSIM_FNV_PRIME;
	}
	return h;
}

/* FNV-1a 64 over the page without its checksum field. */
static inline uint64_t hvcsim_checksum(const unsigned char *page)
{
	uint64_t h = hvcsim_fnv1a(HVCSIM_FNV_OFFSET, page, HVCSIM_OFF_CHECKSUM);

	return hvcsim_fnv1a(h, page + HVCSIM_OFF_TAIL_MAGIC,
			    HVCSIM_PAGE_SIZE - HVCSIM_OFF_TAIL_MAGIC);
}

/* Seed of the payload stream: FNV-1a 64 of header bytes 8..31. */
static inline uint64_t hvcsim_payload_seed(const unsigned char *page)
{
	uint64_t x = hvcsim_fnv1a(HVCSIM_FNV_OFFSET, page + HVCSIM_OFF_PFN,
				  HVCSIM_OFF_CHECKSUM - HVCSIM_OFF_PFN);

	return x ? x : HVCSIM_FNV_OFFSET;
}

static inline uint64_t hvcsim_xorshift(uint64_t *x)
{
	uint64_t s = *x;

	s ^= s >> HVCSIM_XS_A;
	s ^= s << HVCSIM_XS_B;
	s ^= s >> HVCSIM_XS_C;
	*x = s;
	return s * HVCSIM_XS_MULT;
}

/* Write the payload that the header of @page calls for. */
static inline void hvcsim_fill_payload(unsigned char *page)
{
	uint64_t x = hvcsim_payload_seed(page);
	unsigned int i;

	for (i = 0; i < HVCSIM_PAYLOAD_WORDS; i++)
		hvcsim_put_le64(page + HVCSIM_HEADER_SIZE + 8 * i,
				hvcsim_xorshift(&x));
}

/* Does the payload of @page match the stream its header calls for? */
static inline int hvcsim_payload_ok(const unsigned char *page)
{
	uint64_t x = hvcsim_payload_seed(page);
	unsigned int i;

	for (i = 0; i < HVCSIM_PAYLOAD_WORDS; i++)
		if (hvcsim_get_le64(page + HVCSIM_HEADER_SIZE + 8 * i) !=
		    hvcsim_xorshift(&x))
			return 0;
	return 1;
}

/* A page held for @partition, exactly as the kernel simulator writes it. */
static inline void hvcsim_write_page(unsigned char *page, uint64_t pfn,
				     uint64_t partition, uint64_t serial)
{
	memset(page, 0, HVCSIM_HEADER_SIZE);
	hvcsim_put_le64(page + HVCSIM_OFF_MAGIC, HVCSIM_MAGIC);
	hvcsim_put_le64(page + HVCSIM_OFF_PFN, pfn);
	hvcsim_put_le64(page + HVCSIM_OFF_PARTITION, partition);
	hvcsim_put_le64(page + HVCSIM_OFF_SERIAL, serial);
	hvcsim_put_le64(page + HVCSIM_OFF_TAIL_MAGIC, HVCSIM_TAIL_MAGIC);
	hvcsim_fill_payload(page);
	hvcsim_put_le64(page + HVCSIM_OFF_CHECKSUM, hvcsim_checksum(page));
}

/* Classify @page, which sits at page frame @pfn. */
static inline enum hvcsim_class hvcsim_classify(const unsigned char *page,
						uint64_t pfn)
{
	int head = hvcsim_get_le64(page + HVCSIM_OFF_MAGIC) == HVCSIM_MAGIC;
	int tail = hvcsim_get_le64(page + HVCSIM_OFF_TAIL_MAGIC) ==
		   HVCSIM_TAIL_MAGIC;

	if (!head && !tail)
		return HVCSIM_FREE;
	if (head != tail)
		return HVCSIM_TORN;
	if (hvcsim_get_le64(page + HVCSIM_OFF_CHECKSUM) != hvcsim_checksum(page))
		return HVCSIM_BAD_CHECKSUM;
	if (hvcsim_get_le64(page + HVCSIM_OFF_PFN) != pfn)
		return HVCSIM_WRONG_PFN;
	if (!hvcsim_payload_ok(page))
		return HVCSIM_BAD_PAYLOAD;
	return HVCSIM_HELD;
}

#endif /* HVCSIM_FORMAT_H */
