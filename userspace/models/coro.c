/* coro.c: the `coro` model. Stackful coroutines (coro/coro.h) on the calling
 * OS thread, cooperative: a coroutine runs until it yields or waits.
 *
 * Waiting:
 *  - sockets and pipes: rt_fd_add() makes the fd O_NONBLOCK and registers it
 *    once with one epoll instance, edge-triggered for both directions.
 *    read/write/accept try the syscall first and park only on EAGAIN, so the
 *    edge that follows an EAGAIN is always the one we wait for; edge-trigger
 *    means one epoll_ctl per fd for its whole life, where one-shot would cost
 *    an epoll_ctl (a syscall) per wait. One reader and one writer may wait
 *    per fd (-EBUSY for a second one).
 *  - sleep_until: a binary min-heap of timers (cosched.c); the epoll timeout
 *    is the earliest deadline, with ns resolution through epoll_pwait2 when
 *    the kernel has it (Linux 5.11; probed at run time), else epoll_wait
 *    whose ms timeout is rounded up (never early, up to 1 ms late; the
 *    record says which: coro_epoll_call).
 *  - pread, and read/write on regular files (epoll refuses them with EPERM):
 *    a regular file is always "ready" and a read of a cold page blocks the
 *    syscall, which would stop every coroutine. pread first tries
 *    preadv2(RWF_NOWAIT), which serves page-cache hits inline and refuses
 *    with EAGAIN what would block. The rest run on a small pool of
 *    helper threads (offload.c) and the coroutine parks; the pool reports
 *    through an eventfd in the same epoll set. The record counts them
 *    (coro_pread_offloads, coro_file_offloads) because each is two thread
 *    hand-offs the probes will see as switches of helper threads.
 *  - event wait/wake, yield, spawn/join: in-process (cosched.c).
 * The epoll and syscall plumbing is shared with the mn model (cofd.c).
 *
 * Deadlock: run queue empty, no timer, no fd wait, no offload in flight while
 * coroutines are parked: the run returns -EDEADLK and prints
 * "coro: no runnable coroutines, N parked" (coro_parked in the record).
 * Whether that fails the run is main.c's call: for the deadlock task it is
 * the measured outcome.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "models/co/cofd.h"
#include "models/co/stack_param.h"
#include "models/co/cosched.h"
#include "lib/clock.h"
#include "lib/names.h"
#include "lib/record.h"
#include "models/co/offload.h"
#include "models/reserve.h"
#include "rt.h"
#include "task.h"

#define EFD_TAG UINT64_MAX /* epoll data of the offload eventfd */

struct fd_ent {
	enum cofd_kind kind;
	int direct; /* O_DIRECT file: RWF_NOWAIT would still wait for the device */
	struct coro *reader, *writer;
};

struct coro_rt {
	struct cosched cs;
	int epfd;
	int have_pwait2;
	struct fd_ent *fds;
	size_t nfds;
	uint64_t fd_waits; /* coroutines parked on epoll readiness */
	struct offload_pool pool;
	int pool_started;
	uint64_t offloads_inflight;
	struct cofd_stats st; /* for the record */
	int nowait_unsupported;
	int warned_unadded;
};

static struct coro_rt *crt_of(struct rt *rt)
{
	return (struct coro_rt *)rt; /* cs, whose first member is rt, is first */
}

static struct fd_ent *fd_get(struct coro_rt *c, int fd)
{
	if (fd < 0 || (size_t)fd >= c->nfds || c->fds[fd].kind == COFD_UNKNOWN)
		return NULL;
	return &c->fds[fd];
}

static int fd_grow(struct coro_rt *c, int fd)
{
	size_t n = c->nfds ? c->nfds : 64;
	struct fd_ent *t;

	if ((size_t)fd < c->nfds)
		return 0;
	while (n <= (size_t)fd)
		n *= 2;
	t = realloc(c->fds, n * sizeof(*t));
	if (!t)
		return -ENOMEM;
	memset(t + c->nfds, 0, (n - c->nfds) * sizeof(*t));
	c->fds = t;
	c->nfds = n;
	return 0;
}

static struct fd_ent *fd_need(struct coro_rt *c, int fd)
{
	struct fd_ent *e = fd_get(c, fd);

	/* A task bug (fd never handed to rt_fd_add) would silently block the
	 * one thread under the threads model's rules; make it loud instead. */
	if (!e && !c->warned_unadded) {
		fprintf(stderr, "coro: fd %d used before rt_fd_add()\n", fd);
		c->warned_unadded = 1;
	}
	return e;
}

/* ---- waiting ------------------------------------------------------------- */

static int park_on_fd(struct rt *rt, int fd, int dir)
{
	struct coro_rt *c = crt_of(rt);
	struct fd_ent *e = fd_get(c, fd);
	struct coro *self = coro_current(&c->cs.sched);
	struct coro **slot;

	if (!e)
		return -EBADF; /* closed while we were trying */
	slot = dir == COFD_WRITE ? &e->writer : &e->reader;
	if (*slot)
		return -EBUSY;
	*slot = self;
	c->fd_waits++;
	c->st.eagain_parks++;
	coro_park(&c->cs.sched);
	return 0;
}

static void wake_slot(struct coro_rt *c, struct coro **slot)
{
	struct coro *co = *slot;

	if (!co)
		return;
	*slot = NULL;
	c->fd_waits--;
	coro_ready(&c->cs.sched, co);
}

static ssize_t offload(struct coro_rt *c, enum offload_op op, int fd, void *buf, size_t len,
		       off_t off)
{
	struct offload_req *r;
	void *bounce;
	ssize_t res;
	int err;

	if (!c->pool_started) {
		err = cofd_pool_start(&c->pool, c->epfd, EFD_TAG, "coro");
		if (err)
			return err;
		c->pool_started = 1;
	}
	/* A helper thread reads and writes buf while we are parked. */
	bounce = cosched_bounce(&c->cs, buf, len, op == OFFLOAD_WRITE);
	if (!bounce)
		return -ENOMEM;
	r = COSCHED_PARK_RECORD(&c->cs, struct offload_req);
	*r = (struct offload_req){.op = op, .fd = fd, .buf = bounce, .len = len, .off = off};
	r->waiter = coro_current(&c->cs.sched);
	c->offloads_inflight++;
	offload_submit(&c->pool, r);
	coro_park(&c->cs.sched);
	res = r->res;
	cosched_unbounce(bounce, buf, op == OFFLOAD_WRITE ? 0 : res);
	return res;
}

static void drain_offloads(struct coro_rt *c)
{
	struct offload_req *r = offload_take_done(&c->pool);

	while (r) {
		/* r is the waiter's park record: read next before readying */
		struct offload_req *next = r->next;

		c->offloads_inflight--;
		coro_ready(&c->cs.sched, r->waiter);
		r = next;
	}
}

static int coro_poll(struct cosched *cs, int block)
{
	struct coro_rt *c = (struct coro_rt *)cs;
	struct epoll_event evs[COFD_EPOLL_BATCH];
	int n = 0, i;

	/* Timers alone need no syscall when we must not block. */
	if (block || c->fd_waits || c->offloads_inflight) {
		c->st.epoll_waits++;
		n = cofd_epoll_wait(c->epfd, evs, c->have_pwait2, block,
				    cosched_next_deadline(&c->cs));
		if (n < 0)
			return n;
	}
	for (i = 0; i < n; i++) {
		uint32_t e = evs[i].events;
		struct fd_ent *ent;

		if (evs[i].data.u64 == EFD_TAG) {
			drain_offloads(c);
			continue;
		}
		ent = fd_get(c, (int)evs[i].data.u64);
		if (!ent)
			continue; /* closed after the event was queued */
		if (e & COFD_READ_EVENTS)
			wake_slot(c, &ent->reader);
		if (e & COFD_WRITE_EVENTS)
			wake_slot(c, &ent->writer);
	}
	cosched_timers_expire(cs, now_ns());
	return 0;
}

static uint64_t coro_pending(struct cosched *cs)
{
	struct coro_rt *c = (struct coro_rt *)cs;

	return c->fd_waits + c->offloads_inflight + cosched_timers_pending(cs);
}

/* ---- operations ------------------------------------------------------------ */

static int coro_sleep_until(struct rt *rt, uint64_t deadline_ns)
{
	return cosched_sleep_heap(cosched_of(rt), deadline_ns);
}

static int coro_fd_add(struct rt *rt, int fd)
{
	struct coro_rt *c = crt_of(rt);
	int kind, direct, err;

	if (fd < 0)
		return -EBADF;
	err = fd_grow(c, fd);
	if (err)
		return err;
	kind = cofd_register(c->epfd, fd, &direct);
	if (kind < 0)
		return kind;
	if (kind == COFD_FILE)
		c->fds[fd].direct = direct;
	c->fds[fd].kind = kind;
	return 0;
}

static int coro_close(struct rt *rt, int fd)
{
	struct coro_rt *c = crt_of(rt);
	struct fd_ent *e = fd_get(c, fd);

	if (e) {
		if (e->kind == COFD_EPOLL)
			epoll_ctl(c->epfd, EPOLL_CTL_DEL, fd, NULL); /* dup()s keep it */
		e->kind = COFD_UNKNOWN;
		/* Waiters retry and meet EBADF rather than sleeping forever. */
		wake_slot(c, &e->reader);
		wake_slot(c, &e->writer);
	}
	/* Not retried on EINTR: Linux has released the fd by then. */
	return close(fd) < 0 ? -errno : 0;
}

/* A read or write on a socket or pipe tries the syscall and parks until
 * epoll reports the fd ready on EAGAIN; a regular file goes to the helper
 * pool (epoll cannot wait for it). */
static ssize_t fd_rw(struct rt *rt, int fd, void *buf, size_t len, int writing)
{
	struct coro_rt *c = crt_of(rt);
	struct fd_ent *e = fd_need(c, fd);

	if (!e)
		return -EBADF;
	if (e->kind == COFD_FILE) {
		c->st.file_offloads++;
		return offload(c, writing ? OFFLOAD_WRITE : OFFLOAD_READ, fd, buf, len, 0);
	}
	return cofd_rw(rt, fd, buf, len, writing, park_on_fd);
}

static ssize_t coro_read(struct rt *rt, int fd, void *buf, size_t len)
{
	return fd_rw(rt, fd, buf, len, 0);
}

static ssize_t coro_write(struct rt *rt, int fd, const void *buf, size_t len)
{
	return fd_rw(rt, fd, (void *)buf, len, 1);
}

/* A page-cache hit needs no helper thread: preadv2(RWF_NOWAIT) returns the
 * cached data at once and -EAGAIN when the read would block on the device;
 * only then does the read go to the pool. Kernels or filesystems without
 * RWF_NOWAIT (-EOPNOTSUPP/-EINVAL) send every read to the pool, and so do
 * O_DIRECT files: there RWF_NOWAIT only avoids blocking on submission, and
 * the syscall still waits for the device (measured: 64 us inline reads). */
static ssize_t coro_pread(struct rt *rt, int fd, void *buf, size_t len, off_t off)
{
	struct coro_rt *c = crt_of(rt);
	struct fd_ent *e = fd_need(c, fd);
	ssize_t n;

	if (!e)
		return -EBADF;
	if (!c->nowait_unsupported && !e->direct) {
		n = cofd_pread_nowait(fd, buf, len, off);
		if (n >= 0) {
			c->st.pread_inline++;
			return n;
		}
		if (n == -EOPNOTSUPP)
			c->nowait_unsupported = 1;
		else if (n != -EAGAIN)
			return n;
	}
	c->st.pread_offloads++;
	return offload(c, OFFLOAD_PREAD, fd, buf, len, off);
}

static int coro_accept(struct rt *rt, int fd)
{
	struct coro_rt *c = crt_of(rt);

	if (!fd_need(c, fd))
		return -EBADF;
	return cofd_accept(rt, fd, park_on_fd);
}

static const struct rt_ops coro_ops = {
	.name = "coro",
	.spawn = cosched_spawn,
	.join = cosched_join,
	.yield = cosched_yield,
	.sleep_until = coro_sleep_until,
	.wait = cosched_wait,
	.wake = cosched_wake,
	.fd_add = coro_fd_add,
	.close = coro_close,
	.read = coro_read,
	.write = coro_write,
	.pread = coro_pread,
	.accept = coro_accept,
};

static const struct cosched_backend coro_backend = {
	.name = "coro",
	.poll = coro_poll,
	.pending = coro_pending,
};

/* ---- the model ------------------------------------------------------------- */

/* coro_epoll, in the order of its names */
enum coro_epoll {
	CORO_EPOLL_PWAIT2,
	CORO_EPOLL_WAIT_MS,
};
static const char *const coro_epoll_names[] = {"pwait2", "wait_ms"};

static int coro_run(const struct task_ctx *ctx, int (*main_fn)(struct rt *rt, void *arg), void *arg,
		    struct record *rec)
{
	struct coro_rt *c = calloc(1, sizeof(*c));
	int err, ret = 0;

	if (!c)
		return -ENOMEM;
	c->epfd = -1;
	err = cosched_init(&c->cs, &coro_ops, &coro_backend);
	if (err) {
		fprintf(stderr, "coro: scheduler init: %s\n", strerror(-err));
		goto cleanup;
	}
	cosched_use_stack(&c->cs, co_stack_param(ctx));
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->epfd < 0) {
		err = -errno;
		fprintf(stderr, "coro: epoll_create1: %s\n", strerror(-err));
		goto cleanup;
	}
	/* coro_epoll=wait_ms takes the fallback of kernels before 5.11 here too */
	if (task_enum(ctx, "coro_epoll", coro_epoll_names, NAMES_OF(coro_epoll_names)) ==
	    CORO_EPOLL_WAIT_MS)
		c->have_pwait2 = 0;
	else if (!(c->have_pwait2 = cofd_have_pwait2(c->epfd)))
		fprintf(stderr,
			"coro: note: no epoll_pwait2 (%s): timers use "
			"epoll_wait, rounded up to whole ms\n",
			strerror(errno));

	err = cosched_run(&c->cs, main_fn, arg, &ret);

	if (rec) {
		cosched_metrics(&c->cs, rec);
		rec_metric_u64(rec, "coro_timer_wakeups", c->cs.timer_wakeups);
		cofd_stats_record(&c->st, "coro", rec);
		rec_metric_str(rec, "coro_epoll_call",
			       c->have_pwait2 ? "epoll_pwait2" : "epoll_wait_ms");
	}
cleanup:
	/* Workers first: they may still hold requests of parked coroutines
	 * whose control blocks and stacks the scheduler is about to free. */
	if (c->pool_started)
		offload_stop(&c->pool);
	cosched_destroy(&c->cs);
	if (c->epfd >= 0)
		close(c->epfd);
	free(c->fds);
	free(c);
	return err ? err : ret;
}

/* Variants of the runtime, declared like a task's parameters. */
static const struct task_param coro_params[] = {
	CORO_STACK_PARAM("guarded|unguarded|shared"),
	{.key = "coro_epoll",
	 .type = PARAM_ENUM,
	 .def = "pwait2",
	 .choices = "pwait2|wait_ms",
	 .help = "the wait for fds and the next timer: epoll_pwait2 (ns timeout; falls back "
		 "when missing) or epoll_wait (whole ms, the fallback itself)"},
	PARAM_END,
};

/* The counters coro_run() adds, without the prefix. */
static const struct task_metric coro_metrics[] = {
	{.name = "timer_wakeups", .unit = "count", .help = "wake-ups from the timer heap"},
	{.name = "epoll_call",
	 .kind = METRIC_TEXT,
	 .help = "epoll_pwait2 (ns timeouts) or epoll_wait (ms)"},
	METRIC_END,
};

const struct rt_model coro_model = {
	.metrics = {cosched_metric_list, cofd_metric_list, coro_metrics},
	.name = "coro",
	.traits = {.one_thread = true, .sees_deadlocks = true, .order = 1, .colour = "#E69F00"},
	.params = coro_params,
	.summary = "stackful coroutines on one thread; non-blocking fds + epoll, "
		   "timer heap, preads on helper threads",
	.probe = cofd_probe,
	.reserve = reserve_coroutines,
	.run = coro_run,
};
