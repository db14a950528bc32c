/* compute: a fixed amount of CPU-bound work split across `workers` tasks.
 *
 * Provokes: pure CPU demand, no waiting at all. The work is `work_units`
 * units; unit i is a chain of `unit_iters` dependent multiply/xor-shift steps
 * seeded from (seed, i), so it cannot be vectorised, reordered or dropped by
 * the compiler. Units are dealt out in contiguous slices, one per worker, and
 * the per-unit results are summed (mod 2^64): the sum does not depend on who
 * computed which unit or in what order, so the `checksum` metric must be
 * identical under every model and every worker count (the tests check it).
 *
 * What each model should show (claims C3, C4, C6):
 *   threads  speedup against workers=1 approaches min(workers, CPUs allowed);
 *            confined to one CPU (--cpus 0) it stays about 1.
 *   coro     every worker runs on the one OS thread, one after another (no
 *            worker ever waits, so none ever yields): speedup stays about 1
 *            whatever the worker count.
 *   uring    the same as coro: io_uring has nothing to offer CPU-bound work.
 *
 * Metrics: work_units, units_per_s (the measured window is from the start
 * gate opening to the last worker finishing), checksum, workers,
 * cpus_allowed (the affinity the run had, for the speedup plot), window_ns.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/record.h"
#include "lib/cpuset.h"
#include "task.h"
#include "tasks/crew.h"

/* JSON numbers are doubles in many readers: keep the checksum exact there. */
#define CHECKSUM_MASK ((1ull << 53) - 1)

struct compute_run;

struct compute_worker {
	struct compute_run *run;
	uint64_t first, count; /* unit indices [first, first + count) */
	uint64_t sum;	       /* this worker's partial checksum */
};

struct compute_run {
	struct rt *rt;
	struct crew crew; /* every worker starts at once */
	uint64_t unit_iters;
	uint64_t seed;
};

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* One unit: a serial chain (each step needs the previous one), so the cost
 * is latency-bound and the same on every core. */
static uint64_t compute_unit(uint64_t seed, uint64_t index, uint64_t iters)
{
	uint64_t x = splitmix64(seed ^ splitmix64(index));

	for (uint64_t j = 0; j < iters; j++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		x ^= x >> 29;
	}
	return x;
}

static void compute_worker_fn(void *arg)
{
	struct compute_worker *w = arg;
	struct compute_run *run = w->run;
	uint64_t sum = 0;

	if (!crew_wait_start(&run->crew))
		return;
	for (uint64_t i = w->first; i < w->first + w->count; i++)
		sum += compute_unit(run->seed, i, run->unit_iters);
	w->sum = sum;
	crew_worker_done(&run->crew);
}

static int compute_validate(const struct task_ctx *ctx, char *err, size_t errlen)
{
	uint64_t units = task_u64(ctx, "work_units"), workers = task_u64(ctx, "workers");

	if (workers > units) {
		snprintf(err, errlen,
			 "workers (%llu) must be <= work_units (%llu): "
			 "every worker needs at least one unit",
			 (unsigned long long)workers, (unsigned long long)units);
		return 1;
	}
	return 0;
}

static int compute_run(struct rt *rt, struct task_ctx *ctx)
{
	uint64_t units = task_u64(ctx, "work_units");
	uint64_t nworkers = task_u64(ctx, "workers");
	uint64_t warmup = task_u64(ctx, "warmup");
	struct compute_run run = {
		.rt = rt,
		.unit_iters = task_u64(ctx, "unit_iters"),
		.seed = task_u64(ctx, "seed"),
	};
	struct compute_worker *workers;
	uint64_t checksum = 0, window_ns, warm = 0;
	int ret;

	workers = calloc(nworkers, sizeof(*workers));
	if (!workers) {
		rec_fail(ctx->rec, "compute: cannot allocate %llu workers",
			 (unsigned long long)nworkers);
		return 1;
	}
	/* Warm-up units use indices past the measured ones, so they never
	 * touch the checksum. */
	for (uint64_t i = 0; i < warmup; i++)
		warm += compute_unit(run.seed, units + i, run.unit_iters);
	for (uint64_t w = 0; w < nworkers; w++) {
		workers[w].run = &run;
		workers[w].first = units * w / nworkers;
		workers[w].count = units * (w + 1) / nworkers - workers[w].first;
	}
	ret = crew_run(&run.crew, rt, ctx, nworkers, compute_worker_fn, workers, sizeof(*workers));
	for (uint64_t w = 0; w < nworkers; w++)
		checksum += workers[w].sum;
	if (ret)
		goto cleanup;
	window_ns = crew_window_ns(&run.crew);
	rec_metric_u64(ctx->rec, "work_units", units);
	rec_metric_u64(ctx->rec, "workers", nworkers);
	rec_metric_u64(ctx->rec, "window_ns", window_ns);
	rec_metric_f64(ctx->rec, "units_per_s",
		       window_ns ? (double)units * 1e9 / (double)window_ns : 0.0);
	rec_metric_u64(ctx->rec, "checksum", checksum & CHECKSUM_MASK);
	rec_metric_u64(ctx->rec, "warmup_units", warmup);
	rec_metric_u64(ctx->rec, "cpus_allowed", (uint64_t)cpuset_count_allowed());
	/* Keeps the warm-up loop observable so the compiler must run it. */
	if (warm == 1)
		fprintf(stderr, "compute: improbable warm-up sum\n");
cleanup:
	free(workers);
	return ret;
}

static const struct task_param compute_params[] = {
	{.key = "work_units",
	 .type = PARAM_U64,
	 .def = "12000",
	 .unit = "count",
	 .min = 1,
	 .max = 1000000000ull,
	 .help = "total units of work, split evenly across the workers"},
	{.key = "workers",
	 .type = PARAM_U64,
	 .def = "2",
	 .unit = "count",
	 .min = 1,
	 .max = 4096,
	 .help = "tasks sharing the work (threads: one pthread each)"},
	{.key = "unit_iters",
	 .type = PARAM_U64,
	 .def = "100000",
	 .unit = "count",
	 .min = 1,
	 .max = 1000000000ull,
	 .help = "dependent multiply/xor-shift steps per unit (about 1 ns each)"},
	PARAM_END,
};

/* What the record's metrics hold (units, direction, headline: task.h). */
static const struct task_metric compute_metrics[] = {
	{.name = "work_units", .unit = "count", .help = "work units done in the window"},
	{.name = "workers", .unit = "count", .help = "tasks sharing the work"},
	{.name = "window_ns", .unit = "ns", .help = "the measured window"},
	{.name = "units_per_s",
	 .unit = "per_s",
	 .better = BETTER_HIGHER,
	 .headline = true,
	 .help = "work units per second of the window"},
	{.name = "checksum",
	 .help = "sum of every unit's result: the same under every model and worker count"},
	{.name = "warmup_units", .unit = "count", .help = "untimed units done first"},
	{.name = "cpus_allowed", .unit = "count", .help = "CPUs the process may run on"},
	METRIC_END,
};

const struct task compute_task = {
	.name = "compute",
	.summary = "fixed CPU-bound work split across workers: parallel speedup (C3, C4, C6)",
	.params = compute_params,
	.metrics = compute_metrics,
	.validate = compute_validate,
	.run = compute_run,
};
