/* sampler.h: choosing the next token from a row of logits.
 *
 * Temperature, top-k, top-p (nucleus), min-p and greedy (temperature 0), applied in the order
 * transformers' logits processors apply them (temperature, top-k, top-p, min-p). Randomness
 * comes from a counter-based generator keyed by (seed, sequence, position): the same sequence
 * samples the same tokens whatever else is in the batch and however the batch is scheduled.
 *
 * For every chosen token the sampler reports two log-probabilities: under the distribution it
 * actually sampled from (after temperature and truncation) and under the unmodified policy
 * (plain log-softmax of the logits), which is what the learner's importance ratios need. The
 * sampler owns nothing: the caller passes a scratch buffer sized by zr_sampler_scratch_floats. */
#ifndef ZR_SAMPLER_H
#define ZR_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  float temperature; /* 0 = greedy */
  int top_k;         /* 0 = off */
  float top_p;       /* 1 = off */
  float min_p;       /* 0 = off */
} zr_sampling;

typedef struct {
  int token;
  float logprob_sampled; /* log-prob under the distribution sampled from (0 when greedy) */
  float logprob_policy;  /* log-softmax of the raw logits at token */
} zr_sample;

/* One draw for a backend's sample op (backend.h): row `row` of a logits matrix, sampled with s
 * under the key (seed, sequence, position), as zr_sampler_pick(&s, that row, ...) would. */
typedef struct {
  int row;
  zr_sampling s;
  uint64_t seed, sequence, position;
} zr_sample_req;

/* A uniform double in [0, 1) from (seed, sequence, position, stream): the same key always
 * gives the same number. Philox4x64-10 (as numpy.random.Philox) with key (seed, 0) and counter
 * (position, sequence, stream, 0); the top 53 bits of the first output word. */
double zr_rng_uniform(uint64_t seed, uint64_t sequence, uint64_t position, uint32_t stream);

/* About 6 floats per vocabulary entry; the buffer needs only float alignment. */
size_t zr_sampler_scratch_floats(int vocab);

/* logits[vocab] is not modified. Returns 0, or -EINVAL for bad parameters or non-finite logits
 * (message says which). */
int zr_sampler_pick(const zr_sampling *s, const float *logits, int vocab, uint64_t seed, uint64_t sequence,
                    uint64_t position, float *scratch, zr_sample *out);

/* The distribution zr_sampler_pick draws from for these logits: the surviving token ids in
 * ascending order in ids[] and their probabilities (renormalised over the survivors) in probs[],
 * both sized vocab by the caller. Greedy gives the argmax with probability 1. Returns the
 * number of survivors (>= 1) or -EINVAL as zr_sampler_pick does. For tests, evaluation and
 * entropy metrics; not needed to sample. */
int zr_sampler_filter(const zr_sampling *s, const float *logits, int vocab, float *scratch, int *ids, float *probs);

#endif
