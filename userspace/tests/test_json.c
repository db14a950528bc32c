/* Description: the JSON writer: escaping of quotes, backslashes and control
 * characters, commas between members and elements, nesting, numbers
 * (non-finite doubles become null), and the record built on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/json.h"
#include "lib/record.h"

/* Runs fn writing into a memory stream; returns the text (caller frees). */
static char *capture(void (*fn)(FILE *))
{
	/* static: gcc 12 mistakes the stream's buffer for a dangling local */
	static char *buf;
	static size_t len;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fn(f);
	fclose(f);
	return buf;
}

static void write_escapes(FILE *f)
{
	json_write_string(f, "a\"b\\c\nd\te\x01"
			     "f\x7f");
}

static void test_escaping(void **state)
{
	char *s = capture(write_escapes);

	(void)state;
	assert_string_equal(s, "\"a\\\"b\\\\c\\nd\\te\\u0001f\\u007f\"");
	free(s);
}

static void write_nested(FILE *f)
{
	struct json j;

	json_init(&j, f);
	json_obj_open(&j, NULL);
	json_u64(&j, "a", 1);
	json_arr_open(&j, "b");
	json_i64(&j, NULL, -2);
	json_f64(&j, NULL, 0.5);
	json_f64(&j, NULL, NAN);
	json_obj_open(&j, NULL);
	json_obj_close(&j);
	json_arr_close(&j);
	json_str(&j, "c", NULL);
	json_bool(&j, "d", 1);
	json_null(&j, "e");
	json_obj_close(&j);
}

static void test_nesting_and_commas(void **state)
{
	char *s = capture(write_nested);

	(void)state;
	assert_string_equal(s, "{\"a\":1,\"b\":[-2,0.5,null,{}],\"c\":null,\"d\":true,\"e\":null}");
	free(s);
}

static void write_record(FILE *f)
{
	struct record *r = rec_new("pingpong", "coro");
	struct hist h;

	hist_init(&h);
	hist_add(&h, 10);
	hist_add(&h, 20);
	rec_param_u64(r, "iterations", 5);
	rec_param_str(r, "channel", "ev\"ent");
	rec_metric_f64(r, "handoff_ns", 1.5);
	rec_metric_u64(r, "handoffs", 10);
	rec_metric_u64(r, "handoffs", 12); /* replaces */
	rec_metric_hist(r, "lat_ns", &h);
	rec_fail(r, "first %d", 1);
	rec_fail(r, "second"); /* the first failure wins */
	rec_emit(r, f, 0);
	rec_emit(r, f, 0); /* a second exit path (a watchdog's) prints nothing */
	rec_free(r);
}

static void test_record(void **state)
{
	char *s = capture(write_record);

	(void)state;
	assert_non_null(strstr(s, "{\"schema\":1,\"task\":\"pingpong\",\"model\":\"coro\","
				  "\"params\":{\"iterations\":5,\"channel\":\"ev\\\"ent\"},"
				  "\"status\":\"failed\",\"reason\":\"first 1\","
				  "\"metrics\":{\"handoff_ns\":1.5,\"handoffs\":12,"
				  "\"lat_ns\":{\"n\":2,\"sum\":30,\"min\":10,\"p50\":10,"
				  "\"p90\":20,\"p99\":20,\"p999\":20,\"max\":20}},\"usage\":{"));
	/* one line, once: the only newline is the last character */
	assert_int_equal(strchr(s, '\n') - s, (long)strlen(s) - 1);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_nesting_and_commas),
		cmocka_unit_test(test_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
