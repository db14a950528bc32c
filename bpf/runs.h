/* runs.h: per-program run counters, shared by the probes and the loader.
 *
 * The kernel counts a program's runs (bpf_prog_info.run_cnt) only while BPF
 * run-time statistics are on, and those cost two clock reads on every run of
 * every program (about 8% of a thread hand-off here). So each program counts
 * its own runs in a per-CPU array (an inlined lookup and an increment), and
 * the loader reports those counts when statistics are off (cost.method).
 * One index space for all objects; each object has its own `runs` map.
 */
#ifndef SCHEDLAB_BPF_RUNS_H
#define SCHEDLAB_BPF_RUNS_H

enum run_id {
	RUN_ST_FORK,
	RUN_ST_EXEC,
	RUN_ST_EXIT,
	RUN_ST_SWITCH,
	RUN_ST_WAKEUP,
	RUN_ST_WAKEUP_NEW,
	RUN_ST_MIGRATE,
	RUN_ST_URING_SUBMIT,
	RUN_ST_URING_COMPLETE,
	RUN_ST_URING_ASYNC,
	RUN_ST_URING_POLL,
	RUN_ST_URING_TASKADD,
	RUN_ST_CORO_SPAWN,
	RUN_ST_CORO_READY,
	RUN_ST_CORO_SWITCH,
	RUN_ST_CORO_EXIT,
	RUN_NR,
};

#endif
