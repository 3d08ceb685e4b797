/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Internals of the hvcarve deposit glue shared with its KUnit test
 * (drivers/hv/hv_carve_deposit_test.c), its benchmark
 * (drivers/hv/hv_carve_bench.c) and the simulator
 * (drivers/hv/hv_carve_sim.c).
 */
#ifndef _HV_CARVE_DEPOSIT_H
#define _HV_CARVE_DEPOSIT_H

#include <linux/hvcarve.h>

/**
 * struct hv_carve_op_stats - what one deposit cost
 * @calls: backend deposit calls
 * @refusals: pages the backend refused (-EEXIST or -EBUSY)
 * @learnt: refusals taken as pages the hypervisor holds
 * @unlearnt: refusals undone because nothing was accepted after them
 */
struct hv_carve_op_stats {
	u64 calls;
	u64 refusals;
	u64 learnt;
	u64 unlearnt;
};

/*
 * What only the KUnit test and the benchmark call is built only for them:
 * both are built in (bool options).
 */
#define HV_CARVE_TESTED	(IS_ENABLED(CONFIG_HVCARVE_KUNIT_TEST) || \
			 IS_ENABLED(CONFIG_HVCARVE_BENCH))

#if IS_ENABLED(CONFIG_MSHV_ROOT)
/*
 * The Hyper-V backend. The simulator's host mode registers it where no
 * Hyper-V is detected, with hypercalls answered by a model on the host.
 */
extern const struct hv_carve_backend hv_carve_hyperv;
#endif

#if HV_CARVE_TESTED
int hv_carve_pool_deposit(const struct hv_carve_backend *be,
			  struct hvcarve_pool *pool, int node,
			  u64 partition_id, u32 num_pages, u64 probe_seed,
			  struct hv_carve_op_stats *stats);
#endif

#endif /* _HV_CARVE_DEPOSIT_H */
