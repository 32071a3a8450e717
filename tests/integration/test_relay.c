/* test_relay.c: the weight relay tree over real ZeroMQ tcp sockets on loopback (actor/relay.h).
 *
 * One publisher (learner/wpub.c behind a ROUTER and a PUB, as learner_net.c serves them) and
 * five relaying receivers (actor/wsync.c + actor/relay.c), all on one libuv loop:
 *
 *   learner <- R0 <- R1 <- R2        R1 gets one corrupted chunk from R0 (the relay lies)
 *           <- R4 <- R3              R4 dies (its relay and fetch are freed) mid-transfer
 *
 * Every receiver must end with exactly the published bytes (every chunk compared, and one
 * version applied to a model), in bounded time; the lie costs a refetch from the learner, the
 * death a request timeout, and the second version goes through the tree again (R3 falls back
 * at once once R4's failures pile up). Also: zr_relay_pick_parent's tree and its no-cycle
 * property, refusals of versions a relay does not hold, and wsync's verify_only mode. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <zmq.h>

#include "actor/relay.h"
#include "actor/wsync.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/util.h"
#include "common/zsock.h"
#include "learner/wpub.h"
#include "model/transformer.h"
#include "tests/test.h"

#define JOB "relayjob"
#define NR 6 /* R0..R4 relaying, R5 verify_only straight from the learner */

typedef struct rx rx;
struct rx {
  int id;
  zr_wsync *ws;
  zr_relay *relay;
  zr_zsock *sub, *learner;
  char ep[128];
  bool dead;
  uint64_t done_version;
};

static struct {
  uv_loop_t loop;
  void *zctx;
  zr_wpub *wp;
  zr_zsock *pub, *router;
  char chunk_ep[128];
  uint64_t version;
  rx r[NR];
  uv_timer_t tick;
  uint64_t deadline;
  bool timed_out;
  int kill_at; /* R3's chunk count at which R4 dies */
} T;

static void pub_on_request(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  (void)user;
  if (n < 2) return;
  zr_frame_limits lim = zr_frame_limits_default();
  zr_frame_msg msg;
  if (zr_zsock_decode(&msg, parts + 1, n - 1, JOB, &lim) < 0) return;
  const Zerorl__WeightChunkRequest *q = msg.env->weight_chunk_request;
  if (msg.env->body_case == ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK_REQUEST && q) {
    Zerorl__WeightChunk wc = ZERORL__WEIGHT_CHUNK__INIT;
    wc.version = q->version;
    wc.chunk_index = q->chunk_index;
    const void *d = NULL;
    uint32_t len = 0;
    uint64_t off = 0, sum = 0;
    int rc = zr_wpub_chunk(T.wp, q->version, q->chunk_index, &d, &len, &off, &sum);
    if (rc < 0) wc.error = (char *)"version no longer held";
    wc.offset = off;
    wc.length = len;
    wc.checksum = sum;
    Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
    env.body_case = ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK;
    env.weight_chunk = &wc;
    uint8_t *buf = NULL;
    size_t blen = 0;
    if (zr_frame_encode(&env, JOB, "learner", rc < 0 ? 0 : 1, &buf, &blen) == 0) {
      zr_zsock_part pr[3] = {{zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0])}, {buf, blen}, {d, len}};
      (void)zr_zsock_send(s, pr, rc < 0 ? 2 : 3);
    }
    free(buf);
  }
  zr_frame_msg_release(&msg);
}

static void announce(void) {
  uint8_t *buf = NULL;
  size_t len = 0;
  if (zr_wpub_encode_announcement(T.wp, T.version, T.chunk_ep, JOB, "learner", &buf, &len) == 0) {
    zr_zsock_part p = {buf, len};
    zr_zsock_send(T.pub, &p, 1);
  }
  free(buf);
}

static void kill_rx(rx *r) {
  r->dead = true;
  zr_relay_free(&r->relay);
  zr_zsock_free(&r->sub);
  zr_zsock_free(&r->learner);
}

static void rx_step(rx *r, uint64_t now) {
  if (r->dead) return;
  zr_wsync_tick(r->ws, now);
  if (zr_wsync_complete(r->ws)) {
    zr_wready *w = NULL;
    CHECK_INT(zr_wsync_take(r->ws, &w), 0);
    if (w) r->done_version = zr_wready_version(w);
    zr_wready_free(&w);
  }
  zr_relay_poke(r->relay, now);
  zr_relay_pump(r->relay, r->learner, now);
}

static void rx_on_announce(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  (void)s;
  rx *r = user;
  zr_frame_limits lim = zr_frame_limits_default();
  zr_frame_msg msg;
  if (zr_zsock_decode(&msg, parts, n, JOB, &lim) < 0) return;
  if (msg.env->body_case == ZERORL__ENVELOPE__BODY_WEIGHT_VERSION)
    CHECK(zr_wsync_offer(r->ws, msg.env->weight_version, zr_clock_mono_ms()) >= 0);
  zr_frame_msg_release(&msg);
  rx_step(r, zr_clock_mono_ms());
}

static void rx_on_chunk(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  (void)s;
  rx *r = user;
  if (r->dead) return;
  zr_frame_limits lim = zr_frame_limits_default();
  zr_frame_msg msg;
  if (zr_zsock_decode(&msg, parts, n, JOB, &lim) < 0) return;
  const Zerorl__WeightChunk *c = msg.env->weight_chunk;
  uint64_t now = zr_clock_mono_ms();
  if (msg.env->body_case == ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK && c) {
    if (c->error && c->error[0]) zr_wsync_refused(r->ws, c->version, c->chunk_index);
    else if (msg.n_bulk == 1)
      (void)zr_wsync_chunk(r->ws, c->version, c->chunk_index, c->offset, msg.bulk[0].data, msg.bulk[0].len, now);
  }
  zr_frame_msg_release(&msg);
  /* R4 dies once R3 has taken a quarter of the first version from it */
  if (r->id == 3 && !T.r[4].dead && T.kill_at > 0 &&
      zr_wsync_get_stats(r->ws).chunks_received >= (uint64_t)T.kill_at) {
    fprintf(stderr, "killing R4 after R3 got %d chunks\n", T.kill_at);
    kill_rx(&T.r[4]);
  }
  rx_step(r, now);
}

static void on_tick(uv_timer_t *t) {
  (void)t;
  uint64_t now = zr_clock_mono_ms();
  static uint64_t last_ann;
  if (now >= last_ann + 100) {
    announce();
    last_ann = now;
  }
  bool all = true;
  for (int i = 0; i < NR; i++) {
    rx_step(&T.r[i], now);
    if (!T.r[i].dead && T.r[i].done_version != T.version) all = false;
  }
  if (all) uv_stop(&T.loop);
  if (now > T.deadline) {
    T.timed_out = true;
    uv_stop(&T.loop);
  }
}

static zr_tf *model(zr_backend *be, uint64_t seed) {
  zr_model_config c = {0};
  c.arch = ZR_ARCH_QWEN2;
  c.vocab_size = 256;
  c.hidden_size = 64;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 16;
  c.intermediate_size = 128;
  c.max_position_embeddings = 64;
  c.rope_theta = 1e6;
  c.rms_norm_eps = 1e-6;
  c.bos_token_id = -1;
  c.torch_dtype = ZR_DT_F32;
  zr_tf *m = NULL;
  if (zr_tf_new(&m, &c, be) != 0 || zr_tf_init_random(m, seed, 0.5f) != 0) {
    fprintf(stderr, "model: %s\n", zr_errmsg());
    exit(1);
  }
  return m;
}

/* Every chunk a receiver can serve equals the publisher's. */
static void check_bytes(int id, uint64_t version) {
  rx *r = &T.r[id];
  Zerorl__WeightVersion wv;
  CHECK_INT(zr_wpub_announcement(T.wp, version, NULL, &wv), 0);
  int bad = 0;
  for (uint32_t i = 0; i < wv.n_chunk_checksums; i++) {
    const void *a, *b;
    uint32_t la, lb;
    uint64_t oa, ob, v = 0, sum;
    if (zr_wpub_chunk(T.wp, version, i, &a, &la, &oa, &sum) != 0 ||
        zr_wsync_serve(r->ws, wv.checksum, i, &b, &lb, &ob, &v) != 0 || la != lb || oa != ob || v != version ||
        memcmp(a, b, la) != 0)
      bad++;
  }
  if (bad) fprintf(stderr, "R%d: %d chunks of version %llu differ\n", id, bad, (unsigned long long)version);
  CHECK_INT(bad, 0);
}

static void run_version(uint64_t version, int timeout_ms) {
  T.version = version;
  T.deadline = zr_clock_mono_ms() + (uint64_t)timeout_ms;
  T.timed_out = false;
  announce();
  uv_run(&T.loop, UV_RUN_DEFAULT);
  CHECK(!T.timed_out);
  for (int i = 0; i < NR; i++) {
    if (T.r[i].dead) continue;
    if (T.r[i].done_version != version) fprintf(stderr, "R%d did not finish version %llu\n", i, (unsigned long long)version);
    CHECK_INT(T.r[i].done_version, version);
  }
}

static void test_pick_parent(void) {
  const char *eps[] = {"tcp://h5:1", "tcp://h1:1", "tcp://h3:1", "tcp://h2:1", "tcp://h4:1", "tcp://h1:1", ""};
  char out[64];
  /* sorted: h1 h2 h3 h4 h5; fanout 2: h1, h2 <- learner; h3, h4 <- h1; h5 <- h2 */
  CHECK_INT(zr_relay_pick_parent(eps, 7, "tcp://h1:1", 2, out, sizeof out), 0);
  CHECK_STR(out, "");
  CHECK_INT(zr_relay_pick_parent(eps, 7, "tcp://h2:1", 2, out, sizeof out), 0);
  CHECK_STR(out, "");
  CHECK_INT(zr_relay_pick_parent(eps, 7, "tcp://h3:1", 2, out, sizeof out), 0);
  CHECK_STR(out, "tcp://h1:1");
  CHECK_INT(zr_relay_pick_parent(eps, 7, "tcp://h4:1", 2, out, sizeof out), 0);
  CHECK_STR(out, "tcp://h1:1");
  CHECK_INT(zr_relay_pick_parent(eps, 7, "tcp://h5:1", 2, out, sizeof out), 0);
  CHECK_STR(out, "tcp://h2:1");
  CHECK_INT(zr_relay_pick_parent(eps, 7, "tcp://h5:1", 1, out, sizeof out), 0); /* a chain */
  CHECK_STR(out, "tcp://h4:1");
  /* not a relay itself: some relay of the list */
  CHECK_INT(zr_relay_pick_parent(eps, 7, "tcp://zz:1", 2, out, sizeof out), 0);
  CHECK(strncmp(out, "tcp://h", 7) == 0);
  CHECK_INT(zr_relay_pick_parent(eps, 0, "tcp://zz:1", 2, out, sizeof out), 0);
  CHECK_STR(out, "");
  CHECK_INT(zr_relay_pick_parent(eps, 7, "tcp://h5:1", 2, out, 4), -ENOSPC);
  /* whatever subset each member sees, its parent sorts before it: no cycles */
  char names[40][32];
  const char *all[40];
  for (int i = 0; i < 40; i++) {
    snprintf(names[i], sizeof names[i], "tcp://10.0.0.%d:5600", (i * 37) % 251);
    all[i] = names[i];
  }
  uint64_t x = 42;
  int bad = 0;
  for (int trial = 0; trial < 200; trial++) {
    const char *sub[40];
    size_t n = 0;
    int self = trial % 40;
    for (int i = 0; i < 40; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      if (i == self || x % 3) sub[n++] = all[i];
    }
    if (zr_relay_pick_parent(sub, n, all[self], 1 + trial % 4, out, sizeof out) != 0) bad++;
    else if (out[0] && strcmp(out, all[self]) >= 0) bad++;
  }
  CHECK_INT(bad, 0);
}

/* wsync's relay API without sockets: tries, refusals, serving while fetching, keep_held, and a
 * verify_only fetch with chunks arriving out of order. */
static void test_wsync_api(zr_wpub *p, uint64_t version) {
  Zerorl__WeightVersion wv;
  CHECK_INT(zr_wpub_announcement(p, version, "", &wv), 0);
  uint32_t n = (uint32_t)wv.n_chunk_checksums;
  for (int vo = 0; vo < 2; vo++) {
    zr_wsync_cfg c = zr_wsync_cfg_default();
    c.max_inflight = 4;
    c.keep_held = !vo;
    c.verify_only = vo;
    zr_wsync *w = NULL;
    CHECK_INT(zr_wsync_new(&w, &c), 0);
    uint64_t sum = 0, v = 0;
    CHECK(!zr_wsync_fetch_id(w, &sum, &v));
    CHECK_INT(zr_wsync_offer(w, &wv, 1), 1);
    CHECK(zr_wsync_fetch_id(w, &sum, &v) && sum == wv.checksum && v == version);
    uint32_t idx[8];
    CHECK_INT(zr_wsync_requests(w, 1, idx, 8), 4);
    CHECK_INT(zr_wsync_tries(w, idx[0]), 1);
    CHECK_INT(zr_wsync_refused(w, version, idx[0]), 0); /* requested again at once */
    CHECK_INT(zr_wsync_refused(w, version, idx[0]), 1); /* not in flight any more */
    CHECK_INT(zr_wsync_refused(w, version + 1, idx[1]), 1);
    uint32_t again[8];
    CHECK_INT(zr_wsync_requests(w, 2, again, 8), 1);
    CHECK_INT(again[0], idx[0]);
    CHECK_INT(zr_wsync_tries(w, idx[0]), 2);
    const void *d;
    uint32_t len;
    uint64_t off, sv;
    CHECK_INT(zr_wsync_serve(w, wv.checksum, 0, &d, &len, &off, &sv), vo ? -ENOENT : -EAGAIN);
    /* deliver each window of requests newest first (verify_only holds chunks that arrive ahead of
     * the whole-version hash until it reaches them) */
    uint32_t pend[64] = {again[0], idx[1], idx[2], idx[3]};
    int k = 4;
    for (int guard = 0; guard < 100000 && k > 0; guard++) {
      for (int i = k - 1; i >= 0; i--) {
        const void *cd;
        uint32_t cl;
        uint64_t co, cs;
        CHECK_INT(zr_wpub_chunk(p, version, pend[i], &cd, &cl, &co, &cs), 0);
        CHECK_INT(zr_wsync_chunk(w, version, pend[i], co, cd, cl, 3), 0);
      }
      k = zr_wsync_complete(w) ? 0 : zr_wsync_requests(w, 3, pend, 64);
    }
    CHECK(zr_wsync_complete(w));
    if (!vo) {
      CHECK_INT(zr_wsync_serve(w, wv.checksum, 1, &d, &len, &off, &sv), 0); /* complete, not taken */
      zr_wready *r = NULL;
      CHECK_INT(zr_wsync_take(w, &r), 0);
      zr_wready_free(&r); /* the wsync's own reference keeps the bytes */
      CHECK_INT(zr_wsync_serve(w, wv.checksum, n - 1, &d, &len, &off, &sv), 0);
      CHECK_INT(sv, version);
      CHECK_INT(zr_wsync_serve(w, wv.checksum ^ 1, 0, &d, &len, &off, &sv), -ENOENT);
      CHECK_INT(sv, version);
    } else {
      zr_wready *r = NULL;
      CHECK_INT(zr_wsync_take(w, &r), 0);
      CHECK_INT(zr_wsync_get_stats(w).versions_completed, 1);
      zr_wready_free(&r);
    }
    zr_wsync_free(&w);
  }
}

int main(void) {
  zr_log_set_level(ZR_LOG_WARN);
  test_pick_parent();

  zr_backend *be = NULL;
  if (zr_backend_cpu_new(&be, 1) != 0) return 1;
  zr_tf *src = model(be, 7), *dst = model(be, 99);
  uv_loop_init(&T.loop);
  T.zctx = zmq_ctx_new();
  zr_zsock_opts zo = zr_zsock_opts_default();
  zo.linger_ms = 0;
  CHECK_INT(zr_wpub_new(&T.wp, 2), 0);
  zr_wversion *v1 = NULL;
  CHECK_INT(zr_wversion_build(&v1, src, 1, 1, ZR_DT_F32, 4096), 0);
  uint32_t n_chunks = zr_wversion_n_chunks(v1);
  CHECK(n_chunks >= 40);
  CHECK_INT(zr_wpub_add(T.wp, v1), 0);
  test_wsync_api(T.wp, 1);
  T.pub = zr_zsock_new(&T.loop, T.zctx, ZMQ_PUB, &zo, NULL, NULL);
  T.router = zr_zsock_new(&T.loop, T.zctx, ZMQ_ROUTER, &zo, pub_on_request, NULL);
  CHECK(T.pub && T.router);
  CHECK_INT(zr_zsock_bind(T.pub, "tcp://127.0.0.1:*"), 0);
  CHECK_INT(zr_zsock_bind(T.router, "tcp://127.0.0.1:*"), 0);
  char pub_ep[128];
  CHECK_INT(zr_zsock_last_endpoint(T.pub, pub_ep, sizeof pub_ep), 0);
  CHECK_INT(zr_zsock_last_endpoint(T.router, T.chunk_ep, sizeof T.chunk_ep), 0);

  for (int i = 0; i < NR; i++) {
    rx *r = &T.r[i];
    r->id = i;
    zr_wsync_cfg wc = zr_wsync_cfg_default();
    wc.max_inflight = 4;
    wc.request_timeout_ms = 1000;
    wc.deadline_ms = 60000;
    wc.keep_held = i < 5;
    wc.verify_only = i == 5;
    CHECK_INT(zr_wsync_new(&r->ws, &wc), 0);
    zr_relay_opts ro;
    zr_relay_opts_init(&ro);
    char sender[16];
    snprintf(sender, sizeof sender, "rx%d", i);
    ro.job_id = JOB;
    ro.sender_id = sender;
    ro.zsock = zo;
    ro.listen = i < 5 ? "tcp://127.0.0.1:*" : NULL;
    ro.park_ms = 5000;
    r->relay = zr_relay_new(&T.loop, T.zctx, &ro, r->ws, rx_on_chunk, r);
    CHECK(r->relay != NULL);
    if (i < 5) CHECK_INT(zr_relay_endpoint(r->relay, r->ep, sizeof r->ep), 0);
    else CHECK_INT(zr_relay_endpoint(r->relay, r->ep, sizeof r->ep), -ENOENT);
    r->sub = zr_zsock_new(&T.loop, T.zctx, ZMQ_SUB, &zo, rx_on_announce, r);
    r->learner = zr_zsock_new(&T.loop, T.zctx, ZMQ_DEALER, &zo, rx_on_chunk, r);
    CHECK(r->sub && r->learner);
    zmq_setsockopt(zr_zsock_raw(r->sub), ZMQ_SUBSCRIBE, "", 0);
    CHECK_INT(zr_zsock_connect(r->sub, pub_ep), 0);
    CHECK_INT(zr_zsock_connect(r->learner, T.chunk_ep), 0);
  }
  CHECK_INT(zr_relay_set_parent(T.r[1].relay, T.r[0].ep), 0);
  CHECK_INT(zr_relay_set_parent(T.r[2].relay, T.r[1].ep), 0);
  CHECK_INT(zr_relay_set_parent(T.r[4].relay, T.r[0].ep), 0);
  CHECK_INT(zr_relay_set_parent(T.r[3].relay, T.r[4].ep), 0);
  CHECK_STR(zr_relay_parent(T.r[3].relay), T.r[4].ep);
  CHECK_STR(zr_relay_parent(T.r[0].relay), "");
  zr_relay_corrupt_once(T.r[0].relay, 5); /* R0 lies once about chunk 5 (to R1 or R4) */
  T.kill_at = (int)n_chunks / 4;
  uv_timer_init(&T.loop, &T.tick);
  uv_timer_start(&T.tick, on_tick, 20, 20);

  uint64_t t0 = zr_clock_mono_ms();
  run_version(1, 30000);
  fprintf(stderr, "version 1 (%u chunks) everywhere in %llu ms\n", n_chunks,
          (unsigned long long)(zr_clock_mono_ms() - t0));
  CHECK(T.r[4].dead);
  for (int i = 0; i < 4; i++) check_bytes(i, 1);
  zr_relay_stats s0 = zr_relay_get_stats(T.r[0].relay), s1 = zr_relay_get_stats(T.r[1].relay),
                 s3 = zr_relay_get_stats(T.r[3].relay);
  zr_wsync_stats w1 = zr_wsync_get_stats(T.r[1].ws), w3 = zr_wsync_get_stats(T.r[3].ws),
                 w5 = zr_wsync_get_stats(T.r[5].ws);
  uint64_t bad_total = 0;
  for (int i = 0; i < NR; i++) bad_total += zr_wsync_get_stats(T.r[i].ws).bad_chunks;
  fprintf(stderr, "R0 served %llu chunks; R1 served %llu; R1: %llu to parent, %llu to learner; R3: %llu to "
                  "parent, %llu to learner, %llu parent failures, dropped %llu; bad chunks %llu\n",
          (unsigned long long)s0.served_chunks, (unsigned long long)s1.served_chunks,
          (unsigned long long)zr_relay_get_stats(T.r[1].relay).to_parent,
          (unsigned long long)zr_relay_get_stats(T.r[1].relay).to_learner, (unsigned long long)s3.to_parent,
          (unsigned long long)s3.to_learner, (unsigned long long)s3.parent_failures,
          (unsigned long long)s3.parents_dropped, (unsigned long long)bad_total);
  CHECK(s0.served_chunks >= n_chunks);      /* R1 and R4 fetched through R0 */
  CHECK(s1.served_chunks > 0);              /* R2 through R1 */
  CHECK_INT(bad_total, 1);                  /* the one lie, caught by whoever got it */
  CHECK(w1.bad_chunks + zr_wsync_get_stats(T.r[4].ws).bad_chunks == 1);
  CHECK(s3.to_parent > 0 && s3.to_learner > 0); /* part from R4, the rest from the learner */
  CHECK_INT(s3.parents_dropped, 1);
  CHECK(w3.timeouts >= 1);
  CHECK_INT(w5.chunks_received, n_chunks); /* verify_only: straight from the learner */
  CHECK_INT(w5.versions_completed, 1);

  uint64_t hv = 0;
  CHECK(zr_wsync_held_version(T.r[2].ws, &hv) && hv == 1);

  /* a relay refuses a version it does not hold once it holds a newer or equal one */
  {
    const void *d;
    uint32_t len;
    uint64_t off, v = 0;
    CHECK_INT(zr_wsync_serve(T.r[0].ws, 12345, 0, &d, &len, &off, &v), -ENOENT);
    CHECK_INT(v, 1);
    Zerorl__WeightVersion wv;
    CHECK_INT(zr_wpub_announcement(T.wp, 1, NULL, &wv), 0);
    CHECK_INT(zr_wsync_serve(T.r[0].ws, wv.checksum, n_chunks, &d, &len, &off, &v), -ERANGE);
  }

  /* version 2 (another model) through the same tree; R3's parent is still dead */
  zr_wversion *v2 = NULL;
  CHECK_INT(zr_wversion_build(&v2, dst, 2, 2, ZR_DT_BF16, 3000), 0);
  CHECK_INT(zr_wpub_add(T.wp, v2), 0);
  t0 = zr_clock_mono_ms();
  run_version(2, 30000);
  fprintf(stderr, "version 2 everywhere in %llu ms\n", (unsigned long long)(zr_clock_mono_ms() - t0));
  for (int i = 0; i < 4; i++) check_bytes(i, 2);
  CHECK_INT(zr_relay_get_stats(T.r[3].relay).parents_dropped, 2);
  CHECK(zr_relay_get_stats(T.r[1].relay).served_chunks > s1.served_chunks);

  /* the version a relay re-serves is usable: R2's held bytes applied to a model equal the source */
  {
    zr_tf *chk = model(be, 5);
    zr_wversion *v3 = NULL;
    CHECK_INT(zr_wversion_build(&v3, src, 3, 3, ZR_DT_F32, 4096), 0);
    CHECK_INT(zr_wpub_add(T.wp, v3), 0);
    run_version(3, 30000);
    check_bytes(2, 3);
    /* apply through a fresh wsync fed from R2's relay bytes: the same path an actor takes */
    zr_wsync *w = NULL;
    zr_wsync_cfg wc = zr_wsync_cfg_default();
    CHECK_INT(zr_wsync_new(&w, &wc), 0);
    Zerorl__WeightVersion wv;
    CHECK_INT(zr_wpub_announcement(T.wp, 3, "", &wv), 0);
    CHECK_INT(zr_wsync_offer(w, &wv, 1), 1);
    uint32_t idx[64];
    int n;
    while ((n = zr_wsync_requests(w, 1, idx, 64)) > 0)
      for (int i = 0; i < n; i++) {
        const void *d;
        uint32_t len;
        uint64_t off, v;
        CHECK_INT(zr_wsync_serve(T.r[2].ws, wv.checksum, idx[i], &d, &len, &off, &v), 0);
        CHECK_INT(zr_wsync_chunk(w, 3, idx[i], off, d, len, 1), 0);
      }
    CHECK(zr_wsync_complete(w));
    CHECK_INT(zr_wsync_apply(w, chk, NULL), 0);
    size_t np = zr_tf_n_params(src);
    float *a = malloc(np * sizeof *a), *b = malloc(np * sizeof *b);
    size_t off = 0;
    int diff = 0;
    for (size_t i = 0; i < zr_tf_n_tensors(src); i++) {
      const zr_tf_tensor *t = zr_tf_tensor_at(src, i);
      zr_tf_get_tensor(src, t->name, a + off, t->numel);
      zr_tf_get_tensor(chk, t->name, b + off, t->numel);
      off += t->numel;
    }
    diff = memcmp(a, b, off * sizeof *a) != 0;
    CHECK_INT(diff, 0);
    free(a);
    free(b);
    zr_wsync_free(&w);
    zr_tf_free(&chk);
  }

  for (int i = 0; i < NR; i++) {
    if (!T.r[i].dead) kill_rx(&T.r[i]);
    zr_wsync_free(&T.r[i].ws);
  }
  uv_timer_stop(&T.tick);
  uv_close((uv_handle_t *)&T.tick, NULL);
  zr_zsock_free(&T.pub);
  zr_zsock_free(&T.router);
  uv_run(&T.loop, UV_RUN_DEFAULT);
  uv_loop_close(&T.loop);
  zmq_ctx_term(T.zctx);
  zr_wpub_free(&T.wp);
  zr_tf_free(&src);
  zr_tf_free(&dst);
  zr_backend_free(&be);
  return TEST_DONE();
}
