/* trace_report.c: the tracer's JSON document (DESIGN.md "The tracer",
 * schemas/tracer.schema.json) and its short human summary.
 *
 * A log2 distribution is written as {n, sum, min, p50, p90, p99, p999, max,
 * buckets}. n, sum, min and max are exact; a percentile is the upper edge of
 * the log2 bucket holding it, clamped to [min, max], so it can be up to 2x
 * above the true value: read the buckets when that matters.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "lib/json.h"
#include "trace.h"

static const char *const uring_opnames[] = {
	"nop",
	"readv",
	"writev",
	"fsync",
	"read_fixed",
	"write_fixed",
	"poll_add",
	"poll_remove",
	"sync_file_range",
	"sendmsg",
	"recvmsg",
	"timeout",
	"timeout_remove",
	"accept",
	"async_cancel",
	"link_timeout",
	"connect",
	"fallocate",
	"openat",
	"close",
	"files_update",
	"statx",
	"read",
	"write",
	"fadvise",
	"madvise",
	"send",
	"recv",
	"openat2",
	"epoll_ctl",
	"splice",
	"provide_buffers",
	"remove_buffers",
	"tee",
	"shutdown",
	"renameat",
	"unlinkat",
	"mkdirat",
	"symlinkat",
	"linkat",
	"msg_ring",
	"fsetxattr",
	"setxattr",
	"fgetxattr",
	"getxattr",
	"socket",
	"uring_cmd",
	"send_zc",
	"sendmsg_zc",
	"read_multishot",
	"waitid",
	"futex_wait",
	"futex_wake",
	"futex_waitv",
	"fixed_fd_install",
	"ftruncate",
	"bind",
	"listen",
	"recv_zc",
	"epoll_wait",
	"readv_fixed",
	"writev_fixed",
	"pipe",
};

static __u64 hist_quantile(const struct sched_hist *h, double q)
{
	__u64 rank, seen = 0;

	if (!h->n)
		return 0;
	rank = (__u64)ceil(q * (double)h->n);
	if (rank < 1)
		rank = 1;
	for (int i = 0; i < SCHED_HIST_SLOTS; i++) {
		seen += h->slots[i];
		if (seen >= rank) {
			__u64 hi = i >= 63 ? ~0ULL : (2ULL << i) - 1;

			if (hi > h->max)
				hi = h->max;
			if (hi < h->min)
				hi = h->min;
			return hi;
		}
	}
	return h->max;
}

static void json_dist_open(struct json *j, const char *key, const struct sched_hist *h)
{
	json_obj_open(j, key);
	json_u64(j, "n", h->n);
	json_u64(j, "sum", h->sum);
	json_u64(j, "min", h->n ? h->min : 0);
	json_u64(j, "p50", hist_quantile(h, 0.50));
	json_u64(j, "p90", hist_quantile(h, 0.90));
	json_u64(j, "p99", hist_quantile(h, 0.99));
	json_u64(j, "p999", hist_quantile(h, 0.999));
	json_u64(j, "max", h->max);
	json_arr_open(j, "buckets");
	for (int i = 0; i < SCHED_HIST_SLOTS; i++) {
		if (!h->slots[i])
			continue;
		json_obj_open(j, NULL);
		json_u64(j, "lo", i ? 1ULL << i : 0);
		json_u64(j, "hi", i >= 63 ? ~0ULL : (2ULL << i) - 1);
		json_u64(j, "count", h->slots[i]);
		json_obj_close(j);
	}
	json_arr_close(j);
}

static void json_dist(struct json *j, const char *key, const struct sched_hist *h)
{
	json_dist_open(j, key, h);
	json_obj_close(j);
}

static unsigned wake_sample; /* --wake-sample, for the run-queue histograms */
static bool clock_check;     /* --clock both */

/* The counters and distributions a thread, a process and the totals share. */
static void json_sched(struct json *j, const struct sched_thread *s)
{
	json_u64(j, "switches", s->switches);
	json_u64(j, "voluntary_switches", s->voluntary_switches);
	json_u64(j, "involuntary_switches", s->involuntary_switches);
	json_u64(j, "migrations", s->migrations);
	json_u64(j, "wakeups", s->wakeups);
	/* after the thread's counts went into its process's rusage */
	json_u64(j, "released_voluntary_switches", s->released_voluntary_switches);
	json_u64(j, "released_involuntary_switches", s->released_involuntary_switches);
	json_dist_open(j, "runq_latency_ns", &s->runq);
	if (wake_sample > 1) {
		/* n is a sample of the waits: 1 in N of those after a wakeup */
		json_u64(j, "sampled_every", wake_sample);
		json_u64(j, "sampled_from", s->runq.n + s->runq_unsampled);
	}
	json_obj_close(j);
	json_dist(j, "oncpu_ns", &s->oncpu);
	json_dist(j, "offcpu_ns", &s->offcpu);
	if (clock_check) {
		/* the kernel clock's figures for the same events (--clock both) */
		json_obj_open(j, "clock_check");
		json_dist(j, "runq_latency_ns", &s->check.runq);
		json_dist(j, "runq_abs_diff_ns", &s->check.diff);
		json_u64(j, "oncpu_sum_ns", s->check.oncpu_sum);
		json_u64(j, "offcpu_sum_ns", s->check.offcpu_sum);
		json_u64(j, "skipped_clock_waits", s->check.skipped);
		json_u64(j, "skipped_clock_ktime_sum_ns", s->check.skipped_ktime_sum);
		json_u64(j, "skipped_clock_kernel_sum_ns", s->check.skipped_kernel_sum);
		json_obj_close(j);
	}
}

static void json_thread(struct json *j, const struct trace_thread *th)
{
	const struct sched_thread *r = &th->row;

	json_obj_open(j, NULL);
	json_u64(j, "tid", r->pid);
	json_str(j, "comm", r->comm);
	json_bool(j, "io_worker", !!(r->flags & SCHED_F_IO_WORKER));
	json_bool(j, "live", th->live);
	json_sched(j, r);
	json_obj_close(j);
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

static void json_probes(struct json *j, const struct tracer *t)
{
	json_obj_open(j, "probes");
	for (int p = 0; p < PROBE_NR; p++) {
		const struct probe_state *ps = &t->probe[p];

		json_obj_open(j, probe_names[p]);
		json_bool(j, "requested", ps->wanted);
		json_bool(j, "attached", ps->attached);
		json_str(j, "reason", ps->wanted && !ps->attached ? ps->reason : NULL);
		json_arr_open(j, "missing");
		if (ps->missing[0]) {
			char buf[sizeof(ps->missing)], *save = NULL;

			memcpy(buf, ps->missing, sizeof(buf));
			for (char *tok = strtok_r(buf, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save))
				json_str(j, NULL, tok);
		}
		json_arr_close(j);
		json_obj_close(j);
	}
	json_obj_close(j);
}

static void json_processes(struct json *j, const struct tracer *t, const struct trace_data *d)
{
	bool sched = t->probe[PROBE_SCHED].attached;

	json_arr_open(j, "processes");
	for (size_t i = 0; i < d->nprocs; i++) {
		const struct trace_proc *p = &d->procs[i];
		unsigned rows = 0, omitted = 0;

		json_obj_open(j, NULL);
		json_u64(j, "tgid", p->tgid);
		json_u64(j, "parent_tgid", p->info.parent_tgid);
		json_str(j, "comm", p->comm);
		json_u64(j, "execs", p->info.execs);
		json_bool(j, "exited", p->info.exited);
		json_u64(j, "nthreads", p->nthreads);
		if (sched)
			json_sched(j, &p->sum);
		if (p->has_usdt)
			json_usdt(j, "usdt", &p->usdt);
		json_arr_open(j, "threads");
		for (size_t k = 0; k < d->nthreads; k++) {
			if (d->threads[k].row.tgid != p->tgid)
				continue;
			if (rows >= t->opts.max_thread_rows) {
				omitted++;
				continue;
			}
			json_thread(j, &d->threads[k]);
			rows++;
		}
		json_arr_close(j);
		json_u64(j, "threads_omitted", omitted);
		json_obj_close(j);
	}
	json_arr_close(j);
}

static void json_uring(struct json *j, const struct tracer *t, const struct trace_data *d)
{
	const __u64 *c = d->uring_counts;

	if (!t->probe[PROBE_URING].attached) {
		json_null(j, "uring");
		return;
	}
	json_obj_open(j, "uring");
	json_u64(j, "submitted", c[URING_CNT_SUBMITTED]);
	json_u64(j, "completed", c[URING_CNT_COMPLETED]);
	json_u64(j, "completed_errors", c[URING_CNT_COMPLETED_ERR]);
	json_u64(j, "iowq_offloads", c[URING_CNT_IOWQ_OFFLOADS]);
	json_u64(j, "iowq_hashed", c[URING_CNT_IOWQ_HASHED]);
	json_u64(j, "poll_arms", c[URING_CNT_POLL_ARMS]);
	json_u64(j, "task_work", c[URING_CNT_TASK_WORK]);
	/* worker threads are known from the sched probe's thread rows */
	if (t->probe[PROBE_SCHED].attached) {
		json_u64(j, "iowq_workers", d->total.iowq_workers);
		json_u64(j, "iowq_worker_switches", d->total.iowq_worker_switches);
		json_u64(j, "sqpoll_threads", d->total.sqpoll_threads);
	} else {
		json_null(j, "iowq_workers");
		json_null(j, "iowq_worker_switches");
		json_null(j, "sqpoll_threads");
	}
	json_obj_open(j, "submitted_by_opcode");
	for (unsigned op = 0; op < URING_MAX_OPCODES; op++) {
		char name[32];

		if (!d->uring_opcodes[op])
			continue;
		if (op < sizeof(uring_opnames) / sizeof(uring_opnames[0]))
			snprintf(name, sizeof(name), "%s", uring_opnames[op]);
		else
			snprintf(name, sizeof(name), "op%u", op);
		json_u64(j, name, d->uring_opcodes[op]);
	}
	json_obj_close(j);
	json_obj_close(j);
}

static void json_lost(struct json *j, const struct tracer *t, const struct trace_data *d)
{
	const __u64 *s = d->sched_counts;

	json_obj_open(j, "lost");
	json_u64(j, "untracked_forks", d->track_counts[TRACK_CNT_LOST_FORKS]);
	if (t->probe[PROBE_SCHED].attached) {
		json_u64(j, "task_storage", s[SCHED_CNT_LOST_STORAGE]);
		json_u64(j, "thread_rows", s[SCHED_CNT_LOST_DEAD_ROWS]);
		json_u64(j, "events", s[SCHED_CNT_LOST_EVENTS]);
		/* expected at the edges: a thread's first switch-in / first
		 * switch-out after attaching has no start to pair with */
		json_u64(j, "unpaired_switch_in", s[SCHED_CNT_UNPAIRED_IN]);
		json_u64(j, "unpaired_switch_out", s[SCHED_CNT_UNPAIRED_OUT]);
		json_bool(j, "rows_final", t->all_rows_final);
		json_bool(j, "live_rows_partial", d->live_rows_partial);
	}
	if (t->probe[PROBE_URING].attached)
		json_u64(j, "uring_rings", d->uring_counts[URING_CNT_LOST_RINGS]);
	if (t->probe[PROBE_USDT].attached) {
		json_u64(j, "usdt_processes", d->usdt_counts[USDT_CNT_LOST_PROCS]);
		json_u64(j, "usdt_ready", d->usdt_counts[USDT_CNT_LOST_READY]);
		json_u64(j, "usdt_unpaired", d->usdt_counts[USDT_CNT_UNPAIRED]);
		json_u64(j, "usdt_events", d->usdt_counts[USDT_CNT_LOST_EVENTS]);
	}
	json_obj_close(j);
}

static void json_cost(struct json *j, struct tracer *t)
{
	struct prog_stat st[32];
	int n = trace_prog_stats(t, st, 32);
	bool stats = t->stats_fd >= 0;
	__u64 cnt = 0, ns = 0;
	struct rusage ru;

	json_obj_open(j, "cost");
	/* bpf_stats: run_cnt and run_time_ns from the kernel's BPF program
	 * statistics (--cost); own_counts: run_cnt from the probes' own per-CPU
	 * counters (bpf/runs.h), run time not measured (reason says why) */
	json_str(j, "method", stats ? "bpf_stats" : "own_counts");
	json_bool(j, "stats_enabled", stats);
	json_str(j, "reason", stats ? NULL : t->stats_reason);
	json_arr_open(j, "programs");
	for (int i = 0; i < n; i++) {
		__u64 runs = stats ? st[i].run_cnt : st[i].own_run_cnt;

		json_obj_open(j, NULL);
		json_str(j, "name", st[i].name);
		json_str(j, "probe", st[i].probe);
		json_u64(j, "run_cnt", runs);
		if (stats)
			json_u64(j, "run_time_ns", st[i].run_time_ns);
		else
			json_null(j, "run_time_ns");
		json_u64(j, "recursion_misses", st[i].recursion_misses);
		json_obj_close(j);
		cnt += runs;
		ns += st[i].run_time_ns;
	}
	json_arr_close(j);
	json_u64(j, "run_cnt", cnt);
	if (stats) {
		json_u64(j, "run_time_ns", ns);
		json_f64(j, "ns_per_run", cnt ? (double)ns / (double)cnt : 0.0);
	} else {
		json_null(j, "run_time_ns");
		json_null(j, "ns_per_run");
	}
	/* the loader's own CPU time (collecting, draining events) */
	getrusage(RUSAGE_SELF, &ru);
	json_u64(j, "tracer_cpu_ns",
		 (__u64)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ULL +
			 (__u64)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL);
	json_obj_close(j);
}

static void json_rusage(struct json *j, const struct tracer *t)
{
	const struct rusage *r = &t->rusage;

	if (!t->exited) {
		json_null(j, "rusage");
		return;
	}
	/* wait4() of the root: all its threads, and children it reaped */
	json_obj_open(j, "rusage");
	json_u64(j, "voluntary_switches", r->ru_nvcsw);
	json_u64(j, "involuntary_switches", r->ru_nivcsw);
	json_u64(j, "user_ns",
		 (__u64)r->ru_utime.tv_sec * 1000000000ULL + (__u64)r->ru_utime.tv_usec * 1000ULL);
	json_u64(j, "sys_ns",
		 (__u64)r->ru_stime.tv_sec * 1000000000ULL + (__u64)r->ru_stime.tv_usec * 1000ULL);
	json_u64(j, "max_rss_bytes", (__u64)r->ru_maxrss * 1024ULL);
	json_obj_close(j);
}

int trace_write_json(struct tracer *t, const struct trace_data *d, FILE *out)
{
	struct json j;

	wake_sample = t->opts.wake_sample;
	clock_check = t->opts.clock == SCHED_CLOCK_BOTH;
	json_init(&j, out);
	json_obj_open(&j, NULL);
	json_u64(&j, "schema", TRACE_SCHEMA);
	json_str(&j, "tool", "schedtrace");
	json_u64(&j, "tgid", t->root);
	json_str(&j, "mode", t->opts.pid ? "pid" : "command");
	json_arr_open(&j, "command");
	for (char **a = t->opts.cmd; a && *a; a++)
		json_str(&j, NULL, *a);
	json_arr_close(&j);
	if (t->exited) {
		int st = t->wait_status;

		json_i64(&j, "exit_status", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		if (WIFSIGNALED(st))
			json_i64(&j, "signal", WTERMSIG(st));
		else
			json_null(&j, "signal");
	} else {
		json_null(&j, "exit_status");
		json_null(&j, "signal");
	}
	json_u64(&j, "duration_ns", t->end_ns - t->start_ns);
	json_probes(&j, t);
	json_obj_open(&j, "timing");
	json_str(&j, "clock",
		 t->opts.clock == SCHED_CLOCK_KERNEL ? "kernel"
		 : t->opts.clock == SCHED_CLOCK_BOTH ? "both"
						     : "ktime");
	json_u64(&j, "wake_sample_every", t->opts.wake_sample);
	json_obj_close(&j);

	json_obj_open(&j, "totals");
	json_u64(&j, "nprocesses", d->nprocs);
	json_u64(&j, "nthreads", d->total.nthreads);
	if (t->probe[PROBE_SCHED].attached)
		json_sched(&j, &d->total.sum);
	json_obj_close(&j);

	json_processes(&j, t, d);
	json_uring(&j, t, d);
	if (t->probe[PROBE_USDT].attached)
		json_usdt(&j, "usdt", &d->total.usdt);
	else
		json_null(&j, "usdt");
	json_rusage(&j, t);
	if (t->opts.events_path) {
		json_obj_open(&j, "events");
		json_str(&j, "path", t->opts.events_path);
		json_u64(&j, "records", t->events_written);
		json_u64(&j, "record_bytes", sizeof(struct sched_event));
		json_u64(&j, "version", SCHED_EVENTS_VERSION);
		json_obj_close(&j);
	} else {
		json_null(&j, "events");
	}
	json_lost(&j, t, d);
	json_cost(&j, t);
	json_obj_close(&j);
	fputc('\n', out);
	return ferror(out) ? -EIO : 0;
}

static double us(__u64 ns)
{
	return (double)ns / 1000.0;
}

void trace_print_summary(struct tracer *t, const struct trace_data *d, FILE *out)
{
	const struct sched_thread *s = &d->total.sum;

	fprintf(out, "schedtrace: tgid %d: %zu process(es), %u thread(s)\n", t->root, d->nprocs,
		d->total.nthreads);
	if (t->probe[PROBE_SCHED].attached) {
		fprintf(out,
			"  switches %llu (voluntary %llu, involuntary %llu), "
			"migrations %llu, wakeups %llu\n",
			(unsigned long long)s->switches, (unsigned long long)s->voluntary_switches,
			(unsigned long long)s->involuntary_switches,
			(unsigned long long)s->migrations, (unsigned long long)s->wakeups);
		fprintf(out, "  runq latency us: n %llu p50 <=%.1f p99 <=%.1f max %.1f\n",
			(unsigned long long)s->runq.n, us(hist_quantile(&s->runq, 0.5)),
			us(hist_quantile(&s->runq, 0.99)), us(s->runq.max));
	}
	if (t->probe[PROBE_URING].attached)
		fprintf(out, "  io_uring: submitted %llu completed %llu io-wq offloads %llu\n",
			(unsigned long long)d->uring_counts[URING_CNT_SUBMITTED],
			(unsigned long long)d->uring_counts[URING_CNT_COMPLETED],
			(unsigned long long)d->uring_counts[URING_CNT_IOWQ_OFFLOADS]);
	if (t->probe[PROBE_USDT].attached)
		fprintf(out, "  coroutines: switches %llu spawns %llu\n",
			(unsigned long long)d->total.usdt.switches,
			(unsigned long long)d->total.usdt.spawns);
	for (int p = 0; p < PROBE_NR; p++)
		if (t->probe[p].wanted && !t->probe[p].attached)
			fprintf(out, "  %s: unavailable: %s\n", probe_names[p], t->probe[p].reason);
	if (d->sched_counts[SCHED_CNT_LOST_STORAGE] || d->sched_counts[SCHED_CNT_LOST_DEAD_ROWS] ||
	    d->sched_counts[SCHED_CNT_LOST_EVENTS])
		fprintf(out, "  lost: storage %llu rows %llu events %llu\n",
			(unsigned long long)d->sched_counts[SCHED_CNT_LOST_STORAGE],
			(unsigned long long)d->sched_counts[SCHED_CNT_LOST_DEAD_ROWS],
			(unsigned long long)d->sched_counts[SCHED_CNT_LOST_EVENTS]);
}
