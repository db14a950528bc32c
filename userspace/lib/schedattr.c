/* schedattr.c: sched_setattr/sched_getattr without a libc wrapper (glibc
 * has one only since 2.41), policy names, and the reasons a request is not
 * permitted, worded for a user who wants to fix it. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "record.h"
#include "schedattr.h"

/* include/uapi/linux/sched/types.h, SCHED_ATTR_SIZE_VER0 (48 bytes). Spelled
 * out because that header redefines glibc's struct sched_param. */
struct sched_attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime; /* fair tasks: the slice (Linux 6.12+) */
	uint64_t sched_deadline;
	uint64_t sched_period;
};

/* clang-format off */
static const struct {
	const char *name;
	int policy;
} policies[] = {
	{"other", SCHED_OTHER},
	{"batch", SCHED_BATCH},
	{"idle", SCHED_IDLE},
	{"fifo", SCHED_FIFO},
	{"rr", SCHED_RR},
};
/* clang-format on */

int sched_policy_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
		if (strcmp(policies[i].name, name) == 0)
			return policies[i].policy;
	return -1;
}

const char *sched_policy_name(int policy)
{
	for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
		if (policies[i].policy == policy)
			return policies[i].name;
	return "unknown";
}

bool sched_policy_is_rt(int policy)
{
	return policy == SCHED_FIFO || policy == SCHED_RR;
}

bool sched_policy_is_fair(int policy)
{
	return policy == SCHED_OTHER || policy == SCHED_BATCH;
}

int sched_knobs_apply(pid_t tid, const struct sched_knobs *k)
{
	struct sched_attr attr = {
		.size = sizeof(attr),
		.sched_policy = (uint32_t)k->policy,
		.sched_priority = (uint32_t)k->priority,
		.sched_nice = k->nice,
		.sched_runtime = k->slice_ns,
	};

	return syscall(SYS_sched_setattr, tid, &attr, 0) ? -errno : 0;
}

int sched_knobs_read(pid_t tid, struct sched_knobs *k)
{
	struct sched_attr attr = {0};

	if (syscall(SYS_sched_getattr, tid, &attr, sizeof(attr), 0))
		return -errno;
	k->policy = (int)attr.sched_policy;
	k->priority = (int)attr.sched_priority;
	k->nice = attr.sched_nice;
	k->slice_ns = attr.sched_runtime;
	return 0;
}

bool sched_knobs_match(const struct sched_knobs *want, const struct sched_knobs *got)
{
	if (want->policy != got->policy || want->priority != got->priority)
		return false;
	if (!sched_policy_is_fair(want->policy))
		return true;
	return want->nice == got->nice && (!want->slice_ns || want->slice_ns == got->slice_ns);
}

void sched_knobs_describe(const struct sched_knobs *k, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s", sched_policy_name(k->policy));

	if (n < 0 || (size_t)n >= len)
		return;
	if (sched_policy_is_rt(k->policy))
		snprintf(buf + n, len - n, "/%d", k->priority);
	else if (sched_policy_is_fair(k->policy))
		snprintf(buf + n, len - n, " nice %d slice %lluus", k->nice,
			 (unsigned long long)(k->slice_ns / 1000));
}

void sched_knobs_refusal(const struct sched_knobs *want, int err, char *why, size_t len)
{
	struct rlimit rl = {0};
	char what[64];

	sched_knobs_describe(want, what, sizeof(what));
	if (err != -EPERM) {
		snprintf(why, len, "sched_setattr(%s): %s", what, strerror(-err));
		return;
	}
	if (sched_policy_is_rt(want->policy)) {
		getrlimit(RLIMIT_RTPRIO, &rl);
		snprintf(why, len,
			 "%s not permitted: needs CAP_SYS_NICE (root) or RLIMIT_RTPRIO >= %d "
			 "(ulimit -r is %llu), and RT runtime in this cgroup (cpu.rt_runtime_us)",
			 what, want->priority, (unsigned long long)rl.rlim_cur);
		return;
	}
	getrlimit(RLIMIT_NICE, &rl);
	snprintf(why, len,
		 "%s not permitted: a lower nice than the current one (or leaving SCHED_IDLE) "
		 "needs CAP_SYS_NICE (root) or RLIMIT_NICE (ulimit -e is %llu)",
		 what, (unsigned long long)rl.rlim_cur);
}

int sched_knobs_precheck(const struct sched_knobs *want, char *why, size_t len)
{
	int64_t rt_runtime_us, rt_period_us;

	if (sched_policy_is_rt(want->policy) &&
	    sched_rt_limits(&rt_runtime_us, &rt_period_us) == 0 && rt_runtime_us == 0) {
		snprintf(
			why, len,
			"%s: kernel.sched_rt_runtime_us is 0, so real-time threads would never run",
			sched_policy_name(want->policy));
		return -EPERM;
	}
	return 0;
}

int sched_knobs_check(const struct sched_knobs *want, const struct sched_knobs *got, char *why,
		      size_t len)
{
	char asked[64], applied[64];

	if (sched_knobs_match(want, got))
		return 0;
	sched_knobs_describe(want, asked, sizeof(asked));
	sched_knobs_describe(got, applied, sizeof(applied));
	snprintf(why, len, "asked for %s, the kernel applied %s%s", asked, applied,
		 want->slice_ns ? " (custom slices need Linux 6.12+)" : "");
	/* Before 6.12 the kernel ignores sched_runtime of a fair task. */
	if (want->slice_ns && want->policy == got->policy && want->nice == got->nice)
		return -EOPNOTSUPP;
	return -EIO;
}

int sched_knobs_apply_self(const struct sched_knobs *want, char *why, size_t len)
{
	struct sched_knobs now, got;
	bool fair = sched_policy_is_fair(want->policy);
	int err = sched_knobs_precheck(want, why, len);

	if (err)
		return err;
	/* Ask the kernel only for what differs, so that what was inherited and
	 * not asked about stays as it was: a nice alone goes through
	 * setpriority(), which leaves a custom slice alone (sched_setattr()
	 * would reset it); a thread already as wanted asks for nothing. */
	err = sched_knobs_read(0, &now);
	if (!err && (want->policy != now.policy || want->priority != now.priority ||
		     (fair && want->slice_ns != now.slice_ns)))
		err = sched_knobs_apply(0, want);
	else if (!err && fair && want->nice != now.nice &&
		 setpriority(PRIO_PROCESS, 0, want->nice)) /* this thread: Linux */
		err = errno == EACCES ? -EPERM : -errno;
	if (!err)
		err = sched_knobs_read(0, &got);
	if (err) {
		sched_knobs_refusal(want, err, why, len);
		return err;
	}
	return sched_knobs_check(want, &got, why, len);
}

void sched_knobs_record(struct record *rec, const char *prefix, const struct sched_knobs *k)
{
	char name[64];

	snprintf(name, sizeof(name), "%s_policy", prefix);
	rec_metric_str(rec, name, sched_policy_name(k->policy));
	snprintf(name, sizeof(name), "%s_priority", prefix);
	rec_metric_u64(rec, name, (uint64_t)k->priority);
	snprintf(name, sizeof(name), "%s_nice", prefix);
	rec_metric_i64(rec, name, k->nice);
	snprintf(name, sizeof(name), "%s_slice_ns", prefix);
	rec_metric_u64(rec, name, k->slice_ns);
}

static int read_sysctl(const char *path, int64_t *v)
{
	FILE *f = fopen(path, "r");
	long long x;
	int n;

	if (!f)
		return -errno;
	n = fscanf(f, "%lld", &x);
	fclose(f);
	if (n != 1)
		return -EINVAL;
	*v = x;
	return 0;
}

int sched_rt_limits(int64_t *runtime_us, int64_t *period_us)
{
	int err = read_sysctl("/proc/sys/kernel/sched_rt_runtime_us", runtime_us);

	return err ? err : read_sysctl("/proc/sys/kernel/sched_rt_period_us", period_us);
}

void sched_rt_limits_record(struct record *rec)
{
	int64_t runtime_us, period_us;

	if (sched_rt_limits(&runtime_us, &period_us))
		return;
	rec_metric_i64(rec, "sched_rt_runtime_us", runtime_us);
	rec_metric_i64(rec, "sched_rt_period_us", period_us);
}
