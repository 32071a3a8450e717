/* sampler_internal.h: internal to the sampler (sampler.c, sampler_vec.c, sampler_select.c):
 * the candidate record and the passes the pipeline in sampler.c is built from. Nothing here
 * allocates; every function works in buffers the caller passes (the caller's scratch). */
#ifndef ZR_SAMPLER_INTERNAL_H
#define ZR_SAMPLER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A token that may survive: key = (order-preserving bits of s) << 32 | token id, so comparing
 * keys compares the scaled logit s and breaks ties by id; p = exp(s - s_max), not normalised. */
typedef struct {
  uint64_t key;
  double p;
} zr_smp_cand;

static inline uint64_t zr_smp_key(float s, int id) {
  s += 0.0f; /* -0 -> +0: equal floats must get equal keys */
  uint32_t u;
  memcpy(&u, &s, 4);
  u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (uint64_t)u << 32 | (uint32_t)id;
}
static inline int zr_smp_key_id(uint64_t key) { return (int)(uint32_t)key; }

/* ---- sampler_vec.c: SIMD passes over the vocabulary ----------------------------------------- */

/* exp(x) for x <= 0 in fp32 (~1 ulp; exactly 1 at 0; 0 below -86). */
float zr_smp_fexp(float x);
/* Max of x[0..n) (n >= 1), its lowest index, and whether any element is NaN/inf. */
float zr_smp_scan_max(const float *x, int n, int *argmax, int *nonfinite);
/* e[i] = exp(x[i]/t - sub) when e is not NULL; returns the sum (fp32 within blocks of 64, double
 * across them). */
double zr_smp_exp_pass(const float *x, int n, float t, float sub, float *e);
/* Offers x[from..n) to the min-heap heap[0..k) of the k largest values (sampler_select.c keeps
 * the heap; zr_smp_heap_sift_down restores it after heap[0] was replaced). */
void zr_smp_heap_scan(const float *x, int from, int n, float *heap, size_t k);
/* Candidates of top-k: tokens with logit >= lo whose s = logit / t is >= kth_s, weight e[i]. */
size_t zr_smp_collect_top_k(const float *logits, const float *e, int vocab, float t, float lo, float kth_s,
                            zr_smp_cand *c);
/* Candidates of top-p / min-p without top-k: tokens with e >= e_cut and e * inv_z >= p_cut; the
 * fp32 probabilities e * inv_z of the others are summed in double into *base. */
size_t zr_smp_collect_pre_drop(const float *logits, const float *e, int vocab, float t, float inv_z, float e_cut,
                               float p_cut, zr_smp_cand *c, double *base);

/* ---- sampler_select.c: top-k and top-p selection -------------------------------------------- */

void zr_smp_heap_sift_down(float *h, size_t n, size_t i);
/* The k-th largest of logits[0..vocab) (1 <= k <= vocab); work holds vocab floats. */
float zr_smp_kth_largest(const float *logits, int vocab, size_t k, float *work);
/* TopP over c[0..n) (see sampler_select.c); base is the probability mass below every candidate.
 * Returns r: c[0..r) are dropped, c[r..n) survive (unordered). */
size_t zr_smp_top_p_cut(zr_smp_cand *c, size_t n, float inv_z, float thr, double base);

#endif
