// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for the hvcarve deposit glue's learning: a private pool and a
 * fake hypervisor that holds chosen pages, as one that outlived a kexec
 * would, and refuses them the way hv_carve_backend documents. Neither
 * touches any memory but its own bitmaps. And what a withdrawal does with
 * a page this kernel did not deposit: one page of the test's own, through
 * the live glue, which it leaves as it was.
 */

#include <kunit/test.h>
#include <linux/bitmap.h>
#include <linux/gfp.h>
#include <linux/hv_deposit_gate.h>
#include <linux/hvcarve.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/numa.h>
#include <linux/pfn.h>
#include <linux/sizes.h>

#include "hv_carve_deposit.h"

/* 64 MiB at an address no test machine has RAM at. */
#define T_PAGES		16384UL
#define T_BASE		BIT_ULL(44)
#define T_PARTITION	7
#define T_SEED		0x5eedULL
#define T_SEEDS		32	/* of learn_run_to_held_end */

enum fake_mode {
	FAKE_NORMAL,
	FAKE_DENY,	/* every call refused at its first page, -EEXIST */
	FAKE_ACCESS,	/* every call refused with -EACCES */
	FAKE_BLIND,	/* a held page is accepted, and not counted again */
};

/* The fake hypervisor; the backend callbacks have no context argument. */
static struct {
	unsigned long *held;	/* one bit per pool page */
	enum fake_mode mode;
	u64 inuse;		/* refused with -EBUSY; 0 for none */
	u64 calls;
	u64 accepted;	/* the partition's memory balance */
	u64 trace;	/* a hash of every call's first page and length */
	u64 seed;	/* of learning's probes */
} fake;

static u64 t_pfn(unsigned long idx)
{
	return PHYS_PFN(T_BASE) + idx;
}

static int fake_deposit(u64 partition_id, const u64 *pfns, unsigned int nr,
			unsigned int *done)
{
	unsigned int i;
	u64 idx;

	fake.calls++;
	fake.trace = (fake.trace ^ pfns[0] ^ ((u64)nr << 48)) * 0x100000001b3ULL;
	*done = 0;
	if (fake.mode == FAKE_DENY)
		return -EEXIST;
	if (fake.mode == FAKE_ACCESS)
		return -EACCES;
	for (i = 0; i < nr; i++) {
		idx = pfns[i] - t_pfn(0);
		if (idx >= T_PAGES)
			return -EINVAL;
		if (pfns[i] == fake.inuse)
			return -EBUSY;
		if (test_bit(idx, fake.held) && fake.mode == FAKE_BLIND) {
			(*done)++;
			continue;
		}
		if (test_bit(idx, fake.held))
			return -EEXIST;
		__set_bit(idx, fake.held);
		fake.accepted++;
		(*done)++;
	}
	return 0;
}

static int fake_withdraw(u64 partition_id, u64 *pfns, unsigned int max,
			 unsigned int *done)
{
	*done = 0;
	return 0;
}

static long fake_balance(u64 partition_id)
{
	return fake.accepted;
}

static const struct hv_carve_backend fake_backend = {
	.name = "kunit",
	.deposit = fake_deposit,
	.withdraw = fake_withdraw,
	.balance = fake_balance,
};

/* A pool after a kexec (@inherited) or after a cold boot. */
static int pool_init(struct kunit *test, bool inherited)
{
	struct hvcarve_range r = { T_BASE, T_PAGES * PAGE_SIZE };
	static const int nid;

	memset(&fake, 0, sizeof(fake));
	/* Learning's probes from a seed of the test's, never the live one. */
	fake.seed = T_SEED;
	fake.held = kunit_kzalloc(test, BITS_TO_LONGS(T_PAGES) * sizeof(long),
				  GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, fake.held);
	test->priv = hvcarve_pool_create(&r, &nid, 1, inherited);
	KUNIT_ASSERT_NOT_NULL(test, test->priv);
	return 0;
}

static int learn_init(struct kunit *test)
{
	return pool_init(test, true);
}

static void learn_exit(struct kunit *test)
{
	hvcarve_pool_destroy(test->priv);
}

/* The hypervisor holds [first, first + n) since "before the kexec". */
static void hold(unsigned long first, unsigned long n)
{
	bitmap_set(fake.held, first, n);
}

static int deposit(struct kunit *test, u32 n, struct hv_carve_op_stats *st)
{
	return hv_carve_pool_deposit(&fake_backend, test->priv, NUMA_NO_NODE,
				     T_PARTITION, n, fake.seed, st);
}

/*
 * The pool and the fake agree: every page the pool has as deposited or
 * inherited is held; the states add up to the region.
 */
static struct hvcarve_stats stats(struct kunit *test)
{
	struct hvcarve_stats st;

	KUNIT_EXPECT_EQ(test, hvcarve_pool_stats(test->priv, 0, &st), 0);
	return st;
}

static void expect_consistent(struct kunit *test)
{
	struct hvcarve_stats st = stats(test);
	enum hvcarve_page state;
	unsigned long i, bad = 0;

	KUNIT_EXPECT_EQ(test, st.free + st.deposited + st.inherited +
			st.skipped, (u64)T_PAGES);
	for (i = 0; i < T_PAGES; i++) {
		state = hvcarve_pool_page(test->priv, t_pfn(i));
		if ((state == HVCARVE_PAGE_DEPOSITED ||
		     state == HVCARVE_PAGE_INHERITED) && !test_bit(i, fake.held))
			bad++;
	}
	KUNIT_EXPECT_EQ_MSG(test, bad, 0UL,
			    "pages out of the pool that the hypervisor does not hold");
	/* Nothing here contradicts hvcarve: the balance checks passed. */
	KUNIT_EXPECT_FALSE(test, hvcarve_pool_distrusted(test->priv));
}

/*
 * The bound of the issue this implements: at most 2 R ceil(log2(K / R))
 * + N / 511 + 10 backend calls to deposit N pages past K held pages in R
 * runs.
 */
static u64 call_bound(u64 k, u64 runs, u64 n)
{
	return 2 * runs * order_base_2(DIV_ROUND_UP(k, runs)) +
	       n / HV_CARVE_DEPOSIT_MAX + 10;
}

static void learn_fresh(struct kunit *test)
{
	struct hv_carve_op_stats st;

	KUNIT_ASSERT_EQ(test, deposit(test, 5000, &st), 0);
	KUNIT_EXPECT_EQ(test, st.calls, (u64)DIV_ROUND_UP(5000, HV_CARVE_DEPOSIT_MAX));
	KUNIT_EXPECT_EQ(test, st.refusals, 0ULL);
	KUNIT_EXPECT_EQ(test, fake.accepted, 5000ULL);
	expect_consistent(test);
}

static void learn_one_run(struct kunit *test)
{
	struct hv_carve_op_stats st;

	hold(0, 10000);
	KUNIT_ASSERT_EQ(test, deposit(test, 5000, &st), 0);
	kunit_info(test, "1 run of 10000: %llu calls, %llu refusals\n",
		   st.calls, st.refusals);
	KUNIT_EXPECT_EQ(test, fake.accepted, 5000ULL);
	KUNIT_EXPECT_LE(test, st.calls, call_bound(10000, 1, 5000));
	KUNIT_EXPECT_EQ(test, stats(test).deposited, 5000ULL);
	KUNIT_EXPECT_EQ(test, st.unlearnt, 0ULL);
	expect_consistent(test);
}

static void learn_three_runs(struct kunit *test)
{
	struct hv_carve_op_stats st;

	hold(0, 3000);
	hold(3500, 3000);
	hold(7000, 3000);
	KUNIT_ASSERT_EQ(test, deposit(test, 5000, &st), 0);
	kunit_info(test, "3 runs of 3000: %llu calls, %llu refusals\n",
		   st.calls, st.refusals);
	KUNIT_EXPECT_EQ(test, fake.accepted, 5000ULL);
	KUNIT_EXPECT_LE(test, st.calls, call_bound(9000, 3, 5000));
	expect_consistent(test);
}

/* Held pages one in two: no runs to skip; one call per held page met. */
static void learn_fragmented(struct kunit *test)
{
	struct hv_carve_op_stats st;
	unsigned long i;

	for (i = 0; i < 4000; i += 2)
		hold(i, 1);
	KUNIT_ASSERT_EQ(test, deposit(test, 1000, &st), 0);
	kunit_info(test, "fragmented: %llu calls, %llu refusals for 1000 pages\n",
		   st.calls, st.refusals);
	KUNIT_EXPECT_EQ(test, fake.accepted, 1000ULL);
	/*
	 * The one-call-per-held-page baseline: one call per refusal, plus
	 * one per batch of the 2000 pages looked at.
	 */
	KUNIT_EXPECT_LE(test, st.calls,
			st.refusals + DIV_ROUND_UP(2000, HV_CARVE_DEPOSIT_MAX) + 1);
	expect_consistent(test);
}

/*
 * Free pages inside a run are skipped at first, and still reached once
 * the pool has no other free page: each deposit tries a bounded number of
 * skipped pages, the next one goes on after them, and no held page is
 * accepted twice.
 */
static void learn_pool_low(struct kunit *test)
{
	struct hv_carve_op_stats st;
	u64 free = T_PAGES - 14000;
	unsigned int i;
	int ret = 0;

	hold(0, 6000);
	hold(6010, 8000);	/* a hole of 10 free pages inside the run */
	KUNIT_ASSERT_EQ(test, deposit(test, free - 10, &st), 0);
	KUNIT_EXPECT_EQ(test, stats(test).free, 0ULL);
	expect_consistent(test);

	/* The hole: found within a bounded number of deposits. */
	for (i = 0; i < 64 && fake.accepted < free; i++) {
		ret = deposit(test, 1, &st);
		KUNIT_EXPECT_TRUE(test, ret == 0 || ret == -ENOSPC);
		KUNIT_EXPECT_LE(test, st.calls, 2ULL * HVCARVE_MAX_REGIONS *
				(BITS_PER_LONG + 2));
	}
	kunit_info(test, "10 free pages among 14000 skipped: found in %u deposits\n",
		   i);
	KUNIT_EXPECT_EQ(test, fake.accepted, free);
	KUNIT_EXPECT_EQ(test, bitmap_weight(fake.held, T_PAGES), (unsigned int)T_PAGES);
	expect_consistent(test);

	/* Nothing is left: the deposit says so, and learns nothing wrong. */
	KUNIT_EXPECT_EQ(test, deposit(test, 1, &st), -ENOSPC);
	KUNIT_EXPECT_EQ(test, fake.accepted, free);
	expect_consistent(test);
}

/*
 * Stray held pages exactly where a skip-ahead from the start of a run
 * would probe, as earlier kernels' accepted probes leave them: a run of
 * 8192, then pages 8192 + 2^i and the region's last page. A skip-ahead
 * that probes the same pages every time walks from the run onto them to
 * the end of the region, and the deposit then gave up (-EACCES: 528
 * skipped held pages tried in a row, none accepted), although half the
 * region is free (found by distro.bats after 21 kexecs).
 */
static void learn_probe_aligned(struct kunit *test)
{
	struct hv_carve_op_stats st;
	unsigned long i;

	hold(0, 8192);
	hold(8192, 1);
	for (i = 1; 8192 + i < T_PAGES; i <<= 1)
		hold(8192 + i, 1);
	hold(T_PAGES - 1, 1);
	KUNIT_ASSERT_EQ(test, deposit(test, 1000, &st), 0);
	kunit_info(test, "run of 8192, then held pages at 2^i: %llu calls, %llu refusals\n",
		   st.calls, st.refusals);
	KUNIT_EXPECT_EQ(test, fake.accepted, 1000ULL);
	KUNIT_EXPECT_LE(test, st.calls, call_bound(8192, 1, 1000) + 16);
	expect_consistent(test);
}

/*
 * The held pages the sim's ledger showed when a 52-kexec UEFI chain
 * stopped at generation 38 (efi.bats; the host's dump of the carveout at
 * that boot): one run of 10786 pages from the region's start, five single
 * pages that earlier kernels' accepted probes left held, and the region's
 * last page, where a skip-ahead that reached the end of the region always
 * probed. The deposit of 568 pages gave up with -EACCES: the skip-ahead
 * from the run's start ended on that last page, the one random page then
 * tried in the stretch before it was held too, so every page after the
 * run's start was taken as held and skipped, and the skipped pages were
 * then tried one by one, 528 held ones in a row. Before the fix 6 of the
 * 32 seeds here failed so. Every seed must deposit, within the bound.
 */
static void learn_run_to_held_end(struct kunit *test)
{
	static const unsigned long single[] = {
		10872, 10957, 11136, 12766, 12912, T_PAGES - 1,
	};
	struct hv_carve_op_stats st;
	unsigned int s, i, failed = 0;
	u64 most = 0;
	int ret;

	for (s = 0; s < T_SEEDS; s++) {
		hvcarve_pool_destroy(test->priv);
		pool_init(test, true);
		fake.seed = T_SEED + s;
		hold(0, 10786);
		for (i = 0; i < ARRAY_SIZE(single); i++)
			hold(single[i], 1);
		ret = deposit(test, 568, &st);
		if (ret || fake.accepted != 568) {
			kunit_info(test, "seed %#llx: %d after %llu pages, %llu calls\n",
				   fake.seed, ret, fake.accepted, st.calls);
			failed++;
		}
		most = max(most, st.calls);
		expect_consistent(test);
	}
	kunit_info(test, "%u seeds: at most %llu calls\n", T_SEEDS, most);
	KUNIT_EXPECT_EQ(test, failed, 0U);
	KUNIT_EXPECT_LE(test, most, call_bound(10786 + ARRAY_SIZE(single),
					       1 + ARRAY_SIZE(single), 568));
}

/* A partition-wide refusal ends within the bound, and teaches nothing. */
static void learn_denied(struct kunit *test)
{
	struct hv_carve_op_stats st;
	struct hvcarve_stats rs;

	fake.mode = FAKE_DENY;
	KUNIT_EXPECT_EQ(test, deposit(test, 100, &st), -EACCES);
	kunit_info(test, "denied: %llu calls\n", st.calls);
	KUNIT_EXPECT_LE(test, st.calls, (u64)HVCARVE_MAX_REGIONS * (BITS_PER_LONG + 2) + 1);
	KUNIT_EXPECT_EQ(test, st.learnt, 0ULL);
	rs = stats(test);
	KUNIT_EXPECT_EQ(test, rs.free, (u64)T_PAGES);
	KUNIT_EXPECT_EQ(test, rs.skipped, 0ULL);
	KUNIT_EXPECT_EQ(test, rs.inherited, 0ULL);
	KUNIT_EXPECT_EQ(test, rs.deposited, 0ULL);

	/* The same pool works once the hypervisor does. */
	fake.mode = FAKE_NORMAL;
	KUNIT_EXPECT_EQ(test, deposit(test, 100, &st), 0);
	KUNIT_EXPECT_EQ(test, st.calls, 1ULL);
	expect_consistent(test);
}

static void learn_access_denied(struct kunit *test)
{
	struct hv_carve_op_stats st;
	struct hvcarve_stats rs;

	hold(0, 100);
	fake.mode = FAKE_ACCESS;
	KUNIT_EXPECT_EQ(test, deposit(test, 100, &st), -EACCES);
	KUNIT_EXPECT_EQ(test, st.calls, 1ULL);
	rs = stats(test);
	KUNIT_EXPECT_EQ(test, rs.free, (u64)T_PAGES);
	expect_consistent(test);
}

/* A page in use for another purpose is kept out, like a held one. */
static void learn_in_use(struct kunit *test)
{
	struct hv_carve_op_stats st;
	struct hvcarve_stats rs;

	fake.inuse = t_pfn(5);
	KUNIT_ASSERT_EQ(test, deposit(test, 100, &st), 0);
	/* 5 accepted, 1 refused, 94 accepted, then the last 1. */
	KUNIT_EXPECT_EQ(test, st.calls, 3ULL);
	rs = stats(test);
	KUNIT_EXPECT_EQ(test, rs.inherited, 1ULL);
	KUNIT_EXPECT_EQ(test, fake.accepted, 100ULL);
}

/*
 * A refusal at the first page of a call is confirmed by a later
 * acceptance; one after the last acceptance is undone.
 */
static void learn_confirm(struct kunit *test)
{
	struct hv_carve_op_stats st;
	struct hvcarve_stats rs;

	hold(0, 1);
	KUNIT_ASSERT_EQ(test, deposit(test, 10, &st), 0);
	KUNIT_EXPECT_EQ(test, st.refusals, 1ULL);
	KUNIT_EXPECT_EQ(test, st.learnt, 1ULL);
	rs = stats(test);
	KUNIT_EXPECT_EQ(test, rs.inherited, 1ULL);

	/*
	 * All that is left is held: refused, never confirmed, undone. That
	 * cannot be told from a hypervisor that refuses everything.
	 */
	hold(0, T_PAGES);
	KUNIT_EXPECT_EQ(test, deposit(test, 10, &st), -EACCES);
	KUNIT_EXPECT_EQ(test, st.learnt, 0ULL);
	KUNIT_EXPECT_GT(test, st.unlearnt, 0ULL);
	rs = stats(test);
	KUNIT_EXPECT_EQ(test, rs.inherited, 1ULL);
	KUNIT_EXPECT_EQ(test, rs.free, T_PAGES - 11);
	KUNIT_EXPECT_EQ(test, rs.skipped, 0ULL);
	expect_consistent(test);
}

/*
 * A hypervisor that accepts a page it already holds gives nothing to
 * learn; the partition's memory balance shows it (issue 16, item 11). The
 * same pages refused honestly are learn_one_run's, and every test above
 * checks its balance too (expect_consistent()).
 */
static void learn_blind(struct kunit *test)
{
	struct hv_carve_op_stats st;

	hold(0, 10);
	fake.mode = FAKE_BLIND;
	KUNIT_EXPECT_EQ(test, deposit(test, 20, &st), 0);
	KUNIT_EXPECT_EQ(test, st.refusals, 0ULL);
	KUNIT_EXPECT_EQ(test, fake.accepted, 10ULL);
	KUNIT_EXPECT_TRUE(test, hvcarve_pool_distrusted(test->priv));
	/* The pool hands out no more. */
	fake.mode = FAKE_NORMAL;
	KUNIT_EXPECT_EQ(test, deposit(test, 1, &st), -ENOSPC);
	KUNIT_EXPECT_EQ(test, st.calls, 0ULL);
}

/*
 * After a cold boot the hypervisor holds no carveout page, so a page
 * refused for itself (learn_in_use learns it after a kexec) contradicts
 * hvcarve: the pool is distrusted, the page kept out, and nothing more is
 * deposited from the pool.
 */
static void cold_in_use(struct kunit *test)
{
	struct hv_carve_op_stats st;
	struct hvcarve_stats rs;

	fake.inuse = t_pfn(5);
	KUNIT_EXPECT_EQ(test, deposit(test, 100, &st), -ENOSPC);
	KUNIT_EXPECT_TRUE(test, hvcarve_pool_distrusted(test->priv));
	rs = stats(test);
	KUNIT_EXPECT_EQ(test, rs.deposited, 5ULL);
	KUNIT_EXPECT_EQ(test, rs.inherited, 1ULL);
	KUNIT_EXPECT_EQ(test, rs.free, T_PAGES - 6);
	KUNIT_EXPECT_EQ(test, fake.accepted, 5ULL);
	fake.inuse = 0;
	KUNIT_EXPECT_EQ(test, deposit(test, 10, &st), -ENOSPC);
	KUNIT_EXPECT_EQ(test, st.calls, 0ULL);
	KUNIT_EXPECT_EQ(test, fake.accepted, 5ULL);
}

/* An honest hypervisor contradicts a cold pool in nothing. */
static void cold_fresh(struct kunit *test)
{
	struct hv_carve_op_stats st;

	KUNIT_EXPECT_EQ(test, deposit(test, 1000, &st), 0);
	KUNIT_EXPECT_EQ(test, st.refusals, 0ULL);
	KUNIT_EXPECT_EQ(test, fake.accepted, 1000ULL);
	expect_consistent(test);
}

static int cold_init(struct kunit *test)
{
	return pool_init(test, false);
}

static struct kunit_case hv_carve_cold_cases[] = {
	KUNIT_CASE(cold_in_use),
	KUNIT_CASE(cold_fresh),
	{}
};

static struct kunit_suite hv_carve_cold_suite = {
	.name = "hvcarve_cold",
	.init = cold_init,
	.exit = learn_exit,
	.test_cases = hv_carve_cold_cases,
};

/*
 * Learning's random probes come from a seeded PRNG of the deposit's own
 * (the live glue's seed is not touched): the same seed, and the same held
 * runs, give the same backend calls, page for page; another seed probes
 * other pages (the jitter is real). The pages left held are the same
 * either way: the accepted probe is among those deposited next.
 */
static void learn_seeded_run(struct kunit *test, u64 seed, u64 *trace,
			     u64 *calls)
{
	struct hv_carve_op_stats st;

	hvcarve_pool_destroy(test->priv);
	pool_init(test, true);
	fake.seed = seed;
	hold(0, 3000);
	hold(3500, 3000);
	KUNIT_ASSERT_EQ(test, deposit(test, 5000, &st), 0);
	KUNIT_EXPECT_EQ(test, fake.accepted, 5000ULL);
	*trace = fake.trace;
	*calls = st.calls;
}

static void learn_seeded(struct kunit *test)
{
	u64 ta, tb, tc, ca, cb, cc;

	learn_seeded_run(test, T_SEED, &ta, &ca);
	learn_seeded_run(test, T_SEED, &tb, &cb);
	learn_seeded_run(test, T_SEED + 1, &tc, &cc);
	kunit_info(test, "seed %#llx: %llu calls; seed %#llx: %llu calls\n",
		   T_SEED, ca, T_SEED + 1, cc);
	KUNIT_EXPECT_EQ(test, cb, ca);
	KUNIT_EXPECT_EQ(test, tb, ta);
	KUNIT_EXPECT_NE(test, tc, ta);
}

static struct kunit_case hv_carve_learn_cases[] = {
	KUNIT_CASE(learn_fresh),
	KUNIT_CASE(learn_one_run),
	KUNIT_CASE(learn_three_runs),
	KUNIT_CASE(learn_fragmented),
	KUNIT_CASE(learn_pool_low),
	KUNIT_CASE(learn_probe_aligned),
	KUNIT_CASE(learn_run_to_held_end),
	KUNIT_CASE(learn_denied),
	KUNIT_CASE(learn_access_denied),
	KUNIT_CASE(learn_in_use),
	KUNIT_CASE(learn_confirm),
	KUNIT_CASE(learn_blind),
	KUNIT_CASE(learn_seeded),
	{}
};

static struct kunit_suite hv_carve_learn_suite = {
	.name = "hvcarve_learn",
	.init = learn_init,
	.exit = learn_exit,
	.test_cases = hv_carve_learn_cases,
};

/*
 * A withdrawn page that is neither a carveout page nor one this kernel
 * deposited was deposited by a kernel before a kexec, and this kernel may
 * have used it since: hv_carve_withdrawn() must not free it, nor uncount
 * anything. A page this test owns stands in for it, with one extra
 * reference so that a wrong free drops the count to 1 instead of freeing
 * the page under the test. It goes through the live glue and pool, which
 * it leaves as they were: the page is in neither.
 */
static void withdrawn_foreign(struct kunit *test)
{
	u64 before = hv_deposit_gate_pages();
	struct page *page;
	u64 pfn;

	page = alloc_page(GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, page);
	get_page(page);
	pfn = page_to_pfn(page);
	KUNIT_EXPECT_FALSE(test, hvcarve_pfn_in_carveout(pfn));
	hv_carve_withdrawn(&pfn, 1);
	KUNIT_EXPECT_EQ(test, page_ref_count(page), 2);
	KUNIT_EXPECT_EQ(test, hv_deposit_gate_pages(), before);
	if (page_ref_count(page) == 2)
		put_page(page);
	put_page(page);
}

static struct kunit_case hv_carve_withdraw_cases[] = {
	KUNIT_CASE(withdrawn_foreign),
	{}
};

static struct kunit_suite hv_carve_withdraw_suite = {
	.name = "hvcarve_withdraw",
	.test_cases = hv_carve_withdraw_cases,
};

kunit_test_suites(&hv_carve_learn_suite, &hv_carve_cold_suite,
		  &hv_carve_withdraw_suite);
