/* lr_schedule.c: transformers' LambdaLR factors (lr_schedule.h), line for line. */
#include "model/lr_schedule.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "common/error.h"

static const char *const kind_names[ZR_LR_KIND_COUNT] = {"constant", "constant_with_warmup", "linear", "cosine"};

zr_lr_schedule zr_lr_schedule_make(zr_lr_kind kind, double base_lr) {
  return (zr_lr_schedule){.kind = kind, .base_lr = base_lr, .num_cycles = 0.5};
}

const char *zr_lr_kind_name(zr_lr_kind kind) { return (unsigned)kind < ZR_LR_KIND_COUNT ? kind_names[kind] : "?"; }

int zr_lr_kind_parse(const char *name) {
  if (!name) return -1;
  for (int i = 0; i < ZR_LR_KIND_COUNT; i++)
    if (strcmp(name, kind_names[i]) == 0) return i;
  if (strcmp(name, "cosine_with_min_lr") == 0) return ZR_LR_COSINE;
  return -1;
}

int zr_lr_schedule_check(const zr_lr_schedule *s) {
  if ((unsigned)s->kind >= ZR_LR_KIND_COUNT) return zr_seterr(-EINVAL, "lr schedule: unknown kind %d", (int)s->kind);
  const char *k = kind_names[s->kind];
  if (!(s->base_lr > 0 && isfinite(s->base_lr)))
    return zr_seterr(-EINVAL, "lr schedule %s: base lr must be positive and finite, got %g", k, s->base_lr);
  if (s->kind == ZR_LR_CONSTANT) return 0;
  if (s->warmup_steps < 0)
    return zr_seterr(-EINVAL, "lr schedule %s: warmup_steps must be >= 0, got %lld", k, (long long)s->warmup_steps);
  if (s->kind == ZR_LR_CONSTANT_WITH_WARMUP) return 0;
  if (s->total_steps < s->warmup_steps)
    return zr_seterr(-EINVAL, "lr schedule %s: total_steps (%lld) must be >= warmup_steps (%lld)", k,
                     (long long)s->total_steps, (long long)s->warmup_steps);
  if (s->kind == ZR_LR_COSINE) {
    if (!(s->min_lr_ratio >= 0 && s->min_lr_ratio <= 1))
      return zr_seterr(-EINVAL, "lr schedule cosine: min_lr_ratio must be in [0, 1], got %g", s->min_lr_ratio);
    if (!(s->num_cycles > 0 && isfinite(s->num_cycles)))
      return zr_seterr(-EINVAL, "lr schedule cosine: num_cycles must be positive and finite, got %g", s->num_cycles);
  }
  return 0;
}

static double warmup(int64_t t, int64_t w) { return (double)t / (double)(w > 1 ? w : 1); }

double zr_lr_factor(const zr_lr_schedule *s, int64_t t) {
  const int64_t w = s->warmup_steps, total = s->total_steps;
  switch (s->kind) {
  case ZR_LR_CONSTANT:
    return 1.0;
  case ZR_LR_CONSTANT_WITH_WARMUP:
    return t < w ? warmup(t, w) : 1.0;
  case ZR_LR_LINEAR: {
    if (t < w) return warmup(t, w);
    int64_t d = total - w;
    double f = (double)(total - t) / (double)(d > 1 ? d : 1);
    return f > 0.0 ? f : 0.0;
  }
  case ZR_LR_COSINE: {
    if (t < w) return warmup(t, w);
    int64_t d = total - w;
    double progress = (double)(t - w) / (double)(d > 1 ? d : 1);
    double f = 0.5 * (1.0 + cos(M_PI * s->num_cycles * 2.0 * progress));
    f = f * (1 - s->min_lr_ratio) + s->min_lr_ratio;
    return f > 0.0 ? f : 0.0;
  }
  default:
    ZR_ASSERT(!"unknown lr schedule kind");
    return 0.0;
  }
}

double zr_lr_at(const zr_lr_schedule *s, int64_t t) { return s->base_lr * zr_lr_factor(s, t); }
