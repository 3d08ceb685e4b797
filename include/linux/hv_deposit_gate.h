/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kexec gate for pages deposited into the Microsoft Hypervisor: while
 * the hypervisor holds pages of the kernel's own memory, or a child
 * partition exists, kexec is refused, since the next kernel would take
 * those pages for free RAM. See
 * drivers/hv/hv_deposit_gate.c.
 */
#ifndef _LINUX_HV_DEPOSIT_GATE_H
#define _LINUX_HV_DEPOSIT_GATE_H

#include <linux/types.h>

#ifdef CONFIG_HYPERV_DEPOSIT_GATE

int hv_deposit_gate_get(unsigned long nr);
void hv_deposit_gate_put(unsigned long nr);
void hv_deposit_gate_accepted(unsigned long nr);
u64 hv_deposit_gate_pages(void);
u64 hv_deposit_gate_pages_since_boot(void);
int hv_deposit_gate_partition_get(void);
void hv_deposit_gate_partition_put(void);
u64 hv_deposit_gate_partitions(void);

#else /* !CONFIG_HYPERV_DEPOSIT_GATE: no kexec, or no deposits */

static inline int hv_deposit_gate_get(unsigned long nr)
{
	return 0;
}

static inline void hv_deposit_gate_put(unsigned long nr)
{
}

static inline void hv_deposit_gate_accepted(unsigned long nr)
{
}

static inline u64 hv_deposit_gate_pages(void)
{
	return 0;
}

static inline u64 hv_deposit_gate_pages_since_boot(void)
{
	return 0;
}

static inline int hv_deposit_gate_partition_get(void)
{
	return 0;
}

static inline void hv_deposit_gate_partition_put(void)
{
}

static inline u64 hv_deposit_gate_partitions(void)
{
	return 0;
}

#endif /* CONFIG_HYPERV_DEPOSIT_GATE */

#endif /* _LINUX_HV_DEPOSIT_GATE_H */
