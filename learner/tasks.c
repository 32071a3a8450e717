/* tasks.c: one task <-> JSON, and task sets loaded from JSONL (tasks.h). */
#include "learner/tasks.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "learner/tasks_internal.h"
#include "reward/extract.h"

static const char *const kind_names[] = {"math", "exact", "countdown", "code"};

const char *zr_task_kind_name(zr_task_kind k) {
  if ((int)k < 0 || (size_t)k >= sizeof kind_names / sizeof kind_names[0]) return "?";
  return kind_names[k];
}

int zr_task_kind_parse(const char *s, zr_task_kind *out) {
  static const zr_task_kind kinds[] = {ZR_TASK_MATH, ZR_TASK_EXACT, ZR_TASK_COUNTDOWN, ZR_TASK_CODE};
  for (size_t i = 0; s && i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp(s, zr_task_kind_name(kinds[i])) == 0) {
      *out = kinds[i];
      return 0;
    }
  return zr_seterr(-EINVAL, "unknown kind '%s' (math, exact, countdown, code)", s ? s : "(null)");
}

const char *zr_task_prompt_text(const zr_task *t) {
  if (t->prompt) return t->prompt;
  for (size_t i = t->n_messages; i-- > 0;)
    if (strcmp(t->messages[i].role, "user") == 0) return t->messages[i].content;
  return "";
}

void zr_task_reward_view(const zr_task *t, zr_reward_task *out) {
  memset(out, 0, sizeof *out);
  out->kind = t->kind;
  out->answer = t->answer;
  out->numbers = t->numbers;
  out->n_numbers = t->n_numbers;
  out->target = t->target;
}

char *zr_strndup_(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

static char *dup_or_null(const char *s, int *oom) {
  if (!s) return NULL;
  char *p = zr_strndup_(s, strlen(s));
  if (!p) *oom = 1;
  return p;
}

void zr_task_release(zr_task *t) {
  if (!t) return;
  free(t->id);
  free(t->prompt);
  for (size_t i = 0; i < t->n_messages; i++) {
    free(t->messages[i].role);
    free(t->messages[i].content);
  }
  free(t->messages);
  free(t->answer);
  free(t->tests_json);
  free(t->language);
  free(t->numbers);
  free(t->extractor);
  memset(t, 0, sizeof *t);
}

int zr_task_copy(zr_task *dst, const zr_task *src) {
  zr_task t;
  memset(&t, 0, sizeof t);
  int oom = 0;
  t.kind = src->kind;
  t.target = src->target;
  t.id = dup_or_null(src->id, &oom);
  t.prompt = dup_or_null(src->prompt, &oom);
  t.answer = dup_or_null(src->answer, &oom);
  t.tests_json = dup_or_null(src->tests_json, &oom);
  t.language = dup_or_null(src->language, &oom);
  t.extractor = dup_or_null(src->extractor, &oom);
  if (src->n_messages) {
    t.messages = calloc(src->n_messages, sizeof *t.messages);
    if (!t.messages) oom = 1;
    else {
      t.n_messages = src->n_messages;
      for (size_t i = 0; i < src->n_messages; i++) {
        t.messages[i].role = dup_or_null(src->messages[i].role, &oom);
        t.messages[i].content = dup_or_null(src->messages[i].content, &oom);
      }
    }
  }
  if (src->n_numbers > 0) {
    t.numbers = malloc((size_t)src->n_numbers * sizeof *t.numbers);
    if (!t.numbers) oom = 1;
    else {
      memcpy(t.numbers, src->numbers, (size_t)src->n_numbers * sizeof *t.numbers);
      t.n_numbers = src->n_numbers;
    }
  }
  if (oom) {
    zr_task_release(&t);
    return zr_seterr(-ENOMEM, "out of memory copying a task");
  }
  *dst = t;
  return 0;
}

/* ---- validation ------------------------------------------------------------------------ */

static int check_text(const char *s, size_t max, bool allow_empty, const char *what, const char *field) {
  if (!s) return zr_seterr(-EINVAL, "%s: %s: missing", what, field);
  size_t n = strlen(s);
  if (!allow_empty && n == 0) return zr_seterr(-EINVAL, "%s: %s: must not be empty", what, field);
  if (n > max) return zr_seterr(-EINVAL, "%s: %s: too long (%zu bytes, limit %zu)", what, field, n, (size_t)max);
  return 0;
}

static bool valid_role(const char *r) {
  return strcmp(r, "system") == 0 || strcmp(r, "user") == 0 || strcmp(r, "assistant") == 0 ||
         strcmp(r, "tool") == 0;
}

int zr_task_validate(const zr_task *t, const char *what) {
  int rc;
  if (!t->id) return zr_seterr(-EINVAL, "%s: id: missing", what);
  if ((rc = check_text(t->id, ZR_TASK_MAX_ID, false, what, "id"))) return rc;
  if (!t->prompt && t->n_messages == 0) return zr_seterr(-EINVAL, "%s: prompt: missing (give prompt or messages)", what);
  if (t->prompt && (rc = check_text(t->prompt, ZR_TASK_MAX_PROMPT, false, what, "prompt"))) return rc;
  if (t->n_messages > ZR_TASK_MAX_MESSAGES)
    return zr_seterr(-EINVAL, "%s: messages: too many (%zu, limit %d)", what, t->n_messages, ZR_TASK_MAX_MESSAGES);
  bool has_user = false;
  for (size_t i = 0; i < t->n_messages; i++) {
    char field[48];
    snprintf(field, sizeof field, "messages[%zu].role", i);
    if ((rc = check_text(t->messages[i].role, 32, false, what, field))) return rc;
    if (!valid_role(t->messages[i].role))
      return zr_seterr(-EINVAL, "%s: %s: unknown role '%s' (system, user, assistant, tool)", what, field,
                       t->messages[i].role);
    snprintf(field, sizeof field, "messages[%zu].content", i);
    if ((rc = check_text(t->messages[i].content, ZR_TASK_MAX_PROMPT, true, what, field))) return rc;
    if (strcmp(t->messages[i].role, "user") == 0) has_user = true;
  }
  if (!t->prompt && !has_user) return zr_seterr(-EINVAL, "%s: messages: no user message", what);
  if (t->extractor) {
    zr_extractor ex;
    if (zr_extractor_from_name(t->extractor, &ex) != 0)
      return zr_seterr(-EINVAL, "%s: extractor: unknown extractor '%s' (auto, answer, boxed, gsm8k, answer_is)",
                       what, t->extractor);
  }
  switch (t->kind) {
    case ZR_TASK_MATH:
    case ZR_TASK_EXACT:
      if (!t->answer) return zr_seterr(-EINVAL, "%s: answer: missing (required for kind %s)", what, zr_task_kind_name(t->kind));
      return check_text(t->answer, ZR_TASK_MAX_ANSWER, false, what, "answer");
    case ZR_TASK_CODE:
      if (!t->tests_json) return zr_seterr(-EINVAL, "%s: tests: missing (required for kind code)", what);
      if ((rc = check_text(t->tests_json, ZR_TASK_MAX_TESTS, false, what, "tests"))) return rc;
      if (t->language && (rc = check_text(t->language, 32, false, what, "language"))) return rc;
      return 0;
    case ZR_TASK_COUNTDOWN:
      if (t->n_numbers <= 0 || !t->numbers)
        return zr_seterr(-EINVAL, "%s: numbers: missing (required for kind countdown)", what);
      if (t->n_numbers > ZR_TASK_MAX_NUMBERS)
        return zr_seterr(-EINVAL, "%s: numbers: too many (%d, limit %d)", what, t->n_numbers, ZR_TASK_MAX_NUMBERS);
      for (int i = 0; i < t->n_numbers; i++)
        if (t->numbers[i] < 0 || t->numbers[i] > ZR_TASK_MAX_NUMBER)
          return zr_seterr(-EINVAL, "%s: numbers: %ld out of range [0, %ld]", what, t->numbers[i], ZR_TASK_MAX_NUMBER);
      if (t->target < -ZR_TASK_MAX_NUMBER || t->target > ZR_TASK_MAX_NUMBER)
        return zr_seterr(-EINVAL, "%s: target: %ld out of range", what, t->target);
      return 0;
  }
  return zr_seterr(-EINVAL, "%s: kind: invalid kind %d", what, (int)t->kind);
}

/* ---- JSON -> task ---------------------------------------------------------------------- */

/* A string member (NULL when absent): -EINVAL if not a string or it holds a NUL byte. */
static int get_string(const json_t *obj, const char *key, const char *what, const char *field, size_t max,
                      char **out) {
  json_t *v = json_object_get(obj, key);
  *out = NULL;
  if (!v) return 0;
  if (!json_is_string(v)) return zr_seterr(-EINVAL, "%s: %s: must be a string", what, field);
  size_t n = json_string_length(v);
  const char *s = json_string_value(v);
  if (memchr(s, '\0', n)) return zr_seterr(-EINVAL, "%s: %s: contains a NUL byte", what, field);
  if (n > max) return zr_seterr(-EINVAL, "%s: %s: too long (%zu bytes, limit %zu)", what, field, n, max);
  *out = zr_strndup_(s, n);
  if (!*out) return zr_seterr(-ENOMEM, "%s: %s: out of memory", what, field);
  return 0;
}

static int get_long(const json_t *v, const char *what, const char *field, long *out) {
  if (!json_is_integer(v)) return zr_seterr(-EINVAL, "%s: %s: must be an integer", what, field);
  json_int_t x = json_integer_value(v);
  if (x < -ZR_TASK_MAX_NUMBER || x > ZR_TASK_MAX_NUMBER)
    return zr_seterr(-EINVAL, "%s: %s: %" JSON_INTEGER_FORMAT " out of range", what, field, x);
  *out = (long)x;
  return 0;
}

static int parse_messages(const json_t *arr, const char *what, zr_task *t) {
  if (!json_is_array(arr)) return zr_seterr(-EINVAL, "%s: messages: must be an array", what);
  size_t n = json_array_size(arr);
  if (n == 0) return zr_seterr(-EINVAL, "%s: messages: must not be empty", what);
  if (n > ZR_TASK_MAX_MESSAGES) return zr_seterr(-EINVAL, "%s: messages: too many (%zu, limit %d)", what, n, ZR_TASK_MAX_MESSAGES);
  t->messages = calloc(n, sizeof *t->messages);
  if (!t->messages) return zr_seterr(-ENOMEM, "%s: messages: out of memory", what);
  t->n_messages = n;
  for (size_t i = 0; i < n; i++) {
    json_t *m = json_array_get(arr, i);
    char field[48];
    snprintf(field, sizeof field, "messages[%zu]", i);
    if (!json_is_object(m)) return zr_seterr(-EINVAL, "%s: %s: must be an object {role, content}", what, field);
    int rc;
    snprintf(field, sizeof field, "messages[%zu].role", i);
    if ((rc = get_string(m, "role", what, field, 32, &t->messages[i].role))) return rc;
    if (!t->messages[i].role) return zr_seterr(-EINVAL, "%s: %s: missing", what, field);
    snprintf(field, sizeof field, "messages[%zu].content", i);
    if ((rc = get_string(m, "content", what, field, ZR_TASK_MAX_PROMPT, &t->messages[i].content))) return rc;
    if (!t->messages[i].content) return zr_seterr(-EINVAL, "%s: %s: missing", what, field);
  }
  return 0;
}

static int parse_answer(const json_t *obj, const char *what, zr_task *t) {
  json_t *v = json_object_get(obj, "answer");
  if (!v || json_is_null(v)) return 0;
  if (json_is_string(v)) return get_string(obj, "answer", what, "answer", ZR_TASK_MAX_ANSWER, &t->answer);
  if (json_is_integer(v) || json_is_real(v)) {
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    if (!s) return zr_seterr(-ENOMEM, "%s: answer: out of memory", what);
    t->answer = s;
    return 0;
  }
  return zr_seterr(-EINVAL, "%s: answer: must be a string or a number", what);
}

static int parse_body(const json_t *obj, const char *what, zr_task *t) {
  int rc;
  if (!json_is_object(obj)) return zr_seterr(-EINVAL, "%s: line: expected a JSON object", what);
  if ((rc = get_string(obj, "id", what, "id", ZR_TASK_MAX_ID, &t->id))) return rc;
  if (!t->id) {
    /* tolerate numeric ids (MBPP's task_id style) by writing them as text */
    json_t *v = json_object_get(obj, "id");
    if (json_is_integer(v)) {
      char buf[32];
      snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
      if (!(t->id = zr_strndup_(buf, strlen(buf)))) return zr_seterr(-ENOMEM, "%s: id: out of memory", what);
    } else if (v) {
      return zr_seterr(-EINVAL, "%s: id: must be a string", what);
    } else {
      return zr_seterr(-EINVAL, "%s: id: missing", what);
    }
  }
  char *kind = NULL;
  if ((rc = get_string(obj, "kind", what, "kind", 64, &kind))) return rc;
  if (!kind) return zr_seterr(-EINVAL, "%s: kind: missing (math, exact, countdown, code)", what);
  rc = zr_task_kind_parse(kind, &t->kind);
  if (rc) rc = zr_seterr(-EINVAL, "%s: kind: unknown kind '%s' (math, exact, countdown, code)", what, kind);
  free(kind);
  if (rc) return rc;
  if ((rc = get_string(obj, "prompt", what, "prompt", ZR_TASK_MAX_PROMPT, &t->prompt))) return rc;
  json_t *msgs = json_object_get(obj, "messages");
  if (msgs && !json_is_null(msgs) && (rc = parse_messages(msgs, what, t))) return rc;
  if ((rc = get_string(obj, "extractor", what, "extractor", 64, &t->extractor))) return rc;
  switch (t->kind) {
    case ZR_TASK_MATH:
    case ZR_TASK_EXACT:
      return parse_answer(obj, what, t);
    case ZR_TASK_CODE: {
      json_t *tests = json_object_get(obj, "tests");
      if (tests && !json_is_null(tests)) {
        if (!json_is_object(tests)) return zr_seterr(-EINVAL, "%s: tests: must be an object", what);
        json_t *type = json_object_get(tests, "type");
        if (!json_is_string(type)) return zr_seterr(-EINVAL, "%s: tests: missing string 'type' (stdio, assert)", what);
        t->tests_json = json_dumps(tests, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!t->tests_json) return zr_seterr(-ENOMEM, "%s: tests: out of memory", what);
      }
      if ((rc = get_string(obj, "language", what, "language", 32, &t->language))) return rc;
      if (!t->language && !(t->language = zr_strndup_("python3", 7))) return zr_seterr(-ENOMEM, "%s: out of memory", what);
      return 0;
    }
    case ZR_TASK_COUNTDOWN: {
      json_t *nums = json_object_get(obj, "numbers");
      if (!nums || json_is_null(nums)) return zr_seterr(-EINVAL, "%s: numbers: missing (required for kind countdown)", what);
      if (!json_is_array(nums)) return zr_seterr(-EINVAL, "%s: numbers: must be an array of integers", what);
      size_t n = json_array_size(nums);
      if (n == 0) return zr_seterr(-EINVAL, "%s: numbers: must not be empty", what);
      if (n > ZR_TASK_MAX_NUMBERS) return zr_seterr(-EINVAL, "%s: numbers: too many (%zu, limit %d)", what, n, ZR_TASK_MAX_NUMBERS);
      t->numbers = calloc(n, sizeof *t->numbers);
      if (!t->numbers) return zr_seterr(-ENOMEM, "%s: numbers: out of memory", what);
      for (size_t i = 0; i < n; i++) {
        char field[32];
        snprintf(field, sizeof field, "numbers[%zu]", i);
        if ((rc = get_long(json_array_get(nums, i), what, field, &t->numbers[i]))) return rc;
      }
      t->n_numbers = (int)n;
      json_t *tg = json_object_get(obj, "target");
      if (!tg || json_is_null(tg)) return zr_seterr(-EINVAL, "%s: target: missing (required for kind countdown)", what);
      return get_long(tg, what, "target", &t->target);
    }
  }
  return 0;
}

int zr_task_from_json(const json_t *obj, const char *what, zr_task *out) {
  zr_task t;
  memset(&t, 0, sizeof t);
  int rc = parse_body(obj, what, &t);
  if (rc == 0) rc = zr_task_validate(&t, what);
  if (rc) {
    zr_task_release(&t);
    return rc;
  }
  *out = t;
  return 0;
}

/* ---- task -> JSON ---------------------------------------------------------------------- */

int zr_task_to_json(const zr_task *t, char **line) {
  *line = NULL;
  json_t *o = json_object();
  int bad = !o;
  if (!bad) {
    bad |= json_object_set_new(o, "id", json_string(t->id ? t->id : ""));
    if (t->prompt) bad |= json_object_set_new(o, "prompt", json_string(t->prompt));
    if (t->n_messages) {
      json_t *arr = json_array();
      for (size_t i = 0; arr && i < t->n_messages; i++)
        bad |= json_array_append_new(arr, json_pack("{s:s, s:s}", "role", t->messages[i].role, "content",
                                                     t->messages[i].content));
      bad |= json_object_set_new(o, "messages", arr);
    }
    bad |= json_object_set_new(o, "kind", json_string(zr_task_kind_name(t->kind)));
    if (t->answer) bad |= json_object_set_new(o, "answer", json_string(t->answer));
    if (t->language) bad |= json_object_set_new(o, "language", json_string(t->language));
    if (t->tests_json) {
      json_t *tests = zr_json_parse(t->tests_json, strlen(t->tests_json), "tests");
      if (!tests) {
        json_decref(o);
        return -EINVAL;
      }
      bad |= json_object_set_new(o, "tests", tests);
    }
    if (t->n_numbers > 0) {
      json_t *arr = json_array();
      for (int i = 0; arr && i < t->n_numbers; i++) bad |= json_array_append_new(arr, json_integer(t->numbers[i]));
      bad |= json_object_set_new(o, "numbers", arr);
      bad |= json_object_set_new(o, "target", json_integer(t->target));
    }
    if (t->extractor) bad |= json_object_set_new(o, "extractor", json_string(t->extractor));
  }
  if (!bad) *line = zr_json_dump_line(o);
  json_decref(o);
  if (bad || !*line) return zr_seterr(-ENOMEM, "task '%s': cannot serialise (out of memory or invalid UTF-8)", t->id ? t->id : "");
  return 0;
}

/* ---- task sets ------------------------------------------------------------------------- */

struct zr_taskset {
  zr_task *tasks;
  size_t n, cap;
  size_t *slots; /* open addressing over ids: index + 1, 0 = empty */
  size_t nslots; /* power of two, > 2n */
};

uint64_t zr_hash_bytes_(const void *p, size_t n, uint64_t key) {
  const unsigned char *s = p;
  uint64_t h = 1469598103934665603ull ^ key;
  for (size_t i = 0; i < n; i++) {
    h ^= s[i];
    h *= 1099511628211ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

static size_t *slot_for(const zr_taskset *s, const char *id) {
  size_t mask = s->nslots - 1;
  size_t i = (size_t)zr_hash_bytes_(id, strlen(id), 0) & mask;
  for (;;) {
    size_t v = s->slots[i];
    if (v == 0 || strcmp(s->tasks[v - 1].id, id) == 0) return &s->slots[i];
    i = (i + 1) & mask;
  }
}

static int rehash(zr_taskset *s, size_t nslots) {
  size_t *slots = calloc(nslots, sizeof *slots);
  if (!slots) return zr_seterr(-ENOMEM, "task set: out of memory");
  free(s->slots);
  s->slots = slots;
  s->nslots = nslots;
  for (size_t k = 0; k < s->n; k++) *slot_for(s, s->tasks[k].id) = k + 1;
  return 0;
}

int zr_taskset_new(zr_taskset **out) {
  *out = NULL;
  zr_taskset *s = calloc(1, sizeof *s);
  if (!s) return zr_seterr(-ENOMEM, "task set: out of memory");
  if (rehash(s, 16)) {
    free(s);
    return -ENOMEM;
  }
  *out = s;
  return 0;
}

size_t zr_taskset_count(const zr_taskset *s) { return s ? s->n : 0; }

const zr_task *zr_taskset_get(const zr_taskset *s, size_t i) {
  ZR_ASSERT(s && i < s->n);
  return &s->tasks[i];
}

long zr_taskset_find(const zr_taskset *s, const char *id) {
  size_t v = *slot_for(s, id);
  return v ? (long)(v - 1) : -1;
}

/* Takes ownership of *t (moves it in) on success. */
static int taskset_take(zr_taskset *s, zr_task *t, const char *what) {
  size_t *slot = slot_for(s, t->id);
  if (*slot) return zr_seterr(-EEXIST, "%s: id: duplicate id '%s' (first seen as task %zu)", what, t->id, *slot);
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    zr_task *p = realloc(s->tasks, cap * sizeof *p);
    if (!p) return zr_seterr(-ENOMEM, "%s: out of memory", what);
    s->tasks = p;
    s->cap = cap;
  }
  s->tasks[s->n] = *t;
  s->n++;
  *slot = s->n;
  if (s->n * 2 >= s->nslots && rehash(s, s->nslots * 2)) {
    s->n--;
    rehash(s, s->nslots); /* keep the table consistent; cannot grow */
    return -ENOMEM;
  }
  memset(t, 0, sizeof *t);
  return 0;
}

int zr_taskset_add(zr_taskset *s, const zr_task *t) {
  char what[ZR_TASK_MAX_ID + 16];
  snprintf(what, sizeof what, "task '%s'", t->id ? t->id : "");
  int rc = zr_task_validate(t, what);
  if (rc) return rc;
  zr_task c;
  if ((rc = zr_task_copy(&c, t))) return rc;
  if ((rc = taskset_take(s, &c, what))) zr_task_release(&c);
  return rc;
}

void zr_taskset_free(zr_taskset **ps) {
  if (!ps || !*ps) return;
  zr_taskset *s = *ps;
  for (size_t i = 0; i < s->n; i++) zr_task_release(&s->tasks[i]);
  free(s->tasks);
  free(s->slots);
  free(s);
  *ps = NULL;
}

static int task_line(const char *line, size_t len, long lineno, const char *what, void *ctx) {
  zr_taskset *s = ctx;
  char where[1200];
  snprintf(where, sizeof where, "%s:%ld", what, lineno);
  zr_clearerr();
  json_error_t e;
  json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &e);
  if (!obj)
    return zr_seterr(-EINVAL, "%s: json: invalid JSON at column %d: %s", where, e.column, e.text);
  zr_task t;
  int rc = zr_task_from_json(obj, where, &t);
  json_decref(obj);
  if (rc) return rc;
  rc = taskset_take(s, &t, where);
  if (rc) zr_task_release(&t);
  return rc == -EEXIST ? -EINVAL : rc;
}

int zr_taskset_parse(zr_taskset **out, const char *buf, size_t len, const char *what) {
  *out = NULL;
  zr_taskset *s;
  int rc = zr_taskset_new(&s);
  if (rc) return rc;
  rc = zr_jsonl_each_(buf, len, what, task_line, s);
  if (rc) {
    zr_taskset_free(&s);
    return rc;
  }
  *out = s;
  return 0;
}

int zr_taskset_load(zr_taskset **out, const char *path) {
  *out = NULL;
  char *buf;
  size_t len;
  int rc = zr_read_all_(path, &buf, &len);
  if (rc) return rc;
  rc = zr_taskset_parse(out, buf, len, path);
  free(buf);
  return rc;
}
