// SPDX-License-Identifier: GPL-2.0-only
/*
 * hvcarve deposit glue: deposit carveout pages into a hypervisor and take
 * them back, through a hypervisor backend (<linux/hv_carve.h>).
 *
 * Deposits take pages from the hvcarve pool (mm/hvcarve.c), preferring the
 * requested node, and hand them to the backend in batches of at most
 * HV_CARVE_DEPOSIT_MAX pages. After a kexec the pool does not know which
 * carveout pages the hypervisor still holds; the hypervisor refuses a
 * deposit of such a page (-EEXIST from the backend, after the elements
 * before it were accepted). The page is then marked inherited, stays out of
 * the pool, and the rest of the batch is sent again, topped up from the
 * pool: learning an inherited page costs one extra backend call, and a
 * deposit never fails while the pool has free pages.
 *
 * When the pool runs out, hvcarve.overflow decides: "deny" (the default)
 * fails the deposit; "allow" deposits ordinary pages from the page
 * allocator instead. Each of those is remembered (hv_carve_overflow) and
 * counted (hvcarve_overflow_add()) before it is sent, so that kexec is
 * refused while any may be in the hypervisor, and uncounted when it is
 * withdrawn.
 *
 * The Hyper-V backend deposits with HvCallDepositMemory and withdraws with
 * HvCallWithdrawMemory, exactly as drivers/hv/hv_proc.c and
 * drivers/hv/mshv_root_hv_call.c do. It is registered when Linux runs as
 * the root partition.
 *
 * Locking:
 * - hv_carve_backend is set once, under hv_carve_backend_lock, by
 *   hv_carve_register_backend(), and read with smp_load_acquire() and no
 *   lock. A backend is never unregistered.
 * - Deposits and withdrawals take no lock of their own and may run
 *   concurrently: the pool locks its regions, the backend serialises its
 *   own hypercalls (the Hyper-V backend uses this CPU's hypercall input
 *   page with interrupts disabled), and hv_carve_overflow is an xarray with
 *   its own lock. Both run in process context and may sleep.
 */

#define pr_fmt(fmt) "hvcarve: " fmt

#include <linux/export.h>
#include <linux/gfp.h>
#include <linux/hv_carve.h>
#include <linux/hvcarve.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/ratelimit.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/xarray.h>

#if IS_ENABLED(CONFIG_MSHV_ROOT)
#include <asm/mshyperv.h>
#endif

static_assert(PAGE_SIZE == HV_CARVE_PAGE_SIZE);

static DEFINE_MUTEX(hv_carve_backend_lock);
static const struct hv_carve_backend *hv_carve_backend;

/* Ordinary pages this kernel deposited (overflow); index: pfn. */
static DEFINE_XARRAY(hv_carve_overflow);

#if IS_ENABLED(CONFIG_MSHV_ROOT)

/*
 * The Microsoft Hypervisor refuses to take a page it already holds with
 * HV_STATUS_OPERATION_DENIED: a deposited page is no longer mapped, and no
 * longer readable, writable and executable, in the root partition's GPA
 * space, and HvCallDepositMemory answers OPERATION_DENIED for a page in
 * that state. The same status is also given for a page that is unusable
 * for other reasons (mapped into another partition). Mapping it to
 * -EEXIST errs on the safe side: a page wrongly taken for inherited is
 * merely kept out of the pool, never handed to anyone.
 */
#define HV_CARVE_STATUS_ALREADY_HELD	HV_STATUS_OPERATION_DENIED

/* One input page: the partition ID, then the pages. */
#define HV_CARVE_HV_DEPOSIT_ROOM \
	((HV_HYP_PAGE_SIZE - sizeof(struct hv_deposit_memory)) / sizeof(u64))
static_assert(HV_CARVE_HV_DEPOSIT_ROOM == HV_CARVE_DEPOSIT_MAX);
/* One output page of pages. */
static_assert(HV_HYP_PAGE_SIZE / sizeof(u64) == HV_CARVE_WITHDRAW_MAX);

/* Elements a failed rep hypercall completed before the failing one. */
static unsigned int hv_carve_hv_completed(u64 status, unsigned int nr)
{
	/* U64_MAX: no hypercall page, nothing was done. */
	if (status == U64_MAX)
		return 0;
	return min(hv_repcomp(status), nr);
}

static int hv_carve_hv_deposit(u64 partition_id, const u64 *pfns,
			       unsigned int nr, unsigned int *done)
{
	struct hv_deposit_memory *input_page;
	unsigned long flags;
	u64 status;

	*done = 0;
	if (nr > HV_CARVE_DEPOSIT_MAX)
		return -E2BIG;
	if (!nr)
		return 0;

	local_irq_save(flags);
	input_page = *this_cpu_ptr(hyperv_pcpu_input_arg);
	input_page->partition_id = partition_id;
	memcpy(input_page->gpa_page_list, pfns, nr * sizeof(*pfns));
	status = hv_do_rep_hypercall(HVCALL_DEPOSIT_MEMORY, nr, 0, input_page,
				     NULL);
	local_irq_restore(flags);

	if (hv_result_success(status)) {
		*done = nr;
		return 0;
	}
	*done = hv_carve_hv_completed(status, nr);
	if (hv_result(status) == HV_CARVE_STATUS_ALREADY_HELD)
		return -EEXIST;
	hv_status_err(status, "partition %#llx, page %u of %u\n", partition_id,
		      *done, nr);
	return hv_result_to_errno(status);
}

static int hv_carve_hv_withdraw(u64 partition_id, u64 *pfns,
				unsigned int max, unsigned int *done)
{
	struct hv_input_withdraw_memory *input_page;
	struct hv_output_withdraw_memory *output_page;
	unsigned long flags;
	struct page *page;
	u64 status;

	*done = 0;
	max = min_t(unsigned int, max, HV_CARVE_WITHDRAW_MAX);
	if (!max)
		return 0;

	page = alloc_page(GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	output_page = page_address(page);

	local_irq_save(flags);
	input_page = *this_cpu_ptr(hyperv_pcpu_input_arg);
	memset(input_page, 0, sizeof(*input_page));
	input_page->partition_id = partition_id;
	status = hv_do_rep_hypercall(HVCALL_WITHDRAW_MEMORY, max, 0, input_page,
				     output_page);
	local_irq_restore(flags);

	*done = hv_result_success(status) ? max :
		hv_carve_hv_completed(status, max);
	memcpy(pfns, output_page->gpa_page_list, *done * sizeof(*pfns));
	free_page((unsigned long)output_page);

	/* NO_RESOURCES: the partition holds no more pages. */
	if (hv_result_success(status) ||
	    hv_result(status) == HV_STATUS_NO_RESOURCES)
		return 0;
	hv_status_err(status, "partition %#llx\n", partition_id);
	return hv_result_to_errno(status);
}

static const struct hv_carve_backend hv_carve_hyperv = {
	.name = "hyperv",
	.deposit = hv_carve_hv_deposit,
	.withdraw = hv_carve_hv_withdraw,
	/* No hypercall reports the size of a partition's memory pool. */
};

static int __init hv_carve_hyperv_init(void)
{
	if (!hv_root_partition())
		return 0;
	return hv_carve_register_backend(&hv_carve_hyperv);
}
early_initcall(hv_carve_hyperv_init);

#endif /* CONFIG_MSHV_ROOT */

static const struct hv_carve_backend *hv_carve_get_backend(void)
{
	const struct hv_carve_backend *backend;

	/* Pairs with hv_carve_register_backend(): see a complete backend. */
	backend = smp_load_acquire(&hv_carve_backend);
#if IS_ENABLED(CONFIG_MSHV_ROOT)
	/* The root partition deposits before initcalls (hv_smp_prepare_cpus). */
	if (!backend && hv_root_partition())
		backend = &hv_carve_hyperv;
#endif
	return backend;
}

/**
 * hv_carve_register_backend() - choose the hypervisor deposits go to
 * @backend: the backend; must stay valid for the life of the kernel
 *
 * Only one backend can be registered, and it cannot be unregistered. The
 * Hyper-V backend registers itself at early_initcall time on the root
 * partition, so a simulator registered later is refused.
 *
 * Context: process context; takes hv_carve_backend_lock.
 * Return: 0 on success, -EINVAL if @backend lacks a name, deposit or
 * withdraw method, -EBUSY if a backend is already registered.
 */
int hv_carve_register_backend(const struct hv_carve_backend *backend)
{
	int ret = 0;

	if (!backend || !backend->name || !backend->deposit ||
	    !backend->withdraw)
		return -EINVAL;

	mutex_lock(&hv_carve_backend_lock);
	if (hv_carve_backend) {
		ret = -EBUSY;
	} else {
		/* Pairs with hv_carve_get_backend()'s lockless load. */
		smp_store_release(&hv_carve_backend, backend);
		pr_info("deposit backend: %s\n", backend->name);
	}
	mutex_unlock(&hv_carve_backend_lock);
	return ret;
}

/**
 * hv_carve_backend_name() - name of the registered backend
 *
 * Context: any.
 * Return: the name, or NULL if no backend is registered.
 */
const char *hv_carve_backend_name(void)
{
	const struct hv_carve_backend *backend = hv_carve_get_backend();

	return backend ? backend->name : NULL;
}

/*
 * Check a backend's answer against its contract: *done never exceeds the
 * batch, success means the whole batch, and a failure names an element of
 * it. A broken answer becomes -EIO after the pages it says it took.
 */
static int hv_carve_check_done(const struct hv_carve_backend *backend,
			       int ret, unsigned int nr, unsigned int *done)
{
	if (WARN_ONCE(*done > nr, "hvcarve: backend %s: %u of %u pages done\n",
		      backend->name, *done, nr))
		*done = nr;
	if (WARN_ONCE(!ret != (*done == nr),
		      "hvcarve: backend %s: %d after %u of %u pages\n",
		      backend->name, ret, *done, nr))
		ret = -EIO;
	return ret;
}

/* Give unsent overflow pages back to the page allocator. */
static void hv_carve_overflow_undo(const u64 *pfns, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		xa_erase(&hv_carve_overflow, pfns[i]);
		__free_page(pfn_to_page(pfns[i]));
	}
	hvcarve_overflow_add(-(long)nr);
}

/*
 * The pool is exhausted and hvcarve.overflow=allow: deposit @left ordinary
 * pages. @batch has room for @cap entries.
 */
static int hv_carve_deposit_overflow(const struct hv_carve_backend *backend,
				     int node, u64 partition_id, u64 *batch,
				     unsigned int cap, u32 left)
{
	unsigned int n = 0, done, want;
	u32 deposited = 0;
	struct page *page;
	int ret = 0;

	while (left) {
		want = min_t(u32, left, cap);
		while (n < want) {
			page = alloc_pages_node(node, GFP_KERNEL, 0);
			if (!page)
				break;
			/*
			 * Remembered before it is sent, so that withdrawal
			 * recognises it, and counted, so that kexec is refused
			 * from now on.
			 */
			if (xa_err(xa_store(&hv_carve_overflow, page_to_pfn(page),
					    xa_mk_value(0), GFP_KERNEL))) {
				__free_page(page);
				break;
			}
			hvcarve_overflow_add(1);
			batch[n++] = page_to_pfn(page);
		}
		if (!n) {
			ret = -ENOMEM;
			break;
		}
		ret = backend->deposit(partition_id, batch, n, &done);
		ret = hv_carve_check_done(backend, ret, n, &done);
		left -= done;
		deposited += done;
		if (!ret) {
			n = 0;
			continue;
		}
		if (ret == -EEXIST && done < n) {
			/*
			 * The hypervisor claims an ordinary page this kernel
			 * just allocated. Never free it: it stays counted
			 * (kexec stays refused) until it is withdrawn.
			 */
			pr_err_ratelimited("overflow pfn %#llx refused as already held: not freed\n",
					   batch[done]);
			n -= done + 1;
			memmove(batch, batch + done + 1, n * sizeof(*batch));
			ret = 0;
			continue;
		}
		hv_carve_overflow_undo(batch + done, n - done);
		n = 0;
		break;
	}
	if (deposited)
		pr_warn_ratelimited("carveout exhausted: deposited %u ordinary pages for partition %#llx (hvcarve.overflow=allow); kexec is refused until they are withdrawn\n",
				    deposited, partition_id);
	if (left) {
		hvcarve_deposit_failed(node, NULL, left);
		pr_err_ratelimited("carveout exhausted: overflow deposit of %u pages for partition %#llx failed: %d\n",
				   left, partition_id, ret);
	}
	return ret;
}

/**
 * hv_carve_deposit_pages() - deposit carveout pages into the hypervisor
 * @node: NUMA node whose carveout pages are preferred, or NUMA_NO_NODE
 * @partition_id: partition whose memory pool receives the pages
 * @num_pages: number of pages to deposit; any number
 *
 * Takes the pages from the hvcarve pool and hands them to the backend in
 * batches of at most HV_CARVE_DEPOSIT_MAX. Pages the hypervisor refuses as
 * already held (inherited from before a kexec) are recorded with
 * hvcarve_mark_inherited() and replaced from the pool. When the pool runs
 * out, ordinary pages are deposited instead if hvcarve.overflow=allow.
 * Pages accepted before a failure stay deposited and counted.
 *
 * If hvcarve= was given but rejected, or the pool is not ready, no page is
 * deposited at all: the deposit fails closed.
 *
 * Context: process context, interrupts enabled; may sleep.
 * Return: 0 when all @num_pages were deposited; -ENODEV without a backend
 * or without hvcarve=; -ENOMEM when the carveout is not active, or is
 * exhausted and overflow is denied (or ordinary memory ran out too); the
 * backend's error otherwise.
 */
int hv_carve_deposit_pages(int node, u64 partition_id, u32 num_pages)
{
	const struct hv_carve_backend *backend = hv_carve_get_backend();
	unsigned int cap, n = 0, done, want;
	u32 left = num_pages;
	u64 *batch;
	int ret = 0;

	might_sleep();
	if (!num_pages)
		return 0;
	if (!backend || !hvcarve_requested())
		return -ENODEV;
	if (!hvcarve_active()) {
		pr_err_ratelimited("deposit of %u pages for partition %#llx refused: the carveout is not active (hvcarve= rejected, or its pool not ready)\n",
				   num_pages, partition_id);
		return -ENOMEM;
	}

	cap = min_t(u32, num_pages, HV_CARVE_DEPOSIT_MAX);
	batch = kmalloc_array(cap, sizeof(*batch), GFP_KERNEL);
	if (!batch)
		return -ENOMEM;

	while (left) {
		want = min_t(u32, left, cap);
		if (n < want)
			n += hvcarve_alloc_pages(node, batch + n, want - n);
		if (!n)
			break;
		ret = backend->deposit(partition_id, batch, n, &done);
		ret = hv_carve_check_done(backend, ret, n, &done);
		hvcarve_deposit_done(batch, done);
		left -= done;
		if (!ret) {
			n = 0;
			continue;
		}
		if (ret == -EEXIST && done < n) {
			/* Held since before a kexec: keep it out of the pool. */
			hvcarve_mark_inherited(batch[done]);
			n -= done + 1;
			memmove(batch, batch + done + 1, n * sizeof(*batch));
			ret = 0;
			continue;
		}
		/* batch[done] failed; it and the pages after it are unsent. */
		n -= done;
		hvcarve_deposit_failed(node, batch + done, n);
		if (left > n)
			hvcarve_deposit_failed(node, NULL, left - n);
		hvcarve_release_pages(batch + done, n);
		pr_err_ratelimited("deposit for partition %#llx failed after %u of %u pages: %d\n",
				   partition_id, num_pages - left, num_pages, ret);
		goto out;
	}

	if (!left)
		goto out;
	if (hvcarve_overflow_allowed()) {
		ret = hv_carve_deposit_overflow(backend, node, partition_id,
						batch, cap, left);
		goto out;
	}
	hvcarve_deposit_failed(node, NULL, left);
	pr_warn_ratelimited("carveout exhausted: %u of %u pages for partition %#llx not deposited (hvcarve.overflow=deny)\n",
			    left, num_pages, partition_id);
	ret = -ENOMEM;
out:
	kfree(batch);
	return ret;
}
EXPORT_SYMBOL_GPL(hv_carve_deposit_pages);

/**
 * hv_carve_withdrawn_pfn() - take back one page the hypervisor returned
 * @pfn: page frame number from a withdrawal
 *
 * Ownership is decided by physical address: a carveout page goes back to
 * the pool (never to the page allocator; it may have no struct page). An
 * ordinary page this kernel deposited as overflow is uncounted and freed.
 * Without hvcarve= every deposited page came from the page allocator and is
 * freed. With hvcarve=, any other page was never deposited by this kernel
 * (a kernel before a kexec did): it is not freed, because this kernel may
 * have used it as free memory since it booted.
 *
 * Context: process context.
 */
void hv_carve_withdrawn_pfn(u64 pfn)
{
	if (hvcarve_pfn_in_carveout(pfn)) {
		if (hvcarve_active())
			hvcarve_withdrawn(pfn);
		else
			pr_warn_ratelimited("carveout pfn %#llx withdrawn while the pool is not ready: kept out of use\n",
					    pfn);
		return;
	}
	if (xa_erase(&hv_carve_overflow, pfn)) {
		hvcarve_overflow_add(-1);
		__free_page(pfn_to_page(pfn));
		return;
	}
	if (hvcarve_requested()) {
		pr_warn_ratelimited("pfn %#llx withdrawn, but this kernel never deposited it: not freed\n",
				    pfn);
		return;
	}
	if (WARN_ONCE(!pfn_valid(pfn), "hvcarve: withdrawn pfn %#llx has no struct page\n",
		      pfn))
		return;
	__free_page(pfn_to_page(pfn));
}
EXPORT_SYMBOL_GPL(hv_carve_withdrawn_pfn);

/**
 * hv_carve_withdraw_pages() - withdraw pages from a partition's memory pool
 * @partition_id: partition to take pages from
 * @count: most pages to withdraw; U64_MAX for all of them
 * @withdrawn: if not NULL, receives the number of pages withdrawn
 *
 * Asks the backend for pages in batches of at most HV_CARVE_WITHDRAW_MAX
 * until @count pages came back or the partition holds no more, and hands
 * each to hv_carve_withdrawn_pfn().
 *
 * Context: process context; may sleep.
 * Return: 0 on success (also when fewer than @count pages were held),
 * -ENODEV without a backend, -ENOMEM, or the backend's error. Pages
 * withdrawn before an error are taken back and counted in @withdrawn.
 */
int hv_carve_withdraw_pages(u64 partition_id, u64 count, u64 *withdrawn)
{
	const struct hv_carve_backend *backend = hv_carve_get_backend();
	unsigned int i, want, done, cap;
	u64 got = 0;
	u64 *pfns;
	int ret = 0;

	might_sleep();
	if (withdrawn)
		*withdrawn = 0;
	if (!backend)
		return -ENODEV;
	if (!count)
		return 0;

	cap = min_t(u64, count, HV_CARVE_WITHDRAW_MAX);
	pfns = kmalloc_array(cap, sizeof(*pfns), GFP_KERNEL);
	if (!pfns)
		return -ENOMEM;

	while (got < count) {
		want = min_t(u64, count - got, cap);
		done = 0;
		ret = backend->withdraw(partition_id, pfns, want, &done);
		if (WARN_ONCE(done > want, "hvcarve: backend %s: withdrew %u of %u pages\n",
			      backend->name, done, want))
			done = want;
		for (i = 0; i < done; i++)
			hv_carve_withdrawn_pfn(pfns[i]);
		got += done;
		if (ret || done < want)
			break;
	}
	kfree(pfns);
	if (withdrawn)
		*withdrawn = got;
	return ret;
}
EXPORT_SYMBOL_GPL(hv_carve_withdraw_pages);

/**
 * hv_carve_balance() - pages a partition holds, as the hypervisor tells
 * @partition_id: the partition
 *
 * Context: process context; may sleep.
 * Return: the number of pages, -ENODEV without a backend, -EOPNOTSUPP if
 * the backend cannot tell, or another negative errno.
 */
long hv_carve_balance(u64 partition_id)
{
	const struct hv_carve_backend *backend = hv_carve_get_backend();

	if (!backend)
		return -ENODEV;
	if (!backend->balance)
		return -EOPNOTSUPP;
	return backend->balance(partition_id);
}
EXPORT_SYMBOL_GPL(hv_carve_balance);
