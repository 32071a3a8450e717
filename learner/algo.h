/* algo.h: the RL math of the learner, with no model in it: group advantages (GRPO, Dr. GRPO,
 * RLOO, REINFORCE++-baseline), the clipped policy-gradient loss (PPO clip with clip-higher, dual
 * clip, GSPO sequence ratio, truncated importance sampling) plus a KL penalty to a reference
 * policy (k1/k2/k3), aggregated token-mean, seq-mean-token-mean or seq-mean-token-sum-norm, and
 * its exact gradient with respect to the per-token log-probs of the policy being trained.
 *
 * The trainer (trainer.h) turns that gradient into parameter gradients with
 * zr_tf_backward(weights = -dL/dlogp). Everything here is host arithmetic in double on arrays the
 * caller owns; nothing is allocated and nothing is kept.
 *
 * Packing: n_seqs sequences of len[i] >= 1 COMPLETION tokens each, laid end to end (N = sum len);
 * per-token arrays (log-probs, gradients) use that packing. Advantages are per sequence (outcome
 * rewards: every token of a sequence shares its sequence's advantage).
 *
 * Errors: 0 or -EINVAL with zr_errmsg() naming the argument. */
#ifndef ZR_ALGO_H
#define ZR_ALGO_H

#include <stdbool.h>
#include <stdint.h>

/* ---- advantages ---------------------------------------------------------------------------- */

typedef enum {
  ZR_ADV_GRPO = 0,     /* (r - mean_g) / (std_g + std_eps), std_g the SAMPLE std (Bessel, n-1) of
                        * the group, as HF TRL's rewards.view(-1, G).std(dim=1) (torch default) */
  ZR_ADV_DR_GRPO,      /* r - mean_g (Dr. GRPO: no std division) */
  ZR_ADV_RLOO,         /* r - mean of the other n-1 rewards of the group (= n/(n-1) (r - mean_g)) */
  ZR_ADV_REINFORCE_PP, /* REINFORCE++-baseline (OpenRLHF advantage_estimator=reinforce_baseline):
                        * a = r - mean_g, then a / (std_batch(a) + std_eps) with std_batch the
                        * population std over every sequence of the batch that belongs to an
                        * informative group (OpenRLHF whitens over tokens; here each sequence
                        * counts once). The batch mean of a is 0 by construction and is not
                        * subtracted again. */
  ZR_ADV_KIND_COUNT
} zr_adv_kind;

/* The rounding guard of every kind: a group whose rewards have sample std < this (all equal, up to
 * float noise) gets advantages exactly 0, and so does a group of one sample. */
#define ZR_ADV_STD_FLOOR 1e-6

/* Groups are contiguous: group g is rewards[group_start[g] .. group_start[g+1]), group_start has
 * n_groups + 1 entries, group_start[0] = 0, increasing, group_start[n_groups] = n. std_eps >= 0
 * (TRL's 1e-4 for GRPO). adv_out[n]. */
int zr_advantages(zr_adv_kind kind, const double *rewards, int n, const int *group_start, int n_groups,
                  double std_eps, double *adv_out);

/* Dynamic sampling (DAPO): true when the group's rewards are not all equal (n >= 2 and sample
 * std >= ZR_ADV_STD_FLOOR), i.e. the group carries a learning signal. */
bool zr_group_informative(const double *rewards, int n);

/* ---- loss ---------------------------------------------------------------------------------- */

typedef enum {
  ZR_AGG_TOKEN_MEAN = 0,           /* sum over all tokens / total tokens (DAPO, TRL "bnpo"/"dapo") */
  ZR_AGG_SEQ_MEAN_TOKEN_MEAN,      /* mean over sequences of the per-sequence token mean (GRPO paper) */
  ZR_AGG_SEQ_MEAN_TOKEN_SUM_NORM,  /* mean over sequences of token sum / sum_norm_len (Dr. GRPO) */
  ZR_AGG_KIND_COUNT
} zr_agg_kind;

typedef enum {
  ZR_KL_NONE = 0,
  ZR_KL_K1, /* logp - logp_ref                                  (d/dlogp = 1) */
  ZR_KL_K2, /* 0.5 (logp_ref - logp)^2                           (d/dlogp = logp - logp_ref) */
  ZR_KL_K3, /* exp(logp_ref - logp) - (logp_ref - logp) - 1  (verl low_var_kl / GRPO paper eq. 4,
             * without verl's clamps; d/dlogp = 1 - exp(logp_ref - logp)) */
  ZR_KL_KIND_COUNT
} zr_kl_kind;

typedef struct {
  double eps_low, eps_high; /* ratio clipped to [1 - eps_low, 1 + eps_high] (0.2 / 0.28 DAPO) */
  double dual_clip;         /* 0 = off, else c > 1: for advantages < 0 the per-token loss is at
                             * most -A * c (Ye et al. 2020 dual clip, verl clip_ratio_c) */
  bool gspo;                /* sequence-level ratio s_i = exp(mean_t(logp - logp_old)) clipped
                             * instead of the token ratio; the sequence's term is broadcast to its
                             * tokens and aggregated like token terms (verl/TRL GSPO) */
  zr_agg_kind agg;
  int sum_norm_len;         /* the constant of seq_mean_token_sum_norm (Dr. GRPO: the maximum
                             * completion length); > 0 when that aggregation is used */
  zr_kl_kind kl;
  double kl_beta;           /* the KL term is kl_beta * k, aggregated like the pg term */
  double is_cap;            /* truncated importance sampling: the pg term of each token is
                             * multiplied (detached) by min(exp(logp_old - logp_behav), is_cap);
                             * 0 = off (weight 1) */
} zr_loss_cfg;

/* eps 0.2/0.2, no dual clip, no GSPO, token_mean, no KL, no IS. */
zr_loss_cfg zr_loss_cfg_defaults(void);

typedef struct {
  int n_seqs;
  const int *len;          /* [n_seqs] completion tokens, each >= 1 */
  const float *logp;       /* [N] log-probs under the policy being trained (the variable) */
  const float *logp_old;   /* [N] the policy at the start of this batch's updates (the clip
                            * centre); NULL = logp_behav */
  const float *logp_behav; /* [N] the actor's (behaviour) log-probs; NULL = logp_old (then no IS);
                            * logp_old and logp_behav may not both be NULL */
  const float *logp_ref;   /* [N] reference log-probs; required when kl != none */
  const double *adv;       /* [n_seqs] */
  /* Normalisers of the aggregation, so that micro-batches of one minibatch add up to the
   * minibatch's loss: total tokens (token_mean) and total sequences (the seq_mean kinds) of the
   * whole minibatch. 0 = this call's own N / n_seqs. */
  int64_t norm_tokens;
  int64_t norm_seqs;
} zr_loss_in;

/* Sums over this call's tokens; the trainer adds them over micro-batches (fields marked "sum")
 * and divides by n_tokens / n_seqs (the means). */
typedef struct {
  double loss;         /* the aggregated loss (pg + kl_beta * kl), with the normalisers above */
  double pg_loss;      /* its policy-gradient part */
  double kl_loss;      /* its KL part, kl_beta * aggregated k */
  double kl_sum;       /* sum over tokens of the KL estimator k (0 when kl = none) */
  double clip_low;     /* tokens (GSPO: tokens of sequences) with A < 0 and ratio < 1 - eps_low */
  double clip_high;    /* tokens with A > 0 and ratio > 1 + eps_high */
  double dual_clip;    /* tokens with A < 0 and ratio > dual_clip (dual clip binding) */
  double ratio_sum;    /* sum of the ratio (token ratio, or the sequence ratio per token) */
  double is_sum;       /* sum of the IS weights */
  double is_max;       /* max IS weight (1 when off) */
  int64_t n_tokens;
  int64_t n_seqs;
} zr_loss_stats;

/* The loss and dL/dlogp for every token (dlogp[N], written, not added). st may be NULL. */
int zr_policy_loss(const zr_loss_cfg *cfg, const zr_loss_in *in, float *dlogp, zr_loss_stats *st);

/* ---- names --------------------------------------------------------------------------------- */

/* grpo, dr_grpo, rloo, reinforce_pp | token_mean, seq_mean_token_mean, seq_mean_token_sum_norm |
 * none, k1, k2, k3. Parse: 0 or -EINVAL naming the value and the accepted names. */
const char *zr_adv_kind_name(zr_adv_kind k);
const char *zr_agg_kind_name(zr_agg_kind k);
const char *zr_kl_kind_name(zr_kl_kind k);
int zr_adv_kind_parse(const char *s, zr_adv_kind *out);
int zr_agg_kind_parse(const char *s, zr_agg_kind *out);
int zr_kl_kind_parse(const char *s, zr_kl_kind *out);

#endif
