/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * hvcarve: a fixed memory carveout that is the only memory ever deposited
 * into the Microsoft Hypervisor, and that every kernel in a kexec chain --
 * old or new -- keeps its hands off, because the e820 map and memmap=
 * say it is reserved.
 *
 * See Documentation/hvcarve.rst.
 */
#ifndef _LINUX_HVCARVE_H
#define _LINUX_HVCARVE_H

#include <linux/types.h>
#include <linux/errno.h>

/* Regions one hvcarve= carveout may have, over all hvcarve= parameters. */
#define HVCARVE_MAX_REGIONS	8

struct kimage;

/**
 * struct hvcarve_range - one physical range named by hvcarve=
 * @base: physical start address, page aligned
 * @size: length in bytes, a multiple of the page size
 */
struct hvcarve_range {
	u64 base;
	u64 size;
};

#ifdef CONFIG_HVCARVE

void hvcarve_reserve(void);
void hvcarve_pool_setup(void);
int hvcarve_region_get(unsigned int i, struct hvcarve_range *range);
bool hvcarve_requested(void);
bool hvcarve_active(void);
bool hvcarve_pfn_in_carveout(unsigned long pfn);
int hvcarve_kexec_check(struct kimage *image);
int hvcarve_parse(const char *str, struct hvcarve_range *ranges,
		  unsigned int *nr, const char **reason);

/* The page pool: carveout pages not known to be held by the hypervisor. */
unsigned long hvcarve_alloc_pages(int nid, u64 *pfns, unsigned long nr);
void hvcarve_release_pages(const u64 *pfns, unsigned long nr);
void hvcarve_deposit_done(const u64 *pfns, unsigned long nr);
void hvcarve_deposit_failed(int nid, const u64 *pfns, unsigned long nr);
void hvcarve_mark_inherited(u64 pfn);
bool hvcarve_withdrawn(u64 pfn);

/* Deposits of ordinary memory once the pool is exhausted (opt-in). */
bool hvcarve_overflow_allowed(void);
void hvcarve_overflow_add(long nr);
s64 hvcarve_overflow_pages(void);

#else /* !CONFIG_HVCARVE */

static inline void hvcarve_reserve(void)
{
}

static inline void hvcarve_pool_setup(void)
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

static inline int hvcarve_kexec_check(struct kimage *image)
{
	return 0;
}

#endif /* CONFIG_HVCARVE */

#endif /* _LINUX_HVCARVE_H */
