/* actor_compute.c: the actor's compute thread (see actor.h): it owns the engine and, while the
 * actor lives, the model; takes commands from the loop, steps the engine while there is work,
 * applies weight versions between steps and hands finished samples back through a uv_async_t.
 *
 * The engine is a seam: the model engine (actor/engine.h) or, with `[actor] engine = sim`, the
 * simulated one (actor/sim_engine.h), behind the eng_* wrappers below. Everything else - the
 * commands, admission, version changes, outputs, snapshots - is the same for both. The one
 * difference in the loop: the simulated engine's samples finish at wall-clock times, so while
 * they run the thread sleeps until the next one is due (or a command arrives) instead of
 * stepping back to back. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actor/actor.h"
#include "actor/sim_engine.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"

#define COMP "actor"

typedef enum { CMD_SUBMIT, CMD_CANCEL, CMD_APPLY, CMD_ADMIT, CMD_VERSION } cmd_kind;

typedef struct cmd {
  struct cmd *next;
  cmd_kind kind;
  zr_engine_request req; /* CMD_SUBMIT: prompt and stop strings owned below */
  int32_t *prompt;
  char **stop;
  uint64_t req_id; /* CMD_CANCEL */
  zr_wready *ready;
  bool admit;
  uint64_t version; /* CMD_VERSION */
} cmd;

struct zr_acompute {
  zr_tf *m;          /* NULL with the simulated engine */
  zr_engine *e;      /* exactly one of e and sim */
  zr_simeng *sim;
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
  bool has_version; /* sim: a bare version number waiting to be applied (CMD_VERSION) */
  uint64_t version;
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

/* ---- the engine seam ---------------------------------------------------------------------- */

static int eng_submit(zr_acompute *c, const zr_engine_request *r) {
  return c->sim ? zr_simeng_submit(c->sim, r) : zr_engine_submit(c->e, r);
}
static void eng_cancel(zr_acompute *c, uint64_t id) {
  if (c->sim) zr_simeng_cancel(c->sim, id);
  else zr_engine_cancel(c->e, id);
}
static void eng_stats(zr_acompute *c, zr_engine_stats_t *st) {
  if (c->sim) zr_simeng_stats(c->sim, st);
  else zr_engine_stats(c->e, st);
}
static void eng_set_admit(zr_acompute *c, bool admit) {
  if (c->sim) zr_simeng_set_admit(c->sim, admit);
  else zr_engine_set_admit(c->e, admit);
}
static void eng_set_version(zr_acompute *c, uint64_t v) {
  if (c->sim) zr_simeng_set_version(c->sim, v);
  else zr_engine_set_version(c->e, v);
}
static uint64_t eng_version(zr_acompute *c) {
  if (!c->sim) return zr_engine_version(c->e);
  zr_engine_stats_t st;
  zr_simeng_stats(c->sim, &st);
  return st.version;
}
static int eng_step(zr_acompute *c) { return c->sim ? zr_simeng_step(c->sim, zr_clock_mono_ns()) : zr_engine_step(c->e); }
static int eng_poll(zr_acompute *c, zr_engine_output *o) {
  return c->sim ? zr_simeng_poll(c->sim, o) : zr_engine_poll(c->e, o);
}
static void eng_free(zr_acompute *c) {
  zr_simeng_free(&c->sim);
  zr_engine_free(&c->e);
}

static void apply_ready(zr_acompute *c) {
  uint64_t t0 = zr_clock_mono_ns();
  uint64_t v = zr_wready_version(c->ready);
  int rc = c->m ? zr_wready_apply(c->ready, c->m) : 0; /* sim: nothing to load */
  if (rc < 0) {
    ZR_ERROR(COMP, "applying weight version %llu failed: %s; still running version %llu", (unsigned long long)v,
             zr_errmsg(), (unsigned long long)eng_version(c));
  } else {
    eng_set_version(c, v);
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
    for (;;) {
      if (c->stop || c->cmds) break;
      if (!work) {
        pthread_cond_wait(&c->cv, &c->mu);
        continue;
      }
      /* the simulated engine: sleep until its next sample is due, or a command arrives */
      uint64_t due = c->sim ? zr_simeng_next_due_ns(c->sim) : 0, now = zr_clock_mono_ns();
      if (!due || now >= due) break;
      struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
      pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    if (c->stop) break;
    double waited = (double)(zr_clock_mono_ns() - w0) / 1e6;
    if (work) c->busy_ms += waited; /* sim: samples were "generating" meanwhile */
    else if (c->started_work) c->idle_ms += waited;
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
        int rc = eng_submit(c, &k->req);
        if (rc < 0) {
          ZR_WARN(COMP, "request %llu refused by the engine: %s", (unsigned long long)k->req.req_id, zr_errmsg());
          zr_acompute_out *o = error_out(k->req.req_id, rc);
          if (o) *otail = o, otail = &o->next;
        }
        break;
      }
      case CMD_CANCEL: eng_cancel(c, k->req_id); break;
      case CMD_APPLY:
        if (c->ready) zr_wready_free(&c->ready); /* superseded before it was applied */
        c->ready = k->ready;
        k->ready = NULL;
        break;
      case CMD_ADMIT: c->user_admit = k->admit; break;
      case CMD_VERSION:
        if (!c->has_version || k->version > c->version) c->version = k->version;
        c->has_version = true;
        break;
      }
      cmd_free(k);
    }

    zr_engine_stats_t st;
    eng_stats(c, &st);
    if (c->ready && (c->inflight || st.active == 0)) apply_ready(c);
    if (c->has_version && (c->inflight || st.active == 0)) {
      if (c->version != st.version) {
        eng_set_version(c, c->version);
        c->applied++;
        ZR_DEBUG(COMP, "now stamping policy version %llu (simulated engine: no weights)", (unsigned long long)c->version);
      }
      c->has_version = false;
    }
    /* finish mode: no admission while a version waits for the running sequences to end */
    eng_set_admit(c, c->user_admit && !c->ready && !c->has_version);

    uint64_t s0 = zr_clock_mono_ns();
    int n = eng_step(c);
    c->busy_ms += (double)(zr_clock_mono_ns() - s0) / 1e6;
    if (n < 0) ZR_ERROR(COMP, "engine step failed: %s (its sequences are dropped)", zr_errmsg());
    zr_engine_output eo;
    while (eng_poll(c, &eo) == 1) {
      zr_acompute_out *o = copy_out(&eo);
      if (!o) {
        ZR_ERROR(COMP, "out of memory copying a finished sample of request %llu", (unsigned long long)eo.req_id);
        o = error_out(eo.req_id, -ENOMEM);
      }
      if (o) *otail = o, otail = &o->next;
    }
    eng_stats(c, &st);
    work = n > 0 || c->ready != NULL || c->has_version;

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

/* Starts the thread around an engine already in c (e or sim). */
static int start(zr_acompute **out, zr_acompute *c, uint64_t initial_version, bool update_inflight,
                 uv_async_t *notify) {
  c->inflight = update_inflight;
  c->notify = notify;
  c->user_admit = true;
  c->cmds_tail = &c->cmds;
  c->outs_tail = &c->outs;
  c->snap.admitting = true;
  c->snap.version = initial_version;
  pthread_mutex_init(&c->mu, NULL);
  pthread_condattr_t ca; /* the simulated engine's timed waits are on CLOCK_MONOTONIC */
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&c->cv, &ca);
  pthread_condattr_destroy(&ca);
  if (pthread_create(&c->thread, NULL, thread_main, c) != 0) {
    eng_free(c);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
    return zr_seterr(-EAGAIN, "cannot start the compute thread");
  }
  c->started = true;
  *out = c;
  return 0;
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
  return start(out, c, cfg->initial_version, update_inflight, notify);
}

int zr_acompute_new_sim(zr_acompute **out, const zr_simeng_cfg *cfg, bool update_inflight, uv_async_t *notify) {
  *out = NULL;
  zr_acompute *c = calloc(1, sizeof *c);
  if (!c) return zr_seterr(-ENOMEM, "out of memory");
  int rc = zr_simeng_new(&c->sim, cfg);
  if (rc < 0) {
    free(c);
    return rc;
  }
  return start(out, c, cfg->initial_version, update_inflight, notify);
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
  eng_free(c);
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

void zr_acompute_set_version(zr_acompute *c, uint64_t version) {
  cmd *k = calloc(1, sizeof *k);
  if (!k) return;
  k->kind = CMD_VERSION;
  k->version = version;
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
