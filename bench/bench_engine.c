/* bench_engine: times the actor's continuous-batching engine (actor/engine.h) generating groups of
 * G sampled completions per prompt, for bench/actor_gen.py's comparison with transformers.
 *
 *   bench_engine --model DIR --prompt-ids 1,2,3 [--prompt-ids ...] [--G 8] [--slots S]
 *                [--new M] [--temperature T] [--top-p P] [--threads N] [--repeats R]
 *                [--warmup W] [--eos]
 *
 * Each prompt is one request of G samples (seed = repeat number); every sample generates exactly
 * M tokens (no EOS unless --eos: then the model's config.json eos ids end samples). --slots
 * defaults to prompts x G (all samples at once); fewer slots exercise slot refill. A run is
 * submit + zr_engine_step until idle (prefill included, model loading and cache allocation not);
 * the first W runs are not timed. Prints one JSON object: tokens, median/min seconds, tokens/s at
 * the median, mean batch occupancy, prefills, peak RSS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "actor/engine.h"
#include "common/clock.h"
#include "common/error.h"
#include "model/backend.h"
#include "model/transformer.h"

static double now_s(void) { return (double)zr_clock_mono_ns() / 1e9; }

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void usage(void) {
  fprintf(stderr, "usage: bench_engine --model DIR --prompt-ids 1,2,3 [--prompt-ids ...] [--G 8] [--slots S] "
                  "[--new M] [--temperature T] [--top-p P] [--threads N] [--repeats R] [--warmup W] [--eos]\n");
}

#define MAX_PROMPTS 256

int main(int argc, char **argv) {
  const char *dir = NULL;
  int G = 8, slots = 0, M = 64, threads = 0, repeats = 3, warmup = 1, use_eos = 0, np = 0;
  double temp = 1.0, top_p = 1.0;
  int32_t *prompts[MAX_PROMPTS];
  int plens[MAX_PROMPTS];
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(o, "--eos") == 0) {
      use_eos = 1;
      continue;
    }
    if (!v) {
      usage();
      return 2;
    }
    i++;
    if (strcmp(o, "--model") == 0) dir = v;
    else if (strcmp(o, "--G") == 0) G = atoi(v);
    else if (strcmp(o, "--slots") == 0) slots = atoi(v);
    else if (strcmp(o, "--new") == 0) M = atoi(v);
    else if (strcmp(o, "--threads") == 0) threads = atoi(v);
    else if (strcmp(o, "--repeats") == 0) repeats = atoi(v);
    else if (strcmp(o, "--warmup") == 0) warmup = atoi(v);
    else if (strcmp(o, "--temperature") == 0) temp = atof(v);
    else if (strcmp(o, "--top-p") == 0) top_p = atof(v);
    else if (strcmp(o, "--prompt-ids") == 0 && np < MAX_PROMPTS) {
      int n = 1;
      for (const char *p = v; *p; p++) n += *p == ',';
      prompts[np] = malloc((size_t)n * sizeof(int32_t));
      int k = 0;
      for (char *p = (char *)v, *end; *p && k < n; p = *end ? end + 1 : end) {
        prompts[np][k++] = (int32_t)strtol(p, &end, 10);
        if (end == p) break;
      }
      plens[np++] = k;
    } else {
      usage();
      return 2;
    }
  }
  if (!dir || np == 0 || G <= 0 || M <= 0 || repeats <= 0) {
    usage();
    return 2;
  }
  if (slots <= 0) slots = np * G;
  int max_plen = 0;
  for (int p = 0; p < np; p++)
    if (plens[p] > max_plen) max_plen = plens[p];
  zr_backend *be = NULL;
  zr_tf *m = NULL;
  zr_engine *e = NULL;
  int rc = zr_backend_cpu_new(&be, threads);
  if (!rc) rc = zr_tf_load(&m, dir, be);
  int eos[ZR_MAX_EOS], n_eos = 0;
  if (!rc && use_eos) {
    const zr_model_config *c = zr_tf_config(m);
    for (int i = 0; i < c->n_eos; i++) eos[n_eos++] = c->eos_token_ids[i];
  }
  zr_engine_cfg cfg = {.n_slots = slots, .max_len = max_plen + M, .eos_ids = eos, .n_eos = n_eos};
  if (!rc) rc = zr_engine_new(&e, m, NULL, &cfg);
  if (rc) {
    fprintf(stderr, "bench_engine: %s\n", zr_errmsg());
    return 1;
  }
  double *secs = malloc((size_t)repeats * sizeof(double));
  uint64_t tokens = 0;
  zr_engine_stats_t st0, st1;
  for (int r = 0; r < warmup + repeats; r++) {
    zr_engine_stats(e, &st0);
    double t0 = now_s();
    for (int p = 0; p < np; p++) {
      zr_engine_request q = {.req_id = (uint64_t)r * MAX_PROMPTS + (uint64_t)p, .prompt = prompts[p],
                             .prompt_len = plens[p], .n_samples = G, .first_sample_index = 0,
                             .sampling = {.temperature = (float)temp, .top_k = 0, .top_p = (float)top_p, .min_p = 0},
                             .max_new_tokens = M, .seed = (uint64_t)r + 1};
      if ((rc = zr_engine_submit(e, &q))) break;
    }
    int a;
    while (!rc && (a = zr_engine_step(e)) > 0) {
    }
    if (!rc && a < 0) rc = a;
    zr_engine_output out;
    while (zr_engine_poll(e, &out) == 1) {
    }
    double t1 = now_s();
    if (rc) {
      fprintf(stderr, "bench_engine: %s\n", zr_errmsg());
      return 1;
    }
    zr_engine_stats(e, &st1);
    tokens = st1.tokens_generated - st0.tokens_generated;
    if (r >= warmup) secs[r - warmup] = t1 - t0;
  }
  zr_engine_stats_t st;
  zr_engine_stats(e, &st);
  qsort(secs, (size_t)repeats, sizeof *secs, cmp_double);
  double med = repeats % 2 ? secs[repeats / 2] : (secs[repeats / 2 - 1] + secs[repeats / 2]) / 2;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("{\"impl\":\"zerorl\",\"prompts\":%d,\"G\":%d,\"slots\":%d,\"new\":%d,\"tokens\":%llu,\"median_s\":%.4f,"
         "\"min_s\":%.4f,\"tokens_per_s\":%.2f,\"mean_batch\":%.2f,\"prefills_per_run\":%.2f,\"threads\":%d,"
         "\"peak_rss_mb\":%.1f}\n",
         np, G, slots, M, (unsigned long long)tokens, med, secs[0], (double)tokens / med,
         st.decode_steps ? (double)st.occupancy_sum / (double)st.decode_steps : 0.0,
         (double)st.prefills / (double)(warmup + repeats), be->n_threads, ru.ru_maxrss / 1024.0);
  for (int p = 0; p < np; p++) free(prompts[p]);
  free(secs);
  zr_engine_free(&e);
  zr_tf_free(&m);
  zr_backend_free(&be);
  return 0;
}
