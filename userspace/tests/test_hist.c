/* Description: the log-linear histogram against exact percentiles of sorted
 * data: every quantile within the documented relative error (1/HIST_SUB),
 * exact n/sum/min/max, merge equals adding everything to one, empty and
 * single-value histograms, values at the top of the 64-bit range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "lib/hist.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The ceil(q*n)-th smallest, as hist_quantile defines it. */
static uint64_t exact_quantile(const uint64_t *sorted, size_t n, double q)
{
	size_t rank = (size_t)(q * (double)n);

	if ((double)rank < q * (double)n)
		rank++;
	if (rank == 0)
		rank = 1;
	return sorted[rank - 1];
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void check_against_exact(uint64_t *values, size_t n)
{
	static struct hist h;
	static const double qs[] = {0.01, 0.1, 0.5, 0.9, 0.99, 0.999};
	uint64_t sum = 0;

	hist_init(&h);
	for (size_t i = 0; i < n; i++) {
		hist_add(&h, values[i]);
		sum += values[i];
	}
	qsort(values, n, sizeof(*values), cmp_u64);
	assert_int_equal(h.n, n);
	assert_int_equal(h.sum, sum);
	assert_int_equal(h.min, values[0]);
	assert_int_equal(h.max, values[n - 1]);
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		uint64_t want = exact_quantile(values, n, qs[i]);
		uint64_t got = hist_quantile(&h, qs[i]);

		/* the bucket's upper edge: never below, at most 1/HIST_SUB above */
		assert_true(got >= want);
		assert_true((double)(got - want) <= (double)want / HIST_SUB + 1);
	}
}

static void test_uniform(void **state)
{
	static uint64_t v[100000];
	uint64_t s = 42;

	(void)state;
	for (size_t i = 0; i < 100000; i++)
		v[i] = xorshift(&s) % 1000000;
	check_against_exact(v, 100000);
}

static void test_log_spread(void **state)
{
	static uint64_t v[50000];
	uint64_t s = 7;

	(void)state;
	for (size_t i = 0; i < 50000; i++) /* 1 ns .. about 1 hour */
		v[i] = xorshift(&s) >> (xorshift(&s) % 64);
	check_against_exact(v, 50000);
}

static void test_small_values_exact(void **state)
{
	uint64_t v[128];

	(void)state;
	for (size_t i = 0; i < 128; i++)
		v[i] = i; /* below 2 * HIST_SUB every value has its own bucket */
	check_against_exact(v, 128);
	struct hist h;
	hist_init(&h);
	for (size_t i = 0; i < 128; i++)
		hist_add(&h, i);
	assert_int_equal(hist_quantile(&h, 0.5), 63);
}

static void test_empty_and_single(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h);
	assert_int_equal(hist_quantile(&h, 0.5), 0);
	hist_add(&h, 123456789);
	assert_int_equal(hist_quantile(&h, 0.0), 123456789);
	assert_int_equal(hist_quantile(&h, 0.5), 123456789); /* clamped to [min, max] */
	assert_int_equal(hist_quantile(&h, 1.0), 123456789);
}

static void test_extremes(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h);
	hist_add(&h, UINT64_MAX);
	hist_add(&h, 0);
	assert_int_equal(h.min, 0);
	assert_int_equal(h.max, UINT64_MAX);
	assert_int_equal(hist_quantile(&h, 1.0), UINT64_MAX);
	assert_int_equal(hist_quantile(&h, 0.5), 0);
}

static void test_merge_and_atomic(void **state)
{
	static struct hist a, b, all, at;
	uint64_t s = 99;

	(void)state;
	hist_init(&a);
	hist_init(&b);
	hist_init(&all);
	hist_init(&at);
	for (int i = 0; i < 10000; i++) {
		uint64_t v = xorshift(&s) % 100000;

		hist_add(i % 2 ? &a : &b, v);
		hist_add(&all, v);
		hist_add_atomic(&at, v);
	}
	hist_merge(&a, &b);
	assert_memory_equal(&a, &all, sizeof(all));
	assert_memory_equal(&at, &all, sizeof(all));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_log_spread),
		cmocka_unit_test(test_small_values_exact),
		cmocka_unit_test(test_empty_and_single),
		cmocka_unit_test(test_extremes),
		cmocka_unit_test(test_merge_and_atomic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
