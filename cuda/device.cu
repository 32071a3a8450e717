#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

#include "cuda/device.h"

extern "C" int zr_cuda_device_count(char *why, size_t why_len) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why && why_len) snprintf(why, why_len, "%s", cudaGetErrorString(e));
    return 0;
  }
  if (why && why_len) why[0] = '\0';
  return n;
}

extern "C" int zr_cuda_device_info(int idx, char *name, size_t name_len, size_t *total_bytes) {
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, idx) != cudaSuccess) return -1;
  if (name && name_len) snprintf(name, name_len, "%s", prop.name);
  if (total_bytes) *total_bytes = prop.totalGlobalMem;
  return 0;
}

extern "C" void zr_cuda_runtime_version(char *out, size_t len) {
  snprintf(out, len, "%d.%d", CUDART_VERSION / 1000, (CUDART_VERSION % 1000) / 10);
}
