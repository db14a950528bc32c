/* mn.c: the `mn` model. Every task runs as a coroutine (coro/coro.h stacks
 * and context switch) on N worker threads that share the coroutines with
 * work stealing: M coroutines over N kernel threads, as Go's goroutines,
 * Tokio's tasks or Java's virtual threads. The scheduler is mn_sched.c, the
 * I/O mn_io.c; this file declares the model: its parameters, their checks,
 * the run and what goes into the record. docs/mn.md has the design.
 *
 * mn_workers: "auto" (one worker per CPU this process may use, `cpus`) or a
 * count (above the CPUs only when cpus is not set). Workers are not pinned:
 * the kernel spreads them over the process's CPUs, as under Go or Tokio, and
 * a task that reads its affinity from a coroutine sees the whole `cpus`.
 * Worker i stands for the i-th CPU of the affinity in placement hints.
 *
 * Deadlock: every worker idle, nothing queued, no fd wait, timer or offload
 * in flight while coroutines are parked: the run returns -EDEADLK, prints
 * "mn: no runnable coroutines, N parked" and records mn_parked, as coro does;
 * whether that fails the run is main.c's call (the deadlock task measures it).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/co/cofd.h"
#include "models/co/stack_param.h"
#include "lib/cpuset.h"
#include "lib/record.h"
#include "mn_io.h"
#include "mn_sched.h"
#include "models/reserve.h"
#include "rt.h"
#include "task.h"

static const struct rt_ops mn_ops = {
	.name = "mn",
	.spawn = mn_spawn,
	.join = mn_join,
	.yield = mn_yield,
	.sleep_until = mn_sleep_until,
	.wait = mn_wait,
	.wake = mn_wake,
	.fd_add = mn_fd_add,
	.close = mn_close,
	.read = mn_read,
	.write = mn_write,
	.pread = mn_pread,
	.accept = mn_accept,
};

/* mn_workers=auto: one per CPU the process may use (cpus applied). */
static uint64_t auto_workers(const struct task_ctx *ctx)
{
	int allowed = cpuset_count_allowed();

	(void)ctx;
	return allowed > MN_MAX_WORKERS ? MN_MAX_WORKERS : allowed > 0 ? (uint64_t)allowed : 1;
}

static int mn_validate(const struct task_ctx *ctx, char *err, size_t len)
{
	uint64_t n = task_count(ctx, "mn_workers");
	int allowed = cpuset_count_allowed();

	if (*task_str(ctx, "cpus") && n > (uint64_t)allowed) {
		snprintf(err, len,
			 "mn_workers=%llu is more than the %d CPUs of cpus=%s: lower mn_workers or "
			 "widen cpus",
			 (unsigned long long)n, allowed, task_str(ctx, "cpus"));
		return 1;
	}
	return 0;
}

static void metric_w(struct record *rec, int i, const char *what, uint64_t v)
{
	char name[64];

	snprintf(name, sizeof(name), "mn_w%d_%s", i, what);
	rec_metric_u64(rec, name, v);
}

/* The workers' counters, each summed over the workers into mn_<name>; the
 * first five also per worker, mn_w<i>_<name>. */
static const struct {
	const char *name;
	size_t offset; /* in struct mn_stats, a uint64_t */
} stat_fields[] = {
	{"switches", offsetof(struct mn_stats, switches)},
	{"steals", offsetof(struct mn_stats, steals)},
	{"parks", offsetof(struct mn_stats, parks)},
	{"wakes", offsetof(struct mn_stats, wakes)},
	{"spun_ns", offsetof(struct mn_stats, spin_ns)},
	{"resumes", offsetof(struct mn_stats, resumes)},
	{"stolen", offsetof(struct mn_stats, stolen)},
	{"yields", offsetof(struct mn_stats, yields)},
	{"co_parks", offsetof(struct mn_stats, co_parks)},
	{"spawned", offsetof(struct mn_stats, spawned)}, /* the first task included */
	{"global_gets", offsetof(struct mn_stats, global_gets)},
	{"nonblock_polls", offsetof(struct mn_stats, polls)},
};
#define PER_WORKER_FIELDS 5

static uint64_t stat_at(const struct mn_stats *s, size_t k)
{
	return *(const uint64_t *)((const char *)s + stat_fields[k].offset);
}

static void record_metrics(struct mn_rt *m, struct record *rec)
{
	struct mn_io_stats io;
	char name[64];

	for (size_t k = 0; k < sizeof(stat_fields) / sizeof(stat_fields[0]); k++) {
		uint64_t sum = 0;

		for (int i = 0; i < m->nworkers; i++) {
			uint64_t v = stat_at(&m->w[i].st, k);

			if (k < PER_WORKER_FIELDS)
				metric_w(rec, i, stat_fields[k].name, v);
			sum += v;
		}
		snprintf(name, sizeof(name), "mn_%s", stat_fields[k].name);
		rec_metric_u64(rec, name, sum);
	}
	rec_metric_str(rec, "mn_stack", coro_stack_name(m->stack));
	rec_metric_u64(rec, "mn_finished", atomic_load(&m->finished));
	rec_metric_u64(rec, "mn_peak_live", atomic_load(&m->peak_live));
	/* at the end: nonzero after -EDEADLK */
	rec_metric_u64(rec, "mn_parked", (uint64_t)mn_parked(m));
	rec_metric_u64(rec, "mn_timer_wakeups", atomic_load(&m->timer_wakeups));
	mn_io_stats(m, &io);
	cofd_stats_record(&io.fd, "mn", rec);
	rec_metric_u64(rec, "mn_poller_breaks", io.breaks);
}

static int mn_run(const struct task_ctx *ctx, int (*main_fn)(struct rt *rt, void *arg), void *arg,
		  struct record *rec)
{
	struct mn_rt *m;
	int cpus[MN_MAX_WORKERS];
	int n = (int)task_count(ctx, "mn_workers"); /* 1..MN_MAX_WORKERS: checked */
	int i, err, ret = 0;

	for (i = 0; i < n; i++)
		cpus[i] = cpuset_nth_allowed(i);
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->rt.ops = &mn_ops;
	m->spin_ns = task_u64(ctx, "mn_spin_ns");
	m->stack = co_stack_param(ctx);
	err = mn_sched_init(m, n, cpus);
	if (!err)
		err = mn_io_init(m);
	if (err) {
		fprintf(stderr, "mn: init: %s\n", strerror(-err));
		goto cleanup;
	}
	err = mn_sched_run(m, main_fn, arg, &ret);
	if (rec)
		record_metrics(m, rec);
cleanup:
	mn_io_destroy(m);
	mn_sched_destroy(m);
	free(m);
	return err ? err : ret;
}

/* stack: no `shared`: a shared stack is one per scheduler thread, and a
 * coroutine whose frames live in one worker's shared stack cannot resume on
 * another; pinning every such coroutine to its first worker would turn
 * stealing off for them. */
static const struct task_param mn_params[] = {
	CORO_STACK_PARAM("guarded|unguarded"),
	{.key = "mn_workers",
	 .type = PARAM_COUNT,
	 .def = "auto",
	 .unit = "count",
	 .min = 1,
	 .max = MN_MAX_WORKERS,
	 .auto_count = auto_workers,
	 .help = "worker threads: auto (one per CPU in cpus) or a count (at most the CPUs of "
		 "cpus when cpus is set); the record holds the count"},
	{.key = "mn_spin_ns",
	 .type = PARAM_U64,
	 .def = "50000",
	 .unit = "ns",
	 .min = 0,
	 .max = 1000000000,
	 .help = "how long an idle worker looks for work (its queues, the global queue, "
		 "stealing, polling) before it sleeps; reported as mn_spun_ns"},
	PARAM_END,
};

/* The counters mn_run() adds, without the prefix. */
static const struct task_metric mn_metrics[] = {
	{.name = "w*_switches", .unit = "count", .help = "coroutine switches on worker *"},
	{.name = "w*_steals", .unit = "count", .help = "steals by worker *"},
	{.name = "w*_parks", .unit = "count", .help = "futex parks of worker *"},
	{.name = "w*_wakes", .unit = "count", .help = "wakes of worker *"},
	{.name = "w*_spun_ns", .unit = "ns", .help = "time worker * spun idle before parking"},
	{.name = "stack", .kind = METRIC_TEXT, .help = "guarded or unguarded coroutine stacks"},
	{.name = "switches", .unit = "count", .help = "coroutine switches, every worker"},
	{.name = "resumes", .unit = "count", .help = "coroutines resumed"},
	/* the headline ones first: the order the cells table shows them in */
	{.name = "spun_ns",
	 .unit = "ns",
	 .headline = true,
	 .help = "time idle workers spun before parking"},
	{.name = "parks", .unit = "count", .headline = true, .help = "futex parks of idle workers"},
	{.name = "steals",
	 .unit = "count",
	 .headline = true,
	 .help = "steals from another worker's run queue"},
	{.name = "stolen", .unit = "count", .help = "coroutines taken by steals"},
	{.name = "wakes", .unit = "count", .help = "wakes of parked workers"},
	{.name = "yields", .unit = "count", .help = "rt_yield calls"},
	{.name = "co_parks", .unit = "count", .help = "waits that parked a coroutine"},
	{.name = "spawned", .unit = "count", .help = "coroutines spawned, the first task included"},
	{.name = "finished", .unit = "count", .help = "coroutines that finished"},
	{.name = "peak_live", .unit = "count", .help = "most coroutines alive at once"},
	{.name = "parked",
	 .unit = "count",
	 .help = "coroutines still parked at the end: nonzero after a deadlock"},
	{.name = "global_gets", .unit = "count", .help = "coroutines taken from the global queue"},
	{.name = "nonblock_polls", .unit = "count", .help = "non-blocking polls for I/O"},
	{.name = "timer_wakeups", .unit = "count", .help = "wake-ups from the timer heap"},
	{.name = "poller_breaks", .unit = "count", .help = "wakes of the worker blocked in epoll"},
	METRIC_END,
};

const struct rt_model mn_model = {
	.metrics = {mn_metrics, cofd_metric_list},
	.name = "mn",
	.traits = {.one_thread = false, .sees_deadlocks = true, .order = 3, .colour = "#CC79A7"},
	.params = mn_params,
	.summary = "coroutines over N worker threads with work stealing; one shared epoll, "
		   "one timer heap, preads on helper threads",
	.probe = cofd_probe,
	.validate = mn_validate,
	.reserve = reserve_coroutines,
	.run = mn_run,
};
