/* Integration test for common/zsock: two libuv loops in two threads exchange 100,000 multipart
 * messages over tcp loopback, DEALER -> ROUTER, and the ROUTER acknowledges each one. Both
 * sides check that every message arrives exactly once and in order. The DEALER has a send HWM
 * of 100 and sends bursts of 5,000 messages from one callback without yielding, so most of the
 * traffic goes through the user-space FIFO. A 60 s deadline turns a hang into a failure. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/zsock.h"
#include "tests/test.h"

#define TOTAL 100000
#define BURST 5000
#define DEADLINE_MS 60000

static atomic_bool client_done; /* every ack has arrived */
static atomic_bool timed_out;
static uint64_t deadline;

typedef struct {
  uv_loop_t loop;
  uv_timer_t timer;
  zr_zsock *s;
  zr_zsock_stats final; /* stats just before the socket was freed */
  uint64_t next;        /* next sequence number expected (server, client acks) */
  uint64_t sent;        /* client: messages submitted */
  int failures;
  char first_failure[256];
} side;

static void fail(side *d, const char *what, uint64_t seq) {
  if (d->failures++ == 0)
    snprintf(d->first_failure, sizeof d->first_failure, "%s at seq=%llu (%s)", what,
             (unsigned long long)seq, zr_errmsg());
}

static size_t payload_len(uint64_t seq) { return 8 + (seq % 97) * 3; }
static uint8_t payload_byte(uint64_t seq, size_t i) { return (uint8_t)(seq * 31 + i * 7); }

static uint64_t get_u64(const zmq_msg_t *m) {
  uint64_t v = UINT64_MAX;
  if (zmq_msg_size((zmq_msg_t *)m) == sizeof v) memcpy(&v, zmq_msg_data((zmq_msg_t *)m), sizeof v);
  return v;
}

/* Stops a side: remembers its stats and closes everything so that uv_run returns. */
static void finish(side *d) {
  if (!d->s) return;
  d->final = zr_zsock_get_stats(d->s);
  zr_zsock_free(&d->s);
  uv_close((uv_handle_t *)&d->timer, NULL);
}

/* ---- server: ROUTER, checks order and content, acks each message ---- */

static void server_msg(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  side *d = user;
  if (n != 3) {
    fail(d, "server: wrong frame count", d->next);
    return;
  }
  uint64_t seq = get_u64(&parts[1]);
  if (seq != d->next) {
    fail(d, "server: out of order or duplicate", seq);
    return;
  }
  size_t len = zmq_msg_size(&parts[2]);
  const uint8_t *p = zmq_msg_data(&parts[2]);
  if (len != payload_len(seq)) {
    fail(d, "server: wrong payload length", seq);
    return;
  }
  for (size_t i = 0; i < len; i++)
    if (p[i] != payload_byte(seq, i)) {
      fail(d, "server: corrupt payload", seq);
      return;
    }
  d->next++;
  zr_zsock_part reply[3] = {
      {zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0])}, {&seq, sizeof seq}, {"ok", 2}};
  if (zr_zsock_send(s, reply, 3) != 0) fail(d, "server: ack send failed", seq);
}

static void server_tick(uv_timer_t *t) {
  side *d = t->data;
  if (atomic_load(&client_done) || atomic_load(&timed_out)) finish(d);
}

/* ---- client: DEALER, sends bursts, checks acks ---- */

static void client_msg(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  side *d = user;
  uint64_t seq = n == 2 ? get_u64(&parts[0]) : UINT64_MAX;
  if (n != 2 || zmq_msg_size(&parts[1]) != 2) {
    fail(d, "client: malformed ack", d->next);
    return;
  }
  if (seq != d->next) {
    fail(d, "client: ack out of order or duplicate", seq);
    return;
  }
  if (++d->next == TOTAL) {
    atomic_store(&client_done, true);
    finish(d); /* frees the socket from inside its own callback */
  }
}

static void client_tick(uv_timer_t *t) {
  side *d = t->data;
  if (zr_clock_mono_ms() > deadline) {
    atomic_store(&timed_out, true);
    finish(d);
    return;
  }
  /* A new burst once the FIFO is nearly drained, all in this one callback. */
  if (d->sent >= TOTAL || zr_zsock_get_stats(d->s).pending > 1000) return;
  uint8_t payload[512];
  for (int i = 0; i < BURST && d->sent < TOTAL; i++, d->sent++) {
    uint64_t seq = d->sent;
    size_t len = payload_len(seq);
    for (size_t j = 0; j < len; j++) payload[j] = payload_byte(seq, j);
    zr_zsock_part msg[2] = {{&seq, sizeof seq}, {payload, len}};
    if (zr_zsock_send(d->s, msg, 2) != 0) {
      fail(d, "client: send failed", seq);
      return;
    }
  }
}

static void *run_loop(void *arg) {
  side *d = arg;
  uv_run(&d->loop, UV_RUN_DEFAULT);
  return NULL;
}

int main(void) {
  void *ctx = zmq_ctx_new();
  CHECK(ctx != NULL);
  static side server, client;
  uint64_t t0 = zr_clock_mono_ms();
  deadline = t0 + DEADLINE_MS;

  /* Sockets are created here and then used only by their loop's thread. */
  zr_zsock_opts so = zr_zsock_opts_default();
  so.rcvhwm = 100;
  so.sndhwm = 100;
  CHECK_INT(uv_loop_init(&server.loop), 0);
  server.s = zr_zsock_new(&server.loop, ctx, ZMQ_ROUTER, &so, server_msg, &server);
  CHECK(server.s != NULL);
  CHECK_INT(zr_zsock_bind(server.s, "tcp://127.0.0.1:*"), 0);
  char ep[256];
  CHECK_INT(zr_zsock_last_endpoint(server.s, ep, sizeof ep), 0);

  zr_zsock_opts co = zr_zsock_opts_default();
  co.sndhwm = 100;
  co.rcvhwm = 100;
  CHECK_INT(uv_loop_init(&client.loop), 0);
  client.s = zr_zsock_new(&client.loop, ctx, ZMQ_DEALER, &co, client_msg, &client);
  CHECK(client.s != NULL);
  CHECK_INT(zr_zsock_connect(client.s, ep), 0);
  if (!server.s || !client.s) return TEST_DONE();

  uv_timer_init(&server.loop, &server.timer);
  server.timer.data = &server;
  uv_timer_start(&server.timer, server_tick, 5, 5);
  uv_timer_init(&client.loop, &client.timer);
  client.timer.data = &client;
  uv_timer_start(&client.timer, client_tick, 1, 1);

  pthread_t ts, tc;
  CHECK_INT(pthread_create(&ts, NULL, run_loop, &server), 0);
  CHECK_INT(pthread_create(&tc, NULL, run_loop, &client), 0);
  pthread_join(tc, NULL);
  pthread_join(ts, NULL);
  uint64_t elapsed = zr_clock_mono_ms() - t0;

  if (server.failures)
    fprintf(stderr, "server: %d failures, first: %s\n", server.failures, server.first_failure);
  if (client.failures)
    fprintf(stderr, "client: %d failures, first: %s\n", client.failures, client.first_failure);
  CHECK(!atomic_load(&timed_out));
  CHECK_INT(server.failures, 0);
  CHECK_INT(client.failures, 0);
  CHECK_INT(server.next, TOTAL);
  CHECK_INT(client.next, TOTAL);
  CHECK_INT(server.final.received, TOTAL);
  CHECK_INT(server.final.dropped, 0);
  CHECK_INT(server.final.sent, TOTAL);
  CHECK_INT(client.final.sent, TOTAL);
  CHECK_INT(client.final.received, TOTAL);
  CHECK_INT(client.final.pending, 0);
  CHECK(client.final.queued > 0); /* the HWM was hit and the FIFO carried messages */
  fprintf(stderr,
          "zsock_100k: %d messages each way in %llu ms; client queued=%llu, server acks "
          "queued=%llu\n",
          TOTAL, (unsigned long long)elapsed, (unsigned long long)client.final.queued,
          (unsigned long long)server.final.queued);

  CHECK_INT(uv_loop_close(&server.loop), 0);
  CHECK_INT(uv_loop_close(&client.loop), 0);
  CHECK_INT(zmq_ctx_term(ctx), 0);
  return TEST_DONE();
}
