/* probe_table.c: every probe, in the order they load (probe.h). An `always`
 * probe first: the others share its maps. */
#include "probe.h"

extern const struct probe_ops track_probe, sched_probe, uring_probe, usdt_probe, delay_probe,
	stacks_probe;

/* clang-format off */
const struct probe_ops *const probe_table[] = {
	&track_probe,
	&sched_probe,
	&uring_probe,
	&usdt_probe,
	&delay_probe,
	&stacks_probe,
	NULL,
};
/* clang-format on */
