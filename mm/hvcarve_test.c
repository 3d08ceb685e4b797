// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for hvcarve: the hvcarve= parser and the page pool. The pool
 * tests run on private pools (hvcarve_pool_create()) whose regions lie at
 * addresses no memory is at; the pool never touches the memory it manages,
 * and the live pool is only read. So the suites are safe to run at any
 * time, and a healthy run prints no WARNING.
 */

#include <kunit/test.h>
#include <linux/bitmap.h>
#include <linux/hvcarve.h>
#include <linux/numa.h>
#include <linux/pfn.h>
#include <linux/sizes.h>
#include <asm/sections.h>

#include "hvcarve.h"

struct hvcarve_parse_case {
	const char *str;
	int ret;
	unsigned int nr;	/* ranges after the call (or failing index) */
	struct hvcarve_range want[HVCARVE_MAX_REGIONS];
	const char *reason;	/* substring of the reason on failure */
};

static const struct hvcarve_parse_case hvcarve_parse_cases[] = {
	/* valid */
	{ "64M@0x3a000000", 0, 1, { { 0x3a000000, SZ_64M } } },
	{ "0x4000000@973078528", 0, 1, { { 0x3a000000, SZ_64M } } },
	{ "64m@1g", 0, 1, { { SZ_1G, SZ_64M } } },
	{ "4K@0x1000", 0, 1, { { 0x1000, SZ_4K } } },
	{ "1G@4G", 0, 1, { { SZ_4G, SZ_1G } } },
	{ "1T@1T", 0, 1, { { 1ULL << 40, 1ULL << 40 } } },
	{ "2M@0x100000,2M@0x400000", 0, 2,
	  { { 0x100000, SZ_2M }, { 0x400000, SZ_2M } } },
	{ "2M@0x400000,2M@0x200000", 0, 2,
	  { { 0x400000, SZ_2M }, { 0x200000, SZ_2M } } },
	{ "2M@2M,2M@4M,2M@6M,2M@8M,2M@10M,2M@12M,2M@14M,2M@16M", 0, 8,
	  { { SZ_2M, SZ_2M }, { SZ_4M, SZ_2M }, { 6 * SZ_1M, SZ_2M },
	    { SZ_8M, SZ_2M }, { 10 * SZ_1M, SZ_2M }, { 12 * SZ_1M, SZ_2M },
	    { 14 * SZ_1M, SZ_2M }, { SZ_16M, SZ_2M } } },
	/* malformed */
	{ "", -EINVAL, 0, {}, "empty parameter" },
	{ NULL, -EINVAL, 0, {}, "empty parameter" },
	{ "0", -EINVAL, 0, {}, "missing '@address'" },
	{ "garbage", -EINVAL, 0, {}, "size is not a number" },
	{ "64M", -EINVAL, 0, {}, "missing '@address'" },
	{ "64M0x3a000000", -EINVAL, 0, {}, "garbage after the size" },
	{ "@0x3a000000", -EINVAL, 0, {}, "missing size" },
	{ "64M@", -EINVAL, 0, {}, "missing address" },
	{ "64M@zz", -EINVAL, 0, {}, "address is not a number" },
	{ "64M@0x3a000000x", -EINVAL, 0, {}, "garbage after the address" },
	{ "64M@0x3a000000,", -EINVAL, 1, {}, "empty region" },
	{ ",64M@0x3a000000", -EINVAL, 0, {}, "empty region" },
	{ "64M@0x3a000000,,2M@0", -EINVAL, 1, {}, "empty region" },
	{ "0@0x3a000000", -EINVAL, 0, {}, "size is zero" },
	{ "64M@0x3a000001", -EINVAL, 0, {}, "not page aligned" },
	{ "0x1001@0x3a000000", -EINVAL, 0, {}, "multiple of the page size" },
	{ "0x", -EINVAL, 0, {}, "size is not a number" },
	{ "99999999999999999999@0", -EINVAL, 0, {}, "does not fit" },
	{ "16E@0", -EINVAL, 0, {}, "does not fit" },
	{ "0x10000000000000000@0", -EINVAL, 0, {}, "does not fit" },
	{ "4K@0xfffffffffffff000", -EINVAL, 0, {}, "overflows" },
	{ "8E@8E", -EINVAL, 0, {}, "overflows" },
	{ "4K@0x100000000000000", -EINVAL, 0, {}, "beyond the physical" },
	{ "64M@0x3a000000,64M@0x3c000000", -EINVAL, 1, {}, "overlaps" },
	{ "4M@4M,2M@8M,4M@2M", -EINVAL, 2, {}, "overlaps" },
	{ "2M@2M,2M@4M,2M@6M,2M@8M,2M@10M,2M@12M,2M@14M,2M@16M,2M@18M",
	  -E2BIG, 8, {}, "more than 8" },
};

static void hvcarve_parse_case_desc(const struct hvcarve_parse_case *c,
				    char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "\"%s\"", c->str ?: "(null)");
}

KUNIT_ARRAY_PARAM(hvcarve_parse, hvcarve_parse_cases, hvcarve_parse_case_desc);

static void hvcarve_test_parse(struct kunit *test)
{
	const struct hvcarve_parse_case *c = test->param_value;
	struct hvcarve_range ranges[HVCARVE_MAX_REGIONS] = {};
	const char *reason = NULL;
	unsigned int nr = 0, i;
	int ret;

	ret = hvcarve_parse(c->str, ranges, &nr, &reason);
	KUNIT_EXPECT_EQ(test, ret, c->ret);
	KUNIT_EXPECT_EQ(test, nr, c->nr);
	if (c->ret) {
		KUNIT_ASSERT_NOT_NULL(test, reason);
		KUNIT_EXPECT_NOT_NULL_MSG(test, strstr(reason, c->reason),
					  "reason \"%s\" lacks \"%s\"", reason,
					  c->reason);
		return;
	}
	for (i = 0; i < c->nr; i++) {
		KUNIT_EXPECT_EQ(test, ranges[i].base, c->want[i].base);
		KUNIT_EXPECT_EQ(test, ranges[i].size, c->want[i].size);
	}
}

/* A repeated hvcarve= adds to the ranges of the earlier ones. */
static void hvcarve_test_parse_repeated(struct kunit *test)
{
	struct hvcarve_range ranges[HVCARVE_MAX_REGIONS] = {};
	const char *reason = NULL;
	unsigned int nr = 0;

	KUNIT_ASSERT_EQ(test, hvcarve_parse("64M@1G", ranges, &nr, &reason), 0);
	KUNIT_ASSERT_EQ(test, hvcarve_parse("64M@2G", ranges, &nr, &reason), 0);
	KUNIT_EXPECT_EQ(test, nr, 2U);
	KUNIT_EXPECT_EQ(test, ranges[1].base, (u64)SZ_2G);

	/* Overlap with an earlier parameter: nothing is appended. */
	KUNIT_EXPECT_EQ(test, hvcarve_parse("2M@0x40100000,2M@3G", ranges, &nr,
					    &reason), -EINVAL);
	KUNIT_EXPECT_EQ(test, nr, 2U);
	KUNIT_EXPECT_EQ(test, ranges[2].size, 0ULL);

	/* The limit of 8 counts all parameters together. */
	nr = 7;
	KUNIT_EXPECT_EQ(test, hvcarve_parse("2M@8G,2M@9G", ranges, &nr, &reason),
			-E2BIG);
	KUNIT_EXPECT_EQ(test, nr, 8U);
}

/* Read-only on the live carveout: both ends of each region are in it. */
static void hvcarve_test_pfn_lookup(struct kunit *test)
{
	struct hvcarve_range r;
	unsigned int i;

	for (i = 0; !hvcarve_region_get(i, &r); i++) {
		KUNIT_EXPECT_TRUE(test, hvcarve_pfn_in_carveout(PHYS_PFN(r.base)));
		KUNIT_EXPECT_TRUE(test, hvcarve_pfn_in_carveout(PHYS_PFN(r.base + r.size) - 1));
		KUNIT_EXPECT_FALSE(test, hvcarve_pfn_in_carveout(PHYS_PFN(r.base + r.size)));
	}
	/* The kernel image is never in the carveout. */
	KUNIT_EXPECT_FALSE(test, hvcarve_pfn_in_carveout(PHYS_PFN(__pa_symbol(_text))));
	KUNIT_EXPECT_FALSE(test, hvcarve_pfn_in_carveout(PHYS_PFN(__pa_symbol(_end))));
}

/* Node 0 below 1 GiB, node 1 below 2 GiB, no node known above. */
static int t_node_of(u64 addr)
{
	if (addr < SZ_1G)
		return 0;
	if (addr < SZ_2G)
		return 1;
	return NUMA_NO_NODE;
}

/*
 * A region's node: one node, two nodes, or a part no node is known for,
 * which is on no node on a machine with several (issue 16, item 10:
 * memory_add_physaddr_to_nid() would put it on the first block's node).
 */
static void hvcarve_test_range_node(struct kunit *test)
{
	int other = -2;
	u64 at = 0;

	KUNIT_EXPECT_EQ(test, hvcarve_range_node(SZ_16M, SZ_64M, t_node_of,
						 NUMA_NO_NODE, &at, &other), 0);
	KUNIT_EXPECT_EQ(test, hvcarve_range_node(SZ_1G, PAGE_SIZE, t_node_of,
						 NUMA_NO_NODE, &at, &other), 1);
	/* Both ends on node 1, the middle probed too. */
	KUNIT_EXPECT_EQ(test, hvcarve_range_node(SZ_1G + SZ_2M, SZ_512M,
						 t_node_of, NUMA_NO_NODE, &at,
						 &other), 1);

	KUNIT_EXPECT_EQ(test, hvcarve_range_node(SZ_1G - SZ_2M, SZ_4M,
						 t_node_of, NUMA_NO_NODE, &at,
						 &other), NUMA_NO_NODE);
	KUNIT_EXPECT_EQ(test, at, (u64)SZ_1G);
	KUNIT_EXPECT_EQ(test, other, 1);

	/* Node 1, then no node: refused, not taken to be node 1 or 0. */
	KUNIT_EXPECT_EQ(test, hvcarve_range_node(SZ_2G - SZ_4M, SZ_8M,
						 t_node_of, NUMA_NO_NODE, &at,
						 &other), NUMA_NO_NODE);
	KUNIT_EXPECT_EQ(test, at, (u64)SZ_2G);
	KUNIT_EXPECT_EQ(test, other, NUMA_NO_NODE);
	/* No node known at all, on a machine with several. */
	KUNIT_EXPECT_EQ(test, hvcarve_range_node(3ULL * SZ_1G, SZ_64M,
						 t_node_of, NUMA_NO_NODE, &at,
						 &other), NUMA_NO_NODE);
	KUNIT_EXPECT_EQ(test, at, 3ULL * SZ_1G);
	KUNIT_EXPECT_EQ(test, other, NUMA_NO_NODE);
	/* On a machine with one node, that node. */
	KUNIT_EXPECT_EQ(test, hvcarve_range_node(3ULL * SZ_1G, SZ_64M,
						 t_node_of, 0, &at, &other), 0);
}

static struct kunit_case hvcarve_parse_test_cases[] = {
	KUNIT_CASE_PARAM(hvcarve_test_parse, hvcarve_parse_gen_params),
	KUNIT_CASE(hvcarve_test_parse_repeated),
	KUNIT_CASE(hvcarve_test_pfn_lookup),
	KUNIT_CASE(hvcarve_test_range_node),
	{}
};

static struct kunit_suite hvcarve_parse_test_suite = {
	.name = "hvcarve_parse",
	.test_cases = hvcarve_parse_test_cases,
};

/*
 * Two regions of 64 pages on nodes 0 and 1, at addresses far above any
 * RAM a test machine has. Region 0 starts on an odd page frame, so that
 * alignment is relative to the physical address, not to the region.
 */
#define T_PAGES		64
#define T_BASE		(BIT_ULL(44) + PAGE_SIZE)

static u64 t_pfn(unsigned int region, unsigned long idx)
{
	return PHYS_PFN(T_BASE + region * SZ_1G) + idx;
}

static struct hvcarve_pool *t_pool(struct kunit *test)
{
	return test->priv;
}

static int hvcarve_pool_test_init(struct kunit *test)
{
	struct hvcarve_range r[2] = {
		{ T_BASE, T_PAGES * PAGE_SIZE },
		{ T_BASE + SZ_1G, T_PAGES * PAGE_SIZE },
	};
	static const int nids[2] = { 0, 1 };

	test->priv = hvcarve_pool_create(r, nids, 2, true);
	KUNIT_ASSERT_NOT_NULL(test, test->priv);
	return 0;
}

static void hvcarve_pool_test_exit(struct kunit *test)
{
	hvcarve_pool_destroy(test->priv);
}

static struct hvcarve_stats *t_stats(struct kunit *test, unsigned int i)
{
	return &t_pool(test)->regions[i].stats;
}

/* The four state counters always add up to the region. */
static void t_expect_sum(struct kunit *test, unsigned int i)
{
	struct hvcarve_stats *st = t_stats(test, i);

	KUNIT_EXPECT_EQ(test, st->free + st->deposited + st->inherited +
			st->skipped, (u64)T_PAGES);
}

static void hvcarve_test_alloc_contiguous(struct kunit *test)
{
	struct hvcarve_pool *pool = t_pool(test);
	u64 pfns[T_PAGES];
	unsigned int i;

	KUNIT_ASSERT_EQ(test, hvcarve_pool_alloc(pool, 0, pfns, 8, 0), 8UL);
	KUNIT_ASSERT_EQ(test, hvcarve_pool_alloc(pool, 0, pfns + 8, 16, 0), 16UL);
	for (i = 0; i < 24; i++)
		KUNIT_EXPECT_EQ(test, pfns[i], t_pfn(0, i));
	KUNIT_EXPECT_EQ(test, t_stats(test, 0)->free, (u64)T_PAGES - 24);
	KUNIT_EXPECT_EQ(test, t_stats(test, 0)->deposited, 24ULL);
	KUNIT_EXPECT_EQ(test, t_stats(test, 1)->free, (u64)T_PAGES);

	/* A hole is filled by the next search once it wraps around to it. */
	KUNIT_EXPECT_EQ(test, hvcarve_pool_release(pool, pfns + 4, 2, false), 0UL);
	KUNIT_ASSERT_EQ(test, hvcarve_pool_alloc(pool, 0, pfns, T_PAGES - 22, 0),
			(unsigned long)T_PAGES - 22);
	KUNIT_EXPECT_EQ(test, pfns[T_PAGES - 24], t_pfn(0, 4));
	KUNIT_EXPECT_EQ(test, pfns[T_PAGES - 23], t_pfn(0, 5));
	t_expect_sum(test, 0);
}

static void hvcarve_test_alloc_node(struct kunit *test)
{
	struct hvcarve_pool *pool = t_pool(test);
	u64 pfns[2 * T_PAGES];
	unsigned long got, i;

	/* Node 1 first, then the rest from node 0's region. */
	got = hvcarve_pool_alloc(pool, 1, pfns, T_PAGES + 10, 0);
	KUNIT_ASSERT_EQ(test, got, (unsigned long)T_PAGES + 10);
	for (i = 0; i < T_PAGES; i++)
		KUNIT_EXPECT_EQ(test, pfns[i], t_pfn(1, i));
	for (i = 0; i < 10; i++)
		KUNIT_EXPECT_EQ(test, pfns[T_PAGES + i], t_pfn(0, i));

	/* An unknown node takes from anywhere. */
	KUNIT_EXPECT_EQ(test, hvcarve_pool_alloc(pool, 7, pfns, 1, 0), 1UL);
	KUNIT_EXPECT_EQ(test, pfns[0], t_pfn(0, 10));
}

static void hvcarve_test_exhaustion(struct kunit *test)
{
	struct hvcarve_pool *pool = t_pool(test);
	u64 pfns[2 * T_PAGES + 5];

	KUNIT_EXPECT_EQ(test, hvcarve_pool_alloc(pool, NUMA_NO_NODE, pfns,
						 ARRAY_SIZE(pfns), 0),
			2UL * T_PAGES);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_alloc(pool, NUMA_NO_NODE, pfns, 1, 0), 0UL);
	KUNIT_EXPECT_EQ(test, t_stats(test, 0)->free, 0ULL);
	KUNIT_EXPECT_EQ(test, t_stats(test, 1)->free, 0ULL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_alloc_aligned(pool, NUMA_NO_NODE, 0,
							 pfns), -ENOMEM);
	hvcarve_pool_failed(pool, 1, 3);
	KUNIT_EXPECT_EQ(test, t_stats(test, 1)->deposit_fail, 3ULL);
	hvcarve_pool_failed(pool, 5, 2);
	KUNIT_EXPECT_EQ(test, t_stats(test, 0)->deposit_fail, 2ULL);
}

/*
 * Releasing a page that is free again changes nothing (a withdrawal may
 * have returned it); a page outside the pool, or an inherited one, is
 * reported to the caller and changes nothing either.
 */
static void hvcarve_test_double_release(struct kunit *test)
{
	struct hvcarve_pool *pool = t_pool(test);
	u64 pfn, held, outside = t_pfn(0, T_PAGES);

	KUNIT_ASSERT_EQ(test, hvcarve_pool_alloc(pool, 0, &pfn, 1, 0), 1UL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_release(pool, &pfn, 1, false), 0UL);
	KUNIT_EXPECT_EQ(test, t_stats(test, 0)->free, (u64)T_PAGES);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_release(pool, &pfn, 1, false), 0UL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_release(pool, &outside, 1, false), 1UL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_held(pool, &pfn, 1), 0UL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_deposited(pool, &pfn, 1), 0UL);
	KUNIT_EXPECT_EQ(test, t_stats(test, 0)->deposit_success, 1ULL);
	KUNIT_ASSERT_EQ(test, hvcarve_pool_alloc(pool, 0, &held, 1, 0), 1UL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_held(pool, &held, 1), 0UL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_held(pool, &held, 1), 1UL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_release(pool, &held, 1, false), 1UL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_deposited(pool, &held, 1), 1UL);
	KUNIT_EXPECT_EQ(test, t_stats(test, 0)->inherited, 1ULL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_withdrawn(pool, &held, 1), 0UL);
	KUNIT_EXPECT_EQ(test, t_stats(test, 0)->free, (u64)T_PAGES);
	KUNIT_EXPECT_EQ(test, t_stats(test, 0)->inherited, 0ULL);
	KUNIT_EXPECT_EQ(test, bitmap_weight(pool->regions[0].taken, T_PAGES), 0U);
	t_expect_sum(test, 0);
}

static void hvcarve_test_deposit_withdraw(struct kunit *test)
{
	struct hvcarve_pool *pool = t_pool(test);
	struct hvcarve_stats *st = t_stats(test, 0);
	u64 pfns[10], never = t_pfn(0, 60);

	KUNIT_ASSERT_EQ(test, hvcarve_pool_alloc(pool, 0, pfns, 10, 0), 10UL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_deposited(pool, pfns, 8), 0UL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_held(pool, pfns + 8, 1), 0UL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_release(pool, pfns + 9, 1, false), 0UL);
	KUNIT_EXPECT_EQ(test, st->deposited, 8ULL);
	KUNIT_EXPECT_EQ(test, st->inherited, 1ULL);
	KUNIT_EXPECT_EQ(test, st->deposit_success, 8ULL);
	/* The peak counts the pages of the call in flight too. */
	KUNIT_EXPECT_EQ(test, st->peak, 10ULL);
	KUNIT_EXPECT_EQ(test, st->free, (u64)T_PAGES - 9);

	KUNIT_EXPECT_EQ(test, hvcarve_pool_withdrawn(pool, pfns, 4), 0UL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_withdrawn(pool, pfns + 8, 1), 0UL);
	KUNIT_EXPECT_EQ(test, st->deposited, 4ULL);
	KUNIT_EXPECT_EQ(test, st->inherited, 0ULL);
	KUNIT_EXPECT_EQ(test, st->withdrawn, 5ULL);
	KUNIT_EXPECT_EQ(test, st->free, (u64)T_PAGES - 4);

	/* Held since before a kexec, never tried: free already, counted. */
	KUNIT_EXPECT_EQ(test, hvcarve_pool_withdrawn(pool, &never, 1), 0UL);
	KUNIT_EXPECT_EQ(test, st->free, (u64)T_PAGES - 4);
	KUNIT_EXPECT_EQ(test, st->withdrawn, 6ULL);

	/* Not a pool page: the caller handles it. */
	never = PHYS_PFN(__pa_symbol(_text));
	KUNIT_EXPECT_EQ(test, hvcarve_pool_withdrawn(pool, &never, 1), 1UL);
	t_expect_sum(test, 0);
}

/* Skipped pages leave the fast path and come back when nothing else is left. */
static void hvcarve_test_skipped(struct kunit *test)
{
	struct hvcarve_pool *pool = t_pool(test);
	struct hvcarve_stats *st = t_stats(test, 0);
	u64 pfns[T_PAGES], pfn;

	KUNIT_EXPECT_EQ(test, hvcarve_pool_skip(pool, t_pfn(0, 0), 16), 16UL);
	/* Only free pages move; the range stops at the region's end. */
	KUNIT_EXPECT_EQ(test, hvcarve_pool_skip(pool, t_pfn(0, 8), 16), 8UL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_skip(pool, t_pfn(0, 60), 100), 4UL);
	KUNIT_EXPECT_EQ(test, st->skipped, 28ULL);
	t_expect_sum(test, 0);

	/* The fast path never hands out a skipped page. */
	KUNIT_ASSERT_EQ(test, hvcarve_pool_alloc(pool, 0, pfns, T_PAGES - 28, 0),
			(unsigned long)T_PAGES - 28);
	KUNIT_EXPECT_EQ(test, pfns[0], t_pfn(0, 24));
	KUNIT_EXPECT_EQ(test, pfns[T_PAGES - 29], t_pfn(0, 59));
	KUNIT_EXPECT_EQ(test, st->free, 0ULL);

	/* The slow path does, once free pages ran out. */
	KUNIT_ASSERT_EQ(test, hvcarve_pool_alloc(pool, 0, pfns, 4,
						 HVCARVE_ALLOC_SKIPPED), 4UL);
	KUNIT_EXPECT_EQ(test, pfns[0], t_pfn(0, 60));
	KUNIT_EXPECT_EQ(test, st->skipped, 24ULL);
	/* Refused again: back among the skipped pages. */
	KUNIT_EXPECT_EQ(test, hvcarve_pool_release(pool, pfns, 4, true), 0UL);
	KUNIT_EXPECT_EQ(test, st->skipped, 28ULL);

	/* One given page, from the skipped ones. */
	KUNIT_EXPECT_EQ(test, hvcarve_pool_take(pool, t_pfn(0, 62)),
			HVCARVE_PAGE_SKIPPED);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_take(pool, t_pfn(0, 62)),
			HVCARVE_PAGE_DEPOSITED);
	pfn = t_pfn(0, 62);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_held(pool, &pfn, 1), 0UL);
	KUNIT_EXPECT_EQ(test, st->inherited, 1ULL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_take(pool, t_pfn(0, 62)),
			HVCARVE_PAGE_INHERITED);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_take(pool, t_pfn(1, T_PAGES)),
			HVCARVE_PAGE_OUTSIDE);

	KUNIT_EXPECT_EQ(test, hvcarve_pool_unskip(pool, t_pfn(0, 0), T_PAGES), 27UL);
	KUNIT_EXPECT_EQ(test, st->skipped, 0ULL);
	KUNIT_EXPECT_EQ(test, st->free, 27ULL);
	t_expect_sum(test, 0);
}

/*
 * Skipping and unskipping work a word of the bitmaps at a time: ranges that
 * start and end inside words and cross several, over pages in every state,
 * move exactly the free (or skipped) pages, checked page by page.
 */
#define T_WIDE_PAGES	300

KUNIT_DEFINE_ACTION_WRAPPER(t_pool_destroy, hvcarve_pool_destroy,
			    struct hvcarve_pool *);

/*
 * Skip @nr pages of the region from index @from (cut at T_WIDE_PAGES),
 * expect the free ones among them to move, and note them in @want.
 * Returns how many moved.
 */
static unsigned long t_skip_expect(struct kunit *test, struct hvcarve_pool *pool,
				   enum hvcarve_page *want, unsigned long from,
				   unsigned long nr)
{
	unsigned long i, n = 0;

	for (i = from; i < from + nr && i < T_WIDE_PAGES; i++)
		if (want[i] == HVCARVE_PAGE_FREE) {
			want[i] = HVCARVE_PAGE_SKIPPED;
			n++;
		}
	KUNIT_EXPECT_EQ(test, hvcarve_pool_skip(pool, PHYS_PFN(T_BASE) + from, nr), n);
	return n;
}

static void hvcarve_test_skip_words(struct kunit *test)
{
	struct hvcarve_range r = { T_BASE, T_WIDE_PAGES * PAGE_SIZE };
	static const int nid;
	struct hvcarve_pool *pool;
	enum hvcarve_page *want, got;
	unsigned long i, free = 0, skipped;
	u64 pfn;

	want = kunit_kcalloc(test, T_WIDE_PAGES, sizeof(*want), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, want);
	pool = hvcarve_pool_create(&r, &nid, 1, true);
	KUNIT_ASSERT_NOT_NULL(test, pool);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, t_pool_destroy, pool), 0);
	/* Every seventh page deposited, every eleventh of those inherited. */
	for (i = 0; i < T_WIDE_PAGES; i++) {
		want[i] = HVCARVE_PAGE_FREE;
		if (i % 7)
			continue;
		pfn = PHYS_PFN(T_BASE) + i;
		KUNIT_ASSERT_EQ(test, hvcarve_pool_take(pool, pfn), HVCARVE_PAGE_FREE);
		want[i] = HVCARVE_PAGE_DEPOSITED;
		if (i % 11)
			continue;
		KUNIT_ASSERT_EQ(test, hvcarve_pool_held(pool, &pfn, 1), 0UL);
		want[i] = HVCARVE_PAGE_INHERITED;
	}
	/* From inside a word to the end of the fourth (index 256). */
	for (i = 5; i < 256; i++)
		if (want[i] == HVCARVE_PAGE_FREE) {
			want[i] = HVCARVE_PAGE_SKIPPED;
			free++;
		}
	KUNIT_EXPECT_EQ(test, hvcarve_pool_skip(pool, PHYS_PFN(T_BASE) + 5, 251), free);
	skipped = free;
	/* Inside one word; then cut at the region's end, in its last word. */
	skipped += t_skip_expect(test, pool, want, 258, 4);
	skipped += t_skip_expect(test, pool, want, 280, 1000);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_skip(pool, PHYS_PFN(T_BASE) + 10, 0), 0UL);
	free = 0;
	for (i = 70; i < 200; i++)
		if (want[i] == HVCARVE_PAGE_SKIPPED) {
			want[i] = HVCARVE_PAGE_FREE;
			free++;
		}
	KUNIT_EXPECT_EQ(test, hvcarve_pool_unskip(pool, PHYS_PFN(T_BASE) + 70, 130), free);
	skipped -= free;
	for (i = 0; i < T_WIDE_PAGES; i++) {
		got = hvcarve_pool_page(pool, PHYS_PFN(T_BASE) + i);
		KUNIT_EXPECT_EQ_MSG(test, got, want[i], "page %lu", i);
	}
	/* The counters moved with the pages. */
	for (i = 0, free = 0; i < T_WIDE_PAGES; i++)
		free += want[i] == HVCARVE_PAGE_FREE;
	KUNIT_EXPECT_EQ(test, pool->regions[0].stats.skipped, (u64)skipped);
	KUNIT_EXPECT_EQ(test, pool->regions[0].stats.free, (u64)free);
}

/*
 * Any interleaving of withdraw with a deposit in flight keeps the counters
 * whole: a page accepted and withdrawn (by another CPU) before its deposit
 * is accounted stays free, deposited = accepted - withdrawn.
 */
static void hvcarve_test_interleaving(struct kunit *test)
{
	struct hvcarve_pool *pool = t_pool(test);
	struct hvcarve_stats *st = t_stats(test, 0);
	u64 pfns[3];

	KUNIT_ASSERT_EQ(test, hvcarve_pool_alloc(pool, 0, pfns, 3, 0), 3UL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_withdrawn(pool, pfns, 3), 0UL);
	KUNIT_EXPECT_EQ(test, st->deposited, 0ULL);
	t_expect_sum(test, 0);
	/* One is skipped by another deposit's learning meanwhile. */
	KUNIT_EXPECT_EQ(test, hvcarve_pool_skip(pool, pfns[2], 1), 1UL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_deposited(pool, pfns, 3), 0UL);
	KUNIT_EXPECT_EQ(test, st->deposited, 0ULL);
	KUNIT_EXPECT_EQ(test, st->skipped, 1ULL);
	KUNIT_EXPECT_EQ(test, st->deposit_success, 3ULL);
	KUNIT_EXPECT_EQ(test, st->withdrawn, 3ULL);
	KUNIT_EXPECT_EQ(test, st->deposited,
			st->deposit_success - st->withdrawn);
	t_expect_sum(test, 0);
	/* Withdrawn again (a confused hypervisor): counted, nothing wraps. */
	KUNIT_EXPECT_EQ(test, hvcarve_pool_withdrawn(pool, pfns, 3), 0UL);
	KUNIT_EXPECT_EQ(test, st->deposited, 0ULL);
	KUNIT_EXPECT_EQ(test, st->free, (u64)T_PAGES);
	KUNIT_EXPECT_EQ(test, st->withdrawn, 6ULL);
	/* Released or refused after a withdrawal: nothing changes. */
	KUNIT_EXPECT_EQ(test, hvcarve_pool_release(pool, pfns, 3, false), 0UL);
	KUNIT_EXPECT_EQ(test, hvcarve_pool_held(pool, pfns, 3), 0UL);
	KUNIT_EXPECT_EQ(test, st->free, (u64)T_PAGES);
	t_expect_sum(test, 0);
}

/* Blocks are aligned to their size in physical page frames. */
static void hvcarve_test_aligned(struct kunit *test)
{
	struct hvcarve_pool *pool = t_pool(test);
	u64 pfn, first = t_pfn(0, 0);
	u64 block[8];
	unsigned int i;

	/* Region 0 starts one page past an 8-page boundary. */
	KUNIT_ASSERT_EQ(test, hvcarve_pool_alloc_aligned(pool, 0, 3, &pfn), 0);
	KUNIT_EXPECT_EQ(test, pfn & 7, 0ULL);
	KUNIT_EXPECT_EQ(test, pfn, ALIGN(first, 8));
	KUNIT_EXPECT_EQ(test, t_stats(test, 0)->deposited, 8ULL);

	/* A skipped page inside the next block makes it unusable. */
	KUNIT_EXPECT_EQ(test, hvcarve_pool_skip(pool, pfn + 9, 1), 1UL);
	KUNIT_ASSERT_EQ(test, hvcarve_pool_alloc_aligned(pool, 0, 3, &pfn), 0);
	KUNIT_EXPECT_EQ(test, pfn, ALIGN(first, 8) + 16);

	/* A taken page too. */
	KUNIT_EXPECT_EQ(test, hvcarve_pool_take(pool, pfn + 8), HVCARVE_PAGE_FREE);
	KUNIT_ASSERT_EQ(test, hvcarve_pool_alloc_aligned(pool, 0, 3, &pfn), 0);
	KUNIT_EXPECT_EQ(test, pfn, ALIGN(first, 8) + 32);
	t_expect_sum(test, 0);

	/*
	 * Next fit (issue 16, item 10): a block freed before the last one
	 * is found only once the search wrapped, not by a rescan from the
	 * start on every call.
	 */
	for (i = 0; i < 8; i++)
		block[i] = ALIGN(first, 8) + i;
	KUNIT_EXPECT_EQ(test, hvcarve_pool_release(pool, block, 8, false), 0UL);
	KUNIT_ASSERT_EQ(test, hvcarve_pool_alloc_aligned(pool, 0, 3, &pfn), 0);
	KUNIT_EXPECT_EQ(test, pfn, ALIGN(first, 8) + 40);
	KUNIT_ASSERT_EQ(test, hvcarve_pool_alloc_aligned(pool, 0, 3, &pfn), 0);
	KUNIT_EXPECT_EQ(test, pfn, ALIGN(first, 8) + 48);
	/* Then the region's end: the search wraps to the freed block. */
	KUNIT_ASSERT_EQ(test, hvcarve_pool_alloc_aligned(pool, 0, 3, &pfn), 0);
	KUNIT_EXPECT_EQ(test, pfn, ALIGN(first, 8));
	/* Region 0 has no free block left; region 1 (node 1) serves. */
	KUNIT_ASSERT_EQ(test, hvcarve_pool_alloc_aligned(pool, 0, 3, &pfn), 0);
	KUNIT_EXPECT_EQ(test, pfn, ALIGN(t_pfn(1, 0), 8));
	t_expect_sum(test, 0);
}

static struct kunit_case hvcarve_pool_test_cases[] = {
	KUNIT_CASE(hvcarve_test_alloc_contiguous),
	KUNIT_CASE(hvcarve_test_alloc_node),
	KUNIT_CASE(hvcarve_test_exhaustion),
	KUNIT_CASE(hvcarve_test_double_release),
	KUNIT_CASE(hvcarve_test_deposit_withdraw),
	KUNIT_CASE(hvcarve_test_skipped),
	KUNIT_CASE(hvcarve_test_skip_words),
	KUNIT_CASE(hvcarve_test_interleaving),
	KUNIT_CASE(hvcarve_test_aligned),
	{}
};

static struct kunit_suite hvcarve_pool_test_suite = {
	.name = "hvcarve_pool",
	.init = hvcarve_pool_test_init,
	.exit = hvcarve_pool_test_exit,
	.test_cases = hvcarve_pool_test_cases,
};

kunit_test_suites(&hvcarve_parse_test_suite, &hvcarve_pool_test_suite);
