// SPDX-License-Identifier: GPL-2.0-only
/*
 * hvcarve_bench: what a deposit costs the kernel, measured side by side
 * with the way mainline allocates deposits.
 *
 * Two ways to find the pages for a deposit are timed:
 *
 * - "pool": the hvcarve glue (hv_carve_pool_deposit(), the pool part of
 *   hv_carve_deposit_pages(): node choice, the region locks and the
 *   counters included) on the live carveout pool, and hv_carve_withdrawn()
 *   on withdrawal, as the root partition's withdraw path calls it;
 * - "buddy": the strategy of mainline's hv_call_deposit_pages()
 *   (drivers/hv/hv_proc.c): a page for the page pointers and an array of
 *   counts, the highest-order alloc_pages_node() that succeeds, lower
 *   orders after a failure, split_page(), the page list filled with
 *   interrupts off; and __free_page() on each page withdrawn, as
 *   hv_call_withdraw_memory() (drivers/hv/mshv_root_hv_call.c) does.
 *
 * Both hand their pages to the same null hypercall: it accepts every page
 * and only records its frame number, so that the withdrawal can give it
 * back, HV_CARVE_WITHDRAW_MAX at a time. Neither touches the pages.
 *
 * debugfs (hvcarve_bench/, mode 0600; writes also need CAP_SYS_ADMIN):
 *   run     write "MODE THREADS PAGES": THREADS kernel threads, each bound
 *           to its own online CPU, start together; each deposits PAGES
 *           pages for its own partition in calls of at most
 *           HV_CARVE_DEPOSIT_MAX pages, then withdraws them all. The write
 *           returns when all are done, with the first error any thread
 *           met (the pool mode needs THREADS * PAGES free carveout pages).
 *   result  read, of the last run that succeeded: one line
 *             mode M threads T pages P deposit_ns D withdraw_ns W
 *           D and W are each thread's time in its deposits and in its
 *           withdrawals (ktime_get_ns()), summed over the threads.
 *
 * Locking: hvbench_lock (a mutex) serialises runs and guards the result.
 * A run's threads share nothing but their start and end: each has its
 * own partition, page list and time, and the null hypercall finds the
 * thread of a call from the partition ID.
 */

#define pr_fmt(fmt) "hvcarve_bench: " fmt

#include <linux/atomic.h>
#include <linux/bits.h>
#include <linux/capability.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/hvcarve.h>
#include <linux/init.h>
#include <linux/irqflags.h>
#include <linux/kthread.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/topology.h>
#include <linux/uaccess.h>

#include "hv_carve_deposit.h"

/* Partition IDs of the threads: no simulated partition uses these. */
#define HVBENCH_PARTITION_BASE	0xbe4c000000000000ULL

/* Most pages one thread deposits: 1 GiB of 4 KiB pages. */
#define HVBENCH_MAX_PAGES	BIT(18)

/* Longest command accepted, e.g. "buddy 4096 262144" */
#define HVBENCH_CMD_MAX		48

enum hvbench_mode {
	HVBENCH_POOL,
	HVBENCH_BUDDY,
};

static const char * const hvbench_mode_names[] = {
	[HVBENCH_POOL] = "pool",
	[HVBENCH_BUDDY] = "buddy",
};

/**
 * struct hvbench_thread - one thread of a run
 * @cpu: the CPU it is bound to
 * @pages: pages it deposits
 * @pfns: what the null hypercall holds for its partition: entries @head
 *	to @nr, in the order deposited
 * @head: first entry not withdrawn yet
 * @nr: entries of @pfns filled
 * @list: the page list of one buddy-mode deposit (mainline's input page)
 * @deposit_ns: time spent depositing
 * @withdraw_ns: time spent withdrawing
 * @ret: its first error, or 0
 */
struct hvbench_thread {
	unsigned int cpu;
	u32 pages;
	u64 *pfns;
	u32 head;
	u32 nr;
	u64 *list;
	u64 deposit_ns;
	u64 withdraw_ns;
	int ret;
};

static DEFINE_MUTEX(hvbench_lock);
static struct hvbench_thread *hvbench_threads;
static unsigned int hvbench_nr_threads;
static enum hvbench_mode hvbench_mode;
static atomic_t hvbench_waiting;
static DECLARE_COMPLETION(hvbench_go);
static atomic_t hvbench_running;
static DECLARE_COMPLETION(hvbench_done);

static struct {
	bool valid;
	enum hvbench_mode mode;
	unsigned int threads;
	u32 pages;
	u64 deposit_ns;
	u64 withdraw_ns;
} hvbench_result;

static struct hvbench_thread *hvbench_thread_of(u64 partition_id)
{
	u64 i = partition_id - HVBENCH_PARTITION_BASE;

	return i < hvbench_nr_threads ? &hvbench_threads[i] : NULL;
}

/* The null hypercall: accept every page, remember it for the withdrawal. */
static int hvbench_null_deposit(u64 partition_id, const u64 *pfns,
				unsigned int nr, unsigned int *done)
{
	struct hvbench_thread *t = hvbench_thread_of(partition_id);

	*done = 0;
	if (!t || nr > t->pages - t->nr)
		return -EINVAL;
	memcpy(t->pfns + t->nr, pfns, nr * sizeof(*pfns));
	t->nr += nr;
	*done = nr;
	return 0;
}

/* The null withdrawal: give back the pages deposited first. */
static unsigned int hvbench_null_withdraw(struct hvbench_thread *t, u64 *pfns,
					  unsigned int max)
{
	unsigned int n = min(max, t->nr - t->head);

	memcpy(pfns, t->pfns + t->head, n * sizeof(*pfns));
	t->head += n;
	return n;
}

static int hvbench_null_withdraw_cb(u64 partition_id, u64 *pfns,
				    unsigned int max, unsigned int *done)
{
	struct hvbench_thread *t = hvbench_thread_of(partition_id);

	*done = t ? hvbench_null_withdraw(t, pfns, max) : 0;
	return t ? 0 : -EINVAL;
}

static const struct hv_carve_backend hvbench_backend = {
	.name = "bench",
	.deposit = hvbench_null_deposit,
	.withdraw = hvbench_null_withdraw_cb,
};

/* One deposit of @num_pages (at most HV_CARVE_DEPOSIT_MAX) from the pool. */
static int hvbench_pool_deposit(struct hvbench_thread *t, u64 partition_id,
				u32 num_pages)
{
	return hv_carve_pool_deposit(&hvbench_backend, hvcarve_pool(),
				     cpu_to_node(t->cpu), partition_id,
				     num_pages, 0, NULL);
}

/*
 * One deposit of @num_pages (at most HV_CARVE_DEPOSIT_MAX) from the page
 * allocator, as hv_call_deposit_pages() allocates it.
 */
static int hvbench_buddy_deposit(struct hvbench_thread *t, u64 partition_id,
				 u32 num_pages)
{
	int node = cpu_to_node(t->cpu);
	unsigned int i, j, n, nr_alloc = 0, done;
	struct page **pages, *page;
	unsigned long flags;
	unsigned int *counts;
	int order, ret;
	u64 base;

	page = alloc_page(GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	pages = page_address(page);
	counts = kcalloc(HV_CARVE_DEPOSIT_MAX, sizeof(*counts), GFP_KERNEL);
	if (!counts) {
		__free_page(page);
		return -ENOMEM;
	}

	while (num_pages) {
		order = ilog2(num_pages);
		for (;;) {
			pages[nr_alloc] = alloc_pages_node(node, GFP_KERNEL, order);
			if (pages[nr_alloc])
				break;
			if (!order) {
				ret = -ENOMEM;
				goto free_pages;
			}
			order--;
		}
		split_page(pages[nr_alloc], order);
		counts[nr_alloc] = 1U << order;
		num_pages -= counts[nr_alloc];
		nr_alloc++;
	}

	local_irq_save(flags);
	for (i = 0, n = 0; i < nr_alloc; i++) {
		base = page_to_pfn(pages[i]);
		for (j = 0; j < counts[i]; j++)
			t->list[n++] = base + j;
	}
	ret = hvbench_null_deposit(partition_id, t->list, n, &done);
	local_irq_restore(flags);
	if (!ret)
		goto out;

free_pages:
	for (i = 0; i < nr_alloc; i++) {
		base = page_to_pfn(pages[i]);
		for (j = 0; j < counts[i]; j++)
			__free_page(pfn_to_page(base + j));
	}
out:
	kfree(counts);
	__free_page(page);
	return ret;
}

/* Withdraw everything @t deposited, a withdrawal's worth at a time. */
static int hvbench_withdraw(struct hvbench_thread *t)
{
	unsigned int i, n;
	u64 *out;

	/* hv_call_withdraw_memory() allocates its output page per call. */
	out = (u64 *)__get_free_page(GFP_KERNEL);
	if (!out)
		return -ENOMEM;
	while (t->head < t->nr) {
		n = hvbench_null_withdraw(t, out, HV_CARVE_WITHDRAW_MAX);
		if (hvbench_mode == HVBENCH_POOL) {
			hv_carve_withdrawn(out, n);
		} else {
			for (i = 0; i < n; i++)
				__free_page(pfn_to_page(out[i]));
		}
	}
	free_page((unsigned long)out);
	return 0;
}

static int hvbench_fn(void *data)
{
	struct hvbench_thread *t = data;
	u64 partition_id = HVBENCH_PARTITION_BASE + (t - hvbench_threads);
	u32 n, left = t->pages;
	u64 start;
	int ret = 0;

	if (atomic_dec_and_test(&hvbench_waiting))
		complete_all(&hvbench_go);
	wait_for_completion(&hvbench_go);

	start = ktime_get_ns();
	while (left && !ret) {
		n = min_t(u32, left, HV_CARVE_DEPOSIT_MAX);
		if (hvbench_mode == HVBENCH_POOL)
			ret = hvbench_pool_deposit(t, partition_id, n);
		else
			ret = hvbench_buddy_deposit(t, partition_id, n);
		left -= n;
	}
	t->deposit_ns = ktime_get_ns() - start;

	start = ktime_get_ns();
	ret = hvbench_withdraw(t) ?: ret;
	t->withdraw_ns = ktime_get_ns() - start;
	t->ret = ret;

	if (atomic_dec_and_test(&hvbench_running))
		complete(&hvbench_done);
	return 0;
}

static void hvbench_free_threads(void)
{
	unsigned int i;

	for (i = 0; i < hvbench_nr_threads; i++) {
		kvfree(hvbench_threads[i].pfns);
		kfree(hvbench_threads[i].list);
	}
	kfree(hvbench_threads);
	hvbench_threads = NULL;
	hvbench_nr_threads = 0;
}

/* Run @nthreads threads of @pages pages each; caller holds hvbench_lock. */
static int hvbench_run(enum hvbench_mode mode, unsigned int nthreads,
		       u32 pages)
{
	struct task_struct **tasks;
	unsigned int i, cpu;
	int ret = 0;

	if (mode == HVBENCH_POOL && !hvcarve_pool())
		return -ENODEV;
	tasks = kcalloc(nthreads, sizeof(*tasks), GFP_KERNEL);
	hvbench_threads = kcalloc(nthreads, sizeof(*hvbench_threads),
				  GFP_KERNEL);
	if (!tasks || !hvbench_threads) {
		ret = -ENOMEM;
		goto out;
	}
	hvbench_nr_threads = nthreads;
	hvbench_mode = mode;

	i = 0;
	for_each_online_cpu(cpu) {
		struct hvbench_thread *t = &hvbench_threads[i];

		if (i == nthreads)
			break;
		t->cpu = cpu;
		t->pages = pages;
		t->pfns = kvmalloc_array(pages, sizeof(*t->pfns), GFP_KERNEL);
		t->list = kmalloc_array(HV_CARVE_DEPOSIT_MAX, sizeof(*t->list),
					GFP_KERNEL);
		if (!t->pfns || !t->list) {
			ret = -ENOMEM;
			goto out;
		}
		i++;
	}

	atomic_set(&hvbench_waiting, nthreads);
	atomic_set(&hvbench_running, nthreads);
	reinit_completion(&hvbench_go);
	reinit_completion(&hvbench_done);
	for (i = 0; i < nthreads; i++) {
		tasks[i] = kthread_create_on_cpu(hvbench_fn, &hvbench_threads[i],
						 hvbench_threads[i].cpu,
						 "hvcarve_bench/%u");
		if (IS_ERR(tasks[i])) {
			ret = PTR_ERR(tasks[i]);
			while (i--)
				kthread_stop(tasks[i]);
			goto out;
		}
	}
	for (i = 0; i < nthreads; i++)
		wake_up_process(tasks[i]);
	wait_for_completion(&hvbench_done);

	hvbench_result.deposit_ns = 0;
	hvbench_result.withdraw_ns = 0;
	for (i = 0; i < nthreads; i++) {
		ret = ret ?: hvbench_threads[i].ret;
		hvbench_result.deposit_ns += hvbench_threads[i].deposit_ns;
		hvbench_result.withdraw_ns += hvbench_threads[i].withdraw_ns;
	}
	hvbench_result.valid = !ret;
	hvbench_result.mode = mode;
	hvbench_result.threads = nthreads;
	hvbench_result.pages = pages;
out:
	hvbench_free_threads();
	kfree(tasks);
	return ret;
}

static ssize_t hvbench_run_write(struct file *file, const char __user *ubuf,
				 size_t len, loff_t *ppos)
{
	char cmd[HVBENCH_CMD_MAX], name[HVBENCH_CMD_MAX];
	unsigned int nthreads;
	int mode, ret;
	u32 pages;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (len >= sizeof(cmd))
		return -EINVAL;
	if (copy_from_user(cmd, ubuf, len))
		return -EFAULT;
	cmd[len] = '\0';
	/* "MODE THREADS PAGES"; the buffers are as long as the command. */
	if (sscanf(cmd, "%s %u %u", name, &nthreads, &pages) != 3)
		return -EINVAL;
	mode = sysfs_match_string(hvbench_mode_names, name);
	if (mode < 0 || !nthreads || !pages || pages > HVBENCH_MAX_PAGES)
		return -EINVAL;
	if (nthreads > num_online_cpus())
		return -ERANGE;

	mutex_lock(&hvbench_lock);
	ret = hvbench_run(mode, nthreads, pages);
	mutex_unlock(&hvbench_lock);
	if (ret)
		pr_err("%s, %u threads of %u pages: %d\n",
		       hvbench_mode_names[mode], nthreads, pages, ret);
	return ret ?: len;
}

static int hvbench_result_show(struct seq_file *m, void *v)
{
	mutex_lock(&hvbench_lock);
	if (hvbench_result.valid)
		seq_printf(m, "mode %s threads %u pages %u deposit_ns %llu withdraw_ns %llu\n",
			   hvbench_mode_names[hvbench_result.mode],
			   hvbench_result.threads, hvbench_result.pages,
			   hvbench_result.deposit_ns,
			   hvbench_result.withdraw_ns);
	mutex_unlock(&hvbench_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hvbench_result);

static const struct file_operations hvbench_run_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = hvbench_run_write,
	.llseek = noop_llseek,
};

static int __init hvbench_init(void)
{
	struct dentry *dir = debugfs_create_dir("hvcarve_bench", NULL);

	debugfs_create_file("run", 0600, dir, NULL, &hvbench_run_fops);
	debugfs_create_file("result", 0600, dir, NULL, &hvbench_result_fops);
	return 0;
}
late_initcall(hvbench_init);
