/* mn_runq.h: a worker's run queue for the mn model: a bounded lock-free
 * ring with one producer (the owning worker) and many consumers (the owner
 * and thieves), FIFO, from which a thief takes half in one step.
 *
 * Why not a Chase-Lev deque: Chase-Lev's owner pops at the bottom (LIFO),
 * which turns rt_yield into "run me again" and lets two coroutines that hand
 * an event back and forth starve the rest of the queue. A yield must go
 * behind the others, as under coro, so both the owner and thieves take from
 * the head; that is Go's local run queue (runtime/proc.go, runqput/runqget/
 * runqgrab), which this follows. The owner alone writes the tail and the
 * slots beyond it; every consumer claims slots by advancing the head with
 * one compare-and-swap, so a thief steals half of the queue with one CAS.
 *
 * When the ring is full the owner moves half of it, plus the new item, to
 * the caller's overflow list (mn's global queue); the ring itself never
 * blocks and never allocates.
 */
#ifndef SCHEDLAB_MN_RUNQ_H
#define SCHEDLAB_MN_RUNQ_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define MN_RUNQ_CAP 256 /* a power of two */

struct mn_co;

struct mn_runq {
	_Atomic uint32_t head; /* next slot to consume; any consumer, by CAS */
	char pad1[60];	       /* thieves hammer head; keep tail's line apart */
	_Atomic uint32_t tail; /* next slot to fill; the owner only */
	char pad2[60];
	_Atomic(struct mn_co *) slot[MN_RUNQ_CAP];
};

/* Owner only. 1 if c went in; 0 if the ring is full: then *batch holds
 * MN_RUNQ_CAP/2 items taken from the head, oldest first, linked through
 * mn_co.next with c at the end, for the caller to put elsewhere. Inline
 * while there is room (no read-modify-write: the owner alone writes tail). */
int mn_runq_push_full(struct mn_runq *q, struct mn_co *c, struct mn_co **batch);
/* mn_runq_push while there is room: 1, or 0 (full, nothing done). */
static inline int mn_runq_try_push(struct mn_runq *q, struct mn_co *c)
{
	uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
	uint32_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);

	if (t - h >= MN_RUNQ_CAP)
		return 0;
	atomic_store_explicit(&q->slot[t & (MN_RUNQ_CAP - 1)], c, memory_order_relaxed);
	atomic_store_explicit(&q->tail, t + 1, memory_order_release);
	return 1;
}
static inline int mn_runq_push(struct mn_runq *q, struct mn_co *c, struct mn_co **batch)
{
	return mn_runq_try_push(q, c) || mn_runq_push_full(q, c, batch);
}
/* Owner (or anyone): the oldest item, or NULL. */
struct mn_co *mn_runq_pop(struct mn_runq *q);
/* The same when the owner is the only consumer there can be (one worker:
 * no thief): head is claimed with a store, not a compare-and-swap. */
static inline struct mn_co *mn_runq_pop_alone(struct mn_runq *q)
{
	uint32_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
	struct mn_co *c;

	if (atomic_load_explicit(&q->tail, memory_order_relaxed) == h)
		return NULL;
	c = atomic_load_explicit(&q->slot[h & (MN_RUNQ_CAP - 1)], memory_order_relaxed);
	atomic_store_explicit(&q->head, h + 1, memory_order_release);
	return c;
}
/* A thief with an empty queue `mine` takes half (rounded up) of `victim`'s
 * items: returns one to run now, the rest are in `mine`. *n is set to how
 * many were taken in all. NULL when the victim was empty. */
struct mn_co *mn_runq_steal(struct mn_runq *mine, struct mn_runq *victim, uint32_t *n);
/* Items in the queue right now (a snapshot: others may change it). */
static inline uint32_t mn_runq_len(struct mn_runq *q)
{
	uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
	uint32_t t = atomic_load_explicit(&q->tail, memory_order_acquire);

	return t - h;
}

#endif
