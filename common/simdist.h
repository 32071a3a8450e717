/* simdist.h: the random draws behind zerorl's simulated fleet (issue 9, item 4): the actor's
 * simulated engine (actor/sim_engine.h, `[actor] engine = sim`), the reward worker's simulated
 * scorer (`[reward] engine = sim`) and bench/sim_fleet all draw completion lengths, token ids,
 * log-probs and latencies here, so a measurement with real daemons and one with the in-program
 * fleet use the same distributions.
 *
 * The generator is xorshift64* seeded through splitmix64: fast, small, reproducible for a given
 * seed, and not cryptographic (nothing here needs it to be). Each user owns its zr_simrng; there
 * is no shared state, so any number of threads can draw at once from their own generators.
 *
 * Completion lengths (tokens, always in 1..max):
 *   exponential  floor(-mean * ln(1 - u)) + 1, the shape of real completion lengths (many
 *                short, a long tail); the default, and what sim_fleet has always drawn
 *   uniform      1 + floor(u * (2 * mean - 1)): flat on 1..2*mean-1, mean `mean`
 *   fixed        round(mean)
 * and the result is clipped to max (the clipped ones end with finish reason LENGTH). */
#ifndef ZR_COMMON_SIMDIST_H
#define ZR_COMMON_SIMDIST_H

#include <stdint.h>

typedef struct {
  uint64_t s;
} zr_simrng;

typedef enum { ZR_SIMDIST_EXPONENTIAL = 0, ZR_SIMDIST_UNIFORM, ZR_SIMDIST_FIXED } zr_simdist_kind;

/* Seeds r; every seed (0 too) gives a usable, distinct stream. */
void zr_simrng_seed(zr_simrng *r, uint64_t seed);
uint64_t zr_simrng_next(zr_simrng *r);
/* Uniform in [0, 1). */
double zr_simrng_u01(zr_simrng *r);
/* Uniform in 0..n-1 (0 when n <= 1). */
uint32_t zr_simrng_below(zr_simrng *r, uint32_t n);

/* A completion length in 1..max (max >= 1) with the given mean (> 0) and shape. */
int zr_simdist_tokens(zr_simdist_kind kind, double mean, int max, zr_simrng *r);
/* A latency uniform in [0.5, 1.5] x mean_ms (mean_ms >= 0), in ms. */
double zr_simdist_jitter_ms(double mean_ms, zr_simrng *r);
/* A behaviour log-prob: finite, in [-2.01, -0.01] (<= 0, as the wire demands). */
float zr_simdist_logprob(zr_simrng *r);

/* A 64-bit hash of a string (FNV-1a), e.g. to derive a per-worker seed from its id. */
uint64_t zr_simdist_hash(const char *s);

#endif
