/* sched_maps.bpf.h: the sched probe's per-thread storage and per-CPU
 * state (sched.h), declared once for every object that reads them: the
 * delay probe shares them (the loader reuses sched's fds, which needs the
 * same definitions). */
#ifndef SCHEDLAB_SCHED_MAPS_BPF_H
#define SCHEDLAB_SCHED_MAPS_BPF_H

#include "sched.h"

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sched_thread);
} threads SEC(".maps");

/* the task this CPU switched in last, when it may be ours (struct sched_cpu) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sched_cpu);
} cpu_state SEC(".maps");

#endif
