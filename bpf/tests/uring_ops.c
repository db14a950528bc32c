/* uring_ops: submits known numbers of io_uring requests, for schedtrace's
 * io-wq offload test.
 *
 * usage: uring_ops NOPS READS ASYNC_NOPS ASYNC_READS FILE
 *   NOPS         plain IORING_OP_NOP (completed inline: no io-wq)
 *   READS        4 KiB reads of FILE, which is read once first so they hit
 *                the page cache (completed inline here: no io-wq)
 *   ASYNC_NOPS   NOPs with IOSQE_ASYNC (always punted to io-wq)
 *   ASYNC_READS  page-cache reads with IOSQE_ASYNC (always punted)
 * Each request is submitted and reaped one batch kind at a time. Prints
 * {"submitted": N, "completed": N, "async": N, "errors": N} on stdout.
 * Exit 77 when io_uring is not available here.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int run(struct io_uring *ring, int fd, long n, int read_op, int flags, long *done,
	       long *errors)
{
	static char buf[4096];

	for (long i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
		struct io_uring_cqe *cqe;
		int err;

		if (!sqe)
			return -EBUSY;
		if (read_op)
			io_uring_prep_read(sqe, fd, buf, sizeof(buf), 0);
		else
			io_uring_prep_nop(sqe);
		sqe->flags |= flags;
		err = io_uring_submit_and_wait(ring, 1);
		if (err < 0)
			return err;
		err = io_uring_wait_cqe(ring, &cqe);
		if (err)
			return err;
		if (cqe->res < 0)
			(*errors)++;
		io_uring_cqe_seen(ring, cqe);
		(*done)++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long n[4], done = 0, errors = 0;
	struct io_uring ring;
	char buf[4096];
	int fd, err;

	if (argc != 6) {
		fprintf(stderr, "usage: uring_ops NOPS READS ASYNC_NOPS ASYNC_READS FILE\n");
		return 2;
	}
	for (int i = 0; i < 4; i++)
		n[i] = strtol(argv[i + 1], NULL, 10);
	fd = open(argv[5], O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "uring_ops: %s: %s\n", argv[5], strerror(errno));
		return 2;
	}
	if (read(fd, buf, sizeof(buf)) < 0) { /* into the page cache */
		fprintf(stderr, "uring_ops: read: %s\n", strerror(errno));
		return 1;
	}
	err = io_uring_queue_init(8, &ring, 0);
	if (err) {
		fprintf(stderr, "uring_ops: io_uring_queue_init: %s\n", strerror(-err));
		return err == -ENOSYS || err == -EPERM ? 77 : 1;
	}
	if (!err)
		err = run(&ring, fd, n[0], 0, 0, &done, &errors);
	if (!err)
		err = run(&ring, fd, n[1], 1, 0, &done, &errors);
	if (!err)
		err = run(&ring, fd, n[2], 0, IOSQE_ASYNC, &done, &errors);
	if (!err)
		err = run(&ring, fd, n[3], 1, IOSQE_ASYNC, &done, &errors);
	io_uring_queue_exit(&ring);
	close(fd);
	if (err) {
		fprintf(stderr, "uring_ops: %s\n", strerror(-err));
		return 1;
	}
	printf("{\"submitted\": %ld, \"completed\": %ld, \"async\": %ld, \"errors\": %ld}\n",
	       n[0] + n[1] + n[2] + n[3], done, n[2] + n[3], errors);
	return 0;
}
