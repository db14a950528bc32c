/* framepool.h: small blocks by size class, for the shared stacks
 * (internal to userspace/coro/): the control blocks of shared-stack
 * coroutines, their saved frames and park slots.
 *
 * A parked shared-stack coroutine is nothing but these blocks, a few hundred
 * bytes, so what malloc adds to each (8 bytes of header, a size rounded up
 * to 16 with the header in it) is a tenth of it. Here a block of n bytes
 * costs n rounded up to 16: blocks of one class are carved back to back
 * from 64 KiB chunks and a freed one waits on its class's free list for
 * the next of that size. Larger blocks go to malloc. Memory returns to the
 * system when the pool is destroyed (with its scheduler), not before: a
 * scheduler's peak of parked coroutines stays its footprint.
 */
#ifndef SCHEDLAB_CORO_FRAMEPOOL_H
#define SCHEDLAB_CORO_FRAMEPOOL_H

#include <stddef.h>

#define FRAMEPOOL_CLASS_BYTES 16
#define FRAMEPOOL_MAX_BYTES   1024 /* larger: malloc */
#define FRAMEPOOL_CLASSES     (FRAMEPOOL_MAX_BYTES / FRAMEPOOL_CLASS_BYTES)

struct framepool_chunk;

struct framepool {
	void *free[FRAMEPOOL_CLASSES]; /* freed blocks, linked through their first word */
	struct framepool_chunk *chunks;
	char *next, *end; /* carving point in the newest chunk */
};

/* The size a block of n bytes really takes (n > 0). */
static inline size_t framepool_round(size_t n)
{
	return (n + FRAMEPOOL_CLASS_BYTES - 1) & ~(size_t)(FRAMEPOOL_CLASS_BYTES - 1);
}

/* n bytes, 16-aligned, not zeroed; NULL when out of memory. */
void *framepool_alloc(struct framepool *p, size_t n);
/* p's block of n bytes (the n it was allocated with), or NULL. */
void framepool_free(struct framepool *p, void *block, size_t n);
/* Every block goes at once. */
void framepool_destroy(struct framepool *p);

#endif
