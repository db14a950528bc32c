/* stacks.c: the probe on where threads block and coroutines park
 * (stacks.bpf.c): off-CPU, waker, park and on-CPU stacks counted in the
 * kernel, symbolised here after the run (symbols.c) into folded stacks,
 * `frame;frame;frame value` from the root, the format flamegraph.pl,
 * speedscope and Perfetto read. A process's memory map is snapshotted while
 * it lives (the tick hook), since a reaped process has none to read. */
#include <errno.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/json.h"
#include "probe.h"
#include "stacks.h"
#include "symbols.h"
#include "track.h"
#include "stacks.skel.h"

extern const struct probe_ops stacks_probe;

#define STACKS_MAX_CPUS 1024
#define STACKS_KEPT	2000 /* folded stacks written per kind, the heaviest */
#define STACKS_LINE	8192

static const char *const kind_names[STACKS_NR] = {
	[STACKS_OFFCPU] = "offcpu",
	[STACKS_WAKER] = "waker",
	[STACKS_PARK] = "park",
	[STACKS_ONCPU] = "oncpu",
};

struct stacks_state {
	struct stacks_bpf *skel;
	struct bpf_link *links[STACKS_RUN_NR + STACKS_MAX_CPUS];
	int nlinks;
	int perf_fds[STACKS_MAX_CPUS];
	int nperf;
	char oncpu_reason[128]; /* why no on-CPU samples, or "" */
	struct symbols *syms;
};

struct folded {
	unsigned kind;
	char *stack;
	__u64 value, count;
};

struct stacks_data {
	__u64 counts[STACKS_CNT_NR];
	struct folded *rows;
	size_t nrows;
	__u64 total[STACKS_NR];
	const char *oncpu_reason;
	bool attached_park;
};

static void keep_link(struct stacks_state *st, struct bpf_link *l)
{
	if (l && st->nlinks < (int)(sizeof(st->links) / sizeof(st->links[0])))
		st->links[st->nlinks++] = l;
}

/* A software CPU clock per online CPU, each running sk_oncpu. */
static void attach_oncpu(struct stacks_state *st)
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);

	for (long cpu = 0; cpu < ncpu && cpu < STACKS_MAX_CPUS; cpu++) {
		struct perf_event_attr attr = {
			.type = PERF_TYPE_SOFTWARE,
			.config = PERF_COUNT_SW_CPU_CLOCK,
			.size = sizeof(attr),
			.freq = 1,
			.sample_freq = STACKS_ONCPU_HZ,
		};
		int fd = (int)syscall(__NR_perf_event_open, &attr, -1, (int)cpu, -1,
				      PERF_FLAG_FD_CLOEXEC);
		struct bpf_link *l;

		if (fd < 0) {
			if (errno == ENODEV)
				continue; /* offline CPU */
			snprintf(st->oncpu_reason, sizeof(st->oncpu_reason),
				 "perf_event_open(cpu-clock): %s", strerror(errno));
			return;
		}
		st->perf_fds[st->nperf++] = fd;
		l = bpf_program__attach_perf_event(st->skel->progs.sk_oncpu, fd);
		if (!l) {
			snprintf(st->oncpu_reason, sizeof(st->oncpu_reason),
				 "attach to cpu-clock: %s", strerror(errno));
			return;
		}
		keep_link(st, l);
	}
}

static int stacks_open(struct tracer *t, struct probe_slot *p, const struct btf *vmlinux)
{
	struct stacks_state *st = calloc(1, sizeof(*st));
	const char *path = t->opts.exe_path;
	char exe[PATH_MAX];
	struct bpf_link *l;
	int err;

	if (!st)
		return -ENOMEM;
	p->priv = st;
	st->syms = symbols_new();
	if (!st->syms)
		return -ENOMEM;
	if (t->opts.pid) {
		char link[64];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/%d/exe", t->opts.pid);
		n = readlink(link, exe, sizeof(exe) - 1);
		exe[n > 0 ? n : 0] = '\0';
		path = exe;
	}
	st->skel = stacks_bpf__open();
	if (!st->skel) {
		err = -errno;
		snprintf(p->reason, sizeof(p->reason), "open: %s", strerror(-err));
		return err;
	}
	if (!trace_check_tracepoints(st->skel->obj, vmlinux, stacks_probe.essential, p))
		return -ENOENT;
	err = trace_share_maps(t, st->skel->obj);
	if (!err)
		err = stacks_bpf__load(st->skel);
	if (err) {
		snprintf(p->reason, sizeof(p->reason), "load: %s", strerror(-err));
		return err;
	}
	p->obj = st->skel->obj;
	l = bpf_program__attach(st->skel->progs.sk_switch);
	if (!l) {
		err = -errno;
		snprintf(p->reason, sizeof(p->reason), "attach sched_switch: %s", strerror(-err));
		return err;
	}
	keep_link(st, l);
	l = bpf_program__attach(st->skel->progs.sk_wakeup);
	if (l)
		keep_link(st, l);
	else
		trace_append(p->missing, sizeof(p->missing), "sched_wakeup");
	/* the park site: the coroutine runtime's coro_park and coro_switch */
	l = path[0] ? bpf_program__attach_usdt(st->skel->progs.sk_coro_park, -1, path, "schedlab",
					       "coro_park", NULL)
		    : NULL;
	if (l) {
		keep_link(st, l);
		l = bpf_program__attach_usdt(st->skel->progs.sk_coro_switch, -1, path, "schedlab",
					     "coro_switch", NULL);
		keep_link(st, l);
	}
	if (!l)
		trace_append(p->missing, sizeof(p->missing), "coro_park");
	attach_oncpu(st);
	if (st->oncpu_reason[0])
		trace_append(p->missing, sizeof(p->missing), "oncpu");
	return 0;
}

static void stacks_close(struct probe_slot *p)
{
	struct stacks_state *st = p->priv;

	if (!st)
		return;
	for (int i = 0; i < st->nlinks; i++)
		bpf_link__destroy(st->links[i]);
	for (int i = 0; i < st->nperf; i++)
		close(st->perf_fds[i]);
	stacks_bpf__destroy(st->skel);
	symbols_free(st->syms);
	free(st);
}

/* While the command runs: every traced process's memory map, for later
 * (symbols_snapshot decides how often). */
static void stacks_tick(struct tracer *t, struct probe_slot *p)
{
	struct stacks_state *st = p->priv;
	__u32 key, next, *prev = NULL;
	struct track_proc tp;

	while (!bpf_map_get_next_key(t->tracked_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(t->tracked_fd, &key, &tp))
			symbols_snapshot(st->syms, (pid_t)key, tp.execs);
	}
}

/* Appends the frames of one stack id, root first, to line. */
static void append_frames(struct stacks_state *st, int stack_fd, __s32 id, bool kernel, __u32 tgid,
			  char *line, size_t len)
{
	__u64 ips[STACKS_DEPTH] = {0};
	char name[256];
	int n = 0, first = 0;

	if (id < 0) {
		if (!kernel && id != -1) /* -1: none asked (a kernel thread) */
			snprintf(line + strlen(line), len - strlen(line), ";[no user stack]");
		return;
	}
	if (bpf_map_lookup_elem(stack_fd, &id, ips))
		return;
	while (n < STACKS_DEPTH && ips[n])
		n++;
	/* the tracing machinery on top of a kernel stack is ours, not theirs */
	while (kernel && first < n) {
		symbols_kernel(st->syms, ips[first], name, sizeof(name));
		if (strncmp(name, "bpf_", 4) && strncmp(name, "__bpf_", 6) &&
		    strncmp(name, "__traceiter_", 12) && strncmp(name, "perf_", 5) &&
		    strncmp(name, "__perf_", 7))
			break;
		first++;
	}
	for (int i = n - 1; i >= first; i--) {
		if (kernel)
			symbols_kernel(st->syms, ips[i], name, sizeof(name));
		else
			symbols_user(st->syms, (pid_t)tgid, ips[i], name, sizeof(name));
		for (char *c = name; *c; c++)
			if (*c == ';' || *c == ' ')
				*c = '_';
		snprintf(line + strlen(line), len - strlen(line), ";%s", name);
	}
}

static int by_kind_stack(const void *a, const void *b)
{
	const struct folded *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->stack, y->stack);
}

static int by_kind_value(const void *a, const void *b)
{
	const struct folded *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->value < y->value ? 1 : x->value > y->value ? -1 : 0;
}

static void sanitize(char *s)
{
	for (; *s; s++)
		if (*s == ';' || *s == ' ')
			*s = '_';
}

static int stacks_collect(struct tracer *t, struct probe_slot *p, struct trace_data *d, void **data)
{
	struct stacks_state *st = p->priv;
	struct stacks_data *sd = calloc(1, sizeof(*sd));
	int cfd = bpf_map__fd(st->skel->maps.stack_counts);
	int sfd = bpf_map__fd(st->skel->maps.stack_ids);
	struct stacks_key key, *prev = NULL;
	size_t cap = 0, out = 0;
	int err;

	(void)d;
	if (!sd)
		return -ENOMEM;
	*data = sd;
	sd->oncpu_reason = st->oncpu_reason[0] ? st->oncpu_reason : NULL;
	err = percpu_sum(bpf_map__fd(st->skel->maps.stacks_counts), STACKS_CNT_NR, sd->counts);
	if (err)
		return err;
	stacks_tick(t, p); /* processes still alive (--pid) */
	while (!bpf_map_get_next_key(cfd, prev, &key)) {
		struct stacks_value v;
		char line[STACKS_LINE], comm[17] = {0}, other[17] = {0};

		prev = &key;
		if (bpf_map_lookup_elem(cfd, &key, &v) || key.kind >= STACKS_NR)
			continue;
		memcpy(comm, key.comm, 16);
		if (!strcmp(comm, TRACE_HELD_COMM))
			continue; /* the command's wait for the tracer, before its exec */
		memcpy(other, key.other, 16);
		sanitize(comm);
		sanitize(other);
		if (key.kind == STACKS_WAKER)
			snprintf(line, sizeof(line), "%s;[woken by %s]", comm, other);
		else
			snprintf(line, sizeof(line), "%s", comm);
		append_frames(st, sfd, key.ustack, false, key.tgid, line, sizeof(line));
		append_frames(st, sfd, key.kstack, true, key.tgid, line, sizeof(line));
		if (sd->nrows == cap) {
			struct folded *n;

			cap = cap ? cap * 2 : 256;
			n = realloc(sd->rows, cap * sizeof(*n));
			if (!n)
				return -ENOMEM;
			sd->rows = n;
		}
		sd->rows[sd->nrows].kind = key.kind;
		sd->rows[sd->nrows].stack = strdup(line);
		sd->rows[sd->nrows].value = v.value;
		sd->rows[sd->nrows].count = v.count;
		if (!sd->rows[sd->nrows].stack)
			return -ENOMEM;
		sd->nrows++;
		sd->total[key.kind] += v.value;
	}
	/* different stack ids may read the same once symbolised: merge */
	qsort(sd->rows, sd->nrows, sizeof(*sd->rows), by_kind_stack);
	for (size_t i = 0; i < sd->nrows; i++) {
		if (out && sd->rows[out - 1].kind == sd->rows[i].kind &&
		    !strcmp(sd->rows[out - 1].stack, sd->rows[i].stack)) {
			sd->rows[out - 1].value += sd->rows[i].value;
			sd->rows[out - 1].count += sd->rows[i].count;
			free(sd->rows[i].stack);
			continue;
		}
		sd->rows[out++] = sd->rows[i];
	}
	sd->nrows = out;
	qsort(sd->rows, sd->nrows, sizeof(*sd->rows), by_kind_value);
	return 0;
}

static void stacks_free(void *data)
{
	struct stacks_data *sd = data;

	if (!sd)
		return;
	for (size_t i = 0; i < sd->nrows; i++)
		free(sd->rows[i].stack);
	free(sd->rows);
	free(sd);
}

static void stacks_json_top(struct json *j, const struct tracer *t, const struct trace_data *d,
			    const void *data, bool attached)
{
	const struct stacks_data *sd = data;

	(void)t;
	(void)d;
	if (!attached || !sd) {
		json_null(j, "stacks");
		return;
	}
	json_obj_open(j, "stacks");
	json_u64(j, "oncpu_hz", STACKS_ONCPU_HZ);
	json_str(j, "oncpu_reason", sd->oncpu_reason);
	json_obj_open(j, "kinds");
	for (unsigned k = 0; k < STACKS_NR; k++) {
		size_t kept = 0, omitted = 0;

		json_obj_open(j, kind_names[k]);
		json_str(j, "unit", k == STACKS_ONCPU ? "samples" : "ns");
		json_u64(j, "total", sd->total[k]);
		json_arr_open(j, "folded");
		for (size_t i = 0; i < sd->nrows; i++) {
			if (sd->rows[i].kind != k)
				continue;
			if (kept++ >= STACKS_KEPT) {
				omitted++;
				continue;
			}
			json_obj_open(j, NULL);
			json_str(j, "stack", sd->rows[i].stack);
			json_u64(j, "value", sd->rows[i].value);
			json_u64(j, "count", sd->rows[i].count);
			json_obj_close(j);
		}
		json_arr_close(j);
		json_u64(j, "omitted", omitted);
		json_obj_close(j);
	}
	json_obj_close(j);
	json_obj_close(j);
}

static void stacks_json_lost(struct json *j, const struct tracer *t, const void *data)
{
	const struct stacks_data *sd = data;

	(void)t;
	json_u64(j, "stacks_counts", sd->counts[STACKS_CNT_LOST_COUNTS]);
	json_u64(j, "stacks_storage", sd->counts[STACKS_CNT_LOST_STORAGE]);
	json_u64(j, "stacks_parked", sd->counts[STACKS_CNT_LOST_PARKED]);
	json_u64(j, "stacks_capture", sd->counts[STACKS_CNT_STACK_ERRORS]);
}

static void stacks_print_summary(FILE *out, const struct trace_data *d, const void *data)
{
	const struct stacks_data *sd = data;

	(void)d;
	fprintf(out, "  stacks: off-CPU %.3f ms, parked %.3f ms, %llu on-CPU samples, %zu stacks\n",
		(double)sd->total[STACKS_OFFCPU] / 1e6, (double)sd->total[STACKS_PARK] / 1e6,
		(unsigned long long)sd->total[STACKS_ONCPU], sd->nrows);
}

static const char *const stacks_runs[STACKS_RUN_NR] = {
	[STACKS_RUN_SWITCH] = "sk_switch",  [STACKS_RUN_WAKEUP] = "sk_wakeup",
	[STACKS_RUN_PARK] = "sk_coro_park", [STACKS_RUN_CORO_SWITCH] = "sk_coro_switch",
	[STACKS_RUN_ONCPU] = "sk_oncpu",
};

const struct probe_ops stacks_probe = {
	.name = "stacks",
	.summary = "off-CPU, waker, coroutine park and on-CPU stacks, folded",
	.runs = stacks_runs,
	.nruns = STACKS_RUN_NR,
	.elf_bytes = stacks_bpf__elf_bytes,
	.essential = "sk_switch",
	.open = stacks_open,
	.close = stacks_close,
	.tick = stacks_tick,
	.collect = stacks_collect,
	.free_data = stacks_free,
	.json_top = stacks_json_top,
	.json_lost = stacks_json_lost,
	.print_summary = stacks_print_summary,
};
