/* trainer.h: one training step of the learner, RL (GRPO family, algo.h) or SFT, on a policy
 * transformer (model/transformer.h): log-probs by a training forward, the loss gradient with
 * respect to them (algo.h), zr_tf_backward, gradient clipping and an AdamW step (model/optim.h)
 * at the learning rate of a schedule (model/lr_schedule.h), with gradient accumulation over
 * micro-batches and several optimizer updates per batch (minibatches).
 *
 * Ownership: a zr_trainer owns its AdamW state and host scratch; it BORROWS the policy model and
 * the optional reference model (both must outlive it and use the same backend). Weights are the
 * caller's to save (zr_tf_save); zr_trainer_save_state writes what the trainer adds (optimizer
 * moments, step, schedule, and the reference weights when they are refreshed from the policy).
 * The trainer sets the models' logprob_temperature option (zr_tf_set_options) at creation.
 *
 * One RL step (zr_trainer_rl_step) on n samples:
 *  1. advantages per group (cfg.adv); groups whose advantages are all 0 (all rewards equal) are
 *     dropped from the loss, its normalisers and the backward (DAPO dynamic sampling) and counted;
 *  2. reference log-probs by an inference forward of the reference model when cfg.loss.kl != none;
 *     logp_old by an inference forward of the policy when minibatches > 1 (with one update,
 *     logp_old is the training forward's own logp, detached: ratio 1);
 *  3. for each of cfg.minibatches contiguous slices of the kept samples: for each micro-batch of
 *     at most cfg.micro_batch_tokens tokens (prompt + completion - 1 per sample; a longer sample
 *     is a micro-batch alone): training forward, zr_policy_loss with the minibatch's normalisers,
 *     backward with weights -dL/dlogp; then clip and one optimizer step.
 * "Step" everywhere (zr_trainer_step_count, the schedule position, ref_refresh_steps) counts
 * OPTIMIZER steps, one per minibatch (R1: "a training step refers to a single policy update").
 *
 * Data parallelism (cfg.comm, world_size W > 1): every rank is given the SAME whole batch (the
 * learner broadcasts it) and computes the same advantages, kept groups and minibatch slices, so
 * the normalisers (tokens and sequences of each minibatch) are global by construction. Each rank
 * then runs the forwards and backward of a contiguous, token-balanced share of every minibatch
 * (possibly empty) with its -dL/dlogp weights multiplied by W, and the gradients are averaged
 * over the ranks (zr_comm_all_reduce_avg), which gives sum over ranks of the shares = the
 * gradient of world 1 up to float summation order (exact scaling for W a power of two). Norm,
 * clipping and AdamW then run on identical gradients on every rank, so the weights stay
 * identical. Metrics that are sums over tokens (entropy, KL, clip counts, ratios, IS weights,
 * loss parts, tokens through the forward) are summed over ranks, is_weight_max is the max;
 * times are the calling rank's. A failing rank aborts the comm so the others fail at once.
 * World 1 runs exactly the single-process code (bit-identical to builds without comm).
 * zr_trainer_sft_step refuses W > 1 (-ENOTSUP).
 *
 * Errors: 0 or a negative errno-style code with zr_errmsg(). A non-finite gradient norm skips the
 * optimizer step (weights unchanged) and returns -ERANGE. */
#ifndef ZR_TRAINER_H
#define ZR_TRAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/json.h"
#include "learner/algo.h"
#include "learner/comm.h"
#include "model/lr_schedule.h"
#include "model/optim.h"
#include "model/transformer.h"

typedef struct {
  zr_loss_cfg loss;
  zr_adv_kind adv;
  double std_eps;            /* advantage std epsilon (1e-4 as TRL) */
  zr_lr_schedule lr;         /* kind, base_lr, warmup_steps, total_steps, ... */
  zr_adamw_config adamw;     /* betas, eps, weight_decay (not applied to norms and biases) */
  double max_grad_norm;      /* clip the global norm to this; 0 = no clipping (norm still reported) */
  int micro_batch_tokens;    /* gradient accumulation budget per forward; 0 = whole minibatch */
  int minibatches;           /* optimizer updates per RL batch (>= 1) */
  int ref_refresh_steps;     /* copy policy -> reference every N optimizer steps; 0 = never */
  float logprob_temperature; /* log-probs of softmax(logits / T); 0 or 1 = plain */
  int world_size;            /* data-parallel ranks; 1, or the comm's world size */
  zr_comm *comm;             /* the data-parallel group (learner/comm.h), borrowed; NULL = one
                              * process. See "Data parallelism" above. */
} zr_trainer_cfg;

/* GRPO, std_eps 1e-4, loss defaults (algo.h), constant lr 1e-6, AdamW (0.9, 0.999, 1e-8, 0.0),
 * max_grad_norm 1.0, micro_batch_tokens 0, minibatches 1, no reference refresh, T = 1,
 * world_size 1, no comm. */
zr_trainer_cfg zr_trainer_cfg_defaults(void);

typedef struct zr_trainer zr_trainer;

/* ref may be NULL unless cfg->loss.kl != none. -EINVAL for a bad configuration (message names
 * the field), a world size that is not the comm's (1 without one), or models of different
 * shapes/backends. */
int zr_trainer_new(zr_trainer **out, zr_tf *policy, zr_tf *ref, const zr_trainer_cfg *cfg);
void zr_trainer_free(zr_trainer **t);

/* One RL sample: prompt_len >= 1, completion_len >= 1. behav_logp[completion_len] are the actor's
 * log-probs of the completion tokens (NULL = on-policy: the batch-start policy). Samples of a
 * group are contiguous and share `group`. */
typedef struct {
  const int32_t *prompt;
  int prompt_len;
  const int32_t *completion;
  int completion_len;
  const float *behav_logp;
  double reward;
  int group;
} zr_rl_sample;

typedef struct {
  int64_t step;              /* optimizer steps taken after this call */
  double loss, pg_loss, kl;  /* loss and pg_loss: mean over minibatches of the aggregated loss;
                              * kl: mean of the estimator over kept completion tokens */
  double entropy;            /* mean over kept completion tokens (first forward of each token) */
  double clip_frac_low, clip_frac_high, dual_clip_frac; /* fractions of kept completion tokens */
  double ratio_mean;
  double is_weight_mean, is_weight_max;
  double grad_norm;          /* before clipping; the last minibatch's */
  double lr;                 /* of the last optimizer step */
  int n_samples;             /* given */
  int64_t n_tokens;          /* completion tokens trained on (kept samples) */
  int n_groups, groups_skipped;
  double reward_mean, reward_std, response_len_mean; /* over all given samples (population std) */
  double forward_ms, backward_ms, optim_ms, total_ms;
  double tokens_per_s;       /* (prompt + completion) tokens through the training forward / total */
} zr_step_metrics;

int zr_trainer_rl_step(zr_trainer *t, const zr_rl_sample *s, int n, zr_step_metrics *m);

typedef struct {
  const int32_t *prompt;
  int prompt_len;
  const int32_t *completion;
  int completion_len;
} zr_sft_sample;

/* One optimizer step on L = mean NLL over all completion tokens of the batch (token mean).
 * m: loss, entropy, grad_norm, lr, n_samples, n_tokens, times (the RL-only fields 0). */
int zr_trainer_sft_step(zr_trainer *t, const zr_sft_sample *s, int n, zr_step_metrics *m);
/* The same loss without gradients (evaluation); *loss = mean NLL per completion token. */
int zr_trainer_sft_loss(zr_trainer *t, const zr_sft_sample *s, int n, double *loss);

int64_t zr_trainer_step_count(const zr_trainer *t);
const zr_trainer_cfg *zr_trainer_config(const zr_trainer *t);
/* Hot reload: a new base learning rate for the schedule (> 0, finite). */
int zr_trainer_set_lr(zr_trainer *t, double lr);

/* Adds every metric as a member of obj (numbers; counts as integers). */
void zr_step_metrics_to_json(const zr_step_metrics *m, json_t *obj);

/* Checkpoint of the trainer's own state into dir (created): optimizer.safetensors (zr_adamw_save),
 * trainer_state.json (step, schedule, base lr) and, when ref_refresh_steps > 0, the reference
 * weights in dir/reference/ (F32). The policy weights are the caller's (zr_tf_save). Loading
 * into a trainer of the same configuration then continues bit-identically on CPU. */
int zr_trainer_save_state(zr_trainer *t, const char *dir);
int zr_trainer_load_state(zr_trainer *t, const char *dir);
/* Only the AdamW moments (and the optimizer's bias-correction count) of a checkpoint written by
 * zr_trainer_save_state, e.g. an SFT run's, so RL continues with them: a fresh Adam's first,
 * sign-like steps can wreck a cold-start checkpoint (notes: feasibility-tiny-grpo-cpu). The
 * trainer's own step count and schedule stay where they are. */
int zr_trainer_load_moments(zr_trainer *t, const char *dir);

#endif
