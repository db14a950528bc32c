/* stacks.h: wire format shared by stacks.bpf.c and the loader.
 *
 * Where each model waits, as stacks counted in the kernel: stack ids in a
 * BPF_MAP_TYPE_STACK_TRACE map, time summed per (process, kind, kernel
 * stack, user stack, comm, the other side's comm) in `stack_counts`. The
 * loader symbolises after the run (stacks.c, symbols.c).
 */
#ifndef SCHEDLAB_BPF_STACKS_H
#define SCHEDLAB_BPF_STACKS_H

/* Programs, in the order of the `runs` map (runs.h). */
enum stacks_run {
	STACKS_RUN_SWITCH,
	STACKS_RUN_WAKEUP,
	STACKS_RUN_PARK,
	STACKS_RUN_CORO_SWITCH,
	STACKS_RUN_ONCPU,
	STACKS_RUN_NR,
};

enum stacks_kind {
	STACKS_OFFCPU, /* blocked: switch-out stack, weighted by the time until switch-in, ns */
	STACKS_WAKER,  /* the waker's stack at the wakeup, weighted by the blocked time, ns */
	STACKS_PARK,   /* a coroutine's user stack at coro_park, weighted by the time until
			* it is resumed, ns */
	STACKS_ONCPU,  /* sampled on CPU (software clock), samples */
	STACKS_NR,
};

#define STACKS_MAX_IDS	  16384 /* distinct stacks kept */
#define STACKS_MAX_COUNTS 16384
#define STACKS_MAX_PARKED (1 << 16)
#define STACKS_DEPTH	  127 /* PERF_MAX_STACK_DEPTH */
#define STACKS_ONCPU_HZ	  99  /* off the timer tick's multiples */

struct stacks_key {
	__u32 tgid;
	__u32 kind;
	__s32 kstack; /* stack id, or < 0: none (-errno of bpf_get_stackid) */
	__s32 ustack;
	char comm[16];	/* the thread (offcpu, park, oncpu) or the woken thread (waker) */
	char other[16]; /* waker: the waker's comm */
};

struct stacks_value {
	__u64 value; /* ns, or samples for oncpu */
	__u64 count; /* stretches, wakeups, parks or samples */
};

/* Per traced thread, in task storage: its blocked stretch in progress. */
struct stacks_thread {
	__u64 off_ts; /* blocked since; 0: not blocked */
	__s32 kstack, ustack;
	__s32 wkstack, wustack; /* its waker's, when woken while blocked */
	__u32 woken;
	__u32 pad;
	char waker_comm[16];
};

struct stacks_park_key {
	__u32 tgid;
	__u32 pad;
	__u64 id; /* coroutine id */
};

struct stacks_park {
	__u64 ts;
	__s32 ustack;
	__u32 pad;
};

enum stacks_count {
	STACKS_CNT_LOST_COUNTS,	 /* `stack_counts` full */
	STACKS_CNT_LOST_STORAGE, /* task storage could not be created */
	STACKS_CNT_LOST_PARKED,	 /* `parked` full */
	STACKS_CNT_STACK_ERRORS, /* bpf_get_stackid failed (map full, collision) */
	STACKS_CNT_NR,
};

#endif
