/* reserve.c: the kernel limits and memory N live tasks need, per kind of
 * runtime (see reserve.h). Limits are raised only when below what is needed,
 * only as root, recorded in the record and restored at exit (lib/limits). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "coro/coro.h"
#include "models/co/stack_param.h"
#include "lib/limits.h"
#include "lib/procfs.h"
#include "lib/record.h"
#include "models/reserve.h"
#include "task.h"

/* Room for what the rest of the process and the system create meanwhile. */
#define RESERVE_SLACK 1024
/* Memory one parked task costs, rounded up from measurements on a 2-vCPU
 * VM (docs/kernel-notes.md): a blocked thread is about 8.5 KB of RSS, a
 * 16 KiB kernel stack and 7.6 KB of slab; a parked coroutine one or two
 * stack pages, its control block and page tables. Used only to refuse a run
 * that would push the box into the OOM killer, never to size anything. */
#define THREAD_BYTES  (40 * 1024)
#define CORO_BYTES    (16 * 1024)
#define PID_MAX_LIMIT 4194304 /* the kernel's ceiling on 64-bit */

static int raise_sysctl(const struct task_ctx *ctx, const char *name, uint64_t want)
{
	char why[256];

	if (!limit_sysctl_at_least(ctx->rec, name, want, why, sizeof(why)))
		return 0;
	rec_fail(ctx->rec, "%s", why);
	return 1;
}

static int check_memory(const struct task_ctx *ctx, const struct rt_demand *d, uint64_t per_task)
{
	struct kernel_mem km;

	if (!d->refuse_over_memory || proc_kernel_mem(&km) || !km.mem_available)
		return 0; /* unknown MemAvailable (no /proc) does not refuse */
	if (d->tasks * per_task <= km.mem_available / 10 * 8)
		return 0;
	rec_fail(ctx->rec,
		 "%llu tasks under %s need about %llu MiB, more than 80%% of MemAvailable "
		 "(%llu MiB): lower tasks",
		 (unsigned long long)d->tasks, ctx->model->name,
		 (unsigned long long)(d->tasks * per_task >> 20),
		 (unsigned long long)(km.mem_available >> 20));
	return 1;
}

/* Mappings now plus per_task for each task; nothing when that fits. */
static int reserve_maps(const struct task_ctx *ctx, uint64_t tasks, uint64_t per_task)
{
	int64_t now = proc_map_count();

	return raise_sysctl(ctx, "vm.max_map_count",
			    (now > 0 ? (uint64_t)now : 0) + per_task * tasks + RESERVE_SLACK);
}

int reserve_threads(const struct task_ctx *ctx, const struct rt_demand *d)
{
	int64_t others = proc_threads_total();
	uint64_t want = d->tasks + (others > 0 ? (uint64_t)others : 0) + RESERVE_SLACK;
	char why[256];

	if (check_memory(ctx, d, THREAD_BYTES) ||
	    /* a stack mapping, and a guard page that splits it in two */
	    reserve_maps(ctx, d->tasks, 2) || raise_sysctl(ctx, "kernel.threads-max", want) ||
	    raise_sysctl(ctx, "kernel.pid_max", want < PID_MAX_LIMIT ? want : PID_MAX_LIMIT))
		return 1;
	/* copy_process() never applies RLIMIT_NPROC to root (and raising its
	 * hard limit needs CAP_SYS_RESOURCE, which a container may lack). */
	if (getuid() == 0 || !limit_nproc_at_least(ctx->rec, want, why, sizeof(why)))
		return 0;
	rec_fail(ctx->rec, "%s", why);
	return 1;
}

int reserve_coroutines(const struct task_ctx *ctx, const struct rt_demand *d)
{
	if (check_memory(ctx, d, CORO_BYTES))
		return 1;
	/* Unguarded stacks merge with their neighbours into one mapping, shared
	 * ones are a few mappings in all, and guards installed with
	 * MADV_GUARD_INSTALL are no mapping of their own: only mprotect guards
	 * split every stack in two (the model parameter `stack`). */
	if (co_stack_param(ctx) != CORO_STACK_GUARDED || coro_guard_in_page_table())
		return 0;
	return reserve_maps(ctx, d->tasks, 2);
}
