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
 * What the ring cannot cover goes to a named remainder: the ring did not
 * reach back (window), the thread waited on another CPU before a migration
 * (migration), or its row could not be stored (lost).
 *
 * The wait itself is the sched probe's, not a second measurement: this
 * object shares sched.bpf.c's `threads` task storage and `cpu_state` (the
 * loader reuses their fds) and runs after it on the same tracepoint (it is
 * attached later; a tracepoint runs its programs in attach order). At the
 * switch-in of a traced thread the sched program has just put the switch's
 * clock in cpu_state.in_ts and the thread's storage still holds the start
 * of its wait (enq_ts): the same interval the sched probe will add to its
 * run-queue histogram. So attributed + remainder is the sched probe's
 * run-queue time exactly when the ring's segments tile the wait, which the
 * tests check. The clock must be ktime (--clock ktime or both): the ring
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
	from = s->start > w->lo ? s->start : w->lo;
	to = s->end < w->hi ? s->end : w->hi;
	if (to > from)
		charge(w->victim, w->victim_tgid, w->v, s, to - from);
	if (s->start < w->hi)
		w->hi = s->start;
	return s->start <= w->lo; /* reached the wait's start */
}

/* Charges [lo, hi) along cpu's ring; returns what it could not reach. */
static __always_inline __u64 walk_ring(struct walk *w, __u32 cpu, __u64 lo, __u64 hi)
{
	struct delay_cpu *dc = bpf_map_lookup_elem(&delay_ring, &cpu);

	if (!dc)
		return hi - lo;
	w->cpu = cpu;
	w->lo = lo;
	w->hi = hi;
	w->head = dc->head;
	bpf_loop(DELAY_RING, walk_one, w, 0);
	return w->hi > w->lo ? w->hi - w->lo : 0;
}

/* Closes prev's segment on this CPU at now. */
static __always_inline void close_segment(struct delay_cpu *dc, struct task_struct *prev, __u64 now)
{
	struct delay_seg *s;

	if (dc->cur_start && now >= dc->cur_start) {
		s = &dc->seg[dc->head & (DELAY_RING - 1)];
		s->start = dc->cur_start;
		s->end = now;
		s->tid = prev->pid;
		s->tgid = prev->tgid;
		s->kthread = !!(prev->flags & PF_KTHREAD);
		__builtin_memcpy(s->comm, prev->comm, sizeof(s->comm));
		dc->head++;
		count(DELAY_CNT_SEGMENTS);
	}
	dc->cur_start = now;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(dl_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	struct sched_thread *ns = NULL;
	struct delay_victim *v;
	struct sched_cpu *sc;
	struct delay_cpu *dc;
	struct walk w = {};
	__u32 zero = 0, cpu = bpf_get_smp_processor_id();
	__u64 now, start;

	count_run(DELAY_RUN_SWITCH);
	sc = bpf_map_lookup_elem(&cpu_state, &zero);
	dc = bpf_map_lookup_elem(&delay_ring, &cpu);
	if (!sc || !dc)
		return 0;
	/* the sched program ran first: when next may be ours it took this
	 * switch's time (in_ts) and names next in pid */
	if (next->pid && sc->pid == next->pid) {
		now = sc->in_ts;
		ns = bpf_task_storage_get(&threads, next, 0, 0);
	} else {
		now = bpf_ktime_get_ns();
	}
	close_segment(dc, prev, now);
	/* a traced thread ending a run-queue wait (the condition under which
	 * the sched probe pairs it) */
	if (!ns || !ns->enq_ts || ns->enq_ts == SCHED_ENQ_UNSAMPLED || ns->enq_ts > now)
		return 0;
	v = victim_of(next);
	if (!v)
		return 0;
	v->waits++;
	v->wait_ns += now - ns->enq_ts;
	count(DELAY_CNT_WAITS);
	w.victim = next->pid;
	w.victim_tgid = next->tgid;
	w.v = v;
	start = ns->enq_ts;
	/* Queued on another CPU first: that part is walked along that CPU's
	 * ring (read while its CPU writes on: only slots it finished, below
	 * its head, are read). What it cannot reach, such as a task still
	 * running there since, or an earlier move, stays a migration. */
	if (v->mig_ts > start && v->mig_ts < now && v->mig_cpu != cpu) {
		v->remainder_ns[DELAY_REM_MIGRATION] += walk_ring(&w, v->mig_cpu, start, v->mig_ts);
		start = v->mig_ts;
	}
	v->mig_ts = 0;
	v->remainder_ns[DELAY_REM_WINDOW] += walk_ring(&w, cpu, start, now);
	return 0;
}

/* A queued traced thread moved to another run queue (load balancing, an
 * affinity change): the part of its wait before is not in the new CPU's
 * ring. A wakeup's placement happens before it is queued (on_rq 0), which
 * is before its wait begins. */
SEC("tp_btf/sched_migrate_task")
int BPF_PROG(dl_migrate, struct task_struct *p, int dest_cpu)
{
	struct delay_victim *v;

	count_run(DELAY_RUN_MIGRATE);
	if (!p->on_rq || !bpf_task_storage_get(&threads, p, 0, 0))
		return 0;
	v = victim_of(p);
	if (v) {
		v->mig_ts = bpf_ktime_get_ns();
		/* set_task_cpu() has not moved it yet: its CPU is the source */
		v->mig_cpu = p->thread_info.cpu;
	}
	return 0;
}
