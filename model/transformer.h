/* transformer.h: the decoder-only transformer (Qwen2, Qwen3, Llama) on a backend (backend.h):
 * loading and saving Hugging Face model directories, the training forward/backward over packed
 * variable-length sequences, and inference over a KV cache (prefill, decode, batched generate).
 *
 * Architectures (from config.json, hf_config.h): RMSNorm pre-norm blocks, RoPE (HF rotate-half,
 * all zr_rope_init kinds), GQA attention, SwiGLU MLP, final RMSNorm, LM head (tied to the
 * embedding or not). Qwen2 adds q/k/v biases; Qwen3 adds RMSNorm on q and k per head and an
 * explicit head_dim; Llama may have attention_bias (q/k/v/o biases).
 *
 * Ownership and memory. A zr_tf owns, in backend memory:
 * - the parameters: ONE fp32 allocation carved by a tensor table in HF names (zr_tf_tensor:
 *   name, shape, offset), each tensor starting on a 64-byte boundary (the gaps stay 0);
 * - the gradients: ONE allocation with exactly the same layout (offsets), so flat optimizers and
 *   all-reduces work on both buffers as wholes; with tied embeddings the LM head's gradient is
 *   added into model.embed_tokens.weight's;
 * - activations: ONE allocation for training (per-layer saved tensors, or with recomputation only
 *   the layer inputs plus one layer's worth, and the backward scratch) and ONE for inference
 *   (two residual buffers and one layer's worth), each grown on demand to the largest batch
 *   seen. B x T x V logits never exist: the LM head streams the vocabulary (backend lmhead ops).
 * The backend is borrowed: it must outlive the model. A zr_kvcache is created for a model and
 * owns its own allocation; it is used only with that model.
 *
 * Batches are packed: n_seqs sequences of seq_lens[i] tokens laid end to end (N tokens in all),
 * positions restart at 0 in every sequence (or are given), no padding anywhere. Host arrays in,
 * host arrays out; the model uploads and downloads.
 *
 * Loss convention: every RL/SFT loss here is L = -sum_i w_i log p(targets[i] | tokens <= i);
 * zr_tf_backward takes the per-token weights w (host, [N]) and ADDS dL/dparam into the gradient
 * buffer (zr_tf_zero_grads clears it), so micro-batches accumulate.
 *
 * Not thread-safe: one host thread drives a model (and its backend) at a time. Errors: 0 or a
 * negative errno-style code with zr_errmsg() naming the file, tensor or argument. */
#ifndef ZR_TRANSFORMER_H
#define ZR_TRANSFORMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/backend.h"
#include "model/hf_config.h"
#include "model/safetensors.h"
#include "model/sampler.h"

typedef struct zr_tf zr_tf;

typedef struct {
  const char *name; /* Hugging Face name, e.g. "model.layers.3.self_attn.q_proj.weight" */
  int ndim;         /* 1 or 2 */
  int64_t shape[2];
  size_t offset; /* floats from the start of the parameter (= gradient) buffer; multiple of 16 */
  size_t numel;
  bool no_decay; /* norm weights and biases: conventionally excluded from weight decay */
} zr_tf_tensor;

typedef struct {
  bool recompute;   /* training keeps only each layer's input and recomputes the layer in backward */
  int lmhead_chunk; /* vocabulary rows per LM-head chunk (0 = the backend's default) */
  float logprob_temperature; /* log-probs (and entropy, and their backward) of softmax(logits / T),
                              * as RL learners use to match a policy sampled at temperature T;
                              * 0 or 1 = plain logits. Full logits outputs stay unscaled. */
} zr_tf_options;

/* ---- lifetime, weights, checkpoints ---------------------------------------------------- */

/* A model of this configuration with all parameters and gradients 0. */
int zr_tf_new(zr_tf **out, const zr_model_config *cfg, zr_backend *be);
/* dir holds config.json and model.safetensors (or a sharded index). F32, F16 and BF16 weights
 * are converted to fp32. Every tensor the architecture needs must be present with its exact shape;
 * a tensor the model does not know is an error (a sign that config and weights disagree), except
 * lm_head.weight of a tied model and rotary inv_freq buffers. */
int zr_tf_load(zr_tf **out, const char *dir, zr_backend *be);
/* Loads the weights of dir into an existing model of the same shapes (new policy versions). */
int zr_tf_load_weights(zr_tf *m, const char *dir);
/* Writes dir/config.json (torch_dtype = dtype) and the weights in dtype (F32, F16 or BF16), as
 * one model.safetensors or shards of at most shard_bytes (0 = never shard). Creates dir. The
 * result loads in transformers unchanged. Tokenizer files are the caller's. */
int zr_tf_save(zr_tf *m, const char *dir, zr_dtype dtype, size_t shard_bytes);
void zr_tf_free(zr_tf **m);

const zr_model_config *zr_tf_config(const zr_tf *m);
zr_backend *zr_tf_backend(const zr_tf *m);
void zr_tf_set_options(zr_tf *m, const zr_tf_options *opt);
zr_tf_options zr_tf_get_options(const zr_tf *m);

/* The tensor table, in the order of the parameter buffer. */
size_t zr_tf_n_tensors(const zr_tf *m);
const zr_tf_tensor *zr_tf_tensor_at(const zr_tf *m, size_t i);
const zr_tf_tensor *zr_tf_tensor_find(const zr_tf *m, const char *name); /* NULL if absent */
size_t zr_tf_n_floats(const zr_tf *m); /* length of the parameter and gradient buffers */
size_t zr_tf_n_params(const zr_tf *m); /* sum of numel (without alignment gaps) */
/* The buffers themselves (backend memory; zr_tf_n_floats floats each). The gradient buffer is
 * allocated (zeroed) on first use, so a model used only for inference never holds one:
 * zr_tf_grads returns NULL and zr_tf_zero_grads a negative code if that allocation fails. */
float *zr_tf_params(zr_tf *m);
float *zr_tf_grads(zr_tf *m);
int zr_tf_zero_grads(zr_tf *m);

/* Copies one tensor (by HF name) between host memory and the model: n must equal numel. */
int zr_tf_set_tensor(zr_tf *m, const char *name, const float *host, size_t n);
int zr_tf_get_tensor(zr_tf *m, const char *name, float *host, size_t n);
int zr_tf_get_grad(zr_tf *m, const char *name, float *host, size_t n);
/* transformers' initialisation: matrices and embeddings N(0, std^2) (std = 0.02 there), norm
 * weights 1, biases 0; deterministic in seed. */
int zr_tf_init_random(zr_tf *m, uint64_t seed, float std);

/* ---- training forward / backward ------------------------------------------------------- */

typedef struct {
  int n_seqs;
  const int *seq_lens;  /* [n_seqs], each >= 1 */
  const int *tokens;    /* [N] packed token ids */
  const int *targets;   /* [N] the token whose log-prob is wanted at each position (usually the next
                         * token of the same sequence), -1 = none; NULL = none anywhere */
  const int *positions; /* [N] rotary positions, or NULL for 0..len-1 in every sequence */
} zr_tf_batch;

typedef struct {
  float *logprobs;       /* [N] log p(targets[i]), 0 where targets[i] = -1; NULL = not wanted */
  float *entropy;        /* [N] entropy of the next-token distribution at rows with a target, 0
                          * elsewhere; NULL = not wanted */
  int n_logit_rows;      /* full logits at these packed rows (sampling, tests) */
  const int *logit_rows; /* [n_logit_rows] */
  float *logits;         /* [n_logit_rows, vocab] */
} zr_tf_outputs;

/* Inference forward: keeps nothing for a backward. out may be NULL (nothing wanted). */
int zr_tf_forward(zr_tf *m, const zr_tf_batch *b, zr_tf_outputs *out);
/* Training forward: as zr_tf_forward, and keeps what zr_tf_backward needs for this batch (which
 * must have targets). Log-probs come from the fused chunked LM head over the rows with targets. */
int zr_tf_forward_train(zr_tf *m, const zr_tf_batch *b, zr_tf_outputs *out);
/* Backward of L = -sum_i weights[i] log p(targets[i]) for the batch of the last
 * zr_tf_forward_train (weights [N], host; ignored where targets = -1). Adds into the gradients.
 * -EINVAL when no training forward precedes it. */
int zr_tf_backward(zr_tf *m, const float *weights);

/* ---- KV cache and generation ----------------------------------------------------------- */

typedef struct zr_kvcache zr_kvcache;

/* n_slots independent sequences of at most max_len tokens each, for model m's shapes. */
int zr_kv_new(zr_kvcache **out, zr_tf *m, int n_slots, int max_len);
void zr_kv_free(zr_kvcache **c);
int zr_kv_n_slots(const zr_kvcache *c);
int zr_kv_max_len(const zr_kvcache *c);
int zr_kv_len(const zr_kvcache *c, int slot); /* tokens held */
void zr_kv_clear(zr_kvcache *c, int slot);    /* forget the slot's tokens */
/* Makes slot dst hold exactly what slot src holds (its length and every layer's keys/values for
 * those positions), e.g. to share a prefilled prompt between the samples of a group. dst == src is
 * a no-op. -EINVAL for a slot outside [0, n_slots). */
int zr_kv_copy_slot(zr_kvcache *c, int dst, int src);

/* Appends n_new[i] tokens (packed in tokens) to slot slots[i] for i < n (distinct slots),
 * computing and storing their keys/values; positions continue from each slot's length. Writes
 * the logits of each sequence's last new token to logits[n, vocab] (host; NULL = not wanted).
 * Prefill is this call on empty slots; decode is this call with one token per slot. -EINVAL
 * (nothing changed) if a slot would exceed max_len. */
int zr_tf_extend(zr_tf *m, zr_kvcache *c, int n, const int *slots, const int *n_new, const int *tokens,
                 float *logits);
int zr_tf_prefill(zr_tf *m, zr_kvcache *c, int n, const int *slots, const int *lens, const int *tokens,
                  float *logits);
int zr_tf_decode(zr_tf *m, zr_kvcache *c, int n, const int *slots, const int *tokens, float *logits);
/* zr_tf_extend, then n_req draws from the new logits: draw j samples the logits of sequence
 * req[j].row's last new token (0 <= row < n; draws may share a row, e.g. the samples of one
 * prefilled prompt) over ids < vocab (0 = the whole vocabulary) as zr_sampler_pick does. With a
 * backend sample op (the CUDA backend) the logits never leave the device: only the draws come
 * back; otherwise each row is downloaded once and sampled with sampler.h. */
int zr_tf_extend_sample(zr_tf *m, zr_kvcache *c, int n, const int *slots, const int *n_new, const int *tokens,
                        int vocab, int n_req, const zr_sample_req *req, zr_sample *out);

typedef enum { ZR_FINISH_LENGTH = 0, ZR_FINISH_STOP } zr_finish;

typedef struct {
  int max_new_tokens;
  zr_sampling sampling; /* temperature 0 = greedy (lowest id on ties, as torch.argmax) */
  uint64_t seed;        /* sampling key: (seed, seq_ids[i], absolute position of the new token) */
  const int *stop_ids;  /* a sequence ends after emitting one of these (it is included) */
  int n_stop;
  int vocab_limit;      /* sample only ids < vocab_limit (tokenizer size; the log-probs are then over
                         * those ids too); 0 = the whole vocabulary */
} zr_gen_config;

typedef struct {
  int n_tokens;      /* tokens generated (<= max_new_tokens) */
  zr_finish finish;  /* STOP: emitted a stop id; LENGTH: max_new_tokens or the cache slot is full */
} zr_gen_result;

/* Generates continuations of n prompts together (prompts packed, prompt_lens[i] >= 1) using slots
 * 0..n-1 of c (cleared first; c may be NULL: a cache of n slots just large enough is made and
 * freed). seq_ids[i] keys the sampler's randomness (NULL: i). Outputs: tokens[i * max_new + j],
 * logprobs likewise (log-softmax of the raw logits at the chosen token, sampler.h's
 * logprob_policy; NULL = not wanted) and res[i]. A sequence's tokens do not depend on the other
 * sequences of the batch. Sequences with identical prompts share one prefill (its cache rows are
 * copied to their slots). The last token generated is not appended to the cache (a slot holds
 * prompt_len + n_tokens - 1 tokens afterwards). */
int zr_tf_generate(zr_tf *m, zr_kvcache *c, int n, const int *prompt_lens, const int *prompts,
                   const uint64_t *seq_ids, const zr_gen_config *g, int *tokens, float *logprobs,
                   zr_gen_result *res);

#endif
