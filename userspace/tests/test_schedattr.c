/* Description: the kernel's knobs (lib/schedattr.c): policy names, that a
 * thread created with pthread_create inherits its creator's policy, nice and
 * custom EEVDF slice (and, as root, SCHED_FIFO with its priority), which is
 * what lets main.c set them once for every thread of a run; the read-back
 * check (an ignored custom slice is "unsupported", another difference a
 * failure); and rt_spawn_opts.sched under every model: either the task's
 * own thread reports exactly the attributes asked while the spawner's stay
 * as they were, or the spawn is refused with -EOPNOTSUPP, never run at
 * other values; and that io_uring's io-wq worker, created by the kernel for
 * a request forced async, inherits them too. Checks run on the test's
 * thread, after the threads they inspect have finished.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/record.h"
#include "lib/schedattr.h"
#include "rt.h"
#include "task.h"
#include "params.h"

static void test_policy_names(void **state)
{
	static const char *const names[] = {"other", "batch", "idle", "fifo", "rr"};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_string_equal(sched_policy_name(sched_policy_parse(names[i])), names[i]);
	assert_int_equal(sched_policy_parse("deadline"), -1);
	assert_true(sched_policy_is_rt(SCHED_FIFO) && sched_policy_is_rt(SCHED_RR));
	assert_false(sched_policy_is_rt(SCHED_OTHER) || sched_policy_is_rt(SCHED_IDLE));
	assert_true(sched_policy_is_fair(SCHED_BATCH) && !sched_policy_is_fair(SCHED_IDLE));
}

/* A parent thread applies `want` to itself, then creates a child; both read
 * themselves back. Threads keep the test's own thread untouched. */
struct inherit {
	struct sched_knobs want, parent, child;
	int apply_err, parent_err, child_err;
};

static void *inherit_child(void *p)
{
	struct inherit *in = p;

	in->child_err = sched_knobs_read(0, &in->child);
	return NULL;
}

static void *inherit_parent(void *p)
{
	struct inherit *in = p;
	pthread_t child;

	in->apply_err = sched_knobs_apply(0, &in->want);
	if (in->apply_err)
		return NULL;
	in->parent_err = sched_knobs_read(0, &in->parent);
	if (pthread_create(&child, NULL, inherit_child, in) == 0)
		pthread_join(child, NULL);
	else
		in->child_err = -EAGAIN;
	return NULL;
}

static void check_inherited(const struct sched_knobs *want)
{
	struct inherit in = {.want = *want};
	pthread_t parent;

	assert_int_equal(pthread_create(&parent, NULL, inherit_parent, &in), 0);
	assert_int_equal(pthread_join(parent, NULL), 0);
	if (in.apply_err == -EPERM) {
		print_message("skip: not permitted here (needs root)\n");
		skip();
	}
	assert_int_equal(in.apply_err, 0);
	assert_int_equal(in.parent_err, 0);
	assert_int_equal(in.child_err, 0);
	assert_true(sched_knobs_match(want, &in.parent));
	assert_int_equal(in.child.policy, want->policy);
	assert_int_equal(in.child.priority, want->priority);
	assert_int_equal(in.child.nice, want->nice);
	assert_int_equal(in.child.slice_ns, in.parent.slice_ns);
}

static void test_inherit_fair(void **state)
{
	struct sched_knobs want = {.policy = SCHED_BATCH, .nice = 5, .slice_ns = 300000};
	struct sched_knobs self;

	(void)state;
	assert_int_equal(sched_knobs_read(0, &self), 0);
	if (self.slice_ns == 0) {
		print_message("skip: this kernel reports no fair slice (custom slices: 6.12+)\n");
		skip();
	}
	/* the slice is read back exactly, so an ignored one would show */
	check_inherited(&want);
	want.slice_ns = 0;
	check_inherited(&want);
}

static void test_inherit_fifo(void **state)
{
	struct sched_knobs want = {.policy = SCHED_FIFO, .priority = 7};

	(void)state;
	check_inherited(&want);
}

/* A thread at `want` sets up a ring and forces a read of an empty pipe to
 * io-wq; while it waits, the worker (comm "iou-wrk-*") is read back. */
struct iowq {
	struct sched_knobs want, worker;
	int err, found;
};

static int find_iowq_worker(struct sched_knobs *out)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int found = 0;

	while (d && !found && (e = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && strncmp(comm, "iou-wrk-", 8) == 0)
			found = sched_knobs_read(atoi(e->d_name), out) == 0;
		fclose(f);
	}
	if (d)
		closedir(d);
	return found;
}

static void *iowq_thread(void *p)
{
	struct iowq *w = p;
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	char byte;
	int fds[2];

	w->err = sched_knobs_apply(0, &w->want);
	if (w->err)
		return NULL;
	w->err = io_uring_queue_init(4, &ring, 0);
	if (w->err)
		return NULL;
	if (pipe(fds)) {
		w->err = -errno;
		io_uring_queue_exit(&ring);
		return NULL;
	}
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read(sqe, fds[0], &byte, 1, 0);
	sqe->flags |= IOSQE_ASYNC;
	io_uring_submit(&ring);
	/* the worker is created when the request is queued; poll for it */
	for (int i = 0; i < 1000 && !w->found; i++) {
		w->found = find_iowq_worker(&w->worker);
		if (!w->found)
			usleep(1000);
	}
	if (write(fds[1], "x", 1) == 1 && io_uring_wait_cqe(&ring, &cqe) == 0)
		io_uring_cqe_seen(&ring, cqe);
	close(fds[0]);
	close(fds[1]);
	io_uring_queue_exit(&ring);
	return NULL;
}

static void test_inherit_iowq(void **state)
{
	struct iowq w = {.want = {.policy = SCHED_BATCH, .nice = 5, .slice_ns = 300000}};
	struct sched_knobs self;
	pthread_t t;

	(void)state;
	/* before 6.12 there is no slice to inherit */
	if (sched_knobs_read(0, &self) || self.slice_ns == 0)
		w.want.slice_ns = 0;
	assert_int_equal(pthread_create(&t, NULL, iowq_thread, &w), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	if (w.err) {
		print_message("skip: io_uring here: %s\n", strerror(-w.err));
		skip();
	}
	assert_true(w.found);
	assert_int_equal(w.worker.policy, SCHED_BATCH);
	assert_int_equal(w.worker.nice, 5);
	if (w.want.slice_ns)
		assert_int_equal(w.worker.slice_ns, w.want.slice_ns);
}

static void test_check(void **state)
{
	struct sched_knobs want = {.policy = SCHED_OTHER, .slice_ns = 300000};
	struct sched_knobs base = {.policy = SCHED_OTHER, .slice_ns = 1400000};
	struct sched_knobs fifo = {.policy = SCHED_FIFO, .priority = 1};
	char why[256];

	(void)state;
	assert_int_equal(sched_knobs_check(&want, &base, why, sizeof(why)), -EOPNOTSUPP);
	assert_non_null(strstr(why, "6.12"));
	assert_int_equal(sched_knobs_check(&want, &fifo, why, sizeof(why)), -EIO);
	want.slice_ns = 0; /* the kernel's: any slice in force matches */
	assert_int_equal(sched_knobs_check(&want, &base, why, sizeof(why)), 0);
	want.nice = 3;
	assert_int_equal(sched_knobs_check(&want, &base, why, sizeof(why)), -EIO);
}

/* ---- rt_spawn_opts.sched under every model --------------------------------------------- */

struct spawned {
	struct sched_knobs want, task, spawner_before, spawner_after;
	int spawn_err, task_err;
};

static void spawned_task(void *p)
{
	struct spawned *s = p;

	s->task_err = sched_knobs_read(0, &s->task);
}

static int spawn_main(struct rt *rt, void *p)
{
	struct spawned *s = p;
	struct rt_spawn_opts opts = {.cpu = -1, .sched = &s->want};
	struct rt_task *t;

	sched_knobs_read(0, &s->spawner_before);
	s->spawn_err = rt_spawn(rt, spawned_task, s, &opts, &t);
	if (!s->spawn_err)
		s->spawn_err = rt_join(rt, t);
	sched_knobs_read(0, &s->spawner_after);
	return 0;
}

static const struct task test_task = {.name = "test_schedattr"};

static void test_spawn_sched(void **state)
{
	(void)state;
	for (const struct rt_model *const *m = model_list; *m; m++) {
		struct spawned s = {.want = {.policy = SCHED_BATCH, .nice = 7}};
		struct record *rec = rec_new("test_schedattr", (*m)->name);
		struct task_ctx ctx;
		char reason[256] = "";

		if ((*m)->probe(reason, sizeof(reason))) {
			print_message("%s unavailable: %s\n", (*m)->name, reason);
			rec_free(rec);
			continue;
		}
		params_init(&ctx, &test_task, *m);
		ctx.rec = rec;
		assert_int_equal((*m)->run(&ctx, spawn_main, &s, rec), 0);
		rec_free(rec);
		print_message("%s: spawn with attributes: %s\n", (*m)->name,
			      s.spawn_err ? strerror(-s.spawn_err) : "applied");
		/* the spawner's own thread never changes */
		assert_int_equal(s.spawner_after.policy, s.spawner_before.policy);
		assert_int_equal(s.spawner_after.nice, s.spawner_before.nice);
		if (s.spawn_err) {
			assert_int_equal(s.spawn_err, -EOPNOTSUPP);
			continue;
		}
		assert_int_equal(s.task_err, 0);
		assert_int_equal(s.task.policy, SCHED_BATCH);
		assert_int_equal(s.task.nice, 7);
	}
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_names), cmocka_unit_test(test_inherit_fair),
		cmocka_unit_test(test_inherit_fifo), cmocka_unit_test(test_inherit_iowq),
		cmocka_unit_test(test_check),	     cmocka_unit_test(test_spawn_sched),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
