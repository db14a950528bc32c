/* coro_test.h: helpers test_coro.c and test_stacks.c share: failures run in
 * forked children with stderr captured, coroutine bodies that park for good
 * or overflow their stack, and /proc readings (resident pages, mappings)
 * that count what parked coroutines cost. Included after cmocka.h (or the
 * cross build's shim, coro/cross/cmocka_shim.h). */
#ifndef SCHEDLAB_TESTS_CORO_TEST_H
#define SCHEDLAB_TESTS_CORO_TEST_H

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coro/coro.h"

/* ThreadSanitizer gives every coroutine a fiber (coro/tsan.h) and dies past
 * 8,128 of them; a test that keeps more alive at once is skipped under it,
 * saying so (the plain and ASan builds run it). */
#define TSAN_MAX_FIBERS 8000
static inline void skip_if_too_many_for_tsan(long live)
{
#ifdef CORO_TSAN
	if (live > TSAN_MAX_FIBERS) {
		fprintf(stderr, "skipped under TSan: %ld live coroutines, TSan's limit is 8,128\n",
			live);
		skip();
	}
#else
	(void)live;
#endif
}

struct child_result {
	int status;
	char err[512];
};

/* Runs fn in a child with stderr captured; fn's return value is the exit
 * status. cmocka's SIGSEGV handler is replaced by the default first, so the
 * child dies the way the workload would. */
static inline void run_child(int (*fn)(void), struct child_result *r)
{
	int fds[2];
	ssize_t n, got = 0;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		_exit(fn());
	}
	close(fds[1]);
	memset(r->err, 0, sizeof(r->err));
	while ((n = read(fds[0], r->err + got, sizeof(r->err) - 1 - (size_t)got)) > 0)
		got += n;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &r->status, 0), pid);
}

/* Resident pages of this process, -1 when /proc cannot say. */
static inline long rss_pages(void)
{
	long size = 0, resident = -1;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident;
}

/* Mappings of this process (lines of /proc/self/maps), -1 when unreadable. */
static inline int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, ch;

	if (!f)
		return -1;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

/* A coroutine body that parks on the scheduler arg and is never readied. */
static inline void park_forever(void *arg)
{
	coro_park(arg);
}

/* Frames of 1 KiB until the stack's end: a coroutine body that overflows. */
static inline int recurse(int depth)
{
	volatile char frame[1024];

	frame[0] = (char)depth;
	frame[sizeof(frame) - 1] = (char)depth;
	if (depth > (1 << 30))
		return 0; /* never: the guard page stops it long before */
	return recurse(depth + 1) + frame[0] + frame[sizeof(frame) - 1];
}

static inline void overflow(void *arg)
{
	(void)arg;
	recurse(0);
}

#endif
