/* usdt.h: wire format shared by usdt.bpf.c and the loader.
 *
 * The coroutine runtime (userspace/coro/coro.c) fires, under provider
 * "schedlab": coro_spawn(id), coro_ready(id), coro_switch(from_id, to_id),
 * coro_exit(id). Counts are kept per scheduler thread (an M:N runtime runs
 * several in one process; each entry then has one writer) and summed per
 * process by the loader. Coroutine ids are taken to be unique within a
 * process, so a coroutine made ready on one thread and resumed on another
 * still pairs.
 */
#ifndef SCHEDLAB_BPF_USDT_H
#define SCHEDLAB_BPF_USDT_H

#include "hist.h"

#define USDT_PROVIDER	 "schedlab"
#define USDT_MAX_READY	 (1 << 18)
#define USDT_MAX_THREADS 4096

/* Programs, in the order of the `runs` map (runs.h). */
enum usdt_run { USDT_RUN_SPAWN, USDT_RUN_READY, USDT_RUN_SWITCH, USDT_RUN_EXIT, USDT_RUN_NR };

struct usdt_proc {
	__u32 tgid; /* in the per-thread map `usdt_threads` (key: tid) */
	__u32 pad;
	__u64 spawns;
	__u64 readies;
	__u64 switches;
	__u64 exits;
	struct log2_hist runq; /* coro_ready/coro_spawn -> coro_switch to it, ns */
};

struct usdt_ready_key {
	__u32 tgid;
	__u32 pad;
	__u64 id;
};

enum usdt_count {
	USDT_CNT_LOST_PROCS,  /* `usdt_threads` full: a scheduler thread is not counted */
	USDT_CNT_LOST_READY,  /* `ready` full: a latency sample is lost */
	USDT_CNT_UNPAIRED,    /* switch to a coroutine with no ready time */
	USDT_CNT_LOST_EVENTS, /* --events: ring buffer full, a coroutine event dropped */
	USDT_CNT_EVENTS,      /* --events: coroutine event records written */
	USDT_CNT_NR,
};

#endif
