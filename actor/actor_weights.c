/* actor_weights.c: the actor's weight versions, on the loop thread (see actor.h, actor/wsync.h):
 * WeightVersion announcements (fetched; with the simulated engine only stamped), chunk requests
 * to the learner or, with [actor] relay_listen, first to the parent relay, incoming chunks, and
 * a complete version handed to the compute thread. Also the relay tree's glue (actor/relay.h):
 * serving held versions, this relay's entry in the Redis set PREFIX:job:JOB:relays (refreshed,
 * parent re-picked, removed on drain) and the relay heartbeat fields. */
#include "actor/actor_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

#define COMP "actor"

/* ---- weights -------------------------------------------------------------------------------- */

void actor_pump_weights(zr_actor *a, uint64_t now) {
  zr_wsync_tick(a->ws, now);
  if (a->relay) { /* first tries to the parent relay, refetches to the learner */
    zr_relay_pump(a->relay, a->weights, now);
    return;
  }
  uint32_t idx[64];
  int n;
  while ((n = zr_wsync_requests(a->ws, now, idx, 64)) > 0) {
    uint64_t v = 0;
    zr_wsync_fetching(a->ws, &v);
    for (int i = 0; i < n; i++) {
      Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
      Zerorl__WeightChunkRequest rq = ZERORL__WEIGHT_CHUNK_REQUEST__INIT;
      rq.version = v;
      rq.chunk_index = idx[i];
      env.body_case = ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK_REQUEST;
      env.weight_chunk_request = &rq;
      actor_send_env(a, a->weights, a->weights_ep, &env);
    }
    if (n < 64) break;
  }
}

void actor_take_complete(zr_actor *a) {
  if (!zr_wsync_complete(a->ws)) return;
  zr_wready *r = NULL;
  if (zr_wsync_take(a->ws, &r) < 0 || !r) return;
  zr_wsync_stats ws = zr_wsync_get_stats(a->ws);
  ZR_INFO(COMP, "weight version %llu fetched in %llu ms; applying (%s)", (unsigned long long)zr_wready_version(r),
          (unsigned long long)ws.last_fetch_ms, a->o.update_inflight ? "inflight" : "after running sequences finish");
  zr_acompute_apply(a->cp, r);
  if (!a->started) {
    a->started = true;
    actor_ask(a);
  }
}

/* engine = sim: a WeightVersion needs no fetch; the first one starts the actor. */
static void sim_announce(zr_actor *a, uint64_t v) {
  uint64_t held = 0;
  bool have = zr_wsync_held_version(a->ws, &held);
  if (have && v <= held) return;
  zr_wsync_set_held(a->ws, v);
  zr_acompute_set_version(a->cp, v);
  ZR_INFO(COMP, "weight version %llu announced: stamping it (simulated engine, nothing fetched)", (unsigned long long)v);
  if (!a->started && !a->draining) {
    a->started = true;
    actor_ask(a);
  }
}

void actor_on_announce(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  (void)s;
  zr_actor *a = user;
  zr_frame_limits lim = zr_frame_limits_default();
  zr_frame_msg msg;
  int rc = zr_zsock_decode(&msg, parts, n, a->job_id, &lim);
  if (rc < 0) return actor_drop_bad(a, zr_frame_strerror(rc), a->announce_ep);
  char sender[80];
  snprintf(sender, sizeof sender, "%.64s", msg.env->sender_id ? msg.env->sender_id : "?");
  if (msg.env->body_case != ZERORL__ENVELOPE__BODY_WEIGHT_VERSION || !msg.env->weight_version) {
    zr_seterr(-EINVAL, "type %d on the announce socket", (int)msg.env->type);
    zr_frame_msg_release(&msg);
    return actor_drop_bad(a, "bad_type", sender);
  }
  uint64_t now = zr_clock_mono_ms();
  if (a->o.sim_engine) { /* nothing to fetch: stamp the announced version from now on */
    sim_announce(a, msg.env->weight_version->version);
    zr_frame_msg_release(&msg);
    return;
  }
  rc = zr_wsync_offer(a->ws, msg.env->weight_version, now);
  if (rc < 0) {
    actor_drop_bad(a, "bad_announcement", sender);
  } else if (rc == 1) {
    ZR_INFO(COMP, "fetching weight version %llu (%llu bytes) from %s",
            (unsigned long long)msg.env->weight_version->version,
            (unsigned long long)msg.env->weight_version->total_bytes, a->weights_ep);
    actor_pump_weights(a, now);
  }
  zr_frame_msg_release(&msg);
}

void actor_on_chunk(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  (void)s;
  zr_actor *a = user;
  zr_frame_limits lim = zr_frame_limits_default();
  zr_frame_msg msg;
  int rc = zr_zsock_decode(&msg, parts, n, a->job_id, &lim);
  if (rc < 0) return actor_drop_bad(a, zr_frame_strerror(rc), a->weights_ep);
  char sender[80];
  snprintf(sender, sizeof sender, "%.64s", msg.env->sender_id ? msg.env->sender_id : "?");
  const Zerorl__WeightChunk *c = msg.env->weight_chunk;
  if (msg.env->body_case != ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK || !c) {
    zr_seterr(-EINVAL, "type %d on the weights socket", (int)msg.env->type);
    zr_frame_msg_release(&msg);
    return actor_drop_bad(a, "bad_type", sender);
  }
  uint64_t now = zr_clock_mono_ms();
  if (c->error && c->error[0]) {
    if (a->relay && s != a->weights && zr_wsync_refused(a->ws, c->version, c->chunk_index) == 0)
      actor_pump_weights(a, now); /* ask the learner now */
    zr_log_limited("actor-chunk-error", BAD_LOG_PERIOD_MS, ZR_LOG_WARN, COMP,
                   "weight server: chunk %u of version %llu: %.200s", c->chunk_index, (unsigned long long)c->version,
                   c->error);
  } else if (msg.n_bulk != 1) {
    zr_seterr(-EINVAL, "weight chunk with %zu bulk frames", msg.n_bulk);
    actor_drop_bad(a, "bad_chunk", sender);
  } else {
    rc = zr_wsync_chunk(a->ws, c->version, c->chunk_index, c->offset, msg.bulk[0].data, msg.bulk[0].len, now);
    if (rc == -EBADMSG) {
      zr_log_limited("actor-chunk-checksum", BAD_LOG_PERIOD_MS, ZR_LOG_WARN, COMP,
                     "chunk %u of weight version %llu failed its checksum; requesting it again", c->chunk_index,
                     (unsigned long long)c->version);
    } else if (rc < 0) {
      actor_drop_bad(a, "bad_chunk", sender);
    } else if (rc == 1) {
      ZR_DEBUG(COMP, "ignored chunk %u of version %llu", c->chunk_index, (unsigned long long)c->version);
    } else if (s == a->weights) {
      a->st.chunks_from_learner++;
    } else {
      a->st.chunks_from_relay++; /* the parent relay's DEALER */
    }
    if (a->relay) zr_relay_poke(a->relay, now); /* children waiting for this chunk */
    actor_take_complete(a);
    actor_pump_weights(a, now);
  }
  zr_frame_msg_release(&msg);
}

/* ---- weight relay tree (actor/relay.h) -------------------------------------------------------- */

#define RELAY_SYNC_MS 5000

/* Serves held versions on relay_listen; a->relay_ep is what others connect to. */
int actor_relay_start(zr_actor *a, void *zmq_ctx) {
  zr_relay_opts ro;
  zr_relay_opts_init(&ro);
  ro.job_id = a->job_id;
  ro.sender_id = a->worker_id;
  ro.zsock = a->o.zsock;
  ro.listen = a->o.relay_listen;
  ro.parent_timeout_ms = a->o.wsync.request_timeout_ms;
  int rc = zr_key_job_relays(a->relay_key, sizeof a->relay_key,
                             a->o.key_prefix ? a->o.key_prefix : ZR_KEY_PREFIX_DEFAULT, a->job_id);
  if (rc < 0) return rc;
  if (!(a->relay = zr_relay_new(a->loop, zmq_ctx, &ro, a->ws, actor_on_chunk, a))) return -EIO;
  if (a->o.relay_advertise && a->o.relay_advertise[0]) {
    snprintf(a->relay_ep, sizeof a->relay_ep, "%s", a->o.relay_advertise);
  } else {
    char bound[1024];
    if (zr_relay_endpoint(a->relay, bound, sizeof bound) < 0) return -EIO;
    const char *colon = strrchr(bound, ':'), *host = strstr(bound, "://");
    bool any = host && colon && colon > host + 3 &&
               (!strncmp(host + 3, "0.0.0.0:", 8) || !strncmp(host + 3, "*:", 2) || !strncmp(host + 3, "[::]:", 5));
    if (any) snprintf(a->relay_ep, sizeof a->relay_ep, "tcp://%s%s", zr_hostname(), colon);
    else snprintf(a->relay_ep, sizeof a->relay_ep, "%s", bound);
  }
  ZR_INFO(COMP, "weight relay: serving held versions on %s (advertised as %s, fanout %u)", a->o.relay_listen,
          a->relay_ep, a->o.relay_fanout);
  return 0;
}

static void on_relays(zr_redis *r, redisReply *reply, void *user) {
  (void)r;
  zr_actor *a = user;
  if (a->freeing || !a->relay || !reply || reply->type != REDIS_REPLY_ARRAY) return;
  const char **eps = calloc(reply->elements ? reply->elements : 1, sizeof *eps);
  if (!eps) return;
  size_t n = 0;
  for (size_t i = 0; i < reply->elements; i++)
    if (reply->element[i]->type == REDIS_REPLY_STRING) eps[n++] = reply->element[i]->str;
  char parent[1100];
  if (zr_relay_pick_parent(eps, n, a->relay_ep, a->o.relay_fanout ? a->o.relay_fanout : 2, parent,
                           sizeof parent) == 0 &&
      strcmp(parent, zr_relay_parent(a->relay)) != 0) {
    ZR_INFO(COMP, "weight relay: %zu relays live; fetching through %s", n, parent[0] ? parent : "the learner");
    zr_relay_set_parent(a->relay, parent);
  }
  free(eps);
}

/* Every RELAY_SYNC_MS: refresh our entry in PREFIX:job:JOB:relays, prune dead ones, re-pick the parent. */
void actor_relay_sync(zr_actor *a, uint64_t now) {
  if (!a->relay || !a->redis || a->drained || (a->relay_sync_ms && now < a->relay_sync_ms + RELAY_SYNC_MS)) return;
  a->relay_sync_ms = now;
  const char *key = a->relay_key; /* (the options' strings are the caller's, gone by now) */
  long long wall = (long long)zr_clock_wall_ms(), dead = wall - ZR_RELAY_TTL_MS;
  zr_redis_command(a->redis, NULL, NULL, "ZADD %s %lld %s", key, wall, a->relay_ep);
  zr_redis_command(a->redis, NULL, NULL, "ZREMRANGEBYSCORE %s -inf %lld", key, dead);
  zr_redis_command(a->redis, on_relays, a, "ZRANGEBYSCORE %s %lld +inf", key, dead);
}

void actor_relay_heartbeat(zr_actor *a) {
  if (a->relay) {
    zr_relay_stats rs = zr_relay_get_stats(a->relay);
    zr_heartbeat_setf(a->hb, "relay_chunks_served", "%llu", (unsigned long long)rs.served_chunks);
    zr_heartbeat_set(a->hb, "relay_endpoint", a->relay_ep);
    zr_heartbeat_set(a->hb, "relay_parent", zr_relay_parent(a->relay)[0] ? zr_relay_parent(a->relay) : "learner");
  }
}

void actor_relay_leave(zr_actor *a) {
  /* children stop asking this relay now, not when its entry expires (ZR_RELAY_TTL_MS) */
  if (a->relay && a->redis) zr_redis_command(a->redis, NULL, NULL, "ZREM %s %s", a->relay_key, a->relay_ep);
}
