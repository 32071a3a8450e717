/* actor_internal.h: the actor's loop-side state (struct zr_actor, its leases and tasks) and the
 * functions actor.c and actor_weights.c call in each other. Not a public interface: zerorl-actor
 * and the tests use actor.h, where the compute thread's interface (actor_compute.c) also is. */
#ifndef ZR_ACTOR_INTERNAL_H
#define ZR_ACTOR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "actor/actor.h"
#include "actor/relay.h"
#include "common/frame.h"
#include "common/heartbeat.h"
#include "common/keys.h"
#include "common/redis.h"
#include "common/zsock.h"

#define BAD_LOG_PERIOD_MS 60000 /* rate limit of the dropped-message and send-failure logs */

/* ---- state --------------------------------------------------------------------------------- */

typedef struct lease lease;

typedef struct {
  lease *l;
  const Zerorl__Task *t; /* inside l->msg */
  uint64_t req_id;
  uint32_t want, done;
  bool closed; /* every sample sent, or handed back */
} atask;

struct lease {
  lease *next;
  zr_frame_msg msg; /* owns the grant */
  uint64_t lease_id;
  uint64_t deadline_mono_ms;
  atask *tasks;
  size_t n_tasks, open; /* tasks not closed */
};

struct zr_actor {
  uv_loop_t *loop;
  zr_actor_opts o;
  char *job_id, *worker_id, *work_ep, *weights_ep, *announce_ep;
  zr_zsock *work, *weights, *announce;
  zr_redis *redis;
  zr_heartbeat *hb;
  zr_wsync *ws;
  zr_relay *relay;                 /* [actor] relay_listen set: serving and fetching through the tree */
  char relay_ep[1100];             /* what other actors connect to */
  char relay_key[ZR_KEY_MAX];      /* PREFIX:job:JOB:relays */
  uint64_t relay_sync_ms;          /* last Redis refresh of the relay list */
  zr_acompute *cp;
  int vocab;
  uv_async_t async;
  uv_timer_t tick;
  int open_handles;
  bool freeing;

  lease *leases;
  uint64_t next_req_id;
  long unfinished; /* samples of open tasks not yet sent */
  bool started;
  uint64_t t0_ms, last_ask_ms, last_recv_ms;
  uint64_t starved_since; /* an empty grant came while nothing ran: the learner had no work */
  double starved_ms;
  zr_acompute_snap snap;
  zr_actor_stats st;
  const char *state;
  double queue_ms_ema;
  uint64_t tp_tokens, tp_ms;
  double tokens_per_s;

  bool draining, releasing_done, flushing, drained;
  uint64_t drain_deadline_ms, flush_deadline_ms;
  zr_actor_done_cb done_cb;
  void *done_user;
};

/* ---- actor.c ------------------------------------------------------------------------------- */

/* Counts a dropped message (dropped_bad) and logs it at most once a minute per sender and why. */
void actor_drop_bad(zr_actor *a, const char *why, const char *sender);
/* Encodes env and sends it on s (ep: for the log). 0 or < 0 (logged, rate-limited). */
int actor_send_env(zr_actor *a, zr_zsock *s, const char *ep, Zerorl__Envelope *env);
/* Sends a WorkRequest when started, not draining and there is capacity. */
void actor_ask(zr_actor *a);

/* ---- actor_weights.c ----------------------------------------------------------------------- */

/* Ticks the weight sync and sends its chunk requests (through the relay when there is one). */
void actor_pump_weights(zr_actor *a, uint64_t now);
/* Hands a completely fetched version to the compute thread; the first one starts the actor. */
void actor_take_complete(zr_actor *a);
/* zr_zsock receive callbacks (user = the actor): the announce SUB, and the weights DEALER and
 * the parent relay's DEALER. */
void actor_on_announce(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user);
void actor_on_chunk(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user);
/* [actor] relay_listen: starts serving held versions (a->relay, a->relay_ep, a->relay_key). */
int actor_relay_start(zr_actor *a, void *zmq_ctx);
/* Every few seconds: refreshes this relay in Redis and re-picks the parent. No-op without a relay. */
void actor_relay_sync(zr_actor *a, uint64_t now);
/* The relay fields of the heartbeat (relay_chunks_served, relay_endpoint, relay_parent). */
void actor_relay_heartbeat(zr_actor *a);
/* Drained: leaves the Redis relay set. */
void actor_relay_leave(zr_actor *a);

#endif
