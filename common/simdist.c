/* simdist.c: the simulated fleet's random draws (see simdist.h). */
#include "common/simdist.h"

#include <math.h>

void zr_simrng_seed(zr_simrng *r, uint64_t seed) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull; /* splitmix64 */
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  r->s = z ? z : 0x2545F4914F6CDD1Dull; /* xorshift's state must not be 0 */
}

uint64_t zr_simrng_next(zr_simrng *r) {
  uint64_t x = r->s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

double zr_simrng_u01(zr_simrng *r) { return (double)(zr_simrng_next(r) >> 11) / 9007199254740992.0; }

uint32_t zr_simrng_below(zr_simrng *r, uint32_t n) {
  if (n <= 1) return 0;
  return (uint32_t)(((zr_simrng_next(r) >> 32) * (uint64_t)n) >> 32);
}

int zr_simdist_tokens(zr_simdist_kind kind, double mean, int max, zr_simrng *r) {
  if (max < 1) max = 1;
  if (!(mean > 0)) mean = 1;
  double u = zr_simrng_u01(r), n;
  switch (kind) {
  case ZR_SIMDIST_UNIFORM: n = 1.0 + floor(u * (2.0 * mean - 1.0)); break;
  case ZR_SIMDIST_FIXED: n = floor(mean + 0.5); break;
  default: n = floor(-log(1.0 - u * 0.999999) * mean) + 1.0; break;
  }
  if (n < 1) n = 1;
  return n >= (double)max ? max : (int)n;
}

double zr_simdist_jitter_ms(double mean_ms, zr_simrng *r) {
  if (!(mean_ms > 0)) return 0;
  return mean_ms * (0.5 + zr_simrng_u01(r));
}

float zr_simdist_logprob(zr_simrng *r) { return (float)(-0.01 - 2.0 * zr_simrng_u01(r)); }

uint64_t zr_simdist_hash(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}
