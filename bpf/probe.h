/* probe.h: what a probe declares, and what the loader does with it.
 *
 * A probe is three files: bpf/<probe>.bpf.c (its BPF programs), bpf/<probe>.h
 * (the wire format they share with the loader) and bpf/<probe>.c, which
 * defines one `const struct probe_ops <probe>_probe` and keeps everything
 * else static. probe_table.c lists the probes in the order they load; the
 * loader (trace_probes.c), the collector (trace_collect.c) and the reporter
 * (trace_report.c) only walk that table. Adding a probe is the three files
 * and one line of the table; `schedtrace --list` then shows it, and the
 * harness learns it from there.
 *
 * Every hook but open may be NULL. `data` is what the probe's collect put
 * into trace_data.priv (NULL when it collected nothing).
 */
#ifndef SCHEDLAB_PROBE_H
#define SCHEDLAB_PROBE_H

#include <bpf/btf.h>

#include "hist.h"
#include "trace.h"

struct probe_ops {
	const char *name;    /* as in --probes and in the document's `probes` */
	const char *summary; /* one line, for --list and --help */
	bool always;	     /* loaded whatever --probes says, not selectable */
	bool is_default;     /* in the default --probes */
	bool writes_events;  /* feeds the --events stream */
	/* program names in the order of the object's `runs` map (runs.h) */
	const char *const *runs;
	unsigned nruns;
	/* its BPF object as built (the skeleton's), which --list reads for
	 * each program's attach point without loading anything */
	const void *(*elf_bytes)(size_t *sz);
	/* the program without which the probe is unavailable; NULL: none */
	const char *essential;

	/* Open, load and attach; on failure set p->reason and return -errno
	 * (the loader then calls close). Set p->obj and p->priv. */
	int (*open)(struct tracer *t, struct probe_slot *p, const struct btf *vmlinux);
	void (*close)(struct probe_slot *p);
	/* While the command runs, every few tens of milliseconds: what must be
	 * read from processes before they are reaped. */
	void (*tick)(struct tracer *t, struct probe_slot *p);
	/* After the command ended: wait (bounded) until the probe saw its
	 * threads' last events; false when it could not tell. */
	bool (*settle)(struct tracer *t, struct probe_slot *p, unsigned timeout_ms);
	/* Read the maps: add processes (trace_proc_get), keep the rest in
	 * *data (freed with free_data). */
	int (*collect)(struct tracer *t, struct probe_slot *p, struct trace_data *d, void **data);
	void (*free_data)(void *data);

	/* The document (schemas/tracer.schema.json). */
	void (*json_top)(struct json *j, const struct tracer *t, const struct trace_data *d,
			 const void *data, bool attached); /* its top-level keys */
	void (*json_totals)(struct json *j, const struct trace_data *d, const void *data);
	void (*json_proc)(struct json *j, const struct tracer *t, const struct trace_data *d,
			  const void *data, const struct trace_proc *proc);
	void (*json_lost)(struct json *j, const struct tracer *t, const void *data);
	void (*print_summary)(FILE *out, const struct trace_data *d, const void *data);
};

/* probe_table.c: every probe, in load order; NULL-terminated. */
extern const struct probe_ops *const probe_table[];

/* trace_report.c: a log2 distribution {n, sum, min, p50.., max, buckets};
 * json_dist_open leaves the object open for extra keys. */
void json_dist(struct json *j, const char *key, const struct log2_hist *h);
void json_dist_open(struct json *j, const char *key, const struct log2_hist *h);
__u64 log2_quantile(const struct log2_hist *h, double q);
/* trace_collect.c: merge src into dst */
void log2_merge(struct log2_hist *dst, const struct log2_hist *src);

#endif
