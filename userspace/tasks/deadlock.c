/* deadlock: two tasks take two locks (rt_lock: an rt_event with one unit) in
 * opposite order, `rounds` times each: task A takes L1 then L2, task B takes
 * L2 then L1, each round spinning `window_iters` steps between its first and
 * second lock and, with `yield_between`, calling rt_yield() there too.
 *
 * Provokes: lock-order inversion. Once A holds L1 and B holds L2, each
 * waits for the other for good. Here that deadlock is the measured outcome,
 * not a failure: the record is ok, says whether the run deadlocked, and the
 * process exits 0. It never hangs, whoever notices the deadlock:
 *   - the model: the coroutine schedulers find every coroutine parked and
 *     run() returns -EDEADLK; main.c then calls this task's stalled hook;
 *   - the watchdog (lib/watchdog.h), a plain pthread outside every model,
 *     for models that cannot see it (threads asleep in futex waits cannot
 *     be joined): when no round has finished for `stall_ms` it checks for
 *     the cycle itself (deadlock_cycle below) and, when it is there, writes
 *     the record and ends the process through ctx->exit_now. A run that is
 *     only slow keeps going.
 * Both paths write the same metrics; detected_by says which one fired.
 *
 * What each model should show (claim C8):
 *   threads  may deadlock in any round: on 2 CPUs whenever both tasks are
 *            inside their window at once (likely within a few rounds); on
 *            one CPU (cpus=0) only when the kernel preempts A between its
 *            two locks and runs B, so less often. yield_between makes it
 *            far more likely on either. Detected by the watchdog.
 *   coro     never without yield_between: a coroutine that does not yield
 *   uring    holds both locks before anything else runs. Always with it, in
 *            the first round: A takes L1 and yields, B takes L2 and waits
 *            for L1, A waits for L2. Detected by the scheduler (-EDEADLK).
 *   mn       (several worker threads under the coroutines) like threads.
 *
 * Metrics: deadlocked (0 or 1: this process), rounds (per task, as asked),
 * rounds_done (rounds both tasks finished: below rounds exactly when
 * deadlocked), rounds_done_total (the two tasks' rounds added up: one task
 * may run many rounds before the other starts), detected_by (none,
 * runtime or watchdog), window_ns (from the gate opening to the last round,
 * or to the deadlock being reported: that includes up to 2 x stall_ms of
 * watching when the watchdog found it). More in docs/deadlock.md.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/record.h"
#include "lib/watchdog.h"
#include "task.h"
#include "tasks/crew.h"

struct deadlock_worker {
	struct deadlock_run *run;
	struct rt_event *first, *second;
	_Atomic uint64_t done;	  /* rounds finished */
	_Atomic bool holds_first; /* holds `first`; may not have `second` yet */
};

/* One run per process: the stalled hook runs after the model has torn the
 * task's stack down, so what it reports lives here. */
static struct deadlock_run {
	struct task_ctx *ctx;
	struct rt *rt;
	struct rt_event locks[2];
	struct deadlock_worker workers[2];
	struct crew crew;
	struct watchdog dog;
	_Atomic uint64_t progress; /* rounds finished by either task */
	uint64_t rounds, window_iters;
	bool yield_between;
} dl;

static void deadlock_round(struct deadlock_run *run, struct deadlock_worker *w)
{
	rt_lock(run->rt, w->first);
	atomic_store(&w->holds_first, true);
	crew_race_window(run->rt, run->window_iters, run->yield_between);
	rt_lock(run->rt, w->second);
	atomic_store(&w->holds_first, false);
	/* Counted before either lock goes back: deadlock_cycle relies on it. */
	atomic_fetch_add(&w->done, 1);
	atomic_fetch_add(&run->progress, 1);
	rt_unlock(run->rt, w->second);
	rt_unlock(run->rt, w->first);
}

static void deadlock_worker_fn(void *arg)
{
	struct deadlock_worker *w = arg;

	if (!crew_wait_start(&w->run->crew))
		return;
	for (uint64_t i = 0; i < w->run->rounds; i++)
		deadlock_round(w->run, w);
	crew_worker_done(&w->run->crew);
}

/* True only for a real deadlock, whatever the timing. holds_first seen set
 * means that task held its first lock at that moment, and a task lets go of
 * its first lock only after counting its round in progress. So when progress
 * is the same before and after both flags were seen set, A held L1 and B
 * held L2 at the moment B's flag was read, neither had finished its round,
 * and each needs the lock the other holds to finish it. */
static bool deadlock_cycle(struct deadlock_run *run)
{
	uint64_t before = atomic_load(&run->progress);
	bool a = atomic_load(&run->workers[0].holds_first);
	bool b = atomic_load(&run->workers[1].holds_first);

	return a && b && atomic_load(&run->progress) == before;
}

static void deadlock_report(struct deadlock_run *run, bool deadlocked, const char *detected_by)
{
	uint64_t a = atomic_load(&run->workers[0].done), b = atomic_load(&run->workers[1].done);
	struct record *rec = run->ctx->rec;

	rec_metric_u64(rec, "deadlocked", deadlocked);
	rec_metric_u64(rec, "rounds", run->rounds);
	rec_metric_u64(rec, "rounds_done", a < b ? a : b);
	rec_metric_u64(rec, "rounds_done_total", a + b);
	rec_metric_str(rec, "detected_by", detected_by);
	rec_metric_u64(rec, "window_ns",
		       deadlocked ? now_ns() - run->crew.start_ns : crew_window_ns(&run->crew));
}

/* On the watchdog's thread: no round finished for stall_ms. */
static void deadlock_on_stall(void *arg, uint64_t progress)
{
	struct deadlock_run *run = arg;

	(void)progress; /* deadlock_cycle reads it again, around the flags */
	if (!deadlock_cycle(run))
		return; /* slow, not stuck: keep watching */
	deadlock_report(run, true, "watchdog");
	run->ctx->exit_now(run->ctx);
}

/* main.c, after the model returned -EDEADLK: every coroutine parked. */
static void deadlock_stalled(struct task_ctx *ctx)
{
	(void)ctx;
	watchdog_stop(&dl.dog); /* never returns if the watchdog is reporting */
	deadlock_report(&dl, true, "runtime");
}

static int deadlock_run(struct rt *rt, struct task_ctx *ctx)
{
	struct deadlock_run *run = &dl;
	uint64_t warmup = task_u64(ctx, "warmup");
	int err, ret;

	*run = (struct deadlock_run){
		.ctx = ctx,
		.rt = rt,
		.locks = {RT_EVENT_INIT(1), RT_EVENT_INIT(1)},
		.rounds = task_u64(ctx, "rounds"),
		.window_iters = task_u64(ctx, "window_iters"),
		.yield_between = task_bool(ctx, "yield_between"),
	};
	run->workers[0] = (struct deadlock_worker){
		.run = run, .first = &run->locks[0], .second = &run->locks[1]};
	run->workers[1] = (struct deadlock_worker){
		.run = run, .first = &run->locks[1], .second = &run->locks[0]};
	/* Warm-up: A's rounds, by this task alone; alone it cannot deadlock. */
	for (uint64_t i = 0; i < warmup; i++)
		deadlock_round(run, &run->workers[0]);
	atomic_store(&run->workers[0].done, 0);
	atomic_store(&run->progress, 0);

	err = watchdog_start(&run->dog, &run->progress, task_u64(ctx, "stall_ms") * 1000000ull,
			     deadlock_on_stall, run);
	if (err) {
		rec_fail(ctx->rec, "deadlock: watchdog thread: %s", strerror(-err));
		return 1;
	}
	ret = crew_run(&run->crew, rt, ctx, 2, deadlock_worker_fn, run->workers,
		       sizeof(run->workers[0]));
	watchdog_stop(&run->dog); /* never returns if the watchdog is reporting */
	if (ret == 0)
		deadlock_report(run, false, "none");
	return ret;
}

static const struct task_param deadlock_params[] = {
	{.key = "rounds",
	 .type = PARAM_U64,
	 .def = "1000000",
	 .unit = "count",
	 .min = 1,
	 .max = 1000000000ull,
	 .help = "rounds per task, each taking both locks (its own order) and releasing them"},
	{.key = "window_iters",
	 .type = PARAM_U64,
	 .def = "50",
	 .unit = "count",
	 .min = 0,
	 .max = 1000000,
	 .help = "spin steps between the first lock and the second (the window)"},
	{.key = "yield_between",
	 .type = PARAM_BOOL,
	 .def = "false",
	 .help = "call rt_yield() between the first lock and the second"},
	{.key = "stall_ms",
	 .type = PARAM_U64,
	 .def = "200",
	 .unit = "ms",
	 .min = 1,
	 .max = 600000,
	 .help = "no round finished for this long: the watchdog looks for the deadlock"},
	PARAM_END,
};

/* What the record's metrics hold (units, direction, headline: task.h). */
static const struct task_metric deadlock_metrics[] = {
	{.name = "deadlocked",
	 .unit = "count",
	 .headline = true,
	 .help = "1 when the two tasks' opposite lock order deadlocked this run"},
	{.name = "rounds", .unit = "count", .help = "rounds each task was asked to do"},
	{.name = "rounds_done",
	 .unit = "count",
	 .headline = true,
	 .help = "rounds the slower task finished"},
	{.name = "rounds_done_total", .unit = "count", .help = "rounds both tasks finished"},
	{.name = "detected_by",
	 .kind = METRIC_TEXT,
	 .help = "what found the deadlock (scheduler, watchdog) or none"},
	{.name = "window_ns", .unit = "ns", .help = "the measured window (up to the deadlock)"},
	METRIC_END,
};

const struct task deadlock_task = {
	.name = "deadlock",
	.summary = "two tasks, two locks taken in opposite order: deadlocked runs (C8)",
	.params = deadlock_params,
	.metrics = deadlock_metrics,
	.run = deadlock_run,
	.stalled = deadlock_stalled,
};
