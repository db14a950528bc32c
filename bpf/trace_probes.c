/* trace_probes.c: open, load and attach the BPF objects; detach on every path.
 *
 * libbpf skeleton lifecycle, one object per probe set (track, sched, uring,
 * usdt): __open -> set rodata and map sizes -> __load -> attach, and
 * __destroy in trace_probes_close(). Every object declares the same `tracked`
 * map; the loader creates it once (track) and hands the fd to the others
 * with bpf_map__reuse_fd() before they load.
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

#include "runs.h"
#include "trace.h"
#include "track.skel.h"
#include "sched.skel.h"
#include "uring.skel.h"
#include "usdt.skel.h"

const char *const probe_names[PROBE_NR] = {"sched", "uring", "usdt"};

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

static void append(char *list, size_t len, const char *item)
{
	size_t used = strlen(list);

	snprintf(list + used, len - used, "%s%s", used ? "," : "", item);
}

/* Switches off programs whose tracepoint is missing. Returns false (with the
 * reason) when the essential one is among them. */
static bool check_tracepoints(struct bpf_object *obj, const struct btf *vmlinux,
			      const char *essential, struct probe_state *ps)
{
	struct bpf_program *prog;
	bool ok = true;

	bpf_object__for_each_program(prog, obj)
	{
		const char *sec = bpf_program__section_name(prog);

		if (tp_exists(vmlinux, prog))
			continue;
		bpf_program__set_autoload(prog, false);
		append(ps->missing, sizeof(ps->missing), strchr(sec, '/') + 1);
		if (!strcmp(bpf_program__name(prog), essential)) {
			snprintf(ps->reason, sizeof(ps->reason),
				 "tracepoint %s not in this kernel's BTF", strchr(sec, '/') + 1);
			ok = false;
		}
	}
	return ok;
}

/* `tracked` and its filter, shared with every probe object (track.bpf.h). */
static int share_tracked(struct tracer *t, struct bpf_object *obj)
{
	struct bpf_map *tracked = bpf_object__find_map_by_name(obj, "tracked");
	struct bpf_map *bloom = bpf_object__find_map_by_name(obj, "tracked_bloom");
	int err;

	if (!tracked || !bloom)
		return -ENOENT;
	err = bpf_map__reuse_fd(tracked, bpf_map__fd(t->track->maps.tracked));
	if (!err)
		err = bpf_map__reuse_fd(bloom, bpf_map__fd(t->track->maps.tracked_bloom));
	return err;
}

static int open_sched(struct tracer *t, const struct btf *vmlinux)
{
	struct probe_state *ps = &t->probe[PROBE_SCHED];
	int err;

	t->sched = sched_bpf__open();
	if (!t->sched) {
		err = -errno;
		snprintf(ps->reason, sizeof(ps->reason), "open: %s", strerror(-err));
		return err;
	}
	if (!check_tracepoints(t->sched->obj, vmlinux, "st_switch", ps))
		return -ENOENT;
	err = share_tracked(t, t->sched->obj);
	if (!err && t->opts.events_path) {
		t->sched->rodata->targ_events = true;
		err = bpf_map__set_max_entries(t->sched->maps.events, t->opts.events_kb * 1024u);
	}
	t->sched->rodata->targ_clock = t->opts.clock;
	t->sched->rodata->targ_wake_sample = t->opts.wake_sample;
	if (!err)
		err = bpf_map__set_max_entries(t->sched->maps.dead, t->opts.max_threads);
	if (!err)
		err = sched_bpf__load(t->sched);
	if (!err)
		err = sched_bpf__attach(t->sched);
	if (err)
		snprintf(ps->reason, sizeof(ps->reason), "load/attach: %s", strerror(-err));
	return err;
}

static int open_uring(struct tracer *t, const struct btf *vmlinux)
{
	struct probe_state *ps = &t->probe[PROBE_URING];
	int err;

	t->uring = uring_bpf__open();
	if (!t->uring) {
		err = -errno;
		snprintf(ps->reason, sizeof(ps->reason), "open: %s", strerror(-err));
		return err;
	}
	if (!check_tracepoints(t->uring->obj, vmlinux, "st_uring_submit", ps))
		return -ENOENT;
	err = share_tracked(t, t->uring->obj);
	if (!err)
		err = uring_bpf__load(t->uring);
	if (!err)
		err = uring_bpf__attach(t->uring);
	if (err)
		snprintf(ps->reason, sizeof(ps->reason), "load/attach: %s", strerror(-err));
	return err;
}

static int open_usdt(struct tracer *t)
{
	static const char *const names[4] = {"coro_switch", "coro_spawn", "coro_ready",
					     "coro_exit"};
	struct probe_state *ps = &t->probe[PROBE_USDT];
	struct bpf_program *progs[4];
	char exe[PATH_MAX];
	const char *path = t->opts.cmd_path;
	int err;

	if (t->opts.pid) {
		char link[64];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/%d/exe", t->opts.pid);
		n = readlink(link, exe, sizeof(exe) - 1);
		if (n < 0) {
			err = -errno;
			snprintf(ps->reason, sizeof(ps->reason), "%s: %s", link, strerror(-err));
			return err;
		}
		exe[n] = '\0';
		path = exe;
	}
	t->usdt = usdt_bpf__open();
	if (!t->usdt) {
		err = -errno;
		snprintf(ps->reason, sizeof(ps->reason), "open: %s", strerror(-err));
		return err;
	}
	err = share_tracked(t, t->usdt->obj);
	/* coroutine events go into the sched probe's stream */
	if (!err && t->opts.events_path && t->sched) {
		t->usdt->rodata->targ_events = true;
		err = bpf_map__reuse_fd(t->usdt->maps.events, bpf_map__fd(t->sched->maps.events));
	}
	if (!err)
		err = usdt_bpf__load(t->usdt);
	if (err) {
		snprintf(ps->reason, sizeof(ps->reason), "load: %s", strerror(-err));
		return err;
	}
	progs[0] = t->usdt->progs.st_coro_switch;
	progs[1] = t->usdt->progs.st_coro_spawn;
	progs[2] = t->usdt->progs.st_coro_ready;
	progs[3] = t->usdt->progs.st_coro_exit;
	for (int i = 0; i < 4; i++) {
		/* pid -1: every process running the binary; BPF keeps ours */
		t->usdt_links[i] =
			bpf_program__attach_usdt(progs[i], -1, path, USDT_PROVIDER, names[i], NULL);
		if (t->usdt_links[i])
			continue;
		err = -errno;
		if (i == 0) {
			snprintf(ps->reason, sizeof(ps->reason),
				 "no usable %s:%s USDT probe in %.120s (%s)", USDT_PROVIDER,
				 names[i], path, strerror(-err));
			return err;
		}
		append(ps->missing, sizeof(ps->missing), names[i]);
	}
	return 0;
}

/* A probe that could not attach is unloaded: it must not count anything. */
static void drop_probe(struct tracer *t, int p)
{
	if (p == PROBE_SCHED) {
		sched_bpf__destroy(t->sched);
		t->sched = NULL;
	} else if (p == PROBE_URING) {
		uring_bpf__destroy(t->uring);
		t->uring = NULL;
	} else {
		for (int i = 0; i < 4; i++) {
			bpf_link__destroy(t->usdt_links[i]);
			t->usdt_links[i] = NULL;
		}
		usdt_bpf__destroy(t->usdt);
		t->usdt = NULL;
	}
}

int trace_probes_open(struct tracer *t)
{
	struct btf *vmlinux = NULL;
	int err;

	verbose = t->opts.verbose;
	libbpf_set_print(libbpf_print);
	t->stats_fd = -1;

	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux) {
		err = -errno;
		fprintf(stderr, "schedtrace: load kernel BTF: %s\n", strerror(-err));
		goto cleanup;
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

	/* track: always, the other probes filter on its map */
	t->track = track_bpf__open();
	if (!t->track) {
		err = -errno;
		fprintf(stderr, "schedtrace: open track.bpf.o: %s\n", strerror(-err));
		goto cleanup;
	}
	if (!t->opts.pid)
		t->track->rodata->targ_tracer_tgid = getpid();
	err = track_bpf__load(t->track);
	if (err) {
		fprintf(stderr, "schedtrace: load track.bpf.o: %s\n", strerror(-err));
		goto cleanup;
	}
	err = track_bpf__attach(t->track);
	if (err) {
		fprintf(stderr, "schedtrace: attach sched_process_fork: %s\n", strerror(-err));
		goto cleanup;
	}

	for (int p = 0; p < PROBE_NR; p++) {
		struct probe_state *ps = &t->probe[p];

		if (!ps->wanted)
			continue;
		if (p == PROBE_SCHED)
			err = open_sched(t, vmlinux);
		else if (p == PROBE_URING)
			err = open_uring(t, vmlinux);
		else
			err = open_usdt(t);
		ps->attached = !err;
		if (err) {
			fprintf(stderr, "schedtrace: probe %s unavailable: %s\n", probe_names[p],
				ps->reason);
			drop_probe(t, p);
		} else if (ps->missing[0] && t->opts.verbose)
			fprintf(stderr, "schedtrace: probe %s: not attached: %s\n", probe_names[p],
				ps->missing);
	}
	err = 0;
cleanup:
	btf__free(vmlinux);
	return err;
}

int trace_track_add(struct tracer *t, pid_t tgid)
{
	int bloom_fd = bpf_map__fd(t->track->maps.tracked_bloom);
	struct track_proc proc = {};
	__u32 key = tgid, word = (key / 64) % TRACK_BLOOM_WORDS;
	__u64 bits;

	/* The filter bit first, or the probes could skip the new tgid. This
	 * read-modify-write is not atomic against track.bpf.c's, which is safe
	 * because no tracked process can fork meanwhile: in command mode the
	 * command is still held before exec (and track.bpf.c marked it at
	 * fork), in --pid mode nothing is tracked yet. */
	if (bpf_map_lookup_elem(bloom_fd, &word, &bits))
		return -errno;
	bits |= 1ULL << (key % 64);
	if (bpf_map_update_elem(bloom_fd, &word, &bits, BPF_ANY))
		return -errno;
	/* command mode: track.bpf.c normally added it at fork already */
	if (bpf_map_update_elem(bpf_map__fd(t->track->maps.tracked), &key, &proc, BPF_NOEXIST) &&
	    errno != EEXIST)
		return -errno;
	return 0;
}

void trace_probes_close(struct tracer *t)
{
	for (int i = 0; i < 4; i++) {
		bpf_link__destroy(t->usdt_links[i]);
		t->usdt_links[i] = NULL;
	}
	usdt_bpf__destroy(t->usdt);
	uring_bpf__destroy(t->uring);
	sched_bpf__destroy(t->sched);
	track_bpf__destroy(t->track);
	t->usdt = NULL;
	t->uring = NULL;
	t->sched = NULL;
	t->track = NULL;
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

/* Program name -> its index in the `runs` maps (runs.h). */
static const char *const run_names[RUN_NR] = {
	[RUN_ST_FORK] = "st_fork",
	[RUN_ST_EXEC] = "st_exec",
	[RUN_ST_EXIT] = "st_exit",
	[RUN_ST_SWITCH] = "st_switch",
	[RUN_ST_WAKEUP] = "st_wakeup",
	[RUN_ST_WAKEUP_NEW] = "st_wakeup_new",
	[RUN_ST_MIGRATE] = "st_migrate",
	[RUN_ST_URING_SUBMIT] = "st_uring_submit",
	[RUN_ST_URING_COMPLETE] = "st_uring_complete",
	[RUN_ST_URING_ASYNC] = "st_uring_async",
	[RUN_ST_URING_POLL] = "st_uring_poll",
	[RUN_ST_URING_TASKADD] = "st_uring_taskadd",
	[RUN_ST_CORO_SPAWN] = "st_coro_spawn",
	[RUN_ST_CORO_READY] = "st_coro_ready",
	[RUN_ST_CORO_SWITCH] = "st_coro_switch",
	[RUN_ST_CORO_EXIT] = "st_coro_exit",
};

/* Our own count of a program's runs, for when the kernel's is off. */
static __u64 own_runs(const char *name, const __u64 *runs)
{
	for (int i = 0; i < RUN_NR; i++)
		if (run_names[i] && !strcmp(run_names[i], name))
			return runs[i];
	return 0;
}

static int obj_stats(struct bpf_object *obj, const char *probe, struct prog_stat *out, int n,
		     int max)
{
	__u64 runs[RUN_NR] = {0};
	struct bpf_program *prog;
	struct bpf_map *map;

	if (!obj)
		return n;
	map = bpf_object__find_map_by_name(obj, "runs");
	if (map && bpf_map__fd(map) >= 0 && percpu_sum(bpf_map__fd(map), RUN_NR, runs))
		memset(runs, 0, sizeof(runs));
	bpf_object__for_each_program(prog, obj)
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
		out[n].probe = probe;
		out[n].own_run_cnt = own_runs(bpf_program__name(prog), runs);
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

	n = obj_stats(t->track ? t->track->obj : NULL, "track", out, n, max);
	n = obj_stats(t->sched ? t->sched->obj : NULL, "sched", out, n, max);
	n = obj_stats(t->uring ? t->uring->obj : NULL, "uring", out, n, max);
	n = obj_stats(t->usdt ? t->usdt->obj : NULL, "usdt", out, n, max);
	return n;
}

/* The fds the collector reads; -1 when that probe is not loaded. */
int trace_map_fd(struct tracer *t, const char *name)
{
	struct bpf_object *objs[4] = {
		t->track ? t->track->obj : NULL, t->sched ? t->sched->obj : NULL,
		t->uring ? t->uring->obj : NULL, t->usdt ? t->usdt->obj : NULL};

	for (int i = 0; i < 4; i++) {
		struct bpf_map *map;

		if (!objs[i])
			continue;
		map = bpf_object__find_map_by_name(objs[i], name);
		if (map && bpf_map__fd(map) >= 0)
			return bpf_map__fd(map);
	}
	return -1;
}
