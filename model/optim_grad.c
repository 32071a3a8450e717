/* optim_grad.c: gradient norm, clipping and finiteness checks (optim.h).
 *
 * Determinism: the sum of squares is formed per block of ZR_GRAD_BLOCK elements (in double,
 * four interleaved partial sums combined in a fixed order) and the blocks are added in index
 * order, so the norm is the same bits for every thread count. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/error.h"
#include "model/optim.h"
#include "model/optim_par.h"

#define ZR_GRAD_BLOCK 16384
#define ZR_GRAD_MIN_BLOCKS_PER_THREAD 4
#define ZR_GRAD_MIN_PER_THREAD 65536

typedef struct {
  const float *g;
  size_t n;
  double *block_sums;
} norm_ctx;

static double block_sumsq(const float *g, size_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += (double)g[i] * g[i];
    s1 += (double)g[i + 1] * g[i + 1];
    s2 += (double)g[i + 2] * g[i + 2];
    s3 += (double)g[i + 3] * g[i + 3];
  }
  for (; i < n; i++) s0 += (double)g[i] * g[i];
  return (s0 + s1) + (s2 + s3);
}

static void norm_blocks(void *arg, size_t begin, size_t end) {
  norm_ctx *c = arg;
  for (size_t b = begin; b < end; b++) {
    size_t off = b * ZR_GRAD_BLOCK, len = c->n - off < ZR_GRAD_BLOCK ? c->n - off : ZR_GRAD_BLOCK;
    c->block_sums[b] = block_sumsq(c->g + off, len);
  }
}

double zr_grad_norm(const float *grads, size_t n, int threads) {
  ZR_ASSERT(grads || n == 0);
  size_t nb = (n + ZR_GRAD_BLOCK - 1) / ZR_GRAD_BLOCK;
  if (nb <= 1) return sqrt(block_sumsq(grads, n));
  double *sums = malloc(nb * sizeof *sums);
  double total = 0;
  if (!sums) { /* same blocks, same order, one thread */
    for (size_t b = 0; b < nb; b++) {
      size_t off = b * ZR_GRAD_BLOCK, len = n - off < ZR_GRAD_BLOCK ? n - off : ZR_GRAD_BLOCK;
      total += block_sumsq(grads + off, len);
    }
    return sqrt(total);
  }
  norm_ctx c = {grads, n, sums};
  zr_par_run(threads, nb, ZR_GRAD_MIN_BLOCKS_PER_THREAD, norm_blocks, &c);
  for (size_t b = 0; b < nb; b++) total += sums[b];
  free(sums);
  return sqrt(total);
}

typedef struct {
  float *g;
  float coef;
} scale_ctx;

static void scale_slice(void *arg, size_t begin, size_t end) {
  scale_ctx *c = arg;
  for (size_t i = begin; i < end; i++) c->g[i] = c->g[i] * c->coef;
}

int zr_grad_clip(float *grads, size_t n, double max_norm, int threads, double *total_norm) {
  ZR_ASSERT((grads || n == 0) && total_norm);
  if (!(max_norm > 0 && isfinite(max_norm)))
    return zr_seterr(-EINVAL, "clip_grad_norm: max_norm must be positive and finite, got %g", max_norm);
  double norm = zr_grad_norm(grads, n, threads);
  *total_norm = norm;
  if (!isfinite(norm)) {
    size_t bad = 0;
    zr_grad_check_finite(grads, n, threads, &bad);
    return zr_seterr(-ERANGE, "clip_grad_norm: gradient norm is %g (element %zu is %g); skip this step", norm, bad,
                     (double)grads[bad]);
  }
  /* torch: clip_coef = max_norm / (total_norm + 1e-6), clamped to 1, multiplied in fp32 */
  double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0) {
    scale_ctx c = {grads, (float)coef};
    zr_par_run(threads, n, ZR_GRAD_MIN_PER_THREAD, scale_slice, &c);
  }
  return 0;
}

typedef struct {
  const float *g;
  size_t n;
  size_t *first_bad; /* per block: index of the first non-finite element, or SIZE_MAX */
} finite_ctx;

static void finite_blocks(void *arg, size_t begin, size_t end) {
  finite_ctx *c = arg;
  for (size_t b = begin; b < end; b++) {
    size_t off = b * ZR_GRAD_BLOCK, len = c->n - off < ZR_GRAD_BLOCK ? c->n - off : ZR_GRAD_BLOCK;
    const float *g = c->g + off;
    float acc = 0; /* x*0 is NaN exactly when x is NaN or inf */
    for (size_t i = 0; i < len; i++) acc += g[i] * 0.0f;
    c->first_bad[b] = SIZE_MAX;
    if (acc == acc) continue;
    for (size_t i = 0; i < len; i++)
      if (!isfinite(g[i])) {
        c->first_bad[b] = off + i;
        break;
      }
  }
}

int zr_grad_check_finite(const float *grads, size_t n, int threads, size_t *first_bad) {
  ZR_ASSERT(grads || n == 0);
  size_t nb = (n + ZR_GRAD_BLOCK - 1) / ZR_GRAD_BLOCK, bad = SIZE_MAX;
  size_t *fb = nb > 1 ? malloc(nb * sizeof *fb) : NULL;
  if (fb) {
    finite_ctx c = {grads, n, fb};
    zr_par_run(threads, nb, ZR_GRAD_MIN_BLOCKS_PER_THREAD, finite_blocks, &c);
    for (size_t b = 0; b < nb && bad == SIZE_MAX; b++) bad = fb[b];
    free(fb);
  } else {
    for (size_t i = 0; i < n; i++)
      if (!isfinite(grads[i])) {
        bad = i;
        break;
      }
  }
  if (bad == SIZE_MAX) return 0;
  if (first_bad) *first_bad = bad;
  return zr_seterr(-ERANGE, "gradient element %zu is %g (not finite)", bad, (double)grads[bad]);
}
