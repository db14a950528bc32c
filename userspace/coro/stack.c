/* stack.c: a coroutine's stack by its kind (enum coro_stack): own stacks,
 * guarded or not, with a cache of freed ones, here; shared stacks in
 * copystack.c. One table says which functions serve a kind, so nothing
 * else branches on it.
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
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "coro/copystack.h"
#include "coro/mapping.h"
#include "coro/stack.h"
#include "lib/clock.h"
#include "lib/names.h"

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

const char *const coro_stack_names[CORO_STACK_KINDS] = {
	[CORO_STACK_GUARDED] = "guarded",
	[CORO_STACK_UNGUARDED] = "unguarded",
	[CORO_STACK_SHARED] = "shared",
};

int coro_stack_parse(const char *name)
{
	int kind = name_index(coro_stack_names, CORO_STACK_KINDS, name);

	return kind < 0 ? -EINVAL : kind;
}

const char *coro_stack_name(enum coro_stack kind)
{
	return (unsigned)kind < CORO_STACK_KINDS ? coro_stack_names[kind] : "?";
}

/* What sits at the top of an own stack, above its first frame: the
 * control block, the stack object that describes the mapping, and the park
 * slot (coro_park_slot). */
struct own_top {
	struct coro c;
	struct coro_stackmem st;
	_Alignas(16) unsigned char park_slot[CORO_PARK_SLOT_BYTES];
};

static struct own_top *own_top_of(struct coro *c)
{
	return (struct own_top *)((char *)c - offsetof(struct own_top, c));
}

/* A zeroed control block at the top of its own stack, with the stack object
 * beside it; the first frame goes right below. */
static struct coro *own_block(enum coro_stack kind, void *base, size_t map_bytes, size_t usable,
			      int in_arena)
{
	uintptr_t top = (uintptr_t)base + map_bytes;
	/* 64-byte aligned: the block starts on its own cache line. */
	struct own_top *t = (struct own_top *)((top - sizeof(struct own_top)) & ~(uintptr_t)63);

	memset(t, 0, sizeof(*t));
	t->st = (struct coro_stackmem){
		.kind = kind,
		.in_arena = in_arena,
		.map = base,
		.map_bytes = map_bytes,
		.usable = usable,
		.top = (char *)t,
		.owner = &t->c,
	};
	t->c.stack = &t->st;
	t->c.park_slot = t->park_slot;
	return &t->c;
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
		ar->base = coro_map_noreserve(s, bytes);
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
	if (guard && coro_guard_install(s, base, 1))
		return -ENOMEM;
	a->next += map_bytes;
	*out = base;
	return 0;
}

static int own_alloc(struct coro_sched *s, enum coro_stack kind, size_t usable, struct coro **out)
{
	int guard = kind == CORO_STACK_GUARDED;
	size_t map_bytes = usable + (guard ? coro_page_bytes() : 0);
	int in_arena = !guard || coro_guard_in_page_table();
	struct coro *c = s->stack_cache;
	uint64_t t0;
	void *base;
	int err;

	if (c && s->cache_map_bytes == map_bytes && c->stack->kind == kind) {
		s->stack_cache = c->next;
		s->cache_len--;
		*out = own_block(kind, c->stack->map, map_bytes, usable, c->stack->in_arena);
		s->stats.stack_reuses++;
		return 0;
	}
	if (in_arena)
		err = arena_carve(s, map_bytes, guard, &base);
	else
		err = coro_map_guarded(s, usable, &base, &map_bytes);
	if (err)
		return err;
	t0 = now_ns();
	*out = own_block(kind, base, map_bytes, usable, in_arena);
	s->stats.touch_ns += now_ns() - t0;
	s->stats.stack_maps++;
	return 0;
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

/* Gives an own stack back; c lives inside it. */
static void own_unmap(struct coro_sched *s, struct coro *c)
{
	struct coro_stackmem st = own_top_of(c)->st; /* a copy: c goes with the stack */

	if (st.in_arena)
		arena_release(s, st.map, st.map_bytes, coro_stack_guarded(&st));
	else
		munmap(st.map, st.map_bytes);
}

/* The cache holds one size and kind (the common case: every spawn uses the
 * model's default); a stack of another is given back. Cached stacks keep
 * their touched pages: that is what makes reuse cheap. */
static void own_free(struct coro_sched *s, struct coro *c)
{
	struct coro *cached = s->stack_cache;

	const struct coro_stackmem *st = c->stack;

	if (s->cache_len < s->cache_max && (!cached || (s->cache_map_bytes == st->map_bytes &&
							cached->stack->kind == st->kind))) {
		s->cache_map_bytes = st->map_bytes;
		c->next = cached;
		s->stack_cache = c;
		s->cache_len++;
		return;
	}
	own_unmap(s, c);
}

/* Arena stacks go with their arena in coro_stack_release_all. */
static void own_discard(struct coro_sched *s, struct coro *c)
{
	(void)s;
	struct coro_stackmem st = *c->stack; /* a copy: c goes with the stack */

	if (!st.in_arena)
		munmap(st.map, st.map_bytes);
}

/* What serves each kind. */
static const struct {
	int (*alloc)(struct coro_sched *s, enum coro_stack kind, size_t usable, struct coro **out);
	void (*free)(struct coro_sched *s, struct coro *c);
	void (*discard)(struct coro_sched *s, struct coro *c);
} kinds[CORO_STACK_KINDS] = {
	[CORO_STACK_GUARDED] = {own_alloc, own_free, own_discard},
	[CORO_STACK_UNGUARDED] = {own_alloc, own_free, own_discard},
	[CORO_STACK_SHARED] = {coro_shared_alloc, coro_shared_free, coro_shared_free},
};

int coro_stack_alloc(struct coro_sched *s, const struct coro_opts *opts, struct coro **out)
{
	size_t usable = coro_stack_usable(opts ? opts->stack_bytes : 0);
	enum coro_stack kind = opts ? opts->stack : CORO_STACK_GUARDED;

	if (!usable || (unsigned)kind >= CORO_STACK_KINDS)
		return -EINVAL;
	return kinds[kind].alloc(s, kind, usable, out);
}

void coro_stack_free(struct coro_sched *s, struct coro *c)
{
	kinds[c->stack->kind].free(s, c);
}

void coro_stack_discard(struct coro_sched *s, struct coro *c)
{
	kinds[c->stack->kind].discard(s, c);
}

void coro_stack_release_all(struct coro_sched *s)
{
	struct coro *c = s->stack_cache;
	struct coro_arenas *a = s->arenas;

	while (c) {
		struct coro *next = c->next;

		own_discard(s, c);
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
