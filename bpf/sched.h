/* sched.h: wire format shared by sched.bpf.c and the loader (schedtrace).
 *
 * Only constants and fixed-width structs live here. One struct sched_thread is
 * kept per traced thread in task local storage while it lives, and copied
 * into the `dead` hash map at its final switch-out, so the loader can read
 * every thread of a finished command.
 */
#ifndef SCHEDLAB_BPF_SCHED_H
#define SCHEDLAB_BPF_SCHED_H

#include "events.h"
#include "hist.h"

/* Programs, in the order of the `runs` map (runs.h). */
enum sched_run {
	SCHED_RUN_SWITCH,
	SCHED_RUN_WAKEUP,
	SCHED_RUN_WAKEUP_NEW,
	SCHED_RUN_MIGRATE,
	SCHED_RUN_NR,
};

/* Thread flags. */
#define SCHED_F_IO_WORKER 0x1 /* PF_IO_WORKER: an io_uring io-wq or SQPOLL thread */
#define SCHED_F_DEAD	  0x2 /* its final switch-out (TASK_DEAD) was seen */
#define SCHED_F_SEEN_IN	  0x4 /* it was switched in at least once while traced */
#define SCHED_F_RD_MARK	  0x8 /* rd_mark holds the kernel's run_delay after a switch-in */

/* Where the probe's timestamps come from (rodata targ_clock, --clock). */
enum sched_clock {
	SCHED_CLOCK_KTIME,  /* bpf_ktime_get_ns() at each event: exact (the default) */
	SCHED_CLOCK_KERNEL, /* the scheduler's own: rq->clock, sched_info.last_queued/run_delay */
	SCHED_CLOCK_BOTH,   /* ktime, and the kernel and rq figures beside it (check) */
	SCHED_CLOCK_RQ,	    /* rq->clock where it is fresh, extrapolated with ktime where a
			     * wakeup left it stale */
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
	struct log2_hist runq;	  /* run-queue wait from sched_info, ns */
	struct log2_hist diff;	  /* |ktime - kernel| per paired wait, ns */
	__u32 wake_skip;	  /* the last wakeup asked the rq clock to skip */
	__u32 pad;
	/* what --clock rq would have reported */
	__u64 enq_rts;		  /* became runnable, rq path */
	__u64 offcpu_rts;	  /* last switch-out, rq path */
	__u64 rq_oncpu_sum;	  /* on-CPU time, rq path, ns */
	__u64 rq_offcpu_sum;	  /* off-CPU time, rq path, ns */
	__u64 rq_runq_sum;	  /* run-queue waits timed by both paths: the rq path's sum */
	__u64 rq_runq_ktime_sum;  /* ... and ktime's */
	__u64 rq_skipped_sum;	  /* the rq path's sum of the waits in skipped */
	struct log2_hist rq_diff; /* |ktime - rq path| per such wait, ns */
};

struct sched_thread {
	/* pairing state, on the --clock's time base (rq: the rq clock, sched_clock;
	 * ktime and both: CLOCK_MONOTONIC); 0 = unknown */
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
	struct log2_hist runq;	 /* runnable -> switched in, ns */
	struct log2_hist oncpu;	 /* switch-in -> switch-out, ns */
	struct log2_hist offcpu; /* switch-out -> switch-in, ns */
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
	/* --clock rq/both, written also by wakeups onto this CPU from other
	 * CPUs (they hold this CPU's rq lock, as the switch does) */
	__u64 calib_rq;		  /* this CPU's rq clock, fresh, at a wakeup ... */
	__u64 calib_kt;		  /* ... and ktime then */
	__u64 clock_calibrations; /* calib_* taken (a clock read each) */
	__u64 clock_reads;	  /* switches that read the clock (stale rq clock) */
	__u32 stale;		  /* a wakeup asked the next __schedule() to skip its update */
	__u32 pad2;
	__u64 in_rts; /* --clock both: its switch-in, rq path */
	/* The run-queue wait this switch's prev just added to its histogram
	 * (ktime clocks), for the delay probe, which runs next on the same
	 * tracepoint and attributes exactly the waits counted here; it clears
	 * closed_pid once read. */
	__u32 closed_pid;
	__u32 pad3;
	__u64 closed_enq; /* the wait's start (enq_ts) */
	__u64 closed_in;  /* its end: prev's switch-in */
	__u64 closed_out; /* this switch's time */
};

/* --clock rq: how old a CPU's calibration (calib_rq, calib_kt) may be when
 * a stale rq clock is extrapolated from it, by the rq clock, ns. What an old
 * one can cost: the rate difference of ktime (NTP-steered, at most 500 ppm)
 * and the rq clock (sched_clock) over this interval, 50 ns at worst. */
#define SCHED_CALIB_NS 100000ULL

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

#endif
