/* test_transformer.c: the transformer against Hugging Face transformers on the tiny random models
 * of tests/fixtures/model/ (made by tests/reference/make_model_fixtures.py): per architecture
 * (Qwen2 with biases, Qwen3 with q/k norm and head_dim != hidden/heads, Llama with GQA and llama3
 * rope scaling, tied Llama with attention biases):
 *   - the tensor table is exactly HF's parameter list;
 *   - logits at every position, log-probs of the next token and entropy: max relative error
 *     (max |ours - ref| / max |ref|) <= 1e-4;
 *   - gradients of L = -sum w_i log p(t_i): ||g - g_ref|| / ||g_ref|| <= 1e-3 for every tensor;
 *   - activation recomputation gives the same gradients; gradients accumulate;
 *   - packing invariance: each sequence alone, or packed in another order, gives the same log-probs,
 *     logits and (summed) gradients;
 *   - explicit positions: default ones equal, a constant shift is (RoPE) invariant, stretched differ;
 *   - checkpoint write (F32, and BF16 sharded for the BF16-exact models) -> reload gives identical
 *     logits, and config.json round-trips; F16 reloads the F16-rounded weights exactly;
 *   - loading refuses a directory with a missing, extra or misshapen tensor, naming it;
 *   - logprob_temperature T equals dividing the final norm weight by T (log-probs, entropy, grads);
 *   - zr_tf_init_random: norms 1, biases 0, matrices N(0, 0.02^2), deterministic in the seed.
 * Checkpoints are left in $ZERORL_BINARY_DIR/test-output/transformer/<name>-<dtype> for
 * tests/reference/check_checkpoint.py.
 * With ZERORL_TF_BENCH=1 it also times forward+backward of a hidden-256, 4-layer, 151936-vocab
 * model (not a check). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "model/safetensors.h"
#include "model/transformer.h"
#include "tests/test.h"

static char src_dir[1024];
static char out_dir[1024];

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void find_dirs(void) {
  const char *s = getenv("ZERORL_SOURCE_DIR");
  if (s) {
    snprintf(src_dir, sizeof src_dir, "%s", s);
  } else { /* tests/unit/test_transformer.c -> repository root */
    snprintf(src_dir, sizeof src_dir, "%s", __FILE__);
    char *p = strstr(src_dir, "/tests/unit/");
    if (p) *p = 0;
    else snprintf(src_dir, sizeof src_dir, ".");
  }
  const char *b = getenv("ZERORL_BINARY_DIR");
  snprintf(out_dir, sizeof out_dir, "%s/test-output/transformer", b ? b : "/tmp/zerorl-test");
}

/* ---- reference data ------------------------------------------------------------------------- */

typedef struct {
  zr_st_file *f;
  int n, s, vocab;
  int *tokens, *seq_lens, *targets;
  float *logits, *logprobs, *entropy, *weights;
  float loss;
} ref_t;

static void *read_tensor(zr_st_file *f, const char *name, zr_dtype dt, size_t *count) {
  const zr_st_tensor *t = zr_st_find(f, name);
  if (!t || t->dtype != dt) {
    fprintf(stderr, "reference: tensor %s missing or of the wrong dtype\n", name);
    return NULL;
  }
  void *p = malloc(t->nbytes ? t->nbytes : 1);
  memcpy(p, t->data, t->nbytes);
  if (count) *count = t->nbytes / zr_dtype_size(dt);
  return p;
}

static int ref_open(ref_t *r, const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/reference.safetensors", dir);
  memset(r, 0, sizeof *r);
  if (zr_st_open(&r->f, path)) {
    fprintf(stderr, "%s\n", zr_errmsg());
    return -1;
  }
  size_t n, s, nl;
  r->tokens = read_tensor(r->f, "tokens", ZR_DT_I32, &n);
  r->seq_lens = read_tensor(r->f, "seq_lens", ZR_DT_I32, &s);
  r->targets = read_tensor(r->f, "targets", ZR_DT_I32, NULL);
  r->logits = read_tensor(r->f, "logits", ZR_DT_F32, &nl);
  r->logprobs = read_tensor(r->f, "logprobs", ZR_DT_F32, NULL);
  r->entropy = read_tensor(r->f, "entropy", ZR_DT_F32, NULL);
  r->weights = read_tensor(r->f, "weights", ZR_DT_F32, NULL);
  float *loss = read_tensor(r->f, "loss", ZR_DT_F32, NULL);
  if (!r->tokens || !r->seq_lens || !r->targets || !r->logits || !r->logprobs || !r->entropy || !r->weights || !loss)
    return -1;
  r->loss = *loss;
  free(loss);
  r->n = (int)n;
  r->s = (int)s;
  r->vocab = (int)(nl / n);
  return 0;
}

static void ref_close(ref_t *r) {
  free(r->tokens), free(r->seq_lens), free(r->targets), free(r->logits), free(r->logprobs), free(r->entropy),
      free(r->weights);
  zr_st_close(&r->f);
}

static double max_rel(const float *a, const float *b, size_t n) {
  double md = 0, mb = 1e-30;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]);
    if (!(d <= md)) md = d; /* NaN propagates */
    if (fabs(b[i]) > mb) mb = fabs(b[i]);
  }
  return md / mb;
}

static double norm_rel(const float *a, const float *b, size_t n) {
  double dd = 0, bb = 0;
  for (size_t i = 0; i < n; i++) {
    dd += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    bb += (double)b[i] * b[i];
  }
  return sqrt(dd) / (sqrt(bb) + 1e-30);
}

static float *get_all_grads(zr_tf *m) {
  float *g = malloc(zr_tf_n_floats(m) * sizeof(float));
  zr_tf_backend(m)->download(zr_tf_backend(m), g, zr_tf_grads(m), zr_tf_n_floats(m) * sizeof(float));
  return g;
}

static double grads_rel(zr_tf *m, const float *a, const float *b) {
  double worst = 0;
  for (size_t i = 0; i < zr_tf_n_tensors(m); i++) {
    const zr_tf_tensor *t = zr_tf_tensor_at(m, i);
    double e = norm_rel(a + t->offset, b + t->offset, t->numel);
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

/* logits at every row, log-probs and entropy of the whole reference batch */
static int run_all(zr_tf *m, const ref_t *r, const int *order, float *logits, float *lp, float *ent, bool train,
                   const float *w) {
  /* pack the sequences in the given order */
  int n = r->n, s = r->s, V = r->vocab;
  int *cu = malloc((s + 1) * sizeof(int)), *lens = malloc(s * sizeof(int)), *tok = malloc(n * sizeof(int)),
      *tg = malloc(n * sizeof(int)), *rows = malloc(n * sizeof(int));
  float *lo = malloc((size_t)n * V * sizeof(float)), *l2 = malloc(n * sizeof(float)), *e2 = malloc(n * sizeof(float)),
        *w2 = malloc(n * sizeof(float));
  cu[0] = 0;
  for (int i = 0; i < s; i++) cu[i + 1] = cu[i] + r->seq_lens[i];
  int at = 0;
  for (int k = 0; k < s; k++) {
    int i = order[k];
    lens[k] = r->seq_lens[i];
    for (int j = 0; j < lens[k]; j++) {
      tok[at + j] = r->tokens[cu[i] + j];
      tg[at + j] = r->targets[cu[i] + j];
      if (w) w2[at + j] = w[cu[i] + j];
    }
    at += lens[k];
  }
  for (int i = 0; i < n; i++) rows[i] = i;
  zr_tf_batch b = {.n_seqs = s, .seq_lens = lens, .tokens = tok, .targets = tg};
  zr_tf_outputs o = {.logprobs = l2, .entropy = e2, .n_logit_rows = n, .logit_rows = rows, .logits = lo};
  int rc = train ? zr_tf_forward_train(m, &b, &o) : zr_tf_forward(m, &b, &o);
  if (rc == 0 && train && w) rc = zr_tf_backward(m, w2);
  /* unpack into reference order */
  at = 0;
  for (int k = 0; rc == 0 && k < s; k++) {
    int i = order[k];
    for (int j = 0; j < lens[k]; j++) {
      if (logits) memcpy(logits + (size_t)(cu[i] + j) * V, lo + (size_t)(at + j) * V, V * sizeof(float));
      if (lp) lp[cu[i] + j] = l2[at + j];
      if (ent) ent[cu[i] + j] = e2[at + j];
    }
    at += lens[k];
  }
  if (rc) fprintf(stderr, "forward/backward: %s\n", zr_errmsg());
  free(cu), free(lens), free(tok), free(tg), free(rows), free(lo), free(l2), free(e2), free(w2);
  return rc;
}

/* ---- per architecture ---------------------------------------------------------------------- */

static bool bf16_exact(const char *name) { return strcmp(name, "qwen2") != 0; }

static void test_load_errors(zr_backend *be, zr_tf *m, const char *name) {
  char dir[2048], path[2200];
  snprintf(dir, sizeof dir, "%s/%s-broken", out_dir, name);
  CHECK_INT(zr_tf_save(m, dir, ZR_DT_F32, 0), 0);
  zr_st_set *set = NULL;
  CHECK_INT(zr_st_set_open_dir(&set, dir), 0);
  if (!set) return;
  size_t n = zr_st_set_count(set);
  zr_st_write_tensor *wt = calloc(n + 1, sizeof *wt);
  const char *victim = "model.norm.weight";
  for (int mode = 0; mode < 3; mode++) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
      const zr_st_tensor *t = zr_st_set_get(set, i);
      if (mode == 0 && strcmp(t->name, victim) == 0) continue; /* missing */
      wt[k] = (zr_st_write_tensor){t->name, t->dtype, t->ndim, {0}, t->data};
      memcpy(wt[k].shape, t->shape, sizeof t->shape);
      if (mode == 2 && strcmp(t->name, victim) == 0) wt[k].shape[0] -= 1; /* misshapen */
      k++;
    }
    if (mode == 1) { /* extra */
      wt[k] = wt[0];
      wt[k].name = "model.layers.0.self_attn.extra.weight";
      k++;
    }
    char bad[2100];
    snprintf(bad, sizeof bad, "%s-%d", dir, mode);
    mkdir(bad, 0755);
    CHECK_INT(zr_st_write_dir(bad, wt, k, 0), 0);
    snprintf(path, sizeof path, "%s/config.json", bad);
    CHECK_INT(zr_hf_config_write(zr_tf_config(m), path), 0);
    zr_tf *m2 = NULL;
    CHECK(zr_tf_load(&m2, bad, be) < 0);
    CHECK(m2 == NULL);
    CHECK_CONTAINS(zr_errmsg(), mode == 1 ? "model.layers.0.self_attn.extra.weight" : victim);
    zr_tf_free(&m2);
  }
  free(wt);
  zr_st_set_close(&set);
}

static void test_arch(zr_backend *be, const char *name) {
  char dir[2048];
  snprintf(dir, sizeof dir, "%s/tests/fixtures/model/%s", src_dir, name);
  ref_t r;
  if (ref_open(&r, dir)) {
    CHECK(!"reference fixture readable");
    return;
  }
  zr_tf *m = NULL;
  int rc = zr_tf_load(&m, dir, be);
  if (rc) fprintf(stderr, "load %s: %s\n", dir, zr_errmsg());
  CHECK_INT(rc, 0);
  if (!m) {
    ref_close(&r);
    return;
  }
  int n = r.n, V = r.vocab, order[8] = {0, 1, 2, 3, 4, 5, 6, 7}, rev[3] = {2, 1, 0};
  CHECK_INT(V, zr_tf_config(m)->vocab_size);

  /* the tensor table is HF's parameter list */
  size_t n_grads = 0, numel = 0;
  for (size_t i = 0; i < zr_st_count(r.f); i++) {
    const zr_st_tensor *t = zr_st_get(r.f, i);
    if (strncmp(t->name, "grad.", 5) != 0) continue;
    n_grads++;
    const zr_tf_tensor *tt = zr_tf_tensor_find(m, t->name + 5);
    CHECK(tt != NULL);
    if (tt) {
      CHECK_INT(tt->numel, t->nbytes / 4);
      numel += tt->numel;
    }
  }
  CHECK_INT(n_grads, zr_tf_n_tensors(m));
  CHECK_INT(numel, zr_tf_n_params(m));

  /* inference forward vs HF */
  float *logits = malloc((size_t)n * V * sizeof(float)), *lp = malloc(n * sizeof(float)), *ent = malloc(n * sizeof(float));
  double t0 = now_s();
  CHECK_INT(run_all(m, &r, order, logits, lp, ent, false, NULL), 0);
  double e_logits = max_rel(logits, r.logits, (size_t)n * V), e_lp = max_rel(lp, r.logprobs, n);
  double e_ent = 0, max_ent = 1e-30;
  for (int i = 0; i < n; i++) /* entropy is reported at rows with a target */
    if (r.targets[i] >= 0) {
      if (!(fabs(ent[i] - r.entropy[i]) <= e_ent)) e_ent = fabs(ent[i] - r.entropy[i]);
      if (fabs(r.entropy[i]) > max_ent) max_ent = fabs(r.entropy[i]);
    }
  e_ent /= max_ent;
  fprintf(stderr, "%-10s forward: logits %.2e, logprobs %.2e, entropy %.2e (max rel err), %.1f ms\n", name, e_logits,
          e_lp, e_ent, (now_s() - t0) * 1e3);
  CHECK(e_logits <= 1e-4);
  CHECK(e_lp <= 1e-4);
  CHECK(e_ent <= 1e-4);

  /* training forward + backward vs HF gradients */
  zr_tf_zero_grads(m);
  float *lp2 = malloc(n * sizeof(float));
  t0 = now_s();
  CHECK_INT(run_all(m, &r, order, NULL, lp2, NULL, true, r.weights), 0);
  double loss = 0;
  for (int i = 0; i < n; i++) loss -= (double)r.weights[i] * lp2[i];
  CHECK(fabs(loss - r.loss) <= 1e-4 * fabs(r.loss));
  CHECK(max_rel(lp2, r.logprobs, n) <= 1e-4);
  float *g = get_all_grads(m);
  double worst = 0;
  const char *worst_name = "";
  for (size_t i = 0; i < zr_tf_n_tensors(m); i++) {
    const zr_tf_tensor *t = zr_tf_tensor_at(m, i);
    char gname[128];
    snprintf(gname, sizeof gname, "grad.%s", t->name);
    float *ref = read_tensor(r.f, gname, ZR_DT_F32, NULL);
    if (!ref) {
      CHECK(!"gradient in the fixture");
      continue;
    }
    double e = norm_rel(g + t->offset, ref, t->numel);
    if (!(e <= 1e-3)) fprintf(stderr, "  grad %s: rel err %.3g\n", t->name, e);
    CHECK(e <= 1e-3);
    if (!(e <= worst)) {
      worst = e;
      worst_name = t->name;
    }
    free(ref);
  }
  fprintf(stderr, "%-10s backward: loss %.6f (ref %.6f), worst grad rel err %.2e (%s), fwd+bwd %.1f ms\n", name, loss,
          r.loss, worst, worst_name, (now_s() - t0) * 1e3);

  /* gradients accumulate: a second backward of the same forward doubles them */
  CHECK_INT(zr_tf_backward(m, r.weights), 0);
  float *g2 = get_all_grads(m);
  for (size_t i = 0; i < zr_tf_n_floats(m); i++) g2[i] *= 0.5f;
  CHECK(grads_rel(m, g2, g) <= 1e-6);

  /* recomputation: the same gradients */
  zr_tf_options opt = {.recompute = true};
  zr_tf_set_options(m, &opt);
  zr_tf_zero_grads(m);
  CHECK_INT(run_all(m, &r, order, NULL, NULL, NULL, true, r.weights), 0);
  float *g3 = get_all_grads(m);
  double e_rec = grads_rel(m, g3, g);
  fprintf(stderr, "%-10s recompute: max grad rel diff %.2e\n", name, e_rec);
  CHECK(e_rec <= 1e-6);
  /* twice from one forward (the shared layer buffers are recomputed as needed) */
  CHECK_INT(zr_tf_backward(m, r.weights), 0);
  float *g4 = get_all_grads(m);
  for (size_t i = 0; i < zr_tf_n_floats(m); i++) g4[i] *= 0.5f;
  CHECK(grads_rel(m, g4, g) <= 1e-6);
  opt.recompute = false;
  opt.lmhead_chunk = 100; /* a chunk that does not divide V */
  zr_tf_set_options(m, &opt);

  /* packing invariance: reversed order, and each sequence alone (grads summed over 3 backwards) */
  float *lg_r = malloc((size_t)n * V * sizeof(float)), *lp_r = malloc(n * sizeof(float));
  CHECK_INT(run_all(m, &r, rev, lg_r, lp_r, NULL, false, NULL), 0);
  double e_pack = max_rel(lg_r, logits, (size_t)n * V), e_pack_lp = max_rel(lp_r, lp, n);
  zr_tf_zero_grads(m);
  float *lg_1 = malloc((size_t)n * V * sizeof(float)), *lp_1 = malloc(n * sizeof(float));
  int off = 0;
  for (int s = 0; s < r.s; s++) {
    ref_t one = r;
    one.n = r.seq_lens[s];
    one.s = 1;
    one.seq_lens = &r.seq_lens[s];
    one.tokens = r.tokens + off;
    one.targets = r.targets + off;
    int o0 = 0;
    CHECK_INT(run_all(m, &one, &o0, lg_1 + (size_t)off * V, lp_1 + off, NULL, true, r.weights + off), 0);
    off += r.seq_lens[s];
  }
  float *g5 = get_all_grads(m);
  double e_alone = max_rel(lg_1, logits, (size_t)n * V), e_alone_lp = max_rel(lp_1, lp, n), e_alone_g = grads_rel(m, g5, g);
  fprintf(stderr, "%-10s packing: reversed logits %.2e logprobs %.2e; alone logits %.2e logprobs %.2e grads %.2e\n",
          name, e_pack, e_pack_lp, e_alone, e_alone_lp, e_alone_g);
  CHECK(e_pack <= 1e-5 && e_pack_lp <= 1e-5);
  CHECK(e_alone <= 1e-5 && e_alone_lp <= 1e-5);
  CHECK(e_alone_g <= 1e-5);

  /* explicit positions: 0..len-1 equal the default; a constant shift changes nothing (RoPE is
   * relative) beyond rounding; stretched positions do change the result */
  {
    int len = r.seq_lens[0], *pos = malloc(len * sizeof(int));
    float *a = malloc(len * sizeof(float));
    zr_tf_batch bt = {.n_seqs = 1, .seq_lens = &len, .tokens = r.tokens, .targets = r.targets, .positions = pos};
    zr_tf_outputs o = {.logprobs = a};
    for (int i = 0; i < len; i++) pos[i] = i;
    CHECK_INT(zr_tf_forward(m, &bt, &o), 0);
    CHECK(max_rel(a, lp, len) <= 1e-5);
    for (int i = 0; i < len; i++) pos[i] = i + 7;
    CHECK_INT(zr_tf_forward(m, &bt, &o), 0);
    CHECK(max_rel(a, lp, len) <= 1e-4);
    for (int i = 0; i < len; i++) pos[i] = 2 * i;
    CHECK_INT(zr_tf_forward(m, &bt, &o), 0);
    CHECK(max_rel(a, lp, len) > 1e-3);
    free(pos), free(a);
  }

  /* bad inputs */
  {
    int len = 2, toks[2] = {0, V}, tg[2] = {1, -1};
    zr_tf_batch bt = {.n_seqs = 1, .seq_lens = &len, .tokens = toks, .targets = tg};
    CHECK_INT(zr_tf_forward(m, &bt, NULL), -EINVAL);
    CHECK_CONTAINS(zr_errmsg(), "outside the vocabulary");
    zr_tf *fresh = NULL;
    CHECK_INT(zr_tf_new(&fresh, zr_tf_config(m), be), 0);
    CHECK_INT(zr_tf_backward(fresh, r.weights), -EINVAL);
    zr_tf_free(&fresh);
  }

  /* checkpoint write -> reload: identical logits (F32; BF16 when the weights are BF16-exact) */
  for (int k = 0; k < 2; k++) {
    zr_dtype dt = k == 0 ? ZR_DT_F32 : ZR_DT_BF16;
    if (dt == ZR_DT_BF16 && !bf16_exact(name)) continue;
    char ck[2048];
    snprintf(ck, sizeof ck, "%s/%s-%s", out_dir, name, k == 0 ? "f32" : "bf16");
    CHECK_INT(zr_tf_save(m, ck, dt, k == 0 ? 0 : 100000 /* shards */), 0);
    zr_tf *m2 = NULL;
    rc = zr_tf_load(&m2, ck, be);
    if (rc) fprintf(stderr, "reload %s: %s\n", ck, zr_errmsg());
    CHECK_INT(rc, 0);
    if (!m2) continue;
    const zr_model_config *c1 = zr_tf_config(m), *c2 = zr_tf_config(m2);
    CHECK(c1->arch == c2->arch && c1->num_kv_heads == c2->num_kv_heads && c1->head_dim == c2->head_dim &&
          c1->tie_word_embeddings == c2->tie_word_embeddings && c1->attention_bias == c2->attention_bias &&
          c1->qk_norm == c2->qk_norm && c1->rope_theta == c2->rope_theta &&
          c1->rope_scaling.kind == c2->rope_scaling.kind && c1->rms_norm_eps == c2->rms_norm_eps);
    CHECK_INT(c2->torch_dtype, dt);
    float *lg2 = malloc((size_t)n * V * sizeof(float));
    CHECK_INT(run_all(m2, &r, order, lg2, NULL, NULL, false, NULL), 0);
    CHECK(memcmp(lg2, logits, (size_t)n * V * sizeof(float)) == 0);
    fprintf(stderr, "%-10s checkpoint %s: reloaded logits identical: %s (%s)\n", name, zr_dtype_name(dt),
            memcmp(lg2, logits, (size_t)n * V * sizeof(float)) == 0 ? "yes" : "NO", ck);
    free(lg2);
    zr_tf_free(&m2);
  }
  /* logprob temperature T equals dividing the final norm weight by T (logits are linear in it):
   * same log-probs and entropy; same gradients except the norm weight's, which scale by 1/T */
  {
    const float T = 0.7f;
    zr_tf_options o2 = {.logprob_temperature = T};
    zr_tf_set_options(m, &o2);
    zr_tf_zero_grads(m);
    float *lpT = malloc(n * sizeof(float)), *entT = malloc(n * sizeof(float)), *lpS = malloc(n * sizeof(float)),
          *entS = malloc(n * sizeof(float));
    float *lgT = malloc((size_t)n * V * sizeof(float));
    CHECK_INT(run_all(m, &r, order, lgT, lpT, entT, true, r.weights), 0);
    CHECK(memcmp(lgT, logits, (size_t)n * V * sizeof(float)) == 0); /* full logits stay raw */
    float *gT = get_all_grads(m);
    zr_tf *ms = NULL;
    CHECK_INT(zr_tf_load(&ms, dir, be), 0);
    if (ms) {
      int d = zr_tf_config(ms)->hidden_size;
      float *nw = malloc(d * sizeof(float));
      zr_tf_get_tensor(ms, "model.norm.weight", nw, d);
      for (int i = 0; i < d; i++) nw[i] /= T;
      zr_tf_set_tensor(ms, "model.norm.weight", nw, d);
      CHECK_INT(run_all(ms, &r, order, NULL, lpS, entS, true, r.weights), 0);
      float *gS = get_all_grads(ms);
      const zr_tf_tensor *nt = zr_tf_tensor_find(ms, "model.norm.weight");
      for (size_t i = 0; i < nt->numel; i++) gS[nt->offset + i] /= T;
      double e_t = grads_rel(m, gT, gS);
      fprintf(stderr, "%-10s temperature %.1f: logprobs %.2e, entropy %.2e, grads %.2e (max rel diff)\n", name, T,
              max_rel(lpT, lpS, n), max_rel(entT, entS, n), e_t);
      CHECK(max_rel(lpT, lpS, n) <= 1e-5 && max_rel(entT, entS, n) <= 1e-5);
      CHECK(max_rel(lpT, lp, n) > 1e-3); /* and it does change them */
      CHECK(e_t <= 1e-5);
      free(nw), free(gS);
      zr_tf_free(&ms);
    }
    free(lpT), free(entT), free(lpS), free(entS), free(lgT), free(gT);
    opt.logprob_temperature = 0;
    zr_tf_set_options(m, &opt);
  }

  /* F16: the reloaded weights are the F16-rounded ones, exactly */
  if (strcmp(name, "qwen2") == 0) {
    char ck[2048];
    snprintf(ck, sizeof ck, "%s/%s-f16", out_dir, name);
    CHECK_INT(zr_tf_save(m, ck, ZR_DT_F16, 0), 0);
    zr_tf *m2 = NULL;
    CHECK_INT(zr_tf_load(&m2, ck, be), 0);
    if (m2) {
      size_t nf = zr_tf_n_floats(m);
      float *p1 = malloc(nf * sizeof(float)), *p2 = malloc(nf * sizeof(float));
      uint16_t *h = malloc(nf * sizeof(uint16_t));
      be->download(be, p1, zr_tf_params(m), nf * sizeof(float));
      be->download(be, p2, zr_tf_params(m2), nf * sizeof(float));
      zr_f32_to_dtype(ZR_DT_F16, p1, h, nf);
      zr_dtype_to_f32(ZR_DT_F16, h, p1, nf);
      CHECK(memcmp(p1, p2, nf * sizeof(float)) == 0);
      CHECK_INT(zr_tf_config(m2)->torch_dtype, ZR_DT_F16);
      free(p1), free(p2), free(h);
      zr_tf_free(&m2);
    }
  }
  test_load_errors(be, m, name);

  free(logits), free(lp), free(ent), free(lp2), free(g), free(g2), free(g3), free(g4), free(g5);
  free(lg_r), free(lp_r), free(lg_1), free(lp_1);
  zr_tf_free(&m);
  CHECK(m == NULL);
  ref_close(&r);
}

/* transformers-style initialisation: norms 1, biases 0, matrices N(0, std^2), deterministic */
static void test_init(zr_backend *be) {
  char path[2100];
  snprintf(path, sizeof path, "%s/tests/fixtures/model/llama_tied/config.json", src_dir);
  zr_model_config c;
  CHECK_INT(zr_hf_config_load(&c, path), 0);
  zr_tf *a = NULL, *b = NULL;
  CHECK_INT(zr_tf_new(&a, &c, be), 0);
  CHECK_INT(zr_tf_new(&b, &c, be), 0);
  if (!a || !b) return;
  CHECK_INT(zr_tf_init_random(a, 42, 0.02f), 0);
  CHECK_INT(zr_tf_init_random(b, 42, 0.02f), 0);
  size_t nf = zr_tf_n_floats(a);
  float *pa = malloc(nf * sizeof(float)), *pb = malloc(nf * sizeof(float));
  be->download(be, pa, zr_tf_params(a), nf * sizeof(float));
  be->download(be, pb, zr_tf_params(b), nf * sizeof(float));
  CHECK(memcmp(pa, pb, nf * sizeof(float)) == 0);
  for (size_t i = 0; i < zr_tf_n_tensors(a); i++) {
    const zr_tf_tensor *t = zr_tf_tensor_at(a, i);
    const float *p = pa + t->offset;
    CHECK(t->offset % 16 == 0);
    if (t->ndim == 1) {
      float want = strstr(t->name, ".bias") ? 0.0f : 1.0f;
      int ok = 1;
      for (size_t j = 0; j < t->numel; j++) ok &= p[j] == want;
      CHECK(ok);
      CHECK(t->no_decay);
    } else {
      double s = 0, ss = 0;
      for (size_t j = 0; j < t->numel; j++) s += p[j], ss += (double)p[j] * p[j];
      double mean = s / t->numel, sd = sqrt(ss / t->numel - mean * mean);
      CHECK(fabs(sd - 0.02) < 0.002 && fabs(mean) < 0.002);
      CHECK(!t->no_decay);
    }
  }
  CHECK_INT(zr_tf_init_random(b, 43, 0.02f), 0);
  be->download(be, pb, zr_tf_params(b), nf * sizeof(float));
  CHECK(memcmp(pa, pb, nf * sizeof(float)) != 0);
  free(pa), free(pb);
  zr_tf_free(&a);
  zr_tf_free(&b);
}

/* ---- optional benchmark --------------------------------------------------------------------- */

static void bench(zr_backend *be) {
  zr_model_config c = {0};
  c.arch = ZR_ARCH_QWEN2;
  c.vocab_size = 151936;
  c.hidden_size = 256;
  c.num_layers = 4;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 64;
  c.intermediate_size = 704;
  c.max_position_embeddings = 4096;
  c.rope_theta = 1e6;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = true;
  c.attention_bias = true;
  c.bos_token_id = -1;
  c.torch_dtype = ZR_DT_F32;
  zr_tf *m = NULL;
  if (zr_tf_new(&m, &c, be)) {
    fprintf(stderr, "bench: %s\n", zr_errmsg());
    return;
  }
  zr_tf_init_random(m, 1, 0.02f);
  int S = 8, T = 256, n = S * T, lens[8];
  int *tok = malloc(n * sizeof(int)), *tg = malloc(n * sizeof(int));
  float *w = malloc(n * sizeof(float)), *lp = malloc(n * sizeof(float));
  for (int s = 0; s < S; s++) lens[s] = T;
  for (int i = 0; i < n; i++) {
    tok[i] = (int)((i * 2654435761u) % 151936u);
    tg[i] = (i + 1) % T ? (int)(((i + 1) * 2654435761u) % 151936u) : -1;
    w[i] = 1.0f / n;
  }
  zr_tf_batch b = {.n_seqs = S, .seq_lens = lens, .tokens = tok, .targets = tg};
  zr_tf_outputs o = {.logprobs = lp};
  fprintf(stderr, "bench: %zu params, %d threads, batch %d x %d tokens\n", zr_tf_n_params(m), be->n_threads, S, T);
  for (int rec = 0; rec < 2; rec++) {
    zr_tf_options opt = {.recompute = rec};
    zr_tf_set_options(m, &opt);
    zr_tf_forward_train(m, &b, &o); /* warm-up (allocations) */
    double t0 = now_s();
    zr_tf_forward(m, &b, &o);
    double t1 = now_s();
    zr_tf_forward_train(m, &b, &o);
    double t2 = now_s();
    zr_tf_backward(m, w);
    double t3 = now_s();
    fprintf(stderr, "bench: recompute=%d forward %.2f s (%.0f tok/s), train fwd %.2f s + bwd %.2f s = %.0f tok/s\n",
            rec, t1 - t0, n / (t1 - t0), t2 - t1, t3 - t2, n / (t3 - t1));
  }
  /* decode: 16 sequences of 64 prompt tokens, 64 new tokens greedy */
  int np = 16, pl = 64, plens[16];
  int *prompts = malloc(np * pl * sizeof(int)), *out = malloc(np * 64 * sizeof(int));
  zr_gen_result res[16];
  for (int i = 0; i < np; i++) plens[i] = pl;
  for (int i = 0; i < np * pl; i++) prompts[i] = (int)((i * 40503u) % 151936u);
  zr_gen_config g = {.max_new_tokens = 64};
  double t0 = now_s();
  zr_tf_generate(m, NULL, np, plens, prompts, NULL, &g, out, NULL, res);
  double t1 = now_s();
  fprintf(stderr, "bench: generate %d x (64 prompt + 64 new) greedy: %.2f s, %.0f new tok/s\n", np, t1 - t0,
          np * 64 / (t1 - t0));
  free(tok), free(tg), free(w), free(lp), free(prompts), free(out);
  zr_tf_free(&m);
}

int main(void) {
  find_dirs();
  char probe[2048];
  snprintf(probe, sizeof probe, "%s/tests/fixtures/model/qwen2/reference.safetensors", src_dir);
  if (access(probe, R_OK) != 0) TEST_SKIP("no fixtures at %s", probe);
  zr_backend *be = NULL;
  CHECK_INT(zr_backend_cpu_new(&be, 2), 0);
  if (!be) return TEST_DONE();
  const char *names[] = {"qwen2", "qwen3", "llama", "llama_tied"};
  for (int i = 0; i < 4; i++) test_arch(be, names[i]);
  test_init(be);
  if (getenv("ZERORL_TF_BENCH")) {
    zr_backend_free(&be);
    CHECK_INT(zr_backend_cpu_new(&be, 0), 0);
    bench(be);
  }
  zr_backend_free(&be);
  return TEST_DONE();
}
