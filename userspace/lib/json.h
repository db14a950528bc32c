/* json.h: one small streaming JSON writer, with escaping (tested in
 * tests/test_json.c). A key is given for members of an object and NULL for
 * array elements and the top level. Non-finite doubles are written as null.
 */
#ifndef SCHEDLAB_JSON_H
#define SCHEDLAB_JSON_H

#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json {
	FILE *out;
	int depth;
	unsigned char has_items[JSON_MAX_DEPTH];
};

void json_init(struct json *j, FILE *out);
void json_obj_open(struct json *j, const char *key);
void json_obj_close(struct json *j);
void json_arr_open(struct json *j, const char *key);
void json_arr_close(struct json *j);
void json_str(struct json *j, const char *key, const char *v); /* NULL -> null */
void json_u64(struct json *j, const char *key, uint64_t v);
void json_i64(struct json *j, const char *key, int64_t v);
void json_f64(struct json *j, const char *key, double v);
void json_bool(struct json *j, const char *key, int v);
void json_null(struct json *j, const char *key);
/* Writes s as a quoted, escaped JSON string. */
void json_write_string(FILE *out, const char *s);

#endif
