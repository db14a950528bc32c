/* Description: how coroutine stacks are made (userspace/coro/stack.c,
 * copystack.c). Shared stacks: the locals of coroutines taking turns on one
 * stack survive every switch (values, the addresses of their own frame,
 * 64-byte alignment, a recursion deep enough to grow the saved copy past
 * several pages) whether the switch comes from another shared coroutine,
 * from an own-stack one or from the scheduler; a finished owner is not saved;
 * a parked shared coroutine costs under 1 KiB of RSS; an overflow of the
 * shared stack is reported like one of an own stack; a pointer into a shared
 * stack handed out aborts with its message (debug builds). Guarded own
 * stacks: where the kernel has MADV_GUARD_INSTALL, 10,000 of them add far
 * fewer than 10,000 mappings, and an overflow into the guard is still the
 * documented message (the test says which guard method it covered); with
 * MADV_GUARD_INSTALL refused by a seccomp filter (as on a kernel before
 * 6.13), the runtime falls back to mprotect guards (a mapping more per
 * stack) and an overflow gives the same message.
 *
 * Built for aarch64 under qemu by scripts/test-aarch64 too (-DCORO_TEST_SHIM),
 * without the seccomp case: qemu-user's own syscalls would meet the filter.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef CORO_TEST_SHIM
#include "coro/cross/cmocka_shim.h"
#else
#include <cmocka.h>
#endif

#include "coro/coro.h"
#include "tests/coro_test.h"

/* ---- locals on a shared stack ------------------------------------------------ */

#define TAKERS 4
#define DEPTH  64 /* frames of ~200 bytes: the saved copy grows to ~13 KiB */

struct taker {
	struct coro_sched *s;
	int id;
	int bad_value, bad_address, bad_align;
	int frames;
};

static uint64_t mark(int id, int depth, int i)
{
	return ((uint64_t)id << 40) ^ ((uint64_t)depth << 20) ^ (uint64_t)i ^ 0x5a5a5a5aull;
}

/* Fills its frame, yields (another coroutine rewrites the shared stack),
 * checks, recurses, yields and checks again on the way back. */
static int __attribute__((noinline)) descend(struct taker *t, int depth)
{
	volatile uint64_t local[16];
	_Alignas(64) volatile unsigned char aligned[64];
	volatile uint64_t *volatile seen = local; /* kept in memory, not recomputed */
	int i, below = 0;

	for (i = 0; i < 16; i++)
		local[i] = mark(t->id, depth, i);
	memset((void *)aligned, t->id + depth, sizeof(aligned));
	if ((uintptr_t)aligned % 64)
		t->bad_align++;
	coro_yield(t->s);
	for (i = 0; i < 16; i++)
		t->bad_value += local[i] != mark(t->id, depth, i);
	t->bad_address += seen != local;
	if (depth > 0)
		below = descend(t, depth - 1);
	coro_yield(t->s);
	for (i = 0; i < 16; i++)
		t->bad_value += seen[i] != mark(t->id, depth, i);
	for (i = 0; i < 64; i++)
		t->bad_value += aligned[i] != (unsigned char)(t->id + depth);
	return below + 1;
}

static void taker_main(void *arg)
{
	struct taker *t = arg;

	t->frames = descend(t, DEPTH);
}

static void check_takers(const struct taker *t, int n)
{
	for (int i = 0; i < n; i++) {
		assert_int_equal(t[i].frames, DEPTH + 1);
		assert_int_equal(t[i].bad_value, 0);
		assert_int_equal(t[i].bad_address, 0);
		assert_int_equal(t[i].bad_align, 0);
	}
}

/* Shared coroutines hand the stack to each other (through the copier). */
static void test_shared_locals_survive(void **state)
{
	struct coro_opts opts = {.stack_bytes = 64 * 1024, .stack = CORO_STACK_SHARED};
	struct taker t[TAKERS];
	struct coro_sched s;

	(void)state;
	assert_int_equal(coro_sched_init(&s), 0);
	for (int i = 0; i < TAKERS; i++) {
		t[i] = (struct taker){.s = &s, .id = i + 1};
		assert_int_equal(coro_spawn(&s, &opts, taker_main, &t[i], NULL), 0);
	}
	coro_sched_run(&s);
	check_takers(t, TAKERS);
	/* one shared stack for all of them, and every switch moved frames */
	assert_int_equal(s.stats.stack_maps, 1);
	assert_true(s.stats.stack_copies > 2 * TAKERS * DEPTH);
	assert_true(s.stats.copy_bytes > s.stats.stack_copies * 64);
	coro_sched_destroy(&s);
}

/* An own-stack coroutine between the shared ones (copies done in place),
 * and a budget that sends every resume through the scheduler's context. */
static void test_shared_mixed_with_own(void **state)
{
	struct coro_opts shared = {.stack_bytes = 64 * 1024, .stack = CORO_STACK_SHARED};
	struct coro_opts own = {.stack_bytes = 64 * 1024};
	struct taker t[TAKERS];
	struct coro_sched s;

	(void)state;
	assert_int_equal(coro_sched_init(&s), 0);
	for (int i = 0; i < TAKERS; i++) {
		t[i] = (struct taker){.s = &s, .id = i + 1};
		assert_int_equal(coro_spawn(&s, i == 1 ? &own : &shared, taker_main, &t[i], NULL),
				 0);
	}
	while (coro_sched_live(&s))
		coro_sched_run_max(&s, 1);
	check_takers(t, TAKERS);
	coro_sched_destroy(&s);
}

/* A coroutine that ends is not saved: its successor's restore is the only
 * copy. */
static void count_one(void *arg)
{
	(*(int *)arg)++;
}

static void test_shared_finished_owner_not_saved(void **state)
{
	struct coro_opts opts = {.stack_bytes = 16384, .stack = CORO_STACK_SHARED};
	struct coro_sched s;
	int ran = 0;

	(void)state;
	assert_int_equal(coro_sched_init(&s), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(coro_spawn(&s, &opts, count_one, &ran, NULL), 0);
	coro_sched_run(&s);
	assert_int_equal(ran, 100);
	/* each started on an empty frame after an owner that had finished */
	assert_int_equal(s.stats.stack_copies, 0);
	coro_sched_destroy(&s);
}

/* ---- memory ------------------------------------------------------------------ */

static void test_shared_rss_per_parked(void **state)
{
	enum { N = 20000 };
	struct coro_opts opts = {.stack_bytes = 16384, .stack = CORO_STACK_SHARED};
	struct coro_sched s;
	long before, after;
	double bytes_each;

	(void)state;
	skip_if_too_many_for_tsan(N);
	assert_int_equal(coro_sched_init(&s), 0);
	before = rss_pages();
	if (before < 0)
		skip();
	for (int i = 0; i < N; i++)
		assert_int_equal(coro_spawn(&s, &opts, park_forever, &s, NULL), 0);
	coro_sched_run(&s);
	assert_int_equal(s.stats.parked, N);
	after = rss_pages();
	bytes_each = (double)(after - before) * (double)sysconf(_SC_PAGESIZE) / N;
	print_message("RSS per parked shared-stack coroutine: %.0f bytes (control block %zu)\n",
		      bytes_each, sizeof(struct coro));
	assert_true(bytes_each < 1024);
	coro_sched_destroy(&s);
}

/* Guards installed with MADV_GUARD_INSTALL are no mapping of their own. */
static void test_guarded_stacks_share_mappings(void **state)
{
	enum { N = 10000 };
	struct coro_opts opts = {.stack_bytes = 16384};
	struct coro_sched s;
	int before, after;

	(void)state;
	skip_if_too_many_for_tsan(N);
	if (strcmp(coro_guard_method(), "madv_guard_install")) {
		print_message("skip: guards are %s here (MADV_GUARD_INSTALL needs Linux 6.13)\n",
			      coro_guard_method());
		skip();
	}
	assert_int_equal(coro_sched_init(&s), 0);
	before = count_maps();
	for (int i = 0; i < N; i++)
		assert_int_equal(coro_spawn(&s, &opts, park_forever, &s, NULL), 0);
	coro_sched_run(&s);
	after = count_maps();
	print_message("%d guarded stacks: %d more mappings (%llu arenas)\n", N, after - before,
		      (unsigned long long)s.stats.arena_maps);
	assert_true(after - before < N / 100);
	coro_sched_destroy(&s);
}

/* ---- failures, in forked children -------------------------------------------- */

static int overflow_child(int shared)
{
	struct coro_opts opts = {.stack_bytes = 16384,
				 .stack = shared ? CORO_STACK_SHARED : CORO_STACK_GUARDED};
	struct coro_sched s;

	if (coro_sched_init(&s) != 0)
		return 3;
	/* id 2: the message must name the one that overflowed; the first
	 * parks on the same stack, so the overflow happens after a copy */
	if (coro_spawn(&s, &opts, park_forever, &s, NULL) != 0 ||
	    coro_spawn(&s, &opts, overflow, NULL, NULL) != 0)
		return 4;
	coro_sched_run(&s);
	return 5; /* not reached: the overflow aborts */
}

static int child_overflow_shared(void)
{
	return overflow_child(1);
}

static int child_overflow_own(void)
{
	return overflow_child(0);
}

static void expect_overflow_message(int (*fn)(void))
{
	struct child_result r;

	run_child(fn, &r);
	assert_true(WIFSIGNALED(r.status));
	assert_int_equal(WTERMSIG(r.status), SIGABRT);
	assert_non_null(strstr(
		r.err,
		"coro: stack overflow in coroutine 2 (stack 16384 bytes): raise stack_bytes"));
}

static void test_shared_overflow_reported(void **state)
{
	(void)state;
	expect_overflow_message(child_overflow_shared);
}

static void test_guard_overflow_reported(void **state)
{
	(void)state;
	print_message("guard method: %s\n", coro_guard_method());
	expect_overflow_message(child_overflow_own);
}

static struct coro_sched check_sched;

static void hand_out_local(void *arg)
{
	int local = 0;

	(void)arg;
	coro_stack_check(&check_sched, &local, "the event it waits on");
}

static void hand_out_heap(void *arg)
{
	coro_stack_check(&check_sched, arg, "its rt_spawn argument");
	*(int *)arg = 1;
}

static int child_stack_check(void)
{
	struct coro_opts opts = {.stack_bytes = 16384, .stack = CORO_STACK_SHARED};
	int *heap = malloc(sizeof(*heap));

	if (!heap || coro_sched_init(&check_sched) != 0)
		return 3;
	*heap = 0;
	/* id 1 passes (heap memory), id 2 aborts (its own frame) */
	if (coro_spawn(&check_sched, &opts, hand_out_heap, heap, NULL) != 0 ||
	    coro_spawn(&check_sched, &opts, hand_out_local, NULL, NULL) != 0)
		return 4;
	coro_sched_run(&check_sched);
	return *heap == 1 ? 5 : 6;
}

static void test_shared_pointer_check(void **state)
{
	struct child_result r;

	(void)state;
#ifdef NDEBUG
	skip(); /* the check is compiled out */
#endif
	run_child(child_stack_check, &r);
	assert_true(WIFSIGNALED(r.status));
	assert_int_equal(WTERMSIG(r.status), SIGABRT);
	assert_non_null(strstr(r.err, "coro: coroutine 2 hands out the event it waits on at "));
	assert_non_null(strstr(r.err, "inside its shared stack"));
}

/* ---- the mprotect fallback ------------------------------------------------------
 * The guard method is probed once per process, so the child re-executes
 * this program under a seccomp filter that refuses madvise(MADV_GUARD_INSTALL)
 * with EINVAL, as a kernel before 6.13 does. */
#define FALLBACK_ARG "--mprotect-fallback-child"

static int fallback_child(void)
{
	struct coro_opts opts = {.stack_bytes = 16384};
	struct coro_sched s;
	int before, after;

	if (strcmp(coro_guard_method(), "mprotect"))
		return 10;
	if (coro_sched_init(&s) != 0)
		return 11;
	before = count_maps();
	for (int i = 0; i < 100; i++)
		if (coro_spawn(&s, &opts, park_forever, &s, NULL) != 0)
			return 12;
	coro_sched_run(&s);
	after = count_maps();
	if (after - before < 100) /* a PROT_NONE page splits every stack */
		return 13;
	if (coro_spawn(&s, &opts, overflow, NULL, NULL) != 0)
		return 14;
	coro_sched_run(&s);
	return 15; /* not reached: the overflow aborts */
}

static char *self_exe;

static int exec_under_filter(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_madvise, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 102 /* MADV_GUARD_INSTALL */, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};
	char *argv[] = {self_exe, FALLBACK_ARG, NULL};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return 20;
	execv(self_exe, argv);
	return 21;
}

static void test_mprotect_fallback(void **state)
{
	struct child_result r;

	(void)state;
#ifdef CORO_TEST_SHIM
	skip();
#endif
	run_child(exec_under_filter, &r);
	if (WIFEXITED(r.status))
		print_message(
			"child exit %d (10: method not mprotect, 13: no mapping per guard): %s\n",
			WEXITSTATUS(r.status), r.err);
	assert_true(WIFSIGNALED(r.status));
	assert_int_equal(WTERMSIG(r.status), SIGABRT);
	assert_non_null(strstr(
		r.err,
		"coro: stack overflow in coroutine 101 (stack 16384 bytes): raise stack_bytes"));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_locals_survive),
		cmocka_unit_test(test_shared_mixed_with_own),
		cmocka_unit_test(test_shared_finished_owner_not_saved),
		cmocka_unit_test(test_shared_rss_per_parked),
		cmocka_unit_test(test_guarded_stacks_share_mappings),
		cmocka_unit_test(test_shared_overflow_reported),
		cmocka_unit_test(test_guard_overflow_reported),
		cmocka_unit_test(test_shared_pointer_check),
		cmocka_unit_test(test_mprotect_fallback),
	};

	if (argc == 2 && strcmp(argv[1], FALLBACK_ARG) == 0) {
		signal(SIGSEGV, SIG_DFL);
		return fallback_child();
	}
	self_exe = argv[0];

	return cmocka_run_group_tests(tests, NULL, NULL);
}
