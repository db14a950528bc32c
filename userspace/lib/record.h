/* record.h: the one JSON record a workload run prints on stdout.
 *
 * Tasks and models add metrics while they run; main.c adds params, usage and
 * status and prints it once at exit. Field names and meaning are fixed in
 * docs/design.md ("The record") and docs/metrics.md;
 * schemas/record.schema.json validates them.
 * Units go in metric names: handoff_ns, user_bytes_per_task.
 */
#ifndef SCHEDLAB_RECORD_H
#define SCHEDLAB_RECORD_H

#include <stdint.h>
#include <stdio.h>

#include "hist.h"

#define RECORD_SCHEMA 1

enum rec_status { REC_OK, REC_FAILED, REC_SKIPPED };

struct record;

struct record *rec_new(const char *task, const char *model);
void rec_free(struct record *rec);

/* A parameter as run (typed: numbers stay numbers in the JSON). */
void rec_param_u64(struct record *rec, const char *key, uint64_t v);
void rec_param_i64(struct record *rec, const char *key, int64_t v);
void rec_param_bool(struct record *rec, const char *key, int v);
void rec_param_str(struct record *rec, const char *key, const char *v);

/* Metrics: the measured window only. A later call with the same name
 * replaces the earlier value. */
void rec_metric_u64(struct record *rec, const char *name, uint64_t v);
void rec_metric_i64(struct record *rec, const char *name, int64_t v);
void rec_metric_f64(struct record *rec, const char *name, double v);
void rec_metric_str(struct record *rec, const char *name, const char *v);
void rec_metric_bool(struct record *rec, const char *name, int v);
/* A distribution {n, sum, min, p50, p90, p99, p999, max}, in the unit its
 * name carries. */
void rec_metric_hist(struct record *rec, const char *name, const struct hist *h);

/* A kernel limit the run raised: recorded under "limits" as
 * {"name", "old", "new", "restored"}. */
void rec_limit(struct record *rec, const char *name, const char *old_value, const char *new_value);
void rec_limit_restored(struct record *rec, const char *name);

/* Status: the first failure or skip wins; its reason is kept. */
void rec_fail(struct record *rec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rec_skip(struct record *rec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
enum rec_status rec_status(const struct record *rec);
/* The reason of a failure or skip, NULL when ok. */
const char *rec_reason(const struct record *rec);

/* Prints the record as one line of JSON, with usage from getrusage(SELF)
 * and wall time since start_ns. */
void rec_emit(struct record *rec, FILE *out, uint64_t start_ns);

#endif
