/* track.h: wire format of the process tracking shared by every probe.
 *
 * `tracked` maps a tgid to a struct track_proc. The loader puts the root
 * command's pid in it before the command execs (or the --pid target), and
 * track.bpf.c adds every process a tracked process forks. Each probe object
 * declares the same map (track.bpf.h) and the loader makes them share one
 * map with bpf_map__reuse_fd(), so "is this task ours" is one lookup.
 */
#ifndef SCHEDLAB_BPF_TRACK_H
#define SCHEDLAB_BPF_TRACK_H

#define TRACK_MAX_PROCS 4096

/* Programs, in the order of the `runs` map (runs.h). */
enum track_run { TRACK_RUN_FORK, TRACK_RUN_EXEC, TRACK_RUN_EXIT, TRACK_RUN_NR };

/* `tracked_bloom`: one bit per (tgid mod TRACK_BLOOM_BITS), set before a
 * tgid goes into `tracked` and never cleared. A clear bit proves "not ours"
 * with one inlined array load, so the scheduler probes skip the hash lookup
 * on nearly every event of other processes; a set bit still asks the hash. */
#define TRACK_BLOOM_WORDS 1024
#define TRACK_BLOOM_BITS  (TRACK_BLOOM_WORDS * 64)

struct track_proc {
	__u32 parent_tgid; /* 0 for the root */
	__u32 execs;	   /* sched_process_exec seen in this process */
	__u32 exited;	   /* 1 once its thread-group leader ran do_exit() */
	__s32 exit_code;   /* the leader's task->exit_code at sched_process_exit */
	__u64 fork_ns;	   /* when it was forked (0 for the root) */
};

/* Per-CPU counters (array map `track_counts`). */
enum track_count {
	TRACK_CNT_FORKS,      /* processes added by following forks */
	TRACK_CNT_LOST_FORKS, /* `tracked` full: a child process is not followed */
	TRACK_CNT_NR,
};

#endif
