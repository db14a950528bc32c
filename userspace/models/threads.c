/* threads.c: the `threads` model. One pthread per rt_spawn, real blocking
 * syscalls, and rt_event wait/wake on a futex. The kernel schedules
 * everything, preemptively: this is the baseline the other models are
 * compared against.
 *
 * rt_event under threads is a futex semaphore: count is the futex word.
 * A waiter that finds no unit announces itself in `waiters` and sleeps while
 * count is 0; a waker adds a unit and issues FUTEX_WAKE only when someone
 * announced itself. Both sides use sequentially consistent atomics, so either
 * the waker sees the waiter or the waiter's FUTEX_WAIT sees the new unit and
 * returns at once: no lost wake-up.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lib/record.h"
#include "lib/schedattr.h"
#include "rt.h"
#include "models/reserve.h"
#include "task.h"

struct threads_rt {
	struct rt base;
	_Atomic uint64_t spawned, live, peak_live;
};

struct rt_task {
	pthread_t thread;
	void (*fn)(void *);
	void *arg;
	struct threads_rt *rt;
	/* rt_spawn_opts.sched: the new thread applies it to itself, then
	 * posts sched_err (0 or -errno) and runs fn only on success. */
	const struct sched_knobs *sched;
	_Atomic int sched_done;
	int sched_err;
};

static struct threads_rt *to_threads(struct rt *rt)
{
	return (struct threads_rt *)rt;
}

static void *thread_entry(void *p)
{
	struct rt_task *t = p;

	if (t->sched) {
		t->sched_err = sched_knobs_apply(0, t->sched);
		atomic_store(&t->sched_done, 1);
		syscall(SYS_futex, &t->sched_done, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
		if (t->sched_err) {
			atomic_fetch_sub(&t->rt->live, 1);
			return NULL;
		}
	}
	t->fn(t->arg);
	atomic_fetch_sub(&t->rt->live, 1);
	return NULL;
}

static int threads_spawn(struct rt *rt, void (*fn)(void *), void *arg,
			 const struct rt_spawn_opts *opts, struct rt_task **out)
{
	struct threads_rt *trt = to_threads(rt);
	size_t stack = opts && opts->stack_bytes ? opts->stack_bytes : RT_DEFAULT_STACK_BYTES;
	struct rt_task *t = calloc(1, sizeof(*t));
	pthread_attr_t attr;
	uint64_t live, peak;
	int err;

	if (!t)
		return -ENOMEM;
	t->fn = fn;
	t->arg = arg;
	t->rt = trt;
	t->sched = opts ? opts->sched : NULL;
	pthread_attr_init(&attr);
	if (stack < (size_t)PTHREAD_STACK_MIN)
		stack = PTHREAD_STACK_MIN;
	err = pthread_attr_setstacksize(&attr, stack);
	if (!err && opts && opts->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(opts->cpu, &set);
		err = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	live = atomic_fetch_add(&trt->live, 1) + 1;
	if (!err)
		err = pthread_create(&t->thread, &attr, thread_entry, t);
	pthread_attr_destroy(&attr);
	if (err) {
		atomic_fetch_sub(&trt->live, 1);
		free(t);
		return -err;
	}
	if (t->sched) {
		/* Wait for the verdict, so that a refusal is spawn's error. */
		while (!atomic_load(&t->sched_done))
			syscall(SYS_futex, &t->sched_done, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
		if (t->sched_err) {
			err = t->sched_err;
			pthread_join(t->thread, NULL);
			free(t);
			return err;
		}
	}
	atomic_fetch_add(&trt->spawned, 1);
	peak = atomic_load(&trt->peak_live);
	while (live > peak && !atomic_compare_exchange_weak(&trt->peak_live, &peak, live))
		;
	*out = t;
	return 0;
}

static int threads_join(struct rt *rt, struct rt_task *t)
{
	int err;

	(void)rt;
	err = pthread_join(t->thread, NULL);
	if (err)
		return -err;
	free(t);
	return 0;
}

static void threads_yield(struct rt *rt)
{
	(void)rt;
	sched_yield();
}

static int threads_sleep_until(struct rt *rt, uint64_t deadline_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(deadline_ns / 1000000000ull),
		.tv_nsec = (long)(deadline_ns % 1000000000ull),
	};
	int err;

	(void)rt;
	while ((err = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)) == EINTR)
		;
	return -err;
}

static long futex(_Atomic uint32_t *word, int op, uint32_t val)
{
	return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

static int threads_wait(struct rt *rt, struct rt_event *ev)
{
	(void)rt;
	for (;;) {
		uint32_t c = atomic_load(&ev->count);

		while (c > 0)
			if (atomic_compare_exchange_weak(&ev->count, &c, c - 1))
				return 0;
		atomic_fetch_add(&ev->waiters, 1);
		futex(&ev->count, FUTEX_WAIT_PRIVATE, 0);
		atomic_fetch_sub(&ev->waiters, 1);
	}
}

static void threads_wake(struct rt *rt, struct rt_event *ev)
{
	(void)rt;
	atomic_fetch_add(&ev->count, 1);
	if (atomic_load(&ev->waiters))
		futex(&ev->count, FUTEX_WAKE_PRIVATE, 1);
}

static int threads_fd_add(struct rt *rt, int fd)
{
	(void)rt;
	(void)fd;
	return 0; /* blocking fds are what this model is about */
}

static int threads_close(struct rt *rt, int fd)
{
	(void)rt;
	return close(fd) ? -errno : 0;
}

static ssize_t threads_read(struct rt *rt, int fd, void *buf, size_t len)
{
	ssize_t n;

	(void)rt;
	while ((n = read(fd, buf, len)) < 0 && errno == EINTR)
		;
	return n < 0 ? -errno : n;
}

static ssize_t threads_write(struct rt *rt, int fd, const void *buf, size_t len)
{
	ssize_t n;

	(void)rt;
	while ((n = write(fd, buf, len)) < 0 && errno == EINTR)
		;
	return n < 0 ? -errno : n;
}

static ssize_t threads_pread(struct rt *rt, int fd, void *buf, size_t len, off_t off)
{
	ssize_t n;

	(void)rt;
	while ((n = pread(fd, buf, len, off)) < 0 && errno == EINTR)
		;
	return n < 0 ? -errno : n;
}

static int threads_accept(struct rt *rt, int fd)
{
	int c;

	(void)rt;
	while ((c = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) < 0 && errno == EINTR)
		;
	return c < 0 ? -errno : c;
}

static const struct rt_ops threads_ops = {
	.name = "threads",
	.spawn = threads_spawn,
	.join = threads_join,
	.yield = threads_yield,
	.sleep_until = threads_sleep_until,
	.wait = threads_wait,
	.wake = threads_wake,
	.fd_add = threads_fd_add,
	.close = threads_close,
	.read = threads_read,
	.write = threads_write,
	.pread = threads_pread,
	.accept = threads_accept,
};

static int threads_probe(char *reason, size_t len)
{
	(void)reason;
	(void)len;
	return 0; /* pthreads are always there */
}

/* The first task runs on the calling thread; it must join what it spawns. */
static int threads_run(const struct task_ctx *ctx, int (*main_fn)(struct rt *, void *), void *arg,
		       struct record *rec)
{
	(void)ctx;
	struct threads_rt trt = {.base.ops = &threads_ops, .live = 1, .peak_live = 1};
	int ret = main_fn(&trt.base, arg);

	rec_metric_u64(rec, "threads_spawned", atomic_load(&trt.spawned));
	rec_metric_u64(rec, "threads_peak_live", atomic_load(&trt.peak_live));
	return ret;
}

/* The counters threads_run() adds, without the prefix. */
static const struct task_metric threads_metrics[] = {
	{.name = "spawned", .unit = "count", .help = "threads created"},
	{.name = "peak_live", .unit = "count", .help = "most threads alive at once"},
	METRIC_END,
};

const struct rt_model threads_model = {
	.metrics = {threads_metrics},
	.name = "threads",
	.traits = {.one_thread = false, .sees_deadlocks = false, .order = 0, .colour = "#0072B2"},
	.summary = "one pthread per task, blocking syscalls, futex wait/wake; the kernel schedules",
	.probe = threads_probe,
	.reserve = reserve_threads,
	.run = threads_run,
};
