/* registry.c: every execution model, in --list order. */
#include "rt.h"

/* One entry per line, so grep and diffs find each (clang-format 14 takes no
 * reason after "off": the marker stands alone). */
/* clang-format off */
const struct rt_model *const model_list[] = {
	&threads_model,
	&coro_model,
	&uring_model,
	&mn_model,
	NULL,
};
/* clang-format on */
