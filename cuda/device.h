/* device.h: what CUDA devices this process can see. The CUDA backend itself (GEMMs, kernels,
 * NCCL) is issue 8; this is the part every daemon and `zerorl version` needs now: whether a
 * GPU is present, and its name and memory. Safe to call on machines without a GPU or driver. */
#ifndef ZR_CUDA_DEVICE_H
#define ZR_CUDA_DEVICE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of visible devices; 0 when there is no GPU or no driver (the reason goes to why). */
int zr_cuda_device_count(char *why, size_t why_len);

/* Name and total memory of device idx; 0 on success, negative if it cannot be queried. */
int zr_cuda_device_info(int idx, char *name, size_t name_len, size_t *total_bytes);

/* CUDA runtime version the backend was built against, as "major.minor". */
void zr_cuda_runtime_version(char *out, size_t len);

#ifdef __cplusplus
}
#endif

#endif
