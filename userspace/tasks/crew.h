/* crew.h: workers that start together. compute and counter time a window in
 * which every worker runs, so each worker waits at a gate until all are
 * spawned; the gate opens at once for all of them, then they are joined.
 * A spawn the model refuses ends the cell: the workers already spawned leave
 * at the gate without working. */
#ifndef SCHEDLAB_CREW_H
#define SCHEDLAB_CREW_H

#include <stdbool.h>
#include <stdint.h>

#include "task.h"

struct crew {
	struct rt *rt;
	struct rt_event gate;
	_Atomic int abort;
	uint64_t spawned;
	struct rt_task **tasks;
	uint64_t start_ns;	 /* just before the gate opened */
	_Atomic uint64_t end_ns; /* when the last worker finished */
};

/* Spawns n workers, fn(args + i * arg_size), behind the gate, opens it
 * and joins them all. 0, or 1 with the reason in the record (naming the
 * kernel limits when the model answered EAGAIN to a spawn). */
int crew_run(struct crew *c, struct rt *rt, struct task_ctx *ctx, uint64_t n, void (*fn)(void *),
	     void *args, size_t arg_size);
/* In a worker, first: false when the crew was aborted (leave at once). */
bool crew_wait_start(struct crew *c);
/* In a worker, last: marks when it finished its share. */
void crew_worker_done(struct crew *c);
/* After crew_run: from the gate opening to the last worker finishing. */
uint64_t crew_window_ns(const struct crew *c);

/* The race window counter and deadlock open inside each step: iters spin
 * steps the compiler must keep, then an rt_yield() when yield is set.
 * Inline, so the window costs what it did when each task spun its own. */
static inline void crew_race_window(struct rt *rt, uint64_t iters, bool yield)
{
	for (uint64_t i = 0; i < iters; i++)
		__asm__ __volatile__("" ::: "memory");
	if (yield)
		rt_yield(rt);
}

#endif
