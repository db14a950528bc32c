/* reserve.h: the rt_model.reserve hooks, one per kind of runtime. What N
 * live tasks cost the kernel is a property of the model (a thread is a
 * task_struct, a pid and a stack mapping; a coroutine a stack mapping at
 * most), so the model, not the task, raises the limits they would hit. */
#ifndef SCHEDLAB_RESERVE_H
#define SCHEDLAB_RESERVE_H

#include "rt.h"

/* One kernel thread per task: mappings, threads-max, pid_max, RLIMIT_NPROC. */
int reserve_threads(const struct task_ctx *ctx, const struct rt_demand *demand);
/* Coroutines on a fixed set of threads: mappings of guarded stacks, only
 * where guards are mprotect'ed pages. The model declares the parameter
 * `stack` (models/co/stack_param.h). */
int reserve_coroutines(const struct task_ctx *ctx, const struct rt_demand *demand);

#endif
