/* backend_cuda_impl.h: what the CUDA backend's files share (internal; see backend_cuda.h).
 *
 * backend_cuda.cu: construction, memory, cuBLAS GEMMs, collectives.
 * backend_cuda_ops.cu: elementwise, reductions, AdamW, rows, RMSNorm, RoPE.
 * backend_cuda_attn.cu: attention (packed prefill forward/backward, KV cache).
 * backend_cuda_lmhead.cu: the fused chunked LM head.
 * backend_cuda_sample.cu: the sample op (zr_sampler_pick on the GPU).
 * backend_cuda_bf16.cu: bf16 mode (bf16 weight copies, cuBLASLt bf16 GEMMs).
 * The context owns the stream, the cuBLAS handle and one grow-only device workspace that ops
 * carve temporaries from (ops never nest). */
#ifndef ZR_BACKEND_CUDA_IMPL_H
#define ZR_BACKEND_CUDA_IMPL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

extern "C" {
#include "common/error.h"
#include "model/backend.h"
}

#define ZR_RED_BLOCKS 1024                                  /* partial sums of sumsq */
#define ZR_RED_BYTES ((ZR_RED_BLOCKS + 2) * sizeof(double)) /* partials, result */

#define ZR_CUDA_MAX_WEIGHTS 16 /* hinted weight blocks (backend.h weights_hint) */

/* A hinted weight block and, in bf16 mode, its bf16 copy (backend_cuda_bf16.cu). */
typedef struct {
  const float *p;
  size_t n;   /* floats */
  void *bf16; /* n bf16 values, or NULL (not made yet / fp32 mode) */
  bool dirty; /* written since the copy was made */
} zr_cuda_wrange;

typedef struct zr_cuda_lt zr_cuda_lt; /* bf16 mode: cuBLASLt handle, plans, scratch */

typedef struct {
  int device;
  cudaStream_t stream;
  cublasHandle_t blas;
  void *ws;        /* workspace (device) */
  size_t ws_bytes; /* its size */
  void *red;       /* ZR_RED_BYTES for reductions that return to the host (sumsq, first_nonfinite) */
  zr_cuda_wrange wr[ZR_CUDA_MAX_WEIGHTS];
  int n_wr;
  zr_cuda_lt *lt;  /* non-NULL: bf16 mode */
} zr_cuda_ctx;

static inline zr_cuda_ctx *zr_cu(zr_backend *b) { return (zr_cuda_ctx *)b->ctx; }
static inline cudaStream_t zr_cu_stream(zr_backend *b) { return zr_cu(b)->stream; }

/* Failure reporting (backend_cuda.cu). zr_cuda_err records the message and returns code;
 * zr_cuda_die prints it and aborts. */
int zr_cuda_err(int code, const char *file, int line, const char *call, const char *why);
[[noreturn]] void zr_cuda_die(const char *file, int line, const char *call, const char *why);
const char *zr_cublas_why(cublasStatus_t s);

/* CK: checked call in a void op (aborts); CKR: in an int op (returns -EIO). */
#define ZR_CK(call)                                                                            \
  do {                                                                                         \
    cudaError_t e_ = (call);                                                                   \
    if (e_ != cudaSuccess) zr_cuda_die(__FILE__, __LINE__, #call, cudaGetErrorString(e_));     \
  } while (0)
#define ZR_CKR(call)                                                                           \
  do {                                                                                         \
    cudaError_t e_ = (call);                                                                   \
    if (e_ != cudaSuccess)                                                                     \
      return zr_cuda_err(e_ == cudaErrorMemoryAllocation ? -ENOMEM : -EIO, __FILE__, __LINE__, \
                         #call, cudaGetErrorString(e_));                                       \
  } while (0)
#define ZR_CKB(call)                                                                           \
  do {                                                                                         \
    cublasStatus_t s_ = (call);                                                                \
    if (s_ != CUBLAS_STATUS_SUCCESS) zr_cuda_die(__FILE__, __LINE__, #call, zr_cublas_why(s_)); \
  } while (0)
/* after a kernel launch */
#define ZR_LAUNCHED() ZR_CK(cudaGetLastError())
#define ZR_LAUNCHED_R() ZR_CKR(cudaGetLastError())

/* A workspace of at least `bytes` (contents undefined, 256-byte aligned), valid until the op
 * returns. 0 or -ENOMEM (message set). */
int zr_cuda_workspace(zr_backend *b, size_t bytes, void **out);

static inline unsigned zr_blocks(size_t n, unsigned threads) {
  size_t g = (n + threads - 1) / threads;
  return g > 0x7fffffffu ? 0x7fffffffu : (unsigned)(g ? g : 1);
}

/* the ops defined outside backend_cuda.cu */
void zr_cuda_set_ops(zr_backend *b);    /* backend_cuda_ops.cu: elementwise .. rope */
void zr_cuda_set_attn(zr_backend *b);   /* backend_cuda_attn.cu */
void zr_cuda_set_lmhead(zr_backend *b); /* backend_cuda_lmhead.cu */
void zr_cuda_set_sample(zr_backend *b); /* backend_cuda_sample.cu: the sample op */

/* backend_cuda_bf16.cu. hint: the weights_hint op; touch: ops that write dst[0..bytes) call it
 * (marks overlapping weight blocks' bf16 copies stale); forget: cu_free; release: destroy and
 * leaving bf16 mode. zr_cuda_bf16_gemm: 0 when it ran the GEMM in bf16, else the caller runs
 * the fp32 path. */
void zr_cuda_weights_hint(zr_backend *b, const float *p, size_t n);
void zr_cuda_weights_touch(zr_backend *b, const void *dst, size_t bytes);
void zr_cuda_weights_forget(zr_backend *b, const void *p);
void zr_cuda_bf16_release(zr_cuda_ctx *c);
int zr_cuda_bf16_gemm(zr_backend *b, bool ta, bool tb, int m, int n, int k, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc);
static inline void zr_cuda_touch(zr_backend *b, const void *dst, size_t bytes) {
  if (zr_cu(b)->n_wr) zr_cuda_weights_touch(b, dst, bytes);
}

#endif
