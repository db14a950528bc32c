/* main_call.h: a task's main function run as a coroutine.
 *
 * The coroutine schedulers (cosched.c for coro and uring, mn_sched.c for mn)
 * start the task's main as their first coroutine; a coroutine entry takes
 * one pointer, so the function, its arguments and its return value travel
 * in a box on the scheduler's stack, which outlives the coroutine. */
#ifndef SCHEDLAB_MAIN_CALL_H
#define SCHEDLAB_MAIN_CALL_H

#include "rt.h"

/* The first task gets a big stack: task bodies keep a struct hist (about
 * 30 KB) or two on their stack. Only touched pages cost memory. */
#define MAIN_CALL_STACK_BYTES (1024 * 1024)

struct main_call {
	int (*fn)(struct rt *rt, void *arg);
	void *arg;
	struct rt *rt;
	int ret;
};

/* The coroutine entry: runs the call and keeps its return value. */
static inline void main_call_run(void *p)
{
	struct main_call *call = p;

	call->ret = call->fn(call->rt, call->arg);
}

#endif
