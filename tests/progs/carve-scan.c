// SPDX-License-Identifier: GPL-2.0
/*
 * carve-scan: look for copies of carveout pages in a memory dump, on the
 * host (kdump.bats).
 *
 *   carve-scan FILE BASE SIZE
 *
 * FILE is any memory dump (say, of the crash kernel's RAM). A copy of a
 * page the simulated hypervisor holds (drivers/hv/hv_carve_sim.c) starts
 * with its header: "HVCSIM01", the page's own pfn (64-bit little endian),
 * partition, serial, checksum, "HVCSIMTL". Every byte offset of FILE is
 * tried (a copy in a file need not be page aligned), and a header whose
 * pfn lies in [BASE, BASE + SIZE) counts: that memory held a carveout
 * page's first 48 bytes. A header naming any other pfn is a held ordinary
 * page (an overflow deposit), or a copy of one. Prints
 *
 *   copies N distinct M other K
 *
 * (N headers found, naming M different carveout pfns; K headers naming a
 * pfn outside the carveout). Exit 0, or 2 on a usage or I/O error.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR 48

static uint64_t le64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || !*s || *end) {
		fprintf(stderr, "carve-scan: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	uint64_t base, size, first, npfn, copies = 0, distinct = 0, other = 0, pfn;
	unsigned char *seen, *buf;
	size_t len, cap = 1 << 20, i;
	FILE *f;

	if (argc != 4) {
		fprintf(stderr, "usage: carve-scan FILE BASE SIZE\n");
		return 2;
	}
	base = num(argv[2]);
	size = num(argv[3]);
	if (base % 4096 || size % 4096 || !size) {
		fprintf(stderr, "carve-scan: BASE and SIZE must be non-zero multiples of 4096\n");
		return 2;
	}
	first = base >> 12;
	npfn = size >> 12;
	f = fopen(argv[1], "rb");
	if (!f) {
		fprintf(stderr, "carve-scan: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	seen = calloc(npfn, 1);
	buf = malloc(cap);
	if (!seen || !buf) {
		fprintf(stderr, "carve-scan: out of memory\n");
		return 2;
	}
	len = 0;
	for (;;) {
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf) {
				fprintf(stderr, "carve-scan: out of memory\n");
				return 2;
			}
		}
		i = fread(buf + len, 1, cap - len, f);
		if (!i)
			break;
		len += i;
	}
	if (ferror(f)) {
		fprintf(stderr, "carve-scan: %s: read error\n", argv[1]);
		return 2;
	}
	fclose(f);
	for (i = 0; len >= HDR && i <= len - HDR; i++) {
		if (buf[i] != 'H' || memcmp(buf + i, "HVCSIM01", 8) ||
		    memcmp(buf + i + 40, "HVCSIMTL", 8))
			continue;
		pfn = le64(buf + i + 8);
		if (pfn < first || pfn - first >= npfn) {
			other++;
			continue;
		}
		copies++;
		if (!seen[pfn - first]) {
			seen[pfn - first] = 1;
			distinct++;
		}
	}
	printf("copies %llu distinct %llu other %llu\n",
	       (unsigned long long)copies, (unsigned long long)distinct,
	       (unsigned long long)other);
	return 0;
}
