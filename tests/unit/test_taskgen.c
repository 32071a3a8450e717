/* test_taskgen: learner/taskgen.h. arith answers are the sums (checked with 64-bit arithmetic
 * and on the feasibility note's example trace); every countdown task is solvable, its trace's
 * answer passes the reward checker (reward/rewards.h zr_countdown_check) and its prompt names
 * its numbers and target; train and held-out sets are disjoint (10k tasks each, both kinds,
 * several seeds) and held-out problems all lie in the held-out pool; generation is
 * deterministic in the seed; bad arguments are refused. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "learner/taskgen.h"
#include "learner/tasks.h"
#include "reward/rewards.h"
#include "tests/test.h"

static zr_taskset *gen(const char *kind, size_t n, uint64_t seed, int diff, zr_split split) {
  zr_taskset *s = NULL;
  if (zr_taskset_new(&s)) return NULL;
  int rc = zr_taskgen(kind, n, seed, diff, split, s);
  if (rc) {
    fprintf(stderr, "zr_taskgen %s: %s\n", kind, zr_errmsg());
    zr_taskset_free(&s);
  }
  return s;
}

/* the text between open and close in s, or "" */
static void between(const char *s, const char *open, const char *close, char *out, size_t cap) {
  out[0] = '\0';
  const char *a = strstr(s, open);
  if (!a) return;
  a += strlen(open);
  const char *b = strstr(a, close);
  if (!b) return;
  size_t n = (size_t)(b - a) < cap - 1 ? (size_t)(b - a) : cap - 1;
  memcpy(out, a, n);
  out[n] = '\0';
}

static void test_trace_example(void) {
  zr_task t;
  memset(&t, 0, sizeof t);
  t.id = "ex";
  t.kind = ZR_TASK_EXACT;
  t.prompt = "64607+11332=";
  t.answer = "75939";
  char *c = NULL;
  CHECK_INT(zr_taskgen_trace(&t, &c), 0);
  CHECK_STR(c, "<think>7+2+0=9,0+3+0=3,6+3+0=9,4+1+0=5,6+1+0=7</think><answer>75939</answer>");
  free(c);
  t.prompt = "98+57=";
  CHECK_INT(zr_taskgen_trace(&t, &c), 0);
  CHECK_STR(c, "<think>8+7+0=15,9+5+1=15</think><answer>155</answer>");
  free(c);
  t.prompt = "What is 2+2?";
  CHECK_INT(zr_taskgen_trace(&t, &c), -EINVAL);
  CHECK(c == NULL);
  t.kind = ZR_TASK_COUNTDOWN;
  long nums[] = {44, 19, 35};
  t.numbers = nums;
  t.n_numbers = 3;
  t.target = 98;
  CHECK_INT(zr_taskgen_trace(&t, &c), 0);
  CHECK_STR(c, "<think>44+19=63,63+35=98 yes</think><answer>(44+19)+35</answer>");
  free(c);
  t.target = 28;
  CHECK_INT(zr_taskgen_trace(&t, &c), 0);
  CHECK_STR(c, "<think>44+19=63,63+35=98 no;44+19=63,63-35=28 yes</think><answer>(44+19)-35</answer>");
  free(c);
  t.target = 1000003; /* unreachable */
  CHECK_INT(zr_taskgen_trace(&t, &c), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "no solution");
}

static void test_arith(void) {
  for (int d = 1; d <= 18; d++) {
    zr_taskset *s = gen("arith", 200, (uint64_t)d, d, ZR_SPLIT_TRAIN);
    CHECK(s != NULL);
    if (!s) continue;
    CHECK_INT(zr_taskset_count(s), 200);
    for (size_t i = 0; i < zr_taskset_count(s); i++) {
      const zr_task *t = zr_taskset_get(s, i);
      CHECK_INT(t->kind, ZR_TASK_EXACT);
      char a[64], b[64];
      CHECK_INT(sscanf(t->prompt, "%63[0-9]+%63[0-9]=", a, b), 2);
      CHECK_INT(strlen(a), d);
      CHECK_INT(strlen(b), d);
      CHECK(a[0] != '0' && b[0] != '0');
      uint64_t x = strtoull(a, NULL, 10), y = strtoull(b, NULL, 10);
      char want[32];
      snprintf(want, sizeof want, "%" PRIu64, x + y);
      CHECK_STR(t->answer, want);
      CHECK(!zr_taskgen_is_heldout(t));
      char *c = NULL;
      CHECK_INT(zr_taskgen_trace(t, &c), 0);
      char ans[64];
      between(c ? c : "", "<answer>", "</answer>", ans, sizeof ans);
      CHECK_STR(ans, want);
      /* one step per digit, the sums' last digits spell the answer (reversed) */
      int steps = 1;
      for (const char *p = c; p && *p; p++) steps += *p == ',';
      CHECK_INT(steps, d);
      free(c);
    }
    zr_taskset_free(&s);
  }
  /* 30 digits: string arithmetic */
  zr_taskset *s = gen("arith", 5, 1, 30, ZR_SPLIT_HELDOUT);
  CHECK(s && zr_taskset_count(s) == 5);
  if (s) {
    const zr_task *t = zr_taskset_get(s, 0);
    CHECK(strlen(t->prompt) == 62);
    CHECK(strlen(t->answer) == 30 || strlen(t->answer) == 31);
    CHECK(zr_taskgen_is_heldout(t));
  }
  zr_taskset_free(&s);
  /* default difficulty is 5 digits, ids say so */
  s = gen("arith", 3, 9, 0, ZR_SPLIT_TRAIN);
  if (s) {
    CHECK_STR(zr_taskset_get(s, 0)->id, "arith-5-train-9-0");
    CHECK_INT(strlen(zr_taskset_get(s, 2)->prompt), 12);
  }
  zr_taskset_free(&s);
}

static void test_countdown(void) {
  const int diffs[] = {0, 2, 3, 4, 5};
  for (size_t di = 0; di < sizeof diffs / sizeof diffs[0]; di++) {
    size_t n = diffs[di] == 5 ? 60 : 300;
    for (int split = 0; split < 2; split++) {
      zr_taskset *s = gen("countdown", n, 100 + di, diffs[di], (zr_split)split);
      CHECK(s != NULL);
      if (!s) continue;
      CHECK_INT(zr_taskset_count(s), n);
      int n3 = 0, n4 = 0;
      for (size_t i = 0; i < zr_taskset_count(s); i++) {
        const zr_task *t = zr_taskset_get(s, i);
        CHECK_INT(t->kind, ZR_TASK_COUNTDOWN);
        if (diffs[di]) CHECK_INT(t->n_numbers, diffs[di]);
        else CHECK(t->n_numbers == 3 || t->n_numbers == 4);
        n3 += t->n_numbers == 3;
        n4 += t->n_numbers == 4;
        CHECK(t->target >= 1 && t->target <= 999);
        for (int k = 0; k < t->n_numbers; k++) CHECK(t->numbers[k] >= 1 && t->numbers[k] <= 99);
        char want[64];
        snprintf(want, sizeof want, "equals %ld.", t->target);
        CHECK_CONTAINS(t->prompt, want);
        snprintf(want, sizeof want, "[%ld, ", t->numbers[0]);
        CHECK_CONTAINS(t->prompt, want);
        CHECK_INT(zr_taskgen_is_heldout(t), split);
        char expr[256];
        CHECK_INT(zr_countdown_solve(t->numbers, t->n_numbers, t->target, expr, sizeof expr), 1);
        char detail[128];
        CHECK_INT(zr_countdown_check(expr, strlen(expr), t->numbers, t->n_numbers, t->target, detail, sizeof detail), 1);
        char *c = NULL;
        CHECK_INT(zr_taskgen_trace(t, &c), 0);
        char ans[256];
        between(c ? c : "", "<answer>", "</answer>", ans, sizeof ans);
        CHECK_STR(ans, expr);
        int ok = zr_countdown_check(ans, strlen(ans), t->numbers, t->n_numbers, t->target, detail, sizeof detail);
        CHECK_INT(ok, 1);
        if (ok != 1) fprintf(stderr, "  %s: %s (%s)\n", t->id, c, detail);
        CHECK(c && strncmp(c, "<think>", 7) == 0 && strstr(c, " yes</think><answer>"));
        free(c);
      }
      if (diffs[di] == 0) CHECK(n3 > 50 && n4 > 50);
      zr_taskset_free(&s);
    }
  }
  zr_taskset *s = gen("countdown", 4, 1, 6, ZR_SPLIT_TRAIN);
  CHECK(s && zr_taskset_count(s) == 4);
  zr_taskset_free(&s);
}

static int same_sets(const zr_taskset *a, const zr_taskset *b) {
  if (zr_taskset_count(a) != zr_taskset_count(b)) return 0;
  for (size_t i = 0; i < zr_taskset_count(a); i++) {
    char *x = NULL, *y = NULL;
    zr_task_to_json(zr_taskset_get(a, i), &x);
    zr_task_to_json(zr_taskset_get(b, i), &y);
    int same = x && y && strcmp(x, y) == 0;
    free(x);
    free(y);
    if (!same) return 0;
  }
  return 1;
}

/* the problem of a task, order-free: the prompt for arith ("A+B=" with A <= B) or sorted numbers */
static void problem_key(const zr_task *t, char *out, size_t cap) {
  if (t->kind == ZR_TASK_EXACT) {
    char a[64], b[64];
    sscanf(t->prompt, "%63[0-9]+%63[0-9]=", a, b);
    int swap = strlen(a) > strlen(b) || (strlen(a) == strlen(b) && strcmp(a, b) > 0);
    snprintf(out, cap, "%s+%s", swap ? b : a, swap ? a : b);
    return;
  }
  long s[16];
  memcpy(s, t->numbers, (size_t)t->n_numbers * sizeof *s);
  for (int i = 0; i < t->n_numbers; i++)
    for (int j = i + 1; j < t->n_numbers; j++)
      if (s[j] < s[i]) {
        long x = s[i];
        s[i] = s[j];
        s[j] = x;
      }
  size_t k = 0;
  for (int i = 0; i < t->n_numbers; i++) k += (size_t)snprintf(out + k, cap - k, "%ld,", s[i]);
  snprintf(out + k, cap - k, "=%ld", t->target);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_splits(void) {
  const char *kinds[] = {"arith", "countdown"};
  const int diffs[] = {3, 0};
  for (int k = 0; k < 2; k++) {
    /* arith with 3 digits: a small space, so collisions would show if the splits overlapped */
    zr_taskset *tr = gen(kinds[k], 10000, 1, diffs[k], ZR_SPLIT_TRAIN);
    zr_taskset *ho = gen(kinds[k], 10000, 1, diffs[k], ZR_SPLIT_HELDOUT);
    zr_taskset *ho2 = gen(kinds[k], 2000, 2, diffs[k], ZR_SPLIT_HELDOUT);
    CHECK(tr && ho && ho2);
    if (!tr || !ho || !ho2) return;
    size_t n = zr_taskset_count(tr) + zr_taskset_count(ho) + zr_taskset_count(ho2);
    char **keys = malloc(n * sizeof *keys);
    int *from = malloc(n * sizeof *from);
    size_t m = 0;
    const zr_taskset *sets[3] = {tr, ho, ho2};
    for (int si = 0; si < 3; si++)
      for (size_t i = 0; i < zr_taskset_count(sets[si]); i++) {
        char key[128];
        problem_key(zr_taskset_get(sets[si], i), key, sizeof key);
        size_t kl = strlen(key);
        keys[m] = malloc(kl + 3);
        snprintf(keys[m], kl + 3, "%s#%c", key, si == 0 ? 't' : 'h');
        from[m] = si;
        m++;
        CHECK_INT(zr_taskgen_is_heldout(zr_taskset_get(sets[si], i)), si != 0);
      }
    qsort(keys, m, sizeof *keys, cmp_str);
    /* a problem key followed by both #h and #t would mean overlap */
    int overlap = 0;
    for (size_t i = 1; i < m; i++) {
      size_t la = strlen(keys[i - 1]), lb = strlen(keys[i]);
      if (la == lb && strncmp(keys[i - 1], keys[i], la - 1) == 0 && keys[i - 1][la - 1] != keys[i][lb - 1]) overlap++;
    }
    CHECK_INT(overlap, 0);
    /* within one held-out call, no repeats while the pool is large */
    size_t dups = 0;
    for (size_t i = 1; i < m; i++) dups += strcmp(keys[i - 1], keys[i]) == 0;
    fprintf(stderr, "%s: %zu problems, %zu repeats (across calls), 0 train/held-out overlaps expected: %d\n",
            kinds[k], m, dups, overlap);
    for (size_t i = 0; i < m; i++) free(keys[i]);
    free(keys);
    free(from);
    zr_taskset_free(&tr);
    zr_taskset_free(&ho);
    zr_taskset_free(&ho2);
  }
  /* held-out never repeats within a call with 5-digit arith */
  zr_taskset *h = gen("arith", 3000, 5, 5, ZR_SPLIT_HELDOUT);
  if (h) {
    char **keys = malloc(zr_taskset_count(h) * sizeof *keys);
    for (size_t i = 0; i < zr_taskset_count(h); i++) {
      keys[i] = malloc(64);
      problem_key(zr_taskset_get(h, i), keys[i], 64);
    }
    qsort(keys, zr_taskset_count(h), sizeof *keys, cmp_str);
    size_t d = 0;
    for (size_t i = 1; i < zr_taskset_count(h); i++) d += strcmp(keys[i - 1], keys[i]) == 0;
    CHECK_INT(d, 0);
    for (size_t i = 0; i < zr_taskset_count(h); i++) free(keys[i]);
    free(keys);
  }
  zr_taskset_free(&h);
}

static void test_determinism_and_errors(void) {
  const char *kinds[] = {"arith", "countdown"};
  for (int k = 0; k < 2; k++)
    for (int sp = 0; sp < 2; sp++) {
      zr_taskset *a = gen(kinds[k], 200, 77, 0, (zr_split)sp), *b = gen(kinds[k], 200, 77, 0, (zr_split)sp),
                 *c = gen(kinds[k], 200, 78, 0, (zr_split)sp);
      CHECK(a && b && c);
      if (a && b && c) {
        CHECK(same_sets(a, b));
        CHECK(!same_sets(a, c));
      }
      zr_taskset_free(&a);
      zr_taskset_free(&b);
      zr_taskset_free(&c);
    }
  zr_taskset *s = NULL;
  zr_taskset_new(&s);
  CHECK_INT(zr_taskgen("poetry", 1, 0, 0, ZR_SPLIT_TRAIN, s), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "unknown kind 'poetry'");
  CHECK_INT(zr_taskgen("arith", 1, 0, 31, ZR_SPLIT_TRAIN, s), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "arith difficulty 31");
  CHECK_INT(zr_taskgen("arith", 1, 0, -1, ZR_SPLIT_TRAIN, s), -EINVAL);
  CHECK_INT(zr_taskgen("countdown", 1, 0, 7, ZR_SPLIT_TRAIN, s), -EINVAL);
  CHECK_INT(zr_taskgen("countdown", 1, 0, 1, ZR_SPLIT_TRAIN, s), -EINVAL);
  CHECK_INT(zr_taskset_count(s), 0);
  /* the same call twice into one set collides on ids */
  CHECK_INT(zr_taskgen("arith", 2, 0, 2, ZR_SPLIT_TRAIN, s), 0);
  CHECK_INT(zr_taskgen("arith", 2, 0, 2, ZR_SPLIT_TRAIN, s), -EEXIST);
  zr_taskset_free(&s);
  zr_split sp;
  CHECK_INT(zr_split_parse("heldout", &sp), 0);
  CHECK_INT(sp, ZR_SPLIT_HELDOUT);
  CHECK_INT(zr_split_parse("train", &sp), 0);
  CHECK_INT(sp, ZR_SPLIT_TRAIN);
  CHECK_INT(zr_split_parse("dev", &sp), -EINVAL);
  /* tiny problem spaces still produce n tasks (repeats allowed once exhausted) */
  s = gen("arith", 100, 3, 1, ZR_SPLIT_TRAIN);
  CHECK(s && zr_taskset_count(s) == 100);
  zr_taskset_free(&s);
}

int main(void) {
  test_trace_example();
  test_arith();
  test_countdown();
  test_splits();
  test_determinism_and_errors();
  return TEST_DONE();
}
