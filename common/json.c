#include "common/json.h"

#include <errno.h>
#include <stdlib.h>

#include "common/error.h"

json_t *zr_json_load_file(const char *path) {
  json_error_t e;
  json_t *v = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
  if (!v) zr_seterr(-EINVAL, "%s:%d:%d: %s", path, e.line, e.column, e.text);
  return v;
}

json_t *zr_json_parse(const char *buf, size_t len, const char *what) {
  json_error_t e;
  json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
  if (!v) zr_seterr(-EINVAL, "%s: invalid JSON at column %d: %s", what, e.column, e.text);
  return v;
}

static int member(const json_t *obj, const char *key, const char *what, json_t **out) {
  if (!json_is_object(obj)) return zr_seterr(-EINVAL, "%s: expected a JSON object", what);
  *out = json_object_get(obj, key);
  if (!*out) return zr_seterr(-ENOENT, "%s: missing key '%s'", what, key);
  return 0;
}

int zr_json_get_str(const json_t *obj, const char *key, const char *what, const char **out) {
  json_t *v;
  int rc = member(obj, key, what, &v);
  if (rc) return rc;
  if (!json_is_string(v)) return zr_seterr(-EINVAL, "%s: key '%s' must be a string", what, key);
  *out = json_string_value(v);
  return 0;
}

int zr_json_get_int(const json_t *obj, const char *key, const char *what, int64_t *out) {
  json_t *v;
  int rc = member(obj, key, what, &v);
  if (rc) return rc;
  if (!json_is_integer(v)) return zr_seterr(-EINVAL, "%s: key '%s' must be an integer", what, key);
  *out = (int64_t)json_integer_value(v);
  return 0;
}

int zr_json_get_num(const json_t *obj, const char *key, const char *what, double *out) {
  json_t *v;
  int rc = member(obj, key, what, &v);
  if (rc) return rc;
  if (!json_is_number(v)) return zr_seterr(-EINVAL, "%s: key '%s' must be a number", what, key);
  *out = json_number_value(v);
  return 0;
}

int zr_json_get_bool(const json_t *obj, const char *key, const char *what, int *out) {
  json_t *v;
  int rc = member(obj, key, what, &v);
  if (rc) return rc;
  if (!json_is_boolean(v)) return zr_seterr(-EINVAL, "%s: key '%s' must be true or false", what, key);
  *out = json_is_true(v);
  return 0;
}

char *zr_json_dump_line(const json_t *v) {
  return json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
}
