/* copystack.c: coroutines without a stack of their own (coro.h, "Shared
 * stacks").
 *
 * One guarded stack per scheduler and size; its owner is the coroutine whose
 * frame is on it. Resuming another coroutine there copies the owner's used
 * part (saved stack pointer to top) into the owner's buffer and the
 * newcomer's buffer back to the same addresses. The copy is lazy, as in
 * libaco: a coroutine that parks and is resumed before anyone else used the
 * stack pays nothing, and a finished owner is never saved.
 *
 * libaco resumes every coroutine from the main context, which stands on the
 * thread's stack and can rewrite the shared one. Our hand-offs go straight
 * from one coroutine to the next (coro.c): when both use the same shared
 * stack, the one leaving is standing on the bytes about to be overwritten.
 * Such a switch goes through the copier, a context with a small stack of its
 * own that saves, restores and enters the newcomer: two register switches
 * and two copies instead of one switch. From the scheduler or an own-stack
 * coroutine the copy is done in place.
 *
 * The buffer grows to fit (never shrinks while the coroutine lives): a
 * parked coroutine costs its control block plus what its stack used. If it
 * cannot grow there is no way back (the frame must go somewhere before the
 * stack is reused): the process aborts with a message.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coro/copystack.h"
#include "coro/framepool.h"
#include "coro/ctxswitch.h"
#include "coro/mapping.h"
#include "coro/tsan.h"

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO_ASAN 1
#endif
#endif
#ifdef CORO_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* The copier runs memcpy, realloc and, on failure, fprintf. */
#define COPIER_STACK_BYTES (64 * 1024)

struct coro_shared {
	struct coro_stackmem *stacks; /* one per size */
	struct coro_ctx copier_ctx;
	void *copier_map;
	size_t copier_map_bytes;
	struct coro *copy_to; /* whom the copier enters next */
	void *copier_fiber;   /* TSan builds (coro/tsan.h) */
	/* the control blocks, saved frames and park slots of the coroutines
	 * on these stacks */
	struct framepool pool;
};

static void take(struct coro_sched *s, struct coro_stackmem *st, struct coro *to);

static void copier_entry(void *arg)
{
	struct coro_sched *s = arg;
	struct coro_shared *sh = s->shared;

	for (;;) {
		struct coro *to = sh->copy_to;

		take(s, to->stack, to);
		coro_tsan_switch(to);
		CORO_SWITCH(&sh->copier_ctx, &to->ctx);
	}
}

static struct coro_shared *shared_of(struct coro_sched *s)
{
	struct coro_shared *sh = s->shared;
	size_t usable = coro_stack_usable(COPIER_STACK_BYTES);

	if (sh)
		return sh;
	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return NULL;
	if (coro_map_guarded(s, usable, &sh->copier_map, &sh->copier_map_bytes)) {
		free(sh);
		return NULL;
	}
	coro_ctx_make(&sh->copier_ctx, (char *)sh->copier_map + sh->copier_map_bytes, copier_entry,
		      s);
	sh->copier_fiber = coro_tsan_fiber_new();
	s->shared = sh;
	return sh;
}

static struct coro_stackmem *stack_for(struct coro_sched *s, struct coro_shared *sh, size_t usable)
{
	struct coro_stackmem *st;

	for (st = sh->stacks; st; st = st->next)
		if (st->usable == usable)
			return st;
	st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	if (coro_map_guarded(s, usable, &st->map, &st->map_bytes)) {
		free(st);
		return NULL;
	}
	st->kind = CORO_STACK_SHARED;
	st->usable = usable;
	st->top = (char *)(((uintptr_t)st->map + st->map_bytes) & ~(uintptr_t)15);
	st->next = sh->stacks;
	sh->stacks = st;
	s->stats.stack_maps++;
	return st;
}

int coro_shared_alloc(struct coro_sched *s, enum coro_stack kind, size_t usable, struct coro **out)
{
	struct coro_shared *sh = shared_of(s);
	struct coro_stackmem *st = sh ? stack_for(s, sh, usable) : NULL;
	struct coro *c;

	(void)kind;
	if (!st || !(c = framepool_alloc(&sh->pool, sizeof(*c))))
		return -ENOMEM;
	memset(c, 0, sizeof(*c));
	c->stack = st;
	*out = c;
	return 0;
}

void coro_shared_free(struct coro_sched *s, struct coro *c)
{
	struct framepool *pool = &s->shared->pool;

	if (c->stack->owner == c)
		c->stack->owner = NULL;
	framepool_free(pool, c->saved.buf, c->saved.cap);
	framepool_free(pool, c->park_slot, CORO_PARK_SLOT_BYTES);
	framepool_free(pool, c, sizeof(*c));
}

void *coro_park_slot_new(struct coro *c)
{
	/* own stacks have theirs from the start (stack.c) */
	c->park_slot = framepool_alloc(&c->sched->shared->pool, CORO_PARK_SLOT_BYTES);
	if (!c->park_slot) {
		fprintf(stderr,
			"coro: out of memory for the park slot of coroutine %llu "
			"(stack=shared)\n",
			(unsigned long long)c->id);
		abort();
	}
	return c->park_slot;
}

void coro_shared_release(struct coro_sched *s)
{
	struct coro_shared *sh = s->shared;

	if (!sh)
		return;
	while (sh->stacks) {
		struct coro_stackmem *next = sh->stacks->next;

		munmap(sh->stacks->map, sh->stacks->map_bytes);
		free(sh->stacks);
		sh->stacks = next;
	}
	munmap(sh->copier_map, sh->copier_map_bytes);
	coro_tsan_fiber_free(sh->copier_fiber);
	framepool_destroy(&sh->pool);
	free(sh);
	s->shared = NULL;
}

/* ---- the copies ------------------------------------------------------------ */

#ifdef CORO_ASAN
/* Under AddressSanitizer a frame holds poisoned redzones between its locals:
 * copy it word by word without instrumentation (volatile: the loop must not
 * become a call to the intercepted memcpy). Frames start and end 8-aligned. */
static __attribute__((no_sanitize_address)) void frame_copy(void *dst, const void *src, size_t len)
{
	volatile uint64_t *d = dst;
	const volatile uint64_t *q = src;

	for (size_t i = 0; i < len / 8; i++)
		d[i] = q[i];
}

/* The shadow of a shared stack describes the frames that were last on it,
 * whose epilogues never ran: clear it before another coroutine runs there
 * (its own redzones are poisoned again as its functions are entered; the
 * restored frames lose theirs). */
static void stack_unpoison(struct coro_stackmem *st)
{
	char *lo = (char *)st->map + coro_page_bytes();

	ASAN_UNPOISON_MEMORY_REGION(lo, (size_t)(st->top - lo));
}
#else
#define frame_copy memcpy
static void stack_unpoison(struct coro_stackmem *st)
{
	(void)st;
}
#endif

/* o is suspended: its frame is [o->ctx.sp, top). */
static void save(struct coro_sched *s, struct coro_stackmem *st, struct coro *o)
{
	size_t len = (size_t)(st->top - (char *)o->ctx.sp);

	if (len > o->saved.cap) {
		size_t cap = framepool_round(len);
		void *buf;

		/* a quarter more than asked: a frame that grows a little at
		 * each switch does not move at each one (the old bytes are
		 * overwritten: no copy) */
		if (o->saved.cap && cap < o->saved.cap + o->saved.cap / 4)
			cap = framepool_round(o->saved.cap + o->saved.cap / 4);
		buf = framepool_alloc(&s->shared->pool, cap);
		if (!buf) {
			fprintf(stderr,
				"coro: out of memory saving the %zu-byte stack of coroutine %llu "
				"(stack=shared)\n",
				len, (unsigned long long)o->id);
			abort();
		}
		framepool_free(&s->shared->pool, o->saved.buf, o->saved.cap);
		o->saved.buf = buf;
		o->saved.cap = (uint32_t)cap;
	}
	frame_copy(o->saved.buf, o->ctx.sp, len);
	o->saved.len = (uint32_t)len;
	s->stats.stack_copies++;
	s->stats.copy_bytes += len;
}

static void take(struct coro_sched *s, struct coro_stackmem *st, struct coro *to)
{
	struct coro *o = st->owner;

	if (o && o->state != CORO_DONE)
		save(s, st, o);
	stack_unpoison(st);
	if (to->saved.len) {
		frame_copy(st->top - to->saved.len, to->saved.buf, to->saved.len);
		s->stats.stack_copies++;
		s->stats.copy_bytes += to->saved.len;
	}
	st->owner = to;
}

int coro_shared_switch(struct coro_sched *s, struct coro *from, struct coro *to)
{
	struct coro_stackmem *st = to->stack;

	if (from->stack == st) {
		/* from stands on st (it is the owner): rewrite it from elsewhere */
		s->shared->copy_to = to;
		coro_tsan_fiber_enter(s->shared->copier_fiber);
		return CORO_NOT_TAIL(CORO_SWITCH(&from->ctx, &s->shared->copier_ctx));
	}
	take(s, st, to);
	coro_tsan_switch(to);
	return CORO_NOT_TAIL(CORO_SWITCH(&from->ctx, &to->ctx));
}

/* ---- pointers into a shared stack ------------------------------------------ */

int coro_on_shared_stack(const struct coro_sched *s, const void *p, size_t len)
{
	const struct coro *c = s->current;
	const char *lo, *q = p;

	if (!c || c->stack->kind != CORO_STACK_SHARED)
		return 0;
	lo = (const char *)c->stack->map + coro_page_bytes();
	return q < c->stack->top && q + (len ? len : 1) > lo;
}

void coro_stack_check_shared(const struct coro_sched *s, const void *p, const char *what)
{
	if (!coro_on_shared_stack(s, p, 1))
		return;
	fprintf(stderr,
		"coro: coroutine %llu hands out %s at %p, inside its shared stack: another task "
		"would use it while the frame is elsewhere (stack=shared); keep shared state off "
		"the stack\n",
		(unsigned long long)s->current->id, what, p);
	abort();
}
