/* guard.h: stack-overflow reporting (internal to userspace/coro/). */
#ifndef SCHEDLAB_CORO_GUARD_H
#define SCHEDLAB_CORO_GUARD_H

#include "coro/coro.h"

/* The scheduler running on this thread, set by coro_sched_run*(): the signal
 * handler looks only at its current coroutine's guard page, since an
 * overflow happens on the stack that is running. */
extern __thread struct coro_sched *coro_tls_sched;

/* Installs the SIGSEGV handler (process-wide; again if someone replaced it)
 * and, once per thread, an alternate signal stack we mmap ourselves (an
 * overflowed stack cannot run the handler). 0 or -errno. */
int coro_guard_thread_init(void);
/* Drops this thread's reference; the last one removes our signal stack. */
void coro_guard_thread_fini(void);

#endif
