/* copystack.h: shared stacks (internal to userspace/coro/; the design is in
 * coro.h, "Shared stacks"). */
#ifndef SCHEDLAB_CORO_COPYSTACK_H
#define SCHEDLAB_CORO_COPYSTACK_H

#include <stddef.h>

#include "coro/coro.h"

/* A malloc'ed control block on the shared stack of `usable` bytes (created
 * on first use); kind is CORO_STACK_SHARED. 0 or -ENOMEM. */
int coro_shared_alloc(struct coro_sched *s, enum coro_stack kind, size_t usable, struct coro **out);
/* Frees the block and its saved frame. */
void coro_shared_free(struct coro_sched *s, struct coro *c);
/* Destroy: unmaps the shared stacks and the copier. */
void coro_shared_release(struct coro_sched *s);

/* Switches from `from` to `to` (one that coro_shared_needs_copy()): saves
 * the frame on to's stack, restores to's, and enters it; through the
 * copier's own stack when `from` stands on the stack being rewritten. 0,
 * once `from` runs again (as coro_switch). */
int coro_shared_switch(struct coro_sched *s, struct coro *from, struct coro *to);

/* 1 when `to` runs on a shared stack that holds another frame now. An own
 * stack's owner is its coroutine for good, so this is one load and one
 * compare on every switch, whatever the kind. */
static inline int coro_shared_needs_copy(const struct coro *to)
{
	return to->stack->owner != to;
}

#endif
