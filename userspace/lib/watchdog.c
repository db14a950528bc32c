/* watchdog.c: see watchdog.h. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/watchdog.h"

static struct timespec ts_of(uint64_t ns)
{
	return (struct timespec){.tv_sec = (time_t)(ns / 1000000000ull),
				 .tv_nsec = (long)(ns % 1000000000ull)};
}

static void *watchdog_main(void *p)
{
	struct watchdog *w = p;
	uint64_t seen = atomic_load(w->progress), since = now_ns();

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		struct timespec deadline = ts_of(since + w->stall_ns);
		uint64_t value, now;

		pthread_cond_timedwait(&w->cond, &w->lock, &deadline);
		if (w->stop)
			break;
		/* The value first: `since` must not predate the change it marks. */
		value = atomic_load(w->progress);
		now = now_ns();
		if (value != seen) {
			seen = value;
			since = now;
			continue;
		}
		if (now - since < w->stall_ns)
			continue; /* woken early (spurious wake-up) */
		/* Unlocked: on_stall may take long or never return, and a
		 * stop requested meanwhile waits for it in pthread_join. */
		pthread_mutex_unlock(&w->lock);
		w->on_stall(w->arg, seen);
		pthread_mutex_lock(&w->lock);
		seen = atomic_load(w->progress);
		since = now_ns();
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int watchdog_start(struct watchdog *w, const _Atomic uint64_t *progress, uint64_t stall_ns,
		   void (*on_stall)(void *arg, uint64_t progress), void *arg)
{
	pthread_condattr_t attr;
	int err;

	memset(w, 0, sizeof(*w));
	w->progress = progress;
	w->stall_ns = stall_ns;
	w->on_stall = on_stall;
	w->arg = arg;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* deadlines come from now_ns() */
	pthread_cond_init(&w->cond, &attr);
	pthread_condattr_destroy(&attr);
	err = pthread_create(&w->thread, NULL, watchdog_main, w);
	if (err) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		return -err;
	}
	w->running = true;
	return 0;
}

void watchdog_stop(struct watchdog *w)
{
	if (!w->running)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	w->running = false;
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
}
