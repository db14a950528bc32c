/* Description: lib/watchdog. on_stall is never called before the counter
 * has stood at the value it is given for stall_ns (checked against every
 * bump of a counter moved at irregular intervals, and against the start);
 * it is called again
 * after it returns while the counter still stands, and watchdog_stop
 * returns at once even with a stall_ns of minutes (the stop wakes the
 * thread). Nothing here depends on how long anything takes: a late call is
 * never a failure, only an early one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/watchdog.h"

#define STALL_NS  (20 * 1000000ull)
#define MAX_CALLS 128
#define BUMPS	  40

struct calls {
	_Atomic uint64_t progress;
	sem_t called;
	_Atomic int n;
	uint64_t at_ns[MAX_CALLS];
	uint64_t progress_at[MAX_CALLS];
};

static void on_stall(void *arg, uint64_t progress)
{
	struct calls *c = arg;
	int i = atomic_load(&c->n);

	if (i < MAX_CALLS) {
		c->at_ns[i] = now_ns();
		c->progress_at[i] = progress;
		atomic_store(&c->n, i + 1);
	}
	sem_post(&c->called);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
			      .tv_nsec = (long)(ns % 1000000000ull)};

	while (nanosleep(&ts, &ts))
		;
}

static void test_stall_repeats(void **state)
{
	struct calls c = {0};
	struct watchdog w;
	uint64_t start;

	(void)state;
	sem_init(&c.called, 0, 0);
	start = now_ns();
	assert_int_equal(watchdog_start(&w, &c.progress, STALL_NS, on_stall, &c), 0);
	sem_wait(&c.called);
	sem_wait(&c.called); /* the first call returned: it watches again */
	watchdog_stop(&w);
	assert_true(atomic_load(&c.n) >= 2);
	assert_true(c.at_ns[0] - start >= STALL_NS);
	for (int i = 1; i < atomic_load(&c.n); i++)
		assert_true(c.at_ns[i] - c.at_ns[i - 1] >= STALL_NS);
	sem_destroy(&c.called);
}

struct bumper {
	struct calls *c;
	uint64_t at_ns[BUMPS];
};

static void *bump(void *arg)
{
	struct bumper *b = arg;
	uint32_t x = 12345;

	for (int i = 0; i < BUMPS; i++) {
		x = x * 1103515245u + 12345u;
		/* 0 to 1.5 stall periods: some gaps stall, most do not */
		sleep_ns((uint64_t)(x >> 16) % (STALL_NS * 3 / 2));
		b->at_ns[i] = now_ns(); /* before the bump, so the watchdog sees it later */
		atomic_fetch_add(&b->c->progress, 1);
	}
	return NULL;
}

static void test_never_early(void **state)
{
	struct calls c = {0};
	struct bumper b = {.c = &c};
	struct watchdog w;
	pthread_t t;
	uint64_t start;

	(void)state;
	sem_init(&c.called, 0, 0);
	start = now_ns();
	assert_int_equal(watchdog_start(&w, &c.progress, STALL_NS, on_stall, &c), 0);
	assert_int_equal(pthread_create(&t, NULL, bump, &b), 0);
	pthread_join(t, NULL);
	/* The counter stands from here on: a call must come. */
	while (atomic_load(&c.n) == 0 || c.progress_at[atomic_load(&c.n) - 1] != BUMPS)
		sem_wait(&c.called);
	watchdog_stop(&w);
	for (int i = 0; i < atomic_load(&c.n); i++) {
		uint64_t seen = c.progress_at[i];
		uint64_t last = seen ? b.at_ns[seen - 1] : start;

		/* it stood at `seen` from `last` on, for stall_ns at least */
		assert_true(c.at_ns[i] - last >= STALL_NS);
	}
	sem_destroy(&c.called);
}

static void test_stop_wakes(void **state)
{
	struct calls c = {0};
	struct watchdog w;

	(void)state;
	sem_init(&c.called, 0, 0);
	/* Ten minutes: only the stop's wake-up lets this return in time. */
	assert_int_equal(watchdog_start(&w, &c.progress, 600ull * 1000000000ull, on_stall, &c), 0);
	watchdog_stop(&w);
	watchdog_stop(&w); /* idempotent */
	assert_int_equal(atomic_load(&c.n), 0);
	sem_destroy(&c.called);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stall_repeats),
		cmocka_unit_test(test_never_early),
		cmocka_unit_test(test_stop_wakes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
