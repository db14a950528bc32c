/* loadgen: the client side of the echo task, a separate program so that the
 * load never shares the server's scheduler (the echo task starts it as a
 * child with its own CPU affinity and merges its numbers into the record).
 *
 * It opens `connections` TCP connections, sends `message_bytes` messages whose
 * content is derived from (seed, connection, sequence number), verifies every
 * echoed byte, and prints ONE JSON object on stdout, on success and on
 * failure alike (docs/echo.md lists its keys). Exit status: 0 ok; 1 the run
 * failed (cannot connect, the server closed or stalled, an echo differed
 * from what was sent); 2 bad arguments; 77 io_uring is not available here.
 * It never outlives its deadline (checked in the loop, with alarm() as a
 * backstop) nor its parent (PR_SET_PDEATHSIG). See drive.c for the
 * closed/open loop model.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/json.h"
#include "loadgen.h"

/* loadgen runs one thread: the most CPUs it can keep busy at once */
#define LOADGEN_THREADS 1u
/* An open-loop run met its offered rate when it sent every scheduled request
 * and achieved at least this fraction of the rate over its window (first
 * due time to last echo): a server that keeps up loses only the last
 * request's latency against the window. */
#define RATE_MET_FRACTION 0.95

#define USAGE                                                                                      \
	"usage: loadgen --port N [options]\n"                                                      \
	"  --host ADDR          IPv4 address of the server (def: 127.0.0.1)\n"                     \
	"  --port N             server port (required)\n"                                          \
	"  --connections N      open connections (def: 50)\n"                                      \
	"  --message-bytes N    bytes per request and per echo (def: 64)\n"                        \
	"  --requests N         measured requests in total; 0: run for --duration-ms (def: 0)\n"   \
	"  --duration-ms N      measured window, milliseconds (def: 2000)\n"                       \
	"  --rate N             open loop at N requests/s in total; 0: closed loop (def: 0)\n"     \
	"  --warmup N           untimed round trips per connection first (def: 0)\n"               \
	"  --seed N             seed of the message content (def: 1)\n"                            \
	"  --cpus LIST          CPU affinity of loadgen, e.g. 1 or 0-1 (def: inherited)\n"         \
	"  --deadline-s N       give up after N seconds in total, seconds (def: 60)\n"             \
	"  --window-marks       print a line window_start when the measured window opens and\n"   \
	"                       window_end when it closes, before the JSON (the server reads\n"   \
	"                       its own CPU time at each)\n"                                        \
	"EXAMPLES\n"                                                                               \
	"  loadgen --port 7000 --connections 1000 --duration-ms 2000 --cpus 1\n"                   \
	"  loadgen --port 7000 --rate 20000 --requests 100000   # open loop, CO-corrected\n"

static int parse_u64(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr,
			"loadgen: --%s %s: expected an integer in [%" PRIu64 ", %" PRIu64 "]\n",
			name, s, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* "0", "0-1", "0,2-3" -> a CPU set. */
static int parse_cpus(const char *s, cpu_set_t *set)
{
	const char *p = s;

	CPU_ZERO(set);
	while (*p) {
		char *end;
		unsigned long a = strtoul(p, &end, 10), b;

		if (end == p)
			return -EINVAL;
		b = a;
		if (*end == '-') {
			p = end + 1;
			b = strtoul(p, &end, 10);
			if (end == p)
				return -EINVAL;
		}
		if (a > b || b >= CPU_SETSIZE)
			return -EINVAL;
		for (unsigned long c = a; c <= b; c++)
			CPU_SET(c, set);
		p = end;
		if (*p == ',')
			p++;
		else if (*p)
			return -EINVAL;
	}
	return CPU_COUNT(set) ? 0 : -EINVAL;
}

static int parse_args(int argc, char **argv, struct lg_opts *o, const char **cpus)
{
	static const struct option longopts[] = {
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"connections", required_argument, NULL, 'c'},
		{"message-bytes", required_argument, NULL, 'm'},
		{"requests", required_argument, NULL, 'n'},
		{"duration-ms", required_argument, NULL, 'd'},
		{"rate", required_argument, NULL, 'r'},
		{"warmup", required_argument, NULL, 'w'},
		{"seed", required_argument, NULL, 's'},
		{"cpus", required_argument, NULL, 'C'},
		{"deadline-s", required_argument, NULL, 'D'},
		{"window-marks", no_argument, NULL, 'M'},
		{"help", no_argument, NULL, 'H'},
		{NULL, 0, NULL, 0},
	};
	uint64_t port = 0;
	int opt, err = 0;

	while (!err && (opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			o->host = optarg;
			break;
		case 'p':
			err = parse_u64("port", optarg, 1, 65535, &port);
			break;
		case 'c':
			err = parse_u64("connections", optarg, 1, 1000000, &o->connections);
			break;
		case 'm':
			err = parse_u64("message-bytes", optarg, 1, 1 << 24, &o->message_bytes);
			break;
		case 'n':
			err = parse_u64("requests", optarg, 0, UINT64_MAX / 2, &o->requests);
			break;
		case 'd':
			err = parse_u64("duration-ms", optarg, 1, 86400000, &o->duration_ms);
			break;
		case 'r':
			err = parse_u64("rate", optarg, 0, 1000000000, &o->rate);
			break;
		case 'w':
			err = parse_u64("warmup", optarg, 0, 1000000000, &o->warmup);
			break;
		case 's':
			err = parse_u64("seed", optarg, 0, UINT64_MAX, &o->seed);
			break;
		case 'C':
			*cpus = optarg;
			break;
		case 'D':
			err = parse_u64("deadline-s", optarg, 1, 86400, &o->deadline_s);
			break;
		case 'M':
			o->window_marks = 1;
			break;
		case 'H':
			fputs(USAGE, stdout);
			exit(0);
		default:
			fputs(USAGE, stderr);
			return -EINVAL;
		}
	}
	if (err)
		return err;
	if (optind < argc) {
		fprintf(stderr, "loadgen: unexpected argument '%s'\n%s", argv[optind], USAGE);
		return -EINVAL;
	}
	if (!port) {
		fprintf(stderr, "loadgen: --port is required\n%s", USAGE);
		return -EINVAL;
	}
	o->port = (unsigned)port;
	return 0;
}

/* Enough descriptors for every connection: up to the hard limit, which the
 * echo task (as root) has already raised for us. */
static int raise_nofile(uint64_t need, char *why, size_t why_len)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max < need) {
		snprintf(why, why_len,
			 "RLIMIT_NOFILE hard limit %llu < %llu needed for the connections",
			 (unsigned long long)rl.rlim_max, (unsigned long long)need);
		return -EMFILE;
	}
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl)) {
		snprintf(why, why_len, "setrlimit RLIMIT_NOFILE %llu: %s", (unsigned long long)need,
			 strerror(errno));
		return -errno;
	}
	return 0;
}

static uint64_t tv_ns(struct timeval tv)
{
	return (uint64_t)tv.tv_sec * 1000000000ull + (uint64_t)tv.tv_usec * 1000ull;
}

/* The whole histogram, sparse, so the server rebuilds it exactly. */
static void emit_hist(struct json *j, const char *name, const struct hist *h)
{
	json_obj_open(j, name);
	json_u64(j, "n", h->n);
	json_u64(j, "sum", h->sum);
	json_u64(j, "min", h->n ? h->min : 0);
	json_u64(j, "max", h->max);
	json_u64(j, "p50", hist_quantile(h, 0.50));
	json_u64(j, "p90", hist_quantile(h, 0.90));
	json_u64(j, "p99", hist_quantile(h, 0.99));
	json_u64(j, "p999", hist_quantile(h, 0.999));
	json_arr_open(j, "buckets");
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		if (!h->counts[b])
			continue;
		json_arr_open(j, NULL);
		json_u64(j, NULL, b);
		json_u64(j, NULL, h->counts[b]);
		json_arr_close(j);
	}
	json_arr_close(j);
	json_obj_close(j);
}

/* CPUs loadgen can use at once: it runs one thread, so at most one,
 * whatever its affinity allows. */
static unsigned cpus_usable(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return LOADGEN_THREADS;
	return (unsigned)CPU_COUNT(&set) < LOADGEN_THREADS ? (unsigned)CPU_COUNT(&set)
							   : LOADGEN_THREADS;
}

static void emit(const struct lg_opts *o, const struct lg_result *r, const char *status)
{
	struct rusage ru;
	struct json j;
	double rps = r->window_ns ? (double)r->requests * 1e9 / (double)r->window_ns : 0.0;
	double capacity_ns = (double)r->wall_ns_window * cpus_usable();

	getrusage(RUSAGE_SELF, &ru);
	json_init(&j, stdout);
	json_obj_open(&j, NULL);
	json_str(&j, "status", status);
	if (!strcmp(status, "ok"))
		json_null(&j, "reason");
	else
		json_str(&j, "reason", r->reason);
	json_u64(&j, "connections", o->connections);
	json_u64(&j, "message_bytes", o->message_bytes);
	json_u64(&j, "rate", o->rate);
	json_u64(&j, "requests", r->requests);
	json_u64(&j, "warmup_requests", r->warmup_requests);
	json_u64(&j, "bytes_sent", r->bytes_sent);
	json_u64(&j, "bytes_received", r->bytes_received);
	json_u64(&j, "mismatches", r->mismatches);
	json_u64(&j, "late_starts", r->late_starts);
	json_u64(&j, "connect_ns", r->connect_ns);
	json_u64(&j, "window_ns", r->window_ns);
	json_f64(&j, "requests_per_s", rps);
	json_u64(&j, "requests_unsent", r->requests_unsent);
	if (o->rate)
		json_bool(&j, "offered_rate_met",
			  !r->requests_unsent && rps >= RATE_MET_FRACTION * (double)o->rate);
	json_u64(&j, "cpu_ns", tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime));
	json_u64(&j, "cpu_ns_window", r->cpu_ns_window);
	json_u64(&j, "wall_ns_window", r->wall_ns_window);
	json_u64(&j, "cpus_usable", cpus_usable());
	json_f64(&j, "cpu_utilization",
		 capacity_ns > 0 ? (double)r->cpu_ns_window / capacity_ns : 0.0);
	json_u64(&j, "runqueue_wait_ns_window", r->runqueue_wait_ns_window);
	json_str(&j, "ring_setup", r->ring_setup);
	emit_hist(&j, "latency_ns", &r->latency_ns);
	emit_hist(&j, "send_lag_ns", &r->send_lag_ns);
	json_obj_close(&j);
	fputc('\n', stdout);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct lg_opts o = {
		.host = "127.0.0.1",
		.connections = 50,
		.message_bytes = 64,
		.duration_ms = 2000,
		.seed = 1,
		.deadline_s = 60,
	};
	static struct lg_result res; /* the histogram is large: not on the stack */
	const char *cpus = NULL;
	cpu_set_t set;
	int err;

	/* die with the server, whichever way it ends; the echo task sets this
	 * before exec too, closing the window between fork and here */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (parse_args(argc, argv, &o, &cpus))
		return 2;
	if (cpus && parse_cpus(cpus, &set)) {
		fprintf(stderr, "loadgen: --cpus %s: expected a CPU list like 1 or 0-1\n", cpus);
		return 2;
	}
	/* the backstop: SIGALRM's default action ends the process even if the
	 * loop below were stuck somewhere it cannot check the deadline */
	alarm((unsigned)o.deadline_s + 5);
	if (cpus && sched_setaffinity(0, sizeof(set), &set)) {
		snprintf(res.reason, sizeof(res.reason), "sched_setaffinity %s: %s", cpus,
			 strerror(errno));
		emit(&o, &res, "failed");
		return 1;
	}
	err = raise_nofile(o.connections + 16, res.reason, sizeof(res.reason));
	if (!err)
		err = lg_drive(&o, &res);
	if (!err && res.mismatches)
		snprintf(res.reason, sizeof(res.reason),
			 "%" PRIu64 " echoed messages differ from what was sent", res.mismatches);
	if (err || res.mismatches) {
		fprintf(stderr, "loadgen: %s\n", res.reason[0] ? res.reason : strerror(-err));
		if (!res.reason[0])
			snprintf(res.reason, sizeof(res.reason), "%s", strerror(-err));
		emit(&o, &res, res.unavailable ? "skipped" : "failed");
		return res.unavailable ? 77 : 1;
	}
	emit(&o, &res, "ok");
	return 0;
}
