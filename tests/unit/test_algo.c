/* Unit test for learner/algo: advantages of every kind on a table of groups (values worked out by
 * hand, all-equal and single-sample groups exactly 0, float-noise groups exactly 0, bad group
 * tables refused), the per-token loss on a table of single-token cases (clip low/high, dual clip,
 * IS cap, each KL estimator), the three aggregations, micro-batch normalisers adding up, and
 * dL/dlogp against central finite differences for every combination of aggregation, GSPO, dual
 * clip, IS and KL estimator. Parse/name round trips. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "learner/algo.h"
#include "tests/test.h"

#define CLOSE(a, b, tol)                                                                                \
  do {                                                                                                  \
    double zr_x_ = (a), zr_y_ = (b);                                                                    \
    zr_test_checks++;                                                                                   \
    if (!(fabs(zr_x_ - zr_y_) <= (tol))) {                                                              \
      zr_test_failures++;                                                                               \
      fprintf(stderr, "FAIL %s:%d: %s ~ %s (%.10g vs %.10g)\n", __FILE__, __LINE__, #a, #b, zr_x_, zr_y_); \
    }                                                                                                   \
  } while (0)

/* ---- advantages ---------------------------------------------------------------------------- */

typedef struct {
  const char *name;
  zr_adv_kind kind;
  int n, n_groups;
  double r[12];
  int gs[5];
  double want[12];
} adv_case;

static void test_advantages(void) {
  const double e = 1e-4;
  const double s4 = 0.5; /* sample std of {1,0,0,0} */
  const double s2 = sqrt(0.5); /* sample std of {1,0} */
  const adv_case cases[] = {
      {"grpo 1 of 4", ZR_ADV_GRPO, 4, 1, {1, 0, 0, 0}, {0, 4},
       {0.75 / (s4 + e), -0.25 / (s4 + e), -0.25 / (s4 + e), -0.25 / (s4 + e)}},
      {"grpo two groups + all-equal", ZR_ADV_GRPO, 7, 3, {1, 0, 5, 5, 5, 2, 0}, {0, 2, 5, 7},
       {0.5 / (s2 + e), -0.5 / (2 * 0 + s2 + e), 0, 0, 0, 1 / (sqrt(2) + e), -1 / (sqrt(2) + e)}},
      {"grpo singleton", ZR_ADV_GRPO, 3, 2, {1, 0, 1}, {0, 1, 3}, {0, -0.5 / (s2 + e), 0.5 / (s2 + e)}},
      {"dr_grpo", ZR_ADV_DR_GRPO, 4, 1, {1, 0, 0, 0}, {0, 4}, {0.75, -0.25, -0.25, -0.25}},
      {"dr_grpo all equal", ZR_ADV_DR_GRPO, 3, 1, {0.3, 0.3, 0.3}, {0, 3}, {0, 0, 0}},
      {"rloo", ZR_ADV_RLOO, 4, 1, {1, 0, 0, 0}, {0, 4}, {1, -1.0 / 3, -1.0 / 3, -1.0 / 3}},
      {"rloo 3", ZR_ADV_RLOO, 3, 1, {2, 1, 0}, {0, 3}, {1.5, 0, -1.5}},
      /* group-centred: {.5,-.5} {0,0} {.5,.5,-.5,-.5}: batch pop std over the 6 informative = .5 */
      {"reinforce_pp", ZR_ADV_REINFORCE_PP, 8, 3, {1, 0, 7, 7, 1, 1, 0, 0}, {0, 2, 4, 8},
       {0.5 / (0.5 + e), -0.5 / (0.5 + e), 0, 0, 0.5 / (0.5 + e), 0.5 / (0.5 + e), -0.5 / (0.5 + e),
        -0.5 / (0.5 + e)}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const adv_case *k = &cases[c];
    double out[12];
    for (int i = 0; i < 12; i++) out[i] = 99;
    int rc = zr_advantages(k->kind, k->r, k->n, k->gs, k->n_groups, e, out);
    CHECK_INT(rc, 0);
    for (int i = 0; i < k->n; i++) {
      if (fabs(out[i] - k->want[i]) > 1e-12) fprintf(stderr, "  case %s, sample %d\n", k->name, i);
      CLOSE(out[i], k->want[i], 1e-12);
    }
  }
  /* float noise: 0.1 + 0.2 vs 0.3 differ in the last bit; the group must still be exactly 0 */
  {
    double r[3] = {0.1 + 0.2, 0.3, 0.3}, out[3];
    int gs[2] = {0, 3};
    for (int kind = 0; kind < ZR_ADV_KIND_COUNT; kind++) {
      CHECK_INT(zr_advantages((zr_adv_kind)kind, r, 3, gs, 1, 1e-4, out), 0);
      for (int i = 0; i < 3; i++) CHECK(out[i] == 0.0);
    }
    CHECK(!zr_group_informative(r, 3));
    double r2[2] = {0, 1};
    CHECK(zr_group_informative(r2, 2));
    CHECK(!zr_group_informative(r2, 1));
  }
  /* bad tables */
  {
    double r[4] = {0, 1, 0, 1}, out[4];
    int bad1[3] = {0, 2, 3}; /* does not end at n */
    int bad2[3] = {0, 2, 2}; /* empty group */
    int bad3[3] = {1, 2, 4}; /* does not start at 0 */
    CHECK_INT(zr_advantages(ZR_ADV_GRPO, r, 4, bad1, 2, 1e-4, out), -EINVAL);
    CHECK_CONTAINS(zr_errmsg(), "group_start");
    CHECK_INT(zr_advantages(ZR_ADV_GRPO, r, 4, bad2, 2, 1e-4, out), -EINVAL);
    CHECK_INT(zr_advantages(ZR_ADV_GRPO, r, 4, bad3, 2, 1e-4, out), -EINVAL);
    int ok[3] = {0, 2, 4};
    CHECK_INT(zr_advantages(ZR_ADV_GRPO, r, 4, ok, 2, -1, out), -EINVAL);
    double rn[4] = {0, NAN, 0, 1};
    CHECK_INT(zr_advantages(ZR_ADV_GRPO, rn, 4, ok, 2, 1e-4, out), -EINVAL);
  }
}

/* ---- single-token loss table ----------------------------------------------------------------- */

typedef struct {
  const char *name;
  double adv, ratio;      /* logp_old = logp - log(ratio) */
  double behav_gap;       /* logp_old - logp_behav */
  double ref_gap;         /* logp_ref - logp */
  double eps_low, eps_high, dual, is_cap;
  zr_kl_kind kl;
  double beta;
  double want_loss, want_grad; /* dL/dlogp */
  int which;                   /* 1 low, 2 high, 3 dual */
} tok_case;

static void test_token_table(void) {
  const double d = 0.3, k3 = exp(d) - d - 1;
  const tok_case cases[] = {
      {"in range A>0", 1, 1.1, 0, 0, 0.2, 0.28, 0, 0, ZR_KL_NONE, 0, -1.1, -1.1, 0},
      {"clip high", 1, 1.5, 0, 0, 0.2, 0.28, 0, 0, ZR_KL_NONE, 0, -1.28, 0, 2},
      {"high not binding for A<0", -1, 1.5, 0, 0, 0.2, 0.28, 0, 0, ZR_KL_NONE, 0, 1.5, 1.5, 0},
      {"clip low A<0", -1, 0.5, 0, 0, 0.2, 0.28, 0, 0, ZR_KL_NONE, 0, 0.8, 0, 1},
      {"low not binding for A>0", 2, 0.5, 0, 0, 0.2, 0.28, 0, 0, ZR_KL_NONE, 0, -1.0, -1.0, 0},
      {"dual clip binds", -1, 5, 0, 0, 0.2, 0.28, 3, 0, ZR_KL_NONE, 0, 3, 0, 3},
      {"dual clip not binding", -1, 2, 0, 0, 0.2, 0.28, 3, 0, ZR_KL_NONE, 0, 2, 2, 0},
      {"IS capped", 1, 1.0, log(3.0), 0, 0.2, 0.2, 0, 2, ZR_KL_NONE, 0, -2, -2, 0},
      {"IS below cap", 1, 1.0, log(1.5), 0, 0.2, 0.2, 0, 2, ZR_KL_NONE, 0, -1.5, -1.5, 0},
      {"IS off", 1, 1.0, log(3.0), 0, 0.2, 0.2, 0, 0, ZR_KL_NONE, 0, -1, -1, 0},
      {"k1", 0, 1, 0, d, 0.2, 0.2, 0, 0, ZR_KL_K1, 0.1, 0.1 * -d, 0.1, 0},
      {"k2", 0, 1, 0, d, 0.2, 0.2, 0, 0, ZR_KL_K2, 0.1, 0.1 * 0.5 * d * d, 0.1 * -d, 0},
      {"k3", 0, 1, 0, d, 0.2, 0.2, 0, 0, ZR_KL_K3, 0.1, 0.1 * k3, 0.1 * (1 - exp(d)), 0},
      {"k3 + pg, KL not IS-weighted", 1, 1, log(3.0), d, 0.2, 0.2, 0, 2, ZR_KL_K3, 0.1, -2 + 0.1 * k3,
       -2 + 0.1 * (1 - exp(d)), 0},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const tok_case *k = &cases[c];
    float lp = -1.25f;
    float old = (float)(lp - log(k->ratio));
    float beh = (float)(old - k->behav_gap);
    float ref = (float)(lp + k->ref_gap);
    zr_loss_cfg cfg = zr_loss_cfg_defaults();
    cfg.eps_low = k->eps_low, cfg.eps_high = k->eps_high, cfg.dual_clip = k->dual, cfg.is_cap = k->is_cap;
    cfg.kl = k->kl, cfg.kl_beta = k->beta;
    int len = 1;
    zr_loss_in in = {0};
    in.n_seqs = 1, in.len = &len, in.logp = &lp, in.logp_old = &old, in.logp_behav = &beh;
    in.logp_ref = &ref, in.adv = &k->adv;
    float g = 99;
    zr_loss_stats st;
    CHECK_INT(zr_policy_loss(&cfg, &in, &g, &st), 0);
    if (fabs(st.loss - k->want_loss) > 2e-6 || fabs(g - k->want_grad) > 2e-6)
      fprintf(stderr, "  case %s: loss %g grad %g\n", k->name, st.loss, g);
    CLOSE(st.loss, k->want_loss, 2e-6);
    CLOSE(g, k->want_grad, 2e-6);
    CHECK_INT((int)st.clip_low, k->which == 1);
    CHECK_INT((int)st.clip_high, k->which == 2);
    CHECK_INT((int)st.dual_clip, k->which == 3);
  }
}

/* ---- aggregation ------------------------------------------------------------------------------ */

static void test_aggregation(void) {
  int len[2] = {1, 3};
  float lp[4] = {-1, -2, -0.5f, -3};
  double adv[2] = {1, -1};
  zr_loss_in in = {0};
  in.n_seqs = 2, in.len = len, in.logp = lp, in.logp_old = lp, in.adv = adv;
  float g[4];
  zr_loss_stats st;
  zr_loss_cfg cfg = zr_loss_cfg_defaults();
  CHECK_INT(zr_policy_loss(&cfg, &in, g, &st), 0);
  CLOSE(st.loss, 0.5, 1e-12); /* (-1 + 3) / 4 */
  CLOSE(g[0], -0.25, 1e-7);
  CLOSE(g[1], 0.25, 1e-7);
  cfg.agg = ZR_AGG_SEQ_MEAN_TOKEN_MEAN;
  CHECK_INT(zr_policy_loss(&cfg, &in, g, &st), 0);
  CLOSE(st.loss, 0.0, 1e-12);
  CLOSE(g[0], -0.5, 1e-7);
  CLOSE(g[3], 1.0 / 6, 1e-7);
  cfg.agg = ZR_AGG_SEQ_MEAN_TOKEN_SUM_NORM;
  cfg.sum_norm_len = 4;
  CHECK_INT(zr_policy_loss(&cfg, &in, g, &st), 0);
  CLOSE(st.loss, 0.25, 1e-12);
  CLOSE(g[0], -0.125, 1e-7);
  CLOSE(g[2], 0.125, 1e-7);
  cfg.sum_norm_len = 0;
  CHECK_INT(zr_policy_loss(&cfg, &in, g, &st), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "sum_norm_len");
  /* micro-batches with the whole batch's normalisers add up to the batch */
  for (int agg = 0; agg < ZR_AGG_KIND_COUNT; agg++) {
    cfg.agg = (zr_agg_kind)agg;
    cfg.sum_norm_len = 5;
    CHECK_INT(zr_policy_loss(&cfg, &in, g, &st), 0);
    zr_loss_in a = in, b = in;
    a.n_seqs = 1, a.norm_tokens = 4, a.norm_seqs = 2;
    b.n_seqs = 1, b.len = len + 1, b.logp = lp + 1, b.logp_old = lp + 1, b.adv = adv + 1;
    b.norm_tokens = 4, b.norm_seqs = 2;
    float ga[1], gb[3];
    zr_loss_stats sa, sb;
    CHECK_INT(zr_policy_loss(&cfg, &a, ga, &sa), 0);
    CHECK_INT(zr_policy_loss(&cfg, &b, gb, &sb), 0);
    CLOSE(sa.loss + sb.loss, st.loss, 1e-12);
    CHECK(ga[0] == g[0] && gb[0] == g[1] && gb[2] == g[3]);
  }
  /* argument errors */
  zr_loss_in bad = in;
  bad.logp_old = NULL;
  CHECK_INT(zr_policy_loss(&cfg, &bad, g, &st), -EINVAL);
  cfg = zr_loss_cfg_defaults();
  cfg.kl = ZR_KL_K3;
  CHECK_INT(zr_policy_loss(&cfg, &in, g, &st), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "logp_ref");
  cfg = zr_loss_cfg_defaults();
  cfg.dual_clip = 0.5;
  CHECK_INT(zr_policy_loss(&cfg, &in, g, &st), -EINVAL);
}

/* ---- finite differences --------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* distance of x to the nearest kink of the surrogate */
static double kink_dist(const zr_loss_cfg *c, double x) {
  double d = fmin(fabs(x - (1 - c->eps_low)), fabs(x - (1 + c->eps_high)));
  if (c->dual_clip > 0) d = fmin(d, fabs(x - c->dual_clip));
  return d;
}

#define NS 4
#define NT 14

static void fd_case(const zr_loss_cfg *cfg) {
  int len[NS] = {2, 5, 1, 6};
  double adv[NS] = {1.3, -0.7, 0.4, -1.6};
  float lp[NT], old[NT], beh[NT], ref[NT], g[NT];
  /* draw ratios away from every kink (token ratios and GSPO sequence ratios) */
  for (int tries = 0;; tries++) {
    CHECK(tries < 1000);
    for (int i = 0; i < NT; i++) {
      lp[i] = (float)(-0.2 - 3 * urand());
      old[i] = (float)(lp[i] - (urand() * 2.4 - 1.0)); /* log ratio in [-1, 1.4] */
      beh[i] = (float)(old[i] - (urand() - 0.5));
      ref[i] = (float)(lp[i] + (urand() - 0.5));
    }
    double mind = 1;
    int o = 0;
    for (int s = 0; s < NS; s++) {
      double m = 0;
      for (int t = 0; t < len[s]; t++) {
        mind = fmin(mind, kink_dist(cfg, exp((double)lp[o + t] - old[o + t])));
        m += (double)lp[o + t] - old[o + t];
      }
      if (cfg->gspo) mind = fmin(mind, kink_dist(cfg, exp(m / len[s])));
      o += len[s];
    }
    if (mind > 0.02) break;
  }
  zr_loss_in in = {0};
  in.n_seqs = NS, in.len = len, in.logp = lp, in.logp_old = old, in.logp_behav = beh;
  in.logp_ref = ref, in.adv = adv;
  zr_loss_stats st;
  CHECK_INT(zr_policy_loss(cfg, &in, g, &st), 0);
  double maxg = 0, maxerr = 0;
  for (int i = 0; i < NT; i++) {
    float x = lp[i];
    float xp = x + 1e-3f, xm = x - 1e-3f;
    zr_loss_stats sp, sm;
    float tmp[NT];
    lp[i] = xp;
    CHECK_INT(zr_policy_loss(cfg, &in, tmp, &sp), 0);
    lp[i] = xm;
    CHECK_INT(zr_policy_loss(cfg, &in, tmp, &sm), 0);
    lp[i] = x;
    double fd = (sp.loss - sm.loss) / ((double)xp - xm);
    maxg = fmax(maxg, fabs(fd));
    maxerr = fmax(maxerr, fabs(fd - g[i]));
  }
  if (!(maxerr <= 1e-4 * fmax(maxg, 1e-2)) || maxg == 0)
    fprintf(stderr, "  fd: agg %s gspo %d dual %g is %g kl %s: max err %g of max grad %g\n", zr_agg_kind_name(cfg->agg),
            cfg->gspo, cfg->dual_clip, cfg->is_cap, zr_kl_kind_name(cfg->kl), maxerr, maxg);
  CHECK(maxg > 0);
  CHECK(maxerr <= 1e-4 * fmax(maxg, 1e-2));
}

static void test_finite_differences(void) {
  int n = 0;
  for (int agg = 0; agg < ZR_AGG_KIND_COUNT; agg++)
    for (int gspo = 0; gspo < 2; gspo++)
      for (int dual = 0; dual < 2; dual++)
        for (int is = 0; is < 2; is++)
          for (int kl = 0; kl < ZR_KL_KIND_COUNT; kl++) {
            zr_loss_cfg c = zr_loss_cfg_defaults();
            c.agg = (zr_agg_kind)agg;
            c.sum_norm_len = 8;
            c.gspo = gspo;
            c.eps_low = 0.2, c.eps_high = 0.28;
            c.dual_clip = dual ? 2.5 : 0;
            c.is_cap = is ? 1.3 : 0;
            c.kl = (zr_kl_kind)kl;
            c.kl_beta = 0.1;
            for (int rep = 0; rep < 3; rep++) fd_case(&c), n++;
          }
  CHECK_INT(n, 3 * 2 * 2 * 2 * 4 * 3);
}

/* ---- names ---------------------------------------------------------------------------------- */

static void test_names(void) {
  for (int k = 0; k < ZR_ADV_KIND_COUNT; k++) {
    zr_adv_kind o;
    CHECK_INT(zr_adv_kind_parse(zr_adv_kind_name((zr_adv_kind)k), &o), 0);
    CHECK_INT(o, k);
  }
  for (int k = 0; k < ZR_AGG_KIND_COUNT; k++) {
    zr_agg_kind o;
    CHECK_INT(zr_agg_kind_parse(zr_agg_kind_name((zr_agg_kind)k), &o), 0);
    CHECK_INT(o, k);
  }
  for (int k = 0; k < ZR_KL_KIND_COUNT; k++) {
    zr_kl_kind o;
    CHECK_INT(zr_kl_kind_parse(zr_kl_kind_name((zr_kl_kind)k), &o), 0);
    CHECK_INT(o, k);
  }
  CHECK_STR(zr_adv_kind_name(ZR_ADV_REINFORCE_PP), "reinforce_pp");
  CHECK_STR(zr_agg_kind_name(ZR_AGG_SEQ_MEAN_TOKEN_SUM_NORM), "seq_mean_token_sum_norm");
  CHECK_STR(zr_kl_kind_name(ZR_KL_K3), "k3");
  zr_adv_kind a;
  CHECK_INT(zr_adv_kind_parse("ppo", &a), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "'ppo'");
  CHECK_CONTAINS(zr_errmsg(), "dr_grpo");
  zr_kl_kind k;
  CHECK_INT(zr_kl_kind_parse(NULL, &k), -EINVAL);
}

int main(void) {
  test_advantages();
  test_token_table();
  test_aggregation();
  test_finite_differences();
  test_names();
  return TEST_DONE();
}
