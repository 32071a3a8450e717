/* backend_cuda.h: the CUDA backend (model/backend.h on one NVIDIA GPU).
 *
 * Every op runs on the GPU in fp32 (GEMMs in bf16 in bf16 mode, below): device memory from cudaMalloc, one CUDA stream per backend
 * (ops are ordered on it; download() and sync() wait for it), GEMMs through cuBLAS with TF32 off
 * (set ZERORL_CUDA_TF32=1 in the environment to allow it: faster, no longer fp32 parity), and
 * plain kernels for the rest (backend_cuda_*.cu). Semantics are the CPU backend's op for op
 * ("+=" accumulation, in-place rules, argument meanings); tests/gpu/gpu_parity checks them.
 * all_reduce_sum is the identity: this backend is world size 1 (a data-parallel learner group
 * averages gradients through learner/comm.h, with NCCL: cuda/comm_nccl.h).
 * Optional ops: sample (backend_cuda_sample.cu: zr_sampler_pick on device logits, the same
 * Philox stream via model/sampler_philox.h) and weights_hint (bf16 mode's weight copies).
 *
 * Errors: a failed CUDA or cuBLAS call in an op that returns int records "file:line: call:
 * reason" with zr_seterr and returns -EIO (-ENOMEM for allocations); in a void op (which the
 * interface says cannot fail) it prints the same message and aborts. */
#ifndef ZR_BACKEND_CUDA_H
#define ZR_BACKEND_CUDA_H

#include <stdbool.h>
#include <stdint.h>

#include "model/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A backend on CUDA device `device` (0-based). 0, or a negative code with zr_errmsg() saying why
 * (no such device, no driver, out of memory). */
int zr_backend_cuda_new(zr_backend **out, int device);

/* bf16 mode (backend_cuda_bf16.cu; [model] dtype = bf16): gemm reads bf16 copies of the hinted
 * weights (backend.h weights_hint: a model's parameter block) and bf16-rounded activations,
 * accumulates in fp32 (cuBLASLt, CUBLAS_COMPUTE_32F) and writes fp32. Master weights, gradients,
 * AdamW state, activations and every other op stay fp32; off (the default) is exactly the fp32
 * backend. -EINVAL when b is not a CUDA backend; -ENOMEM / -EIO when cuBLASLt cannot start. */
int zr_backend_cuda_set_bf16(zr_backend *b, bool on);
bool zr_backend_cuda_bf16(zr_backend *b); /* in bf16 mode */

typedef struct {
  uint64_t bf16_gemms;       /* gemm calls run in bf16 */
  uint64_t fp32_fallbacks;   /* gemm calls in bf16 mode that ran in fp32 (no plan, no memory) */
  uint64_t weight_refreshes; /* bf16 copies (re)made after writes to the weights */
} zr_cuda_bf16_stats;
void zr_backend_cuda_bf16_stats(zr_backend *b, zr_cuda_bf16_stats *out); /* zeros outside bf16 mode */

#ifdef __cplusplus
}
#endif

#endif
