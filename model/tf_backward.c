/* tf_backward.c: the transformer backward (transformer.h). Given per-token weights w on the
 * log-probs of the last training forward (L = -sum w_i log p(t_i)), the fused LM head gives the
 * gradient of the final norm's output, and the layers are walked in reverse, each adding its
 * parameters' gradients into the gradient buffer and turning dL/d(layer output) into
 * dL/d(layer input) in place (dres). With recomputation, each layer's internals are recomputed
 * from its saved input just before its backward. */
#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "model/tf_internal.h"

static int layer_bwd(zr_tf *m, int l, const zr_tf_layer_act *A, zr_tf_arena *a) {
  zr_backend *b = m->be;
  const zr_tf_layer_w *w = &m->lw[l];
  const zr_tf_layer_w *g = &m->lg[l];
  int n = m->tr_n, d = m->d, qd = m->qd, kvd = m->kvd, I = m->ffn, rc;
  float *dres = a->dres;

  /* MLP: out = xm + a Wd^T, a = silu(h2 Wg^T) * (h2 Wu^T), h2 = norm2(xm) */
  b->gemm(b, true, false, d, I, n, 1.0f, dres, d, A->a, I, 1.0f, g->wd, I);
  b->gemm(b, false, false, n, I, d, 1.0f, dres, d, w->wd, I, 0.0f, a->da, I);
  b->swiglu_bwd(b, a->dg, a->du, a->da, A->g, A->u, (size_t)n * I);
  b->gemm(b, true, false, I, d, n, 1.0f, a->dg, I, A->h2, d, 1.0f, g->wg, d);
  b->gemm(b, true, false, I, d, n, 1.0f, a->du, I, A->h2, d, 1.0f, g->wu, d);
  b->gemm(b, false, false, n, d, I, 1.0f, a->dg, I, w->wg, d, 0.0f, a->dh, d);
  b->gemm(b, false, false, n, d, I, 1.0f, a->du, I, w->wu, d, 1.0f, a->dh, d);
  b->rmsnorm_bwd(b, dres, g->ln2, a->dh, A->xm, w->ln2, A->r2, n, d); /* dres = dL/dxm */

  /* attention: xm = x + att Wo^T (+ bo) */
  b->gemm(b, true, false, d, qd, n, 1.0f, dres, d, A->att, qd, 1.0f, g->wo, qd);
  if (g->bo) b->bias_bwd(b, g->bo, dres, n, d);
  b->gemm(b, false, false, n, qd, d, 1.0f, dres, d, w->wo, qd, 0.0f, a->datt, qd);
  rc = b->attn_bwd(b, a->dq, a->dk, a->dv, a->datt, A->q, A->k, A->v, A->att, A->lse, m->train.cu, m->tr_s,
                   m->tr_max_len, m->hq, m->hkv, m->hd, m->attn_scale);
  if (rc) return rc;
  b->rope(b, a->dq, m->train.pos, m->inv_freq, n, m->hq, m->hd, m->attn_scaling, true);
  b->rope(b, a->dk, m->train.pos, m->inv_freq, n, m->hkv, m->hd, m->attn_scaling, true);
  float *dq = a->dq, *dk = a->dk;
  if (m->qk_norm) {
    b->zero(b, a->dqp, (size_t)n * qd * sizeof(float));
    b->zero(b, a->dkp, (size_t)n * kvd * sizeof(float));
    b->rmsnorm_bwd(b, a->dqp, g->qn, a->dq, A->qp, w->qn, A->qr, n * m->hq, m->hd);
    b->rmsnorm_bwd(b, a->dkp, g->kn, a->dk, A->kp, w->kn, A->kr, n * m->hkv, m->hd);
    dq = a->dqp;
    dk = a->dkp;
  }
  if (g->bq) b->bias_bwd(b, g->bq, dq, n, qd);
  if (g->bk) b->bias_bwd(b, g->bk, dk, n, kvd);
  if (g->bv) b->bias_bwd(b, g->bv, a->dv, n, kvd);
  b->gemm(b, true, false, qd, d, n, 1.0f, dq, qd, A->h1, d, 1.0f, g->wq, d);
  b->gemm(b, true, false, kvd, d, n, 1.0f, dk, kvd, A->h1, d, 1.0f, g->wk, d);
  b->gemm(b, true, false, kvd, d, n, 1.0f, a->dv, kvd, A->h1, d, 1.0f, g->wv, d);
  b->gemm(b, false, false, n, d, qd, 1.0f, dq, qd, w->wq, d, 0.0f, a->dh, d);
  b->gemm(b, false, false, n, d, kvd, 1.0f, dk, kvd, w->wk, d, 1.0f, a->dh, d);
  b->gemm(b, false, false, n, d, kvd, 1.0f, a->dv, kvd, w->wv, d, 1.0f, a->dh, d);
  b->rmsnorm_bwd(b, dres, g->ln1, a->dh, A->x, w->ln1, A->r1, n, d); /* dres = dL/dx */
  return 0;
}

int zr_tf_backward(zr_tf *m, const float *weights) {
  if (!m->have_train)
    return zr_seterr(-EINVAL, "transformer: backward needs a training forward (zr_tf_forward_train) first");
  if (!weights) return zr_seterr(-EINVAL, "transformer: backward needs per-token weights");
  zr_backend *b = m->be;
  zr_tf_arena *a = &m->train;
  int n = m->tr_n, d = m->d, n_sel = m->tr_sel, rc;
  if ((rc = zr_tf_ensure_grads(m)) || (rc = zr_tf_host_reserve(m, 0, (size_t)n))) return rc;

  /* LM head: dL/dlogp_i = -w_i over the rows with targets, then into the final norm's rows */
  b->zero(b, a->dh, (size_t)n * d * sizeof(float));
  if (n_sel > 0) {
    for (int i = 0; i < n_sel; i++) m->h_f[i] = -weights[m->tr_rows[i]];
    b->upload(b, a->dlogp, m->h_f, (size_t)n_sel * sizeof(float));
    b->zero(b, a->dhsel, (size_t)n_sel * d * sizeof(float));
    rc = b->lmhead_bwd(b, a->dhsel, m->g_lm_head, a->dlogp, a->hsel, m->lm_head, a->sel_tgt, a->lse, n_sel, d,
                       m->vocab, m->opt.lmhead_chunk);
    if (rc) return rc;
    float T = m->opt.logprob_temperature; /* the forward fed h/T (and dW already saw h/T) */
    if (T > 0 && T != 1.0f) b->scale(b, a->dhsel, 1.0f / T, (size_t)n_sel * d);
    b->scatter_add_rows(b, a->dh, a->dhsel, a->sel_rows, n_sel, d);
  }
  b->zero(b, a->dres, (size_t)n * d * sizeof(float));
  b->rmsnorm_bwd(b, a->dres, m->g_norm, a->dh, a->xf, m->norm, a->rf, n, d);

  zr_tf_fctx c = {.n = n, .s = m->tr_s, .max_len = m->tr_max_len, .pos = a->pos, .cu = a->cu};
  for (int l = m->n_layers - 1; l >= 0; l--) {
    /* recompute mode: the shared internals hold one layer's (the last one after the forward) */
    if (a->mode == ZR_ACT_RECOMPUTE && a->shared_layer != l) {
      a->shared_layer = -1;
      if ((rc = zr_tf_layer_fwd(m, l, &a->la[l], NULL, &c))) return rc;
      a->shared_layer = l;
    }
    if ((rc = layer_bwd(m, l, &a->la[l], a))) return rc;
  }
  b->embed_bwd(b, m->g_embed, a->dres, a->tok, n, d);
  return 0;
}
