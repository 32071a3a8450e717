/* Unit tests of the simulated fleet's draws (common/simdist.h) and the actor's simulated engine
 * (actor/sim_engine.h): length distributions (mean, bounds, shape), admission into slots like
 * the model engine (FIFO, partial admission, pause), wall-clock finishing, valid tokens and
 * log-probs, EOS / LENGTH finishes, per-token versions across a version change, cancel. */
#include <math.h>
#include <stdbool.h>
#include <unistd.h>

#include "actor/sim_engine.h"
#include "common/clock.h"
#include "tests/test.h"

static void test_dist(void) {
  zr_simrng r;
  zr_simrng_seed(&r, 1);
  const int n = 200000, max = 64;
  double mean = 24;
  double s_exp = 0, s_uni = 0;
  int at_max = 0, lo = max, hi = 0;
  for (int i = 0; i < n; i++) {
    int e = zr_simdist_tokens(ZR_SIMDIST_EXPONENTIAL, mean, max, &r);
    int u = zr_simdist_tokens(ZR_SIMDIST_UNIFORM, mean, max, &r);
    CHECK(e >= 1 && e <= max);
    CHECK(u >= 1 && u <= 2 * (int)mean - 1);
    s_exp += e;
    s_uni += u;
    at_max += e == max;
    if (u < lo) lo = u;
    if (u > hi) hi = u;
  }
  double want = 0; /* E[min(floor(Exp) + 1, max)] */
  for (int k = 1; k <= max; k++) want += exp(-(double)(k - 1) / mean);
  fprintf(stderr, "exponential: mean %.3f (want %.3f), at max %.4f (want %.4f); uniform mean %.3f in %d..%d\n",
          s_exp / n, want, (double)at_max / n, exp(-(max - 1) / mean), s_uni / n, lo, hi);
  CHECK(fabs(s_exp / n - want) < 0.01 * want);
  CHECK(fabs((double)at_max / n - exp(-(max - 1) / mean)) < 0.005);
  CHECK(fabs(s_uni / n - mean) < 0.01 * mean);
  CHECK_INT(lo, 1);
  CHECK_INT(hi, 2 * (int)mean - 1);
  CHECK_INT(zr_simdist_tokens(ZR_SIMDIST_FIXED, 7.4, 100, &r), 7);
  CHECK_INT(zr_simdist_tokens(ZR_SIMDIST_FIXED, 700, 100, &r), 100);
  for (int i = 0; i < 1000; i++) {
    float lp = zr_simdist_logprob(&r);
    CHECK(isfinite(lp) && lp <= 0 && lp >= -2.02f);
    double j = zr_simdist_jitter_ms(10, &r);
    CHECK(j >= 5 && j <= 15);
    CHECK(zr_simrng_below(&r, 7) < 7);
  }
  /* same seed, same stream; another seed, another stream */
  zr_simrng a, b, c;
  zr_simrng_seed(&a, 42);
  zr_simrng_seed(&b, 42);
  zr_simrng_seed(&c, 43);
  CHECK(zr_simrng_next(&a) == zr_simrng_next(&b));
  CHECK(zr_simrng_next(&a) != zr_simrng_next(&c));
}

static zr_simeng_cfg base_cfg(void) {
  zr_simeng_cfg c = {.n_slots = 4, .vocab = 50, .eos_ids = {7}, .n_eos = 1, .dist = ZR_SIMDIST_EXPONENTIAL,
                     .tokens_mean = 10, .tokens_max = 30, .tokens_per_s = 1000, .seed = 5, .initial_version = 3};
  return c;
}

static zr_engine_request req(uint64_t id, int n, int max_new, const int32_t *prompt) {
  zr_engine_request r = {.req_id = id, .prompt = prompt, .prompt_len = 3, .n_samples = n, .max_new_tokens = max_new};
  return r;
}

/* Steps until nothing runs (bounded); returns the outputs checked, per request id 1..4 counted. */
static int drain(zr_simeng *e, int counts[8], int *eos, int *length, uint64_t vmin_want, uint64_t vmax_want) {
  int got = 0;
  uint64_t deadline = zr_clock_mono_ms() + 5000;
  for (;;) {
    int n = zr_simeng_step(e, zr_clock_mono_ns());
    zr_engine_output o;
    while (zr_simeng_poll(e, &o) == 1) {
      got++;
      if (o.req_id < 8) counts[o.req_id]++;
      CHECK(o.n_tokens >= 0 && o.n_tokens <= 30);
      CHECK(o.text && strlen(o.text) == (size_t)o.n_tokens);
      for (int i = 0; i < o.n_tokens; i++) {
        CHECK(o.tokens[i] >= 0 && o.tokens[i] < 50);
        CHECK(isfinite(o.logprobs[i]) && o.logprobs[i] <= 0);
        CHECK(o.versions[i] >= vmin_want && o.versions[i] <= vmax_want);
        if (i < o.n_tokens - 1) CHECK(o.tokens[i] != 7); /* no eos inside */
        if (i > 0) CHECK(o.versions[i] >= o.versions[i - 1]);
      }
      if (o.finish == ZR_ENGINE_FINISH_EOS) {
        (*eos)++;
        CHECK(o.n_tokens >= 1 && o.tokens[o.n_tokens - 1] == 7);
      } else {
        (*length)++;
      }
    }
    zr_engine_stats_t st;
    zr_simeng_stats(e, &st);
    if (n == 0 && st.queued_samples == 0) break;
    if (zr_clock_mono_ms() > deadline) {
      CHECK(!"drain timed out");
      break;
    }
    uint64_t due = zr_simeng_next_due_ns(e), now = zr_clock_mono_ns();
    if (due > now) usleep((useconds_t)((due - now) / 1000 + 1));
  }
  return got;
}

static void test_engine(void) {
  zr_simeng_cfg cfg = base_cfg();
  zr_simeng *e = NULL;
  CHECK_INT(zr_simeng_new(&e, &cfg), 0);
  int32_t prompt[3] = {1, 2, 3}, bad_prompt[3] = {1, 2, 50};
  zr_engine_request r1 = req(1, 6, 30, prompt), r2 = req(2, 2, 5, prompt), rb = req(9, 1, 5, bad_prompt);
  CHECK_INT(zr_simeng_submit(e, &r1), 0);
  CHECK_INT(zr_simeng_submit(e, &r2), 0);
  CHECK(zr_simeng_submit(e, &rb) < 0); /* prompt token outside the vocabulary */
  CHECK(zr_simeng_submit(e, &r1) < 0); /* id already queued */
  /* partial admission: 4 slots, the first request takes all of them */
  CHECK_INT(zr_simeng_step(e, zr_clock_mono_ns()), 4);
  zr_engine_stats_t st;
  zr_simeng_stats(e, &st);
  CHECK_INT(st.active, 4);
  CHECK_INT(st.queued_samples, 4);
  CHECK_INT(st.queued_requests, 2);
  CHECK(zr_simeng_next_due_ns(e) > 0);
  zr_simeng_set_version(e, 4); /* tokens after this point carry version 4 */
  int counts[8] = {0}, eos = 0, length = 0;
  uint64_t t0 = zr_clock_mono_ms();
  CHECK_INT(drain(e, counts, &eos, &length, 3, 4), 8);
  CHECK_INT(counts[1], 6);
  CHECK_INT(counts[2], 2);
  CHECK(eos > 0);
  fprintf(stderr, "engine: 8 samples in %llu ms, %d eos, %d length\n", (unsigned long long)(zr_clock_mono_ms() - t0),
          eos, length);

  /* paused admission, then cancel of a queued and a running request (slow samples: none may
   * finish between the steps) */
  zr_simeng_free(&e);
  cfg.tokens_per_s = 1;
  CHECK_INT(zr_simeng_new(&e, &cfg), 0);
  zr_simeng_set_version(e, 4);
  zr_simeng_set_admit(e, false);
  zr_engine_request r3 = req(3, 3, 30, prompt), r4 = req(4, 2, 30, prompt);
  CHECK_INT(zr_simeng_submit(e, &r3), 0);
  CHECK_INT(zr_simeng_step(e, zr_clock_mono_ns()), 0);
  zr_simeng_set_admit(e, true);
  CHECK_INT(zr_simeng_step(e, zr_clock_mono_ns()), 3);
  CHECK_INT(zr_simeng_submit(e, &r4), 0);
  CHECK_INT(zr_simeng_step(e, zr_clock_mono_ns()), 4); /* one sample of r4 in the last slot */
  CHECK_INT(zr_simeng_cancel(e, 3), 3);
  CHECK_INT(zr_simeng_cancel(e, 4), 2);
  CHECK_INT(zr_simeng_cancel(e, 99), 0);
  zr_simeng_stats(e, &st);
  CHECK_INT(st.active, 0);
  CHECK_INT(st.queued_samples, 0);
  memset(counts, 0, sizeof counts);
  CHECK_INT(drain(e, counts, &eos, &length, 4, 4), 0);
  zr_simeng_free(&e);
  cfg.tokens_per_s = 1000;
  CHECK_INT(zr_simeng_new(&e, &cfg), 0);
  zr_simeng_set_version(e, 4);

  /* max_new_tokens caps the length (LENGTH); 0 finishes at once with no tokens */
  zr_engine_request r5 = req(5, 4, 2, prompt), r6 = req(6, 1, 0, prompt);
  CHECK_INT(zr_simeng_submit(e, &r5), 0);
  CHECK_INT(zr_simeng_submit(e, &r6), 0);
  eos = length = 0;
  memset(counts, 0, sizeof counts);
  CHECK_INT(drain(e, counts, &eos, &length, 4, 4), 5);
  CHECK(length >= 1);
  zr_simeng_free(&e);
  CHECK(e == NULL);

  /* timing: 4 slots at 500 tokens/s, fixed 25-token samples: 8 samples = 2 waves of 50 ms */
  cfg.dist = ZR_SIMDIST_FIXED;
  cfg.tokens_mean = 25;
  cfg.tokens_per_s = 500;
  CHECK_INT(zr_simeng_new(&e, &cfg), 0);
  zr_engine_request r7 = req(7, 8, 30, prompt);
  CHECK_INT(zr_simeng_submit(e, &r7), 0);
  t0 = zr_clock_mono_ms();
  memset(counts, 0, sizeof counts);
  CHECK_INT(drain(e, counts, &eos, &length, 3, 3), 8);
  uint64_t took = zr_clock_mono_ms() - t0;
  fprintf(stderr, "timing: 8 fixed samples of 25 tokens at 500 tokens/s on 4 slots took %llu ms (want ~100)\n",
          (unsigned long long)took);
  CHECK(took >= 95 && took < 1000);
  zr_simeng_free(&e);

  /* bad configurations */
  cfg = base_cfg();
  cfg.tokens_per_s = 0;
  CHECK(zr_simeng_new(&e, &cfg) < 0 && e == NULL);
  cfg = base_cfg();
  cfg.eos_ids[0] = 50;
  CHECK(zr_simeng_new(&e, &cfg) < 0 && e == NULL);
}

int main(void) {
  test_dist();
  test_engine();
  return TEST_DONE();
}
