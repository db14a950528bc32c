/* handoff.h: the path of a hand-off between two coroutines of one
 * scheduler (internal to userspace/coro/ and the schedulers built on it:
 * coro.c, models/co/cosched.c). Inline, so that an rt_wake then rt_wait
 * under coro is straight-line code around the one context switch, with no
 * call but the switch itself: a run-queue push, a pop, the statistics, and
 * the USDT probes as one load and a not-taken branch each while detached.
 * One thread owns a scheduler, so nothing here is atomic.
 */
#ifndef SCHEDLAB_CORO_HANDOFF_H
#define SCHEDLAB_CORO_HANDOFF_H

#include <stdint.h>

#include "coro/copystack.h"
#include "coro/coro.h"
#include "coro/ctxswitch.h"
#include "coro/probes.h"
#include "coro/tsan.h"
#include "lib/clock.h"

/* coro_sched_run(): a budget that is never spent. */
#define CORO_BUDGET_UNLIMITED UINT64_MAX

static inline void rq_push(struct coro_sched *s, struct coro *c)
{
	c->next = NULL;
	if (s->rq_tail)
		s->rq_tail->next = c;
	else
		s->rq_head = c;
	s->rq_tail = c;
	s->rq_len++;
}

static inline struct coro *rq_pop(struct coro_sched *s)
{
	struct coro *c = s->rq_head;

	if (c) {
		s->rq_head = c->next;
		if (!s->rq_head)
			s->rq_tail = NULL;
		c->next = NULL;
		s->rq_len--;
	}
	return c;
}

static inline void make_ready(struct coro_sched *s, struct coro *c)
{
	c->state = CORO_READY;
	if (s->clock_ready)
		c->ready_ns = now_ns();
	rq_push(s, c);
	CORO_PROBE1(coro_ready, c->id);
}

static inline void switch_to(struct coro_sched *s, struct coro *from, struct coro *to)
{
	if (to != &s->main) {
		to->state = CORO_RUNNING;
		s->stats.resumes++;
		if (s->budget != CORO_BUDGET_UNLIMITED)
			s->budget--;
	}
	s->current = to;
	s->stats.switches++;
	CORO_PROBE2(coro_switch, from->id, to->id);
	coro_tsan_switch(to);
	if (coro_shared_needs_copy(to))
		coro_shared_switch(s, from, to);
	else
		CORO_SWITCH(&from->ctx, &to->ctx);
}

/* From a coroutine that stops running: the next ready one, or the scheduler
 * when none is ready or the budget is spent. */
static inline void switch_next(struct coro_sched *s, struct coro *from)
{
	struct coro *to = NULL;

	if (s->budget)
		to = rq_pop(s);
	switch_to(s, from, to ? to : &s->main);
}

/* coro_park() without the checks a caller outside the runtime needs. */
static inline void coro_park_inline(struct coro_sched *s)
{
	struct coro *c = s->current;

	if (c == &s->main)
		return;
	c->state = CORO_PARKED;
	s->stats.parks++;
	s->stats.parked++;
	/* where it parks: the tracer's stacks probe takes the user stack here
	 * (inlined, so every caller is a site of the probe) */
	CORO_PROBE1(coro_park, c->id);
	switch_next(s, c);
}

/* coro_ready() of a coroutine the caller knows is PARKED on s. */
static inline void coro_ready_inline(struct coro_sched *s, struct coro *c)
{
	s->stats.parked--;
	make_ready(s, c);
}

#endif
