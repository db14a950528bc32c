/* cofd.h: the fd plumbing the two coroutine models share (coro.c on one
 * thread, mn_io.c on several workers): registering an fd with epoll
 * edge-triggered, the epoll wait with an ns or rounded-up ms timeout, the
 * try-the-syscall-then-park loops of read/write/accept, the inline
 * preadv2(RWF_NOWAIT) try and the start of the helper pool (offload.h).
 * What a wait parks on and how it is woken stays in each model: coro's slots
 * are plain pointers, mn's are compare-and-swapped by several workers.
 */
#ifndef SCHEDLAB_COFD_H
#define SCHEDLAB_COFD_H

#include <stdint.h>
#include <sys/epoll.h>
#include <sys/types.h>

#include "offload.h"
#include "rt.h"
#include "task.h"

#define COFD_EPOLL_BATCH     64
#define COFD_OFFLOAD_THREADS 2 /* the machine has 2 CPUs; preads are short */
/* Errors and hang-ups wake both sides: the retried syscall reports what
 * happened. */
#define COFD_READ_EVENTS  (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)
#define COFD_WRITE_EVENTS (EPOLLOUT | EPOLLHUP | EPOLLERR)

enum cofd_kind { COFD_UNKNOWN, COFD_EPOLL, COFD_FILE };

/* The counters both models keep of their fds and helper threads; in the
 * record as <model>_<name>, declared for --list by cofd_metric_list. */
struct cofd_stats {
	uint64_t epoll_waits;	 /* epoll_wait calls */
	uint64_t eagain_parks;	 /* operations that got EAGAIN and parked */
	uint64_t pread_offloads; /* preads handed to a helper thread */
	uint64_t pread_inline;	 /* page-cache hits served by RWF_NOWAIT */
	uint64_t file_offloads;	 /* other file operations handed to a helper */
};
extern const struct task_metric cofd_metric_list[];
/* Adds st to rec as <model>_epoll_waits, ... */
void cofd_stats_record(const struct cofd_stats *st, const char *model, struct record *rec);
enum { COFD_READ, COFD_WRITE }; /* the direction a coroutine waits in */

/* After EAGAIN on fd: park the calling coroutine until the fd's next edge
 * in direction dir. 0 (retry the syscall) or -errno (give up with it). */
typedef int (*cofd_park_fn)(struct rt *rt, int fd, int dir);

/* rt_model.probe of both models: can this process create an epoll
 * instance? 0, or -errno with the reason in reason. */
int cofd_probe(char *reason, size_t reason_len);
/* Whether the kernel has epoll_pwait2 (glibc has the wrapper; the kernel
 * may not: ENOSYS before 5.11, or a seccomp filter that does not know it). */
int cofd_have_pwait2(int epfd);
/* One epoll wait into evs[COFD_EPOLL_BATCH]: no wait unless block, else
 * until deadline_ns (UINT64_MAX: no timer). epoll_wait's ms timeout is
 * rounded up so a timer is never reported early. The number of events (0
 * when a signal interrupted the wait) or -errno. */
int cofd_epoll_wait(int epfd, struct epoll_event *evs, int have_pwait2, int block,
		    uint64_t deadline_ns);
/* Registers fd with epfd for both directions, edge-triggered, and makes it
 * O_NONBLOCK: COFD_EPOLL. A regular file or directory (EPERM): COFD_FILE,
 * with *direct set when it is O_DIRECT. Else -errno, fd left unregistered. */
int cofd_register(int epfd, int fd, int *direct);
/* Starts the helper pool and adds its eventfd to epfd with data tag; a
 * failure is said on stderr under the model's name who. 0 or -errno. */
int cofd_pool_start(struct offload_pool *pool, int epfd, uint64_t tag, const char *who);

/* read(2)/write(2), parking through park on EAGAIN. Bytes or -errno. */
ssize_t cofd_rw(struct rt *rt, int fd, void *buf, size_t len, int writing, cofd_park_fn park);
/* accept4(2) non-blocking, parking on EAGAIN; the new fd is handed to
 * rt_fd_add. The fd or -errno. */
int cofd_accept(struct rt *rt, int fd, cofd_park_fn park);
/* preadv2(RWF_NOWAIT): bytes of a page-cache hit, -EAGAIN where the read
 * must go to the helper pool, -EOPNOTSUPP where the kernel or filesystem
 * has no RWF_NOWAIT (send every later read to the pool too), else -errno. */
ssize_t cofd_pread_nowait(int fd, void *buf, size_t len, off_t off);

#endif
