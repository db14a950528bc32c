/* stack_param.h: the model parameter `stack`, declared once for every model
 * that runs tasks as coroutines of this runtime: an entry of the model's
 * params array (struct task_param, task.h, which the includer brings):
 *
 *     static const struct task_param coro_params[] = {
 *             CORO_STACK_PARAM,
 *             ...
 *             PARAM_END,
 *     };
 *
 * The values (docs/stacks.md):
 *   guarded    an own stack per coroutine with a guard page below it
 *              (MADV_GUARD_INSTALL where the kernel has it, else mprotect)
 *   unguarded  an own stack without a guard: an overflow corrupts silently
 *   shared     no stack of its own: one shared stack per scheduler thread,
 *              the used part copied out and back on switches (coro.h)
 */
#ifndef SCHEDLAB_CORO_STACK_PARAM_H
#define SCHEDLAB_CORO_STACK_PARAM_H

#define CORO_STACK_PARAM                                                                           \
	{                                                                                          \
		.key = "stack", .type = PARAM_ENUM, .def = "guarded",                              \
		.choices = "guarded|unguarded|shared",                                             \
		.help = "tasks' stacks: own with a guard page (guarded), own without "             \
			"(unguarded), or one stack per scheduler thread copied on switches "       \
			"(shared)"                                                                 \
	}

#endif
