/* coro.c: the coroutine scheduler: spawn, yield, park, ready, join, a FIFO
 * run queue and its statistics. Stacks are in stack.c, the overflow report
 * in guard.c, shared stacks in copystack.c, the context switch in
 * switch_<arch>.S.
 *
 * Switching: a coroutine that yields, parks or ends hands the CPU straight to
 * the head of the run queue (one switch); the scheduler's context (s->main,
 * id 0) gets it back only when the run queue is empty or the budget of
 * coro_sched_run_max() is spent. Every switch goes through switch_to(), which
 * is the one place that counts stats.switches and fires USDT coro_switch, so
 * the two always agree.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coro/copystack.h"
#include "coro/coro.h"
#include "coro/ctxswitch.h"
#include "coro/guard.h"
#include "coro/handoff.h"
#include "coro/probes.h"
#include "coro/mapping.h"
#include "coro/stack.h"
#include "coro/tsan.h"
#include "lib/clock.h"

#ifdef CORO_HAVE_USDT
CORO_SEMAPHORE_DEFINE(coro_spawn);
CORO_SEMAPHORE_DEFINE(coro_ready);
CORO_SEMAPHORE_DEFINE(coro_switch);
CORO_SEMAPHORE_DEFINE(coro_exit);
CORO_SEMAPHORE_DEFINE(coro_park);
#endif

/* Every coroutine starts here (through the trampoline) and never returns:
 * its last act is to switch away from a stack that coro_join() may then free.
 * Nothing may touch c after that switch. */
static void coro_entry(void *arg)
{
	struct coro *c = arg;
	struct coro_sched *s = c->sched;

	c->fn(c->arg);
	c->state = CORO_DONE;
	s->stats.live--;
	s->stats.finished++;
	CORO_PROBE1(coro_exit, c->id);
	/* A joiner woken by someone else is already READY: queue it once. */
	if (c->joiner && c->joiner->state == CORO_PARKED) {
		s->stats.parked--;
		make_ready(s, c->joiner);
	}
	switch_next(s, c);
	abort(); /* a DONE coroutine is never resumed */
}

int coro_sched_init(struct coro_sched *s)
{
	int err;

	if (!s)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->main.state = CORO_RUNNING;
	s->main.sched = s;
	s->main.id = 0;
	/* The thread's own stack: nobody else's frame ever goes there. */
	s->main_stack.owner = &s->main;
	s->main.stack = &s->main_stack;
	s->current = &s->main;
	coro_tsan_thread(&s->main);
	s->next_id = 1;
	s->cache_max = CORO_STACK_CACHE_MAX;
	coro_page_bytes(); /* computed here, not first in a signal handler */
	err = coro_guard_thread_init();
	return err;
}

void coro_sched_destroy(struct coro_sched *s)
{
	struct coro *c, *next;

	if (!s)
		return;
	/* Stacks of coroutines that never finished: nothing runs on them now
	 * (destroy is called from the scheduler's context). */
	for (c = s->main.all_next; c; c = next) {
		next = c->all_next;
		coro_tsan_destroy(c);
		coro_stack_discard(s, c);
	}
	s->main.all_next = NULL;
	s->rq_head = s->rq_tail = NULL;
	s->rq_len = 0;
	coro_stack_release_all(s);
	coro_guard_thread_fini();
}

uint64_t coro_sched_run_max(struct coro_sched *s, uint64_t max_resumes)
{
	uint64_t before = s->stats.resumes;
	struct coro_sched *prev;

	if (s->current != &s->main)
		return 0; /* not reentrant: a coroutine cannot run the scheduler */
	prev = coro_tls_sched;
	coro_tls_sched = s;
	s->resume_limit = max_resumes > CORO_BUDGET_UNLIMITED - before ? CORO_BUDGET_UNLIMITED
								       : before + max_resumes;
	while (s->stats.resumes != s->resume_limit && s->rq_head)
		switch_to(s, &s->main, rq_pop(s));
	s->resume_limit = s->stats.resumes; /* no budget outside a run */
	coro_tls_sched = prev;
	return s->stats.resumes - before;
}

uint64_t coro_sched_run(struct coro_sched *s)
{
	return coro_sched_run_max(s, CORO_BUDGET_UNLIMITED);
}

int coro_spawn(struct coro_sched *s, const struct coro_opts *opts, void (*fn)(void *), void *arg,
	       struct coro **out)
{
	struct coro *c;
	int err;

	if (!s || !fn)
		return -EINVAL;
	err = coro_stack_alloc(s, opts, &c);
	if (err)
		return err;
	c->fn = fn;
	c->arg = arg;
	c->sched = s;
	c->id = s->next_id++;
	coro_ctx_make(&c->ctx, coro_stack_top(c), coro_entry, c);
	coro_tsan_create(c);

	c->all_prev = &s->main;
	c->all_next = s->main.all_next;
	if (c->all_next)
		c->all_next->all_prev = c;
	s->main.all_next = c;

	s->stats.spawned++;
	s->stats.live++;
	if (s->stats.live > s->stats.peak_live)
		s->stats.peak_live = s->stats.live;
	CORO_PROBE1(coro_spawn, c->id);
	make_ready(s, c);
	if (out)
		*out = c;
	return 0;
}

void coro_yield(struct coro_sched *s)
{
	struct coro *c = s->current;

	if (c == &s->main)
		return;
	s->stats.yields++;
	/* Alone and under coro_sched_run(): nobody to yield to, and the
	 * scheduler would only resume us. Under a budget, go back to it so
	 * the model can poll for I/O and timers. */
	if (!s->rq_head && s->resume_limit == CORO_BUDGET_UNLIMITED)
		return;
	make_ready(s, c);
	switch_next(s, c);
}

void coro_park(struct coro_sched *s)
{
	(void)coro_park_inline(s);
}

int coro_ready(struct coro_sched *s, struct coro *c)
{
	if (!s || !c || c->sched != s || c == &s->main || c->state != CORO_PARKED)
		return -EINVAL;
	coro_ready_inline(s, c);
	return 0;
}

int coro_join(struct coro_sched *s, struct coro *c)
{
	struct coro *cur;

	if (!s || !c || c == &s->main || c->sched != s)
		return -EINVAL;
	cur = s->current;
	if (c == cur)
		return -EINVAL;
	if (c->state != CORO_DONE) {
		if (c->joiner)
			return -EINVAL;
		if (cur == &s->main)
			return -EPERM;
		c->joiner = cur;
		/* Loop: someone else may coro_ready() us before c is done. */
		while (c->state != CORO_DONE)
			coro_park(s);
	}
	c->all_prev->all_next = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	coro_tsan_destroy(c);
	coro_stack_free(s, c);
	return 0;
}
