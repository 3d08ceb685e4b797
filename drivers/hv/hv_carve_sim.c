// SPDX-License-Identifier: GPL-2.0-only
/*
 * hvcarve_sim: a simulated hypervisor behind the hvcarve deposit glue, for
 * testing hvcarve without the Microsoft Hypervisor.
 *
 * It plays the part of a hypervisor that survives kexec of the root
 * kernel. Its only state is what it writes into the pages it holds: a
 * header and a payload that can be checked. Everything else (which pages
 * are held, and how many per partition) is a cache rebuilt from the page
 * contents by a scan of every carveout page, at boot and on demand, the
 * way a hypervisor that outlived the previous kernel would know. The scan
 * also finds pages that someone other than the simulator wrote to.
 *
 * It never runs on the Microsoft Hypervisor (CPUID says so), where the
 * carveout pages are the real hypervisor's, whether or not a Hyper-V
 * backend was built (MSHV_ROOT) to win the registration.
 *
 * Without hvcarve= it still takes deposits: ordinary pages, as mainline
 * deposits them, so that the tests can show the kexec gate there too.
 *
 * In host mode (hvcarve_sim.host=PORT, see "Host mode" below) the
 * hypervisor is a process on the host instead, and the glue's Hyper-V
 * backend runs, from smp_prepare_cpus() on, where the boot deposits are
 * made as on a root partition: what follows about pages, the scan and the
 * ledger does not apply then.
 *
 * Page format. Every page the simulator holds starts with a 48-byte header;
 * all fields are 64-bit little-endian:
 *
 *   offset size field
 *        0    8 magic       "HVCSIM01", i.e. 0x31304d4953435648
 *        8    8 pfn         page frame number of the page itself
 *       16    8 partition   partition the page was deposited for
 *       24    8 serial      deposit serial number
 *       32    8 checksum    see below
 *       40    8 tail_magic  "HVCSIMTL", i.e. 0x4c544d4953435648
 *       48 4048 payload     506 64-bit words of xorshift64*
 *
 * Payload: seed = FNV-1a 64 of the 24 bytes at offsets 8-31 (pfn,
 * partition, serial); a seed of 0 is replaced by the FNV offset basis.
 * Then for each word, in order: x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
 * word = x * 0x2545f4914f6cdd1d (all mod 2^64; x is the state, the word
 * is stored little-endian).
 *
 * Checksum: FNV-1a 64 (offset basis 0xcbf29ce484222325, prime
 * 0x100000001b3, one byte at a time: h ^= byte; h *= prime) over bytes
 * 0-31 and then bytes 40-4095, i.e. the whole page but the checksum.
 *
 * A page is free when neither magic is valid: withdrawing a page zeroes its
 * 48 header bytes. The scan classifies every other carveout page, in this
 * order: torn (exactly one of the two magics valid), bad checksum, wrong
 * pfn (the header names another page), else held. A corrupted page is
 * counted, and then treated as free.
 *
 * Serial numbers come from one counter, which continues after the highest
 * serial found by the scan. With hvcarve_sim.lazy_scan=1 the boot scan
 * waits for the first backend call or debugfs command (so that a boot is
 * timed without it, as a real hypervisor has nothing to scan). The scan
 * prints
 *   hvcarve_sim: ledger: held N (partition P: n, ...) corrupted C
 *   (bad checksum B, wrong pfn W, torn T)
 * on one line ("(no partitions)" when nothing is held).
 *
 * The carveout is reserved in e820 and is not in the direct map: each
 * region is mapped once, at init, with memremap(MEMREMAP_WB). Ordinary
 * pages deposited as overflow are reached through the direct map and
 * listed in hvcsim_overflow (they cannot survive a kexec: hvcarve refuses
 * kexec while any is deposited).
 *
 * debugfs (hvcarve_sim/, mode 0600; writes also need CAP_SYS_ADMIN):
 *   deposit   write "N P [NODE]": hv_carve_deposit_pages(NODE, P, N); NODE
 *             defaults to NUMA_NO_NODE. The write fails with the glue's
 *             error.
 *   deposit_contig
 *             write "N P [NODE]": hv_carve_deposit_contiguous(NODE, P, N),
 *             as for HV_STATUS_INSUFFICIENT_CONTIGUOUS_MEMORY
 *   stress    write "SECONDS SEED PARTITIONS": one thread per online CPU
 *             deposits and withdraws random numbers of pages (1 to
 *             HVCSIM_STRESS_PAGES) for random partitions (1 to
 *             PARTITIONS) for SECONDS, each from a PRNG seeded with
 *             SEED + its CPU; the write returns when all are done. Half
 *             the operations are deposits, a quarter while ordinary pages
 *             are deposited, so that their number keeps coming back to 0
 *   withdraw  write "N P": hv_carve_withdraw_pages(P, N); in host mode
 *             hv_call_withdraw_memory(N, NUMA_NO_NODE, P), as mshv does
 *   hold      write "PFN COUNT P [RUN GAP]": take COUNT carveout pages
 *             for partition P from PFN on, in runs of RUN pages GAP pages
 *             apart (default: one run), without a deposit: the state a
 *             kernel before a kexec leaves, for the benchmark of learning.
 *             Every page must be free in the pool and not held; else
 *             the write fails with -EBUSY and nothing is taken.
 *   scan      write "1": rescan the carveout and rebuild the cache
 *   fail      write "K": the K-th page offered from now on is refused
 *             with -EIO, once (fault injection); "0" cancels
 *   partition write "create" or "delete": count one child partition in
 *             the kexec gate, or uncount one this file counted, as mshv
 *             does around HvCallCreatePartition and HvCallDeletePartition
 *             (no partition is created: no hypervisor here has one).
 *             "create" fails with the gate's -EBUSY while a kexec reboot
 *             image is loaded; "delete" with -ENOENT when none is counted
 *   forget    write "N": uncount N ordinary pages in the kexec gate
 *             (hv_deposit_gate_put()) while the simulator still holds
 *             them, so that a kexec goes ahead with them deposited: the
 *             gate turned off, for the negative control that shows the
 *             host finds such pages in the next kernel's RAM. Taints the
 *             kernel (U). -EINVAL if the gate counts fewer than N (checked
 *             before, not with, the uncounting: a test knob). A later
 *             withdrawal of those pages uncounts them again
 *   inject    write one of (fault injection, until "none"):
 *               "deny P"    refuse every deposit for partition P at its
 *                           first page with -EEXIST, as the Microsoft
 *                           Hypervisor's HV_STATUS_OPERATION_DENIED does
 *                           for reasons that are not about the page
 *               "access P"  refuse every deposit for partition P with
 *                           -EACCES (HV_STATUS_ACCESS_DENIED)
 *               "inuse PFN" refuse page PFN with -EBUSY
 *                           (HV_STATUS_OBJECT_IN_USE), for any partition
 *               "lie"       break the backend contract: report success
 *                           for a call of N pages after taking N - 1
 *               "blind"     accept a carveout page this hypervisor holds
 *                           already, without taking it again (its
 *                           memory balance does not grow): a hypervisor
 *                           that does not refuse a held page, which
 *                           hvcarve's balance check must catch
 *               "none"      stop injecting
 *   ledger    read, one "name value" per line:
 *               held N                 pages held (carveout and overflow)
 *               partition P N          one line per partition holding pages
 *               refusals R             pages refused as already held
 *               corrupted C            found by the last scan: the sum of
 *               bad_checksum B           these three
 *               wrong_pfn W
 *               torn T
 *               serial S               last serial number given
 *               deposit_calls D        backend calls since boot
 *               withdraw_calls W
 *               fail_in K              pages until the injected failure
 *               inject MODE [ARG]      the injected refusal, or "none"
 *               gate_partitions N      child partitions the kexec gate
 *                                      counts (hv_deposit_gate_partitions())
 *               last_deposit requested=N deposited=N overflow=N rc=E ns=T
 *                                      T: time in the glue (ktime_get_ns)
 *               last_withdraw requested=N withdrawn=N rc=E
 *               stress threads=T ops=N deposits=D withdrawals=W errors=E
 *                                      the last stress run; errors counts
 *                                      failed deposits (-ENOMEM when the
 *                                      carveout is full, and others)
 *   Numbers accept a 0x prefix; partitions are printed in decimal.
 *   "deposited" and "overflow" count the pages the simulator accepted
 *   during the command (overflow: ordinary pages).
 *   In host mode the ledger has only "host PORT", gate_partitions and
 *   stress: the rest is the host's to count.
 *
 * Locking: hvcsim_lock (a mutex) protects everything the simulator keeps
 * and the pages it writes; backend calls, scans and ledger reads take it.
 * hvcsim_ctl_lock serialises the debugfs deposit and withdraw commands so
 * that their "last_*" results are exact; it is held across the glue call
 * and always taken before hvcsim_lock, never inside it. Backend calls
 * come from the glue in process context. In host mode, hvcsim_host_lock
 * (a raw spinlock, taken with interrupts off inside the glue's hypercall
 * sections) keeps one call at a time on the UART; nothing is taken
 * inside it.
 */

#define pr_fmt(fmt) "hvcarve_sim: " fmt

#include <linux/bitmap.h>
#include <linux/capability.h>
#include <linux/completion.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/hv_deposit_gate.h>
#include <linux/hvcarve.h>
#include <linux/init.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/kthread.h>
#include <linux/math64.h>
#include <linux/moduleparam.h>
#include <linux/prandom.h>
#include <linux/mutex.h>
#include <linux/nodemask.h>
#include <linux/numa.h>
#include <linux/pfn.h>
#include <linux/seq_buf.h>
#include <linux/seq_file.h>
#include <linux/serial_reg.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/static_call.h>
#include <linux/string.h>
#include <linux/stringify.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>

#include "hv_carve_deposit.h"

#ifdef CONFIG_X86
#include <asm/cpufeature.h>
#include <asm/cpuid/api.h>
#include <asm/mshyperv.h>
#include <asm/numa.h>
#include <asm/smp.h>
#endif

#if IS_BUILTIN(CONFIG_MSHV_ROOT)
#include "mshv_root.h"		/* hv_call_withdraw_memory() */
#endif

/* Its parameters are hvcarve_sim.NAME, like its messages and debugfs. */
#undef MODULE_PARAM_PREFIX
#define MODULE_PARAM_PREFIX "hvcarve_sim."

#define HVCSIM_MAGIC		0x31304d4953435648ULL	/* "HVCSIM01" */
#define HVCSIM_TAIL_MAGIC	0x4c544d4953435648ULL	/* "HVCSIMTL" */

#define HVCSIM_FNV_OFFSET	0xcbf29ce484222325ULL
#define HVCSIM_FNV_PRIME	0x100000001b3ULL

/* xorshift64* (Vigna): shifts and multiplier */
#define HVCSIM_XS_A		12
#define HVCSIM_XS_B		25
#define HVCSIM_XS_C		27
#define HVCSIM_XS_MULT		0x2545f4914f6cdd1dULL

/* private_data of the deposit_contig file */
#define HVCSIM_CONTIG		((void *)1)

/* Most pages one stress operation deposits or withdraws */
#define HVCSIM_STRESS_PAGES	600

/* Longest debugfs command accepted, e.g. "4294967295 0x... -1" */
#define HVCSIM_CMD_MAX		80
/* Room for the partitions of the boot message */
#define HVCSIM_MSG_MAX		256

/**
 * struct hvcsim_header - what the simulator writes at the start of a page
 * @magic: HVCSIM_MAGIC
 * @pfn: page frame number of this page
 * @partition: partition the page was deposited for
 * @serial: deposit serial number
 * @checksum: FNV-1a 64 over the page without this field
 * @tail_magic: HVCSIM_TAIL_MAGIC
 */
struct hvcsim_header {
	__le64 magic;
	__le64 pfn;
	__le64 partition;
	__le64 serial;
	__le64 checksum;
	__le64 tail_magic;
};

static_assert(sizeof(struct hvcsim_header) == 48);
static_assert(offsetof(struct hvcsim_header, checksum) == 32);

/**
 * struct hvcsim_region - one carveout range, mapped
 * @base_pfn: first page frame
 * @npages: number of pages
 * @va: the memremap() mapping
 * @held: one bit per page, set if the simulator holds it (a cache)
 */
struct hvcsim_region {
	unsigned long base_pfn;
	unsigned long npages;
	void *va;
	unsigned long *held;
};

/**
 * struct hvcsim_corruption - corrupted carveout pages found by a scan
 * @bad_checksum: both magics valid, checksum wrong
 * @wrong_pfn: intact, but the header names another page
 * @torn: exactly one of the two magics valid
 */
struct hvcsim_corruption {
	u64 bad_checksum;
	u64 wrong_pfn;
	u64 torn;
};

static DEFINE_MUTEX(hvcsim_lock);
static DEFINE_MUTEX(hvcsim_ctl_lock);

static struct hvcsim_region hvcsim_regions[HVCARVE_MAX_REGIONS];
static unsigned int hvcsim_nr_regions;
/* partition -> number of pages it holds (xa_mk_value) */
static DEFINE_XARRAY(hvcsim_partitions);
/* pfn -> ordinary pages held (overflow deposits) */
static DEFINE_XARRAY(hvcsim_overflow);
static u64 hvcsim_held;
static u64 hvcsim_serial;
static u64 hvcsim_refusals;
static u64 hvcsim_deposit_calls;
static u64 hvcsim_withdraw_calls;
static u64 hvcsim_fail_in;
static u64 hvcsim_gate_partitions;	/* counted by the "partition" file */
static bool hvcsim_scanned;
static bool hvcsim_lazy_scan;
static unsigned long hvcsim_host_port;	/* host mode's UART; 0: off */
static bool hvcsim_host_mode(void);
static int hvcsim_host_withdraw(u64 partition, u64 count);
module_param_named(lazy_scan, hvcsim_lazy_scan, bool, 0);
MODULE_PARM_DESC(lazy_scan,
		 "scan the carveout at the first use, not at boot");

enum hvcsim_inject {
	HVCSIM_INJECT_NONE,
	HVCSIM_INJECT_DENY,
	HVCSIM_INJECT_ACCESS,
	HVCSIM_INJECT_INUSE,
	HVCSIM_INJECT_LIE,
	HVCSIM_INJECT_BLIND,
};

static const char * const hvcsim_inject_names[] = {
	[HVCSIM_INJECT_NONE] = "none",
	[HVCSIM_INJECT_DENY] = "deny",
	[HVCSIM_INJECT_ACCESS] = "access",
	[HVCSIM_INJECT_INUSE] = "inuse",
	[HVCSIM_INJECT_LIE] = "lie",
	[HVCSIM_INJECT_BLIND] = "blind",
};

static enum hvcsim_inject hvcsim_inject;
static u64 hvcsim_inject_arg;
static u64 hvcsim_accepted;
static u64 hvcsim_accepted_overflow;
static struct hvcsim_corruption hvcsim_corrupt;

static struct {
	u64 requested;
	u64 deposited;
	u64 overflow;
	int rc;
	u64 ns;
} hvcsim_last_deposit;

static struct {
	u64 requested;
	u64 withdrawn;
	int rc;
} hvcsim_last_withdraw;

static struct {
	u64 threads;
	u64 ops;
	u64 deposits;
	u64 withdrawals;
	u64 errors;
} hvcsim_stress;

static u64 hvcsim_fnv1a(u64 h, const void *data, size_t len)
{
	const u8 *p = data;

	while (len--) {
		h ^= *p++;
		h *= HVCSIM_FNV_PRIME;
	}
	return h;
}

static u64 hvcsim_checksum(const void *page)
{
	const size_t after = offsetof(struct hvcsim_header, tail_magic);
	u64 h;

	h = hvcsim_fnv1a(HVCSIM_FNV_OFFSET, page,
			 offsetof(struct hvcsim_header, checksum));
	return hvcsim_fnv1a(h, page + after, PAGE_SIZE - after);
}

/* Header and payload of a page held for @partition. */
static void hvcsim_write_page(void *page, u64 pfn, u64 partition, u64 serial)
{
	struct hvcsim_header *hdr = page;
	__le64 *word = page + sizeof(*hdr);
	__le64 *end = page + PAGE_SIZE;
	__le64 seed[3] = {
		cpu_to_le64(pfn), cpu_to_le64(partition), cpu_to_le64(serial)
	};
	u64 x = hvcsim_fnv1a(HVCSIM_FNV_OFFSET, seed, sizeof(seed));

	if (!x)
		x = HVCSIM_FNV_OFFSET;
	for (; word < end; word++) {
		x ^= x >> HVCSIM_XS_A;
		x ^= x << HVCSIM_XS_B;
		x ^= x >> HVCSIM_XS_C;
		*word = cpu_to_le64(x * HVCSIM_XS_MULT);
	}
	hdr->magic = cpu_to_le64(HVCSIM_MAGIC);
	hdr->pfn = seed[0];
	hdr->partition = seed[1];
	hdr->serial = seed[2];
	hdr->tail_magic = cpu_to_le64(HVCSIM_TAIL_MAGIC);
	hdr->checksum = cpu_to_le64(hvcsim_checksum(page));
}

static void hvcsim_clear_page(void *page)
{
	memset(page, 0, sizeof(struct hvcsim_header));
}

static u64 hvcsim_page_partition(const void *page)
{
	return le64_to_cpu(((const struct hvcsim_header *)page)->partition);
}

/* Find the carveout region of @pfn; caller holds hvcsim_lock. */
static struct hvcsim_region *hvcsim_region_of(u64 pfn, unsigned long *idx)
{
	unsigned int i;

	for (i = 0; i < hvcsim_nr_regions; i++) {
		struct hvcsim_region *reg = &hvcsim_regions[i];

		if (pfn >= reg->base_pfn && pfn - reg->base_pfn < reg->npages) {
			*idx = pfn - reg->base_pfn;
			return reg;
		}
	}
	return NULL;
}

static void *hvcsim_region_page(const struct hvcsim_region *reg,
				unsigned long idx)
{
	return reg->va + idx * PAGE_SIZE;
}

/* Add @delta pages to @partition's count; caller holds hvcsim_lock. */
static int hvcsim_count(u64 partition, long delta)
{
	void *entry = xa_load(&hvcsim_partitions, partition);
	long count = (entry ? xa_to_value(entry) : 0) + delta;

	if (WARN_ON_ONCE(count < 0))
		count = 0;
	if (!count) {
		xa_erase(&hvcsim_partitions, partition);
		return 0;
	}
	return xa_err(xa_store(&hvcsim_partitions, partition,
			       xa_mk_value(count), GFP_KERNEL));
}

static int hvcsim_ensure_scan(void);

static int hvcsim_deposit(u64 partition_id, const u64 *pfns, unsigned int nr,
			  unsigned int *done)
{
	struct hvcsim_region *reg;
	unsigned long idx;
	unsigned int i;
	void *page;
	int ret = 0;

	mutex_lock(&hvcsim_lock);
	hvcsim_deposit_calls++;
	ret = hvcsim_ensure_scan();
	if (ret) {
		*done = 0;
		mutex_unlock(&hvcsim_lock);
		return ret;
	}
	if (hvcsim_inject_arg == partition_id &&
	    (hvcsim_inject == HVCSIM_INJECT_DENY ||
	     hvcsim_inject == HVCSIM_INJECT_ACCESS)) {
		*done = 0;
		hvcsim_refusals++;
		mutex_unlock(&hvcsim_lock);
		return hvcsim_inject == HVCSIM_INJECT_DENY ? -EEXIST : -EACCES;
	}
	for (i = 0; i < nr; i++) {
		u64 pfn = pfns[i];
		bool overflow = false;

		if (hvcsim_fail_in && !--hvcsim_fail_in) {
			ret = -EIO;
			break;
		}
		if (hvcsim_inject == HVCSIM_INJECT_INUSE &&
		    pfn == hvcsim_inject_arg) {
			hvcsim_refusals++;
			ret = -EBUSY;
			break;
		}
		reg = hvcsim_region_of(pfn, &idx);
		if (reg) {
			if (test_bit(idx, reg->held)) {
				/* Accepted, yet held already: nothing moves. */
				if (hvcsim_inject == HVCSIM_INJECT_BLIND)
					continue;
				hvcsim_refusals++;
				ret = -EEXIST;
				break;
			}
			page = hvcsim_region_page(reg, idx);
		} else if (!hvcarve_pfn_in_carveout(pfn) && pfn_valid(pfn)) {
			/* An ordinary page: overflow. */
			if (xa_load(&hvcsim_overflow, pfn)) {
				hvcsim_refusals++;
				ret = -EEXIST;
				break;
			}
			ret = xa_err(xa_store(&hvcsim_overflow, pfn,
					      xa_mk_value(0), GFP_KERNEL));
			if (ret)
				break;
			page = page_address(pfn_to_page(pfn));
			overflow = true;
		} else {
			/* Carveout the simulator could not map, or no RAM. */
			ret = -EINVAL;
			break;
		}
		ret = hvcsim_count(partition_id, 1);
		if (ret) {
			if (overflow)
				xa_erase(&hvcsim_overflow, pfn);
			break;
		}
		hvcsim_write_page(page, pfn, partition_id, ++hvcsim_serial);
		if (reg)
			__set_bit(idx, reg->held);
		hvcsim_held++;
		hvcsim_accepted++;
		if (overflow)
			hvcsim_accepted_overflow++;
	}
	*done = i;
	/* The lie: one page short, and yet success. */
	if (hvcsim_inject == HVCSIM_INJECT_LIE && !ret && i) {
		hvcsim_inject = HVCSIM_INJECT_NONE;
		*done = i - 1;
	}
	mutex_unlock(&hvcsim_lock);
	return ret;
}

/* Give back one held page of @partition; caller holds hvcsim_lock. */
static void hvcsim_release(void *page, u64 partition)
{
	hvcsim_clear_page(page);
	hvcsim_count(partition, -1);
	hvcsim_held--;
}

static int hvcsim_withdraw(u64 partition_id, u64 *pfns, unsigned int max,
			   unsigned int *done)
{
	unsigned long pfn, idx;
	unsigned int n = 0, i;
	void *entry, *page;

	mutex_lock(&hvcsim_lock);
	hvcsim_withdraw_calls++;
	if (hvcsim_ensure_scan()) {
		*done = 0;
		mutex_unlock(&hvcsim_lock);
		return -EIO;
	}
	/* Overflow pages first: kexec is refused while any is held. */
	xa_for_each(&hvcsim_overflow, pfn, entry) {
		if (n == max)
			break;
		page = page_address(pfn_to_page(pfn));
		if (hvcsim_page_partition(page) != partition_id)
			continue;
		xa_erase(&hvcsim_overflow, pfn);
		hvcsim_release(page, partition_id);
		pfns[n++] = pfn;
	}
	for (i = 0; i < hvcsim_nr_regions && n < max; i++) {
		struct hvcsim_region *reg = &hvcsim_regions[i];

		for_each_set_bit(idx, reg->held, reg->npages) {
			if (n == max)
				break;
			page = hvcsim_region_page(reg, idx);
			if (hvcsim_page_partition(page) != partition_id)
				continue;
			__clear_bit(idx, reg->held);
			hvcsim_release(page, partition_id);
			pfns[n++] = reg->base_pfn + idx;
		}
	}
	*done = n;
	mutex_unlock(&hvcsim_lock);
	return 0;
}

static long hvcsim_balance(u64 partition_id)
{
	void *entry;

	mutex_lock(&hvcsim_lock);
	if (hvcsim_ensure_scan()) {
		mutex_unlock(&hvcsim_lock);
		return -EIO;
	}
	entry = xa_load(&hvcsim_partitions, partition_id);
	mutex_unlock(&hvcsim_lock);
	return entry ? xa_to_value(entry) : 0;
}

static const struct hv_carve_backend hvcsim_backend = {
	.name = "sim",
	.deposit = hvcsim_deposit,
	.withdraw = hvcsim_withdraw,
	.balance = hvcsim_balance,
};

/* Classify one carveout page and add it to the ledger. */
static int hvcsim_scan_page(struct hvcsim_region *reg, unsigned long idx,
			    u64 *max_serial)
{
	const void *page = hvcsim_region_page(reg, idx);
	const struct hvcsim_header *hdr = page;
	bool head = le64_to_cpu(hdr->magic) == HVCSIM_MAGIC;
	bool tail = le64_to_cpu(hdr->tail_magic) == HVCSIM_TAIL_MAGIC;
	u64 partition;
	int ret;

	if (!head && !tail)
		return 0;
	if (head != tail) {
		hvcsim_corrupt.torn++;
		return 0;
	}
	if (le64_to_cpu(hdr->checksum) != hvcsim_checksum(page)) {
		hvcsim_corrupt.bad_checksum++;
		return 0;
	}
	if (le64_to_cpu(hdr->pfn) != reg->base_pfn + idx) {
		hvcsim_corrupt.wrong_pfn++;
		return 0;
	}
	partition = le64_to_cpu(hdr->partition);
	ret = hvcsim_count(partition, 1);
	if (ret)
		return ret;
	__set_bit(idx, reg->held);
	hvcsim_held++;
	*max_serial = max(*max_serial, le64_to_cpu(hdr->serial));
	return 0;
}

static u64 hvcsim_corrupted(void)
{
	return hvcsim_corrupt.bad_checksum + hvcsim_corrupt.wrong_pfn +
	       hvcsim_corrupt.torn;
}

/*
 * Rebuild the ledger from the carveout pages and print it. Caller holds
 * hvcsim_lock. Ordinary pages held as overflow are not in the carveout and
 * are kept.
 */
static int hvcsim_scan(void)
{
	struct seq_buf msg;
	char *buf;
	unsigned long idx, partition;
	u64 max_serial = 0;
	unsigned int i;
	void *entry;
	int ret = 0;

	xa_for_each(&hvcsim_partitions, partition, entry)
		xa_erase(&hvcsim_partitions, partition);
	hvcsim_held = 0;
	memset(&hvcsim_corrupt, 0, sizeof(hvcsim_corrupt));
	xa_for_each(&hvcsim_overflow, idx, entry) {
		ret = hvcsim_count(hvcsim_page_partition(page_address(pfn_to_page(idx))), 1);
		if (ret)
			goto out;
		hvcsim_held++;
	}

	for (i = 0; i < hvcsim_nr_regions; i++) {
		struct hvcsim_region *reg = &hvcsim_regions[i];

		bitmap_zero(reg->held, reg->npages);
		for (idx = 0; idx < reg->npages; idx++) {
			ret = hvcsim_scan_page(reg, idx, &max_serial);
			if (ret)
				goto out;
			cond_resched();
		}
	}
	hvcsim_serial = max(hvcsim_serial, max_serial);
	hvcsim_scanned = true;

out:
	buf = kmalloc(HVCSIM_MSG_MAX, GFP_KERNEL);
	if (!buf)
		return ret ?: -ENOMEM;
	seq_buf_init(&msg, buf, HVCSIM_MSG_MAX);
	xa_for_each(&hvcsim_partitions, partition, entry)
		seq_buf_printf(&msg, "%spartition %lu: %lu",
			       seq_buf_used(&msg) ? ", " : "", partition,
			       xa_to_value(entry));
	if (!seq_buf_used(&msg))
		seq_buf_puts(&msg, "no partitions");
	pr_info("ledger: held %llu (%s%s) corrupted %llu (bad checksum %llu, wrong pfn %llu, torn %llu)%s\n",
		hvcsim_held, seq_buf_str(&msg),
		seq_buf_has_overflowed(&msg) ? "..." : "", hvcsim_corrupted(),
		hvcsim_corrupt.bad_checksum, hvcsim_corrupt.wrong_pfn,
		hvcsim_corrupt.torn, ret ? " (scan incomplete)" : "");
	kfree(buf);
	return ret;
}

/* Build the ledger if no scan did yet; caller holds hvcsim_lock. */
static int hvcsim_ensure_scan(void)
{
	return hvcsim_scanned ? 0 : hvcsim_scan();
}

/* debugfs */

/* Copy a command from user space and split it into at most @max words. */
static int hvcsim_get_cmd(const char __user *ubuf, size_t len, char *cmd,
			  char **words, int max)
{
	char *p;
	int n = 0;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (len >= HVCSIM_CMD_MAX)
		return -EINVAL;
	if (copy_from_user(cmd, ubuf, len))
		return -EFAULT;
	cmd[len] = '\0';
	p = strim(cmd);
	while (p && *p) {
		if (n == max)
			return -EINVAL;
		words[n++] = strsep(&p, " \t\n");
		p = p ? skip_spaces(p) : NULL;
	}
	return n;
}

static ssize_t hvcsim_deposit_write(struct file *file, const char __user *ubuf,
				    size_t len, loff_t *ppos)
{
	char cmd[HVCSIM_CMD_MAX], *words[3];
	u64 before, before_overflow, start;
	int n, node = NUMA_NO_NODE;
	u64 partition;
	u32 num;
	int ret;

	n = hvcsim_get_cmd(ubuf, len, cmd, words, ARRAY_SIZE(words));
	if (n < 0)
		return n;
	if (n < 2 || kstrtou32(words[0], 0, &num) ||
	    kstrtou64(words[1], 0, &partition))
		return -EINVAL;
	if (n == 3 && (kstrtoint(words[2], 0, &node) ||
		       (node != NUMA_NO_NODE &&
			(node < 0 || node >= MAX_NUMNODES || !node_online(node)))))
		return -EINVAL;

	mutex_lock(&hvcsim_ctl_lock);
	mutex_lock(&hvcsim_lock);
	ret = hvcsim_ensure_scan();
	before = hvcsim_accepted;
	before_overflow = hvcsim_accepted_overflow;
	mutex_unlock(&hvcsim_lock);
	if (ret) {
		mutex_unlock(&hvcsim_ctl_lock);
		return ret;
	}

	start = ktime_get_ns();
	if (file->private_data == HVCSIM_CONTIG)
		ret = hv_carve_deposit_contiguous(node, partition, num);
	else
		ret = hv_carve_deposit_pages(node, partition, num);

	mutex_lock(&hvcsim_lock);
	hvcsim_last_deposit.ns = ktime_get_ns() - start;
	hvcsim_last_deposit.requested = num;
	hvcsim_last_deposit.deposited = hvcsim_accepted - before;
	hvcsim_last_deposit.overflow = hvcsim_accepted_overflow - before_overflow;
	hvcsim_last_deposit.rc = ret;
	mutex_unlock(&hvcsim_lock);
	mutex_unlock(&hvcsim_ctl_lock);
	return ret ?: len;
}

static ssize_t hvcsim_withdraw_write(struct file *file, const char __user *ubuf,
				     size_t len, loff_t *ppos)
{
	char cmd[HVCSIM_CMD_MAX], *words[2];
	u64 count, partition, withdrawn;
	int n, ret;

	n = hvcsim_get_cmd(ubuf, len, cmd, words, ARRAY_SIZE(words));
	if (n < 0)
		return n;
	if (n != 2 || kstrtou64(words[0], 0, &count) ||
	    kstrtou64(words[1], 0, &partition))
		return -EINVAL;

	mutex_lock(&hvcsim_ctl_lock);
	if (hvcsim_host_mode()) {
		/* As mshv withdraws: the real hook path, uncounted here. */
		ret = hvcsim_host_withdraw(partition, count);
		withdrawn = 0;
	} else {
		ret = hv_carve_withdraw_pages(partition, count, &withdrawn);
	}
	mutex_lock(&hvcsim_lock);
	hvcsim_last_withdraw.requested = count;
	hvcsim_last_withdraw.withdrawn = withdrawn;
	hvcsim_last_withdraw.rc = ret;
	mutex_unlock(&hvcsim_lock);
	mutex_unlock(&hvcsim_ctl_lock);
	return ret ?: len;
}

/* The @i-th page of a hold pattern: runs of @run pages, @gap apart. */
static u64 hvcsim_hold_pfn(u64 pfn, u64 i, u64 run, u64 gap)
{
	return pfn + i + div64_u64(i, run) * gap;
}

static ssize_t hvcsim_hold_write(struct file *file, const char __user *ubuf,
				 size_t len, loff_t *ppos)
{
	char cmd[HVCSIM_CMD_MAX], *words[5];
	struct hvcarve_pool *pool = hvcarve_pool();
	u64 pfn, count, partition, run, gap = 0, i, p;
	struct hvcsim_region *reg;
	unsigned long idx;
	int n, ret;

	n = hvcsim_get_cmd(ubuf, len, cmd, words, ARRAY_SIZE(words));
	if (n < 0)
		return n;
	if ((n != 3 && n != 5) || kstrtou64(words[0], 0, &pfn) ||
	    kstrtou64(words[1], 0, &count) ||
	    kstrtou64(words[2], 0, &partition))
		return -EINVAL;
	run = count;
	if (n == 5 && (kstrtou64(words[3], 0, &run) ||
		       kstrtou64(words[4], 0, &gap)))
		return -EINVAL;
	if (!count || !run)
		return -EINVAL;
	if (!pool)
		return -ENODEV;

	mutex_lock(&hvcsim_ctl_lock);
	mutex_lock(&hvcsim_lock);
	ret = hvcsim_ensure_scan();
	/* All or nothing: check every page before taking any. */
	for (i = 0; i < count && !ret; i++) {
		p = hvcsim_hold_pfn(pfn, i, run, gap);
		reg = hvcsim_region_of(p, &idx);
		if (!reg)
			ret = -EINVAL;
		else if (test_bit(idx, reg->held) ||
			 hvcarve_pool_page(pool, p) != HVCARVE_PAGE_FREE)
			ret = -EBUSY;
		cond_resched();
	}
	if (!ret)
		ret = hvcsim_count(partition, count);
	for (i = 0; i < count && !ret; i++) {
		p = hvcsim_hold_pfn(pfn, i, run, gap);
		reg = hvcsim_region_of(p, &idx);
		hvcsim_write_page(hvcsim_region_page(reg, idx), p, partition,
				  ++hvcsim_serial);
		__set_bit(idx, reg->held);
		hvcsim_held++;
		cond_resched();
	}
	mutex_unlock(&hvcsim_lock);
	mutex_unlock(&hvcsim_ctl_lock);
	return ret ?: len;
}

static ssize_t hvcsim_scan_write(struct file *file, const char __user *ubuf,
				 size_t len, loff_t *ppos)
{
	char cmd[HVCSIM_CMD_MAX], *words[1];
	int n, ret;

	n = hvcsim_get_cmd(ubuf, len, cmd, words, ARRAY_SIZE(words));
	if (n < 0)
		return n;
	if (n != 1 || strcmp(words[0], "1"))
		return -EINVAL;

	mutex_lock(&hvcsim_lock);
	ret = hvcsim_scan();
	mutex_unlock(&hvcsim_lock);
	return ret ?: len;
}

static ssize_t hvcsim_fail_write(struct file *file, const char __user *ubuf,
				 size_t len, loff_t *ppos)
{
	char cmd[HVCSIM_CMD_MAX], *words[1];
	u64 fail_in;
	int n;

	n = hvcsim_get_cmd(ubuf, len, cmd, words, ARRAY_SIZE(words));
	if (n < 0)
		return n;
	if (n != 1 || kstrtou64(words[0], 0, &fail_in))
		return -EINVAL;

	mutex_lock(&hvcsim_lock);
	hvcsim_fail_in = fail_in;
	mutex_unlock(&hvcsim_lock);
	return len;
}

static ssize_t hvcsim_partition_write(struct file *file,
				      const char __user *ubuf,
				      size_t len, loff_t *ppos)
{
	char cmd[HVCSIM_CMD_MAX], *words[1];
	int n, ret = 0;

	n = hvcsim_get_cmd(ubuf, len, cmd, words, ARRAY_SIZE(words));
	if (n < 0)
		return n;
	if (n != 1)
		return -EINVAL;

	mutex_lock(&hvcsim_lock);
	if (!strcmp(words[0], "create")) {
		ret = hv_deposit_gate_partition_get();
		if (!ret)
			hvcsim_gate_partitions++;
	} else if (!strcmp(words[0], "delete")) {
		if (hvcsim_gate_partitions) {
			hv_deposit_gate_partition_put();
			hvcsim_gate_partitions--;
		} else {
			ret = -ENOENT;
		}
	} else {
		ret = -EINVAL;
	}
	mutex_unlock(&hvcsim_lock);
	return ret ?: len;
}

static ssize_t hvcsim_forget_write(struct file *file, const char __user *ubuf,
				   size_t len, loff_t *ppos)
{
	char cmd[HVCSIM_CMD_MAX], *words[1];
	u64 n;
	int ret;

	ret = hvcsim_get_cmd(ubuf, len, cmd, words, ARRAY_SIZE(words));
	if (ret < 0)
		return ret;
	if (ret != 1 || kstrtou64(words[0], 0, &n) || !n ||
	    n > hv_deposit_gate_pages())
		return -EINVAL;
	pr_warn("the kexec gate is told %llu ordinary pages came back: they did not (a test's negative control)\n",
		n);
	hv_deposit_gate_put(n);
	/* The kernel no longer keeps what it promises: say so in its taint. */
	add_taint(TAINT_USER, LOCKDEP_STILL_OK);
	return len;
}

static ssize_t hvcsim_inject_write(struct file *file, const char __user *ubuf,
				   size_t len, loff_t *ppos)
{
	char cmd[HVCSIM_CMD_MAX], *words[2];
	u64 arg = 0;
	int n, mode;
	bool none;

	n = hvcsim_get_cmd(ubuf, len, cmd, words, ARRAY_SIZE(words));
	if (n < 0)
		return n;
	if (!n)
		return -EINVAL;
	n--;
	mode = sysfs_match_string(hvcsim_inject_names, words[0]);
	none = mode == HVCSIM_INJECT_NONE || mode == HVCSIM_INJECT_LIE ||
	       mode == HVCSIM_INJECT_BLIND;
	if (mode < 0 || none != !n || (n && kstrtou64(words[1], 0, &arg)))
		return -EINVAL;

	mutex_lock(&hvcsim_lock);
	hvcsim_inject = mode;
	hvcsim_inject_arg = arg;
	mutex_unlock(&hvcsim_lock);
	return len;
}

/**
 * struct hvcsim_stress_thread - one thread of a stress run
 * @done: completed when the thread ends
 * @deadline: jiffies when it stops
 * @partitions: partitions to use, from 1
 * @rnd: its PRNG
 * @ops: operations made
 * @deposits: successful deposits
 * @withdrawals: withdrawals
 * @errors: failed deposits
 */
struct hvcsim_stress_thread {
	struct completion done;
	unsigned long deadline;
	u32 partitions;
	struct rnd_state rnd;
	u64 ops;
	u64 deposits;
	u64 withdrawals;
	u64 errors;
};

static int hvcsim_stress_fn(void *data)
{
	struct hvcsim_stress_thread *t = data;
	u32 pages, partition;
	u64 withdrawn;

	while (time_before(jiffies, t->deadline)) {
		pages = prandom_u32_state(&t->rnd) % HVCSIM_STRESS_PAGES + 1;
		partition = prandom_u32_state(&t->rnd) % t->partitions + 1;
		/* Deposit half the time; a quarter while ordinary pages are in. */
		if (prandom_u32_state(&t->rnd) % 4 < (hv_deposit_gate_pages() ? 1 : 2)) {
			if (hv_carve_deposit_pages(NUMA_NO_NODE, partition, pages))
				t->errors++;
			else
				t->deposits++;
		} else {
			hv_carve_withdraw_pages(partition, pages, &withdrawn);
			t->withdrawals++;
		}
		t->ops++;
		cond_resched();
	}
	complete(&t->done);
	return 0;
}

static ssize_t hvcsim_stress_write(struct file *file, const char __user *ubuf,
				   size_t len, loff_t *ppos)
{
	char cmd[HVCSIM_CMD_MAX], *words[3];
	struct hvcsim_stress_thread *threads;
	u32 seconds, partitions;
	unsigned int cpu, n = 0, i;
	struct task_struct *task;
	u64 seed;
	int ret;

	ret = hvcsim_get_cmd(ubuf, len, cmd, words, ARRAY_SIZE(words));
	if (ret < 0)
		return ret;
	if (ret != 3 || kstrtou32(words[0], 0, &seconds) ||
	    kstrtou64(words[1], 0, &seed) || kstrtou32(words[2], 0, &partitions) ||
	    !seconds || !partitions)
		return -EINVAL;

	threads = kcalloc(nr_cpu_ids, sizeof(*threads), GFP_KERNEL);
	if (!threads)
		return -ENOMEM;
	for_each_online_cpu(cpu) {
		struct hvcsim_stress_thread *t = &threads[n];

		init_completion(&t->done);
		t->deadline = jiffies + seconds * HZ;
		t->partitions = partitions;
		prandom_seed_state(&t->rnd, seed + cpu);
		task = kthread_create_on_cpu(hvcsim_stress_fn, t, cpu,
					     "hvcsim_stress/%u");
		if (IS_ERR(task))
			break;
		wake_up_process(task);
		n++;
	}
	for (i = 0; i < n; i++)
		wait_for_completion(&threads[i].done);

	mutex_lock(&hvcsim_lock);
	memset(&hvcsim_stress, 0, sizeof(hvcsim_stress));
	hvcsim_stress.threads = n;
	for (i = 0; i < n; i++) {
		hvcsim_stress.ops += threads[i].ops;
		hvcsim_stress.deposits += threads[i].deposits;
		hvcsim_stress.withdrawals += threads[i].withdrawals;
		hvcsim_stress.errors += threads[i].errors;
	}
	mutex_unlock(&hvcsim_lock);
	kfree(threads);
	return n ? len : -ENOMEM;
}

static int hvcsim_ledger_show(struct seq_file *m, void *v)
{
	unsigned long partition;
	void *entry;

	mutex_lock(&hvcsim_lock);
	if (hvcsim_host_mode()) {
		/* The hypervisor's ledger is the host's: only what is ours. */
		seq_printf(m, "host %#lx\n", hvcsim_host_port);
		seq_printf(m, "gate_partitions %llu\n",
			   hv_deposit_gate_partitions());
		goto stress;
	}
	if (hvcsim_ensure_scan())
		seq_puts(m, "scan failed\n");
	seq_printf(m, "held %llu\n", hvcsim_held);
	xa_for_each(&hvcsim_partitions, partition, entry)
		seq_printf(m, "partition %lu %lu\n", partition,
			   xa_to_value(entry));
	seq_printf(m, "refusals %llu\n", hvcsim_refusals);
	seq_printf(m, "corrupted %llu\n", hvcsim_corrupted());
	seq_printf(m, "bad_checksum %llu\n", hvcsim_corrupt.bad_checksum);
	seq_printf(m, "wrong_pfn %llu\n", hvcsim_corrupt.wrong_pfn);
	seq_printf(m, "torn %llu\n", hvcsim_corrupt.torn);
	seq_printf(m, "serial %llu\n", hvcsim_serial);
	seq_printf(m, "deposit_calls %llu\n", hvcsim_deposit_calls);
	seq_printf(m, "withdraw_calls %llu\n", hvcsim_withdraw_calls);
	seq_printf(m, "fail_in %llu\n", hvcsim_fail_in);
	if (hvcsim_inject == HVCSIM_INJECT_NONE)
		seq_puts(m, "inject none\n");
	else
		seq_printf(m, "inject %s %llu\n",
			   hvcsim_inject_names[hvcsim_inject], hvcsim_inject_arg);
	seq_printf(m, "gate_partitions %llu\n", hv_deposit_gate_partitions());
	seq_printf(m, "last_deposit requested=%llu deposited=%llu overflow=%llu rc=%d ns=%llu\n",
		   hvcsim_last_deposit.requested, hvcsim_last_deposit.deposited,
		   hvcsim_last_deposit.overflow, hvcsim_last_deposit.rc,
		   hvcsim_last_deposit.ns);
	seq_printf(m, "last_withdraw requested=%llu withdrawn=%llu rc=%d\n",
		   hvcsim_last_withdraw.requested, hvcsim_last_withdraw.withdrawn,
		   hvcsim_last_withdraw.rc);
stress:
	seq_printf(m, "stress threads=%llu ops=%llu deposits=%llu withdrawals=%llu errors=%llu\n",
		   hvcsim_stress.threads, hvcsim_stress.ops,
		   hvcsim_stress.deposits, hvcsim_stress.withdrawals,
		   hvcsim_stress.errors);
	mutex_unlock(&hvcsim_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hvcsim_ledger);

static const struct file_operations hvcsim_deposit_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = hvcsim_deposit_write,
	.llseek = noop_llseek,
};

static const struct file_operations hvcsim_withdraw_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = hvcsim_withdraw_write,
	.llseek = noop_llseek,
};

static const struct file_operations hvcsim_hold_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = hvcsim_hold_write,
	.llseek = noop_llseek,
};

static const struct file_operations hvcsim_scan_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = hvcsim_scan_write,
	.llseek = noop_llseek,
};

static const struct file_operations hvcsim_fail_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = hvcsim_fail_write,
	.llseek = noop_llseek,
};

static const struct file_operations hvcsim_stress_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = hvcsim_stress_write,
	.llseek = noop_llseek,
};

static const struct file_operations hvcsim_partition_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = hvcsim_partition_write,
	.llseek = noop_llseek,
};

static const struct file_operations hvcsim_forget_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = hvcsim_forget_write,
	.llseek = noop_llseek,
};

static const struct file_operations hvcsim_inject_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = hvcsim_inject_write,
	.llseek = noop_llseek,
};

/* Map carveout region @i as a simulator region. */
static void __init hvcsim_add_region(unsigned int i)
{
	struct hvcsim_region *reg = &hvcsim_regions[hvcsim_nr_regions];
	struct hvcarve_range r;

	if (hvcarve_region_get(i, &r))
		return;
	reg->base_pfn = PHYS_PFN(r.base);
	reg->npages = PHYS_PFN(r.size);
	reg->held = bitmap_zalloc(reg->npages, GFP_KERNEL);
	reg->va = memremap(r.base, r.size, MEMREMAP_WB);
	if (!reg->held || !reg->va) {
		pr_err("cannot map carveout region %u [mem %#llx-%#llx]: not simulated\n",
		       i, r.base, r.base + r.size - 1);
		bitmap_free(reg->held);
		if (reg->va)
			memunmap(reg->va);
		memset(reg, 0, sizeof(*reg));
		return;
	}
	hvcsim_nr_regions++;
}

/*
 * The vendor signature of the Microsoft Hypervisor's CPUID leaf 0x40000000
 * (Hypervisor Top-Level Functional Specification, "Hypervisor CPUID
 * Leaves"), which arch/x86/kernel/cpu/mshyperv.c checks too: 12
 * characters, in EBX, ECX and EDX.
 */
#define HVCSIM_MS_HV_SIGNATURE	"Microsoft Hv"
#define HVCSIM_HV_SIGNATURE_LEN	12

/*
 * hvcarve_sim.refuse_hv=SIGNATURE: refuse to run under a hypervisor with
 * this CPUID signature too, besides the Microsoft Hypervisor; it only ever
 * adds a refusal. For the tests, which cannot have the Microsoft
 * Hypervisor: QEMU's TCG shows "TCGTCGTCGTCG" at leaf 0x40000000 (its
 * tcg-cpuid property, on by default), so the refusal below runs there. A
 * value that is not 12 characters long, or a second, different one, makes
 * the simulator not run at all. (A bare "hvcarve_sim.refuse_hv" with no
 * value is refused by the parser itself, and the simulator then runs.)
 * Read-only once booted.
 */
static char hvcsim_refuse_hv[HVCSIM_HV_SIGNATURE_LEN + 1];
static bool hvcsim_refuse_hv_bad;

static int hvcsim_refuse_hv_set(const char *val, const struct kernel_param *kp)
{
	/* A second, different signature would undo the first: bad too. */
	if (strlen(val) != HVCSIM_HV_SIGNATURE_LEN ||
	    (hvcsim_refuse_hv[0] && strcmp(hvcsim_refuse_hv, val))) {
		hvcsim_refuse_hv_bad = true;
		return 0;
	}
	memcpy(hvcsim_refuse_hv, val, HVCSIM_HV_SIGNATURE_LEN);
	return 0;
}

static const struct kernel_param_ops hvcsim_refuse_hv_ops = {
	.set = hvcsim_refuse_hv_set,
	.get = param_get_string,
};

static struct kparam_string hvcsim_refuse_hv_str = {
	.maxlen = sizeof(hvcsim_refuse_hv),
	.string = hvcsim_refuse_hv,
};

module_param_cb(refuse_hv, &hvcsim_refuse_hv_ops, &hvcsim_refuse_hv_str,
		0444);
MODULE_PARM_DESC(refuse_hv,
		 "CPUID signature (12 characters) of another hypervisor the simulator must not run under (tests)");

/*
 * Is Linux running on the Microsoft Hypervisor (or the one refuse_hv
 * names)? Then the simulator must never register: as a root or L1VH
 * partition the hypervisor holds the carveout pages deposited before a
 * kexec, and the simulator's scan would read them. A kernel built with
 * MSHV_ROOT registers the Hyper-V backend first, but one built without it
 * has no other backend to win the registration. Read from CPUID, which
 * needs neither HYPERVISOR_GUEST nor HYPERV. A KVM guest with Hyper-V
 * enlightenments shows the signature too, and gets no simulator either.
 * The hypervisor leaves are read whether or not the CPU's "hypervisor"
 * flag is set: clearcpuid=hypervisor clears the flag, not the leaves, and
 * a root partition booted so is still one. Without a hypervisor those
 * leaves are not defined (the Intel SDM: no CPU returns processor
 * information for 0x40000000-0x4fffffff); whatever a CPU returns there,
 * a false match only keeps the simulator off, the safe side.
 * Returns what was found (the signature, or what is wrong with
 * refuse_hv=), or NULL.
 */
static const char *hvcsim_real_hypervisor(void)
{
	if (hvcsim_refuse_hv_bad)
		return "a bad refuse_hv=: not "
		       __stringify(HVCSIM_HV_SIGNATURE_LEN)
		       " characters, or a second signature";
#ifdef CONFIG_X86
	if (cpuid_base_hypervisor(HVCSIM_MS_HV_SIGNATURE, 0))
		return HVCSIM_MS_HV_SIGNATURE;
	if (hvcsim_refuse_hv[0] && cpuid_base_hypervisor(hvcsim_refuse_hv, 0))
		return hvcsim_refuse_hv;
#endif
	return NULL;
}

/*
 * Host mode (hvcarve_sim.host=PORT): the hypervisor is a process on the
 * host (tests/hv/hv-model.c), not this file. Its state is outside the
 * guest, so it outlives every kexec, and nothing of it is rebuilt from
 * page contents. The glue's Hyper-V backend (hv_carve_hyperv) is used, found
 * by the glue itself as on Hyper-V (see hvcarve_sim.host_partition), and
 * its hypercalls go through mainline's hv_do_hypercall() and
 * hv_do_rep_hypercall(), unchanged, to the hv_hypercall static call. On
 * Hyper-V that selects how a hypercall is made (hv_std_hypercall(),
 * through the hypercall page, or the SNP and TDX ways); here it points
 * at a transport that sends each call to the host over the 16550 UART at
 * I/O port PORT (QEMU's third ISA serial port is 0x3e8), polled with
 * interrupts off, and waits for the answer:
 *
 *   guest -> host  5 x u64 LE  "HVTCALL1", seq, control, input GPA,
 *                              output GPA
 *                  or          "HVTHELO1", seq, 0, 0, 0 (once, at init)
 *   host -> guest  3 x u64 LE  "HVTRET01", seq, hypercall result value
 *
 * seq counts frames from 1; the host echoes it. The host reads the input
 * page and writes the output page in guest RAM itself (QEMU's RAM is a
 * file the host maps), before it answers. The per-CPU input and output
 * pages that Hyper-V's init would allocate are allocated here. The
 * simulator's own ledger, scan and fault injection are not used: their
 * debugfs files are not created, and "ledger" shows only what is ours.
 *
 * It is set up in smp_prepare_cpus(), before the serial driver probes
 * its ports (a device initcall), and claims the UART's I/O region, which
 * keeps the 8250 driver off it.
 *
 * Nothing is retried. A call the host does not answer within
 * HVCSIM_HOST_TIMEOUT_US polls of the UART, each after udelay(1) (so at
 * least that many microseconds), or answers with another seq, kills the
 * transport: that call and every later one return U64_MAX at once, as
 * mainline's hypercall does when there is no hypercall page. The host may
 * have carried that call out, so its ledger and this kernel's may
 * disagree from then on; the error says so, and the tests fail on it.
 * (Mainline's hv_lp_exists() BUG()s on U64_MAX.)
 *
 * Host mode needs MSHV_ROOT built in: mshv_root.ko's
 * hv_call_withdraw_memory() is not exported.
 */
#if IS_BUILTIN(CONFIG_MSHV_ROOT) && defined(CONFIG_X86_64)

#define HVCSIM_HOST_CALL	0x314c4c4143545648ULL	/* "HVTCALL1" */
#define HVCSIM_HOST_HELLO	0x314f4c4548545648ULL	/* "HVTHELO1" */
#define HVCSIM_HOST_RET		0x3130544552545648ULL	/* "HVTRET01" */
/* Counted in udelay(1) steps: no clocksource is needed at boot. */
#define HVCSIM_HOST_TIMEOUT_US	(2 * USEC_PER_SEC)
#define HVCSIM_UART_PORTS	8	/* I/O ports of a 16550 */
#define HVCSIM_UART_FIFO	16	/* bytes in its receive FIFO */
#define HVCSIM_UART_PROBE	0x5a	/* written to the scratch register */
#define HVCSIM_UART_ABSENT	0xff	/* what an empty I/O port reads */

static bool hvcsim_host_ready;

/*
 * hvcarve_sim.host_partition=root|l1vh|guest: what this kernel takes
 * itself for in host mode, as hv_identify_partition_type() decides on
 * Hyper-V from the privileges the hypervisor grants (CreatePartitions,
 * and CpuManagement for the root). The glue then finds its backend as it
 * does on Hyper-V, with nothing registered by the simulator:
 * hv_carve_get_backend() for the boot deposits, hv_carve_hyperv_init() at
 * early_initcall time, both on a root or an L1VH partition
 * (hv_parent_partition()). A guest partition gets no backend, and its
 * deposits fail. Only a root partition makes boot deposits (mainline sets
 * hv_smp_prepare_cpus() only there). Setting hv_curr_partition_type makes
 * hv_parent_partition() true for mainline too: mshv's
 * mshv_parent_partition_init() then runs. Under QEMU's TCG (whose leaf
 * 0x40000000 has no Hyper-V version leaf) it stops at "Could not detect
 * Hyper-V version"; under a hypervisor with more leaves it would go on. A value
 * that names none of the three is remembered as such, and host mode is
 * then not set up: deposits fail.
 */
static const char * const hvcsim_partition_names[] = {
	[HV_PARTITION_TYPE_GUEST] = "guest",
	[HV_PARTITION_TYPE_ROOT] = "root",
	[HV_PARTITION_TYPE_L1VH] = "l1vh",
};

/* An enum hv_partition_type, or -EINVAL once a value named none. */
static int hvcsim_host_type = HV_PARTITION_TYPE_ROOT;

static int hvcsim_host_partition_set(const char *val,
				     const struct kernel_param *kp)
{
	int type = match_string(hvcsim_partition_names,
				ARRAY_SIZE(hvcsim_partition_names), val);

	/* A bad value stays bad: a later good one does not undo it. */
	if (type < 0 || hvcsim_host_type < 0)
		hvcsim_host_type = -EINVAL;
	else
		hvcsim_host_type = type;
	return 0;
}

static int hvcsim_host_partition_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n", hvcsim_host_type < 0 ? "(invalid)" :
			  hvcsim_partition_names[hvcsim_host_type]);
}

static const struct kernel_param_ops hvcsim_host_partition_ops = {
	.set = hvcsim_host_partition_set,
	.get = hvcsim_host_partition_get,
};

module_param_cb(host_partition, &hvcsim_host_partition_ops, NULL, 0444);
MODULE_PARM_DESC(host_partition,
		 "host mode: root (default), l1vh or guest: the partition this kernel is to the host's hypervisor");

static void (*hvcsim_next_prepare_cpus)(unsigned int max_cpus);
static void __init hvcsim_smp_prepare_cpus(unsigned int max_cpus);

/*
 * hvcarve_sim.host=PORT is parsed after setup_arch(), where the hypervisor
 * platforms set their smp_ops, and before smp_prepare_cpus(): the time to
 * put the boot deposits where a root partition makes them. Read-only once
 * booted, so nothing calls this after init.
 */
static int __ref hvcsim_host_set(const char *val, const struct kernel_param *kp)
{
	int ret = param_set_ulong(val, kp);

	if (ret || !hvcsim_host_port || hvcsim_next_prepare_cpus)
		return ret;
	hvcsim_next_prepare_cpus = smp_ops.smp_prepare_cpus;
	smp_ops.smp_prepare_cpus = hvcsim_smp_prepare_cpus;
	return 0;
}

static const struct kernel_param_ops hvcsim_host_ops = {
	.set = hvcsim_host_set,
	.get = param_get_ulong,
};

module_param_cb(host, &hvcsim_host_ops, &hvcsim_host_port, 0444);
MODULE_PARM_DESC(host,
		 "I/O port of a 16550 UART to a hypervisor model on the host; 0: the simulator is the hypervisor");

/*
 * hvcsim_host_lock serialises the UART (one call on the wire at a time,
 * from any CPU) and protects hvcsim_host_seq and hvcsim_host_dead.
 */
static DEFINE_RAW_SPINLOCK(hvcsim_host_lock);
static u64 hvcsim_host_seq;
static bool hvcsim_host_dead;

/* Wait for a bit of the line status register, from a budget in us. */
static bool hvcsim_host_wait(u8 bit, unsigned long *budget)
{
	while (!(inb(hvcsim_host_port + UART_LSR) & bit)) {
		if (!*budget)
			return false;
		(*budget)--;
		udelay(1);
	}
	return true;
}

static bool hvcsim_host_xfer(const u64 *out, unsigned int nout, u64 *in,
			     unsigned int nin)
{
	unsigned long budget = HVCSIM_HOST_TIMEOUT_US;
	unsigned int i, b;

	/* Stale bytes (there should be none): drop a FIFO's worth, twice. */
	for (i = 0; i < 2 * HVCSIM_UART_FIFO &&
	     (inb(hvcsim_host_port + UART_LSR) & UART_LSR_DR); i++)
		inb(hvcsim_host_port + UART_RX);
	for (i = 0; i < nout; i++) {
		for (b = 0; b < sizeof(u64); b++) {
			if (!hvcsim_host_wait(UART_LSR_THRE, &budget))
				return false;
			outb(out[i] >> (b * BITS_PER_BYTE),
			     hvcsim_host_port + UART_TX);
		}
	}
	for (i = 0; i < nin; i++) {
		in[i] = 0;
		for (b = 0; b < sizeof(u64); b++) {
			if (!hvcsim_host_wait(UART_LSR_DR, &budget))
				return false;
			in[i] |= (u64)inb(hvcsim_host_port + UART_RX) <<
				 (b * BITS_PER_BYTE);
		}
	}
	return true;
}

static u64 hvcsim_host_call(u64 magic, u64 control, u64 input, u64 output)
{
	u64 frame[5], reply[3];
	unsigned long flags;
	bool ok;

	raw_spin_lock_irqsave(&hvcsim_host_lock, flags);
	if (hvcsim_host_dead) {
		raw_spin_unlock_irqrestore(&hvcsim_host_lock, flags);
		return U64_MAX;
	}
	frame[0] = magic;
	frame[1] = ++hvcsim_host_seq;
	frame[2] = control;
	frame[3] = input;
	frame[4] = output;
	ok = hvcsim_host_xfer(frame, ARRAY_SIZE(frame), reply,
			      ARRAY_SIZE(reply)) &&
	     reply[0] == HVCSIM_HOST_RET && reply[1] == frame[1];
	hvcsim_host_dead = !ok;
	raw_spin_unlock_irqrestore(&hvcsim_host_lock, flags);
	if (!ok) {
		pr_err("host mode: no valid answer from the host to call %#llx (seq %llu): the transport is dead; the host may have carried the call out, and its ledger and this kernel's may disagree from here\n",
		       control, frame[1]);
		return U64_MAX;
	}
	return reply[2];
}

/* What hv_do_hypercall() calls through the hv_hypercall static call. */
static u64 hvcsim_host_hypercall(u64 control, u64 input, u64 output)
{
	return hvcsim_host_call(HVCSIM_HOST_CALL, control, input, output);
}

static void hvcsim_host_free_pages(void * __percpu *pages)
{
	unsigned int cpu;

	if (!pages)
		return;
	for_each_possible_cpu(cpu)
		free_page((unsigned long)*per_cpu_ptr(pages, cpu));
	free_percpu(pages);
}

/* One zeroed page per possible CPU, as hv_common_cpu_init() gives. */
static void * __percpu *hvcsim_host_pages(void)
{
	void * __percpu *pages = alloc_percpu(void *);
	unsigned int cpu;

	if (!pages)
		return NULL;
	for_each_possible_cpu(cpu) {
		void *page = (void *)get_zeroed_page(GFP_KERNEL);

		if (!page) {
			hvcsim_host_free_pages(pages);
			return NULL;
		}
		*per_cpu_ptr(pages, cpu) = page;
	}
	return pages;
}

/* Is there a 16550 at the port? Its scratch register keeps a value. */
static bool __init hvcsim_host_uart_present(void)
{
	if (inb(hvcsim_host_port + UART_LSR) == HVCSIM_UART_ABSENT)
		return false;
	outb(HVCSIM_UART_PROBE, hvcsim_host_port + UART_SCR);
	return inb(hvcsim_host_port + UART_SCR) == HVCSIM_UART_PROBE;
}

/*
 * Set up host mode: claim the UART, say hello (the host starts a new
 * epoch: a new kernel), point hv_hypercall here and set the partition type
 * the glue finds its backend by. On a failure the I/O ports and pages are
 * given back, the static call is not yet changed, and the type is left as
 * it was (guest, off Hyper-V), which has no backend: deposits then fail,
 * rather than go to a hypervisor the test did not ask for. The UART's
 * setup and the hello (a new epoch on the host) are not undone.
 */
static int __init hvcsim_host_init(void)
{
	void * __percpu *in, * __percpu *out;
	u64 status;
	int type;
	int ret;

	if (hyperv_pcpu_input_arg || hyperv_pcpu_output_arg) {
		pr_err("host mode: Hyper-V is initialised: not used\n");
		return -EBUSY;
	}
	if (hv_carve_backend_name()) {
		pr_err("host mode: deposit backend %s is already registered\n",
		       hv_carve_backend_name());
		return -EBUSY;
	}
	type = hvcsim_host_type;
	if (type < 0) {
		pr_err("host mode: host_partition= named none of root, l1vh, guest: not set up\n");
		return -EINVAL;
	}
	if (hvcsim_host_port > U16_MAX - (HVCSIM_UART_PORTS - 1)) {
		pr_err("host mode: no I/O port %#lx\n", hvcsim_host_port);
		return -EINVAL;
	}
	if (!request_region(hvcsim_host_port, HVCSIM_UART_PORTS,
			    "hvcarve_sim host")) {
		pr_err("host mode: I/O ports %#lx-%#lx are busy\n",
		       hvcsim_host_port,
		       hvcsim_host_port + HVCSIM_UART_PORTS - 1);
		return -EBUSY;
	}
	ret = -ENODEV;
	if (!hvcsim_host_uart_present()) {
		pr_err("host mode: no UART at I/O port %#lx\n",
		       hvcsim_host_port);
		goto release;
	}
	/* 8 data bits, no parity, FIFOs on and empty, no interrupts. */
	outb(0, hvcsim_host_port + UART_IER);
	outb(UART_LCR_WLEN8, hvcsim_host_port + UART_LCR);
	outb(UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR | UART_FCR_CLEAR_XMIT,
	     hvcsim_host_port + UART_FCR);
	outb(UART_MCR_DTR | UART_MCR_RTS, hvcsim_host_port + UART_MCR);

	status = hvcsim_host_call(HVCSIM_HOST_HELLO, 0, 0, 0);
	if (status) {
		pr_err("host mode: no hypervisor model answers at I/O port %#lx (%#llx)\n",
		       hvcsim_host_port, status);
		goto release;
	}
	ret = -ENOMEM;
	in = hvcsim_host_pages();
	out = hvcsim_host_pages();
	if (!in || !out)
		goto free;
	hyperv_pcpu_input_arg = in;
	hyperv_pcpu_output_arg = out;
	static_call_update(hv_hypercall, &hvcsim_host_hypercall);
	hv_curr_partition_type = type;
	pr_info("host mode: the hypervisor is the host's, behind I/O port %#lx; this kernel is its %s partition\n",
		hvcsim_host_port, hvcsim_partition_names[type]);
	return 0;

free:
	hvcsim_host_free_pages(in);
	hvcsim_host_free_pages(out);
release:
	release_region(hvcsim_host_port, HVCSIM_UART_PORTS);
	return ret;
}

/*
 * What hv_smp_prepare_cpus() (arch/x86/kernel/cpu/mshyperv.c) does on a
 * root partition, where mainline makes its boot deposits: add every
 * present logical processor but the boot one to the hypervisor, and
 * create a root VP for each, through mainline's hv_call_add_logical_proc()
 * and hv_call_create_vp(), which deposit through hv_call_deposit_pages()
 * whenever the hypervisor answers HV_STATUS_INSUFFICIENT_MEMORY. After a
 * kexec the processors exist already, and nothing is deposited. Where
 * mainline BUG()s on a failure to add a processor or create its VP, this
 * logs it; the tests fail on the log. hv_lp_exists() itself still BUG()s
 * when the host does not answer. An L1VH or guest partition makes none of
 * these calls (mainline sets hv_smp_prepare_cpus() on the root only).
 */
static void __init hvcsim_smp_prepare_cpus(unsigned int max_cpus)
{
	unsigned int cpu, added = 0;
	int ret;

	hvcsim_next_prepare_cpus(max_cpus);
	if (hvcsim_real_hypervisor() || hvcsim_host_init())
		return;
	hvcsim_host_ready = true;

	if (!hv_root_partition() || num_present_cpus() == 1 || hv_lp_exists(1))
		return;
	for_each_present_cpu(cpu) {
		if (!cpu)
			continue;
		ret = hv_call_add_logical_proc(numa_cpu_node(cpu), cpu,
					       cpu_physical_id(cpu));
		if (ret)
			pr_err("host mode: adding logical processor %u failed: %d\n",
			       cpu, ret);
		else
			added++;
	}
	ret = hv_call_notify_all_processors_started();
	if (ret)
		pr_err("host mode: notifying all processors started failed: %d\n",
		       ret);
	for_each_present_cpu(cpu) {
		if (!cpu)
			continue;
		ret = hv_call_create_vp(numa_cpu_node(cpu),
					hv_current_partition_id, cpu, cpu);
		if (ret)
			pr_err("host mode: creating root VP %u failed: %d\n",
			       cpu, ret);
	}
	pr_info("host mode: %u of %u logical processors added: %llu ordinary pages deposited\n",
		added, num_present_cpus() - 1, hv_deposit_gate_pages());
}

static bool hvcsim_host_mode(void)
{
	return hvcsim_host_port != 0;
}

/*
 * Withdraw as mshv does when it tears a partition down: through
 * mainline's hv_call_withdraw_memory(), whose hook hands each page the
 * hypervisor gives back to hvcarve's glue (hv_carve_withdrawn()).
 */
static int hvcsim_host_withdraw(u64 partition, u64 count)
{
	return hv_call_withdraw_memory(count, NUMA_NO_NODE, partition);
}

#else /* !(CONFIG_MSHV_ROOT=y && CONFIG_X86_64) */

/* Taken, to refuse it loudly at init rather than ignore it. */
module_param_named(host, hvcsim_host_port, ulong, 0444);
MODULE_PARM_DESC(host, "host mode: needs MSHV_ROOT=y on x86_64");

static const bool hvcsim_host_ready;

static int hvcsim_host_withdraw(u64 partition, u64 count)
{
	return -EOPNOTSUPP;
}

static bool hvcsim_host_mode(void)
{
	return hvcsim_host_port != 0;
}

#endif

/*
 * hvcarve_sim.boot_deposit=N,P: deposit N pages for partition P while the
 * kernel boots, as a root partition does for its logical processors in
 * smp_prepare_cpus() (before the simulator exists, so the simulator does
 * it at its own init, still before user space runs).
 */
static u32 hvcsim_boot_pages;
static u64 hvcsim_boot_partition;

static int hvcsim_boot_deposit_set(const char *val,
				   const struct kernel_param *kp)
{
	char buf[HVCSIM_CMD_MAX], *comma;

	if (strscpy(buf, val, sizeof(buf)) < 0)
		return -EINVAL;
	comma = strchr(buf, ',');
	if (!comma)
		return -EINVAL;
	*comma = '\0';
	if (kstrtou32(buf, 0, &hvcsim_boot_pages) ||
	    kstrtou64(comma + 1, 0, &hvcsim_boot_partition)) {
		hvcsim_boot_pages = 0;
		return -EINVAL;
	}
	return 0;
}

static const struct kernel_param_ops hvcsim_boot_deposit_ops = {
	.set = hvcsim_boot_deposit_set,
};

module_param_cb(boot_deposit, &hvcsim_boot_deposit_ops, NULL, 0);
MODULE_PARM_DESC(boot_deposit,
		 "N,PARTITION: deposit N pages for PARTITION at init, as a root partition does at boot");

static int __init hvcsim_init(void)
{
	const char *refused = hvcsim_real_hypervisor();
	struct dentry *dir;
	int ret;

	if (refused) {
		pr_info("not used: a hypervisor that must not be simulated is present (%s), and the carveout pages it holds must not be read\n",
			refused);
		return 0;
	}

	if (hvcsim_host_mode()) {
		/* Set up at smp_prepare_cpus() time, or failed there. */
		if (!hvcsim_host_ready) {
			/* Built without it, nothing said so yet. */
			if (!IS_BUILTIN(CONFIG_MSHV_ROOT) ||
			    !IS_ENABLED(CONFIG_X86_64))
				pr_err("host mode needs MSHV_ROOT=y on x86_64: no backend\n");
			return 0;
		}
		hvcsim_scanned = true;	/* no ledger here to build */
		goto debugfs;
	}

	mutex_lock(&hvcsim_lock);
	/*
	 * Register first, and scan only if that worked: with a real
	 * hypervisor the carveout pages it holds must not be touched. Backend
	 * calls wait for hvcsim_lock until the ledger is built.
	 */
	ret = hv_carve_register_backend(&hvcsim_backend);
	if (ret) {
		mutex_unlock(&hvcsim_lock);
		pr_info("not used: deposit backend %s is registered\n",
			hv_carve_backend_name() ?: "(unknown)");
		return 0;
	}
	if (hvcarve_active()) {
		unsigned int i;

		for (i = 0; i < HVCARVE_MAX_REGIONS; i++)
			hvcsim_add_region(i);
	} else {
		pr_info("no active carveout: nothing to scan\n");
	}
	if (!hvcsim_lazy_scan)
		hvcsim_scan();
	mutex_unlock(&hvcsim_lock);

debugfs:
	dir = debugfs_create_dir("hvcarve_sim", NULL);
	debugfs_create_file("deposit", 0600, dir, NULL, &hvcsim_deposit_fops);
	debugfs_create_file("deposit_contig", 0600, dir, HVCSIM_CONTIG,
			    &hvcsim_deposit_fops);
	debugfs_create_file("stress", 0600, dir, NULL, &hvcsim_stress_fops);
	debugfs_create_file("withdraw", 0600, dir, NULL, &hvcsim_withdraw_fops);
	debugfs_create_file("partition", 0600, dir, NULL,
			    &hvcsim_partition_fops);
	debugfs_create_file("forget", 0600, dir, NULL, &hvcsim_forget_fops);
	debugfs_create_file("ledger", 0600, dir, NULL, &hvcsim_ledger_fops);
	/* The in-guest hypervisor's own files: not in host mode. */
	if (!hvcsim_host_mode()) {
		debugfs_create_file("hold", 0600, dir, NULL, &hvcsim_hold_fops);
		debugfs_create_file("scan", 0600, dir, NULL, &hvcsim_scan_fops);
		debugfs_create_file("fail", 0600, dir, NULL, &hvcsim_fail_fops);
		debugfs_create_file("inject", 0600, dir, NULL,
				    &hvcsim_inject_fops);
	}

	if (hvcsim_boot_pages) {
		ret = hv_carve_deposit_pages(NUMA_NO_NODE, hvcsim_boot_partition,
					     hvcsim_boot_pages);
		pr_info("boot deposit of %u pages for partition %llu: %d; %llu ordinary pages deposited\n",
			hvcsim_boot_pages, hvcsim_boot_partition, ret,
			hv_deposit_gate_pages());
	}
	return 0;
}
late_initcall(hvcsim_init);
