/* params.h: parsing a task's parameters (main.c and tests use it). */
#ifndef SCHEDLAB_PARAMS_H
#define SCHEDLAB_PARAMS_H

#include "task.h"

#define PARAMS_MAX 64

/* Every declared parameter at its default. */
void params_init(struct task_ctx *ctx, const struct task *task, const char *model);
/* Parses argv[1..] (argv[0] is the task name); sets *model when --model is
 * given. 0, or -EINVAL with one line naming the problem and the fix. */
int params_parse(struct task_ctx *ctx, int argc, char **argv, const char **model, char *err,
		 size_t len);
int params_check_one(const struct task_param *p, const char *v, char *err, size_t len);
void params_to_record(const struct task_ctx *ctx, struct record *rec);

#endif
