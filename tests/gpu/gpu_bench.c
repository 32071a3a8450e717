/* gpu_bench: training-step and decode throughput of zerorl on the CUDA (or CPU) backend, for
 * tests/gpu/check.sh's comparison with PyTorch (tests/gpu/torch_bench.py runs the same shapes).
 *
 *   gpu_bench --shape small|0.5b [--backend cuda|cpu] [--dtype f32|bf16] [--batch B] [--seq T]
 *             [--steps N] [--decode-seqs S] [--prompt P] [--new K]
 *
 * Shapes (random weights, std 0.02, fp32): "small" = Qwen2-style 4 layers, hidden 512, vocab
 * 32000; "0.5b" = Qwen2.5-0.5B (24 layers, hidden 896, 14/2 heads, MLP 4864, vocab 151936,
 * tied). Training: B sequences of T tokens, loss -mean log p(next token); a step is zero_grads +
 * forward_train + backward + AdamW; one untimed warm-up step, then the median of N. Decode:
 * greedy zr_tf_generate of K new tokens for S prompts of P tokens (prefill included in the time).
 * --dtype bf16 runs the CUDA backend in bf16 mode (zr_backend_cuda_set_bf16). Besides times the
 * JSON line carries what check.sh's summary needs for MFU and the decode roofline: the training
 * FLOPs per step and the bytes one decode step must read (weights in the GEMM dtype, the KV cache
 * at the mean context); the summary divides by the device's peaks.
 * Prints one JSON line; exit 77 when the CUDA backend is asked for and no device is visible. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "cuda/backend_cuda.h"
#include "cuda/device.h"
#include "model/backend.h"
#include "model/optim.h"
#include "model/sampler.h"
#include "model/transformer.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int fail(const char *what) {
  fprintf(stderr, "gpu_bench: %s: %s\n", what, zr_errmsg());
  return 1;
}

int main(int argc, char **argv) {
  const char *shape = "small", *backend = "cuda", *dtype = "f32";
  int B = 8, T = 256, steps = 3, S = 16, P = 32, K = 128;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *o = argv[i], *v = argv[i + 1];
    if (!strcmp(o, "--shape")) shape = v;
    else if (!strcmp(o, "--backend")) backend = v;
    else if (!strcmp(o, "--dtype")) dtype = v;
    else if (!strcmp(o, "--batch")) B = atoi(v);
    else if (!strcmp(o, "--seq")) T = atoi(v);
    else if (!strcmp(o, "--steps")) steps = atoi(v);
    else if (!strcmp(o, "--decode-seqs")) S = atoi(v);
    else if (!strcmp(o, "--prompt")) P = atoi(v);
    else if (!strcmp(o, "--new")) K = atoi(v);
    else {
      fprintf(stderr, "gpu_bench: unknown option %s\n", o);
      return 2;
    }
  }
  if (steps < 1 || steps > 64 || B < 1 || T < 2 || S < 1 || P < 1 || K < 1) return 2;
  const bool bf16 = !strcmp(dtype, "bf16");
  if (!bf16 && strcmp(dtype, "f32")) {
    fprintf(stderr, "gpu_bench: --dtype %s: expected f32 or bf16\n", dtype);
    return 2;
  }
  zr_model_config c = {0};
  c.arch = ZR_ARCH_QWEN2, c.rope_theta = 1e6, c.rms_norm_eps = 1e-6, c.attention_bias = true;
  c.bos_token_id = -1, c.torch_dtype = ZR_DT_F32, c.max_position_embeddings = 32768;
  if (!strcmp(shape, "0.5b")) {
    c.vocab_size = 151936, c.hidden_size = 896, c.num_layers = 24, c.num_heads = 14, c.num_kv_heads = 2;
    c.head_dim = 64, c.intermediate_size = 4864, c.tie_word_embeddings = true;
  } else {
    c.vocab_size = 32000, c.hidden_size = 512, c.num_layers = 4, c.num_heads = 8, c.num_kv_heads = 2;
    c.head_dim = 64, c.intermediate_size = 1408, c.tie_word_embeddings = false;
  }
  zr_backend *be = NULL;
  if (!strcmp(backend, "cuda")) {
    char why[256];
    if (zr_cuda_device_count(why, sizeof why) <= 0) {
      printf("gpu_bench: no CUDA device (%s): skipped\n", why);
      return 77;
    }
    if (zr_backend_cuda_new(&be, 0)) return fail("cuda backend");
    if (bf16 && zr_backend_cuda_set_bf16(be, true)) return fail("bf16 mode");
  } else if (bf16) {
    fprintf(stderr, "gpu_bench: --dtype bf16 needs --backend cuda\n");
    return 2;
  } else if (zr_backend_cpu_new(&be, 0)) {
    return fail("cpu backend");
  }
  zr_tf *m = NULL;
  zr_adamw *opt = NULL;
  zr_adamw_config ac = zr_adamw_defaults();
  if (zr_tf_new(&m, &c, be) || zr_tf_init_random(m, 1, 0.02f)) return fail("model");
  if (zr_tf_zero_grads(m) || zr_adamw_new(&opt, be, zr_tf_n_floats(m), &ac, NULL, 0)) return fail("optimizer");

  /* training */
  int n = B * T, *lens = malloc(B * sizeof(int)), *tok = malloc(n * sizeof(int)), *tg = malloc(n * sizeof(int));
  float *w = malloc(n * sizeof(float)), *lp = malloc(n * sizeof(float));
  for (int s = 0; s < B; s++) lens[s] = T;
  for (int i = 0; i < n; i++) tok[i] = (int)((i * 2654435761u) % (unsigned)c.vocab_size);
  for (int i = 0; i < n; i++) tg[i] = (i + 1) % T ? tok[i + 1] : -1, w[i] = 1.0f / n;
  zr_tf_batch bt = {.n_seqs = B, .seq_lens = lens, .tokens = tok, .targets = tg};
  zr_tf_outputs out = {.logprobs = lp};
  double times[65], loss0 = 0, loss1 = 0;
  for (int st = 0; st <= steps; st++) {
    double t0 = now_s();
    if (zr_tf_zero_grads(m) || zr_tf_forward_train(m, &bt, &out) || zr_tf_backward(m, w) ||
        zr_adamw_step(opt, zr_tf_params(m), zr_tf_grads(m), 1e-4))
      return fail("training step");
    be->sync(be);
    times[st] = now_s() - t0;
    double loss = 0;
    for (int i = 0; i < n; i++) loss -= w[i] * lp[i];
    if (st == 0) loss0 = loss;
    loss1 = loss;
  }
  qsort(times + 1, steps, sizeof(double), cmp_d);
  double step_s = times[1 + steps / 2];
  double flops = 6.0 * (double)zr_tf_n_params(m) * n /* matmuls, fwd + bwd */
                 + 6.0 * 2 * c.num_layers * (double)c.num_heads * c.head_dim * B * (double)T * T / 2; /* causal attention */

  /* decode */
  int *prompts = malloc((size_t)S * P * sizeof(int)), *plens = malloc(S * sizeof(int)), *gen = malloc((size_t)S * K * sizeof(int));
  zr_gen_result *res = malloc(S * sizeof *res);
  for (int s = 0; s < S; s++) plens[s] = P;
  for (int i = 0; i < S * P; i++) prompts[i] = (int)((i * 40503u + 7) % (unsigned)c.vocab_size);
  zr_gen_config g = {.max_new_tokens = K, .sampling = {.temperature = 0, .top_p = 1}, .seed = 1};
  zr_kvcache *kv = NULL;
  if (zr_kv_new(&kv, m, S, P + K)) return fail("kv cache");
  if (zr_tf_generate(m, kv, S, plens, prompts, NULL, &g, gen, NULL, res)) return fail("generate"); /* warm-up */
  double t0 = now_s();
  if (zr_tf_generate(m, kv, S, plens, prompts, NULL, &g, gen, NULL, res)) return fail("generate");
  double dec_s = now_s() - t0;
  long new_tokens = 0;
  for (int s = 0; s < S; s++) new_tokens += res[s].n_tokens;
  /* one decode step reads every weight matrix once (the input embedding only by rows when it is
   * not tied) and each sequence's keys and values (fp32) at the mean context */
  const double wbytes = bf16 ? 2.0 : 4.0, mean_ctx = P + K / 2.0;
  double step_bytes = ((double)zr_tf_n_params(m) - (c.tie_word_embeddings ? 0.0 : (double)c.vocab_size * c.hidden_size)) * wbytes +
                      (double)S * mean_ctx * 2.0 * c.num_layers * c.num_kv_heads * c.head_dim * 4.0;
  /* sampling 64 rows of the vocabulary at t = 0.7, top-p 0.95: the backend's sample op against
   * downloading the rows and zr_sampler_pick (what a caller does without the op) */
  enum { SR = 64 };
  double smp_dev_ms = -1, smp_host_ms = -1;
  {
    const int V = c.vocab_size;
    float *hl = malloc((size_t)SR * V * sizeof(float)), *dl = NULL;
    float *scratch = malloc(zr_sampler_scratch_floats(V) * sizeof(float));
    zr_sample_req rq[SR];
    zr_sample so[SR];
    for (size_t i = 0; i < (size_t)SR * V; i++) hl[i] = (float)((i * 2654435761u) % 1000u) / 100.0f;
    for (int j = 0; j < SR; j++) rq[j] = (zr_sample_req){.row = j, .s = {0.7f, 0, 0.95f, 0}, .seed = 3, .sequence = (uint64_t)j, .position = 5};
    if (be->alloc(be, (void **)&dl, (size_t)SR * V * sizeof(float))) return fail("sample buffer");
    be->upload(be, dl, hl, (size_t)SR * V * sizeof(float));
    if (be->sample) {
      if (be->sample(be, dl, SR, (size_t)V, V, SR, rq, so)) return fail("sample op"); /* warm-up */
      double t1 = now_s();
      for (int r = 0; r < 5; r++)
        if (be->sample(be, dl, SR, (size_t)V, V, SR, rq, so)) return fail("sample op");
      smp_dev_ms = (now_s() - t1) / 5 * 1e3;
    }
    double t1 = now_s();
    for (int r = 0; r < 2; r++) {
      be->download(be, hl, dl, (size_t)SR * V * sizeof(float));
      for (int j = 0; j < SR; j++)
        if (zr_sampler_pick(&rq[j].s, hl + (size_t)j * V, V, rq[j].seed, rq[j].sequence, rq[j].position, scratch, &so[j]))
          return fail("sampler");
    }
    smp_host_ms = (now_s() - t1) / 2 * 1e3;
    be->free(be, dl);
    free(hl), free(scratch);
  }
  zr_cuda_bf16_stats bst = {0};
  if (bf16) zr_backend_cuda_bf16_stats(be, &bst);

  printf("{\"engine\":\"zerorl-%s\",\"dtype\":\"%s\",\"shape\":\"%s\",\"params\":%zu,\"train_tokens\":%d,"
         "\"train_step_s\":%.4f,\"train_tokens_per_s\":%.1f,\"train_flops\":%.4g,\"train_tflops\":%.2f,"
         "\"loss_first\":%.4f,\"loss_last\":%.4f,\"decode_seqs\":%d,\"decode_tokens_per_s\":%.1f,"
         "\"decode_step_bytes\":%.4g,\"sample_rows\":%d,\"sample_op_ms\":%.3f,\"sample_host_ms\":%.3f,"
         "\"bf16_gemms\":%llu,\"fp32_fallbacks\":%llu}\n",
         backend, dtype, shape, zr_tf_n_params(m), n, step_s, n / step_s, flops, flops / step_s / 1e12, loss0, loss1, S,
         new_tokens / dec_s, step_bytes, SR, smp_dev_ms, smp_host_ms, (unsigned long long)bst.bf16_gemms, (unsigned long long)bst.fp32_fallbacks);
  zr_kv_free(&kv);
  zr_adamw_free(&opt);
  zr_tf_free(&m);
  zr_backend_free(&be);
  free(lens), free(tok), free(tg), free(w), free(lp), free(prompts), free(plens), free(gen), free(res);
  return 0;
}
