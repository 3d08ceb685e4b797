// SPDX-License-Identifier: GPL-2.0
/*
 * hvcarve-dump - audit dumps of an hvcarve carveout, as saved from the host
 * with QEMU's pmemsave, without trusting the kernel that wrote them.
 *
 * The page format and the classification are in hvcsim-format.h; this is
 * an implementation of its own, sharing no code with the kernel.
 *
 *   hvcarve-dump decode    --base ADDR DUMP [--json | --list]
 *   hvcarve-dump diff      --base ADDR A B [--max N]
 *   hvcarve-dump held-kept --base ADDR BEFORE AFTER [--max N]
 *                          [--expect-held N]
 *   hvcarve-dump map       --base ADDR DUMP [--width W] [--per-cell N]
 *   hvcarve-dump forge     --base ADDR --pages N OUT
 *                          [--hold IDX[-IDX]:PARTITION:SERIAL]...
 *                          [--corrupt IDX:torn|checksum|pfn|payload]...
 *
 * held-kept checks that every page held in BEFORE is byte-identical in
 * AFTER. A BEFORE that holds nothing proves nothing, so it is a finding;
 * --expect-held N also makes any count in BEFORE other than N one (the
 * caller knows how many pages its scenario deposited).
 *
 * Exit status: 0 all well, 1 findings (corrupted pages, differences, held
 * pages lost, BEFORE empty or holding the wrong number), 2 usage or I/O
 * error.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hvcsim-format.h"

#define PROG		"hvcarve-dump"
#define EXIT_FINDINGS	1
#define EXIT_USAGE	2

/* Pages read from a dump at a time */
#define CHUNK_PAGES	256u
/* Default number of offenders listed by diff and held-kept */
#define DEFAULT_MAX	10u
/* Corrupted pages named on stderr by decode and map */
#define NAME_CORRUPTED	10u
/* Rows the map aims for when it picks the pages per cell */
#define MAP_ROWS	16u
/* Largest forged dump: 16 GiB */
#define FORGE_MAX_PAGES	(1ULL << 22)

static const char usage_text[] =
	"usage: " PROG " decode    --base ADDR DUMP [--json | --list]\n"
	"       " PROG " diff      --base ADDR A B [--max N]\n"
	"       " PROG " held-kept --base ADDR BEFORE AFTER [--max N] [--expect-held N]\n"
	"       " PROG " map       --base ADDR DUMP [--width W] [--per-cell N]\n"
	"       " PROG " forge     --base ADDR --pages N OUT\n"
	"                              [--hold IDX[-IDX]:PARTITION:SERIAL]...\n"
	"                              [--corrupt IDX:torn|checksum|pfn|payload]...\n"
	"ADDR and numbers: decimal or 0x hex. Exit: 0 ok, 1 findings, 2 usage or I/O error.\n";

static const char *cmd_name = NULL;

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": %s%s", cmd_name ? cmd_name : "",
		cmd_name ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage_text);
	exit(EXIT_USAGE);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
io_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_USAGE);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		io_error("out of memory");
	return p;
}

/* Decimal or 0x hex, nothing else; returns 0 on success. */
static int parse_u64(const char *s, uint64_t *out)
{
	const char *digits = s;
	char *end;
	int base = 10;
	unsigned long long v;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		digits = s + 2;
	}
	if (!(*digits >= '0' && *digits <= '9') &&
	    !(base == 16 && ((*digits >= 'a' && *digits <= 'f') ||
			     (*digits >= 'A' && *digits <= 'F'))))
		return -1;
	errno = 0;
	v = strtoull(digits, &end, base);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static uint64_t parse_num(const char *what, const char *s)
{
	uint64_t v;

	if (parse_u64(s, &v))
		usage_error("%s: bad number '%s' (decimal or 0x hex)", what, s);
	return v;
}

/*
 * Option parsing: options may come anywhere among the operands, as
 * "--name value" or "--name=value"; "--" ends them.
 */
struct args {
	int argc;
	char **argv;
	int i;
	int no_more_opts;
};

/* Is argv[i] option @name? Sets *val to its value if @want_val. */
static int is_opt(struct args *a, const char *name, int want_val,
		  const char **val)
{
	const char *arg = a->argv[a->i];
	size_t n = strlen(name);

	if (a->no_more_opts || strncmp(arg, name, n))
		return 0;
	if (arg[n] == '\0') {
		if (!want_val)
			return 1;
		if (a->i + 1 >= a->argc)
			usage_error("option %s needs a value", name);
		*val = a->argv[++a->i];
		return 1;
	}
	if (arg[n] == '=') {
		if (!want_val)
			usage_error("option %s takes no value", name);
		*val = arg + n + 1;
		return 1;
	}
	return 0;
}

/* Not an option we know: an operand, or an error. */
static const char *operand(struct args *a)
{
	const char *arg = a->argv[a->i];

	if (!a->no_more_opts && !strcmp(arg, "--")) {
		a->no_more_opts = 1;
		return NULL;
	}
	if (!a->no_more_opts && arg[0] == '-' && arg[1] != '\0')
		usage_error("unknown option '%s'", arg);
	return arg;
}

static uint64_t parse_base(const char *s)
{
	uint64_t base;

	if (!s)
		usage_error("missing --base ADDR");
	if (parse_u64(s, &base))
		usage_error("--base: bad address '%s' (decimal or 0x hex)", s);
	if (base % HVCSIM_PAGE_SIZE)
		usage_error("--base: address 0x%" PRIx64 " is not page aligned",
			    base);
	return base;
}

/* --- reading dumps --------------------------------------------------------- */

struct dump {
	const char *path;
	FILE *f;
	uint64_t size;
	uint64_t pages;
	unsigned char *buf;
	uint64_t next;		/* index of the next page to hand out */
	size_t in_buf;		/* pages in buf */
	size_t pos;		/* next page in buf */
};

static void dump_open(struct dump *d, const char *path, uint64_t base)
{
	struct stat st;

	memset(d, 0, sizeof(*d));
	d->path = path;
	d->f = fopen(path, "rb");
	if (!d->f)
		io_error("%s: %s", path, strerror(errno));
	if (fstat(fileno(d->f), &st))
		io_error("%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		io_error("%s: not a regular file", path);
	d->size = (uint64_t)st.st_size;
	if (!d->size)
		io_error("%s: empty dump", path);
	if (d->size % HVCSIM_PAGE_SIZE)
		io_error("%s: size %" PRIu64 " is not a multiple of %u bytes",
			 path, d->size, HVCSIM_PAGE_SIZE);
	d->pages = d->size / HVCSIM_PAGE_SIZE;
	if (d->pages > (UINT64_MAX - base) / HVCSIM_PAGE_SIZE)
		io_error("%s: dump runs past the end of the address space",
			 path);
	d->buf = xcalloc(CHUNK_PAGES, HVCSIM_PAGE_SIZE);
}

/* The next page of @d, or NULL at the end. */
static const unsigned char *dump_next(struct dump *d)
{
	if (d->next >= d->pages)
		return NULL;
	if (d->pos == d->in_buf) {
		uint64_t left = d->pages - d->next;
		size_t want = left < CHUNK_PAGES ? (size_t)left : CHUNK_PAGES;
		size_t got = fread(d->buf, HVCSIM_PAGE_SIZE, want, d->f);

		if (got != want)
			io_error("%s: %s", d->path, ferror(d->f) ?
				 strerror(errno) : "short read (file changed?)");
		d->in_buf = want;
		d->pos = 0;
	}
	d->next++;
	return d->buf + HVCSIM_PAGE_SIZE * d->pos++;
}

static void dump_close(struct dump *d)
{
	fclose(d->f);
	free(d->buf);
}

/* A page's state in words, e.g. "held p=1 s=5". */
static void describe(char *out, size_t n, const unsigned char *page,
		     uint64_t pfn)
{
	enum hvcsim_class c = hvcsim_classify(page, pfn);
	uint64_t p = hvcsim_get_le64(page + HVCSIM_OFF_PARTITION);
	uint64_t s = hvcsim_get_le64(page + HVCSIM_OFF_SERIAL);

	switch (c) {
	case HVCSIM_FREE:
	case HVCSIM_TORN:
		snprintf(out, n, "%s", hvcsim_class_name(c));
		break;
	case HVCSIM_WRONG_PFN:
		snprintf(out, n, "wrong_pfn (names 0x%" PRIx64 ") p=%" PRIu64
			 " s=%" PRIu64,
			 hvcsim_get_le64(page + HVCSIM_OFF_PFN), p, s);
		break;
	default:
		snprintf(out, n, "%s p=%" PRIu64 " s=%" PRIu64,
			 hvcsim_class_name(c), p, s);
		break;
	}
}

/* First differing byte of two pages and the number of differing bytes. */
static unsigned int page_diff(const unsigned char *a, const unsigned char *b,
			      unsigned int *first)
{
	unsigned int i, n = 0;

	*first = 0;
	for (i = 0; i < HVCSIM_PAGE_SIZE; i++) {
		if (a[i] != b[i]) {
			if (!n)
				*first = i;
			n++;
		}
	}
	return n;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* --- decode ---------------------------------------------------------------- */

struct tally {
	uint64_t pages;
	uint64_t cls[HVCSIM_BAD_PAYLOAD + 1];
	uint64_t max_serial;
	uint64_t *parts;	/* partition of each held page, then sorted */
	uint64_t named;		/* corrupted pages named on stderr */
};

static uint64_t tally_corrupted(const struct tally *t)
{
	return t->cls[HVCSIM_TORN] + t->cls[HVCSIM_BAD_CHECKSUM] +
	       t->cls[HVCSIM_WRONG_PFN] + t->cls[HVCSIM_BAD_PAYLOAD];
}

static enum hvcsim_class tally_page(struct tally *t, const unsigned char *page,
				    uint64_t pfn)
{
	enum hvcsim_class c = hvcsim_classify(page, pfn);

	t->cls[c]++;
	if (c == HVCSIM_HELD) {
		uint64_t s = hvcsim_get_le64(page + HVCSIM_OFF_SERIAL);

		t->parts[t->cls[HVCSIM_HELD] - 1] =
			hvcsim_get_le64(page + HVCSIM_OFF_PARTITION);
		if (s > t->max_serial)
			t->max_serial = s;
	} else if (hvcsim_class_corrupted(c)) {
		if (t->named < NAME_CORRUPTED) {
			char what[96];

			describe(what, sizeof(what), page, pfn);
			fprintf(stderr, PROG ": pfn 0x%" PRIx64 ": %s\n", pfn,
				what);
		}
		t->named++;
	}
	return c;
}

static void tally_finish(struct tally *t)
{
	if (t->named > NAME_CORRUPTED)
		fprintf(stderr, PROG ": ... and %" PRIu64
			" more corrupted pages\n", t->named - NAME_CORRUPTED);
	qsort(t->parts, (size_t)t->cls[HVCSIM_HELD], sizeof(*t->parts),
	      cmp_u64);
}

/* Calls @fn(partition, count, arg) per partition, in ascending order. */
static void for_each_partition(const struct tally *t,
			       void (*fn)(uint64_t, uint64_t, void *),
			       void *arg)
{
	uint64_t i = 0, held = t->cls[HVCSIM_HELD];

	while (i < held) {
		uint64_t j = i;

		while (j < held && t->parts[j] == t->parts[i])
			j++;
		fn(t->parts[i], j - i, arg);
		i = j;
	}
}

static void print_partition(uint64_t p, uint64_t n, void *arg)
{
	(void)arg;
	printf("partition %" PRIu64 " %" PRIu64 "\n", p, n);
}

static void json_partition(uint64_t p, uint64_t n, void *arg)
{
	int *first = arg;

	printf("%s\"%" PRIu64 "\":%" PRIu64, *first ? "" : ",", p, n);
	*first = 0;
}

static int cmd_decode(int argc, char **argv)
{
	struct args a = { argc, argv, 1, 0 };
	const char *base_s = NULL, *path = NULL, *v;
	int json = 0, list = 0, first = 1;
	struct tally t;
	struct dump d;
	const unsigned char *page;
	uint64_t base;

	for (; a.i < argc; a.i++) {
		if (is_opt(&a, "--base", 1, &base_s))
			continue;
		if (is_opt(&a, "--json", 0, &v)) {
			json = 1;
			continue;
		}
		if (is_opt(&a, "--list", 0, &v)) {
			list = 1;
			continue;
		}
		v = operand(&a);
		if (!v)
			continue;
		if (path)
			usage_error("one DUMP only, got '%s' too", v);
		path = v;
	}
	if (json && list)
		usage_error("--json and --list exclude each other");
	base = parse_base(base_s);
	if (!path)
		usage_error("missing DUMP");

	dump_open(&d, path, base);
	memset(&t, 0, sizeof(t));
	t.pages = d.pages;
	t.parts = xcalloc((size_t)d.pages, sizeof(*t.parts));
	while ((page = dump_next(&d))) {
		uint64_t pfn = (base >> HVCSIM_PAGE_SHIFT) + d.next - 1;

		if (tally_page(&t, page, pfn) == HVCSIM_HELD && list)
			printf("0x%" PRIx64 " %" PRIu64 " %" PRIu64 "\n", pfn,
			       hvcsim_get_le64(page + HVCSIM_OFF_PARTITION),
			       hvcsim_get_le64(page + HVCSIM_OFF_SERIAL));
	}
	dump_close(&d);
	tally_finish(&t);

	if (json) {
		printf("{\"base\":%" PRIu64 ",\"pages\":%" PRIu64
		       ",\"held\":%" PRIu64 ",\"free\":%" PRIu64
		       ",\"partitions\":{",
		       base, t.pages, t.cls[HVCSIM_HELD], t.cls[HVCSIM_FREE]);
		for_each_partition(&t, json_partition, &first);
		printf("},\"corrupted\":%" PRIu64 ",\"torn\":%" PRIu64
		       ",\"bad_checksum\":%" PRIu64 ",\"wrong_pfn\":%" PRIu64
		       ",\"bad_payload\":%" PRIu64 ",\"max_serial\":%" PRIu64
		       "}\n",
		       tally_corrupted(&t), t.cls[HVCSIM_TORN],
		       t.cls[HVCSIM_BAD_CHECKSUM], t.cls[HVCSIM_WRONG_PFN],
		       t.cls[HVCSIM_BAD_PAYLOAD], t.max_serial);
	} else if (!list) {
		printf("pages %" PRIu64 "\nheld %" PRIu64 "\nfree %" PRIu64 "\n",
		       t.pages, t.cls[HVCSIM_HELD], t.cls[HVCSIM_FREE]);
		for_each_partition(&t, print_partition, NULL);
		printf("corrupted %" PRIu64 "\ntorn %" PRIu64
		       "\nbad_checksum %" PRIu64 "\nwrong_pfn %" PRIu64
		       "\nbad_payload %" PRIu64 "\nmax_serial %" PRIu64 "\n",
		       tally_corrupted(&t), t.cls[HVCSIM_TORN],
		       t.cls[HVCSIM_BAD_CHECKSUM], t.cls[HVCSIM_WRONG_PFN],
		       t.cls[HVCSIM_BAD_PAYLOAD], t.max_serial);
	}
	free(t.parts);
	return tally_corrupted(&t) ? EXIT_FINDINGS : 0;
}

/* --- diff and held-kept ---------------------------------------------------- */

/*
 * The common front of diff and held-kept: "--base ADDR [--max N] A B", both
 * dumps opened and checked to cover the same range. @expect_s, if not NULL,
 * takes the value of held-kept's --expect-held.
 */
static uint64_t open_two(int argc, char **argv, const char *names,
			 struct dump *da, struct dump *db, uint64_t *max,
			 const char **expect_s)
{
	struct args a = { argc, argv, 1, 0 };
	const char *base_s = NULL, *max_s = NULL, *pa = NULL, *pb = NULL, *v;
	uint64_t base;

	for (; a.i < a.argc; a.i++) {
		if (is_opt(&a, "--base", 1, &base_s) ||
		    is_opt(&a, "--max", 1, &max_s) ||
		    (expect_s && is_opt(&a, "--expect-held", 1, expect_s)))
			continue;
		v = operand(&a);
		if (!v)
			continue;
		if (!pa)
			pa = v;
		else if (!pb)
			pb = v;
		else
			usage_error("too many operands: '%s' (want %s)", v,
				    names);
	}
	base = parse_base(base_s);
	*max = max_s ? parse_num("--max", max_s) : DEFAULT_MAX;
	if (!pb)
		usage_error("want two dumps %s", names);
	dump_open(da, pa, base);
	dump_open(db, pb, base);
	if (da->size != db->size)
		io_error("%s and %s differ in size (%" PRIu64 " vs %" PRIu64
			 " bytes): not dumps of the same range", pa, pb,
			 da->size, db->size);
	return base;
}

/* A growing text buffer: lines that must follow a count not yet known. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static void __attribute__((format(printf, 2, 3)))
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			io_error("formatting failed");
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		b->cap = 2 * b->cap + (size_t)n + 256;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			io_error("out of memory");
	}
}

static void sb_flush(struct sbuf *b)
{
	if (b->len)
		fwrite(b->s, 1, b->len, stdout);
	free(b->s);
	memset(b, 0, sizeof(*b));
}

static int cmd_diff(int argc, char **argv)
{
	const unsigned char *x, *y;
	uint64_t base, max, differ = 0;
	struct sbuf lines = { 0 };
	struct dump da, db;

	base = open_two(argc, argv, "A B", &da, &db, &max, NULL);
	while ((x = dump_next(&da)) && (y = dump_next(&db))) {
		uint64_t pfn = (base >> HVCSIM_PAGE_SHIFT) + da.next - 1;
		char sa[96], sb[96];
		unsigned int off, n;

		if (!memcmp(x, y, HVCSIM_PAGE_SIZE))
			continue;
		if (differ++ >= max)
			continue;
		n = page_diff(x, y, &off);
		describe(sa, sizeof(sa), x, pfn);
		describe(sb, sizeof(sb), y, pfn);
		sb_printf(&lines, "pfn 0x%" PRIx64 ": first difference at offset 0x%x (bytes differ: %u), A: %s, B: %s\n",
			  pfn, off, n, sa, sb);
	}
	if (differ > max)
		sb_printf(&lines, "... and %" PRIu64 " more differing pages\n",
			  differ - max);
	printf("pages %" PRIu64 "\ndiffering_pages %" PRIu64 "\n", da.pages,
	       differ);
	sb_flush(&lines);
	printf("%s\n", differ ? "DIFFERENT" : "identical");
	dump_close(&da);
	dump_close(&db);
	return differ ? EXIT_FINDINGS : 0;
}

static int cmd_held_kept(int argc, char **argv)
{
	const unsigned char *x, *y;
	uint64_t base, max, expect = 0;
	uint64_t held_before = 0, held_after = 0, kept = 0, added = 0, lost = 0;
	const char *expect_s = NULL;
	struct sbuf lines = { 0 };
	struct dump da, db;
	int findings;

	base = open_two(argc, argv, "BEFORE AFTER", &da, &db, &max, &expect_s);
	if (expect_s) {
		expect = parse_num("--expect-held", expect_s);
		if (!expect)
			usage_error("--expect-held: must be at least 1 (an empty BEFORE proves nothing)");
	}
	while ((x = dump_next(&da)) && (y = dump_next(&db))) {
		uint64_t pfn = (base >> HVCSIM_PAGE_SHIFT) + da.next - 1;
		int was = hvcsim_classify(x, pfn) == HVCSIM_HELD;
		int is = hvcsim_classify(y, pfn) == HVCSIM_HELD;
		char sa[96], sb[96];
		unsigned int off, n;

		held_before += (uint64_t)was;
		held_after += (uint64_t)is;
		if (!was) {
			added += (uint64_t)is;
			continue;
		}
		if (!memcmp(x, y, HVCSIM_PAGE_SIZE)) {
			kept++;
			continue;
		}
		if (lost++ >= max)
			continue;
		n = page_diff(x, y, &off);
		describe(sa, sizeof(sa), x, pfn);
		describe(sb, sizeof(sb), y, pfn);
		sb_printf(&lines, "pfn 0x%" PRIx64 ": BEFORE: %s, AFTER: %s, first difference at offset 0x%x (bytes differ: %u)\n",
			  pfn, sa, sb, off, n);
	}
	if (lost > max)
		sb_printf(&lines, "... and %" PRIu64 " more pages not kept\n",
			  lost - max);
	printf("pages %" PRIu64 "\nheld_before %" PRIu64 "\nheld_after %" PRIu64
	       "\nkept %" PRIu64 "\nnewly_held %" PRIu64 "\nnot_kept %" PRIu64
	       "\n", da.pages, held_before, held_after, kept, added, lost);
	sb_flush(&lines);
	findings = lost != 0;
	if (lost)
		printf("VIOLATED: pages held in BEFORE were changed\n");
	if (expect && held_before != expect) {
		printf("WRONG COUNT: BEFORE holds %" PRIu64 " pages, expected %"
		       PRIu64 "\n", held_before, expect);
		findings = 1;
	} else if (!held_before) {
		printf("EMPTY: no page is held in BEFORE, so nothing was checked\n");
		findings = 1;
	}
	if (!findings)
		printf("ok: every page held in BEFORE is unchanged\n");
	dump_close(&da);
	dump_close(&db);
	return findings ? EXIT_FINDINGS : 0;
}

/* --- map ------------------------------------------------------------------- */

#define CELL_HELD	0x1
#define CELL_MIXED	0x2
#define CELL_CORRUPT	0x4

static const char map_syms[] = "0123456789abcdefghijklmnopqrstuvwxyz";

struct map_legend {
	int direct;		/* partition p is map_syms[p] */
	uint64_t *uniq;		/* the partitions, ascending */
	size_t nuniq;
};

static void collect_partition(uint64_t p, uint64_t n, void *arg)
{
	struct map_legend *l = arg;

	(void)n;
	l->uniq[l->nuniq++] = p;
}

/* 1-9, then a-z; '*' once those are used up. */
static char map_sym(const struct map_legend *l, uint64_t p)
{
	const uint64_t *hit;
	size_t rank;

	if (l->direct)
		return map_syms[p];
	hit = bsearch(&p, l->uniq, l->nuniq, sizeof(*l->uniq), cmp_u64);
	rank = hit ? (size_t)(hit - l->uniq) : l->nuniq;
	return rank + 1 < sizeof(map_syms) - 1 ? map_syms[rank + 1] : '*';
}

struct legend_print {
	const struct map_legend *l;
	unsigned int shown;
	uint64_t others;
};

static void legend_partition(uint64_t p, uint64_t n, void *arg)
{
	struct legend_print *lp = arg;
	char c = map_sym(lp->l, p);

	if (c == '*') {
		lp->others += n;
		return;
	}
	printf("  %c partition %" PRIu64 " (%" PRIu64 ")", c, p, n);
	lp->shown++;
}

static int cmd_map(int argc, char **argv)
{
	struct args a = { argc, argv, 1, 0 };
	const char *base_s = NULL, *width_s = NULL, *per_s = NULL;
	const char *path = NULL, *v;
	uint64_t base, width = 64, per_cell = 0, ncells, i, base_pfn, last_pfn;
	const unsigned char *page;
	struct map_legend leg = { 0 };
	struct legend_print lp = { 0 };
	unsigned char *flags;
	uint64_t *cell_part;
	struct tally t;
	struct dump d;
	int digits;

	for (; a.i < argc; a.i++) {
		if (is_opt(&a, "--base", 1, &base_s) ||
		    is_opt(&a, "--width", 1, &width_s) ||
		    is_opt(&a, "--per-cell", 1, &per_s))
			continue;
		v = operand(&a);
		if (!v)
			continue;
		if (path)
			usage_error("one DUMP only, got '%s' too", v);
		path = v;
	}
	base = parse_base(base_s);
	if (width_s) {
		width = parse_num("--width", width_s);
		if (width < 1 || width > 1024)
			usage_error("--width: %" PRIu64 " is not in 1..1024",
				    width);
	}
	if (per_s) {
		per_cell = parse_num("--per-cell", per_s);
		if (!per_cell)
			usage_error("--per-cell: must be at least 1");
	}
	if (!path)
		usage_error("missing DUMP");

	dump_open(&d, path, base);
	if (!per_cell)
		per_cell = (d.pages + width * MAP_ROWS - 1) / (width * MAP_ROWS);
	ncells = (d.pages + per_cell - 1) / per_cell;
	flags = xcalloc((size_t)ncells, 1);
	cell_part = xcalloc((size_t)ncells, sizeof(*cell_part));
	memset(&t, 0, sizeof(t));
	t.pages = d.pages;
	t.parts = xcalloc((size_t)d.pages, sizeof(*t.parts));
	base_pfn = base >> HVCSIM_PAGE_SHIFT;
	while ((page = dump_next(&d))) {
		uint64_t idx = d.next - 1, cell = idx / per_cell;
		enum hvcsim_class c = tally_page(&t, page, base_pfn + idx);

		if (hvcsim_class_corrupted(c)) {
			flags[cell] |= CELL_CORRUPT;
		} else if (c == HVCSIM_HELD) {
			uint64_t p = hvcsim_get_le64(page + HVCSIM_OFF_PARTITION);

			if (!(flags[cell] & CELL_HELD)) {
				flags[cell] |= CELL_HELD;
				cell_part[cell] = p;
			} else if (cell_part[cell] != p) {
				flags[cell] |= CELL_MIXED;
			}
		}
	}
	dump_close(&d);
	tally_finish(&t);

	leg.uniq = xcalloc((size_t)t.cls[HVCSIM_HELD], sizeof(*leg.uniq));
	for_each_partition(&t, collect_partition, &leg);
	leg.direct = !leg.nuniq ||
		     leg.uniq[leg.nuniq - 1] < sizeof(map_syms) - 1;

	last_pfn = base_pfn + d.pages - 1;
	digits = snprintf(NULL, 0, "%" PRIx64, last_pfn);
	printf("map of %" PRIu64 " pages, pfn 0x%" PRIx64 "-0x%" PRIx64
	       ", %" PRIu64 " page%s per cell, %" PRIu64 " cells per row\n",
	       d.pages, base_pfn, last_pfn, per_cell, per_cell == 1 ? "" : "s",
	       width);
	for (i = 0; i < ncells; i++) {
		char c;

		if (i % width == 0)
			printf("0x%0*" PRIx64 " ", digits,
			       base_pfn + i * per_cell);
		if (flags[i] & CELL_CORRUPT)
			c = '!';
		else if (flags[i] & CELL_MIXED)
			c = '+';
		else if (flags[i] & CELL_HELD)
			c = map_sym(&leg, cell_part[i]);
		else
			c = '.';
		putchar(c);
		if (i % width == width - 1 || i == ncells - 1)
			putchar('\n');
	}
	printf("legend: . free  ! corrupted  + several partitions");
	lp.l = &leg;
	for_each_partition(&t, legend_partition, &lp);
	if (lp.others)
		printf("  * other partitions (%" PRIu64 ")", lp.others);
	printf("\npages %" PRIu64 " held %" PRIu64 " free %" PRIu64
	       " corrupted %" PRIu64 "\n", t.pages, t.cls[HVCSIM_HELD],
	       t.cls[HVCSIM_FREE], tally_corrupted(&t));
	free(flags);
	free(cell_part);
	free(leg.uniq);
	free(t.parts);
	return tally_corrupted(&t) ? EXIT_FINDINGS : 0;
}

/* --- forge ----------------------------------------------------------------- */

enum forge_kind {
	FORGE_NONE,
	FORGE_TORN,
	FORGE_CHECKSUM,
	FORGE_PFN,
	FORGE_PAYLOAD,
};

struct forge_page {
	uint64_t partition;
	uint64_t serial;
	unsigned char held;
	unsigned char corrupt;	/* enum forge_kind */
};

/* Split @s at @sep into at most @max fields; returns the number found. */
static int split(char *s, char sep, char **f, int max)
{
	int n = 0;

	for (;;) {
		char *next = strchr(s, sep);

		if (n == max)
			return max + 1;
		f[n++] = s;
		if (!next)
			return n;
		*next = '\0';
		s = next + 1;
	}
}

/* IDX[-IDX]:PARTITION:SERIAL; a range gets serials SERIAL, SERIAL+1, ... */
static void forge_hold(struct forge_page *fp, uint64_t pages, const char *spec)
{
	char *copy = strdup(spec), *f[3], *r[2];
	uint64_t lo, hi, part, serial, i;
	int nr;

	if (!copy)
		io_error("out of memory");
	if (split(copy, ':', f, 3) != 3)
		usage_error("--hold '%s': want IDX[-IDX]:PARTITION:SERIAL",
			    spec);
	nr = split(f[0], '-', r, 2);
	if (nr > 2 || parse_u64(r[0], &lo) ||
	    parse_u64(r[nr - 1], &hi) || parse_u64(f[1], &part) ||
	    parse_u64(f[2], &serial) || hi < lo)
		usage_error("--hold '%s': want IDX[-IDX]:PARTITION:SERIAL",
			    spec);
	if (hi >= pages)
		usage_error("--hold '%s': page index %" PRIu64
			    " is outside the %" PRIu64 " pages", spec, hi,
			    pages);
	if (hi - lo > UINT64_MAX - serial)
		usage_error("--hold '%s': serials run past 2^64", spec);
	for (i = lo; i <= hi; i++) {
		if (fp[i].held)
			usage_error("--hold '%s': page %" PRIu64
				    " is held twice", spec, i);
		fp[i].held = 1;
		fp[i].partition = part;
		fp[i].serial = serial + (i - lo);
	}
	free(copy);
}

/* IDX:KIND, on a page held with --hold */
static void forge_corrupt(struct forge_page *fp, uint64_t pages,
			  const char *spec)
{
	static const char *const kinds[] = {
		[FORGE_TORN] = "torn", [FORGE_CHECKSUM] = "checksum",
		[FORGE_PFN] = "pfn", [FORGE_PAYLOAD] = "payload",
	};
	const char *colon = strchr(spec, ':');
	char idx_s[32];
	uint64_t idx;
	size_t k;

	if (!colon || (size_t)(colon - spec) >= sizeof(idx_s))
		usage_error("--corrupt '%s': want IDX:torn|checksum|pfn|payload",
			    spec);
	memcpy(idx_s, spec, (size_t)(colon - spec));
	idx_s[colon - spec] = '\0';
	for (k = FORGE_TORN; k <= FORGE_PAYLOAD; k++)
		if (!strcmp(colon + 1, kinds[k]))
			break;
	if (parse_u64(idx_s, &idx) || k > FORGE_PAYLOAD)
		usage_error("--corrupt '%s': want IDX:torn|checksum|pfn|payload",
			    spec);
	if (idx >= pages)
		usage_error("--corrupt '%s': page index %" PRIu64
			    " is outside the %" PRIu64 " pages", spec, idx,
			    pages);
	if (!fp[idx].held)
		usage_error("--corrupt '%s': page %" PRIu64
			    " is not held (add --hold)", spec, idx);
	if (fp[idx].corrupt)
		usage_error("--corrupt '%s': page %" PRIu64
			    " is corrupted twice", spec, idx);
	fp[idx].corrupt = (unsigned char)k;
}

/*
 * Corruptions, each caught by exactly its class:
 *   torn      the tail magic is zeroed (a header write cut short)
 *   checksum  one payload bit flipped (a stray write)
 *   pfn       the page is a valid page for pfn + 1 (a misplaced copy)
 *   payload   one payload bit flipped and the checksum recomputed
 */
static void forge_apply(unsigned char *page, uint64_t pfn,
			const struct forge_page *fp)
{
	switch (fp->corrupt) {
	case FORGE_TORN:
		memset(page + HVCSIM_OFF_TAIL_MAGIC, 0, 8);
		break;
	case FORGE_CHECKSUM:
		page[HVCSIM_PAGE_SIZE / 2] ^= 0x01;
		break;
	case FORGE_PFN:
		hvcsim_write_page(page, pfn + 1, fp->partition, fp->serial);
		break;
	case FORGE_PAYLOAD:
		page[HVCSIM_PAGE_SIZE / 2] ^= 0x01;
		hvcsim_put_le64(page + HVCSIM_OFF_CHECKSUM,
				hvcsim_checksum(page));
		break;
	}
}

static int cmd_forge(int argc, char **argv)
{
	struct args a = { argc, argv, 1, 0 };
	const char *base_s = NULL, *pages_s = NULL, *out = NULL, *v;
	const char **holds, **corrupts;
	size_t nholds = 0, ncorrupts = 0, k;
	uint64_t base, pages, i, held = 0, corrupted = 0;
	struct forge_page *fp;
	unsigned char *buf;
	FILE *f;

	holds = xcalloc((size_t)argc, sizeof(*holds));
	corrupts = xcalloc((size_t)argc, sizeof(*corrupts));
	for (; a.i < argc; a.i++) {
		if (is_opt(&a, "--base", 1, &base_s) ||
		    is_opt(&a, "--pages", 1, &pages_s))
			continue;
		if (is_opt(&a, "--hold", 1, &v)) {
			holds[nholds++] = v;
			continue;
		}
		if (is_opt(&a, "--corrupt", 1, &v)) {
			corrupts[ncorrupts++] = v;
			continue;
		}
		v = operand(&a);
		if (!v)
			continue;
		if (out)
			usage_error("one OUT only, got '%s' too", v);
		out = v;
	}
	base = parse_base(base_s);
	if (!pages_s)
		usage_error("missing --pages N");
	pages = parse_num("--pages", pages_s);
	if (!pages || pages > FORGE_MAX_PAGES)
		usage_error("--pages: %" PRIu64 " is not in 1..%llu", pages,
			    FORGE_MAX_PAGES);
	if (!out)
		usage_error("missing OUT");
	if ((base >> HVCSIM_PAGE_SHIFT) + pages < (base >> HVCSIM_PAGE_SHIFT))
		usage_error("--pages: the range runs past the address space");

	fp = xcalloc((size_t)pages, sizeof(*fp));
	for (k = 0; k < nholds; k++)
		forge_hold(fp, pages, holds[k]);
	for (k = 0; k < ncorrupts; k++)
		forge_corrupt(fp, pages, corrupts[k]);

	f = fopen(out, "wb");
	if (!f)
		io_error("%s: %s", out, strerror(errno));
	buf = xcalloc(1, HVCSIM_PAGE_SIZE);
	for (i = 0; i < pages; i++) {
		uint64_t pfn = (base >> HVCSIM_PAGE_SHIFT) + i;

		memset(buf, 0, HVCSIM_PAGE_SIZE);
		if (fp[i].held) {
			hvcsim_write_page(buf, pfn, fp[i].partition,
					  fp[i].serial);
			forge_apply(buf, pfn, &fp[i]);
			held += !fp[i].corrupt;
			corrupted += !!fp[i].corrupt;
		}
		if (fwrite(buf, HVCSIM_PAGE_SIZE, 1, f) != 1)
			io_error("%s: %s", out, strerror(errno));
	}
	if (fclose(f))
		io_error("%s: %s", out, strerror(errno));
	printf("forged %" PRIu64 " pages: held %" PRIu64 ", corrupted %" PRIu64
	       ": %s\n", pages, held, corrupted, out);
	free(buf);
	free(fp);
	free(holds);
	free(corrupts);
	return 0;
}

/* --- main ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "decode", cmd_decode },
		{ "diff", cmd_diff },
		{ "held-kept", cmd_held_kept },
		{ "map", cmd_map },
		{ "forge", cmd_forge },
	};
	size_t i;

	if (argc < 2)
		usage_error("missing command");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!strcmp(argv[1], cmds[i].name)) {
			cmd_name = cmds[i].name;
			return cmds[i].fn(argc - 1, argv + 1);
		}
	}
	usage_error("unknown command '%s'", argv[1]);
}
