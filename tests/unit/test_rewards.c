/* Unit tests for reward/rewards and reward/rewardjson: the format check (default R1 pattern and
 * a custom one, bounded on huge input), language share, DAPO's overlong penalty, countdown,
 * exact match, the weighted sum with its components, and the JSONL request/response used by
 * `zerorl verify`. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "reward/rewardjson.h"
#include "reward/rewards.h"
#include "tests/test.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fmt(const zr_format *f, const char *s) { return zr_format_check(f, s, strlen(s)); }

static void format_tests(void) {
  zr_format *f = NULL;
  CHECK_INT(zr_format_new(NULL, &f), 0);
  CHECK_INT(fmt(f, "<think>reason</think><answer>5</answer>"), 1);
  CHECK_INT(fmt(f, "  <think>a\nb\n</think>\n\n<answer>\n5\n</answer>\n"), 1);
  CHECK_INT(fmt(f, "<think>reason</think>"), 0);
  CHECK_INT(fmt(f, "<answer>5</answer>"), 0);
  CHECK_INT(fmt(f, "<think>a</think> text <answer>5</answer>"), 0);
  CHECK_INT(fmt(f, "<think>a</think><answer>5</answer> trailing"), 0);
  CHECK_INT(fmt(f, "<think>a<think>b</think></think><answer>5</answer>"), 0);
  CHECK_INT(fmt(f, "<think>a</think><answer>5</answer><answer>6</answer>"), 0);
  CHECK_INT(fmt(f, "<think>\xc3\xa9t\xc3\xa9 \xe6\x80\x9d\xe8\x80\x83</think><answer>5</answer>"), 1);
  CHECK_INT(fmt(f, "<think>\xff\xfe</think><answer>5</answer>"), 0); /* invalid UTF-8 */
  /* huge input: bounded time */
  size_t n = 4u << 20;
  char *big = malloc(n + 64);
  strcpy(big, "<think>");
  memset(big + 7, 'a', n);
  strcpy(big + 7 + n, "</think><answer>1</answer>");
  double t0 = now_s();
  int r = zr_format_check(f, big, strlen(big));
  double dt = now_s() - t0;
  fprintf(stderr, "format check over 4 MiB: %d in %.3f s\n", r, dt);
  CHECK_INT(r, 1);
  CHECK(dt < 3.0);
  free(big);
  zr_format_free(&f);
  CHECK(f == NULL);
  CHECK_INT(zr_format_new("^\\d+$", &f), 0);
  CHECK_INT(fmt(f, "123"), 1);
  CHECK_INT(fmt(f, "12a"), 0);
  zr_format_free(&f);
  CHECK_INT(zr_format_new("(unclosed", &f), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "format pattern");
  CHECK(f == NULL);
  /* catastrophic backtracking is cut by the match budget */
  CHECK_INT(zr_format_new("^(a+)+$", &f), 0);
  char evil[64];
  memset(evil, 'a', 40);
  strcpy(evil + 40, "b");
  t0 = now_s();
  r = fmt(f, evil);
  dt = now_s() - t0;
  fprintf(stderr, "catastrophic pattern: %d in %.3f s\n", r, dt);
  CHECK(r == 0 || r == -E2BIG);
  CHECK(dt < 2.0);
  zr_format_free(&f);
}

static double lang(const char *s, const char *code) {
  double share = -1;
  long letters = 0;
  if (zr_reward_language(s, strlen(s), code, &share, &letters) < 0) return -1;
  return share;
}

static void language_tests(void) {
  CHECK(fabs(lang("The answer is clearly five", "en") - 1.0) < 1e-12);
  CHECK(fabs(lang("\xe7\xad\x94\xe6\xa1\x88\xe6\x98\xaf", "zh") - 1.0) < 1e-12); /* 答案是 */
  CHECK(fabs(lang("\xe7\xad\x94\xe6\xa1\x88\xe6\x98\xaf", "en") - 0.0) < 1e-12);
  /* 答案 + "ab": 2 Han of 4 letters */
  CHECK(fabs(lang("\xe7\xad\x94\xe6\xa1\x88 ab", "zh") - 0.5) < 1e-12);
  /* variables and LaTeX commands are not words */
  CHECK(fabs(lang("\xe7\xad\x94\xe6\xa1\x88 x + y = \\frac{1}{2}", "zh") - 1.0) < 1e-12);
  CHECK(fabs(lang("\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", "ru") - 1.0) < 1e-12); /* привет */
  CHECK(fabs(lang("\xe3\x81\x93\xe3\x82\x8c\xe6\x97\xa5", "ja") - 1.0) < 1e-12);             /* これ日 */
  CHECK(fabs(lang("1234 + 5 = ?", "en") - 0.0) < 1e-12);
  double share;
  long letters = -1;
  CHECK_INT(zr_reward_language("12", 2, "en", &share, &letters), 0);
  CHECK_INT(letters, 0);
  CHECK_INT(zr_reward_language("x", 1, "klingon", &share, &letters), -EINVAL);
  size_t b, n;
  const char *c = "<think>reason here</think><answer>5</answer>";
  zr_reasoning_span(c, strlen(c), &b, &n);
  CHECK_INT(n, 11);
  CHECK(memcmp(c + b, "reason here", 11) == 0);
  const char *c2 = "thinking without tags <answer>5</answer>";
  zr_reasoning_span(c2, strlen(c2), &b, &n);
  CHECK_INT(b, 0);
  CHECK_INT(n, 22);
}

static void overlong_tests(void) {
  /* DAPO: L_max 20480, L_cache 4096 */
  CHECK(zr_reward_overlong(100, 20480, 4096) == 0.0);
  CHECK(zr_reward_overlong(16384, 20480, 4096) == 0.0);
  CHECK(fabs(zr_reward_overlong(18432, 20480, 4096) + 0.5) < 1e-12);
  CHECK(fabs(zr_reward_overlong(20480, 20480, 4096) + 1.0) < 1e-12);
  CHECK(zr_reward_overlong(20481, 20480, 4096) == -1.0);
  CHECK(zr_reward_overlong(1000000, 20480, 4096) == -1.0);
  CHECK(zr_reward_overlong(10, 8, 0) == -1.0);
  CHECK(zr_reward_overlong(8, 8, 0) == 0.0);
}

static int cd(const char *expr, const long *nums, int n, long target) {
  char why[160];
  int r = zr_countdown_check(expr, strlen(expr), nums, n, target, why, sizeof why);
  return r;
}

static void countdown_tests(void) {
  long n3[] = {3, 5, 7};
  CHECK_INT(cd("3*7+5", n3, 3, 26), 1);
  CHECK_INT(cd("(7 - 3) * 5", n3, 3, 20), 1);
  CHECK_INT(cd("(7-3)*5 = 20", n3, 3, 20), 1);
  CHECK_INT(cd("(7-3)*5 = 21", n3, 3, 20), 0);
  /* whitespace around the right-hand side does not count towards its length (fuzz_countdown) */
  CHECK_INT(cd("(7-3)*5 =                                    20   ", n3, 3, 20), 1);
  CHECK_INT(cd("(7-3)*5 = ", n3, 3, 20), 0);
  CHECK_INT(cd("(7-3)*5 = 2 0", n3, 3, 20), 0);
  CHECK_INT(cd("(7-3)*5 = 123456789012345678901234567890123", n3, 3, 20), 0);
  CHECK_INT(cd("7*5-3", n3, 3, 26), 0);        /* 32 */
  CHECK_INT(cd("3*7", n3, 3, 21), 0);          /* 5 unused */
  CHECK_INT(cd("3*7+5+5", n3, 3, 31), 0);      /* 5 twice */
  CHECK_INT(cd("3*7+6", n3, 3, 27), 0);        /* 6 not given */
  CHECK_INT(cd("-3+7*5", n3, 3, 32), 0);       /* unary minus */
  CHECK_INT(cd("3^7+5", n3, 3, 26), 0);        /* bad operator */
  CHECK_INT(cd("3*7+5)", n3, 3, 26), 0);
  CHECK_INT(cd("", n3, 3, 26), 0);
  long n4[] = {1, 2, 3, 4};
  long n4b[] = {1, 3, 4, 6};
  CHECK_INT(cd("6 / (1 - 3/4)", n4b, 4, 24), 1); /* exact rationals: 6/(1/4) */
  CHECK_INT(cd("4 / (3 - 3)", n4, 4, 0), 0);
  long n2[] = {6, 4};
  CHECK_INT(cd("6/4", n2, 2, 1), 0); /* 3/2, no truncation */
  char why[160];
  zr_countdown_check("3*7", 3, n3, 3, 21, why, sizeof why);
  CHECK_CONTAINS(why, "exactly once");
  /* deep nesting and long input are bounded */
  char deep[300];
  memset(deep, '(', 100);
  strcpy(deep + 100, "3");
  CHECK_INT(cd(deep, n3, 3, 3), 0);
}

static void exact_tests(void) {
  CHECK_INT(zr_exact_match("Paris", 5, " Paris\n", 7, 0), 1);
  CHECK_INT(zr_exact_match("paris", 5, "Paris", 5, 0), 0);
  CHECK_INT(zr_exact_match("paris", 5, "PARIS", 5, 1), 1);
  CHECK_INT(zr_exact_match("\xc3\x89t\xc3\xa9", 5, "\xc3\xa9T\xc3\xa9", 5, 1), 1); /* Été / éTé */
  CHECK_INT(zr_exact_match("\xd0\x9c\xd0\xb8\xd1\x80", 6, "\xd0\xbc\xd0\xb8\xd1\x80", 6, 1), 1); /* Мир */
  CHECK_INT(zr_exact_match("a b", 3, "ab", 2, 1), 0);
  CHECK_INT(zr_exact_match("", 0, "  ", 2, 0), 1);
}

static void scorer_tests(void) {
  zr_reward_config cfg;
  zr_reward_config_default(&cfg);
  cfg.w_format = 0.5;
  cfg.w_length = 1.0;
  cfg.w_language = 0.25;
  zr_reward_scorer *s = NULL;
  CHECK_INT(zr_reward_scorer_new(&cfg, &s), 0);
  zr_reward_task t = {.kind = ZR_TASK_MATH, .answer = "\\frac{1}{2}"};
  zr_reward_result r;
  const char *c = "<think>half of one</think><answer>0.5</answer>";
  CHECK_INT(zr_reward_score(s, &t, c, strlen(c), 18432, &r), 0);
  CHECK_INT(r.status, ZR_VERIFY_OK);
  CHECK_INT(r.correct, 1);
  CHECK_INT(r.n_components, 4);
  CHECK_STR(r.components[0].name, "accuracy");
  CHECK_STR(r.components[1].name, "format");
  CHECK_STR(r.components[2].name, "language");
  CHECK_STR(r.components[3].name, "length");
  CHECK(fabs(r.reward - (1.0 + 0.5 + 0.25 - 0.5)) < 1e-12);
  /* wrong answer, bad format, unknown length */
  const char *c2 = "I think it is \\boxed{0.6}";
  zr_reward_score(s, &t, c2, strlen(c2), -1, &r);
  CHECK_INT(r.correct, 0);
  CHECK_INT(r.status, ZR_VERIFY_OK);
  CHECK_INT(r.n_components, 3);
  CHECK_STR(r.components[1].status, "no_match");
  /* no answer */
  const char *c3 = "<think>hmm</think>";
  zr_reward_score(s, &t, c3, strlen(c3), -1, &r);
  CHECK_INT(r.status, ZR_VERIFY_NO_ANSWER);
  CHECK_STR(r.components[0].status, "no_answer");
  /* too large */
  zr_reward_task big = {.kind = ZR_TASK_MATH, .answer = "1"};
  const char *c4 = "\\boxed{10^{10^{10}}}";
  zr_reward_score(s, &big, c4, strlen(c4), -1, &r);
  CHECK_INT(r.status, ZR_VERIFY_TIMEOUT);
  /* exact, countdown, code */
  zr_reward_task e = {.kind = ZR_TASK_EXACT, .answer = "Paris"};
  const char *c5 = "<answer> Paris </answer>";
  zr_reward_score(s, &e, c5, strlen(c5), -1, &r);
  CHECK_INT(r.correct, 1);
  long nums[] = {3, 5, 7};
  zr_reward_task cdt = {.kind = ZR_TASK_COUNTDOWN, .numbers = nums, .n_numbers = 3, .target = 26};
  const char *c6 = "<think>try</think><answer>3*7+5</answer>";
  zr_reward_score(s, &cdt, c6, strlen(c6), -1, &r);
  CHECK_INT(r.correct, 1);
  zr_reward_task code = {.kind = ZR_TASK_CODE};
  zr_reward_score(s, &code, "x", 1, -1, &r);
  CHECK_INT(r.status, ZR_VERIFY_ERROR);
  CHECK_CONTAINS(r.detail, "code tasks not supported yet");
  zr_reward_scorer_free(&s);
  CHECK(s == NULL);
  /* bad configurations */
  cfg.format_pattern = "(";
  CHECK(zr_reward_scorer_new(&cfg, &s) < 0);
  cfg.format_pattern = NULL;
  snprintf(cfg.language, sizeof cfg.language, "xx");
  CHECK(zr_reward_scorer_new(&cfg, &s) < 0);
  CHECK(s == NULL);
}

static void json_tests(void) {
  zr_reward_config cfg;
  zr_reward_config_default(&cfg);
  zr_reward_scorer *s = NULL;
  CHECK_INT(zr_reward_scorer_new(&cfg, &s), 0);
  int ok;
  const char *l1 = "{\"task\": {\"id\": \"q1\", \"kind\": \"math\", \"answer\": \"18\"}, \"completion\": \"#### 18\"}";
  char *r1 = zr_reward_score_line(s, l1, strlen(l1), &ok);
  CHECK_INT(ok, 1);
  CHECK_STR(r1, "{\"id\":\"q1\",\"reward\":1.0,\"correct\":true,\"status\":\"ok\",\"components\":{\"accuracy\":{\"value\":1.0,"
                "\"weight\":1.0,\"status\":\"correct\"}},\"detail\":\"answer '18': string: identical text\"}");
  free(r1);
  const char *l2 = "{\"task\": {\"kind\": \"code\", \"tests\": {}}, \"completion\": \"x\"}";
  char *r2 = zr_reward_score_line(s, l2, strlen(l2), &ok);
  CHECK_INT(ok, 1);
  CHECK_CONTAINS(r2, "\"status\":\"error\"");
  CHECK_CONTAINS(r2, "code tasks not supported yet");
  free(r2);
  const char *l3 = "not json";
  char *r3 = zr_reward_score_line(s, l3, strlen(l3), &ok);
  CHECK_INT(ok, 0);
  CHECK_CONTAINS(r3, "\"status\":\"error\"");
  free(r3);
  const char *l4 = "{\"task\": {\"kind\": \"countdown\", \"numbers\": [1, \"x\"], \"target\": 3}, \"completion\": \"\"}";
  char *r4 = zr_reward_score_line(s, l4, strlen(l4), &ok);
  CHECK_INT(ok, 0);
  CHECK_CONTAINS(r4, "numbers");
  free(r4);
  const char *l5 = "{\"task\": {\"kind\": \"math\"}, \"completion\": \"\"}";
  char *r5 = zr_reward_score_line(s, l5, strlen(l5), &ok);
  CHECK_INT(ok, 0);
  CHECK_CONTAINS(r5, "answer");
  free(r5);
  const char *l6 = "{\"task\": {\"kind\": \"countdown\", \"numbers\": [3, 5, 7], \"target\": 26}, \"completion\": \"<answer>5+3*7</answer>\"}";
  char *r6 = zr_reward_score_line(s, l6, strlen(l6), &ok);
  CHECK_CONTAINS(r6, "\"correct\":true");
  free(r6);
  zr_reward_scorer_free(&s);
}

int main(void) {
  format_tests();
  language_tests();
  overlong_tests();
  countdown_tests();
  exact_tests();
  scorer_tests();
  json_tests();
  return TEST_DONE();
}
