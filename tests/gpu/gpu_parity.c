/* gpu_parity: the CUDA backend against the CPU backend, op by op and on whole models.
 *
 * For every op of model/backend.h: random inputs uploaded to both backends, overwritten outputs
 * poisoned with NaN first ("+=" outputs start from the same random values), then
 *   rel = max |cuda - cpu| / max |cpu|  (NaN anywhere counts as infinite)
 * must be <= 1e-5 (fp32), or <= 1e-4 where long reductions run in a different order (attention
 * backward, LM-head backward, whole-model gradients; marked "order" below). Then two small
 * models (Qwen2-style with biases, Qwen3-style with q/k norms and tied embeddings) on both
 * backends: training forward (log-probs, entropy), backward (every gradient) and greedy
 * zr_tf_generate (tokens must be equal). Sampling: the backend's sample op against
 * zr_sampler_pick on the same rows (full 151936-token rows: broad, peaked, coarse ties, flat, two
 * levels; a vocabulary limit; every filter combination; tokens must be equal, log-probs within
 * 1e-5). bf16 mode: GEMMs (weights from the bf16 copy or not), the copy's refresh after upload /
 * adamw / copy / scale, the LM head and both models at relative error <= 1e-2 (gradients 2e-2),
 * and the count of GEMMs that really ran in bf16. Prints one line per check; exit 0 when all
 * pass, 1 when one fails, 77 (skipped) when no CUDA device is visible. Run by ctest as
 * gpu.parity. --self-test runs the harness CPU against CPU (the sampler through the host path;
 * bf16 skipped). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "cuda/backend_cuda.h"
#include "cuda/device.h"
#include "model/backend.h"
#include "model/transformer.h"

static zr_backend *C, *G; /* cpu, cuda */
static int n_fail, n_pass;

/* ---- random data ------------------------------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void) {
  rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
  return (double)((rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}
static float *rvec(size_t n, float s) {
  float *v = malloc((n ? n : 1) * sizeof(float));
  for (size_t i = 0; i < n; i++) v[i] = (float)((urand() * 2 - 1) * s);
  return v;
}

/* ---- one tensor on both backends --------------------------------------------------------- */

typedef struct {
  void *c, *g;
  size_t bytes;
} pair;

static pair mk(const void *host, size_t bytes) {
  pair p = {NULL, NULL, bytes};
  if (C->alloc(C, &p.c, bytes) || G->alloc(G, &p.g, bytes)) {
    fprintf(stderr, "gpu_parity: alloc: %s\n", zr_errmsg());
    exit(1);
  }
  if (host) {
    C->upload(C, p.c, host, bytes);
    G->upload(G, p.g, host, bytes);
  }
  return p;
}
static pair mkf(size_t n, float s) { /* random floats */
  float *h = rvec(n, s);
  pair p = mk(h, n * sizeof(float));
  free(h);
  return p;
}
static pair mki(const int *h, size_t n) { return mk(h, n * sizeof(int)); }
static void poison(pair p) {
  float *h = malloc(p.bytes + 4);
  for (size_t i = 0; i < p.bytes / 4; i++) h[i] = NAN;
  C->upload(C, p.c, h, p.bytes);
  G->upload(G, p.g, h, p.bytes);
  free(h);
}
static void drop(pair *p) {
  C->free(C, p->c);
  G->free(G, p->g);
  p->c = p->g = NULL;
}
#define F(p, be) ((float *)((be) == C ? (p).c : (p).g))
#define I(p, be) ((const int *)((be) == C ? (p).c : (p).g))

static void verdict(const char *what, double e, double tol) {
  bool ok = e <= tol; /* false for NaN */
  printf("  %-44s rel %-10.3g tol %-7.0e %s\n", what, e, tol, ok ? "ok" : "FAIL");
  ok ? n_pass++ : n_fail++;
}
static double rel_host(const float *g, const float *c, size_t n) {
  double md = 0, mb = 1e-30;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)g[i] - c[i]);
    if (isnan(d) || isnan(c[i])) return INFINITY;
    md = d > md ? d : md;
    mb = fabs(c[i]) > mb ? fabs(c[i]) : mb;
  }
  return md / mb;
}
/* compares the first n floats of p */
static void cmpn(const char *what, pair p, size_t n, double tol) {
  float *a = malloc(n * sizeof(float) + 4), *b = malloc(n * sizeof(float) + 4);
  C->download(C, a, p.c, n * sizeof(float));
  G->download(G, b, p.g, n * sizeof(float));
  verdict(what, rel_host(b, a, n), tol);
  free(a), free(b);
}
static void cmp(const char *what, pair p, double tol) { cmpn(what, p, p.bytes / sizeof(float), tol); }

/* runs stmt once with be = C and once with be = G */
#define BOTH(stmt)                          \
  do {                                      \
    zr_backend *be_[2] = {C, G};            \
    for (int k_ = 0; k_ < 2; k_++) {        \
      zr_backend *be = be_[k_];             \
      stmt;                                 \
    }                                       \
  } while (0)
#define BOTH_RC(call)                                                            \
  BOTH(if ((call) != 0) {                                                        \
    fprintf(stderr, "  %s: %s failed: %s\n", be->name, #call, zr_errmsg());      \
    n_fail++;                                                                    \
  })

/* ---- ops --------------------------------------------------------------------------------- */

static void t_gemm(void) {
  int m = 67, n = 45, k = 129;
  char what[64];
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int beta_nz = 0; beta_nz < 2; beta_nz++) {
        int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 5;
        pair A = mkf((size_t)(ta ? k : m) * lda, 1), B = mkf((size_t)(tb ? n : k) * ldb, 1), Cm = mkf((size_t)m * ldc, 1);
        if (!beta_nz) poison(Cm); /* beta = 0 must not read C (and keeps its padding: NaN both sides) */
        float beta = beta_nz ? -0.5f : 0.0f;
        BOTH(be->gemm(be, ta, tb, m, n, k, 0.7f, F(A, be), lda, F(B, be), ldb, beta, F(Cm, be), ldc));
        float *a = malloc(Cm.bytes), *b = malloc(Cm.bytes);
        C->download(C, a, Cm.c, Cm.bytes);
        G->download(G, b, Cm.g, Cm.bytes);
        for (int i = 0; i < m; i++) /* compare the n valid columns of each row */
          memmove(a + (size_t)i * n, a + (size_t)i * ldc, n * sizeof(float)), memmove(b + (size_t)i * n, b + (size_t)i * ldc, n * sizeof(float));
        snprintf(what, sizeof what, "gemm ta=%d tb=%d beta=%s", ta, tb, beta_nz ? "-0.5" : "0");
        verdict(what, rel_host(b, a, (size_t)m * n), 1e-5);
        free(a), free(b), drop(&A), drop(&B), drop(&Cm);
      }
  pair Cm = mkf(4, 1);
  BOTH(be->gemm(be, false, false, 2, 2, 0, 1.0f, F(Cm, be), 1, F(Cm, be), 1, 0.5f, F(Cm, be), 2));
  cmp("gemm k=0 (C = beta C)", Cm, 0), drop(&Cm);
  pair A = mkf(3 * 20, 1), B = mkf(3 * 30, 1);
  Cm = mkf(3 * 24, 1);
  BOTH(be->gemm_batched(be, false, true, 4, 6, 5, 1.0f, F(A, be), 5, 20, F(B, be), 5, 30, 1.0f, F(Cm, be), 6, 24, 3));
  cmp("gemm_batched", Cm, 1e-5), drop(&A), drop(&B), drop(&Cm);
}

static void t_elementwise(void) {
  size_t n = 100003;
  pair x = mkf(n, 2), y = mkf(n, 2);
  BOTH(be->add(be, F(y, be), F(x, be), n); be->scale(be, F(y, be), 0.25f, n));
  cmp("add + scale", y, 1e-6);
  int rows = 301, d = 131;
  pair Y = mkf((size_t)rows * d, 1), bias = mkf(d, 1), db = mkf(d, 1);
  BOTH(be->bias_fwd(be, F(Y, be), F(bias, be), rows, d); be->bias_bwd(be, F(db, be), F(Y, be), rows, d));
  cmp("bias_fwd", Y, 1e-6), cmp("bias_bwd (+=)", db, 1e-5);
  pair g = mkf(n, 6), u = mkf(n, 3), o = mkf(n, 1), dout = mkf(n, 1), dg = mkf(n, 1), du = mkf(n, 1);
  poison(o), poison(dg), poison(du);
  BOTH(be->swiglu_fwd(be, F(o, be), F(g, be), F(u, be), n));
  BOTH(be->swiglu_bwd(be, F(dg, be), F(du, be), F(dout, be), F(g, be), F(u, be), n));
  cmp("swiglu_fwd", o, 1e-5), cmp("swiglu_bwd dg", dg, 1e-5), cmp("swiglu_bwd du", du, 1e-5);
  double sc = C->sumsq(C, F(x, C), n), sg = G->sumsq(G, F(x, G), n);
  verdict("sumsq (double)", fabs(sg - sc) / sc, 1e-12);
  size_t fc = C->first_nonfinite(C, F(x, C), n), fg = G->first_nonfinite(G, F(x, G), n);
  verdict("first_nonfinite (all finite)", fc == n && fg == n ? 0 : INFINITY, 0);
  float bad[2] = {INFINITY, NAN};
  C->upload(C, F(x, C) + 70001, bad, sizeof bad), G->upload(G, F(x, G) + 70001, bad, sizeof bad);
  C->upload(C, F(x, C) + 99999, bad + 1, 4), G->upload(G, F(x, G) + 99999, bad + 1, 4);
  fc = C->first_nonfinite(C, F(x, C), n), fg = G->first_nonfinite(G, F(x, G), n);
  verdict("first_nonfinite (inf at 70001)", fc == 70001 && fg == 70001 ? 0 : INFINITY, 0);
  sg = G->sumsq(G, F(x, G), n);
  verdict("sumsq of a non-finite vector is not finite", isfinite(sg) ? INFINITY : 0, 0);
  drop(&x), drop(&y), drop(&Y), drop(&bias), drop(&db), drop(&g), drop(&u), drop(&o), drop(&dout), drop(&dg), drop(&du);
}

static void t_adamw(void) {
  size_t n = 50001;
  float *vh = rvec(n, 1);
  for (size_t i = 0; i < n; i++) vh[i] = vh[i] * vh[i] * 1e-3f;
  pair p = mkf(n, 1), g = mkf(n, 0.1f), m = mkf(n, 0.01f), v = mk(vh, n * sizeof(float));
  for (int w = 0; w < 2; w++) { /* both branches of at::lerp */
    zr_adamw_coef c = {.decay = 1 - 1e-3f * 0.1f, .w1 = w ? 0.6f : 0.1f, .beta2 = 0.999f, .w2 = 0.001f,
                       .step_size = 1e-3f / (1 - 0.9f), .bc2_sqrt = sqrtf(1 - 0.999f), .eps = 1e-8f};
    BOTH(be->adamw(be, F(p, be), F(g, be), F(m, be), F(v, be), n, &c));
  }
  cmp("adamw p", p, 1e-6), cmp("adamw m", m, 1e-6), cmp("adamw v", v, 1e-6);
  free(vh), drop(&p), drop(&g), drop(&m), drop(&v);
}

static void t_rows(void) {
  int V = 97, d = 75, n = 300;
  int *ids = malloc(n * sizeof(int)), *perm = malloc(V * sizeof(int));
  for (int i = 0; i < n; i++) ids[i] = (int)(urand() * V); /* repeats */
  for (int i = 0; i < V; i++) perm[i] = (i * 31) % V;      /* distinct */
  pair I = mki(ids, n), P = mki(perm, V), tab = mkf((size_t)V * d, 1), out = mkf((size_t)n * d, 1);
  pair dt = mkf((size_t)V * d, 1), dout = mkf((size_t)n * d, 1);
  poison(out);
  BOTH(be->embed_fwd(be, F(out, be), F(tab, be), I(I, be), n, d));
  cmp("embed_fwd", out, 0);
  BOTH(be->embed_bwd(be, F(dt, be), F(dout, be), I(I, be), n, d));
  cmp("embed_bwd (+=, repeated ids)", dt, 1e-6);
  pair gath = mkf((size_t)V * d, 1);
  poison(gath);
  BOTH(be->gather_rows(be, F(gath, be), F(tab, be), I(P, be), V, d));
  cmp("gather_rows", gath, 0);
  BOTH(be->scatter_add_rows(be, F(tab, be), F(gath, be), I(P, be), V, d));
  cmp("scatter_add_rows (+=)", tab, 1e-6);
  free(ids), free(perm), drop(&I), drop(&P), drop(&tab), drop(&out), drop(&dt), drop(&dout), drop(&gath);
}

static void t_norm_rope(void) {
  int n = 257, d = 200;
  pair x = mkf((size_t)n * d, 2), w = mkf(d, 1), y = mkf((size_t)n * d, 1), r = mkf(n, 1);
  pair dy = mkf((size_t)n * d, 1), dx = mkf((size_t)n * d, 1), dw = mkf(d, 1);
  poison(y), poison(r);
  BOTH(be->rmsnorm_fwd(be, F(y, be), F(r, be), F(x, be), F(w, be), n, d, 1e-6f));
  cmp("rmsnorm_fwd y", y, 1e-5), cmp("rmsnorm_fwd rstd", r, 1e-5);
  BOTH(be->rmsnorm_bwd(be, F(dx, be), F(dw, be), F(dy, be), F(x, be), F(w, be), F(r, be), n, d));
  cmp("rmsnorm_bwd dx (+=)", dx, 1e-5), cmp("rmsnorm_bwd dw (+=)", dw, 1e-5);
  int heads = 3, hd = 64, *pos = malloc(n * sizeof(int));
  float inv[32];
  for (int j = 0; j < hd / 2; j++) inv[j] = (float)pow(1e6, -2.0 * j / hd);
  for (int i = 0; i < n; i++) pos[i] = (int)(urand() * 4000);
  pair P = mki(pos, n), IF = mk(inv, sizeof inv), q = mkf((size_t)n * heads * hd, 1);
  BOTH(be->rope(be, F(q, be), I(P, be), F(IF, be), n, heads, hd, 1.0f, false));
  cmp("rope", q, 1e-5);
  BOTH(be->rope(be, F(q, be), I(P, be), F(IF, be), n, heads, hd, 0.9f, true));
  cmp("rope inverse (scaling 0.9)", q, 1e-5);
  free(pos), drop(&x), drop(&w), drop(&y), drop(&r), drop(&dy), drop(&dx), drop(&dw), drop(&P), drop(&IF), drop(&q);
}

static void t_attn(int hq, int hkv, int hd) {
  int lens[] = {1, 37, 100, 5, 64}, S = 5, cu[6] = {0}, maxl = 0;
  for (int s = 0; s < S; s++) cu[s + 1] = cu[s] + lens[s], maxl = lens[s] > maxl ? lens[s] : maxl;
  int n = cu[S];
  float scale = 1.0f / sqrtf((float)hd);
  char what[96];
  pair CU = mki(cu, S + 1), q = mkf((size_t)n * hq * hd, 1), k = mkf((size_t)n * hkv * hd, 1), v = mkf((size_t)n * hkv * hd, 1);
  pair o = mkf((size_t)n * hq * hd, 1), lse = mkf((size_t)n * hq, 1), dout = mkf((size_t)n * hq * hd, 1);
  pair dq = mkf((size_t)n * hq * hd, 1), dk = mkf((size_t)n * hkv * hd, 1), dv = mkf((size_t)n * hkv * hd, 1);
  poison(o), poison(lse), poison(dq), poison(dk), poison(dv);
  BOTH_RC(be->attn_fwd(be, F(o, be), F(lse, be), F(q, be), F(k, be), F(v, be), I(CU, be), S, maxl, hq, hkv, hd, scale));
  snprintf(what, sizeof what, "attn_fwd out (hq %d hkv %d hd %d)", hq, hkv, hd);
  cmp(what, o, 1e-5), cmp("attn_fwd lse", lse, 1e-5);
  BOTH_RC(be->attn_bwd(be, F(dq, be), F(dk, be), F(dv, be), F(dout, be), F(q, be), F(k, be), F(v, be), F(o, be),
                       F(lse, be), I(CU, be), S, maxl, hq, hkv, hd, scale));
  cmp("attn_bwd dq (order)", dq, 1e-4), cmp("attn_bwd dk (order)", dk, 1e-4), cmp("attn_bwd dv (order)", dv, 1e-4);

  /* KV cache: 3 slots of 64 rows, caches pre-filled with random history; decode, a prefill of an
   * empty slot and a 4-token extension in one call */
  int slots = 3, max_len = 64, kvd = hkv * hd;
  int cq[4] = {0, 1, 11, 15}, slot[3] = {2, 0, 1}, kvlen[3] = {40, 10, 30}, rows[15];
  for (int s = 0; s < 3; s++)
    for (int j = cq[s]; j < cq[s + 1]; j++) rows[j] = slot[s] * max_len + kvlen[s] - (cq[s + 1] - cq[s]) + (j - cq[s]);
  pair kc = mkf((size_t)slots * max_len * kvd, 1), vc = mkf((size_t)slots * max_len * kvd, 1);
  pair CQ = mki(cq, 4), SL = mki(slot, 3), KL = mki(kvlen, 3), RW = mki(rows, 15);
  pair nq = mkf((size_t)15 * hq * hd, 1), nk = mkf((size_t)15 * kvd, 1), nv = mkf((size_t)15 * kvd, 1), co = mkf((size_t)15 * hq * hd, 1);
  poison(co);
  BOTH(be->kv_store(be, F(kc, be), F(vc, be), F(nk, be), F(nv, be), I(RW, be), 15, kvd));
  cmp("kv_store k", kc, 0), cmp("kv_store v", vc, 0);
  BOTH_RC(be->attn_cached(be, F(co, be), F(nq, be), F(kc, be), F(vc, be), I(CQ, be), I(SL, be), I(KL, be), 3, 10, 40,
                          max_len, hq, hkv, hd, scale));
  cmp("attn_cached (decode, prefill, extend)", co, 1e-5);
  drop(&CU), drop(&q), drop(&k), drop(&v), drop(&o), drop(&lse), drop(&dout), drop(&dq), drop(&dk), drop(&dv);
  drop(&kc), drop(&vc), drop(&CQ), drop(&SL), drop(&KL), drop(&RW), drop(&nq), drop(&nk), drop(&nv), drop(&co);
}

static void t_lmhead(int chunk) {
  int n = 70, d = 64, V = 1000, *tg = malloc(n * sizeof(int));
  for (int i = 0; i < n; i++) tg[i] = i % 7 == 3 ? -1 : (int)(urand() * V);
  float *dl = rvec(n, 1);
  dl[5] = 0;
  char what[96];
  pair T = mki(tg, n), h = mkf((size_t)n * d, 1), W = mkf((size_t)V * d, 0.5f), lp = mkf(n, 1), lse = mkf(n, 1),
       ent = mkf(n, 1), DL = mk(dl, n * sizeof(float)), dh = mkf((size_t)n * d, 1), dW = mkf((size_t)V * d, 1);
  poison(lp), poison(lse), poison(ent);
  BOTH_RC(be->lmhead_fwd(be, F(lp, be), F(lse, be), F(ent, be), F(h, be), F(W, be), I(T, be), n, d, V, chunk));
  snprintf(what, sizeof what, "lmhead_fwd logp (chunk %d)", chunk);
  cmp(what, lp, 1e-5), cmp("lmhead_fwd lse", lse, 1e-5), cmp("lmhead_fwd entropy", ent, 1e-5);
  BOTH_RC(be->lmhead_bwd(be, F(dh, be), F(dW, be), F(DL, be), F(h, be), F(W, be), I(T, be), F(lse, be), n, d, V, chunk));
  cmp("lmhead_bwd dh (+=, order)", dh, 1e-4), cmp("lmhead_bwd dW (+=, order)", dW, 1e-4);
  free(tg), free(dl);
  drop(&T), drop(&h), drop(&W), drop(&lp), drop(&lse), drop(&ent), drop(&DL), drop(&dh), drop(&dW);
}

/* ---- sampling: the backend's sample op against zr_sampler_pick ---------------------------- */

/* G's draw for req[] over rows uploaded to dev (the op where G has one; else the host path a
 * caller takes: download the row, zr_sampler_pick). */
static int sample_g(const float *dev, const float *host, int n_rows, size_t ld, int vocab, int n,
                    const zr_sample_req *req, zr_sample *out) {
  if (G->sample) return G->sample(G, dev, n_rows, ld, vocab, n, req, out);
  float *scratch = malloc(zr_sampler_scratch_floats(vocab) * sizeof(float)), *row = malloc(ld * sizeof(float));
  int rc = 0;
  for (int j = 0; j < n && !rc; j++) {
    G->download(G, row, dev + (size_t)req[j].row * ld, ld * sizeof(float));
    rc = zr_sampler_pick(&req[j].s, row, vocab, req[j].seed, req[j].sequence, req[j].position, scratch, &out[j]);
  }
  free(scratch), free(row);
  (void)host;
  return rc;
}

/* every (row, setting) with `per` keys; tokens must be equal, log-probs within 1e-5 */
static void sample_case(const char *what, const float *rows, int n_rows, size_t ld, int vocab, const zr_sampling *set,
                        int n_set, int per) {
  int n = n_rows * n_set * per;
  zr_sample_req *req = malloc(n * sizeof *req);
  zr_sample *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
  float *scratch = malloc(zr_sampler_scratch_floats(vocab) * sizeof(float));
  int j = 0;
  for (int r = 0; r < n_rows; r++)
    for (int k = 0; k < n_set; k++)
      for (int q = 0; q < per; q++, j++)
        req[j] = (zr_sample_req){.row = r, .s = set[k], .seed = 7 + (uint64_t)r,
                                 .sequence = (uint64_t)k, .position = (uint64_t)(q * 37 + r)};
  int rc = 0;
  for (j = 0; j < n && !rc; j++)
    rc = zr_sampler_pick(&req[j].s, rows + (size_t)req[j].row * ld, vocab, req[j].seed, req[j].sequence,
                         req[j].position, scratch, &want[j]);
  pair L = mk(rows, (size_t)n_rows * ld * sizeof(float));
  for (j = 0; j < n; j++) got[j] = (zr_sample){-7, NAN, NAN};
  int grc = rc ? rc : sample_g(F(L, G), rows, n_rows, ld, vocab, n, req, got);
  if (rc || grc) {
    fprintf(stderr, "  sampler %s: %s\n", what, zr_errmsg());
    n_fail++;
  } else {
    int diff = 0;
    double worst = 0;
    for (j = 0; j < n; j++) {
      if (got[j].token != want[j].token) {
        if (diff++ < 5)
          fprintf(stderr, "  sampler %s: request %d (row %d, setting t=%g k=%d p=%g min_p=%g, position %llu): token %d, cpu %d\n",
                  what, j, req[j].row, req[j].s.temperature, req[j].s.top_k, req[j].s.top_p, req[j].s.min_p,
                  (unsigned long long)req[j].position, got[j].token, want[j].token);
        continue;
      }
      double a = fabs((double)got[j].logprob_sampled - want[j].logprob_sampled) / fmax(1.0, fabs(want[j].logprob_sampled));
      double b = fabs((double)got[j].logprob_policy - want[j].logprob_policy) / fmax(1.0, fabs(want[j].logprob_policy));
      if (isnan(a) || isnan(b)) a = INFINITY;
      worst = fmax(worst, fmax(a, b));
    }
    char w[96];
    snprintf(w, sizeof w, "sample %s: tokens (%d draws)", what, n);
    verdict(w, diff ? INFINITY : 0, 0);
    snprintf(w, sizeof w, "sample %s: log-probs", what);
    verdict(w, worst, 1e-5);
  }
  drop(&L);
  free(req), free(want), free(got), free(scratch);
}

static void t_sample(void) {
  const zr_sampling set[] = {
      {0, 0, 1, 0},           {1, 0, 1, 0},         {0.7f, 0, 1, 0},       {0.8f, 40, 1, 0},
      {1, 1, 1, 0},           {1, 50, 0.9f, 0},     {1, 0, 0.95f, 0},      {1.3f, 0, 0.5f, 0.02f},
      {1, 0, 1, 0.1f},        {1, 0, 1e-6f, 0},     {1, 0, 0, 0},          {1, 3000, 0.95f, 0.02f},
      {0.6f, 200, 0.8f, 0.05f}};
  const int n_set = (int)(sizeof set / sizeof set[0]);
  /* full vocabulary rows: broad, peaked, coarse ties, flat, two levels */
  const int V = 151936, R = 5;
  float *x = malloc((size_t)R * V * sizeof(float));
  for (int i = 0; i < V; i++) {
    double u1 = urand(), u2 = urand();
    float nrm = (float)(sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2));
    x[i] = 3 * nrm;
    x[V + i] = 2 * nrm + (i % 5003 == 17 ? 12 + (float)(i % 7) : 0);
    x[2 * (size_t)V + i] = (float)floor(urand() * 16) / 4;
    x[3 * (size_t)V + i] = 0;
    x[4 * (size_t)V + i] = i % 2 ? 1.0f : 0.0f;
  }
  sample_case("vocab 151936", x, R, V, V, set, n_set, 16);
  /* a vocabulary limit (ld > vocab), small and odd sizes */
  const int v2 = 1000, ld2 = 1003;
  float *y = malloc(3 * ld2 * sizeof(float));
  for (int i = 0; i < 3 * ld2; i++) y[i] = (float)((urand() * 2 - 1) * 4);
  sample_case("vocab 1000 of 1003", y, 3, ld2, v2, set, n_set, 24);
  float z7[7] = {0.5f, -1, 2, 2, 0, -3, 1};
  sample_case("vocab 7", z7, 1, 7, 7, set, n_set, 32);
  /* a non-finite logit is refused */
  y[500] = NAN;
  pair L = mk(y, 3 * ld2 * sizeof(float));
  zr_sample_req rq = {.row = 0, .s = {1, 0, 1, 0}, .seed = 1};
  zr_sample o;
  int rc = sample_g(F(L, G), y, 3, ld2, v2, 1, &rq, &o);
  verdict("sample: NaN logit -> -EINVAL", rc == -EINVAL ? 0 : INFINITY, 0);
  rq.row = 3;
  rc = G->sample ? G->sample(G, F(L, G), 3, ld2, v2, 1, &rq, &o) : -EINVAL;
  verdict("sample: row out of range -> -EINVAL", rc == -EINVAL ? 0 : INFINITY, 0);
  drop(&L);
  free(x), free(y);
}

/* ---- bf16 mode (CUDA): bf16 GEMM inputs, fp32 accumulation, against the fp32 CPU backend --- */

static bool g_is_cuda(void) { return G && strcmp(G->name, "cuda") == 0; }

/* C = op(A) op(B) (+ beta C) with B hinted as weights (read from the bf16 copy) or not */
static void bf16_gemm_case(bool ta, bool tb, bool beta_nz, bool hint) {
  int m = 67, n = 45, k = 129, lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 5;
  char what[96];
  pair A = mkf((size_t)(ta ? k : m) * lda, 1), B = mkf((size_t)(tb ? n : k) * ldb, 1), Cm = mkf((size_t)m * ldc, 1);
  if (hint) G->weights_hint(G, F(B, G), B.bytes / sizeof(float));
  if (!beta_nz) poison(Cm);
  float beta = beta_nz ? -0.5f : 0.0f;
  BOTH(be->gemm(be, ta, tb, m, n, k, 0.7f, F(A, be), lda, F(B, be), ldb, beta, F(Cm, be), ldc));
  float *a = malloc(Cm.bytes), *b = malloc(Cm.bytes);
  C->download(C, a, Cm.c, Cm.bytes);
  G->download(G, b, Cm.g, Cm.bytes);
  for (int i = 0; i < m; i++)
    memmove(a + (size_t)i * n, a + (size_t)i * ldc, n * sizeof(float)), memmove(b + (size_t)i * n, b + (size_t)i * ldc, n * sizeof(float));
  snprintf(what, sizeof what, "bf16 gemm ta=%d tb=%d beta=%s%s", ta, tb, beta_nz ? "-0.5" : "0", hint ? " (B weights)" : "");
  verdict(what, rel_host(b, a, (size_t)m * n), 1e-2);
  free(a), free(b), drop(&A), drop(&B), drop(&Cm);
}

/* the bf16 copy of hinted weights follows writes: upload, adamw, copy, scale */
static void bf16_refresh_case(void) {
  int m = 33, n = 70, k = 96;
  pair A = mkf((size_t)m * k, 1), W = mkf((size_t)n * k, 1), Cm = mkf((size_t)m * n, 1), W2 = mkf((size_t)n * k, 1);
  pair g = mkf((size_t)n * k, 1), mm = mkf((size_t)n * k, 0), vv = mkf((size_t)n * k, 0);
  G->weights_hint(G, F(W, G), W.bytes / sizeof(float));
  const char *step[] = {"first use", "after upload", "after adamw", "after copy", "after scale"};
  for (int s = 0; s < 5; s++) {
    if (s == 1) {
      float *h = rvec((size_t)n * k, 2);
      C->upload(C, W.c, h, W.bytes), G->upload(G, W.g, h, W.bytes);
      free(h);
    } else if (s == 2) {
      zr_adamw_coef c = {.decay = 1, .w1 = 0.1f, .beta2 = 0.999f, .w2 = 0.001f, .step_size = 0.5f,
                         .bc2_sqrt = sqrtf(0.001f), .eps = 1e-8f};
      BOTH(be->adamw(be, F(W, be), F(g, be), F(mm, be), F(vv, be), (size_t)n * k, &c));
    } else if (s == 3) {
      BOTH(be->copy(be, F(W, be), F(W2, be), W.bytes));
    } else if (s == 4) {
      BOTH(be->scale(be, F(W, be), -3.0f, (size_t)n * k));
    }
    poison(Cm);
    BOTH(be->gemm(be, false, true, m, n, k, 1.0f, F(A, be), k, F(W, be), k, 0.0f, F(Cm, be), n));
    char what[96];
    snprintf(what, sizeof what, "bf16 weight copy %s", step[s]);
    cmp(what, Cm, 1e-2);
  }
  drop(&A), drop(&W), drop(&Cm), drop(&W2), drop(&g), drop(&mm), drop(&vv);
}

static void bf16_lmhead_case(void) {
  int n = 70, d = 64, V = 1000, chunk = 300, *tg = malloc(n * sizeof(int));
  for (int i = 0; i < n; i++) tg[i] = i % 7 == 3 ? -1 : (int)(urand() * V);
  float *dl = rvec(n, 1);
  pair T = mki(tg, n), h = mkf((size_t)n * d, 1), W = mkf((size_t)V * d, 0.5f), lp = mkf(n, 1), lse = mkf(n, 1),
       ent = mkf(n, 1), DL = mk(dl, n * sizeof(float)), dh = mkf((size_t)n * d, 1), dW = mkf((size_t)V * d, 1);
  G->weights_hint(G, F(W, G), W.bytes / sizeof(float));
  poison(lp), poison(lse), poison(ent);
  BOTH_RC(be->lmhead_fwd(be, F(lp, be), F(lse, be), F(ent, be), F(h, be), F(W, be), I(T, be), n, d, V, chunk));
  cmp("bf16 lmhead_fwd logp", lp, 1e-2), cmp("bf16 lmhead_fwd lse", lse, 1e-2), cmp("bf16 lmhead_fwd entropy", ent, 1e-2);
  BOTH_RC(be->lmhead_bwd(be, F(dh, be), F(dW, be), F(DL, be), F(h, be), F(W, be), I(T, be), F(lse, be), n, d, V, chunk));
  cmp("bf16 lmhead_bwd dh (+=)", dh, 1e-2), cmp("bf16 lmhead_bwd dW (+=)", dW, 1e-2);
  free(tg), free(dl);
  drop(&T), drop(&h), drop(&W), drop(&lp), drop(&lse), drop(&ent), drop(&DL), drop(&dh), drop(&dW);
}

static void t_model(bool qwen3, bool bf16);

static void t_bf16(void) {
  if (!g_is_cuda()) {
    printf(" bf16: skipped (the second backend is not CUDA)\n");
    return;
  }
  if (zr_backend_cuda_set_bf16(G, true)) {
    fprintf(stderr, "  bf16 mode: %s\n", zr_errmsg());
    n_fail++;
    return;
  }
  printf(" bf16 mode (bf16 GEMM inputs, fp32 accumulation; tolerance 1e-2)\n");
  zr_cuda_bf16_stats s0, s1;
  zr_backend_cuda_bf16_stats(G, &s0);
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int beta_nz = 0; beta_nz < 2; beta_nz++) bf16_gemm_case(ta, tb, beta_nz, true);
  bf16_gemm_case(false, true, false, false);
  bf16_refresh_case();
  bf16_lmhead_case();
  zr_backend_cuda_bf16_stats(G, &s1);
  printf("  bf16 gemms %llu, fp32 fallbacks %llu, weight copies made %llu\n",
         (unsigned long long)(s1.bf16_gemms - s0.bf16_gemms), (unsigned long long)(s1.fp32_fallbacks - s0.fp32_fallbacks),
         (unsigned long long)(s1.weight_refreshes - s0.weight_refreshes));
  verdict("bf16 gemms ran in bf16 (no fp32 fallback)",
          s1.bf16_gemms > s0.bf16_gemms && s1.fp32_fallbacks == s0.fp32_fallbacks ? 0 : INFINITY, 0);
  verdict("bf16 weight copies refreshed after each write", s1.weight_refreshes - s0.weight_refreshes >= 5 + 8 + 1 ? 0 : INFINITY, 0);
  t_model(false, true);
  t_model(true, true);
  if (zr_backend_cuda_set_bf16(G, false)) {
    fprintf(stderr, "  bf16 mode off: %s\n", zr_errmsg());
    n_fail++;
  }
}

/* ---- whole models ------------------------------------------------------------------------ */

/* bf16: G in bf16 mode; log-probs and entropy within 1e-2, gradients within 2e-2 (bf16 inputs
 * in every GEMM of the forward and the backward), greedy tokens reported, not required. */
static void t_model(bool qwen3, bool bf16) {
  zr_model_config c = {0};
  c.arch = qwen3 ? ZR_ARCH_QWEN3 : ZR_ARCH_QWEN2;
  c.vocab_size = 512, c.hidden_size = 128, c.num_layers = 2, c.num_heads = 4, c.num_kv_heads = 2;
  c.head_dim = qwen3 ? 64 : 32, c.intermediate_size = 256, c.max_position_embeddings = 1024;
  c.rope_theta = 1e4, c.rms_norm_eps = 1e-6, c.tie_word_embeddings = qwen3, c.attention_bias = !qwen3;
  c.qk_norm = qwen3, c.bos_token_id = -1, c.torch_dtype = ZR_DT_F32;
  printf(" model %s%s\n", qwen3 ? "qwen3-style (q/k norm, tied)" : "qwen2-style (biases, untied)", bf16 ? ", bf16" : "");
  const double tol_lp = bf16 ? 1e-2 : 1e-5, tol_g = bf16 ? 2e-2 : 1e-4;
  zr_tf *m[2] = {NULL, NULL};
  zr_backend *be[2] = {C, G};
  int lens[2] = {21, 13}, n = 34, tok[34], tg[34];
  for (int i = 0; i < n; i++) tok[i] = (int)(urand() * c.vocab_size);
  for (int i = 0; i < n; i++) tg[i] = (i == lens[0] - 1 || i == n - 1) ? -1 : tok[i + 1];
  float w[34], lp[2][34], ent[2][34];
  for (int i = 0; i < n; i++) w[i] = 1.0f / n;
  zr_tf_batch bt = {.n_seqs = 2, .seq_lens = lens, .tokens = tok, .targets = tg};
  int gen[2][2 * 16];
  float glp[2][2 * 16];
  zr_gen_result res[2][2];
  zr_gen_config gc = {.max_new_tokens = 16, .sampling = {.temperature = 0, .top_p = 1}, .seed = 1};
  float *grads[2] = {NULL, NULL};
  size_t nf = 0;
  for (int k = 0; k < 2; k++) {
    int rc = zr_tf_new(&m[k], &c, be[k]);
    if (!rc) rc = zr_tf_init_random(m[k], 7, 0.2f);
    zr_tf_outputs out = {.logprobs = lp[k], .entropy = ent[k]};
    if (!rc) rc = zr_tf_forward_train(m[k], &bt, &out);
    if (!rc) rc = zr_tf_backward(m[k], w);
    if (!rc) {
      nf = zr_tf_n_floats(m[k]);
      grads[k] = malloc(nf * sizeof(float));
      be[k]->download(be[k], grads[k], zr_tf_grads(m[k]), nf * sizeof(float));
      rc = zr_tf_generate(m[k], NULL, 2, lens, tok, NULL, &gc, gen[k], glp[k], res[k]);
    }
    if (rc) {
      fprintf(stderr, "  %s: model: %s\n", be[k]->name, zr_errmsg());
      n_fail++;
      goto done;
    }
  }
  verdict("forward_train logprobs", rel_host(lp[1], lp[0], n), tol_lp);
  verdict("forward_train entropy", rel_host(ent[1], ent[0], n), tol_lp);
  verdict(bf16 ? "backward: all gradients (bf16)" : "backward: all gradients (order)", rel_host(grads[1], grads[0], nf), tol_g);
  for (size_t i = 0; i < zr_tf_n_tensors(m[0]); i++) { /* the worst tensors, for the record */
    const zr_tf_tensor *t = zr_tf_tensor_at(m[0], i);
    double e = rel_host(grads[1] + t->offset, grads[0] + t->offset, t->numel);
    if (!(e <= tol_g)) printf("    gradient %s: rel %.3g\n", t->name, e);
  }
  int same = res[0][0].n_tokens == res[1][0].n_tokens && res[0][1].n_tokens == res[1][1].n_tokens &&
             memcmp(gen[0], gen[1], sizeof gen[0]) == 0;
  if (bf16) { /* bf16 logits may break near-ties differently: reported, not required */
    int eq = 0;
    for (int i = 0; i < 2 * 16; i++) eq += gen[0][i] == gen[1][i];
    printf("  %-44s %d of 32 tokens equal to the fp32 cpu run\n", "generate greedy (bf16, informational)", eq);
  } else {
    verdict("generate greedy: identical tokens", same ? 0 : INFINITY, 0);
    if (same) verdict("generate logprobs", rel_host(glp[1], glp[0], 2 * 16), 1e-5);
  }
done:
  for (int k = 0; k < 2; k++) zr_tf_free(&m[k]), free(grads[k]);
}

int main(int argc, char **argv) {
  char why[256], name[128] = "";
  /* --self-test: the harness itself against a second CPU backend (1 thread), for machines
   * without a GPU */
  if (argc > 1 && strcmp(argv[1], "--self-test") == 0) {
    if (zr_backend_cpu_new(&C, 0) || zr_backend_cpu_new(&G, 1)) return 1;
    snprintf(name, sizeof name, "a second cpu backend, 1 thread (--self-test)");
    goto run;
  }
  int nd = zr_cuda_device_count(why, sizeof why);
  if (nd <= 0) {
    printf("gpu_parity: no CUDA device (%s): skipped\n", why[0] ? why : "none visible");
    return 77;
  }
  if (zr_backend_cpu_new(&C, 0) || zr_backend_cuda_new(&G, 0)) {
    fprintf(stderr, "gpu_parity: %s\n", zr_errmsg());
    return 1;
  }
  zr_cuda_device_info(0, name, sizeof name, NULL);
run:
  printf("gpu_parity: cpu (%d threads) vs %s\n ops\n", C->n_threads, name);
  t_gemm();
  t_elementwise();
  t_adamw();
  t_rows();
  t_norm_rope();
  t_attn(4, 2, 64);
  t_attn(2, 2, 128);
  t_attn(6, 1, 40);
  t_lmhead(0);
  t_lmhead(300);
  verdict("all_reduce_sum (world size 1)", G->all_reduce_sum(G, NULL, 0) == 0 && G->world_size == 1 ? 0 : INFINITY, 0);
  t_sample();
  t_model(false, false);
  t_model(true, false);
  t_bf16();
  zr_backend_free(&G);
  zr_backend_free(&C);
  printf("gpu_parity: %d passed, %d failed\n", n_pass, n_fail);
  return n_fail ? 1 : 0;
}
