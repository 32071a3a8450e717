/* offline.c: the learner modes that need no other daemon, run in process (learner.h).
 *
 * sft: supervised fine-tuning of [model] path on [data] train (prompt/completion JSONL; the
 *   completion is followed by the tokenizer's EOS token and only completion tokens carry loss),
 *   batches of [algo] groups_per_batch examples in the seeded data order, [learner] total_steps
 *   optimizer steps, metrics.jsonl per step, checkpoints every [learner] checkpoint_every steps
 *   and at the end. --resume continues from the latest checkpoint exactly (weights, optimizer,
 *   schedule and data cursor), so an interrupted run ends where an uninterrupted one does.
 * eval: generates [algo] eval_samples completions per task of [data] heldout (or [data] train
 *   when heldout is empty) with the actor's engine (actor/engine.h) at [algo] temperature, scores
 *   them with the reward scorer and writes RUN_DIR/eval.json: pass@1 (mean accuracy over
 *   samples), pass@k (any sample correct) and maj@k (the most frequent extracted answer is
 *   correct), per task kind and overall, plus mean response length and format rate. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "actor/engine.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "learner/ckpt.h"
#include "learner/learner.h"
#include "learner/learner_internal.h"
#include "reward/extract.h"
#include "reward/rewards.h"

#define OFF_LOG "learner"

static volatile sig_atomic_t stop_requested;
static void on_stop_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static int mkdirs(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      mkdir(buf, 0755);
      *p = '/';
    }
  if (mkdir(buf, 0755) < 0 && errno != EEXIST) return zr_seterr(-errno, "mkdir %s: %s", buf, strerror(errno));
  return 0;
}

/* ---- sft ---------------------------------------------------------------------------------- */

static int eval_model(const zr_config *c, zr_tf *m, const zr_tok *tok, const zr_taskset *ts, size_t n_tasks,
                      double temperature, int k, json_t **result);

typedef struct {
  int32_t *ids; /* prompt then completion (+ EOS) */
  int np, nc;
} sft_ex;

typedef struct {
  zr_trainer *tr;
  zr_dataset *ds;
} sft_extra;

static int sft_save_extra(void *user, const char *dir) {
  sft_extra *x = user;
  int rc = zr_trainer_save_state(x->tr, dir);
  if (rc < 0) return rc;
  zr_cursor cur;
  zr_dataset_get_cursor(x->ds, &cur);
  json_t *j = json_object();
  json_object_set_new(j, "cursor", zr_cursor_to_json(&cur));
  char path[4200];
  snprintf(path, sizeof path, "%s/learner_state.json", dir);
  rc = json_dump_file(j, path, JSON_COMPACT) == 0 ? 0 : zr_seterr(-EIO, "cannot write %s", path);
  json_decref(j);
  return rc;
}

static int run_sft(const zr_config *c, const char *run_dir, bool resume) {
  int rc, code = 1;
  zr_backend *be = NULL;
  zr_tf *m = NULL;
  zr_trainer *tr = NULL;
  zr_tok *tok = NULL;
  zr_tok_encoder *enc = NULL;
  zr_sftset *set = NULL;
  zr_taskset *probe_set = NULL;
  sft_ex *ex = NULL;
  size_t n = 0;
  FILE *mf = NULL;
  char ckpt[4096] = "", path[4200];
  zr_dataset ds;
  if (!c->model.path[0] || !c->data.train[0]) {
    zr_seterr(-EINVAL, "sft needs [model] path and [data] train (prompt/completion JSONL)");
    goto out;
  }
  if ((rc = zr_sftset_load(&set, c->data.train)) < 0) goto out;
  n = zr_sftset_count(set);
  if (n == 0) {
    zr_seterr(-EINVAL, "[data] train: %s holds no example", c->data.train);
    goto out;
  }
  if ((rc = zr_tok_load(&tok, c->model.path)) < 0 || (rc = zr_tok_encoder_new(&enc, tok)) < 0) goto out;
  ex = calloc(n, sizeof *ex);
  if (!ex) goto out;
  int32_t eos = zr_tok_eos_id(tok);
  for (size_t i = 0; i < n; i++) {
    const zr_sft_example *e = zr_sftset_get(set, i);
    zr_tok_ids a = {0}, b = {0};
    if (zr_tok_encode(enc, e->prompt, strlen(e->prompt), ZR_TOK_ENCODE_DEFAULT, &a) < 0 ||
        zr_tok_encode(enc, e->completion, strlen(e->completion), ZR_TOK_PARSE_SPECIAL, &b) < 0 || a.n == 0) {
      zr_seterr(-EINVAL, "%s: example %zu: cannot tokenize (%s)", c->data.train, i + 1, a.n ? zr_errmsg() : "empty prompt");
      zr_tok_ids_release(&a);
      zr_tok_ids_release(&b);
      goto out;
    }
    ex[i].np = (int)a.n;
    ex[i].nc = (int)b.n + (eos >= 0);
    ex[i].ids = malloc((size_t)(ex[i].np + ex[i].nc) * sizeof(int32_t));
    if (!ex[i].ids) goto out;
    memcpy(ex[i].ids, a.ids, a.n * sizeof(int32_t));
    memcpy(ex[i].ids + a.n, b.ids, b.n * sizeof(int32_t));
    if (eos >= 0) ex[i].ids[a.n + b.n] = eos;
    zr_tok_ids_release(&a);
    zr_tok_ids_release(&b);
  }
  if ((rc = zr_dataset_init(&ds, n, (uint64_t)c->data.seed, 0, c->data.shuffle)) < 0) goto out;
  if ((rc = zr_backend_cpu_new(&be, (int)c->model.threads)) < 0) goto out;
  if (resume && (rc = zr_ckpt_latest(run_dir, ckpt, sizeof ckpt)) < 0) {
    zr_seterr(rc, "--resume: no checkpoint in %s/%s", run_dir, ZR_CKPT_SUBDIR);
    goto out;
  }
  if ((rc = zr_tf_load(&m, ckpt[0] ? ckpt : c->model.path, be)) < 0) goto out;
  zr_trainer_cfg tc;
  if ((rc = lr_trainer_cfg(c, &tc)) < 0) goto out;
  tc.loss.kl = ZR_KL_NONE;
  tc.logprob_temperature = 1;
  if ((rc = zr_trainer_new(&tr, m, NULL, &tc)) < 0) goto out;
  if (ckpt[0]) {
    if ((rc = zr_trainer_load_state(tr, ckpt)) < 0) goto out;
    snprintf(path, sizeof path, "%s/learner_state.json", ckpt);
    json_t *st = zr_json_load_file(path);
    zr_cursor cur;
    rc = st ? zr_cursor_from_json(json_object_get(st, "cursor"), &cur) : -EINVAL;
    if (rc == 0) rc = zr_dataset_set_cursor(&ds, &cur);
    json_decref(st);
    if (rc < 0) goto out;
    ZR_INFO(OFF_LOG, "sft resumed from %s at step %lld", ckpt, (long long)zr_trainer_step_count(tr));
  }
  if ((rc = mkdirs(run_dir)) < 0) goto out;
  snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
  if (!(mf = fopen(path, "a"))) {
    zr_seterr(-errno, "cannot open %s: %s", path, strerror(errno));
    goto out;
  }
  signal(SIGTERM, on_stop_signal);
  signal(SIGINT, on_stop_signal);
  if (c->learner.probe_every > 0) {
    if (!c->data.heldout[0]) {
      zr_seterr(-EINVAL, "[learner] probe_every is set but [data] heldout is empty (the probe's tasks)");
      goto out;
    }
    if ((rc = zr_taskset_load(&probe_set, c->data.heldout)) < 0) goto out;
  }
  int bs = (int)c->algo.groups_per_batch;
  zr_sft_sample *batch = calloc((size_t)bs, sizeof *batch);
  if (!batch) goto out;
  sft_extra x = {tr, &ds};
  uint64_t t0 = zr_clock_mono_ms();
  while (zr_trainer_step_count(tr) < c->learner.total_steps && !stop_requested) {
    for (int i = 0; i < bs; i++) {
      size_t idx;
      uint32_t ep;
      zr_dataset_next(&ds, &idx, &ep);
      batch[i] = (zr_sft_sample){ex[idx].ids, ex[idx].np, ex[idx].ids + ex[idx].np, ex[idx].nc};
    }
    zr_step_metrics sm;
    rc = zr_trainer_sft_step(tr, batch, bs, &sm);
    if (rc < 0 && rc != -ERANGE) {
      free(batch);
      goto out;
    }
    json_t *o = json_object();
    json_object_set_new(o, "stage", json_string("sft"));
    json_object_set_new(o, "time", json_real((double)(zr_clock_mono_ms() - t0) / 1000.0));
    zr_step_metrics_to_json(&sm, o);
    bool stop_now = false;
    if (probe_set && zr_trainer_step_count(tr) % c->learner.probe_every == 0) {
      json_t *res = NULL;
      if (eval_model(c, m, tok, probe_set, (size_t)c->learner.probe_tasks, 0.0, 1, &res) == 0) {
        double acc = json_number_value(json_object_get(json_object_get(res, "overall"), "pass@1"));
        json_object_set_new(o, "probe_accuracy", json_real(acc));
        ZR_INFO(OFF_LOG, "sft step %lld: held-out probe accuracy %.3f", (long long)zr_trainer_step_count(tr), acc);
        stop_now = c->learner.stop_at_accuracy > 0 && acc >= c->learner.stop_at_accuracy;
        if (stop_now) ZR_INFO(OFF_LOG, "probe accuracy reached [learner] stop_at_accuracy = %g: stopping",
                              c->learner.stop_at_accuracy);
      } else {
        ZR_WARN(OFF_LOG, "probe failed: %s", zr_errmsg());
      }
      json_decref(res);
    }
    char *line = zr_json_dump_line(o);
    if (line) fprintf(mf, "%s\n", line), fflush(mf);
    free(line);
    json_decref(o);
    int64_t step = zr_trainer_step_count(tr);
    if (step % 50 == 0 || step == 1)
      ZR_INFO(OFF_LOG, "sft step %lld/%lld: loss %.4f, lr %.3g, %.0f tokens/s", (long long)step,
              (long long)c->learner.total_steps, sm.loss, sm.lr, sm.tokens_per_s);
    if (stop_now) break;
    if (c->learner.checkpoint_every > 0 && step % c->learner.checkpoint_every == 0 && step < c->learner.total_steps &&
        (rc = zr_ckpt_save(run_dir, step, m, c->model.path, sft_save_extra, &x, (int)c->learner.keep_checkpoints, path,
                           sizeof path)) < 0) {
      free(batch);
      goto out;
    }
  }
  free(batch);
  if ((rc = zr_ckpt_save(run_dir, zr_trainer_step_count(tr), m, c->model.path, sft_save_extra, &x,
                         (int)c->learner.keep_checkpoints, path, sizeof path)) < 0)
    goto out;
  ZR_INFO(OFF_LOG, "sft %s at step %lld; model in %s", stop_requested ? "stopped" : "done",
          (long long)zr_trainer_step_count(tr), path);
  code = 0;
out:
  if (code) fprintf(stderr, "zerorl-learner: sft: %s\n", zr_errmsg());
  if (mf) fclose(mf);
  for (size_t i = 0; ex && i < n; i++) free(ex[i].ids);
  free(ex);
  zr_trainer_free(&tr);
  zr_tf_free(&m);
  zr_backend_free(&be);
  zr_tok_encoder_free(&enc);
  zr_tok_free(&tok);
  zr_sftset_free(&set);
  zr_taskset_free(&probe_set);
  return code;
}

/* ---- eval --------------------------------------------------------------------------------- */

typedef struct {
  int n_samples, n_correct, n_format;
  long tokens;
  char **answers; /* [n_samples] extracted answer or NULL */
  int *correct;
} task_eval;

typedef struct {
  double tasks, pass1, passk, majk, len, format;
} kind_sum;

/* Evaluates model m (with its tokenizer) on the first n_tasks tasks of ts (0 = all). */
static int eval_model(const zr_config *c, zr_tf *m, const zr_tok *tok, const zr_taskset *ts, size_t n_tasks,
                      double temperature, int k, json_t **result) {
  int rc, code = 1;
  zr_tok_encoder *enc = NULL;
  zr_engine *eng = NULL;
  zr_reward_scorer *scorer = NULL;
  task_eval *te = NULL;
  size_t n = zr_taskset_count(ts);
  if (n_tasks && n_tasks < n) n = n_tasks;
  char *stops[LR_MAX_STOPS];
  int n_stops = 0;
  if ((rc = zr_tok_encoder_new(&enc, tok)) < 0) goto out;
  zr_reward_config rcfg;
  zr_reward_config_default(&rcfg);
  rcfg.w_accuracy = 1;
  rcfg.w_format = 1;
  if ((rc = zr_reward_scorer_new(&rcfg, &scorer)) < 0) goto out;
  zr_engine_cfg ec = {.n_slots = (int)c->actor.slots, .max_len = (int)c->actor.max_len, .n_eos = -1};
  if ((rc = zr_engine_new(&eng, m, tok, &ec)) < 0) goto out;
  for (const char *s = c->algo.stop; *s && n_stops < LR_MAX_STOPS;) {
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (len) stops[n_stops++] = strndup(s, len);
    s += len + (e ? 1 : 0);
  }
  te = calloc(n ? n : 1, sizeof *te);
  if (!te) goto out;
  for (size_t i = 0; i < n; i++) {
    const zr_task *t = zr_taskset_get(ts, i);
    char *text = NULL;
    zr_tok_ids ids = {0};
    if ((rc = zr_template_render((zr_template)c->data.template_, t, &text)) < 0 ||
        (rc = zr_tok_encode(enc, text, strlen(text), ZR_TOK_ENCODE_DEFAULT, &ids)) < 0) {
      free(text);
      goto out;
    }
    te[i].answers = calloc((size_t)k, sizeof(char *));
    te[i].correct = calloc((size_t)k, sizeof(int));
    zr_engine_request rq = {.req_id = i,
                            .prompt = ids.ids,
                            .prompt_len = (int)ids.n,
                            .n_samples = k,
                            .sampling = {.temperature = (float)temperature, .top_k = 0, .top_p = 1, .min_p = 0},
                            .max_new_tokens = (int)c->algo.max_new_tokens,
                            .seed = (uint64_t)c->learner.seed + 7919 * i,
                            .stop = (const char *const *)stops,
                            .n_stop = n_stops};
    rc = zr_engine_submit(eng, &rq);
    free(text);
    zr_tok_ids_release(&ids);
    if (rc < 0) goto out;
  }
  size_t done = 0, total = n * (size_t)k;
  while (done < total) {
    rc = zr_engine_step(eng);
    if (rc < 0) goto out;
    zr_engine_output o;
    while (zr_engine_poll(eng, &o) == 1) {
      task_eval *e = &te[o.req_id];
      const zr_task *t = zr_taskset_get(ts, o.req_id);
      zr_reward_task rt;
      zr_task_reward_view(t, &rt);
      zr_reward_result res;
      const char *txt = o.text ? o.text : "";
      zr_reward_score(scorer, &rt, txt, o.text ? o.text_len : 0, o.n_tokens, &res);
      int fmt = 0;
      for (int ci = 0; ci < res.n_components; ci++)
        if (strcmp(res.components[ci].name, "format") == 0) fmt = res.components[ci].value > 0.5;
      zr_span sp;
      if (zr_extract_answer(txt, strlen(txt), ZR_EXTRACT_AUTO, 1 << 20, &sp) == 1)
        e->answers[e->n_samples] = strndup(txt + sp.start, sp.len);
      e->correct[e->n_samples] = res.correct;
      e->n_samples++;
      e->n_correct += res.correct;
      e->n_format += fmt;
      e->tokens += o.n_tokens;
      done++;
    }
    if (rc == 0 && done < total) break; /* idle with samples missing: cannot happen */
  }
  /* aggregate per kind and overall */
  kind_sum ks[5] = {0}; /* 4 kinds + overall */
  for (size_t i = 0; i < n; i++) {
    task_eval *e = &te[i];
    int kd = (int)zr_taskset_get(ts, i)->kind;
    double p1 = e->n_samples ? (double)e->n_correct / e->n_samples : 0;
    double pk = e->n_correct > 0;
    /* majority answer */
    int best = -1, best_votes = 0;
    for (int a = 0; a < e->n_samples; a++) {
      if (!e->answers[a]) continue;
      int votes = 0;
      for (int b = 0; b < e->n_samples; b++)
        if (e->answers[b] && strcmp(e->answers[a], e->answers[b]) == 0) votes++;
      if (votes > best_votes) best = a, best_votes = votes;
    }
    double mk = best >= 0 && e->correct[best];
    for (int w = 0; w < 2; w++) {
      kind_sum *s = &ks[w == 0 ? kd : 4];
      s->tasks++;
      s->pass1 += p1;
      s->passk += pk;
      s->majk += mk;
      s->len += e->n_samples ? (double)e->tokens / e->n_samples : 0;
      s->format += e->n_samples ? (double)e->n_format / e->n_samples : 0;
    }
  }
  json_t *j = json_object();
  static const char *const kinds[] = {"math", "exact", "countdown", "code", "overall"};
  char key[32];
  for (int w = 0; w < 5; w++) {
    if (ks[w].tasks == 0) continue;
    json_t *o = json_object();
    json_object_set_new(o, "tasks", json_integer((json_int_t)ks[w].tasks));
    json_object_set_new(o, "pass@1", json_real(ks[w].pass1 / ks[w].tasks));
    snprintf(key, sizeof key, "pass@%d", k);
    if (k > 1) json_object_set_new(o, key, json_real(ks[w].passk / ks[w].tasks));
    snprintf(key, sizeof key, "maj@%d", k);
    if (k > 1) json_object_set_new(o, key, json_real(ks[w].majk / ks[w].tasks));
    json_object_set_new(o, "response_len_mean", json_real(ks[w].len / ks[w].tasks));
    json_object_set_new(o, "format_rate", json_real(ks[w].format / ks[w].tasks));
    json_object_set_new(j, kinds[w], o);
  }
  json_object_set_new(j, "temperature", json_real(temperature));
  json_object_set_new(j, "samples_per_task", json_integer(k));
  *result = j;
  code = 0;
out:
  for (size_t i = 0; te && i < n; i++) {
    for (int a = 0; a < k && te[i].answers; a++) free(te[i].answers[a]);
    free(te[i].answers);
    free(te[i].correct);
  }
  free(te);
  for (int i = 0; i < n_stops; i++) free(stops[i]);
  zr_engine_free(&eng);
  zr_reward_scorer_free(&scorer);
  zr_tok_encoder_free(&enc);
  return code ? (rc < 0 ? rc : -EINVAL) : 0;
}

int zr_learner_eval(const zr_config *c, const char *model_dir, const char *task_path, double temperature, int k,
                    const char *out_path, json_t **result) {
  zr_backend *be = NULL;
  zr_tf *m = NULL;
  zr_tok *tok = NULL;
  zr_taskset *ts = NULL;
  json_t *j = NULL;
  int rc;
  if ((rc = zr_taskset_load(&ts, task_path)) < 0 || (rc = zr_tok_load(&tok, model_dir)) < 0 ||
      (rc = zr_backend_cpu_new(&be, (int)c->model.threads)) < 0 || (rc = zr_tf_load(&m, model_dir, be)) < 0 ||
      (rc = eval_model(c, m, tok, ts, 0, temperature, k, &j)) < 0)
    goto out;
  json_object_set_new(j, "model", json_string(model_dir));
  json_object_set_new(j, "tasks_file", json_string(task_path));
  if (out_path && json_dump_file(j, out_path, JSON_INDENT(2)) != 0) {
    rc = zr_seterr(-EIO, "cannot write %s", out_path);
    goto out;
  }
  if (result) *result = j, j = NULL;
out:
  json_decref(j);
  zr_tf_free(&m);
  zr_backend_free(&be);
  zr_tok_free(&tok);
  zr_taskset_free(&ts);
  return rc;
}

int zr_learner_run_offline(const zr_config *c, const zr_learner_opts *o) {
  const char *run_dir = o && o->run_dir ? o->run_dir : c->job.run_dir;
  if (c->algo.mode == 1) return run_sft(c, run_dir, o && o->resume);
  const char *tasks = c->data.heldout[0] ? c->data.heldout : c->data.train;
  if (!tasks[0] || !c->model.path[0]) {
    fprintf(stderr, "zerorl-learner: eval needs [model] path and [data] heldout or [data] train\n");
    return 1;
  }
  if (mkdirs(run_dir) < 0) {
    fprintf(stderr, "zerorl-learner: %s\n", zr_errmsg());
    return 1;
  }
  char out[4200];
  snprintf(out, sizeof out, "%s/eval.json", run_dir);
  json_t *res = NULL;
  int rc = zr_learner_eval(c, c->model.path, tasks, c->algo.temperature, (int)c->algo.eval_samples, out, &res);
  if (rc < 0) {
    fprintf(stderr, "zerorl-learner: eval: %s\n", zr_errmsg());
    return 1;
  }
  char *s = json_dumps(res, JSON_INDENT(2));
  if (s) printf("%s\n", s);
  free(s);
  json_decref(res);
  return 0;
}
