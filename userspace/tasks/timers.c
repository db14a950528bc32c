/* timers: `tasks` tasks each sleep `period_us` and wake, `rounds` times.
 *
 * Provokes: many mostly-sleeping tasks, the case coroutines are said to be
 * made for. Each round a task asks to sleep until now + period_us and
 * records how late it woke (lateness_ns). Before the timed rounds every task
 * sleeps once, untimed, until base + period + i*period/tasks, so that the
 * wake-ups are spread evenly over the period instead of arriving as one herd.
 * Under threads each sleep is a clock_nanosleep in the kernel (one hrtimer
 * and one context switch per wake-up); under coro a timer heap and one
 * epoll_wait for the earliest deadline; under uring the same heap, woken by
 * one io_uring timeout for its earliest deadline (model parameter uring_timers=request:
 * one io_uring timeout per sleep, which the kernel completes at most 40 per
 * io_uring_enter on a DEFER_TASKRUN ring: see models/uring.c).
 *
 * What each model should show (claim C5, with spawn for C1):
 *   threads  lateness of tens of microseconds while the CPUs keep up, a
 *            context switch and about 30 KB of memory per task; at 100,000
 *            tasks the run needs raised kernel limits (set up here).
 *   coro     less CPU per wake-up (no kernel switch per task), but one thread
 *   uring    serves every timer, so when many expire together the last of
 *            them is late by the time it takes to run all the others.
 *
 * Metrics: lateness_ns (distribution over every timed wake-up),
 * cpu_ns_per_wakeup (process CPU time, all threads, from opening the start
 * gate to the last task finishing, divided by `wakeups`), wakeups (every
 * timer wake-up in that window: the spreading sleep, warm-up and timed
 * rounds), tasks, window_ns, gate_ns (time to wake every task at the start).
 *
 * Limits: 100,000 tasks need more than the default vm.max_map_count (every
 * guarded stack is two mappings, threads and coroutines alike) and, for
 * threads, kernel.pid_max, kernel.threads-max and (except for root)
 * RLIMIT_NPROC. setup() raises them only as far as needed (root only;
 * recorded in the record; main.c restores them before printing it). A thread the kernel still
 * refuses ends the cell with status 1 and the limits' values in the reason.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/hist.h"
#include "lib/limits.h"
#include "lib/record.h"
#include "task.h"

/* A timer task needs little stack; small stacks let 100,000 of them fit. */
#define TIMERS_STACK_BYTES (32 * 1024)

struct timers_run;

struct timers_task {
	struct timers_run *run;
	uint64_t index;
	struct rt_task *task;
};

struct timers_run {
	struct rt *rt;
	struct rt_event gate; /* opened once every task is spawned */
	_Atomic int abort;    /* a spawn failed: tasks leave at once */
	uint64_t ntasks, period_ns, rounds, warmup;
	uint64_t base_ns;      /* written before the gate opens */
	_Atomic uint64_t left; /* tasks still running their rounds */
	_Atomic uint64_t end_ns, end_cpu_ns;
	struct hist *lateness; /* shared: hist_add_atomic */
};

static void timers_task_fn(void *arg)
{
	struct timers_task *t = arg;
	struct timers_run *run = t->run;
	uint64_t due, woke;

	if (rt_wait(run->rt, &run->gate) < 0 || atomic_load(&run->abort))
		return;
	/* Spread the tasks over one period (untimed). */
	due = run->base_ns + run->period_ns + t->index * run->period_ns / run->ntasks;
	if (rt_sleep_until(run->rt, due) < 0)
		goto done;
	for (uint64_t r = 0; r < run->warmup + run->rounds; r++) {
		due = now_ns() + run->period_ns;
		if (rt_sleep_until(run->rt, due) < 0)
			break;
		woke = now_ns();
		if (r >= run->warmup)
			hist_add_atomic(run->lateness, woke > due ? woke - due : 0);
	}
done:
	if (atomic_fetch_sub(&run->left, 1) == 1) {
		atomic_store(&run->end_cpu_ns, process_cpu_ns());
		atomic_store(&run->end_ns, now_ns());
	}
}

/* The model raises what `tasks` sleepers need under it, and refuses a
 * count that would not fit in memory (a shared machine's OOM killer). */
static int timers_setup(struct task_ctx *ctx)
{
	struct rt_demand d = {.tasks = task_u64(ctx, "tasks"),
			      .stack_bytes = TIMERS_STACK_BYTES,
			      .refuse_over_memory = 1};

	return task_reserve(ctx, &d);
}

/* The pids.max of this process's cgroup ("max" when unlimited), cgroup v1
 * or v2, into buf; "?" when it cannot be found. A container's pids.max
 * refuses threads long before the sysctls do. */
static void cgroup_pids_max(char *buf, size_t len)
{
	char line[512], path[700];
	FILE *f = fopen("/proc/self/cgroup", "r");
	int found = 0;

	snprintf(buf, len, "?");
	if (!f)
		return;
	while (!found && fgets(line, sizeof(line), f)) {
		char *rest = strchr(line, ':'), *cg;
		FILE *m;

		if (!rest || !(cg = strchr(rest + 1, ':')))
			continue;
		cg[strcspn(cg, "\n")] = '\0';
		if (!strncmp(rest, ":pids:", 6))
			snprintf(path, sizeof(path), "/sys/fs/cgroup/pids%s/pids.max", cg + 1);
		else if (!strncmp(rest, "::", 2))
			snprintf(path, sizeof(path), "/sys/fs/cgroup%s/pids.max", cg + 1);
		else
			continue;
		m = fopen(path, "r");
		if (m) {
			if (fgets(buf, (int)len, m))
				buf[strcspn(buf, "\n")] = '\0';
			found = 1;
			fclose(m);
		}
	}
	fclose(f);
}

static void timers_spawn_failed(struct task_ctx *ctx, uint64_t i, int err)
{
	char pids_max[32];

	cgroup_pids_max(pids_max, sizeof(pids_max));
	rec_fail(ctx->rec,
		 "timers: spawning task %llu of %llu: %s "
		 "(kernel.threads-max=%lld, kernel.pid_max=%lld, vm.max_map_count=%lld, "
		 "cgroup pids.max=%s)",
		 (unsigned long long)i, (unsigned long long)task_u64(ctx, "tasks"), strerror(-err),
		 (long long)limit_sysctl_read("kernel/threads-max"),
		 (long long)limit_sysctl_read("kernel/pid_max"),
		 (long long)limit_sysctl_read("vm/max_map_count"), pids_max);
}

static int timers_run(struct rt *rt, struct task_ctx *ctx)
{
	struct timers_run run = {
		.rt = rt,
		.gate = RT_EVENT_INIT(0),
		.ntasks = task_u64(ctx, "tasks"),
		.period_ns = task_u64(ctx, "period_us") * 1000,
		.rounds = task_u64(ctx, "rounds"),
		.warmup = task_u64(ctx, "warmup"),
	};
	struct rt_spawn_opts opts = {.stack_bytes = TIMERS_STACK_BYTES, .cpu = -1};
	uint64_t spawned = 0, cpu0, wakeups, end_ns, gate_ns;
	struct timers_task *tasks;
	int err, ret = 0;

	tasks = calloc(run.ntasks, sizeof(*tasks));
	run.lateness = malloc(sizeof(*run.lateness));
	if (!tasks || !run.lateness) {
		rec_fail(ctx->rec, "timers: out of memory for %llu tasks",
			 (unsigned long long)run.ntasks);
		ret = 1;
		goto cleanup;
	}
	hist_init(run.lateness);
	for (uint64_t i = 0; i < run.ntasks; i++) {
		tasks[i].run = &run;
		tasks[i].index = i;
		err = rt_spawn(rt, timers_task_fn, &tasks[i], &opts, &tasks[i].task);
		if (err) {
			timers_spawn_failed(ctx, i, err);
			atomic_store(&run.abort, 1);
			ret = 1;
			break;
		}
		spawned++;
	}
	atomic_store(&run.left, spawned);
	run.base_ns = now_ns();
	cpu0 = process_cpu_ns();
	for (uint64_t i = 0; i < spawned; i++)
		rt_wake(rt, &run.gate);
	gate_ns = now_ns() - run.base_ns;
	for (uint64_t i = 0; i < spawned; i++) {
		err = rt_join(rt, tasks[i].task);
		if (err && !ret) {
			rec_fail(ctx->rec, "timers: join task %llu: %s", (unsigned long long)i,
				 strerror(-err));
			ret = 1;
		}
	}
	if (ret)
		goto cleanup;
	end_ns = atomic_load(&run.end_ns);
	wakeups = run.ntasks * (1 + run.warmup + run.rounds);
	rec_metric_hist(ctx->rec, "lateness_ns", run.lateness);
	rec_metric_f64(ctx->rec, "cpu_ns_per_wakeup",
		       (double)(atomic_load(&run.end_cpu_ns) - cpu0) / (double)wakeups);
	rec_metric_u64(ctx->rec, "wakeups", wakeups);
	rec_metric_u64(ctx->rec, "tasks", run.ntasks);
	rec_metric_u64(ctx->rec, "window_ns", end_ns > run.base_ns ? end_ns - run.base_ns : 0);
	rec_metric_u64(ctx->rec, "gate_ns", gate_ns);
	rec_metric_u64(ctx->rec, "warmup_rounds", run.warmup);
	rec_metric_u64(ctx->rec, "stack_bytes", TIMERS_STACK_BYTES);
cleanup:
	free(run.lateness);
	free(tasks);
	return ret;
}

static const struct task_param timers_params[] = {
	{.key = "tasks",
	 .type = PARAM_U64,
	 .def = "100",
	 .unit = "count",
	 .min = 1,
	 .max = 1000000,
	 .help = "sleeping tasks (100,000 needs raised kernel limits: root)"},
	{.key = "period_us",
	 .type = PARAM_U64,
	 .def = "1000",
	 .unit = "us",
	 .min = 1,
	 .max = 100000000ull,
	 .help = "each sleep asks for this long"},
	{.key = "rounds",
	 .type = PARAM_U64,
	 .def = "1000",
	 .unit = "count",
	 .min = 1,
	 .max = 1000000000ull,
	 .help = "timed sleeps per task"},
	PARAM_END,
};

/* What the record's metrics hold (units, direction, headline: task.h). */
static const struct task_metric timers_metrics[] = {
	{.name = "lateness_ns",
	 .kind = METRIC_DIST,
	 .unit = "ns",
	 .better = BETTER_LOWER,
	 .headline = true,
	 .help = "how late each timed wake-up came after its deadline"},
	{.name = "cpu_ns_per_wakeup",
	 .unit = "ns",
	 .better = BETTER_LOWER,
	 .headline = true,
	 .help = "process CPU time in the window / wakeups"},
	{.name = "wakeups", .unit = "count", .help = "timed wake-ups in the window"},
	{.name = "tasks", .unit = "count", .help = "sleeping tasks"},
	{.name = "window_ns", .unit = "ns", .help = "the measured window"},
	{.name = "gate_ns",
	 .unit = "ns",
	 .help = "the start gate: first deadline after the tasks are released"},
	{.name = "warmup_rounds", .unit = "count", .help = "untimed rounds first"},
	{.name = "stack_bytes", .unit = "bytes", .help = "stack asked for per task"},
	METRIC_END,
};

const struct task timers_task = {
	.name = "timers",
	.summary = "many tasks sleeping and waking periodically: timer lateness and CPU per "
		   "wake-up (C5)",
	.params = timers_params,
	.metrics = timers_metrics,
	.setup = timers_setup,
	.run = timers_run,
};
