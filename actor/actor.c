/* actor.c: the actor's loop side (see actor.h): options, the work socket, leases and tasks,
 * rollouts, the heartbeat, the drain and the lifetime. Weight versions (announcements, chunk
 * fetching, the relay tree) are actor_weights.c; the compute thread is actor_compute.c. */
#include "actor/actor_internal.h"

#include <errno.h>
#include <math.h>
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

#define COMP "actor"
#define TICK_MS 50
#define MAX_STOP 32
#define MAX_STOP_BYTES 1024
#define FLUSH_TIMEOUT_MS 3000
#define START_FETCH_GRACE_MS 30000 /* a first fetch slower than this does not hold up generation */

/* ---- options ------------------------------------------------------------------------------ */

void zr_actor_opts_init(zr_actor_opts *o) {
  memset(o, 0, sizeof *o);
  o->slots = 8;
  o->max_len = 4096;
  o->group_size = 8;
  o->update_inflight = true;
  o->lease_margin_ms = 2000;
  o->ask_interval_ms = 1000;
  o->start_wait_ms = 2500;
  o->drain_timeout_ms = 3000;
  o->max_grant_tasks = 4096;
  o->max_group = 4096;
  o->wsync = zr_wsync_cfg_default();
  o->relay_fanout = 2;
  o->zsock = zr_zsock_opts_default();
  zr_redis_opts_init(&o->redis);
}

int zr_actor_connect_endpoint(const char *bind, const char *host, char *out, size_t cap) {
  if (strncmp(bind, "tcp://", 6) == 0) {
    const char *colon = strrchr(bind + 6, ':');
    if (!colon || !colon[1]) return zr_seterr(-EINVAL, "endpoint '%s' has no port", bind);
    if ((size_t)snprintf(out, cap, "%s%s", host, colon) >= cap) return zr_seterr(-EINVAL, "[net] learner_host: too long");
  } else if ((size_t)snprintf(out, cap, "%s", bind) >= cap) {
    return zr_seterr(-EINVAL, "endpoint '%s' is too long", bind);
  }
  return 0;
}


int zr_actor_opts_from_config(zr_actor_opts *o, const zr_config *c, zr_actor_opts_buf *buf) {
  zr_actor_opts_init(o);
  if (!c->job.id[0])
    return zr_seterr(-EINVAL, "[job] id is not set: an actor joins an existing job (set it in the config file or "
                              "with --set job.id=ID)");
  o->job_id = c->job.id;
  o->slots = (int)c->actor.slots;
  o->max_len = (int)c->actor.max_len;
  o->group_size = (int)c->algo.group_size;
  o->update_inflight = c->actor.update == 1; /* {finish, inflight} */
  o->lease_margin_ms = (uint32_t)c->actor.lease_margin_ms;
  o->ask_interval_ms = (uint32_t)c->actor.ask_interval_ms;
  o->wsync.max_inflight = (int)c->actor.max_chunks_in_flight;
  o->wsync.request_timeout_ms = (uint32_t)c->actor.chunk_timeout_ms;
  o->wsync.deadline_ms = (uint32_t)c->actor.weight_deadline_ms;
  o->relay_listen = c->actor.relay_listen;
  o->relay_advertise = c->actor.relay_advertise;
  o->relay_fanout = (unsigned)c->actor.relay_fanout;
  o->wsync.keep_held = o->relay_listen && o->relay_listen[0];
  o->sim_engine = c->actor.engine == 1; /* {model, sim}; vocab and eos ids: the caller's */
  o->sim.dist = (zr_simdist_kind)c->actor.sim_tokens_dist;
  o->sim.tokens_mean = (double)c->actor.sim_tokens_mean;
  o->sim.tokens_max = (int)c->actor.sim_tokens_max;
  o->sim.tokens_per_s = c->actor.sim_tokens_per_s;
  o->sim.seed = (uint64_t)c->actor.sim_seed;
  int rc;
  if ((rc = zr_actor_connect_endpoint(c->net.learner_tasks, c->net.learner_host, buf->work, sizeof buf->work)) < 0 ||
      (rc = zr_actor_connect_endpoint(c->net.learner_weights, c->net.learner_host, buf->weights,
                                      sizeof buf->weights)) < 0 ||
      (rc = zr_actor_connect_endpoint(c->net.learner_announce, c->net.learner_host, buf->announce,
                                      sizeof buf->announce)) < 0)
    return rc;
  o->work_endpoint = buf->work;
  o->weights_endpoint = buf->weights;
  o->announce_endpoint = buf->announce;
  zr_zsock_opts *z = &o->zsock;
  *z = zr_netcfg_zsock(c);
  if (c->security.curve_secret_key_file[0]) {
    if ((rc = zr_zsock_read_key(c->security.curve_secret_key_file, buf->keys[0])) < 0 ||
        (rc = zr_zsock_read_key(c->security.curve_public_key_file, buf->keys[1])) < 0 ||
        (rc = zr_zsock_read_key(c->security.curve_server_public_key_file, buf->keys[2])) < 0)
      return rc;
    z->curve_secret_key = buf->keys[0];
    z->curve_public_key = buf->keys[1];
    z->curve_server_key = buf->keys[2];
  }
  zr_redis_opts *r = &o->redis;
  zr_netcfg_redis(r, c, "zerorl-actor");
  o->key_prefix = c->redis.prefix;
  o->heartbeat_interval_ms = (uint32_t)c->redis.heartbeat_interval_ms;
  o->heartbeat_ttl_ms = (uint32_t)c->redis.heartbeat_ttl_ms;
  return 0;
}

/* ---- messages out (the state is in actor_internal.h) ------------------------------------------ */

void actor_drop_bad(zr_actor *a, const char *why, const char *sender) {
  a->st.dropped_bad++;
  char key[200];
  snprintf(key, sizeof key, "actor-bad:%.80s:%.60s", sender, why);
  zr_log_limited(key, BAD_LOG_PERIOD_MS, ZR_LOG_WARN, COMP, "dropped bad message from=%s reason=%s: %s", sender, why,
                 zr_errmsg());
}

int actor_send_env(zr_actor *a, zr_zsock *s, const char *ep, Zerorl__Envelope *env) {
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = zr_frame_encode(env, a->job_id, a->worker_id, 0, &buf, &len);
  if (rc == 0) {
    zr_zsock_part p = {buf, len};
    rc = zr_zsock_send(s, &p, 1);
  }
  free(buf);
  if (rc < 0)
    zr_log_limited("actor-send", BAD_LOG_PERIOD_MS, ZR_LOG_WARN, COMP, "send to %s failed: %s", ep, zr_errmsg());
  return rc;
}

static uint64_t held_version(const zr_actor *a) {
  uint64_t v = 0;
  if (!zr_wsync_held_version(a->ws, &v)) v = a->snap.version;
  return v;
}

static int capacity(const zr_actor *a) {
  int g = a->o.group_size > 0 ? a->o.group_size : 1;
  long free_samples = (long)a->o.slots - a->unfinished;
  if (free_samples <= 0) return 0;
  int cap = (int)(free_samples / g);
  /* slots smaller than a group: still take one group when empty (the engine admits it in waves) */
  if (cap == 0 && a->unfinished == 0) cap = 1;
  return cap;
}

void actor_ask(zr_actor *a) {
  if (a->draining || !a->started || !a->work) return;
  int cap = capacity(a);
  if (cap <= 0) return;
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  Zerorl__WorkRequest wr = ZERORL__WORK_REQUEST__INIT;
  wr.role = ZERORL__ROLE__ROLE_ACTOR;
  wr.free_capacity = (uint32_t)cap;
  wr.policy_version = held_version(a);
  wr.host = (char *)zr_hostname();
  env.body_case = ZERORL__ENVELOPE__BODY_WORK_REQUEST;
  env.work_request = &wr;
  if (actor_send_env(a, a->work, a->work_ep, &env) == 0) a->st.asks++;
  a->last_ask_ms = zr_clock_mono_ms();
}

/* ---- leases --------------------------------------------------------------------------------- */

static void lease_free(lease *l) {
  zr_frame_msg_release(&l->msg);
  free(l->tasks);
  free(l);
}

static void lease_unlink_if_done(zr_actor *a, lease *l) {
  if (l->open > 0) return;
  for (lease **pp = &a->leases; *pp; pp = &(*pp)->next)
    if (*pp == l) {
      *pp = l->next;
      break;
    }
  lease_free(l);
}

static void close_task(zr_actor *a, atask *t) {
  if (t->closed) return;
  t->closed = true;
  a->unfinished -= (long)(t->want - t->done);
  t->l->open--;
}

/* Cancels the open tasks of l in the engine and hands them back with one LeaseRelease. */
static void release_lease(zr_actor *a, lease *l, const char *why) {
  size_t n = 0;
  Zerorl__TaskRef *refs = calloc(l->n_tasks ? l->n_tasks : 1, sizeof *refs);
  Zerorl__TaskRef **pr = calloc(l->n_tasks ? l->n_tasks : 1, sizeof *pr);
  for (size_t i = 0; i < l->n_tasks; i++) {
    atask *t = &l->tasks[i];
    if (t->closed) continue;
    if (t->req_id) zr_acompute_cancel(a->cp, t->req_id);
    if (refs && pr && t->t) {
      zerorl__task_ref__init(&refs[n]);
      refs[n].task_id = t->t->task_id;
      refs[n].epoch = t->t->epoch;
      refs[n].group_id = t->t->group_id;
      pr[n] = &refs[n];
      n++;
    }
    close_task(a, t);
  }
  if (n > 0) {
    Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
    Zerorl__LeaseRelease lr = ZERORL__LEASE_RELEASE__INIT;
    lr.lease_id = l->lease_id;
    lr.n_tasks = n;
    lr.tasks = pr;
    env.body_case = ZERORL__ENVELOPE__BODY_LEASE_RELEASE;
    env.lease_release = &lr;
    if (actor_send_env(a, a->work, a->work_ep, &env) == 0) {
      a->st.releases++;
      a->st.released_tasks += n;
    }
    ZR_INFO(COMP, "handed back %zu task(s) of lease %llu (%s)", n, (unsigned long long)l->lease_id, why);
  }
  free(refs);
  free(pr);
  lease_unlink_if_done(a, l);
}

/* Hands one task back on its own (a task the engine refused or could not take). */
static void release_one(zr_actor *a, atask *t) {
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  Zerorl__LeaseRelease lr = ZERORL__LEASE_RELEASE__INIT;
  Zerorl__TaskRef ref = ZERORL__TASK_REF__INIT, *pr = &ref;
  ref.task_id = t->t->task_id;
  ref.epoch = t->t->epoch;
  ref.group_id = t->t->group_id;
  lr.lease_id = t->l->lease_id;
  lr.n_tasks = 1;
  lr.tasks = &pr;
  env.body_case = ZERORL__ENVELOPE__BODY_LEASE_RELEASE;
  env.lease_release = &lr;
  if (actor_send_env(a, a->work, a->work_ep, &env) == 0) a->st.releases++, a->st.released_tasks++;
  close_task(a, t);
}

static atask *find_task(zr_actor *a, uint64_t req_id) {
  for (lease *l = a->leases; l; l = l->next)
    for (size_t i = 0; i < l->n_tasks; i++)
      if (l->tasks[i].req_id == req_id) return &l->tasks[i];
  return NULL;
}

/* A task's checks beyond what the frame decoder enforces; a message in *why. */
static int check_task(const zr_actor *a, const Zerorl__Task *t, char *why, size_t cap) {
  if (!t) return snprintf(why, cap, "empty task"), -1;
  if (!t->task_id || !t->task_id[0]) return snprintf(why, cap, "task without an id"), -1;
  if (t->samples < 1 || t->samples > a->o.max_group)
    return snprintf(why, cap, "task %.64s: samples %u not in 1..%u", t->task_id, t->samples, a->o.max_group), -1;
  if (t->n_prompt_ids < 1 || t->n_prompt_ids >= (size_t)a->o.max_len)
    return snprintf(why, cap, "task %.64s: prompt of %zu tokens (slots hold %d)", t->task_id, t->n_prompt_ids,
                    a->o.max_len),
           -1;
  for (size_t i = 0; i < t->n_prompt_ids; i++)
    if (t->prompt_ids[i] >= (uint32_t)a->vocab)
      return snprintf(why, cap, "task %.64s: prompt token %u outside the vocabulary (%d)", t->task_id,
                      t->prompt_ids[i], a->vocab),
             -1;
  if ((uint64_t)t->first_sample_index + t->samples > UINT32_MAX)
    return snprintf(why, cap, "task %.64s: sample indices overflow", t->task_id), -1;
  const Zerorl__SamplingParams *s = t->sampling;
  if (s) {
    if (!isfinite(s->temperature) || s->temperature < 0 || s->temperature > 1000)
      return snprintf(why, cap, "task %.64s: temperature %g", t->task_id, (double)s->temperature), -1;
    if (!isfinite(s->top_p) || s->top_p < 0 || s->top_p > 1)
      return snprintf(why, cap, "task %.64s: top_p %g", t->task_id, (double)s->top_p), -1;
    if (!isfinite(s->min_p) || s->min_p < 0 || s->min_p > 1)
      return snprintf(why, cap, "task %.64s: min_p %g", t->task_id, (double)s->min_p), -1;
    if (s->max_new_tokens > (1u << 24))
      return snprintf(why, cap, "task %.64s: max_new_tokens %u", t->task_id, s->max_new_tokens), -1;
    if (s->n_stop > MAX_STOP) return snprintf(why, cap, "task %.64s: %zu stop strings", t->task_id, s->n_stop), -1;
    for (size_t i = 0; i < s->n_stop; i++)
      if (!s->stop[i] || strlen(s->stop[i]) > MAX_STOP_BYTES)
        return snprintf(why, cap, "task %.64s: stop string %zu too long", t->task_id, i), -1;
  }
  return 0;
}

static int submit_task(zr_actor *a, atask *at) {
  const Zerorl__Task *t = at->t;
  int32_t *prompt = malloc(sizeof(int32_t) * t->n_prompt_ids);
  if (!prompt) return zr_seterr(-ENOMEM, "out of memory");
  for (size_t i = 0; i < t->n_prompt_ids; i++) prompt[i] = (int32_t)t->prompt_ids[i];
  zr_engine_request r;
  memset(&r, 0, sizeof r);
  r.req_id = at->req_id;
  r.prompt = prompt;
  r.prompt_len = (int)t->n_prompt_ids;
  r.n_samples = (int)t->samples;
  r.first_sample_index = t->first_sample_index;
  const Zerorl__SamplingParams *s = t->sampling;
  r.sampling.temperature = s ? s->temperature : 1.0f;
  r.sampling.top_k = s && s->top_k <= (uint32_t)a->vocab ? (int)s->top_k : 0;
  r.sampling.top_p = s && s->top_p > 0 ? s->top_p : 1.0f; /* proto3 0 = unset */
  r.sampling.min_p = s ? s->min_p : 0.0f;
  uint32_t room = (uint32_t)(a->o.max_len - (int)t->n_prompt_ids);
  r.max_new_tokens = (int)(s && s->max_new_tokens ? (s->max_new_tokens < room ? s->max_new_tokens : room) : room);
  r.seed = s ? s->seed : 0;
  r.stop = s ? (const char *const *)s->stop : NULL;
  r.n_stop = s ? (int)s->n_stop : 0;
  int rc = zr_acompute_submit(a->cp, &r);
  free(prompt);
  return rc;
}

/* Takes msg over; returns the new lease, or NULL when nothing is left of it. */
static lease *on_grant(zr_actor *a, zr_frame_msg *msg) {
  const Zerorl__WorkGrant *g = msg->env->work_grant;
  uint64_t now = zr_clock_mono_ms();
  a->last_recv_ms = now;
  if (g->n_tasks == 0 && a->unfinished == 0 && !a->starved_since) a->starved_since = now;
  if (g->n_tasks > 0 && a->starved_since) {
    a->starved_ms += (double)(now - a->starved_since);
    a->starved_since = 0;
  }
  if (g->n_tasks == 0) { /* "nothing now" */
    zr_frame_msg_release(msg);
    return NULL;
  }
  char sender[80];
  snprintf(sender, sizeof sender, "%.64s", msg->env->sender_id ? msg->env->sender_id : "?");
  lease *l = calloc(1, sizeof *l);
  atask *tasks = l ? calloc(g->n_tasks, sizeof *tasks) : NULL;
  if (!l || !tasks) {
    free(l);
    ZR_ERROR(COMP, "out of memory for a grant of %zu tasks; dropped", g->n_tasks);
    zr_frame_msg_release(msg);
    return NULL;
  }
  l->msg = *msg;
  memset(msg, 0, sizeof *msg);
  l->lease_id = g->lease_id;
  l->tasks = tasks;
  l->n_tasks = g->n_tasks;
  if (g->lease_ms > 0) {
    l->deadline_mono_ms = now + g->lease_ms;
  } else {
    uint64_t wall = zr_clock_wall_ms();
    l->deadline_mono_ms = g->deadline_ms > wall ? now + (g->deadline_ms - wall) : now;
  }
  l->next = a->leases;
  a->leases = l;
  for (size_t i = 0; i < g->n_tasks; i++) {
    tasks[i].l = l;
    tasks[i].t = g->tasks[i];
    tasks[i].want = g->tasks[i] ? g->tasks[i]->samples : 0;
    l->open++;
    a->unfinished += tasks[i].want;
  }
  /* absurd sizes: hand the whole grant back at once rather than wait for it to expire */
  char why[200] = "";
  bool bad = g->n_tasks > a->o.max_grant_tasks;
  if (bad) snprintf(why, sizeof why, "%zu tasks (at most %u)", g->n_tasks, a->o.max_grant_tasks);
  for (size_t i = 0; !bad && i < g->n_tasks; i++) bad = check_task(a, g->tasks[i], why, sizeof why) < 0;
  if (bad) {
    zr_seterr(-EINVAL, "grant of lease %llu: %s", (unsigned long long)g->lease_id, why);
    actor_drop_bad(a, "bad_grant", sender);
    release_lease(a, l, "refused grant");
    return NULL;
  }
  a->st.grants++;
  for (size_t i = 0; i < l->n_tasks; i++) {
    atask *t = &l->tasks[i];
    t->req_id = ++a->next_req_id;
    if (submit_task(a, t) < 0) {
      ZR_ERROR(COMP, "task %s of lease %llu not started: %s", t->t->task_id, (unsigned long long)l->lease_id,
               zr_errmsg());
      t->req_id = 0;
      continue; /* handed back by the release below */
    }
    a->st.tasks++;
  }
  bool any_failed = false;
  for (size_t i = 0; i < l->n_tasks; i++) any_failed |= l->tasks[i].req_id == 0;
  uint64_t left = l->deadline_mono_ms > now ? l->deadline_mono_ms - now : 0;
  ZR_DEBUG(COMP, "lease %llu: %zu tasks, %llu ms left", (unsigned long long)l->lease_id, l->n_tasks,
           (unsigned long long)left);
  if (any_failed) {
    for (size_t i = 0; i < l->n_tasks; i++)
      if (l->tasks[i].req_id == 0 && !l->tasks[i].closed) release_one(a, &l->tasks[i]);
    if (l->open == 0) {
      lease_unlink_if_done(a, l);
      return NULL;
    }
  }
  return l;
}

static void check_leases(zr_actor *a, uint64_t now) {
  for (lease *l = a->leases, *nx; l; l = nx) {
    nx = l->next;
    if (now + a->o.lease_margin_ms >= l->deadline_mono_ms) release_lease(a, l, "lease about to expire");
  }
}

static void release_all(zr_actor *a, const char *why) {
  while (a->leases) release_lease(a, a->leases, why);
}

/* ---- rollouts ------------------------------------------------------------------------------ */

static Zerorl__FinishReason finish_reason(zr_engine_finish f) {
  switch (f) {
  case ZR_ENGINE_FINISH_EOS: return ZERORL__FINISH_REASON__FINISH_EOS;
  case ZR_ENGINE_FINISH_STOP: return ZERORL__FINISH_REASON__FINISH_STOP;
  default: return ZERORL__FINISH_REASON__FINISH_LENGTH;
  }
}

static uint32_t ms32(double ms) { return ms <= 0 ? 0 : ms >= 4e9 ? UINT32_MAX : (uint32_t)(ms + 0.5); }

static void send_rollout(zr_actor *a, atask *t, const zr_acompute_out *o) {
  const Zerorl__Task *task = t->t;
  size_t n = (size_t)o->n_tokens;
  uint32_t *ids = malloc(sizeof(uint32_t) * (n ? n : 1));
  if (!ids) {
    ZR_ERROR(COMP, "out of memory for a rollout of task %s; dropped", task->task_id);
    return;
  }
  for (size_t i = 0; i < n; i++) ids[i] = (uint32_t)o->tokens[i];
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  Zerorl__Rollout r = ZERORL__ROLLOUT__INIT;
  r.lease_id = t->l->lease_id;
  r.task_id = task->task_id;
  r.epoch = task->epoch;
  r.group_id = task->group_id;
  r.sample_index = o->sample_index;
  r.n_prompt_ids = task->n_prompt_ids;
  r.prompt_ids = task->prompt_ids;
  r.n_completion_ids = n;
  r.completion_ids = ids;
  r.n_logprobs = n;
  r.logprobs = o->logprobs;
  r.n_token_versions = n;
  r.token_versions = o->versions;
  r.finish_reason = finish_reason(o->finish);
  r.completion_text = o->text;
  r.queue_ms = ms32(o->queue_ms);
  r.generate_ms = ms32(o->generate_ms);
  env.body_case = ZERORL__ENVELOPE__BODY_ROLLOUT;
  env.rollout = &r;
  if (actor_send_env(a, a->work, a->work_ep, &env) == 0) a->st.rollouts++;
  free(ids);
}

/* ---- work socket ------------------------------------------------------------------------------ */

static void on_work(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  (void)s;
  zr_actor *a = user;
  zr_frame_limits lim = zr_frame_limits_default();
  zr_frame_msg msg;
  int rc = zr_zsock_decode(&msg, parts, n, a->job_id, &lim);
  if (rc < 0) return actor_drop_bad(a, zr_frame_strerror(rc), a->work_ep);
  if (msg.env->body_case != ZERORL__ENVELOPE__BODY_WORK_GRANT || !msg.env->work_grant) {
    char sender[80];
    snprintf(sender, sizeof sender, "%.64s", msg.env->sender_id ? msg.env->sender_id : "?");
    zr_seterr(-EINVAL, "type %d is not a work grant", (int)msg.env->type);
    zr_frame_msg_release(&msg);
    return actor_drop_bad(a, "bad_type", sender);
  }
  lease *l = on_grant(a, &msg);
  if (l && a->draining) release_lease(a, l, "draining"); /* asked before the drain began */
}

/* ---- heartbeat, state, drain ----------------------------------------------------------------- */

static const char *compute_state(const zr_actor *a) {
  if (a->draining) return "draining";
  uint64_t v;
  if (!a->started) return zr_wsync_fetching(a->ws, &v) ? "fetching" : "starting";
  if (a->unfinished > 0 || a->snap.active > 0) return "generating";
  if (zr_wsync_fetching(a->ws, &v)) return "fetching";
  return "idle";
}

static void update_heartbeat(zr_actor *a, uint64_t now) {
  const char *st = compute_state(a);
  bool changed = st != a->state;
  a->state = st;
  if (now >= a->tp_ms + 1000) {
    uint64_t tok = a->snap.tokens_generated;
    a->tokens_per_s = (double)(tok - a->tp_tokens) * 1000.0 / (double)(now - a->tp_ms);
    a->tp_tokens = tok;
    a->tp_ms = now;
  }
  if (!a->hb) return;
  zr_heartbeat_set(a->hb, ZR_WORKER_STATE, st);
  zr_heartbeat_setf(a->hb, ZR_WORKER_POLICY_VERSION, "%llu", (unsigned long long)a->snap.version);
  zr_heartbeat_setf(a->hb, ZR_WORKER_THROUGHPUT, "%.1f", a->tokens_per_s);
  zr_heartbeat_setf(a->hb, "tokens_per_s", "%.1f", a->tokens_per_s);
  zr_heartbeat_setf(a->hb, "slots", "%d", a->o.slots);
  zr_heartbeat_set(a->hb, "engine", a->o.sim_engine ? "sim" : "model");
  zr_heartbeat_setf(a->hb, "active", "%d", a->snap.active);
  double occ = a->snap.decode_steps ? (double)a->snap.occupancy_sum / (double)a->snap.decode_steps : 0.0;
  zr_heartbeat_setf(a->hb, "batch_occupancy", "%.3f", a->o.slots > 0 ? occ / a->o.slots : 0.0);
  zr_heartbeat_setf(a->hb, "queue_wait_ms", "%.0f", a->queue_ms_ema);
  double total = a->snap.busy_ms + a->snap.idle_ms + a->snap.apply_ms;
  double net = a->snap.idle_ms - a->starved_ms > 0 ? a->snap.idle_ms - a->starved_ms : 0;
  zr_heartbeat_setf(a->hb, "wait_share", "%.4f", total > 0 ? (net + a->snap.apply_ms) / total : 0.0);
  zr_heartbeat_setf(a->hb, "learner_wait_share", "%.4f", total > 0 ? a->starved_ms / total : 0.0);
  zr_heartbeat_setf(a->hb, "rollouts_sent", "%llu", (unsigned long long)a->st.rollouts);
  zr_heartbeat_setf(a->hb, "tasks_released", "%llu", (unsigned long long)a->st.released_tasks);
  zr_heartbeat_setf(a->hb, "dropped_bad", "%llu", (unsigned long long)a->st.dropped_bad);
  zr_heartbeat_setf(a->hb, "weight_chunks_from_learner", "%llu", (unsigned long long)a->st.chunks_from_learner);
  zr_heartbeat_setf(a->hb, "weight_chunks_from_relay", "%llu", (unsigned long long)a->st.chunks_from_relay);
  actor_relay_heartbeat(a);
  if (changed) zr_heartbeat_beat(a->hb);
}

static void hb_stopped(int ok, void *user) {
  zr_actor *a = user;
  if (!ok) ZR_WARN(COMP, "could not delete the heartbeat key (Redis unreachable); it will expire");
  zr_actor_done_cb cb = a->done_cb;
  a->done_cb = NULL;
  if (cb) cb(a->done_user);
}

static size_t pending_sends(const zr_actor *a) {
  size_t n = 0;
  if (a->work) n += zr_zsock_get_stats(a->work).pending;
  if (a->weights) n += zr_zsock_get_stats(a->weights).pending;
  return n;
}

static void check_drained(zr_actor *a) {
  if (!a->draining || a->drained) return;
  uint64_t now = zr_clock_mono_ms();
  if (!a->flushing) {
    bool quiet = !a->snap.admitting && a->snap.active == 0 && a->snap.pending_cmds == 0;
    if (a->leases && !quiet && now < a->drain_deadline_ms) return;
    if (a->leases) release_all(a, now >= a->drain_deadline_ms ? "drain deadline" : "draining");
    a->flushing = true;
    a->flush_deadline_ms = now + FLUSH_TIMEOUT_MS;
  }
  if (pending_sends(a) > 0 && now < a->flush_deadline_ms) return;
  a->drained = true;
  ZR_INFO(COMP, "drained: rollouts=%llu released_tasks=%llu dropped_bad=%llu weight_chunks_from_learner=%llu "
          "weight_chunks_from_relay=%llu", (unsigned long long)a->st.rollouts,
          (unsigned long long)a->st.released_tasks, (unsigned long long)a->st.dropped_bad,
          (unsigned long long)a->st.chunks_from_learner, (unsigned long long)a->st.chunks_from_relay);
  {
    double total = a->snap.busy_ms + a->snap.idle_ms + a->snap.apply_ms, starved = a->starved_ms;
    double net = a->snap.idle_ms > starved ? a->snap.idle_ms - starved : 0;
    if (total <= 0) total = 1;
    ZR_INFO(COMP,
            "compute time: generating %.1f s, waiting on the network %.1f s, applying weights %.2f s, no work "
            "from the learner %.1f s (network+weights wait share %.1f%%, learner-bound %.1f%%)",
            a->snap.busy_ms / 1000, net / 1000, a->snap.apply_ms / 1000, starved / 1000,
            100 * (net + a->snap.apply_ms) / total, 100 * starved / total);
  }
  actor_relay_leave(a);
  if (a->hb) zr_heartbeat_stop(a->hb, ZR_HEARTBEAT_DELETE, hb_stopped, a);
  else hb_stopped(1, a);
}

static void on_outputs(uv_async_t *h) {
  zr_actor *a = h->data;
  zr_acompute_out *list = zr_acompute_take(a->cp, &a->snap);
  bool freed = false;
  for (zr_acompute_out *o = list; o; o = o->next) {
    atask *t = find_task(a, o->req_id);
    if (!t || t->closed) continue; /* handed back meanwhile */
    lease *l = t->l;
    if (o->error < 0) {
      t->req_id = 0; /* the engine refused it: hand the task back */
      release_one(a, t);
    } else {
      send_rollout(a, t, o);
      a->queue_ms_ema = a->st.rollouts <= 1 ? o->queue_ms : 0.9 * a->queue_ms_ema + 0.1 * o->queue_ms;
      t->done++;
      a->unfinished--;
      if (t->done >= t->want) {
        t->closed = true;
        l->open--;
        freed = true;
      }
    }
    lease_unlink_if_done(a, l);
  }
  zr_acompute_out_free(list);
  a->st.policy_version = a->snap.version;
  a->st.versions_applied = a->snap.applied;
  a->st.tokens = a->snap.tokens_generated;
  if (freed) actor_ask(a);
  check_drained(a);
}

static void on_tick(uv_timer_t *t) {
  zr_actor *a = t->data;
  uint64_t now = zr_clock_mono_ms();
  actor_relay_sync(a, now);
  actor_pump_weights(a, now);
  actor_take_complete(a);
  if (!a->started && !a->draining) {
    uint64_t v;
    bool fetching = zr_wsync_fetching(a->ws, &v);
    if (now >= a->t0_ms + a->o.start_wait_ms + (fetching ? START_FETCH_GRACE_MS : 0)) {
      if (fetching) {
        ZR_WARN(COMP, "weight version %llu still not fetched: generating with the weights of [model] path as "
                      "version 0 meanwhile", (unsigned long long)v);
      } else {
        if (!zr_wsync_held_version(a->ws, &v)) zr_wsync_set_held(a->ws, 0);
        ZR_INFO(COMP, "no weight announcement within %u ms: generating with the weights of [model] path as "
                      "version 0", a->o.start_wait_ms);
      }
      a->started = true;
      actor_ask(a);
    }
  }
  check_leases(a, now);
  if (a->started && !a->draining && now >= a->last_ask_ms + a->o.ask_interval_ms &&
      now >= a->last_recv_ms + a->o.ask_interval_ms)
    actor_ask(a);
  update_heartbeat(a, now);
  check_drained(a);
}

/* ---- lifetime ----------------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h) {
  zr_actor *a = h->data;
  if (--a->open_handles == 0) {
    free(a->job_id);
    free(a->worker_id);
    free(a->work_ep);
    free(a->weights_ep);
    free(a->announce_ep);
    free(a);
  }
}

static zr_zsock *open_sock(zr_actor *a, void *ctx, int type, zr_zsock_recv_cb cb, const char *ep) {
  zr_zsock_opts zo = a->o.zsock;
  zo.routing_id = NULL;
  if (type == ZMQ_SUB) zo.curve_server = false;
  zr_zsock *s = zr_zsock_new(a->loop, ctx, type, &zo, cb, a);
  if (!s) return NULL;
  if (type == ZMQ_SUB && zmq_setsockopt(zr_zsock_raw(s), ZMQ_SUBSCRIBE, "", 0) != 0) {
    zr_seterr(-errno, "SUB subscribe: %s", zmq_strerror(errno));
    zr_zsock_free(&s);
    return NULL;
  }
  if (zr_zsock_connect(s, ep) < 0) {
    zr_zsock_free(&s);
    return NULL;
  }
  return s;
}

zr_actor *zr_actor_new(uv_loop_t *loop, void *zmq_ctx, const zr_actor_opts *o, zr_tf *m, const zr_tok *tok) {
  if (!o->job_id || !*o->job_id || !o->worker_id || !o->work_endpoint || !o->weights_endpoint ||
      !o->announce_endpoint || o->slots < 1 || o->max_len < 2 || (!m && !o->sim_engine)) {
    zr_seterr(-EINVAL, "actor: job id, worker id, endpoints, a model, slots >= 1 and max_len >= 2 are required");
    return NULL;
  }
  if (zr_key_check_component("job", o->job_id) < 0 || zr_key_check_component("worker id", o->worker_id) < 0)
    return NULL;
  zr_actor *a = calloc(1, sizeof *a);
  if (!a) {
    zr_seterr(-ENOMEM, "out of memory");
    return NULL;
  }
  a->loop = loop;
  a->o = *o;
  a->job_id = strdup(o->job_id);
  a->worker_id = strdup(o->worker_id);
  a->work_ep = strdup(o->work_endpoint);
  a->weights_ep = strdup(o->weights_endpoint);
  a->announce_ep = strdup(o->announce_endpoint);
  a->state = "starting";
  a->snap.admitting = true;
  a->vocab = m ? zr_tf_config(m)->vocab_size : o->sim.vocab;
  if (tok && zr_tok_vocab_size(tok) > 0 && zr_tok_vocab_size(tok) < a->vocab) a->vocab = zr_tok_vocab_size(tok);
  if (!a->job_id || !a->worker_id || !a->work_ep || !a->weights_ep || !a->announce_ep) {
    zr_seterr(-ENOMEM, "out of memory");
    goto fail_early;
  }
  a->o.job_id = a->job_id;
  a->o.worker_id = a->worker_id;
  a->o.work_endpoint = a->work_ep;
  a->o.weights_endpoint = a->weights_ep;
  a->o.announce_endpoint = a->announce_ep;
  if (o->relay_listen && o->relay_listen[0]) a->o.wsync.keep_held = true; /* a relay re-serves what it holds */
  if (zr_wsync_new(&a->ws, &a->o.wsync) < 0) goto fail_early;
  if (!(a->work = open_sock(a, zmq_ctx, ZMQ_DEALER, on_work, a->work_ep))) goto fail_early;
  if (!(a->weights = open_sock(a, zmq_ctx, ZMQ_DEALER, actor_on_chunk, a->weights_ep))) goto fail_early;
  if (o->relay_listen && o->relay_listen[0] && !o->sim_engine && actor_relay_start(a, zmq_ctx) < 0) goto fail_early;
  if (!(a->announce = open_sock(a, zmq_ctx, ZMQ_SUB, actor_on_announce, a->announce_ep))) goto fail_early;

  uv_async_init(loop, &a->async, on_outputs);
  a->async.data = a;
  uv_timer_init(loop, &a->tick);
  a->tick.data = a;
  a->open_handles = 2;

  zr_engine_cfg ec;
  memset(&ec, 0, sizeof ec);
  ec.n_slots = o->slots;
  ec.max_len = o->max_len;
  ec.n_eos = -1;
  ec.initial_version = 0;
  zr_simeng_cfg sc = o->sim;
  sc.n_slots = o->slots;
  sc.vocab = a->vocab;
  sc.seed = o->sim.seed ^ zr_simdist_hash(a->worker_id);
  if ((o->sim_engine ? zr_acompute_new_sim(&a->cp, &sc, o->update_inflight, &a->async)
                     : zr_acompute_new(&a->cp, m, tok, &ec, o->update_inflight, &a->async)) < 0) {
    zr_actor_free(&a);
    return NULL;
  }
  if (!(a->redis = zr_redis_new(loop, &a->o.redis, NULL, NULL))) {
    zr_actor_free(&a);
    return NULL;
  }
  zr_heartbeat_opts ho;
  zr_heartbeat_opts_init(&ho);
  ho.prefix = o->key_prefix;
  ho.job = a->job_id;
  ho.role = ZR_ROLE_NAME_ACTOR;
  ho.id = a->worker_id;
  if (o->heartbeat_interval_ms) ho.interval_ms = o->heartbeat_interval_ms;
  if (o->heartbeat_ttl_ms) ho.ttl_ms = o->heartbeat_ttl_ms;
  if (!(a->hb = zr_heartbeat_new(a->redis, &ho))) {
    zr_actor_free(&a);
    return NULL;
  }
  uint64_t now = zr_clock_mono_ms();
  a->t0_ms = a->tp_ms = now;
  update_heartbeat(a, now);
  zr_heartbeat_start(a->hb);
  uv_timer_start(&a->tick, on_tick, TICK_MS, TICK_MS);
  ZR_INFO(COMP, "actor up: job=%s id=%s work=%s weights=%s announce=%s slots=%d max_len=%d update=%s heartbeat=%s engine=%s",
          a->job_id, a->worker_id, a->work_ep, a->weights_ep, a->announce_ep, o->slots, o->max_len,
          o->update_inflight ? "inflight" : "finish", zr_heartbeat_key(a->hb), o->sim_engine ? "sim" : "model");
  return a;

fail_early:
  zr_relay_free(&a->relay);
  zr_zsock_free(&a->work);
  zr_zsock_free(&a->weights);
  zr_zsock_free(&a->announce);
  zr_wsync_free(&a->ws);
  free(a->job_id);
  free(a->worker_id);
  free(a->work_ep);
  free(a->weights_ep);
  free(a->announce_ep);
  free(a);
  return NULL;
}

void zr_actor_drain(zr_actor *a, zr_actor_done_cb done, void *user) {
  if (a->draining) return;
  a->draining = true;
  a->drain_deadline_ms = zr_clock_mono_ms() + a->o.drain_timeout_ms;
  a->done_cb = done;
  a->done_user = user;
  a->snap.pending_cmds++; /* the pause below is not seen yet */
  zr_acompute_set_admit(a->cp, false);
  ZR_INFO(COMP, "draining: %ld samples unfinished, %d running; up to %u ms", a->unfinished, a->snap.active,
          a->o.drain_timeout_ms);
  update_heartbeat(a, zr_clock_mono_ms());
  check_drained(a);
}

zr_actor_stats zr_actor_get_stats(const zr_actor *a) {
  zr_actor_stats s = a->st;
  s.active = a->snap.active;
  int n = 0;
  for (lease *l = a->leases; l; l = l->next) n += (int)l->open;
  s.live_tasks = n;
  s.state = a->state;
  return s;
}

void zr_actor_free(zr_actor **pa) {
  zr_actor *a = pa ? *pa : NULL;
  if (!a || a->freeing) return;
  *pa = NULL;
  a->freeing = true;
  zr_acompute_free(&a->cp); /* joins the thread */
  while (a->leases) {
    lease *l = a->leases;
    a->leases = l->next;
    lease_free(l);
  }
  zr_heartbeat_free(&a->hb);
  zr_redis_free(&a->redis);
  zr_relay_free(&a->relay);
  zr_zsock_free(&a->work);
  zr_zsock_free(&a->weights);
  zr_zsock_free(&a->announce);
  zr_wsync_free(&a->ws);
  uv_close((uv_handle_t *)&a->async, on_handle_closed);
  uv_close((uv_handle_t *)&a->tick, on_handle_closed);
}
