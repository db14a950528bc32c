/* params.h: parsing a task's parameters (main.c and tests use it). */
#ifndef SCHEDLAB_PARAMS_H
#define SCHEDLAB_PARAMS_H

#include "task.h"

#define PARAMS_MAX 64

/* Every declared parameter at its default: the task's, the model's (model
 * may be NULL: none), the common ones. */
void params_init(struct task_ctx *ctx, const struct task *task, const struct rt_model *model);
/* The value of --model in argv[1..] (also --model=NAME), or def. The model
 * must be known before parsing, since it declares parameters of its own. */
const char *params_model_name(int argc, char **argv, const char *def);
/* Parses argv[1..] (argv[0] is the task name); --model is accepted and left
 * to params_model_name. 0, or -EINVAL with one line naming the problem and
 * the fix. `models` (NULL-terminated, or NULL) lets the refusal of another
 * model's parameter name the models that declare it; params.c itself knows
 * no model, so the models can build on it. */
int params_parse(struct task_ctx *ctx, const struct rt_model *const *models, int argc, char **argv,
		 char *err, size_t len);
/* Sets one declared parameter, checked like a command-line value (tests use
 * it to pick a model's variant). 0, or -EINVAL with the reason in err. */
int params_set(struct task_ctx *ctx, const char *key, const char *value, char *err, size_t len);
/* The same for a parameter not given, whose value the run found out (the
 * nice it inherited): the record's params say it, task_given() stays false. */
int params_set_as_run(struct task_ctx *ctx, const char *key, const char *value);
int params_check_one(const struct task_param *p, const char *v, char *err, size_t len);
void params_to_record(const struct task_ctx *ctx, struct record *rec);

#endif
