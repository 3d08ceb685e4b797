/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * hvcarve internals shared by mm/hvcarve.c (regions, pool, kexec checks),
 * mm/hvcarve_sysfs.c and the KUnit tests.
 */
#ifndef __MM_HVCARVE_H__
#define __MM_HVCARVE_H__

#include <linux/hvcarve.h>
#include <linux/ioport.h>
#include <linux/spinlock.h>

enum hvcarve_state {
	HVCARVE_DISABLED,	/* no hvcarve= on the command line */
	HVCARVE_INVALID,	/* hvcarve= given, but nothing usable came of it */
	HVCARVE_RESERVED,	/* regions reserved, pool not set up yet */
	HVCARVE_ACTIVE,		/* regions reserved, pool ready */
};

/**
 * struct hvcarve_region - one carveout region and its share of the pool
 * @base: physical start address
 * @size: length in bytes
 * @base_pfn: first page frame
 * @npages: number of pages
 * @nid: NUMA node of the whole region; set before any deposit
 * @inherited: the boot memory map had (part of) the region reserved as an
 *	earlier kernel's carveout
 * @res: the busy, exclusive "hvcarve" resource in /proc/iomem
 * @lock: protects @taken, @held, @next, @next_aligned and @stats
 * @taken: one bit per page, set when the page is out of the pool for this
 *	kernel: deposited, in a deposit call, or proven held
 * @held: one bit per page, set when the hypervisor held the page before
 *	this kernel tried it: proven (with @taken) or likely (without)
 * @next: where the next search starts (next fit)
 * @next_aligned: where the next search for an aligned block starts (next
 *	fit, so that a search does not rescan the blocks taken before)
 * @stats: counters
 *
 * The page states are (@taken, @held): (0, 0) free, (1, 0) deposited,
 * (1, 1) inherited, (0, 1) skipped.
 */
struct hvcarve_region {
	u64 base;
	u64 size;
	unsigned long base_pfn;
	unsigned long npages;
	int nid;
	bool inherited;
	struct resource res;
	spinlock_t lock;	/* see above */
	unsigned long *taken;
	unsigned long *held;
	unsigned long next;
	unsigned long next_aligned;
	struct hvcarve_stats stats;
};

/* Room for the text of why the carveout is invalid or distrusted. */
#define HVCARVE_REASON_LEN		384
/* The bit of hvcarve_pool.distrusted. */
#define HVCARVE_POOL_DISTRUSTED		0

/**
 * struct hvcarve_pool - a set of regions that deposits take pages from
 * @nr_regions: regions in use
 * @regions: the regions, in hvcarve= order
 * @distrusted: set, once and for good, when the hypervisor contradicted
 *	what hvcarve assumes about it (hvcarve_pool_distrust()); no page is
 *	handed out after that
 * @contradiction: what it did; valid once @contradiction_set is
 * @contradiction_set: @contradiction is written (release/acquire)
 */
struct hvcarve_pool {
	unsigned int nr_regions;
	struct hvcarve_region regions[HVCARVE_MAX_REGIONS];
	unsigned long distrusted;
	char contradiction[HVCARVE_REASON_LEN];
	bool contradiction_set;
};

enum hvcarve_state hvcarve_get_state(void);
const char *hvcarve_state_name(enum hvcarve_state state);
const char *hvcarve_pool_contradiction(struct hvcarve_pool *pool);
const char *hvcarve_invalid_reason(void);
int hvcarve_range_node(u64 base, u64 size, int (*node_of)(u64 addr),
		       int only, u64 *at, int *other);

#ifdef CONFIG_SYSFS
int hvcarve_sysfs_init(struct hvcarve_pool *pool);
#else
static inline int hvcarve_sysfs_init(struct hvcarve_pool *pool)
{
	return 0;
}
#endif

#endif /* __MM_HVCARVE_H__ */
