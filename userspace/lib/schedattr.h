/* schedattr.h: a thread's kernel scheduling attributes (policy, real-time
 * priority, nice, EEVDF slice), applied with sched_setattr() and read back
 * with sched_getattr(), so a record states what the kernel applied rather
 * than what was asked.
 *
 * Inheritance (Linux): a thread created by clone()/pthread_create with the
 * default PTHREAD_INHERIT_SCHED, and a forked child, start with their
 * creator's policy, priority, nice and custom slice (sched_reset_on_fork is
 * never set here). test_schedattr checks it on a spawned thread.
 */
#ifndef SCHEDLAB_SCHEDATTR_H
#define SCHEDLAB_SCHEDATTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct record;

struct sched_knobs {
	int policy;	   /* SCHED_OTHER, SCHED_BATCH, SCHED_IDLE, SCHED_FIFO, SCHED_RR */
	int priority;	   /* 1..99 under fifo/rr; 0 otherwise */
	int nice;	   /* -20..19 under other/batch; 0 otherwise */
	uint64_t slice_ns; /* other/batch: asked, 0 = the kernel's base slice;
			    * read back: the slice in force (Linux 6.12+ reports
			    * the base slice when no custom one is set) */
};

/* The EEVDF custom slice range: the kernel clamps sched_runtime of a fair
 * task to [0.1 ms, 100 ms] (kernel/sched/syscalls.c); we refuse values it
 * would change rather than record one it did not apply. */
#define SCHED_SLICE_MIN_US 100
#define SCHED_SLICE_MAX_US 100000

/* "other" -> SCHED_OTHER, ...; -1 if unknown. */
int sched_policy_parse(const char *name);
const char *sched_policy_name(int policy); /* "other", ...; "unknown" */
bool sched_policy_is_rt(int policy);	   /* fifo, rr */
bool sched_policy_is_fair(int policy);	   /* other, batch: nice and slice apply */

/* tid 0 is the calling thread. 0 or -errno. */
int sched_knobs_apply(pid_t tid, const struct sched_knobs *k);
int sched_knobs_read(pid_t tid, struct sched_knobs *k);

/* Whether `got` (read back) is what `want` asked for; a slice of 0 asked
 * matches any slice in force. */
bool sched_knobs_match(const struct sched_knobs *want, const struct sched_knobs *got);
/* "fifo/10", "other nice 5 slice 750us": for messages. */
void sched_knobs_describe(const struct sched_knobs *k, char *buf, size_t len);

/* Whether `got` (read back) is what `want` asked: 0; -EOPNOTSUPP when the
 * kernel ignored a custom slice (before 6.12: skip); -EIO otherwise. Writes
 * one line into why unless 0. */
int sched_knobs_check(const struct sched_knobs *want, const struct sched_knobs *got, char *why,
		      size_t len);
/* Before asking: -EPERM with one line in why when want cannot be applied
 * here for a reason the kernel would not name (RT with sched_rt_runtime_us
 * 0: the thread would never run), else 0. */
int sched_knobs_precheck(const struct sched_knobs *want, char *why, size_t len);
/* One line saying why sched_setattr(want) failed with err (EPERM: which
 * privilege or limit is missing). */
void sched_knobs_refusal(const struct sched_knobs *want, int err, char *why, size_t len);

/* Applies want to the calling thread and checks the read-back: only what
 * differs from the thread's current attributes is asked for (nothing when
 * they are already as wanted). 0 when the kernel applied it; otherwise
 * writes one line into why and returns -EPERM (not permitted here: the
 * caller skips), -EOPNOTSUPP (the kernel ignored part of it: no custom
 * slices before 6.12: skip too) or another -errno (a failure). */
int sched_knobs_apply_self(const struct sched_knobs *want, char *why, size_t len);

/* Adds <prefix>_policy, _priority, _nice, _slice_ns to the record's metrics. */
void sched_knobs_record(struct record *rec, const char *prefix, const struct sched_knobs *k);

/* RT throttling: /proc/sys/kernel/sched_rt_runtime_us (-1: none) and
 * sched_rt_period_us. 0, or -errno when unreadable. */
int sched_rt_limits(int64_t *runtime_us, int64_t *period_us);
/* sched_rt_runtime_us and sched_rt_period_us into the record's metrics, when
 * readable: the RT throttling a real-time thread of the run was under. */
void sched_rt_limits_record(struct record *rec);

#endif
