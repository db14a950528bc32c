/* clock.h: the one clock every measurement uses: CLOCK_MONOTONIC in ns;
 * and the process's CPU clock, for CPU time over a window. */
#ifndef SCHEDLAB_CLOCK_H
#define SCHEDLAB_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time of the whole process so far (every thread, io_uring's io-wq
 * workers included; children excluded), ns. */
static inline uint64_t process_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
