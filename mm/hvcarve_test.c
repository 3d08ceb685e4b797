// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for hvcarve. Included at the end of mm/hvcarve.c, so the
 * tests reach its static helpers.
 */

#include <kunit/test.h>

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

static void hvcarve_test_pfn_lookup(struct kunit *test)
{
	unsigned int i;

	/* Whatever this boot reserved, both ends of each region are in. */
	for (i = 0; i < hvcarve_nr_regions; i++) {
		const struct hvcarve_region *reg = &hvcarve_regions[i];

		KUNIT_EXPECT_TRUE(test, hvcarve_pfn_in_carveout(PHYS_PFN(reg->base)));
		KUNIT_EXPECT_TRUE(test, hvcarve_pfn_in_carveout(PHYS_PFN(reg->base +
									 reg->size) - 1));
	}
	/* The kernel image is never in the carveout. */
	KUNIT_EXPECT_FALSE(test, hvcarve_pfn_in_carveout(PHYS_PFN(__pa_symbol(_text))));
	KUNIT_EXPECT_FALSE(test, hvcarve_pfn_in_carveout(PHYS_PFN(__pa_symbol(_end))));
}

static struct kunit_case hvcarve_parse_test_cases[] = {
	KUNIT_CASE_PARAM(hvcarve_test_parse, hvcarve_parse_gen_params),
	KUNIT_CASE(hvcarve_test_parse_repeated),
	KUNIT_CASE(hvcarve_test_pfn_lookup),
	{}
};

static struct kunit_suite hvcarve_parse_test_suite = {
	.name = "hvcarve_parse",
	.test_cases = hvcarve_parse_test_cases,
};

/*
 * Pool tests run on two fake regions swapped in for the real table. The
 * pool never touches the memory it manages, so the fake addresses are
 * never accessed. KUnit runs at boot, before anything can deposit.
 */
#define HVCARVE_TEST_PAGES	64
#define HVCARVE_TEST_BASE	BIT_ULL(44)

struct hvcarve_pool_ctx {
	struct hvcarve_region saved[HVCARVE_MAX_REGIONS];
	unsigned int saved_nr;
	enum hvcarve_state saved_state;
	bool saved_ready;
};

static int hvcarve_pool_test_init(struct kunit *test)
{
	struct hvcarve_pool_ctx *ctx;
	unsigned int i;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	memcpy(ctx->saved, hvcarve_regions, sizeof(hvcarve_regions));
	ctx->saved_nr = hvcarve_nr_regions;
	ctx->saved_state = hvcarve_state;
	ctx->saved_ready = hvcarve_pool_ready;
	test->priv = ctx;

	memset(hvcarve_regions, 0, sizeof(hvcarve_regions));
	for (i = 0; i < 2; i++) {
		struct hvcarve_region *reg = &hvcarve_regions[i];

		reg->base = HVCARVE_TEST_BASE + i * SZ_1G;
		reg->size = HVCARVE_TEST_PAGES * PAGE_SIZE;
		reg->nid = i;
	}
	hvcarve_nr_regions = 2;
	for (i = 0; i < 2; i++) {
		struct hvcarve_region *reg = &hvcarve_regions[i];

		spin_lock_init(&reg->lock);
		xa_init(&reg->inherited);
		reg->bitmap = bitmap_zalloc(HVCARVE_TEST_PAGES, GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, reg->bitmap);
		reg->stats.free = HVCARVE_TEST_PAGES;
	}
	hvcarve_state = HVCARVE_ACTIVE;
	hvcarve_pool_ready = true;
	return 0;
}

static void hvcarve_pool_test_exit(struct kunit *test)
{
	struct hvcarve_pool_ctx *ctx = test->priv;
	unsigned int i;

	for (i = 0; i < hvcarve_nr_regions; i++) {
		bitmap_free(hvcarve_regions[i].bitmap);
		xa_destroy(&hvcarve_regions[i].inherited);
	}
	memcpy(hvcarve_regions, ctx->saved, sizeof(hvcarve_regions));
	hvcarve_nr_regions = ctx->saved_nr;
	hvcarve_state = ctx->saved_state;
	hvcarve_pool_ready = ctx->saved_ready;
}

static u64 hvcarve_test_pfn(unsigned int region, unsigned long idx)
{
	return PHYS_PFN(HVCARVE_TEST_BASE + region * SZ_1G) + idx;
}

static void hvcarve_test_alloc_contiguous(struct kunit *test)
{
	u64 pfns[HVCARVE_TEST_PAGES];
	unsigned int i;

	KUNIT_ASSERT_EQ(test, hvcarve_alloc_pages(0, pfns, 8), 8UL);
	KUNIT_ASSERT_EQ(test, hvcarve_alloc_pages(0, pfns + 8, 16), 16UL);
	for (i = 0; i < 24; i++)
		KUNIT_EXPECT_EQ(test, pfns[i], hvcarve_test_pfn(0, i));
	KUNIT_EXPECT_EQ(test, hvcarve_regions[0].stats.free,
			(u64)HVCARVE_TEST_PAGES - 24);
	KUNIT_EXPECT_EQ(test, hvcarve_regions[1].stats.free, (u64)HVCARVE_TEST_PAGES);

	/* A hole is filled by the next search once it wraps around to it. */
	hvcarve_release_pages(pfns + 4, 2);
	KUNIT_ASSERT_EQ(test, hvcarve_alloc_pages(0, pfns, HVCARVE_TEST_PAGES - 22),
			(unsigned long)HVCARVE_TEST_PAGES - 22);
	KUNIT_EXPECT_EQ(test, pfns[HVCARVE_TEST_PAGES - 24], hvcarve_test_pfn(0, 4));
	KUNIT_EXPECT_EQ(test, pfns[HVCARVE_TEST_PAGES - 23], hvcarve_test_pfn(0, 5));
}

static void hvcarve_test_alloc_node(struct kunit *test)
{
	u64 pfns[2 * HVCARVE_TEST_PAGES];
	unsigned long got, i;

	/* Node 1 first, then the rest from node 0's region. */
	got = hvcarve_alloc_pages(1, pfns, HVCARVE_TEST_PAGES + 10);
	KUNIT_ASSERT_EQ(test, got, (unsigned long)HVCARVE_TEST_PAGES + 10);
	for (i = 0; i < HVCARVE_TEST_PAGES; i++)
		KUNIT_EXPECT_EQ(test, pfns[i], hvcarve_test_pfn(1, i));
	for (i = 0; i < 10; i++)
		KUNIT_EXPECT_EQ(test, pfns[HVCARVE_TEST_PAGES + i], hvcarve_test_pfn(0, i));

	/* An unknown node takes from anywhere. */
	KUNIT_EXPECT_EQ(test, hvcarve_alloc_pages(7, pfns, 1), 1UL);
	KUNIT_EXPECT_EQ(test, pfns[0], hvcarve_test_pfn(0, 10));
}

static void hvcarve_test_exhaustion(struct kunit *test)
{
	u64 pfns[2 * HVCARVE_TEST_PAGES + 5];

	KUNIT_EXPECT_EQ(test, hvcarve_alloc_pages(NUMA_NO_NODE, pfns, ARRAY_SIZE(pfns)),
			2UL * HVCARVE_TEST_PAGES);
	KUNIT_EXPECT_EQ(test, hvcarve_alloc_pages(NUMA_NO_NODE, pfns, 1), 0UL);
	KUNIT_EXPECT_EQ(test, hvcarve_regions[0].stats.free, 0ULL);
	KUNIT_EXPECT_EQ(test, hvcarve_regions[1].stats.free, 0ULL);

	/* Not active: nothing, ever. */
	hvcarve_release_pages(pfns, 1);
	hvcarve_state = HVCARVE_INVALID;
	KUNIT_EXPECT_EQ(test, hvcarve_alloc_pages(NUMA_NO_NODE, pfns, 1), 0UL);
}

static void hvcarve_test_double_release(struct kunit *test)
{
	u64 pfn, outside = hvcarve_test_pfn(0, HVCARVE_TEST_PAGES);

	KUNIT_ASSERT_EQ(test, hvcarve_alloc_pages(0, &pfn, 1), 1UL);
	hvcarve_release_pages(&pfn, 1);
	KUNIT_EXPECT_EQ(test, hvcarve_regions[0].stats.free, (u64)HVCARVE_TEST_PAGES);
	/* Warns once; the pool does not change. */
	hvcarve_release_pages(&pfn, 1);
	KUNIT_EXPECT_EQ(test, hvcarve_regions[0].stats.free, (u64)HVCARVE_TEST_PAGES);
	hvcarve_release_pages(&outside, 1);
	KUNIT_EXPECT_EQ(test, hvcarve_regions[0].stats.free, (u64)HVCARVE_TEST_PAGES);
	KUNIT_EXPECT_EQ(test, bitmap_weight(hvcarve_regions[0].bitmap,
					    HVCARVE_TEST_PAGES), 0U);
}

static void hvcarve_test_deposit_withdraw(struct kunit *test)
{
	struct hvcarve_stats *st = &hvcarve_regions[0].stats;
	u64 pfns[10];
	unsigned int i;

	KUNIT_ASSERT_EQ(test, hvcarve_alloc_pages(0, pfns, 10), 10UL);
	hvcarve_deposit_done(pfns, 8);
	hvcarve_mark_inherited(pfns[8]);
	hvcarve_release_pages(pfns + 9, 1);
	KUNIT_EXPECT_EQ(test, st->deposited, 8ULL);
	KUNIT_EXPECT_EQ(test, st->inherited, 1ULL);
	KUNIT_EXPECT_EQ(test, st->deposit_success, 8ULL);
	KUNIT_EXPECT_EQ(test, st->peak_deposited, 9ULL);
	KUNIT_EXPECT_EQ(test, st->free, (u64)HVCARVE_TEST_PAGES - 9);

	for (i = 0; i < 4; i++)
		KUNIT_EXPECT_TRUE(test, hvcarve_withdrawn(pfns[i]));
	KUNIT_EXPECT_TRUE(test, hvcarve_withdrawn(pfns[8]));
	KUNIT_EXPECT_EQ(test, st->deposited, 4ULL);
	KUNIT_EXPECT_EQ(test, st->inherited, 0ULL);
	KUNIT_EXPECT_EQ(test, st->withdrawn, 5ULL);
	KUNIT_EXPECT_EQ(test, st->peak_deposited, 9ULL);
	KUNIT_EXPECT_EQ(test, st->free, (u64)HVCARVE_TEST_PAGES - 4);

	/* Held since before a kexec, never tried: free already, counted. */
	KUNIT_EXPECT_TRUE(test, hvcarve_withdrawn(hvcarve_test_pfn(0, 60)));
	KUNIT_EXPECT_EQ(test, st->free, (u64)HVCARVE_TEST_PAGES - 4);
	KUNIT_EXPECT_EQ(test, st->deposited, 4ULL);
	KUNIT_EXPECT_EQ(test, st->withdrawn, 6ULL);

	/* Not a carveout page: the caller frees it. */
	KUNIT_EXPECT_FALSE(test, hvcarve_withdrawn(PHYS_PFN(__pa_symbol(_text))));

	hvcarve_deposit_failed(0, NULL, 3);
	hvcarve_deposit_failed(0, pfns, 2);
	KUNIT_EXPECT_EQ(test, st->deposit_fail, 5ULL);
}

static struct kunit_case hvcarve_pool_test_cases[] = {
	KUNIT_CASE(hvcarve_test_alloc_contiguous),
	KUNIT_CASE(hvcarve_test_alloc_node),
	KUNIT_CASE(hvcarve_test_exhaustion),
	KUNIT_CASE(hvcarve_test_double_release),
	KUNIT_CASE(hvcarve_test_deposit_withdraw),
	{}
};

static struct kunit_suite hvcarve_pool_test_suite = {
	.name = "hvcarve_pool",
	.init = hvcarve_pool_test_init,
	.exit = hvcarve_pool_test_exit,
	.test_cases = hvcarve_pool_test_cases,
};

kunit_test_suites(&hvcarve_parse_test_suite, &hvcarve_pool_test_suite);
