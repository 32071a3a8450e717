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
 *
 * The arithmetic lives in sampler_philox.h, which the CUDA sampler compiles too. */
#include <stdint.h>

#include "model/sampler.h"
#include "model/sampler_philox.h" /* shared with the CUDA sampler */

double zr_rng_uniform(uint64_t seed, uint64_t sequence, uint64_t position, uint32_t stream) {
  return zr_philox_uniform(seed, sequence, position, stream);
}
