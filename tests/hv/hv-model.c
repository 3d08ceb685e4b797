// SPDX-License-Identifier: GPL-2.0
/*
 * hv-model: a host process that plays the Microsoft Hypervisor's memory
 * deposit interface for a QEMU (TCG) guest whose RAM is a shared file. What
 * each partition holds lives in this process only, so it survives every
 * kexec of the guest; nothing is rebuilt from page contents. The guest's
 * Hyper-V backend (Linux's hv_do_rep_hypercall() encoding) reaches it over
 * a serial port, a QEMU "-chardev socket" connected to our UNIX socket.
 *
 * hv-model --ram FILE --lowmem BYTES --socket PATH --ledger FILE [--log FILE]
 *          [--carveout BASE:SIZE]... [--hold BASE:SIZE:PARTITION]...
 *          [--hold-runs BASE:K:R:GAP:PARTITION]... [--lp-pages N]
 *          [--vp-pages N] [--mode honest|adversarial|blind] [--seed N]
 *   --ram      guest RAM file (memory-backend-file,share=on), all of it
 *              mapped shared read/write; its size is the RAM size. Given
 *              more than once (at most MAX_RAM_FILES; one backend per
 *              NUMA node), the files are the guest's RAM one after the
 *              other, in node order, as QEMU lays its nodes' memory
 *              devices out (hw/core/numa.c, numa_init_memdev_container()); the
 *              RAM size is their sum.
 *   --lowmem   RAM bytes below 4 GiB (page aligned). GPA g is file offset g
 *              if g < lowmem, lowmem + (g - 4 GiB) if g >= 4 GiB and that
 *              is < the size; any other GPA is not RAM.
 *   --carveout hvcarve carveout GPA range, repeatable (64 at most); pages
 *              outside them all are "ordinary".
 *   --socket   unlinked, then made a listening AF_UNIX stream socket; one
 *              connection at a time, accepted again when it ends.
 *   --ledger   written at start, at each hello, on SIGUSR1 and at exit
 *              (FILE.tmp, then rename): not after every call, which would
 *              put file I/O inside the guest's wait.  --log: default stderr, line buffered.
 *   --hold     pages held for PARTITION from the start (repeatable, page
 *              aligned), filled and checked like deposited ones: a
 *              hypervisor that holds pages before the guest's first boot.
 *   --hold-runs K pages held from the start in R runs, GAP pages apart,
 *              not filled and not checked (add_hold_runs(); for make bench).
 *   --lp-pages pages a logical processor takes into use (default 3), and
 *   --vp-pages a VP (default 0): see boot_call().
 *   --mode     honest (default), adversarial or blind (below).  --seed:
 *              default 1.
 * Numbers are decimal or 0x hex. The log starts "hv-model: mode M seed S",
 * then "hv-model: listening on PATH". SIGUSR1: check every held page and
 * write the ledger (full_checks grows). SIGTERM/SIGINT: check the pages,
 * write the ledger, remove the socket, exit 0. Setup errors: exit 2.
 *
 * Wire protocol: all fields u64 little-endian, assembled byte by byte.
 *   guest -> host, 40 bytes: magic, seq, a, b, c. "HVTCALL1"
 *   (0x314c4c4143545648): a hypercall, a = control value, b = input page
 *   GPA, c = output page GPA (0 if none). "HVTHELO1" (0x314f4c4548545648):
 *   a new guest kernel starts using the model (once per boot, before its
 *   first call), a new epoch. seq: the guest's frame number, echoed.
 *   host -> guest, 24 bytes: "HVTRET01" (0x3130544552545648), seq, result
 *   value (0 for HELLO). A bad magic is logged and counted once
 *   (bad_frames); bytes are dropped one by one until 8 of them form a
 *   valid magic.
 *
 * Hyper-V TLFS as found: learn.microsoft.com/en-us/virtualization/
 * hyper-v-on-windows/tlfs/<page>; 2013 MSDN pages <id> archived under
 * gerhart01.github.io/msdn.microsoft.com/en-us/library/windows/hardware/.
 *  [IF]  hypercall-interface; 2013 "Hypercall Input/Output Values" (ff541404,
 *        ff541414). Input: call code 15:0, fast 16, rep count 43:32, rep
 *        start index 59:48, the rest RsvdZ (today's TLFS makes bit 31 "is
 *        nested", Linux's HV_HYPERCALL_NESTED; no call here is nested, and
 *        this model answers a nested one as it does a RsvdZ bit). Result: status 15:0, reps
 *        completed 43:32. A rep call takes its list in index order and may
 *        return early (count 25, 20 done: the caller reissues with rep start
 *        20); on an error, reps completed counts the elements done before
 *        it; at least one rep is attempted. Reps completed is "the total
 *        number of reps complete and not related to the rep start index".
 *        Variable header size 26:17 (qwords): Linux HV_HYPERCALL_VARHEAD_MASK.
 *  [ST]  datatypes/hv_status: INVALID_HYPERCALL_CODE 2, INVALID_HYPERCALL_
 *        INPUT 3 ("invalid encoding"), INVALID_ALIGNMENT 4, INVALID_PARAMETER
 *        5, ACCESS_DENIED 6, INVALID_PARTITION_ID 0xD. OPERATION_DENIED 8,
 *        INSUFFICIENT_MEMORY 0xB, NO_RESOURCES 0x1D from Linux's hvgdk_mini.h.
 *  [DEP] hypercalls/hvcalldepositmemory: 0x0048 (Rep); PartitionId at 0,
 *        GpaPageList (8-byte page numbers) at 8; pages deposited in order
 *        until all are or a failure or limit. No error codes listed. 2013
 *        HvDepositMemory (ff538916): OPERATION_DENIED for a page not mapped,
 *        not RWX to the caller, or accessible to another partition (the text
 *        found was cut off there).
 *  [WD]  hypercalls/hvcallwithdrawmemory: 0x0049 (Rep); PartitionId at 0,
 *        ProximityDomainInfo at 8; output GpaPageList at 0. 2013
 *        HvWithdrawMemory (ff539884): withdrawn pages are zeroed.
 *  [BAL] hypercalls/hvcallgetmemorybalance: 0x004A (Simple); input as [WD];
 *        output PagesAvailable, PagesInUse (both "offset 0": taken as 0, 8).
 *
 * Semantics; ASSUMPTION marks what the TLFS does not say.
 *  - Fast bit, variable header size, a RsvdZ bit, rep start > rep count:
 *    INVALID_HYPERCALL_INPUT (2013: count must exceed start; ASSUMPTION:
 *    start == count is answered as done, with nothing to do). An
 *    unknown code: INVALID_HYPERCALL_CODE. Both report 0 reps; any later
 *    error the absolute count, which Linux takes as the pages accepted.
 *  - Partitions: SELF (all ones) and 1..0xffffffff are valid, each a pool
 *    of its own (SELF aliases no number); else INVALID_PARTITION_ID.
 *    ASSUMPTION: the root is SELF (Linux's hv_current_partition_id where
 *    no Hyper-V set it), and the boot calls charge SELF's pool.
 *  - Epochs count HELLOs: a guest reset (vmrun.sh --reboot) starts one as
 *    a kexec does, although a real machine's reset would also end the
 *    hypervisor's state. This model keeps it: the tests that use it do not
 *    reset.
 *  - Parameters: 4096 bytes at the GPA. Not 8-byte aligned: INVALID_
 *    ALIGNMENT. The bytes used (all entries up to rep count) must fit in
 *    them, be RAM in one piece and not on a held page (ASSUMPTION: the
 *    caller has no access to a page it deposited): else
 *    INVALID_PARAMETER. The input is read once, before any rep is done.
 *  - Deposit: from rep start, a pfn not RAM: INVALID_PARAMETER; held by any
 *    partition: OPERATION_DENIED (ASSUMPTION: the TLFS does not say what a
 *    page already held gets; the hvcarve glue assumes this); either stops
 *    it. Else the page is taken (owner, epoch, carveout or not, sequence
 *    number) and overwritten whole with the hypervisor's fill: "HVMODEL1",
 *    pfn, partition, seq, then 508 words mixed from those (make_fill()).
 *  - Withdraw: up to (rep count - rep start) available pages of that
 *    partition only,
 *    last deposited first, each zeroed [WD] and its pfn put in output entry
 *    rep start, rep start + 1, ...; if it runs out first: NO_RESOURCES with
 *    the absolute count (Linux's hv_call_withdraw_memory(): "no more").
 *  - Balance (rep fields 0): available = pages held and not in use, in
 *    use = pages taken into use by the boot calls (boot_call()), which
 *    are never withdrawn.
 *
 * Adversarial: one splitmix64 stream from --seed makes every choice, so the
 * seed and the guest's requests reproduce a run. Each call draws, 1 in
 * ADV_ONE_IN each: deposit: SUCCESS early after at least one rep ([IF]; the
 * caller reissues), OPERATION_DENIED for a free page at a random rep (a
 * lie), INSUFFICIENT_MEMORY at a random rep; withdraw: random order, a
 * short count (NO_RESOURCES while pages remain, after at least one). The
 * first deposit for a partition draws 1 in ADV_PART_ONE_IN: on a hit (one
 * partition per run at most) each of its deposits gets ACCESS_DENIED. Each
 * deviation that takes effect counts (injected) and is logged as, with N
 * counting hypercalls from 1:
 *   hv-model: seed S call N: deposit partition P: early return after K of R
 *
 * Blind: honest, except that a page already held is accepted again (SUCCESS
 * for its rep), not taken a second time and not refused: the hypervisor
 * for which hvcarve's assumption about refusals is false. Its memory
 * balance does not grow for such a page; accepted_held counts them. The
 * glue's balance check (hv_carve_balance_check()) is what must notice.
 * pages_deposited does not count them.
 *
 * Invariants, counted and logged (never fatal):
 *  guest_writes: every held page must still hold its fill; one that does
 *    not counts once; 20 pfns logged. All of them are checked at a hello,
 *    on SIGUSR1 (vmrun.sh's checkpoints, with the guest stopped) and at
 *    exit (full_checks counts these sweeps); before each hypercall, the
 *    next CHECK_PER_CALL records in turn.
 *  ordinary_across_kexec: on HELLO the epoch grows; each held page outside
 *    the carveout deposited in an earlier epoch counts once; 20 logged.
 *  No page held twice: one hash pfn -> record (refusals counts deposits
 *  refused as held). Partition counts are the lengths of their LIFO stacks.
 *  carveout_resident (not an invariant of its own, for the test to compare
 *  with held_carveout): at each full sweep, the carveout pages that have
 *  memory in the RAM file (count_carve_resident()).
 *
 * Ledger, one "name value..." per line in this order: mode honest|
 * adversarial|blind, seed, epoch (HELLOs seen), held, held_carveout,
 * held_ordinary, "partition 0xP N" per partition holding pages (ascending;
 * SELF is 0xffffffffffffffff), in_use (pages in use, all partitions), lps
 * (logical processors added), calls_deposit, calls_withdraw, calls_balance,
 * calls_other (the boot calls and unknown ones), pages_deposited,
 * pages_withdrawn, refusals, accepted_held, injected, guest_writes,
 * ordinary_across_kexec, bad_frames, full_checks, carveout_resident.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned char u8;

#define PAGE_SIZE	4096ull
#define PAGE_SHIFT	12
#define GIB4		(1ull << 32)
#define MAGIC_CALL	0x314c4c4143545648ull	/* "HVTCALL1" */
#define MAGIC_HELLO	0x314f4c4548545648ull	/* "HVTHELO1" */
#define MAGIC_RET	0x3130544552545648ull	/* "HVTRET01" */
#define MAGIC_FILL	0x314c45444f4d5648ull	/* "HVMODEL1" */

/* Values as in Linux's include/hyperv/hvgdk_mini.h. */
#define HV_STATUS_SUCCESS			0x0
#define HV_STATUS_INVALID_HYPERCALL_CODE	0x2
#define HV_STATUS_INVALID_HYPERCALL_INPUT	0x3
#define HV_STATUS_INVALID_ALIGNMENT		0x4
#define HV_STATUS_INVALID_PARAMETER		0x5
#define HV_STATUS_ACCESS_DENIED			0x6
#define HV_STATUS_OPERATION_DENIED		0x8
#define HV_STATUS_INSUFFICIENT_MEMORY		0xB
#define HV_STATUS_INVALID_PARTITION_ID		0xD
#define HV_STATUS_NO_RESOURCES			0x1D
#define HV_STATUS_INVALID_LP_INDEX		0x41
#define HVCALL_GET_LOGICAL_PROCESSOR_RUN_TIME	0x0004
#define HVCALL_DEPOSIT_MEMORY			0x0048
#define HVCALL_WITHDRAW_MEMORY			0x0049
#define HVCALL_GET_MEMORY_BALANCE		0x004A
#define HVCALL_CREATE_VP			0x004E
#define HVCALL_ADD_LOGICAL_PROCESSOR		0x0076
#define HVCALL_NOTIFY_PARTITION_EVENT		0x0087
#define HV_PARTITION_ID_SELF			(~0ull)

#define CTL_CODE(c)	((u32)(c) & 0xffff)
#define CTL_FAST	(1ull << 16)
#define CTL_VARHEAD	(0x3ffull << 17)
#define CTL_RSVD	(0x1full << 27 | 0xfull << 44 | 0xfull << 60)
#define CTL_REPCNT(c)	((u32)((c) >> 32) & 0xfff)
#define CTL_REPSTART(c)	((u32)((c) >> 48) & 0xfff)
#define RESULT(st, reps) ((u64)(st) | (u64)((reps) & 0xfff) << 32)

#define ADV_ONE_IN	8	/* each per-call deviation */
#define ADV_PART_ONE_IN	16	/* a partition refused whole */
#define LOG_FIRST	20
#define CHECK_PER_CALL	256	/* held-page records checked per call */
#define MAX_CARVEOUTS	64
#define MAX_RAM_FILES	8
#define MAX_LPS		4096	/* logical processor indexes known */

enum { CALLS_DEP, CALLS_WD, CALLS_BAL, CALLS_OTHER, PAGES_DEP, PAGES_WD,
	REFUSALS, ACCEPTED_HELD, INJECTED, GUEST_WRITES, ORD_KEXEC, BAD_FRAMES,
	NCOUNT };
static const char *const count_name[NCOUNT] = {
	"calls_deposit", "calls_withdraw", "calls_balance", "calls_other",
	"pages_deposited", "pages_withdrawn", "refusals", "accepted_held",
	"injected", "guest_writes", "ordinary_across_kexec", "bad_frames",
};

struct rec {			/* a held page, or a free record */
	u64 pfn, part, seq;
	u32 epoch, hnext;	/* hash chain: record index + 1, 0 ends */
	u8 used, carve, bad_seen, kexec_seen, unfilled;
};

struct part {			/* a partition id seen in a deposit */
	u64 id;
	u32 *stk, n, cap;	/* record indexes, in deposit order */
	u32 in_use;		/* stk[0 .. in_use - 1]: in use, kept */
	int denied, decided;
};

static struct {
	u8 *ram;
	u64 size, lowmem, cbase[MAX_CARVEOUTS], cend[MAX_CARVEOUTS];
	int ncarve, adversarial, blind, denied_picked;
	u64 seed, rng, epoch, seq, ncall, nheld, ncarve_held;
	const char *ledger, *sock;
	FILE *log;
	struct rec *recs;	/* dense; unused ones on the free list */
	u32 nrecs, caprecs, *freel, nfree;
	u32 *heads, nheads;	/* hash buckets: record index + 1 */
	struct part *parts;	/* sorted by id */
	u32 nparts, logged_writes, logged_kexec;
	u64 count[NCOUNT];
	u32 lp_pages, vp_pages, nlps, check_pos;
	u64 full_checks, carve_resident;
	int nram, ram_fd[MAX_RAM_FILES];	/* kept open: count_carve_resident() */
	u64 ram_off[MAX_RAM_FILES];
	u8 lp[MAX_LPS];		/* logical processors added */
} m;

static volatile sig_atomic_t stop, check_now;
static void check_if_asked(void);

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("hv-model: ", m.log);
	va_start(ap, fmt);
	vfprintf(m.log, fmt, ap);
	va_end(ap);
	fputc('\n', m.log);
}

/* An injected deviation: counted, and logged with the seed and call. */
#define inject(fmt, ...) (m.count[INJECTED]++, \
	say("seed %llu call %llu: " fmt, m.seed, m.ncall, __VA_ARGS__))

static void __attribute__((noreturn)) fail(const char *what, const char *arg)
{
	say("%s%s%s", what, arg ? ": " : "", arg ? arg : "");
	if (m.log != stderr)	/* setup errors: on stderr too */
		fprintf(stderr, "hv-model: %s%s%s\n", what, arg ? ": " : "",
			arg ? arg : "");
	exit(2);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		fail("out of memory", NULL);
	return p;
}

static u64 get64(const u8 *p)
{
	u64 v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put64(u8 *p, u64 v)
{
	int i;

	for (i = 0; i < 8; i++, v >>= 8)
		p[i] = (u8)v;
}

static u64 splitmix(u64 *s)
{
	u64 z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static u64 mix(u64 v)
{
	return splitmix(&v);
}

static u32 rnd_below(u32 n)
{
	return (u32)(splitmix(&m.rng) % n);
}

/* ---- guest memory ---- */

/* The bytes [gpa, gpa + len) in the RAM file, if RAM in one piece. */
static u8 *gpa_ptr(u64 gpa, u64 len)
{
	u64 off = gpa - GIB4, hi = m.size - m.lowmem;

	if (gpa < m.lowmem)
		return len <= m.lowmem - gpa ? m.ram + gpa : NULL;
	if (gpa >= GIB4 && off < hi && len <= hi - off)
		return m.ram + m.lowmem + off;
	return NULL;
}

static u8 *pfn_ptr(u64 pfn)
{
	return pfn >> 52 ? NULL : gpa_ptr(pfn << PAGE_SHIFT, PAGE_SIZE);
}

static int in_carveout(u64 pfn)
{
	u64 gpa = pfn << PAGE_SHIFT;
	int i;

	for (i = 0; i < m.ncarve; i++)
		if (gpa >= m.cbase[i] && gpa + PAGE_SIZE <= m.cend[i])
			return 1;
	return 0;
}

/*
 * The hypervisor's fill of a held page, a function of pfn, part and seq:
 * word w >= 4 is a splitmix64-style mix of key + w * golden ratio. Each word
 * stands alone (no chain), so checking tens of thousands of pages is quick.
 */
static void make_fill(u8 *pg, u64 pfn, u64 part, u64 seq)
{
	u64 key = mix(pfn ^ mix(part ^ mix(seq))), z;
	unsigned int w;

	put64(pg, MAGIC_FILL);
	put64(pg + 8, pfn);
	put64(pg + 16, part);
	put64(pg + 24, seq);
	for (w = 4; w < PAGE_SIZE / 8; w++) {
		z = key + w * 0x9e3779b97f4a7c15ull;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		put64(pg + 8 * w, z ^ (z >> 31));
	}
}

/* ---- what the hypervisor holds ---- */

static u32 *bucket(u64 pfn)
{
	return &m.heads[mix(pfn) & (m.nheads - 1)];
}

static struct rec *held(u64 pfn)
{
	u32 s;

	for (s = *bucket(pfn); s; s = m.recs[s - 1].hnext)
		if (m.recs[s - 1].pfn == pfn)
			return &m.recs[s - 1];
	return NULL;
}

/* Twice the buckets when the chains average more than one record. */
static void hash_grow(void)
{
	u32 i;

	free(m.heads);
	m.nheads = m.nheads ? 2 * m.nheads : 1024;
	m.heads = calloc(m.nheads, sizeof(*m.heads));
	if (!m.heads)
		fail("out of memory", NULL);
	for (i = 0; i < m.nrecs; i++) {
		if (!m.recs[i].used)
			continue;
		m.recs[i].hnext = *bucket(m.recs[i].pfn);
		*bucket(m.recs[i].pfn) = i + 1;
	}
}

static struct part *find_part(u64 id, int create)
{
	u32 i;

	for (i = 0; i < m.nparts && m.parts[i].id < id; i++)
		;
	if (i < m.nparts && m.parts[i].id == id)
		return &m.parts[i];
	if (!create)
		return NULL;
	m.parts = xrealloc(m.parts, (m.nparts + 1) * sizeof(*m.parts));
	memmove(&m.parts[i + 1], &m.parts[i], (m.nparts++ - i) * sizeof(*m.parts));
	memset(&m.parts[i], 0, sizeof(*m.parts));
	m.parts[i].id = id;
	return &m.parts[i];
}

static void take_page(struct part *p, u64 pfn, u8 *pg, int fill)
{
	struct rec *r;
	u32 idx;

	if (m.nheld >= m.nheads)
		hash_grow();
	if (!m.nfree && m.nrecs == m.caprecs) {
		m.caprecs = m.caprecs ? 2 * m.caprecs : 1024;
		m.recs = xrealloc(m.recs, m.caprecs * sizeof(*m.recs));
		m.freel = xrealloc(m.freel, m.caprecs * sizeof(*m.freel));
	}
	idx = m.nfree ? m.freel[--m.nfree] : m.nrecs++;
	r = &m.recs[idx];
	*r = (struct rec){ .pfn = pfn, .part = p->id, .seq = ++m.seq,
		.epoch = (u32)m.epoch, .carve = (u8)in_carveout(pfn),
		.used = 1, .hnext = *bucket(pfn) };
	*bucket(pfn) = idx + 1;
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 64;
		p->stk = xrealloc(p->stk, p->cap * sizeof(*p->stk));
	}
	p->stk[p->n++] = idx;
	m.nheld++;
	m.ncarve_held += r->carve;
	m.count[PAGES_DEP]++;
	if (fill)
		make_fill(pg, pfn, p->id, r->seq);
	else
		r->unfilled = 1;
}

/* Give back the page at stack position @pos: zero it [WD], forget it. */
static u64 give_page(struct part *p, u32 pos)
{
	u32 idx = p->stk[pos], *link;
	struct rec *r = &m.recs[idx];

	memmove(&p->stk[pos], &p->stk[pos + 1], (--p->n - pos) * sizeof(u32));
	for (link = bucket(r->pfn); *link != idx + 1;
	     link = &m.recs[*link - 1].hnext)
		;
	*link = r->hnext;
	r->used = 0;
	m.freel[m.nfree++] = idx;
	m.nheld--;
	m.ncarve_held -= r->carve;
	m.count[PAGES_WD]++;
	/*
	 * Zeroed [WD]: as a hole punched in the RAM file where it can be,
	 * which gives the host its memory back (a large guest's deposits
	 * would otherwise stay allocated after their withdrawal).
	 */
	if (madvise(pfn_ptr(r->pfn), PAGE_SIZE, MADV_REMOVE))
		memset(pfn_ptr(r->pfn), 0, PAGE_SIZE);
	return r->pfn;
}

/* ---- invariants and the ledger ---- */

/* Check the records [@from, @from + @n) that hold a page. */
static void check_recs(u32 from, u32 n)
{
	static u8 want[PAGE_SIZE];
	struct rec *r;

	for (r = m.recs + from; r < m.recs + from + n; r++) {
		if (!r->used || r->bad_seen || r->unfilled)
			continue;
		make_fill(want, r->pfn, r->part, r->seq);
		if (!memcmp(want, pfn_ptr(r->pfn), PAGE_SIZE))
			continue;
		r->bad_seen = 1;
		m.count[GUEST_WRITES]++;
		if (m.logged_writes++ < LOG_FIRST)
			say("guest_writes: held pfn %#llx (partition %#llx) was written",
			    r->pfn, r->part);
	}
}

/* Pages of [a, b) (GPAs) in carveout @c. */
static u64 overlap(u64 a, u64 b, int c)
{
	u64 lo = a > m.cbase[c] ? a : m.cbase[c];
	u64 hi = b < m.cend[c] ? b : m.cend[c];

	return hi > lo ? (hi - lo) / PAGE_SIZE : 0;
}

/*
 * Carveout pages that have memory in the RAM files: the files' data
 * extents (lseek() SEEK_DATA/SEEK_HOLE, which tmpfs answers from its page
 * cache, skipping holes) that fall in a carveout. The guest's RAM is
 * sparse: a page gets memory once it is written, or read through a shared
 * mapping (tmpfs allocates on a read fault too), by QEMU for the guest or by
 * this process. The model writes a page when it takes it and punches it out
 * when it gives it back, so in a guest that leaves the carveout alone this
 * equals held_carveout; more means something read or wrote carveout pages
 * the hypervisor does not hold. ~0 if a file cannot be read so.
 */
static u64 count_carve_resident(void)
{
	u64 total = 0, lo, hi;
	off_t data, hole;
	int f, c;

	for (f = 0; f < m.nram; f++) {
		for (data = 0;; data = hole) {
			data = lseek(m.ram_fd[f], data, SEEK_DATA);
			if (data < 0 && errno == ENXIO)
				break;
			hole = data < 0 ? -1 : lseek(m.ram_fd[f], data, SEEK_HOLE);
			if (hole < 0) {
				say("SEEK_DATA/SEEK_HOLE on RAM file %d: %s", f,
				    strerror(errno));
				return ~0ull;
			}
			/* RAM offsets [lo, hi): below the 4 GiB hole, above it. */
			lo = m.ram_off[f] + (u64)data;
			hi = m.ram_off[f] + (u64)hole;
			for (c = 0; c < m.ncarve; c++) {
				if (lo < m.lowmem)
					total += overlap(lo, hi < m.lowmem ?
							 hi : m.lowmem, c);
				if (hi > m.lowmem)
					total += overlap(GIB4 + (lo > m.lowmem ?
								 lo - m.lowmem : 0),
							 GIB4 + hi - m.lowmem, c);
			}
		}
	}
	return total;
}

/* Every held page: at a hello, on SIGUSR1 (a checkpoint) and at exit. */
static void check_pages(void)
{
	check_recs(0, m.nrecs);
	m.carve_resident = count_carve_resident();
	m.full_checks++;
}

/*
 * Before each hypercall, the next CHECK_PER_CALL records in turn: a guest
 * that makes many calls is swept as it goes, at a bounded cost per call
 * (a whole sweep per call made a 4-vCPU stress 20 times slower).
 */
static void check_some(void)
{
	u32 n;

	if (m.check_pos >= m.nrecs)
		m.check_pos = 0;
	n = m.nrecs - m.check_pos < CHECK_PER_CALL ?
	    m.nrecs - m.check_pos : CHECK_PER_CALL;
	check_recs(m.check_pos, n);
	m.check_pos += n;
}

static void new_epoch(void)
{
	struct rec *r;

	m.epoch++;
	for (r = m.recs; r < m.recs + m.nrecs; r++) {
		if (!r->used || r->carve || r->kexec_seen || r->epoch >= m.epoch)
			continue;
		r->kexec_seen = 1;
		m.count[ORD_KEXEC]++;
		if (m.logged_kexec++ < LOG_FIRST)
			say("ordinary_across_kexec: pfn %#llx (partition %#llx, epoch %u) held in epoch %llu",
			    r->pfn, r->part, r->epoch, m.epoch);
	}
}

static const char *mode_name(void)
{
	return m.adversarial ? "adversarial" : m.blind ? "blind" : "honest";
}

static void write_ledger(void)
{
	char tmp[4200];
	u64 in_use;
	FILE *f;
	u32 i;

	snprintf(tmp, sizeof(tmp), "%s.tmp", m.ledger);
	f = fopen(tmp, "w");
	if (!f) {
		say("ledger %s: %s", tmp, strerror(errno));
		return;
	}
	fprintf(f, "mode %s\nseed %llu\nepoch %llu\nheld %llu\n",
		mode_name(), m.seed, m.epoch, m.nheld);
	fprintf(f, "held_carveout %llu\nheld_ordinary %llu\n", m.ncarve_held,
		m.nheld - m.ncarve_held);
	for (i = 0; i < m.nparts; i++)
		if (m.parts[i].n)
			fprintf(f, "partition %#llx %u\n", m.parts[i].id,
				m.parts[i].n);
	for (i = 0, in_use = 0; i < m.nparts; i++)
		in_use += m.parts[i].in_use;
	fprintf(f, "in_use %llu\nlps %u\n", in_use, m.nlps);
	for (i = 0; i < NCOUNT; i++)
		fprintf(f, "%s %llu\n", count_name[i], m.count[i]);
	fprintf(f, "full_checks %llu\ncarveout_resident %llu\n", m.full_checks,
		m.carve_resident);
	if (fclose(f) || rename(tmp, m.ledger))
		say("ledger %s: %s", m.ledger, strerror(errno));
}

/* ---- hypercalls ---- */

static int valid_part(u64 id)
{
	return id == HV_PARTITION_ID_SELF || (id && id <= 0xffffffffull);
}

/*
 * The @len bytes of a parameter page at @gpa, or NULL with *st set: not
 * 8-byte aligned, more than a page, not RAM in one piece, or on a held page.
 */
static u8 *param(u64 gpa, u64 len, u32 *st)
{
	u8 *p = NULL;

	*st = HV_STATUS_INVALID_ALIGNMENT;
	if (gpa & 7)
		return NULL;
	*st = HV_STATUS_INVALID_PARAMETER;
	if (len <= PAGE_SIZE && gpa <= ~0ull - PAGE_SIZE)
		p = gpa_ptr(gpa, len);
	if (!p || held(gpa >> PAGE_SHIFT) || held((gpa + len - 1) >> PAGE_SHIFT))
		return NULL;
	return p;
}

static u64 deposit(u64 ctl, u64 in_gpa)
{
	u32 cnt = CTL_REPCNT(ctl), start = CTL_REPSTART(ctl), n = cnt - start;
	u32 i, st, early = cnt, lie = cnt, nomem = cnt;
	u64 list[PAGE_SIZE / 8], pid;
	struct part *p;
	u8 *in, *pg;

	if (!n)
		return RESULT(HV_STATUS_SUCCESS, cnt);
	in = param(in_gpa, 8 + 8ull * cnt, &st);
	if (!in)
		return RESULT(st, start);
	pid = get64(in);
	for (i = start; i < cnt; i++)	/* read once, before any rep */
		list[i] = get64(in + 8 + 8ull * i);
	if (!valid_part(pid))
		return RESULT(HV_STATUS_INVALID_PARTITION_ID, start);
	p = find_part(pid, 1);
	if (m.adversarial && !p->decided) {
		p->decided = 1;
		if (!rnd_below(ADV_PART_ONE_IN) && !m.denied_picked)
			p->denied = m.denied_picked = 1;
	}
	if (p->denied) {
		inject("deposit partition %#llx: ACCESS_DENIED, partition refused whole",
		       pid);
		return RESULT(HV_STATUS_ACCESS_DENIED, start);
	}
	if (m.adversarial) {	/* always three draws: reproducible */
		if (!rnd_below(ADV_ONE_IN) && n >= 2)
			early = start + 1 + rnd_below(n - 1);
		if (!rnd_below(ADV_ONE_IN))
			lie = start + rnd_below(n);
		if (!rnd_below(ADV_ONE_IN))
			nomem = start + rnd_below(n);
	}
	for (i = start; i < cnt; i++) {
		if (i == early) {
			inject("deposit partition %#llx: early return after %u of %u",
			       pid, i, cnt);
			return RESULT(HV_STATUS_SUCCESS, i);
		}
		if (i == nomem) {
			inject("deposit partition %#llx: INSUFFICIENT_MEMORY at rep %u of %u",
			       pid, i, cnt);
			return RESULT(HV_STATUS_INSUFFICIENT_MEMORY, i);
		}
		pg = pfn_ptr(list[i]);
		if (!pg)
			return RESULT(HV_STATUS_INVALID_PARAMETER, i);
		if (held(list[i]) && m.blind) {
			m.count[ACCEPTED_HELD]++;
			continue;
		}
		if (held(list[i])) {
			m.count[REFUSALS]++;
			return RESULT(HV_STATUS_OPERATION_DENIED, i);
		}
		if (i == lie) {
			inject("deposit partition %#llx: OPERATION_DENIED for free pfn %#llx at rep %u of %u",
			       pid, list[i], i, cnt);
			return RESULT(HV_STATUS_OPERATION_DENIED, i);
		}
		take_page(p, list[i], pg, 1);
	}
	return RESULT(HV_STATUS_SUCCESS, cnt);
}

static u64 withdraw(u64 ctl, u64 in_gpa, u64 out_gpa)
{
	u32 cnt = CTL_REPCNT(ctl), start = CTL_REPSTART(ctl), want = cnt - start;
	u32 i, st, take, avail;
	int shuffle = 0;
	struct part *p;
	u8 *in, *out;
	u64 pid;

	if (!want)
		return RESULT(HV_STATUS_SUCCESS, cnt);
	in = param(in_gpa, 16, &st);
	out = in ? param(out_gpa, 8ull * cnt, &st) : NULL;
	if (!out)
		return RESULT(st, start);
	pid = get64(in);
	if (!valid_part(pid))
		return RESULT(HV_STATUS_INVALID_PARTITION_ID, start);
	p = find_part(pid, 0);
	avail = p ? p->n - p->in_use : 0;
	take = avail < want ? avail : want;
	if (m.adversarial) {	/* always two draws */
		if (!rnd_below(ADV_ONE_IN) && take && avail >= 2) {
			shuffle = 1;
			inject("withdraw partition %#llx: random order", pid);
		}
		if (!rnd_below(ADV_ONE_IN) && take >= 2) {
			take = 1 + rnd_below(take - 1);
			inject("withdraw partition %#llx: short count, %u of %u",
			       pid, start + take, cnt);
		}
	}
	for (i = 0; i < take; i++)
		put64(out + 8ull * (start + i),
		      give_page(p, shuffle ? p->in_use + rnd_below(p->n - p->in_use) :
				p->n - 1));
	if (take < want)	/* ran out, or says so early (adversarial) */
		return RESULT(HV_STATUS_NO_RESOURCES, start + take);
	return RESULT(HV_STATUS_SUCCESS, start + take);
}

static u64 balance(u64 ctl, u64 in_gpa, u64 out_gpa)
{
	struct part *p;
	u8 *in, *out;
	u32 st;

	if (CTL_REPCNT(ctl) || CTL_REPSTART(ctl))
		return RESULT(HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
	in = param(in_gpa, 16, &st);
	out = in ? param(out_gpa, 16, &st) : NULL;
	if (!out)
		return RESULT(st, 0);
	if (!valid_part(get64(in)))
		return RESULT(HV_STATUS_INVALID_PARTITION_ID, 0);
	p = find_part(get64(in), 0);
	put64(out, p ? p->n - p->in_use : 0);
	put64(out + 8, p ? p->in_use : 0);
	return RESULT(HV_STATUS_SUCCESS, 0);
}

/*
 * Take @pages of partition @pid's available pages into use, or answer
 * INSUFFICIENT_MEMORY: how a hypervisor asks its caller to deposit
 * (Linux's hv_result_needs_memory(), hv_call_add_logical_proc()).
 */
static u32 use_pages(u64 pid, u32 pages)
{
	struct part *p = find_part(pid, pages != 0);

	if (pages && p->n - p->in_use < pages)
		return HV_STATUS_INSUFFICIENT_MEMORY;
	if (pages)
		p->in_use += pages;
	return HV_STATUS_SUCCESS;
}

/*
 * The calls of a root partition's boot (hv_smp_prepare_cpus() in Linux's
 * arch/x86/kernel/cpu/mshyperv.c), simple calls, as Linux's
 * include/hyperv/hvhdk_mini.h lays out their input:
 *  - HvCallGetLogicalProcessorRunTime (0x0004): input u32 LP index.
 *    SUCCESS for LP 0 and every LP added, else INVALID_LP_INDEX (what
 *    Linux's hv_lp_exists() takes as "no such LP"). Output: 32 zero
 *    bytes.
 *  - HvCallAddLogicalProcessor (0x0076): input u32 LP index, u32 APIC ID.
 *    An LP takes --lp-pages of the root's (SELF's) available pages into
 *    use; with fewer available: INSUFFICIENT_MEMORY, and Linux deposits
 *    one more page and asks again. ASSUMPTION: the number of pages (the
 *    TLFS gives none), and INVALID_PARAMETER for an LP added already.
 *    Output: 40 zero bytes.
 *  - HvCallNotifyPartitionEvent (0x0087): SUCCESS.
 *  - HvCallCreateVp (0x004E): input u64 partition, u32 VP index; takes
 *    --vp-pages (default 0: "Root VPs don't seem to need pages
 *    deposited", Linux's hv_call_create_vp()) of that partition's pages.
 * Pages in use are never withdrawn, and a balance counts them as in use.
 */
static u64 boot_call(u32 code, u64 ctl, u64 in_gpa, u64 out_gpa)
{
	u8 *in, *out = NULL;
	u32 st, lp;

	if (CTL_REPCNT(ctl) || CTL_REPSTART(ctl))
		return RESULT(HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
	if (code == HVCALL_NOTIFY_PARTITION_EVENT)
		return RESULT(HV_STATUS_SUCCESS, 0);
	in = param(in_gpa, code == HVCALL_CREATE_VP ? 12 : 8, &st);
	if (!in)
		return RESULT(st, 0);
	if (code == HVCALL_CREATE_VP) {
		if (!valid_part(get64(in)))
			return RESULT(HV_STATUS_INVALID_PARTITION_ID, 0);
		return RESULT(use_pages(get64(in), m.vp_pages), 0);
	}
	out = param(out_gpa, code == HVCALL_ADD_LOGICAL_PROCESSOR ? 40 : 32, &st);
	if (!out)
		return RESULT(st, 0);
	lp = (u32)get64(in);
	if (lp >= MAX_LPS)
		return RESULT(HV_STATUS_INVALID_LP_INDEX, 0);
	if (code == HVCALL_GET_LOGICAL_PROCESSOR_RUN_TIME) {
		if (lp && !m.lp[lp])
			return RESULT(HV_STATUS_INVALID_LP_INDEX, 0);
		memset(out, 0, 32);
		return RESULT(HV_STATUS_SUCCESS, 0);
	}
	if (!lp || m.lp[lp])
		return RESULT(HV_STATUS_INVALID_PARAMETER, 0);
	st = use_pages(HV_PARTITION_ID_SELF, m.lp_pages);
	if (st == HV_STATUS_SUCCESS) {
		m.lp[lp] = 1;
		m.nlps++;
		memset(out, 0, 40);
		say("call %llu: logical processor %u added, %u pages in use",
		    m.ncall, lp, m.lp_pages);
	}
	return RESULT(st, 0);
}

static u64 hypercall(u64 ctl, u64 in_gpa, u64 out_gpa)
{
	u32 code = CTL_CODE(ctl);

	m.ncall++;
	if (code == HVCALL_GET_LOGICAL_PROCESSOR_RUN_TIME ||
	    code == HVCALL_ADD_LOGICAL_PROCESSOR ||
	    code == HVCALL_NOTIFY_PARTITION_EVENT || code == HVCALL_CREATE_VP) {
		m.count[CALLS_OTHER]++;
		if (ctl & (CTL_FAST | CTL_VARHEAD | CTL_RSVD))
			return RESULT(HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
		return boot_call(code, ctl, in_gpa, out_gpa);
	}
	if (code < HVCALL_DEPOSIT_MEMORY || code > HVCALL_GET_MEMORY_BALANCE) {
		m.count[CALLS_OTHER]++;
		say("call %llu: unknown call code %#x", m.ncall, code);
		return RESULT(HV_STATUS_INVALID_HYPERCALL_CODE, 0);
	}
	m.count[CALLS_DEP + code - HVCALL_DEPOSIT_MEMORY]++;
	if ((ctl & (CTL_FAST | CTL_VARHEAD | CTL_RSVD)) ||
	    CTL_REPSTART(ctl) > CTL_REPCNT(ctl))
		return RESULT(HV_STATUS_INVALID_HYPERCALL_INPUT, 0);
	if (code == HVCALL_DEPOSIT_MEMORY)
		return deposit(ctl, in_gpa);
	if (code == HVCALL_WITHDRAW_MEMORY)
		return withdraw(ctl, in_gpa, out_gpa);
	return balance(ctl, in_gpa, out_gpa);
}

/* ---- the connection ---- */

#define FRAME_IN	40	/* magic, seq, control, input, output */
#define FRAME_OUT	24	/* magic, seq, result */

/* Handle the frame at @f and answer it; -1 if the answer cannot be sent. */
static int frame(int fd, const u8 *f)
{
	u8 reply[FRAME_OUT];
	u64 ret = 0;

	if (get64(f) == MAGIC_HELLO) {
		check_pages();
		new_epoch();
		say("hello: epoch %llu, %llu pages held", m.epoch, m.nheld);
	} else {
		check_some();
		ret = hypercall(get64(f + 16), get64(f + 24), get64(f + 32));
	}
	if (get64(f) == MAGIC_HELLO)
		write_ledger();
	put64(reply, MAGIC_RET);
	put64(reply + 8, get64(f + 8));
	put64(reply + 16, ret);
	/* Blocking, signals blocked: a stream socket takes it all or fails. */
	return send(fd, reply, sizeof(reply), MSG_NOSIGNAL) == sizeof(reply) ?
	       0 : -1;
}

static void serve(int fd, const sigset_t *unblocked)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0, off;
	int resync = 0;
	u8 buf[8192];
	ssize_t k;
	u64 magic;

	while (!stop) {
		if (ppoll(&pfd, 1, NULL, unblocked) < 0) {
			int err = errno;

			check_if_asked();
			if (err == EINTR)
				continue;
			return;
		}
		check_if_asked();
		k = read(fd, buf + len, sizeof(buf) - len);
		if (k <= 0)
			return;
		len += (size_t)k;
		for (off = 0; len - off >= 8; ) {
			magic = get64(buf + off);
			if (magic != MAGIC_CALL && magic != MAGIC_HELLO) {
				if (!resync++) {
					m.count[BAD_FRAMES]++;
					say("bad frame: magic %#llx, resynchronising",
					    magic);
				}
				off++;
				continue;
			}
			if (resync)
				say("resynchronised, %d bytes dropped", resync);
			resync = 0;
			if (len - off < FRAME_IN)
				break;
			if (frame(fd, buf + off))
				return;
			off += FRAME_IN;
		}
		memmove(buf, buf + off, len - off);
		len -= off;
	}
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		check_now = 1;
	else
		stop = 1;
}

/* SIGUSR1: check every held page now, and say so in the ledger. */
static void check_if_asked(void)
{
	if (!check_now)
		return;
	check_now = 0;
	check_pages();
	write_ledger();
}

/* ---- setup ---- */

static u64 number(const char *s, const char *what)
{
	char *end;
	u64 v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || *s == '+' ||
	    isspace((unsigned char)*s))
		fail(what, s);
	return v;
}

static void add_carveout(char *arg)
{
	char *colon = strchr(arg, ':');
	u64 base, size;

	if (!colon || m.ncarve == MAX_CARVEOUTS)
		fail("bad --carveout", arg);
	*colon = 0;
	base = number(arg, "bad --carveout base");
	size = number(colon + 1, "bad --carveout size");
	if (!size || base + size < base)
		fail("bad --carveout size", colon + 1);
	m.cbase[m.ncarve] = base;
	m.cend[m.ncarve++] = base + size;
}

/* --hold BASE:SIZE:PARTITION: held from the start, as if deposited. */
static void add_hold(char *arg)
{
	char *c1 = strchr(arg, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	u64 base, size, pid, pfn;
	u8 *pg;

	if (!c2)
		fail("bad --hold", arg);
	*c1 = *c2 = 0;
	base = number(arg, "bad --hold base");
	size = number(c1 + 1, "bad --hold size");
	pid = number(c2 + 1, "bad --hold partition");
	if ((base | size) & (PAGE_SIZE - 1) || !size || base + size < base ||
	    !valid_part(pid))
		fail("bad --hold", arg);
	for (pfn = base >> PAGE_SHIFT; pfn < (base + size) >> PAGE_SHIFT; pfn++) {
		pg = pfn_ptr(pfn);
		if (!pg || held(pfn))
			fail("bad --hold: not RAM, or held twice", arg);
		take_page(find_part(pid, 1), pfn, pg, 1);
		/* Held before the guest's first boot: crossed no kexec of it. */
		held(pfn)->kexec_seen = 1;
	}
	say("holding [%#llx, %#llx) for partition %#llx from the start", base,
	    base + size, pid);
}

/*
 * --hold-runs BASE:K:R:GAP:PARTITION: K pages held for PARTITION from the
 * start, in R runs of K / R pages from BASE, GAP pages apart, not filled
 * (for make bench: 10^7 held pages cost the host the model's records, not
 * 40 GiB). The guest's writes to them are not checked, and they have no
 * memory in the RAM file (carveout_resident does not count them).
 */
static void add_hold_runs(const char *arg)
{
	u64 v[5], pfn, end, i;
	char buf[256], *s = buf, *e;
	struct part *p;
	int n;

	/* Parsed in a copy: the messages show the whole argument. */
	if (strlen(arg) >= sizeof(buf))
		fail("bad --hold-runs", arg);
	strcpy(buf, arg);
	for (n = 0; n < 5; n++) {
		e = strchr(s, ':');
		/* Four colons: no fewer, no more. */
		if ((n < 4) != !!e)
			fail("bad --hold-runs", arg);
		if (e)
			*e = 0;
		v[n] = number(s, "bad --hold-runs");
		if (e)
			s = e + 1;
	}
	if ((v[0] & (PAGE_SIZE - 1)) || !v[1] || !v[2] || v[1] % v[2] ||
	    !valid_part(v[4]))
		fail("bad --hold-runs", arg);
	p = find_part(v[4], 1);
	for (pfn = v[0] >> PAGE_SHIFT, i = 0; i < v[2]; i++, pfn = end + v[3]) {
		for (end = pfn + v[1] / v[2]; pfn < end; pfn++) {
			if (!pfn_ptr(pfn) || held(pfn))
				fail("bad --hold-runs: not RAM, or held twice", arg);
			take_page(p, pfn, NULL, 0);
			held(pfn)->kexec_seen = 1;
		}
	}
	say("holding %llu pages in %llu runs from %#llx for partition %#llx from the start, unfilled",
	    v[1], v[2], v[0], v[4]);
}

static const struct option options[] = {
	{ "ram", 1, NULL, 'r' },	{ "lowmem", 1, NULL, 'l' },
	{ "socket", 1, NULL, 's' },	{ "ledger", 1, NULL, 'L' },
	{ "log", 1, NULL, 'g' },	{ "carveout", 1, NULL, 'c' },
	{ "mode", 1, NULL, 'm' },	{ "seed", 1, NULL, 'S' },
	{ "hold", 1, NULL, 'H' },	{ "lp-pages", 1, NULL, 'P' },
	{ "vp-pages", 1, NULL, 'V' },	{ "hold-runs", 1, NULL, 'R' },
	{ NULL, 0, NULL, 0 }
};

int main(int argc, char **argv)
{
	const char *ram[MAX_RAM_FILES], *logname = NULL, *lowmem = NULL;
	u64 sizes[MAX_RAM_FILES], off;
	int nram = 0;
	char *holds[MAX_CARVEOUTS], *runs[MAX_CARVEOUTS];
	int nholds = 0, nruns = 0, i;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sigaction act = { .sa_handler = on_signal };
	struct pollfd pfd = { .events = POLLIN };
	sigset_t block, unblocked;
	struct stat st;
	int opt, fd;

	/* Do not outlive vmrun.sh, even when it is killed. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	m.seed = 1;
	m.lp_pages = 3;
	m.log = stderr;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt == 'r' && nram < MAX_RAM_FILES)
			ram[nram++] = optarg;
		else if (opt == 'l')
			lowmem = optarg;
		else if (opt == 's')
			m.sock = optarg;
		else if (opt == 'L')
			m.ledger = optarg;
		else if (opt == 'g')
			logname = optarg;
		else if (opt == 'c')
			add_carveout(optarg);
		else if (opt == 'S')
			m.seed = number(optarg, "bad --seed");
		else if (opt == 'H' && nholds < MAX_CARVEOUTS)
			holds[nholds++] = optarg;
		else if (opt == 'R' && nruns < MAX_CARVEOUTS)
			runs[nruns++] = optarg;
		else if (opt == 'P')
			m.lp_pages = (u32)number(optarg, "bad --lp-pages");
		else if (opt == 'V')
			m.vp_pages = (u32)number(optarg, "bad --vp-pages");
		else if (opt == 'm' && !strcmp(optarg, "honest"))
			m.adversarial = m.blind = 0;
		else if (opt == 'm' && !strcmp(optarg, "adversarial"))
			m.adversarial = 1, m.blind = 0;
		else if (opt == 'm' && !strcmp(optarg, "blind"))
			m.blind = 1, m.adversarial = 0;
		else
			fail("usage: hv-model --ram FILE --lowmem BYTES --socket PATH --ledger FILE [--log FILE] [--carveout BASE:SIZE]... [--hold BASE:SIZE:PARTITION]... [--hold-runs BASE:K:R:GAP:PARTITION]... [--lp-pages N] [--vp-pages N] [--mode honest|adversarial|blind] [--seed N]",
			     NULL);
	}
	if (optind != argc || !nram || !lowmem || !m.sock || !m.ledger)
		fail("--ram, --lowmem, --socket and --ledger are needed", NULL);
	m.lowmem = number(lowmem, "bad --lowmem");
	if (strlen(m.sock) >= sizeof(sa.sun_path) || strlen(m.ledger) > 4000)
		fail("path too long", NULL);
	if (logname && !(m.log = fopen(logname, "w"))) {
		m.log = stderr;
		fail(logname, strerror(errno));
	}
	setvbuf(m.log, NULL, _IOLBF, 0);
	say("mode %s seed %llu", mode_name(), m.seed);
	m.rng = m.seed;

	/* The sizes first, then one reservation, then each file in it. */
	for (i = 0; i < nram; i++) {
		fd = open(ram[i], O_RDONLY);
		if (fd < 0 || fstat(fd, &st))
			fail(ram[i], strerror(errno));
		close(fd);
		sizes[i] = (u64)st.st_size;
		if (!sizes[i] || (sizes[i] & (PAGE_SIZE - 1)))
			fail("--ram size is not a positive multiple of 4096",
			     ram[i]);
		m.size += sizes[i];
	}
	if (m.lowmem > m.size || m.lowmem > GIB4 || (m.lowmem & (PAGE_SIZE - 1)))
		fail("--lowmem must be page aligned, <= 4 GiB and <= the RAM size",
		     lowmem);
	/* Address space only: nothing here is touched until a page is used. */
	m.ram = mmap(NULL, m.size, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m.ram == MAP_FAILED)
		fail("cannot reserve the RAM's address space", strerror(errno));
	for (i = 0, off = 0; i < nram; off += sizes[i++]) {
		fd = open(ram[i], O_RDWR);
		if (fd < 0 ||
		    mmap(m.ram + off, sizes[i], PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED)
			fail(ram[i], strerror(errno));
		m.ram_fd[i] = fd;
		m.ram_off[i] = off;
	}
	m.nram = nram;
	hash_grow();
	for (i = 0; i < nholds; i++)	/* after the carveouts: all parsed */
		add_hold(holds[i]);
	for (i = 0; i < nruns; i++)
		add_hold_runs(runs[i]);

	/* SIGTERM/SIGINT get through only inside ppoll(): no lost wakeup. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &unblocked);
	sigdelset(&unblocked, SIGTERM);
	sigdelset(&unblocked, SIGINT);
	sigdelset(&unblocked, SIGUSR1);
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	sigaction(SIGUSR1, &act, NULL);
	signal(SIGPIPE, SIG_IGN);

	strcpy(sa.sun_path, m.sock);
	unlink(m.sock);
	pfd.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (pfd.fd < 0 || bind(pfd.fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(pfd.fd, 4))
		fail(m.sock, strerror(errno));
	write_ledger();
	say("listening on %s", m.sock);

	while (!stop) {
		if (ppoll(&pfd, 1, NULL, &unblocked) < 0) {
			check_if_asked();
			continue;
		}
		fd = accept(pfd.fd, NULL, NULL);
		if (fd < 0)
			continue;
		say("connected");
		serve(fd, &unblocked);
		close(fd);
		say("connection closed");
	}
	check_pages();
	write_ledger();
	unlink(m.sock);
	say("exit: held %llu guest_writes %llu ordinary_across_kexec %llu bad_frames %llu injected %llu",
	    m.nheld, m.count[GUEST_WRITES], m.count[ORD_KEXEC],
	    m.count[BAD_FRAMES], m.count[INJECTED]);
	return 0;
}
