/* sim_engine.h: the actor's simulated engine (`[actor] engine = sim`, issue 9 item 4): the same
 * request/step/poll contract as the model engine (actor/engine.h), without a model, so hundreds
 * of real zerorl-actor processes can drive one real learner hub on one machine.
 *
 * Every submitted request's samples are admitted FIFO into n_slots slots, exactly as the model
 * engine's continuous batching does (a request with more samples than free slots takes what is
 * free and waits at the head of the queue for the rest; admission can be paused). An admitted
 * sample draws its completion length from the configured distribution (common/simdist.h),
 * clipped to the request's max_new_tokens and to tokens_max, and finishes after
 * length / tokens_per_s seconds of wall time (each slot decodes at tokens_per_s, whatever the
 * other slots do). A finished sample carries that many token ids drawn uniformly from
 * 0..vocab-1 (never an eos id, except the last token of a sample that ends with EOS),
 * log-probs in [-2.01, -0.01], and per token the policy version that was set when that token's
 * time came (zr_simeng_set_version records when versions change); text is one lowercase letter
 * per token. Finish reason LENGTH when the length was clipped, else EOS.
 *
 * Time: zr_simeng_step(now) finishes every sample due by now; zr_simeng_next_due_ns says when
 * the next one is due, so the caller can sleep until then (or until new commands arrive)
 * instead of spinning.
 *
 * Ownership: the engine owns copies of what it needs from a request (ids, counts, limits; not
 * the prompt) and its output buffers; zr_simeng_poll hands out pointers that stay valid until
 * the next zr_simeng_poll, zr_simeng_step, zr_simeng_cancel or zr_simeng_free call.
 * Threads: none inside; one thread at a time drives an engine. */
#ifndef ZR_ACTOR_SIM_ENGINE_H
#define ZR_ACTOR_SIM_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "actor/engine.h"
#include "common/simdist.h"

typedef struct {
  int n_slots;            /* samples generated at once, >= 1 */
  int vocab;              /* token ids are drawn in 0..vocab-1, >= 2 */
  int32_t eos_ids[8];     /* the last token of an EOS-finished sample is eos_ids[0] */
  int n_eos;              /* 0..8 */
  zr_simdist_kind dist;   /* completion length shape */
  double tokens_mean;     /* > 0 */
  int tokens_max;         /* >= 1 */
  double tokens_per_s;    /* per slot, > 0 */
  uint64_t seed;
  uint64_t initial_version;
} zr_simeng_cfg;

typedef struct zr_simeng zr_simeng;

/* -EINVAL (with zr_errmsg()) for a bad cfg, -ENOMEM. */
int zr_simeng_new(zr_simeng **out, const zr_simeng_cfg *cfg);
void zr_simeng_free(zr_simeng **e);
/* Queues the request (its prompt is only checked, not kept). -EINVAL / -EEXIST as the model engine. */
int zr_simeng_submit(zr_simeng *e, const zr_engine_request *r);
/* Admits what fits, finishes every sample due by now_ns (CLOCK_MONOTONIC). Returns the samples in
 * slots afterwards (0: nothing running and nothing admissible). */
int zr_simeng_step(zr_simeng *e, uint64_t now_ns);
int zr_simeng_poll(zr_simeng *e, zr_engine_output *out);
/* When the next running sample is due (CLOCK_MONOTONIC ns); 0 when none runs. */
uint64_t zr_simeng_next_due_ns(const zr_simeng *e);
void zr_simeng_set_version(zr_simeng *e, uint64_t v);
void zr_simeng_set_admit(zr_simeng *e, bool admit);
int zr_simeng_cancel(zr_simeng *e, uint64_t req_id);
void zr_simeng_stats(const zr_simeng *e, zr_engine_stats_t *out);

#endif
