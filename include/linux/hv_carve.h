/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * hv_carve: deposit hvcarve carveout pages into a hypervisor, and take
 * them back, through a hypervisor backend: the Microsoft Hypervisor's
 * HvCallDepositMemory/HvCallWithdrawMemory when Linux is its root
 * partition, or a simulator for tests.
 *
 * The glue (drivers/hv/hv_carve_deposit.c) takes pages from the carveout
 * pool of <linux/hvcarve.h> and never hands the hypervisor anything else,
 * unless the administrator allowed overflow deposits of ordinary memory
 * (hvcarve.overflow=allow). See Documentation/hvcarve.rst.
 */
#ifndef _LINUX_HV_CARVE_H
#define _LINUX_HV_CARVE_H

#include <linux/errno.h>
#include <linux/sizes.h>
#include <linux/types.h>

/* Deposits and withdrawals are made of 4 KiB hypervisor pages. */
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
 *	elements accepted before that. Returns 0 when all @nr were accepted
 *	(*@done == @nr); -EEXIST when element *@done was refused because the
 *	hypervisor already holds that page; another negative errno for any
 *	other failure at element *@done. Elements after *@done were not
 *	looked at. Called in process context, with interrupts enabled and
 *	no lock of the glue held; it may sleep.
 * @withdraw: take back up to @max (at most %HV_CARVE_WITHDRAW_MAX) pages
 *	that partition @partition_id holds, storing their page frame numbers
 *	in @pfns and their number in *@done. Returns 0 on success; *@done less
 *	than @max then means the partition holds no more pages. On failure it
 *	returns a negative errno, and the *@done pages already stored were
 *	still withdrawn and must be taken back by the caller. Called like
 *	@deposit.
 * @balance: optional; the number of pages partition @partition_id holds,
 *	or a negative errno (-EOPNOTSUPP if the hypervisor cannot tell).
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

#ifdef CONFIG_HVCARVE

int hv_carve_register_backend(const struct hv_carve_backend *backend);
const char *hv_carve_backend_name(void);
int hv_carve_deposit_pages(int node, u64 partition_id, u32 num_pages);
int hv_carve_withdraw_pages(u64 partition_id, u64 count, u64 *withdrawn);
void hv_carve_withdrawn_pfn(u64 pfn);
long hv_carve_balance(u64 partition_id);

#else /* !CONFIG_HVCARVE */

#include <linux/mm.h>

static inline int hv_carve_register_backend(const struct hv_carve_backend *backend)
{
	return -ENODEV;
}

static inline const char *hv_carve_backend_name(void)
{
	return NULL;
}

static inline int hv_carve_deposit_pages(int node, u64 partition_id,
					 u32 num_pages)
{
	return -ENODEV;
}

static inline int hv_carve_withdraw_pages(u64 partition_id, u64 count,
					  u64 *withdrawn)
{
	if (withdrawn)
		*withdrawn = 0;
	return -ENODEV;
}

/* Without hvcarve every deposited page came from the page allocator. */
static inline void hv_carve_withdrawn_pfn(u64 pfn)
{
	__free_page(pfn_to_page(pfn));
}

static inline long hv_carve_balance(u64 partition_id)
{
	return -ENODEV;
}

#endif /* CONFIG_HVCARVE */

#endif /* _LINUX_HV_CARVE_H */
