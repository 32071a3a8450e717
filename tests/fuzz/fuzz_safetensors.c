/* libFuzzer target for model/safetensors.c: arbitrary bytes as a safetensors file image.
 *
 * Beyond "no crash, no leak, no sanitizer report": an accepted image must be consistent. Every
 * tensor lies inside the data area, its size is dtype size x element count, the tensors tile
 * the data area in offset order with no gap or overlap, every name finds its own tensor, and
 * a refused image leaves a message naming the file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  zr_st_file *f = NULL;
  if (zr_st_parse(&f, data, size, "fuzz.safetensors") != 0) {
    if (f || !strstr(zr_errmsg(), "fuzz.safetensors")) abort();
    return 0;
  }
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | data[i];
  const uint8_t *area = data + 8 + hlen, *end = area;
  for (size_t i = 0; i < zr_st_count(f); i++) {
    const zr_st_tensor *t = zr_st_get(f, i);
    const uint8_t *p = t->data;
    if (p != end || p + t->nbytes > data + size) abort(); /* tiles the data area, in order */
    size_t n = zr_dtype_size(t->dtype);
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    if (n != t->nbytes || t->ndim < 0 || t->ndim > ZR_ST_MAX_DIMS) abort();
    if (zr_st_find(f, t->name) != t) abort();
    if (t->dtype == ZR_DT_F32 || t->dtype == ZR_DT_F16 || t->dtype == ZR_DT_BF16) {
      float buf[16];
      size_t k = t->nbytes / zr_dtype_size(t->dtype);
      zr_dtype_to_f32(t->dtype, t->data, buf, k < 16 ? k : 16);
    }
    end = p + t->nbytes;
  }
  if (end != data + size) abort();
  (void)zr_st_metadata(f, "format");
  zr_st_close(&f);
  return 0;
}
