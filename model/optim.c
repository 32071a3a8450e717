/* optim.c: AdamW over flat fp32 buffers (optim.h). The update mirrors torch's
 * _single_tensor_adam with decoupled weight decay, operation by operation, in fp32. */
#include "model/optim.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/optim_internal.h"
#include "model/optim_par.h"

#define ZR_ADAMW_MIN_PER_THREAD 32768

zr_adamw_config zr_adamw_defaults(void) {
  return (zr_adamw_config){.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01, .threads = 0};
}

static int group_cmp(const void *a, const void *b) {
  const zr_optim_group *x = a, *y = b;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int check_config(const zr_adamw_config *c) {
  if (!(c->beta1 >= 0 && c->beta1 < 1))
    return zr_seterr(-EINVAL, "adamw: beta1 must be in [0, 1), got %g", c->beta1);
  if (!(c->beta2 >= 0 && c->beta2 < 1))
    return zr_seterr(-EINVAL, "adamw: beta2 must be in [0, 1), got %g", c->beta2);
  if (!(c->eps >= 0 && isfinite(c->eps))) return zr_seterr(-EINVAL, "adamw: eps must be >= 0 and finite, got %g", c->eps);
  if (!(c->weight_decay >= 0 && isfinite(c->weight_decay)))
    return zr_seterr(-EINVAL, "adamw: weight_decay must be >= 0 and finite, got %g", c->weight_decay);
  return 0;
}

int zr_adamw_new(zr_adamw **out, size_t n_params, const zr_adamw_config *cfg, const zr_optim_group *groups,
                 size_t n_groups) {
  ZR_ASSERT(out && cfg);
  *out = NULL;
  int rc = check_config(cfg);
  if (rc) return rc;
  if (n_params == 0) return zr_seterr(-EINVAL, "adamw: no parameters");
  if (n_params > SIZE_MAX / (2 * sizeof(float))) return zr_seterr(-EINVAL, "adamw: %zu parameters is too many", n_params);
  if (n_groups && !groups) return zr_seterr(-EINVAL, "adamw: %zu groups but no group list", n_groups);
  if (!groups) n_groups = 0;

  zr_adamw *o = calloc(1, sizeof *o);
  if (!o) return zr_seterr(-ENOMEM, "adamw: out of memory");
  o->n = n_params;
  o->cfg = *cfg;
  o->n_groups = n_groups ? n_groups : 1;
  o->groups = malloc(o->n_groups * sizeof *o->groups);
  o->start = malloc((o->n_groups + 1) * sizeof *o->start);
  o->state = calloc(2 * n_params, sizeof(float));
  if (!o->groups || !o->start || !o->state) {
    zr_adamw_free(&o);
    return zr_seterr(-ENOMEM, "adamw: out of memory for the state of %zu parameters", n_params);
  }
  if (n_groups) {
    memcpy(o->groups, groups, n_groups * sizeof *groups);
    for (size_t i = 0; i < n_groups; i++) {
      const zr_optim_group *g = &groups[i];
      if (g->length == 0 || g->offset >= n_params || g->length > n_params - g->offset) {
        zr_adamw_free(&o);
        return zr_seterr(-EINVAL, "adamw: group %zu (offset %zu, length %zu) is empty or outside the %zu parameters", i,
                         g->offset, g->length, n_params);
      }
    }
    qsort(o->groups, n_groups, sizeof *o->groups, group_cmp);
    for (size_t i = 1; i < n_groups; i++) {
      const zr_optim_group *a = &o->groups[i - 1], *b = &o->groups[i];
      if (a->offset + a->length > b->offset) {
        size_t ao = a->offset, al = a->length, bo = b->offset, bl = b->length;
        zr_adamw_free(&o);
        return zr_seterr(-EINVAL, "adamw: groups (offset %zu, length %zu) and (offset %zu, length %zu) overlap", ao, al,
                         bo, bl);
      }
    }
    for (size_t i = 0; i < n_groups; i++) o->groups[i].apply_weight_decay = o->groups[i].apply_weight_decay != 0;
  } else {
    o->groups[0] = (zr_optim_group){0, n_params, 1};
  }
  o->start[0] = 0;
  for (size_t i = 0; i < o->n_groups; i++) o->start[i + 1] = o->start[i] + o->groups[i].length;
  *out = o;
  return 0;
}

void zr_adamw_free(zr_adamw **opt) {
  if (!opt || !*opt) return;
  zr_adamw *o = *opt;
  free(o->groups);
  free(o->start);
  free(o->state);
  free(o);
  *opt = NULL;
}

/* The per-step scalars, formed in double like torch's Python-side arithmetic, then rounded to
 * fp32 where torch hands them to an fp32 kernel. */
typedef struct {
  const zr_adamw *o;
  float *params;
  const float *grads;
  float decay;     /* 1 - lr*wd */
  float w1;        /* lerp weight 1 - beta1 */
  float beta2, w2; /* beta2, 1 - beta2 */
  float neg_step_size, bc2_sqrt, eps;
} step_ctx;

static void step_range(const step_ctx *c, size_t off, size_t len, int decay) {
  float *p = c->params + off, *m = c->o->state + off, *v = c->o->state + c->o->n + off;
  const float *g = c->grads + off;
  const float w1 = c->w1, b2 = c->beta2, w2 = c->w2, ns = c->neg_step_size, bc2s = c->bc2_sqrt, eps = c->eps;
  if (decay) {
    const float d = c->decay;
    for (size_t i = 0; i < len; i++) p[i] = p[i] * d;
  }
  for (size_t i = 0; i < len; i++) {
    const float gi = g[i];
    float mi = m[i], vi = v[i];
    /* at::lerp with |weight| < 0.5: self + weight * (end - self) */
    mi = w1 < 0.5f ? mi + w1 * (gi - mi) : gi - (gi - mi) * (1.0f - w1);
    vi = vi * b2;
    vi = vi + w2 * gi * gi;
    const float denom = sqrtf(vi) / bc2s + eps;
    p[i] = p[i] + ns * mi / denom;
    m[i] = mi;
    v[i] = vi;
  }
}

/* [begin, end) indexes the concatenation of the groups. */
static void step_slice(void *arg, size_t begin, size_t end) {
  const step_ctx *c = arg;
  const zr_adamw *o = c->o;
  size_t lo = 0, hi = o->n_groups; /* last group with start <= begin */
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (o->start[mid] <= begin)
      lo = mid;
    else
      hi = mid;
  }
  for (size_t gi = lo; gi < o->n_groups && o->start[gi] < end; gi++) {
    size_t a = begin > o->start[gi] ? begin : o->start[gi];
    size_t b = end < o->start[gi + 1] ? end : o->start[gi + 1];
    const zr_optim_group *g = &o->groups[gi];
    step_range(c, g->offset + (a - o->start[gi]), b - a, g->apply_weight_decay);
  }
}

int zr_adamw_step(zr_adamw *o, float *params, const float *grads, double lr) {
  ZR_ASSERT(o && params && grads);
  if (!(lr >= 0 && isfinite(lr))) return zr_seterr(-EINVAL, "adamw: learning rate must be >= 0 and finite, got %g", lr);
  const zr_adamw_config *cfg = &o->cfg;
  int64_t step = o->step + 1;
  double bc1 = 1.0 - pow(cfg->beta1, (double)step);
  double bc2 = 1.0 - pow(cfg->beta2, (double)step);
  step_ctx c = {
      .o = o,
      .params = params,
      .grads = grads,
      .decay = (float)(1.0 - lr * cfg->weight_decay),
      .w1 = (float)(1.0 - cfg->beta1),
      .beta2 = (float)cfg->beta2,
      .w2 = (float)(1.0 - cfg->beta2),
      .neg_step_size = (float)-(lr / bc1),
      .bc2_sqrt = (float)sqrt(bc2),
      .eps = (float)cfg->eps,
  };
  if (cfg->weight_decay == 0) c.decay = 1.0f;
  zr_par_run(cfg->threads, o->start[o->n_groups], ZR_ADAMW_MIN_PER_THREAD, step_slice, &c);
  o->step = step;
  o->last_lr = lr;
  return 0;
}

void zr_adamw_set_threads(zr_adamw *o, int threads) { o->cfg.threads = threads < 0 ? 0 : threads; }
int64_t zr_adamw_step_count(const zr_adamw *o) { return o->step; }
double zr_adamw_last_lr(const zr_adamw *o) { return o->last_lr; }
size_t zr_adamw_size(const zr_adamw *o) { return o->n; }
const zr_adamw_config *zr_adamw_config_of(const zr_adamw *o) { return &o->cfg; }
const float *zr_adamw_exp_avg(const zr_adamw *o) { return o->state; }
const float *zr_adamw_exp_avg_sq(const zr_adamw *o) { return o->state + o->n; }
