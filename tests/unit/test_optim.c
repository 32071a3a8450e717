/* Unit test for model/optim and model/lr_schedule, against torch.optim.AdamW,
 * torch.nn.utils.clip_grad_norm_ and transformers' schedules (fixtures made by
 * tests/reference/make_optim_fixtures.py): 10 steps of params and state within 1e-5, clip norms,
 * schedules to 1e-7, bit-identical results on CPU backends with 1, 3 and 4 threads, frozen
 * ranges, state file round trip (resume == uninterrupted run, bit for bit, on a backend with
 * another thread count) and refusal of bad state files. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/json.h"
#include "model/backend.h"
#include "model/lr_schedule.h"
#include "model/optim.h"
#include "model/safetensors.h"
#include "tests/test.h"

static char fixture_dir[4096];

static zr_backend *cpu_backend(int threads) {
  zr_backend *be = NULL;
  if (zr_backend_cpu_new(&be, threads)) {
    fprintf(stderr, "cpu backend: %s\n", zr_errmsg());
    exit(1);
  }
  return be;
}

static json_t *load_fixture(const char *name) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", fixture_dir, name);
  json_t *j = zr_json_load_file(path);
  if (!j) {
    fprintf(stderr, "cannot load %s: %s\n", path, zr_errmsg());
    exit(1);
  }
  return j;
}

/* A JSON array of numbers into a new float (or double) array; exits on a malformed fixture. */
static float *json_floats(const json_t *arr, size_t want) {
  if (!json_is_array(arr) || json_array_size(arr) != want) {
    fprintf(stderr, "fixture array has %zu elements, want %zu\n", json_array_size(arr), want);
    exit(1);
  }
  float *out = malloc(want * sizeof *out);
  for (size_t i = 0; i < want; i++) out[i] = (float)json_number_value(json_array_get(arr, i));
  return out;
}

static double num(const json_t *obj, const char *key) { return json_number_value(json_object_get(obj, key)); }

/* max |a-b| and max |a-b| / (|b| + floor) over n */
static double max_abs_diff(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
  return m;
}
/* max |a-b| as a fraction of max |b|: a scale-aware tolerance for state that is ~1e-6 in size */
static double max_scaled_diff(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)b[i]));
  return max_abs_diff(a, b, n) / m;
}

typedef struct {
  json_t *j;
  size_t n, n_groups, steps;
  zr_optim_group groups[16];
  zr_adamw_config cfg;
  double lr, max_norm;
} torch_case;

static void case_load(torch_case *c, const char *name) {
  memset(c, 0, sizeof *c);
  c->j = load_fixture(name);
  c->n = (size_t)num(c->j, "n");
  c->steps = (size_t)num(c->j, "steps");
  c->lr = num(c->j, "lr");
  c->max_norm = num(c->j, "max_norm");
  c->cfg = zr_adamw_defaults();
  c->cfg.beta1 = num(c->j, "beta1");
  c->cfg.beta2 = num(c->j, "beta2");
  c->cfg.eps = num(c->j, "eps");
  c->cfg.weight_decay = num(c->j, "weight_decay");
  const json_t *layout = json_object_get(c->j, "layout");
  c->n_groups = json_array_size(layout);
  ZR_ASSERT(c->n_groups <= 16);
  for (size_t i = 0; i < c->n_groups; i++) {
    const json_t *t = json_array_get(layout, i);
    c->groups[i] = (zr_optim_group){(size_t)num(t, "offset"), (size_t)num(t, "length"),
                                    json_is_true(json_object_get(t, "weight_decay"))};
  }
}

/* Replays the torch run step by step: clip, step, compare. */
static void test_vs_torch(const char *name, int threads) {
  torch_case c;
  case_load(&c, name);
  zr_backend *be = cpu_backend(threads);
  zr_adamw *opt = NULL;
  CHECK_INT(zr_adamw_new(&opt, be, c.n, &c.cfg, c.groups, c.n_groups), 0);
  float *params = json_floats(json_object_get(c.j, "params0"), c.n);
  float *p0 = json_floats(json_object_get(c.j, "params0"), c.n);
  double worst_p = 0, worst_norm = 0, moved = 0;
  for (size_t s = 0; s < c.steps; s++) {
    float *g = json_floats(json_array_get(json_object_get(c.j, "grads"), s), c.n);
    double norm = -1, want = json_number_value(json_array_get(json_object_get(c.j, "norms"), s));
    CHECK_INT(zr_grad_clip(be, g, c.n, c.max_norm, &norm), 0);
    worst_norm = fmax(worst_norm, fabs(norm - want) / want);
    CHECK(fabs(norm - want) <= 1e-6 * want);
    CHECK_INT(zr_adamw_step(opt, params, g, c.lr), 0);
    float *want_p = json_floats(json_array_get(json_object_get(c.j, "params"), s), c.n);
    double d = max_abs_diff(params, want_p, c.n);
    worst_p = fmax(worst_p, d);
    if (d > 1e-5) fprintf(stderr, "%s step %zu: params differ by %g\n", name, s + 1, d);
    CHECK(d <= 1e-5);
    free(want_p);
    free(g);
  }
  moved = max_abs_diff(params, p0, c.n);
  float *m = json_floats(json_object_get(c.j, "exp_avg"), c.n);
  float *v = json_floats(json_object_get(c.j, "exp_avg_sq"), c.n);
  double dm = max_abs_diff(zr_adamw_exp_avg(opt), m, c.n), dv = max_abs_diff(zr_adamw_exp_avg_sq(opt), v, c.n);
  double rm = max_scaled_diff(zr_adamw_exp_avg(opt), m, c.n), rv = max_scaled_diff(zr_adamw_exp_avg_sq(opt), v, c.n);
  CHECK(dm <= 1e-5 && dv <= 1e-5);
  CHECK(rm <= 1e-5 && rv <= 1e-5); /* exp_avg_sq is ~1e-6 in size: also relative to its largest element */
  CHECK_INT(zr_adamw_step_count(opt), (long long)num(c.j, "step"));
  CHECK(moved > 100 * 1e-5); /* the comparison is meaningful: params moved far more than the tolerance */
  fprintf(stderr,
          "%s (threads %d): %zu steps, max |dparam| %.3g (params moved up to %.3g), max rel |dnorm| %.3g, "
          "max |dm| %.3g (%.3g of max |m|), max |dv| %.3g (%.3g of max |v|)\n",
          name, threads, c.steps, worst_p, moved, worst_norm, dm, rm, dv, rv);
  free(m);
  free(v);
  free(params);
  free(p0);
  zr_adamw_free(&opt);
  CHECK(opt == NULL);
  zr_backend_free(&be);
  json_decref(c.j);
}

static void test_schedules(void) {
  json_t *j = load_fixture("schedules.json");
  double base = num(j, "base_lr"), worst = 0;
  size_t steps = (size_t)num(j, "steps");
  const json_t *cases = json_object_get(j, "cases");
  for (size_t i = 0; i < json_array_size(cases); i++) {
    const json_t *c = json_array_get(cases, i);
    const char *kind = json_string_value(json_object_get(c, "kind"));
    int k = zr_lr_kind_parse(kind);
    CHECK(k >= 0);
    CHECK_STR(zr_lr_kind_name((zr_lr_kind)k), kind);
    zr_lr_schedule s = zr_lr_schedule_make((zr_lr_kind)k, base);
    s.warmup_steps = (int64_t)num(c, "warmup");
    s.total_steps = (int64_t)num(c, "total");
    s.min_lr_ratio = num(c, "min_lr_ratio");
    s.num_cycles = num(c, "num_cycles");
    CHECK_INT(zr_lr_schedule_check(&s), 0);
    const json_t *lrs = json_object_get(c, "lr");
    CHECK_INT(json_array_size(lrs), steps);
    for (size_t t = 0; t < steps; t++) {
      double want = json_number_value(json_array_get(lrs, t)), got = zr_lr_at(&s, (int64_t)t);
      double d = fabs(got - want) / base; /* as a fraction of the peak lr */
      worst = fmax(worst, d);
      if (d > 1e-7) fprintf(stderr, "schedule %zu (%s) t=%zu: %.17g vs %.17g\n", i, kind, t, got, want);
      CHECK(d <= 1e-7);
    }
  }
  fprintf(stderr, "schedules: %zu cases x %zu steps, max |dlr|/base_lr %.3g\n", json_array_size(cases), steps, worst);
  json_decref(j);

  CHECK_INT(zr_lr_kind_parse("cosine_with_min_lr"), ZR_LR_COSINE);
  CHECK_INT(zr_lr_kind_parse("polynomial"), -1);
  zr_lr_schedule s = zr_lr_schedule_make(ZR_LR_LINEAR, 1e-3);
  s.warmup_steps = 10;
  s.total_steps = 5;
  CHECK_INT(zr_lr_schedule_check(&s), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "total_steps");
  s = zr_lr_schedule_make(ZR_LR_COSINE, 1e-3);
  s.total_steps = 10;
  s.min_lr_ratio = 1.5;
  CHECK_INT(zr_lr_schedule_check(&s), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "min_lr_ratio");
  s = zr_lr_schedule_make(ZR_LR_CONSTANT, 0);
  CHECK_INT(zr_lr_schedule_check(&s), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "base lr");
  s = zr_lr_schedule_make(ZR_LR_CONSTANT_WITH_WARMUP, 1e-3);
  s.warmup_steps = -1;
  CHECK_INT(zr_lr_schedule_check(&s), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "warmup_steps");
}

/* ---- large random buffers ------------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double rnd(void) { /* xorshift64*, uniform [-1, 1) */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (double)((rng_state * 0x2545f4914f6cdd1dull) >> 11) * 0x1p-52 - 1.0;
}
static void fill(float *x, size_t n, double scale) {
  for (size_t i = 0; i < n; i++) x[i] = (float)(rnd() * scale);
}

#define BIG_N 1000003
static const zr_optim_group big_groups[] = {
    {0, 400000, 1}, {400000, 17, 0}, {400017, 500000, 1}, {900017, 99986, 0}, /* 1000003 - 900017 = 99986 */
};

typedef struct {
  float *p, *g0[3];
  float *p_out, *m_out, *v_out;
  double norms[3];
  double ms;
} big_run;

static void big_data(big_run *r) {
  r->p = malloc(BIG_N * sizeof(float));
  fill(r->p, BIG_N, 0.5);
  for (int s = 0; s < 3; s++) {
    r->g0[s] = malloc(BIG_N * sizeof(float));
    fill(r->g0[s], BIG_N, s == 1 ? 0.0001 : 0.01); /* step 2 is not clipped */
  }
}

static void big_steps(big_run *r, const big_run *data, int threads) {
  zr_adamw_config cfg = zr_adamw_defaults();
  cfg.beta2 = 0.95;
  cfg.weight_decay = 0.1;
  zr_backend *be = cpu_backend(threads);
  zr_adamw *opt = NULL;
  CHECK_INT(zr_adamw_new(&opt, be, BIG_N, &cfg, big_groups, 4), 0);
  r->p_out = malloc(BIG_N * sizeof(float));
  memcpy(r->p_out, data->p, BIG_N * sizeof(float));
  float *g = malloc(BIG_N * sizeof(float));
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int s = 0; s < 3; s++) {
    memcpy(g, data->g0[s], BIG_N * sizeof(float));
    CHECK_INT(zr_grad_clip(be, g, BIG_N, 1.0, &r->norms[s]), 0);
    CHECK_INT(zr_adamw_step(opt, r->p_out, g, 1e-3), 0);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  r->ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
  r->m_out = malloc(BIG_N * sizeof(float));
  r->v_out = malloc(BIG_N * sizeof(float));
  memcpy(r->m_out, zr_adamw_exp_avg(opt), BIG_N * sizeof(float));
  memcpy(r->v_out, zr_adamw_exp_avg_sq(opt), BIG_N * sizeof(float));
  free(g);
  zr_adamw_free(&opt);
  zr_backend_free(&be);
}

static void big_release(big_run *r) {
  free(r->p);
  for (int s = 0; s < 3; s++) free(r->g0[s]);
  free(r->p_out);
  free(r->m_out);
  free(r->v_out);
}

static void test_threads(void) {
  big_run data = {0}, r1 = {0}, r4 = {0}, r3 = {0};
  big_data(&data);
  big_steps(&r1, &data, 1);
  big_steps(&r4, &data, 4);
  big_steps(&r3, &data, 3);
  CHECK(memcmp(r1.p_out, r4.p_out, BIG_N * sizeof(float)) == 0);
  CHECK(memcmp(r1.m_out, r4.m_out, BIG_N * sizeof(float)) == 0);
  CHECK(memcmp(r1.v_out, r4.v_out, BIG_N * sizeof(float)) == 0);
  CHECK(memcmp(r1.norms, r4.norms, sizeof r1.norms) == 0);
  CHECK(memcmp(r1.p_out, r3.p_out, BIG_N * sizeof(float)) == 0);
  CHECK(memcmp(r1.norms, r3.norms, sizeof r1.norms) == 0);
  CHECK(r1.norms[0] > 1.0 && r1.norms[1] < 1.0); /* both paths (clipped, not clipped) ran */
  /* the norm against a plain double loop (different summation order: equal to ~1e-12) */
  double ss = 0;
  for (size_t i = 0; i < BIG_N; i++) ss += (double)data.g0[0][i] * data.g0[0][i];
  CHECK(fabs(sqrt(ss) - r1.norms[0]) <= 1e-12 * sqrt(ss));
  fprintf(stderr, "threads: %d params x 3 steps (clip + AdamW) on CPU backends: 1 thread %.1f ms, 4 threads %.1f ms, 3 threads %.1f ms; "
          "bit-identical\n", BIG_N, r1.ms, r4.ms, r3.ms);
  big_release(&data);
  big_release(&r1);
  big_release(&r4);
  big_release(&r3);
}

/* Elements outside every group are frozen; a group without decay gets none. */
static void test_groups(void) {
  const size_t n = 100;
  zr_optim_group groups[] = {{60, 20, 0}, {10, 30, 1}}; /* unsorted on purpose; 0-9, 40-59, 80-99 frozen */
  zr_adamw_config cfg = zr_adamw_defaults();
  cfg.weight_decay = 0.5;
  zr_backend *be = cpu_backend(2);
  zr_adamw *opt = NULL;
  CHECK_INT(zr_adamw_new(&opt, be, n, &cfg, groups, 2), 0);
  float p[100], g[100], p0[100];
  for (size_t i = 0; i < n; i++) {
    p[i] = p0[i] = 1.0f;
    g[i] = 0.0f; /* zero gradient: only weight decay moves a parameter */
  }
  CHECK_INT(zr_adamw_step(opt, p, g, 0.1), 0);
  for (size_t i = 0; i < n; i++) {
    int in_decay = i >= 10 && i < 40;
    float want = in_decay ? (float)(1.0 - 0.1 * 0.5) : 1.0f;
    if (p[i] != want) {
      fprintf(stderr, "element %zu: %g, want %g\n", i, p[i], want);
      CHECK(0);
    }
  }
  for (size_t i = 0; i < n; i++) g[i] = 1.0f;
  CHECK_INT(zr_adamw_step(opt, p, g, 0.1), 0);
  int frozen_ok = 1, moved_ok = 1;
  for (size_t i = 0; i < n; i++) {
    int frozen = i < 10 || (i >= 40 && i < 60) || i >= 80;
    if (frozen && (p[i] != p0[i] || zr_adamw_exp_avg(opt)[i] != 0 || zr_adamw_exp_avg_sq(opt)[i] != 0)) frozen_ok = 0;
    if (!frozen && !(p[i] < 0.96f)) moved_ok = 0;
  }
  CHECK(frozen_ok);
  CHECK(moved_ok);
  CHECK(zr_adamw_last_lr(opt) == 0.1);
  zr_adamw_free(&opt);

  /* refused configurations */
  zr_optim_group overlap[] = {{0, 50, 1}, {49, 10, 0}};
  CHECK_INT(zr_adamw_new(&opt, be, n, &cfg, overlap, 2), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "overlap");
  CHECK(opt == NULL);
  zr_optim_group outside[] = {{90, 11, 1}};
  CHECK_INT(zr_adamw_new(&opt, be, n, &cfg, outside, 1), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "outside");
  zr_optim_group empty[] = {{5, 0, 1}};
  CHECK_INT(zr_adamw_new(&opt, be, n, &cfg, empty, 1), -EINVAL);
  zr_adamw_config bad = cfg;
  bad.beta1 = 1.0;
  CHECK_INT(zr_adamw_new(&opt, be, n, &bad, NULL, 0), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "beta1");
  bad = cfg;
  bad.eps = NAN;
  CHECK_INT(zr_adamw_new(&opt, be, n, &bad, NULL, 0), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "eps");
  bad = cfg;
  bad.weight_decay = -0.1;
  CHECK_INT(zr_adamw_new(&opt, be, n, &bad, NULL, 0), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "weight_decay");
  CHECK_INT(zr_adamw_new(&opt, be, 0, &cfg, NULL, 0), -EINVAL);
  CHECK(opt == NULL);
  CHECK_INT(zr_adamw_new(&opt, be, n, &cfg, NULL, 0), 0);
  CHECK_INT(zr_adamw_step(opt, p, g, -1.0), -EINVAL);
  CHECK_INT(zr_adamw_step(opt, p, g, INFINITY), -EINVAL);
  CHECK_INT(zr_adamw_step_count(opt), 0);
  zr_adamw_free(&opt);
  zr_adamw_free(&opt); /* second free of a cleared pointer is a no-op */
  zr_backend_free(&be);
}

static void test_clip_and_check(void) {
  zr_backend *b1 = cpu_backend(1), *b4 = cpu_backend(4);
  float g[5] = {3, 4, 0, 0, 0};
  double norm = 0;
  CHECK_INT(zr_grad_clip(b1, g, 5, 1.0, &norm), 0);
  CHECK(norm == 5.0);
  CHECK(g[0] == (float)(3 * (1.0 / (5.0 + 1e-6))) && g[1] == (float)(4 * (1.0 / (5.0 + 1e-6))));
  float h[2] = {0.3f, 0.4f};
  CHECK_INT(zr_grad_clip(b1, h, 2, 1.0, &norm), 0); /* below max_norm: untouched */
  CHECK(h[0] == 0.3f && h[1] == 0.4f);
  CHECK_INT(zr_grad_clip(b1, h, 2, 0.0, &norm), -EINVAL);
  CHECK_INT(zr_grad_clip(b1, h, 2, NAN, &norm), -EINVAL);

  const size_t n = 300000;
  float *big = malloc(n * sizeof *big), *copy = malloc(n * sizeof *copy);
  fill(big, n, 1.0);
  size_t bad = 0;
  CHECK_INT(zr_grad_check_finite(b4, big, n, &bad), 0);
  big[250001] = INFINITY;
  big[270000] = NAN;
  memcpy(copy, big, n * sizeof *big);
  CHECK_INT(zr_grad_check_finite(b4, big, n, &bad), -ERANGE);
  CHECK_INT(bad, 250001);
  CHECK_CONTAINS(zr_errmsg(), "250001");
  CHECK_INT(zr_grad_clip(b4, big, n, 1.0, &norm), -ERANGE);
  CHECK(!isfinite(norm));
  CHECK_CONTAINS(zr_errmsg(), "skip");
  CHECK(memcmp(big, copy, n * sizeof *big) == 0); /* left as they were */
  big[250001] = 1.0f;
  CHECK_INT(zr_grad_check_finite(b1, big, n, &bad), -ERANGE);
  CHECK_INT(bad, 270000);
  CHECK(isnan(zr_grad_norm(b4, big, n)));
  big[3] = -INFINITY;
  CHECK_INT(zr_grad_check_finite(b4, big, n, NULL), -ERANGE);
  CHECK_CONTAINS(zr_errmsg(), "element 3 ");
  CHECK(zr_grad_norm(b1, big, 0) == 0);
  CHECK_INT(zr_grad_check_finite(b1, big, 3, &bad), 0); /* big[3] is outside */
  free(big);
  free(copy);
  zr_backend_free(&b1);
  zr_backend_free(&b4);
}

/* ---- state file ----------------------------------------------------------------------------- */

static char tmpdir[256];

/* Runs the torch case's gradients from step `from` to `to` with a cosine schedule indexed by the
 * optimizer's own step count (so a resume must restore it). */
static void run_steps(zr_backend *be, zr_adamw *opt, const torch_case *c, float *params, size_t from, size_t to) {
  zr_lr_schedule sch = zr_lr_schedule_make(ZR_LR_COSINE, 1e-3);
  sch.warmup_steps = 2;
  sch.total_steps = 10;
  sch.min_lr_ratio = 0.1;
  for (size_t s = from; s < to; s++) {
    float *g = json_floats(json_array_get(json_object_get(c->j, "grads"), s), c->n);
    double norm;
    CHECK_INT(zr_grad_clip(be, g, c->n, c->max_norm, &norm), 0);
    CHECK_INT(zr_adamw_step(opt, params, g, zr_lr_at(&sch, zr_adamw_step_count(opt))), 0);
    free(g);
  }
}

static int write_custom(const char *path, const char *const *meta, int n_tensors, zr_dtype dt, int64_t len) {
  static float buf[4096];
  zr_st_write_tensor t[3] = {
      {.name = "exp_avg", .dtype = dt, .ndim = 1, .shape = {len}, .data = buf},
      {.name = "exp_avg_sq", .dtype = dt, .ndim = 1, .shape = {len}, .data = buf},
      {.name = "extra", .dtype = dt, .ndim = 1, .shape = {len}, .data = buf},
  };
  return zr_st_write_file(path, t, (size_t)n_tensors, meta);
}

static void test_state_file(void) {
  torch_case c;
  case_load(&c, "adamw.json");
  char path[512];
  snprintf(path, sizeof path, "%s/opt.safetensors", tmpdir);

  /* uninterrupted: 10 steps */
  zr_backend *be1 = cpu_backend(1), *be4 = cpu_backend(4);
  zr_adamw *a = NULL;
  CHECK_INT(zr_adamw_new(&a, be1, c.n, &c.cfg, c.groups, c.n_groups), 0);
  float *pa = json_floats(json_object_get(c.j, "params0"), c.n);
  run_steps(be1, a, &c, pa, 0, 10);

  /* interrupted after 4: save, drop the optimizer, a new one (4-thread backend) loads, goes on */
  zr_adamw *b = NULL;
  CHECK_INT(zr_adamw_new(&b, be1, c.n, &c.cfg, c.groups, c.n_groups), 0);
  float *pb = json_floats(json_object_get(c.j, "params0"), c.n);
  run_steps(be1, b, &c, pb, 0, 4);
  double lr4 = zr_adamw_last_lr(b);
  CHECK_INT(zr_adamw_save(b, path), 0);
  zr_adamw_free(&b);
  CHECK_INT(zr_adamw_new(&b, be4, c.n, &c.cfg, c.groups, c.n_groups), 0);
  CHECK_INT(zr_adamw_load(b, path), 0);
  CHECK_INT(zr_adamw_step_count(b), 4);
  CHECK(zr_adamw_last_lr(b) == lr4 && lr4 > 0);
  run_steps(be4, b, &c, pb, 4, 10);
  CHECK(memcmp(pa, pb, c.n * sizeof(float)) == 0);
  CHECK(memcmp(zr_adamw_exp_avg(a), zr_adamw_exp_avg(b), c.n * sizeof(float)) == 0);
  CHECK(memcmp(zr_adamw_exp_avg_sq(a), zr_adamw_exp_avg_sq(b), c.n * sizeof(float)) == 0);
  CHECK_INT(zr_adamw_step_count(b), 10);

  /* the file is a plain safetensors file with the documented names and metadata */
  zr_st_file *f = NULL;
  CHECK_INT(zr_st_open(&f, path), 0);
  if (f) {
    CHECK_INT(zr_st_count(f), 2);
    CHECK(zr_st_find(f, "exp_avg") && zr_st_find(f, "exp_avg_sq"));
    CHECK_STR(zr_st_metadata(f, "optimizer"), "adamw");
    CHECK_STR(zr_st_metadata(f, "step"), "4");
    CHECK_STR(zr_st_metadata(f, "beta2"), "0.94999999999999996");
    CHECK_STR(zr_st_metadata(f, "groups"), "0:240:1;240:20:0;260:144:1;404:32:0");
    zr_st_close(&f);
  }

  /* refusals: each leaves the optimizer as it was */
  zr_adamw *other = NULL;
  CHECK_INT(zr_adamw_new(&other, be1, c.n + 1, &c.cfg, c.groups, c.n_groups), 0);
  CHECK_INT(zr_adamw_load(other, path), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "436 parameters");
  zr_adamw_free(&other);
  zr_adamw_config bad = c.cfg;
  bad.beta2 = 0.999;
  CHECK_INT(zr_adamw_new(&other, be1, c.n, &bad, c.groups, c.n_groups), 0);
  CHECK_INT(zr_adamw_load(other, path), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "beta2");
  CHECK_CONTAINS(zr_errmsg(), path);
  zr_adamw_free(&other);
  bad = c.cfg;
  bad.weight_decay = 0.0;
  CHECK_INT(zr_adamw_new(&other, be1, c.n, &bad, c.groups, c.n_groups), 0);
  CHECK_INT(zr_adamw_load(other, path), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "weight_decay");
  zr_adamw_free(&other);
  CHECK_INT(zr_adamw_new(&other, be1, c.n, &c.cfg, NULL, 0), 0); /* one group instead of four */
  CHECK_INT(zr_adamw_load(other, path), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "groups differ");
  zr_adamw_free(&other);

  char p2[512];
  snprintf(p2, sizeof p2, "%s/bad.safetensors", tmpdir);
  const char *good_meta[] = {"format", "pt", "optimizer", "adamw", "step", "4", "lr", "0.001", "beta1", "0.90000000000000002",
                             "beta2", "0.94999999999999996", "eps", "1e-08", "weight_decay", "0.10000000000000001",
                             "n_params", "436", "groups", "0:240:1;240:20:0;260:144:1;404:32:0", NULL};
  CHECK_INT(write_custom(p2, good_meta, 2, ZR_DT_F32, 436), 0); /* the hand-made file itself is fine */
  CHECK_INT(zr_adamw_load(b, p2), 0);
  CHECK_INT(zr_adamw_load(b, path), 0); /* back to the state after 4 steps */
  float *m_before = malloc(c.n * sizeof(float));
  memcpy(m_before, zr_adamw_exp_avg(b), c.n * sizeof(float));
  struct {
    const char *what;
    int n_tensors;
    zr_dtype dt;
    int64_t len;
    const char *key, *value, *needle;
  } cases[] = {
      {"missing exp_avg_sq", 1, ZR_DT_F32, 436, NULL, NULL, "exp_avg_sq"},
      {"extra tensor", 3, ZR_DT_F32, 436, NULL, NULL, "3 tensors"},
      {"f16 state", 2, ZR_DT_F16, 436, NULL, NULL, "F32"},
      {"short tensors", 2, ZR_DT_F32, 435, NULL, NULL, "expected [436]"},
      {"other optimizer", 2, ZR_DT_F32, 436, "optimizer", "sgd", "'sgd'"},
      {"negative step", 2, ZR_DT_F32, 436, "step", "-3", "step"},
      {"bad eps", 2, ZR_DT_F32, 436, "eps", "tiny", "'eps'"},
      {"no lr", 2, ZR_DT_F32, 436, "lr", NULL, "'lr'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *meta[32];
    size_t k = 0;
    for (size_t j = 0; good_meta[j]; j += 2) {
      const char *v = good_meta[j + 1];
      if (cases[i].key && strcmp(cases[i].key, good_meta[j]) == 0) {
        if (!cases[i].value) continue; /* drop the key */
        v = cases[i].value;
      }
      meta[k++] = good_meta[j];
      meta[k++] = v;
    }
    meta[k] = NULL;
    CHECK_INT(write_custom(p2, meta, cases[i].n_tensors, cases[i].dt, cases[i].len), 0);
    int rc = zr_adamw_load(b, p2);
    if (rc != -EINVAL) fprintf(stderr, "case '%s': rc %d (%s)\n", cases[i].what, rc, zr_errmsg());
    CHECK_INT(rc, -EINVAL);
    CHECK_CONTAINS(zr_errmsg(), cases[i].needle);
  }
  /* not a safetensors file at all; a truncated one; a missing one */
  FILE *fp = fopen(p2, "wb");
  fputs("this is not a safetensors file", fp);
  fclose(fp);
  CHECK(zr_adamw_load(b, p2) < 0);
  CHECK_CONTAINS(zr_errmsg(), "bad.safetensors");
  fp = fopen(path, "rb");
  char *img = malloc(8192);
  size_t len = fread(img, 1, 8192, fp);
  fclose(fp);
  fp = fopen(p2, "wb");
  fwrite(img, 1, len / 2, fp);
  fclose(fp);
  free(img);
  CHECK(zr_adamw_load(b, p2) < 0);
  snprintf(p2, sizeof p2, "%s/missing.safetensors", tmpdir);
  CHECK(zr_adamw_load(b, p2) < 0);
  CHECK_CONTAINS(zr_errmsg(), "missing.safetensors");
  CHECK(memcmp(m_before, zr_adamw_exp_avg(b), c.n * sizeof(float)) == 0); /* refusals changed nothing */
  CHECK_INT(zr_adamw_step_count(b), 4);
  fprintf(stderr, "state file: resume after 4 of 10 steps is bit-identical; %zu bad files refused\n",
          sizeof cases / sizeof cases[0] + 3);

  free(m_before);
  free(pa);
  free(pb);
  zr_adamw_free(&a);
  zr_adamw_free(&b);
  zr_backend_free(&be1);
  zr_backend_free(&be4);
  json_decref(c.j);
  snprintf(p2, sizeof p2, "%s/bad.safetensors", tmpdir);
  unlink(p2);
  unlink(path);
}

int main(void) {
  const char *src = getenv("ZERORL_SOURCE_DIR");
  snprintf(fixture_dir, sizeof fixture_dir, "%s/tests/fixtures/optim", src ? src : ".");
  test_vs_torch("adamw.json", 1);
  test_vs_torch("adamw.json", 4);
  test_vs_torch("adamw_eps.json", 1);
  test_schedules();
  test_groups();
  test_clip_and_check();
  test_threads();
  const char *tmp = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/zr_optim_XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_state_file();
  rmdir(tmpdir);
  return TEST_DONE();
}
