/* limits.c: raise kernel limits for one run and restore them on every exit
 * path (see limits.h). The saved values live in a static table so that a
 * signal handler can restore them with write(2) alone. */
#include "limits.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "record.h"

#define MAX_SAVED 8

struct saved_sysctl {
	char path[160];
	char name[64];
	char old_value[32];
	size_t old_len;
	long long set_value; /* what we wrote: restore only while it is still there */
	volatile sig_atomic_t active;
};

static struct saved_sysctl saved[MAX_SAVED];
static volatile sig_atomic_t nsaved;
static struct record *saved_rec; /* to mark restored limits in the record */

/* "vm.max_map_count" -> "/proc/sys/vm/max_map_count" */
static void sysctl_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "/proc/sys/%s", name);
	for (char *p = buf + strlen("/proc/sys/"); *p; p++)
		if (*p == '.')
			*p = '/';
}

int64_t limit_sysctl_read(const char *name)
{
	char path[160], buf[64];
	ssize_t n;
	int fd;

	sysctl_path(path, sizeof(path), name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

static int sysctl_write(const char *path, const char *value, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, value, len);
	if (n != (ssize_t)len)
		err = n < 0 ? -errno : -EIO;
	close(fd);
	return err;
}

int limit_sysctl_at_least(struct record *rec, const char *name, uint64_t min_value, char *why,
			  size_t why_len)
{
	char path[160], value[32], old_text[32];
	int64_t cur = limit_sysctl_read(name);
	struct saved_sysctl *s;
	int err, len;

	if (cur < 0) {
		snprintf(why, why_len, "cannot read %s: %s", name, strerror((int)-cur));
		return (int)cur;
	}
	if ((uint64_t)cur >= min_value)
		return 0;
	if (nsaved == MAX_SAVED) {
		snprintf(why, why_len, "too many limits raised at once");
		return -ENOSPC;
	}
	sysctl_path(path, sizeof(path), name);
	snprintf(old_text, sizeof(old_text), "%lld", (long long)cur);
	len = snprintf(value, sizeof(value), "%llu\n", (unsigned long long)min_value);
	s = &saved[nsaved];
	snprintf(s->path, sizeof(s->path), "%s", path);
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->old_len = (size_t)snprintf(s->old_value, sizeof(s->old_value), "%s\n", old_text);
	err = sysctl_write(path, value, (size_t)len);
	if (err) {
		snprintf(why, why_len, "%s is %lld, needs %llu: cannot raise it (%s)%s", name,
			 (long long)cur, (unsigned long long)min_value, strerror(-err),
			 geteuid() ? "; run as root" : "");
		return err;
	}
	s->set_value = (long long)min_value;
	s->active = 1;
	nsaved++;
	saved_rec = rec;
	value[len - 1] = '\0';
	if (rec)
		rec_limit(rec, name, old_text, value);
	fprintf(stderr, "limits: raised %s from %s to %s for this run\n", name, old_text, value);
	return 0;
}

static int rlimit_at_least(struct record *rec, int resource, const char *name, uint64_t min_value,
			   char *why, size_t why_len)
{
	struct rlimit rl, want;
	char old_text[48], new_text[32];

	if (getrlimit(resource, &rl))
		return -errno;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= min_value)
		return 0;
	if (rl.rlim_cur == RLIM_INFINITY)
		return 0;
	want = rl;
	want.rlim_cur = min_value;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < min_value)
		want.rlim_max = min_value; /* needs CAP_SYS_RESOURCE */
	if (setrlimit(resource, &want)) {
		int err = -errno;

		snprintf(why, why_len, "%s is %llu (hard %llu), needs %llu: %s%s", name,
			 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
			 (unsigned long long)min_value, strerror(-err),
			 geteuid() ? "; run as root" : "");
		return err;
	}
	/* A process rlimit dies with the process: nothing to restore. */
	snprintf(old_text, sizeof(old_text), "%llu", (unsigned long long)rl.rlim_cur);
	snprintf(new_text, sizeof(new_text), "%llu", (unsigned long long)min_value);
	if (rec) {
		rec_limit(rec, name, old_text, new_text);
		rec_limit_restored(rec, name);
	}
	return 0;
}

int limit_nofile_at_least(struct record *rec, uint64_t min_value, char *why, size_t why_len)
{
	return rlimit_at_least(rec, RLIMIT_NOFILE, "RLIMIT_NOFILE", min_value, why, why_len);
}

int limit_nproc_at_least(struct record *rec, uint64_t min_value, char *why, size_t why_len)
{
	return rlimit_at_least(rec, RLIMIT_NPROC, "RLIMIT_NPROC", min_value, why, why_len);
}

/* Async-signal-safe: open/write/close only, newest first. */
/* Another run may have raised the same limit after us (two workloads at
 * once): then the value is theirs, and lowering it would pull the limit from
 * under them. Async-signal-safe: open/read/close and no stdio. */
static int still_ours(const struct saved_sysctl *s)
{
	char buf[32];
	long long v = 0;
	ssize_t n;
	int fd = open(s->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
		v = v * 10 + (buf[i] - '0');
	return v == s->set_value;
}

static void restore_raw(void)
{
	for (int i = nsaved - 1; i >= 0; i--) {
		if (!saved[i].active)
			continue;
		saved[i].active = 0;
		if (still_ours(&saved[i]))
			(void)sysctl_write(saved[i].path, saved[i].old_value, saved[i].old_len);
	}
}

void limits_restore(void)
{
	for (int i = nsaved - 1; i >= 0; i--) {
		if (!saved[i].active)
			continue;
		if (!still_ours(&saved[i])) {
			saved[i].active = 0;
			fprintf(stderr,
				"limits: %s was changed by someone else during the run: "
				"left as it is\n",
				saved[i].name);
			continue;
		}
		if (sysctl_write(saved[i].path, saved[i].old_value, saved[i].old_len) == 0) {
			saved[i].active = 0;
			if (saved_rec)
				rec_limit_restored(saved_rec, saved[i].name);
		} else {
			fprintf(stderr, "limits: could not restore %s to %.*s\n", saved[i].name,
				(int)saved[i].old_len - 1, saved[i].old_value);
		}
	}
}

static void on_signal(int sig)
{
	restore_raw();
	signal(sig, SIG_DFL);
	raise(sig);
}

void limits_install_handlers(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	struct sigaction sa = {.sa_handler = on_signal};

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	atexit(limits_restore);
}
