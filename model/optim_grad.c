/* optim_grad.c: gradient norm, clipping and finiteness checks (optim.h) on backend ops: the
 * decisions are made here, the passes over the buffer are the backend's sumsq, scale and
 * first_nonfinite (deterministic for any thread count). */
#include <errno.h>
#include <math.h>

#include "common/error.h"
#include "model/optim.h"

double zr_grad_norm(zr_backend *be, const float *grads, size_t n) {
  ZR_ASSERT(be && (grads || n == 0));
  return n ? sqrt(be->sumsq(be, grads, n)) : 0.0;
}

/* -ERANGE with a message naming the lowest non-finite element; prefix says who asks. */
static int report_nonfinite(zr_backend *be, const float *grads, size_t n, size_t *first_bad, double norm,
                            int from_clip) {
  size_t bad = be->first_nonfinite(be, grads, n);
  if (bad >= n) bad = 0; /* cannot happen when the norm is not finite */
  float val = 0;
  be->download(be, &val, grads + bad, sizeof val);
  if (first_bad) *first_bad = bad;
  if (from_clip)
    return zr_seterr(-ERANGE, "clip_grad_norm: gradient norm is %g (element %zu is %g); skip this step", norm, bad,
                     (double)val);
  return zr_seterr(-ERANGE, "gradient element %zu is %g (not finite)", bad, (double)val);
}

int zr_grad_clip(zr_backend *be, float *grads, size_t n, double max_norm, double *total_norm) {
  ZR_ASSERT(be && (grads || n == 0) && total_norm);
  if (!(max_norm > 0 && isfinite(max_norm)))
    return zr_seterr(-EINVAL, "clip_grad_norm: max_norm must be positive and finite, got %g", max_norm);
  double norm = zr_grad_norm(be, grads, n);
  *total_norm = norm;
  if (!isfinite(norm)) return report_nonfinite(be, grads, n, NULL, norm, 1);
  /* torch: clip_coef = max_norm / (total_norm + 1e-6), clamped to 1, multiplied in fp32 */
  double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0) be->scale(be, grads, (float)coef, n);
  return 0;
}

int zr_grad_check_finite(zr_backend *be, const float *grads, size_t n, size_t *first_bad) {
  ZR_ASSERT(be && (grads || n == 0));
  if (n == 0 || be->first_nonfinite(be, grads, n) >= n) return 0;
  return report_nonfinite(be, grads, n, first_bad, 0, 0);
}
