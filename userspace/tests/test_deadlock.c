/* Description: the deadlock task under every model of model_list, with and
 * without yield_between. Each cell runs in a child process, as main.c runs
 * it (a watchdog that finds threads deadlocked ends the process through
 * ctx->exit_now, and only a process of its own may end that way); the
 * parent checks the child exits 0 with one ok record whose metrics agree:
 * deadlocked is 0 or 1, and 1 exactly when rounds_done < rounds;
 * detected_by is none without a deadlock, runtime or watchdog with one.
 * The one-thread coroutine models (coro, uring) never deadlock without the
 * yield and always deadlock in the first round with it, found by their
 * scheduler; other models may go either way. Nothing here depends on how
 * long anything takes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/record.h"
#include "rt.h"
#include "task.h"
#include "params.h"

#define ROUNDS "20000"

static const struct rt_model *model; /* the model of the running group */

static const struct task *deadlock_task(void)
{
	for (const struct task *const *t = task_list; *t; t++)
		if (strcmp((*t)->name, "deadlock") == 0)
			return *t;
	fail_msg("no task named deadlock in task_list");
	return NULL;
}

/* ---- the child: main.c's path, reduced to what the task needs ---------------------------- */

static void child_exit(struct task_ctx *ctx)
{
	int code = rec_status(ctx->rec) == REC_OK ? 0 : 1;

	rec_emit(ctx->rec, stdout, 0);
	fflush(stdout);
	_exit(code);
}

static int run_main(struct rt *rt, void *arg)
{
	struct task_ctx *ctx = arg;

	return ctx->task->run(rt, ctx);
}

/* A scheduler that sees deadlocks must find one itself, so its watchdog
 * waits long enough (10 s) never to win the race on a slow, sanitized, loaded
 * machine; under threads only the watchdog can find one, and 20 ms keeps the
 * test short. */
static char *stall_ms(void)
{
	return model->traits.sees_deadlocks ? "10000" : "20";
}

static void child(bool yield_between)
{
	char *argv[] = {
		"deadlock",
		"--rounds",
		ROUNDS,
		"--stall_ms",
		stall_ms(),
		"--yield_between",
		yield_between ? "true" : "false",
		NULL,
	};
	const struct task *task = deadlock_task();
	struct task_ctx ctx;
	char err[256];
	int ret;

	params_init(&ctx, task, model);
	if (params_parse(&ctx, model_list, 7, argv, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		_exit(2);
	}
	ctx.rec = rec_new(task->name, model->name);
	if (!ctx.rec)
		_exit(3);
	ctx.exit_now = child_exit;
	ret = model->run(&ctx, run_main, &ctx, ctx.rec);
	if (ret == -EDEADLK)
		task->stalled(&ctx);
	else if (ret)
		rec_fail(ctx.rec, "run: %d", ret);
	child_exit(&ctx);
}

/* ---- the parent -------------------------------------------------------------------------- */

struct outcome {
	char json[8192];
	unsigned long long deadlocked, rounds, rounds_done;
};

static unsigned long long metric_u64(const char *json, const char *name)
{
	char key[64];
	const char *at;

	snprintf(key, sizeof(key), "\"%s\":", name);
	at = strstr(json, key);
	if (!at)
		fail_msg("%s not in %s", key, json);
	return strtoull(at + strlen(key), NULL, 10);
}

static bool detected_by(const char *json, const char *who)
{
	char key[64];

	snprintf(key, sizeof(key), "\"detected_by\":\"%s\"", who);
	return strstr(json, key) != NULL;
}

static void run_cell(bool yield_between, struct outcome *o)
{
	char reason[256] = "";
	size_t len = 0;
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	if (model->probe(reason, sizeof(reason))) {
		print_message("skip %s: %s\n", model->name, reason);
		skip();
	}
	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		if (dup2(fds[1], STDOUT_FILENO) < 0)
			_exit(3);
		child(yield_between);
	}
	close(fds[1]);
	while (len < sizeof(o->json) - 1 &&
	       (n = read(fds[0], o->json + len, sizeof(o->json) - 1 - len)) > 0)
		len += (size_t)n;
	o->json[len] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* one record, ok */
	assert_non_null(strchr(o->json, '\n'));
	assert_int_equal(strchr(o->json, '\n') - o->json, (long)len - 1);
	assert_non_null(strstr(o->json, "\"status\":\"ok\""));
	o->deadlocked = metric_u64(o->json, "deadlocked");
	o->rounds = metric_u64(o->json, "rounds");
	o->rounds_done = metric_u64(o->json, "rounds_done");
	assert_int_equal(o->rounds, strtoull(ROUNDS, NULL, 10));
	assert_true(o->deadlocked <= 1);
	assert_int_equal(o->deadlocked, o->rounds_done < o->rounds);
	if (o->deadlocked && model->traits.sees_deadlocks)
		assert_true(detected_by(o->json, "runtime"));
	else if (o->deadlocked)
		assert_true(detected_by(o->json, "watchdog"));
	else
		assert_true(detected_by(o->json, "none"));
}

/* One thread that sees every parked task: nothing runs between two locks
 * that no yield separates, and a yield between them always deadlocks. */
static bool one_thread_coroutines(void)
{
	return model->traits.one_thread && model->traits.sees_deadlocks;
}

static void test_no_yield(void **state)
{
	struct outcome o;

	(void)state;
	run_cell(false, &o);
	if (one_thread_coroutines())
		assert_int_equal(o.deadlocked, 0);
}

static void test_yield_between(void **state)
{
	struct outcome o;

	(void)state;
	run_cell(true, &o);
	if (one_thread_coroutines()) {
		assert_int_equal(o.deadlocked, 1);
		assert_int_equal(o.rounds_done, 0);
	}
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_yield),
		cmocka_unit_test(test_yield_between),
	};
	int failed = 0;

	for (const struct rt_model *const *m = model_list; *m; m++) {
		/* `test_deadlock coro` runs one model's group */
		if (argc > 1 && strcmp(argv[1], (*m)->name))
			continue;
		model = *m;
		failed += cmocka_run_group_tests_name(model->name, tests, NULL, NULL);
	}
	return failed ? 1 : 0;
}
