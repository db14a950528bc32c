/* usdt_coro: fires the coroutine runtime's USDT probes (provider schedlab,
 * as userspace/coro/coro.c does) in a known pattern, for schedtrace's usdt
 * probe test before and beside the real runtime.
 *
 * usage: usdt_coro COROUTINES ROUNDS
 * Simulates COROUTINES coroutines taking ROUNDS turns each through a
 * scheduler context (id 0): spawn each, then per turn ready(id),
 * switch(0 -> id), switch(id -> 0); exit each. Prints
 * {"coro_switches": N, "spawns": N, "readies": N, "exits": N}.
 * The probes are guarded by semaphores, like the runtime's.
 */
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

int main(int argc, char **argv)
{
	unsigned long long switches = 0, spawns = 0, readies = 0, exits = 0;
	long coros, rounds;
	volatile unsigned long long sink = 0;

	if (argc != 3 || (coros = strtol(argv[1], NULL, 10)) <= 0 ||
	    (rounds = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: usdt_coro COROUTINES ROUNDS\n");
		return 2;
	}
	for (unsigned long long id = 1; id <= (unsigned long long)coros; id++) {
		if (schedlab_coro_spawn_semaphore)
			STAP_PROBE1(schedlab, coro_spawn, id);
		spawns++;
	}
	for (long r = 0; r < rounds; r++) {
		for (unsigned long long id = 1; id <= (unsigned long long)coros; id++) {
			if (r) {
				if (schedlab_coro_ready_semaphore)
					STAP_PROBE1(schedlab, coro_ready, id);
				readies++;
			}
			if (schedlab_coro_switch_semaphore)
				STAP_PROBE2(schedlab, coro_switch, 0ULL, id);
			sink += id;
			if (schedlab_coro_switch_semaphore)
				STAP_PROBE2(schedlab, coro_switch, id, 0ULL);
			switches += 2;
		}
	}
	for (unsigned long long id = 1; id <= (unsigned long long)coros; id++) {
		if (schedlab_coro_exit_semaphore)
			STAP_PROBE1(schedlab, coro_exit, id);
		exits++;
	}
	printf("{\"coro_switches\": %llu, \"spawns\": %llu, \"readies\": %llu, \"exits\": %llu}\n",
	       switches, spawns, readies, exits);
	return 0;
}
