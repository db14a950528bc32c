/* Description: every execution model (threads, coro, uring, mn) against the rt.h
 * contract: spawn/join (and spawn's stack size), yield, event ping-pong
 * counts, a lock protecting a counter, sleep_until (never early; wake order
 * of timers under the single-thread models), a timer next to a task that
 * only yields (it must still fire), pipe read/write through rt_read/rt_write
 * with EOF after rt_close, accept of several loopback clients (and closing a
 * listener with a client still in its backlog), pread against known file
 * content, read/write at the file position, deadlock detection (-EDEADLK and
 * <model>_parked, the record not failed by the model; the coroutine models
 * only: under threads a deadlock just sleeps), the model's
 * metrics in the record, the fallback paths forced through the models'
 * parameters (and bad values refused; mn: one worker, no spinning, more
 * workers than CPUs, and the worker counts refused), uring's timer heap (its one timeout
 * moved earlier for a nearer sleeper; uring_timers=request), uring's probe
 * when a
 * seccomp filter refuses io_uring_setup, a 4 MiB stream through a socketpair
 * read with random small and large buffers (uring: under both uring_recv
 * modes), and closing a socket whose multishot receive
 * is armed (the peer sees the end, the reused fd number carries its own
 * stream, a parked reader gets -EBADF). Each case runs once per model, and
 * once more under stack=shared for every model that declares `stack` (the
 * lock case then checks the record: stack shared, frames copied; a task
 * that waits on an event on its own stack aborts with the runtime's
 * message); a model
 * this machine cannot run (probe fails) skips with its reason.
 * `test_models MODEL` runs one.
 *
 * Checks run after model->run() returns, never inside a task: a cmocka
 * failure longjmps, which must not happen on a coroutine stack or another
 * thread. Nothing here depends on how long anything takes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/cpuset.h"
#include "lib/record.h"
#include "rt.h"
#include "task.h"
#include "params.h"

static const struct rt_model *model; /* the model of the running group */

static void need_model(void)
{
	char reason[256] = "";

	if (model->probe(reason, sizeof(reason)) != 0) {
		print_message("skip %s: %s\n", model->name, reason);
		skip();
	}
}

static unsigned long long record_u64(const char *json, const char *key);
static void expect_in_record(const char *needle);

/* Everything on one OS thread (coro, uring): a strict order of events. */
static int single_thread(void)
{
	return strcmp(model->name, "threads") != 0 && strcmp(model->name, "mn") != 0;
}

/* A user-space scheduler sees every parked task: it can tell a deadlock. */
static int sees_deadlocks(void)
{
	return strcmp(model->name, "threads") != 0;
}

/* A model parameter set for the runs that follow (NULL key: defaults). */
static const char *variant_key, *variant_value;
/* Set for a whole group (main: every coroutine model runs every case again
 * with stack=shared); a case's own variant comes on top. */
static const char *group_key, *group_value;

static void use_variant(const char *key, const char *value)
{
	variant_key = key;
	variant_value = value;
}

static const struct task test_task = {.name = "test_models"};

/* The model's parameters at their defaults, but for the variant. */
static void model_ctx(struct task_ctx *ctx, struct record *rec)
{
	char err[256];

	params_init(ctx, &test_task, model);
	ctx->rec = rec;
	if (group_key && params_set(ctx, group_key, group_value, err, sizeof(err)))
		fail_msg("group %s=%s: %s", group_key, group_value, err);
	if (variant_key && params_set(ctx, variant_key, variant_value, err, sizeof(err)))
		fail_msg("variant %s=%s: %s", variant_key, variant_value, err);
}

/* A value the model must refuse before it runs (main.c: exit 2). */
static void expect_bad_variant(const char *key, const char *value)
{
	struct task_ctx ctx;
	char err[256];

	params_init(&ctx, &test_task, model);
	assert_int_equal(params_set(&ctx, key, value, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, key));
}

/* Runs main_fn under the model; returns what run() returned. If out is not
 * NULL, the record's JSON line is stored there (caller frees). */
static int run_model(int (*main_fn)(struct rt *, void *), void *arg, char **out)
{
	struct record *rec = rec_new("test_models", model->name);
	struct task_ctx ctx;
	int ret;

	assert_non_null(rec);
	model_ctx(&ctx, rec);
	params_to_record(&ctx, rec); /* as main.c does, auto counts resolved */
	ret = model->run(&ctx, main_fn, arg, rec);
	if (out) {
		size_t len = 0;
		FILE *f = open_memstream(out, &len);

		assert_non_null(f);
		rec_emit(rec, f, now_ns());
		fclose(f);
	}
	rec_free(rec);
	return ret;
}

/* ---- spawn / join ------------------------------------------------------------- */

#define NSPAWN 16

struct spawn_ctx {
	struct rt *rt;
	int ran[NSPAWN];
	int args[NSPAWN];
	int deep_ok;
};

struct spawn_arg {
	struct spawn_ctx *ctx;
	int i;
};

static void spawned(void *p)
{
	struct spawn_arg *a = p;

	a->ctx->ran[a->i]++;
}

/* Uses 192 KiB of stack: only safe with the bigger stack asked for. */
static void deep(void *p)
{
	struct spawn_ctx *ctx = p;
	volatile char big[192 * 1024];
	size_t i;

	for (i = 0; i < sizeof(big); i += 512)
		big[i] = (char)i;
	ctx->deep_ok = big[512] == (char)512 && big[sizeof(big) - 512] == (char)(sizeof(big) - 512);
}

static int spawn_main(struct rt *rt, void *p)
{
	struct spawn_ctx *ctx = p;
	struct spawn_arg args[NSPAWN];
	struct rt_task *t[NSPAWN], *d;
	struct rt_spawn_opts big = {.stack_bytes = 512 * 1024, .cpu = -1};
	int i, err;

	ctx->rt = rt;
	for (i = 0; i < NSPAWN; i++) {
		args[i] = (struct spawn_arg){ctx, i};
		err = rt_spawn(rt, spawned, &args[i], NULL, &t[i]);
		if (err)
			return 100 + i;
	}
	for (i = 0; i < NSPAWN; i++)
		if (rt_join(rt, t[i]))
			return 200 + i;
	err = rt_spawn(rt, deep, ctx, &big, &d);
	if (err)
		return 300;
	if (rt_join(rt, d))
		return 301;
	return 42; /* run() must hand back main_fn's value */
}

static void test_spawn_join(void **state)
{
	struct spawn_ctx ctx = {0};
	int i;

	(void)state;
	need_model();
	assert_int_equal(run_model(spawn_main, &ctx, NULL), 42);
	for (i = 0; i < NSPAWN; i++)
		assert_int_equal(ctx.ran[i], 1);
	assert_true(ctx.deep_ok);
}

/* ---- yield ---------------------------------------------------------------------- */

#define YIELDS 50

struct yield_ctx {
	struct rt *rt;
	_Atomic int pos;
	char log[2 * YIELDS];
};

struct yield_arg {
	struct yield_ctx *ctx;
	char id;
};

static void yielder(void *p)
{
	struct yield_arg *a = p;
	int i;

	for (i = 0; i < YIELDS; i++) {
		a->ctx->log[atomic_fetch_add(&a->ctx->pos, 1)] = a->id;
		rt_yield(a->ctx->rt);
	}
}

static int yield_main(struct rt *rt, void *p)
{
	struct yield_ctx *ctx = p;
	struct yield_arg a = {ctx, 'a'}, b = {ctx, 'b'};
	struct rt_task *ta, *tb;

	ctx->rt = rt;
	if (rt_spawn(rt, yielder, &a, NULL, &ta) || rt_spawn(rt, yielder, &b, NULL, &tb))
		return 1;
	return rt_join(rt, ta) || rt_join(rt, tb);
}

static void test_yield(void **state)
{
	struct yield_ctx ctx = {0};
	int i, na = 0, nb = 0;

	(void)state;
	need_model();
	assert_int_equal(run_model(yield_main, &ctx, NULL), 0);
	assert_int_equal(ctx.pos, 2 * YIELDS);
	for (i = 0; i < 2 * YIELDS; i++) {
		na += ctx.log[i] == 'a';
		nb += ctx.log[i] == 'b';
		/* Cooperative FIFO: a yield goes behind the other one. */
		if (single_thread())
			assert_int_equal(ctx.log[i], i % 2 ? 'b' : 'a');
	}
	assert_int_equal(na, YIELDS);
	assert_int_equal(nb, YIELDS);
}

/* ---- event ping-pong -------------------------------------------------------------- */

#define ROUNDS 1000

struct pp_ctx {
	struct rt *rt;
	struct rt_event ping, pong;
	int pings, pongs;
	int order_ok;
};

static void ponger(void *p)
{
	struct pp_ctx *ctx = p;
	int i;

	for (i = 0; i < ROUNDS; i++) {
		rt_wait(ctx->rt, &ctx->ping);
		if (ctx->pongs != ctx->pings - 1)
			ctx->order_ok = 0;
		ctx->pongs++;
		rt_wake(ctx->rt, &ctx->pong);
	}
}

static int pp_main(struct rt *rt, void *p)
{
	struct pp_ctx *ctx = p;
	struct rt_task *t;
	int i;

	ctx->rt = rt;
	if (rt_spawn(rt, ponger, ctx, NULL, &t))
		return 1;
	for (i = 0; i < ROUNDS; i++) {
		ctx->pings++;
		rt_wake(rt, &ctx->ping);
		rt_wait(rt, &ctx->pong);
		if (ctx->pongs != ctx->pings)
			ctx->order_ok = 0;
	}
	return rt_join(rt, t);
}

static void test_event_pingpong(void **state)
{
	struct pp_ctx ctx = {.ping = RT_EVENT_INIT(0), .pong = RT_EVENT_INIT(0), .order_ok = 1};

	(void)state;
	need_model();
	assert_int_equal(run_model(pp_main, &ctx, NULL), 0);
	assert_int_equal(ctx.pings, ROUNDS);
	assert_int_equal(ctx.pongs, ROUNDS);
	assert_true(ctx.order_ok);
	/* every unit handed over was taken */
	assert_int_equal(ctx.ping.count, 0);
	assert_int_equal(ctx.pong.count, 0);
	assert_int_equal(ctx.ping.waiters, 0);
	assert_int_equal(ctx.pong.waiters, 0);
}

/* ---- a lock protecting a counter ----------------------------------------------------- */

#define LOCKERS	   4
#define INCREMENTS 2000

struct lock_ctx {
	struct rt *rt;
	struct rt_event lock;
	uint64_t counter;
	int inside, overlap;
};

static void locker(void *p)
{
	struct lock_ctx *ctx = p;
	int i;

	for (i = 0; i < INCREMENTS; i++) {
		uint64_t v;

		rt_lock(ctx->rt, &ctx->lock);
		if (ctx->inside++)
			ctx->overlap = 1;
		v = ctx->counter;
		/* Give the others every chance to barge in: a yield for the
		 * coroutines, a real race window for threads. */
		if (i % 8 == 0)
			rt_yield(ctx->rt);
		ctx->counter = v + 1;
		ctx->inside--;
		rt_unlock(ctx->rt, &ctx->lock);
	}
}

static int lock_main(struct rt *rt, void *p)
{
	struct lock_ctx *ctx = p;
	struct rt_task *t[LOCKERS];
	int i, err = 0;

	ctx->rt = rt;
	for (i = 0; i < LOCKERS; i++)
		if (rt_spawn(rt, locker, ctx, NULL, &t[i]))
			return 1;
	for (i = 0; i < LOCKERS; i++)
		err |= rt_join(rt, t[i]);
	return err;
}

static void test_lock_counter(void **state)
{
	struct lock_ctx ctx = {.lock = RT_EVENT_INIT(1)};
	char *json = NULL, key[64];

	(void)state;
	need_model();
	assert_int_equal(run_model(lock_main, &ctx, &json), 0);
	assert_int_equal(ctx.counter, (uint64_t)LOCKERS * INCREMENTS);
	assert_int_equal(ctx.overlap, 0);
	assert_int_equal(ctx.lock.count, 1);
	/* Under stack=shared the lockers take turns on one stack: the record
	 * says so, and their frames were copied. */
	if (group_key) {
		snprintf(key, sizeof(key), "\"%s_stack\":\"%s\"", model->name, group_value);
		if (!strstr(json, key))
			fail_msg("%s not in %s", key, json);
		snprintf(key, sizeof(key), "\"%s_stack_copies\":", model->name);
		assert_true(record_u64(json, key) > 0);
	}
	free(json);
}

/* ---- sleep_until ----------------------------------------------------------------------- */

#define SLEEPERS 6

struct sleep_ctx {
	struct rt *rt;
	uint64_t base_ns;
	uint64_t deadline_ns[SLEEPERS];
	uint64_t woke_ns[SLEEPERS];
	int ret[SLEEPERS];
	_Atomic int next;
	int order[SLEEPERS]; /* order[k] = index of the k-th to wake */
	uint64_t past_ret_ns;
	int past_ret;
};

struct sleep_arg {
	struct sleep_ctx *ctx;
	int i;
};

static void sleeper(void *p)
{
	struct sleep_arg *a = p;
	struct sleep_ctx *ctx = a->ctx;

	ctx->ret[a->i] = rt_sleep_until(ctx->rt, ctx->deadline_ns[a->i]);
	ctx->woke_ns[a->i] = now_ns();
	ctx->order[atomic_fetch_add(&ctx->next, 1)] = a->i;
}

static int sleep_main(struct rt *rt, void *p)
{
	struct sleep_ctx *ctx = p;
	/* spawned out of deadline order, 2 ms apart */
	static const int rank[SLEEPERS] = {3, 0, 5, 1, 4, 2};
	struct sleep_arg args[SLEEPERS];
	struct rt_task *t[SLEEPERS];
	int i, err = 0;

	ctx->rt = rt;
	ctx->base_ns = now_ns();
	for (i = 0; i < SLEEPERS; i++)
		ctx->deadline_ns[i] = ctx->base_ns + 5000000ull + 2000000ull * rank[i];
	for (i = 0; i < SLEEPERS; i++) {
		args[i] = (struct sleep_arg){ctx, i};
		if (rt_spawn(rt, sleeper, &args[i], NULL, &t[i]))
			return 1;
	}
	/* A deadline in the past returns at once with success. */
	ctx->past_ret = rt_sleep_until(rt, ctx->base_ns - 1);
	for (i = 0; i < SLEEPERS; i++)
		err |= rt_join(rt, t[i]);
	return err;
}

static void test_sleep_until(void **state)
{
	struct sleep_ctx ctx = {0};
	int i;

	(void)state;
	need_model();
	assert_int_equal(run_model(sleep_main, &ctx, NULL), 0);
	assert_int_equal(ctx.past_ret, 0);
	assert_int_equal(ctx.next, SLEEPERS);
	for (i = 0; i < SLEEPERS; i++) {
		assert_int_equal(ctx.ret[i], 0);
		/* never early */
		assert_true(ctx.woke_ns[i] >= ctx.deadline_ns[i]);
	}
	/* One thread drains its timers in deadline order; threads may be
	 * scheduled in any order after their timers fire. */
	if (single_thread())
		for (i = 1; i < SLEEPERS; i++)
			assert_true(ctx.deadline_ns[ctx.order[i - 1]] <
				    ctx.deadline_ns[ctx.order[i]]);
}

/* ---- a timer next to a coroutine that only yields ----------------------------------------- */

struct hog_ctx {
	struct rt *rt;
	uint64_t deadline_ns;
	_Atomic int woke;
	uint64_t hog_yields;
	uint64_t woke_ns;
};

static void hog_sleeper(void *p)
{
	struct hog_ctx *ctx = p;

	rt_sleep_until(ctx->rt, ctx->deadline_ns);
	ctx->woke_ns = now_ns();
	ctx->woke = 1;
}

static int hog_main(struct rt *rt, void *p)
{
	struct hog_ctx *ctx = p;
	struct rt_task *t;

	ctx->rt = rt;
	ctx->deadline_ns = now_ns() + 3000000;
	if (rt_spawn(rt, hog_sleeper, ctx, NULL, &t))
		return 1;
	/* Never parks: only a yield that notices the timer ends this loop
	 * (a model that polls only on an empty run queue hangs here, and the
	 * test runner's timeout reports it). */
	while (!ctx->woke) {
		rt_yield(rt);
		ctx->hog_yields++;
	}
	return rt_join(rt, t);
}

static void test_yield_timer(void **state)
{
	struct hog_ctx ctx = {0};

	(void)state;
	need_model();
	assert_int_equal(run_model(hog_main, &ctx, NULL), 0);
	assert_true(ctx.woke);
	assert_true(ctx.woke_ns >= ctx.deadline_ns);
	/* one thread: the sleeper cannot even start before the first yield
	 * (threads: it may be done before the hog gets a CPU at all) */
	if (single_thread())
		assert_true(ctx.hog_yields > 0);
}

/* ---- pipe through rt_read / rt_write ------------------------------------------------------ */

#define PIPE_BYTES (1024 * 1024) /* far above the 64 KiB pipe buffer */
#define CHUNK	   4000		 /* not a divisor: partial chunks happen */

struct pipe_ctx {
	struct rt *rt;
	int rfd, wfd;
	size_t written, got;
	int bad_byte, write_err, read_err, eof;
};

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + (i >> 11));
}

static void pipe_writer(void *p)
{
	struct pipe_ctx *ctx = p;
	unsigned char buf[CHUNK];

	while (ctx->written < PIPE_BYTES) {
		size_t len = PIPE_BYTES - ctx->written, i;
		ssize_t n;

		if (len > CHUNK)
			len = CHUNK;
		for (i = 0; i < len; i++)
			buf[i] = pattern(ctx->written + i);
		n = rt_write(ctx->rt, ctx->wfd, buf, len);
		if (n <= 0) {
			ctx->write_err = n < 0 ? (int)n : -EIO;
			break;
		}
		ctx->written += (size_t)n;
	}
	rt_close(ctx->rt, ctx->wfd);
}

static void pipe_reader(void *p)
{
	struct pipe_ctx *ctx = p;
	unsigned char buf[CHUNK + 123];

	for (;;) {
		ssize_t n = rt_read(ctx->rt, ctx->rfd, buf, sizeof(buf)), i;

		if (n < 0) {
			ctx->read_err = (int)n;
			break;
		}
		if (n == 0) {
			ctx->eof = 1;
			break;
		}
		for (i = 0; i < n; i++)
			if (buf[i] != pattern(ctx->got + (size_t)i))
				ctx->bad_byte = 1;
		ctx->got += (size_t)n;
	}
	rt_close(ctx->rt, ctx->rfd);
}

static int pipe_main(struct rt *rt, void *p)
{
	struct pipe_ctx *ctx = p;
	struct rt_task *r, *w;
	int fds[2];

	ctx->rt = rt;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	ctx->rfd = fds[0];
	ctx->wfd = fds[1];
	if (rt_fd_add(rt, ctx->rfd) || rt_fd_add(rt, ctx->wfd))
		return 2;
	/* reader first: it must park on an empty pipe */
	if (rt_spawn(rt, pipe_reader, ctx, NULL, &r) || rt_spawn(rt, pipe_writer, ctx, NULL, &w))
		return 3;
	return rt_join(rt, r) || rt_join(rt, w);
}

static void test_pipe(void **state)
{
	struct pipe_ctx ctx = {0};
	char *json = NULL;

	(void)state;
	need_model();
	assert_int_equal(run_model(pipe_main, &ctx, &json), 0);
	assert_int_equal(ctx.write_err, 0);
	assert_int_equal(ctx.read_err, 0);
	assert_int_equal(ctx.written, PIPE_BYTES);
	assert_int_equal(ctx.got, PIPE_BYTES);
	assert_false(ctx.bad_byte);
	assert_true(ctx.eof);
	/* the model's counters are in the record, under its own prefix */
	if (!strcmp(model->name, "coro")) {
		assert_non_null(strstr(json, "\"coro_switches\":"));
		assert_non_null(strstr(json, "\"coro_spawned\":3"));
		assert_non_null(strstr(json, "\"coro_pread_offloads\":0"));
	} else if (!strcmp(model->name, "mn")) {
		assert_non_null(strstr(json, "\"mn_w0_switches\":"));
		assert_non_null(strstr(json, "\"mn_spawned\":3"));
		assert_non_null(strstr(json, "\"mn_finished\":3"));
		assert_true(record_u64(json, "mn_switches") >= record_u64(json, "mn_resumes"));
	} else if (!strcmp(model->name, "uring")) {
		unsigned long long sqes, cqes;
		const char *s = strstr(json, "\"uring_sqes\":");
		const char *c = strstr(json, "\"uring_cqes\":");

		assert_non_null(s);
		assert_non_null(c);
		sscanf(s, "\"uring_sqes\":%llu", &sqes);
		sscanf(c, "\"uring_cqes\":%llu", &cqes);
		assert_true(sqes > 0);
		assert_int_equal(sqes, cqes); /* every request completed */
		assert_non_null(strstr(json, "\"uring_setup_flags\":\""));
		assert_non_null(strstr(json, "\"uring_submits\":"));
		assert_non_null(strstr(json, "\"uring_spawned\":3"));
	}
	free(json);
}

/* ---- accept on a loopback listener -------------------------------------------------------- */

#define CLIENTS 8

struct acc_ctx {
	struct rt *rt;
	int lfd;
	uint16_t port;
	int served, server_err;
	int client_ok[CLIENTS], client_err[CLIENTS];
	int extra_done, extra_err;
	struct rt_event extra_connected;
};

struct client_arg {
	struct acc_ctx *ctx;
	int i;
};

/* Reads exactly len bytes; 0 or a negative result (-EPIPE on early EOF). */
static int read_full(struct rt *rt, int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = rt_read(rt, fd, buf + got, len - got);

		if (n <= 0)
			return n < 0 ? (int)n : -EPIPE;
		got += (size_t)n;
	}
	return 0;
}

/* Accepts CLIENTS connections one after the other and echoes 5 bytes. */
static void server(void *p)
{
	struct acc_ctx *ctx = p;
	int k;

	for (k = 0; k < CLIENTS; k++) {
		int fd = rt_accept(ctx->rt, ctx->lfd), err;
		char buf[5];

		if (fd < 0) {
			ctx->server_err = fd;
			return;
		}
		err = read_full(ctx->rt, fd, buf, sizeof(buf));
		if (!err && rt_write(ctx->rt, fd, buf, sizeof(buf)) != sizeof(buf))
			err = -EIO;
		if (err && !ctx->server_err)
			ctx->server_err = err;
		ctx->served++;
		rt_close(ctx->rt, fd);
	}
}

static int connect_loopback(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* A loopback connect completes from the listener's backlog, before
	 * any accept: blocking here does not depend on the server running. */
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void client(void *p)
{
	struct client_arg *a = p;
	struct acc_ctx *ctx = a->ctx;
	char msg[6], back[5];
	int fd = connect_loopback(ctx->port), err;

	if (fd < 0) {
		ctx->client_err[a->i] = fd;
		return;
	}
	snprintf(msg, sizeof(msg), "c%04d", a->i);
	err = rt_fd_add(ctx->rt, fd);
	if (!err && rt_write(ctx->rt, fd, msg, 5) != 5)
		err = -EIO;
	if (!err)
		err = read_full(ctx->rt, fd, back, sizeof(back));
	ctx->client_err[a->i] = err;
	ctx->client_ok[a->i] = !err && !memcmp(back, msg, 5);
	rt_close(ctx->rt, fd);
}

/* Connects after the server's last accept and is never accepted: closing
 * the listener must end its wait (a reset from the backlog, or EOF when the
 * uring model had already accepted it into its queue). */
static void extra_client(void *p)
{
	struct acc_ctx *ctx = p;
	int fd = connect_loopback(ctx->port);
	char c;

	/* the listener may close only once we are in its backlog (threads:
	 * else our connect races the close and is refused) */
	rt_wake(ctx->rt, &ctx->extra_connected);
	if (fd < 0) {
		ctx->extra_err = fd;
		return;
	}
	if (rt_fd_add(ctx->rt, fd) == 0 && rt_read(ctx->rt, fd, &c, 1) <= 0)
		ctx->extra_done = 1;
	rt_close(ctx->rt, fd);
}

static int accept_main(struct rt *rt, void *p)
{
	struct acc_ctx *ctx = p;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	struct client_arg args[CLIENTS];
	struct rt_task *s, *c[CLIENTS], *x;
	int err = 0, i;

	ctx->rt = rt;
	ctx->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ctx->lfd < 0)
		return -errno;
	if (bind(ctx->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ctx->lfd, 64) < 0 ||
	    getsockname(ctx->lfd, (struct sockaddr *)&a, &alen) < 0) {
		err = -errno;
		close(ctx->lfd);
		return err;
	}
	ctx->port = ntohs(a.sin_port);
	if (rt_fd_add(rt, ctx->lfd))
		return 2;
	/* server first: it must park in accept */
	if (rt_spawn(rt, server, ctx, NULL, &s))
		return 3;
	for (i = 0; i < CLIENTS; i++) {
		args[i] = (struct client_arg){ctx, i};
		if (rt_spawn(rt, client, &args[i], NULL, &c[i]))
			return 4;
	}
	err |= rt_join(rt, s);
	for (i = 0; i < CLIENTS; i++)
		err |= rt_join(rt, c[i]);
	if (rt_spawn(rt, extra_client, ctx, NULL, &x))
		return 5;
	err |= rt_wait(rt, &ctx->extra_connected);
	rt_yield(rt); /* coroutines: let it start reading (threads: may not) */
	err |= rt_close(rt, ctx->lfd);
	err |= rt_join(rt, x);
	return err;
}

static void test_accept(void **state)
{
	struct acc_ctx ctx = {.extra_connected = RT_EVENT_INIT(0)};
	char *json = NULL;
	int i;

	(void)state;
	need_model();
	assert_int_equal(run_model(accept_main, &ctx, &json), 0);
	/* A multishot accept stays armed while nobody waits in rt_accept, so
	 * the extra client (at least) lands in the listener's queue, and
	 * rt_close of the listener must have closed it (extra_done below). */
	if (strstr(json, "\"uring_accept\":\"multishot\"")) {
		const char *q = strstr(json, "\"uring_accepts_queued\":");
		unsigned long long queued = 0;

		assert_non_null(q);
		sscanf(q, "\"uring_accepts_queued\":%llu", &queued);
		assert_true(queued >= 1);
	}
	free(json);
	assert_int_equal(ctx.server_err, 0);
	assert_int_equal(ctx.served, CLIENTS);
	for (i = 0; i < CLIENTS; i++) {
		assert_int_equal(ctx.client_err[i], 0);
		assert_true(ctx.client_ok[i]);
	}
	assert_int_equal(ctx.extra_err, 0);
	assert_true(ctx.extra_done);
}

/* ---- pread of a temporary file --------------------------------------------------------- */

#define FILE_BYTES (256 * 1024)
#define READERS	   4
#define READS_EACH 8

struct pread_ctx {
	struct rt *rt;
	int fd;
	int bad, errs;
};

struct pread_arg {
	struct pread_ctx *ctx;
	int i;
};

static void preader(void *p)
{
	struct pread_arg *a = p;
	unsigned char buf[3000];
	int k;

	for (k = 0; k < READS_EACH; k++) {
		off_t off = (off_t)((a->i * 7919 + k * 33331) % (FILE_BYTES - 5000));
		ssize_t n = rt_pread(a->ctx->rt, a->ctx->fd, buf, sizeof(buf), off), j;

		if (n != (ssize_t)sizeof(buf)) {
			a->ctx->errs++;
			continue;
		}
		for (j = 0; j < n; j++)
			if (buf[j] != pattern((size_t)off + (size_t)j))
				a->ctx->bad++;
	}
}

/* rt_read and rt_write on a regular file use and advance the file position,
 * as read(2) and write(2) do (coro: on a helper thread; uring: offset -1). */
static int file_pos_rw(struct rt *rt, int fd)
{
	unsigned char buf[1000], mark[100];
	size_t pos = 0, i;
	int k;

	if (lseek(fd, 0, SEEK_SET) != 0)
		return 10;
	for (k = 0; k < 3; k++) {
		if (rt_read(rt, fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			return 11;
		for (i = 0; i < sizeof(buf); i++)
			if (buf[i] != pattern(pos + i))
				return 12;
		pos += sizeof(buf);
	}
	memset(mark, 0xa5, sizeof(mark));
	if (rt_write(rt, fd, mark, sizeof(mark)) != (ssize_t)sizeof(mark))
		return 13;
	if (rt_pread(rt, fd, buf, sizeof(mark) + 1, (off_t)pos) != (ssize_t)sizeof(mark) + 1)
		return 14;
	if (memcmp(buf, mark, sizeof(mark)) || buf[sizeof(mark)] != pattern(pos + sizeof(mark)))
		return 15; /* written at the position the reads left, nothing more */
	return lseek(fd, 0, SEEK_CUR) == (off_t)(pos + sizeof(mark)) ? 0 : 16;
}

static int pread_main(struct rt *rt, void *p)
{
	struct pread_ctx *ctx = p;
	struct pread_arg args[READERS];
	struct rt_task *t[READERS];
	unsigned char tail[16];
	int i, err = 0;

	ctx->rt = rt;
	if (rt_fd_add(rt, ctx->fd))
		return 2;
	for (i = 0; i < READERS; i++) {
		args[i] = (struct pread_arg){ctx, i};
		if (rt_spawn(rt, preader, &args[i], NULL, &t[i]))
			return 3;
	}
	for (i = 0; i < READERS; i++)
		err |= rt_join(rt, t[i]);
	/* short read at the end of the file, then 0 past it */
	if (rt_pread(rt, ctx->fd, tail, sizeof(tail), FILE_BYTES - 4) != 4)
		return 4;
	if (rt_pread(rt, ctx->fd, tail, sizeof(tail), FILE_BYTES) != 0)
		return 5;
	return err ? err : file_pos_rw(rt, ctx->fd);
}

static void test_pread(void **state)
{
	char path[] = "/tmp/schedlab-test-models-XXXXXX";
	unsigned char *data = malloc(FILE_BYTES);
	struct pread_ctx ctx = {0};
	char *json = NULL;
	size_t i;
	int ret;

	(void)state;
	assert_non_null(data);
	need_model();
	for (i = 0; i < FILE_BYTES; i++)
		data[i] = pattern(i);
	ctx.fd = mkstemp(path);
	assert_true(ctx.fd >= 0);
	unlink(path);
	assert_int_equal(write(ctx.fd, data, FILE_BYTES), FILE_BYTES);
	free(data);
	ret = run_model(pread_main, &ctx, &json);
	close(ctx.fd); /* the task did not rt_close it: the test owns it */
	assert_int_equal(ret, 0);
	assert_int_equal(ctx.errs, 0);
	assert_int_equal(ctx.bad, 0);
	if (!strcmp(model->name, "coro")) {
		/* every pread is served once: inline from the page cache
		 * (RWF_NOWAIT) or by the helper pool */
		const char *inl = strstr(json, "\"coro_pread_inline\":");
		const char *off = strstr(json, "\"coro_pread_offloads\":");

		assert_non_null(inl);
		assert_non_null(off);
		assert_int_equal(
			strtoull(inl + strlen("\"coro_pread_inline\":"), NULL, 10) +
				strtoull(off + strlen("\"coro_pread_offloads\":"), NULL, 10),
			READERS * READS_EACH + 3);
		assert_non_null(strstr(json, "\"coro_file_offloads\":4"));
	}
	free(json);
}

/* ---- deadlock detection ---------------------------------------------------------------- */

struct dl_ctx {
	struct rt *rt;
	struct rt_event a, b;
	int reached_end;
};

static void dl_other(void *p)
{
	struct dl_ctx *ctx = p;

	rt_wait(ctx->rt, &ctx->b); /* nobody ever wakes b */
	rt_wake(ctx->rt, &ctx->a);
}

static int dl_main(struct rt *rt, void *p)
{
	struct dl_ctx *ctx = p;
	struct rt_task *t;

	ctx->rt = rt;
	if (rt_spawn(rt, dl_other, ctx, NULL, &t))
		return 1;
	rt_wait(rt, &ctx->a); /* waits for dl_other: a cycle */
	ctx->reached_end = 1;
	return rt_join(rt, t);
}

static void test_deadlock(void **state)
{
	struct dl_ctx ctx = {.a = RT_EVENT_INIT(0), .b = RT_EVENT_INIT(0)};
	char *json = NULL, key[64];

	(void)state;
	need_model();
	if (!sees_deadlocks()) {
		print_message("skip: a deadlock of threads sleeps forever; "
			      "only the coroutine models can detect one\n");
		skip();
	}
	assert_int_equal(run_model(dl_main, &ctx, &json), -EDEADLK);
	assert_false(ctx.reached_end);
	/* The model reports the deadlock and who is stuck; failing the run is
	 * main.c's call (for the deadlock task it is the outcome). */
	assert_null(strstr(json, "\"status\":\"failed\""));
	snprintf(key, sizeof(key), "\"%s_parked\":", model->name);
	assert_int_equal(record_u64(json, key), 2);
	free(json);
}

/* ---- a large stream through a stream socket ----------------------------------------------- */

/* 4 MiB in writes of random size, read with random small and large buffers:
 * under uring's multishot recv the reads are served from provided buffers,
 * so this checks the copy-out (remainders kept across reads, reads spanning
 * several buffers) byte by byte, and the EOF after the writer's close. */
#define STREAM_BYTES	 (4u << 20)
#define STREAM_WRITE_MAX 20000
#define STREAM_READ_MAX	 (64 * 1024)

struct stream_ctx {
	struct rt *rt;
	int rfd, wfd;
	size_t written, got;
	int write_err, read_err, bad_byte, eof;
	size_t small_reads, large_reads;
};

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void stream_writer(void *p)
{
	struct stream_ctx *ctx = p;
	static unsigned char buf[STREAM_WRITE_MAX]; /* one writer at a time */
	uint32_t seed = 12345;

	while (ctx->written < STREAM_BYTES) {
		size_t len = 1 + xorshift(&seed) % STREAM_WRITE_MAX, off = 0, i;

		if (len > STREAM_BYTES - ctx->written)
			len = STREAM_BYTES - ctx->written;
		for (i = 0; i < len; i++)
			buf[i] = pattern(ctx->written + i);
		while (off < len) {
			ssize_t n = rt_write(ctx->rt, ctx->wfd, buf + off, len - off);

			if (n <= 0) {
				ctx->write_err = n < 0 ? (int)n : -EIO;
				goto out;
			}
			off += (size_t)n;
		}
		ctx->written += len;
	}
out:
	rt_close(ctx->rt, ctx->wfd);
}

static void stream_reader(void *p)
{
	struct stream_ctx *ctx = p;
	static unsigned char buf[STREAM_READ_MAX];
	uint32_t seed = 777;

	for (;;) {
		uint32_t r = xorshift(&seed);
		/* half tiny (1..64 bytes, remainders), half large (up to 64 KiB,
		 * several provided buffers per read) */
		size_t len = r & 1 ? 1 + (r >> 1) % 64 : 1 + (r >> 1) % STREAM_READ_MAX;
		ssize_t n = rt_read(ctx->rt, ctx->rfd, buf, len), i;

		if (n < 0) {
			ctx->read_err = (int)n;
			break;
		}
		if (n == 0) {
			ctx->eof = 1;
			break;
		}
		if ((size_t)n > len)
			ctx->bad_byte = 1;
		for (i = 0; i < n; i++)
			if (buf[i] != pattern(ctx->got + (size_t)i))
				ctx->bad_byte = 1;
		ctx->got += (size_t)n;
		if (len <= 64)
			ctx->small_reads++;
		else
			ctx->large_reads++;
	}
	rt_close(ctx->rt, ctx->rfd);
}

static int stream_main(struct rt *rt, void *p)
{
	struct stream_ctx *ctx = p;
	struct rt_task *r, *w;
	int fds[2];

	ctx->rt = rt;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		return -errno;
	ctx->rfd = fds[0];
	ctx->wfd = fds[1];
	if (rt_fd_add(rt, ctx->rfd) || rt_fd_add(rt, ctx->wfd))
		return 2;
	if (rt_spawn(rt, stream_reader, ctx, NULL, &r) ||
	    rt_spawn(rt, stream_writer, ctx, NULL, &w))
		return 3;
	return rt_join(rt, r) || rt_join(rt, w);
}

static void run_stream(const char *expect)
{
	struct stream_ctx ctx = {0};
	char *json = NULL;

	assert_int_equal(run_model(stream_main, &ctx, &json), 0);
	assert_int_equal(ctx.write_err, 0);
	assert_int_equal(ctx.read_err, 0);
	assert_int_equal(ctx.written, STREAM_BYTES);
	assert_int_equal(ctx.got, STREAM_BYTES);
	assert_false(ctx.bad_byte);
	assert_true(ctx.eof);
	assert_true(ctx.small_reads > 0 && ctx.large_reads > 0);
	if (expect && !strstr(json, expect))
		fail_msg("%s not in %s", expect, json);
	if (strstr(json, "\"uring_recv\":\"multishot\"")) {
		/* every byte came through the provided buffers, or through
		 * a plain read when the ring ran dry */
		assert_true(record_u64(json, "\"uring_recv_multishot_arms\":") >= 1);
		if (!record_u64(json, "\"uring_recv_plain_reads\":"))
			assert_int_equal(record_u64(json, "\"uring_recv_copied_bytes\":"),
					 STREAM_BYTES);
	}
	free(json);
}

static void test_stream(void **state)
{
	(void)state;
	need_model();
	if (strcmp(model->name, "uring")) {
		run_stream(NULL);
		return;
	}
	use_variant(NULL, NULL);
	run_stream("\"uring_recv\":\"single\""); /* the default */
	use_variant("uring_recv", "multishot");
	run_stream("\"uring_recv\":\"multishot\"");
	use_variant("uring_recv", "single");
	run_stream("\"uring_recv\":\"single\"");
	use_variant(NULL, NULL);
	expect_bad_variant("uring_recv", "no-such-mode");
}

/* ---- closing a socket whose receive is armed ------------------------------------------- */

/* A socket is read once (under uring multishot that arms the receive, and
 * the rest of the data waits in provided buffers), more data arrives, then
 * it is closed: its peer must see the end (EOF, or ECONNRESET for unread
 * data), which only happens if the armed receive was cancelled, and a new
 * socket that reuses the fd number must carry its own stream intact, not
 * the old one's late completions. Under uring multishot, a reader parked on
 * a socket that another task closes gets -EBADF. */
struct carm_ctx {
	struct rt *rt;
	int a, b;
	ssize_t first, peer_end;
	int reuse_ok, parked_res, parked_done;
};

static void parked_reader(void *p)
{
	struct carm_ctx *ctx = p;
	char c;

	ctx->parked_res = (int)rt_read(ctx->rt, ctx->a, &c, 1);
	ctx->parked_done = 1;
}

static int carm_main(struct rt *rt, void *p)
{
	struct carm_ctx *ctx = p;
	struct stream_ctx s = {0};
	char buf[100];
	int fds[2], i, err;

	ctx->rt = rt;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		return -errno;
	ctx->a = fds[0];
	ctx->b = fds[1];
	if (rt_fd_add(rt, ctx->a) || rt_fd_add(rt, ctx->b))
		return 2;
	memset(buf, 'x', sizeof(buf));
	if (rt_write(rt, ctx->b, buf, sizeof(buf)) != sizeof(buf))
		return 3;
	ctx->first = rt_read(rt, ctx->a, buf, 10);
	if (rt_write(rt, ctx->b, buf, sizeof(buf)) != sizeof(buf))
		return 4;
	for (i = 0; i < 4; i++)
		rt_yield(rt); /* under uring: let the second batch land */
	if (rt_close(rt, ctx->a))
		return 5;
	ctx->peer_end = rt_read(rt, ctx->b, buf, sizeof(buf));
	while (ctx->peer_end > 0) /* data the closed end had sent: none here */
		ctx->peer_end = rt_read(rt, ctx->b, buf, sizeof(buf));
	if (rt_close(rt, ctx->b))
		return 6;
	/* the fd numbers are free again: a fresh stream on them */
	err = stream_main(rt, &s);
	ctx->reuse_ok = !err && !s.write_err && !s.read_err && !s.bad_byte && s.eof &&
			s.got == STREAM_BYTES;
	return err;
}

static int carm_parked_main(struct rt *rt, void *p)
{
	struct carm_ctx *ctx = p;
	struct rt_task *t;
	int fds[2], err;

	ctx->rt = rt;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		return -errno;
	ctx->a = fds[0];
	ctx->b = fds[1];
	if (rt_fd_add(rt, ctx->a) || rt_fd_add(rt, ctx->b))
		return 2;
	if (rt_spawn(rt, parked_reader, ctx, NULL, &t))
		return 3;
	rt_yield(rt); /* it parks in rt_read, the receive armed */
	rt_yield(rt);
	err = rt_close(rt, ctx->a);
	err |= rt_join(rt, t);
	err |= rt_close(rt, ctx->b);
	return err;
}

static void close_armed(void)
{
	struct carm_ctx ctx = {0};
	char *json = NULL;

	assert_int_equal(run_model(carm_main, &ctx, &json), 0);
	assert_int_equal(ctx.first, 10);
	if (ctx.peer_end != 0 && ctx.peer_end != -ECONNRESET)
		fail_msg("peer read after close: %zd", ctx.peer_end);
	assert_true(ctx.reuse_ok);
	if (!strstr(json, "\"uring_recv\":\"multishot\"")) {
		free(json);
		return;
	}
	free(json);
	memset(&ctx, 0, sizeof(ctx));
	assert_int_equal(run_model(carm_parked_main, &ctx, NULL), 0);
	assert_true(ctx.parked_done);
	assert_int_equal(ctx.parked_res, -EBADF);
}

static void test_close_armed(void **state)
{
	(void)state;
	need_model();
	close_armed();
	if (strcmp(model->name, "uring"))
		return;
	/* multishot is not the default: ask for it, and check it was used
	 * (the parked-reader case runs only then) */
	use_variant("uring_recv", "multishot");
	expect_in_record("\"uring_recv\":\"multishot\"");
	close_armed();
	use_variant(NULL, NULL);
}

/* ---- fallback paths, forced ------------------------------------------------------------- */

/* The fallbacks a model takes on an older kernel (uring: weaker ring setup
 * flags, single-shot accept; coro: epoll_wait with ms timeouts) are forced
 * through the models' environment knobs, and the timing-sensitive cases run
 * again under each. */
static void run_core_cases(void **state)
{
	test_sleep_until(state);
	test_yield_timer(state);
	test_pipe(state);
	test_accept(state);
	test_stream(state);
}

/* mn: one worker (no stealing), workers that never spin (every idle moment
 * is a futex park and every wake-up an unpark), more workers than CPUs; and
 * the worker counts main.c refuses with exit 2. */
static void expect_mn_workers(const char *cpus, const char *workers, int refused)
{
	struct task_ctx ctx;
	char err[256] = "";

	params_init(&ctx, &test_task, model);
	assert_int_equal(params_set(&ctx, "cpus", cpus, err, sizeof(err)), 0);
	/* refused by the parameter's own check, or by the model's */
	assert_int_equal(params_set(&ctx, "mn_workers", workers, err, sizeof(err)) != 0 ||
				 model->validate(&ctx, err, sizeof(err)) != 0,
			 refused);
	if (refused)
		assert_non_null(strstr(err, "mn_workers"));
}

static void run_mn_variants(void **state)
{
	char many[16];

	use_variant("mn_workers", "1");
	expect_in_record("\"mn_workers\":1");
	run_core_cases(state);
	test_lock_counter(state);
	use_variant("mn_spin_ns", "0");
	expect_in_record("\"mn_spun_ns\":0");
	run_core_cases(state);
	test_lock_counter(state);
	test_deadlock(state);
	snprintf(many, sizeof(many), "%d", 2 * cpuset_count_allowed() + 1);
	use_variant("mn_workers", many);
	run_core_cases(state);
	test_lock_counter(state);
	use_variant("stack", "unguarded");
	expect_in_record("\"mn_stack\":\"unguarded\"");
	run_core_cases(state);
	use_variant(NULL, NULL);
	expect_bad_variant("stack", "shared");
	expect_mn_workers("", "0", 1);
	expect_mn_workers("", "65", 1);
	expect_mn_workers("", "two", 1);
	expect_mn_workers("", " 2", 1);
	expect_mn_workers("", "+2", 1);
	expect_mn_workers("", "01", 0);
	expect_mn_workers("", many, 0);
	expect_mn_workers("", "auto", 0);
	/* pinned: no more workers than the CPUs of the affinity */
	snprintf(many, sizeof(many), "%d", cpuset_count_allowed() + 1);
	expect_mn_workers("0", many, 1);
}

static void expect_in_record(const char *needle)
{
	struct pp_ctx ctx = {.ping = RT_EVENT_INIT(0), .pong = RT_EVENT_INIT(0), .order_ok = 1};
	char *json = NULL;

	assert_int_equal(run_model(pp_main, &ctx, &json), 0);
	if (!strstr(json, needle))
		fail_msg("%s not in %s", needle, json);
	free(json);
}

static void test_fallbacks(void **state)
{
	static const char *const setups[][2] = {
		{"defer_taskrun", "single_issuer|defer_taskrun|taskrun_flag"},
		{"coop_taskrun", "single_issuer|coop_taskrun|taskrun_flag"},
		{"coop_shared", "coop_taskrun|taskrun_flag"},
		{"none", "none"},
	};
	char needle[128];
	size_t i;

	need_model();
	if (!strcmp(model->name, "mn")) {
		run_mn_variants(state);
		return;
	}
	if (!strcmp(model->name, "coro")) {
		use_variant("coro_epoll", "wait_ms");
		expect_in_record("\"coro_epoll_call\":\"epoll_wait_ms\"");
		run_core_cases(state);
		use_variant(NULL, NULL);
		expect_bad_variant("coro_epoll", "epoll_wait");
		return;
	}
	if (strcmp(model->name, "uring")) {
		print_message("skip: %s has no fallback paths\n", model->name);
		skip();
	}
	for (i = 0; i < sizeof(setups) / sizeof(setups[0]); i++) {
		use_variant("uring_setup", setups[i][0]);
		/* a kernel that refuses this setup falls further: also fine */
		expect_in_record("\"uring_setup_flags\":\"");
		run_core_cases(state);
	}
	/* this kernel (6.18) takes every setup: check each was really used */
	for (i = 0; i < sizeof(setups) / sizeof(setups[0]); i++) {
		struct pp_ctx ctx = {.order_ok = 1};
		char *json = NULL;

		use_variant("uring_setup", setups[i][0]);
		snprintf(needle, sizeof(needle), "\"uring_setup_flags\":\"%s\"", setups[i][1]);
		assert_int_equal(run_model(pp_main, &ctx, &json), 0);
		if (!strstr(json, needle) && !strstr(json, "\"uring_setup_fallback\":\"\""))
			print_message("note: %s refused here\n", setups[i][1]);
		else if (!strstr(json, needle))
			fail_msg("asked for %s, got %s", setups[i][0], json);
		free(json);
	}
	use_variant("uring_accept", "single");
	expect_in_record("\"uring_accept\":\"single\"");
	test_accept(state);
	use_variant(NULL, NULL);
	expect_in_record("\"uring_accept\":\"multishot\"");
	expect_bad_variant("uring_setup", "no-such-setup");
}

/* ---- uring's timer heap: one timeout re-armed for an earlier deadline -------------------- */

struct rearm_ctx {
	struct rt *rt;
	uint64_t base_ns, far_ns, near_ns, far_woke_ns, near_woke_ns;
	int far_ret, near_ret;
};

static void far_sleeper(void *p)
{
	struct rearm_ctx *ctx = p;

	ctx->far_ret = rt_sleep_until(ctx->rt, ctx->far_ns);
	ctx->far_woke_ns = now_ns();
}

static int rearm_main(struct rt *rt, void *p)
{
	struct rearm_ctx *ctx = p;
	struct rt_task *t;
	int err;

	ctx->rt = rt;
	ctx->base_ns = now_ns();
	ctx->far_ns = ctx->base_ns + 40000000ull;
	ctx->near_ns = ctx->base_ns + 5000000ull;
	if (rt_spawn(rt, far_sleeper, ctx, NULL, &t))
		return 1;
	/* the far sleeper parks; the second yield polls, which arms the
	 * heap's timeout for the far deadline; the near sleep must then
	 * move it earlier */
	rt_yield(rt);
	rt_yield(rt);
	ctx->near_ret = rt_sleep_until(rt, ctx->near_ns);
	ctx->near_woke_ns = now_ns();
	err = rt_join(rt, t);
	return err;
}

static unsigned long long record_u64(const char *json, const char *key)
{
	const char *at = strstr(json, key);

	if (!at)
		fail_msg("%s not in %s", key, json);
	return strtoull(at + strlen(key), NULL, 10);
}

static void test_uring_timers(void **state)
{
	struct rearm_ctx ctx = {0};
	char *json = NULL;

	need_model();
	if (strcmp(model->name, "uring")) {
		print_message("skip: only uring has a choice of timer mechanism\n");
		skip();
	}
	use_variant(NULL, NULL);
	assert_int_equal(run_model(rearm_main, &ctx, &json), 0);
	assert_int_equal(ctx.near_ret, 0);
	assert_int_equal(ctx.far_ret, 0);
	assert_true(ctx.near_woke_ns >= ctx.near_ns); /* never early */
	assert_true(ctx.far_woke_ns >= ctx.far_ns);
	assert_true(ctx.near_woke_ns < ctx.far_woke_ns);
	if (!strstr(json, "\"uring_timers\":\"heap\""))
		fail_msg("default timers not heap: %s", json);
	assert_true(record_u64(json, "\"uring_timer_rearms\":") >= 1);
	assert_true(record_u64(json, "\"uring_timer_wakeups\":") == 2);
	free(json);
	/* one request per sleep: the same contract */
	use_variant("uring_timers", "request");
	expect_in_record("\"uring_timers\":\"request\"");
	test_sleep_until(state);
	test_yield_timer(state);
	use_variant(NULL, NULL);
	expect_bad_variant("uring_timers", "no-such-mechanism");
}

/* ---- uring probe when the kernel refuses io_uring ------------------------------------------- */

/* In a child, a seccomp filter makes io_uring_setup fail with ENOSYS, as a
 * container runtime's profile does; probe() must say so (main.c then exits
 * 77) rather than crash or claim success. */
static int probe_under_seccomp(char *reason, size_t len)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return 1000 + errno;
	return uring_model.probe(reason, len);
}

static void test_probe_refused(void **state)
{
	int fds[2], status;
	char reason[256] = "";
	ssize_t n;
	pid_t pid;

	(void)state;
	if (strcmp(model->name, "uring")) {
		print_message("skip: only uring depends on a kernel interface "
			      "that can be refused\n");
		skip();
	}
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char r[256] = "";
		int ret = probe_under_seccomp(r, sizeof(r));

		if (write(fds[1], r, strlen(r) + 1) < 0)
			_exit(99);
		_exit(ret == -ENOSYS ? 0 : ret > 0 ? 2 : 1);
	}
	close(fds[1]);
	n = read(fds[0], reason, sizeof(reason) - 1);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 2) {
		print_message("skip: cannot install a seccomp filter here\n");
		skip();
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(n > 1);
	/* one line that names the failing step and the errno */
	assert_non_null(strstr(reason, "io_uring_queue_init"));
	assert_non_null(strstr(reason, strerror(ENOSYS)));
	assert_null(strchr(reason, '\n'));
}

/* ---- stack=shared: a task that hands out its own stack --------------------------------- */

/* A spawned task waits on an event on its own stack: under stack=shared
 * the waker would write into whatever frame lies there then. Debug builds
 * abort with the runtime's message instead (in a child). */
struct nest_ctx {
	struct rt *rt;
};

static void waits_on_own_stack(void *p)
{
	struct nest_ctx *ctx = p;
	struct rt_event mine = RT_EVENT_INIT(0);

	rt_wait(ctx->rt, &mine);
}

static int violation_main(struct rt *rt, void *p)
{
	struct nest_ctx *ctx = p;
	struct rt_task *t;

	ctx->rt = rt;
	if (rt_spawn(rt, waits_on_own_stack, ctx, NULL, &t))
		return 1;
	return rt_join(rt, t);
}

static void test_shared_stack_violation(void **state)
{
	int fds[2], status;
	char err[512] = "";
	ssize_t n, got = 0;
	pid_t pid;

	(void)state;
	if (!group_key) {
		print_message("skip: only under stack=shared\n");
		skip();
	}
#ifdef NDEBUG
	skip(); /* the check is compiled out */
#endif
	need_model();
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct nest_ctx ctx = {0};

		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		_exit(run_model(violation_main, &ctx, NULL) == 0 ? 0 : 1);
	}
	close(fds[1]);
	while ((n = read(fds[0], err + got, sizeof(err) - 1 - (size_t)got)) > 0)
		got += n;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	if (!strstr(err, "hands out the event it waits on at ") ||
	    !strstr(err, "inside its shared stack"))
		fail_msg("unexpected stderr: %s", err);
}

/* ---- groups ----------------------------------------------------------------------------- */

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_spawn_join),     cmocka_unit_test(test_yield),
	cmocka_unit_test(test_event_pingpong), cmocka_unit_test(test_lock_counter),
	cmocka_unit_test(test_sleep_until),    cmocka_unit_test(test_yield_timer),
	cmocka_unit_test(test_pipe),	       cmocka_unit_test(test_accept),
	cmocka_unit_test(test_pread),	       cmocka_unit_test(test_deadlock),
	cmocka_unit_test(test_fallbacks),      cmocka_unit_test(test_probe_refused),
	cmocka_unit_test(test_uring_timers),   cmocka_unit_test(test_stream),
	cmocka_unit_test(test_close_armed),    cmocka_unit_test(test_shared_stack_violation),
};

/* mn declares stack without `shared` (its coroutines move between workers). */
static int offers_shared_stacks(const struct rt_model *m)
{
	for (const struct task_param *p = m->params; p && p->key; p++)
		if (strcmp(p->key, "stack") == 0)
			return p->choices && strstr(p->choices, "shared") != NULL;
	return 0;
}

int main(int argc, char **argv)
{
	int failed = 0;

	/* a peer that went away must be an EPIPE result, not the end of us */
	signal(SIGPIPE, SIG_IGN);

	for (const struct rt_model *const *m = model_list; *m; m++) {
		/* `test_models coro` runs one model's group */
		if (argc > 1 && strcmp(argv[1], (*m)->name))
			continue;
		model = *m;
		group_key = group_value = NULL;
		failed += cmocka_run_group_tests_name(model->name, tests, NULL, NULL);
		/* coroutines without a stack of their own: every case again */
		if (offers_shared_stacks(model)) {
			char name[64];

			group_key = "stack";
			group_value = "shared";
			snprintf(name, sizeof(name), "%s stack=shared", model->name);
			failed += cmocka_run_group_tests_name(name, tests, NULL, NULL);
		}
	}
	return failed ? 1 : 0;
}
