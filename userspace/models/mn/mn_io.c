/* mn_io.c: fds, file reads and the shared poller of the mn model (mn_io.h).
 *
 * One epoll instance for all workers, polled by one idle worker at a time
 * (mn_rt.poller), as Go's netpoller: a wait costs no epoll_ctl (each fd is
 * registered once, edge-triggered, as under coro), a ready fd's coroutine
 * goes to the queue of the worker that polled and can be stolen from there,
 * and a busy worker never stops to poll except every GLOBAL_EVERY picks and
 * at yields. One epoll per worker would tie every fd to a worker (a
 * coroutine that moves would have to move its fds) or need one epoll_ctl per
 * wait; docs/mn.md has the longer argument.
 *
 * Readiness across threads: a waiter publishes itself in its fd's slot only
 * after a syscall said EAGAIN, and the edge that wakes it may arrive in
 * between. So a slot holds NULL, a parked coroutine, or READY (an edge came
 * with nobody waiting): the poller swaps a coroutine out and readies it, or
 * leaves READY; a waiter that finds READY clears it and retries the syscall
 * instead of parking. Every transition is one compare-and-swap.
 */
#include "mn_io.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "models/co/cofd.h"
#include "lib/clock.h"
#include "models/co/offload.h"

#define TAG_OFFLOAD UINT64_MAX
#define TAG_BREAK   (UINT64_MAX - 1)
#define SLOT_READY  ((struct mn_co *)1)
#define MAX_FDS	    (1u << 20)

struct fd_ent {
	_Atomic int kind;
	int direct; /* O_DIRECT: RWF_NOWAIT would still wait for the device */
	_Atomic(struct mn_co *) slot[2];
};

struct mn_io {
	int epfd, breakfd;
	int have_pwait2;
	struct fd_ent *fds; /* fixed size: other workers read it without a lock */
	size_t nfds;
	pthread_mutex_t pool_lock;
	struct offload_pool pool;
	_Atomic int pool_started;
	_Atomic int nowait_unsupported, warned_unadded;
	_Atomic uint64_t epoll_waits, eagain_parks, pread_offloads, pread_inline, file_offloads;
	_Atomic uint64_t breaks;
};

static void io_break(struct mn_rt *m);
static int io_poll(struct mn_rt *m, struct mn_worker *w, int block);
static const struct mn_io_ops io_ops = {.poll = io_poll, .wake = io_break};

int mn_io_init(struct mn_rt *m)
{
	struct mn_io *io = calloc(1, sizeof(*io));
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_BREAK};
	struct rlimit rl;

	if (!io)
		return -ENOMEM;
	io->epfd = io->breakfd = -1;
	pthread_mutex_init(&io->pool_lock, NULL);
	m->io = io;
	m->io_ops = &io_ops;
	/* Sized once from RLIMIT_NOFILE (tasks raise it in setup, before the
	 * run): an fd number above it cannot exist. */
	io->nfds =
		getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < MAX_FDS ? rl.rlim_cur : MAX_FDS;
	if (io->nfds < 1024)
		io->nfds = 1024;
	io->fds = calloc(io->nfds, sizeof(*io->fds));
	io->epfd = epoll_create1(EPOLL_CLOEXEC);
	io->breakfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!io->fds)
		return -ENOMEM;
	if (io->epfd < 0 || io->breakfd < 0 ||
	    epoll_ctl(io->epfd, EPOLL_CTL_ADD, io->breakfd, &ev) < 0)
		return -errno;
	io->have_pwait2 = cofd_have_pwait2(io->epfd);
	return 0;
}

void mn_io_destroy(struct mn_rt *m)
{
	struct mn_io *io = m->io;

	if (!io)
		return;
	/* Helpers first: they may hold requests of parked coroutines whose
	 * stacks are about to be unmapped. */
	if (atomic_load(&io->pool_started))
		offload_stop(&io->pool);
	if (io->epfd >= 0)
		close(io->epfd);
	if (io->breakfd >= 0)
		close(io->breakfd);
	pthread_mutex_destroy(&io->pool_lock);
	free(io->fds);
	free(io);
	m->io = NULL;
	m->io_ops = NULL;
}

static void io_break(struct mn_rt *m)
{
	uint64_t one = 1;

	if (m->io && write(m->io->breakfd, &one, sizeof(one)) == sizeof(one))
		atomic_fetch_add_explicit(&m->io->breaks, 1, memory_order_relaxed);
}

void mn_io_stats(const struct mn_rt *m, struct mn_io_stats *out)
{
	struct mn_io *io = m->io;

	memset(out, 0, sizeof(*out));
	if (!io)
		return;
	out->fd.epoll_waits = atomic_load(&io->epoll_waits);
	out->fd.eagain_parks = atomic_load(&io->eagain_parks);
	out->fd.pread_offloads = atomic_load(&io->pread_offloads);
	out->fd.pread_inline = atomic_load(&io->pread_inline);
	out->fd.file_offloads = atomic_load(&io->file_offloads);
	out->breaks = atomic_load(&io->breaks);
}

static struct fd_ent *fd_get(struct mn_io *io, int fd)
{
	if (fd < 0 || (size_t)fd >= io->nfds || atomic_load(&io->fds[fd].kind) == COFD_UNKNOWN)
		return NULL;
	return &io->fds[fd];
}

static struct fd_ent *fd_need(struct mn_io *io, int fd)
{
	struct fd_ent *e = fd_get(io, fd);

	if (!e && !atomic_exchange(&io->warned_unadded, 1))
		fprintf(stderr, "mn: fd %d used before rt_fd_add()\n", fd);
	return e;
}

/* ---- the poller ------------------------------------------------------------------ */

/* The edge for one direction of e: ready its waiter, or leave READY. */
static void fd_signal(struct mn_rt *m, struct mn_worker *w, struct fd_ent *e, int dir)
{
	struct mn_co *cur = atomic_load(&e->slot[dir]);

	for (;;) {
		if (cur == SLOT_READY)
			return;
		if (atomic_compare_exchange_weak(&e->slot[dir], &cur, cur ? NULL : SLOT_READY)) {
			if (cur) {
				atomic_fetch_sub(&m->io_pending, 1);
				mn_ready(w, cur);
			}
			return;
		}
	}
}

static void drain_offloads(struct mn_rt *m, struct mn_worker *w)
{
	struct offload_req *r = offload_take_done(&m->io->pool);

	while (r) {
		/* r lives on the waiter's stack: read next before readying */
		struct offload_req *next = r->next;

		atomic_fetch_sub(&m->io_pending, 1);
		mn_ready(w, r->waiter);
		r = next;
	}
}

static int epoll_call(struct mn_rt *m, struct epoll_event *evs, int block)
{
	struct mn_io *io = m->io;
	uint64_t deadline = 0;
	int n;

	if (block) {
		deadline = atomic_load(&m->next_deadline);
		/* Publish how long we sleep, then look again: a sleeper that
		 * adds an earlier timer either is seen here or sees us and
		 * breaks the wait (mn_sleep_until). */
		atomic_store(&m->poll_deadline, deadline);
		deadline = atomic_load(&m->next_deadline);
	}
	atomic_fetch_add_explicit(&io->epoll_waits, 1, memory_order_relaxed);
	n = cofd_epoll_wait(io->epfd, evs, io->have_pwait2, block, deadline);
	if (block)
		atomic_store(&m->poll_deadline, 0);
	return n;
}

static int io_poll(struct mn_rt *m, struct mn_worker *w, int block)
{
	struct mn_io *io = m->io;
	struct epoll_event evs[COFD_EPOLL_BATCH];
	int n, i;

	n = epoll_call(m, evs, block);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		uint32_t e = evs[i].events;
		struct fd_ent *ent;

		if (evs[i].data.u64 == TAG_BREAK) {
			uint64_t v;

			if (read(io->breakfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				return -errno;
			continue;
		}
		if (evs[i].data.u64 == TAG_OFFLOAD) {
			drain_offloads(m, w);
			continue;
		}
		ent = fd_get(io, (int)evs[i].data.u64);
		if (!ent)
			continue; /* closed after the event was queued */
		if (e & COFD_READ_EVENTS)
			fd_signal(m, w, ent, COFD_READ);
		if (e & COFD_WRITE_EVENTS)
			fd_signal(m, w, ent, COFD_WRITE);
	}
	mn_timers_expire(m, w, now_ns());
	return 0;
}

/* ---- waiting --------------------------------------------------------------------- */

/* Parking, waking and offloading stay apart from coro's (cofd.c has the rest):
 * several workers race on each slot and count, so here they are atomic. */
/* After EAGAIN: park until the fd's next edge. 0 (retry the syscall),
 * -EBUSY (another coroutine waits in that direction), -EBADF (closed). */
static int fd_park(struct rt *rt, int fd, int dir)
{
	struct mn_rt *m = mn_of(rt);
	struct fd_ent *e = fd_get(m->io, fd);
	struct mn_worker *w = mn_self();
	struct mn_co *cur = NULL;

	if (!e)
		return -EBADF;
	/* Counted before we can be found, so io_pending never goes below 0. */
	atomic_fetch_add(&m->io_pending, 1);
	mn_parked_add(w, 1);
	if (atomic_compare_exchange_strong(&e->slot[dir], &cur, w->current)) {
		atomic_fetch_add_explicit(&m->io->eagain_parks, 1, memory_order_relaxed);
		mn_need_poller(m, w);
		mn_block(w);
		return 0;
	}
	atomic_fetch_sub(&m->io_pending, 1);
	mn_parked_add(w, -1);
	if (cur != SLOT_READY)
		return -EBUSY;
	/* An edge came after our EAGAIN: consume it and try again. */
	atomic_compare_exchange_strong(&e->slot[dir], &cur, NULL);
	return 0;
}

static int start_pool(struct mn_io *io)
{
	int err = 0;

	/* Several workers may make the first request at once. */
	pthread_mutex_lock(&io->pool_lock);
	if (!atomic_load(&io->pool_started)) {
		err = cofd_pool_start(&io->pool, io->epfd, TAG_OFFLOAD, "mn");
		if (!err)
			atomic_store(&io->pool_started, 1);
	}
	pthread_mutex_unlock(&io->pool_lock);
	return err;
}

static ssize_t offload(struct mn_rt *m, enum offload_op op, int fd, void *buf, size_t len,
		       off_t off)
{
	struct offload_req r = {.op = op, .fd = fd, .buf = buf, .len = len, .off = off};
	struct mn_worker *w;
	int err;

	if (!atomic_load(&m->io->pool_started)) {
		err = start_pool(m->io);
		if (err)
			return err;
	}
	w = mn_self();
	r.waiter = w->current;
	atomic_fetch_add(&m->io_pending, 1);
	mn_parked_add(w, 1);
	offload_submit(&m->io->pool, &r);
	mn_need_poller(m, w);
	mn_block(w);
	return r.res;
}

/* ---- operations -------------------------------------------------------------------- */

int mn_fd_add(struct rt *rt, int fd)
{
	struct mn_io *io = mn_of(rt)->io;
	struct fd_ent *e;
	int kind, direct;

	if (fd < 0)
		return -EBADF;
	if ((size_t)fd >= io->nfds)
		return -EMFILE;
	e = &io->fds[fd];
	atomic_store(&e->slot[COFD_READ], NULL);
	atomic_store(&e->slot[COFD_WRITE], NULL);
	kind = cofd_register(io->epfd, fd, &direct);
	if (kind < 0)
		return kind;
	if (kind == COFD_FILE)
		e->direct = direct; /* before kind publishes the entry */
	atomic_store(&e->kind, kind);
	return 0;
}

int mn_close(struct rt *rt, int fd)
{
	struct mn_rt *m = mn_of(rt);
	struct fd_ent *e = fd_get(m->io, fd);
	int dir;

	if (e) {
		if (atomic_exchange(&e->kind, COFD_UNKNOWN) == COFD_EPOLL)
			epoll_ctl(m->io->epfd, EPOLL_CTL_DEL, fd, NULL); /* dup()s keep it */
		/* Waiters retry and meet EBADF rather than sleeping forever. */
		for (dir = COFD_READ; dir <= COFD_WRITE; dir++) {
			struct mn_co *c = atomic_exchange(&e->slot[dir], NULL);

			if (c && c != SLOT_READY) {
				atomic_fetch_sub(&m->io_pending, 1);
				mn_ready(mn_self(), c);
			}
		}
	}
	/* Not retried on EINTR: Linux has released the fd by then. */
	return close(fd) < 0 ? -errno : 0;
}

static ssize_t fd_rw(struct rt *rt, int fd, void *buf, size_t len, int writing)
{
	struct mn_rt *m = mn_of(rt);
	struct fd_ent *e = fd_need(m->io, fd);

	if (!e)
		return -EBADF;
	if (atomic_load(&e->kind) == COFD_FILE) {
		atomic_fetch_add_explicit(&m->io->file_offloads, 1, memory_order_relaxed);
		return offload(m, writing ? OFFLOAD_WRITE : OFFLOAD_READ, fd, buf, len, 0);
	}
	return cofd_rw(rt, fd, buf, len, writing, fd_park);
}

ssize_t mn_read(struct rt *rt, int fd, void *buf, size_t len)
{
	return fd_rw(rt, fd, buf, len, 0);
}

ssize_t mn_write(struct rt *rt, int fd, const void *buf, size_t len)
{
	return fd_rw(rt, fd, (void *)buf, len, 1);
}

/* As under coro: page-cache hits inline through preadv2(RWF_NOWAIT), the
 * rest (and O_DIRECT files) on the helper threads. */
ssize_t mn_pread(struct rt *rt, int fd, void *buf, size_t len, off_t off)
{
	struct mn_rt *m = mn_of(rt);
	struct mn_io *io = m->io;
	struct fd_ent *e = fd_need(io, fd);
	ssize_t n;

	if (!e)
		return -EBADF;
	if (!atomic_load(&io->nowait_unsupported) && !e->direct) {
		n = cofd_pread_nowait(fd, buf, len, off);
		if (n >= 0) {
			atomic_fetch_add_explicit(&io->pread_inline, 1, memory_order_relaxed);
			return n;
		}
		if (n == -EOPNOTSUPP)
			atomic_store(&io->nowait_unsupported, 1);
		else if (n != -EAGAIN)
			return n;
	}
	atomic_fetch_add_explicit(&io->pread_offloads, 1, memory_order_relaxed);
	return offload(m, OFFLOAD_PREAD, fd, buf, len, off);
}

int mn_accept(struct rt *rt, int fd)
{
	struct mn_rt *m = mn_of(rt);

	if (!fd_need(m->io, fd))
		return -EBADF;
	return cofd_accept(rt, fd, fd_park);
}
