/* probes.h: the runtime's USDT probes (provider "schedlab"; arguments are
 * documented in coro.h). Internal to userspace/coro/.
 *
 * Each probe has a semaphore that the kernel increments when a uprobe is
 * attached to it (libbpf passes its address as the uprobe's ref_ctr_offset),
 * so a detached probe costs one load and one not-taken branch; the argument
 * marshalling is skipped. The semaphores are defined in coro.c.
 * Without <sys/sdt.h> (systemtap-sdt-dev) the probes compile to nothing.
 */
#ifndef SCHEDLAB_CORO_PROBES_H
#define SCHEDLAB_CORO_PROBES_H

#if defined(__has_include)
#if __has_include(<sys/sdt.h>)
#define CORO_HAVE_USDT 1
#endif
#endif

#ifdef CORO_HAVE_USDT
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

#define CORO_SEMAPHORE_DEFINE(name)                                                                \
	volatile unsigned short schedlab_##name##_semaphore                                        \
		__attribute__((section(".probes"), used))
extern volatile unsigned short schedlab_coro_spawn_semaphore;
extern volatile unsigned short schedlab_coro_ready_semaphore;
extern volatile unsigned short schedlab_coro_switch_semaphore;
extern volatile unsigned short schedlab_coro_exit_semaphore;
extern volatile unsigned short schedlab_coro_park_semaphore;
/* The mn model's (models/mn_sched.c defines them; arguments in mn_sched.h). */
extern volatile unsigned short schedlab_mn_worker_semaphore;
extern volatile unsigned short schedlab_mn_steal_semaphore;
extern volatile unsigned short schedlab_mn_park_semaphore;
extern volatile unsigned short schedlab_mn_unpark_semaphore;

#define CORO_PROBE1(name, a)                                                                       \
	do {                                                                                       \
		if (__builtin_expect(schedlab_##name##_semaphore, 0))                              \
			STAP_PROBE1(schedlab, name, (uint64_t)(a));                                \
	} while (0)
#define CORO_PROBE2(name, a, b)                                                                    \
	do {                                                                                       \
		if (__builtin_expect(schedlab_##name##_semaphore, 0))                              \
			STAP_PROBE2(schedlab, name, (uint64_t)(a), (uint64_t)(b));                 \
	} while (0)
#define CORO_PROBE3(name, a, b, c)                                                                 \
	do {                                                                                       \
		if (__builtin_expect(schedlab_##name##_semaphore, 0))                              \
			STAP_PROBE3(schedlab, name, (uint64_t)(a), (uint64_t)(b), (uint64_t)(c));  \
	} while (0)
#else
#define CORO_PROBE1(name, a)                                                                       \
	do {                                                                                       \
		(void)(a);                                                                         \
	} while (0)
#define CORO_PROBE2(name, a, b)                                                                    \
	do {                                                                                       \
		(void)(a);                                                                         \
		(void)(b);                                                                         \
	} while (0)
#define CORO_PROBE3(name, a, b, c)                                                                 \
	do {                                                                                       \
		(void)(a);                                                                         \
		(void)(b);                                                                         \
		(void)(c);                                                                         \
	} while (0)
#endif

#endif
