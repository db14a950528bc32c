/* counter: `workers` tasks each add 1 to one shared counter `increments`
 * times, through a read-modify-write with a window between the read and the
 * write (`window_iters` spin steps, plus an rt_yield() when
 * `yield_in_window` is true).
 *
 * Provokes: a data race, and the three ways of living with it:
 *   sync=none    plain load, window, store: nothing protects the window
 *   sync=mutex   the model's own lock (rt_lock: a futex word under threads,
 *                a FIFO of parked coroutines under coro and uring)
 *   sync=atomic  load, window, compare-and-swap; a failed CAS re-reads and
 *                goes round again (counted in cas_retries)
 * The counter is an _Atomic read and written with relaxed loads and stores,
 * so sync=none loses updates without undefined behaviour in C11.
 *
 * What each model should show (claim C8):
 *   threads  sync=none loses updates once the run has more than one CPU
 *            (with one CPU only when the kernel preempts inside the window);
 *            mutex and atomic never lose one.
 *   coro     sync=none loses nothing: nothing can interleave a coroutine
 *   uring    that does not yield. With yield_in_window=true it loses
 *            deterministically: the FIFO run queue lets every other worker
 *            read the same value before the first one writes, so about
 *            (workers - 1) of every `workers` increments are lost. mutex and
 *            atomic never lose one, yield or not.
 *
 * Run length: `increments` per worker, or with run_us > 0 as many as each
 * worker does in run_us of wall time from its own start (increments then
 * caps it). A preemption inside the window loses the other worker's whole
 * stretch, so a run either loses many updates or none, and whether it does
 * depends on whether the run outlasts a time slice (a few scheduler ticks):
 * lost_any (0 or 1) is the per-run outcome, judged as a share of runs, and
 * run_us is the dimension along which that share rises.
 *
 * Metrics: expected (increments done by all workers), final, lost_updates
 * (expected - final), lost_any, increment_ns (window / expected),
 * cas_retries, window_ns.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/record.h"
#include "task.h"
#include "tasks/crew.h"

enum counter_sync { SYNC_NONE, SYNC_MUTEX, SYNC_ATOMIC };

/* With run_us, how many increments between two reads of the clock (a few
 * microseconds of work: a run ends at most that late). */
#define COUNTER_CLOCK_EVERY 256

struct counter_run;

struct counter_worker {
	struct counter_run *run;
	uint64_t cas_retries;
	uint64_t done; /* increments this worker made */
};

struct counter_run {
	struct rt *rt;
	_Atomic uint64_t counter;
	struct rt_event lock; /* sync=mutex */
	struct crew crew;     /* every worker starts at once */
	enum counter_sync sync;
	uint64_t increments, window_iters;
	uint64_t run_ns; /* 0: a fixed number of increments */
	int yield_in_window;
};

/* The window between read and write. */
static void counter_window(const struct counter_run *run)
{
	crew_race_window(run->rt, run->window_iters, run->yield_in_window);
}

static void counter_increment(struct counter_run *run, struct counter_worker *w)
{
	uint64_t v;

	switch (run->sync) {
	case SYNC_NONE:
		v = atomic_load_explicit(&run->counter, memory_order_relaxed);
		counter_window(run);
		atomic_store_explicit(&run->counter, v + 1, memory_order_relaxed);
		break;
	case SYNC_MUTEX:
		rt_lock(run->rt, &run->lock);
		v = atomic_load_explicit(&run->counter, memory_order_relaxed);
		counter_window(run);
		atomic_store_explicit(&run->counter, v + 1, memory_order_relaxed);
		rt_unlock(run->rt, &run->lock);
		break;
	case SYNC_ATOMIC:
		v = atomic_load_explicit(&run->counter, memory_order_relaxed);
		for (;;) {
			counter_window(run);
			/* On failure v is reloaded: go round the window again. */
			if (atomic_compare_exchange_weak_explicit(&run->counter, &v, v + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
			w->cas_retries++;
		}
		break;
	}
}

static void counter_worker_fn(void *arg)
{
	struct counter_worker *w = arg;
	struct counter_run *run = w->run;

	uint64_t i = 0, end;

	if (!crew_wait_start(&run->crew))
		return;
	if (!run->run_ns) {
		for (; i < run->increments; i++)
			counter_increment(run, w);
	} else {
		/* the clock read every COUNTER_CLOCK_EVERY increments, outside
		 * the window, so the window is the same as without run_us */
		end = now_ns() + run->run_ns;
		while (i < run->increments) {
			for (uint64_t j = 0; j < COUNTER_CLOCK_EVERY && i < run->increments; j++, i++)
				counter_increment(run, w);
			if (now_ns() >= end)
				break;
		}
	}
	w->done = i;
	crew_worker_done(&run->crew);
}

static enum counter_sync counter_sync_of(const char *s)
{
	if (!strcmp(s, "mutex"))
		return SYNC_MUTEX;
	if (!strcmp(s, "atomic"))
		return SYNC_ATOMIC;
	return SYNC_NONE; /* main.c already checked it is one of the choices */
}

static int counter_run(struct rt *rt, struct task_ctx *ctx)
{
	uint64_t nworkers = task_u64(ctx, "workers");
	uint64_t warmup = task_u64(ctx, "warmup");
	struct counter_run run = {
		.rt = rt,
		.lock = RT_EVENT_INIT(1),
		.sync = counter_sync_of(task_str(ctx, "sync")),
		.increments = task_u64(ctx, "increments"),
		.window_iters = task_u64(ctx, "window_iters"),
		.run_ns = task_u64(ctx, "run_us") * 1000,
		.yield_in_window = task_bool(ctx, "yield_in_window"),
	};
	struct counter_worker *workers, scratch = {.run = &run};
	uint64_t window_ns, expected = 0, final_count, retries = 0;
	int ret;

	workers = calloc(nworkers, sizeof(*workers));
	if (!workers) {
		rec_fail(ctx->rec, "counter: cannot allocate %llu workers",
			 (unsigned long long)nworkers);
		return 1;
	}
	/* Warm-up: the first task alone runs the same increments untimed, then
	 * the counter starts again from zero. */
	for (uint64_t i = 0; i < warmup; i++)
		counter_increment(&run, &scratch);
	atomic_store(&run.counter, 0);
	for (uint64_t w = 0; w < nworkers; w++)
		workers[w].run = &run;
	ret = crew_run(&run.crew, rt, ctx, nworkers, counter_worker_fn, workers, sizeof(*workers));
	for (uint64_t w = 0; w < nworkers; w++) {
		retries += workers[w].cas_retries;
		expected += workers[w].done;
	}
	if (ret)
		goto cleanup;
	window_ns = crew_window_ns(&run.crew);
	final_count = atomic_load(&run.counter);
	rec_metric_u64(ctx->rec, "expected", expected);
	rec_metric_u64(ctx->rec, "final", final_count);
	/* Signed: a racing store can only lose increments, but say so in the
	 * data rather than assume it. */
	rec_metric_i64(ctx->rec, "lost_updates", (int64_t)expected - (int64_t)final_count);
	rec_metric_u64(ctx->rec, "lost_any", final_count != expected);
	rec_metric_f64(ctx->rec, "increment_ns",
		       expected ? (double)window_ns / (double)expected : 0.0);
	rec_metric_u64(ctx->rec, "cas_retries", retries);
	rec_metric_u64(ctx->rec, "window_ns", window_ns);
	rec_metric_u64(ctx->rec, "warmup_increments", warmup);
cleanup:
	free(workers);
	return ret;
}

static int counter_validate(const struct task_ctx *ctx, char *err, size_t errlen)
{
	uint64_t total = task_u64(ctx, "workers") * task_u64(ctx, "increments");

	/* Both are bounded by their params, so the product cannot overflow;
	 * keep it within what a signed lost_updates can express. */
	if (total > (1ull << 40)) {
		snprintf(err, errlen, "workers * increments = %llu exceeds 2^40: lower increments",
			 (unsigned long long)total);
		return 1;
	}
	return 0;
}

static const struct task_param counter_params[] = {
	{.key = "workers",
	 .type = PARAM_U64,
	 .def = "2",
	 .unit = "count",
	 .min = 1,
	 .max = 4096,
	 .help = "tasks incrementing the one shared counter"},
	{.key = "increments",
	 .type = PARAM_U64,
	 .def = "5000000",
	 .unit = "count",
	 .min = 1,
	 .max = 1000000000ull,
	 .help = "increments per worker"},
	{.key = "sync",
	 .type = PARAM_ENUM,
	 .def = "none",
	 .choices = "none|mutex|atomic",
	 .help = "none: load/store; mutex: the model's lock; atomic: compare-and-swap loop"},
	{.key = "window_iters",
	 .type = PARAM_U64,
	 .def = "50",
	 .unit = "count",
	 .min = 0,
	 .max = 1000000,
	 .help = "spin steps between the read and the write (the race window)"},
	{.key = "yield_in_window",
	 .type = PARAM_BOOL,
	 .def = "false",
	 .help = "call rt_yield() between the read and the write"},
	{.key = "run_us",
	 .type = PARAM_U64,
	 .def = "0",
	 .unit = "us",
	 .min = 0,
	 .max = 600000000,
	 .help = "0: each worker does `increments`; >0: each increments for this long from its "
		 "own start (at most `increments`)"},
	PARAM_END,
};

/* What the record's metrics hold (units, direction, headline: task.h). */
static const struct task_metric counter_metrics[] = {
	{.name = "expected",
	 .unit = "count",
	 .help = "increments done by every task together (each worker counts its own)"},
	{.name = "final", .unit = "count", .help = "the counter's value at the end"},
	{.name = "lost_updates",
	 .unit = "count",
	 .headline = true,
	 .help = "expected - final: increments another task's write undid"},
	{.name = "lost_any",
	 .unit = "count",
	 .headline = true,
	 .help = "1 when this run lost any update, else 0: judged as a share of runs"},
	{.name = "increment_ns",
	 .unit = "ns",
	 .better = BETTER_LOWER,
	 .headline = true,
	 .help = "window / expected"},
	{.name = "cas_retries",
	 .unit = "count",
	 .help = "compare-and-swap attempts that failed (sync=atomic)"},
	{.name = "window_ns", .unit = "ns", .help = "the measured window"},
	{.name = "warmup_increments", .unit = "count", .help = "untimed increments first"},
	METRIC_END,
};

const struct task counter_task = {
	.name = "counter",
	.summary = "shared counter read-modify-write: lost updates with and without locks (C8)",
	.params = counter_params,
	.metrics = counter_metrics,
	.validate = counter_validate,
	.run = counter_run,
};
