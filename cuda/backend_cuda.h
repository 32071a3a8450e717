/* backend_cuda.h: the CUDA backend (model/backend.h on one NVIDIA GPU).
 *
 * Every op runs on the GPU in fp32: device memory from cudaMalloc, one CUDA stream per backend
 * (ops are ordered on it; download() and sync() wait for it), GEMMs through cuBLAS with TF32 off
 * (set ZERORL_CUDA_TF32=1 in the environment to allow it: faster, no longer fp32 parity), and
 * plain kernels for the rest (backend_cuda_*.cu). Semantics are the CPU backend's op for op
 * ("+=" accumulation, in-place rules, argument meanings); tests/gpu/gpu_parity checks them.
 * all_reduce_sum is the identity: this backend is world size 1 (no NCCL yet).
 *
 * Errors: a failed CUDA or cuBLAS call in an op that returns int records "file:line: call:
 * reason" with zr_seterr and returns -EIO (-ENOMEM for allocations); in a void op (which the
 * interface says cannot fail) it prints the same message and aborts. */
#ifndef ZR_BACKEND_CUDA_H
#define ZR_BACKEND_CUDA_H

#include "model/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A backend on CUDA device `device` (0-based). 0, or a negative code with zr_errmsg() saying why
 * (no such device, no driver, out of memory). */
int zr_backend_cuda_new(zr_backend **out, int device);

#ifdef __cplusplus
}
#endif

#endif
