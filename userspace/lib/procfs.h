/* procfs.h: the few /proc facts workloads measure memory with. */
#ifndef SCHEDLAB_PROCFS_H
#define SCHEDLAB_PROCFS_H

#include <stdint.h>

/* Resident set of this process now (/proc/self/statm), bytes; 0 on error. */
uint64_t proc_rss_bytes(void);

/* System-wide kernel memory that grows with tasks (/proc/meminfo), bytes. */
struct kernel_mem {
	uint64_t kernel_stack, slab, page_tables, mem_available;
};
int proc_kernel_mem(struct kernel_mem *km); /* 0 or -errno */

/* Threads in the whole system (/proc/loadavg's 4th field denominator). */
int64_t proc_threads_total(void);
/* Mappings of this process (lines of /proc/self/maps). */
int64_t proc_map_count(void);
/* Virtual size of this process (/proc/self/statm), bytes; 0 on error. */
uint64_t proc_vm_bytes(void);
/* pids.current and pids.max of this process's cgroup (v2); -ENOENT when
 * there is no pids controller, *max = -1 when it is "max". */
int proc_cgroup_pids(int64_t *current, int64_t *max);

/* Context switches of the calling thread so far
 * (/proc/thread-self/status: voluntary_ctxt_switches and
 * nonvoluntary_ctxt_switches). Per thread, unlike getrusage(RUSAGE_SELF). */
struct thread_switches {
	uint64_t voluntary, involuntary;
};
int proc_thread_switches(struct thread_switches *sw); /* 0 or -errno */

#endif
