/* mn_sched.h: the mn model's scheduler: coroutines (coro/coro.h's stacks
 * and context switch) over N worker threads, with work stealing. The design
 * and its reasons are in docs/mn.md; in short:
 *
 *  - Each worker has a run queue (mn_runq.h: FIFO, lock-free, a thief takes
 *    half) for coroutines any worker may run, and an inbox (a lock-free
 *    stack other workers push to) for coroutines pinned to it: a coroutine
 *    spawned with rt_spawn_opts.cpu runs only on the worker of that CPU.
 *    Full rings spill into one global queue under a mutex.
 *  - A coroutine readied by a worker goes on that worker's queue (spawn: on
 *    the spawner's). An idle worker spins (looks at its queues, the global
 *    queue, steals from the others in random order, polls) for mn_spin_ns,
 *    then parks on a futex, or, if I/O or timers are pending and nobody
 *    polls, blocks in the shared poller (mn_io.c).
 *  - A coroutine may resume on any worker. `on_cpu` (as Linux's
 *    task_struct.on_cpu) is 1 from the moment a worker claims a coroutine
 *    until its context is saved after it switched away; a worker that pops a
 *    coroutine whose previous worker is still switching away waits for 0.
 *    That is what lets a waker ready a coroutine that has queued itself on
 *    an event but not yet switched out, so parking needs no lock held across
 *    the switch. A worker never waits for on_cpu from a coroutine's context
 *    (two workers could wait for each other's coroutine): it switches to its
 *    own scheduler context first.
 *
 * USDT probes (provider "schedlab"): coro_spawn(id), coro_ready(id),
 * coro_switch(from_id, to_id) and coro_exit(id) as under coro (coro.h), with
 * ids unique in the process (a coroutine keeps its id on every worker; 0 is
 * any worker's own context: tell workers apart by thread id), plus
 *   mn_worker(worker, tid)        once per worker when it starts
 *   mn_steal(thief, victim, n)    n coroutines moved from victim to thief
 *   mn_park(worker, how)          the worker sleeps (how: 0 futex, 1 poller)
 *   mn_unpark(worker, by)         `by` (a worker index) woke `worker`
 */
#ifndef SCHEDLAB_MN_SCHED_H
#define SCHEDLAB_MN_SCHED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "coro/coro.h"
#include "mn_co.h"
#include "mn_runq.h"
#include "rt.h"
#include "models/co/timerheap.h"

#define MN_MAX_WORKERS 64 /* the idle set is one 64-bit mask */

struct mn_worker;
struct mn_rt;
struct mn_io;

/* The I/O side (mn_io.c), which the scheduler drives without calling it by
 * name: mn_io_init installs it, so that mn_io.c builds on this header and the two
 * files do not call each other. */
struct mn_io_ops {
	/* The caller holds the poller role. Waits for fds, offloads and the
	 * break (block=1: until one, or the earliest timer), readies their
	 * coroutines on w and expires due timers. 0 or -errno. */
	int (*poll)(struct mn_rt *m, struct mn_worker *w, int block);
	/* Wakes a poller blocked in poll (an eventfd write). */
	void (*wake)(struct mn_rt *m);
};

struct mn_stats {
	uint64_t switches; /* every change of context on this worker */
	uint64_t resumes;  /* switches into a coroutine */
	uint64_t steals;   /* steals that got something */
	uint64_t stolen;   /* coroutines moved by them */
	uint64_t parks;	   /* times this worker slept (futex or poller) */
	uint64_t wakes;	   /* times this worker woke a sleeping one */
	uint64_t spin_ns;  /* time spent looking for work before running or parking */
	uint64_t yields, co_parks, spawned, global_gets, polls;
};

struct mn_worker {
	struct mn_runq rq; /* first: it is 64-byte aligned inside */
	struct mn_rt *rt;
	int index;
	int cpu; /* the CPU it stands for in placement hints (not pinned) */
	pthread_t thread;
	_Atomic(struct mn_co *) inbox;	   /* pinned coroutines readied elsewhere */
	struct mn_co *pin_head, *pin_tail; /* owner only: pinned and ready */
	struct coro_sched cs;		   /* stack cache; cs.main = this context */
	struct mn_co main;		   /* the worker's own context, never moves */
	struct mn_co *current;
	struct mn_co *prev;	/* switched away from: on_cpu cleared after */
	struct mn_co *handoff;	/* next to run, whose on_cpu was still 1 */
	_Atomic uint32_t sleep; /* futex word: 1 while parked */
	_Atomic int park_kind;	/* 0 futex, 1 poller */
	uint64_t rng;
	uint32_t tick;
	struct mn_stats st; /* written by this worker only */
	/* Parks minus wake-ups of coroutines counted on this worker (a
	 * coroutine may park on one and be woken on another: only the sum
	 * over workers means anything). Written by this worker only, so no
	 * shared cache line bounces on every hand-off. */
	_Atomic int64_t parked;
	pthread_mutex_t lock; /* cs's stack cache and arenas, and `all` */
	struct mn_co *all;    /* coroutines spawned here, not yet joined */
	int sched_ready;
} __attribute__((aligned(64)));

struct mn_timer {
	struct timerheap_node node; /* first */
	struct mn_co *co;
};

struct mn_rt {
	struct rt rt; /* first: tasks see &mn->rt */
	int nworkers;
	/* nworkers == 1: every coroutine, event and queue belongs to one
	 * thread, so the hand-off path takes no event lock and no
	 * compare-and-swap, and a switch clears on_cpu itself (docs/mn.md) */
	bool solo;
	struct mn_worker *w;
	uint64_t spin_ns;      /* mn_spin_ns */
	enum coro_stack stack; /* guarded or unguarded */
	_Atomic uint64_t idle_mask;
	_Atomic int nspinning;
	_Atomic uint64_t live, peak_live, next_id, finished;

	_Atomic int done;
	_Atomic int err; /* -EDEADLK or a poller's -errno, the first set with done */
	/* global queue: spill of full rings */
	pthread_mutex_t gq_lock;
	struct mn_co *gq_head, *gq_tail;
	_Atomic uint64_t gq_len;
	/* timers: one heap for all workers, under tm_lock */
	pthread_mutex_t tm_lock;
	struct timerheap timers;
	_Atomic uint64_t next_deadline; /* UINT64_MAX: none */
	_Atomic uint64_t timer_wakeups;
	/* I/O: one shared poller, one worker polls at a time */
	const struct mn_io_ops *io_ops; /* NULL until installed */
	struct mn_io *io;
	_Atomic int poller;		/* worker index polling, -1 none */
	_Atomic uint64_t poll_deadline; /* deadline of a blocked poll, or UINT64_MAX */
	_Atomic uint64_t io_pending;	/* fd waits + offloads in flight */
};

static inline void mn_parked_add(struct mn_worker *w, int64_t d)
{
	atomic_store_explicit(&w->parked,
			      atomic_load_explicit(&w->parked, memory_order_relaxed) + d,
			      memory_order_relaxed);
}
/* Coroutines parked now (read when every worker is idle). */
int64_t mn_parked(struct mn_rt *m);

/* The worker running the caller. */
struct mn_worker *mn_self(void);
static inline struct mn_rt *mn_of(struct rt *rt)
{
	return (struct mn_rt *)rt;
}

int mn_sched_init(struct mn_rt *m, int nworkers, const int *cpus);
/* Runs main_fn(rt, arg) as the first coroutine on the calling thread (worker
 * 0) and workers 1..N-1 until no coroutine is live. 0 with *ret, -EDEADLK, or
 * the poller's -errno. */
int mn_sched_run(struct mn_rt *m, int (*main_fn)(struct rt *, void *), void *arg, int *ret);
void mn_sched_destroy(struct mn_rt *m);

/* rt_ops */
int mn_spawn(struct rt *rt, void (*fn)(void *), void *arg, const struct rt_spawn_opts *opts,
	     struct rt_task **out);
int mn_join(struct rt *rt, struct rt_task *task);
void mn_yield(struct rt *rt);
int mn_wait(struct rt *rt, struct rt_event *ev);
void mn_wake(struct rt *rt, struct rt_event *ev);
int mn_sleep_until(struct rt *rt, uint64_t deadline_ns);

/* For the poller: the calling coroutine gives up its worker until someone
 * calls mn_ready() on it (after it published itself where they will find
 * it; they may do so before it has switched out). */
void mn_block(struct mn_worker *w);
/* c becomes runnable (on w's queue, or its home's). */
void mn_ready(struct mn_worker *w, struct mn_co *c);
/* Readies every timer due at now; the count. */
uint64_t mn_timers_expire(struct mn_rt *m, struct mn_worker *w, uint64_t now);
/* A wait that only the poller ends started (fd, offload): a worker must
 * poll. Counted in io_pending by the caller; this wakes an idle worker to
 * become the poller when none is. */
void mn_need_poller(struct mn_rt *m, struct mn_worker *w);

#endif
