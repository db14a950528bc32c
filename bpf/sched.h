/* sched.h: wire format shared by sched.bpf.c and the loader (schedtrace).
 *
 * Only constants and fixed-width structs live here. One struct sched_thread is
 * kept per traced thread in task local storage while it lives, and copied
 * into the `dead` hash map at its final switch-out, so the loader can read
 * every thread of a finished command.
 */
#ifndef SCHEDLAB_BPF_SCHED_H
#define SCHEDLAB_BPF_SCHED_H

/* log2 histogram: slot i holds values in [2^i, 2^(i+1)), slot 0 holds 0 and 1. */
#define SCHED_HIST_SLOTS 64

struct sched_hist {
	__u64 n;
	__u64 sum;
	__u64 min; /* meaningful only when n > 0 */
	__u64 max;
	__u64 slots[SCHED_HIST_SLOTS];
};

/* Thread flags. */
#define SCHED_F_IO_WORKER 0x1 /* PF_IO_WORKER: an io_uring io-wq or SQPOLL thread */
#define SCHED_F_DEAD	  0x2 /* its final switch-out (TASK_DEAD) was seen */
#define SCHED_F_SEEN_IN	  0x4 /* it was switched in at least once while traced */
#define SCHED_F_RD_MARK	  0x8 /* rd_mark holds the kernel's run_delay after a switch-in */

/* Where the probe's timestamps come from (rodata targ_clock, --clock). */
enum sched_clock {
	SCHED_CLOCK_KTIME,  /* bpf_ktime_get_ns() at each event: exact, ~50 ns a read here */
	SCHED_CLOCK_KERNEL, /* the scheduler's own: rq->clock, sched_info.last_queued/run_delay */
	SCHED_CLOCK_BOTH,   /* ktime, and the kernel clock's figures beside it (check) */
};

/* --clock both: what the kernel clock would have reported for the same
 * events, next to the ktime figures the thread's histograms hold. */
struct sched_clock_check {
	__u64 offcpu_kts;	  /* last switch-out on the rq clock */
	__u64 oncpu_sum;	  /* on-CPU time on the rq clock, ns */
	__u64 offcpu_sum;	  /* off-CPU time on the rq clock, ns */
	__u64 skipped;		  /* run-queue waits begun by a wakeup that preempted:
				   * the next rq clock update is skipped */
	__u64 skipped_ktime_sum;  /* their ktime waits, summed */
	__u64 skipped_kernel_sum; /* their kernel-clock waits, summed */
	struct sched_hist runq;	  /* run-queue wait from sched_info, ns */
	struct sched_hist diff;	  /* |ktime - kernel| per paired wait, ns */
	__u32 wake_skip;	  /* the last wakeup asked the rq clock to skip */
	__u32 pad;
};

struct sched_thread {
	/* pairing state, bpf_ktime_get_ns() (CLOCK_MONOTONIC); 0 = unknown */
	__u64 offcpu_ts;      /* last switch-out */
	__u64 enq_ts;	      /* became runnable: wakeup, or switched out still runnable */
	__u64 start_ns;	      /* task->start_time: tells a reused tid apart */
	__u64 rd_mark;	      /* --clock kernel: sched_info.run_delay once the last wait is added */
	__u64 runq_unsampled; /* --wake-sample N: waits after a wakeup left untimed */
	__u32 sample_left;    /* --wake-sample N: wakeups until the next timed one */
	__u32 pad;
	__u32 pid;   /* the thread id */
	__u32 tgid;  /* its process */
	__u32 flags; /* SCHED_F_* */
	__u32 last_cpu;
	__u64 switches; /* switch-outs */
	__u64 voluntary_switches;
	__u64 involuntary_switches;
	__u64 migrations;
	__u64 wakeups; /* sched_wakeup of this thread (not wakeup_new) */
	/* switch-outs after release_task() folded this thread's nvcsw/nivcsw
	 * into its process (sighand gone): getrusage and wait4 never see them */
	__u64 released_voluntary_switches;
	__u64 released_involuntary_switches;
	struct sched_hist runq;	  /* runnable -> switched in, ns */
	struct sched_hist oncpu;  /* switch-in -> switch-out, ns */
	struct sched_hist offcpu; /* switch-out -> switch-in, ns */
	char comm[16];
	struct sched_clock_check check; /* --clock both only */
};

/* Per-CPU (array map `cpu_state`): the task this CPU switched in last, when
 * it may be ours. Its switch-in work (run-queue and off-CPU latency) is
 * done at its switch-out, which happens on the same CPU, so a switch looks up
 * only one task's storage, prev's. */
struct sched_cpu {
	__u32 pid; /* 0: the task on this CPU is not ours */
	__u32 pad;
	__u64 in_ts;	 /* its switch-in */
	__u64 in_kts;	 /* --clock kernel/both: its switch-in on the rq clock */
	__u64 queued_at; /* --clock kernel: sched_info.last_queued at switch-in */
	__u64 run_delay; /* --clock kernel: sched_info.run_delay at switch-in */
};

/* enq_ts of a wakeup that --wake-sample left untimed */
#define SCHED_ENQ_UNSAMPLED (~0ULL)

/* Key of the `dead` map: a tid alone can be reused within one run. */
struct sched_dead_key {
	__u32 pid;
	__u32 pad;
	__u64 start_ns;
};

/* Per-CPU counters (array map `counts`), summed by the loader. */
enum sched_count {
	SCHED_CNT_BORN,		  /* sched_wakeup_new of a traced task */
	SCHED_CNT_DEAD,		  /* final switch-outs of traced tasks */
	SCHED_CNT_LOST_STORAGE,	  /* task storage could not be created */
	SCHED_CNT_LOST_DEAD_ROWS, /* `dead` map full: that thread's row is lost */
	SCHED_CNT_UNPAIRED_IN,	  /* switch-in with no runnable timestamp */
	SCHED_CNT_UNPAIRED_OUT,	  /* switch-out with no switch-in timestamp */
	SCHED_CNT_LOST_EVENTS,	  /* ring buffer full: event record dropped */
	SCHED_CNT_EVENTS,	  /* event records written */
	SCHED_CNT_NR,
};

/* --events FILE: the file starts with one struct sched_events_header, then
 * fixed-size struct sched_event records in the order they were drained
 * (per-CPU order; sort by ts_ns for a global order). */
#define SCHED_EVENTS_MAGIC   "SCHEDEVT"
#define SCHED_EVENTS_VERSION 1

struct sched_events_header {
	char magic[8];	    /* SCHED_EVENTS_MAGIC, not NUL-terminated */
	__u32 version;	    /* SCHED_EVENTS_VERSION */
	__u32 record_bytes; /* sizeof(struct sched_event) */
	__u32 root_tgid;
	__u32 pad;
};

enum sched_event_type {
	SCHED_EV_SWITCH = 1,	 /* pid/tgid: prev; other_*: next */
	SCHED_EV_WAKEUP = 2,	 /* pid/tgid: the woken task; other_*: the waker */
	SCHED_EV_WAKEUP_NEW = 3, /* pid/tgid: the new task; other_*: its creator */
	SCHED_EV_MIGRATE = 4,	 /* pid/tgid: the task; arg: destination CPU */
	/* struct sched_coro_event, written by usdt.bpf.c */
	SCHED_EV_CORO_SPAWN = 5,
	SCHED_EV_CORO_READY = 6,
	SCHED_EV_CORO_SWITCH = 7,
	SCHED_EV_CORO_EXIT = 8,
};

#define SCHED_EV_F_PREEMPT   0x1 /* switch: the preempt argument was set */
#define SCHED_EV_F_VOLUNTARY 0x2 /* switch: counted voluntary (see sched.bpf.c) */

struct sched_event {
	__u64 ts_ns;   /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u16 version; /* SCHED_EVENTS_VERSION */
	__u16 type;    /* enum sched_event_type */
	__u32 cpu;
	__u32 pid, tgid;
	__u32 other_pid, other_tgid;
	__u32 arg;   /* switch: prev_state; migrate: destination CPU */
	__u32 flags; /* SCHED_EV_F_* */
};

/* A coroutine event, the same size as struct sched_event, in the same
 * stream: pid/tgid is the scheduler thread that fired the USDT probe. */
struct sched_coro_event {
	__u64 ts_ns;   /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u16 version; /* SCHED_EVENTS_VERSION */
	__u16 type;    /* SCHED_EV_CORO_* */
	__u32 cpu;
	__u32 pid, tgid;
	__u64 coro; /* the coroutine; switch: the one switched from */
	__u64 to;   /* switch: the coroutine switched to; else 0 */
};

#endif
