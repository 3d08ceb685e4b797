// SPDX-License-Identifier: GPL-2.0
/*
 * hvcsim-model: a second, deliberately independent implementation of the
 * simulated hypervisor's page format, for tests/bats/tools.bats to check
 * tools/hvcarve/hvcarve-dump against. It is written from the format text
 * at the top of drivers/hv/hv_carve_sim.c only (it does not include or
 * follow tools/hvcarve/hvcsim-format.h), and it works on bytes: every
 * 64-bit field is assembled and stored little-endian by hand, whatever the
 * host's byte order.
 *
 *   hvcsim-model page OUT PAGES BASE [IDX:PARTITION:SERIAL]...
 *       write a dump of PAGES pages at physical address BASE, all zero but
 *       the pages IDX, which hold a deposit of PARTITION with SERIAL
 *   hvcsim-model decode BASE DUMP
 *       classify every page and print the counts the way
 *       "hvcarve-dump decode" does
 *
 * Numbers are decimal or 0x hex. Exit 0, or 2 on a usage or I/O error.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 4096u

/* From the format text. */
static const uint64_t MAGIC = 0x31304d4953435648ull;	/* "HVCSIM01" */
static const uint64_t TAIL = 0x4c544d4953435648ull;	/* "HVCSIMTL" */
static const uint64_t FNV_BASIS = 0xcbf29ce484222325ull;
static const uint64_t FNV_PRIME = 0x100000001b3ull;
static const uint64_t XS_MULT = 0x2545f4914f6cdd1dull;

static void die(const char *what)
{
	fprintf(stderr, "hvcsim-model: %s\n", what);
	exit(2);
}

static uint64_t number(const char *s)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-')
		die("bad number");
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

/* FNV-1a 64: h ^= byte; h *= prime, one byte at a time. */
static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
	while (n--) {
		h ^= *p++;
		h *= FNV_PRIME;
	}
	return h;
}

/* The whole page but the checksum: bytes 0-31, then 40-4095. */
static uint64_t page_checksum(const unsigned char *pg)
{
	return fnv1a(fnv1a(FNV_BASIS, pg, 32), pg + 40, PAGE - 40);
}

/* The 506 payload words, from the 24 bytes at offsets 8-31 of PG. */
static void payload(const unsigned char *pg, unsigned char *out)
{
	uint64_t x = fnv1a(FNV_BASIS, pg + 8, 24);
	int w;

	if (!x)
		x = FNV_BASIS;
	for (w = 0; w < 506; w++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		put64(out + 8 * w, x * XS_MULT);
	}
}

static void make_page(unsigned char *pg, uint64_t pfn, uint64_t part, uint64_t serial)
{
	memset(pg, 0, PAGE);
	put64(pg, MAGIC);
	put64(pg + 8, pfn);
	put64(pg + 16, part);
	put64(pg + 24, serial);
	put64(pg + 40, TAIL);
	payload(pg, pg + 48);
	put64(pg + 32, page_checksum(pg));
}

enum kind { FREE, TORN, BAD_CHECKSUM, WRONG_PFN, BAD_PAYLOAD, HELD, KINDS };

static enum kind classify(const unsigned char *pg, uint64_t pfn)
{
	static unsigned char want[PAGE - 48];
	int head = get64(pg) == MAGIC, tail = get64(pg + 40) == TAIL;

	if (!head && !tail)
		return FREE;
	if (head != tail)
		return TORN;
	if (get64(pg + 32) != page_checksum(pg))
		return BAD_CHECKSUM;
	if (get64(pg + 8) != pfn)
		return WRONG_PFN;
	payload(pg, want);
	if (memcmp(pg + 48, want, sizeof(want)))
		return BAD_PAYLOAD;
	return HELD;
}

static int cmd_page(int argc, char **argv)
{
	uint64_t pages, base, i;
	unsigned char *dump;
	FILE *f;
	int a;

	if (argc < 5)
		die("usage: page OUT PAGES BASE [IDX:PARTITION:SERIAL]...");
	pages = number(argv[3]);
	base = number(argv[4]);
	if (!pages || pages > (1u << 20))
		die("PAGES out of range");
	dump = calloc(pages, PAGE);
	if (!dump)
		die("out of memory");
	for (a = 5; a < argc; a++) {
		char *spec = argv[a], *c1 = strchr(spec, ':'), *c2;

		if (!c1 || !(c2 = strchr(c1 + 1, ':')))
			die("want IDX:PARTITION:SERIAL");
		*c1 = *c2 = '\0';
		i = number(spec);
		if (i >= pages)
			die("IDX outside the dump");
		make_page(dump + i * PAGE, base / PAGE + i, number(c1 + 1), number(c2 + 1));
	}
	f = fopen(argv[2], "wb");
	if (!f || fwrite(dump, PAGE, pages, f) != pages || fclose(f))
		die("cannot write OUT");
	free(dump);
	return 0;
}

struct part {
	uint64_t id, n;
};

static int by_id(const void *a, const void *b)
{
	uint64_t x = ((const struct part *)a)->id, y = ((const struct part *)b)->id;

	return x < y ? -1 : x > y;
}

static int cmd_decode(int argc, char **argv)
{
	static unsigned char pg[PAGE];
	uint64_t base, count[KINDS] = { 0 }, pages = 0, max_serial = 0, i;
	struct part *parts = NULL;
	size_t nparts = 0, k;
	FILE *f;

	if (argc != 4)
		die("usage: decode BASE DUMP");
	base = number(argv[2]);
	f = fopen(argv[3], "rb");
	if (!f)
		die("cannot open DUMP");
	while (fread(pg, PAGE, 1, f) == 1) {
		enum kind c = classify(pg, base / PAGE + pages);

		pages++;
		count[c]++;
		if (c != HELD)
			continue;
		if (get64(pg + 24) > max_serial)
			max_serial = get64(pg + 24);
		for (k = 0; k < nparts && parts[k].id != get64(pg + 16); k++)
			;
		if (k == nparts) {
			parts = realloc(parts, ++nparts * sizeof(*parts));
			if (!parts)
				die("out of memory");
			parts[k].id = get64(pg + 16);
			parts[k].n = 0;
		}
		parts[k].n++;
	}
	fclose(f);
	qsort(parts, nparts, sizeof(*parts), by_id);
	printf("pages %llu\nheld %llu\nfree %llu\n", (unsigned long long)pages,
	       (unsigned long long)count[HELD], (unsigned long long)count[FREE]);
	for (k = 0; k < nparts; k++)
		printf("partition %llu %llu\n", (unsigned long long)parts[k].id,
		       (unsigned long long)parts[k].n);
	i = count[TORN] + count[BAD_CHECKSUM] + count[WRONG_PFN] + count[BAD_PAYLOAD];
	printf("corrupted %llu\ntorn %llu\nbad_checksum %llu\nwrong_pfn %llu\n"
	       "bad_payload %llu\nmax_serial %llu\n", (unsigned long long)i,
	       (unsigned long long)count[TORN], (unsigned long long)count[BAD_CHECKSUM],
	       (unsigned long long)count[WRONG_PFN], (unsigned long long)count[BAD_PAYLOAD],
	       (unsigned long long)max_serial);
	free(parts);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "page"))
		return cmd_page(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "decode"))
		return cmd_decode(argc, argv);
	die("usage: hvcsim-model page OUT PAGES BASE [IDX:PARTITION:SERIAL]... | decode BASE DUMP");
	return 2;
}
