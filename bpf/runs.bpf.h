/* runs.bpf.h: the `runs` map and its increment (runs.h says why). */
#ifndef SCHEDLAB_RUNS_BPF_H
#define SCHEDLAB_RUNS_BPF_H

#include "runs.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RUNS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} runs SEC(".maps");

/* Per-CPU and the program does not nest with itself on one CPU (the
 * kernel's recursion guard), so a plain increment, no atomic. */
static __always_inline void count_run(__u32 id)
{
	__u64 *c = bpf_map_lookup_elem(&runs, &id);

	if (c)
		(*c)++;
}

#endif
