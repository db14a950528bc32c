/* pingpong: two tasks hand a token back and forth.
 *
 * What it provokes: the cheapest possible scheduling decision, over and over.
 * Every hand-off makes the sender wait and the receiver run, so the time per
 * hand-off is the cost of one switch in the model's scheduler:
 *   threads  a futex (channel=event) or pipe (channel=pipe) wake-up plus a
 *            kernel context switch. With placement=same both threads share one
 *            CPU and each hand-off is a direct switch (about 2 us here); with
 *            placement=split every hand-off wakes the other CPU, which on a VM
 *            can cost ten times more (idle vCPU wake-up in the hypervisor).
 *   coro     a user-space switch on one thread: tens of nanoseconds with
 *            channel=event; with channel=pipe each hand-off is a real
 *            read/write syscall pair (plus epoll when the read would block).
 *   uring    channel=event is the same as coro (no kernel involved);
 *            channel=pipe turns each read and write into io_uring requests.
 * placement is a hint each model reads its own way: threads pin each task to
 * its CPU; the one-thread models have one thread for both (cpu_a, cpu_b say
 * which CPUs were asked for).
 *
 * Method: the initiator runs `warmup` untimed round trips, then times
 * `iterations` round trips; handoff_ns = window / (2 * iterations).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/cpuset.h"
#include "task.h"

static const struct task_param pingpong_params[] = {
	{.key = "iterations",
	 .type = PARAM_U64,
	 .def = "100000",
	 .unit = "count",
	 .min = 1,
	 .max = 1000000000,
	 .help = "timed round trips (one round trip = two hand-offs)"},
	{.key = "placement",
	 .type = PARAM_ENUM,
	 .def = "same",
	 .choices = "same|split",
	 .help = "threads model: both tasks on one CPU (same) or on two CPUs (split)"},
	{.key = "channel",
	 .type = PARAM_ENUM,
	 .def = "event",
	 .choices = "event|pipe",
	 .help = "how the token travels: the model's wait/wake (event) or a pipe (real I/O)"},
	{.key = "warmup",
	 .type = PARAM_U64,
	 .def = "1000",
	 .unit = "count",
	 .min = 0,
	 .max = 1000000000,
	 .help = "untimed round trips before the timed window"},
	PARAM_END,
};

struct player {
	struct rt *rt;
	int initiator;
	uint64_t rounds; /* warmup + iterations */
	uint64_t warmup;
	struct rt_event *my_turn, *their_turn;
	int read_fd, write_fd; /* channel=pipe */
	int err;
	uint64_t t0, t1; /* the initiator's timed window */
	struct rusage ru0, ru1;
};

/* One hand-off in each direction goes through one of these two. */
static int pass(struct player *p)
{
	char token = 't';
	ssize_t n;

	if (p->read_fd < 0) {
		rt_wake(p->rt, p->their_turn);
		return 0;
	}
	n = rt_write(p->rt, p->write_fd, &token, 1);
	return n == 1 ? 0 : n < 0 ? (int)n : -EIO;
}

static int receive(struct player *p)
{
	char token;
	ssize_t n;

	if (p->read_fd < 0)
		return rt_wait(p->rt, p->my_turn);
	n = rt_read(p->rt, p->read_fd, &token, 1);
	return n == 1 ? 0 : n < 0 ? (int)n : -EPIPE;
}

static void play(void *arg)
{
	struct player *p = arg;
	int err = 0;

	for (uint64_t i = 0; i < p->rounds && !err; i++) {
		if (p->initiator && i == p->warmup) {
			getrusage(RUSAGE_SELF, &p->ru0);
			p->t0 = now_ns();
		}
		if (p->initiator) {
			err = pass(p);
			if (!err)
				err = receive(p);
		} else {
			err = receive(p);
			if (!err)
				err = pass(p);
		}
	}
	if (p->initiator) {
		p->t1 = now_ns();
		getrusage(RUSAGE_SELF, &p->ru1);
	}
	p->err = err;
}

static int pingpong_validate(const struct task_ctx *ctx, char *err, size_t len)
{
	if (strcmp(task_str(ctx, "placement"), "split") == 0 && *task_str(ctx, "cpus")) {
		cpu_set_t set;

		if (cpuset_parse(task_str(ctx, "cpus"), &set, err, len))
			return -1;
		if (CPU_COUNT(&set) < 2) {
			snprintf(err, len,
				 "--placement split needs at least 2 CPUs in --cpus (got %s)",
				 task_str(ctx, "cpus"));
			return -1;
		}
	}
	return 0;
}

static int pingpong_run(struct rt *rt, struct task_ctx *ctx)
{
	struct rt_event ev_a = RT_EVENT_INIT(0), ev_b = RT_EVENT_INIT(0);
	uint64_t warmup = task_u64(ctx, "warmup"), iterations = task_u64(ctx, "iterations");
	int use_pipe = strcmp(task_str(ctx, "channel"), "pipe") == 0;
	int split = strcmp(task_str(ctx, "placement"), "split") == 0;
	struct player a = {.rt = rt,
			   .initiator = 1,
			   .my_turn = &ev_a,
			   .their_turn = &ev_b,
			   .read_fd = -1,
			   .write_fd = -1};
	struct player b = {.rt = rt,
			   .initiator = 0,
			   .my_turn = &ev_b,
			   .their_turn = &ev_a,
			   .read_fd = -1,
			   .write_fd = -1};
	struct rt_spawn_opts oa = {.cpu = -1}, ob = {.cpu = -1};
	struct rt_task *ta = NULL, *tb = NULL;
	int ab[2] = {-1, -1}, ba[2] = {-1, -1}, err = 0;
	uint64_t window;

	a.rounds = b.rounds = warmup + iterations;
	a.warmup = warmup;
	/* A placement hint: the model decides what a CPU means for a task
	 * (threads pin to it; a one-thread runtime has only its own thread). */
	oa.cpu = cpuset_nth_allowed(0);
	ob.cpu = cpuset_nth_allowed(split ? 1 : 0);
	if (ob.cpu < 0) {
		rec_skip(ctx->rec, "placement=split needs 2 CPUs; this process may use %d",
			 cpuset_count_allowed());
		return 1;
	}
	rec_metric_i64(ctx->rec, "cpu_a", oa.cpu);
	rec_metric_i64(ctx->rec, "cpu_b", ob.cpu);
	if (use_pipe) {
		if (pipe2(ab, O_CLOEXEC) || pipe2(ba, O_CLOEXEC)) {
			rec_fail(ctx->rec, "pipe2: %s", strerror(errno));
			err = 1;
			goto cleanup;
		}
		for (int i = 0; i < 2 && !err; i++)
			err = rt_fd_add(rt, ab[i]) ?: rt_fd_add(rt, ba[i]);
		if (err) {
			rec_fail(ctx->rec, "fd_add: %s", strerror(-err));
			err = 1;
			goto cleanup;
		}
		a.write_fd = ab[1];
		b.read_fd = ab[0];
		b.write_fd = ba[1];
		a.read_fd = ba[0];
	}
	err = rt_spawn(rt, play, &b, &ob, &tb);
	if (!err)
		err = rt_spawn(rt, play, &a, &oa, &ta);
	if (err) {
		rec_fail(ctx->rec, "spawn: %s", strerror(-err));
		/* b waits forever for a token that will not come: give it its rounds */
		if (tb) {
			b.rounds = 0;
			rt_wake(rt, &ev_b);
		}
		err = 1;
		goto cleanup;
	}
	rt_join(rt, ta);
	rt_join(rt, tb);
	ta = tb = NULL;
	if (a.err || b.err) {
		rec_fail(ctx->rec, "hand-off failed: %s", strerror(-(a.err ? a.err : b.err)));
		err = 1;
		goto cleanup;
	}
	window = a.t1 - a.t0;
	rec_metric_u64(ctx->rec, "handoffs", 2 * iterations);
	rec_metric_f64(ctx->rec, "handoff_ns", (double)window / (double)(2 * iterations));
	rec_metric_u64(ctx->rec, "window_ns", window);
	rec_metric_u64(ctx->rec, "window_voluntary_switches",
		       (uint64_t)(a.ru1.ru_nvcsw - a.ru0.ru_nvcsw));
	rec_metric_u64(ctx->rec, "window_involuntary_switches",
		       (uint64_t)(a.ru1.ru_nivcsw - a.ru0.ru_nivcsw));
cleanup:
	if (tb)
		rt_join(rt, tb);
	for (int i = 0; i < 2; i++) {
		if (ab[i] >= 0)
			rt_close(rt, ab[i]);
		if (ba[i] >= 0)
			rt_close(rt, ba[i]);
	}
	return err;
}

/* What the record's metrics hold (units, direction, headline: task.h). */
static const struct task_metric pingpong_metrics[] = {
	{.name = "handoff_ns",
	 .unit = "ns",
	 .better = BETTER_LOWER,
	 .headline = true,
	 .help = "window / handoffs: one task waking the other and waiting for its turn"},
	{.name = "handoffs",
	 .unit = "count",
	 .headline = true,
	 .help = "2 x iterations (an iteration is one round trip)"},
	{.name = "window_ns", .unit = "ns", .help = "the measured window"},
	{.name = "window_voluntary_switches",
	 .unit = "count",
	 .help = "voluntary switches of the process in the window (getrusage)"},
	{.name = "window_involuntary_switches",
	 .unit = "count",
	 .help = "involuntary switches of the process in the window (getrusage)"},
	{.name = "cpu_a",
	 .help = "the CPU the first task is placed on (a hint one-thread models ignore)"},
	{.name = "cpu_b", .help = "the CPU the second task is placed on"},
	METRIC_END,
};

const struct task pingpong_task = {
	.name = "pingpong",
	.summary = "two tasks hand a token back and forth: the cost of one hand-off",
	.params = pingpong_params,
	.metrics = pingpong_metrics,
	.validate = pingpong_validate,
	.run = pingpong_run,
};
