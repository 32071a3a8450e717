/* optim_state.c: the AdamW state file (optim.h): safetensors with exp_avg / exp_avg_sq and the
 * step, lr and hyperparameters in __metadata__. Loading validates everything before it changes
 * anything. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/optim_internal.h"
#include "model/safetensors.h"

/* "offset:length:wd;..." for the sorted groups; caller frees. */
static char *groups_string(const zr_adamw *o) {
  size_t cap = o->n_groups * 48 + 1, len = 0;
  char *s = malloc(cap);
  if (!s) return NULL;
  s[0] = '\0';
  for (size_t i = 0; i < o->n_groups; i++)
    len += (size_t)snprintf(s + len, cap - len, "%s%zu:%zu:%d", i ? ";" : "", o->groups[i].offset, o->groups[i].length,
                            o->groups[i].apply_weight_decay);
  return s;
}

int zr_adamw_save(const zr_adamw *o, const char *path) {
  ZR_ASSERT(o && path);
  char step[32], lr[32], b1[32], b2[32], eps[32], wd[32], n[32];
  snprintf(step, sizeof step, "%" PRId64, o->step);
  snprintf(lr, sizeof lr, "%.17g", o->last_lr);
  snprintf(b1, sizeof b1, "%.17g", o->cfg.beta1);
  snprintf(b2, sizeof b2, "%.17g", o->cfg.beta2);
  snprintf(eps, sizeof eps, "%.17g", o->cfg.eps);
  snprintf(wd, sizeof wd, "%.17g", o->cfg.weight_decay);
  snprintf(n, sizeof n, "%zu", o->n);
  char *groups = groups_string(o);
  float *host = groups ? malloc(2 * o->n * sizeof(float)) : NULL; /* the state, downloaded */
  if (!host) {
    free(groups);
    return zr_seterr(-ENOMEM, "%s: out of memory for the optimizer state", path);
  }
  o->be->download(o->be, host, o->state, 2 * o->n * sizeof(float));
  const char *meta[] = {"format", "pt",  "optimizer", "adamw", "step",         step, "lr",       lr,
                        "beta1",  b1,    "beta2",     b2,      "eps",          eps,  "weight_decay", wd,
                        "n_params", n,   "groups",    groups,  NULL};
  zr_st_write_tensor t[2] = {
      {.name = "exp_avg", .dtype = ZR_DT_F32, .ndim = 1, .shape = {(int64_t)o->n}, .data = host},
      {.name = "exp_avg_sq", .dtype = ZR_DT_F32, .ndim = 1, .shape = {(int64_t)o->n}, .data = host + o->n},
  };
  int rc = zr_st_write_file(path, t, 2, meta);
  free(host);
  free(groups);
  return rc;
}

static int meta_str(const zr_st_file *f, const char *path, const char *key, const char **out) {
  *out = zr_st_metadata(f, key);
  if (!*out) return zr_seterr(-EINVAL, "%s: optimizer state has no metadata '%s'", path, key);
  return 0;
}

static int meta_double(const zr_st_file *f, const char *path, const char *key, double *out) {
  const char *v;
  int rc = meta_str(f, path, key, &v);
  if (rc) return rc;
  char *end;
  errno = 0;
  *out = strtod(v, &end);
  if (end == v || *end || errno || !isfinite(*out))
    return zr_seterr(-EINVAL, "%s: metadata '%s' = '%s' is not a finite number", path, key, v);
  return 0;
}

static int check_hyper(const zr_st_file *f, const char *path, const char *key, double want) {
  double got;
  int rc = meta_double(f, path, key, &got);
  if (rc) return rc;
  if (got != want)
    return zr_seterr(-EINVAL, "%s: %s is %.17g in the state file but %.17g in this optimizer", path, key, got, want);
  return 0;
}

static int check_tensor(const zr_st_file *f, const char *path, const char *name, size_t n, const zr_st_tensor **out) {
  const zr_st_tensor *t = zr_st_find(f, name);
  if (!t) return zr_seterr(-EINVAL, "%s: optimizer state has no tensor '%s'", path, name);
  if (t->dtype != ZR_DT_F32)
    return zr_seterr(-EINVAL, "%s: tensor '%s' is %s, expected F32", path, name, zr_dtype_name(t->dtype));
  if (t->ndim != 1 || t->shape[0] != (int64_t)n || t->nbytes != n * sizeof(float))
    return zr_seterr(-EINVAL, "%s: tensor '%s' has %d dims and %" PRId64 " elements, expected [%zu]", path, name,
                     t->ndim, t->ndim >= 1 ? t->shape[0] : 0, n);
  *out = t;
  return 0;
}

static int validate(const zr_adamw *o, const zr_st_file *f, const char *path, const zr_st_tensor **m,
                    const zr_st_tensor **v, int64_t *step, double *lr) {
  const char *s;
  int rc;
  if ((rc = meta_str(f, path, "optimizer", &s))) return rc;
  if (strcmp(s, "adamw") != 0) return zr_seterr(-EINVAL, "%s: optimizer state is for '%s', not adamw", path, s);
  if ((rc = meta_str(f, path, "n_params", &s))) return rc;
  char *end;
  errno = 0;
  unsigned long long n = strtoull(s, &end, 10);
  if (end == s || *end || errno || *s == '-') return zr_seterr(-EINVAL, "%s: metadata n_params = '%s' is not a count", path, s);
  if (n != o->n)
    return zr_seterr(-EINVAL, "%s: optimizer state is for %llu parameters, this optimizer has %zu", path, n, o->n);
  if ((rc = check_hyper(f, path, "beta1", o->cfg.beta1)) || (rc = check_hyper(f, path, "beta2", o->cfg.beta2)) ||
      (rc = check_hyper(f, path, "eps", o->cfg.eps)) ||
      (rc = check_hyper(f, path, "weight_decay", o->cfg.weight_decay)))
    return rc;
  if ((rc = meta_str(f, path, "groups", &s))) return rc;
  char *mine = groups_string(o);
  if (!mine) return zr_seterr(-ENOMEM, "%s: out of memory", path);
  if (strcmp(s, mine) != 0) {
    rc = zr_seterr(-EINVAL, "%s: parameter groups differ: state file has '%.200s', this optimizer '%.200s'", path, s,
                   mine);
    free(mine);
    return rc;
  }
  free(mine);
  if ((rc = meta_str(f, path, "step", &s))) return rc;
  errno = 0;
  long long st = strtoll(s, &end, 10);
  if (end == s || *end || errno || st < 0) return zr_seterr(-EINVAL, "%s: metadata step = '%s' is not a step count", path, s);
  *step = st;
  if ((rc = meta_double(f, path, "lr", lr))) return rc;
  if (*lr < 0) return zr_seterr(-EINVAL, "%s: metadata lr = %g is negative", path, *lr);
  if ((rc = check_tensor(f, path, "exp_avg", o->n, m)) || (rc = check_tensor(f, path, "exp_avg_sq", o->n, v))) return rc;
  if (zr_st_count(f) != 2)
    return zr_seterr(-EINVAL, "%s: optimizer state holds %zu tensors, expected exp_avg and exp_avg_sq only", path,
                     zr_st_count(f));
  return 0;
}

int zr_adamw_load(zr_adamw *o, const char *path) {
  ZR_ASSERT(o && path);
  zr_st_file *f = NULL;
  int rc = zr_st_open(&f, path);
  if (rc) return rc;
  const zr_st_tensor *m = NULL, *v = NULL;
  int64_t step = 0;
  double lr = 0;
  rc = validate(o, f, path, &m, &v, &step, &lr);
  if (rc == 0) {
    o->be->upload(o->be, o->state, m->data, o->n * sizeof(float));
    o->be->upload(o->be, o->state + o->n, v->data, o->n * sizeof(float));
    o->step = step;
    o->last_lr = lr;
  }
  zr_st_close(&f);
  return rc;
}
