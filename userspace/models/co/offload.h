/* offload.h: a few helper threads that run blocking file I/O for the coro
 * model, so a pread that waits on the disk parks one coroutine instead of
 * stopping the only OS thread (epoll cannot wait for regular files: they are
 * always "ready", and a read of a cold page blocks in the syscall).
 *
 * A request lives on the waiting coroutine's stack; a worker runs the
 * syscall, moves the request to the done list and bumps an eventfd that the
 * model registers with epoll. The model then takes the done list and readies
 * each waiter. Workers start on the first request, so runs without file I/O
 * have no extra threads for the probes to see.
 */
#ifndef SCHEDLAB_OFFLOAD_H
#define SCHEDLAB_OFFLOAD_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

#define OFFLOAD_MAX_THREADS 4

enum offload_op { OFFLOAD_PREAD, OFFLOAD_READ, OFFLOAD_WRITE };

struct offload_req {
	struct offload_req *next;
	enum offload_op op;
	int fd;
	void *buf;
	size_t len;
	off_t off;
	ssize_t res;  /* bytes or -errno, set by the worker */
	void *waiter; /* the model's (the parked coroutine) */
};

struct offload_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct offload_req *todo_head, *todo_tail;
	struct offload_req *done; /* LIFO; offload_take_done restores order */
	pthread_t threads[OFFLOAD_MAX_THREADS];
	int nthreads;
	int stop;
	int efd; /* eventfd: done list became non-empty */
	int started;
};

/* Creates the eventfd and nthreads workers (1..OFFLOAD_MAX_THREADS).
 * Signals are blocked in the workers. 0 or -errno, nothing left behind. */
int offload_start(struct offload_pool *p, int nthreads);
void offload_submit(struct offload_pool *p, struct offload_req *r);
/* Resets the eventfd and returns the finished requests, oldest first. */
struct offload_req *offload_take_done(struct offload_pool *p);
/* Stops and joins the workers (after the last request finished). */
void offload_stop(struct offload_pool *p);

#endif
