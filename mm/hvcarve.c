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
 * Locking: the region table is written once, single-threaded, by
 * hvcarve_reserve() during setup_arch(), and is read-only afterwards, so
 * readers need no lock.
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
 * struct hvcarve_region - one reserved carveout region
 * @base: physical start address
 * @size: length in bytes
 * @nid: NUMA node the range belongs to, set once NUMA is known
 * @res: the busy, exclusive "hvcarve" resource in /proc/iomem
 */
struct hvcarve_region {
	phys_addr_t base;
	phys_addr_t size;
	int nid;
	struct resource res;
};

static struct hvcarve_region hvcarve_regions[HVCARVE_MAX_REGIONS];
static unsigned int hvcarve_nr_regions;
static enum hvcarve_state hvcarve_state = HVCARVE_DISABLED;

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
	return;

reject:
	hvcarve_state = HVCARVE_INVALID;
	pr_err("carveout disabled: no memory reserved, deposits will fail\n");
}

/**
 * hvcarve_active() - is a carveout reserved?
 *
 * Return: true if hvcarve= was accepted and its regions are reserved.
 */
bool hvcarve_active(void)
{
	return hvcarve_state == HVCARVE_ACTIVE;
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

/**
 * hvcarve_kexec_check() - refuse a kexec image that would land in the carveout
 * @image: the image being loaded, by either kexec syscall
 *
 * kexec_load() trusts user space about where segments go, and kexec-tools
 * places them anywhere /sys/firmware/memmap calls RAM. A segment in the
 * carveout would overwrite hypervisor-owned pages when the image is copied.
 *
 * Context: process context, kexec_mutex held by the caller.
 * Return: 0, or -EADDRNOTAVAIL if a segment overlaps a carveout region.
 */
int hvcarve_kexec_check(struct kimage *image)
{
	unsigned long i;
	unsigned int j;

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

static struct attribute *hvcarve_region_attrs[] = {
	&base_attr.attr,
	&size_attr.attr,
	&node_attr.attr,
	&total_pages_attr.attr,
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

static struct attribute *hvcarve_attrs[] = {
	&state_attr.attr,
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
