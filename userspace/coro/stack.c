/* stack.c: mmap'd coroutine stacks with a guard page, and a cache of freed
 * ones.
 *
 * Why the control block lives in the stack mapping rather than in malloc:
 * the top page of a stack is touched anyway (the first frame lands there), so
 * the block is free in RSS; spawn costs no allocator call; and a cached stack
 * comes back with its block, so a reused spawn makes no syscall at all. The
 * price: struct coro dies with the stack, exactly when coro_join() frees it,
 * which is the API's contract anyway.
 *
 * Why a guard page rather than a canary: a canary at the bottom would touch a
 * second page per coroutine (twice the RSS) and catch an overflow only after
 * the damage.
 *
 * How the guard is made, decided once per process (coro_guard_method()):
 *   madv_guard_install  Linux 6.13+. Stacks are carved one after another out
 *                       of arenas (large MAP_NORESERVE mappings, doubling up
 *                       to ARENA_MAX_BYTES), and madvise(MADV_GUARD_INSTALL)
 *                       marks the page below each: the marker lives in the
 *                       page table, so an arena of thousands of guarded
 *                       stacks is one VMA and a million need no
 *                       vm.max_map_count raise. A freed arena stack beyond
 *                       the cache gives its pages back (MADV_DONTNEED; the
 *                       guard stays) and waits in a free list for reuse.
 *   mprotect            older kernels: one mapping per stack with a PROT_NONE
 *                       page, which splits it in two VMAs.
 * Unguarded stacks are carved from the same arenas without a guard: one mmap
 * per arena instead of one per stack, so that guarded and unguarded differ
 * by the guard alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coro/copystack.h"
#include "coro/stack.h"
#include "lib/clock.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* include/uapi/asm-generic/mman-common.h, 6.13 */
#endif

#define ARENA_FIRST_BYTES ((size_t)2 << 20)
#define ARENA_MAX_BYTES	  ((size_t)256 << 20)

struct arena {
	struct arena *next;
	void *base;
	size_t bytes;
};

struct freed_stack {
	void *base;
	size_t map_bytes;
	int guard;
};

struct coro_arenas {
	struct arena *list;
	char *next, *end; /* carving point in the newest arena */
	size_t grow;	  /* size of the next arena */
	struct freed_stack *freed;
	size_t nfreed, cap_freed;
};

size_t coro_page_bytes(void)
{
	static size_t page_bytes;

	/* Racy but idempotent: every thread computes the same value. */
	if (!page_bytes) {
		long v = sysconf(_SC_PAGESIZE);

		page_bytes = v > 0 ? (size_t)v : 4096;
	}
	return page_bytes;
}

/* Probed on a scratch mapping: EINVAL before 6.13 (unknown advice) and
 * under seccomp filters that refuse it. An emulator may also answer 0 and do
 * nothing (qemu-user ignores advice it does not know), so the guard must
 * then make the kernel refuse to read the page: write(2) from it into a
 * pipe fails with EFAULT. */
static int have_guard_install(void)
{
	static int state; /* 0 unknown, 1 yes, -1 no; racy but idempotent */
	size_t page = coro_page_bytes();
	int fds[2];
	void *p;

	if (state)
		return state > 0;
	p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 0; /* no verdict: try again next time */
	if (pipe2(fds, O_CLOEXEC)) {
		munmap(p, 2 * page);
		return 0;
	}
	state = -1;
	if (madvise(p, page, MADV_GUARD_INSTALL) == 0 && write(fds[1], p, 1) < 0 && errno == EFAULT)
		state = 1;
	close(fds[0]);
	close(fds[1]);
	munmap(p, 2 * page);
	return state > 0;
}

const char *coro_guard_method(void)
{
	return have_guard_install() ? "madv_guard_install" : "mprotect";
}

size_t coro_stack_usable(size_t stack_bytes)
{
	size_t page = coro_page_bytes();

	if (stack_bytes == 0)
		stack_bytes = CORO_DEFAULT_STACK_BYTES;
	if (stack_bytes > CORO_MAX_STACK_BYTES)
		return 0;
	return (stack_bytes + page - 1) & ~(page - 1);
}

static struct coro *block_at_top(void *base, size_t map_bytes)
{
	uintptr_t top = (uintptr_t)base + map_bytes;

	/* 64-byte aligned: the block starts on its own cache line. */
	return (struct coro *)((top - sizeof(struct coro)) & ~(uintptr_t)63);
}

static void init_block(struct coro *c, void *base, size_t map_bytes, size_t stack_bytes,
		       int no_guard, int in_arena)
{
	memset(c, 0, sizeof(*c));
	c->stack_base = base;
	c->map_bytes = map_bytes;
	c->stack_bytes = stack_bytes;
	c->no_guard = no_guard;
	c->in_arena = in_arena;
}

static void *map_noreserve(struct coro_sched *s, size_t bytes)
{
	uint64_t t0 = now_ns();
	/* MAP_NORESERVE: only touched pages count against overcommit, so a
	 * million 64 KiB stacks do not need 64 GiB of commit. */
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);

	s->stats.map_ns += now_ns() - t0;
	return p == MAP_FAILED ? NULL : p;
}

static int install_guard(struct coro_sched *s, void *page_addr, int madv)
{
	uint64_t t0 = now_ns();
	/* mprotect fails with ENOMEM when the split would exceed
	 * vm.max_map_count; madvise with ENOMEM when out of memory for the
	 * page table that holds the marker. */
	int err = madv ? madvise(page_addr, coro_page_bytes(), MADV_GUARD_INSTALL)
		       : mprotect(page_addr, coro_page_bytes(), PROT_NONE);

	s->stats.guard_ns += now_ns() - t0;
	return err ? -ENOMEM : 0;
}

int coro_map_guarded(struct coro_sched *s, size_t usable, void **base, size_t *map_bytes)
{
	size_t bytes = usable + coro_page_bytes();
	void *p = map_noreserve(s, bytes);

	if (!p)
		return -ENOMEM;
	if (install_guard(s, p, have_guard_install())) {
		munmap(p, bytes);
		return -ENOMEM;
	}
	*base = p;
	*map_bytes = bytes;
	return 0;
}

/* A stack of map_bytes out of the arenas, with a guard in its first page
 * or none: a freed one of the same kind, or a new one carved at the end (a
 * new arena when it does not fit). */
static int arena_carve(struct coro_sched *s, size_t map_bytes, int guard, void **out)
{
	struct coro_arenas *a = s->arenas;
	void *base;

	if (!a && !(a = s->arenas = calloc(1, sizeof(*a))))
		return -ENOMEM;
	if (a->nfreed && a->freed[a->nfreed - 1].map_bytes == map_bytes &&
	    a->freed[a->nfreed - 1].guard == guard) {
		*out = a->freed[--a->nfreed].base; /* its guard is still there */
		return 0;
	}
	if ((size_t)(a->end - a->next) < map_bytes) {
		struct arena *ar = malloc(sizeof(*ar));
		size_t bytes = a->grow ? a->grow : ARENA_FIRST_BYTES;

		if (!ar)
			return -ENOMEM;
		if (bytes < map_bytes)
			bytes = map_bytes;
		ar->base = map_noreserve(s, bytes);
		if (!ar->base) {
			free(ar);
			return -ENOMEM;
		}
		ar->bytes = bytes;
		ar->next = a->list;
		a->list = ar;
		a->next = ar->base;
		a->end = a->next + bytes;
		a->grow = bytes * 2 < ARENA_MAX_BYTES ? bytes * 2 : ARENA_MAX_BYTES;
		s->stats.arena_maps++;
	}
	base = a->next;
	if (guard && install_guard(s, base, 1))
		return -ENOMEM;
	a->next += map_bytes;
	*out = base;
	return 0;
}

static int alloc_own(struct coro_sched *s, size_t usable, int no_guard, struct coro **out)
{
	size_t map_bytes = usable + (no_guard ? 0 : coro_page_bytes());
	int in_arena = no_guard || have_guard_install();
	struct coro *c;
	uint64_t t0;
	void *base;
	int err;

	if (s->stack_cache && s->cache_map_bytes == map_bytes) {
		c = s->stack_cache;
		if (c->no_guard == no_guard) {
			s->stack_cache = c->next;
			s->cache_len--;
			base = c->stack_base;
			c = block_at_top(base, map_bytes);
			init_block(c, base, map_bytes, usable, no_guard, in_arena);
			s->stats.stack_reuses++;
			*out = c;
			return 0;
		}
	}
	if (in_arena)
		err = arena_carve(s, map_bytes, !no_guard, &base);
	else
		err = coro_map_guarded(s, usable, &base, &map_bytes);
	if (err)
		return err;
	t0 = now_ns();
	c = block_at_top(base, map_bytes);
	init_block(c, base, map_bytes, usable, no_guard, in_arena);
	s->stats.touch_ns += now_ns() - t0;
	s->stats.stack_maps++;
	*out = c;
	return 0;
}

int coro_stack_alloc(struct coro_sched *s, const struct coro_opts *opts, struct coro **out)
{
	size_t usable = coro_stack_usable(opts ? opts->stack_bytes : 0);

	if (!usable)
		return -EINVAL;
	if (opts && opts->shared)
		return coro_shared_alloc(s, usable, out);
	return alloc_own(s, usable, opts ? opts->no_guard : 0, out);
}

void *coro_stack_top(struct coro *c)
{
	/* An own stack grows down from just below its control block. */
	return c->shared ? (void *)c->shared->top : (void *)c;
}

/* An arena stack nobody caches: its pages go back to the kernel, its
 * address range (and guard) wait for the next spawn of that size. */
static void arena_release(struct coro_sched *s, void *base, size_t map_bytes, int guard)
{
	struct coro_arenas *a = s->arenas;
	size_t page = guard ? coro_page_bytes() : 0;

	madvise((char *)base + page, map_bytes - page, MADV_DONTNEED);
	if (a->nfreed == a->cap_freed) {
		size_t cap = a->cap_freed ? a->cap_freed * 2 : 64;
		struct freed_stack *f = realloc(a->freed, cap * sizeof(*f));

		if (!f)
			return; /* the range stays unused until destroy */
		a->freed = f;
		a->cap_freed = cap;
	}
	a->freed[a->nfreed++] = (struct freed_stack){base, map_bytes, guard};
}

static void stack_unmap(struct coro_sched *s, struct coro *c)
{
	/* c lives inside the mapping: read what we need first. */
	void *base = c->stack_base;
	size_t map_bytes = c->map_bytes;

	if (c->shared)
		coro_shared_free(s, c);
	else if (c->in_arena)
		arena_release(s, base, map_bytes, !c->no_guard);
	else
		munmap(base, map_bytes);
}

void coro_stack_free(struct coro_sched *s, struct coro *c)
{
	/* The cache holds one size (the common case: every spawn uses the
	 * model's default); a stack of another size is given back. Cached
	 * stacks keep their touched pages: that is what makes reuse cheap. */
	if (!c->shared && s->cache_len < s->cache_max &&
	    (!s->stack_cache || (s->cache_map_bytes == c->map_bytes &&
				 ((struct coro *)s->stack_cache)->no_guard == c->no_guard))) {
		s->cache_map_bytes = c->map_bytes;
		c->next = s->stack_cache;
		s->stack_cache = c;
		s->cache_len++;
		return;
	}
	stack_unmap(s, c);
}

void coro_stack_discard(struct coro_sched *s, struct coro *c)
{
	if (c->shared)
		coro_shared_free(s, c);
	else if (!c->in_arena)
		munmap(c->stack_base, c->map_bytes);
}

void coro_stack_release_all(struct coro_sched *s)
{
	struct coro *c = s->stack_cache;
	struct coro_arenas *a = s->arenas;

	while (c) {
		struct coro *next = c->next;

		if (!c->in_arena)
			munmap(c->stack_base, c->map_bytes);
		c = next;
	}
	s->stack_cache = NULL;
	s->cache_len = 0;
	if (a) {
		while (a->list) {
			struct arena *next = a->list->next;

			munmap(a->list->base, a->list->bytes);
			free(a->list);
			a->list = next;
		}
		free(a->freed);
		free(a);
		s->arenas = NULL;
	}
	coro_shared_release(s);
}
