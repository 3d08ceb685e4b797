// SPDX-License-Identifier: GPL-2.0-only
/*
 * hvcarve deposit glue: deposit carveout pages into a hypervisor and take
 * them back, through a hypervisor backend (struct hv_carve_backend).
 *
 * Deposits take pages from the hvcarve pool (mm/hvcarve.c), preferring the
 * requested node, and hand them to the backend in batches of at most
 * HV_CARVE_DEPOSIT_MAX pages.
 *
 * Learning. After a kexec the pool does not know which carveout pages the
 * hypervisor still holds: the hypervisor is the only authority, and a
 * deposit of a page it holds is refused. What a refusal means is not fully
 * documented. The 2013 Hypervisor Top-Level Functional Specification
 * (HvDepositMemory) lists HV_STATUS_OPERATION_DENIED for a page already
 * deposited into a partition's pool, and also for a page that is not
 * mapped, not readable, writable and executable by the caller, or
 * accessible to another partition; the current TLFS lists no deposit
 * errors at all. Its rule for rep hypercalls is that on an error the reps
 * completed count the elements before the failing one. So:
 *
 * - A refusal is taken as page-specific only when the hypervisor accepts
 *   another page for the same partition in the same deposit: before it in
 *   the same call, or in an earlier or later call. Until then it is
 *   unconfirmed; if nothing is accepted after HV_CARVE_UNCONFIRMED_MAX such
 *   refusals in a row, the carveout part of the deposit stops. If ordinary
 *   pages may follow (hv_carve_may_overflow()), they go next, and their
 *   acceptance confirms the refusals: after a kexec the hypervisor can
 *   hold the whole carveout. Otherwise, or if an ordinary page is refused
 *   before any was accepted, the deposit fails with -EACCES and everything
 *   it learnt is undone: a refusal of everything says nothing about any
 *   page. One deposit learns at most HV_CARVE_LEARN_MAX pages; the next
 *   goes on.
 *   Assumed: a hypervisor that accepted a page for a partition does not
 *   start refusing every page for it within the same deposit; if it did,
 *   the pages refused would only be kept out of the pool. Assumed too: an
 *   accepted ordinary page shows that the carveout pages refused before it
 *   were refused for themselves. It does not exclude a refusal of the
 *   carveout as a whole (for example, were it not accessible to the
 *   caller): such pages would be learnt as inherited, at most
 *   HV_CARVE_UNCONFIRMED_MAX per deposit, and the deposits would go on in
 *   ordinary memory, which blocks kexec until it is withdrawn.
 * - For a carveout page every page-specific cause means the same: the page
 *   cannot be deposited now. It is kept out of the pool, counted as
 *   inherited, until the hypervisor gives it back.
 * - HV_STATUS_OBJECT_IN_USE (the page is in use for another purpose) is
 *   handled the same way. HV_STATUS_ACCESS_DENIED says the caller may not
 *   deposit at all: the deposit stops and nothing is learnt.
 *
 * Contradictions. Two things the hypervisor can do contradict what the
 * above assumes, and are checked. (1) A page-specific refusal of a page
 * in a region no earlier kernel deposited from (hvcarve_pool_inherited()):
 * on a cold boot the hypervisor holds none of the carveout (assumed), so
 * learning is for inherited regions only. (2) A deposit whose memory
 * balance (the backend's balance(), HvCallGetMemoryBalance on Hyper-V)
 * grew by less than the pages accepted: the hypervisor accepted a page it
 * already held, so a refusal cannot be relied on to show a held page. At
 * the first contradiction the pool is distrusted (hvcarve_pool_distrust()):
 * no carveout page is deposited again, loudly, and sysfs shows the state
 * "distrusted" and what happened. Deposits then go on as without a
 * carveout: ordinary pages if overflow is allowed, which block kexec.
 *
 * Pages the hypervisor held before a kexec come in runs: the pool hands
 * them out in runs, next fit. After a refusal the rest of the batch is
 * sent again; if its first page is refused too, the deposit is inside a
 * run, and skips ahead: it tries single pages 1, 2, 4, 8, ... further on
 * (each plus a random part of less than half the step, so that the next kernel
 * does not probe the very pages this one deposited) until one is
 * accepted, then bisects between the last refused and the accepted one to
 * find where the run ends. A run of L pages costs about 2 * log2(L)
 * backend calls instead of L. The pages passed over inside the run are
 * "skipped": kept out of the fast path, not proven held, and tried again
 * only when the pool has no free pages left, one by one (holes inside a
 * run are found only so). Once the next step would reach the region's
 * last page, the probes halve the rest of the region instead, so that a
 * run that reaches the end costs about 2 * log2 of the region's pages,
 * and the last page is probed only after every other probe was refused.
 *
 * Overflow. When the carveout cannot serve a deposit, ordinary pages from
 * the page allocator are deposited instead if hv_carve_may_overflow()
 * allows it (hvcarve.overflow=allow, or no usable carveout, or boot).
 * Each is counted with hv_deposit_gate_get() before it is sent, so that
 * kexec is refused while any may be in the hypervisor, and remembered in
 * hv_carve_overflow, so that its withdrawal uncounts it.
 *
 * Without hvcarve=. Every deposit still comes here when a backend exists
 * (hv_carve_enabled(); drivers/hv/hv_proc.c asks): it deposits ordinary
 * pages, as mainline does, and counts each one the same way. So the kexec
 * gate holds whether or not hvcarve= was given, or forgotten on one
 * command line: the crash a kexec with ordinary pages in the hypervisor
 * causes needs no carveout to happen. A withdrawn page is then one xarray
 * lookup; a page this kernel did not deposit is never freed.
 *
 * The Hyper-V backend deposits with HvCallDepositMemory and withdraws with
 * HvCallWithdrawMemory, as drivers/hv/hv_proc.c and
 * drivers/hv/mshv_root_hv_call.c do. It is used when Linux runs as the root
 * partition or as an L1VH partition (hv_parent_partition(): mshv serves
 * both, and both deposit with the same hypercall). Assumed for L1VH, as for
 * the root: pages deposited stay the hypervisor's across a kexec of the
 * partition that deposited them.
 *
 * Locking:
 * - hv_carve_backend is set once, under hv_carve_backend_lock, by
 *   hv_carve_register_backend(), and read with smp_load_acquire() and no
 *   lock. A backend is never unregistered.
 * - Deposits and withdrawals take no lock of their own (but
 *   hv_carve_probe_lock, once in each deposit that probes, to read or draw
 *   the boot's seed) and may run concurrently: the pool locks its
 *   regions, the backend serialises its own hypercalls (the Hyper-V
 *   backend uses this CPU's hypercall input page with interrupts
 *   disabled), and hv_carve_overflow is an xarray with its own lock. All
 *   state of one deposit is in its struct hv_carve_op.
 *   Both run in process context and may sleep.
 */

#define pr_fmt(fmt) "hvcarve: " fmt

#include <linux/atomic.h>
#include <linux/export.h>
#include <linux/gfp.h>
#include <linux/hash.h>
#include <linux/hv_deposit_gate.h>
#include <linux/hvcarve.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/prandom.h>
#include <linux/random.h>
#include <linux/ratelimit.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/suspend.h>
#include <linux/sysfs.h>
#include <linux/xarray.h>

#if IS_ENABLED(CONFIG_MSHV_ROOT)
#include <asm/mshyperv.h>
#endif

#include "hv_carve_deposit.h"

/*
 * This file's parameters are hvcarve.*, the names kernel-parameters.txt
 * documents, not hv_carve_deposit.*.
 */
#ifdef MODULE_PARAM_PREFIX
#undef MODULE_PARAM_PREFIX
#endif
#define MODULE_PARAM_PREFIX "hvcarve."

static_assert(PAGE_SIZE == HV_CARVE_PAGE_SIZE);

/*
 * Refusals in a row, each at the first page of its call, that a deposit
 * takes before it decides the hypervisor refuses everything. Skipping
 * through a run that ends at a region's end costs the two refusals that
 * start it, one per doubling and one per halving (hv_carve_skip_run()):
 * at most 2 * log2(S) + 3 for S pages after the run's start, 65 for a
 * region of 2^32 pages (16 TiB), within the 66 per region here. A deposit
 * may meet such a run in every region before it finds a page the
 * hypervisor accepts. Not covered: regions of more than 2^32 pages (up
 * to 81 refusals at 2^40), and a walk that enters a wholly held region
 * part way and wraps to its start, which costs about twice as much.
 */
#define HV_CARVE_UNCONFIRMED_MAX	(HVCARVE_MAX_REGIONS * (BITS_PER_LONG + 2))

/*
 * Refusals one deposit learns. Once free pages ran out, a deposit tries the
 * skipped ones one by one: a run of this many held pages then ends it, and
 * the next deposit goes on after them.
 */
#define HV_CARVE_LEARN_MAX		65536

/* Aligned blocks one contiguous deposit tries before it gives up. */
#define HV_CARVE_CONTIG_TRIES		8

static DEFINE_MUTEX(hv_carve_backend_lock);
static const struct hv_carve_backend *hv_carve_backend;

/* Ordinary pages this kernel deposited (overflow); index: pfn. */
static DEFINE_XARRAY(hv_carve_overflow);

/*
 * hvcarve.overflow=deny|allow: may deposits use ordinary RAM when the
 * carveout cannot serve them? The policy is this file's
 * (hv_carve_may_overflow()); /sys/module/hvcarve/parameters/overflow
 * shows it.
 */

static bool hv_carve_overflow_allow;

static int hv_carve_overflow_set(const char *val,
				 const struct kernel_param *kp)
{
	if (sysfs_streq(val, "deny"))
		hv_carve_overflow_allow = false;
	else if (sysfs_streq(val, "allow"))
		hv_carve_overflow_allow = true;
	else
		return -EINVAL;
	return 0;
}

static int hv_carve_overflow_show(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n",
			  hv_carve_overflow_allow ? "allow" : "deny");
}

static const struct kernel_param_ops hv_carve_overflow_ops = {
	.set = hv_carve_overflow_set,
	.get = hv_carve_overflow_show,
};
module_param_cb(overflow, &hv_carve_overflow_ops, NULL, 0444);
MODULE_PARM_DESC(overflow,
		 "At carveout exhaustion: deny (default) fails runtime deposits, allow uses ordinary RAM; kexec is refused while ordinary pages are deposited");

/*
 * Learning's random choices (the jitter of hv_carve_skip_run()'s probes)
 * come from a PRNG of each deposit's own, seeded with the boot's seed and
 * the deposit's number (deposits are numbered as they first need a
 * random number). The boot's seed is hvcarve.probe_seed=, or, when that is
 * 0 (the default), one drawn with get_random_u64() the first time; it is
 * logged then ("learning's probes: seed N"). The same seed, and the same
 * deposits in the same order, probe the same pages. The probes need to
 * differ from one kernel to the next only by chance, not unpredictably; a
 * probe_seed= left on a command line that kexec reuses makes every kernel
 * probe alike, which the jitter is there to avoid: it is for reproducing a
 * run.
 *
 * Locking: hv_carve_probe_lock serialises the drawing of the boot's seed;
 * the deposits are counted atomically; each deposit's PRNG is its own.
 */
static u64 hv_carve_probe_seed;
module_param_named(probe_seed, hv_carve_probe_seed, ullong, 0444);
MODULE_PARM_DESC(probe_seed,
		 "Seed of learning's random probes; 0 (default): a random one, logged");

static DEFINE_SPINLOCK(hv_carve_probe_lock);
static u64 hv_carve_probe_boot_seed;	/* 0 until first needed */
static atomic64_t hv_carve_probe_deposits;

/* The boot's seed: drawn, and logged, the first time. */
static u64 hv_carve_probe_boot(void)
{
	bool drawn = false;
	u64 seed;

	spin_lock(&hv_carve_probe_lock);
	seed = hv_carve_probe_boot_seed;
	if (!seed) {
		seed = hv_carve_probe_seed ?: get_random_u64() ?: 1;
		hv_carve_probe_boot_seed = seed;
		drawn = true;
	}
	spin_unlock(&hv_carve_probe_lock);
	if (drawn)
		pr_info("learning's probes: seed %llu\n", seed);
	return seed;
}

/*
 * Withdrawals started and finished (hv_carve_withdraw_begin() and
 * hv_carve_withdraw_end()). A withdrawal shrinks a partition's memory
 * balance, so a deposit that overlaps one does not check its balance
 * (hv_carve_balance_check()): one is under way while the two differ.
 */
static atomic_long_t hv_carve_withdrawals_started = ATOMIC_LONG_INIT(0);
static atomic_long_t hv_carve_withdrawals_finished = ATOMIC_LONG_INIT(0);

#if IS_ENABLED(CONFIG_MSHV_ROOT)

/*
 * HV_STATUS_OBJECT_IN_USE, from the Hypervisor Top-Level Functional
 * Specification's list of status codes (0x0019); include/hyperv does not
 * define it.
 */
#define HV_CARVE_STATUS_OBJECT_IN_USE	0x19

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
	switch (hv_result(status)) {
	case HV_STATUS_OPERATION_DENIED:
		return -EEXIST;
	case HV_CARVE_STATUS_OBJECT_IN_USE:
		return -EBUSY;
	case HV_STATUS_ACCESS_DENIED:
		return -EACCES;
	}
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

/*
 * HvCallGetMemoryBalance, from the Hypervisor Top-Level Functional
 * Specification: call code 0x004A, a simple hypercall. Its input is laid
 * out as HvCallWithdrawMemory's (a partition ID, then a proximity domain,
 * all zero for none); its output is the number of pages available in the
 * partition's pool, then the number in use. include/hyperv defines
 * neither.
 */
#define HV_CARVE_HVCALL_GET_MEMORY_BALANCE	0x004a

struct hv_carve_output_get_memory_balance {
	u64 pages_available;
	u64 pages_in_use;
} __packed;

/* The pages of a partition's pool, available or in use. */
static long hv_carve_hv_balance(u64 partition_id)
{
	struct hv_carve_output_get_memory_balance *output;
	struct hv_input_withdraw_memory *input;
	unsigned long flags;
	u64 status, pages = 0;

	if (!hyperv_pcpu_input_arg || !hyperv_pcpu_output_arg)
		return -EOPNOTSUPP;
	local_irq_save(flags);
	input = *this_cpu_ptr(hyperv_pcpu_input_arg);
	output = *this_cpu_ptr(hyperv_pcpu_output_arg);
	if (!input || !output) {
		local_irq_restore(flags);
		return -EOPNOTSUPP;
	}
	memset(input, 0, sizeof(*input));
	input->partition_id = partition_id;
	status = hv_do_hypercall(HV_CARVE_HVCALL_GET_MEMORY_BALANCE, input,
				 output);
	if (hv_result_success(status))
		pages = output->pages_available + output->pages_in_use;
	local_irq_restore(flags);

	if (!hv_result_success(status)) {
		pr_notice_ratelimited("no memory balance for partition %#llx (status %#llx): its deposit is not checked against it\n",
				      partition_id, status);
		return hv_result_to_errno(status);
	}
	return pages > LONG_MAX ? -EOVERFLOW : (long)pages;
}

const struct hv_carve_backend hv_carve_hyperv = {
	.name = "hyperv",
	.deposit = hv_carve_hv_deposit,
	.withdraw = hv_carve_hv_withdraw,
	.balance = hv_carve_hv_balance,
};

static int __init hv_carve_hyperv_init(void)
{
	if (!hv_parent_partition())
		return 0;
	return hv_carve_register_backend(&hv_carve_hyperv);
}
early_initcall(hv_carve_hyperv_init);

#endif /* CONFIG_MSHV_ROOT */

/*
 * Hibernation cannot keep what hvcarve promises. The hypervisor holds the
 * deposited pages, and they are not in the image. The page pool's state
 * would come back from the image whatever the resuming boot reserved. And
 * the resuming kernel's check that it has the same memory map, the CRC of
 * e820_table_firmware (arch/x86/power/hibernate.c), does not see the
 * carveout on a firmware boot, where that table is the firmware's map.
 * Mainline's hv_is_hibernation_supported() is false on a root partition,
 * but nothing in kernel/power consults it. So refuse to hibernate whenever
 * hvcarve= was given, valid or not: hibernate() and /dev/snapshot call the
 * PM_HIBERNATION_PREPARE notifiers before anything is frozen. So does
 * hibernate_quiet_exec() (NVDIMM firmware activation), which is refused
 * too; no notifier can tell the callers apart.
 *
 * A resume (PM_RESTORE_PREPARE) is not refused: software_resume() has
 * invalidated the image's signature by then, so a refusal would throw the
 * image away, and it leaves the resume device claimed. No image comes from
 * a kernel that was given hvcarve=, which refuses to hibernate.
 */
static int hv_carve_pm_notify(struct notifier_block *nb, unsigned long action,
			      void *data)
{
	if (action != PM_HIBERNATION_PREPARE)
		return NOTIFY_DONE;
	pr_err("hibernation refused: hvcarve= was given (carveout %s): the hypervisor may hold carveout pages, which a hibernation image cannot carry\n",
	       hvcarve_active() ? "active" : "not active");
	return notifier_from_errno(-EBUSY);
}

static struct notifier_block hv_carve_pm_nb = {
	.notifier_call = hv_carve_pm_notify,
};

static int __init hv_carve_pm_init(void)
{
	int ret;

	if (!IS_ENABLED(CONFIG_HIBERNATION) || !hvcarve_requested())
		return 0;
	ret = register_pm_notifier(&hv_carve_pm_nb);
	if (ret)
		pr_err("cannot refuse hibernation: %d\n", ret);
	return 0;
}
subsys_initcall(hv_carve_pm_init);

static const struct hv_carve_backend *hv_carve_get_backend(void)
{
	const struct hv_carve_backend *backend;

	/* Pairs with hv_carve_register_backend(): see a complete backend. */
	backend = smp_load_acquire(&hv_carve_backend);
#if IS_ENABLED(CONFIG_MSHV_ROOT)
	/*
	 * The root partition deposits before initcalls (hv_smp_prepare_cpus);
	 * an L1VH partition deposits for its children as the root does.
	 */
	if (!backend && hv_parent_partition())
		backend = &hv_carve_hyperv;
#endif
	return backend;
}

/**
 * hv_carve_register_backend() - choose the hypervisor deposits go to
 * @backend: the backend; must stay valid for the life of the kernel
 *
 * Only one backend can be registered, and it cannot be unregistered. The
 * Hyper-V backend registers itself at early_initcall time on a root or
 * L1VH partition, so a simulator registered later is refused.
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

/**
 * hv_carve_enabled() - do deposits go through this glue?
 *
 * True once a backend is registered, and on a root or L1VH partition from
 * the start (the Hyper-V backend). Then every deposit, with hvcarve= or
 * without, goes through hv_carve_deposit_pages() or
 * hv_carve_deposit_contiguous(), so that every ordinary page deposited is
 * counted for the kexec gate (hv_deposit_gate_get()).
 *
 * Context: any.
 * Return: true if hv_carve_deposit_pages() has a backend.
 */
bool hv_carve_enabled(void)
{
	return hv_carve_get_backend();
}
EXPORT_SYMBOL_GPL(hv_carve_enabled);

/**
 * struct hv_carve_unconfirmed - what learning did since the last acceptance
 * @pfn: a page tried alone or at the head of a call
 * @skipped: pages before @pfn that learning skipped just before trying it
 * @refused: @pfn was refused (and is taken from the pool); else only the
 *	skip is recorded
 * @was_skipped: @pfn was a skipped page when it was taken
 */
struct hv_carve_unconfirmed {
	u64 pfn;
	u64 skipped;
	bool refused;
	bool was_skipped;
};

/**
 * struct hv_carve_op - one deposit
 * @be: the backend
 * @pool: the pool pages come from
 * @partition_id: the partition the pages go to
 * @node: preferred node
 * @left: pages still to deposit
 * @cap: entries of @batch
 * @batch: page frame numbers of one backend call
 * @pending: refusals not confirmed yet (allocated on the first)
 * @npending: entries in @pending
 * @last_refused: page refused by the previous call, or U64_MAX
 * @accepted: the hypervisor accepted a page in this deposit
 * @whole: a contiguous block: a refusal ends it, nothing is skipped
 * @overflow: ordinary pages follow when the carveout cannot serve the
 *	deposit; their acceptance confirms what is pending
 * @accepted_pages: pages the hypervisor accepted in this deposit
 * @accepted_carveout: of those, carveout pages
 * @balance: the partition's memory balance before the deposit, or -1 if
 *	it is not checked (hv_carve_balance_begin())
 * @withdrawals: hv_carve_withdrawals_started before the deposit
 * @stats: what it cost
 * @probe_seed: the seed of learning's PRNG; 0: from the boot's seed
 * @rnd_ready: @rnd is seeded
 * @rnd: learning's PRNG for this deposit, seeded when first used
 */
struct hv_carve_op {
	const struct hv_carve_backend *be;
	struct hvcarve_pool *pool;
	u64 partition_id;
	int node;
	u32 left;
	unsigned int cap;
	u64 *batch;
	struct hv_carve_unconfirmed *pending;
	unsigned int npending;
	u64 last_refused;
	bool accepted;
	bool whole;
	bool overflow;
	u32 accepted_pages;
	u32 accepted_carveout;
	long balance;
	unsigned long withdrawals;
	struct hv_carve_op_stats stats;
	u64 probe_seed;
	bool rnd_ready;
	struct rnd_state rnd;
};

/* A number below @n, which is not 0, from @op's PRNG. */
static u32 hv_carve_random_below(struct hv_carve_op *op, u32 n)
{
	u64 seed = op->probe_seed;

	if (!op->rnd_ready) {
		if (!seed)
			seed = hv_carve_probe_boot() + GOLDEN_RATIO_64 *
			       atomic64_inc_return(&hv_carve_probe_deposits);
		prandom_seed_state(&op->rnd, seed);
		op->rnd_ready = true;
	}
	return reciprocal_scale(prandom_u32_state(&op->rnd), n);
}

/* A pool operation found pages in a state it did not expect: a bug here. */
static void hv_carve_check_pool(unsigned long bad, const char *what)
{
	WARN_ONCE(bad, "hvcarve: %lu pages not in the expected state for %s\n",
		  bad, what);
}

/*
 * The refusal of @pfn was about that page. In a region an earlier kernel
 * deposited from, the hypervisor holds it: keep it out of the pool. In any
 * other region the hypervisor holds no page it was not given by this
 * kernel (a cold boot starts it holding none of the carveout; assumed, see
 * Documentation/virt/hyperv/hvcarve.rst), so the refusal contradicts what
 * hvcarve knows of it: the pool is distrusted first, so that it hands out
 * no more, and the page is kept out all the same. Returns false on a
 * contradiction.
 */
static bool hv_carve_learn(struct hv_carve_op *op, u64 pfn, const char *what)
{
	bool trusted = hvcarve_pool_inherited(op->pool, pfn);

	if (!trusted)
		hvcarve_pool_distrust(op->pool,
				      "partition %#llx: carveout pfn %#llx was refused, but no kernel before this one deposited from its region",
				      op->partition_id, pfn);
	/* Either way the hypervisor would not take it: keep it out. */
	hv_carve_check_pool(hvcarve_pool_held(op->pool, &pfn, 1), what);
	op->stats.learnt++;
	return trusted;
}

/* Every refusal so far was about its page: keep those pages out. */
static void hv_carve_confirm(struct hv_carve_op *op)
{
	unsigned int i;

	for (i = 0; i < op->npending; i++) {
		struct hv_carve_unconfirmed *u = &op->pending[i];

		if (u->refused &&
		    !hv_carve_learn(op, u->pfn, "confirmed refusals") &&
		    u->skipped)
			hvcarve_pool_unskip(op->pool, u->pfn - u->skipped,
					    u->skipped);
	}
	op->npending = 0;
}

/* Nothing was accepted after these refusals: undo what they taught. */
static void hv_carve_unlearn(struct hv_carve_op *op)
{
	struct hv_carve_unconfirmed *u;

	while (op->npending) {
		u = &op->pending[--op->npending];
		if (u->refused) {
			hv_carve_check_pool(hvcarve_pool_release(op->pool, &u->pfn,
								 1, u->was_skipped),
					    "unconfirmed refusals");
			op->stats.unlearnt++;
		}
		if (u->skipped)
			hvcarve_pool_unskip(op->pool, u->pfn - u->skipped,
					    u->skipped);
	}
}

/*
 * One backend call. Accepted pages are accounted, and confirm what was
 * refused before. Returns the backend's answer, checked against its
 * contract: *@done never exceeds @nr, success means all @nr, and a failure
 * names an element.
 */
static int hv_carve_call(struct hv_carve_op *op, const u64 *pfns,
			 unsigned int nr, unsigned int *done)
{
	int ret;

	*done = 0;
	ret = op->be->deposit(op->partition_id, pfns, nr, done);
	op->stats.calls++;
	if (WARN_ONCE(*done > nr, "hvcarve: backend %s: %u of %u pages done\n",
		      op->be->name, *done, nr))
		*done = nr;
	if (WARN_ONCE(!ret != (*done == nr),
		      "hvcarve: backend %s: %d after %u of %u pages\n",
		      op->be->name, ret, *done, nr))
		ret = -EIO;
	if (*done) {
		hv_carve_check_pool(hvcarve_pool_deposited(op->pool, pfns, *done),
				    "accepted pages");
		op->accepted_pages += *done;
		op->accepted_carveout += *done;
		op->left -= *done;
		op->accepted = true;
		hv_carve_confirm(op);
	}
	if (ret == -EEXIST || ret == -EBUSY)
		op->stats.refusals++;
	return ret;
}

/* Remember what learning did until a page is accepted; false if full. */
static bool hv_carve_pending_add(struct hv_carve_op *op, u64 pfn, u64 skipped,
				 bool refused, bool was_skipped)
{
	if (!op->pending) {
		op->pending = kmalloc_array(HV_CARVE_UNCONFIRMED_MAX,
					    sizeof(*op->pending), GFP_KERNEL);
		if (!op->pending)
			return false;
	}
	if (op->npending == HV_CARVE_UNCONFIRMED_MAX)
		return false;
	op->pending[op->npending++] = (struct hv_carve_unconfirmed) {
		.pfn = pfn, .skipped = skipped, .refused = refused,
		.was_skipped = was_skipped,
	};
	return true;
}

/* Are free pages (not skipped ones) among the unconfirmed refusals? */
static bool hv_carve_pending_free(const struct hv_carve_op *op)
{
	unsigned int i;

	for (i = 0; i < op->npending; i++)
		if (op->pending[i].refused && !op->pending[i].was_skipped)
			return true;
	return false;
}

/*
 * @pfn was refused. If the same call accepted pages before it, that is
 * about @pfn; otherwise remember it until a later call accepts a page.
 * Once too many refusals in a row are unconfirmed the carveout part of
 * the deposit stops: with -ENOSPC if only skipped pages were among them
 * (the carveout is used up, as far as can be told; the next deposit goes
 * on with the skipped pages after these) or if ordinary pages follow (if
 * the hypervisor accepts one, the refusals were about their pages: after a
 * kexec the whole carveout can be held); else with -EACCES (the hypervisor
 * refuses everything, as far as can be told).
 * A refusal about its page in a region no earlier kernel deposited from is
 * a contradiction (hv_carve_learn()): -ENOSPC, and the pool is distrusted.
 */
static int hv_carve_refused(struct hv_carve_op *op, u64 pfn, bool confirmed,
			    bool was_skipped, u64 skipped)
{
	if (op->stats.learnt >= HV_CARVE_LEARN_MAX) {
		hvcarve_pool_release(op->pool, &pfn, 1, was_skipped);
		if (skipped)
			hvcarve_pool_unskip(op->pool, pfn - skipped, skipped);
		pr_warn_ratelimited("partition %#llx: %u held pages learnt in one deposit; the next goes on\n",
				    op->partition_id, HV_CARVE_LEARN_MAX);
		return -ENOSPC;
	}
	if (confirmed || op->accepted) {
		if (hv_carve_learn(op, pfn, "a refusal"))
			return 0;
		if (skipped)
			hvcarve_pool_unskip(op->pool, pfn - skipped, skipped);
		return -ENOSPC;
	}
	if (hv_carve_pending_add(op, pfn, skipped, true, was_skipped))
		return 0;
	hvcarve_pool_release(op->pool, &pfn, 1, was_skipped);
	if (skipped)
		hvcarve_pool_unskip(op->pool, pfn - skipped, skipped);
	if (!hv_carve_pending_free(op)) {
		pr_warn_ratelimited("partition %#llx: no free carveout page left, and none of %u skipped pages tried was accepted\n",
				    op->partition_id, HV_CARVE_UNCONFIRMED_MAX);
		return -ENOSPC;
	}
	if (op->overflow) {
		pr_warn_ratelimited("partition %#llx: %u deposits in a row were refused at their first page and none was accepted: ordinary pages go next, and decide whether those were pages the hypervisor holds\n",
				    op->partition_id, HV_CARVE_UNCONFIRMED_MAX);
		return -ENOSPC;
	}
	pr_err_ratelimited("partition %#llx: %u deposits in a row were refused at their first page and none was accepted: taken as a refusal of every page, not as pages the hypervisor holds\n",
			   op->partition_id, HV_CARVE_UNCONFIRMED_MAX);
	return -EACCES;
}

static bool hv_carve_is_refusal(int ret)
{
	return ret == -EEXIST || ret == -EBUSY;
}

/*
 * Try page @pfn alone. Returns 1 if it was accepted, 0 if it is held
 * (refused, or known to this kernel as inherited), or a negative errno.
 * A page this kernel deposited itself counts as accepted: it was not held
 * when it was deposited. @gap pages before @pfn were just skipped.
 */
static int hv_carve_probe(struct hv_carve_op *op, u64 pfn, u64 gap)
{
	enum hvcarve_page state;
	bool was;
	unsigned int done;
	int ret;

	/* A contradiction stopped the carveout part. */
	if (hvcarve_pool_distrusted(op->pool))
		return -ENOSPC;
	state = hvcarve_pool_take(op->pool, pfn);
	was = state == HVCARVE_PAGE_SKIPPED;
	/* Distrusted meanwhile by another deposit, or not a pool page. */
	if (state == HVCARVE_PAGE_OUTSIDE)
		return hvcarve_pool_distrusted(op->pool) ? -ENOSPC : -EINVAL;
	if (state == HVCARVE_PAGE_DEPOSITED || state == HVCARVE_PAGE_INHERITED) {
		/* Known without a call; the skip is undone with the rest. */
		if (gap && !hv_carve_pending_add(op, pfn, gap, false, false))
			hvcarve_pool_unskip(op->pool, pfn - gap, gap);
		return state == HVCARVE_PAGE_DEPOSITED;
	}
	ret = hv_carve_call(op, &pfn, 1, &done);
	if (done)
		return 1;
	if (!hv_carve_is_refusal(ret)) {
		hvcarve_pool_release(op->pool, &pfn, 1, was);
		return ret;
	}
	return hv_carve_refused(op, pfn, false, was, gap);
}

/*
 * @pfn starts a run of pages the hypervisor holds (it and the page before
 * it were refused). Try single pages further and further on, then bisect,
 * to find where the run ends within @pfn's region. The pages passed over
 * inside the run are left skipped.
 *
 * The probes are 1, 2, 4, ... pages on, each plus a random part of less
 * than half its step: a deposit that is accepted leaves the hypervisor
 * holding the pages it probed, and a next kernel that probed the same
 * pages would walk from one to the next as if they were one run. Once the
 * next step would reach the region's last page, the probes halve what is
 * left of the region instead: each lands half way from the last refused
 * page to the region's end, plus a random part of less than a quarter of
 * that stretch (the pages from the last refused one to the region's end).
 * So the last page is probed only once every page before it that was
 * probed was refused, and a run that reaches the region's end costs about
 * 2 * log2 of the region's pages. The doubling's random part is also kept
 * short of the last page.
 */
static int hv_carve_skip_run(struct hv_carve_op *op, u64 pfn)
{
	u64 lo = pfn, hi = 0, q = pfn, end, step = 1, span, room, mid, gap;
	int ret;

	if (!hvcarve_pool_extent(op->pool, pfn, &end))
		return 0;

	/* Skip ahead: lo is held, q after it is tried, (lo, q) is skipped. */
	while (op->left && lo < end - 1) {
		cond_resched();
		span = end - 1 - lo;	/* pages after lo */
		if (step < span) {
			/* Less than half the step, short of the last page. */
			room = min3(step / 2, span - step, (u64)U32_MAX);
			q = lo + step;
			step <<= 1;
		} else {
			/* Half way, and less than a quarter of the span. */
			room = min_t(u64, span / 4, U32_MAX);
			q = lo + DIV_ROUND_UP(span, 2);
		}
		if (room)
			q += hv_carve_random_below(op, room);
		gap = q - lo - 1;
		hvcarve_pool_skip(op->pool, lo + 1, gap);
		ret = hv_carve_probe(op, q, gap);
		if (ret < 0) {
			hvcarve_pool_unskip(op->pool, lo + 1, gap);
			return ret;
		}
		if (ret) {
			hi = q;
			break;
		}
		lo = q;
	}
	/* Else the run reaches the region's end, as far as can be told. */
	if (!hi)
		return 0;

	/* Bisect: lo is held, hi is not, (lo, hi) skipped. */
	while (hi - lo > 1 && op->left) {
		cond_resched();
		mid = lo + (hi - lo) / 2;
		ret = hv_carve_probe(op, mid, 0);
		if (ret < 0)
			return ret;
		if (ret)
			hi = mid;
		else
			lo = mid;
	}
	/* The pages after the run that were skipped are free again. */
	if (q > hi + 1)
		hvcarve_pool_unskip(op->pool, hi + 1, q - hi - 1);
	return 0;
}

/*
 * Deposit @n pages of @pages (all taken from the pool; @skipped: they were
 * skipped pages). After a refusal the rest is sent again; two refusals of
 * neighbouring pages start hv_carve_skip_run(). Returns 0 when every page
 * was accepted, learnt or given back; else an error, with the unsent pages
 * given back.
 */
static int hv_carve_send(struct hv_carve_op *op, u64 *pages, unsigned int n,
			 bool skipped)
{
	unsigned int done;
	bool run;
	u64 pfn;
	int ret;

	while (n) {
		/* A contradiction stopped the carveout part. */
		if (hvcarve_pool_distrusted(op->pool)) {
			ret = -ENOSPC;
			goto release;
		}
		ret = hv_carve_call(op, pages, n, &done);
		pages += done;
		n -= done;
		if (!ret) {
			op->last_refused = U64_MAX;
			return 0;
		}
		if (!hv_carve_is_refusal(ret))
			goto release;
		pfn = *pages++;
		n--;
		run = !done && op->last_refused != U64_MAX &&
		      pfn == op->last_refused + 1;
		op->last_refused = pfn;
		ret = hv_carve_refused(op, pfn, done > 0, skipped, 0);
		if (ret)
			goto release;
		if (op->whole) {
			/* Not the whole block: the caller tries another one. */
			hv_carve_check_pool(hvcarve_pool_release(op->pool, pages,
								 n, skipped),
					    "the rest of a block");
			return 0;
		}
		/* Skipped pages were passed over once; each is tried now. */
		if (run && !skipped) {
			hv_carve_check_pool(hvcarve_pool_release(op->pool, pages,
								 n, skipped),
					    "the rest of a batch");
			return hv_carve_skip_run(op, pfn);
		}
	}
	return 0;

release:
	hv_carve_check_pool(hvcarve_pool_release(op->pool, pages, n, skipped),
			    "unsent pages");
	return ret;
}

/*
 * Deposit from the pool until op->left pages went in or the pool has none
 * left to try. Returns 0 (op->left may then be non-zero) or an error.
 */
static int hv_carve_from_pool(struct hv_carve_op *op)
{
	unsigned int flags, n;
	int ret;

	while (op->left) {
		cond_resched();
		flags = 0;
		n = hvcarve_pool_alloc(op->pool, op->node, op->batch,
				       min(op->left, op->cap), flags);
		if (!n) {
			flags = HVCARVE_ALLOC_SKIPPED;
			n = hvcarve_pool_alloc(op->pool, op->node, op->batch,
					       min(op->left, op->cap), flags);
		}
		if (!n)
			return 0;
		ret = hv_carve_send(op, op->batch, n,
				    flags == HVCARVE_ALLOC_SKIPPED);
		if (ret == -ENOSPC)
			return 0;
		if (ret)
			return ret;
	}
	return 0;
}

static int hv_carve_op_init(struct hv_carve_op *op,
			    const struct hv_carve_backend *be,
			    struct hvcarve_pool *pool, int node,
			    u64 partition_id, u32 num_pages)
{
	*op = (struct hv_carve_op) {
		.be = be, .pool = pool, .node = node,
		.partition_id = partition_id, .left = num_pages,
		.cap = min_t(u32, max(num_pages, 1U), HV_CARVE_DEPOSIT_MAX),
		.last_refused = U64_MAX,
		.balance = -1,
	};
	op->batch = kmalloc_array(op->cap, sizeof(*op->batch), GFP_KERNEL);
	return op->batch ? 0 : -ENOMEM;
}

static void hv_carve_op_end(struct hv_carve_op *op)
{
	if (op->pool)
		hv_carve_unlearn(op);
	kfree(op->pending);
	kfree(op->batch);
}

/*
 * The memory balance check. The hypervisor's count of a partition's pool
 * (pages available plus pages in use: HvCallGetMemoryBalance) grows by each
 * page it accepts, and shrinks only when pages are withdrawn; assumed, as
 * the Hypervisor Top-Level Functional Specification describes the call but
 * not how the two numbers move. A hypervisor that accepted a page it
 * already held would not grow it: exactly the case in which hvcarve's
 * learning after a kexec is unsafe. So a deposit from the pool reads the
 * balance before and after, and if it grew by less than what was accepted,
 * the pool is distrusted. Other deposits for the partition at the same
 * time only add to it; a deposit that overlaps a withdrawal is not checked.
 */
static void hv_carve_balance_begin(struct hv_carve_op *op)
{
	long finished;

	op->balance = -1;
	if (!op->pool || !op->be->balance || hvcarve_pool_distrusted(op->pool))
		return;
	finished = atomic_long_read(&hv_carve_withdrawals_finished);
	/* Pairs with hv_carve_withdraw_end(): finished, then started. */
	smp_rmb();
	op->withdrawals = atomic_long_read(&hv_carve_withdrawals_started);
	if (op->withdrawals != finished)
		return;
	op->balance = op->be->balance(op->partition_id);
}

/*
 * Only a deposit that took carveout pages is checked: ordinary pages just
 * allocated cannot be held already, so their shortfall would say nothing
 * about learning.
 */
static void hv_carve_balance_check(struct hv_carve_op *op)
{
	long after;

	if (op->balance < 0 || !op->accepted_carveout)
		return;
	after = op->be->balance(op->partition_id);
	/* Pairs with hv_carve_withdraw_begin(): the balance, then started. */
	smp_mb();
	if (after < 0 ||
	    atomic_long_read(&hv_carve_withdrawals_started) != op->withdrawals)
		return;
	if (after - op->balance >= op->accepted_pages)
		return;
	hvcarve_pool_distrust(op->pool,
			      "partition %#llx: %u pages were accepted, but its memory balance grew by %ld",
			      op->partition_id, op->accepted_pages,
			      after - op->balance);
}

#if HV_CARVE_TESTED
/**
 * hv_carve_pool_deposit() - deposit pages of a pool through a backend
 * @be: the backend
 * @pool: the pool
 * @node: preferred NUMA node, or NUMA_NO_NODE
 * @partition_id: partition whose memory pool receives the pages
 * @num_pages: number of pages
 * @probe_seed: the seed of learning's probes in this deposit; 0: from the
 *	boot's seed, as hv_carve_deposit_pages() does
 * @stats: if not NULL, receives what the deposit cost
 *
 * The pool part of hv_carve_deposit_pages(), with learning and the
 * memory balance check, on any pool and backend (the KUnit test uses
 * private ones, the benchmark a null hypercall).
 *
 * Context: process context; may sleep.
 * Return: 0 when all @num_pages went in; -ENOSPC when the pool had no more
 * pages to try; -EACCES when the hypervisor refused every page; -ENOMEM;
 * or the backend's error.
 */
int hv_carve_pool_deposit(const struct hv_carve_backend *be,
			  struct hvcarve_pool *pool, int node, u64 partition_id,
			  u32 num_pages, u64 probe_seed,
			  struct hv_carve_op_stats *stats)
{
	struct hv_carve_op op;
	int ret;

	ret = hv_carve_op_init(&op, be, pool, node, partition_id, num_pages);
	op.probe_seed = probe_seed;
	if (!ret) {
		hv_carve_balance_begin(&op);
		ret = hv_carve_from_pool(&op);
		hv_carve_balance_check(&op);
	}
	if (!ret && op.left)
		ret = -ENOSPC;
	hv_carve_op_end(&op);
	if (stats)
		*stats = op.stats;
	return ret;
}

#endif /* HV_CARVE_TESTED */

/*
 * May this deposit use ordinary memory? Always when the carveout is not
 * usable (@pool is NULL) or overflow is allowed; and during boot, where
 * a root partition cannot survive a failed deposit (hv_smp_prepare_cpus()
 * BUG()s on it).
 */
static bool hv_carve_may_overflow(struct hvcarve_pool *pool)
{
	return !pool || READ_ONCE(hv_carve_overflow_allow) ||
	       system_state < SYSTEM_RUNNING;
}

/*
 * An ordinary page deposited is PageOffline, as balloon drivers mark the
 * pages they hand to a hypervisor: makedumpfile leaves such pages out of a
 * crash dump, and nothing else in the kernel touches them.
 */
static void hv_carve_overflow_release(u64 pfn)
{
	struct page *page = pfn_to_page(pfn);

	__ClearPageOffline(page);
	__free_page(page);
}

/* Free ordinary pages that were not deposited, and forget them. */
static void hv_carve_overflow_free(const u64 *pfns, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		xa_erase(&hv_carve_overflow, pfns[i]);
		hv_carve_overflow_release(pfns[i]);
	}
}

/*
 * Fill @op->batch with @n ordinary pages: either a naturally aligned block
 * of @order, or single pages (@order 0). Each is remembered for its
 * withdrawal. Returns the number of pages.
 */
static unsigned int hv_carve_overflow_alloc(struct hv_carve_op *op,
					    unsigned int n, unsigned int order)
{
	struct page *page;
	unsigned int i, got = 0;

	if (order) {
		page = alloc_pages_node(op->node, GFP_KERNEL, order);
		if (!page)
			return 0;
		split_page(page, order);
		for (i = 0; i < n; i++)
			op->batch[i] = page_to_pfn(page) + i;
		got = n;
	} else {
		for (; got < n; got++) {
			page = alloc_pages_node(op->node, GFP_KERNEL, 0);
			if (!page)
				break;
			op->batch[got] = page_to_pfn(page);
		}
	}
	for (i = 0; i < got; i++) {
		__SetPageOffline(pfn_to_page(op->batch[i]));
		if (xa_err(xa_store(&hv_carve_overflow, op->batch[i],
				    xa_mk_value(0), GFP_KERNEL))) {
			/* Not remembered: none of these can be sent. */
			while (i--)
				xa_erase(&hv_carve_overflow, op->batch[i]);
			for (i = 0; i < got; i++) {
				if (PageOffline(pfn_to_page(op->batch[i])))
					__ClearPageOffline(pfn_to_page(op->batch[i]));
				__free_page(pfn_to_page(op->batch[i]));
			}
			return 0;
		}
	}
	return got;
}

/*
 * Deposit op->left ordinary pages (in blocks of 2^@order if @order). Any
 * refusal or failure ends it: an ordinary page this kernel just allocated
 * cannot be one the hypervisor held, so there is nothing to learn.
 */
static int hv_carve_from_ram(struct hv_carve_op *op, unsigned int order)
{
	unsigned int n, done;
	u32 deposited = 0;
	int ret = 0;
	bool all;

	while (op->left) {
		cond_resched();
		n = order ? 1U << order : min(op->left, op->cap);
		n = hv_carve_overflow_alloc(op, n, order);
		if (!n) {
			ret = -ENOMEM;
			break;
		}
		ret = hv_deposit_gate_get(n);
		if (ret) {
			/*
			 * A kexec image is loaded, or a kexec is under way:
			 * nothing more goes in.
			 */
			hv_carve_overflow_free(op->batch, n);
			pr_warn_ratelimited("partition %#llx: %u ordinary pages not deposited: a kexec image is loaded (kexec -u unloads it) or a kexec is under way\n",
					    op->partition_id, op->left);
			break;
		}
		ret = op->be->deposit(op->partition_id, op->batch, n, &done);
		op->stats.calls++;
		all = done == n;
		if (WARN_ONCE(done > n || !ret != all,
			      "hvcarve: backend %s: %d after %u of %u pages\n",
			      op->be->name, ret, done, n)) {
			done = min(done, n);
			ret = ret ?: -EIO;
		}
		op->left -= min_t(u32, done, op->left);
		deposited += done;
		op->accepted_pages += done;
		if (done)
			hv_deposit_gate_accepted(done);
		if (done && op->pool) {
			op->accepted = true;
			hv_carve_confirm(op);
		}
		if (ret) {
			hv_carve_overflow_free(op->batch + done, n - done);
			hv_deposit_gate_put(n - done);
			/* Not about the page: it was never deposited. */
			if (hv_carve_is_refusal(ret))
				ret = -EACCES;
			break;
		}
	}
	if (deposited && !hvcarve_requested())
		pr_notice_once("hvcarve= not given: deposits use ordinary memory, and kexec is refused while any of it is deposited\n");
	else if (deposited)
		pr_warn_ratelimited("deposited %u ordinary pages for partition %#llx (overflow: %s); kexec is refused until they are withdrawn\n",
				    deposited, op->partition_id,
				    !op->pool ? "the carveout is not usable" :
				    READ_ONCE(hv_carve_overflow_allow) ?
				    "carveout exhausted, hvcarve.overflow=allow" :
				    "carveout exhausted during boot");
	return ret;
}

/*
 * The common part of hv_carve_deposit_pages() and
 * hv_carve_deposit_contiguous(): @order 0 for any pages, else one naturally
 * aligned block of 2^@order pages.
 */
static int hv_carve_deposit(int node, u64 partition_id, u32 num_pages,
			    unsigned int order)
{
	const struct hv_carve_backend *be = hv_carve_get_backend();
	struct hvcarve_pool *pool = hvcarve_pool();
	struct hv_carve_op op;
	unsigned int i, tries;
	u64 pfn;
	int ret;

	might_sleep();
	if (!num_pages)
		return 0;
	if (!be)
		return -ENODEV;
	ret = hv_carve_op_init(&op, be, pool, node, partition_id, num_pages);
	if (ret)
		goto out;
	op.overflow = hv_carve_may_overflow(pool);
	hv_carve_balance_begin(&op);

	if (pool && !order) {
		ret = hv_carve_from_pool(&op);
	} else if (pool) {
		/* One aligned block that the hypervisor takes whole. */
		op.whole = true;
		for (tries = 0; tries < HV_CARVE_CONTIG_TRIES; tries++) {
			if (hvcarve_pool_alloc_aligned(pool, node, order, &pfn))
				break;
			for (i = 0; i < num_pages; i++)
				op.batch[i] = pfn + i;
			op.left = num_pages;
			ret = hv_carve_send(&op, op.batch, num_pages, false);
			/* The pool was distrusted: overflow may follow. */
			if (ret == -ENOSPC)
				ret = 0;
			if (ret || !op.left)
				break;
		}
		/* What a block had accepted before a refusal stays deposited. */
		if (op.left)
			op.left = num_pages;
		if (!ret && op.left && !hv_carve_may_overflow(pool))
			pr_warn_ratelimited("no naturally aligned block of %u free carveout pages could be deposited for partition %#llx\n",
					    num_pages, partition_id);
	} else if (hvcarve_requested()) {
		pr_err_once("the carveout is not usable: deposits use ordinary memory, and kexec is refused while any of it is deposited\n");
	}

	if (!ret && op.left) {
		if (op.overflow) {
			ret = hv_carve_from_ram(&op, order);
		} else {
			if (!order)
				pr_warn_ratelimited("carveout %s: %u of %u pages for partition %#llx not deposited (hvcarve.overflow=deny)\n",
						    pool && hvcarve_pool_distrusted(pool) ?
						    "distrusted" : "exhausted",
						    op.left, num_pages, partition_id);
			ret = -ENOMEM;
		}
	}
	if (op.left && pool)
		hvcarve_pool_failed(pool, node, op.left);
	/* -ENOMEM and -EBUSY (a kexec image is loaded) said why already. */
	if (ret && ret != -ENOMEM && ret != -EBUSY)
		pr_err_ratelimited("deposit for partition %#llx failed after %u of %u pages: %d\n",
				   partition_id, num_pages - op.left, num_pages,
				   ret);
	hv_carve_balance_check(&op);
out:
	hv_carve_op_end(&op);
	return ret;
}

/**
 * hv_carve_deposit_pages() - deposit pages into the hypervisor
 * @node: NUMA node whose carveout pages are preferred, or NUMA_NO_NODE
 * @partition_id: partition whose memory pool receives the pages
 * @num_pages: number of pages to deposit; any number
 *
 * Takes the pages from the carveout's pool and hands them to the backend in
 * batches of at most HV_CARVE_DEPOSIT_MAX, learning which pages the
 * hypervisor already holds (see the top of this file). When the carveout
 * cannot serve the deposit -- it is exhausted, or hvcarve= was rejected --
 * ordinary pages are deposited instead if hv_carve_may_overflow() allows
 * it. Without hvcarve= every page is an ordinary one, as in mainline, and
 * counted like overflow, so that kexec is refused while any is deposited.
 * Pages accepted before a failure stay deposited and counted.
 *
 * Context: process context, interrupts enabled; may sleep.
 * Return: 0 when all @num_pages were deposited; -ENODEV without a backend;
 * -ENOMEM when the carveout is exhausted and overflow
 * is not allowed, or memory ran out; -EACCES when the hypervisor refused
 * every page; -EBUSY when a kexec image is loaded (or a kexec is under way)
 * and ordinary pages would have been needed; the backend's error otherwise.
 */
int hv_carve_deposit_pages(int node, u64 partition_id, u32 num_pages)
{
	return hv_carve_deposit(node, partition_id, num_pages, 0);
}
EXPORT_SYMBOL_GPL(hv_carve_deposit_pages);

/**
 * hv_carve_deposit_contiguous() - deposit one naturally aligned block
 * @node: NUMA node whose carveout pages are preferred, or NUMA_NO_NODE
 * @partition_id: partition whose memory pool receives the pages
 * @num_pages: pages in the block, a power of two
 *
 * For HV_STATUS_INSUFFICIENT_CONTIGUOUS_MEMORY: the hypervisor wants
 * physically contiguous memory, so the pages are a naturally aligned block
 * of the carveout, or of ordinary memory if hv_carve_may_overflow() allows
 * it, never scattered pages.
 *
 * Context: process context, interrupts enabled; may sleep.
 * Return: as hv_carve_deposit_pages(); -EINVAL if @num_pages is not a
 * power of two or larger than HV_CARVE_DEPOSIT_MAX.
 */
int hv_carve_deposit_contiguous(int node, u64 partition_id, u32 num_pages)
{
	if (!is_power_of_2(num_pages) || num_pages > HV_CARVE_DEPOSIT_MAX)
		return -EINVAL;
	return hv_carve_deposit(node, partition_id, num_pages,
				ilog2(num_pages));
}
EXPORT_SYMBOL_GPL(hv_carve_deposit_contiguous);

/**
 * hv_carve_withdrawn() - take back pages the hypervisor returned
 * @pfns: page frame numbers from a withdrawal
 * @nr: number of entries in @pfns
 *
 * Ownership is decided by physical address. Carveout pages go back to the
 * pool (never to the page allocator; they may have no struct page), one
 * lock round trip per run. An ordinary page this kernel deposited, with
 * hvcarve= or without, is in hv_carve_overflow: it is uncounted and freed,
 * one xarray lookup each. Any other page was not deposited by this kernel
 * (a kernel before a kexec did): it is not freed, because this kernel may
 * have used it since it booted.
 *
 * Context: process context.
 */
void hv_carve_withdrawn(const u64 *pfns, unsigned int nr)
{
	struct hvcarve_pool *pool = hvcarve_pool();
	unsigned int i, overflow = 0;
	u64 pfn;

	/* Carveout pages only, the usual case: done. */
	if (pool && !hvcarve_pool_withdrawn(pool, pfns, nr))
		return;
	for (i = 0; i < nr; i++) {
		pfn = pfns[i];
		if (hvcarve_pfn_in_carveout(pfn)) {
			if (!pool)
				pr_warn_ratelimited("carveout pfn %#llx withdrawn while the pool is not usable: kept out of use\n",
						    pfn);
			continue;
		}
		if (xa_erase(&hv_carve_overflow, pfn)) {
			hv_carve_overflow_release(pfn);
			overflow++;
			continue;
		}
		pr_warn_ratelimited("pfn %#llx withdrawn, but this kernel never deposited it (an earlier kernel did): not freed\n",
				    pfn);
	}
	if (overflow)
		hv_deposit_gate_put(overflow);
}
EXPORT_SYMBOL_GPL(hv_carve_withdrawn);

/**
 * hv_carve_withdraw_begin() - a withdrawal is about to be made
 *
 * A withdrawal shrinks a partition's memory balance, which deposits check
 * (see hv_carve_deposit_pages()): every caller of the withdrawal hypercall
 * brackets it with hv_carve_withdraw_begin() and hv_carve_withdraw_end(),
 * so that a deposit that overlaps it does not check.
 *
 * Context: any.
 */
void hv_carve_withdraw_begin(void)
{
	atomic_long_inc(&hv_carve_withdrawals_started);
	/* Pairs with hv_carve_balance_check(): started, then the hypercall. */
	smp_mb__after_atomic();
}
EXPORT_SYMBOL_GPL(hv_carve_withdraw_begin);

/**
 * hv_carve_withdraw_end() - a withdrawal begun by hv_carve_withdraw_begin() is over
 *
 * Context: any.
 */
void hv_carve_withdraw_end(void)
{
	/* Pairs with hv_carve_balance_begin(): the hypercall, then finished. */
	smp_mb__before_atomic();
	atomic_long_inc(&hv_carve_withdrawals_finished);
}
EXPORT_SYMBOL_GPL(hv_carve_withdraw_end);

/**
 * hv_carve_withdraw_pages() - withdraw pages from a partition's memory pool
 * @partition_id: partition to take pages from
 * @count: most pages to withdraw; U64_MAX for all of them
 * @withdrawn: if not NULL, receives the number of pages withdrawn
 *
 * Asks the backend for pages in batches of at most HV_CARVE_WITHDRAW_MAX
 * until @count pages came back or the partition holds no more, and hands
 * each batch to hv_carve_withdrawn().
 *
 * Context: process context; may sleep.
 * Return: 0 on success (also when fewer than @count pages were held),
 * -ENODEV without a backend, -ENOMEM, or the backend's error. Pages
 * withdrawn before an error are taken back and counted in @withdrawn.
 */
int hv_carve_withdraw_pages(u64 partition_id, u64 count, u64 *withdrawn)
{
	const struct hv_carve_backend *backend = hv_carve_get_backend();
	unsigned int want, done, cap;
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
		cond_resched();
		want = min_t(u64, count - got, cap);
		done = 0;
		hv_carve_withdraw_begin();
		ret = backend->withdraw(partition_id, pfns, want, &done);
		if (WARN_ONCE(done > want, "hvcarve: backend %s: withdrew %u of %u pages\n",
			      backend->name, done, want))
			done = want;
		hv_carve_withdrawn(pfns, done);
		hv_carve_withdraw_end();
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
