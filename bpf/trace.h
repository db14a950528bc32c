/* trace.h: the schedtrace loader's internals, shared by its files:
 *   schedtrace.c      command line, the traced command's lifecycle, signals
 *   trace_probes.c    open, load, attach, detach the BPF objects; cost
 *   trace_collect.c   read the maps into rows, processes and totals
 *   trace_report.c    the JSON document and the human summary
 *   trace_events.c    --events: drain the ring buffer into a file
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

#include "sched.h"
#include "track.h"
#include "uring.h"
#include "usdt.h"

#define TRACE_SCHEMA 1

enum probe_id { PROBE_SCHED, PROBE_URING, PROBE_USDT, PROBE_NR };

extern const char *const probe_names[PROBE_NR];

struct probe_state {
	bool wanted;
	bool attached;
	char reason[256];  /* why not attached, when wanted */
	char missing[256]; /* optional tracepoints absent: "a,b" */
};

struct trace_opts {
	const char *json_path;
	const char *events_path;
	unsigned probes;	  /* 1 << enum probe_id */
	pid_t pid;		  /* --pid: 0 in command mode */
	double duration_s;	  /* --pid: 0 = until the process ends or a signal */
	double interval_s;	  /* periodic summaries on stderr; 0 = none */
	unsigned max_threads;	  /* rows kept for threads that ended */
	unsigned max_thread_rows; /* per-thread rows written per process */
	unsigned events_kb;	  /* ring buffer size */
	bool cost;		  /* --cost: BPF program statistics (run time) */
	unsigned clock;		  /* --clock: enum sched_clock */
	unsigned wake_sample;	  /* --wake-sample: time 1 wakeup in N */
	bool verbose;
	char **cmd;		 /* argv of the command */
	char cmd_path[PATH_MAX]; /* resolved executable */
};

struct tracer {
	struct trace_opts opts;
	struct track_bpf *track;
	struct sched_bpf *sched;
	struct uring_bpf *uring;
	struct usdt_bpf *usdt;
	struct bpf_link *usdt_links[4];
	struct probe_state probe[PROBE_NR];
	int stats_fd; /* bpf_enable_stats(); -1 when off */
	char stats_reason[128];
	struct ring_buffer *rb;
	FILE *events_file;
	uint64_t events_written;
	pid_t root; /* tgid of the command (or --pid target) */
	uint64_t start_ns, end_ns;
	bool exited; /* command mode: the root was reaped */
	int wait_status;
	struct rusage rusage; /* wait4() of the root, command mode */
	bool all_rows_final;  /* every thread's final switch-out was seen */
};

/* One thread as reported. */
struct trace_thread {
	struct sched_thread row;
	bool live; /* read from a running task, not from `dead` */
};

/* A traced process and what its threads add up to. */
struct trace_proc {
	__u32 tgid;
	struct track_proc info;
	char comm[16];
	struct sched_thread sum; /* counters and histograms summed */
	unsigned nthreads;
	unsigned iowq_workers, sqpoll_threads;
	__u64 iowq_worker_switches;
	struct usdt_proc usdt;
	bool has_usdt;
};

struct trace_data {
	struct trace_thread *threads;
	size_t nthreads, cap;
	struct trace_proc *procs;
	size_t nprocs;
	struct trace_proc total;
	__u64 sched_counts[SCHED_CNT_NR];
	__u64 track_counts[TRACK_CNT_NR];
	__u64 uring_counts[URING_CNT_NR];
	__u64 uring_opcodes[URING_MAX_OPCODES];
	__u64 usdt_counts[USDT_CNT_NR];
	bool live_rows_partial; /* live threads we could not read (no PIDFD_THREAD) */
};

/* trace_probes.c */
int trace_probes_open(struct tracer *t); /* 0, or -errno: fatal */
int trace_track_add(struct tracer *t, pid_t tgid);
void trace_probes_close(struct tracer *t);
/* A map by name from whichever loaded object has it; -1 if none. */
int trace_map_fd(struct tracer *t, const char *name);
int percpu_sum(int map_fd, __u32 nkeys, __u64 *out);
/* The BPF programs' own run time (needs stats on); returns how many. */
struct prog_stat {
	char name[32];
	const char *probe;
	__u64 run_cnt, run_time_ns, recursion_misses; /* the kernel's (stats on) */
	__u64 own_run_cnt;			      /* runs.h: always counted */
};
int trace_prog_stats(struct tracer *t, struct prog_stat *out, int max);

/* trace_collect.c */
int trace_collect(struct tracer *t, struct trace_data *d);
void trace_data_free(struct trace_data *d);
/* Waits (bounded) until every traced thread's final switch-out was seen. */
bool trace_wait_rows(struct tracer *t, unsigned timeout_ms);

/* trace_report.c */
int trace_write_json(struct tracer *t, const struct trace_data *d, FILE *out);
void trace_print_summary(struct tracer *t, const struct trace_data *d, FILE *out);

/* trace_events.c */
int trace_events_open(struct tracer *t);
int trace_events_drain(struct tracer *t);
void trace_events_close(struct tracer *t);

#endif
