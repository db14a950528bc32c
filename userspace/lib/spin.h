/* spin.h: CPU work the compiler cannot drop, by steps or by time. Tasks that
 * burn CPU between their scheduling events (preempt's hogs and ticks,
 * pingpong's work between hand-offs) share it, so "work" means the same. */
#ifndef SCHEDLAB_SPIN_H
#define SCHEDLAB_SPIN_H

#include <stdint.h>

#include "lib/clock.h"

/* Serial integer work: a dependency chain the compiler cannot drop. */
static inline uint64_t spin_steps(uint64_t x, unsigned steps)
{
	for (unsigned i = 0; i < steps; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		x ^= x >> 29;
	}
	return x;
}

/* Spins until ns have passed on the clock (preemptions included). */
static inline void spin_for_ns(uint64_t ns)
{
	uint64_t end = now_ns() + ns, x = end;

	while (now_ns() < end)
		x = spin_steps(x, 16);
	__asm__ __volatile__("" : : "r"(x));
}

#endif
