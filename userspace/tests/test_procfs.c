/* Description: the calling thread's context switches from
 * /proc/thread-self/status (proc_thread_switches, what preempt counts per hog
 * thread) agree exactly with getrusage(RUSAGE_THREAD), an independent
 * reading of the same kernel counters; a sleep adds voluntary switches; and
 * another thread's switches are not counted in this one's. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>
#include <cmocka.h>

#include "lib/procfs.h"

static void nap(void)
{
	struct timespec ts = {.tv_nsec = 100000};

	nanosleep(&ts, NULL);
}

/* Both readings, taken back to back, must match; retried when a switch
 * lands between the two reads. */
static void assert_matches_rusage(void)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		struct thread_switches sw;
		struct rusage ru;

		assert_int_equal(proc_thread_switches(&sw), 0);
		assert_int_equal(getrusage(RUSAGE_THREAD, &ru), 0);
		if (sw.voluntary == (uint64_t)ru.ru_nvcsw &&
		    sw.involuntary == (uint64_t)ru.ru_nivcsw)
			return;
	}
	fail_msg("/proc/thread-self/status never agreed with getrusage(RUSAGE_THREAD)");
}

static void test_agrees_with_rusage_thread(void **state)
{
	(void)state;
	assert_matches_rusage();
	for (int i = 0; i < 20; i++)
		nap();
	assert_matches_rusage();
}

static void test_sleeps_are_voluntary_switches(void **state)
{
	struct thread_switches a, b;

	(void)state;
	assert_int_equal(proc_thread_switches(&a), 0);
	for (int i = 0; i < 20; i++)
		nap();
	assert_int_equal(proc_thread_switches(&b), 0);
	assert_true(b.voluntary >= a.voluntary + 20);
	assert_true(b.involuntary >= a.involuntary);
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (int i = 0; i < 50; i++)
		nap();
	return NULL;
}

static void test_other_threads_are_not_counted(void **state)
{
	struct thread_switches a, b;
	pthread_t t;

	(void)state;
	assert_int_equal(proc_thread_switches(&a), 0);
	assert_int_equal(pthread_create(&t, NULL, sleeper, NULL), 0);
	assert_int_equal(pthread_join(t, NULL), 0); /* the join itself may wait */
	assert_int_equal(proc_thread_switches(&b), 0);
	assert_true(b.voluntary - a.voluntary < 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agrees_with_rusage_thread),
		cmocka_unit_test(test_sleeps_are_voluntary_switches),
		cmocka_unit_test(test_other_threads_are_not_counted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
