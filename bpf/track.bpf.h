/* track.bpf.h: the `tracked` map and its filter `tracked_bloom` (track.h),
 * which every probe object declares identically, so the loader can share one
 * instance of each between them (bpf_map__reuse_fd). */
#ifndef SCHEDLAB_TRACK_BPF_H
#define SCHEDLAB_TRACK_BPF_H

#include "track.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TRACK_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct track_proc);
} tracked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TRACK_BLOOM_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} tracked_bloom SEC(".maps");

static __always_inline __u64 *track_bloom_word(__u32 tgid)
{
	__u32 w = (tgid / 64) % TRACK_BLOOM_WORDS;

	return bpf_map_lookup_elem(&tracked_bloom, &w);
}

/* false: tgid is certainly not tracked (an array load, inlined by the
 * verifier); true: it may be, ask `tracked`. */
static __always_inline bool track_maybe(__u32 tgid)
{
	__u64 *w = track_bloom_word(tgid);

	return w && (*w & (1ULL << (tgid % 64)));
}

static __always_inline struct track_proc *track_lookup(__u32 tgid)
{
	if (!track_maybe(tgid))
		return NULL;
	return bpf_map_lookup_elem(&tracked, &tgid);
}

/* Before inserting tgid into `tracked`. */
static __always_inline void track_mark(__u32 tgid)
{
	__u64 *w = track_bloom_word(tgid);

	if (w)
		__sync_fetch_and_or(w, 1ULL << (tgid % 64));
}

#endif
