/* sampler_vec.c: the sampler's passes over the whole vocabulary (sampler_internal.h). Vector
 * types, the AVX2/baseline clones and the exp come from model/simd.h. Lanes are combined in a
 * fixed order: results never depend on the compiler's choices. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "model/sampler_internal.h"
#include "model/simd.h"

__extension__ typedef float v4f __attribute__((vector_size(16)));
__extension__ typedef double v4d __attribute__((vector_size(32)));

/* 1 when any lane of the mask *m is set */
static inline int any8(const v8i *m) {
  uint64_t w[4];
  memcpy(w, m, sizeof w);
  return (w[0] | w[1] | w[2] | w[3]) != 0;
}
float zr_smp_fexp(float x) { return zr_fexp1(x); }

/* Max of x[0..n), its first index (torch.argmax picks the lowest id on ties) and whether any
 * element is NaN/inf (exponent all ones). */
ZR_SIMD_CLONES float zr_smp_scan_max(const float *x, int n, int *argmax, int *nonfinite) {
  v8f m = V8F_SET1(x[0]);
  v8i bad = {0}, at = {0}, idx = {0, 1, 2, 3, 4, 5, 6, 7};
  const v8i expo = (v8i){0} + 0x7f800000, eight = (v8i){0} + 8;
  int i = 0;
  for (; i + 8 <= n; i += 8, idx += eight) {
    v8f v;
    memcpy(&v, x + i, sizeof v);
    bad |= ((v8i)v & expo) == expo;
    v8i gt = v > m; /* strictly greater: each lane keeps its first max */
    m = V8F_SELECT(gt, v, m);
    at = (gt & idx) | (~gt & at);
  }
  float mx = m[0];
  int arg = at[0], any = bad[0] != 0;
  for (int j = 1; j < 8; j++) {
    if (m[j] > mx || (m[j] == mx && at[j] < arg)) {
      mx = m[j];
      arg = at[j];
    }
    any |= bad[j] != 0;
  }
  for (; i < n; i++) {
    any |= !isfinite(x[i]);
    if (x[i] > mx) {
      mx = x[i];
      arg = i;
    }
  }
  *argmax = arg;
  *nonfinite = any;
  return mx;
}

/* e[i] = exp(x[i]/t - sub) (when e is not NULL); returns the sum, formed in fp32 over blocks of
 * 64 (8 lanes) and in double across blocks. */
ZR_SIMD_CLONES double zr_smp_exp_pass(const float *x, int n, float t, float sub, float *e) {
  const v8f tv = V8F_SET1(t), sv = V8F_SET1(sub);
  double z = 0;
  int i = 0;
  while (i + 8 <= n) {
    v8f a = V8F_SET1(0.0f);
    int end = i + 64 <= n ? i + 64 : n - (n - i) % 8;
    for (; i < end; i += 8) {
      v8f x0;
      memcpy(&x0, x + i, sizeof x0);
      if (t != 1.0f) x0 /= tv;
      v8f e0 = x0 - sv;
      zr_fexp8(&e0);
      if (e) memcpy(e + i, &e0, sizeof e0);
      a += e0;
    }
    z += (((double)a[0] + a[1]) + ((double)a[2] + a[3])) + (((double)a[4] + a[5]) + ((double)a[6] + a[7]));
  }
  for (; i < n; i++) {
    float v = zr_smp_fexp(x[i] / t - sub);
    if (e) e[i] = v;
    z += v;
  }
  return z;
}


/* Offers logits[from..vocab) to the min-heap of the k largest. Most tokens lose to the heap's
 * minimum, so 8 are tested at once. */
ZR_SIMD_CLONES void zr_smp_heap_scan(const float *logits, int from, int vocab, float *heap, size_t k) {
  int i = from;
  for (; i + 8 <= vocab; i += 8) {
    v8f v;
    memcpy(&v, logits + i, sizeof v);
    v8i gt = v > V8F_SET1(heap[0]);
    if (!any8(&gt)) continue;
    for (int j = i; j < i + 8; j++)
      if (logits[j] > heap[0]) {
        heap[0] = logits[j];
        zr_smp_heap_sift_down(heap, k, 0);
      }
  }
  for (; i < vocab; i++)
    if (logits[i] > heap[0]) {
      heap[0] = logits[i];
      zr_smp_heap_sift_down(heap, k, 0);
    }
}

/* Candidates of top-k: tokens with l >= lo (8 tested at once) whose s = l / t >= kth_s. */
ZR_SIMD_CLONES size_t zr_smp_collect_top_k(const float *logits, const float *e, int vocab, float t, float lo,
                                          float kth_s, zr_smp_cand *c) {
  size_t n = 0;
  int i = 0;
  for (; i < vocab; i++) {
    if ((i & 7) == 0 && i + 8 <= vocab) {
      v8f v;
      memcpy(&v, logits + i, sizeof v);
      v8i ge = v >= V8F_SET1(lo);
      if (!any8(&ge)) {
        i += 7;
        continue;
      }
    }
    if (logits[i] < lo) continue;
    const float si = logits[i] / t;
    if (si >= kth_s) c[n++] = (zr_smp_cand){zr_smp_key(si, i), e[i]};
  }
  return n;
}

/* Candidates of top-p / min-p: tokens that neither rule drops outright (see run_filter); the
 * fp32 probabilities of the others are summed in double into *base. */
ZR_SIMD_CLONES size_t zr_smp_collect_pre_drop(const float *logits, const float *e, int vocab, float t, float inv_z,
                                             float e_cut, float p_cut, zr_smp_cand *c, double *base) {
  const v8f izv = V8F_SET1(inv_z), ecv = V8F_SET1(e_cut), pcv = V8F_SET1(p_cut);
  v4d acc = {0, 0, 0, 0};
  size_t n = 0;
  int i = 0;
  for (; i + 8 <= vocab; i += 8) {
    v8f e8, pf;
    memcpy(&e8, e + i, sizeof e8);
    pf = e8 * izv;
    v8i drop = (e8 < ecv) | (pf < pcv), keep = ~drop;
    v8f dropped = (v8f)(drop & (v8i)pf);
    v4f half[2];
    memcpy(half, &dropped, sizeof half);
    acc += __builtin_convertvector(half[0], v4d) + __builtin_convertvector(half[1], v4d);
    if (!any8(&keep)) continue;
    v8f s8;
    memcpy(&s8, logits + i, sizeof s8);
    if (t != 1.0f) s8 /= V8F_SET1(t);
    float sv[8];
    int32_t kv[8];
    memcpy(sv, &s8, sizeof sv);
    memcpy(kv, &keep, sizeof kv);
    for (int j = 0; j < 8; j++) { /* branch-free: always write, advance when kept (n <= i + j) */
      c[n] = (zr_smp_cand){zr_smp_key(sv[j], i + j), e[i + j]};
      n += (size_t)(kv[j] & 1);
    }
  }
  double b = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  for (; i < vocab; i++) {
    const float pf = e[i] * inv_z;
    if (e[i] < e_cut || pf < p_cut)
      b += pf;
    else
      c[n++] = (zr_smp_cand){zr_smp_key(logits[i] / t, i), e[i]};
  }
  *base = b;
  return n;
}

