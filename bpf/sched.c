/* sched.c: the probe on the kernel scheduler (sched.bpf.c): per-thread
 * switches, wakeups, migrations and run-queue, on-CPU and off-CPU times.
 *
 * Threads that ended are rows of the `dead` map. Threads still running (the
 * --pid target, or a descendant that outlives the command) are read from
 * their task storage through a pidfd: a thread's pidfd needs PIDFD_THREAD
 * (Linux 6.9); without it only thread-group leaders can be read, and the
 * document says the live rows are partial. Userspace only adds up what the
 * kernel aggregated; nothing here is estimated.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/json.h"
#include "probe.h"
#include "sched.h"
#include "sched.skel.h"

extern const struct probe_ops sched_probe;

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* include/uapi/linux/pidfd.h, Linux 6.9 */
#endif

/* One thread as reported. */
struct sched_row {
	struct sched_thread row;
	bool live; /* read from a running task, not from `dead` */
};

/* What its threads add up to, per process. */
struct sched_proc {
	__u32 tgid;
	struct sched_thread sum;
};

struct sched_data {
	struct sched_row *rows;
	size_t nrows, cap;
	struct sched_proc *procs;
	size_t nprocs;
	struct sched_thread total;
	__u64 counts[SCHED_CNT_NR];
	bool live_rows_partial; /* live threads we could not read (no PIDFD_THREAD) */
	unsigned max_rows;	/* --max-thread-rows */
	enum sched_clock clock;
	unsigned wake_sample;
	__u64 clock_calibrations, clock_reads; /* --clock rq/both, all CPUs */
};

static int sched_open(struct tracer *t, struct probe_slot *p, const struct btf *vmlinux)
{
	struct sched_bpf *skel;
	int err;

	skel = sched_bpf__open();
	if (!skel) {
		err = -errno;
		snprintf(p->reason, sizeof(p->reason), "open: %s", strerror(-err));
		return err;
	}
	p->priv = skel;
	if (!trace_check_tracepoints(skel->obj, vmlinux, sched_probe.essential, p))
		return -ENOENT;
	skel->rodata->targ_events = t->events_fd >= 0;
	skel->rodata->targ_clock = t->opts.clock;
	skel->rodata->targ_wake_sample = t->opts.wake_sample;
	err = trace_share_maps(t, skel->obj);
	if (!err)
		err = bpf_map__set_max_entries(skel->maps.dead, t->opts.max_threads);
	if (!err)
		err = sched_bpf__load(skel);
	if (!err)
		err = sched_bpf__attach(skel);
	if (err) {
		snprintf(p->reason, sizeof(p->reason), "load/attach: %s", strerror(-err));
		return err;
	}
	p->obj = skel->obj;
	return 0;
}

static void sched_close(struct probe_slot *p)
{
	sched_bpf__destroy(p->priv);
}

static bool sched_settle(struct tracer *t, struct probe_slot *p, unsigned timeout_ms)
{
	struct sched_bpf *skel = p->priv;
	struct timespec ts = {0, 2 * 1000 * 1000};
	__u64 counts[SCHED_CNT_NR];

	(void)t;
	/* Every task, the command included (track.bpf.c follows the tracer's
	 * own fork), was born while traced. A reaped process's last thread
	 * may still be on its way out on the other CPU. */
	for (unsigned waited = 0; waited <= timeout_ms; waited += 2) {
		if (percpu_sum(bpf_map__fd(skel->maps.counts), SCHED_CNT_NR, counts))
			return false;
		if (counts[SCHED_CNT_DEAD] >= counts[SCHED_CNT_BORN])
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

static int add_row(struct sched_data *sd, const struct sched_thread *row, bool live)
{
	if (sd->nrows == sd->cap) {
		size_t cap = sd->cap ? sd->cap * 2 : 64;
		struct sched_row *n = realloc(sd->rows, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		sd->rows = n;
		sd->cap = cap;
	}
	sd->rows[sd->nrows].row = *row;
	sd->rows[sd->nrows].live = live;
	sd->nrows++;
	return 0;
}

static struct sched_proc *proc_sum(struct sched_data *sd, __u32 tgid)
{
	struct sched_proc *n;

	for (size_t i = 0; i < sd->nprocs; i++)
		if (sd->procs[i].tgid == tgid)
			return &sd->procs[i];
	n = realloc(sd->procs, (sd->nprocs + 1) * sizeof(*n));
	if (!n)
		return NULL;
	sd->procs = n;
	n = &sd->procs[sd->nprocs++];
	memset(n, 0, sizeof(*n));
	n->tgid = tgid;
	return n;
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
	log2_merge(&dst->runq, &src->runq);
	log2_merge(&dst->oncpu, &src->oncpu);
	log2_merge(&dst->offcpu, &src->offcpu);
	dst->check.oncpu_sum += src->check.oncpu_sum;
	dst->check.offcpu_sum += src->check.offcpu_sum;
	dst->check.skipped += src->check.skipped;
	dst->check.skipped_ktime_sum += src->check.skipped_ktime_sum;
	dst->check.skipped_kernel_sum += src->check.skipped_kernel_sum;
	log2_merge(&dst->check.runq, &src->check.runq);
	log2_merge(&dst->check.diff, &src->check.diff);
	dst->check.rq_oncpu_sum += src->check.rq_oncpu_sum;
	dst->check.rq_offcpu_sum += src->check.rq_offcpu_sum;
	dst->check.rq_runq_sum += src->check.rq_runq_sum;
	dst->check.rq_runq_ktime_sum += src->check.rq_runq_ktime_sum;
	dst->check.rq_skipped_sum += src->check.rq_skipped_sum;
	log2_merge(&dst->check.rq_diff, &src->check.rq_diff);
}

static int read_dead(int fd, struct sched_data *sd)
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
		err = add_row(sd, &row, false);
		if (err)
			return err;
	}
	return 0;
}

/* The rq path's clock reads, from every CPU's slot. */
static int read_cpu_state(int fd, struct sched_data *sd)
{
	int ncpus = libbpf_num_possible_cpus();
	struct sched_cpu *cpus;
	__u32 zero = 0;

	if (ncpus < 0)
		return ncpus;
	cpus = calloc(ncpus, sizeof(*cpus));
	if (!cpus)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &zero, cpus)) {
		free(cpus);
		return -errno;
	}
	for (int i = 0; i < ncpus; i++) {
		sd->clock_calibrations += cpus[i].clock_calibrations;
		sd->clock_reads += cpus[i].clock_reads;
	}
	free(cpus);
	return 0;
}

/* Live threads of one process, through pidfds on its tasks. */
static int read_live(int storage_fd, __u32 tgid, struct sched_data *sd)
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
				sd->live_rows_partial = true;
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
			err = add_row(sd, &row, true);
		}
		close(pidfd);
		if (err)
			break;
	}
	closedir(dir);
	return err;
}

static int sched_collect(struct tracer *t, struct probe_slot *p, struct trace_data *d, void **data)
{
	struct sched_bpf *skel = p->priv;
	struct sched_data *sd = calloc(1, sizeof(*sd));
	size_t nprocs = d->nprocs;
	int err;

	if (!sd)
		return -ENOMEM;
	*data = sd;
	sd->max_rows = t->opts.max_thread_rows;
	sd->clock = t->opts.clock;
	sd->wake_sample = t->opts.wake_sample;
	if ((err = percpu_sum(bpf_map__fd(skel->maps.counts), SCHED_CNT_NR, sd->counts)))
		return err;
	if ((err = read_dead(bpf_map__fd(skel->maps.dead), sd)))
		return err;
	if ((err = read_cpu_state(bpf_map__fd(skel->maps.cpu_state), sd)))
		return err;
	/* the processes known so far (the rows may add none: a thread's
	 * process is followed before any of its threads runs) */
	for (size_t i = 0; i < nprocs; i++)
		if ((err = read_live(bpf_map__fd(skel->maps.threads), d->procs[i].tgid, sd)))
			return err;

	/* threads into their processes */
	for (size_t i = 0; i < sd->nrows; i++) {
		const struct sched_thread *row = &sd->rows[i].row;
		struct trace_proc *proc = trace_proc_get(d, row->tgid);
		struct sched_proc *sum = proc_sum(sd, row->tgid);

		if (!proc || !sum)
			return -ENOMEM;
		thread_merge(&sum->sum, row);
		thread_merge(&sd->total, row);
		proc->nthreads++;
		if (row->flags & SCHED_F_IO_WORKER) {
			if (!strncmp(row->comm, "iou-sqp-", 8)) {
				proc->sqpoll_threads++;
			} else {
				proc->iowq_workers++;
				proc->iowq_worker_switches += row->switches;
			}
		}
		if (row->pid == row->tgid || !proc->comm[0])
			memcpy(proc->comm, row->comm, sizeof(proc->comm));
	}
	d->threads_known = true;
	return 0;
}

static void sched_free(void *data)
{
	struct sched_data *sd = data;

	if (!sd)
		return;
	free(sd->rows);
	free(sd->procs);
	free(sd);
}

/* The counters and distributions a thread, a process and the totals share. */
static void json_counts(struct json *j, const struct sched_data *sd, const struct sched_thread *s)
{
	json_u64(j, "switches", s->switches);
	json_u64(j, "voluntary_switches", s->voluntary_switches);
	json_u64(j, "involuntary_switches", s->involuntary_switches);
	json_u64(j, "migrations", s->migrations);
	json_u64(j, "wakeups", s->wakeups);
	/* after the thread's counts went into its process's rusage */
	json_u64(j, "released_voluntary_switches", s->released_voluntary_switches);
	json_u64(j, "released_involuntary_switches", s->released_involuntary_switches);
	json_dist_open(j, "runq_latency_ns", &s->runq);
	if (sd->wake_sample > 1) {
		/* n is a sample of the waits: 1 in N of those after a wakeup */
		json_u64(j, "sampled_every", sd->wake_sample);
		json_u64(j, "sampled_from", s->runq.n + s->runq_unsampled);
	}
	json_obj_close(j);
	json_dist(j, "oncpu_ns", &s->oncpu);
	json_dist(j, "offcpu_ns", &s->offcpu);
	if (sd->clock == SCHED_CLOCK_BOTH) {
		/* the kernel clock's figures for the same events */
		json_obj_open(j, "clock_check");
		json_dist(j, "runq_latency_ns", &s->check.runq);
		json_dist(j, "runq_abs_diff_ns", &s->check.diff);
		json_u64(j, "oncpu_sum_ns", s->check.oncpu_sum);
		json_u64(j, "offcpu_sum_ns", s->check.offcpu_sum);
		json_u64(j, "skipped_clock_waits", s->check.skipped);
		json_u64(j, "skipped_clock_ktime_sum_ns", s->check.skipped_ktime_sum);
		json_u64(j, "skipped_clock_kernel_sum_ns", s->check.skipped_kernel_sum);
		/* the rq path (--clock rq) on the same events */
		json_obj_open(j, "rq");
		json_dist(j, "runq_abs_diff_ns", &s->check.rq_diff);
		json_u64(j, "runq_sum_ns", s->check.rq_runq_sum);
		json_u64(j, "runq_ktime_sum_ns", s->check.rq_runq_ktime_sum);
		/* of them, the waits begun by a preempting wakeup (ktime's sum:
		 * skipped_clock_ktime_sum_ns) */
		json_u64(j, "skipped_clock_sum_ns", s->check.rq_skipped_sum);
		json_u64(j, "oncpu_sum_ns", s->check.rq_oncpu_sum);
		json_u64(j, "offcpu_sum_ns", s->check.rq_offcpu_sum);
		json_obj_close(j);
		json_obj_close(j);
	}
}

static void sched_json_top(struct json *j, const struct tracer *t, const struct trace_data *d,
			   const void *data, bool attached)
{
	static const char *const clocks[] = {
		[SCHED_CLOCK_KTIME] = "ktime",
		[SCHED_CLOCK_KERNEL] = "kernel",
		[SCHED_CLOCK_BOTH] = "both",
		[SCHED_CLOCK_RQ] = "rq",
	};
	const struct sched_data *sd = data;

	(void)d;
	if (!attached)
		return;
	json_obj_open(j, "timing");
	json_str(j, "clock", clocks[t->opts.clock]);
	json_u64(j, "wake_sample_every", t->opts.wake_sample);
	if (sd && (t->opts.clock == SCHED_CLOCK_RQ || t->opts.clock == SCHED_CLOCK_BOTH)) {
		/* how often the rq path read the clock, machine-wide */
		json_u64(j, "clock_calibrations", sd->clock_calibrations);
		json_u64(j, "clock_reads", sd->clock_reads);
	}
	json_obj_close(j);
}

static void sched_json_totals(struct json *j, const struct trace_data *d, const void *data)
{
	(void)d;
	json_counts(j, data, &((const struct sched_data *)data)->total);
}

static void sched_json_proc(struct json *j, const struct tracer *t, const struct trace_data *d,
			    const void *data, const struct trace_proc *proc)
{
	const struct sched_data *sd = data;
	static const struct sched_thread none;
	const struct sched_thread *sum = &none;
	unsigned rows = 0, omitted = 0;

	(void)t;
	(void)d;
	for (size_t i = 0; i < sd->nprocs; i++)
		if (sd->procs[i].tgid == proc->tgid)
			sum = &sd->procs[i].sum;
	json_counts(j, sd, sum);
	json_arr_open(j, "threads");
	for (size_t k = 0; k < sd->nrows; k++) {
		const struct sched_thread *r = &sd->rows[k].row;

		if (r->tgid != proc->tgid)
			continue;
		if (rows >= sd->max_rows) {
			omitted++;
			continue;
		}
		json_obj_open(j, NULL);
		json_u64(j, "tid", r->pid);
		json_str(j, "comm", r->comm);
		json_bool(j, "io_worker", !!(r->flags & SCHED_F_IO_WORKER));
		json_bool(j, "live", sd->rows[k].live);
		json_counts(j, sd, r);
		json_obj_close(j);
		rows++;
	}
	json_arr_close(j);
	json_u64(j, "threads_omitted", omitted);
}

static void sched_json_lost(struct json *j, const struct tracer *t, const void *data)
{
	const struct sched_data *sd = data;
	const __u64 *s = sd->counts;

	json_u64(j, "task_storage", s[SCHED_CNT_LOST_STORAGE]);
	json_u64(j, "thread_rows", s[SCHED_CNT_LOST_DEAD_ROWS]);
	json_u64(j, "events", s[SCHED_CNT_LOST_EVENTS]);
	/* expected at the edges: a thread's first switch-in / first
	 * switch-out after attaching has no start to pair with */
	json_u64(j, "unpaired_switch_in", s[SCHED_CNT_UNPAIRED_IN]);
	json_u64(j, "unpaired_switch_out", s[SCHED_CNT_UNPAIRED_OUT]);
	json_bool(j, "rows_final", t->all_rows_final);
	json_bool(j, "live_rows_partial", sd->live_rows_partial);
}

static double us(__u64 ns)
{
	return (double)ns / 1000.0;
}

static void sched_print_summary(FILE *out, const struct trace_data *d, const void *data)
{
	const struct sched_data *sd = data;
	const struct sched_thread *s = &sd->total;

	(void)d;
	fprintf(out,
		"  switches %llu (voluntary %llu, involuntary %llu), "
		"migrations %llu, wakeups %llu\n",
		(unsigned long long)s->switches, (unsigned long long)s->voluntary_switches,
		(unsigned long long)s->involuntary_switches, (unsigned long long)s->migrations,
		(unsigned long long)s->wakeups);
	fprintf(out, "  runq latency us: n %llu p50 <=%.1f p99 <=%.1f max %.1f\n",
		(unsigned long long)s->runq.n, us(log2_quantile(&s->runq, 0.5)),
		us(log2_quantile(&s->runq, 0.99)), us(s->runq.max));
	if (sd->counts[SCHED_CNT_LOST_STORAGE] || sd->counts[SCHED_CNT_LOST_DEAD_ROWS] ||
	    sd->counts[SCHED_CNT_LOST_EVENTS])
		fprintf(out, "  lost: storage %llu rows %llu events %llu\n",
			(unsigned long long)sd->counts[SCHED_CNT_LOST_STORAGE],
			(unsigned long long)sd->counts[SCHED_CNT_LOST_DEAD_ROWS],
			(unsigned long long)sd->counts[SCHED_CNT_LOST_EVENTS]);
}

static const char *const sched_runs[SCHED_RUN_NR] = {
	[SCHED_RUN_SWITCH] = "st_switch",
	[SCHED_RUN_WAKEUP] = "st_wakeup",
	[SCHED_RUN_WAKEUP_NEW] = "st_wakeup_new",
	[SCHED_RUN_MIGRATE] = "st_migrate",
};

const struct probe_ops sched_probe = {
	.name = "sched",
	.summary = "kernel scheduler: switches, wakeups, run-queue and CPU time",
	.is_default = true,
	.writes_events = true,
	.runs = sched_runs,
	.nruns = SCHED_RUN_NR,
	.elf_bytes = sched_bpf__elf_bytes,
	.essential = "st_switch",
	.open = sched_open,
	.close = sched_close,
	.settle = sched_settle,
	.collect = sched_collect,
	.free_data = sched_free,
	.json_top = sched_json_top,
	.json_totals = sched_json_totals,
	.json_proc = sched_json_proc,
	.json_lost = sched_json_lost,
	.print_summary = sched_print_summary,
};
