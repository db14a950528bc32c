/* Description: the coroutine runtime (userspace/coro/): both context switches
 * preserve every callee-saved register of both sides; coro_switch_fpctl keeps
 * each side's FP control state while coro_switch shares the thread's (as
 * documented); FIFO run queue; yield interleaving; park/ready; join (running,
 * finished, every EINVAL/EPERM case); budgets; 100,000 coroutines spawned and
 * joined (plain and guarded stacks); stack reuse; RSS per parked coroutine;
 * -ENOMEM when mapping fails; an overflow into the guard page aborts a
 * forked child with the documented message while other faults keep SIGSEGV;
 * stats.switches counted exactly.
 *
 * Built natively with cmocka, and for aarch64 under qemu by
 * scripts/test-aarch64 with -DCORO_TEST_SHIM (no arm64 cmocka in Debian's
 * cross packages): the same cases, through coro/cross/cmocka_shim.h.
 */
#include <errno.h>
#include <fenv.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef CORO_TEST_SHIM
#include "coro/cross/cmocka_shim.h"
#else
#include <cmocka.h>
#endif
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "coro/coro.h"
#include "tests/coro_test.h"

/* ---- raw switch: registers ------------------------------------------------
 * regcheck_switch(from, to, out) loads known values into every callee-saved
 * register, calls coro_switch(from, to), and when resumed stores what those
 * registers hold into out[]. The other side, clobber_entry, loads different
 * values into all of them before switching back, and on each resume stores
 * what it finds into clobber_seen[]. Both must find their own values. */
struct pair {
	struct coro_ctx *self, *back;
};
uint64_t clobber_seen[19];
/* Both sides switch through this: coro_switch or coro_switch_fpctl. */
int (*switch_fn)(struct coro_ctx *, struct coro_ctx *) = coro_switch;

#if defined(__x86_64__)
#define NREGS 6 /* rbx rbp r12 r13 r14 r15 */
__asm__(".text\n"
	".p2align 4\n"
	".globl regcheck_switch\n	.hidden regcheck_switch\n"
	"regcheck_switch:\n"
	"	push %rbx\n	push %rbp\n	push %r12\n	push %r13\n	push %r14\n	"
	"push %r15\n"
	"	push %rdx\n" /* 7 pushes: rsp % 16 == 0 at the call */
	"	movabs $0x5a5a000000000001, %rbx\n"
	"	movabs $0x5a5a000000000002, %rbp\n"
	"	movabs $0x5a5a000000000003, %r12\n"
	"	movabs $0x5a5a000000000004, %r13\n"
	"	movabs $0x5a5a000000000005, %r14\n"
	"	movabs $0x5a5a000000000006, %r15\n"
	"	call *switch_fn(%rip)\n"
	"	pop %rdx\n"
	"	mov %rbx, 0(%rdx)\n	mov %rbp, 8(%rdx)\n	mov %r12, 16(%rdx)\n"
	"	mov %r13, 24(%rdx)\n	mov %r14, 32(%rdx)\n	mov %r15, 40(%rdx)\n"
	"	pop %r15\n	pop %r14\n	pop %r13\n	pop %r12\n	pop %rbp\n	"
	"pop %rbx\n"
	"	ret\n"
	".p2align 4\n"
	".globl clobber_entry\n	.hidden clobber_entry\n"
	"clobber_entry:\n"
	"	sub $8, %rsp\n" /* entered with rsp % 16 == 8 */
	"	mov %rdi, (%rsp)\n"
	"1:	movabs $0xdead000000000001, %rbx\n"
	"	movabs $0xdead000000000002, %rbp\n"
	"	movabs $0xdead000000000003, %r12\n"
	"	movabs $0xdead000000000004, %r13\n"
	"	movabs $0xdead000000000005, %r14\n"
	"	movabs $0xdead000000000006, %r15\n"
	"	mov (%rsp), %rax\n	mov 0(%rax), %rdi\n	mov 8(%rax), %rsi\n"
	"	call *switch_fn(%rip)\n"
	"	lea clobber_seen(%rip), %rax\n"
	"	mov %rbx, 0(%rax)\n	mov %rbp, 8(%rax)\n	mov %r12, 16(%rax)\n"
	"	mov %r13, 24(%rax)\n	mov %r14, 32(%rax)\n	mov %r15, 40(%rax)\n"
	"	jmp 1b\n");
static uint64_t reg_value(int side, int i)
{
	return (side ? 0xdead000000000000ull : 0x5a5a000000000000ull) + (uint64_t)(i + 1);
}
#elif defined(__aarch64__)
#define NREGS 19 /* x19-x28, x29, d8-d15 */
#define SET_ALL(base)                                                                              \
	"	mov x19, #" #base "+0\n	mov x20, #" #base "+1\n	mov x21, #" #base "+2\n"           \
	"	mov x22, #" #base "+3\n	mov x23, #" #base "+4\n	mov x24, #" #base "+5\n"           \
	"	mov x25, #" #base "+6\n	mov x26, #" #base "+7\n	mov x27, #" #base "+8\n"           \
	"	mov x28, #" #base "+9\n	mov x29, #" #base "+10\n"                                  \
	"	mov x9, #" #base "+11\n	fmov d8, x9\n	mov x9, #" #base "+12\n	fmov d9, x9\n"     \
	"	mov x9, #" #base "+13\n	fmov d10, x9\n	mov x9, #" #base "+14\n	fmov d11, x9\n"    \
	"	mov x9, #" #base "+15\n	fmov d12, x9\n	mov x9, #" #base "+16\n	fmov d13, x9\n"    \
	"	mov x9, #" #base "+17\n	fmov d14, x9\n	mov x9, #" #base "+18\n	fmov d15, x9\n"
#define STORE_ALL(ptr)                                                                             \
	"	stp x19, x20, [" ptr ", #0]\n	stp x21, x22, [" ptr ", #16]\n"                    \
	"	stp x23, x24, [" ptr ", #32]\n	stp x25, x26, [" ptr ", #48]\n"                    \
	"	stp x27, x28, [" ptr ", #64]\n	str x29, [" ptr ", #80]\n"                         \
	"	stp d8, d9, [" ptr ", #88]\n	stp d10, d11, [" ptr ", #104]\n"                   \
	"	stp d12, d13, [" ptr ", #120]\n	stp d14, d15, [" ptr ", #136]\n"
__asm__(".text\n"
	".p2align 4\n"
	".globl regcheck_switch\n	.hidden regcheck_switch\n"
	"regcheck_switch:\n"
	"	stp x29, x30, [sp, #-176]!\n"
	"	stp x19, x20, [sp, #16]\n	stp x21, x22, [sp, #32]\n"
	"	stp x23, x24, [sp, #48]\n	stp x25, x26, [sp, #64]\n"
	"	stp x27, x28, [sp, #80]\n	stp d8, d9, [sp, #96]\n"
	"	stp d10, d11, [sp, #112]\n	stp d12, d13, [sp, #128]\n"
	"	stp d14, d15, [sp, #144]\n	str x2, [sp, #160]\n" SET_ALL(
		0x5a00) "	adrp x9, switch_fn\n	ldr x9, [x9, :lo12:switch_fn]\n	blr x9\n"
			"	ldr x2, [sp, #160]\n" STORE_ALL(
				"x2") "	ldp x19, x20, [sp, #16]\n	ldp x21, x22, [sp, #32]\n"
				      "	ldp x23, x24, [sp, #48]\n	ldp x25, x26, [sp, #64]\n"
				      "	ldp x27, x28, [sp, #80]\n	ldp d8, d9, [sp, #96]\n"
				      "	ldp d10, d11, [sp, #112]\n	ldp d12, d13, [sp, #128]\n"
				      "	ldp d14, d15, [sp, #144]\n"
				      "	ldp x29, x30, [sp], #176\n"
				      "	ret\n"
				      ".p2align 4\n"
				      ".globl clobber_entry\n	.hidden clobber_entry\n"
				      "clobber_entry:\n"
				      "	sub sp, sp, #16\n"
				      "	str x0, [sp]\n"
				      "1:\n" SET_ALL(0xd000) "	ldr x9, [sp]\n	ldp x0, x1, [x9]\n"
							     "	adrp x9, switch_fn\n	ldr x9, "
							     "[x9, :lo12:switch_fn]\n	blr x9\n"
							     "	adrp x9, clobber_seen\n	add x9, "
							     "x9, :lo12:clobber_seen\n" STORE_ALL(
								     "x9") "	b 1b\n");
static uint64_t reg_value(int side, int i)
{
	return (side ? 0xd000u : 0x5a00u) + (uint64_t)i;
}
#endif
/* Global (hidden) symbols: a GOT reference to an asm-local label loses its
 * offset on aarch64 and lands on the start of .text. */
void regcheck_switch(struct coro_ctx *from, struct coro_ctx *to, uint64_t *out);
void clobber_entry(void *pair);

static char raw_stack[64 * 1024] __attribute__((aligned(64)));

static void check_callee_saved(int (*fn)(struct coro_ctx *, struct coro_ctx *))
{
	struct coro_ctx main_ctx, co_ctx;
	struct pair pair = {&co_ctx, &main_ctx};
	uint64_t out[NREGS];
	int round, i;

	switch_fn = fn;
	memset(clobber_seen, 0, sizeof(clobber_seen));
	coro_ctx_make(&co_ctx, raw_stack + sizeof(raw_stack), clobber_entry, &pair);
	for (round = 0; round < 3; round++) {
		memset(out, 0, sizeof(out));
		regcheck_switch(&main_ctx, &co_ctx, out);
		for (i = 0; i < NREGS; i++)
			assert_int_equal(out[i], reg_value(0, i));
		if (round == 0)
			continue; /* the other side has not been resumed yet */
		for (i = 0; i < NREGS; i++)
			assert_int_equal(clobber_seen[i], reg_value(1, i));
	}
	switch_fn = coro_switch;
}

static void test_switch_preserves_callee_saved(void **state)
{
	(void)state;
	check_callee_saved(coro_switch);
}

static void test_switch_fpctl_preserves_callee_saved(void **state)
{
	(void)state;
	check_callee_saved(coro_switch_fpctl);
}

/* ---- raw switch: FP control state ---------------------------------------- */
struct fp_side {
	struct coro_ctx *self, *back;
	int seen_round;	       /* rounding mode the coroutine found on resume */
	unsigned int seen_csr; /* x86: MXCSR rounding bits on resume */
};

static unsigned int read_csr(void)
{
#if defined(__x86_64__)
	return _mm_getcsr() & 0x6000; /* MXCSR RC bits (fegetround reads x87) */
#else
	return 0;
#endif
}

static void fp_entry(void *arg)
{
	struct fp_side *f = arg;

	fesetround(FE_UPWARD); /* x87 control word and MXCSR (and FPCR) */
	for (;;) {
		switch_fn(f->self, f->back);
		f->seen_round = fegetround();
		f->seen_csr = read_csr();
	}
}

/* coro_switch_fpctl: each side keeps its own rounding mode. */
static void test_switch_fpctl_keeps_fp_mode(void **state)
{
	struct coro_ctx main_ctx, co_ctx;
	struct fp_side f = {&co_ctx, &main_ctx, -1, 0};
	unsigned int up_csr, zero_csr;
	int saved = fegetround();

	(void)state;
	if (fesetround(FE_UPWARD) != 0)
		skip(); /* no rounding control (a soft-float target) */
	up_csr = read_csr();
	fesetround(FE_TOWARDZERO);
	zero_csr = read_csr();
	switch_fn = coro_switch_fpctl;
	coro_ctx_make(&co_ctx, raw_stack + sizeof(raw_stack), fp_entry, &f);
	coro_switch_fpctl(&main_ctx, &co_ctx);
	assert_int_equal(fegetround(), FE_TOWARDZERO);
	assert_int_equal(read_csr(), zero_csr);
	coro_switch_fpctl(&main_ctx, &co_ctx);
	assert_int_equal(fegetround(), FE_TOWARDZERO);
	assert_int_equal(read_csr(), zero_csr);
	assert_int_equal(f.seen_round, FE_UPWARD);
	assert_int_equal(f.seen_csr, up_csr);
	switch_fn = coro_switch;
	fesetround(saved);
}

/* coro_switch: the FP control state is the thread's, as documented; a mode
 * a coroutine leaves set is what the other side finds. */
static void test_switch_shares_fp_mode(void **state)
{
	struct coro_ctx main_ctx, co_ctx;
	struct fp_side f = {&co_ctx, &main_ctx, -1, 0};
	int saved = fegetround();

	(void)state;
	if (fesetround(FE_UPWARD) != 0)
		skip();
	fesetround(FE_TOWARDZERO);
	switch_fn = coro_switch;
	coro_ctx_make(&co_ctx, raw_stack + sizeof(raw_stack), fp_entry, &f);
	coro_switch(&main_ctx, &co_ctx);
	assert_int_equal(fegetround(), FE_UPWARD);
	fesetround(FE_DOWNWARD);
	coro_switch(&main_ctx, &co_ctx);
	assert_int_equal(f.seen_round, FE_DOWNWARD);
	fesetround(saved);
}

/* ---- scheduler ------------------------------------------------------------ */
struct log {
	struct coro_sched *s;
	int ids[64];
	int n;
};

struct worker {
	struct log *log;
	int id;
	int rounds;
};

static void log_once(void *arg)
{
	struct worker *w = arg;

	w->log->ids[w->log->n++] = w->id;
}

static void log_and_yield(void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < w->rounds; i++) {
		w->log->ids[w->log->n++] = w->id;
		coro_yield(w->log->s);
	}
}

static void test_run_queue_fifo(void **state)
{
	struct coro_sched s;
	struct log log = {.s = &s};
	struct worker w[5];
	struct coro *c[5];
	int i;

	(void)state;
	assert_int_equal(coro_sched_init(&s), 0);
	for (i = 0; i < 5; i++) {
		w[i] = (struct worker){&log, i, 1};
		assert_int_equal(coro_spawn(&s, NULL, log_once, &w[i], &c[i]), 0);
		assert_int_equal(c[i]->state, CORO_READY);
		assert_int_equal(c[i]->id, (uint64_t)i + 1);
	}
	assert_int_equal(coro_sched_ready_count(&s), 5);
	assert_int_equal(coro_sched_run(&s), 5);
	assert_int_equal(log.n, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(log.ids[i], i);
		assert_int_equal(c[i]->state, CORO_DONE);
		assert_int_equal(coro_join(&s, c[i]), 0); /* DONE: allowed from main */
	}
	assert_int_equal(coro_sched_live(&s), 0);
	assert_int_equal(s.stats.finished, 5);
	coro_sched_destroy(&s);
}

static void test_yield_interleaving(void **state)
{
	struct coro_sched s;
	struct log log = {.s = &s};
	struct worker w[3];
	int i;

	(void)state;
	assert_int_equal(coro_sched_init(&s), 0);
	for (i = 0; i < 3; i++) {
		w[i] = (struct worker){&log, i, 4};
		assert_int_equal(coro_spawn(&s, NULL, log_and_yield, &w[i], NULL), 0);
	}
	coro_sched_run(&s);
	assert_int_equal(log.n, 12);
	for (i = 0; i < 12; i++)
		assert_int_equal(log.ids[i], i % 3);
	assert_int_equal(s.stats.yields, 12);
	assert_int_equal(coro_sched_live(&s), 0);
	coro_sched_destroy(&s);
}

/* Switch count, by hand: main->A, then each of the 2N yields hands over
 * (the other one is always ready), A ends -> B, B ends -> main. */
static void test_stats_switches(void **state)
{
	struct coro_sched s;
	struct log log = {.s = &s};
	struct worker a = {&log, 0, 10}, b = {&log, 1, 10};

	(void)state;
	assert_int_equal(coro_sched_init(&s), 0);
	assert_int_equal(coro_spawn(&s, NULL, log_and_yield, &a, NULL), 0);
	assert_int_equal(coro_spawn(&s, NULL, log_and_yield, &b, NULL), 0);
	assert_int_equal(s.stats.switches, 0);
	coro_sched_run(&s);
	assert_int_equal(s.stats.switches, 1 + 2 * 10 + 2);
	/* One switch back to main; every other one resumed a coroutine. */
	assert_int_equal(s.stats.resumes, s.stats.switches - 1);
	assert_int_equal(s.stats.spawned, 2);
	assert_int_equal(s.stats.finished, 2);
	assert_int_equal(s.stats.peak_live, 2);
	coro_sched_destroy(&s);
}

/* A lone yielder under coro_sched_run() does not switch; under a budget it
 * goes back to the scheduler (the model's chance to poll for I/O). */
static void test_yield_alone_and_budget(void **state)
{
	struct coro_sched s;
	struct log log = {.s = &s};
	struct worker w = {&log, 7, 3}, w3[3];
	int i;

	(void)state;
	assert_int_equal(coro_sched_init(&s), 0);
	assert_int_equal(coro_spawn(&s, NULL, log_and_yield, &w, NULL), 0);
	coro_sched_run(&s);
	assert_int_equal(log.n, 3);
	assert_int_equal(s.stats.switches, 2); /* main->w, w ends->main */

	log.n = 0;
	w.rounds = 2;
	assert_int_equal(coro_spawn(&s, NULL, log_and_yield, &w, NULL), 0);
	assert_int_equal(coro_sched_run_max(&s, 1), 1);
	assert_int_equal(log.n, 1);
	assert_int_equal(coro_sched_ready_count(&s), 1); /* it yielded to us */
	assert_int_equal(coro_sched_run_max(&s, 1), 1);
	assert_int_equal(coro_sched_run_max(&s, 1), 1); /* returns and ends */
	assert_int_equal(coro_sched_live(&s), 0);

	log.n = 0;
	for (i = 0; i < 3; i++) {
		w3[i] = (struct worker){&log, i, 5};
		assert_int_equal(coro_spawn(&s, NULL, log_and_yield, &w3[i], NULL), 0);
	}
	assert_int_equal(coro_sched_run_max(&s, 2), 2);
	assert_int_equal(log.n, 2);
	assert_int_equal(coro_sched_ready_count(&s), 3);
	/* Each worker is resumed once to start and once after each of its 5
	 * yields: 18 resumes, 2 of them in the budgeted run above. */
	assert_int_equal(coro_sched_run(&s), 3 * (1 + 5) - 2);
	assert_int_equal(log.n, 15);
	coro_sched_destroy(&s);
}

struct parker {
	struct coro_sched *s;
	int before, after;
};

static void park_once(void *arg)
{
	struct parker *p = arg;

	p->before++;
	coro_park(p->s);
	p->after++;
}

static void test_park_ready(void **state)
{
	struct coro_sched s;
	struct parker p = {&s, 0, 0};
	struct coro *c;

	(void)state;
	assert_int_equal(coro_sched_init(&s), 0);
	assert_int_equal(coro_spawn(&s, NULL, park_once, &p, &c), 0);
	assert_int_equal(coro_ready(&s, c), -EINVAL); /* READY, not PARKED */
	coro_sched_run(&s);
	assert_int_equal(p.before, 1);
	assert_int_equal(p.after, 0);
	assert_int_equal(c->state, CORO_PARKED);
	assert_int_equal(s.stats.parked, 1);
	assert_int_equal(s.stats.parks, 1);
	/* Nothing ready, one live: the "no runnable coroutines" situation. */
	assert_int_equal(coro_sched_ready_count(&s), 0);
	assert_int_equal(coro_sched_live(&s), s.stats.parked);
	assert_int_equal(coro_sched_run(&s), 0);

	assert_int_equal(coro_ready(&s, c), 0);
	assert_int_equal(c->state, CORO_READY);
	assert_int_equal(coro_ready(&s, c), -EINVAL); /* twice */
	assert_int_equal(s.stats.parked, 0);
	coro_sched_run(&s);
	assert_int_equal(p.after, 1);
	assert_int_equal(c->state, CORO_DONE);
	assert_int_equal(coro_ready(&s, c), -EINVAL); /* DONE */
	assert_int_equal(coro_ready(&s, &s.main), -EINVAL);
	assert_int_equal(coro_ready(&s, NULL), -EINVAL);
	/* Yield and park from the scheduler's context do nothing. */
	coro_yield(&s);
	coro_park(&s);
	assert_ptr_equal(coro_current(&s), &s.main);
	assert_int_equal(coro_join(&s, c), 0);
	coro_sched_destroy(&s);
}

/* ---- join ----------------------------------------------------------------- */
struct join_case {
	struct coro_sched *s;
	struct coro *child, *self;
	int child_yields;
	int child_done;
	int err_self, err_second, err_main, err_null, err_running, err_done;
	int second_joiner_ran;
};

static void yielding_child(void *arg)
{
	struct join_case *j = arg;
	int i;

	for (i = 0; i < j->child_yields; i++)
		coro_yield(j->s);
	j->child_done = 1;
}

static void second_joiner(void *arg)
{
	struct join_case *j = arg;

	j->err_second = coro_join(j->s, j->child);
	j->second_joiner_ran = 1;
}

static void first_joiner(void *arg)
{
	struct join_case *j = arg;
	struct coro *finished;

	j->self = coro_current(j->s);
	j->err_self = coro_join(j->s, j->self);
	j->err_main = coro_join(j->s, &j->s->main);
	j->err_null = coro_join(j->s, NULL);
	/* The child is still running: this parks until it ends. */
	j->err_running = coro_join(j->s, j->child);
	/* A child that finished before anyone joined it. */
	if (coro_spawn(j->s, NULL, yielding_child, j, &finished) != 0)
		return;
	while (finished->state != CORO_DONE)
		coro_yield(j->s); /* let it run to the end */
	j->err_done = finished->state == CORO_DONE ? coro_join(j->s, finished) : -EBUSY;
}

static void test_join(void **state)
{
	struct coro_sched s;
	struct join_case j = {.s = &s, .child_yields = 3};
	struct coro *joiner, *other;

	(void)state;
	assert_int_equal(coro_sched_init(&s), 0);
	assert_int_equal(coro_spawn(&s, NULL, yielding_child, &j, &j.child), 0);
	assert_int_equal(coro_join(&s, j.child), -EPERM); /* main cannot park */
	assert_int_equal(coro_spawn(&s, NULL, first_joiner, &j, &joiner), 0);
	assert_int_equal(coro_spawn(&s, NULL, second_joiner, &j, &other), 0);
	j.child_yields = 3;
	coro_sched_run(&s);
	assert_int_equal(j.err_self, -EINVAL);
	assert_int_equal(j.err_main, -EINVAL);
	assert_int_equal(j.err_null, -EINVAL);
	assert_int_equal(j.second_joiner_ran, 1);
	assert_int_equal(j.err_second, -EINVAL); /* first_joiner already joins it */
	assert_int_equal(j.err_running, 0);
	assert_int_equal(j.child_done, 1);
	assert_int_equal(j.err_done, 0);
	assert_int_equal(coro_join(&s, joiner), 0);
	assert_int_equal(coro_join(&s, other), 0);
	assert_int_equal(coro_sched_live(&s), 0);
	assert_int_equal(s.stats.finished, 4);
	coro_sched_destroy(&s);
}

static void test_join_other_scheduler(void **state)
{
	struct coro_sched a, b;
	struct log log = {.s = &a};
	struct worker w = {&log, 0, 1};
	struct coro *c;

	(void)state;
	assert_int_equal(coro_sched_init(&a), 0);
	assert_int_equal(coro_sched_init(&b), 0);
	assert_int_equal(coro_spawn(&a, NULL, log_once, &w, &c), 0);
	coro_sched_run(&a);
	assert_int_equal(coro_join(&b, c), -EINVAL);
	assert_int_equal(coro_ready(&b, c), -EINVAL);
	assert_int_equal(coro_join(&a, c), 0);
	coro_sched_destroy(&b);
	coro_sched_destroy(&a);
}

/* ---- many coroutines, stacks ---------------------------------------------- */
#define MANY 100000

struct many {
	struct coro_sched *s;
	struct coro_opts opts;
	struct coro **c;
	uint64_t count;
	int total, wave;
	int err;
};

static void bump(void *arg)
{
	struct many *m = arg;

	coro_yield(m->s); /* every one is live at once, then all finish */
	m->count++;
}

static void spawner(void *arg)
{
	struct many *m = arg;
	int i, base;

	for (base = 0; base < m->total; base += m->wave) {
		for (i = base; i < base + m->wave; i++) {
			m->err = coro_spawn(m->s, &m->opts, bump, m, &m->c[i]);
			if (m->err)
				return;
		}
		for (i = base; i < base + m->wave; i++) {
			m->err = coro_join(m->s, m->c[i]);
			if (m->err)
				return;
		}
	}
}

static void run_many(struct many *m)
{
	struct coro_sched s;

	m->s = &s;
	m->c = calloc((size_t)m->total, sizeof(*m->c));
	assert_non_null(m->c);
	assert_int_equal(coro_sched_init(&s), 0);
	assert_int_equal(coro_spawn(&s, NULL, spawner, m, NULL), 0);
	coro_sched_run(&s);
	assert_int_equal(m->err, 0);
	assert_int_equal(m->count, (uint64_t)m->total);
	assert_int_equal(s.stats.spawned, (uint64_t)m->total + 1);
	assert_int_equal(s.stats.finished, (uint64_t)m->total + 1);
	assert_int_equal(coro_sched_live(&s), 0);
	assert_true(s.stats.peak_live >= (uint64_t)m->wave + 1);
	assert_int_equal(s.stats.stack_maps + s.stats.stack_reuses, s.stats.spawned);
	coro_sched_destroy(&s);
	free(m->c);
}

static void test_many_unguarded(void **state)
{
	struct many m = {.opts = {.stack_bytes = 16384, .stack = CORO_STACK_UNGUARDED},
			 .total = MANY,
			 .wave = MANY};
	int before = count_maps();

	(void)state;
	skip_if_too_many_for_tsan(MANY);
	run_many(&m);
	assert_true(before > 0);
}

/* Unguarded stacks are carved from arenas: 100,000 live stacks
 * must not need 100,000 VMAs (that is what no_guard is for). */
static void check_merge(void *arg)
{
	int *maps = arg;

	*maps = count_maps();
}

static void test_unguarded_stacks_merge(void **state)
{
	struct coro_sched s;
	struct coro_opts opts = {.stack_bytes = 16384, .stack = CORO_STACK_UNGUARDED};
	int maps = 0, before = count_maps(), i;

	(void)state;
	skip_if_too_many_for_tsan(MANY);
	assert_int_equal(coro_sched_init(&s), 0);
	for (i = 0; i < MANY; i++)
		assert_int_equal(coro_spawn(&s, &opts, check_merge, &maps, NULL), 0);
	maps = count_maps();
	assert_true(maps - before < MANY / 10);
	coro_sched_destroy(&s);
}

static void test_many_guarded_waves(void **state)
{
	struct many m = {.opts = {.stack_bytes = 16384}, .total = MANY, .wave = 10000};
	long max_maps = 0;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");

	(void)state;
	skip_if_too_many_for_tsan(m.wave);
	if (f) {
		if (fscanf(f, "%ld", &max_maps) != 1)
			max_maps = 0;
		fclose(f);
	}
	/* mprotect guards: two VMAs per stack plus what the process has
	 * already (MADV_GUARD_INSTALL guards need none of their own). */
	if (!strcmp(coro_guard_method(), "mprotect") && max_maps &&
	    max_maps < 2 * m.wave + count_maps() + 1000)
		skip();
	run_many(&m);
}

static void spawn_join_one(void *arg)
{
	struct many *m = arg;
	struct coro *c;
	int i;

	for (i = 0; i < 10; i++) {
		m->err = coro_spawn(m->s, NULL, bump, m, &c);
		if (!m->err)
			m->err = coro_join(m->s, c);
		if (m->err)
			return;
	}
}

static void test_stack_cache_reuse(void **state)
{
	struct coro_sched s;
	struct many m = {.s = &s};

	(void)state;
	assert_int_equal(coro_sched_init(&s), 0);
	assert_int_equal(coro_spawn(&s, NULL, spawn_join_one, &m, NULL), 0);
	coro_sched_run(&s);
	assert_int_equal(m.err, 0);
	assert_int_equal(m.count, 10);
	/* The spawner's stack and the first child's were mapped; the other 9
	 * children reused the first child's. */
	assert_int_equal(s.stats.stack_maps, 2);
	assert_int_equal(s.stats.stack_reuses, 9);
	coro_sched_destroy(&s);
}

static void test_spawn_einval(void **state)
{
	struct coro_sched s;
	struct coro_opts huge = {.stack_bytes = (size_t)4 << 30};
	struct coro *c = NULL;

	(void)state;
	assert_int_equal(coro_sched_init(&s), 0);
	assert_int_equal(coro_spawn(&s, &huge, park_once, NULL, &c), -EINVAL);
	assert_int_equal(coro_spawn(&s, NULL, NULL, NULL, &c), -EINVAL);
	assert_null(c);
	assert_int_equal(s.stats.spawned, 0);
	coro_sched_destroy(&s);
}

/* RSS of a parked coroutine: its stack's top page (holding the control
 * block) and nothing else. Pages, not time: deterministic. */
static void test_rss_per_parked(void **state)
{
	enum { N = 10000 };
	struct coro_sched s;
	long before, after;
	double bytes_each;
	int i;

	(void)state;
	skip_if_too_many_for_tsan(N);
	assert_int_equal(coro_sched_init(&s), 0);
	s.cache_max = 0;
	before = rss_pages();
	if (before < 0)
		skip();
	for (i = 0; i < N; i++)
		assert_int_equal(coro_spawn(&s, NULL, park_forever, &s, NULL), 0);
	coro_sched_run(&s);
	assert_int_equal(s.stats.parked, N);
	after = rss_pages();
	bytes_each = (double)(after - before) * (double)sysconf(_SC_PAGESIZE) / N;
	print_message("RSS per parked coroutine: %.0f bytes\n", bytes_each);
	assert_true(bytes_each < 5 * 1024);
	coro_sched_destroy(&s); /* discards the parked ones */
}

/* ---- failure paths in forked children -------------------------------------- */

static int child_overflow(void)
{
	struct coro_sched s;
	struct coro_opts opts = {.stack_bytes = 16384};

	if (coro_sched_init(&s) != 0)
		return 3;
	/* id 2: the message must name the one that overflowed */
	if (coro_spawn(&s, NULL, park_forever, &s, NULL) != 0 ||
	    coro_spawn(&s, &opts, overflow, NULL, NULL) != 0)
		return 4;
	coro_sched_run(&s);
	return 5; /* not reached: the overflow aborts */
}

static void test_guard_overflow_aborts(void **state)
{
	struct child_result r;

	(void)state;
	run_child(child_overflow, &r);
	assert_true(WIFSIGNALED(r.status));
	assert_int_equal(WTERMSIG(r.status), SIGABRT);
	assert_non_null(strstr(
		r.err,
		"coro: stack overflow in coroutine 2 (stack 16384 bytes): raise stack_bytes"));
}

static void null_deref(void *arg)
{
	*(volatile int *)arg = 1;
}

static int child_other_fault(void)
{
	struct coro_sched s;

	if (coro_sched_init(&s) != 0 || coro_spawn(&s, NULL, null_deref, NULL, NULL) != 0)
		return 3;
	coro_sched_run(&s);
	return 5;
}

static void test_other_fault_keeps_sigsegv(void **state)
{
	struct child_result r;

	(void)state;
	run_child(child_other_fault, &r);
	assert_true(WIFSIGNALED(r.status));
	assert_int_equal(WTERMSIG(r.status), SIGSEGV);
	assert_null(strstr(r.err, "stack overflow"));
}

#define CHILD_SKIP 77

/* Caps the address space so that mmap fails part-way; coro_spawn must say
 * -ENOMEM and leave the scheduler usable. */
static void count_one(void *arg)
{
	(*(int *)arg)++;
}

static int child_enomem(void)
{
	struct coro_sched s;
	struct coro_opts opts = {.stack_bytes = 1 << 20};
	struct rlimit rl;
	long pages = 0, resident;
	int ran = 0, spawned = 0, err = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f || fscanf(f, "%ld %ld", &pages, &resident) != 2)
		return 3;
	fclose(f);
	if (coro_sched_init(&s) != 0)
		return 4;
	rl.rlim_cur = rl.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (64 << 20);
	if (setrlimit(RLIMIT_AS, &rl) != 0)
		return 5;
	while (spawned < 1000 && (err = coro_spawn(&s, &opts, count_one, &ran, NULL)) == 0)
		spawned++;
	if (spawned == 1000)
		return CHILD_SKIP; /* limit not enforced (qemu-user ignores RLIMIT_AS) */
	if (err != -ENOMEM || spawned == 0)
		return 6;
	coro_sched_run(&s);
	if (ran != spawned || coro_sched_live(&s) != 0)
		return 7;
	coro_sched_destroy(&s);
	return 0;
}

static void test_spawn_enomem(void **state)
{
	struct child_result r;

	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	skip(); /* ASan's shadow memory does not fit under RLIMIT_AS */
#endif
	run_child(child_enomem, &r);
	if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == CHILD_SKIP) {
		print_message("RLIMIT_AS not enforced here (qemu-user?): 1000 x 1 MiB mapped\n");
		skip();
	}
	if (WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0)
		print_message("child_enomem exit %d: %s\n", WEXITSTATUS(r.status), r.err);
	assert_true(WIFEXITED(r.status));
	assert_int_equal(WEXITSTATUS(r.status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_switch_preserves_callee_saved),
		cmocka_unit_test(test_switch_fpctl_preserves_callee_saved),
		cmocka_unit_test(test_switch_fpctl_keeps_fp_mode),
		cmocka_unit_test(test_switch_shares_fp_mode),
		cmocka_unit_test(test_run_queue_fifo),
		cmocka_unit_test(test_yield_interleaving),
		cmocka_unit_test(test_stats_switches),
		cmocka_unit_test(test_yield_alone_and_budget),
		cmocka_unit_test(test_park_ready),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_join_other_scheduler),
		cmocka_unit_test(test_spawn_einval),
		cmocka_unit_test(test_stack_cache_reuse),
		cmocka_unit_test(test_many_unguarded),
		cmocka_unit_test(test_unguarded_stacks_merge),
		cmocka_unit_test(test_many_guarded_waves),
		cmocka_unit_test(test_rss_per_parked),
		cmocka_unit_test(test_guard_overflow_aborts),
		cmocka_unit_test(test_other_fault_keeps_sigsegv),
		cmocka_unit_test(test_spawn_enomem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
