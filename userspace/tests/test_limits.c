/* Description: raising a kernel limit for a run and restoring it: the
 * record gets the old and new values, limits_restore() puts the old value
 * back, and leaves the limit alone when someone else changed it during the
 * run (two workloads at once must not pull a limit from under each other).
 * Uses vm.max_map_count, restored at the end; needs root (skipped without). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/limits.h"
#include "lib/record.h"

#define NAME "vm.max_map_count"

static int64_t original;

static void write_value(int64_t v)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "we");

	assert_non_null(f);
	fprintf(f, "%lld\n", (long long)v);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	(void)state;
	original = limit_sysctl_read(NAME);
	return original < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	write_value(original);
	return 0;
}

static void test_raise_and_restore(void **state)
{
	struct record *rec = rec_new("t", "threads");
	char why[256];

	(void)state;
	if (geteuid())
		skip();
	assert_int_equal(limit_sysctl_at_least(rec, NAME, original + 1000, why, sizeof(why)), 0);
	assert_int_equal(limit_sysctl_read(NAME), original + 1000);
	/* already high enough: nothing to do, nothing recorded twice */
	assert_int_equal(limit_sysctl_at_least(rec, NAME, original + 10, why, sizeof(why)), 0);
	limits_restore();
	assert_int_equal(limit_sysctl_read(NAME), original);
	rec_free(rec);
}

static void test_changed_by_someone_else_is_left_alone(void **state)
{
	char why[256];

	(void)state;
	if (geteuid())
		skip();
	assert_int_equal(limit_sysctl_at_least(NULL, NAME, original + 2000, why, sizeof(why)), 0);
	write_value(original + 5000); /* another run raised it further */
	limits_restore();
	assert_int_equal(limit_sysctl_read(NAME), original + 5000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raise_and_restore),
		cmocka_unit_test(test_changed_by_someone_else_is_left_alone),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
