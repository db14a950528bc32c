/* trace_report.c: the tracer's JSON document (docs/tracer.md,
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
#include <unistd.h>

#include "lib/json.h"
#include "probe.h"

#include "events.h" /* after probe.h: it needs the __u types */

__u64 log2_quantile(const struct log2_hist *h, double q)
{
	__u64 rank, seen = 0;

	if (!h->n)
		return 0;
	rank = (__u64)ceil(q * (double)h->n);
	if (rank < 1)
		rank = 1;
	for (int i = 0; i < HIST_SLOTS; i++) {
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

void json_dist_open(struct json *j, const char *key, const struct log2_hist *h)
{
	json_obj_open(j, key);
	json_u64(j, "n", h->n);
	json_u64(j, "sum", h->sum);
	json_u64(j, "min", h->n ? h->min : 0);
	json_u64(j, "p50", log2_quantile(h, 0.50));
	json_u64(j, "p90", log2_quantile(h, 0.90));
	json_u64(j, "p99", log2_quantile(h, 0.99));
	json_u64(j, "p999", log2_quantile(h, 0.999));
	json_u64(j, "max", h->max);
	json_arr_open(j, "buckets");
	for (int i = 0; i < HIST_SLOTS; i++) {
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

void json_dist(struct json *j, const char *key, const struct log2_hist *h)
{
	json_dist_open(j, key, h);
	json_obj_close(j);
}

static void json_probes(struct json *j, const struct tracer *t)
{
	json_obj_open(j, "probes");
	for (int i = 0; i < t->nprobes; i++) {
		const struct probe_slot *ps = &t->probe[i];

		if (ps->ops->always)
			continue;
		json_obj_open(j, ps->ops->name);
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
	json_arr_open(j, "processes");
	for (size_t i = 0; i < d->nprocs; i++) {
		const struct trace_proc *p = &d->procs[i];

		json_obj_open(j, NULL);
		json_u64(j, "tgid", p->tgid);
		json_u64(j, "parent_tgid", p->parent_tgid);
		json_str(j, "comm", p->comm);
		json_u64(j, "execs", p->execs);
		json_bool(j, "exited", p->exited);
		json_u64(j, "nthreads", p->nthreads);
		for (int k = 0; k < t->nprobes; k++)
			if (t->probe[k].attached && t->probe[k].ops->json_proc && d->priv[k])
				t->probe[k].ops->json_proc(j, t, d, d->priv[k], p);
		/* the thread rows are a probe's; without it, none */
		if (!d->threads_known) {
			json_arr_open(j, "threads");
			json_arr_close(j);
			json_u64(j, "threads_omitted", 0);
		}
		json_obj_close(j);
	}
	json_arr_close(j);
}

static void json_lost(struct json *j, const struct tracer *t, const struct trace_data *d)
{
	json_obj_open(j, "lost");
	for (int k = 0; k < t->nprobes; k++)
		if (t->probe[k].attached && t->probe[k].ops->json_lost && d->priv[k])
			t->probe[k].ops->json_lost(j, t, d->priv[k]);
	json_obj_close(j);
}

static void json_cost(struct json *j, struct tracer *t)
{
	struct prog_stat st[32];
	int n = trace_prog_stats(t, st, 32);
	bool stats = t->stats_fd >= 0;
	__u64 cnt = 0, ns = 0;
	long ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	__u64 window_cpu = (t->end_ns - t->start_ns) * (__u64)(ncpus > 0 ? ncpus : 1);
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
		if (stats) {
			json_u64(j, "run_time_ns", st[i].run_time_ns);
			json_f64(j, "ns_per_run",
				 runs ? (double)st[i].run_time_ns / (double)runs : 0.0);
		} else {
			json_null(j, "run_time_ns");
			json_null(j, "ns_per_run");
		}
		json_u64(j, "recursion_misses", st[i].recursion_misses);
		json_obj_close(j);
		cnt += runs;
		ns += st[i].run_time_ns;
	}
	json_arr_close(j);
	json_u64(j, "run_cnt", cnt);
	/* the bill against the CPU time the traced window offered: every
	 * online CPU for its whole duration (the programs run on all of them) */
	json_u64(j, "window_cpu_ns", window_cpu);
	if (stats) {
		json_u64(j, "run_time_ns", ns);
		json_f64(j, "ns_per_run", cnt ? (double)ns / (double)cnt : 0.0);
		json_f64(j, "share_of_window_cpu",
			 window_cpu ? (double)ns / (double)window_cpu : 0.0);
	} else {
		json_null(j, "run_time_ns");
		json_null(j, "ns_per_run");
		json_null(j, "share_of_window_cpu");
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

	json_obj_open(&j, "totals");
	json_u64(&j, "nprocesses", d->nprocs);
	json_u64(&j, "nthreads", d->total.nthreads);
	for (int k = 0; k < t->nprobes; k++)
		if (t->probe[k].attached && t->probe[k].ops->json_totals && d->priv[k])
			t->probe[k].ops->json_totals(&j, d, d->priv[k]);
	json_obj_close(&j);

	json_processes(&j, t, d);
	/* every probe's own top-level keys (null for one not attached) */
	for (int k = 0; k < t->nprobes; k++)
		if (t->probe[k].ops->json_top)
			t->probe[k].ops->json_top(&j, t, d, d->priv[k], t->probe[k].attached);
	json_rusage(&j, t);
	if (t->opts.events_path) {
		json_obj_open(&j, "events");
		json_str(&j, "path", t->opts.events_path);
		json_u64(&j, "records", t->events_written);
		json_u64(&j, "record_bytes", sizeof(struct event_sched));
		json_u64(&j, "version", EVENTS_VERSION);
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

void trace_print_summary(struct tracer *t, const struct trace_data *d, FILE *out)
{
	fprintf(out, "schedtrace: tgid %d: %zu process(es), %u thread(s)\n", t->root, d->nprocs,
		d->total.nthreads);
	for (int k = 0; k < t->nprobes; k++) {
		const struct probe_slot *p = &t->probe[k];

		if (p->attached && p->ops->print_summary && d->priv[k])
			p->ops->print_summary(out, d, d->priv[k]);
		else if (p->wanted && !p->attached)
			fprintf(out, "  %s: unavailable: %s\n", p->ops->name, p->reason);
	}
}
