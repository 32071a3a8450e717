/* libFuzzer target for the math verifier: arbitrary bytes as a (prediction, gold) pair.
 *
 * The input is split at its first tab (no tab: the same text on both sides and against a fixed
 * gold). Each pair goes through the parser, zr_math_equal both ways, zr_verify_math with every
 * extractor, and the countdown and language rewards. Invariants beyond "no crash, no leak, no
 * sanitizer report": every call returns within 2 s (tight limits: the bounds must hold, not
 * the fuzzer's timeout), statuses are valid, equal is only set with status OK, and a text always
 * equals itself unless it is unusable (parse error, bound hit). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reward/mathequal.h"
#include "reward/rewards.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void check_verdict(const zr_math_verdict *v) {
  if (v->status < ZR_VERIFY_OK || v->status > ZR_VERIFY_ERROR) abort();
  if (v->equal && v->status != ZR_VERIFY_OK) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size + 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  buf[size] = '\0';
  zr_math_limits lim;
  zr_math_limits_default(&lim);
  lim.max_len = 512;
  lim.max_nodes = 512;
  lim.max_steps = 20000;
  lim.max_bits = 4096;
  lim.max_exponent = 5000;
  lim.max_input = 4096;
  double t0 = now_s();

  char *tab = memchr(buf, '\t', size);
  const char *pred = buf, *gold = buf;
  size_t plen = size, glen = size;
  if (tab) {
    plen = (size_t)(tab - buf);
    gold = tab + 1;
    glen = size - plen - 1;
  }
  zr_math_verdict v;
  zr_math_equal_n(pred, plen, gold, glen, &lim, &v);
  check_verdict(&v);
  zr_math_equal_n(gold, glen, pred, plen, &lim, &v);
  check_verdict(&v);
  /* a text equals itself, unless it is unusable */
  zr_math_equal_n(pred, plen, pred, plen, &lim, &v);
  check_verdict(&v);
  if (v.status == ZR_VERIFY_OK && !v.equal && strcmp(v.method, "parse") != 0 && memchr(pred, '\0', plen) == NULL) {
    fprintf(stderr, "self-inequality: '%.*s' (%s: %s)\n", (int)plen, pred, v.method, v.detail);
    abort();
  }
  zr_math_equal_n(pred, plen, "\\frac{1}{2}", 11, &lim, &v);
  check_verdict(&v);
  zr_mexpr *e = NULL;
  if (zr_math_parse(pred, plen, &lim, &e) == 0) {
    char out[256];
    zr_mnode_print(zr_mexpr_root(e), out, sizeof out);
  }
  zr_mexpr_free(&e);
  for (int ex = ZR_EXTRACT_AUTO; ex <= ZR_EXTRACT_ANSWER_IS; ex++) {
    zr_verify_math(buf, size, "42", (zr_extractor)ex, &lim, &v);
    check_verdict(&v);
  }
  long nums[] = {3, 5, 7, 11};
  char why[128];
  (void)zr_countdown_check(pred, plen, nums, 4, 26, why, sizeof why);
  double share;
  long letters;
  (void)zr_reward_language(buf, size, "zh", &share, &letters);
  if (share < 0 || share > 1) abort();
  double dt = now_s() - t0;
  if (dt > 2.0) {
    fprintf(stderr, "slow input: %.3f s for %zu bytes\n", dt, size);
    abort();
  }
  free(buf);
  return 0;
}
