// SPDX-License-Identifier: GPL-2.0
/* stacks.bpf.c: where the traced threads and coroutines wait, as stacks.
 *
 * - offcpu: at the switch-out of a traced thread that blocks (voluntary:
 *   !preempt && prev_state != TASK_RUNNING, as the sched probe counts), its
 *   kernel and user stack ids; at its next switch-in the blocked time is
 *   added to (tgid, offcpu, kstack, ustack, comm).
 * - waker: the sched_wakeup of such a blocked thread takes the waker's
 *   (current's) kernel and user stacks; the blocked time is added to them
 *   too, at the same switch-in (as bcc's wakeuptime weighs them).
 * - park: the coroutine runtime's USDT coro_park takes the user stack (the
 *   park site, on the coroutine's own stack: the workload is built with
 *   frame pointers); the coro_switch that resumes that coroutine adds the
 *   time it stayed away.
 * - oncpu: a software CPU clock at STACKS_ONCPU_HZ per CPU samples the
 *   running traced thread's stacks.
 * Stack ids come from one BPF_MAP_TYPE_STACK_TRACE map; a failed capture
 * (map full, hash collision) is kept as a negative id and counted. Nothing
 * is emitted per event; the loader symbolises after the run.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "core_fixes.bpf.h"
#include "stacks.h"
#include "track.bpf.h"
#include "runs.bpf.h"
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, STACKS_MAX_IDS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, STACKS_DEPTH * sizeof(__u64));
} stack_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STACKS_MAX_COUNTS);
	__type(key, struct stacks_key);
	__type(value, struct stacks_value);
} stack_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct stacks_thread);
} stk_threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STACKS_MAX_PARKED);
	__type(key, struct stacks_park_key);
	__type(value, struct stacks_park);
} parked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STACKS_CNT_NR);
	__type(key, __u32);
	__type(value, __u64);
} stacks_counts SEC(".maps");

static __always_inline void count(__u32 idx)
{
	count_in(&stacks_counts, idx);
}

static __always_inline __s32 stack_of(void *ctx, __u64 flags)
{
	long id = bpf_get_stackid(ctx, &stack_ids, flags);

	if (id < 0)
		count(STACKS_CNT_STACK_ERRORS);
	return (__s32)id;
}

static __always_inline void add(struct stacks_key *key, __u64 value)
{
	static const struct stacks_value zero;
	struct stacks_value *v = lookup_or_init(&stack_counts, key, &zero);

	if (!v) {
		count(STACKS_CNT_LOST_COUNTS);
		return;
	}
	__sync_fetch_and_add(&v->value, value);
	__sync_fetch_and_add(&v->count, 1);
}

static __always_inline bool ours(struct task_struct *t)
{
	return t->pid && track_lookup(t->tgid);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sk_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	struct stacks_thread *s;
	struct stacks_key key = {};
	__u64 now = 0;

	count_run(STACKS_RUN_SWITCH);
	/* a blocking switch-out of ours: where it blocks */
	if (!preempt && prev_state != TASK_RUNNING && !(prev_state & TASK_DEAD) &&
	    track_maybe(prev->tgid) && ours(prev)) {
		s = bpf_task_storage_get(&stk_threads, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (s) {
			now = bpf_ktime_get_ns();
			s->off_ts = now;
			s->kstack = stack_of(ctx, 0);
			s->ustack = stack_of(ctx, BPF_F_USER_STACK);
			s->woken = 0;
		} else {
			count(STACKS_CNT_LOST_STORAGE);
		}
	}
	if (!next->pid || !track_maybe(next->tgid))
		return 0;
	s = bpf_task_storage_get(&stk_threads, next, 0, 0);
	if (!s || !s->off_ts)
		return 0;
	if (!now)
		now = bpf_ktime_get_ns();
	key.tgid = next->tgid;
	key.kind = STACKS_OFFCPU;
	key.kstack = s->kstack;
	key.ustack = s->ustack;
	__builtin_memcpy(key.comm, next->comm, sizeof(key.comm));
	add(&key, now - s->off_ts);
	if (s->woken) {
		key.kind = STACKS_WAKER;
		key.kstack = s->wkstack;
		key.ustack = s->wustack;
		__builtin_memcpy(key.other, s->waker_comm, sizeof(key.other));
		add(&key, now - s->off_ts);
	}
	s->off_ts = 0;
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sk_wakeup, struct task_struct *p)
{
	struct task_struct *cur;
	struct stacks_thread *s;

	count_run(STACKS_RUN_WAKEUP);
	if (!track_maybe(p->tgid))
		return 0;
	s = bpf_task_storage_get(&stk_threads, p, 0, 0);
	/* only the wakeup that ends a blocked stretch of ours, once */
	if (!s || !s->off_ts || s->woken)
		return 0;
	cur = bpf_get_current_task_btf();
	s->woken = 1;
	s->wkstack = stack_of(ctx, 0);
	/* The user stack only of a waker of ours: a kernel thread has none,
	 * and in an interrupt it is whichever task was interrupted (the
	 * kernel stack then shows the interrupt). */
	s->wustack = cur->mm && track_lookup(cur->tgid) ? stack_of(ctx, BPF_F_USER_STACK) : -1;
	__builtin_memcpy(s->waker_comm, cur->comm, sizeof(s->waker_comm));
	return 0;
}

SEC("usdt")
int BPF_USDT(sk_coro_park, __u64 id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct stacks_park_key key = {.tgid = pid_tgid >> 32, .id = id};
	struct stacks_park v = {};

	count_run(STACKS_RUN_PARK);
	/* not ours */
	if (!track_lookup(key.tgid))
		return 0;
	v.ts = bpf_ktime_get_ns();
	v.ustack = stack_of(ctx, BPF_F_USER_STACK);
	if (bpf_map_update_elem(&parked, &key, &v, BPF_ANY))
		count(STACKS_CNT_LOST_PARKED);
	return 0;
}

SEC("usdt")
int BPF_USDT(sk_coro_switch, __u64 from, __u64 to)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct stacks_park_key pk = {.tgid = pid_tgid >> 32, .id = to};
	struct stacks_key key = {.kind = STACKS_PARK, .kstack = -1};
	struct stacks_park *p;

	count_run(STACKS_RUN_CORO_SWITCH);
	p = bpf_map_lookup_elem(&parked, &pk);
	/* not a parked coroutine of ours being resumed */
	if (!p)
		return 0;
	key.tgid = pk.tgid;
	key.ustack = p->ustack;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	add(&key, bpf_ktime_get_ns() - p->ts);
	bpf_map_delete_elem(&parked, &pk);
	return 0;
}

SEC("perf_event")
int sk_oncpu(struct bpf_perf_event_data *ctx)
{
	struct task_struct *cur = bpf_get_current_task_btf();
	struct stacks_key key = {.kind = STACKS_ONCPU};

	count_run(STACKS_RUN_ONCPU);
	if (!ours(cur))
		return 0;
	key.tgid = cur->tgid;
	key.kstack = stack_of(ctx, 0);
	key.ustack = cur->mm ? stack_of(ctx, BPF_F_USER_STACK) : -1;
	__builtin_memcpy(key.comm, cur->comm, sizeof(key.comm));
	add(&key, 1);
	return 0;
}
