/* test_weights.c: weight publishing (learner/wpub) into weight sync (actor/wsync) end to end,
 * without sockets: announcements go through the real frame encoder/decoder, chunks are served
 * in random order with duplicates, a corrupted chunk, a lost request, a superseded version and
 * a missed deadline; malformed announcements hit every validation rule. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "actor/wsync.h"
#include "common/error.h"
#include "common/frame.h"
#include "common/util.h"
#include "learner/wpub.h"
#include "model/backend.h"
#include "model/transformer.h"
#include "tests/test.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 11);
}

static zr_model_config tiny_config(int hidden) {
  zr_model_config c = {0};
  c.arch = ZR_ARCH_QWEN2;
  c.vocab_size = 64;
  c.hidden_size = hidden;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = hidden / 4;
  c.intermediate_size = 2 * hidden;
  c.max_position_embeddings = 128;
  c.rope_theta = 1e6;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = false;
  c.attention_bias = true;
  c.bos_token_id = -1;
  c.torch_dtype = ZR_DT_F32;
  return c;
}

static zr_tf *model(zr_backend *be, int hidden, uint64_t seed) {
  zr_model_config c = tiny_config(hidden);
  zr_tf *m = NULL;
  if (zr_tf_new(&m, &c, be) != 0) {
    fprintf(stderr, "zr_tf_new: %s\n", zr_errmsg());
    exit(1);
  }
  if (seed) CHECK_INT(zr_tf_init_random(m, seed, 0.5f), 0);
  return m;
}

static bool quiet;

/* Compares all parameters: bit-exact (tol 0) or within bf16 rounding. */
static bool same_params(zr_tf *a, zr_tf *b, bool bf16) {
  bool ok = zr_tf_n_tensors(a) == zr_tf_n_tensors(b);
  for (size_t i = 0; ok && i < zr_tf_n_tensors(a); i++) {
    const zr_tf_tensor *t = zr_tf_tensor_at(a, i);
    float *x = malloc(t->numel * sizeof(float)), *y = malloc(t->numel * sizeof(float));
    CHECK_INT(zr_tf_get_tensor(a, t->name, x, t->numel), 0);
    CHECK_INT(zr_tf_get_tensor(b, t->name, y, t->numel), 0);
    if (!bf16) {
      ok = memcmp(x, y, t->numel * sizeof(float)) == 0;
    } else {
      uint16_t *h = malloc(t->numel * 2);
      float *r = malloc(t->numel * sizeof(float));
      zr_f32_to_dtype(ZR_DT_BF16, x, h, t->numel);
      zr_dtype_to_f32(ZR_DT_BF16, h, r, t->numel);
      ok = memcmp(r, y, t->numel * sizeof(float)) == 0; /* exactly the rounded values */
      for (size_t j = 0; ok && j < t->numel; j++) ok = fabsf(x[j] - y[j]) <= fabsf(x[j]) * (1.0f / 256);
      free(h);
      free(r);
    }
    if (!ok && !quiet) fprintf(stderr, "tensor %s differs\n", t->name);
    free(x);
    free(y);
  }
  return ok;
}

/* The announcement as an actor receives it: encoded and decoded through frame.h. */
static zr_frame_msg announce(zr_wpub *p, uint64_t version) {
  uint8_t *buf = NULL;
  size_t len = 0;
  zr_frame_msg msg = {0};
  CHECK_INT(zr_wpub_encode_announcement(p, version, "tcp://learner:5556", "job1", "learner1", &buf, &len), 0);
  zr_bytes fr = {buf, len};
  zr_frame_limits lim = zr_frame_limits_default();
  int rc = zr_frame_decode(&msg, &fr, 1, "job1", &lim);
  if (rc != 0) fprintf(stderr, "decode: %s\n", zr_errmsg());
  CHECK_INT(rc, 0);
  CHECK(msg.env && msg.env->body_case == ZERORL__ENVELOPE__BODY_WEIGHT_VERSION);
  free(buf);
  return msg;
}

static int serve(zr_wpub *p, zr_wsync *w, uint64_t version, uint32_t idx, uint64_t now) {
  const void *d;
  uint32_t len;
  uint64_t off, sum;
  int rc = zr_wpub_chunk(p, version, idx, &d, &len, &off, &sum);
  if (rc < 0) return rc - 10000;
  return zr_wsync_chunk(w, version, idx, off, d, len, now);
}

/* Drives w to completion against p. lose: a chunk whose first request is dropped (or -1). */
static void fetch_all(zr_wpub *p, zr_wsync *w, uint64_t version, uint64_t *now, int lose, int *n_bad, int *n_dup) {
  uint32_t idx[64];
  bool lost = false;
  for (int iter = 0; iter < 100000 && !zr_wsync_complete(w); iter++) {
    *now += 10;
    int n = zr_wsync_requests(w, *now, idx, 64);
    for (int i = n - 1; i > 0; i--) { /* shuffle */
      int j = (int)(rnd() % (uint32_t)(i + 1));
      uint32_t t = idx[i];
      idx[i] = idx[j];
      idx[j] = t;
    }
    for (int i = 0; i < n; i++) {
      if ((int)idx[i] == lose && !lost) {
        lost = true;
        continue;
      }
      int rc = serve(p, w, version, idx[i], *now);
      if (rc == -EBADMSG) (*n_bad)++;
      else CHECK(rc == 0 || rc == 1);
      if (rc == 0 && rnd() % 5 == 0) { /* duplicate reply */
        CHECK_INT(serve(p, w, version, idx[i], *now), 1);
        (*n_dup)++;
      }
    }
  }
  CHECK(zr_wsync_complete(w));
}

static void test_roundtrip(zr_backend *be) {
  zr_tf *a = model(be, 32, 7), *b = model(be, 32, 99), *c = model(be, 32, 1234);
  quiet = true;
  CHECK(!same_params(a, b, false));
  quiet = false;
  zr_wpub *p = NULL;
  CHECK_INT(zr_wpub_new(&p, 2), 0);
  uint64_t lv = 0;
  CHECK(!zr_wpub_latest_version(p, &lv));

  /* f32: chunk size not a multiple of 4, so chunks split floats */
  zr_wversion *v1 = NULL;
  CHECK_INT(zr_wversion_build(&v1, a, 1, 10, ZR_DT_F32, 1000), 0);
  CHECK_INT(zr_wversion_total_bytes(v1), zr_tf_n_params(a) * 4);
  CHECK_INT(zr_wversion_n_chunks(v1), (zr_tf_n_params(a) * 4 + 999) / 1000);
  CHECK(zr_wversion_checksum(v1) == zr_checksum64(zr_wversion_data(v1), zr_wversion_total_bytes(v1)));
  uint32_t n1 = zr_wversion_n_chunks(v1);
  CHECK_INT(zr_wpub_add(p, v1), 0);
  CHECK(zr_wpub_latest_version(p, &lv) && lv == 1);

  zr_wsync_cfg cfg = zr_wsync_cfg_default();
  cfg.max_inflight = 16;
  cfg.request_timeout_ms = 100;
  cfg.deadline_ms = 1000000;
  zr_wsync *w = NULL;
  CHECK_INT(zr_wsync_new(&w, &cfg), 0);
  CHECK(!zr_wsync_held_version(w, NULL));
  uint64_t now = 1000;
  zr_frame_msg msg = announce(p, 0);
  CHECK_INT(msg.env->weight_version->version, 1);
  CHECK_INT(msg.env->weight_version->n_tensors, zr_tf_n_tensors(a));
  CHECK_INT(zr_wsync_offer(w, msg.env->weight_version, now), 1);
  CHECK_INT(zr_wsync_offer(w, msg.env->weight_version, now), 0); /* already fetching */
  CHECK_STR(zr_wsync_endpoint(w), "tcp://learner:5556");
  uint64_t fv = 0;
  CHECK(zr_wsync_fetching(w, &fv) && fv == 1);
  CHECK_INT(zr_wpub_corrupt_once(p, 1, 5), 0);
  int n_bad = 0, n_dup = 0;
  fetch_all(p, w, 1, &now, 7, &n_bad, &n_dup);
  CHECK_INT(n_bad, 1);
  zr_wsync_stats st = zr_wsync_get_stats(w);
  CHECK_INT(st.bad_chunks, 1);
  CHECK(st.timeouts >= 1);
  CHECK(st.refetches >= 2); /* the corrupted chunk and the lost one */
  CHECK_INT(st.chunks_received, n1);
  CHECK_INT(st.bytes_received, zr_tf_n_params(a) * 4);
  CHECK_INT(st.versions_completed, 1);
  CHECK(st.ignored_chunks >= (uint64_t)n_dup);
  CHECK(!zr_wsync_fetching(w, NULL));
  fprintf(stderr, "f32: %u chunks, %d duplicates, %llu requests, %llu refetches, %llu ms\n", n1, n_dup,
          (unsigned long long)st.requests, (unsigned long long)st.refetches,
          (unsigned long long)st.last_fetch_ms);
  /* the corruption was a one-off */
  const void *d;
  uint32_t len;
  uint64_t off, sum;
  CHECK_INT(zr_wpub_chunk(p, 1, 5, &d, &len, &off, &sum), 0);
  CHECK(zr_checksum64(d, len) == sum);
  uint64_t hv = 0;
  CHECK_INT(zr_wsync_apply(w, b, &hv), 0);
  CHECK_INT(hv, 1);
  CHECK(same_params(a, b, false));
  CHECK(zr_wsync_held_version(w, &hv) && hv == 1);
  CHECK_INT(zr_wsync_offer(w, msg.env->weight_version, now), 0); /* held */
  CHECK_INT(zr_wsync_apply(w, b, NULL), -EAGAIN);
  zr_frame_msg_release(&msg);

  /* bf16 of another model, through take + wready_apply */
  zr_wversion *v2 = NULL;
  CHECK_INT(zr_wversion_build(&v2, c, 2, 20, ZR_DT_BF16, 4096), 0);
  CHECK_INT(zr_wversion_total_bytes(v2), zr_tf_n_params(c) * 2);
  CHECK_INT(zr_wpub_add(p, v2), 0);
  msg = announce(p, 2);
  CHECK_STR(msg.env->weight_version->tensors[0]->dtype, "bf16");
  CHECK_INT(zr_wsync_offer(w, msg.env->weight_version, now), 1);
  zr_frame_msg_release(&msg);
  n_bad = 0;
  fetch_all(p, w, 2, &now, -1, &n_bad, &n_dup);
  CHECK_INT(n_bad, 0);
  zr_wready *r = NULL;
  CHECK_INT(zr_wsync_take(w, &r), 0);
  CHECK(!zr_wsync_complete(w));
  CHECK(zr_wsync_held_version(w, &hv) && hv == 2);
  CHECK_INT(zr_wready_version(r), 2);
  CHECK_INT(zr_wready_apply(r, b), 0);
  zr_wready_free(&r);
  CHECK(r == NULL);
  CHECK(same_params(c, b, true));
  CHECK_INT(zr_wsync_take(w, &r), -EAGAIN);

  /* keep-K: adding 3 and 4 evicts 1 and 2 */
  zr_wversion *v3 = NULL, *v4 = NULL, *vold = NULL;
  CHECK_INT(zr_wversion_build(&v3, a, 3, 30, ZR_DT_F32, 512), 0);
  CHECK_INT(zr_wversion_build(&v4, c, 4, 40, ZR_DT_F32, 2048), 0);
  CHECK_INT(zr_wpub_add(p, v3), 0);
  CHECK(!zr_wpub_has_version(p, 1) && zr_wpub_has_version(p, 2));
  CHECK_INT(zr_wpub_add(p, v4), 0);
  CHECK_INT(zr_wpub_n_versions(p), 2);
  CHECK(!zr_wpub_has_version(p, 2) && zr_wpub_has_version(p, 3) && zr_wpub_has_version(p, 4));
  CHECK_INT(zr_wpub_chunk(p, 1, 0, &d, &len, &off, &sum), -ENOENT);
  CHECK_INT(zr_wpub_chunk(p, 2, 0, &d, &len, &off, &sum), -ENOENT);
  CHECK_INT(zr_wpub_chunk(p, 3, 1u << 30, &d, &len, &off, &sum), -ERANGE);
  CHECK_INT(zr_wpub_corrupt_once(p, 2, 0), -ENOENT);
  Zerorl__WeightVersion tmpwv;
  CHECK_INT(zr_wpub_announcement(p, 1, NULL, &tmpwv), -ENOENT);
  CHECK_INT(zr_wversion_build(&vold, a, 4, 40, ZR_DT_F32, 2048), 0);
  CHECK_INT(zr_wpub_add(p, vold), -EINVAL); /* not newer; freed */
  CHECK(zr_wpub_latest_version(p, &lv) && lv == 4);
  zr_wpub_stats ps = zr_wpub_get_stats(p);
  CHECK_INT(ps.versions_added, 4);
  CHECK_INT(ps.versions_evicted, 2);
  CHECK(ps.chunk_misses >= 3);
  zr_wversion *bad = NULL;
  CHECK_INT(zr_wversion_build(&bad, a, 5, 50, ZR_DT_I32, 2048), -EINVAL);
  CHECK(bad == NULL);

  /* superseded mid-fetch: 3 half fetched, then 4 announced */
  msg = announce(p, 3);
  CHECK_INT(zr_wsync_offer(w, msg.env->weight_version, now), 1);
  zr_frame_msg_release(&msg);
  uint32_t idx[8];
  int n = zr_wsync_requests(w, now, idx, 8);
  CHECK_INT(n, 8);
  for (int i = 0; i < 4; i++) CHECK_INT(serve(p, w, 3, idx[i], now), 0);
  msg = announce(p, 4);
  CHECK_INT(zr_wsync_offer(w, msg.env->weight_version, now), 1);
  zr_frame_msg_release(&msg);
  CHECK(zr_wsync_fetching(w, &fv) && fv == 4);
  CHECK_INT(serve(p, w, 3, idx[4], now), 1); /* late chunk of the old version: ignored */
  msg = announce(p, 3);
  CHECK_INT(zr_wsync_offer(w, msg.env->weight_version, now), 0); /* older than the fetch */
  zr_frame_msg_release(&msg);
  st = zr_wsync_get_stats(w);
  CHECK_INT(st.versions_superseded, 1);
  fetch_all(p, w, 4, &now, -1, &n_bad, &n_dup);
  CHECK_INT(zr_wsync_apply(w, b, &hv), 0);
  CHECK_INT(hv, 4);
  CHECK(same_params(c, b, false));

  zr_wsync_free(&w);
  CHECK(w == NULL);
  zr_wpub_free(&p);
  CHECK(p == NULL);
  zr_tf_free(&a);
  zr_tf_free(&b);
  zr_tf_free(&c);
}

static void test_fetch_rules(zr_backend *be) {
  zr_tf *a = model(be, 32, 5);
  zr_wpub *p = NULL;
  CHECK_INT(zr_wpub_new(&p, 3), 0);
  CHECK_INT(zr_wpub_new(&(zr_wpub *){NULL}, 0), -EINVAL);
  zr_wversion *v = NULL;
  CHECK_INT(zr_wversion_build(&v, a, 9, 90, ZR_DT_F32, 0), 0); /* default chunk size: one chunk */
  CHECK_INT(zr_wversion_n_chunks(v), 1);
  zr_wversion_free(&v);
  CHECK_INT(zr_wversion_build(&v, a, 9, 90, ZR_DT_F32, 1024), 0);
  uint32_t nc = zr_wversion_n_chunks(v);
  CHECK_INT(zr_wpub_add(p, v), 0);
  Zerorl__WeightVersion wv;
  CHECK_INT(zr_wpub_announcement(p, 9, "ep", &wv), 0);

  /* in-flight window, timeouts, deadline */
  zr_wsync_cfg cfg = {.max_inflight = 4, .request_timeout_ms = 50, .deadline_ms = 500};
  zr_wsync *w = NULL;
  CHECK_INT(zr_wsync_new(&w, &cfg), 0);
  uint32_t idx[64];
  CHECK_INT(zr_wsync_requests(w, 0, idx, 64), 0); /* idle */
  CHECK_INT(zr_wsync_offer(w, &wv, 1000), 1);
  CHECK_INT(zr_wsync_requests(w, 1000, idx, 64), 4);
  CHECK_INT(idx[0], 0);
  CHECK_INT(zr_wsync_requests(w, 1010, idx, 64), 0); /* window full */
  CHECK_INT(serve(p, w, 9, 0, 1020), 0);
  CHECK_INT(serve(p, w, 9, 0, 1020), 1); /* duplicate */
  CHECK_INT(zr_wsync_requests(w, 1020, idx, 64), 1);
  CHECK_INT(idx[0], 4);
  /* 1, 2, 3 time out at 1050; 4 at 1070 */
  CHECK_INT(zr_wsync_requests(w, 1050, idx, 64), 3);
  CHECK_INT(idx[0], 1);
  CHECK_INT(idx[1], 2);
  CHECK_INT(idx[2], 3);
  zr_wsync_stats st = zr_wsync_get_stats(w);
  CHECK_INT(st.timeouts, 3);
  CHECK_INT(st.refetches, 3);
  /* bad replies */
  const void *d;
  uint32_t len;
  uint64_t off, sum;
  CHECK_INT(zr_wpub_chunk(p, 9, 1, &d, &len, &off, &sum), 0);
  CHECK_INT(zr_wsync_chunk(w, 9, nc, off, d, len, 1060), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "index");
  CHECK_INT(zr_wsync_chunk(w, 9, 1, off + 1, d, len, 1060), -EINVAL);
  CHECK_INT(zr_wsync_chunk(w, 9, 1, off, d, len - 1, 1060), -EINVAL);
  CHECK_INT(zr_wsync_chunk(w, 8, 1, off, d, len, 1060), 1); /* other version */
  CHECK_INT(zr_wsync_get_stats(w).bad_replies, 3);
  /* the deadline */
  CHECK_INT(zr_wsync_tick(w, 1499), 0);
  CHECK_INT(zr_wsync_tick(w, 1500), 1);
  CHECK(!zr_wsync_fetching(w, NULL));
  CHECK_INT(zr_wsync_get_stats(w).versions_abandoned, 1);
  CHECK_INT(zr_wsync_tick(w, 1600), 0);
  CHECK_INT(zr_wsync_requests(w, 1600, idx, 64), 0);
  CHECK_INT(serve(p, w, 9, 1, 1600), 1);
  CHECK_INT(zr_wsync_offer(w, &wv, 2000), 1); /* announced again: starts over */
  CHECK_INT(zr_wsync_requests(w, 2000, idx, 64), 4);
  CHECK_INT(idx[0], 0);
  zr_wsync_free(&w);

  /* a whole-buffer checksum that disagrees with the chunks: abandoned at the last chunk */
  CHECK_INT(zr_wsync_new(&w, NULL), 0);
  wv.checksum ^= 1;
  CHECK_INT(zr_wsync_offer(w, &wv, 0), 1);
  wv.checksum ^= 1;
  int last = 0;
  for (uint32_t i = 0; i < nc; i++) last = serve(p, w, 9, i, 1);
  CHECK_INT(last, -EBADMSG);
  CHECK_CONTAINS(zr_errmsg(), "whole-buffer");
  CHECK(!zr_wsync_complete(w));
  CHECK_INT(zr_wsync_get_stats(w).versions_abandoned, 1);
  CHECK_INT(zr_wsync_offer(w, &wv, 2), 1);
  for (uint32_t i = 0; i < nc; i++) CHECK_INT(serve(p, w, 9, i, 3), 0);
  CHECK(zr_wsync_complete(w));
  /* a model of other shapes: refused, nothing written, still complete */
  zr_tf *o = model(be, 16, 3), *o_copy = model(be, 16, 3);
  CHECK_INT(zr_wsync_apply(w, o, NULL), -EINVAL);
  CHECK(same_params(o, o_copy, false));
  CHECK(zr_wsync_complete(w));
  CHECK(!zr_wsync_held_version(w, NULL));
  zr_wsync_set_held(w, 100);
  uint64_t hv;
  CHECK(zr_wsync_held_version(w, &hv) && hv == 100);
  zr_wsync_free(&w);
  zr_tf_free(&o);
  zr_tf_free(&o_copy);
  zr_wpub_free(&p);
  zr_tf_free(&a);
}

/* ---- malformed announcements ------------------------------------------------------------- */

typedef struct {
  Zerorl__WeightVersion wv;
  Zerorl__TensorInfo *ti;
  Zerorl__TensorInfo **tp;
  uint64_t *shapes;
  uint64_t *sums;
  size_t nt, nsum;
} wv_copy;

/* A deep, mutable copy of wv (names and dtypes stay borrowed). */
static void copy_wv(wv_copy *c, const Zerorl__WeightVersion *wv) {
  c->wv = *wv;
  c->nt = wv->n_tensors;
  c->nsum = wv->n_chunk_checksums;
  c->ti = malloc(c->nt * sizeof *c->ti);
  c->tp = malloc(c->nt * sizeof *c->tp);
  c->shapes = calloc(c->nt * 4, sizeof *c->shapes);
  c->sums = calloc(c->nsum + 2, sizeof *c->sums);
  memcpy(c->sums, wv->chunk_checksums, c->nsum * sizeof *c->sums);
  for (size_t i = 0; i < c->nt; i++) {
    c->ti[i] = *wv->tensors[i];
    memcpy(&c->shapes[4 * i], wv->tensors[i]->shape, wv->tensors[i]->n_shape * sizeof(uint64_t));
    c->ti[i].shape = &c->shapes[4 * i];
    c->tp[i] = &c->ti[i];
  }
  c->wv.tensors = c->tp;
  c->wv.chunk_checksums = c->sums;
}

static void free_wv(wv_copy *c) {
  free(c->ti);
  free(c->tp);
  free(c->shapes);
  free(c->sums);
}

static int n_rejected;

/* Offers a tampered copy of good to a fresh wsync (cfg) and to busy (which is fetching a good
 * version); both must refuse with code and a message containing field. */
static void expect_bad(const Zerorl__WeightVersion *good, void (*tamper)(wv_copy *), const zr_wsync_cfg *cfg,
                       zr_wsync *busy, int code, const char *field, int line) {
  wv_copy c;
  copy_wv(&c, good);
  tamper(&c);
  zr_wsync *w = NULL;
  CHECK_INT(zr_wsync_new(&w, cfg), 0);
  int rc = zr_wsync_offer(w, &c.wv, 0);
  if (rc != code) fprintf(stderr, "line %d: rc %d (%s)\n", line, rc, zr_errmsg());
  CHECK_INT(rc, code);
  CHECK_CONTAINS(zr_errmsg(), field);
  CHECK(!zr_wsync_fetching(w, NULL));
  CHECK_INT(zr_wsync_get_stats(w).bad_announcements, 1);
  zr_wsync_free(&w);
  if (!busy) { /* a limit of cfg: the same announcement is fine for busy's defaults */
    free_wv(&c);
    return;
  }
  uint64_t before = 0, after = 0;
  CHECK(zr_wsync_fetching(busy, &before));
  c.wv.version = before + 1 + (uint64_t)n_rejected;
  rc = zr_wsync_offer(busy, &c.wv, 0);
  CHECK_INT(rc, code);
  CHECK(zr_wsync_fetching(busy, &after) && after == before); /* undisturbed */
  n_rejected++;
  free_wv(&c);
}

static void t_chunk0(wv_copy *c) { c->wv.chunk_bytes = 0; }
static void t_chunkbig(wv_copy *c) { c->wv.chunk_bytes = 300u << 20; }
static void t_total0(wv_copy *c) { c->wv.total_bytes = 0; }
static void t_totalbig(wv_copy *c) { c->wv.total_bytes = 1ull << 50; }
static void t_sums_short(wv_copy *c) { c->wv.n_chunk_checksums--; }
static void t_sums_long(wv_copy *c) { c->wv.n_chunk_checksums++; }
static void t_total_plus(wv_copy *c) { /* keeps the chunk count consistent, breaks the sum */
  c->wv.total_bytes += 4;
  c->wv.n_chunk_checksums = (c->wv.total_bytes + c->wv.chunk_bytes - 1) / c->wv.chunk_bytes;
}
static void t_total_minus(wv_copy *c) {
  c->wv.total_bytes -= c->ti[c->nt - 1].nbytes;
  c->wv.n_chunk_checksums = (c->wv.total_bytes + c->wv.chunk_bytes - 1) / c->wv.chunk_bytes;
}
static void t_no_tensors(wv_copy *c) { c->wv.n_tensors = 0; }
static void t_null_tensor(wv_copy *c) { c->tp[1] = NULL; }
static void t_name_empty(wv_copy *c) { c->ti[2].name = ""; }
static void t_dtype(wv_copy *c) { c->ti[0].dtype = "f8_e4m3"; }
static void t_shape_none(wv_copy *c) { c->ti[0].n_shape = 0; }
static void t_shape_many(wv_copy *c) { c->ti[0].n_shape = 5; }
static void t_shape_zero(wv_copy *c) { c->ti[0].shape[0] = 0; }
static void t_shape_huge(wv_copy *c) { c->ti[0].shape[0] = 1ull << 62; }
static void t_nbytes(wv_copy *c) { c->ti[1].nbytes -= 4; }
static void t_offset_past(wv_copy *c) { c->ti[c->nt - 1].offset += 4; }
static void t_offset_wrap(wv_copy *c) { c->ti[0].offset = UINT64_MAX - 3; }
static void t_overlap(wv_copy *c) { /* same total, in range, but tensors 1 and 2 swap into an overlap */
  c->ti[1].offset = c->ti[0].offset + 4;
}
static void t_dup_name(wv_copy *c) { c->ti[3].name = c->ti[1].name; }
static void t_many_tensors(wv_copy *c) { (void)c; }

static void test_bad_announcements(zr_backend *be) {
  zr_tf *a = model(be, 32, 5);
  zr_wpub *p = NULL;
  CHECK_INT(zr_wpub_new(&p, 1), 0);
  zr_wversion *v = NULL;
  CHECK_INT(zr_wversion_build(&v, a, 1, 1, ZR_DT_F32, 1000), 0);
  CHECK_INT(zr_wpub_add(p, v), 0);
  Zerorl__WeightVersion good;
  CHECK_INT(zr_wpub_announcement(p, 1, "ep", &good), 0);
  CHECK(good.n_tensors >= 4);
  zr_wsync *busy = NULL;
  CHECK_INT(zr_wsync_new(&busy, NULL), 0);
  CHECK_INT(zr_wsync_offer(busy, &good, 0), 1);
  zr_wsync_cfg dflt = zr_wsync_cfg_default();
  zr_wsync_cfg small = dflt;
  small.max_total_bytes = 1000;
  zr_wsync_cfg few = dflt;
  few.max_tensors = 3;

  CHECK_INT(zr_wsync_offer(busy, NULL, 0), -EINVAL);
  expect_bad(&good, t_chunk0, &dflt, busy, -EINVAL, "chunk_bytes", __LINE__);
  expect_bad(&good, t_chunkbig, &dflt, busy, -EMSGSIZE, "chunk_bytes", __LINE__);
  expect_bad(&good, t_total0, &dflt, busy, -EINVAL, "total_bytes", __LINE__);
  expect_bad(&good, t_totalbig, &dflt, busy, -EMSGSIZE, "total_bytes", __LINE__);
  expect_bad(&good, t_many_tensors, &small, NULL, -EMSGSIZE, "total_bytes", __LINE__);
  expect_bad(&good, t_sums_short, &dflt, busy, -EINVAL, "chunk_checksums", __LINE__);
  expect_bad(&good, t_sums_long, &dflt, busy, -EINVAL, "chunk_checksums", __LINE__);
  expect_bad(&good, t_total_plus, &dflt, busy, -EINVAL, "add up", __LINE__);
  expect_bad(&good, t_total_minus, &dflt, busy, -EINVAL, "offset", __LINE__);
  expect_bad(&good, t_no_tensors, &dflt, busy, -EINVAL, "tensors", __LINE__);
  expect_bad(&good, t_many_tensors, &few, NULL, -EMSGSIZE, "tensors over the limit", __LINE__);
  expect_bad(&good, t_null_tensor, &dflt, busy, -EINVAL, "tensors[1]", __LINE__);
  expect_bad(&good, t_name_empty, &dflt, busy, -EINVAL, "tensors[2].name", __LINE__);
  expect_bad(&good, t_dtype, &dflt, busy, -EINVAL, "tensors[0].dtype", __LINE__);
  expect_bad(&good, t_shape_none, &dflt, busy, -EINVAL, "tensors[0].shape", __LINE__);
  expect_bad(&good, t_shape_many, &dflt, busy, -EINVAL, "tensors[0].shape", __LINE__);
  expect_bad(&good, t_shape_zero, &dflt, busy, -EINVAL, "tensors[0].shape[0]", __LINE__);
  expect_bad(&good, t_shape_huge, &dflt, busy, -EINVAL, "tensors[0].shape[0]", __LINE__);
  expect_bad(&good, t_nbytes, &dflt, busy, -EINVAL, "tensors[1].nbytes", __LINE__);
  expect_bad(&good, t_offset_past, &dflt, busy, -EINVAL, "offset", __LINE__);
  expect_bad(&good, t_offset_wrap, &dflt, busy, -EINVAL, "tensors[0].offset", __LINE__);
  expect_bad(&good, t_overlap, &dflt, busy, -EINVAL, "overlap", __LINE__);
  expect_bad(&good, t_dup_name, &dflt, busy, -EINVAL, "twice", __LINE__);
  CHECK_INT(zr_wsync_get_stats(busy).bad_announcements, (uint64_t)n_rejected + 1);
  /* the busy fetch still completes */
  uint32_t nc = zr_wversion_n_chunks(v);
  for (uint32_t i = 0; i < nc; i++) CHECK_INT(serve(p, busy, 1, i, 1), 0);
  CHECK(zr_wsync_complete(busy));
  zr_tf *b = model(be, 32, 0);
  CHECK_INT(zr_wsync_apply(busy, b, NULL), 0);
  CHECK(same_params(a, b, false));
  zr_wsync_free(&busy);
  zr_wpub_free(&p);
  zr_tf_free(&a);
  zr_tf_free(&b);
}

int main(void) {
  zr_backend *be = NULL;
  if (zr_backend_cpu_new(&be, 2) != 0) {
    fprintf(stderr, "backend: %s\n", zr_errmsg());
    return 1;
  }
  test_roundtrip(be);
  test_fetch_rules(be);
  test_bad_announcements(be);
  zr_backend_free(&be);
  return TEST_DONE();
}
