/* mapping.h: the memory under every kind of stack (internal to
 * userspace/coro/): pages, MAP_NORESERVE mappings and guard pages. Own
 * stacks (stack.c) and shared ones (copystack.c) both build on it; it calls
 * neither. Times go into the scheduler's stats (map_ns, guard_ns). */
#ifndef SCHEDLAB_CORO_MAPPING_H
#define SCHEDLAB_CORO_MAPPING_H

#include <stddef.h>

#include "coro/coro.h"

/* Largest stack we agree to map: a typo such as "64M" for "64K" times a
 * million coroutines should fail at spawn, not at the millionth mmap. */
#define CORO_MAX_STACK_BYTES ((size_t)1 << 30)

size_t coro_page_bytes(void);
/* stack_bytes (0: the default) rounded up to pages, or 0 if too large. */
size_t coro_stack_usable(size_t stack_bytes);
/* bytes of read-write memory of which only touched pages count; NULL when
 * the kernel refused. */
void *coro_map_noreserve(struct coro_sched *s, size_t bytes);
/* Makes the page at page_addr a guard (madv: MADV_GUARD_INSTALL, else
 * mprotect). 0 or -ENOMEM (out of memory or of vm.max_map_count). */
int coro_guard_install(struct coro_sched *s, void *page_addr, int madv);
/* A fresh mapping of usable bytes above a guard page (by
 * coro_guard_method()). 0 or -ENOMEM. */
int coro_map_guarded(struct coro_sched *s, size_t usable, void **base, size_t *map_bytes);

#endif
