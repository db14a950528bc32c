/* uring_accept.c: rt_accept for the uring model.
 *
 * Multishot (Linux 5.19+): the first rt_accept on a listening fd arms one
 * IORING_OP_ACCEPT with IORING_ACCEPT_MULTISHOT, which then posts a CQE per
 * connection until it ends (CQE without IORING_CQE_F_MORE: an error, or the
 * kernel stopped it). A new connection goes straight to the first coroutine
 * parked in rt_accept on that fd, or waits in the listener's queue for the
 * next rt_accept; so a burst of N connects costs one request instead of N.
 * Side effect, stated because the other models differ: connections are
 * accepted as soon as they arrive, even when no task is in rt_accept (the
 * record counts those: uring_accepts_queued); rt_close of the listener
 * closes the ones never taken.
 *
 * Detection is at run time, by use: a kernel without multishot accept fails
 * the first one with -EINVAL; then every accept of the run is single-shot
 * (one IORING_OP_ACCEPT per call) and uring_accept_note says why.
 * The model parameter uring_accept=single asks for single-shot (tests,
 * comparisons).
 *
 * The listener's state outlives rt_close: the cancelled multishot's last CQE
 * still points at it, so it is freed only after the ring is gone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "uring_rt.h"

/* A waiter's result meaning "multishot turned out unsupported: go
 * single-shot"; no errno is this negative. */
#define ACCEPT_RETRY_SINGLE INT32_MIN

struct accept_wait {
	struct accept_wait *next;
	struct coro *co;
	int32_t res;
};

struct listener {
	int fd;
	int armed;	  /* the multishot request is in flight */
	int closed;	  /* rt_close ran: drop whatever still arrives */
	int accepted_any; /* a CQE gave a connection (multishot works) */
	int *queue;	  /* accepted fds nobody asked for yet (FIFO ring) */
	size_t q_head, q_len, q_cap;
	struct accept_wait *w_head, *w_tail;
	struct listener *all_next;
};

void uring_accept_init(struct uring_rt *u, int multishot)
{
	u->multishot = multishot;
	if (!multishot)
		snprintf(u->accept_note, sizeof(u->accept_note),
			 "single-shot asked for (uring_accept=single)");
}

static struct listener *listener_get(struct uring_rt *u, int fd)
{
	struct listener *l;

	if ((size_t)fd >= u->nlisteners) {
		size_t n = u->nlisteners ? u->nlisteners : 64;
		struct listener **t;

		while (n <= (size_t)fd)
			n *= 2;
		t = realloc(u->listeners, n * sizeof(*t));
		if (!t)
			return NULL;
		memset(t + u->nlisteners, 0, (n - u->nlisteners) * sizeof(*t));
		u->listeners = t;
		u->nlisteners = n;
	}
	if (u->listeners[fd])
		return u->listeners[fd];
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->fd = fd;
	l->all_next = u->all_listeners;
	u->all_listeners = l;
	u->listeners[fd] = l;
	return l;
}

static int queue_push(struct listener *l, int fd)
{
	if (l->q_len == l->q_cap) {
		size_t cap = l->q_cap ? l->q_cap * 2 : 16, i;
		int *q = malloc(cap * sizeof(*q));

		if (!q)
			return -ENOMEM;
		for (i = 0; i < l->q_len; i++)
			q[i] = l->queue[(l->q_head + i) % l->q_cap];
		free(l->queue);
		l->queue = q;
		l->q_cap = cap;
		l->q_head = 0;
	}
	l->queue[(l->q_head + l->q_len) % l->q_cap] = fd;
	l->q_len++;
	return 0;
}

static int queue_pop(struct listener *l)
{
	int fd = l->queue[l->q_head];

	l->q_head = (l->q_head + 1) % l->q_cap;
	l->q_len--;
	return fd;
}

/* Hands res to the first waiter; 0 if there was none. */
static int hand_first(struct uring_rt *u, struct listener *l, int32_t res)
{
	struct accept_wait *w = l->w_head;

	if (!w)
		return 0;
	l->w_head = w->next;
	if (!l->w_head)
		l->w_tail = NULL;
	u->accept_waiters--;
	w->res = res;
	coro_ready(&u->cs.sched, w->co);
	return 1;
}

static int arm(struct uring_rt *u, struct listener *l)
{
	struct io_uring_sqe *sqe = uring_get_sqe(u);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)l | UD_LISTENER);
	u->sqes++;
	l->armed = 1;
	return 0;
}

void uring_accept_cqe(struct uring_rt *u, uint64_t user_data, int32_t res, uint32_t flags)
{
	struct listener *l = (struct listener *)(uintptr_t)(user_data & ~UD_LISTENER);

	if (!(flags & IORING_CQE_F_MORE))
		l->armed = 0;
	if (res >= 0) {
		l->accepted_any = 1;
		if (l->closed) {
			close(res);
		} else if (!hand_first(u, l, res)) {
			u->accepts_queued++;
			if (queue_push(l, res))
				close(res); /* no memory: that client sees a reset */
		}
	} else if (res == -EINVAL && !l->accepted_any && u->multishot) {
		/* The kernel refused the flag (before 5.19); a listener that
		 * is not listening fails the same way, and the single-shot
		 * retry then reports it. */
		u->multishot = 0;
		snprintf(u->accept_note, sizeof(u->accept_note),
			 "multishot accept refused (%s): one request per accept", strerror(-res));
		while (hand_first(u, l, ACCEPT_RETRY_SINGLE))
			;
		return;
	} else if (!l->closed) {
		/* An error ends the multishot; the first waiter gets it (it
		 * retries ECONNABORTED), the others get a fresh request. */
		hand_first(u, l, res);
	}
	if (!l->armed && l->w_head && !l->closed && arm(u, l))
		while (hand_first(u, l, -EBUSY))
			;
}

static int accept_single(struct uring_rt *u, int fd)
{
	struct io_uring_sqe *sqe = uring_get_sqe(u);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
	return uring_await(u, sqe, COSCHED_PARK_RECORD(&u->cs, struct uwait));
}

static int accept_multishot(struct uring_rt *u, int fd)
{
	struct listener *l = listener_get(u, fd);
	struct accept_wait *w;
	int err;

	if (!l)
		return -ENOMEM;
	if (l->q_len)
		return queue_pop(l);
	if (!l->armed) {
		err = arm(u, l);
		if (err)
			return err;
	}
	w = COSCHED_PARK_RECORD(&u->cs, struct accept_wait);
	w->co = coro_current(&u->cs.sched);
	if (l->w_tail)
		l->w_tail->next = w;
	else
		l->w_head = w;
	l->w_tail = w;
	u->accept_waiters++;
	coro_park(&u->cs.sched);
	return w->res;
}

int uring_accept(struct rt *rt, int fd)
{
	struct uring_rt *u = (struct uring_rt *)rt;
	int nfd, err;

	if (fd < 0)
		return -EBADF;
	do {
		nfd = u->multishot ? accept_multishot(u, fd) : ACCEPT_RETRY_SINGLE;
		if (nfd == ACCEPT_RETRY_SINGLE)
			nfd = accept_single(u, fd);
		/* ECONNABORTED: that client gave up; wait for the next. */
	} while (nfd == -ECONNABORTED || nfd == -EINTR);
	if (nfd < 0)
		return nfd;
	err = rt_fd_add(rt, nfd);
	if (err) {
		close(nfd);
		return err;
	}
	return nfd;
}

void uring_accept_forget(struct uring_rt *u, int fd)
{
	struct listener *l;
	struct io_uring_sqe *sqe;

	if (fd < 0 || (size_t)fd >= u->nlisteners || !u->listeners[fd])
		return;
	l = u->listeners[fd];
	u->listeners[fd] = NULL; /* the number may name another file next */
	l->closed = 1;
	while (l->q_len)
		close(queue_pop(l));
	while (hand_first(u, l, -EBADF))
		;
	/* The request holds its own reference to the socket: closing the fd
	 * alone would keep accepting. Its last CQE (-ECANCELED) finds
	 * l->closed. If no SQE is free, ring teardown cancels it. */
	if (l->armed) {
		sqe = uring_get_sqe(u);
		if (sqe) {
			io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)l | UD_LISTENER, 0);
			io_uring_sqe_set_data(sqe, NULL);
			u->sqes++;
		}
	}
}

void uring_accept_free(struct uring_rt *u)
{
	while (u->all_listeners) {
		struct listener *l = u->all_listeners;

		u->all_listeners = l->all_next;
		while (l->q_len)
			close(queue_pop(l));
		free(l->queue);
		free(l);
	}
	free(u->listeners);
	u->listeners = NULL;
	u->nlisteners = 0;
}
