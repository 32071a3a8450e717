/* Unit tests for common/zap: allow-list parsing (comments, blank lines, trailing comments, bad
 * lines named by file:line, invalid Z85, file loading) and the handler itself against real
 * ZeroMQ CURVE sockets on one libuv loop: an allowed client's message arrives, an unknown
 * key's and a plain (no CURVE) client's do not, refusals are counted, a reload lets a new key
 * in, and a second handler on the same context is refused. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/zap.h"
#include "common/zsock.h"
#include "tests/test.h"

static void test_parse(void) {
  char pa[41], sa[41], pb[41], sb[41];
  CHECK_INT(zmq_curve_keypair(pa, sa), 0);
  CHECK_INT(zmq_curve_keypair(pb, sb), 0);
  uint8_t ka[32], kb[32], ks[32];
  CHECK(zmq_z85_decode(ka, pa) != NULL);
  CHECK(zmq_z85_decode(kb, pb) != NULL);
  CHECK(zmq_z85_decode(ks, sa) != NULL);
  char text[512];
  snprintf(text, sizeof text, "# clients of job x\n\n   \n%s\n\t%s   # actor-2\r\n# %s\n", pa, pb, sa);
  zr_zap_list l;
  CHECK_INT(zr_zap_list_parse(&l, text, "allow.txt"), 0);
  CHECK_INT(l.n, 2);
  CHECK(zr_zap_list_has(&l, ka));
  CHECK(zr_zap_list_has(&l, kb));
  CHECK(!zr_zap_list_has(&l, ks)); /* commented out */
  zr_zap_list_release(&l);
  CHECK_INT(l.n, 0);
  CHECK(!zr_zap_list_has(&l, ka));

  /* no final newline; a comment right after the key, with one space */
  snprintf(text, sizeof text, "%s #a", pa);
  CHECK_INT(zr_zap_list_parse(&l, text, "x"), 0);
  CHECK_INT(l.n, 1);
  zr_zap_list_release(&l);
  /* '#' is a Z85 character: a key with '#' inside is still a key; "#KEY" is a comment */
  {
    char hk[41], hs[41];
    for (int i = 0; i < 1000; i++) /* about one key in three has a '#' */
      if (zmq_curve_keypair(hk, hs) == 0 && strchr(hk, '#')) break;
    CHECK(strchr(hk, '#') != NULL);
    uint8_t kh[32];
    CHECK(zmq_z85_decode(kh, hk) != NULL);
    snprintf(text, sizeof text, "%s\n#%s\n", hk, pb);
    CHECK_INT(zr_zap_list_parse(&l, text, "x"), 0);
    CHECK_INT(l.n, 1);
    CHECK(zr_zap_list_has(&l, kh));
    CHECK(!zr_zap_list_has(&l, kb));
    zr_zap_list_release(&l);
  }

  /* empty and comment-only files: an empty list */
  CHECK_INT(zr_zap_list_parse(&l, "", "x"), 0);
  CHECK_INT(l.n, 0);
  CHECK_INT(zr_zap_list_parse(&l, "# nobody\n\n", "x"), 0);
  CHECK_INT(l.n, 0);

  /* bad lines: named by file and line, nothing kept */
  snprintf(text, sizeof text, "%s\n%.39s\n", pa, pb); /* too short */
  CHECK_INT(zr_zap_list_parse(&l, text, "allow.txt"), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "allow.txt:2:");
  CHECK(l.keys == NULL && l.n == 0);
  snprintf(text, sizeof text, "%sX\n", pa); /* too long */
  CHECK_INT(zr_zap_list_parse(&l, text, "f"), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "f:1:");
  snprintf(text, sizeof text, "%s %s\n", pa, pb); /* two keys on a line */
  CHECK_INT(zr_zap_list_parse(&l, text, "f"), -EINVAL);
  char bad[41];
  memcpy(bad, pa, 41);
  bad[5] = '"'; /* not a Z85 character */
  snprintf(text, sizeof text, "# x\n%s\n", bad);
  CHECK_INT(zr_zap_list_parse(&l, text, "f"), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "f:2:");

  /* files */
  char path[64];
  snprintf(path, sizeof path, "/tmp/zr-zap-XXXXXX");
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  dprintf(fd, "%s\n%s\n", pa, pb);
  close(fd);
  CHECK_INT(zr_zap_list_load(&l, path), 0);
  CHECK_INT(l.n, 2);
  zr_zap_list_release(&l);
  unlink(path);
  CHECK(zr_zap_list_load(&l, path) == -ENOENT);
  CHECK_CONTAINS(zr_errmsg(), path);
}

/* ---- the handler against real sockets ------------------------------------------------- */

static uv_loop_t loop;
static uv_timer_t tick;
static void on_tick(uv_timer_t *t) {}

static void run_for(const int *count, int want, uint64_t ms) {
  uint64_t end = zr_clock_mono_ms() + ms;
  while ((!count || *count < want) && zr_clock_mono_ms() < end) uv_run(&loop, UV_RUN_ONCE);
}

static int got;
static char last[64];
static void on_server(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  got++;
  size_t len = zmq_msg_size(&parts[n - 1]);
  if (len >= sizeof last) len = sizeof last - 1;
  memcpy(last, zmq_msg_data(&parts[n - 1]), len);
  last[len] = '\0';
}

static zr_zsock *client(void *cctx, const char *ep, const char *pub, const char *sec, const char *srv) {
  zr_zsock_opts o = zr_zsock_opts_default();
  o.linger_ms = 0;
  o.curve_public_key = pub;
  o.curve_secret_key = sec;
  o.curve_server_key = srv;
  zr_zsock *c = zr_zsock_new(&loop, cctx, ZMQ_DEALER, &o, NULL, NULL);
  CHECK(c != NULL);
  if (c) CHECK_INT(zr_zsock_connect(c, ep), 0);
  return c;
}

static void send_text(zr_zsock *c, const char *text) {
  zr_zsock_part p = {text, strlen(text)};
  CHECK_INT(zr_zsock_send(c, &p, 1), 0);
}

static void test_handler(void) {
  uv_loop_init(&loop);
  uv_timer_init(&loop, &tick);
  uv_timer_start(&tick, on_tick, 10, 10);
  void *sctx = zmq_ctx_new(), *cctx = zmq_ctx_new();
  char spub[41], ssec[41], apub[41], asec[41], upub[41], usec[41];
  CHECK_INT(zmq_curve_keypair(spub, ssec), 0);
  CHECK_INT(zmq_curve_keypair(apub, asec), 0);
  CHECK_INT(zmq_curve_keypair(upub, usec), 0);
  char path[64];
  snprintf(path, sizeof path, "/tmp/zr-zap-XXXXXX");
  int fd = mkstemp(path);
  dprintf(fd, "# allowed\n%s\n", apub);
  close(fd);

  /* a missing file: no handler */
  CHECK(zr_zap_new(&loop, sctx, "/nonexistent/allow") == NULL);
  CHECK_CONTAINS(zr_errmsg(), "/nonexistent/allow");
  CHECK(zr_zap_for_context(sctx) == NULL);

  zr_zap *z = zr_zap_new(&loop, sctx, path);
  CHECK(z != NULL);
  if (!z) return;
  CHECK(zr_zap_for_context(sctx) == z);
  CHECK(zr_zap_for_context(cctx) == NULL);
  CHECK(zr_zap_new(&loop, sctx, path) == NULL); /* one per context */
  CHECK_INT(zr_zap_get_stats(z).keys, 1);

  zr_zsock_opts so = zr_zsock_opts_default();
  so.linger_ms = 0;
  so.curve_server = true;
  so.curve_public_key = spub;
  so.curve_secret_key = ssec;
  zr_zsock *srv = zr_zsock_new(&loop, sctx, ZMQ_ROUTER, &so, on_server, NULL);
  CHECK(srv != NULL);
  CHECK_INT(zr_zsock_bind(srv, "tcp://127.0.0.1:*"), 0);
  char ep[128];
  CHECK_INT(zr_zsock_last_endpoint(srv, ep, sizeof ep), 0);

  /* the allowed client gets through */
  zr_zsock *ca = client(cctx, ep, apub, asec, spub);
  send_text(ca, "hello from a");
  run_for(&got, 1, 5000);
  CHECK_INT(got, 1);
  CHECK_STR(last, "hello from a");
  CHECK(zr_zap_get_stats(z).accepted >= 1);

  /* an unknown key and a plain client do not */
  zr_zsock *cu = client(cctx, ep, upub, usec, spub);
  zr_zsock *cp = client(cctx, ep, NULL, NULL, NULL);
  send_text(cu, "hello from u");
  send_text(cp, "hello from plain");
  run_for(NULL, 0, 1000);
  CHECK_INT(got, 1);
  zr_zap_stats st = zr_zap_get_stats(z);
  CHECK(st.refused >= 1);
  CHECK_INT(st.bad, 0);

  /* reload with u's key: a new connection with it gets in (libzmq 4.3 does not retry a
   * connection the server refused, so the old socket stays out) */
  FILE *f = fopen(path, "a");
  fprintf(f, "%s # added\n", upub);
  fclose(f);
  CHECK_INT(zr_zap_reload(z), 0);
  CHECK_INT(zr_zap_get_stats(z).keys, 2);
  CHECK_INT(zr_zap_get_stats(z).reloads, 1);
  zr_zsock *cu2 = client(cctx, ep, upub, usec, spub);
  send_text(cu2, "hello from u2");
  run_for(&got, 2, 5000);
  CHECK_INT(got, 2);
  CHECK_STR(last, "hello from u2");
  /* an invalid file keeps the list in force */
  f = fopen(path, "a");
  fprintf(f, "not a key\n");
  fclose(f);
  CHECK(zr_zap_reload(z) == -EINVAL);
  CHECK_INT(zr_zap_get_stats(z).keys, 2);
  CHECK_INT(got, 2); /* the plain client never got in */

  zr_zsock_free(&ca);
  zr_zsock_free(&cu);
  zr_zsock_free(&cu2);
  zr_zsock_free(&cp);
  zr_zsock_free(&srv);
  zr_zap_free(&z);
  CHECK(z == NULL);
  CHECK(zr_zap_for_context(sctx) == NULL);
  zr_zap_free(&z); /* NULL-safe */
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_INT(uv_loop_close(&loop), 0);
  zmq_ctx_term(sctx);
  zmq_ctx_term(cctx);
  unlink(path);
}

int main(void) {
  if (!zmq_has("curve")) TEST_SKIP("libzmq without CURVE");
  test_parse();
  test_handler();
  return TEST_DONE();
}
