/* task.h: what a task declares (its parameters, the models it runs under)
 * and what it receives when it runs (parsed parameters, the record).
 *
 * Adding a task: one file in tasks/, one `extern` line and one entry in
 * task_list[] (tasks/registry.c), one section in a config.
 */
#ifndef SCHEDLAB_TASK_H
#define SCHEDLAB_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/record.h"
#include "rt.h"

enum param_type {
	PARAM_U64,  /* decimal integer in [min, max] */
	PARAM_BOOL, /* true | false */
	PARAM_ENUM, /* one of choices, "a|b|c" */
	PARAM_STR,  /* free text (a path, a CPU list) */
	PARAM_I64,  /* signed decimal integer in [smin, smax] */
	/* A count in [min, max], or "auto": the count auto_count gives for the
	 * run (called after cpus is applied). The record holds the count,
	 * resolved, under the parameter's key. */
	PARAM_COUNT,
};

struct task_param {
	const char *key; /* as in configs and the record: "hog_yield_us" */
	enum param_type type;
	const char *def;     /* default, as text */
	const char *unit;    /* "us", "bytes", "count", ... ; NULL if none */
	uint64_t min, max;   /* PARAM_U64, PARAM_COUNT: inclusive range */
	int64_t smin, smax;  /* PARAM_I64 only: inclusive range */
	const char *choices; /* PARAM_ENUM only */
	const char *help;    /* one line: what it means */
	uint64_t (*auto_count)(const struct task_ctx *ctx); /* PARAM_COUNT only */
};
#define PARAM_END                                                                                  \
	{                                                                                          \
		.key = NULL                                                                        \
	}

/* A metric a record may carry, declared beside the parameters so that
 * `workload --list` tells the harness its unit, which way is better and
 * whether the report's tables show it (docs/metrics.md). */
enum metric_kind {
	METRIC_NUMBER,
	METRIC_DIST, /* {n, sum, min, p50, p90, p99, p999, max} in `unit` */
	METRIC_TEXT,
	METRIC_FLAG, /* true | false */
};

enum metric_better {
	BETTER_NONE, /* a count, a setting, an outcome: no direction */
	BETTER_LOWER,
	BETTER_HIGHER,
};

struct task_metric {
	const char *name; /* as in the record; '*' stands for a worker index */
	enum metric_kind kind;
	const char *unit; /* "ns", "us", "bytes", "count", "ratio", "per_s"; NULL: none */
	enum metric_better better;
	bool headline; /* one of the few the report's cells table and compare show */
	bool optional; /* only in some runs: help says when */
	const char *help;
};
#define METRIC_END                                                                                 \
	{                                                                                          \
		.name = NULL                                                                       \
	}

/* The parsed parameters of one run. Values live in a flat table indexed like
 * the task's params, then the model's, then the common ones (cpus, seed,
 * warmup, ...). A task reads its own and the common ones; the model reads
 * its own. `model` is there for main.c and the model's hooks: a task never
 * tests which model runs it (what differs goes into a model hook). */
struct task_ctx {
	const struct task *task;
	const struct rt_model *model;
	struct record *rec;
	const char *values[64]; /* text of each parameter */
	const struct task_param *specs[64];
	bool given[64]; /* set on the command line, not left at its default */
	int nvalues;
	/* Set by main.c: ends the process now, from any thread and without
	 * joining any, with the record as it stands and the exit status its
	 * status gives. Never returns. For a task whose own tasks may wait on
	 * each other for good (tasks/deadlock.c's watchdog). */
	void (*exit_now)(struct task_ctx *ctx);
};

struct task {
	const char *name;
	const char *summary; /* one line: what it provokes */
	/* NULL-terminated model names it runs under; NULL means every model.
	 * A model not listed is skipped (exit 77) with `skip_reason`. */
	const char *const *models;
	const char *skip_reason;
	const struct task_param *params;   /* terminated by PARAM_END */
	const struct task_metric *metrics; /* terminated by METRIC_END */
	/* Optional: checks across parameters after each one passed its own range
	 * check. Write one line naming the problem and the fix into err, return
	 * nonzero: main exits 2 before anything runs. */
	int (*validate)(const struct task_ctx *ctx, char *err, size_t errlen);
	/* Optional: before the model starts (raise kernel limits, create files).
	 * Returns 0, or an exit status (1 or 77) with rec's reason set. */
	int (*setup)(struct task_ctx *ctx);
	/* Runs as the model's first task. Returns 0, or 1 with rec_fail() called. */
	int (*run)(struct rt *rt, struct task_ctx *ctx);
	/* Optional: a stall is what this task measures, not a failure. main.c
	 * calls it when the model found every task waiting on another for good
	 * (run returned -EDEADLK: the coroutine schedulers see every coroutine
	 * parked); it writes the task's metrics for a stalled run and the
	 * record stays ok. NULL: such a run fails. */
	void (*stalled)(struct task_ctx *ctx);
	/* Optional: after the model finished, on every path (remove files). */
	void (*teardown)(struct task_ctx *ctx);
};

extern const struct task *const task_list[];	  /* NULL-terminated */
extern const struct task_param common_params[];	  /* cpus, seed, warmup, policy, ... */
extern const struct task_metric common_metrics[]; /* what main.c adds to every record */

/* Asks the model for what the task will hold at once (struct rt_demand);
 * call from the task's setup. 0, or 1 with the record's reason set. */
int task_reserve(const struct task_ctx *ctx, const struct rt_demand *demand);

/* Parameter values; key must be declared by the task, the model or common
 * (else abort). */
uint64_t task_u64(const struct task_ctx *ctx, const char *key);
int64_t task_i64(const struct task_ctx *ctx, const char *key);
/* Whether key was given on the command line (a cross-parameter check needs
 * to tell "--priority 1" from the default). */
bool task_given(const struct task_ctx *ctx, const char *key);
bool task_bool(const struct task_ctx *ctx, const char *key);
/* A PARAM_COUNT's value, "auto" resolved. */
uint64_t task_count(const struct task_ctx *ctx, const char *key);
const char *task_str(const struct task_ctx *ctx, const char *key);
/* A PARAM_ENUM's value as its index in names[0..n): the table of the
 * variants' spellings in the order of the caller's enum, read once when the
 * run starts, so that no code past that compares the text. Aborts when the
 * value is missing from the table (it passed the parameter's choices, so
 * the two disagree: a bug). */
int task_enum(const struct task_ctx *ctx, const char *key, const char *const *names, size_t n);

#endif
