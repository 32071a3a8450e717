/* sampler_rng.c: the sampler's counter-based random numbers (sampler.h: zr_rng_uniform).
 *
 * Choice: Philox4x64-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as
 * 1, 2, 3", SC'11), the generator of Random123 and numpy.random.Philox. It is a keyed bijection
 * on a 256-bit counter, so distinct keys can never give the same block, it passes BigCrush, and
 * numpy gives an outside reference for known-answer tests (tests/unit/test_sampler.c).
 *
 *   key     = (seed, 0)
 *   counter = (position, sequence, stream, 0)
 *   u       = (word 0 of the output block >> 11) * 2^-53      53 random bits, in [0, 1)
 */
#include <stdint.h>

#include "model/sampler.h"

#define PHILOX_M0 0xD2E7470EE14C6C93ull
#define PHILOX_M1 0xCA5A826395121157ull
#define PHILOX_W0 0x9E3779B97F4A7C15ull
#define PHILOX_W1 0xBB67AE8584CAA73Bull

static inline void mulhilo64(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo) {
  __extension__ typedef unsigned __int128 u128;
  u128 p = (u128)a * b;
  *hi = (uint64_t)(p >> 64);
  *lo = (uint64_t)p;
}

/* One Philox4x64-10 block: ctr[4] -> out[4] under key[2]. */
static void philox4x64_10(const uint64_t ctr[4], const uint64_t key[2], uint64_t out[4]) {
  uint64_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
  for (int r = 0; r < 10; r++) {
    if (r) {
      k0 += PHILOX_W0;
      k1 += PHILOX_W1;
    }
    uint64_t hi0, lo0, hi1, lo1;
    mulhilo64(PHILOX_M0, c0, &hi0, &lo0);
    mulhilo64(PHILOX_M1, c2, &hi1, &lo1);
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

double zr_rng_uniform(uint64_t seed, uint64_t sequence, uint64_t position, uint32_t stream) {
  const uint64_t ctr[4] = {position, sequence, stream, 0}, key[2] = {seed, 0};
  uint64_t out[4];
  philox4x64_10(ctr, key, out);
  return (double)(out[0] >> 11) * 0x1p-53;
}
