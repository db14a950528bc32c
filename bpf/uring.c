/* uring.c: the probe on io_uring (uring.bpf.c): requests submitted and
 * completed, punts to io-wq, poll arms, task work, submissions per opcode.
 * How many io-wq and SQPOLL threads ran comes from the processes' thread
 * rows (struct trace_proc), when a probe read them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "lib/json.h"
#include "probe.h"
#include "uring.h"
#include "uring.skel.h"

extern const struct probe_ops uring_probe;

struct uring_data {
	__u64 counts[URING_CNT_NR];
	__u64 opcodes[URING_MAX_OPCODES];
};

static const char *const uring_opnames[] = {
	"nop",
	"readv",
	"writev",
	"fsync",
	"read_fixed",
	"write_fixed",
	"poll_add",
	"poll_remove",
	"sync_file_range",
	"sendmsg",
	"recvmsg",
	"timeout",
	"timeout_remove",
	"accept",
	"async_cancel",
	"link_timeout",
	"connect",
	"fallocate",
	"openat",
	"close",
	"files_update",
	"statx",
	"read",
	"write",
	"fadvise",
	"madvise",
	"send",
	"recv",
	"openat2",
	"epoll_ctl",
	"splice",
	"provide_buffers",
	"remove_buffers",
	"tee",
	"shutdown",
	"renameat",
	"unlinkat",
	"mkdirat",
	"symlinkat",
	"linkat",
	"msg_ring",
	"fsetxattr",
	"setxattr",
	"fgetxattr",
	"getxattr",
	"socket",
	"uring_cmd",
	"send_zc",
	"sendmsg_zc",
	"read_multishot",
	"waitid",
	"futex_wait",
	"futex_wake",
	"futex_waitv",
	"fixed_fd_install",
	"ftruncate",
	"bind",
	"listen",
	"recv_zc",
	"epoll_wait",
	"readv_fixed",
	"writev_fixed",
	"pipe",
};

static int uring_open(struct tracer *t, struct probe_slot *p, const struct btf *vmlinux)
{
	struct uring_bpf *skel;
	int err;

	skel = uring_bpf__open();
	if (!skel) {
		err = -errno;
		snprintf(p->reason, sizeof(p->reason), "open: %s", strerror(-err));
		return err;
	}
	p->priv = skel;
	if (!trace_check_tracepoints(skel->obj, vmlinux, uring_probe.essential, p))
		return -ENOENT;
	skel->rodata->targ_events = t->events_fd >= 0;
	err = trace_share_maps(t, skel->obj);
	if (!err)
		err = uring_bpf__load(skel);
	if (!err)
		err = uring_bpf__attach(skel);
	if (err) {
		snprintf(p->reason, sizeof(p->reason), "load/attach: %s", strerror(-err));
		return err;
	}
	p->obj = skel->obj;
	return 0;
}

static void uring_close(struct probe_slot *p)
{
	uring_bpf__destroy(p->priv);
}

static int uring_collect(struct tracer *t, struct probe_slot *p, struct trace_data *d, void **data)
{
	struct uring_bpf *skel = p->priv;
	struct uring_data *ud = calloc(1, sizeof(*ud));
	int err;

	(void)t;
	(void)d;
	if (!ud)
		return -ENOMEM;
	*data = ud;
	err = percpu_sum(bpf_map__fd(skel->maps.uring_counts), URING_CNT_NR, ud->counts);
	if (!err)
		err = percpu_sum(bpf_map__fd(skel->maps.uring_opcodes), URING_MAX_OPCODES,
				 ud->opcodes);
	return err;
}

static void uring_json_top(struct json *j, const struct tracer *t, const struct trace_data *d,
			   const void *data, bool attached)
{
	const struct uring_data *ud = data;
	const __u64 *c;

	(void)t;
	if (!attached || !ud) {
		json_null(j, "uring");
		return;
	}
	c = ud->counts;
	json_obj_open(j, "uring");
	json_u64(j, "submitted", c[URING_CNT_SUBMITTED]);
	json_u64(j, "completed", c[URING_CNT_COMPLETED]);
	json_u64(j, "completed_errors", c[URING_CNT_COMPLETED_ERR]);
	json_u64(j, "iowq_offloads", c[URING_CNT_IOWQ_OFFLOADS]);
	json_u64(j, "iowq_hashed", c[URING_CNT_IOWQ_HASHED]);
	json_u64(j, "poll_arms", c[URING_CNT_POLL_ARMS]);
	json_u64(j, "task_work", c[URING_CNT_TASK_WORK]);
	/* worker threads are known from the thread rows */
	if (d->threads_known) {
		json_u64(j, "iowq_workers", d->total.iowq_workers);
		json_u64(j, "iowq_worker_switches", d->total.iowq_worker_switches);
		json_u64(j, "sqpoll_threads", d->total.sqpoll_threads);
	} else {
		json_null(j, "iowq_workers");
		json_null(j, "iowq_worker_switches");
		json_null(j, "sqpoll_threads");
	}
	json_obj_open(j, "submitted_by_opcode");
	for (unsigned op = 0; op < URING_MAX_OPCODES; op++) {
		char name[32];

		if (!ud->opcodes[op])
			continue;
		if (op < sizeof(uring_opnames) / sizeof(uring_opnames[0]))
			snprintf(name, sizeof(name), "%s", uring_opnames[op]);
		else
			snprintf(name, sizeof(name), "op%u", op);
		json_u64(j, name, ud->opcodes[op]);
	}
	json_obj_close(j);
	json_obj_close(j);
}

static void uring_json_lost(struct json *j, const struct tracer *t, const void *data)
{
	const struct uring_data *ud = data;

	(void)t;
	json_u64(j, "uring_rings", ud->counts[URING_CNT_LOST_RINGS]);
	json_u64(j, "uring_events", ud->counts[URING_CNT_LOST_EVENTS]);
}

static void uring_print_summary(FILE *out, const struct trace_data *d, const void *data)
{
	const struct uring_data *ud = data;

	(void)d;
	fprintf(out, "  io_uring: submitted %llu completed %llu io-wq offloads %llu\n",
		(unsigned long long)ud->counts[URING_CNT_SUBMITTED],
		(unsigned long long)ud->counts[URING_CNT_COMPLETED],
		(unsigned long long)ud->counts[URING_CNT_IOWQ_OFFLOADS]);
}

static const char *const uring_runs[URING_RUN_NR] = {
	[URING_RUN_SUBMIT] = "st_uring_submit",	  [URING_RUN_COMPLETE] = "st_uring_complete",
	[URING_RUN_ASYNC] = "st_uring_async",	  [URING_RUN_POLL] = "st_uring_poll",
	[URING_RUN_TASKADD] = "st_uring_taskadd",
};

const struct probe_ops uring_probe = {
	.name = "uring",
	.summary = "io_uring: requests, completions, io-wq punts, per opcode",
	.runs = uring_runs,
	.nruns = URING_RUN_NR,
	.elf_bytes = uring_bpf__elf_bytes,
	.essential = "st_uring_submit",
	.open = uring_open,
	.close = uring_close,
	.collect = uring_collect,
	.free_data = free,
	.json_top = uring_json_top,
	.json_lost = uring_json_lost,
	.print_summary = uring_print_summary,
	.writes_events = true,
};
