/* libFuzzer target for the countdown checker (zr_countdown_check, reward/rewards.c): arbitrary
 * bytes as a puzzle and an answer. fuzz_math also calls it, but always with the numbers
 * {3, 5, 7, 11} and target 26; here the fuzzer picks those too.
 *
 * Input: the first line is the puzzle, "N1 N2 ... = TARGET" (numbers separated by spaces or
 * commas; up to 70 of them, so the checker's limit of 64 is crossed; a line that does not parse
 * gives {3, 5, 7, 11} = 26), the rest is the answer expression. Invariants beyond "no crash, no
 * leak, no sanitizer report":
 *   - the verdict is 0 or 1 and the detail is a NUL-terminated string inside its buffer;
 *   - the verdict does not depend on the order of the numbers (reversed list: same verdict);
 *   - a correct answer's digit runs are exactly the puzzle's numbers (as a multiset), and it
 *     stays correct with "= TARGET" appended (when it has no '=' yet) and with spaces around;
 *   - the sum of the numbers ("N1+N2+..."), when all are non-negative and short enough to be
 *     literals, is a correct answer for target = their sum and a wrong one for sum + 1. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reward/rewards.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXN 70

static int check(const char *a, size_t len, const long *nums, int n, long target) {
  char why[96];
  memset(why, 0x55, sizeof why);
  int r = zr_countdown_check(a, len, nums, n, target, why, sizeof why);
  if (r != 0 && r != 1) abort();
  if (!memchr(why, '\0', sizeof why)) abort(); /* always NUL-terminated inside the buffer */
  return r;
}

static int cmp_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

/* The digit runs of a[0..len) before any '=' as numbers; -1 when a run is too long. */
static int digit_runs(const char *a, size_t len, long *out, int cap) {
  int n = 0;
  for (size_t i = 0; i < len && a[i] != '=';) {
    if (!isdigit((unsigned char)a[i])) {
      i++;
      continue;
    }
    long v = 0;
    int d = 0;
    while (i < len && isdigit((unsigned char)a[i])) {
      if (++d > 15) return -1;
      v = v * 10 + (a[i++] - '0');
    }
    if (n == cap) return -1;
    out[n++] = v;
  }
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size + 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  buf[size] = '\0';
  long nums[MAXN] = {3, 5, 7, 11}, target = 26;
  int n = 4;
  const char *ans = buf;
  size_t alen = size;
  char *nl = memchr(buf, '\n', size);
  if (nl) {
    *nl = '\0';
    char *eq = strchr(buf, '=');
    if (eq) {
      *eq = '\0';
      long tmp[MAXN];
      int k = 0;
      char *p = buf, *end;
      bool ok = true;
      while (ok) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        long v = strtol(p, &end, 10);
        if (end == p || k == MAXN) ok = false;
        else tmp[k++] = v, p = end;
      }
      char *tend;
      long t = strtol(eq + 1, &tend, 10);
      if (ok && tend != eq + 1) {
        memcpy(nums, tmp, (size_t)k * sizeof *nums);
        n = k;
        target = t;
      }
    }
    ans = nl + 1;
    alen = size - (size_t)(ans - buf);
  }

  int r = check(ans, alen, nums, n, target);
  long rev[MAXN];
  for (int i = 0; i < n; i++) rev[i] = nums[n - 1 - i];
  if (check(ans, alen, rev, n, target) != r) abort();

  if (r == 1) {
    long runs[MAXN], sorted[MAXN];
    int nr = digit_runs(ans, alen, runs, MAXN);
    if (nr != n) abort();
    memcpy(sorted, nums, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_long);
    qsort(runs, (size_t)nr, sizeof *runs, cmp_long);
    if (memcmp(sorted, runs, (size_t)n * sizeof *runs) != 0) abort();
    if (alen < 1000) {
      char more[1100];
      int m = snprintf(more, sizeof more, " %.*s ", (int)alen, ans);
      if (!memchr(ans, '\0', alen) && check(more, (size_t)m, nums, n, target) != 1) abort();
      if (!memchr(ans, '=', alen) && !memchr(ans, '\0', alen)) {
        m = snprintf(more, sizeof more, "%.*s = %ld", (int)alen, ans, target);
        if (check(more, (size_t)m, nums, n, target) != 1) abort();
      }
    }
  }

  /* the sum of the numbers is a correct answer for its own total */
  bool literal = n >= 1 && n <= 64;
  long sum = 0;
  for (int i = 0; literal && i < n; i++) {
    literal = nums[i] >= 0 && nums[i] < 1000000000000000L;
    sum += literal ? nums[i] : 0;
  }
  if (literal) {
    char expr[64 * 17 + 1];
    size_t off = 0;
    for (int i = 0; i < n; i++) off += (size_t)snprintf(expr + off, sizeof expr - off, "%s%ld", i ? "+" : "", nums[i]);
    if (off <= 1024) {
      if (check(expr, off, nums, n, sum) != 1) {
        fprintf(stderr, "the sum '%s' is not accepted for %ld\n", expr, sum);
        abort();
      }
      if (check(expr, off, nums, n, sum + 1) != 0) abort();
    }
  }
  free(buf);
  return 0;
}
