/* importers.c: raw dataset records -> task objects (importers.h). */
#include "reward/importers.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "reward/extract.h"

/* ---- small helpers ------------------------------------------------------- */

/* a required string field */
static int need_str(const json_t *rec, const char *key, const char **out) {
  const json_t *v = json_object_get(rec, key);
  if (!v) return zr_seterr(-EINVAL, "field '%s': missing", key);
  if (!json_is_string(v)) return zr_seterr(-EINVAL, "field '%s': must be a string", key);
  *out = json_string_value(v);
  return 0;
}

/* the first of keys that is present (must then be a string); error naming them all if none */
static int need_str_of(const json_t *rec, const char *k1, const char *k2, const char **out) {
  if (json_object_get(rec, k1)) return need_str(rec, k1, out);
  if (json_object_get(rec, k2)) return need_str(rec, k2, out);
  return zr_seterr(-EINVAL, "field '%s' (or '%s'): missing", k1, k2);
}

static int all_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s)) return 0;
  return 1;
}

/* the task id from the record's own id field (string or integer), or FORMAT-N */
static int make_id(const json_t *rec, const char *key, const char *fmt, long n, json_t **out) {
  const json_t *v = key ? json_object_get(rec, key) : NULL;
  char buf[64];
  if (!v) {
    snprintf(buf, sizeof buf, "%s-%ld", fmt, n);
    *out = json_string(buf);
  } else if (json_is_integer(v)) {
    snprintf(buf, sizeof buf, "%s-%lld", fmt, (long long)json_integer_value(v));
    *out = json_string(buf);
  } else if (json_is_string(v) && json_string_length(v) > 0) {
    const char *s = json_string_value(v);
    if (all_digits(s) && strlen(s) < 40) {
      snprintf(buf, sizeof buf, "%s-%s", fmt, s);
      *out = json_string(buf);
    } else {
      *out = json_string(s);
    }
  } else {
    return zr_seterr(-EINVAL, "field '%s': must be a non-empty string or an integer", key);
  }
  return *out ? 0 : zr_seterr(-ENOMEM, "out of memory");
}

static json_t *task_new(json_t *id, const char *prompt, const char *kind) {
  json_t *t = json_object();
  if (!t) {
    json_decref(id);
    return NULL;
  }
  json_object_set_new(t, "id", id);
  json_object_set_new(t, "prompt", json_string(prompt));
  json_object_set_new(t, "kind", json_string(kind));
  return t;
}

/* a growing string */
typedef struct {
  char *s;
  size_t len, cap;
  int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *ns = realloc(b->s, cap);
    if (!ns) {
      b->oom = 1;
      return;
    }
    b->s = ns;
    b->cap = cap;
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* ---- math-like formats --------------------------------------------------- */

static int imp_gsm8k(const json_t *rec, long n, json_t **task) {
  const char *q = NULL, *a = NULL;
  int rc;
  if ((rc = need_str(rec, "question", &q)) < 0 || (rc = need_str(rec, "answer", &a)) < 0) return rc;
  const char *mark = NULL;
  for (const char *p = a; (p = strstr(p, "#### ")); p++) mark = p;
  if (!mark) return zr_seterr(-EINVAL, "field 'answer': no '#### ' final answer");
  const char *s = mark + 5, *e = s + strcspn(s, "\r\n");
  char *ans = malloc((size_t)(e - s) + 1);
  if (!ans) return zr_seterr(-ENOMEM, "out of memory");
  size_t k = 0;
  for (const char *p = s; p < e; p++)
    if (*p != ',') ans[k++] = *p;
  while (k > 0 && isspace((unsigned char)ans[k - 1])) k--;
  ans[k] = '\0';
  size_t lead = strspn(ans, " \t");
  if (!ans[lead]) {
    free(ans);
    return zr_seterr(-EINVAL, "field 'answer': nothing after '#### '");
  }
  json_t *id;
  if ((rc = make_id(rec, NULL, "gsm8k", n, &id)) < 0) {
    free(ans);
    return rc;
  }
  json_t *t = task_new(id, q, "math");
  if (t) json_object_set_new(t, "answer", json_string(ans + lead));
  free(ans);
  *task = t;
  return t ? 0 : zr_seterr(-ENOMEM, "out of memory");
}

/* an answer field: a non-empty string, or an integer (its digits); 1 when set, 0 absent */
static int answer_field(const json_t *rec, char **out) {
  const json_t *v = json_object_get(rec, "answer");
  *out = NULL;
  if (!v || json_is_null(v)) return 0;
  if (json_is_integer(v)) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    *out = strdup(buf);
  } else if (json_is_string(v)) {
    const char *s = json_string_value(v);
    while (isspace((unsigned char)*s)) s++;
    size_t l = strlen(s);
    while (l > 0 && isspace((unsigned char)s[l - 1])) l--;
    if (l == 0) return zr_seterr(-EINVAL, "field 'answer': empty");
    *out = strndup(s, l);
  } else {
    return zr_seterr(-EINVAL, "field 'answer': must be a string or an integer");
  }
  return *out ? 1 : zr_seterr(-ENOMEM, "out of memory");
}

static int imp_math(const json_t *rec, long n, json_t **task) {
  const char *prob = NULL;
  int rc;
  if ((rc = need_str(rec, "problem", &prob)) < 0) return rc;
  char *ans = NULL;
  if ((rc = answer_field(rec, &ans)) < 0) return rc;
  if (rc == 0) {
    const json_t *sol = json_object_get(rec, "solution");
    if (!sol) return zr_seterr(-EINVAL, "field 'answer': missing, and there is no 'solution' to take it from");
    if (!json_is_string(sol)) return zr_seterr(-EINVAL, "field 'solution': must be a string");
    zr_span sp;
    if (zr_extract_last_boxed(json_string_value(sol), json_string_length(sol), &sp) != 1 || sp.len == 0)
      return zr_seterr(-EINVAL, "field 'answer': missing, and 'solution' has no \\boxed{}");
    ans = strndup(json_string_value(sol) + sp.start, sp.len);
    if (!ans) return zr_seterr(-ENOMEM, "out of memory");
  }
  json_t *id;
  if ((rc = make_id(rec, json_object_get(rec, "unique_id") ? "unique_id" : NULL, "math", n, &id)) < 0) {
    free(ans);
    return rc;
  }
  json_t *t = task_new(id, prob, "math");
  if (!t) {
    free(ans);
    return zr_seterr(-ENOMEM, "out of memory");
  }
  json_object_set_new(t, "answer", json_string(ans));
  free(ans);
  const json_t *subj = json_object_get(rec, "subject");
  const char *subj_key = "subject";
  if (!subj) {
    subj = json_object_get(rec, "type"); /* Hendrycks MATH names it "type" */
    subj_key = "type";
  }
  if (subj && !json_is_string(subj)) {
    json_decref(t);
    return zr_seterr(-EINVAL, "field '%s': must be a string", subj_key);
  }
  if (subj) json_object_set_new(t, "subject", json_string(json_string_value(subj)));
  const json_t *level = json_object_get(rec, "level");
  if (level && !json_is_string(level) && !json_is_integer(level)) {
    json_decref(t);
    return zr_seterr(-EINVAL, "field 'level': must be a string or an integer");
  }
  if (level) json_object_set_new(t, "level", json_deep_copy(level));
  *task = t;
  return 0;
}

static int imp_aime(const json_t *rec, long n, json_t **task) {
  const char *prob = NULL;
  int rc;
  if ((rc = need_str_of(rec, "problem", "question", &prob)) < 0) return rc;
  char *ans = NULL;
  if ((rc = answer_field(rec, &ans)) < 0) return rc;
  if (rc == 0) return zr_seterr(-EINVAL, "field 'answer': missing");
  json_t *id;
  if ((rc = make_id(rec, json_object_get(rec, "id") ? "id" : NULL, "aime", n, &id)) < 0) {
    free(ans);
    return rc;
  }
  json_t *t = task_new(id, prob, "math");
  if (t) json_object_set_new(t, "answer", json_string(ans));
  free(ans);
  *task = t;
  return t ? 0 : zr_seterr(-ENOMEM, "out of memory");
}

/* ---- code formats -------------------------------------------------------- */

static json_t *code_task(json_t *id, const char *prompt, const char *language, json_t *tests) {
  json_t *t = task_new(id, prompt, "code");
  if (!t) {
    json_decref(tests);
    return NULL;
  }
  json_object_set_new(t, "language", json_string(language));
  json_object_set_new(t, "tests", tests);
  return t;
}

static json_t *assert_tests(const char *code, const char *entry) {
  json_t *t = json_object();
  if (!t) return NULL;
  json_object_set_new(t, "type", json_string("assert"));
  json_object_set_new(t, "code", json_string(code));
  json_object_set_new(t, "entry_point", json_string(entry));
  return t;
}

static int imp_humaneval(const json_t *rec, long n, json_t **task) {
  const char *prompt = NULL, *test = NULL, *entry = NULL;
  int rc;
  if ((rc = need_str(rec, "prompt", &prompt)) < 0 || (rc = need_str(rec, "test", &test)) < 0 ||
      (rc = need_str(rec, "entry_point", &entry)) < 0)
    return rc;
  if (!*entry) return zr_seterr(-EINVAL, "field 'entry_point': empty");
  if (!strstr(test, "def check(")) return zr_seterr(-EINVAL, "field 'test': no 'def check(' function");
  json_t *id;
  if ((rc = make_id(rec, json_object_get(rec, "task_id") ? "task_id" : NULL, "humaneval", n, &id)) < 0) return rc;
  sbuf b = {0};
  sb_puts(&b, prompt);
  sb_puts(&b, "\n");
  sb_puts(&b, test);
  if (b.oom) {
    free(b.s);
    json_decref(id);
    return zr_seterr(-ENOMEM, "out of memory");
  }
  json_t *t = code_task(id, prompt, "python3", assert_tests(b.s, entry));
  free(b.s);
  *task = t;
  return t ? 0 : zr_seterr(-ENOMEM, "out of memory");
}

static int is_ident_start(int c) { return c == '_' || isalpha(c); }
static int is_ident(int c) { return c == '_' || isalnum(c); }

static int in_list(const char *const *list, const char *s, size_t n) {
  for (int i = 0; list[i]; i++)
    if (strlen(list[i]) == n && memcmp(list[i], s, n) == 0) return 1;
  return 0;
}

static const char *const py_keywords[] = {"assert", "not", "and", "or", "in", "is", "lambda", "if", "else", "for", NULL};
static const char *const py_builtins[] = {"abs",  "all",   "any",  "bool",     "dict",  "float",  "frozenset",
                                          "int",  "isinstance", "len", "list", "map",   "max",    "min",
                                          "print", "range", "repr", "reversed", "round", "set",    "sorted",
                                          "str",  "sum",   "tuple", "type",    "zip",   "filter", "enumerate",
                                          NULL};

/* 1 when code has "def NAME(" */
static int defines(const char *code, const char *name, size_t n) {
  if (!code) return 0;
  for (const char *p = code; (p = strstr(p, "def ")); p += 4) {
    if (p != code && !isspace((unsigned char)p[-1])) continue;
    const char *s = p + 4;
    while (*s == ' ') s++;
    if (strncmp(s, name, n) == 0 && !is_ident((unsigned char)s[n])) {
      const char *e = s + n;
      while (*e == ' ') e++;
      if (*e == '(') return 1;
    }
  }
  return 0;
}

/* The function the assert calls: a plain (not attribute) call outside string literals,
 * preferring one that code defines, then a non-builtin, then the first. 0 or -EINVAL. */
static int mbpp_entry(const char *assert_line, const char *code, char *out, size_t cap) {
  const char *cand[32];
  size_t len[32];
  int nc = 0;
  for (const char *p = assert_line; *p && nc < 32;) {
    if (*p == '\'' || *p == '"') { /* skip a string literal (triple quotes too) */
      char q = *p;
      int triple = p[1] == q && p[2] == q;
      p += triple ? 3 : 1;
      while (*p) {
        if (*p == '\\' && p[1]) {
          p += 2;
        } else if (*p == q && (!triple || (p[1] == q && p[2] == q))) {
          p += triple ? 3 : 1;
          break;
        } else {
          p++;
        }
      }
      continue;
    }
    if (is_ident_start((unsigned char)*p) && (p == assert_line || !is_ident((unsigned char)p[-1]))) {
      const char *s = p;
      while (is_ident((unsigned char)*p)) p++;
      const char *back = s;
      while (back > assert_line && back[-1] == ' ') back--;
      const char *e = p;
      while (*e == ' ') e++;
      if (*e == '(' && !(back > assert_line && back[-1] == '.') && !in_list(py_keywords, s, (size_t)(p - s))) {
        cand[nc] = s;
        len[nc++] = (size_t)(p - s);
      }
      continue;
    }
    p++;
  }
  int pick = -1;
  for (int i = 0; i < nc && pick < 0; i++)
    if (defines(code, cand[i], len[i])) pick = i;
  for (int i = 0; i < nc && pick < 0; i++)
    if (!in_list(py_builtins, cand[i], len[i])) pick = i;
  if (pick < 0 && nc > 0) pick = 0; /* only builtin names: MBPP/126 names its function `sum` */
  if (pick < 0) return zr_seterr(-EINVAL, "field 'test_list': the first assert calls no function");
  if (len[pick] + 1 > cap) return zr_seterr(-EINVAL, "field 'test_list': function name too long");
  memcpy(out, cand[pick], len[pick]);
  out[len[pick]] = '\0';
  return 0;
}

static int imp_mbpp(const json_t *rec, long n, json_t **task) {
  const char *text = NULL;
  int rc;
  if ((rc = need_str_of(rec, "prompt", "text", &text)) < 0) return rc;
  const json_t *list = json_object_get(rec, "test_list");
  if (!list) return zr_seterr(-EINVAL, "field 'test_list': missing");
  if (!json_is_array(list) || json_array_size(list) == 0)
    return zr_seterr(-EINVAL, "field 'test_list': must be a non-empty array of strings");
  size_t i;
  const json_t *v;
  json_array_foreach(list, i, v) {
    if (!json_is_string(v)) return zr_seterr(-EINVAL, "field 'test_list': item %zu must be a string", i);
  }
  const json_t *code = json_object_get(rec, "code");
  if (code && !json_is_string(code)) return zr_seterr(-EINVAL, "field 'code': must be a string");
  sbuf tc = {0}, pr = {0};
  const json_t *imports = json_object_get(rec, "test_imports");
  const json_t *setup = json_object_get(rec, "test_setup_code");
  if (imports) {
    if (!json_is_array(imports)) return zr_seterr(-EINVAL, "field 'test_imports': must be an array of strings");
    json_array_foreach(imports, i, v) {
      if (!json_is_string(v)) {
        free(tc.s);
        return zr_seterr(-EINVAL, "field 'test_imports': item %zu must be a string", i);
      }
      sb_puts(&tc, json_string_value(v));
      sb_puts(&tc, "\n");
    }
  }
  if (setup && !json_is_null(setup)) {
    if (!json_is_string(setup)) {
      free(tc.s);
      return zr_seterr(-EINVAL, "field 'test_setup_code': must be a string");
    }
    if (json_string_length(setup) > 0) {
      sb_puts(&tc, json_string_value(setup));
      sb_puts(&tc, "\n");
    }
  }
  sb_puts(&pr, text);
  sb_puts(&pr, "\nYour code should pass these tests:\n\n");
  json_array_foreach(list, i, v) {
    sb_puts(&tc, json_string_value(v));
    sb_puts(&tc, "\n");
    sb_puts(&pr, json_string_value(v));
    sb_puts(&pr, "\n");
  }
  char entry[128];
  if ((rc = mbpp_entry(json_string_value(json_array_get(list, 0)), code ? json_string_value(code) : NULL, entry,
                       sizeof entry)) < 0) {
    free(tc.s);
    free(pr.s);
    return rc;
  }
  json_t *id = NULL;
  if (tc.oom || pr.oom) rc = zr_seterr(-ENOMEM, "out of memory");
  else rc = make_id(rec, json_object_get(rec, "task_id") ? "task_id" : NULL, "mbpp", n, &id);
  json_t *t = rc < 0 ? NULL : code_task(id, pr.s, "python3", assert_tests(tc.s, entry));
  free(tc.s);
  free(pr.s);
  if (rc < 0) return rc;
  *task = t;
  return t ? 0 : zr_seterr(-ENOMEM, "out of memory");
}

/* a value that may be JSON text inside a string (SandboxFusion's "labels" and "test"); new ref */
static json_t *maybe_parsed(const json_t *v, const char *key, int *bad) {
  *bad = 0;
  if (!v) return NULL;
  if (json_is_string(v)) {
    json_error_t e;
    json_t *p = json_loadb(json_string_value(v), json_string_length(v), 0, &e);
    if (!p) {
      *bad = 1;
      zr_seterr(-EINVAL, "field '%s': invalid JSON in the string at column %d: %s", key, e.column, e.text);
    }
    return p;
  }
  return json_incref((json_t *)v);
}

static int add_case(json_t *cases, const char *in, const char *out) {
  json_t *c = json_object();
  if (!c) return -ENOMEM;
  json_object_set_new(c, "input", json_string(in));
  json_object_set_new(c, "output", json_string(out));
  return json_array_append_new(cases, c) == 0 ? 0 : -ENOMEM;
}

/* SandboxFusion: [{"input": {"stdin": s} | s, "output": {"stdout": s} | s}, ...] */
static int cases_from_list(const json_t *list, json_t *cases) {
  if (!json_is_array(list)) return zr_seterr(-EINVAL, "field 'test': must be a list of cases");
  size_t i;
  const json_t *c;
  json_array_foreach(list, i, c) {
    const json_t *in = json_object_get(c, "input"), *out = json_object_get(c, "output");
    if (json_is_object(in)) in = json_object_get(in, "stdin");
    if (json_is_object(out)) out = json_object_get(out, "stdout");
    if (!json_is_string(in) || !json_is_string(out))
      return zr_seterr(-EINVAL, "field 'test': case %zu needs string input(.stdin) and output(.stdout)", i);
    if (add_case(cases, json_string_value(in), json_string_value(out)) < 0) return zr_seterr(-ENOMEM, "out of memory");
  }
  return 0;
}

/* CodeContests: {"input": [...], "output": [...]} */
static int cases_from_set(const json_t *set, const char *key, json_t *cases) {
  const json_t *in = json_object_get(set, "input"), *out = json_object_get(set, "output");
  if (!json_is_array(in) || !json_is_array(out) || json_array_size(in) != json_array_size(out))
    return zr_seterr(-EINVAL, "field '%s': needs arrays 'input' and 'output' of the same length", key);
  for (size_t i = 0; i < json_array_size(in); i++) {
    const json_t *a = json_array_get(in, i), *b = json_array_get(out, i);
    if (!json_is_string(a) || !json_is_string(b))
      return zr_seterr(-EINVAL, "field '%s': case %zu: input and output must be strings", key, i);
    if (add_case(cases, json_string_value(a), json_string_value(b)) < 0) return zr_seterr(-ENOMEM, "out of memory");
  }
  return 0;
}

static int imp_stdio(const json_t *rec, long n, json_t **task) {
  const char *prompt = NULL;
  int rc;
  const char *pkey = json_object_get(rec, "content") ? "content" : json_object_get(rec, "description") ? "description" : "prompt";
  if (!json_object_get(rec, pkey)) return zr_seterr(-EINVAL, "field 'content' (or 'description'): missing");
  if ((rc = need_str(rec, pkey, &prompt)) < 0) return rc;
  const char *language = "python3";
  const json_t *lang = json_object_get(rec, "language");
  if (lang && !json_is_string(lang)) return zr_seterr(-EINVAL, "field 'language': must be a string");
  if (lang && json_string_length(lang) > 0) language = json_string_value(lang);
  json_t *cases = json_array();
  if (!cases) return zr_seterr(-ENOMEM, "out of memory");
  int bad = 0;
  json_t *list = maybe_parsed(json_object_get(rec, "test"), "test", &bad);
  rc = bad ? -EINVAL : 0;
  if (list) rc = cases_from_list(list, cases);
  json_decref(list);
  static const char *const sets[] = {"public_tests", "private_tests", "generated_tests"};
  for (int k = 0; k < 3 && rc == 0; k++) {
    const json_t *s = json_object_get(rec, sets[k]);
    if (s && !json_is_null(s)) rc = cases_from_set(s, sets[k], cases);
  }
  if (rc == 0 && json_array_size(cases) == 0)
    rc = zr_seterr(-EINVAL, "field 'test' (or 'public_tests', 'private_tests', 'generated_tests'): no test cases");
  json_t *labels = rc == 0 ? maybe_parsed(json_object_get(rec, "labels"), "labels", &bad) : NULL;
  if (rc == 0 && bad) rc = -EINVAL;
  if (rc == 0 && labels && !json_is_object(labels)) rc = zr_seterr(-EINVAL, "field 'labels': must be an object");
  json_t *id = NULL;
  if (rc == 0) {
    const char *idkey = json_object_get(rec, "id") ? "id" : json_object_get(rec, "name") ? "name" : NULL;
    rc = make_id(rec, idkey, "stdio", n, &id);
  }
  if (rc < 0) {
    json_decref(cases);
    json_decref(labels);
    return rc;
  }
  json_t *tests = json_object();
  if (tests) {
    json_object_set_new(tests, "type", json_string("stdio"));
    json_object_set_new(tests, "cases", cases);
  } else {
    json_decref(cases);
  }
  json_t *t = tests ? code_task(id, prompt, language, tests) : NULL;
  if (!tests) json_decref(id);
  static const char *const extras[] = {"name", "difficulty", "source"};
  for (int k = 0; k < 3 && t; k++) {
    const json_t *v = json_object_get(labels, extras[k]);
    if (!v) v = json_object_get(rec, extras[k]);
    if (json_is_string(v) || json_is_integer(v)) json_object_set_new(t, extras[k], json_deep_copy(v));
  }
  json_decref(labels);
  *task = t;
  return t ? 0 : zr_seterr(-ENOMEM, "out of memory");
}

/* ---- table and drivers --------------------------------------------------- */

static const zr_importer importers[] = {
    {"gsm8k", NULL, "GSM8K {question, answer}: math, the answer after '#### '", imp_gsm8k},
    {"math", "math500", "MATH / MATH-500 {problem, solution, answer?}: math, answer or last \\boxed{}", imp_math},
    {"aime", "aime2024", "AIME {id, problem, answer}: math", imp_aime},
    {"humaneval", NULL, "HumanEval {task_id, prompt, test, entry_point}: code, assert tests", imp_humaneval},
    {"mbpp", NULL, "MBPP (sanitized or full) {task_id, prompt|text, test_list}: code, assert tests", imp_mbpp},
    {"stdio", "codecontests", "stdin/stdout problems (CodeContests, SandboxFusion sample): code, stdio tests",
     imp_stdio},
};

const zr_importer *zr_importers(size_t *n) {
  *n = sizeof importers / sizeof importers[0];
  return importers;
}

const zr_importer *zr_importer_find(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; i < sizeof importers / sizeof importers[0]; i++)
    if (strcmp(importers[i].name, name) == 0 || (importers[i].alias && strcmp(importers[i].alias, name) == 0))
      return &importers[i];
  return NULL;
}

int zr_import_record(const zr_importer *imp, const json_t *rec, long n, json_t **task) {
  *task = NULL;
  if (!json_is_object(rec)) return zr_seterr(-EINVAL, "the record must be a JSON object");
  return imp->convert(rec, n, task);
}

/* converts rec and writes it; on error the message gets "PATH:WHERE: FORMAT: " in front */
static int emit(const zr_importer *imp, const json_t *rec, long n, const char *path, const char *where, FILE *out) {
  json_t *t = NULL;
  int rc = zr_import_record(imp, rec, n, &t);
  if (rc < 0) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", zr_errmsg());
    return zr_seterr(rc, "%s:%s%ld: %s: %s", path, where, n, imp->name, msg);
  }
  char *line = zr_json_dump_line(t);
  json_decref(t);
  if (!line) return zr_seterr(-ENOMEM, "%s:%s%ld: out of memory", path, where, n);
  int ok = fputs(line, out) >= 0 && fputc('\n', out) != EOF;
  free(line);
  return ok ? 0 : zr_seterr(-EIO, "cannot write the output: %s", strerror(errno));
}

int zr_import_file(const zr_importer *imp, const char *path, FILE *out, long *n_out) {
  long written = 0;
  if (n_out) *n_out = 0;
  int is_stdin = strcmp(path, "-") == 0;
  FILE *f = is_stdin ? stdin : fopen(path, "r");
  if (!f) return zr_seterr(-ENOENT, "cannot open %s: %s", path, strerror(errno));
  const char *name = is_stdin ? "(stdin)" : path;
  int c;
  long skipped = 0; /* newlines before the first record */
  while ((c = fgetc(f)) != EOF && isspace(c))
    if (c == '\n') skipped++;
  int rc = 0;
  if (c == '[') { /* one JSON array of records */
    ungetc(c, f);
    json_error_t e;
    json_t *arr = json_loadf(f, JSON_REJECT_DUPLICATES, &e);
    if (!arr) {
      rc = zr_seterr(-EINVAL, "%s:%d:%d: invalid JSON: %s", name, e.line, e.column, e.text);
    } else {
      size_t i;
      const json_t *rec;
      json_array_foreach(arr, i, rec) {
        if ((rc = emit(imp, rec, (long)i + 1, name, "record ", out)) < 0) break;
        written++;
      }
      json_decref(arr);
    }
  } else {
    if (c != EOF) ungetc(c, f);
    long lineno = skipped;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
      lineno++;
      while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
      size_t k = 0;
      while (k < (size_t)n && isspace((unsigned char)line[k])) k++;
      if (k == (size_t)n) continue;
      json_error_t e;
      json_t *rec = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, &e);
      if (!rec) {
        rc = zr_seterr(-EINVAL, "%s:%ld: invalid JSON at column %d: %s", name, lineno, e.column, e.text);
        break;
      }
      rc = emit(imp, rec, lineno, name, "", out);
      json_decref(rec);
      if (rc < 0) break;
      written++;
    }
    free(line);
  }
  if (!is_stdin) fclose(f);
  if (rc == 0 && fflush(out) != 0) rc = zr_seterr(-EIO, "cannot write the output: %s", strerror(errno));
  if (n_out) *n_out = written;
  return rc;
}
