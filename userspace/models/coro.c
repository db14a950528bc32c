/* The coro model lands in a following commit; until then it reports itself
 * unavailable, so every cell under it is skipped with this reason. */
#include <errno.h>
#include <stdio.h>
#include "rt.h"

static int coro_probe(char *reason, size_t len)
{
	snprintf(reason, len, "the coro model is not implemented yet");
	return -ENOSYS;
}

static int coro_run(int (*main_fn)(struct rt *, void *), void *arg, struct record *rec)
{
	(void)main_fn;
	(void)arg;
	(void)rec;
	return -ENOSYS;
}

const struct rt_model coro_model = {
	.name = "coro",
	.summary = "not implemented yet",
	.probe = coro_probe,
	.run = coro_run,
};
