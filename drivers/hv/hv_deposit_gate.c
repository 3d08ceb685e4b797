// SPDX-License-Identifier: GPL-2.0-only
/*
 * The kexec gate for pages deposited into the Microsoft Hypervisor.
 *
 * A root partition deposits pages of its own memory into the hypervisor
 * (HvCallDepositMemory; hv_call_deposit_pages()). The hypervisor keeps
 * them until they are withdrawn, across a kexec too: it does not know the
 * partition rebooted. The next kernel, handed the same memory map, would
 * take those pages for free RAM and hand them out while the hypervisor
 * still uses them. So every page deposited from the page allocator is
 * counted here, and kexec is refused while the count is not zero.
 *
 * The refusal comes when a kexec reboot image is loaded (kexec_load(),
 * kexec_file_load()), before anything shuts down, and again in
 * kernel_kexec(), as the last word. Once an image is loaded, no page is
 * deposited until it is unloaded: a kexec -e is then never refused for
 * deposited pages during the shutdown, which "systemctl kexec" would turn
 * into a cold reboot. A crash kernel is neither refused nor waited for: it
 * runs in memory reserved for it, which the page allocator never had.
 *
 * Child partitions are counted too, from before their creation
 * (HvCallCreatePartition) to their deletion, and kexec is refused while
 * one exists. A child's guest memory is pages of this partition mapped
 * into the child's address space, and nothing in a kexec unmaps them: the
 * next kernel would take them for free RAM while the child can still
 * write them. mshv also has code for encrypted partitions, whose guest
 * memory it makes exclusive to the hypervisor
 * (HV_MODIFY_SPA_PAGE_HOST_ACCESS_MAKE_EXCLUSIVE, drivers/hv/mshv_regions.c)
 * and gives back when a region is destroyed (if that fails, the region's
 * pages stay exclusive, and are not counted here); 7.3's uAPI creates none
 * (MSHV_PT_ISOLATION_NONE only). While the partition lives, the same count
 * covers that memory. A partition whose deletion failed stays counted, and
 * kexec stays refused until the next cold boot: nothing here can tell what
 * the hypervisor still maps. Assumed: a deleted partition maps none of
 * this partition's memory.
 *
 * Locking: hv_deposit_gate_lock protects the counts and both flags. It is
 * a spinlock, taken in process context only, never with interrupts
 * disabled: no caller runs in interrupt context.
 */

#define pr_fmt(fmt) "hv_deposit: " fmt

#include <linux/bug.h>
#include <linux/export.h>
#include <linux/hv_deposit_gate.h>
#include <linux/init.h>
#include <linux/kexec.h>
#include <linux/minmax.h>
#include <linux/printk.h>
#include <linux/spinlock.h>

static DEFINE_SPINLOCK(hv_deposit_gate_lock);
static u64 hv_deposit_count;		/* pages the hypervisor holds now */
static u64 hv_deposit_since_boot;	/* ... and accepted since boot */
static u64 hv_deposit_partitions;	/* child partitions that exist */
static bool hv_deposit_kexec_started;	/* kernel_kexec() is under way */
static bool hv_deposit_image_loaded;	/* a kexec reboot image is loaded */

/* One of the counts, read under hv_deposit_gate_lock. */
static u64 hv_deposit_gate_read(const u64 *count)
{
	u64 n;

	spin_lock(&hv_deposit_gate_lock);
	n = *count;
	spin_unlock(&hv_deposit_gate_lock);
	return n;
}

/**
 * hv_deposit_gate_get() - count pages before they are deposited
 * @nr: number of pages of the kernel's memory about to be deposited
 *
 * The count is raised before the pages are sent, under
 * hv_deposit_gate_lock. Loading a kexec reboot image and kexec itself close
 * the gate under the same lock once they have seen the count at zero:
 * either they see these pages, or this call fails. The gate stays closed
 * while a reboot image is loaded.
 *
 * Context: process context; takes hv_deposit_gate_lock.
 * Return: 0; -EBUSY if a kexec reboot image is loaded or a kexec is under
 * way: then deposit nothing.
 */
int hv_deposit_gate_get(unsigned long nr)
{
	int ret = 0;

	spin_lock(&hv_deposit_gate_lock);
	if (hv_deposit_kexec_started || hv_deposit_image_loaded)
		ret = -EBUSY;
	else
		hv_deposit_count += nr;
	spin_unlock(&hv_deposit_gate_lock);
	return ret;
}

/**
 * hv_deposit_gate_put() - uncount pages
 * @nr: pages withdrawn, or counted by hv_deposit_gate_get() and not
 *	deposited
 *
 * More pages than are counted can come back only if an earlier kernel,
 * without this gate, deposited them and kexec'd: the count stops at zero.
 *
 * Context: process context; takes hv_deposit_gate_lock.
 */
void hv_deposit_gate_put(unsigned long nr)
{
	bool more;

	spin_lock(&hv_deposit_gate_lock);
	more = nr > hv_deposit_count;
	hv_deposit_count -= min_t(u64, nr, hv_deposit_count);
	spin_unlock(&hv_deposit_gate_lock);
	if (more)
		pr_warn_once("more pages withdrawn than this kernel deposited: an earlier kernel deposited them\n");
}
EXPORT_SYMBOL_GPL(hv_deposit_gate_put);

/**
 * hv_deposit_gate_accepted() - count pages the hypervisor took
 * @nr: pages counted by hv_deposit_gate_get() that the hypervisor accepted
 *
 * Adds to the count since boot (hv_deposit_gate_pages_since_boot()).
 *
 * Context: process context; takes hv_deposit_gate_lock.
 */
void hv_deposit_gate_accepted(unsigned long nr)
{
	spin_lock(&hv_deposit_gate_lock);
	hv_deposit_since_boot += nr;
	spin_unlock(&hv_deposit_gate_lock);
}

/**
 * hv_deposit_gate_pages() - pages of the kernel's memory deposited now
 *
 * Context: process context; takes hv_deposit_gate_lock.
 * Return: the number of counted pages the hypervisor holds (or is being
 * sent).
 */
u64 hv_deposit_gate_pages(void)
{
	return hv_deposit_gate_read(&hv_deposit_count);
}

/**
 * hv_deposit_gate_pages_since_boot() - pages deposited since boot
 *
 * Context: process context; takes hv_deposit_gate_lock.
 * Return: the number of counted pages the hypervisor accepted since boot,
 * whether withdrawn since or not.
 */
u64 hv_deposit_gate_pages_since_boot(void)
{
	return hv_deposit_gate_read(&hv_deposit_since_boot);
}

/**
 * hv_deposit_gate_partition_get() - count a child partition before it exists
 *
 * Called before HvCallCreatePartition. As with hv_deposit_gate_get(),
 * either a kexec load sees the partition, or this call fails.
 *
 * Context: process context; takes hv_deposit_gate_lock.
 * Return: 0; -EBUSY if a kexec reboot image is loaded or a kexec is under
 * way: then create no partition.
 */
int hv_deposit_gate_partition_get(void)
{
	int ret = 0;

	spin_lock(&hv_deposit_gate_lock);
	if (hv_deposit_kexec_started || hv_deposit_image_loaded)
		ret = -EBUSY;
	else
		hv_deposit_partitions++;
	spin_unlock(&hv_deposit_gate_lock);
	if (ret)
		pr_info_ratelimited("child partition not created: a kexec image is loaded (kexec -u unloads it)\n");
	return ret;
}
EXPORT_SYMBOL_GPL(hv_deposit_gate_partition_get);

/**
 * hv_deposit_gate_partition_put() - uncount a child partition
 *
 * Called once HvCallDeletePartition has succeeded, or when
 * HvCallCreatePartition failed after hv_deposit_gate_partition_get().
 *
 * Context: process context; takes hv_deposit_gate_lock.
 */
void hv_deposit_gate_partition_put(void)
{
	spin_lock(&hv_deposit_gate_lock);
	if (!WARN_ON_ONCE(!hv_deposit_partitions))
		hv_deposit_partitions--;
	spin_unlock(&hv_deposit_gate_lock);
}
EXPORT_SYMBOL_GPL(hv_deposit_gate_partition_put);

/**
 * hv_deposit_gate_partitions() - child partitions counted now
 *
 * Context: process context; takes hv_deposit_gate_lock.
 * Return: the number of child partitions created and not deleted.
 */
u64 hv_deposit_gate_partitions(void)
{
	return hv_deposit_gate_read(&hv_deposit_partitions);
}

/*
 * Close the gate if nothing is deposited and no child partition exists:
 * set *@flag under the lock. Otherwise say why kexec is refused, through
 * pr_err_ratelimited(): user space can retry a load in a loop.
 * Return: true if the gate was closed.
 */
static bool hv_deposit_gate_close(bool *flag)
{
	u64 count, partitions;

	spin_lock(&hv_deposit_gate_lock);
	count = hv_deposit_count;
	partitions = hv_deposit_partitions;
	if (!count && !partitions)
		*flag = true;
	spin_unlock(&hv_deposit_gate_lock);
	if (count)
		pr_err_ratelimited("kexec refused: %llu ordinary pages are deposited in the hypervisor, which keeps them across kexec: only their withdrawal allows it (a child partition's come back when it is destroyed, this partition's own never do)\n",
				   count);
	if (partitions)
		pr_err_ratelimited("kexec refused: %llu child partition(s) not deleted, whose guest memory is this kernel's; stop them first (one whose deletion failed stays until a cold boot)\n",
				   partitions);
	return !count && !partitions;
}

/*
 * The kexec veto's load(): a reboot image is refused while pages are
 * deposited or a child partition exists; once one passes, nothing is
 * deposited and no partition created until the load ends
 * (hv_deposit_gate_loaded()), and after that for as long as a reboot image
 * stays loaded. A crash image is never refused.
 *
 * Context: process context, kexec_lock held.
 */
static int hv_deposit_gate_load(struct kimage *image)
{
	if (image->type == KEXEC_TYPE_CRASH)
		return 0;
	return hv_deposit_gate_close(&hv_deposit_image_loaded) ? 0 : -EBUSY;
}

/*
 * The kexec veto's load_end(), on every path out of a load or unload: the
 * gate that hv_deposit_gate_load() closed stays closed only if a reboot
 * image is loaded now.
 *
 * Context: process context, kexec_lock held.
 */
static void hv_deposit_gate_loaded(bool reboot_image)
{
	spin_lock(&hv_deposit_gate_lock);
	hv_deposit_image_loaded = reboot_image;
	spin_unlock(&hv_deposit_gate_lock);
}

/*
 * The kexec veto's prepare(): kernel_kexec() is about to shut down. While
 * pages are deposited or a child partition exists the kexec is refused;
 * otherwise no deposit and no partition starts from now on, on any CPU,
 * until hv_deposit_gate_finish().
 *
 * Context: process context, kexec_lock held.
 */
static int hv_deposit_gate_prepare(void)
{
	return hv_deposit_gate_close(&hv_deposit_kexec_started) ? 0 : -EBUSY;
}

/*
 * The kexec veto's finish(): kernel_kexec() failed, or came back from a
 * kexec jump.
 *
 * Context: process context, kexec_lock held.
 */
static void hv_deposit_gate_finish(void)
{
	spin_lock(&hv_deposit_gate_lock);
	hv_deposit_kexec_started = false;
	spin_unlock(&hv_deposit_gate_lock);
}

static const struct kexec_veto hv_deposit_kexec_veto = {
	.load = hv_deposit_gate_load,
	.load_end = hv_deposit_gate_loaded,
	.prepare = hv_deposit_gate_prepare,
	.finish = hv_deposit_gate_finish,
};

static int __init hv_deposit_gate_init(void)
{
	int ret;

	/*
	 * Before user space: nothing can load a kexec image yet. Deposits made
	 * before this (a root partition's at smp_prepare_cpus() time) are
	 * counted already. The veto is set on any kernel that has the gate:
	 * while nothing is deposited it refuses nothing.
	 */
	ret = kexec_set_veto(&hv_deposit_kexec_veto);
	if (!ret)
		return 0;
	/* Nothing would refuse a kexec: fail closed, deposit nothing more. */
	WARN(1, "hv_deposit: cannot guard kexec (%d): no page will be deposited\n",
	     ret);
	spin_lock(&hv_deposit_gate_lock);
	hv_deposit_kexec_started = true;
	spin_unlock(&hv_deposit_gate_lock);
	return 0;
}
subsys_initcall(hv_deposit_gate_init);
