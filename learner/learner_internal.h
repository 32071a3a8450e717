/* learner_internal.h: the learner daemon's state, shared by learner.c (lifecycle, timers,
 * Redis), learner_net.c (messages), learner_compute.c (the compute thread) and learner_job.c
 * (tasks, prompts and run-directory files). Not a public interface. */
#ifndef ZR_LEARNER_INTERNAL_H
#define ZR_LEARNER_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>

#include "common/frame.h"
#include "common/heartbeat.h"
#include "common/keys.h"
#include "common/redis.h"
#include "common/util.h"
#include "common/zsock.h"
#include "learner/hub.h"
#include "learner/learner.h"
#include "learner/tasks.h"
#include "learner/trainer.h"
#include "learner/wpub.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "zerorl.pb-c.h"

#define LR_LOG "learner"
#define LR_MAX_COMPONENTS 8  /* reward component names the learner tracks (first seen first) */
#define LR_MAX_STOPS 8

/* A rollout the hub holds: the decoded message and, once scored, nothing more (rewards and
 * component values live in the hub). */
typedef struct {
  Zerorl__Rollout *r;
} lr_payload;

/* A connected worker, by ROUTER identity. */
typedef struct lr_peer {
  struct lr_peer *next;
  uint8_t ident[256];
  size_t ident_len;
  char worker_id[80];
  int role;              /* ZERORL__ROLE__ROLE_ACTOR / _REWARD */
  int64_t credit;        /* reward worker: rollouts it can take now */
  int64_t slots;         /* reward worker: the most free capacity it ever stated (its slots) */
  int64_t outstanding;   /* reward worker: score requests sent and not answered */
  uint64_t last_seen_ms;
  uint64_t policy_version;
  uint64_t rollouts, scored;
  uint32_t want;         /* actor: groups asked for and not granted (admission was full) */
} lr_peer;

/* Work for the compute thread, and its answer. */
typedef enum { CJ_RL_STEP = 1, CJ_CHECKPOINT } lr_cjob_kind;
typedef struct {
  lr_cjob_kind kind;
  zr_hub_group *groups; /* CJ_RL_STEP: owned; released on the loop after the step */
  int n_groups;
  int64_t batch;        /* its number */
  json_t *state;        /* hub trained set + data cursor at the time the batch was formed */
  /* results */
  int rc;
  char err[512];
  zr_step_metrics m;
  zr_wversion *wv;      /* the new weight version (ownership goes to the publisher) */
  char ckpt_dir[4096];  /* non-empty when a checkpoint was written */
  int64_t step;
  bool recorded;        /* its groups are in trained.jsonl (written before any checkpoint) */
} lr_cjob;

/* Per-task prompt ids, tokenized once on first use. */
typedef struct {
  int32_t *ids;
  int n;
  char *text;
} lr_prompt;

struct zr_learner {
  uv_loop_t *loop;
  void *zctx;
  const zr_config *cfg;
  char job_id[80], sender_id[ZR_ID_HEX_LEN + 1], prefix[80];
  char run_dir[4096];
  char model_dir[4096];
  char ep_chunks[1100];  /* the chunk endpoint as actors reach it */
  char ep_work[1100], ep_announce[1100]; /* the other two, as clients reach them */
  bool resume, resume_auto;

  zr_zsock *work, *announce, *weights;
  zr_redis *redis;
  zr_redis_listener redis_listener;
  zr_heartbeat *hb;
  zr_hub *hub;
  zr_wpub *wpub;
  zr_frame_limits limits;

  /* data */
  zr_tok *tok;
  zr_tok_encoder *enc;
  zr_taskset *tasks;
  zr_dataset ds;
  lr_prompt *prompts;      /* [task count] */
  char *stops[LR_MAX_STOPS];
  int n_stops;
  uint64_t sample_seed;
  int vocab;

  /* hot settings (SIGHUP): read by the loop; new_lr is handed to the compute thread under mu */
  double w_accuracy, w_format;
  double new_lr; /* > 0: apply before the next step */

  /* reward component names, in order of first appearance */
  char comp_names[LR_MAX_COMPONENTS][32];
  int n_comp;

  /* peers and counters */
  lr_peer *peers;
  uint64_t dropped_bad, dropped_by_reason[16];
  uint64_t grants, rollouts_in, scores_out, scores_in;

  /* batch being assembled on the loop */
  zr_hub_group *pending_groups;
  int n_pending, cap_pending;
  uint64_t batch_started_ms;

  /* state */
  zr_job_state state;
  uint64_t version;       /* newest published policy version */
  int64_t step;           /* optimizer steps done */
  int64_t batches;        /* batches handed to the trainer (numbered from 1 in trained.jsonl) */
  uint64_t started_wall_ms;
  bool draining, finishing, done_called, data_done, awaiting_redis;
  uint64_t final_deadline_ms;
  uint64_t drain_deadline_ms;
  int exit_code;
  zr_learner_done_cb done_cb;
  void *done_user;
  FILE *metrics;
  FILE *trained;   /* RUN/trained.jsonl: one line per group handed to the trainer */
  FILE *accepted;  /* rejection-sample: RUN/accepted.jsonl, correct completions */

  uv_timer_t tick_timer, announce_timer, mirror_timer;
  uv_async_t async;
  int handles_open;

  /* compute thread */
  pthread_t thread;
  bool thread_started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  lr_cjob *cj_todo, *cj_done;
  bool cj_busy, stop_thread;
  zr_backend *be;
  zr_tf *policy, *ref;
  zr_trainer *trainer;
  zr_wversion *initial_wv;
  int64_t ckpt_batch; /* compute thread: the batch of the last checkpoint */
  zr_comm *comm;      /* [learner] world_size > 1: the group (rank 0 here); used by the compute thread */
};

/* learner_job.c */
int lr_load_data(zr_learner *l);
const lr_prompt *lr_prompt_of(zr_learner *l, size_t task_index);
int lr_fill_verifier(zr_learner *l, const zr_task *t, Zerorl__VerifierSpec *v, Zerorl__RewardWeight *w,
                     Zerorl__RewardWeight **wp);
int lr_next_task(void *user, zr_hub_task *out);
void lr_free_payload(void *user, void *payload);
json_t *lr_snapshot_state(zr_learner *l);
uint64_t lr_config_digest(const zr_config *c);
int lr_trim_trained(zr_learner *l);
int lr_restore_state(zr_learner *l, const char *ckpt_dir);
void lr_write_metrics(zr_learner *l, const lr_cjob *j);
void lr_write_groups(zr_learner *l, const zr_hub_group *g, int n, int64_t step, int64_t batch);
int lr_comp_index(zr_learner *l, const char *name);
int lr_trainer_cfg(const zr_config *c, zr_trainer_cfg *tc);

/* learner_net.c */
void lr_on_work(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user);
void lr_on_weights(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user);
void lr_announce(zr_learner *l);
void lr_dispatch_scores(zr_learner *l);
void lr_serve_waiting_actors(zr_learner *l);
void lr_expire_peers(zr_learner *l, uint64_t now);
void lr_peers_free(zr_learner *l);

/* learner_compute.c */
int lr_backend_new(const zr_config *c, zr_backend **be);
int lr_compute_start(zr_learner *l);
void lr_compute_stop(zr_learner *l);
int lr_compute_submit(zr_learner *l, lr_cjob *j); /* -EBUSY while a job runs */

/* learner_dist.c (world_size > 1) */
int lr_comm_open(const zr_config *c, const char *job_id, zr_backend *be, zr_comm **out);
int lr_dist_send_init(zr_learner *l, const char *ckpt);
int lr_dist_send_step(zr_learner *l, const zr_rl_sample *s, int n);
int lr_dist_check_weights(zr_comm *comm, zr_tf *policy);
void lr_dist_stop(zr_learner *l); /* END (clean) or ABORT to the other ranks; frees the comm */

/* learner.c */
void lr_event(zr_learner *l, const char *kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void lr_maybe_train(zr_learner *l);
void lr_count_bad(zr_learner *l, const char *peer, const char *reason, const char *detail);

#endif
