/* event_fifo.h: the FIFO of tasks parked on an rt_event (its head and tail),
 * as the coroutine models keep it (rt.h): linked through the waiter's own
 * `next`, which is free while it waits. Macros, because coro links its
 * struct coro and mn its struct mn_co; the caller holds whatever guards ev.
 */
#ifndef SCHEDLAB_EVENT_FIFO_H
#define SCHEDLAB_EVENT_FIFO_H

#include <stddef.h>

/* Appends waiter (a pointer to a struct with a `next` link). */
#define EVENT_FIFO_PUSH(ev, waiter)                                                                \
	do {                                                                                       \
		(waiter)->next = NULL;                                                             \
		if ((ev)->tail)                                                                    \
			((__typeof__(waiter))(ev)->tail)->next = (waiter);                         \
		else                                                                               \
			(ev)->head = (waiter);                                                     \
		(ev)->tail = (waiter);                                                             \
	} while (0)

/* Takes the oldest waiter into out (NULL when none). */
#define EVENT_FIFO_POP(ev, out)                                                                    \
	do {                                                                                       \
		(out) = (ev)->head;                                                                \
		if (out) {                                                                         \
			(ev)->head = (out)->next;                                                  \
			if (!(ev)->head)                                                           \
				(ev)->tail = NULL;                                                 \
			(out)->next = NULL;                                                        \
		}                                                                                  \
	} while (0)

#endif
