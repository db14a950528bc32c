// SPDX-License-Identifier: GPL-2.0
/* sched.bpf.c: what the kernel scheduler did to the traced threads.
 *
 * Per thread, aggregated in the kernel: switches (voluntary / involuntary),
 * migrations, wakeups, and log2 histograms of run-queue latency, on-CPU slice
 * length and off-CPU time. The loader sums rows into processes and totals.
 *
 * Design:
 * - tp_btf programs (kernel >= 5.18, see core_fixes.bpf.h); the idle task
 *   (pid 0) is never counted.
 * - "Ours" = the task's tgid is in `tracked` (track.bpf.c). sched_switch runs
 *   on every context switch of the machine, so the answer is made cheap:
 *   first the `tracked_bloom` bit of the tgid (track.h; one inlined array
 *   load rejects nearly every task not ours, no helper call), then the
 *   thread's task-local-storage value (a traced thread owns one), and the
 *   `tracked` hash only for a traced process's thread seen for the first
 *   time.
 * - One storage lookup per switch, for prev: what a switch-in has to record
 *   (its time, and with --clock kernel the kernel's run-queue stamps) goes
 *   into a per-CPU slot (`cpu_state`), and the thread's run-queue and
 *   off-CPU samples are finished at its switch-out, which happens on the
 *   same CPU. A running thread read live (--pid) lacks its current stretch.
 * - Times (--clock, docs/tracer.md). A clock read (bpf_ktime_get_ns) costs
 *   100 ns or so here: the clocksource is reached through a retpolined
 *   indirect call. ktime (the default) reads it at every switch and wakeup:
 *   exact. rq takes the rq clock, which the waking
 *   path and __schedule() update just before the tracepoints, except at the
 *   switch after a wakeup that preempted (it asks __schedule() to skip the
 *   update, rq_clock_skip_update): the wakeup marks its CPU's slot, and that
 *   switch reads the clock once and extrapolates from the slot's calibration
 *   (the rq clock and ktime at one wakeup, renewed at most every 100 us).
 *   ktime reads the clock once per switch, shared by prev and next, and once
 *   per wakeup. kernel reads none and takes the kernel's own run-queue
 *   stamps (sched_info) besides: it reads short the waits that began with a
 *   wakeup preemption. both does ktime and keeps the kernel's and the rq
 *   path's figures beside, to show the differences. --wake-sample N times
 *   1 wakeup in N (ktime only).
 *   BPF run-time statistics cost two clock reads per program run: the
 *   loader turns them on only with --cost (trace_probes.c).
 * - Everything about a thread lives in that storage value (timestamps,
 *   counters, histograms): no shared map on the hot path, no locks. At the
 *   thread's final switch-out (prev_state == TASK_DEAD) the value is copied
 *   into `dead`, keyed by (tid, start time), since task storage dies with the
 *   task. Live threads (--pid mode) are read through pidfds.
 * - voluntary = !preempt && prev_state != TASK_RUNNING; involuntary = the rest.
 *   That is the test __schedule() makes before counting nvcsw / nivcsw, and
 *   it matched getrusage on this kernel (docs/tracer.md). A thread that exits is
 *   released (release_task() -> __exit_signal() adds its nvcsw/nivcsw to the
 *   process and clears ->sighand) before its last switches: typically one
 *   preemption by the thread it woke, and the final TASK_DEAD switch-out.
 *   getrusage/wait4 cannot see those, so they are also counted apart
 *   (released_*): switches - released_* is what rusage reports. The preempt flag alone
 *   is not enough: tick preemption of a running task arrives with preempt=0
 *   and prev_state=0. Exception, racy and bounded: a task that had a signal
 *   pending while blocking is counted nvcsw by the kernel but reported with
 *   prev_state = TASK_RUNNING, so we call it involuntary.
 * - Run-queue latency starts at sched_wakeup / sched_wakeup_new, or at a
 *   switch-out that left the task runnable, and ends at its next switch-in;
 *   a wakeup of a task still on its CPU, or already waiting, moves nothing.
 * - Counters are plain increments on per-thread data. The only writer race is
 *   a migration of a task whose wakeup is being handled on another CPU;
 *   the scheduler holds the task's rq lock for both, so it does not happen
 *   in practice. Every event we could not record or pair is counted in
 *   `counts` (per-CPU) and reported under `lost`.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "core_fixes.bpf.h"
#include "hist.bpf.h"
#include "sched.h"
#include "track.bpf.h"
#include "sched_maps.bpf.h"
#include "runs.bpf.h"
#include "maps.bpf.h"
#include "events.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* make's build/bench/schedtrace-floor (scripts/bench-tracer): the same
 * programs on the same tracepoints, returning at once */
#ifdef SCHED_FLOOR
#define FLOOR_RETURN() return 0
#else
#define FLOOR_RETURN()                                                                             \
	do {                                                                                       \
	} while (0)
#endif

#ifndef likely
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

/* Set by the loader between open and load. */
const volatile bool targ_events = false;	  /* --events: write ring buffer records */
const volatile __u32 targ_clock = SCHED_CLOCK_RQ; /* --clock */
const volatile __u32 targ_wake_sample = 1;	  /* --wake-sample: time 1 wakeup in N */

/* Rows of threads that ended; max_entries set by the loader (--max-threads). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct sched_dead_key);
	__type(value, struct sched_thread);
} dead SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCHED_CNT_NR);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __always_inline void count(__u32 idx)
{
	count_in(&counts, idx);
}

/* The thread's storage, created on first sight if its process is traced;
 * NULL if the task is not ours (or storage could not be had: counted). */
static __always_inline struct sched_thread *thread_of(struct task_struct *t)
{
	__u32 tgid = t->tgid;
	struct sched_thread *s;

	/* Most events of the machine are not ours: the filter rejects them
	 * before any helper call. A task with storage always passes it (its
	 * tgid's bit was set before the storage was made, and is never
	 * cleared). */
	if (!track_maybe(tgid))
		return NULL;
	s = bpf_task_storage_get(&threads, t, 0, 0);
	if (s)
		return s;
	if (!bpf_map_lookup_elem(&tracked, &tgid))
		return NULL;
	s = bpf_task_storage_get(&threads, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s) {
		count(SCHED_CNT_LOST_STORAGE);
		return NULL;
	}
	s->pid = t->pid;
	s->tgid = tgid;
	s->start_ns = t->start_time;
	if (t->flags & PF_IO_WORKER)
		s->flags |= SCHED_F_IO_WORKER;
	bpf_probe_read_kernel_str(s->comm, sizeof(s->comm), t->comm);
	return s;
}

static __always_inline void emit(__u64 now, __u16 type, struct task_struct *t,
				 struct task_struct *other, __u32 arg, __u32 flags)
{
	struct event_sched *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(SCHED_CNT_LOST_EVENTS);
		return;
	}
	e->ts_ns = now;
	e->version = EVENTS_VERSION;
	e->type = type;
	e->cpu = bpf_get_smp_processor_id();
	e->pid = t->pid;
	e->tgid = t->tgid;
	e->other_pid = other ? other->pid : 0;
	e->other_tgid = other ? other->tgid : 0;
	e->arg = arg;
	e->flags = flags;
	/* no wakeup: the loader drains on a timer (a wakeup per event costs 2x) */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	count(SCHED_CNT_EVENTS);
}

/* The final switch-out of an exiting thread: keep its row. */
static __always_inline void keep_dead(struct sched_thread *s, struct task_struct *t)
{
	struct sched_dead_key key = {.pid = s->pid, .start_ns = s->start_ns};

	s->flags |= SCHED_F_DEAD;
	/* the name it had at first sight may predate an exec */
	bpf_probe_read_kernel_str(s->comm, sizeof(s->comm), t->comm);
	if (bpf_map_update_elem(&dead, &key, s, BPF_ANY))
		count(SCHED_CNT_LOST_DEAD_ROWS);
	count(SCHED_CNT_DEAD);
}

/* This CPU's rq->clock, through a task switching here (rq_of). */
static __always_inline __u64 rq_clock_of(struct task_struct *t)
{
	return rq_of(t)->clock;
}

/* The clock paths a --clock choice runs: the kernel's figures (kernel, and
 * both beside ktime), the rq path (rq, and both beside ktime). */
#define CLOCK_KERNEL_PATH (targ_clock == SCHED_CLOCK_KERNEL || targ_clock == SCHED_CLOCK_BOTH)
#define CLOCK_RQ_PATH	  (targ_clock == SCHED_CLOCK_RQ || targ_clock == SCHED_CLOCK_BOTH)

/* A wakeup left the rq clock of its target CPU stale for that CPU's next
 * switch (RQCF_REQ_SKIP), or may have (a new task: its wakeup_preempt()
 * runs after the tracepoint): say so in that CPU's slot. The rq clock is
 * fresh here (the waking path just updated it), so this is where the slot's
 * calibration (the rq clock and ktime at one moment) is renewed when it is
 * older than SCHED_CALIB_NS: one clock read per CPU at most that often. */
static __always_inline void mark_stale(struct rq *rq)
{
	__u32 zero = 0, cpu = rq->cpu;
	struct sched_cpu *c;
	__u64 clock = rq->clock;

	/* most wakeups that preempt are of a task on the waker's CPU */
	if (cpu == bpf_get_smp_processor_id())
		c = bpf_map_lookup_elem(&cpu_state, &zero);
	else
		c = bpf_map_lookup_percpu_elem(&cpu_state, &zero, cpu);
	if (!c)
		return;
	c->stale = 1;
	if (clock - c->calib_rq > SCHED_CALIB_NS) {
		c->calib_kt = bpf_ktime_get_ns();
		c->calib_rq = clock;
		c->clock_calibrations++;
	}
}

/* The switch's time on the rq path: the rq clock __schedule() just
 * updated, unless a wakeup marked it stale; then the time from the CPU's
 * calibration plus the ktime elapsed since (one clock read). kt: ktime
 * already read here, or 0. The mark is spent unless a wakeup since
 * __schedule()'s update asked the next one to skip as well. */
static __always_inline __u64 rq_now(struct sched_cpu *c, struct rq *rq, __u64 kt)
{
	__u64 now;

	if (likely(!c->stale))
		return rq->clock;
	if (!kt) {
		kt = bpf_ktime_get_ns();
		c->clock_reads++;
	}
	now = c->calib_rq + (kt - c->calib_kt);
	if (!(rq->clock_update_flags & RQCF_REQ_SKIP))
		c->stale = 0;
	return now;
}

/* A switch none of ours takes part in spends the mark all the same. */
static __always_inline void spend_mark(struct sched_cpu *c, struct task_struct *prev)
{
	if (c->stale && !(rq_of(prev)->clock_update_flags & RQCF_REQ_SKIP))
		c->stale = 0;
}

/* a - b, or 0 where two stamps taken on the rq path cross: a fresh rq clock
 * is that of __schedule()'s update, a little before the tracepoint, an
 * extrapolated one is the tracepoint's own */
static __always_inline __u64 since(__u64 a, __u64 b)
{
	return a > b ? a - b : 0;
}

/* The work of the switch-in that began the on-CPU stretch now ending:
 * its run-queue wait and the off-CPU time before it. */
/* The wait that ended at a switch-in, from the kernel's own accounting: the
 * part still pending then (rq clock - last_queued), plus what run_delay
 * gained since our last switch-in (a wait cut in two by a migration while
 * queued). false: the kernel saw no wait. */
static __always_inline bool kernel_runq(struct sched_thread *s, const struct sched_cpu *c,
					__u64 *lat)
{
	/* the task's last switch-out on the rq clock */
	__u64 offcpu_kts = targ_clock == SCHED_CLOCK_KERNEL ? s->offcpu_ts : s->check.offcpu_kts;
	__u64 before = c->run_delay - s->rd_mark;
	bool marked = s->flags & SCHED_F_RD_MARK;
	/* a stamp older than the task's last switch-out is left over from a
	 * wait the kernel never closed (no sched_info_arrive() for it): the
	 * task was not waiting since then, so it is not a wait */
	bool queued = c->queued_at && c->queued_at >= offcpu_kts;
	__u64 pending = queued && c->in_kts > c->queued_at ? c->in_kts - c->queued_at : 0;

	*lat = pending + (marked ? before : 0);
	/* what sched_info_arrive() made it at that switch-in */
	s->rd_mark = c->run_delay + pending;
	s->flags |= SCHED_F_RD_MARK;
	return queued || (marked && before);
}

/* --clock both: the same wait through the kernel's accounting, beside. */
static __always_inline void check_runq(struct sched_thread *s, const struct sched_cpu *c,
				       __u64 ktime_lat)
{
	struct sched_clock_check *k = &s->check;
	__u64 lat;

	if (!kernel_runq(s, c, &lat))
		return;
	hist_add(&k->runq, lat);
	hist_add(&k->diff, lat > ktime_lat ? lat - ktime_lat : ktime_lat - lat);
	if (k->wake_skip) {
		k->skipped++;
		k->skipped_ktime_sum += ktime_lat;
		k->skipped_kernel_sum += lat;
	}
}

/* --clock both: the same wait on the rq path, beside. */
static __always_inline void check_rq_runq(struct sched_thread *s, const struct sched_cpu *c,
					  __u64 ktime_lat)
{
	struct sched_clock_check *k = &s->check;
	__u64 lat;

	if (!k->enq_rts)
		return;
	lat = since(c->in_rts, k->enq_rts);
	k->rq_runq_sum += lat;
	k->rq_runq_ktime_sum += ktime_lat;
	if (k->wake_skip)
		k->rq_skipped_sum += lat;
	hist_add(&k->rq_diff, lat > ktime_lat ? lat - ktime_lat : ktime_lat - lat);
}

/* The work of the switch-in that began the on-CPU stretch now ending:
 * its run-queue wait and the off-CPU time before it. */
static __always_inline void finish_switch_in(struct sched_thread *s, struct sched_cpu *c)
{
	__u64 lat;

	if (targ_clock == SCHED_CLOCK_KERNEL) {
		if (likely(kernel_runq(s, c, &lat)))
			hist_add(&s->runq, lat);
		else
			count(SCHED_CNT_UNPAIRED_IN);
	} else if (targ_wake_sample > 1 && s->enq_ts == SCHED_ENQ_UNSAMPLED) {
		s->runq_unsampled++;
	} else if (likely(s->enq_ts && (targ_clock == SCHED_CLOCK_RQ || s->enq_ts <= c->in_ts))) {
		lat = since(c->in_ts, s->enq_ts);
		hist_add(&s->runq, lat);
		c->closed_pid = s->pid;
		c->closed_enq = s->enq_ts;
		c->closed_in = c->in_ts;
		if (targ_clock == SCHED_CLOCK_BOTH) {
			check_runq(s, c, lat);
			check_rq_runq(s, c, lat);
		}
	} else {
		count(SCHED_CNT_UNPAIRED_IN);
		/* --clock both: keep the run_delay mark moving */
		if (targ_clock == SCHED_CLOCK_BOTH)
			kernel_runq(s, c, &lat);
	}
	if (likely(s->offcpu_ts))
		hist_add(&s->offcpu, since(c->in_ts, s->offcpu_ts));
	if (targ_clock == SCHED_CLOCK_BOTH && s->check.offcpu_kts)
		s->check.offcpu_sum += c->in_kts - s->check.offcpu_kts;
	if (targ_clock == SCHED_CLOCK_BOTH && s->check.offcpu_rts)
		s->check.rq_offcpu_sum += since(c->in_rts, s->check.offcpu_rts);
	if (targ_clock == SCHED_CLOCK_BOTH)
		s->check.wake_skip = 0;
	if (unlikely(!(s->flags & SCHED_F_SEEN_IN)))
		s->flags |= SCHED_F_SEEN_IN;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(st_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	struct sched_thread *ps = NULL;
	struct sched_cpu *c;
	bool voluntary, next_maybe;
	__u32 zero = 0;
	__u64 now, know = 0, rnow = 0;

	FLOOR_RETURN();
	count_run(SCHED_RUN_SWITCH);
	c = bpf_map_lookup_elem(&cpu_state, &zero);
	if (!c)
		return 0;
	/* This runs on every context switch of the machine: find out whether
	 * either side may be ours before any other work (pid 0, the idle task,
	 * is never counted), and read the clock once, only then. Only prev's
	 * storage is looked up; next's turn comes at its switch-out. */
	if (prev->pid)
		ps = thread_of(prev);
	next_maybe = next->pid && track_maybe(next->tgid);
	/* with --events the stream holds only our tasks: ask `tracked` */
	if (targ_events && next_maybe && !ps) {
		__u32 tgid = next->tgid;

		next_maybe = bpf_map_lookup_elem(&tracked, &tgid) != NULL;
	}
	if (!ps && !next_maybe) {
		if (c->pid)
			c->pid = 0;
		if (CLOCK_RQ_PATH)
			spend_mark(c, prev);
		return 0;
	}
	/* __schedule() updated the rq clock just before this tracepoint
	 * (unless a wakeup preemption asked it to skip the update) */
	if (CLOCK_KERNEL_PATH)
		know = rq_clock_of(ps ? prev : next);
	if (targ_clock == SCHED_CLOCK_KERNEL)
		now = know;
	else if (targ_clock == SCHED_CLOCK_RQ)
		now = rq_now(c, rq_of(prev), 0);
	else
		now = bpf_ktime_get_ns();
	if (targ_clock == SCHED_CLOCK_BOTH)
		rnow = rq_now(c, rq_of(prev), now);
	voluntary = !preempt && prev_state != TASK_RUNNING;
	if (ps) {
		if (likely(c->pid == prev->pid)) {
			finish_switch_in(ps, c);
			c->closed_out = now;
			hist_add(&ps->oncpu, since(now, c->in_ts));
			if (targ_clock == SCHED_CLOCK_BOTH) {
				ps->check.oncpu_sum += know - c->in_kts;
				ps->check.rq_oncpu_sum += since(rnow, c->in_rts);
			}
		} else {
			count(SCHED_CNT_UNPAIRED_OUT);
		}
		ps->switches++;
		if (voluntary) {
			ps->voluntary_switches++;
			ps->enq_ts = 0; /* blocked: latency starts at its wakeup */
		} else {
			ps->involuntary_switches++;
			ps->enq_ts = now; /* still runnable: waiting from now */
		}
		if (targ_clock == SCHED_CLOCK_BOTH)
			ps->check.enq_rts = voluntary ? 0 : rnow;
		/* a released thread's counts are already in its process's
		 * rusage: keep the ones after apart */
		if (unlikely((prev->flags & PF_EXITING) && !prev->sighand)) {
			if (voluntary)
				ps->released_voluntary_switches++;
			else
				ps->released_involuntary_switches++;
		}
		ps->offcpu_ts = now;
		if (targ_clock == SCHED_CLOCK_BOTH) {
			ps->check.offcpu_kts = know;
			ps->check.offcpu_rts = rnow;
		}
		if (unlikely(prev_state & TASK_DEAD))
			keep_dead(ps, prev);
	}
	c->pid = next_maybe ? next->pid : 0;
	if (next_maybe) {
		c->in_ts = now;
		if (CLOCK_KERNEL_PATH) {
			c->queued_at = next->sched_info.last_queued;
			c->run_delay = next->sched_info.run_delay;
			c->in_kts = know;
		}
		if (targ_clock == SCHED_CLOCK_BOTH)
			c->in_rts = rnow;
	}
	/* the stream is on CLOCK_MONOTONIC whatever --clock says */
	if (targ_events)
		emit(targ_clock == SCHED_CLOCK_KTIME || targ_clock == SCHED_CLOCK_BOTH
			     ? now
			     : bpf_ktime_get_ns(),
		     EV_SWITCH, prev, next, prev_state,
		     (preempt ? EV_F_PREEMPT : 0) | (voluntary ? EV_F_VOLUNTARY : 0));
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(st_wakeup, struct task_struct *p)
{
	struct sched_thread *s;
	struct rq *rq = NULL;

	FLOOR_RETURN();
	count_run(SCHED_RUN_WAKEUP);
	/* Any task's wakeup that preempts stalls the rq clock for the next
	 * switch on its CPU, which may be one of ours: the rq path notes it
	 * (wakeup_preempt() ran just before this tracepoint). */
	if (CLOCK_RQ_PATH) {
		rq = rq_of(p);
		if (rq->clock_update_flags & RQCF_REQ_SKIP)
			mark_stale(rq);
	}
	s = thread_of(p);
	/* not ours */
	if (!s)
		return 0;
	s->wakeups++;
	/* Its wait starts now, unless it is still on its CPU (woken before it
	 * blocked: it waits for nothing) or already waiting since a preemption
	 * (the kernel's sched_info keeps that start too). --clock kernel: the
	 * start is sched_info.last_queued, no clock read here; --clock rq: the
	 * rq clock the waking path just updated. */
	if (targ_clock != SCHED_CLOCK_KERNEL && !p->on_cpu && !s->enq_ts) {
		if (targ_wake_sample > 1 && s->sample_left) {
			/* --wake-sample: counted, not timed */
			s->sample_left--;
			s->enq_ts = SCHED_ENQ_UNSAMPLED;
		} else {
			s->enq_ts =
				targ_clock == SCHED_CLOCK_RQ && rq ? rq->clock : bpf_ktime_get_ns();
			s->sample_left = targ_wake_sample - 1;
		}
		/* --clock both: did this wakeup preempt (and so stall the rq
		 * clock)? And its start on the rq path. */
		if (targ_clock == SCHED_CLOCK_BOTH && rq) {
			s->check.wake_skip = rq->clock_update_flags & RQCF_REQ_SKIP;
			s->check.enq_rts = rq->clock;
		}
	}
	if (targ_events)
		emit(bpf_ktime_get_ns(), EV_WAKEUP, p, bpf_get_current_task_btf(), 0, 0);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(st_wakeup_new, struct task_struct *p)
{
	struct sched_thread *s;
	struct rq *rq;
	__u64 now;

	FLOOR_RETURN();
	count_run(SCHED_RUN_WAKEUP_NEW);
	/* wake_up_new_task() calls wakeup_preempt() after this tracepoint: the
	 * rq path cannot see whether it will preempt, so it marks always (a
	 * mark on a clock that turns out fresh costs a read, not exactness) */
	rq = rq_of(p);
	if (CLOCK_RQ_PATH)
		mark_stale(rq);
	s = thread_of(p);
	/* not ours */
	if (!s)
		return 0;
	now = bpf_ktime_get_ns();
	if (targ_clock == SCHED_CLOCK_RQ)
		s->enq_ts = rq->clock;
	else if (targ_clock != SCHED_CLOCK_KERNEL)
		s->enq_ts = now;
	if (targ_clock == SCHED_CLOCK_BOTH)
		s->check.enq_rts = rq->clock;
	count(SCHED_CNT_BORN);
	if (targ_events)
		emit(now, EV_WAKEUP_NEW, p, bpf_get_current_task_btf(), 0, 0);
	return 0;
}

SEC("tp_btf/sched_migrate_task")
int BPF_PROG(st_migrate, struct task_struct *p, int dest_cpu)
{
	struct sched_thread *s;

	FLOOR_RETURN();
	s = thread_of(p);
	count_run(SCHED_RUN_MIGRATE);
	/* not ours */
	if (!s)
		return 0;
	s->migrations++;
	s->last_cpu = dest_cpu;
	if (targ_events)
		emit(bpf_ktime_get_ns(), EV_MIGRATE, p, NULL, dest_cpu, 0);
	return 0;
}
