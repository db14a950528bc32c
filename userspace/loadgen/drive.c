/* drive.c: the echo client's event loop, on io_uring.
 *
 * The client should cost as little per request as it can, or a throughput
 * figure measures the client. So it batches: one io_uring_enter per loop
 * turn submits every send that is due and reaps every echo that arrived,
 * whatever the number of connections. What remains is the loopback TCP
 * stack, which a sender pays for both ends of (docs/echo.md): models are
 * compared at a fixed offered rate, well below what the client can send.
 *   - each connection has one multishot recv armed for its whole life
 *     (provided buffers from one buffer ring): no per-request receive SQE,
 *     no per-request poll arming;
 *   - a send is one SQE with MSG_WAITALL (the kernel finishes a short send
 *     itself) and IOSQE_CQE_SKIP_SUCCESS: only a failed send posts a CQE;
 *   - the ring is SINGLE_ISSUER|DEFER_TASKRUN where the kernel allows it, so
 *     echoes arriving while we work are completed in one batch when we next
 *     wait, not by interrupting us one at a time;
 *   - the next due time is the wait's timeout: no timerfd, no extra syscall.
 *
 * Every connection keeps at most one request in flight (wrk2's model): the
 * next message is sent only after the whole echo of the previous one came
 * back and was compared byte for byte with what was sent.
 *
 * Closed loop (rate 0): a connection sends its next request as soon as the
 * echo arrives; latency runs from the moment the request was started.
 * Open loop (rate R): request g of the whole run (g = conn + k * connections)
 * is due at t0 + g / R. A connection whose previous echo is late sends the
 * next request late, but its latency still runs from the due time, so a
 * stalled server shows up in the tail instead of hiding by slowing the
 * client (the coordinated-omission correction). send_lag_ns records how late
 * each request was sent. Idle connections wait in a min-heap on their due time.
 *
 * Phases: connect every socket, then `warmup` untimed round trips per
 * connection, then the measured window, which ends after `requests` measured
 * requests or at duration_ms; requests in flight then finish (drain) so that
 * the client and the server count the same bytes. In open loop for a
 * duration, requests an overloaded server never let us send are abandoned
 * shortly after the schedule ends (plan_open_loop). The client's CPU time is
 * read at the window's start and end (cpu_ns_window).
 */
#include "loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/clock.h"

#define UD_CONNECT   1ull
#define UD_RECV	     2ull
#define UD_SEND	     3ull
#define UD(kind, id) ((kind) << 56 | (id))
#define UD_KIND(ud)  ((ud) >> 56)
#define UD_ID(ud)    ((ud) & ((1ull << 56) - 1))

#define BGID		0
#define RING_SQ		1024
#define RING_CQ_MAX	65536
#define BUF_ENTRIES_MAX 32768
#define WAIT_MAX_NS	100000000ull /* the deadline is checked at least this often */

enum conn_state {
	C_CONNECTING, /* connect submitted */
	C_IDLE,	      /* connected, nothing in flight (maybe in the heap) */
	C_INFLIGHT,   /* sent (or sending), its echo not yet complete */
	C_DONE,	      /* no more requests for this connection */
};

enum phase { P_CONNECT, P_WARMUP, P_MEASURE };

struct conn {
	int fd;
	enum conn_state state;
	uint64_t id;
	uint64_t seq;	    /* messages started on this connection, warmup included */
	uint64_t k;	    /* measured requests scheduled (open-loop index) */
	uint64_t origin_ns; /* latency origin of the request in flight */
	int measuring;	    /* the request in flight (or scheduled) is measured */
	int rearm;	    /* its multishot recv ended: in rearm_ids, armed after the batch */
	size_t received;
	unsigned char *tx, *rx;
};

struct heap_ent {
	uint64_t due_ns;
	uint32_t conn;
};

struct loop {
	const struct lg_opts *o;
	struct lg_result *res;
	struct conn *conns;
	struct heap_ent *heap;
	size_t heap_len;
	uint32_t *rearm_ids; /* connections whose recv must be armed again */
	size_t rearm_len;
	struct sockaddr_in server; /* read by the kernel when the connects are submitted */
	struct io_uring ring;
	int ring_ok;
	struct io_uring_buf_ring *br;
	unsigned char *bufs;
	unsigned buf_entries, buf_bytes, recycled;
	enum phase phase;
	uint64_t connected, warm_ready, done, issued;
	uint64_t start_ns, t0, t_end, last_done_ns;
	/* open loop for duration_ms: requests still unsent at send_until are
	 * abandoned (counted in requests_unsent), so an overloaded server ends
	 * the run instead of draining its backlog for minutes */
	uint64_t send_until, scheduled, sent_measured;
	uint64_t cpu0_ns, wait0_ns; /* client CPU and run-queue wait at t0 */
	double interval_ns;	    /* open loop: ns between consecutive requests */
	unsigned char *mem;
};

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void lg_fill(unsigned char *buf, size_t len, uint64_t seed, uint64_t conn, uint64_t seq)
{
	uint64_t key = splitmix64(seed ^ splitmix64(conn ^ (seq << 24) ^ (seq >> 40)));

	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = splitmix64(key + i);
		size_t n = len - i < 8 ? len - i : 8;

		memcpy(buf + i, &w, n);
	}
}

static int fail(struct loop *l, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct loop *l, int err, const char *fmt, ...)
{
	va_list ap;

	/* the first failure is the one worth reporting */
	if (!l->res->reason[0]) {
		va_start(ap, fmt);
		vsnprintf(l->res->reason, sizeof(l->res->reason), fmt, ap);
		va_end(ap);
	}
	return err < 0 ? err : -EIO;
}

/* Time this thread spent runnable but not running (/proc/thread-self/
 * schedstat, second field), ns; 0 where the kernel does not say. A client
 * starved of its CPU by others measures them, not the server. */
static uint64_t runqueue_wait_ns(void)
{
	unsigned long long run = 0, wait = 0;
	FILE *f = fopen("/proc/thread-self/schedstat", "re");

	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &run, &wait) != 2)
		wait = 0;
	fclose(f);
	return wait;
}

/* ---- the heap of idle connections, ordered by due time ---------------- */

static void heap_push(struct loop *l, uint64_t due_ns, uint32_t conn)
{
	size_t i = l->heap_len++;

	/* capacity is one slot per connection: a connection is in it at most once */
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (l->heap[p].due_ns <= due_ns)
			break;
		l->heap[i] = l->heap[p];
		i = p;
	}
	l->heap[i] = (struct heap_ent){.due_ns = due_ns, .conn = conn};
}

static struct heap_ent heap_pop(struct loop *l)
{
	struct heap_ent top = l->heap[0], last = l->heap[--l->heap_len];
	size_t i = 0, n = l->heap_len;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && l->heap[c + 1].due_ns < l->heap[c].due_ns)
			c++;
		if (last.due_ns <= l->heap[c].due_ns)
			break;
		l->heap[i] = l->heap[c];
		i = c;
	}
	if (n)
		l->heap[i] = last;
	return top;
}

/* ---- submissions -------------------------------------------------------- */

/* A free SQE, submitting what is queued when the ring is full. */
static struct io_uring_sqe *get_sqe(struct loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (!sqe) {
		io_uring_submit(&l->ring);
		sqe = io_uring_get_sqe(&l->ring);
	}
	return sqe;
}

static int arm_recv(struct loop *l, struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(l);

	if (!sqe)
		return fail(l, -EBUSY, "io_uring submission queue stuck full");
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, UD(UD_RECV, c->id));
	c->rearm = 0;
	return 0;
}

/* Fills and sends the next message of c. origin_ns: its latency origin. */
static int start_request(struct loop *l, struct conn *c, uint64_t origin_ns, int measuring)
{
	size_t len = l->o->message_bytes;
	struct io_uring_sqe *sqe = get_sqe(l);

	if (!sqe)
		return fail(l, -EBUSY, "io_uring submission queue stuck full");
	lg_fill(c->tx, len, l->o->seed, c->id, c->seq);
	c->seq++;
	c->received = 0;
	c->origin_ns = origin_ns;
	c->measuring = measuring;
	c->state = C_INFLIGHT;
	l->sent_measured += measuring != 0;
	/* counted when queued: a send that fails ends the run */
	l->res->bytes_sent += len;
	/* the buffer is reused only after its whole echo is back, by which
	 * time every byte of it has left */
	io_uring_prep_send(sqe, c->fd, c->tx, len, MSG_WAITALL | MSG_NOSIGNAL);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, UD(UD_SEND, c->id));
	return 0;
}

/* ---- scheduling ---------------------------------------------------------- */

/* Decides the next measured request of an idle connection: start it now,
 * park it in the heap until due, or retire the connection. */
static int schedule_next(struct loop *l, struct conn *c, uint64_t now, int may_start)
{
	const struct lg_opts *o = l->o;
	uint64_t due;

	if (!o->rate) {
		if (o->requests ? l->issued >= o->requests : now >= l->t_end)
			goto retire;
		l->issued++;
		due = now;
	} else {
		uint64_t g = c->id + c->k * o->connections;

		if (o->requests && g >= o->requests)
			goto retire;
		due = l->t0 + (uint64_t)((double)g * l->interval_ns);
		if (!o->requests && due >= l->t_end)
			goto retire;
		if (l->send_until && now >= l->send_until)
			goto retire;
		c->k++;
		l->issued++;
	}
	c->measuring = 1;
	if (may_start && due <= now) {
		if (o->rate) {
			if (due < now)
				l->res->late_starts++;
			hist_add(&l->res->send_lag_ns, now - due);
		}
		return start_request(l, c, due, 1);
	}
	heap_push(l, due, (uint32_t)c->id);
	return 0;

retire:
	c->state = C_DONE;
	l->done++;
	return 0;
}

/* Open loop for a duration: how many requests the schedule holds (due
 * before t_end), and when to stop sending the ones the server left behind:
 * 100 ms or a tenth of the window after its end, whichever is longer, far
 * more than a server that keeps up needs to catch up. */
static void plan_open_loop(struct loop *l)
{
	uint64_t d = l->o->duration_ms * 1000000ull, g;

	if (!l->o->rate || l->o->requests)
		return;
	g = (uint64_t)((double)d / l->interval_ns);
	while (g && (uint64_t)((double)(g - 1) * l->interval_ns) >= d)
		g--;
	while ((uint64_t)((double)g * l->interval_ns) < d)
		g++;
	l->scheduled = g;
	l->send_until = l->t_end + (d / 10 > 100000000ull ? d / 10 : 100000000ull);
}

/* A mark for the server (--window-marks): one write, so it arrives whole
 * and before the JSON, which stdio writes at exit. */
static void mark(const struct loop *l, const char *line)
{
	if (l->o->window_marks && write(STDOUT_FILENO, line, strlen(line)) < 0)
		perror("loadgen: window mark");
}

static int begin_measure(struct loop *l, uint64_t now)
{
	int err = 0;

	mark(l, LG_MARK_START);
	l->phase = P_MEASURE;
	l->t0 = now;
	l->t_end = now + l->o->duration_ms * 1000000ull;
	plan_open_loop(l);
	l->cpu0_ns = process_cpu_ns();
	l->wait0_ns = runqueue_wait_ns();
	for (uint64_t i = 0; i < l->o->connections && !err; i++)
		err = schedule_next(l, &l->conns[i], now, 0);
	return err;
}

static int begin_warmup_or_measure(struct loop *l, uint64_t now)
{
	l->res->connect_ns = now - l->start_ns;
	if (!l->o->warmup)
		return begin_measure(l, now);
	l->phase = P_WARMUP;
	for (uint64_t i = 0; i < l->o->connections; i++) {
		l->conns[i].measuring = 0;
		heap_push(l, now, (uint32_t)i);
	}
	return 0;
}

/* After an echo completed: what this connection does next. */
static int on_free(struct loop *l, struct conn *c)
{
	uint64_t now = now_ns();

	if (l->phase == P_WARMUP) {
		if (c->seq < l->o->warmup)
			return start_request(l, c, now, 0);
		if (++l->warm_ready == l->o->connections)
			return begin_measure(l, now);
		return 0;
	}
	return schedule_next(l, c, now, 1);
}

static int run_due(struct loop *l, uint64_t now)
{
	int err = 0;

	while (!err && l->heap_len && l->heap[0].due_ns <= now) {
		struct heap_ent e = heap_pop(l);
		struct conn *c = &l->conns[e.conn];
		int open = c->measuring && l->o->rate;

		if (open && l->send_until && now >= l->send_until) {
			c->state = C_DONE; /* abandoned: see plan_open_loop */
			l->done++;
			continue;
		}
		if (open) {
			if (e.due_ns < now)
				l->res->late_starts++;
			hist_add(&l->res->send_lag_ns, now - e.due_ns);
		}
		err = start_request(l, c, open ? e.due_ns : now, c->measuring);
	}
	return err;
}

/* ---- completions ---------------------------------------------------------- */

static void recycle(struct loop *l, unsigned bid)
{
	io_uring_buf_ring_add(l->br, l->bufs + (size_t)bid * l->buf_bytes, l->buf_bytes,
			      (unsigned short)bid, io_uring_buf_ring_mask(l->buf_entries),
			      (int)l->recycled);
	l->recycled++;
}

static int on_echo(struct loop *l, struct conn *c)
{
	size_t len = l->o->message_bytes;

	c->state = C_IDLE;
	if (memcmp(c->rx, c->tx, len))
		l->res->mismatches++;
	if (c->measuring) {
		uint64_t now = now_ns();

		hist_add(&l->res->latency_ns, now - c->origin_ns);
		l->res->requests++;
		l->last_done_ns = now;
	} else {
		l->res->warmup_requests++;
	}
	return on_free(l, c);
}

static void want_rearm(struct loop *l, struct conn *c)
{
	if (!c->rearm) {
		c->rearm = 1;
		l->rearm_ids[l->rearm_len++] = (uint32_t)c->id;
	}
}

static int on_recv(struct loop *l, struct conn *c, const struct io_uring_cqe *cqe)
{
	size_t len = l->o->message_bytes, n;
	int more = cqe->flags & IORING_CQE_F_MORE;
	const unsigned char *data;
	unsigned bid;

	if (cqe->res == -ENOBUFS) {
		/* every provided buffer was in use: re-arm once this batch has
		 * given them back; the bytes wait in the socket */
		want_rearm(l, c);
		return 0;
	}
	if (cqe->res == 0)
		return fail(l, -EPIPE, "connection %lu closed by the server after %lu requests",
			    c->id, c->seq ? c->seq - 1 : 0);
	if (cqe->res < 0)
		return fail(l, cqe->res, "receive on connection %lu after %lu requests: %s", c->id,
			    c->seq ? c->seq - 1 : 0, strerror(-cqe->res));
	if (!more)
		want_rearm(l, c);
	bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	data = l->bufs + (size_t)bid * l->buf_bytes;
	n = (size_t)cqe->res;
	if (c->state != C_INFLIGHT || c->received + n > len) {
		recycle(l, bid);
		return fail(l, -EPROTO, "connection %lu: the server sent bytes nobody asked for",
			    c->id);
	}
	memcpy(c->rx + c->received, data, n);
	c->received += n;
	l->res->bytes_received += n;
	recycle(l, bid);
	return c->received == len ? on_echo(l, c) : 0;
}

static int on_connected(struct loop *l, struct conn *c, int res)
{
	int err;

	if (res < 0)
		return fail(l, res, "connect %s:%u (connection %lu of %lu): %s", l->o->host,
			    l->o->port, c->id + 1, l->o->connections, strerror(-res));
	c->state = C_IDLE;
	err = arm_recv(l, c);
	if (!err && ++l->connected == l->o->connections)
		err = begin_warmup_or_measure(l, now_ns());
	return err;
}

static int on_cqe(struct loop *l, const struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe), id = UD_ID(ud);
	struct conn *c;

	if (id >= l->o->connections)
		return fail(l, -EIO, "io_uring completion for an unknown connection %lu", id);
	c = &l->conns[id];
	switch (UD_KIND(ud)) {
	case UD_CONNECT:
		return on_connected(l, c, cqe->res);
	case UD_RECV:
		return on_recv(l, c, cqe);
	case UD_SEND:
		/* successes post nothing (CQE_SKIP_SUCCESS): this one failed */
		return fail(l, cqe->res < 0 ? cqe->res : -EIO,
			    "send on connection %lu after %lu requests: %s", c->id,
			    c->seq ? c->seq - 1 : 0,
			    cqe->res < 0 ? strerror(-cqe->res) : "short send");
	}
	return fail(l, -EIO, "io_uring completion of an unknown kind %lu", UD_KIND(ud));
}

/* Handles every completion ready now, then gives the buffers back and
 * re-arms the receives that ended. */
static int reap(struct loop *l)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	int err = 0;

	io_uring_for_each_cqe(&l->ring, head, cqe)
	{
		seen++;
		if (!err)
			err = on_cqe(l, cqe);
	}
	io_uring_cq_advance(&l->ring, seen);
	if (l->recycled) {
		io_uring_buf_ring_advance(l->br, (int)l->recycled);
		l->recycled = 0;
	}
	while (!err && l->rearm_len)
		err = arm_recv(l, &l->conns[l->rearm_ids[--l->rearm_len]]);
	return err;
}

/* ---- setup and the loop ------------------------------------------------ */

static unsigned pow2_at_least(uint64_t n, unsigned lo, unsigned hi)
{
	unsigned v = lo;

	while (v < n && v < hi)
		v <<= 1;
	return v;
}

/* The best ring this kernel accepts; the output names it (ring_setup). */
static int ring_init(struct loop *l)
{
	static const struct {
		unsigned flags;
		const char *name;
	} setups[] = {
		{IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		 "single_issuer|defer_taskrun"},
		{IORING_SETUP_COOP_TASKRUN, "coop_taskrun"},
		{0, "plain"},
	};
	int err = -ENOSYS;

	for (size_t i = 0; i < sizeof(setups) / sizeof(setups[0]); i++) {
		struct io_uring_params p = {
			.flags = setups[i].flags | IORING_SETUP_CQSIZE,
			.cq_entries =
				pow2_at_least(4 * l->o->connections, 2 * RING_SQ, RING_CQ_MAX),
		};

		err = io_uring_queue_init_params(RING_SQ, &l->ring, &p);
		if (!err) {
			snprintf(l->res->ring_setup, sizeof(l->res->ring_setup), "%s",
				 setups[i].name);
			l->ring_ok = 1;
			return 0;
		}
	}
	l->res->unavailable = 1;
	return fail(l, err, "io_uring unavailable: %s", strerror(-err));
}

/* One buffer ring shared by every connection's multishot recv: enough
 * buffers for every connection to have a message in flight. */
static int bufs_init(struct loop *l)
{
	size_t mb = l->o->message_bytes;
	struct io_uring_buf_reg reg = {0};
	unsigned mask;
	int err;

	l->buf_bytes = mb < 64 ? 64 : mb > 16384 ? 16384 : (unsigned)mb;
	l->buf_entries =
		pow2_at_least(l->o->connections * ((mb + l->buf_bytes - 1) / l->buf_bytes) + 64, 64,
			      BUF_ENTRIES_MAX);
	if (posix_memalign((void **)&l->br, 4096, l->buf_entries * sizeof(struct io_uring_buf)))
		return fail(l, -ENOMEM, "out of memory for the buffer ring");
	l->bufs = malloc((size_t)l->buf_entries * l->buf_bytes);
	if (!l->bufs)
		return fail(l, -ENOMEM, "out of memory for %u receive buffers", l->buf_entries);
	io_uring_buf_ring_init(l->br);
	reg.ring_addr = (unsigned long)l->br;
	reg.ring_entries = l->buf_entries;
	reg.bgid = BGID;
	err = io_uring_register_buf_ring(&l->ring, &reg, 0);
	if (err)
		return fail(l, err, "io_uring_register_buf_ring: %s", strerror(-err));
	mask = io_uring_buf_ring_mask(l->buf_entries);
	for (unsigned i = 0; i < l->buf_entries; i++)
		io_uring_buf_ring_add(l->br, l->bufs + (size_t)i * l->buf_bytes, l->buf_bytes,
				      (unsigned short)i, mask, (int)i);
	io_uring_buf_ring_advance(l->br, (int)l->buf_entries);
	return 0;
}

static int open_conns(struct loop *l)
{
	const struct lg_opts *o = l->o;
	struct sockaddr_in *sa = &l->server;
	int one = 1;

	*sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(o->port)};
	if (inet_pton(AF_INET, o->host, &sa->sin_addr) != 1)
		return fail(l, -EINVAL, "host %s: not an IPv4 address", o->host);
	for (uint64_t i = 0; i < o->connections; i++) {
		struct conn *c = &l->conns[i];
		struct io_uring_sqe *sqe;

		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0)
			return fail(l, -errno, "socket for connection %lu of %lu: %s", i + 1,
				    o->connections, strerror(errno));
		/* one small message at a time: Nagle would hold back a partial write */
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		sqe = get_sqe(l);
		if (!sqe)
			return fail(l, -EBUSY, "io_uring submission queue stuck full");
		io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)sa, sizeof(*sa));
		io_uring_sqe_set_data64(sqe, UD(UD_CONNECT, i));
	}
	return 0;
}

static int loop_run(struct loop *l)
{
	uint64_t deadline = l->start_ns + l->o->deadline_s * 1000000000ull;
	int err;

	err = open_conns(l);
	while (!err && l->done < l->o->connections) {
		uint64_t now = now_ns(), wait_ns = WAIT_MAX_NS;
		struct __kernel_timespec ts;
		struct io_uring_cqe *cqe;
		int ret;

		if (now > deadline) {
			err = fail(l, -ETIMEDOUT,
				   "deadline of %lu s passed: %lu of %lu connections established, "
				   "%lu finished, %lu requests answered (server stalled?)",
				   l->o->deadline_s, l->connected, l->o->connections, l->done,
				   l->res->requests + l->res->warmup_requests);
			break;
		}
		err = run_due(l, now);
		if (err)
			break;
		if (l->heap_len) {
			now = now_ns();
			wait_ns = l->heap[0].due_ns > now ? l->heap[0].due_ns - now : 0;
			if (wait_ns > WAIT_MAX_NS)
				wait_ns = WAIT_MAX_NS;
		}
		ts.tv_sec = (long long)(wait_ns / 1000000000ull);
		ts.tv_nsec = (long long)(wait_ns % 1000000000ull);
		/* one system call: submit what is queued, wait for an echo or
		 * the next due time */
		ret = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, &ts, NULL);
		if (ret < 0 && ret != -ETIME && ret != -EINTR) {
			err = fail(l, ret, "io_uring_enter: %s", strerror(-ret));
			break;
		}
		err = reap(l);
	}
	if (l->phase == P_MEASURE) {
		mark(l, LG_MARK_END);
		l->res->cpu_ns_window = process_cpu_ns() - l->cpu0_ns;
		l->res->runqueue_wait_ns_window = runqueue_wait_ns() - l->wait0_ns;
		l->res->wall_ns_window = now_ns() - l->t0;
	}
	if (l->res->requests)
		l->res->window_ns = l->last_done_ns - l->t0;
	if (l->scheduled > l->sent_measured)
		l->res->requests_unsent = l->scheduled - l->sent_measured;
	return err;
}

int lg_drive(const struct lg_opts *o, struct lg_result *res)
{
	struct loop l = {.o = o, .res = res};
	size_t mb = o->message_bytes;
	int err = 0;

	hist_init(&res->latency_ns);
	hist_init(&res->send_lag_ns);
	l.start_ns = now_ns();
	if (o->rate)
		l.interval_ns = 1e9 / (double)o->rate;
	l.conns = calloc(o->connections, sizeof(*l.conns));
	l.heap = calloc(o->connections, sizeof(*l.heap));
	l.rearm_ids = calloc(o->connections, sizeof(*l.rearm_ids));
	l.mem = malloc(o->connections * 2 * mb);
	if (!l.conns || !l.heap || !l.rearm_ids || !l.mem) {
		err = fail(&l, -ENOMEM, "out of memory for %lu connections", o->connections);
		goto cleanup;
	}
	for (uint64_t i = 0; i < o->connections; i++) {
		l.conns[i].fd = -1;
		l.conns[i].id = i;
		l.conns[i].tx = l.mem + i * 2 * mb;
		l.conns[i].rx = l.conns[i].tx + mb;
	}
	err = ring_init(&l);
	if (!err)
		err = bufs_init(&l);
	if (!err)
		err = loop_run(&l);
cleanup:
	/* the ring first: its armed receives hold the sockets open, and the
	 * server must see every connection close */
	if (l.ring_ok)
		io_uring_queue_exit(&l.ring);
	if (l.conns)
		for (uint64_t i = 0; i < o->connections; i++)
			if (l.conns[i].fd >= 0) {
				shutdown(l.conns[i].fd, SHUT_RDWR);
				close(l.conns[i].fd);
			}
	free(l.bufs);
	free(l.br);
	free(l.mem);
	free(l.heap);
	free(l.rearm_ids);
	free(l.conns);
	return err;
}
