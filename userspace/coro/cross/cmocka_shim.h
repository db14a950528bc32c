/* cmocka_shim.h: the handful of cmocka calls test_coro.c uses, for the
 * aarch64 cross test only (scripts/test-aarch64): Debian's cross packages
 * have no arm64 libcmocka, and installing a foreign architecture is out of
 * scope. Same names and meaning, so test_coro.c stays one source; output is
 * one line per test, and the exit status is the number of failures.
 * Tests run in one process, as cmocka runs them.
 */
#ifndef SCHEDLAB_CMOCKA_SHIM_H
#define SCHEDLAB_CMOCKA_SHIM_H

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>

struct CMUnitTest {
	const char *name;
	void (*fn)(void **state);
};
#define cmocka_unit_test(f)                                                                        \
	{                                                                                          \
#f, f                                                                              \
	}

static jmp_buf shim_jmp;
enum { SHIM_FAIL = 1, SHIM_SKIP = 2 };

#define shim_fail_(fmt, ...)                                                                       \
	do {                                                                                       \
		fprintf(stderr, "%s:%d: " fmt "\n", __FILE__, __LINE__, __VA_ARGS__);              \
		longjmp(shim_jmp, SHIM_FAIL);                                                      \
	} while (0)
#define assert_true(c)                                                                             \
	do {                                                                                       \
		if (!(c))                                                                          \
			shim_fail_("%s", "assert_true(" #c ")");                                   \
	} while (0)
#define assert_false(c) assert_true(!(c))
#define assert_int_equal(a, b)                                                                     \
	do {                                                                                       \
		uintmax_t a_ = (uintmax_t)(a), b_ = (uintmax_t)(b);                                \
		if (a_ != b_)                                                                      \
			shim_fail_("%#jx != %#jx (%s, %s)", a_, b_, #a, #b);                       \
	} while (0)
#define assert_int_not_equal(a, b)                                                                 \
	do {                                                                                       \
		uintmax_t a_ = (uintmax_t)(a), b_ = (uintmax_t)(b);                                \
		if (a_ == b_)                                                                      \
			shim_fail_("%#jx == %#jx (%s, %s)", a_, b_, #a, #b);                       \
	} while (0)
#define assert_ptr_equal(a, b) assert_true((const void *)(a) == (const void *)(b))
#define assert_non_null(p)     assert_true((p) != NULL)
#define assert_null(p)	       assert_true((p) == NULL)
#define skip()		       longjmp(shim_jmp, SHIM_SKIP)
#define print_message(...)     fprintf(stderr, __VA_ARGS__)

static inline int shim_run(const struct CMUnitTest *t, size_t n)
{
	volatile int failed = 0;
	volatile size_t i;

	for (i = 0; i < n; i++) {
		int r = setjmp(shim_jmp);

		if (r == 0) {
			t[i].fn(NULL);
			fprintf(stderr, "[       OK ] %s\n", t[i].name);
		} else if (r == SHIM_SKIP) {
			fprintf(stderr, "[  SKIPPED ] %s\n", t[i].name);
		} else {
			fprintf(stderr, "[  FAILED  ] %s\n", t[i].name);
			failed++;
		}
	}
	fprintf(stderr, "[==========] %zu test(s) run, %d failed\n", n, failed);
	return failed;
}
#define cmocka_run_group_tests(tests, setup, teardown)                                             \
	shim_run(tests, sizeof(tests) / sizeof((tests)[0]))

#endif
