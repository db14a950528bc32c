/* mn_sched.c: workers, switching, spawn/join/yield, events and timers of the
 * mn model (see mn_sched.h for the design, docs/mn.md for the reasons).
 *
 * Finding the current worker: a coroutine may go to sleep on one thread and
 * wake up on another, and a compiler may keep the address of a __thread
 * variable in a register across a call inside one function. So the thread's
 * worker is read (mn_self) only on entry to an operation, and a function that
 * switches gets the worker it woke up on back from the switch (read from the
 * coroutine's own block, where the resuming worker wrote it).
 *
 * Sleeping workers, and why no wake-up is lost: a worker that finds nothing
 * sets its bit in idle_mask, issues a seq_cst fence, then looks at every
 * queue once more before it sleeps. A waker publishes the work, issues a
 * seq_cst fence, then reads nspinning and idle_mask. With a fence on both
 * sides, at least one of the two sees the other's write (the store-buffering
 * pattern): either the sleeper finds the work, or the waker finds the
 * sleeper. A waker claims a sleeper by clearing its bit (fetch_and: one
 * claimant per sleep), then clears its futex word and wakes it. A waker
 * that sees a spinning worker wakes nobody: the spinner stops counting in
 * nspinning before its own fence and second look, so it finds the work.
 */
#include "mn_sched.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "coro/guard.h"
#include "coro/probes.h"
#include "coro/stack.h"
#include "coro/tsan.h"
#include "lib/clock.h"
#include "models/co/event_fifo.h"
#include "models/co/main_call.h"

#ifdef CORO_HAVE_USDT
CORO_SEMAPHORE_DEFINE(mn_worker);
CORO_SEMAPHORE_DEFINE(mn_steal);
CORO_SEMAPHORE_DEFINE(mn_park);
CORO_SEMAPHORE_DEFINE(mn_unpark);
#endif

/* As Go's scheduler: every 61st pick looks at the global queue (and polls)
 * first, so that neither starves behind a busy local queue. */
#define GLOBAL_EVERY 61
#define GLOBAL_BATCH 32
/* A lock holder preempted by the kernel: stop burning its CPU. */
#define SPINS_BEFORE_YIELD 1024

enum { PARK_FUTEX, PARK_POLL };

/* The store-buffering fence of the sleep/wake protocol. ThreadSanitizer does
 * not model fences; under it, a seq_cst read-modify-write of one shared word
 * on both sides gives the same order (RMWs of one word are totally ordered
 * and each reads from the one before) in terms TSan understands. */
#ifdef CORO_TSAN
static _Atomic uint64_t tsan_fence_word;
#define SB_FENCE() atomic_fetch_add(&tsan_fence_word, 0)
#else
#define SB_FENCE() atomic_thread_fence(memory_order_seq_cst)
#endif

/* The functions between an operation's entry and coro_switch are inlined
 * into it. The switch enters the other context with a jump, so the return
 * address its call pushed on the CPU's return stack buffer is never popped,
 * and every return the resumed coroutine makes until its next switch is
 * predicted one frame off: the fewer frames between the operation and the
 * switch, the fewer mispredicted returns per switch (measured: about 30 ns
 * of a same-worker hand-off when four of them were calls). */
#define MN_SWITCH_PATH static inline __attribute__((always_inline))

static __thread struct mn_worker *tls_worker;

__attribute__((noinline)) struct mn_worker *mn_self(void)
{
	return tls_worker;
}

/* The same, read inline: only where the function reading it does not
 * read it again after a switch (a coroutine may resume on another thread,
 * and the compiler may keep a TLS address it computed before the switch;
 * mn_self() is out of line for that reason). */
static inline struct mn_worker *self_before_any_switch(void)
{
	return tls_worker;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

static void spin_wait_zero(_Atomic int *flag)
{
	unsigned spins = 0;

	while (atomic_load_explicit(flag, memory_order_acquire))
		if (++spins % SPINS_BEFORE_YIELD == 0)
			sched_yield();
		else
			cpu_relax();
}

static uint64_t pending(struct mn_rt *m)
{
	return atomic_load(&m->io_pending) + (atomic_load(&m->next_deadline) != UINT64_MAX);
}

/* ---- sleeping and waking workers ------------------------------------------- */

static void futex_wait(_Atomic uint32_t *word, uint32_t val)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void io_wake(struct mn_rt *m)
{
	if (m->io_ops)
		m->io_ops->wake(m);
}

/* The caller cleared idx's idle bit: the wake-up is ours to deliver. */
static void unpark(struct mn_rt *m, struct mn_worker *by, int idx)
{
	struct mn_worker *t = &m->w[idx];

	if (by)
		by->st.wakes++;
	CORO_PROBE2(mn_unpark, idx, by ? by->index : -1);
	atomic_store(&t->sleep, 0);
	if (atomic_load(&t->park_kind) == PARK_POLL)
		io_wake(m);
	else
		futex_wake(&t->sleep);
}

static int claim(struct mn_rt *m, struct mn_worker *by, int idx)
{
	uint64_t bit = 1ull << idx;

	if (!(atomic_load(&m->idle_mask) & bit))
		return 0;
	if (!(atomic_fetch_and(&m->idle_mask, ~bit) & bit))
		return 0;
	unpark(m, by, idx);
	return 1;
}

/* Work was published: make sure a worker other than `by` will look. */
static void wake_one(struct mn_rt *m, struct mn_worker *by)
{
	uint64_t mask, self = by ? 1ull << by->index : 0;

	SB_FENCE();
	if (atomic_load(&m->nspinning))
		return;
	while ((mask = atomic_load(&m->idle_mask) & ~self)) {
		int poller = atomic_load(&m->poller);
		uint64_t others = poller >= 0 ? mask & ~(1ull << poller) : mask;

		/* A blocked poller is left polling when someone else sleeps. */
		if (claim(m, by, __builtin_ctzll(others ? others : mask)))
			return;
	}
}

/* done: every worker leaves its loop (the last coroutine ended, a deadlock,
 * or a fatal poll error). */
static void finish_run(struct mn_rt *m, struct mn_worker *by, int err)
{
	int i, none = 0;

	/* Two workers may finish at once (each sees the deadlock): the first
	 * error is kept. */
	if (err)
		atomic_compare_exchange_strong(&m->err, &none, err);
	atomic_store(&m->done, 1);
	for (i = 0; i < m->nworkers; i++)
		claim(m, by, i);
	io_wake(m);
}

void mn_need_poller(struct mn_rt *m, struct mn_worker *w)
{
	if (atomic_load(&m->poller) < 0)
		wake_one(m, w);
}

int64_t mn_parked(struct mn_rt *m)
{
	int64_t sum = 0;
	int i;

	for (i = 0; i < m->nworkers; i++)
		sum += atomic_load_explicit(&m->w[i].parked, memory_order_relaxed);
	return sum > 0 ? sum : 0;
}

/* ---- queues ------------------------------------------------------------------- */

static void global_put(struct mn_rt *m, struct mn_co *first)
{
	struct mn_co *last = first;
	uint64_t n = 1;

	while (last->next) {
		last = last->next;
		n++;
	}
	pthread_mutex_lock(&m->gq_lock);
	if (m->gq_tail)
		m->gq_tail->next = first;
	else
		m->gq_head = first;
	m->gq_tail = last;
	atomic_fetch_add(&m->gq_len, n);
	pthread_mutex_unlock(&m->gq_lock);
}

static struct mn_co *gq_pop_locked(struct mn_rt *m)
{
	struct mn_co *c = m->gq_head;

	if (c) {
		m->gq_head = c->next;
		if (!m->gq_head)
			m->gq_tail = NULL;
		c->next = NULL;
		atomic_fetch_sub(&m->gq_len, 1);
	}
	return c;
}

/* One from the global queue; with an empty ring, a batch comes along. */
static struct mn_co *global_get(struct mn_worker *w)
{
	struct mn_rt *m = w->rt;
	struct mn_co *c, *x, *spill = NULL;
	uint64_t n;

	if (!atomic_load_explicit(&m->gq_len, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&m->gq_lock);
	c = gq_pop_locked(m);
	if (c && mn_runq_len(&w->rq) == 0) {
		n = atomic_load(&m->gq_len) / (uint64_t)m->nworkers;
		if (n > GLOBAL_BATCH)
			n = GLOBAL_BATCH;
		while (n-- && (x = gq_pop_locked(m)))
			mn_runq_push(&w->rq, x, &spill); /* room: the ring was empty */
	}
	pthread_mutex_unlock(&m->gq_lock);
	if (c)
		w->st.global_gets++;
	return c;
}

MN_SWITCH_PATH void pin_push(struct mn_worker *w, struct mn_co *c)
{
	c->next = NULL;
	if (w->pin_tail)
		w->pin_tail->next = c;
	else
		w->pin_head = c;
	w->pin_tail = c;
}

MN_SWITCH_PATH struct mn_co *pin_pop(struct mn_worker *w)
{
	struct mn_co *c;

	if (atomic_load_explicit(&w->inbox, memory_order_relaxed)) {
		/* acquire: the pusher's writes to c happen before we use it */
		struct mn_co *in = atomic_exchange_explicit(&w->inbox, NULL, memory_order_acquire);
		struct mn_co *rev = NULL;

		while (in) { /* a LIFO stack: reverse into arrival order */
			struct mn_co *next = in->next;

			in->next = rev;
			rev = in;
			in = next;
		}
		while (rev) {
			struct mn_co *next = rev->next;

			pin_push(w, rev);
			rev = next;
		}
	}
	c = w->pin_head;
	if (c) {
		w->pin_head = c->next;
		if (!w->pin_head)
			w->pin_tail = NULL;
		c->next = NULL;
	}
	return c;
}

static void inbox_push(struct mn_worker *home, struct mn_co *c)
{
	struct mn_co *old = atomic_load_explicit(&home->inbox, memory_order_relaxed);

	do
		c->next = old;
	while (!atomic_compare_exchange_weak_explicit(&home->inbox, &old, c, memory_order_release,
						      memory_order_relaxed));
}

/* Puts a runnable c where it will run: its home if pinned, else w's ring.
 * Wakes a sleeping worker when one could take work off w: another item than
 * the one w will run next is waiting (a single readied coroutine is run by
 * w itself as soon as the current one stops, cheaper than a futex wake). */
static __attribute__((noinline)) void enqueue_slow(struct mn_worker *w, struct mn_co *c)
{
	struct mn_rt *m = w->rt;
	struct mn_co *spill = NULL;

	if (c->home >= 0) { /* pinned to another worker */
		inbox_push(&m->w[c->home], c);
		SB_FENCE();
		claim(m, w, c->home);
		return;
	}
	if (!mn_runq_push(&w->rq, c, &spill))
		global_put(m, spill);
	if (spill || mn_runq_len(&w->rq) >= 2)
		wake_one(m, w);
}

/* Inline, the common cases: pinned here, or room in the ring and nobody
 * to wake (one worker has nobody). The rest is out of line. */
MN_SWITCH_PATH void enqueue(struct mn_worker *w, struct mn_co *c)
{
	if (c->home == w->index) {
		pin_push(w, c);
		return;
	}
	if (c->home < 0 && w->rt->solo && mn_runq_try_push(&w->rq, c))
		return;
	enqueue_slow(w, c);
}

MN_SWITCH_PATH void ready_inline(struct mn_worker *w, struct mn_co *c)
{
	mn_parked_add(w, -1);
	CORO_PROBE1(coro_ready, c->co->id);
	enqueue(w, c);
}

void mn_ready(struct mn_worker *w, struct mn_co *c)
{
	ready_inline(w, c);
}

static int local_has_work(struct mn_worker *w)
{
	return w->pin_head || atomic_load_explicit(&w->inbox, memory_order_relaxed) ||
	       mn_runq_len(&w->rq) || atomic_load_explicit(&w->rt->gq_len, memory_order_relaxed);
}

/* Any work this worker could run, anywhere (before it sleeps). */
static int work_visible(struct mn_worker *w)
{
	struct mn_rt *m = w->rt;
	int i;

	if (local_has_work(w))
		return 1;
	for (i = 0; i < m->nworkers; i++)
		if (mn_runq_len(&m->w[i].rq))
			return 1;
	return 0;
}

static void poll_nonblock(struct mn_worker *w)
{
	struct mn_rt *m = w->rt;
	int none = -1;

	if (!pending(m))
		return;
	if (atomic_load_explicit(&m->next_deadline, memory_order_relaxed) <= now_ns())
		mn_timers_expire(m, w, now_ns());
	if (atomic_load(&m->io_pending) &&
	    atomic_compare_exchange_strong(&m->poller, &none, w->index)) {
		int err = m->io_ops->poll(m, w, 0);

		w->st.polls++;
		atomic_store(&m->poller, -1);
		if (err)
			finish_run(m, w, err);
	}
}

MN_SWITCH_PATH struct mn_co *runq_pop(struct mn_worker *w)
{
	return w->rt->solo ? mn_runq_pop_alone(&w->rq) : mn_runq_pop(&w->rq);
}

/* Next from this worker's own queues (pinned ones and ring alternate). */
MN_SWITCH_PATH struct mn_co *local_next(struct mn_worker *w)
{
	struct mn_co *c = NULL;

	if (++w->tick % GLOBAL_EVERY == 0) {
		poll_nonblock(w);
		c = global_get(w);
		if (c)
			return c;
	}
	if (w->tick & 1) {
		c = pin_pop(w);
		if (!c)
			c = runq_pop(w);
	} else {
		c = runq_pop(w);
		if (!c)
			c = pin_pop(w);
	}
	return c;
}

static struct mn_co *steal(struct mn_worker *w)
{
	struct mn_rt *m = w->rt;
	int i, start;

	if (m->nworkers < 2)
		return NULL;
	/* xorshift64: victims in random order, so thieves spread out */
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	start = (int)(w->rng % (uint64_t)m->nworkers);
	for (i = 0; i < m->nworkers; i++) {
		int v = (start + i) % m->nworkers;
		struct mn_co *c;
		uint32_t n;

		if (v == w->index)
			continue;
		c = mn_runq_steal(&w->rq, &m->w[v].rq, &n);
		if (c) {
			w->st.steals++;
			w->st.stolen += n;
			CORO_PROBE3(mn_steal, w->index, v, n);
			return c;
		}
	}
	return NULL;
}

static struct mn_co *find_work(struct mn_worker *w)
{
	struct mn_co *c = local_next(w);

	if (!c)
		c = global_get(w);
	if (!c && pending(w->rt)) {
		poll_nonblock(w);
		c = local_next(w);
	}
	if (!c)
		c = steal(w);
	return c;
}

static struct mn_co *spin_for_work(struct mn_worker *w)
{
	struct mn_rt *m = w->rt;
	uint64_t start = now_ns(), now = start;
	struct mn_co *c;

	atomic_fetch_add(&m->nspinning, 1);
	for (;;) {
		c = find_work(w);
		if (c || atomic_load_explicit(&m->done, memory_order_relaxed))
			break;
		now = now_ns();
		if (now - start >= m->spin_ns)
			break;
		cpu_relax();
	}
	if (c)
		now = now_ns();
	/* A waker that saw us spinning published its work before our
	 * decrement; park()'s fence and second look will find it. */
	atomic_fetch_sub(&m->nspinning, 1);
	w->st.spin_ns += now - start;
	return c;
}

/* Nothing to run: sleep in the poller or on the futex until woken. */
static void park(struct mn_worker *w)
{
	struct mn_rt *m = w->rt;
	uint64_t bit = 1ull << w->index;
	uint64_t all = m->nworkers == 64 ? ~0ull : (1ull << m->nworkers) - 1;
	int kind = PARK_FUTEX, none = -1;

	if (pending(m) && atomic_compare_exchange_strong(&m->poller, &none, w->index))
		kind = PARK_POLL;
	atomic_store(&w->park_kind, kind);
	atomic_store(&w->sleep, 1);
	atomic_fetch_or(&m->idle_mask, bit);
	SB_FENCE();
	if (work_visible(w) || atomic_load(&m->done))
		goto awake;
	if (kind == PARK_FUTEX && atomic_load(&m->idle_mask) == all && !pending(m) &&
	    !work_visible(w) && atomic_load(&m->poller) < 0) {
		/* Every worker is here, nothing is queued and nothing in flight
		 * can ready a coroutine: the live ones wait for each other. */
		fprintf(stderr, "mn: no runnable coroutines, %lld parked\n",
			(long long)mn_parked(m));
		finish_run(m, w, -EDEADLK);
		goto awake;
	}
	w->st.parks++;
	CORO_PROBE2(mn_park, w->index, kind);
	if (kind == PARK_POLL) {
		int err = m->io_ops->poll(m, w, 1);

		if (err)
			finish_run(m, w, err);
	} else {
		while (atomic_load(&w->sleep) == 1 && !atomic_load(&m->done))
			futex_wait(&w->sleep, 1);
	}
awake:
	atomic_fetch_and(&m->idle_mask, ~bit);
	atomic_store(&w->sleep, 0);
	if (kind == PARK_POLL)
		atomic_store(&m->poller, -1);
}

/* ---- switching ------------------------------------------------------------------ */

static void finish_switch(struct mn_worker *w)
{
	struct mn_co *p = w->prev;

	w->prev = NULL;
	/* release: the context saved by the switch is visible to whoever
	 * sees on_cpu == 0 and resumes p */
	if (p && p != &w->main)
		atomic_store_explicit(&p->on_cpu, 0, memory_order_release);
}

/* What every switch from `from` to `to` (on w) records before it happens. */
MN_SWITCH_PATH void switch_note(struct mn_worker *w, struct mn_co *from, struct mn_co *to)
{
	to->worker = w;
	w->current = to;
	w->cs.current = to->co; /* for the stack-overflow report (guard.c) */
	w->st.switches++;
	if (to != &w->main)
		w->st.resumes++;
	CORO_PROBE2(coro_switch, from->co->id, to->co->id);
}

/* One worker (m->solo): nothing can resume `from` before this switch is
 * done, since the only thread that could is the one making it. So its
 * on_cpu is cleared before the switch rather than after, and the switch is
 * the last act, which a caller with nothing left to do makes a tail call:
 * the resumed coroutine goes on at its own call site (coro.h, coro_switch).
 * w->prev stays NULL, so a resume site that calls finish_switch finds
 * nothing to do. 0, once `from` runs again. */
MN_SWITCH_PATH int switch_solo(struct mn_worker *w, struct mn_co *from, struct mn_co *to)
{
	switch_note(w, from, to);
	if (from != &w->main)
		atomic_store_explicit(&from->on_cpu, 0, memory_order_relaxed);
	coro_tsan_switch(to->co);
	return CORO_NOT_TAIL(coro_switch(&from->co->ctx, &to->co->ctx));
}

/* From `from` (running on w) to `to`, whose on_cpu the caller set. Returns
 * the worker `from` runs on when it is resumed. */
MN_SWITCH_PATH struct mn_worker *switch_to(struct mn_worker *w, struct mn_co *from,
					   struct mn_co *to)
{
	if (w->rt->solo) {
		switch_solo(w, from, to);
		return w;
	}
	switch_note(w, from, to);
	w->prev = from;
	coro_tsan_switch(to->co);
	coro_switch(&from->co->ctx, &to->co->ctx);
	w = from->worker;
	finish_switch(w);
	return w;
}

/* `from` stops running without going back on a queue (it parked or ended). */
MN_SWITCH_PATH struct mn_worker *switch_away(struct mn_worker *w, struct mn_co *from)
{
	struct mn_co *to = local_next(w);

	if (to == from)
		return w; /* readied again before it left: keep running */
	if (to && !atomic_load_explicit(&to->on_cpu, memory_order_acquire)) {
		atomic_store_explicit(&to->on_cpu, 1, memory_order_relaxed);
		return switch_to(w, from, to);
	}
	/* Its last worker is still switching away from it: wait for that in
	 * our own context, never in a coroutine's (two workers could each
	 * wait for the coroutine the other is leaving). */
	w->handoff = to;
	return switch_to(w, from, &w->main);
}

void mn_block(struct mn_worker *w)
{
	w->st.co_parks++;
	switch_away(w, w->current);
}

/* ---- coroutines ------------------------------------------------------------------ */

static void co_entry(void *arg)
{
	struct mn_co *c = arg;
	struct mn_worker *w = c->worker;
	struct mn_rt *m = w->rt;

	finish_switch(w);
	c->fn(c->arg);
	w = c->worker;
	CORO_PROBE1(coro_exit, c->co->id);
	atomic_fetch_add(&m->finished, 1);
	mn_wake(&m->rt, &c->done);
	if (atomic_fetch_sub(&m->live, 1) == 1)
		finish_run(m, w, 0);
	switch_away(w, c);
	abort(); /* an ended coroutine is never resumed */
}

static int co_create(struct mn_worker *w, void (*fn)(void *), void *arg, size_t stack_bytes,
		     enum coro_stack stack, int home, struct mn_co **out)
{
	struct mn_rt *m = w->rt;
	struct coro_opts opts = {.stack_bytes = stack_bytes, .stack = stack};
	struct coro *co;
	struct mn_co *c;
	uint64_t live, peak;
	int err;

	/* w's stack cache and arenas: a join on another worker gives the
	 * stack back to them (mn_join), so they take the lock. */
	pthread_mutex_lock(&w->lock);
	err = coro_stack_alloc(&w->cs, &opts, &co);
	pthread_mutex_unlock(&w->lock);
	if (err)
		return err;
	/* Our block sits just below struct coro; the stack grows below it. */
	c = (struct mn_co *)(((uintptr_t)co - sizeof(*c)) & ~(uintptr_t)63);
	memset(c, 0, sizeof(*c));
	c->co = co;
	co->sched = &w->cs;
	co->fn = fn;
	co->arg = arg;
	co->id = atomic_fetch_add(&m->next_id, 1);
	c->fn = fn;
	c->arg = arg;
	c->home = home;
	c->list = w->index;
	coro_ctx_make(&co->ctx, c, co_entry, c);
	coro_tsan_create(co);

	pthread_mutex_lock(&w->lock);
	c->all_next = w->all;
	if (w->all)
		w->all->all_prev = c;
	w->all = c;
	pthread_mutex_unlock(&w->lock);

	live = atomic_fetch_add(&m->live, 1) + 1;
	peak = atomic_load_explicit(&m->peak_live, memory_order_relaxed);
	while (live > peak && !atomic_compare_exchange_weak(&m->peak_live, &peak, live))
		;
	w->st.spawned++;
	CORO_PROBE1(coro_spawn, co->id);
	*out = c;
	return 0;
}

/* The worker of `cpu` (worker i stands for the i-th CPU of the affinity;
 * another CPU by its number modulo the workers), or -1 with no hint. */
static int home_of(struct mn_rt *m, int cpu)
{
	int i;

	if (cpu < 0)
		return -1;
	for (i = 0; i < m->nworkers; i++)
		if (m->w[i].cpu == cpu)
			return i;
	return cpu % m->nworkers;
}

int mn_spawn(struct rt *rt, void (*fn)(void *), void *arg, const struct rt_spawn_opts *opts,
	     struct rt_task **out)
{
	struct mn_rt *m = mn_of(rt);
	struct mn_worker *w = mn_self();
	struct mn_co *c;
	int err;

	if (!w || !fn)
		return -EINVAL;
	/* Workers are shared: one coroutine cannot get kernel attributes. */
	if (opts && opts->sched)
		return -EOPNOTSUPP;
	err = co_create(w, fn, arg,
			opts && opts->stack_bytes ? opts->stack_bytes : RT_DEFAULT_STACK_BYTES,
			m->stack, opts ? home_of(m, opts->cpu) : -1, &c);
	if (err)
		return err;
	CORO_PROBE1(coro_ready, c->co->id);
	enqueue(w, c);
	if (out)
		*out = (struct rt_task *)c;
	return 0;
}

/* ---- events ---------------------------------------------------------------------- */

/* ev->waiters is the lock of an event under mn (threads uses it as a count
 * of sleepers; the layout serves every model, rt.h). */
static void ev_lock(struct rt_event *ev)
{
	unsigned spins = 0;

	while (atomic_exchange_explicit(&ev->waiters, 1, memory_order_acquire))
		while (atomic_load_explicit(&ev->waiters, memory_order_relaxed))
			if (++spins % SPINS_BEFORE_YIELD == 0)
				sched_yield();
			else
				cpu_relax();
}

static void ev_unlock(struct rt_event *ev)
{
	atomic_store_explicit(&ev->waiters, 0, memory_order_release);
}

/* Takes a unit or parks; returns the worker the caller runs on afterwards. */
MN_SWITCH_PATH struct mn_worker *ev_wait(struct mn_worker *w, struct rt_event *ev)
{
	struct mn_co *self = w->current;
	uint32_t units;

	ev_lock(ev);
	units = atomic_load_explicit(&ev->count, memory_order_relaxed);
	if (!ev->head && units > 0) {
		atomic_store_explicit(&ev->count, units - 1, memory_order_relaxed);
		ev_unlock(ev);
		return w;
	}
	EVENT_FIFO_PUSH(ev, self);
	mn_parked_add(w, 1);
	ev_unlock(ev);
	/* A waker may ready us from here on, before we switched out: the
	 * worker that picks us up waits for on_cpu == 0. The waker hands its
	 * unit over directly (count stays 0 while anyone waits: FIFO). */
	w->st.co_parks++;
	return switch_away(w, self);
}

/* ev_wait on one worker (m->solo): no other thread touches ev, and the
 * park ends in a tail call. */
MN_SWITCH_PATH int ev_wait_solo(struct mn_worker *w, struct rt_event *ev)
{
	struct mn_co *self = w->current, *to;
	uint32_t units = atomic_load_explicit(&ev->count, memory_order_relaxed);

	if (!ev->head && units > 0) {
		atomic_store_explicit(&ev->count, units - 1, memory_order_relaxed);
		return 0;
	}
	EVENT_FIFO_PUSH(ev, self);
	mn_parked_add(w, 1);
	w->st.co_parks++;
	/* switch_away's choice; on one worker only the caller's on_cpu is 1 */
	to = local_next(w);
	if (to)
		atomic_store_explicit(&to->on_cpu, 1, memory_order_relaxed);
	else
		to = &w->main;
	return switch_solo(w, self, to);
}

/* Out of line: mn_wait's one-worker path keeps no registers for it. */
static __attribute__((noinline)) int ev_wait_shared(struct mn_worker *w, struct rt_event *ev)
{
	ev_wait(w, ev);
	return 0;
}

int mn_wait(struct rt *rt, struct rt_event *ev)
{
	/* tail calls either way: nothing here runs after the switch */
	struct mn_worker *w = self_before_any_switch();

	if (!w || w->current == &w->main)
		return -EPERM;
	if (mn_of(rt)->solo)
		return ev_wait_solo(w, ev);
	return ev_wait_shared(w, ev);
}

static __attribute__((noinline)) void wake_shared(struct mn_worker *w, struct rt_event *ev)
{
	struct mn_co *c;

	ev_lock(ev);
	EVENT_FIFO_POP(ev, c);
	if (!c) {
		atomic_fetch_add_explicit(&ev->count, 1, memory_order_relaxed);
		ev_unlock(ev);
		return;
	}
	ev_unlock(ev);
	mn_ready(w, c);
}

void mn_wake(struct rt *rt, struct rt_event *ev)
{
	struct mn_worker *w = self_before_any_switch(); /* a wake never switches */
	struct mn_co *c;

	if (mn_of(rt)->solo) {
		/* one thread: a load and a store, no lock, no read-modify-write */
		EVENT_FIFO_POP(ev, c);
		if (c)
			ready_inline(w, c);
		else
			atomic_store_explicit(
				&ev->count,
				atomic_load_explicit(&ev->count, memory_order_relaxed) + 1,
				memory_order_relaxed);
		return;
	}
	wake_shared(w, ev);
}

int mn_join(struct rt *rt, struct rt_task *task)
{
	struct mn_worker *w = mn_self();
	struct mn_co *c = (struct mn_co *)task;
	struct mn_worker *lw;

	(void)rt;
	if (!w || !c || c == w->current || w->current == &w->main)
		return -EINVAL;
	w = ev_wait(w, &c->done);
	/* c's last switch may still be under way on another worker */
	spin_wait_zero(&c->on_cpu);
	/* Back to the worker that spawned it: its arena holds the stack. */
	lw = &w->rt->w[c->list];
	coro_tsan_destroy(c->co);
	pthread_mutex_lock(&lw->lock);
	if (c->all_prev)
		c->all_prev->all_next = c->all_next;
	else
		lw->all = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	coro_stack_free(&lw->cs, c->co);
	pthread_mutex_unlock(&lw->lock);
	return 0;
}

void mn_yield(struct rt *rt)
{
	struct mn_worker *w = mn_self();
	struct mn_co *self;

	(void)rt;
	if (!w || w->current == &w->main)
		return;
	self = w->current;
	w->st.yields++;
	/* a yield is where timers and I/O are noticed next to a CPU hog */
	poll_nonblock(w);
	if (!local_has_work(w))
		return;
	enqueue(w, self);
	switch_away(w, self);
}

/* ---- timers: one heap (timerheap.h) for every worker, under tm_lock ----------- */

static void set_next_deadline(struct mn_rt *m)
{
	atomic_store(&m->next_deadline, timerheap_next(&m->timers));
}

int mn_sleep_until(struct rt *rt, uint64_t deadline_ns)
{
	struct mn_rt *m = mn_of(rt);
	struct mn_worker *w = mn_self();
	struct mn_timer t = {.node.deadline_ns = deadline_ns};
	int err;

	if (deadline_ns <= now_ns())
		return 0;
	if (!w || w->current == &w->main)
		return -EPERM;
	t.co = w->current;
	pthread_mutex_lock(&m->tm_lock);
	err = timerheap_push(&m->timers, &t.node);
	if (err) {
		pthread_mutex_unlock(&m->tm_lock);
		return err;
	}
	set_next_deadline(m);
	mn_parked_add(w, 1);
	pthread_mutex_unlock(&m->tm_lock);
	/* A poller blocked until a later deadline must look again (the poller
	 * re-reads next_deadline after publishing poll_deadline: one of the
	 * two sees the other). */
	if (deadline_ns < atomic_load(&m->poll_deadline))
		io_wake(m);
	mn_need_poller(m, w);
	mn_block(w);
	return 0;
}

uint64_t mn_timers_expire(struct mn_rt *m, struct mn_worker *w, uint64_t now)
{
	struct mn_co *due = NULL, **tail = &due;
	struct timerheap_node *node;
	uint64_t n = 0;

	if (atomic_load(&m->next_deadline) > now)
		return 0;
	pthread_mutex_lock(&m->tm_lock);
	while ((node = timerheap_pop_due(&m->timers, now))) {
		struct mn_timer *t = (struct mn_timer *)node;

		/* t lives on the sleeper's stack: done with it before it runs */
		*tail = t->co;
		t->co->next = NULL;
		tail = &t->co->next;
		n++;
	}
	set_next_deadline(m);
	pthread_mutex_unlock(&m->tm_lock);
	while (due) {
		struct mn_co *next = due->next;

		mn_ready(w, due);
		due = next;
	}
	atomic_fetch_add(&m->timer_wakeups, n);
	return n;
}

/* ---- workers and the run ----------------------------------------------------------- */

static void worker_loop(struct mn_worker *w)
{
	struct mn_rt *m = w->rt;

	while (!atomic_load(&m->done)) {
		struct mn_co *c = w->handoff;

		w->handoff = NULL;
		if (!c)
			c = find_work(w);
		if (!c && m->spin_ns)
			c = spin_for_work(w);
		if (!c) {
			park(w);
			continue;
		}
		spin_wait_zero(&c->on_cpu);
		atomic_store_explicit(&c->on_cpu, 1, memory_order_relaxed);
		switch_to(w, &w->main, c);
	}
}

static int worker_start(struct mn_worker *w)
{
	int err = coro_sched_init(&w->cs);

	if (err)
		return err;
	w->sched_ready = 1;
	tls_worker = w;
	coro_tls_sched = &w->cs;
	w->main.co = &w->cs.main;
	w->main.worker = w;
	w->main.home = w->index;
	w->current = &w->main;
	CORO_PROBE2(mn_worker, w->index, gettid());
	return 0;
}

static void *worker_thread(void *p)
{
	struct mn_worker *w = p;
	int err = worker_start(w);

	if (err) {
		fprintf(stderr, "mn: worker %d: %s\n", w->index, strerror(-err));
		finish_run(w->rt, NULL, err);
	} else {
		worker_loop(w);
	}
	tls_worker = NULL;
	coro_tls_sched = NULL;
	/* Only this thread's signal stack goes now: the stacks wait for
	 * mn_sched_destroy, since other workers' caches and coroutines may
	 * still point into this worker's arenas until everyone stopped. */
	if (w->sched_ready)
		coro_guard_thread_fini();
	return NULL;
}

int mn_sched_init(struct mn_rt *m, int nworkers, const int *cpus)
{
	int i;

	m->nworkers = nworkers;
	m->solo = nworkers == 1;
	m->w = aligned_alloc(64, sizeof(*m->w) * (size_t)nworkers);
	if (!m->w)
		return -ENOMEM;
	memset(m->w, 0, sizeof(*m->w) * (size_t)nworkers);
	for (i = 0; i < nworkers; i++) {
		struct mn_worker *w = &m->w[i];

		w->rt = m;
		w->index = i;
		w->cpu = cpus[i];
		w->rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		pthread_mutex_init(&w->lock, NULL);
	}
	pthread_mutex_init(&m->gq_lock, NULL);
	pthread_mutex_init(&m->tm_lock, NULL);
	atomic_store(&m->poller, -1);
	atomic_store(&m->next_deadline, UINT64_MAX);
	atomic_store(&m->next_id, 1);
	return 0;
}

int mn_sched_run(struct mn_rt *m, int (*main_fn)(struct rt *, void *), void *arg, int *ret)
{
	struct main_call box = {.fn = main_fn, .arg = arg, .rt = &m->rt};
	struct mn_worker *w0 = &m->w[0];
	struct coro_sched *prev_tls = coro_tls_sched;
	struct mn_co *c, *spill = NULL;
	int err, i, started = 1;

	err = worker_start(w0);
	if (!err)
		err = co_create(w0, main_call_run, &box, MAIN_CALL_STACK_BYTES, CORO_STACK_GUARDED,
				-1, &c);
	if (err) {
		fprintf(stderr, "mn: start: %s\n", strerror(-err));
		goto out;
	}
	mn_runq_push(&w0->rq, c, &spill);
	for (; started < m->nworkers; started++) {
		err = -pthread_create(&m->w[started].thread, NULL, worker_thread, &m->w[started]);
		if (err) {
			fprintf(stderr, "mn: worker thread: %s\n", strerror(-err));
			finish_run(m, w0, err);
			break;
		}
	}
	if (!err)
		worker_loop(w0);
	for (i = 1; i < started; i++)
		pthread_join(m->w[i].thread, NULL);
	err = m->err;
	*ret = box.ret;
out:
	tls_worker = NULL;
	coro_tls_sched = prev_tls;
	return err;
}

void mn_sched_destroy(struct mn_rt *m)
{
	int i;

	if (!m->w)
		return;
	/* Coroutines never joined (the first task; all of them after a
	 * deadlock): nothing runs on their stacks any more. */
	for (i = 0; i < m->nworkers; i++) {
		struct mn_co *c = m->w[i].all, *next;

		for (; c; c = next) {
			next = c->all_next;
			coro_tsan_destroy(c->co);
			coro_stack_discard(&m->w[i].cs, c->co);
		}
		m->w[i].all = NULL;
	}
	/* Then every worker's cache and arenas; worker 0's on its own thread
	 * (this one), with its signal stack. */
	for (i = 1; i < m->nworkers; i++) {
		if (m->w[i].sched_ready)
			coro_stack_release_all(&m->w[i].cs);
		pthread_mutex_destroy(&m->w[i].lock);
	}
	if (m->w[0].sched_ready)
		coro_sched_destroy(&m->w[0].cs);
	pthread_mutex_destroy(&m->w[0].lock);
	pthread_mutex_destroy(&m->gq_lock);
	pthread_mutex_destroy(&m->tm_lock);
	timerheap_free(&m->timers);
	free(m->w);
	m->w = NULL;
}
