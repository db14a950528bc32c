/* stack.c: mmap'd coroutine stacks with a guard page, and a cache of freed
 * ones.
 *
 * Why the control block lives in the stack mapping rather than in malloc:
 * the top page of a stack is touched anyway (the first frame lands there), so
 * the block is free in RSS; spawn costs one mmap + one mprotect and no
 * allocator call; and a cached stack comes back with its block, so a reused
 * spawn makes no syscall at all. The price: struct coro dies with the stack,
 * exactly when coro_join() frees it, which is the API's contract anyway.
 *
 * Why a guard page rather than a canary: a canary at the bottom would touch a
 * second page per coroutine (twice the RSS) and catch an overflow only after
 * the damage. The guard costs a second VMA per stack instead.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coro/stack.h"

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

static struct coro *block_at_top(void *base, size_t map_bytes)
{
	uintptr_t top = (uintptr_t)base + map_bytes;

	/* 64-byte aligned: the block starts on its own cache line. */
	return (struct coro *)((top - sizeof(struct coro)) & ~(uintptr_t)63);
}

static void init_block(struct coro *c, void *base, size_t map_bytes, size_t stack_bytes,
		       int no_guard)
{
	memset(c, 0, sizeof(*c));
	c->stack_base = base;
	c->map_bytes = map_bytes;
	c->stack_bytes = stack_bytes;
	c->no_guard = no_guard;
}

int coro_stack_alloc(struct coro_sched *s, size_t stack_bytes, int no_guard, struct coro **out)
{
	size_t page = coro_page_bytes();
	size_t usable, map_bytes;
	struct coro *c;
	void *base;

	if (stack_bytes == 0)
		stack_bytes = CORO_DEFAULT_STACK_BYTES;
	if (stack_bytes > CORO_MAX_STACK_BYTES)
		return -EINVAL;
	usable = (stack_bytes + page - 1) & ~(page - 1);
	map_bytes = usable + (no_guard ? 0 : page);

	if (s->stack_cache && s->cache_map_bytes == map_bytes) {
		c = s->stack_cache;
		if (c->no_guard == no_guard) {
			s->stack_cache = c->next;
			s->cache_len--;
			base = c->stack_base;
			c = block_at_top(base, map_bytes);
			init_block(c, base, map_bytes, usable, no_guard);
			s->stats.stack_reuses++;
			*out = c;
			return 0;
		}
	}

	/* MAP_NORESERVE: only touched pages count against overcommit, so a
	 * million 64 KiB stacks do not need 64 GiB of commit. */
	base = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (base == MAP_FAILED)
		return -ENOMEM;
	/* The guard splits the mapping in two VMAs; mprotect fails with ENOMEM
	 * when that would exceed vm.max_map_count. */
	if (!no_guard && mprotect(base, page, PROT_NONE) != 0) {
		munmap(base, map_bytes);
		return -ENOMEM;
	}
	c = block_at_top(base, map_bytes);
	init_block(c, base, map_bytes, usable, no_guard);
	s->stats.stack_maps++;
	*out = c;
	return 0;
}

void coro_stack_unmap(struct coro *c)
{
	/* c lives inside the mapping: read what we need first. */
	void *base = c->stack_base;
	size_t map_bytes = c->map_bytes;

	munmap(base, map_bytes);
}

void coro_stack_free(struct coro_sched *s, struct coro *c)
{
	/* The cache holds one size (the common case: every spawn uses the
	 * model's default); a stack of another size is unmapped. Cached stacks
	 * keep their touched pages: that is what makes reuse cheap. */
	if (s->cache_len < s->cache_max &&
	    (!s->stack_cache || (s->cache_map_bytes == c->map_bytes &&
				 ((struct coro *)s->stack_cache)->no_guard == c->no_guard))) {
		s->cache_map_bytes = c->map_bytes;
		c->next = s->stack_cache;
		s->stack_cache = c;
		s->cache_len++;
		return;
	}
	coro_stack_unmap(c);
}

void coro_stack_cache_drain(struct coro_sched *s)
{
	struct coro *c = s->stack_cache;

	while (c) {
		struct coro *next = c->next;

		coro_stack_unmap(c);
		c = next;
	}
	s->stack_cache = NULL;
	s->cache_len = 0;
}
