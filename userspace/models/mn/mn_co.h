/* mn_co.h: one coroutine of the mn model, as the scheduler (mn_sched.h)
 * and the run queues (mn_runq.h) see it. `on_cpu` is explained at the top
 * of mn_sched.h. */
#ifndef SCHEDLAB_MN_CO_H
#define SCHEDLAB_MN_CO_H

#include <stdatomic.h>

#include "coro/coro.h"
#include "rt.h"

struct mn_worker;

/* A coroutine's state beside its struct coro, at the top of its own stack
 * (no allocation per coroutine, as under coro). */
struct mn_co {
	struct coro *co;	  /* stack, saved context, id, TSan fiber */
	struct mn_co *next;	  /* run-queue batch, global queue, event FIFO */
	_Atomic int on_cpu;	  /* see mn_sched.h */
	struct mn_worker *worker; /* the worker running it (set before each resume) */
	int home;		  /* the worker it is pinned to, or -1 */
	int list;		  /* the worker whose all-list holds it */
	struct rt_event done;	  /* one unit when fn returned: join waits on it */
	void (*fn)(void *);
	void *arg;
	struct mn_co *all_prev, *all_next; /* for teardown of unfinished ones */
};

#endif
