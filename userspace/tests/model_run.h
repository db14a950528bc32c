/* model_run.h: running a task body under one execution model, for the
 * model tests (test_models.c, the conformance suite every model passes, and
 * the tests of one model's own features: test_uring.c, test_mn.c).
 *
 * The model is set per cmocka group (`model`); a model parameter can be set
 * for the whole group (group_key: every coroutine model runs the suite again
 * under stack=shared) and for the runs that follow (use_variant). The
 * record of a run comes back as its JSON line. Checks run after model->run()
 * returns, never inside a task: a cmocka failure longjmps, which must not
 * happen on a coroutine stack or another thread.
 */
#ifndef SCHEDLAB_TESTS_MODEL_RUN_H
#define SCHEDLAB_TESTS_MODEL_RUN_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/record.h"
#include "params.h"
#include "rt.h"
#include "task.h"

#define MODEL_RUN_API static __attribute__((unused))

static const struct rt_model *model; /* the model of the running group */
static const char *variant_key, *variant_value;
static const char *group_key, *group_value;
static const struct task model_run_task = {.name = "test_models"};

/* Skips the case, with the reason, where this machine cannot run the model. */
MODEL_RUN_API void need_model(void)
{
	char reason[256] = "";

	if (model->probe(reason, sizeof(reason)) != 0) {
		print_message("skip %s: %s\n", model->name, reason);
		skip();
	}
}

/* A model parameter set for the runs that follow (NULL key: defaults). */
MODEL_RUN_API void use_variant(const char *key, const char *value)
{
	variant_key = key;
	variant_value = value;
}

/* The model's parameters at their defaults, but for the group's and the
 * variant's. */
MODEL_RUN_API void model_ctx(struct task_ctx *ctx, struct record *rec)
{
	char err[256];

	params_init(ctx, &model_run_task, model);
	ctx->rec = rec;
	if (group_key && params_set(ctx, group_key, group_value, err, sizeof(err)))
		fail_msg("group %s=%s: %s", group_key, group_value, err);
	if (variant_key && params_set(ctx, variant_key, variant_value, err, sizeof(err)))
		fail_msg("variant %s=%s: %s", variant_key, variant_value, err);
}

/* A value the model must refuse before it runs (main.c: exit 2). */
MODEL_RUN_API void expect_bad_variant(const char *key, const char *value)
{
	struct task_ctx ctx;
	char err[256];

	params_init(&ctx, &model_run_task, model);
	assert_int_equal(params_set(&ctx, key, value, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, key));
}

/* Runs main_fn under the model; returns what run() returned. If out is not
 * NULL, the record's JSON line is stored there (caller frees). */
MODEL_RUN_API int run_model(int (*main_fn)(struct rt *, void *), void *arg, char **out)
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

/* The number after key ("\"coro_parked\":") in a record; fails without it. */
MODEL_RUN_API unsigned long long record_u64(const char *json, const char *key)
{
	const char *at = strstr(json, key);

	if (!at)
		fail_msg("%s not in %s", key, json);
	return strtoull(at + strlen(key), NULL, 10);
}

static void model_run_child(void *p)
{
	(void)p;
}

static int model_run_minimal(struct rt *rt, void *p)
{
	struct rt_task *t;

	(void)p;
	if (rt_spawn(rt, model_run_child, NULL, NULL, &t))
		return 1;
	rt_yield(rt);
	return rt_join(rt, t);
}

/* The record of a minimal run (a spawn, a yield, a join) holds needle. */
MODEL_RUN_API void expect_in_record(const char *needle)
{
	char *json = NULL;

	assert_int_equal(run_model(model_run_minimal, NULL, &json), 0);
	if (!strstr(json, needle))
		fail_msg("%s not in %s", needle, json);
	free(json);
}

#endif
