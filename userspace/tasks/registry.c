/* registry.c: every task the workload binary knows, in --list order.
 * Adding a task: its file in tasks/, one extern line and one entry here. */
#include "task.h"

extern const struct task pingpong_task;
extern const struct task spawn_task;
extern const struct task compute_task;
extern const struct task preempt_task;
extern const struct task counter_task;
extern const struct task timers_task;
extern const struct task echo_task;
extern const struct task fileio_task;
extern const struct task deadlock_task;

/* clang-format off: one entry per line, so grep and diffs find each */
const struct task *const task_list[] = {
	&pingpong_task, &spawn_task, &compute_task, &preempt_task,  &counter_task,
	&timers_task,	&echo_task,  &fileio_task,  &deadlock_task, NULL,
};
/* clang-format on */
