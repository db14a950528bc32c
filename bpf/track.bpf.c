// SPDX-License-Identifier: GPL-2.0
/* track.bpf.c: follow the traced command's descendants.
 *
 * Always loaded, whatever probes were asked for: it owns the `tracked` map
 * (tgid -> struct track_proc) that every other probe filters on. Threads need
 * no work here, since they share their process's tgid; io_uring's iou-wrk-*
 * and iou-sqp-* threads are threads of the submitting process, so they are
 * covered too. A new process (fork/vfork/clone without CLONE_THREAD) of a
 * tracked process is added at sched_process_fork, which fires before the child
 * is first woken, so none of its events is missed.
 *
 * Known limit: a tgid stays in the map after its process exits; if the system
 * reuses that number for an unrelated process during the run, it is traced
 * too. pid_max is large and runs are short: accepted.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "track.bpf.h"
#include "runs.bpf.h"
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* The tracer itself (command mode): the command it forks is tracked from
 * birth, so even its switches before exec are counted, as rusage counts
 * them. 0 in --pid mode. */
const volatile __u32 targ_tracer_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TRACK_CNT_NR);
	__type(key, __u32);
	__type(value, __u64);
} track_counts SEC(".maps");

static __always_inline void count(__u32 idx)
{
	count_in(&track_counts, idx);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(st_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	struct track_proc proc = {};

	count_run(TRACK_RUN_FORK);
	/* a new thread: its tgid is already tracked (or not ours) */
	if (ctgid == ptgid)
		return 0;
	if (targ_tracer_tgid && ptgid == targ_tracer_tgid) {
		proc.parent_tgid = 0; /* the command: the root */
	} else if (!track_lookup(ptgid)) {
		/* not a descendant of the traced command */
		return 0;
	} else {
		proc.parent_tgid = ptgid;
	}
	proc.fork_ns = bpf_ktime_get_ns();
	/* the child has not run yet: marked before any of its events */
	track_mark(ctgid);
	if (bpf_map_update_elem(&tracked, &ctgid, &proc, BPF_NOEXIST)) {
		count(TRACK_CNT_LOST_FORKS);
		return 0;
	}
	count(TRACK_CNT_FORKS);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(st_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct track_proc *proc = track_lookup(p->tgid);

	count_run(TRACK_RUN_EXEC);
	/* not ours */
	if (!proc)
		return 0;
	__sync_fetch_and_add(&proc->execs, 1);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(st_exit, struct task_struct *p)
{
	struct track_proc *proc;

	count_run(TRACK_RUN_EXIT);
	/* only the leader's exit ends the process as the loader reports it */
	if (p->pid != p->tgid)
		return 0;
	proc = track_lookup(p->tgid);
	/* not ours */
	if (!proc)
		return 0;
	proc->exited = 1;
	proc->exit_code = p->exit_code;
	return 0;
}
