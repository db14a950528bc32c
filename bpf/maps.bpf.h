/* maps.bpf.h: the two map idioms every probe uses. */
#ifndef SCHEDLAB_MAPS_BPF_H
#define SCHEDLAB_MAPS_BPF_H

/* Adds one to counter idx of a per-CPU array of __u64 (a probe's counts of
 * what it could not record). Per-CPU and a program does not nest with itself
 * on one CPU, so a plain increment. */
static __always_inline void count_in(void *map, __u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(map, &idx);

	if (c)
		(*c)++;
}

/* The value at key, inserted as *zero when absent (another CPU may insert
 * it first: then that one); NULL when the map is full. */
static __always_inline void *lookup_or_init(void *map, const void *key, const void *zero)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

#endif
