/* timerheap.h: the sleepers' timers of the coroutine models, a binary
 * min-heap on (deadline, seq): cosched's (coro, uring) and mn's, which calls
 * it under its tm_lock. The heap holds pointers; a timer stays where its
 * sleeper keeps it (park record or stack) until popped.
 */
#ifndef SCHEDLAB_TIMERHEAP_H
#define SCHEDLAB_TIMERHEAP_H

#include <stddef.h>
#include <stdint.h>

/* The first member of a model's timer: the heap's pointer is the timer's. */
struct timerheap_node {
	uint64_t deadline_ns; /* CLOCK_MONOTONIC */
	uint64_t seq;	      /* insertion order: equal deadlines wake FIFO */
};

struct timerheap {
	struct timerheap_node **v;
	size_t len, cap;
	uint64_t seq;
};

/* Adds t (its deadline set) and gives it the next seq. 0 or -ENOMEM. */
int timerheap_push(struct timerheap *h, struct timerheap_node *t);
/* Removes and returns the earliest timer if it is due by now, else NULL. */
struct timerheap_node *timerheap_pop_due(struct timerheap *h, uint64_t now_ns);
/* Frees the array; the heap is empty again. */
void timerheap_free(struct timerheap *h);

/* The earliest deadline, UINT64_MAX when no timer is set. */
static inline uint64_t timerheap_next(const struct timerheap *h)
{
	return h->len ? h->v[0]->deadline_ns : UINT64_MAX;
}

#endif
