/* track.bpf.h: the `tracked` map every probe object declares identically, so
 * the loader can share one instance between them (bpf_map__reuse_fd). */
#ifndef SCHEDLAB_TRACK_BPF_H
#define SCHEDLAB_TRACK_BPF_H

#include "track.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TRACK_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct track_proc);
} tracked SEC(".maps");

static __always_inline struct track_proc *track_lookup(__u32 tgid)
{
	return bpf_map_lookup_elem(&tracked, &tgid);
}

#endif
