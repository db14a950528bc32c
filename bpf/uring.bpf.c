// SPDX-License-Identifier: GPL-2.0
/* uring.bpf.c: what io_uring did for the traced processes.
 *
 * Counts requests submitted and completed, how many were punted to io-wq
 * worker threads (io_uring_queue_async_work, with its hashed flag), poll arms
 * and task-work completions, and submissions per opcode.
 *
 * Which events are ours: a ring (struct io_ring_ctx) becomes ours the first
 * time a thread of a traced process submits to it, and every later event is
 * matched by ring, not by the current task, because completions can be posted
 * from interrupt context or another task. SQPOLL threads share the tgid of
 * the process that created them, so their submissions count. Known limit: a
 * ring only ever used through a submitter outside the traced processes is not
 * counted, and a completion posted before the ring's first submission (not
 * possible for request CQEs) would be missed.
 *
 * How many workers ran and how often they were switched comes from the
 * `sched` probe's thread rows (PF_IO_WORKER), not from here.
 *
 * With --events, each submission and completion of an owned ring is also a
 * record in the shared stream (events.h, struct event_uring), paired by the
 * request's user_data, so a timeline can draw requests in flight.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "uring.h"
#include "track.bpf.h"
#include "runs.bpf.h"
#include "maps.bpf.h"
#include "events.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile bool targ_events = false; /* --events: a record per submission and completion */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, URING_MAX_RINGS);
	__type(key, __u64);   /* struct io_ring_ctx address */
	__type(value, __u32); /* owner tgid */
} rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, URING_CNT_NR);
	__type(key, __u32);
	__type(value, __u64);
} uring_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, URING_MAX_OPCODES);
	__type(key, __u32);
	__type(value, __u64);
} uring_opcodes SEC(".maps");

static __always_inline void count(__u32 idx)
{
	count_in(&uring_counts, idx);
}

static __always_inline void emit(__u16 type, __u32 tgid, __u32 opcode, __u64 user_data,
				 __s32 res)
{
	struct event_uring *e;

	if (!targ_events)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(URING_CNT_LOST_EVENTS);
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->version = EVENTS_VERSION;
	e->type = type;
	e->cpu = bpf_get_smp_processor_id();
	e->pid = (__u32)bpf_get_current_pid_tgid();
	e->tgid = tgid;
	e->opcode = opcode;
	e->user_data = user_data;
	e->res = res;
	/* the loader drains on a timer, as for sched.bpf.c's records */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	count(URING_CNT_EVENTS);
}

static __always_inline bool ring_is_ours(void *ctx)
{
	__u64 key = (__u64)ctx;

	return bpf_map_lookup_elem(&rings, &key) != NULL;
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(st_uring_submit, struct io_kiocb *req)
{
	__u64 key = (__u64)req->ctx;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 op = req->opcode;
	__u64 *c;

	count_run(URING_RUN_SUBMIT);
	if (!bpf_map_lookup_elem(&rings, &key)) {
		/* a ring we do not know, submitted to by a process not ours */
		if (!track_lookup(tgid))
			return 0;
		if (bpf_map_update_elem(&rings, &key, &tgid, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&rings, &key)) {
			count(URING_CNT_LOST_RINGS);
			return 0;
		}
	}
	count(URING_CNT_SUBMITTED);
	c = bpf_map_lookup_elem(&uring_opcodes, &op);
	if (c)
		(*c)++;
	emit(EV_URING_SUBMIT, tgid, op, req->cqe.user_data, 0);
	return 0;
}

SEC("tp_btf/io_uring_complete")
int BPF_PROG(st_uring_complete, struct io_ring_ctx *ring, void *req, struct io_uring_cqe *cqe)
{
	__u64 key = (__u64)ring;
	__u32 *owner;

	count_run(URING_RUN_COMPLETE);
	owner = bpf_map_lookup_elem(&rings, &key);
	/* a ring not ours */
	if (!owner)
		return 0;
	count(URING_CNT_COMPLETED);
	if (cqe->res < 0)
		count(URING_CNT_COMPLETED_ERR);
	emit(EV_URING_COMPLETE, *owner, 0, cqe->user_data, cqe->res);
	return 0;
}

SEC("tp_btf/io_uring_queue_async_work")
int BPF_PROG(st_uring_async, struct io_kiocb *req, int hashed)
{
	count_run(URING_RUN_ASYNC);
	/* a ring not ours */
	if (!ring_is_ours(req->ctx))
		return 0;
	count(URING_CNT_IOWQ_OFFLOADS);
	if (hashed)
		count(URING_CNT_IOWQ_HASHED);
	return 0;
}

SEC("tp_btf/io_uring_poll_arm")
int BPF_PROG(st_uring_poll, struct io_kiocb *req, int mask, int events)
{
	count_run(URING_RUN_POLL);
	/* a ring not ours */
	if (!ring_is_ours(req->ctx))
		return 0;
	count(URING_CNT_POLL_ARMS);
	return 0;
}

SEC("tp_btf/io_uring_task_add")
int BPF_PROG(st_uring_taskadd, struct io_kiocb *req, int mask)
{
	count_run(URING_RUN_TASKADD);
	/* a ring not ours */
	if (!ring_is_ours(req->ctx))
		return 0;
	count(URING_CNT_TASK_WORK);
	return 0;
}
