/* json.h: JSON reading and writing through jansson, with errors that name the source and the
 * key. Callers own the json_t values they receive (json_decref). */
#ifndef ZR_JSON_H
#define ZR_JSON_H

#include <jansson.h>
#include <stdint.h>

/* Parses a whole file; on error returns NULL and zr_errmsg() says "FILE:LINE:COL: reason". */
json_t *zr_json_load_file(const char *path);

/* Parses one buffer (a JSONL line, a safetensors header); `what` names it in errors. */
json_t *zr_json_parse(const char *buf, size_t len, const char *what);

/* Typed member access: return 0 and set *out, or a negative code with a message naming
 * `what` and the key ("task line 12: key 'answer' must be a string"). Missing keys give
 * -ENOENT so callers can apply defaults. */
int zr_json_get_str(const json_t *obj, const char *key, const char *what, const char **out);
int zr_json_get_int(const json_t *obj, const char *key, const char *what, int64_t *out);
int zr_json_get_num(const json_t *obj, const char *key, const char *what, double *out);
int zr_json_get_bool(const json_t *obj, const char *key, const char *what, int *out);

/* Serialises compactly with keys in insertion order (one JSONL line, no newline). Caller frees. */
char *zr_json_dump_line(const json_t *v);

#endif
