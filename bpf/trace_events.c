/* trace_events.c: --events FILE, the optional per-event stream.
 *
 * One ring buffer, created here before the probes load and handed to each
 * object that declares `events` (events.bpf.h, trace_share_maps): the
 * probes that write events (probe_ops.writes_events) each write fixed-size
 * records into it (events.h) without waking us (a wakeup per event doubles a
 * probe's cost); the main loop drains it every few tens of milliseconds and
 * at the end. Records a probe could not reserve are counted in its `lost`.
 * The file is a struct events_header followed by the records, in the order
 * drained.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "trace.h"

#include "events.h" /* after trace.h: it needs the __u types */

static int on_event(void *ctx, void *data, size_t len)
{
	struct tracer *t = ctx;

	/* a record of another size would be a build mismatch: skip it */
	if (len != sizeof(struct event_sched))
		return 0;
	if (fwrite(data, len, 1, t->events_file) != 1)
		return -EIO;
	t->events_written++;
	return 0;
}

int trace_events_create(struct tracer *t)
{
	t->events_fd = -1;
	if (!t->opts.events_path)
		return 0;
	t->events_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "events", 0, 0,
				      t->opts.events_kb * 1024u, NULL);
	if (t->events_fd < 0) {
		int err = -errno;

		fprintf(stderr, "schedtrace: --events: ring buffer: %s\n", strerror(-err));
		t->events_fd = -1;
		return err;
	}
	return 0;
}

int trace_events_open(struct tracer *t)
{
	struct events_header h = {.version = EVENTS_VERSION,
				  .record_bytes = sizeof(struct event_sched)};
	int err;

	if (t->events_fd < 0)
		return 0;
	t->events_file = fopen(t->opts.events_path, "we");
	if (!t->events_file) {
		err = -errno;
		fprintf(stderr, "schedtrace: %s: %s\n", t->opts.events_path, strerror(-err));
		return err;
	}
	memcpy(h.magic, EVENTS_MAGIC, sizeof(h.magic));
	h.root_tgid = t->root;
	if (fwrite(&h, sizeof(h), 1, t->events_file) != 1)
		return -EIO;
	t->rb = ring_buffer__new(t->events_fd, on_event, t, NULL);
	if (!t->rb) {
		err = -errno;
		fprintf(stderr, "schedtrace: ring buffer: %s\n", strerror(-err));
		return err;
	}
	return 0;
}

int trace_events_drain(struct tracer *t)
{
	int n;

	if (!t->rb)
		return 0;
	n = ring_buffer__consume(t->rb);
	return n < 0 ? n : 0;
}

void trace_events_close(struct tracer *t)
{
	ring_buffer__free(t->rb);
	t->rb = NULL;
	if (t->events_file && fclose(t->events_file))
		fprintf(stderr, "schedtrace: %s: %s\n", t->opts.events_path, strerror(errno));
	t->events_file = NULL;
	if (t->events_fd >= 0)
		close(t->events_fd);
	t->events_fd = -1;
}
