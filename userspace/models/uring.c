/* The uring model lands in a following commit; until then it reports itself
 * unavailable, so every cell under it is skipped with this reason. */
#include <errno.h>
#include <stdio.h>
#include "rt.h"

static int uring_probe(char *reason, size_t len)
{
	snprintf(reason, len, "the uring model is not implemented yet");
	return -ENOSYS;
}

static int uring_run(int (*main_fn)(struct rt *, void *), void *arg, struct record *rec)
{
	(void)main_fn;
	(void)arg;
	(void)rec;
	return -ENOSYS;
}

const struct rt_model uring_model = {
	.name = "uring",
	.summary = "not implemented yet",
	.probe = uring_probe,
	.run = uring_run,
};
