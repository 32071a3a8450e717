/* algo.c: advantages and the clipped policy-gradient loss with its gradient (see algo.h). */
#include "learner/algo.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "common/error.h"

/* ---- advantages ---------------------------------------------------------------------------- */

/* mean and sample std (n-1; 0 for n < 2) */
static void group_stats(const double *r, int n, double *mean, double *sstd) {
  double s = 0;
  for (int i = 0; i < n; i++) s += r[i];
  double m = n > 0 ? s / n : 0;
  double v = 0;
  for (int i = 0; i < n; i++) v += (r[i] - m) * (r[i] - m);
  *mean = m;
  *sstd = n > 1 ? sqrt(v / (n - 1)) : 0;
}

bool zr_group_informative(const double *rewards, int n) {
  if (!rewards || n < 2) return false;
  double m, sd;
  group_stats(rewards, n, &m, &sd);
  return sd >= ZR_ADV_STD_FLOOR;
}

int zr_advantages(zr_adv_kind kind, const double *rewards, int n, const int *group_start, int n_groups,
                  double std_eps, double *adv_out) {
  if ((int)kind < 0 || kind >= ZR_ADV_KIND_COUNT) return zr_seterr(-EINVAL, "advantages: unknown kind %d", (int)kind);
  if (n < 0 || n_groups < 0 || (n > 0 && (!rewards || !adv_out)) || !group_start)
    return zr_seterr(-EINVAL, "advantages: bad arguments (n %d, n_groups %d)", n, n_groups);
  if (!(std_eps >= 0) || !isfinite(std_eps)) return zr_seterr(-EINVAL, "advantages: std_eps %g must be >= 0", std_eps);
  if (group_start[0] != 0 || group_start[n_groups] != n)
    return zr_seterr(-EINVAL, "advantages: group_start must run from 0 to n = %d (got %d .. %d)", n, group_start[0],
                     group_start[n_groups]);
  for (int g = 0; g < n_groups; g++)
    if (group_start[g + 1] <= group_start[g])
      return zr_seterr(-EINVAL, "advantages: group %d is empty or group_start decreases (%d -> %d)", g,
                       group_start[g], group_start[g + 1]);
  for (int i = 0; i < n; i++)
    if (!isfinite(rewards[i])) return zr_seterr(-EINVAL, "advantages: reward %d is not finite", i);

  for (int g = 0; g < n_groups; g++) {
    const int b = group_start[g], k = group_start[g + 1] - b;
    const double *r = rewards + b;
    double *a = adv_out + b;
    double mean, sd;
    group_stats(r, k, &mean, &sd);
    if (k < 2 || sd < ZR_ADV_STD_FLOOR) {
      for (int i = 0; i < k; i++) a[i] = 0.0;
      continue;
    }
    for (int i = 0; i < k; i++) {
      switch (kind) {
        case ZR_ADV_GRPO: a[i] = (r[i] - mean) / (sd + std_eps); break;
        case ZR_ADV_RLOO: a[i] = r[i] - (mean * k - r[i]) / (k - 1); break;
        default: a[i] = r[i] - mean; break; /* Dr. GRPO, REINFORCE++ (first stage) */
      }
    }
  }
  if (kind == ZR_ADV_REINFORCE_PP) {
    /* batch whitening over the sequences of informative groups */
    double s = 0, v = 0;
    int cnt = 0;
    for (int g = 0; g < n_groups; g++) {
      const int b = group_start[g], k = group_start[g + 1] - b;
      if (!zr_group_informative(rewards + b, k)) continue;
      for (int i = b; i < b + k; i++) s += adv_out[i], cnt++;
    }
    if (cnt == 0) return 0;
    double m = s / cnt;
    for (int g = 0; g < n_groups; g++) {
      const int b = group_start[g], k = group_start[g + 1] - b;
      if (!zr_group_informative(rewards + b, k)) continue;
      for (int i = b; i < b + k; i++) v += (adv_out[i] - m) * (adv_out[i] - m);
    }
    double sd = sqrt(v / cnt);
    for (int g = 0; g < n_groups; g++) {
      const int b = group_start[g], k = group_start[g + 1] - b;
      if (!zr_group_informative(rewards + b, k)) continue;
      for (int i = b; i < b + k; i++) adv_out[i] /= (sd + std_eps);
    }
  }
  return 0;
}

/* ---- loss ---------------------------------------------------------------------------------- */

zr_loss_cfg zr_loss_cfg_defaults(void) {
  zr_loss_cfg c;
  memset(&c, 0, sizeof c);
  c.eps_low = 0.2;
  c.eps_high = 0.2;
  c.agg = ZR_AGG_TOKEN_MEAN;
  c.kl = ZR_KL_NONE;
  return c;
}

static int check_cfg(const zr_loss_cfg *c) {
  if (!(c->eps_low >= 0 && c->eps_low < 1)) return zr_seterr(-EINVAL, "loss: eps_low %g must be in [0, 1)", c->eps_low);
  if (!(c->eps_high >= 0 && isfinite(c->eps_high)))
    return zr_seterr(-EINVAL, "loss: eps_high %g must be >= 0", c->eps_high);
  if (!(c->dual_clip == 0 || (c->dual_clip > 1 && isfinite(c->dual_clip))))
    return zr_seterr(-EINVAL, "loss: dual_clip %g must be 0 (off) or > 1", c->dual_clip);
  if ((int)c->agg < 0 || c->agg >= ZR_AGG_KIND_COUNT) return zr_seterr(-EINVAL, "loss: unknown agg %d", (int)c->agg);
  if (c->agg == ZR_AGG_SEQ_MEAN_TOKEN_SUM_NORM && c->sum_norm_len <= 0)
    return zr_seterr(-EINVAL, "loss: seq_mean_token_sum_norm needs sum_norm_len > 0 (got %d)", c->sum_norm_len);
  if ((int)c->kl < 0 || c->kl >= ZR_KL_KIND_COUNT) return zr_seterr(-EINVAL, "loss: unknown kl %d", (int)c->kl);
  if (!(c->kl_beta >= 0 && isfinite(c->kl_beta))) return zr_seterr(-EINVAL, "loss: kl_beta %g must be >= 0", c->kl_beta);
  if (!(c->is_cap >= 0 && isfinite(c->is_cap))) return zr_seterr(-EINVAL, "loss: is_cap %g must be >= 0", c->is_cap);
  return 0;
}

/* The clipped surrogate of one ratio x with advantage a: value and d value / d x, plus which
 * clip binds (1 low, 2 high, 3 dual, 0 none). */
static double surrogate(const zr_loss_cfg *c, double a, double x, double *dx, int *which) {
  const double lo = 1.0 - c->eps_low, hi = 1.0 + c->eps_high;
  double xc = x < lo ? lo : (x > hi ? hi : x);
  double u = -a * x, v = -a * xc, val;
  *which = 0;
  if (u >= v) {
    val = u;
    *dx = -a;
  } else {
    val = v;
    *dx = 0;
    *which = x < lo ? 1 : 2;
  }
  if (c->dual_clip > 0 && a < 0 && val > -a * c->dual_clip) {
    val = -a * c->dual_clip;
    *dx = 0;
    *which = 3;
  }
  return val;
}

static void kl_term(zr_kl_kind k, double lp, double ref, double *val, double *dval) {
  const double d = ref - lp;
  switch (k) {
    case ZR_KL_K1: *val = -d; *dval = 1; break;
    case ZR_KL_K2: *val = 0.5 * d * d; *dval = -d; break;
    case ZR_KL_K3: *val = exp(d) - d - 1; *dval = 1 - exp(d); break;
    default: *val = 0; *dval = 0; break;
  }
}

int zr_policy_loss(const zr_loss_cfg *cfg, const zr_loss_in *in, float *dlogp, zr_loss_stats *st) {
  if (!cfg || !in || !dlogp) return zr_seterr(-EINVAL, "loss: NULL argument");
  int rc = check_cfg(cfg);
  if (rc) return rc;
  if (in->n_seqs < 0 || (in->n_seqs > 0 && (!in->len || !in->logp || !in->adv)))
    return zr_seterr(-EINVAL, "loss: missing len/logp/adv for %d sequences", in->n_seqs);
  if (!in->logp_old && !in->logp_behav) return zr_seterr(-EINVAL, "loss: logp_old and logp_behav are both NULL");
  if (cfg->kl != ZR_KL_NONE && !in->logp_ref) return zr_seterr(-EINVAL, "loss: kl %s needs logp_ref", zr_kl_kind_name(cfg->kl));
  int64_t N = 0;
  for (int i = 0; i < in->n_seqs; i++) {
    if (in->len[i] < 1) return zr_seterr(-EINVAL, "loss: sequence %d has length %d", i, in->len[i]);
    if (!isfinite(in->adv[i])) return zr_seterr(-EINVAL, "loss: advantage %d is not finite", i);
    N += in->len[i];
  }
  const double T = in->norm_tokens > 0 ? (double)in->norm_tokens : (double)N;
  const double S = in->norm_seqs > 0 ? (double)in->norm_seqs : (double)in->n_seqs;
  const float *old = in->logp_old ? in->logp_old : in->logp_behav;
  const float *behav = in->logp_behav ? in->logp_behav : old;

  zr_loss_stats s;
  memset(&s, 0, sizeof s);
  s.is_max = in->n_seqs > 0 ? 0 : 1;
  s.n_tokens = N;
  s.n_seqs = in->n_seqs;
  int64_t off = 0;
  for (int i = 0; i < in->n_seqs; i++) {
    const int L = in->len[i];
    const double A = in->adv[i];
    double c;
    switch (cfg->agg) {
      case ZR_AGG_TOKEN_MEAN: c = 1.0 / T; break;
      case ZR_AGG_SEQ_MEAN_TOKEN_MEAN: c = 1.0 / (S * L); break;
      default: c = 1.0 / (S * cfg->sum_norm_len); break;
    }
    const float *lp = in->logp + off, *lo = old + off, *lb = behav + off;
    const float *lr = in->logp_ref ? in->logp_ref + off : NULL;
    float *g = dlogp + off;
    /* GSPO: one sequence ratio */
    double seq_ratio = 0, seq_val = 0, seq_dx = 0, wsum = 0;
    int seq_which = 0;
    if (cfg->gspo) {
      double md = 0;
      for (int t = 0; t < L; t++) md += (double)lp[t] - lo[t];
      seq_ratio = exp(md / L);
      seq_val = surrogate(cfg, A, seq_ratio, &seq_dx, &seq_which);
    }
    for (int t = 0; t < L; t++) {
      double w = 1.0;
      if (cfg->is_cap > 0) {
        w = exp((double)lo[t] - lb[t]);
        if (w > cfg->is_cap) w = cfg->is_cap;
      }
      s.is_sum += w;
      if (w > s.is_max) s.is_max = w;
      double val, dx, ratio, gd = 0;
      int which;
      if (cfg->gspo) {
        ratio = seq_ratio, val = seq_val, dx = seq_dx, which = seq_which;
        wsum += c * w;
      } else {
        ratio = exp((double)lp[t] - lo[t]);
        val = surrogate(cfg, A, ratio, &dx, &which);
        gd = c * w * dx * ratio;
      }
      s.ratio_sum += ratio;
      s.clip_low += which == 1;
      s.clip_high += which == 2;
      s.dual_clip += which == 3;
      s.pg_loss += c * w * val;
      if (cfg->kl != ZR_KL_NONE) {
        double kv, kd;
        kl_term(cfg->kl, lp[t], lr[t], &kv, &kd);
        s.kl_sum += kv;
        s.kl_loss += c * cfg->kl_beta * kv;
        gd += c * cfg->kl_beta * kd;
      }
      g[t] = (float)gd;
    }
    if (cfg->gspo) {
      /* d/dlogp_t of sum_t' c w_t' f(s) = (sum c w) f'(s) s / L */
      const double gk = wsum * seq_dx * seq_ratio / L;
      if (cfg->kl == ZR_KL_NONE) {
        for (int t = 0; t < L; t++) g[t] = (float)gk;
      } else {
        for (int t = 0; t < L; t++) {
          double kv, kd;
          kl_term(cfg->kl, lp[t], lr[t], &kv, &kd);
          g[t] = (float)(gk + c * cfg->kl_beta * kd);
        }
      }
    }
    off += L;
  }
  if (N == 0) s.is_max = 1;
  s.loss = s.pg_loss + s.kl_loss;
  if (st) *st = s;
  return 0;
}

/* ---- names --------------------------------------------------------------------------------- */

static const char *const ADV_NAMES[] = {"grpo", "dr_grpo", "rloo", "reinforce_pp"};
static const char *const AGG_NAMES[] = {"token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"};
static const char *const KL_NAMES[] = {"none", "k1", "k2", "k3"};

const char *zr_adv_kind_name(zr_adv_kind k) { return (int)k >= 0 && k < ZR_ADV_KIND_COUNT ? ADV_NAMES[k] : "?"; }
const char *zr_agg_kind_name(zr_agg_kind k) { return (int)k >= 0 && k < ZR_AGG_KIND_COUNT ? AGG_NAMES[k] : "?"; }
const char *zr_kl_kind_name(zr_kl_kind k) { return (int)k >= 0 && k < ZR_KL_KIND_COUNT ? KL_NAMES[k] : "?"; }

static int parse_name(const char *what, const char *s, const char *const *names, int n, int *out) {
  for (int i = 0; s && i < n; i++)
    if (strcmp(s, names[i]) == 0) {
      *out = i;
      return 0;
    }
  char list[256] = "";
  for (int i = 0; i < n; i++) {
    strncat(list, names[i], sizeof list - strlen(list) - 1);
    if (i + 1 < n) strncat(list, ", ", sizeof list - strlen(list) - 1);
  }
  return zr_seterr(-EINVAL, "unknown %s '%s' (expected one of: %s)", what, s ? s : "(null)", list);
}

int zr_adv_kind_parse(const char *s, zr_adv_kind *out) {
  int v, rc = parse_name("advantage estimator", s, ADV_NAMES, ZR_ADV_KIND_COUNT, &v);
  if (!rc) *out = (zr_adv_kind)v;
  return rc;
}
int zr_agg_kind_parse(const char *s, zr_agg_kind *out) {
  int v, rc = parse_name("loss aggregation", s, AGG_NAMES, ZR_AGG_KIND_COUNT, &v);
  if (!rc) *out = (zr_agg_kind)v;
  return rc;
}
int zr_kl_kind_parse(const char *s, zr_kl_kind *out) {
  int v, rc = parse_name("KL estimator", s, KL_NAMES, ZR_KL_KIND_COUNT, &v);
  if (!rc) *out = (zr_kl_kind)v;
  return rc;
}
