/* relay.c: re-serving held weight versions and routing chunk requests (see relay.h). */
#include "actor/relay.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/util.h"

#define COMP "relay"
#define POKE_MS 100
#define MAX_IDENT 256
#define LOG_PERIOD_MS 60000

enum { SRC_NONE = 0, SRC_PARENT, SRC_LEARNER };

typedef struct {
  unsigned char ident[MAX_IDENT];
  size_t ident_len;
  uint64_t version, checksum, since_ms;
  uint32_t index;
} parked;

struct zr_relay {
  uv_loop_t *loop;
  void *zctx;
  zr_relay_opts o;
  char *job_id, *sender_id;
  zr_wsync *ws;
  zr_zsock *router, *parent;
  zr_zsock_recv_cb on_parent;
  void *user;
  char *parent_ep;
  uv_timer_t timer;
  bool freeing;
  /* requests waiting for a chunk */
  parked *pk;
  size_t n_pk, cap_pk;
  /* routing state of the fetch in progress */
  uint64_t cur_sum, cur_version;
  bool have_cur;
  uint8_t *src;
  size_t n_src;
  uint32_t failures;
  bool parent_off;
  /* liveness of the parent, across versions */
  uint64_t quiet_since; /* a request went to the parent and nothing came back since (0: none) */
  uint64_t down_until;  /* the parent answered nothing for parent_timeout_ms: skipped until then */
  /* corrupt-once hook */
  bool corrupt_armed;
  uint32_t corrupt_index;
  unsigned char *scratch;
  size_t scratch_cap;
  zr_relay_stats st;
};

void zr_relay_opts_init(zr_relay_opts *o) {
  memset(o, 0, sizeof *o);
  o->zsock = zr_zsock_opts_default();
  o->park_ms = 5000;
  o->max_parked = 4096;
  o->parent_max_failures = 3;
  o->parent_timeout_ms = 10000;
}

/* ---- serving ---------------------------------------------------------------------------------- */

static void send_reply(zr_relay *r, const unsigned char *ident, size_t ident_len, uint64_t version, uint32_t index,
                       const void *data, uint32_t len, uint64_t offset, const char *error) {
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  Zerorl__WeightChunk wc = ZERORL__WEIGHT_CHUNK__INIT;
  wc.version = version;
  wc.chunk_index = index;
  if (error) {
    wc.error = (char *)error;
    r->st.refused++;
  } else {
    wc.offset = offset;
    wc.length = len;
    if (r->corrupt_armed && r->corrupt_index == index && len > 0) {
      r->corrupt_armed = false;
      if (r->scratch_cap < len) {
        unsigned char *s = realloc(r->scratch, len);
        if (!s) return;
        r->scratch = s;
        r->scratch_cap = len;
      }
      memcpy(r->scratch, data, len);
      r->scratch[len / 2] ^= 0x5a;
      data = r->scratch;
    }
    r->st.served_chunks++;
    r->st.served_bytes += len;
  }
  env.body_case = ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK;
  env.weight_chunk = &wc;
  uint8_t *buf = NULL;
  size_t blen = 0;
  if (zr_frame_encode(&env, r->job_id, r->sender_id, error ? 0 : 1, &buf, &blen) < 0) return;
  zr_zsock_part parts[3] = {{ident, ident_len}, {buf, blen}, {data, len}};
  if (zr_zsock_send(r->router, parts, error ? 2 : 3) < 0)
    zr_log_limited("relay-send", LOG_PERIOD_MS, ZR_LOG_DEBUG, COMP, "reply not sent: %s", zr_errmsg());
  free(buf);
}

/* 1: answered (chunk or error); 0: keep waiting. */
static int try_answer(zr_relay *r, const parked *p) {
  const void *d = NULL;
  uint32_t len = 0;
  uint64_t off = 0, v = 0;
  int rc = p->checksum ? zr_wsync_serve(r->ws, p->checksum, p->index, &d, &len, &off, &v) : -ENOENT;
  if (rc == 0) {
    send_reply(r, p->ident, p->ident_len, p->version, p->index, d, len, off, NULL);
    return 1;
  }
  if (rc == -EAGAIN) return 0;
  if (rc == -ERANGE) {
    send_reply(r, p->ident, p->ident_len, p->version, p->index, NULL, 0, 0, "no such chunk");
    return 1;
  }
  /* -ENOENT: not here. Wait for it unless this relay already holds or fetches something as new. */
  if (!p->checksum || v >= p->version) {
    send_reply(r, p->ident, p->ident_len, p->version, p->index, NULL, 0, 0, "version not held by this relay");
    return 1;
  }
  return 0;
}

static void on_request(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  (void)s;
  zr_relay *r = user;
  if (n < 2 || zmq_msg_size(&parts[0]) > MAX_IDENT) {
    r->st.bad_requests++;
    return;
  }
  zr_frame_limits lim = zr_frame_limits_default();
  zr_frame_msg msg;
  if (zr_zsock_decode(&msg, parts + 1, n - 1, r->job_id, &lim) < 0) {
    r->st.bad_requests++;
    zr_log_limited("relay-bad", LOG_PERIOD_MS, ZR_LOG_WARN, COMP, "dropped a bad request: %s", zr_errmsg());
    return;
  }
  const Zerorl__WeightChunkRequest *q = msg.env->weight_chunk_request;
  if (msg.env->body_case != ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK_REQUEST || !q) {
    r->st.bad_requests++;
    zr_frame_msg_release(&msg);
    return;
  }
  parked p;
  p.ident_len = zmq_msg_size(&parts[0]);
  memcpy(p.ident, zmq_msg_data(&parts[0]), p.ident_len);
  p.version = q->version;
  p.checksum = q->checksum;
  p.index = q->chunk_index;
  p.since_ms = zr_clock_mono_ms();
  zr_frame_msg_release(&msg);
  if (try_answer(r, &p)) return;
  if (r->n_pk >= r->o.max_parked) {
    send_reply(r, p.ident, p.ident_len, p.version, p.index, NULL, 0, 0, "relay busy");
    return;
  }
  if (r->n_pk == r->cap_pk) {
    size_t cap = r->cap_pk ? 2 * r->cap_pk : 64;
    parked *np = realloc(r->pk, cap * sizeof *np);
    if (!np) {
      send_reply(r, p.ident, p.ident_len, p.version, p.index, NULL, 0, 0, "relay out of memory");
      return;
    }
    r->pk = np;
    r->cap_pk = cap;
  }
  r->pk[r->n_pk++] = p;
  r->st.parked++;
}

void zr_relay_poke(zr_relay *r, uint64_t now_ms) {
  size_t k = 0;
  for (size_t i = 0; i < r->n_pk; i++) {
    parked *p = &r->pk[i];
    if (try_answer(r, p)) continue;
    if (now_ms >= p->since_ms + r->o.park_ms) {
      send_reply(r, p->ident, p->ident_len, p->version, p->index, NULL, 0, 0, "timed out waiting at the relay");
      continue;
    }
    if (k != i) r->pk[k] = *p;
    k++;
  }
  r->n_pk = k;
}

static void on_timer(uv_timer_t *t) {
  zr_relay *r = t->data;
  zr_relay_poke(r, zr_clock_mono_ms());
}

void zr_relay_corrupt_once(zr_relay *r, uint32_t index) {
  r->corrupt_armed = true;
  r->corrupt_index = index;
}

/* ---- fetching --------------------------------------------------------------------------------- */

/* Every message of the parent DEALER: the parent is alive; then the caller's callback. */
static void on_parent_msg(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  zr_relay *r = user;
  r->quiet_since = 0;
  if (r->on_parent) r->on_parent(s, parts, n, r->user);
}

int zr_relay_set_parent(zr_relay *r, const char *ep) {
  if (!ep) ep = "";
  if (!strcmp(ep, r->parent_ep ? r->parent_ep : "")) return 0;
  zr_zsock_free(&r->parent);
  free(r->parent_ep);
  r->parent_ep = NULL;
  r->failures = 0;
  r->parent_off = false;
  r->quiet_since = r->down_until = 0;
  if (r->src) memset(r->src, 0, r->n_src); /* chunks asked of the old parent are no failures of the new */
  if (!ep[0]) return 0;
  if (!(r->parent_ep = strdup(ep))) return zr_seterr(-ENOMEM, "relay: out of memory");
  zr_zsock_opts zo = r->o.zsock;
  zo.routing_id = NULL;
  zo.curve_server = false;
  if (!(r->parent = zr_zsock_new(r->loop, r->zctx, ZMQ_DEALER, &zo, on_parent_msg, r))) return -EIO;
  int rc = zr_zsock_connect(r->parent, ep);
  if (rc < 0) {
    zr_zsock_free(&r->parent);
    free(r->parent_ep);
    r->parent_ep = NULL;
    return rc;
  }
  ZR_INFO(COMP, "weight relay parent: %s", ep);
  return 0;
}

const char *zr_relay_parent(const zr_relay *r) { return r->parent_ep ? r->parent_ep : ""; }

static int send_request(zr_relay *r, zr_zsock *s, uint64_t version, uint32_t index, uint64_t checksum) {
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  Zerorl__WeightChunkRequest rq = ZERORL__WEIGHT_CHUNK_REQUEST__INIT;
  rq.version = version;
  rq.chunk_index = index;
  rq.checksum = checksum;
  env.body_case = ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK_REQUEST;
  env.weight_chunk_request = &rq;
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = zr_frame_encode(&env, r->job_id, r->sender_id, 0, &buf, &len);
  if (rc == 0) {
    zr_zsock_part p = {buf, len};
    rc = zr_zsock_send(s, &p, 1);
  }
  free(buf);
  return rc;
}

static int note_source(zr_relay *r, uint32_t index, uint8_t src) {
  if (index >= r->n_src) {
    size_t n = r->n_src ? r->n_src : 256;
    while (n <= index) n *= 2;
    uint8_t *ns = realloc(r->src, n);
    if (!ns) return -ENOMEM;
    memset(ns + r->n_src, 0, n - r->n_src);
    r->src = ns;
    r->n_src = n;
  }
  r->src[index] = src;
  return 0;
}

int zr_relay_pump(zr_relay *r, zr_zsock *learner, uint64_t now_ms) {
  uint64_t sum = 0, v = 0;
  if (!zr_wsync_fetch_id(r->ws, &sum, &v)) {
    r->have_cur = false;
    return 0;
  }
  if (!r->have_cur || sum != r->cur_sum || v != r->cur_version) { /* a new fetch */
    r->have_cur = true;
    r->cur_sum = sum;
    r->cur_version = v;
    if (r->src) memset(r->src, 0, r->n_src);
    r->failures = 0;
    r->parent_off = false;
  }
  /* a parent silent for parent_timeout_ms is down: its outstanding chunks go to the learner now */
  if (r->parent && r->down_until && now_ms >= r->down_until) r->down_until = 0; /* try it again */
  if (r->parent && !r->down_until && r->quiet_since && now_ms >= r->quiet_since + r->o.parent_timeout_ms) {
    r->down_until = now_ms + 3 * (uint64_t)r->o.parent_timeout_ms;
    r->quiet_since = 0;
    r->st.parents_down++;
    ZR_WARN(COMP, "weight relay parent %s answered nothing for %u ms; fetching from the learner", zr_relay_parent(r),
            r->o.parent_timeout_ms);
    for (size_t i = 0; i < r->n_src; i++)
      if (r->src[i] == SRC_PARENT && zr_wsync_refused(r->ws, v, (uint32_t)i) == 0) r->src[i] = SRC_LEARNER;
  }
  uint32_t idx[64];
  int n, sent = 0;
  while ((n = zr_wsync_requests(r->ws, now_ms, idx, 64)) > 0) {
    for (int i = 0; i < n; i++) {
      uint32_t tries = zr_wsync_tries(r->ws, idx[i]);
      if (tries > 1 && idx[i] < r->n_src && r->src[idx[i]] == SRC_PARENT) {
        r->st.parent_failures++;
        if (++r->failures >= r->o.parent_max_failures && !r->parent_off) {
          r->parent_off = true;
          r->st.parents_dropped++;
          ZR_WARN(COMP, "weight relay parent %s failed %u chunks of version %" PRIu64 "; fetching the rest from "
                        "the learner", zr_relay_parent(r), r->failures, v);
        }
      }
      bool up = r->parent && !r->parent_off && !r->down_until && tries <= 1;
      (void)note_source(r, idx[i], up ? SRC_PARENT : SRC_LEARNER);
      if (send_request(r, up ? r->parent : learner, v, idx[i], sum) == 0) sent++;
      if (up && !r->quiet_since) r->quiet_since = now_ms;
      if (up) r->st.to_parent++;
      else r->st.to_learner++;
    }
    if (n < 64) break;
  }
  return sent;
}

/* ---- lifetime --------------------------------------------------------------------------------- */

zr_relay *zr_relay_new(uv_loop_t *loop, void *zmq_ctx, const zr_relay_opts *o, zr_wsync *ws,
                       zr_zsock_recv_cb on_parent, void *user) {
  zr_relay *r = calloc(1, sizeof *r);
  if (!r) {
    zr_seterr(-ENOMEM, "relay: out of memory");
    return NULL;
  }
  zr_relay_opts d;
  zr_relay_opts_init(&d);
  r->o = *o;
  if (!r->o.park_ms) r->o.park_ms = d.park_ms;
  if (!r->o.max_parked) r->o.max_parked = d.max_parked;
  if (!r->o.parent_max_failures) r->o.parent_max_failures = d.parent_max_failures;
  if (!r->o.parent_timeout_ms) r->o.parent_timeout_ms = d.parent_timeout_ms;
  r->loop = loop;
  r->zctx = zmq_ctx;
  r->ws = ws;
  r->on_parent = on_parent;
  r->user = user;
  r->job_id = strdup(o->job_id ? o->job_id : "");
  r->sender_id = strdup(o->sender_id ? o->sender_id : "");
  r->o.listen = NULL;
  if (!r->job_id || !r->sender_id) {
    zr_seterr(-ENOMEM, "relay: out of memory");
    goto fail;
  }
  if (o->listen && o->listen[0]) {
    zr_zsock_opts zo = r->o.zsock;
    zo.routing_id = NULL;
    if (!(r->router = zr_zsock_new(loop, zmq_ctx, ZMQ_ROUTER, &zo, on_request, r))) goto fail;
    if (zr_zsock_bind(r->router, o->listen) < 0) goto fail;
  }
  uv_timer_init(loop, &r->timer);
  r->timer.data = r;
  uv_timer_start(&r->timer, on_timer, POKE_MS, POKE_MS);
  return r;
fail:
  zr_zsock_free(&r->router);
  free(r->job_id);
  free(r->sender_id);
  free(r);
  return NULL;
}

int zr_relay_endpoint(zr_relay *r, char *out, size_t cap) {
  if (!r->router) return zr_seterr(-ENOENT, "relay: not serving");
  return zr_zsock_last_endpoint(r->router, out, cap);
}

zr_relay_stats zr_relay_get_stats(const zr_relay *r) { return r->st; }

static void on_closed(uv_handle_t *h) {
  zr_relay *r = h->data;
  free(r->pk);
  free(r->src);
  free(r->scratch);
  free(r->job_id);
  free(r->sender_id);
  free(r->parent_ep);
  free(r);
}

void zr_relay_free(zr_relay **pr) {
  zr_relay *r = pr ? *pr : NULL;
  if (!r || r->freeing) return;
  *pr = NULL;
  r->freeing = true;
  zr_zsock_free(&r->router);
  zr_zsock_free(&r->parent);
  uv_timer_stop(&r->timer);
  uv_close((uv_handle_t *)&r->timer, on_closed);
}

/* ---- parent choice ---------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

int zr_relay_pick_parent(const char *const *endpoints, size_t n, const char *self, unsigned fanout, char *out,
                         size_t cap) {
  if (!out || cap == 0 || !self || fanout == 0) return zr_seterr(-EINVAL, "relay: bad arguments");
  out[0] = 0;
  const char **v = malloc((n ? n : 1) * sizeof *v);
  if (!v) return zr_seterr(-ENOMEM, "relay: out of memory");
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (endpoints[i] && endpoints[i][0]) v[m++] = endpoints[i];
  qsort(v, m, sizeof *v, cmp_str);
  size_t k = 0; /* dedup */
  for (size_t i = 0; i < m; i++)
    if (k == 0 || strcmp(v[k - 1], v[i])) v[k++] = v[i];
  m = k;
  const char *pick = NULL;
  size_t pos = m;
  for (size_t i = 0; i < m; i++)
    if (!strcmp(v[i], self)) pos = i;
  if (pos < m) {
    size_t p = pos / fanout; /* node pos's parent is node p - 1; 0 = the learner */
    if (p > 0) pick = v[p - 1];
  } else if (m > 0) {
    uint64_t h = zr_checksum64(self, strlen(self));
    pick = v[h % m];
  }
  int rc = 0;
  if (pick && (size_t)snprintf(out, cap, "%s", pick) >= cap) rc = zr_seterr(-ENOSPC, "relay: endpoint too long");
  free(v);
  return rc;
}
