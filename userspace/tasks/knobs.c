/* knobs.c: resolving and checking the kernel-knob parameters (knobs.h). The
 * checks are the kernel's own rules, refused before anything runs rather
 * than silently ignored by sched_setattr: an RT priority means nothing to
 * other/batch/idle, nice and the EEVDF slice mean nothing to fifo/rr/idle. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "knobs.h"

static const char *key(char *buf, size_t len, const char *prefix, const char *name)
{
	snprintf(buf, len, "%s%s", prefix, name);
	return buf;
}

int knobs_resolve(const struct task_ctx *ctx, const char *prefix, const struct sched_knobs *common,
		  struct sched_knobs *out, char *err, size_t len)
{
	char kpol[48], kprio[48], knice[48], kslice[48];
	const char *pol = task_str(ctx, key(kpol, sizeof(kpol), prefix, "policy"));
	bool prio_given = task_given(ctx, key(kprio, sizeof(kprio), prefix, "priority"));
	bool nice_given = task_given(ctx, key(knice, sizeof(knice), prefix, "nice"));
	bool slice_given = task_given(ctx, key(kslice, sizeof(kslice), prefix, "slice_us"));
	uint64_t prio = task_u64(ctx, kprio), slice_us = task_u64(ctx, kslice);
	int64_t nice = task_i64(ctx, knice);

	memset(out, 0, sizeof(*out));
	out->policy = common && strcmp(pol, "same") == 0 ? common->policy : sched_policy_parse(pol);
	if (out->policy < 0) {
		snprintf(err, len, "--%s %s: not a policy", kpol, pol);
		return -EINVAL;
	}
	pol = sched_policy_name(out->policy);
	if (sched_policy_is_rt(out->policy)) {
		if (prio_given && prio == 0) {
			snprintf(err, len, "--%s 0 with policy %s: expected 1..99", kprio, pol);
			return -EINVAL;
		}
		out->priority = prio_given		     ? (int)prio
				: common && common->priority ? common->priority
							     : 1;
	} else if (prio_given) {
		snprintf(err, len,
			 "--%s %llu with policy %s: a real-time priority needs policy fifo or rr",
			 kprio, (unsigned long long)prio, pol);
		return -EINVAL;
	}
	if (!sched_policy_is_fair(out->policy)) {
		const char *bad = nice_given ? knice : slice_given ? kslice : NULL;

		if (bad) {
			snprintf(err, len,
				 "--%s with policy %s: nice and slice_us need policy other "
				 "or batch",
				 bad, pol);
			return -EINVAL;
		}
		return 0;
	}
	if (slice_given && slice_us && slice_us < SCHED_SLICE_MIN_US) {
		snprintf(err, len, "--%s %llu: expected 0 (the kernel's) or %d..%d us", kslice,
			 (unsigned long long)slice_us, SCHED_SLICE_MIN_US, SCHED_SLICE_MAX_US);
		return -EINVAL;
	}
	/* Not given: the common value, when it was meant for a fair policy too. */
	out->nice = nice_given ? (int)nice : common ? common->nice : 0;
	out->slice_ns = (slice_given || !common ? slice_us * 1000 : common->slice_ns);
	return 0;
}
