/* echo: a TCP echo server on 127.0.0.1 under load from build/loadgen.
 *
 * What it provokes: many connections that are almost always waiting for the
 * network, the case the article says coroutines are made for (claim C5).
 *   threads  one thread per connection blocked in read(); each request is a
 *            wake-up and a kernel context switch, and every connection costs a
 *            thread (stack, task_struct). Expected the slowest and the most
 *            server CPU per request as connections grow.
 *   coro     one thread, one coroutine per connection, epoll for readiness:
 *            a request costs a read, a write and a share of an epoll_wait, no
 *            kernel switch. Expected well ahead of threads (about 2x or more).
 *   uring    the same coroutines; reads, writes and accepts are io_uring
 *            requests submitted in batches: fewer syscalls per request, so at
 *            least as fast as coro at 1,000 connections.
 * On loopback much of the cost is the TCP stack and the client itself, which
 * is why the client runs in its own process (`client_cpus`), why the
 * server's own CPU time per request is reported beside requests/s, and why
 * the client's share of its CPU is in every record (client_cpu_utilization:
 * above 0.8 the cell measures the client). Models are compared at a fixed
 * offered rate (`rate`), latency from each request's due time; docs/echo.md
 * says what each metric means and how a capacity sweep reads.
 *
 * Method: the server listens on an ephemeral port (parallel runs never
 * collide), forks loadgen (found next to /proc/self/exe) with the port, its
 * own affinity and the load parameters, and accepts `connections`
 * connections, spawning one task per connection that echoes every byte until
 * the client closes. loadgen verifies every echoed byte, measures latency
 * (from the due time in open loop) and prints one JSON object, which this
 * task reads from a pipe, parses with json-c (tasks/loadgen_out.c) and
 * merges into the record. The server counts the
 * bytes it echoed; loadgen and server must agree on the number of requests.
 *
 * loadgen does at least one untimed round trip per connection (warmup), so
 * the measured window starts with every connection accepted and served.
 *
 * Server CPU is the process's CPU clock (CLOCK_PROCESS_CPUTIME_ID: every
 * thread, the child excluded), read when loadgen starts, when it marks the
 * start and the end of its measured window (--window-marks: one line each on
 * its stdout, which the monitor task reads), and when the last connection
 * has closed. server_cpu_ns_per_request is the steady state: the server's CPU
 * between the marks over the requests loadgen measured in its window.
 * Connection set-up (accepts, a task per connection, the warm-up round
 * trips) is reported apart, per connection (server_setup_cpu_ns_per_connection),
 * and the whole span, first accept to last close, over every request echoed,
 * is server_span_cpu_ns_per_request. A mark reaches the server when its
 * monitor task next runs: the window is the server's, within that delay.
 *
 * No stray processes: loadgen gets PR_SET_PDEATHSIG (set before exec, and by
 * loadgen itself), has its own deadline and an alarm() backstop, and this task
 * kills and reaps it on every failure path. The fork happens in the task that
 * also reaps the child (the main thread under every model), because the death
 * signal follows the forking thread, not the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/cpuset.h"
#include "lib/hist.h"
#include "lib/limits.h"
#include "lib/procfs.h"
#include "loadgen/loadgen.h"
#include "task.h"
#include "tasks/loadgen_out.h"

#define ECHO_BUF_MIN_BYTES 4096
#define ECHO_BUF_MAX_BYTES 65536
#define LOADGEN_ARGS	   32

static const struct task_param echo_params[] = {
	{.key = "connections",
	 .type = PARAM_U64,
	 .def = "50",
	 .unit = "count",
	 .min = 1,
	 .max = 100000,
	 .help = "open connections, one server task each"},
	{.key = "message_bytes",
	 .type = PARAM_U64,
	 .def = "64",
	 .unit = "bytes",
	 .min = 1,
	 .max = 1 << 20,
	 .help = "bytes per request (and per echo)"},
	{.key = "requests",
	 .type = PARAM_U64,
	 .def = "0",
	 .unit = "count",
	 .min = 0,
	 .max = 1000000000000ull,
	 .help = "measured requests in total; 0: run for duration_ms"},
	{.key = "duration_ms",
	 .type = PARAM_U64,
	 .def = "2000",
	 .unit = "ms",
	 .min = 1,
	 .max = 3600000,
	 .help = "measured window when requests is 0"},
	{.key = "rate",
	 .type = PARAM_U64,
	 .def = "0",
	 .unit = "requests/s",
	 .min = 0,
	 .max = 1000000000,
	 .help = "0: closed loop; >0: open loop at this total rate, "
		 "latency from each request's due time"},
	{.key = "client_cpus",
	 .type = PARAM_STR,
	 .def = "",
	 .help = "CPU list for loadgen, e.g. 1 (default: every CPU, not the server's --cpus)"},
	{.key = "port",
	 .type = PARAM_U64,
	 .def = "0",
	 .unit = "port",
	 .min = 0,
	 .max = 65535,
	 .help = "TCP port on 127.0.0.1; 0: an ephemeral one"},
	PARAM_END,
};

struct echo_conn {
	struct rt *rt;
	int fd;
	size_t buf_bytes; /* read size: the message size, within [4 KiB, 64 KiB] */
	uint64_t bytes;	  /* echoed */
	int err;	  /* 0 or -errno */
	struct rt_task *task;
};

struct echo_monitor {
	struct rt *rt;
	int fd;	   /* read end of loadgen's stdout */
	char *out; /* what loadgen printed, NUL-terminated */
	size_t len, cap;
	int err;
	unsigned port;
	_Atomic int loadgen_done;
	_Atomic int accept_done;
	int wake_fd; /* a connection made only to wake the acceptor */
	/* loadgen's window marks: where its JSON starts in out, and the
	 * server's CPU clock when each mark was read (0: not seen) */
	size_t marks_len;
	uint64_t cpu_window_start_ns, cpu_window_end_ns;
};

/* ---- the server's two kinds of task ---------------------------------- */

static void echo_serve(void *arg)
{
	struct echo_conn *c = arg;
	size_t cap = c->buf_bytes;
	unsigned char *buf = malloc(cap);
	ssize_t n, w;

	if (!buf) {
		c->err = -ENOMEM;
		goto cleanup;
	}
	for (;;) {
		n = rt_read(c->rt, c->fd, buf, cap);
		if (n == 0)
			break; /* the client closed: done */
		if (n < 0) {
			/* a reset from a client that died is not the server's fault,
			 * but it is worth knowing about */
			c->err = (int)n;
			break;
		}
		for (ssize_t off = 0; off < n; off += w) {
			w = rt_write(c->rt, c->fd, buf + off, (size_t)(n - off));
			if (w <= 0) {
				c->err = w < 0 ? (int)w : -EPIPE;
				goto cleanup;
			}
		}
		c->bytes += (uint64_t)n;
	}
cleanup:
	free(buf);
	rt_close(c->rt, c->fd);
	c->fd = -1;
}

/* The window marks at the head of what loadgen printed so far: the CPU clock
 * is read as each one is first seen. */
static void take_marks(struct echo_monitor *m)
{
	static const char start[] = LG_MARK_START, end[] = LG_MARK_END;

	for (;;) {
		const char *at = m->out + m->marks_len;
		size_t left = m->len - m->marks_len;

		if (left >= sizeof(start) - 1 && !memcmp(at, start, sizeof(start) - 1)) {
			m->cpu_window_start_ns = process_cpu_ns();
			m->marks_len += sizeof(start) - 1;
		} else if (left >= sizeof(end) - 1 && !memcmp(at, end, sizeof(end) - 1)) {
			m->cpu_window_end_ns = process_cpu_ns();
			m->marks_len += sizeof(end) - 1;
		} else {
			return;
		}
	}
}

/* Reads loadgen's stdout until it exits (EOF), then makes sure the acceptor
 * is not left waiting for connections that will never come. */
static void echo_watch(void *arg)
{
	struct echo_monitor *m = arg;
	ssize_t n;

	for (;;) {
		if (m->cap - m->len < 4096) {
			size_t cap = m->cap ? m->cap * 2 : 16384;
			char *p = realloc(m->out, cap);

			if (!p) {
				m->err = -ENOMEM;
				break;
			}
			m->out = p;
			m->cap = cap;
		}
		n = rt_read(m->rt, m->fd, m->out + m->len, m->cap - m->len - 1);
		if (n <= 0) {
			if (n < 0)
				m->err = (int)n;
			break;
		}
		m->len += (size_t)n;
		take_marks(m);
	}
	if (m->out)
		m->out[m->len] = '\0';
	atomic_store(&m->loadgen_done, 1);
	if (!atomic_load(&m->accept_done)) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_port = htons(m->port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

		/* non-blocking: loopback completes the handshake by itself, and
		 * this task must not park its thread (coro) on a plain syscall */
		m->wake_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (m->wake_fd >= 0)
			connect(m->wake_fd, (struct sockaddr *)&sa, sizeof(sa));
	}
}

/* ---- loadgen: start, parse its JSON ----------------------------------- */

static int loadgen_path(char *path, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", path, len - 1);
	char *slash;

	if (n < 0) {
		int err = -errno;

		snprintf(path, len, "/proc/self/exe");
		return err;
	}
	path[n] = '\0';
	slash = strrchr(path, '/');
	if (!slash || (size_t)(slash - path) + sizeof("/loadgen") > len)
		return -ENAMETOOLONG;
	strcpy(slash, "/loadgen");
	return access(path, X_OK) ? -errno : 0;
}

/* fork + exec loadgen with stdout into a pipe. Everything the child does
 * before exec is async-signal-safe (the threads model has other threads). */
static int loadgen_start(const char *path, char *const argv[], int out_fd, pid_t *pid)
{
	pid_t parent = getpid();
	pid_t p = fork();

	if (p < 0)
		return -errno;
	if (p == 0) {
		static const char msg[] = "echo: exec loadgen failed\n";

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1); /* the server died before the signal was armed */
		if (dup2(out_fd, STDOUT_FILENO) < 0)
			_exit(1);
		execv(path, argv);
		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
			_exit(127);
		_exit(127);
	}
	*pid = p;
	return 0;
}

/* ---- the task ---------------------------------------------------------- */

static int echo_validate(const struct task_ctx *ctx, char *err, size_t len)
{
	const char *cpus = task_str(ctx, "client_cpus");
	cpu_set_t set;

	if (*cpus && cpuset_parse(cpus, &set, err, len))
		return -1;
	/* a CPU this machine does not have would only fail later, in loadgen */
	for (int c = get_nprocs_conf(); *cpus && c < CPU_SETSIZE; c++) {
		if (CPU_ISSET(c, &set)) {
			snprintf(err, len, "--client_cpus %s: CPU %d does not exist here (%d CPUs)",
				 cpus, c, get_nprocs_conf());
			return -1;
		}
	}
	return 0;
}

static int echo_setup(struct task_ctx *ctx)
{
	char why[256];
	/* the server holds every connection plus a few; loadgen inherits the
	 * limit and needs the same */
	int err = limit_nofile_at_least(ctx->rec, task_u64(ctx, "connections") + 64, why,
					sizeof(why));

	if (err) {
		rec_fail(ctx->rec, "%s", why);
		return 1;
	}
	return 0;
}

/* The client's cost over its measured window. Above this fraction of the
 * CPU it may use, the client may have set the pace: the cell measures the
 * client, not the server. Its run-queue wait is reported beside: a client
 * kept off its CPU by other processes measures them. */
#define CLIENT_BOUND_UTILIZATION 0.8

static void merge_client(struct record *rec, const struct lg_out *lg)
{
	double wall = (double)lg->wall_ns_window;
	double wait = wall > 0 ? (double)lg->runqueue_wait_ns_window / wall : 0.0;

	rec_metric_f64(rec, "client_cpu_utilization", lg->cpu_utilization);
	rec_metric_f64(rec, "client_runqueue_wait_fraction", wait);
	rec_metric_bool(rec, "client_bound", lg->cpu_utilization > CLIENT_BOUND_UTILIZATION);
	rec_metric_u64(rec, "client_cpus_usable", lg->cpus_usable);
	rec_metric_u64(rec, "client_cpu_ns_window", lg->cpu_ns_window);
	rec_metric_u64(rec, "client_wall_ns_window", lg->wall_ns_window);
	rec_metric_f64(rec, "client_cpu_ns_per_request",
		       lg->requests ? (double)lg->cpu_ns_window / (double)lg->requests : 0.0);
	rec_metric_u64(rec, "client_cpu_ns", lg->cpu_ns);
	rec_metric_str(rec, "client_ring_setup", lg->ring_setup);
}

/* The server's CPU clock at loadgen's start, at the window's marks and after
 * the last close; the wall time from start to last close. */
struct server_cpu {
	uint64_t start_ns, window_start_ns, window_end_ns, end_ns, wall_ns;
};

/* The server's CPU: the steady window (the C5 figure), set-up per connection,
 * and the whole span. 0, or 1 when loadgen gave no marks. */
static int merge_server_cpu(struct record *rec, const struct server_cpu *cpu,
			    const struct lg_out *lg, uint64_t server_requests)
{
	uint64_t span = cpu->end_ns - cpu->start_ns, window, setup;
	cpu_set_t set;

	if (!cpu->window_start_ns || !cpu->window_end_ns) {
		rec_fail(rec, "loadgen printed no window marks (--window-marks): the server's "
			      "steady-state CPU cannot be told from its set-up");
		return 1;
	}
	window = cpu->window_end_ns - cpu->window_start_ns;
	setup = cpu->window_start_ns - cpu->start_ns;
	rec_metric_u64(rec, "server_cpu_ns", span);
	rec_metric_u64(rec, "server_cpu_ns_window", window);
	rec_metric_f64(rec, "server_cpu_ns_per_request",
		       lg->requests ? (double)window / (double)lg->requests : 0.0);
	rec_metric_u64(rec, "server_setup_cpu_ns", setup);
	rec_metric_f64(rec, "server_setup_cpu_ns_per_connection",
		       lg->connections ? (double)setup / (double)lg->connections : 0.0);
	rec_metric_f64(rec, "server_span_cpu_ns_per_request",
		       server_requests ? (double)span / (double)server_requests : 0.0);
	/* per CPU of the server's affinity, whatever the model makes of them */
	if (!sched_getaffinity(0, sizeof(set), &set) && cpu->wall_ns)
		rec_metric_f64(rec, "server_cpu_utilization",
			       (double)span / ((double)cpu->wall_ns * CPU_COUNT(&set)));
	return 0;
}

/* Checks loadgen's verdict and merges its numbers. 0, or 1 (rec_fail or
 * rec_skip called). */
static int echo_merge(struct task_ctx *ctx, const char *out, int status, uint64_t server_bytes,
		      const struct server_cpu *cpu)
{
	struct record *rec = ctx->rec;
	uint64_t mb = task_u64(ctx, "message_bytes");
	uint64_t server_requests = server_bytes / mb, lg_total;
	struct lg_out *lg = malloc(sizeof(*lg)); /* large: not on a coroutine's stack */
	char err[256];
	int parsed, ret = 1;

	if (!lg) {
		rec_fail(rec, "out of memory for loadgen's report");
		return 1;
	}
	parsed = lg_out_parse(out, lg, err, sizeof(err)) == 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		const char *why =
			parsed && lg->reason[0] ? lg->reason : "no reason given (see stderr)";

		if (WIFSIGNALED(status))
			rec_fail(rec, "loadgen killed by signal %d%s%s", WTERMSIG(status),
				 parsed && lg->reason[0] ? ": " : "", parsed ? lg->reason : "");
		else if (WEXITSTATUS(status) == 77 && parsed && !strcmp(lg->status, "skipped"))
			rec_skip(rec, "loadgen: %s", why);
		else
			rec_fail(rec, "loadgen exited with status %d: %s", WEXITSTATUS(status),
				 why);
		goto out;
	}
	if (!parsed) {
		rec_fail(rec, "loadgen's output is not what echo expects: %s: %.120s", err,
			 out ? out : "");
		goto out;
	}
	lg_total = lg->requests + lg->warmup_requests;
	rec_metric_f64(rec, "requests_per_s", lg->requests_per_s);
	rec_metric_u64(rec, "offered_rate", lg->rate);
	if (lg->offered_rate_met >= 0)
		rec_metric_bool(rec, "offered_rate_met", lg->offered_rate_met);
	rec_metric_hist(rec, "latency_ns", &lg->latency_ns);
	if (lg->rate)
		rec_metric_hist(rec, "send_lag_ns", &lg->send_lag_ns);
	rec_metric_u64(rec, "requests", lg->requests);
	rec_metric_u64(rec, "loadgen_requests", lg_total);
	rec_metric_u64(rec, "server_requests", server_requests);
	rec_metric_u64(rec, "server_bytes", server_bytes);
	rec_metric_u64(rec, "loadgen_bytes_sent", lg->bytes_sent);
	rec_metric_u64(rec, "mismatches", lg->mismatches);
	rec_metric_u64(rec, "late_starts", lg->late_starts);
	rec_metric_u64(rec, "requests_unsent", lg->requests_unsent);
	rec_metric_u64(rec, "connect_ns", lg->connect_ns);
	rec_metric_u64(rec, "window_ns", lg->window_ns);
	merge_client(rec, lg);
	if (merge_server_cpu(rec, cpu, lg, server_requests))
		goto out;
	if (lg->mismatches) {
		rec_fail(rec, "%" PRIu64 " echoed messages differ from what was sent",
			 lg->mismatches);
		goto out;
	}
	if (server_bytes != lg->bytes_sent || server_requests != lg_total) {
		rec_fail(rec,
			 "loadgen sent %" PRIu64 " requests (%" PRIu64 " bytes), the server "
			 "echoed %" PRIu64 " (%" PRIu64 " bytes)",
			 lg_total, lg->bytes_sent, server_requests, server_bytes);
		goto out;
	}
	ret = 0;
out:
	free(lg);
	return ret;
}

static int echo_run(struct rt *rt, struct task_ctx *ctx)
{
	struct record *rec = ctx->rec;
	uint64_t nconn = task_u64(ctx, "connections");
	uint64_t duration_ms = task_u64(ctx, "duration_ms"), requests = task_u64(ctx, "requests");
	struct echo_monitor mon = {.rt = rt, .fd = -1, .wake_fd = -1};
	struct rt_task *mon_task = NULL;
	struct echo_conn *conns = NULL;
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons((uint16_t)task_u64(ctx, "port"))};
	socklen_t salen = sizeof(sa);
	char path[PATH_MAX], a[LOADGEN_ARGS][64], cpus_all[32];
	char *argv[LOADGEN_ARGS + 1];
	const char *client_cpus = task_str(ctx, "client_cpus");
	int lfd = -1, pfd[2] = {-1, -1}, one = 1, ret = 1, err, status = 0, argc = 0;
	uint64_t accepted = 0, spawned = 0, server_bytes = 0, rss0, rss1, deadline_s;
	uint64_t mb = task_u64(ctx, "message_bytes");
	size_t buf_bytes = mb < ECHO_BUF_MIN_BYTES   ? ECHO_BUF_MIN_BYTES
			   : mb > ECHO_BUF_MAX_BYTES ? ECHO_BUF_MAX_BYTES
						     : (size_t)mb;
	uint64_t warmup = task_u64(ctx, "warmup");
	int lfd_added = 0;
	struct server_cpu cpu = {0};
	uint64_t wall0 = 0;
	pid_t pid = -1;

	conns = calloc(nconn, sizeof(*conns));
	if (!conns) {
		rec_fail(rec, "out of memory for %" PRIu64 " connections", nconn);
		goto cleanup;
	}
	err = loadgen_path(path, sizeof(path));
	if (err) {
		rec_fail(rec,
			 "loadgen not found next to the workload (%s): %s; build it with "
			 "`make build/loadgen`",
			 path, strerror(-err));
		goto cleanup;
	}
	rss0 = proc_rss_bytes();
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		rec_fail(rec, "socket: %s", strerror(errno));
		goto cleanup;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa))) {
		rec_fail(rec, "bind 127.0.0.1:%" PRIu64 ": %s", task_u64(ctx, "port"),
			 strerror(errno));
		goto cleanup;
	}
	/* the kernel clamps the backlog to net.core.somaxconn; loadgen retries */
	if (listen(lfd, nconn + 64 > INT_MAX ? INT_MAX : (int)nconn + 64) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen)) {
		rec_fail(rec, "listen 127.0.0.1:%" PRIu64 ": %s", task_u64(ctx, "port"),
			 strerror(errno));
		goto cleanup;
	}
	mon.port = ntohs(sa.sin_port);
	rec_metric_u64(rec, "port", mon.port);
	err = rt_fd_add(rt, lfd);
	if (err) {
		rec_fail(rec, "fd_add listening socket: %s", strerror(-err));
		goto cleanup;
	}
	lfd_added = 1;

	/* loadgen's command line; its deadline leaves room for connecting,
	 * warmup and a slow server, and still ends a stuck run */
	deadline_s =
		30 + duration_ms / 1000 + nconn / 200 + requests / 2000 + warmup * nconn / 2000;
	if (!*client_cpus) {
		snprintf(cpus_all, sizeof(cpus_all), "0-%d", get_nprocs_conf() - 1);
		client_cpus = cpus_all;
	}
#define ARG(...) snprintf(a[argc], sizeof(a[argc]), __VA_ARGS__), argv[argc] = a[argc], argc++
	ARG("loadgen");
	ARG("--port");
	ARG("%u", mon.port);
	ARG("--connections");
	ARG("%" PRIu64, nconn);
	ARG("--message-bytes");
	ARG("%" PRIu64, task_u64(ctx, "message_bytes"));
	ARG("--requests");
	ARG("%" PRIu64, requests);
	ARG("--duration-ms");
	ARG("%" PRIu64, duration_ms);
	ARG("--rate");
	ARG("%" PRIu64, task_u64(ctx, "rate"));
	/* at least one untimed round trip per connection: the window then
	 * starts with every connection accepted and served, not with a SYN
	 * or an ACK the kernel dropped while the accept queue was full */
	ARG("--warmup");
	ARG("%" PRIu64, warmup ? warmup : 1);
	ARG("--seed");
	ARG("%" PRIu64, task_u64(ctx, "seed"));
	ARG("--deadline-s");
	ARG("%" PRIu64, deadline_s);
	ARG("--cpus");
	ARG("%s", client_cpus);
	ARG("--window-marks");
#undef ARG
	argv[argc] = NULL;
	rec_metric_str(rec, "client_cpus_effective", client_cpus);
	rec_metric_u64(rec, "warmup_round_trips_per_connection", warmup ? warmup : 1);

	if (pipe2(pfd, O_CLOEXEC)) {
		rec_fail(rec, "pipe2: %s", strerror(errno));
		goto cleanup;
	}
	cpu.start_ns = process_cpu_ns();
	wall0 = now_ns();
	err = loadgen_start(path, argv, pfd[1], &pid);
	if (err) {
		rec_fail(rec, "fork loadgen: %s", strerror(-err));
		goto cleanup;
	}
	close(pfd[1]);
	pfd[1] = -1;
	mon.fd = pfd[0];
	pfd[0] = -1;
	err = rt_fd_add(rt, mon.fd);
	if (!err)
		err = rt_spawn(rt, echo_watch, &mon, NULL, &mon_task);
	if (err) {
		rec_fail(rec, "starting the loadgen monitor: %s", strerror(-err));
		goto cleanup;
	}

	/* accept every connection loadgen makes, one task each */
	while (accepted < nconn) {
		int fd = rt_accept(rt, lfd);

		if (fd < 0) {
			rec_fail(rec, "accept on 127.0.0.1:%u: %s", mon.port, strerror(-fd));
			goto cleanup;
		}
		if (atomic_load(&mon.loadgen_done)) {
			/* loadgen is gone: its connections are dead, or this is
			 * the monitor's wake-up; stop accepting */
			rt_close(rt, fd);
			break;
		}
		/* echoes go out whole; a split read must not wait for an ACK */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		conns[accepted] = (struct echo_conn){.rt = rt, .fd = fd, .buf_bytes = buf_bytes};
		accepted++;
		err = rt_spawn(rt, echo_serve, &conns[accepted - 1], NULL,
			       &conns[accepted - 1].task);
		if (err) {
			rt_close(rt, fd);
			conns[accepted - 1].fd = -1;
			rec_fail(rec, "spawning the task for connection %" PRIu64 ": %s", accepted,
				 strerror(-err));
			goto cleanup;
		}
		spawned++;
	}
	atomic_store(&mon.accept_done, 1);
	rss1 = proc_rss_bytes();
	rec_metric_u64(rec, "server_rss_bytes", rss1);
	/* what holding the connections costs: tasks, stacks, buffers */
	rec_metric_u64(rec, "server_rss_bytes_per_connection",
		       accepted && rss1 > rss0 ? (rss1 - rss0) / accepted : 0);
	rec_metric_u64(rec, "connections", accepted);
	rec_metric_u64(rec, "connections_requested", nconn);

	for (uint64_t i = 0; i < spawned; i++) {
		rt_join(rt, conns[i].task);
		conns[i].task = NULL;
		server_bytes += conns[i].bytes;
	}
	cpu.end_ns = process_cpu_ns();
	cpu.wall_ns = now_ns() - wall0;
	rt_join(rt, mon_task);
	mon_task = NULL;
	if (waitpid(pid, &status, 0) < 0) {
		rec_fail(rec, "waitpid loadgen: %s", strerror(errno));
		pid = -1;
		goto cleanup;
	}
	pid = -1;
	if (mon.err) {
		rec_fail(rec, "reading loadgen's output: %s", strerror(-mon.err));
		goto cleanup;
	}
	cpu.window_start_ns = mon.cpu_window_start_ns;
	cpu.window_end_ns = mon.cpu_window_end_ns;
	ret = echo_merge(ctx, mon.out ? mon.out + mon.marks_len : NULL, status, server_bytes,
			 &cpu);
	if (!ret) {
		uint64_t resets = 0;

		for (uint64_t i = 0; i < spawned; i++)
			resets += conns[i].err != 0;
		rec_metric_u64(rec, "server_connection_errors", resets);
	}

cleanup:
	/* on failure: end loadgen first, so every task below sees EOF and ends */
	if (pid > 0)
		kill(pid, SIGKILL);
	atomic_store(&mon.accept_done, 1);
	for (uint64_t i = 0; conns && i < spawned; i++)
		if (conns[i].task)
			rt_join(rt, conns[i].task);
	if (mon_task)
		rt_join(rt, mon_task);
	if (pid > 0)
		waitpid(pid, &status, 0);
	if (mon.wake_fd >= 0)
		close(mon.wake_fd);
	if (mon.fd >= 0)
		rt_close(rt, mon.fd);
	for (int i = 0; i < 2; i++)
		if (pfd[i] >= 0)
			close(pfd[i]);
	if (lfd >= 0 && lfd_added)
		rt_close(rt, lfd);
	else if (lfd >= 0)
		close(lfd);
	free(mon.out);
	free(conns);
	return ret;
}

/* What the record's metrics hold (units, direction, headline: task.h). */
static const struct task_metric echo_metrics[] = {
	{.name = "requests_per_s",
	 .unit = "per_s",
	 .better = BETTER_HIGHER,
	 .headline = true,
	 .help = "requests loadgen completed in its window per second"},
	{.name = "offered_rate", .unit = "per_s", .help = "the rate asked for; 0: closed loop"},
	{.name = "offered_rate_met",
	 .kind = METRIC_FLAG,
	 .optional = true,
	 .help = "whether loadgen kept the offered rate (open loop only)"},
	{.name = "latency_ns",
	 .kind = METRIC_DIST,
	 .unit = "ns",
	 .better = BETTER_LOWER,
	 .headline = true,
	 .help = "per request, from its due time (open loop) or its send (closed loop) to the full "
		 "echo"},
	{.name = "send_lag_ns",
	 .kind = METRIC_DIST,
	 .unit = "ns",
	 .better = BETTER_LOWER,
	 .optional = true,
	 .help = "how late each send left after its due time (open loop only)"},
	{.name = "requests", .unit = "count", .help = "measured requests"},
	{.name = "loadgen_requests",
	 .unit = "count",
	 .help = "requests loadgen sent, warm-up included"},
	{.name = "server_requests",
	 .unit = "count",
	 .help = "requests the server echoed, warm-up included"},
	{.name = "server_bytes", .unit = "bytes", .help = "bytes the server echoed"},
	{.name = "loadgen_bytes_sent", .unit = "bytes", .help = "bytes loadgen sent"},
	{.name = "mismatches", .unit = "count", .help = "echoes that differ from what was sent"},
	{.name = "late_starts",
	 .unit = "count",
	 .help = "open loop: sends that left after the next one was due"},
	{.name = "requests_unsent",
	 .unit = "count",
	 .help = "open loop: requests still due when the window closed"},
	{.name = "connect_ns", .unit = "ns", .help = "loadgen's time to open every connection"},
	{.name = "window_ns", .unit = "ns", .help = "loadgen's measured window"},
	{.name = "client_cpu_utilization",
	 .unit = "ratio",
	 .help = "loadgen's CPU over its window, 0..1: above 0.8 the cell measures the client"},
	{.name = "client_runqueue_wait_fraction",
	 .unit = "ratio",
	 .help = "share of loadgen's window it waited runnable for a CPU"},
	{.name = "client_bound", .kind = METRIC_FLAG, .help = "client_cpu_utilization above 0.8"},
	{.name = "client_cpus_usable", .unit = "count", .help = "CPUs loadgen may run on"},
	{.name = "client_cpu_ns_window", .unit = "ns", .help = "loadgen's CPU time in its window"},
	{.name = "client_wall_ns_window", .unit = "ns", .help = "loadgen's window, wall clock"},
	{.name = "client_cpu_ns_per_request",
	 .unit = "ns",
	 .help = "loadgen's CPU time per measured request"},
	{.name = "client_cpu_ns", .unit = "ns", .help = "loadgen's CPU time, whole process"},
	{.name = "client_ring_setup",
	 .kind = METRIC_TEXT,
	 .help = "how loadgen's io_uring was set up"},
	{.name = "server_cpu_ns",
	 .unit = "ns",
	 .help = "the server process's CPU time from the first accept to the last close"},
	{.name = "server_cpu_ns_window",
	 .unit = "ns",
	 .help = "the server process's CPU between loadgen's window marks"},
	{.name = "server_setup_cpu_ns",
	 .unit = "ns",
	 .help = "the server's CPU from loadgen's start to the window's start: accepts, tasks, "
		 "warm-up"},
	{.name = "server_setup_cpu_ns_per_connection",
	 .unit = "ns",
	 .better = BETTER_LOWER,
	 .help = "server_setup_cpu_ns / connections"},
	{.name = "server_span_cpu_ns_per_request",
	 .unit = "ns",
	 .better = BETTER_LOWER,
	 .help = "server_cpu_ns (first accept to last close) / every request echoed, warm-up "
		 "included"},
	{.name = "server_cpu_ns_per_request",
	 .unit = "ns",
	 .better = BETTER_LOWER,
	 .headline = true,
	 .help = "steady state: server_cpu_ns_window / the requests loadgen measured in its "
		 "window (set-up excluded)"},
	{.name = "server_cpu_utilization",
	 .unit = "ratio",
	 .optional = true,
	 .help = "server_cpu_ns over the server's window and its CPUs"},
	{.name = "port", .help = "the TCP port the server listened on"},
	{.name = "client_cpus_effective", .kind = METRIC_TEXT, .help = "the CPUs loadgen ran on"},
	{.name = "warmup_round_trips_per_connection",
	 .unit = "count",
	 .help = "untimed round trips per connection first"},
	{.name = "server_rss_bytes",
	 .unit = "bytes",
	 .help = "server RSS with every connection open"},
	{.name = "server_rss_bytes_per_connection",
	 .unit = "bytes",
	 .better = BETTER_LOWER,
	 .help = "server RSS growth per accepted connection"},
	{.name = "connections", .unit = "count", .help = "connections the server accepted"},
	{.name = "connections_requested", .unit = "count", .help = "connections asked for"},
	{.name = "server_connection_errors",
	 .unit = "count",
	 .help = "connections that ended with an error on the server side"},
	METRIC_END,
};

const struct task echo_task = {
	.name = "echo",
	.summary = "TCP echo server on 127.0.0.1 under load from build/loadgen: I/O-bound work",
	.params = echo_params,
	.metrics = echo_metrics,
	.validate = echo_validate,
	.setup = echo_setup,
	.run = echo_run,
};
