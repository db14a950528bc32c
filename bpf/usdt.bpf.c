// SPDX-License-Identifier: GPL-2.0
/* usdt.bpf.c: the coroutine scheduler's own switches, through the USDT probes
 * the runtime fires (provider "schedlab", see usdt.h).
 *
 * It turns them into the numbers the kernel probe gives for threads:
 * coroutine switches, and the coroutine run-queue latency (ready or spawned ->
 * resumed) as a log2 histogram, per traced process.
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

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TRACK_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct usdt_proc);
} procs SEC(".maps");

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
	__u64 *c = bpf_map_lookup_elem(&usdt_counts, &idx);

	if (c)
		(*c)++;
}

/* The process's counters, if it is traced. One coroutine scheduler runs on
 * one thread, so its events are serialised; several schedulers in one
 * process could race on these increments (bounded, not our case). */
static __always_inline struct usdt_proc *proc_of(__u32 tgid)
{
	static const struct usdt_proc zero;
	struct usdt_proc *p;

	p = bpf_map_lookup_elem(&procs, &tgid);
	if (p)
		return p;
	/* not ours */
	if (!track_lookup(tgid))
		return NULL;
	if (bpf_map_update_elem(&procs, &tgid, &zero, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&procs, &tgid)) {
		count(USDT_CNT_LOST_PROCS);
		return NULL;
	}
	return bpf_map_lookup_elem(&procs, &tgid);
}

static __always_inline void mark_ready(__u32 tgid, __u64 id)
{
	struct usdt_ready_key key = {.tgid = tgid, .id = id};
	__u64 now = bpf_ktime_get_ns();

	if (bpf_map_update_elem(&ready, &key, &now, BPF_ANY))
		count(USDT_CNT_LOST_READY);
}

SEC("usdt")
int BPF_USDT(st_coro_spawn, __u64 id)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct usdt_proc *p = proc_of(tgid);

	count_run(RUN_ST_CORO_SPAWN);
	/* not ours */
	if (!p)
		return 0;
	p->spawns++;
	mark_ready(tgid, id);
	return 0;
}

SEC("usdt")
int BPF_USDT(st_coro_ready, __u64 id)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct usdt_proc *p = proc_of(tgid);

	count_run(RUN_ST_CORO_READY);
	/* not ours */
	if (!p)
		return 0;
	p->readies++;
	mark_ready(tgid, id);
	return 0;
}

SEC("usdt")
int BPF_USDT(st_coro_switch, __u64 from, __u64 to)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct usdt_proc *p = proc_of(tgid);
	struct usdt_ready_key key = {.tgid = tgid, .id = to};
	__u64 *ts;

	count_run(RUN_ST_CORO_SWITCH);
	/* not ours */
	if (!p)
		return 0;
	p->switches++;
	ts = bpf_map_lookup_elem(&ready, &key);
	if (!ts) {
		count(USDT_CNT_UNPAIRED);
		return 0;
	}
	hist_add(&p->runq, bpf_ktime_get_ns() - *ts);
	bpf_map_delete_elem(&ready, &key);
	return 0;
}

SEC("usdt")
int BPF_USDT(st_coro_exit, __u64 id)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct usdt_proc *p = proc_of(tgid);
	struct usdt_ready_key key = {.tgid = tgid, .id = id};

	count_run(RUN_ST_CORO_EXIT);
	/* not ours */
	if (!p)
		return 0;
	p->exits++;
	bpf_map_delete_elem(&ready, &key);
	return 0;
}
