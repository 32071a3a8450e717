/* tf_kvcache.c: the KV cache and the cached forward (transformer.h): zr_tf_extend appends tokens
 * to slots (prefill, decode, or any mix) and returns each sequence's last logits.
 *
 * Layout (backend.h): one allocation; for layer l, K at mem + 2*l*per and V at mem + (2l+1)*per,
 * per = n_slots * max_len * kv_dim floats, row slot * max_len + position. Slot lengths live on
 * the host. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/tf_internal.h"

struct zr_kvcache {
  zr_backend *be;
  const zr_tf *m;
  int n_slots, max_len, n_layers, kvd;
  size_t per; /* floats per layer per K or V */
  float *mem;
  int *len; /* host [n_slots] */
};

int zr_kv_new(zr_kvcache **out, zr_tf *m, int n_slots, int max_len) {
  *out = NULL;
  if (n_slots <= 0 || max_len <= 0)
    return zr_seterr(-EINVAL, "kv cache: n_slots (%d) and max_len (%d) must be positive", n_slots, max_len);
  zr_kvcache *c = calloc(1, sizeof *c);
  if (!c) return zr_seterr(-ENOMEM, "kv cache: out of memory");
  c->be = m->be;
  c->m = m;
  c->n_slots = n_slots;
  c->max_len = max_len;
  c->n_layers = m->n_layers;
  c->kvd = m->kvd;
  c->per = (size_t)n_slots * max_len * m->kvd;
  c->len = calloc((size_t)n_slots, sizeof(int));
  int rc = c->len ? c->be->alloc(c->be, (void **)&c->mem, 2 * c->per * c->n_layers * sizeof(float))
                  : zr_seterr(-ENOMEM, "kv cache: out of memory");
  if (rc) {
    zr_kv_free(&c);
    return rc;
  }
  *out = c;
  return 0;
}

void zr_kv_free(zr_kvcache **pc) {
  zr_kvcache *c = *pc;
  if (!c) return;
  *pc = NULL;
  if (c->mem) c->be->free(c->be, c->mem);
  free(c->len);
  free(c);
}

int zr_kv_n_slots(const zr_kvcache *c) { return c->n_slots; }
int zr_kv_max_len(const zr_kvcache *c) { return c->max_len; }
int zr_kv_len(const zr_kvcache *c, int slot) {
  ZR_ASSERT(slot >= 0 && slot < c->n_slots);
  return c->len[slot];
}
void zr_kv_clear(zr_kvcache *c, int slot) {
  ZR_ASSERT(slot >= 0 && slot < c->n_slots);
  c->len[slot] = 0;
}
int zr_kv_copy_slot(zr_kvcache *c, int dst, int src) {
  if (dst < 0 || dst >= c->n_slots || src < 0 || src >= c->n_slots)
    return zr_seterr(-EINVAL, "kv cache: copy from slot %d to slot %d: slots are [0, %d)", src, dst, c->n_slots);
  if (dst == src) return 0;
  size_t row = (size_t)c->max_len * c->kvd, bytes = (size_t)c->len[src] * c->kvd * sizeof(float);
  if (bytes)
    for (int l = 0; l < 2 * c->n_layers; l++) {
      float *base = c->mem + (size_t)l * c->per;
      c->be->copy(c->be, base + (size_t)dst * row, base + (size_t)src * row, bytes);
    }
  c->len[dst] = c->len[src];
  return 0;
}
float *zr_kv_layer_k(zr_kvcache *c, int l) { return c->mem + 2 * (size_t)l * c->per; }
float *zr_kv_layer_v(zr_kvcache *c, int l) { return c->mem + (2 * (size_t)l + 1) * c->per; }

/* zr_tf_extend; with keep the last rows' logits are made (in m->infer.logits) even when no host
 * copy is wanted (logits NULL), for zr_tf_extend_sample. */
static int extend(zr_tf *m, zr_kvcache *kv, int n, const int *slots, const int *n_new, const int *tokens,
                  float *logits, bool keep) {
  if (kv->m != m) return zr_seterr(-EINVAL, "kv cache: used with a model it was not made for");
  if (n <= 0 || !slots || !n_new || !tokens) return zr_seterr(-EINVAL, "kv cache: extend needs n > 0 sequences");
  long long total = 0;
  int max_q = 0, max_kv = 0, max_pos = 0;
  for (int i = 0; i < n; i++) {
    int s = slots[i];
    if (s < 0 || s >= kv->n_slots) return zr_seterr(-EINVAL, "kv cache: slot %d is outside [0, %d)", s, kv->n_slots);
    for (int j = 0; j < i; j++)
      if (slots[j] == s) return zr_seterr(-EINVAL, "kv cache: slot %d appears twice in one extend", s);
    if (n_new[i] <= 0) return zr_seterr(-EINVAL, "kv cache: sequence %d has %d new tokens", i, n_new[i]);
    if (kv->len[s] + n_new[i] > kv->max_len)
      return zr_seterr(-EINVAL, "kv cache: slot %d holds %d tokens; %d more exceed max_len %d", s, kv->len[s],
                       n_new[i], kv->max_len);
    total += n_new[i];
    if (n_new[i] > max_q) max_q = n_new[i];
    if (kv->len[s] + n_new[i] > max_kv) max_kv = kv->len[s] + n_new[i];
  }
  max_pos = max_kv - 1;
  int N = (int)total, rc;
  for (int i = 0; i < N; i++)
    if (tokens[i] < 0 || tokens[i] >= m->vocab)
      return zr_seterr(-EINVAL, "kv cache: token %d at row %d is outside the vocabulary [0, %d)", tokens[i], i,
                       m->vocab);
  zr_tf_arena *a = &m->infer;
  if ((rc = zr_tf_arena_reserve(m, a, ZR_ACT_INFER, N, n, logits || keep ? n : 0))) return rc;
  /* host: pos [N], kv_rows [N], cu [n+1], kv_len [n], last rows [n] */
  if ((rc = zr_tf_host_reserve(m, 2 * (size_t)N + 3 * (size_t)n + 1, 0))) return rc;
  int *pos = m->h_int, *rows = pos + N, *cu = rows + N, *kl = cu + n + 1, *last = kl + n;
  cu[0] = 0;
  for (int i = 0; i < n; i++) {
    int s = slots[i], p0 = kv->len[s];
    cu[i + 1] = cu[i] + n_new[i];
    kl[i] = p0 + n_new[i];
    last[i] = cu[i + 1] - 1;
    for (int j = 0; j < n_new[i]; j++) {
      pos[cu[i] + j] = p0 + j;
      rows[cu[i] + j] = s * kv->max_len + p0 + j;
    }
  }
  zr_backend *b = m->be;
  b->upload(b, a->tok, tokens, (size_t)N * sizeof(int));
  b->upload(b, a->pos, pos, (size_t)N * sizeof(int));
  b->upload(b, a->kv_rows, rows, (size_t)N * sizeof(int));
  b->upload(b, a->cu, cu, (size_t)(n + 1) * sizeof(int));
  b->upload(b, a->slots, slots, (size_t)n * sizeof(int));
  b->upload(b, a->kv_len, kl, (size_t)n * sizeof(int));
  if ((rc = zr_tf_update_rope(m, max_pos + 1))) return rc;

  zr_tf_fctx c = {.n = N, .s = n, .max_len = max_q, .pos = a->pos, .cu = a->cu, .kv = kv, .slots = a->slots,
                  .kv_len = a->kv_len, .kv_rows = a->kv_rows, .max_kv = max_kv};
  b->embed_fwd(b, a->la[0].x, m->embed, a->tok, N, m->d);
  for (int l = 0; l < m->n_layers; l++) {
    float *x_out = l + 1 < m->n_layers ? a->la[l + 1].x : a->xf;
    if ((rc = zr_tf_layer_fwd(m, l, &a->la[l], x_out, &c))) return rc;
  }
  for (int i = 0; i < n; i++) kv->len[slots[i]] += n_new[i];
  if (logits || keep) { /* final norm only on the rows whose logits are wanted */
    b->upload(b, a->logit_rows, last, (size_t)n * sizeof(int));
    b->gather_rows(b, a->hrows, a->xf, a->logit_rows, n, m->d);
    b->rmsnorm_fwd(b, a->hf, NULL, a->hrows, m->norm, n, m->d, m->eps);
    b->gemm(b, false, true, n, m->vocab, m->d, 1.0f, a->hf, m->d, m->lm_head, m->d, 0.0f, a->logits, m->vocab);
    if (logits) b->download(b, logits, a->logits, (size_t)n * m->vocab * sizeof(float));
  }
  return 0;
}

int zr_tf_extend(zr_tf *m, zr_kvcache *kv, int n, const int *slots, const int *n_new, const int *tokens,
                 float *logits) {
  return extend(m, kv, n, slots, n_new, tokens, logits, false);
}

int zr_tf_extend_sample(zr_tf *m, zr_kvcache *kv, int n, const int *slots, const int *n_new, const int *tokens,
                        int vocab, int n_req, const zr_sample_req *req, zr_sample *out) {
  if (vocab <= 0) vocab = m->vocab;
  if (vocab > m->vocab) return zr_seterr(-EINVAL, "extend_sample: vocab %d exceeds the model's %d", vocab, m->vocab);
  if (n_req < 0 || (n_req > 0 && (!req || !out))) return zr_seterr(-EINVAL, "extend_sample: %d draws", n_req);
  for (int j = 0; j < n_req; j++)
    if (req[j].row < 0 || req[j].row >= n)
      return zr_seterr(-EINVAL, "extend_sample: draw %d reads row %d of %d", j, req[j].row, n);
  int rc = extend(m, kv, n, slots, n_new, tokens, NULL, n_req > 0);
  if (rc || n_req == 0) return rc;
  zr_backend *b = m->be;
  const float *dl = m->infer.logits;
  if (b->sample) return b->sample(b, dl, n, (size_t)m->vocab, vocab, n_req, req, out);
  /* no sample op: each row once to the host, then sampler.h */
  float *row = malloc((size_t)m->vocab * sizeof(float)), *scratch = malloc(zr_sampler_scratch_floats(vocab) * sizeof(float));
  if (!row || !scratch) rc = zr_seterr(-ENOMEM, "extend_sample: out of memory");
  for (int j = 0, have = -1; j < n_req && !rc; j++) {
    if (req[j].row != have) {
      have = req[j].row;
      b->download(b, row, dl + (size_t)have * m->vocab, (size_t)m->vocab * sizeof(float));
    }
    rc = zr_sampler_pick(&req[j].s, row, vocab, req[j].seed, req[j].sequence, req[j].position, scratch, &out[j]);
  }
  free(row);
  free(scratch);
  return rc;
}

int zr_tf_prefill(zr_tf *m, zr_kvcache *c, int n, const int *slots, const int *lens, const int *tokens,
                  float *logits) {
  return zr_tf_extend(m, c, n, slots, lens, tokens, logits);
}

int zr_tf_decode(zr_tf *m, zr_kvcache *c, int n, const int *slots, const int *tokens, float *logits) {
  if (n <= 0) return zr_seterr(-EINVAL, "kv cache: decode of %d sequences", n);
  int rc, stack[256] = {0}, *ones = n <= 256 ? stack : malloc((size_t)n * sizeof(int));
  if (!ones) return zr_seterr(-ENOMEM, "kv cache: out of memory");
  for (int i = 0; i < n; i++) ones[i] = 1;
  rc = zr_tf_extend(m, c, n, slots, ones, tokens, logits);
  if (ones != stack) free(ones);
  return rc;
}
