/* usdt.c: the probe on the coroutine runtime's USDT probes (usdt.bpf.c):
 * coroutine spawns, readies, switches, exits and run-queue latency, kept per
 * scheduler thread in the kernel and summed here per process. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "lib/json.h"
#include "probe.h"
#include "usdt.h"
#include "usdt.skel.h"

extern const struct probe_ops usdt_probe;

static const char *const usdt_names[USDT_RUN_NR] = {
	[USDT_RUN_SPAWN] = "coro_spawn",
	[USDT_RUN_READY] = "coro_ready",
	[USDT_RUN_SWITCH] = "coro_switch",
	[USDT_RUN_EXIT] = "coro_exit",
};

struct usdt_state {
	struct usdt_bpf *skel;
	struct bpf_link *links[USDT_RUN_NR];
};

struct usdt_total {
	__u32 tgid;
	struct usdt_proc sum;
};

struct usdt_data {
	__u64 counts[USDT_CNT_NR];
	struct usdt_total *procs;
	size_t nprocs;
	struct usdt_proc total;
};

static int usdt_open(struct tracer *t, struct probe_slot *p, const struct btf *vmlinux)
{
	struct usdt_state *st = calloc(1, sizeof(*st));
	struct bpf_program *progs[USDT_RUN_NR];
	char exe[PATH_MAX];
	const char *path = t->opts.exe_path;
	int err;

	(void)vmlinux;
	if (!st)
		return -ENOMEM;
	p->priv = st;
	if (t->opts.pid) {
		char link[64];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/%d/exe", t->opts.pid);
		n = readlink(link, exe, sizeof(exe) - 1);
		if (n < 0) {
			err = -errno;
			snprintf(p->reason, sizeof(p->reason), "%s: %s", link, strerror(-err));
			return err;
		}
		exe[n] = '\0';
		path = exe;
	}
	st->skel = usdt_bpf__open();
	if (!st->skel) {
		err = -errno;
		snprintf(p->reason, sizeof(p->reason), "open: %s", strerror(-err));
		return err;
	}
	st->skel->rodata->targ_events = t->events_fd >= 0;
	err = trace_share_maps(t, st->skel->obj);
	if (!err)
		err = usdt_bpf__load(st->skel);
	if (err) {
		snprintf(p->reason, sizeof(p->reason), "load: %s", strerror(-err));
		return err;
	}
	p->obj = st->skel->obj;
	progs[USDT_RUN_SPAWN] = st->skel->progs.st_coro_spawn;
	progs[USDT_RUN_READY] = st->skel->progs.st_coro_ready;
	progs[USDT_RUN_SWITCH] = st->skel->progs.st_coro_switch;
	progs[USDT_RUN_EXIT] = st->skel->progs.st_coro_exit;
	for (int i = 0; i < USDT_RUN_NR; i++) {
		/* pid -1: every process running the binary; BPF keeps ours */
		st->links[i] = bpf_program__attach_usdt(progs[i], -1, path, USDT_PROVIDER,
							usdt_names[i], NULL);
		if (st->links[i])
			continue;
		err = -errno;
		if (i == USDT_RUN_SWITCH) {
			snprintf(p->reason, sizeof(p->reason),
				 "no usable %s:%s USDT probe in %.120s (%s)", USDT_PROVIDER,
				 usdt_names[i], path, strerror(-err));
			return err;
		}
		trace_append(p->missing, sizeof(p->missing), usdt_names[i]);
	}
	return 0;
}

static void usdt_close(struct probe_slot *p)
{
	struct usdt_state *st = p->priv;

	if (!st)
		return;
	for (int i = 0; i < USDT_RUN_NR; i++)
		bpf_link__destroy(st->links[i]);
	usdt_bpf__destroy(st->skel);
	free(st);
}

static void usdt_merge(struct usdt_proc *dst, const struct usdt_proc *src)
{
	dst->spawns += src->spawns;
	dst->readies += src->readies;
	dst->switches += src->switches;
	dst->exits += src->exits;
	log2_merge(&dst->runq, &src->runq);
}

static struct usdt_total *proc_total(struct usdt_data *ud, __u32 tgid)
{
	struct usdt_total *n;

	for (size_t i = 0; i < ud->nprocs; i++)
		if (ud->procs[i].tgid == tgid)
			return &ud->procs[i];
	n = realloc(ud->procs, (ud->nprocs + 1) * sizeof(*n));
	if (!n)
		return NULL;
	ud->procs = n;
	n = &ud->procs[ud->nprocs++];
	memset(n, 0, sizeof(*n));
	n->tgid = tgid;
	return n;
}

static int usdt_collect(struct tracer *t, struct probe_slot *p, struct trace_data *d, void **data)
{
	struct usdt_state *st = p->priv;
	struct usdt_data *ud = calloc(1, sizeof(*ud));
	int fd = bpf_map__fd(st->skel->maps.usdt_threads);
	__u32 key, next, *prev = NULL;
	struct usdt_proc row;
	int err;

	(void)t;
	if (!ud)
		return -ENOMEM;
	*data = ud;
	err = percpu_sum(bpf_map__fd(st->skel->maps.usdt_counts), USDT_CNT_NR, ud->counts);
	if (err)
		return err;
	/* one entry per scheduler thread: summed into its process */
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		struct usdt_total *sum;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &row))
			continue;
		sum = proc_total(ud, row.tgid);
		if (!sum || !trace_proc_get(d, row.tgid))
			return -ENOMEM;
		usdt_merge(&sum->sum, &row);
		usdt_merge(&ud->total, &row);
	}
	return 0;
}

static void usdt_free(void *data)
{
	struct usdt_data *ud = data;

	if (ud)
		free(ud->procs);
	free(ud);
}

static void json_usdt(struct json *j, const char *key, const struct usdt_proc *u)
{
	json_obj_open(j, key);
	json_u64(j, "coro_switches", u->switches);
	json_u64(j, "spawns", u->spawns);
	json_u64(j, "readies", u->readies);
	json_u64(j, "exits", u->exits);
	json_dist(j, "runq_latency_ns", &u->runq);
	json_obj_close(j);
}

static void usdt_json_top(struct json *j, const struct tracer *t, const struct trace_data *d,
			  const void *data, bool attached)
{
	const struct usdt_data *ud = data;

	(void)t;
	(void)d;
	if (attached && ud)
		json_usdt(j, "usdt", &ud->total);
	else
		json_null(j, "usdt");
}

static void usdt_json_proc(struct json *j, const struct tracer *t, const struct trace_data *d,
			   const void *data, const struct trace_proc *proc)
{
	const struct usdt_data *ud = data;

	(void)t;
	(void)d;
	for (size_t i = 0; i < ud->nprocs; i++)
		if (ud->procs[i].tgid == proc->tgid)
			json_usdt(j, "usdt", &ud->procs[i].sum);
}

static void usdt_json_lost(struct json *j, const struct tracer *t, const void *data)
{
	const struct usdt_data *ud = data;

	(void)t;
	json_u64(j, "usdt_processes", ud->counts[USDT_CNT_LOST_PROCS]);
	json_u64(j, "usdt_ready", ud->counts[USDT_CNT_LOST_READY]);
	json_u64(j, "usdt_unpaired", ud->counts[USDT_CNT_UNPAIRED]);
	json_u64(j, "usdt_events", ud->counts[USDT_CNT_LOST_EVENTS]);
}

static void usdt_print_summary(FILE *out, const struct trace_data *d, const void *data)
{
	const struct usdt_data *ud = data;

	(void)d;
	fprintf(out, "  coroutines: switches %llu spawns %llu\n",
		(unsigned long long)ud->total.switches, (unsigned long long)ud->total.spawns);
}

static const char *const usdt_runs[USDT_RUN_NR] = {
	[USDT_RUN_SPAWN] = "st_coro_spawn",
	[USDT_RUN_READY] = "st_coro_ready",
	[USDT_RUN_SWITCH] = "st_coro_switch",
	[USDT_RUN_EXIT] = "st_coro_exit",
};

const struct probe_ops usdt_probe = {
	.name = "usdt",
	.summary = "coroutine runtime's USDT probes: switches, spawns, run-queue",
	.writes_events = true,
	.runs = usdt_runs,
	.nruns = USDT_RUN_NR,
	.elf_bytes = usdt_bpf__elf_bytes,
	.essential = "st_coro_switch",
	.open = usdt_open,
	.close = usdt_close,
	.collect = usdt_collect,
	.free_data = usdt_free,
	.json_top = usdt_json_top,
	.json_proc = usdt_json_proc,
	.json_lost = usdt_json_lost,
	.print_summary = usdt_print_summary,
};
