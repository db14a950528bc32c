/* uring_rt.h: the uring model's state, shared by uring.c (the model: ring
 * setup, completion, read/write/timeout/close), uring_ring.c (submission and
 * the park until a completion, which the others build on), uring_accept.c
 * (accept, multishot where the kernel has it) and uring_recv.c (reads of
 * stream sockets: multishot recv into provided buffers where the kernel has
 * it). Private to those files.
 */
#ifndef SCHEDLAB_URING_RT_H
#define SCHEDLAB_URING_RT_H

#include <liburing.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "models/co/cosched.h"

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
struct rsock;
struct bufgroup;

/* uring_recv and uring_accept: one request per operation, or multishot. */
enum uring_shot {
	URING_SINGLE,
	URING_MULTISHOT,
	URING_SHOTS,
};
extern const char *const uring_shot_names[URING_SHOTS];

/* uring_timers: where sleepers wait (uring.c, "Timers"). */
enum uring_timers {
	URING_TIMERS_HEAP,    /* our heap behind one kernel timeout */
	URING_TIMERS_REQUEST, /* one IORING_OP_TIMEOUT per sleep */
	URING_TIMERS_KINDS,
};
extern const char *const uring_timers_names[URING_TIMERS_KINDS];

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
	enum uring_timers timers; /* uring_timers */
	int timer_armed;	  /* the heap's timeout of generation timer_gen is in flight */
	uint64_t timer_gen;	  /* user_data of the heap's timeout: gen << 2 | UD_TIMER */
	uint64_t timer_armed_ns;  /* its deadline */
	struct __kernel_timespec timer_ts;     /* read by the kernel at submission */
	uint64_t timer_arms, timer_rearms;     /* timeouts armed; of those, moved earlier */
	struct uwait *reads_head, *reads_tail; /* reads not yet in the SQ ring */
	/* reads of stream sockets (uring_recv.c) */
	int recv_multishot;    /* 1: multishot recv + provided buffers */
	char recv_note[160];   /* why not, when it is not */
	struct rsock **rsocks; /* indexed by fd; NULL: plain reads */
	size_t nrsocks;
	struct rsock *all_rsocks;    /* not yet freed (closed ones await a CQE) */
	struct bufgroup *bufgroup;   /* the buffer ring new requests use */
	struct bufgroup *all_groups; /* it and the retired ones still in use */
	uint16_t next_bgid;
	uint64_t recv_sockets;	    /* stream sockets added: sizes the ring */
	uint64_t recv_waiters;	    /* coroutines parked on a multishot recv */
	uint64_t recv_arms;	    /* multishot recv requests submitted */
	uint64_t recv_enobufs;	    /* of those, ended by a dry buffer ring */
	uint64_t recv_plain_reads;  /* reads of a socket done single-shot */
	uint64_t recv_bytes_copied; /* from provided buffers to callers */
	uint64_t recv_groups;	    /* buffer rings registered */
	unsigned recv_ring_entries; /* entries of the last one */
};

/* user_data with both low bits set is a stream socket's multishot recv
 * (struct rsock); with only the low bit set, a listener (its multishot
 * accept); with only bit 1 set, the timeout of the timer heap (generation in
 * the bits above); else a struct uwait (8-byte aligned) or NULL (a request
 * nobody waits for). */
#define UD_LISTENER 1ull
#define UD_TIMER    2ull
#define UD_RECV	    3ull
#define UD_TAG_MASK 3ull

/* uring_ring.c: the core the other files build on (it calls none of them).
 * An SQE; when the SQ ring is full, what is queued is submitted first. NULL
 * only if even that failed. */
struct io_uring_sqe *uring_get_sqe(struct uring_rt *u);
/* Parks the caller until the CQE of sqe arrives; returns cqe->res. */
int32_t uring_await(struct uring_rt *u, struct io_uring_sqe *sqe, struct uwait *w);
/* One IORING_OP_READ at the file position, queued behind the batch's
 * writes: read(2) semantics. */
ssize_t uring_read_plain(struct uring_rt *u, int fd, void *buf, size_t len);
/* Moves the queued reads into the SQ ring (before every submit). */
void uring_flush_reads(struct uring_rt *u);

/* uring_accept.c */
int uring_accept(struct rt *rt, int fd);
/* multishot: 1 to use it where the kernel has it (uring_accept=multishot) */
void uring_accept_init(struct uring_rt *u, int multishot);
/* A CQE whose user_data carries UD_LISTENER. */
void uring_accept_cqe(struct uring_rt *u, uint64_t user_data, int32_t res, uint32_t flags);
/* Before fd is closed: cancel its multishot accept, close what it queued,
 * fail its waiters with -EBADF. */
void uring_accept_forget(struct uring_rt *u, int fd);
/* After the ring is gone: close queued fds, free every listener. */
void uring_accept_free(struct uring_rt *u);

/* uring_recv.c */
#define URING_RECV_BUF_BYTES 4096 /* one provided buffer */
/* multishot: uring_recv=multishot asked for it; it is used only when the
 * kernel has IORING_OP_RECV. After the ring is set up; 0. */
int uring_recv_init(struct uring_rt *u, int multishot);
/* From rt_fd_add: a stream socket gets multishot state. 0 or -errno. */
int uring_recv_fd_add(struct uring_rt *u, int fd);
/* rt_read: from provided buffers for a stream socket, else plain. */
ssize_t uring_recv_read(struct uring_rt *u, int fd, void *buf, size_t len);
/* A CQE whose user_data carries UD_RECV. */
void uring_recv_cqe(struct uring_rt *u, uint64_t user_data, int32_t res, uint32_t flags);
/* Before fd is closed: cancel its multishot recv, give back its buffers,
 * fail a reader with -EBADF. The state lives on until the last CQE. */
void uring_recv_forget(struct uring_rt *u, int fd);
/* Buffer rings still registered: the current one and retired ones in use. */
unsigned uring_recv_rings_live(const struct uring_rt *u);
/* After the ring is gone: free every socket's state and buffer ring. */
void uring_recv_free(struct uring_rt *u);

#endif
