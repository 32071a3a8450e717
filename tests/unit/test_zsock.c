/* Unit tests for common/zsock: option validation, oversized multipart messages, the send FIFO
 * cap, ROUTER_MANDATORY, freeing a socket from its own callback, and CURVE, all against real
 * ZeroMQ sockets on one libuv loop. */
#include <errno.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/zsock.h"
#include "tests/test.h"

static uv_loop_t loop;
static void *ctx;
static uv_timer_t tick; /* keeps UV_RUN_ONCE from blocking for long */

static void on_tick(uv_timer_t *t) {}

/* Runs the loop until *flag (if given) becomes true or ms pass. */
static void run_for(const bool *flag, uint64_t ms) {
  uint64_t end = zr_clock_mono_ms() + ms;
  while ((!flag || !*flag) && zr_clock_mono_ms() < end) uv_run(&loop, UV_RUN_ONCE);
}

/* A receiver that records what it got. */
typedef struct {
  zr_zsock *s;
  int count;
  size_t nparts[8];
  char last[64];
  bool done;
  int want;
  bool free_self;
} sink;

static void on_msg(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  sink *k = user;
  if (k->count < 8) k->nparts[k->count] = n;
  size_t len = zmq_msg_size(&parts[n - 1]);
  if (len >= sizeof k->last) len = sizeof k->last - 1;
  memcpy(k->last, zmq_msg_data(&parts[n - 1]), len);
  k->last[len] = '\0';
  k->count++;
  if (k->count >= k->want) k->done = true;
  if (k->free_self) zr_zsock_free(&k->s);
}

static int send_str(zr_zsock *s, const char *a, const char *b) {
  zr_zsock_part p[2] = {{a, strlen(a)}, {b, b ? strlen(b) : 0}};
  return zr_zsock_send(s, p, b ? 2 : 1);
}

static zr_zsock_opts quick_opts(void) {
  zr_zsock_opts o = zr_zsock_opts_default();
  o.linger_ms = 0;
  return o;
}

static void test_defaults_and_validation(void) {
  zr_zsock_opts o = zr_zsock_opts_default();
  CHECK_INT(o.max_msg_bytes, 256ll << 20);
  CHECK_INT(o.sndhwm, 1000);
  CHECK_INT(o.rcvhwm, 1000);
  CHECK_INT(o.linger_ms, 1000);
  CHECK_INT(o.reconnect_ivl_ms, 100);
  CHECK_INT(o.reconnect_ivl_max_ms, 5000);
  CHECK_INT(o.max_parts, 8);
  CHECK_INT(o.max_pending, 100000);

  zr_zsock *s = zr_zsock_new(&loop, ctx, ZMQ_DEALER, NULL, NULL, NULL);
  CHECK(s != NULL);
  CHECK(zr_zsock_bind(s, "tcp://no.such.host.invalid:abc") < 0);
  CHECK_CONTAINS(zr_errmsg(), "tcp://no.such.host.invalid:abc");
  CHECK(zr_zsock_connect(s, "bogus://endpoint") < 0);
  CHECK_CONTAINS(zr_errmsg(), "bogus://endpoint");
  zr_zsock_free(&s);
  CHECK(s == NULL);
  zr_zsock_free(&s); /* NULL-safe */

  o = quick_opts();
  o.max_parts = 0;
  CHECK(zr_zsock_new(&loop, ctx, ZMQ_DEALER, &o, NULL, NULL) == NULL);
  CHECK_CONTAINS(zr_errmsg(), "max_parts=0");

  char pub[41], sec[41], pub2[41], sec2[41];
  CHECK_INT(zmq_curve_keypair(pub, sec), 0);
  CHECK_INT(zmq_curve_keypair(pub2, sec2), 0);
  o = quick_opts();
  o.curve_public_key = pub; /* public key alone */
  CHECK(zr_zsock_new(&loop, ctx, ZMQ_DEALER, &o, NULL, NULL) == NULL);
  CHECK_CONTAINS(zr_errmsg(), "half-configured CURVE");
  o.curve_secret_key = sec; /* client without a server key */
  CHECK(zr_zsock_new(&loop, ctx, ZMQ_DEALER, &o, NULL, NULL) == NULL);
  CHECK_CONTAINS(zr_errmsg(), "half-configured CURVE");
  o.curve_server = true; /* server with a server key */
  o.curve_server_key = pub2;
  CHECK(zr_zsock_new(&loop, ctx, ZMQ_ROUTER, &o, NULL, NULL) == NULL);
  CHECK_CONTAINS(zr_errmsg(), "half-configured CURVE");
  o = quick_opts();
  o.curve_server = true; /* server without keys */
  CHECK(zr_zsock_new(&loop, ctx, ZMQ_ROUTER, &o, NULL, NULL) == NULL);
  CHECK_CONTAINS(zr_errmsg(), "half-configured CURVE");
  o = quick_opts();
  o.curve_public_key = "tooshort";
  o.curve_secret_key = sec;
  o.curve_server_key = pub2;
  CHECK(zr_zsock_new(&loop, ctx, ZMQ_DEALER, &o, NULL, NULL) == NULL);
  CHECK_CONTAINS(zr_errmsg(), "curve_public_key");
}

static void test_max_parts(void) {
  sink k = {.want = 2};
  zr_zsock_opts o = quick_opts();
  o.max_parts = 3;
  zr_zsock *rx = zr_zsock_new(&loop, ctx, ZMQ_PULL, &o, on_msg, &k);
  zr_zsock *tx = zr_zsock_new(&loop, ctx, ZMQ_PUSH, &o, NULL, NULL);
  CHECK_INT(zr_zsock_bind(rx, "inproc://parts"), 0);
  CHECK_INT(zr_zsock_connect(tx, "inproc://parts"), 0);
  zr_zsock_part five[5] = {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}, {"e", 1}};
  zr_zsock_part three[3] = {{"x", 1}, {"y", 1}, {"three", 5}};
  CHECK_INT(zr_zsock_send(tx, five, 5), 0);
  CHECK_INT(send_str(tx, "one", "two"), 0);
  CHECK_INT(zr_zsock_send(tx, five, 5), 0);
  CHECK_INT(zr_zsock_send(tx, three, 3), 0);
  run_for(&k.done, 2000);
  run_for(NULL, 20); /* nothing more should arrive */
  zr_zsock_stats st = zr_zsock_get_stats(rx);
  CHECK_INT(k.count, 2);
  CHECK_INT(k.nparts[0], 2);
  CHECK_INT(k.nparts[1], 3);
  CHECK_STR(k.last, "three");
  CHECK_INT(st.dropped, 2);
  CHECK_INT(st.received, 2);
  CHECK_INT(zr_zsock_get_stats(tx).sent, 4);
  zr_zsock_free(&tx);
  zr_zsock_free(&rx);
}

static void test_fifo_cap_then_flush(void) {
  zr_zsock_opts o = quick_opts();
  o.max_pending = 5;
  zr_zsock *tx = zr_zsock_new(&loop, ctx, ZMQ_DEALER, &o, NULL, NULL);
  /* No peer yet: zmq takes nothing, so everything goes to the FIFO. */
  char buf[16];
  for (int i = 0; i < 5; i++) {
    snprintf(buf, sizeof buf, "m%d", i);
    CHECK_INT(send_str(tx, buf, NULL), 0);
  }
  CHECK_INT(send_str(tx, "m5", NULL), -ENOBUFS);
  CHECK_CONTAINS(zr_errmsg(), "max_pending=5");
  zr_zsock_stats st = zr_zsock_get_stats(tx);
  CHECK_INT(st.pending, 5);
  CHECK_INT(st.queued, 5);
  CHECK_INT(st.sent, 0);

  /* A peer appears: the FIFO drains in order. */
  sink k = {.want = 5};
  zr_zsock *rx = zr_zsock_new(&loop, ctx, ZMQ_ROUTER, &o, on_msg, &k);
  CHECK_INT(zr_zsock_bind(rx, "inproc://fifo"), 0);
  CHECK_INT(zr_zsock_connect(tx, "inproc://fifo"), 0);
  run_for(&k.done, 2000);
  CHECK_INT(k.count, 5);
  CHECK_STR(k.last, "m4");
  st = zr_zsock_get_stats(tx);
  CHECK_INT(st.pending, 0);
  CHECK_INT(st.sent, 5);

  /* ROUTER_MANDATORY: an unknown peer is an error, not a silent drop. */
  CHECK_INT(send_str(rx, "nobody", "hello"), -EHOSTUNREACH);
  CHECK_CONTAINS(zr_errmsg(), "ROUTER");
  zr_zsock_free(&tx);
  zr_zsock_free(&rx);
}

/* A ROUTER whose FIFO head is for a peer at its HWM holds back later messages to other peers
 * (documented head-of-line blocking) and delivers everything, in order, once that peer reads. */
static void test_router_head_of_line(void) {
  sink hub = {.want = 2}, fast = {.want = 1};
  zr_zsock_opts o = quick_opts();
  o.sndhwm = 5;
  zr_zsock *router = zr_zsock_new(&loop, ctx, ZMQ_ROUTER, &o, on_msg, &hub);
  CHECK_INT(zr_zsock_bind(router, "inproc://hol"), 0);
  void *slow = zmq_socket(ctx, ZMQ_DEALER); /* a raw peer that reads only when told */
  int five = 5, zero = 0;
  zmq_setsockopt(slow, ZMQ_RCVHWM, &five, sizeof five);
  zmq_setsockopt(slow, ZMQ_LINGER, &zero, sizeof zero);
  zmq_setsockopt(slow, ZMQ_ROUTING_ID, "slow", 4);
  CHECK_INT(zmq_connect(slow, "inproc://hol"), 0);
  o.routing_id = "fast";
  zr_zsock *f = zr_zsock_new(&loop, ctx, ZMQ_DEALER, &o, on_msg, &fast);
  CHECK_INT(zr_zsock_connect(f, "inproc://hol"), 0);
  CHECK_INT(zmq_send(slow, "hello", 5, 0), 5);
  CHECK_INT(send_str(f, "hello", NULL), 0);
  run_for(&hub.done, 2000); /* the ROUTER now knows both peers */
  CHECK_INT(hub.count, 2);

  char buf[16];
  for (int i = 0; i < 50; i++) {
    snprintf(buf, sizeof buf, "s%d", i);
    CHECK_INT(send_str(router, "slow", buf), 0);
  }
  CHECK(zr_zsock_get_stats(router).queued > 0);
  /* Zero-copy send to the fast peer: queued behind the slow peer's messages. */
  static char payload[] = "for-fast";
  zmq_msg_t m[2];
  zmq_msg_init_data(&m[0], "fast", 4, NULL, NULL);
  zmq_msg_init_data(&m[1], payload, strlen(payload), NULL, NULL);
  CHECK_INT(zr_zsock_send_msgs(router, m, 2), 0);
  CHECK_INT(zmq_msg_size(&m[0]), 0);
  run_for(NULL, 50);
  CHECK_INT(fast.count, 0);

  int got = 0, in_order = 1;
  uint64_t end = zr_clock_mono_ms() + 3000;
  while ((got < 50 || !fast.done) && zr_clock_mono_ms() < end) {
    uv_run(&loop, UV_RUN_ONCE);
    char rbuf[16];
    int r;
    while ((r = zmq_recv(slow, rbuf, sizeof rbuf - 1, ZMQ_DONTWAIT)) >= 0) {
      rbuf[r] = '\0';
      snprintf(buf, sizeof buf, "s%d", got++);
      if (strcmp(rbuf, buf) != 0) in_order = 0;
    }
  }
  CHECK_INT(got, 50);
  CHECK(in_order);
  CHECK_INT(fast.count, 1);
  CHECK_STR(fast.last, "for-fast");
  zr_zsock_stats st = zr_zsock_get_stats(router);
  CHECK_INT(st.pending, 0);
  CHECK_INT(st.sent, 51);
  CHECK_INT(st.send_errors, 0);
  zmq_close(slow);
  zr_zsock_free(&f);
  zr_zsock_free(&router);
}

static void test_free_in_callback(void) {
  sink k = {.want = 1, .free_self = true};
  zr_zsock_opts o = quick_opts();
  k.s = zr_zsock_new(&loop, ctx, ZMQ_PAIR, &o, on_msg, &k);
  zr_zsock *tx = zr_zsock_new(&loop, ctx, ZMQ_PAIR, &o, NULL, NULL);
  CHECK_INT(zr_zsock_bind(k.s, "inproc://selffree"), 0);
  CHECK_INT(zr_zsock_connect(tx, "inproc://selffree"), 0);
  for (int i = 0; i < 10; i++) CHECK_INT(send_str(tx, "x", "y"), 0);
  run_for(&k.done, 2000);
  run_for(NULL, 20);
  CHECK_INT(k.count, 1);
  CHECK(k.s == NULL);
  zr_zsock_free(&tx);
}

static void test_curve(void) {
  char spub[41], ssec[41], cpub[41], csec[41], other[41], osec[41];
  CHECK_INT(zmq_curve_keypair(spub, ssec), 0);
  CHECK_INT(zmq_curve_keypair(cpub, csec), 0);
  CHECK_INT(zmq_curve_keypair(other, osec), 0);

  sink srv = {.want = 1};
  zr_zsock_opts so = quick_opts();
  so.curve_server = true;
  so.curve_public_key = spub;
  so.curve_secret_key = ssec;
  zr_zsock *server = zr_zsock_new(&loop, ctx, ZMQ_PULL, &so, on_msg, &srv);
  CHECK(server != NULL);
  CHECK_INT(zr_zsock_bind(server, "tcp://127.0.0.1:*"), 0);
  char ep[256];
  CHECK_INT(zr_zsock_last_endpoint(server, ep, sizeof ep), 0);
  CHECK_CONTAINS(ep, "tcp://127.0.0.1:");

  zr_zsock_opts co = quick_opts();
  co.curve_public_key = cpub;
  co.curve_secret_key = csec;
  co.curve_server_key = spub;
  zr_zsock *good = zr_zsock_new(&loop, ctx, ZMQ_PUSH, &co, NULL, NULL);
  CHECK(good != NULL);
  CHECK_INT(zr_zsock_connect(good, ep), 0);
  CHECK_INT(send_str(good, "secret", "hello"), 0);
  run_for(&srv.done, 5000);
  CHECK_INT(srv.count, 1);
  CHECK_STR(srv.last, "hello");
  zr_zsock_free(&good);

  co.curve_server_key = other; /* not the server's key: the handshake must fail */
  zr_zsock *bad = zr_zsock_new(&loop, ctx, ZMQ_PUSH, &co, NULL, NULL);
  CHECK(bad != NULL);
  CHECK_INT(zr_zsock_connect(bad, ep), 0);
  CHECK_INT(send_str(bad, "secret", "intruder"), 0);
  run_for(NULL, 500);
  CHECK_INT(srv.count, 1);
  CHECK_STR(srv.last, "hello");
  zr_zsock_free(&bad);
  zr_zsock_free(&server);
}

int main(void) {
  uint64_t t0 = zr_clock_mono_ms();
  CHECK_INT(uv_loop_init(&loop), 0);
  ctx = zmq_ctx_new();
  CHECK(ctx != NULL);
  uv_timer_init(&loop, &tick);
  uv_timer_start(&tick, on_tick, 5, 5);

  test_defaults_and_validation();
  test_max_parts();
  test_fifo_cap_then_flush();
  test_router_head_of_line();
  test_free_in_callback();
  if (zmq_has("curve"))
    test_curve();
  else
    fprintf(stderr, "note: libzmq without CURVE, CURVE tests not run\n");

  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(&loop, UV_RUN_DEFAULT); /* runs the close callbacks: every handle must be gone */
  CHECK_INT(uv_loop_close(&loop), 0);
  CHECK_INT(zmq_ctx_term(ctx), 0);
  fprintf(stderr, "test_zsock: %llu ms\n", (unsigned long long)(zr_clock_mono_ms() - t0));
  return TEST_DONE();
}
