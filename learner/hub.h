/* hub.h: the learner's queue state machine (DESIGN sections 1, 4, 5, 8).
 *
 * zr_hub owns every queue of a job: tasks pending and leased, rollouts waiting for a reward
 * worker and being scored, groups ready to train, plus the record of which (task, epoch) were
 * already trained. It is PURE: no sockets, no Redis, no threads, no clock; time is passed in
 * as now_ms (any monotonic millisecond clock). The learner daemon wires it to the ROUTER
 * socket: WorkRequest -> zr_hub_grant, Rollout -> zr_hub_rollout, LeaseRelease ->
 * zr_hub_release, reward-worker credit -> zr_hub_take_score, ScoredRollout -> zr_hub_scored,
 * heartbeat loss -> zr_hub_worker_gone, timer -> zr_hub_tick at zr_hub_next_deadline, trainer
 * -> zr_hub_take_group. One thread only (the loop thread); not thread-safe.
 *
 * Life of a task. The hub pulls tasks from the daemon through cfg.next_task, lazily, only when
 * a grant has room. A pulled (task, epoch) becomes a *group*: a hub-assigned group_id and G
 * sample slots (G = cfg.group_size). A slot goes EMPTY -> WAITING (rollout accepted, queued
 * for a reward worker) -> SCORING (a score attempt is out) -> SCORED. When all G slots are
 * SCORED the group is READY (or, with dynamic sampling and all rewards equal, FILTERED: freed,
 * counted, its task not retried). zr_hub_take_group hands the oldest fresh READY group to the
 * trainer and records (task, epoch) as trained; a second trained group for the same (task,
 * epoch) is impossible (ZR_ASSERT, and zr_hub_counts.double_trained stays 0).
 *
 * Re-issue policy. A group whose lease ends (expired, released, actor gone) with EMPTY slots
 * goes to the FRONT of the pending queue (before new tasks) keeping its group_id and every
 * slot already filled. When it is granted again the grant task covers the smallest contiguous
 * range [first_sample_index, first_sample_index + samples) holding every EMPTY slot; rollouts
 * for already-filled slots inside that range are answered DUPLICATE, so the group never gets
 * two results for one sample index. Each give-back (lease expiry, release, stale drop) adds
 * one to the task's retry count and to counts.retries; a task given back more than
 * cfg.max_task_retries times is dropped (freed, counts.tasks_dropped, ZR_HUB_EV_TASK_DROPPED)
 * and not recorded as trained (a resumed learner tries it again).
 *
 * Leases. A lease is granted for up to `capacity` groups (capacity counts groups, not
 * samples), deadline now + cfg.lease_ms. Admission control: live groups (pending re-issue +
 * leased + awaiting rollouts/scores + ready-but-not-taken) never exceed
 * (max_staleness + 1) * groups_per_batch; re-issuing an existing group never needs admission,
 * pulling a new task does. A grant with no tasks ("nothing now") issues no lease (lease_id 0).
 * Leases that ended (all slots filled, released, expired) are remembered for cfg.lease_keep_ms
 * so late rollouts are recognised: a rollout for an ended lease whose slot is still EMPTY is
 * ACCEPTED (useful work), one whose slot is filled is DUPLICATE. Only lease ids this hub never
 * issued (or forgot) are UNKNOWN_LEASE.
 *
 * Scoring on demand. Accepted rollouts wait (FIFO) until the daemon asks zr_hub_take_score for
 * a reward worker with credit. Each attempt has a unique score_id and a deadline (now +
 * cfg.score_timeout_ms). A timed-out attempt or one whose worker is gone returns the rollout
 * to the FRONT of the waiting queue; after cfg.max_score_retries such returns the sample is
 * scored as failed: reward = cfg.failure_reward, correct = 0, no components
 * (ZR_HUB_EV_SCORE_FAILED) - the group is kept, not dropped. The first answer for a slot wins,
 * whichever attempt it comes from (a late answer of a timed-out attempt is still ACCEPTED if
 * the slot is unscored; the attempt then out is cancelled); answers for a slot already scored
 * are DUPLICATE; score ids never issued, or whose group already left the hub, are UNKNOWN.
 *
 * Ownership. The hub owns an accepted payload until zr_hub_take_group hands it to the trainer
 * (in zr_hub_group); payloads of dropped groups and of everything left at zr_hub_free go to
 * cfg.free_payload. Rollout payloads that are not ACCEPTED stay with the caller. Strings and
 * arrays in zr_hub_lease / zr_hub_score_job point into the hub and stay valid until the next
 * call that changes the hub (copy what you keep). */
#ifndef ZR_HUB_H
#define ZR_HUB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct zr_hub zr_hub;

/* One task pulled from the daemon's task source. task_id is copied by the hub. */
typedef struct zr_hub_task {
  size_t task_index;   /* index into the daemon's taskset (echoed in grants and groups) */
  uint32_t epoch;      /* pass over the dataset */
  const char *task_id; /* the dataset's id; (task_id, epoch) names the task instance */
} zr_hub_task;

/* Event kinds reported through cfg.event (for the job's events stream and logs). */
typedef enum zr_hub_event_kind {
  ZR_HUB_EV_LEASE_EXPIRED = 1,  /* a lease passed its deadline (or its actor is gone) */
  ZR_HUB_EV_TASK_DROPPED = 2,   /* a task exceeded max_task_retries and was dropped */
  ZR_HUB_EV_GROUP_FILTERED = 3, /* dynamic sampling dropped a group with all rewards equal */
  ZR_HUB_EV_GROUP_STALE = 4,    /* a ready group was too stale and its task re-queued */
  ZR_HUB_EV_SCORE_TIMEOUT = 5,  /* a scoring attempt expired or its worker went away */
  ZR_HUB_EV_SCORE_FAILED = 6,   /* a sample ran out of score retries: scored failure_reward */
} zr_hub_event_kind;

typedef struct zr_hub_event {
  zr_hub_event_kind kind;
  const char *task_id;   /* the task concerned (NULL for LEASE_EXPIRED) */
  uint32_t epoch;
  uint64_t group_id;     /* 0 when not about one group */
  uint64_t lease_id;     /* LEASE_EXPIRED */
  const char *worker_id; /* LEASE_EXPIRED, SCORE_TIMEOUT: the worker concerned */
  uint32_t retries;      /* TASK_DROPPED, GROUP_STALE: the task's retry count; SCORE_*: attempts */
} zr_hub_event;

typedef struct zr_hub_config {
  uint32_t group_size;        /* G, samples per group (>= 1); default 8 */
  uint32_t groups_per_batch;  /* groups per optimizer step (>= 1); default 16 */
  uint32_t max_staleness;     /* policy versions a group may lag; hot (zr_hub_set_max_staleness); default 1 */
  uint64_t lease_ms;          /* lease length; default 600000 */
  uint64_t lease_keep_ms;     /* how long ended leases stay recognised; default 0 = 4 * lease_ms */
  uint64_t score_timeout_ms;  /* one scoring attempt's deadline; default 60000 */
  uint32_t max_task_retries;  /* give-backs allowed before a task is dropped; default 3 */
  uint32_t max_score_retries; /* returned attempts allowed before failure_reward; default 3 */
  double failure_reward;      /* reward of a sample that could not be scored; default 0 */
  int dynamic_sampling;       /* 1: drop complete groups whose rewards are all equal; default 0 */
  /* Pulls the next task: 0 = *out filled, 1 = no more tasks (all epochs done), < 0 = error
   * (returned by zr_hub_grant). out->task_id need only live until the callback's next call. */
  int (*next_task)(void *user, zr_hub_task *out);
  void (*free_payload)(void *user, void *payload); /* frees a rollout payload; NULL = free() */
  void (*event)(void *user, const zr_hub_event *ev); /* optional */
  void *user;                                        /* passed to the callbacks */
} zr_hub_config;

/* Fills *cfg with the defaults above (callbacks NULL). */
void zr_hub_config_init(zr_hub_config *cfg);

/* Creates a hub; NULL with zr_errmsg() on a bad config (no next_task, zero sizes). */
zr_hub *zr_hub_new(const zr_hub_config *cfg);

/* Frees the hub, every payload it owns (through free_payload), and sets *hub to NULL. */
void zr_hub_free(zr_hub **hub);

/* Hot setting: groups older than current_version - max_staleness are dropped at take time;
 * also widens/narrows admission ((max_staleness + 1) * groups_per_batch). */
void zr_hub_set_max_staleness(zr_hub *hub, uint32_t max_staleness);

/* ---- leases (actors) ------------------------------------------------------------------ */

/* One task of a grant: the actor samples `samples` completions, sample indices
 * first_sample_index .. first_sample_index + samples - 1, of group group_id. */
typedef struct zr_hub_grant_task {
  size_t task_index;
  uint32_t epoch;
  const char *task_id; /* hub-owned; valid until the next hub call */
  uint64_t group_id;
  uint32_t first_sample_index;
  uint32_t samples;    /* <= group_size; < group_size only for a re-issued partial group */
  uint32_t group_size; /* G */
  uint32_t retries;    /* times this task was given back before (0 for a fresh task) */
} zr_hub_grant_task;

typedef struct zr_hub_lease { /* the answer to a WorkRequest */
  uint64_t lease_id;    /* 0 when n_tasks == 0 (no lease issued) */
  uint64_t deadline_ms; /* now + lease_ms */
  size_t n_tasks;
  const zr_hub_grant_task *tasks; /* hub-owned array; valid until the next hub call */
} zr_hub_lease;

/* Leases up to `capacity` groups to worker_id: re-issued groups first, then new tasks pulled
 * from next_task while admission allows. Returns 0 (out filled, possibly empty) or the
 * negative code next_task returned (groups granted before the error stay in out). */
int zr_hub_grant(zr_hub *hub, const char *worker_id, uint32_t capacity, uint64_t now_ms,
                 zr_hub_lease *out);

/* A group given back by an actor (LeaseRelease.tasks). */
typedef struct zr_hub_ref {
  const char *task_id;
  uint32_t epoch;
  uint64_t group_id;
} zr_hub_ref;

/* Gives back groups of an active lease (n == 0: all of them) so they are re-issued at once
 * (front of pending, one retry each). Groups the lease does not hold, or already filled, are
 * ignored. Returns the number of groups re-queued, or -ENOENT for an unknown/ended lease. */
int zr_hub_release(zr_hub *hub, uint64_t lease_id, const zr_hub_ref *refs, size_t n,
                   uint64_t now_ms);

/* Expires leases and scoring attempts whose deadline is <= now_ms and forgets ended leases
 * older than lease_keep_ms. Call at zr_hub_next_deadline() (calling more often is fine). */
void zr_hub_tick(zr_hub *hub, uint64_t now_ms);

/* The earliest deadline tick must see (lease, score attempt, ended-lease purge);
 * UINT64_MAX when nothing is pending. */
uint64_t zr_hub_next_deadline(const zr_hub *hub);

/* A worker (actor or reward worker) is gone: its active leases end at once as expired, and
 * its scoring attempts go back to waiting (each counts as one score retry). Uses the latest
 * now_ms the hub has seen. */
void zr_hub_worker_gone(zr_hub *hub, const char *worker_id);

/* ---- rollouts ------------------------------------------------------------------------ */

typedef enum zr_hub_result {
  ZR_HUB_ACCEPTED = 0,      /* taken; the hub owns the payload now */
  ZR_HUB_DUPLICATE = 1,     /* that sample already has a result (late / repeated / group
                             * already trained, filtered or dropped): counts.duplicates */
  ZR_HUB_UNKNOWN_LEASE = 2, /* lease never issued by this hub (or long forgotten): dropped_bad */
  ZR_HUB_MISMATCH = 3,      /* the lease does not cover that task/epoch/group/sample: dropped_bad */
  ZR_HUB_UNKNOWN = 4,       /* zr_hub_scored: score_id never issued or its group is gone */
} zr_hub_result;

/* Short name of a result ("accepted", "duplicate", ...). */
const char *zr_hub_result_name(zr_hub_result r);

/* A rollout arrives. min_token_version is the oldest policy version among its tokens (used
 * for staleness). On ZR_HUB_ACCEPTED the hub owns payload; otherwise the caller still does. */
zr_hub_result zr_hub_rollout(zr_hub *hub, uint64_t lease_id, const char *task_id, uint32_t epoch,
                             uint64_t group_id, uint32_t sample_index, uint64_t min_token_version,
                             void *payload, uint64_t now_ms);

/* ---- scoring (reward workers) ----------------------------------------------------------- */

typedef struct zr_hub_score_job {
  uint64_t score_id;    /* unique per attempt; echo it in zr_hub_scored */
  void *payload;        /* the rollout (still owned by the hub) */
  size_t task_index;
  uint32_t epoch;
  const char *task_id;  /* hub-owned; valid until the next hub call */
  uint64_t group_id;
  uint32_t sample_index;
  uint32_t attempt;     /* 1 for the first attempt */
  uint64_t deadline_ms; /* now + score_timeout_ms */
} zr_hub_score_job;

/* Hands the oldest waiting rollout to worker_id. Call only for workers with credit.
 * Returns 0 (out filled) or 1 (nothing waiting). */
int zr_hub_take_score(zr_hub *hub, const char *worker_id, uint64_t now_ms, zr_hub_score_job *out);

/* A reward worker's answer. components (n_components values, may be 0/NULL) are copied.
 * ACCEPTED (first answer for the slot, from any of its attempts), DUPLICATE (slot already
 * scored) or UNKNOWN (score_id never issued, or its group already trained/dropped). */
zr_hub_result zr_hub_scored(zr_hub *hub, uint64_t score_id, double reward, int correct,
                            const double *components, int n_components, uint64_t now_ms);

/* ---- groups (trainer) ------------------------------------------------------------------ */

/* A complete, scored group. Every array has group_size entries, in sample order, and is owned
 * by the struct; payloads belong to the trainer (set an entry to NULL to keep it past
 * zr_hub_group_release). */
typedef struct zr_hub_group {
  size_t task_index;
  uint32_t epoch;
  char *task_id;
  uint64_t group_id;
  uint32_t group_size;
  uint64_t min_token_version; /* oldest token version in the group */
  void **payloads;
  double *rewards;
  int *correct;
  int *n_components;          /* per sample (0 for failure-scored samples) */
  double **components;        /* per sample: n_components[i] values (NULL when 0) */
} zr_hub_group;

/* Takes the oldest READY group not too stale for current_version (stale: min_token_version <
 * current_version - max_staleness); stale ones met on the way are dropped
 * (counts.dropped_stale) and their task re-queued at the back of pending as a fresh group
 * (new group_id, same epoch, one retry; dropped beyond max_task_retries). Records (task,
 * epoch) as trained. Returns 0 (out filled) or 1 (none ready). */
int zr_hub_take_group(zr_hub *hub, uint64_t current_version, zr_hub_group *out);

/* Frees a taken group's arrays and every non-NULL payload (through free_payload); zeroes *g. */
void zr_hub_group_release(zr_hub *hub, zr_hub_group *g);

/* ---- accounting ------------------------------------------------------------------------ */

typedef struct zr_hub_counts {
  /* gauges: the queue hash of DESIGN section 5 */
  uint64_t tasks_pending;    /* groups waiting to be (re)leased */
  uint64_t tasks_leased;     /* groups under an active lease with empty slots */
  uint64_t rollouts_waiting; /* accepted rollouts waiting for a reward worker */
  uint64_t rollouts_scoring; /* rollouts out with a reward worker */
  uint64_t groups_ready;     /* complete groups not yet taken by the trainer */
  /* counters (monotonic) of the queue hash */
  uint64_t retries;          /* tasks given back (lease expired, released, stale) */
  uint64_t expired_leases;
  uint64_t dropped_stale;    /* ready groups dropped as too stale */
  uint64_t dropped_bad;      /* rollouts with an unknown lease or a mismatch */
  /* more counters */
  uint64_t duplicates;       /* rollouts/scores for a slot that already had one */
  uint64_t groups_filtered;  /* dynamic sampling */
  uint64_t groups_trained;   /* groups handed to the trainer */
  uint64_t tasks_dropped;    /* tasks beyond max_task_retries */
  uint64_t tasks_skipped;    /* tasks from next_task already trained/filtered (resume) or live */
  uint64_t score_retries;    /* scoring attempts returned (timeout, worker gone) */
  uint64_t score_failed;     /* samples scored failure_reward */
  uint64_t double_trained;   /* must stay 0: a (task, epoch) trained twice */
  uint64_t groups_live;      /* gauge: groups counted by admission control */
  uint64_t admission_limit;  /* gauge: (max_staleness + 1) * groups_per_batch */
} zr_hub_counts;

/* Current gauges and counters. */
void zr_hub_counts_get(const zr_hub *hub, zr_hub_counts *out);

/* 1 once next_task said "no more" and no group is live (all trained, filtered or dropped). */
int zr_hub_epoch_done(const zr_hub *hub);

/* What became of (task_id, epoch). */
typedef enum zr_hub_outcome {
  ZR_HUB_OUTCOME_NONE = 0,     /* never seen, or forgotten */
  ZR_HUB_OUTCOME_LIVE = 1,     /* a group is in flight */
  ZR_HUB_OUTCOME_TRAINED = 2,  /* handed to the trainer (exactly once) */
  ZR_HUB_OUTCOME_FILTERED = 3, /* dynamic sampling: answered, not trained, not retried */
  ZR_HUB_OUTCOME_DROPPED = 4,  /* beyond max_task_retries */
} zr_hub_outcome;

zr_hub_outcome zr_hub_outcome_of(const zr_hub *hub, const char *task_id, uint32_t epoch);

/* How many (task, epoch) of `epoch` have the given outcome. */
size_t zr_hub_outcome_count(const zr_hub *hub, uint32_t epoch, zr_hub_outcome outcome);

/* ---- checkpoint ------------------------------------------------------------------------ */

/* The (task, epoch) already trained or filtered, for a checkpoint:
 * {"version":1,"done":[["task_id",epoch,"trained"|"filtered"],...]}. Caller decrefs.
 * Pending, leased and in-flight work is deliberately not saved: on resume it is re-issued. */
json_t *zr_hub_trained_to_json(const zr_hub *hub);

/* Restores that set into a hub with no live groups (call before the first grant); tasks
 * from next_task found in it are skipped. 0, -EBUSY (live groups) or -EINVAL (bad JSON,
 * message names the entry). */
int zr_hub_trained_from_json(zr_hub *hub, const json_t *j);

/* Forgets outcomes of epochs < epoch (bounds memory once the data cursor has moved past). */
void zr_hub_forget_epochs_before(zr_hub *hub, uint32_t epoch);

#endif
