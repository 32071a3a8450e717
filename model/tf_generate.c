/* tf_generate.c: a simple batched generate loop over the KV cache (transformer.h): prefill every
 * distinct prompt once (sequences with the same prompt, as `zerorl generate --n` or a GRPO group
 * makes, get a copy of its cache rows and draw their first token from its logits), then decode
 * the sequences still running one token per step, sampling each
 * sequence's token through sampler.h keyed by (seed, sequence id, position) (zr_tf_extend_sample:
 * on the device when the backend has a sample op). Continuous batching
 * (admitting new prompts while others decode) is the actor's business, built on zr_tf_extend. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/tf_internal.h"

int zr_tf_generate(zr_tf *m, zr_kvcache *c, int n, const int *prompt_lens, const int *prompts,
                   const uint64_t *seq_ids, const zr_gen_config *g, int *tokens, float *logprobs,
                   zr_gen_result *res) {
  if (n <= 0 || !prompt_lens || !prompts || !g || !res || (g->max_new_tokens > 0 && !tokens))
    return zr_seterr(-EINVAL, "generate: needs n > 0 prompts, a config and outputs");
  int V = m->vocab, vl = g->vocab_limit > 0 ? g->vocab_limit : V, max_new = g->max_new_tokens;
  if (vl > V) return zr_seterr(-EINVAL, "generate: vocab_limit %d exceeds the vocabulary %d", vl, V);
  if (max_new < 0) return zr_seterr(-EINVAL, "generate: max_new_tokens %d is negative", max_new);
  int max_prompt = 0;
  for (int i = 0; i < n; i++) {
    if (prompt_lens[i] <= 0) return zr_seterr(-EINVAL, "generate: prompt %d is empty", i);
    if (prompt_lens[i] > max_prompt) max_prompt = prompt_lens[i];
  }
  for (int i = 0; i < n; i++) res[i] = (zr_gen_result){0, ZR_FINISH_LENGTH};
  if (max_new == 0) return 0;

  zr_kvcache *own = NULL;
  int rc = 0;
  if (!c) {
    if ((rc = zr_kv_new(&own, m, n, max_prompt + max_new))) return rc;
    c = own;
  } else if (n > zr_kv_n_slots(c)) {
    return zr_seterr(-EINVAL, "generate: %d prompts but the cache has %d slots", n, zr_kv_n_slots(c));
  }
  int *slots = malloc((size_t)n * sizeof(int)), *active = malloc((size_t)n * sizeof(int)),
      *next = malloc((size_t)n * sizeof(int)), *ones = malloc((size_t)n * sizeof(int)),
      *row_of = malloc((size_t)n * sizeof(int)), *ulens = malloc((size_t)n * sizeof(int));
  size_t *off = malloc((size_t)n * sizeof(size_t));
  int *utoks = NULL;
  zr_sample_req *req = malloc((size_t)n * sizeof *req);
  zr_sample *smp = malloc((size_t)n * sizeof *smp);
  if (!slots || !active || !next || !ones || !row_of || !ulens || !off || !req || !smp) {
    rc = zr_seterr(-ENOMEM, "generate: out of memory");
    goto done;
  }
  /* the distinct prompts: slots[u] is the first sequence with prompt u, row_of[i] the prefill row
   * (= u) whose cache and logits sequence i shares */
  int n_u = 0;
  size_t total = 0, utotal = 0;
  for (int i = 0; i < n; i++) {
    off[i] = total;
    total += (size_t)prompt_lens[i];
    zr_kv_clear(c, i);
    row_of[i] = -1;
    for (int u = 0; u < n_u && row_of[i] < 0; u++) {
      int r = slots[u];
      if (prompt_lens[r] == prompt_lens[i] &&
          !memcmp(prompts + off[r], prompts + off[i], (size_t)prompt_lens[i] * sizeof(int)))
        row_of[i] = u;
    }
    if (row_of[i] < 0) {
      row_of[i] = n_u;
      ulens[n_u] = prompt_lens[i];
      slots[n_u++] = i;
      utotal += (size_t)prompt_lens[i];
    }
  }
  const int *ptoks = prompts;
  if (n_u < n) { /* pack the distinct prompts */
    if (!(utoks = malloc(utotal * sizeof(int)))) {
      rc = zr_seterr(-ENOMEM, "generate: out of memory");
      goto done;
    }
    for (int u = 0, at = 0; u < n_u; at += ulens[u], u++)
      memcpy(utoks + at, prompts + off[slots[u]], (size_t)ulens[u] * sizeof(int));
    ptoks = utoks;
  }
  /* draw k of a step samples row row_of[k] / k (sequence active[k]) at its next absolute position;
   * the logits stay on the device when the backend samples (zr_tf_extend_sample) */
  for (int k = 0; k < n; k++)
    req[k] = (zr_sample_req){.row = row_of[k], .s = g->sampling, .seed = g->seed,
                             .sequence = seq_ids ? seq_ids[k] : (uint64_t)k, .position = (uint64_t)prompt_lens[k]};
  if ((rc = zr_tf_extend_sample(m, c, n_u, slots, ulens, ptoks, vl, n, req, smp))) goto done;
  for (int i = 0; i < n; i++) {
    if (slots[row_of[i]] != i && (rc = zr_kv_copy_slot(c, i, slots[row_of[i]]))) goto done;
    active[i] = i;
    ones[i] = 1;
  }
  int n_active = n;
  for (int step = 0; step < max_new && n_active > 0; step++) {
    int n_next = 0;
    for (int k = 0; k < n_active; k++) {
      int i = active[k];
      const zr_sample *o = &smp[k];
      tokens[(size_t)i * max_new + step] = o->token;
      if (logprobs) logprobs[(size_t)i * max_new + step] = o->logprob_policy;
      res[i].n_tokens = step + 1;
      bool stop = false;
      for (int s = 0; s < g->n_stop && !stop; s++) stop = g->stop_ids[s] == o->token;
      if (stop) {
        res[i].finish = ZR_FINISH_STOP;
      } else if (step + 1 < max_new && zr_kv_len(c, i) < zr_kv_max_len(c)) {
        active[n_next] = i; /* compacts in place: n_next <= k */
        next[n_next++] = o->token;
      }
    }
    n_active = n_next;
    for (int k = 0; k < n_active; k++) {
      int i = active[k];
      req[k] = (zr_sample_req){.row = k, .s = g->sampling, .seed = g->seed,
                               .sequence = seq_ids ? seq_ids[i] : (uint64_t)i,
                               .position = (uint64_t)(prompt_lens[i] + step + 1)};
    }
    if (n_active > 0 && (rc = zr_tf_extend_sample(m, c, n_active, active, ones, next, vl, n_active, req, smp)))
      goto done;
  }
done:
  free(utoks);
  free(row_of);
  free(ulens);
  free(off);
  free(slots);
  free(active);
  free(next);
  free(ones);
  free(req);
  free(smp);
  zr_kv_free(&own);
  return rc;
}
