/* params.c: the parameter machinery every task shares: the common
 * parameters, parsing `--key value` (and `--dashed-key value`) with
 * getopt_long against the task's declared parameters, range checks, and the
 * typed copy of every value into the record's "params". */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/names.h"
#include "params.h"

const struct task_param common_params[] = {
	{.key = "cpus",
	 .type = PARAM_STR,
	 .def = "",
	 .help = "CPUs the whole process may run on, e.g. 0 or 0-1 (default: inherit)"},
	{.key = "seed",
	 .type = PARAM_U64,
	 .def = "1",
	 .unit = "count",
	 .min = 0,
	 .max = UINT64_MAX,
	 .help = "seed of every pseudo-random choice the task makes"},
	{.key = "warmup",
	 .type = PARAM_U64,
	 .def = "0",
	 .unit = "count",
	 .min = 0,
	 .max = 1000000000,
	 .help = "untimed rounds of the task's own unit before measuring"},
	{.key = "timer_slack_ns",
	 .type = PARAM_U64,
	 .def = "1",
	 .unit = "ns",
	 .min = 0,
	 .max = 1000000000ull,
	 .help = "timer slack of every thread (PR_SET_TIMERSLACK); 0 = kernel default (50 us)"},
	/* The kernel's knobs, applied by main.c to the main thread before the
	 * model starts, so every thread created later inherits them (knobs.h). */
	{.key = "policy",
	 .type = PARAM_ENUM,
	 .def = "other",
	 .choices = "other|batch|idle|fifo|rr",
	 .help = "kernel scheduling policy of every thread the workload creates"},
	{.key = "priority",
	 .type = PARAM_U64,
	 .def = "0",
	 .unit = "count",
	 .min = 0,
	 .max = 99,
	 .help = "real-time priority 1-99, only with policy fifo or rr (default there: 1); "
		 "0 = none"},
	{.key = "nice",
	 .type = PARAM_I64,
	 .def = "0",
	 .smin = -20,
	 .smax = 19,
	 .help = "nice value, only with policy other or batch"},
	{.key = "slice_us",
	 .type = PARAM_U64,
	 .def = "0",
	 .unit = "us",
	 .min = 0,
	 .max = 100000,
	 .help = "EEVDF slice (sched_setattr sched_runtime, Linux 6.12+), 100-100000, only with "
		 "policy other or batch; 0 = the kernel's base slice"},
	PARAM_END,
};

/* What main.c adds to every record: the knobs as the kernel applied them. */
const struct task_metric common_metrics[] = {
	{.name = "timer_slack_ns",
	 .unit = "ns",
	 .help = "timer slack the kernel reports for the main thread (PR_GET_TIMERSLACK)"},
	{.name = "sched_policy",
	 .kind = METRIC_TEXT,
	 .help = "scheduling policy the kernel reports for the main thread"},
	{.name = "sched_priority", .unit = "count", .help = "real-time priority as applied"},
	{.name = "sched_nice", .unit = "count", .help = "nice value as applied"},
	{.name = "sched_slice_ns",
	 .unit = "ns",
	 .help = "EEVDF slice as applied; 0: the base slice"},
	{.name = "sched_rt_runtime_us",
	 .unit = "us",
	 .optional = true,
	 .help = "kernel.sched_rt_runtime_us in force (real-time policies only)"},
	{.name = "sched_rt_period_us",
	 .unit = "us",
	 .optional = true,
	 .help = "kernel.sched_rt_period_us in force (real-time policies only)"},
	METRIC_END,
};

/* The value slot of key: the task's own declaration wins over a common one. */
static int find_slot(const struct task_ctx *ctx, const char *key)
{
	for (int i = 0; i < ctx->nvalues; i++)
		if (strcmp(ctx->specs[i]->key, key) == 0)
			return i;
	return -1;
}

static int slot_of(const struct task_ctx *ctx, const char *key)
{
	int i = find_slot(ctx, key);

	if (i < 0) {
		fprintf(stderr,
			"workload: internal error: task %s reads undeclared parameter '%s'\n",
			ctx->task->name, key);
		abort();
	}
	return i;
}

static const char *value_of(const struct task_ctx *ctx, const char *key)
{
	return ctx->values[slot_of(ctx, key)];
}

static uint64_t count_at(const struct task_ctx *ctx, int i)
{
	if (strcmp(ctx->values[i], "auto") == 0)
		return ctx->specs[i]->auto_count(ctx);
	return strtoull(ctx->values[i], NULL, 10);
}

uint64_t task_count(const struct task_ctx *ctx, const char *key)
{
	return count_at(ctx, slot_of(ctx, key));
}

uint64_t task_u64(const struct task_ctx *ctx, const char *key)
{
	return strtoull(value_of(ctx, key), NULL, 10);
}

int64_t task_i64(const struct task_ctx *ctx, const char *key)
{
	return strtoll(value_of(ctx, key), NULL, 10);
}

bool task_given(const struct task_ctx *ctx, const char *key)
{
	value_of(ctx, key); /* aborts on an undeclared key */
	return ctx->given[find_slot(ctx, key)];
}

bool task_bool(const struct task_ctx *ctx, const char *key)
{
	return strcmp(value_of(ctx, key), "true") == 0;
}

const char *task_str(const struct task_ctx *ctx, const char *key)
{
	return value_of(ctx, key);
}

int task_enum(const struct task_ctx *ctx, const char *key, const char *const *names, size_t n)
{
	const char *v = value_of(ctx, key);
	int i = name_index(names, n, v);

	if (i < 0) {
		fprintf(stderr, "workload: internal error: '%s' of parameter '%s' has no variant\n",
			v, key);
		abort();
	}
	return i;
}

static void add_specs(struct task_ctx *ctx, const struct task_param *p)
{
	for (; p && p->key; p++) {
		if (find_slot(ctx, p->key) >= 0)
			continue; /* the task overrides a common parameter */
		if (ctx->nvalues == PARAMS_MAX) {
			fprintf(stderr, "workload: internal error: more than %d parameters\n",
				PARAMS_MAX);
			abort();
		}
		ctx->specs[ctx->nvalues] = p;
		ctx->values[ctx->nvalues++] = p->def;
	}
}

void params_init(struct task_ctx *ctx, const struct task *task, const struct rt_model *model)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->task = task;
	ctx->model = model;
	add_specs(ctx, task->params);
	if (model)
		add_specs(ctx, model->params);
	add_specs(ctx, common_params);
}

const char *params_model_name(int argc, char **argv, const char *def)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
			return argv[i + 1];
		if (strncmp(argv[i], "--model=", 8) == 0)
			return argv[i] + 8;
	}
	return def;
}

int params_set(struct task_ctx *ctx, const char *key, const char *value, char *err, size_t len)
{
	int i = find_slot(ctx, key);

	if (i < 0) {
		snprintf(err, len, "unknown parameter --%s", key);
		return -EINVAL;
	}
	if (params_check_one(ctx->specs[i], value, err, len))
		return -EINVAL;
	ctx->values[i] = value;
	ctx->given[i] = true;
	return 0;
}

int params_set_as_run(struct task_ctx *ctx, const char *key, const char *value)
{
	char err[128];
	int i = find_slot(ctx, key);
	bool given = i >= 0 && ctx->given[i];
	int ret = params_set(ctx, key, value, err, sizeof(err));

	if (i >= 0)
		ctx->given[i] = given;
	return ret;
}

int task_reserve(const struct task_ctx *ctx, const struct rt_demand *demand)
{
	if (!ctx->model || !ctx->model->reserve)
		return 0;
	return ctx->model->reserve(ctx, demand);
}

static int in_choices(const char *choices, const char *v)
{
	size_t n = strlen(v);

	for (const char *p = choices; p && *p;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncmp(p, v, n) == 0)
			return 1;
		p = bar ? bar + 1 : p + len;
	}
	return 0;
}

/* Decimal digits only: strtoull alone also takes " 2", "+2" and "-1" (as a
 * huge number), spellings that would name one value two ways. Leading zeros
 * are fine: the record holds the number. */
static int parse_digits(const char *v, unsigned long long *out)
{
	char *end;

	if (!*v || strspn(v, "0123456789") != strlen(v))
		return -EINVAL;
	errno = 0;
	*out = strtoull(v, &end, 10);
	return errno ? -EINVAL : 0;
}

int params_check_one(const struct task_param *p, const char *v, char *err, size_t len)
{
	unsigned long long u;
	long long i;
	int neg;

	switch (p->type) {
	case PARAM_COUNT:
		if (strcmp(v, "auto") == 0)
			return 0;
		if (parse_digits(v, &u) || u < p->min || u > p->max) {
			snprintf(err, len, "--%s %s: expected auto or a count in %llu..%llu",
				 p->key, v, (unsigned long long)p->min, (unsigned long long)p->max);
			return -EINVAL;
		}
		return 0;
	case PARAM_U64:
		if (parse_digits(v, &u) || u < p->min || u > p->max) {
			snprintf(err, len, "--%s %s: expected an integer in %llu..%llu%s%s", p->key,
				 v, (unsigned long long)p->min, (unsigned long long)p->max,
				 p->unit ? " " : "", p->unit ? p->unit : "");
			return -EINVAL;
		}
		return 0;
	case PARAM_I64:
		neg = v[0] == '-';
		if (parse_digits(v + neg, &u) || u > (unsigned long long)INT64_MAX ||
		    (i = neg ? -(long long)u : (long long)u) < p->smin || i > p->smax) {
			snprintf(err, len, "--%s %s: expected an integer in %lld..%lld%s%s", p->key,
				 v, (long long)p->smin, (long long)p->smax, p->unit ? " " : "",
				 p->unit ? p->unit : "");
			return -EINVAL;
		}
		return 0;
	case PARAM_BOOL:
		if (strcmp(v, "true") && strcmp(v, "false")) {
			snprintf(err, len, "--%s %s: expected true or false", p->key, v);
			return -EINVAL;
		}
		return 0;
	case PARAM_ENUM:
		if (!in_choices(p->choices, v)) {
			snprintf(err, len, "--%s %s: expected one of %s", p->key, v, p->choices);
			return -EINVAL;
		}
		return 0;
	case PARAM_STR:
		return 0;
	}
	return -EINVAL;
}

/* The models that declare `key` ("coro, uring"), for a clearer refusal. */
static void models_with(const struct rt_model *const *models, const char *key, char *out,
			size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (const struct rt_model *const *m = models; m && *m; m++)
		for (const struct task_param *p = (*m)->params; p && p->key; p++)
			if (strcmp(p->key, key) == 0 && used < len)
				used += (size_t)snprintf(out + used, len - used, "%s%s",
							 used ? ", " : "", (*m)->name);
}

/* getopt_long takes any unambiguous prefix (--stack for --stack_bytes):
 * every --name must be spelled out in full. 0, or -EINVAL with err set. */
static int names_exact(const struct task_ctx *ctx, const struct rt_model *const *models,
		       const struct option *opts, int argc, char **argv, char *err, size_t len)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq;
		size_t n;
		int known = 0;
		char owners[128], key[64];

		if (strcmp(a, "--") == 0)
			break;
		if (strncmp(a, "--", 2))
			continue;
		a += 2;
		eq = strchr(a, '=');
		n = eq ? (size_t)(eq - a) : strlen(a);
		for (const struct option *o = opts; o->name && !known; o++)
			known = strlen(o->name) == n && strncmp(o->name, a, n) == 0;
		if (!eq)
			i++; /* the value */
		if (known)
			continue;
		snprintf(key, sizeof(key), "%.*s", (int)(n < 63 ? n : 63), a);
		for (char *q = key; *q; q++)
			if (*q == '-')
				*q = '_';
		models_with(models, key, owners, sizeof(owners));
		if (owners[0])
			snprintf(err, len, "--%s is a parameter of the models %s, not of %s", key,
				 owners, ctx->model ? ctx->model->name : "?");
		else
			snprintf(err, len,
				 "unknown parameter --%s for task %s under model %s: run "
				 "`workload --list` for the valid ones",
				 key, ctx->task->name, ctx->model ? ctx->model->name : "?");
		return -EINVAL;
	}
	return 0;
}

/* Options: every parameter twice (key_with_underscores, key-with-dashes),
 * then --model. getopt_long's index tells which parameter matched. */
int params_parse(struct task_ctx *ctx, const struct rt_model *const *models, int argc, char **argv,
		 char *err, size_t len)
{
	struct option opts[2 * PARAMS_MAX + 2];
	char dashed[PARAMS_MAX][64];
	int n = 0, c, idx, model_seen = 0;

	for (int i = 0; i < ctx->nvalues; i++) {
		snprintf(dashed[i], sizeof(dashed[i]), "%s", ctx->specs[i]->key);
		for (char *q = dashed[i]; *q; q++)
			if (*q == '_')
				*q = '-';
		opts[n++] = (struct option){ctx->specs[i]->key, required_argument, NULL, 0};
		opts[n++] = (struct option){dashed[i], required_argument, NULL, 0};
	}
	opts[n++] = (struct option){"model", required_argument, NULL, 'm'};
	opts[n] = (struct option){0};

	if (names_exact(ctx, models, opts, argc, argv, err, len))
		return -EINVAL;
	optind = 1;
	opterr = 0;
	/* "+:": stop at the first non-option, and report a missing value as ':' */
	while ((c = getopt_long(argc, argv, "+:", opts, &idx)) != -1) {
		if (c == 'm' && model_seen++) {
			snprintf(err, len, "--model given twice: give it once");
			return -EINVAL;
		}
		if (c == 'm')
			continue; /* read earlier by params_model_name() */
		if (c == '?' || c == ':') {
			const char *bad = argv[optind - 1];

			if (c == ':')
				snprintf(err, len, "%s needs a value", bad);
			else
				snprintf(err, len,
					 "unknown parameter %s for task %s under model %s: run "
					 "`workload --list` for the valid ones",
					 bad, ctx->task->name, ctx->model ? ctx->model->name : "?");
			return -EINVAL;
		}
		/* A second value would silently win: the cell would not be what
		 * its command line seems to say. */
		if (ctx->given[idx / 2]) {
			snprintf(err, len, "--%s given twice (%s, then %s): give it once",
				 ctx->specs[idx / 2]->key, ctx->values[idx / 2], optarg);
			return -EINVAL;
		}
		ctx->values[idx / 2] = optarg;
		ctx->given[idx / 2] = true;
	}
	if (optind < argc) {
		snprintf(err, len, "unexpected argument '%s': parameters are --key value",
			 argv[optind]);
		return -EINVAL;
	}
	for (int i = 0; i < ctx->nvalues; i++)
		if (params_check_one(ctx->specs[i], ctx->values[i], err, len))
			return -EINVAL;
	return 0;
}

void params_to_record(const struct task_ctx *ctx, struct record *rec)
{
	for (int i = 0; i < ctx->nvalues; i++) {
		const struct task_param *p = ctx->specs[i];

		switch (p->type) {
		case PARAM_U64:
			rec_param_u64(rec, p->key, strtoull(ctx->values[i], NULL, 10));
			break;
		case PARAM_I64:
			rec_param_i64(rec, p->key, strtoll(ctx->values[i], NULL, 10));
			break;
		case PARAM_COUNT:
			rec_param_u64(rec, p->key, count_at(ctx, i));
			break;
		case PARAM_BOOL:
			rec_param_bool(rec, p->key, strcmp(ctx->values[i], "true") == 0);
			break;
		default:
			rec_param_str(rec, p->key, ctx->values[i]);
		}
	}
}
