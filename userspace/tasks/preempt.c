/* preempt: short periodic tasks beside CPU hogs: who gets the CPU back, and
 * how late?
 *
 * Provokes: the difference between preemptive and cooperative scheduling.
 * `ticks` ticker tasks wake periodically: tick k is due at t0 + k*period_us,
 * with t0 taken before any hog starts. Each tick records how late it woke
 * (lateness_ns), then does `tick_work_us` of work. A tick whose due time has
 * already passed when the ticker gets round to it is skipped and counted in
 * missed_ticks (a late ticker does not try to catch up). Beside them, `hogs`
 * CPU-bound tasks spin until t0 + hog_ms (one shared deadline, so every model
 * is measured over the same window), calling rt_yield() every `hog_yield_us`
 * (0 = never). The tickers stop when the last hog has finished.
 *
 * What each model should show (claims C6, C7):
 *   threads  the kernel preempts the hogs: lateness is bounded by the
 *            scheduler's time slice whatever hog_yield_us is (on one CPU a
 *            few ms at worst; with a free CPU, tens of microseconds).
 *            With the tracer on, involuntary switches of the hog threads.
 *   coro     nothing preempts a coroutine: lateness grows with the hog's yield
 *   uring    interval, and with hog_yield_us=0 a tick waits for the whole
 *            hog, so the maximum lateness is about hog_ms. The tracer shows no
 *            involuntary switches between the coroutines (there is one thread).
 *
 * Metrics: lateness_ns (distribution over every recorded tick), missed_ticks,
 * ticks_recorded, hog_yields, hog_work_units (spin chunks done by all hogs),
 * window_ns (t0 to the last hog finishing).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/hist.h"
#include "lib/record.h"
#include "task.h"

/* A hog checks the clock once per chunk of this many serial steps (a few
 * hundred ns): often enough to honour small yield intervals. */
#define HOG_CHUNK_STEPS 256

struct preempt_run {
	struct rt *rt;
	uint64_t t0_ns, hog_end_ns, period_ns, tick_work_ns, hog_yield_ns;
	uint64_t warmup;
	_Atomic int hogs_left;
	_Atomic int stop; /* set by the last hog to finish */
	_Atomic uint64_t missed, yields, work_units, last_hog_ns;
	struct hist *lateness; /* shared: hist_add_atomic */
};

struct preempt_task {
	struct preempt_run *run;
	struct rt_task *task;
};

/* Serial integer work: a dependency chain the compiler cannot drop. */
static uint64_t spin_steps(uint64_t x, unsigned steps)
{
	for (unsigned i = 0; i < steps; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		x ^= x >> 29;
	}
	return x;
}

static void spin_for_ns(uint64_t ns)
{
	uint64_t end = now_ns() + ns, x = end;

	while (now_ns() < end)
		x = spin_steps(x, 16);
	__asm__ __volatile__("" : : "r"(x));
}

static void preempt_ticker(void *arg)
{
	struct preempt_task *t = arg;
	struct preempt_run *run = t->run;
	uint64_t k = 1, seen = 0, missed = 0;

	while (!atomic_load(&run->stop)) {
		uint64_t due = run->t0_ns + k * run->period_ns, woke, now;

		if (rt_sleep_until(run->rt, due) < 0)
			break;
		woke = now_ns();
		/* Warm-up: the first ticks of each ticker are run, not recorded. */
		if (seen++ >= run->warmup)
			hist_add_atomic(run->lateness, woke > due ? woke - due : 0);
		spin_for_ns(run->tick_work_ns);
		/* The next tick is the first one still in the future; the ones
		 * in between were missed. */
		now = now_ns();
		k++;
		if (now >= run->t0_ns + k * run->period_ns) {
			uint64_t next = (now - run->t0_ns) / run->period_ns + 1;

			missed += next - k;
			k = next;
		}
	}
	atomic_fetch_add(&run->missed, missed);
}

static void preempt_hog(void *arg)
{
	struct preempt_task *t = arg;
	struct preempt_run *run = t->run;
	uint64_t x = (uint64_t)(uintptr_t)t, units = 0, yields = 0, now = now_ns();
	uint64_t next_yield = now + run->hog_yield_ns;

	while (now < run->hog_end_ns) {
		x = spin_steps(x, HOG_CHUNK_STEPS);
		units++;
		now = now_ns();
		if (run->hog_yield_ns && now >= next_yield) {
			rt_yield(run->rt);
			yields++;
			now = now_ns();
			next_yield = now + run->hog_yield_ns;
		}
	}
	__asm__ __volatile__("" : : "r"(x));
	atomic_fetch_add(&run->yields, yields);
	atomic_fetch_add(&run->work_units, units);
	if (atomic_fetch_sub(&run->hogs_left, 1) == 1) {
		atomic_store(&run->last_hog_ns, now_ns());
		atomic_store(&run->stop, 1);
	}
}

static int preempt_validate(const struct task_ctx *ctx, char *err, size_t errlen)
{
	uint64_t period_us = task_u64(ctx, "period_us"), work_us = task_u64(ctx, "tick_work_us");

	if (work_us >= period_us) {
		snprintf(err, errlen,
			 "tick_work_us (%llu) must be < period_us (%llu): "
			 "a tick must fit in its period",
			 (unsigned long long)work_us, (unsigned long long)period_us);
		return 1;
	}
	return 0;
}

static int preempt_run(struct rt *rt, struct task_ctx *ctx)
{
	uint64_t nticks = task_u64(ctx, "ticks"), nhogs = task_u64(ctx, "hogs");
	uint64_t ntasks = nticks + nhogs, spawned = 0, end_ns;
	struct preempt_run run = {
		.rt = rt,
		.period_ns = task_u64(ctx, "period_us") * 1000,
		.tick_work_ns = task_u64(ctx, "tick_work_us") * 1000,
		.hog_yield_ns = task_u64(ctx, "hog_yield_us") * 1000,
		.warmup = task_u64(ctx, "warmup"),
		.hogs_left = (int)nhogs,
	};
	uint64_t hog_ns = task_u64(ctx, "hog_ms") * 1000000;
	struct preempt_task *tasks = NULL;
	int err, ret = 0;

	tasks = calloc(ntasks, sizeof(*tasks));
	run.lateness = malloc(sizeof(*run.lateness));
	if (!tasks || !run.lateness) {
		rec_fail(ctx->rec, "preempt: out of memory for %llu tasks",
			 (unsigned long long)ntasks);
		ret = 1;
		goto cleanup;
	}
	hist_init(run.lateness);
	/* t0 before any hog exists; tickers first, so that under the FIFO
	 * coroutine models they are parked on their first tick before a hog
	 * runs (otherwise a hog that never yields would also delay the
	 * tickers' start, which is not what is being measured). */
	run.t0_ns = now_ns();
	run.hog_end_ns = run.t0_ns + hog_ns;
	for (uint64_t i = 0; i < ntasks; i++) {
		tasks[i].run = &run;
		err = rt_spawn(rt, i < nticks ? preempt_ticker : preempt_hog, &tasks[i], NULL,
			       &tasks[i].task);
		if (err) {
			rec_fail(ctx->rec, "preempt: spawning %s %llu: %s%s",
				 i < nticks ? "ticker" : "hog", (unsigned long long)i,
				 strerror(-err),
				 err == -EAGAIN
					 ? " (kernel.threads-max, kernel.pid_max or RLIMIT_NPROC)"
					 : "");
			ret = 1;
			/* The hogs not spawned will never count down hogs_left:
			 * stop the tickers here; running hogs end at hog_end_ns. */
			atomic_store(&run.stop, 1);
			break;
		}
		spawned++;
	}
	for (uint64_t i = 0; i < spawned; i++) {
		err = rt_join(rt, tasks[i].task);
		if (err && !ret) {
			rec_fail(ctx->rec, "preempt: join task %llu: %s", (unsigned long long)i,
				 strerror(-err));
			ret = 1;
		}
	}
	if (ret)
		goto cleanup;
	end_ns = atomic_load(&run.last_hog_ns);
	rec_metric_hist(ctx->rec, "lateness_ns", run.lateness);
	rec_metric_u64(ctx->rec, "missed_ticks", atomic_load(&run.missed));
	rec_metric_u64(ctx->rec, "ticks_recorded", run.lateness->n);
	rec_metric_u64(ctx->rec, "hog_yields", atomic_load(&run.yields));
	rec_metric_u64(ctx->rec, "warmup_ticks_per_ticker", run.warmup);
	rec_metric_u64(ctx->rec, "hog_work_units", atomic_load(&run.work_units));
	rec_metric_u64(ctx->rec, "window_ns", end_ns > run.t0_ns ? end_ns - run.t0_ns : 0);
cleanup:
	free(run.lateness);
	free(tasks);
	return ret;
}

static const struct task_param preempt_params[] = {
	{.key = "ticks",
	 .type = PARAM_U64,
	 .def = "4",
	 .unit = "count",
	 .min = 1,
	 .max = 1024,
	 .help = "short periodic tasks whose lateness is measured"},
	{.key = "period_us",
	 .type = PARAM_U64,
	 .def = "1000",
	 .unit = "us",
	 .min = 1,
	 .max = 10000000,
	 .help = "tick period: tick k is due at t0 + k * period_us"},
	{.key = "tick_work_us",
	 .type = PARAM_U64,
	 .def = "5",
	 .unit = "us",
	 .min = 0,
	 .max = 1000000,
	 .help = "work each tick does after waking (must be < period_us)"},
	{.key = "hogs",
	 .type = PARAM_U64,
	 .def = "2",
	 .unit = "count",
	 .min = 1,
	 .max = 1024,
	 .help = "CPU-bound tasks running beside the tickers"},
	{.key = "hog_ms",
	 .type = PARAM_U64,
	 .def = "1000",
	 .unit = "ms",
	 .min = 1,
	 .max = 600000,
	 .help = "how long the hogs spin (one deadline shared by all hogs)"},
	{.key = "hog_yield_us",
	 .type = PARAM_U64,
	 .def = "1000",
	 .unit = "us",
	 .min = 0,
	 .max = 10000000,
	 .help = "a hog calls rt_yield() this often; 0 = never"},
	PARAM_END,
};

const struct task preempt_task = {
	.name = "preempt",
	.summary = "periodic tickers beside CPU hogs: lateness under preemptive vs cooperative "
		   "(C6, C7)",
	.params = preempt_params,
	.validate = preempt_validate,
	.run = preempt_run,
};
