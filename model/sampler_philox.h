/* sampler_philox.h: the sampler's arithmetic that must give the same bits on every backend,
 * shared by the C sampler (sampler_rng.c, sampler_vec.c) and the CUDA sampler
 * (cuda/backend_cuda_sample.cu). Header-only; compiled by nvcc the functions are
 * __host__ __device__, so the GPU draws exactly the CPU's random numbers by construction.
 *
 * - zr_philox_uniform: Philox4x64-10 (Salmon et al., SC'11; numpy.random.Philox) with
 *   key (seed, 0) and counter (position, sequence, stream, 0); the top 53 bits of output word 0
 *   as a double in [0, 1). This is zr_rng_uniform (sampler.h).
 * - zr_philox_fexp: exp(x) for x <= 0 in fp32 (~1 ulp, exactly 1 at 0, 0 below -87): the same
 *   operation sequence as model/simd.h's zr_fexp8 lane, so the GPU's token weights
 *   exp(s - s_max) equal the CPU's bit for bit. On the host the C sampler is built with
 *   -std=c17 (GCC: -ffp-contract=off), so no FMA contraction; on the device every step is an
 *   explicitly rounded intrinsic (__fmul_rn, __fadd_rn), which nvcc never contracts.
 * tests/unit/test_philox.c checks both against the sampler's own functions. */
#ifndef ZR_SAMPLER_PHILOX_H
#define ZR_SAMPLER_PHILOX_H

#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define ZR_PHILOX_FN static inline __host__ __device__
#else
#define ZR_PHILOX_FN static inline
#endif

#define ZR_PHILOX_M0 0xD2E7470EE14C6C93ull
#define ZR_PHILOX_M1 0xCA5A826395121157ull
#define ZR_PHILOX_W0 0x9E3779B97F4A7C15ull
#define ZR_PHILOX_W1 0xBB67AE8584CAA73Bull

ZR_PHILOX_FN void zr_philox_mulhilo64(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo) {
#if defined(__CUDA_ARCH__)
  *hi = __umul64hi(a, b);
  *lo = a * b;
#else
  __extension__ typedef unsigned __int128 zr_u128;
  zr_u128 p = (zr_u128)a * b;
  *hi = (uint64_t)(p >> 64);
  *lo = (uint64_t)p;
#endif
}

/* One Philox4x64-10 block: ctr[4] -> out[4] under key[2]. */
ZR_PHILOX_FN void zr_philox4x64_10(const uint64_t ctr[4], const uint64_t key[2], uint64_t out[4]) {
  uint64_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
  for (int r = 0; r < 10; r++) {
    if (r) {
      k0 += ZR_PHILOX_W0;
      k1 += ZR_PHILOX_W1;
    }
    uint64_t hi0, lo0, hi1, lo1;
    zr_philox_mulhilo64(ZR_PHILOX_M0, c0, &hi0, &lo0);
    zr_philox_mulhilo64(ZR_PHILOX_M1, c2, &hi1, &lo1);
    uint64_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

ZR_PHILOX_FN double zr_philox_uniform(uint64_t seed, uint64_t sequence, uint64_t position, uint32_t stream) {
  const uint64_t ctr[4] = {position, sequence, stream, 0}, key[2] = {seed, 0};
  uint64_t out[4];
  zr_philox4x64_10(ctr, key, out);
  return (double)(out[0] >> 11) * 0x1p-53;
}

/* ---- exp(x), x <= 0, fp32: zr_fexp8 (model/simd.h) on one value -------------------------- */

#if defined(__CUDA_ARCH__)
#define ZR_PX_MUL(a, b) __fmul_rn((a), (b))
#define ZR_PX_ADD(a, b) __fadd_rn((a), (b))
#define ZR_PX_SUB(a, b) __fsub_rn((a), (b))
#else
#define ZR_PX_MUL(a, b) ((a) * (b))
#define ZR_PX_ADD(a, b) ((a) + (b))
#define ZR_PX_SUB(a, b) ((a) - (b))
#endif

ZR_PHILOX_FN float zr_philox_fexp(float x) {
  const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
  const int under = x < -87.0f;
  const float xc = under ? -87.0f : x;
  float kf = ZR_PX_ADD(ZR_PX_MUL(xc, 1.44269504088896341f), magic);
  int32_t kb;
  memcpy(&kb, &kf, 4);
  const int32_t k = kb - 0x4B400000;
  kf = ZR_PX_SUB(kf, magic);
  float r = ZR_PX_SUB(xc, ZR_PX_MUL(kf, 0.693359375f));
  r = ZR_PX_SUB(r, ZR_PX_MUL(kf, -2.12194440e-4f));
  float p = 1.9875691500e-4f;
  p = ZR_PX_ADD(ZR_PX_MUL(p, r), 1.3981999507e-3f);
  p = ZR_PX_ADD(ZR_PX_MUL(p, r), 8.3334519073e-3f);
  p = ZR_PX_ADD(ZR_PX_MUL(p, r), 4.1665795894e-2f);
  p = ZR_PX_ADD(ZR_PX_MUL(p, r), 1.6666665459e-1f);
  p = ZR_PX_ADD(ZR_PX_MUL(p, r), 5.0000001201e-1f);
  p = ZR_PX_ADD(ZR_PX_ADD(ZR_PX_MUL(ZR_PX_MUL(p, r), r), r), 1.0f);
  uint32_t pb;
  memcpy(&pb, &p, 4);
  pb += (uint32_t)k << 23; /* unsigned: k may be negative */
  if (under) pb = 0;
  float res;
  memcpy(&res, &pb, 4);
  return res;
}

#undef ZR_PX_MUL
#undef ZR_PX_ADD
#undef ZR_PX_SUB

#endif
