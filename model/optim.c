/* optim.c: AdamW over flat fp32 buffers (optim.h): validation, groups and the per-step scalars
 * of torch's _single_tensor_adam with decoupled weight decay; the elementwise update is the
 * backend's adamw op. */
#include "model/optim.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/optim_internal.h"

zr_adamw_config zr_adamw_defaults(void) {
  return (zr_adamw_config){.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01};
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

int zr_adamw_new(zr_adamw **out, zr_backend *be, size_t n_params, const zr_adamw_config *cfg,
                 const zr_optim_group *groups, size_t n_groups) {
  ZR_ASSERT(out && be && cfg);
  *out = NULL;
  int rc = check_config(cfg);
  if (rc) return rc;
  if (n_params == 0) return zr_seterr(-EINVAL, "adamw: no parameters");
  if (n_params > SIZE_MAX / (2 * sizeof(float))) return zr_seterr(-EINVAL, "adamw: %zu parameters is too many", n_params);
  if (n_groups && !groups) return zr_seterr(-EINVAL, "adamw: %zu groups but no group list", n_groups);
  if (!groups) n_groups = 0;

  zr_adamw *o = calloc(1, sizeof *o);
  if (!o) return zr_seterr(-ENOMEM, "adamw: out of memory");
  o->be = be;
  o->n = n_params;
  o->cfg = *cfg;
  o->n_groups = n_groups ? n_groups : 1;
  o->groups = malloc(o->n_groups * sizeof *o->groups);
  if (!o->groups || be->alloc(be, (void **)&o->state, 2 * n_params * sizeof(float))) { /* alloc zero-fills */
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
  *out = o;
  return 0;
}

void zr_adamw_free(zr_adamw **opt) {
  if (!opt || !*opt) return;
  zr_adamw *o = *opt;
  free(o->groups);
  if (o->state) o->be->free(o->be, o->state);
  free(o);
  *opt = NULL;
}

int zr_adamw_step(zr_adamw *o, float *params, const float *grads, double lr) {
  ZR_ASSERT(o && params && grads);
  if (!(lr >= 0 && isfinite(lr))) return zr_seterr(-EINVAL, "adamw: learning rate must be >= 0 and finite, got %g", lr);
  const zr_adamw_config *cfg = &o->cfg;
  int64_t step = o->step + 1;
  double bc1 = 1.0 - pow(cfg->beta1, (double)step);
  double bc2 = 1.0 - pow(cfg->beta2, (double)step);
  /* formed in double like torch's Python-side arithmetic, rounded to fp32 where torch hands them
   * to an fp32 kernel */
  zr_adamw_coef c = {
      .decay = cfg->weight_decay == 0 ? 1.0f : (float)(1.0 - lr * cfg->weight_decay),
      .w1 = (float)(1.0 - cfg->beta1),
      .beta2 = (float)cfg->beta2,
      .w2 = (float)(1.0 - cfg->beta2),
      .step_size = (float)(lr / bc1),
      .bc2_sqrt = (float)sqrt(bc2),
      .eps = (float)cfg->eps,
  };
  const float decay = c.decay;
  zr_backend *be = o->be;
  float *m = o->state, *v = o->state + o->n;
  /* one op per run of adjacent groups (sorted, no gaps) that share the decay flag */
  for (size_t i = 0, j; i < o->n_groups; i = j) {
    const size_t off = o->groups[i].offset;
    size_t end = off + o->groups[i].length;
    const int wd = o->groups[i].apply_weight_decay;
    for (j = i + 1; j < o->n_groups && o->groups[j].offset == end && o->groups[j].apply_weight_decay == wd; j++)
      end += o->groups[j].length;
    c.decay = wd ? decay : 1.0f;
    be->adamw(be, params + off, grads + off, m + off, v + off, end - off, &c);
  }
  o->step = step;
  o->last_lr = lr;
  return 0;
}

int64_t zr_adamw_step_count(const zr_adamw *o) { return o->step; }
double zr_adamw_last_lr(const zr_adamw *o) { return o->last_lr; }
size_t zr_adamw_size(const zr_adamw *o) { return o->n; }
const zr_adamw_config *zr_adamw_config_of(const zr_adamw *o) { return &o->cfg; }
const float *zr_adamw_exp_avg(const zr_adamw *o) { return o->state; }
const float *zr_adamw_exp_avg_sq(const zr_adamw *o) { return o->state + o->n; }
