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

/* Forced: the compiler would otherwise outline the larger ones into a
 * call of their own on the hand-off path. */
#define HANDOFF_INLINE static inline __attribute__((always_inline))

/* coro_sched_run(): a resume_limit never reached. */
#define CORO_BUDGET_UNLIMITED UINT64_MAX

HANDOFF_INLINE void rq_push(struct coro_sched *s, struct coro *c)
{
	c->next = NULL;
	if (s->rq_tail)
		s->rq_tail->next = c;
	else
		s->rq_head = c;
	s->rq_tail = c;
	s->rq_len++;
}

HANDOFF_INLINE struct coro *rq_pop(struct coro_sched *s)
{
	struct coro *c = s->rq_head;

	if (c) {
		s->rq_head = c->next; /* c->next is stale now: every link sets it */
		if (!s->rq_head)
			s->rq_tail = NULL;
		s->rq_len--;
	}
	return c;
}

HANDOFF_INLINE void make_ready(struct coro_sched *s, struct coro *c)
{
	c->state = CORO_READY;
	rq_push(s, c);
	CORO_PROBE1(coro_ready, c->id);
}

/* 0, once `from` runs again: a caller with nothing left to do returns
 * it, and the switch becomes a tail call (coro.h, coro_switch). may_copy
 * 0: the caller saw s->shared NULL (a constant, folded away). */
HANDOFF_INLINE int switch_to_(struct coro_sched *s, struct coro *from, struct coro *to,
			      int may_copy)
{
	if (to != &s->main) {
		to->state = CORO_RUNNING;
		s->stats.resumes++;
	}
	s->current = to;
	s->stats.switches++;
	CORO_PROBE2(coro_switch, from->id, to->id);
	/* s->shared is NULL until a shared stack exists: one load of a hot
	 * line instead of two dependent ones on own stacks */
	if (may_copy && __builtin_expect(s->shared != NULL, 0) && coro_shared_needs_copy(to))
		return CORO_NOT_TAIL(coro_shared_switch(s, from, to));
	coro_tsan_switch(to);
	return CORO_NOT_TAIL(CORO_SWITCH(&from->ctx, &to->ctx));
}

HANDOFF_INLINE int switch_to(struct coro_sched *s, struct coro *from, struct coro *to)
{
	return switch_to_(s, from, to, 1);
}

/* From a coroutine that stops running: the next ready one, or the scheduler
 * when none is ready or the budget is spent. */
HANDOFF_INLINE int switch_next_(struct coro_sched *s, struct coro *from, int may_copy)
{
	struct coro *to = NULL;

	if (s->stats.resumes != s->resume_limit)
		to = rq_pop(s);
	return switch_to_(s, from, to ? to : &s->main, may_copy);
}

HANDOFF_INLINE int switch_next(struct coro_sched *s, struct coro *from)
{
	return switch_next_(s, from, 1);
}

/* Parks c, the running coroutine (not the scheduler's context). */
HANDOFF_INLINE int park_(struct coro_sched *s, struct coro *c, int may_copy)
{
	c->state = CORO_PARKED;
	s->stats.parks++;
	s->stats.parked++;
	/* where it parks: the tracer's stacks probe takes the user stack here
	 * (inlined, so every caller is a site of the probe) */
	CORO_PROBE1(coro_park, c->id);
	return switch_next_(s, c, may_copy);
}

/* coro_park() without the checks a caller outside the runtime needs; 0
 * once woken (see switch_to). */
HANDOFF_INLINE int coro_park_inline(struct coro_sched *s)
{
	struct coro *c = s->current;

	if (c == &s->main)
		return 0;
	return park_(s, c, 1);
}

/* The same for a caller that knows c is the running coroutine and saw
 * s->shared NULL: no shared stack can be involved. */
HANDOFF_INLINE int coro_park_own(struct coro_sched *s, struct coro *c)
{
	return park_(s, c, 0);
}

/* coro_ready() of a coroutine the caller knows is PARKED on s. */
HANDOFF_INLINE void coro_ready_inline(struct coro_sched *s, struct coro *c)
{
	s->stats.parked--;
	make_ready(s, c);
}

#endif
