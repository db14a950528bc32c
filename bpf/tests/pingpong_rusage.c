/* pingpong_rusage: a known scheduling pattern for schedtrace's tests.
 *
 * Two threads hand a token back and forth over two pipes ITERATIONS times
 * (each hand-off blocks the sender: voluntary switches), optionally pinned to
 * one CPU so that CPU hogs beside it cause involuntary ones. Before the
 * threads exit, main reads /proc/self/task/<tid>/schedstat for every thread
 * while they are parked (a thread's schedstat vanishes with it), then
 * releases and joins them, and prints one JSON line on stdout:
 *   {"tids": [...], "schedstat": {"<tid>": {"run_ns", "wait_ns", "pcount"}},
 *    "usage": {"voluntary_switches", "involuntary_switches"}}
 * usage is getrusage(RUSAGE_SELF) taken last, just before exit.
 *
 * usage: pingpong_rusage ITERATIONS [CPU|-1]
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

struct player {
	int in, out; /* read the token from in, pass it on out */
	int park;    /* read end: blocks here until main releases it */
	long iterations;
	int first; /* 1: sends first */
	pid_t tid;
	int done; /* its hand-offs are over: set before it parks */
	pthread_t thread;
};

static void *play(void *arg)
{
	struct player *p = arg;
	char c = 't';

	p->tid = (pid_t)syscall(SYS_gettid);
	for (long i = 0; i < p->iterations; i++) {
		if (p->first && write(p->out, &c, 1) != 1)
			return (void *)1;
		if (read(p->in, &c, 1) != 1)
			return (void *)1;
		if (!p->first && write(p->out, &c, 1) != 1)
			return (void *)1;
	}
	/* parked until main has read our schedstat */
	__atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
	if (read(p->park, &c, 1) != 1)
		return (void *)1;
	return NULL;
}

static int print_schedstat(pid_t tid, int first)
{
	unsigned long long run, wait, pcount;
	char path[64];
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", tid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	n = fscanf(f, "%llu %llu %llu", &run, &wait, &pcount);
	fclose(f);
	if (n != 3)
		return -EINVAL;
	printf("%s\"%d\": {\"run_ns\": %llu, \"wait_ns\": %llu, \"pcount\": %llu}",
	       first ? "" : ", ", tid, run, wait, pcount);
	return 0;
}

int main(int argc, char **argv)
{
	struct player pl[2] = {};
	int a[2], b[2], park[2];
	struct rusage ru;
	long iterations;
	int cpu = -1, err = 0;

	if (argc < 2 || (iterations = strtol(argv[1], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: pingpong_rusage ITERATIONS [CPU|-1]\n");
		return 2;
	}
	if (argc > 2)
		cpu = atoi(argv[2]);
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			fprintf(stderr, "pingpong_rusage: sched_setaffinity: %s\n",
				strerror(errno));
			return 1;
		}
	}
	if (pipe(a) || pipe(b) || pipe(park)) {
		fprintf(stderr, "pingpong_rusage: pipe: %s\n", strerror(errno));
		return 1;
	}
	pl[0] = (struct player){
		.in = b[0], .out = a[1], .park = park[0], .iterations = iterations, .first = 1};
	pl[1] = (struct player){
		.in = a[0], .out = b[1], .park = park[0], .iterations = iterations, .first = 0};
	for (int i = 0; i < 2; i++) {
		if (pthread_create(&pl[i].thread, NULL, play, &pl[i])) {
			fprintf(stderr, "pingpong_rusage: pthread_create failed\n");
			return 1;
		}
	}
	/* wait until both are parked: their last hand-off is done (done) and
	 * each is blocked on `park` (state S in /proc). State S alone is not
	 * enough: a thread is in S too while it blocks in a hand-off or in
	 * glibc's thread start-up, and a read then sees a few switches only. */
	for (;;) {
		int parked = 0;

		for (int i = 0; i < 2; i++) {
			char path[64], line[256];
			FILE *f;

			if (!__atomic_load_n(&pl[i].done, __ATOMIC_ACQUIRE))
				continue;
			snprintf(path, sizeof(path), "/proc/self/task/%d/stat", pl[i].tid);
			f = fopen(path, "r");
			if (!f)
				continue;
			if (fgets(line, sizeof(line), f)) {
				char *st = strrchr(line, ')');

				parked += st && st[2] == 'S';
			}
			fclose(f);
		}
		if (parked == 2)
			break;
		usleep(1000);
	}
	printf("{\"tids\": [%d, %d, %d], \"schedstat\": {", (int)getpid(), pl[0].tid, pl[1].tid);
	for (int i = 0; i < 2; i++)
		if ((err = print_schedstat(pl[i].tid, i == 0)))
			break;
	if (err) {
		fprintf(stderr, "pingpong_rusage: schedstat: %s\n", strerror(-err));
		return 1;
	}
	printf("}, ");
	if (write(park[1], "xx", 2) != 2)
		return 1;
	for (int i = 0; i < 2; i++) {
		void *ret;

		pthread_join(pl[i].thread, &ret);
		if (ret)
			return 1;
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("\"usage\": {\"voluntary_switches\": %ld, \"involuntary_switches\": %ld}}\n",
	       ru.ru_nvcsw, ru.ru_nivcsw);
	return 0;
}
