/* test_generate.c: KV-cache inference and the generate loop against Hugging Face transformers on
 * the fixture models (tests/fixtures/model/<name>/generate.json, made by
 * tests/reference/make_model_fixtures.py):
 *   - greedy 64 new tokens from each prompt alone equal HF's generate(do_sample=False);
 *   - the two prompts batched equal HF's left-padded batched generation (and the single runs);
 *   - KV cache vs full recompute: the logits of every decode step equal the logits of a full
 *     forward over prompt + generated tokens (max rel err <= 1e-4), chunked prefill equals one-shot
 *     prefill, and the returned log-probs equal the full forward's log-probs;
 *   - sampling (temperature 1, top-p) is deterministic in the seed, differs across seeds, and a
 *     sequence samples the same tokens alone or in a batch; stop ids end a sequence (included) and
 *     a full cache slot ends it with LENGTH;
 *   - repeated prompts (one shared prefill) sample what each sequence samples alone, and greedy
 *     copies equal HF's tokens. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/json.h"
#include "model/transformer.h"
#include "tests/test.h"

static char src_dir[1024];

static void find_dirs(void) {
  const char *s = getenv("ZERORL_SOURCE_DIR");
  if (s) {
    snprintf(src_dir, sizeof src_dir, "%s", s);
  } else {
    snprintf(src_dir, sizeof src_dir, "%s", __FILE__);
    char *p = strstr(src_dir, "/tests/unit/");
    if (p) *p = 0;
    else snprintf(src_dir, sizeof src_dir, ".");
  }
}

static int *int_array(const json_t *a, int *n) {
  *n = (int)json_array_size(a);
  int *v = malloc((*n ? *n : 1) * sizeof(int));
  for (int i = 0; i < *n; i++) v[i] = (int)json_integer_value(json_array_get(a, i));
  return v;
}

static double max_rel(const float *a, const float *b, size_t n) {
  double md = 0, mb = 1e-30;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]);
    if (!(d <= md)) md = d;
    if (fabs(b[i]) > mb) mb = fabs(b[i]);
  }
  return md / mb;
}

static void test_arch(zr_backend *be, const char *name) {
  char dir[2048], path[2100];
  snprintf(dir, sizeof dir, "%s/tests/fixtures/model/%s", src_dir, name);
  snprintf(path, sizeof path, "%s/generate.json", dir);
  json_t *j = zr_json_load_file(path);
  if (!j) {
    fprintf(stderr, "%s\n", zr_errmsg());
    CHECK(!"generate.json readable");
    return;
  }
  zr_tf *m = NULL;
  CHECK_INT(zr_tf_load(&m, dir, be), 0);
  if (!m) {
    json_decref(j);
    return;
  }
  int V = zr_tf_config(m)->vocab_size, NEW = (int)json_integer_value(json_object_get(j, "max_new_tokens"));
  json_t *jp = json_object_get(j, "prompts"), *js = json_object_get(j, "single"), *jb = json_object_get(j, "batched");
  int np = (int)json_array_size(jp), lens[2], *pr[2], *hf_single[2], *hf_batch[2], k;
  CHECK_INT(np, 2);
  for (int i = 0; i < 2; i++) {
    pr[i] = int_array(json_array_get(jp, i), &lens[i]);
    hf_single[i] = int_array(json_array_get(js, i), &k);
    CHECK_INT(k, NEW);
    hf_batch[i] = int_array(json_array_get(jb, i), &k);
    CHECK_INT(k, NEW);
  }
  int *packed = malloc((lens[0] + lens[1]) * sizeof(int));
  memcpy(packed, pr[0], lens[0] * sizeof(int));
  memcpy(packed + lens[0], pr[1], lens[1] * sizeof(int));

  /* greedy, one prompt at a time and both together */
  zr_gen_config g = {.max_new_tokens = NEW};
  int *out = malloc(2 * NEW * sizeof(int));
  float *lps = malloc(2 * NEW * sizeof(float));
  zr_gen_result res[2];
  int same_single = 1, same_batch = 1;
  for (int i = 0; i < 2; i++) {
    CHECK_INT(zr_tf_generate(m, NULL, 1, &lens[i], pr[i], NULL, &g, out, NULL, res), 0);
    CHECK_INT(res[0].n_tokens, NEW);
    CHECK_INT(res[0].finish, ZR_FINISH_LENGTH);
    same_single &= memcmp(out, hf_single[i], NEW * sizeof(int)) == 0;
  }
  zr_kvcache *kv = NULL;
  CHECK_INT(zr_kv_new(&kv, m, 3, 128), 0);
  CHECK_INT(zr_tf_generate(m, kv, 2, lens, packed, NULL, &g, out, lps, res), 0);
  for (int i = 0; i < 2; i++) {
    CHECK_INT(res[i].n_tokens, NEW);
    same_batch &= memcmp(out + i * NEW, hf_batch[i], NEW * sizeof(int)) == 0;
    CHECK_INT(zr_kv_len(kv, i), lens[i] + NEW - 1); /* the last token is sampled, not appended */
  }
  fprintf(stderr, "%-10s greedy %d tokens: single == HF: %s, batched == HF: %s\n", name, NEW,
          same_single ? "yes" : "NO", same_batch ? "yes" : "NO");
  CHECK(same_single);
  CHECK(same_batch);

  /* KV cache vs full recompute, prompt 1: prefill in two chunks, then decode the HF tokens */
  {
    int L = lens[1] + NEW, *seq = malloc(L * sizeof(int));
    memcpy(seq, pr[1], lens[1] * sizeof(int));
    memcpy(seq + lens[1], hf_batch[1], NEW * sizeof(int));
    int rows_n = NEW, *rows = malloc(rows_n * sizeof(int)), *tg = malloc(L * sizeof(int));
    for (int t = 0; t < NEW; t++) rows[t] = lens[1] - 1 + t;
    for (int t = 0; t < L; t++) tg[t] = t + 1 < L ? seq[t + 1] : -1;
    float *full = malloc((size_t)NEW * V * sizeof(float)), *cached = malloc((size_t)NEW * V * sizeof(float)),
          *flp = malloc(L * sizeof(float));
    zr_tf_batch bt = {.n_seqs = 1, .seq_lens = &L, .tokens = seq, .targets = tg};
    zr_tf_outputs o = {.logprobs = flp, .n_logit_rows = rows_n, .logit_rows = rows, .logits = full};
    CHECK_INT(zr_tf_forward(m, &bt, &o), 0);
    int slot = 2, c1 = 3, c2 = lens[1] - 3;
    zr_kv_clear(kv, slot);
    CHECK_INT(zr_tf_prefill(m, kv, 1, &slot, &c1, seq, NULL), 0);
    CHECK_INT(zr_tf_extend(m, kv, 1, &slot, &c2, seq + 3, cached), 0);
    for (int t = 1; t < NEW; t++)
      CHECK_INT(zr_tf_decode(m, kv, 1, &slot, &seq[lens[1] - 1 + t], cached + (size_t)t * V), 0);
    double e = max_rel(cached, full, (size_t)NEW * V);
    int argmax_ok = 1;
    for (int t = 0; t < NEW; t++) {
      int best = 0;
      for (int v = 1; v < V; v++)
        if (full[(size_t)t * V + v] > full[(size_t)t * V + best]) best = v;
      argmax_ok &= best == seq[lens[1] + t];
    }
    /* log-probs the generate loop returned for prompt 1 vs the full forward */
    double e_lp = max_rel(lps + NEW, flp + lens[1] - 1, NEW);
    fprintf(stderr, "%-10s kv cache vs full forward: logits %.2e, logprobs %.2e (max rel err), argmax agrees: %s\n",
            name, e, e_lp, argmax_ok ? "yes" : "NO");
    CHECK(e <= 1e-4);
    CHECK(e_lp <= 1e-4);
    CHECK(argmax_ok);
    /* a slot cannot grow past max_len, and a failed extend changes nothing */
    int big = 128 - zr_kv_len(kv, slot) + 1, before = zr_kv_len(kv, slot);
    int *many = calloc(big, sizeof(int));
    CHECK_INT(zr_tf_extend(m, kv, 1, &slot, &big, many, NULL), -EINVAL);
    CHECK_INT(zr_kv_len(kv, slot), before);
    free(many);
    free(seq), free(rows), free(tg), free(full), free(cached), free(flp);
  }

  /* sampling: deterministic in the seed, batch-invariant, seed-dependent */
  {
    zr_gen_config s = {.max_new_tokens = 32, .sampling = {.temperature = 1.0f, .top_p = 0.95f}, .seed = 7};
    int a[64], b[64], c[32];
    uint64_t ids[2] = {100, 200};
    CHECK_INT(zr_tf_generate(m, kv, 2, lens, packed, ids, &s, a, NULL, res), 0);
    CHECK_INT(zr_tf_generate(m, NULL, 1, &lens[1], pr[1], &ids[1], &s, c, NULL, res), 0);
    CHECK(memcmp(a + 32, c, 32 * sizeof(int)) == 0); /* alone == in the batch */
    CHECK_INT(zr_tf_generate(m, kv, 2, lens, packed, ids, &s, b, NULL, res), 0);
    CHECK(memcmp(a, b, sizeof a) == 0); /* same seed, same tokens */
    s.seed = 8;
    CHECK_INT(zr_tf_generate(m, kv, 2, lens, packed, ids, &s, b, NULL, res), 0);
    CHECK(memcmp(a, b, sizeof a) != 0);
    s.vocab_limit = 16; /* only ids < 16 */
    CHECK_INT(zr_tf_generate(m, kv, 2, lens, packed, ids, &s, b, NULL, res), 0);
    int ok = 1;
    for (int i = 0; i < 64; i++) ok &= b[i] >= 0 && b[i] < 16;
    CHECK(ok);
  }

  /* repeated prompts share one prefill: [p0, p1, p0, p1, p0] sample exactly what each sequence
   * samples alone with its id (tokens and log-probs), and greedy copies equal HF's tokens */
  {
    enum { R = 5, T = 24 };
    zr_gen_config s = {.max_new_tokens = T, .sampling = {.temperature = 1.0f, .top_p = 0.9f}, .seed = 11};
    int rl[R], *rp = malloc((size_t)(3 * lens[0] + 2 * lens[1]) * sizeof(int)), at = 0;
    uint64_t ids[R] = {31, 32, 33, 34, 35};
    for (int i = 0; i < R; i++) {
      rl[i] = lens[i % 2];
      memcpy(rp + at, pr[i % 2], (size_t)rl[i] * sizeof(int));
      at += rl[i];
    }
    int tok[R * T], one[T];
    float lp[R * T], lp1[T];
    zr_gen_result rr[R];
    CHECK_INT(zr_tf_generate(m, NULL, R, rl, rp, ids, &s, tok, lp, rr), 0);
    int same = 1, differ = 0;
    double e = 0;
    for (int i = 0; i < R; i++) {
      CHECK_INT(zr_tf_generate(m, NULL, 1, &rl[i], pr[i % 2], &ids[i], &s, one, lp1, res), 0);
      same &= rr[i].n_tokens == res[0].n_tokens && !memcmp(tok + i * T, one, (size_t)res[0].n_tokens * sizeof(int));
      double ei = max_rel(lp + i * T, lp1, (size_t)res[0].n_tokens);
      if (ei > e) e = ei;
      if (i >= 2) differ |= memcmp(tok + i * T, tok + (i - 2) * T, T * sizeof(int)) != 0;
    }
    fprintf(stderr, "%-10s shared prefill of repeated prompts: tokens as alone: %s, logprobs %.2e\n", name,
            same ? "yes" : "NO", e);
    CHECK(same);
    CHECK(e <= 1e-5);
    CHECK(differ); /* copies of one prompt still draw their own samples */
    zr_gen_config gg = g;
    gg.max_new_tokens = T;
    CHECK_INT(zr_tf_generate(m, NULL, R, rl, rp, NULL, &gg, tok, NULL, rr), 0);
    int hf_ok = 1;
    for (int i = 0; i < R; i++) hf_ok &= !memcmp(tok + i * T, hf_single[i % 2], T * sizeof(int));
    CHECK(hf_ok);
    free(rp);
  }

  /* stop ids: the first occurrence ends the sequence, included */
  {
    int stop = hf_single[0][9], first = 0;
    while (hf_single[0][first] != stop) first++;
    zr_gen_config s = {.max_new_tokens = NEW, .stop_ids = &stop, .n_stop = 1};
    CHECK_INT(zr_tf_generate(m, NULL, 1, &lens[0], pr[0], NULL, &s, out, NULL, res), 0);
    CHECK_INT(res[0].finish, ZR_FINISH_STOP);
    CHECK_INT(res[0].n_tokens, first + 1);
    CHECK(memcmp(out, hf_single[0], (first + 1) * sizeof(int)) == 0);
  }
  /* a small cache: generation ends with LENGTH when the slot is full */
  {
    zr_kvcache *small = NULL;
    CHECK_INT(zr_kv_new(&small, m, 1, lens[0] + 10), 0);
    CHECK_INT(zr_tf_generate(m, small, 1, &lens[0], pr[0], NULL, &g, out, NULL, res), 0);
    CHECK_INT(res[0].finish, ZR_FINISH_LENGTH);
    CHECK_INT(res[0].n_tokens, 11);
    CHECK(memcmp(out, hf_single[0], 11 * sizeof(int)) == 0);
    CHECK_INT(zr_tf_generate(m, small, 2, lens, packed, NULL, &g, out, NULL, res), -EINVAL); /* 2 > 1 slot */
    zr_kv_free(&small);
    CHECK(small == NULL);
  }

  zr_kv_free(&kv);
  for (int i = 0; i < 2; i++) free(pr[i]), free(hf_single[i]), free(hf_batch[i]);
  free(packed), free(out), free(lps);
  zr_tf_free(&m);
  json_decref(j);
}

int main(void) {
  find_dirs();
  char probe[2048];
  snprintf(probe, sizeof probe, "%s/tests/fixtures/model/qwen2/generate.json", src_dir);
  if (access(probe, R_OK) != 0) TEST_SKIP("no fixtures at %s", probe);
  zr_backend *be = NULL;
  CHECK_INT(zr_backend_cpu_new(&be, 2), 0);
  if (!be) return TEST_DONE();
  const char *names[] = {"qwen2", "qwen3", "llama", "llama_tied"};
  for (int i = 0; i < 4; i++) test_arch(be, names[i]);
  zr_backend_free(&be);
  return TEST_DONE();
}
