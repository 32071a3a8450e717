/* learner.c: the learner daemon's lifecycle: start-up (data, models, sockets, Redis), timers
 * (hub deadlines, announcements, Redis mirroring), batching scored groups for the compute
 * thread, the end of the job, drain and reload. See learner.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/netcfg.h"
#include "common/zap.h"
#include "learner/learner_internal.h"

/* ---- Redis -------------------------------------------------------------------------------- */

static void write_job_hash(zr_learner *l) {
  if (!l->redis || !zr_redis_connected(l->redis)) return;
  char key[256], started[32], updated[32], step[32], version[32], epoch[32], cursor[32];
  zr_key_job(key, sizeof key, l->prefix, l->job_id);
  zr_clock_format_wall(l->started_wall_ms, started);
  zr_clock_format_wall(zr_clock_wall_ms(), updated);
  zr_cursor cur;
  zr_dataset_get_cursor(&l->ds, &cur);
  snprintf(step, sizeof step, "%lld", (long long)l->step);
  snprintf(version, sizeof version, "%llu", (unsigned long long)l->version);
  snprintf(epoch, sizeof epoch, "%u", cur.epoch);
  snprintf(cursor, sizeof cursor, "%llu", (unsigned long long)cur.pos);
  const char *argv[] = {"HSET", key, ZR_JOB_STATE, zr_job_state_name(l->state), ZR_JOB_STEP, step,
                        ZR_JOB_POLICY_VERSION, version, ZR_JOB_EPOCH, epoch, ZR_JOB_CURSOR, cursor,
                        ZR_JOB_ENDPOINT_WORK, l->ep_work, ZR_JOB_ENDPOINT_WEIGHTS, l->ep_announce,
                        ZR_JOB_ENDPOINT_CHUNKS, l->ep_chunks,
                        ZR_JOB_STARTED_AT, started, ZR_JOB_UPDATED_AT, updated, "name", l->cfg->job.name,
                        "run_dir", l->run_dir};
  zr_redis_commandargv(l->redis, NULL, NULL, (int)(sizeof argv / sizeof *argv), argv, NULL);
}

static void write_queue_hash(zr_learner *l) {
  if (!l->redis || !zr_redis_connected(l->redis)) return;
  zr_hub_counts c;
  zr_hub_counts_get(l->hub, &c);
  char key[256];
  zr_key_job_queue(key, sizeof key, l->prefix, l->job_id);
  uint64_t v[] = {c.tasks_pending, c.tasks_leased, c.rollouts_waiting, c.rollouts_scoring, c.groups_ready,
                  c.retries, c.expired_leases, c.dropped_stale, c.dropped_bad + l->dropped_bad, c.duplicates,
                  c.groups_filtered, c.groups_trained, c.tasks_dropped,
                  l->wpub ? zr_wpub_get_stats(l->wpub).chunks_served : 0};
  const char *names[] = {"tasks_pending", "tasks_leased", "rollouts_waiting", "rollouts_scoring", "groups_ready",
                         "retries", "expired_leases", "dropped_stale", "dropped_bad", "duplicates",
                         "groups_filtered", "groups_trained", "tasks_dropped", "weight_chunks_served"};
  enum { N = sizeof v / sizeof *v };
  char vals[N][24];
  const char *argv[2 + 2 * N];
  argv[0] = "HSET";
  argv[1] = key;
  for (int i = 0; i < N; i++) {
    snprintf(vals[i], sizeof vals[i], "%llu", (unsigned long long)v[i]);
    argv[2 + 2 * i] = names[i];
    argv[3 + 2 * i] = vals[i];
  }
  zr_redis_commandargv(l->redis, NULL, NULL, 2 + 2 * N, argv, NULL);
}

static void on_redis_connect(zr_redis *r, void *user) {
  zr_learner *l = user;
  char key[256];
  zr_key_jobs(key, sizeof key, l->prefix);
  const char *argv[] = {"SADD", key, l->job_id};
  zr_redis_commandargv(r, NULL, NULL, 3, argv, NULL);
  write_job_hash(l);
  write_queue_hash(l);
}

void lr_event(zr_learner *l, const char *kind, const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  ZR_INFO(LR_LOG, "event %s: %s", kind, text);
  if (!l->redis || !zr_redis_connected(l->redis)) return;
  char key[256], at[32];
  zr_key_job_events(key, sizeof key, l->prefix, l->job_id);
  zr_clock_format_wall(zr_clock_wall_ms(), at);
  const char *argv[] = {"XADD", key, "MAXLEN", "~", "10000", "*", "kind", kind, "detail", text, "at", at};
  zr_redis_commandargv(l->redis, NULL, NULL, 12, argv, NULL);
}

static void hub_event(void *user, const zr_hub_event *ev) {
  zr_learner *l = user;
  static const char *const names[] = {"", "lease_expired", "task_dropped", "group_filtered", "group_stale",
                                      "score_timeout", "score_failed"};
  const char *name = ev->kind >= 1 && ev->kind <= 6 ? names[ev->kind] : "hub";
  if (ev->kind == ZR_HUB_EV_GROUP_FILTERED) return; /* counted; too frequent to log */
  lr_event(l, name, "task %s epoch %u group %llu lease %llu worker %s retries %u", ev->task_id ? ev->task_id : "-",
           ev->epoch, (unsigned long long)ev->group_id, (unsigned long long)ev->lease_id,
           ev->worker_id ? ev->worker_id : "-", ev->retries);
}

/* ---- ending ------------------------------------------------------------------------------- */

static void set_state(zr_learner *l, zr_job_state s) {
  l->state = s;
  write_job_hash(l);
}

static void on_final_reply(zr_redis *r, redisReply *reply, void *user) {
  (void)r;
  (void)reply;
  zr_learner *l = user;
  if (l->done_cb) l->done_cb(l->done_user, l->exit_code);
}

/* Redis answers in order: once this PING is answered (or fails), the final writes are through
 * and the caller may free the client. While Redis is down (until final_deadline_ms) this is
 * retried from the tick timer; the reconnect rewrites the job and queue hashes first. */
static void final_flush(zr_learner *l) {
  l->awaiting_redis = false;
  if (l->redis && zr_redis_connected(l->redis) && zr_redis_command(l->redis, on_final_reply, l, "PING") == 0) return;
  if (l->redis && zr_clock_mono_ms() < l->final_deadline_ms) {
    l->awaiting_redis = true;
    return;
  }
  if (l->done_cb) l->done_cb(l->done_user, l->exit_code);
}

static void finish(zr_learner *l, int code) {
  if (l->done_called) return;
  l->done_called = true;
  l->exit_code = code;
  set_state(l, code == 0 ? ZR_JOB_DONE : ZR_JOB_FAILED);
  write_queue_hash(l);
  lr_event(l, code == 0 ? "job_done" : "job_failed", "step %lld, policy version %llu", (long long)l->step,
           (unsigned long long)l->version);
  if (l->hb) zr_heartbeat_stop(l->hb, ZR_HEARTBEAT_DELETE, NULL, NULL);
  /* Redis down: wait a little for it (the tick timer retries), so the final state reaches it */
  l->final_deadline_ms = zr_clock_mono_ms() + 10000;
  final_flush(l);
}

/* The final checkpoint, then finish. */
static void final_checkpoint(zr_learner *l) {
  if (l->finishing) return;
  l->finishing = true;
  lr_cjob *j = calloc(1, sizeof *j);
  if (!j) {
    finish(l, 1);
    return;
  }
  j->kind = CJ_CHECKPOINT;
  j->state = lr_snapshot_state(l);
  if (lr_compute_submit(l, j) < 0) { /* cannot happen: called only when idle */
    json_decref(j->state);
    free(j);
    finish(l, 1);
  }
}

/* Whether the compute thread's checkpoint rule (learner_compute.c) can fire after batch `batch`:
 * at most updates_per_batch optimizer steps happen in one batch. Read while the compute thread
 * is idle. */
static bool lr_checkpoint_may_follow(const zr_learner *l, int64_t batch) {
  int64_t every = l->cfg->learner.checkpoint_every;
  if (every <= 0) return false;
  int64_t max_step = l->step + (int64_t)l->cfg->algo.updates_per_batch;
  return max_step / every != l->step / every || batch - l->ckpt_batch >= every;
}

static bool job_complete(zr_learner *l) {
  if (l->step >= l->cfg->learner.total_steps) return true;
  return l->data_done && zr_hub_epoch_done(l->hub) && l->n_pending == 0;
}

/* ---- batches ------------------------------------------------------------------------------ */

void lr_maybe_train(zr_learner *l) {
  if (l->cj_busy || l->finishing || l->done_called) return;
  if (job_complete(l)) {
    final_checkpoint(l);
    return;
  }
  int want = (int)l->cfg->algo.groups_per_batch;
  while (l->n_pending < want) {
    if (l->n_pending == l->cap_pending) {
      int cap = l->cap_pending ? 2 * l->cap_pending : want;
      zr_hub_group *g = realloc(l->pending_groups, (size_t)cap * sizeof *g);
      if (!g) return;
      l->pending_groups = g;
      l->cap_pending = cap;
    }
    if (zr_hub_take_group(l->hub, l->version, &l->pending_groups[l->n_pending]) != 0) break;
    l->n_pending++;
  }
  /* a full batch, or the last groups of the data */
  bool last = l->data_done && zr_hub_epoch_done(l->hub);
  /* draining: train the complete groups already taken (they count as trained in the checkpoint) */
  if (l->n_pending < want && !((last || l->draining) && l->n_pending > 0)) return;
  if (l->cfg->algo.mode == 2) { /* rejection-sample: keep the correct completions, no training */
    lr_write_groups(l, l->pending_groups, l->n_pending, l->step, ++l->batches);
    for (int g = 0; g < l->n_pending; g++) zr_hub_group_release(l->hub, &l->pending_groups[g]);
    l->n_pending = 0;
    if (job_complete(l)) final_checkpoint(l);
    return;
  }
  lr_cjob *j = calloc(1, sizeof *j);
  if (!j) return;
  j->kind = CJ_RL_STEP;
  j->groups = l->pending_groups;
  j->n_groups = l->n_pending;
  j->batch = ++l->batches;
  /* the state a checkpoint after this batch would save (its groups count as trained); built
   * only when a checkpoint can be due, since the trained set grows with the epoch */
  j->state = lr_checkpoint_may_follow(l, j->batch) ? lr_snapshot_state(l) : NULL;
  l->pending_groups = NULL;
  l->n_pending = l->cap_pending = 0;
  if (lr_compute_submit(l, j) < 0) ZR_ASSERT(0);
  lr_serve_waiting_actors(l); /* the groups just taken made room under admission control */
}

static void on_compute_done(uv_async_t *a) {
  zr_learner *l = a->data;
  pthread_mutex_lock(&l->mu);
  lr_cjob *j = l->cj_done;
  l->cj_done = NULL;
  pthread_mutex_unlock(&l->mu);
  if (!j) return;
  l->cj_busy = false;
  if (j->rc < 0) {
    ZR_ERROR(LR_LOG, "%s", j->err);
    lr_event(l, "error", "%s", j->err);
  }
  if (j->kind == CJ_RL_STEP && j->rc == 0 && !j->recorded) lr_write_groups(l, j->groups, j->n_groups, j->step, j->batch);
  if (j->kind == CJ_RL_STEP && j->rc == 0 && j->step == l->step) {
    /* every group had zero advantages: no optimizer step, the weights did not change */
    lr_write_metrics(l, j);
    l->batch_started_ms = zr_clock_mono_ms();
  } else if (j->kind == CJ_RL_STEP && j->rc == 0) {
    l->version = zr_wversion_number(j->wv);
    l->step = j->step;
    zr_wpub_add(l->wpub, j->wv);
    j->wv = NULL;
    lr_announce(l);
    lr_write_metrics(l, j);
    l->batch_started_ms = zr_clock_mono_ms();
    if (l->hb) zr_heartbeat_setf(l->hb, "policy_version", "%llu", (unsigned long long)l->version);
    ZR_INFO(LR_LOG, "step %lld: version %llu, reward %.3f, %d groups (%d skipped), %.0f tokens/s", (long long)l->step,
            (unsigned long long)l->version, j->m.reward_mean, j->m.n_groups, j->m.groups_skipped, j->m.tokens_per_s);
    write_job_hash(l);
  }
  if (j->ckpt_dir[0]) lr_event(l, "checkpoint_written", "%s", j->ckpt_dir);
  bool was_final = j->kind == CJ_CHECKPOINT;
  int rc = j->rc;
  for (int g = 0; g < j->n_groups; g++) zr_hub_group_release(l->hub, &j->groups[g]);
  free(j->groups);
  zr_wversion_free(&j->wv);
  json_decref(j->state);
  free(j);
  if (rc < 0) {
    finish(l, 1);
    return;
  }
  if (was_final) {
    finish(l, 0);
    return;
  }
  lr_maybe_train(l);
}

/* ---- timers ------------------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t) {
  zr_learner *l = t->data;
  uint64_t now = zr_clock_mono_ms();
  if (l->done_called) {
    if (l->awaiting_redis) final_flush(l);
    return;
  }
  char why[800];
  if (l->comm && !l->cj_busy && zr_comm_failed(l->comm, why, sizeof why)) { /* a rank was lost while idle */
    ZR_ERROR(LR_LOG, "%s", why);
    lr_event(l, "error", "%s", why);
    finish(l, 1);
    return;
  }
  zr_hub_tick(l->hub, now);
  lr_expire_peers(l, now);
  lr_dispatch_scores(l);
  if (l->draining && !l->finishing && !l->done_called) {
    lr_maybe_train(l);
    if (l->cj_busy) return;
    zr_hub_counts c;
    zr_hub_counts_get(l->hub, &c);
    bool idle = c.tasks_leased == 0 && c.rollouts_waiting == 0 && c.rollouts_scoring == 0;
    if (idle || now >= l->drain_deadline_ms) final_checkpoint(l);
    return;
  }
  lr_maybe_train(l);
}

static void on_announce(uv_timer_t *t) { lr_announce(t->data); }

static void on_mirror(uv_timer_t *t) {
  zr_learner *l = t->data;
  write_queue_hash(l);
  write_job_hash(l);
}

/* ---- start-up ----------------------------------------------------------------------------- */

static int mkdir_p(const char *path) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return zr_seterr(-ENAMETOOLONG, "%s: too long", path);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      if (mkdir(buf, 0755) < 0 && errno != EEXIST) return zr_seterr(-errno, "mkdir %s: %s", buf, strerror(errno));
      *p = '/';
    }
  if (mkdir(buf, 0755) < 0 && errno != EEXIST) return zr_seterr(-errno, "mkdir %s: %s", buf, strerror(errno));
  return 0;
}

/* A bind endpoint as clients reach it: tcp "*" becomes learner_host, same port; ipc/inproc as they are. */
static int client_endpoint(const zr_config *c, const char *bind, char *out, size_t cap) {
  if (strncmp(bind, "tcp://", 6) == 0) {
    const char *colon = strrchr(bind + 6, ':');
    if (!colon) return zr_seterr(-EINVAL, "[net] endpoint '%s' has no port", bind);
    snprintf(out, cap, "%s%s", c->net.learner_host, colon);
  } else {
    snprintf(out, cap, "%s", bind);
  }
  return 0;
}


static void close_cb(uv_handle_t *h) {
  zr_learner *l = h->data;
  if (--l->handles_open == 0) free(l);
}

zr_learner *zr_learner_new(uv_loop_t *loop, void *zctx, const zr_config *cfg, const zr_learner_opts *o) {
  zr_learner *l = calloc(1, sizeof *l);
  if (!l) {
    zr_seterr(-ENOMEM, "out of memory");
    return NULL;
  }
  l->loop = loop;
  l->zctx = zctx;
  l->cfg = cfg;
  l->resume = o && o->resume;
  l->resume_auto = o && o->resume_auto;
  l->state = ZR_JOB_STARTING;
  l->started_wall_ms = zr_clock_wall_ms();
  l->batch_started_ms = zr_clock_mono_ms();
  l->limits = zr_frame_limits_default();
  l->w_accuracy = cfg->algo.reward_accuracy;
  l->w_format = cfg->algo.reward_format;
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  zr_id_new(l->sender_id);
  if (cfg->job.id[0]) snprintf(l->job_id, sizeof l->job_id, "%s", cfg->job.id);
  else zr_id_new(l->job_id);
  snprintf(l->prefix, sizeof l->prefix, "%s", cfg->redis.prefix);
  snprintf(l->run_dir, sizeof l->run_dir, "%s", o && o->run_dir ? o->run_dir : cfg->job.run_dir);
  snprintf(l->model_dir, sizeof l->model_dir, "%s", cfg->model.path);
  int rc = 0;
  char path[4200];
  zr_hub_config hc;
  zr_zsock_opts zo = zr_netcfg_zsock(cfg);
  char keys[2][ZR_ZSOCK_Z85_KEY_LEN + 1];
  if (!cfg->model.path[0]) {
    rc = zr_seterr(-EINVAL, "[model] path is not set: the model directory to train");
    goto fail;
  }
  if (cfg->algo.mode == 2 && cfg->data.epochs == 0) {
    rc = zr_seterr(-EINVAL, "[algo] mode = rejection-sample needs [data] epochs >= 1 (it ends when the epochs are done)");
    goto fail;
  }
  if ((rc = mkdir_p(l->run_dir)) < 0) goto fail;
  snprintf(path, sizeof path, "%s/trained.jsonl", l->run_dir);
  l->trained = fopen(path, "a");
  if (cfg->algo.mode == 2) {
    snprintf(path, sizeof path, "%s/accepted.jsonl", l->run_dir);
    l->accepted = fopen(path, "a");
  }
  snprintf(path, sizeof path, "%s/metrics.jsonl", l->run_dir);
  l->metrics = fopen(path, "a");
  if (!l->metrics || !l->trained || (cfg->algo.mode == 2 && !l->accepted)) {
    rc = zr_seterr(-errno, "cannot open %s: %s", path, strerror(errno));
    goto fail;
  }
  if ((rc = lr_load_data(l)) < 0) goto fail;
  zr_hub_config_init(&hc);
  hc.group_size = (uint32_t)cfg->algo.group_size;
  hc.groups_per_batch = (uint32_t)cfg->algo.groups_per_batch;
  hc.max_staleness = (uint32_t)cfg->algo.max_staleness;
  hc.lease_ms = (uint64_t)cfg->learner.lease_ms;
  /* the worker's budget is score_deadline; the attempt expires a little later, so a check that
   * uses its whole budget still answers in time */
  hc.score_timeout_ms = (uint64_t)cfg->learner.score_deadline_ms + 5000;
  hc.max_task_retries = (uint32_t)cfg->learner.max_task_retries;
  hc.dynamic_sampling = cfg->algo.dynamic_sampling;
  hc.next_task = lr_next_task;
  hc.free_payload = lr_free_payload;
  hc.event = hub_event;
  hc.user = l;
  if (!(l->hub = zr_hub_new(&hc))) {
    rc = -EINVAL;
    goto fail;
  }
  if ((rc = lr_compute_start(l)) < 0) goto fail;
  if ((rc = zr_wpub_new(&l->wpub, (int)cfg->learner.keep_versions)) < 0) goto fail;
  zr_wpub_add(l->wpub, l->initial_wv);
  l->initial_wv = NULL;
  if ((rc = client_endpoint(cfg, cfg->net.learner_weights, l->ep_chunks, sizeof l->ep_chunks)) < 0 ||
      (rc = client_endpoint(cfg, cfg->net.learner_tasks, l->ep_work, sizeof l->ep_work)) < 0 ||
      (rc = client_endpoint(cfg, cfg->net.learner_announce, l->ep_announce, sizeof l->ep_announce)) < 0)
    goto fail;

  if (cfg->security.curve_secret_key_file[0]) { /* the learner is the CURVE server of every socket */
    if ((rc = zr_zsock_read_key(cfg->security.curve_secret_key_file, keys[0])) < 0 ||
        (rc = zr_zsock_read_key(cfg->security.curve_public_key_file, keys[1])) < 0)
      goto fail;
    zo.curve_server = true;
    zo.curve_secret_key = keys[0];
    zo.curve_public_key = keys[1];
    /* ZAP allow-list (common/zap.h): only clients whose public keys are in [security]
     * allowed_clients_file get in. Bound before the CURVE sockets, so no handshake goes
     * unchecked; found again through the context in zr_learner_free and for a reload. */
    if (!zr_zap_new(loop, zctx, cfg->security.allowed_clients_file)) {
      rc = -EINVAL;
      goto fail;
    }
  }
  if (!(l->work = zr_zsock_new(loop, zctx, ZMQ_ROUTER, &zo, lr_on_work, l)) ||
      !(l->weights = zr_zsock_new(loop, zctx, ZMQ_ROUTER, &zo, lr_on_weights, l)) ||
      !(l->announce = zr_zsock_new(loop, zctx, ZMQ_PUB, &zo, NULL, l))) {
    rc = -EIO;
    goto fail;
  }
  if ((rc = zr_zsock_bind(l->work, cfg->net.learner_tasks)) < 0 ||
      (rc = zr_zsock_bind(l->weights, cfg->net.learner_weights)) < 0 ||
      (rc = zr_zsock_bind(l->announce, cfg->net.learner_announce)) < 0)
    goto fail;

  zr_redis_opts ro;
  zr_netcfg_redis(&ro, cfg, "zerorl-learner");
  if (!(l->redis = zr_redis_new(loop, &ro, on_redis_connect, l))) {
    rc = -EINVAL;
    goto fail;
  }
  zr_heartbeat_opts ho;
  zr_heartbeat_opts_init(&ho);
  ho.prefix = l->prefix;
  ho.job = l->job_id;
  ho.role = "learner";
  ho.id = l->sender_id;
  ho.interval_ms = (uint32_t)cfg->redis.heartbeat_interval_ms;
  ho.ttl_ms = (uint32_t)cfg->redis.heartbeat_ttl_ms;
  if ((l->hb = zr_heartbeat_new(l->redis, &ho))) {
    zr_heartbeat_set(l->hb, "state", "running");
    zr_heartbeat_setf(l->hb, "policy_version", "%llu", (unsigned long long)l->version);
    zr_heartbeat_start(l->hb);
  }

  uv_timer_init(loop, &l->tick_timer);
  uv_timer_init(loop, &l->announce_timer);
  uv_timer_init(loop, &l->mirror_timer);
  uv_async_init(loop, &l->async, on_compute_done);
  l->tick_timer.data = l->announce_timer.data = l->mirror_timer.data = l->async.data = l;
  l->handles_open = 4;
  uv_timer_start(&l->tick_timer, on_tick, 50, 50);
  uv_timer_start(&l->announce_timer, on_announce, 0, 1000);
  uv_timer_start(&l->mirror_timer, on_mirror, 1000, 1000);
  set_state(l, ZR_JOB_RUNNING);
  lr_event(l, "learner_started", "job %s, %zu tasks, model %s, run dir %s%s", l->job_id,
           zr_taskset_count(l->tasks), l->model_dir, l->run_dir, l->resume ? " (resumed)" : "");
  return l;

fail:
  (void)rc;
  {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", zr_errmsg());
    zr_learner *tmp = l;
    l->handles_open = 0;
    zr_learner_free(&tmp);
    zr_seterr(rc < 0 ? rc : -EINVAL, "%s", msg);
  }
  return NULL;
}

void zr_learner_on_done(zr_learner *l, zr_learner_done_cb cb, void *user) {
  l->done_cb = cb;
  l->done_user = user;
}

void zr_learner_drain(zr_learner *l) {
  if (l->draining || l->done_called) return;
  l->draining = true;
  l->drain_deadline_ms = zr_clock_mono_ms() + (uint64_t)l->cfg->learner.drain_timeout_ms;
  set_state(l, ZR_JOB_DRAINING);
  lr_event(l, "draining", "stop granting; waiting up to %lld ms for work in flight",
           (long long)l->cfg->learner.drain_timeout_ms);
}

void zr_learner_reload(zr_learner *l, const zr_config *cfg) {
  /* only the hot settings are taken; everything else keeps the values the job started with */
  zr_hub_set_max_staleness(l->hub, (uint32_t)cfg->algo.max_staleness);
  l->w_accuracy = cfg->algo.reward_accuracy;
  l->w_format = cfg->algo.reward_format;
  pthread_mutex_lock(&l->mu);
  l->new_lr = cfg->learner.lr;
  pthread_mutex_unlock(&l->mu);
  lr_event(l, "reloaded", "max_staleness %lld, lr %g, reward weights accuracy %g format %g",
           (long long)cfg->algo.max_staleness, cfg->learner.lr, cfg->algo.reward_accuracy, cfg->algo.reward_format);
  zr_zap *zap = zr_zap_for_context(l->zctx); /* CURVE on: the client allow-list is re-read too */
  if (zap && zr_zap_reload(zap) < 0) ZR_WARN(LR_LOG, "reload: allow-list kept: %s", zr_errmsg());
}

void zr_learner_free(zr_learner **lp) {
  zr_learner *l = lp ? *lp : NULL;
  if (!l) return;
  *lp = NULL;
  lr_compute_stop(l);
  if (l->cj_done) {
    lr_cjob *j = l->cj_done;
    for (int g = 0; g < j->n_groups; g++) zr_hub_group_release(l->hub, &j->groups[g]);
    free(j->groups);
    zr_wversion_free(&j->wv);
    json_decref(j->state);
    free(j);
  }
  for (int g = 0; g < l->n_pending; g++) zr_hub_group_release(l->hub, &l->pending_groups[g]);
  free(l->pending_groups);
  if (l->hb) zr_heartbeat_free(&l->hb);
  zr_redis_free(&l->redis);
  zr_zsock_free(&l->work);
  zr_zsock_free(&l->weights);
  zr_zsock_free(&l->announce);
  { /* the ZAP handler, after the CURVE sockets (none while CURVE is off) */
    zr_zap *zap = l->zctx ? zr_zap_for_context(l->zctx) : NULL;
    zr_zap_free(&zap);
  }
  zr_hub_free(&l->hub);
  zr_wpub_free(&l->wpub);
  lr_peers_free(l);
  if (l->prompts) {
    for (size_t i = 0; i < zr_taskset_count(l->tasks); i++) {
      free(l->prompts[i].ids);
      free(l->prompts[i].text);
    }
    free(l->prompts);
  }
  for (int i = 0; i < l->n_stops; i++) free(l->stops[i]);
  zr_tok_encoder_free(&l->enc);
  zr_tok_free(&l->tok);
  zr_taskset_free(&l->tasks);
  if (l->metrics) fclose(l->metrics);
  if (l->trained) fclose(l->trained);
  if (l->accepted) fclose(l->accepted);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cv);
  if (l->handles_open == 0) {
    free(l);
    return;
  }
  uv_close((uv_handle_t *)&l->tick_timer, close_cb);
  uv_close((uv_handle_t *)&l->announce_timer, close_cb);
  uv_close((uv_handle_t *)&l->mirror_timer, close_cb);
  uv_close((uv_handle_t *)&l->async, close_cb);
}
