/* cosched.h: what the coro and uring models have in common.
 *
 * Both run every task as a coroutine of coro/coro.h on the calling OS thread.
 * Spawn, join, yield, event wait/wake, the timer heap and the scheduler loop
 * are the same for both and live here; only the way a parked coroutine gets
 * woken by the outside world differs, and that is the backend:
 *   coro   non-blocking fds + epoll, timers in our heap, preads on helpers
 *   uring  every wait is an io_uring request; sleepers in the same timer
 *          heap, woken by one IORING_OP_TIMEOUT for its earliest deadline
 *
 * The scheduler loop (cosched_run):
 *     run coroutines until the run queue is empty, or RUN_BUDGET resumes
 *     nothing live                  -> done
 *     queue empty, nothing pending  -> deadlock: -EDEADLK,
 *                                      "<model>: no runnable coroutines, N parked"
 *     else backend poll (blocking only when the queue is empty), which
 *     coro_ready()s the coroutines whose wait is over
 *
 * A coroutine that only yields keeps the run queue non-empty; waiting for the
 * budget would make a timer next to a CPU hog up to RUN_BUDGET yields late.
 * So cosched_yield polls the backend without blocking first whenever a wait
 * is pending: a yield is a point where timers and I/O are noticed (the
 * `preempt` task measures exactly that). For coro timers that is a clock
 * read, for coro fds an epoll_wait(0), for uring a look at the rings that
 * enters the kernel only when something is to submit or task work waits.
 *
 * Everything runs on one thread: the rt_event fields are atomics only because
 * the threads model needs them; here relaxed loads/stores suffice.
 */
#ifndef SCHEDLAB_COSCHED_H
#define SCHEDLAB_COSCHED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "coro/coro.h"
#include "rt.h"
#include "task.h"
#include "timerheap.h"

struct cosched;

struct cosched_backend {
	const char *name; /* the model name: prefix of messages and metrics */
	/* Wake parked coroutines whose wait is over (coro_ready). block=1: the
	 * run queue is empty, sleep until at least one is. block=0: only collect
	 * what is ready now. 0 or -errno (fatal: the run stops). */
	int (*poll)(struct cosched *cs, int block);
	/* Waits the backend will finish on its own (fds, timers, requests in
	 * flight). Zero while coroutines are parked means nobody can wake them. */
	uint64_t (*pending)(struct cosched *cs);
};

/* A sleeping coroutine's timer; it lives in the sleeper's park record
 * (COSCHED_PARK_RECORD), which stays put while the coroutine is parked. */
struct cosched_timer {
	struct timerheap_node node; /* first */
	struct coro *co;
};

struct cosched {
	struct rt rt; /* first: tasks see &cs->rt */
	struct coro_sched sched;
	const struct cosched_backend *be;
	struct timerheap timers;
	uint64_t yield_polls; /* non-blocking polls done by yield */
	uint64_t timer_wakeups;
	int sched_ready;	     /* coro_sched_init succeeded */
	struct coro_opts spawn_opts; /* .stack: the model parameter `stack` */
};

static inline struct cosched *cosched_of(struct rt *rt)
{
	return (struct cosched *)rt; /* rt is the first member */
}

int cosched_init(struct cosched *cs, const struct rt_ops *ops, const struct cosched_backend *be);
/* How rt_spawn'ed tasks get their stack: the model parameter `stack`
 * (stack_param.h). The first task always has its own 1 MiB stack: it holds
 * the run's histograms and what its children share. */
void cosched_use_stack(struct cosched *cs, enum coro_stack kind);
/* Runs main_fn as the first coroutine (1 MiB stack: task bodies keep
 * histograms on the stack) and drives the loop above until no coroutine is
 * live. 0 with *main_ret set, -EDEADLK, or the backend's -errno. */
int cosched_run(struct cosched *cs, int (*main_fn)(struct rt *rt, void *arg), void *arg,
		int *main_ret);
void cosched_destroy(struct cosched *cs);
/* <model>_switches, _spawned, _finished, _yields, _parks, _peak_live,
 * _yield_polls, how stacks were made (_stack, _stack_guard, _stack_maps,
 * _stack_arena_maps, _stack_copies, _stack_copy_bytes) and what creating one
 * cost per spawn, in parts (_spawn_map_ns, _spawn_guard_ns, _spawn_touch_ns)
 * into rec (NULL-safe). timer_wakeups is the heap's: only
 * the model that sleeps on the heap reports it. */
void cosched_metrics(const struct cosched *cs, struct record *rec);
/* What it adds, declared for --list (task.h's struct task_metric). */
extern const struct task_metric cosched_metric_list[];

/* The rt_ops both models share. */
int cosched_spawn(struct rt *rt, void (*fn)(void *), void *arg, const struct rt_spawn_opts *opts,
		  struct rt_task **out);
int cosched_join(struct rt *rt, struct rt_task *task);
void cosched_yield(struct rt *rt);
int cosched_wait(struct rt *rt, struct rt_event *ev);
void cosched_wake(struct rt *rt, struct rt_event *ev);

/* The running coroutine's park record, zeroed, as a `type`: where a model
 * keeps what a waker writes while the coroutine is parked (never on the
 * coroutine's stack, which moves under stack=shared). One per coroutine: it
 * is the caller's until it parks again. */
#define COSCHED_PARK_RECORD(cs, type)                                                              \
	((type *)cosched_park_record(                                                              \
		(cs),                                                                              \
		sizeof(type) + 0 * sizeof(char[sizeof(type) <= CORO_PARK_SLOT_BYTES ? 1 : -1])))
void *cosched_park_record(struct cosched *cs, size_t bytes);

/* A buffer the kernel or another thread uses while the caller is parked:
 * buf itself, or under stack=shared when buf is on the caller's stack, a
 * malloc'ed stand-in (with buf's bytes when copy_in); NULL: out of memory.
 * cosched_unbounce copies `got` bytes back into buf (if got > 0) and frees
 * the stand-in, once the caller runs again. */
void *cosched_bounce(struct cosched *cs, void *buf, size_t len, int copy_in);
void cosched_unbounce(void *bounce, void *buf, ssize_t got);

/* Parks the calling coroutine until deadline_ns (never earlier). The coro
 * backend's sleep_until; 0 or -ENOMEM. */
int cosched_sleep_heap(struct cosched *cs, uint64_t deadline_ns);
/* Earliest pending deadline, or UINT64_MAX when no timer is pending. */
uint64_t cosched_next_deadline(const struct cosched *cs);
/* Readies every sleeper whose deadline is <= now_ns; returns how many. */
uint64_t cosched_timers_expire(struct cosched *cs, uint64_t now_ns);
static inline size_t cosched_timers_pending(const struct cosched *cs)
{
	return cs->timers.len;
}

#endif
