/* cpuset.h: CPU lists as users write them ("0", "0-1", "0,2-3"). */
#ifndef SCHEDLAB_CPUSET_H
#define SCHEDLAB_CPUSET_H

#include <sched.h>
#include <stddef.h>

/* 0, or -EINVAL with a one-line reason in err. */
int cpuset_parse(const char *list, cpu_set_t *set, char *err, size_t err_len);
/* Pins the calling process (every thread created later inherits it) to list.
 * -EINVAL with a reason when a CPU is not allowed here (offline, outside the
 * cgroup's cpuset). */
int cpuset_apply(const char *list, char *err, size_t err_len);
/* The n-th CPU (0-based) in the calling thread's affinity, or -1. */
int cpuset_nth_allowed(int n);
/* How many CPUs the calling thread may run on. */
int cpuset_count_allowed(void);
/* set as a list ("0-1", "0,2-3"; "" when empty) into buf, cut at len. */
void cpuset_format(const cpu_set_t *set, char *buf, size_t len);

#endif
