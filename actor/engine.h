/* engine.h: the actor's continuous-batching generation engine over one zr_tf + one KV cache.
 *
 * Requests (one task: a prompt and n_samples completions wanted, i.e. a GRPO group or part of one)
 * are queued FIFO by zr_engine_submit and run by zr_engine_step, which
 *   1. admits queued requests into free cache slots (continuous batching: a slot freed by a finished
 *      sequence is refilled at the next step, whatever the other slots are doing). PREFIX SHARING:
 *      the prompt of a request is prefilled ONCE (all requests admitted in a step in one batched
 *      prefill) into one slot, its KV is copied to the other samples' slots (zr_kv_copy_slot), and
 *      every sample draws its first token from that one prefill's logits with its own RNG key;
 *      PARTIAL ADMISSION: a request with more samples than free slots takes the free slots now and
 *      stays at the head of the queue for the rest (FIFO: later requests wait behind it); the rest
 *      prefill the prompt again when slots free up (one more prefill per admission wave);
 *   2. decodes one token for every running sequence in one batched call and samples it
 *      (zr_tf_extend_sample: on the device, without downloading logits, when the backend has a
 *      sample op; a bad logits row then fails the whole step, not just its request).
 * Sample k of a request is keyed (seed, first_sample_index + k, absolute position), exactly as
 * zr_tf_generate keys (seed, seq_id, position): its tokens do not depend on batching, on the slot it
 * gets, on partial admission or on what else runs (tested against zr_tf_generate).
 *
 * A sample finishes with EOS (it emitted one of the eos ids; the id is included), STOP (one of the
 * request's stop strings appeared in the decoded completion bytes; the token that completes it is
 * kept, nothing after it is generated; needs a tokenizer) or LENGTH (max_new_tokens generated, or
 * the slot holds max_len tokens). Finished samples wait in an output FIFO until zr_engine_poll.
 *
 * Policy versions: every token records the version set when its logits were computed. The caller
 * loads new weights into the zr_tf between steps and calls zr_engine_set_version; running
 * sequences continue on the new weights (their cache keeps the old keys/values). For
 * "finish, then swap": zr_engine_set_admit(e, false), step until zr_engine_step returns 0, swap,
 * set_version, zr_engine_set_admit(e, true).
 *
 * Ownership: the engine borrows m and tok (they must outlive it) and owns its KV cache, copies of
 * submitted requests (prompt and stop strings) and all output buffers. zr_engine_poll hands out
 * pointers into engine memory that stay valid until the next zr_engine_poll, zr_engine_step,
 * zr_engine_cancel or zr_engine_free call.
 *
 * Threads: none inside; one thread at a time drives an engine (and its model).
 * Errors: 0 (or a count) or a negative errno-style code with zr_errmsg(). */
#ifndef ZR_ACTOR_ENGINE_H
#define ZR_ACTOR_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/sampler.h"
#include "model/tokenizer.h"
#include "model/transformer.h"

typedef struct zr_engine zr_engine;

typedef struct {
  int n_slots;             /* sequences decoded together (KV-cache slots), >= 1 */
  int max_len;             /* prompt + completion tokens per slot, >= 1 */
  const int32_t *eos_ids;  /* ids that end a sample (copied) */
  int n_eos;               /* entries in eos_ids; -1 = the tokenizer's zr_tok_eos_ids */
  int vocab_limit;         /* sample only ids < vocab_limit; 0 = min(tokenizer size, model vocab),
                            * or the model vocabulary without a tokenizer */
  uint64_t initial_version; /* policy version of tokens until zr_engine_set_version */
} zr_engine_cfg;

typedef struct {
  uint64_t req_id;              /* caller's id (unique among live requests: -EEXIST otherwise) */
  const int32_t *prompt;        /* prompt_len token ids (copied) */
  int prompt_len;               /* 1 .. max_len */
  int n_samples;                /* completions wanted, >= 1 */
  uint32_t first_sample_index;  /* sample k has index first_sample_index + k (its RNG sequence) */
  zr_sampling sampling;
  int max_new_tokens;           /* >= 0 (0: each sample finishes at once with LENGTH, no tokens) */
  uint64_t seed;
  const char *const *stop;      /* n_stop NUL-terminated stop strings (copied; ignored without a
                                 * tokenizer; empty strings are ignored) */
  int n_stop;
} zr_engine_request;

typedef enum { ZR_ENGINE_FINISH_EOS = 0, ZR_ENGINE_FINISH_STOP, ZR_ENGINE_FINISH_LENGTH } zr_engine_finish;

typedef struct {
  uint64_t req_id;
  uint32_t sample_index;    /* first_sample_index + k */
  int prompt_len;
  int n_tokens;             /* completion length */
  const int32_t *tokens;    /* [n_tokens] completion ids */
  const float *logprobs;    /* [n_tokens] log-softmax of the raw logits at each token (policy) */
  const uint64_t *versions; /* [n_tokens] policy version that produced each token */
  zr_engine_finish finish;
  const char *text;         /* completion text (zr_tok_decode, special tokens skipped),
                             * NUL-terminated; NULL without a tokenizer */
  size_t text_len;
  double queue_ms;          /* submit -> admission of this sample */
  double generate_ms;       /* admission -> finish */
} zr_engine_output;

typedef struct {
  int n_slots;
  int active;                /* sequences in slots now */
  int queued_samples;        /* samples submitted but not yet admitted */
  int queued_requests;       /* requests with samples not yet admitted */
  int finished_pending;      /* finished samples not yet polled */
  bool admitting;
  uint64_t version;
  uint64_t tokens_generated; /* sampled tokens (including first tokens from prefill) */
  uint64_t prefill_tokens;   /* prompt tokens run through the model */
  uint64_t prefills;         /* prompt prefills (one per request admission wave) */
  uint64_t decode_steps;     /* batched decode calls */
  uint64_t occupancy_sum;    /* sum over decode calls of the sequences decoded:
                              * mean batch = occupancy_sum / decode_steps */
  uint64_t samples_finished;
  uint64_t samples_cancelled;
} zr_engine_stats_t;

int zr_engine_new(zr_engine **out, zr_tf *m, const zr_tok *tok, const zr_engine_cfg *cfg);
void zr_engine_free(zr_engine **e);

/* Copies the request into the FIFO queue. -EINVAL for a bad request (message says what). */
int zr_engine_submit(zr_engine *e, const zr_engine_request *r);

/* Admits, prefills and decodes one token for every running sequence (see the top). Returns the
 * number of sequences in slots after the step: 0 means nothing is running and nothing can be
 * admitted (the queue is empty, or admission is paused). Negative on error (model or sampler
 * failure); the engine stays usable, the sequences of that step are dropped as if cancelled. */
int zr_engine_step(zr_engine *e);

/* 1 and the next finished sample in *out (engine memory, valid until the next poll, step, cancel
 * or free), or 0 when none is waiting. */
int zr_engine_poll(zr_engine *e, zr_engine_output *out);

/* Tokens sampled from the next step on carry version v. */
void zr_engine_set_version(zr_engine *e, uint64_t v);
uint64_t zr_engine_version(const zr_engine *e);
/* false: queued requests stay queued (running sequences continue); true: admit again. */
void zr_engine_set_admit(zr_engine *e, bool admit);

/* Drops every queued, running and finished-but-unpolled sample of request req_id (a lease given
 * back). Returns the number of samples dropped (0: unknown id). */
int zr_engine_cancel(zr_engine *e, uint64_t req_id);

void zr_engine_stats(const zr_engine *e, zr_engine_stats_t *out);

/* Free slots right now (what a WorkRequest can offer, before the queue is counted). */
int zr_engine_free_slots(const zr_engine *e);

#endif
