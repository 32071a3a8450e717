/* backend.h: the compute backend the transformer runs on (CPU: backend_cpu.c; CUDA: cuda/).
 *
 * A backend is a struct of function pointers plus a context (`ctx`, private to the
 * implementation). The transformer code (transformer.h) is written once against these ops; each
 * backend implements them for its device. Ops are fp32 throughout (master weights, activations,
 * gradients); a backend may compute internally in another precision only where its op tests still
 * pass against the naive references in tests/unit/test_backend_cpu.c, or in a mode the caller
 * opts into (the CUDA backend's bf16 GEMMs, [model] dtype = bf16; tests/gpu/gpu_parity).
 *
 * Memory model
 * - "Device memory" is memory returned by alloc(). Every pointer argument of an op is device
 *   memory, including the int arrays (token ids, positions, cu_seqlens, target ids, row indices):
 *   callers upload them with upload() first. Plain int/float arguments are host values. On the CPU
 *   backend device memory is ordinary host memory (64-byte aligned), so upload/download are memcpy;
 *   a GPU backend must not assume that.
 * - Callers own what they alloc() and free it with free(). The transformer makes one allocation
 *   per role (parameters, gradients, activations, KV cache) and carves tensors out of it by a size
 *   table, so a backend sees few, large allocations.
 * - Ops may need temporary space (per-thread partials, LM-head logit tiles); the backend owns that
 *   workspace, grows it on demand and frees it in destroy(). Ops that may have to grow it return
 *   int (0 or -ENOMEM); the others cannot fail and are void (bad shapes are programmer errors,
 *   checked with ZR_ASSERT).
 * - Ops run in call order on one logical stream: a later op sees the results of earlier ones.
 *   download() and sync() wait for everything issued before them. A backend is used by one host
 *   thread at a time (the CPU backend parallelises inside each op with its own thread pool).
 * - Accumulation: ops documented with "+=" add into their output (gradients of weights always
 *   accumulate so that micro-batches and tied embeddings add up); the others overwrite it.
 *   Outputs never alias inputs unless the op says "in place".
 *
 * Layout conventions
 * - Matrices are row-major. A linear layer's weight is [out, in] as in PyTorch, so y = x W^T is
 *   gemm(ta=false, tb=true).
 * - Activations of N packed tokens are [N, width]; per-head tensors are [N, heads, head_dim].
 * - Packed variable-length sequences are described by cu_seqlens[n_seqs + 1] (cu_seqlens[0] = 0,
 *   cu_seqlens[n_seqs] = N), as in flash-attention's varlen API; max_seqlen is a host bound.
 * - RoPE uses the Hugging Face rotate-half convention: element j of a head pairs with element
 *   j + head_dim/2, angle = position * inv_freq[j] computed in fp32, and cos/sin are multiplied
 *   by attention_scaling (1 except YaRN).
 * - KV cache: for each layer a K and a V tensor of n_slots * max_len rows of n_kv_heads * head_dim
 *   floats; row (slot * max_len + position) holds that slot's key/value at that position (after
 *   RoPE). The cache belongs to the caller (kvcache in transformer.h); ops only index it. */
#ifndef ZR_BACKEND_H
#define ZR_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/sampler.h" /* zr_sampling, zr_sample, zr_sample_req (the sample op) */

typedef struct zr_backend zr_backend;

/* The per-step scalars of the adamw op (step t, learning rate lr), rounded to fp32 from double
 * the way torch hands them to its fp32 kernels. */
typedef struct {
  float decay;     /* 1 - lr * weight_decay (decoupled decay, applied first); 1 = none */
  float w1;        /* 1 - beta1: the lerp weight of m towards g */
  float beta2, w2; /* beta2 and 1 - beta2 */
  float step_size; /* lr / (1 - beta1^t) */
  float bc2_sqrt;  /* sqrt(1 - beta2^t) */
  float eps;
} zr_adamw_coef;

struct zr_backend {
  const char *name; /* "cpu", "cuda" */
  void *ctx;        /* the implementation's state */
  int n_threads;    /* CPU: worker threads per op (including the caller's); informational elsewhere */

  /* ---- lifetime and memory ------------------------------------------------------------- */
  void (*destroy)(zr_backend *b); /* frees ctx and workspace; called by zr_backend_free */
  int (*alloc)(zr_backend *b, void **out, size_t bytes); /* zero-filled; 0 or -ENOMEM */
  void (*free)(zr_backend *b, void *p);                  /* NULL is a no-op */
  void (*upload)(zr_backend *b, void *dst, const void *host_src, size_t bytes);
  void (*download)(zr_backend *b, void *host_dst, const void *src, size_t bytes);
  void (*copy)(zr_backend *b, void *dst, const void *src, size_t bytes);
  void (*zero)(zr_backend *b, void *dst, size_t bytes);
  void (*sync)(zr_backend *b);

  /* ---- dense linear algebra ------------------------------------------------------------ */
  /* C[m,n] = alpha * op(A) op(B) + beta * C, row-major, op(X) = X or X^T; lda/ldb/ldc are the
   * row strides of the matrices as stored. */
  void (*gemm)(zr_backend *b, bool ta, bool tb, int m, int n, int k, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc);
  /* batch independent gemms; matrix i starts at A + i*sa, B + i*sb, C + i*sc. */
  void (*gemm_batched)(zr_backend *b, bool ta, bool tb, int m, int n, int k, float alpha, const float *A, int lda,
                       int64_t sa, const float *B, int ldb, int64_t sb, float beta, float *C, int ldc, int64_t sc,
                       int batch);

  /* ---- elementwise --------------------------------------------------------------------- */
  void (*add)(zr_backend *b, float *y, const float *x, size_t n);            /* y += x */
  void (*scale)(zr_backend *b, float *y, float alpha, size_t n);             /* y *= alpha */
  void (*bias_fwd)(zr_backend *b, float *y, const float *bias, int n, int d); /* y[i,:] += bias */
  void (*bias_bwd)(zr_backend *b, float *dbias, const float *dy, int n, int d); /* dbias += sum_i dy[i,:] */
  /* out = silu(g) * u; backward: dg = dout*u*silu'(g), du = dout*silu(g) (overwrites dg, du). */
  void (*swiglu_fwd)(zr_backend *b, float *out, const float *g, const float *u, size_t n);
  void (*swiglu_bwd)(zr_backend *b, float *dg, float *du, const float *dout, const float *g, const float *u, size_t n);
  /* Sum of squares of x in double (gradient norms); synchronous. NaN or inf when an element is
   * not finite. The same bits for any thread count (the CPU backend sums fixed-size blocks and
   * adds the block sums in index order). */
  double (*sumsq)(zr_backend *b, const float *x, size_t n);
  /* The lowest index of a NaN or inf element of x, or n when every element is finite; synchronous. */
  size_t (*first_nonfinite)(zr_backend *b, const float *x, size_t n);
  /* One AdamW step over n elements, torch.optim.AdamW (foreach=False) operation by operation in
   * fp32 with the scalars of zr_adamw_coef (formed by the caller in double, see optim.c):
   *   p = p * decay; m = lerp(m, g, w1) (at::lerp); v = v * beta2 + w2 * g * g;
   *   p = p + (-step_size) * m / (sqrt(v) / bc2_sqrt + eps).
   * Elementwise, so the result does not depend on the thread count. */
  void (*adamw)(zr_backend *b, float *p, const float *g, float *m, float *v, size_t n, const zr_adamw_coef *c);

  /* ---- rows ---------------------------------------------------------------------------- */
  /* out[i,:] = table[ids[i],:]; backward dtable[ids[i],:] += dout[i,:] (deterministic order). */
  void (*embed_fwd)(zr_backend *b, float *out, const float *table, const int *ids, int n, int d);
  void (*embed_bwd)(zr_backend *b, float *dtable, const float *dout, const int *ids, int n, int d);
  /* dst[i,:] = src[idx[i],:]  and  dst[idx[i],:] += src[i,:] (idx distinct). */
  void (*gather_rows)(zr_backend *b, float *dst, const float *src, const int *idx, int n, int d);
  void (*scatter_add_rows)(zr_backend *b, float *dst, const float *src, const int *idx, int n, int d);

  /* ---- normalisation and rotary embedding ---------------------------------------------- */
  /* RMSNorm over rows of width d (HF: y = w * x / sqrt(mean(x^2) + eps)); rstd[n] is saved for the
   * backward when not NULL. Backward: dx += ..., dw += ... */
  void (*rmsnorm_fwd)(zr_backend *b, float *y, float *rstd, const float *x, const float *w, int n, int d, float eps);
  void (*rmsnorm_bwd)(zr_backend *b, float *dx, float *dw, const float *dy, const float *x, const float *w,
                      const float *rstd, int n, int d);
  /* In place on x[n, heads, head_dim] with pos[n]; inverse = true applies the transposed rotation
   * (the backward). */
  void (*rope)(zr_backend *b, float *x, const int *pos, const float *inv_freq, int n, int heads, int head_dim,
               float attention_scaling, bool inverse);

  /* ---- attention ----------------------------------------------------------------------- */
  /* Causal attention within each packed sequence, GQA (hq a multiple of hkv; q head h uses kv
   * head h / (hq/hkv)): q[N,hq,hd], k,v[N,hkv,hd] -> out[N,hq,hd] and lse[N,hq] (natural-log
   * softmax normaliser of the scaled scores, saved for the backward). */
  int (*attn_fwd)(zr_backend *b, float *out, float *lse, const float *q, const float *k, const float *v,
                  const int *cu_seqlens, int n_seqs, int max_seqlen, int hq, int hkv, int hd, float scale);
  /* Gradients of the above (overwrites dq, dk, dv); needs the forward's out and lse. */
  int (*attn_bwd)(zr_backend *b, float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                  const float *v, const float *out, const float *lse, const int *cu_seqlens, int n_seqs,
                  int max_seqlen, int hq, int hkv, int hd, float scale);
  /* kc[rows[i],:] = k[i,:], vc[rows[i],:] = v[i,:] for rows of width kvd (cache writes). */
  void (*kv_store)(zr_backend *b, float *kc, float *vc, const float *k, const float *v, const int *rows, int n,
                   int kvd);
  /* Attention of new queries over a KV cache. Sequence s has cu_q[s+1]-cu_q[s] new tokens, the
   * last of them at position kv_len[s]-1, and its keys/values at rows slot[s]*max_len + [0,
   * kv_len[s]) of kc/vc (the new tokens' K/V already stored). Query j of sequence s sits at
   * position kv_len[s] - n_new_s + j and attends to keys 0..that position. Decode is the case of
   * one new token per sequence; prefill of an empty slot is the case kv_len = n_new. */
  int (*attn_cached)(zr_backend *b, float *out, const float *q, const float *kc, const float *vc, const int *cu_q,
                     const int *slot, const int *kv_len, int n_seqs, int max_q, int max_kv, int max_len, int hq,
                     int hkv, int hd, float scale);

  /* ---- fused LM head ------------------------------------------------------------------- */
  /* Log-probabilities of target tokens under softmax(h W^T) without holding [N,V] logits: the
   * vocabulary is streamed in chunks of `chunk` rows of W (0 = the backend's default) with an
   * online logsumexp. h[N,d], W[V,d], targets[N] in [0,V) or -1 (no target: logp 0, no gradient).
   * Writes logp[N] and lse[N]; entropy[N] (of the full distribution) when not NULL. */
  int (*lmhead_fwd)(zr_backend *b, float *logp, float *lse, float *entropy, const float *h, const float *W,
                    const int *targets, int n, int d, int vocab, int chunk);
  /* Backward of L with dL/dlogp[i] = dlogp[i]: dh += dlogp_i (W[t_i] - sum_j p_ij W[j]) and
   * dW += (onehot - p)^T diag(dlogp) h, recomputing the logits chunk by chunk from lse. */
  int (*lmhead_bwd)(zr_backend *b, float *dh, float *dW, const float *dlogp, const float *h, const float *W,
                    const int *targets, const float *lse, int n, int d, int vocab, int chunk);

  /* ---- optional ops: NULL where a backend does not have them ----------------------------- */
  /* Sampling without downloading logits: for j < n, out[j] = what zr_sampler_pick(&req[j].s, row
   * req[j].row of logits, vocab, req[j].seed, .sequence, .position) gives, i.e. the same filters
   * and the same Philox draw (model/sampler_philox.h), equal up to float rounding ties. logits is
   * device memory [n_rows, ld] (the first vocab entries of each row are sampled); req and out are
   * HOST arrays. 0, or -EINVAL as zr_sampler_pick (bad parameters, a row out of range, non-finite
   * logits), -ENOMEM or -EIO. NULL: callers download the rows and use sampler.h. */
  int (*sample)(zr_backend *b, const float *logits, int n_rows, size_t ld, int vocab, int n, const zr_sample_req *req,
                zr_sample *out);
  /* Hint: the n floats at p (the start of an alloc()ed block: a model's parameters) are weights,
   * read by gemm many times between writes. A backend may keep a lower-precision copy (the CUDA
   * backend in bf16 mode) and then refreshes it after writes through upload, copy, zero, add,
   * scale and adamw (the ops that write weights); free(p) forgets the hint. */
  void (*weights_hint)(zr_backend *b, const float *p, size_t n);

  /* ---- collectives --------------------------------------------------------------------- */
  /* Sums x over all ranks of the data-parallel group in place (no-op with one process). */
  int (*all_reduce_sum)(zr_backend *b, float *x, size_t n);
  int rank, world_size; /* 0 and 1 on the CPU backend */
};

/* The CPU backend: OpenBLAS sgemm (openblas_set_num_threads(n_threads)) and a pthread pool of
 * n_threads for the other ops. n_threads <= 0 means $ZERORL_THREADS, else the number of online
 * CPUs. OpenBLAS' thread count is process-wide: the last backend created sets it. */
int zr_backend_cpu_new(zr_backend **out, int n_threads);

/* Calls b->destroy and clears the caller's pointer; NULL is a no-op. */
void zr_backend_free(zr_backend **b);

#endif
