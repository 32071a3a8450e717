/* learner_job.c: the learner's data side: loading tasks and the tokenizer, prompts (template
 * applied, tokenized once per task), verifier specs, the hub's task source, checkpoint state
 * (data cursor + trained set) and the per-step metrics line. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "learner/learner_internal.h"
#include "learner/taskgen.h"

int lr_load_data(zr_learner *l) {
  const zr_config *c = l->cfg;
  int rc;
  if (!c->data.train[0]) return zr_seterr(-EINVAL, "[data] train is not set: the task file to train on");
  if (strncmp(c->data.train, "gen:", 4) == 0) { /* built-in generator: gen:KIND:DIFFICULTY:N[:SEED] */
    char kind[32] = "";
    int difficulty = 0;
    long n = 0;
    unsigned long long seed = 0;
    if (sscanf(c->data.train + 4, "%31[a-z]:%d:%ld:%llu", kind, &difficulty, &n, &seed) < 3 || n <= 0)
      return zr_seterr(-EINVAL, "[data] train = %s: expected gen:KIND:DIFFICULTY:N[:SEED], e.g. gen:arith:5:20000",
                       c->data.train);
    if ((rc = zr_taskset_new(&l->tasks)) < 0) return rc;
    if ((rc = zr_taskgen(kind, (size_t)n, seed, difficulty, ZR_SPLIT_TRAIN, l->tasks)) < 0)
      return zr_seterr(rc, "[data] train = %s: %s", c->data.train, zr_errmsg());
  } else if ((rc = zr_taskset_load(&l->tasks, c->data.train)) < 0) {
    return rc;
  }
  size_t n = zr_taskset_count(l->tasks);
  if (n == 0) return zr_seterr(-EINVAL, "[data] train: %s holds no task", c->data.train);
  if ((rc = zr_dataset_init(&l->ds, n, (uint64_t)c->data.seed, (uint32_t)c->data.epochs, c->data.shuffle)) < 0)
    return rc;
  if ((rc = zr_tok_load(&l->tok, l->model_dir)) < 0) return rc;
  if ((rc = zr_tok_encoder_new(&l->enc, l->tok)) < 0) return rc;
  l->prompts = calloc(n, sizeof *l->prompts);
  if (!l->prompts) return zr_seterr(-ENOMEM, "out of memory for %zu prompts", n);
  /* stop strings: comma-separated */
  const char *s = c->algo.stop;
  while (*s && l->n_stops < LR_MAX_STOPS) {
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (len) l->stops[l->n_stops++] = strndup(s, len);
    s += len + (e ? 1 : 0);
  }
  l->sample_seed = (uint64_t)c->learner.seed * 0x9E3779B97F4A7C15ull + 1;
  return 0;
}

const lr_prompt *lr_prompt_of(zr_learner *l, size_t i) {
  lr_prompt *p = &l->prompts[i];
  if (p->ids) return p;
  const zr_task *t = zr_taskset_get(l->tasks, i);
  char *text = NULL;
  if (zr_template_render((zr_template)l->cfg->data.template_, t, &text) < 0) {
    ZR_WARN(LR_LOG, "task %s: %s", t->id, zr_errmsg());
    return NULL;
  }
  zr_tok_ids ids = {0};
  if (zr_tok_encode(l->enc, text, strlen(text), ZR_TOK_ENCODE_DEFAULT, &ids) < 0 || ids.n == 0) {
    ZR_WARN(LR_LOG, "task %s: cannot tokenize its prompt: %s", t->id, ids.n ? zr_errmsg() : "empty");
    free(text);
    zr_tok_ids_release(&ids);
    return NULL;
  }
  if ((int64_t)ids.n > l->cfg->data.max_prompt_tokens) {
    ZR_WARN(LR_LOG, "task %s: prompt of %zu tokens is over [data] max_prompt_tokens = %lld; skipped", t->id,
            ids.n, (long long)l->cfg->data.max_prompt_tokens);
    free(text);
    zr_tok_ids_release(&ids);
    return NULL;
  }
  p->ids = ids.ids;
  p->n = (int)ids.n;
  p->text = text;
  return p;
}

/* The hub's task source: the next task of the data order whose prompt can be built. */
int lr_next_task(void *user, zr_hub_task *out) {
  zr_learner *l = user;
  for (;;) {
    size_t idx;
    uint32_t epoch;
    if (l->data_done || zr_dataset_next(&l->ds, &idx, &epoch) != 0) {
      l->data_done = true;
      return 1;
    }
    if (!lr_prompt_of(l, idx)) continue; /* logged; never granted */
    out->task_index = idx;
    out->epoch = epoch;
    out->task_id = zr_taskset_get(l->tasks, idx)->id;
    return 0;
  }
}

void lr_free_payload(void *user, void *payload) {
  (void)user;
  lr_payload *p = payload;
  if (!p) return;
  if (p->r) zerorl__rollout__free_unpacked(p->r, NULL);
  free(p);
}

static const char *kind_name(zr_task_kind k) {
  switch (k) {
  case ZR_TASK_MATH: return "math";
  case ZR_TASK_EXACT: return "exact";
  case ZR_TASK_COUNTDOWN: return "countdown";
  case ZR_TASK_CODE: return "code";
  }
  return "math";
}

/* v points into t and l (valid while both live); w[2] and wp[2] are the caller's storage. */
int lr_fill_verifier(zr_learner *l, const zr_task *t, Zerorl__VerifierSpec *v, Zerorl__RewardWeight *w,
                     Zerorl__RewardWeight **wp) {
  zerorl__verifier_spec__init(v);
  v->kind = (char *)kind_name(t->kind);
  v->answer = t->answer ? t->answer : (char *)"";
  v->extractor = t->extractor ? t->extractor : (char *)"";
  v->tests_json = t->tests_json ? t->tests_json : (char *)"";
  v->language = t->language ? t->language : (char *)"";
  v->n_numbers = t->n_numbers > 0 ? (size_t)t->n_numbers : 0;
  v->numbers = (int64_t *)t->numbers; /* long and int64_t agree on every target we build for */
  v->target = t->target;
  zerorl__reward_weight__init(&w[0]);
  zerorl__reward_weight__init(&w[1]);
  w[0].name = (char *)"accuracy";
  w[0].weight = l->w_accuracy;
  w[1].name = (char *)"format";
  w[1].weight = l->w_format;
  wp[0] = &w[0];
  wp[1] = &w[1];
  v->n_rewards = l->w_format != 0 ? 2 : 1;
  v->rewards = wp;
  v->max_completion_tokens = (uint32_t)l->cfg->algo.max_new_tokens;
  return 0;
}

_Static_assert(sizeof(long) == sizeof(int64_t), "countdown numbers are passed as int64_t");

int lr_comp_index(zr_learner *l, const char *name) {
  for (int i = 0; i < l->n_comp; i++)
    if (strcmp(l->comp_names[i], name) == 0) return i;
  if (l->n_comp == LR_MAX_COMPONENTS || strlen(name) >= sizeof l->comp_names[0] || !name[0]) return -1;
  strcpy(l->comp_names[l->n_comp], name);
  return l->n_comp++;
}

/* What a checkpoint needs besides the weights and the trainer: the trained set and where the
 * data order resumes. The cursor restarts at the beginning of the previous epoch: tasks in
 * flight at checkpoint time are then issued again, and tasks already trained are skipped
 * through the trained set, so nothing is lost and nothing trained twice. */
/* xxh3 of the effective configuration without [job] run_dir and id (which a resume may change). */
uint64_t lr_config_digest(const zr_config *c) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return 0;
  zr_config_print(c, f);
  fclose(f);
  uint64_t h = 0;
  for (char *line = buf, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    if (strncmp(line, "run_dir =", 9) == 0 || strncmp(line, "id =", 4) == 0) continue;
    h = zr_checksum64(line, strlen(line)) ^ (h * 0x100000001b3ull);
  }
  free(buf);
  return h;
}

json_t *lr_snapshot_state(zr_learner *l) {
  zr_cursor cur;
  zr_dataset_get_cursor(&l->ds, &cur);
  cur.epoch = cur.epoch > 0 ? cur.epoch - 1 : 0;
  cur.pos = 0;
  json_t *j = json_object();
  json_object_set_new(j, "cursor", zr_cursor_to_json(&cur));
  json_object_set_new(j, "trained", zr_hub_trained_to_json(l->hub));
  json_object_set_new(j, "policy_version", json_integer((json_int_t)l->version));
  json_object_set_new(j, "batches", json_integer(l->batches));
  json_object_set_new(j, "job_id", json_string(l->job_id));
  char digest[20];
  snprintf(digest, sizeof digest, "%016llx", (unsigned long long)lr_config_digest(l->cfg));
  json_object_set_new(j, "config_digest", json_string(digest));
  return j;
}

int lr_restore_state(zr_learner *l, const char *ckpt_dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/learner_state.json", ckpt_dir);
  json_t *j = zr_json_load_file(path);
  if (!j) return zr_seterr(-EINVAL, "resume: %s", zr_errmsg());
  zr_cursor cur;
  int rc = zr_cursor_from_json(json_object_get(j, "cursor"), &cur);
  if (rc == 0) rc = zr_dataset_set_cursor(&l->ds, &cur);
  if (rc == 0) rc = zr_hub_trained_from_json(l->hub, json_object_get(j, "trained"));
  const char *saved = json_string_value(json_object_get(j, "config_digest"));
  char digest[20];
  snprintf(digest, sizeof digest, "%016llx", (unsigned long long)lr_config_digest(l->cfg));
  if (saved && strcmp(saved, digest) != 0)
    ZR_WARN(LR_LOG, "resume: the configuration differs from the one %s was written with (digest %s, now %s)",
            ckpt_dir, saved, digest);
  l->batches = json_integer_value(json_object_get(j, "batches"));
  json_int_t v = json_integer_value(json_object_get(j, "policy_version"));
  l->version = (uint64_t)(v > 0 ? v : 0);
  json_decref(j);
  if (rc < 0) return zr_seterr(rc, "resume from %s: %s", ckpt_dir, zr_errmsg());
  return 0;
}

/* Group statistics of the batch the compute thread just trained, merged with its metrics. */
void lr_write_metrics(zr_learner *l, const lr_cjob *j) {
  json_t *o = json_object();
  json_object_set_new(o, "step", json_integer(j->m.step));
  json_object_set_new(o, "policy_version", json_integer((json_int_t)l->version));
  json_object_set_new(o, "time", json_real((double)(zr_clock_wall_ms() - l->started_wall_ms) / 1000.0));
  zr_step_metrics_to_json(&j->m, o);
  double comp_sum[LR_MAX_COMPONENTS] = {0};
  long comp_n[LR_MAX_COMPONENTS] = {0};
  long n = 0, correct = 0, finish[5] = {0};
  double stale_sum = 0, stale_max = 0, gen_ms = 0, queue_ms = 0;
  for (int g = 0; g < j->n_groups; g++) {
    const zr_hub_group *grp = &j->groups[g];
    for (uint32_t i = 0; i < grp->group_size; i++) {
      n++;
      correct += grp->correct[i] != 0;
      for (int c = 0; c < grp->n_components[i] && c < LR_MAX_COMPONENTS; c++)
        if (!isnan(grp->components[i][c])) comp_sum[c] += grp->components[i][c], comp_n[c]++;
      const lr_payload *p = grp->payloads[i];
      if (!p || !p->r) continue;
      if (p->r->finish_reason < 5) finish[p->r->finish_reason]++;
      uint64_t vmin = UINT64_MAX;
      for (size_t t = 0; t < p->r->n_token_versions; t++)
        if (p->r->token_versions[t] < vmin) vmin = p->r->token_versions[t];
      double st = vmin == UINT64_MAX || vmin > l->version - 1 ? 0 : (double)(l->version - 1 - vmin);
      stale_sum += st;
      if (st > stale_max) stale_max = st;
      gen_ms += p->r->generate_ms;
      queue_ms += p->r->queue_ms;
    }
  }
  if (n) {
    json_object_set_new(o, "accuracy", json_real((double)correct / (double)n));
    json_object_set_new(o, "staleness_mean", json_real(stale_sum / (double)n));
    json_object_set_new(o, "staleness_max", json_real(stale_max));
    json_object_set_new(o, "actor_generate_ms_mean", json_real(gen_ms / (double)n));
    json_object_set_new(o, "actor_queue_ms_mean", json_real(queue_ms / (double)n));
    json_object_set_new(o, "finish_eos", json_real((double)finish[1] / (double)n));
    json_object_set_new(o, "finish_stop", json_real((double)finish[2] / (double)n));
    json_object_set_new(o, "finish_length", json_real((double)finish[3] / (double)n));
  }
  for (int c = 0; c < l->n_comp; c++) {
    char key[64];
    snprintf(key, sizeof key, "reward_%s", l->comp_names[c]);
    if (comp_n[c]) json_object_set_new(o, key, json_real(comp_sum[c] / (double)comp_n[c]));
  }
  zr_hub_counts hc;
  zr_hub_counts_get(l->hub, &hc);
  json_object_set_new(o, "batch_wait_ms", json_integer((json_int_t)(zr_clock_mono_ms() - l->batch_started_ms)));
  json_object_set_new(o, "dropped_stale", json_integer((json_int_t)hc.dropped_stale));
  json_object_set_new(o, "groups_filtered", json_integer((json_int_t)hc.groups_filtered));
  char *line = zr_json_dump_line(o);
  if (line && l->metrics) {
    fprintf(l->metrics, "%s\n", line);
    fflush(l->metrics);
  }
  /* Redis stream: one entry, every member as field/value text */
  if (line && l->redis && zr_redis_connected(l->redis)) {
    char key[256];
    zr_key_job_metrics(key, sizeof key, l->prefix, l->job_id);
    size_t nf = json_object_size(o);
    char (*vals)[48] = calloc(nf ? nf : 1, sizeof *vals);
    const char **full = calloc(6 + 2 * nf, sizeof *full);
    if (full && vals) {
      int fc = 0;
      full[fc++] = "XADD";
      full[fc++] = key;
      full[fc++] = "MAXLEN";
      full[fc++] = "~";
      full[fc++] = "100000";
      full[fc++] = "*";
      const char *k;
      json_t *v;
      size_t vi = 0;
      json_object_foreach(o, k, v) {
        if (json_is_integer(v)) snprintf(vals[vi], 48, "%lld", (long long)json_integer_value(v));
        else if (json_is_real(v)) snprintf(vals[vi], 48, "%.6g", json_real_value(v));
        else continue;
        full[fc++] = k;
        full[fc++] = vals[vi++];
      }
      zr_redis_commandargv(l->redis, NULL, NULL, fc, full, NULL);
    }
    free(full);
    free(vals);
  }
  free(line);
  json_decref(o);
}

int lr_trainer_cfg(const zr_config *c, zr_trainer_cfg *tc) {
  *tc = zr_trainer_cfg_defaults();
  tc->adv = (zr_adv_kind)c->algo.advantage;
  tc->loss.eps_low = c->algo.eps_low;
  tc->loss.eps_high = c->algo.eps_high;
  tc->loss.dual_clip = c->algo.dual_clip;
  tc->loss.gspo = c->algo.gspo;
  tc->loss.agg = (zr_agg_kind)c->algo.loss_agg;
  tc->loss.sum_norm_len = (int)c->algo.max_new_tokens;
  tc->loss.kl = (zr_kl_kind)c->algo.kl;
  tc->loss.kl_beta = c->algo.kl_beta;
  tc->loss.is_cap = c->algo.is_cap;
  tc->lr.base_lr = c->learner.lr;
  tc->lr.warmup_steps = c->learner.warmup_steps;
  tc->lr.total_steps = c->learner.total_steps;
  tc->adamw.beta1 = c->learner.beta1;
  tc->adamw.beta2 = c->learner.beta2;
  tc->adamw.weight_decay = c->learner.weight_decay;
  tc->max_grad_norm = c->learner.grad_clip;
  tc->micro_batch_tokens = (int)(c->learner.micro_batch_tokens > 1 << 30 ? 1 << 30 : c->learner.micro_batch_tokens);
  tc->minibatches = (int)c->algo.updates_per_batch;
  tc->ref_refresh_steps = (int)c->algo.ref_refresh_steps;
  /* the trainer scores the raw policy, as the actors' behaviour log-probs do (sampler.h's
   * logprob_policy); the sampling temperature only shapes exploration */
  tc->logprob_temperature = 1.0f;
  static const zr_lr_kind kinds[] = {ZR_LR_CONSTANT_WITH_WARMUP, ZR_LR_LINEAR, ZR_LR_COSINE};
  tc->lr.kind = kinds[c->learner.lr_schedule];
  tc->lr.min_lr_ratio = 0.1;
  if (tc->lr.total_steps < tc->lr.warmup_steps) tc->lr.total_steps = tc->lr.warmup_steps;
  return zr_lr_schedule_check(&tc->lr);
}

/* After a resume from step S: the groups trained after S (their updates were lost with the
 * process) are dropped from trained.jsonl, so the record matches the weights and a group the
 * resumed learner trains again appears once. */
int lr_trim_trained(zr_learner *l) {
  char path[4200], tmp[4300];
  snprintf(path, sizeof path, "%s/trained.jsonl", l->run_dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (l->trained) fclose(l->trained);
  l->trained = NULL;
  FILE *in = fopen(path, "r"), *out = fopen(tmp, "w");
  long kept = 0, dropped = 0;
  if (in && out) {
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, in) > 0) {
      json_t *j = json_loads(line, 0, NULL);
      json_int_t batch = j ? json_integer_value(json_object_get(j, "batch")) : -1;
      json_decref(j);
      if (j && batch <= l->batches) {
        fputs(line, out);
        kept++;
      } else {
        dropped++;
      }
    }
    free(line);
  }
  if (in) fclose(in);
  if (out && fclose(out) == 0 && in) rename(tmp, path);
  else unlink(tmp);
  if (dropped) ZR_INFO(LR_LOG, "resume: %ld groups consumed after batch %lld dropped from trained.jsonl (%ld kept)",
                       dropped, (long long)l->batches, kept);
  l->trained = fopen(path, "a");
  return l->trained ? 0 : zr_seterr(-EIO, "cannot open %s", path);
}

/* The learner's record of every group it consumed (trained.jsonl), and in rejection-sample mode
 * the correct completions (accepted.jsonl, prompt/completion lines ready for SFT). Tests and
 * operators check exactly-once training from these. */
void lr_write_groups(zr_learner *l, const zr_hub_group *g, int n, int64_t step, int64_t batch) {
  for (int i = 0; i < n; i++) {
    json_t *o = json_object();
    json_object_set_new(o, "step", json_integer(step));
    json_object_set_new(o, "batch", json_integer(batch));
    json_object_set_new(o, "task_id", json_string(g[i].task_id));
    json_object_set_new(o, "epoch", json_integer(g[i].epoch));
    json_object_set_new(o, "group_id", json_integer((json_int_t)g[i].group_id));
    json_object_set_new(o, "min_version", json_integer((json_int_t)g[i].min_token_version));
    json_t *rw = json_array(), *samples = json_array();
    for (uint32_t k = 0; k < g[i].group_size; k++) {
      json_array_append_new(rw, json_real(g[i].rewards[k]));
      const lr_payload *p = g[i].payloads[k];
      json_array_append_new(samples, json_integer(p && p->r ? (json_int_t)p->r->sample_index : -1));
      if (l->accepted && g[i].correct[k] && p && p->r) {
        const lr_prompt *pr = lr_prompt_of(l, g[i].task_index);
        json_t *a = json_object();
        json_object_set_new(a, "task_id", json_string(g[i].task_id));
        json_object_set_new(a, "prompt", json_string(pr && pr->text ? pr->text : ""));
        json_object_set_new(a, "completion", json_string(p->r->completion_text));
        json_object_set_new(a, "reward", json_real(g[i].rewards[k]));
        char *line = zr_json_dump_line(a);
        if (line) fprintf(l->accepted, "%s\n", line);
        free(line);
        json_decref(a);
      }
    }
    json_object_set_new(o, "rewards", rw);
    json_object_set_new(o, "samples", samples);
    char *line = zr_json_dump_line(o);
    if (line && l->trained) fprintf(l->trained, "%s\n", line);
    free(line);
    json_decref(o);
  }
  if (l->trained) fflush(l->trained);
  if (l->accepted) fflush(l->accepted);
}
