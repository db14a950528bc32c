/* record.c: builds the workload's one JSON record (see record.h). */
#include "record.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "clock.h"
#include "json.h"

enum value_type { V_U64, V_I64, V_F64, V_STR, V_BOOL, V_HIST };

struct value {
	char *name;
	enum value_type type;
	union {
		uint64_t u;
		int64_t i;
		double f;
		char *s;
		struct {
			uint64_t n, sum, min, p50, p90, p99, p999, max;
		} h;
	};
};

struct list {
	struct value *items;
	size_t len, cap;
};

struct limit {
	char *name, *old_value, *new_value;
	int restored;
};

/* Every change and the emit hold lock: a watchdog thread may report and
 * emit the record (a deadlock: main.c's exit_now) while the run's own
 * thread still adds the model's counters to it. */
struct record {
	pthread_mutex_t lock;
	char *task, *model;
	struct list params, metrics;
	struct limit limits[8];
	int nlimits;
	enum rec_status status;
	char reason[512];
	int emitted; /* printed once: a second emit (a racing exit path) prints nothing */
};

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");

	if (!d) {
		fputs("record: out of memory\n", stderr);
		abort();
	}
	return d;
}

struct record *rec_new(const char *task, const char *model)
{
	struct record *rec = calloc(1, sizeof(*rec));

	if (!rec)
		return NULL;
	pthread_mutex_init(&rec->lock, NULL);
	rec->task = xstrdup(task);
	rec->model = xstrdup(model);
	return rec;
}

static void list_free(struct list *l)
{
	for (size_t i = 0; i < l->len; i++) {
		free(l->items[i].name);
		if (l->items[i].type == V_STR)
			free(l->items[i].s);
	}
	free(l->items);
}

void rec_free(struct record *rec)
{
	if (!rec)
		return;
	list_free(&rec->params);
	list_free(&rec->metrics);
	for (int i = 0; i < rec->nlimits; i++) {
		free(rec->limits[i].name);
		free(rec->limits[i].old_value);
		free(rec->limits[i].new_value);
	}
	free(rec->task);
	free(rec->model);
	pthread_mutex_destroy(&rec->lock);
	free(rec);
}

/* The slot for name: the existing one (its old value released) or a new one. */
static struct value *slot(struct list *l, const char *name)
{
	for (size_t i = 0; i < l->len; i++) {
		if (strcmp(l->items[i].name, name) == 0) {
			if (l->items[i].type == V_STR)
				free(l->items[i].s);
			return &l->items[i];
		}
	}
	if (l->len == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct value *items = realloc(l->items, cap * sizeof(*items));

		if (!items) {
			fputs("record: out of memory\n", stderr);
			abort();
		}
		l->items = items;
		l->cap = cap;
	}
	l->items[l->len].name = xstrdup(name);
	return &l->items[l->len++];
}

/* Sets name in l to v, under the record's lock; a string value is copied. */
static void put(struct record *r, struct list *l, const char *name, struct value v)
{
	struct value *s;

	if (v.type == V_STR)
		v.s = xstrdup(v.s);
	pthread_mutex_lock(&r->lock);
	s = slot(l, name);
	v.name = s->name;
	*s = v;
	pthread_mutex_unlock(&r->lock);
}

void rec_param_u64(struct record *r, const char *k, uint64_t v)
{
	put(r, &r->params, k, (struct value){.type = V_U64, .u = v});
}
void rec_param_i64(struct record *r, const char *k, int64_t v)
{
	put(r, &r->params, k, (struct value){.type = V_I64, .i = v});
}
void rec_param_bool(struct record *r, const char *k, int v)
{
	put(r, &r->params, k, (struct value){.type = V_BOOL, .u = !!v});
}
void rec_param_str(struct record *r, const char *k, const char *v)
{
	put(r, &r->params, k, (struct value){.type = V_STR, .s = (char *)v});
}
void rec_metric_u64(struct record *r, const char *k, uint64_t v)
{
	put(r, &r->metrics, k, (struct value){.type = V_U64, .u = v});
}
void rec_metric_i64(struct record *r, const char *k, int64_t v)
{
	put(r, &r->metrics, k, (struct value){.type = V_I64, .i = v});
}
void rec_metric_f64(struct record *r, const char *k, double v)
{
	put(r, &r->metrics, k, (struct value){.type = V_F64, .f = v});
}
void rec_metric_str(struct record *r, const char *k, const char *v)
{
	put(r, &r->metrics, k, (struct value){.type = V_STR, .s = (char *)v});
}
void rec_metric_bool(struct record *r, const char *k, int v)
{
	put(r, &r->metrics, k, (struct value){.type = V_BOOL, .u = !!v});
}

void rec_metric_hist(struct record *r, const char *k, const struct hist *h)
{
	struct value v = {.type = V_HIST};

	v.h.n = h->n;
	v.h.sum = h->sum;
	v.h.min = h->n ? h->min : 0;
	v.h.p50 = hist_quantile(h, 0.50);
	v.h.p90 = hist_quantile(h, 0.90);
	v.h.p99 = hist_quantile(h, 0.99);
	v.h.p999 = hist_quantile(h, 0.999);
	v.h.max = h->max;
	put(r, &r->metrics, k, v);
}

void rec_limit(struct record *r, const char *name, const char *old_value, const char *new_value)
{
	struct limit *l;

	pthread_mutex_lock(&r->lock);
	if (r->nlimits < (int)(sizeof(r->limits) / sizeof(r->limits[0]))) {
		l = &r->limits[r->nlimits++];
		l->name = xstrdup(name);
		l->old_value = xstrdup(old_value);
		l->new_value = xstrdup(new_value);
	}
	pthread_mutex_unlock(&r->lock);
}

void rec_limit_restored(struct record *r, const char *name)
{
	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < r->nlimits; i++)
		if (strcmp(r->limits[i].name, name) == 0)
			r->limits[i].restored = 1;
	pthread_mutex_unlock(&r->lock);
}

static void set_status(struct record *r, enum rec_status st, const char *fmt, va_list ap)
{
	pthread_mutex_lock(&r->lock);
	if (r->status == REC_OK) { /* the first failure is the cause; later ones follow */
		r->status = st;
		vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	}
	pthread_mutex_unlock(&r->lock);
}

void rec_fail(struct record *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_status(r, REC_FAILED, fmt, ap);
	va_end(ap);
}
void rec_skip(struct record *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_status(r, REC_SKIPPED, fmt, ap);
	va_end(ap);
}
enum rec_status rec_status(const struct record *r)
{
	return r->status;
}
const char *rec_reason(const struct record *r)
{
	return r->status == REC_OK ? NULL : r->reason;
}

static void write_values(struct json *j, const char *key, const struct list *l)
{
	json_obj_open(j, key);
	for (size_t i = 0; i < l->len; i++) {
		const struct value *v = &l->items[i];

		switch (v->type) {
		case V_U64:
			json_u64(j, v->name, v->u);
			break;
		case V_I64:
			json_i64(j, v->name, v->i);
			break;
		case V_F64:
			json_f64(j, v->name, v->f);
			break;
		case V_STR:
			json_str(j, v->name, v->s);
			break;
		case V_BOOL:
			json_bool(j, v->name, (int)v->u);
			break;
		case V_HIST:
			json_obj_open(j, v->name);
			json_u64(j, "n", v->h.n);
			json_u64(j, "sum", v->h.sum);
			json_u64(j, "min", v->h.min);
			json_u64(j, "p50", v->h.p50);
			json_u64(j, "p90", v->h.p90);
			json_u64(j, "p99", v->h.p99);
			json_u64(j, "p999", v->h.p999);
			json_u64(j, "max", v->h.max);
			json_obj_close(j);
			break;
		}
	}
	json_obj_close(j);
}

static uint64_t tv_ns(struct timeval tv)
{
	return (uint64_t)tv.tv_sec * 1000000000ull + (uint64_t)tv.tv_usec * 1000ull;
}

static const char *const status_names[] = {
	[REC_OK] = "ok",
	[REC_FAILED] = "failed",
	[REC_SKIPPED] = "skipped",
};

void rec_emit(struct record *r, FILE *out, uint64_t start_ns)
{
	struct json j;
	struct rusage ru = {0};

	pthread_mutex_lock(&r->lock);
	if (r->emitted++) {
		pthread_mutex_unlock(&r->lock);
		return;
	}
	getrusage(RUSAGE_SELF, &ru);
	json_init(&j, out);
	json_obj_open(&j, NULL);
	json_u64(&j, "schema", RECORD_SCHEMA);
	json_str(&j, "task", r->task);
	json_str(&j, "model", r->model);
	write_values(&j, "params", &r->params);
	json_str(&j, "status", status_names[r->status]);
	json_str(&j, "reason", rec_reason(r));
	write_values(&j, "metrics", &r->metrics);
	json_obj_open(&j, "usage");
	json_u64(&j, "wall_ns", now_ns() - start_ns);
	json_u64(&j, "user_ns", tv_ns(ru.ru_utime));
	json_u64(&j, "sys_ns", tv_ns(ru.ru_stime));
	json_u64(&j, "max_rss_bytes", (uint64_t)ru.ru_maxrss * 1024);
	json_u64(&j, "voluntary_switches", (uint64_t)ru.ru_nvcsw);
	json_u64(&j, "involuntary_switches", (uint64_t)ru.ru_nivcsw);
	json_u64(&j, "minor_faults", (uint64_t)ru.ru_minflt);
	json_u64(&j, "major_faults", (uint64_t)ru.ru_majflt);
	json_obj_close(&j);
	json_arr_open(&j, "limits");
	for (int i = 0; i < r->nlimits; i++) {
		json_obj_open(&j, NULL);
		json_str(&j, "name", r->limits[i].name);
		json_str(&j, "old", r->limits[i].old_value);
		json_str(&j, "new", r->limits[i].new_value);
		json_bool(&j, "restored", r->limits[i].restored);
		json_obj_close(&j);
	}
	json_arr_close(&j);
	json_obj_close(&j);
	fputc('\n', out);
	fflush(out);
	pthread_mutex_unlock(&r->lock);
}
