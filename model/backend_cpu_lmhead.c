/* backend_cpu_lmhead.c: the fused, chunked LM-head log-prob on the CPU backend (backend.h).
 *
 * Rows are processed in tiles of at most lmhead_tile / chunk rows (16 MiB of logits); for each tile the vocabulary is
 * streamed in chunks: one OpenBLAS GEMM makes the [rows, chunk] logits, then a row-parallel pass
 * folds them into an online logsumexp (running max m, sum s = sum e^(z-m), and for the entropy
 * t = sum e^(z-m) (z-m)) and picks up the target logit. Backward recomputes each chunk's logits,
 * turns them into dZ = dlogp (onehot - softmax) in place, and accumulates dh += dZ W_c and
 * dW_c += dZ^T h with two more GEMMs. Only one [rows, chunk] tile exists at a time. */
#include <math.h>
#include <string.h>

#include "common/error.h"
#include "model/backend_cpu_impl.h"

#define DEFAULT_CHUNK 2048

static void plan(zr_backend *b, int n, int vocab, int chunk, int *cc, int *rows) {
  int c = chunk > 0 ? chunk : DEFAULT_CHUNK;
  if (c > vocab) c = vocab;
  size_t r = zr_cpu(b)->lmhead_tile / (size_t)c;
  if (r < 1) r = 1;
  *cc = c;
  *rows = (size_t)n < r ? n : (int)r;
}

typedef struct {
  const float *Z; /* [nt, cc] */
  int cc, c0, r0;
  const int *targets;
  float *m, *s, *t, *zt; /* per tile row */
  float *dZ;             /* backward: Z turned into dZ in place */
  const float *lse, *dlogp;
} chunk_args;

static void fwd_chunk_task(void *arg, int tid, int64_t b, int64_t e) {
  chunk_args *a = arg;
  for (int64_t i = b; i < e; i++) {
    const float *z = a->Z + (size_t)i * a->cc;
    float mc = zr_cpu_vec_max(z, a->cc), sc, tc;
    zr_cpu_vec_exp_stats(z, a->cc, mc, &sc, &tc);
    /* merge (m, s, t) with (mc, sc, tc): values relative to the new max M */
    float m = a->m[i], M = m > mc ? m : mc;
    float f_old = expf(m - M), f_new = expf(mc - M); /* f_old = 0 while m = -inf */
    float s = a->s[i] * f_old, t = m == -INFINITY ? 0 : (a->t[i] + (m - M) * a->s[i]) * f_old;
    s += sc * f_new;
    t += (tc + (mc - M) * sc) * f_new;
    a->m[i] = M;
    a->s[i] = s;
    a->t[i] = t;
    int tg = a->targets[a->r0 + i];
    if (tg >= a->c0 && tg < a->c0 + a->cc) a->zt[i] = z[tg - a->c0];
  }
}

int zr_cpu_lmhead_fwd(zr_backend *b, float *logp, float *lse, float *entropy, const float *h, const float *W,
                      const int *targets, int n, int d, int vocab, int chunk) {
  ZR_ASSERT(n >= 0 && d > 0 && vocab > 0);
  if (n == 0) return 0;
  int cc, nt;
  plan(b, n, vocab, chunk, &cc, &nt);
  float *ws;
  int rc = zr_cpu_workspace(b, (size_t)nt * cc + 4 * (size_t)nt, &ws);
  if (rc) return rc;
  float *Z = ws, *m = Z + (size_t)nt * cc, *s = m + nt, *t = s + nt, *zt = t + nt;
  for (int r0 = 0; r0 < n; r0 += nt) {
    int rows = n - r0 < nt ? n - r0 : nt;
    for (int i = 0; i < rows; i++) {
      m[i] = -INFINITY;
      s[i] = t[i] = 0;
      zt[i] = 0;
    }
    for (int c0 = 0; c0 < vocab; c0 += cc) {
      int cw = vocab - c0 < cc ? vocab - c0 : cc;
      b->gemm(b, false, true, rows, cw, d, 1.0f, h + (size_t)r0 * d, d, W + (size_t)c0 * d, d, 0.0f, Z, cw);
      chunk_args a = {.Z = Z, .cc = cw, .c0 = c0, .r0 = r0, .targets = targets, .m = m, .s = s, .t = t, .zt = zt};
      zr_pool_run(zr_cpu(b)->pool, rows, zr_cpu_grain(b, rows, 4), fwd_chunk_task, &a);
    }
    for (int i = 0; i < rows; i++) {
      float l = m[i] + logf(s[i]);
      lse[r0 + i] = l;
      logp[r0 + i] = targets[r0 + i] >= 0 ? zt[i] - l : 0.0f;
      if (entropy) entropy[r0 + i] = logf(s[i]) - t[i] / s[i];
    }
  }
  return 0;
}

static void bwd_chunk_task(void *arg, int tid, int64_t b, int64_t e) {
  chunk_args *a = arg;
  for (int64_t i = b; i < e; i++) {
    float *z = a->dZ + (size_t)i * a->cc;
    int r = a->r0 + (int)i, tg = a->targets[r];
    float g = a->dlogp[r], l = a->lse[r];
    if (tg < 0 || g == 0.0f) {
      memset(z, 0, (size_t)a->cc * sizeof(float));
      continue;
    }
    zr_cpu_vec_exp_scale(z, a->cc, l, -g);
    if (tg >= a->c0 && tg < a->c0 + a->cc) z[tg - a->c0] += g;
  }
}

int zr_cpu_lmhead_bwd(zr_backend *b, float *dh, float *dW, const float *dlogp, const float *h, const float *W,
                      const int *targets, const float *lse, int n, int d, int vocab, int chunk) {
  ZR_ASSERT(n >= 0 && d > 0 && vocab > 0);
  if (n == 0) return 0;
  int cc, nt;
  plan(b, n, vocab, chunk, &cc, &nt);
  float *Z;
  int rc = zr_cpu_workspace(b, (size_t)nt * cc, &Z);
  if (rc) return rc;
  for (int r0 = 0; r0 < n; r0 += nt) {
    int rows = n - r0 < nt ? n - r0 : nt;
    for (int c0 = 0; c0 < vocab; c0 += cc) {
      int cw = vocab - c0 < cc ? vocab - c0 : cc;
      const float *Wc = W + (size_t)c0 * d, *ht = h + (size_t)r0 * d;
      b->gemm(b, false, true, rows, cw, d, 1.0f, ht, d, Wc, d, 0.0f, Z, cw);
      chunk_args a = {.cc = cw, .c0 = c0, .r0 = r0, .targets = targets, .dZ = Z, .lse = lse, .dlogp = dlogp};
      zr_pool_run(zr_cpu(b)->pool, rows, zr_cpu_grain(b, rows, 4), bwd_chunk_task, &a);
      b->gemm(b, false, false, rows, d, cw, 1.0f, Z, cw, Wc, d, 1.0f, dh + (size_t)r0 * d, d);
      b->gemm(b, true, false, cw, d, rows, 1.0f, Z, cw, ht, d, 1.0f, dW + (size_t)c0 * d, d);
    }
  }
  return 0;
}
