/* backend_cpu.c: the CPU backend (backend.h): memory, OpenBLAS GEMMs, and the elementwise, row,
 * normalisation, RoPE and optimizer ops on a pthread pool. Attention is in backend_cpu_attn.c,
 * the fused LM head in backend_cpu_lmhead.c. */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/error.h"
#include "model/backend_cpu_impl.h"

#define ALIGN 64
#define COLS_BLOCK 64 /* columns per task in column-parallel reductions */

/* ---- memory ---------------------------------------------------------------------------- */

/* Buffers of at least HUGE_MIN bytes (weights, gradients, optimizer moments, the KV cache) are
 * 2 MiB-aligned and asked to be backed by transparent huge pages (MADV_HUGEPAGE; honoured when
 * /sys/kernel/mm/transparent_hugepage/enabled is "madvise" or "always"): a decode step streams
 * every weight once, and with 4 KiB pages its read rate varied with TLB misses. */
#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_MIN ((size_t)8 << 20)

static int cpu_alloc(zr_backend *b, void **out, size_t bytes) {
  size_t n = (bytes + ALIGN - 1) / ALIGN * ALIGN;
  if (n == 0) n = ALIGN;
  bool huge = n >= HUGE_MIN;
  if (huge) n = (n + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
  void *p = aligned_alloc(huge ? HUGE_PAGE : ALIGN, n);
  if (!p) {
    *out = NULL;
    return zr_seterr(-ENOMEM, "cpu backend: cannot allocate %zu bytes", bytes);
  }
#ifdef MADV_HUGEPAGE
  if (huge) (void)madvise(p, n, MADV_HUGEPAGE); /* advice only: without THP the pages stay 4 KiB */
#endif
  memset(p, 0, n);
  *out = p;
  return 0;
}

static void cpu_free(zr_backend *b, void *p) { free(p); }
static void cpu_copy(zr_backend *b, void *dst, const void *src, size_t bytes) {
  if (bytes && dst != src) memmove(dst, src, bytes);
}
static void cpu_zero(zr_backend *b, void *dst, size_t bytes) {
  if (bytes) memset(dst, 0, bytes);
}
static void cpu_sync(zr_backend *b) {}

int zr_cpu_workspace(zr_backend *b, size_t floats, float **out) {
  zr_cpu_ctx *c = zr_cpu(b);
  if (floats > c->ws_cap) {
    size_t cap = floats + floats / 4;
    float *p = aligned_alloc(ALIGN, (cap * sizeof(float) + ALIGN - 1) / ALIGN * ALIGN);
    if (!p) return zr_seterr(-ENOMEM, "cpu backend: cannot allocate a workspace of %zu floats", floats);
    free(c->ws);
    c->ws = p;
    c->ws_cap = cap;
  }
  *out = c->ws;
  return 0;
}

static void cpu_destroy(zr_backend *b) {
  zr_cpu_ctx *c = zr_cpu(b);
  if (c) {
    zr_pool_free(&c->pool);
    free(c->ws);
    free(c);
  }
  free(b);
}

/* ---- GEMM ------------------------------------------------------------------------------ */

/* OpenBLAS runs single-threaded (openblas_set_num_threads(1) at construction) and the pool splits
 * each GEMM into pieces along the larger of C's two dimensions, one sgemm call per piece. OpenBLAS
 * threads split the same way (over m and n, never k), so every element of C gets the same bits as
 * from a threaded OpenBLAS call; but its threads no longer spin (sched_yield) against the pool's
 * between GEMMs, which cost a sixth of a 0.5B training step's CPU time. x W^T with few rows
 * (decoding, a short prefill) goes to zr_cpu_vec_gemm_nt instead, which streams W once without
 * packing it: OpenBLAS's packing of W is a serial pass over memory before each piece computes
 * (38% of a 32-row decode step); up to ~48 rows the unpacked kernel is faster. */
#define GEMM_SPLIT_MIN 64 /* rows/columns per piece at least */
#define GEMM_SMALL_M 48   /* x W^T with at most this many rows: zr_cpu_vec_gemm_nt */
#define GEMM_NT_BLOCK 64  /* W rows per task in zr_cpu_vec_gemm_nt */

typedef struct {
  bool ta, tb, split_m;
  int m, n, k, lda, ldb, ldc, piece;
  float alpha, beta;
  const float *A, *B;
  float *C;
} gemm_args;

static void gemm_task(void *arg, int tid, int64_t s, int64_t e) {
  gemm_args *g = arg;
  for (int64_t p = s; p < e; p++) {
    int dim = g->split_m ? g->m : g->n, i0 = (int)p * g->piece, i1 = i0 + g->piece < dim ? i0 + g->piece : dim;
    if (i0 >= i1) continue;
    const float *A = g->A, *B = g->B;
    float *C = g->C;
    int m = g->m, n = g->n;
    if (g->split_m) {
      A += g->ta ? (size_t)i0 : (size_t)i0 * g->lda;
      C += (size_t)i0 * g->ldc;
      m = i1 - i0;
    } else {
      B += g->tb ? (size_t)i0 * g->ldb : (size_t)i0;
      C += i0;
      n = i1 - i0;
    }
    cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans, m, n, g->k,
                g->alpha, A, g->lda, B, g->ldb, g->beta, C, g->ldc);
  }
}

static void gemm_nt_task(void *arg, int tid, int64_t s, int64_t e) {
  gemm_args *g = arg;
  zr_cpu_vec_gemm_nt(g->m, (int)s, (int)e, g->k, g->alpha, g->A, g->lda, g->B, g->ldb, g->beta, g->C, g->ldc);
}

static void cpu_gemm(zr_backend *b, bool ta, bool tb, int m, int n, int k, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
  ZR_ASSERT(m >= 0 && n >= 0 && k >= 0);
  if (m == 0 || n == 0) return;
  if (k == 0) { /* C = beta C; BLAS implementations differ on k = 0 */
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) C[(size_t)i * ldc + j] = beta == 0 ? 0 : beta * C[(size_t)i * ldc + j];
    return;
  }
  gemm_args g = {ta, tb, m >= n, m, n, k, lda, ldb, ldc, 0, alpha, beta, A, B, C};
  zr_pool *pool = zr_cpu(b)->pool;
  if (!ta && tb && m <= GEMM_SMALL_M) {
    zr_pool_run(pool, n, GEMM_NT_BLOCK, gemm_nt_task, &g);
    return;
  }
  int T = zr_pool_size(pool), dim = g.split_m ? m : n;
  double work = 2.0 * m * n * k;
  int pieces = T == 1 || work < 4e6 || dim < 2 * GEMM_SPLIT_MIN ? 1 : T;
  if (pieces > 1 && dim >= 4 * T * GEMM_SPLIT_MIN) pieces = 2 * T; /* some balance if a thread is slow */
  int piece = (dim + pieces - 1) / pieces;
  piece = (piece + 15) / 16 * 16;
  g.piece = piece;
  zr_pool_run(pool, (dim + piece - 1) / piece, 1, gemm_task, &g);
}

static void cpu_gemm_batched(zr_backend *b, bool ta, bool tb, int m, int n, int k, float alpha, const float *A,
                             int lda, int64_t sa, const float *B, int ldb, int64_t sb, float beta, float *C, int ldc,
                             int64_t sc, int batch) {
  for (int i = 0; i < batch; i++)
    cpu_gemm(b, ta, tb, m, n, k, alpha, A + i * sa, lda, B + i * sb, ldb, beta, C + i * sc, ldc);
}

/* ---- elementwise ----------------------------------------------------------------------- */

typedef struct {
  float *y;
  const float *x, *x2;
  float *y2;
  float alpha;
  int d;
} ew_args;

static void add_task(void *arg, int tid, int64_t s, int64_t e) {
  ew_args *a = arg;
  for (int64_t i = s; i < e; i++) a->y[i] += a->x[i];
}
static void cpu_add(zr_backend *b, float *y, const float *x, size_t n) {
  ew_args a = {.y = y, .x = x};
  zr_pool_run(zr_cpu(b)->pool, (int64_t)n, 1 << 14, add_task, &a);
}

static void scale_task(void *arg, int tid, int64_t s, int64_t e) {
  ew_args *a = arg;
  for (int64_t i = s; i < e; i++) a->y[i] *= a->alpha;
}
static void cpu_scale(zr_backend *b, float *y, float alpha, size_t n) {
  ew_args a = {.y = y, .alpha = alpha};
  zr_pool_run(zr_cpu(b)->pool, (int64_t)n, 1 << 14, scale_task, &a);
}

static void bias_fwd_task(void *arg, int tid, int64_t s, int64_t e) {
  ew_args *a = arg;
  for (int64_t i = s; i < e; i++) {
    float *y = a->y + i * a->d;
    for (int j = 0; j < a->d; j++) y[j] += a->x[j];
  }
}
static void cpu_bias_fwd(zr_backend *b, float *y, const float *bias, int n, int d) {
  ew_args a = {.y = y, .x = bias, .d = d};
  zr_pool_run(zr_cpu(b)->pool, n, zr_cpu_grain(b, n, 16), bias_fwd_task, &a);
}

typedef struct {
  float *out;        /* [d] += column sums */
  const float *a, *x; /* rows of width d; column sum of a (or of a*x*scale[i] when x) */
  const float *rowscale;
  int n, d;
} colsum_args;

/* out[j] += sum_i a[i,j] (* x[i,j] * rowscale[i]), in double, rows in order: deterministic and
 * independent of the thread count. Tasks are blocks of COLS_BLOCK columns. */
static void colsum_task(void *arg, int tid, int64_t s, int64_t e) {
  colsum_args *c = arg;
  for (int64_t blk = s; blk < e; blk++) {
    int j0 = (int)blk * COLS_BLOCK, j1 = j0 + COLS_BLOCK < c->d ? j0 + COLS_BLOCK : c->d;
    double acc[COLS_BLOCK] = {0};
    for (int i = 0; i < c->n; i++) {
      const float *a = c->a + (size_t)i * c->d;
      if (c->x) {
        const float *x = c->x + (size_t)i * c->d;
        double r = c->rowscale[i];
        for (int j = j0; j < j1; j++) acc[j - j0] += (double)a[j] * x[j] * r;
      } else {
        for (int j = j0; j < j1; j++) acc[j - j0] += a[j];
      }
    }
    for (int j = j0; j < j1; j++) c->out[j] += (float)acc[j - j0];
  }
}

static void colsum(zr_backend *b, colsum_args *c) {
  int64_t blocks = (c->d + COLS_BLOCK - 1) / COLS_BLOCK;
  zr_pool_run(zr_cpu(b)->pool, blocks, 1, colsum_task, c);
}

static void cpu_bias_bwd(zr_backend *b, float *dbias, const float *dy, int n, int d) {
  colsum_args c = {.out = dbias, .a = dy, .n = n, .d = d};
  colsum(b, &c);
}

static void swiglu_fwd_task(void *arg, int tid, int64_t s, int64_t e) {
  ew_args *a = arg;
  for (int64_t i = s; i < e; i++) {
    float g = a->x[i];
    a->y[i] = g / (1.0f + expf(-g)) * a->x2[i];
  }
}
static void cpu_swiglu_fwd(zr_backend *b, float *out, const float *g, const float *u, size_t n) {
  ew_args a = {.y = out, .x = g, .x2 = u};
  zr_pool_run(zr_cpu(b)->pool, (int64_t)n, 1 << 13, swiglu_fwd_task, &a);
}

typedef struct {
  float *dg, *du;
  const float *dout, *g, *u;
} swiglu_bwd_args;
static void swiglu_bwd_task(void *arg, int tid, int64_t s, int64_t e) {
  swiglu_bwd_args *a = arg;
  for (int64_t i = s; i < e; i++) {
    float g = a->g[i], sig = 1.0f / (1.0f + expf(-g)), silu = g * sig;
    float dsilu = sig * (1.0f + g * (1.0f - sig)), d = a->dout[i];
    a->dg[i] = d * a->u[i] * dsilu;
    a->du[i] = d * silu;
  }
}
static void cpu_swiglu_bwd(zr_backend *b, float *dg, float *du, const float *dout, const float *g, const float *u,
                           size_t n) {
  swiglu_bwd_args a = {dg, du, dout, g, u};
  zr_pool_run(zr_cpu(b)->pool, (int64_t)n, 1 << 13, swiglu_bwd_task, &a);
}

/* ---- reductions over gradients and the optimizer ----------------------------------------- */

/* Reductions work on fixed blocks of RED_BLOCK elements whatever the thread count, so their
 * results are the same bits for any number of threads. */
#define RED_BLOCK (1 << 15)

static size_t red_blocks(size_t n) { return (n + RED_BLOCK - 1) / RED_BLOCK; }

/* One block's sum of squares: four interleaved double partials combined in a fixed order. */
static double block_sumsq(const float *x, size_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += (double)x[i] * x[i];
    s1 += (double)x[i + 1] * x[i + 1];
    s2 += (double)x[i + 2] * x[i + 2];
    s3 += (double)x[i + 3] * x[i + 3];
  }
  for (; i < n; i++) s0 += (double)x[i] * x[i];
  return (s0 + s1) + (s2 + s3);
}

typedef struct {
  const float *x;
  size_t n;
  double *part;
} sumsq_args;
static void sumsq_task(void *arg, int tid, int64_t s, int64_t e) {
  sumsq_args *a = arg;
  for (int64_t blk = s; blk < e; blk++) {
    size_t i0 = (size_t)blk * RED_BLOCK, len = a->n - i0 < RED_BLOCK ? a->n - i0 : RED_BLOCK;
    a->part[blk] = block_sumsq(a->x + i0, len);
  }
}
static double cpu_sumsq(zr_backend *b, const float *x, size_t n) {
  size_t blocks = red_blocks(n);
  double stack[64], *part = blocks <= 64 ? stack : malloc(blocks * sizeof(double)), acc = 0;
  if (!part) { /* no memory for the partials: the same blocks in the same order on this thread */
    for (size_t i = 0; i < blocks; i++) acc += block_sumsq(x + i * RED_BLOCK, i + 1 < blocks ? RED_BLOCK : n - i * RED_BLOCK);
    return acc;
  }
  sumsq_args a = {x, n, part};
  zr_pool_run(zr_cpu(b)->pool, (int64_t)blocks, 1, sumsq_task, &a);
  for (size_t i = 0; i < blocks; i++) acc += part[i];
  if (part != stack) free(part);
  return acc;
}

typedef struct {
  const float *x;
  size_t n;
  _Atomic size_t first; /* lowest bad index found so far, n when none */
} nonfinite_args;
static void nonfinite_task(void *arg, int tid, int64_t s, int64_t e) {
  nonfinite_args *a = arg;
  for (int64_t blk = s; blk < e; blk++) {
    size_t i0 = (size_t)blk * RED_BLOCK, i1 = a->n - i0 < RED_BLOCK ? a->n : i0 + RED_BLOCK;
    if (i0 >= atomic_load(&a->first)) return; /* an earlier block already has one */
    float acc = 0; /* x * 0 is NaN exactly when x is NaN or inf: a vectorisable pre-check */
    for (size_t i = i0; i < i1; i++) acc += a->x[i] * 0.0f;
    if (acc == acc) continue;
    size_t i = i0;
    while (isfinite(a->x[i])) i++;
    size_t cur = atomic_load(&a->first);
    while (i < cur && !atomic_compare_exchange_weak(&a->first, &cur, i)) {
    }
    return; /* later blocks of this task cannot hold a lower index */
  }
}
static size_t cpu_first_nonfinite(zr_backend *b, const float *x, size_t n) {
  nonfinite_args a = {.x = x, .n = n};
  atomic_init(&a.first, n);
  zr_pool_run(zr_cpu(b)->pool, (int64_t)red_blocks(n), 1, nonfinite_task, &a);
  return atomic_load(&a.first);
}

typedef struct {
  float *p, *m, *v;
  const float *g;
  zr_adamw_coef c;
} adamw_args;
static void adamw_task(void *arg, int tid, int64_t s, int64_t e) {
  adamw_args *a = arg;
  zr_cpu_vec_adamw(a->p, a->g, a->m, a->v, s, e, &a->c);
}
static void cpu_adamw(zr_backend *b, float *p, const float *g, float *m, float *v, size_t n, const zr_adamw_coef *c) {
  adamw_args a = {p, m, v, g, *c};
  zr_pool_run(zr_cpu(b)->pool, (int64_t)n, 1 << 14, adamw_task, &a);
}

/* ---- rows ------------------------------------------------------------------------------ */

typedef struct {
  float *dst;
  const float *src;
  const int *idx;
  int d;
  int add;
} rows_args;

static void gather_task(void *arg, int tid, int64_t s, int64_t e) {
  rows_args *a = arg;
  for (int64_t i = s; i < e; i++)
    memcpy(a->dst + i * a->d, a->src + (size_t)a->idx[i] * a->d, (size_t)a->d * sizeof(float));
}
static void cpu_embed_fwd(zr_backend *b, float *out, const float *table, const int *ids, int n, int d) {
  rows_args a = {out, table, ids, d, 0};
  zr_pool_run(zr_cpu(b)->pool, n, zr_cpu_grain(b, n, 8), gather_task, &a);
}
static void cpu_gather_rows(zr_backend *b, float *dst, const float *src, const int *idx, int n, int d) {
  cpu_embed_fwd(b, dst, src, idx, n, d);
}

typedef struct {
  float *dtable;
  const float *dout;
  const int *ids;
  int n, d;
} embed_bwd_args;
/* column blocks in parallel, tokens in order: deterministic even with repeated ids */
static void embed_bwd_task(void *arg, int tid, int64_t s, int64_t e) {
  embed_bwd_args *a = arg;
  for (int64_t blk = s; blk < e; blk++) {
    int j0 = (int)blk * COLS_BLOCK, j1 = j0 + COLS_BLOCK < a->d ? j0 + COLS_BLOCK : a->d;
    for (int i = 0; i < a->n; i++) {
      float *t = a->dtable + (size_t)a->ids[i] * a->d;
      const float *g = a->dout + (size_t)i * a->d;
      for (int j = j0; j < j1; j++) t[j] += g[j];
    }
  }
}
static void cpu_embed_bwd(zr_backend *b, float *dtable, const float *dout, const int *ids, int n, int d) {
  embed_bwd_args a = {dtable, dout, ids, n, d};
  zr_pool_run(zr_cpu(b)->pool, (d + COLS_BLOCK - 1) / COLS_BLOCK, 1, embed_bwd_task, &a);
}

static void scatter_add_task(void *arg, int tid, int64_t s, int64_t e) {
  rows_args *a = arg;
  for (int64_t i = s; i < e; i++) {
    float *dst = a->dst + (size_t)a->idx[i] * a->d;
    const float *src = a->src + i * a->d;
    for (int j = 0; j < a->d; j++) dst[j] += src[j];
  }
}
static void cpu_scatter_add_rows(zr_backend *b, float *dst, const float *src, const int *idx, int n, int d) {
  rows_args a = {dst, src, idx, d, 1};
  zr_pool_run(zr_cpu(b)->pool, n, zr_cpu_grain(b, n, 8), scatter_add_task, &a);
}

/* ---- RMSNorm --------------------------------------------------------------------------- */

typedef struct {
  float *y, *rstd, *dx;
  const float *x, *w, *dy, *rs;
  int d;
  float eps;
} norm_args;

static void rmsnorm_fwd_task(void *arg, int tid, int64_t s, int64_t e) {
  norm_args *a = arg;
  int d = a->d;
  for (int64_t i = s; i < e; i++) {
    const float *x = a->x + i * d;
    float *y = a->y + i * d;
    double ss = 0;
    for (int j = 0; j < d; j++) ss += (double)x[j] * x[j];
    float r = 1.0f / sqrtf((float)(ss / d) + a->eps);
    for (int j = 0; j < d; j++) y[j] = a->w[j] * (x[j] * r);
    if (a->rstd) a->rstd[i] = r;
  }
}
static void cpu_rmsnorm_fwd(zr_backend *b, float *y, float *rstd, const float *x, const float *w, int n, int d,
                            float eps) {
  norm_args a = {.y = y, .rstd = rstd, .x = x, .w = w, .d = d, .eps = eps};
  zr_pool_run(zr_cpu(b)->pool, n, zr_cpu_grain(b, n, 4), rmsnorm_fwd_task, &a);
}

/* y_j = w_j x_j r with r = (mean x^2 + eps)^-1/2:
 * dx_j = r w_j dy_j - r^3 x_j / d * sum_k w_k dy_k x_k;  dw_j = sum_rows dy_j x_j r. */
static void rmsnorm_bwd_task(void *arg, int tid, int64_t s, int64_t e) {
  norm_args *a = arg;
  int d = a->d;
  for (int64_t i = s; i < e; i++) {
    const float *x = a->x + i * d, *dy = a->dy + i * d;
    float *dx = a->dx + i * d;
    float r = a->rs[i];
    double dot = 0;
    for (int j = 0; j < d; j++) dot += (double)a->w[j] * dy[j] * x[j];
    float c = (float)(dot * r * r * r / d);
    for (int j = 0; j < d; j++) dx[j] += r * a->w[j] * dy[j] - c * x[j];
  }
}
static void cpu_rmsnorm_bwd(zr_backend *b, float *dx, float *dw, const float *dy, const float *x, const float *w,
                            const float *rstd, int n, int d) {
  norm_args a = {.dx = dx, .x = x, .w = w, .dy = dy, .rs = rstd, .d = d};
  zr_pool_run(zr_cpu(b)->pool, n, zr_cpu_grain(b, n, 4), rmsnorm_bwd_task, &a);
  colsum_args c = {.out = dw, .a = dy, .x = x, .rowscale = rstd, .n = n, .d = d};
  colsum(b, &c);
}

/* ---- RoPE ------------------------------------------------------------------------------ */

typedef struct {
  float *x;
  const int *pos;
  const float *inv_freq;
  int heads, hd;
  float scaling;
  bool inverse;
} rope_args;

static void rope_task(void *arg, int tid, int64_t s, int64_t e) {
  rope_args *a = arg;
  int half = a->hd / 2;
  float cs[512], sn[512];
  ZR_ASSERT(half <= 512);
  for (int64_t i = s; i < e; i++) {
    float p = (float)a->pos[i];
    for (int j = 0; j < half; j++) {
      float ang = p * a->inv_freq[j]; /* fp32 product, as transformers computes it */
      cs[j] = cosf(ang) * a->scaling;
      sn[j] = sinf(ang) * a->scaling;
    }
    float sgn = a->inverse ? -1.0f : 1.0f;
    for (int h = 0; h < a->heads; h++) {
      float *x = a->x + (i * a->heads + h) * a->hd;
      for (int j = 0; j < half; j++) {
        float x1 = x[j], x2 = x[j + half], s1 = sgn * sn[j];
        x[j] = x1 * cs[j] - x2 * s1;
        x[j + half] = x2 * cs[j] + x1 * s1;
      }
    }
  }
}
static void cpu_rope(zr_backend *b, float *x, const int *pos, const float *inv_freq, int n, int heads, int head_dim,
                     float attention_scaling, bool inverse) {
  ZR_ASSERT(head_dim % 2 == 0);
  rope_args a = {x, pos, inv_freq, heads, head_dim, attention_scaling, inverse};
  zr_pool_run(zr_cpu(b)->pool, n, zr_cpu_grain(b, n, 4), rope_task, &a);
}

/* ---- sampling (device memory is host memory: zr_sampler_pick on the rows in place) ---------- */

static int cpu_sample(zr_backend *b, const float *logits, int n_rows, size_t ld, int vocab, int n,
                      const zr_sample_req *req, zr_sample *out) {
  if (vocab < 1 || ld < (size_t)vocab) return zr_seterr(-EINVAL, "sampler: vocab %d, row stride %zu", vocab, ld);
  for (int j = 0; j < n; j++)
    if (req[j].row < 0 || req[j].row >= n_rows)
      return zr_seterr(-EINVAL, "sampler: row %d outside [0, %d)", req[j].row, n_rows);
  float *scratch = n > 0 ? malloc(zr_sampler_scratch_floats(vocab) * sizeof(float)) : NULL;
  if (n > 0 && !scratch) return zr_seterr(-ENOMEM, "cpu backend: out of memory");
  int rc = 0;
  for (int j = 0; j < n && !rc; j++)
    rc = zr_sampler_pick(&req[j].s, logits + (size_t)req[j].row * ld, vocab, req[j].seed, req[j].sequence,
                         req[j].position, scratch, &out[j]);
  free(scratch);
  return rc;
}

/* ---- collectives ----------------------------------------------------------------------- */

static int cpu_all_reduce_sum(zr_backend *b, float *x, size_t n) { return 0; }

/* ---- construction ---------------------------------------------------------------------- */

int zr_backend_cpu_new(zr_backend **out, int n_threads) {
  *out = NULL;
  if (n_threads <= 0) {
    const char *env = getenv("ZERORL_THREADS");
    n_threads = env && atoi(env) > 0 ? atoi(env) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n_threads <= 0) n_threads = 1;
  }
  zr_backend *b = calloc(1, sizeof *b);
  zr_cpu_ctx *c = calloc(1, sizeof *c);
  if (!b || !c) {
    free(b);
    free(c);
    return zr_seterr(-ENOMEM, "cpu backend: out of memory");
  }
  b->ctx = c;
  c->lmhead_tile = (size_t)1 << 22;
  int rc = zr_pool_new(&c->pool, n_threads);
  if (rc) {
    cpu_destroy(b);
    return rc;
  }
  openblas_set_num_threads(1); /* the pool splits GEMMs itself (cpu_gemm) */
  b->name = "cpu";
  b->n_threads = n_threads;
  b->rank = 0;
  b->world_size = 1;
  b->destroy = cpu_destroy;
  b->alloc = cpu_alloc;
  b->free = cpu_free;
  b->upload = cpu_copy;
  b->download = cpu_copy;
  b->copy = cpu_copy;
  b->zero = cpu_zero;
  b->sync = cpu_sync;
  b->gemm = cpu_gemm;
  b->gemm_batched = cpu_gemm_batched;
  b->sample = cpu_sample;
  b->add = cpu_add;
  b->scale = cpu_scale;
  b->bias_fwd = cpu_bias_fwd;
  b->bias_bwd = cpu_bias_bwd;
  b->swiglu_fwd = cpu_swiglu_fwd;
  b->swiglu_bwd = cpu_swiglu_bwd;
  b->sumsq = cpu_sumsq;
  b->first_nonfinite = cpu_first_nonfinite;
  b->adamw = cpu_adamw;
  b->embed_fwd = cpu_embed_fwd;
  b->embed_bwd = cpu_embed_bwd;
  b->gather_rows = cpu_gather_rows;
  b->scatter_add_rows = cpu_scatter_add_rows;
  b->rmsnorm_fwd = cpu_rmsnorm_fwd;
  b->rmsnorm_bwd = cpu_rmsnorm_bwd;
  b->rope = cpu_rope;
  b->attn_fwd = zr_cpu_attn_fwd;
  b->attn_bwd = zr_cpu_attn_bwd;
  b->kv_store = zr_cpu_kv_store;
  b->attn_cached = zr_cpu_attn_cached;
  b->lmhead_fwd = zr_cpu_lmhead_fwd;
  b->lmhead_bwd = zr_cpu_lmhead_bwd;
  b->all_reduce_sum = cpu_all_reduce_sum;
  *out = b;
  return 0;
}

void zr_backend_free(zr_backend **b) {
  if (!*b) return;
  (*b)->destroy(*b);
  *b = NULL;
}
