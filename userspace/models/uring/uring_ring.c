/* uring_ring.c: what every part of the uring model builds on (uring_rt.h):
 * taking an SQE (submitting early when the SQ ring is full), parking the
 * calling coroutine until its request's CQE, and the queue of plain reads
 * that go into the SQ ring behind the batch's writes (uring.c says why).
 * uring.c reaps the completions and readies the waiters. */
#include <errno.h>
#include <limits.h>
#include <liburing.h>

#include "uring_rt.h"

struct io_uring_sqe *uring_get_sqe(struct uring_rt *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (sqe)
		return sqe;
	/* SQ ring full: submit what is queued now rather than wait for the
	 * run queue to drain. */
	u->sq_full_submits++;
	u->submits++;
	io_uring_submit(&u->ring);
	return io_uring_get_sqe(&u->ring);
}

int32_t uring_await(struct uring_rt *u, struct io_uring_sqe *sqe, struct uwait *w)
{
	w->co = coro_current(&u->cs.sched);
	w->res = 0;
	io_uring_sqe_set_data(sqe, w);
	u->sqes++;
	u->inflight++;
	coro_park(&u->cs.sched);
	return w->res;
}

/* Moves the queued reads into the SQ ring, behind the batch's writes. */
void uring_flush_reads(struct uring_rt *u)
{
	while (u->reads_head) {
		struct uwait *w = u->reads_head;
		/* a full SQ ring is submitted by uring_get_sqe; NULL only
		 * if even that failed: the rest wait for the next poll */
		struct io_uring_sqe *sqe = uring_get_sqe(u);

		if (!sqe)
			return;
		u->reads_head = w->next;
		io_uring_prep_read(sqe, w->fd, w->buf, w->len, (uint64_t)-1);
		io_uring_sqe_set_data(sqe, w);
	}
	u->reads_tail = NULL;
}

ssize_t uring_read_plain(struct uring_rt *u, int fd, void *buf, size_t len)
{
	unsigned n = len > INT_MAX ? INT_MAX : (unsigned)len; /* res is an int */
	void *bounce = cosched_bounce(&u->cs, buf, n, 0);     /* filled after we park */
	struct uwait *w;
	ssize_t res;

	if (!bounce)
		return -ENOMEM;
	/* queued, not prepared: uring_flush_reads puts it behind the writes */
	w = COSCHED_PARK_RECORD(&u->cs, struct uwait);
	w->fd = fd;
	w->buf = bounce;
	w->len = n;
	w->co = coro_current(&u->cs.sched);
	if (u->reads_tail)
		u->reads_tail->next = w;
	else
		u->reads_head = w;
	u->reads_tail = w;
	u->sqes++;
	u->inflight++;
	coro_park(&u->cs.sched);
	res = w->res;
	cosched_unbounce(bounce, buf, res);
	return res;
}
