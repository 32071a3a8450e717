/* learner_compute.c: the learner's compute thread. It owns the backend, the policy and
 * reference models and the trainer; the loop hands it one job at a time (an RL step on a batch
 * of scored groups, or a checkpoint) under the mutex and hears back through l->async. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "learner/ckpt.h"
#include "learner/learner_internal.h"
#ifdef ZERORL_HAVE_CUDA
#include "cuda/backend_cuda.h"
#endif

/* [model] backend: cpu (with [model] threads) or cuda (device [model] device, GEMMs in [model] dtype). */
int lr_backend_new(const zr_config *c, zr_backend **be) {
  if (strcmp(c->model.backend, "cpu") == 0) return zr_backend_cpu_new(be, (int)c->model.threads);
  if (strcmp(c->model.backend, "cuda") == 0) {
#ifdef ZERORL_HAVE_CUDA
    int rc = zr_backend_cuda_new(be, (int)c->model.device);
    if (rc == 0 && c->model.dtype == 1 && (rc = zr_backend_cuda_set_bf16(*be, true)) < 0) /* [model] dtype = bf16 */
      zr_backend_free(be);
    return rc;
#else
    return zr_seterr(-ENOTSUP, "[model] backend = cuda: this build has no CUDA support (rebuild with -DZERORL_CUDA=ON "
                               "on a machine with nvcc), or use cpu");
#endif
  }
  return zr_seterr(-EINVAL, "[model] backend = %s: expected cpu or cuda", c->model.backend);
}

static zr_dtype publish_dtype(const zr_learner *l) { return l->cfg->learner.publish_dtype == 1 ? ZR_DT_BF16 : ZR_DT_F32; }

typedef struct {
  zr_learner *l;
  const json_t *state;
} extra_ctx;

/* Writes the trainer's state and the learner's (trained set, cursor, version) next to the
 * weights of a checkpoint. */
static int save_extra(void *user, const char *dir) {
  extra_ctx *x = user;
  int rc = zr_trainer_save_state(x->l->trainer, dir);
  if (rc < 0) return rc;
  if (!x->state) return 0;
  char path[4200];
  snprintf(path, sizeof path, "%s/learner_state.json", dir);
  if (json_dump_file(x->state, path, JSON_COMPACT) != 0)
    return zr_seterr(-EIO, "cannot write %s", path);
  return 0;
}

static void checkpoint(zr_learner *l, lr_cjob *j) {
  extra_ctx x = {l, j->state};
  int rc = zr_ckpt_save(l->run_dir, zr_trainer_step_count(l->trainer), l->policy, l->model_dir, save_extra, &x,
                        (int)l->cfg->learner.keep_checkpoints, j->ckpt_dir, sizeof j->ckpt_dir);
  if (rc < 0) {
    j->ckpt_dir[0] = '\0';
    if (!j->rc) {
      j->rc = rc;
      snprintf(j->err, sizeof j->err, "checkpoint: %s", zr_errmsg());
    }
  }
}

static void rl_step(zr_learner *l, lr_cjob *j) {
  int n = 0;
  for (int g = 0; g < j->n_groups; g++) n += (int)j->groups[g].group_size;
  zr_rl_sample *s = calloc((size_t)(n ? n : 1), sizeof *s);
  int32_t **bufs = calloc((size_t)(n ? n : 1), sizeof *bufs);
  if (!s || !bufs) {
    j->rc = -ENOMEM;
    snprintf(j->err, sizeof j->err, "out of memory for a batch of %d samples", n);
    goto out;
  }
  int k = 0;
  for (int g = 0; g < j->n_groups; g++) {
    const zr_hub_group *grp = &j->groups[g];
    for (uint32_t i = 0; i < grp->group_size; i++, k++) {
      const Zerorl__Rollout *r = ((const lr_payload *)grp->payloads[i])->r;
      size_t np = r->n_prompt_ids, nc = r->n_completion_ids;
      bufs[k] = malloc((np + nc) * sizeof(int32_t));
      if (!bufs[k]) {
        j->rc = -ENOMEM;
        snprintf(j->err, sizeof j->err, "out of memory");
        goto out;
      }
      for (size_t t = 0; t < np; t++) bufs[k][t] = (int32_t)r->prompt_ids[t];
      for (size_t t = 0; t < nc; t++) bufs[k][np + t] = (int32_t)r->completion_ids[t];
      s[k] = (zr_rl_sample){.prompt = bufs[k],
                            .prompt_len = (int)np,
                            .completion = bufs[k] + np,
                            .completion_len = (int)nc,
                            .behav_logp = r->logprobs,
                            .reward = grp->rewards[i],
                            .group = g};
    }
  }
  int rc = l->comm ? lr_dist_send_step(l, s, n) : 0; /* the other ranks train on the same batch */
  if (rc < 0) {
    j->rc = rc;
    snprintf(j->err, sizeof j->err, "training step: %s", zr_errmsg());
    goto out;
  }
  rc = zr_trainer_rl_step(l->trainer, s, n, &j->m);
  if (rc == -ERANGE) {
    ZR_WARN(LR_LOG, "step skipped: %s", zr_errmsg());
  } else if (rc < 0) {
    j->rc = rc;
    snprintf(j->err, sizeof j->err, "training step: %s", zr_errmsg());
    goto out;
  }
  j->step = zr_trainer_step_count(l->trainer);
  uint64_t version = l->version + 1; /* the loop publishes it when this job comes back */
  rc = zr_wversion_build(&j->wv, l->policy, version, (uint64_t)j->step, publish_dtype(l),
                         (uint32_t)l->cfg->learner.chunk_bytes);
  if (rc < 0) {
    j->rc = rc;
    snprintf(j->err, sizeof j->err, "weight version %llu: %s", (unsigned long long)version, zr_errmsg());
    goto out;
  }
  /* the batch's record goes to trained.jsonl before a checkpoint can claim its groups as trained:
   * a crash between the two must not leave trained groups without their lines (the loop thread
   * writes nothing to trained.jsonl while a job runs) */
  lr_write_groups(l, j->groups, j->n_groups, j->step, j->batch);
  j->recorded = true;
  /* every N optimizer steps, and every N batches that changed nothing (all groups skipped), so
   * that a crash never loses more than N batches of consumed work */
  int64_t every = l->cfg->learner.checkpoint_every;
  bool stepped = j->step > l->step;
  if (j->state)
    json_object_set_new(j->state, "policy_version", json_integer((json_int_t)(stepped ? version : l->version)));
  if (every > 0 && j->state && ((stepped && j->step / every != l->step / every) || j->batch - l->ckpt_batch >= every)) {
    if (l->trained && fflush(l->trained) == 0) fdatasync(fileno(l->trained)); /* the lines first */
    checkpoint(l, j);
    if (j->ckpt_dir[0]) l->ckpt_batch = j->batch;
  }
out:
  for (int i = 0; bufs && i < n; i++) free(bufs[i]);
  free(bufs);
  free(s);
}

static void *compute_main(void *arg) {
  zr_learner *l = arg;
  pthread_mutex_lock(&l->mu);
  for (;;) {
    while (!l->cj_todo && !l->stop_thread) pthread_cond_wait(&l->cv, &l->mu);
    if (!l->cj_todo) break;
    lr_cjob *j = l->cj_todo;
    l->cj_todo = NULL;
    double lr = l->new_lr;
    l->new_lr = 0;
    pthread_mutex_unlock(&l->mu);
    if (lr > 0 && zr_trainer_set_lr(l->trainer, lr) < 0) ZR_WARN(LR_LOG, "reload: %s", zr_errmsg());
    if (j->kind == CJ_RL_STEP) rl_step(l, j);
    else checkpoint(l, j);
    pthread_mutex_lock(&l->mu);
    l->cj_done = j;
    uv_async_send(&l->async);
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

/* Loads the models and the trainer (resuming from RUN_DIR's latest checkpoint when asked),
 * builds the first weight version and starts the thread. On the loop thread, before any
 * message is handled. */
int lr_compute_start(zr_learner *l) {
  const zr_config *c = l->cfg;
  int rc;
  if ((rc = lr_backend_new(c, &l->be)) < 0) return rc;
  if (c->learner.world_size > 1) { /* rank 0 of a group: wait for the other ranks */
    if ((rc = lr_comm_open(c, l->job_id, l->be, &l->comm)) < 0) return rc;
    ZR_INFO(LR_LOG, "rank 0 of %lld: gradients over %s", (long long)c->learner.world_size, zr_comm_transport(l->comm));
  }
  char ckpt[4096] = "";
  if (l->resume || l->resume_auto) {
    if ((rc = zr_ckpt_latest(l->run_dir, ckpt, sizeof ckpt)) < 0 && !l->resume_auto)
      return zr_seterr(rc, "--resume: no checkpoint in %s/%s", l->run_dir, ZR_CKPT_SUBDIR);
    if (rc < 0) ckpt[0] = '\0';
  }
  if (l->comm && (rc = lr_dist_send_init(l, ckpt)) < 0) return rc;
  if ((rc = zr_tf_load(&l->policy, ckpt[0] ? ckpt : l->model_dir, l->be)) < 0) return rc;
  l->vocab = zr_tf_config(l->policy)->vocab_size;
  zr_trainer_cfg tc;
  if ((rc = lr_trainer_cfg(c, &tc)) < 0) return rc;
  tc.world_size = (int)c->learner.world_size;
  tc.comm = l->comm;
  if (tc.loss.kl != ZR_KL_NONE) {
    const char *ref = c->model.ref_path[0] ? c->model.ref_path : l->model_dir;
    if ((rc = zr_tf_load(&l->ref, ref, l->be)) < 0) return rc;
  }
  if ((rc = zr_trainer_new(&l->trainer, l->policy, l->ref, &tc)) < 0) return rc;
  if (!ckpt[0] && c->model.optimizer_from[0]) {
    if ((rc = zr_trainer_load_moments(l->trainer, c->model.optimizer_from)) < 0)
      return zr_seterr(rc, "[model] optimizer_from: %s", zr_errmsg());
    ZR_INFO(LR_LOG, "AdamW moments from %s", c->model.optimizer_from);
  }
  if (ckpt[0]) {
    if ((rc = zr_trainer_load_state(l->trainer, ckpt)) < 0) return rc;
    if ((rc = lr_restore_state(l, ckpt)) < 0) return rc;
    l->step = zr_trainer_step_count(l->trainer);
    ZR_INFO(LR_LOG, "resumed from %s: step %lld, policy version %llu", ckpt, (long long)l->step,
            (unsigned long long)l->version);
    l->ckpt_batch = l->batches;
    if ((rc = lr_trim_trained(l)) < 0) return rc;
  } else {
    l->batches = 0; /* a fresh start: groups a dead run consumed are trained again, drop their records */
    if ((rc = lr_trim_trained(l)) < 0) return rc;
  }
  if (l->comm && (rc = lr_dist_check_weights(l->comm, l->policy)) < 0) return rc;
  if ((rc = zr_wversion_build(&l->initial_wv, l->policy, l->version, (uint64_t)l->step, publish_dtype(l),
                              (uint32_t)c->learner.chunk_bytes)) < 0)
    return rc;
  if (pthread_create(&l->thread, NULL, compute_main, l) != 0) return zr_seterr(-EAGAIN, "cannot start the compute thread");
  l->thread_started = true;
  return 0;
}

int lr_compute_submit(zr_learner *l, lr_cjob *j) {
  if (l->cj_busy) return -EBUSY;
  pthread_mutex_lock(&l->mu);
  l->cj_todo = j;
  l->cj_busy = true;
  pthread_cond_signal(&l->cv);
  pthread_mutex_unlock(&l->mu);
  return 0;
}

void lr_compute_stop(zr_learner *l) {
  if (l->thread_started) {
    pthread_mutex_lock(&l->mu);
    l->stop_thread = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    l->thread_started = false;
  }
  lr_dist_stop(l);
  zr_trainer_free(&l->trainer);
  zr_tf_free(&l->ref);
  zr_tf_free(&l->policy);
  zr_backend_free(&l->be);
  zr_wversion_free(&l->initial_wv);
}
