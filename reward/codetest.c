/* codetest.c: the code-test API (see codetest.h): options, the task's test spec, dispatch to
 * the stdio or assert runner, the summary. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/util.h"
#include "reward/codetest_internal.h"

#define MAX_CASES 100000

void zr_codetest_opts_init(zr_codetest_opts *o) {
  memset(o, 0, sizeof *o);
  o->time_limit_s = 4;
  o->total_time_s = 60;
  o->memory_mb = 512;
  o->compare = ZR_CT_CMP_TOKENS;
  o->abs_tol = 1e-6;
  o->rel_tol = 1e-6;
  o->parallel = 1;
  o->output_cap = 1 << 20;
}

const char *zr_codetest_status_name(zr_codetest_status s) {
  switch (s) {
    case ZR_CT_PASS: return "pass";
    case ZR_CT_WRONG_ANSWER: return "wrong_answer";
    case ZR_CT_TIMEOUT: return "timeout";
    case ZR_CT_MEMORY_LIMIT: return "memory_limit";
    case ZR_CT_RUNTIME_ERROR: return "runtime_error";
    case ZR_CT_OUTPUT_LIMIT: return "output_limit";
    case ZR_CT_COMPILE_ERROR: return "compile_error";
    case ZR_CT_SANDBOX_ERROR: return "sandbox_error";
  }
  return "unknown";
}

int zr_ct_result_alloc(zr_codetest_result *out, int n) {
  free(out->cases);
  out->cases = calloc((size_t)(n > 0 ? n : 1), sizeof *out->cases);
  if (!out->cases) return zr_seterr(-ENOMEM, "codetest: out of memory for %d cases", n);
  out->n_tests = n;
  for (int i = 0; i < n; i++) out->cases[i].status = ZR_CT_RUNTIME_ERROR;
  return 0;
}

void zr_ct_result_finish(zr_codetest_result *out) {
  out->n_passed = 0;
  out->status = ZR_CT_PASS;
  for (int i = 0; i < out->n_tests; i++) {
    if (out->cases[i].status == ZR_CT_PASS) out->n_passed++;
    else if (out->status == ZR_CT_PASS) out->status = out->cases[i].status;
  }
  if (out->n_tests == 0) out->status = ZR_CT_WRONG_ANSWER; /* nothing proved the code right */
  out->pass_fraction = out->n_tests ? (double)out->n_passed / out->n_tests : 0.0;
  out->all_passed = out->n_tests > 0 && out->n_passed == out->n_tests;
}

void zr_codetest_result_release(zr_codetest_result *r) {
  if (!r) return;
  free(r->cases);
  r->cases = NULL;
  r->n_tests = r->n_passed = 0;
}

static void result_init(zr_codetest_result *out) { memset(out, 0, sizeof *out); }

/* every test fails with one status (no code, compile error, bad language) */
static int fail_all(zr_codetest_result *out, int n, zr_codetest_status st, const char *why) {
  int rc = zr_ct_result_alloc(out, n);
  if (rc < 0) return rc;
  for (int i = 0; i < n; i++) {
    out->cases[i].status = st;
    zr_strlcpy(out->cases[i].detail, why, sizeof out->cases[i].detail);
  }
  zr_strlcpy(out->detail, why, sizeof out->detail);
  zr_ct_result_finish(out);
  if (n == 0) out->status = st;
  return 0;
}

/* the number of tests a spec holds, or negative when it is malformed */
static int spec_count(const json_t *tests, const char **type) {
  if (!json_is_object(tests)) return zr_seterr(-EINVAL, "codetest: tests must be an object");
  const char *t = json_string_value(json_object_get(tests, "type"));
  if (!t) return zr_seterr(-EINVAL, "codetest: tests: key 'type' must be a string");
  *type = t;
  if (strcmp(t, "stdio") == 0) {
    const json_t *cases = json_object_get(tests, "cases");
    if (!json_is_array(cases)) return zr_seterr(-EINVAL, "codetest: stdio tests: key 'cases' must be an array");
    size_t n = json_array_size(cases);
    if (n > MAX_CASES) return zr_seterr(-EINVAL, "codetest: %zu cases is more than %d", n, MAX_CASES);
    for (size_t i = 0; i < n; i++) {
      const json_t *c = json_array_get(cases, i);
      if (!json_is_object(c) || !json_is_string(json_object_get(c, "input")) ||
          !json_is_string(json_object_get(c, "output")))
        return zr_seterr(-EINVAL, "codetest: stdio case %zu must have string 'input' and 'output'", i);
    }
    return (int)n;
  }
  if (strcmp(t, "assert") == 0) {
    if (!json_is_string(json_object_get(tests, "code")))
      return zr_seterr(-EINVAL, "codetest: assert tests: key 'code' must be a string");
    const json_t *ep = json_object_get(tests, "entry_point");
    if (ep && !json_is_string(ep) && !json_is_null(ep))
      return zr_seterr(-EINVAL, "codetest: assert tests: key 'entry_point' must be a string");
    return 1; /* the real count comes from the checker */
  }
  return zr_seterr(-EINVAL, "codetest: unknown tests type '%s' (stdio or assert)", t);
}

static int run_code(const char *code, const char *language, const char *block_tag, const json_t *tests,
                    const zr_codetest_opts *o, zr_codetest_result *out) {
  zr_codetest_opts def;
  if (!o) {
    zr_codetest_opts_init(&def);
    o = &def;
  }
  uint64_t t0 = zr_clock_mono_ns();
  const char *type = NULL;
  int n = spec_count(tests, &type);
  if (n < 0) {
    out->status = ZR_CT_SANDBOX_ERROR;
    zr_strlcpy(out->detail, zr_errmsg(), sizeof out->detail);
    return n;
  }
  int is_stdio = strcmp(type, "stdio") == 0;
  const zr_lang *lang = zr_lang_find(language);
  if (is_stdio && o->any_language && block_tag && zr_lang_find(block_tag)) lang = zr_lang_find(block_tag);
  if (!lang) {
    out->status = ZR_CT_SANDBOX_ERROR;
    return zr_seterr(-EINVAL, "codetest: unknown language '%s'", language ? language : "(none)");
  }
  zr_strlcpy(out->language, lang->name, sizeof out->language);
  int rc;
  if (is_stdio) {
    rc = zr_ct_run_stdio(code, lang, json_object_get(tests, "cases"), o, out);
  } else {
    if (strcmp(lang->name, "python3") != 0) {
      out->status = ZR_CT_SANDBOX_ERROR;
      return zr_seterr(-EINVAL, "codetest: assert tests need python3, not %s", lang->name);
    }
    const char *ep = json_string_value(json_object_get(tests, "entry_point"));
    rc = zr_ct_run_assert(code, lang, json_string_value(json_object_get(tests, "code")), ep, o, out);
  }
  out->wall_ms = (double)(zr_clock_mono_ns() - t0) / 1e6;
  return rc;
}

int zr_codetest_run(const char *code, const char *language, const json_t *tests, const zr_codetest_opts *o,
                    zr_codetest_result *out) {
  result_init(out);
  if (!code) {
    out->status = ZR_CT_SANDBOX_ERROR;
    return zr_seterr(-EINVAL, "codetest: no code");
  }
  return run_code(code, language, NULL, tests, o, out);
}

int zr_codetest_run_completion(const char *completion, const char *language, const json_t *tests,
                               const zr_codetest_opts *o, zr_codetest_result *out) {
  result_init(out);
  char *code = NULL, tag[24];
  if (zr_codetest_extract(completion, &code, tag) < 0) {
    const char *type = NULL;
    int n = spec_count(tests, &type);
    if (n < 0) {
      out->status = ZR_CT_SANDBOX_ERROR;
      return n;
    }
    int rc = fail_all(out, n, ZR_CT_COMPILE_ERROR, "no complete fenced code block in the completion");
    return rc < 0 ? rc : 1;
  }
  int rc = run_code(code, language, tag, tests, o, out);
  free(code);
  return rc;
}

int zr_ct_fail_all(zr_codetest_result *out, int n, zr_codetest_status st, const char *why) {
  return fail_all(out, n, st, why);
}
