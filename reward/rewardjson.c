/* rewardjson.c: JSON tasks, requests and responses for the reward library (rewardjson.h). */
#include "reward/rewardjson.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"

int zr_reward_task_from_json(const json_t *task, zr_reward_task *out, long *numbers) {
  memset(out, 0, sizeof *out);
  if (!json_is_object(task)) return zr_seterr(-EINVAL, "task must be a JSON object");
  const char *kind = NULL;
  int rc = zr_json_get_str(task, "kind", "task", &kind);
  if (rc == -ENOENT) kind = "math";
  else if (rc < 0) return rc;
  if (strcmp(kind, "math") == 0) out->kind = ZR_TASK_MATH;
  else if (strcmp(kind, "exact") == 0) out->kind = ZR_TASK_EXACT;
  else if (strcmp(kind, "countdown") == 0) out->kind = ZR_TASK_COUNTDOWN;
  else if (strcmp(kind, "code") == 0) out->kind = ZR_TASK_CODE;
  else return zr_seterr(-EINVAL, "task: unknown kind '%s' (math, exact, countdown, code)", kind);
  if (out->kind == ZR_TASK_MATH || out->kind == ZR_TASK_EXACT) {
    const json_t *a = json_object_get(task, "answer");
    if (json_is_integer(a) || json_is_real(a)) {
      /* numeric answers are accepted as their JSON text */
      return zr_seterr(-EINVAL, "task: key 'answer' must be a string (write \"%g\")", json_number_value(a));
    }
    rc = zr_json_get_str(task, "answer", "task", &out->answer);
    if (rc < 0) return rc == -ENOENT ? zr_seterr(-EINVAL, "task: %s task needs an 'answer'", kind) : rc;
  } else if (out->kind == ZR_TASK_COUNTDOWN) {
    const json_t *nums = json_object_get(task, "numbers");
    if (!json_is_array(nums) || json_array_size(nums) == 0 || json_array_size(nums) > ZR_TASK_MAX_NUMBERS)
      return zr_seterr(-EINVAL, "task: countdown needs 'numbers', an array of 1..%d integers", ZR_TASK_MAX_NUMBERS);
    size_t i;
    const json_t *v;
    json_array_foreach(nums, i, v) {
      if (!json_is_integer(v)) return zr_seterr(-EINVAL, "task: 'numbers'[%zu] must be an integer", i);
      numbers[i] = (long)json_integer_value(v);
    }
    out->numbers = numbers;
    out->n_numbers = (int)json_array_size(nums);
    int64_t target;
    rc = zr_json_get_int(task, "target", "task", &target);
    if (rc < 0) return rc == -ENOENT ? zr_seterr(-EINVAL, "task: countdown needs a 'target'") : rc;
    out->target = (long)target;
  }
  return 0;
}

json_t *zr_reward_result_to_json(const zr_reward_result *r, const char *id) {
  json_t *o = json_object();
  json_t *comp = json_object();
  if (!o || !comp) {
    json_decref(o);
    json_decref(comp);
    return NULL;
  }
  if (id) json_object_set_new(o, "id", json_string(id));
  json_object_set_new(o, "reward", json_real(r->reward));
  json_object_set_new(o, "correct", json_boolean(r->correct));
  json_object_set_new(o, "status", json_string(zr_verify_status_name(r->status)));
  for (int i = 0; i < r->n_components; i++) {
    const zr_reward_component *c = &r->components[i];
    json_t *cj = json_object();
    json_object_set_new(cj, "value", json_real(c->value));
    json_object_set_new(cj, "weight", json_real(c->weight));
    json_object_set_new(cj, "status", json_string(c->status));
    json_object_set_new(comp, c->name, cj);
  }
  json_object_set_new(o, "components", comp);
  /* detail may hold model text cut at a byte limit: keep it valid UTF-8 */
  json_t *d = json_string(r->detail);
  if (!d) {
    char safe[sizeof r->detail];
    size_t k = 0;
    for (size_t i = 0; r->detail[i] && k + 1 < sizeof safe; i++)
      safe[k++] = (unsigned char)r->detail[i] < 0x80 ? r->detail[i] : '?';
    safe[k] = '\0';
    d = json_string(safe);
  }
  json_object_set_new(o, "detail", d);
  return o;
}

static char *error_line(const char *id, const char *msg, int *ok) {
  if (ok) *ok = 0;
  zr_reward_result r;
  memset(&r, 0, sizeof r);
  r.status = ZR_VERIFY_ERROR;
  snprintf(r.detail, sizeof r.detail, "%s", msg);
  json_t *o = zr_reward_result_to_json(&r, id);
  char *s = o ? zr_json_dump_line(o) : NULL;
  json_decref(o);
  return s;
}

char *zr_reward_score_line(const zr_reward_scorer *s, const char *line, size_t len, int *ok) {
  if (ok) *ok = 1;
  json_t *req = zr_json_parse(line, len, "verify request");
  if (!req) return error_line(NULL, zr_errmsg(), ok);
  char *res = NULL;
  const json_t *task = json_object_get(req, "task");
  const char *id = NULL;
  if (json_is_object(task)) (void)zr_json_get_str(task, "id", "task", &id);
  const json_t *comp = json_object_get(req, "completion");
  if (!json_is_object(req) || !json_is_object(task) || !json_is_string(comp)) {
    res = error_line(id, "a request needs \"task\" (object) and \"completion\" (string)", ok);
    json_decref(req);
    return res;
  }
  long numbers[ZR_TASK_MAX_NUMBERS];
  zr_reward_task t;
  if (zr_reward_task_from_json(task, &t, numbers) < 0) {
    res = error_line(id, zr_errmsg(), ok);
    json_decref(req);
    return res;
  }
  long n_tokens = -1;
  const json_t *nt = json_object_get(req, "completion_tokens");
  if (json_is_integer(nt) && json_integer_value(nt) >= 0) n_tokens = (long)json_integer_value(nt);
  zr_reward_result r;
  zr_reward_score(s, &t, json_string_value(comp), json_string_length(comp), n_tokens, &r);
  json_t *o = zr_reward_result_to_json(&r, id);
  res = o ? zr_json_dump_line(o) : NULL;
  json_decref(o);
  json_decref(req);
  return res;
}
