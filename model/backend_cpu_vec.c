/* backend_cpu_vec.c: the CPU backend's vectorised inner loops (backend_cpu_impl.h): exp-sums
 * and exp-scales over LM-head logit rows, and the attention row kernels.
 *
 * Written with GCC/clang vector extensions (a v8f is two SSE registers on baseline x86-64, one AVX
 * register with AVX2) so they vectorise at -O2 without -ffast-math; on x86-64 gcc each function is
 * compiled for the baseline and for AVX2 (target_clones), chosen at load time. Contraction is off
 * (ISO C mode), so both clones give the same bits. Vectors are never passed by value to a function
 * that is not inlined, so the vector calling convention never matters. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "model/backend_cpu_impl.h"

__extension__ typedef float v8f __attribute__((vector_size(32)));
__extension__ typedef int32_t v8i __attribute__((vector_size(32)));
__extension__ typedef uint32_t v8u __attribute__((vector_size(32)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif
#define INL static inline __attribute__((always_inline))
#define SET1(x) ((v8f){(x), (x), (x), (x), (x), (x), (x), (x)})
#define SELECT(m, a, b) ((v8f)(((m) & (v8i)(a)) | (~(m) & (v8i)(b))))

/* exp(x) in place for x <= ~88: Cody-Waite reduction by ln 2 and Cephes' expf polynomial (about
 * 1 ulp); 0 below -87 (e^-87 < 1.7e-38, never significant next to a maximum of weight 1). */
INL void fexp8(v8f *io) {
  const v8f x = *io, magic = SET1(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
  v8i under = x < SET1(-87.0f);
  v8f xc = SELECT(under, SET1(-87.0f), x);
  v8f kf = xc * SET1(1.44269504088896341f) + magic;
  v8i k = (v8i)kf - 0x4B400000;
  kf -= magic;
  v8f r = xc - kf * SET1(0.693359375f);
  r = r - kf * SET1(-2.12194440e-4f);
  v8f p = SET1(1.9875691500e-4f);
  p = p * r + SET1(1.3981999507e-3f);
  p = p * r + SET1(8.3334519073e-3f);
  p = p * r + SET1(4.1665795894e-2f);
  p = p * r + SET1(1.6666665459e-1f);
  p = p * r + SET1(5.0000001201e-1f);
  p = p * r * r + r + SET1(1.0f);
  p = (v8f)((v8u)p + ((v8u)k << 23)); /* unsigned: k may be negative */
  *io = (v8f)(~under & (v8i)p);
}

/* the same exp on one value (tails), so that every element sees the same function */
INL float fexp1(float x) {
  v8f v = SET1(x);
  fexp8(&v);
  return v[0];
}

INL float hsum(const v8f *a) { return (((*a)[0] + (*a)[4]) + ((*a)[1] + (*a)[5])) + (((*a)[2] + (*a)[6]) + ((*a)[3] + (*a)[7])); }

INL float vdot(const float *a, const float *b, int n) {
  v8f acc = SET1(0.0f);
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
  const v8f av = SET1(a);
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
  const v8f av = SET1(a);
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

CLONES float zr_cpu_vec_max(const float *x, int n) {
  v8f m = SET1(-INFINITY);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    v8f v;
    memcpy(&v, x + i, sizeof v);
    m = SELECT(v > m, v, m);
  }
  float mx = m[0];
  for (int j = 1; j < 8; j++) mx = m[j] > mx ? m[j] : mx;
  for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
  return mx;
}

/* s = sum e^(x-m), t = sum e^(x-m) (x-m): fp32 within blocks of 64, double across blocks */
CLONES void zr_cpu_vec_exp_stats(const float *x, int n, float m, float *s, float *t) {
  const v8f mv = SET1(m);
  double S = 0, T = 0;
  int i = 0;
  while (i + 8 <= n) {
    v8f a = SET1(0.0f), b = SET1(0.0f);
    int end = i + 64 <= n ? i + 64 : n - (n - i) % 8;
    for (; i < end; i += 8) {
      v8f d;
      memcpy(&d, x + i, sizeof d);
      d -= mv;
      v8f e = d;
      fexp8(&e);
      a += e;
      b += e * d;
    }
    S += hsum(&a);
    T += hsum(&b);
  }
  for (; i < n; i++) {
    float d = x[i] - m, e = fexp1(d);
    S += e;
    T += e * d;
  }
  *s = (float)S;
  *t = (float)T;
}

/* x = scale * e^(x - sub) */
CLONES void zr_cpu_vec_exp_scale(float *x, int n, float sub, float scale) {
  const v8f sv = SET1(sub), kv = SET1(scale);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    v8f v;
    memcpy(&v, x + i, sizeof v);
    v -= sv;
    fexp8(&v);
    v *= kv;
    memcpy(x + i, &v, sizeof v);
  }
  for (; i < n; i++) x[i] = scale * fexp1(x[i] - sub);
}

/* ---- attention ------------------------------------------------------------------------- */

#define BK 64

/* Query r (< nq <= ZR_ATTN_BQ) at position pos0 + r attends keys 0..pos0+r with an online softmax
 * over tiles of BK keys (see backend_cpu_attn.c). acc: nq * hd scratch. */
CLONES void zr_cpu_attend_rows(const float *q, int q_stride, int nq, int pos0, const float *k, const float *v,
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
        float corr = m[r] == -INFINITY ? 0.0f : fexp1(m[r] - mx);
        lr *= corr;
        vscale(ar, corr, hd);
      }
      int j = 0;
      for (; j + 8 <= cnt; j += 8) {
        v8f e;
        memcpy(&e, s + j, sizeof e);
        e -= SET1(mx);
        fexp8(&e);
        memcpy(s + j, &e, sizeof e);
      }
      for (; j < cnt; j++) s[j] = fexp1(s[j] - mx);
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
CLONES void zr_cpu_attn_bwd_row(int i, const float *qi, const float *doi, const float *oi, float lse, const float *k,
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
