/* dtype.c: the safetensors element types: names, sizes and fp32 conversions (safetensors.h). */
#include <math.h>
#include <string.h>

#include "common/error.h"
#include "model/safetensors.h"

/* safetensors data is little-endian and tensor views point straight into it. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "zerorl assumes a little-endian host");

static const struct {
  const char *name;
  size_t size;
} dtypes[ZR_DT_COUNT] = {
    [ZR_DT_F32] = {"F32", 4}, [ZR_DT_F16] = {"F16", 2}, [ZR_DT_BF16] = {"BF16", 2}, [ZR_DT_F64] = {"F64", 8},
    [ZR_DT_I64] = {"I64", 8}, [ZR_DT_I32] = {"I32", 4}, [ZR_DT_I16] = {"I16", 2},   [ZR_DT_I8] = {"I8", 1},
    [ZR_DT_U8] = {"U8", 1},   [ZR_DT_BOOL] = {"BOOL", 1},
};

const char *zr_dtype_name(zr_dtype dt) { return (unsigned)dt < ZR_DT_COUNT ? dtypes[dt].name : "?"; }
size_t zr_dtype_size(zr_dtype dt) { return (unsigned)dt < ZR_DT_COUNT ? dtypes[dt].size : 0; }

int zr_dtype_parse(const char *name) {
  for (int i = 0; i < ZR_DT_COUNT; i++)
    if (strcmp(name, dtypes[i].name) == 0) return i;
  return -1;
}

static float bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static uint16_t f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if (isnan(f)) return (uint16_t)((u >> 16) | 0x40); /* keep it a (quiet) NaN */
  u += 0x7fff + ((u >> 16) & 1);                       /* round to nearest even */
  return (uint16_t)(u >> 16);
}

static float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else { /* subnormal: normalise */
      int e = -1;
      do {
        e++;
        man <<= 1;
      } while (!(man & 0x400));
      u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0); /* inf, or a quiet NaN */
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static uint16_t f32_to_f16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
  int32_t exp = (int32_t)((u >> 23) & 0xff) - 127 + 15;
  uint32_t man = u & 0x7fffff;
  if (((u >> 23) & 0xff) == 0xff) return sign | 0x7c00 | (man ? 0x200 : 0); /* inf / NaN */
  if (exp >= 31) return sign | 0x7c00;                                      /* overflow: inf */
  if (exp <= 0) {                                                           /* subnormal or zero */
    if (exp < -10) return sign;
    man |= 0x800000;
    uint32_t shift = (uint32_t)(14 - exp);
    uint32_t half = 1u << (shift - 1), rest = man & ((1u << shift) - 1);
    uint16_t r = (uint16_t)(man >> shift);
    if (rest > half || (rest == half && (r & 1))) r++;
    return sign | r;
  }
  uint16_t r = (uint16_t)(sign | ((uint32_t)exp << 10) | (man >> 13));
  uint32_t rest = man & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (r & 1))) r++; /* may carry into the exponent: correct */
  return r;
}

void zr_dtype_to_f32(zr_dtype dt, const void *src, float *dst, size_t n) {
  ZR_ASSERT(dt == ZR_DT_F32 || dt == ZR_DT_F16 || dt == ZR_DT_BF16);
  const unsigned char *p = src;
  if (dt == ZR_DT_F32) {
    memmove(dst, src, 4 * n);
  } else if (dt == ZR_DT_BF16) {
    for (size_t i = 0; i < n; i++) {
      uint16_t h;
      memcpy(&h, p + 2 * i, 2);
      dst[i] = bf16_to_f32(h);
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      uint16_t h;
      memcpy(&h, p + 2 * i, 2);
      dst[i] = f16_to_f32(h);
    }
  }
}

void zr_f32_to_dtype(zr_dtype dt, const float *src, void *dst, size_t n) {
  ZR_ASSERT(dt == ZR_DT_F32 || dt == ZR_DT_F16 || dt == ZR_DT_BF16);
  unsigned char *p = dst;
  if (dt == ZR_DT_F32) {
    memmove(dst, src, 4 * n);
  } else if (dt == ZR_DT_BF16) {
    for (size_t i = 0; i < n; i++) {
      uint16_t h = f32_to_bf16(src[i]);
      memcpy(p + 2 * i, &h, 2);
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      uint16_t h = f32_to_f16(src[i]);
      memcpy(p + 2 * i, &h, 2);
    }
  }
}
