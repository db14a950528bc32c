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
 * The kernel's knobs (policy, priority, nice, slice_us) apply to every thread,
 * ticks and hogs alike; hog_policy, hog_priority, hog_nice and hog_slice_us
 * give the hogs their own (each not given follows the common one where it is
 * valid for the hog's policy). Hogs with their own attributes need a thread
 * of their own (rt_spawn_opts.sched): models that run every task on one
 * thread skip such a cell. A hog at a real-time policy above the ticks never
 * yields the CPU to them before hog_ms (RT throttling aside: the record
 * carries sched_rt_runtime_us); it still stops at t0 + hog_ms, and
 * RLIMIT_RTTIME (hog_ms + 1 s of CPU without blocking, SIGKILL) bounds an RT
 * thread should that deadline ever be missed.
 *
 * Switches of the hogs themselves (claim C7): each hog reads its own OS
 * thread's counters (/proc/thread-self/status) when it starts and when it
 * stops; hogs that ran on one thread (the one-thread models) count that
 * thread once, from the first start to the last stop. getrusage would count
 * the whole process, tickers included, and a ticker woken every period_us
 * preempts whatever runs: the rate per hog-thread-second is then the wake
 * rate, which is why the C7 cells vary period_us and the hogs' slice.
 * A hog whose thread changed between its start and its stop (mn moves a
 * coroutine at a yield) is counted in hog_thread_changes and left out.
 *
 * Metrics: lateness_ns (distribution over every recorded tick), missed_ticks,
 * ticks_recorded, hog_yields, hog_work_units (spin chunks done by all hogs),
 * window_ns (t0 to the last hog finishing); hog_involuntary_switches,
 * hog_voluntary_switches, hog_threads, hog_thread_ns, hog_involuntary_per_s,
 * hog_thread_changes; sched_ticks_* and sched_hog_*:
 * the attributes the kernel reports for the thread that ran the first ticker
 * and the first hog (under one-thread models the same thread); with a
 * real-time policy, rttime_limit_us.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/hist.h"
#include "lib/procfs.h"
#include "lib/record.h"
#include "lib/schedattr.h"
#include "lib/spin.h"
#include "knobs.h"
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
	/* What the kernel reports for the first ticker's and first hog's
	 * thread, read by those tasks themselves; *_err: -errno, or 1 until read */
	struct sched_knobs ticks_sched, hog_sched;
	int ticks_err, hog_err;
};

/* A hog's OS thread and its switch counters at the hog's start and stop. */
struct hog_thread_span {
	pid_t tid0, tid1;
	uint64_t t0_ns, t1_ns;
	struct thread_switches sw0, sw1;
	int err; /* -errno from /proc, or 0 */
};

struct preempt_task {
	struct preempt_run *run;
	struct rt_task *task;
	int first; /* the first ticker or the first hog: reads back its thread */
	struct hog_thread_span span;
};

static void preempt_ticker(void *arg)
{
	struct preempt_task *t = arg;
	struct preempt_run *run = t->run;
	uint64_t k = 1, seen = 0, missed = 0;

	if (t->first)
		run->ticks_err = sched_knobs_read(0, &run->ticks_sched);
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

	if (t->first)
		run->hog_err = sched_knobs_read(0, &run->hog_sched);
	t->span.tid0 = gettid();
	t->span.err = proc_thread_switches(&t->span.sw0);
	t->span.t0_ns = now = now_ns();
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
	t->span.t1_ns = now_ns();
	t->span.tid1 = gettid();
	if (!t->span.err)
		t->span.err = proc_thread_switches(&t->span.sw1);
	__asm__ __volatile__("" : : "r"(x));
	atomic_fetch_add(&run->yields, yields);
	atomic_fetch_add(&run->work_units, units);
	if (atomic_fetch_sub(&run->hogs_left, 1) == 1) {
		atomic_store(&run->last_hog_ns, now_ns());
		atomic_store(&run->stop, 1);
	}
}

/* The ticks' knobs (the common ones) and the hogs'. */
static int preempt_knobs(const struct task_ctx *ctx, struct sched_knobs *ticks,
			 struct sched_knobs *hogs, char *err, size_t errlen)
{
	if (knobs_resolve(ctx, "", NULL, ticks, err, errlen))
		return -EINVAL;
	return knobs_resolve(ctx, "hog_", ticks, hogs, err, errlen);
}

static int preempt_validate(const struct task_ctx *ctx, char *err, size_t errlen)
{
	uint64_t period_us = task_u64(ctx, "period_us"), work_us = task_u64(ctx, "tick_work_us");
	struct sched_knobs ticks, hogs;

	if (work_us >= period_us) {
		snprintf(err, errlen,
			 "tick_work_us (%llu) must be < period_us (%llu): "
			 "a tick must fit in its period",
			 (unsigned long long)work_us, (unsigned long long)period_us);
		return 1;
	}
	return preempt_knobs(ctx, &ticks, &hogs, err, errlen) ? 1 : 0;
}

/* A real-time thread that runs hog_ms + 1 s of CPU without blocking is
 * killed by the kernel: the backstop behind the hogs' own deadline. */
static int preempt_setup(struct task_ctx *ctx)
{
	struct sched_knobs ticks, hogs;
	struct rlimit rl;
	char err[256];

	preempt_knobs(ctx, &ticks, &hogs, err, sizeof(err)); /* validated */
	if (!sched_policy_is_rt(ticks.policy) && !sched_policy_is_rt(hogs.policy))
		return 0;
	rl.rlim_cur = rl.rlim_max = (task_u64(ctx, "hog_ms") + 1000) * 1000;
	if (setrlimit(RLIMIT_RTTIME, &rl)) {
		rec_fail(ctx->rec, "preempt: setrlimit(RLIMIT_RTTIME): %s", strerror(errno));
		return 1;
	}
	rec_metric_u64(ctx->rec, "rttime_limit_us", rl.rlim_cur);
	/* main.c records the RT throttling for real-time ticks; RT hogs beside
	 * fair ticks are under it as much */
	if (!sched_policy_is_rt(ticks.policy))
		sched_rt_limits_record(ctx->rec);
	return 0;
}

/* Spawning a hog with attributes of its own: a refusal is a skip (not
 * permitted here, or a model without a thread per task), never a hog at
 * other values than asked. */
static void hog_spawn_failed(struct task_ctx *ctx, const struct sched_knobs *want, int err)
{
	char why[256];

	if (err == -EOPNOTSUPP) {
		rec_skip(ctx->rec,
			 "preempt: hog_* knobs differ from the ticks' and this model runs tasks on "
			 "a shared thread, so the hogs cannot have kernel attributes of their own");
		return;
	}
	sched_knobs_refusal(want, err, why, sizeof(why));
	if (err == -EPERM)
		rec_skip(ctx->rec, "preempt: hog: %s", why);
	else
		rec_fail(ctx->rec, "preempt: hog: %s", why);
}

/* The read-backs against what was asked: a mismatch ends the cell. */
static int preempt_check_sched(struct task_ctx *ctx, struct preempt_run *run,
			       const struct sched_knobs *ticks, const struct sched_knobs *hogs)
{
	struct {
		const char *role;
		const struct sched_knobs *want, *got;
		int err;
	} roles[] = {
		{"ticks", ticks, &run->ticks_sched, run->ticks_err},
		{"hog", hogs, &run->hog_sched, run->hog_err},
	};
	char name[32], why[256];

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		int err = roles[i].err;

		if (err) {
			rec_fail(ctx->rec, "preempt: sched_getattr of the %s' thread: %s",
				 roles[i].role, err > 0 ? "never read" : strerror(-err));
			return 1;
		}
		snprintf(name, sizeof(name), "sched_%s", roles[i].role);
		sched_knobs_record(ctx->rec, name, roles[i].got);
		err = sched_knobs_check(roles[i].want, roles[i].got, why, sizeof(why));
		if (err == -EOPNOTSUPP)
			rec_skip(ctx->rec, "preempt: %s: %s", roles[i].role, why);
		else if (err)
			rec_fail(ctx->rec, "preempt: %s: %s", roles[i].role, why);
		if (err)
			return 1;
	}
	return 0;
}

/* The hogs' own switches, per distinct OS thread: a thread that ran several
 * hogs (coro, uring) counts once, from the first hog's start to the last
 * one's stop (the counters only grow, so the difference is that thread's). */
static int record_hog_switches(struct task_ctx *ctx, struct preempt_task *hogs, uint64_t n)
{
	uint64_t threads = 0, changes = 0, invol = 0, vol = 0, span_ns = 0;

	for (uint64_t i = 0; i < n; i++) {
		const struct hog_thread_span *a = &hogs[i].span;
		struct hog_thread_span t = *a;
		int seen = 0;

		if (a->err) {
			rec_fail(ctx->rec, "preempt: reading /proc/thread-self/status: %s",
				 strerror(-a->err));
			return 1;
		}
		if (a->tid0 != a->tid1) {
			changes++;
			continue;
		}
		for (uint64_t j = 0; j < n && !seen; j++)
			seen = j < i && hogs[j].span.tid0 == a->tid0 &&
			       hogs[j].span.tid1 == hogs[j].span.tid0;
		if (seen)
			continue; /* counted with the first hog of its thread */
		for (uint64_t j = i + 1; j < n; j++) {
			const struct hog_thread_span *b = &hogs[j].span;

			if (b->tid0 != a->tid0 || b->tid1 != b->tid0)
				continue;
			if (b->t0_ns < t.t0_ns) {
				t.t0_ns = b->t0_ns;
				t.sw0 = b->sw0;
			}
			if (b->t1_ns > t.t1_ns) {
				t.t1_ns = b->t1_ns;
				t.sw1 = b->sw1;
			}
		}
		threads++;
		invol += t.sw1.involuntary - t.sw0.involuntary;
		vol += t.sw1.voluntary - t.sw0.voluntary;
		span_ns += t.t1_ns - t.t0_ns;
	}
	rec_metric_u64(ctx->rec, "hog_threads", threads);
	rec_metric_u64(ctx->rec, "hog_thread_changes", changes);
	rec_metric_u64(ctx->rec, "hog_thread_ns", span_ns);
	rec_metric_u64(ctx->rec, "hog_involuntary_switches", invol);
	rec_metric_u64(ctx->rec, "hog_voluntary_switches", vol);
	if (span_ns)
		rec_metric_f64(ctx->rec, "hog_involuntary_per_s", (double)invol * 1e9 / (double)span_ns);
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
		.ticks_err = 1,
		.hog_err = 1,
	};
	uint64_t hog_ns = task_u64(ctx, "hog_ms") * 1000000;
	struct preempt_task *tasks = NULL;
	struct sched_knobs ticks_knobs, hog_knobs;
	struct rt_spawn_opts hog_opts = {.cpu = -1};
	char why[256];
	int err, ret = 0;

	preempt_knobs(ctx, &ticks_knobs, &hog_knobs, why, sizeof(why)); /* validated */
	/* Hogs like the ticks inherit the thread's attributes; others ask. */
	if (hog_knobs.policy != ticks_knobs.policy || hog_knobs.priority != ticks_knobs.priority ||
	    hog_knobs.nice != ticks_knobs.nice || hog_knobs.slice_ns != ticks_knobs.slice_ns)
		hog_opts.sched = &hog_knobs;
	if (hog_opts.sched && sched_knobs_precheck(&hog_knobs, why, sizeof(why))) {
		rec_skip(ctx->rec, "preempt: hog: %s", why);
		return 1;
	}

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
		tasks[i].first = i == 0 || i == nticks;
		err = rt_spawn(rt, i < nticks ? preempt_ticker : preempt_hog, &tasks[i],
			       i < nticks ? NULL : &hog_opts, &tasks[i].task);
		if (err && i >= nticks && hog_opts.sched) {
			hog_spawn_failed(ctx, &hog_knobs, err);
			ret = 1;
			atomic_store(&run.stop, 1);
			break;
		}
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
	if (ret || (ret = preempt_check_sched(ctx, &run, &ticks_knobs, &hog_knobs)))
		goto cleanup;
	end_ns = atomic_load(&run.last_hog_ns);
	rec_metric_hist(ctx->rec, "lateness_ns", run.lateness);
	rec_metric_u64(ctx->rec, "missed_ticks", atomic_load(&run.missed));
	rec_metric_u64(ctx->rec, "ticks_recorded", run.lateness->n);
	rec_metric_u64(ctx->rec, "hog_yields", atomic_load(&run.yields));
	rec_metric_u64(ctx->rec, "warmup_ticks_per_ticker", run.warmup);
	rec_metric_u64(ctx->rec, "hog_work_units", atomic_load(&run.work_units));
	rec_metric_u64(ctx->rec, "window_ns", end_ns > run.t0_ns ? end_ns - run.t0_ns : 0);
	ret = record_hog_switches(ctx, tasks + nticks, nhogs);
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
	{.key = "hog_policy",
	 .type = PARAM_ENUM,
	 .def = "same",
	 .choices = "same|other|batch|idle|fifo|rr",
	 .help = "the hogs' kernel policy; same = policy (the ticks')"},
	{.key = "hog_priority",
	 .type = PARAM_U64,
	 .def = "0",
	 .unit = "count",
	 .min = 0,
	 .max = 99,
	 .help = "the hogs' real-time priority 1-99 (fifo, rr); default: priority where the "
		 "ticks are fifo or rr too, else 1"},
	{.key = "hog_nice",
	 .type = PARAM_I64,
	 .def = "0",
	 .smin = -20,
	 .smax = 19,
	 .help = "the hogs' nice (other, batch); default: nice"},
	{.key = "hog_slice_us",
	 .type = PARAM_U64,
	 .def = "0",
	 .unit = "us",
	 .min = 0,
	 .max = 100000,
	 .help = "the hogs' EEVDF slice, 100-100000 (other, batch), 0 = the kernel's; default: "
		 "slice_us"},
	PARAM_END,
};

/* What the record's metrics hold (units, direction, headline: task.h). */
static const struct task_metric preempt_metrics[] = {
	{.name = "lateness_ns",
	 .kind = METRIC_DIST,
	 .unit = "ns",
	 .better = BETTER_LOWER,
	 .headline = true,
	 .help = "how late each periodic tick woke after its due time"},
	{.name = "missed_ticks",
	 .unit = "count",
	 .better = BETTER_LOWER,
	 .headline = true,
	 .help = "ticks overdue by a whole period when the ticker got to them (skipped)"},
	{.name = "ticks_recorded", .unit = "count", .help = "ticks in lateness_ns"},
	{.name = "hog_yields", .unit = "count", .help = "times the hogs yielded"},
	{.name = "warmup_ticks_per_ticker",
	 .unit = "count",
	 .help = "untimed ticks per ticker first"},
	{.name = "hog_work_units", .unit = "count", .help = "work units the hogs did"},
	{.name = "window_ns", .unit = "ns", .help = "the measured window"},
	{.name = "hog_involuntary_switches",
	 .unit = "count",
	 .help = "involuntary switches of the OS threads that ran hogs, each from its first hog's "
		 "start to its last hog's stop (/proc/thread-self/status)"},
	{.name = "hog_voluntary_switches",
	 .unit = "count",
	 .help = "voluntary switches of the same threads over the same spans"},
	{.name = "hog_threads", .unit = "count", .help = "distinct OS threads that ran hogs"},
	{.name = "hog_thread_ns",
	 .unit = "ns",
	 .help = "the spans of those threads, summed (hog-thread time)"},
	{.name = "hog_involuntary_per_s",
	 .unit = "per_s",
	 .headline = true,
	 .help = "hog_involuntary_switches per hog-thread-second (per thread, not per process)"},
	{.name = "hog_thread_changes",
	 .unit = "count",
	 .help = "hogs whose OS thread changed between start and stop (mn): not counted above"},
	{.name = "rttime_limit_us",
	 .unit = "us",
	 .optional = true,
	 .help = "RLIMIT_RTTIME set for a real-time policy (real-time runs only)"},
	{.name = "sched_ticks_policy",
	 .kind = METRIC_TEXT,
	 .help = "the tickers' policy as the kernel applied it"},
	{.name = "sched_ticks_priority",
	 .unit = "count",
	 .help = "the tickers' real-time priority as applied"},
	{.name = "sched_ticks_nice", .unit = "count", .help = "the tickers' nice value as applied"},
	{.name = "sched_ticks_slice_ns",
	 .unit = "ns",
	 .help = "the tickers' EEVDF slice as applied"},
	{.name = "sched_hog_policy",
	 .kind = METRIC_TEXT,
	 .help = "the hogs' policy as the kernel applied it"},
	{.name = "sched_hog_priority",
	 .unit = "count",
	 .help = "the hogs' real-time priority as applied"},
	{.name = "sched_hog_nice", .unit = "count", .help = "the hogs' nice value as applied"},
	{.name = "sched_hog_slice_ns", .unit = "ns", .help = "the hogs' EEVDF slice as applied"},
	METRIC_END,
};

const struct task preempt_task = {
	.name = "preempt",
	.summary = "periodic tickers beside CPU hogs: lateness under preemptive vs cooperative "
		   "(C6, C7)",
	.params = preempt_params,
	.metrics = preempt_metrics,
	.validate = preempt_validate,
	.setup = preempt_setup,
	.run = preempt_run,
};
