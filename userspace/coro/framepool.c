/* framepool.c: small blocks by size class (framepool.h). */
#include "coro/framepool.h"

#include <stdint.h>
#include <stdlib.h>

#define CHUNK_BYTES ((size_t)64 << 10)

struct framepool_chunk {
	struct framepool_chunk *next;
	_Alignas(16) char mem[];
};

void *framepool_alloc(struct framepool *p, size_t n)
{
	size_t size = framepool_round(n ? n : 1), cls;
	void *b;

	if (size > FRAMEPOOL_MAX_BYTES)
		return malloc(size);
	cls = size / FRAMEPOOL_CLASS_BYTES - 1;
	if ((b = p->free[cls])) {
		p->free[cls] = *(void **)b;
		return b;
	}
	if ((size_t)(p->end - p->next) < size) {
		/* the tail of the old chunk (less than one block) stays unused */
		struct framepool_chunk *c = malloc(sizeof(*c) + CHUNK_BYTES);

		if (!c)
			return NULL;
		c->next = p->chunks;
		p->chunks = c;
		p->next = c->mem;
		p->end = c->mem + CHUNK_BYTES;
	}
	b = p->next;
	p->next += size;
	return b;
}

void framepool_free(struct framepool *p, void *block, size_t n)
{
	size_t size = framepool_round(n ? n : 1), cls;

	if (!block)
		return;
	if (size > FRAMEPOOL_MAX_BYTES) {
		free(block);
		return;
	}
	cls = size / FRAMEPOOL_CLASS_BYTES - 1;
	*(void **)block = p->free[cls];
	p->free[cls] = block;
}

void framepool_destroy(struct framepool *p)
{
	while (p->chunks) {
		struct framepool_chunk *next = p->chunks->next;

		free(p->chunks);
		p->chunks = next;
	}
	*p = (struct framepool){0};
}
