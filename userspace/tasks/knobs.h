/* knobs.h: the kernel's scheduling knobs as parameters. Every task has the
 * common ones (policy, priority, nice, slice_us); a task may declare a
 * prefixed set for one of its roles (preempt: hog_policy, hog_priority,
 * hog_nice, hog_slice_us) whose unset values follow the common ones.
 *
 * Where they apply: main.c sets the common knobs on its own thread before
 * the model starts; every thread created afterwards inherits them (threads'
 * task threads, the coroutine models' scheduler thread and helper threads,
 * io_uring's io-wq workers and SQPOLL thread, forked children such as
 * loadgen). docs/kernel-knobs.md has the details.
 */
#ifndef SCHEDLAB_KNOBS_H
#define SCHEDLAB_KNOBS_H

#include <stddef.h>

#include "lib/schedattr.h"
#include "task.h"

/* Which of <prefix>policy, priority, nice, slice_us the command line gave. */
enum { KNOB_POLICY = 1, KNOB_PRIORITY = 2, KNOB_NICE = 4, KNOB_SLICE = 8 };
unsigned knobs_given(const struct task_ctx *ctx, const char *prefix);

/* The knobs named <prefix>policy, <prefix>priority, <prefix>nice and
 * <prefix>slice_us, checked across each other. prefix "" is the common set,
 * whose values not given are the calling thread's own (what the process
 * inherited, before main.c applies anything); with a non-NULL `common`, a
 * prefixed policy of "same" means common's policy, and each value not given
 * takes common's where it is valid for the resulting policy. 0, or -EINVAL
 * with one line in err (bad input: exit 2). */
int knobs_resolve(const struct task_ctx *ctx, const char *prefix, const struct sched_knobs *common,
		  struct sched_knobs *out, char *err, size_t len);

#endif
