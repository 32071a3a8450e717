/* Unit test for learner/trainer (and learner/algo on a real model), against PyTorch:
 * tests/fixtures/loss (made by tests/reference/make_loss_fixtures.py) holds a tiny Qwen2 model, 6
 * rollouts in 2 groups, and for 10 loss variants (GRPO token-mean, Dr. GRPO
 * seq-mean-token-sum-norm, DAPO clip-higher with binding clips, dual clip, GSPO, KL k1/k2/k3, TIS,
 * on-policy TIS) the loss and the gradient of every parameter. The C path (zr_advantages,
 * zr_tf_forward_train, zr_policy_loss, zr_tf_backward with weights -dL/dlogp) must match:
 * |loss diff| <= 1e-4, per-tensor ||g - g_ref|| / ||g_ref|| <= 1e-3. The on-policy variant also
 * runs through zr_trainer_rl_step, whole and in micro-batches of 8 tokens (accumulation).
 * Then: checkpoint/resume gives bit-identical losses and weights (KL to a refreshed reference,
 * 2 minibatches, cosine schedule), group skipping, SFT loss and step, metrics JSON, hot lr
 * reload, and refusals (world_size 2 on CPU, KL without a reference, split groups). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/json.h"
#include "learner/algo.h"
#include "learner/trainer.h"
#include "model/backend.h"
#include "model/safetensors.h"
#include "model/transformer.h"
#include "tests/test.h"

static char fix_dir[4096], model_dir[4200], tmp_root[4096];
static zr_backend *be;

static void find_dirs(void) {
  const char *s = getenv("ZERORL_SOURCE_DIR");
  char src[2048];
  if (s) {
    snprintf(src, sizeof src, "%s", s);
  } else {
    snprintf(src, sizeof src, "%s", __FILE__);
    char *p = strstr(src, "/tests/unit/");
    if (p) *p = 0;
    else snprintf(src, sizeof src, ".");
  }
  snprintf(fix_dir, sizeof fix_dir, "%s/tests/fixtures/loss", src);
  snprintf(model_dir, sizeof model_dir, "%s/model", fix_dir);
  const char *t = getenv("TMPDIR");
  snprintf(tmp_root, sizeof tmp_root, "%s/zr-trainer-XXXXXX", t ? t : "/tmp");
  if (!mkdtemp(tmp_root)) {
    perror("mkdtemp");
    exit(1);
  }
}

static zr_tf *load_model(void) {
  zr_tf *m = NULL;
  if (zr_tf_load(&m, model_dir, be)) {
    fprintf(stderr, "load %s: %s\n", model_dir, zr_errmsg());
    exit(1);
  }
  return m;
}

/* ---- the fixture ------------------------------------------------------------------------------ */

#define NSEQ 6
typedef struct {
  json_t *j;
  int plen[NSEQ], clen[NSEQ], group[NSEQ];
  int32_t *prompt[NSEQ], *comp[NSEQ];
  double reward[NSEQ];
  int ntok; /* completion tokens */
} fixture;

static void json_ints(const json_t *a, int32_t **out, int *n) {
  *n = (int)json_array_size(a);
  *out = malloc((size_t)*n * sizeof **out);
  for (int i = 0; i < *n; i++) (*out)[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
}
static float *json_floats(const json_t *a, int want) {
  if ((int)json_array_size(a) != want) {
    fprintf(stderr, "fixture array of %zu, want %d\n", json_array_size(a), want);
    exit(1);
  }
  float *o = malloc((size_t)want * sizeof *o);
  for (int i = 0; i < want; i++) o[i] = (float)json_number_value(json_array_get(a, (size_t)i));
  return o;
}
static double jnum(const json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }
static const char *jstr(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static void fixture_load(fixture *f) {
  char path[4300];
  snprintf(path, sizeof path, "%s/cases.json", fix_dir);
  f->j = zr_json_load_file(path);
  if (!f->j) {
    fprintf(stderr, "%s\n", zr_errmsg());
    exit(1);
  }
  const json_t *P = json_object_get(f->j, "prompts"), *C = json_object_get(f->j, "completions");
  f->ntok = 0;
  for (int i = 0; i < NSEQ; i++) {
    json_ints(json_array_get(P, (size_t)i), &f->prompt[i], &f->plen[i]);
    json_ints(json_array_get(C, (size_t)i), &f->comp[i], &f->clen[i]);
    f->group[i] = (int)json_integer_value(json_array_get(json_object_get(f->j, "groups"), (size_t)i));
    f->reward[i] = json_number_value(json_array_get(json_object_get(f->j, "rewards"), (size_t)i));
    f->ntok += f->clen[i];
  }
}

static void fixture_free(fixture *f) {
  for (int i = 0; i < NSEQ; i++) free(f->prompt[i]), free(f->comp[i]);
  json_decref(f->j);
}

static zr_loss_cfg variant_cfg(const json_t *v) {
  zr_loss_cfg c = zr_loss_cfg_defaults();
  c.eps_low = jnum(v, "eps_low");
  c.eps_high = jnum(v, "eps_high");
  c.dual_clip = jnum(v, "dual_clip");
  c.gspo = json_is_true(json_object_get(v, "gspo"));
  CHECK_INT(zr_agg_kind_parse(jstr(v, "agg"), &c.agg), 0);
  c.sum_norm_len = (int)jnum(v, "sum_norm_len");
  CHECK_INT(zr_kl_kind_parse(jstr(v, "kl"), &c.kl), 0);
  c.kl_beta = jnum(v, "kl_beta");
  c.is_cap = jnum(v, "is_cap");
  return c;
}

/* per-tensor relative gradient error against grads.safetensors "<variant>.<name>" */
static double worst_grad_err(zr_tf *m, zr_st_file *gf, const char *variant, const char **worst) {
  double w = 0;
  for (size_t i = 0; i < zr_tf_n_tensors(m); i++) {
    const zr_tf_tensor *t = zr_tf_tensor_at(m, i);
    char name[512];
    snprintf(name, sizeof name, "%s.%s", variant, t->name);
    const zr_st_tensor *r = zr_st_find(gf, name);
    CHECK(r != NULL && r->dtype == ZR_DT_F32 && r->nbytes == t->numel * sizeof(float));
    if (!r) continue;
    float *g = malloc(t->numel * sizeof *g);
    CHECK_INT(zr_tf_get_grad(m, t->name, g, t->numel), 0);
    const float *ref = (const float *)r->data;
    double d2 = 0, r2 = 0;
    for (size_t k = 0; k < t->numel; k++) {
      double rv;
      float fv;
      memcpy(&fv, ref + k, sizeof fv);
      rv = fv;
      d2 += (g[k] - rv) * (g[k] - rv);
      r2 += rv * rv;
    }
    double e = r2 > 0 ? sqrt(d2 / r2) : sqrt(d2);
    if (e > w) w = e, *worst = t->name;
    free(g);
  }
  return w;
}

/* Packs the fixture's sequences as the trainer does (prompt + completion minus its last token). */
static int pack_fixture(const fixture *f, int *tokens, int *targets, int *lens) {
  int o = 0;
  for (int i = 0; i < NSEQ; i++) {
    int L = f->plen[i] + f->clen[i] - 1;
    for (int k = 0; k < f->plen[i]; k++) tokens[o + k] = f->prompt[i][k];
    for (int k = 0; k + 1 < f->clen[i]; k++) tokens[o + f->plen[i] + k] = f->comp[i][k];
    for (int k = 0; k < L; k++) targets[o + k] = -1;
    for (int k = 0; k < f->clen[i]; k++) targets[o + f->plen[i] - 1 + k] = f->comp[i][k];
    lens[i] = L;
    o += L;
  }
  return o;
}

static void test_reference(fixture *f) {
  zr_tf *m = load_model();
  char path[4300];
  snprintf(path, sizeof path, "%s/grads.safetensors", fix_dir);
  zr_st_file *gf = NULL;
  CHECK_INT(zr_st_open(&gf, path), 0);
  int tokens[256], targets[256], lens[NSEQ];
  const int N = pack_fixture(f, tokens, targets, lens);
  float lp_all[256], w[256], cur[64], d[64];
  int gstart[3] = {0, 3, 6};
  CHECK(f->group[2] == f->group[0] && f->group[3] != f->group[2]);
  const json_t *vars = json_object_get(f->j, "variants");
  CHECK_INT(json_array_size(vars), 10);
  for (size_t vi = 0; vi < json_array_size(vars); vi++) {
    const json_t *v = json_array_get(vars, vi);
    const char *name = jstr(v, "name");
    zr_loss_cfg cfg = variant_cfg(v);
    zr_adv_kind ak;
    CHECK_INT(zr_adv_kind_parse(jstr(v, "adv"), &ak), 0);
    double adv[NSEQ];
    CHECK_INT(zr_advantages(ak, f->reward, NSEQ, gstart, 2, 1e-4, adv), 0);
    for (int i = 0; i < NSEQ; i++) CHECK(fabs(adv[i] - json_number_value(json_array_get(json_object_get(v, "advantages"), (size_t)i))) < 1e-12);

    CHECK_INT(zr_tf_zero_grads(m), 0);
    zr_tf_batch b = {.n_seqs = NSEQ, .seq_lens = lens, .tokens = tokens, .targets = targets};
    zr_tf_outputs out = {.logprobs = lp_all};
    CHECK_INT(zr_tf_forward_train(m, &b, &out), 0);
    for (int i = 0, o = 0, c = 0; i < NSEQ; o += lens[i], c += f->clen[i], i++)
      for (int k = 0; k < f->clen[i]; k++) cur[c + k] = lp_all[o + f->plen[i] - 1 + k];
    float *ref_lp = json_floats(json_object_get(v, "logp"), f->ntok);
    double lpe = 0;
    for (int i = 0; i < f->ntok; i++) lpe = fmax(lpe, fabs((double)cur[i] - ref_lp[i]));
    CHECK(lpe < 1e-4);
    float *old = json_floats(json_object_get(v, "logp_old"), f->ntok);
    float *beh = json_floats(json_object_get(v, "logp_behav"), f->ntok);
    float *ref = json_floats(json_object_get(v, "logp_ref"), f->ntok);
    const bool onpolicy = json_is_true(json_object_get(v, "old_is_policy"));
    zr_loss_in in = {.n_seqs = NSEQ, .len = f->clen, .logp = cur, .logp_old = onpolicy ? cur : old,
                     .logp_behav = beh, .logp_ref = ref, .adv = adv};
    zr_loss_stats st;
    CHECK_INT(zr_policy_loss(&cfg, &in, d, &st), 0);
    for (int k = 0; k < N; k++) w[k] = 0;
    for (int i = 0, o = 0, c = 0; i < NSEQ; o += lens[i], c += f->clen[i], i++)
      for (int k = 0; k < f->clen[i]; k++) w[o + f->plen[i] - 1 + k] = -d[c + k];
    CHECK_INT(zr_tf_backward(m, w), 0);
    const char *worst = "";
    double ge = worst_grad_err(m, gf, name, &worst);
    double le = fabs(st.loss - jnum(v, "loss"));
    fprintf(stderr, "  %-22s loss %+.6f (torch %+.6f, diff %.1e), pg %+.6f, worst grad rel err %.1e (%s), "
                    "clip %g/%g/%g\n",
            name, st.loss, jnum(v, "loss"), le, st.pg_loss, ge, worst, st.clip_low, st.clip_high, st.dual_clip);
    CHECK(le <= 1e-4);
    CHECK(fabs(st.pg_loss - jnum(v, "pg_loss")) <= 1e-4);
    CHECK(ge <= 1e-3);
    CHECK_INT((int)st.clip_low, (int)jnum(v, "clip_low"));
    CHECK_INT((int)st.clip_high, (int)jnum(v, "clip_high"));
    CHECK_INT((int)st.dual_clip, (int)jnum(v, "dual_clip_count"));
    if (!strcmp(name, "dapo_clip_higher")) CHECK(st.clip_low + st.clip_high > 0);
    if (!strcmp(name, "dual_clip")) CHECK(st.dual_clip > 0);

    /* the same through the trainer (on-policy: logp_old = its own forward), whole and accumulated */
    if (onpolicy) {
      for (int mb = 0; mb < 2; mb++) {
        CHECK_INT(zr_tf_load_weights(m, model_dir), 0);
        zr_trainer_cfg tc = zr_trainer_cfg_defaults();
        tc.loss = cfg;
        tc.adv = ak;
        tc.max_grad_norm = 0; /* the gradient buffer keeps the raw gradients after the step */
        tc.micro_batch_tokens = mb ? 8 : 0;
        zr_trainer *t = NULL;
        CHECK_INT(zr_trainer_new(&t, m, NULL, &tc), 0);
        zr_rl_sample s[NSEQ];
        for (int i = 0, c = 0; i < NSEQ; c += f->clen[i], i++)
          s[i] = (zr_rl_sample){f->prompt[i], f->plen[i], f->comp[i], f->clen[i], beh + c, f->reward[i], f->group[i]};
        zr_step_metrics sm;
        CHECK_INT(zr_trainer_rl_step(t, s, NSEQ, &sm), 0);
        ge = worst_grad_err(m, gf, name, &worst);
        fprintf(stderr, "  trainer (micro-batch %d tokens): loss %+.6f, worst grad rel err %.1e (%s), IS mean %.3f "
                        "max %.3f\n",
                tc.micro_batch_tokens, sm.loss, ge, worst, sm.is_weight_mean, sm.is_weight_max);
        CHECK(fabs(sm.loss - jnum(v, "loss")) <= 1e-4);
        CHECK(ge <= 1e-3);
        CHECK_INT(sm.n_tokens, f->ntok);
        CHECK_INT(sm.groups_skipped, 0);
        CHECK_INT(sm.n_groups, 2);
        CHECK_INT(sm.step, 1);
        CHECK(sm.is_weight_max <= 1.5 + 1e-12 && sm.is_weight_max > 1.0);
        CHECK(fabs(sm.ratio_mean - 1.0) < 1e-12);
        CHECK(sm.entropy > 0 && sm.grad_norm > 0 && sm.total_ms > 0);
        CHECK(fabs(sm.reward_mean - 2.5 / 6) < 1e-12);
        zr_trainer_free(&t);
        CHECK(t == NULL);
      }
      CHECK_INT(zr_tf_load_weights(m, model_dir), 0);
    }
    free(ref_lp);
    free(old);
    free(beh);
    free(ref);
  }
  zr_st_close(&gf);
  zr_tf_free(&m);
}

/* ---- resume ------------------------------------------------------------------------------------ */

/* A deterministic RL batch for step k: the fixture's rollouts with rewards varying by step. */
static void batch_for(const fixture *f, int k, zr_rl_sample *s, float *behav) {
  for (int i = 0, c = 0; i < NSEQ; c += f->clen[i], i++) {
    for (int j = 0; j < f->clen[i]; j++) behav[c + j] = -3.0f + 0.1f * (float)((i + j + k) % 7);
    double r = (double)((i * 5 + k * 3) % 4) / 3.0;
    s[i] = (zr_rl_sample){f->prompt[i], f->plen[i], f->comp[i], f->clen[i], behav + c, r, f->group[i]};
  }
}

static zr_trainer_cfg resume_cfg(void) {
  zr_trainer_cfg c = zr_trainer_cfg_defaults();
  c.loss.kl = ZR_KL_K3;
  c.loss.kl_beta = 0.05;
  c.loss.eps_high = 0.28;
  c.loss.is_cap = 2.0;
  c.loss.agg = ZR_AGG_SEQ_MEAN_TOKEN_MEAN;
  c.lr = zr_lr_schedule_make(ZR_LR_COSINE, 3e-3);
  c.lr.warmup_steps = 1;
  c.lr.total_steps = 12;
  c.adamw.weight_decay = 0.01;
  c.max_grad_norm = 0.5;
  c.minibatches = 2;
  c.micro_batch_tokens = 10;
  c.ref_refresh_steps = 3;
  return c;
}

static float *all_params(zr_tf *m) {
  size_t n = zr_tf_n_floats(m);
  float *p = malloc(n * sizeof *p);
  memcpy(p, zr_tf_params(m), n * sizeof *p); /* CPU backend: host memory */
  return p;
}

static void test_resume(const fixture *f) {
  const int K = 3, TOTAL = 6;
  zr_trainer_cfg cfg = resume_cfg();
  zr_rl_sample s[NSEQ];
  float behav[64];
  double loss_a[6], loss_b[6];
  float *wa, *wb, *ra, *rb;
  /* uninterrupted */
  {
    zr_tf *m = load_model(), *ref = load_model();
    zr_trainer *t = NULL;
    CHECK_INT(zr_trainer_new(&t, m, ref, &cfg), 0);
    for (int k = 0; k < TOTAL; k++) {
      batch_for(f, k, s, behav);
      zr_step_metrics sm;
      CHECK_INT(zr_trainer_rl_step(t, s, NSEQ, &sm), 0);
      loss_a[k] = sm.loss;
    }
    CHECK_INT(zr_trainer_step_count(t), 2 * TOTAL);
    wa = all_params(m);
    ra = all_params(ref);
    zr_trainer_free(&t);
    zr_tf_free(&m);
    zr_tf_free(&ref);
  }
  /* stopped after K steps, saved, everything freed, resumed */
  char ck[4300], wdir[4400];
  snprintf(ck, sizeof ck, "%s/ckpt", tmp_root);
  snprintf(wdir, sizeof wdir, "%s/ckpt/policy", tmp_root);
  {
    zr_tf *m = load_model(), *ref = load_model();
    zr_trainer *t = NULL;
    CHECK_INT(zr_trainer_new(&t, m, ref, &cfg), 0);
    for (int k = 0; k < K; k++) {
      batch_for(f, k, s, behav);
      zr_step_metrics sm;
      CHECK_INT(zr_trainer_rl_step(t, s, NSEQ, &sm), 0);
      loss_b[k] = sm.loss;
    }
    CHECK_INT(zr_trainer_save_state(t, ck), 0);
    CHECK_INT(zr_tf_save(m, wdir, ZR_DT_F32, 0), 0);
    zr_trainer_free(&t);
    zr_tf_free(&m);
    zr_tf_free(&ref);
  }
  {
    zr_tf *m = NULL, *ref = load_model(); /* ref starts from the original weights: load_state restores it */
    CHECK_INT(zr_tf_load(&m, wdir, be), 0);
    zr_trainer *t = NULL;
    CHECK_INT(zr_trainer_new(&t, m, ref, &cfg), 0);
    CHECK_INT(zr_trainer_load_state(t, ck), 0);
    CHECK_INT(zr_trainer_step_count(t), 2 * K);
    for (int k = K; k < TOTAL; k++) {
      batch_for(f, k, s, behav);
      zr_step_metrics sm;
      CHECK_INT(zr_trainer_rl_step(t, s, NSEQ, &sm), 0);
      loss_b[k] = sm.loss;
    }
    wb = all_params(m);
    rb = all_params(ref);
    /* a state of another schedule is refused */
    zr_trainer_cfg other = cfg;
    other.lr.kind = ZR_LR_LINEAR;
    zr_trainer *t2 = NULL;
    CHECK_INT(zr_trainer_new(&t2, m, ref, &other), 0);
    CHECK_INT(zr_trainer_load_state(t2, ck), -EINVAL);
    CHECK_CONTAINS(zr_errmsg(), "lr_schedule");
    zr_trainer_free(&t2);
    zr_trainer_free(&t);
    zr_tf_free(&m);
    zr_tf_free(&ref);
  }
  int same = 1;
  for (int k = 0; k < TOTAL; k++) same &= memcmp(&loss_a[k], &loss_b[k], sizeof(double)) == 0;
  CHECK(same);
  if (!same)
    for (int k = 0; k < TOTAL; k++) fprintf(stderr, "  step %d: %.17g vs %.17g\n", k, loss_a[k], loss_b[k]);
  zr_tf *tmp = load_model();
  size_t n = zr_tf_n_floats(tmp);
  CHECK(memcmp(wa, wb, n * sizeof(float)) == 0);
  CHECK(memcmp(ra, rb, n * sizeof(float)) == 0);
  CHECK(memcmp(zr_tf_params(tmp), wa, n * sizeof(float)) != 0); /* it did train */
  zr_tf_free(&tmp);
  free(wa), free(wb), free(ra), free(rb);
}

/* ---- the rest ----------------------------------------------------------------------------------- */

static void test_misc(const fixture *f) {
  zr_tf *m = load_model();
  zr_trainer *t = NULL;
  zr_trainer_cfg cfg = zr_trainer_cfg_defaults();
  /* refusals */
  cfg.world_size = 2;
  CHECK_INT(zr_trainer_new(&t, m, NULL, &cfg), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "world_size 2");
  cfg = zr_trainer_cfg_defaults();
  cfg.loss.kl = ZR_KL_K2;
  CHECK_INT(zr_trainer_new(&t, m, NULL, &cfg), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "reference");
  cfg = zr_trainer_cfg_defaults();
  cfg.minibatches = 0;
  CHECK_INT(zr_trainer_new(&t, m, NULL, &cfg), -EINVAL);
  cfg = zr_trainer_cfg_defaults();
  cfg.lr = zr_lr_schedule_make(ZR_LR_CONSTANT, 1e-3);
  CHECK_INT(zr_trainer_new(&t, m, NULL, &cfg), 0);

  zr_rl_sample s[NSEQ];
  for (int i = 0; i < NSEQ; i++)
    s[i] = (zr_rl_sample){f->prompt[i], f->plen[i], f->comp[i], f->clen[i], NULL, 1.0, f->group[i]};
  zr_step_metrics sm;
  /* all groups uninformative: nothing trained, both counted */
  CHECK_INT(zr_trainer_rl_step(t, s, NSEQ, &sm), 0);
  CHECK_INT(sm.groups_skipped, 2);
  CHECK_INT(sm.n_tokens, 0);
  CHECK_INT(zr_trainer_step_count(t), 0);
  /* one informative group */
  s[0].reward = 0;
  CHECK_INT(zr_trainer_rl_step(t, s, NSEQ, &sm), 0);
  CHECK_INT(sm.groups_skipped, 1);
  CHECK_INT(sm.n_tokens, f->clen[0] + f->clen[1] + f->clen[2]);
  CHECK_INT(zr_trainer_step_count(t), 1);
  CHECK(fabs(sm.lr - 1e-3) < 1e-15);
  json_t *j = json_object();
  zr_step_metrics_to_json(&sm, j);
  CHECK(json_integer_value(json_object_get(j, "groups_skipped")) == 1);
  CHECK(json_is_real(json_object_get(j, "entropy")));
  CHECK(json_object_get(j, "tokens_per_s") != NULL && json_object_get(j, "backward_ms") != NULL);
  json_decref(j);
  /* split group */
  zr_rl_sample split[3] = {s[0], s[3], s[1]};
  CHECK_INT(zr_trainer_rl_step(t, split, 3, &sm), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "contiguous");
  /* hot lr reload */
  CHECK_INT(zr_trainer_set_lr(t, 5e-4), 0);
  CHECK_INT(zr_trainer_set_lr(t, -1), -EINVAL);
  s[3].reward = 0;
  CHECK_INT(zr_trainer_rl_step(t, s, NSEQ, &sm), 0);
  CHECK(fabs(sm.lr - 5e-4) < 1e-15);

  /* SFT: the eval loss is the step's loss before its update; the loss falls over a few steps */
  zr_sft_sample ss[NSEQ];
  for (int i = 0; i < NSEQ; i++) ss[i] = (zr_sft_sample){f->prompt[i], f->plen[i], f->comp[i], f->clen[i]};
  double l0, l1;
  CHECK_INT(zr_trainer_sft_loss(t, ss, NSEQ, &l0), 0);
  CHECK_INT(zr_trainer_sft_step(t, ss, NSEQ, &sm), 0);
  CHECK(fabs(sm.loss - l0) < 1e-5);
  CHECK_INT(sm.n_tokens, f->ntok);
  CHECK_INT(zr_trainer_set_lr(t, 1e-2), 0);
  for (int k = 0; k < 10; k++) CHECK_INT(zr_trainer_sft_step(t, ss, NSEQ, &sm), 0);
  CHECK_INT(zr_trainer_sft_loss(t, ss, NSEQ, &l1), 0);
  fprintf(stderr, "  sft loss %.4f -> %.4f\n", l0, l1);
  CHECK(l1 < l0 - 0.5);
  CHECK_INT(zr_trainer_sft_step(t, ss, 0, &sm), -EINVAL);
  zr_trainer_free(&t);
  zr_tf_free(&m);
}

static void rm_tree(const char *dir) {
  char cmd[4400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(void) {
  find_dirs();
  if (zr_backend_cpu_new(&be, 2)) {
    fprintf(stderr, "cpu backend: %s\n", zr_errmsg());
    return 1;
  }
  fixture f;
  fixture_load(&f);
  test_reference(&f);
  test_resume(&f);
  test_misc(&f);
  fixture_free(&f);
  zr_backend_free(&be);
  rm_tree(tmp_root);
  return TEST_DONE();
}
