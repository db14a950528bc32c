/* timerheap.c: a binary min-heap of timers on (deadline, seq) (timerheap.h). */
#include "timerheap.h"

#include <errno.h>
#include <stdlib.h>

static int timer_before(const struct timerheap_node *a, const struct timerheap_node *b)
{
	if (a->deadline_ns != b->deadline_ns)
		return a->deadline_ns < b->deadline_ns;
	return a->seq < b->seq;
}

static void heap_up(struct timerheap *h, size_t i)
{
	struct timerheap_node *t = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!timer_before(t, h->v[parent]))
			break;
		h->v[i] = h->v[parent];
		i = parent;
	}
	h->v[i] = t;
}

static void heap_down(struct timerheap *h, size_t i)
{
	struct timerheap_node *t = h->v[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = l;

		if (l >= h->len)
			break;
		if (r < h->len && timer_before(h->v[r], h->v[l]))
			m = r;
		if (!timer_before(h->v[m], t))
			break;
		h->v[i] = h->v[m];
		i = m;
	}
	h->v[i] = t;
}

int timerheap_push(struct timerheap *h, struct timerheap_node *t)
{
	if (h->len == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct timerheap_node **v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	t->seq = h->seq++;
	h->v[h->len++] = t;
	heap_up(h, h->len - 1);
	return 0;
}

struct timerheap_node *timerheap_pop_due(struct timerheap *h, uint64_t now_ns)
{
	struct timerheap_node *top;

	if (!h->len || h->v[0]->deadline_ns > now_ns)
		return NULL;
	top = h->v[0];
	h->len--;
	if (h->len > 0) {
		h->v[0] = h->v[h->len];
		heap_down(h, 0);
	}
	return top;
}

void timerheap_free(struct timerheap *h)
{
	free(h->v);
	h->v = NULL;
	h->len = h->cap = 0;
}
