/* sampler_select.c: the sampler's selections (sampler_internal.h): the k-th largest logit for
 * top-k (bounded heap, or quickselect for large k: no sort) and the top-p cut (a quickselect
 * that carries the probability mass of each side, so only the few entries around the cut are
 * ever sorted). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/sampler_internal.h"

#define ZR_TOPK_HEAP_MAX 4096 /* above this k, quickselect on a copy instead of a heap */
#define ZR_TOPP_SORT_BELOW 24  /* ranges this small are sorted outright */

void zr_smp_heap_sift_down(float *h, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, m = i;
    if (l < n && h[l] < h[m]) m = l;
    if (l + 1 < n && h[l + 1] < h[m]) m = l + 1;
    if (m == i) return;
    float t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

/* The k-th largest element of a[0..n) (a is reordered). Quickselect with 3-way partitioning
 * (ties cost nothing) and a median-of-3 pivot. */
static float select_kth_largest(float *a, size_t n, size_t k) {
  size_t lo = 0, hi = n, want = n - k; /* index in ascending order */
  while (hi - lo > 1) {
    float x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1];
    float piv = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
    size_t lt = lo, i = lo, gt = hi; /* [lo,lt) < piv, [lt,i) == piv, [gt,hi) > piv */
    while (i < gt) {
      float v = a[i];
      if (v < piv) {
        a[i++] = a[lt];
        a[lt++] = v;
      } else if (v > piv) {
        a[i] = a[--gt];
        a[gt] = v;
      } else {
        i++;
      }
    }
    if (want < lt)
      hi = lt;
    else if (want >= gt)
      lo = gt;
    else
      return piv;
  }
  return a[lo];
}

/* The k-th largest raw logit. Division by t > 0 is monotone, so the k-th largest scaled logit is
 * this value / t; selecting on raw logits saves a division per token. */
float zr_smp_kth_largest(const float *logits, int vocab, size_t k, float *work) {
  if (k <= ZR_TOPK_HEAP_MAX) { /* min-heap of the k largest so far */
    memcpy(work, logits, k * sizeof *work);
    for (size_t i = k / 2; i-- > 0;) zr_smp_heap_sift_down(work, k, i);
    zr_smp_heap_scan(logits, (int)k, vocab, work, k);
    return work[0];
  }
  memcpy(work, logits, (size_t)vocab * sizeof *work);
  return select_kth_largest(work, (size_t)vocab, k);
}

/* ---- top-p: the ascending prefix to drop ---------------------------------------------------- */

static int cand_cmp(const void *a, const void *b) {
  uint64_t x = ((const zr_smp_cand *)a)->key, y = ((const zr_smp_cand *)b)->key;
  return x < y ? -1 : x > y;
}

static inline void cand_swap(zr_smp_cand *a, zr_smp_cand *b) {
  zr_smp_cand t = *a;
  *a = *b;
  *b = t;
}

/* Partitions c[lo..hi) around a median-of-3 pivot; returns the pivot's index m (keys below it
 * in [lo, m), above it in (m, hi)) and the summed fp32 probabilities of [lo, m) in *left. */
static size_t partition_mass(zr_smp_cand *c, size_t lo, size_t hi, float inv_z, double *left) {
  size_t mid = lo + (hi - lo) / 2, last = hi - 1;
  if (c[mid].key < c[lo].key) cand_swap(&c[mid], &c[lo]);
  if (c[last].key < c[lo].key) cand_swap(&c[last], &c[lo]);
  if (c[mid].key < c[last].key) cand_swap(&c[mid], &c[last]); /* median now at last */
  const uint64_t pk = c[last].key;
  size_t st = lo;
  double m = 0;
  for (size_t i = lo; i < last; i++) { /* branch-free Lomuto: [lo, st) < pk <= [st, i] */
    const zr_smp_cand x = c[i];
    const int below = x.key < pk;
    const double pf = (float)x.p * inv_z;
    c[i] = c[st];
    c[st] = x;
    st += (size_t)below;
    m += below ? pf : 0.0;
  }
  cand_swap(&c[st], &c[last]);
  *left = m;
  return st;
}

/* transformers' TopP rule as torch computes it: probabilities in fp32 (softmax multiplies by the
 * fp32 reciprocal of the sum), their cumulative sum in ascending order accumulated in double and
 * rounded to fp32 (torch's CPU cumsum), entry j dropped when that is <= thr (fp32); the largest
 * is always kept. Returns r: c[0..r) are dropped, c[r..n) survive (unordered). Mirroring the
 * fp32 steps matters for exact ties, e.g. a flat distribution whose cut lands on a boundary.
 * base is the mass of the lower tokens that never became candidates. */
size_t zr_smp_top_p_cut(zr_smp_cand *c, size_t n, float inv_z, float thr, double base) {
#define DROPPED(cum) ((float)(cum) <= thr)
  size_t lo = 0, hi = n; /* [0, lo) dropped; [hi, n) kept; keys increase across the three parts */
  /* base: the mass below c[] (tokens dropped before), then of [0, lo) too */
  int budget = 64;       /* partition rounds before falling back to a sort (bad pivots) */
  while (hi - lo > ZR_TOPP_SORT_BELOW && budget-- > 0) {
    double left;
    size_t m = partition_mass(c, lo, hi, inv_z, &left);
    double with_pivot = base + left + (float)c[m].p * inv_z;
    if (DROPPED(with_pivot)) { /* everything up to the pivot goes */
      base = with_pivot;
      lo = m + 1;
    } else if (DROPPED(base + left)) { /* the pivot is the first survivor */
      return m;
    } else {
      hi = m;
    }
  }
  qsort(c + lo, hi - lo, sizeof *c, cand_cmp);
  for (size_t i = lo; i < hi; i++) {
    base += (float)c[i].p * inv_z;
    if (!DROPPED(base)) return i;
  }
  return hi < n ? hi : n - 1; /* all dropped: keep the largest (it is c[n-1]) */
#undef DROPPED
}

