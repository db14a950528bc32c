/* spawn: create `tasks` tasks that park, then wake and join them all.
 *
 * What it provokes: the memory and creation cost of a task that exists but
 * waits, which is what a server with many idle connections pays per client.
 *   threads  each task is a kernel thread: a task_struct and kernel stack
 *            (Slab, KernelStack), page tables, and a user stack mapping of
 *            stack_bytes of which the touched pages are resident. The kernel's
 *            limits (kernel.threads-max, kernel.pid_max, vm.max_map_count,
 *            cgroup pids.max, memory) stop it long before a million.
 *   coro     how a task's stack is made is the model parameter `stack`:
 *            guarded (default): a control block at the top of an own stack
 *            with a guard page below; resident cost is the stack pages it
 *            touched (one page when parked early); kernel cost page tables
 *            only where guards are MADV_GUARD_INSTALL markers (6.13+), a
 *            second VMA per stack where they are mprotect'ed pages.
 *            unguarded: the same without the guard. shared: no stack of its
 *            own; a parked task is its control block plus the bytes its
 *            stack used, copied out (docs/stacks.md).
 *   uring    the same coroutines as coro: same figures expected.
 *
 * stack_touch_bytes: what a real task holds on its stack while it waits (a
 * handler deep in its calls, a buffer in its frame). Each task writes that
 * many bytes of a frame that stays live while it is parked, the same code
 * under every model: threads and own-stack coroutines keep those pages
 * resident, a shared-stack coroutine copies them out when it parks. Memory
 * per task then grows by about that much on every side, and the comparison
 * can cross over (a shared stack's save buffer grows by a quarter at a
 * time). Each task's stack is raised to stack_touch_bytes + 16 KiB when
 * stack_bytes is smaller (stack_bytes_per_task says what it got).
 *
 * Method: after `warmup` untimed spawn/join pairs, measure RSS and
 * /proc/meminfo, spawn every task, wait until all have parked on one event,
 * measure again; wake and join them all. kernel_bytes_per_task is the delta
 * of KernelStack + Slab + PageTables (system-wide, so other activity on the
 * box adds noise; repeat runs to see it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/limits.h"
#include "lib/procfs.h"
#include "task.h"

static const struct task_param spawn_params[] = {
	{.key = "tasks",
	 .type = PARAM_U64,
	 .def = "10000",
	 .unit = "count",
	 .min = 1,
	 .max = 10000000,
	 .help = "tasks to create and park"},
	{.key = "stack_bytes",
	 .type = PARAM_U64,
	 .def = "16384",
	 .unit = "bytes",
	 .min = 4096,
	 .max = 1ull << 30,
	 .help = "stack size per task (threads: raised to PTHREAD_STACK_MIN if below; raised to "
		 "stack_touch_bytes + 16 KiB if below)"},
	{.key = "stack_touch_bytes",
	 .type = PARAM_U64,
	 .def = "0",
	 .unit = "bytes",
	 .min = 0,
	 .max = 64ull << 20,
	 .help = "bytes of its own stack each task writes and keeps live while it is parked"},
	PARAM_END,
};

/* Room a task's own calls (the wait, the model underneath) need beside the
 * bytes it touches. */
#define SPAWN_STACK_HEADROOM (16u << 10)

struct spawn_state {
	struct rt *rt;
	struct rt_event go, all_parked;
	_Atomic uint64_t parked;
	uint64_t target;
	size_t touch_bytes;
};

static void park(struct spawn_state *st)
{
	if (atomic_fetch_add(&st->parked, 1) + 1 == st->target)
		rt_wake(st->rt, &st->all_parked);
	rt_wait(st->rt, &st->go);
}

static void parked_task(void *arg)
{
	struct spawn_state *st = arg;

	if (st->touch_bytes) {
		/* live until park() returns: the frame is part of what a
		 * parked task holds */
		unsigned char *frame = __builtin_alloca(st->touch_bytes);

		memset(frame, 0xa5, st->touch_bytes);
		__asm__ __volatile__("" : : "r"(frame) : "memory");
		park(st);
		__asm__ __volatile__("" : : "r"(frame) : "memory");
		return;
	}
	park(st);
}

/* The stack each task gets: stack_bytes, or enough for what it touches. */
static size_t spawn_stack_bytes(const struct task_ctx *ctx)
{
	size_t want = task_u64(ctx, "stack_bytes"), touch = task_u64(ctx, "stack_touch_bytes");
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (touch && want < touch + SPAWN_STACK_HEADROOM)
		want = (touch + SPAWN_STACK_HEADROOM + page - 1) / page * page;
	return want;
}

static void empty_task(void *arg)
{
	(void)arg;
}

/* The model raises what the tasks need (mappings for guarded stacks,
 * threads and pids for kernel threads); spawn itself finds any other limit
 * and names it (name_the_limit). */
static int spawn_setup(struct task_ctx *ctx)
{
	struct rt_demand d = {.tasks = task_u64(ctx, "tasks") + task_u64(ctx, "warmup"),
			      .stack_bytes = spawn_stack_bytes(ctx)};

	return task_reserve(ctx, &d);
}

/* Why spawning stopped at `reached`: name the kernel limit when one is hit. */
static void name_the_limit(struct task_ctx *ctx, uint64_t reached, int err)
{
	int64_t threads = proc_threads_total(),
		threads_max = limit_sysctl_read("kernel.threads-max");
	int64_t pid_max = limit_sysctl_read("kernel.pid_max");
	int64_t maps = proc_map_count(), map_max = limit_sysctl_read("vm.max_map_count");
	int64_t pids = 0, pids_max = -1;
	struct kernel_mem km = {0};
	const char *limit = "unknown";
	struct rlimit as;

	proc_kernel_mem(&km);
	proc_cgroup_pids(&pids, &pids_max);
	if (getrlimit(RLIMIT_AS, &as))
		as.rlim_cur = RLIM_INFINITY;
	if (as.rlim_cur != RLIM_INFINITY &&
	    proc_vm_bytes() + 2 * spawn_stack_bytes(ctx) + (8u << 20) >= as.rlim_cur)
		limit = "RLIMIT_AS (address space)";
	else if (maps > 0 && map_max > 0 && maps + 4 >= map_max)
		limit = "vm.max_map_count";
	else if (threads > 0 && threads_max > 0 && threads + 16 >= threads_max)
		limit = "kernel.threads-max";
	else if (threads > 0 && pid_max > 0 && threads + 300 >= pid_max)
		limit = "kernel.pid_max";
	else if (pids_max >= 0 && pids + 2 >= pids_max)
		limit = "cgroup pids.max";
	else if (km.mem_available && km.mem_available < (64ull << 20))
		limit = "memory";
	else if (err == -EAGAIN)
		limit = "RLIMIT_NPROC or another task limit";
	else if (err == -ENOMEM)
		limit = "memory";
	rec_metric_str(ctx->rec, "limit_hit", limit);
	rec_fail(ctx->rec,
		 "spawn stopped at %llu of %llu tasks: %s (limit: %s; threads %lld/%lld, "
		 "maps %lld/%lld, MemAvailable %llu MiB)",
		 (unsigned long long)reached, (unsigned long long)task_u64(ctx, "tasks"),
		 strerror(-err), limit, (long long)threads, (long long)threads_max, (long long)maps,
		 (long long)map_max, (unsigned long long)(km.mem_available >> 20));
}

static int spawn_run(struct rt *rt, struct task_ctx *ctx)
{
	uint64_t n = task_u64(ctx, "tasks"), warmup = task_u64(ctx, "warmup"), reached = 0;
	struct rt_spawn_opts opts = {.stack_bytes = spawn_stack_bytes(ctx), .cpu = -1};
	struct spawn_state st = {
		.rt = rt, .target = n, .touch_bytes = task_u64(ctx, "stack_touch_bytes")};
	struct kernel_mem km0, km1;
	struct rt_task **handles;
	uint64_t rss0, rss1, t0, t_spawned, t_parked, t_joined;
	int err = 0;

	/* Allocated and touched before the baseline, so it is not counted. */
	handles = calloc(n, sizeof(*handles));
	if (!handles) {
		rec_fail(ctx->rec, "cannot allocate %llu task handles", (unsigned long long)n);
		return 1;
	}
	memset(handles, 0xff, n * sizeof(*handles));
	for (uint64_t i = 0; i < warmup; i++) {
		struct rt_task *t;

		err = rt_spawn(rt, empty_task, NULL, &opts, &t);
		if (err || (err = rt_join(rt, t)))
			break;
	}
	if (err) {
		rec_fail(ctx->rec, "warmup spawn: %s", strerror(-err));
		free(handles);
		return 1;
	}

	proc_kernel_mem(&km0);
	rss0 = proc_rss_bytes();
	t0 = now_ns();
	for (; reached < n; reached++) {
		err = rt_spawn(rt, parked_task, &st, &opts, &handles[reached]);
		if (err)
			break;
	}
	t_spawned = now_ns();
	if (reached < n && /* count the missing ones as parked, so the last real one wakes us */
	    atomic_fetch_add(&st.parked, n - reached) + (n - reached) == n)
		rt_wake(rt, &st.all_parked);
	rt_wait(rt, &st.all_parked);
	t_parked = now_ns();
	rss1 = proc_rss_bytes();
	proc_kernel_mem(&km1);
	if (err)
		name_the_limit(ctx, reached, err);

	for (uint64_t i = 0; i < reached; i++)
		rt_wake(rt, &st.go);
	for (uint64_t i = 0; i < reached; i++)
		rt_join(rt, handles[i]);
	t_joined = now_ns();
	free(handles);

	rec_metric_u64(ctx->rec, "tasks", reached);
	rec_metric_u64(ctx->rec, "stack_bytes_per_task", opts.stack_bytes);
	if (reached) {
		double r = (double)reached;
		int64_t kstack = (int64_t)(km1.kernel_stack - km0.kernel_stack);
		int64_t slab = (int64_t)(km1.slab - km0.slab);
		int64_t ptables = (int64_t)(km1.page_tables - km0.page_tables);

		rec_metric_f64(ctx->rec, "create_ns", (double)(t_parked - t0) / r);
		rec_metric_f64(ctx->rec, "spawn_call_ns", (double)(t_spawned - t0) / r);
		rec_metric_f64(ctx->rec, "wake_join_ns", (double)(t_joined - t_parked) / r);
		rec_metric_f64(ctx->rec, "user_bytes_per_task",
			       (double)((int64_t)(rss1 - rss0)) / r);
		rec_metric_f64(ctx->rec, "kernel_bytes_per_task",
			       (double)(kstack + slab + ptables) / r);
		rec_metric_f64(ctx->rec, "kernel_stack_bytes_per_task", (double)kstack / r);
		rec_metric_f64(ctx->rec, "slab_bytes_per_task", (double)slab / r);
		rec_metric_f64(ctx->rec, "page_table_bytes_per_task", (double)ptables / r);
		rec_metric_u64(ctx->rec, "rss_parked_bytes", rss1);
	}
	return err ? 1 : 0;
}

/* What the record's metrics hold (units, direction, headline: task.h). */
static const struct task_metric spawn_metrics[] = {
	{.name = "tasks",
	 .unit = "count",
	 .headline = true,
	 .help = "tasks alive at once, reached"},
	{.name = "create_ns",
	 .unit = "ns",
	 .better = BETTER_LOWER,
	 .headline = true,
	 .help = "from the first spawn until every task has parked, per task"},
	{.name = "spawn_call_ns",
	 .unit = "ns",
	 .better = BETTER_LOWER,
	 .help = "the rt_spawn calls alone, per task"},
	{.name = "wake_join_ns",
	 .unit = "ns",
	 .better = BETTER_LOWER,
	 .help = "waking every parked task and joining it, per task"},
	{.name = "user_bytes_per_task",
	 .unit = "bytes",
	 .better = BETTER_LOWER,
	 .headline = true,
	 .help = "process RSS with every task parked minus before, per task"},
	{.name = "kernel_bytes_per_task",
	 .unit = "bytes",
	 .better = BETTER_LOWER,
	 .headline = true,
	 .help = "/proc/meminfo KernelStack + Slab + PageTables delta, per task (system-wide)"},
	{.name = "kernel_stack_bytes_per_task",
	 .unit = "bytes",
	 .better = BETTER_LOWER,
	 .help = "the KernelStack part of kernel_bytes_per_task"},
	{.name = "slab_bytes_per_task",
	 .unit = "bytes",
	 .better = BETTER_LOWER,
	 .help = "the Slab part of kernel_bytes_per_task"},
	{.name = "page_table_bytes_per_task",
	 .unit = "bytes",
	 .better = BETTER_LOWER,
	 .help = "the PageTables part of kernel_bytes_per_task"},
	{.name = "rss_parked_bytes", .unit = "bytes", .help = "process RSS with every task parked"},
	{.name = "stack_bytes_per_task",
	 .unit = "bytes",
	 .help = "the stack size each task was given (stack_bytes, or raised for "
		 "stack_touch_bytes)"},
	{.name = "limit_hit",
	 .kind = METRIC_TEXT,
	 .optional = true,
	 .help = "the limit that stopped spawning (failed runs only)"},
	METRIC_END,
};

const struct task spawn_task = {
	.name = "spawn",
	.summary = "create many tasks that park: memory and time per task",
	.params = spawn_params,
	.metrics = spawn_metrics,
	.setup = spawn_setup,
	.run = spawn_run,
};
