/* uring_recv.c: rt_read of a stream socket under the uring model.
 *
 * Multishot recv with provided buffers (Linux 6.0+; buffer rings 5.19+): the
 * first rt_read of a stream socket arms one IORING_OP_RECV with
 * IORING_RECV_MULTISHOT and IOSQE_BUFFER_SELECT, which then posts a CQE each
 * time data arrives, in a buffer the kernel took from a ring we registered.
 * So a connection that reads, writes and reads again costs one request (the
 * write) per round instead of two. The data waits in the socket's queue of
 * filled buffers until rt_read copies it into the caller's buffer (read(2)
 * semantics: at most len bytes, whatever is there, a remainder stays for the
 * next rt_read); a buffer goes back into the ring as soon as it is empty.
 * One multishot per socket, never a plain read next to it (several
 * receives on one socket re-poll quadratically, and two could reorder the
 * stream: docs/kernel-notes.md).
 *
 * Only SOCK_STREAM sockets (fstat S_ISSOCK + SO_TYPE at rt_fd_add): a
 * datagram read shorter than the datagram drops the rest, which a kept
 * remainder would change; pipes and files keep the plain path (uring.c).
 *
 * Buffer rings: URING_RECV_BUF_BYTES each, two per stream socket, a power of
 * two between RING_MIN and RING_MAX (32768, the kernel's limit) entries. The
 * model does not know how many connections a task will make, so the ring
 * grows: when the sockets outgrow it, a ring twice as large (new buffer
 * group id) takes the new requests and the old one is retired: its buffers
 * are not given back, requests still using it end with -ENOBUFS and re-arm
 * on the new ring, and it is unregistered and unmapped once nothing uses it.
 * liburing 2.3 has no io_uring_setup_buf_ring: we mmap and register by hand.
 *
 * A multishot recv ends with a CQE without IORING_CQE_F_MORE: -ENOBUFS when
 * the ring ran dry, 0 at EOF, an error, or the kernel's own reasons (a full
 * CQ ring). It is re-armed by the next rt_read that finds nothing queued,
 * never in the completion path, so a ring that stays dry cannot make us spin:
 * when the current ring has no free buffer, that rt_read is one plain read
 * into the caller's buffer instead (uring_recv_plain_reads).
 *
 * Detection at run time: no IORING_OP_RECV in the opcode probe, a refused
 * io_uring_register_buf_ring, or -EINVAL from the first multishot (kernel
 * before 6.0) turns it off for the rest of the run; uring_recv_note says why.
 * The model parameter uring_recv=multishot turns it on (default: single).
 *
 * Off by default: on echo it halved the submissions per request but left
 * server CPU per request and requests/s unchanged, while each connection
 * holds two buffers (2.5x the peak RSS at 1,000 connections); the
 * measurement is in docs/kernel-notes.md ("Multishot receive").
 *
 * Close: rt_close cancels the multishot by its user_data before closing the
 * fd. CQEs may still arrive after that (data already in flight, then
 * -ECANCELED): they point at the socket's state, which is therefore freed
 * only when the request is known to be over (a CQE without F_MORE), or with
 * the ring at teardown; their buffers go straight back into the ring.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uring_rt.h"

#define RING_MIN	64
#define RING_MAX	32768
#define BUFS_PER_SOCKET 2
/* A parked reader's result meaning "look at the socket again"; no byte count
 * or errno is this negative. */
#define RECV_WAKE INT32_MIN

/* One provided buffer: its place in a socket's queue once the kernel filled
 * it. Its buffer id is its index in the group's meta array. */
struct rbuf {
	struct rbuf *next;
	struct bufgroup *g;
	uint32_t off, len; /* the bytes not yet copied out */
};

struct bufgroup {
	struct io_uring_buf_ring *br;
	size_t ring_bytes;
	char *mem; /* entries * URING_RECV_BUF_BYTES */
	size_t mem_bytes;
	struct rbuf *meta;
	unsigned entries;
	int bgid;
	int registered;
	int retired;   /* a larger ring took over: buffers are not given back */
	unsigned held; /* filled by the kernel, not yet given back */
	unsigned arms; /* multishot requests using this ring */
	struct bufgroup *next;
};

struct rwait {
	struct coro *co;
	int32_t res;
};

struct rsock {
	int fd;
	int armed;	    /* the multishot request is in flight */
	int closed;	    /* rt_close ran: drop whatever still arrives */
	int eof;	    /* the peer closed: every later read returns 0 */
	int got_any;	    /* a CQE brought data (multishot works) */
	int32_t err;	    /* an error to return once, after the queued data */
	struct bufgroup *g; /* the ring of the armed request */
	struct rbuf *head, *tail;
	struct rwait *waiter;	   /* at most one reader per socket (uring.c) */
	struct rsock *prev, *next; /* u->all_rsocks */
};

int uring_recv_init(struct uring_rt *u, int multishot)
{
	struct io_uring_probe *probe;

	if (!multishot) {
		snprintf(u->recv_note, sizeof(u->recv_note),
			 "single-shot (uring_recv=single, the default)");
		return 0;
	}
	probe = io_uring_get_probe_ring(&u->ring);
	if (!probe || !io_uring_opcode_supported(probe, IORING_OP_RECV)) {
		snprintf(u->recv_note, sizeof(u->recv_note),
			 "kernel lacks IORING_OP_RECV (needs Linux >= 5.6): one read per rt_read");
		multishot = 0;
	}
	if (probe)
		io_uring_free_probe(probe);
	u->recv_multishot = multishot;
	return 0;
}

static void recv_off(struct uring_rt *u, const char *why, int err)
{
	u->recv_multishot = 0;
	snprintf(u->recv_note, sizeof(u->recv_note), "%s (%s): one read per rt_read", why,
		 strerror(-err));
}

/* ---- buffer rings ------------------------------------------------------------ */

static void group_release(struct uring_rt *u, struct bufgroup *g, int ring_alive)
{
	if (g->registered && ring_alive)
		io_uring_unregister_buf_ring(&u->ring, g->bgid);
	if (g->br)
		munmap(g->br, g->ring_bytes);
	if (g->mem)
		munmap(g->mem, g->mem_bytes);
	free(g->meta);
	free(g);
}

static void give_back(struct bufgroup *g, unsigned bid)
{
	io_uring_buf_ring_add(g->br, g->mem + (size_t)bid * URING_RECV_BUF_BYTES,
			      URING_RECV_BUF_BYTES, (unsigned short)bid,
			      io_uring_buf_ring_mask(g->entries), 0);
	io_uring_buf_ring_advance(g->br, 1);
}

static int group_new(struct uring_rt *u, unsigned entries, struct bufgroup **out)
{
	struct bufgroup *g = calloc(1, sizeof(*g));
	struct io_uring_buf_reg reg = {0};
	unsigned i;
	int err;

	if (!g)
		return -ENOMEM;
	g->entries = entries;
	g->bgid = u->next_bgid++;
	/* the ring must be page-aligned: mmap gives that */
	g->ring_bytes = entries * sizeof(struct io_uring_buf);
	g->br = mmap(NULL, g->ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		     0);
	if (g->br == MAP_FAILED) {
		g->br = NULL;
		err = -errno;
		goto cleanup;
	}
	/* untouched pages cost nothing: a buffer is paid for when the
	 * kernel first fills it */
	g->mem_bytes = (size_t)entries * URING_RECV_BUF_BYTES;
	g->mem = mmap(NULL, g->mem_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		      0);
	if (g->mem == MAP_FAILED) {
		g->mem = NULL;
		err = -errno;
		goto cleanup;
	}
	g->meta = calloc(entries, sizeof(*g->meta));
	if (!g->meta) {
		err = -ENOMEM;
		goto cleanup;
	}
	reg.ring_addr = (uint64_t)(uintptr_t)g->br;
	reg.ring_entries = entries;
	reg.bgid = (uint16_t)g->bgid;
	err = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (err)
		goto cleanup;
	g->registered = 1;
	io_uring_buf_ring_init(g->br);
	for (i = 0; i < entries; i++) {
		g->meta[i].g = g;
		io_uring_buf_ring_add(g->br, g->mem + (size_t)i * URING_RECV_BUF_BYTES,
				      URING_RECV_BUF_BYTES, (unsigned short)i,
				      io_uring_buf_ring_mask(entries), (int)i);
	}
	io_uring_buf_ring_advance(g->br, (int)entries);
	g->next = u->all_groups;
	u->all_groups = g;
	u->recv_groups++;
	u->recv_ring_entries = entries;
	*out = g;
	return 0;
cleanup:
	group_release(u, g, 1);
	return err;
}

/* A retired ring goes once no request uses it and no buffer of it is held. */
static void group_maybe_free(struct uring_rt *u, struct bufgroup *g)
{
	struct bufgroup **p;

	if (!g->retired || g->held || g->arms)
		return;
	for (p = &u->all_groups; *p; p = &(*p)->next) {
		if (*p == g) {
			*p = g->next;
			break;
		}
	}
	group_release(u, g, 1);
}

static void recycle(struct uring_rt *u, struct rbuf *b)
{
	struct bufgroup *g = b->g;

	g->held--;
	if (g->retired)
		group_maybe_free(u, g);
	else
		give_back(g, (unsigned)(b - g->meta));
}

/* The ring new requests should use: the current one, or a larger one when
 * the sockets outgrew it. NULL when none can be had (multishot is then off
 * if there never was one). */
static struct bufgroup *group_for_arm(struct uring_rt *u)
{
	struct bufgroup *cur = u->bufgroup, *g = NULL;
	uint64_t want = u->recv_sockets * BUFS_PER_SOCKET;
	unsigned entries = RING_MIN;
	int err;

	while (entries < want && entries < RING_MAX)
		entries *= 2;
	if (cur && cur->entries >= entries)
		return cur;
	err = group_new(u, entries, &g);
	if (err) {
		/* EINVAL/ENOENT: a kernel without buffer rings (< 5.19) */
		if (!cur)
			recv_off(u, "io_uring_register_buf_ring refused", err);
		return cur; /* a smaller ring still works */
	}
	if (cur) {
		cur->retired = 1;
		group_maybe_free(u, cur);
	}
	u->bufgroup = g;
	return g;
}

/* ---- sockets ----------------------------------------------------------------- */

static struct rsock *rsock_of(struct uring_rt *u, int fd)
{
	if (fd < 0 || (size_t)fd >= u->nrsocks)
		return NULL;
	return u->rsocks[fd];
}

static void rsock_free(struct uring_rt *u, struct rsock *rs)
{
	if (rs->prev)
		rs->prev->next = rs->next;
	else
		u->all_rsocks = rs->next;
	if (rs->next)
		rs->next->prev = rs->prev;
	free(rs);
}

static void wake(struct uring_rt *u, struct rsock *rs, int32_t res)
{
	struct rwait *w = rs->waiter;

	if (!w)
		return;
	rs->waiter = NULL;
	u->recv_waiters--;
	w->res = res;
	coro_ready(&u->cs.sched, w->co);
}

int uring_recv_fd_add(struct uring_rt *u, int fd)
{
	struct stat st;
	struct rsock *rs;
	int type = 0;
	socklen_t tlen = sizeof(type);

	/* state left by an fd closed behind our back: the number is reused */
	if (rsock_of(u, fd))
		uring_recv_forget(u, fd);
	if (!u->recv_multishot)
		return 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISSOCK(st.st_mode))
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0)
		return -errno;
	if (type != SOCK_STREAM)
		return 0;
	if ((size_t)fd >= u->nrsocks) {
		size_t n = u->nrsocks ? u->nrsocks : 64;
		struct rsock **t;

		while (n <= (size_t)fd)
			n *= 2;
		t = realloc(u->rsocks, n * sizeof(*t));
		if (!t)
			return -ENOMEM;
		memset(t + u->nrsocks, 0, (n - u->nrsocks) * sizeof(*t));
		u->rsocks = t;
		u->nrsocks = n;
	}
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	rs->fd = fd;
	rs->next = u->all_rsocks;
	if (rs->next)
		rs->next->prev = rs;
	u->all_rsocks = rs;
	u->rsocks[fd] = rs;
	u->recv_sockets++;
	return 0;
}

static int arm(struct uring_rt *u, struct rsock *rs, struct bufgroup *g)
{
	struct io_uring_sqe *sqe = uring_get_sqe(u);

	if (!sqe)
		return -EBUSY;
	/* len 0: each CQE gets one whole buffer of the group */
	io_uring_prep_recv_multishot(sqe, rs->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = (uint16_t)g->bgid;
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)rs | UD_RECV);
	u->sqes++;
	u->recv_arms++;
	rs->armed = 1;
	rs->g = g;
	g->arms++;
	return 0;
}

static size_t copy_out(struct uring_rt *u, struct rsock *rs, char *buf, size_t len)
{
	size_t got = 0;

	while (rs->head && got < len) {
		struct rbuf *b = rs->head;
		size_t n = b->len < len - got ? b->len : len - got;
		const char *src = b->g->mem + (size_t)(b - b->g->meta) * URING_RECV_BUF_BYTES;

		memcpy(buf + got, src + b->off, n);
		b->off += (uint32_t)n;
		b->len -= (uint32_t)n;
		got += n;
		if (!b->len) {
			rs->head = b->next;
			if (!rs->head)
				rs->tail = NULL;
			recycle(u, b);
		}
	}
	u->recv_bytes_copied += got;
	return got;
}

ssize_t uring_recv_read(struct uring_rt *u, int fd, void *buf, size_t len)
{
	struct rsock *rs = rsock_of(u, fd);

	if (!rs)
		return uring_read_plain(u, fd, buf, len);
	if (len > INT_MAX)
		len = INT_MAX; /* as the plain path: a short count */
	for (;;) {
		struct rwait *w;
		struct bufgroup *g;
		int err;

		if (rs->head || !len)
			return (ssize_t)copy_out(u, rs, buf, len);
		if (rs->eof)
			return 0;
		if (rs->err) {
			err = rs->err;
			rs->err = 0;
			return err;
		}
		if (!rs->armed) {
			g = u->recv_multishot ? group_for_arm(u) : NULL;
			/* no multishot, or a dry ring: this read alone goes
			 * plain, no request can be armed next to it */
			if (!g || g->held >= g->entries) {
				u->recv_plain_reads++;
				return uring_read_plain(u, fd, buf, len);
			}
			err = arm(u, rs, g);
			if (err)
				return err;
		}
		w = COSCHED_PARK_RECORD(&u->cs, struct rwait);
		w->co = coro_current(&u->cs.sched);
		rs->waiter = w;
		u->recv_waiters++;
		coro_park(&u->cs.sched);
		if (w->res != RECV_WAKE)
			return w->res;
	}
}

void uring_recv_cqe(struct uring_rt *u, uint64_t user_data, int32_t res, uint32_t flags)
{
	struct rsock *rs = (struct rsock *)(uintptr_t)(user_data & ~UD_TAG_MASK);
	struct bufgroup *g = rs->g;

	if (flags & IORING_CQE_F_BUFFER) {
		struct rbuf *b = &g->meta[flags >> IORING_CQE_BUFFER_SHIFT];

		g->held++;
		if (res > 0 && !rs->closed) {
			rs->got_any = 1;
			b->next = NULL;
			b->off = 0;
			b->len = (uint32_t)res;
			if (rs->tail)
				rs->tail->next = b;
			else
				rs->head = b;
			rs->tail = b;
		} else {
			recycle(u, b);
		}
	}
	if (!(flags & IORING_CQE_F_MORE)) {
		rs->armed = 0;
		g->arms--;
		if (res == -ENOBUFS) {
			u->recv_enobufs++; /* the next rt_read re-arms */
		} else if (res == 0) {
			rs->eof = 1;
		} else if (res == -EINVAL && !rs->got_any && u->recv_multishot) {
			/* the kernel refused the flag (before 6.0); the
			 * reader retries plain, which reports a real EINVAL */
			recv_off(u, "multishot recv refused", res);
		} else if (res < 0 && !rs->closed) {
			rs->err = res;
		}
		group_maybe_free(u, g);
	}
	if (rs->closed) {
		if (!rs->armed)
			rsock_free(u, rs);
		return;
	}
	wake(u, rs, RECV_WAKE);
}

void uring_recv_forget(struct uring_rt *u, int fd)
{
	struct rsock *rs = rsock_of(u, fd);
	struct io_uring_sqe *sqe;

	if (!rs)
		return;
	u->rsocks[fd] = NULL; /* the number may name another file next */
	u->recv_sockets--;
	rs->closed = 1;
	while (rs->head) {
		struct rbuf *b = rs->head;

		rs->head = b->next;
		recycle(u, b);
	}
	rs->tail = NULL;
	wake(u, rs, -EBADF);
	if (!rs->armed) {
		rsock_free(u, rs);
		return;
	}
	/* The request holds its own reference to the socket: closing the fd
	 * alone would keep receiving. Its last CQE (-ECANCELED) finds
	 * rs->closed and frees rs. If no SQE is free, ring teardown cancels
	 * it and uring_recv_free frees rs. */
	sqe = uring_get_sqe(u);
	if (sqe) {
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)rs | UD_RECV, 0);
		io_uring_sqe_set_data(sqe, NULL);
		u->sqes++;
	}
}

unsigned uring_recv_rings_live(const struct uring_rt *u)
{
	const struct bufgroup *g;
	unsigned n = 0;

	for (g = u->all_groups; g; g = g->next)
		n++;
	return n;
}

void uring_recv_free(struct uring_rt *u)
{
	while (u->all_rsocks)
		rsock_free(u, u->all_rsocks);
	while (u->all_groups) {
		struct bufgroup *g = u->all_groups;

		u->all_groups = g->next;
		group_release(u, g, 0);
	}
	u->bufgroup = NULL;
	free(u->rsocks);
	u->rsocks = NULL;
	u->nrsocks = 0;
}
