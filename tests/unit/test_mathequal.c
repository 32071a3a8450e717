/* Unit tests for reward/mathparse + mathequal: the labelled table tests/fixtures/math/pairs.tsv
 * (every row), parse trees of the main forms, statuses (NO_ANSWER, TIMEOUT, ERROR) and the bounds:
 * 10^{10^{10}}, power towers, huge factorials, deep nesting, very long inputs and long sums must
 * all return within a small, asserted time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "reward/mathequal.h"
#include "tests/test.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int eq(const char *gold, const char *pred) {
  zr_math_verdict v;
  if (zr_math_equal(pred, gold, NULL, &v) < 0) return -1;
  return v.status == ZR_VERIFY_OK ? v.equal : -(int)v.status;
}

static zr_verify_status status_of(const char *gold, const char *pred) {
  zr_math_verdict v;
  zr_math_equal(pred, gold, NULL, &v);
  return v.status;
}

static void check_tree(const char *text, const char *want) {
  zr_mexpr *e = NULL;
  char buf[512] = "";
  if (zr_math_parse(text, strlen(text), NULL, &e) == 0) zr_mnode_print(zr_mexpr_root(e), buf, sizeof buf);
  else snprintf(buf, sizeof buf, "error: %s", zr_errmsg());
  zr_mexpr_free(&e);
  CHECK(e == NULL);
  if (strcmp(buf, want) != 0) fprintf(stderr, "tree of '%s': got %s, want %s\n", text, buf, want);
  CHECK_STR(buf, want);
}

static void table(void) {
  const char *src = getenv("ZERORL_SOURCE_DIR");
  char path[4200];
  snprintf(path, sizeof path, "%s/tests/fixtures/math/pairs.tsv", src ? src : ".");
  FILE *f = fopen(path, "r");
  CHECK(f != NULL);
  if (!f) {
    fprintf(stderr, "cannot open %s (set ZERORL_SOURCE_DIR)\n", path);
    return;
  }
  char line[4096];
  int rows = 0, pos = 0, neg = 0, bad = 0, lineno = 0;
  double t0 = now_s(), worst = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0] || line[0] == '#') continue;
    char *gold = line, *pred = strchr(gold, '\t');
    char *want = pred ? strchr(pred + 1, '\t') : NULL;
    CHECK(want != NULL);
    if (!want) continue;
    *pred++ = '\0';
    *want++ = '\0';
    int expect = want[0] == '1';
    double t1 = now_s();
    zr_math_verdict v;
    zr_math_equal(pred, gold, NULL, &v);
    double dt = now_s() - t1;
    if (dt > worst) worst = dt;
    int got = v.status == ZR_VERIFY_OK && v.equal;
    rows++;
    if (expect) pos++;
    else neg++;
    if (got != expect) {
      bad++;
      fprintf(stderr, "pairs.tsv:%d: gold '%s' pred '%s': want %d, got %d (status %d, %s: %s)\n", lineno, gold, pred,
              expect, got, v.status, v.method, v.detail);
    }
  }
  fclose(f);
  fprintf(stderr, "pairs.tsv: %d rows (%d equal, %d not), %d wrong, %.3f s total, slowest %.1f ms\n", rows, pos, neg, bad,
          now_s() - t0, worst * 1e3);
  CHECK_INT(bad, 0);
  CHECK(rows >= 300);
  CHECK(neg >= pos);
  CHECK(worst < 0.5);
}

static void trees(void) {
  check_tree("3\\frac{1}{2}", "(add 3 (div 1 2))");
  check_tree("1,000,000", "1000000");
  check_tree("1, 000", "(list 1 0)");
  check_tree("(1,000)", "(tuple() 1 0)");
  check_tree("12,34", "(list 12 34)");
  check_tree("0.\\overline{3}", "1/3");
  check_tree("1.5e3", "1500");
  check_tree("\\frac12", "(div 1 2)");
  check_tree("2x", "(mul 2 x)");
  check_tree("-x^2", "(neg (pow x 2))");
  check_tree("x^23", "(pow x 23)");
  check_tree("[0, 1)", "(tuple[) 0 1)");
  check_tree("\\{1, 2\\}", "(set 1 2)");
  check_tree("{1, 2}", "(set 1 2)");
  check_tree("x = 5", "(rel x r1 5)");
  check_tree("1 < x \\le 2", "(rel 1 r3 x r4 2)");
  check_tree("\\pm 3", "(pm 3)");
  check_tree("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "(matrix:2x2 1 2 3 4)");
  check_tree("50\\%", "(percent 50)");
  check_tree("90^\\circ", "(degree 90)");
  check_tree("125 \\text{ miles}", "125");
  check_tree("\\text{Evelyn}", "\"evelyn\"");
  check_tree("\\sqrt[3]{x}", "(root x 3)");
  check_tree("\\log_2 8", "(func:14 8 2)");
  check_tree("\\left( 3, \\frac{\\pi}{2} \\right)", "(tuple() 3 (div pi 2))");
  check_tree("\\$1{,}000.50", "2001/2");
  check_tree("x_{12} + \\alpha", "(add x_12 alpha)");
  check_tree("1 \\text{ and } 2", "(list 1 2)");
}

static void statuses(void) {
  zr_math_verdict v;
  CHECK_INT(zr_math_equal(NULL, "1", NULL, &v), -EINVAL);
  CHECK_INT(status_of("5", ""), ZR_VERIFY_NO_ANSWER);
  CHECK_INT(status_of("5", "   "), ZR_VERIFY_NO_ANSWER);
  CHECK_INT(status_of("5", "\\frac{"), ZR_VERIFY_OK); /* unparseable: wrong, not an error */
  CHECK_INT(eq("5", "\\frac{"), 0);
  CHECK_INT(eq("5", "@#!"), 0);
  CHECK_INT(status_of("\\frac{", "5"), ZR_VERIFY_ERROR); /* the gold itself is broken */
  CHECK_INT(status_of("1", "10^{10^{10}}"), ZR_VERIFY_TIMEOUT);
  zr_math_equal("10^{10^{10}}", "1", NULL, &v);
  CHECK_CONTAINS(v.detail, "too large");
  /* verify_math: extraction statuses */
  const char *c1 = "<think>hmm</think> no tags";
  CHECK_INT(zr_verify_math(c1, strlen(c1), "5", ZR_EXTRACT_ANSWER_TAG, NULL, &v), 0);
  CHECK_INT(v.status, ZR_VERIFY_NO_ANSWER);
  const char *c2 = "so \\boxed{\\dfrac{1}{2}}";
  zr_verify_math(c2, strlen(c2), "0.5", ZR_EXTRACT_BOXED, NULL, &v);
  CHECK_INT(v.status, ZR_VERIFY_OK);
  CHECK_INT(v.equal, 1);
  CHECK_STR(v.answer, "\\dfrac{1}{2}");
  const char *c3 = "<answer>\\boxed{}</answer>";
  zr_verify_math(c3, strlen(c3), "0.5", ZR_EXTRACT_AUTO, NULL, &v);
  CHECK_INT(v.status, ZR_VERIFY_NO_ANSWER);
  /* limits are honoured: a tighter max_len refuses what the default accepts */
  zr_math_limits lim;
  zr_math_limits_default(&lim);
  lim.max_len = 4;
  zr_math_equal("12345", "12345", &lim, &v);
  CHECK_INT(v.status, ZR_VERIFY_TIMEOUT);
  zr_math_limits_default(&lim);
  lim.approx_decimals = 2;
  zr_math_equal("0.33", "\\frac13", &lim, &v);
  CHECK_INT(v.equal, 1);
}

static void timed(const char *what, const char *gold, const char *pred, int want_status, double max_s) {
  double t0 = now_s();
  zr_math_verdict v;
  zr_math_equal(pred, gold, NULL, &v);
  double dt = now_s() - t0;
  fprintf(stderr, "bound %-28s: status %d equal %d in %.2f ms (%s)\n", what, v.status, v.equal, dt * 1e3, v.detail);
  if (want_status) CHECK_INT(v.status, want_status);
  CHECK(!(v.equal && want_status == ZR_VERIFY_TIMEOUT));
  CHECK(dt < max_s);
}

static void bounds(void) {
  timed("10^{10^{10}}", "1", "10^{10^{10}}", ZR_VERIFY_TIMEOUT, 0.1);
  timed("gold 10^{10^{10}}", "10^{10^{10}}", "5", ZR_VERIFY_TIMEOUT, 0.1);
  timed("2^2^2^2^2^2", "1", "2^{2^{2^{2^{2^{2}}}}}", ZR_VERIFY_TIMEOUT, 0.1);
  timed("9^{9^{9}}", "1", "9^{9^{9}}", ZR_VERIFY_TIMEOUT, 0.1);
  timed("x^{10^{10}}", "x", "x^{10^{10}}", ZR_VERIFY_TIMEOUT, 0.1);
  timed("(10^{10})!", "1", "(10^{10})!", ZR_VERIFY_TIMEOUT, 0.1);
  timed("99999!", "1", "99999!", ZR_VERIFY_TIMEOUT, 0.1);
  timed("\\binom{10^9}{10^8}", "1", "\\binom{1000000000}{100000000}", ZR_VERIFY_TIMEOUT, 0.1);
  timed("1e999999999", "1", "1e999999999", ZR_VERIFY_TIMEOUT, 0.1);
  timed("\\sin(10^{300})", "0", "\\sin(10^{300})", 0, 0.2);
  timed("e^{10^{9}}", "1", "e^{1000000000}", ZR_VERIFY_TIMEOUT, 0.1);
  timed("2^{30000} (fits)", "2^{30000}", "2^{30000}+0", ZR_VERIFY_OK, 0.2);

  /* deep nesting: 100000 parentheses */
  size_t n = 100000;
  char *deep = malloc(2 * n + 2);
  memset(deep, '(', n);
  deep[n] = '1';
  memset(deep + n + 1, ')', n);
  deep[2 * n + 1] = '\0';
  char par[256];
  memset(par, '(', 100);
  par[100] = '1';
  memset(par + 101, ')', 100);
  par[201] = '\0';
  timed("100 nested parentheses", "1", par, ZR_VERIFY_TIMEOUT, 0.1);
  par[141] = '\0'; /* 40 levels: within the limit */
  timed("40 nested parentheses", "1", par + 60, ZR_VERIFY_OK, 0.1);
  CHECK_INT(eq("1", par + 60), 1);
  timed("100000 parentheses", "1", deep, ZR_VERIFY_TIMEOUT, 0.1);
  /* a huge input */
  size_t big = 4u << 20;
  char *huge = malloc(big + 1);
  for (size_t i = 0; i < big; i++) huge[i] = "1+"[i % 2];
  huge[big - 1] = '1';
  huge[big] = '\0';
  timed("4 MiB sum", "1", huge, ZR_VERIFY_TIMEOUT, 0.2);
  /* the longest sum the defaults accept, with variables: bounded by the step budget */
  char sum[2100];
  size_t k = 0;
  while (k + 4 < 2040) {
    memcpy(sum + k, "x^9+", 4);
    k += 4;
  }
  sum[k++] = 'x';
  sum[k] = '\0';
  timed("long symbolic sum", "x", sum, 0, 0.5);
  /* nested roots and fractions within the limits */
  char nest[2048];
  k = 0;
  for (int i = 0; i < 40; i++) k += (size_t)snprintf(nest + k, sizeof nest - k, "\\sqrt{");
  k += (size_t)snprintf(nest + k, sizeof nest - k, "2");
  for (int i = 0; i < 40; i++) nest[k++] = '}';
  nest[k] = '\0';
  timed("40 nested roots", "1", nest, ZR_VERIFY_OK, 0.2);
  /* many list elements: quadratic matching stays bounded */
  char list[2100];
  k = 0;
  for (int i = 0; i < 255 && k < 2000; i++) k += (size_t)snprintf(list + k, sizeof list - k, "%s%d", i ? "," : "", i);
  timed("255-element list", list, list, 0, 0.5);
  char list2[2100];
  memcpy(list2, list, k + 1);
  list2[0] = '7'; /* 0 becomes 7: a duplicate, 0 missing */
  timed("255-element list, one change", list, list2, ZR_VERIFY_OK, 1.0);
  zr_math_verdict v;
  zr_math_equal(list2, list, NULL, &v);
  CHECK_INT(v.equal, 0);
  free(deep);
  free(huge);
}

int main(void) {
  table();
  trees();
  statuses();
  bounds();
  /* a few direct equalities beyond the table */
  CHECK_INT(eq("\\frac{1}{2}", "0.5"), 1);
  CHECK_INT(eq("x^2+2x+1", "(x+1)^2"), 1);
  CHECK_INT(eq("(0,9)", "[0,9)"), 0);
  return TEST_DONE();
}
