/* worker.c: the reward worker (see worker.h): scoring a request, the thread pool, the
 * DEALER conversation with the learner, the heartbeat and the drain. */
#include "reward/worker.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/netcfg.h"
#include "common/frame.h"
#include "common/heartbeat.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/util.h"
#include "reward/codetest.h"
#include "reward/rewardjson.h"
#include "reward/rewards.h"

#define COMP "reward"
#define BAD_LOG_PERIOD_MS 60000

/* ---- scoring ------------------------------------------------------------------------------ */

static void set_detail(zr_rscore *out, zr_verify_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_detail(zr_rscore *out, zr_verify_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out->detail, sizeof out->detail, fmt, ap);
  va_end(ap);
  out->status = st;
}

static int parse_extractor(const char *name, zr_extractor *ex) {
  if (!name || !*name) return *ex = ZR_EXTRACT_AUTO, 0;
  if (strcmp(name, "answer_tag") == 0) name = "answer"; /* the proto's spelling */
  else if (strcmp(name, "final_answer") == 0) name = "answer_is";
  return zr_extractor_from_name(name, ex);
}

/* Fills cfg's weights from the spec; no weights at all means accuracy alone. */
static int set_weights(const Zerorl__VerifierSpec *v, zr_reward_config *cfg, zr_rscore *out) {
  if (v->n_rewards == 0) return 0;
  cfg->w_accuracy = 0;
  for (size_t i = 0; i < v->n_rewards; i++) {
    const Zerorl__RewardWeight *rw = v->rewards[i];
    const char *n = rw->name ? rw->name : "";
    if (strcmp(n, "accuracy") == 0) cfg->w_accuracy = rw->weight;
    else if (strcmp(n, "format") == 0) cfg->w_format = rw->weight;
    else if (strcmp(n, "language") == 0) cfg->w_language = rw->weight;
    else if (strcmp(n, "length") == 0) cfg->w_length = rw->weight;
    else {
      set_detail(out, ZR_VERIFY_ERROR, "unknown reward component '%.40s' (accuracy, format, language, length)", n);
      return -1;
    }
  }
  return 0;
}

/* Runs the code check and writes it over the accuracy component (index 0) of r. */
static void score_code(const Zerorl__VerifierSpec *v, const char *text, uint32_t budget_ms, zr_reward_result *r) {
  json_error_t jerr;
  const char *tj = v->tests_json ? v->tests_json : "";
  json_t *tests = json_loads(tj, 0, &jerr);
  if (!tests) {
    r->status = ZR_VERIFY_ERROR;
    snprintf(r->detail, sizeof r->detail, "tests_json: %.120s (line %d)", jerr.text, jerr.line);
    return;
  }
  zr_codetest_opts o;
  zr_codetest_opts_init(&o);
  double budget_s = budget_ms / 1000.0;
  o.total_time_s = budget_s;
  if (o.time_limit_s > budget_s) o.time_limit_s = budget_s;
  const char *lang = v->language && *v->language ? v->language : "python3";
  zr_codetest_result ct;
  memset(&ct, 0, sizeof ct);
  int rc = zr_codetest_run_completion(text, lang, tests, &o, &ct);
  json_decref(tests);
  int correct = 0;
  const char *cstatus;
  if (rc < 0) {
    r->status = ZR_VERIFY_ERROR;
    cstatus = "error";
    snprintf(r->detail, sizeof r->detail, "code check failed: %.200s", ct.detail[0] ? ct.detail : zr_errmsg());
  } else if (rc == 1) {
    r->status = ZR_VERIFY_NO_ANSWER;
    cstatus = "no_answer";
    snprintf(r->detail, sizeof r->detail, "no code block in the completion");
  } else {
    r->status = ZR_VERIFY_OK;
    correct = ct.all_passed;
    cstatus = correct ? "correct" : zr_codetest_status_name(ct.status);
    snprintf(r->detail, sizeof r->detail, "%s: passed %d/%d tests%s%.160s", ct.language, ct.n_passed, ct.n_tests,
             ct.detail[0] ? "; " : "", ct.detail);
    if (ct.status == ZR_CT_TIMEOUT && ct.wall_ms + 250 >= budget_ms) {
      char why[sizeof r->detail];
      snprintf(why, sizeof why, "%s", r->detail);
      snprintf(r->detail, sizeof r->detail, "ran out of its %u ms budget: %.200s", budget_ms, why);
      r->status = ZR_VERIFY_TIMEOUT;
    }
  }
  zr_codetest_result_release(&ct);
  r->correct = correct;
  zr_reward_component *acc = &r->components[0];
  acc->value = correct ? 1.0 : 0.0;
  snprintf(acc->status, sizeof acc->status, "%s", cstatus);
  r->reward = 0;
  for (int i = 0; i < r->n_components; i++) r->reward += r->components[i].value * r->components[i].weight;
}

static void score_spec(const Zerorl__ScoreRequest *req, uint32_t budget_ms, zr_rscore *out) {
  const Zerorl__VerifierSpec *v = req->verifier;
  const Zerorl__Rollout *ro = req->rollout;
  if (!v) return set_detail(out, ZR_VERIFY_ERROR, "score request without a verifier spec");
  const char *text = ro && ro->completion_text ? ro->completion_text : "";
  long n_tokens = ro && ro->n_completion_ids ? (long)ro->n_completion_ids : -1;

  zr_reward_config cfg;
  zr_reward_config_default(&cfg);
  if (parse_extractor(v->extractor, &cfg.extractor) < 0)
    return set_detail(out, ZR_VERIFY_ERROR, "unknown extractor '%.40s'", v->extractor);
  if (set_weights(v, &cfg, out) < 0) return;

  zr_reward_task task = {0};
  long numbers[ZR_TASK_MAX_NUMBERS];
  const char *kind = v->kind && *v->kind ? v->kind : "math";
  if (strcmp(kind, "math") == 0 || strcmp(kind, "exact") == 0) {
    task.kind = kind[0] == 'm' ? ZR_TASK_MATH : ZR_TASK_EXACT;
    if (!v->answer || !*v->answer) return set_detail(out, ZR_VERIFY_ERROR, "%s task without an answer", kind);
    task.answer = v->answer;
  } else if (strcmp(kind, "countdown") == 0) {
    if (v->n_numbers == 0 || v->n_numbers > ZR_TASK_MAX_NUMBERS)
      return set_detail(out, ZR_VERIFY_ERROR, "countdown task needs 1..%d numbers", ZR_TASK_MAX_NUMBERS);
    task.kind = ZR_TASK_COUNTDOWN;
    for (size_t i = 0; i < v->n_numbers; i++) numbers[i] = (long)v->numbers[i];
    task.numbers = numbers;
    task.n_numbers = (int)v->n_numbers;
    task.target = (long)v->target;
  } else if (strcmp(kind, "code") == 0) {
    task.kind = ZR_TASK_CODE;
  } else {
    return set_detail(out, ZR_VERIFY_ERROR, "unknown task kind '%.40s' (math, exact, countdown, code)", kind);
  }
  if (task.kind != ZR_TASK_CODE && v->language && *v->language) {
    if (strlen(v->language) >= sizeof cfg.language)
      return set_detail(out, ZR_VERIFY_ERROR, "language '%.40s' is too long", v->language);
    snprintf(cfg.language, sizeof cfg.language, "%s", v->language);
  }
  if (v->max_completion_tokens > 0) {
    cfg.l_max = (long)v->max_completion_tokens;
    if (cfg.l_cache > cfg.l_max / 5) cfg.l_cache = cfg.l_max / 5;
  }

  zr_reward_scorer *sc = NULL;
  if (zr_reward_scorer_new(&cfg, &sc) < 0)
    return set_detail(out, ZR_VERIFY_ERROR, "reward settings: %.200s", zr_errmsg());
  zr_reward_result r;
  zr_reward_score(sc, &task, text, strlen(text), n_tokens, &r);
  zr_reward_scorer_free(&sc);
  if (task.kind == ZR_TASK_CODE) score_code(v, text, budget_ms, &r);

  out->reward = r.reward;
  out->status = r.status;
  out->correct = r.correct;
  out->n_components = r.n_components;
  memcpy(out->components, r.components, sizeof r.components);
  memcpy(out->detail, r.detail, sizeof out->detail);
}

void zr_rworker_score(const Zerorl__ScoreRequest *req, uint32_t budget_ms, double timeout_reward, zr_rscore *out) {
  memset(out, 0, sizeof *out);
  uint64_t t0 = zr_clock_mono_ms();
  score_spec(req, budget_ms, out);
  uint64_t ms = zr_clock_mono_ms() - t0;
  out->score_ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
  if (ms > budget_ms && out->status != ZR_VERIFY_TIMEOUT) {
    char why[sizeof out->detail];
    snprintf(why, sizeof why, "%s", out->detail);
    snprintf(out->detail, sizeof out->detail, "check took %llu ms, over its %u ms budget (%.180s)",
             (unsigned long long)ms, budget_ms, why);
    out->status = ZR_VERIFY_TIMEOUT;
  }
  if (out->status == ZR_VERIFY_TIMEOUT) {
    out->reward = timeout_reward;
    out->correct = 0;
  }
}

/* ---- options ------------------------------------------------------------------------------ */

void zr_rworker_opts_init(zr_rworker_opts *o) {
  memset(o, 0, sizeof *o);
  o->slots = 1;
  o->default_deadline_ms = 30000;
  o->ask_interval_ms = 1000;
  o->grace_ms = 2000;
  o->zsock = zr_zsock_opts_default();
  zr_redis_opts_init(&o->redis);
}

/* Reads a Z85 key (40 characters, surrounding white space ignored) from path. */

int zr_rworker_opts_from_config(zr_rworker_opts *o, const zr_config *c, char *epbuf, size_t epcap,
                                char keybuf[3][41]) {
  zr_rworker_opts_init(o);
  if (!c->job.id[0])
    return zr_seterr(-EINVAL, "[job] id is not set: a reward worker joins an existing job (set it in the "
                              "config file or with --set job.id=ID)");
  o->job_id = c->job.id;
  o->slots = (int)c->reward.slots;
  o->default_deadline_ms = (uint32_t)c->reward.default_deadline_ms;
  o->timeout_reward = c->reward.timeout_reward;
  o->sim = c->reward.engine == 1; /* {verifier, sim} */
  o->sim_score_ms = (double)c->reward.sim_score_time_ms;
  o->sim_correct = c->reward.sim_correct;
  /* endpoint: tcp learner_tasks -> learner_host + its port; ipc/inproc endpoints as they are */
  const char *t = c->net.learner_tasks;
  if (strncmp(t, "tcp://", 6) == 0) {
    const char *colon = strrchr(t + 6, ':');
    if (!colon || !colon[1])
      return zr_seterr(-EINVAL, "[net] learner_tasks: '%s' has no port", t);
    if ((size_t)snprintf(epbuf, epcap, "%s%s", c->net.learner_host, colon) >= epcap)
      return zr_seterr(-EINVAL, "[net] learner_host: too long");
  } else if ((size_t)snprintf(epbuf, epcap, "%s", t) >= epcap) {
    return zr_seterr(-EINVAL, "[net] learner_tasks: too long");
  }
  o->endpoint = epbuf;
  zr_zsock_opts *z = &o->zsock;
  *z = zr_netcfg_zsock(c);
  if (c->security.curve_secret_key_file[0]) {
    int rc;
    if ((rc = zr_zsock_read_key(c->security.curve_secret_key_file, keybuf[0])) < 0 ||
        (rc = zr_zsock_read_key(c->security.curve_public_key_file, keybuf[1])) < 0 ||
        (rc = zr_zsock_read_key(c->security.curve_server_public_key_file, keybuf[2])) < 0)
      return rc;
    z->curve_secret_key = keybuf[0];
    z->curve_public_key = keybuf[1];
    z->curve_server_key = keybuf[2];
  }
  zr_redis_opts *r = &o->redis;
  zr_netcfg_redis(r, c, "zerorl-reward");
  o->key_prefix = c->redis.prefix;
  o->heartbeat_interval_ms = (uint32_t)c->redis.heartbeat_interval_ms;
  o->heartbeat_ttl_ms = (uint32_t)c->redis.heartbeat_ttl_ms;
  return 0;
}

/* ---- the daemon --------------------------------------------------------------------------- */

typedef struct job {
  struct job *next;  /* pending or done queue (under the mutex) */
  struct job *lnext; /* the loop's list of jobs in flight */
  zr_frame_msg msg;  /* owns the envelope the request lives in */
  const Zerorl__ScoreRequest *req;
  uint32_t budget_ms;
  uint64_t start_ms, hard_deadline_ms;
  bool answered; /* loop: a result (or a TIMEOUT) went out */
  zr_rscore res; /* thread */
} job;

struct zr_rworker {
  uv_loop_t *loop;
  zr_rworker_opts o;
  char *job_id, *worker_id, *endpoint;
  zr_zsock *sock;
  zr_redis *redis;
  zr_heartbeat *hb;
  uv_async_t async;
  uv_timer_t tick;
  int open_handles;
  bool freeing;

  pthread_mutex_t mu;
  pthread_cond_t cv;
  job *pending, **pending_tail, *done; /* under mu */
  bool stop;                           /* under mu */
  pthread_t *threads;
  int n_threads;

  job *inflight; /* loop only */
  int busy;
  uint64_t last_ask_ms, last_recv_ms;
  zr_rworker_stats st;
  uint64_t tp_scored, tp_ms; /* throughput window */

  bool draining, drained;
  uint64_t drain_started_ms;
  zr_rworker_done_cb done_cb;
  void *done_user;
};

static void *thread_main(void *arg) {
  zr_rworker *w = arg;
  zr_simrng rng; /* engine = sim: this thread's draws */
  zr_simrng_seed(&rng, zr_simdist_hash(w->worker_id) ^ (uint64_t)(uintptr_t)&rng);
  for (;;) {
    pthread_mutex_lock(&w->mu);
    while (!w->pending && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
    job *j = w->pending;
    if (!j) {
      pthread_mutex_unlock(&w->mu);
      break;
    }
    w->pending = j->next;
    if (!w->pending) w->pending_tail = &w->pending;
    pthread_mutex_unlock(&w->mu);

    if (w->o.sim) zr_rworker_score_sim(w->o.sim_score_ms, w->o.sim_correct, &rng, &j->res);
    else zr_rworker_score(j->req, j->budget_ms, w->o.timeout_reward, &j->res);

    pthread_mutex_lock(&w->mu);
    j->next = w->done;
    w->done = j;
    pthread_mutex_unlock(&w->mu);
    uv_async_send(&w->async);
  }
  return NULL;
}

static int send_env(zr_rworker *w, Zerorl__Envelope *env) {
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = zr_frame_encode(env, w->job_id, w->worker_id, 0, &buf, &len);
  if (rc == 0) {
    zr_zsock_part p = {buf, len};
    rc = zr_zsock_send(w->sock, &p, 1);
  }
  free(buf);
  if (rc < 0)
    zr_log_limited("reward-send", BAD_LOG_PERIOD_MS, ZR_LOG_WARN, COMP, "send to %s failed: %s", w->endpoint,
                   zr_errmsg());
  return rc;
}

static void ask(zr_rworker *w) {
  int free_slots = w->o.slots - w->busy;
  if (w->draining || free_slots <= 0 || !w->sock) return;
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  Zerorl__WorkRequest wr = ZERORL__WORK_REQUEST__INIT;
  wr.role = ZERORL__ROLE__ROLE_REWARD;
  wr.free_capacity = (uint32_t)free_slots;
  wr.host = (char *)zr_hostname();
  env.body_case = ZERORL__ENVELOPE__BODY_WORK_REQUEST;
  env.work_request = &wr;
  if (send_env(w, &env) == 0) w->st.asks++;
  w->last_ask_ms = zr_clock_mono_ms();
}

static void send_result(zr_rworker *w, job *j, const zr_rscore *s) {
  const Zerorl__Rollout *ro = j->req->rollout;
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  Zerorl__ScoredRollout sr = ZERORL__SCORED_ROLLOUT__INIT;
  Zerorl__RewardComponent comps[ZR_REWARD_MAX_COMPONENTS], *cp[ZR_REWARD_MAX_COMPONENTS];
  sr.score_id = j->req->score_id;
  sr.task_id = ro && ro->task_id ? ro->task_id : "";
  sr.epoch = ro ? ro->epoch : 0;
  sr.sample_index = ro ? ro->sample_index : 0;
  sr.reward = s->reward;
  sr.status = (Zerorl__VerifierStatus)s->status;
  sr.detail = (char *)s->detail;
  sr.score_ms = s->score_ms;
  for (int i = 0; i < s->n_components && i < ZR_REWARD_MAX_COMPONENTS; i++) {
    zerorl__reward_component__init(&comps[i]);
    comps[i].name = (char *)s->components[i].name;
    comps[i].value = s->components[i].value;
    comps[i].weight = s->components[i].weight;
    comps[i].status = (char *)s->components[i].status;
    cp[i] = &comps[i];
  }
  sr.n_components = (size_t)s->n_components;
  sr.components = cp;
  env.body_case = ZERORL__ENVELOPE__BODY_SCORED_ROLLOUT;
  env.scored_rollout = &sr;
  j->answered = true;
  if (send_env(w, &env) == 0) {
    w->st.scored++;
    if (s->status == ZR_VERIFY_TIMEOUT) w->st.timeouts++;
  }
}

static void update_heartbeat(zr_rworker *w, uint64_t now) {
  if (!w->hb) return;
  if (now >= w->tp_ms + 1000) {
    double rate = (double)(w->st.scored - w->tp_scored) * 1000.0 / (double)(now - w->tp_ms);
    zr_heartbeat_setf(w->hb, ZR_WORKER_THROUGHPUT, "%.2f", rate);
    w->tp_scored = w->st.scored;
    w->tp_ms = now;
  }
  zr_heartbeat_setf(w->hb, "slots", "%d", w->o.slots);
  zr_heartbeat_set(w->hb, "engine", w->o.sim ? "sim" : "verifier");
  zr_heartbeat_setf(w->hb, "slots_busy", "%d", w->busy);
  zr_heartbeat_setf(w->hb, "scored", "%llu", (unsigned long long)w->st.scored);
  zr_heartbeat_setf(w->hb, "timeouts", "%llu", (unsigned long long)w->st.timeouts);
  zr_heartbeat_setf(w->hb, "dropped_bad", "%llu", (unsigned long long)w->st.dropped_bad);
}

static void hb_stopped(int ok, void *user) {
  zr_rworker *w = user;
  if (!ok) ZR_WARN(COMP, "could not delete the heartbeat key (Redis unreachable); it will expire");
  zr_rworker_done_cb cb = w->done_cb;
  w->done_cb = NULL;
  if (cb) cb(w->done_user);
}

/* Ends the drain once nothing is in flight and the socket has handed everything to zmq (or a
 * deadline says the learner is not taking it). */
static void check_drained(zr_rworker *w) {
  if (!w->draining || w->drained) return;
  uint64_t now = zr_clock_mono_ms();
  bool all_answered = true;
  uint64_t last_deadline = 0;
  for (job *j = w->inflight; j; j = j->lnext) {
    if (!j->answered) all_answered = false;
    if (j->hard_deadline_ms > last_deadline) last_deadline = j->hard_deadline_ms;
  }
  bool stuck_ok = all_answered && now > last_deadline + w->o.grace_ms; /* threads stuck past it */
  if (w->busy > 0 && !stuck_ok) return;
  if (w->sock && zr_zsock_get_stats(w->sock).pending > 0 && now < w->drain_started_ms + 5000) return;
  w->drained = true;
  if (w->busy > 0) ZR_ERROR(COMP, "drain: %d checks still running past their budgets; leaving them", w->busy);
  ZR_INFO(COMP, "drained: scored=%llu timeouts=%llu dropped_bad=%llu", (unsigned long long)w->st.scored,
          (unsigned long long)w->st.timeouts, (unsigned long long)w->st.dropped_bad);
  if (w->hb) {
    zr_heartbeat_stop(w->hb, ZR_HEARTBEAT_DELETE, hb_stopped, w);
  } else {
    hb_stopped(1, w);
  }
}

static void on_done(uv_async_t *a) {
  zr_rworker *w = a->data;
  pthread_mutex_lock(&w->mu);
  job *list = w->done;
  w->done = NULL;
  pthread_mutex_unlock(&w->mu);
  bool any = false;
  while (list) {
    job *j = list;
    list = j->next;
    if (!j->answered) send_result(w, j, &j->res);
    for (job **pp = &w->inflight; *pp; pp = &(*pp)->lnext)
      if (*pp == j) {
        *pp = j->lnext;
        break;
      }
    zr_frame_msg_release(&j->msg);
    free(j);
    w->busy--;
    any = true;
  }
  if (any) {
    ask(w);
    check_drained(w);
  }
}

static void on_tick(uv_timer_t *t) {
  zr_rworker *w = t->data;
  uint64_t now = zr_clock_mono_ms();
  for (job *j = w->inflight; j; j = j->lnext) {
    if (j->answered || now < j->hard_deadline_ms) continue;
    zr_rscore s;
    memset(&s, 0, sizeof s);
    s.status = ZR_VERIFY_TIMEOUT;
    s.reward = w->o.timeout_reward;
    s.score_ms = (uint32_t)(now - j->start_ms);
    snprintf(s.components[0].name, sizeof s.components[0].name, "accuracy");
    snprintf(s.components[0].status, sizeof s.components[0].status, "timeout");
    s.n_components = 1;
    snprintf(s.detail, sizeof s.detail, "no verdict within %u ms (budget %u ms)", s.score_ms, j->budget_ms);
    ZR_WARN(COMP, "check over budget: score_id=%llu budget_ms=%u; answered TIMEOUT",
            (unsigned long long)j->req->score_id, j->budget_ms);
    send_result(w, j, &s);
  }
  if (!w->draining && now >= w->last_ask_ms + w->o.ask_interval_ms &&
      now >= w->last_recv_ms + w->o.ask_interval_ms)
    ask(w);
  update_heartbeat(w, now);
  check_drained(w);
}

static void drop_bad(zr_rworker *w, const char *why, const char *sender) {
  w->st.dropped_bad++;
  char key[160];
  snprintf(key, sizeof key, "reward-bad:%s:%s", sender, why);
  zr_log_limited(key, BAD_LOG_PERIOD_MS, ZR_LOG_WARN, COMP, "dropped bad message from=%s reason=%s: %s", sender,
                 why, zr_errmsg());
}

static void on_msg(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  (void)s;
  zr_rworker *w = user;
  zr_frame_limits lim = zr_frame_limits_default();
  zr_frame_msg msg;
  int rc = zr_zsock_decode(&msg, parts, n, w->job_id, &lim);
  if (rc < 0) return drop_bad(w, zr_frame_strerror(rc), w->endpoint);
  if (msg.env->body_case != ZERORL__ENVELOPE__BODY_SCORE_REQUEST || !msg.env->score_request) {
    zr_seterr(-EINVAL, "type %d is not a score request", (int)msg.env->type);
    char sender[80];
    snprintf(sender, sizeof sender, "%.64s", msg.env->sender_id ? msg.env->sender_id : "?");
    zr_frame_msg_release(&msg);
    return drop_bad(w, "bad_type", sender);
  }
  job *j = calloc(1, sizeof *j);
  if (!j) {
    zr_frame_msg_release(&msg);
    ZR_ERROR(COMP, "out of memory for a score request; dropped");
    return;
  }
  j->msg = msg;
  j->req = msg.env->score_request;
  j->budget_ms = j->req->deadline_ms ? j->req->deadline_ms : w->o.default_deadline_ms;
  j->start_ms = zr_clock_mono_ms();
  j->hard_deadline_ms = j->start_ms + j->budget_ms + w->o.grace_ms;
  j->lnext = w->inflight;
  w->inflight = j;
  w->busy++;
  w->st.received++;
  w->last_recv_ms = j->start_ms;
  if (w->busy > w->o.slots)
    ZR_WARN(COMP, "more requests than slots: busy=%d slots=%d (the learner granted past this worker's ask)",
            w->busy, w->o.slots);
  pthread_mutex_lock(&w->mu);
  *w->pending_tail = j;
  w->pending_tail = &j->next;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static void on_handle_closed(uv_handle_t *h) {
  zr_rworker *w = h->data;
  if (--w->open_handles == 0) {
    free(w->job_id);
    free(w->worker_id);
    free(w->endpoint);
    free(w);
  }
}

zr_rworker *zr_rworker_new(uv_loop_t *loop, void *zmq_ctx, const zr_rworker_opts *o) {
  if (!o->job_id || !*o->job_id || !o->worker_id || !o->endpoint || o->slots < 1) {
    zr_seterr(-EINVAL, "reward worker: job id, worker id, endpoint and slots >= 1 are required");
    return NULL;
  }
  if (zr_key_check_component("job", o->job_id) < 0 || zr_key_check_component("worker id", o->worker_id) < 0)
    return NULL;
  zr_rworker *w = calloc(1, sizeof *w);
  if (!w) {
    zr_seterr(-ENOMEM, "out of memory");
    return NULL;
  }
  w->loop = loop;
  w->o = *o;
  w->job_id = strdup(o->job_id);
  w->worker_id = strdup(o->worker_id);
  w->endpoint = strdup(o->endpoint);
  w->pending_tail = &w->pending;
  w->threads = calloc((size_t)o->slots, sizeof *w->threads);
  if (!w->job_id || !w->worker_id || !w->endpoint || !w->threads) {
    zr_seterr(-ENOMEM, "out of memory");
    goto fail_early;
  }
  w->o.job_id = w->job_id;
  w->o.worker_id = w->worker_id;
  w->o.endpoint = w->endpoint;
  w->o.zsock.routing_id = NULL;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);

  if (!(w->sock = zr_zsock_new(loop, zmq_ctx, ZMQ_DEALER, &w->o.zsock, on_msg, w))) goto fail_early;
  if (zr_zsock_connect(w->sock, w->endpoint) < 0) goto fail_early;
  uv_async_init(loop, &w->async, on_done);
  w->async.data = w;
  uv_timer_init(loop, &w->tick);
  w->tick.data = w;
  w->open_handles = 2;
  for (int i = 0; i < o->slots; i++) {
    if (pthread_create(&w->threads[i], NULL, thread_main, w) != 0) {
      zr_seterr(-EAGAIN, "reward worker: cannot start thread %d", i);
      zr_rworker_free(&w);
      return NULL;
    }
    w->n_threads++;
  }
  if (!(w->redis = zr_redis_new(loop, &w->o.redis, NULL, NULL))) {
    zr_rworker_free(&w);
    return NULL;
  }
  zr_heartbeat_opts ho;
  zr_heartbeat_opts_init(&ho);
  ho.prefix = o->key_prefix;
  ho.job = w->job_id;
  ho.role = ZR_ROLE_NAME_REWARD;
  ho.id = w->worker_id;
  if (o->heartbeat_interval_ms) ho.interval_ms = o->heartbeat_interval_ms;
  if (o->heartbeat_ttl_ms) ho.ttl_ms = o->heartbeat_ttl_ms;
  if (!(w->hb = zr_heartbeat_new(w->redis, &ho))) {
    zr_rworker_free(&w);
    return NULL;
  }
  uint64_t now = zr_clock_mono_ms();
  w->tp_ms = now;
  zr_heartbeat_set(w->hb, ZR_WORKER_STATE, ZR_JOB_STATE_RUNNING);
  zr_heartbeat_set(w->hb, ZR_WORKER_THROUGHPUT, "0.00");
  update_heartbeat(w, now);
  zr_heartbeat_start(w->hb);
  uv_timer_start(&w->tick, on_tick, 100, 100);
  ZR_INFO(COMP, "reward worker up: job=%s id=%s learner=%s slots=%d heartbeat=%s", w->job_id, w->worker_id,
          w->endpoint, o->slots, zr_heartbeat_key(w->hb));
  ask(w);
  return w;

fail_early:
  zr_zsock_free(&w->sock);
  free(w->threads);
  free(w->job_id);
  free(w->worker_id);
  free(w->endpoint);
  free(w);
  return NULL;
}

void zr_rworker_drain(zr_rworker *w, zr_rworker_done_cb done, void *user) {
  if (w->draining) return;
  w->draining = true;
  w->drain_started_ms = zr_clock_mono_ms();
  w->done_cb = done;
  w->done_user = user;
  ZR_INFO(COMP, "draining: %d checks in flight", w->busy);
  if (w->hb) {
    zr_heartbeat_set(w->hb, ZR_WORKER_STATE, ZR_JOB_STATE_DRAINING);
    zr_heartbeat_beat(w->hb);
  }
  check_drained(w);
}

zr_rworker_stats zr_rworker_get_stats(const zr_rworker *w) {
  zr_rworker_stats s = w->st;
  s.busy = w->busy;
  return s;
}

void zr_rworker_free(zr_rworker **pw) {
  zr_rworker *w = pw ? *pw : NULL;
  if (!w || w->freeing) return;
  *pw = NULL;
  w->freeing = true;
  pthread_mutex_lock(&w->mu);
  w->stop = true;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
  /* a drain that gave up on checks running past their budgets must not block on them now:
   * leave those threads (and the memory they use) behind */
  bool stuck = w->busy > 0 && w->drained;
  if (!stuck) {
    for (int i = 0; i < w->n_threads; i++) pthread_join(w->threads[i], NULL);
    /* jobs queued but never started, and results nobody sent */
    job *lists[2] = {w->pending, w->done};
    for (int k = 0; k < 2; k++)
      for (job *j = lists[k], *nx; j; j = nx) {
        nx = j->next;
        zr_frame_msg_release(&j->msg);
        free(j);
      }
    w->pending = w->done = NULL;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
  } else {
    for (int i = 0; i < w->n_threads; i++) pthread_detach(w->threads[i]);
  }
  free(w->threads);
  w->threads = NULL;
  zr_heartbeat_free(&w->hb);
  zr_redis_free(&w->redis);
  zr_zsock_free(&w->sock);
  if (stuck) { /* the threads still use w and its async handle: leave them, let the loop end */
    uv_timer_stop(&w->tick);
    uv_unref((uv_handle_t *)&w->tick);
    uv_unref((uv_handle_t *)&w->async);
    return;
  }
  uv_close((uv_handle_t *)&w->async, on_handle_closed);
  uv_close((uv_handle_t *)&w->tick, on_handle_closed);
}
