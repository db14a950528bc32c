/* copystack.h: shared stacks (internal to userspace/coro/; the design is in
 * coro.h, "Shared stacks"). */
#ifndef SCHEDLAB_CORO_COPYSTACK_H
#define SCHEDLAB_CORO_COPYSTACK_H

#include <stddef.h>

#include "coro/coro.h"

/* A malloc'ed control block on the shared stack of `usable` bytes (created
 * on first use). 0 or -ENOMEM. */
int coro_shared_alloc(struct coro_sched *s, size_t usable, struct coro **out);
/* Frees the block and its saved frame. */
void coro_shared_free(struct coro_sched *s, struct coro *c);
/* Destroy: unmaps the shared stacks and the copier. */
void coro_shared_release(struct coro_sched *s);

/* 1 when `to` runs on a shared stack that holds another frame now. */
static inline int coro_shared_needs_copy(const struct coro *to);
/* Switches from `from` to `to` (one that coro_shared_needs_copy()): saves
 * the frame on to's stack, restores to's, and enters it; through the
 * copier's own stack when `from` stands on the stack being rewritten. */
void coro_shared_switch(struct coro_sched *s, struct coro *from, struct coro *to);

struct coro_shstack {
	void *map; /* mapping start: the guard page */
	size_t map_bytes, usable;
	char *top;	    /* 16-aligned; new coroutines start here */
	struct coro *owner; /* whose frame is on it; NULL: nobody's */
	struct coro_shstack *next;
};

static inline int coro_shared_needs_copy(const struct coro *to)
{
	return to->shared && to->shared->owner != to;
}

#endif
