/* backend_cuda_bf16.cu: the CUDA backend's bf16 mode (zr_backend_cuda_set_bf16, backend_cuda.h).
 *
 * Design: bf16 GEMM inputs with fp32 accumulation behind the unchanged fp32 interface.
 * - The interface stays float*: parameters (the fp32 MASTER weights), gradients, AdamW moments
 *   and every activation buffer remain fp32 allocations, and every op other than gemm computes
 *   in fp32 exactly as in fp32 mode. f32 is the default; bf16 mode only changes gemm.
 * - Weights: the transformer hints its parameter block (backend.h weights_hint). In bf16 mode
 *   the backend keeps a bf16 copy of each hinted block (same element offsets), made on first use
 *   and refreshed lazily, in one conversion pass, before the first gemm that reads the block
 *   after a write. Writes are seen through the ops that write weights: upload (weight loads,
 *   zr_tf_set_tensor), copy (reference refresh), zero, add, scale, adamw (the optimizer step) and
 *   a gemm whose output lies in the block. So after an optimizer step or a weight swap the next
 *   forward reads fresh bf16 weights, and decode streams half the bytes of fp32.
 * - gemm: an operand that lies inside a hinted block is read from its bf16 copy; any other
 *   operand (activations, LM-head hidden states, the output gradients of the backward GEMMs) is
 *   rounded to bf16 into a scratch buffer (compact rows). cuBLASLt then computes
 *   C = alpha op(A) op(B) + beta C with bf16 A/B, CUBLAS_COMPUTE_32F accumulation and fp32
 *   C/D: outputs (activations, logits, the "+=" weight gradients) stay fp32, so gradient
 *   accumulation over micro-batches and the LM head's logsumexp lose nothing to bf16 storage.
 *   This is what torch.autocast(bfloat16) does to a matmul's inputs, without its bf16 outputs.
 * - cuBLASLt plans (descriptors, layouts and the heuristic's algorithm) are cached per shape,
 *   transposition and pointer alignment (64 entries, round robin).
 * - Epilogues: none yet. The interface has no fused gemm + bias / activation op (bias_fwd and
 *   swiglu_fwd are separate ops), and the one fusion the interface does express, accumulation
 *   into C (beta = 1), already runs inside the GEMM.
 * - Not in bf16: gemm_batched (the transformer does not use it), attention, norms, softmax/LM-head
 *   statistics, AdamW (all fp32 kernels).
 * - Fallback: when a plan cannot be made (no algorithm, no memory for the scratch or the copy)
 *   the call runs the fp32 cuBLAS path and is counted (zr_backend_cuda_bf16_stats).
 * Parity: tests/gpu/gpu_parity compares bf16 GEMMs, the LM head and whole models with the CPU
 * backend at relative error <= 1e-2. */
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/backend_cuda.h"
#include "cuda/backend_cuda_impl.h"

#define LT_WS_BYTES ((size_t)32 << 20) /* cuBLASLt workspace */
#define N_PLANS 64
#define T 256

typedef struct {
  bool used;
  bool ta, tb, beta0;
  int m, n, k;
  int64_t lda, ldb, ldc;
  uint32_t al_a, al_b, al_c; /* pointer alignments in bytes (<= 256) */
  bool ok;                   /* a heuristic result exists */
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t la, lb, lc;
  cublasLtMatmulAlgo_t algo;
} plan;

struct zr_cuda_lt {
  cublasLtHandle_t h;
  void *ws;                /* LT_WS_BYTES */
  void *conv;              /* grow-only scratch for operands rounded to bf16 */
  size_t conv_bytes;
  plan plans[N_PLANS];
  int next;                /* round-robin eviction */
  zr_cuda_bf16_stats st;
};

/* ---- kernels ------------------------------------------------------------------------------- */

__global__ void k_to_bf16(__nv_bfloat16 *dst, const float *src, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    dst[i] = __float2bfloat16_rn(src[i]);
}
/* rows x cols of a row-major matrix with row stride ld -> compact rows (stride cols) */
__global__ void k_to_bf16_2d(__nv_bfloat16 *dst, const float *src, size_t rows, size_t cols, size_t ld) {
  const size_t n = rows * cols;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    dst[i] = __float2bfloat16_rn(src[(i / cols) * ld + i % cols]);
}
static unsigned grid(size_t n) {
  unsigned g = zr_blocks(n, T);
  return g > 65535u * 8 ? 65535u * 8 : g;
}

/* ---- hinted weight blocks ------------------------------------------------------------------ */

void zr_cuda_weights_hint(zr_backend *b, const float *p, size_t n) {
  zr_cuda_ctx *c = zr_cu(b);
  if (!p || !n) return;
  for (int i = 0; i < c->n_wr; i++)
    if (c->wr[i].p == p) { /* again: update the size, forget the copy */
      if (c->wr[i].bf16) ZR_CK(cudaFree(c->wr[i].bf16));
      c->wr[i].bf16 = NULL;
      c->wr[i].n = n;
      c->wr[i].dirty = true;
      return;
    }
  if (c->n_wr == ZR_CUDA_MAX_WEIGHTS) return; /* a hint may be ignored: such weights are converted per gemm */
  c->wr[c->n_wr++] = (zr_cuda_wrange){p, n, NULL, true};
}

void zr_cuda_weights_touch(zr_backend *b, const void *dst, size_t bytes) {
  zr_cuda_ctx *c = zr_cu(b);
  const char *d = (const char *)dst;
  for (int i = 0; i < c->n_wr; i++) {
    const char *lo = (const char *)c->wr[i].p, *hi = lo + c->wr[i].n * sizeof(float);
    if (d < hi && d + bytes > lo) c->wr[i].dirty = true;
  }
}

void zr_cuda_weights_forget(zr_backend *b, const void *p) {
  zr_cuda_ctx *c = zr_cu(b);
  for (int i = 0; i < c->n_wr; i++)
    if ((const void *)c->wr[i].p == p) {
      if (c->wr[i].bf16) ZR_CK(cudaFree(c->wr[i].bf16));
      c->wr[i] = c->wr[--c->n_wr];
      return;
    }
}

static void free_copies(zr_cuda_ctx *c) {
  for (int i = 0; i < c->n_wr; i++) {
    if (c->wr[i].bf16) cudaFree(c->wr[i].bf16);
    c->wr[i].bf16 = NULL;
    c->wr[i].dirty = true;
  }
}

/* The bf16 view of rows x cols at X (row stride ld) when it lies inside a hinted block (the copy
 * made or refreshed first); NULL otherwise or when the copy cannot be allocated. */
static const __nv_bfloat16 *weight_view(zr_backend *b, const float *X, size_t rows, size_t cols, size_t ld) {
  zr_cuda_ctx *c = zr_cu(b);
  const size_t extent = (rows - 1) * ld + cols;
  for (int i = 0; i < c->n_wr; i++) {
    zr_cuda_wrange *r = &c->wr[i];
    if (X < r->p || X >= r->p + r->n || extent > (size_t)(r->p + r->n - X)) continue;
    if (!r->bf16) {
      cudaError_t e = cudaMalloc(&r->bf16, r->n * sizeof(__nv_bfloat16));
      if (e != cudaSuccess) {
        (void)cudaGetLastError();
        r->bf16 = NULL;
        return NULL;
      }
      r->dirty = true;
    }
    if (r->dirty) {
      k_to_bf16<<<grid(r->n), T, 0, c->stream>>>((__nv_bfloat16 *)r->bf16, r->p, r->n);
      ZR_LAUNCHED();
      r->dirty = false;
      c->lt->st.weight_refreshes++;
    }
    return (const __nv_bfloat16 *)r->bf16 + (X - r->p);
  }
  return NULL;
}

/* ---- cuBLASLt plans ------------------------------------------------------------------------ */

static uint32_t align_of(const void *p) {
  uintptr_t a = (uintptr_t)p;
  uint32_t al = 256;
  while (al > 1 && (a & (al - 1))) al >>= 1;
  return al;
}

static void plan_release(plan *p) {
  if (!p->used) return;
  if (p->desc) cublasLtMatmulDescDestroy(p->desc);
  if (p->la) cublasLtMatrixLayoutDestroy(p->la);
  if (p->lb) cublasLtMatrixLayoutDestroy(p->lb);
  if (p->lc) cublasLtMatrixLayoutDestroy(p->lc);
  memset(p, 0, sizeof *p);
}

/* Row-major C[m,n] = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLASLt's "A" is our B
 * and its "B" our A, as in the fp32 path's cublasSgemm(ob, oa, n, m, k, B, ldb, A, lda, ...). */
static plan *get_plan(zr_cuda_lt *L, bool ta, bool tb, int m, int n, int k, int64_t lda, int64_t ldb, int64_t ldc,
                      uint32_t al_a, uint32_t al_b, uint32_t al_c, bool beta0) {
  for (int i = 0; i < N_PLANS; i++) {
    plan *p = &L->plans[i];
    if (p->used && p->ta == ta && p->tb == tb && p->m == m && p->n == n && p->k == k && p->lda == lda &&
        p->ldb == ldb && p->ldc == ldc && p->al_a == al_a && p->al_b == al_b && p->al_c == al_c && p->beta0 == beta0)
      return p;
  }
  plan *p = &L->plans[L->next];
  L->next = (L->next + 1) % N_PLANS;
  plan_release(p);
  p->used = true;
  p->ta = ta, p->tb = tb, p->m = m, p->n = n, p->k = k, p->lda = lda, p->ldb = ldb, p->ldc = ldc;
  p->al_a = al_a, p->al_b = al_b, p->al_c = al_c, p->beta0 = beta0;
  p->ok = false;
  cublasOperation_t opa = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opb = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasLtMatmulPreference_t pref = NULL;
  uint64_t wsb = LT_WS_BYTES;
  uint32_t ala = al_b, alb = al_a, alc = al_c; /* Lt's A is our B */
  cublasLtMatmulHeuristicResult_t hr;
  int got = 0;
  memset(&hr, 0, sizeof hr);
  if (cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F) != CUBLAS_STATUS_SUCCESS ||
      cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa) != CUBLAS_STATUS_SUCCESS ||
      cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb) != CUBLAS_STATUS_SUCCESS ||
      cublasLtMatrixLayoutCreate(&p->la, CUDA_R_16BF, tb ? k : n, tb ? n : k, ldb) != CUBLAS_STATUS_SUCCESS ||
      cublasLtMatrixLayoutCreate(&p->lb, CUDA_R_16BF, ta ? m : k, ta ? k : m, lda) != CUBLAS_STATUS_SUCCESS ||
      cublasLtMatrixLayoutCreate(&p->lc, CUDA_R_32F, n, m, ldc) != CUBLAS_STATUS_SUCCESS ||
      cublasLtMatmulPreferenceCreate(&pref) != CUBLAS_STATUS_SUCCESS ||
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof wsb) !=
          CUBLAS_STATUS_SUCCESS ||
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &ala, sizeof ala) !=
          CUBLAS_STATUS_SUCCESS ||
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &alb, sizeof alb) !=
          CUBLAS_STATUS_SUCCESS ||
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &alc, sizeof alc) !=
          CUBLAS_STATUS_SUCCESS ||
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &alc, sizeof alc) !=
          CUBLAS_STATUS_SUCCESS ||
      cublasLtMatmulAlgoGetHeuristic(L->h, p->desc, p->la, p->lb, p->lc, p->lc, pref, 1, &hr, &got) !=
          CUBLAS_STATUS_SUCCESS ||
      got < 1 || hr.state != CUBLAS_STATUS_SUCCESS) {
    p->ok = false; /* remembered: this shape takes the fp32 path */
  } else {
    p->algo = hr.algo;
    p->ok = true;
  }
  if (pref) cublasLtMatmulPreferenceDestroy(pref);
  return p;
}

/* ---- the bf16 gemm ------------------------------------------------------------------------- */

static size_t up256(size_t x) { return (x + 255) / 256 * 256; }

int zr_cuda_bf16_gemm(zr_backend *b, bool ta, bool tb, int m, int n, int k, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc) {
  zr_cuda_ctx *c = zr_cu(b);
  zr_cuda_lt *L = c->lt;
  if (!L || m <= 0 || n <= 0 || k <= 0) return 1;
  const size_t ra = ta ? k : m, ca = ta ? m : k, rb = tb ? n : k, cb = tb ? k : n; /* as stored, row-major */
  const __nv_bfloat16 *a16 = weight_view(b, A, ra, ca, (size_t)lda), *b16 = weight_view(b, B, rb, cb, (size_t)ldb);
  int64_t lda16 = lda, ldb16 = ldb;
  const size_t need_a = a16 ? 0 : up256(ra * ca * sizeof(__nv_bfloat16)),
               need_b = b16 ? 0 : up256(rb * cb * sizeof(__nv_bfloat16));
  if (need_a + need_b > L->conv_bytes) {
    if (L->conv) ZR_CK(cudaFree(L->conv)); /* waits for the GEMMs that used it */
    L->conv = NULL;
    L->conv_bytes = 0;
    size_t cap = up256((need_a + need_b) + (need_a + need_b) / 4);
    if (cudaMalloc(&L->conv, cap) != cudaSuccess) {
      (void)cudaGetLastError();
      L->conv = NULL;
      L->st.fp32_fallbacks++;
      return 1;
    }
    L->conv_bytes = cap;
  }
  char *scratch = (char *)L->conv;
  if (!a16) {
    __nv_bfloat16 *d = (__nv_bfloat16 *)scratch;
    k_to_bf16_2d<<<grid(ra * ca), T, 0, c->stream>>>(d, A, ra, ca, (size_t)lda);
    ZR_LAUNCHED();
    a16 = d;
    lda16 = (int64_t)ca;
    scratch += need_a;
  }
  if (!b16) {
    __nv_bfloat16 *d = (__nv_bfloat16 *)scratch;
    k_to_bf16_2d<<<grid(rb * cb), T, 0, c->stream>>>(d, B, rb, cb, (size_t)ldb);
    ZR_LAUNCHED();
    b16 = d;
    ldb16 = (int64_t)cb;
  }
  plan *p = get_plan(L, ta, tb, m, n, k, lda16, ldb16, ldc, align_of(a16), align_of(b16), align_of(C), beta == 0.0f);
  if (!p->ok) {
    L->st.fp32_fallbacks++;
    return 1;
  }
  cublasStatus_t s = cublasLtMatmul(L->h, p->desc, &alpha, b16, p->la, a16, p->lb, &beta, C, p->lc, C, p->lc, &p->algo,
                                    L->ws, LT_WS_BYTES, c->stream);
  if (s != CUBLAS_STATUS_SUCCESS) zr_cuda_die(__FILE__, __LINE__, "cublasLtMatmul", zr_cublas_why(s));
  L->st.bf16_gemms++;
  return 0;
}

/* ---- mode ---------------------------------------------------------------------------------- */

void zr_cuda_bf16_release(zr_cuda_ctx *c) {
  zr_cuda_lt *L = c->lt;
  free_copies(c);
  if (!L) return;
  c->lt = NULL;
  for (int i = 0; i < N_PLANS; i++) plan_release(&L->plans[i]);
  if (L->conv) cudaFree(L->conv);
  if (L->ws) cudaFree(L->ws);
  if (L->h) cublasLtDestroy(L->h);
  free(L);
}

extern "C" int zr_backend_cuda_set_bf16(zr_backend *b, bool on) {
  if (!b || !b->name || strcmp(b->name, "cuda") != 0)
    return zr_seterr(-EINVAL, "bf16 mode: not a CUDA backend (%s)", b && b->name ? b->name : "none");
  zr_cuda_ctx *c = zr_cu(b);
  if (!on) {
    if (c->lt) ZR_CKR(cudaStreamSynchronize(c->stream)); /* the copies may still be read */
    zr_cuda_bf16_release(c);
    return 0;
  }
  if (c->lt) return 0;
  zr_cuda_lt *L = (zr_cuda_lt *)calloc(1, sizeof *L);
  if (!L) return zr_seterr(-ENOMEM, "bf16 mode: out of memory");
  cublasStatus_t s = cublasLtCreate(&L->h);
  if (s != CUBLAS_STATUS_SUCCESS) {
    free(L);
    return zr_cuda_err(-EIO, __FILE__, __LINE__, "cublasLtCreate", zr_cublas_why(s));
  }
  cudaError_t e = cudaMalloc(&L->ws, LT_WS_BYTES);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    cublasLtDestroy(L->h);
    free(L);
    return zr_seterr(-ENOMEM, "bf16 mode: cannot allocate the cuBLASLt workspace: %s", cudaGetErrorString(e));
  }
  c->lt = L;
  for (int i = 0; i < c->n_wr; i++) c->wr[i].dirty = true;
  return 0;
}

extern "C" bool zr_backend_cuda_bf16(zr_backend *b) {
  return b && b->name && strcmp(b->name, "cuda") == 0 && zr_cu(b)->lt != NULL;
}

extern "C" void zr_backend_cuda_bf16_stats(zr_backend *b, zr_cuda_bf16_stats *out) {
  memset(out, 0, sizeof *out);
  if (zr_backend_cuda_bf16(b)) *out = zr_cu(b)->lt->st;
}
