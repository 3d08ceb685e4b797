// SPDX-License-Identifier: GPL-2.0-only
/*
 * hvcarve: a fixed carveout for Microsoft Hypervisor deposits that survives
 * kexec into any kernel, old or new.
 *
 * "hvcarve=size@addr[,size@addr...]" names up to HVCARVE_MAX_REGIONS
 * physical ranges. They are marked E820_TYPE_RESERVED both in e820_table
 * (so this kernel never uses them) and in e820_table_kexec (so the e820 map
 * that either kexec syscall hands to the next kernel, and the
 * /sys/firmware/memmap that kexec-tools reads, say "reserved" too). Every
 * kernel understands a reserved e820 range, and passes it on unchanged, so
 * the protection reaches kernels that have never heard of hvcarve. No other
 * state is handed over.
 *
 * The kernel never reads or writes carveout memory. See
 * Documentation/hvcarve.rst.
 *
 * The page pool keeps one bitmap per region in ordinary kernel memory (a set
 * bit is a page that is not free: deposited by this kernel, or found held by
 * the hypervisor). After a kexec every page starts free ("not known to be
 * held"); a deposit the hypervisor refuses because it already holds the page
 * marks that page inherited.
 *
 * Locking:
 * - The region table (base, size, number of regions) is written once,
 *   single-threaded, by hvcarve_reserve() during setup_arch(), and is
 *   read-only afterwards: readers take no lock.
 * - Each region's bitmap, search hint and counters are protected by the
 *   region's spinlock, taken with interrupts saved because deposits may be
 *   made with interrupts disabled. Counters are only written under it; sysfs
 *   reads them with READ_ONCE() (64-bit loads are atomic on the 64-bit
 *   architectures hvcarve supports).
 * - The inherited set is an xarray per region, with its own lock.
 * - hvcarve_overflow_count is an atomic counter.
 */

#define pr_fmt(fmt) "hvcarve: " fmt

#include <linux/hvcarve.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/kexec.h>
#include <linux/kobject.h>
#include <linux/ioport.h>
#include <linux/memblock.h>
#include <linux/mm.h>
#include <linux/numa.h>
#include <linux/overflow.h>
#include <linux/pfn.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/ctype.h>
#include <linux/bitmap.h>
#include <linux/moduleparam.h>
#include <linux/ratelimit.h>
#include <linux/spinlock.h>
#include <linux/xarray.h>
#include <linux/crash_reserve.h>

#include <asm/e820/api.h>
#include <asm/sections.h>
#include <asm/setup.h>

/* Longest number we accept: "0x" and 16 hex digits, or 20 decimal digits. */
#define HVCARVE_NUM_MAX_LEN	20

/* Binary suffixes memparse() knows, in order: each is 2^10 times the last. */
static const char hvcarve_suffixes[] = "KMGTPE";
#define HVCARVE_SUFFIX_SHIFT	10

enum hvcarve_state {
	HVCARVE_DISABLED,	/* no hvcarve= on the command line */
	HVCARVE_ACTIVE,		/* every region reserved */
	HVCARVE_INVALID,	/* hvcarve= given but rejected: nothing reserved */
};

static const char * const hvcarve_state_names[] = {
	[HVCARVE_DISABLED] = "disabled",
	[HVCARVE_ACTIVE] = "active",
	[HVCARVE_INVALID] = "invalid",
};

/**
 * struct hvcarve_stats - per-region page counters, all in base pages
 * @free: pages in the pool
 * @deposited: pages this kernel deposited that are still deposited
 * @inherited: pages the hypervisor already held when this kernel tried them
 * @peak_deposited: highest @deposited + @inherited seen
 * @deposit_success: pages deposited, ever
 * @deposit_fail: pages a deposit asked for and did not get, ever
 * @withdrawn: pages the hypervisor gave back, ever
 */
struct hvcarve_stats {
	u64 free;
	u64 deposited;
	u64 inherited;
	u64 peak_deposited;
	u64 deposit_success;
	u64 deposit_fail;
	u64 withdrawn;
};

/**
 * struct hvcarve_region - one reserved carveout region
 * @base: physical start address
 * @size: length in bytes
 * @nid: NUMA node the range belongs to, set once NUMA is known
 * @res: the busy, exclusive "hvcarve" resource in /proc/iomem
 * @lock: protects @bitmap, @next and @stats
 * @bitmap: one bit per page, set when the page is not in the pool
 * @next: where the next search starts (next fit)
 * @stats: counters
 * @inherited: pages found held by the hypervisor (index: page offset)
 */
struct hvcarve_region {
	phys_addr_t base;
	phys_addr_t size;
	int nid;
	struct resource res;
	spinlock_t lock;	/* protects bitmap, next and stats */
	unsigned long *bitmap;
	unsigned long next;
	struct hvcarve_stats stats;
	struct xarray inherited;
};

static struct hvcarve_region hvcarve_regions[HVCARVE_MAX_REGIONS];
static unsigned int hvcarve_nr_regions;
static enum hvcarve_state hvcarve_state = HVCARVE_DISABLED;

/* Pool ready: bitmaps allocated. Set once, by hvcarve_pool_setup(). */
static bool hvcarve_pool_ready;

/* hvcarve.overflow=deny|allow: may deposits use ordinary RAM at exhaustion? */
static bool hvcarve_overflow;
static atomic64_t hvcarve_overflow_count = ATOMIC64_INIT(0);

static int hvcarve_overflow_set(const char *val, const struct kernel_param *kp)
{
	if (sysfs_streq(val, "deny"))
		hvcarve_overflow = false;
	else if (sysfs_streq(val, "allow"))
		hvcarve_overflow = true;
	else
		return -EINVAL;
	return 0;
}

static int hvcarve_overflow_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n", hvcarve_overflow ? "allow" : "deny");
}

static const struct kernel_param_ops hvcarve_overflow_ops = {
	.set = hvcarve_overflow_set,
	.get = hvcarve_overflow_get,
};
module_param_cb(overflow, &hvcarve_overflow_ops, NULL, 0444);
MODULE_PARM_DESC(overflow,
		 "At carveout exhaustion: deny (default) fails the deposit, allow uses ordinary RAM and blocks kexec until it is withdrawn");

/*
 * What the hvcarve= parameters asked for, before it is checked against the
 * memory map. Every parameter's text is remembered for the error messages.
 */
static struct hvcarve_range hvcarve_pending[HVCARVE_MAX_REGIONS] __initdata;
static char *hvcarve_pending_text[HVCARVE_MAX_REGIONS] __initdata;
static unsigned int hvcarve_nr_pending __initdata;
static bool hvcarve_seen __initdata;
static bool hvcarve_rejected __initdata;

static bool hvcarve_overlap(u64 base1, u64 size1, u64 base2, u64 size2)
{
	return base1 < base2 + size2 && base2 < base1 + size1;
}

/*
 * Parse one memparse()-style number ("64M", "0x3a000000", "1G") at @s, and
 * leave *@end after it. Unlike memparse(), overflow is an error.
 */
static int hvcarve_parse_u64(const char *s, const char **end, u64 *val)
{
	char buf[HVCARVE_NUM_MAX_LEN + 1];
	const char *p = s;
	const char *suffix;
	size_t len;
	int ret;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		p += 2;
		while (isxdigit(*p))
			p++;
	} else {
		while (isdigit(*p))
			p++;
	}
	len = p - s;
	if (!len)
		return -EINVAL;
	if (len > HVCARVE_NUM_MAX_LEN)
		return -ERANGE;
	memcpy(buf, s, len);
	buf[len] = '\0';
	ret = kstrtoull(buf, 0, val);
	if (ret)
		return ret;

	suffix = *p ? strchr(hvcarve_suffixes, toupper(*p)) : NULL;
	if (suffix) {
		unsigned int shift = (suffix - hvcarve_suffixes + 1) *
				     HVCARVE_SUFFIX_SHIFT;

		if (*val > (U64_MAX >> shift))
			return -ERANGE;
		*val <<= shift;
		p++;
	}
	*end = p;
	return 0;
}

/**
 * hvcarve_parse() - parse the value of one hvcarve= parameter
 * @str: the text after "hvcarve=", e.g. "64M@0x3a000000,32M@2G"
 * @ranges: table of HVCARVE_MAX_REGIONS entries to append to
 * @nr: number of entries already in @ranges; updated on success. On
 *	failure it is the index of the element that was rejected.
 * @reason: set to a static description of the problem on failure
 *
 * Each element is size@address in memparse() notation (decimal or 0x hex,
 * optional K/M/G/T/P/E suffix). Sizes and addresses must be page aligned,
 * non-zero in size, inside the physical address space, and the new ranges
 * may overlap neither each other nor the ones already in @ranges. Nothing
 * is appended unless the whole string is valid.
 *
 * Context: any; does not sleep and touches no global state.
 * Return: 0 on success, -EINVAL for a malformed or unsafe element, -E2BIG
 * when the table would hold more than HVCARVE_MAX_REGIONS ranges.
 */
int hvcarve_parse(const char *str, struct hvcarve_range *ranges,
		  unsigned int *nr, const char **reason)
{
	const u64 phys_limit = BIT_ULL(MAX_PHYSMEM_BITS);
	unsigned int n = *nr, i;
	const char *p = str;
	u64 end;
	int ret;

	if (!str || !*str) {
		*reason = "empty parameter, expected size@address[,size@address...]";
		return -EINVAL;
	}

	for (;;) {
		struct hvcarve_range r;

		if (n >= HVCARVE_MAX_REGIONS) {
			*nr = n;
			*reason = "more than " __stringify(HVCARVE_MAX_REGIONS) " regions";
			return -E2BIG;
		}
		*nr = n;
		if (*p == ',' || !*p) {
			*reason = "empty region, expected size@address";
			return -EINVAL;
		}
		if (*p == '@') {
			*reason = "missing size before '@'";
			return -EINVAL;
		}
		ret = hvcarve_parse_u64(p, &p, &r.size);
		if (ret) {
			*reason = ret == -ERANGE ? "size does not fit in 64 bits" :
				  "size is not a number";
			return -EINVAL;
		}
		if (*p != '@') {
			*reason = *p && *p != ',' ? "garbage after the size" :
				  "missing '@address' after the size";
			return -EINVAL;
		}
		p++;
		if (!*p || *p == ',') {
			*reason = "missing address after '@'";
			return -EINVAL;
		}
		ret = hvcarve_parse_u64(p, &p, &r.base);
		if (ret) {
			*reason = ret == -ERANGE ? "address does not fit in 64 bits" :
				  "address is not a number";
			return -EINVAL;
		}
		if (*p && *p != ',') {
			*reason = "garbage after the address";
			return -EINVAL;
		}
		if (!r.size) {
			*reason = "size is zero";
			return -EINVAL;
		}
		if (!PAGE_ALIGNED(r.size)) {
			*reason = "size is not a multiple of the page size";
			return -EINVAL;
		}
		if (!PAGE_ALIGNED(r.base)) {
			*reason = "address is not page aligned";
			return -EINVAL;
		}
		if (check_add_overflow(r.base, r.size, &end)) {
			*reason = "size + address overflows";
			return -EINVAL;
		}
		if (end > phys_limit) {
			*reason = "region ends beyond the physical address space";
			return -EINVAL;
		}
		for (i = 0; i < n; i++) {
			if (hvcarve_overlap(r.base, r.size, ranges[i].base,
					    ranges[i].size)) {
				*reason = "region overlaps another hvcarve region";
				return -EINVAL;
			}
		}
		ranges[n++] = r;
		if (!*p)
			break;
		p++;
	}
	*nr = n;
	return 0;
}

/* Length of one "size@address" element of a parameter. */
static int __init hvcarve_elem_len(const char *s)
{
	return s ? strchrnul(s, ',') - s : 0;
}

/*
 * hvcarve= may be given more than once: all the parameters together make one
 * carveout (at most HVCARVE_MAX_REGIONS regions in all), and if any of them
 * is rejected, none is applied.
 */
static int __init hvcarve_setup(char *str)
{
	struct hvcarve_range ranges[HVCARVE_MAX_REGIONS];
	unsigned int first = hvcarve_nr_pending, nr = first, i;
	const char *reason = NULL;
	char *elem;

	hvcarve_seen = true;
	if (hvcarve_rejected)
		return 0;

	memcpy(ranges, hvcarve_pending, sizeof(ranges));
	if (hvcarve_parse(str, ranges, &nr, &reason)) {
		/* Find the text of the element that failed. */
		elem = str;
		for (i = first; elem && i < nr; i++) {
			elem = strchr(elem, ',');
			if (elem)
				elem++;
		}
		pr_err("rejecting \"hvcarve=%s\": \"%.*s\": %s\n",
		       str ?: "", hvcarve_elem_len(elem), elem ?: "", reason);
		hvcarve_rejected = true;
		return 0;
	}

	elem = str;
	for (i = first; i < nr; i++) {
		hvcarve_pending[i] = ranges[i];
		hvcarve_pending_text[i] = elem;
		elem = strchrnul(elem, ',') + 1;
	}
	hvcarve_nr_pending = nr;
	return 0;
}
early_param("hvcarve", hvcarve_setup);

/* Is [base, base + size) inside the union of all requested regions? */
static bool __init hvcarve_within_pending(u64 base, u64 size)
{
	u64 cur = base, end = base + size;
	unsigned int i;

	while (cur < end) {
		for (i = 0; i < hvcarve_nr_pending; i++) {
			const struct hvcarve_range *r = &hvcarve_pending[i];

			if (r->base <= cur && cur < r->base + r->size)
				break;
		}
		if (i == hvcarve_nr_pending)
			return false;
		cur = hvcarve_pending[i].base + hvcarve_pending[i].size;
	}
	return true;
}

static const struct e820_entry * __init
hvcarve_e820_lookup(const struct e820_table *table, u64 addr)
{
	u32 i;

	for (i = 0; i < table->nr_entries; i++) {
		const struct e820_entry *e = &table->entries[i];

		if (e->addr <= addr && addr - e->addr < e->size)
			return e;
	}
	return NULL;
}

/* Room for one reason a region is refused. */
#define HVCARVE_WHY_LEN		160

/*
 * Check @r against the boot memory map, @firmware, and against the map this
 * kernel will use after the other early parameters (memmap=) edited it,
 * @current_map. Every byte must be RAM or already reserved. A reserved range
 * is accepted only where it lies wholly inside the requested carveout: that
 * is what a carveout inherited from the previous kernel looks like. (hvcarve
 * cannot tell it from a firmware reservation of exactly the same extent.)
 */
static bool __init hvcarve_check_map(const struct hvcarve_range *r,
				     const struct e820_table *firmware,
				     const struct e820_table *current_map,
				     bool *inherited, char *why)
{
	u64 cur = r->base, end = r->base + r->size;
	const struct e820_entry *e;

	*inherited = false;
	while (cur < end) {
		e = hvcarve_e820_lookup(firmware, cur);
		if (!e) {
			snprintf(why, HVCARVE_WHY_LEN,
				 "%#llx is not in the boot memory map (a hole, or beyond RAM)",
				 cur);
			return false;
		}
		if (e->type == E820_TYPE_RESERVED) {
			if (!hvcarve_within_pending(e->addr, e->size)) {
				snprintf(why, HVCARVE_WHY_LEN,
					 "overlaps reserved [mem %#018llx-%#018llx] of the boot memory map",
					 e->addr, e->addr + e->size - 1);
				return false;
			}
			*inherited = true;
		} else if (e->type != E820_TYPE_RAM) {
			snprintf(why, HVCARVE_WHY_LEN,
				 "overlaps [mem %#018llx-%#018llx] of e820 type %u, which is not RAM",
				 e->addr, e->addr + e->size - 1, e->type);
			return false;
		}
		cur = min(end, e->addr + e->size);
	}

	for (cur = r->base; cur < end; cur = min(end, e->addr + e->size)) {
		e = hvcarve_e820_lookup(current_map, cur);
		if (!e || (e->type != E820_TYPE_RAM &&
			   e->type != E820_TYPE_RESERVED)) {
			snprintf(why, HVCARVE_WHY_LEN,
				 "%#llx was made unusable by a memmap= parameter", cur);
			return false;
		}
	}
	return true;
}

static bool __init hvcarve_check_in_use(const struct hvcarve_range *r,
					char *why)
{
	u64 kstart = __pa_symbol(_text), kend = __pa_symbol(_end);
	u64 rd_start = boot_params.hdr.ramdisk_image |
		       ((u64)boot_params.ext_ramdisk_image << 32);
	u64 rd_size = boot_params.hdr.ramdisk_size |
		      ((u64)boot_params.ext_ramdisk_size << 32);

	if (hvcarve_overlap(r->base, r->size, kstart, kend - kstart)) {
		snprintf(why, HVCARVE_WHY_LEN,
			 "overlaps the kernel image [mem %#018llx-%#018llx]",
			 kstart, kend - 1);
		return false;
	}
	if (rd_size && hvcarve_overlap(r->base, r->size, rd_start, rd_size)) {
		snprintf(why, HVCARVE_WHY_LEN,
			 "overlaps the initrd [mem %#018llx-%#018llx]",
			 rd_start, rd_start + rd_size - 1);
		return false;
	}
	if (memblock_is_region_reserved(r->base, r->size)) {
		snprintf(why, HVCARVE_WHY_LEN,
			 "overlaps memory reserved during early boot (setup_data, BIOS or firmware data)");
		return false;
	}
	return true;
}

/*
 * A crashkernel=size@offset in the carveout cannot be reserved (memblock no
 * longer has that memory) and must not be: the carveout wins. Say so in
 * hvcarve's words, next to the crash kernel's own "reservation failed".
 */
static void __init hvcarve_check_crashkernel(void)
{
	unsigned long long size = 0, base = 0;
	unsigned int i;

	if (!IS_ENABLED(CONFIG_CRASH_RESERVE))
		return;
	if (parse_crashkernel(boot_command_line, PFN_PHYS(e820__end_of_ram_pfn()),
			      &size, &base, NULL, NULL, NULL) || !size || !base)
		return;
	for (i = 0; i < hvcarve_nr_regions; i++) {
		const struct hvcarve_region *reg = &hvcarve_regions[i];

		if (!hvcarve_overlap(base, size, reg->base, reg->size))
			continue;
		pr_err("crashkernel= [mem %#018llx-%#018llx] overlaps carveout region %u [mem %#018llx-%#018llx]: no crash kernel memory will be reserved, the carveout is kept\n",
		       base, base + size - 1, i, (u64)reg->base,
		       (u64)(reg->base + reg->size - 1));
		return;
	}
}

/**
 * hvcarve_reserve() - check the hvcarve= regions and reserve them
 *
 * Called by setup_arch() after parse_early_param() and before the e820 map
 * is handed to memblock. Either every region is marked E820_TYPE_RESERVED in
 * e820_table and e820_table_kexec, or, if any region is unsafe, none is and
 * the carveout stays off. e820_table_firmware is left alone.
 *
 * Context: early boot, single-threaded.
 */
void __init hvcarve_reserve(void)
{
	static char why[HVCARVE_WHY_LEN] __initdata;
	bool inherited[HVCARVE_MAX_REGIONS];
	unsigned int i;

	if (!hvcarve_seen)
		return;
	if (hvcarve_rejected || !hvcarve_nr_pending)
		goto reject;

	/*
	 * memmap= adds entries without resolving overlaps; that is left to
	 * e820__finish_early_params(). Resolve them now (it is idempotent) so
	 * that each address has one type.
	 */
	e820__update_table(e820_table);

	for (i = 0; i < hvcarve_nr_pending; i++) {
		const struct hvcarve_range *r = &hvcarve_pending[i];

		if (!hvcarve_check_map(r, e820_table_firmware, e820_table,
				       &inherited[i], why) ||
		    !hvcarve_check_in_use(r, why)) {
			pr_err("rejecting hvcarve region \"%.*s\" [mem %#018llx-%#018llx]: %s\n",
			       hvcarve_elem_len(hvcarve_pending_text[i]),
			       hvcarve_pending_text[i], r->base,
			       r->base + r->size - 1, why);
			goto reject;
		}
	}

	for (i = 0; i < hvcarve_nr_pending; i++) {
		const struct hvcarve_range *r = &hvcarve_pending[i];
		struct hvcarve_region *reg = &hvcarve_regions[i];

		e820__range_update(r->base, r->size, E820_TYPE_RAM,
				   E820_TYPE_RESERVED);
		e820__range_update_table(e820_table_kexec, r->base, r->size,
					 E820_TYPE_RAM, E820_TYPE_RESERVED);
		reg->base = r->base;
		reg->size = r->size;
		reg->nid = NUMA_NO_NODE;
		pr_info("region %u: [mem %#018llx-%#018llx] %llu MiB reserved%s\n",
			i, r->base, r->base + r->size - 1, r->size >> 20,
			inherited[i] ? " (already reserved in the boot memory map)" : "");
	}
	hvcarve_nr_regions = hvcarve_nr_pending;
	e820__update_table(e820_table_kexec);
	e820__update_table_print();
	hvcarve_state = HVCARVE_ACTIVE;
	hvcarve_check_crashkernel();
	return;

reject:
	hvcarve_state = HVCARVE_INVALID;
	pr_err("carveout disabled: no memory reserved, deposits will fail\n");
}

/**
 * hvcarve_requested() - was a carveout asked for on the command line?
 *
 * Deposit paths use this to fail closed: when hvcarve= was given but
 * rejected, deposits must fail rather than fall back to ordinary RAM.
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
 * page pool is initialised.
 */
bool hvcarve_active(void)
{
	return hvcarve_state == HVCARVE_ACTIVE && READ_ONCE(hvcarve_pool_ready);
}

/**
 * hvcarve_pfn_in_carveout() - does a page frame belong to the carveout?
 * @pfn: page frame number
 *
 * Decided by physical address alone, never by pfn_valid() or struct page:
 * carveout pages may have no struct page at all.
 *
 * Context: any.
 * Return: true if @pfn lies in one of the reserved regions.
 */
bool hvcarve_pfn_in_carveout(unsigned long pfn)
{
	phys_addr_t addr = PFN_PHYS(pfn);
	unsigned int i;

	for (i = 0; i < hvcarve_nr_regions; i++) {
		const struct hvcarve_region *reg = &hvcarve_regions[i];

		if (addr >= reg->base && addr - reg->base < reg->size)
			return true;
	}
	return false;
}

/* The page pool */

static unsigned long hvcarve_region_pages(const struct hvcarve_region *reg)
{
	return PHYS_PFN(reg->size);
}

static struct hvcarve_region *hvcarve_pfn_region(u64 pfn, unsigned long *idx)
{
	phys_addr_t addr = PFN_PHYS(pfn);
	unsigned int i;

	for (i = 0; i < hvcarve_nr_regions; i++) {
		struct hvcarve_region *reg = &hvcarve_regions[i];

		if (addr >= reg->base && addr - reg->base < reg->size) {
			*idx = PHYS_PFN(addr - reg->base);
			return reg;
		}
	}
	return NULL;
}

/* Caller holds reg->lock. */
static void hvcarve_update_peak(struct hvcarve_region *reg)
{
	u64 held = reg->stats.deposited + reg->stats.inherited;

	if (held > reg->stats.peak_deposited)
		WRITE_ONCE(reg->stats.peak_deposited, held);
}

/*
 * Take up to @nr free pages from @reg, longest runs first from the search
 * hint (next fit), so that consecutive deposits get consecutive pages and a
 * search costs O(@nr) while the region is not fragmented.
 */
static unsigned long hvcarve_region_alloc(struct hvcarve_region *reg,
					  u64 *pfns, unsigned long nr)
{
	unsigned long npages = hvcarve_region_pages(reg);
	unsigned long base_pfn = PHYS_PFN(reg->base);
	unsigned long got = 0, start, end, pos, flags;
	bool wrapped = false;

	spin_lock_irqsave(&reg->lock, flags);
	pos = reg->next;
	while (got < nr && reg->stats.free) {
		start = find_next_zero_bit(reg->bitmap, npages, pos);
		if (start >= npages) {
			if (wrapped)
				break;
			wrapped = true;
			pos = 0;
			continue;
		}
		end = find_next_bit(reg->bitmap, npages, start);
		end = min(end, start + (nr - got));
		bitmap_set(reg->bitmap, start, end - start);
		for (pos = start; pos < end; pos++)
			pfns[got++] = base_pfn + pos;
		reg->stats.free -= end - start;
		if (pos >= npages) {
			if (wrapped)
				break;
			wrapped = true;
			pos = 0;
		}
	}
	reg->next = pos < npages ? pos : 0;
	spin_unlock_irqrestore(&reg->lock, flags);
	return got;
}

/**
 * hvcarve_pool_setup() - allocate the page pool's bitmaps
 *
 * Called by setup_arch() right after e820__memblock_setup(), so that the
 * pool is ready before anything can deposit: a root partition deposits
 * pages for its logical processors in smp_prepare_cpus(), before any
 * initcall runs. One bitmap per region, all or none; without them the pool
 * stays off and deposits fail.
 *
 * Context: early boot, single-threaded, memblock available.
 */
void __init hvcarve_pool_setup(void)
{
	unsigned int i;

	for (i = 0; i < hvcarve_nr_regions; i++) {
		struct hvcarve_region *reg = &hvcarve_regions[i];
		unsigned long npages = hvcarve_region_pages(reg);

		spin_lock_init(&reg->lock);
		xa_init(&reg->inherited);
		reg->bitmap = memblock_alloc(BITS_TO_LONGS(npages) * sizeof(long),
					     SMP_CACHE_BYTES);
		if (!reg->bitmap)
			goto fail;
		reg->stats.free = npages;
	}
	if (hvcarve_nr_regions)
		hvcarve_pool_ready = true;
	return;

fail:
	pr_err("no memory for the page bitmaps: pool disabled, deposits will fail\n");
	for (i = 0; i < hvcarve_nr_regions; i++) {
		struct hvcarve_region *reg = &hvcarve_regions[i];

		if (reg->bitmap)
			memblock_free(reg->bitmap,
				      BITS_TO_LONGS(hvcarve_region_pages(reg)) * sizeof(long));
		reg->bitmap = NULL;
		reg->stats.free = 0;
	}
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
	if (i >= hvcarve_nr_regions)
		return -ENOENT;
	range->base = hvcarve_regions[i].base;
	range->size = hvcarve_regions[i].size;
	return 0;
}

/**
 * hvcarve_overflow_pages() - ordinary pages deposited now
 *
 * Return: the number of overflow pages the hypervisor holds.
 */
s64 hvcarve_overflow_pages(void)
{
	return atomic64_read(&hvcarve_overflow_count);
}

/**
 * hvcarve_alloc_pages() - take pages out of the carveout pool
 * @nid: preferred NUMA node, or NUMA_NO_NODE
 * @pfns: array of at least @nr entries that receives the page frame numbers
 * @nr: number of pages wanted
 *
 * The pages need not be contiguous, but runs are preferred. Regions on @nid
 * are used first, then the others. The pages stay out of the pool until
 * they are given back with hvcarve_release_pages() (not deposited after all)
 * or hvcarve_withdrawn() (deposited, then withdrawn). Never returns pages
 * outside the carveout.
 *
 * Context: any; takes region spinlocks with interrupts saved.
 * Return: the number of pages stored in @pfns; less than @nr when the pool
 * is exhausted.
 */
unsigned long hvcarve_alloc_pages(int nid, u64 *pfns, unsigned long nr)
{
	unsigned long got = 0;
	unsigned int pass, i;

	if (!hvcarve_active())
		return 0;

	/* Pass 0: regions on @nid. Pass 1: every other region. */
	for (pass = 0; pass < 2 && got < nr; pass++) {
		for (i = 0; i < hvcarve_nr_regions && got < nr; i++) {
			struct hvcarve_region *reg = &hvcarve_regions[i];
			bool local = nid == NUMA_NO_NODE || reg->nid == nid;

			if (local != !pass)
				continue;
			got += hvcarve_region_alloc(reg, pfns + got, nr - got);
		}
	}
	return got;
}

/* Give one page back to the pool; caller holds reg->lock. */
static bool hvcarve_region_free(struct hvcarve_region *reg, unsigned long idx)
{
	if (!test_and_clear_bit(idx, reg->bitmap))
		return false;
	reg->stats.free++;
	return true;
}

/**
 * hvcarve_release_pages() - return pages that were allocated but not deposited
 * @pfns: page frame numbers from hvcarve_alloc_pages()
 * @nr: number of entries in @pfns
 *
 * Used on deposit error paths. Releasing a page that is already free, or
 * one outside the carveout, is a bug: it is reported once and ignored, and
 * the pool is left as it was.
 *
 * Context: any.
 */
void hvcarve_release_pages(const u64 *pfns, unsigned long nr)
{
	unsigned long i, idx, flags;

	for (i = 0; i < nr; i++) {
		struct hvcarve_region *reg = hvcarve_pfn_region(pfns[i], &idx);
		bool freed;

		if (WARN_ONCE(!reg, "hvcarve: release of pfn %#llx outside the carveout\n",
			      pfns[i]))
			continue;
		spin_lock_irqsave(&reg->lock, flags);
		freed = hvcarve_region_free(reg, idx);
		spin_unlock_irqrestore(&reg->lock, flags);
		WARN_ONCE(!freed, "hvcarve: double release of pfn %#llx\n", pfns[i]);
	}
}

/**
 * hvcarve_deposit_done() - account pages the hypervisor accepted
 * @pfns: page frame numbers from hvcarve_alloc_pages()
 * @nr: number of entries in @pfns
 *
 * Context: any.
 */
void hvcarve_deposit_done(const u64 *pfns, unsigned long nr)
{
	unsigned long i, idx, flags;

	for (i = 0; i < nr; i++) {
		struct hvcarve_region *reg = hvcarve_pfn_region(pfns[i], &idx);

		if (WARN_ON_ONCE(!reg))
			continue;
		spin_lock_irqsave(&reg->lock, flags);
		reg->stats.deposited++;
		reg->stats.deposit_success++;
		hvcarve_update_peak(reg);
		spin_unlock_irqrestore(&reg->lock, flags);
	}
}

/**
 * hvcarve_deposit_failed() - account pages a deposit could not provide
 * @nid: node the deposit asked for, used when @pfns is NULL
 * @pfns: the pages the hypervisor refused, or NULL when the pool ran out
 * @nr: number of pages
 *
 * Failures with pages are counted in the pages' regions; a shortfall of
 * the pool is counted in the first region on @nid (or region 0).
 *
 * Context: any.
 */
void hvcarve_deposit_failed(int nid, const u64 *pfns, unsigned long nr)
{
	struct hvcarve_region *reg = NULL;
	unsigned long i, idx, flags;

	if (!hvcarve_nr_regions || !nr)
		return;
	if (pfns) {
		for (i = 0; i < nr; i++) {
			reg = hvcarve_pfn_region(pfns[i], &idx);
			if (WARN_ON_ONCE(!reg))
				continue;
			spin_lock_irqsave(&reg->lock, flags);
			reg->stats.deposit_fail++;
			spin_unlock_irqrestore(&reg->lock, flags);
		}
		return;
	}
	for (i = 0; i < hvcarve_nr_regions && !reg; i++)
		if (hvcarve_regions[i].nid == nid)
			reg = &hvcarve_regions[i];
	if (!reg)
		reg = &hvcarve_regions[0];
	spin_lock_irqsave(&reg->lock, flags);
	reg->stats.deposit_fail += nr;
	spin_unlock_irqrestore(&reg->lock, flags);
}

/**
 * hvcarve_mark_inherited() - record a page the hypervisor already holds
 * @pfn: a page from hvcarve_alloc_pages() that a deposit was refused for
 *
 * After a kexec nothing tells the new kernel which carveout pages the
 * hypervisor holds. A deposit of such a page is refused; the page then stays
 * out of the pool, counted as inherited, until the hypervisor withdraws it.
 *
 * Context: process context (may allocate).
 */
void hvcarve_mark_inherited(u64 pfn)
{
	unsigned long idx, flags;
	struct hvcarve_region *reg = hvcarve_pfn_region(pfn, &idx);

	if (WARN_ON_ONCE(!reg))
		return;
	/*
	 * If the xarray cannot record it, the page is still kept out of the
	 * pool (the safe side); only a later withdrawal counts it wrongly.
	 */
	if (xa_err(xa_store(&reg->inherited, idx, xa_mk_value(1), GFP_KERNEL)))
		pr_warn_ratelimited("cannot record inherited pfn %#llx\n", pfn);
	spin_lock_irqsave(&reg->lock, flags);
	reg->stats.inherited++;
	hvcarve_update_peak(reg);
	spin_unlock_irqrestore(&reg->lock, flags);
}

/**
 * hvcarve_withdrawn() - take back a page the hypervisor returned
 * @pfn: page frame number from a withdraw hypercall
 *
 * Carveout pages go back to the pool, never to the page allocator: a
 * whole-section carveout has no struct page at all. The caller frees
 * other pages itself.
 *
 * Context: any.
 * Return: true if @pfn is a carveout page (and is now in the pool).
 */
bool hvcarve_withdrawn(u64 pfn)
{
	unsigned long idx, flags;
	struct hvcarve_region *reg = hvcarve_pfn_region(pfn, &idx);
	bool was_inherited, freed;

	if (!reg)
		return false;
	/* A carveout page, but no pool: keep it out of the page allocator. */
	if (!READ_ONCE(hvcarve_pool_ready))
		return true;
	was_inherited = xa_erase(&reg->inherited, idx);
	spin_lock_irqsave(&reg->lock, flags);
	freed = hvcarve_region_free(reg, idx);
	if (freed && was_inherited)
		reg->stats.inherited--;
	else if (freed)
		reg->stats.deposited--;
	/* !freed: held since before the kexec and never tried; now free. */
	reg->stats.withdrawn++;
	spin_unlock_irqrestore(&reg->lock, flags);
	return true;
}

/**
 * hvcarve_overflow_allowed() - may deposits use ordinary RAM when the pool is empty?
 *
 * Return: true if booted with hvcarve.overflow=allow.
 */
bool hvcarve_overflow_allowed(void)
{
	return READ_ONCE(hvcarve_overflow);
}

/**
 * hvcarve_overflow_add() - count ordinary pages deposited (or withdrawn)
 * @nr: pages deposited (positive) or withdrawn (negative)
 *
 * While any overflow page is deposited, kexec is refused: the next kernel
 * would treat those pages as free RAM.
 *
 * Context: any.
 */
void hvcarve_overflow_add(long nr)
{
	atomic64_add(nr, &hvcarve_overflow_count);
}

/**
 * hvcarve_kexec_check() - refuse a kexec image that would land in the carveout
 * @image: the image being loaded, by either kexec syscall
 *
 * kexec_load() trusts user space about where segments go, and kexec-tools
 * places them anywhere /sys/firmware/memmap calls RAM. A segment in the
 * carveout would overwrite hypervisor-owned pages when the image is copied.
 *
 * Deposited ordinary (overflow) pages would be free RAM to the next kernel,
 * so no kexec image may be loaded while there are any.
 *
 * Context: process context, kexec_mutex held by the caller.
 * Return: 0; -EBUSY while overflow pages are deposited; -EADDRNOTAVAIL if a
 * segment overlaps a carveout region.
 */
int hvcarve_kexec_check(struct kimage *image)
{
	s64 overflow = hvcarve_overflow_pages();
	unsigned long i;
	unsigned int j;

	if (overflow > 0) {
		pr_err("kexec refused: %lld ordinary pages are deposited in the hypervisor (overflow); withdraw them first\n",
		       overflow);
		return -EBUSY;
	}

	for (i = 0; i < image->nr_segments; i++) {
		u64 mstart = boot_phys_to_phys(image->segment[i].mem);
		u64 msize = image->segment[i].memsz;

		if (!msize)
			continue;
		for (j = 0; j < hvcarve_nr_regions; j++) {
			const struct hvcarve_region *reg = &hvcarve_regions[j];

			if (!hvcarve_overlap(mstart, msize, reg->base, reg->size))
				continue;
			pr_err("kexec segment %lu [mem %#018llx-%#018llx] overlaps carveout region %u [mem %#018llx-%#018llx]: refused\n",
			       i, mstart, mstart + msize - 1, j,
			       (u64)reg->base, (u64)(reg->base + reg->size - 1));
			return -EADDRNOTAVAIL;
		}
	}
	return 0;
}

/* sysfs: /sys/kernel/mm/hvcarve/ */

struct hvcarve_kobject {
	struct kobject kobj;
	struct hvcarve_region *region;
};

static struct hvcarve_region *hvcarve_kobj_region(struct kobject *kobj)
{
	return container_of(kobj, struct hvcarve_kobject, kobj)->region;
}

static ssize_t base_show(struct kobject *kobj, struct kobj_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%#llx\n", (u64)hvcarve_kobj_region(kobj)->base);
}

static struct kobj_attribute base_attr = __ATTR_RO(base);

static ssize_t size_show(struct kobject *kobj, struct kobj_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%llu\n", (u64)hvcarve_kobj_region(kobj)->size);
}

static struct kobj_attribute size_attr = __ATTR_RO(size);

static ssize_t node_show(struct kobject *kobj, struct kobj_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%d\n", hvcarve_kobj_region(kobj)->nid);
}

static struct kobj_attribute node_attr = __ATTR_RO(node);

static ssize_t total_pages_show(struct kobject *kobj,
				struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  (u64)PHYS_PFN(hvcarve_kobj_region(kobj)->size));
}

static struct kobj_attribute total_pages_attr = __ATTR_RO(total_pages);

#define HVCARVE_STAT_ATTR(_name, _field)					\
static ssize_t _name##_show(struct kobject *kobj,				\
			    struct kobj_attribute *attr, char *buf)		\
{										\
	return sysfs_emit(buf, "%llu\n",					\
			  READ_ONCE(hvcarve_kobj_region(kobj)->stats._field));	\
}										\
static struct kobj_attribute _name##_attr = __ATTR_RO(_name)

HVCARVE_STAT_ATTR(free_pages, free);
HVCARVE_STAT_ATTR(deposited_pages, deposited);
HVCARVE_STAT_ATTR(inherited_pages, inherited);
HVCARVE_STAT_ATTR(peak_deposited_pages, peak_deposited);
HVCARVE_STAT_ATTR(deposit_success_pages, deposit_success);
HVCARVE_STAT_ATTR(deposit_fail_pages, deposit_fail);
HVCARVE_STAT_ATTR(withdrawn_pages, withdrawn);

static struct attribute *hvcarve_region_attrs[] = {
	&base_attr.attr,
	&size_attr.attr,
	&node_attr.attr,
	&total_pages_attr.attr,
	&free_pages_attr.attr,
	&deposited_pages_attr.attr,
	&inherited_pages_attr.attr,
	&peak_deposited_pages_attr.attr,
	&deposit_success_pages_attr.attr,
	&deposit_fail_pages_attr.attr,
	&withdrawn_pages_attr.attr,
	NULL,
};
ATTRIBUTE_GROUPS(hvcarve_region);

static void hvcarve_kobj_release(struct kobject *kobj)
{
	kfree(container_of(kobj, struct hvcarve_kobject, kobj));
}

static const struct kobj_type hvcarve_region_ktype = {
	.release = hvcarve_kobj_release,
	.sysfs_ops = &kobj_sysfs_ops,
	.default_groups = hvcarve_region_groups,
};

static ssize_t state_show(struct kobject *kobj, struct kobj_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%s\n", hvcarve_state_names[hvcarve_state]);
}

static struct kobj_attribute state_attr = __ATTR_RO(state);

static ssize_t overflow_pages_show(struct kobject *kobj,
				   struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n", hvcarve_overflow_pages());
}

static struct kobj_attribute overflow_pages_attr = __ATTR_RO(overflow_pages);

static ssize_t overflow_policy_show(struct kobject *kobj,
				    struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", hvcarve_overflow ? "allow" : "deny");
}

static struct kobj_attribute overflow_policy_attr = __ATTR_RO(overflow_policy);

static struct attribute *hvcarve_attrs[] = {
	&state_attr.attr,
	&overflow_pages_attr.attr,
	&overflow_policy_attr.attr,
	NULL,
};

static const struct attribute_group hvcarve_group = {
	.attrs = hvcarve_attrs,
};

static int hvcarve_region_nid(const struct hvcarve_region *reg)
{
	int nid = phys_to_target_node(reg->base);

	if (nid == NUMA_NO_NODE)
		nid = memory_add_physaddr_to_nid(reg->base);
	return nid == NUMA_NO_NODE ? first_online_node : nid;
}

static int __init hvcarve_late_init(void)
{
	struct kobject *top;
	unsigned int i;
	int ret;

	for (i = 0; i < hvcarve_nr_regions; i++) {
		struct hvcarve_region *reg = &hvcarve_regions[i];

		reg->nid = hvcarve_region_nid(reg);
		reg->res.name = "hvcarve";
		reg->res.start = reg->base;
		reg->res.end = reg->base + reg->size - 1;
		reg->res.flags = IORESOURCE_MEM | IORESOURCE_BUSY |
				 IORESOURCE_EXCLUSIVE;
		reg->res.desc = IORES_DESC_RESERVED;
		ret = insert_resource(&iomem_resource, &reg->res);
		if (ret)
			pr_warn("region %u: cannot claim [mem %#018llx-%#018llx] in /proc/iomem: %d\n",
				i, (u64)reg->base, (u64)(reg->base + reg->size - 1), ret);
	}

	top = kobject_create_and_add("hvcarve", mm_kobj);
	if (!top)
		return -ENOMEM;
	ret = sysfs_create_group(top, &hvcarve_group);
	if (ret)
		goto out_put;

	for (i = 0; i < hvcarve_nr_regions; i++) {
		struct hvcarve_kobject *hk = kzalloc(sizeof(*hk), GFP_KERNEL);

		if (!hk) {
			ret = -ENOMEM;
			goto out_put;
		}
		hk->region = &hvcarve_regions[i];
		ret = kobject_init_and_add(&hk->kobj, &hvcarve_region_ktype, top,
					   "region%u", i);
		if (ret) {
			kobject_put(&hk->kobj);
			goto out_put;
		}
	}
	return 0;

out_put:
	pr_err("cannot create /sys/kernel/mm/hvcarve: %d\n", ret);
	kobject_put(top);
	return ret;
}
subsys_initcall(hvcarve_late_init);

#ifdef CONFIG_HVCARVE_KUNIT_TEST
#include "hvcarve_test.c"
#endif
