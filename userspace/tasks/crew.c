/* crew.c: see crew.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "tasks/crew.h"

static int crew_spawn(struct crew *c, struct rt *rt, struct task_ctx *ctx, uint64_t n,
		      void (*fn)(void *), void *args, size_t arg_size)
{
	memset(c, 0, sizeof(*c));
	c->rt = rt;
	c->tasks = calloc(n, sizeof(*c->tasks));
	if (!c->tasks) {
		rec_fail(ctx->rec, "%s: cannot allocate %llu workers", ctx->task->name,
			 (unsigned long long)n);
		return 1;
	}
	for (uint64_t i = 0; i < n; i++) {
		int err = rt_spawn(rt, fn, (char *)args + i * arg_size, NULL, &c->tasks[i]);

		if (err) {
			rec_fail(ctx->rec, "%s: spawning worker %llu of %llu: %s%s",
				 ctx->task->name, (unsigned long long)i, (unsigned long long)n,
				 strerror(-err),
				 err == -EAGAIN
					 ? " (kernel.threads-max, kernel.pid_max or RLIMIT_NPROC)"
					 : "");
			atomic_store(&c->abort, 1);
			return 1;
		}
		c->spawned++;
	}
	return 0;
}

bool crew_wait_start(struct crew *c)
{
	return rt_wait(c->rt, &c->gate) == 0 && !atomic_load(&c->abort);
}

void crew_worker_done(struct crew *c)
{
	uint64_t now = now_ns(), end = atomic_load(&c->end_ns);

	while (now > end && !atomic_compare_exchange_weak(&c->end_ns, &end, now))
		;
}

static void crew_start(struct crew *c)
{
	c->start_ns = now_ns();
	for (uint64_t i = 0; i < c->spawned; i++)
		rt_wake(c->rt, &c->gate);
}

uint64_t crew_window_ns(const struct crew *c)
{
	uint64_t end = atomic_load(&c->end_ns);

	return end > c->start_ns ? end - c->start_ns : 0;
}

static int crew_join(struct crew *c, struct task_ctx *ctx)
{
	int ret = 0;

	for (uint64_t i = 0; i < c->spawned; i++) {
		int err = rt_join(c->rt, c->tasks[i]);

		if (err && !ret) {
			rec_fail(ctx->rec, "%s: join worker %llu: %s", ctx->task->name,
				 (unsigned long long)i, strerror(-err));
			ret = 1;
		}
	}
	free(c->tasks);
	c->tasks = NULL;
	return ret;
}

int crew_run(struct crew *c, struct rt *rt, struct task_ctx *ctx, uint64_t n, void (*fn)(void *),
	     void *args, size_t arg_size)
{
	int ret = crew_spawn(c, rt, ctx, n, fn, args, arg_size);

	crew_start(c); /* a partial crew leaves at the gate: it sees abort */
	return crew_join(c, ctx) | ret;
}
