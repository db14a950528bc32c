/* uring_rt.h: the uring model's state, shared by uring.c (the model: ring
 * setup, submission, completion, read/write/timeout/close) and
 * uring_accept.c (accept, multishot where the kernel has it). Private to
 * those two files.
 */
#ifndef SCHEDLAB_URING_RT_H
#define SCHEDLAB_URING_RT_H

#include <liburing.h>
#include <stddef.h>
#include <stdint.h>

#include "cosched.h"

/* What a parked coroutine waits for: user_data of its one request. */
struct uwait {
	struct coro *co;
	int32_t res;
	/* a read queued by uring.c until the next submit (writes go first) */
	struct uwait *next;
	int fd;
	unsigned len;
	void *buf;
};

struct listener;

struct uring_rt {
	struct cosched cs;
	struct io_uring ring;
	int ring_ready;
	uint64_t inflight; /* requests whose CQE a parked coroutine awaits */
	uint64_t submits, sqes, cqes, sq_full_submits;
	unsigned features; /* IORING_FEAT_* the kernel reported */
	char setup_flags[64];
	char fallback[256];
	/* accept (uring_accept.c) */
	int multishot;		     /* 1: multishot accept in use */
	char accept_note[160];	     /* why not, when it is not */
	struct listener **listeners; /* indexed by fd; NULL: none yet */
	size_t nlisteners;
	struct listener *all_listeners;
	uint64_t accept_waiters; /* coroutines parked in rt_accept on a multishot */
	uint64_t accepts_queued; /* connections accepted before anyone asked */
	/* sleep_until (uring.c, "Timers") */
	int timers_request;	 /* 1: one IORING_OP_TIMEOUT per sleep */
	int timer_armed;	 /* the heap's timeout of generation timer_gen is in flight */
	uint64_t timer_gen;	 /* user_data of the heap's timeout: gen << 2 | UD_TIMER */
	uint64_t timer_armed_ns; /* its deadline */
	struct __kernel_timespec timer_ts;     /* read by the kernel at submission */
	uint64_t timer_arms, timer_rearms;     /* timeouts armed; of those, moved earlier */
	struct uwait *reads_head, *reads_tail; /* reads not yet in the SQ ring */
};

/* user_data with the low bit set is a listener (its multishot accept); with
 * bit 1 set, the timeout of the timer heap (generation in the bits above);
 * else a struct uwait (8-byte aligned) or NULL (a request nobody waits for). */
#define UD_LISTENER 1ull
#define UD_TIMER    2ull

/* uring.c */
struct io_uring_sqe *uring_get_sqe(struct uring_rt *u);
/* Parks the caller until the CQE of sqe arrives; returns cqe->res. */
int32_t uring_await(struct uring_rt *u, struct io_uring_sqe *sqe, struct uwait *w);
int uring_fd_add(struct rt *rt, int fd);

/* uring_accept.c */
int uring_accept(struct rt *rt, int fd);
void uring_accept_init(struct uring_rt *u);
/* A CQE whose user_data carries UD_LISTENER. */
void uring_accept_cqe(struct uring_rt *u, uint64_t user_data, int32_t res, uint32_t flags);
/* Before fd is closed: cancel its multishot accept, close what it queued,
 * fail its waiters with -EBADF. */
void uring_accept_forget(struct uring_rt *u, int fd);
/* After the ring is gone: close queued fds, free every listener. */
void uring_accept_free(struct uring_rt *u);

#endif
