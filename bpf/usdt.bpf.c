// SPDX-License-Identifier: GPL-2.0
/* usdt.bpf.c: the coroutine scheduler's own switches, through the USDT probes
 * the runtime fires (provider "schedlab", see usdt.h).
 *
 * It turns them into the numbers the kernel probe gives for threads:
 * coroutine switches, and the coroutine run-queue latency (ready or spawned ->
 * resumed) as a log2 histogram, per scheduler thread (summed per process by
 * the loader), and with --events one record per spawn, ready, switch and
 * exit in the shared event stream (struct event_coro, events.h).
 *
 * The loader attaches to the command's binary for every process (pid -1), so
 * descendants that exec the same binary are covered, and filters here on the
 * `tracked` tgids. A USDT hit costs about 0.75 us here, far more than the
 * coroutine switch it observes: cells traced this way must never be timed
 * against untraced ones (the report marks them).
 *
 * The coroutine at switch's `to_id` may be the scheduler's own context (the
 * runtime decides its id); it has no ready time, and such switches count as
 * `unpaired`, which is why that counter is not an error.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "hist.bpf.h"
#include "usdt.h"
#include "track.bpf.h"
#include "runs.bpf.h"
#include "maps.bpf.h"
#include "events.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader between open and load. */
const volatile bool targ_events = false; /* --events: coroutine records in the stream */

/* One entry per scheduler thread (key: tid), summed per process by the
 * loader: several schedulers of one process (the M:N model's workers) each
 * write only their own entry. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, USDT_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct usdt_proc);
} usdt_threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, USDT_MAX_READY);
	__type(key, struct usdt_ready_key);
	__type(value, __u64);
} ready SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, USDT_CNT_NR);
	__type(key, __u32);
	__type(value, __u64);
} usdt_counts SEC(".maps");

static __always_inline void count(__u32 idx)
{
	count_in(&usdt_counts, idx);
}

/* The calling thread's counters, if its process is traced. */
static __always_inline struct usdt_proc *thread_of(__u64 pid_tgid)
{
	static const struct usdt_proc zero; /* too big for the stack */
	__u32 tid = (__u32)pid_tgid, tgid = pid_tgid >> 32;
	struct usdt_proc *p;

	p = bpf_map_lookup_elem(&usdt_threads, &tid);
	if (p)
		return p;
	/* not ours */
	if (!track_lookup(tgid))
		return NULL;
	if (bpf_map_update_elem(&usdt_threads, &tid, &zero, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&usdt_threads, &tid)) {
		count(USDT_CNT_LOST_PROCS);
		return NULL;
	}
	p = bpf_map_lookup_elem(&usdt_threads, &tid);
	if (p)
		p->tgid = tgid;
	return p;
}

static __always_inline void emit(__u64 now, __u16 type, __u64 pid_tgid, __u64 coro, __u64 to)
{
	struct event_coro *e;

	if (!targ_events)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(USDT_CNT_LOST_EVENTS);
		return;
	}
	e->ts_ns = now;
	e->version = EVENTS_VERSION;
	e->type = type;
	e->cpu = bpf_get_smp_processor_id();
	e->pid = (__u32)pid_tgid;
	e->tgid = pid_tgid >> 32;
	e->coro = coro;
	e->to = to;
	/* the loader drains on a timer, as for sched.bpf.c's records */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	count(USDT_CNT_EVENTS);
}

static __always_inline void mark_ready(__u32 tgid, __u64 id, __u64 now)
{
	struct usdt_ready_key key = {.tgid = tgid, .id = id};

	if (bpf_map_update_elem(&ready, &key, &now, BPF_ANY))
		count(USDT_CNT_LOST_READY);
}

SEC("usdt")
int BPF_USDT(st_coro_spawn, __u64 id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), now;
	struct usdt_proc *p = thread_of(pid_tgid);

	count_run(USDT_RUN_SPAWN);
	/* not ours */
	if (!p)
		return 0;
	p->spawns++;
	now = bpf_ktime_get_ns();
	mark_ready(p->tgid, id, now);
	emit(now, EV_CORO_SPAWN, pid_tgid, id, 0);
	return 0;
}

SEC("usdt")
int BPF_USDT(st_coro_ready, __u64 id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), now;
	struct usdt_proc *p = thread_of(pid_tgid);

	count_run(USDT_RUN_READY);
	/* not ours */
	if (!p)
		return 0;
	p->readies++;
	now = bpf_ktime_get_ns();
	mark_ready(p->tgid, id, now);
	emit(now, EV_CORO_READY, pid_tgid, id, 0);
	return 0;
}

SEC("usdt")
int BPF_USDT(st_coro_switch, __u64 from, __u64 to)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), now;
	struct usdt_proc *p = thread_of(pid_tgid);
	struct usdt_ready_key key = {.tgid = pid_tgid >> 32, .id = to};
	__u64 *ts;

	count_run(USDT_RUN_SWITCH);
	/* not ours */
	if (!p)
		return 0;
	p->switches++;
	now = bpf_ktime_get_ns();
	emit(now, EV_CORO_SWITCH, pid_tgid, from, to);
	ts = bpf_map_lookup_elem(&ready, &key);
	if (!ts) {
		count(USDT_CNT_UNPAIRED);
		return 0;
	}
	hist_add(&p->runq, now - *ts);
	bpf_map_delete_elem(&ready, &key);
	return 0;
}

SEC("usdt")
int BPF_USDT(st_coro_exit, __u64 id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct usdt_proc *p = thread_of(pid_tgid);
	struct usdt_ready_key key = {.tgid = pid_tgid >> 32, .id = id};

	count_run(USDT_RUN_EXIT);
	/* not ours */
	if (!p)
		return 0;
	p->exits++;
	emit(bpf_ktime_get_ns(), EV_CORO_EXIT, pid_tgid, id, 0);
	bpf_map_delete_elem(&ready, &key);
	return 0;
}
