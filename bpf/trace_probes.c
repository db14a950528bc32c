/* trace_probes.c: open, load and attach every probe of the table (probe.h);
 * detach on every path.
 *
 * Each probe opens its own libbpf skeleton: __open -> set rodata and map
 * sizes -> __load -> attach, and __destroy in its close. Every object
 * declares the same `tracked` map and filter; the track probe creates them
 * and the others reuse its fds (bpf_map__reuse_fd, trace_share_maps), and
 * likewise the --events ring buffer, which trace_events.c creates.
 *
 * Availability is decided per tracepoint before loading: a tp_btf program
 * loads only if the kernel's BTF has btf_trace_<name>. A probe whose
 * essential tracepoint is missing is reported unavailable with the reason and
 * the others still run; a missing optional one is switched off and listed.
 *
 * Nothing is pinned: links and programs are owned by this process's fds, so
 * even a SIGKILLed tracer leaves nothing attached.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "probe.h"
#include "runs.h"

static bool verbose;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	/* libbpf's debug output only with -v */
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	if (level == LIBBPF_INFO && !verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

/* "tp_btf/sched_switch" -> does the kernel have that tracepoint? */
static bool tp_exists(const struct btf *vmlinux, const struct bpf_program *prog)
{
	const char *sec = bpf_program__section_name(prog);
	const char *slash = strchr(sec, '/');
	char name[128];

	if (!slash || strncmp(sec, "tp_btf/", 7))
		return true; /* not a tracepoint program: nothing to check */
	snprintf(name, sizeof(name), "btf_trace_%s", slash + 1);
	return btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) >= 0;
}

void trace_append(char *list, size_t len, const char *item)
{
	size_t used = strlen(list);

	snprintf(list + used, len - used, "%s%s", used ? "," : "", item);
}

bool trace_check_tracepoints(struct bpf_object *obj, const struct btf *vmlinux,
			     const char *essential, struct probe_slot *ps)
{
	struct bpf_program *prog;
	bool ok = true;

	bpf_object__for_each_program(prog, obj)
	{
		const char *sec = bpf_program__section_name(prog);

		if (tp_exists(vmlinux, prog))
			continue;
		bpf_program__set_autoload(prog, false);
		trace_append(ps->missing, sizeof(ps->missing), strchr(sec, '/') + 1);
		if (!strcmp(bpf_program__name(prog), essential)) {
			snprintf(ps->reason, sizeof(ps->reason),
				 "tracepoint %s not in this kernel's BTF", strchr(sec, '/') + 1);
			ok = false;
		}
	}
	return ok;
}

int trace_share_maps(struct tracer *t, struct bpf_object *obj)
{
	struct {
		const char *name;
		int fd;
	} shared[] = {
		{"tracked", t->tracked_fd},
		{"tracked_bloom", t->bloom_fd},
		{"events", t->events_fd},
	};

	for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
		struct bpf_map *map = bpf_object__find_map_by_name(obj, shared[i].name);
		int err;

		/* events without --events: the object keeps its own page */
		if (!map || shared[i].fd < 0)
			continue;
		err = bpf_map__reuse_fd(map, shared[i].fd);
		if (err)
			return err;
	}
	return 0;
}

static void open_one(struct tracer *t, struct probe_slot *p, const struct btf *vmlinux)
{
	int err = p->ops->open(t, p, vmlinux);

	p->attached = !err;
	if (err) {
		fprintf(stderr, "schedtrace: probe %s unavailable: %s\n", p->ops->name, p->reason);
		/* a probe that could not attach is unloaded: it must count nothing */
		if (p->ops->close)
			p->ops->close(p);
		p->priv = NULL;
		p->obj = NULL;
	} else if (p->missing[0] && t->opts.verbose) {
		fprintf(stderr, "schedtrace: probe %s: not attached: %s\n", p->ops->name,
			p->missing);
	}
}

int trace_probes_open(struct tracer *t)
{
	struct btf *vmlinux = NULL;
	int err = 0;

	verbose = t->opts.verbose;
	libbpf_set_print(libbpf_print);
	t->stats_fd = -1;

	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux) {
		err = -errno;
		fprintf(stderr, "schedtrace: load kernel BTF: %s\n", strerror(-err));
		return err;
	}

	/* Program statistics must be on before the programs first run. They add
	 * two clock reads to every run of every program, system-wide (measured:
	 * schedtrace 1.21x instead of 1.13x on a thread hand-off), so they are
	 * on only with --cost; otherwise run counts come from our own counters
	 * (runs.h) and run time is not measured. */
	if (t->opts.cost) {
		t->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (t->stats_fd < 0) {
			snprintf(t->stats_reason, sizeof(t->stats_reason),
				 "bpf_enable_stats: %s: run time not measured", strerror(errno));
			t->stats_fd = -1;
		}
	} else {
		snprintf(t->stats_reason, sizeof(t->stats_reason),
			 "BPF run-time statistics off (they slow every program run): "
			 "--cost turns them on");
	}

	for (int i = 0; i < t->nprobes; i++) {
		struct probe_slot *p = &t->probe[i];

		if (p->ops->always) {
			/* the others depend on it: its failure is the tracer's */
			err = p->ops->open(t, p, vmlinux);
			p->attached = !err;
			if (err) {
				fprintf(stderr, "schedtrace: %s\n", p->reason);
				break;
			}
		} else if (p->wanted) {
			open_one(t, p, vmlinux);
		}
	}
	btf__free(vmlinux);
	return err;
}

void trace_probes_close(struct tracer *t)
{
	/* the reverse of the load order: the shared maps' owner last */
	for (int i = t->nprobes - 1; i >= 0; i--) {
		struct probe_slot *p = &t->probe[i];

		if (p->priv && p->ops->close)
			p->ops->close(p);
		p->attached = false;
		p->priv = NULL;
		p->obj = NULL;
	}
	if (t->stats_fd >= 0)
		close(t->stats_fd);
	t->stats_fd = -1;
}

/* Sums a per-CPU array of __u64 counters. */
int percpu_sum(int map_fd, __u32 nkeys, __u64 *out)
{
	int ncpus = libbpf_num_possible_cpus();
	__u64 *vals;
	int err = 0;

	if (ncpus < 0)
		return ncpus;
	vals = calloc(ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (__u32 k = 0; k < nkeys; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(map_fd, &k, vals)) {
			err = -errno;
			goto cleanup;
		}
		for (int c = 0; c < ncpus; c++)
			out[k] += vals[c];
	}
cleanup:
	free(vals);
	return err;
}

/* Our own count of a program's runs, for when the kernel's is off. */
static __u64 own_runs(const struct probe_ops *ops, const char *name, const __u64 *runs)
{
	for (unsigned i = 0; i < ops->nruns && i < RUNS_MAX; i++)
		if (ops->runs[i] && !strcmp(ops->runs[i], name))
			return runs[i];
	return 0;
}

static int obj_stats(const struct probe_slot *p, struct prog_stat *out, int n, int max)
{
	__u64 runs[RUNS_MAX] = {0};
	struct bpf_program *prog;
	struct bpf_map *map;

	if (!p->obj)
		return n;
	map = bpf_object__find_map_by_name(p->obj, "runs");
	if (map && bpf_map__fd(map) >= 0 && percpu_sum(bpf_map__fd(map), RUNS_MAX, runs))
		memset(runs, 0, sizeof(runs));
	bpf_object__for_each_program(prog, p->obj)
	{
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		/* not loaded: its tracepoint is missing */
		if (fd < 0 || n >= max)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		snprintf(out[n].name, sizeof(out[n].name), "%s", bpf_program__name(prog));
		out[n].probe = p->ops->name;
		out[n].own_run_cnt = own_runs(p->ops, bpf_program__name(prog), runs);
		out[n].run_cnt = info.run_cnt;
		out[n].run_time_ns = info.run_time_ns;
		out[n].recursion_misses = info.recursion_misses;
		n++;
	}
	return n;
}

int trace_prog_stats(struct tracer *t, struct prog_stat *out, int max)
{
	int n = 0;

	for (int i = 0; i < t->nprobes; i++)
		n = obj_stats(&t->probe[i], out, n, max);
	return n;
}
