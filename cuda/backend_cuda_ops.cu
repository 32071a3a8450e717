/* backend_cuda_ops.cu: the CUDA backend's elementwise, reduction, AdamW, row, RMSNorm and RoPE
 * ops (backend.h). Simple one-thread-per-element kernels. Reductions that the CPU backend does in
 * double (sums of squares, RMSNorm statistics, column sums for bias/norm-weight gradients) are
 * done in double here too, in a fixed order: results are deterministic run to run. */
#include <math.h>

#include "cuda/backend_cuda_impl.h"

#define T 256 /* threads per block */

#define FOR_N(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

static inline unsigned grid(size_t n) {
  unsigned g = zr_blocks(n, T);
  return g > 65535u * 8 ? 65535u * 8 : g; /* grid-stride loops cover the rest */
}

/* ---- elementwise ------------------------------------------------------------------------- */

__global__ void k_add(float *y, const float *x, size_t n) { FOR_N(i, n) y[i] += x[i]; }
__global__ void k_scale(float *y, float a, size_t n) { FOR_N(i, n) y[i] *= a; }
__global__ void k_bias_fwd(float *y, const float *bias, size_t n, int d) { FOR_N(i, n) y[i] += bias[i % d]; }

__global__ void k_swiglu_fwd(float *out, const float *g, const float *u, size_t n) {
  FOR_N(i, n) {
    float x = g[i];
    out[i] = x / (1.0f + expf(-x)) * u[i];
  }
}
__global__ void k_swiglu_bwd(float *dg, float *du, const float *dout, const float *g, const float *u, size_t n) {
  FOR_N(i, n) {
    float x = g[i], sig = 1.0f / (1.0f + expf(-x)), silu = x * sig;
    float dsilu = sig * (1.0f + x * (1.0f - sig)), d = dout[i];
    dg[i] = d * u[i] * dsilu;
    du[i] = d * silu;
  }
}

static void cu_add(zr_backend *b, float *y, const float *x, size_t n) {
  if (!n) return;
  zr_cuda_touch(b, y, n * sizeof(float));
  k_add<<<grid(n), T, 0, zr_cu_stream(b)>>>(y, x, n);
  ZR_LAUNCHED();
}
static void cu_scale(zr_backend *b, float *y, float a, size_t n) {
  if (!n) return;
  zr_cuda_touch(b, y, n * sizeof(float));
  k_scale<<<grid(n), T, 0, zr_cu_stream(b)>>>(y, a, n);
  ZR_LAUNCHED();
}
static void cu_bias_fwd(zr_backend *b, float *y, const float *bias, int n, int d) {
  size_t nd = (size_t)n * d;
  if (!nd) return;
  k_bias_fwd<<<grid(nd), T, 0, zr_cu_stream(b)>>>(y, bias, nd, d);
  ZR_LAUNCHED();
}
static void cu_swiglu_fwd(zr_backend *b, float *out, const float *g, const float *u, size_t n) {
  if (!n) return;
  k_swiglu_fwd<<<grid(n), T, 0, zr_cu_stream(b)>>>(out, g, u, n);
  ZR_LAUNCHED();
}
static void cu_swiglu_bwd(zr_backend *b, float *dg, float *du, const float *dout, const float *g, const float *u,
                          size_t n) {
  if (!n) return;
  k_swiglu_bwd<<<grid(n), T, 0, zr_cu_stream(b)>>>(dg, du, dout, g, u, n);
  ZR_LAUNCHED();
}

/* ---- column sums (bias and norm-weight gradients) ---------------------------------------- */

#define COL_ROWS 128 /* rows per partial sum */

/* Column j of rows [y*COL_ROWS, ...): sum of a[i,j] (* x[i,j] * rs[i]) in double. With part, the
 * partial goes to part[y*d + j]; without (one chunk of all rows), out[j] += the sum. */
__global__ void k_colsum(float *out, double *part, const float *a, const float *x, const float *rs, int n, int d,
                         int rows) {
  int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= d) return;
  int i0 = blockIdx.y * rows, i1 = i0 + rows < n ? i0 + rows : n;
  double acc = 0;
  for (int i = i0; i < i1; i++) {
    size_t at = (size_t)i * d + j;
    acc += x ? (double)a[at] * x[at] * (double)rs[i] : (double)a[at];
  }
  if (part)
    part[(size_t)blockIdx.y * d + j] = acc;
  else
    out[j] += (float)acc;
}
__global__ void k_colsum_fin(float *out, const double *part, int chunks, int d) {
  int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= d) return;
  double acc = 0;
  for (int c = 0; c < chunks; c++) acc += part[(size_t)c * d + j];
  out[j] += (float)acc;
}

/* out[j] += sum_i a[i,j] (* x[i,j] * rs[i]). Void ops cannot fail: without workspace for the
 * partials it falls back to one (slower) pass over all rows per column. */
static void colsum(zr_backend *b, float *out, const float *a, const float *x, const float *rs, int n, int d) {
  if (n <= 0 || d <= 0) return;
  int chunks = (n + COL_ROWS - 1) / COL_ROWS;
  void *ws = NULL;
  dim3 g((d + T - 1) / T, chunks);
  if (chunks > 1 && chunks <= 65535 && zr_cuda_workspace(b, (size_t)chunks * d * sizeof(double), &ws) == 0) {
    k_colsum<<<g, T, 0, zr_cu_stream(b)>>>(out, (double *)ws, a, x, rs, n, d, COL_ROWS);
    ZR_LAUNCHED();
    k_colsum_fin<<<g.x, T, 0, zr_cu_stream(b)>>>(out, (const double *)ws, chunks, d);
    ZR_LAUNCHED();
  } else {
    k_colsum<<<g.x, T, 0, zr_cu_stream(b)>>>(out, NULL, a, x, rs, n, d, n);
    ZR_LAUNCHED();
  }
}

static void cu_bias_bwd(zr_backend *b, float *dbias, const float *dy, int n, int d) {
  colsum(b, dbias, dy, NULL, NULL, n, d);
}

/* ---- reductions to the host and AdamW ---------------------------------------------------- */

__device__ __forceinline__ double warp_sum_d(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}
/* Sum over the block (blockDim.x a multiple of 32, <= 1024); the result is valid in thread 0. */
__device__ double block_sum_d(double v) {
  __shared__ double sh[32];
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  v = warp_sum_d(v);
  __syncthreads(); /* sh may still be read by a previous call */
  if (lane == 0) sh[w] = v;
  __syncthreads();
  v = threadIdx.x < blockDim.x / 32 ? sh[threadIdx.x] : 0.0;
  if (w == 0) v = warp_sum_d(v);
  return v;
}

__global__ void k_sumsq_part(double *part, const float *x, size_t n) {
  double acc = 0;
  FOR_N(i, n) acc += (double)x[i] * x[i];
  acc = block_sum_d(acc);
  if (threadIdx.x == 0) part[blockIdx.x] = acc;
}
__global__ void k_sumsq_fin(double *res, const double *part, int blocks) {
  if (threadIdx.x == 0 && blockIdx.x == 0) {
    double acc = 0;
    for (int i = 0; i < blocks; i++) acc += part[i];
    *res = acc;
  }
}

static double cu_sumsq(zr_backend *b, const float *x, size_t n) {
  if (!n) return 0;
  double *part = (double *)zr_cu(b)->red, res = 0;
  unsigned blocks = zr_blocks(n, T);
  if (blocks > ZR_RED_BLOCKS) blocks = ZR_RED_BLOCKS;
  k_sumsq_part<<<blocks, T, 0, zr_cu_stream(b)>>>(part, x, n);
  ZR_LAUNCHED();
  k_sumsq_fin<<<1, 32, 0, zr_cu_stream(b)>>>(part + ZR_RED_BLOCKS, part, (int)blocks);
  ZR_LAUNCHED();
  b->download(b, &res, part + ZR_RED_BLOCKS, sizeof res);
  return res;
}

__global__ void k_first_nonfinite(unsigned long long *first, const float *x, size_t n) {
  FOR_N(i, n) if (!isfinite(x[i])) atomicMin(first, (unsigned long long)i);
}
static size_t cu_first_nonfinite(zr_backend *b, const float *x, size_t n) {
  if (!n) return 0;
  unsigned long long *first = (unsigned long long *)zr_cu(b)->red, h = n;
  b->upload(b, first, &h, sizeof h);
  k_first_nonfinite<<<grid(n), T, 0, zr_cu_stream(b)>>>(first, x, n);
  ZR_LAUNCHED();
  b->download(b, &h, first, sizeof h);
  return (size_t)h;
}

__global__ void k_adamw(float *p, const float *g, float *m, float *v, size_t n, zr_adamw_coef c) {
  const float ns = -c.step_size;
  FOR_N(i, n) {
    const float gi = g[i];
    float mi = m[i], vi = v[i], pi = __fmul_rn(p[i], c.decay);
    /* at::lerp, without FMA contraction, as the CPU backend */
    mi = c.w1 < 0.5f ? __fadd_rn(mi, __fmul_rn(c.w1, __fsub_rn(gi, mi)))
                     : __fsub_rn(gi, __fmul_rn(__fsub_rn(gi, mi), __fsub_rn(1.0f, c.w1)));
    vi = __fmul_rn(vi, c.beta2);
    vi = __fadd_rn(vi, __fmul_rn(__fmul_rn(c.w2, gi), gi));
    const float denom = __fadd_rn(__fdiv_rn(sqrtf(vi), c.bc2_sqrt), c.eps);
    p[i] = __fadd_rn(pi, __fdiv_rn(__fmul_rn(ns, mi), denom));
    m[i] = mi;
    v[i] = vi;
  }
}
static void cu_adamw(zr_backend *b, float *p, const float *g, float *m, float *v, size_t n, const zr_adamw_coef *c) {
  if (!n) return;
  zr_cuda_touch(b, p, n * sizeof(float)); /* bf16 mode: the weights' bf16 copy is refreshed before the next gemm */
  k_adamw<<<grid(n), T, 0, zr_cu_stream(b)>>>(p, g, m, v, n, *c);
  ZR_LAUNCHED();
}

/* ---- rows -------------------------------------------------------------------------------- */

__global__ void k_gather(float *dst, const float *src, const int *idx, size_t nd, int d) {
  FOR_N(i, nd) dst[i] = src[(size_t)idx[i / d] * d + i % d];
}
__global__ void k_scatter_add(float *dst, const float *src, const int *idx, size_t nd, int d) {
  FOR_N(i, nd) dst[(size_t)idx[i / d] * d + i % d] += src[i]; /* idx distinct: no races */
}
/* one thread per column, tokens in order: deterministic with repeated ids (no atomics) */
__global__ void k_embed_bwd(float *dtable, const float *dout, const int *ids, int n, int d) {
  int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= d) return;
  for (int i = 0; i < n; i++) dtable[(size_t)ids[i] * d + j] += dout[(size_t)i * d + j];
}

static void cu_gather_rows(zr_backend *b, float *dst, const float *src, const int *idx, int n, int d) {
  size_t nd = (size_t)n * d;
  if (!nd) return;
  k_gather<<<grid(nd), T, 0, zr_cu_stream(b)>>>(dst, src, idx, nd, d);
  ZR_LAUNCHED();
}
static void cu_scatter_add_rows(zr_backend *b, float *dst, const float *src, const int *idx, int n, int d) {
  size_t nd = (size_t)n * d;
  if (!nd) return;
  k_scatter_add<<<grid(nd), T, 0, zr_cu_stream(b)>>>(dst, src, idx, nd, d);
  ZR_LAUNCHED();
}
static void cu_embed_bwd(zr_backend *b, float *dtable, const float *dout, const int *ids, int n, int d) {
  if (n <= 0 || d <= 0) return;
  k_embed_bwd<<<(d + 63) / 64, 64, 0, zr_cu_stream(b)>>>(dtable, dout, ids, n, d);
  ZR_LAUNCHED();
}

/* ---- RMSNorm ----------------------------------------------------------------------------- */

/* one block per row */
__global__ void k_rmsnorm_fwd(float *y, float *rstd, const float *x, const float *w, int d, float eps) {
  const float *xr = x + (size_t)blockIdx.x * d;
  float *yr = y + (size_t)blockIdx.x * d;
  double ss = 0;
  for (int j = threadIdx.x; j < d; j += blockDim.x) ss += (double)xr[j] * xr[j];
  __shared__ float r_sh;
  ss = block_sum_d(ss);
  if (threadIdx.x == 0) {
    r_sh = 1.0f / sqrtf((float)(ss / d) + eps);
    if (rstd) rstd[blockIdx.x] = r_sh;
  }
  __syncthreads();
  float r = r_sh;
  for (int j = threadIdx.x; j < d; j += blockDim.x) yr[j] = w[j] * (xr[j] * r);
}

/* dx_j += r w_j dy_j - r^3 x_j / d * sum_k w_k dy_k x_k */
__global__ void k_rmsnorm_bwd(float *dx, const float *dy, const float *x, const float *w, const float *rstd, int d) {
  size_t off = (size_t)blockIdx.x * d;
  double dot = 0;
  for (int j = threadIdx.x; j < d; j += blockDim.x) dot += (double)w[j] * dy[off + j] * x[off + j];
  __shared__ float c_sh;
  dot = block_sum_d(dot);
  float r = rstd[blockIdx.x];
  if (threadIdx.x == 0) c_sh = (float)(dot * r * r * r / d);
  __syncthreads();
  float c = c_sh;
  for (int j = threadIdx.x; j < d; j += blockDim.x) dx[off + j] += r * w[j] * dy[off + j] - c * x[off + j];
}

static void cu_rmsnorm_fwd(zr_backend *b, float *y, float *rstd, const float *x, const float *w, int n, int d,
                           float eps) {
  if (n <= 0) return;
  k_rmsnorm_fwd<<<n, T, 0, zr_cu_stream(b)>>>(y, rstd, x, w, d, eps);
  ZR_LAUNCHED();
}
static void cu_rmsnorm_bwd(zr_backend *b, float *dx, float *dw, const float *dy, const float *x, const float *w,
                           const float *rstd, int n, int d) {
  if (n <= 0) return;
  k_rmsnorm_bwd<<<n, T, 0, zr_cu_stream(b)>>>(dx, dy, x, w, rstd, d);
  ZR_LAUNCHED();
  colsum(b, dw, dy, x, rstd, n, d);
}

/* ---- RoPE -------------------------------------------------------------------------------- */

/* one thread per (token, head, pair j < half) */
__global__ void k_rope(float *x, const int *pos, const float *inv_freq, size_t total, int heads, int hd,
                       float scaling, float sgn) {
  int half = hd / 2;
  FOR_N(t, total) {
    int j = (int)(t % half);
    size_t row = t / half; /* token * heads + head */
    float ang = (float)pos[row / heads] * inv_freq[j]; /* fp32 product, as transformers */
    float cs = cosf(ang) * scaling, sn = sgn * (sinf(ang) * scaling);
    float *xr = x + row * hd;
    float x1 = xr[j], x2 = xr[j + half];
    xr[j] = x1 * cs - x2 * sn;
    xr[j + half] = x2 * cs + x1 * sn;
  }
}
static void cu_rope(zr_backend *b, float *x, const int *pos, const float *inv_freq, int n, int heads, int head_dim,
                    float attention_scaling, bool inverse) {
  ZR_ASSERT(head_dim % 2 == 0);
  size_t total = (size_t)n * heads * (head_dim / 2);
  if (!total) return;
  k_rope<<<grid(total), T, 0, zr_cu_stream(b)>>>(x, pos, inv_freq, total, heads, head_dim, attention_scaling,
                                                  inverse ? -1.0f : 1.0f);
  ZR_LAUNCHED();
}

void zr_cuda_set_ops(zr_backend *b) {
  b->add = cu_add;
  b->scale = cu_scale;
  b->bias_fwd = cu_bias_fwd;
  b->bias_bwd = cu_bias_bwd;
  b->swiglu_fwd = cu_swiglu_fwd;
  b->swiglu_bwd = cu_swiglu_bwd;
  b->sumsq = cu_sumsq;
  b->first_nonfinite = cu_first_nonfinite;
  b->adamw = cu_adamw;
  b->embed_fwd = cu_gather_rows;
  b->embed_bwd = cu_embed_bwd;
  b->gather_rows = cu_gather_rows;
  b->scatter_add_rows = cu_scatter_add_rows;
  b->rmsnorm_fwd = cu_rmsnorm_fwd;
  b->rmsnorm_bwd = cu_rmsnorm_bwd;
  b->rope = cu_rope;
}
