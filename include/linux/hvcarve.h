/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * hvcarve: a fixed memory carveout that is the only memory a root partition
 * of the Microsoft Hypervisor ever deposits, and that every kernel in a
 * kexec chain -- old or new -- keeps its hands off, because the e820 map it
 * is handed says the carveout is reserved.
 *
 * Two users include this header:
 * - the architecture, which parses hvcarve=, checks its regions against its
 *   memory map and reserves them (x86: arch/x86/kernel/hvcarve.c);
 * - drivers/hv: the deposit glue, which takes pages from the carveout's
 *   page pool and hands them to a hypervisor backend, and mshv's deposit
 *   and withdrawal paths, which go through it.
 * kexec core does not: it keeps segments out of reserved memory, the
 * carveout among it, and the kexec gate (drivers/hv/hv_deposit_gate.c)
 * refuses a kexec while ordinary pages are deposited.
 *
 * See Documentation/virt/hyperv/hvcarve.rst.
 */
#ifndef _LINUX_HVCARVE_H
#define _LINUX_HVCARVE_H

#include <linux/bits.h>
#include <linux/errno.h>
#include <linux/mm.h>
#include <linux/sizes.h>
#include <linux/types.h>

/* struct hvcarve_range, HVCARVE_MAX_REGIONS, the parser */
#include <linux/hvcarve_parse.h>

struct hvcarve_pool;

/*
 * Deposits and withdrawals are made of 4 KiB hypervisor pages; hvcarve
 * requires PAGE_SIZE to be the same.
 */
#define HV_CARVE_PAGE_SIZE	SZ_4K

/*
 * Most pages one backend deposit call takes: HvCallDepositMemory's input
 * is one page holding the partition ID and then the page numbers.
 */
#define HV_CARVE_DEPOSIT_MAX	(HV_CARVE_PAGE_SIZE / sizeof(u64) - 1)

/*
 * Most pages one backend withdraw call returns: HvCallWithdrawMemory's
 * output is one page of page numbers.
 */
#define HV_CARVE_WITHDRAW_MAX	(HV_CARVE_PAGE_SIZE / sizeof(u64))

/**
 * struct hv_carve_backend - a hypervisor that pages are deposited into
 * @name: short name for messages, e.g. "hyperv" or "sim"
 * @deposit: give the hypervisor @nr (at most %HV_CARVE_DEPOSIT_MAX) pages,
 *	named by page frame number in @pfns, for partition @partition_id.
 *	Like a rep hypercall it works through @pfns in order and stops at
 *	the first element it refuses; *@done is set to the number of
 *	elements accepted before that, and elements after *@done were not
 *	looked at. Returns 0 when all @nr were accepted (*@done == @nr).
 *	Otherwise element *@done was refused with:
 *
 *	- -EEXIST: the hypervisor would not take that page. For the
 *	  Microsoft Hypervisor this is HV_STATUS_OPERATION_DENIED, which
 *	  means "already deposited" among other causes; the glue treats it
 *	  as "held" only once the refusal is shown to be about that page.
 *	- -EBUSY: the page is in use for another purpose
 *	  (HV_STATUS_OBJECT_IN_USE); treated like -EEXIST.
 *	- -EACCES: the caller may not deposit at all (HV_STATUS_ACCESS_DENIED):
 *	  nothing is learnt about the page.
 *	- another negative errno: any other failure.
 *
 *	Called in process context, with interrupts enabled and no lock of
 *	the glue held; it may sleep.
 * @withdraw: take back up to @max (at most %HV_CARVE_WITHDRAW_MAX) pages
 *	that partition @partition_id holds, storing their page frame numbers
 *	in @pfns and their number in *@done. Returns 0 on success; *@done less
 *	than @max then means the partition holds no more pages. On failure it
 *	returns a negative errno, and the *@done pages already stored were
 *	still withdrawn and must be taken back by the caller. Called like
 *	@deposit.
 * @balance: optional; the number of pages in partition @partition_id's
 *	memory pool (available or in use), or a negative errno (-EOPNOTSUPP
 *	if the hypervisor cannot tell). It must grow by each page accepted
 *	and shrink only by withdrawals: deposits check it (a deposit that
 *	grew it by less than it accepted makes the pool distrusted).
 *
 * A registered backend stays registered for the life of the kernel.
 */
struct hv_carve_backend {
	const char *name;
	int (*deposit)(u64 partition_id, const u64 *pfns, unsigned int nr,
		       unsigned int *done);
	int (*withdraw)(u64 partition_id, u64 *pfns, unsigned int max,
			unsigned int *done);
	long (*balance)(u64 partition_id);
};

/**
 * struct hvcarve_stats - page counters of one region
 * @free: pages in the pool: not known to be held by the hypervisor
 * @deposited: pages this kernel took for deposits and still has deposited
 *	(including the pages of a deposit call in progress)
 * @inherited: pages the hypervisor was shown to hold since before this
 *	kernel booted
 * @skipped: pages learning passed over in a run of held pages; probably
 *	held, not proven; used only when @free runs out
 * @peak: highest @deposited + @inherited seen
 * @deposit_success: pages the hypervisor accepted, ever
 * @deposit_fail: pages a deposit asked for and did not get, ever
 * @withdrawn: pages the hypervisor gave back, ever
 *
 * @free, @deposited, @inherited and @skipped count the pages in each of
 * the four states of the region's two bitmaps, and change only with them,
 * so they always add up to the region's size and none can wrap.
 */
struct hvcarve_stats {
	u64 free;
	u64 deposited;
	u64 inherited;
	u64 skipped;
	u64 peak;
	u64 deposit_success;
	u64 deposit_fail;
	u64 withdrawn;
};

/* hvcarve_pool_alloc() flags */
#define HVCARVE_ALLOC_SKIPPED	BIT(0)	/* also pages learning skipped over */

/* What a page of a pool is, as hvcarve_pool_take() found it. */
enum hvcarve_page {
	HVCARVE_PAGE_FREE,	/* in the pool */
	HVCARVE_PAGE_SKIPPED,	/* passed over by learning: likely held */
	HVCARVE_PAGE_DEPOSITED,	/* taken by this kernel for a deposit */
	HVCARVE_PAGE_INHERITED,	/* shown to be held since before this boot */
	HVCARVE_PAGE_OUTSIDE,	/* not in the pool */
};

#ifdef CONFIG_HVCARVE

/**
 * hvcarve_parse() - parse the value of one hvcarve= parameter
 * @str: the text after "hvcarve=", e.g. "64M@0x3a000000,32M@2G"
 * @ranges: table of HVCARVE_MAX_REGIONS entries to append to
 * @nr: number of entries already in @ranges; updated on success. On
 *	failure it is the index of the element that was rejected.
 * @reason: set to a static description of the problem on failure
 *
 * hvcarve_parse_value() (<linux/hvcarve_parse.h>: the rules that the
 * decompressor's KASLR, the EFI stub and the administrator's tool share)
 * with this kernel's page size and physical address space. The
 * architecture's early_param calls it (x86: arch/x86/kernel/hvcarve.c).
 *
 * Context: any; does not sleep and touches no global state.
 * Return: 0 on success, -EINVAL for a malformed or unsafe element, -E2BIG
 * when the table would hold more than HVCARVE_MAX_REGIONS ranges.
 */
static inline int hvcarve_parse(const char *str, struct hvcarve_range *ranges,
				unsigned int *nr, const char **reason)
{
	return hvcarve_parse_value(str, ranges, nr, PAGE_SIZE,
				   BIT_ULL(MAX_PHYSMEM_BITS), reason);
}

/* Early boot, for the architecture's parser and reservation (setup_arch()). */
__printf(1, 2)
void hvcarve_refuse(const char *fmt, ...);
void hvcarve_region_add(const struct hvcarve_range *range, bool inherited);
void hvcarve_pool_init(void);

/* The carveout. */
bool hvcarve_requested(void);
bool hvcarve_active(void);
bool hvcarve_pfn_in_carveout(unsigned long pfn);
int hvcarve_region_get(unsigned int i, struct hvcarve_range *range);

/* The page pool, for the deposit glue. */
struct hvcarve_pool *hvcarve_pool(void);
unsigned long hvcarve_pool_alloc(struct hvcarve_pool *pool, int nid,
				 u64 *pfns, unsigned long nr,
				 unsigned int flags);
int hvcarve_pool_alloc_aligned(struct hvcarve_pool *pool, int nid,
			       unsigned int order, u64 *pfn);
enum hvcarve_page hvcarve_pool_take(struct hvcarve_pool *pool, u64 pfn);
bool hvcarve_pool_extent(struct hvcarve_pool *pool, u64 pfn, u64 *end);
unsigned long hvcarve_pool_release(struct hvcarve_pool *pool, const u64 *pfns,
				   unsigned long nr, bool skipped);
unsigned long hvcarve_pool_deposited(struct hvcarve_pool *pool,
				     const u64 *pfns, unsigned long nr);
unsigned long hvcarve_pool_held(struct hvcarve_pool *pool, const u64 *pfns,
				unsigned long nr);
unsigned long hvcarve_pool_skip(struct hvcarve_pool *pool, u64 pfn,
				unsigned long nr);
unsigned long hvcarve_pool_unskip(struct hvcarve_pool *pool, u64 pfn,
				  unsigned long nr);
unsigned long hvcarve_pool_withdrawn(struct hvcarve_pool *pool,
				     const u64 *pfns, unsigned long nr);
void hvcarve_pool_failed(struct hvcarve_pool *pool, int nid, unsigned long nr);
bool hvcarve_pool_inherited(struct hvcarve_pool *pool, u64 pfn);
__printf(2, 3)
void hvcarve_pool_distrust(struct hvcarve_pool *pool, const char *fmt, ...);
bool hvcarve_pool_distrusted(struct hvcarve_pool *pool);
enum hvcarve_page hvcarve_pool_page(struct hvcarve_pool *pool, u64 pfn);
int hvcarve_pool_stats(struct hvcarve_pool *pool, unsigned int i,
		       struct hvcarve_stats *stats);

#if IS_ENABLED(CONFIG_KUNIT)
struct hvcarve_pool *hvcarve_pool_create(const struct hvcarve_range *ranges,
					 const int *nids, unsigned int nr,
					 bool inherited);
void hvcarve_pool_destroy(struct hvcarve_pool *pool);
#endif

/* Deposits, for drivers/hv (drivers/hv/hv_carve_deposit.c). */
int hv_carve_register_backend(const struct hv_carve_backend *backend);
const char *hv_carve_backend_name(void);
bool hv_carve_enabled(void);
int hv_carve_deposit_pages(int node, u64 partition_id, u32 num_pages);
int hv_carve_deposit_contiguous(int node, u64 partition_id, u32 num_pages);
int hv_carve_withdraw_pages(u64 partition_id, u64 count, u64 *withdrawn);
void hv_carve_withdrawn(const u64 *pfns, unsigned int nr);
void hv_carve_withdraw_begin(void);
void hv_carve_withdraw_end(void);

#else /* !CONFIG_HVCARVE */

#include <linux/hv_deposit_gate.h>

static inline void hvcarve_pool_init(void)
{
}

static inline bool hvcarve_requested(void)
{
	return false;
}

static inline bool hvcarve_active(void)
{
	return false;
}

static inline bool hvcarve_pfn_in_carveout(unsigned long pfn)
{
	return false;
}

static inline bool hv_carve_enabled(void)
{
	return false;
}

static inline int hv_carve_deposit_pages(int node, u64 partition_id,
					 u32 num_pages)
{
	return -ENODEV;
}

static inline int hv_carve_deposit_contiguous(int node, u64 partition_id,
					      u32 num_pages)
{
	return -ENODEV;
}

/*
 * Without hvcarve a deposited page came from the page allocator and was
 * counted by the kexec gate, unless an earlier kernel without the gate
 * deposited it: it is freed all the same, as mainline does.
 */
static inline void hv_carve_withdrawn(const u64 *pfns, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		__free_page(pfn_to_page(pfns[i]));
	hv_deposit_gate_put(nr);
}

static inline void hv_carve_withdraw_begin(void)
{
}

static inline void hv_carve_withdraw_end(void)
{
}

#endif /* CONFIG_HVCARVE */

#endif /* _LINUX_HVCARVE_H */
