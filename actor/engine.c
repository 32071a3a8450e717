/* engine.c: the continuous-batching generation engine (engine.h): request queue, slot admission
 * with prefix sharing, batched decode, finish detection (EOS, stop strings, length), outputs. */
#include "actor/engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"

typedef struct zr_eng_req {
  struct zr_eng_req *next; /* all live requests in submit order (admission walks it: FIFO) */
  uint64_t id;
  int32_t *prompt;
  int plen, n_samples, max_new;
  uint32_t first;
  zr_sampling sampling;
  uint64_t seed;
  char **stop;
  size_t *stop_len;
  int n_stop;
  int admitted; /* samples given a slot (or finished at once) so far */
  int live;     /* admitted samples not finished */
  uint64_t submit_ns;
} zr_eng_req;

typedef struct {
  zr_eng_req *r; /* NULL: free */
  int k;         /* sample number within the request */
  int n;         /* tokens generated */
  int pending;   /* last sampled token, fed at the next decode */
  int32_t *tok;
  float *lp;
  uint64_t *ver;
  char *text; /* completion bytes for stop strings (special tokens skipped) */
  size_t tlen, tcap;
  uint64_t admit_ns;
  double queue_ms;
} zr_eng_slot;

typedef struct zr_eng_out {
  struct zr_eng_out *next;
  zr_engine_output o;
  int32_t *tok;
  float *lp;
  uint64_t *ver;
  char *text;
} zr_eng_out;

struct zr_engine {
  zr_tf *m;
  const zr_tok *tok;
  zr_kvcache *kv;
  int n_slots, max_len, V, vl, n_eos;
  int32_t *eos;
  uint64_t version;
  bool admit;
  zr_eng_req *reqs, *reqs_tail;
  zr_eng_slot *slots;
  zr_eng_out *out_head, *out_tail, *cur; /* cur: handed out by the last poll */
  float *logits, *scratch; /* host sampling (a backend without a sample op) */
  int *ibuf; /* 4 * n_slots ints of step scratch */
  bool dev;  /* the backend samples (zr_tf_extend_sample): logits stay on the device */
  zr_sample_req *dreq;     /* dev: one draw per slot */
  zr_sample *dsmp;
  int *dslot, *doff, *ones; /* dev: the slot of each draw, per prefill its first draw, n_slots 1s */
  zr_engine_stats_t st;
};

/* ---- lifetime ----------------------------------------------------------------------------- */

static void out_free(zr_eng_out *o) {
  if (!o) return;
  free(o->tok);
  free(o->lp);
  free(o->ver);
  free(o->text);
  free(o);
}

static void req_free(zr_eng_req *r) {
  if (!r) return;
  for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
  free(r->stop);
  free(r->stop_len);
  free(r->prompt);
  free(r);
}

int zr_engine_new(zr_engine **out, zr_tf *m, const zr_tok *tok, const zr_engine_cfg *cfg) {
  *out = NULL;
  if (!m || !cfg) return zr_seterr(-EINVAL, "engine: needs a model and a config");
  if (cfg->n_slots <= 0 || cfg->max_len <= 0)
    return zr_seterr(-EINVAL, "engine: n_slots (%d) and max_len (%d) must be positive", cfg->n_slots, cfg->max_len);
  int V = zr_tf_config(m)->vocab_size;
  int vl = cfg->vocab_limit;
  if (vl < 0 || vl > V) return zr_seterr(-EINVAL, "engine: vocab_limit %d outside [0, %d]", vl, V);
  if (vl == 0) {
    vl = V;
    if (tok && zr_tok_vocab_size(tok) > 0 && zr_tok_vocab_size(tok) < V) vl = zr_tok_vocab_size(tok);
  }
  const int32_t *eos = cfg->eos_ids;
  int n_eos = cfg->n_eos;
  if (n_eos < 0) {
    n_eos = 0;
    eos = NULL;
    if (tok) n_eos = (int)zr_tok_eos_ids(tok, &eos);
  } else if (n_eos > 0 && !eos) {
    return zr_seterr(-EINVAL, "engine: n_eos %d but no eos_ids", n_eos);
  }
  zr_engine *e = calloc(1, sizeof *e);
  if (!e) return zr_seterr(-ENOMEM, "engine: out of memory");
  e->m = m;
  e->tok = tok;
  e->n_slots = cfg->n_slots;
  e->max_len = cfg->max_len;
  e->V = V;
  e->vl = vl;
  e->version = cfg->initial_version;
  e->admit = true;
  e->n_eos = n_eos;
  int rc = zr_kv_new(&e->kv, m, e->n_slots, e->max_len);
  if (rc) goto fail;
  e->eos = malloc((size_t)(n_eos ? n_eos : 1) * sizeof(int32_t));
  e->slots = calloc((size_t)e->n_slots, sizeof *e->slots);
  e->dev = zr_tf_backend(m)->sample != NULL;
  if (e->dev) {
    e->dreq = malloc((size_t)e->n_slots * sizeof *e->dreq);
    e->dsmp = malloc((size_t)e->n_slots * sizeof *e->dsmp);
    e->dslot = malloc(((size_t)3 * e->n_slots + 1) * sizeof(int));
    if (!e->dreq || !e->dsmp || !e->dslot) goto nomem;
    e->doff = e->dslot + e->n_slots;
    e->ones = e->doff + e->n_slots + 1;
    for (int i = 0; i < e->n_slots; i++) e->ones[i] = 1;
  } else {
    e->logits = malloc((size_t)e->n_slots * V * sizeof(float));
    e->scratch = malloc(zr_sampler_scratch_floats(vl) * sizeof(float));
    if (!e->logits || !e->scratch) goto nomem;
  }
  e->ibuf = malloc((size_t)4 * e->n_slots * sizeof(int));
  if (!e->eos || !e->slots || !e->ibuf) goto nomem;
  if (n_eos) memcpy(e->eos, eos, (size_t)n_eos * sizeof(int32_t));
  size_t cap = (size_t)e->max_len + 1; /* a slot generates at most max_len - prompt_len + 1 tokens */
  for (int i = 0; i < e->n_slots; i++) {
    zr_eng_slot *s = &e->slots[i];
    s->tok = malloc(cap * sizeof(int32_t));
    s->lp = malloc(cap * sizeof(float));
    s->ver = malloc(cap * sizeof(uint64_t));
    if (!s->tok || !s->lp || !s->ver) goto nomem;
  }
  e->st.n_slots = e->n_slots;
  *out = e;
  return 0;
nomem:
  rc = zr_seterr(-ENOMEM, "engine: out of memory (%d slots of %d tokens)", cfg->n_slots, cfg->max_len);
fail:
  zr_engine_free(&e);
  return rc;
}

void zr_engine_free(zr_engine **pe) {
  zr_engine *e = *pe;
  if (!e) return;
  *pe = NULL;
  if (e->slots)
    for (int i = 0; i < e->n_slots; i++) {
      free(e->slots[i].tok);
      free(e->slots[i].lp);
      free(e->slots[i].ver);
      free(e->slots[i].text);
    }
  for (zr_eng_req *r = e->reqs, *n; r; r = n) {
    n = r->next;
    req_free(r);
  }
  for (zr_eng_out *o = e->out_head, *n; o; o = n) {
    n = o->next;
    out_free(o);
  }
  out_free(e->cur);
  zr_kv_free(&e->kv);
  free(e->slots);
  free(e->eos);
  free(e->logits);
  free(e->scratch);
  free(e->ibuf);
  free(e->dreq);
  free(e->dsmp);
  free(e->dslot);
  free(e);
}

/* ---- requests ----------------------------------------------------------------------------- */

static zr_eng_req *req_find(zr_engine *e, uint64_t id) {
  for (zr_eng_req *r = e->reqs; r; r = r->next)
    if (r->id == id) return r;
  return NULL;
}

/* Unlinks and frees r once nothing refers to it. */
static void req_maybe_free(zr_engine *e, zr_eng_req *r) {
  if (r->admitted < r->n_samples || r->live > 0) return;
  zr_eng_req *prev = NULL;
  for (zr_eng_req *q = e->reqs; q; prev = q, q = q->next)
    if (q == r) {
      if (prev) prev->next = r->next;
      else e->reqs = r->next;
      if (e->reqs_tail == r) e->reqs_tail = prev;
      break;
    }
  req_free(r);
}

int zr_engine_submit(zr_engine *e, const zr_engine_request *q) {
  if (!q) return zr_seterr(-EINVAL, "engine: no request");
  if (q->prompt_len <= 0 || !q->prompt)
    return zr_seterr(-EINVAL, "engine: request %llu has an empty prompt", (unsigned long long)q->req_id);
  if (q->prompt_len > e->max_len)
    return zr_seterr(-EINVAL, "engine: request %llu: prompt of %d tokens exceeds max_len %d",
                     (unsigned long long)q->req_id, q->prompt_len, e->max_len);
  if (q->n_samples <= 0 || q->max_new_tokens < 0 || q->n_stop < 0 || (q->n_stop > 0 && !q->stop))
    return zr_seterr(-EINVAL, "engine: request %llu: n_samples %d, max_new_tokens %d, n_stop %d",
                     (unsigned long long)q->req_id, q->n_samples, q->max_new_tokens, q->n_stop);
  for (int i = 0; i < q->prompt_len; i++)
    if (q->prompt[i] < 0 || q->prompt[i] >= e->V)
      return zr_seterr(-EINVAL, "engine: request %llu: prompt token %d (%d) outside the vocabulary [0, %d)",
                       (unsigned long long)q->req_id, i, (int)q->prompt[i], e->V);
  const zr_sampling *sp = &q->sampling;
  if (!(sp->temperature >= 0) || sp->top_k < 0 || !(sp->top_p > 0 && sp->top_p <= 1) || !(sp->min_p >= 0 && sp->min_p <= 1))
    return zr_seterr(-EINVAL, "engine: request %llu: bad sampling (temperature %g, top_k %d, top_p %g, min_p %g)",
                     (unsigned long long)q->req_id, sp->temperature, sp->top_k, sp->top_p, sp->min_p);
  if (req_find(e, q->req_id))
    return zr_seterr(-EEXIST, "engine: request %llu is already queued or running", (unsigned long long)q->req_id);
  zr_eng_req *r = calloc(1, sizeof *r);
  if (!r) return zr_seterr(-ENOMEM, "engine: out of memory");
  r->id = q->req_id;
  r->plen = q->prompt_len;
  r->n_samples = q->n_samples;
  r->max_new = q->max_new_tokens;
  r->first = q->first_sample_index;
  r->sampling = q->sampling;
  r->seed = q->seed;
  r->submit_ns = zr_clock_mono_ns();
  r->prompt = malloc((size_t)q->prompt_len * sizeof(int32_t));
  if (!r->prompt) goto nomem;
  memcpy(r->prompt, q->prompt, (size_t)q->prompt_len * sizeof(int32_t));
  if (e->tok && q->n_stop > 0) {
    r->stop = calloc((size_t)q->n_stop, sizeof(char *));
    r->stop_len = calloc((size_t)q->n_stop, sizeof(size_t));
    if (!r->stop || !r->stop_len) goto nomem;
    for (int i = 0; i < q->n_stop; i++) {
      if (!q->stop[i] || !q->stop[i][0]) continue;
      size_t L = strlen(q->stop[i]);
      char *c = malloc(L + 1);
      if (!c) goto nomem;
      memcpy(c, q->stop[i], L + 1);
      r->stop[r->n_stop] = c;
      r->stop_len[r->n_stop++] = L;
    }
  }
  if (e->reqs_tail) e->reqs_tail->next = r;
  else e->reqs = r;
  e->reqs_tail = r;
  return 0;
nomem:
  req_free(r);
  return zr_seterr(-ENOMEM, "engine: out of memory");
}

/* ---- finishing ---------------------------------------------------------------------------- */

static void slot_release(zr_engine *e, int si) {
  zr_eng_slot *s = &e->slots[si];
  zr_eng_req *r = s->r;
  s->r = NULL;
  s->n = 0;
  s->tlen = 0;
  zr_kv_clear(e->kv, si);
  r->live--;
  req_maybe_free(e, r);
}

static void out_push(zr_engine *e, zr_eng_out *o) {
  if (e->out_tail) e->out_tail->next = o;
  else e->out_head = o;
  e->out_tail = o;
}

/* A finished sample: copies it to the output FIFO (on ENOMEM the sample is lost and counted as
 * cancelled; the error is returned). */
static int finish_sample(zr_engine *e, zr_eng_req *r, int k, const zr_eng_slot *s, zr_engine_finish why,
                         uint64_t admit_ns, double queue_ms) {
  int n = s ? s->n : 0;
  size_t cap = n ? (size_t)n : 1;
  zr_eng_out *o = calloc(1, sizeof *o);
  if (o) {
    o->tok = malloc(cap * sizeof(int32_t));
    o->lp = malloc(cap * sizeof(float));
    o->ver = malloc(cap * sizeof(uint64_t));
  }
  zr_tok_text txt;
  zr_tok_text_init(&txt);
  int rc = 0;
  if (!o || !o->tok || !o->lp || !o->ver) rc = zr_seterr(-ENOMEM, "engine: out of memory");
  if (!rc && e->tok) {
    rc = zr_tok_decode(e->tok, s ? s->tok : NULL, (size_t)n, 1, &txt);
    if (!rc && !txt.s) { /* empty completion: still a string */
      txt.s = calloc(1, 1);
      if (!txt.s) rc = zr_seterr(-ENOMEM, "engine: out of memory");
    }
  }
  if (rc) {
    zr_tok_text_release(&txt);
    out_free(o);
    e->st.samples_cancelled++;
    return rc;
  }
  if (n) {
    memcpy(o->tok, s->tok, (size_t)n * sizeof(int32_t));
    memcpy(o->lp, s->lp, (size_t)n * sizeof(float));
    memcpy(o->ver, s->ver, (size_t)n * sizeof(uint64_t));
  }
  o->text = txt.s; /* ownership moves to o */
  o->o = (zr_engine_output){.req_id = r->id,
                            .sample_index = r->first + (uint32_t)k,
                            .prompt_len = r->plen,
                            .n_tokens = n,
                            .tokens = o->tok,
                            .logprobs = o->lp,
                            .versions = o->ver,
                            .finish = why,
                            .text = o->text,
                            .text_len = o->text ? txt.len : 0,
                            .queue_ms = queue_ms,
                            .generate_ms = (double)(zr_clock_mono_ns() - admit_ns) / 1e6};
  out_push(e, o);
  e->st.samples_finished++;
  return 0;
}

/* Appends the token's bytes to the slot's text and looks for a stop string ending in them. */
static int stop_hit(zr_engine *e, zr_eng_slot *s, int token) {
  zr_eng_req *r = s->r;
  if (!e->tok || r->n_stop == 0 || zr_tok_is_special(e->tok, token)) return 0;
  size_t bl = 0;
  const char *b = zr_tok_id_to_bytes(e->tok, token, &bl);
  if (!b || bl == 0) return 0;
  if (s->tlen + bl > s->tcap) {
    size_t nc = s->tcap ? s->tcap : 256;
    while (nc < s->tlen + bl) nc *= 2;
    char *p = realloc(s->text, nc);
    if (!p) return zr_seterr(-ENOMEM, "engine: out of memory");
    s->text = p;
    s->tcap = nc;
  }
  size_t old = s->tlen;
  memcpy(s->text + old, b, bl);
  s->tlen += bl;
  for (int i = 0; i < r->n_stop; i++) {
    size_t L = r->stop_len[i];
    if (L > s->tlen) continue;
    /* only matches that end inside the new bytes are new */
    size_t from = old + 1 > L ? old + 1 - L : 0;
    for (size_t p = from; p + L <= s->tlen; p++)
      if (s->text[p] == r->stop[i][0] && memcmp(s->text + p, r->stop[i], L) == 0) return 1;
  }
  return 0;
}

/* Records the token sampled for slot si and decides whether the sample ends. */
static int take_token(zr_engine *e, int si, const zr_sample *smp) {
  zr_eng_slot *s = &e->slots[si];
  zr_eng_req *r = s->r;
  s->tok[s->n] = smp->token;
  s->lp[s->n] = smp->logprob_policy;
  s->ver[s->n] = e->version;
  s->n++;
  e->st.tokens_generated++;
  int why = -1;
  for (int i = 0; i < e->n_eos; i++)
    if (e->eos[i] == smp->token) why = ZR_ENGINE_FINISH_EOS;
  if (why < 0) {
    int h = stop_hit(e, s, smp->token);
    if (h < 0) return h;
    if (h) why = ZR_ENGINE_FINISH_STOP;
  }
  if (why < 0 && (s->n >= r->max_new || zr_kv_len(e->kv, si) >= e->max_len)) why = ZR_ENGINE_FINISH_LENGTH;
  if (why < 0) {
    s->pending = smp->token;
    return 0;
  }
  int rc = finish_sample(e, r, s->k, s, (zr_engine_finish)why, s->admit_ns, s->queue_ms);
  slot_release(e, si);
  return rc;
}

/* Drops every sample of r (queued, running); does not touch the output FIFO. */
static int drop_request(zr_engine *e, zr_eng_req *r) {
  int n = r->n_samples - r->admitted;
  r->admitted = r->n_samples;
  r->live++; /* keep r alive while its slots are released */
  for (int i = 0; i < e->n_slots; i++)
    if (e->slots[i].r == r) {
      slot_release(e, i);
      n++;
    }
  r->live--;
  e->st.samples_cancelled += (uint64_t)n;
  req_maybe_free(e, r);
  return n;
}

int zr_engine_cancel(zr_engine *e, uint64_t req_id) {
  out_free(e->cur);
  e->cur = NULL;
  int n = 0;
  zr_eng_req *r = req_find(e, req_id);
  if (r) n += drop_request(e, r);
  zr_eng_out *prev = NULL;
  for (zr_eng_out *o = e->out_head, *nx; o; o = nx) {
    nx = o->next;
    if (o->o.req_id == req_id) {
      if (prev) prev->next = nx;
      else e->out_head = nx;
      if (e->out_tail == o) e->out_tail = prev;
      out_free(o);
      e->st.samples_finished--;
      e->st.samples_cancelled++;
      n++;
    } else {
      prev = o;
    }
  }
  return n;
}

/* ---- the step ----------------------------------------------------------------------------- */

static int sample_into(zr_engine *e, int si, const float *logits) {
  zr_eng_slot *s = &e->slots[si];
  zr_eng_req *r = s->r;
  zr_sample smp;
  int rc = zr_sampler_pick(&r->sampling, logits, e->vl, r->seed, (uint64_t)r->first + (uint64_t)s->k,
                           (uint64_t)(r->plen + s->n), e->scratch, &smp);
  if (rc) return rc;
  return take_token(e, si, &smp);
}

/* dev: draw j of a step for slot si (the same key as sample_into) */
static void draw_req(zr_engine *e, int j, int si, int row) {
  const zr_eng_slot *s = &e->slots[si];
  const zr_eng_req *r = s->r;
  e->dreq[j] = (zr_sample_req){.row = row, .s = r->sampling, .seed = r->seed,
                               .sequence = (uint64_t)r->first + (uint64_t)s->k, .position = (uint64_t)(r->plen + s->n)};
}

/* dev: the slots that share prefill p's prompt (src = pslot[p] last, as the host path orders
 * them), listed before the prefill, and their draws from row p */
static int list_members(zr_engine *e, int p, int src, int left, int d) {
  zr_eng_req *r = e->slots[src].r;
  int nm = 0;
  for (int i = 0; i < e->n_slots && nm + 1 < left; i++) /* left slots in all: d + left <= n_slots */
    if (e->slots[i].r == r && e->slots[i].n == 0 && zr_kv_len(e->kv, i) == 0 && i != src) e->dslot[d + nm++] = i;
  e->dslot[d + nm++] = src;
  for (int j = 0; j < nm; j++) draw_req(e, d + j, e->dslot[d + j], p);
  return nm;
}

static int count_active(const zr_engine *e) {
  int a = 0;
  for (int i = 0; i < e->n_slots; i++) a += e->slots[i].r != NULL;
  return a;
}

int zr_engine_free_slots(const zr_engine *e) { return e->n_slots - count_active(e); }

/* Admits queued samples into free slots and prefills their prompts (one prefill per request per
 * admission, one batched model call for all of them), then samples their first tokens. */
static int admit(zr_engine *e) {
  int *fr = e->ibuf, nf = 0;                                   /* free slots */
  int *pslot = fr + e->n_slots, *plen = pslot + e->n_slots; /* per prefill: slot, prompt length */
  int *pcount = plen + e->n_slots;                             /* per prefill: samples admitted */
  for (int i = e->n_slots - 1; i >= 0; i--)
    if (!e->slots[i].r) fr[nf++] = i; /* popped from the end: lowest slot first */
  int np = 0, rc = 0;
  size_t ptok = 0;
  uint64_t now = zr_clock_mono_ns();
  for (zr_eng_req *r = e->reqs, *nx; r && nf > 0; r = nx) {
    nx = r->next;
    if (r->admitted >= r->n_samples) continue;
    double qms = (double)(now - r->submit_ns) / 1e6;
    if (r->max_new == 0) { /* nothing to generate: finished at once, no slot */
      while (r->admitted < r->n_samples) {
        int k = r->admitted++;
        int frc = finish_sample(e, r, k, NULL, ZR_ENGINE_FINISH_LENGTH, now, qms);
        if (frc && !rc) rc = frc;
      }
      req_maybe_free(e, r);
      continue;
    }
    int take = r->n_samples - r->admitted;
    if (take > nf) take = nf;
    for (int j = 0; j < take; j++) {
      int si = fr[--nf];
      zr_eng_slot *s = &e->slots[si];
      s->r = r;
      s->k = r->admitted++;
      s->n = 0;
      s->tlen = 0;
      s->admit_ns = now;
      s->queue_ms = qms;
      zr_kv_clear(e->kv, si);
      if (j == 0) {
        pslot[np] = si;
        plen[np] = r->plen;
        pcount[np] = take;
        np++;
        ptok += (size_t)r->plen;
      }
    }
    r->live += take;
  }
  if (np == 0) return rc;
  /* the prompts, packed */
  int32_t *toks = malloc(ptok * sizeof(int32_t));
  int prc = 0;
  if (!toks) {
    prc = zr_seterr(-ENOMEM, "engine: out of memory");
  } else {
    size_t off = 0;
    for (int p = 0; p < np; p++) {
      zr_eng_req *r = e->slots[pslot[p]].r;
      memcpy(toks + off, r->prompt, (size_t)r->plen * sizeof(int32_t));
      off += (size_t)r->plen;
    }
    if (e->dev) { /* list every draw first: the prefill samples them on the device */
      int d = 0;
      for (int p = 0; p < np; p++) {
        e->doff[p] = d;
        d += list_members(e, p, pslot[p], pcount[p], d);
      }
      e->doff[np] = d;
      prc = zr_tf_extend_sample(e->m, e->kv, np, pslot, plen, (const int *)toks, e->vl, d, e->dreq, e->dsmp);
    } else {
      prc = zr_tf_prefill(e->m, e->kv, np, pslot, plen, (const int *)toks, e->logits);
    }
    free(toks);
    if (!prc) {
      e->st.prefills += (uint64_t)np;
      e->st.prefill_tokens += ptok;
    }
  }
  if (prc) { /* the requests being admitted are dropped */
    rc = prc;
    for (int p = 0; p < np; p++) {
      zr_eng_req *r = e->slots[pslot[p]].r;
      if (r) drop_request(e, r);
    }
    return rc;
  }
  /* share each prefilled prompt and draw every sample's first token from its logits */
  for (int p = 0; p < np; p++) {
    int src = pslot[p];
    zr_eng_req *r = e->slots[src].r;
    int left = pcount[p];
    int *members = e->ibuf; /* fr is no longer needed */
    int nm = 0;
    if (e->dev) { /* listed before the prefill, src last */
      members = e->dslot + e->doff[p];
      nm = e->doff[p + 1] - e->doff[p];
      for (int j = 0; j + 1 < nm; j++) zr_kv_copy_slot(e->kv, members[j], src);
    } else {
      for (int i = 0; i < e->n_slots && nm < left; i++)
        if (e->slots[i].r == r && e->slots[i].n == 0 && zr_kv_len(e->kv, i) == 0 && i != src) members[nm++] = i;
      for (int j = 0; j < nm; j++) zr_kv_copy_slot(e->kv, members[j], src);
      members[nm++] = src;
    }
    const float *lg = e->dev ? NULL : e->logits + (size_t)p * e->V;
    r->live++; /* r stays alive until all its new samples are sampled */
    int src_rc = 0;
    for (int j = 0; j < nm && !src_rc; j++)
      src_rc = e->dev ? take_token(e, members[j], &e->dsmp[e->doff[p] + j]) : sample_into(e, members[j], lg);
    r->live--;
    if (src_rc) {
      drop_request(e, r);
      return src_rc;
    }
    req_maybe_free(e, r);
  }
  return rc;
}

int zr_engine_step(zr_engine *e) {
  out_free(e->cur);
  e->cur = NULL;
  int rc = 0;
  if (e->admit && (rc = admit(e)) < 0) return rc;
  int *ds = e->ibuf, *tk = ds + e->n_slots, nd = 0;
  for (int i = 0; i < e->n_slots; i++)
    if (e->slots[i].r) {
      ds[nd] = i;
      tk[nd++] = e->slots[i].pending;
    }
  if (nd > 0) {
    if (e->dev) {
      for (int j = 0; j < nd; j++) draw_req(e, j, ds[j], j);
      rc = zr_tf_extend_sample(e->m, e->kv, nd, ds, e->ones, tk, e->vl, nd, e->dreq, e->dsmp);
    } else {
      rc = zr_tf_decode(e->m, e->kv, nd, ds, tk, e->logits);
    }
    if (rc) {
      for (int j = 0; j < nd; j++)
        if (e->slots[ds[j]].r) drop_request(e, e->slots[ds[j]].r);
      return rc;
    }
    e->st.decode_steps++;
    e->st.occupancy_sum += (uint64_t)nd;
    for (int j = 0; j < nd; j++) {
      zr_eng_req *r = e->slots[ds[j]].r;
      int src = e->dev ? take_token(e, ds[j], &e->dsmp[j]) : sample_into(e, ds[j], e->logits + (size_t)j * e->V);
      if (src) {
        if (e->slots[ds[j]].r == r) drop_request(e, r);
        if (!rc) rc = src;
      }
    }
    if (rc) return rc;
  }
  return count_active(e);
}

int zr_engine_poll(zr_engine *e, zr_engine_output *out) {
  out_free(e->cur);
  e->cur = NULL;
  zr_eng_out *o = e->out_head;
  if (!o) return 0;
  e->out_head = o->next;
  if (!e->out_head) e->out_tail = NULL;
  o->next = NULL;
  e->cur = o;
  *out = o->o;
  return 1;
}

/* ---- control and figures ------------------------------------------------------------------ */

void zr_engine_set_version(zr_engine *e, uint64_t v) { e->version = v; }
uint64_t zr_engine_version(const zr_engine *e) { return e->version; }
void zr_engine_set_admit(zr_engine *e, bool a) { e->admit = a; }

void zr_engine_stats(const zr_engine *e, zr_engine_stats_t *out) {
  *out = e->st;
  out->n_slots = e->n_slots;
  out->active = count_active(e);
  out->admitting = e->admit;
  out->version = e->version;
  out->queued_samples = out->queued_requests = out->finished_pending = 0;
  for (const zr_eng_req *r = e->reqs; r; r = r->next)
    if (r->admitted < r->n_samples) {
      out->queued_samples += r->n_samples - r->admitted;
      out->queued_requests++;
    }
  for (const zr_eng_out *o = e->out_head; o; o = o->next) out->finished_pending++;
}
