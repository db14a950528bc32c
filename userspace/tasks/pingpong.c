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
 *
 * work_ns: each task spins that long after it receives the token and before
 * it passes it on, so a hand-off is work plus switch, as in a real pipeline
 * stage; handoff_overhead_share (1 - measured work / window) says what
 * share of the time the hand-offs cost, and a sweep of work_ns finds the work
 * below which they cost more than a given share.
 *
 * Where the tasks ran: every few round trips each task notes its CPU
 * (sched_getcpu, the same round for both), so the record says which CPUs
 * were used (cpus_used, beside the process's cpus_allowed) and in what share
 * of those samples the two tasks were on different CPUs (cross_cpu_share):
 * a split hand-off is one that crossed CPUs, whatever the placement asked.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/cpuset.h"
#include "lib/spin.h"
#include "task.h"

/* At most this many CPU samples per task per run. */
#define CPU_SAMPLES_MAX 4096

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
	{.key = "work_ns",
	 .type = PARAM_U64,
	 .def = "0",
	 .unit = "ns",
	 .min = 0,
	 .max = 1000000000,
	 .help = "work (a timed spin) each task does between receiving the token and passing it"},
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
	uint64_t work_ns, spun_ns; /* asked per hand-off; spun in the window */
	uint64_t sample_every;	   /* timed round trips between two CPU samples */
	short *cpu;		   /* the CPU of each sample, CPU_SAMPLES_MAX of them */
	uint64_t samples;
};

/* After receiving: the work of this stage, then a CPU sample now and then.
 * Both only count in the timed rounds. */
static void stage(struct player *p, uint64_t i)
{
	uint64_t t;

	if (i < p->warmup) {
		spin_for_ns(p->work_ns);
		return;
	}
	if (p->work_ns) {
		t = now_ns();
		spin_for_ns(p->work_ns);
		p->spun_ns += now_ns() - t;
	}
	if ((i - p->warmup) % p->sample_every == 0 && p->samples < CPU_SAMPLES_MAX)
		p->cpu[p->samples++] = (short)sched_getcpu();
}

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
			if (!err)
				stage(p, i);
		} else {
			err = receive(p);
			if (!err) {
				stage(p, i);
				err = pass(p);
			}
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

/* Where the two tasks ran: the process's allowed CPUs, the CPUs seen in
 * the samples, and the share of samples with the two on different CPUs. */
static void record_cpus(struct task_ctx *ctx, const struct player *a, const struct player *b)
{
	uint64_t n = a->samples < b->samples ? a->samples : b->samples, apart = 0;
	char list[256];
	cpu_set_t set;

	if (!sched_getaffinity(0, sizeof(set), &set)) {
		cpuset_format(&set, list, sizeof(list));
		rec_metric_str(ctx->rec, "cpus_allowed", list);
	}
	CPU_ZERO(&set);
	for (uint64_t i = 0; i < n; i++) {
		if (a->cpu[i] >= 0 && a->cpu[i] < CPU_SETSIZE)
			CPU_SET(a->cpu[i], &set);
		if (b->cpu[i] >= 0 && b->cpu[i] < CPU_SETSIZE)
			CPU_SET(b->cpu[i], &set);
		apart += a->cpu[i] != b->cpu[i];
	}
	cpuset_format(&set, list, sizeof(list));
	rec_metric_str(ctx->rec, "cpus_used", list);
	rec_metric_u64(ctx->rec, "cpu_samples", n);
	if (n)
		rec_metric_f64(ctx->rec, "cross_cpu_share", (double)apart / (double)n);
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
	a.warmup = b.warmup = warmup;
	a.work_ns = b.work_ns = task_u64(ctx, "work_ns");
	a.sample_every = b.sample_every = (iterations + CPU_SAMPLES_MAX - 1) / CPU_SAMPLES_MAX;
	a.cpu = calloc(CPU_SAMPLES_MAX, sizeof(*a.cpu));
	b.cpu = calloc(CPU_SAMPLES_MAX, sizeof(*b.cpu));
	if (!a.cpu || !b.cpu) {
		rec_fail(ctx->rec, "out of memory for the CPU samples");
		err = 1;
		goto cleanup;
	}
	/* A placement hint: the model decides what a CPU means for a task
	 * (threads pin to it; a one-thread runtime has only its own thread). */
	oa.cpu = cpuset_nth_allowed(0);
	ob.cpu = cpuset_nth_allowed(split ? 1 : 0);
	if (ob.cpu < 0) {
		rec_skip(ctx->rec, "placement=split needs 2 CPUs; this process may use %d",
			 cpuset_count_allowed());
		err = 1;
		goto cleanup;
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
	rec_metric_f64(ctx->rec, "work_ns_per_handoff",
		       (double)(a.spun_ns + b.spun_ns) / (double)(2 * iterations));
	rec_metric_f64(ctx->rec, "handoff_overhead_share",
		       window ? 1.0 - (double)(a.spun_ns + b.spun_ns) / (double)window : 0.0);
	record_cpus(ctx, &a, &b);
cleanup:
	free(a.cpu);
	free(b.cpu);
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
	{.name = "work_ns_per_handoff",
	 .unit = "ns",
	 .help = "the work measured between receiving and passing, per hand-off (work_ns asked)"},
	{.name = "handoff_overhead_share",
	 .unit = "ratio",
	 .better = BETTER_LOWER,
	 .help = "1 - work / window: the share of the time the hand-offs took"},
	{.name = "cpus_allowed",
	 .kind = METRIC_TEXT,
	 .help = "the CPUs the process may run on (its affinity after --cpus)"},
	{.name = "cpus_used",
	 .kind = METRIC_TEXT,
	 .help = "the CPUs the two tasks were seen on (sched_getcpu samples in the window)"},
	{.name = "cpu_samples", .unit = "count", .help = "samples per task behind cpus_used"},
	{.name = "cross_cpu_share",
	 .unit = "ratio",
	 .help = "share of the samples in which the two tasks were on different CPUs"},
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
