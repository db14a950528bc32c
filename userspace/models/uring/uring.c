/* uring.c: the `uring` model. The same coroutines as `coro` (cosched.c), but
 * every operation that can wait is an io_uring request whose user_data points
 * at a struct uwait in the waiting coroutine's park record (never on its
 * stack, which moves under stack=shared; a buffer on it is bounced):
 *   read, write, pread   IORING_OP_READ / IORING_OP_WRITE (offset -1: the
 *                        file position, as read(2) and write(2) use); reads
 *                        of a stream socket: one multishot recv into
 *                        provided buffers where the kernel has it
 *                        (uring_recv.c)
 *   accept               IORING_OP_ACCEPT, multishot where the kernel has it
 *                        (uring_accept.c)
 *   sleep_until          our timer heap (cosched.c), woken by ONE
 *                        IORING_OP_TIMEOUT (IORING_TIMEOUT_ABS, CLOCK_MONOTONIC)
 *                        for its earliest deadline; see "Timers" below
 *   close                IORING_OP_CLOSE
 * Event wait/wake, yield, spawn and join stay in-process, as in coro.
 *
 * Timers. What "uring" means for a sleep: the thread still waits for the
 * end of a sleep only in io_uring_enter, on an io_uring request (a timeout),
 * but the sleepers themselves are kept in the same in-process heap as coro,
 * and one timeout request stands for the earliest of them, exactly as one
 * epoll_pwait2 timeout does under coro. So timers compares the two wait
 * mechanisms, not a per-sleeper kernel timer against a heap. Why: one
 * request per sleeper is one kernel hrtimer each, and a DEFER_TASKRUN ring
 * completes only a few dozen of them per io_uring_enter (Linux 6.13+), so
 * 100,000 sleepers woke tens of ms late (docs/kernel-notes.md, "io_uring").
 * The model parameter uring_timers=request restores one
 * IORING_OP_TIMEOUT per sleep, for that comparison; the record says which.
 * The heap's timeout is re-armed when a sleeper's deadline is earlier than
 * the armed one (the old one is removed with IORING_OP_TIMEOUT_REMOVE; its
 * CQE carries an older generation and is ignored), and every poll expires
 * sleepers by the clock, as coro's does, so a yield notices them.
 *
 * Batching: SQEs are queued while coroutines run and submitted only when the
 * run queue is empty, in one io_uring_submit_and_wait() that also sleeps for
 * the next completion; a full SQ ring forces an early submit. So the thread
 * sleeps only in io_uring_enter. A coroutine that yields while requests are
 * in flight triggers a non-blocking submit-and-reap (cosched.h says why).
 *
 * Ring setup is probed at run time, best first (or from the one the model
 * parameter uring_setup names), and the record says which flags were used
 * (uring_setup_flags) and why better ones were refused (uring_setup_fallback):
 *   single_issuer|defer_taskrun   6.1+: completions are processed only when
 *                                 we wait, in our own thread (no IPIs)
 *   single_issuer|coop_taskrun    6.0+
 *   coop_taskrun                  5.19+
 *   none
 * (each but `none` with taskrun_flag, so a yield can see without a syscall
 * whether completions wait: needs_enter()).
 *
 * Reads go into the SQ ring after everything else of their batch
 * (uring_flush_reads, right before each submit): a read of an empty pipe is
 * poll-armed and completes only through task work after the write, so with
 * the other side's write first the read finds the byte already there
 * (docs/kernel-notes.md, "Read after write"). Requests of one batch are
 * concurrent (a coroutine has at most one in flight), so no task can rely on
 * their order; a close is preceded by a flush, so a read queued before it is
 * not overtaken.
 *
 * rt_fd_add clears O_NONBLOCK: io_uring honours it and completes a read on
 * an empty O_NONBLOCK pipe with -EAGAIN instead of arming its internal poll,
 * which would turn every wait into a busy retry.
 *
 * One receive and one send in flight per socket at most (several receives
 * on one socket re-poll quadratically, overlapping sends can reorder:
 * docs/kernel-notes.md). This model has at most one request per coroutine;
 * a task must not have two coroutines reading (or writing) one socket at
 * once.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "models/co/stack_param.h"
#include "models/co/cosched.h"
#include "lib/clock.h"
#include "lib/names.h"
#include "lib/record.h"
#include "models/reserve.h"
#include "rt.h"
#include "task.h"
#include "uring_rt.h"

#define SQ_ENTRIES 256
#define CQ_ENTRIES 4096 /* many connections each with a read in flight */

static struct uring_rt *urt_of(struct rt *rt)
{
	return (struct uring_rt *)rt;
}

/* ---- submission and completion -------------------------------------------- */

static void reap(struct uring_rt *u)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&u->ring, head, cqe)
	{
		struct uwait *w = io_uring_cqe_get_data(cqe);

		n++;
		if ((cqe->user_data & UD_TAG_MASK) == UD_RECV) {
			uring_recv_cqe(u, cqe->user_data, cqe->res, cqe->flags);
			continue;
		}
		if (cqe->user_data & UD_LISTENER) {
			uring_accept_cqe(u, cqe->user_data, cqe->res, cqe->flags);
			continue;
		}
		if (cqe->user_data & UD_TIMER) {
			/* the caller expires the heap by the clock; an older
			 * generation was replaced by an earlier deadline */
			if ((cqe->user_data >> 2) == u->timer_gen)
				u->timer_armed = 0;
			continue;
		}
		if (!w)
			continue; /* nobody waits: a cancel */
		w->res = cqe->res;
		u->inflight--;
		coro_ready(&u->cs.sched, w->co);
	}
	io_uring_cq_advance(&u->ring, n);
	u->cqes += n;
}

/* Whether a non-blocking poll must enter the kernel: SQEs to submit, task
 * work waiting to post completions (the kernel raises IORING_SQ_TASKRUN
 * when the ring has IORING_SETUP_TASKRUN_FLAG), or overflowed CQEs. Without
 * COOP/DEFER taskrun the kernel runs task work on its own on return to user
 * space, so the CQ ring is already current. Keeps a yield next to requests
 * in flight a memory read instead of a syscall. */
static int needs_enter(struct uring_rt *u)
{
	unsigned flags = IO_URING_READ_ONCE(*u->ring.sq.kflags);

	if (io_uring_sq_ready(&u->ring))
		return 1;
	if (flags & IORING_SQ_CQ_OVERFLOW)
		return 1;
	if (u->ring.flags & (IORING_SETUP_COOP_TASKRUN | IORING_SETUP_DEFER_TASKRUN))
		return !(u->ring.flags & IORING_SETUP_TASKRUN_FLAG) || (flags & IORING_SQ_TASKRUN);
	return 0;
}

/* Arms (or moves earlier) the one timeout that stands for the heap's
 * earliest deadline. Called right before the ring is entered, so
 * u->timer_ts is read by the kernel before anyone rewrites it. 0 or -EBUSY
 * (no SQE: the caller tries again at its next poll). */
static int timer_arm(struct uring_rt *u)
{
	uint64_t next = cosched_next_deadline(&u->cs);
	struct io_uring_sqe *sqe;

	if (next == UINT64_MAX || (u->timer_armed && u->timer_armed_ns <= next))
		return 0;
	if (u->timer_armed) {
		sqe = uring_get_sqe(u);
		if (!sqe)
			return -EBUSY;
		io_uring_prep_timeout_remove(sqe, (u->timer_gen << 2) | UD_TIMER, 0);
		io_uring_sqe_set_data(sqe, NULL); /* its own CQE: nobody waits */
		u->sqes++;
		u->timer_rearms++;
	}
	sqe = uring_get_sqe(u);
	if (!sqe)
		return -EBUSY;
	u->timer_ts.tv_sec = (long long)(next / 1000000000ull);
	u->timer_ts.tv_nsec = (long long)(next % 1000000000ull);
	io_uring_prep_timeout(sqe, &u->timer_ts, 0, IORING_TIMEOUT_ABS);
	u->timer_gen++;
	io_uring_sqe_set_data64(sqe, (u->timer_gen << 2) | UD_TIMER);
	u->sqes++;
	u->timer_arms++;
	u->timer_armed = 1;
	u->timer_armed_ns = next;
	return 0;
}

static int uring_poll(struct cosched *cs, int block)
{
	struct uring_rt *u = (struct uring_rt *)cs;
	int ret;

	uring_flush_reads(u);
	if (cosched_timers_pending(cs)) {
		/* Sleepers already due need no kernel timer, and must not
		 * wait behind a blocking enter. */
		if (cosched_timers_expire(cs, now_ns()))
			block = 0;
		timer_arm(u); /* -EBUSY: no SQE now, the next poll retries */
	}
	if (block) {
		ret = io_uring_submit_and_wait(&u->ring, 1);
	} else if (needs_enter(u)) {
		/* Also runs deferred task work, so completions that are
		 * ready get posted even under DEFER_TASKRUN. */
		ret = io_uring_submit_and_get_events(&u->ring);
	} else {
		reap(u); /* whatever is already in the CQ ring */
		if (cosched_timers_pending(cs))
			cosched_timers_expire(cs, now_ns());
		return 0;
	}
	u->submits++;
	/* EINTR: a signal; EBUSY/EAGAIN: the CQ ring is full or the kernel
	 * is short of memory, reaping below makes room; ETIME: cannot happen
	 * without a wait timeout but is harmless. All retry next round. */
	if (ret < 0 && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN && ret != -ETIME)
		return ret;
	reap(u);
	if (cosched_timers_pending(cs))
		cosched_timers_expire(cs, now_ns());
	return 0;
}

static uint64_t uring_pending(struct cosched *cs)
{
	struct uring_rt *u = (struct uring_rt *)cs;

	/* a coroutine parked on a multishot accept or recv waits for a
	 * request counted nowhere else; sleepers in the heap wait for the
	 * heap's timeout, which uring_poll arms before it blocks */
	return u->inflight + u->accept_waiters + u->recv_waiters + cosched_timers_pending(cs);
}

/* ---- operations ------------------------------------------------------------ */

static int uring_sleep_until(struct rt *rt, uint64_t deadline_ns)
{
	struct uring_rt *u = urt_of(rt);
	struct sleep_record {
		struct uwait w;
		struct __kernel_timespec ts;
	} * r;
	struct io_uring_sqe *sqe;
	int32_t res;

	if (u->timers == URING_TIMERS_HEAP)
		return cosched_sleep_heap(&u->cs, deadline_ns);
	if (deadline_ns <= now_ns())
		return 0;
	sqe = uring_get_sqe(u);
	if (!sqe)
		return -EBUSY;
	/* ts stays valid in the park record until the CQE (the kernel reads
	 * it at submission, which comes after we parked). */
	r = COSCHED_PARK_RECORD(&u->cs, struct sleep_record);
	r->ts.tv_sec = (long long)(deadline_ns / 1000000000ull);
	r->ts.tv_nsec = (long long)(deadline_ns % 1000000000ull);
	io_uring_prep_timeout(sqe, &r->ts, 0, IORING_TIMEOUT_ABS);
	res = uring_await(u, sqe, &r->w);
	return res == -ETIME || res == 0 ? 0 : res;
}

static int uring_fd_add(struct rt *rt, int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0)
		return -errno;
	if ((flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		return -errno;
	return uring_recv_fd_add(urt_of(rt), fd);
}

static int uring_close(struct rt *rt, int fd)
{
	struct uring_rt *u = urt_of(rt);
	struct io_uring_sqe *sqe;

	uring_accept_forget(u, fd);
	uring_recv_forget(u, fd); /* its cancel goes in before the close */
	uring_flush_reads(u);
	sqe = uring_get_sqe(u);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_close(sqe, fd);
	return uring_await(u, sqe, COSCHED_PARK_RECORD(&u->cs, struct uwait));
}

static ssize_t rw(struct uring_rt *u, int write, int fd, void *buf, size_t len, uint64_t off)
{
	struct io_uring_sqe *sqe;
	void *bounce;
	ssize_t res;

	if (len > INT_MAX)
		len = INT_MAX; /* the CQE's res is an int: a short count */
	/* The kernel reads or fills buf after we parked. */
	bounce = cosched_bounce(&u->cs, buf, len, write);
	if (!bounce)
		return -ENOMEM;
	sqe = uring_get_sqe(u);
	if (!sqe) {
		cosched_unbounce(bounce, buf, 0);
		return -EBUSY;
	}
	if (write)
		io_uring_prep_write(sqe, fd, bounce, (unsigned)len, off);
	else
		io_uring_prep_read(sqe, fd, bounce, (unsigned)len, off);
	res = uring_await(u, sqe, COSCHED_PARK_RECORD(&u->cs, struct uwait));
	cosched_unbounce(bounce, buf, write ? 0 : res);
	return res;
}

static ssize_t uring_read(struct rt *rt, int fd, void *buf, size_t len)
{
	return uring_recv_read(urt_of(rt), fd, buf, len);
}

static ssize_t uring_write(struct rt *rt, int fd, const void *buf, size_t len)
{
	return rw(urt_of(rt), 1, fd, (void *)buf, len, (uint64_t)-1);
}

static ssize_t uring_pread(struct rt *rt, int fd, void *buf, size_t len, off_t off)
{
	if (off < 0)
		return -EINVAL;
	return rw(urt_of(rt), 0, fd, buf, len, (uint64_t)off);
}

static const struct rt_ops uring_ops = {
	.name = "uring",
	.spawn = cosched_spawn,
	.join = cosched_join,
	.yield = cosched_yield,
	.sleep_until = uring_sleep_until,
	.wait = cosched_wait,
	.wake = cosched_wake,
	.fd_add = uring_fd_add,
	.close = uring_close,
	.read = uring_read,
	.write = uring_write,
	.pread = uring_pread,
	.accept = uring_accept,
};

static const struct cosched_backend uring_backend = {
	.name = "uring",
	.poll = uring_poll,
	.pending = uring_pending,
};

/* ---- setup ----------------------------------------------------------------- */

const char *const uring_shot_names[URING_SHOTS] = {"single", "multishot"};
const char *const uring_timers_names[URING_TIMERS_KINDS] = {"heap", "request"};

/* The values of uring_setup, in enum order: auto, then one per setup. */
enum uring_setup_first {
	SETUP_AUTO,
	SETUP_DEFER_TASKRUN,
	SETUP_COOP_TASKRUN,
	SETUP_COOP_SHARED,
	SETUP_NONE,
};
static const char *const setup_first_names[] = {"auto", "defer_taskrun", "coop_taskrun",
						"coop_shared", "none"};

/* Best first; setups[k] is the one uring_setup value k + 1 starts at. */
static const struct {
	unsigned flags;
	const char *name; /* as the record shows it */
} setups[] = {
	{IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
	 "single_issuer|defer_taskrun|taskrun_flag"},
	{IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
	 "single_issuer|coop_taskrun|taskrun_flag"},
	{IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, "coop_taskrun|taskrun_flag"},
	{0, "none"},
};

/* Tries each setup in turn, from the one the parameter uring_setup names
 * (auto: the best); the first the kernel accepts wins. Starting lower
 * exercises the fallbacks on a kernel that would not need them (tests) and
 * lets an experiment compare setups. */
static int ring_setup(struct uring_rt *u, enum uring_setup_first first)
{
	size_t i = first == SETUP_AUTO ? 0 : (size_t)first - 1, used = 0;
	size_t n = sizeof(setups) / sizeof(setups[0]);
	int ret = -EINVAL;

	for (; i < n; i++) {
		struct io_uring_params p = {
			.flags = setups[i].flags | IORING_SETUP_CQSIZE,
			.cq_entries = CQ_ENTRIES,
		};

		ret = io_uring_queue_init_params(SQ_ENTRIES, &u->ring, &p);
		if (ret == 0) {
			u->features = p.features;
			snprintf(u->setup_flags, sizeof(u->setup_flags), "%s", setups[i].name);
			return 0;
		}
		used += snprintf(u->fallback + used, sizeof(u->fallback) - used, "%s%s: %s",
				 used ? "; " : "", setups[i].name, strerror(-ret));
		if (used >= sizeof(u->fallback))
			used = sizeof(u->fallback) - 1;
	}
	return ret;
}

static const struct {
	unsigned bit;
	const char *name;
} feature_names[] = {
	{IORING_FEAT_SINGLE_MMAP, "single_mmap"},
	{IORING_FEAT_NODROP, "nodrop"},
	{IORING_FEAT_SUBMIT_STABLE, "submit_stable"},
	{IORING_FEAT_RW_CUR_POS, "rw_cur_pos"},
	{IORING_FEAT_CUR_PERSONALITY, "cur_personality"},
	{IORING_FEAT_FAST_POLL, "fast_poll"},
	{IORING_FEAT_POLL_32BITS, "poll_32bits"},
	{IORING_FEAT_SQPOLL_NONFIXED, "sqpoll_nonfixed"},
	{IORING_FEAT_EXT_ARG, "ext_arg"},
	{IORING_FEAT_NATIVE_WORKERS, "native_workers"},
	{IORING_FEAT_RSRC_TAGS, "rsrc_tags"},
	{IORING_FEAT_CQE_SKIP, "cqe_skip"},
	{IORING_FEAT_LINKED_FILE, "linked_file"},
};

/* "nodrop|fast_poll|...": which behaviour the numbers were measured with.
 * Without fast_poll (Linux < 5.7) a read of an empty pipe or socket waits in
 * an io-wq thread instead of an internal poll: a different experiment. */
static void features_str(unsigned features, char *buf, size_t len)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(feature_names) / sizeof(feature_names[0]); i++) {
		if (!(features & feature_names[i].bit) || used >= len)
			continue;
		used += snprintf(buf + used, len - used, "%s%s", used ? "|" : "",
				 feature_names[i].name);
	}
}

static const struct {
	int op;
	const char *name;
} needed_ops[] = {
	{IORING_OP_READ, "IORING_OP_READ"},	{IORING_OP_WRITE, "IORING_OP_WRITE"},
	{IORING_OP_ACCEPT, "IORING_OP_ACCEPT"}, {IORING_OP_TIMEOUT, "IORING_OP_TIMEOUT"},
	{IORING_OP_CLOSE, "IORING_OP_CLOSE"},
};

static int uring_probe(char *reason, size_t reason_len)
{
	struct io_uring ring;
	struct io_uring_probe *probe = NULL;
	size_t i;
	int err;

	err = io_uring_queue_init(4, &ring, 0);
	if (err < 0) {
		FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
		int disabled = -1;

		if (f) {
			if (fscanf(f, "%d", &disabled) != 1)
				disabled = -1;
			fclose(f);
		}
		if (disabled > 0)
			snprintf(reason, reason_len,
				 "io_uring_queue_init: %s "
				 "(kernel.io_uring_disabled=%d; set it to 0)",
				 strerror(-err), disabled);
		else
			snprintf(reason, reason_len,
				 "io_uring_queue_init: %s "
				 "(no io_uring in this kernel, or a seccomp filter)",
				 strerror(-err));
		return err;
	}
	probe = io_uring_get_probe_ring(&ring);
	if (!probe) {
		err = -EOPNOTSUPP;
		snprintf(reason, reason_len,
			 "io_uring: cannot probe opcodes "
			 "(IORING_REGISTER_PROBE needs Linux >= 5.6)");
		goto cleanup;
	}
	for (i = 0; i < sizeof(needed_ops) / sizeof(needed_ops[0]); i++) {
		if (!io_uring_opcode_supported(probe, needed_ops[i].op)) {
			err = -EOPNOTSUPP;
			snprintf(reason, reason_len, "io_uring: kernel lacks %s",
				 needed_ops[i].name);
			goto cleanup;
		}
	}
	err = 0;
cleanup:
	if (probe)
		io_uring_free_probe(probe);
	io_uring_queue_exit(&ring);
	return err;
}

static int uring_run(const struct task_ctx *ctx, int (*main_fn)(struct rt *rt, void *arg),
		     void *arg, struct record *rec)
{
	struct uring_rt *u = calloc(1, sizeof(*u));
	char feats[256];
	int err, ret = 0;

	if (!u)
		return -ENOMEM;
	err = cosched_init(&u->cs, &uring_ops, &uring_backend);
	if (err) {
		fprintf(stderr, "uring: scheduler init: %s\n", strerror(-err));
		goto cleanup;
	}
	cosched_use_stack(&u->cs, co_stack_param(ctx));
	err = ring_setup(
		u, task_enum(ctx, "uring_setup", setup_first_names, NAMES_OF(setup_first_names)));
	if (err) {
		fprintf(stderr, "uring: queue_init: %s\n", u->fallback);
		goto cleanup;
	}
	u->ring_ready = 1;
	uring_accept_init(u, task_enum(ctx, "uring_accept", uring_shot_names, URING_SHOTS) ==
				     URING_MULTISHOT);
	err = uring_recv_init(u, task_enum(ctx, "uring_recv", uring_shot_names, URING_SHOTS) ==
					 URING_MULTISHOT);
	if (err) {
		fprintf(stderr, "uring: %s\n", u->recv_note);
		goto cleanup;
	}
	u->timers = task_enum(ctx, "uring_timers", uring_timers_names, URING_TIMERS_KINDS);

	err = cosched_run(&u->cs, main_fn, arg, &ret);

	if (rec) {
		cosched_metrics(&u->cs, rec);
		rec_metric_u64(rec, "uring_submits", u->submits);
		rec_metric_u64(rec, "uring_sqes", u->sqes);
		rec_metric_u64(rec, "uring_cqes", u->cqes);
		rec_metric_u64(rec, "uring_sq_full_submits", u->sq_full_submits);
		rec_metric_str(rec, "uring_setup_flags", u->setup_flags);
		rec_metric_str(rec, "uring_setup_fallback", u->fallback);
		features_str(u->features, feats, sizeof(feats));
		rec_metric_str(rec, "uring_features", feats);
		rec_metric_str(rec, "uring_accept",
			       uring_shot_names[u->multishot ? URING_MULTISHOT : URING_SINGLE]);
		rec_metric_str(rec, "uring_accept_note", u->accept_note);
		rec_metric_u64(rec, "uring_accepts_queued", u->accepts_queued);
		rec_metric_str(
			rec, "uring_recv",
			uring_shot_names[u->recv_multishot ? URING_MULTISHOT : URING_SINGLE]);
		rec_metric_str(rec, "uring_recv_note", u->recv_note);
		rec_metric_u64(rec, "uring_recv_multishot_arms", u->recv_arms);
		rec_metric_u64(rec, "uring_recv_enobufs_rearms", u->recv_enobufs);
		rec_metric_u64(rec, "uring_recv_plain_reads", u->recv_plain_reads);
		rec_metric_u64(rec, "uring_recv_copied_bytes", u->recv_bytes_copied);
		rec_metric_u64(rec, "uring_recv_buf_rings", u->recv_groups);
		rec_metric_u64(rec, "uring_recv_ring_entries", u->recv_ring_entries);
		rec_metric_u64(rec, "uring_recv_buf_rings_live", uring_recv_rings_live(u));
		rec_metric_u64(rec, "uring_recv_buf_bytes",
			       u->recv_groups ? URING_RECV_BUF_BYTES : 0);
		rec_metric_str(rec, "uring_timers", uring_timers_names[u->timers]);
		rec_metric_u64(rec, "uring_timer_arms", u->timer_arms);
		rec_metric_u64(rec, "uring_timer_rearms", u->timer_rearms);
		rec_metric_u64(rec, "uring_timer_wakeups", u->cs.timer_wakeups);
	}
cleanup:
	/* The ring goes first: requests still in flight point into control
	 * blocks and stacks that cosched_destroy frees; io_uring_queue_exit
	 * cancels them. */
	if (u->ring_ready)
		io_uring_queue_exit(&u->ring);
	uring_accept_free(u);
	uring_recv_free(u);
	cosched_destroy(&u->cs);
	free(u);
	return err ? err : ret;
}

/* Variants of the runtime, declared like a task's parameters. */
static const struct task_param uring_params[] = {
	CORO_STACK_PARAM("guarded|unguarded|shared"),
	{.key = "uring_setup",
	 .type = PARAM_ENUM,
	 .def = "auto",
	 .choices = "auto|defer_taskrun|coop_taskrun|coop_shared|none",
	 .help = "ring setup to try first (auto: the best this kernel takes; each falls "
		 "back to the next)"},
	{.key = "uring_timers",
	 .type = PARAM_ENUM,
	 .def = "heap",
	 .choices = "heap|request",
	 .help = "sleeps: our heap behind one kernel timeout (heap), or one "
		 "IORING_OP_TIMEOUT per sleep (request)"},
	{.key = "uring_recv",
	 .type = PARAM_ENUM,
	 .def = "single",
	 .choices = "single|multishot",
	 .help = "stream socket reads: one read per rt_read (single), or a multishot recv "
		 "into a provided-buffer ring"},
	{.key = "uring_accept",
	 .type = PARAM_ENUM,
	 .def = "multishot",
	 .choices = "multishot|single",
	 .help = "accept: one multishot request per listener where the kernel has it, or "
		 "one request per accept"},
	PARAM_END,
};

/* The counters uring_run() adds, without the prefix. */
static const struct task_metric uring_metrics[] = {
	{.name = "submits", .unit = "count", .help = "io_uring_submit calls"},
	{.name = "sqes", .unit = "count", .help = "requests submitted"},
	{.name = "cqes", .unit = "count", .help = "completions reaped"},
	{.name = "sq_full_submits",
	 .unit = "count",
	 .help = "submits forced by a full submission queue"},
	{.name = "setup_flags", .kind = METRIC_TEXT, .help = "the ring flags the kernel accepted"},
	{.name = "setup_fallback",
	 .kind = METRIC_TEXT,
	 .help = "why better ring flags were refused"},
	{.name = "features", .kind = METRIC_TEXT, .help = "the ring features the kernel reports"},
	{.name = "accept", .kind = METRIC_TEXT, .help = "multishot or single accept"},
	{.name = "accept_note", .kind = METRIC_TEXT, .help = "why accept is single, when it is"},
	{.name = "accepts_queued",
	 .unit = "count",
	 .help = "connections accepted ahead of an rt_accept"},
	{.name = "recv", .kind = METRIC_TEXT, .help = "multishot or single receive"},
	{.name = "recv_note", .kind = METRIC_TEXT, .help = "why receive is single, when it is"},
	{.name = "recv_multishot_arms", .unit = "count", .help = "multishot receives armed"},
	{.name = "recv_enobufs_rearms",
	 .unit = "count",
	 .help = "multishot receives re-armed after the buffer ring ran dry"},
	{.name = "recv_plain_reads", .unit = "count", .help = "reads done without a buffer ring"},
	{.name = "recv_copied_bytes",
	 .unit = "bytes",
	 .help = "bytes copied out of the buffer ring"},
	{.name = "recv_buf_rings", .unit = "count", .help = "buffer rings registered"},
	{.name = "recv_ring_entries", .unit = "count", .help = "entries per buffer ring"},
	{.name = "recv_buf_rings_live",
	 .unit = "count",
	 .help = "buffer rings still registered at the end"},
	{.name = "recv_buf_bytes", .unit = "bytes", .help = "bytes per ring buffer"},
	{.name = "timers",
	 .kind = METRIC_TEXT,
	 .help = "sleeps as io_uring timeouts (request) or the timer heap (heap)"},
	{.name = "timer_arms", .unit = "count", .help = "timeouts armed"},
	{.name = "timer_rearms",
	 .unit = "count",
	 .help = "timeouts re-armed for an earlier deadline"},
	{.name = "timer_wakeups", .unit = "count", .help = "wake-ups from timers"},
	METRIC_END,
};

const struct rt_model uring_model = {
	.metrics = {cosched_metric_list, uring_metrics},
	.name = "uring",
	.traits = {.one_thread = true, .sees_deadlocks = true, .order = 2, .colour = "#009E73"},
	.params = uring_params,
	.summary = "the same coroutines; every wait is an io_uring request, "
		   "submitted in batches when the run queue is empty",
	.probe = uring_probe,
	.reserve = reserve_coroutines,
	.run = uring_run,
};
