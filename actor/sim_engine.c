/* sim_engine.c: the actor's simulated engine (see sim_engine.h). */
#include "actor/sim_engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"

#define HIST 64

typedef struct sreq {
  struct sreq *next;
  uint64_t req_id, submit_ns;
  int n_samples, next_k, max_new, prompt_len;
  uint32_t first;
} sreq;

typedef struct {
  bool used, clipped;
  uint64_t req_id, start_ns, due_ns;
  uint32_t sample_index;
  int prompt_len, n;
  double queue_ms;
} sslot;

typedef struct sout {
  struct sout *next;
  zr_engine_output o;
  int32_t *tokens;
  float *lps;
  uint64_t *vers;
  char *text;
} sout;

struct zr_simeng {
  zr_simeng_cfg cfg;
  zr_simrng rng;
  sreq *q, **qtail;
  sslot *slots;
  sout *outs, **otail, *polled;
  bool admit;
  uint64_t version, base_version; /* base: the version before hist[0] */
  struct {
    uint64_t t, v;
  } hist[HIST];
  int n_hist;
  zr_engine_stats_t st;
};

int zr_simeng_new(zr_simeng **out, const zr_simeng_cfg *cfg) {
  *out = NULL;
  if (cfg->n_slots < 1 || cfg->vocab < 2 || cfg->n_eos < 0 || cfg->n_eos > 8 || cfg->n_eos >= cfg->vocab ||
      !(cfg->tokens_mean > 0) || cfg->tokens_max < 1 || !(cfg->tokens_per_s > 0))
    return zr_seterr(-EINVAL, "sim engine: slots >= 1, vocab >= 2, tokens_mean > 0, tokens_max >= 1 and "
                              "tokens_per_s > 0 are required");
  for (int i = 0; i < cfg->n_eos; i++)
    if (cfg->eos_ids[i] < 0 || cfg->eos_ids[i] >= cfg->vocab)
      return zr_seterr(-EINVAL, "sim engine: eos id %d outside the vocabulary (%d)", cfg->eos_ids[i], cfg->vocab);
  zr_simeng *e = calloc(1, sizeof *e);
  if (!e || !(e->slots = calloc((size_t)cfg->n_slots, sizeof *e->slots))) {
    free(e);
    return zr_seterr(-ENOMEM, "out of memory");
  }
  e->cfg = *cfg;
  zr_simrng_seed(&e->rng, cfg->seed);
  e->qtail = &e->q;
  e->otail = &e->outs;
  e->admit = true;
  e->version = e->base_version = cfg->initial_version;
  e->st.n_slots = cfg->n_slots;
  *out = e;
  return 0;
}

static void sout_free(sout *o) {
  if (!o) return;
  free(o->tokens);
  free(o->lps);
  free(o->vers);
  free(o->text);
  free(o);
}

static void drop_polled(zr_simeng *e) {
  sout_free(e->polled);
  e->polled = NULL;
}

void zr_simeng_free(zr_simeng **pe) {
  zr_simeng *e = pe ? *pe : NULL;
  if (!e) return;
  *pe = NULL;
  drop_polled(e);
  for (sreq *r = e->q, *nx; r; r = nx) nx = r->next, free(r);
  for (sout *o = e->outs, *nx; o; o = nx) nx = o->next, sout_free(o);
  free(e->slots);
  free(e);
}

int zr_simeng_submit(zr_simeng *e, const zr_engine_request *r) {
  if (!r->prompt || r->prompt_len < 1 || r->n_samples < 1 || r->max_new_tokens < 0)
    return zr_seterr(-EINVAL, "request %llu: prompt_len %d, n_samples %d, max_new_tokens %d",
                     (unsigned long long)r->req_id, r->prompt_len, r->n_samples, r->max_new_tokens);
  for (int i = 0; i < r->prompt_len; i++)
    if (r->prompt[i] < 0 || r->prompt[i] >= e->cfg.vocab)
      return zr_seterr(-EINVAL, "request %llu: prompt token %d outside the vocabulary (%d)",
                       (unsigned long long)r->req_id, r->prompt[i], e->cfg.vocab);
  for (sreq *q = e->q; q; q = q->next)
    if (q->req_id == r->req_id) return zr_seterr(-EEXIST, "request %llu is already queued", (unsigned long long)r->req_id);
  for (int i = 0; i < e->cfg.n_slots; i++)
    if (e->slots[i].used && e->slots[i].req_id == r->req_id)
      return zr_seterr(-EEXIST, "request %llu is running", (unsigned long long)r->req_id);
  sreq *q = calloc(1, sizeof *q);
  if (!q) return zr_seterr(-ENOMEM, "out of memory");
  q->req_id = r->req_id;
  q->n_samples = r->n_samples;
  q->first = r->first_sample_index;
  q->max_new = r->max_new_tokens;
  q->prompt_len = r->prompt_len;
  q->submit_ns = 0; /* stamped by the next step */
  *e->qtail = q;
  e->qtail = &q->next;
  e->st.queued_samples += r->n_samples;
  e->st.queued_requests++;
  return 0;
}

static uint64_t version_at(const zr_simeng *e, uint64_t t) {
  uint64_t v = e->base_version;
  for (int i = 0; i < e->n_hist && e->hist[i].t <= t; i++) v = e->hist[i].v;
  return v;
}

static bool is_eos(const zr_simeng *e, int32_t id) {
  for (int i = 0; i < e->cfg.n_eos; i++)
    if (e->cfg.eos_ids[i] == id) return true;
  return false;
}

/* The finished sample of slot s, at the back of the output FIFO. */
static void finish(zr_simeng *e, sslot *s) {
  sout *o = calloc(1, sizeof *o);
  int n = s->n;
  size_t cap = (size_t)(n ? n : 1);
  if (o) {
    o->tokens = malloc(cap * sizeof *o->tokens);
    o->lps = malloc(cap * sizeof *o->lps);
    o->vers = malloc(cap * sizeof *o->vers);
    o->text = malloc(cap + 1);
  }
  if (!o || !o->tokens || !o->lps || !o->vers || !o->text) { /* out of memory: the sample is lost */
    sout_free(o);
    e->st.samples_cancelled++;
    s->used = false;
    return;
  }
  bool eos_end = !s->clipped && e->cfg.n_eos > 0;
  double ns_per_token = 1e9 / e->cfg.tokens_per_s;
  for (int i = 0; i < n; i++) {
    int32_t id;
    if (eos_end && i == n - 1) {
      id = e->cfg.eos_ids[0];
    } else {
      id = (int32_t)zr_simrng_below(&e->rng, (uint32_t)e->cfg.vocab);
      for (int k = 0; k <= e->cfg.n_eos && is_eos(e, id); k++) id = (id + 1) % e->cfg.vocab;
    }
    o->tokens[i] = id;
    o->lps[i] = zr_simdist_logprob(&e->rng);
    o->vers[i] = version_at(e, s->start_ns + (uint64_t)((double)(i + 1) * ns_per_token));
    o->text[i] = (char)('a' + zr_simrng_below(&e->rng, 26));
  }
  o->text[n] = '\0';
  o->o.req_id = s->req_id;
  o->o.sample_index = s->sample_index;
  o->o.prompt_len = s->prompt_len;
  o->o.n_tokens = n;
  o->o.tokens = o->tokens;
  o->o.logprobs = o->lps;
  o->o.versions = o->vers;
  o->o.finish = s->clipped ? ZR_ENGINE_FINISH_LENGTH : ZR_ENGINE_FINISH_EOS;
  o->o.text = o->text;
  o->o.text_len = (size_t)n;
  o->o.queue_ms = s->queue_ms;
  o->o.generate_ms = (double)(s->due_ns - s->start_ns) / 1e6;
  *e->otail = o;
  e->otail = &o->next;
  e->st.samples_finished++;
  e->st.finished_pending++;
  e->st.tokens_generated += (uint64_t)n;
  s->used = false;
}

int zr_simeng_step(zr_simeng *e, uint64_t now) {
  drop_polled(e);
  for (sreq *q = e->q; q; q = q->next)
    if (!q->submit_ns) q->submit_ns = now;
  int active = 0;
  for (int i = 0; i < e->cfg.n_slots; i++) {
    sslot *s = &e->slots[i];
    if (s->used && s->due_ns <= now) finish(e, s);
    if (s->used) active++;
  }
  for (int i = 0; e->admit && e->q && i < e->cfg.n_slots; i++) {
    sslot *s = &e->slots[i];
    if (s->used) continue;
    sreq *q = e->q;
    int cap = q->max_new < e->cfg.tokens_max ? q->max_new : e->cfg.tokens_max;
    int n = cap > 0 ? zr_simdist_tokens(e->cfg.dist, e->cfg.tokens_mean, e->cfg.tokens_max, &e->rng) : 0;
    memset(s, 0, sizeof *s);
    s->used = true;
    s->req_id = q->req_id;
    s->sample_index = q->first + (uint32_t)q->next_k;
    s->prompt_len = q->prompt_len;
    s->clipped = n >= cap;
    s->n = n > cap ? cap : n;
    s->start_ns = now;
    s->due_ns = now + (uint64_t)((double)s->n * 1e9 / e->cfg.tokens_per_s);
    s->queue_ms = (double)(now - q->submit_ns) / 1e6;
    e->st.queued_samples--;
    e->st.prefill_tokens += (uint64_t)q->prompt_len;
    if (q->next_k == 0) e->st.prefills++;
    if (++q->next_k == q->n_samples) {
      e->q = q->next;
      if (!e->q) e->qtail = &e->q;
      e->st.queued_requests--;
      free(q);
    }
    if (s->due_ns <= now) finish(e, s); /* max_new_tokens 0: done at once */
    else active++;
  }
  if (active > 0) {
    e->st.decode_steps++;
    e->st.occupancy_sum += (uint64_t)active;
  }
  e->st.active = active;
  e->st.admitting = e->admit;
  return active;
}

int zr_simeng_poll(zr_simeng *e, zr_engine_output *out) {
  drop_polled(e);
  sout *o = e->outs;
  if (!o) return 0;
  e->outs = o->next;
  if (!e->outs) e->otail = &e->outs;
  e->polled = o;
  e->st.finished_pending--;
  *out = o->o;
  return 1;
}

uint64_t zr_simeng_next_due_ns(const zr_simeng *e) {
  uint64_t due = 0;
  for (int i = 0; i < e->cfg.n_slots; i++)
    if (e->slots[i].used && (!due || e->slots[i].due_ns < due)) due = e->slots[i].due_ns;
  return due;
}

void zr_simeng_set_version(zr_simeng *e, uint64_t v) {
  if (e->n_hist == HIST) { /* forget the oldest change */
    e->base_version = e->hist[0].v;
    memmove(e->hist, e->hist + 1, (HIST - 1) * sizeof e->hist[0]);
    e->n_hist--;
  }
  e->hist[e->n_hist].t = zr_clock_mono_ns();
  e->hist[e->n_hist].v = v;
  e->n_hist++;
  e->version = v;
  e->st.version = v;
}

void zr_simeng_set_admit(zr_simeng *e, bool admit) {
  e->admit = admit;
  e->st.admitting = admit;
}

int zr_simeng_cancel(zr_simeng *e, uint64_t req_id) {
  int n = 0;
  for (sreq **pp = &e->q; *pp;) {
    sreq *q = *pp;
    if (q->req_id != req_id) {
      pp = &q->next;
      continue;
    }
    *pp = q->next;
    int left = q->n_samples - q->next_k;
    n += left;
    e->st.queued_samples -= left;
    e->st.queued_requests--;
    free(q);
  }
  e->qtail = &e->q;
  while (*e->qtail) e->qtail = &(*e->qtail)->next;
  for (int i = 0; i < e->cfg.n_slots; i++)
    if (e->slots[i].used && e->slots[i].req_id == req_id) {
      e->slots[i].used = false;
      e->st.active--;
      n++;
    }
  drop_polled(e);
  for (sout **pp = &e->outs; *pp;) {
    sout *o = *pp;
    if (o->o.req_id != req_id) {
      pp = &o->next;
      continue;
    }
    *pp = o->next;
    sout_free(o);
    e->st.finished_pending--;
    n++;
  }
  e->otail = &e->outs;
  while (*e->otail) e->otail = &(*e->otail)->next;
  e->st.samples_cancelled += (uint64_t)n;
  return n;
}

void zr_simeng_stats(const zr_simeng *e, zr_engine_stats_t *out) {
  *out = e->st;
  out->version = e->version;
  out->admitting = e->admit;
}
