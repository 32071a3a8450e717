/* trainer.c: RL and SFT steps, the optimizer and schedule, trainer checkpoints (see trainer.h). */
#include "learner/trainer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/clock.h"
#include "common/error.h"

struct zr_trainer {
  zr_trainer_cfg cfg;
  zr_tf *policy, *ref;
  zr_backend *be;
  zr_adamw *opt;
  int64_t steps; /* optimizer steps */
  /* host scratch for one packed forward, grown on demand */
  int *tokens, *targets, *seq_lens;
  float *logp, *ent, *weights;
  size_t cap_tok;
  int cap_seq;
};

/* a prompt/completion pair, the common view of RL and SFT samples */
typedef struct {
  const int32_t *prompt, *comp;
  int plen, clen;
} pc_view;

static inline int view_tokens(const pc_view *v) { return v->plen + v->clen - 1; }

zr_trainer_cfg zr_trainer_cfg_defaults(void) {
  zr_trainer_cfg c;
  memset(&c, 0, sizeof c);
  c.loss = zr_loss_cfg_defaults();
  c.adv = ZR_ADV_GRPO;
  c.std_eps = 1e-4;
  c.lr = zr_lr_schedule_make(ZR_LR_CONSTANT, 1e-6);
  c.adamw = zr_adamw_defaults();
  c.adamw.weight_decay = 0.0;
  c.max_grad_norm = 1.0;
  c.micro_batch_tokens = 0;
  c.minibatches = 1;
  c.ref_refresh_steps = 0;
  c.logprob_temperature = 1.0f;
  c.world_size = 1;
  return c;
}

static double ms_since(uint64_t t0) { return (double)(zr_clock_mono_ns() - t0) / 1e6; }

int zr_trainer_new(zr_trainer **out, zr_tf *policy, zr_tf *ref, const zr_trainer_cfg *cfg) {
  if (!out || !policy || !cfg) return zr_seterr(-EINVAL, "trainer: NULL argument");
  *out = NULL;
  zr_backend *be = zr_tf_backend(policy);
  if (cfg->world_size != zr_comm_world(cfg->comm))
    return zr_seterr(-EINVAL,
                     "trainer: world_size %d but the data-parallel group has %d rank(s) (multi-rank training "
                     "needs a communicator, learner/comm.h: zerorl-learner --world-size N --rank R)",
                     cfg->world_size, zr_comm_world(cfg->comm));
  if (cfg->minibatches < 1) return zr_seterr(-EINVAL, "trainer: minibatches %d must be >= 1", cfg->minibatches);
  if (cfg->micro_batch_tokens < 0)
    return zr_seterr(-EINVAL, "trainer: micro_batch_tokens %d must be >= 0", cfg->micro_batch_tokens);
  if (cfg->ref_refresh_steps < 0)
    return zr_seterr(-EINVAL, "trainer: ref_refresh_steps %d must be >= 0", cfg->ref_refresh_steps);
  if (!(cfg->max_grad_norm >= 0) || !isfinite(cfg->max_grad_norm))
    return zr_seterr(-EINVAL, "trainer: max_grad_norm %g must be >= 0", cfg->max_grad_norm);
  if (!(cfg->std_eps >= 0) || !isfinite(cfg->std_eps))
    return zr_seterr(-EINVAL, "trainer: std_eps %g must be >= 0", cfg->std_eps);
  if ((int)cfg->adv < 0 || cfg->adv >= ZR_ADV_KIND_COUNT) return zr_seterr(-EINVAL, "trainer: unknown adv %d", (int)cfg->adv);
  if (!(cfg->logprob_temperature >= 0) || !isfinite(cfg->logprob_temperature))
    return zr_seterr(-EINVAL, "trainer: logprob_temperature %g must be >= 0", (double)cfg->logprob_temperature);
  int rc = zr_lr_schedule_check(&cfg->lr);
  if (rc) return rc;
  /* validates the loss configuration (no sequences) */
  {
    float dummy = 0;
    zr_loss_in in = {0};
    in.logp_behav = &dummy;
    in.logp_ref = &dummy;
    if ((rc = zr_policy_loss(&cfg->loss, &in, &dummy, NULL))) return rc;
  }
  if (cfg->loss.kl != ZR_KL_NONE && !ref)
    return zr_seterr(-EINVAL, "trainer: kl %s needs a reference model", zr_kl_kind_name(cfg->loss.kl));
  if (cfg->ref_refresh_steps > 0 && !ref)
    return zr_seterr(-EINVAL, "trainer: ref_refresh_steps %d needs a reference model", cfg->ref_refresh_steps);
  if (ref) {
    if (zr_tf_backend(ref) != be) return zr_seterr(-EINVAL, "trainer: the reference model is on another backend");
    if (zr_tf_n_floats(ref) != zr_tf_n_floats(policy) || zr_tf_n_tensors(ref) != zr_tf_n_tensors(policy))
      return zr_seterr(-EINVAL, "trainer: reference and policy models have different shapes");
  }

  zr_trainer *t = calloc(1, sizeof *t);
  if (!t) return zr_seterr(-ENOMEM, "trainer: out of memory");
  t->cfg = *cfg;
  t->policy = policy;
  t->ref = ref;
  t->be = be;
  size_t nt = zr_tf_n_tensors(policy);
  zr_optim_group *groups = calloc(nt ? nt : 1, sizeof *groups);
  if (!groups) {
    free(t);
    return zr_seterr(-ENOMEM, "trainer: out of memory");
  }
  for (size_t i = 0; i < nt; i++) {
    const zr_tf_tensor *tt = zr_tf_tensor_at(policy, i);
    groups[i].offset = tt->offset;
    groups[i].length = tt->numel;
    groups[i].apply_weight_decay = !tt->no_decay;
  }
  rc = zr_adamw_new(&t->opt, be, zr_tf_n_floats(policy), &cfg->adamw, groups, nt);
  free(groups);
  if (rc) {
    free(t);
    return rc;
  }
  zr_tf_options o = zr_tf_get_options(policy);
  o.logprob_temperature = cfg->logprob_temperature;
  zr_tf_set_options(policy, &o);
  if (ref) {
    o = zr_tf_get_options(ref);
    o.logprob_temperature = cfg->logprob_temperature;
    zr_tf_set_options(ref, &o);
  }
  *out = t;
  return 0;
}

void zr_trainer_free(zr_trainer **tp) {
  if (!tp || !*tp) return;
  zr_trainer *t = *tp;
  zr_adamw_free(&t->opt);
  free(t->tokens);
  free(t->targets);
  free(t->seq_lens);
  free(t->logp);
  free(t->ent);
  free(t->weights);
  free(t);
  *tp = NULL;
}

int64_t zr_trainer_step_count(const zr_trainer *t) { return t->steps; }
const zr_trainer_cfg *zr_trainer_config(const zr_trainer *t) { return &t->cfg; }

int zr_trainer_set_lr(zr_trainer *t, double lr) {
  if (!(lr > 0) || !isfinite(lr)) return zr_seterr(-EINVAL, "trainer: learning rate %g must be > 0", lr);
  t->cfg.lr.base_lr = lr;
  return 0;
}

/* ---- packing ------------------------------------------------------------------------------- */

static int reserve(zr_trainer *t, size_t ntok, int nseq) {
  if (ntok > t->cap_tok) {
    size_t c = ntok + ntok / 2 + 64;
    int *a = realloc(t->tokens, c * sizeof *a);
    if (a) t->tokens = a;
    int *b = realloc(t->targets, c * sizeof *b);
    if (b) t->targets = b;
    float *p = realloc(t->logp, c * sizeof *p);
    if (p) t->logp = p;
    float *e = realloc(t->ent, c * sizeof *e);
    if (e) t->ent = e;
    float *w = realloc(t->weights, c * sizeof *w);
    if (w) t->weights = w;
    if (!a || !b || !p || !e || !w) return zr_seterr(-ENOMEM, "trainer: out of memory (%zu tokens)", c);
    t->cap_tok = c;
  }
  if (nseq > t->cap_seq) {
    int c = nseq + nseq / 2 + 8;
    int *s = realloc(t->seq_lens, (size_t)c * sizeof *s);
    if (!s) return zr_seterr(-ENOMEM, "trainer: out of memory (%d sequences)", c);
    t->seq_lens = s;
    t->cap_seq = c;
  }
  return 0;
}

/* Packs views[a..b) (prompt + completion minus its last token; targets on completion tokens) into
 * t's scratch; returns the batch. */
static int pack(zr_trainer *t, const pc_view *v, int a, int b, zr_tf_batch *batch, int *n_tok) {
  size_t N = 0;
  for (int i = a; i < b; i++) N += (size_t)view_tokens(&v[i]);
  int rc = reserve(t, N, b - a);
  if (rc) return rc;
  size_t o = 0;
  for (int i = a; i < b; i++) {
    const pc_view *x = &v[i];
    const int L = view_tokens(x);
    for (int j = 0; j < x->plen; j++) t->tokens[o + j] = x->prompt[j];
    for (int j = 0; j + 1 < x->clen; j++) t->tokens[o + x->plen + j] = x->comp[j];
    for (int j = 0; j < L; j++) t->targets[o + j] = -1;
    for (int j = 0; j < x->clen; j++) t->targets[o + x->plen - 1 + j] = x->comp[j];
    t->seq_lens[i - a] = L;
    o += (size_t)L;
  }
  memset(batch, 0, sizeof *batch);
  batch->n_seqs = b - a;
  batch->seq_lens = t->seq_lens;
  batch->tokens = t->tokens;
  batch->targets = t->targets;
  *n_tok = (int)N;
  return 0;
}

/* Copies the completion values of the packed array src (positions of views[a..b)) into dst. */
static void gather_comp(const pc_view *v, int a, int b, const float *src, float *dst) {
  size_t o = 0, c = 0;
  for (int i = a; i < b; i++) {
    for (int j = 0; j < v[i].clen; j++) dst[c + j] = src[o + v[i].plen - 1 + j];
    o += (size_t)view_tokens(&v[i]);
    c += (size_t)v[i].clen;
  }
}

/* The end of the micro-batch that starts at a (at least one sample) within [a, end). */
static int micro_end(const zr_trainer *t, const pc_view *v, int a, int end) {
  if (t->cfg.micro_batch_tokens <= 0) return end;
  long tok = view_tokens(&v[a]);
  int b = a + 1;
  while (b < end && tok + view_tokens(&v[b]) <= t->cfg.micro_batch_tokens) tok += view_tokens(&v[b++]);
  return b;
}

/* Inference log-probs of the completion tokens of views[0..n) under model m, in micro-batches:
 * dst[sum clen]. */
static int forward_comp_logp(zr_trainer *t, zr_tf *m, const pc_view *v, int n, float *dst) {
  size_t c = 0;
  for (int a = 0; a < n;) {
    int b = micro_end(t, v, a, n), ntok;
    zr_tf_batch batch;
    int rc = pack(t, v, a, b, &batch, &ntok);
    if (rc) return rc;
    zr_tf_outputs out = {0};
    out.logprobs = t->logp;
    if ((rc = zr_tf_forward(m, &batch, &out))) return rc;
    gather_comp(v, a, b, t->logp, dst + c);
    for (int i = a; i < b; i++) c += (size_t)v[i].clen;
    a = b;
  }
  return 0;
}

/* All-reduce (multi-rank), norm/clip and one optimizer step at the schedule's lr; refreshes the
 * reference when due. */
static int optimizer_step(zr_trainer *t, double *grad_norm, double *lr_used) {
  float *g = zr_tf_grads(t->policy);
  size_t n = zr_tf_n_floats(t->policy);
  int rc;
  if (t->cfg.world_size > 1 && (rc = zr_comm_all_reduce_avg(t->cfg.comm, g, n))) return rc;
  double norm;
  if (t->cfg.max_grad_norm > 0) {
    rc = zr_grad_clip(t->be, g, n, t->cfg.max_grad_norm, &norm);
  } else {
    norm = zr_grad_norm(t->be, g, n);
    rc = isfinite(norm) ? 0 : zr_seterr(-ERANGE, "trainer: gradient norm is %g", norm);
  }
  *grad_norm = norm;
  if (rc) return rc == -ERANGE ? zr_seterr(-ERANGE, "trainer: step %lld skipped: gradient norm is %g",
                                           (long long)t->steps, norm)
                               : rc;
  double lr = zr_lr_at(&t->cfg.lr, t->steps);
  if ((rc = zr_adamw_step(t->opt, zr_tf_params(t->policy), g, lr))) return rc;
  *lr_used = lr;
  t->steps++;
  if (t->ref && t->cfg.ref_refresh_steps > 0 && t->steps % t->cfg.ref_refresh_steps == 0)
    t->be->copy(t->be, zr_tf_params(t->ref), zr_tf_params(t->policy), n * sizeof(float));
  return 0;
}

/* ---- RL ------------------------------------------------------------------------------------ */

/* This rank's share [*la, *lb) of the kept samples [a0, b0): contiguous and token-balanced (the
 * boundary of rank r is the first k whose prefix holds >= r/W of the tokens); all of it at W 1. */
static void local_range(const zr_trainer *t, const pc_view *v, int a0, int b0, int *la, int *lb) {
  const int W = t->cfg.world_size, R = zr_comm_rank(t->cfg.comm);
  if (W <= 1) {
    *la = a0, *lb = b0;
    return;
  }
  int64_t total = 0;
  for (int k = a0; k < b0; k++) total += view_tokens(&v[k]);
  int bound[2];
  for (int e = 0; e < 2; e++) {
    const int r = R + e;
    int64_t cum = 0;
    int k = a0;
    if (r >= W) k = b0;
    else
      while (k < b0 && cum * W < total * r) cum += view_tokens(&v[k++]);
    bound[e] = k;
  }
  *la = bound[0], *lb = bound[1];
}

int zr_trainer_rl_step(zr_trainer *t, const zr_rl_sample *s, int n, zr_step_metrics *m) {
  const uint64_t t_start = zr_clock_mono_ns();
  if (!t || !s || n < 1 || !m) return zr_seterr(-EINVAL, "trainer: rl_step needs samples (n = %d) and metrics", n);
  memset(m, 0, sizeof *m);
  m->n_samples = n;
  m->step = t->steps;
  for (int i = 0; i < n; i++)
    if (s[i].prompt_len < 1 || s[i].completion_len < 1 || !s[i].prompt || !s[i].completion || !isfinite(s[i].reward))
      return zr_seterr(-EINVAL, "trainer: sample %d: prompt_len %d, completion_len %d, reward %g (need >= 1, >= 1, finite)",
                       i, s[i].prompt_len, s[i].completion_len, s[i].reward);
  int rc = 0;
  int *gstart = malloc((size_t)(n + 1) * sizeof *gstart);
  double *rew = malloc((size_t)n * sizeof *rew), *adv = malloc((size_t)n * sizeof *adv);
  pc_view *v = malloc((size_t)n * sizeof *v);
  int *kept = malloc((size_t)n * sizeof *kept);
  float *buf = NULL;
  size_t *cpos = NULL; /* cpos[k]: completion offset of kept sample k */
  if (!gstart || !rew || !adv || !v || !kept) {
    rc = zr_seterr(-ENOMEM, "trainer: out of memory");
    goto done;
  }
  /* groups (contiguous) */
  int ng = 0;
  for (int i = 0; i < n; i++) {
    if (i == 0 || s[i].group != s[i - 1].group) {
      for (int j = 0; j < ng; j++)
        if (s[gstart[j]].group == s[i].group) {
          rc = zr_seterr(-EINVAL, "trainer: samples of group %d are not contiguous (again at sample %d)", s[i].group, i);
          goto done;
        }
      gstart[ng++] = i;
    }
    rew[i] = s[i].reward;
  }
  gstart[ng] = n;
  m->n_groups = ng;
  if ((rc = zr_advantages(t->cfg.adv, rew, n, gstart, ng, t->cfg.std_eps, adv))) goto done;
  {
    double rs = 0, rl = 0, rv = 0;
    for (int i = 0; i < n; i++) rs += rew[i], rl += s[i].completion_len;
    m->reward_mean = rs / n;
    for (int i = 0; i < n; i++) rv += (rew[i] - m->reward_mean) * (rew[i] - m->reward_mean);
    m->reward_std = sqrt(rv / n);
    m->response_len_mean = rl / n;
  }
  /* keep the groups with a signal */
  int nk = 0;
  for (int g = 0; g < ng; g++) {
    bool any = false;
    for (int i = gstart[g]; i < gstart[g + 1]; i++) any |= adv[i] != 0.0;
    if (!any) {
      m->groups_skipped++;
      continue;
    }
    for (int i = gstart[g]; i < gstart[g + 1]; i++) kept[nk++] = i;
  }
  for (int k = 0; k < nk; k++) {
    const zr_rl_sample *x = &s[kept[k]];
    v[k] = (pc_view){x->prompt, x->completion, x->prompt_len, x->completion_len};
  }
  m->lr = zr_lr_at(&t->cfg.lr, t->steps);
  if (nk == 0) goto done; /* nothing to learn from: no optimizer step */

  size_t nc = 0;
  for (int k = 0; k < nk; k++) nc += (size_t)v[k].clen;
  /* completion-packed: ref, old, behav, cur, dlogp */
  buf = malloc(5 * nc * sizeof *buf);
  double *kadv = malloc((size_t)nk * sizeof *kadv);
  int *klen = malloc((size_t)nk * sizeof *klen);
  cpos = calloc((size_t)nk + 1, sizeof *cpos);
  if (!buf || !kadv || !klen || !cpos) {
    free(kadv);
    free(klen);
    rc = zr_seterr(-ENOMEM, "trainer: out of memory");
    goto done;
  }
  float *ref_c = buf, *old_c = buf + nc, *behav_c = buf + 2 * nc, *cur_c = buf + 3 * nc, *d_c = buf + 4 * nc;
  for (int k = 0; k < nk; k++) kadv[k] = adv[kept[k]], klen[k] = v[k].clen;
  const bool use_ref = t->cfg.loss.kl != ZR_KL_NONE;
  const bool recompute_old = t->cfg.minibatches > 1;
  const int W = t->cfg.world_size;
  int n_mb = t->cfg.minibatches < nk ? t->cfg.minibatches : nk;
  for (int k = 0; k < nk; k++) cpos[k + 1] = cpos[k] + (size_t)v[k].clen;
  uint64_t t0 = zr_clock_mono_ns();
  if (W == 1) {
    if (use_ref && (rc = forward_comp_logp(t, t->ref, v, nk, ref_c))) goto done2;
    if (recompute_old && (rc = forward_comp_logp(t, t->policy, v, nk, old_c))) goto done2;
  } else if (use_ref || recompute_old) { /* only this rank's shares */
    for (int mb = 0; mb < n_mb; mb++) {
      int la, lb;
      local_range(t, v, (int)((int64_t)nk * mb / n_mb), (int)((int64_t)nk * (mb + 1) / n_mb), &la, &lb);
      if (lb == la) continue;
      if (use_ref && (rc = forward_comp_logp(t, t->ref, v + la, lb - la, ref_c + cpos[la]))) goto done2;
      if (recompute_old && (rc = forward_comp_logp(t, t->policy, v + la, lb - la, old_c + cpos[la]))) goto done2;
    }
  }
  m->forward_ms += ms_since(t0);

  double ent_sum = 0, kl_sum = 0, clip_lo = 0, clip_hi = 0, dual = 0, ratio_sum = 0, is_sum = 0, is_max = 0;
  int64_t tok_through = 0;
  size_t coff = 0;
  for (int mb = 0; mb < n_mb; mb++) {
    const int a0 = (int)((int64_t)nk * mb / n_mb), b0 = (int)((int64_t)nk * (mb + 1) / n_mb);
    int64_t mb_tok = 0;
    for (int k = a0; k < b0; k++) mb_tok += v[k].clen;
    if ((rc = zr_tf_zero_grads(t->policy))) goto done2;
    double mb_loss = 0, mb_pg = 0;
    int la, lb;
    local_range(t, v, a0, b0, &la, &lb);
    for (int a = la; a < lb;) {
      const int b = micro_end(t, v, a, lb);
      coff = cpos[a];
      int ntok;
      zr_tf_batch batch;
      if ((rc = pack(t, v, a, b, &batch, &ntok))) goto done2;
      zr_tf_outputs out = {0};
      out.logprobs = t->logp;
      out.entropy = t->ent;
      t0 = zr_clock_mono_ns();
      if ((rc = zr_tf_forward_train(t->policy, &batch, &out))) goto done2;
      m->forward_ms += ms_since(t0);
      tok_through += ntok;
      size_t mc = 0;
      for (int k = a; k < b; k++) mc += (size_t)v[k].clen;
      float *cur = cur_c + coff, *old = old_c + coff, *beh = behav_c + coff, *d = d_c + coff;
      gather_comp(v, a, b, t->logp, cur);
      {
        size_t c = 0;
        for (int k = a; k < b; k++) {
          const zr_rl_sample *x = &s[kept[k]];
          for (int j = 0; j < x->completion_len; j++) {
            if (!recompute_old) old[c + j] = cur[c + j];
            beh[c + j] = x->behav_logp ? x->behav_logp[j] : old[c + j];
          }
          c += (size_t)x->completion_len;
        }
        size_t o = 0;
        for (int k = a; k < b; k++) {
          for (int j = 0; j < v[k].clen; j++) ent_sum += t->ent[o + v[k].plen - 1 + j];
          o += (size_t)view_tokens(&v[k]);
        }
      }
      zr_loss_in in = {0};
      in.n_seqs = b - a;
      in.len = klen + a;
      in.logp = cur;
      in.logp_old = old;
      in.logp_behav = beh;
      in.logp_ref = use_ref ? ref_c + coff : NULL;
      in.adv = kadv + a;
      in.norm_tokens = mb_tok;
      in.norm_seqs = b0 - a0;
      zr_loss_stats st;
      if ((rc = zr_policy_loss(&t->cfg.loss, &in, d, &st))) goto done2;
      mb_loss += st.loss;
      mb_pg += st.pg_loss;
      kl_sum += st.kl_sum;
      clip_lo += st.clip_low;
      clip_hi += st.clip_high;
      dual += st.dual_clip;
      ratio_sum += st.ratio_sum;
      is_sum += st.is_sum;
      if (st.is_max > is_max) is_max = st.is_max;
      /* weights = -dL/dlogp on the completion positions */
      for (int i = 0; i < ntok; i++) t->weights[i] = 0.0f;
      size_t o = 0, c = 0;
      for (int k = a; k < b; k++) {
        if (W == 1)
          for (int j = 0; j < v[k].clen; j++) t->weights[o + v[k].plen - 1 + j] = -d[c + j];
        else /* each rank's share, times W: the average over ranks is the whole minibatch's gradient */
          for (int j = 0; j < v[k].clen; j++) t->weights[o + v[k].plen - 1 + j] = -d[c + j] * (float)W;
        o += (size_t)view_tokens(&v[k]);
        c += (size_t)v[k].clen;
      }
      t0 = zr_clock_mono_ns();
      if ((rc = zr_tf_backward(t->policy, t->weights))) goto done2;
      m->backward_ms += ms_since(t0);
      coff += mc;
      a = b;
    }
    t0 = zr_clock_mono_ns();
    rc = optimizer_step(t, &m->grad_norm, &m->lr);
    m->optim_ms += ms_since(t0);
    if (rc) goto done2;
    m->loss += mb_loss / n_mb;
    m->pg_loss += mb_pg / n_mb;
  }
  if (W > 1) { /* sums over this rank's tokens -> over the batch */
    double sums[10] = {ent_sum, kl_sum, clip_lo, clip_hi, dual, ratio_sum, is_sum, m->loss, m->pg_loss,
                       (double)tok_through};
    if ((rc = zr_comm_reduce_host(t->cfg.comm, sums, 10, ZR_COMM_SUM)) ||
        (rc = zr_comm_reduce_host(t->cfg.comm, &is_max, 1, ZR_COMM_MAX)))
      goto done2;
    ent_sum = sums[0], kl_sum = sums[1], clip_lo = sums[2], clip_hi = sums[3], dual = sums[4];
    ratio_sum = sums[5], is_sum = sums[6], m->loss = sums[7], m->pg_loss = sums[8];
    tok_through = (int64_t)sums[9];
  }
  m->n_tokens = (int64_t)nc;
  m->entropy = ent_sum / (double)nc;
  m->kl = kl_sum / (double)nc;
  m->clip_frac_low = clip_lo / (double)nc;
  m->clip_frac_high = clip_hi / (double)nc;
  m->dual_clip_frac = dual / (double)nc;
  m->ratio_mean = ratio_sum / (double)nc;
  m->is_weight_mean = is_sum / (double)nc;
  m->is_weight_max = is_max;
  m->total_ms = ms_since(t_start);
  m->tokens_per_s = m->total_ms > 0 ? (double)tok_through / (m->total_ms / 1000.0) : 0;
done2:
  free(kadv);
  free(klen);
done:
  m->step = t->steps;
  if (m->total_ms == 0) m->total_ms = ms_since(t_start);
  if (rc < 0 && rc != -ERANGE && t->cfg.comm && !zr_comm_failed(t->cfg.comm, NULL, 0)) {
    char why[600]; /* tell the other ranks now rather than at their collective deadline */
    snprintf(why, sizeof why, "training step: %s", zr_errmsg());
    zr_comm_abort(t->cfg.comm, why);
    zr_seterr(rc, "%s", why);
  }
  free(cpos);
  free(gstart);
  free(rew);
  free(adv);
  free(v);
  free(kept);
  free(buf);
  return rc;
}

/* ---- SFT ----------------------------------------------------------------------------------- */

static int sft_views(const zr_sft_sample *s, int n, pc_view **out, int64_t *n_comp) {
  *out = NULL;
  if (!s || n < 1) return zr_seterr(-EINVAL, "trainer: sft needs samples (n = %d)", n);
  pc_view *v = malloc((size_t)n * sizeof *v);
  if (!v) return zr_seterr(-ENOMEM, "trainer: out of memory");
  int64_t c = 0;
  for (int i = 0; i < n; i++) {
    if (s[i].prompt_len < 1 || s[i].completion_len < 1 || !s[i].prompt || !s[i].completion) {
      free(v);
      return zr_seterr(-EINVAL, "trainer: sft sample %d: prompt_len %d, completion_len %d (need >= 1)", i,
                       s[i].prompt_len, s[i].completion_len);
    }
    v[i] = (pc_view){s[i].prompt, s[i].completion, s[i].prompt_len, s[i].completion_len};
    c += s[i].completion_len;
  }
  *out = v;
  *n_comp = c;
  return 0;
}

int zr_trainer_sft_step(zr_trainer *t, const zr_sft_sample *s, int n, zr_step_metrics *m) {
  const uint64_t t_start = zr_clock_mono_ns();
  if (!t || !m) return zr_seterr(-EINVAL, "trainer: NULL argument");
  if (t->cfg.world_size > 1)
    return zr_seterr(-ENOTSUP, "trainer: sft_step with world_size %d: SFT runs in one process", t->cfg.world_size);
  memset(m, 0, sizeof *m);
  pc_view *v;
  int64_t nc;
  int rc = sft_views(s, n, &v, &nc);
  if (rc) return rc;
  m->n_samples = n;
  m->n_tokens = nc;
  double nll = 0, ent = 0;
  int64_t through = 0;
  if ((rc = zr_tf_zero_grads(t->policy))) goto out;
  for (int a = 0; a < n;) {
    const int b = micro_end(t, v, a, n);
    int ntok;
    zr_tf_batch batch;
    if ((rc = pack(t, v, a, b, &batch, &ntok))) goto out;
    zr_tf_outputs o = {0};
    o.logprobs = t->logp;
    o.entropy = t->ent;
    uint64_t t0 = zr_clock_mono_ns();
    if ((rc = zr_tf_forward_train(t->policy, &batch, &o))) goto out;
    m->forward_ms += ms_since(t0);
    through += ntok;
    for (int i = 0; i < ntok; i++) {
      const bool tgt = t->targets[i] >= 0;
      t->weights[i] = tgt ? (float)(1.0 / (double)nc) : 0.0f;
      if (tgt) nll -= t->logp[i], ent += t->ent[i];
    }
    t0 = zr_clock_mono_ns();
    if ((rc = zr_tf_backward(t->policy, t->weights))) goto out;
    m->backward_ms += ms_since(t0);
    a = b;
  }
  {
    uint64_t t0 = zr_clock_mono_ns();
    rc = optimizer_step(t, &m->grad_norm, &m->lr);
    m->optim_ms += ms_since(t0);
  }
  m->loss = nll / (double)nc;
  m->entropy = ent / (double)nc;
out:
  free(v);
  m->step = t->steps;
  m->total_ms = ms_since(t_start);
  m->tokens_per_s = m->total_ms > 0 ? (double)through / (m->total_ms / 1000.0) : 0;
  return rc;
}

int zr_trainer_sft_loss(zr_trainer *t, const zr_sft_sample *s, int n, double *loss) {
  if (!t || !loss) return zr_seterr(-EINVAL, "trainer: NULL argument");
  pc_view *v;
  int64_t nc;
  int rc = sft_views(s, n, &v, &nc);
  if (rc) return rc;
  float *lp = malloc((size_t)nc * sizeof *lp);
  if (!lp) {
    free(v);
    return zr_seterr(-ENOMEM, "trainer: out of memory");
  }
  rc = forward_comp_logp(t, t->policy, v, n, lp);
  if (!rc) {
    double s_ = 0;
    for (int64_t i = 0; i < nc; i++) s_ -= lp[i];
    *loss = s_ / (double)nc;
  }
  free(lp);
  free(v);
  return rc;
}

/* ---- metrics ------------------------------------------------------------------------------- */

void zr_step_metrics_to_json(const zr_step_metrics *m, json_t *obj) {
#define NUM(k) json_object_set_new(obj, #k, json_real(m->k))
#define INT(k) json_object_set_new(obj, #k, json_integer((json_int_t)m->k))
  INT(step);
  NUM(loss);
  NUM(pg_loss);
  NUM(kl);
  NUM(entropy);
  NUM(clip_frac_low);
  NUM(clip_frac_high);
  NUM(dual_clip_frac);
  NUM(ratio_mean);
  NUM(is_weight_mean);
  NUM(is_weight_max);
  NUM(grad_norm);
  NUM(lr);
  INT(n_samples);
  INT(n_tokens);
  INT(n_groups);
  INT(groups_skipped);
  NUM(reward_mean);
  NUM(reward_std);
  NUM(response_len_mean);
  NUM(forward_ms);
  NUM(backward_ms);
  NUM(optim_ms);
  NUM(total_ms);
  NUM(tokens_per_s);
#undef NUM
#undef INT
}

/* ---- checkpoints --------------------------------------------------------------------------- */

static int make_dir(const char *dir) {
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) return zr_seterr(-errno, "trainer: mkdir %s: %s", dir, strerror(errno));
  return 0;
}

int zr_trainer_save_state(zr_trainer *t, const char *dir) {
  if (!t || !dir) return zr_seterr(-EINVAL, "trainer: NULL argument");
  int rc = make_dir(dir);
  if (rc) return rc;
  char path[4096];
  snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
  if ((rc = zr_adamw_save(t->opt, path))) return rc;
  if (t->ref && t->cfg.ref_refresh_steps > 0) {
    snprintf(path, sizeof path, "%s/reference", dir);
    if ((rc = zr_tf_save(t->ref, path, ZR_DT_F32, 0))) return rc;
  }
  json_t *j = json_object();
  json_object_set_new(j, "format", json_string("zerorl-trainer-state"));
  json_object_set_new(j, "version", json_integer(1));
  json_object_set_new(j, "step", json_integer((json_int_t)t->steps));
  json_object_set_new(j, "optimizer_step", json_integer((json_int_t)zr_adamw_step_count(t->opt)));
  json_object_set_new(j, "base_lr", json_real(t->cfg.lr.base_lr));
  json_object_set_new(j, "lr_schedule", json_string(zr_lr_kind_name(t->cfg.lr.kind)));
  json_object_set_new(j, "warmup_steps", json_integer((json_int_t)t->cfg.lr.warmup_steps));
  json_object_set_new(j, "total_steps", json_integer((json_int_t)t->cfg.lr.total_steps));
  json_object_set_new(j, "next_lr", json_real(zr_lr_at(&t->cfg.lr, t->steps)));
  char tmp[4200];
  snprintf(path, sizeof path, "%s/trainer_state.json", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (json_dump_file(j, tmp, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) != 0) {
    json_decref(j);
    return zr_seterr(-EIO, "trainer: cannot write %s", tmp);
  }
  json_decref(j);
  if (rename(tmp, path) != 0) return zr_seterr(-errno, "trainer: rename %s: %s", tmp, strerror(errno));
  return 0;
}

int zr_trainer_load_state(zr_trainer *t, const char *dir) {
  if (!t || !dir) return zr_seterr(-EINVAL, "trainer: NULL argument");
  char path[4096];
  snprintf(path, sizeof path, "%s/trainer_state.json", dir);
  json_t *j = zr_json_load_file(path);
  if (!j) return -EINVAL;
  int64_t step, opt_step;
  double base_lr;
  const char *kind;
  int rc = zr_json_get_int(j, "step", path, &step);
  /* the optimizer's own count differs from step when its moments came from another run
   * (zr_trainer_load_moments); older files have no optimizer_step and the two agree */
  if (!rc && json_object_get(j, "optimizer_step")) rc = zr_json_get_int(j, "optimizer_step", path, &opt_step);
  else opt_step = step;
  if (!rc) rc = zr_json_get_num(j, "base_lr", path, &base_lr);
  if (!rc) rc = zr_json_get_str(j, "lr_schedule", path, &kind);
  if (!rc && strcmp(kind, zr_lr_kind_name(t->cfg.lr.kind)) != 0)
    rc = zr_seterr(-EINVAL, "%s: lr_schedule '%s' differs from the trainer's '%s'", path, kind,
                   zr_lr_kind_name(t->cfg.lr.kind));
  if (!rc && (step < 0 || !(base_lr > 0)))
    rc = zr_seterr(-EINVAL, "%s: bad step %lld or base_lr %g", path, (long long)step, base_lr);
  json_decref(j);
  if (rc) return rc;
  snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
  if ((rc = zr_adamw_load(t->opt, path))) return rc;
  if (zr_adamw_step_count(t->opt) != opt_step)
    return zr_seterr(-EINVAL, "%s: optimizer step %lld but trainer_state.json says %lld", dir,
                     (long long)zr_adamw_step_count(t->opt), (long long)opt_step);
  if (t->ref && t->cfg.ref_refresh_steps > 0) {
    snprintf(path, sizeof path, "%s/reference", dir);
    if ((rc = zr_tf_load_weights(t->ref, path))) return rc;
  }
  t->steps = step;
  t->cfg.lr.base_lr = base_lr;
  return 0;
}

int zr_trainer_load_moments(zr_trainer *t, const char *dir) {
  if (!t || !dir) return zr_seterr(-EINVAL, "trainer: NULL argument");
  char path[4096];
  snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
  return zr_adamw_load(t->opt, path);
}
