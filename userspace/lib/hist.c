/* hist.c: log-linear histogram; see hist.h for the error bound. */
#include "hist.h"

#include <string.h>

static unsigned bucket_of(uint64_t v)
{
	unsigned msb, shift;

	if (v < HIST_SUB)
		return (unsigned)v; /* exact below HIST_SUB */
	msb = 63 - (unsigned)__builtin_clzll(v);
	shift = msb - HIST_SUB_BITS; /* v >> shift is in [HIST_SUB, 2 * HIST_SUB) */
	return HIST_SUB + shift * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

/* The largest value that falls into bucket b. */
static uint64_t bucket_upper(unsigned b)
{
	unsigned shift, sub;

	if (b < HIST_SUB)
		return b;
	shift = (b - HIST_SUB) / HIST_SUB;
	sub = (b - HIST_SUB) % HIST_SUB;
	return (((uint64_t)HIST_SUB + sub) << shift) + ((1ull << shift) - 1);
}

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void hist_add(struct hist *h, uint64_t v)
{
	h->counts[bucket_of(v)]++;
	h->n++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void hist_add_atomic(struct hist *h, uint64_t v)
{
	uint64_t cur;

	__atomic_fetch_add(&h->counts[bucket_of(v)], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->n, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->sum, v, __ATOMIC_RELAXED);
	cur = __atomic_load_n(&h->min, __ATOMIC_RELAXED);
	while (v < cur && !__atomic_compare_exchange_n(&h->min, &cur, v, 1, __ATOMIC_RELAXED,
						       __ATOMIC_RELAXED))
		;
	cur = __atomic_load_n(&h->max, __ATOMIC_RELAXED);
	while (v > cur && !__atomic_compare_exchange_n(&h->max, &cur, v, 1, __ATOMIC_RELAXED,
						       __ATOMIC_RELAXED))
		;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	if (!src->n)
		return;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->n += src->n;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0, v;

	if (!h->n)
		return 0;
	if (q <= 0)
		return h->min;
	if (q >= 1)
		return h->max;
	rank = (uint64_t)(q * (double)h->n);
	if ((double)rank < q * (double)h->n)
		rank++; /* ceil(q * n): the rank-th smallest value */
	if (rank == 0)
		rank = 1;
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		seen += h->counts[b];
		if (seen >= rank) {
			v = bucket_upper(b);
			return v < h->min ? h->min : v > h->max ? h->max : v;
		}
	}
	return h->max;
}
