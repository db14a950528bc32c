/* hist.h: the log2 histogram every probe keeps its distributions in; the
 * kernel side adds (hist.bpf.h), the loader merges and reports. */
#ifndef SCHEDLAB_BPF_HIST_H
#define SCHEDLAB_BPF_HIST_H

/* slot i holds values in [2^i, 2^(i+1)), slot 0 holds 0 and 1 */
#define HIST_SLOTS 64

struct log2_hist {
	__u64 n;
	__u64 sum;
	__u64 min; /* meaningful only when n > 0 */
	__u64 max;
	__u64 slots[HIST_SLOTS];
};

#endif
