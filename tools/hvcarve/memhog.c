// SPDX-License-Identifier: GPL-2.0
/*
 * memhog - fill most of a guest's free memory with a checkable pattern.
 *
 *   memhog [PCT] [--seed N] [--min MINPCT]
 *
 * Reads MemAvailable from /proc/meminfo and maps PCT percent of it (1..100,
 * default 90) anonymously, in chunks of 64 MiB. Every byte of every page is
 * written with a seeded xorshift64 stream (each page has a stream of its
 * own, so pages that alias each other are caught too), then everything is
 * read back and compared. Prints
 *
 *   memhog: touched N KiB (PCT% of MemAvailable), verified
 *
 * or, when it had to stop early,
 *
 *   memhog: touched N KiB (R% of MemAvailable; wanted PCT%, stopped: WHY), verified
 *
 * It must not be killed by the OOM killer in a small guest without swap:
 * before each chunk it reads MemAvailable again and stops when the chunk
 * would leave less than a reserve; a failed mmap (ENOMEM) or a SIGBUS
 * while touching a chunk also stops it, keeping what it reached.
 *
 * With --min MINPCT it also prints a second line with the numbers, for a
 * caller (the test host) to check on its own:
 *
 *   memhog: available_kib A touched_kib T min_pct MINPCT
 *
 * (A is the MemAvailable read at the start, T the KiB touched and read back)
 * and fails unless T is at least MINPCT percent of A: a run that stopped
 * early, or barely started, never passes as memory pressure.
 *
 * Exit: 0 verified, 1 a page did not read back what was written (memory
 * corruption), 2 usage error or /proc/meminfo unreadable, 4 verified but
 * below the --min floor.
 *
 * Built statically (the guest userspace is busybox only).
 */
#define _DEFAULT_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHUNK		(64ULL << 20)
/* MemAvailable left alone, on top of what PCT leaves */
#define RESERVE		(16ULL << 20)
#define MAX_CHUNKS	4096	/* 256 GiB */
#define DEFAULT_SEED	0x9e3779b97f4a7c15ULL

struct chunk {
	unsigned char *p;
	uint64_t len;
};

static struct chunk chunks[MAX_CHUNKS];
static sigjmp_buf bus_jmp;
static volatile sig_atomic_t touching;

static void on_sigbus(int sig)
{
	(void)sig;
	if (touching)
		siglongjmp(bus_jmp, 1);
	_exit(3);
}

static void usage(const char *msg)
{
	fprintf(stderr, "memhog: %s\nusage: memhog [PCT] [--seed N] [--min MINPCT]\n"
		"  PCT: percent of MemAvailable to fill, 1..100 (default 90)\n"
		"  MINPCT: fail (exit 4) unless at least MINPCT percent of\n"
		"          MemAvailable was touched and verified, 1..PCT\n",
		msg);
	exit(2);
}

static int parse_u64(const char *s, uint64_t *out)
{
	int base = 10;
	char *end;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, base);
	return errno || *end ? -1 : 0;
}

/* MemAvailable in bytes; 0 if /proc/meminfo has no such line. */
static uint64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	unsigned long long kib;
	uint64_t avail = 0, memfree = 0;

	if (!f) {
		fprintf(stderr, "memhog: /proc/meminfo: %s\n", strerror(errno));
		exit(2);
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			avail = (uint64_t)kib * 1024;
		else if (sscanf(line, "MemFree: %llu kB", &kib) == 1)
			memfree = (uint64_t)kib * 1024;
	}
	fclose(f);
	return avail ? avail : memfree;
}

/* The pattern word @i of page @page: xorshift64 seeded per page. */
static inline uint64_t page_seed(uint64_t seed, uint64_t page)
{
	/* splitmix64 of seed + page: distinct, well mixed, never 0 below */
	uint64_t z = seed + (page + 1) * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return z ? z : DEFAULT_SEED;
}

static inline uint64_t xs_next(uint64_t *x)
{
	uint64_t s = *x;

	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	*x = s;
	return s;
}

static void fill_page(uint64_t *w, size_t words, uint64_t seed,
		      uint64_t page)
{
	uint64_t x = page_seed(seed, page);
	size_t i;

	for (i = 0; i < words; i++)
		w[i] = xs_next(&x);
}

/* Index of the first wrong word, or @words if the page is intact. */
static size_t check_page(const uint64_t *w, size_t words, uint64_t seed,
			 uint64_t page)
{
	uint64_t x = page_seed(seed, page);
	size_t i;

	for (i = 0; i < words; i++)
		if (w[i] != xs_next(&x))
			return i;
	return words;
}

/* Fill a fresh chunk; -1 if touching it raised SIGBUS. */
static int touch_chunk(unsigned char *p, uint64_t len, uint64_t pagesz,
		       uint64_t seed, uint64_t first_page)
{
	uint64_t off;

	if (sigsetjmp(bus_jmp, 1)) {
		touching = 0;
		return -1;
	}
	touching = 1;
	for (off = 0; off < len; off += pagesz)
		fill_page((uint64_t *)(p + off), (size_t)(pagesz / 8), seed,
			  first_page + off / pagesz);
	touching = 0;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t pct = 90, seed = DEFAULT_SEED, avail, target, done = 0;
	uint64_t min_pct = 0;
	uint64_t pagesz, page_no = 0, bad = 0;
	const char *why = NULL;
	struct sigaction sa;
	int have_pct = 0, nchunks = 0, i;
	long ps = sysconf(_SC_PAGESIZE);

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--seed") || !strncmp(a, "--seed=", 7)) {
			const char *v = a[6] == '=' ? a + 7 : argv[++i];

			if (!v || parse_u64(v, &seed))
				usage("--seed needs a number");
		} else if (!strcmp(a, "--min") || !strncmp(a, "--min=", 6)) {
			const char *v = a[5] == '=' ? a + 6 : argv[++i];

			if (!v || parse_u64(v, &min_pct) || min_pct < 1 ||
			    min_pct > 100)
				usage("--min needs a number in 1..100");
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			printf("usage: memhog [PCT] [--seed N] [--min MINPCT]\n");
			return 0;
		} else if (a[0] == '-') {
			usage("unknown option");
		} else if (!have_pct) {
			if (parse_u64(a, &pct) || pct < 1 || pct > 100)
				usage("PCT must be a number in 1..100");
			have_pct = 1;
		} else {
			usage("too many arguments");
		}
	}
	if (min_pct > pct)
		usage("--min must not be above PCT");
	pagesz = ps > 0 ? (uint64_t)ps : 4096;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);

	avail = mem_available();
	if (!avail) {
		fprintf(stderr, "memhog: no MemAvailable in /proc/meminfo\n");
		return 2;
	}
	target = avail / 100 * pct / pagesz * pagesz;

	while (done < target) {
		uint64_t len = target - done < CHUNK ? target - done : CHUNK;
		uint64_t now = done ? mem_available() : avail;
		void *p;

		if (nchunks == MAX_CHUNKS) {
			why = "too many chunks";
			break;
		}
		if (now < len + RESERVE) {
			why = "MemAvailable ran low";
			break;
		}
		p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED) {
			why = "mmap failed";
			break;
		}
		if (touch_chunk(p, len, pagesz, seed, page_no)) {
			munmap(p, (size_t)len);
			why = "SIGBUS";
			break;
		}
		chunks[nchunks].p = p;
		chunks[nchunks].len = len;
		nchunks++;
		page_no += len / pagesz;
		done += len;
	}

	page_no = 0;
	for (i = 0; i < nchunks; i++) {
		uint64_t off;

		for (off = 0; off < chunks[i].len; off += pagesz, page_no++) {
			size_t w = check_page((const uint64_t *)(chunks[i].p + off),
					      (size_t)(pagesz / 8), seed,
					      page_no);

			if (w == pagesz / 8)
				continue;
			if (!bad++)
				fprintf(stderr,
					"memhog: page %" PRIu64 " (chunk %d, %p) differs at byte %zu: MEMORY CORRUPTION\n",
					page_no, i, (void *)(chunks[i].p + off),
					w * 8);
		}
		munmap(chunks[i].p, (size_t)chunks[i].len);
	}
	if (bad) {
		printf("memhog: touched %" PRIu64 " KiB, %" PRIu64
		       " pages CORRUPTED\n", done / 1024, bad);
		return 1;
	}
	if (!why)
		printf("memhog: touched %" PRIu64 " KiB (%" PRIu64
		       "%% of MemAvailable), verified\n", done / 1024, pct);
	else
		printf("memhog: touched %" PRIu64 " KiB (%" PRIu64
		       "%% of MemAvailable; wanted %" PRIu64
		       "%%, stopped: %s), verified\n", done / 1024,
		       done * 100 / avail, pct, why);
	if (!min_pct)
		return 0;
	printf("memhog: available_kib %" PRIu64 " touched_kib %" PRIu64
	       " min_pct %" PRIu64 "\n", avail / 1024, done / 1024, min_pct);
	/* The target's own rounding: a full run of --min PCT passes. */
	if (done < avail / 100 * min_pct / pagesz * pagesz) {
		fprintf(stderr, "memhog: touched %" PRIu64 " KiB, below the floor of %" PRIu64
			"%% of %" PRIu64 " KiB available\n", done / 1024,
			min_pct, avail / 1024);
		return 4;
	}
	return 0;
}
