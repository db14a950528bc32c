/* loadgen.h: the echo client's options, state and result, shared by
 * loadgen.c (options, output) and drive.c (connections and the event loop).
 */
#ifndef SCHEDLAB_LOADGEN_H
#define SCHEDLAB_LOADGEN_H

#include <stddef.h>
#include <stdint.h>

#include "lib/hist.h"

struct lg_opts {
	const char *host; /* IPv4 literal, def 127.0.0.1 */
	unsigned port;
	uint64_t connections;
	uint64_t message_bytes;
	uint64_t requests; /* total measured requests; 0: run for duration_ms */
	uint64_t duration_ms;
	uint64_t rate;	 /* total requests/s; 0: closed loop */
	uint64_t warmup; /* untimed round trips per connection first */
	uint64_t seed;
	uint64_t deadline_s; /* overall limit, connect to drain */
	int window_marks;    /* write "window_start\n" and "window_end\n" to stdout */
};

/* The lines --window-marks writes, each with one write(2) before the JSON. */
#define LG_MARK_START "window_start\n"
#define LG_MARK_END   "window_end\n"


struct lg_result {
	uint64_t requests; /* measured (after warmup), all verified */
	uint64_t warmup_requests;
	uint64_t bytes_sent, bytes_received;
	uint64_t mismatches;  /* echoed messages that differ from the sent one */
	uint64_t connect_ns;  /* until every connection was established */
	uint64_t window_ns;   /* first measured send to last echo */
	uint64_t late_starts; /* open loop: requests sent after their due time */
	/* open loop for a duration: scheduled requests never sent because the
	 * server had not caught up shortly after the schedule ended */
	uint64_t requests_unsent;
	/* the measured window from its start to the end of the drain, for the
	 * client's own cost: its CPU time (every thread of the process) and the
	 * time it waited for a CPU while runnable */
	uint64_t wall_ns_window, cpu_ns_window, runqueue_wait_ns_window;
	struct hist latency_ns;
	struct hist send_lag_ns; /* open loop: actual send - due time */
	char ring_setup[40];	 /* the io_uring flags the kernel accepted */
	int unavailable;	 /* io_uring refused: skipped, not failed */
	char reason[256];	 /* set on failure */
};

/* Connects, runs warmup and the measured window, drains. 0, or -errno with
 * res->reason set (connect failed, server closed, deadline passed). A
 * content mismatch is not an error here: the caller decides. */
int lg_drive(const struct lg_opts *o, struct lg_result *res);

/* The content of message seq on connection conn: a pattern no other
 * (conn, seq) pair shares, so a misrouted or stale echo is caught. */
void lg_fill(unsigned char *buf, size_t len, uint64_t seed, uint64_t conn, uint64_t seq);

#endif
