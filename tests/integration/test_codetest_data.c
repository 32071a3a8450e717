/* test_codetest_data: the code-test harness on real data, in parallel jails.
 *   HumanEval: every canonical solution passes (164/164), and every solution whose body is
 *   replaced by `return None` fails.
 *   MBPP (sanitized, 427 tasks): every reference solution passes. Two need the harness to follow
 *   the original's loose scoping: MBPP/126 names its function `sum` (the entry point wins over the
 *   builtin, no other name may shadow one) and MBPP/596's tests use the solution's `import sys`
 *   (the checker imports its own sys). MBPP/123's reference takes ~11 s for one call on this
 *   machine, hence the generous per-call limit.
 * The data comes from $ZERORL_SHARED_DATA (default $ZERORL_SOURCE_DIR/../shared/data); the test
 * skips a set that is absent. The full sets take ~80 s on 2 busy cores with 4 slots, so ctest runs
 * every item; ZERORL_DATA_SUBSET=N runs every N-th item only (a deterministic subset, for quick
 * runs), ZERORL_DATA_SLOTS sets the number of concurrent evaluations (default 4). */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "reward/codetest.h"
#include "reward/sandbox.h"
#include "tests/test.h"

typedef struct {
  char name[64];
  char *code;
  json_t *tests;
  int expect_pass; /* 1: all tests must pass; 0: must not all pass */
  zr_codetest_result r;
  int rc;
} item;

static item *items;
static int n_items, cap_items;
static atomic_int next_item;
static zr_codetest_opts g_opts;

static item *add_item(void) {
  if (n_items == cap_items) {
    cap_items = cap_items ? cap_items * 2 : 256;
    items = realloc(items, (size_t)cap_items * sizeof *items);
  }
  item *it = &items[n_items++];
  memset(it, 0, sizeof *it);
  return it;
}

static char *dupcat(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *s = malloc(la + lb + 2);
  memcpy(s, a, la);
  s[la] = '\n';
  memcpy(s + la + 1, b, lb + 1);
  return s;
}

/* calls fn for every JSON object of a JSONL file; returns the count, -1 if the file is absent */
static int each_line(const char *path, void (*fn)(json_t *, int), int subset) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char *line = NULL;
  size_t cap = 0;
  int n = 0;
  while (getline(&line, &cap, f) > 0) {
    json_error_t err;
    json_t *o = json_loads(line, 0, &err);
    if (!o) continue;
    if (n % subset == 0) fn(o, n);
    n++;
    json_decref(o);
  }
  free(line);
  fclose(f);
  return n;
}

static void add_humaneval(json_t *o, int idx) {
  (void)idx;
  const char *id = json_string_value(json_object_get(o, "task_id"));
  const char *prompt = json_string_value(json_object_get(o, "prompt"));
  const char *sol = json_string_value(json_object_get(o, "canonical_solution"));
  const char *test = json_string_value(json_object_get(o, "test"));
  const char *entry = json_string_value(json_object_get(o, "entry_point"));
  /* the checker gets the prompt too: helpers the tests call (poly, encode_cyclic, ...) are then
   * the task's own, not the solution's; the prompt's stub of the entry point is replaced by the
   * proxy */
  char *check_code = dupcat(prompt, test);
  json_t *tests = json_pack("{s:s,s:s,s:s}", "type", "assert", "code", check_code, "entry_point", entry);
  free(check_code);
  item *it = add_item();
  snprintf(it->name, sizeof it->name, "%s", id);
  it->code = malloc(strlen(prompt) + strlen(sol) + 1);
  strcpy(it->code, prompt);
  strcat(it->code, sol);
  it->tests = tests;
  it->expect_pass = 1;
  it = add_item();
  snprintf(it->name, sizeof it->name, "%s (return None)", id);
  it->code = dupcat(prompt, "    return None\n");
  it->tests = json_incref(tests);
  it->expect_pass = 0;
}

/* the function the asserts call: the first `def NAME(` of the code that the tests call */
static void entry_point(const char *code, const char *tests, char *out, size_t cap) {
  out[0] = '\0';
  for (const char *p = code; (p = strstr(p, "def ")); p += 4) {
    if (p != code && p[-1] != '\n') continue;
    const char *s = p + 4, *e = s;
    while (*e == '_' || (*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') || (*e >= '0' && *e <= '9')) e++;
    if (*e != '(' || e == s || (size_t)(e - s) + 2 > cap) continue;
    char call[160];
    snprintf(call, sizeof call, "%.*s(", (int)(e - s), s);
    if (strstr(tests, call)) {
      snprintf(out, cap, "%.*s", (int)(e - s), s);
      return;
    }
  }
}

static void add_mbpp(json_t *o, int idx) {
  (void)idx;
  int task = (int)json_integer_value(json_object_get(o, "task_id"));
  const char *code = json_string_value(json_object_get(o, "code"));
  size_t len = 1;
  json_t *imports = json_object_get(o, "test_imports"), *list = json_object_get(o, "test_list"), *v;
  size_t i;
  json_array_foreach(imports, i, v) len += strlen(json_string_value(v)) + 1;
  json_array_foreach(list, i, v) len += strlen(json_string_value(v)) + 1;
  char *test = malloc(len);
  test[0] = '\0';
  json_array_foreach(imports, i, v) strcat(strcat(test, json_string_value(v)), "\n");
  json_array_foreach(list, i, v) strcat(strcat(test, json_string_value(v)), "\n");
  char entry[128];
  entry_point(code, test, entry, sizeof entry);
  item *it = add_item();
  snprintf(it->name, sizeof it->name, "MBPP/%d", task);
  it->code = strdup(code);
  it->tests = json_pack("{s:s,s:s,s:s}", "type", "assert", "code", test, "entry_point", entry);
  it->expect_pass = 1;
  free(test);
}

static void *worker(void *arg) {
  (void)arg;
  for (;;) {
    int i = atomic_fetch_add(&next_item, 1);
    if (i >= n_items) return NULL;
    item *it = &items[i];
    it->rc = zr_codetest_run(it->code, "python3", it->tests, &g_opts, &it->r);
  }
}

/* runs items [from, to) on `slots` threads; returns the wall seconds */
static double run_items(int from, int to, int slots) {
  atomic_store(&next_item, from);
  int saved = n_items;
  n_items = to;
  pthread_t th[64];
  uint64_t t0 = zr_clock_mono_ns();
  for (int k = 0; k < slots; k++) pthread_create(&th[k], NULL, worker, NULL);
  for (int k = 0; k < slots; k++) pthread_join(th[k], NULL);
  n_items = saved;
  return (double)(zr_clock_mono_ns() - t0) / 1e9;
}

static void report(const char *set, int from, int to, double secs) {
  int ok = 0, fail = 0, errors = 0, passes = 0, fails_expected = 0;
  double item_ms = 0;
  for (int i = from; i < to; i++) {
    item *it = &items[i];
    item_ms += it->r.wall_ms;
    if (it->rc < 0) errors++;
    int good = it->rc == 0 && (it->expect_pass ? it->r.all_passed : !it->r.all_passed);
    if (it->expect_pass) passes++;
    else fails_expected++;
    if (good) {
      ok++;
      continue;
    }
    fail++;
    fprintf(stderr, "  FAILED %s: expected %s, got %d/%d %s (rc %d %s)\n", it->name,
            it->expect_pass ? "all pass" : "a failure", it->r.n_passed, it->r.n_tests,
            zr_codetest_status_name(it->r.status), it->rc, it->r.detail);
    for (int c = 0; c < it->r.n_tests; c++)
      if (it->r.cases[c].status != ZR_CT_PASS)
        fprintf(stderr, "      test %d: %s %s\n", c, zr_codetest_status_name(it->r.cases[c].status), it->r.cases[c].detail);
  }
  fprintf(stderr, "%s: %d items (%d must pass, %d must fail): %d as expected, %d unexpected, %d sandbox errors; "
          "%.1f s wall, %.0f ms mean per item\n",
          set, to - from, passes, fails_expected, ok, fail, errors, secs, to > from ? item_ms / (to - from) : 0);
  CHECK_INT(fail, 0);
  CHECK_INT(errors, 0);
}

int main(void) {
  const char *data = getenv("ZERORL_SHARED_DATA");
  char dir[1024];
  if (data) snprintf(dir, sizeof dir, "%s", data);
  else snprintf(dir, sizeof dir, "%s/../shared/data", getenv("ZERORL_SOURCE_DIR") ? getenv("ZERORL_SOURCE_DIR") : ".");
  int subset = getenv("ZERORL_DATA_SUBSET") ? atoi(getenv("ZERORL_DATA_SUBSET")) : 1;
  if (subset < 1) subset = 1;
  int slots = getenv("ZERORL_DATA_SLOTS") ? atoi(getenv("ZERORL_DATA_SLOTS")) : 4;
  if (slots < 1 || slots > 64) slots = 4;
  zr_codetest_opts_init(&g_opts);
  g_opts.time_limit_s = 30; /* per call: MBPP/123's reference takes ~11 s for one call here */
  g_opts.total_time_s = 120;

  char path[1200];
  snprintf(path, sizeof path, "%s/humaneval/HumanEval.jsonl", dir);
  int he = each_line(path, add_humaneval, subset);
  int he_end = n_items;
  snprintf(path, sizeof path, "%s/mbpp/sanitized-mbpp.jsonl", dir);
  int mb = each_line(path, add_mbpp, subset);
  int mb_end = n_items;
  if (he < 0 && mb < 0) TEST_SKIP("no HumanEval or MBPP data under %s", dir);
  fprintf(stderr, "data: %s; every %d-th item; %d slots; cgroup %s\n", dir, subset, slots, zr_sandbox_cgroup_mode(NULL));
  if (he >= 0) {
    double s = run_items(0, he_end, slots);
    report("HumanEval", 0, he_end, s);
    int canonical = 0;
    for (int i = 0; i < he_end; i++)
      if (items[i].expect_pass && items[i].r.all_passed) canonical++;
    fprintf(stderr, "HumanEval canonical solutions passing: %d/%d\n", canonical, he_end / 2);
    if (subset == 1) CHECK_INT(canonical, 164);
  } else {
    fprintf(stderr, "SKIP part: HumanEval absent\n");
  }
  if (mb >= 0) {
    double s = run_items(he_end, mb_end, slots);
    report("MBPP sanitized", he_end, mb_end, s);
    int passing = 0;
    for (int i = he_end; i < mb_end; i++) passing += items[i].r.all_passed;
    fprintf(stderr, "MBPP reference solutions passing: %d/%d\n", passing, mb_end - he_end);
  } else {
    fprintf(stderr, "SKIP part: MBPP absent\n");
  }
  for (int i = 0; i < n_items; i++) {
    free(items[i].code);
    json_decref(items[i].tests);
    zr_codetest_result_release(&items[i].r);
  }
  free(items);
  return TEST_DONE();
}
