/* Description: reading loadgen's report (tasks/loadgen_out.c): a whole
 * line is read into every field and its histograms rebuilt exactly; a line
 * that is cut short, not an object, followed by more text, missing a key,
 * carrying a key of the wrong type or histogram buckets that do not add up
 * is refused with a message that names the fault. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tasks/loadgen_out.h"

#define HIST(n, buckets)                                                                           \
	"{\"n\":" #n ",\"sum\":3000,\"min\":900,\"max\":1100,\"p50\":1000,\"p99\":1100,"           \
	"\"buckets\":" buckets "}"

/* What loadgen prints (key order shuffled on purpose: order must not matter). */
#define GOOD_HEAD                                                                                  \
	"{\"reason\":null,\"status\":\"ok\",\"connections\":2,\"message_bytes\":64,"               \
	"\"rate\":1000,\"requests\":3,\"warmup_requests\":2,\"bytes_sent\":320,"                   \
	"\"bytes_received\":320,\"mismatches\":0,\"late_starts\":1,\"requests_unsent\":0,"         \
	"\"connect_ns\":5,"                                                                        \
	"\"window_ns\":3000000,\"requests_per_s\":1000.5,"
#define GOOD_TAIL                                                                                  \
	"\"cpu_ns\":777,\"cpu_ns_window\":600,\"wall_ns_window\":3000000,\"cpus_usable\":1,"       \
	"\"cpu_utilization\":0.0002,\"runqueue_wait_ns_window\":10,"                               \
	"\"ring_setup\":\"single_issuer|defer_taskrun\","                                          \
	"\"latency_ns\":" HIST(3, "[[600,2],[601,1]]") ","                                         \
						       "\"send_lag_ns\":" HIST(3,                  \
									       "[[600,3]]") "}\n"
#define GOOD GOOD_HEAD "\"offered_rate_met\":true," GOOD_TAIL

static struct lg_out out; /* large */
static char err[256];

static void test_reads_every_field(void **state)
{
	(void)state;
	assert_int_equal(lg_out_parse(GOOD, &out, err, sizeof(err)), 0);
	assert_string_equal(out.status, "ok");
	assert_string_equal(out.reason, "");
	assert_int_equal(out.connections, 2);
	assert_int_equal(out.requests, 3);
	assert_int_equal(out.warmup_requests, 2);
	assert_int_equal(out.bytes_sent, 320);
	assert_true(out.requests_per_s > 1000.4 && out.requests_per_s < 1000.6);
	assert_int_equal(out.offered_rate_met, 1);
	assert_int_equal(out.cpu_ns_window, 600);
	assert_int_equal(out.cpus_usable, 1);
	assert_string_equal(out.ring_setup, "single_issuer|defer_taskrun");
	assert_int_equal(out.latency_ns.n, 3);
	assert_int_equal(out.latency_ns.counts[600], 2);
	assert_int_equal(out.latency_ns.counts[601], 1);
	assert_int_equal(out.latency_ns.min, 900);
	assert_int_equal(out.send_lag_ns.counts[600], 3);
}

static void test_closed_loop_has_no_rate_verdict(void **state)
{
	(void)state;
	assert_int_equal(lg_out_parse(GOOD_HEAD GOOD_TAIL, &out, err, sizeof(err)), 0);
	assert_int_equal(out.offered_rate_met, -1);
}

static void test_a_failure_carries_its_reason(void **state)
{
	static const char line[] =
		"{\"status\":\"failed\",\"reason\":\"connection 3 closed\","
		"\"offered_rate_met\":false,"
		"\"connections\":2,\"message_bytes\":64,\"rate\":1000,\"requests\":3,"
		"\"warmup_requests\":2,\"bytes_sent\":320,\"bytes_received\":320,"
		"\"mismatches\":0,\"late_starts\":1,\"requests_unsent\":7,\"connect_ns\":5,"
		"\"window_ns\":3000000,\"requests_per_s\":1000.5," GOOD_TAIL;

	(void)state;
	assert_int_equal(lg_out_parse(line, &out, err, sizeof(err)), 0);
	assert_string_equal(out.status, "failed");
	assert_string_equal(out.reason, "connection 3 closed");
	assert_int_equal(out.offered_rate_met, 0);
	assert_int_equal(out.requests_unsent, 7);
}

/* Each bad line and a fragment its message must contain. */
static const struct {
	const char *text, *needle;
} bad_lines[] = {
	{"", "no output"},
	{"{\"status\":\"ok\",\"reas", "not JSON"},
	{"loadgen: connect refused", "not JSON"},
	{"[1,2]", "expected a JSON object"},
	{GOOD "{}", "text after the JSON object"},
	{"{\"status\":\"ok\",\"reason\":null}", "key \"connections\" missing"},
	{"{\"status\":\"fine\",\"reason\":null}", "unknown value \"fine\""},
	{"{\"status\":1,\"reason\":null}", "key \"status\": expected string"},
	{GOOD_HEAD "\"offered_rate_met\":1," GOOD_TAIL, "offered_rate_met"},
	{"{\"reason\":null,\"status\":\"ok\",\"connections\":-2", "not JSON"},
	{"{\"reason\":null,\"status\":\"ok\",\"connections\":-2,\"message_bytes\":64}",
	 "key \"connections\": negative"},
	{"{\"reason\":null,\"status\":\"ok\",\"connections\":\"2\"}",
	 "key \"connections\": expected int"},
};

static void test_refuses_bad_lines_naming_the_fault(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
		err[0] = '\0';
		assert_int_equal(lg_out_parse(bad_lines[i].text, &out, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad_lines[i].needle))
			fail_msg("line %zu: message \"%s\" lacks \"%s\"", i, err,
				 bad_lines[i].needle);
	}
}

static void test_refuses_histograms_that_do_not_add_up(void **state)
{
	static const char line[] = GOOD_HEAD
		"\"cpu_ns\":777,\"cpu_ns_window\":600,\"wall_ns_window\":3000000,"
		"\"cpus_usable\":1,\"cpu_utilization\":0.0002,"
		"\"runqueue_wait_ns_window\":10,\"ring_setup\":\"plain\","
		"\"latency_ns\":" HIST(4, "[[600,2],[601,1]]") ","
							       "\"send_lag_ns\":" HIST(
								       3, "[[600,3]]") "}";
	static const char outside[] = GOOD_HEAD
		"\"cpu_ns\":777,\"cpu_ns_window\":600,\"wall_ns_window\":3000000,"
		"\"cpus_usable\":1,\"cpu_utilization\":0.0002,"
		"\"runqueue_wait_ns_window\":10,\"ring_setup\":\"plain\","
		"\"latency_ns\":" HIST(3, "[[600,2],[601,1]]") ","
							       "\"send_lag_ns\":" HIST(
								       3, "[[99999999,3]]") "}";

	(void)state;
	assert_int_equal(lg_out_parse(line, &out, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "latency_ns: buckets hold 3 values, n says 4"));
	assert_int_equal(lg_out_parse(outside, &out, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "send_lag_ns: bucket 0 out of range"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_every_field),
		cmocka_unit_test(test_closed_loop_has_no_rate_verdict),
		cmocka_unit_test(test_a_failure_carries_its_reason),
		cmocka_unit_test(test_refuses_bad_lines_naming_the_fault),
		cmocka_unit_test(test_refuses_histograms_that_do_not_add_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
