#include "task.h"
extern const struct task pingpong_task, spawn_task;
const struct task *const task_list[] = { &pingpong_task, &spawn_task, NULL };
