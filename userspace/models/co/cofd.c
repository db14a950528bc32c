/* cofd.c: fd plumbing shared by the coro and mn models (cofd.h). */
#include "cofd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/record.h"
#include "task.h"

const struct task_metric cofd_metric_list[] = {
	{.name = "epoll_waits", .unit = "count", .help = "epoll_wait calls"},
	{.name = "eagain_parks",
	 .unit = "count",
	 .help = "operations that got EAGAIN and parked until epoll said ready"},
	{.name = "pread_offloads", .unit = "count", .help = "preads handed to a helper thread"},
	{.name = "pread_inline",
	 .unit = "count",
	 .help = "preads served from the page cache without a helper thread (RWF_NOWAIT)"},
	{.name = "file_offloads",
	 .unit = "count",
	 .help = "other file operations handed to a helper thread"},
	METRIC_END,
};

void cofd_stats_record(const struct cofd_stats *st, const char *model, struct record *rec)
{
	const uint64_t values[] = {st->epoll_waits, st->eagain_parks, st->pread_offloads,
				   st->pread_inline, st->file_offloads};
	char name[64];

	/* values[] is in cofd_metric_list's order */
	_Static_assert(sizeof(values) / sizeof(values[0]) ==
			       sizeof(cofd_metric_list) / sizeof(cofd_metric_list[0]) - 1,
		       "one value per declared metric");
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		snprintf(name, sizeof(name), "%s_%s", model, cofd_metric_list[i].name);
		rec_metric_u64(rec, name, values[i]);
	}
}

int cofd_probe(char *reason, size_t reason_len)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);

	if (fd < 0) {
		int err = -errno;

		snprintf(reason, reason_len, "epoll_create1: %s", strerror(-err));
		return err;
	}
	close(fd);
	return 0;
}

int cofd_have_pwait2(int epfd)
{
	struct epoll_event ev;
	struct timespec zero = {0, 0};

	return epoll_pwait2(epfd, &ev, 1, &zero, NULL) >= 0;
}

int cofd_epoll_wait(int epfd, struct epoll_event *evs, int have_pwait2, int block,
		    uint64_t deadline_ns)
{
	uint64_t now, wait_ns = 0;
	int infinite = 0, n;

	if (block) {
		now = now_ns();
		if (deadline_ns == UINT64_MAX)
			infinite = 1;
		else if (deadline_ns > now)
			wait_ns = deadline_ns - now;
	}
	if (have_pwait2) {
		struct timespec ts = {
			.tv_sec = (time_t)(wait_ns / 1000000000ull),
			.tv_nsec = (long)(wait_ns % 1000000000ull),
		};

		n = epoll_pwait2(epfd, evs, COFD_EPOLL_BATCH, infinite ? NULL : &ts, NULL);
	} else {
		n = epoll_wait(epfd, evs, COFD_EPOLL_BATCH,
			       infinite ? -1 : (int)((wait_ns + 999999) / 1000000));
	}
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	return n;
}

int cofd_register(int epfd, int fd, int *direct)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.u64 = (uint64_t)fd,
	};
	int flags, err;

	/* Registered again even when the model's table knows the number: a
	 * task that closed it with close(2) instead of rt_close left a stale
	 * entry, and the kernel dropped the registration with the file.
	 * EEXIST: it is still the same file, already registered. */
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 && errno != EEXIST) {
		if (errno != EPERM)
			return -errno;
		/* Regular files and directories: no readiness to wait for. */
		flags = fcntl(fd, F_GETFL);
		*direct = flags >= 0 && (flags & O_DIRECT);
		return COFD_FILE;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		err = -errno;
		epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
		return err;
	}
	return COFD_EPOLL;
}

int cofd_pool_start(struct offload_pool *pool, int epfd, uint64_t tag, const char *who)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
	int err = offload_start(pool, COFD_OFFLOAD_THREADS);

	if (err) {
		fprintf(stderr, "%s: offload threads: %s\n", who, strerror(-err));
		return err;
	}
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, pool->efd, &ev) < 0) {
		err = -errno;
		offload_stop(pool);
		fprintf(stderr, "%s: epoll_ctl(offload eventfd): %s\n", who, strerror(-err));
		return err;
	}
	return 0;
}

/* Trying first and parking only on EAGAIN makes the edge that follows an
 * EAGAIN always the one we wait for. */
ssize_t cofd_rw(struct rt *rt, int fd, void *buf, size_t len, int writing, cofd_park_fn park)
{
	for (;;) {
		ssize_t n = writing ? write(fd, buf, len) : read(fd, buf, len);
		int err;

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		err = park(rt, fd, writing ? COFD_WRITE : COFD_READ);
		if (err)
			return err;
	}
}

int cofd_accept(struct rt *rt, int fd, cofd_park_fn park)
{
	for (;;) {
		int nfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int err;

		if (nfd >= 0) {
			err = rt_fd_add(rt, nfd);
			if (err) {
				close(nfd);
				return err;
			}
			return nfd;
		}
		/* ECONNABORTED: that client gave up; wait for the next. */
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN)
			return -errno;
		err = park(rt, fd, COFD_READ);
		if (err)
			return err;
	}
}

/* A page-cache hit needs no helper thread: RWF_NOWAIT returns the cached
 * data at once and EAGAIN when the read would block on the device. */
ssize_t cofd_pread_nowait(int fd, void *buf, size_t len, off_t off)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	ssize_t n = preadv2(fd, &iov, 1, off, RWF_NOWAIT);

	if (n > 0 || (n == 0 && len == 0))
		return n;
	if (n < 0 && (errno == EOPNOTSUPP || errno == EINVAL))
		return -EOPNOTSUPP;
	if (n < 0 && errno != EAGAIN)
		return -errno;
	/* n == 0 may be end of file or an uncached page: let the pool decide */
	return -EAGAIN;
}
