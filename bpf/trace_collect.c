/* trace_collect.c: what every attached probe collected (probe_ops.collect),
 * and the processes they saw. Userspace only adds up what the kernel
 * aggregated; nothing here is estimated. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

struct trace_proc *trace_proc_get(struct trace_data *d, __u32 tgid)
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

void log2_merge(struct log2_hist *dst, const struct log2_hist *src)
{
	if (!src->n)
		return;
	if (!dst->n || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->n += src->n;
	dst->sum += src->sum;
	for (int i = 0; i < HIST_SLOTS; i++)
		dst->slots[i] += src->slots[i];
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
	int err;

	memset(d, 0, sizeof(*d));
	/* in table order: the processes first (the always-on probe), then
	 * what each probe saw of them */
	for (int i = 0; i < t->nprobes; i++) {
		struct probe_slot *p = &t->probe[i];

		if (!p->attached || !p->ops->collect)
			continue;
		err = p->ops->collect(t, p, d, &d->priv[i]);
		if (err)
			return err;
	}
	for (size_t i = 0; i < d->nprocs; i++) {
		struct trace_proc *p = &d->procs[i];

		if (!p->comm[0])
			read_comm(p->tgid, p->comm, sizeof(p->comm));
		d->total.nthreads += p->nthreads;
		d->total.iowq_workers += p->iowq_workers;
		d->total.sqpoll_threads += p->sqpoll_threads;
		d->total.iowq_worker_switches += p->iowq_worker_switches;
	}
	return 0;
}

void trace_data_free(struct tracer *t, struct trace_data *d)
{
	for (int i = 0; i < t->nprobes; i++)
		if (d->priv[i] && t->probe[i].ops->free_data)
			t->probe[i].ops->free_data(d->priv[i]);
	free(d->procs);
	memset(d, 0, sizeof(*d));
}

bool trace_settle(struct tracer *t, unsigned timeout_ms)
{
	bool all = true, any = false;

	for (int i = 0; i < t->nprobes; i++) {
		struct probe_slot *p = &t->probe[i];

		if (!p->attached || !p->ops->settle)
			continue;
		any = true;
		all &= p->ops->settle(t, p, timeout_ms);
	}
	return any && all;
}

bool trace_tick(struct tracer *t)
{
	bool any = false;

	for (int i = 0; i < t->nprobes; i++) {
		struct probe_slot *p = &t->probe[i];

		if (!p->attached || !p->ops->tick)
			continue;
		p->ops->tick(t, p);
		any = true;
	}
	return any;
}
