/* simd.h: the vector types and the exp the CPU kernels share (backend_cpu_vec.c, sampler_vec.c).
 *
 * GCC/clang vector extensions: a v8f is two SSE registers on baseline x86-64 (or arm64) and one
 * AVX register with AVX2. On x86-64 gcc, functions marked ZR_SIMD_CLONES are compiled for the
 * baseline and for AVX2 (target_clones, chosen at load time); floating-point contraction is off
 * (ISO C mode), so both clones give the same bits. Vectors are only passed by pointer to inlined
 * helpers, so the vector calling convention (which differs with and without AVX) never matters.
 * Internal to libzr_model. */
#ifndef ZR_MODEL_SIMD_H
#define ZR_MODEL_SIMD_H

#include <stdint.h>

__extension__ typedef float v8f __attribute__((vector_size(32)));
__extension__ typedef int32_t v8i __attribute__((vector_size(32)));
__extension__ typedef uint32_t v8u __attribute__((vector_size(32)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define ZR_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ZR_SIMD_CLONES
#endif

#define V8F_SET1(x) ((v8f){(x), (x), (x), (x), (x), (x), (x), (x)})
/* m ? a : b for a lane mask m (all ones / all zeros) */
#define V8F_SELECT(m, a, b) ((v8f)(((m) & (v8i)(a)) | (~(m) & (v8i)(b))))

/* exp(x) in place for x <= ~88, 8 lanes, branch-free: Cody-Waite reduction by ln 2 and Cephes'
 * expf polynomial (about 1 ulp, like the Sleef expf torch uses; exactly 1 at 0); 0 below -87
 * (e^-87 < 1.7e-38, never significant next to a maximum of weight 1). */
static inline __attribute__((always_inline)) void zr_fexp8(v8f *io) {
  const v8f x = *io, magic = V8F_SET1(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
  v8i under = x < V8F_SET1(-87.0f);
  v8f xc = V8F_SELECT(under, V8F_SET1(-87.0f), x);
  v8f kf = xc * V8F_SET1(1.44269504088896341f) + magic;
  v8i k = (v8i)kf - 0x4B400000;
  kf -= magic;
  v8f r = xc - kf * V8F_SET1(0.693359375f);
  r = r - kf * V8F_SET1(-2.12194440e-4f);
  v8f p = V8F_SET1(1.9875691500e-4f);
  p = p * r + V8F_SET1(1.3981999507e-3f);
  p = p * r + V8F_SET1(8.3334519073e-3f);
  p = p * r + V8F_SET1(4.1665795894e-2f);
  p = p * r + V8F_SET1(1.6666665459e-1f);
  p = p * r + V8F_SET1(5.0000001201e-1f);
  p = p * r * r + r + V8F_SET1(1.0f);
  p = (v8f)((v8u)p + ((v8u)k << 23)); /* unsigned: k may be negative */
  *io = (v8f)(~under & (v8i)p);
}

/* The same exp on one value (loop tails), so every element sees the same function. */
static inline __attribute__((always_inline)) float zr_fexp1(float x) {
  v8f v = V8F_SET1(x);
  zr_fexp8(&v);
  return v[0];
}

#endif
