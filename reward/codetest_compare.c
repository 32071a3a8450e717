/* codetest_compare.c: does a program's stdout match the expected output?
 *
 * Tokens are runs of non-whitespace. Two tokens match when they are equal (optionally ignoring
 * ASCII case), or when both are integers with the same value (leading '+' and zeros ignored;
 * compared as digit strings, so any size is exact), or when both are decimal numbers, at least
 * one not an integer, within max(abs_tol, rel_tol * |expected|). "nan", "inf" and hex forms are
 * words, not numbers. Token mode ignores line structure; line mode also wants the same number
 * of lines, trailing blank lines aside. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reward/codetest_internal.h"

typedef struct {
  const char *p;
  size_t n;
} span;

/* 1 integer, 2 other decimal number, 0 not a number */
static int number_kind(span t) {
  size_t i = 0, digits = 0;
  int frac = 0;
  if (i < t.n && (t.p[i] == '+' || t.p[i] == '-')) i++;
  for (; i < t.n && isdigit((unsigned char)t.p[i]); i++) digits++;
  if (i < t.n && t.p[i] == '.') {
    frac = 1;
    for (i++; i < t.n && isdigit((unsigned char)t.p[i]); i++) digits++;
  }
  if (digits == 0) return 0;
  if (i < t.n && (t.p[i] == 'e' || t.p[i] == 'E')) {
    size_t d = 0;
    frac = 1;
    i++;
    if (i < t.n && (t.p[i] == '+' || t.p[i] == '-')) i++;
    for (; i < t.n && isdigit((unsigned char)t.p[i]); i++) d++;
    if (d == 0) return 0;
  }
  if (i != t.n) return 0;
  return frac ? 2 : 1;
}

static int int_equal(span a, span b) {
  int na = 0, nb = 0;
  if (a.n && (a.p[0] == '+' || a.p[0] == '-')) na = a.p[0] == '-', a.p++, a.n--;
  if (b.n && (b.p[0] == '+' || b.p[0] == '-')) nb = b.p[0] == '-', b.p++, b.n--;
  while (a.n > 1 && a.p[0] == '0') a.p++, a.n--;
  while (b.n > 1 && b.p[0] == '0') b.p++, b.n--;
  int zero = a.n == 1 && a.p[0] == '0';
  if (zero) na = 0;
  if (b.n == 1 && b.p[0] == '0') nb = 0;
  return na == nb && a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

static double to_double(span t) {
  char buf[128];
  size_t n = t.n < sizeof buf - 1 ? t.n : sizeof buf - 1;
  memcpy(buf, t.p, n);
  buf[n] = '\0';
  return strtod(buf, NULL);
}

static int token_equal(span got, span want, const zr_codetest_opts *o) {
  if (got.n == want.n &&
      (o->case_insensitive ? strncasecmp(got.p, want.p, got.n) == 0 : memcmp(got.p, want.p, got.n) == 0))
    return 1;
  int kg = number_kind(got), kw = number_kind(want);
  if (!kg || !kw) return 0;
  if (kg == 1 && kw == 1) return int_equal(got, want);
  double g = to_double(got), w = to_double(want);
  if (!isfinite(g) || !isfinite(w)) return 0;
  double tol = fmax(o->abs_tol, o->rel_tol * fabs(w));
  return fabs(g - w) <= tol;
}

static int next_token(const char **p, const char *end, span *t) {
  const char *q = *p;
  while (q < end && isspace((unsigned char)*q)) q++;
  if (q >= end) {
    *p = q;
    return 0;
  }
  const char *s = q;
  while (q < end && !isspace((unsigned char)*q)) q++;
  t->p = s;
  t->n = (size_t)(q - s);
  *p = q;
  return 1;
}

static void describe(char *why, size_t cap, const char *where, span got, span want) {
  if (!why || !cap) return;
  snprintf(why, cap, "%s: expected '%.*s', got '%.*s'", where, (int)(want.n > 40 ? 40 : want.n), want.p,
           (int)(got.n > 40 ? 40 : got.n), got.p);
}

/* token-by-token comparison of two ranges; *count returns how many matched */
static int compare_range(const char *g, const char *ge, const char *w, const char *we, const zr_codetest_opts *o,
                         char *why, size_t cap, const char *what) {
  span tg = {0}, tw = {0};
  int idx = 0;
  for (;;) {
    int hg = next_token(&g, ge, &tg), hw = next_token(&w, we, &tw);
    idx++;
    if (!hg && !hw) return 1;
    char where[64];
    snprintf(where, sizeof where, "%s token %d", what, idx);
    if (!hg || !hw) {
      if (why) snprintf(why, cap, "%s: %s", where, hg ? "extra output" : "output ends early");
      return 0;
    }
    if (!token_equal(tg, tw, o)) {
      describe(why, cap, where, tg, tw);
      return 0;
    }
  }
}

/* the content lines of a text: trailing whitespace-only lines dropped */
static size_t count_lines(const char *s, const char *end, const char **last) {
  /* find the end of the last non-blank line */
  const char *e = end;
  while (e > s && isspace((unsigned char)e[-1])) e--;
  *last = e;
  if (e == s) return 0;
  size_t n = 1;
  for (const char *p = s; p < e; p++)
    if (*p == '\n') n++;
  return n;
}

int zr_codetest_compare(const char *got, size_t got_len, const char *want, size_t want_len,
                        const zr_codetest_opts *o, char *why, size_t why_cap) {
  zr_codetest_opts def;
  if (!o) {
    zr_codetest_opts_init(&def);
    o = &def;
  }
  if (why && why_cap) why[0] = '\0';
  if (o->compare == ZR_CT_CMP_TOKENS) return compare_range(got, got + got_len, want, want + want_len, o, why, why_cap, "output");
  const char *ge, *we;
  size_t lg = count_lines(got, got + got_len, &ge), lw = count_lines(want, want + want_len, &we);
  if (lg != lw) {
    if (why) snprintf(why, why_cap, "expected %zu lines, got %zu", lw, lg);
    return 0;
  }
  const char *g = got, *w = want;
  for (size_t line = 1; line <= lw; line++) {
    const char *gn = memchr(g, '\n', (size_t)(ge - g)), *wn = memchr(w, '\n', (size_t)(we - w));
    const char *gl = gn ? gn : ge, *wl = wn ? wn : we;
    char what[32];
    snprintf(what, sizeof what, "line %zu", line);
    if (!compare_range(g, gl, w, wl, o, why, why_cap, what)) return 0;
    g = gn ? gn + 1 : ge;
    w = wn ? wn + 1 : we;
  }
  return 1;
}
