/* lr_schedule.h: learning-rate schedules, computed exactly as transformers' LambdaLR
 * factories do (transformers/optimization.py):
 *
 *   constant              get_constant_schedule                      factor 1
 *   constant_with_warmup  get_constant_schedule_with_warmup          t/W during warm-up, then 1
 *   linear                get_linear_schedule_with_warmup            t/W, then (T-t)/(T-W), >= 0
 *   cosine                get_cosine_schedule_with_warmup /          t/W, then
 *                         get_cosine_with_min_lr_schedule_with_warmup  r + (1-r) * 0.5*(1+cos(pi*2c*p))
 *                                                                     with p = (t-W)/(T-W), r = min_lr_ratio
 *
 * t is the number of optimizer steps already taken (0 for the first step), so the lr used by
 * step t is base_lr * factor(t), as torch's LambdaLR gives it after t scheduler.step() calls.
 * The schedule is a plain value: no allocation, nothing owned. */
#ifndef ZR_LR_SCHEDULE_H
#define ZR_LR_SCHEDULE_H

#include <stdint.h>

typedef enum {
  ZR_LR_CONSTANT = 0,
  ZR_LR_CONSTANT_WITH_WARMUP,
  ZR_LR_LINEAR,
  ZR_LR_COSINE,
  ZR_LR_KIND_COUNT
} zr_lr_kind;

typedef struct {
  zr_lr_kind kind;
  double base_lr;       /* > 0 */
  int64_t warmup_steps; /* W >= 0 (ignored by constant) */
  int64_t total_steps;  /* T (linear, cosine): >= W */
  double min_lr_ratio;  /* r in [0, 1] (cosine; 0 = get_cosine_schedule_with_warmup) */
  double num_cycles;    /* c (cosine; transformers' default 0.5 = one half-cosine down) */
} zr_lr_schedule;

/* A schedule of the given kind with base_lr and transformers' defaults for the rest
 * (warm-up 0, total 0, min_lr_ratio 0, num_cycles 0.5). */
zr_lr_schedule zr_lr_schedule_make(zr_lr_kind kind, double base_lr);

/* 0, or -EINVAL with a message naming the bad field. */
int zr_lr_schedule_check(const zr_lr_schedule *s);

/* The multiplier and the learning rate for step t (>= 0). The schedule must pass the check. */
double zr_lr_factor(const zr_lr_schedule *s, int64_t t);
double zr_lr_at(const zr_lr_schedule *s, int64_t t);

/* "constant", "constant_with_warmup", "linear", "cosine" (transformers' SchedulerType names;
 * "cosine_with_min_lr" is accepted for cosine). Parse returns -1 for an unknown name. */
const char *zr_lr_kind_name(zr_lr_kind kind);
int zr_lr_kind_parse(const char *name);

#endif
