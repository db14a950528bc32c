/* events.h: the --events stream's format, shared by the probes that write
 * it and the loader (trace_events.c). harness/analyse/trace.py reads it. */
#ifndef SCHEDLAB_BPF_EVENTS_H
#define SCHEDLAB_BPF_EVENTS_H

/* --events FILE: the file starts with one struct events_header, then
 * fixed-size records (struct event_sched, struct event_coro: the same size)
 * in the order they were drained (per-CPU order; sort by ts_ns for a global
 * order). Every probe that writes events writes into one ring buffer, which
 * the loader creates and hands to each object (events.bpf.h). */
#define EVENTS_MAGIC   "SCHEDEVT"
#define EVENTS_VERSION 1

struct events_header {
	char magic[8];	    /* EVENTS_MAGIC, not NUL-terminated */
	__u32 version;	    /* EVENTS_VERSION */
	__u32 record_bytes; /* sizeof(struct event_sched) */
	__u32 root_tgid;
	__u32 pad;
};

enum event_type {
	EV_SWITCH = 1,	   /* pid/tgid: prev; other_*: next */
	EV_WAKEUP = 2,	   /* pid/tgid: the woken task; other_*: the waker */
	EV_WAKEUP_NEW = 3, /* pid/tgid: the new task; other_*: its creator */
	EV_MIGRATE = 4,	   /* pid/tgid: the task; arg: destination CPU */
	/* struct event_coro, written by usdt.bpf.c */
	EV_CORO_SPAWN = 5,
	EV_CORO_READY = 6,
	EV_CORO_SWITCH = 7,
	EV_CORO_EXIT = 8,
	/* struct event_uring, written by uring.bpf.c */
	EV_URING_SUBMIT = 9,   /* a request submitted (io_uring_submit_req) */
	EV_URING_COMPLETE = 10, /* its completion posted (io_uring_complete) */
};

#define EV_F_PREEMPT   0x1 /* switch: the preempt argument was set */
#define EV_F_VOLUNTARY 0x2 /* switch: counted voluntary (see sched.bpf.c) */

struct event_sched {
	__u64 ts_ns;   /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u16 version; /* EVENTS_VERSION */
	__u16 type;    /* enum event_type */
	__u32 cpu;
	__u32 pid, tgid;
	__u32 other_pid, other_tgid;
	__u32 arg;   /* switch: prev_state; migrate: destination CPU */
	__u32 flags; /* EV_F_* */
};

/* A coroutine event, the same size as struct event_sched, in the same
 * stream: pid/tgid is the scheduler thread that fired the USDT probe. */
struct event_coro {
	__u64 ts_ns;   /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u16 version; /* EVENTS_VERSION */
	__u16 type;    /* EV_CORO_* */
	__u32 cpu;
	__u32 pid, tgid;
	__u64 coro; /* the coroutine; switch: the one switched from */
	__u64 to;   /* switch: the coroutine switched to; else 0 */
};

/* An io_uring request's submission or completion, the same size as struct
 * event_sched: pid/tgid is the current task (for a completion, whoever
 * posted it: the submitter, an io-wq worker, or an interrupted task, in
 * which case tgid is the ring's owner instead). user_data pairs the two. */
struct event_uring {
	__u64 ts_ns;   /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u16 version; /* EVENTS_VERSION */
	__u16 type;    /* EV_URING_* */
	__u32 cpu;
	__u32 pid, tgid;
	__u64 user_data; /* the SQE's user_data, echoed in its CQE */
	__u32 opcode;	 /* submit: IORING_OP_*; complete: 0 */
	__s32 res;	 /* complete: the CQE's res; submit: 0 */
};

#endif
