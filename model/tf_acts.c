/* tf_acts.c: the transformer's activation arenas. One backend allocation per arena, carved by
 * the same layout function that sizes it (so sizing and carving cannot disagree).
 *
 * Modes: TRAIN keeps every layer's activations; RECOMPUTE keeps every layer's input x and one
 * shared set of layer internals (backward recomputes each layer into it); INFER keeps two
 * residual buffers used alternately and one set of layer internals, no backward scratch. */
#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "model/tf_internal.h"

typedef struct {
  char *base; /* NULL while sizing */
  size_t off;
} carver;

static void *carve(carver *c, size_t count, size_t elem) {
  size_t bytes = (count * elem + 63) / 64 * 64;
  void *p = c->base ? c->base + c->off : NULL;
  c->off += bytes ? bytes : 64;
  return p;
}
#define CF(c, n) ((float *)carve((c), (size_t)(n), sizeof(float)))
#define CI(c, n) ((int *)carve((c), (size_t)(n), sizeof(int)))

static void layer_internals(const zr_tf *m, carver *c, zr_tf_layer_act *A, size_t n) {
  A->h1 = CF(c, n * m->d);
  A->r1 = CF(c, n);
  if (m->qk_norm) {
    A->qp = CF(c, n * m->qd);
    A->kp = CF(c, n * m->kvd);
    A->qr = CF(c, n * m->hq);
    A->kr = CF(c, n * m->hkv);
  } else {
    A->qp = A->kp = A->qr = A->kr = NULL;
  }
  A->q = CF(c, n * m->qd);
  A->k = CF(c, n * m->kvd);
  A->v = CF(c, n * m->kvd);
  A->att = CF(c, n * m->qd);
  A->lse = CF(c, n * m->hq);
  A->xm = CF(c, n * m->d);
  A->h2 = CF(c, n * m->d);
  A->r2 = CF(c, n);
  A->g = CF(c, n * m->ffn);
  A->u = CF(c, n * m->ffn);
  A->a = CF(c, n * m->ffn);
}

static size_t layout(const zr_tf *m, zr_tf_arena *a, char *base) {
  carver c = {base, 0};
  size_t n = (size_t)a->cap_n, s = (size_t)a->cap_s, r = (size_t)a->cap_r, L = (size_t)m->n_layers;
  zr_tf_layer_act tmp;
  zr_tf_layer_act *la = base ? a->la : &tmp;
  if (a->mode == ZR_ACT_TRAIN) {
    for (size_t l = 0; l < L; l++) {
      zr_tf_layer_act *A = base ? &la[l] : &tmp;
      A->x = CF(&c, n * m->d);
      layer_internals(m, &c, A, n);
    }
    a->xf = CF(&c, n * m->d);
  } else if (a->mode == ZR_ACT_RECOMPUTE) {
    for (size_t l = 0; l < L; l++) {
      zr_tf_layer_act *A = base ? &la[l] : &tmp;
      A->x = CF(&c, n * m->d);
    }
    a->xf = CF(&c, n * m->d);
    zr_tf_layer_act shared;
    layer_internals(m, &c, &shared, n);
    for (size_t l = 0; base && l < L; l++) {
      float *x = la[l].x;
      la[l] = shared;
      la[l].x = x;
    }
  } else {
    float *x0 = CF(&c, n * m->d), *x1 = CF(&c, n * m->d);
    zr_tf_layer_act shared;
    layer_internals(m, &c, &shared, n);
    for (size_t l = 0; base && l < L; l++) {
      la[l] = shared;
      la[l].x = l % 2 ? x1 : x0;
    }
    a->xf = L % 2 ? x1 : x0;
  }
  a->hf = CF(&c, n * m->d);
  a->rf = CF(&c, n);
  a->hsel = CF(&c, n * m->d);
  a->logp = CF(&c, n);
  a->lse = CF(&c, n);
  a->ent = CF(&c, n);
  a->sel_rows = CI(&c, n);
  a->sel_tgt = CI(&c, n);
  a->hrows = CF(&c, r * m->d);
  a->logits = CF(&c, r * m->vocab);
  a->logit_rows = CI(&c, r);
  a->tok = CI(&c, n);
  a->pos = CI(&c, n);
  a->cu = CI(&c, s + 1);
  a->slots = CI(&c, s);
  a->kv_len = CI(&c, s);
  a->kv_rows = CI(&c, n);
  if (a->mode != ZR_ACT_INFER) {
    a->dres = CF(&c, n * m->d);
    a->dh = CF(&c, n * m->d);
    a->dq = CF(&c, n * m->qd);
    a->dk = CF(&c, n * m->kvd);
    a->dv = CF(&c, n * m->kvd);
    a->datt = CF(&c, n * m->qd);
    a->dqp = m->qk_norm ? CF(&c, n * m->qd) : NULL;
    a->dkp = m->qk_norm ? CF(&c, n * m->kvd) : NULL;
    a->da = CF(&c, n * m->ffn);
    a->dg = CF(&c, n * m->ffn);
    a->du = CF(&c, n * m->ffn);
    a->dhsel = CF(&c, n * m->d);
    a->dlogp = CF(&c, n);
  }
  return c.off;
}

void zr_tf_arena_release(zr_tf *m, zr_tf_arena *a) {
  if (m->be) m->be->free(m->be, a->mem);
  free(a->la);
  memset(a, 0, sizeof *a);
}

int zr_tf_arena_reserve(zr_tf *m, zr_tf_arena *a, zr_act_mode mode, int n, int s, int r) {
  if (a->mem && a->mode == mode && n <= a->cap_n && s <= a->cap_s && r <= a->cap_r) return 0;
  /* grow geometrically so that slowly growing batches do not reallocate every time */
  int cn = n, cs = s, cr = r;
  if (a->mem && a->mode == mode) {
    if (cn < a->cap_n) cn = a->cap_n;
    else if (cn > a->cap_n && cn < a->cap_n + a->cap_n / 4) cn = a->cap_n + a->cap_n / 4;
    if (cs < a->cap_s) cs = a->cap_s;
    if (cr < a->cap_r) cr = a->cap_r;
  }
  zr_tf_arena_release(m, a);
  a->mode = mode;
  a->cap_n = cn > 0 ? cn : 1;
  a->cap_s = cs > 0 ? cs : 1;
  a->cap_r = cr;
  a->la = calloc((size_t)m->n_layers, sizeof *a->la);
  if (!a->la) {
    zr_tf_arena_release(m, a);
    return zr_seterr(-ENOMEM, "transformer: out of memory for activations");
  }
  a->bytes = layout(m, a, NULL);
  int rc = m->be->alloc(m->be, &a->mem, a->bytes);
  if (rc) {
    size_t bytes = a->bytes;
    int cap = a->cap_n;
    zr_tf_arena_release(m, a);
    return zr_seterr(rc, "transformer: cannot allocate %zu bytes of activations for %d tokens", bytes, cap);
  }
  layout(m, a, a->mem);
  return 0;
}
