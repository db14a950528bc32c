/* knobs.c: resolving and checking the kernel-knob parameters (knobs.h). The
 * checks are the kernel's own rules, refused before anything runs rather
 * than silently ignored by sched_setattr: an RT priority means nothing to
 * other/batch/idle, nice and the EEVDF slice mean nothing to fifo/rr/idle.
 * A knob not given keeps what the process inherited: a workload started
 * under `nice -n 19` runs at 19, and asks the kernel for nothing. */
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

unsigned knobs_given(const struct task_ctx *ctx, const char *prefix)
{
	static const char *const names[] = {"policy", "priority", "nice", "slice_us"};
	static const unsigned bits[] = {KNOB_POLICY, KNOB_PRIORITY, KNOB_NICE, KNOB_SLICE};
	unsigned given = 0;
	char k[48];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (task_given(ctx, key(k, sizeof(k), prefix, names[i])))
			given |= bits[i];
	return given;
}

/* What the calling thread runs at now: the base the common knobs not given
 * keep. A thread that cannot read its own attributes is treated as at the
 * kernel's defaults. */
static struct sched_knobs inherited(void)
{
	struct sched_knobs now = {.policy = SCHED_OTHER};

	if (sched_knobs_read(0, &now))
		now = (struct sched_knobs){.policy = SCHED_OTHER};
	return now;
}

int knobs_resolve(const struct task_ctx *ctx, const char *prefix, const struct sched_knobs *common,
		  struct sched_knobs *out, char *err, size_t len)
{
	char kpol[48], kprio[48], knice[48], kslice[48];
	const char *pol = task_str(ctx, key(kpol, sizeof(kpol), prefix, "policy"));
	unsigned given = knobs_given(ctx, prefix);
	bool prio_given = given & KNOB_PRIORITY, nice_given = given & KNOB_NICE;
	bool slice_given = given & KNOB_SLICE;
	uint64_t prio = task_u64(ctx, key(kprio, sizeof(kprio), prefix, "priority"));
	uint64_t slice_us = task_u64(ctx, key(kslice, sizeof(kslice), prefix, "slice_us"));
	int64_t nice = task_i64(ctx, key(knice, sizeof(knice), prefix, "nice"));
	/* The common set starts from what the process inherited (nice 19 under
	 * `nice -n 19`), a role's set from the common one. */
	struct sched_knobs base = common ? *common : inherited();
	bool base_kept;

	memset(out, 0, sizeof(*out));
	if (common)
		out->policy = strcmp(pol, "same") == 0 ? common->policy : sched_policy_parse(pol);
	else
		out->policy = (given & KNOB_POLICY) ? sched_policy_parse(pol) : base.policy;
	if (out->policy < 0) {
		snprintf(err, len, "--%s %s: not a policy", kpol, pol);
		return -EINVAL;
	}
	pol = sched_policy_name(out->policy);
	if (!strcmp(pol, "unknown") && given) {
		/* SCHED_DEADLINE, say: we cannot tell what its knobs would mean */
		snprintf(err, len,
			 "the inherited policy (%d) is none of other, batch, idle, fifo, rr: "
			 "give --%s too",
			 out->policy, kpol);
		return -EINVAL;
	}
	/* Values the base had for the same class of policy carry over. */
	base_kept = sched_policy_is_rt(out->policy) ? sched_policy_is_rt(base.policy)
						    : sched_policy_is_fair(base.policy);
	if (sched_policy_is_rt(out->policy)) {
		if (prio_given && prio == 0) {
			snprintf(err, len, "--%s 0 with policy %s: expected 1..99", kprio, pol);
			return -EINVAL;
		}
		out->priority = prio_given		     ? (int)prio
				: base_kept && base.priority ? base.priority
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
	out->nice = nice_given ? (int)nice : base_kept ? base.nice : 0;
	out->slice_ns = slice_given ? slice_us * 1000 : base_kept ? base.slice_ns : 0;
	return 0;
}
