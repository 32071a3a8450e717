/* keys.h: the Redis key schema (DESIGN.md section 5) as functions and constants.
 *
 * Every Redis key and every field name zerorl uses is spelled here and nowhere else, so that
 * daemons, the `zerorl` tool, tests and docs agree. The schema, with prefix "zerorl":
 *
 *   zerorl:jobs                          set     job ids
 *   zerorl:job:{job}                     hash    ZR_JOB_* fields
 *   zerorl:job:{job}:queue               hash    ZR_QUEUE_* fields (the learner hub's queues)
 *   zerorl:job:{job}:metrics             stream  one entry per optimizer step
 *   zerorl:job:{job}:events              stream  lifecycle events
 *   zerorl:job:{job}:dist                hash    ZR_DIST_* fields (multi-rank learner rendezvous)
 *   zerorl:job:{job}:relays              zset    weight relay endpoints scored by last refresh (ms)
 *   zerorl:worker:{job}:{role}:{id}      hash    ZR_WORKER_* fields, with a TTL (heartbeat)
 *
 * Key builders write into a caller buffer (ZR_KEY_MAX bytes always suffice) and return 0, or
 * a negative code with a message naming the bad component: -EINVAL for a bad prefix, job,
 * role or id, -ENOSPC for a buffer that is too small. Components are checked so that a key
 * can never collide with another key of the schema or break the glob patterns operators and
 * tools use (`SCAN 0 MATCH zerorl:worker:JOB:*`): job, role and id are 1..ZR_KEY_COMPONENT_MAX
 * bytes with no ':', whitespace, control characters or glob characters (* ? [ ] \); the role
 * is one of the ZR_ROLE_* names. The prefix is 1..ZR_KEY_PREFIX_MAX bytes under the same
 * rules except that inner ':' are allowed ("staging:zerorl").
 *
 * Timestamps stored in these hashes (started_at, updated_at) are RFC 3339 UTC with
 * milliseconds, as zr_clock_format_wall() writes them. Counters are decimal integers.
 *
 * The module has no state; everything here is safe to call from any thread. */
#ifndef ZR_KEYS_H
#define ZR_KEYS_H

#include <stddef.h>

#define ZR_KEY_PREFIX_DEFAULT "zerorl"
#define ZR_KEY_PREFIX_MAX 64    /* bytes, without the NUL */
#define ZR_KEY_COMPONENT_MAX 64 /* bytes of a job, role or id, without the NUL */
#define ZR_KEY_MAX 256          /* a buffer of this size holds any key of the schema */

/* ---- key builders --------------------------------------------------------------------- */

/* PREFIX:jobs (set of job ids) */
int zr_key_jobs(char *out, size_t cap, const char *prefix);
/* PREFIX:job:JOB (job hash) */
int zr_key_job(char *out, size_t cap, const char *prefix, const char *job);
/* PREFIX:job:JOB:queue (queue depths hash) */
int zr_key_job_queue(char *out, size_t cap, const char *prefix, const char *job);
/* PREFIX:job:JOB:metrics (stream, one entry per optimizer step) */
int zr_key_job_metrics(char *out, size_t cap, const char *prefix, const char *job);
/* PREFIX:job:JOB:events (stream of lifecycle events) */
int zr_key_job_events(char *out, size_t cap, const char *prefix, const char *job);
/* PREFIX:job:JOB:dist (hash: rendezvous of a data-parallel learner group, learner/comm.h) */
int zr_key_job_dist(char *out, size_t cap, const char *prefix, const char *job);
/* PREFIX:job:JOB:relays (sorted set: member = a relaying actor's chunk endpoint, score = wall
 * clock ms of its last refresh; entries older than ZR_RELAY_TTL_MS are dead, actor/relay.h) */
int zr_key_job_relays(char *out, size_t cap, const char *prefix, const char *job);
#define ZR_RELAY_TTL_MS 15000
/* PREFIX:worker:JOB:ROLE:ID (heartbeat hash with a TTL) */
int zr_key_worker(char *out, size_t cap, const char *prefix, const char *job, const char *role,
                  const char *id);

/* The checks the builders apply, for validating configuration early. `what` names the
 * component in the message ("job", "worker id"). */
int zr_key_check_prefix(const char *prefix);
int zr_key_check_component(const char *what, const char *value);

/* ---- job hash: PREFIX:job:JOB ---------------------------------------------------------- */

#define ZR_JOB_STATE "state"                   /* one of the ZR_JOB_STATE_* names */
#define ZR_JOB_STEP "step"                     /* optimizer steps taken */
#define ZR_JOB_POLICY_VERSION "policy_version" /* newest published weight version */
#define ZR_JOB_EPOCH "epoch"                   /* pass over the task set */
#define ZR_JOB_CURSOR "cursor"                 /* next task index within the epoch */
/* learner endpoints (ZeroMQ addresses actors and reward workers connect to) */
#define ZR_JOB_ENDPOINT_WORK "endpoint_work"       /* ROUTER: work requests, rollouts, scores */
#define ZR_JOB_ENDPOINT_WEIGHTS "endpoint_weights" /* PUB: WeightVersion announcements */
#define ZR_JOB_ENDPOINT_CHUNKS "endpoint_chunks"   /* ROUTER: WeightChunkRequest */
#define ZR_JOB_STARTED_AT "started_at"
#define ZR_JOB_UPDATED_AT "updated_at"

#define ZR_JOB_FIELD_COUNT 10
/* Every job hash field, in the order above. */
extern const char *const zr_job_fields[ZR_JOB_FIELD_COUNT];

/* ---- learner group rendezvous: PREFIX:job:JOB:dist (learner/comm.h) ------------------- */

#define ZR_DIST_ENDPOINT "endpoint"       /* rank 0's collective socket (tcp://host:port) */
#define ZR_DIST_HB_ENDPOINT "hb_endpoint" /* rank 0's heartbeat socket */
#define ZR_DIST_WORLD_SIZE "world_size"   /* ranks in the group */
#define ZR_DIST_GENERATION "generation"   /* random id of this start of rank 0 */
#define ZR_DIST_NCCL_ID "nccl_id"         /* hex ncclUniqueId (CUDA learners), "" on CPU */
#define ZR_DIST_UPDATED_AT "updated_at"

/* ---- job states ------------------------------------------------------------------------ */

typedef enum {
  ZR_JOB_STARTING = 0,
  ZR_JOB_RUNNING,
  ZR_JOB_DRAINING,
  ZR_JOB_DONE,
  ZR_JOB_FAILED,
  ZR_JOB_STATE_COUNT
} zr_job_state;

#define ZR_JOB_STATE_STARTING "starting"
#define ZR_JOB_STATE_RUNNING "running"
#define ZR_JOB_STATE_DRAINING "draining"
#define ZR_JOB_STATE_DONE "done"
#define ZR_JOB_STATE_FAILED "failed"

/* "starting", ...; "?" for a value out of range. */
const char *zr_job_state_name(zr_job_state state);
/* Returns the state (>= 0) or -EINVAL with a message listing the valid names. */
int zr_job_state_parse(const char *name);

/* ---- queue hash: PREFIX:job:JOB:queue -------------------------------------------------- */

#define ZR_QUEUE_TASKS_PENDING "tasks_pending"
#define ZR_QUEUE_TASKS_LEASED "tasks_leased"
#define ZR_QUEUE_ROLLOUTS_WAITING "rollouts_waiting"
#define ZR_QUEUE_ROLLOUTS_SCORING "rollouts_scoring"
#define ZR_QUEUE_GROUPS_READY "groups_ready"
#define ZR_QUEUE_RETRIES "retries"
#define ZR_QUEUE_EXPIRED_LEASES "expired_leases"
#define ZR_QUEUE_DROPPED_STALE "dropped_stale"
#define ZR_QUEUE_DROPPED_BAD "dropped_bad"

#define ZR_QUEUE_FIELD_COUNT 9
extern const char *const zr_queue_fields[ZR_QUEUE_FIELD_COUNT];

/* ---- worker hash: PREFIX:worker:JOB:ROLE:ID --------------------------------------------- */

#define ZR_WORKER_HOST "host"
#define ZR_WORKER_PID "pid"
#define ZR_WORKER_STATE "state" /* the worker's own state, in the ZR_JOB_STATE_* words */
#define ZR_WORKER_POLICY_VERSION "policy_version"
#define ZR_WORKER_STARTED_AT "started_at"
#define ZR_WORKER_UPDATED_AT "updated_at"
#define ZR_WORKER_THROUGHPUT "throughput" /* optional: tokens/s (actor), rollouts/s (reward) */

#define ZR_WORKER_FIELD_COUNT 7
extern const char *const zr_worker_fields[ZR_WORKER_FIELD_COUNT];

/* ---- worker roles (values match proto Role) --------------------------------------------- */

typedef enum { ZR_ROLE_ACTOR = 1, ZR_ROLE_REWARD = 2, ZR_ROLE_LEARNER = 3 } zr_role;

#define ZR_ROLE_NAME_ACTOR "actor"
#define ZR_ROLE_NAME_REWARD "reward"
#define ZR_ROLE_NAME_LEARNER "learner"

/* "actor", "reward", "learner"; "?" for anything else. */
const char *zr_role_name(zr_role role);
/* Returns the role (> 0) or -EINVAL with a message listing the valid names. */
int zr_role_parse(const char *name);

#endif
