/* stack_param.h: the model parameter `stack`, declared once for every model
 * that runs tasks as coroutines of this runtime, each listing the kinds it
 * supports (enum coro_stack, docs/stacks.md), in an entry of its params
 * array (struct task_param, task.h):
 *
 *     static const struct task_param coro_params[] = {
 *             CORO_STACK_PARAM("guarded|unguarded|shared"),
 *             ...
 *             PARAM_END,
 *     };
 *
 * The kinds:
 *   guarded    an own stack per coroutine with a guard page below it
 *              (MADV_GUARD_INSTALL where the kernel has it, else mprotect)
 *   unguarded  an own stack without a guard: an overflow corrupts silently
 *   shared     no stack of its own: one shared stack per scheduler thread,
 *              the used part copied out and back on switches (coro.h)
 * A kind a model leaves out is bad input under it (exit 2), as any value
 * not declared.
 */
#ifndef SCHEDLAB_CORO_STACK_PARAM_H
#define SCHEDLAB_CORO_STACK_PARAM_H

#include "coro/coro.h"
#include "task.h"

#define CORO_STACK_PARAM(kinds)                                                                    \
	{                                                                                          \
		.key = "stack", .type = PARAM_ENUM, .def = "guarded", .choices = (kinds),          \
		.help = "tasks' stacks: own with a guard page (guarded), own without "             \
			"(unguarded), or one stack per scheduler thread copied on switches "       \
			"(shared), of those this model lists"                                      \
	}

/* The run's `stack` (its value passed the parameter's check). */
static inline enum coro_stack co_stack_param(const struct task_ctx *ctx)
{
	int kind = coro_stack_parse(task_str(ctx, "stack"));

	return kind < 0 ? CORO_STACK_GUARDED : (enum coro_stack)kind;
}

#endif
