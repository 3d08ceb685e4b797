// SPDX-License-Identifier: GPL-2.0-only
/*
 * hvcarve: a fixed carveout for Microsoft Hypervisor deposits that survives
 * kexec into any kernel, old or new.
 *
 * "hvcarve=size@addr[,size@addr...]" names up to HVCARVE_MAX_REGIONS
 * physical ranges. This file holds only the page pool that deposits take
 * pages from, in the manner of mm/cma.c: the region table, the pages'
 * state, and the carveout's state for sysfs. The architecture parses
 * hvcarve=, checks the regions against its memory map and reserves them
 * there, in the map this kernel uses and in the one kexec hands to the
 * next kernel (x86: arch/x86/kernel/hvcarve.c); then it calls
 * hvcarve_region_add() for each, or hvcarve_refuse() once, and
 * hvcarve_pool_init() once NUMA is known. What is deposited, when, and
 * what is learnt from the hypervisor's answers is drivers/hv's
 * (drivers/hv/hv_carve_deposit.c).
 *
 * The kernel never reads or writes carveout memory. The pool is two
 * bitmaps per region in ordinary kernel memory; after a kexec every page
 * starts free ("not known to be held"), and the deposit glue learns which
 * pages the hypervisor still holds from its refusals. See
 * Documentation/virt/hyperv/hvcarve.rst.
 *
 * Locking:
 * - The region table (base, size, node of each region, their number) and
 *   hvcarve_state are written during setup_arch(), single-threaded, before
 *   any other CPU runs; afterwards only the state changes, once, from
 *   RESERVED to ACTIVE or INVALID, also in setup_arch(). Readers take no
 *   lock.
 * - Each region's bitmaps, search hint and counters are protected by the
 *   region's spinlock. Pool operations are made in process context and
 *   take one region lock at a time, once per run of consecutive pages.
 *   sysfs takes the same lock to read the counters.
 */

#define pr_fmt(fmt) "hvcarve: " fmt

#include <linux/bitmap.h>
#include <linux/hvcarve.h>
#include <linux/init.h>
#include <linux/ioport.h>
#include <linux/kernel.h>
#include <linux/memblock.h>
#include <linux/mm.h>
#include <linux/numa.h>
#include <linux/overflow.h>
#include <linux/pfn.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/timex.h>
#include <kunit/visibility.h>

#include "hvcarve.h"

/*
 * Granularity of the check that a region lies on one NUMA node: the node
 * of every 2 MiB boundary inside it, and of its last page, must be the
 * node of its first page.
 */
#define HVCARVE_NODE_PROBE	SZ_2M

static const char * const hvcarve_state_names[] = {
	[HVCARVE_DISABLED] = "disabled",
	[HVCARVE_INVALID] = "invalid",
	[HVCARVE_RESERVED] = "reserved",
	[HVCARVE_ACTIVE] = "active",
};

static struct hvcarve_pool hvcarve_live;
static enum hvcarve_state hvcarve_state = HVCARVE_DISABLED;

/* Why the carveout is invalid: the first reason, for sysfs. */
static char hvcarve_why[HVCARVE_REASON_LEN];

/* Say why the carveout is invalid: in the log, and the first in sysfs. */
static __printf(1, 0) void __init hvcarve_invalid_verr(const char *fmt,
						      va_list args)
{
	struct va_format vaf;
	va_list log_args;

	va_copy(log_args, args);
	vaf.fmt = fmt;
	vaf.va = &log_args;
	pr_err("%pV\n", &vaf);
	va_end(log_args);
	if (!hvcarve_why[0])
		vscnprintf(hvcarve_why, sizeof(hvcarve_why), fmt, args);
}

static __printf(1, 2) void __init hvcarve_invalid_err(const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	hvcarve_invalid_verr(fmt, args);
	va_end(args);
}

/**
 * hvcarve_invalid_reason() - why the carveout is invalid
 *
 * Context: any, after boot.
 * Return: the first reason the log gave, or NULL if none was given.
 */
const char *hvcarve_invalid_reason(void)
{
	return hvcarve_why[0] ? hvcarve_why : NULL;
}

/*
 * No carveout page will be deposited. Deposits then use ordinary memory
 * (drivers/hv/hv_carve_deposit.c), and kexec is refused while any of it
 * is deposited.
 */
static void __init hvcarve_disable(bool reserved)
{
	hvcarve_state = HVCARVE_INVALID;
	pr_err("carveout disabled: %s; deposits will use ordinary memory, and kexec is refused while any of it is deposited\n",
	       reserved ? "its regions stay reserved, but none of their pages will be deposited" :
	       "no memory reserved");
}

/**
 * hvcarve_refuse() - disable the carveout before any region is reserved
 * @fmt: why, as a printf format: which parameter or region, and what is
 *	wrong with it
 *
 * For the architecture, which parses hvcarve= and checks its regions
 * against its memory map (x86: arch/x86/kernel/hvcarve.c). Logs why,
 * keeps the first reason for sysfs, and disables the carveout. The
 * architecture must not have reserved any region, and must not add one
 * afterwards.
 *
 * Context: early boot, single-threaded.
 */
void __init hvcarve_refuse(const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	hvcarve_invalid_verr(fmt, args);
	va_end(args);
	if (hvcarve_state != HVCARVE_INVALID)
		hvcarve_disable(false);
}

/**
 * hvcarve_region_add() - record a region the architecture has reserved
 * @range: the region, as the architecture checked and reserved it
 * @inherited: the boot memory map had (part of) it reserved as the
 *	carveout of a kernel before a kexec
 *
 * Context: early boot, single-threaded; all regions are added in order,
 * before hvcarve_pool_init().
 */
void __init hvcarve_region_add(const struct hvcarve_range *range,
			       bool inherited)
{
	struct hvcarve_region *reg;

	/* hvcarve_refuse() was called: no region may be added after it. */
	if (WARN_ON_ONCE(hvcarve_state == HVCARVE_INVALID))
		return;
	if (WARN_ON(hvcarve_live.nr_regions >= HVCARVE_MAX_REGIONS))
		return;
	reg = &hvcarve_live.regions[hvcarve_live.nr_regions++];
	reg->base = range->base;
	reg->size = range->size;
	reg->base_pfn = PHYS_PFN(range->base);
	reg->npages = PHYS_PFN(range->size);
	reg->nid = NUMA_NO_NODE;
	reg->inherited = inherited;
	spin_lock_init(&reg->lock);
	hvcarve_state = HVCARVE_RESERVED;
	pr_info("region %u: [mem %#018llx-%#018llx] %llu MiB reserved%s\n",
		hvcarve_live.nr_regions - 1, range->base,
		range->base + range->size - 1, range->size >> 20,
		inherited ? " (inherited from the kernel before kexec)" : "");
}

/**
 * hvcarve_range_node() - the NUMA node of a physical range
 * @base: start of the range
 * @size: its length, a non-zero multiple of PAGE_SIZE
 * @node_of: the node of an address, or NUMA_NO_NODE if none is known (at
 *	boot, phys_to_target_node())
 * @only: the node of an address that has none: the machine's only node,
 *	or NUMA_NO_NODE on a machine with several
 * @at: set to where the range leaves its first node
 * @other: set to the node there (NUMA_NO_NODE: none is known)
 *
 * Probes the first page, every HVCARVE_NODE_PROBE boundary and the last
 * page. On a machine with several nodes, an address no node is known for
 * (the firmware's memory affinity does not cover it) is on no node: it is
 * not taken to be on the first memory block's node, which is what
 * memory_add_physaddr_to_nid() answers for it.
 *
 * Context: any.
 * Return: the node all of the range is on, or NUMA_NO_NODE (then *@at and
 * *@other say where and why).
 */
int hvcarve_range_node(u64 base, u64 size, int (*node_of)(u64 addr),
		       int only, u64 *at, int *other)
{
	u64 last = base + size - PAGE_SIZE, addr = base;
	int nid = NUMA_NO_NODE, n;

	for (;;) {
		n = node_of(addr);
		if (n == NUMA_NO_NODE)
			n = only;
		if (addr == base)
			nid = n;
		if (n != nid || n == NUMA_NO_NODE) {
			*at = addr;
			*other = n;
			return NUMA_NO_NODE;
		}
		if (addr == last)
			return nid;
		addr = min(ALIGN(addr + 1, HVCARVE_NODE_PROBE), last);
	}
}
EXPORT_SYMBOL_IF_KUNIT(hvcarve_range_node);

static unsigned long hvcarve_bitmap_bytes(const struct hvcarve_region *reg)
{
	return BITS_TO_LONGS(reg->npages) * sizeof(long);
}

/**
 * hvcarve_pool_init() - set up the page pool of the reserved regions
 *
 * Called by setup_arch() once NUMA is initialised (each region's node must
 * be known before smp_prepare_cpus(), where a root partition deposits pages
 * for its logical processors). A region that spans NUMA nodes, or on a
 * machine with several nodes has a part no node is known for, is refused.
 * Allocates each region's two bitmaps from memblock on the region's node;
 * all or none. On failure the regions stay reserved (and are handed on by
 * kexec as before) but no page of them is deposited.
 *
 * Context: early boot, single-threaded, memblock available.
 */
void __init hvcarve_pool_init(void)
{
	unsigned long pages = 0;
	cycles_t start, elapsed;
	u64 at;
	unsigned int i;
	int other, only;

	if (hvcarve_state != HVCARVE_RESERVED)
		return;

	/* An address no node is known for is on the only node, if one. */
	only = num_online_nodes() == 1 ? first_online_node : NUMA_NO_NODE;

	for (i = 0; i < hvcarve_live.nr_regions; i++) {
		struct hvcarve_region *reg = &hvcarve_live.regions[i];

		reg->nid = hvcarve_range_node(reg->base, reg->size,
					      phys_to_target_node, only, &at,
					      &other);
		if (reg->nid != NUMA_NO_NODE)
			continue;
		if (other == NUMA_NO_NODE)
			hvcarve_invalid_err("region %u [mem %#018llx-%#018llx]: no NUMA node is known for %#llx (the firmware's memory affinity does not cover it), on a machine with %u nodes",
					    i, reg->base, reg->base + reg->size - 1,
					    at, num_online_nodes());
		else
			hvcarve_invalid_err("region %u [mem %#018llx-%#018llx] spans NUMA nodes %d and %d (at %#llx): use one region per node",
					    i, reg->base, reg->base + reg->size - 1,
					    phys_to_target_node(reg->base), other,
					    at);
		goto fail;
	}

	/*
	 * Timed in cycles: sched_clock() may not run yet (it does not before
	 * the TSC is calibrated, which fails early under QEMU's TCG).
	 */
	start = get_cycles();
	for (i = 0; i < hvcarve_live.nr_regions; i++) {
		struct hvcarve_region *reg = &hvcarve_live.regions[i];

		reg->taken = memblock_alloc_node(hvcarve_bitmap_bytes(reg),
						 SMP_CACHE_BYTES, reg->nid);
		reg->held = memblock_alloc_node(hvcarve_bitmap_bytes(reg),
						SMP_CACHE_BYTES, reg->nid);
		if (!reg->taken || !reg->held) {
			hvcarve_invalid_err("no memory for the page bitmaps of region %u",
					    i);
			goto fail;
		}
		reg->stats.free = reg->npages;
		pages += reg->npages;
	}
	elapsed = get_cycles() - start;
	for (i = 0; i < hvcarve_live.nr_regions; i++)
		pr_info("region %u: node %d, %lu bytes of page state\n", i,
			hvcarve_live.regions[i].nid,
			2 * hvcarve_bitmap_bytes(&hvcarve_live.regions[i]));
	pr_info("page state of %lu pages set up in %llu cycles\n", pages,
		(u64)elapsed);
	hvcarve_state = HVCARVE_ACTIVE;
	return;

fail:
	for (i = 0; i < hvcarve_live.nr_regions; i++) {
		struct hvcarve_region *reg = &hvcarve_live.regions[i];

		if (reg->taken)
			memblock_free(reg->taken, hvcarve_bitmap_bytes(reg));
		if (reg->held)
			memblock_free(reg->held, hvcarve_bitmap_bytes(reg));
		reg->taken = NULL;
		reg->held = NULL;
		reg->stats.free = 0;
	}
	hvcarve_disable(true);
}

/**
 * hvcarve_requested() - was a carveout asked for on the command line?
 *
 * Return: true if any hvcarve= parameter was given, valid or not.
 */
bool hvcarve_requested(void)
{
	return hvcarve_state != HVCARVE_DISABLED;
}

/**
 * hvcarve_active() - is a carveout reserved and its page pool usable?
 *
 * Return: true if hvcarve= was accepted, its regions are reserved and the
 * page pool is set up.
 */
bool hvcarve_active(void)
{
	return hvcarve_state == HVCARVE_ACTIVE;
}

/**
 * hvcarve_get_state() - the state of the carveout
 *
 * Context: any.
 * Return: the state; it changes only during setup_arch().
 */
enum hvcarve_state hvcarve_get_state(void)
{
	return hvcarve_state;
}

/**
 * hvcarve_state_name() - the name sysfs shows for a state
 * @state: the state
 *
 * Return: "disabled", "invalid", "reserved" or "active".
 */
const char *hvcarve_state_name(enum hvcarve_state state)
{
	return hvcarve_state_names[state];
}

/**
 * hvcarve_pfn_in_carveout() - does a page frame belong to the carveout?
 * @pfn: page frame number
 *
 * Decided by physical address alone, never by pfn_valid() or struct page:
 * carveout pages may have no struct page at all. The carveout is every
 * reserved region, whether or not its pool could be set up.
 *
 * Context: any.
 * Return: true if @pfn lies in one of the reserved regions.
 */
bool hvcarve_pfn_in_carveout(unsigned long pfn)
{
	unsigned int i;

	for (i = 0; i < hvcarve_live.nr_regions; i++) {
		const struct hvcarve_region *reg = &hvcarve_live.regions[i];

		if (pfn >= reg->base_pfn && pfn - reg->base_pfn < reg->npages)
			return true;
	}
	return false;
}

/**
 * hvcarve_region_get() - describe one carveout region
 * @i: region index, from 0
 * @range: filled with the region's base and size
 *
 * For the hypervisor backends (the simulator maps each region).
 *
 * Context: any.
 * Return: 0, or -ENOENT if there is no region @i.
 */
int hvcarve_region_get(unsigned int i, struct hvcarve_range *range)
{
	if (i >= hvcarve_live.nr_regions)
		return -ENOENT;
	range->base = hvcarve_live.regions[i].base;
	range->size = hvcarve_live.regions[i].size;
	return 0;
}

/* The page pool */

/**
 * hvcarve_pool() - the carveout's page pool
 *
 * Context: any.
 * Return: the pool, or NULL if the carveout is not active.
 */
struct hvcarve_pool *hvcarve_pool(void)
{
	return hvcarve_active() ? &hvcarve_live : NULL;
}

static struct hvcarve_region *hvcarve_pool_region(struct hvcarve_pool *pool,
						  u64 pfn)
{
	unsigned int i;

	for (i = 0; i < pool->nr_regions; i++) {
		struct hvcarve_region *reg = &pool->regions[i];

		if (pfn >= reg->base_pfn && pfn - reg->base_pfn < reg->npages)
			return reg;
	}
	return NULL;
}

/* Caller holds reg->lock. */
static void hvcarve_update_peak(struct hvcarve_region *reg)
{
	reg->stats.peak = max(reg->stats.peak,
			      reg->stats.deposited + reg->stats.inherited);
}

/* Are bits [@idx, @idx + @n) of @map all @set? */
static bool hvcarve_all(const unsigned long *map, unsigned long idx,
			unsigned long n, bool set)
{
	unsigned long end = idx + n;

	if (set)
		return find_next_zero_bit(map, end, idx) >= end;
	return find_next_bit(map, end, idx) >= end;
}

/*
 * Apply @fn to each run of consecutive pages of @pfns that lie in one
 * region, with that region's lock held: one lookup and one lock round trip
 * per run. Pages outside @pool are skipped and counted. Returns the pages
 * outside @pool plus what @fn returns (pages in an unexpected state).
 */
typedef unsigned long (*hvcarve_run_fn)(struct hvcarve_region *reg,
					unsigned long idx, unsigned long n);

static unsigned long hvcarve_pool_runs(struct hvcarve_pool *pool,
				       const u64 *pfns, unsigned long nr,
				       hvcarve_run_fn fn)
{
	unsigned long i = 0, bad = 0, idx, n, max;
	struct hvcarve_region *reg;

	while (i < nr) {
		reg = hvcarve_pool_region(pool, pfns[i]);
		if (!reg) {
			bad++;
			i++;
			continue;
		}
		idx = pfns[i] - reg->base_pfn;
		max = min(nr - i, reg->npages - idx);
		for (n = 1; n < max && pfns[i + n] == pfns[i] + n; n++)
			;
		spin_lock(&reg->lock);
		bad += fn(reg, idx, n);
		spin_unlock(&reg->lock);
		i += n;
	}
	return bad;
}

/*
 * Take up to @nr pages from @reg, longest runs first from the search hint
 * (next fit), so that consecutive deposits get consecutive pages and a
 * search costs O(@nr) while the region is not fragmented. Free pages only,
 * or with HVCARVE_ALLOC_SKIPPED skipped pages too. Takes reg->lock once per
 * run and drops it between runs: pages freed behind the search meanwhile
 * are not seen, as if they were freed after the call.
 */
static unsigned long hvcarve_region_alloc(struct hvcarve_region *reg,
					  u64 *pfns, unsigned long nr,
					  unsigned int flags)
{
	const bool any = flags & HVCARVE_ALLOC_SKIPPED;
	unsigned long npages = reg->npages, got = 0, start, end, limit, pos, i;
	unsigned long skipped;
	bool wrapped = false, stop;

	spin_lock(&reg->lock);
	pos = reg->next;
	while (got < nr && (reg->stats.free || (any && reg->stats.skipped))) {
		start = find_next_zero_bit(reg->taken, npages, pos);
		/* Without HVCARVE_ALLOC_SKIPPED, @held must be clear too. */
		while (!any && start < npages && test_bit(start, reg->held)) {
			start = find_next_zero_bit(reg->held, npages, start);
			if (start < npages)
				start = find_next_zero_bit(reg->taken, npages, start);
		}
		if (start >= npages) {
			if (wrapped)
				break;
			wrapped = true;
			pos = 0;
			continue;
		}
		/* Look no further than the pages still wanted. */
		limit = min(npages, start + (nr - got));
		end = find_next_bit(reg->taken, limit, start);
		if (!any)
			end = find_next_bit(reg->held, end, start);
		skipped = any ? bitmap_weight_from(reg->held, start, end) : 0;
		bitmap_set(reg->taken, start, end - start);
		if (skipped)
			bitmap_clear(reg->held, start, end - start);
		reg->stats.free -= end - start - skipped;
		reg->stats.skipped -= skipped;
		reg->stats.deposited += end - start;
		pos = end;
		stop = false;
		if (pos >= npages) {
			stop = wrapped;
			wrapped = true;
			pos = 0;
		}
		reg->next = pos;
		/*
		 * The run is marked taken and counted: no other CPU hands it
		 * out, and a withdrawal meanwhile is handled as it is between
		 * this function and the deposit (hvcarve_in_deposit()). Its
		 * page numbers, in the caller's array, are written with the
		 * lock dropped, which is held per run rather than per call.
		 */
		spin_unlock(&reg->lock);
		for (i = start; i < end; i++)
			pfns[got++] = reg->base_pfn + i;
		if (stop || got == nr)
			return got;
		spin_lock(&reg->lock);
	}
	reg->next = pos;
	spin_unlock(&reg->lock);
	return got;
}

/**
 * hvcarve_pool_alloc() - take pages out of a pool for a deposit
 * @pool: the pool
 * @nid: preferred NUMA node, or NUMA_NO_NODE
 * @pfns: array of at least @nr entries that receives the page frame numbers
 * @nr: number of pages wanted
 * @flags: 0 for free pages only; HVCARVE_ALLOC_SKIPPED to take pages that
 *	learning skipped over too (when there are no free ones left)
 *
 * The pages need not be contiguous, but runs are preferred. Regions on @nid
 * are used first, then the others. The pages are counted as deposited
 * from now on; the caller reports what became of each with
 * hvcarve_pool_deposited(), hvcarve_pool_held() or hvcarve_pool_release().
 * Never returns pages outside the pool.
 *
 * Context: process context; takes region spinlocks.
 * Return: the number of pages stored in @pfns; less than @nr when the pool
 * has no more (none once the pool is distrusted).
 */
unsigned long hvcarve_pool_alloc(struct hvcarve_pool *pool, int nid,
				 u64 *pfns, unsigned long nr,
				 unsigned int flags)
{
	unsigned long got = 0;
	unsigned int pass, i;

	if (hvcarve_pool_distrusted(pool))
		return 0;
	/* Pass 0: regions on @nid. Pass 1: every other region. */
	for (pass = 0; pass < 2 && got < nr; pass++) {
		for (i = 0; i < pool->nr_regions && got < nr; i++) {
			struct hvcarve_region *reg = &pool->regions[i];
			bool local = nid == NUMA_NO_NODE || reg->nid == nid;

			if (local != !pass)
				continue;
			got += hvcarve_region_alloc(reg, pfns + got, nr - got,
						    flags);
		}
	}
	return got;
}
EXPORT_SYMBOL_GPL(hvcarve_pool_alloc);

/*
 * The first naturally aligned block of @count pages of @reg that lies in
 * [@from, @limit) and is wholly free (no page taken or held), or
 * reg->npages if there is none. Caller holds reg->lock.
 */
static unsigned long hvcarve_find_aligned(struct hvcarve_region *reg,
					  unsigned long from,
					  unsigned long limit,
					  unsigned long count,
					  unsigned long mask)
{
	unsigned long idx = from, held;

	for (;;) {
		idx = bitmap_find_next_zero_area_off(reg->taken, limit, idx,
						     count, mask,
						     reg->base_pfn & mask);
		if (idx + count > limit)
			return reg->npages;
		/* Past the first held page of the block, not one page on. */
		held = find_next_bit(reg->held, idx + count, idx);
		if (held >= idx + count)
			return idx;
		idx = held + 1;
	}
}

/**
 * hvcarve_pool_alloc_aligned() - take a naturally aligned block of free pages
 * @pool: the pool
 * @nid: preferred NUMA node, or NUMA_NO_NODE
 * @order: the block is 2^@order pages, aligned to its size physically
 * @pfn: receives the first page frame of the block
 *
 * For hypervisor requests for contiguous memory. The block's pages are
 * then handled like those of hvcarve_pool_alloc().
 *
 * Context: process context; takes region spinlocks.
 * Return: 0, or -ENOMEM if no region on any node has such a block free (or
 * the pool is distrusted).
 */
int hvcarve_pool_alloc_aligned(struct hvcarve_pool *pool, int nid,
			       unsigned int order, u64 *pfn)
{
	const unsigned long count = 1UL << order, mask = count - 1;
	unsigned int pass, i;
	unsigned long idx;

	if (hvcarve_pool_distrusted(pool))
		return -ENOMEM;
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < pool->nr_regions; i++) {
			struct hvcarve_region *reg = &pool->regions[i];
			bool local = nid == NUMA_NO_NODE || reg->nid == nid;

			if (local != !pass)
				continue;
			spin_lock(&reg->lock);
			/* Next fit: from after the last block, then the rest. */
			idx = hvcarve_find_aligned(reg, reg->next_aligned,
						   reg->npages, count, mask);
			if (idx >= reg->npages && reg->next_aligned)
				idx = hvcarve_find_aligned(reg, 0,
							   min(reg->npages,
							       reg->next_aligned + count - 1),
							   count, mask);
			if (idx < reg->npages) {
				reg->next_aligned = idx + count;
				bitmap_set(reg->taken, idx, count);
				reg->stats.free -= count;
				reg->stats.deposited += count;
				spin_unlock(&reg->lock);
				*pfn = reg->base_pfn + idx;
				return 0;
			}
			spin_unlock(&reg->lock);
		}
	}
	return -ENOMEM;
}
EXPORT_SYMBOL_GPL(hvcarve_pool_alloc_aligned);

/* The state of page @idx of @reg; caller holds reg->lock. */
static enum hvcarve_page hvcarve_page_state(const struct hvcarve_region *reg,
					    unsigned long idx)
{
	bool held = test_bit(idx, reg->held);

	if (test_bit(idx, reg->taken))
		return held ? HVCARVE_PAGE_INHERITED : HVCARVE_PAGE_DEPOSITED;
	return held ? HVCARVE_PAGE_SKIPPED : HVCARVE_PAGE_FREE;
}

/**
 * hvcarve_pool_page() - what a page of a pool is now
 * @pool: the pool
 * @pfn: the page
 *
 * Context: process context; takes a region spinlock.
 * Return: its state, or %HVCARVE_PAGE_OUTSIDE.
 */
enum hvcarve_page hvcarve_pool_page(struct hvcarve_pool *pool, u64 pfn)
{
	struct hvcarve_region *reg = hvcarve_pool_region(pool, pfn);
	enum hvcarve_page state;

	if (!reg)
		return HVCARVE_PAGE_OUTSIDE;
	spin_lock(&reg->lock);
	state = hvcarve_page_state(reg, pfn - reg->base_pfn);
	spin_unlock(&reg->lock);
	return state;
}
EXPORT_SYMBOL_GPL(hvcarve_pool_page);

/**
 * hvcarve_pool_stats() - the counters of one region of a pool
 * @pool: the pool
 * @i: region index, from 0
 * @stats: receives a consistent copy of the counters
 *
 * Context: process context; takes a region spinlock.
 * Return: 0, or -ENOENT if there is no region @i.
 */
int hvcarve_pool_stats(struct hvcarve_pool *pool, unsigned int i,
		       struct hvcarve_stats *stats)
{
	struct hvcarve_region *reg;

	if (i >= pool->nr_regions)
		return -ENOENT;
	reg = &pool->regions[i];
	spin_lock(&reg->lock);
	*stats = reg->stats;
	spin_unlock(&reg->lock);
	return 0;
}
EXPORT_SYMBOL_GPL(hvcarve_pool_stats);

/**
 * hvcarve_pool_take() - take one given page out of a pool for a deposit
 * @pool: the pool
 * @pfn: the page
 *
 * For learning, which tries pages at chosen distances. A free or skipped
 * page is taken like hvcarve_pool_alloc() takes it; any other is left.
 *
 * Context: process context; takes a region spinlock.
 * Return: what the page was: %HVCARVE_PAGE_FREE or %HVCARVE_PAGE_SKIPPED
 * (it is taken now), %HVCARVE_PAGE_DEPOSITED, %HVCARVE_PAGE_INHERITED, or
 * %HVCARVE_PAGE_OUTSIDE (also when the pool is distrusted: nothing is taken).
 */
enum hvcarve_page hvcarve_pool_take(struct hvcarve_pool *pool, u64 pfn)
{
	struct hvcarve_region *reg = hvcarve_pool_region(pool, pfn);
	enum hvcarve_page state;
	unsigned long idx;

	if (!reg || hvcarve_pool_distrusted(pool))
		return HVCARVE_PAGE_OUTSIDE;
	idx = pfn - reg->base_pfn;
	spin_lock(&reg->lock);
	state = hvcarve_page_state(reg, idx);
	if (state == HVCARVE_PAGE_FREE || state == HVCARVE_PAGE_SKIPPED) {
		__set_bit(idx, reg->taken);
		__clear_bit(idx, reg->held);
		if (state == HVCARVE_PAGE_SKIPPED)
			reg->stats.skipped--;
		else
			reg->stats.free--;
		reg->stats.deposited++;
	}
	spin_unlock(&reg->lock);
	return state;
}
EXPORT_SYMBOL_GPL(hvcarve_pool_take);

/**
 * hvcarve_pool_extent() - where the region of a page ends
 * @pool: the pool
 * @pfn: a page
 * @end: receives the first page frame after @pfn's region
 *
 * Context: any.
 * Return: true if @pfn lies in @pool.
 */
bool hvcarve_pool_extent(struct hvcarve_pool *pool, u64 pfn, u64 *end)
{
	struct hvcarve_region *reg = hvcarve_pool_region(pool, pfn);

	if (!reg)
		return false;
	*end = reg->base_pfn + reg->npages;
	return true;
}
EXPORT_SYMBOL_GPL(hvcarve_pool_extent);

/*
 * A page taken for a deposit may be given back by a withdrawal before its
 * deposit is accounted: the hypervisor took it, and another CPU's
 * withdrawal returned it (or it held the page since before this kernel
 * and returned it). It is free then, and the accounting of the deposit
 * leaves it so: the page is not, or not known to be, in the hypervisor.
 * If it is after all, a later deposit of it is refused and learnt. Only a
 * page shown held (inherited) cannot be in a deposit: that is a bug.
 */
static bool hvcarve_in_deposit(struct hvcarve_region *reg, unsigned long i,
			       unsigned long *bad)
{
	if (!test_bit(i, reg->taken))
		return false;
	if (test_bit(i, reg->held)) {
		(*bad)++;
		return false;
	}
	return true;
}

static unsigned long hvcarve_run_release(struct hvcarve_region *reg,
					 unsigned long idx, unsigned long n,
					 bool skipped)
{
	unsigned long i, bad = 0;

	for (i = idx; i < idx + n; i++) {
		if (!hvcarve_in_deposit(reg, i, &bad))
			continue;
		__clear_bit(i, reg->taken);
		reg->stats.deposited--;
		if (skipped) {
			__set_bit(i, reg->held);
			reg->stats.skipped++;
		} else {
			reg->stats.free++;
		}
	}
	return bad;
}

static unsigned long hvcarve_run_release_free(struct hvcarve_region *reg,
					      unsigned long idx, unsigned long n)
{
	return hvcarve_run_release(reg, idx, n, false);
}

static unsigned long hvcarve_run_release_skipped(struct hvcarve_region *reg,
						 unsigned long idx,
						 unsigned long n)
{
	return hvcarve_run_release(reg, idx, n, true);
}

/**
 * hvcarve_pool_release() - give back pages that were not deposited
 * @pool: the pool
 * @pfns: pages from hvcarve_pool_alloc() or hvcarve_pool_take()
 * @nr: number of entries in @pfns
 * @skipped: put them back as skipped pages rather than free ones
 *
 * Pages a withdrawal returned meanwhile are left free.
 *
 * Context: process context; takes region spinlocks.
 * Return: the number of pages that were inherited (or lie outside @pool);
 * those are left as they were. A non-zero return is a bug in the caller.
 */
unsigned long hvcarve_pool_release(struct hvcarve_pool *pool, const u64 *pfns,
				   unsigned long nr, bool skipped)
{
	return hvcarve_pool_runs(pool, pfns, nr, skipped ?
				 hvcarve_run_release_skipped :
				 hvcarve_run_release_free);
}
EXPORT_SYMBOL_GPL(hvcarve_pool_release);

static unsigned long hvcarve_run_deposited(struct hvcarve_region *reg,
					   unsigned long idx, unsigned long n)
{
	unsigned long i, bad = 0;

	/*
	 * Free or skipped: withdrawn since it was accepted; left so. Only a
	 * page with its held bit set can be in the wrong state.
	 */
	if (!hvcarve_all(reg->held, idx, n, false))
		for (i = idx; i < idx + n; i++)
			hvcarve_in_deposit(reg, i, &bad);
	reg->stats.deposit_success += n - bad;
	hvcarve_update_peak(reg);
	return bad;
}

/**
 * hvcarve_pool_deposited() - account pages the hypervisor accepted
 * @pool: the pool
 * @pfns: pages from hvcarve_pool_alloc() or hvcarve_pool_take()
 * @nr: number of entries in @pfns
 *
 * Pages a withdrawal returned since they were accepted are left free.
 *
 * Context: process context; takes region spinlocks.
 * Return: the number of pages that were inherited (or lie outside @pool).
 * A non-zero return is a bug in the caller.
 */
unsigned long hvcarve_pool_deposited(struct hvcarve_pool *pool,
				     const u64 *pfns, unsigned long nr)
{
	return hvcarve_pool_runs(pool, pfns, nr, hvcarve_run_deposited);
}
EXPORT_SYMBOL_GPL(hvcarve_pool_deposited);

static unsigned long hvcarve_run_held(struct hvcarve_region *reg,
				      unsigned long idx, unsigned long n)
{
	unsigned long i, bad = 0;

	for (i = idx; i < idx + n; i++) {
		if (!hvcarve_in_deposit(reg, i, &bad))
			continue;
		__set_bit(i, reg->held);
		reg->stats.deposited--;
		reg->stats.inherited++;
	}
	hvcarve_update_peak(reg);
	return bad;
}

/**
 * hvcarve_pool_held() - record pages the hypervisor is shown to hold
 * @pool: the pool
 * @pfns: pages from hvcarve_pool_alloc() or hvcarve_pool_take() that a
 *	deposit was refused for, the refusal shown to be about each page
 * @nr: number of entries in @pfns
 *
 * After a kexec nothing tells the new kernel which carveout pages the
 * hypervisor holds. The pages stay out of the pool, counted as inherited,
 * until the hypervisor gives them back. Pages a withdrawal returned
 * meanwhile are left free.
 *
 * Context: process context; takes region spinlocks.
 * Return: the number of pages that were inherited already (or lie outside
 * @pool). A non-zero return is a bug in the caller.
 */
unsigned long hvcarve_pool_held(struct hvcarve_pool *pool, const u64 *pfns,
				unsigned long nr)
{
	return hvcarve_pool_runs(pool, pfns, nr, hvcarve_run_held);
}
EXPORT_SYMBOL_GPL(hvcarve_pool_held);

/*
 * Move the pages of [@pfn, @pfn + @nr) of one region from one state to the
 * other: free to skipped (@skip) or back. Pages in other states are left
 * alone. Returns the number moved.
 */
static unsigned long hvcarve_pool_move(struct hvcarve_pool *pool, u64 pfn,
				       unsigned long nr, bool skip)
{
	struct hvcarve_region *reg = hvcarve_pool_region(pool, pfn);
	unsigned long idx, i, w, end, mask, move, moved = 0;

	if (!reg)
		return 0;
	idx = pfn - reg->base_pfn;
	end = idx + min(nr, reg->npages - idx);
	spin_lock(&reg->lock);
	/*
	 * A word of each bitmap at a time: learning passes over runs of
	 * millions of pages, under the region lock.
	 */
	for (i = idx; i < end; i = (w + 1) * BITS_PER_LONG) {
		w = BIT_WORD(i);
		mask = BITMAP_FIRST_WORD_MASK(i);
		if (end < (w + 1) * BITS_PER_LONG)
			mask &= BITMAP_LAST_WORD_MASK(end);
		/* Not taken, and held (skipped) or not (free). */
		move = mask & ~reg->taken[w] &
		       (skip ? ~reg->held[w] : reg->held[w]);
		reg->held[w] ^= move;
		moved += hweight_long(move);
	}
	if (skip) {
		reg->stats.free -= moved;
		reg->stats.skipped += moved;
	} else {
		reg->stats.skipped -= moved;
		reg->stats.free += moved;
	}
	spin_unlock(&reg->lock);
	return moved;
}

/**
 * hvcarve_pool_skip() - take free pages out of the fast path of a pool
 * @pool: the pool
 * @pfn: first page
 * @nr: number of pages; the range is cut at the end of @pfn's region
 *
 * For learning: pages inside a run of pages the hypervisor holds, passed
 * over without trying each. They are used again only when the pool has no
 * free pages left (HVCARVE_ALLOC_SKIPPED).
 *
 * Context: process context; takes a region spinlock.
 * Return: the number of free pages that became skipped ones.
 */
unsigned long hvcarve_pool_skip(struct hvcarve_pool *pool, u64 pfn,
				unsigned long nr)
{
	return hvcarve_pool_move(pool, pfn, nr, true);
}
EXPORT_SYMBOL_GPL(hvcarve_pool_skip);

/**
 * hvcarve_pool_unskip() - return skipped pages to the fast path of a pool
 * @pool: the pool
 * @pfn: first page
 * @nr: number of pages; the range is cut at the end of @pfn's region
 *
 * Context: process context; takes a region spinlock.
 * Return: the number of skipped pages that became free ones.
 */
unsigned long hvcarve_pool_unskip(struct hvcarve_pool *pool, u64 pfn,
				  unsigned long nr)
{
	return hvcarve_pool_move(pool, pfn, nr, false);
}
EXPORT_SYMBOL_GPL(hvcarve_pool_unskip);

/*
 * Once every page of @reg is free again, next fit starts over at its
 * start, as in a new kernel. Caller holds reg->lock.
 */
static void hvcarve_region_emptied(struct hvcarve_region *reg)
{
	if (reg->stats.free == reg->npages) {
		reg->next = 0;
		reg->next_aligned = 0;
	}
}

static unsigned long hvcarve_run_withdrawn(struct hvcarve_region *reg,
					   unsigned long idx, unsigned long n)
{
	unsigned long i;

	reg->stats.withdrawn += n;
	/* The common case: every page was deposited by this kernel. */
	if (hvcarve_all(reg->taken, idx, n, true) &&
	    hvcarve_all(reg->held, idx, n, false)) {
		bitmap_clear(reg->taken, idx, n);
		reg->stats.deposited -= n;
		reg->stats.free += n;
		hvcarve_region_emptied(reg);
		return 0;
	}
	for (i = idx; i < idx + n; i++) {
		bool taken = test_bit(i, reg->taken), held = test_bit(i, reg->held);

		if (taken && held)
			reg->stats.inherited--;
		else if (taken)
			reg->stats.deposited--;
		else if (held)
			reg->stats.skipped--;
		else
			continue;	/* held since before this kernel, never tried */
		__clear_bit(i, reg->taken);
		__clear_bit(i, reg->held);
		reg->stats.free++;
	}
	hvcarve_region_emptied(reg);
	return 0;
}

/**
 * hvcarve_pool_withdrawn() - take back pages the hypervisor returned
 * @pool: the pool
 * @pfns: page frame numbers from a withdrawal, all in @pool
 * @nr: number of entries in @pfns
 *
 * Carveout pages go back to the pool, never to the page allocator: a
 * whole-section carveout has no struct page at all.
 *
 * Context: process context; takes region spinlocks.
 * Return: the number of pages outside @pool (the caller handles those).
 */
unsigned long hvcarve_pool_withdrawn(struct hvcarve_pool *pool,
				     const u64 *pfns, unsigned long nr)
{
	return hvcarve_pool_runs(pool, pfns, nr, hvcarve_run_withdrawn);
}
EXPORT_SYMBOL_GPL(hvcarve_pool_withdrawn);

/**
 * hvcarve_pool_inherited() - may a kernel before this one have deposited a page?
 * @pool: the pool
 * @pfn: a page of @pool
 *
 * True when the boot memory map had (part of) @pfn's region reserved as an
 * earlier kernel's carveout. A page of any other region was never out of
 * this kernel's hands: on a cold boot the hypervisor holds no page of the
 * carveout (assumed; see Documentation/virt/hyperv/hvcarve.rst), so it has
 * no page-specific reason to refuse one.
 *
 * Context: any.
 * Return: true if @pfn's region was inherited, false if not or if @pfn lies
 * outside @pool.
 */
bool hvcarve_pool_inherited(struct hvcarve_pool *pool, u64 pfn)
{
	struct hvcarve_region *reg = hvcarve_pool_region(pool, pfn);

	return reg && reg->inherited;
}
EXPORT_SYMBOL_GPL(hvcarve_pool_inherited);

/**
 * hvcarve_pool_distrust() - hand out no more pages: the hypervisor contradicted hvcarve
 * @pool: the pool
 * @fmt: what the hypervisor did, printf-style, without a newline
 *
 * The safety of the carveout after a kexec rests on what the hypervisor is
 * assumed to do (it refuses a page it holds, and its memory balance counts
 * what it accepted). When it does something those assumptions rule out, no
 * page of @pool is handed out again: hvcarve_pool_alloc() and
 * hvcarve_pool_alloc_aligned() find none, hvcarve_pool_take() takes none.
 * Pages out of the pool stay as they are and are withdrawn as usual. The
 * first contradiction is logged and kept for sysfs; later ones change
 * nothing.
 *
 * Context: process context.
 */
void hvcarve_pool_distrust(struct hvcarve_pool *pool, const char *fmt, ...)
{
	va_list args;

	if (test_and_set_bit(HVCARVE_POOL_DISTRUSTED, &pool->distrusted))
		return;
	va_start(args, fmt);
	vscnprintf(pool->contradiction, sizeof(pool->contradiction), fmt, args);
	va_end(args);
	/* Pairs with hvcarve_pool_contradiction(). */
	smp_store_release(&pool->contradiction_set, true);
	pr_err("the hypervisor contradicted what hvcarve assumes: %s. No more carveout pages will be deposited: deposits use ordinary memory if hvcarve.overflow=allow, and kexec is refused while any is deposited\n",
	       pool->contradiction);
}
EXPORT_SYMBOL_GPL(hvcarve_pool_distrust);

/**
 * hvcarve_pool_distrusted() - has the hypervisor contradicted hvcarve?
 * @pool: the pool
 *
 * Context: any.
 * Return: true once hvcarve_pool_distrust() was called for @pool.
 */
bool hvcarve_pool_distrusted(struct hvcarve_pool *pool)
{
	return test_bit(HVCARVE_POOL_DISTRUSTED, &pool->distrusted);
}
EXPORT_SYMBOL_GPL(hvcarve_pool_distrusted);

/**
 * hvcarve_pool_contradiction() - what made a pool distrusted
 * @pool: the pool
 *
 * Context: any.
 * Return: the text given to hvcarve_pool_distrust(), or NULL if the pool
 * is trusted (or the text is not written yet).
 */
const char *hvcarve_pool_contradiction(struct hvcarve_pool *pool)
{
	/* Pairs with hvcarve_pool_distrust(): the text, then the flag. */
	return smp_load_acquire(&pool->contradiction_set) ?
	       pool->contradiction : NULL;
}

/**
 * hvcarve_pool_failed() - count pages a deposit asked for and did not get
 * @pool: the pool
 * @nid: node the deposit asked for
 * @nr: number of pages
 *
 * Counted in the region of lowest base on @nid, or of lowest base of all:
 * the same region whatever order hvcarve= lists them in.
 *
 * Context: process context; takes a region spinlock.
 */
void hvcarve_pool_failed(struct hvcarve_pool *pool, int nid, unsigned long nr)
{
	struct hvcarve_region *reg = NULL, *low = NULL, *r;
	unsigned int i;

	if (!pool->nr_regions || !nr)
		return;
	for (i = 0; i < pool->nr_regions; i++) {
		r = &pool->regions[i];
		if (!low || r->base < low->base)
			low = r;
		if (r->nid == nid && (!reg || r->base < reg->base))
			reg = r;
	}
	if (!reg)
		reg = low;
	spin_lock(&reg->lock);
	reg->stats.deposit_fail += nr;
	spin_unlock(&reg->lock);
}
EXPORT_SYMBOL_GPL(hvcarve_pool_failed);

#if IS_ENABLED(CONFIG_KUNIT)
/**
 * hvcarve_pool_create() - make a private pool, for tests
 * @ranges: the regions; the pool never touches their memory
 * @nids: the node of each region
 * @nr: number of regions, at most HVCARVE_MAX_REGIONS
 * @inherited: the regions count as inherited (hvcarve_pool_inherited()):
 *	the pool stands for one after a kexec, where a refused page may be
 *	held; else for one after a cold boot
 *
 * Context: process context; allocates.
 * Return: the pool, or NULL.
 */
struct hvcarve_pool *hvcarve_pool_create(const struct hvcarve_range *ranges,
					 const int *nids, unsigned int nr,
					 bool inherited)
{
	struct hvcarve_pool *pool;
	unsigned int i;

	if (nr > HVCARVE_MAX_REGIONS)
		return NULL;
	pool = kzalloc_obj(*pool);
	if (!pool)
		return NULL;
	for (i = 0; i < nr; i++) {
		struct hvcarve_region *reg = &pool->regions[i];

		reg->base = ranges[i].base;
		reg->size = ranges[i].size;
		reg->base_pfn = PHYS_PFN(ranges[i].base);
		reg->npages = PHYS_PFN(ranges[i].size);
		reg->nid = nids[i];
		reg->inherited = inherited;
		spin_lock_init(&reg->lock);
		reg->taken = bitmap_zalloc(reg->npages, GFP_KERNEL);
		reg->held = bitmap_zalloc(reg->npages, GFP_KERNEL);
		reg->stats.free = reg->npages;
		pool->nr_regions++;
		if (!reg->taken || !reg->held) {
			hvcarve_pool_destroy(pool);
			return NULL;
		}
	}
	return pool;
}
EXPORT_SYMBOL_IF_KUNIT(hvcarve_pool_create);

/**
 * hvcarve_pool_destroy() - free a pool made by hvcarve_pool_create()
 * @pool: the pool, or NULL
 *
 * Context: process context.
 */
void hvcarve_pool_destroy(struct hvcarve_pool *pool)
{
	unsigned int i;

	if (!pool)
		return;
	for (i = 0; i < pool->nr_regions; i++) {
		bitmap_free(pool->regions[i].taken);
		bitmap_free(pool->regions[i].held);
	}
	kfree(pool);
}
EXPORT_SYMBOL_IF_KUNIT(hvcarve_pool_destroy);
#endif /* CONFIG_KUNIT */

static int __init hvcarve_late_init(void)
{
	unsigned int i;
	int ret;

	/*
	 * kexec_load() refuses segments in reserved memory
	 * (sanity_check_segment_list()): it finds the carveout through this
	 * resource, and through the e820 "Reserved" one it holds.
	 */
	for (i = 0; i < hvcarve_live.nr_regions; i++) {
		struct hvcarve_region *reg = &hvcarve_live.regions[i];

		reg->res.name = "hvcarve";
		reg->res.start = reg->base;
		reg->res.end = reg->base + reg->size - 1;
		reg->res.flags = IORESOURCE_MEM | IORESOURCE_BUSY |
				 IORESOURCE_EXCLUSIVE;
		reg->res.desc = IORES_DESC_RESERVED;
		ret = insert_resource(&iomem_resource, &reg->res);
		if (ret)
			pr_warn("region %u: cannot claim [mem %#018llx-%#018llx] in /proc/iomem: %d\n",
				i, reg->base, reg->base + reg->size - 1, ret);
	}
	return hvcarve_sysfs_init(&hvcarve_live);
}
subsys_initcall(hvcarve_late_init);
