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
 * coro_park() sleeps until someone calls coro_ready() on it. A coroutine that
 * yields, parks or ends switches straight to the next ready coroutine; the
 * scheduler's own context runs again only when the run queue is empty (or a
 * coro_sched_run_max() budget is spent), so a hand-off between two coroutines
 * is one switch, not two.
 *
 * I/O starvation: coro_sched_run() returns only when nothing is ready. A
 * coroutine that loops on coro_yield() keeps something ready forever, so a
 * model that polls for I/O and timers only after coro_sched_run() returns
 * would never poll. Such a model calls coro_sched_run_max(s, budget) instead
 * and, when coro_sched_ready_count(s) > 0 afterwards, polls without blocking.
 *
 * When the run queue is empty and coro_sched_live() > 0, every live coroutine
 * is parked (stats.parked == stats.live): if the model has nothing that could
 * wake one, it reports "no runnable coroutines, <stats.parked> parked".
 *
 * Own stacks come from mmap, with a guard page below each unless unguarded,
 * and an explicit size (never SIGSTKSZ). A fault in a guard page prints
 * "coro: stack overflow in coroutine <id> (stack <bytes> bytes): raise stack_bytes"
 * on stderr and aborts, instead of corrupting a neighbour. Where the kernel
 * has MADV_GUARD_INSTALL (6.13+), guarded stacks are carved from large
 * arenas, each with a guard installed below it that is no VMA of its own;
 * elsewhere each is one mapping with a PROT_NONE page (two VMAs, so about 2
 * per coroutine count against vm.max_map_count). coro_guard_method() says
 * which. The control block (struct coro) lives at the top of its own stack:
 * no malloc per coroutine, and a parked coroutine costs one touched page
 * (4 KiB) in all. Freed stacks of the common size are cached and reused.
 *
 * Shared stacks (CORO_STACK_SHARED, copystack.c): coroutines of one size run
 * on one guarded stack per scheduler. The one whose frame is on it owns it;
 * when another is resumed there, the owner's used part (from its saved stack
 * pointer to the top) is copied into a buffer of its own, grown to fit, and
 * the newcomer's saved part copied back: a parked coroutine costs its control
 * block plus the bytes its stack used, both from the scheduler's frame pool
 * (framepool.h: no allocator header, sizes in steps of 16 bytes). A frame always returns to
 * the address it left, so pointers into it stay right while it runs; while
 * it is parked that memory holds someone else's frame, so nothing outside
 * may point into it then (coro_park_slot, coro_on_shared_stack,
 * coro_stack_check). An overflow of the shared stack is reported like an
 * overflow of an own stack.
 *
 * USDT probes (provider "schedlab", <sys/sdt.h>, with semaphores: one load and
 * a branch each when nothing is attached). Ids: coroutines count from 1 in
 * spawn order per scheduler; 0 is the scheduler's own context.
 *   coro_spawn(id)               a coroutine was created (it is READY)
 *   coro_ready(id)               id entered the run queue: after spawn, on
 *                                coro_yield() (when something else was ready)
 *                                and on coro_ready(); ready -> the next
 *                                coro_switch(*, id) is its run-queue latency
 *   coro_switch(from_id, to_id)  fired once for every switch counted in
 *                                stats.switches, just before it happens
 *   coro_exit(id)                id's function returned (it is DONE)
 *   coro_park(id)                id parks (coro_park): its user stack is the park site
 * All arguments are uint64_t. One scheduler per thread at a time: the ids of
 * two schedulers in one process overlap (tell them apart by thread).
 */
#ifndef SCHEDLAB_CORO_H
#define SCHEDLAB_CORO_H

#include <stddef.h>
#include <stdint.h>

/* Saved machine state of a suspended coroutine: the stack pointer, then the
 * resume address, the callee-saved registers and the FP control state; the
 * slot table is above the code in switch_<arch>.S. */
#if defined(__x86_64__)
#define CORO_CTX_SLOTS 8 /* rip rbx rbp r12-r15, mxcsr+x87 cw */
#elif defined(__aarch64__)
#define CORO_CTX_SLOTS 21 /* pc x19-x28 fp fpcr d8-d15 */
#else
#error "coro: no context switch for this architecture (add switch_<arch>.S)"
#endif
struct coro_ctx {
	void *sp;
	uint64_t slots[CORO_CTX_SLOTS];
};

enum coro_state {
	CORO_READY,   /* on the run queue, waiting for its turn */
	CORO_RUNNING, /* the one coroutine executing now */
	CORO_PARKED,  /* off the run queue until coro_ready() */
	CORO_DONE,    /* returned; waiting for coro_join() to free it */
};

struct coro_sched;
struct coro;

/* What a coroutine's frames live on (docs/stacks.md); the model parameter
 * `stack` names one, and coro_stack_parse() is the one place a name becomes
 * a kind. */
enum coro_stack {
	CORO_STACK_GUARDED,   /* its own, with a guard page below */
	CORO_STACK_UNGUARDED, /* its own, without: an overflow corrupts silently */
	CORO_STACK_SHARED,    /* the scheduler's, copied out and back on switches */
	CORO_STACK_KINDS,
};
extern const char *const coro_stack_names[CORO_STACK_KINDS];
/* The kind called name ("guarded", "unguarded", "shared"), or -EINVAL. */
int coro_stack_parse(const char *name);
const char *coro_stack_name(enum coro_stack kind);

/* A stack, as libaco's share stack is one object: its kind, and the guard
 * page is a property of the kind (guarded and shared stacks have one below
 * `map + page`, unguarded ones none). An own stack holds one coroutine,
 * whose control block sits at its top and is its owner for good; a shared
 * stack belongs to the scheduler and holds the frame of its current owner. */
struct coro_stackmem {
	enum coro_stack kind;
	int in_arena;		    /* carved from an arena (stack.c), not mapped alone */
	void *map;		    /* mapping start: the guard page, when it has one */
	size_t map_bytes;	    /* the whole mapping (or arena slice) */
	size_t usable;		    /* bytes above the guard */
	char *top;		    /* frames grow down from here */
	struct coro *owner;	    /* whose frame is on it; NULL: nobody's (shared) */
	struct coro_stackmem *next; /* shared: the scheduler's other sizes */
};
static inline int coro_stack_kind_guarded(enum coro_stack kind)
{
	return kind != CORO_STACK_UNGUARDED;
}
static inline int coro_stack_guarded(const struct coro_stackmem *st)
{
	return coro_stack_kind_guarded(st->kind);
}

/* Bytes of coro_park_slot(): the largest wait record a model keeps while a
 * coroutine is parked (an offload request is 56). */
#define CORO_PARK_SLOT_BYTES 64

/* ThreadSanitizer builds (make SANITIZE=thread) give each coroutine a TSan
 * fiber (coro/tsan.h). */
#if defined(__SANITIZE_THREAD__)
#define CORO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORO_TSAN 1
#endif
#endif

/* The control block. A parked shared-stack coroutine is this, its saved
 * frame and (once it needed one) its park slot, so nothing here is only
 * for own stacks: what describes an own stack is its stack object, beside
 * this block at the top of the stack (stack.c). */
struct coro {
	struct coro_ctx ctx;
	enum coro_state state;
	struct coro *next;   /* run queue / any wait queue link */
	struct coro *joiner; /* parked in coro_join() on this one */
	void (*fn)(void *);
	void *arg;
	uint64_t id;
	struct coro_sched *sched;
	struct coro *all_prev, *all_next; /* every coroutine not yet freed */
	/* The stack it runs on: its own, or the scheduler's shared one. */
	struct coro_stackmem *stack;
	/* stack=shared: its frame while another coroutine has the stack (len
	 * used bytes of cap, the top len bytes of the stack), from the
	 * scheduler's frame pool */
	struct {
		void *buf;
		uint32_t len, cap;
	} saved;
	/* Memory that stays put while the coroutine is parked, see
	 * coro_park_slot(): own stacks have it beside the block; a shared-stack
	 * coroutine gets it from the frame pool the first time it asks. */
	void *park_slot;
#ifdef CORO_TSAN
	void *tsan_fiber;
#endif
};

struct coro_stats {
	uint64_t switches; /* every change of the running coroutine, scheduler
			    * included (the scheduler's nr_switches); = USDT coro_switch */
	uint64_t spawned, finished, yields, parks;
	uint64_t live; /* spawned and not yet finished */
	uint64_t peak_live;
	uint64_t parked;       /* PARKED right now (a gauge; parks is a count) */
	uint64_t resumes;      /* switches into a coroutine (not into the scheduler) */
	uint64_t stack_maps;   /* stacks mapped with mmap (or carved: arenas) */
	uint64_t stack_reuses; /* stacks taken from the cache instead */
	uint64_t arena_maps;   /* arenas mapped (own stacks are carved from them) */
	uint64_t map_ns;       /* time in mmap for stacks, arenas, shared stacks */
	uint64_t guard_ns;     /* time installing guard pages */
	uint64_t touch_ns;     /* time writing a fresh stack's control block:
				* the first touch (page fault) of its top page */
	uint64_t stack_copies; /* stack=shared: frames saved + frames restored */
	uint64_t copy_bytes;   /* stack=shared: bytes those copies moved */
};

struct coro_sched {
	struct coro main; /* the scheduler's own context (the OS thread) */
	struct coro_stackmem main_stack; /* the thread's: main's for good */
	struct coro *current;
	struct coro *rq_head, *rq_tail;
	struct coro_stats stats;
	void *stack_cache; /* freed stacks kept for reuse (same size) */
	uint64_t next_id;
	uint64_t rq_len;	       /* coroutines on the run queue */
	uint64_t resume_limit;	       /* stats.resumes at which to go back to the
					* scheduler (coro_sched_run_max) */
	size_t cache_map_bytes;	       /* mapping size of the cached stacks */
	uint64_t cache_len, cache_max; /* cache_max: default CORO_STACK_CACHE_MAX */
	struct coro_sched *prev_tls;   /* scheduler active on this thread before */
	/* Stacks carved from arenas (stack.c) and shared stacks with their
	 * copier (copystack.c); NULL until first needed. */
	struct coro_arenas *arenas;
	struct coro_shared *shared;
};

#define CORO_DEFAULT_STACK_BYTES (64 * 1024)
#define CORO_STACK_CACHE_MAX	 1024

struct coro_opts {
	size_t stack_bytes;    /* usable stack; rounded up to pages; 0 -> 64 KiB */
	enum coro_stack stack; /* guarded (0, the default); unguarded: carved
				* back to back from arenas, so a million fit
				* under the default vm.max_map_count, and an
				* overflow corrupts the neighbour silently;
				* shared: the scheduler's stack of this size
				* (see "Shared stacks" above), always guarded */
};

/* How guarded stacks get their guard page on this kernel, decided once per
 * process: "madv_guard_install" (Linux 6.13+: a guard inside one large
 * mapping, no VMA of its own) or "mprotect" (a PROT_NONE page: one more VMA
 * per stack). */
const char *coro_guard_method(void);
/* 1 for madv_guard_install: a guard needs no mapping of its own. */
int coro_guard_in_page_table(void);

/* Memory of the running coroutine that stays put while it is parked, for
 * what a waker writes into (a model's wait record): under stack=shared the
 * stack of a parked coroutine is somewhere else, so a record on it would
 * send the waker's writes into another coroutine's frame.
 * CORO_PARK_SLOT_BYTES, 16-aligned, the caller's until it next parks. A
 * shared-stack coroutine gets it on its first call (most never park
 * anywhere but on an event, which needs none); out of memory then aborts
 * with a message, as a frame that cannot be saved does. */
void *coro_park_slot_new(struct coro *c);
static inline void *coro_park_slot(struct coro *c)
{
	return c->park_slot ? c->park_slot : coro_park_slot_new(c);
}

/* 1 if [p, p + len) overlaps the stack of the running coroutine and that
 * stack is shared: memory that will move when the coroutine parks. A model
 * bounces such a buffer before handing it to the kernel or to another
 * thread; see coro_stack_check() for pointers handed to other coroutines. */
int coro_on_shared_stack(const struct coro_sched *s, const void *p, size_t len);

/* Debug builds (no NDEBUG): aborts with
 * "coro: coroutine N hands out <what> at <p>, inside its shared stack ..."
 * when p lies on the running coroutine's shared stack: another coroutine
 * would read or write it while it is parked, when that memory holds someone
 * else's frame. The models call it where a task hands a pointer to another
 * task (rt_spawn's argument, the event of rt_wait). */
void coro_stack_check_shared(const struct coro_sched *s, const void *p, const char *what);
static inline void coro_stack_check(const struct coro_sched *s, const void *p, const char *what)
{
#ifdef NDEBUG
	(void)s;
	(void)p;
	(void)what;
#else
	/* inline: one load and a branch (no shared stack in this scheduler)
	 * on every wait of an own-stack task */
	if (s->shared && s->current && s->current->stack->kind == CORO_STACK_SHARED)
		coro_stack_check_shared(s, p, what);
#endif
}

/* 0, or -errno: it installs the stack-overflow handler (SIGSEGV, process-wide)
 * and an alternate signal stack for this thread. */
int coro_sched_init(struct coro_sched *s);
/* Frees every stack; coroutines still parked are discarded. */
void coro_sched_destroy(struct coro_sched *s);
/* Runs ready coroutines until the run queue is empty. Returns how many ran
 * (resumes). From the scheduler's own context only (0 from a coroutine). */
uint64_t coro_sched_run(struct coro_sched *s);
/* Same, but comes back to the scheduler's context after at most max_resumes
 * resumes, even if coroutines are still ready (see "I/O starvation"). */
uint64_t coro_sched_run_max(struct coro_sched *s, uint64_t max_resumes);
static inline uint64_t coro_sched_live(const struct coro_sched *s)
{
	return s->stats.live;
}
static inline uint64_t coro_sched_ready_count(const struct coro_sched *s)
{
	return s->rq_len;
}

/* 0 or -errno (-ENOMEM when no stack could be mapped, -EINVAL bad size). The
 * new coroutine is READY; it first runs when the scheduler reaches it. */
int coro_spawn(struct coro_sched *s, const struct coro_opts *opts, void (*fn)(void *), void *arg,
	       struct coro **out);
/* Inside a coroutine only; from the scheduler's own context they return at
 * once and do nothing. coro_yield() also returns at once (counted in yields)
 * when nothing else is ready. coro_park() leaves the coroutine PARKED: the
 * caller first puts itself where a waker will find it. */
void coro_yield(struct coro_sched *s);
void coro_park(struct coro_sched *s);
/* Parked -> ready (back of the run queue). -EINVAL if c is not PARKED. */
int coro_ready(struct coro_sched *s, struct coro *c);
/* Parks until c is DONE, then frees it (c is invalid afterwards; joining a
 * freed coroutine again is a use after free, as with free()). -EINVAL joining
 * self, the scheduler, NULL, another scheduler's coroutine, or one that
 * another coroutine is already joining. From the scheduler's own context it
 * frees a DONE coroutine and returns -EPERM for any other (it cannot park). */
int coro_join(struct coro_sched *s, struct coro *c);
static inline struct coro *coro_current(const struct coro_sched *s)
{
	return s->current;
}

/* The context switch (switch_<arch>.S): saves callee-saved registers and the
 * stack pointer in *from, loads *to. coro_ctx_make prepares a fresh context
 * that starts entry(arg) on the given stack; entry must never return.
 *
 * FP control state (x86-64 MXCSR and x87 control word, AArch64 FPCR) is NOT
 * switched by coro_switch: it costs more than a third of a switch. It belongs
 * to the thread; a coroutine that changes the rounding mode or exception
 * masks must restore them before it yields, parks or returns.
 * coro_switch_fpctl also switches it (per-coroutine FP modes); the runtime
 * uses it when compiled with -DCORO_SAVE_FP_CONTROL. Never mix the two on one
 * pair of contexts.
 *
 * Both return 0, in the context that resumes: a wait whose last act is the
 * switch tail-calls it (`return coro_switch(...)`), so the resumed side
 * continues right at its own call site, as in a raw switch, with no return
 * from the runtime in between. Such a return would land in the other
 * coroutine's code, a guess the return-address predictor misses every time
 * the two coroutines wait from different places (docs/stacks.md). */
int coro_switch(struct coro_ctx *from, struct coro_ctx *to);
int coro_switch_fpctl(struct coro_ctx *from, struct coro_ctx *to);
void coro_ctx_make(struct coro_ctx *ctx, void *stack_top, void (*entry)(void *), void *arg);

#endif
