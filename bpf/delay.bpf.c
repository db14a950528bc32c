// SPDX-License-Identifier: GPL-2.0
/* delay.bpf.c: who held the CPU while a traced thread waited for it.
 *
 * Every context switch of the machine closes the run segment of the task
 * going out in a per-CPU ring (struct delay_cpu, DELAY_RING segments: start,
 * end, tid, tgid, comm, whether a kernel thread; the idle task is tid 0).
 * When a traced thread is switched in after a run-queue wait, the wait is
 * walked back through that CPU's ring (bpf_loop, bounded by the ring) and
 * each overlapping segment charges its overlap to (victim, culprit) in
 * `delay_rows`: total ns, segments, a log2 histogram of single overlaps.
 * A thread moved while it waits has the part spent on the CPU it leaves
 * charged at the move, along that CPU's ring and to the task running there
 * (dl_migrate). What a ring cannot cover goes to a named remainder, never
 * nowhere: the ring did not reach back, or had a hole (window; on the CPU
 * left, migration), or the row could not be stored (lost). Each ring starts
 * at the moment the loader stamps after attaching (attached_ns): whatever a
 * CPU runs at its first switch seen has run since then.
 *
 * The wait itself is the sched probe's, not a second measurement: this
 * object shares sched.bpf.c's `threads` task storage and `cpu_state` (the
 * loader reuses their fds) and runs after it on the same tracepoint (it is
 * attached later; a tracepoint runs its programs in attach order). The
 * sched program adds a thread's wait to its run-queue histogram at the
 * switch-out that ends the on-CPU stretch the wait led to, and leaves that
 * wait (start, end) in cpu_state.closed_*; this program walks it at the
 * same switch. The same waits, by the same events: attributed + remainder
 * is the sched probe's run-queue time, which the tests check, with the
 * remainder small. The clock must be ktime (--clock ktime or both): the ring
 * boundaries of switches no traced thread takes part in are read here with
 * bpf_ktime_get_ns(), about 100 ns per switch of the machine.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "core_fixes.bpf.h"
#include "hist.bpf.h"
#include "sched.h"
#include "delay.h"
/* sched.bpf.c's thread storage and per-CPU state (the loader reuses its fds) */
#include "sched_maps.bpf.h"
#include "runs.bpf.h"
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define PF_KTHREAD 0x00200000

/* One ring per CPU, indexed by CPU id (max_entries set by the loader): a
 * plain array, because a per-CPU value may not exceed 32 KiB. Each is
 * written and walked only by its own CPU's switches. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct delay_cpu);
} delay_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DELAY_MAX_VICTIMS);
	__type(key, __u32);
	__type(value, struct delay_victim);
} delay_victims SEC(".maps");

struct {
	/* preallocated: an allocation inside __schedule() (interrupts off)
	 * failed for about one new row in 200 */
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DELAY_MAX_ROWS);
	__type(key, struct delay_key);
	__type(value, struct delay_row);
} delay_rows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DELAY_CNT_NR);
	__type(key, __u32);
	__type(value, __u64);
} delay_counts SEC(".maps");

static __always_inline void count(__u32 idx)
{
	count_in(&delay_counts, idx);
}

/* The victim's row, created on first sight. */
static __always_inline struct delay_victim *victim_of(struct task_struct *t)
{
	static const struct delay_victim zero;
	__u32 tid = t->pid;
	struct delay_victim *v = lookup_or_init(&delay_victims, &tid, &zero);

	if (!v) {
		count(DELAY_CNT_LOST_VICTIMS);
		return NULL;
	}
	/* the name as of its last wait: the first may predate an exec */
	v->tgid = t->tgid;
	__builtin_memcpy(v->comm, t->comm, sizeof(v->comm));
	return v;
}

/* Charge ns of victim's wait to one segment's task. */
static __always_inline void charge(__u32 victim, __u32 victim_tgid, struct delay_victim *v,
				   const struct delay_seg *s, __u64 ns)
{
	static const struct delay_row zero;
	struct delay_key key = {.victim = victim, .culprit = s->tid};
	struct delay_row *r;

	r = lookup_or_init(&delay_rows, &key, &zero);
	if (!r) {
		count(DELAY_CNT_LOST_ROWS);
		v->remainder_ns[DELAY_REM_LOST] += ns;
		return;
	}
	if (!r->waits) {
		r->victim_tgid = victim_tgid;
		r->culprit_tgid = s->tgid;
		r->kthread = s->kthread;
		__builtin_memcpy(r->culprit_comm, s->comm, sizeof(r->culprit_comm));
	}
	r->total_ns += ns;
	r->waits++;
	hist_add(&r->delay, ns);
	v->attributed_ns += ns;
}

/* bpf_loop's walk back through one CPU's ring over [lo, hi). */
struct walk {
	__u64 lo, hi; /* hi moves back to each segment's start */
	__u64 head;
	__u64 gap; /* parts of [lo, hi) between two kept segments: none on a ring
		    * its own CPU wrote at every switch, but counted, never lost */
	__u32 cpu;
	__u32 victim, victim_tgid;
	struct delay_victim *v;
};

static long walk_one(__u32 i, void *arg)
{
	struct walk *w = arg;
	struct delay_cpu *dc = bpf_map_lookup_elem(&delay_ring, &w->cpu);
	struct delay_seg *s;
	__u64 from, to;

	if (!dc || i >= w->head)
		return 1; /* fewer segments than the ring holds: the window ends */
	s = &dc->seg[(w->head - 1 - i) & (DELAY_RING - 1)];
	to = s->end > w->lo ? s->end : w->lo;
	if (to < w->hi) {
		w->gap += w->hi - to;
		w->hi = to;
	}
	from = s->start > w->lo ? s->start : w->lo;
	if (w->hi > from)
		charge(w->victim, w->victim_tgid, w->v, s, w->hi - from);
	if (from < w->hi)
		w->hi = from;
	return w->hi <= w->lo; /* reached the wait's start */
}

/* Charges [lo, hi) along cpu's ring, from its newest segment back; returns
 * what it could not charge (before the ring's oldest segment, or between
 * two of them). */
static __always_inline __u64 walk_ring(struct walk *w, __u32 cpu, __u64 lo, __u64 hi)
{
	struct delay_cpu *dc = bpf_map_lookup_elem(&delay_ring, &cpu);

	if (!dc || hi <= lo)
		return hi > lo ? hi - lo : 0;
	w->cpu = cpu;
	w->lo = lo;
	w->hi = hi;
	w->gap = 0;
	w->head = dc->head;
	bpf_loop(DELAY_RING, walk_one, w, 0);
	if (w->gap)
		count(DELAY_CNT_GAPS);
	if (w->hi > w->lo)
		count(w->head >= DELAY_RING ? DELAY_CNT_PAST_RING : DELAY_CNT_BEFORE_FIRST);
	return w->gap + (w->hi > w->lo ? w->hi - w->lo : 0);
}

/* A task as a run segment's culprit. */
static __always_inline void seg_of(struct delay_seg *s, struct task_struct *t)
{
	s->tid = t->pid;
	s->tgid = t->tgid;
	s->kthread = !!(t->flags & PF_KTHREAD);
	__builtin_memcpy(s->comm, t->comm, sizeof(s->comm));
}

/* Set by the loader right after this object's programs are attached
 * (CLOCK_MONOTONIC, read after attaching): a CPU's first switch seen
 * closes a segment of its prev from here, since no switch there since can
 * have been missed. 0 until then: that first segment is not kept. */
__u64 attached_ns = 0;

/* Closes prev's segment on this CPU at now. */
static __always_inline void close_segment(struct delay_cpu *dc, struct task_struct *prev, __u64 now)
{
	struct delay_seg *s;

	if (!dc->cur_start && attached_ns && attached_ns < now)
		dc->cur_start = attached_ns;
	if (dc->cur_start && now >= dc->cur_start) {
		s = &dc->seg[dc->head & (DELAY_RING - 1)];
		s->start = dc->cur_start;
		s->end = now;
		seg_of(s, prev);
		dc->head++;
		count(DELAY_CNT_SEGMENTS);
	}
	dc->cur_start = now;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(dl_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	struct delay_victim *v;
	struct sched_cpu *sc;
	struct delay_cpu *dc;
	struct walk w = {};
	__u32 zero = 0, cpu = bpf_get_smp_processor_id();
	__u64 now, enq, in, start;
	bool closed;

	count_run(DELAY_RUN_SWITCH);
	sc = bpf_map_lookup_elem(&cpu_state, &zero);
	dc = bpf_map_lookup_elem(&delay_ring, &cpu);
	if (!sc || !dc)
		return 0;
	/* The sched program ran first. When prev just ended an on-CPU stretch
	 * that began with a run-queue wait, it added that wait to prev's
	 * histogram and left it in closed_*: the very waits it counts are the
	 * ones attributed here, at the same switch-out. Its clock for this
	 * switch is closed_out then, or in_ts when next may be ours. */
	closed = prev->pid && sc->closed_pid == prev->pid;
	if (closed)
		now = sc->closed_out;
	else if (next->pid && sc->pid == next->pid)
		now = sc->in_ts;
	else
		now = bpf_ktime_get_ns();
	close_segment(dc, prev, now);
	if (!closed)
		return 0;
	sc->closed_pid = 0;
	enq = sc->closed_enq;
	in = sc->closed_in;
	v = victim_of(prev);
	if (!v)
		return 0;
	v->waits++;
	v->wait_ns += in - enq;
	count(DELAY_CNT_WAITS);
	w.victim = prev->pid;
	w.victim_tgid = prev->tgid;
	w.v = v;
	/* moved while it waited: each move charged the part before it. The
	 * walk starts at the segment just closed, prev's own run since in,
	 * which lies after the wait. */
	start = v->mig_ts > enq && v->mig_ts <= in ? v->mig_ts : enq;
	v->mig_ts = 0;
	v->remainder_ns[DELAY_REM_WINDOW] += walk_ring(&w, cpu, start, in);
	return 0;
}

/* A waiting traced thread moves to another run queue (load balancing, an
 * affinity change, a push of a real-time task): the part of its wait spent
 * on the CPU it leaves is charged now, along that CPU's ring, since the
 * CPU it is moved to never saw it. Every path that moves a queued task
 * holds the source run queue's lock, which that CPU's switches take too:
 * its ring and its current task stand still meanwhile. The current task
 * has run there since the ring's cur_start and is the newest culprit. A
 * wait that moves several times is charged piece by piece, each from the
 * previous move (mig_ts). A wakeup's placement moves a task not yet queued
 * (on_rq 0): its wait has not begun. A task the kernel keeps queued after
 * it blocked (delayed dequeue) has no wait either (enq_ts 0).
 * Charged before the wait ends: a thread read live (--pid) while it waits
 * shows these parts before its wait is counted, as the sched probe lacks
 * the stretch in progress. */
SEC("tp_btf/sched_migrate_task")
int BPF_PROG(dl_migrate, struct task_struct *p, int dest_cpu)
{
	struct sched_thread *s;
	struct delay_victim *v;
	struct delay_cpu *dc;
	struct delay_seg cur = {};
	struct walk w = {};
	struct rq *rq;
	__u32 src;
	__u64 now, lo, hi, cur_start;

	count_run(DELAY_RUN_MIGRATE);
	if (!p->on_rq)
		return 0;
	s = bpf_task_storage_get(&threads, p, 0, 0);
	if (!s || !s->enq_ts || s->enq_ts == SCHED_ENQ_UNSAMPLED)
		return 0;
	v = victim_of(p);
	if (!v)
		return 0;
	now = bpf_ktime_get_ns();
	lo = v->mig_ts > s->enq_ts ? v->mig_ts : s->enq_ts;
	v->mig_ts = now;
	if (now <= lo)
		return 0;
	/* set_task_cpu() has not moved it yet: its CPU is the source */
	src = p->thread_info.cpu;
	dc = bpf_map_lookup_elem(&delay_ring, &src);
	/* its current task's switch-in; with no switch there seen yet, it has
	 * run since the probe attached at least */
	cur_start = dc && dc->cur_start ? dc->cur_start : attached_ns;
	if (!cur_start) {
		v->remainder_ns[DELAY_REM_MIGRATION] += now - lo;
		return 0;
	}
	w.victim = p->pid;
	w.victim_tgid = p->tgid;
	w.v = v;
	hi = now;
	if (cur_start < hi) {
		rq = rq_of(p);
		seg_of(&cur, rq->curr);
		cur.start = cur_start > lo ? cur_start : lo;
		charge(w.victim, w.victim_tgid, v, &cur, hi - cur.start);
		hi = cur.start;
	}
	v->remainder_ns[DELAY_REM_MIGRATION] += walk_ring(&w, src, lo, hi);
	return 0;
}
