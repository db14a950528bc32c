/* limits.h: raising kernel limits for a run, and putting them back.
 *
 * docs/design.md: a workload raises a limit only as root, records the old and new
 * values in the record, and restores them on every exit path (normal exit,
 * SIGINT, SIGTERM, SIGHUP: limits_install_handlers() arranges that). Without
 * the right to raise it, the call fails with a reason naming the limit, and
 * the task ends the cell with status 1.
 */
#ifndef SCHEDLAB_LIMITS_H
#define SCHEDLAB_LIMITS_H

#include <stddef.h>
#include <stdint.h>

struct record;

/* Ensures the sysctl `name` (as sysctl(8) spells it: "vm.max_map_count") is at
 * least min_value. 0 if it already was or was raised (recorded in rec), else
 * -errno with a one-line reason in why. */
int limit_sysctl_at_least(struct record *rec, const char *name, uint64_t min_value, char *why,
			  size_t why_len);
/* Same for RLIMIT_NOFILE (soft, raising hard too when root), RLIMIT_NPROC. */
int limit_nofile_at_least(struct record *rec, uint64_t min_value, char *why, size_t why_len);
int limit_nproc_at_least(struct record *rec, uint64_t min_value, char *why, size_t why_len);
/* Current value of a sysctl, or -errno. */
int64_t limit_sysctl_read(const char *name);

/* Restores every sysctl raised so far (idempotent, async-signal-safe). */
void limits_restore(void);
/* atexit + signal handlers that restore, then re-raise the signal. */
void limits_install_handlers(void);

#endif
