/* stack.h: coroutine stacks (internal to userspace/coro/).
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

/* Largest stack we agree to map: a typo such as "64M" for "64K" times a
 * million coroutines should fail at spawn, not at the millionth mmap. */
#define CORO_MAX_STACK_BYTES ((size_t)1 << 30)

size_t coro_page_bytes(void);
/* stack_bytes (0: the default) rounded up to pages, or 0 if too large. */
size_t coro_stack_usable(size_t stack_bytes);
/* A zeroed control block for a new coroutine with its stack fields set:
 * at the top of a fresh or cached own stack, or (opts->shared) a malloc'ed
 * block on the scheduler's shared stack of that size. 0, -EINVAL (size) or
 * -ENOMEM (mmap, madvise or mprotect refused: address space,
 * vm.max_map_count, memory). */
int coro_stack_alloc(struct coro_sched *s, const struct coro_opts *opts, struct coro **out);
/* Where the coroutine's first frame goes (the stack pointer of a new one). */
void *coro_stack_top(struct coro *c);
/* Returns the stack to the cache, or gives it back. c is invalid afterwards. */
void coro_stack_free(struct coro_sched *s, struct coro *c);
/* Destroy, for a coroutine that never finished: frees what is its alone
 * (arena stacks go with their arena in coro_stack_release_all). */
void coro_stack_discard(struct coro_sched *s, struct coro *c);
/* Destroy: the cache, the arenas and the shared stacks. */
void coro_stack_release_all(struct coro_sched *s);

/* A fresh mapping of usable bytes above a guard page (by
 * coro_guard_method()), timed into s->stats. 0 or -ENOMEM. */
int coro_map_guarded(struct coro_sched *s, size_t usable, void **base, size_t *map_bytes);

#endif
