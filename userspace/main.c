/* main.c: the workload binary. Parse the task and its parameters, pick the
 * model, run one cell, print one JSON record on stdout (docs/design.md).
 *
 * Exit status: 0 ok; 1 failed while running; 2 bad input (nothing ran);
 * 77 skipped (this machine cannot run it; the record says why). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/cpuset.h"
#include "lib/json.h"
#include "lib/limits.h"
#include "lib/record.h"
#include "rt.h"
#include "task.h"
#include "tasks/knobs.h"
#include "params.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_BAD_INPUT = 2, EXIT_SKIPPED = 77 };

static const char usage_text[] =
	"usage: workload TASK [--model MODEL] [--PARAM VALUE ...]\n"
	"       workload --list        every task, model and parameter, as JSON\n"
	"       workload --check TASK [--model MODEL] [--PARAM VALUE ...]\n"
	"                              refuse what the run would refuse (exit 2,\n"
	"                              one line), run nothing (exit 0)\n"
	"       workload --check -     the same for each line of stdin (the words\n"
	"                              of one command line, tab-separated): one\n"
	"                              line out per line in, \"ok\" or the refusal\n"
	"\n"
	"Runs one cell of an experiment and prints one JSON record on stdout;\n"
	"human messages go to stderr. A parameter is spelled as in configs\n"
	"(--hog_yield_us 100) or dashed (--hog-yield-us 100); booleans take\n"
	"true or false. Every task accepts --cpus LIST, --seed N, --warmup N,\n"
	"--timer_slack_ns N and the kernel's knobs for every thread it creates:\n"
	"--policy other|batch|idle|fifo|rr, --priority 1-99 (fifo, rr),\n"
	"--nice -20..19 and --slice_us 100-100000 (other, batch; 0 = kernel's);\n"
	"a knob not given keeps what the process inherited.\n"
	"\n"
	"Exit status: 0 ok, 1 failed while running, 2 bad input, 77 skipped.\n"
	"\n"
	"EXAMPLES\n"
	"  workload pingpong --model coro --iterations 1000000\n"
	"  workload pingpong --model threads --placement split --channel pipe\n"
	"  workload spawn --model coro --tasks 1000000 --stack_bytes 16384\n"
	"  workload preempt --model threads --policy fifo --priority 10 --hog_policy other\n"
	"  workload --list | python3 -m json.tool\n";

static const struct task *find_task(const char *name)
{
	for (const struct task *const *t = task_list; *t; t++)
		if (strcmp((*t)->name, name) == 0)
			return *t;
	return NULL;
}

static const struct rt_model *find_model(const char *name)
{
	for (const struct rt_model *const *m = model_list; *m; m++)
		if (strcmp((*m)->name, name) == 0)
			return *m;
	return NULL;
}

static void print_names(FILE *out, const char *what)
{
	const char *sep = "";

	if (strcmp(what, "tasks") == 0)
		for (const struct task *const *t = task_list; *t; t++, sep = ", ")
			fprintf(out, "%s%s", sep, (*t)->name);
	else
		for (const struct rt_model *const *m = model_list; *m; m++, sep = ", ")
			fprintf(out, "%s%s", sep, (*m)->name);
}

static int task_supports(const struct task *t, const char *model)
{
	if (!t->models)
		return 1;
	for (const char *const *m = t->models; *m; m++)
		if (strcmp(*m, model) == 0)
			return 1;
	return 0;
}

/* clang-format off */
static const char *const type_names[] = {
	[PARAM_U64] = "u64",
	[PARAM_BOOL] = "bool",
	[PARAM_ENUM] = "enum",
	[PARAM_STR] = "str",
	[PARAM_I64] = "i64",
	[PARAM_COUNT] = "count",
};
/* clang-format on */

static void list_param(struct json *j, const struct task_param *p)
{
	json_obj_open(j, NULL);
	json_str(j, "key", p->key);
	json_str(j, "type", type_names[p->type]);
	json_str(j, "default", p->def);
	json_str(j, "unit", p->unit);
	if (p->type == PARAM_U64 || p->type == PARAM_COUNT) {
		json_u64(j, "min", p->min);
		json_u64(j, "max", p->max);
	}
	if (p->type == PARAM_I64) {
		json_i64(j, "min", p->smin);
		json_i64(j, "max", p->smax);
	}
	if (p->type == PARAM_ENUM) {
		json_arr_open(j, "choices");
		for (const char *c = p->choices; c && *c;) {
			const char *bar = strchr(c, '|');
			char one[64];

			snprintf(one, sizeof(one), "%.*s",
				 (int)(bar ? (size_t)(bar - c) : strlen(c)), c);
			json_str(j, NULL, one);
			c = bar ? bar + 1 : c + strlen(c);
		}
		json_arr_close(j);
	}
	json_str(j, "help", p->help);
	json_obj_close(j);
}

/* clang-format off */
static const char *const kind_names[] = {
	[METRIC_NUMBER] = "number",
	[METRIC_DIST] = "distribution",
	[METRIC_TEXT] = "text",
	[METRIC_FLAG] = "flag",
};
static const char *const better_names[] = {
	[BETTER_NONE] = NULL,
	[BETTER_LOWER] = "lower",
	[BETTER_HIGHER] = "higher",
};
/* clang-format on */

/* Every metric of a METRIC_END-terminated list, its name after prefix. */
static void list_metrics(struct json *j, const struct task_metric *m, const char *prefix)
{
	char name[96];

	for (; m && m->name; m++) {
		snprintf(name, sizeof(name), "%s%s", prefix, m->name);
		json_obj_open(j, NULL);
		json_str(j, "name", name);
		json_str(j, "kind", kind_names[m->kind]);
		json_str(j, "unit", m->unit);
		json_str(j, "better", better_names[m->better]);
		json_bool(j, "headline", m->headline);
		json_bool(j, "optional", m->optional);
		json_str(j, "help", m->help);
		json_obj_close(j);
	}
}

static int list_everything(void)
{
	struct json j;
	struct task_ctx ctx;
	char reason[256], prefix[32];

	json_init(&j, stdout);
	json_obj_open(&j, NULL);
	json_u64(&j, "schema", RECORD_SCHEMA);
	json_bool(&j, "check", true); /* --check exists: the harness checks cells with it */
	json_arr_open(&j, "tasks");
	for (const struct task *const *t = task_list; *t; t++) {
		json_obj_open(&j, NULL);
		json_str(&j, "name", (*t)->name);
		json_str(&j, "summary", (*t)->summary);
		json_arr_open(&j, "models");
		for (const struct rt_model *const *m = model_list; *m; m++)
			if (task_supports(*t, (*m)->name))
				json_str(&j, NULL, (*m)->name);
		json_arr_close(&j);
		json_str(&j, "skip_reason", (*t)->skip_reason);
		params_init(&ctx, *t, NULL);
		json_arr_open(&j, "params");
		for (int i = 0; i < ctx.nvalues; i++)
			list_param(&j, ctx.specs[i]);
		json_arr_close(&j);
		json_arr_open(&j, "metrics");
		list_metrics(&j, (*t)->metrics, "");
		list_metrics(&j, common_metrics, "");
		json_arr_close(&j);
		json_obj_close(&j);
	}
	json_arr_close(&j);
	json_arr_open(&j, "models");
	for (const struct rt_model *const *m = model_list; *m; m++) {
		int err;

		reason[0] = '\0';
		err = (*m)->probe(reason, sizeof(reason));
		json_obj_open(&j, NULL);
		json_str(&j, "name", (*m)->name);
		json_str(&j, "summary", (*m)->summary);
		json_bool(&j, "available", err == 0);
		json_str(&j, "reason", err ? reason : NULL);
		json_obj_open(&j, "traits");
		json_bool(&j, "one_thread", (*m)->traits.one_thread);
		json_bool(&j, "sees_deadlocks", (*m)->traits.sees_deadlocks);
		json_i64(&j, "order", (*m)->traits.order);
		json_str(&j, "colour", (*m)->traits.colour);
		json_obj_close(&j);
		json_arr_open(&j, "params");
		for (const struct task_param *p = (*m)->params; p && p->key; p++)
			list_param(&j, p);
		json_arr_close(&j);
		snprintf(prefix, sizeof(prefix), "%s_", (*m)->name);
		json_arr_open(&j, "metrics");
		for (size_t i = 0; i < sizeof((*m)->metrics) / sizeof((*m)->metrics[0]); i++)
			list_metrics(&j, (*m)->metrics[i], prefix);
		json_arr_close(&j);
		json_obj_close(&j);
	}
	json_arr_close(&j);
	json_obj_close(&j);
	fputc('\n', stdout);
	return EXIT_OK;
}

static int run_main(struct rt *rt, void *arg)
{
	struct task_ctx *ctx = arg;

	return ctx->task->run(rt, ctx);
}

static uint64_t start_ns; /* process start: the record's wall time */

static int finish(struct record *rec)
{
	static const int codes[] = {
		[REC_OK] = EXIT_OK,
		[REC_FAILED] = EXIT_FAILED,
		[REC_SKIPPED] = EXIT_SKIPPED,
	};
	int code = codes[rec_status(rec)];

	limits_restore();
	if (rec_reason(rec))
		fprintf(stderr, "workload: %s\n", rec_reason(rec));
	rec_emit(rec, stdout, start_ns);
	rec_free(rec);
	return code;
}

/* ctx->exit_now: the tasks may be blocked for good (a deadlock of threads
 * cannot be joined), so the record goes out now and _exit ends every thread;
 * the model's own counters, added after run(), are not in it. */
static void exit_now(struct task_ctx *ctx)
{
	int code;

	if (ctx->task->teardown)
		ctx->task->teardown(ctx);
	code = finish(ctx->rec);
	fflush(stdout);
	_exit(code);
}

/* Timer slack: Linux lets a sleep end up to 50 us late by default, and that
 * applies to clock_nanosleep (threads) and epoll_wait (coro) but not to
 * io_uring timeouts, so left alone it would bias every comparison of sleeps.
 * It is per thread and inherited by threads created later, so setting it
 * here, before the model starts, covers every task and helper thread. */
static int apply_timer_slack(struct task_ctx *ctx)
{
	uint64_t slack_ns = task_u64(ctx, "timer_slack_ns");
	int got;

	if (slack_ns && prctl(PR_SET_TIMERSLACK, (unsigned long)slack_ns, 0, 0, 0)) {
		rec_fail(ctx->rec, "prctl(PR_SET_TIMERSLACK, %llu): %s",
			 (unsigned long long)slack_ns, strerror(errno));
		return 1;
	}
	got = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	if (got >= 0)
		rec_metric_u64(ctx->rec, "timer_slack_ns", (uint64_t)got);
	return 0;
}

/* The kernel's knobs: set on this thread before the model starts, so every
 * thread and child created afterwards inherits them (knobs.h). The record
 * carries what the kernel reports back, and the RT throttling in force when
 * a real-time policy is asked for. Not permitted here: skipped, never run
 * at other values than asked. */
static int apply_sched(struct task_ctx *ctx, const struct sched_knobs *want)
{
	struct sched_knobs got;
	char why[256];
	int err = sched_knobs_apply_self(want, why, sizeof(why));

	if (err == -EPERM || err == -EOPNOTSUPP) {
		rec_skip(ctx->rec, "%s", why);
		return 1;
	}
	if (err) { /* -EIO: it applied other values than asked without an error */
		rec_fail(ctx->rec, "%s", why);
		return 1;
	}
	if (sched_knobs_read(0, &got) == 0)
		sched_knobs_record(ctx->rec, "sched", &got);
	if (sched_policy_is_rt(want->policy))
		sched_rt_limits_record(ctx->rec);
	return 0;
}

/* The record's params are as run: a knob not given is what the process
 * inherited (nice 19 under `nice -n 19`), fifo/rr without --priority ran at
 * the inherited RT priority or 1. The slice is left as asked (0: none): the
 * kernel cannot tell an inherited custom slice from its base one, and
 * sched_slice_ns says what was in force. */
static void knobs_as_run(struct task_ctx *ctx, const struct sched_knobs *k)
{
	static char prio[16], nice[16];

	snprintf(prio, sizeof(prio), "%d", k->priority);
	snprintf(nice, sizeof(nice), "%d", k->nice);
	params_set_as_run(ctx, "policy", sched_policy_name(k->policy));
	params_set_as_run(ctx, "priority", prio);
	params_set_as_run(ctx, "nice", nice);
}

/* Everything that can be found wrong before anything runs, in the order a
 * user would fix it: parameters, the knobs across each other, the task's and
 * the model's rules (which may depend on the CPUs, so the CPU list is
 * applied first). --check stops here; `schedlab run` calls it for every cell
 * of a config, so a config and the workload refuse the same things. 0, or
 * EXIT_BAD_INPUT with one line on stderr. */
static int prepare(struct task_ctx *ctx, const struct task *task, const struct rt_model *model,
		   int argc, char **argv, struct sched_knobs *knobs)
{
	char err[512];

	params_init(ctx, task, model);
	if (params_parse(ctx, model_list, argc, argv, err, sizeof(err)) ||
	    knobs_resolve(ctx, "", NULL, knobs, err, sizeof(err))) {
		fprintf(stderr, "workload: %s: %s\n", task->name, err);
		return EXIT_BAD_INPUT;
	}
	knobs_as_run(ctx, knobs);
	if (task->validate && task->validate(ctx, err, sizeof(err))) {
		fprintf(stderr, "workload: %s: %s\n", task->name, err);
		return EXIT_BAD_INPUT;
	}
	if (*task_str(ctx, "cpus") && cpuset_apply(task_str(ctx, "cpus"), err, sizeof(err))) {
		fprintf(stderr, "workload: %s\n", err);
		return EXIT_BAD_INPUT;
	}
	if (model->validate && model->validate(ctx, err, sizeof(err))) {
		fprintf(stderr, "workload: %s: %s\n", model->name, err);
		return EXIT_BAD_INPUT;
	}
	return 0;
}

/* argv[0] is the task: the task, the model and every check before a run
 * (prepare). 0, or EXIT_BAD_INPUT with one line on stderr. */
static int resolve_cell(int argc, char **argv, struct task_ctx *ctx, const struct task **task,
			const struct rt_model **model, struct sched_knobs *knobs)
{
	const char *model_name;

	*task = find_task(argv[0]);
	if (!*task) {
		fprintf(stderr, "workload: unknown task '%s': valid tasks are ", argv[0]);
		print_names(stderr, "tasks");
		fputc('\n', stderr);
		return EXIT_BAD_INPUT;
	}
	model_name = params_model_name(argc, argv, "threads");
	*model = find_model(model_name);
	if (!*model) {
		fprintf(stderr, "workload: unknown model '%s': valid models are ", model_name);
		print_names(stderr, "models");
		fputc('\n', stderr);
		return EXIT_BAD_INPUT;
	}
	return prepare(ctx, *task, *model, argc, argv, knobs);
}

/* One cell's check in a child of its own (a fork, no exec: cheap), since a
 * check pins the CPUs and parsing keeps state: "ok", or its one line. */
static void check_one(int argc, char **argv)
{
	char out[1024], *last;
	size_t used = 0;
	ssize_t n;
	int pipefd[2], status = 0;
	pid_t pid;

	fflush(stdout);
	if (pipe2(pipefd, O_CLOEXEC) || (pid = fork()) < 0) {
		printf("workload: --check: %s\n", strerror(errno));
		return;
	}
	if (pid == 0) {
		const struct task *task;
		const struct rt_model *model;
		struct task_ctx ctx;
		struct sched_knobs knobs;

		dup2(pipefd[1], STDERR_FILENO);
		_exit(resolve_cell(argc, argv, &ctx, &task, &model, &knobs));
	}
	close(pipefd[1]);
	for (;;) { /* to the end, so the child never blocks; a long tail is dropped */
		char drop[256];

		if (used < sizeof(out) - 1)
			n = read(pipefd[0], out + used, sizeof(out) - 1 - used);
		else
			n = read(pipefd[0], drop, sizeof(drop));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (used < sizeof(out) - 1)
			used += (size_t)n;
	}
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	out[used] = '\0';
	while (used && out[used - 1] == '\n')
		out[--used] = '\0';
	last = strrchr(out, '\n') ? strrchr(out, '\n') + 1 : out;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		puts("ok");
	else if (*last)
		puts(last);
	else
		printf("workload: --check ended with status %d\n", status);
}

/* --check -: one cell per line of stdin, its words separated by tabs (TASK,
 * --model, MODEL, --key, value, ...); one line out per line in, "ok" or the
 * refusal, so that the harness checks a whole config with one exec. */
static int check_lines(void)
{
	char *line = NULL, *words[2 * PARAMS_MAX + 8];
	const int max_words = (int)(sizeof(words) / sizeof(*words)) - 1;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		char *rest = line, *w;
		int nwords = 0;

		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		while ((w = strsep(&rest, "\t")) && nwords < max_words)
			words[nwords++] = w;
		words[nwords] = NULL;
		check_one(nwords, words);
	}
	free(line);
	fflush(stdout);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	const struct task *task;
	const struct rt_model *model;
	struct task_ctx ctx;
	struct sched_knobs knobs;
	struct record *rec;
	char reason[256];
	bool check_only = false;
	int ret;

	start_ns = now_ns();
	if (argc < 2) {
		fputs(usage_text, stderr);
		return EXIT_BAD_INPUT;
	}
	if (strcmp(argv[1], "--list") == 0)
		return list_everything();
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage_text, stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--check") == 0 && argc == 3 && strcmp(argv[2], "-") == 0)
		return check_lines();
	if (strcmp(argv[1], "--check") == 0 && argc > 2) {
		check_only = true;
		argc--;
		argv++;
	}
	ret = resolve_cell(argc - 1, argv + 1, &ctx, &task, &model, &knobs);
	if (ret || check_only)
		return ret;

	rec = rec_new(task->name, model->name);
	if (!rec) {
		fputs("workload: out of memory\n", stderr);
		return EXIT_FAILED;
	}
	ctx.rec = rec;
	ctx.exit_now = exit_now;
	params_to_record(&ctx, rec);
	if (!task_supports(task, model->name)) {
		rec_skip(rec, "%s under %s: %s", task->name, model->name,
			 task->skip_reason ? task->skip_reason : "not meaningful for this model");
		return finish(rec);
	}
	reason[0] = '\0';
	if (model->probe(reason, sizeof(reason))) {
		rec_skip(rec, "model %s unavailable: %s", model->name, reason);
		return finish(rec);
	}

	limits_install_handlers();
	if (apply_timer_slack(&ctx) || apply_sched(&ctx, &knobs))
		return finish(rec);
	/* A peer that hangs up must surface as -EPIPE from rt_write, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (task->setup && task->setup(&ctx) && rec_status(rec) == REC_OK)
		rec_fail(rec, "%s: setup failed", task->name);
	if (rec_status(rec) == REC_OK) {
		ret = model->run(&ctx, run_main, &ctx, rec);
		if (ret == -EDEADLK && task->stalled)
			task->stalled(&ctx);
		else if (ret == -EDEADLK)
			rec_fail(rec, "model %s: deadlock: every task waits for another",
				 model->name);
		else if (ret < 0)
			rec_fail(rec, "model %s: %s", model->name, strerror(-ret));
		else if (ret > 0 && rec_status(rec) == REC_OK)
			rec_fail(rec, "%s failed without saying why", task->name);
	}
	if (task->teardown)
		task->teardown(&ctx);
	return finish(rec);
}
