/* sampler.c: choosing the next token (sampler.h): parameters, the filtering pipeline, the draw.
 *
 * Filtering reproduces transformers' warpers in their order (Temperature, TopK, TopP, MinP):
 *   temperature  s_i = logit_i / T in fp32 (TemperatureLogitsWarper divides in fp32);
 *   top-k        keep s_i >= the k-th largest s (every token tied with it survives, as with
 *                torch.topk + `scores < kth`);
 *   top-p        order the survivors ASCENDING by s and drop those whose cumulative probability
 *                is <= 1 - top_p, always keeping the largest, with torch's arithmetic step by
 *                step (fp32 probabilities, cumulative sum in double rounded to fp32, fp32
 *                comparison). Ties in that order go by ascending token id, i.e. what the warper
 *                computes with a stable sort: torch.sort(stable=False) leaves the order of ties
 *                unspecified, which matters only when a tie straddles the cut, and then only for
 *                which of the tied ids survive, never how many;
 *   min-p        drop p_i < min_p * p_max among the survivors.
 * Weights are exp(s_i - s_max) in fp32 (sampler_vec.c, as accurate as torch's expf), summed in
 * double. The draw inverts the cumulative distribution of the survivors, in token-id order, with
 * one uniform from zr_rng_uniform(seed, sequence, position, stream 0): a pick depends on its
 * inputs only, and which token a uniform selects depends on the distribution only (not on how
 * the selection shuffled the candidates), so another implementation can reproduce it.
 *
 * Cost: two or three SIMD passes over the vocabulary (max, exp, and the raw log-sum-exp when
 * T != 1) plus work on the candidates only: top-k candidates are the k-th and above; top-p and
 * min-p candidates exclude every token the rule drops whatever the order (see run_filter).
 *
 * Scratch layout (caller's buffer of zr_sampler_scratch_floats(vocab) floats): an 8-byte aligned
 * array of vocab candidates, then vocab floats of exp(s - s_max), then vocab floats for the
 * top-k selection. */
#include "model/sampler.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/error.h"
#include "model/sampler_internal.h"

size_t zr_sampler_scratch_floats(int vocab) {
  size_t v = vocab > 0 ? (size_t)vocab : 0, per = sizeof(zr_smp_cand) / sizeof(float);
  return v * per + 2 * v + per; /* + per: room to align the candidates */
}

static int check_params(const zr_sampling *s, int vocab) {
  if (vocab < 1) return zr_seterr(-EINVAL, "sampler: vocab must be >= 1, got %d", vocab);
  if (!(s->temperature >= 0 && isfinite(s->temperature)))
    return zr_seterr(-EINVAL, "sampler: temperature must be >= 0 and finite, got %g", (double)s->temperature);
  if (s->top_k < 0) return zr_seterr(-EINVAL, "sampler: top_k must be >= 0 (0 = off), got %d", s->top_k);
  if (!(s->top_p >= 0 && s->top_p <= 1))
    return zr_seterr(-EINVAL, "sampler: top_p must be in [0, 1] (1 = off), got %g", (double)s->top_p);
  if (!(s->min_p >= 0 && s->min_p <= 1))
    return zr_seterr(-EINVAL, "sampler: min_p must be in [0, 1] (0 = off), got %g", (double)s->min_p);
  return 0;
}

#define ZR_SURVIVOR_LIST_MAX 1024 /* up to this many survivors are listed in id order */

typedef enum {
  ALL = 0,   /* every token survives: weights e[] */
  LIST,      /* the survivors are c[0..n), sorted by id */
  PREDICATE, /* too many to sort: a token survives when survives() says so */
} survivor_form;

typedef struct {
  survivor_form form;
  zr_smp_cand *c; /* LIST: the survivors; PREDICATE: unordered, for their sum only */
  size_t n;
  const float *e; /* exp(s_i - s_max) for every token */
  double z;       /* sum of the survivors' weights */
  float t, smax;  /* temperature; max of the scaled logits */
  float mx;       /* max raw logit, at token arg (the lowest such id) */
  int arg;
  double z_raw;   /* sum of exp(logit - mx) over the vocabulary */
  /* PREDICATE: the tests that made the survivors, in the order run_filter applied them */
  float lo, kth_s;    /* top-k: logit >= lo and s >= kth_s (-inf when off) */
  float e_cut, p_cut; /* min-p and top-p's outright drops: e >= e_cut and e * inv_z >= p_cut */
  float inv_z;
  uint64_t key_cut;   /* top-p: key >= the smallest surviving key */
} filtered;

static int survives(const filtered *f, const float *logits, int i) {
  const float l = logits[i], e = f->e[i];
  if (l < f->lo || e < f->e_cut || e * f->inv_z < f->p_cut) return 0;
  const float s = l / f->t;
  return s >= f->kth_s && zr_smp_key(s, i) >= f->key_cut;
}

static uint64_t min_key(const zr_smp_cand *c, size_t n) {
  uint64_t k = UINT64_MAX;
  for (size_t i = 0; i < n; i++) k = c[i].key < k ? c[i].key : k;
  return k;
}

static int cand_id_cmp(const void *a, const void *b) {
  int x = zr_smp_key_id(((const zr_smp_cand *)a)->key), y = zr_smp_key_id(((const zr_smp_cand *)b)->key);
  return x < y ? -1 : x > y;
}

/* Validates, then applies the warpers. Greedy (t == 0) stops after the raw statistics.
 *
 * Work is bounded by the vocabulary plus the candidates: a token goes straight to the dropped
 * prefix, without becoming a candidate, when min-p drops it (e < min_p) or when top-p must drop
 * it whatever the order (fp32 probability < 0.99 * (1 - top_p) / vocab: all such tokens together
 * hold less than 1 - top_p). Both tests are monotone in s, so the tokens they drop are the
 * lowest; their mass still counts in top-p's cumulative sum.
 *
 * The survivors end up in id order (listed, or enumerable by survives()), so the draw below
 * inverts the distribution in token-id order: which token a uniform selects depends on the
 * distribution only, not on how the selection shuffled the candidates. */
static int run_filter(const zr_sampling *s, const float *logits, int vocab, float *scratch, filtered *f) {
  ZR_ASSERT(s && logits && scratch && f);
  int rc = check_params(s, vocab);
  if (rc) return rc;
  int nonfinite, arg;
  const float mx = zr_smp_scan_max(logits, vocab, &arg, &nonfinite);
  if (nonfinite)
    for (int i = 0; i < vocab; i++)
      if (!isfinite(logits[i]))
        return zr_seterr(-EINVAL, "sampler: logit %d of %d is %g (not finite)", i, vocab, (double)logits[i]);
  const float t = s->temperature;
  *f = (filtered){.form = ALL, .t = t, .mx = mx, .arg = arg, .lo = -INFINITY, .kth_s = -INFINITY};
  if (t == 0) {
    f->z_raw = zr_smp_exp_pass(logits, vocab, 1.0f, mx, NULL);
    return 0;
  }

  zr_smp_cand *c = (zr_smp_cand *)(void *)(((uintptr_t)scratch + 7) & ~(uintptr_t)7);
  float *e = (float *)(void *)(c + vocab), *work = e + vocab;
  const float smax = mx / t; /* fp32 division is monotone: the max of s */
  if (!isfinite(smax))
    return zr_seterr(-EINVAL, "sampler: temperature %g takes the largest logit %g out of fp32 range", (double)t,
                     (double)mx);
  double z = zr_smp_exp_pass(logits, vocab, t, smax, e);
  f->z_raw = t == 1.0f ? z : zr_smp_exp_pass(logits, vocab, 1.0f, mx, NULL);
  f->e = e;
  f->smax = smax;
  f->z = z;

  const int top_k = s->top_k > 0 && s->top_k < vocab ? s->top_k : 0;
  const int use_p = s->top_p < 1.0f;
  const float thr = (float)(1.0 - (double)s->top_p);
  size_t n = 0;
  if (top_k) {
    /* TopK keeps s >= kth_s. Rounding of l / t can tie a slightly smaller l with the k-th, so
     * tokens just below the raw k-th value are checked with the division. */
    const float kth_l = zr_smp_kth_largest(logits, vocab, (size_t)top_k, work);
    f->kth_s = kth_l / t;
    f->lo = kth_l - (fabsf(kth_l) * 0x1p-20f + 1e-30f * (t > 1.0f ? t : 1.0f));
    n = zr_smp_collect_top_k(logits, e, vocab, t, f->lo, f->kth_s, c);
    z = 0;
    for (size_t i = 0; i < n; i++) z += c[i].p;
    if (use_p) {
      size_t r = zr_smp_top_p_cut(c, n, 1.0f / (float)z, thr, 0.0);
      c += r;
      n -= r;
    }
    f->key_cut = min_key(c, n); /* before min-p, which is a test of its own */
    if (s->min_p > 0) {         /* p_max is exp(0) = 1: keep p >= min_p * 1 */
      f->e_cut = s->min_p;
      size_t w = 0;
      for (size_t i = 0; i < n; i++)
        if (!(c[i].p < (double)s->min_p)) c[w++] = c[i];
      n = w;
    }
  } else if (use_p || s->min_p > 0) {
    f->inv_z = 1.0f / (float)z;
    f->p_cut = use_p ? 0.99f * thr / (float)vocab : 0.0f;
    f->e_cut = s->min_p;
    double base; /* fp32 probabilities of the tokens dropped on the way (top-p's prefix) */
    n = zr_smp_collect_pre_drop(logits, e, vocab, t, f->inv_z, f->e_cut, f->p_cut, c, &base);
    if (use_p) {
      size_t r = zr_smp_top_p_cut(c, n, f->inv_z, thr, base);
      c += r;
      n -= r;
    }
    f->key_cut = min_key(c, n);
  } else {
    return 0; /* nothing filtered */
  }
  ZR_ASSERT(n > 0); /* the max (e = 1) always survives */
  z = 0;
  for (size_t i = 0; i < n; i++) z += c[i].p;
  f->c = c;
  f->n = n;
  f->z = z;
  if (n <= ZR_SURVIVOR_LIST_MAX) {
    qsort(c, n, sizeof *c, cand_id_cmp);
    f->form = LIST;
  } else {
    f->form = PREDICATE;
  }
  return 0;
}

int zr_sampler_pick(const zr_sampling *s, const float *logits, int vocab, uint64_t seed, uint64_t sequence,
                    uint64_t position, float *scratch, zr_sample *out) {
  ZR_ASSERT(out);
  filtered f;
  int rc = run_filter(s, logits, vocab, scratch, &f);
  if (rc) return rc;
  if (f.t == 0) {
    out->token = f.arg;
    out->logprob_sampled = 0;
    out->logprob_policy = (float)(-log(f.z_raw));
    return 0;
  }
  /* invert the cumulative distribution in id order; rounding fallback: the last token that can
   * be drawn */
  double target = zr_rng_uniform(seed, sequence, position, 0) * f.z, acc = 0;
  int tok = -1;
  if (f.form == LIST) {
    for (size_t i = 0; i < f.n; i++) {
      if (f.c[i].p <= 0) continue;
      acc += f.c[i].p;
      tok = zr_smp_key_id(f.c[i].key);
      if (acc > target) break;
    }
  } else {
    for (int i = 0; i < vocab; i++) {
      if (f.e[i] <= 0 || (f.form == PREDICATE && !survives(&f, logits, i))) continue;
      acc += f.e[i];
      tok = i;
      if (acc > target) break;
    }
  }
  ZR_ASSERT(tok >= 0);
  out->token = tok;
  out->logprob_sampled = (float)(((double)(logits[tok] / f.t) - f.smax) - log(f.z));
  out->logprob_policy = (float)(((double)logits[tok] - f.mx) - log(f.z_raw));
  return 0;
}

int zr_sampler_filter(const zr_sampling *s, const float *logits, int vocab, float *scratch, int *ids, float *probs) {
  ZR_ASSERT(ids && probs);
  filtered f;
  int rc = run_filter(s, logits, vocab, scratch, &f);
  if (rc) return rc;
  if (f.t == 0) {
    ids[0] = f.arg;
    probs[0] = 1.0f;
    return 1;
  }
  int n = 0;
  if (f.form == LIST) {
    for (size_t i = 0; i < f.n; i++) {
      ids[n] = zr_smp_key_id(f.c[i].key);
      probs[n++] = (float)(f.c[i].p / f.z);
    }
  } else {
    for (int i = 0; i < vocab; i++) {
      if (f.form == PREDICATE && !survives(&f, logits, i)) continue;
      ids[n] = i;
      probs[n++] = (float)(f.e[i] / f.z);
    }
  }
  return n;
}
