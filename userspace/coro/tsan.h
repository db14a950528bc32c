/* tsan.h: telling ThreadSanitizer about our context switches (internal to
 * userspace/coro/ and the models built on it).
 *
 * TSan keeps a shadow call stack and a vector clock per thread; a stack
 * switch it does not know about corrupts both and yields nonsense reports.
 * Each coroutine gets a TSan fiber, the scheduler's own context uses the
 * thread's, and every switch announces itself just before it happens: right
 * before the register switch, with no function entry or exit in between
 * (those go on the current fiber's shadow stack).
 * __tsan_switch_to_fiber with flags 0 makes the new fiber inherit the old
 * one's clock: switching on one thread is sequential, so that order is real;
 * ordering between threads still has to come from atomics TSan sees.
 * Outside TSan builds every helper compiles to nothing.
 */
#ifndef SCHEDLAB_CORO_TSAN_H
#define SCHEDLAB_CORO_TSAN_H

#include "coro/coro.h"

#ifdef CORO_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);

/* A context that is no coroutine (the shared stacks' copier) has a fiber
 * of its own too: its copies would otherwise count as the work of
 * whichever fiber was current, and its frames land on that one's shadow
 * stack. */
static inline void *coro_tsan_fiber_new(void)
{
	return __tsan_create_fiber(0);
}
static inline void coro_tsan_fiber_free(void *fiber)
{
	if (fiber)
		__tsan_destroy_fiber(fiber);
}
static inline void coro_tsan_fiber_enter(void *fiber)
{
	__tsan_switch_to_fiber(fiber, 0);
}

static inline void coro_tsan_thread(struct coro *c)
{
	c->tsan_fiber = __tsan_get_current_fiber();
}
static inline void coro_tsan_create(struct coro *c)
{
	c->tsan_fiber = __tsan_create_fiber(0);
}
static inline void coro_tsan_destroy(struct coro *c)
{
	if (c->tsan_fiber)
		__tsan_destroy_fiber(c->tsan_fiber);
	c->tsan_fiber = NULL;
}
static inline void coro_tsan_switch(struct coro *to)
{
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
}
/* A switch in tail position (coro.h, coro_switch) would leave its caller
 * (TSan's function exit) after the fiber switch, on the new fiber's shadow
 * stack: under TSan the switch stays a call, which the empty asm that
 * consumes its result keeps out of tail position. */
#define CORO_NOT_TAIL(r)                                                                           \
	({                                                                                         \
		int r_ = (r);                                                                      \
		__asm__ __volatile__("" : "+r"(r_));                                               \
		r_;                                                                                \
	})
#else
static inline void *coro_tsan_fiber_new(void)
{
	return NULL;
}
static inline void coro_tsan_fiber_free(void *fiber)
{
	(void)fiber;
}
static inline void coro_tsan_fiber_enter(void *fiber)
{
	(void)fiber;
}
static inline void coro_tsan_thread(struct coro *c)
{
	(void)c;
}
static inline void coro_tsan_create(struct coro *c)
{
	(void)c;
}
static inline void coro_tsan_destroy(struct coro *c)
{
	(void)c;
}
static inline void coro_tsan_switch(struct coro *to)
{
	(void)to;
}
#define CORO_NOT_TAIL(r) (r)
#endif

#endif
