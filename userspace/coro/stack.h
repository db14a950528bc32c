/* stack.h: coroutine stacks by kind (internal to userspace/coro/, and the
 * mn model, which makes its own coroutines on them).
 *
 * An own stack is [guard page][usable stack ... [struct coro]]: the control
 * block sits at the top of its own stack, so spawning needs no malloc and a
 * parked coroutine costs the one page it touched. Guarded stacks are carved
 * from arenas where the kernel has MADV_GUARD_INSTALL, else mapped one by
 * one with an mprotect'ed guard; unguarded ones are always carved from
 * arenas. Shared stacks are in copystack.c.
 */
#ifndef SCHEDLAB_CORO_STACK_H
#define SCHEDLAB_CORO_STACK_H

#include <stddef.h>

#include "coro/coro.h"

/* A zeroed control block for a new coroutine with c->stack set, by
 * opts->stack: at the top of a fresh or cached own stack, or (shared) a
 * malloc'ed block on the scheduler's shared stack of that size. 0, -EINVAL
 * (size, kind) or -ENOMEM (mmap, madvise or mprotect refused: address space,
 * vm.max_map_count, memory). */
int coro_stack_alloc(struct coro_sched *s, const struct coro_opts *opts, struct coro **out);
/* Where the coroutine's first frame goes (the stack pointer of a new one). */
static inline void *coro_stack_top(struct coro *c)
{
	return c->stack->top;
}
/* Returns the stack to the cache, or gives it back. c is invalid afterwards. */
void coro_stack_free(struct coro_sched *s, struct coro *c);
/* Destroy, for a coroutine that never finished: frees what is its alone
 * (arena stacks go with their arena in coro_stack_release_all). */
void coro_stack_discard(struct coro_sched *s, struct coro *c);
/* Destroy: the cache, the arenas and the shared stacks. */
void coro_stack_release_all(struct coro_sched *s);

#endif
