/* track.c: the probe that follows the traced command's processes
 * (track.bpf.c). Always loaded first: its `tracked` map and filter are what
 * every other probe's "is this task ours" reads (trace_share_maps). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "lib/json.h"
#include "probe.h"
#include "track.h"
#include "track.skel.h"

extern const struct probe_ops track_probe;

struct track_data {
	__u64 counts[TRACK_CNT_NR];
};

static int track_open(struct tracer *t, struct probe_slot *p, const struct btf *vmlinux)
{
	struct track_bpf *skel;
	int err;

	(void)vmlinux;
	skel = track_bpf__open();
	if (!skel) {
		err = -errno;
		snprintf(p->reason, sizeof(p->reason), "open track.bpf.o: %s", strerror(-err));
		return err;
	}
	p->priv = skel;
	/* command mode: the command is followed from its fork by the tracer,
	 * so even its switches before exec are counted, as rusage counts them */
	if (!t->opts.pid)
		skel->rodata->targ_tracer_tgid = getpid();
	err = track_bpf__load(skel);
	if (err) {
		snprintf(p->reason, sizeof(p->reason), "load track.bpf.o: %s", strerror(-err));
		return err;
	}
	err = track_bpf__attach(skel);
	if (err) {
		snprintf(p->reason, sizeof(p->reason), "attach sched_process_fork: %s",
			 strerror(-err));
		return err;
	}
	p->obj = skel->obj;
	t->tracked_fd = bpf_map__fd(skel->maps.tracked);
	t->bloom_fd = bpf_map__fd(skel->maps.tracked_bloom);
	return 0;
}

static void track_close(struct probe_slot *p)
{
	track_bpf__destroy(p->priv);
}

int trace_follow(struct tracer *t, pid_t tgid)
{
	struct track_proc proc = {};
	__u32 key = tgid, word = (key / 64) % TRACK_BLOOM_WORDS;
	__u64 bits;

	/* The filter bit first, or the probes could skip the new tgid. This
	 * read-modify-write is not atomic against track.bpf.c's, which is safe
	 * because no tracked process can fork meanwhile: in command mode the
	 * command is still held before exec (and track.bpf.c marked it at
	 * fork), in --pid mode nothing is tracked yet. */
	if (bpf_map_lookup_elem(t->bloom_fd, &word, &bits))
		return -errno;
	bits |= 1ULL << (key % 64);
	if (bpf_map_update_elem(t->bloom_fd, &word, &bits, BPF_ANY))
		return -errno;
	/* command mode: track.bpf.c normally added it at fork already */
	if (bpf_map_update_elem(t->tracked_fd, &key, &proc, BPF_NOEXIST) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Every process the command became. */
static int track_collect(struct tracer *t, struct probe_slot *p, struct trace_data *d, void **data)
{
	struct track_bpf *skel = p->priv;
	struct track_data *td = calloc(1, sizeof(*td));
	__u32 key, next, *prev = NULL;
	int err;

	if (!td)
		return -ENOMEM;
	*data = td;
	err = percpu_sum(bpf_map__fd(skel->maps.track_counts), TRACK_CNT_NR, td->counts);
	if (err)
		return err;
	while (!bpf_map_get_next_key(t->tracked_fd, prev, &next)) {
		struct track_proc info;
		struct trace_proc *proc;

		key = next;
		prev = &key;
		proc = trace_proc_get(d, key);
		if (!proc)
			return -ENOMEM;
		if (bpf_map_lookup_elem(t->tracked_fd, &key, &info))
			continue;
		proc->parent_tgid = info.parent_tgid;
		proc->execs = info.execs;
		proc->exited = info.exited;
	}
	return 0;
}

static void track_json_lost(struct json *j, const struct tracer *t, const void *data)
{
	const struct track_data *td = data;

	(void)t;
	json_u64(j, "untracked_forks", td ? td->counts[TRACK_CNT_LOST_FORKS] : 0);
}

static const char *const track_runs[TRACK_RUN_NR] = {
	[TRACK_RUN_FORK] = "st_fork",
	[TRACK_RUN_EXEC] = "st_exec",
	[TRACK_RUN_EXIT] = "st_exit",
};

const struct probe_ops track_probe = {
	.name = "track",
	.summary = "the command's processes through fork and exec (always on)",
	.always = true,
	.runs = track_runs,
	.nruns = TRACK_RUN_NR,
	.elf_bytes = track_bpf__elf_bytes,
	.essential = "st_fork",
	.open = track_open,
	.close = track_close,
	.collect = track_collect,
	.free_data = free,
	.json_lost = track_json_lost,
};
