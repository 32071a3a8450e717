/* Unit test for model/sampler_philox.h, the arithmetic the C sampler and the CUDA sampler share:
 * - zr_philox_uniform equals the sampler's Philox4x64-10 as it was before the header existed
 *   (a verbatim copy below) and zr_rng_uniform, over 200k keys including extreme words;
 * - zr_philox_fexp equals the sampler's exp (zr_smp_fexp, and every element of the SIMD pass
 *   zr_smp_exp_pass) bit for bit over [-100, 0], the -87 cut-off, 0 and subnormal inputs.
 * The CUDA side compiles the same header; tests/gpu/gpu_parity checks it on a device. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/sampler.h"
#include "model/sampler_internal.h"
#include "model/sampler_philox.h"
#include "tests/test.h"

/* ---- the pre-header implementation, verbatim (model/sampler_rng.c before the split) ------- */
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

static double old_uniform(uint64_t seed, uint64_t sequence, uint64_t position, uint32_t stream) {
  const uint64_t ctr[4] = {position, sequence, stream, 0}, key[2] = {seed, 0};
  uint64_t out[4];
  philox4x64_10(ctr, key, out);
  return (double)(out[0] >> 11) * 0x1p-53;
}

static uint64_t sm = 0x243F6A8885A308D3ull;
static uint64_t next64(void) { /* splitmix64 */
  uint64_t z = (sm += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void test_uniform(void) {
  const uint64_t edge[] = {0, 1, 2, 0x7fffffffffffffffull, 0x8000000000000000ull, UINT64_MAX, UINT64_MAX - 1};
  int bad = 0;
  for (int i = 0; i < 200000; i++) {
    uint64_t seed = next64(), seq = next64(), pos = next64();
    uint32_t stream = (uint32_t)next64();
    if (i < 7 * 7 * 7) { /* every combination of edge words first */
      seed = edge[i % 7], seq = edge[(i / 7) % 7], pos = edge[(i / 49) % 7], stream = (uint32_t)edge[i % 7];
    } else if (i % 3 == 0) { /* the real key shapes: small sequences and positions */
      seq = (uint64_t)(i % 64), pos = (uint64_t)(i % 5000), stream = 0;
    }
    double a = zr_philox_uniform(seed, seq, pos, stream), b = old_uniform(seed, seq, pos, stream),
           c = zr_rng_uniform(seed, seq, pos, stream);
    if (a != b || a != c) {
      if (bad++ < 5)
        fprintf(stderr, "philox (%llu, %llu, %llu, %u): header %.17g, old %.17g, zr_rng_uniform %.17g\n",
                (unsigned long long)seed, (unsigned long long)seq, (unsigned long long)pos, stream, a, b, c);
    }
  }
  CHECK_INT(bad, 0);
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static void test_exp(void) {
  enum { N = 1 << 20 };
  float *x = malloc(N * sizeof *x), *e = malloc(N * sizeof *e);
  for (int i = 0; i < N; i++) x[i] = (float)(-100.0 * i / (N - 1)); /* [-100, 0] */
  const float special[] = {0.0f, -0.0f, -1e-45f, -1e-38f, -1e-7f, -86.9999f, -87.0f, -87.00001f, -88.0f,
                           -0.693359375f, -1.0f, -2.5f, -20.0f, -1000.0f};
  for (int i = 0; i < (int)(sizeof special / sizeof special[0]); i++) x[i * 997] = special[i];
  int bad = 0;
  for (int i = 0; i < N; i++) {
    float a = zr_philox_fexp(x[i]), b = zr_smp_fexp(x[i]);
    if (!same_bits(a, b) && bad++ < 5) fprintf(stderr, "fexp(%a): header %a, sampler %a\n", x[i], a, b);
  }
  CHECK_INT(bad, 0);
  /* the vector pass (AVX2 clone where the CPU has it) with t = 1, sub = 0 */
  double z = zr_smp_exp_pass(x, N, 1.0f, 0.0f, e);
  CHECK(z > 0);
  bad = 0;
  for (int i = 0; i < N; i++)
    if (!same_bits(e[i], zr_philox_fexp(x[i])) && bad++ < 5)
      fprintf(stderr, "exp pass [%d] (%a): %a vs header %a\n", i, x[i], e[i], zr_philox_fexp(x[i]));
  CHECK_INT(bad, 0);
  /* with a temperature: e = exp(x / t - sub), division in fp32 first */
  const float t = 0.7f, sub = -3.0f / 0.7f;
  zr_smp_exp_pass(x, N, t, sub, e);
  bad = 0;
  for (int i = 0; i < N; i++) {
    float want = zr_philox_fexp(x[i] / t - sub);
    if (x[i] / t - sub > 0) continue; /* the sampler only evaluates x <= 0 */
    if (!same_bits(e[i], want) && bad++ < 5) fprintf(stderr, "exp pass t=0.7 [%d]: %a vs %a\n", i, e[i], want);
  }
  CHECK_INT(bad, 0);
  CHECK(zr_philox_fexp(0.0f) == 1.0f);
  CHECK(zr_philox_fexp(-88.0f) == 0.0f);
  CHECK(fabs(zr_philox_fexp(-1.0f) - exp(-1.0)) < 2e-7);
  free(x), free(e);
}

int main(void) {
  test_uniform();
  test_exp();
  fprintf(stderr, "philox header: uniform and exp match the sampler\n");
  return TEST_DONE();
}
