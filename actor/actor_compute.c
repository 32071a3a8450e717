/* actor_compute.c: the actor's compute thread (see actor.h): it owns the engine and, while the
 * actor lives, the model; takes commands from the loop, steps the engine while there is work,
 * applies weight versions between steps and hands finished samples back through a uv_async_t. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "actor/actor.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"

#define COMP "actor"

typedef enum { CMD_SUBMIT, CMD_CANCEL, CMD_APPLY, CMD_ADMIT } cmd_kind;

typedef struct cmd {
  struct cmd *next;
  cmd_kind kind;
  zr_engine_request req; /* CMD_SUBMIT: prompt and stop strings owned below */
  int32_t *prompt;
  char **stop;
  uint64_t req_id; /* CMD_CANCEL */
  zr_wready *ready;
  bool admit;
} cmd;

struct zr_acompute {
  zr_tf *m;
  zr_engine *e;
  bool inflight;
  uv_async_t *notify;
  pthread_t thread;
  bool started;

  pthread_mutex_t mu;
  pthread_cond_t cv;
  cmd *cmds, **cmds_tail;        /* under mu */
  int n_cmds;                    /* under mu */
  zr_acompute_out *outs, **outs_tail; /* under mu */
  zr_acompute_snap snap;         /* under mu */
  bool stop;                     /* under mu */

  /* thread only */
  zr_wready *ready; /* a version waiting to be applied */
  bool user_admit;
  uint64_t applied;
  double busy_ms, idle_ms, apply_ms; /* since the first command */
  bool started_work;
};

static void cmd_free(cmd *c) {
  if (!c) return;
  free(c->prompt);
  if (c->stop)
    for (int i = 0; i < c->req.n_stop; i++) free(c->stop[i]);
  free(c->stop);
  if (c->ready) zr_wready_free(&c->ready);
  free(c);
}

void zr_acompute_out_free(zr_acompute_out *o) {
  while (o) {
    zr_acompute_out *nx = o->next;
    free(o->tokens);
    free(o->logprobs);
    free(o->versions);
    free(o->text);
    free(o);
    o = nx;
  }
}

static zr_acompute_out *copy_out(const zr_engine_output *eo) {
  zr_acompute_out *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  int n = eo->n_tokens > 0 ? eo->n_tokens : 0;
  o->req_id = eo->req_id;
  o->sample_index = eo->sample_index;
  o->n_tokens = n;
  o->finish = eo->finish;
  o->queue_ms = eo->queue_ms;
  o->generate_ms = eo->generate_ms;
  o->tokens = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
  o->logprobs = malloc(sizeof(float) * (size_t)(n ? n : 1));
  o->versions = malloc(sizeof(uint64_t) * (size_t)(n ? n : 1));
  size_t tl = eo->text ? eo->text_len : 0;
  o->text = malloc(tl + 1);
  if (!o->tokens || !o->logprobs || !o->versions || !o->text) {
    zr_acompute_out_free(o);
    return NULL;
  }
  if (n) {
    memcpy(o->tokens, eo->tokens, sizeof(int32_t) * (size_t)n);
    memcpy(o->versions, eo->versions, sizeof(uint64_t) * (size_t)n);
    for (int i = 0; i < n; i++) {
      float lp = eo->logprobs[i];
      /* the wire demands finite log-probs <= 0 */
      if (!isfinite(lp)) lp = lp > 0 ? 0.0f : -1e30f;
      o->logprobs[i] = lp > 0 ? 0.0f : lp;
    }
  }
  if (tl) memcpy(o->text, eo->text, tl);
  o->text[tl] = '\0';
  return o;
}

static zr_acompute_out *error_out(uint64_t req_id, int err) {
  zr_acompute_out *o = calloc(1, sizeof *o);
  if (o) {
    o->req_id = req_id;
    o->error = err < 0 ? err : -EINVAL;
  }
  return o;
}

static void apply_ready(zr_acompute *c) {
  uint64_t t0 = zr_clock_mono_ns();
  uint64_t v = zr_wready_version(c->ready);
  int rc = zr_wready_apply(c->ready, c->m);
  if (rc < 0) {
    ZR_ERROR(COMP, "applying weight version %llu failed: %s; still running version %llu", (unsigned long long)v,
             zr_errmsg(), (unsigned long long)zr_engine_version(c->e));
  } else {
    zr_engine_set_version(c->e, v);
    c->applied++;
    ZR_INFO(COMP, "applied weight version %llu", (unsigned long long)v);
  }
  zr_wready_free(&c->ready);
  c->apply_ms += (double)(zr_clock_mono_ns() - t0) / 1e6;
}

static void *thread_main(void *arg) {
  zr_acompute *c = arg;
  bool work = false;
  pthread_mutex_lock(&c->mu);
  for (;;) {
    uint64_t w0 = zr_clock_mono_ns();
    while (!c->stop && !c->cmds && !work) pthread_cond_wait(&c->cv, &c->mu);
    if (c->stop) break;
    if (c->started_work) c->idle_ms += (double)(zr_clock_mono_ns() - w0) / 1e6;
    c->started_work = true;
    cmd *list = c->cmds;
    c->cmds = NULL;
    c->cmds_tail = &c->cmds;
    c->n_cmds = 0;
    pthread_mutex_unlock(&c->mu);

    zr_acompute_out *outs = NULL, **otail = &outs;
    while (list) {
      cmd *k = list;
      list = k->next;
      switch (k->kind) {
      case CMD_SUBMIT: {
        int rc = zr_engine_submit(c->e, &k->req);
        if (rc < 0) {
          ZR_WARN(COMP, "request %llu refused by the engine: %s", (unsigned long long)k->req.req_id, zr_errmsg());
          zr_acompute_out *o = error_out(k->req.req_id, rc);
          if (o) *otail = o, otail = &o->next;
        }
        break;
      }
      case CMD_CANCEL: zr_engine_cancel(c->e, k->req_id); break;
      case CMD_APPLY:
        if (c->ready) zr_wready_free(&c->ready); /* superseded before it was applied */
        c->ready = k->ready;
        k->ready = NULL;
        break;
      case CMD_ADMIT: c->user_admit = k->admit; break;
      }
      cmd_free(k);
    }

    zr_engine_stats_t st;
    zr_engine_stats(c->e, &st);
    if (c->ready && (c->inflight || st.active == 0)) apply_ready(c);
    /* finish mode: no admission while a version waits for the running sequences to end */
    zr_engine_set_admit(c->e, c->user_admit && !c->ready);

    uint64_t s0 = zr_clock_mono_ns();
    int n = zr_engine_step(c->e);
    c->busy_ms += (double)(zr_clock_mono_ns() - s0) / 1e6;
    if (n < 0) ZR_ERROR(COMP, "engine step failed: %s (its sequences are dropped)", zr_errmsg());
    zr_engine_output eo;
    while (zr_engine_poll(c->e, &eo) == 1) {
      zr_acompute_out *o = copy_out(&eo);
      if (!o) {
        ZR_ERROR(COMP, "out of memory copying a finished sample of request %llu", (unsigned long long)eo.req_id);
        o = error_out(eo.req_id, -ENOMEM);
      }
      if (o) *otail = o, otail = &o->next;
    }
    zr_engine_stats(c->e, &st);
    work = n > 0 || (c->ready != NULL);

    pthread_mutex_lock(&c->mu);
    if (outs) {
      *c->outs_tail = outs;
      c->outs_tail = otail;
    }
    c->snap.active = st.active;
    c->snap.queued_samples = st.queued_samples;
    c->snap.admitting = st.admitting;
    c->snap.version = st.version;
    c->snap.tokens_generated = st.tokens_generated;
    c->snap.decode_steps = st.decode_steps;
    c->snap.occupancy_sum = st.occupancy_sum;
    c->snap.applied = c->applied;
    c->snap.pending_cmds = c->n_cmds;
    c->snap.busy_ms = c->busy_ms;
    c->snap.idle_ms = c->idle_ms;
    c->snap.apply_ms = c->apply_ms;
    uv_async_send(c->notify);
  }
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

int zr_acompute_new(zr_acompute **out, zr_tf *m, const zr_tok *tok, const zr_engine_cfg *cfg, bool update_inflight,
                    uv_async_t *notify) {
  *out = NULL;
  zr_acompute *c = calloc(1, sizeof *c);
  if (!c) return zr_seterr(-ENOMEM, "out of memory");
  int rc = zr_engine_new(&c->e, m, tok, cfg);
  if (rc < 0) {
    free(c);
    return rc;
  }
  c->m = m;
  c->inflight = update_inflight;
  c->notify = notify;
  c->user_admit = true;
  c->cmds_tail = &c->cmds;
  c->outs_tail = &c->outs;
  c->snap.admitting = true;
  c->snap.version = cfg->initial_version;
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  if (pthread_create(&c->thread, NULL, thread_main, c) != 0) {
    zr_engine_free(&c->e);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
    return zr_seterr(-EAGAIN, "cannot start the compute thread");
  }
  c->started = true;
  *out = c;
  return 0;
}

void zr_acompute_free(zr_acompute **pc) {
  zr_acompute *c = pc ? *pc : NULL;
  if (!c) return;
  *pc = NULL;
  pthread_mutex_lock(&c->mu);
  c->stop = true;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  if (c->started) pthread_join(c->thread, NULL);
  for (cmd *k = c->cmds, *nx; k; k = nx) {
    nx = k->next;
    cmd_free(k);
  }
  zr_acompute_out_free(c->outs);
  if (c->ready) zr_wready_free(&c->ready);
  zr_engine_free(&c->e);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  free(c);
}

static void push(zr_acompute *c, cmd *k) {
  pthread_mutex_lock(&c->mu);
  *c->cmds_tail = k;
  c->cmds_tail = &k->next;
  c->n_cmds++;
  c->snap.pending_cmds = c->n_cmds;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

int zr_acompute_submit(zr_acompute *c, const zr_engine_request *r) {
  cmd *k = calloc(1, sizeof *k);
  if (!k) return zr_seterr(-ENOMEM, "out of memory");
  k->kind = CMD_SUBMIT;
  k->req = *r;
  k->prompt = malloc(sizeof(int32_t) * (size_t)(r->prompt_len > 0 ? r->prompt_len : 1));
  if (!k->prompt) goto oom;
  if (r->prompt_len > 0) memcpy(k->prompt, r->prompt, sizeof(int32_t) * (size_t)r->prompt_len);
  k->req.prompt = k->prompt;
  k->req.n_stop = 0;
  k->req.stop = NULL;
  if (r->n_stop > 0) {
    k->stop = calloc((size_t)r->n_stop, sizeof *k->stop);
    if (!k->stop) goto oom;
    for (int i = 0; i < r->n_stop; i++) {
      if (!(k->stop[i] = strdup(r->stop[i] ? r->stop[i] : ""))) goto oom;
      k->req.n_stop = i + 1;
    }
    k->req.stop = (const char *const *)k->stop;
  }
  push(c, k);
  return 0;
oom:
  cmd_free(k);
  return zr_seterr(-ENOMEM, "out of memory");
}

void zr_acompute_cancel(zr_acompute *c, uint64_t req_id) {
  cmd *k = calloc(1, sizeof *k);
  if (!k) {
    ZR_ERROR(COMP, "out of memory: cannot cancel request %llu", (unsigned long long)req_id);
    return;
  }
  k->kind = CMD_CANCEL;
  k->req_id = req_id;
  push(c, k);
}

void zr_acompute_apply(zr_acompute *c, zr_wready *r) {
  cmd *k = calloc(1, sizeof *k);
  if (!k) {
    ZR_ERROR(COMP, "out of memory: weight version %llu not applied", (unsigned long long)zr_wready_version(r));
    zr_wready_free(&r);
    return;
  }
  k->kind = CMD_APPLY;
  k->ready = r;
  push(c, k);
}

void zr_acompute_set_admit(zr_acompute *c, bool admit) {
  cmd *k = calloc(1, sizeof *k);
  if (!k) return;
  k->kind = CMD_ADMIT;
  k->admit = admit;
  push(c, k);
}

zr_acompute_out *zr_acompute_take(zr_acompute *c, zr_acompute_snap *snap) {
  pthread_mutex_lock(&c->mu);
  zr_acompute_out *o = c->outs;
  c->outs = NULL;
  c->outs_tail = &c->outs;
  if (snap) *snap = c->snap;
  pthread_mutex_unlock(&c->mu);
  return o;
}
