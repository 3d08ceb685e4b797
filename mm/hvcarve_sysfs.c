// SPDX-License-Identifier: GPL-2.0-only
/*
 * hvcarve sysfs: /sys/kernel/mm/hvcarve/ (the carveout's state and why it
 * is invalid or distrusted, the overflow counts now and since boot) and
 * one read-only directory per region, named by its base address
 * ("region@<hex base>"), with its range, node and page counters. See
 * Documentation/ABI/testing/sysfs-kernel-mm-hvcarve.
 *
 * What is not for operators is in debugfs, /sys/kernel/debug/hvcarve/:
 * each region's skipped_pages, an internal of learning after a kexec. The
 * overflow policy is the module parameter's own file,
 * /sys/module/hvcarve/parameters/overflow.
 *
 * The counters are read under the region's lock, so a file never shows a
 * torn or half-updated value.
 */

#define pr_fmt(fmt) "hvcarve: " fmt

#include <linux/debugfs.h>
#include <linux/hv_deposit_gate.h>
#include <linux/kobject.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/sysfs.h>

#include "hvcarve.h"

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
	return sysfs_emit(buf, "%#llx\n", hvcarve_kobj_region(kobj)->base);
}

static struct kobj_attribute base_attr = __ATTR_RO(base);

static ssize_t size_show(struct kobject *kobj, struct kobj_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%llu\n", hvcarve_kobj_region(kobj)->size);
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
	return sysfs_emit(buf, "%lu\n", hvcarve_kobj_region(kobj)->npages);
}

static struct kobj_attribute total_pages_attr = __ATTR_RO(total_pages);

#define HVCARVE_STAT_ATTR(_name, _field)				\
static ssize_t _name##_show(struct kobject *kobj,			\
			    struct kobj_attribute *attr, char *buf)	\
{									\
	struct hvcarve_region *reg = hvcarve_kobj_region(kobj);		\
	u64 val;							\
									\
	spin_lock(&reg->lock);						\
	val = reg->stats._field;					\
	spin_unlock(&reg->lock);					\
	return sysfs_emit(buf, "%llu\n", val);				\
}									\
									\
static struct kobj_attribute _name##_attr = __ATTR_RO(_name)

HVCARVE_STAT_ATTR(free_pages, free);
HVCARVE_STAT_ATTR(deposited_pages, deposited);
HVCARVE_STAT_ATTR(inherited_pages, inherited);
HVCARVE_STAT_ATTR(peak_deposited_pages, peak);
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

/* What made the live pool distrusted, or NULL. */
static const char *hvcarve_live_contradiction(void)
{
	struct hvcarve_pool *pool = hvcarve_pool();

	return pool ? hvcarve_pool_contradiction(pool) : NULL;
}

static ssize_t state_show(struct kobject *kobj, struct kobj_attribute *attr,
			  char *buf)
{
	if (hvcarve_live_contradiction())
		return sysfs_emit(buf, "distrusted\n");
	return sysfs_emit(buf, "%s\n", hvcarve_state_name(hvcarve_get_state()));
}

static struct kobj_attribute state_attr = __ATTR_RO(state);

/* Why the state is "distrusted" or "invalid"; else "none". */
static ssize_t reason_show(struct kobject *kobj, struct kobj_attribute *attr,
			   char *buf)
{
	const char *why = hvcarve_live_contradiction();

	if (!why && hvcarve_get_state() == HVCARVE_INVALID)
		why = hvcarve_invalid_reason() ?: "unknown";
	return sysfs_emit(buf, "%s\n", why ?: "none");
}

static struct kobj_attribute reason_attr = __ATTR_RO(reason);

static ssize_t overflow_pages_show(struct kobject *kobj,
				   struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", hv_deposit_gate_pages());
}

static struct kobj_attribute overflow_pages_attr = __ATTR_RO(overflow_pages);

static ssize_t overflow_cumulative_pages_show(struct kobject *kobj,
					      struct kobj_attribute *attr,
					      char *buf)
{
	return sysfs_emit(buf, "%llu\n", hv_deposit_gate_pages_since_boot());
}

static struct kobj_attribute overflow_cumulative_pages_attr =
	__ATTR_RO(overflow_cumulative_pages);

static struct attribute *hvcarve_attrs[] = {
	&state_attr.attr,
	&reason_attr.attr,
	&overflow_pages_attr.attr,
	&overflow_cumulative_pages_attr.attr,
	NULL,
};

static const struct attribute_group hvcarve_group = {
	.attrs = hvcarve_attrs,
};

/* The name of a region's directory, in sysfs and debugfs: by its base. */
#define HVCARVE_REGION_NAME	"region@%llx"

static int skipped_pages_show(struct seq_file *m, void *unused)
{
	struct hvcarve_region *reg = m->private;
	u64 val;

	spin_lock(&reg->lock);
	val = reg->stats.skipped;
	spin_unlock(&reg->lock);
	seq_printf(m, "%llu\n", val);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(skipped_pages);

/* /sys/kernel/debug/hvcarve/region@<base>/skipped_pages; best effort. */
static void __init hvcarve_debugfs_init(struct hvcarve_pool *pool)
{
	struct dentry *top = debugfs_create_dir("hvcarve", NULL);
	char name[sizeof("region@") + 16];
	unsigned int i;

	for (i = 0; i < pool->nr_regions; i++) {
		struct hvcarve_region *reg = &pool->regions[i];
		struct dentry *dir;

		snprintf(name, sizeof(name), HVCARVE_REGION_NAME, reg->base);
		dir = debugfs_create_dir(name, top);
		debugfs_create_file("skipped_pages", 0444, dir, reg,
				    &skipped_pages_fops);
	}
}

/**
 * hvcarve_sysfs_init() - create /sys/kernel/mm/hvcarve/
 * @pool: the carveout's regions, one directory each
 *
 * Also creates /sys/kernel/debug/hvcarve/ (if debugfs is built and on).
 *
 * Context: process context, from an initcall.
 * Return: 0 or a negative errno (then nothing was created).
 */
int __init hvcarve_sysfs_init(struct hvcarve_pool *pool)
{
	struct hvcarve_kobject *hks[HVCARVE_MAX_REGIONS] = {};
	struct kobject *top;
	unsigned int i;
	int ret;

	top = kobject_create_and_add("hvcarve", mm_kobj);
	if (!top)
		return -ENOMEM;
	ret = sysfs_create_group(top, &hvcarve_group);
	if (ret)
		goto out_put;

	for (i = 0; i < pool->nr_regions; i++) {
		struct hvcarve_kobject *hk = kzalloc_obj(*hk);

		if (!hk) {
			ret = -ENOMEM;
			goto out_put;
		}
		hks[i] = hk;
		hk->region = &pool->regions[i];
		ret = kobject_init_and_add(&hk->kobj, &hvcarve_region_ktype, top,
					   HVCARVE_REGION_NAME, hk->region->base);
		if (ret)
			goto out_put;
	}
	hvcarve_debugfs_init(pool);
	return 0;

out_put:
	pr_err("cannot create /sys/kernel/mm/hvcarve: %d\n", ret);
	for (i = 0; i < pool->nr_regions && hks[i]; i++)
		kobject_put(&hks[i]->kobj);
	kobject_put(top);
	return ret;
}
