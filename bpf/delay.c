/* delay.c: the probe that attributes run-queue waits to whoever ran
 * instead (delay.bpf.c). It rides on the sched probe: it reuses its task
 * storage and per-CPU state, so it needs that probe attached with an exact
 * clock, and bpf_loop (Linux 5.17) for its bounded walk. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/clock.h"
#include "lib/json.h"
#include "probe.h"
#include "delay.h"
#include "sched.h"
#include "delay.skel.h"

extern const struct probe_ops delay_probe;

/* culprits listed per victim; the rest are summed as "others" */
#define DELAY_TOP 16

static const char *const rem_names[DELAY_REM_NR] = {
	[DELAY_REM_WINDOW] = "window",
	[DELAY_REM_MIGRATION] = "migration",
	[DELAY_REM_LOST] = "lost",
};

struct delay_entry {
	struct delay_key key;
	struct delay_row row;
};

struct delay_vrow {
	__u32 tid;
	struct delay_victim v;
};

struct delay_data {
	__u64 counts[DELAY_CNT_NR];
	struct delay_vrow *victims;
	size_t nvictims;
	struct delay_entry *rows;
	size_t nrows;
};

static const struct probe_slot *find_slot(const struct tracer *t, const char *name)
{
	for (int i = 0; i < t->nprobes; i++)
		if (!strcmp(t->probe[i].ops->name, name))
			return &t->probe[i];
	return NULL;
}

/* What delay needs of this run and kernel; false with the reason in p. */
static bool delay_usable(const struct tracer *t, struct probe_slot *p)
{
	const struct probe_slot *sched = find_slot(t, "sched");

	if (!sched || !sched->attached) {
		snprintf(p->reason, sizeof(p->reason),
			 "needs the sched probe (add it to --probes): it times the waits");
		return false;
	}
	if (t->opts.clock != SCHED_CLOCK_KTIME && t->opts.clock != SCHED_CLOCK_BOTH) {
		snprintf(p->reason, sizeof(p->reason),
			 "needs --clock ktime or both: its ring is on CLOCK_MONOTONIC");
		return false;
	}
	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_FUNC_loop, NULL) != 1) {
		snprintf(p->reason, sizeof(p->reason),
			 "this kernel has no bpf_loop helper (Linux 5.17+): the walk needs it");
		return false;
	}
	return true;
}

static int delay_open(struct tracer *t, struct probe_slot *p, const struct btf *vmlinux)
{
	const struct probe_slot *sched;
	struct delay_bpf *skel;
	int err;

	if (!delay_usable(t, p))
		return -EOPNOTSUPP;
	sched = find_slot(t, "sched");
	skel = delay_bpf__open();
	if (!skel) {
		err = -errno;
		snprintf(p->reason, sizeof(p->reason), "open: %s", strerror(-err));
		return err;
	}
	p->priv = skel;
	if (!trace_check_tracepoints(skel->obj, vmlinux, delay_probe.essential, p))
		return -ENOENT;
	/* the sched probe's thread storage and per-CPU state */
	err = bpf_map__reuse_fd(skel->maps.threads,
				bpf_object__find_map_fd_by_name(sched->obj, "threads"));
	if (!err)
		err = bpf_map__reuse_fd(skel->maps.cpu_state,
					bpf_object__find_map_fd_by_name(sched->obj, "cpu_state"));
	if (!err)
		err = bpf_map__set_max_entries(skel->maps.delay_ring, libbpf_num_possible_cpus());
	if (!err)
		err = delay_bpf__load(skel);
	/* after the sched probe's: a tracepoint runs its programs in attach order */
	if (!err)
		err = delay_bpf__attach(skel);
	/* from here on every switch of every CPU is seen: whatever runs on a
	 * CPU at its first switch seen has run there since (delay.bpf.c) */
	if (!err)
		skel->bss->attached_ns = now_ns();
	if (err) {
		snprintf(p->reason, sizeof(p->reason), "load/attach: %s", strerror(-err));
		return err;
	}
	p->obj = skel->obj;
	return 0;
}

static void delay_close(struct probe_slot *p)
{
	delay_bpf__destroy(p->priv);
}

static int delay_collect(struct tracer *t, struct probe_slot *p, struct trace_data *d, void **data)
{
	struct delay_bpf *skel = p->priv;
	struct delay_data *dd = calloc(1, sizeof(*dd));
	int vfd = bpf_map__fd(skel->maps.delay_victims), rfd = bpf_map__fd(skel->maps.delay_rows);
	struct delay_key rkey, *rprev = NULL;
	__u32 vkey, *vprev = NULL;
	int err;

	(void)t;
	(void)d;
	if (!dd)
		return -ENOMEM;
	*data = dd;
	err = percpu_sum(bpf_map__fd(skel->maps.delay_counts), DELAY_CNT_NR, dd->counts);
	if (err)
		return err;
	while (!bpf_map_get_next_key(vfd, vprev, &vkey)) {
		struct delay_vrow *n = realloc(dd->victims, (dd->nvictims + 1) * sizeof(*n));

		if (!n)
			return -ENOMEM;
		dd->victims = n;
		n[dd->nvictims].tid = vkey;
		if (!bpf_map_lookup_elem(vfd, &vkey, &n[dd->nvictims].v))
			dd->nvictims++;
		vprev = &vkey;
	}
	while (!bpf_map_get_next_key(rfd, rprev, &rkey)) {
		struct delay_entry *n = realloc(dd->rows, (dd->nrows + 1) * sizeof(*n));

		if (!n)
			return -ENOMEM;
		dd->rows = n;
		n[dd->nrows].key = rkey;
		if (!bpf_map_lookup_elem(rfd, &rkey, &n[dd->nrows].row))
			dd->nrows++;
		rprev = &rkey;
	}
	return 0;
}

static void delay_free(void *data)
{
	struct delay_data *dd = data;

	if (dd) {
		free(dd->victims);
		free(dd->rows);
	}
	free(dd);
}

static int by_wait(const void *a, const void *b)
{
	const struct delay_vrow *x = a, *y = b;

	return x->v.wait_ns < y->v.wait_ns ? 1 : x->v.wait_ns > y->v.wait_ns ? -1 : 0;
}

static int by_total(const void *a, const void *b)
{
	const struct delay_entry *x = a, *y = b;

	if (x->key.victim != y->key.victim)
		return x->key.victim < y->key.victim ? -1 : 1;
	return x->row.total_ns < y->row.total_ns ? 1 : x->row.total_ns > y->row.total_ns ? -1 : 0;
}

/* A task as the section names it, victim or culprit. */
static void json_task(struct json *j, __u32 tid, __u32 tgid, const char *comm)
{
	json_u64(j, "tid", tid);
	json_u64(j, "tgid", tgid);
	json_str(j, "comm", comm);
}

static void json_victim(struct json *j, const struct delay_data *dd, const struct delay_vrow *vr)
{
	const struct delay_victim *v = &vr->v;
	__u64 others = 0, nothers = 0;
	unsigned listed = 0;

	json_obj_open(j, NULL);
	json_task(j, vr->tid, v->tgid, v->comm);
	json_u64(j, "waits", v->waits);
	json_u64(j, "wait_ns", v->wait_ns);
	json_u64(j, "attributed_ns", v->attributed_ns);
	json_obj_open(j, "remainder_ns");
	for (int r = 0; r < DELAY_REM_NR; r++)
		json_u64(j, rem_names[r], v->remainder_ns[r]);
	json_obj_close(j);
	json_arr_open(j, "culprits");
	/* rows are sorted by victim, then by total */
	for (size_t i = 0; i < dd->nrows; i++) {
		const struct delay_entry *e = &dd->rows[i];

		if (e->key.victim != vr->tid)
			continue;
		if (listed >= DELAY_TOP) {
			others += e->row.total_ns;
			nothers++;
			continue;
		}
		listed++;
		json_obj_open(j, NULL);
		json_task(j, e->key.culprit, e->row.culprit_tgid, e->row.culprit_comm);
		json_bool(j, "idle", e->key.culprit == 0);
		json_bool(j, "kernel_thread", e->row.kthread && e->key.culprit);
		json_u64(j, "total_ns", e->row.total_ns);
		json_f64(j, "share",
			 v->wait_ns ? (double)e->row.total_ns / (double)v->wait_ns : 0.0);
		json_u64(j, "segments", e->row.waits);
		json_dist(j, "delay_ns", &e->row.delay);
		json_obj_close(j);
	}
	json_arr_close(j);
	json_obj_open(j, "others");
	json_u64(j, "culprits", nothers);
	json_u64(j, "total_ns", others);
	json_obj_close(j);
	json_obj_close(j);
}

static void delay_json_top(struct json *j, const struct tracer *t, const struct trace_data *d,
			   const void *data, bool attached)
{
	struct delay_data *dd = (struct delay_data *)data;

	(void)t;
	(void)d;
	if (!attached || !dd) {
		json_null(j, "delay");
		return;
	}
	qsort(dd->victims, dd->nvictims, sizeof(*dd->victims), by_wait);
	qsort(dd->rows, dd->nrows, sizeof(*dd->rows), by_total);
	json_obj_open(j, "delay");
	json_u64(j, "ring_segments", DELAY_RING);
	json_u64(j, "segments", dd->counts[DELAY_CNT_SEGMENTS]);
	json_u64(j, "waits", dd->counts[DELAY_CNT_WAITS]);
	json_u64(j, "walks_past_ring", dd->counts[DELAY_CNT_PAST_RING]);
	json_u64(j, "walks_before_first", dd->counts[DELAY_CNT_BEFORE_FIRST]);
	json_u64(j, "walks_with_gaps", dd->counts[DELAY_CNT_GAPS]);
	json_arr_open(j, "threads");
	for (size_t i = 0; i < dd->nvictims; i++)
		json_victim(j, dd, &dd->victims[i]);
	json_arr_close(j);
	json_obj_close(j);
}

static void delay_json_lost(struct json *j, const struct tracer *t, const void *data)
{
	const struct delay_data *dd = data;

	(void)t;
	json_u64(j, "delay_threads", dd->counts[DELAY_CNT_LOST_VICTIMS]);
	json_u64(j, "delay_rows", dd->counts[DELAY_CNT_LOST_ROWS]);
}

static void delay_print_summary(FILE *out, const struct trace_data *d, const void *data)
{
	const struct delay_data *dd = data;
	__u64 wait = 0, attr = 0;

	(void)d;
	for (size_t i = 0; i < dd->nvictims; i++) {
		wait += dd->victims[i].v.wait_ns;
		attr += dd->victims[i].v.attributed_ns;
	}
	fprintf(out, "  delay: %llu waits, %.1f%% of %llu ns attributed to the tasks that ran\n",
		(unsigned long long)dd->counts[DELAY_CNT_WAITS],
		wait ? 100.0 * (double)attr / (double)wait : 0.0, (unsigned long long)wait);
}

static const char *const delay_runs[DELAY_RUN_NR] = {
	[DELAY_RUN_SWITCH] = "dl_switch",
	[DELAY_RUN_MIGRATE] = "dl_migrate",
};

const struct probe_ops delay_probe = {
	.name = "delay",
	.summary = "run-queue wait of each thread attributed to the tasks that ran instead",
	.runs = delay_runs,
	.nruns = DELAY_RUN_NR,
	.elf_bytes = delay_bpf__elf_bytes,
	.essential = "dl_switch",
	.open = delay_open,
	.close = delay_close,
	.collect = delay_collect,
	.free_data = delay_free,
	.json_top = delay_json_top,
	.json_lost = delay_json_lost,
	.print_summary = delay_print_summary,
};
