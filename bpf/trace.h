/* trace.h: the schedtrace loader's internals, shared by its files:
 *   schedtrace.c      command line, the traced command's lifecycle, signals
 *   probe.h           what a probe declares (struct probe_ops)
 *   probe_table.c     the probes, in load order
 *   trace_probes.c    open, attach, detach every probe of the table; cost
 *   trace_collect.c   processes and what the probes collected
 *   trace_report.c    the JSON document and the human summary
 *   trace_events.c    --events: the shared ring buffer, drained into a file
 * A probe itself is bpf/<probe>.bpf.c (the BPF programs), bpf/<probe>.h
 * (the wire format they share with the loader) and bpf/<probe>.c (its
 * struct probe_ops: how it opens, attaches, collects and reports).
 */
#ifndef SCHEDLAB_TRACE_H
#define SCHEDLAB_TRACE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <bpf/libbpf.h>
#include <linux/types.h>

#define TRACE_SCHEMA 1
#define PROBES_MAX   8
/* The command's name while it waits, forked, for the probes before its exec:
 * what the probes see of it then is the tracer's set-up, not the command, and
 * the stacks probe leaves it out by this name. 15 characters at most (comm). */
#define TRACE_HELD_COMM "schedtrace-held"

struct json;
struct tracer;
struct trace_data;
struct probe_ops;

/* One probe of the table in this run. */
struct probe_slot {
	const struct probe_ops *ops;
	bool wanted;
	bool attached;
	char reason[256];	/* why not attached, when wanted */
	char missing[256];	/* optional tracepoints absent: "a,b" */
	struct bpf_object *obj; /* its loaded object, for cost and shared maps */
	void *priv;		/* the probe's own state (its skeleton, links) */
};

struct trace_opts {
	const char *json_path;
	const char *events_path;
	unsigned probes;	  /* 1 << index in probe_table */
	pid_t pid;		  /* --pid: 0 in command mode */
	double duration_s;	  /* --pid: 0 = until the process ends or a signal */
	double interval_s;	  /* periodic summaries on stderr; 0 = none */
	unsigned max_threads;	  /* rows kept for threads that ended */
	unsigned max_thread_rows; /* per-thread rows written per process */
	unsigned events_kb;	  /* ring buffer size */
	bool cost;		  /* --cost: BPF program statistics (run time) */
	unsigned clock;		  /* --clock: enum sched_clock (the sched probe's) */
	unsigned wake_sample;	  /* --wake-sample: time 1 wakeup in N */
	bool verbose;
	char **cmd;		 /* argv of the command */
	char cmd_path[PATH_MAX]; /* resolved executable */
	char exe_path[PATH_MAX]; /* --binary: where user-space probes attach */
};

struct tracer {
	struct trace_opts opts;
	struct probe_slot probe[PROBES_MAX];
	int nprobes;
	int tracked_fd, bloom_fd; /* the followed processes (track.h), shared by all */
	int events_fd;		  /* --events: the ring buffer every probe writes; -1 */
	int stats_fd;		  /* bpf_enable_stats(); -1 when off */
	char stats_reason[128];
	struct ring_buffer *rb;
	FILE *events_file;
	uint64_t events_written;
	pid_t root; /* tgid of the command (or --pid target) */
	uint64_t start_ns, end_ns;
	bool exited; /* command mode: the root was reaped */
	int wait_status;
	struct rusage rusage; /* wait4() of the root, command mode */
	bool all_rows_final;  /* every probe saw its threads' ends (probe_ops.settle) */
};

/* A traced process, as every probe sees it; a probe keeps its own figures
 * per tgid in its collected data. */
struct trace_proc {
	__u32 tgid;
	__u32 parent_tgid; /* 0 for the root */
	__u32 execs;
	bool exited;
	char comm[16];
	unsigned nthreads;
	/* io_uring's kernel threads among them (known when threads_known) */
	unsigned iowq_workers, sqpoll_threads;
	__u64 iowq_worker_switches;
};

struct trace_data {
	struct trace_proc *procs;
	size_t nprocs;
	struct trace_proc total; /* nthreads and io_uring thread counts summed */
	bool threads_known;	 /* a probe read every thread (the fields above) */
	void *priv[PROBES_MAX];	 /* what each probe collected */
};

/* trace_probes.c */
int trace_probes_open(struct tracer *t); /* 0, or -errno: fatal */
void trace_probes_close(struct tracer *t);
/* Hands obj the shared maps it declares (tracked, tracked_bloom, events). */
int trace_share_maps(struct tracer *t, struct bpf_object *obj);
/* Switches off obj's programs whose tracepoint is missing; false (with the
 * reason in p) when `essential` is among them. */
bool trace_check_tracepoints(struct bpf_object *obj, const struct btf *vmlinux,
			     const char *essential, struct probe_slot *p);
void trace_append(char *list, size_t len, const char *item);
int percpu_sum(int map_fd, __u32 nkeys, __u64 *out);
/* The BPF programs' own run time (needs stats on); returns how many. */
struct prog_stat {
	char name[32];
	const char *probe;
	__u64 run_cnt, run_time_ns, recursion_misses; /* the kernel's (stats on) */
	__u64 own_run_cnt;			      /* runs.h: always counted */
};
int trace_prog_stats(struct tracer *t, struct prog_stat *out, int max);

/* track.c: follow tgid and its descendants (before it runs) */
int trace_follow(struct tracer *t, pid_t tgid);

/* trace_collect.c */
int trace_collect(struct tracer *t, struct trace_data *d);
void trace_data_free(struct tracer *t, struct trace_data *d);
struct trace_proc *trace_proc_get(struct trace_data *d, __u32 tgid); /* NULL: no memory */
/* Waits (bounded) until every probe saw its traced threads' ends. */
bool trace_settle(struct tracer *t, unsigned timeout_ms);
/* Runs the probes' tick hooks; false when no attached probe has one. */
bool trace_tick(struct tracer *t);

/* trace_report.c */
int trace_write_json(struct tracer *t, const struct trace_data *d, FILE *out);
void trace_print_summary(struct tracer *t, const struct trace_data *d, FILE *out);

/* trace_events.c */
int trace_events_create(struct tracer *t); /* before the probes open */
int trace_events_open(struct tracer *t);
int trace_events_drain(struct tracer *t);
void trace_events_close(struct tracer *t);

#endif
