/* backend_cuda.cu: the CUDA backend's construction, memory ops, cuBLAS GEMMs and collectives
 * (backend_cuda.h). The other ops are set by backend_cuda_{ops,attn,lmhead,sample}.cu; bf16 mode
 * (weight copies, cuBLASLt GEMMs) lives in backend_cuda_bf16.cu. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/backend_cuda.h"
#include "cuda/backend_cuda_impl.h"

/* ---- errors ------------------------------------------------------------------------------ */

int zr_cuda_err(int code, const char *file, int line, const char *call, const char *why) {
  return zr_seterr(code, "cuda backend: %s:%d: %s: %s", file, line, call, why);
}

void zr_cuda_die(const char *file, int line, const char *call, const char *why) {
  fprintf(stderr, "zerorl: cuda backend: %s:%d: %s: %s\n", file, line, call, why);
  abort();
}

const char *zr_cublas_why(cublasStatus_t s) {
  switch (s) {
  case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
  case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
  case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
  case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
  case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
  case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
  case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
  default: return "cuBLAS error";
  }
}

/* ---- memory ------------------------------------------------------------------------------ */

static int cu_alloc(zr_backend *b, void **out, size_t bytes) {
  *out = NULL;
  void *p = NULL;
  size_t n = bytes ? bytes : 256;
  cudaError_t e = cudaMalloc(&p, n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError(); /* allocation failures are not sticky: clear it */
    return zr_seterr(-ENOMEM, "cuda backend: cannot allocate %zu bytes: %s", bytes, cudaGetErrorString(e));
  }
  e = cudaMemsetAsync(p, 0, n, zr_cu_stream(b));
  if (e != cudaSuccess) {
    cudaFree(p);
    return zr_cuda_err(-EIO, __FILE__, __LINE__, "cudaMemsetAsync", cudaGetErrorString(e));
  }
  *out = p;
  return 0;
}

static void cu_free(zr_backend *b, void *p) {
  if (!p) return;
  zr_cuda_weights_forget(b, p); /* a hinted weight block: drop its bf16 copy */
  ZR_CK(cudaFree(p));           /* cudaFree waits for work that may still use p */
}

static void cu_upload(zr_backend *b, void *dst, const void *src, size_t bytes) {
  /* pageable source: staged before cudaMemcpyAsync returns, so the caller may reuse it */
  zr_cuda_touch(b, dst, bytes);
  if (bytes) ZR_CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, zr_cu_stream(b)));
}
static void cu_download(zr_backend *b, void *dst, const void *src, size_t bytes) {
  if (!bytes) return;
  ZR_CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, zr_cu_stream(b)));
  ZR_CK(cudaStreamSynchronize(zr_cu_stream(b)));
}
static void cu_copy(zr_backend *b, void *dst, const void *src, size_t bytes) {
  zr_cuda_touch(b, dst, bytes);
  if (bytes && dst != src) ZR_CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, zr_cu_stream(b)));
}
static void cu_zero(zr_backend *b, void *dst, size_t bytes) {
  zr_cuda_touch(b, dst, bytes);
  if (bytes) ZR_CK(cudaMemsetAsync(dst, 0, bytes, zr_cu_stream(b)));
}
static void cu_sync(zr_backend *b) { ZR_CK(cudaStreamSynchronize(zr_cu_stream(b))); }

int zr_cuda_workspace(zr_backend *b, size_t bytes, void **out) {
  zr_cuda_ctx *c = zr_cu(b);
  if (bytes > c->ws_bytes) {
    size_t cap = (bytes + bytes / 4 + 255) / 256 * 256;
    if (c->ws) ZR_CKR(cudaFree(c->ws)); /* waits for the ops that used it */
    c->ws = NULL;
    c->ws_bytes = 0;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, cap);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      return zr_seterr(-ENOMEM, "cuda backend: cannot allocate a workspace of %zu bytes: %s", bytes,
                       cudaGetErrorString(e));
    }
    c->ws = p;
    c->ws_bytes = cap;
  }
  *out = c->ws;
  return 0;
}

static void cu_destroy(zr_backend *b) {
  zr_cuda_ctx *c = zr_cu(b);
  if (c) {
    if (c->stream) cudaStreamSynchronize(c->stream);
    zr_cuda_bf16_release(c);
    if (c->ws) cudaFree(c->ws);
    if (c->red) cudaFree(c->red);
    if (c->blas) cublasDestroy(c->blas);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
  }
  free(b);
}

/* ---- GEMM -------------------------------------------------------------------------------- */

__global__ void k_scale_matrix(float *C, int m, int n, int ldc, float beta) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i >= (size_t)m * n) return;
  float *c = C + (i / n) * (size_t)ldc + i % n;
  *c = beta == 0.0f ? 0.0f : beta * *c;
}

/* Row-major C = A B is column-major C^T = B^T A^T: swap the operands and m/n. */
static void cu_gemm_batched(zr_backend *b, bool ta, bool tb, int m, int n, int k, float alpha, const float *A,
                            int lda, int64_t sa, const float *B, int ldb, int64_t sb, float beta, float *C, int ldc,
                            int64_t sc, int batch) {
  ZR_ASSERT(m >= 0 && n >= 0 && k >= 0 && batch >= 0);
  if (m == 0 || n == 0 || batch == 0) return;
  if (zr_cu(b)->n_wr) /* a GEMM writing into a hinted weight block makes its bf16 copy stale */
    for (int i = 0; i < batch; i++) zr_cuda_touch(b, C + i * sc, ((size_t)(m - 1) * ldc + n) * sizeof(float));
  if (k == 0) { /* C = beta C, as the CPU backend */
    for (int i = 0; i < batch; i++) {
      k_scale_matrix<<<zr_blocks((size_t)m * n, 256), 256, 0, zr_cu_stream(b)>>>(C + i * sc, m, n, ldc, beta);
      ZR_LAUNCHED();
    }
    return;
  }
  /* bf16 mode: single GEMMs through cuBLASLt (backend_cuda_bf16.cu); else, or when it cannot, fp32 */
  if (batch == 1 && zr_cu(b)->lt &&
      zr_cuda_bf16_gemm(b, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc) == 0)
    return;
  cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (batch == 1)
    ZR_CKB(cublasSgemm(zr_cu(b)->blas, ob, oa, n, m, k, &alpha, B, ldb, A, lda, &beta, C, ldc));
  else
    ZR_CKB(cublasSgemmStridedBatched(zr_cu(b)->blas, ob, oa, n, m, k, &alpha, B, ldb, sb, A, lda, sa, &beta, C,
                                     ldc, sc, batch));
}

static void cu_gemm(zr_backend *b, bool ta, bool tb, int m, int n, int k, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc) {
  cu_gemm_batched(b, ta, tb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

/* ---- collectives ------------------------------------------------------------------------- */

static int cu_all_reduce_sum(zr_backend *b, float *x, size_t n) { return 0; } /* world size 1 */

/* ---- construction ------------------------------------------------------------------------ */

extern "C" int zr_backend_cuda_new(zr_backend **out, int device) {
  *out = NULL;
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) return zr_seterr(-ENODEV, "cuda backend: no CUDA device: %s", cudaGetErrorString(e));
  if (device < 0 || device >= count)
    return zr_seterr(-ENODEV, "cuda backend: device %d does not exist (%d visible)", device, count);
  zr_backend *b = (zr_backend *)calloc(1, sizeof *b);
  zr_cuda_ctx *c = (zr_cuda_ctx *)calloc(1, sizeof *c);
  if (!b || !c) {
    free(b);
    free(c);
    return zr_seterr(-ENOMEM, "cuda backend: out of memory");
  }
  b->ctx = c;
  c->device = device;
  int rc = 0;
  cublasStatus_t s;
  const char *tf32 = getenv("ZERORL_CUDA_TF32");
  if ((e = cudaSetDevice(device)) != cudaSuccess) {
    rc = zr_cuda_err(-EIO, __FILE__, __LINE__, "cudaSetDevice", cudaGetErrorString(e));
  } else if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess) {
    rc = zr_cuda_err(-EIO, __FILE__, __LINE__, "cudaStreamCreate", cudaGetErrorString(e));
  } else if ((s = cublasCreate(&c->blas)) != CUBLAS_STATUS_SUCCESS) {
    rc = zr_cuda_err(-EIO, __FILE__, __LINE__, "cublasCreate", zr_cublas_why(s));
  } else if ((s = cublasSetStream(c->blas, c->stream)) != CUBLAS_STATUS_SUCCESS ||
             (s = cublasSetMathMode(c->blas, tf32 && atoi(tf32) > 0 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                   : CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS) {
    rc = zr_cuda_err(-EIO, __FILE__, __LINE__, "cublasSetStream/cublasSetMathMode", zr_cublas_why(s));
  } else if ((e = cudaMalloc(&c->red, ZR_RED_BYTES)) != cudaSuccess) {
    rc = zr_cuda_err(-ENOMEM, __FILE__, __LINE__, "cudaMalloc(reduction buffer)", cudaGetErrorString(e));
  }
  if (rc) {
    cu_destroy(b);
    return rc;
  }
  b->name = "cuda";
  b->n_threads = 1;
  b->rank = 0;
  b->world_size = 1;
  b->destroy = cu_destroy;
  b->alloc = cu_alloc;
  b->free = cu_free;
  b->upload = cu_upload;
  b->download = cu_download;
  b->copy = cu_copy;
  b->zero = cu_zero;
  b->sync = cu_sync;
  b->gemm = cu_gemm;
  b->gemm_batched = cu_gemm_batched;
  b->all_reduce_sum = cu_all_reduce_sum;
  zr_cuda_set_ops(b);
  zr_cuda_set_attn(b);
  zr_cuda_set_lmhead(b);
  zr_cuda_set_sample(b);
  b->weights_hint = zr_cuda_weights_hint;
  *out = b;
  return 0;
}
