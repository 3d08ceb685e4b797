// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit test of hv_deposit_alloc_pages(), the loop of hv_call_deposit_pages()
 * that takes its pages from the page allocator: the way a kernel without
 * hvcarve deposits. Included by hv_proc.c, so that it reaches the static
 * loop whether or not hvcarve's glue takes the deposits of this kernel.
 *
 * A fake HvCallDepositMemory replaces the hv_hypercall static call while a
 * case runs; a hypercall made outside the case, or of another code, goes
 * on to the previous target. The fake takes the pages of the first reps
 * it is told to take, at most HV_PROC_TEST_REPS_PER_CALL per call, so that
 * hv_do_rep_hypercall() resumes it, and fails the next rep with the status
 * it is given, the count of completed reps in it, as hv_repcomp() reads
 * it. It holds a reference to every page it is sent, so that the test
 * sees what the loop did with each and nothing is freed under it: a page
 * it took must keep the loop's reference too (the hypervisor's now, never
 * freed), a page it did not take must have lost it (freed).
 *
 * The kexec gate's count of pages held goes back to what it was after
 * each case; its count of pages accepted since boot
 * (hv_deposit_gate_pages_since_boot(), overflow_cumulative_pages in
 * sysfs) keeps the 13 pages a run of the suite has the fake accept, as it
 * keeps every acceptance.
 *
 * Locking: none. The cases run one at a time; hv_proc_fake is set before
 * the static call is updated and cleared after it is restored, and its
 * state is static, so that a hypercall that raced with the restore still
 * reads valid memory.
 */
#include <kunit/test.h>
#include <kunit/test-bug.h>
#include <linux/bitfield.h>
#include <linux/percpu.h>
#include <linux/static_call.h>

/* Pages each case deposits: more than the fake takes in one call. */
#define HV_PROC_TEST_PAGES		8
/* Reps the fake completes in one call before it returns for a resume. */
#define HV_PROC_TEST_REPS_PER_CALL	3
/* The partition the cases deposit for. */
#define HV_PROC_TEST_PARTITION		7

/**
 * struct hv_proc_fake - the fake hypervisor of one case
 * @test: the case whose deposits it answers
 * @take: pages it takes before it fails
 * @fail: the status it fails with; U64_MAX: no hypercall was made
 * @sent: the pages of the deposit, as its first call lists them
 * @nsent: entries of @sent
 * @taken: pages it took: the first @taken of @sent
 * @partition_id: the partition of its last call
 * @calls: deposits it answered
 */
struct hv_proc_fake {
	struct kunit *test;
	unsigned int take;
	u64 fail;
	u64 sent[HV_PROC_TEST_PAGES];
	unsigned int nsent;
	unsigned int taken;
	u64 partition_id;
	unsigned int calls;
};

static struct hv_proc_fake hv_proc_fake_state;
static struct hv_proc_fake *hv_proc_fake;
static u64 (*hv_proc_before)(u64 control, u64 input, u64 output);
/* Per-CPU input pages of the test's own, where Hyper-V set up none. */
static void * __percpu *hv_proc_test_input;

static u64 hv_proc_fake_hypercall(u64 control, u64 input, u64 output)
{
	struct hv_proc_fake *f = READ_ONCE(hv_proc_fake);
	struct hv_deposit_memory *in;
	unsigned int rep, count, end, i;

	if (!f || kunit_get_current_test() != f->test ||
	    lower_16_bits(control) != HVCALL_DEPOSIT_MEMORY)
		return hv_proc_before(control, input, output);

	in = phys_to_virt(input);
	rep = FIELD_GET(HV_HYPERCALL_REP_START_MASK, control);
	count = FIELD_GET(HV_HYPERCALL_REP_COMP_MASK, control);
	if (!f->calls++) {
		/* Only pages the test can check: a longer list fails below. */
		f->nsent = min_t(unsigned int, count, ARRAY_SIZE(f->sent));
		for (i = 0; i < f->nsent; i++) {
			f->sent[i] = in->gpa_page_list[i];
			get_page(pfn_to_page(f->sent[i]));
		}
	}
	f->partition_id = in->partition_id;
	end = min(count, rep + HV_PROC_TEST_REPS_PER_CALL);
	for (; rep < end; rep++) {
		if (f->taken == f->take || rep >= f->nsent) {
			if (f->fail == U64_MAX)
				return U64_MAX;
			return f->fail |
			       FIELD_PREP(HV_HYPERCALL_REP_COMP_MASK, rep);
		}
		f->taken++;
	}
	return HV_STATUS_SUCCESS | FIELD_PREP(HV_HYPERCALL_REP_COMP_MASK, rep);
}

static void hv_proc_test_free_input(void)
{
	int cpu;

	if (!hv_proc_test_input)
		return;
	if (hyperv_pcpu_input_arg == hv_proc_test_input)
		hyperv_pcpu_input_arg = NULL;
	for_each_possible_cpu(cpu)
		free_page((unsigned long)*per_cpu_ptr(hv_proc_test_input, cpu));
	free_percpu(hv_proc_test_input);
	hv_proc_test_input = NULL;
}

static int hv_proc_test_init(struct kunit *test)
{
	struct hv_proc_fake *f = &hv_proc_fake_state;
	int cpu;

	/* A root partition has them from hv_common_init(); QEMU has none. */
	if (!hyperv_pcpu_input_arg) {
		hv_proc_test_input = alloc_percpu(void *);
		if (!hv_proc_test_input)
			return -ENOMEM;
		for_each_possible_cpu(cpu) {
			void *page = (void *)get_zeroed_page(GFP_KERNEL);

			*per_cpu_ptr(hv_proc_test_input, cpu) = page;
			if (!page) {
				hv_proc_test_free_input();
				return -ENOMEM;
			}
		}
		hyperv_pcpu_input_arg = hv_proc_test_input;
	}

	memset(f, 0, sizeof(*f));
	f->test = test;
	test->priv = f;
	hv_proc_before = static_call_query(hv_hypercall);
	WRITE_ONCE(hv_proc_fake, f);
	static_call_update(hv_hypercall, &hv_proc_fake_hypercall);
	return 0;
}

/* Also after a failed init: restores only what init changed. */
static void hv_proc_test_exit(struct kunit *test)
{
	if (READ_ONCE(hv_proc_fake)) {
		static_call_update(hv_hypercall, hv_proc_before);
		WRITE_ONCE(hv_proc_fake, NULL);
	}
	hv_proc_test_free_input();
}

/*
 * Check what the loop did with every page it sent: a page the fake took
 * is still allocated (the loop's reference and the fake's), a page it did
 * not take was freed (the fake's reference alone). Then give the taken
 * pages back, as a withdrawal would, and uncount them.
 */
static void hv_proc_test_give_back(struct kunit *test, struct hv_proc_fake *f)
{
	unsigned int i;

	for (i = 0; i < f->nsent; i++) {
		struct page *page = pfn_to_page(f->sent[i]);
		int refs = page_ref_count(page);

		if (i < f->taken)
			KUNIT_EXPECT_EQ_MSG(test, refs, 2,
					    "pfn %#llx, taken by the hypervisor, was freed",
					    f->sent[i]);
		else
			KUNIT_EXPECT_EQ_MSG(test, refs, 1,
					    "pfn %#llx, not taken, was not freed",
					    f->sent[i]);
		put_page(page);
		if (refs == 2)
			__free_page(page);
	}
	hv_deposit_gate_put(f->taken);
}

/*
 * Deposit HV_PROC_TEST_PAGES pages against a fake that takes @take of them
 * and then fails with @fail; check what the loop returns, what it freed
 * and what the gate counts, and give the pages back.
 */
static void hv_proc_test_deposit(struct kunit *test, unsigned int take,
				 u64 fail, int want)
{
	struct hv_proc_fake *f = test->priv;
	u64 pages = hv_deposit_gate_pages();
	u64 since_boot = hv_deposit_gate_pages_since_boot();
	int ret;

	f->take = take;
	f->fail = fail;
	ret = hv_deposit_alloc_pages(NUMA_NO_NODE, HV_PROC_TEST_PARTITION,
				     HV_PROC_TEST_PAGES);
	KUNIT_EXPECT_EQ(test, ret, want);
	KUNIT_EXPECT_EQ(test, f->nsent, HV_PROC_TEST_PAGES);
	KUNIT_EXPECT_EQ(test, f->taken, take);
	KUNIT_EXPECT_EQ(test, f->partition_id, HV_PROC_TEST_PARTITION);
	/* Counted while the hypervisor holds them: kexec is refused. */
	KUNIT_EXPECT_EQ(test, hv_deposit_gate_pages(), pages + take);
	KUNIT_EXPECT_EQ(test, hv_deposit_gate_pages_since_boot(),
			since_boot + take);
	hv_proc_test_give_back(test, f);
	KUNIT_EXPECT_EQ(test, hv_deposit_gate_pages(), pages);
}

/* Every page taken, over three calls: the rep hypercall resumes. */
static void hv_proc_deposit_all(struct kunit *test)
{
	struct hv_proc_fake *f = test->priv;

	hv_proc_test_deposit(test, HV_PROC_TEST_PAGES, HV_STATUS_SUCCESS, 0);
	KUNIT_EXPECT_EQ(test, f->calls,
			DIV_ROUND_UP(HV_PROC_TEST_PAGES,
				     HV_PROC_TEST_REPS_PER_CALL));
}

/*
 * Five taken, then "insufficient memory": the five are the hypervisor's
 * and must not be freed; only they are counted.
 */
static void hv_proc_deposit_some(struct kunit *test)
{
	hv_proc_test_deposit(test, 5, HV_STATUS_INSUFFICIENT_MEMORY, -ENOMEM);
}

/* Refused from the first rep: nothing taken, nothing counted. */
static void hv_proc_deposit_none(struct kunit *test)
{
	hv_proc_test_deposit(test, 0, HV_STATUS_INVALID_PARAMETER, -EINVAL);
}

/*
 * No hypercall made (U64_MAX, whose rep count field is all ones): nothing
 * taken, nothing counted.
 */
static void hv_proc_deposit_no_call(struct kunit *test)
{
	hv_proc_test_deposit(test, 0, U64_MAX, -EOPNOTSUPP);
}

static struct kunit_case hv_proc_deposit_cases[] = {
	KUNIT_CASE(hv_proc_deposit_all),
	KUNIT_CASE(hv_proc_deposit_some),
	KUNIT_CASE(hv_proc_deposit_none),
	KUNIT_CASE(hv_proc_deposit_no_call),
	{}
};

static struct kunit_suite hv_proc_deposit_suite = {
	.name = "hv_proc_deposit",
	.init = hv_proc_test_init,
	.exit = hv_proc_test_exit,
	.test_cases = hv_proc_deposit_cases,
};

kunit_test_suite(hv_proc_deposit_suite);
