/* delay.h: wire format shared by delay.bpf.c and the loader.
 *
 * The delay probe answers "who held the CPU while I waited": each run-queue
 * wait of a traced thread, as the sched probe times it, is cut into the run
 * segments of the tasks that ran on that CPU meanwhile (any task, kernel
 * threads and the idle task included), or into a named remainder where that
 * cannot be told. Aggregated in the kernel per (victim thread, culprit).
 */
#ifndef SCHEDLAB_BPF_DELAY_H
#define SCHEDLAB_BPF_DELAY_H

#include "hist.h"

/* Programs, in the order of the `runs` map (runs.h). */
enum delay_run { DELAY_RUN_SWITCH, DELAY_RUN_MIGRATE, DELAY_RUN_NR };

/* Run segments kept per CPU, newest last (a power of two): 192 KiB per CPU,
 * enough for waits of seconds on a machine busy with short switches; the
 * walk of one wait stops at its start, so the depth costs only memory. A
 * wait older
 * than the oldest kept segment leaves its beginning unattributed
 * (DELAY_REM_WINDOW). */
#define DELAY_RING 4096

/* What a part of a wait is charged to when not to a task. */
enum delay_remainder {
	DELAY_REM_WINDOW,    /* the CPU's kept run segments did not reach back far enough */
	DELAY_REM_MIGRATION, /* waited on another CPU before a migration, out of that
			      * CPU's ring's reach */
	DELAY_REM_LOST,	     /* the (victim, culprit) row could not be stored */
	DELAY_REM_NR,
};

/* One stretch of one task on one CPU: [start, end). */
struct delay_seg {
	__u64 start, end;
	__u32 tid, tgid; /* tid 0: the idle task */
	__u32 kthread;	 /* PF_KTHREAD */
	__u32 pad;
	char comm[16];
};

struct delay_cpu {
	__u64 head;	 /* segments written so far; the newest is at (head - 1) % DELAY_RING */
	__u64 cur_start; /* the running task's switch-in, 0: not seen yet */
	struct delay_seg seg[DELAY_RING];
};

/* Key of `delay_rows`: victim thread and culprit (a task, or a remainder). */
struct delay_key {
	__u32 victim;  /* tid */
	__u32 culprit; /* tid (0: idle), or the remainder when is_rem */
	__u32 is_rem;
	__u32 pad;
};

struct delay_row {
	__u32 victim_tgid;
	__u32 culprit_tgid;
	__u32 kthread;
	__u32 pad;
	char culprit_comm[16];
	__u64 total_ns;		/* the victim's wait while this culprit ran */
	__u64 waits;		/* waits it took part in */
	struct log2_hist delay; /* its share of each such wait, ns */
};

/* Per victim thread (`delay_victims`, key: tid). */
struct delay_victim {
	__u32 tgid;
	__u32 pad;
	char comm[16];
	__u64 waits;	     /* waits attributed */
	__u64 wait_ns;	     /* their length, as the sched probe takes it */
	__u64 attributed_ns; /* charged to tasks */
	__u64 remainder_ns[DELAY_REM_NR];
	__u64 mig_ts; /* its wait is charged up to here: the last move while it
		       * waited (sched's clock) */
};

enum delay_count {
	DELAY_CNT_WAITS,	/* waits attributed */
	DELAY_CNT_LOST_VICTIMS, /* `delay_victims` full: a thread's waits not attributed */
	DELAY_CNT_LOST_ROWS,	/* `delay_rows` full: charged to DELAY_REM_LOST */
	DELAY_CNT_SEGMENTS,	/* run segments recorded */
	DELAY_CNT_PAST_RING,	/* walks that went through a full ring before the wait's start */
	DELAY_CNT_BEFORE_FIRST, /* walks that reached a ring's first segment before the wait's
				 * start (the wait began before the probe saw that CPU) */
	DELAY_CNT_GAPS,		/* walks that found time between two kept segments */
	DELAY_CNT_NR,
};

#define DELAY_MAX_VICTIMS 8192
#define DELAY_MAX_ROWS	  16384

#endif
