/* core_fixes.bpf.h: every kernel-version shim the probes rely on, with why.
 *
 * Minimum kernel: 5.18 for sched.bpf.c, because the tp_btf sched_switch
 * arguments gained `prev_state` in commit fa2c3254d7cf ("sched/tracing: Don't
 * re-read p->state when emitting sched_switch event"). Reading
 * prev->__state at the tracepoint instead would be racy (the task can be
 * woken between the decision and the event) and it was named `state` before
 * 5.14 (commit 2f064a59a11f). We take the argument, so no shim is needed.
 *
 * Macros are not in vmlinux.h (BTF carries types, not #defines), so the few
 * constants we test are copied here from include/linux/sched.h; they have
 * been stable since they were introduced.
 */
#ifndef SCHEDLAB_CORE_FIXES_BPF_H
#define SCHEDLAB_CORE_FIXES_BPF_H

#define TASK_RUNNING 0x0000
#define TASK_DEAD    0x0080	/* do_task_dead(): the final switch-out */
#define PF_EXITING   0x00000004 /* set by exit_signals() early in do_exit() */
#define PF_IO_WORKER 0x00000010 /* io_uring io-wq and SQPOLL threads (5.12+) */

/* rq->clock_update_flags (kernel/sched/sched.h, since 4.11): a wakeup that
 * preempts the running task sets REQ_SKIP (wakeup_preempt(), before the
 * sched_wakeup tracepoint), and the next __schedule() on that run queue
 * then leaves rq->clock where the wakeup left it. */
#define RQCF_REQ_SKIP 0x01

/* The run queue a task is on (or last ran on): the per-CPU `runqueues`
 * symbol is out of reach without CONFIG_KALLSYMS_ALL, but every task points
 * at its CPU's run queue through its CFS run queue (CONFIG_FAIR_GROUP_SCHED;
 * set_task_rq() keeps it for every class). Needs vmlinux.h first. */
static __always_inline struct rq *rq_of(struct task_struct *t)
{
	return t->se.cfs_rq->rq;
}

#endif
