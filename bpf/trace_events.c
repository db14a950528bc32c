/* trace_events.c: --events FILE, the optional per-event stream.
 *
 * sched.bpf.c writes one fixed-size struct sched_event per switch, wakeup
 * and migration of a traced task into a ring buffer, without waking us (a
 * wakeup per event doubles the probe's cost); the main loop drains it every
 * few tens of milliseconds and at the end. Records the kernel could not
 * reserve are counted (lost.events). The file is a struct sched_events_header
 * followed by the records, in the order drained.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "trace.h"

static int on_event(void *ctx, void *data, size_t len)
{
	struct tracer *t = ctx;

	/* a record of another size would be a build mismatch: skip it */
	if (len != sizeof(struct sched_event))
		return 0;
	if (fwrite(data, len, 1, t->events_file) != 1)
		return -EIO;
	t->events_written++;
	return 0;
}

int trace_events_open(struct tracer *t)
{
	struct sched_events_header h = {.version = SCHED_EVENTS_VERSION,
					.record_bytes = sizeof(struct sched_event)};
	int fd = trace_map_fd(t, "events");
	int err;

	if (!t->opts.events_path || fd < 0)
		return 0;
	t->events_file = fopen(t->opts.events_path, "we");
	if (!t->events_file) {
		err = -errno;
		fprintf(stderr, "schedtrace: %s: %s\n", t->opts.events_path, strerror(-err));
		return err;
	}
	memcpy(h.magic, SCHED_EVENTS_MAGIC, sizeof(h.magic));
	h.root_tgid = t->root;
	if (fwrite(&h, sizeof(h), 1, t->events_file) != 1)
		return -EIO;
	t->rb = ring_buffer__new(fd, on_event, t, NULL);
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
}
