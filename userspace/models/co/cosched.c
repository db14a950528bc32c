/* cosched.c: the part of the coro and uring models that does not depend on
 * how I/O waits: spawn/join/yield, event wait/wake, the timer heap and the
 * scheduler loop. See cosched.h for the loop and why yield polls.
 */
#include "cosched.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coro/handoff.h"
#include "lib/clock.h"
#include "lib/record.h"
#include "event_fifo.h"
#include "main_call.h"

/* Resumes before the loop polls I/O even though coroutines are still ready:
 * coroutines that hand an event back and forth never empty the run queue
 * (coro.h, "I/O starvation"). Yields poll on their own (cosched_yield), so
 * this only bounds the wait of I/O behind event hand-offs; coming back costs
 * two switches per budget, noise next to RUN_BUDGET hand-offs. */
#define RUN_BUDGET 256

int cosched_init(struct cosched *cs, const struct rt_ops *ops, const struct cosched_backend *be)
{
	int err;

	memset(cs, 0, sizeof(*cs));
	cs->rt.ops = ops;
	cs->be = be;
	err = coro_sched_init(&cs->sched);
	if (err)
		return err;
	cs->sched_ready = 1;
	return 0;
}

void cosched_use_stack(struct cosched *cs, enum coro_stack kind)
{
	cs->spawn_opts.stack = kind;
}

void cosched_destroy(struct cosched *cs)
{
	if (cs->sched_ready)
		coro_sched_destroy(&cs->sched);
	cs->sched_ready = 0;
	timerheap_free(&cs->timers);
}

int cosched_run(struct cosched *cs, int (*main_fn)(struct rt *rt, void *arg), void *arg,
		int *main_ret)
{
	struct main_call box = {.fn = main_fn, .arg = arg, .rt = &cs->rt, .ret = 0};
	struct coro_opts opts = {.stack_bytes = MAIN_CALL_STACK_BYTES};
	struct coro *main_co;
	int err;

	/* The main coroutine is never joined: coro_sched_destroy frees it. */
	err = coro_spawn(&cs->sched, &opts, main_call_run, &box, &main_co);
	if (err) {
		fprintf(stderr, "%s: spawn of the first task: %s\n", cs->be->name, strerror(-err));
		return err;
	}
	for (;;) {
		int block;

		coro_sched_run_max(&cs->sched, RUN_BUDGET);
		if (coro_sched_live(&cs->sched) == 0)
			break;
		block = coro_sched_ready_count(&cs->sched) == 0;
		if (cs->be->pending(cs) == 0) {
			if (!block)
				continue; /* budget spent, nothing to poll */
			/* Run queue empty, nothing in flight: every live
			 * coroutine waits on an event or a join that no one
			 * can signal any more. */
			fprintf(stderr, "%s: no runnable coroutines, %llu parked\n", cs->be->name,
				(unsigned long long)cs->sched.stats.parked);
			return -EDEADLK;
		}
		err = cs->be->poll(cs, block);
		if (err) {
			fprintf(stderr, "%s: poll: %s\n", cs->be->name, strerror(-err));
			return err;
		}
	}
	*main_ret = box.ret;
	return 0;
}

/* The counters cosched_metrics() adds, without the model's prefix. */
const struct task_metric cosched_metric_list[] = {
	{.name = "switches", .unit = "count", .help = "coroutine switches"},
	{.name = "spawned", .unit = "count", .help = "coroutines spawned, the first task included"},
	{.name = "finished", .unit = "count", .help = "coroutines that finished"},
	{.name = "yields", .unit = "count", .help = "rt_yield calls"},
	{.name = "parks", .unit = "count", .help = "waits that parked a coroutine"},
	{.name = "peak_live", .unit = "count", .help = "most coroutines alive at once"},
	{.name = "parked",
	 .unit = "count",
	 .help = "coroutines still parked at the end: nonzero after a deadlock"},
	{.name = "yield_polls",
	 .unit = "count",
	 .help = "non-blocking polls for I/O made when a coroutine yielded"},
	{.name = "stack",
	 .kind = METRIC_TEXT,
	 .help = "the stack kind (the model's stack parameter)"},
	{.name = "stack_guard", .kind = METRIC_TEXT, .help = "how stacks are guarded, or none"},
	{.name = "stack_maps", .unit = "count", .help = "mmap calls for stacks"},
	{.name = "stack_arena_maps", .unit = "count", .help = "mmap calls for stack arenas"},
	{.name = "stack_copies", .unit = "count", .help = "stack copies on switch (shared stack)"},
	{.name = "stack_copy_bytes",
	 .unit = "bytes",
	 .help = "bytes copied on switch (shared stack)"},
	{.name = "spawn_map_ns", .unit = "ns", .help = "mapping a stack, per spawn"},
	{.name = "spawn_guard_ns", .unit = "ns", .help = "installing a guard page, per spawn"},
	{.name = "spawn_touch_ns", .unit = "ns", .help = "first touch of a fresh stack, per spawn"},
	METRIC_END,
};

static void metric(struct record *rec, const char *model, const char *what, uint64_t v)
{
	char name[64];

	snprintf(name, sizeof(name), "%s_%s", model, what);
	rec_metric_u64(rec, name, v);
}

static void metric_str(struct record *rec, const char *model, const char *what, const char *v)
{
	char name[64];

	snprintf(name, sizeof(name), "%s_%s", model, what);
	rec_metric_str(rec, name, v);
}

static void per_spawn(struct record *rec, const char *model, const char *what, uint64_t total,
		      uint64_t spawned)
{
	char name[64];

	snprintf(name, sizeof(name), "%s_%s", model, what);
	rec_metric_f64(rec, name, (double)total / (double)spawned);
}

void cosched_metrics(const struct cosched *cs, struct record *rec)
{
	const struct coro_stats *st = &cs->sched.stats;
	const char *m = cs->be->name;

	if (!rec)
		return;
	metric(rec, m, "switches", st->switches);
	metric(rec, m, "spawned", st->spawned);
	metric(rec, m, "finished", st->finished);
	metric(rec, m, "yields", st->yields);
	metric(rec, m, "parks", st->parks);
	metric(rec, m, "peak_live", st->peak_live);
	metric(rec, m, "parked", st->parked); /* at the end: nonzero after -EDEADLK */
	metric(rec, m, "yield_polls", cs->yield_polls);
	/* how the tasks' stacks were made, and what that cost */
	metric_str(rec, m, "stack", coro_stack_name(cs->spawn_opts.stack));
	metric_str(rec, m, "stack_guard",
		   coro_stack_kind_guarded(cs->spawn_opts.stack) ? coro_guard_method() : "none");
	metric(rec, m, "stack_maps", st->stack_maps);
	metric(rec, m, "stack_arena_maps", st->arena_maps);
	metric(rec, m, "stack_copies", st->stack_copies);
	metric(rec, m, "stack_copy_bytes", st->copy_bytes);
	/* creation cost per spawn, split where the runtime can tell the
	 * parts apart: mmap, guard install, first touch of a fresh stack */
	if (st->spawned) {
		per_spawn(rec, m, "spawn_map_ns", st->map_ns, st->spawned);
		per_spawn(rec, m, "spawn_guard_ns", st->guard_ns, st->spawned);
		per_spawn(rec, m, "spawn_touch_ns", st->touch_ns, st->spawned);
	}
}

/* ---- tasks ---------------------------------------------------------------- */

int cosched_spawn(struct rt *rt, void (*fn)(void *), void *arg, const struct rt_spawn_opts *opts,
		  struct rt_task **out)
{
	struct cosched *cs = cosched_of(rt);
	struct coro_opts co_opts = cs->spawn_opts;
	struct coro *c;
	int err;

	/* The child reads arg while the parent is parked. */
	coro_stack_check(&cs->sched, arg, "its rt_spawn argument");
	/* opts->cpu is ignored: every coroutine shares the one OS thread, which
	 * for the same reason cannot take kernel attributes for one of them. */
	if (opts && opts->sched)
		return -EOPNOTSUPP;
	co_opts.stack_bytes =
		opts && opts->stack_bytes ? opts->stack_bytes : RT_DEFAULT_STACK_BYTES;
	err = coro_spawn(&cs->sched, &co_opts, fn, arg, &c);
	if (err)
		return err;
	if (out)
		*out = (struct rt_task *)c;
	return 0;
}

int cosched_join(struct rt *rt, struct rt_task *task)
{
	return coro_join(&cosched_of(rt)->sched, (struct coro *)task);
}

void cosched_yield(struct rt *rt)
{
	struct cosched *cs = cosched_of(rt);

	if (cs->be->pending(cs)) {
		/* Errors are not lost: the blocking poll in the loop meets
		 * the same condition again and reports it. */
		cs->yield_polls++;
		cs->be->poll(cs, 0);
	}
	coro_yield(&cs->sched);
}

/* ev->head/tail: FIFO of parked coroutines linked through coro->next, which
 * is free while a coroutine is parked (it is not on the run queue). The
 * waker dequeues us and hands its unit over directly, so count stays 0
 * while anyone waits: no barging past the FIFO. The park is the last act,
 * a tail call: we resume at our caller's call site (coro.h, coro_switch). */
HANDOFF_INLINE int wait_park(struct coro_sched *s, struct coro *self, struct rt_event *ev)
{
	EVENT_FIFO_PUSH(ev, self);
	return coro_park_inline(s);
}

/* Only a scheduler with a shared stack checks where the event is (out of
 * line, so the hand-off path keeps no registers across a call). */
static __attribute__((noinline)) int wait_checked(struct coro_sched *s, struct coro *self,
						  struct rt_event *ev)
{
	/* The waker reads and writes ev while we are parked. */
	coro_stack_check(s, ev, "the event it waits on");
	return wait_park(s, self, ev);
}

int cosched_wait(struct rt *rt, struct rt_event *ev)
{
	struct coro_sched *s = &cosched_of(rt)->sched;
	struct coro *self = coro_current(s);
	uint32_t units = atomic_load_explicit(&ev->count, memory_order_relaxed);

	if (!ev->head && units > 0) {
		atomic_store_explicit(&ev->count, units - 1, memory_order_relaxed);
		return 0;
	}
	if (self == &s->main)
		return -EPERM; /* the scheduler itself cannot park */
	if (__builtin_expect(s->shared != NULL, 0))
		return wait_checked(s, self, ev);
	EVENT_FIFO_PUSH(ev, self);
	return coro_park_own(s, self);
}

void cosched_wake(struct rt *rt, struct rt_event *ev)
{
	struct cosched *cs = cosched_of(rt);
	struct coro *c;

	EVENT_FIFO_POP(ev, c);
	if (!c) {
		/* one thread: a load and a store, no locked read-modify-write */
		atomic_store_explicit(&ev->count,
				      atomic_load_explicit(&ev->count, memory_order_relaxed) + 1,
				      memory_order_relaxed);
		return;
	}
	coro_ready_inline(&cs->sched, c);
}

/* ---- park records, bounce buffers, timers (timerheap.h) -------------------- */

void *cosched_park_record(struct cosched *cs, size_t bytes)
{
	void *p = coro_park_slot(coro_current(&cs->sched));

	memset(p, 0, bytes);
	return p;
}

void *cosched_bounce(struct cosched *cs, void *buf, size_t len, int copy_in)
{
	void *b;

	if (!coro_on_shared_stack(&cs->sched, buf, len))
		return buf;
	b = malloc(len ? len : 1);
	if (b && copy_in)
		memcpy(b, buf, len);
	return b;
}

void cosched_unbounce(void *bounce, void *buf, ssize_t got)
{
	if (bounce == buf)
		return;
	if (got > 0)
		memcpy(buf, bounce, (size_t)got);
	free(bounce);
}

int cosched_sleep_heap(struct cosched *cs, uint64_t deadline_ns)
{
	struct coro *self = coro_current(&cs->sched);
	struct cosched_timer *t;
	int err;

	if (deadline_ns <= now_ns())
		return 0;
	if (!self || self == &cs->sched.main)
		return -EPERM;
	t = COSCHED_PARK_RECORD(cs, struct cosched_timer);
	t->node.deadline_ns = deadline_ns;
	t->co = self;
	err = timerheap_push(&cs->timers, &t->node);
	if (err)
		return err;
	coro_park(&cs->sched);
	return 0;
}

uint64_t cosched_next_deadline(const struct cosched *cs)
{
	return timerheap_next(&cs->timers);
}

uint64_t cosched_timers_expire(struct cosched *cs, uint64_t now)
{
	struct timerheap_node *node;
	uint64_t n = 0;

	while ((node = timerheap_pop_due(&cs->timers, now))) {
		struct cosched_timer *t = (struct cosched_timer *)node;

		coro_ready(&cs->sched, t->co);
		n++;
	}
	cs->timer_wakeups += n;
	return n;
}
