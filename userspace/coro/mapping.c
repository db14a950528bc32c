/* mapping.c: the memory under every kind of stack (mapping.h): mmap'd
 * ranges that only count their touched pages, and guard pages, made by the
 * method this kernel has (coro_guard_method()). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coro/mapping.h"
#include "lib/clock.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* include/uapi/asm-generic/mman-common.h, 6.13 */
#endif

size_t coro_page_bytes(void)
{
	static size_t page_bytes;

	/* Racy but idempotent: every thread computes the same value. */
	if (!page_bytes) {
		long v = sysconf(_SC_PAGESIZE);

		page_bytes = v > 0 ? (size_t)v : 4096;
	}
	return page_bytes;
}

/* Probed on a scratch mapping: EINVAL before 6.13 (unknown advice) and
 * under seccomp filters that refuse it. An emulator may also answer 0 and do
 * nothing (qemu-user ignores advice it does not know), so the guard must
 * then make the kernel refuse to read the page: write(2) from it into a
 * pipe fails with EFAULT. */
int coro_guard_in_page_table(void)
{
	static int state; /* 0 unknown, 1 yes, -1 no; racy but idempotent */
	size_t page = coro_page_bytes();
	int fds[2];
	void *p;

	if (state)
		return state > 0;
	p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 0; /* no verdict: try again next time */
	if (pipe2(fds, O_CLOEXEC)) {
		munmap(p, 2 * page);
		return 0;
	}
	state = -1;
	if (madvise(p, page, MADV_GUARD_INSTALL) == 0 && write(fds[1], p, 1) < 0 && errno == EFAULT)
		state = 1;
	close(fds[0]);
	close(fds[1]);
	munmap(p, 2 * page);
	return state > 0;
}

const char *coro_guard_method(void)
{
	return coro_guard_in_page_table() ? "madv_guard_install" : "mprotect";
}

size_t coro_stack_usable(size_t stack_bytes)
{
	size_t page = coro_page_bytes();

	if (stack_bytes == 0)
		stack_bytes = CORO_DEFAULT_STACK_BYTES;
	if (stack_bytes > CORO_MAX_STACK_BYTES)
		return 0;
	return (stack_bytes + page - 1) & ~(page - 1);
}

void *coro_map_noreserve(struct coro_sched *s, size_t bytes)
{
	uint64_t t0 = now_ns();
	/* MAP_NORESERVE: only touched pages count against overcommit, so a
	 * million 64 KiB stacks do not need 64 GiB of commit. */
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);

	s->stats.map_ns += now_ns() - t0;
	return p == MAP_FAILED ? NULL : p;
}

int coro_guard_install(struct coro_sched *s, void *page_addr, int madv)
{
	uint64_t t0 = now_ns();
	/* mprotect fails with ENOMEM when the split would exceed
	 * vm.max_map_count; madvise with ENOMEM when out of memory for the
	 * page table that holds the marker. */
	int err = madv ? madvise(page_addr, coro_page_bytes(), MADV_GUARD_INSTALL)
		       : mprotect(page_addr, coro_page_bytes(), PROT_NONE);

	s->stats.guard_ns += now_ns() - t0;
	return err ? -ENOMEM : 0;
}

int coro_map_guarded(struct coro_sched *s, size_t usable, void **base, size_t *map_bytes)
{
	size_t bytes = usable + coro_page_bytes();
	void *p = coro_map_noreserve(s, bytes);

	if (!p)
		return -ENOMEM;
	if (coro_guard_install(s, p, coro_guard_in_page_table())) {
		munmap(p, bytes);
		return -ENOMEM;
	}
	*base = p;
	*map_bytes = bytes;
	return 0;
}
