/* tf_internal.h: what the transformer's files share (internal; the API is transformer.h).
 *
 * tf_model.c   the tensor table, parameter/gradient buffers, load/save, init, accessors
 * tf_acts.c    the activation arenas (training, inference) and their layouts
 * tf_forward.c one layer's forward, the training/inference forwards, the LM-head outputs
 * tf_backward.c one layer's backward and the whole backward (with optional recomputation)
 * tf_kvcache.c the KV cache and zr_tf_extend (prefill/decode)
 * tf_generate.c the batched generate loop */
#ifndef ZR_TF_INTERNAL_H
#define ZR_TF_INTERNAL_H

#include "model/transformer.h"

/* pointers into the parameter (or gradient) buffer for one layer; NULL where absent */
typedef struct {
  float *ln1, *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo, *qn, *kn, *ln2, *wg, *wu, *wd;
} zr_tf_layer_w;

/* one layer's activations; x is the layer input [N,d] */
typedef struct {
  float *x;
  float *h1, *r1;   /* input RMSNorm out [N,d], rstd [N] */
  float *qp, *kp;   /* Qwen3: q/k projections before their RMSNorm [N,qd], [N,kvd] (else NULL) */
  float *qr, *kr;   /* Qwen3: their rstd [N*hq], [N*hkv] */
  float *q, *k, *v; /* after bias, norm and RoPE: [N,qd], [N,kvd], [N,kvd] */
  float *att, *lse; /* attention output [N,qd], log-sum-exp [N,hq] */
  float *xm;        /* x + attention block [N,d] */
  float *h2, *r2;   /* post-attention RMSNorm out, rstd */
  float *g, *u, *a; /* gate, up [N,ffn]; a = silu(g) * u */
} zr_tf_layer_act;

typedef enum { ZR_ACT_TRAIN = 0, ZR_ACT_RECOMPUTE, ZR_ACT_INFER } zr_act_mode;

/* An activation arena: one backend allocation carved for a capacity of tokens, sequences and
 * logit rows in one mode. */
typedef struct {
  void *mem;
  size_t bytes;
  zr_act_mode mode;
  int cap_n, cap_s, cap_r;
  int shared_layer; /* RECOMPUTE: the layer whose internals the shared buffers hold */
  zr_tf_layer_act *la; /* [L] (host array of pointers into mem) */
  float *xf;           /* final residual [N,d] (input of the final norm) */
  float *hf, *rf;      /* final norm out, rstd */
  /* LM head over the rows with targets (compacted) */
  float *hsel, *logp, *lse, *ent; /* [N,d], [N] x3 */
  int *sel_rows, *sel_tgt;        /* [N] */
  float *hrows, *logits;          /* final-norm rows whose logits are wanted [R,d], logits [R,V] */
  int *logit_rows;                /* [R] */
  /* batch description */
  int *tok, *pos, *cu; /* [N], [N], [S+1] */
  /* KV-cache extend */
  int *slots, *kv_len, *kv_rows; /* [S], [S], [N] */
  /* backward scratch (training modes) */
  float *dres, *dh, *dq, *dk, *dv, *datt, *dqp, *dkp, *da, *dg, *du, *dhsel, *dlogp;
} zr_tf_arena;

struct zr_tf {
  zr_model_config cfg;
  zr_backend *be;
  zr_tf_options opt;
  int d, hq, hkv, hd, qd, kvd, ffn, vocab, n_layers;
  float eps, attn_scale;
  bool qk_norm;

  zr_tf_tensor *tensors;
  char *names; /* storage of the tensor names */
  size_t n_tensors, n_floats, n_params;
  float *params, *grads;
  zr_tf_layer_w *lw, *lg; /* [L] into params / grads */
  float *embed, *norm, *lm_head, *g_embed, *g_norm, *g_lm_head;

  float *inv_freq; /* backend [hd/2] */
  float attn_scaling;
  int rope_len; /* seq_len inv_freq was computed for (dynamic rope only) */

  zr_tf_arena train, infer;
  /* the last training forward, for zr_tf_backward */
  bool have_train;
  int tr_n, tr_s, tr_sel, tr_max_len;
  int *tr_rows; /* host: packed row of each LM-head row [tr_cap] */
  int tr_cap;
  /* host staging, grown on demand */
  int *h_int;
  float *h_f;
  size_t h_int_cap, h_f_cap;
};

/* tf_acts.c */
int zr_tf_arena_reserve(zr_tf *m, zr_tf_arena *a, zr_act_mode mode, int n, int s, int r);
void zr_tf_arena_release(zr_tf *m, zr_tf_arena *a);

/* tf_forward.c. Context of one layer's forward: the batch on the device, and for the cached
 * path the KV cache. */
typedef struct {
  int n, s, max_len; /* tokens, sequences, longest sequence (of new tokens) */
  const int *pos, *cu;
  /* cached path (kv NULL: packed causal attention within the batch) */
  zr_kvcache *kv;
  const int *slots, *kv_len, *kv_rows; /* device */
  int max_kv;
} zr_tf_fctx;

int zr_tf_layer_fwd(zr_tf *m, int l, const zr_tf_layer_act *A, float *x_out, const zr_tf_fctx *c);
/* (Re)computes the rotary frequencies for sequences of seq_len positions (only the dynamic kind
 * depends on it; the others are computed once). */
int zr_tf_update_rope(zr_tf *m, int seq_len);
/* Allocates the gradient buffer (zeroed) on first use; inference-only models never do. */
int zr_tf_ensure_grads(zr_tf *m);
/* Host staging of at least n_int ints (m->h_int) and n_f floats (m->h_f). */
int zr_tf_host_reserve(zr_tf *m, size_t n_int, size_t n_f);

/* tf_kvcache.c */
float *zr_kv_layer_k(zr_kvcache *c, int l);
float *zr_kv_layer_v(zr_kvcache *c, int l);

#endif
