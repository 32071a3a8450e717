/* wsync.c: fetching, checking and applying a published weight version (see wsync.h). */
#include "actor/wsync.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/util.h"

#define WS_MAX_DIMS 4
#define WS_MAX_NAME 1024

enum { CH_NEED = 0, CH_REQUESTED, CH_DONE, CH_RETRY };

typedef struct {
  char *name;
  zr_dtype dtype;
  int ndim;
  uint64_t shape[WS_MAX_DIMS];
  uint64_t offset, nbytes, numel;
} ws_tensor;

struct zr_wready {
  atomic_int refs; /* 1 when detached; 2 while a keep_held wsync also holds it */
  uint64_t version, step;
  size_t n_tensors;
  ws_tensor *t;
  unsigned char *buf; /* NULL in verify_only mode */
  uint64_t total;
  uint64_t checksum;     /* whole-version xxh3-64 (the content address) */
  uint32_t chunk_bytes, n_chunks;
};

struct zr_wsync {
  zr_wsync_cfg cfg;
  zr_wsync_stats st;
  bool has_held;
  uint64_t held;
  char held_learner[80], cur_learner[80]; /* learner_id of the held version and of the fetch */
  /* the fetch in progress (cur != NULL) */
  zr_wready *cur;
  bool complete;
  uint64_t started_ms;
  uint32_t chunk_bytes, n_chunks, n_done, hash_cursor;
  uint64_t *sums;
  uint64_t checksum;
  uint8_t *state;
  uint8_t *tries;       /* requests handed out per chunk (saturating) */
  uint64_t *sent_ms;
  zr_checksum_state *hs;
  char *endpoint;
  unsigned char **pend; /* verify_only: verified chunks ahead of hash_cursor, not hashed yet */
  zr_wready *kept;      /* keep_held: the held version, for zr_wsync_serve */
};

zr_wsync_cfg zr_wsync_cfg_default(void) {
  return (zr_wsync_cfg){.max_inflight = 8,
                        .request_timeout_ms = 2000,
                        .deadline_ms = 120000,
                        .max_total_bytes = 64ull << 30,
                        .max_chunk_bytes = 256u << 20,
                        .max_tensors = 1u << 20};
}

static void wready_destroy(zr_wready *r) {
  if (!r) return;
  if (r->t)
    for (size_t i = 0; i < r->n_tensors; i++) free(r->t[i].name);
  free(r->t);
  free(r->buf);
  free(r);
}

void zr_wready_free(zr_wready **r) {
  if (!r) return;
  if (*r && atomic_fetch_sub(&(*r)->refs, 1) == 1) wready_destroy(*r);
  *r = NULL;
}

uint64_t zr_wready_version(const zr_wready *r) { return r->version; }

/* Drops the fetch in progress (if any) without counting. */
static void drop_fetch(zr_wsync *w) {
  wready_destroy(w->cur);
  w->cur = NULL;
  free(w->sums);
  free(w->state);
  free(w->tries);
  free(w->sent_ms);
  if (w->pend)
    for (uint32_t i = 0; i < w->n_chunks; i++) free(w->pend[i]);
  free(w->pend);
  w->sums = NULL;
  w->state = NULL;
  w->tries = NULL;
  w->sent_ms = NULL;
  w->pend = NULL;
  if (w->hs) (void)zr_checksum_end(w->hs);
  w->hs = NULL;
  free(w->endpoint);
  w->endpoint = NULL;
  w->complete = false;
  w->n_chunks = w->n_done = w->hash_cursor = 0;
}

int zr_wsync_new(zr_wsync **out, const zr_wsync_cfg *cfg) {
  ZR_ASSERT(out);
  *out = NULL;
  zr_wsync_cfg d = zr_wsync_cfg_default(), c = cfg ? *cfg : d;
  if (c.max_inflight <= 0) c.max_inflight = d.max_inflight;
  if (!c.request_timeout_ms) c.request_timeout_ms = d.request_timeout_ms;
  if (!c.deadline_ms) c.deadline_ms = d.deadline_ms;
  if (!c.max_total_bytes) c.max_total_bytes = d.max_total_bytes;
  if (!c.max_chunk_bytes) c.max_chunk_bytes = d.max_chunk_bytes;
  if (!c.max_tensors) c.max_tensors = d.max_tensors;
  zr_wsync *w = calloc(1, sizeof *w);
  if (!w) return zr_seterr(-ENOMEM, "wsync: out of memory");
  w->cfg = c;
  *out = w;
  return 0;
}

void zr_wsync_free(zr_wsync **pw) {
  if (!pw || !*pw) return;
  drop_fetch(*pw);
  zr_wready_free(&(*pw)->kept);
  free(*pw);
  *pw = NULL;
}

void zr_wsync_set_held(zr_wsync *w, uint64_t version) {
  w->has_held = true;
  w->held = version;
}

bool zr_wsync_held_version(const zr_wsync *w, uint64_t *version) {
  if (!w->has_held) return false;
  if (version) *version = w->held;
  return true;
}

bool zr_wsync_fetching(const zr_wsync *w, uint64_t *version) {
  if (!w->cur || w->complete) return false;
  if (version) *version = w->cur->version;
  return true;
}

const char *zr_wsync_endpoint(const zr_wsync *w) { return w->endpoint ? w->endpoint : ""; }

bool zr_wsync_complete(const zr_wsync *w) { return w->cur && w->complete; }

zr_wsync_stats zr_wsync_get_stats(const zr_wsync *w) { return w->st; }

/* ---- announcement validation ------------------------------------------------------------- */

static int parse_dtype(const char *s, zr_dtype *dt) {
  if (!s) return -1;
  if (!strcasecmp(s, "f32") || !strcasecmp(s, "float32")) *dt = ZR_DT_F32;
  else if (!strcasecmp(s, "bf16") || !strcasecmp(s, "bfloat16")) *dt = ZR_DT_BF16;
  else if (!strcasecmp(s, "f16") || !strcasecmp(s, "float16")) *dt = ZR_DT_F16;
  else return -1;
  return 0;
}

static int cmp_offset(const void *a, const void *b) {
  const ws_tensor *x = *(ws_tensor *const *)a, *y = *(ws_tensor *const *)b;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmp_name(const void *a, const void *b) {
  return strcmp((*(ws_tensor *const *)a)->name, (*(ws_tensor *const *)b)->name);
}

#define BAD(code, ...) (w->st.bad_announcements++, zr_seterr((code), __VA_ARGS__))

/* Checks wv against every rule and the limits; builds the manifest into *ro (no buffer yet). */
static int validate(zr_wsync *w, const Zerorl__WeightVersion *wv, zr_wready **ro) {
  *ro = NULL;
  uint64_t v = wv->version;
  if (wv->chunk_bytes == 0) return BAD(-EINVAL, "wsync: version %" PRIu64 ": chunk_bytes is 0", v);
  if (wv->chunk_bytes > w->cfg.max_chunk_bytes)
    return BAD(-EMSGSIZE, "wsync: version %" PRIu64 ": chunk_bytes %u over the limit %u", v, wv->chunk_bytes,
               w->cfg.max_chunk_bytes);
  if (wv->total_bytes == 0) return BAD(-EINVAL, "wsync: version %" PRIu64 ": total_bytes is 0", v);
  if (wv->total_bytes > w->cfg.max_total_bytes)
    return BAD(-EMSGSIZE, "wsync: version %" PRIu64 ": total_bytes %" PRIu64 " over the limit %" PRIu64, v,
               wv->total_bytes, w->cfg.max_total_bytes);
  if (wv->total_bytes > (uint64_t)SIZE_MAX / 2)
    return BAD(-EMSGSIZE, "wsync: version %" PRIu64 ": total_bytes %" PRIu64 " too large", v, wv->total_bytes);
  uint64_t n_chunks = (wv->total_bytes + wv->chunk_bytes - 1) / wv->chunk_bytes;
  if (n_chunks > UINT32_MAX)
    return BAD(-EMSGSIZE, "wsync: version %" PRIu64 ": too many chunks (%" PRIu64 ")", v, n_chunks);
  if (wv->n_chunk_checksums != n_chunks || (n_chunks && !wv->chunk_checksums))
    return BAD(-EINVAL,
               "wsync: version %" PRIu64 ": chunk_checksums has %zu entries, total_bytes/chunk_bytes needs %" PRIu64,
               v, wv->n_chunk_checksums, n_chunks);
  if (wv->n_tensors == 0 || !wv->tensors) return BAD(-EINVAL, "wsync: version %" PRIu64 ": tensors is empty", v);
  if (wv->n_tensors > w->cfg.max_tensors)
    return BAD(-EMSGSIZE, "wsync: version %" PRIu64 ": %zu tensors over the limit %u", v, wv->n_tensors,
               w->cfg.max_tensors);

  zr_wready *r = calloc(1, sizeof *r);
  ws_tensor **order = NULL;
  int rc = 0;
  if (!r) return zr_seterr(-ENOMEM, "wsync: out of memory");
  atomic_init(&r->refs, 1);
  r->version = v;
  r->checksum = wv->checksum;
  r->chunk_bytes = wv->chunk_bytes;
  r->n_chunks = (uint32_t)n_chunks;
  r->step = wv->step;
  r->total = wv->total_bytes;
  r->t = calloc(wv->n_tensors, sizeof *r->t);
  order = malloc(wv->n_tensors * sizeof *order);
  if (!r->t || !order) {
    rc = zr_seterr(-ENOMEM, "wsync: out of memory");
    goto fail;
  }
  r->n_tensors = wv->n_tensors;
  uint64_t sum = 0;
  for (size_t i = 0; i < wv->n_tensors; i++) {
    const Zerorl__TensorInfo *ti = wv->tensors[i];
    ws_tensor *t = &r->t[i];
    order[i] = t;
    if (!ti) {
      rc = BAD(-EINVAL, "wsync: version %" PRIu64 ": tensors[%zu] is missing", v, i);
      goto fail;
    }
    size_t nl = ti->name ? strlen(ti->name) : 0;
    if (nl == 0 || nl > WS_MAX_NAME) {
      rc = BAD(-EINVAL, "wsync: version %" PRIu64 ": tensors[%zu].name is empty or longer than %d", v, i,
               WS_MAX_NAME);
      goto fail;
    }
    if (!(t->name = strdup(ti->name))) {
      rc = zr_seterr(-ENOMEM, "wsync: out of memory");
      goto fail;
    }
    if (parse_dtype(ti->dtype, &t->dtype) < 0) {
      rc = BAD(-EINVAL, "wsync: version %" PRIu64 ": tensors[%zu].dtype '%.32s' (%s) is not f32, bf16 or f16", v,
               i, ti->dtype ? ti->dtype : "", t->name);
      goto fail;
    }
    if (ti->n_shape < 1 || ti->n_shape > WS_MAX_DIMS || !ti->shape) {
      rc = BAD(-EINVAL, "wsync: version %" PRIu64 ": tensors[%zu].shape (%s) has %zu dims (1..%d)", v, i, t->name,
               ti->n_shape, WS_MAX_DIMS);
      goto fail;
    }
    t->ndim = (int)ti->n_shape;
    uint64_t numel = 1;
    for (size_t d = 0; d < ti->n_shape; d++) {
      uint64_t s = ti->shape[d];
      if (s == 0 || s > wv->total_bytes || numel > wv->total_bytes / s) {
        rc = BAD(-EINVAL, "wsync: version %" PRIu64 ": tensors[%zu].shape[%zu] (%s) = %" PRIu64 " is 0 or too large",
                 v, i, d, t->name, s);
        goto fail;
      }
      t->shape[d] = s;
      numel *= s;
    }
    t->numel = numel;
    uint64_t esz = zr_dtype_size(t->dtype);
    if (numel > UINT64_MAX / esz || ti->nbytes != numel * esz) {
      rc = BAD(-EINVAL, "wsync: version %" PRIu64 ": tensors[%zu].nbytes (%s) = %" PRIu64
               " but shape x dtype gives %" PRIu64, v, i, t->name, ti->nbytes,
               numel > UINT64_MAX / esz ? UINT64_MAX : numel * esz);
      goto fail;
    }
    if (ti->offset > wv->total_bytes || ti->nbytes > wv->total_bytes - ti->offset) {
      rc = BAD(-EINVAL, "wsync: version %" PRIu64 ": tensors[%zu].offset (%s) = %" PRIu64 " + nbytes %" PRIu64
               " runs past total_bytes %" PRIu64, v, i, t->name, ti->offset, ti->nbytes, wv->total_bytes);
      goto fail;
    }
    t->offset = ti->offset;
    t->nbytes = ti->nbytes;
    sum += ti->nbytes; /* each <= total and n <= max_tensors: no overflow for sane limits */
    if (sum > wv->total_bytes) {
      rc = BAD(-EINVAL, "wsync: version %" PRIu64 ": tensors' nbytes add up to more than total_bytes %" PRIu64, v,
               wv->total_bytes);
      goto fail;
    }
  }
  if (sum != wv->total_bytes) {
    rc = BAD(-EINVAL, "wsync: version %" PRIu64 ": total_bytes %" PRIu64 " but the tensors' nbytes add up to %" PRIu64,
             v, wv->total_bytes, sum);
    goto fail;
  }
  qsort(order, r->n_tensors, sizeof *order, cmp_offset);
  for (size_t i = 1; i < r->n_tensors; i++)
    if (order[i]->offset < order[i - 1]->offset + order[i - 1]->nbytes) {
      rc = BAD(-EINVAL, "wsync: version %" PRIu64 ": tensors %s and %s overlap (offset)", v, order[i - 1]->name,
               order[i]->name);
      goto fail;
    }
  qsort(order, r->n_tensors, sizeof *order, cmp_name);
  for (size_t i = 1; i < r->n_tensors; i++)
    if (!strcmp(order[i]->name, order[i - 1]->name)) {
      rc = BAD(-EINVAL, "wsync: version %" PRIu64 ": tensor name %s appears twice", v, order[i]->name);
      goto fail;
    }
  free(order);
  *ro = r;
  return 0;
fail:
  free(order);
  wready_destroy(r);
  return rc;
}

int zr_wsync_offer(zr_wsync *w, const Zerorl__WeightVersion *wv, uint64_t now_ms) {
  ZR_ASSERT(w);
  if (!wv) return BAD(-EINVAL, "wsync: no WeightVersion");
  /* A version from another learner process (restarted from a checkpoint) replaces whatever is
   * held or being fetched even when its number is lower: that learner rolled its versions back. */
  const char *lid = wv->learner_id ? wv->learner_id : "";
  bool other_held = lid[0] && w->held_learner[0] && strcmp(lid, w->held_learner) != 0;
  bool other_cur = lid[0] && w->cur_learner[0] && strcmp(lid, w->cur_learner) != 0;
  if (w->has_held && wv->version <= w->held && !other_held) return 0;
  if (w->cur && wv->version <= w->cur->version && !other_cur) return 0;
  zr_wready *r;
  int rc = validate(w, wv, &r);
  if (rc < 0) return rc;
  uint32_t n = (uint32_t)wv->n_chunk_checksums;
  bool vo = w->cfg.verify_only;
  unsigned char *buf = vo ? NULL : malloc((size_t)wv->total_bytes);
  unsigned char **pend = vo ? calloc(n, sizeof *pend) : NULL;
  uint64_t *sums = malloc(n * sizeof *sums);
  uint8_t *state = calloc(n, 1);
  uint8_t *tries = calloc(n, 1);
  uint64_t *sent = calloc(n, sizeof *sent);
  char *ep = strdup(wv->endpoint ? wv->endpoint : "");
  zr_checksum_state *hs = zr_checksum_begin();
  if ((!vo && !buf) || (vo && !pend) || !sums || !state || !tries || !sent || !ep || !hs) {
    free(buf);
    free(pend);
    free(sums);
    free(state);
    free(tries);
    free(sent);
    free(ep);
    if (hs) (void)zr_checksum_end(hs);
    wready_destroy(r);
    return zr_seterr(-ENOMEM, "wsync: out of memory for version %" PRIu64 " (%" PRIu64 " bytes)", wv->version,
                     wv->total_bytes);
  }
  if (w->cur) {
    w->st.versions_superseded++;
    drop_fetch(w);
  }
  memcpy(sums, wv->chunk_checksums, n * sizeof *sums);
  r->buf = buf;
  w->cur = r;
  w->sums = sums;
  w->state = state;
  w->tries = tries;
  w->pend = pend;
  w->sent_ms = sent;
  w->endpoint = ep;
  w->hs = hs;
  w->n_chunks = n;
  w->chunk_bytes = wv->chunk_bytes;
  w->checksum = wv->checksum;
  w->n_done = w->hash_cursor = 0;
  w->complete = false;
  w->started_ms = now_ms;
  snprintf(w->cur_learner, sizeof w->cur_learner, "%s", lid);
  w->st.versions_started++;
  return 1;
}

/* ---- fetching ---------------------------------------------------------------------------- */

int zr_wsync_requests(zr_wsync *w, uint64_t now_ms, uint32_t *indices, int max) {
  if (!w->cur || w->complete || max <= 0) return 0;
  int inflight = 0;
  for (uint32_t i = 0; i < w->n_chunks; i++) {
    if (w->state[i] != CH_REQUESTED) continue;
    if (now_ms - w->sent_ms[i] >= w->cfg.request_timeout_ms && now_ms >= w->sent_ms[i]) {
      w->state[i] = CH_RETRY;
      w->st.timeouts++;
    } else {
      inflight++;
    }
  }
  int room = w->cfg.max_inflight - inflight;
  if (room > max) room = max;
  int k = 0;
  for (uint32_t i = 0; i < w->n_chunks && k < room; i++) {
    uint8_t s = w->state[i];
    if (s != CH_NEED && s != CH_RETRY) continue;
    if (s == CH_RETRY) w->st.refetches++;
    w->state[i] = CH_REQUESTED;
    if (w->tries[i] < UINT8_MAX) w->tries[i]++;
    w->sent_ms[i] = now_ms;
    indices[k++] = i;
    w->st.requests++;
  }
  return k;
}

static void abandon(zr_wsync *w) {
  w->st.versions_abandoned++;
  drop_fetch(w);
}

int zr_wsync_chunk(zr_wsync *w, uint64_t version, uint32_t index, uint64_t offset, const void *data,
                   size_t len, uint64_t now_ms) {
  if (!w->cur || w->complete || version != w->cur->version) {
    w->st.ignored_chunks++;
    return 1;
  }
  if (index >= w->n_chunks) {
    w->st.bad_replies++;
    return zr_seterr(-EINVAL, "wsync: version %" PRIu64 ": chunk index %u out of range (%u chunks)", version, index,
                     w->n_chunks);
  }
  uint64_t off = (uint64_t)index * w->chunk_bytes;
  uint64_t want = w->cur->total - off < w->chunk_bytes ? w->cur->total - off : w->chunk_bytes;
  if (offset != off || len != want || (len && !data)) {
    w->st.bad_replies++;
    return zr_seterr(-EINVAL,
                     "wsync: version %" PRIu64 " chunk %u: offset %" PRIu64 " length %zu, expected %" PRIu64
                     " and %" PRIu64,
                     version, index, offset, len, off, want);
  }
  if (w->state[index] == CH_DONE) {
    w->st.ignored_chunks++;
    return 1;
  }
  if (zr_checksum64(data, len) != w->sums[index]) {
    w->st.bad_chunks++;
    w->state[index] = CH_RETRY;
    return zr_seterr(-EBADMSG, "wsync: version %" PRIu64 " chunk %u: checksum mismatch", version, index);
  }
  if (w->pend) { /* verify_only: hash it now if it is next, else hold a copy until it is */
    if (index != w->hash_cursor) {
      if (!(w->pend[index] = malloc(len ? len : 1))) {
        w->state[index] = CH_RETRY;
        return zr_seterr(-ENOMEM, "wsync: out of memory");
      }
      memcpy(w->pend[index], data, len);
    } else {
      zr_checksum_update(w->hs, data, len);
      w->hash_cursor++;
    }
  } else {
    memcpy(w->cur->buf + off, data, len);
  }
  w->state[index] = CH_DONE;
  w->n_done++;
  w->st.chunks_received++;
  w->st.bytes_received += len;
  /* whole-buffer checksum, streamed over the contiguous prefix received so far */
  while (w->hash_cursor < w->n_chunks && w->state[w->hash_cursor] == CH_DONE) {
    uint64_t o = (uint64_t)w->hash_cursor * w->chunk_bytes;
    uint64_t l = w->cur->total - o < w->chunk_bytes ? w->cur->total - o : w->chunk_bytes;
    if (w->pend) {
      zr_checksum_update(w->hs, w->pend[w->hash_cursor], (size_t)l);
      free(w->pend[w->hash_cursor]);
      w->pend[w->hash_cursor] = NULL;
    } else {
      zr_checksum_update(w->hs, w->cur->buf + o, (size_t)l);
    }
    w->hash_cursor++;
  }
  if (w->hash_cursor == w->n_chunks) {
    uint64_t got = zr_checksum_end(w->hs);
    w->hs = NULL;
    if (got != w->checksum) {
      abandon(w);
      return zr_seterr(-EBADMSG, "wsync: version %" PRIu64 ": whole-buffer checksum mismatch; version abandoned",
                       version);
    }
    w->complete = true;
    w->st.versions_completed++;
    w->st.last_fetch_ms = now_ms >= w->started_ms ? now_ms - w->started_ms : 0;
  }
  return 0;
}

int zr_wsync_tick(zr_wsync *w, uint64_t now_ms) {
  if (!w->cur || w->complete) return 0;
  if (now_ms < w->started_ms || now_ms - w->started_ms < w->cfg.deadline_ms) return 0;
  abandon(w);
  return 1;
}

/* ---- applying ---------------------------------------------------------------------------- */

int zr_wready_apply(const zr_wready *r, zr_tf *m) {
  ZR_ASSERT(r && m);
  if (!r->buf) return zr_seterr(-EINVAL, "wsync: version %" PRIu64 " was fetched verify-only (no bytes)", r->version);
  size_t nt = zr_tf_n_tensors(m);
  if (r->n_tensors != nt)
    return zr_seterr(-EINVAL, "wsync: version %" PRIu64 " has %zu tensors, the model %zu", r->version,
                     r->n_tensors, nt);
  uint64_t max_numel = 0;
  for (size_t i = 0; i < r->n_tensors; i++) {
    const ws_tensor *t = &r->t[i];
    const zr_tf_tensor *mt = zr_tf_tensor_find(m, t->name);
    if (!mt)
      return zr_seterr(-EINVAL, "wsync: version %" PRIu64 ": tensor %s is not in the model", r->version, t->name);
    bool same = mt->ndim == t->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = (uint64_t)mt->shape[d] == t->shape[d];
    if (!same)
      return zr_seterr(-EINVAL, "wsync: version %" PRIu64 ": tensor %s shape differs from the model's", r->version,
                       t->name);
    if (t->numel > max_numel) max_numel = t->numel;
  }
  float *tmp = malloc((size_t)(max_numel ? max_numel : 1) * sizeof(float));
  if (!tmp) return zr_seterr(-ENOMEM, "wsync: out of memory");
  int rc = 0;
  for (size_t i = 0; i < r->n_tensors && rc == 0; i++) {
    const ws_tensor *t = &r->t[i];
    zr_dtype_to_f32(t->dtype, r->buf + t->offset, tmp, (size_t)t->numel);
    rc = zr_tf_set_tensor(m, t->name, tmp, (size_t)t->numel);
  }
  free(tmp);
  return rc;
}

int zr_wsync_take(zr_wsync *w, zr_wready **out) {
  ZR_ASSERT(w && out);
  *out = NULL;
  if (!zr_wsync_complete(w)) return zr_seterr(-EAGAIN, "wsync: no complete version");
  *out = w->cur;
  w->cur = NULL;
  zr_wready_free(&w->kept);
  if (w->cfg.keep_held && (*out)->buf) {
    atomic_fetch_add(&(*out)->refs, 1);
    w->kept = *out;
  }
  w->has_held = true;
  w->held = (*out)->version;
  memcpy(w->held_learner, w->cur_learner, sizeof w->held_learner);
  drop_fetch(w);
  return 0;
}

int zr_wsync_apply(zr_wsync *w, zr_tf *m, uint64_t *version_out) {
  ZR_ASSERT(w && m);
  if (!zr_wsync_complete(w)) return zr_seterr(-EAGAIN, "wsync: no complete version");
  int rc = zr_wready_apply(w->cur, m);
  if (rc < 0) return rc;
  w->has_held = true;
  w->held = w->cur->version;
  memcpy(w->held_learner, w->cur_learner, sizeof w->held_learner);
  if (version_out) *version_out = w->held;
  if (w->cfg.keep_held) {
    zr_wready_free(&w->kept);
    w->kept = w->cur;
    w->cur = NULL;
  }
  drop_fetch(w);
  return 0;
}

/* ---- relaying ------------------------------------------------------------------------------ */

bool zr_wsync_fetch_id(const zr_wsync *w, uint64_t *checksum, uint64_t *version) {
  if (!w->cur || w->complete) return false;
  if (checksum) *checksum = w->checksum;
  if (version) *version = w->cur->version;
  return true;
}

uint32_t zr_wsync_tries(const zr_wsync *w, uint32_t index) {
  if (!w->cur || w->complete || index >= w->n_chunks) return 0;
  return w->tries[index];
}

int zr_wsync_refused(zr_wsync *w, uint64_t version, uint32_t index) {
  if (!w->cur || w->complete || version != w->cur->version || index >= w->n_chunks) return 1;
  if (w->state[index] != CH_REQUESTED) return 1;
  w->state[index] = CH_RETRY;
  return 0;
}

static void piece(const zr_wready *r, uint32_t index, const void **data, uint32_t *len, uint64_t *offset) {
  uint64_t off = (uint64_t)index * r->chunk_bytes;
  uint64_t l = r->total - off < r->chunk_bytes ? r->total - off : r->chunk_bytes;
  if (data) *data = r->buf + off;
  if (len) *len = (uint32_t)l;
  if (offset) *offset = off;
}

int zr_wsync_serve(const zr_wsync *w, uint64_t checksum, uint32_t index, const void **data, uint32_t *len,
                   uint64_t *offset, uint64_t *version) {
  const zr_wready *cur = w->cur && w->cur->buf && w->checksum == checksum ? w->cur : NULL;
  const zr_wready *r = cur ? cur : w->kept && w->kept->checksum == checksum ? w->kept : NULL;
  if (!r) {
    uint64_t newest = w->has_held ? w->held : 0;
    if (w->cur && w->cur->version > newest) newest = w->cur->version;
    if (version) *version = newest;
    return zr_seterr(-ENOENT, "wsync: no version with checksum %016" PRIx64 " here", checksum);
  }
  if (index >= r->n_chunks)
    return zr_seterr(-ERANGE, "wsync: chunk %u out of range (%u chunks)", index, r->n_chunks);
  if (r == cur && w->state[index] != CH_DONE) return -EAGAIN;
  piece(r, index, data, len, offset);
  if (version) *version = r->version;
  return 0;
}
