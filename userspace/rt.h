/* rt.h: the contract between tasks and execution models.
 *
 * A task (tasks/<name>.c) is written once against these operations. A model
 * (models/<name>.c) decides what "waiting" means underneath:
 *   threads  one pthread per rt_spawn; real blocking syscalls; futex wait/wake
 *   coro     stackful coroutines on one OS thread; non-blocking fds + epoll;
 *            timers in a heap; cooperative
 *   uring    the same coroutines; every operation that can wait is an io_uring
 *            request; the thread sleeps only in io_uring_enter
 *   mn       the same coroutines over N worker threads with work stealing;
 *            fds through one shared epoll, timers in one heap
 *
 * Every operation returns 0 (or a byte count) on success and -errno on
 * failure, never -1 with errno. Calls are dispatched through the model's ops
 * table: one indirect call per operation, the same for every model, so the
 * dispatch itself cannot bias a comparison.
 *
 * File descriptors: a task creates fds with ordinary syscalls (pipe2, socket,
 * open), then hands each one to the model with rt_fd_add() before its first
 * rt_read/rt_write/rt_accept, and closes it with rt_close(). That is where the
 * coro model makes the fd non-blocking and registers it with epoll.
 */
#ifndef SCHEDLAB_RT_H
#define SCHEDLAB_RT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "lib/clock.h"

struct rt;	    /* one per run: the model's private state */
struct rt_task;	    /* a spawned task: a thread or a coroutine */
struct record;	    /* lib/record.h */
struct task_ctx;    /* task.h: a run's parsed parameters, model's included */
struct task_param;  /* task.h */
struct task_metric; /* task.h */
struct sched_knobs; /* lib/schedattr.h */

/* A counting event (a semaphore). rt_wait() takes one unit, parking the
 * caller until one is available; rt_wake() adds one unit and wakes one
 * waiter. A lock is an event initialised with one unit. Tasks own the
 * storage; its layout serves every model:
 *   threads          count is the futex word, waiters counts sleepers
 *   coro, uring      head/tail is a FIFO of parked coroutines; waiters unused
 *                    (one thread: nothing on the hand-off is atomic)
 *   mn               the same FIFO; waiters is the lock that guards it */
struct rt_event {
	_Atomic uint32_t count;
	_Atomic uint32_t waiters;
	void *head;
	void *tail;
};
#define RT_EVENT_INIT(units)                                                                       \
	{                                                                                          \
		.count = (units)                                                                   \
	}

/* Options for rt_spawn; NULL means all defaults. */
struct rt_spawn_opts {
	size_t stack_bytes; /* 0: the model's default (RT_DEFAULT_STACK_BYTES) */
	int cpu;	    /* >= 0: where the task should run, a hint each model
			     * reads its own way: threads pins the thread to
			     * that CPU; one-thread models ignore it */
	/* Non-NULL: the task needs an OS thread with these kernel scheduling
	 * attributes, unlike the others. threads applies them to the new
	 * thread before fn runs (spawn returns the error: -EPERM when not
	 * permitted); a model that runs several tasks on one thread cannot
	 * and returns -EOPNOTSUPP, never spawning the task at other values. */
	const struct sched_knobs *sched;
};
#define RT_DEFAULT_STACK_BYTES (64 * 1024)

struct rt_ops {
	const char *name;
	int (*spawn)(struct rt *rt, void (*fn)(void *), void *arg, const struct rt_spawn_opts *opts,
		     struct rt_task **out);
	int (*join)(struct rt *rt, struct rt_task *task); /* frees task */
	void (*yield)(struct rt *rt);
	int (*sleep_until)(struct rt *rt, uint64_t deadline_ns); /* CLOCK_MONOTONIC */
	int (*wait)(struct rt *rt, struct rt_event *ev);
	void (*wake)(struct rt *rt, struct rt_event *ev);
	int (*fd_add)(struct rt *rt, int fd);
	int (*close)(struct rt *rt, int fd);
	ssize_t (*read)(struct rt *rt, int fd, void *buf, size_t len);
	ssize_t (*write)(struct rt *rt, int fd, const void *buf, size_t len);
	ssize_t (*pread)(struct rt *rt, int fd, void *buf, size_t len, off_t off);
	int (*accept)(struct rt *rt, int fd); /* returns the new fd, already added */
};

/* The part of struct rt every model shares; a model embeds it first. */
struct rt {
	const struct rt_ops *ops;
};

/* What a task will hold at once, told to the model before it starts (from
 * the task's setup, through task_reserve()) so the model can ask the kernel
 * for it: how many kernel threads, mappings and bytes that is depends on
 * the model, which is why the task does not work it out itself. */
struct rt_demand {
	uint64_t tasks;		/* tasks alive at the same time */
	size_t stack_bytes;	/* per task; 0: RT_DEFAULT_STACK_BYTES */
	int refuse_over_memory; /* 1: refuse (status 1) when the estimate
				 * exceeds 80% of MemAvailable, rather than let
				 * the run find the limit */
};

/* What tests and the harness need to know of a model, declared with it
 * rather than guessed from its name; `build/workload --list` prints them. */
struct rt_traits {
	/* Every task on one OS thread: events happen in one strict order, and
	 * a second CPU is never used. */
	bool one_thread;
	/* The scheduler sees every parked task, so run() returns -EDEADLK when
	 * all of them wait for good; the kernel cannot tell that of threads. */
	bool sees_deadlocks;
	/* Its place in every table and figure (0 first) and its colour there,
	 * the same in every report. */
	int order;
	const char *colour; /* "#RRGGBB" */
};

/* A model, as main.c sees it. */
struct rt_model {
	const char *name;
	const char *summary;
	struct rt_traits traits;
	/* The model's own parameters (variants of the runtime), declared and
	 * parsed like a task's; NULL when it has none. Terminated by PARAM_END. */
	const struct task_param *params;
	/* The counters run() adds to the record, each named here without the
	 * "<model>_" prefix the record gives it (--list adds it): up to three
	 * lists (the shared coroutine runtime's scheduler and fd counters, the
	 * model's own), each terminated by METRIC_END; NULL where there is none. */
	const struct task_metric *metrics[3];
	/* 0 if this machine can run the model, else -errno and a one-line reason
	 * ("io_uring_queue_init: Operation not permitted (io_uring_disabled=2?)") */
	int (*probe)(char *reason, size_t reason_len);
	/* Optional: checks the model's parameters against the run's (after
	 * cpus is applied). Write one line naming the problem and the fix into
	 * err, return nonzero: main exits 2 before anything runs. */
	int (*validate)(const struct task_ctx *ctx, char *err, size_t errlen);
	/* Raise the kernel limits that `demand` would hit under this model (as
	 * root; recorded in the record, restored at exit) and check its memory.
	 * 0, or 1 with rec_fail() called naming the limit. */
	int (*reserve)(const struct task_ctx *ctx, const struct rt_demand *demand);
	/* Create the runtime (its parameters from ctx), run main_fn(rt, arg) as
	 * the first task, drive the scheduler until every task has finished,
	 * add the model's own counters to rec (under metrics, prefixed
	 * "<model>_"), tear down. Returns main_fn's return value, -EDEADLK
	 * when the model sees that every live task waits on another for good
	 * (it does not fail the record: main.c decides, see task.h's stalled),
	 * or -errno if the runtime could not start. */
	int (*run)(const struct task_ctx *ctx, int (*main_fn)(struct rt *rt, void *arg), void *arg,
		   struct record *rec);
};

extern const struct rt_model threads_model, coro_model, uring_model, mn_model;
extern const struct rt_model *const model_list[]; /* NULL-terminated */

static inline int rt_spawn(struct rt *rt, void (*fn)(void *), void *arg,
			   const struct rt_spawn_opts *opts, struct rt_task **out)
{
	return rt->ops->spawn(rt, fn, arg, opts, out);
}
static inline int rt_join(struct rt *rt, struct rt_task *t)
{
	return rt->ops->join(rt, t);
}
static inline void rt_yield(struct rt *rt)
{
	rt->ops->yield(rt);
}
static inline int rt_sleep_until(struct rt *rt, uint64_t deadline_ns)
{
	return rt->ops->sleep_until(rt, deadline_ns);
}
static inline int rt_wait(struct rt *rt, struct rt_event *ev)
{
	return rt->ops->wait(rt, ev);
}
static inline void rt_wake(struct rt *rt, struct rt_event *ev)
{
	rt->ops->wake(rt, ev);
}
static inline int rt_fd_add(struct rt *rt, int fd)
{
	return rt->ops->fd_add(rt, fd);
}
static inline int rt_close(struct rt *rt, int fd)
{
	return rt->ops->close(rt, fd);
}
static inline ssize_t rt_read(struct rt *rt, int fd, void *buf, size_t len)
{
	return rt->ops->read(rt, fd, buf, len);
}
static inline ssize_t rt_write(struct rt *rt, int fd, const void *buf, size_t len)
{
	return rt->ops->write(rt, fd, buf, len);
}
static inline ssize_t rt_pread(struct rt *rt, int fd, void *buf, size_t len, off_t off)
{
	return rt->ops->pread(rt, fd, buf, len, off);
}
static inline int rt_accept(struct rt *rt, int fd)
{
	return rt->ops->accept(rt, fd);
}

/* Relative sleep, for convenience. */
static inline int rt_sleep_ns(struct rt *rt, uint64_t ns)
{
	return rt_sleep_until(rt, now_ns() + ns);
}
/* A lock is an event with one unit. */
static inline int rt_lock(struct rt *rt, struct rt_event *l)
{
	return rt_wait(rt, l);
}
static inline void rt_unlock(struct rt *rt, struct rt_event *l)
{
	rt_wake(rt, l);
}

#endif
