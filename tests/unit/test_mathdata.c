/* Real-data tests of the math verifier (shared data; each part skips when its file is absent):
 *  - GSM8K test: every solution's "#### N" (extractor gsm8k) equals its own task's answer
 *    (1319/1319); paired with the next task's answer it must not (count reported);
 *  - MATH-500: the last \boxed{} of every solution equals its `answer` (every miss printed);
 *    shifted pairings (solution i, answer i+1) must be unequal for >= 99%;
 *  - AIME 2024: integer answers with leading zeros ("025") against their plain values. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/json.h"
#include "reward/mathequal.h"
#include "tests/test.h"

typedef struct {
  char **a, **b; /* field pairs per record */
  int n;
} records;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int load(const char *path, const char *ka, const char *kb, records *r) {
  memset(r, 0, sizeof *r);
  FILE *f = fopen(path, "r");
  if (!f) return -ENOENT;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int cap_r = 0;
  while ((n = getline(&line, &cap, f)) > 0) {
    json_t *o = zr_json_parse(line, (size_t)n, path);
    if (!o) continue;
    const char *a = NULL, *b = NULL;
    if (zr_json_get_str(o, ka, path, &a) == 0 && zr_json_get_str(o, kb, path, &b) == 0) {
      if (r->n == cap_r) {
        cap_r = cap_r ? cap_r * 2 : 512;
        r->a = realloc(r->a, (size_t)cap_r * sizeof *r->a);
        r->b = realloc(r->b, (size_t)cap_r * sizeof *r->b);
      }
      r->a[r->n] = strdup(a);
      r->b[r->n] = strdup(b);
      r->n++;
    }
    json_decref(o);
  }
  free(line);
  fclose(f);
  return 0;
}

static void release(records *r) {
  for (int i = 0; i < r->n; i++) {
    free(r->a[i]);
    free(r->b[i]);
  }
  free(r->a);
  free(r->b);
}

/* the text after "#### " in a GSM8K solution */
static const char *gsm8k_gold(const char *sol) {
  const char *p = strstr(sol, "####");
  if (!p) return "";
  p += 4;
  while (*p == ' ') p++;
  return p;
}

int main(void) {
  const char *data = getenv("ZERORL_SHARED_DATA");
  char dflt[4096];
  if (!data) {
    const char *src = getenv("ZERORL_SOURCE_DIR");
    snprintf(dflt, sizeof dflt, "%s/../shared/data", src ? src : ".");
    data = dflt;
  }
  char path[4600];
  int ran = 0;

  /* ---- GSM8K ---- */
  records g;
  snprintf(path, sizeof path, "%s/gsm8k/test.jsonl", data);
  if (load(path, "question", "answer", &g) == 0 && g.n > 0) {
    ran = 1;
    int ok = 0, shifted_equal = 0;
    double t0 = now_s();
    for (int i = 0; i < g.n; i++) {
      zr_math_verdict v;
      const char *gold = gsm8k_gold(g.b[i]);
      zr_verify_math(g.b[i], strlen(g.b[i]), gold, ZR_EXTRACT_GSM8K, NULL, &v);
      if (v.status == ZR_VERIFY_OK && v.equal) ok++;
      else fprintf(stderr, "GSM8K miss %d: '%s' vs '%s': %s\n", i, v.answer, gold, v.detail);
      const char *next = gsm8k_gold(g.b[(i + 1) % g.n]);
      zr_verify_math(g.b[i], strlen(g.b[i]), next, ZR_EXTRACT_GSM8K, NULL, &v);
      if (v.equal) shifted_equal++;
    }
    double dt = now_s() - t0;
    fprintf(stderr, "GSM8K: own answer %d/%d; next task's answer equal %d/%d (the same number twice); %.3f s\n", ok,
            g.n, shifted_equal, g.n, dt);
    CHECK_INT(ok, g.n);
    CHECK_INT(g.n, 1319);
    /* only genuinely equal neighbouring answers may match */
    int expected_equal = 0;
    for (int i = 0; i < g.n; i++)
      if (strcmp(gsm8k_gold(g.b[i]), gsm8k_gold(g.b[(i + 1) % g.n])) == 0) expected_equal++;
    CHECK_INT(shifted_equal, expected_equal);
    release(&g);
  } else {
    fprintf(stderr, "SKIP part: %s not found\n", path);
  }

  /* ---- MATH-500 ---- */
  records m;
  snprintf(path, sizeof path, "%s/math500/test.jsonl", data);
  if (load(path, "solution", "answer", &m) == 0 && m.n > 0) {
    ran = 1;
    int ok = 0, shifted_equal = 0, timeouts = 0;
    double t0 = now_s();
    for (int i = 0; i < m.n; i++) {
      zr_math_verdict v;
      zr_verify_math(m.a[i], strlen(m.a[i]), m.b[i], ZR_EXTRACT_BOXED, NULL, &v);
      if (v.status == ZR_VERIFY_OK && v.equal) ok++;
      else fprintf(stderr, "MATH-500 miss %d: boxed '%s' vs answer '%s': status %d %s: %s\n", i, v.answer, m.b[i],
                   v.status, v.method, v.detail);
      zr_verify_math(m.a[i], strlen(m.a[i]), m.b[(i + 1) % m.n], ZR_EXTRACT_BOXED, NULL, &v);
      if (v.equal) {
        shifted_equal++;
        fprintf(stderr, "MATH-500 shifted match %d: '%s' vs '%s'\n", i, v.answer, m.b[(i + 1) % m.n]);
      }
      if (v.status == ZR_VERIFY_TIMEOUT) timeouts++;
    }
    double dt = now_s() - t0;
    fprintf(stderr, "MATH-500: boxed == answer %d/%d; shifted pairs equal %d/%d (%.1f%% unequal); %.3f s\n", ok, m.n,
            shifted_equal, m.n, 100.0 * (m.n - shifted_equal) / m.n, dt);
    CHECK_INT(m.n, 500);
    CHECK(ok >= 497);
    CHECK((m.n - shifted_equal) * 100 >= 99 * m.n);
    CHECK_INT(timeouts, 0);
    release(&m);
  } else {
    fprintf(stderr, "SKIP part: %s not found\n", path);
  }

  /* ---- AIME 2024 ---- */
  records a;
  snprintf(path, sizeof path, "%s/aime2024/test.jsonl", data);
  if (load(path, "problem", "answer", &a) == 0 && a.n > 0) {
    ran = 1;
    int ok = 0;
    for (int i = 0; i < a.n; i++) {
      char pred[64];
      snprintf(pred, sizeof pred, "The final answer is $\\boxed{%ld}$.", strtol(a.b[i], NULL, 10));
      zr_math_verdict v;
      zr_verify_math(pred, strlen(pred), a.b[i], ZR_EXTRACT_AUTO, NULL, &v);
      ok += v.equal;
    }
    fprintf(stderr, "AIME 2024: %d/%d\n", ok, a.n);
    CHECK_INT(ok, a.n);
    release(&a);
  }
  if (!ran) TEST_SKIP("no shared data under %s", data);
  return TEST_DONE();
}
