/* runs.h: per-program run counters, shared by the probes and the loader.
 *
 * The kernel counts a program's runs (bpf_prog_info.run_cnt) only while BPF
 * run-time statistics are on, and those cost two clock reads on every run of
 * every program (about 8% of a thread hand-off here). So each program counts
 * its own runs in a per-CPU array (an inlined lookup and an increment), and
 * the loader reports those counts when statistics are off (cost.method).
 * Each object has its own `runs` map; its probe numbers its programs (an enum
 * in <probe>.h) and names them in its descriptor (struct probe_ops.runs).
 */
#ifndef SCHEDLAB_BPF_RUNS_H
#define SCHEDLAB_BPF_RUNS_H

#define RUNS_MAX 8 /* programs per object */

#endif
