/* Description: the conformance suite: every execution model against the
 * rt.h contract, its cases chosen by what the model declares (struct
 * rt_model: traits, parameters, metrics), never by its name. spawn/join (and
 * spawn's stack size), yield, event ping-pong counts, a lock protecting a
 * counter, sleep_until (never early; the wake order of timers where
 * traits.one_thread), a timer next to a task that only yields (it must still
 * fire), pipe read/write with EOF after rt_close, accept of several loopback
 * clients (and closing a listener with a client still in its backlog), pread
 * against known file content, read/write at the file position, deadlock
 * detection where traits.sees_deadlocks (-EDEADLK and <model>_parked, the
 * record not failed by the model), every metric the model declares present
 * in its record, a 4 MiB stream through a socketpair read with random small
 * and large buffers, closing a socket whose receive is armed (the peer sees
 * the end, the reused fd number carries its own stream, a parked reader gets
 * -EBADF under multishot), and the cases that depend on the runtime's paths
 * again under every variant the model declares (test_variants). Each case
 * runs once per model, and once more under stack=shared for every model
 * whose `stack` offers it (the lock case then checks the record: stack
 * shared, frames copied; a task that waits on an event on its own stack
 * aborts with the runtime's message); a model this machine cannot run
 * (probe fails) skips with its reason. `test_models MODEL` runs one.
 * What only one model has is tested in its own file (test_uring.c,
 * test_mn.c).
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
#include "model_run.h"
#include "rt.h"
#include "task.h"

/* A metric the model declares (name without its "<model>_" prefix). */
static const struct task_metric *declared_metric(const char *name)
{
	for (size_t l = 0; l < sizeof(model->metrics) / sizeof(model->metrics[0]); l++)
		for (const struct task_metric *m = model->metrics[l]; m && m->name; m++)
			if (strcmp(m->name, name) == 0)
				return m;
	return NULL;
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

/* The bigger stack deep() is spawned with. Under ThreadSanitizer glibc
 * takes its per-thread state (about 790 KiB of static TLS) out of a
 * thread's stack too, so the threads model needs that much more. */
#if defined(__SANITIZE_THREAD__)
#define DEEP_STACK_BYTES (512 * 1024 + 1024 * 1024)
#else
#define DEEP_STACK_BYTES (512 * 1024)
#endif

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
	struct rt_spawn_opts big = {.stack_bytes = DEEP_STACK_BYTES, .cpu = -1};
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
		if (model->traits.one_thread)
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
	uint64_t called_ns[SLEEPERS]; /* when it asked to sleep */
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

	ctx->called_ns[a->i] = now_ns();
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
	 * scheduled in any order after their timers fire. A sleeper that
	 * first ran after its deadline (a loaded machine) returned at once:
	 * it is in no timer order. */
	if (model->traits.one_thread)
		for (i = 1; i < SLEEPERS; i++) {
			int a = ctx.order[i - 1], b = ctx.order[i];

			if (ctx.called_ns[a] < ctx.deadline_ns[a] &&
			    ctx.called_ns[b] < ctx.deadline_ns[b])
				assert_true(ctx.deadline_ns[a] < ctx.deadline_ns[b]);
		}
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
	if (model->traits.one_thread)
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
	char *json = NULL, key[96];

	(void)state;
	need_model();
	assert_int_equal(run_model(pipe_main, &ctx, &json), 0);
	assert_int_equal(ctx.write_err, 0);
	assert_int_equal(ctx.read_err, 0);
	assert_int_equal(ctx.written, PIPE_BYTES);
	assert_int_equal(ctx.got, PIPE_BYTES);
	assert_false(ctx.bad_byte);
	assert_true(ctx.eof);
	/* every counter the model declares is in the record, under its own
	 * prefix (per-worker ones, '*', and optional ones aside) */
	for (size_t l = 0; l < sizeof(model->metrics) / sizeof(model->metrics[0]); l++)
		for (const struct task_metric *m = model->metrics[l]; m && m->name; m++) {
			if (m->optional || strchr(m->name, '*'))
				continue;
			snprintf(key, sizeof(key), "\"%s_%s\":", model->name, m->name);
			if (!strstr(json, key))
				fail_msg("declared %s missing from %s", key, json);
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
	if (declared_metric("pread_inline") && declared_metric("pread_offloads")) {
		/* every pread is served once: inline from the page cache
		 * (RWF_NOWAIT) or by the helper pool */
		char inl[64], off[64], files[64];

		snprintf(inl, sizeof(inl), "\"%s_pread_inline\":", model->name);
		snprintf(off, sizeof(off), "\"%s_pread_offloads\":", model->name);
		snprintf(files, sizeof(files), "\"%s_file_offloads\":", model->name);
		assert_int_equal(record_u64(json, inl) + record_u64(json, off),
				 READERS * READS_EACH + 3);
		assert_int_equal(record_u64(json, files), 4);
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
	if (!model->traits.sees_deadlocks) {
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
	run_stream(NULL);
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
}

/* ---- every variant the model declares -------------------------------------------------- */

/* The contract holds under each variant of the runtime, not only its
 * defaults: the variants are the model's declared parameters (the paths an
 * older kernel takes, forced: uring's weaker ring setups and single-shot
 * accept, coro's epoll_wait in ms; uring's multishot receive; one mn worker
 * that never spins), so a new variant is tested the day it is declared.
 * Every choice of an enum parameter (but stack=shared, a group of its own,
 * see main), and every count or integer at its lower bound, runs the cases
 * whose outcome depends on the runtime's paths, and is in the record's
 * params; a value outside the declaration is refused. */
static void run_core_cases(void **state)
{
	test_sleep_until(state);
	test_yield_timer(state);
	test_pipe(state);
	test_accept(state);
	test_stream(state);
	test_close_armed(state);
	test_lock_counter(state);
	test_deadlock(state);
}

static void run_variant(void **state, const struct task_param *p, const char *value)
{
	char needle[128];

	use_variant(p->key, value);
	if (p->type == PARAM_ENUM)
		snprintf(needle, sizeof(needle), "\"%s\":\"%s\"", p->key, value);
	else
		snprintf(needle, sizeof(needle), "\"%s\":%s", p->key, value);
	print_message("variant %s\n", needle);
	expect_in_record(needle);
	run_core_cases(state);
	use_variant(NULL, NULL);
}

/* main runs the whole suite again under stack=shared, where offered. */
#define SHARED_GROUP_KEY   "stack"
#define SHARED_GROUP_VALUE "shared"

static int is_group(const char *key, const char *value)
{
	return strcmp(key, SHARED_GROUP_KEY) == 0 && strcmp(value, SHARED_GROUP_VALUE) == 0;
}

static void test_variants(void **state)
{
	char one[128], low[32];
	int runs = 0;

	need_model();
	for (const struct task_param *p = model->params; p && p->key; p++) {
		if (p->type == PARAM_ENUM) {
			for (const char *c = p->choices; c && *c;) {
				size_t n = strcspn(c, "|");

				snprintf(one, sizeof(one), "%.*s", (int)n, c);
				c += n + (c[n] == '|');
				/* the default ran already; stack=shared is a group */
				if (strcmp(one, p->def) == 0 || is_group(p->key, one) ||
				    (group_key && strcmp(p->key, group_key) == 0))
					continue;
				run_variant(state, p, one);
				runs++;
			}
			expect_bad_variant(p->key, "no-such-variant");
		} else if ((p->type == PARAM_COUNT || p->type == PARAM_U64) &&
			   strtoull(p->def, NULL, 10) != p->min) {
			snprintf(low, sizeof(low), "%llu", (unsigned long long)p->min);
			run_variant(state, p, low);
			runs++;
		}
	}
	if (!runs) {
		print_message("skip: %s declares no variant\n", model->name);
		skip();
	}
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
	cmocka_unit_test(test_stream),	       cmocka_unit_test(test_close_armed),
	cmocka_unit_test(test_variants),       cmocka_unit_test(test_shared_stack_violation),
};

/* Whether the model's `stack` lists shared (mn's does not: its coroutines
 * move between workers). */
static int offers_shared_stacks(const struct rt_model *m)
{
	for (const struct task_param *p = m->params; p && p->key; p++)
		if (strcmp(p->key, SHARED_GROUP_KEY) == 0)
			return p->choices && strstr(p->choices, SHARED_GROUP_VALUE) != NULL;
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
		use_variant(NULL, NULL); /* a failed case may have left one set */
		failed += cmocka_run_group_tests_name(model->name, tests, NULL, NULL);
		/* coroutines without a stack of their own: every case again */
		if (offers_shared_stacks(model)) {
			char name[64];

			group_key = SHARED_GROUP_KEY;
			group_value = SHARED_GROUP_VALUE;
			use_variant(NULL, NULL);
			snprintf(name, sizeof(name), "%s stack=shared", model->name);
			failed += cmocka_run_group_tests_name(name, tests, NULL, NULL);
		}
	}
	return failed ? 1 : 0;
}
