/* backend_cuda_attn.cu: the CUDA backend's attention ops (backend.h): causal GQA attention over
 * packed variable-length sequences (forward with an online softmax, backward from the saved
 * log-sum-exp), KV-cache stores, and attention of new tokens over the cache (prefill/decode).
 *
 * One warp per (query row, head) in the forward and for dq; one warp per (key row, kv head) for
 * dk/dv, so no two warps write the same output and there are no atomics (deterministic). Lane l
 * owns elements l, l+32, ... of a head vector (head_dim <= 32 * MAXE); keys (or queries in the
 * dk/dv pass) are taken 32 at a time, one per lane, for the dot products, then broadcast with
 * shuffles for the weighted sums. Straightforward, not flash-attention fast: correctness first. */
#include <math.h>

#include "cuda/backend_cuda_impl.h"

#define MAXE 8 /* head_dim <= 256 */
#define WARPS 4 /* warps per block */
#define FULL 0xffffffffu

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL, v, o));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL, v, o);
  return v;
}
/* the sequence s with cu[s] <= row < cu[s+1] (binary search; cu is non-decreasing) */
__device__ __forceinline__ int find_seq(const int *cu, int n_seqs, int row) {
  int lo = 0, hi = n_seqs - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) >> 1;
    if (cu[mid] <= row) lo = mid; else hi = mid - 1;
  }
  return lo;
}
__device__ __forceinline__ float dot(const float *a, const float *b, int hd) {
  float s = 0;
  for (int c = 0; c < hd; c++) s += a[c] * b[c];
  return s;
}

/* One warp: out = softmax(scale q K^T) V over keys 0..n_keys-1 (rows of k/v with stride kvs);
 * qs is the query in shared memory. lse (natural log of the normaliser) when not NULL. */
__device__ void attend(const float *qs, const float *k, const float *v, int kvs, int n_keys, int hd, float scale,
                       float *out, float *lse) {
  int lane = threadIdx.x & 31;
  float m = -INFINITY, l = 0, acc[MAXE];
#pragma unroll
  for (int e = 0; e < MAXE; e++) acc[e] = 0;
  for (int j0 = 0; j0 < n_keys; j0 += 32) {
    int j = j0 + lane, cnt = n_keys - j0 < 32 ? n_keys - j0 : 32;
    float s = j < n_keys ? dot(qs, k + (size_t)j * kvs, hd) * scale : -INFINITY;
    float mn = fmaxf(m, warp_max(s)); /* finite: this tile has at least one key */
    float corr = m == -INFINITY ? 0.0f : expf(m - mn);
    float p = j < n_keys ? expf(s - mn) : 0.0f;
    l = l * corr + warp_sum(p);
#pragma unroll
    for (int e = 0; e < MAXE; e++) acc[e] *= corr;
    for (int jj = 0; jj < cnt; jj++) {
      float pj = __shfl_sync(FULL, p, jj);
      const float *vr = v + (size_t)(j0 + jj) * kvs;
#pragma unroll
      for (int e = 0; e < MAXE; e++)
        if (lane + 32 * e < hd) acc[e] += pj * vr[lane + 32 * e];
    }
    m = mn;
  }
  float inv = 1.0f / l;
#pragma unroll
  for (int e = 0; e < MAXE; e++)
    if (lane + 32 * e < hd) out[lane + 32 * e] = acc[e] * inv;
  if (lse && lane == 0) *lse = m + logf(l);
}

/* copies hd floats of src into this warp's shared vector */
__device__ __forceinline__ void load_vec(float *dst, const float *src, int hd) {
  for (int c = threadIdx.x & 31; c < hd; c += 32) dst[c] = src[c];
  __syncwarp();
}

/* ---- forward over packed sequences ------------------------------------------------------- */

/* An upper bound of the packed row count N = cu[n_seqs] from the host bound on sequence lengths
 * (kernels read N itself on the device: no synchronisation); downloads N only when the caller
 * gave no bound. */
static size_t rows_bound(zr_backend *b, const int *cu, int n_seqs, int max_len) {
  if (n_seqs <= 0) return 0;
  if (max_len > 0) return (size_t)n_seqs * max_len;
  int n = 0;
  b->download(b, &n, cu + n_seqs, sizeof n);
  return n > 0 ? (size_t)n : 0;
}

/* warp w of the grid: query row r = w / hq, head h = w % hq */
__global__ void k_attn_fwd(float *out, float *lse, const float *q, const float *k, const float *v, const int *cu,
                           int n_seqs, int hq, int hkv, int hd, float scale) {
  extern __shared__ float sh[];
  int wid = threadIdx.x >> 5;
  size_t w = (size_t)blockIdx.x * WARPS + wid;
  if (w >= (size_t)cu[n_seqs] * hq) return; /* rows beyond N (the grid is a bound): whole warps leave */
  int r = (int)(w / hq), h = (int)(w % hq), kh = h / (hq / hkv);
  int s = find_seq(cu, n_seqs, r), start = cu[s];
  int qd = hq * hd, kvd = hkv * hd;
  float *qs = sh + wid * hd;
  load_vec(qs, q + (size_t)r * qd + (size_t)h * hd, hd);
  size_t kv0 = (size_t)start * kvd + (size_t)kh * hd;
  attend(qs, k + kv0, v + kv0, kvd, r - start + 1, hd, scale, out + (size_t)r * qd + (size_t)h * hd,
         lse + (size_t)r * hq + h);
}

static int cu_attn_fwd(zr_backend *b, float *out, float *lse, const float *q, const float *k, const float *v,
                       const int *cu_seqlens, int n_seqs, int max_seqlen, int hq, int hkv, int hd, float scale) {
  ZR_ASSERT(hkv > 0 && hq % hkv == 0 && hd > 0 && hd <= 32 * MAXE && n_seqs >= 0);
  size_t n = rows_bound(b, cu_seqlens, n_seqs, max_seqlen), warps = n * hq;
  if (!n) return 0;
  k_attn_fwd<<<zr_blocks(warps, WARPS), 32 * WARPS, WARPS * hd * sizeof(float), zr_cu_stream(b)>>>(
      out, lse, q, k, v, cu_seqlens, n_seqs, hq, hkv, hd, scale);
  ZR_LAUNCHED_R();
  return 0;
}

/* ---- backward ---------------------------------------------------------------------------- */

/* D[r,h] = dout[r,h,:] . out[r,h,:] */
__global__ void k_attn_D(float *D, const float *dout, const float *o, const int *cu, int n_seqs, int hq, int hd) {
  size_t w = (size_t)blockIdx.x * WARPS + (threadIdx.x >> 5);
  if (w >= (size_t)cu[n_seqs] * hq) return;
  float s = 0;
  for (int c = threadIdx.x & 31; c < hd; c += 32) s += dout[w * hd + c] * o[w * hd + c];
  s = warp_sum(s);
  if ((threadIdx.x & 31) == 0) D[w] = s;
}

/* dq[r,h] = sum_{j<=r} p_rj (dout_r . v_j - D_r) scale k_j   (overwrites) */
__global__ void k_attn_dq(float *dq, const float *dout, const float *q, const float *k, const float *v,
                          const float *lse, const float *D, const int *cu, int n_seqs, int hq, int hkv, int hd,
                          float scale) {
  extern __shared__ float sh[];
  int wid = threadIdx.x >> 5, lane = threadIdx.x & 31;
  size_t w = (size_t)blockIdx.x * WARPS + wid;
  if (w >= (size_t)cu[n_seqs] * hq) return;
  int r = (int)(w / hq), h = (int)(w % hq), kh = h / (hq / hkv);
  int s = find_seq(cu, n_seqs, r), start = cu[s], n_keys = r - start + 1;
  int qd = hq * hd, kvd = hkv * hd;
  float *qs = sh + 2 * wid * hd, *ds_ = qs + hd;
  load_vec(qs, q + (size_t)r * qd + (size_t)h * hd, hd);
  load_vec(ds_, dout + (size_t)r * qd + (size_t)h * hd, hd);
  const float *kb = k + (size_t)start * kvd + (size_t)kh * hd, *vb = v + (size_t)start * kvd + (size_t)kh * hd;
  float L = lse[(size_t)r * hq + h], Dr = D[(size_t)r * hq + h], acc[MAXE];
#pragma unroll
  for (int e = 0; e < MAXE; e++) acc[e] = 0;
  for (int j0 = 0; j0 < n_keys; j0 += 32) {
    int j = j0 + lane, cnt = n_keys - j0 < 32 ? n_keys - j0 : 32;
    float g = 0;
    if (j < n_keys) {
      float p = expf(dot(qs, kb + (size_t)j * kvd, hd) * scale - L);
      g = p * (dot(ds_, vb + (size_t)j * kvd, hd) - Dr) * scale;
    }
    for (int jj = 0; jj < cnt; jj++) {
      float gj = __shfl_sync(FULL, g, jj);
      const float *kr = kb + (size_t)(j0 + jj) * kvd;
#pragma unroll
      for (int e = 0; e < MAXE; e++)
        if (lane + 32 * e < hd) acc[e] += gj * kr[lane + 32 * e];
    }
  }
  float *o = dq + (size_t)r * qd + (size_t)h * hd;
#pragma unroll
  for (int e = 0; e < MAXE; e++)
    if (lane + 32 * e < hd) o[lane + 32 * e] = acc[e];
}

/* For key row j and kv head kh, over the query heads of its group and queries i >= j of its
 * sequence: dv_j = sum p_ij dout_i, dk_j = sum p_ij (dout_i . v_j - D_i) scale q_i (overwrites). */
__global__ void k_attn_dkdv(float *dk, float *dv, const float *dout, const float *q, const float *k, const float *v,
                            const float *lse, const float *D, const int *cu, int n_seqs, int hq, int hkv,
                            int hd, float scale) {
  extern __shared__ float sh[];
  int wid = threadIdx.x >> 5, lane = threadIdx.x & 31;
  size_t w = (size_t)blockIdx.x * WARPS + wid;
  if (w >= (size_t)cu[n_seqs] * hkv) return;
  int j = (int)(w / hkv), kh = (int)(w % hkv), group = hq / hkv;
  int s = find_seq(cu, n_seqs, j), end = cu[s + 1];
  int qd = hq * hd, kvd = hkv * hd;
  float *ks = sh + 2 * wid * hd, *vs = ks + hd;
  load_vec(ks, k + (size_t)j * kvd + (size_t)kh * hd, hd);
  load_vec(vs, v + (size_t)j * kvd + (size_t)kh * hd, hd);
  float ak[MAXE], av[MAXE];
#pragma unroll
  for (int e = 0; e < MAXE; e++) ak[e] = av[e] = 0;
  for (int h = kh * group; h < (kh + 1) * group; h++)
    for (int i0 = j; i0 < end; i0 += 32) {
      int i = i0 + lane, cnt = end - i0 < 32 ? end - i0 : 32;
      float p = 0, g = 0;
      if (i < end) {
        const float *qi = q + (size_t)i * qd + (size_t)h * hd, *di = dout + (size_t)i * qd + (size_t)h * hd;
        p = expf(dot(qi, ks, hd) * scale - lse[(size_t)i * hq + h]);
        g = p * (dot(di, vs, hd) - D[(size_t)i * hq + h]) * scale;
      }
      for (int ii = 0; ii < cnt; ii++) {
        float pi = __shfl_sync(FULL, p, ii), gi = __shfl_sync(FULL, g, ii);
        size_t at = (size_t)(i0 + ii) * qd + (size_t)h * hd;
#pragma unroll
        for (int e = 0; e < MAXE; e++)
          if (lane + 32 * e < hd) {
            av[e] += pi * dout[at + lane + 32 * e];
            ak[e] += gi * q[at + lane + 32 * e];
          }
      }
    }
  size_t at = (size_t)j * kvd + (size_t)kh * hd;
#pragma unroll
  for (int e = 0; e < MAXE; e++)
    if (lane + 32 * e < hd) {
      dk[at + lane + 32 * e] = ak[e];
      dv[at + lane + 32 * e] = av[e];
    }
}

static int cu_attn_bwd(zr_backend *b, float *dq, float *dk, float *dv, const float *dout, const float *q,
                       const float *k, const float *v, const float *out, const float *lse, const int *cu_seqlens,
                       int n_seqs, int max_seqlen, int hq, int hkv, int hd, float scale) {
  ZR_ASSERT(hkv > 0 && hq % hkv == 0 && hd > 0 && hd <= 32 * MAXE && n_seqs >= 0);
  size_t n = rows_bound(b, cu_seqlens, n_seqs, max_seqlen);
  if (!n) return 0;
  void *ws;
  int rc = zr_cuda_workspace(b, (size_t)n * hq * sizeof(float), &ws);
  if (rc) return rc;
  float *D = (float *)ws;
  cudaStream_t st = zr_cu_stream(b);
  size_t rows = (size_t)n * hq;
  k_attn_D<<<zr_blocks(rows, WARPS), 32 * WARPS, 0, st>>>(D, dout, out, cu_seqlens, n_seqs, hq, hd);
  ZR_LAUNCHED_R();
  size_t shm = 2 * WARPS * hd * sizeof(float);
  k_attn_dq<<<zr_blocks(rows, WARPS), 32 * WARPS, shm, st>>>(dq, dout, q, k, v, lse, D, cu_seqlens, n_seqs, hq,
                                                              hkv, hd, scale);
  ZR_LAUNCHED_R();
  k_attn_dkdv<<<zr_blocks((size_t)n * hkv, WARPS), 32 * WARPS, shm, st>>>(dk, dv, dout, q, k, v, lse, D, cu_seqlens,
                                                                          n_seqs, hq, hkv, hd, scale);
  ZR_LAUNCHED_R();
  return 0;
}

/* ---- KV cache ---------------------------------------------------------------------------- */

__global__ void k_kv_store(float *kc, float *vc, const float *k, const float *v, const int *rows, size_t total,
                           int kvd) {
  for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total; t += (size_t)gridDim.x * blockDim.x) {
    size_t i = t / kvd, c = t % kvd, dst = (size_t)rows[i] * kvd + c;
    kc[dst] = k[t];
    vc[dst] = v[t];
  }
}
static void cu_kv_store(zr_backend *b, float *kc, float *vc, const float *k, const float *v, const int *rows, int n,
                        int kvd) {
  size_t total = (size_t)n * kvd;
  if (!total) return;
  unsigned g = zr_blocks(total, 256);
  k_kv_store<<<g > 65535u * 8 ? 65535u * 8 : g, 256, 0, zr_cu_stream(b)>>>(kc, vc, k, v, rows, total, kvd);
  ZR_LAUNCHED();
}

/* warp = (new query row r, head h); query j of sequence s sits at kv_len[s] - n_new + j */
__global__ void k_attn_cached(float *out, const float *q, const float *kc, const float *vc, const int *cu_q,
                              const int *slot, const int *kv_len, int n_seqs, int max_len, int hq, int hkv,
                              int hd, float scale) {
  extern __shared__ float sh[];
  int wid = threadIdx.x >> 5;
  size_t w = (size_t)blockIdx.x * WARPS + wid;
  if (w >= (size_t)cu_q[n_seqs] * hq) return;
  int r = (int)(w / hq), h = (int)(w % hq), kh = h / (hq / hkv);
  int s = find_seq(cu_q, n_seqs, r), start = cu_q[s], n_new = cu_q[s + 1] - start;
  int pos = kv_len[s] - n_new + (r - start);
  int qd = hq * hd, kvd = hkv * hd;
  float *qs = sh + wid * hd;
  load_vec(qs, q + (size_t)r * qd + (size_t)h * hd, hd);
  size_t base = (size_t)slot[s] * max_len * kvd + (size_t)kh * hd;
  attend(qs, kc + base, vc + base, kvd, pos + 1, hd, scale, out + (size_t)r * qd + (size_t)h * hd, NULL);
}

static int cu_attn_cached(zr_backend *b, float *out, const float *q, const float *kc, const float *vc,
                          const int *cu_q, const int *slot, const int *kv_len, int n_seqs, int max_q, int max_kv,
                          int max_len, int hq, int hkv, int hd, float scale) {
  ZR_ASSERT(hkv > 0 && hq % hkv == 0 && hd > 0 && hd <= 32 * MAXE && n_seqs >= 0);
  size_t n = rows_bound(b, cu_q, n_seqs, max_q), warps = n * hq;
  if (!n) return 0;
  k_attn_cached<<<zr_blocks(warps, WARPS), 32 * WARPS, WARPS * hd * sizeof(float), zr_cu_stream(b)>>>(
      out, q, kc, vc, cu_q, slot, kv_len, n_seqs, max_len, hq, hkv, hd, scale);
  ZR_LAUNCHED_R();
  return 0;
}

void zr_cuda_set_attn(zr_backend *b) {
  b->attn_fwd = cu_attn_fwd;
  b->attn_bwd = cu_attn_bwd;
  b->kv_store = cu_kv_store;
  b->attn_cached = cu_attn_cached;
}
