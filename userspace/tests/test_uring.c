/* Description: what only the uring model has, beside the contract every
 * model passes (test_models.c): its timer heap's one timeout moved earlier
 * for a nearer sleeper, each ring setup asked for being the one used (and
 * every request completing), and its probe when a seccomp filter refuses
 * io_uring_setup (one line naming the step and the errno, never a crash).
 * Skips, with the reason, where this machine cannot run uring.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/clock.h"
#include "model_run.h"
#include "rt.h"

/* ---- uring's timer heap: one timeout re-armed for an earlier deadline -------------------- */

struct rearm_ctx {
	struct rt *rt;
	uint64_t base_ns, far_ns, near_ns, far_woke_ns, near_woke_ns;
	int far_ret, near_ret;
};

static void far_sleeper(void *p)
{
	struct rearm_ctx *ctx = p;

	ctx->far_ret = rt_sleep_until(ctx->rt, ctx->far_ns);
	ctx->far_woke_ns = now_ns();
}

static int rearm_main(struct rt *rt, void *p)
{
	struct rearm_ctx *ctx = p;
	struct rt_task *t;
	int err;

	ctx->rt = rt;
	ctx->base_ns = now_ns();
	ctx->far_ns = ctx->base_ns + 200000000ull;
	if (rt_spawn(rt, far_sleeper, ctx, NULL, &t))
		return 1;
	/* the far sleeper parks; the second yield polls, which arms the
	 * heap's timeout for the far deadline; the near sleep must then
	 * move it earlier. Its deadline is taken after the yields, so that a
	 * slow machine (a sanitizer build) cannot make it due before it is
	 * asked for; the far one leaves it ample room. */
	rt_yield(rt);
	rt_yield(rt);
	ctx->near_ns = now_ns() + 2000000ull;
	ctx->near_ret = rt_sleep_until(rt, ctx->near_ns);
	ctx->near_woke_ns = now_ns();
	err = rt_join(rt, t);
	return err;
}

static void test_uring_timers(void **state)
{
	struct rearm_ctx ctx = {0};
	char *json = NULL;

	(void)state;
	need_model();
	assert_int_equal(run_model(rearm_main, &ctx, &json), 0);
	assert_int_equal(ctx.near_ret, 0);
	assert_int_equal(ctx.far_ret, 0);
	assert_true(ctx.near_woke_ns >= ctx.near_ns); /* never early */
	assert_true(ctx.far_woke_ns >= ctx.far_ns);
	assert_true(ctx.near_woke_ns < ctx.far_woke_ns);
	if (!strstr(json, "\"uring_timers\":\"heap\""))
		fail_msg("default timers not heap: %s", json);
	assert_true(record_u64(json, "\"uring_timer_rearms\":") >= 1);
	assert_true(record_u64(json, "\"uring_timer_wakeups\":") == 2);
	free(json);
}

/* ---- each ring setup asked for is the one used ----------------------------------------- */

/* test_models runs the contract under every uring_setup; this kernel takes
 * every one, so each must also be the one the record says was set up (an
 * older kernel falls further: the record's fallback then says why). And
 * every request submitted completed. */
static void test_setups_used(void **state)
{
	static const char *const setups[][2] = {
		{"defer_taskrun", "single_issuer|defer_taskrun|taskrun_flag"},
		{"coop_taskrun", "single_issuer|coop_taskrun|taskrun_flag"},
		{"coop_shared", "coop_taskrun|taskrun_flag"},
		{"none", "none"},
	};
	char needle[128];

	(void)state;
	need_model();
	for (size_t i = 0; i < sizeof(setups) / sizeof(setups[0]); i++) {
		struct rearm_ctx ctx = {0};
		char *json = NULL;

		use_variant("uring_setup", setups[i][0]);
		snprintf(needle, sizeof(needle), "\"uring_setup_flags\":\"%s\"", setups[i][1]);
		assert_int_equal(run_model(rearm_main, &ctx, &json), 0);
		if (!strstr(json, needle) && !strstr(json, "\"uring_setup_fallback\":\"\""))
			print_message("note: %s refused here\n", setups[i][1]);
		else if (!strstr(json, needle))
			fail_msg("asked for %s, got %s", setups[i][0], json);
		assert_true(record_u64(json, "\"uring_sqes\":") > 0);
		assert_int_equal(record_u64(json, "\"uring_sqes\":"),
				 record_u64(json, "\"uring_cqes\":"));
		free(json);
	}
	use_variant(NULL, NULL);
}

/* ---- uring probe when the kernel refuses io_uring ------------------------------------------- */

/* In a child, a seccomp filter makes io_uring_setup fail with ENOSYS, as a
 * container runtime's profile does; probe() must say so (main.c then exits
 * 77) rather than crash or claim success. */
static int probe_under_seccomp(char *reason, size_t len)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return 1000 + errno;
	return uring_model.probe(reason, len);
}

static void test_probe_refused(void **state)
{
	int fds[2], status;
	char reason[256] = "";
	ssize_t n;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char r[256] = "";
		int ret = probe_under_seccomp(r, sizeof(r));

		if (write(fds[1], r, strlen(r) + 1) < 0)
			_exit(99);
		_exit(ret == -ENOSYS ? 0 : ret > 0 ? 2 : 1);
	}
	close(fds[1]);
	n = read(fds[0], reason, sizeof(reason) - 1);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 2) {
		print_message("skip: cannot install a seccomp filter here\n");
		skip();
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(n > 1);
	/* one line that names the failing step and the errno */
	assert_non_null(strstr(reason, "io_uring_queue_init"));
	assert_non_null(strstr(reason, strerror(ENOSYS)));
	assert_null(strchr(reason, '\n'));
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uring_timers),
		cmocka_unit_test(test_setups_used),
		cmocka_unit_test(test_probe_refused),
	};

	model = &uring_model;
	return cmocka_run_group_tests_name("uring", tests, NULL, NULL);
}
