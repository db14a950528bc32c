/* Description: stress tests of the mn model (coroutines over worker threads).
 * Each case runs under mn_workers=auto, 4 (more workers than this machine's
 * CPUs: workers preempted by the kernel in the middle of everything) and
 * auto with mn_spin_ns=0 (every idle moment is a futex park, every wake-up
 * an unpark):
 *  - relay: 64 coroutines, 300 rounds; in each round every coroutine wakes
 *    the event of another one chosen by a random permutation, then waits on
 *    its own. Each event gets exactly one unit per round, so a lost wake-up
 *    leaves someone parked for ever, which mn reports as a deadlock (the run
 *    returns -EDEADLK) instead of hanging. Every coroutine also checks that
 *    it never runs twice at once (a flag set while it runs).
 *  - steal: 2000 coroutines that compute and yield, spawned by one; each
 *    must run exactly once to the end, and the sum of their results is known.
 *  - lock: 16 coroutines increment a counter under an rt_event lock with
 *    yields inside the critical section: no increment lost, never two inside.
 *  - pinned: coroutines spawned with a placement hint (rt_spawn_opts.cpu)
 *    run on one thread only, whatever they do; they relay through pipes, so
 *    fd wake-ups cross workers.
 *  - sleepers: 200 coroutines sleep random short times between event hand-
 *    offs: never early, all wake.
 * Checks run after the model returns, on the test's own thread (a cmocka
 * failure longjmps, which must not happen on a coroutine stack). Nothing here
 * depends on how long anything takes.
 *
 * ThreadSanitizer: `make SANITIZE=thread BUILD=build/tsan build/tsan/tests/test_mn`
 * then `build/tsan/tests/test_mn` (docs/mn.md).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/cpuset.h"
#include "lib/record.h"
#include "rt.h"
#include "task.h"
#include "params.h"

static const struct task test_task = {.name = "test_mn"};
static const char *workers = "auto", *spin = "50000";

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Runs main_fn under mn with the current variant; returns run()'s value.
 * The record's JSON goes to *json when json is not NULL (caller frees). */
static int run_mn(int (*main_fn)(struct rt *, void *), void *arg, char **json)
{
	struct record *rec = rec_new("test_mn", "mn");
	struct task_ctx ctx;
	char err[256];
	int ret;

	assert_non_null(rec);
	params_init(&ctx, &test_task, &mn_model);
	ctx.rec = rec;
	assert_int_equal(params_set(&ctx, "mn_workers", workers, err, sizeof(err)), 0);
	assert_int_equal(params_set(&ctx, "mn_spin_ns", spin, err, sizeof(err)), 0);
	ret = mn_model.run(&ctx, main_fn, arg, rec);
	if (json) {
		size_t len = 0;
		FILE *f = open_memstream(json, &len);

		assert_non_null(f);
		rec_emit(rec, f, now_ns());
		fclose(f);
	}
	rec_free(rec);
	return ret;
}

/* Marks a coroutine as running; counts it if it already was. */
struct once {
	_Atomic int inside;
	_Atomic int overlaps;
};

static void enter(struct once *o)
{
	if (atomic_fetch_add(&o->inside, 1) != 0)
		atomic_fetch_add(&o->overlaps, 1);
}

static void leave(struct once *o)
{
	atomic_fetch_sub(&o->inside, 1);
}

/* ---- relay: random wait/wake between workers ------------------------------------ */

#define RELAY_N	     64
#define RELAY_ROUNDS 300

struct relay {
	struct rt *rt;
	struct rt_event ev[RELAY_N];
	uint8_t perm[RELAY_ROUNDS][RELAY_N];
	struct once once[RELAY_N];
	int done[RELAY_N];
	uint64_t checksum[RELAY_N];
};

struct relay_arg {
	struct relay *r;
	int i;
};

static void relay_one(void *p)
{
	struct relay_arg *a = p;
	struct relay *r = a->r;
	int round;

	for (round = 0; round < RELAY_ROUNDS; round++) {
		enter(&r->once[a->i]);
		r->checksum[a->i] += (uint64_t)round * (uint64_t)(a->i + 1);
		leave(&r->once[a->i]);
		rt_wake(r->rt, &r->ev[r->perm[round][a->i]]);
		if (round % 7 == a->i % 7)
			rt_yield(r->rt);
		rt_wait(r->rt, &r->ev[a->i]);
	}
	r->done[a->i] = 1;
}

static int relay_main(struct rt *rt, void *p)
{
	struct relay *r = p;
	struct relay_arg args[RELAY_N];
	struct rt_task *t[RELAY_N];
	int i, err = 0;

	r->rt = rt;
	for (i = 0; i < RELAY_N; i++) {
		args[i] = (struct relay_arg){r, i};
		if (rt_spawn(rt, relay_one, &args[i], NULL, &t[i]))
			return 1;
	}
	for (i = 0; i < RELAY_N; i++)
		err |= rt_join(rt, t[i]);
	return err;
}

static void test_relay(void **state)
{
	struct relay *r = calloc(1, sizeof(*r));
	uint64_t seed = 42, want = 0;
	int i, round;

	(void)state;
	assert_non_null(r);
	for (round = 0; round < RELAY_ROUNDS; round++) {
		for (i = 0; i < RELAY_N; i++)
			r->perm[round][i] = (uint8_t)i;
		for (i = RELAY_N - 1; i > 0; i--) { /* Fisher-Yates */
			int j = (int)(rnd(&seed) % (uint64_t)(i + 1));
			uint8_t x = r->perm[round][i];

			r->perm[round][i] = r->perm[round][j];
			r->perm[round][j] = x;
		}
		want += (uint64_t)round;
	}
	assert_int_equal(run_mn(relay_main, r, NULL), 0);
	for (i = 0; i < RELAY_N; i++) {
		assert_true(r->done[i]);
		assert_int_equal(atomic_load(&r->once[i].overlaps), 0);
		assert_int_equal(r->checksum[i], want * (uint64_t)(i + 1));
		/* every unit was taken: none left over, none missing */
		assert_int_equal(atomic_load(&r->ev[i].count), 0);
		assert_null(r->ev[i].head);
	}
	free(r);
}

/* ---- steal: many CPU-bound coroutines spawned by one ------------------------------ */

#define STEAL_N 2000

struct steal {
	struct rt *rt;
	_Atomic int ran[STEAL_N];
	uint64_t result[STEAL_N];
};

struct steal_arg {
	struct steal *s;
	int i;
};

static void steal_one(void *p)
{
	struct steal_arg *a = p;
	uint64_t x = (uint64_t)a->i + 1;
	int k;

	atomic_fetch_add(&a->s->ran[a->i], 1);
	for (k = 0; k < 2000; k++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		if (k % 500 == 0)
			rt_yield(a->s->rt);
	}
	a->s->result[a->i] = x;
}

static int steal_main(struct rt *rt, void *p)
{
	struct steal *s = p;
	struct steal_arg *args = calloc(STEAL_N, sizeof(*args));
	struct rt_task **t = calloc(STEAL_N, sizeof(*t));
	int i, err = 0;

	if (!args || !t)
		return 1;
	s->rt = rt;
	for (i = 0; i < STEAL_N && !err; i++) {
		args[i] = (struct steal_arg){s, i};
		err = rt_spawn(rt, steal_one, &args[i], NULL, &t[i]);
	}
	for (i = 0; i < STEAL_N && t[i]; i++)
		err |= rt_join(rt, t[i]);
	free(args);
	free(t);
	return err;
}

static void test_steal(void **state)
{
	struct steal *s = calloc(1, sizeof(*s));
	char *json = NULL;
	int i;

	(void)state;
	assert_non_null(s);
	assert_int_equal(run_mn(steal_main, s, &json), 0);
	for (i = 0; i < STEAL_N; i++) {
		uint64_t x = (uint64_t)i + 1;
		int k;

		for (k = 0; k < 2000; k++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
		assert_int_equal(atomic_load(&s->ran[i]), 1);
		assert_int_equal(s->result[i], x);
	}
	assert_non_null(strstr(json, "\"mn_finished\":2001"));
	print_message("%s\n", strstr(json, "\"mn_steals\""));
	free(json);
	free(s);
}

/* ---- lock: a counter under an rt_event lock ------------------------------------------ */

#define LOCKERS	   16
#define INCREMENTS 3000

struct lockctx {
	struct rt *rt;
	struct rt_event lock;
	struct once once;
	uint64_t counter;
};

static void locker(void *p)
{
	struct lockctx *l = p;
	int i;

	for (i = 0; i < INCREMENTS; i++) {
		uint64_t v;

		rt_lock(l->rt, &l->lock);
		enter(&l->once);
		v = l->counter;
		if (i % 16 == 0)
			rt_yield(l->rt);
		l->counter = v + 1;
		leave(&l->once);
		rt_unlock(l->rt, &l->lock);
	}
}

static int lock_main(struct rt *rt, void *p)
{
	struct lockctx *l = p;
	struct rt_task *t[LOCKERS];
	int i, err = 0;

	l->rt = rt;
	for (i = 0; i < LOCKERS; i++)
		if (rt_spawn(rt, locker, l, NULL, &t[i]))
			return 1;
	for (i = 0; i < LOCKERS; i++)
		err |= rt_join(rt, t[i]);
	return err;
}

static void test_lock(void **state)
{
	struct lockctx l = {.lock = RT_EVENT_INIT(1)};

	(void)state;
	assert_int_equal(run_mn(lock_main, &l, NULL), 0);
	assert_int_equal(l.counter, (uint64_t)LOCKERS * INCREMENTS);
	assert_int_equal(atomic_load(&l.once.overlaps), 0);
	assert_int_equal(atomic_load(&l.lock.count), 1);
}

/* ---- pinned: placement hints hold, fd wake-ups cross workers ---------------------- */

#define PINNED	  8
#define PIPE_MSGS 2000

struct pinned {
	struct rt *rt;
	int fds[PINNED][2]; /* coroutine i reads fds[i][0], writes fds[(i+1)%N][1] */
	int cpu[PINNED];
	pid_t tid_first[PINNED];
	int moved[PINNED];
	int got[PINNED];
	int err[PINNED];
};

struct pinned_arg {
	struct pinned *p;
	int i;
};

static void pinned_one(void *arg)
{
	struct pinned_arg *a = arg;
	struct pinned *p = a->p;
	int i = a->i, n;
	char b = 'x';

	p->tid_first[i] = gettid();
	for (n = 0; n < PIPE_MSGS; n++) {
		ssize_t r;

		/* coroutine 0 starts the token going round */
		if (i != 0 || n > 0) {
			r = rt_read(p->rt, p->fds[i][0], &b, 1);
			if (r != 1) {
				p->err[i] = r < 0 ? (int)-r : EIO;
				return;
			}
			p->got[i]++;
		}
		if (gettid() != p->tid_first[i])
			p->moved[i] = 1;
		r = rt_write(p->rt, p->fds[(i + 1) % PINNED][1], &b, 1);
		if (r != 1) {
			p->err[i] = r < 0 ? (int)-r : EIO;
			return;
		}
		if (n % 5 == 0)
			rt_yield(p->rt);
	}
	if (i == 0) { /* the last token comes back to 0 */
		if (rt_read(p->rt, p->fds[0][0], &b, 1) == 1)
			p->got[0]++;
	}
}

static int pinned_main(struct rt *rt, void *arg)
{
	struct pinned *p = arg;
	struct pinned_arg args[PINNED];
	struct rt_task *t[PINNED];
	int i, err = 0;

	p->rt = rt;
	for (i = 0; i < PINNED; i++)
		if (rt_fd_add(rt, p->fds[i][0]) || rt_fd_add(rt, p->fds[i][1]))
			return 1;
	for (i = 0; i < PINNED; i++) {
		struct rt_spawn_opts o = {.cpu = p->cpu[i]};

		args[i] = (struct pinned_arg){p, i};
		if (rt_spawn(rt, pinned_one, &args[i], &o, &t[i]))
			return 1;
	}
	for (i = 0; i < PINNED; i++)
		err |= rt_join(rt, t[i]);
	for (i = 0; i < PINNED; i++) {
		rt_close(rt, p->fds[i][0]);
		rt_close(rt, p->fds[i][1]);
	}
	return err;
}

static void test_pinned(void **state)
{
	struct pinned p = {0};
	int i, ncpu = cpuset_count_allowed();

	(void)state;
	for (i = 0; i < PINNED; i++) {
		assert_int_equal(pipe(p.fds[i]), 0);
		p.cpu[i] = cpuset_nth_allowed(i % (ncpu > 0 ? ncpu : 1));
	}
	assert_int_equal(run_mn(pinned_main, &p, NULL), 0);
	for (i = 0; i < PINNED; i++) {
		assert_int_equal(p.err[i], 0);
		assert_int_equal(p.got[i], PIPE_MSGS);
		assert_false(p.moved[i]);
	}
}

/* ---- sleepers: timers between event hand-offs ------------------------------------- */

#define SLEEPERS 200

struct sleepers {
	struct rt *rt;
	struct rt_event ev;
	uint64_t deadline[SLEEPERS], woke[SLEEPERS];
	int ret[SLEEPERS];
};

struct sleeper_arg {
	struct sleepers *s;
	int i;
};

static void sleeper(void *p)
{
	struct sleeper_arg *a = p;
	struct sleepers *s = a->s;

	rt_wait(s->rt, &s->ev);
	s->deadline[a->i] = now_ns() + 1000 * (uint64_t)(a->i % 37);
	s->ret[a->i] = rt_sleep_until(s->rt, s->deadline[a->i]);
	s->woke[a->i] = now_ns();
	rt_wake(s->rt, &s->ev);
}

static int sleepers_main(struct rt *rt, void *p)
{
	struct sleepers *s = p;
	struct sleeper_arg args[SLEEPERS];
	struct rt_task *t[SLEEPERS];
	int i, err = 0;

	s->rt = rt;
	for (i = 0; i < SLEEPERS; i++) {
		args[i] = (struct sleeper_arg){s, i};
		if (rt_spawn(rt, sleeper, &args[i], NULL, &t[i]))
			return 1;
	}
	/* four at a time between the event and the timers */
	for (i = 0; i < 4; i++)
		rt_wake(rt, &s->ev);
	for (i = 0; i < SLEEPERS; i++)
		err |= rt_join(rt, t[i]);
	return err;
}

static void test_sleepers(void **state)
{
	struct sleepers *s = calloc(1, sizeof(*s));
	int i;

	(void)state;
	assert_non_null(s);
	assert_int_equal(run_mn(sleepers_main, s, NULL), 0);
	for (i = 0; i < SLEEPERS; i++) {
		assert_int_equal(s->ret[i], 0);
		assert_true(s->woke[i] >= s->deadline[i]);
	}
	assert_int_equal(atomic_load(&s->ev.count), 4);
	free(s);
}

/* ---- variants ------------------------------------------------------------------------- */

static int variant(void **state)
{
	static const char *const variants[][2] = {
		{"auto", "50000"},
		{"4", "50000"},
		{"auto", "0"},
	};
	const char *const *v = variants[(intptr_t)*state];

	workers = v[0];
	spin = v[1];
	print_message("mn_workers=%s mn_spin_ns=%s\n", workers, spin);
	return 0;
}

#define CASES(n)                                                                                   \
	cmocka_unit_test_prestate_setup_teardown(test_relay, variant, NULL, (void *)(n)),          \
		cmocka_unit_test_prestate_setup_teardown(test_steal, variant, NULL, (void *)(n)),  \
		cmocka_unit_test_prestate_setup_teardown(test_lock, variant, NULL, (void *)(n)),   \
		cmocka_unit_test_prestate_setup_teardown(test_pinned, variant, NULL, (void *)(n)), \
		cmocka_unit_test_prestate_setup_teardown(test_sleepers, variant, NULL,             \
							 (void *)(n))

/* The worker counts main.c refuses (exit 2): by the parameter's own check
 * (not a count, out of 1..64, a sign or a blank) or by the model's (more
 * workers than the CPUs of a pinned run). */
static int workers_refused(const char *cpus, const char *count)
{
	struct task_ctx ctx;
	char err[256] = "";

	params_init(&ctx, &test_task, &mn_model);
	assert_int_equal(params_set(&ctx, "cpus", cpus, err, sizeof(err)), 0);
	if (params_set(&ctx, "mn_workers", count, err, sizeof(err)) == 0 &&
	    mn_model.validate(&ctx, err, sizeof(err)) == 0)
		return 0;
	assert_non_null(strstr(err, "mn_workers"));
	return 1;
}

static void test_worker_counts(void **state)
{
	char many[16];

	(void)state;
	assert_true(workers_refused("", "0"));
	assert_true(workers_refused("", "65"));
	assert_true(workers_refused("", "two"));
	assert_true(workers_refused("", " 2"));
	assert_true(workers_refused("", "+2"));
	assert_false(workers_refused("", "01"));
	assert_false(workers_refused("", "auto"));
	snprintf(many, sizeof(many), "%d", 2 * cpuset_count_allowed() + 1);
	assert_false(workers_refused("", many)); /* unpinned: more than the CPUs */
	snprintf(many, sizeof(many), "%d", cpuset_count_allowed() + 1);
	assert_true(workers_refused("0", many)); /* pinned: no more than its CPUs */
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_worker_counts), CASES(0), CASES(1),
					   CASES(2)};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
