/* loadgen_out.c: reads loadgen's JSON report with json-c (see loadgen_out.h). */
#include "tasks/loadgen_out.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int bad(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int get(struct json_object *o, const char *key, enum json_type type, struct json_object **v,
	       char *err, size_t len)
{
	if (!json_object_object_get_ex(o, key, v))
		return bad(err, len, "key \"%s\" missing", key);
	if (!json_object_is_type(*v, type))
		return bad(err, len, "key \"%s\": expected %s, got %s", key,
			   json_type_to_name(type), json_type_to_name(json_object_get_type(*v)));
	return 0;
}

static int get_u64(struct json_object *o, const char *key, uint64_t *out, char *err, size_t len)
{
	struct json_object *v;

	if (get(o, key, json_type_int, &v, err, len))
		return -EINVAL;
	if (json_object_get_int64(v) < 0)
		return bad(err, len, "key \"%s\": negative", key);
	*out = json_object_get_uint64(v);
	return 0;
}

/* A number: json-c types 1 as int and 1.5 as double; both are numbers. */
static int get_f64(struct json_object *o, const char *key, double *out, char *err, size_t len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return bad(err, len, "key \"%s\" missing", key);
	if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
		return bad(err, len, "key \"%s\": expected a number, got %s", key,
			   json_type_to_name(json_object_get_type(v)));
	*out = json_object_get_double(v);
	return 0;
}

static int get_str(struct json_object *o, const char *key, char *out, size_t out_len, char *err,
		   size_t len)
{
	struct json_object *v;

	if (get(o, key, json_type_string, &v, err, len))
		return -EINVAL;
	snprintf(out, out_len, "%s", json_object_get_string(v));
	return 0;
}

/* {"n","sum","min","max","p50","p99","buckets":[[index,count],...]}: the
 * counts must add up to n. */
static int get_hist(struct json_object *o, const char *key, struct hist *h, char *err, size_t len)
{
	struct json_object *ho, *buckets;
	uint64_t total = 0, min = 0;
	char sub[200];
	size_t nb;

	hist_init(h);
	if (get(o, key, json_type_object, &ho, err, len))
		return -EINVAL;
	if (get_u64(ho, "n", &h->n, sub, sizeof(sub)) ||
	    get_u64(ho, "sum", &h->sum, sub, sizeof(sub)) ||
	    get_u64(ho, "min", &min, sub, sizeof(sub)) ||
	    get_u64(ho, "max", &h->max, sub, sizeof(sub)) ||
	    get(ho, "buckets", json_type_array, &buckets, sub, sizeof(sub)))
		return bad(err, len, "%s: %s", key, sub);
	if (h->n)
		h->min = min;
	nb = json_object_array_length(buckets);
	for (size_t i = 0; i < nb; i++) {
		struct json_object *pair = json_object_array_get_idx(buckets, i), *b, *c;
		int64_t bi, ci;

		if (!json_object_is_type(pair, json_type_array) ||
		    json_object_array_length(pair) != 2)
			return bad(err, len, "%s: bucket %zu is not an [index, count] pair", key,
				   i);
		b = json_object_array_get_idx(pair, 0);
		c = json_object_array_get_idx(pair, 1);
		if (!json_object_is_type(b, json_type_int) ||
		    !json_object_is_type(c, json_type_int))
			return bad(err, len, "%s: bucket %zu is not two integers", key, i);
		bi = json_object_get_int64(b);
		ci = json_object_get_int64(c);
		if (bi < 0 || bi >= HIST_BUCKETS || ci < 0)
			return bad(err, len, "%s: bucket %zu out of range", key, i);
		h->counts[bi] += (uint64_t)ci;
		total += (uint64_t)ci;
	}
	if (total != h->n)
		return bad(err, len, "%s: buckets hold %" PRIu64 " values, n says %" PRIu64, key,
			   total, h->n);
	return 0;
}

static int parse_object(struct json_object *o, struct lg_out *out, char *err, size_t len)
{
	struct json_object *v;

	if (get_str(o, "status", out->status, sizeof(out->status), err, len))
		return -EINVAL;
	if (strcmp(out->status, "ok") && strcmp(out->status, "failed") &&
	    strcmp(out->status, "skipped"))
		return bad(err, len, "key \"status\": unknown value \"%s\"", out->status);
	/* reason: null when ok, a string otherwise */
	out->reason[0] = '\0';
	if (!json_object_object_get_ex(o, "reason", &v))
		return bad(err, len, "key \"reason\" missing");
	if (v && !json_object_is_type(v, json_type_string))
		return bad(err, len, "key \"reason\": expected a string or null");
	if (v)
		snprintf(out->reason, sizeof(out->reason), "%s", json_object_get_string(v));
	/* open loop only */
	out->offered_rate_met = -1;
	if (json_object_object_get_ex(o, "offered_rate_met", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			return bad(err, len, "key \"offered_rate_met\": expected a boolean");
		out->offered_rate_met = json_object_get_boolean(v) ? 1 : 0;
	}
	if (get_u64(o, "connections", &out->connections, err, len) ||
	    get_u64(o, "message_bytes", &out->message_bytes, err, len) ||
	    get_u64(o, "rate", &out->rate, err, len) ||
	    get_u64(o, "requests", &out->requests, err, len) ||
	    get_u64(o, "warmup_requests", &out->warmup_requests, err, len) ||
	    get_u64(o, "bytes_sent", &out->bytes_sent, err, len) ||
	    get_u64(o, "bytes_received", &out->bytes_received, err, len) ||
	    get_u64(o, "mismatches", &out->mismatches, err, len) ||
	    get_u64(o, "late_starts", &out->late_starts, err, len) ||
	    get_u64(o, "requests_unsent", &out->requests_unsent, err, len) ||
	    get_u64(o, "connect_ns", &out->connect_ns, err, len) ||
	    get_u64(o, "window_ns", &out->window_ns, err, len) ||
	    get_f64(o, "requests_per_s", &out->requests_per_s, err, len) ||
	    get_u64(o, "cpu_ns", &out->cpu_ns, err, len) ||
	    get_u64(o, "cpu_ns_window", &out->cpu_ns_window, err, len) ||
	    get_u64(o, "wall_ns_window", &out->wall_ns_window, err, len) ||
	    get_u64(o, "cpus_usable", &out->cpus_usable, err, len) ||
	    get_f64(o, "cpu_utilization", &out->cpu_utilization, err, len) ||
	    get_u64(o, "runqueue_wait_ns_window", &out->runqueue_wait_ns_window, err, len) ||
	    get_str(o, "ring_setup", out->ring_setup, sizeof(out->ring_setup), err, len) ||
	    get_hist(o, "latency_ns", &out->latency_ns, err, len) ||
	    get_hist(o, "send_lag_ns", &out->send_lag_ns, err, len))
		return -EINVAL;
	return 0;
}

int lg_out_parse(const char *text, struct lg_out *out, char *err, size_t err_len)
{
	struct json_tokener *tok;
	struct json_object *o;
	size_t len = text ? strlen(text) : 0, end;
	int ret;

	if (!len)
		return bad(err, err_len, "no output");
	tok = json_tokener_new();
	if (!tok)
		return bad(err, err_len, "out of memory for the JSON parser");
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (!o) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		ret = bad(err, err_len, "not JSON: %s at byte %zu",
			  e == json_tokener_continue ? "unexpected end"
						     : json_tokener_error_desc(e),
			  json_tokener_get_parse_end(tok));
		json_tokener_free(tok);
		return ret;
	}
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	end += strspn(text + end, " \t\r\n");
	if (end != len)
		ret = bad(err, err_len, "text after the JSON object at byte %zu", end);
	else if (!json_object_is_type(o, json_type_object))
		ret = bad(err, err_len, "expected a JSON object, got %s",
			  json_type_to_name(json_object_get_type(o)));
	else
		ret = parse_object(o, out, err, err_len);
	json_object_put(o);
	return ret;
}
