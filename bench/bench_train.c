/* bench_train: times zerorl training steps (forward_train + backward + AdamW) of a model directory
 * on the CPU backend, for bench/model.py's comparison with PyTorch eager.
 *
 *   bench_train --model DIR [--batch B] [--seq T] [--steps N] [--warmup W] [--threads T]
 *               [--lr LR] [--recompute]
 *
 * Every step trains on the same fixed batch: B sequences of T token ids drawn from a fixed
 * generator in [0, vocab_size), each position's target the next token of its sequence (the last
 * has none), loss = -sum log p(target) (weights 1). A step is zero_grads, zr_tf_forward_train,
 * zr_tf_backward and zr_adamw_step (torch.optim.AdamW defaults, weight decay on every
 * parameter, lr 1e-4). The first W steps are not timed. Prints one JSON object on stdout: median
 * and min seconds per step and per phase, tokens per second at the median step, the loss of
 * the first and last step (it should fall), and the peak resident memory (getrusage). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common/error.h"
#include "model/backend.h"
#include "model/optim.h"
#include "model/transformer.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(void) {
  fprintf(stderr, "usage: bench_train --model DIR [--batch B] [--seq T] [--steps N] [--warmup W] [--threads T] "
                  "[--lr LR] [--recompute]\n");
}

int main(int argc, char **argv) {
  const char *dir = NULL;
  int B = 4, T = 256, steps = 5, warmup = 1, threads = 0, recompute = 0;
  double lr = 1e-4;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(o, "--recompute") == 0) {
      recompute = 1;
      continue;
    }
    if (!v) {
      usage();
      return 2;
    }
    i++;
    if (strcmp(o, "--model") == 0) dir = v;
    else if (strcmp(o, "--batch") == 0) B = atoi(v);
    else if (strcmp(o, "--seq") == 0) T = atoi(v);
    else if (strcmp(o, "--steps") == 0) steps = atoi(v);
    else if (strcmp(o, "--warmup") == 0) warmup = atoi(v);
    else if (strcmp(o, "--threads") == 0) threads = atoi(v);
    else if (strcmp(o, "--lr") == 0) lr = atof(v);
    else {
      usage();
      return 2;
    }
  }
  if (!dir || B < 1 || T < 2 || steps < 1 || warmup < 0) {
    usage();
    return 2;
  }
  zr_backend *be = NULL;
  zr_tf *m = NULL;
  zr_adamw *opt = NULL;
  double t_load = now_s();
  if (zr_backend_cpu_new(&be, threads) || zr_tf_load(&m, dir, be)) {
    fprintf(stderr, "bench_train: %s\n", zr_errmsg());
    return 1;
  }
  t_load = now_s() - t_load;
  zr_tf_options to = zr_tf_get_options(m);
  to.recompute = recompute;
  zr_tf_set_options(m, &to);
  zr_adamw_config ac = zr_adamw_defaults();
  if (zr_adamw_new(&opt, be, zr_tf_n_floats(m), &ac, NULL, 0)) {
    fprintf(stderr, "bench_train: %s\n", zr_errmsg());
    return 1;
  }
  int N = B * T, V = zr_tf_config(m)->vocab_size;
  int *tokens = malloc((size_t)N * sizeof(int)), *targets = malloc((size_t)N * sizeof(int)),
      *lens = malloc((size_t)B * sizeof(int));
  float *w = malloc((size_t)N * sizeof(float)), *lp = malloc((size_t)N * sizeof(float));
  int total = warmup + steps;
  double *st = calloc((size_t)total, sizeof(double)), *sf = calloc((size_t)total, sizeof(double)),
         *sb = calloc((size_t)total, sizeof(double)), *so = calloc((size_t)total, sizeof(double));
  if (!tokens || !targets || !lens || !w || !lp || !st || !sf || !sb || !so) {
    fprintf(stderr, "bench_train: out of memory\n");
    return 1;
  }
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < N; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    tokens[i] = (int)(x % (uint64_t)V);
  }
  for (int s = 0; s < B; s++) {
    lens[s] = T;
    for (int t = 0; t < T; t++) targets[s * T + t] = t + 1 < T ? tokens[s * T + t + 1] : -1;
  }
  for (int i = 0; i < N; i++) w[i] = 1.0f;
  zr_tf_batch batch = {.n_seqs = B, .seq_lens = lens, .tokens = tokens, .targets = targets};
  zr_tf_outputs out = {.logprobs = lp};
  double loss_first = 0, loss_last = 0;
  for (int k = 0; k < total; k++) {
    double t0 = now_s();
    zr_tf_zero_grads(m);
    int rc = zr_tf_forward_train(m, &batch, &out);
    double t1 = now_s();
    if (!rc) rc = zr_tf_backward(m, w);
    double t2 = now_s();
    if (!rc) rc = zr_adamw_step(opt, zr_tf_params(m), zr_tf_grads(m), lr);
    be->sync(be);
    double t3 = now_s();
    if (rc) {
      fprintf(stderr, "bench_train: step %d: %s\n", k, zr_errmsg());
      return 1;
    }
    double loss = 0;
    for (int i = 0; i < N; i++) loss -= lp[i];
    loss /= (double)(N - B);
    if (k == 0) loss_first = loss;
    loss_last = loss;
    st[k] = t3 - t0, sf[k] = t1 - t0, sb[k] = t2 - t1, so[k] = t3 - t2;
  }
  double min_step = st[warmup];
  for (int k = warmup; k < total; k++)
    if (st[k] < min_step) min_step = st[k];
  double med = median(st + warmup, steps), mf = median(sf + warmup, steps), mb = median(sb + warmup, steps),
         mo = median(so + warmup, steps);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("{\"impl\":\"zerorl\",\"threads\":%d,\"batch\":%d,\"seq\":%d,\"tokens_per_step\":%d,\"steps\":%d,"
         "\"warmup\":%d,\"recompute\":%s,\"n_params\":%zu,\"load_s\":%.3f,\"median_step_s\":%.4f,\"min_step_s\":%.4f,"
         "\"median_forward_s\":%.4f,\"median_backward_s\":%.4f,\"median_optim_s\":%.4f,\"tokens_per_s\":%.1f,"
         "\"loss_first\":%.5f,\"loss_last\":%.5f,\"peak_rss_mb\":%.1f}\n",
         be->n_threads, B, T, N, steps, warmup, recompute ? "true" : "false", zr_tf_n_params(m), t_load, med, min_step,
         mf, mb, mo, (double)N / med, loss_first, loss_last, (double)ru.ru_maxrss / 1024.0);
  free(tokens), free(targets), free(lens), free(w), free(lp), free(st), free(sf), free(sb), free(so);
  zr_adamw_free(&opt);
  zr_tf_free(&m);
  zr_backend_free(&be);
  return 0;
}
