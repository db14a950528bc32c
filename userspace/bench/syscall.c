/* syscall.c: what one system call costs on this machine: the round trip of
 * getppid(2), the cheapest call the kernel has (no lock, no copy), issued
 * with syscall(2) so no library caches it. Entry and exit dominate it, and
 * they are what the page-table isolation, retpoline and other mitigations
 * of cpu.vulnerabilities add to: a coroutine runtime that needs more calls
 * per hand-off than the kernel's own switch (read, EAGAIN, epoll wait,
 * write against a blocking read and write) wins or loses by this figure.
 * The harness records it in env.json, and the report's machine line shows
 * it.
 *
 * Each repetition times CALLS calls on the CPU the process runs on; the
 * median, min and max of the repetitions' ns per call are reported.
 *
 * Output: one JSON object on stdout (schema 1).
 * Usage: build/bench/syscall [REPETITIONS]   (def: 11, at most 1000)
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/json.h"

#define CALLS	     20000 /* 20 ms at 1 us, 1.4 ms at 70 ns */
#define WARMUP_CALLS 2000
#define MAX_REPS     1000
#define DEFAULT_REPS 11

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double ns_per_call(unsigned calls)
{
	uint64_t t0 = now_ns();

	for (unsigned i = 0; i < calls; i++)
		syscall(SYS_getppid);
	return (double)(now_ns() - t0) / calls;
}

int main(int argc, char **argv)
{
	static double ns[MAX_REPS];
	long reps = DEFAULT_REPS;
	struct json j;

	if (argc > 2 ||
	    (argc == 2 && ((reps = strtol(argv[1], NULL, 10)) < 1 || reps > MAX_REPS))) {
		fprintf(stderr, "usage: %s [REPETITIONS 1-%d]\n", argv[0], MAX_REPS);
		return 2;
	}
	ns_per_call(WARMUP_CALLS);
	for (long i = 0; i < reps; i++)
		ns[i] = ns_per_call(CALLS);
	qsort(ns, (size_t)reps, sizeof(ns[0]), cmp_double);

	json_init(&j, stdout);
	json_obj_open(&j, NULL);
	json_u64(&j, "schema", 1);
	json_str(&j, "bench", "syscall");
	json_str(&j, "call", "getppid");
	json_str(&j, "unit", "ns_per_call");
	json_u64(&j, "repetitions", (uint64_t)reps);
	json_u64(&j, "calls_per_repetition", CALLS);
	json_i64(&j, "cpu", sched_getcpu());
	json_f64(&j, "median", reps % 2 ? ns[reps / 2] : (ns[reps / 2 - 1] + ns[reps / 2]) / 2);
	json_f64(&j, "min", ns[0]);
	json_f64(&j, "max", ns[reps - 1]);
	json_obj_close(&j);
	putchar('\n');
	return 0;
}
