/* uring.h: wire format shared by uring.bpf.c and the loader. */
#ifndef SCHEDLAB_BPF_URING_H
#define SCHEDLAB_BPF_URING_H

#define URING_MAX_OPCODES 64
#define URING_MAX_RINGS	  1024

/* Programs, in the order of the `runs` map (runs.h). */
enum uring_run {
	URING_RUN_SUBMIT,
	URING_RUN_COMPLETE,
	URING_RUN_ASYNC,
	URING_RUN_POLL,
	URING_RUN_TASKADD,
	URING_RUN_NR,
};

/* Per-CPU counters (array map `uring_counts`). */
enum uring_count {
	URING_CNT_SUBMITTED,	 /* io_uring_submit_req */
	URING_CNT_COMPLETED,	 /* io_uring_complete (CQEs posted) */
	URING_CNT_COMPLETED_ERR, /* ... with res < 0 */
	URING_CNT_IOWQ_OFFLOADS, /* io_uring_queue_async_work: punted to io-wq */
	URING_CNT_IOWQ_HASHED,	 /* ... on a hashed (serialised) queue */
	URING_CNT_POLL_ARMS,	 /* io_uring_poll_arm: waits on a file's poll */
	URING_CNT_TASK_WORK,	 /* io_uring_task_add: completion via task work */
	URING_CNT_LOST_RINGS,	 /* `rings` full: a ring's events are not counted */
	URING_CNT_EVENTS,	 /* --events records written */
	URING_CNT_LOST_EVENTS,	 /* --events ring buffer full: record dropped */
	URING_CNT_NR,
};

#endif
