/* comm.c: the data-parallel learner group's communicator over ZeroMQ, with NCCL for gradients on
 * CUDA (see comm.h). */
#include "learner/comm.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/util.h"
#ifdef ZERORL_HAVE_CUDA
#include "cuda/comm_nccl.h"
#endif

#define LOGM "comm"
#define MAGIC 0x5a524450u /* "ZRDP" */
#define TICK_MS 100
#define MAX_HOST_REDUCE 4096

enum { M_HELLO = 1, M_WELCOME, M_REJECT, M_BCAST, M_AR, M_AR_RES, M_RED, M_RED_RES, M_SAME, M_SAME_RES, M_ABORT, M_HB };

typedef struct {
  uint32_t magic, type;
  uint64_t seq;
  uint32_t rank, aux;
} hdr;

struct zr_comm {
  int rank, world;
  int64_t timeout_ms;
  size_t bucket_bytes;
  zr_backend *be;
  char key[ZR_KEY_MAX];
  zr_comm_opts ro; /* Redis settings (strings below) for the DEL at the end */
  char r_host[256], r_socket[256], r_user[256], r_pass[512];
  char gen[ZR_ID_HEX_LEN + 1];
  char endpoint[300], hb_endpoint[300];
  char nccl_id[260];
  uint64_t seq;
  void *zctx, *data, *hb;
  /* rank 0: each rank's routing id on the data and heartbeat sockets */
  char (*ident)[64];
  size_t *ident_len;
  char (*hb_ident)[64];
  size_t *hb_ident_len;
  char my_ident[64];
  /* heartbeat thread */
  pthread_t hb_thread;
  bool hb_started;
  atomic_bool hb_stop;
  /* failure */
  pthread_mutex_t mu;
  atomic_int fail_rc;
  char fail_msg[768];
  bool abort_sent;
  void *nccl; /* zr_nccl * */
};

/* ---- failure ------------------------------------------------------------------------------- */

static int fail(zr_comm *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(zr_comm *c, int code, const char *fmt, ...) {
  pthread_mutex_lock(&c->mu);
  if (atomic_load(&c->fail_rc) == 0) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[700];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    snprintf(c->fail_msg, sizeof c->fail_msg, "learner group (rank %d of %d): %s", c->rank, c->world, tmp);
    atomic_store(&c->fail_rc, code);
    ZR_ERROR(LOGM, "%s", c->fail_msg);
  }
  int rc = atomic_load(&c->fail_rc);
  zr_seterr(rc, "%s", c->fail_msg);
  pthread_mutex_unlock(&c->mu);
  return rc;
}

int zr_comm_failed(zr_comm *c, char *msg, size_t cap) {
  if (!c) return 0;
  int rc = atomic_load(&c->fail_rc);
  if (rc && msg && cap) {
    pthread_mutex_lock(&c->mu);
    snprintf(msg, cap, "%s", c->fail_msg);
    pthread_mutex_unlock(&c->mu);
  }
  return rc;
}

static int check_failed(zr_comm *c) {
  int rc = atomic_load(&c->fail_rc);
  if (!rc) return 0;
  pthread_mutex_lock(&c->mu);
  zr_seterr(rc, "%s", c->fail_msg);
  pthread_mutex_unlock(&c->mu);
  return rc;
}

/* ---- messages ------------------------------------------------------------------------------ */

/* Sends [ident][hdr][payload] (ident only on rank 0's ROUTER). */
static int send_to(zr_comm *c, void *sock, const char *ident, size_t ident_len, uint32_t type, uint64_t seq,
                   uint32_t aux, const void *payload, size_t len, int peer) {
  hdr h = {MAGIC, type, seq, (uint32_t)c->rank, aux};
  if (ident && zmq_send(sock, ident, ident_len, ZMQ_SNDMORE) < 0) goto err;
  if (zmq_send(sock, &h, sizeof h, ZMQ_SNDMORE) < 0) goto err;
  if (zmq_send(sock, payload ? payload : "", len, 0) < 0) goto err;
  return 0;
err:
  if (errno == EHOSTUNREACH) return zr_seterr(-EPIPE, "rank %d is not connected to rank 0", peer);
  return zr_seterr(-EIO, "zmq_send to rank %d: %s", peer, zmq_strerror(errno));
}

static int send_rank(zr_comm *c, int r, uint32_t type, uint64_t seq, uint32_t aux, const void *p, size_t len) {
  if (c->rank == 0) return send_to(c, c->data, c->ident[r], c->ident_len[r], type, seq, aux, p, len, r);
  return send_to(c, c->data, NULL, 0, type, seq, aux, p, len, 0);
}

typedef struct {
  int from;       /* rank (-1: unknown sender at rank 0) */
  char ident[64]; /* rank 0: routing id */
  size_t ident_len;
  hdr h;
  zmq_msg_t body; /* initialised on success; the caller closes it */
} inmsg;

static void drop_frames(void *sock) {
  int more = 1;
  size_t sz = sizeof more;
  while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    zmq_msg_recv(&m, sock, 0);
    zmq_msg_close(&m);
  }
}

/* One message from sock, if one is ready within wait_ms. 1: got it; 0: nothing; < 0: error.
 * Malformed messages are logged and dropped (0). */
static int recv_one(zr_comm *c, void *sock, int wait_ms, inmsg *m) {
  zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
  int n = zmq_poll(&it, 1, wait_ms);
  if (n < 0) return errno == EINTR ? 0 : zr_seterr(-EIO, "zmq_poll: %s", zmq_strerror(errno));
  if (n == 0) return 0;
  memset(m, 0, sizeof *m);
  m->from = -1;
  if (c->rank == 0) {
    int k = zmq_recv(sock, m->ident, sizeof m->ident, ZMQ_DONTWAIT);
    if (k < 0) return 0;
    m->ident_len = (size_t)k > sizeof m->ident ? sizeof m->ident : (size_t)k;
  }
  int more = 0;
  size_t sz = sizeof more;
  if (c->rank == 0 && (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) != 0 || !more)) return 0;
  int k = zmq_recv(sock, &m->h, sizeof m->h, ZMQ_DONTWAIT);
  zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz);
  if (k != (int)sizeof m->h || m->h.magic != MAGIC || !more) {
    drop_frames(sock);
    ZR_WARN(LOGM, "dropped a malformed message (%d header bytes)", k);
    return 0;
  }
  zmq_msg_init(&m->body);
  if (zmq_msg_recv(&m->body, sock, ZMQ_DONTWAIT) < 0) {
    zmq_msg_close(&m->body);
    return 0;
  }
  drop_frames(sock);
  if (c->rank == 0) {
    for (int r = 1; r < c->world; r++)
      if (c->ident_len && c->ident_len[r] == m->ident_len && memcmp(c->ident[r], m->ident, m->ident_len) == 0)
        m->from = r;
  } else {
    m->from = 0;
  }
  return 1;
}

/* The next collective message on the data socket: deadline_ms 0 = none (but failures of the
 * heartbeat thread still end the wait). An ABORT fails the comm. */
static int recv_data(zr_comm *c, uint64_t deadline_ms, inmsg *m) {
  for (;;) {
    int rc = check_failed(c);
    if (rc) return rc;
    int wait = TICK_MS;
    if (deadline_ms) {
      uint64_t now = zr_clock_mono_ms();
      if (now >= deadline_ms) return -ETIMEDOUT;
      if (deadline_ms - now < (uint64_t)wait) wait = (int)(deadline_ms - now);
    }
    rc = recv_one(c, c->data, wait, m);
    if (rc < 0) return fail(c, rc, "%s", zr_errmsg());
    if (rc == 0) continue;
    if (m->h.type == M_ABORT) {
      char why[600];
      size_t n = zmq_msg_size(&m->body) < sizeof why - 1 ? zmq_msg_size(&m->body) : sizeof why - 1;
      memcpy(why, zmq_msg_data(&m->body), n);
      why[n] = 0;
      zmq_msg_close(&m->body);
      c->abort_sent = true; /* the sender knows */
      return fail(c, -EPIPE, "rank %u aborted the group: %s", m->h.rank, why);
    }
    if (m->h.type == M_HELLO && c->rank == 0) { /* a rank that restarts mid-job cannot rejoin */
      send_to(c, c->data, m->ident, m->ident_len, M_REJECT, 0, 0, "the group is already running", 28, (int)m->h.rank);
      zmq_msg_close(&m->body);
      continue;
    }
    if (m->from < 0) {
      ZR_DEBUG(LOGM, "rank 0: dropped a message (type %u) from an unknown sender (rank %u)", m->h.type, m->h.rank);
      zmq_msg_close(&m->body);
      continue;
    }
    return 1;
  }
}

/* "rank 1" or "ranks 1, 3": the ranks r > 0 with !have[r] */
static void missing_list(const zr_comm *c, const bool *have, char *out, size_t cap) {
  int n = 0;
  for (int r = 1; r < c->world; r++) n += !have[r];
  size_t o = (size_t)snprintf(out, cap, "%s", n == 1 ? "rank " : "ranks ");
  bool first = true;
  for (int r = 1; r < c->world && o + 16 < cap; r++)
    if (!have[r]) {
      o += (size_t)snprintf(out + o, cap - o, "%s%d", first ? "" : ", ", r);
      first = false;
    }
}

/* ---- Redis (synchronous hiredis, only for the rendezvous) ---------------------------------- */

static redisContext *redis_open(const zr_comm *c, char *err, size_t cap) {
  struct timeval tv = {2, 0};
  redisContext *r = c->r_socket[0] ? redisConnectUnixWithTimeout(c->r_socket, tv)
                                   : redisConnectWithTimeout(c->r_host, c->ro.redis_port, tv);
  if (!r || r->err) {
    char where[200];
    if (c->r_socket[0]) snprintf(where, sizeof where, "%.180s", c->r_socket);
    else snprintf(where, sizeof where, "%.170s:%d", c->r_host, c->ro.redis_port);
    snprintf(err, cap, "cannot connect to Redis at %s: %.120s", where, r ? r->errstr : "out of memory");
    if (r) redisFree(r);
    return NULL;
  }
  redisSetTimeout(r, tv);
  redisReply *rep = NULL;
  if (c->r_pass[0]) {
    rep = c->r_user[0] ? redisCommand(r, "AUTH %s %s", c->r_user, c->r_pass) : redisCommand(r, "AUTH %s", c->r_pass);
    if (!rep || rep->type == REDIS_REPLY_ERROR) goto bad;
    freeReplyObject(rep);
  }
  if (c->ro.redis_db) {
    rep = redisCommand(r, "SELECT %d", c->ro.redis_db);
    if (!rep || rep->type == REDIS_REPLY_ERROR) goto bad;
    freeReplyObject(rep);
  }
  return r;
bad:
  snprintf(err, cap, "Redis AUTH/SELECT: %s", rep ? rep->str : r->errstr);
  if (rep) freeReplyObject(rep);
  redisFree(r);
  return NULL;
}

static int publish(zr_comm *c) {
  char err[600], at[32];
  redisContext *r = redis_open(c, err, sizeof err);
  if (!r) return zr_seterr(-EIO, "rank 0: cannot publish %s: %s", c->key, err);
  char world[16];
  snprintf(world, sizeof world, "%d", c->world);
  zr_clock_format_wall(zr_clock_wall_ms(), at);
  redisReply *a = redisCommand(r, "DEL %s", c->key);
  if (a) freeReplyObject(a);
  const char *argv[] = {"HSET", c->key, ZR_DIST_ENDPOINT, c->endpoint, ZR_DIST_HB_ENDPOINT, c->hb_endpoint,
                        ZR_DIST_WORLD_SIZE, world, ZR_DIST_GENERATION, c->gen, ZR_DIST_NCCL_ID, c->nccl_id,
                        ZR_DIST_UPDATED_AT, at};
  redisReply *b = redisCommandArgv(r, 14, argv, NULL);
  int rc = 0;
  if (!b || b->type == REDIS_REPLY_ERROR)
    rc = zr_seterr(-EIO, "rank 0: HSET %s: %s", c->key, b ? b->str : r->errstr);
  if (b) freeReplyObject(b);
  redisFree(r);
  return rc;
}

typedef struct {
  char endpoint[300], hb_endpoint[300], gen[ZR_ID_HEX_LEN + 1], nccl_id[260];
  int world;
} dist_info;

/* 1: read; 0: no such hash (or incomplete); < 0 with err set */
static int read_info(zr_comm *c, dist_info *d, char *err, size_t cap) {
  redisContext *r = redis_open(c, err, cap);
  if (!r) return -EIO;
  redisReply *rep = redisCommand(r, "HGETALL %s", c->key);
  int rc = 0;
  memset(d, 0, sizeof *d);
  if (!rep || rep->type != REDIS_REPLY_ARRAY) {
    snprintf(err, cap, "HGETALL %s: %s", c->key, rep && rep->str ? rep->str : r->errstr);
    rc = -EIO;
  } else {
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
      const char *k = rep->element[i]->str, *v = rep->element[i + 1]->str;
      if (!k || !v) continue;
      if (!strcmp(k, ZR_DIST_ENDPOINT)) snprintf(d->endpoint, sizeof d->endpoint, "%s", v);
      else if (!strcmp(k, ZR_DIST_HB_ENDPOINT)) snprintf(d->hb_endpoint, sizeof d->hb_endpoint, "%s", v);
      else if (!strcmp(k, ZR_DIST_GENERATION)) snprintf(d->gen, sizeof d->gen, "%s", v);
      else if (!strcmp(k, ZR_DIST_NCCL_ID)) snprintf(d->nccl_id, sizeof d->nccl_id, "%s", v);
      else if (!strcmp(k, ZR_DIST_WORLD_SIZE)) d->world = atoi(v);
    }
    rc = d->endpoint[0] && d->hb_endpoint[0] && d->gen[0] && d->world > 0;
    if (!rc) snprintf(err, cap, "Redis hash %s does not exist yet (is rank 0 running?)", c->key);
  }
  if (rep) freeReplyObject(rep);
  redisFree(r);
  return rc;
}

static void unpublish(zr_comm *c) {
  char err[600];
  redisContext *r = redis_open(c, err, sizeof err);
  if (!r) {
    ZR_WARN(LOGM, "rank 0: cannot delete %s: %s", c->key, err);
    return;
  }
  /* only our own generation: a newer rank 0 may have replaced it */
  redisReply *rep = redisCommand(r, "HGET %s %s", c->key, ZR_DIST_GENERATION);
  if (rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, c->gen) == 0) {
    redisReply *d = redisCommand(r, "DEL %s", c->key);
    if (d) freeReplyObject(d);
  }
  if (rep) freeReplyObject(rep);
  redisFree(r);
}

/* ---- sockets ------------------------------------------------------------------------------- */

static void *make_socket(zr_comm *c, int type, const char *ident, int linger) {
  void *s = zmq_socket(c->zctx, type);
  if (!s) return NULL;
  int zero = 0, one = 1, ivl = 100, ivl_max = 1000;
  zmq_setsockopt(s, ZMQ_SNDHWM, &zero, sizeof zero); /* never drop or block a collective's bucket */
  zmq_setsockopt(s, ZMQ_RCVHWM, &zero, sizeof zero);
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
  zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
  zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
  if (type == ZMQ_ROUTER && linger > 0) zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
  if (ident) zmq_setsockopt(s, ZMQ_ROUTING_ID, ident, strlen(ident));
  return s;
}

static int bind_ephemeral(zr_comm *c, void *s, char *out, size_t cap) {
  char ep[300];
  snprintf(ep, sizeof ep, "tcp://%s:*", c->ro.host);
  if (zmq_bind(s, ep) < 0) return zr_seterr(-EIO, "rank 0: cannot bind %s: %s", ep, zmq_strerror(errno));
  size_t n = cap;
  if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, out, &n) < 0)
    return zr_seterr(-EIO, "rank 0: ZMQ_LAST_ENDPOINT: %s", zmq_strerror(errno));
  return 0;
}

/* ---- heartbeats ---------------------------------------------------------------------------- */

static void *hb_main(void *arg) {
  zr_comm *c = arg;
  int64_t ivl = c->timeout_ms / 8;
  if (ivl < 50) ivl = 50;
  if (ivl > 1000) ivl = 1000;
  uint64_t *last = calloc((size_t)c->world, sizeof *last);
  if (!last) {
    fail(c, -ENOMEM, "heartbeat thread: out of memory");
    return NULL;
  }
  uint64_t now = zr_clock_mono_ms(), next_send = 0;
  for (int r = 0; r < c->world; r++) last[r] = now;
  while (!atomic_load(&c->hb_stop)) {
    now = zr_clock_mono_ms();
    if (now >= next_send) {
      next_send = now + (uint64_t)ivl;
      if (c->rank == 0) {
        for (int r = 1; r < c->world; r++)
          if (c->hb_ident_len[r]) send_to(c, c->hb, c->hb_ident[r], c->hb_ident_len[r], M_HB, 0, 0, NULL, 0, r);
      } else {
        send_to(c, c->hb, NULL, 0, M_HB, 0, 0, NULL, 0, 0);
      }
    }
    inmsg m;
    int rc = recv_one(c, c->hb, (int)ivl / 2, &m);
    if (rc == 1) {
      int r = c->rank == 0 ? (int)m.h.rank : 0;
      if (m.h.type == M_HB && r >= 0 && r < c->world) {
        last[r] = zr_clock_mono_ms();
        if (c->rank == 0 && r > 0 && !c->hb_ident_len[r]) {
          memcpy(c->hb_ident[r], m.ident, m.ident_len);
          c->hb_ident_len[r] = m.ident_len;
        }
      }
      zmq_msg_close(&m.body);
    }
    now = zr_clock_mono_ms();
    for (int r = 0; r < c->world; r++) {
      if (r == c->rank || (c->rank != 0 && r != 0)) continue;
      if (now - last[r] > (uint64_t)c->timeout_ms && !atomic_load(&c->fail_rc))
        fail(c, -ETIMEDOUT,
             "rank %d has not been heard from for %llu ms ([learner] collective_timeout %lld ms): it died, hangs "
             "hard or its network is cut",
             r, (unsigned long long)(now - last[r]), (long long)c->timeout_ms);
    }
  }
  free(last);
  return NULL;
}

/* ---- creation ------------------------------------------------------------------------------ */

void zr_comm_opts_init(zr_comm_opts *o) {
  memset(o, 0, sizeof *o);
  o->redis_host = "127.0.0.1";
  o->redis_port = 6379;
  o->host = "127.0.0.1";
  o->timeout_ms = 300000;
  o->bucket_bytes = (size_t)16 << 20;
}

static int join_rank0(zr_comm *c) {
  uint64_t deadline = zr_clock_mono_ms() + (uint64_t)c->timeout_ms;
  bool *have = calloc((size_t)c->world, sizeof *have);
  if (!have) return zr_seterr(-ENOMEM, "out of memory");
  int joined = 0, rc = 0;
  while (joined < c->world - 1) {
    uint64_t now = zr_clock_mono_ms();
    if (now >= deadline) {
      char miss[256];
      missing_list(c, have, miss, sizeof miss);
      rc = zr_seterr(-ETIMEDOUT,
                     "rank 0: %s did not join within %lld ms (they find rank 0 through Redis key %s; "
                     "start every rank with the same [job] id, [redis] and --world-size %d)",
                     miss, (long long)c->timeout_ms, c->key, c->world);
      break;
    }
    inmsg m;
    int k = recv_one(c, c->data, TICK_MS, &m);
    if (k < 0) {
      rc = k;
      break;
    }
    if (k == 0) continue;
    char gen[ZR_ID_HEX_LEN + 1] = "";
    size_t gl = zmq_msg_size(&m.body) < sizeof gen - 1 ? zmq_msg_size(&m.body) : sizeof gen - 1;
    memcpy(gen, zmq_msg_data(&m.body), gl);
    gen[gl] = 0;
    zmq_msg_close(&m.body);
    int r = (int)m.h.rank;
    const char *why = NULL;
    char buf[200];
    if (m.h.type != M_HELLO) continue;
    if (strcmp(gen, c->gen) != 0) why = "stale generation: re-read the Redis key";
    else if ((int)m.h.aux != c->world) {
      snprintf(buf, sizeof buf, "world size %u differs from rank 0's %d", m.h.aux, c->world);
      why = buf;
    } else if (r < 1 || r >= c->world) {
      snprintf(buf, sizeof buf, "rank %d is out of range 1..%d", r, c->world - 1);
      why = buf;
    } else if (have[r] && (c->ident_len[r] != m.ident_len || memcmp(c->ident[r], m.ident, m.ident_len) != 0)) {
      snprintf(buf, sizeof buf, "rank %d joined twice (two processes were started with --rank %d)", r, r);
      why = buf;
    }
    if (why) {
      ZR_WARN(LOGM, "rank 0: refused a rank %d: %s", r, why);
      send_to(c, c->data, m.ident, m.ident_len, M_REJECT, 0, 0, why, strlen(why), r);
      continue;
    }
    if (!have[r]) {
      have[r] = true;
      joined++;
      memcpy(c->ident[r], m.ident, m.ident_len);
      c->ident_len[r] = m.ident_len;
      ZR_INFO(LOGM, "rank 0: rank %d joined (%d of %d)", r, joined + 1, c->world);
    }
  }
  /* WELCOME only once everyone is in: no rank starts a collective while rank 0 is still here,
   * where anything but HELLO is dropped */
  for (int r = 1; r < c->world && !rc; r++) rc = send_rank(c, r, M_WELCOME, 0, (uint32_t)r, c->gen, strlen(c->gen));
  free(have);
  return rc;
}

static int join_other(zr_comm *c) {
  uint64_t deadline = zr_clock_mono_ms() + (uint64_t)c->timeout_ms;
  char cur_gen[ZR_ID_HEX_LEN + 1] = "", why[600] = "Redis was not read yet";
  uint64_t next_read = 0;
  for (;;) {
    uint64_t now = zr_clock_mono_ms();
    if (now >= deadline)
      return zr_seterr(-ETIMEDOUT, "rank %d: not admitted by rank 0 within %lld ms (Redis key %s): %s", c->rank,
                       (long long)c->timeout_ms, c->key, why);
    if (now >= next_read) {
      next_read = now + 500;
      dist_info d;
      char err[600];
      int k = read_info(c, &d, err, sizeof err);
      if (k <= 0) {
        snprintf(why, sizeof why, "%s", err);
      } else if (d.world != c->world) {
        snprintf(why, sizeof why, "the hash says world_size %d, this rank was started with %d", d.world, c->world);
      } else if (strcmp(d.gen, cur_gen) != 0) {
        if (c->data) zmq_close(c->data);
        char id[ZR_ID_HEX_LEN + 1];
        zr_id_new(id);
        snprintf(c->my_ident, sizeof c->my_ident, "r%d-%.16s", c->rank, id);
        c->data = make_socket(c, ZMQ_DEALER, c->my_ident, 500);
        if (!c->data || zmq_connect(c->data, d.endpoint) < 0)
          return zr_seterr(-EIO, "rank %d: cannot connect to %s: %s", c->rank, d.endpoint, zmq_strerror(errno));
        snprintf(cur_gen, sizeof cur_gen, "%s", d.gen);
        snprintf(c->endpoint, sizeof c->endpoint, "%s", d.endpoint);
        snprintf(c->hb_endpoint, sizeof c->hb_endpoint, "%s", d.hb_endpoint);
        snprintf(c->nccl_id, sizeof c->nccl_id, "%s", d.nccl_id);
        snprintf(c->gen, sizeof c->gen, "%s", d.gen);
        int rc = send_to(c, c->data, NULL, 0, M_HELLO, 0, (uint32_t)c->world, cur_gen, strlen(cur_gen), 0);
        if (rc < 0) return rc;
        snprintf(why, sizeof why, "no answer from rank 0 at %s", d.endpoint);
      }
    }
    if (!c->data) {
      usleep(TICK_MS * 1000);
      continue;
    }
    inmsg m;
    int k = recv_one(c, c->data, TICK_MS, &m);
    if (k < 0) return k;
    if (k == 0) continue;
    char text[300];
    size_t tl = zmq_msg_size(&m.body) < sizeof text - 1 ? zmq_msg_size(&m.body) : sizeof text - 1;
    memcpy(text, zmq_msg_data(&m.body), tl);
    text[tl] = 0;
    zmq_msg_close(&m.body);
    if (m.h.type == M_WELCOME && strcmp(text, cur_gen) == 0) return 0;
    if (m.h.type == M_REJECT) {
      if (strncmp(text, "stale", 5) == 0) {
        cur_gen[0] = 0; /* read the hash again (rank 0 is rewriting it) */
        snprintf(why, sizeof why, "rank 0 says: %s", text);
        continue;
      }
      return zr_seterr(-EINVAL, "rank %d: rank 0 refused it: %s", c->rank, text);
    }
  }
}

int zr_comm_new(zr_comm **out, const zr_comm_opts *o) {
  *out = NULL;
  if (!o || o->world < 2 || o->rank < 0 || o->rank >= o->world || !o->key || o->timeout_ms <= 0)
    return zr_seterr(-EINVAL, "comm: bad options (rank %d, world %d, key %s, timeout %lld ms)", o ? o->rank : -1,
                     o ? o->world : 0, o && o->key ? o->key : "(null)", o ? (long long)o->timeout_ms : 0LL);
  zr_comm *c = calloc(1, sizeof *c);
  if (!c) return zr_seterr(-ENOMEM, "comm: out of memory");
  pthread_mutex_init(&c->mu, NULL);
  c->rank = o->rank;
  c->world = o->world;
  c->timeout_ms = o->timeout_ms;
  c->bucket_bytes = o->bucket_bytes ? o->bucket_bytes : ((size_t)16 << 20);
  c->be = o->be;
  c->ro = *o;
  snprintf(c->key, sizeof c->key, "%s", o->key);
  snprintf(c->r_host, sizeof c->r_host, "%s", o->redis_host ? o->redis_host : "127.0.0.1");
  snprintf(c->r_socket, sizeof c->r_socket, "%s", o->redis_socket ? o->redis_socket : "");
  snprintf(c->r_user, sizeof c->r_user, "%s", o->redis_user ? o->redis_user : "");
  snprintf(c->r_pass, sizeof c->r_pass, "%s", o->redis_password ? o->redis_password : "");
  if (!c->ro.host || !c->ro.host[0]) c->ro.host = "127.0.0.1";
  c->ro.key = c->key;
  int rc = 0;
  bool cuda = c->be && c->be->name && strcmp(c->be->name, "cuda") == 0;
  c->ident = calloc((size_t)c->world, sizeof *c->ident);
  c->ident_len = calloc((size_t)c->world, sizeof *c->ident_len);
  c->hb_ident = calloc((size_t)c->world, sizeof *c->hb_ident);
  c->hb_ident_len = calloc((size_t)c->world, sizeof *c->hb_ident_len);
  c->zctx = zmq_ctx_new();
  if (!c->ident || !c->ident_len || !c->hb_ident || !c->hb_ident_len || !c->zctx) {
    rc = zr_seterr(-ENOMEM, "comm: out of memory");
    goto fail;
  }
  if (c->rank == 0) {
    zr_id_new(c->gen);
    if (cuda) {
#ifdef ZERORL_HAVE_CUDA
      if ((rc = zr_nccl_unique_id(c->nccl_id)) < 0) goto fail;
#endif
    }
    if (!(c->data = make_socket(c, ZMQ_ROUTER, NULL, 500)) || !(c->hb = make_socket(c, ZMQ_ROUTER, NULL, 0))) {
      rc = zr_seterr(-EIO, "rank 0: zmq_socket: %s", zmq_strerror(errno));
      goto fail;
    }
    if ((rc = bind_ephemeral(c, c->data, c->endpoint, sizeof c->endpoint)) < 0 ||
        (rc = bind_ephemeral(c, c->hb, c->hb_endpoint, sizeof c->hb_endpoint)) < 0 || (rc = publish(c)) < 0)
      goto fail;
    ZR_INFO(LOGM, "rank 0: waiting up to %lld ms for %d rank(s) at %s (Redis key %s)", (long long)c->timeout_ms,
            c->world - 1, c->endpoint, c->key);
    if ((rc = join_rank0(c)) < 0) goto fail;
  } else {
    if ((rc = join_other(c)) < 0) goto fail;
    if (!(c->hb = make_socket(c, ZMQ_DEALER, c->my_ident, 0)) || zmq_connect(c->hb, c->hb_endpoint) < 0) {
      rc = zr_seterr(-EIO, "rank %d: cannot connect to %s: %s", c->rank, c->hb_endpoint, zmq_strerror(errno));
      goto fail;
    }
    ZR_INFO(LOGM, "rank %d: joined the group of %d at %s", c->rank, c->world, c->endpoint);
  }
  if (pthread_create(&c->hb_thread, NULL, hb_main, c) != 0) {
    rc = zr_seterr(-EAGAIN, "comm: cannot start the heartbeat thread");
    goto fail;
  }
  c->hb_started = true;
  if (cuda) {
#ifdef ZERORL_HAVE_CUDA
    if (!c->nccl_id[0]) {
      rc = zr_seterr(-EINVAL, "rank %d: Redis key %s has no nccl_id (rank 0 is not on the CUDA backend?)", c->rank,
                     c->key);
      goto fail;
    }
    zr_nccl *n = NULL;
    if ((rc = zr_nccl_new(&n, c->nccl_id, c->rank, c->world, c->be, c->timeout_ms)) < 0) goto fail;
    c->nccl = n;
#else
    rc = zr_seterr(-ENOTSUP, "comm: a cuda backend in a build without CUDA");
    goto fail;
#endif
  } else if (c->be && c->be->name && strcmp(c->be->name, "cpu") != 0) {
    rc = zr_seterr(-ENOTSUP, "comm: the %s backend has no gradient all-reduce (cpu: ZeroMQ, cuda: NCCL)", c->be->name);
    goto fail;
  }
  *out = c;
  return 0;
fail: {
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", zr_errmsg());
  zr_comm_abort(c, msg);
  zr_comm_free(&c);
  return zr_seterr(rc < 0 ? rc : -EIO, "%s", msg);
}
}

static void send_abort(zr_comm *c) {
  if (c->abort_sent || !c->data) return;
  c->abort_sent = true;
  char msg[800];
  pthread_mutex_lock(&c->mu);
  snprintf(msg, sizeof msg, "%s", c->fail_msg);
  pthread_mutex_unlock(&c->mu);
  if (c->rank == 0) {
    for (int r = 1; r < c->world; r++)
      if (c->ident_len && c->ident_len[r]) send_rank(c, r, M_ABORT, 0, 0, msg, strlen(msg));
  } else if (c->endpoint[0]) {
    send_rank(c, 0, M_ABORT, 0, 0, msg, strlen(msg));
  }
}

void zr_comm_abort(zr_comm *c, const char *why) {
  if (!c) return;
  fail(c, -ECANCELED, "%s", why);
  send_abort(c);
#ifdef ZERORL_HAVE_CUDA
  if (c->nccl) zr_nccl_abort(c->nccl);
#endif
}

void zr_comm_free(zr_comm **cp) {
  zr_comm *c = cp ? *cp : NULL;
  if (!c) return;
  *cp = NULL;
  if (atomic_load(&c->fail_rc)) send_abort(c);
  if (c->hb_started) {
    atomic_store(&c->hb_stop, true);
    pthread_join(c->hb_thread, NULL);
  }
#ifdef ZERORL_HAVE_CUDA
  if (c->nccl) {
    zr_nccl *n = c->nccl;
    if (atomic_load(&c->fail_rc)) zr_nccl_abort(n);
    zr_nccl_free(&n);
  }
#endif
  if (c->rank == 0 && c->gen[0] && c->endpoint[0]) unpublish(c);
  if (c->data) zmq_close(c->data);
  if (c->hb) zmq_close(c->hb);
  if (c->zctx) zmq_ctx_term(c->zctx);
  free(c->ident);
  free(c->ident_len);
  free(c->hb_ident);
  free(c->hb_ident_len);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

int zr_comm_rank(const zr_comm *c) { return c ? c->rank : 0; }
int zr_comm_world(const zr_comm *c) { return c ? c->world : 1; }
const char *zr_comm_transport(const zr_comm *c) { return c && c->nccl ? "nccl" : "zmq"; }

/* ---- the star: gather at rank 0, combine, send the result back ------------------------------ */

/* Combines bucket k: own[len] (rank 0's, in place) with in[r] (ranks 1..world-1 in order). */
typedef int (*combine_fn)(zr_comm *c, void *own, const void *const *in, size_t len, void *user);

static int star(zr_comm *c, uint32_t type, const char *what, void *buf, size_t elem, size_t n, size_t bucket,
                combine_fn combine, void *user) {
  int rc = check_failed(c);
  if (rc) return rc;
  const uint64_t seq = ++c->seq;
  const size_t nb = n ? (n + bucket - 1) / bucket : 1;
  if (nb > UINT32_MAX) return fail(c, -EINVAL, "%s: %zu buckets", what, nb);
  uint8_t *b = buf;
  if (c->rank != 0) {
    for (size_t k = 0; k < nb; k++) {
      size_t off = k * bucket, len = n - off < bucket ? n - off : bucket;
      if ((rc = send_rank(c, 0, type, seq, (uint32_t)k, b + off * elem, len * elem)) < 0)
        return fail(c, rc, "%s: %s", what, zr_errmsg());
    }
    for (size_t k = 0; k < nb; k++) {
      size_t off = k * bucket, len = n - off < bucket ? n - off : bucket;
      inmsg m;
      rc = recv_data(c, zr_clock_mono_ms() + (uint64_t)c->timeout_ms, &m);
      if (rc == -ETIMEDOUT)
        return fail(c, -ETIMEDOUT, "%s (collective %llu, bucket %zu of %zu): rank 0 did not answer within %lld ms",
                    what, (unsigned long long)seq, k + 1, nb, (long long)c->timeout_ms);
      if (rc < 0) return rc;
      bool ok = m.h.type == type + 1 && m.h.seq == seq && m.h.aux == k && zmq_msg_size(&m.body) == len * elem;
      if (ok) memcpy(b + off * elem, zmq_msg_data(&m.body), len * elem);
      else if (m.h.type == type + 1 && m.h.seq == seq && m.h.aux == k && type == M_SAME) {
        /* the verdict of an equality check: text */
        char text[600];
        size_t tl = zmq_msg_size(&m.body) < sizeof text - 1 ? zmq_msg_size(&m.body) : sizeof text - 1;
        memcpy(text, zmq_msg_data(&m.body), tl);
        text[tl] = 0;
        zmq_msg_close(&m.body);
        return zr_seterr(-EINVAL, "%s", text);
      }
      zmq_msg_close(&m.body);
      if (!ok)
        return fail(c, -EPROTO, "%s: out of step with rank 0 (got message type %u collective %llu bucket %u)", what,
                    m.h.type, (unsigned long long)m.h.seq, m.h.aux);
    }
    return 0;
  }
  /* rank 0 */
  zmq_msg_t *held = calloc((size_t)c->world * nb, sizeof *held);
  bool *have = calloc((size_t)c->world * nb, sizeof *have);
  const void **in = calloc((size_t)c->world, sizeof *in);
  if (!held || !have || !in) {
    free(held);
    free(have);
    free(in);
    return fail(c, -ENOMEM, "%s: out of memory", what);
  }
  for (size_t k = 0; k < nb && !rc; k++) {
    size_t off = k * bucket, len = n - off < bucket ? n - off : bucket;
    uint64_t deadline = zr_clock_mono_ms() + (uint64_t)c->timeout_ms;
    for (;;) {
      bool all = true;
      for (int r = 1; r < c->world; r++) all &= have[(size_t)r * nb + k];
      if (all) break;
      inmsg m;
      rc = recv_data(c, deadline, &m);
      if (rc == -ETIMEDOUT) {
        bool hv[1024] = {false};
        for (int r = 1; r < c->world && r < 1024; r++) hv[r] = have[(size_t)r * nb + k];
        char miss[256];
        missing_list(c, hv, miss, sizeof miss);
        rc = fail(c, -ETIMEDOUT, "%s (collective %llu, bucket %zu of %zu): %s did not answer within %lld ms",
                  what, (unsigned long long)seq, k + 1, nb, miss, (long long)c->timeout_ms);
        break;
      }
      if (rc < 0) break;
      rc = 0;
      size_t mk = m.h.aux, want = mk < nb ? (n - mk * bucket < bucket ? n - mk * bucket : bucket) : 0;
      if (m.h.type != type || m.h.seq != seq || mk >= nb || zmq_msg_size(&m.body) != want * elem ||
          have[(size_t)m.from * nb + mk]) {
        zmq_msg_close(&m.body);
        rc = fail(c, -EPROTO, "%s: rank %d is out of step (message type %u, collective %llu of %llu, bucket %zu)",
                  what, m.from, m.h.type, (unsigned long long)m.h.seq, (unsigned long long)seq, mk);
        break;
      }
      ZR_DEBUG(LOGM, "rank 0: %s collective %llu: bucket %zu from rank %d", what, (unsigned long long)seq, mk, m.from);
      zmq_msg_init(&held[(size_t)m.from * nb + mk]);
      zmq_msg_move(&held[(size_t)m.from * nb + mk], &m.body);
      zmq_msg_close(&m.body);
      have[(size_t)m.from * nb + mk] = true;
    }
    if (rc) break;
    for (int r = 1; r < c->world; r++) in[r] = zmq_msg_data(&held[(size_t)r * nb + k]);
    int verdict = combine(c, b + off * elem, in, len, user);
    for (int r = 1; r < c->world && !rc; r++) {
      if (verdict < 0) rc = send_rank(c, r, type + 1, seq, (uint32_t)k, zr_errmsg(), strlen(zr_errmsg()));
      else rc = send_rank(c, r, type + 1, seq, (uint32_t)k, b + off * elem, len * elem);
    }
    for (int r = 1; r < c->world; r++) {
      zmq_msg_close(&held[(size_t)r * nb + k]);
      have[(size_t)r * nb + k] = false;
    }
    if (rc) rc = fail(c, rc, "%s: %s", what, zr_errmsg());
    else if (verdict < 0) rc = verdict;
  }
  for (size_t i = 0; i < (size_t)c->world * nb; i++)
    if (have[i]) zmq_msg_close(&held[i]);
  free(held);
  free(have);
  free(in);
  return rc;
}

/* Received message data need not be aligned for float/double: read it through an aligned copy. */
#define ALIGNED_CHUNK 2048

static int combine_avg(zr_comm *c, void *own, const void *const *in, size_t len, void *user) {
  float *x = own, tmp[ALIGNED_CHUNK];
  for (int r = 1; r < c->world; r++) {
    const uint8_t *y = in[r];
    for (size_t i0 = 0; i0 < len; i0 += ALIGNED_CHUNK) {
      size_t m = len - i0 < ALIGNED_CHUNK ? len - i0 : ALIGNED_CHUNK;
      memcpy(tmp, y + i0 * sizeof(float), m * sizeof(float));
      for (size_t i = 0; i < m; i++) x[i0 + i] += tmp[i];
    }
  }
  const float s = 1.0f / (float)c->world;
  for (size_t i = 0; i < len; i++) x[i] *= s;
  return 0;
}

static int combine_host(zr_comm *c, void *own, const void *const *in, size_t len, void *user) {
  double *x = own;
  const zr_comm_op op = *(const zr_comm_op *)user;
  for (int r = 1; r < c->world; r++) {
    for (size_t i = 0; i < len; i++) {
      double y;
      memcpy(&y, (const uint8_t *)in[r] + i * sizeof y, sizeof y);
      x[i] = op == ZR_COMM_SUM ? x[i] + y : (y > x[i] ? y : x[i]);
    }
  }
  return 0;
}

typedef struct {
  const char *what;
} same_ctx;

static int combine_same(zr_comm *c, void *own, const void *const *in, size_t len, void *user) {
  const same_ctx *s = user;
  uint64_t v0;
  memcpy(&v0, own, sizeof v0);
  for (int r = 1; r < c->world; r++) {
    uint64_t v;
    memcpy(&v, in[r], sizeof v);
    if (v != v0)
      return zr_seterr(-EINVAL, "%s differs between rank 0 (%016llx) and rank %d (%016llx)", s->what,
                       (unsigned long long)v0, r, (unsigned long long)v);
  }
  return 0;
}

int zr_comm_all_reduce_avg(zr_comm *c, float *x, size_t n) {
  int rc = check_failed(c);
  if (rc) return rc;
  size_t bf = c->bucket_bytes / sizeof(float);
  if (bf == 0) bf = 1;
#ifdef ZERORL_HAVE_CUDA
  if (c->nccl) {
    ++c->seq;
    rc = zr_nccl_all_reduce_avg(c->nccl, x, n, bf, c->timeout_ms);
    if (rc < 0) {
      char msg[700];
      snprintf(msg, sizeof msg, "%s", zr_errmsg());
      zr_comm_abort(c, msg);
      return fail(c, rc, "%s", msg);
    }
    return 0;
  }
#endif
  return star(c, M_AR, "gradient all-reduce", x, sizeof(float), n, bf, combine_avg, NULL);
}

int zr_comm_reduce_host(zr_comm *c, double *v, size_t n, zr_comm_op op) {
  if (n > MAX_HOST_REDUCE) return zr_seterr(-EINVAL, "comm: reduce of %zu values (at most %d)", n, MAX_HOST_REDUCE);
  return star(c, M_RED, op == ZR_COMM_SUM ? "metric sum" : "metric max", v, sizeof(double), n, MAX_HOST_REDUCE,
              combine_host, &op);
}

int zr_comm_check_same(zr_comm *c, uint64_t value, const char *what) {
  same_ctx s = {what};
  uint64_t v = value;
  return star(c, M_SAME, what, &v, sizeof v, 1, 1, combine_same, &s);
}

int zr_comm_barrier(zr_comm *c) {
  double one = 1;
  return zr_comm_reduce_host(c, &one, 1, ZR_COMM_SUM);
}

int zr_comm_bcast(zr_comm *c, uint32_t *tag, void **data, size_t *len) {
  int rc = check_failed(c);
  if (rc) return rc;
  const uint64_t seq = ++c->seq;
  if (c->rank == 0) {
    for (int r = 1; r < c->world; r++)
      if ((rc = send_rank(c, r, M_BCAST, seq, *tag, *data, *len)) < 0) return fail(c, rc, "broadcast: %s", zr_errmsg());
    return 0;
  }
  *data = NULL;
  *len = 0;
  inmsg m;
  if ((rc = recv_data(c, 0, &m)) < 0) return rc;
  if (m.h.type != M_BCAST || m.h.seq != seq) {
    zmq_msg_close(&m.body);
    return fail(c, -EPROTO, "broadcast: out of step with rank 0 (message type %u, collective %llu, expected %llu)",
                m.h.type, (unsigned long long)m.h.seq, (unsigned long long)seq);
  }
  size_t n = zmq_msg_size(&m.body);
  if (n) {
    *data = malloc(n);
    if (!*data) {
      zmq_msg_close(&m.body);
      return fail(c, -ENOMEM, "broadcast: out of memory for %zu bytes", n);
    }
    memcpy(*data, zmq_msg_data(&m.body), n);
  }
  *len = n;
  *tag = m.h.aux;
  zmq_msg_close(&m.body);
  return 0;
}

uint64_t zr_comm_hash_floats(zr_backend *be, const float *x, size_t n) {
  float *h = malloc(n ? n * sizeof *h : 1);
  if (!h) return 0;
  be->download(be, h, x, n * sizeof *h);
  uint64_t v = zr_checksum64(h, n * sizeof *h);
  free(h);
  return v;
}
