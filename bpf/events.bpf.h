/* events.bpf.h: the --events ring buffer, declared alike by every object
 * that writes events; the loader replaces it with one shared buffer
 * (bpf_map__reuse_fd) when --events is on, and leaves this one-page
 * placeholder, never written, when it is off. */
#ifndef SCHEDLAB_EVENTS_BPF_H
#define SCHEDLAB_EVENTS_BPF_H

#include "events.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

#endif
