/* learner_net.c: the learner's messages: work requests, grants, rollouts, lease releases and
 * scores on the work ROUTER, chunk requests on the weights ROUTER, announcements on the PUB.
 * Every message is checked (common/frame.h, then the rules below) before the hub sees it. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "learner/learner_internal.h"

/* ---- peers -------------------------------------------------------------------------------- */

static lr_peer *peer_find(zr_learner *l, const void *ident, size_t len) {
  for (lr_peer *p = l->peers; p; p = p->next)
    if (p->ident_len == len && memcmp(p->ident, ident, len) == 0) return p;
  return NULL;
}

static lr_peer *peer_touch(zr_learner *l, const void *ident, size_t len, const char *worker_id, int role) {
  lr_peer *p = peer_find(l, ident, len);
  if (!p) {
    if (len > sizeof p->ident) return NULL;
    p = calloc(1, sizeof *p);
    if (!p) return NULL;
    memcpy(p->ident, ident, len);
    p->ident_len = len;
    snprintf(p->worker_id, sizeof p->worker_id, "%s", worker_id);
    p->role = role;
    p->next = l->peers;
    l->peers = p;
    lr_event(l, "worker_joined", "%s %s", role == ZERORL__ROLE__ROLE_REWARD ? "reward" : "actor", p->worker_id);
  }
  p->last_seen_ms = zr_clock_mono_ms();
  return p;
}

static void peer_remove(zr_learner *l, lr_peer *gone) {
  for (lr_peer **pp = &l->peers; *pp; pp = &(*pp)->next)
    if (*pp == gone) {
      *pp = gone->next;
      zr_hub_worker_gone(l->hub, gone->worker_id);
      lr_event(l, "worker_left", "%s %s", gone->role == ZERORL__ROLE__ROLE_REWARD ? "reward" : "actor",
               gone->worker_id);
      free(gone);
      return;
    }
}

/* A worker silent for longer than a lease is gone: its leases and scoring attempts return. */
void lr_expire_peers(zr_learner *l, uint64_t now) {
  uint64_t limit = (uint64_t)l->cfg->learner.lease_ms;
  uint64_t score_limit = (uint64_t)l->cfg->learner.score_deadline_ms;
  lr_peer *p = l->peers;
  while (p) {
    lr_peer *next = p->next;
    uint64_t lim = p->role == ZERORL__ROLE__ROLE_REWARD ? score_limit : limit;
    if (now > p->last_seen_ms + lim) peer_remove(l, p);
    p = next;
  }
}

void lr_peers_free(zr_learner *l) {
  while (l->peers) {
    lr_peer *p = l->peers;
    l->peers = p->next;
    free(p);
  }
}

/* ---- sending ------------------------------------------------------------------------------ */

static int send_env(zr_learner *l, zr_zsock *s, const lr_peer *to, Zerorl__Envelope *env, const void *bulk,
                    size_t bulk_len) {
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = zr_frame_encode(env, l->job_id, l->sender_id, bulk ? 1 : 0, &buf, &len);
  if (rc < 0) return rc;
  zr_zsock_part parts[3] = {{to->ident, to->ident_len}, {buf, len}, {bulk, bulk_len}};
  rc = zr_zsock_send(s, parts, bulk ? 3 : 2);
  free(buf);
  return rc;
}

void lr_count_bad(zr_learner *l, const char *peer, const char *reason, const char *detail) {
  l->dropped_bad++;
  char key[160];
  snprintf(key, sizeof key, "bad:%.80s:%.40s", peer, reason);
  zr_log_limited(key, 60000, ZR_LOG_WARN, LR_LOG, "dropped a message from %s: %s (%s)", peer, reason, detail);
}

/* ---- actors ------------------------------------------------------------------------------- */

/* Leases up to capacity groups to actor p and sends the grant (an empty one only when
 * send_empty: the answer to a request). What admission did not allow is remembered in p->want
 * and granted without a new request as soon as room frees (lr_serve_waiting_actors), so an
 * actor never idles until its next periodic ask. */
static void grant(zr_learner *l, lr_peer *p, uint32_t capacity, bool send_empty) {
  zr_hub_lease g = {0};
  uint64_t now = zr_clock_mono_ms();
  if (!l->draining && !l->finishing && capacity > 0) {
    int rc = zr_hub_grant(l->hub, p->worker_id, capacity, now, &g);
    if (rc < 0) ZR_ERROR(LR_LOG, "task source failed: %s", zr_errmsg());
  }
  size_t nt = g.n_tasks;
  p->want = capacity > nt && !l->data_done ? capacity - (uint32_t)nt : 0;
  if (nt == 0 && !send_empty) return;
  Zerorl__Task *tasks = calloc(nt ? nt : 1, sizeof *tasks);
  Zerorl__Task **tp = calloc(nt ? nt : 1, sizeof *tp);
  Zerorl__SamplingParams *sp = calloc(nt ? nt : 1, sizeof *sp);
  Zerorl__VerifierSpec *vs = calloc(nt ? nt : 1, sizeof *vs);
  Zerorl__RewardWeight (*w)[2] = calloc(nt ? nt : 1, sizeof *w);
  Zerorl__RewardWeight *(*wp)[2] = calloc(nt ? nt : 1, sizeof *wp);
  uint32_t **ids = calloc(nt ? nt : 1, sizeof *ids);
  if (!tasks || !tp || !sp || !vs || !w || !wp || !ids) {
    ZR_ERROR(LR_LOG, "out of memory building a grant");
    if (g.lease_id) zr_hub_release(l->hub, g.lease_id, NULL, 0, now);
    goto out;
  }
  for (size_t i = 0; i < nt; i++) {
    const zr_hub_grant_task *gt = &g.tasks[i];
    const lr_prompt *pr = lr_prompt_of(l, gt->task_index); /* built when the task was pulled */
    const zr_task *t = zr_taskset_get(l->tasks, gt->task_index);
    zerorl__task__init(&tasks[i]);
    tasks[i].task_id = (char *)gt->task_id;
    tasks[i].epoch = gt->epoch;
    tasks[i].group_id = gt->group_id;
    ids[i] = malloc((size_t)pr->n * sizeof **ids);
    if (!ids[i]) continue;
    for (int k = 0; k < pr->n; k++) ids[i][k] = (uint32_t)pr->ids[k];
    tasks[i].n_prompt_ids = (size_t)pr->n;
    tasks[i].prompt_ids = ids[i];
    tasks[i].samples = gt->samples;
    tasks[i].first_sample_index = gt->first_sample_index;
    zerorl__sampling_params__init(&sp[i]);
    sp[i].temperature = (float)l->cfg->algo.temperature;
    sp[i].top_p = (float)l->cfg->algo.top_p;
    sp[i].top_k = (uint32_t)l->cfg->algo.top_k;
    sp[i].max_new_tokens = (uint32_t)l->cfg->algo.max_new_tokens;
    sp[i].n_stop = (size_t)l->n_stops;
    sp[i].stop = l->stops;
    /* one RNG key per group (the sample index and position complete it) */
    sp[i].seed = zr_checksum64(&gt->group_id, sizeof gt->group_id) ^ l->sample_seed;
    tasks[i].sampling = &sp[i];
    lr_fill_verifier(l, t, &vs[i], w[i], wp[i]);
    tasks[i].verifier = &vs[i];
    tp[i] = &tasks[i];
  }
  Zerorl__WorkGrant wg = ZERORL__WORK_GRANT__INIT;
  wg.lease_id = g.lease_id;
  wg.deadline_ms = g.lease_id ? zr_clock_wall_ms() + (uint64_t)l->cfg->learner.lease_ms : 0;
  wg.lease_ms = (uint32_t)l->cfg->learner.lease_ms;
  wg.policy_version = l->version;
  wg.n_tasks = nt;
  wg.tasks = tp;
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  env.body_case = ZERORL__ENVELOPE__BODY_WORK_GRANT;
  env.work_grant = &wg;
  int rc = send_env(l, l->work, p, &env, NULL, 0);
  if (rc < 0) {
    ZR_WARN(LR_LOG, "grant to %s not sent: %s", p->worker_id, zr_errmsg());
    if (g.lease_id) zr_hub_release(l->hub, g.lease_id, NULL, 0, now);
  } else if (nt) {
    l->grants++;
  }
out:
  for (size_t i = 0; ids && i < nt; i++) free(ids[i]);
  free(ids);
  free(tasks);
  free(tp);
  free(sp);
  free(vs);
  free(w);
  free(wp);
}

void lr_serve_waiting_actors(zr_learner *l) {
  for (lr_peer *p = l->peers; p; p = p->next)
    if (p->role == ZERORL__ROLE__ROLE_ACTOR && p->want > 0) grant(l, p, p->want, false);
}

/* The learner's own checks of a rollout, after the decoder's. NULL = fine, else the reason. */
static const char *check_rollout(zr_learner *l, const Zerorl__Rollout *r, char *detail, size_t cap) {
  long ti = zr_taskset_find(l->tasks, r->task_id);
  if (ti < 0) return snprintf(detail, cap, "task '%.60s'", r->task_id), "unknown task";
  const lr_prompt *pr = lr_prompt_of(l, (size_t)ti);
  if (!pr || (size_t)pr->n != r->n_prompt_ids) return snprintf(detail, cap, "task %.60s", r->task_id), "prompt differs";
  for (int i = 0; i < pr->n; i++)
    if ((uint32_t)pr->ids[i] != r->prompt_ids[i])
      return snprintf(detail, cap, "task %.60s, position %d", r->task_id, i), "prompt differs";
  if (r->n_completion_ids == 0) return snprintf(detail, cap, "task %.60s", r->task_id), "empty completion";
  if (r->n_completion_ids > (size_t)l->cfg->algo.max_new_tokens)
    return snprintf(detail, cap, "%zu tokens > max_new_tokens %lld", r->n_completion_ids,
                    (long long)l->cfg->algo.max_new_tokens),
           "completion too long";
  if (r->n_logprobs != r->n_completion_ids || r->n_token_versions != r->n_completion_ids)
    return snprintf(detail, cap, "%zu tokens, %zu log-probs, %zu versions", r->n_completion_ids, r->n_logprobs,
                    r->n_token_versions),
           "length mismatch";
  for (size_t i = 0; i < r->n_completion_ids; i++) {
    if ((int64_t)r->completion_ids[i] >= l->vocab)
      return snprintf(detail, cap, "token %u at %zu", r->completion_ids[i], i), "token outside the vocabulary";
    if (!isfinite(r->logprobs[i]) || r->logprobs[i] > 0)
      return snprintf(detail, cap, "log-prob at %zu", i), "bad log-prob";
    if (r->token_versions[i] > l->version)
      return snprintf(detail, cap, "version %llu > %llu", (unsigned long long)r->token_versions[i],
                      (unsigned long long)l->version),
             "version from the future";
  }
  if (r->finish_reason == ZERORL__FINISH_REASON__FINISH_ABORTED || r->finish_reason == 0)
    return snprintf(detail, cap, "finish reason %d", r->finish_reason), "aborted rollout";
  return NULL;
}

static void on_rollout(zr_learner *l, lr_peer *p, Zerorl__Envelope *env) {
  Zerorl__Rollout *r = env->rollout;
  char detail[160];
  const char *why = check_rollout(l, r, detail, sizeof detail);
  if (why) {
    lr_count_bad(l, p->worker_id, why, detail);
    /* a rollout of a lease this learner issued: give its group back now rather than at lease
     * expiry (e.g. an actor still on the weights of a learner that was restarted) */
    zr_hub_ref ref = {r->task_id, r->epoch, r->group_id};
    zr_hub_release(l->hub, r->lease_id, &ref, 1, zr_clock_mono_ms());
    return;
  }
  lr_payload *pl = malloc(sizeof *pl);
  if (!pl) return;
  uint64_t vmin = UINT64_MAX;
  for (size_t i = 0; i < r->n_token_versions; i++)
    if (r->token_versions[i] < vmin) vmin = r->token_versions[i];
  pl->r = r;
  zr_hub_result res = zr_hub_rollout(l->hub, r->lease_id, r->task_id, r->epoch, r->group_id, r->sample_index, vmin,
                                     pl, zr_clock_mono_ms());
  if (res == ZR_HUB_ACCEPTED) {
    env->rollout = NULL; /* the hub owns it now */
    env->body_case = ZERORL__ENVELOPE__BODY__NOT_SET;
    p->rollouts++;
    l->rollouts_in++;
    lr_dispatch_scores(l);
  } else {
    free(pl);
    if (res != ZR_HUB_DUPLICATE) {
      snprintf(detail, sizeof detail, "lease %llu task %.60s sample %u", (unsigned long long)r->lease_id, r->task_id,
               r->sample_index);
      /* the hub counted it (dropped_bad); log it here, rate-limited */
      char key[160];
      snprintf(key, sizeof key, "bad:%.80s:%s", p->worker_id, zr_hub_result_name(res));
      zr_log_limited(key, 60000, ZR_LOG_WARN, LR_LOG, "dropped a rollout from %s: %s (%s)", p->worker_id,
                     zr_hub_result_name(res), detail);
    }
  }
}

/* ---- reward workers ----------------------------------------------------------------------- */

void lr_dispatch_scores(zr_learner *l) {
  for (lr_peer *p = l->peers; p;) {
    lr_peer *next = p->next;
    while (p->role == ZERORL__ROLE__ROLE_REWARD && p->credit > 0) {
      zr_hub_score_job job;
      if (zr_hub_take_score(l->hub, p->worker_id, zr_clock_mono_ms(), &job) != 0) return;
      const lr_payload *pl = job.payload;
      const zr_task *t = zr_taskset_get(l->tasks, job.task_index);
      const lr_prompt *pr = lr_prompt_of(l, job.task_index);
      Zerorl__VerifierSpec vs;
      Zerorl__RewardWeight w[2], *wp[2];
      lr_fill_verifier(l, t, &vs, w, wp);
      Zerorl__ScoreRequest sr = ZERORL__SCORE_REQUEST__INIT;
      sr.score_id = job.score_id;
      sr.rollout = pl->r;
      sr.verifier = &vs;
      sr.prompt_text = pr && pr->text ? pr->text : (char *)"";
      sr.deadline_ms = (uint32_t)l->cfg->learner.score_deadline_ms;
      Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
      env.body_case = ZERORL__ENVELOPE__BODY_SCORE_REQUEST;
      env.score_request = &sr;
      int rc = send_env(l, l->work, p, &env, NULL, 0);
      if (rc < 0) {
        ZR_WARN(LR_LOG, "score request to %s not sent: %s", p->worker_id, zr_errmsg());
        peer_remove(l, p); /* its attempts (this one included) go back to waiting */
        break;
      }
      p->credit--;
      p->outstanding++;
      l->scores_out++;
    }
    p = next;
  }
}

static void on_scored(zr_learner *l, lr_peer *p, const Zerorl__ScoredRollout *s) {
  double comps[LR_MAX_COMPONENTS];
  for (int i = 0; i < LR_MAX_COMPONENTS; i++) comps[i] = NAN;
  int correct = -1;
  for (size_t i = 0; i < s->n_components; i++) {
    const Zerorl__RewardComponent *c = s->components[i];
    int k = lr_comp_index(l, c->name);
    if (k >= 0) comps[k] = c->value;
    if (strcmp(c->name, "accuracy") == 0) correct = c->value >= 0.5;
  }
  if (correct < 0) correct = s->status == ZERORL__VERIFIER_STATUS__VERIFIER_OK && s->reward > 0;
  if (p->outstanding > 0) p->outstanding--;
  if (!isfinite(s->reward)) {
    lr_count_bad(l, p->worker_id, "non-finite reward", s->task_id);
    return;
  }
  zr_hub_result res = zr_hub_scored(l->hub, s->score_id, s->reward, correct, comps, l->n_comp, zr_clock_mono_ms());
  if (res == ZR_HUB_ACCEPTED) {
    p->scored++;
    l->scores_in++;
    lr_maybe_train(l);
  } else if (res == ZR_HUB_UNKNOWN) {
    char d[64];
    snprintf(d, sizeof d, "score id %llu", (unsigned long long)s->score_id);
    lr_count_bad(l, p->worker_id, "unknown score id", d);
  }
}

/* ---- the work socket ---------------------------------------------------------------------- */

void lr_on_work(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  (void)s;
  zr_learner *l = user;
  if (n < 2) return;
  const void *ident = zmq_msg_data(&parts[0]);
  size_t ident_len = zmq_msg_size(&parts[0]);
  zr_frame_msg msg;
  int rc = zr_zsock_decode(&msg, parts + 1, n - 1, l->job_id, &l->limits);
  if (rc < 0) {
    lr_peer *known = peer_find(l, ident, ident_len);
    lr_count_bad(l, known ? known->worker_id : "unknown peer", zr_frame_strerror(rc), zr_errmsg());
    return;
  }
  Zerorl__Envelope *env = msg.env;
  int role = ZERORL__ROLE__ROLE_ACTOR;
  if (env->body_case == ZERORL__ENVELOPE__BODY_WORK_REQUEST) role = env->work_request->role;
  else if (env->body_case == ZERORL__ENVELOPE__BODY_SCORED_ROLLOUT) role = ZERORL__ROLE__ROLE_REWARD;
  if (role != ZERORL__ROLE__ROLE_ACTOR && role != ZERORL__ROLE__ROLE_REWARD) {
    lr_count_bad(l, env->sender_id, "bad role", "work request role");
    zr_frame_msg_release(&msg);
    return;
  }
  lr_peer *p = peer_touch(l, ident, ident_len, env->sender_id, role);
  if (!p) {
    zr_frame_msg_release(&msg);
    return;
  }
  switch (env->body_case) {
  case ZERORL__ENVELOPE__BODY_WORK_REQUEST: {
    const Zerorl__WorkRequest *wr = env->work_request;
    p->role = role;
    if (role == ZERORL__ROLE__ROLE_ACTOR) {
      p->policy_version = wr->policy_version;
      grant(l, p, wr->free_capacity > 4096 ? 4096 : wr->free_capacity, true);
    } else {
      /* The worker's free slots when it asked, less requests still on their way to it: at most
       * its slots minus what it has not answered yet. Never more than it asked for. */
      int64_t free_now = wr->free_capacity;
      if (free_now > p->slots) p->slots = free_now;
      int64_t room = p->slots - p->outstanding;
      p->credit = free_now < room ? free_now : room;
      if (p->credit < 0) p->credit = 0;
      lr_dispatch_scores(l);
    }
    break;
  }
  case ZERORL__ENVELOPE__BODY_ROLLOUT: on_rollout(l, p, env); break;
  case ZERORL__ENVELOPE__BODY_LEASE_RELEASE: {
    const Zerorl__LeaseRelease *lrl = env->lease_release;
    zr_hub_ref *refs = calloc(lrl->n_tasks ? lrl->n_tasks : 1, sizeof *refs);
    if (!refs) break;
    for (size_t i = 0; i < lrl->n_tasks; i++)
      refs[i] = (zr_hub_ref){lrl->tasks[i]->task_id, lrl->tasks[i]->epoch, lrl->tasks[i]->group_id};
    /* n_tasks 0 would mean "all": an empty release is simply nothing */
    if (lrl->n_tasks) zr_hub_release(l->hub, lrl->lease_id, refs, lrl->n_tasks, zr_clock_mono_ms());
    free(refs);
    break;
  }
  case ZERORL__ENVELOPE__BODY_SCORED_ROLLOUT: on_scored(l, p, env->scored_rollout); break;
  default: lr_count_bad(l, p->worker_id, "unexpected message type", "on the work socket"); break;
  }
  zr_frame_msg_release(&msg);
}

/* ---- weights ------------------------------------------------------------------------------ */

void lr_on_weights(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  zr_learner *l = user;
  if (n < 2) return;
  lr_peer tmp = {0};
  tmp.ident_len = zmq_msg_size(&parts[0]);
  if (tmp.ident_len > sizeof tmp.ident) return;
  memcpy(tmp.ident, zmq_msg_data(&parts[0]), tmp.ident_len);
  zr_frame_msg msg;
  int rc = zr_zsock_decode(&msg, parts + 1, n - 1, l->job_id, &l->limits);
  if (rc < 0) {
    lr_count_bad(l, "weights peer", zr_frame_strerror(rc), zr_errmsg());
    return;
  }
  if (msg.env->body_case != ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK_REQUEST) {
    lr_count_bad(l, msg.env->sender_id, "unexpected message type", "on the weights socket");
    zr_frame_msg_release(&msg);
    return;
  }
  const Zerorl__WeightChunkRequest *req = msg.env->weight_chunk_request;
  Zerorl__WeightChunk wc = ZERORL__WEIGHT_CHUNK__INIT;
  wc.version = req->version;
  wc.chunk_index = req->chunk_index;
  const void *data = NULL;
  uint32_t len = 0;
  uint64_t off = 0, sum = 0;
  rc = zr_wpub_chunk(l->wpub, req->version, req->chunk_index, &data, &len, &off, &sum);
  if (rc < 0) wc.error = (char *)(rc == -ENOENT ? "version no longer held" : "no such chunk");
  wc.offset = off;
  wc.length = len;
  wc.checksum = sum;
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  env.body_case = ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK;
  env.weight_chunk = &wc;
  if (send_env(l, s, &tmp, &env, rc < 0 ? NULL : data, rc < 0 ? 0 : len) < 0)
    zr_log_limited("chunk-send", 60000, ZR_LOG_WARN, LR_LOG, "weight chunk not sent: %s", zr_errmsg());
  zr_frame_msg_release(&msg);
}

void lr_announce(zr_learner *l) {
  uint64_t v;
  if (!zr_wpub_latest_version(l->wpub, &v)) return;
  uint8_t *buf = NULL;
  size_t len = 0;
  if (zr_wpub_encode_announcement(l->wpub, v, l->ep_chunks, l->job_id, l->sender_id, &buf, &len) < 0) {
    ZR_WARN(LR_LOG, "announcement of version %llu: %s", (unsigned long long)v, zr_errmsg());
    return;
  }
  zr_zsock_part part = {buf, len};
  zr_zsock_send(l->announce, &part, 1);
  free(buf);
}
