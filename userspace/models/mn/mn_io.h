/* mn_io.h: the mn model's I/O: one epoll instance shared by every worker
 * (docs/mn.md says why not one per worker), sockets and pipes non-blocking
 * and edge-triggered as under coro, blocking file reads on coro's helper
 * threads (offload.h). Only the worker holding mn_rt.poller calls
 * the poll; any worker may start a wait.
 */
#ifndef SCHEDLAB_MN_IO_H
#define SCHEDLAB_MN_IO_H

#include <stdint.h>
#include <sys/types.h>

#include "models/co/cofd.h"
#include "mn_sched.h"

struct mn_io_stats {
	struct cofd_stats fd;
	uint64_t breaks; /* a blocked poller woken to run work */
};

/* Creates the shared epoll instance and installs mn_io_ops in m. */
int mn_io_init(struct mn_rt *m);
void mn_io_destroy(struct mn_rt *m);
void mn_io_stats(const struct mn_rt *m, struct mn_io_stats *out);

int mn_fd_add(struct rt *rt, int fd);
int mn_close(struct rt *rt, int fd);
ssize_t mn_read(struct rt *rt, int fd, void *buf, size_t len);
ssize_t mn_write(struct rt *rt, int fd, const void *buf, size_t len);
ssize_t mn_pread(struct rt *rt, int fd, void *buf, size_t len, off_t off);
int mn_accept(struct rt *rt, int fd);

#endif
