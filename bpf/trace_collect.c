/* trace_collect.c: read the probes' maps into thread rows, processes and
 * totals (struct trace_data). Userspace only adds up what the kernel
 * aggregated; nothing here is estimated.
 *
 * Threads that ended are rows of the `dead` map. Threads still running (the
 * --pid target, or a descendant that outlives the command) are read from
 * their task storage through a pidfd: a thread's pidfd needs PIDFD_THREAD
 * (Linux 6.9); without it only thread-group leaders can be read, and the
 * document says the live rows are partial.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "trace.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* include/uapi/linux/pidfd.h, Linux 6.9 */
#endif

static int add_thread(struct trace_data *d, const struct sched_thread *row, bool live)
{
	if (d->nthreads == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct trace_thread *n = realloc(d->threads, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		d->threads = n;
		d->cap = cap;
	}
	d->threads[d->nthreads].row = *row;
	d->threads[d->nthreads].live = live;
	d->nthreads++;
	return 0;
}

static struct trace_proc *proc_get(struct trace_data *d, __u32 tgid)
{
	struct trace_proc *n;

	for (size_t i = 0; i < d->nprocs; i++)
		if (d->procs[i].tgid == tgid)
			return &d->procs[i];
	n = realloc(d->procs, (d->nprocs + 1) * sizeof(*n));
	if (!n)
		return NULL;
	d->procs = n;
	n = &d->procs[d->nprocs++];
	memset(n, 0, sizeof(*n));
	n->tgid = tgid;
	return n;
}

static void hist_merge(struct sched_hist *dst, const struct sched_hist *src)
{
	if (!src->n)
		return;
	if (!dst->n || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->n += src->n;
	dst->sum += src->sum;
	for (int i = 0; i < SCHED_HIST_SLOTS; i++)
		dst->slots[i] += src->slots[i];
}

static void thread_merge(struct sched_thread *dst, const struct sched_thread *src)
{
	dst->switches += src->switches;
	dst->voluntary_switches += src->voluntary_switches;
	dst->involuntary_switches += src->involuntary_switches;
	dst->migrations += src->migrations;
	dst->wakeups += src->wakeups;
	dst->released_voluntary_switches += src->released_voluntary_switches;
	dst->released_involuntary_switches += src->released_involuntary_switches;
	dst->runq_unsampled += src->runq_unsampled;
	hist_merge(&dst->runq, &src->runq);
	hist_merge(&dst->oncpu, &src->oncpu);
	hist_merge(&dst->offcpu, &src->offcpu);
	dst->check.oncpu_sum += src->check.oncpu_sum;
	dst->check.offcpu_sum += src->check.offcpu_sum;
	dst->check.skipped += src->check.skipped;
	dst->check.skipped_ktime_sum += src->check.skipped_ktime_sum;
	dst->check.skipped_kernel_sum += src->check.skipped_kernel_sum;
	hist_merge(&dst->check.runq, &src->check.runq);
	hist_merge(&dst->check.diff, &src->check.diff);
}

static void usdt_merge(struct usdt_proc *dst, const struct usdt_proc *src)
{
	dst->spawns += src->spawns;
	dst->readies += src->readies;
	dst->switches += src->switches;
	dst->exits += src->exits;
	hist_merge(&dst->runq, &src->runq);
}

static int read_dead(int fd, struct trace_data *d)
{
	struct sched_dead_key key, next;
	struct sched_thread row;
	void *prev = NULL;
	int err;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &row))
			continue; /* deleted meanwhile: nothing deletes, but be safe */
		err = add_thread(d, &row, false);
		if (err)
			return err;
	}
	return 0;
}

/* Live threads of one process, through pidfds on its tasks. */
static int read_live(int storage_fd, __u32 tgid, struct trace_data *d)
{
	char path[64];
	struct dirent *de;
	DIR *dir;
	int err = 0;

	snprintf(path, sizeof(path), "/proc/%u/task", tgid);
	dir = opendir(path);
	if (!dir)
		return 0; /* the process is gone: its threads are in `dead` */
	while ((de = readdir(dir))) {
		struct sched_thread row;
		long tid = strtol(de->d_name, NULL, 10);
		int pidfd;

		if (tid <= 0)
			continue;
		pidfd = syscall(SYS_pidfd_open, (pid_t)tid, PIDFD_THREAD);
		if (pidfd < 0 && errno == EINVAL && tid == tgid)
			pidfd = syscall(SYS_pidfd_open, (pid_t)tid, 0);
		if (pidfd < 0) {
			if (errno == EINVAL)
				d->live_rows_partial = true;
			continue;
		}
		/* -ENOENT: the thread never ran while traced */
		if (!bpf_map_lookup_elem(storage_fd, &pidfd, &row) && !(row.flags & SCHED_F_DEAD)) {
			char cpath[80];
			FILE *f;

			/* the name in storage may predate an exec */
			snprintf(cpath, sizeof(cpath), "/proc/%u/task/%ld/comm", tgid, tid);
			f = fopen(cpath, "re");
			if (f) {
				if (fgets(row.comm, sizeof(row.comm), f))
					row.comm[strcspn(row.comm, "\n")] = '\0';
				fclose(f);
			}
			err = add_thread(d, &row, true);
		}
		close(pidfd);
		if (err)
			break;
	}
	closedir(dir);
	return err;
}

static void read_comm(__u32 tgid, char *comm, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/comm", tgid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(comm, len, f))
		comm[strcspn(comm, "\n")] = '\0';
	fclose(f);
}

int trace_collect(struct tracer *t, struct trace_data *d)
{
	int tracked_fd = trace_map_fd(t, "tracked");
	int fd, err = 0;
	__u32 key, next, *prev = NULL;

	memset(d, 0, sizeof(*d));
	fd = trace_map_fd(t, "track_counts");
	if (fd >= 0 && (err = percpu_sum(fd, TRACK_CNT_NR, d->track_counts)))
		goto cleanup;

	/* every process the command became */
	while (tracked_fd >= 0 && !bpf_map_get_next_key(tracked_fd, prev, &next)) {
		struct trace_proc *p;

		key = next;
		prev = &key;
		p = proc_get(d, key);
		if (!p) {
			err = -ENOMEM;
			goto cleanup;
		}
		bpf_map_lookup_elem(tracked_fd, &key, &p->info);
	}

	if (t->probe[PROBE_SCHED].attached) {
		if ((err = percpu_sum(trace_map_fd(t, "counts"), SCHED_CNT_NR, d->sched_counts)))
			goto cleanup;
		if ((err = read_dead(trace_map_fd(t, "dead"), d)))
			goto cleanup;
		for (size_t i = 0; i < d->nprocs; i++)
			if ((err = read_live(trace_map_fd(t, "threads"), d->procs[i].tgid, d)))
				goto cleanup;
	}
	if (t->probe[PROBE_URING].attached) {
		if ((err = percpu_sum(trace_map_fd(t, "uring_counts"), URING_CNT_NR,
				      d->uring_counts)))
			goto cleanup;
		if ((err = percpu_sum(trace_map_fd(t, "uring_opcodes"), URING_MAX_OPCODES,
				      d->uring_opcodes)))
			goto cleanup;
	}
	if (t->probe[PROBE_USDT].attached) {
		int threads_fd = trace_map_fd(t, "usdt_threads");
		struct usdt_proc u;

		if ((err = percpu_sum(trace_map_fd(t, "usdt_counts"), USDT_CNT_NR, d->usdt_counts)))
			goto cleanup;
		/* one entry per scheduler thread: summed into its process */
		prev = NULL;
		while (!bpf_map_get_next_key(threads_fd, prev, &next)) {
			struct trace_proc *p;

			key = next;
			prev = &key;
			if (bpf_map_lookup_elem(threads_fd, &key, &u))
				continue;
			p = proc_get(d, u.tgid);
			if (!p) {
				err = -ENOMEM;
				goto cleanup;
			}
			usdt_merge(&p->usdt, &u);
			p->has_usdt = true;
		}
	}

	/* threads into their processes */
	for (size_t i = 0; i < d->nthreads; i++) {
		const struct sched_thread *row = &d->threads[i].row;
		struct trace_proc *p = proc_get(d, row->tgid);

		if (!p) {
			err = -ENOMEM;
			goto cleanup;
		}
		thread_merge(&p->sum, row);
		p->nthreads++;
		if (row->flags & SCHED_F_IO_WORKER) {
			if (!strncmp(row->comm, "iou-sqp-", 8)) {
				p->sqpoll_threads++;
			} else {
				p->iowq_workers++;
				p->iowq_worker_switches += row->switches;
			}
		}
		if (row->pid == row->tgid || !p->comm[0])
			memcpy(p->comm, row->comm, sizeof(p->comm));
	}

	/* totals over every process */
	for (size_t i = 0; i < d->nprocs; i++) {
		struct trace_proc *p = &d->procs[i];

		if (!p->comm[0])
			read_comm(p->tgid, p->comm, sizeof(p->comm));
		thread_merge(&d->total.sum, &p->sum);
		d->total.nthreads += p->nthreads;
		d->total.iowq_workers += p->iowq_workers;
		d->total.sqpoll_threads += p->sqpoll_threads;
		d->total.iowq_worker_switches += p->iowq_worker_switches;
		if (p->has_usdt) {
			d->total.has_usdt = true;
			usdt_merge(&d->total.usdt, &p->usdt);
		}
	}
cleanup:
	return err;
}

void trace_data_free(struct trace_data *d)
{
	free(d->threads);
	free(d->procs);
	memset(d, 0, sizeof(*d));
}

bool trace_wait_rows(struct tracer *t, unsigned timeout_ms)
{
	__u64 counts[SCHED_CNT_NR];
	int fd = trace_map_fd(t, "counts");
	struct timespec ts = {0, 2 * 1000 * 1000};

	if (fd < 0 || !t->probe[PROBE_SCHED].attached)
		return false;
	/* Every task, the command included (track.bpf.c follows the tracer's
	 * own fork), was born while traced. A reaped process's last thread
	 * may still be on its way out on the other CPU. */
	for (unsigned waited = 0; waited <= timeout_ms; waited += 2) {
		if (percpu_sum(fd, SCHED_CNT_NR, counts))
			return false;
		if (counts[SCHED_CNT_DEAD] >= counts[SCHED_CNT_BORN])
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}
