/* guard.c: turns a fault in a coroutine's guard page into a clear message.
 *
 * Without this an overflow is a bare "Segmentation fault", or with no guard
 * a silent corruption of the neighbouring stack. The handler runs on an
 * alternate signal stack (the faulting stack is, by definition, full), checks
 * whether the address lies in the running coroutine's guard page, prints
 *   coro: stack overflow in coroutine N (stack B bytes): raise stack_bytes
 * and aborts. Any other fault goes to the handler that was there before us,
 * or gets the default action (the faulting instruction re-executes and the
 * kernel kills the process with SIGSEGV, core and all).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coro/guard.h"
#include "coro/mapping.h"

/* 64 KiB: room for the handler and for libc's abort() with margin; SIGSTKSZ
 * is too small for some CPUs' signal frames (AVX-512, SME) and no longer a
 * constant in recent glibc. */
#define ALTSTACK_BYTES (64 * 1024)

__thread struct coro_sched *coro_tls_sched;

static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction prev_segv;
static __thread unsigned int thread_refs;
static __thread void *thread_altstack; /* mapping we own, or NULL */

/* Async-signal-safe decimal formatting (no snprintf in a handler). */
static size_t put_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

static size_t put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return n;
}

static void report_overflow(const struct coro *c)
{
	char msg[160];
	size_t n = 0;

	n += put_str(msg + n, "coro: stack overflow in coroutine ");
	n += put_u64(msg + n, c->id);
	n += put_str(msg + n, " (stack ");
	n += put_u64(msg + n, c->stack->usable);
	n += put_str(msg + n, " bytes): raise stack_bytes\n");
	/* Nothing useful to do if stderr is gone: we abort either way. */
	if (write(STDERR_FILENO, msg, n) < 0)
		abort();
	abort();
}

static void on_segv(int sig, siginfo_t *si, void *uctx)
{
	struct coro_sched *s = coro_tls_sched;
	struct coro *c = s ? s->current : NULL;

	if (c && c != &s->main && coro_stack_guarded(c->stack)) {
		uintptr_t addr = (uintptr_t)si->si_addr;
		uintptr_t guard = (uintptr_t)c->stack->map;

		if (addr >= guard && addr < guard + coro_page_bytes())
			report_overflow(c);
	}
	if (prev_segv.sa_flags & SA_SIGINFO) {
		prev_segv.sa_sigaction(sig, si, uctx);
		return;
	}
	if (prev_segv.sa_handler != SIG_DFL && prev_segv.sa_handler != SIG_IGN) {
		prev_segv.sa_handler(sig);
		return;
	}
	/* Default action: returning re-executes the faulting access. */
	signal(SIGSEGV, SIG_DFL);
}

static int install_handler(void)
{
	struct sigaction cur, sa;
	int err = 0;

	pthread_mutex_lock(&install_lock);
	if (sigaction(SIGSEGV, NULL, &cur) != 0) {
		err = -errno;
		goto cleanup;
	}
	/* Already ours; never save ourselves as "previous" (an endless chain). */
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_segv)
		goto cleanup;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &prev_segv) != 0)
		err = -errno;
cleanup:
	pthread_mutex_unlock(&install_lock);
	return err;
}

static int install_altstack(void)
{
	size_t page = coro_page_bytes();
	stack_t cur, ss;
	void *map;

	if (sigaltstack(NULL, &cur) != 0)
		return -errno;
	/* Someone (a sanitizer, the application) already gave this thread a
	 * signal stack: use theirs. */
	if (!(cur.ss_flags & SS_DISABLE))
		return 0;
	/* A guard page below our signal stack too. */
	map = mmap(NULL, ALTSTACK_BYTES + page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (map == MAP_FAILED)
		return -ENOMEM;
	if (mprotect(map, page, PROT_NONE) != 0) {
		munmap(map, ALTSTACK_BYTES + page);
		return -ENOMEM;
	}
	ss.ss_sp = (char *)map + page;
	ss.ss_size = ALTSTACK_BYTES;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) != 0) {
		int err = -errno;

		munmap(map, ALTSTACK_BYTES + page);
		return err;
	}
	thread_altstack = map;
	return 0;
}

int coro_guard_thread_init(void)
{
	int err;

	err = install_handler();
	if (err)
		return err;
	if (thread_refs == 0) {
		err = install_altstack();
		if (err)
			return err;
	}
	thread_refs++;
	return 0;
}

void coro_guard_thread_fini(void)
{
	stack_t ss = {.ss_flags = SS_DISABLE};

	if (thread_refs == 0 || --thread_refs > 0)
		return;
	if (thread_altstack) {
		sigaltstack(&ss, NULL);
		munmap(thread_altstack, ALTSTACK_BYTES + coro_page_bytes());
		thread_altstack = NULL;
	}
	/* The SIGSEGV handler stays: other threads may still run schedulers,
	 * and without a scheduler on a thread it only forwards the fault. */
}
