/* backend_cpu_attn.c: causal attention on the CPU backend (backend.h): packed variable-length
 * sequences with GQA, forward with an online softmax over key tiles (flash-attention style: no
 * [T,T] score matrix), its backward from the saved log-sum-exp, and attention of new tokens over a
 * KV cache (prefill/decode). The row kernels are in backend_cpu_vec.c. */
#include <math.h>
#include <string.h>

#include "common/error.h"
#include "model/backend_cpu_impl.h"

#define BQ ZR_ATTN_BQ
#define MAX_HD 512

/* ---- forward over packed sequences ----------------------------------------------------- */

typedef struct {
  float *out, *lse;
  const float *q, *k, *v;
  const int *cu;
  const int *blk_seq, *blk_row; /* per query block: its sequence and first row in it */
  int hq, hkv, hd;
  float scale;
  float *scratch; /* per thread BQ * hd */
} fwd_args;

static void attn_fwd_task(void *arg, int tid, int64_t s, int64_t e) {
  fwd_args *a = arg;
  int qd = a->hq * a->hd, kvd = a->hkv * a->hd, group = a->hq / a->hkv;
  float *acc = a->scratch + (size_t)tid * BQ * a->hd;
  for (int64_t t = s; t < e; t++) {
    int blk = (int)(t / a->hq), h = (int)(t % a->hq), kh = h / group;
    int seq = a->blk_seq[blk], r0 = a->blk_row[blk];
    int start = a->cu[seq], len = a->cu[seq + 1] - start;
    int nq = len - r0 < BQ ? len - r0 : BQ;
    size_t row = (size_t)start + r0;
    size_t kv0 = (size_t)start * kvd + (size_t)kh * a->hd;
    zr_cpu_attend_rows(a->q + row * qd + (size_t)h * a->hd, qd, nq, r0, a->k + kv0, a->v + kv0, kvd, a->hd, a->scale,
                       a->out + row * qd + (size_t)h * a->hd, qd, a->lse + row * a->hq + h, a->hq, acc);
  }
}

/* Fills blk_seq/blk_row for BQ-row blocks of every sequence; returns the block count. */
static int make_blocks(const int *cu, int n_seqs, int *blk_seq, int *blk_row) {
  int nb = 0;
  for (int s = 0; s < n_seqs; s++)
    for (int r = 0; r < cu[s + 1] - cu[s]; r += BQ) {
      blk_seq[nb] = s;
      blk_row[nb] = r;
      nb++;
    }
  return nb;
}

int zr_cpu_attn_fwd(zr_backend *b, float *out, float *lse, const float *q, const float *k, const float *v,
                    const int *cu_seqlens, int n_seqs, int max_seqlen, int hq, int hkv, int hd, float scale) {
  ZR_ASSERT(hkv > 0 && hq % hkv == 0 && hd > 0 && hd <= MAX_HD);
  int n = cu_seqlens[n_seqs], max_blocks = n / BQ + n_seqs + 1;
  size_t per_thread = (size_t)BQ * hd;
  float *ws;
  /* per-thread accumulators, then the block tables */
  int rc = zr_cpu_workspace(b, per_thread * b->n_threads + 2 * (size_t)max_blocks, &ws);
  if (rc) return rc;
  int *blk_seq = (int *)(ws + per_thread * b->n_threads), *blk_row = blk_seq + max_blocks;
  int nb = make_blocks(cu_seqlens, n_seqs, blk_seq, blk_row);
  fwd_args a = {out, lse, q, k, v, cu_seqlens, blk_seq, blk_row, hq, hkv, hd, scale, ws};
  zr_pool_run(zr_cpu(b)->pool, (int64_t)nb * hq, 1, attn_fwd_task, &a);
  return 0;
}

/* ---- backward ---------------------------------------------------------------------------- */

typedef struct {
  float *dq, *dk, *dv;
  const float *dout, *q, *k, *v, *out, *lse;
  const int *cu;
  int hq, hkv, hd, max_len;
  float scale;
  float *scratch; /* per thread max_len floats */
} bwd_args;

/* One task = one (sequence, kv head): it owns dk/dv of that head and dq of its query heads
 * over the sequence, so tasks never write the same memory. */
static void attn_bwd_task(void *arg, int tid, int64_t s, int64_t e) {
  bwd_args *a = arg;
  int hd = a->hd, qd = a->hq * hd, kvd = a->hkv * hd, group = a->hq / a->hkv;
  float *p = a->scratch + (size_t)tid * a->max_len;
  for (int64_t t = s; t < e; t++) {
    int seq = (int)(t / a->hkv), kh = (int)(t % a->hkv);
    int start = a->cu[seq], len = a->cu[seq + 1] - start;
    const float *k = a->k + (size_t)start * kvd + (size_t)kh * hd, *v = a->v + (size_t)start * kvd + (size_t)kh * hd;
    float *dk = a->dk + (size_t)start * kvd + (size_t)kh * hd, *dv = a->dv + (size_t)start * kvd + (size_t)kh * hd;
    for (int j = 0; j < len; j++) {
      memset(dk + (size_t)j * kvd, 0, hd * sizeof(float));
      memset(dv + (size_t)j * kvd, 0, hd * sizeof(float));
    }
    for (int h = kh * group; h < (kh + 1) * group; h++)
      for (int i = 0; i < len; i++) {
        size_t row = (size_t)start + i, at = row * qd + (size_t)h * hd;
        zr_cpu_attn_bwd_row(i, a->q + at, a->dout + at, a->out + at, a->lse[row * a->hq + h], k, v, kvd, hd, a->scale,
                            a->dq + at, dk, dv, p);
      }
  }
}

int zr_cpu_attn_bwd(zr_backend *b, float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                    const float *v, const float *out, const float *lse, const int *cu_seqlens, int n_seqs,
                    int max_seqlen, int hq, int hkv, int hd, float scale) {
  ZR_ASSERT(hkv > 0 && hq % hkv == 0 && hd > 0);
  for (int s = 0; s < n_seqs; s++) ZR_ASSERT(cu_seqlens[s + 1] - cu_seqlens[s] <= max_seqlen);
  float *ws;
  int rc = zr_cpu_workspace(b, (size_t)b->n_threads * (max_seqlen > 0 ? max_seqlen : 1), &ws);
  if (rc) return rc;
  bwd_args a = {dq, dk, dv, dout, q, k, v, out, lse, cu_seqlens, hq, hkv, hd, max_seqlen, scale, ws};
  zr_pool_run(zr_cpu(b)->pool, (int64_t)n_seqs * hkv, 1, attn_bwd_task, &a);
  return 0;
}

/* ---- KV cache ------------------------------------------------------------------------------ */

typedef struct {
  float *kc, *vc;
  const float *k, *v;
  const int *rows;
  int kvd;
} store_args;

static void kv_store_task(void *arg, int tid, int64_t s, int64_t e) {
  store_args *a = arg;
  size_t bytes = (size_t)a->kvd * sizeof(float);
  for (int64_t i = s; i < e; i++) {
    memcpy(a->kc + (size_t)a->rows[i] * a->kvd, a->k + (size_t)i * a->kvd, bytes);
    memcpy(a->vc + (size_t)a->rows[i] * a->kvd, a->v + (size_t)i * a->kvd, bytes);
  }
}

void zr_cpu_kv_store(zr_backend *b, float *kc, float *vc, const float *k, const float *v, const int *rows, int n,
                     int kvd) {
  store_args a = {kc, vc, k, v, rows, kvd};
  zr_pool_run(zr_cpu(b)->pool, n, zr_cpu_grain(b, n, 8), kv_store_task, &a);
}

typedef struct {
  float *out;
  const float *q, *kc, *vc;
  const int *cu_q, *slot, *kv_len;
  const int *blk_seq, *blk_row;
  int hq, hkv, hd, max_len;
  float scale;
  float *scratch;
} cached_args;

static void attn_cached_task(void *arg, int tid, int64_t s, int64_t e) {
  cached_args *a = arg;
  int qd = a->hq * a->hd, kvd = a->hkv * a->hd, group = a->hq / a->hkv;
  float *acc = a->scratch + (size_t)tid * BQ * a->hd;
  for (int64_t t = s; t < e; t++) {
    int blk = (int)(t / a->hq), h = (int)(t % a->hq), kh = h / group;
    int seq = a->blk_seq[blk], r0 = a->blk_row[blk];
    int start = a->cu_q[seq], n_new = a->cu_q[seq + 1] - start;
    int nq = n_new - r0 < BQ ? n_new - r0 : BQ;
    int pos0 = a->kv_len[seq] - n_new + r0;
    size_t row = (size_t)start + r0, base = (size_t)a->slot[seq] * a->max_len * kvd + (size_t)kh * a->hd;
    zr_cpu_attend_rows(a->q + row * qd + (size_t)h * a->hd, qd, nq, pos0, a->kc + base, a->vc + base, kvd, a->hd,
                       a->scale, a->out + row * qd + (size_t)h * a->hd, qd, NULL, 0, acc);
  }
}

int zr_cpu_attn_cached(zr_backend *b, float *out, const float *q, const float *kc, const float *vc, const int *cu_q,
                       const int *slot, const int *kv_len, int n_seqs, int max_q, int max_kv, int max_len, int hq,
                       int hkv, int hd, float scale) {
  ZR_ASSERT(hkv > 0 && hq % hkv == 0 && hd > 0 && hd <= MAX_HD);
  int n = cu_q[n_seqs], max_blocks = n / BQ + n_seqs + 1;
  for (int s = 0; s < n_seqs; s++)
    ZR_ASSERT(kv_len[s] >= cu_q[s + 1] - cu_q[s] && kv_len[s] <= max_len);
  size_t per_thread = (size_t)BQ * hd;
  float *ws;
  int rc = zr_cpu_workspace(b, per_thread * b->n_threads + 2 * (size_t)max_blocks, &ws);
  if (rc) return rc;
  int *blk_seq = (int *)(ws + per_thread * b->n_threads), *blk_row = blk_seq + max_blocks;
  int nb = make_blocks(cu_q, n_seqs, blk_seq, blk_row);
  cached_args a = {out, q, kc, vc, cu_q, slot, kv_len, blk_seq, blk_row, hq, hkv, hd, max_len, scale, ws};
  zr_pool_run(zr_cpu(b)->pool, (int64_t)nb * hq, 1, attn_cached_task, &a);
  return 0;
}
