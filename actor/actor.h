/* actor.h: the actor behind `zerorl-actor` (DESIGN.md sections 3 and 4): leases tasks from the
 * learner, samples G completions per task with the current policy and sends every finished
 * sample back as a Rollout, while fetching and applying new weight versions between steps.
 *
 * Threads. The loop thread (libuv, the caller's) does all I/O:
 *   - a DEALER to the learner's work endpoint: WorkRequest out (role ACTOR, free_capacity = the
 *     groups it can start now = (slots - samples not finished) / group_size, policy version
 *     held), WorkGrant in, Rollout and LeaseRelease out. It asks at start, whenever capacity
 *     frees, and every ask_interval_ms while it has capacity and nothing arrives (so a restarted
 *     learner hears from it again; the DEALER reconnects by itself);
 *   - a SUB to the learner's announce endpoint (everything subscribed): WeightVersion in, fed
 *     to the weight-sync state machine (actor/wsync.h);
 *   - a DEALER to the learner's weights endpoint: WeightChunkRequest out, WeightChunk in;
 *   - Redis: the heartbeat (role "actor").
 * ONE compute thread owns the zr_tf and the zr_engine (actor/engine.h). It takes commands
 * (submit a task, cancel a task, apply a weight version, pause admission) from a
 * mutex-protected queue, steps the engine while there is work, sleeps on a condition variable
 * when there is none, and hands finished samples to the loop through a queue woken by a
 * uv_async_t. Weights are applied on the compute thread between steps (zr_wready_apply, then
 * zr_engine_set_version): with update = inflight at the next step boundary, with update =
 * finish after admission is paused and the running sequences have finished.
 *
 * Start. The actor waits up to start_wait_ms for a WeightVersion announcement (the learner
 * re-announces its newest version about every second). If one arrives it is fetched and
 * applied before the first WorkRequest; if none arrives in time, the actor generates with the
 * weights loaded from [model] path as policy version 0 (the learner accepts version-0 tokens
 * within its staleness window, and a later announcement is fetched as usual).
 *
 * Leases. A grant's tasks become engine requests under local ids. A lease whose deadline is
 * less than lease_margin_ms away has its unfinished tasks cancelled in the engine and handed
 * back with one LeaseRelease; samples of those tasks that finish afterwards are dropped.
 *
 * Bad input. Every message passes zr_frame_decode with the job id; garbage, another job's or
 * protocol version's messages, an unexpected type, a grant with absurd sizes (its tasks are
 * handed back at once) and chunks that fail their checks are dropped, counted (dropped_bad)
 * and logged at most once a minute per sender and reason. Nothing from the network can stop
 * the actor.
 *
 * Drain (SIGTERM): stop asking, pause admission, let running sequences finish until
 * drain_timeout_ms, then cancel and hand back whatever is unfinished, flush the sockets, delete
 * the heartbeat and call done.
 *
 * Ownership: the caller owns the loop, the zmq context, the model and the tokenizer (they must
 * outlive the actor; the compute thread uses the model exclusively while the actor lives). The
 * actor owns its sockets, Redis client, heartbeat, weight sync, engine and compute thread.
 * Everything runs on the loop thread; zr_actor_free joins the compute thread and releases memory
 * from libuv close callbacks, so keep running the loop afterwards. */
#ifndef ZR_ACTOR_ACTOR_H
#define ZR_ACTOR_ACTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "actor/engine.h"
#include "actor/sim_engine.h"
#include "actor/wsync.h"
#include "common/config.h"
#include "common/redis.h"
#include "common/zsock.h"
#include "model/tokenizer.h"
#include "model/transformer.h"

typedef struct {
  const char *job_id;            /* required; other jobs' messages are dropped */
  const char *worker_id;         /* required: sender id and heartbeat key component */
  const char *work_endpoint;     /* learner ROUTER for WorkRequest / Rollout, e.g. tcp://h:5555 */
  const char *weights_endpoint;  /* learner ROUTER for WeightChunkRequest, e.g. tcp://h:5556 */
  const char *announce_endpoint; /* learner PUB for WeightVersion, e.g. tcp://h:5557 */
  int slots;                     /* sequences decoded together (>= 1) */
  int max_len;                   /* prompt + completion tokens per slot (>= 2) */
  int group_size;                /* expected G, to size free_capacity (>= 1) */
  bool update_inflight;          /* true: apply new weights at the next step; false: finish first */
  uint32_t lease_margin_ms;      /* hand back tasks this long before the lease deadline */
  uint32_t ask_interval_ms;      /* re-ask period while idle (default 1000) */
  uint32_t start_wait_ms;        /* wait for a first announcement (default 2500) */
  uint32_t drain_timeout_ms;     /* let sequences finish this long on SIGTERM (default 3000) */
  uint32_t max_grant_tasks;      /* most tasks in one grant (default 4096) */
  uint32_t max_group;            /* most samples per task (default 4096) */
  zr_wsync_cfg wsync;
  /* weight relay tree (actor/relay.h): serve held versions on relay_listen (NULL or "" = off;
   * wsync.keep_held must then be set), advertised in Redis as relay_advertise (NULL or "" =
   * relay_listen's address with this host's name), relay_fanout children per node (default 2) */
  const char *relay_listen, *relay_advertise;
  unsigned relay_fanout;
  zr_zsock_opts zsock; /* options of the three sockets (routing_id is ignored) */
  zr_redis_opts redis;
  const char *key_prefix; /* heartbeat key prefix; NULL = default */
  uint32_t heartbeat_interval_ms, heartbeat_ttl_ms; /* 0 = heartbeat defaults */
  /* [actor] engine = sim: no model (zr_actor_new's m and tok may be NULL); the simulated engine
   * (actor/sim_engine.h) generates with sim (n_slots and initial_version are set by the actor,
   * vocab and eos ids by the caller). WeightVersion announcements are followed without fetching
   * anything: the announced version is what tokens are stamped with from then on (at once with
   * update = inflight, after the running samples with update = finish). */
  bool sim_engine;
  zr_simeng_cfg sim;
} zr_actor_opts;

/* Defaults for the optional fields; the caller sets ids, endpoints, slots, max_len. */
void zr_actor_opts_init(zr_actor_opts *o);

/* Buffers zr_actor_opts_from_config writes endpoints and CURVE keys into. */
typedef struct {
  char work[1100], weights[1100], announce[1100];
  char keys[3][41];
} zr_actor_opts_buf;

/* Fills o from a loaded, validated job config: job id, [actor] settings, [algo] group_size,
 * endpoints (learner_host with the ports of learner_tasks / learner_weights /
 * learner_announce; ipc and inproc endpoints as they are), [net] socket options, [redis] and
 * [security]. Strings point into c or buf. 0 or -EINVAL with zr_errmsg() (no job id, ...). */
int zr_actor_opts_from_config(zr_actor_opts *o, const zr_config *c, zr_actor_opts_buf *buf);

/* The endpoint an actor connects to for a learner bind address: "tcp://<any>:5555" with host "tcp://10.0.0.2"
 * gives "tcp://10.0.0.2:5555"; non-tcp endpoints are kept. 0 or -EINVAL. */
int zr_actor_connect_endpoint(const char *bind, const char *host, char *out, size_t cap);

typedef struct zr_actor zr_actor;

typedef struct {
  uint64_t asks;           /* WorkRequests sent */
  uint64_t grants;         /* non-empty grants accepted */
  uint64_t tasks;          /* tasks accepted */
  uint64_t rollouts;       /* Rollouts sent */
  uint64_t releases;       /* LeaseRelease messages sent */
  uint64_t released_tasks; /* tasks handed back */
  uint64_t dropped_bad;    /* messages dropped by the checks */
  uint64_t versions_applied;
  uint64_t policy_version; /* version the compute thread runs now */
  uint64_t tokens;         /* tokens generated */
  uint64_t chunks_from_learner; /* weight chunks accepted (checksum verified) from the learner */
  uint64_t chunks_from_relay;   /* ... and from the parent relay ([actor] relay_listen) */
  int active;              /* sequences in slots (last snapshot) */
  int live_tasks;          /* tasks with samples not finished */
  const char *state;       /* starting, fetching, generating, idle, draining */
} zr_actor_stats;

/* Creates the actor around a loaded model and tokenizer (borrowed), connects its sockets and
 * Redis client, starts the compute thread and the heartbeat. NULL with zr_errmsg() on failure. */
zr_actor *zr_actor_new(uv_loop_t *loop, void *zmq_ctx, const zr_actor_opts *o, zr_tf *m, const zr_tok *tok);

typedef void (*zr_actor_done_cb)(void *user);

/* Starts draining (see the top comment); done runs once, on the loop, when it is over. */
void zr_actor_drain(zr_actor *a, zr_actor_done_cb done, void *user);

zr_actor_stats zr_actor_get_stats(const zr_actor *a);

/* Stops the compute thread, closes sockets and the Redis client; clears *a. NULL-safe. */
void zr_actor_free(zr_actor **a);

/* ---- the compute thread (actor_compute.c; used by actor.c) ------------------------------- */

typedef struct zr_acompute zr_acompute;

/* One finished sample, copied out of the engine (the loop frees it with zr_acompute_out_free). */
typedef struct zr_acompute_out {
  struct zr_acompute_out *next;
  uint64_t req_id;
  uint32_t sample_index;
  int n_tokens;
  int32_t *tokens;
  float *logprobs;
  uint64_t *versions;
  zr_engine_finish finish;
  char *text; /* NUL-terminated, valid UTF-8 */
  double queue_ms, generate_ms;
  int error; /* < 0: the request was refused or failed; no tokens */
} zr_acompute_out;

typedef struct {
  int active, queued_samples;
  bool admitting;
  uint64_t version, tokens_generated, decode_steps, occupancy_sum, applied;
  int pending_cmds;
  /* where the compute thread's time went since its first work arrived (ms): generating, waiting
   * for work (the network: leases, the learner) and applying weight versions */
  double busy_ms, idle_ms, apply_ms;
} zr_acompute_snap;

/* Starts the thread; notify is uv_async_send'ed whenever outputs or a new snapshot wait. */
int zr_acompute_new(zr_acompute **out, zr_tf *m, const zr_tok *tok, const zr_engine_cfg *cfg, bool update_inflight,
                    uv_async_t *notify);
/* The same around the simulated engine (no model). */
int zr_acompute_new_sim(zr_acompute **out, const zr_simeng_cfg *cfg, bool update_inflight, uv_async_t *notify);
/* Stops and joins the thread, frees everything (queued outputs and commands included). */
void zr_acompute_free(zr_acompute **c);
/* Queues a request (copied). */
int zr_acompute_submit(zr_acompute *c, const zr_engine_request *r);
void zr_acompute_cancel(zr_acompute *c, uint64_t req_id);
/* Takes ownership of r; applied between steps as update_inflight says. */
void zr_acompute_apply(zr_acompute *c, zr_wready *r);
void zr_acompute_set_admit(zr_acompute *c, bool admit);
/* Simulated engine: stamp tokens with version from now on (no weights), as update_inflight says. */
void zr_acompute_set_version(zr_acompute *c, uint64_t version);
/* Detaches the finished samples (oldest first) and copies the latest snapshot. */
zr_acompute_out *zr_acompute_take(zr_acompute *c, zr_acompute_snap *snap);
void zr_acompute_out_free(zr_acompute_out *o);

#endif
