/* learner_dist.c: the data-parallel learner group (`--world-size N --rank R`, learner/comm.h).
 *
 * Rank 0 is the ordinary learner (hub, Redis, checkpoints, weight publishing, metrics); its
 * compute thread additionally broadcasts, through the comm, what the other ranks need:
 *   INIT  the checkpoint directory to start from ("" = [model] path), once, before loading;
 *   STEP  one RL batch (every sample's prompt and completion ids, behaviour log-probs, reward,
 *         group) and the base learning rate (hot reloads), before each zr_trainer_rl_step;
 *   END   the job's exit code, when rank 0 stops cleanly.
 * Ranks > 0 run zr_learner_run_rank: load the same weights and trainer state, check that their
 * parameters hash equal to rank 0's, then train every STEP with the same trainer (which shares
 * the sequences and averages gradients, trainer.h) until END. Any failure on any rank aborts the
 * comm, so the others fail loudly (never hang) within [learner] collective_timeout.
 *
 * The batch encoding is host-endian (every rank of a group runs the same build on the same
 * kind of machine): u32 n, f64 base_lr, then per sample i32 prompt_len, i32 completion_len,
 * i32 group, i32 has_behav, f64 reward, the prompt and completion ids (i32) and, when
 * has_behav, completion_len f32 behaviour log-probs. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/keys.h"
#include "common/log.h"
#include "learner/ckpt.h"
#include "learner/learner_internal.h"

enum { T_INIT = 1, T_STEP = 2, T_END = 3 };

int lr_comm_open(const zr_config *c, const char *job_id, zr_backend *be, zr_comm **out) {
  *out = NULL;
  if (!c->job.id[0])
    return zr_seterr(-EINVAL, "[learner] world_size %lld needs [job] id set (the ranks find each other under it)",
                     (long long)c->learner.world_size);
  if (c->algo.mode != 0)
    return zr_seterr(-ENOTSUP, "[learner] world_size %lld: only [algo] mode = rl trains with several ranks",
                     (long long)c->learner.world_size);
  char key[ZR_KEY_MAX];
  int rc = zr_key_job_dist(key, sizeof key, c->redis.prefix, job_id);
  if (rc < 0) return rc;
  zr_comm_opts o;
  zr_comm_opts_init(&o);
  o.rank = (int)c->learner.rank;
  o.world = (int)c->learner.world_size;
  o.key = key;
  o.redis_host = c->redis.host;
  o.redis_port = (int)c->redis.port;
  o.redis_socket = c->redis.socket;
  o.redis_user = c->redis.user;
  o.redis_password = c->redis.password;
  o.redis_db = (int)c->redis.db;
  o.host = c->learner.dist_host;
  o.timeout_ms = c->learner.collective_timeout_ms;
  o.be = be;
  return zr_comm_new(out, &o);
}

/* ---- the batch ----------------------------------------------------------------------------- */

typedef struct {
  uint8_t *p;
  size_t n, cap;
  bool oom;
} wbuf;

static void put(wbuf *b, const void *x, size_t n) {
  if (b->oom) return;
  if (b->n + n > b->cap) {
    size_t cap = (b->n + n) * 2 + 256;
    uint8_t *q = realloc(b->p, cap);
    if (!q) {
      b->oom = true;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, x, n);
  b->n += n;
}

int lr_dist_send_step(zr_learner *l, const zr_rl_sample *s, int n) {
  wbuf b = {0};
  uint32_t nn = (uint32_t)n;
  double lr = zr_trainer_config(l->trainer)->lr.base_lr;
  put(&b, &nn, sizeof nn);
  put(&b, &lr, sizeof lr);
  for (int i = 0; i < n; i++) {
    int32_t h[4] = {s[i].prompt_len, s[i].completion_len, s[i].group, s[i].behav_logp != NULL};
    put(&b, h, sizeof h);
    put(&b, &s[i].reward, sizeof s[i].reward);
    put(&b, s[i].prompt, (size_t)s[i].prompt_len * sizeof(int32_t));
    put(&b, s[i].completion, (size_t)s[i].completion_len * sizeof(int32_t));
    if (s[i].behav_logp) put(&b, s[i].behav_logp, (size_t)s[i].completion_len * sizeof(float));
  }
  if (b.oom) {
    free(b.p);
    return zr_seterr(-ENOMEM, "out of memory encoding a batch of %d samples for the other ranks", n);
  }
  uint32_t tag = T_STEP;
  void *data = b.p;
  size_t len = b.n;
  int rc = zr_comm_bcast(l->comm, &tag, &data, &len);
  free(b.p);
  return rc;
}

/* Decodes a STEP payload into samples that point into it. */
static int decode_step(const uint8_t *p, size_t len, zr_rl_sample **out, int *n_out, double *lr) {
  size_t o = 0;
#define TAKE(dst, sz)                                                                              \
  do {                                                                                             \
    if ((sz) > len - o) {                                                                          \
      free(s);                                                                                     \
      return zr_seterr(-EPROTO, "batch from rank 0: truncated at byte %zu of %zu", o, len);         \
    }                                                                                              \
    memcpy((dst), p + o, (sz));                                                                    \
    o += (sz);                                                                                     \
  } while (0)
  zr_rl_sample *s = NULL;
  uint32_t n;
  TAKE(&n, sizeof n);
  TAKE(lr, sizeof *lr);
  if (n == 0 || n > (uint32_t)INT_MAX / 2 || (size_t)n > len / 24)
    return zr_seterr(-EPROTO, "batch from rank 0: %u samples in %zu bytes", n, len);
  s = calloc(n, sizeof *s);
  if (!s) return zr_seterr(-ENOMEM, "out of memory for a batch of %u samples", n);
  for (uint32_t i = 0; i < n; i++) {
    int32_t h[4];
    TAKE(h, sizeof h);
    TAKE(&s[i].reward, sizeof s[i].reward);
    if (h[0] < 1 || h[1] < 1 || (size_t)h[0] + (size_t)h[1] > (len - o) / 4) {
      free(s);
      return zr_seterr(-EPROTO, "batch from rank 0: sample %u has lengths %d + %d", i, h[0], h[1]);
    }
    s[i].prompt_len = h[0];
    s[i].completion_len = h[1];
    s[i].group = h[2];
    s[i].prompt = (const int32_t *)(const void *)(p + o); /* 4-aligned: every field before is 4 or 8 bytes */
    o += (size_t)h[0] * 4;
    s[i].completion = (const int32_t *)(const void *)(p + o);
    o += (size_t)h[1] * 4;
    if (h[3]) {
      if ((size_t)h[1] * 4 > len - o) {
        free(s);
        return zr_seterr(-EPROTO, "batch from rank 0: sample %u: behaviour log-probs truncated", i);
      }
      s[i].behav_logp = (const float *)(const void *)(p + o);
      o += (size_t)h[1] * 4;
    }
  }
#undef TAKE
  *out = s;
  *n_out = (int)n;
  return 0;
}

/* ---- rank 0 ---------------------------------------------------------------------------------- */

int lr_dist_send_init(zr_learner *l, const char *ckpt) {
  char abs[PATH_MAX] = "";
  if (ckpt[0] && !realpath(ckpt, abs)) snprintf(abs, sizeof abs, "%s", ckpt);
  uint32_t tag = T_INIT;
  void *data = abs;
  size_t len = strlen(abs);
  return zr_comm_bcast(l->comm, &tag, &data, &len);
}

int lr_dist_check_weights(zr_comm *comm, zr_tf *policy) {
  uint64_t h = zr_comm_hash_floats(zr_tf_backend(policy), zr_tf_params(policy), zr_tf_n_floats(policy));
  return zr_comm_check_same(comm, h, "the policy weights (hash) at start");
}

void lr_dist_stop(zr_learner *l) {
  if (!l->comm) return;
  if (l->done_called && l->exit_code == 0 && !zr_comm_failed(l->comm, NULL, 0)) {
    int32_t code = 0;
    uint32_t tag = T_END;
    void *data = &code;
    size_t len = sizeof code;
    if (zr_comm_bcast(l->comm, &tag, &data, &len) < 0) ZR_WARN(LR_LOG, "telling the other ranks: %s", zr_errmsg());
    zr_comm_barrier(l->comm); /* they have heard it before the sockets close */
  } else if (!zr_comm_failed(l->comm, NULL, 0)) {
    char why[700];
    snprintf(why, sizeof why, "rank 0 stopped (exit code %d)%s%s", l->done_called ? l->exit_code : 1,
             zr_errmsg()[0] ? ": " : "", zr_errmsg());
    zr_comm_abort(l->comm, why);
  }
  zr_comm_free(&l->comm);
}

/* ---- ranks > 0 ------------------------------------------------------------------------------- */

int zr_learner_run_rank(const zr_config *c, const zr_learner_opts *o) {
  (void)o;
  const int rank = (int)c->learner.rank;
  zr_backend *be = NULL;
  zr_comm *comm = NULL;
  zr_tf *policy = NULL, *ref = NULL;
  zr_trainer *tr = NULL;
  void *data = NULL;
  int rc, code = 1;
  if ((rc = lr_backend_new(c, &be)) < 0) goto out;
  if ((rc = lr_comm_open(c, c->job.id, be, &comm)) < 0) goto out;
  ZR_INFO(LR_LOG, "rank %d of %lld: gradients over %s", rank, (long long)c->learner.world_size,
          zr_comm_transport(comm));
  uint32_t tag = 0;
  size_t len = 0;
  if ((rc = zr_comm_bcast(comm, &tag, &data, &len)) < 0) goto out;
  if (tag == T_END) { /* rank 0 ended before it started training */
    code = 0;
    goto out;
  }
  if (tag != T_INIT) {
    rc = zr_seterr(-EPROTO, "rank %d: expected the start message from rank 0, got tag %u", rank, tag);
    goto out;
  }
  char ckpt[4096];
  snprintf(ckpt, sizeof ckpt, "%.*s", (int)len, data ? (const char *)data : "");
  free(data);
  data = NULL;
  zr_trainer_cfg tc;
  if ((rc = lr_trainer_cfg(c, &tc)) < 0) goto out;
  tc.world_size = (int)c->learner.world_size;
  tc.comm = comm;
  if ((rc = zr_tf_load(&policy, ckpt[0] ? ckpt : c->model.path, be)) < 0) goto out;
  if (tc.loss.kl != ZR_KL_NONE &&
      (rc = zr_tf_load(&ref, c->model.ref_path[0] ? c->model.ref_path : c->model.path, be)) < 0)
    goto out;
  if ((rc = zr_trainer_new(&tr, policy, ref, &tc)) < 0) goto out;
  if (ckpt[0]) {
    if ((rc = zr_trainer_load_state(tr, ckpt)) < 0) goto out;
  } else if (c->model.optimizer_from[0] && (rc = zr_trainer_load_moments(tr, c->model.optimizer_from)) < 0) {
    goto out;
  }
  if ((rc = lr_dist_check_weights(comm, policy)) < 0) goto out;
  ZR_INFO(LR_LOG, "rank %d: ready at step %lld (%s)", rank, (long long)zr_trainer_step_count(tr),
          ckpt[0] ? ckpt : c->model.path);
  for (;;) {
    if ((rc = zr_comm_bcast(comm, &tag, &data, &len)) < 0) goto out;
    if (tag == T_END) {
      int32_t rc0 = 1;
      if (len == sizeof rc0) memcpy(&rc0, data, sizeof rc0);
      zr_comm_barrier(comm);
      ZR_INFO(LR_LOG, "rank %d: rank 0 ended the job (exit code %d) at step %lld", rank, rc0,
              (long long)zr_trainer_step_count(tr));
      code = rc0 == 0 ? 0 : 1;
      rc = 0;
      goto out;
    }
    if (tag != T_STEP) {
      rc = zr_seterr(-EPROTO, "rank %d: unknown message tag %u from rank 0", rank, tag);
      goto out;
    }
    zr_rl_sample *s = NULL;
    int n = 0;
    double lr = 0;
    if ((rc = decode_step(data, len, &s, &n, &lr)) < 0) goto out;
    if (lr != zr_trainer_config(tr)->lr.base_lr) zr_trainer_set_lr(tr, lr);
    zr_step_metrics m;
    rc = zr_trainer_rl_step(tr, s, n, &m);
    free(s);
    free(data);
    data = NULL;
    if (rc == -ERANGE) ZR_WARN(LR_LOG, "rank %d: step skipped: %s", rank, zr_errmsg());
    else if (rc < 0) goto out;
    else ZR_DEBUG(LR_LOG, "rank %d: step %lld", rank, (long long)m.step);
  }
out:
  if (rc < 0) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", zr_errmsg());
    ZR_ERROR(LR_LOG, "rank %d: %s", rank, msg);
    if (comm && !zr_comm_failed(comm, NULL, 0)) zr_comm_abort(comm, msg);
    zr_seterr(rc, "%s", msg);
    code = 1;
  }
  free(data);
  zr_trainer_free(&tr);
  zr_tf_free(&ref);
  zr_tf_free(&policy);
  zr_comm_free(&comm);
  zr_backend_free(&be);
  return code;
}
