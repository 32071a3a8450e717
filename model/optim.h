/* optim.h: the optimizer: AdamW over flat fp32 buffers, global-norm gradient clipping and
 * gradient checks, and the optimizer state file.
 *
 * The model engine keeps parameters and gradients each in ONE contiguous fp32 buffer of its
 * backend (backend.h), carved by a size table; the optimizer works on those flat arrays. This
 * module holds the host-side logic (groups, step count, bias corrections, hyperparameters,
 * clipping decisions, the state file) and does every per-element pass with backend ops (adamw,
 * sumsq, first_nonfinite, scale), so one optimizer drives every backend. An optional list of groups (offset,
 * length, apply_weight_decay) says which ranges are trained and whether weight decay applies
 * (norm weights and biases usually exclude it). Elements that no group covers are frozen: the
 * optimizer neither reads nor writes them. Without groups the whole buffer is one group with
 * weight decay.
 *
 * AdamW is torch.optim.AdamW (foreach=False): step += 1; param *= 1 - lr*wd (decoupled decay,
 * before the Adam update); m = lerp(m, g, 1-beta1); v = beta2*v + (1-beta2)*g*g;
 * param -= lr/(1-beta1^step) * m / (sqrt(v)/sqrt(1-beta2^step) + eps). Elementwise work in fp32
 * (the backend's adamw op) with the scalar coefficients formed here in double, as torch does.
 *
 * Threads belong to the backend (zr_backend_cpu_new(&be, n_threads)); its ops give the same bits
 * for any thread count, and so does everything here.
 *
 * Ownership: a zr_adamw owns its state (one backend allocation: exp_avg then exp_avg_sq, 2 x n
 * floats) and a copy of the groups; it borrows the backend, which must outlive it. The caller
 * owns params and grads (device memory of the same backend) and passes them to every step.
 * The learning rate is passed to each step (see lr_schedule.h), so one optimizer serves any
 * schedule.
 *
 * State file (zr_adamw_save/load): safetensors with F32 tensors "exp_avg" and "exp_avg_sq" of
 * shape [n] and string metadata: format=pt, optimizer=adamw, step, lr (the last lr used),
 * beta1, beta2, eps, weight_decay, n_params, groups ("offset:length:wd;..."). Loading checks
 * every one of them against the optimizer it loads into and changes nothing unless all match.
 *
 * Errors: 0 or a negative errno-style code with zr_errmsg() saying what and where. */
#ifndef ZR_OPTIM_H
#define ZR_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "model/backend.h"

typedef struct {
  size_t offset;            /* first element of the range in the flat buffers */
  size_t length;            /* elements; > 0 */
  int apply_weight_decay;   /* 0 for norms, biases, ... */
} zr_optim_group;

typedef struct {
  double beta1;        /* 0.9 */
  double beta2;        /* 0.999 (0.95 is common for LLMs) */
  double eps;          /* 1e-8 */
  double weight_decay; /* 0.01 in torch's AdamW default */
} zr_adamw_config;

/* torch.optim.AdamW's defaults: betas (0.9, 0.999), eps 1e-8, weight_decay 0.01. */
zr_adamw_config zr_adamw_defaults(void);

typedef struct zr_adamw zr_adamw;

/* n_params elements in the flat buffers of backend be; groups may be NULL (n_groups 0): one
 * group with weight decay. Groups must lie inside [0, n_params) and not overlap; they are
 * copied. -EINVAL for bad hyperparameters (beta outside [0, 1), eps or weight_decay negative or
 * not finite) or groups; -ENOMEM. */
int zr_adamw_new(zr_adamw **out, zr_backend *be, size_t n_params, const zr_adamw_config *cfg,
                 const zr_optim_group *groups, size_t n_groups);
void zr_adamw_free(zr_adamw **opt);

/* One update with learning rate lr (>= 0, finite): one backend adamw op per run of adjacent
 * groups with the same decay flag. grads must be finite (see zr_grad_clip); the optimizer does
 * not check them. params and grads hold n_params floats each (device memory). */
int zr_adamw_step(zr_adamw *opt, float *params, const float *grads, double lr);

int64_t zr_adamw_step_count(const zr_adamw *opt);     /* steps taken (restored by load) */
double zr_adamw_last_lr(const zr_adamw *opt);         /* lr of the last step (0 before any) */
size_t zr_adamw_size(const zr_adamw *opt);            /* n_params */
const zr_adamw_config *zr_adamw_config_of(const zr_adamw *opt);
/* The state, n_params floats each (frozen elements stay 0): device memory of the backend (host
 * memory on the CPU backend; elsewhere read it with backend->download). */
const float *zr_adamw_exp_avg(const zr_adamw *opt);
const float *zr_adamw_exp_avg_sq(const zr_adamw *opt);

/* Writes the state file (atomically: temporary name, then rename); the state is downloaded into
 * a temporary host buffer of 2 x n_params floats. */
int zr_adamw_save(const zr_adamw *opt, const char *path);
/* Reads a state file written by zr_adamw_save for the same n_params, groups and
 * hyperparameters; -EINVAL with a message naming the file and the field that
 * differs, or the error from safetensors. On error the optimizer is unchanged. */
int zr_adamw_load(zr_adamw *opt, const char *path);

/* ---- gradients ----------------------------------------------------------------------------- */

/* grads: n floats of backend be's memory. Every result is the same for any thread count. */

/* The L2 norm of grads[0..n), summed in double (backend sumsq). NaN or inf when an element is
 * not finite. */
double zr_grad_norm(zr_backend *be, const float *grads, size_t n);

/* torch.nn.utils.clip_grad_norm_ over the whole buffer: *total_norm = the norm before
 * clipping; when the norm exceeds max_norm every element is multiplied by
 * max_norm / (norm + 1e-6) (backend scale). Returns 0, -EINVAL for max_norm not positive and
 * finite, or -ERANGE when the norm is not finite (NaN/inf in the gradients): then *total_norm
 * says so, grads are left as they were and the caller should skip the step. */
int zr_grad_clip(zr_backend *be, float *grads, size_t n, double max_norm, double *total_norm);

/* 0 when every element is finite; otherwise -ERANGE, *first_bad (may be NULL) = the lowest index
 * of a NaN/inf element and a message naming it and its value. */
int zr_grad_check_finite(zr_backend *be, const float *grads, size_t n, size_t *first_bad);

#endif
