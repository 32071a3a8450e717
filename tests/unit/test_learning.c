/* Learning test for learner/trainer: does the whole loop (sample with zr_tf_generate at
 * temperature 1 with behaviour log-probs, reward, zr_trainer_rl_step with GRPO) actually learn?
 *
 * A tiny random model (vocab 16, hidden 32, 2 layers) and 4 prompts of 3 tokens; each step samples
 * G = 8 completions of 3 tokens per prompt. Reward 1 when the first completion token is TARGET
 * (initially about 1/16 likely), else 0. The expected reward (mean over the prompts of
 * p(TARGET | prompt), computed exactly by a forward) must start below 0.2 and rise above 0.8 within
 * the step budget; with the rewards negated it must stay below 0.2 (and fall). SFT: on a synthetic
 * copy task (completion = the prompt's first two tokens shifted by 8) the held-out loss must fall
 * to less than half its initial value. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "learner/trainer.h"
#include "model/backend.h"
#include "model/transformer.h"
#include "tests/test.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLOW_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLOW_BUILD 1
#endif
#endif
#ifndef SLOW_BUILD
#define SLOW_BUILD 0
#endif

#define V 16
#define NP 4
#define G 8
#define PL 3
#define CL 3
#define TARGET 5

static zr_backend *be;

static zr_tf *tiny_model(uint64_t seed) {
  zr_model_config c;
  memset(&c, 0, sizeof c);
  c.arch = ZR_ARCH_QWEN2;
  c.vocab_size = V;
  c.hidden_size = 32;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 8;
  c.intermediate_size = 64;
  c.max_position_embeddings = 64;
  c.rope_theta = 10000;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = false;
  c.attention_bias = true;
  c.bos_token_id = -1;
  c.torch_dtype = ZR_DT_F32;
  zr_tf *m = NULL;
  if (zr_tf_new(&m, &c, be) || zr_tf_init_random(m, seed, 0.02f)) {
    fprintf(stderr, "tiny model: %s\n", zr_errmsg());
    exit(1);
  }
  return m;
}

static const int prompts[NP][PL] = {{1, 2, 3}, {4, 7, 0}, {9, 9, 2}, {12, 3, 8}};

/* mean over the prompts of p(TARGET | prompt) */
static double expected_reward(zr_tf *m) {
  int tokens[NP * PL], targets[NP * PL], lens[NP];
  float lp[NP * PL];
  for (int p = 0; p < NP; p++) {
    lens[p] = PL;
    for (int k = 0; k < PL; k++) tokens[p * PL + k] = prompts[p][k], targets[p * PL + k] = -1;
    targets[p * PL + PL - 1] = TARGET;
  }
  zr_tf_batch b = {.n_seqs = NP, .seq_lens = lens, .tokens = tokens, .targets = targets};
  zr_tf_outputs o = {.logprobs = lp};
  if (zr_tf_forward(m, &b, &o)) {
    fprintf(stderr, "forward: %s\n", zr_errmsg());
    exit(1);
  }
  double s = 0;
  for (int p = 0; p < NP; p++) s += exp(lp[p * PL + PL - 1]);
  return s / NP;
}

/* Runs GRPO for at most max_steps; returns the expected reward at the end (stops early once it
 * passes stop_above). sign = -1 negates the rewards. */
static double run_rl(double sign, int max_steps, double stop_above, double *start, int *steps_used) {
  zr_tf *m = tiny_model(7);
  zr_trainer_cfg cfg = zr_trainer_cfg_defaults();
  cfg.lr = zr_lr_schedule_make(ZR_LR_CONSTANT, 1e-2);
  cfg.adamw.beta2 = 0.99;
  cfg.max_grad_norm = 1.0;
  cfg.loss.eps_high = 0.28;
  zr_trainer *t = NULL;
  if (zr_trainer_new(&t, m, NULL, &cfg)) {
    fprintf(stderr, "trainer: %s\n", zr_errmsg());
    exit(1);
  }
  *start = expected_reward(m);
  int ptoks[NP * G * PL], plens[NP * G], out[NP * G * CL];
  float lps[NP * G * CL];
  zr_gen_result res[NP * G];
  uint64_t ids[NP * G];
  for (int i = 0; i < NP * G; i++) {
    plens[i] = PL;
    for (int k = 0; k < PL; k++) ptoks[i * PL + k] = prompts[i / G][k];
  }
  int32_t p32[NP * G * PL], c32[NP * G * CL];
  for (int i = 0; i < NP * G * PL; i++) p32[i] = ptoks[i];
  double er = *start;
  int step;
  for (step = 0; step < max_steps && er <= stop_above; step++) {
    zr_gen_config g;
    memset(&g, 0, sizeof g);
    g.max_new_tokens = CL;
    g.sampling = (zr_sampling){.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f};
    g.seed = 1234;
    for (int i = 0; i < NP * G; i++) ids[i] = (uint64_t)step * NP * G + (uint64_t)i;
    CHECK_INT(zr_tf_generate(m, NULL, NP * G, plens, ptoks, ids, &g, out, lps, res), 0);
    zr_rl_sample s[NP * G];
    for (int i = 0; i < NP * G; i++) {
      CHECK_INT(res[i].n_tokens, CL);
      for (int k = 0; k < CL; k++) c32[i * CL + k] = out[i * CL + k];
      double r = out[i * CL] == TARGET ? 1.0 : 0.0;
      s[i] = (zr_rl_sample){p32 + i * PL, PL, c32 + i * CL, CL, lps + i * CL, sign * r, i / G};
    }
    zr_step_metrics sm;
    CHECK_INT(zr_trainer_rl_step(t, s, NP * G, &sm), 0);
    er = expected_reward(m);
  }
  *steps_used = step;
  zr_trainer_free(&t);
  zr_tf_free(&m);
  return er;
}

/* synthetic copy task: completion = (p0 + 8, p1 + 8) for a prompt (p0, p1, p2) of tokens < 8 */
static void make_sft(uint64_t *st, int n, int32_t *p, int32_t *c, zr_sft_sample *s) {
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < 3; k++) {
      *st = *st * 6364136223846793005ull + 1442695040888963407ull;
      p[i * 3 + k] = (int32_t)((*st >> 33) % 8);
    }
    c[i * 2] = p[i * 3] + 8;
    c[i * 2 + 1] = p[i * 3 + 1] + 8;
    s[i] = (zr_sft_sample){p + i * 3, 3, c + i * 2, 2};
  }
}

static void test_sft(int steps) {
  zr_tf *m = tiny_model(11);
  zr_trainer_cfg cfg = zr_trainer_cfg_defaults();
  cfg.lr = zr_lr_schedule_make(ZR_LR_COSINE, 1e-2);
  cfg.lr.warmup_steps = 5;
  cfg.lr.total_steps = steps;
  cfg.lr.min_lr_ratio = 0.1;
  zr_trainer *t = NULL;
  CHECK_INT(zr_trainer_new(&t, m, NULL, &cfg), 0);
  enum { NTRAIN = 32, NHELD = 32 };
  int32_t hp[NHELD * 3], hc[NHELD * 2], tp[NTRAIN * 3], tc[NTRAIN * 2];
  zr_sft_sample held[NHELD], tr[NTRAIN];
  uint64_t st = 99;
  make_sft(&st, NHELD, hp, hc, held);
  double l0, l1;
  CHECK_INT(zr_trainer_sft_loss(t, held, NHELD, &l0), 0);
  for (int k = 0; k < steps; k++) {
    make_sft(&st, NTRAIN, tp, tc, tr); /* fresh data every step */
    zr_step_metrics sm;
    CHECK_INT(zr_trainer_sft_step(t, tr, NTRAIN, &sm), 0);
  }
  CHECK_INT(zr_trainer_sft_loss(t, held, NHELD, &l1), 0);
  fprintf(stderr, "  sft held-out loss %.4f -> %.4f in %d steps\n", l0, l1, steps);
  CHECK(l1 < 0.5 * l0);
  zr_trainer_free(&t);
  zr_tf_free(&m);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void) {
  if (zr_backend_cpu_new(&be, 1)) {
    fprintf(stderr, "cpu backend: %s\n", zr_errmsg());
    return 1;
  }
  const int rl_steps = SLOW_BUILD ? 60 : 80, sft_steps = SLOW_BUILD ? 150 : 200;
  double t0 = now(), start;
  int used;
  double up = run_rl(1.0, rl_steps, 0.8, &start, &used);
  fprintf(stderr, "  GRPO: expected reward %.3f -> %.3f in %d steps (%.2f s)\n", start, up, used, now() - t0);
  CHECK(start < 0.2);
  CHECK(up > 0.8);
  t0 = now();
  double down = run_rl(-1.0, used > 20 ? used : 20, 2.0, &start, &used);
  fprintf(stderr, "  GRPO, rewards negated: expected reward %.3f -> %.3f in %d steps (%.2f s)\n", start, down, used,
          now() - t0);
  CHECK(down < 0.2);
  CHECK(down < start);
  t0 = now();
  test_sft(sft_steps);
  fprintf(stderr, "  sft: %.2f s\n", now() - t0);
  zr_backend_free(&be);
  return TEST_DONE();
}
