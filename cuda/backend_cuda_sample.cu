/* backend_cuda_sample.cu: the CUDA backend's sample op (backend.h): zr_sampler_pick on the GPU,
 * so generation downloads one token and two log-probs per row instead of a row of logits.
 *
 * Same result as the C sampler (model/sampler.c), step by step:
 * - the uniform is zr_philox_uniform(seed, sequence, position, 0) and the token weights are
 *   zr_philox_fexp(l_i / T - s_max): both from model/sampler_philox.h, the header the C sampler
 *   uses, so they are equal bit for bit by construction;
 * - the two sums of the exp passes (the policy's normaliser z_raw and the tempered z) are formed
 *   in the C sampler's order (fp32 over the 8 lanes of 64-token blocks, double across blocks, in
 *   index order; one thread adds the block sums), so they are bit-equal too;
 * - top-k keeps s_i >= (k-th largest logit) / T: the k-th largest is found exactly by a 4-pass
 *   radix select (8 bits a pass) on order-preserving keys of the logits;
 * - top-p drops the ascending prefix whose cumulative fp32 probability (e_i * fp32(1/z)) is
 *   <= 1 - top_p, ties in ascending id order, always keeping the largest: a 4-pass radix descent
 *   on the keys of s_i with per-bucket masses summed EXACTLY (fixed point, 2^-62 units; the C
 *   sampler sums the same fp32 values in double), then the tied group at the cut is split by id;
 * - min-p keeps e_i >= min_p; the draw inverts the survivors' cumulative weights in id order.
 * Sums over survivors after top-k (z of the candidates, the draw's running sum) are added in a
 * different order than the C sampler's: they agree to ~1e-16 relative, so a token can differ only
 * when the uniform lands that close to a boundary or a top-p cut is that close to 1 - top_p
 * ("float ties"). tests/gpu/gpu_parity checks picks and log-probs against zr_sampler_pick.
 *
 * One block of NT threads per request; each request's tempered weights go to a workspace row.
 * tests/gpu/sample_emu.sh runs this kernel on the CPU under a SIMT emulation (no GPU needed): it
 * cuts the text from "#define NT 512" up to the "---- the op" line below, so keep the device code
 * between those two markers. */
#include <limits.h>
#include <math.h>
#include <stdint.h>

#include "cuda/backend_cuda_impl.h"
extern "C" {
#include "model/sampler.h"
}
#include "model/sampler_philox.h"

#define NT 512
#define NW (NT / 32)
#define CHUNK 128 /* requests per launch (bounds the workspace: CHUNK * vocab floats) */

typedef struct {
  int token, status, bad; /* status 0 ok, 1 non-finite logit at index bad, 2 max logit / T overflows */
  float lps, lpp;
} row_res;

__device__ __forceinline__ uint32_t fkey(float s) {
  s = __fadd_rn(s, 0.0f); /* -0 -> +0: equal floats get equal keys */
  uint32_t u = __float_as_uint(s);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float fkey_inv(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}
/* the C sampler's weight: exp(x / t - sub); it divides only when t != 1 (x / 1 is exact anyway) */
__device__ __forceinline__ float ew(float x, float t, float sub) {
  return zr_philox_fexp(__fsub_rn(t != 1.0f ? __fdiv_rn(x, t) : x, sub));
}
/* fixed-point probability mass (2^-62 units; masses below 2^-39 are truncated, which shifts a
 * cumulative sum by at most vocab * 2^-62) and back */
__device__ __forceinline__ unsigned long long fx(float p) { return __float2ull_rz(p * 0x1p62f); }
__device__ __forceinline__ float fx_float(unsigned long long m) { return __double2float_rn(__ull2double_rn(m) * 0x1p-62); }

/* ---- block reductions (every thread gets the result; fixed order: deterministic) --------- */

__device__ double bsum(double v, double *sh) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads(); /* sh may still be read by a previous call */
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
  __syncthreads();
  double r = 0;
  for (int w = 0; w < NW; w++) r += sh[w];
  return r;
}
__device__ int bmin_int(int v, int *sh) {
  for (int o = 16; o > 0; o >>= 1) v = min(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
  __syncthreads();
  int r = INT_MAX;
  for (int w = 0; w < NW; w++) r = min(r, sh[w]);
  return r;
}
__device__ int bmax_int(int v, int *sh) { return -bmin_int(-v, sh); } /* v > INT_MIN */
/* the largest v, the lowest index among equal ones */
__device__ void bargmax(float &v, int &idx, float *shv, int *shi) {
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, v, o);
    int oi = __shfl_xor_sync(0xffffffffu, idx, o);
    if (ov > v || (ov == v && oi < idx)) v = ov, idx = oi;
  }
  __syncthreads();
  if ((threadIdx.x & 31) == 0) shv[threadIdx.x >> 5] = v, shi[threadIdx.x >> 5] = idx;
  __syncthreads();
  v = shv[0], idx = shi[0];
  for (int w = 1; w < NW; w++)
    if (shv[w] > v || (shv[w] == v && shi[w] < idx)) v = shv[w], idx = shi[w];
}

/* zr_smp_exp_pass: e[i] = ew(x[i]) (when e) and their sum in the C sampler's order. part holds
 * one double per 64-token block. */
__device__ double exp_pass(const float *x, int n, float t, float sub, float *e, double *part, double *sh) {
  const int n8 = n - n % 8, nblk = (n8 + 63) / 64;
  for (int b = threadIdx.x; b < nblk; b += NT) {
    float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const int i1 = min(b * 64 + 64, n8);
    for (int i = b * 64; i < i1; i += 8)
      for (int q = 0; q < 8; q++) {
        float v = ew(x[i + q], t, sub);
        if (e) e[i + q] = v;
        a[q] = __fadd_rn(a[q], v);
      }
    part[b] = (((double)a[0] + a[1]) + ((double)a[2] + a[3])) + (((double)a[4] + a[5]) + ((double)a[6] + a[7]));
  }
  for (int i = n8 + (int)threadIdx.x; i < n; i += NT)
    if (e) e[i] = ew(x[i], t, sub);
  __syncthreads(); /* part[] (global) visible to thread 0 */
  if (threadIdx.x == 0) {
    double z = 0;
    for (int b = 0; b < nblk; b++) z += part[b];
    for (int i = n8; i < n; i++) z += ew(x[i], t, sub);
    sh[0] = z;
  }
  __syncthreads();
  double z = sh[0];
  __syncthreads();
  return z;
}

/* the row's filter state (shared) */
typedef struct {
  float t, kth_s, inv_z, min_p;
  int top_k, use_p, id_cut;
  uint32_t ustar; /* top-p: the key of the first surviving s (ties split at id_cut) */
} filt;

__device__ __forceinline__ bool in_topk(const filt &f, float s) { return !f.top_k || s >= f.kth_s; }
__device__ __forceinline__ bool survives(const filt &f, const float *l, const float *e, int i) {
  const float s = __fdiv_rn(l[i], f.t);
  if (!in_topk(f, s)) return false;
  if (f.use_p) {
    uint32_t k = fkey(s);
    if (k < f.ustar || (k == f.ustar && i < f.id_cut)) return false;
  }
  return !(f.min_p > 0) || e[i] >= f.min_p;
}

/* The index of the j-th (1-based, id order) token in the top-k set whose key is f.ustar; -1 if
 * there are fewer. */
__device__ int nth_tied(const filt &f, const float *l, int V, int j, unsigned *balls, int *found) {
  int running = 0;
  for (int b0 = 0; b0 < V; b0 += NT) {
    const int i = b0 + (int)threadIdx.x;
    bool p = false;
    if (i < V) {
      float s = __fdiv_rn(l[i], f.t);
      p = in_topk(f, s) && fkey(s) == f.ustar;
    }
    unsigned ball = __ballot_sync(0xffffffffu, p);
    if ((threadIdx.x & 31) == 0) balls[threadIdx.x >> 5] = ball;
    int c = __syncthreads_count(p); /* also publishes balls[] */
    if (running + c >= j) {
      if (threadIdx.x == 0) {
        int need = j - running;
        *found = -1;
        for (int w = 0; w < NW; w++) {
          int pc = __popc(balls[w]);
          if (pc >= need) {
            unsigned bb = balls[w];
            for (int r = 1; r < need; r++) bb &= bb - 1; /* clear the lowest need-1 set bits */
            *found = b0 + w * 32 + (__ffs((int)bb) - 1);
            break;
          }
          need -= pc;
        }
      }
      __syncthreads();
      int r = *found;
      __syncthreads();
      return r;
    }
    running += c;
  }
  return -1;
}

__global__ void __launch_bounds__(NT) k_sample(const float *logits, size_t ld, int V, const zr_sample_req *reqs,
                                               float *ework, double *pwork, int nb, row_res *res) {
  __shared__ double dsh[NW];
  __shared__ float fsh[NW];
  __shared__ int ish[NW];
  __shared__ unsigned balls[NW];
  __shared__ unsigned int cnt[256];
  __shared__ unsigned long long mass[256];
  __shared__ double wsh[NT];
  __shared__ filt f;
  __shared__ int sh_sel, sh_found, sh_tok;
  __shared__ unsigned int sh_rem;
  __shared__ unsigned long long sh_base;
  __shared__ double sh_acc;

  const int tid = threadIdx.x;
  const zr_sample_req q = reqs[blockIdx.x];
  const float *l = logits + (size_t)q.row * ld;
  float *e = ework + (size_t)blockIdx.x * V;
  double *part = pwork + (size_t)blockIdx.x * nb;
  row_res *out = res + blockIdx.x;

  /* 1. non-finite logits, max and argmax (lowest id) */
  float mx = -INFINITY;
  int arg = INT_MAX, bad = INT_MAX;
  for (int i = tid; i < V; i += NT) {
    float x = l[i];
    if (!isfinite(x)) bad = min(bad, i);
    else if (x > mx) mx = x, arg = i;
  }
  bad = bmin_int(bad, ish);
  if (bad < V) {
    if (tid == 0) out->status = 1, out->bad = bad, out->token = -1;
    return;
  }
  bargmax(mx, arg, fsh, ish);

  /* 2. the policy's normaliser; greedy stops here */
  const double z_raw = exp_pass(l, V, 1.0f, mx, NULL, part, dsh);
  const float t = q.s.temperature;
  if (t == 0.0f) {
    if (tid == 0) {
      out->token = arg;
      out->status = 0;
      out->bad = 0;
      out->lps = 0.0f;
      out->lpp = (float)(-log(z_raw));
    }
    return;
  }
  const float smax = __fdiv_rn(mx, t);
  if (!isfinite(smax)) {
    if (tid == 0) out->status = 2, out->token = -1;
    return;
  }
  const double z = exp_pass(l, V, t, smax, e, part, dsh);
  const int top_k = q.s.top_k > 0 && q.s.top_k < V ? q.s.top_k : 0;
  const int use_p = q.s.top_p < 1.0f;
  const float min_p = q.s.min_p;
  if (tid == 0) {
    f.t = t;
    f.kth_s = -INFINITY;
    f.inv_z = 0.0f;
    f.min_p = min_p;
    f.top_k = top_k;
    f.use_p = use_p;
    f.id_cut = 0;
    f.ustar = 0u;
  }
  __syncthreads();

  /* 3. top-k: the k-th largest logit by radix select on its key, 8 bits a pass */
  if (top_k) {
    uint32_t prefix = 0, rem = (uint32_t)top_k;
    for (int level = 0; level < 4; level++) {
      const int shift = 24 - 8 * level;
      const uint32_t hmask = level ? 0xffffffffu << (32 - 8 * level) : 0u;
      for (int b = tid; b < 256; b += NT) cnt[b] = 0;
      __syncthreads();
      for (int i = tid; i < V; i += NT) {
        uint32_t k = fkey(l[i]);
        if ((k & hmask) == prefix) atomicAdd(&cnt[(k >> shift) & 255u], 1u);
      }
      __syncthreads();
      if (tid == 0) {
        int sel = 0;
        for (int b = 255; b >= 0; b--) {
          if (cnt[b] >= rem) {
            sel = b;
            break;
          }
          rem -= cnt[b];
        }
        sh_sel = sel;
        sh_rem = rem;
      }
      __syncthreads();
      prefix |= (uint32_t)sh_sel << shift;
      rem = sh_rem;
      __syncthreads();
    }
    if (tid == 0) f.kth_s = __fdiv_rn(fkey_inv(prefix), t);
    __syncthreads();
  }

  /* 4. the candidates' normaliser (all tokens: z itself) and fp32 1/z */
  double zc = z;
  if (top_k) {
    double acc = 0;
    for (int i = tid; i < V; i += NT)
      if (in_topk(f, __fdiv_rn(l[i], t))) acc += (double)e[i];
    zc = bsum(acc, dsh);
  }
  if (tid == 0) f.inv_z = __fdiv_rn(1.0f, __double2float_rn(zc));
  __syncthreads();

  /* 5. top-p: radix descent on the keys of s with exact bucket masses */
  if (use_p) {
    const float thr = __double2float_rn(1.0 - (double)q.s.top_p);
    uint32_t prefix = 0;
    unsigned long long base = 0;
    bool keep_largest = false;
    for (int level = 0; level < 4 && !keep_largest; level++) {
      const int shift = 24 - 8 * level;
      const uint32_t hmask = level ? 0xffffffffu << (32 - 8 * level) : 0u;
      for (int b = tid; b < 256; b += NT) cnt[b] = 0, mass[b] = 0;
      __syncthreads();
      for (int i = tid; i < V; i += NT) {
        float s = __fdiv_rn(l[i], t);
        if (!in_topk(f, s)) continue;
        uint32_t k = fkey(s);
        if ((k & hmask) != prefix) continue;
        unsigned b = (k >> shift) & 255u;
        atomicAdd(&cnt[b], 1u);
        atomicAdd(&mass[b], fx(__fmul_rn(e[i], f.inv_z)));
      }
      __syncthreads();
      if (tid == 0) {
        int sel = -1;
        unsigned long long bs = base;
        for (int b = 0; b < 256; b++) {
          unsigned long long cum = bs + mass[b];
          if (cnt[b] && fx_float(cum) > thr) {
            sel = b;
            break;
          }
          bs = cum;
        }
        sh_sel = sel;
        sh_base = bs;
        if (sel >= 0 && level == 3) { /* the tied group: the first j with base + j p > thr */
          unsigned long long p = mass[sel] / cnt[sel];
          unsigned lo = 1, hi = cnt[sel];
          while (lo < hi) {
            unsigned mid = lo + (hi - lo) / 2;
            if (fx_float(bs + (unsigned long long)mid * p) > thr) hi = mid;
            else lo = mid + 1;
          }
          sh_rem = lo;
        }
      }
      __syncthreads();
      if (sh_sel < 0) {
        keep_largest = true; /* every cumulative sum <= thr: only the largest survives */
      } else {
        prefix |= (uint32_t)sh_sel << shift;
        base = sh_base;
      }
      __syncthreads();
    }
    int j;
    if (keep_largest) { /* the largest key: s_max, the highest id among its ties */
      if (tid == 0) f.ustar = fkey(smax);
      __syncthreads();
      int c = 0;
      for (int i = tid; i < V; i += NT) {
        float s = __fdiv_rn(l[i], t);
        c += in_topk(f, s) && fkey(s) == f.ustar;
      }
      j = (int)bsum((double)c, dsh); /* a count: exact in double */
    } else {
      if (tid == 0) f.ustar = prefix;
      j = (int)sh_rem;
    }
    __syncthreads();
    int cut = nth_tied(f, l, V, j, balls, &sh_found);
    if (tid == 0) f.id_cut = cut < 0 ? V : cut;
    __syncthreads();
  }

  /* 6. the survivors' total and the draw in id order */
  const bool filtered = top_k || use_p || min_p > 0;
  double zs = z;
  if (filtered) {
    double acc = 0;
    for (int i = tid; i < V; i += NT)
      if (survives(f, l, e, i)) acc += (double)e[i];
    zs = bsum(acc, dsh);
  }
  const double target = zr_philox_uniform(q.seed, q.sequence, q.position, 0) * zs;
  double acc = 0;
  int mylast = -1;
  if (tid == 0) sh_tok = -1;
  __syncthreads();
  for (int b0 = 0; b0 < V; b0 += NT) {
    const int i = b0 + tid;
    double w = 0;
    if (i < V && e[i] > 0 && (!filtered || survives(f, l, e, i))) w = e[i], mylast = i;
    wsh[tid] = w;
    const double ts = bsum(w, dsh); /* its barriers publish wsh[] */
    if (acc + ts > target) { /* the crossing is in this tile, unless rounding says otherwise */
      if (tid == 0) {
        double a = acc;
        int pick = -1;
        for (int r = 0; r < NT; r++)
          if (wsh[r] > 0) {
            a += wsh[r];
            if (a > target) {
              pick = b0 + r;
              break;
            }
          }
        sh_tok = pick;
        sh_acc = a;
      }
      __syncthreads();
      const int tk = sh_tok;
      acc = sh_acc;
      __syncthreads();
      if (tk >= 0) break;
    } else {
      acc += ts;
    }
  }
  __syncthreads();
  int tok = sh_tok;
  const int last = bmax_int(mylast, ish); /* rounding fallback: the last token that can be drawn */
  if (tok < 0) tok = last;
  if (tid == 0) {
    if (tok < 0) { /* cannot happen: the max has weight 1 and survives every filter */
      out->status = 3, out->token = -1;
      return;
    }
    out->token = tok;
    out->status = 0;
    out->lps = (float)(((double)__fdiv_rn(l[tok], t) - (double)smax) - log(zs));
    out->lpp = (float)(((double)l[tok] - (double)mx) - log(z_raw));
  }
}

/* ---- the op -------------------------------------------------------------------------------- */

static int check_params(const zr_sampling *s, int row, int n_rows) {
  if (row < 0 || row >= n_rows) return zr_seterr(-EINVAL, "sampler: row %d outside [0, %d)", row, n_rows);
  if (!(s->temperature >= 0 && isfinite(s->temperature)))
    return zr_seterr(-EINVAL, "sampler: temperature must be >= 0 and finite, got %g", (double)s->temperature);
  if (s->top_k < 0) return zr_seterr(-EINVAL, "sampler: top_k must be >= 0 (0 = off), got %d", s->top_k);
  if (!(s->top_p >= 0 && s->top_p <= 1))
    return zr_seterr(-EINVAL, "sampler: top_p must be in [0, 1] (1 = off), got %g", (double)s->top_p);
  if (!(s->min_p >= 0 && s->min_p <= 1))
    return zr_seterr(-EINVAL, "sampler: min_p must be in [0, 1] (0 = off), got %g", (double)s->min_p);
  return 0;
}

static size_t up256(size_t x) { return (x + 255) / 256 * 256; }

static int cu_sample(zr_backend *b, const float *logits, int n_rows, size_t ld, int vocab, int n,
                     const zr_sample_req *req, zr_sample *out) {
  if (vocab < 1) return zr_seterr(-EINVAL, "sampler: vocab must be >= 1, got %d", vocab);
  if (ld < (size_t)vocab) return zr_seterr(-EINVAL, "sampler: row stride %zu < vocab %d", ld, vocab);
  if (n < 0) return zr_seterr(-EINVAL, "sampler: %d requests", n);
  for (int j = 0; j < n; j++) {
    int rc = check_params(&req[j].s, req[j].row, n_rows);
    if (rc) return rc;
  }
  const int nb = (vocab - vocab % 8 + 63) / 64 + 1;
  const size_t req_b = up256(CHUNK * sizeof(zr_sample_req)), res_b = up256(CHUNK * sizeof(row_res)),
               e_b = up256((size_t)CHUNK * vocab * sizeof(float));
  row_res hres[CHUNK];
  for (int j0 = 0; j0 < n; j0 += CHUNK) {
    const int m = n - j0 < CHUNK ? n - j0 : CHUNK;
    void *ws;
    int rc = zr_cuda_workspace(b, req_b + res_b + e_b + (size_t)CHUNK * nb * sizeof(double), &ws);
    if (rc) return rc;
    char *p = (char *)ws;
    zr_sample_req *dreq = (zr_sample_req *)p;
    row_res *dres = (row_res *)(p + req_b);
    float *ework = (float *)(p + req_b + res_b);
    double *pwork = (double *)(p + req_b + res_b + e_b);
    ZR_CKR(cudaMemcpyAsync(dreq, req + j0, (size_t)m * sizeof *dreq, cudaMemcpyHostToDevice, zr_cu_stream(b)));
    k_sample<<<m, NT, 0, zr_cu_stream(b)>>>(logits, ld, vocab, dreq, ework, pwork, nb, dres);
    ZR_LAUNCHED_R();
    ZR_CKR(cudaMemcpyAsync(hres, dres, (size_t)m * sizeof *dres, cudaMemcpyDeviceToHost, zr_cu_stream(b)));
    ZR_CKR(cudaStreamSynchronize(zr_cu_stream(b)));
    for (int j = 0; j < m; j++) {
      const row_res *r = &hres[j];
      if (r->status == 1)
        return zr_seterr(-EINVAL, "sampler: logit %d of %d is not finite (row %d)", r->bad, vocab, req[j0 + j].row);
      if (r->status == 2)
        return zr_seterr(-EINVAL, "sampler: temperature %g takes the largest logit of row %d out of fp32 range",
                         (double)req[j0 + j].s.temperature, req[j0 + j].row);
      if (r->status != 0 || r->token < 0 || r->token >= vocab)
        return zr_seterr(-EIO, "cuda sampler: row %d: no token (status %d)", req[j0 + j].row, r->status);
      out[j0 + j].token = r->token;
      out[j0 + j].logprob_sampled = r->lps;
      out[j0 + j].logprob_policy = r->lpp;
    }
  }
  return 0;
}

void zr_cuda_set_sample(zr_backend *b) { b->sample = cu_sample; }
