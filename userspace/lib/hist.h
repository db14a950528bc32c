/* hist.h: a log-linear latency histogram (HdrHistogram's idea, our code:
 * Debian has no C HdrHistogram). Values are grouped by power of two and each
 * power of two is split into HIST_SUB linear sub-buckets, so a percentile is
 * reported with a relative error below 1/HIST_SUB (1.6%). n, sum, min and max
 * are exact. Fixed size, no allocation: one per task, merged at the end.
 */
#ifndef SCHEDLAB_HIST_H
#define SCHEDLAB_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_BUCKETS  ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	uint64_t n, sum, min, max;
	uint64_t counts[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_add(struct hist *h, uint64_t v);
/* For a histogram shared by threads: relaxed atomics, no lock. */
void hist_add_atomic(struct hist *h, uint64_t v);
void hist_merge(struct hist *dst, const struct hist *src);
/* The value at quantile q in [0, 1]: the upper edge of the bucket holding the
 * ceil(q*n)-th smallest value, clamped to [min, max]; 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif
