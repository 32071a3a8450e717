/* weight_dist.c: how long one policy version takes to reach N actors (issue 9, item 5).
 *
 * One publisher process (the learner's side: learner/wpub.c builds the version - manifest,
 * per-chunk and whole xxh3-64 - from a synthetic model of the requested size; a ZeroMQ PUB
 * announces it and a ROUTER serves WeightChunkRequests exactly as learner_net.c does) and N
 * receiver processes (the actor's side: actor/wsync.c verifies every chunk and the whole version,
 * actor/relay.c routes requests and, with --relay, re-serves verified chunks to other receivers),
 * all over real ZeroMQ tcp. The receivers are forked before any ZeroMQ context exists.
 *
 * Each round publishes a new version; its delivery time to a receiver is from the publisher's
 * first announcement (CLOCK_MONOTONIC, shared by all processes of the machine) to the moment that
 * receiver has every chunk verified and the whole checksum matched. Per round: the max and the
 * median over receivers; per configuration: the median of those over the rounds.
 *
 * Memory: without --relay receivers run wsync in verify_only mode (each chunk is checksummed and
 * streamed into the whole-version hash; chunks that arrive ahead of the hash are held until it
 * reaches them, then freed), so 32 receivers of a 1 GB version need no 32 GB. With --relay they
 * keep the version (a relay must hold what it serves).
 *
 *   weight_dist --size BYTES --actors N [--rounds 3] [--chunk 4194304] [--inflight 8]
 *               [--relay FANOUT] [--iperf-gbps G] [--netns PREFIX --ip-fmt 10.77.0.%d]
 *               [--timeout-ms 5000] [--port 15600]
 *
 * --netns PREFIX: the publisher enters network namespace PREFIX-pub, receiver i PREFIX-i (both
 * under /var/run/netns, made by bench/weight_dist.sh), and the addresses are --ip-fmt with 2 for
 * the publisher and i + 3 for receiver i; without it everything is on 127.0.0.1. Prints one
 * markdown table row (header with --header). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#include "actor/relay.h"
#include "actor/wsync.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/zsock.h"
#include "learner/wpub.h"
#include "model/transformer.h"

#define MAX_ACTORS 256
#define JOB "wdist"

static struct {
  uint64_t size;
  int actors, rounds, inflight, relay, port, header;
  uint32_t chunk, timeout_ms;
  double iperf_gbps;
  const char *netns, *ip_fmt;
} opt = {.size = 100000000, .actors = 1, .rounds = 3, .inflight = 8, .port = 15600, .chunk = 4u << 20,
         .timeout_ms = 5000, .ip_fmt = "10.77.0.%d"};

static void die(const char *what) {
  fprintf(stderr, "weight_dist: %s: %s\n", what, zr_errmsg());
  exit(1);
}

static void host_ip(int host, char *out, size_t cap) { /* host 0 = publisher, i + 1 = receiver i */
  if (!opt.netns) snprintf(out, cap, "127.0.0.1");
  else snprintf(out, cap, opt.ip_fmt, host + 2);
}

static void enter_netns(const char *suffix) {
  if (!opt.netns) return;
  char path[256];
  snprintf(path, sizeof path, "/var/run/netns/%s-%s", opt.netns, suffix);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
    fprintf(stderr, "weight_dist: entering %s: %s\n", path, strerror(errno));
    exit(1);
  }
  close(fd);
}

static void relay_ep(int i, char *out, size_t cap) {
  char ip[64];
  host_ip(i + 1, ip, sizeof ip);
  snprintf(out, cap, "tcp://%s:%d", ip, opt.port + 100 + i);
}

/* ---- receiver ------------------------------------------------------------------------------- */

typedef struct {
  uv_loop_t loop;
  void *zctx;
  zr_zsock *sub, *learner;
  zr_relay *relay;
  zr_wsync *ws;
  uv_timer_t tick;
  int fd, id;
  bool subscribed;
  uint64_t offer_ms;
} recv_t;

static void rx_pump(recv_t *r, uint64_t now) {
  zr_wsync_tick(r->ws, now);
  zr_relay_pump(r->relay, r->learner, now);
}

static void rx_complete(recv_t *r) {
  if (!zr_wsync_complete(r->ws)) return;
  uint64_t now = zr_clock_mono_ms();
  zr_wready *w = NULL;
  if (zr_wsync_take(r->ws, &w) < 0) die("take");
  zr_wsync_stats st = zr_wsync_get_stats(r->ws);
  zr_relay_stats rs = zr_relay_get_stats(r->relay);
  char line[512];
  int n = snprintf(line, sizeof line,
                   "done %d %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
                   " %" PRIu64 "\n",
                   r->id, zr_wready_version(w), r->offer_ms, now, st.refetches, st.bad_chunks, rs.to_parent,
                   rs.to_learner, rs.served_bytes);
  if (write(r->fd, line, (size_t)n) != n) exit(1);
  zr_wready_free(&w); /* with --relay the wsync keeps its own reference to re-serve it */
  zr_relay_poke(r->relay, now);
}

static void rx_on_announce(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  (void)s;
  recv_t *r = user;
  if (!r->subscribed) {
    r->subscribed = true; /* the first message (the publisher's warm-up): the SUB is connected */
    if (write(r->fd, "sub\n", 4) != 4) exit(1);
  }
  zr_frame_limits lim = zr_frame_limits_default();
  zr_frame_msg msg;
  if (zr_zsock_decode(&msg, parts, n, JOB, &lim) < 0) return;
  if (msg.env->body_case == ZERORL__ENVELOPE__BODY_WEIGHT_VERSION) {
    uint64_t now = zr_clock_mono_ms();
    int rc = zr_wsync_offer(r->ws, msg.env->weight_version, now);
    if (rc < 0) die("offer");
    if (rc == 1) {
      r->offer_ms = now;
      rx_pump(r, now);
      zr_relay_poke(r->relay, now);
    }
  }
  zr_frame_msg_release(&msg);
}

static void rx_on_chunk(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  (void)s;
  recv_t *r = user;
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
  zr_relay_poke(r->relay, now);
  rx_complete(r);
  rx_pump(r, now);
}

static void rx_on_tick(uv_timer_t *t) {
  recv_t *r = t->data;
  rx_pump(r, zr_clock_mono_ms());
}

static void on_term(int sig) {
  (void)sig;
  _exit(0);
}

static void receiver(int id, int fd) {
  signal(SIGTERM, on_term);
  char suffix[16];
  snprintf(suffix, sizeof suffix, "%d", id);
  enter_netns(suffix);
  recv_t r = {.fd = fd, .id = id};
  uv_loop_init(&r.loop);
  r.zctx = zmq_ctx_new();
  zr_wsync_cfg wc = zr_wsync_cfg_default();
  wc.max_inflight = opt.inflight;
  wc.request_timeout_ms = opt.timeout_ms;
  wc.deadline_ms = 3600000;
  wc.keep_held = opt.relay > 0;
  wc.verify_only = opt.relay == 0;
  if (zr_wsync_new(&r.ws, &wc) < 0) die("wsync");
  zr_zsock_opts zo = zr_zsock_opts_default();
  char ip[64], ep[128], sender[32];
  host_ip(0, ip, sizeof ip);
  snprintf(sender, sizeof sender, "rx%d", id);
  zr_relay_opts ro;
  zr_relay_opts_init(&ro);
  ro.job_id = JOB;
  ro.sender_id = sender;
  ro.zsock = zo;
  ro.park_ms = 4 * opt.timeout_ms;
  char mine[128];
  relay_ep(id, mine, sizeof mine);
  if (opt.relay > 0) ro.listen = mine;
  if (!(r.relay = zr_relay_new(&r.loop, r.zctx, &ro, r.ws, rx_on_chunk, &r))) die("relay");
  if (opt.relay > 0) {
    const char *eps[MAX_ACTORS];
    char store[MAX_ACTORS][128];
    for (int i = 0; i < opt.actors; i++) {
      relay_ep(i, store[i], sizeof store[i]);
      eps[i] = store[i];
    }
    char parent[128];
    if (zr_relay_pick_parent(eps, (size_t)opt.actors, mine, (unsigned)opt.relay, parent, sizeof parent) < 0 ||
        zr_relay_set_parent(r.relay, parent) < 0)
      die("parent");
  }
  if (!(r.sub = zr_zsock_new(&r.loop, r.zctx, ZMQ_SUB, &zo, rx_on_announce, &r))) die("sub");
  zmq_setsockopt(zr_zsock_raw(r.sub), ZMQ_SUBSCRIBE, "", 0);
  snprintf(ep, sizeof ep, "tcp://%s:%d", ip, opt.port);
  if (zr_zsock_connect(r.sub, ep) < 0) die("sub connect");
  if (!(r.learner = zr_zsock_new(&r.loop, r.zctx, ZMQ_DEALER, &zo, rx_on_chunk, &r))) die("dealer");
  snprintf(ep, sizeof ep, "tcp://%s:%d", ip, opt.port + 1);
  if (zr_zsock_connect(r.learner, ep) < 0) die("dealer connect");
  uv_timer_init(&r.loop, &r.tick);
  r.tick.data = &r;
  uv_timer_start(&r.tick, rx_on_tick, 50, 50);
  if (write(fd, "ready\n", 6) != 6) exit(1);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  exit(0);
}

/* ---- publisher -------------------------------------------------------------------------------- */

typedef struct {
  int id;
  uint64_t version, offer_ms, done_ms, refetches, bad, to_parent, to_learner, served;
} report;

typedef struct {
  uv_loop_t loop;
  void *zctx;
  zr_zsock *pub, *router;
  zr_wpub *wp;
  char chunk_ep[128];
  uv_timer_t announce;
  uv_poll_t polls[MAX_ACTORS];
  int fds[MAX_ACTORS];
  char bufs[MAX_ACTORS][1024];
  size_t blen[MAX_ACTORS];
  int ready, subscribed, done;
  uint64_t version, t0;
  report rep[MAX_ACTORS];
} pub_t;

static void pub_on_request(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  pub_t *p = user; /* the same steps as learner_net.c lr_on_weights */
  if (n < 2) return;
  zr_frame_limits lim = zr_frame_limits_default();
  zr_frame_msg msg;
  if (zr_zsock_decode(&msg, parts + 1, n - 1, JOB, &lim) < 0) return;
  if (msg.env->body_case != ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK_REQUEST) {
    zr_frame_msg_release(&msg);
    return;
  }
  const Zerorl__WeightChunkRequest *req = msg.env->weight_chunk_request;
  Zerorl__WeightChunk wc = ZERORL__WEIGHT_CHUNK__INIT;
  wc.version = req->version;
  wc.chunk_index = req->chunk_index;
  const void *data = NULL;
  uint32_t len = 0;
  uint64_t off = 0, sum = 0;
  int rc = zr_wpub_chunk(p->wp, req->version, req->chunk_index, &data, &len, &off, &sum);
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
    zr_zsock_part pr[3] = {{zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0])}, {buf, blen}, {data, len}};
    (void)zr_zsock_send(s, pr, rc < 0 ? 2 : 3);
  }
  free(buf);
  zr_frame_msg_release(&msg);
}

static void pub_announce(pub_t *p) {
  uint8_t *buf = NULL;
  size_t len = 0;
  if (zr_wpub_encode_announcement(p->wp, p->version, p->chunk_ep, JOB, "learner", &buf, &len) < 0) die("announce");
  zr_zsock_part part = {buf, len};
  zr_zsock_send(p->pub, &part, 1);
  free(buf);
}

static void on_announce_timer(uv_timer_t *t) { pub_announce(t->data); }

/* Until every receiver's SUB is connected (ZeroMQ reconnects with back-off, and PUB drops what
 * no subscriber gets), a non-weight message every 50 ms; receivers report its arrival. */
static void on_warmup_timer(uv_timer_t *t) {
  pub_t *p = t->data;
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  Zerorl__WorkRequest wr = ZERORL__WORK_REQUEST__INIT;
  env.body_case = ZERORL__ENVELOPE__BODY_WORK_REQUEST;
  env.work_request = &wr;
  uint8_t *buf = NULL;
  size_t len = 0;
  if (zr_frame_encode(&env, JOB, "learner", 0, &buf, &len) < 0) die("encode");
  zr_zsock_part part = {buf, len};
  zr_zsock_send(p->pub, &part, 1);
  free(buf);
  if (p->subscribed == opt.actors) uv_stop(&p->loop);
}

static void on_pipe(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  pub_t *p = h->data;
  int i = (int)(h - p->polls);
  ssize_t k = read(p->fds[i], p->bufs[i] + p->blen[i], sizeof p->bufs[i] - 1 - p->blen[i]);
  if (k <= 0) {
    fprintf(stderr, "weight_dist: receiver %d died\n", i);
    exit(1);
  }
  p->blen[i] += (size_t)k;
  p->bufs[i][p->blen[i]] = 0;
  char *nl;
  while ((nl = strchr(p->bufs[i], '\n'))) {
    *nl = 0;
    report r = {0};
    if (!strcmp(p->bufs[i], "ready")) {
      p->ready++;
    } else if (!strcmp(p->bufs[i], "sub")) {
      p->subscribed++;
    } else if (sscanf(p->bufs[i],
                      "done %d %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                      " %" SCNu64,
                      &r.id, &r.version, &r.offer_ms, &r.done_ms, &r.refetches, &r.bad, &r.to_parent, &r.to_learner,
                      &r.served) == 9 &&
               r.version == p->version) {
      p->rep[i] = r;
      p->done++;
    }
    size_t rest = p->blen[i] - (size_t)(nl + 1 - p->bufs[i]);
    memmove(p->bufs[i], nl + 1, rest + 1);
    p->blen[i] = rest;
  }
  if (p->version && p->done == opt.actors) uv_stop(&p->loop);
}

static zr_tf *make_model(uint64_t bytes, zr_backend **bep) {
  /* one small layer plus an embedding sized so that all parameters (f32) make ~bytes */
  zr_model_config c = {0};
  c.arch = ZR_ARCH_QWEN2;
  c.hidden_size = 1024;
  c.num_layers = 1;
  c.num_heads = 8;
  c.num_kv_heads = 8;
  c.head_dim = 128;
  c.intermediate_size = 1024;
  c.max_position_embeddings = 128;
  c.rope_theta = 1e6;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = true;
  c.bos_token_id = -1;
  c.torch_dtype = ZR_DT_F32;
  uint64_t layer = 4ull * 1024 * 1024 + 3ull * 1024 * 1024 + 3 * 1024;
  uint64_t params = bytes / 4 > layer + 1024 * 64 ? bytes / 4 - layer : 1024 * 64;
  c.vocab_size = (int)(params / 1024);
  zr_backend *be = NULL;
  zr_tf *m = NULL;
  if (zr_backend_cpu_new(&be, 1) < 0 || zr_tf_new(&m, &c, be) < 0) die("model");
  *bep = be;
  /* synthetic contents (cheaper than zr_tf_init_random at 1 GB): small pseudo-random floats */
  size_t maxn = 0;
  for (size_t i = 0; i < zr_tf_n_tensors(m); i++)
    if (zr_tf_tensor_at(m, i)->numel > maxn) maxn = zr_tf_tensor_at(m, i)->numel;
  float *tmp = malloc(maxn * sizeof *tmp);
  if (!tmp) die("out of memory");
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < zr_tf_n_tensors(m); i++) {
    const zr_tf_tensor *t = zr_tf_tensor_at(m, i);
    for (size_t k = 0; k < t->numel; k++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      tmp[k] = (float)(int32_t)(x >> 40) * 1e-9f;
    }
    if (zr_tf_set_tensor(m, t->name, tmp, t->numel) < 0) die("set tensor");
  }
  free(tmp);
  return m;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double median(uint64_t *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_u64);
  return n % 2 ? (double)v[n / 2] : 0.5 * (double)(v[n / 2 - 1] + v[n / 2]);
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!strcmp(a, name) && v && ++i)
    if (ARG("--size")) opt.size = strtoull(v, NULL, 10);
    else if (ARG("--actors")) opt.actors = atoi(v);
    else if (ARG("--rounds")) opt.rounds = atoi(v);
    else if (ARG("--chunk")) opt.chunk = (uint32_t)strtoul(v, NULL, 10);
    else if (ARG("--inflight")) opt.inflight = atoi(v);
    else if (ARG("--relay")) opt.relay = atoi(v);
    else if (ARG("--iperf-gbps")) opt.iperf_gbps = atof(v);
    else if (ARG("--netns")) opt.netns = v;
    else if (ARG("--ip-fmt")) opt.ip_fmt = v;
    else if (ARG("--timeout-ms")) opt.timeout_ms = (uint32_t)strtoul(v, NULL, 10);
    else if (ARG("--port")) opt.port = atoi(v);
    else if (!strcmp(a, "--header")) opt.header = 1;
    else {
      fprintf(stderr, "weight_dist: unknown or incomplete option %s (see the top of bench/weight_dist.c)\n", a);
      exit(2);
    }
#undef ARG
  }
  if (opt.actors < 1 || opt.actors > MAX_ACTORS || opt.rounds < 1 || opt.size < 1024) {
    fprintf(stderr, "weight_dist: --actors 1..%d, --rounds >= 1, --size >= 1024\n", MAX_ACTORS);
    exit(2);
  }
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  zr_log_set_level(ZR_LOG_WARN);
  signal(SIGPIPE, SIG_IGN);
  static pub_t p;
  pid_t pids[MAX_ACTORS];
  for (int i = 0; i < opt.actors; i++) {
    int fds[2];
    if (pipe(fds) != 0) die("pipe");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      close(fds[0]);
      for (int j = 0; j < i; j++) close(p.fds[j]);
      receiver(i, fds[1]);
    }
    close(fds[1]);
    p.fds[i] = fds[0];
    pids[i] = pid;
  }
  enter_netns("pub");
  uint64_t tb = zr_clock_mono_ms();
  zr_backend *be = NULL;
  zr_tf *m = make_model(opt.size, &be);
  fprintf(stderr, "model of %zu parameters made in %" PRIu64 " ms\n", zr_tf_n_params(m), zr_clock_mono_ms() - tb);
  uv_loop_init(&p.loop);
  p.zctx = zmq_ctx_new();
  zr_zsock_opts zo = zr_zsock_opts_default();
  char ip[64], ep[128];
  host_ip(0, ip, sizeof ip);
  if (!(p.pub = zr_zsock_new(&p.loop, p.zctx, ZMQ_PUB, &zo, NULL, &p)) ||
      !(p.router = zr_zsock_new(&p.loop, p.zctx, ZMQ_ROUTER, &zo, pub_on_request, &p)))
    die("sockets");
  snprintf(ep, sizeof ep, "tcp://%s:%d", ip, opt.port);
  if (zr_zsock_bind(p.pub, ep) < 0) die("bind pub");
  snprintf(p.chunk_ep, sizeof p.chunk_ep, "tcp://%s:%d", ip, opt.port + 1);
  if (zr_zsock_bind(p.router, p.chunk_ep) < 0) die("bind router");
  if (zr_wpub_new(&p.wp, 1) < 0) die("wpub");
  for (int i = 0; i < opt.actors; i++) {
    uv_poll_init(&p.loop, &p.polls[i], p.fds[i]);
    p.polls[i].data = &p;
    uv_poll_start(&p.polls[i], UV_READABLE, on_pipe);
  }
  uv_timer_init(&p.loop, &p.announce);
  p.announce.data = &p;
  while (p.ready < opt.actors) uv_run(&p.loop, UV_RUN_ONCE);
  uv_timer_start(&p.announce, on_warmup_timer, 50, 50);
  uv_run(&p.loop, UV_RUN_DEFAULT);
  uv_timer_stop(&p.announce);
  uint64_t rmax[64], rmed[64], rcpu[64], total_bytes = 0, refetch = 0, bad = 0, to_parent = 0, to_learner = 0;
  int rounds = opt.rounds > 64 ? 64 : opt.rounds;
  for (int rd = 0; rd < rounds; rd++) {
    zr_wversion *v = NULL;
    tb = zr_clock_mono_ms();
    if (zr_wversion_build(&v, m, (uint64_t)rd + 1, (uint64_t)rd + 1, ZR_DT_F32, opt.chunk) < 0) die("build");
    fprintf(stderr, "version %d built in %" PRIu64 " ms\n", rd + 1, zr_clock_mono_ms() - tb);
    total_bytes = zr_wversion_total_bytes(v);
    if (zr_wpub_add(p.wp, v) < 0) die("add");
    p.version = (uint64_t)rd + 1;
    p.done = 0;
    memset(p.rep, 0, sizeof p.rep);
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    p.t0 = zr_clock_mono_ms();
    pub_announce(&p);
    uv_timer_start(&p.announce, on_announce_timer, 200, 200);
    uv_run(&p.loop, UV_RUN_DEFAULT);
    uv_timer_stop(&p.announce);
    getrusage(RUSAGE_SELF, &ru1);
    double cpu_s = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                   (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    uint64_t wall = zr_clock_mono_ms() - p.t0;
    rcpu[rd] = (uint64_t)(100.0 * cpu_s * 1000.0 / (double)(wall ? wall : 1));
    uint64_t t[MAX_ACTORS], mx = 0, late = 0;
    for (int i = 0; i < opt.actors; i++) {
      report *r = &p.rep[i];
      t[i] = r->done_ms - p.t0;
      if (t[i] > mx) mx = t[i];
      if (r->offer_ms - p.t0 > late) late = r->offer_ms - p.t0;
      if (rd == rounds - 1) { /* the receivers' counters are cumulative: all rounds */
        refetch += r->refetches;
        bad += r->bad;
        to_parent += r->to_parent;
        to_learner += r->to_learner;
      }
    }
    rmax[rd] = mx;
    rmed[rd] = (uint64_t)median(t, opt.actors);
    fprintf(stderr, "round %d: %d receivers, %" PRIu64 " bytes: max %" PRIu64 " ms, median %" PRIu64
                    " ms (latest announcement seen %" PRIu64 " ms after the first)\n",
            rd + 1, opt.actors, total_bytes, rmax[rd], rmed[rd], late);
    fprintf(stderr, "  publisher CPU (all its threads) %" PRIu64 "%% of one core\n", rcpu[rd]);
  }
  double mx = median(rmax, rounds), md = median(rmed, rounds), cpu = median(rcpu, rounds);
  double agg = (double)total_bytes * opt.actors / (mx / 1000.0); /* bytes/s */
  if (opt.header) {
    printf("| size | actors | relay | rounds | delivery max ms (median of rounds) | delivery median ms | aggregate "
           "MB/s | vs iperf3 | publisher CPU | requests to relays / learner (all rounds) | refetches |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  }
  char ratio[32] = "-";
  if (opt.iperf_gbps > 0) snprintf(ratio, sizeof ratio, "%.2f", agg * 8 / (opt.iperf_gbps * 1e9));
  char relay[32] = "no";
  if (opt.relay > 0) snprintf(relay, sizeof relay, "fanout %d", opt.relay);
  printf("| %.0f MB | %d | %s | %d | %.0f | %.0f | %.0f | %s | %.0f%% | %" PRIu64 " / %" PRIu64 " | %" PRIu64 " |\n",
         (double)total_bytes / 1e6, opt.actors, relay, rounds, mx, md, agg / 1e6, ratio, cpu, to_parent, to_learner,
         refetch);
  fflush(stdout);
  for (int i = 0; i < opt.actors; i++) kill(pids[i], SIGTERM);
  for (int i = 0; i < opt.actors; i++) waitpid(pids[i], NULL, 0);
  zr_wpub_free(&p.wp);
  zr_tf_free(&m);
  zr_backend_free(&be);
  return 0;
}
