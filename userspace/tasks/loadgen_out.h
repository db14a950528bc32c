/* loadgen_out.h: loadgen's one-line JSON report, read with json-c.
 *
 * The echo task merges what build/loadgen measured into its record. Every
 * key loadgen writes (docs/echo.md) is required with its JSON type; a line
 * that is not one JSON object, lacks a key or has a key of the wrong type is
 * refused with a message naming what was wrong, never half-read.
 */
#ifndef SCHEDLAB_LOADGEN_OUT_H
#define SCHEDLAB_LOADGEN_OUT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/hist.h"

struct lg_out {
	char status[16]; /* "ok", "failed" or "skipped" */
	char reason[256];
	uint64_t connections, message_bytes, rate;
	uint64_t requests, warmup_requests, bytes_sent, bytes_received, mismatches;
	uint64_t late_starts, requests_unsent, connect_ns, window_ns;
	double requests_per_s;
	int offered_rate_met; /* 0 or 1 in open loop; -1 in closed loop (absent) */
	uint64_t cpu_ns, cpu_ns_window, wall_ns_window, cpus_usable, runqueue_wait_ns_window;
	double cpu_utilization;
	char ring_setup[40];
	struct hist latency_ns, send_lag_ns; /* rebuilt exactly from the buckets */
};

/* Parses text (one JSON object, then only whitespace) into out.
 * 0, or -EINVAL with a one-line message in err. */
int lg_out_parse(const char *text, struct lg_out *out, char *err, size_t err_len);

#endif
