/* learner.h: the learner daemon behind `zerorl-learner` (DESIGN.md sections 1, 3-5, 8).
 *
 * The learner is the hub of a job. In mode `rl` it binds three sockets: a ROUTER for work
 * (actors' WorkRequest -> WorkGrant and their Rollout / LeaseRelease; reward workers'
 * WorkRequest -> ScoreRequest and their ScoredRollout), a PUB for weight announcements
 * (WeightVersion, re-sent every second so late joiners hear it) and a ROUTER serving weight
 * chunks. Queues live in a zr_hub (learner/hub.h); the loop thread does all I/O, and one
 * compute thread owns the policy model, the reference model and the trainer
 * (learner/trainer.h): it takes a batch of scored groups, runs one RL step, builds the next
 * weight version (learner/wpub.h) and writes checkpoints (learner/ckpt.h).
 *
 * Every incoming message passes zr_frame_decode (job id, protocol version, sizes, lengths,
 * finite log-probs) and the learner's own checks (known lease, prompt equal to the task's,
 * completion within max_new_tokens, token ids inside the vocabulary, token versions not
 * from the future); a bad one is dropped, counted by reason (dropped_bad in Redis) and logged
 * at most once a minute per sender and reason. Nothing dropped is ever trained on.
 *
 * Redis (common/redis.h) mirrors the job hash (state, step, policy_version, epoch, cursor,
 * endpoints, times) and the queue hash every second, appends one metrics stream entry per
 * optimizer step (also written to RUN_DIR/metrics.jsonl) and lifecycle events (worker
 * joined/left, lease expired, checkpoint written, errors). Redis being down never stops
 * training; the hashes are rewritten when it returns.
 *
 * The job ends when [learner] total_steps optimizer steps are done or every epoch's tasks are
 * trained (a final partial batch is trained too); then it checkpoints, sets state "done" and
 * calls done. zr_learner_drain (SIGTERM) stops granting, waits for work in flight up to
 * [learner] drain_timeout, trains what is complete, checkpoints and calls done.
 *
 * With [learner] world_size N > 1 (`--world-size N --rank R`) this is rank 0 of a data-parallel
 * group: its compute thread broadcasts every batch to the other ranks (zr_learner_run_rank,
 * learner_dist.c) and the trainer averages gradients over them (learner/comm.h); a lost rank
 * fails the job. See docs/training.md "Several learner processes".
 *
 * The modes `sft` and `eval` need no other daemon: zr_learner_run_offline runs them in this
 * process (learner/offline.c).
 *
 * Ownership: the caller owns the loop, the zmq context and the config (which must outlive
 * the learner); the learner owns its sockets, Redis client, hub, threads and models. */
#ifndef ZR_LEARNER_H
#define ZR_LEARNER_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>

#include "common/config.h"

typedef struct zr_learner zr_learner;

typedef struct {
  bool resume;          /* continue from RUN_DIR's latest checkpoint (error if there is none) */
  bool resume_auto;     /* continue from it when there is one, else start fresh (systemd restarts) */
  const char *run_dir;  /* where metrics, checkpoints and logs go; NULL = [job] run_dir */
} zr_learner_opts;

/* Loads the model, tokenizer and tasks, binds the sockets, connects Redis and starts the
 * compute thread (which publishes version 0 or the resumed version). NULL with zr_errmsg(). */
zr_learner *zr_learner_new(uv_loop_t *loop, void *zmq_ctx, const zr_config *cfg, const zr_learner_opts *o);

/* Called once on the loop when the job is over (done, drained or failed). */
typedef void (*zr_learner_done_cb)(void *user, int exit_code);
void zr_learner_on_done(zr_learner *l, zr_learner_done_cb cb, void *user);

/* SIGTERM: see the top comment. A second call does nothing. */
void zr_learner_drain(zr_learner *l);
/* SIGHUP: re-reads the hot settings (max_staleness, lr, reward weights) from cfg. */
void zr_learner_reload(zr_learner *l, const zr_config *cfg);

/* Joins the compute thread and frees everything; keep running the loop afterwards so the
 * handles close. NULL-safe; clears *l. */
void zr_learner_free(zr_learner **l);

/* A rank > 0 of a data-parallel learner group ([learner] world_size > 1, rank > 0, mode rl):
 * joins rank 0 through Redis, loads the same weights and trains every batch rank 0 broadcasts
 * until rank 0 ends the job (learner_dist.c). Synchronous; returns the exit code: 0 when rank 0
 * ended cleanly, 1 on any failure (its own, rank 0's or a lost peer, with the reason logged). */
int zr_learner_run_rank(const zr_config *cfg, const zr_learner_opts *o);

/* Modes `sft` and `eval`, in process and synchronously. Returns the exit code (0 = done). */
int zr_learner_run_offline(const zr_config *cfg, const zr_learner_opts *o);

/* Evaluates the model in model_dir on the tasks JSONL task_path: k samples per task at
 * temperature (0 = greedy), scored by the reward scorer. The summary (per kind and "overall":
 * tasks, pass@1, pass@k, maj@k, response_len_mean, format_rate) goes to *result (caller
 * decrefs; may be NULL) and to out_path as JSON (NULL = no file). 0 or a negative code. */
int zr_learner_eval(const zr_config *cfg, const char *model_dir, const char *task_path, double temperature, int k,
                    const char *out_path, json_t **result);

#endif
