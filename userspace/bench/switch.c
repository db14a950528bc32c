/* switch.c: the cost of one user-space context switch, three ways, in one
 * run so they share the machine's state:
 *   ours         coro_switch (userspace/coro/switch_<arch>.S), what the
 *                runtime uses: callee-saved registers, sp, pc; jmp-based
 *   ours_fpctl   coro_switch_fpctl: the same plus the FP control state
 *                (reported beside, to show what keeping it would cost)
 *   floor        a minimal register-only switch written here: callee-saved
 *                integer registers, sp and pc, nothing else; the physical
 *                floor for a switch that is an ordinary function call
 *   swapcontext  glibc's ucontext: saves the signal mask with a syscall
 * Each is a ping-pong between two contexts (2 switches per round trip).
 * Then the hand-off of the runtime itself, two coroutines of one scheduler
 * yielding to each other (coro_yield: run queue, stats, one switch):
 *   handoff_own     each on its own stack (stack=guarded)
 *   handoff_shared  both on one shared stack (stack=shared): every hand-off
 *                   also saves the leaving frame and restores the other,
 *                   through the copier's stack (docs/stacks.md); the bytes
 *                   copied per switch are reported beside it
 * And the hand-off a task sees, rt_wake then rt_wait on an event between two
 * tasks (pingpong's channel=event), through the models themselves:
 *   event_coro  under the coro model (one thread: no atomic read-modify-
 *               write on the path, docs/design.md)
 *   event_mn1   under mn with one worker (the same hand-off through mn's
 *               event lock and run queue)
 * Repetitions are interleaved (ours, floor, swapcontext, ours, ...) so a noisy
 * stretch hits all of them; the median and min of the per-repetition
 * ns/switch (ns per hand-off for event_*) are reported. Pinned to one CPU
 * (the first of the allowed set), warmed up.
 *
 * Output: one JSON object on stdout (schema 1), a human summary on stderr.
 * Targets (measured, not tested; `make bench` prints them met or not):
 * ours <= 1.25x floor, swapcontext >= 30x ours, event_coro <= 3x ours,
 * event_mn1 <= 1.2x event_coro.
 *
 * Usage: build/bench/switch [REPETITIONS]   (def: 11)
 */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "coro/coro.h"
#include "lib/clock.h"
#include "lib/json.h"
#include "params.h"
#include "rt.h"
#include "task.h"

#define STACK_BYTES	 (64 * 1024)
#define SWITCHES_FAST	 20000000ull /* ~70 ms at 3.5 ns */
#define SWITCHES_SLOW	 400000ull   /* ~90 ms at 220 ns */
#define SWITCHES_HANDOFF 2000000ull  /* ~20 ms own, ~100 ms shared */

/* ---- floor: the minimal register-only switch ------------------------------
 * Same scheme as coro_switch (registers into the context, jmp to the resume
 * point, no ret) without the FP control words: the difference between the two
 * is what keeping the FP mode per coroutine costs. */
struct floor_ctx {
	uint64_t slot[14];
};
void floor_switch(struct floor_ctx *from, struct floor_ctx *to);
void floor_trampoline(void);
#if defined(__x86_64__)
/* slots: 0 rsp, 1 rip, 2 rbx, 3 rbp, 4-7 r12-r15 */
__asm__(".text\n"
	".p2align 4\n"
	".globl floor_switch\n"
	"floor_switch:\n"
	"	mov (%rsp), %rax\n	lea 8(%rsp), %rdx\n"
	"	mov %rdx, 0(%rdi)\n	mov %rax, 8(%rdi)\n"
	"	mov %rbx, 16(%rdi)\n	mov %rbp, 24(%rdi)\n	mov %r12, 32(%rdi)\n"
	"	mov %r13, 40(%rdi)\n	mov %r14, 48(%rdi)\n	mov %r15, 56(%rdi)\n"
	"	mov 16(%rsi), %rbx\n	mov 24(%rsi), %rbp\n	mov 32(%rsi), %r12\n"
	"	mov 40(%rsi), %r13\n	mov 48(%rsi), %r14\n	mov 56(%rsi), %r15\n"
	"	mov 0(%rsi), %rsp\n"
	"	jmp *8(%rsi)\n"
	".p2align 4\n"
	".globl floor_trampoline\n"
	"floor_trampoline:\n" /* r12: entry, r13: arg */
	"	mov %r13, %rdi\n	call *%r12\n	ud2\n");
static void floor_make(struct floor_ctx *c, void *top, void (*fn)(void *), void *arg)
{
	memset(c, 0, sizeof(*c));
	c->slot[0] = (uint64_t)(uintptr_t)top & ~15ull;
	c->slot[1] = (uint64_t)(uintptr_t)floor_trampoline;
	c->slot[4] = (uint64_t)(uintptr_t)fn;
	c->slot[5] = (uint64_t)(uintptr_t)arg;
}
#elif defined(__aarch64__)
/* slots: 0 sp, 1 pc, 2-11 x19-x28, 12 x29 (d8-d15 are callee-saved too;
 * the floor leaves them out like the x86 floor leaves out nothing integer) */
__asm__(".text\n"
	".p2align 4\n"
	".globl floor_switch\n"
	"floor_switch:\n"
	"	mov x9, sp\n	stp x9, x30, [x0, #0]\n"
	"	stp x19, x20, [x0, #16]\n	stp x21, x22, [x0, #32]\n"
	"	stp x23, x24, [x0, #48]\n	stp x25, x26, [x0, #64]\n"
	"	stp x27, x28, [x0, #80]\n	str x29, [x0, #96]\n"
	"	ldp x9, x30, [x1, #0]\n"
	"	ldp x19, x20, [x1, #16]\n	ldp x21, x22, [x1, #32]\n"
	"	ldp x23, x24, [x1, #48]\n	ldp x25, x26, [x1, #64]\n"
	"	ldp x27, x28, [x1, #80]\n	ldr x29, [x1, #96]\n"
	"	mov sp, x9\n	br x30\n"
	".p2align 4\n"
	".globl floor_trampoline\n"
	"floor_trampoline:\n" /* x19: entry, x20: arg */
	"	mov x0, x20\n	blr x19\n	brk #0\n");
static void floor_make(struct floor_ctx *c, void *top, void (*fn)(void *), void *arg)
{
	memset(c, 0, sizeof(*c));
	c->slot[0] = (uint64_t)(uintptr_t)top & ~15ull;
	c->slot[1] = (uint64_t)(uintptr_t)floor_trampoline;
	c->slot[2] = (uint64_t)(uintptr_t)fn;
	c->slot[3] = (uint64_t)(uintptr_t)arg;
}
#endif

/* ---- the ping-pongs --------------------------------------------------------- */
static struct coro_ctx ours_main, ours_co, fpctl_main, fpctl_co;
static struct floor_ctx floor_main, floor_co;
static ucontext_t uc_main, uc_co;

static void ours_partner(void *arg)
{
	(void)arg;
	for (;;)
		coro_switch(&ours_co, &ours_main);
}

static void fpctl_partner(void *arg)
{
	(void)arg;
	for (;;)
		coro_switch_fpctl(&fpctl_co, &fpctl_main);
}

static void floor_partner(void *arg)
{
	(void)arg;
	for (;;)
		floor_switch(&floor_co, &floor_main);
}

static void uc_partner(void)
{
	for (;;)
		swapcontext(&uc_co, &uc_main);
}

/* Each returns ns per switch over `switches` switches (round trips x 2). */
static double time_ours(uint64_t switches)
{
	uint64_t i, t0 = now_ns();

	for (i = 0; i < switches / 2; i++)
		coro_switch(&ours_main, &ours_co);
	return (double)(now_ns() - t0) / (double)switches;
}

static double time_fpctl(uint64_t switches)
{
	uint64_t i, t0 = now_ns();

	for (i = 0; i < switches / 2; i++)
		coro_switch_fpctl(&fpctl_main, &fpctl_co);
	return (double)(now_ns() - t0) / (double)switches;
}

static double time_floor(uint64_t switches)
{
	uint64_t i, t0 = now_ns();

	for (i = 0; i < switches / 2; i++)
		floor_switch(&floor_main, &floor_co);
	return (double)(now_ns() - t0) / (double)switches;
}

static double time_swapcontext(uint64_t switches)
{
	uint64_t i, t0 = now_ns();

	for (i = 0; i < switches / 2; i++)
		swapcontext(&uc_main, &uc_co);
	return (double)(now_ns() - t0) / (double)switches;
}

/* ---- the runtime's hand-off, own and shared stacks ------------------------- */
struct yielder {
	struct coro_sched *s;
	uint64_t yields;
};

static void yielder_fn(void *arg)
{
	struct yielder *y = arg;

	while (y->yields--)
		coro_yield(y->s);
}

static double copy_bytes_per_switch; /* of the last handoff_shared run */

static double time_handoff(uint64_t switches, int shared)
{
	struct coro_opts opts = {.stack_bytes = 16384,
				 .stack = shared ? CORO_STACK_SHARED : CORO_STACK_GUARDED};
	struct coro_sched s;
	struct yielder y[2];
	uint64_t t0, dt;
	double ns;

	if (coro_sched_init(&s) != 0) {
		fprintf(stderr, "switch: coro_sched_init failed\n");
		exit(1);
	}
	for (int k = 0; k < 2; k++) {
		y[k] = (struct yielder){&s, switches / 2};
		if (coro_spawn(&s, &opts, yielder_fn, &y[k], NULL) != 0) {
			fprintf(stderr, "switch: coro_spawn failed\n");
			exit(1);
		}
	}
	t0 = now_ns();
	coro_sched_run(&s);
	dt = now_ns() - t0;
	ns = (double)dt / (double)s.stats.switches;
	if (shared)
		copy_bytes_per_switch = (double)s.stats.copy_bytes / (double)s.stats.switches;
	coro_sched_destroy(&s);
	return ns;
}

static double time_handoff_own(uint64_t switches)
{
	return time_handoff(switches, 0);
}

static double time_handoff_shared(uint64_t switches)
{
	return time_handoff(switches, 1);
}

/* ---- the event hand-off through a model -------------------------------------
 * Two tasks pass one unit back and forth through two events; the time is
 * taken inside the first task, so the model's start and teardown are not in
 * it. A failure to run is reported as a negative time. */
struct event_pp {
	struct rt *rt;
	struct rt_event ping, pong;
	uint64_t rounds;
	double ns_per_handoff;
};

static void event_partner(void *p)
{
	struct event_pp *pp = p;

	for (uint64_t i = 0; i < pp->rounds; i++) {
		rt_wait(pp->rt, &pp->ping);
		rt_wake(pp->rt, &pp->pong);
	}
}

static int event_main(struct rt *rt, void *p)
{
	struct event_pp *pp = p;
	struct rt_task *t;
	uint64_t t0;

	pp->rt = rt;
	if (rt_spawn(rt, event_partner, pp, NULL, &t))
		return 1;
	t0 = now_ns();
	for (uint64_t i = 0; i < pp->rounds; i++) {
		rt_wake(rt, &pp->ping);
		rt_wait(rt, &pp->pong);
	}
	pp->ns_per_handoff = (double)(now_ns() - t0) / (double)(2 * pp->rounds);
	return rt_join(rt, t);
}

static const struct task bench_task = {.name = "bench"};

static double time_event(const struct rt_model *model, const char *key, const char *value,
			 uint64_t handoffs)
{
	struct event_pp pp = {.rounds = handoffs / 2};
	struct task_ctx ctx;
	char err[256];

	params_init(&ctx, &bench_task, model);
	if (key && params_set(&ctx, key, value, err, sizeof(err)))
		return -1;
	if (model->run(&ctx, event_main, &pp, NULL) != 0)
		return -1;
	return pp.ns_per_handoff;
}

static double time_event_coro(uint64_t handoffs)
{
	return time_event(&coro_model, NULL, NULL, handoffs);
}

static double time_event_mn1(uint64_t handoffs)
{
	return time_event(&mn_model, "mn_workers", "1", handoffs);
}

/* ---- statistics and output ------------------------------------------------ */
struct series {
	const char *name;
	double (*run)(uint64_t switches);
	uint64_t switches;
	double *ns;
	double median, min, max;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void summarise(struct series *s, int reps)
{
	double *sorted = s->ns + reps; /* scratch half of the same buffer */

	memcpy(sorted, s->ns, (size_t)reps * sizeof(double));
	qsort(sorted, (size_t)reps, sizeof(double), cmp_double);
	s->min = sorted[0];
	s->max = sorted[reps - 1];
	s->median = reps % 2 ? sorted[reps / 2] : (sorted[reps / 2 - 1] + sorted[reps / 2]) / 2;
}

static void emit_series(struct json *j, const struct series *s, int reps)
{
	int i;

	json_obj_open(j, s->name);
	json_f64(j, "median", s->median);
	json_f64(j, "min", s->min);
	json_f64(j, "max", s->max);
	json_u64(j, "switches_per_repetition", s->switches);
	json_arr_open(j, "samples");
	for (i = 0; i < reps; i++)
		json_f64(j, NULL, s->ns[i]);
	json_arr_close(j);
	json_obj_close(j);
}

/* getcontext returns twice in spirit (it is setjmp-like): kept out of main
 * so that main's locals cannot be clobbered. 0 or -errno. */
static int __attribute__((noinline)) uc_prepare(char *stack, size_t bytes)
{
	if (getcontext(&uc_co) != 0)
		return -errno;
	uc_co.uc_stack.ss_sp = stack;
	uc_co.uc_stack.ss_size = bytes;
	uc_co.uc_link = NULL;
	makecontext(&uc_co, uc_partner, 0);
	return 0;
}

/* Pins to the first allowed CPU; returns it, or -errno. */
static int pin_first_cpu(void)
{
	cpu_set_t set;
	int cpu;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -errno;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set))
			break;
	if (cpu == CPU_SETSIZE)
		return -EINVAL;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		return -errno;
	return cpu;
}

#define NSERIES 8

int main(int argc, char **argv)
{
	struct series series[NSERIES] = {
		{"ours", time_ours, SWITCHES_FAST, NULL, 0, 0, 0},
		{"floor", time_floor, SWITCHES_FAST, NULL, 0, 0, 0},
		{"swapcontext", time_swapcontext, SWITCHES_SLOW, NULL, 0, 0, 0},
		{"ours_fpctl", time_fpctl, SWITCHES_FAST, NULL, 0, 0, 0},
		{"handoff_own", time_handoff_own, SWITCHES_HANDOFF, NULL, 0, 0, 0},
		{"handoff_shared", time_handoff_shared, SWITCHES_HANDOFF, NULL, 0, 0, 0},
		{"event_coro", time_event_coro, SWITCHES_HANDOFF, NULL, 0, 0, 0},
		{"event_mn1", time_event_mn1, SWITCHES_HANDOFF, NULL, 0, 0, 0},
	};
	char *stacks = NULL;
	struct json j;
	int reps = 11, cpu, i, k, err = 1;

	if (argc > 2 || (argc == 2 && (reps = atoi(argv[1])) < 1)) {
		fprintf(stderr,
			"usage: %s [REPETITIONS]   (def: 11)\n"
			"example: %s 21 | jq .ours_over_floor\n",
			argv[0], argv[0]);
		return 2;
	}
	cpu = pin_first_cpu();
	if (cpu < 0)
		fprintf(stderr, "switch: not pinned: sched_setaffinity: %s\n", strerror(-cpu));

	stacks = mmap(NULL, NSERIES * STACK_BYTES, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (stacks == MAP_FAILED) {
		stacks = NULL;
		fprintf(stderr, "switch: mmap: %s\n", strerror(errno));
		goto cleanup;
	}
	for (k = 0; k < NSERIES; k++) {
		series[k].ns = calloc(2 * (size_t)reps, sizeof(double));
		if (!series[k].ns) {
			fprintf(stderr, "switch: out of memory\n");
			goto cleanup;
		}
	}
	/* One stack each: [0] ours, [1] floor, [2] swapcontext, [3] fpctl. */
	coro_ctx_make(&ours_co, stacks + STACK_BYTES, ours_partner, NULL);
	floor_make(&floor_co, stacks + 2 * STACK_BYTES, floor_partner, NULL);
	err = uc_prepare(stacks + 2 * STACK_BYTES, STACK_BYTES);
	if (err) {
		fprintf(stderr, "switch: getcontext: %s\n", strerror(-err));
		err = 1;
		goto cleanup;
	}
	err = 1;
	coro_ctx_make(&fpctl_co, stacks + 4 * STACK_BYTES, fpctl_partner, NULL);

	/* Warm-up: caches, predictors, page faults of the stacks. */
	for (k = 0; k < NSERIES; k++)
		series[k].run(series[k].switches / 4);
	for (i = 0; i < reps; i++)
		for (k = 0; k < NSERIES; k++)
			series[k].ns[i] = series[k].run(series[k].switches);
	for (k = 0; k < NSERIES; k++)
		summarise(&series[k], reps);

	json_init(&j, stdout);
	json_obj_open(&j, NULL);
	json_u64(&j, "schema", 1);
	json_str(&j, "bench", "switch");
	json_str(&j, "unit", "ns_per_switch");
	json_u64(&j, "repetitions", (uint64_t)reps);
	if (cpu >= 0)
		json_u64(&j, "cpu", (uint64_t)cpu);
	else
		json_null(&j, "cpu");
	json_bool(&j, "ours_saves_fp_control", 0);
	for (k = 0; k < NSERIES; k++)
		emit_series(&j, &series[k], reps);
	json_f64(&j, "ours_over_floor", series[0].median / series[1].median);
	json_f64(&j, "swapcontext_over_ours", series[2].median / series[0].median);
	json_f64(&j, "ours_fpctl_over_floor", series[3].median / series[1].median);
	json_f64(&j, "handoff_shared_over_own", series[5].median / series[4].median);
	json_f64(&j, "handoff_shared_copy_bytes_per_switch", copy_bytes_per_switch);
	json_f64(&j, "event_coro_over_ours", series[6].median / series[0].median);
	json_f64(&j, "event_mn1_over_event_coro", series[7].median / series[6].median);
	json_obj_close(&j);
	fputc('\n', stdout);
	fflush(stdout);

	fprintf(stderr,
		"switch: ns per switch, median (min) of %d interleaved repetitions, cpu %d\n", reps,
		cpu);
	for (k = 0; k < NSERIES; k++)
		fprintf(stderr, "  %-12s %8.2f (%.2f)\n", series[k].name, series[k].median,
			series[k].min);
	fprintf(stderr,
		"  ours/floor %.2fx (target <= 1.25x), swapcontext/ours %.1fx (target >= 30x), "
		"ours_fpctl/floor %.2fx\n",
		series[0].median / series[1].median, series[2].median / series[0].median,
		series[3].median / series[1].median);
	fprintf(stderr, "  handoff_shared/handoff_own %.2fx, %.0f bytes copied per switch\n",
		series[5].median / series[4].median, copy_bytes_per_switch);
	fprintf(stderr,
		"  event_coro/ours %.2fx (target <= 3x), event_mn1/event_coro %.2fx (target <= "
		"1.2x)\n",
		series[6].median / series[0].median, series[7].median / series[6].median);
	err = 0;
cleanup:
	for (k = 0; k < NSERIES; k++)
		free(series[k].ns);
	if (stacks)
		munmap(stacks, NSERIES * STACK_BYTES);
	return err;
}
