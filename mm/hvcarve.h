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
 * @lock: protects @taken, @held, @next and @stats
 * @taken: one bit per page, set when the page is out of the pool for this
 *	kernel: deposited, in a deposit call, or proven held
 * @held: one bit per page, set when the hypervisor held the page before
 *	this kernel tried it: proven (with @taken) or likely (without)
 * @next: where the next search starts (next fit)
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
	struct hvcarve_stats stats;
};

/**
 * struct hvcarve_pool - a set of regions that deposits take pages from
 * @nr_regions: regions in use
 * @regions: the regions, in hvcarve= order
 */
struct hvcarve_pool {
	unsigned int nr_regions;
	struct hvcarve_region regions[HVCARVE_MAX_REGIONS];
};

enum hvcarve_state hvcarve_get_state(void);
const char *hvcarve_state_name(enum hvcarve_state state);

#ifdef CONFIG_SYSFS
int hvcarve_sysfs_init(struct hvcarve_pool *pool);
#else
static inline int hvcarve_sysfs_init(struct hvcarve_pool *pool)
{
	return 0;
}
#endif

#endif /* __MM_HVCARVE_H__ */
