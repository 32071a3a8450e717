/* tf_forward.c: the transformer forward (transformer.h): one decoder layer on the backend, and
 * the training and inference forwards over a packed batch with their outputs (log-probs and
 * entropy from the fused LM head over the rows that have targets, full logits at chosen rows). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/tf_internal.h"

int zr_tf_host_reserve(zr_tf *m, size_t n_int, size_t n_f) {
  if (n_int > m->h_int_cap) {
    int *p = realloc(m->h_int, n_int * sizeof(int));
    if (!p) return zr_seterr(-ENOMEM, "transformer: out of host memory");
    m->h_int = p;
    m->h_int_cap = n_int;
  }
  if (n_f > m->h_f_cap) {
    float *p = realloc(m->h_f, n_f * sizeof(float));
    if (!p) return zr_seterr(-ENOMEM, "transformer: out of host memory");
    m->h_f = p;
    m->h_f_cap = n_f;
  }
  return 0;
}

int zr_tf_update_rope(zr_tf *m, int seq_len) {
  int key = m->cfg.rope_scaling.kind == ZR_ROPE_DYNAMIC ? seq_len : 0;
  if (key == m->rope_len) return 0;
  float inv[512], scaling = 1.0f;
  zr_rope_init(&m->cfg, seq_len, inv, &scaling);
  m->be->upload(m->be, m->inv_freq, inv, (size_t)m->hd / 2 * sizeof(float));
  m->attn_scaling = scaling;
  m->rope_len = key;
  return 0;
}

/* x_out (NULL: not wanted) = A->x + attention(norm1(x)) + mlp(norm2(...)); fills A. */
int zr_tf_layer_fwd(zr_tf *m, int l, const zr_tf_layer_act *A, float *x_out, const zr_tf_fctx *c) {
  zr_backend *b = m->be;
  const zr_tf_layer_w *w = &m->lw[l];
  int n = c->n, d = m->d, qd = m->qd, kvd = m->kvd, I = m->ffn, rc;
  b->rmsnorm_fwd(b, A->h1, A->r1, A->x, w->ln1, n, d, m->eps);
  float *qo = m->qk_norm ? A->qp : A->q, *ko = m->qk_norm ? A->kp : A->k;
  b->gemm(b, false, true, n, qd, d, 1.0f, A->h1, d, w->wq, d, 0.0f, qo, qd);
  b->gemm(b, false, true, n, kvd, d, 1.0f, A->h1, d, w->wk, d, 0.0f, ko, kvd);
  b->gemm(b, false, true, n, kvd, d, 1.0f, A->h1, d, w->wv, d, 0.0f, A->v, kvd);
  if (w->bq) b->bias_fwd(b, qo, w->bq, n, qd);
  if (w->bk) b->bias_fwd(b, ko, w->bk, n, kvd);
  if (w->bv) b->bias_fwd(b, A->v, w->bv, n, kvd);
  if (m->qk_norm) {
    b->rmsnorm_fwd(b, A->q, A->qr, A->qp, w->qn, n * m->hq, m->hd, m->eps);
    b->rmsnorm_fwd(b, A->k, A->kr, A->kp, w->kn, n * m->hkv, m->hd, m->eps);
  }
  b->rope(b, A->q, c->pos, m->inv_freq, n, m->hq, m->hd, m->attn_scaling, false);
  b->rope(b, A->k, c->pos, m->inv_freq, n, m->hkv, m->hd, m->attn_scaling, false);
  if (c->kv) {
    b->kv_store(b, zr_kv_layer_k(c->kv, l), zr_kv_layer_v(c->kv, l), A->k, A->v, c->kv_rows, n, kvd);
    rc = b->attn_cached(b, A->att, A->q, zr_kv_layer_k(c->kv, l), zr_kv_layer_v(c->kv, l), c->cu, c->slots,
                        c->kv_len, c->s, c->max_len, c->max_kv, zr_kv_max_len(c->kv), m->hq, m->hkv, m->hd,
                        m->attn_scale);
  } else {
    rc = b->attn_fwd(b, A->att, A->lse, A->q, A->k, A->v, c->cu, c->s, c->max_len, m->hq, m->hkv, m->hd,
                     m->attn_scale);
  }
  if (rc) return rc;
  b->copy(b, A->xm, A->x, (size_t)n * d * sizeof(float));
  b->gemm(b, false, true, n, d, qd, 1.0f, A->att, qd, w->wo, qd, 1.0f, A->xm, d);
  if (w->bo) b->bias_fwd(b, A->xm, w->bo, n, d);
  b->rmsnorm_fwd(b, A->h2, A->r2, A->xm, w->ln2, n, d, m->eps);
  b->gemm(b, false, true, n, I, d, 1.0f, A->h2, d, w->wg, d, 0.0f, A->g, I);
  b->gemm(b, false, true, n, I, d, 1.0f, A->h2, d, w->wu, d, 0.0f, A->u, I);
  b->swiglu_fwd(b, A->a, A->g, A->u, (size_t)n * I);
  if (x_out) {
    if (x_out != A->xm) b->copy(b, x_out, A->xm, (size_t)n * d * sizeof(float));
    b->gemm(b, false, true, n, d, I, 1.0f, A->a, I, w->wd, I, 1.0f, x_out, d);
  }
  return 0;
}

/* Checks the batch; returns N (> 0) or a negative code. *max_len is the longest sequence, *max_pos
 * the largest position. */
static int check_batch(const zr_tf *m, const zr_tf_batch *bt, const zr_tf_outputs *out, int *max_len, int *max_pos) {
  if (!bt || bt->n_seqs <= 0 || !bt->seq_lens || !bt->tokens)
    return zr_seterr(-EINVAL, "transformer: a batch needs n_seqs > 0, seq_lens and tokens");
  long long n = 0;
  *max_len = 0;
  for (int s = 0; s < bt->n_seqs; s++) {
    if (bt->seq_lens[s] <= 0) return zr_seterr(-EINVAL, "transformer: sequence %d has length %d", s, bt->seq_lens[s]);
    n += bt->seq_lens[s];
    if (bt->seq_lens[s] > *max_len) *max_len = bt->seq_lens[s];
  }
  if (n > (1 << 30)) return zr_seterr(-EINVAL, "transformer: batch of %lld tokens is too large", n);
  *max_pos = *max_len - 1;
  for (long long i = 0; i < n; i++) {
    if (bt->tokens[i] < 0 || bt->tokens[i] >= m->vocab)
      return zr_seterr(-EINVAL, "transformer: token %d at row %lld is outside the vocabulary [0, %d)", bt->tokens[i], i,
                       m->vocab);
    if (bt->targets && (bt->targets[i] < -1 || bt->targets[i] >= m->vocab))
      return zr_seterr(-EINVAL, "transformer: target %d at row %lld is outside [-1, %d)", bt->targets[i], i, m->vocab);
    if (bt->positions) {
      if (bt->positions[i] < 0)
        return zr_seterr(-EINVAL, "transformer: position %d at row %lld is negative", bt->positions[i], i);
      if (bt->positions[i] > *max_pos) *max_pos = bt->positions[i];
    }
  }
  if (out && out->n_logit_rows > 0) {
    if (!out->logit_rows || !out->logits)
      return zr_seterr(-EINVAL, "transformer: n_logit_rows %d without logit_rows/logits", out->n_logit_rows);
    for (int r = 0; r < out->n_logit_rows; r++)
      if (out->logit_rows[r] < 0 || out->logit_rows[r] >= n)
        return zr_seterr(-EINVAL, "transformer: logit row %d is outside the batch of %lld tokens", out->logit_rows[r], n);
  }
  return (int)n;
}

/* The final norm's output rows hf -> log-probs / entropy / logits as asked. */
static int outputs(zr_tf *m, zr_tf_arena *a, int n, zr_tf_outputs *out, bool train, int n_sel) {
  zr_backend *b = m->be;
  bool want_lp = out && (out->logprobs || out->entropy);
  if ((train || want_lp) && n_sel > 0) {
    b->gather_rows(b, a->hsel, a->hf, a->sel_rows, n_sel, m->d);
    float T = m->opt.logprob_temperature;
    if (T > 0 && T != 1.0f) b->scale(b, a->hsel, 1.0f / T, (size_t)n_sel * m->d); /* (h/T) W^T = logits/T */
    int rc = b->lmhead_fwd(b, a->logp, a->lse, out && out->entropy ? a->ent : NULL, a->hsel, m->lm_head, a->sel_tgt,
                           n_sel, m->d, m->vocab, m->opt.lmhead_chunk);
    if (rc) return rc;
  }
  if (want_lp) {
    const int *rows = train ? m->tr_rows : m->h_int;
    float *h = m->h_f;
    if (out->logprobs) {
      memset(out->logprobs, 0, (size_t)n * sizeof(float));
      b->download(b, h, a->logp, (size_t)n_sel * sizeof(float));
      for (int i = 0; i < n_sel; i++) out->logprobs[rows[i]] = h[i];
    }
    if (out->entropy) {
      memset(out->entropy, 0, (size_t)n * sizeof(float));
      b->download(b, h, a->ent, (size_t)n_sel * sizeof(float));
      for (int i = 0; i < n_sel; i++) out->entropy[rows[i]] = h[i];
    }
  }
  if (out && out->n_logit_rows > 0) {
    int r = out->n_logit_rows;
    b->upload(b, a->logit_rows, out->logit_rows, (size_t)r * sizeof(int));
    b->gather_rows(b, a->hrows, a->hf, a->logit_rows, r, m->d);
    b->gemm(b, false, true, r, m->vocab, m->d, 1.0f, a->hrows, m->d, m->lm_head, m->d, 0.0f, a->logits, m->vocab);
    b->download(b, out->logits, a->logits, (size_t)r * m->vocab * sizeof(float));
  }
  return 0;
}

static int run(zr_tf *m, const zr_tf_batch *bt, zr_tf_outputs *out, bool train) {
  int max_len = 0, max_pos = 0, n = check_batch(m, bt, out, &max_len, &max_pos);
  if (n < 0) return n;
  int S = bt->n_seqs, R = out ? out->n_logit_rows : 0, rc;
  zr_tf_arena *a = train ? &m->train : &m->infer;
  zr_act_mode mode = !train ? ZR_ACT_INFER : m->opt.recompute ? ZR_ACT_RECOMPUTE : ZR_ACT_TRAIN;
  if (train) m->have_train = false;
  if ((rc = zr_tf_arena_reserve(m, a, mode, n, S, R))) return rc;
  /* host staging: sel rows [n] (inference), positions [n], cu [S+1], sel targets [n] */
  if ((rc = zr_tf_host_reserve(m, 3 * (size_t)n + S + 1, (size_t)n))) return rc;
  if (train && m->tr_cap < n) {
    int *p = realloc(m->tr_rows, (size_t)n * sizeof(int));
    if (!p) return zr_seterr(-ENOMEM, "transformer: out of host memory");
    m->tr_rows = p;
    m->tr_cap = n;
  }
  int *sel = train ? m->tr_rows : m->h_int, *pos = m->h_int + n, *cu = pos + n, *tgt = cu + S + 1;
  cu[0] = 0;
  for (int s = 0; s < S; s++) {
    cu[s + 1] = cu[s] + bt->seq_lens[s];
    for (int i = cu[s]; i < cu[s + 1]; i++) pos[i] = bt->positions ? bt->positions[i] : i - cu[s];
  }
  int n_sel = 0;
  for (int i = 0; bt->targets && i < n; i++)
    if (bt->targets[i] >= 0) {
      sel[n_sel] = i;
      tgt[n_sel++] = bt->targets[i];
    }
  zr_backend *b = m->be;
  b->upload(b, a->tok, bt->tokens, (size_t)n * sizeof(int));
  b->upload(b, a->pos, pos, (size_t)n * sizeof(int));
  b->upload(b, a->cu, cu, (size_t)(S + 1) * sizeof(int));
  if (n_sel) {
    b->upload(b, a->sel_rows, sel, (size_t)n_sel * sizeof(int));
    b->upload(b, a->sel_tgt, tgt, (size_t)n_sel * sizeof(int));
  }
  if ((rc = zr_tf_update_rope(m, max_pos + 1))) return rc;

  zr_tf_fctx c = {.n = n, .s = S, .max_len = max_len, .pos = a->pos, .cu = a->cu};
  b->embed_fwd(b, a->la[0].x, m->embed, a->tok, n, m->d);
  for (int l = 0; l < m->n_layers; l++) {
    float *x_out = l + 1 < m->n_layers ? a->la[l + 1].x : a->xf;
    if ((rc = zr_tf_layer_fwd(m, l, &a->la[l], x_out, &c))) return rc;
  }
  b->rmsnorm_fwd(b, a->hf, a->rf, a->xf, m->norm, n, m->d, m->eps);
  if ((rc = outputs(m, a, n, out, train, n_sel))) return rc;
  if (train) {
    m->tr_n = n;
    m->tr_s = S;
    m->tr_sel = n_sel;
    m->tr_max_len = max_len;
    m->have_train = true;
    a->shared_layer = m->n_layers - 1;
  }
  return 0;
}

int zr_tf_forward(zr_tf *m, const zr_tf_batch *b, zr_tf_outputs *out) { return run(m, b, out, false); }
int zr_tf_forward_train(zr_tf *m, const zr_tf_batch *b, zr_tf_outputs *out) { return run(m, b, out, true); }
