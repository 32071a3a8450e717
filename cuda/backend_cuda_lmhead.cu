/* backend_cuda_lmhead.cu: the fused, chunked LM-head log-prob on the CUDA backend (backend.h).
 *
 * As the CPU backend: rows in tiles of at most TILE_FLOATS / chunk rows; per tile the vocabulary
 * is streamed in chunks of `chunk` rows of W, a cuBLAS GEMM makes the [rows, chunk] logits Z, and
 * one block per row folds them into an online logsumexp (running max m, s = sum e^(z-m) and, for
 * the entropy, t = sum e^(z-m) (z-m)) and picks up the target logit. Backward recomputes each
 * chunk, turns it into dZ = dlogp (onehot - softmax) in place and accumulates dh += dZ W_c and
 * dW_c += dZ^T h with two more GEMMs. Only one [rows, chunk] tile exists at a time. */
#include <math.h>

#include "cuda/backend_cuda_impl.h"

#define DEFAULT_CHUNK 8192
#define TILE_FLOATS ((size_t)1 << 25) /* 128 MiB of logits */
#define T 256

static void plan(int n, int vocab, int chunk, int *cc, int *rows) {
  int c = chunk > 0 ? chunk : DEFAULT_CHUNK;
  if (c > vocab) c = vocab;
  size_t r = TILE_FLOATS / (size_t)c;
  if (r < 1) r = 1;
  *cc = c;
  *rows = (size_t)n < r ? n : (int)r;
}

__device__ __forceinline__ void block_sum2(double &a, double &b) {
  __shared__ double sa[32], sb[32];
  for (int o = 16; o > 0; o >>= 1) {
    a += __shfl_xor_sync(0xffffffffu, a, o);
    b += __shfl_xor_sync(0xffffffffu, b, o);
  }
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  if (lane == 0) sa[w] = a, sb[w] = b;
  __syncthreads();
  a = b = 0;
  for (int i = 0; i < nw; i++) a += sa[i], b += sb[i]; /* every thread, same order */
}
__device__ __forceinline__ float block_max(float v) {
  __shared__ float sm[32];
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  if (lane == 0) sm[w] = v;
  __syncthreads();
  v = -INFINITY;
  for (int i = 0; i < nw; i++) v = fmaxf(v, sm[i]);
  return v;
}

/* row i of a tile: merge chunk statistics of Z[i, 0..cw) into (m, s, t); the target logit */
__global__ void k_fwd_chunk(const float *Z, int cw, int c0, int r0, const int *targets, float *m, float *s, float *t,
                            float *zt) {
  int i = blockIdx.x;
  const float *z = Z + (size_t)i * cw;
  float mc = -INFINITY;
  for (int j = threadIdx.x; j < cw; j += blockDim.x) mc = fmaxf(mc, z[j]);
  mc = block_max(mc);
  double S = 0, U = 0;
  for (int j = threadIdx.x; j < cw; j += blockDim.x) {
    float d = z[j] - mc, e = expf(d);
    S += e;
    U += (double)e * d;
  }
  block_sum2(S, U);
  if (threadIdx.x == 0) {
    float sc = (float)S, tc = (float)U;
    float mo = m[i], M = mo > mc ? mo : mc;
    float f_old = expf(mo - M), f_new = expf(mc - M); /* f_old = 0 while mo = -inf */
    float so = s[i] * f_old, to = mo == -INFINITY ? 0.0f : (t[i] + (mo - M) * s[i]) * f_old;
    so += sc * f_new;
    to += (tc + (mc - M) * sc) * f_new;
    m[i] = M;
    s[i] = so;
    t[i] = to;
    int tg = targets[r0 + i];
    if (tg >= c0 && tg < c0 + cw) zt[i] = z[tg - c0];
  }
}

__global__ void k_fwd_init(float *m, float *s, float *t, float *zt, int rows) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= rows) return;
  m[i] = -INFINITY;
  s[i] = t[i] = zt[i] = 0;
}
__global__ void k_fwd_fin(float *logp, float *lse, float *entropy, const int *targets, const float *m, const float *s,
                          const float *t, const float *zt, int r0, int rows) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= rows) return;
  float l = m[i] + logf(s[i]);
  lse[r0 + i] = l;
  logp[r0 + i] = targets[r0 + i] >= 0 ? zt[i] - l : 0.0f;
  if (entropy) entropy[r0 + i] = logf(s[i]) - t[i] / s[i];
}

static int cu_lmhead_fwd(zr_backend *b, float *logp, float *lse, float *entropy, const float *h, const float *W,
                         const int *targets, int n, int d, int vocab, int chunk) {
  ZR_ASSERT(n >= 0 && d > 0 && vocab > 0);
  if (n == 0) return 0;
  int cc, nt;
  plan(n, vocab, chunk, &cc, &nt);
  void *ws;
  int rc = zr_cuda_workspace(b, ((size_t)nt * cc + 4 * (size_t)nt) * sizeof(float), &ws);
  if (rc) return rc;
  float *Z = (float *)ws, *m = Z + (size_t)nt * cc, *s = m + nt, *t = s + nt, *zt = t + nt;
  cudaStream_t st = zr_cu_stream(b);
  for (int r0 = 0; r0 < n; r0 += nt) {
    int rows = n - r0 < nt ? n - r0 : nt;
    k_fwd_init<<<zr_blocks(rows, T), T, 0, st>>>(m, s, t, zt, rows);
    ZR_LAUNCHED_R();
    for (int c0 = 0; c0 < vocab; c0 += cc) {
      int cw = vocab - c0 < cc ? vocab - c0 : cc;
      b->gemm(b, false, true, rows, cw, d, 1.0f, h + (size_t)r0 * d, d, W + (size_t)c0 * d, d, 0.0f, Z, cw);
      k_fwd_chunk<<<rows, T, 0, st>>>(Z, cw, c0, r0, targets, m, s, t, zt);
      ZR_LAUNCHED_R();
    }
    k_fwd_fin<<<zr_blocks(rows, T), T, 0, st>>>(logp, lse, entropy, targets, m, s, t, zt, r0, rows);
    ZR_LAUNCHED_R();
  }
  return 0;
}

/* Z[i,:] = dlogp_i (onehot(t_i) - e^(Z - lse_i)), or 0 for rows without a target or gradient */
__global__ void k_bwd_chunk(float *Z, int cw, int c0, int r0, const int *targets, const float *dlogp,
                            const float *lse) {
  int i = blockIdx.x, r = r0 + i, tg = targets[r];
  float g = dlogp[r], l = lse[r], *z = Z + (size_t)i * cw;
  bool none = tg < 0 || g == 0.0f;
  for (int j = threadIdx.x; j < cw; j += blockDim.x) {
    float val = none ? 0.0f : -g * expf(z[j] - l);
    if (!none && j == tg - c0) val += g;
    z[j] = val;
  }
}

static int cu_lmhead_bwd(zr_backend *b, float *dh, float *dW, const float *dlogp, const float *h, const float *W,
                         const int *targets, const float *lse, int n, int d, int vocab, int chunk) {
  ZR_ASSERT(n >= 0 && d > 0 && vocab > 0);
  if (n == 0) return 0;
  int cc, nt;
  plan(n, vocab, chunk, &cc, &nt);
  void *ws;
  int rc = zr_cuda_workspace(b, (size_t)nt * cc * sizeof(float), &ws);
  if (rc) return rc;
  float *Z = (float *)ws;
  for (int r0 = 0; r0 < n; r0 += nt) {
    int rows = n - r0 < nt ? n - r0 : nt;
    for (int c0 = 0; c0 < vocab; c0 += cc) {
      int cw = vocab - c0 < cc ? vocab - c0 : cc;
      const float *Wc = W + (size_t)c0 * d, *ht = h + (size_t)r0 * d;
      b->gemm(b, false, true, rows, cw, d, 1.0f, ht, d, Wc, d, 0.0f, Z, cw);
      k_bwd_chunk<<<rows, T, 0, zr_cu_stream(b)>>>(Z, cw, c0, r0, targets, dlogp, lse);
      ZR_LAUNCHED_R();
      b->gemm(b, false, false, rows, d, cw, 1.0f, Z, cw, Wc, d, 1.0f, dh + (size_t)r0 * d, d);
      b->gemm(b, true, false, cw, d, rows, 1.0f, Z, cw, ht, d, 1.0f, dW + (size_t)c0 * d, d);
    }
  }
  return 0;
}

void zr_cuda_set_lmhead(zr_backend *b) {
  b->lmhead_fwd = cu_lmhead_fwd;
  b->lmhead_bwd = cu_lmhead_bwd;
}
