// SPDX-License-Identifier: GPL-2.0-only
/*
 * hvcarve on x86: parse hvcarve=, check its regions against the e820 memory
 * map, and reserve them, as E820_TYPE_HVCARVE, both in e820_table (the map
 * this kernel uses) and in e820_table_kexec (what kexec_file_load() hands to
 * the next kernel, and what /sys/firmware/memmap shows to kexec-tools for
 * kexec_load()). The regions are then handed to the generic pool
 * (mm/hvcarve.c).
 *
 * Why a type of its own. A kernel that does not know the type (any kernel
 * without hvcarve, however old) treats the range as neither RAM nor a
 * device range: it never adds it to memblock, marks it busy in
 * /proc/iomem, and passes its boot map on to the next kernel with the type
 * unchanged through kexec_file_load() (e820_table_kexec is a copy of the
 * boot map). kexec-tools turns a range it does not know ("Unknown E820
 * type", or "Reserved" as this kernel names it) into E820_TYPE_RESERVED,
 * one e820 entry per /sys/firmware/memmap entry. So every later kernel
 * keeps its hands off the carveout.
 *
 * The type also tells this kernel, after a kexec, which reserved ranges
 * are an earlier kernel's carveout: e820__update_table() merges adjacent
 * entries of one type, so a carveout marked E820_TYPE_RESERVED next to a
 * firmware reservation would come back as one larger reserved range, and
 * could not be told from a firmware reservation inside the region. A
 * region's part of the boot map is accepted as inherited if it is
 * E820_TYPE_HVCARVE, or if the boot map the loader handed over
 * (boot_params.e820_table and any SETUP_E820_EXT blocks, before
 * sanitizing) has it as reserved entries
 * whose boundaries are exactly those of requested regions (kexec-tools
 * turns E820_TYPE_HVCARVE into such entries). Any other reservation inside
 * a region is a firmware one, and the carveout is refused.
 *
 * Everything here runs in setup_arch(), single-threaded: the parser in
 * parse_early_param(), the rest after it and efi_memblock_x86_reserve_range()
 * and before e820__memblock_setup().
 */

#define pr_fmt(fmt) "hvcarve: " fmt

#include <linux/crash_reserve.h>
#include <linux/efi.h>
#include <linux/hvcarve.h>
#include <linux/init.h>
#include <linux/io.h>
#include <linux/kernel.h>
#include <linux/memblock.h>
#include <linux/string.h>

#include <asm/e820/api.h>
#include <asm/sections.h>
#include <asm/setup.h>
#include <asm/setup_data.h>

/* Room for one reason a region is refused. */
#define HVCARVE_WHY_LEN		192

static char hvcarve_why[HVCARVE_WHY_LEN] __initdata;

/* Scratch copies: the tables change all at once, or not at all. */
static struct e820_table hvcarve_new_table __initdata;
static struct e820_table hvcarve_new_kexec __initdata;

/*
 * The regions the hvcarve= parameters ask for, in hvcarve= order, and the
 * text of each, for the error messages. hvcarve= may be given more than
 * once: all the parameters together make one carveout (at most
 * HVCARVE_MAX_REGIONS regions in all), and if any of them is rejected,
 * none is applied.
 */
static struct {
	struct hvcarve_range r[HVCARVE_MAX_REGIONS];
	const char *text[HVCARVE_MAX_REGIONS];
	unsigned int nr;
	bool rejected;
} hvcarve_req __initdata;

/* e820__reserve_hvcarve() reserved every region of hvcarve_req. */
static bool hvcarve_reserved __initdata;

/* Length of one "size@address" element of a parameter. */
static int __init hvcarve_elem_len(const char *s)
{
	return s ? strchrnul(s, ',') - s : 0;
}

static int __init hvcarve_setup(char *str)
{
	struct hvcarve_range ranges[HVCARVE_MAX_REGIONS];
	unsigned int first = hvcarve_req.nr, nr = first, i;
	const char *reason = NULL;
	char *elem;

	if (hvcarve_req.rejected)
		return 0;

	memcpy(ranges, hvcarve_req.r, sizeof(ranges));
	if (hvcarve_parse(str, ranges, &nr, &reason)) {
		/* Find the text of the element that failed. */
		elem = str;
		for (i = first; elem && i < nr; i++) {
			elem = strchr(elem, ',');
			if (elem)
				elem++;
		}
		hvcarve_refuse("rejecting \"hvcarve=%s\": \"%.*s\": %s",
			       str ?: "", hvcarve_elem_len(elem), elem ?: "",
			       reason);
		hvcarve_req.rejected = true;
		return 0;
	}

	elem = str;
	for (i = first; i < nr; i++) {
		hvcarve_req.r[i] = ranges[i];
		hvcarve_req.text[i] = elem;
		elem = strchrnul(elem, ',') + 1;
	}
	hvcarve_req.nr = nr;
	return 0;
}
early_param("hvcarve", hvcarve_setup);

/* Reject the carveout because of region @i: none of them is reserved. */
static void __init hvcarve_refuse_region(unsigned int i, const char *why)
{
	const struct hvcarve_range *r = &hvcarve_req.r[i];

	hvcarve_refuse("rejecting hvcarve region \"%.*s\" [mem %#018llx-%#018llx]: %s",
		       hvcarve_elem_len(hvcarve_req.text[i]),
		       hvcarve_req.text[i], r->base, r->base + r->size - 1,
		       why);
}

static const struct e820_entry * __init
hvcarve_lookup(const struct e820_table *table, u64 addr)
{
	u32 i;

	for (i = 0; i < table->nr_entries; i++) {
		const struct e820_entry *e = &table->entries[i];

		if (e->addr <= addr && addr - e->addr < e->size)
			return e;
	}
	return NULL;
}

/* Is [@start, @end) inside the union of the requested regions? */
static bool __init hvcarve_within_requested(u64 start, u64 end)
{
	u64 cur = start;
	unsigned int i;

	while (cur < end) {
		for (i = 0; i < hvcarve_req.nr; i++) {
			const struct hvcarve_range *r = &hvcarve_req.r[i];

			if (r->base <= cur && cur - r->base < r->size)
				break;
		}
		if (i == hvcarve_req.nr)
			return false;
		cur = hvcarve_req.r[i].base + hvcarve_req.r[i].size;
	}
	return true;
}

/*
 * Does [@start, @end) look exactly like the carveout of an earlier kernel:
 * it starts where a requested region starts, ends where one ends, and
 * holds nothing but requested regions?
 */
static bool __init hvcarve_carveout_shaped(u64 start, u64 end)
{
	bool starts = false, ends = false;
	unsigned int i;

	for (i = 0; i < hvcarve_req.nr; i++) {
		starts |= hvcarve_req.r[i].base == start;
		ends |= hvcarve_req.r[i].base + hvcarve_req.r[i].size == end;
	}
	return starts && ends && hvcarve_within_requested(start, end);
}

/*
 * The boot loader's own map, before sanitizing: the up to 128 entries of
 * boot_params.e820_table, then those of every SETUP_E820_EXT block of the
 * setup_data list, where a loader puts the entries that do not fit
 * (kexec-tools' kexec_load() does; parse_setup_data() reads them so).
 */
struct hvcarve_raw_iter {
	u32 i;		/* the next entry of boot_params.e820_table */
	u64 pa;		/* the setup_data block being read, or 0 */
	u32 j;		/* the next entry of that block */
	bool failed;	/* a block could not be mapped: the map is unknown */
};

static void __init hvcarve_raw_start(struct hvcarve_raw_iter *it)
{
	it->i = 0;
	it->pa = boot_params.hdr.setup_data;
	it->j = 0;
	it->failed = false;
}

/*
 * The next entry of the loader's map into @e; false after the last one, or
 * if a block cannot be mapped (then @it->failed is set).
 */
static bool __init hvcarve_raw_next(struct hvcarve_raw_iter *it,
				    struct boot_e820_entry *e)
{
	u32 n = min_t(u32, boot_params.e820_entries,
		      ARRAY_SIZE(boot_params.e820_table));
	struct setup_data *sd;
	u32 len, type;
	void *p;
	u64 next;

	if (it->i < n) {
		*e = boot_params.e820_table[it->i++];
		return true;
	}
	while (it->pa) {
		sd = early_memremap(it->pa, sizeof(*sd));
		if (!sd)
			goto fail;
		len = sd->len;
		type = sd->type;
		next = sd->next;
		early_memunmap(sd, sizeof(*sd));
		if (type == SETUP_E820_EXT && it->j < len / sizeof(*e)) {
			p = early_memremap(it->pa + sizeof(*sd) +
					   (u64)it->j * sizeof(*e), sizeof(*e));
			if (!p)
				goto fail;
			memcpy(e, p, sizeof(*e));
			early_memunmap(p, sizeof(*e));
			it->j++;
			return true;
		}
		it->pa = next;
		it->j = 0;
	}
	return false;
fail:
	it->failed = true;
	return false;
}

/*
 * [@start, @end) is reserved in the sanitized boot map. Accept it only if
 * the boot loader's own map (struct hvcarve_raw_iter) has it as non-RAM
 * entries that are all shaped like an earlier kernel's carveout.
 */
static bool __init hvcarve_check_raw(u64 start, u64 end)
{
	struct hvcarve_raw_iter it;
	struct boot_e820_entry e;
	u64 cur, next;

	for (hvcarve_raw_start(&it); hvcarve_raw_next(&it, &e);) {
		/* Sanitizing drops empty entries: so does this. */
		if (e.type == E820_TYPE_RAM || !e.size ||
		    !hvcarve_overlap(e.addr, e.size, start, end - start) ||
		    hvcarve_carveout_shaped(e.addr, e.addr + e.size))
			continue;
		snprintf(hvcarve_why, sizeof(hvcarve_why),
			 "overlaps reserved [mem %#018llx-%#018llx] of the boot memory map, which is not the carveout of an earlier kernel",
			 e.addr, e.addr + e.size - 1);
		return false;
	}
	if (it.failed) {
		snprintf(hvcarve_why, sizeof(hvcarve_why),
			 "overlaps reserved memory, and the boot loader's map beyond 128 entries cannot be read");
		return false;
	}
	for (cur = start; cur < end; cur = next) {
		/* An entry that wraps past 2^64 is not memory. */
		for (next = 0, hvcarve_raw_start(&it);
		     !next && hvcarve_raw_next(&it, &e);)
			if (e.type != E820_TYPE_RAM &&
			    e.addr + e.size > e.addr && e.addr <= cur &&
			    cur - e.addr < e.size)
				next = e.addr + e.size;
		if (!next) {
			snprintf(hvcarve_why, sizeof(hvcarve_why),
				 "overlaps reserved [mem %#018llx-%#018llx] of the boot memory map, which the boot loader's map does not show as a carveout",
				 start, end - 1);
			return false;
		}
	}
	return true;
}

/*
 * Check region @r against the boot memory map (e820_table_firmware, as the
 * firmware or the kernel before a kexec handed it over) and against the map
 * this kernel will use after memmap= edited it (e820_table). Every byte
 * must be RAM, or an earlier kernel's carveout (then *@inherited is set).
 */
static bool __init hvcarve_check_map(const struct hvcarve_range *r,
				     bool *inherited)
{
	u64 cur = r->base, end = r->base + r->size, stop;
	const struct e820_entry *e;

	*inherited = false;
	for (; cur < end; cur = stop) {
		e = hvcarve_lookup(e820_table_firmware, cur);
		if (!e) {
			snprintf(hvcarve_why, sizeof(hvcarve_why),
				 "%#llx is not in the boot memory map (a hole, or beyond RAM)",
				 cur);
			return false;
		}
		stop = min(end, e->addr + e->size);
		switch (e->type) {
		case E820_TYPE_RAM:
			break;
		case E820_TYPE_HVCARVE:
			*inherited = true;
			if (!hvcarve_within_requested(e->addr, e->addr + e->size))
				pr_info("the carveout inherited at [mem %#018llx-%#018llx] is larger than the requested regions: the rest of it stays reserved\n",
					e->addr, e->addr + e->size - 1);
			break;
		case E820_TYPE_RESERVED:
			if (!hvcarve_check_raw(cur, stop))
				return false;
			*inherited = true;
			break;
		default:
			snprintf(hvcarve_why, sizeof(hvcarve_why),
				 "overlaps [mem %#018llx-%#018llx] of e820 type %u, which is not RAM",
				 e->addr, e->addr + e->size - 1, e->type);
			return false;
		}
	}

	for (cur = r->base; cur < end; cur = min(end, e->addr + e->size)) {
		e = hvcarve_lookup(e820_table, cur);
		if (!e || (e->type != E820_TYPE_RAM &&
			   e->type != E820_TYPE_RESERVED &&
			   e->type != E820_TYPE_HVCARVE)) {
			snprintf(hvcarve_why, sizeof(hvcarve_why),
				 "%#llx was made unusable by a memmap= or mem= parameter",
				 cur);
			return false;
		}
	}
	return true;
}

/*
 * Memory that is in use now, or that the kernel keeps for the firmware,
 * cannot become the hypervisor's.
 */
static bool __init hvcarve_check_in_use(const struct hvcarve_range *r)
{
	u64 kstart = __pa_symbol(_text), kend = __pa_symbol(_end);
	u64 rd_start = boot_params.hdr.ramdisk_image |
		       ((u64)boot_params.ext_ramdisk_image << 32);
	u64 rd_size = boot_params.hdr.ramdisk_size |
		      ((u64)boot_params.ext_ramdisk_size << 32);
	efi_memory_desc_t *md;

	if (hvcarve_overlap(r->base, r->size, kstart, kend - kstart)) {
		snprintf(hvcarve_why, sizeof(hvcarve_why),
			 "overlaps the kernel image [mem %#018llx-%#018llx]",
			 kstart, kend - 1);
		return false;
	}
	if (rd_size && hvcarve_overlap(r->base, r->size, rd_start, rd_size)) {
		snprintf(hvcarve_why, sizeof(hvcarve_why),
			 "overlaps the initrd [mem %#018llx-%#018llx]",
			 rd_start, rd_start + rd_size - 1);
		return false;
	}
	/* setup_data, the EFI memory map, BIOS and firmware data, ... */
	if (memblock_is_region_reserved(r->base, r->size)) {
		snprintf(hvcarve_why, sizeof(hvcarve_why),
			 "overlaps memory reserved during early boot (setup_data, the EFI memory map, BIOS or firmware data)");
		return false;
	}
	if (!efi_enabled(EFI_MEMMAP))
		return true;
	/*
	 * EFI boot services memory is RAM in e820, but the kernel keeps it
	 * until SetVirtualAddressMap() because some firmware still uses it
	 * (efi_reserve_boot_services()); runtime memory is the firmware's.
	 */
	for_each_efi_memory_desc(md) {
		u64 size = md->num_pages << EFI_PAGE_SHIFT;

		if (!hvcarve_overlap(r->base, r->size, md->phys_addr, size))
			continue;
		if (md->type != EFI_BOOT_SERVICES_CODE &&
		    md->type != EFI_BOOT_SERVICES_DATA &&
		    !(md->attribute & EFI_MEMORY_RUNTIME))
			continue;
		snprintf(hvcarve_why, sizeof(hvcarve_why),
			 "overlaps EFI %s memory [mem %#018llx-%#018llx]",
			 md->attribute & EFI_MEMORY_RUNTIME ? "runtime" :
			 "boot services", md->phys_addr,
			 md->phys_addr + size - 1);
		return false;
	}
	return true;
}

/* Bytes of [@start, @start + @size) that @table has as @type. */
static u64 __init hvcarve_bytes_of(const struct e820_table *table, u64 start,
				   u64 size, enum e820_type type)
{
	u64 end = start + size, n = 0;
	u32 i;

	for (i = 0; i < table->nr_entries; i++) {
		const struct e820_entry *e = &table->entries[i];
		u64 a = max(start, e->addr), b = min(end, e->addr + e->size);

		if (e->type == type && a < b)
			n += b - a;
	}
	return n;
}

/*
 * Mark @r E820_TYPE_HVCARVE in @t, from RAM or reserved; every byte of it
 * must end up so, and the updates must say they changed what was left.
 */
static bool __init hvcarve_mark(struct e820_table *t,
				const struct hvcarve_range *r)
{
	u64 done = hvcarve_bytes_of(t, r->base, r->size, E820_TYPE_HVCARVE);

	done += e820__range_update_table(t, r->base, r->size, E820_TYPE_RAM,
					 E820_TYPE_HVCARVE);
	done += e820__range_update_table(t, r->base, r->size,
					 E820_TYPE_RESERVED, E820_TYPE_HVCARVE);
	return done == r->size;
}

/* Apply all regions to the scratch tables and check what came of it. */
static bool __init hvcarve_apply(unsigned int *bad)
{
	unsigned int i;

	memcpy(&hvcarve_new_table, e820_table, sizeof(hvcarve_new_table));
	memcpy(&hvcarve_new_kexec, e820_table_kexec, sizeof(hvcarve_new_kexec));

	/* Each region splits at most one entry in two, adding two. */
	if (hvcarve_new_table.nr_entries + 2 * hvcarve_req.nr > E820_MAX_ENTRIES ||
	    hvcarve_new_kexec.nr_entries + 2 * hvcarve_req.nr > E820_MAX_ENTRIES) {
		*bad = 0;
		snprintf(hvcarve_why, sizeof(hvcarve_why),
			 "the e820 tables have no room for the regions");
		return false;
	}
	for (i = 0; i < hvcarve_req.nr; i++) {
		const struct hvcarve_range *r = &hvcarve_req.r[i];

		if (!hvcarve_mark(&hvcarve_new_table, r) ||
		    !hvcarve_mark(&hvcarve_new_kexec, r)) {
			*bad = i;
			snprintf(hvcarve_why, sizeof(hvcarve_why),
				 "the e820 update did not cover the whole region");
			return false;
		}
	}
	e820__update_table(&hvcarve_new_table);
	e820__update_table(&hvcarve_new_kexec);

	/* boot_params carries this many entries to the next kernel. */
	if (hvcarve_new_kexec.nr_entries > E820_MAX_ENTRIES_ZEROPAGE) {
		*bad = hvcarve_req.nr - 1;
		snprintf(hvcarve_why, sizeof(hvcarve_why),
			 "the e820 map handed to the next kernel would have %u entries, more than the %d boot_params carries",
			 hvcarve_new_kexec.nr_entries, E820_MAX_ENTRIES_ZEROPAGE);
		return false;
	}
	return true;
}

/**
 * e820__reserve_hvcarve() - check the hvcarve= regions and reserve them
 *
 * Called by setup_arch() after parse_early_param() and
 * efi_memblock_x86_reserve_range(), before the e820 map is handed to
 * memblock. Either every region is marked E820_TYPE_HVCARVE in e820_table
 * and e820_table_kexec, or, if any region is unsafe, none is and the
 * carveout is disabled. e820_table_firmware is left alone: it is what the
 * boot loader or the kernel before a kexec handed over.
 *
 * Context: early boot, single-threaded.
 */
void __init e820__reserve_hvcarve(void)
{
	bool inherited[HVCARVE_MAX_REGIONS];
	unsigned int i, bad;

	if (hvcarve_req.rejected || !hvcarve_req.nr)
		return;

	/*
	 * memmap= adds entries without resolving overlaps; that is left to
	 * e820__finish_early_params(). Resolve them now (it is idempotent) so
	 * that each address has one type.
	 */
	e820__update_table(e820_table);

	for (i = 0; i < hvcarve_req.nr; i++) {
		const struct hvcarve_range *r = &hvcarve_req.r[i];

		if (!hvcarve_check_map(r, &inherited[i]) ||
		    !hvcarve_check_in_use(r)) {
			hvcarve_refuse_region(i, hvcarve_why);
			return;
		}
	}
	if (!hvcarve_apply(&bad)) {
		hvcarve_refuse_region(bad, hvcarve_why);
		return;
	}

	memcpy(e820_table, &hvcarve_new_table, sizeof(*e820_table));
	memcpy(e820_table_kexec, &hvcarve_new_kexec, sizeof(*e820_table_kexec));
	for (i = 0; i < hvcarve_req.nr; i++)
		hvcarve_region_add(&hvcarve_req.r[i], inherited[i]);
	hvcarve_reserved = true;
	e820__update_table_print();
}

/**
 * e820__hvcarve_check_crashkernel() - say why crashkernel= is not reserved
 *
 * A crashkernel=size@offset in the carveout cannot be reserved (memblock
 * does not have that memory) and must not be: the carveout wins. Say so in
 * hvcarve's words, before arch_reserve_crashkernel() says it failed. The
 * size of system RAM for crashkernel='s range syntax is the one
 * arch_reserve_crashkernel() passes, memblock_phys_mem_size().
 *
 * Context: early boot, single-threaded, memblock set up.
 */
void __init e820__hvcarve_check_crashkernel(void)
{
	unsigned long long size = 0, base = 0, low = 0, cma = 0;
	bool high = false;
	unsigned int i;

	if (!IS_ENABLED(CONFIG_CRASH_RESERVE) || !hvcarve_reserved)
		return;
	if (parse_crashkernel(boot_command_line, memblock_phys_mem_size(),
			      &size, &base, &low, &cma, &high) || !size || !base)
		return;
	for (i = 0; i < hvcarve_req.nr; i++) {
		const struct hvcarve_range *r = &hvcarve_req.r[i];

		if (!hvcarve_overlap(base, size, r->base, r->size))
			continue;
		pr_err("crashkernel= [mem %#018llx-%#018llx] overlaps carveout region %u [mem %#018llx-%#018llx]: no crash kernel memory will be reserved, the carveout is kept\n",
		       base, base + size - 1, i, r->base, r->base + r->size - 1);
		return;
	}
}
