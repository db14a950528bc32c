/* stack.h: coroutine stacks (internal to userspace/coro/).
 *
 * One anonymous mapping per coroutine: [guard page][usable stack ... [struct
 * coro]]. The control block sits at the top of its own stack, so spawning
 * needs no malloc and a parked coroutine costs the one page it touched.
 */
#ifndef SCHEDLAB_CORO_STACK_H
#define SCHEDLAB_CORO_STACK_H

#include <stddef.h>

#include "coro/coro.h"

/* Largest stack we agree to map: a typo such as "64M" for "64K" times a
 * million coroutines should fail at spawn, not at the millionth mmap. */
#define CORO_MAX_STACK_BYTES ((size_t)1 << 30)

size_t coro_page_bytes(void);
/* A zeroed control block at the top of a fresh or cached stack, with
 * stack_base, stack_bytes, map_bytes and no_guard set. 0, -EINVAL (size) or
 * -ENOMEM (mmap or mprotect refused: address space, vm.max_map_count). */
int coro_stack_alloc(struct coro_sched *s, size_t stack_bytes, int no_guard, struct coro **out);
/* Returns the stack to the cache, or unmaps it. c is invalid afterwards. */
void coro_stack_free(struct coro_sched *s, struct coro *c);
/* Unmaps without caching (destroy). */
void coro_stack_unmap(struct coro *c);
void coro_stack_cache_drain(struct coro_sched *s);

#endif
