/* hist.bpf.h: the log2 histogram update shared by the probes (struct
 * log2_hist, hist.h). Plain increments: each histogram has one writer at a
 * time (its thread, or one coroutine scheduler thread). */
#ifndef SCHEDLAB_HIST_BPF_H
#define SCHEDLAB_HIST_BPF_H

#include "hist.h"

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xffffffffULL) << 5;
	v >>= shift;
	r |= shift;
	shift = (v > 0xffff) << 4;
	v >>= shift;
	r |= shift;
	shift = (v > 0xff) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xf) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline void hist_add(struct log2_hist *h, __u64 v)
{
	__u32 slot = log2_u64(v);

	if (slot >= HIST_SLOTS)
		slot = HIST_SLOTS - 1;
	h->slots[slot]++;
	if (!h->n || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->n++;
	h->sum += v;
}

#endif
