/* watchdog.h: a plain pthread that watches a progress counter and calls
 * on_stall(arg, value) each time the counter has stood at value for
 * stall_ns.
 *
 * It is an ordinary kernel thread of its own, outside every execution model,
 * so it keeps running whatever the watched tasks are doing: kernel threads
 * asleep for good in futex waits, or coroutines whose scheduler is stuck.
 * on_stall runs on the watchdog's thread. It may end the process (the
 * deadlock task writes its record and exits there); when it returns, the
 * watchdog starts counting again from that moment.
 */
#ifndef SCHEDLAB_WATCHDOG_H
#define SCHEDLAB_WATCHDOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct watchdog {
	const _Atomic uint64_t *progress;
	uint64_t stall_ns;
	void (*on_stall)(void *arg, uint64_t progress);
	void *arg;
	pthread_t thread;
	pthread_mutex_t lock; /* guards stop; cond wakes the thread to stop */
	pthread_cond_t cond;
	bool stop;
	bool running;
};

/* Starts watching *progress. 0 or -errno (nothing left behind). */
int watchdog_start(struct watchdog *w, const _Atomic uint64_t *progress, uint64_t stall_ns,
		   void (*on_stall)(void *arg, uint64_t progress), void *arg);
/* Stops watching and joins the thread; when on_stall is running, waits for
 * it to return (and never returns if on_stall ends the process). Idempotent;
 * never call it from on_stall. */
void watchdog_stop(struct watchdog *w);

#endif
