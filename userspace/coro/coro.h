/* coro.h: stackful coroutines on one OS thread, with a FIFO run queue.
 *
 * This is the runtime the coro and uring models build on; it knows nothing of
 * I/O. A model drives it:
 *
 *     coro_sched_init(&s);
 *     coro_spawn(&s, &opts, fn, arg, &c);
 *     while (coro_sched_live(&s) > 0) {
 *             coro_sched_run(&s);           // run until the run queue is empty
 *             if (coro_sched_live(&s) == 0) break;
 *             wait_for_io_or_timers();      // calls coro_ready() on parked ones
 *     }
 *     coro_sched_destroy(&s);
 *
 * Inside a coroutine: coro_yield() goes to the back of the run queue;
 * coro_park() sleeps until someone calls coro_ready() on it.
 *
 * Stacks come from mmap with a PROT_NONE guard page below them and an explicit
 * size (never SIGSTKSZ). A fault in a guard page prints
 * "coro: stack overflow in coroutine <id> (stack <bytes> bytes): raise stack_bytes"
 * on stderr and aborts, instead of corrupting a neighbour.
 */
#ifndef SCHEDLAB_CORO_H
#define SCHEDLAB_CORO_H

#include <stddef.h>
#include <stdint.h>

/* Saved machine state of a suspended coroutine; layout in switch_<arch>.S. */
struct coro_ctx {
	void *sp;
};

enum coro_state {
	CORO_READY,    /* on the run queue, waiting for its turn */
	CORO_RUNNING,  /* the one coroutine executing now */
	CORO_PARKED,   /* off the run queue until coro_ready() */
	CORO_DONE,     /* returned; waiting for coro_join() to free it */
};

struct coro {
	struct coro_ctx ctx;
	enum coro_state state;
	struct coro *next;          /* run queue / any wait queue link */
	struct coro *joiner;        /* parked in coro_join() on this one */
	void (*fn)(void *);
	void *arg;
	void *stack_base;           /* mapping start (the guard page) */
	size_t stack_bytes;         /* usable bytes above the guard */
	size_t map_bytes;
	uint64_t id;
	uint64_t ready_ns;          /* when it last became READY (USDT/latency) */
	void *user;                 /* the model's per-coroutine data */
};

struct coro_stats {
	uint64_t switches;   /* every change of the running coroutine, scheduler included */
	uint64_t spawned, finished, yields, parks;
	uint64_t live;       /* spawned and not yet finished */
	uint64_t peak_live;
};

struct coro_sched {
	struct coro main;           /* the scheduler's own context (the OS thread) */
	struct coro *current;
	struct coro *rq_head, *rq_tail;
	struct coro_stats stats;
	void *stack_cache;          /* freed stacks kept for reuse (same size) */
	uint64_t next_id;
};

struct coro_opts {
	size_t stack_bytes;   /* usable stack; rounded up to pages; 0 -> 64 KiB */
	int no_guard;         /* 1: carve stacks without a guard page (not by default) */
};

int coro_sched_init(struct coro_sched *s);
/* Frees every stack; coroutines still parked are discarded. */
void coro_sched_destroy(struct coro_sched *s);
/* Runs ready coroutines until the run queue is empty. Returns how many ran. */
uint64_t coro_sched_run(struct coro_sched *s);
static inline uint64_t coro_sched_live(const struct coro_sched *s) { return s->stats.live; }

/* 0 or -errno (-ENOMEM when no stack could be mapped, -EINVAL bad size). The
 * new coroutine is READY; it first runs when the scheduler reaches it. */
int coro_spawn(struct coro_sched *s, const struct coro_opts *opts,
	       void (*fn)(void *), void *arg, struct coro **out);
/* Inside a coroutine only (-EPERM from the scheduler's own context). */
void coro_yield(struct coro_sched *s);
void coro_park(struct coro_sched *s);
/* Parked -> ready (back of the run queue). -EINVAL if c is not PARKED. */
int coro_ready(struct coro_sched *s, struct coro *c);
/* Parks until c is DONE, then frees it. -EINVAL joining self or twice. */
int coro_join(struct coro_sched *s, struct coro *c);
struct coro *coro_current(const struct coro_sched *s);

/* The context switch (switch_<arch>.S): saves callee-saved registers and the
 * stack pointer in *from, loads *to. coro_ctx_make prepares a fresh context
 * that starts entry(arg) on the given stack. */
void coro_switch(struct coro_ctx *from, struct coro_ctx *to);
void coro_ctx_make(struct coro_ctx *ctx, void *stack_top, void (*entry)(void *), void *arg);

#endif
