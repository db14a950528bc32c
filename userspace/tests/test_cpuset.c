/* Description: a CPU set written back as a list (cpuset_format) is the
 * list a user would write, and parses back to the same set: single CPUs,
 * ranges, gaps, the empty set, and a buffer too small to hold it all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/cpuset.h"

static void formats_as_written(const char *list)
{
	cpu_set_t set, back;
	char err[128], out[128];

	assert_int_equal(cpuset_parse(list, &set, err, sizeof(err)), 0);
	cpuset_format(&set, out, sizeof(out));
	assert_string_equal(out, list);
	assert_int_equal(cpuset_parse(out, &back, err, sizeof(err)), 0);
	assert_true(CPU_EQUAL(&set, &back));
}

static void test_lists_round_trip(void **state)
{
	(void)state;
	formats_as_written("0");
	formats_as_written("0-1");
	formats_as_written("1");
	formats_as_written("0,2-3");
	formats_as_written("0-3,8,10-11");
	formats_as_written("1023");
}

static void test_empty_set_is_empty_text(void **state)
{
	cpu_set_t set;
	char out[8] = "x";

	(void)state;
	CPU_ZERO(&set);
	cpuset_format(&set, out, sizeof(out));
	assert_string_equal(out, "");
}

static void test_small_buffer_is_cut_and_terminated(void **state)
{
	cpu_set_t set;
	char err[128], out[6];

	(void)state;
	assert_int_equal(cpuset_parse("0,2,4,6,8,10", &set, err, sizeof(err)), 0);
	memset(out, 'x', sizeof(out));
	cpuset_format(&set, out, sizeof(out));
	assert_int_equal(out[sizeof(out) - 1], '\0');
	assert_memory_equal(out, "0,2,4", 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists_round_trip),
		cmocka_unit_test(test_empty_set_is_empty_text),
		cmocka_unit_test(test_small_buffer_is_cut_and_terminated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
