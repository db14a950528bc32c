/* drive.c: the echo client's event loop.
 *
 * One thread, one epoll set, edge-triggered, so each socket is registered
 * once (EPOLLIN|EPOLLOUT) and no epoll_ctl is spent per request. Every
 * connection keeps at most one request in flight (wrk2's model): the next
 * message is written only after the whole echo of the previous one came back
 * and was compared byte for byte with what was sent.
 *
 * Closed loop (rate 0): a connection sends its next request as soon as the
 * echo arrives; latency runs from the send.
 * Open loop (rate R): request g of the whole run (g = conn + k * connections)
 * is due at t0 + g / R. A connection whose previous echo is late sends the
 * next request late, but its latency still runs from the due time, so a
 * stalled server shows up in the tail instead of hiding by slowing the
 * client (the coordinated-omission correction). Idle connections wait in a
 * min-heap on their due time; one timerfd, armed to the earliest, wakes us.
 *
 * Phases: connect every socket, then `warmup` untimed round trips per
 * connection, then the measured window, which ends after `requests` measured
 * requests or at duration_ms; requests in flight then finish (drain) so that
 * the client and the server count the same bytes.
 */
#include "loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "lib/clock.h"

#define TIMER_TAG  UINT64_MAX
#define MAX_EVENTS 256

enum conn_state {
	C_CONNECTING, /* connect() in progress */
	C_IDLE,	      /* connected, nothing in flight (maybe in the heap) */
	C_SENDING,    /* writing the current message */
	C_RECEIVING,  /* waiting for the rest of its echo */
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
	uint64_t next_due_ns;
	int measuring; /* the request in flight (or scheduled) is measured */
	size_t sent, received;
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
	int epfd, tfd;
	enum phase phase;
	uint64_t connected, warm_ready, done, issued;
	uint64_t start_ns, t0, t_end, last_done_ns, armed_ns;
	double interval_ns; /* open loop: ns between consecutive requests */
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

/* ---- one connection ---------------------------------------------------- */

static void start_request(struct loop *l, struct conn *c, uint64_t origin_ns, int measuring)
{
	lg_fill(c->tx, l->o->message_bytes, l->o->seed, c->id, c->seq);
	c->seq++;
	c->sent = 0;
	c->received = 0;
	c->origin_ns = origin_ns;
	c->measuring = measuring;
	c->state = C_SENDING;
}

/* Moves the request in flight forward until the socket would block.
 * 1: the echo is complete and verified, 0: waiting, <0: failed.
 * fresh: the request was started here, not resumed by an event. Then the
 * echo cannot have arrived before our write, so its EPOLLIN edge is still to
 * come and reading now would only return EAGAIN: one syscall per request
 * saved, on the client that bounds the whole measurement. */
static int progress(struct loop *l, struct conn *c, int fresh)
{
	size_t len = l->o->message_bytes;
	ssize_t n;

	while (c->state == C_SENDING) {
		n = write(c->fd, c->tx + c->sent, len - c->sent);
		if (n < 0) {
			if (errno == EAGAIN)
				return 0;
			return fail(l, -errno, "send on connection %lu after %lu requests: %s",
				    c->id, c->seq - 1, strerror(errno));
		}
		c->sent += (size_t)n;
		l->res->bytes_sent += (uint64_t)n;
		if (c->sent == len) {
			c->state = C_RECEIVING;
			if (fresh)
				return 0;
		}
	}
	while (c->state == C_RECEIVING) {
		n = read(c->fd, c->rx + c->received, len - c->received);
		if (n == 0)
			return fail(l, -EPIPE,
				    "connection %lu closed by the server after %lu requests", c->id,
				    c->seq - 1);
		if (n < 0) {
			if (errno == EAGAIN)
				return 0;
			return fail(l, -errno, "receive on connection %lu after %lu requests: %s",
				    c->id, c->seq - 1, strerror(errno));
		}
		c->received += (size_t)n;
		l->res->bytes_received += (uint64_t)n;
		if (c->received < len)
			continue;
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
		return 1;
	}
	return 0;
}

/* Decides the next measured request of an idle connection: start it now
 * (returns 1), park it in the heap until due, or retire the connection. */
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
		c->k++;
		l->issued++;
		if (due < now && may_start)
			l->res->late_starts++;
	}
	c->measuring = 1;
	if (may_start && due <= now) {
		start_request(l, c, due, 1);
		return 1;
	}
	c->next_due_ns = due;
	heap_push(l, due, (uint32_t)c->id);
	return 0;

retire:
	c->state = C_DONE;
	l->done++;
	return 0;
}

static void begin_measure(struct loop *l, uint64_t now)
{
	l->phase = P_MEASURE;
	l->t0 = now;
	l->t_end = now + l->o->duration_ms * 1000000ull;
	for (uint64_t i = 0; i < l->o->connections; i++)
		schedule_next(l, &l->conns[i], now, 0);
}

static void begin_warmup_or_measure(struct loop *l, uint64_t now)
{
	l->res->connect_ns = now - l->start_ns;
	if (!l->o->warmup) {
		begin_measure(l, now);
		return;
	}
	l->phase = P_WARMUP;
	for (uint64_t i = 0; i < l->o->connections; i++) {
		l->conns[i].measuring = 0;
		heap_push(l, now, (uint32_t)i);
	}
}

/* After an echo completed: what this connection does next. 1: a new request
 * was started and needs progress, 0: nothing now. */
static int on_free(struct loop *l, struct conn *c)
{
	uint64_t now = now_ns();

	if (l->phase == P_WARMUP) {
		if (c->seq < l->o->warmup) {
			start_request(l, c, now, 0);
			return 1;
		}
		if (++l->warm_ready == l->o->connections)
			begin_measure(l, now);
		return 0;
	}
	return schedule_next(l, c, now, 1);
}

static int service(struct loop *l, struct conn *c, int fresh)
{
	int r;

	for (;;) {
		r = progress(l, c, fresh);
		if (r <= 0)
			return r;
		r = on_free(l, c);
		if (r <= 0)
			return r;
		fresh = 1; /* on_free started the next request just now */
	}
}

static int on_connected(struct loop *l, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	if (err)
		return fail(l, -err, "connect %s:%u (connection %lu of %lu): %s", l->o->host,
			    l->o->port, c->id + 1, l->o->connections, strerror(err));
	c->state = C_IDLE;
	if (++l->connected == l->o->connections)
		begin_warmup_or_measure(l, now_ns());
	return 0;
}

/* An event on a connection with nothing in flight: the server closed it or
 * sent bytes nobody asked for. Both end the run. */
static int on_unexpected(struct loop *l, struct conn *c, uint32_t events)
{
	char byte;
	ssize_t n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n == 0)
		return fail(l, -EPIPE, "connection %lu closed by the server after %lu requests",
			    c->id, c->seq);
	if (n > 0)
		return fail(l, -EPROTO, "connection %lu: the server sent bytes nobody asked for",
			    c->id);
	if (errno != EAGAIN)
		return fail(l, -errno, "connection %lu: %s", c->id, strerror(errno));
	(void)events;
	return 0;
}

static int on_event(struct loop *l, struct conn *c, uint32_t events)
{
	switch (c->state) {
	case C_CONNECTING:
		return on_connected(l, c);
	case C_SENDING:
	case C_RECEIVING:
		return service(l, c, 0);
	case C_IDLE:
	case C_DONE:
		if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			return on_unexpected(l, c, events);
		return 0;
	}
	return 0;
}

/* ---- setup and the loop ------------------------------------------------ */

static int open_conns(struct loop *l)
{
	const struct lg_opts *o = l->o;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(o->port)};
	int one = 1;

	if (inet_pton(AF_INET, o->host, &sa.sin_addr) != 1)
		return fail(l, -EINVAL, "host %s: not an IPv4 address", o->host);
	for (uint64_t i = 0; i < o->connections; i++) {
		struct conn *c = &l->conns[i];
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
					 .data.u64 = i};

		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0)
			return fail(l, -errno, "socket for connection %lu of %lu: %s", i + 1,
				    o->connections, strerror(errno));
		/* one small message at a time: Nagle would hold back a partial write */
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, c->fd, &ev))
			return fail(l, -errno, "epoll_ctl: %s", strerror(errno));
		if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			int err = on_connected(l, c);

			if (err)
				return err;
		} else if (errno != EINPROGRESS) {
			return fail(l, -errno, "connect %s:%u (connection %lu of %lu): %s", o->host,
				    o->port, i + 1, o->connections, strerror(errno));
		}
	}
	return 0;
}

/* Arms the timerfd to the earliest due time in the heap (absolute). */
static int arm_timer(struct loop *l)
{
	struct itimerspec its = {0};
	uint64_t due;

	if (!l->heap_len)
		return 0;
	due = l->heap[0].due_ns;
	if (due == l->armed_ns)
		return 0;
	its.it_value.tv_sec = (time_t)(due / 1000000000ull);
	its.it_value.tv_nsec = (long)(due % 1000000000ull);
	if (timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL))
		return fail(l, -errno, "timerfd_settime: %s", strerror(errno));
	l->armed_ns = due;
	return 0;
}

static int run_due(struct loop *l, uint64_t now)
{
	int err;

	while (l->heap_len && l->heap[0].due_ns <= now) {
		struct heap_ent e = heap_pop(l);
		struct conn *c = &l->conns[e.conn];

		start_request(l, c, c->measuring && l->o->rate ? e.due_ns : now_ns(), c->measuring);
		err = service(l, c, 1);
		if (err < 0)
			return err;
	}
	return 0;
}

static int loop_run(struct loop *l)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t deadline = l->start_ns + l->o->deadline_s * 1000000000ull;
	int err, n;

	err = open_conns(l);
	while (!err && l->done < l->o->connections) {
		uint64_t now = now_ns();

		if (now > deadline) {
			err = fail(l, -ETIMEDOUT,
				   "deadline of %lu s passed: %lu of %lu connections established, "
				   "%lu finished, %lu requests answered (server stalled?)",
				   l->o->deadline_s, l->connected, l->o->connections, l->done,
				   l->res->requests + l->res->warmup_requests);
			break;
		}
		err = run_due(l, now);
		if (!err)
			err = arm_timer(l);
		if (err)
			break;
		/* bounded wait so the deadline is checked even if nothing happens */
		n = epoll_wait(l->epfd, evs, MAX_EVENTS, 100);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = fail(l, -errno, "epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n && !err; i++) {
			if (evs[i].data.u64 == TIMER_TAG) {
				uint64_t ticks;

				/* only wakes us; run_due does the work */
				if (read(l->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
					err = fail(l, -errno, "timerfd read: %s", strerror(errno));
				l->armed_ns = 0;
				continue;
			}
			err = on_event(l, &l->conns[evs[i].data.u64], evs[i].events);
		}
	}
	if (l->res->requests)
		l->res->window_ns = l->last_done_ns - l->t0;
	return err;
}

int lg_drive(const struct lg_opts *o, struct lg_result *res)
{
	struct loop l = {.o = o, .res = res, .epfd = -1, .tfd = -1};
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TIMER_TAG};
	size_t mb = o->message_bytes;
	int err = 0;

	hist_init(&res->latency_ns);
	l.start_ns = now_ns();
	if (o->rate)
		l.interval_ns = 1e9 / (double)o->rate;
	l.conns = calloc(o->connections, sizeof(*l.conns));
	l.heap = calloc(o->connections, sizeof(*l.heap));
	l.mem = malloc(o->connections * 2 * mb);
	if (!l.conns || !l.heap || !l.mem) {
		err = fail(&l, -ENOMEM, "out of memory for %lu connections", o->connections);
		goto cleanup;
	}
	for (uint64_t i = 0; i < o->connections; i++) {
		l.conns[i].fd = -1;
		l.conns[i].id = i;
		l.conns[i].tx = l.mem + i * 2 * mb;
		l.conns[i].rx = l.conns[i].tx + mb;
	}
	l.epfd = epoll_create1(EPOLL_CLOEXEC);
	l.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l.epfd < 0 || l.tfd < 0) {
		err = fail(&l, -errno, "epoll/timerfd: %s", strerror(errno));
		goto cleanup;
	}
	if (epoll_ctl(l.epfd, EPOLL_CTL_ADD, l.tfd, &ev)) {
		err = fail(&l, -errno, "epoll_ctl timerfd: %s", strerror(errno));
		goto cleanup;
	}
	err = loop_run(&l);
cleanup:
	if (l.conns)
		for (uint64_t i = 0; i < o->connections; i++)
			if (l.conns[i].fd >= 0)
				close(l.conns[i].fd);
	if (l.tfd >= 0)
		close(l.tfd);
	if (l.epfd >= 0)
		close(l.epfd);
	free(l.mem);
	free(l.heap);
	free(l.conns);
	return err;
}
