/* offload.c: helper threads for blocking file I/O (see offload.h). */
#include "offload.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static ssize_t run_req(const struct offload_req *r)
{
	ssize_t n;

	do {
		switch (r->op) {
		case OFFLOAD_PREAD:
			n = pread(r->fd, r->buf, r->len, r->off);
			break;
		case OFFLOAD_READ:
			n = read(r->fd, r->buf, r->len);
			break;
		case OFFLOAD_WRITE:
			n = write(r->fd, r->buf, r->len);
			break;
		default:
			return -EINVAL;
		}
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static void *worker(void *arg)
{
	struct offload_pool *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct offload_req *r;
		int was_empty;

		while (!p->todo_head && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (!p->todo_head)
			break; /* stop, and nothing left to do */
		r = p->todo_head;
		p->todo_head = r->next;
		if (!p->todo_head)
			p->todo_tail = NULL;
		pthread_mutex_unlock(&p->lock);

		r->res = run_req(r);

		pthread_mutex_lock(&p->lock);
		was_empty = !p->done;
		r->next = p->done;
		p->done = r;
		/* One eventfd write per batch: the model drains the whole
		 * list on each wake-up. An eventfd write cannot fail short of
		 * counter overflow, which these small counts never reach. */
		if (was_empty)
			(void)eventfd_write(p->efd, 1);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int offload_start(struct offload_pool *p, int nthreads)
{
	sigset_t all, old;
	int err = 0, i;

	memset(p, 0, sizeof(*p));
	p->efd = -1;
	if (nthreads < 1 || nthreads > OFFLOAD_MAX_THREADS)
		return -EINVAL;
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0)
		return -errno;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	/* Signals (SIGINT from the harness) belong to the scheduler thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < nthreads; i++) {
		err = -pthread_create(&p->threads[i], NULL, worker, p);
		if (err)
			break;
		p->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		goto cleanup;
	p->started = 1;
	return 0;
cleanup:
	p->started = 1; /* let offload_stop join what did start */
	offload_stop(p);
	return err;
}

void offload_submit(struct offload_pool *p, struct offload_req *r)
{
	r->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->todo_tail)
		p->todo_tail->next = r;
	else
		p->todo_head = r;
	p->todo_tail = r;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

struct offload_req *offload_take_done(struct offload_pool *p)
{
	struct offload_req *lifo, *fifo = NULL;
	eventfd_t count;

	/* Reset first: a completion after this read bumps it again. EAGAIN
	 * (nothing to reset: an earlier drain took this batch) is fine. */
	(void)eventfd_read(p->efd, &count);
	pthread_mutex_lock(&p->lock);
	lifo = p->done;
	p->done = NULL;
	pthread_mutex_unlock(&p->lock);
	while (lifo) {
		struct offload_req *r = lifo;

		lifo = r->next;
		r->next = fifo;
		fifo = r;
	}
	return fifo;
}

void offload_stop(struct offload_pool *p)
{
	int i;

	if (!p->started)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	if (p->efd >= 0)
		close(p->efd);
	p->efd = -1;
	p->nthreads = 0;
	p->started = 0;
}
