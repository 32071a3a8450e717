/* backend_cpu_impl.h: what the CPU backend's files share (internal; see backend.h for the ops).
 *
 * backend_cpu.c builds the backend (memory, GEMM, elementwise, rows, norms, RoPE, optimizer),
 * backend_cpu_attn.c the attention ops and backend_cpu_lmhead.c the fused LM head. The context
 * owns the thread pool and one grow-only workspace that ops carve their temporaries from (ops
 * never nest, so one workspace is enough). */
#ifndef ZR_BACKEND_CPU_IMPL_H
#define ZR_BACKEND_CPU_IMPL_H

#include <stddef.h>

#include "model/backend.h"
#include "model/cpu_pool.h"

typedef struct {
  zr_pool *pool;
  float *ws;     /* workspace, 64-byte aligned */
  size_t ws_cap; /* floats */
  size_t lmhead_tile; /* floats in one LM-head logits tile (tests lower it to force row tiling) */
} zr_cpu_ctx;

static inline zr_cpu_ctx *zr_cpu(zr_backend *b) { return (zr_cpu_ctx *)b->ctx; }

/* A workspace of at least `floats` floats (contents undefined), valid until the op returns.
 * 0 or -ENOMEM. */
int zr_cpu_workspace(zr_backend *b, size_t floats, float **out);

/* A block size that gives each thread a few blocks of at least `min` items. */
static inline long long zr_cpu_grain(const zr_backend *b, long long n, long long min) {
  long long g = (n + 4LL * b->n_threads - 1) / (4LL * b->n_threads);
  return g < min ? min : g;
}

/* backend_cpu_vec.c: vectorised inner loops (AVX2 clones where available) */
#define ZR_ATTN_BQ 16 /* query rows per attention task */
float zr_cpu_vec_max(const float *x, int n);
/* s = sum e^(x-m), t = sum e^(x-m) (x-m) */
void zr_cpu_vec_exp_stats(const float *x, int n, float m, float *s, float *t);
/* x = scale * e^(x - sub) */
void zr_cpu_vec_exp_scale(float *x, int n, float sub, float scale);
void zr_cpu_attend_rows(const float *q, int q_stride, int nq, int pos0, const float *k, const float *v, int kv_stride,
                        int hd, float scale, float *out, int out_stride, float *lse, int lse_stride, float *acc);
void zr_cpu_attn_bwd_row(int i, const float *qi, const float *doi, const float *oi, float lse, const float *k,
                         const float *v, int kv_stride, int hd, float scale, float *dqi, float *dk, float *dv, float *p);

/* p, m, v updated from g over [s, e): torch's fp32 AdamW, the same bits with or without AVX2 */
void zr_cpu_vec_adamw(float *p, const float *g, float *m, float *v, int64_t s, int64_t e, const zr_adamw_coef *c);

/* C[i, j] = alpha dot(A row i, B row j) (+ beta C[i, j] unless beta = 0) for i < m, j in [j0, j1):
 * x W^T for few rows of x, each W row read once for all m rows. Each element's sum has a fixed
 * order (8 lanes, lanes combined pairwise, then the tail), whatever the split over j or the
 * number of rows. With AVX2 + FMA the lanes use fused multiply-adds; the _portable version (the
 * one used without them; called directly by unit.backend_cpu) rounds products and sums apart. */
void zr_cpu_vec_gemm_nt(int m, int j0, int j1, int k, float alpha, const float *A, int lda, const float *B, int ldb,
                        float beta, float *C, int ldc);
void zr_cpu_vec_gemm_nt_portable(int m, int j0, int j1, int k, float alpha, const float *A, int lda, const float *B,
                                 int ldb, float beta, float *C, int ldc);

/* the ops defined outside backend_cpu.c */
int zr_cpu_attn_fwd(zr_backend *b, float *out, float *lse, const float *q, const float *k, const float *v,
                    const int *cu_seqlens, int n_seqs, int max_seqlen, int hq, int hkv, int hd, float scale);
int zr_cpu_attn_bwd(zr_backend *b, float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                    const float *v, const float *out, const float *lse, const int *cu_seqlens, int n_seqs,
                    int max_seqlen, int hq, int hkv, int hd, float scale);
void zr_cpu_kv_store(zr_backend *b, float *kc, float *vc, const float *k, const float *v, const int *rows, int n,
                     int kvd);
int zr_cpu_attn_cached(zr_backend *b, float *out, const float *q, const float *kc, const float *vc, const int *cu_q,
                       const int *slot, const int *kv_len, int n_seqs, int max_q, int max_kv, int max_len, int hq,
                       int hkv, int hd, float scale);
int zr_cpu_lmhead_fwd(zr_backend *b, float *logp, float *lse, float *entropy, const float *h, const float *W,
                      const int *targets, int n, int d, int vocab, int chunk);
int zr_cpu_lmhead_bwd(zr_backend *b, float *dh, float *dW, const float *dlogp, const float *h, const float *W,
                      const int *targets, const float *lse, int n, int d, int vocab, int chunk);

#endif
