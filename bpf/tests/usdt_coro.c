/* usdt_coro: fires the coroutine runtime's USDT probes (provider schedlab,
 * as userspace/coro/coro.c does) in a known pattern, for schedtrace's usdt
 * probe test before and beside the real runtime.
 *
 * usage: usdt_coro COROUTINES ROUNDS [THREADS]
 * Simulates COROUTINES coroutines taking ROUNDS turns each through a
 * scheduler context (id 0): spawn each, then per turn ready(id),
 * switch(0 -> id), switch(id -> 0); exit each. With THREADS (def: 1), that
 * many scheduler threads do so at once, as an M:N runtime's workers would,
 * each with its own coroutine ids. Prints the totals:
 * {"coro_switches": N, "spawns": N, "readies": N, "exits": N}.
 * The probes are guarded by semaphores, like the runtime's.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
/* With _SDT_HAS_SEMAPHORES each probe's note names a semaphore
 * <provider>_<name>_semaphore that the tracer increments while attached. */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

#define SDT_SEM(name)                                                                              \
	__attribute__((section(".probes"),                                                         \
		       used)) volatile unsigned short schedlab_##name##_semaphore
SDT_SEM(coro_spawn);
SDT_SEM(coro_ready);
SDT_SEM(coro_switch);
SDT_SEM(coro_exit);

struct sched_thread {
	unsigned long long first, coros; /* its coroutine ids: first .. first+coros-1 */
	long rounds;
	unsigned long long switches, spawns, readies, exits;
};

static void *scheduler(void *arg)
{
	struct sched_thread *t = arg;
	unsigned long long last = t->first + t->coros - 1;
	volatile unsigned long long sink = 0;

	for (unsigned long long id = t->first; id <= last; id++) {
		if (schedlab_coro_spawn_semaphore)
			STAP_PROBE1(schedlab, coro_spawn, id);
		t->spawns++;
	}
	for (long r = 0; r < t->rounds; r++) {
		for (unsigned long long id = t->first; id <= last; id++) {
			if (r) {
				if (schedlab_coro_ready_semaphore)
					STAP_PROBE1(schedlab, coro_ready, id);
				t->readies++;
			}
			if (schedlab_coro_switch_semaphore)
				STAP_PROBE2(schedlab, coro_switch, 0ULL, id);
			sink += id;
			if (schedlab_coro_switch_semaphore)
				STAP_PROBE2(schedlab, coro_switch, id, 0ULL);
			t->switches += 2;
		}
	}
	for (unsigned long long id = t->first; id <= last; id++) {
		if (schedlab_coro_exit_semaphore)
			STAP_PROBE1(schedlab, coro_exit, id);
		t->exits++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned long long switches = 0, spawns = 0, readies = 0, exits = 0;
	struct sched_thread t[64] = {0};
	pthread_t tid[64];
	long coros, rounds, threads = 1;

	if ((argc != 3 && argc != 4) || (coros = strtol(argv[1], NULL, 10)) <= 0 ||
	    (rounds = strtol(argv[2], NULL, 10)) <= 0 ||
	    (argc == 4 && ((threads = strtol(argv[3], NULL, 10)) <= 0 || threads > 64))) {
		fprintf(stderr, "usage: usdt_coro COROUTINES ROUNDS [THREADS (1..64)]\n");
		return 2;
	}
	for (long i = 0; i < threads; i++) {
		t[i].first = (unsigned long long)(i * coros + 1);
		t[i].coros = (unsigned long long)coros;
		t[i].rounds = rounds;
		if (pthread_create(&tid[i], NULL, scheduler, &t[i])) {
			fprintf(stderr, "usdt_coro: pthread_create failed\n");
			return 1;
		}
	}
	for (long i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		switches += t[i].switches;
		spawns += t[i].spawns;
		readies += t[i].readies;
		exits += t[i].exits;
	}
	printf("{\"coro_switches\": %llu, \"spawns\": %llu, \"readies\": %llu, \"exits\": %llu}\n",
	       switches, spawns, readies, exits);
	return 0;
}
