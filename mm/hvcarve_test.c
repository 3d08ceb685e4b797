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

kunit_test_suites(&hvcarve_parse_test_suite);
