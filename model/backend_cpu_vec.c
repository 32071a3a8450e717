/* backend_cpu_vec.c: the CPU backend's vectorised inner loops (backend_cpu_impl.h): exp-sums
 * and exp-scales over LM-head logit rows, and the attention row kernels. Vector types, the
 * AVX2/baseline clones and the exp come from model/simd.h. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "model/backend_cpu_impl.h"
#include "model/simd.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define ZR_HAVE_AVX2_PATHS 1 /* AdamW and x W^T with intrinsics, chosen at run time */
#endif

#define INL static inline __attribute__((always_inline))

INL float hsum(const v8f *a) { return (((*a)[0] + (*a)[4]) + ((*a)[1] + (*a)[5])) + (((*a)[2] + (*a)[6]) + ((*a)[3] + (*a)[7])); }

INL float vdot(const float *a, const float *b, int n) {
  v8f acc = V8F_SET1(0.0f);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    v8f x, y;
    memcpy(&x, a + i, sizeof x);
    memcpy(&y, b + i, sizeof y);
    acc += x * y;
  }
  float s = hsum(&acc);
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

INL void vaxpy(float *y, float a, const float *x, int n) {
  const v8f av = V8F_SET1(a);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    v8f xv, yv;
    memcpy(&xv, x + i, sizeof xv);
    memcpy(&yv, y + i, sizeof yv);
    yv += av * xv;
    memcpy(y + i, &yv, sizeof yv);
  }
  for (; i < n; i++) y[i] += a * x[i];
}

INL void vscale(float *y, float a, int n) {
  const v8f av = V8F_SET1(a);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    v8f yv;
    memcpy(&yv, y + i, sizeof yv);
    yv *= av;
    memcpy(y + i, &yv, sizeof yv);
  }
  for (; i < n; i++) y[i] *= a;
}

/* ---- LM head rows ---------------------------------------------------------------------- */

ZR_SIMD_CLONES float zr_cpu_vec_max(const float *x, int n) {
  v8f m = V8F_SET1(-INFINITY);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    v8f v;
    memcpy(&v, x + i, sizeof v);
    m = V8F_SELECT(v > m, v, m);
  }
  float mx = m[0];
  for (int j = 1; j < 8; j++) mx = m[j] > mx ? m[j] : mx;
  for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
  return mx;
}

/* s = sum e^(x-m), t = sum e^(x-m) (x-m): fp32 within blocks of 64, double across blocks */
ZR_SIMD_CLONES void zr_cpu_vec_exp_stats(const float *x, int n, float m, float *s, float *t) {
  const v8f mv = V8F_SET1(m);
  double S = 0, T = 0;
  int i = 0;
  while (i + 8 <= n) {
    v8f a = V8F_SET1(0.0f), b = V8F_SET1(0.0f);
    int end = i + 64 <= n ? i + 64 : n - (n - i) % 8;
    for (; i < end; i += 8) {
      v8f d;
      memcpy(&d, x + i, sizeof d);
      d -= mv;
      v8f e = d;
      zr_fexp8(&e);
      a += e;
      b += e * d;
    }
    S += hsum(&a);
    T += hsum(&b);
  }
  for (; i < n; i++) {
    float d = x[i] - m, e = zr_fexp1(d);
    S += e;
    T += e * d;
  }
  *s = (float)S;
  *t = (float)T;
}

/* x = scale * e^(x - sub) */
ZR_SIMD_CLONES void zr_cpu_vec_exp_scale(float *x, int n, float sub, float scale) {
  const v8f sv = V8F_SET1(sub), kv = V8F_SET1(scale);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    v8f v;
    memcpy(&v, x + i, sizeof v);
    v -= sv;
    zr_fexp8(&v);
    v *= kv;
    memcpy(x + i, &v, sizeof v);
  }
  for (; i < n; i++) x[i] = scale * zr_fexp1(x[i] - sub);
}

/* ---- attention ------------------------------------------------------------------------- */

#define BK 64

/* Query r (< nq <= ZR_ATTN_BQ) at position pos0 + r attends keys 0..pos0+r with an online softmax
 * over tiles of BK keys (see backend_cpu_attn.c). acc: nq * hd scratch. */
ZR_SIMD_CLONES void zr_cpu_attend_rows(const float *q, int q_stride, int nq, int pos0, const float *k, const float *v,
                               int kv_stride, int hd, float scale, float *out, int out_stride, float *lse,
                               int lse_stride, float *acc) {
  float m[ZR_ATTN_BQ], l[ZR_ATTN_BQ], s[BK];
  for (int r = 0; r < nq; r++) {
    m[r] = -INFINITY;
    l[r] = 0;
  }
  memset(acc, 0, (size_t)nq * hd * sizeof(float));
  int n_keys = pos0 + nq;
  for (int j0 = 0; j0 < n_keys; j0 += BK) {
    int j1 = j0 + BK < n_keys ? j0 + BK : n_keys;
    for (int r = 0; r < nq; r++) {
      int last = pos0 + r;
      if (j0 > last) continue;
      int je = j1 < last + 1 ? j1 : last + 1, cnt = je - j0;
      const float *qr = q + (size_t)r * q_stride;
      float mx = m[r];
      for (int j = 0; j < cnt; j++) {
        float sc = vdot(qr, k + (size_t)(j0 + j) * kv_stride, hd) * scale;
        s[j] = sc;
        mx = sc > mx ? sc : mx;
      }
      float *ar = acc + (size_t)r * hd, lr = l[r];
      if (m[r] != mx) { /* rescale what the earlier tiles accumulated (nothing on the first) */
        float corr = m[r] == -INFINITY ? 0.0f : zr_fexp1(m[r] - mx);
        lr *= corr;
        vscale(ar, corr, hd);
      }
      int j = 0;
      for (; j + 8 <= cnt; j += 8) {
        v8f e;
        memcpy(&e, s + j, sizeof e);
        e -= V8F_SET1(mx);
        zr_fexp8(&e);
        memcpy(s + j, &e, sizeof e);
      }
      for (; j < cnt; j++) s[j] = zr_fexp1(s[j] - mx);
      for (j = 0; j < cnt; j++) {
        lr += s[j];
        vaxpy(ar, s[j], v + (size_t)(j0 + j) * kv_stride, hd);
      }
      l[r] = lr;
      m[r] = mx;
    }
  }
  for (int r = 0; r < nq; r++) {
    float inv = 1.0f / l[r], *o = out + (size_t)r * out_stride, *ar = acc + (size_t)r * hd;
    for (int c = 0; c < hd; c++) o[c] = ar[c] * inv;
    if (lse) lse[(size_t)r * lse_stride] = m[r] + logf(l[r]);
  }
}

/* Backward of one query row i (position i, keys 0..i) of one head: dq_i overwritten, dk/dv rows
 * 0..i accumulated. p: scratch of i + 1 floats. */
ZR_SIMD_CLONES void zr_cpu_attn_bwd_row(int i, const float *qi, const float *doi, const float *oi, float lse, const float *k,
                                const float *v, int kv_stride, int hd, float scale, float *dqi, float *dk, float *dv,
                                float *p) {
  float D = vdot(doi, oi, hd);
  for (int j = 0; j <= i; j++) p[j] = vdot(qi, k + (size_t)j * kv_stride, hd) * scale;
  zr_cpu_vec_exp_scale(p, i + 1, lse, 1.0f);
  memset(dqi, 0, (size_t)hd * sizeof(float));
  for (int j = 0; j <= i; j++) {
    const float *kj = k + (size_t)j * kv_stride, *vj = v + (size_t)j * kv_stride;
    float ds = p[j] * (vdot(doi, vj, hd) - D) * scale;
    vaxpy(dv + (size_t)j * kv_stride, p[j], doi, hd);
    vaxpy(dqi, ds, kj, hd);
    vaxpy(dk + (size_t)j * kv_stride, ds, qi, hd);
  }
}

/* ---- AdamW ----------------------------------------------------------------------------- */

/* The scalar reference (backend_cpu.c's loop as it was): torch's fp32 AdamW kernel, op for op. */
static void adamw_scalar(float *p, const float *g, float *m, float *v, int64_t s, int64_t e, const zr_adamw_coef *c) {
  const float decay = c->decay, w1 = c->w1, b2 = c->beta2, w2 = c->w2, ns = -c->step_size, bc2s = c->bc2_sqrt,
              eps = c->eps;
  for (int64_t i = s; i < e; i++) {
    const float gi = g[i];
    float mi = m[i], vi = v[i], pi = p[i] * decay;
    /* at::lerp: weight < 0.5 ? self + weight * (end - self) : end - (end - self) * (1 - weight) */
    mi = w1 < 0.5f ? mi + w1 * (gi - mi) : gi - (gi - mi) * (1.0f - w1);
    vi = vi * b2;
    vi = vi + w2 * gi * gi;
    const float denom = sqrtf(vi) / bc2s + eps;
    p[i] = pi + ns * mi / denom; /* addcdiv: self + value * t1 / t2 */
    m[i] = mi;
    v[i] = vi;
  }
}

#ifdef ZR_HAVE_AVX2_PATHS
/* The same operations in the same order on 8 lanes (no FMA contraction: every product and sum is
 * rounded as in the scalar loop; vsqrtps and vdivps are correctly rounded like sqrtss/divss), so
 * the bits are identical. The scalar loop was bound by its sqrt and division latency (a quarter
 * of a 0.5B training step); this one is bound by memory. */
__attribute__((target("avx2"))) static void adamw_avx2(float *p, const float *g, float *m, float *v, int64_t s,
                                                       int64_t e, const zr_adamw_coef *c) {
  const __m256 decay = _mm256_set1_ps(c->decay), w1 = _mm256_set1_ps(c->w1), omw1 = _mm256_set1_ps(1.0f - c->w1),
               b2 = _mm256_set1_ps(c->beta2), w2 = _mm256_set1_ps(c->w2), ns = _mm256_set1_ps(-c->step_size),
               bc2s = _mm256_set1_ps(c->bc2_sqrt), eps = _mm256_set1_ps(c->eps);
  const int low = c->w1 < 0.5f;
  int64_t i = s;
  for (; i + 8 <= e; i += 8) {
    __m256 gi = _mm256_loadu_ps(g + i), mi = _mm256_loadu_ps(m + i), vi = _mm256_loadu_ps(v + i);
    __m256 pi = _mm256_mul_ps(_mm256_loadu_ps(p + i), decay), diff = _mm256_sub_ps(gi, mi);
    mi = low ? _mm256_add_ps(mi, _mm256_mul_ps(w1, diff)) : _mm256_sub_ps(gi, _mm256_mul_ps(diff, omw1));
    vi = _mm256_mul_ps(vi, b2);
    vi = _mm256_add_ps(vi, _mm256_mul_ps(_mm256_mul_ps(w2, gi), gi));
    __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bc2s), eps);
    _mm256_storeu_ps(p + i, _mm256_add_ps(pi, _mm256_div_ps(_mm256_mul_ps(ns, mi), denom)));
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
  }
  adamw_scalar(p, g, m, v, i, e, c);
}
#endif

void zr_cpu_vec_adamw(float *p, const float *g, float *m, float *v, int64_t s, int64_t e, const zr_adamw_coef *c) {
#ifdef ZR_HAVE_AVX2_PATHS
  if (__builtin_cpu_supports("avx2")) {
    adamw_avx2(p, g, m, v, s, e, c);
    return;
  }
#endif
  adamw_scalar(p, g, m, v, s, e, c);
}

/* ---- x W^T for few rows of x ------------------------------------------------------------- */

#define NT_TILE(NW, NX)                                                                                             \
  do {                                                                                                            \
    v8f acc[NW][NX];                                                                                              \
    _Pragma("GCC unroll 4") for (int u = 0; u < NW; u++)                                                          \
      _Pragma("GCC unroll 4") for (int r = 0; r < NX; r++) acc[u][r] = V8F_SET1(0.0f);                            \
    int kk = 0;                                                                                                   \
    for (; kk + 8 <= k; kk += 8) {                                                                                \
      v8f xv[NX], wv;                                                                                             \
      _Pragma("GCC unroll 4") for (int r = 0; r < NX; r++) memcpy(&xv[r], A + (size_t)(i + r) * lda + kk, sizeof(v8f)); \
      _Pragma("GCC unroll 4") for (int u = 0; u < NW; u++) {                                                      \
        memcpy(&wv, B + (size_t)(j + u) * ldb + kk, sizeof wv);                                                   \
        _Pragma("GCC unroll 4") for (int r = 0; r < NX; r++) acc[u][r] += xv[r] * wv;                             \
      }                                                                                                           \
    }                                                                                                             \
    for (int u = 0; u < NW; u++)                                                                                  \
      for (int r = 0; r < NX; r++) {                                                                              \
        const float *x = A + (size_t)(i + r) * lda, *w = B + (size_t)(j + u) * ldb;                               \
        float sum = hsum(&acc[u][r]);                                                                             \
        for (int t = kk; t < k; t++) sum += x[t] * w[t];                                                          \
        float *c = C + (size_t)(i + r) * ldc + j + u;                                                             \
        *c = beta == 0.0f ? alpha * sum : alpha * sum + beta * *c;                                                \
      }                                                                                                           \
  } while (0)

/* C's block [0, m) x [j0, j1) in tiles of 4 W rows x 3/2/1 x rows (four W rows stay in L1 while
 * every x row passes over them), then the last W rows one by one */
#define NT_BLOCKS(TILE)                                                                                            \
  do {                                                                                                            \
    int j = j0;                                                                                                   \
    for (; j + 4 <= j1; j += 4) {                                                                                 \
      int i = 0;                                                                                                  \
      for (; i + 3 <= m; i += 3) TILE(4, 3);                                                                      \
      for (; i + 2 <= m; i += 2) TILE(4, 2);                                                                      \
      for (; i < m; i++) TILE(4, 1);                                                                              \
    }                                                                                                             \
    for (; j < j1; j++)                                                                                           \
      for (int i = 0; i < m; i++) TILE(1, 1);                                                                     \
  } while (0)

/* The same tiles with fused multiply-adds (AVX2 + FMA): the mul + add form needs a temporary
 * per product, and with 12 accumulators the 16 vector registers then spill one accumulator to
 * the stack inside the loop, a store-to-load chain that halved the kernel's speed (33 GFLOP/s
 * per core against 57 at 32 rows on the LM head). One rounding per product instead of two. */
#ifdef ZR_HAVE_AVX2_PATHS
#define NT_TILE_FMA(NW, NX)                                                                                         \
  do {                                                                                                            \
    __m256 acc[NW][NX];                                                                                           \
    _Pragma("GCC unroll 4") for (int u = 0; u < NW; u++)                                                          \
      _Pragma("GCC unroll 4") for (int r = 0; r < NX; r++) acc[u][r] = _mm256_setzero_ps();                       \
    int kk = 0;                                                                                                   \
    for (; kk + 8 <= k; kk += 8) {                                                                                \
      __m256 xv[NX];                                                                                              \
      _Pragma("GCC unroll 4") for (int r = 0; r < NX; r++) xv[r] = _mm256_loadu_ps(A + (size_t)(i + r) * lda + kk); \
      _Pragma("GCC unroll 4") for (int u = 0; u < NW; u++) {                                                      \
        __m256 wv = _mm256_loadu_ps(B + (size_t)(j + u) * ldb + kk);                                              \
        _Pragma("GCC unroll 4") for (int r = 0; r < NX; r++) acc[u][r] = _mm256_fmadd_ps(xv[r], wv, acc[u][r]);   \
      }                                                                                                           \
    }                                                                                                             \
    for (int u = 0; u < NW; u++)                                                                                  \
      for (int r = 0; r < NX; r++) {                                                                              \
        const float *x = A + (size_t)(i + r) * lda, *w = B + (size_t)(j + u) * ldb;                               \
        v8f a8;                                                                                                   \
        memcpy(&a8, &acc[u][r], sizeof a8);                                                                       \
        float sum = hsum(&a8);                                                                                    \
        for (int t = kk; t < k; t++) sum += x[t] * w[t];                                                          \
        float *c = C + (size_t)(i + r) * ldc + j + u;                                                             \
        *c = beta == 0.0f ? alpha * sum : alpha * sum + beta * *c;                                                \
      }                                                                                                           \
  } while (0)

__attribute__((target("avx2,fma"), no_sanitize("address", "undefined"))) static void
gemm_nt_fma(int m, int j0, int j1, int k, float alpha, const float *A, int lda, const float *B, int ldb, float beta,
            float *C, int ldc) {
  NT_BLOCKS(NT_TILE_FMA);
}
#endif

/* Not instrumented by the sanitizers: under ASan this loop (every decode GEMM) ran ~10x slower,
 * which timed out the daemon tests; its bounds are those of the sgemm call it replaces, and
 * unit.backend_cpu checks it against OpenBLAS on every shape class. */
__attribute__((no_sanitize("address", "undefined"))) ZR_SIMD_CLONES void
zr_cpu_vec_gemm_nt_portable(int m, int j0, int j1, int k, float alpha, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc) {
  NT_BLOCKS(NT_TILE);
}

void zr_cpu_vec_gemm_nt(int m, int j0, int j1, int k, float alpha, const float *A, int lda, const float *B, int ldb,
                        float beta, float *C, int ldc) {
#ifdef ZR_HAVE_AVX2_PATHS
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    gemm_nt_fma(m, j0, j1, k, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
#endif
  zr_cpu_vec_gemm_nt_portable(m, j0, j1, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
