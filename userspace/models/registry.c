/* registry.c: every execution model, in --list order. */
#include "rt.h"

const struct rt_model *const model_list[] = {
	&threads_model,
	&coro_model,
	&uring_model,
	NULL,
};

#include "lib/clock.h"

int rt_sleep_ns(struct rt *rt, uint64_t ns)
{
	return rt_sleep_until(rt, now_ns() + ns);
}
