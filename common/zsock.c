/* zsock.c: ZeroMQ sockets driven by a libuv loop. See zsock.h.
 *
 * How the loop drives a socket: a uv_poll_t on ZMQ_FD wakes us when zmq has commands pending;
 * process() then asks ZMQ_EVENTS what is really possible and receives/flushes until nothing is
 * left or the batch budget is spent. Because the fd is edge-triggered and our own sends and
 * receives may consume an edge, every send re-checks ZMQ_EVENTS too, and a uv_idle_t keeps
 * process() running on the next iterations while ZMQ_EVENTS still reports work. The idle
 * stops only right after a ZMQ_EVENTS call that said there is nothing to do, so any later
 * change is announced by a new edge on the fd. */
#include "common/zsock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"

/* Wait before retrying the FIFO head when zmq reports POLLOUT but still refuses it (a ROUTER
 * whose head message is for a peer at its HWM while other peers have room). */
#define ZR_ZSOCK_RETRY_MS 2

/* One outbound message, owned by the FIFO until handed to zmq. */
typedef struct zr_zsock_out {
  struct zr_zsock_out *next;
  size_t n;
  zmq_msg_t parts[];
} zr_zsock_out;

struct zr_zsock {
  uv_poll_t poll;
  uv_idle_t idle;
  uv_timer_t retry;
  int open_handles; /* memory is freed when the last close callback runs */
  void *zs;
  zr_zsock_opts opts; /* numeric settings only; string pointers are not kept */
  zr_zsock_recv_cb cb;
  void *user;
  zmq_msg_t *rx; /* opts.max_parts frames of the message being received */
  zr_zsock_out *q_head, *q_tail;
  zr_zsock_stats st;
  bool out_wait; /* FIFO head refused despite POLLOUT: wait for the fd or the retry timer */
  bool closing;
};

zr_zsock_opts zr_zsock_opts_default(void) {
  return (zr_zsock_opts){
      .max_msg_bytes = 256ll << 20,
      .sndhwm = 1000,
      .rcvhwm = 1000,
      .linger_ms = 1000,
      .reconnect_ivl_ms = 100,
      .reconnect_ivl_max_ms = 5000,
      .max_parts = 8,
      .max_pending = 100000,
  };
}

/* ---- options ---- */

static int set_opt(void *zs, int opt, const char *name, const void *val, size_t len) {
  if (zmq_setsockopt(zs, opt, val, len) == 0) return 0;
  int e = errno;
  return zr_seterr(-e, "zsock: setting %s failed: %s", name, zmq_strerror(e));
}

static int set_int(void *zs, int opt, const char *name, int val) {
  return set_opt(zs, opt, name, &val, sizeof val);
}

static int check_key(const char *name, const char *key) {
  uint8_t raw[32];
  if (strlen(key) != ZR_ZSOCK_Z85_KEY_LEN || !zmq_z85_decode(raw, key))
    return zr_seterr(-EINVAL, "zsock: %s is not a %d-character Z85 CURVE key", name,
                     ZR_ZSOCK_Z85_KEY_LEN);
  return 0;
}

static int apply_curve(void *zs, const zr_zsock_opts *o) {
  const char *pub = o->curve_public_key, *sec = o->curve_secret_key, *srv = o->curve_server_key;
  if (!o->curve_server && !pub && !sec && !srv) return 0;
  if (!zmq_has("curve")) return zr_seterr(-ENOTSUP, "zsock: this libzmq was built without CURVE");
  if (!pub || !sec || (o->curve_server ? srv != NULL : srv == NULL))
    return zr_seterr(-EINVAL,
                     "zsock: half-configured CURVE (curve_server=%d public=%s secret=%s "
                     "server_key=%s): a server needs public+secret keys, a client needs "
                     "public+secret+server keys",
                     o->curve_server, pub ? "set" : "unset", sec ? "set" : "unset",
                     srv ? "set" : "unset");
  int rc;
  if ((rc = check_key("curve_public_key", pub)) || (rc = check_key("curve_secret_key", sec)))
    return rc;
  if (o->curve_server) {
    if ((rc = set_int(zs, ZMQ_CURVE_SERVER, "ZMQ_CURVE_SERVER", 1))) return rc;
  } else {
    if ((rc = check_key("curve_server_key", srv)) ||
        (rc = set_opt(zs, ZMQ_CURVE_SERVERKEY, "ZMQ_CURVE_SERVERKEY", srv, strlen(srv))))
      return rc;
  }
  if ((rc = set_opt(zs, ZMQ_CURVE_PUBLICKEY, "ZMQ_CURVE_PUBLICKEY", pub, strlen(pub))) ||
      (rc = set_opt(zs, ZMQ_CURVE_SECRETKEY, "ZMQ_CURVE_SECRETKEY", sec, strlen(sec))))
    return rc;
  return 0;
}

static int apply_opts(void *zs, int type, const zr_zsock_opts *o) {
  if (o->max_msg_bytes <= 0 || o->sndhwm < 0 || o->rcvhwm < 0 || o->linger_ms < -1 ||
      o->reconnect_ivl_ms < 0 || o->reconnect_ivl_max_ms < 0 || o->max_parts < 1)
    return zr_seterr(-EINVAL,
                     "zsock: bad options (max_msg_bytes=%lld sndhwm=%d rcvhwm=%d linger_ms=%d "
                     "reconnect_ivl_ms=%d reconnect_ivl_max_ms=%d max_parts=%zu)",
                     (long long)o->max_msg_bytes, o->sndhwm, o->rcvhwm, o->linger_ms,
                     o->reconnect_ivl_ms, o->reconnect_ivl_max_ms, o->max_parts);
  int rc;
  if ((rc = set_opt(zs, ZMQ_MAXMSGSIZE, "ZMQ_MAXMSGSIZE", &o->max_msg_bytes,
                    sizeof o->max_msg_bytes)) ||
      (rc = set_int(zs, ZMQ_SNDHWM, "ZMQ_SNDHWM", o->sndhwm)) ||
      (rc = set_int(zs, ZMQ_RCVHWM, "ZMQ_RCVHWM", o->rcvhwm)) ||
      (rc = set_int(zs, ZMQ_LINGER, "ZMQ_LINGER", o->linger_ms)) ||
      (rc = set_int(zs, ZMQ_RECONNECT_IVL, "ZMQ_RECONNECT_IVL", o->reconnect_ivl_ms)) ||
      (rc = set_int(zs, ZMQ_RECONNECT_IVL_MAX, "ZMQ_RECONNECT_IVL_MAX", o->reconnect_ivl_max_ms)))
    return rc;
  if (type == ZMQ_ROUTER && (rc = set_int(zs, ZMQ_ROUTER_MANDATORY, "ZMQ_ROUTER_MANDATORY", 1)))
    return rc;
  if (o->routing_id &&
      (rc = set_opt(zs, ZMQ_ROUTING_ID, "ZMQ_ROUTING_ID", o->routing_id, strlen(o->routing_id))))
    return rc;
  return apply_curve(zs, o);
}

/* ---- the outbound FIFO ---- */

static zr_zsock_out *out_new(size_t n) {
  if (n > (SIZE_MAX - sizeof(zr_zsock_out)) / sizeof(zmq_msg_t)) return NULL;
  zr_zsock_out *o = malloc(sizeof *o + n * sizeof(zmq_msg_t));
  if (o) {
    o->next = NULL;
    o->n = n;
  }
  return o;
}

/* Closes every frame (frames zmq has taken are already empty) and frees the message. */
static void out_free(zr_zsock_out *o) {
  for (size_t i = 0; i < o->n; i++) zmq_msg_close(&o->parts[i]);
  free(o);
}

/* Hands a whole message to zmq. Returns 0 when sent; -EAGAIN when zmq refused the first frame
 * (the message is untouched and can be queued or retried); another negative errno otherwise. */
static int out_send(zr_zsock *s, zr_zsock_out *o) {
  for (size_t i = 0; i < o->n; i++) {
    int flags = ZMQ_DONTWAIT | (i + 1 < o->n ? ZMQ_SNDMORE : 0);
    if (zmq_msg_send(&o->parts[i], s->zs, flags) >= 0) continue;
    int e = errno;
    if (i == 0 && e == EAGAIN) return -EAGAIN;
    if (i == 0 && e == EHOSTUNREACH)
      return zr_seterr(-EHOSTUNREACH, "zsock: ROUTER send to an unknown or disconnected peer");
    if (i == 0) return zr_seterr(-e, "zsock: send failed: %s", zmq_strerror(e));
    /* zmq only refuses a later frame when the peer's pipe is torn down mid-message; it then
     * rolls back the frames it took, so the message is lost as a whole, not half-sent. */
    return zr_seterr(-EPIPE, "zsock: frame %zu of %zu refused (%s); peer went away mid-message",
                     i + 1, o->n, zmq_strerror(e));
  }
  return 0;
}

static void fifo_push(zr_zsock *s, zr_zsock_out *o) {
  if (s->q_tail)
    s->q_tail->next = o;
  else
    s->q_head = o;
  s->q_tail = o;
  s->st.pending++;
  s->st.queued++;
}

static zr_zsock_out *fifo_pop(zr_zsock *s) {
  zr_zsock_out *o = s->q_head;
  s->q_head = o->next;
  if (!s->q_head) s->q_tail = NULL;
  s->st.pending--;
  return o;
}

/* ---- the loop side ---- */

static void on_idle(uv_idle_t *h);
static void on_retry(uv_timer_t *h);

static int zs_events(zr_zsock *s) {
  int ev = 0;
  size_t len = sizeof ev;
  if (zmq_getsockopt(s->zs, ZMQ_EVENTS, &ev, &len) != 0) {
    zr_log_limited("zsock-events", 5000, ZR_LOG_WARN, "zsock", "ZMQ_EVENTS failed err=%s",
                   zmq_strerror(errno));
    return 0;
  }
  return ev;
}

static bool can_flush(const zr_zsock *s, int ev) {
  return s->q_head && !s->out_wait && (ev & ZMQ_POLLOUT);
}

/* Re-checks ZMQ_EVENTS (after a send) and makes sure process() runs if there is work. */
static void rearm(zr_zsock *s) {
  int ev = zs_events(s);
  if ((ev & ZMQ_POLLIN) || can_flush(s, ev)) uv_idle_start(&s->idle, on_idle);
}

/* Sends the FIFO head. Returns false when zmq refused it (try again later). */
static bool flush_head(zr_zsock *s) {
  int rc = out_send(s, s->q_head);
  if (rc == -EAGAIN) {
    s->out_wait = true;
    uv_timer_start(&s->retry, on_retry, ZR_ZSOCK_RETRY_MS, 0);
    return false;
  }
  zr_zsock_out *o = fifo_pop(s);
  if (rc == 0) {
    s->st.sent++;
  } else {
    s->st.send_errors++;
    zr_log_limited("zsock-flush", 1000, ZR_LOG_WARN, "zsock", "dropped a queued message: %s",
                   zr_errmsg());
  }
  out_free(o);
  return true;
}

/* Receives one whole message and hands it to the callback (or drops it). */
static void recv_one(zr_zsock *s) {
  size_t n = 0, total = 0;
  zmq_msg_t extra;
  for (int more = 1; more;) {
    zmq_msg_t *m = n < s->opts.max_parts ? &s->rx[n] : &extra;
    zmq_msg_init(m);
    if (zmq_msg_recv(m, s->zs, ZMQ_DONTWAIT) < 0) {
      int e = errno;
      zmq_msg_close(m);
      if (total > 0 || e != EAGAIN)
        zr_log_limited("zsock-recv", 5000, ZR_LOG_WARN, "zsock", "receive failed frame=%zu err=%s",
                       total, zmq_strerror(e));
      goto done;
    }
    more = zmq_msg_more(m);
    total++;
    if (m == &extra)
      zmq_msg_close(m);
    else
      n++;
  }
  if (total > s->opts.max_parts) {
    s->st.dropped++;
    zr_log_limited("zsock-parts", 5000, ZR_LOG_WARN, "zsock",
                   "dropped a message with too many frames frames=%zu max_parts=%zu", total,
                   s->opts.max_parts);
  } else {
    s->st.received++;
    if (s->cb) s->cb(s, s->rx, n, s->user); /* may free s: memory stays until close callbacks */
  }
done:
  for (size_t i = 0; i < n; i++) zmq_msg_close(&s->rx[i]);
}

static void process(zr_zsock *s) {
  int budget = ZR_ZSOCK_BATCH;
  while (!s->closing && budget > 0) {
    int ev = zs_events(s);
    bool did = false;
    if (can_flush(s, ev)) did = flush_head(s);
    if (ev & ZMQ_POLLIN) {
      recv_one(s);
      did = true;
    }
    if (!did) break;
    budget--;
  }
  if (s->closing) return;
  /* Out of budget: more may be waiting, come back next iteration. Otherwise the last
   * ZMQ_EVENTS said there is nothing to do, and the fd will announce any change. */
  if (budget == 0)
    uv_idle_start(&s->idle, on_idle);
  else
    uv_idle_stop(&s->idle);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  zr_zsock *s = h->data;
  if (status < 0)
    zr_log_limited("zsock-poll", 5000, ZR_LOG_WARN, "zsock", "poll error err=%s",
                   uv_strerror(status));
  s->out_wait = false; /* something changed: worth trying the FIFO head again */
  process(s);
}

static void on_idle(uv_idle_t *h) { process(h->data); }

static void on_retry(uv_timer_t *h) {
  zr_zsock *s = h->data;
  s->out_wait = false;
  process(s);
}

static void on_close(uv_handle_t *h) {
  zr_zsock *s = h->data;
  if (--s->open_handles > 0) return;
  free(s->rx);
  free(s);
}

/* ---- public API ---- */

zr_zsock *zr_zsock_new(uv_loop_t *loop, void *zmq_ctx, int zmq_type, const zr_zsock_opts *opts,
                       zr_zsock_recv_cb cb, void *user) {
  ZR_ASSERT(loop && zmq_ctx);
  zr_zsock_opts o = opts ? *opts : zr_zsock_opts_default();
  zr_zsock *s = calloc(1, sizeof *s);
  zmq_msg_t *rx = o.max_parts ? calloc(o.max_parts, sizeof *rx) : NULL;
  void *zs = zmq_socket(zmq_ctx, zmq_type);
  int fd = -1, rc;
  size_t fdlen = sizeof fd;
  if (!s || (o.max_parts && !rx)) {
    zr_seterr(-ENOMEM, "zsock: out of memory");
    goto fail;
  }
  if (!zs) {
    int e = errno;
    zr_seterr(-e, "zsock: zmq_socket(type=%d) failed: %s", zmq_type, zmq_strerror(e));
    goto fail;
  }
  if (apply_opts(zs, zmq_type, &o) != 0) goto fail;
  if (zmq_getsockopt(zs, ZMQ_FD, &fd, &fdlen) != 0) {
    int e = errno;
    zr_seterr(-e, "zsock: reading ZMQ_FD failed: %s", zmq_strerror(e));
    goto fail;
  }
  if ((rc = uv_poll_init(loop, &s->poll, fd)) != 0) {
    zr_seterr(rc, "zsock: uv_poll_init(fd=%d) failed: %s", fd, uv_strerror(rc));
    goto fail;
  }
  uv_idle_init(loop, &s->idle);
  uv_timer_init(loop, &s->retry);
  s->poll.data = s->idle.data = s->retry.data = s;
  s->open_handles = 3;
  s->zs = zs;
  s->opts = o;
  s->opts.routing_id = s->opts.curve_public_key = s->opts.curve_secret_key =
      s->opts.curve_server_key = NULL;
  s->cb = cb;
  s->user = user;
  s->rx = rx;
  if ((rc = uv_poll_start(&s->poll, UV_READABLE, on_poll)) != 0) {
    zr_seterr(rc, "zsock: uv_poll_start(fd=%d) failed: %s", fd, uv_strerror(rc));
    zr_zsock_free(&s);
    return NULL;
  }
  uv_idle_start(&s->idle, on_idle); /* first look happens on the first loop iteration */
  return s;
fail:
  if (zs) {
    int zero = 0;
    zmq_setsockopt(zs, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(zs);
  }
  free(rx);
  free(s);
  return NULL;
}

void zr_zsock_free(zr_zsock **ps) {
  if (!ps || !*ps) return;
  zr_zsock *s = *ps;
  *ps = NULL;
  ZR_ASSERT(!s->closing);
  s->closing = true;
  while (s->q_head) out_free(fifo_pop(s));
  uv_close((uv_handle_t *)&s->poll, on_close); /* removes the fd from the loop at once */
  uv_close((uv_handle_t *)&s->idle, on_close);
  uv_close((uv_handle_t *)&s->retry, on_close);
  zmq_close(s->zs);
  s->zs = NULL;
}

int zr_zsock_bind(zr_zsock *s, const char *endpoint) {
  ZR_ASSERT(s && !s->closing);
  if (!endpoint) return zr_seterr(-EINVAL, "zsock: bind to a NULL endpoint");
  if (zmq_bind(s->zs, endpoint) == 0) return 0;
  int e = errno;
  return zr_seterr(-e, "zsock: bind to '%s' failed: %s", endpoint, zmq_strerror(e));
}

int zr_zsock_connect(zr_zsock *s, const char *endpoint) {
  ZR_ASSERT(s && !s->closing);
  if (!endpoint) return zr_seterr(-EINVAL, "zsock: connect to a NULL endpoint");
  if (zmq_connect(s->zs, endpoint) == 0) return 0;
  int e = errno;
  return zr_seterr(-e, "zsock: connect to '%s' failed: %s", endpoint, zmq_strerror(e));
}

int zr_zsock_last_endpoint(zr_zsock *s, char *out, size_t cap) {
  ZR_ASSERT(s && out && cap > 0);
  size_t len = cap;
  if (zmq_getsockopt(s->zs, ZMQ_LAST_ENDPOINT, out, &len) == 0) return 0;
  int e = errno;
  out[0] = '\0';
  return zr_seterr(-e, "zsock: reading ZMQ_LAST_ENDPOINT failed: %s", zmq_strerror(e));
}

/* Sends o now if nothing is queued ahead of it and zmq takes it, else queues it. */
static int submit(zr_zsock *s, zr_zsock_out *o) {
  int rc = 0;
  if (!s->q_head) {
    rc = out_send(s, o);
    if (rc == 0) s->st.sent++;
    if (rc != -EAGAIN) {
      out_free(o);
      goto out;
    }
  }
  if (s->st.pending >= s->opts.max_pending) {
    out_free(o);
    rc = zr_seterr(-ENOBUFS, "zsock: send queue full (pending=%zu max_pending=%zu)", s->st.pending,
                   s->opts.max_pending);
    goto out;
  }
  fifo_push(s, o);
  rc = 0;
out:
  rearm(s);
  return rc;
}

int zr_zsock_send(zr_zsock *s, const zr_zsock_part *parts, size_t n) {
  ZR_ASSERT(s && !s->closing);
  if (n == 0 || !parts) return zr_seterr(-EINVAL, "zsock: send of a message with no frames");
  zr_zsock_out *o = out_new(n);
  if (!o) return zr_seterr(-ENOMEM, "zsock: out of memory for a %zu-frame message", n);
  for (size_t i = 0; i < n; i++) {
    if (zmq_msg_init_size(&o->parts[i], parts[i].len) != 0) {
      o->n = i;
      out_free(o);
      return zr_seterr(-ENOMEM, "zsock: out of memory for a %zu-byte frame", parts[i].len);
    }
    if (parts[i].len) memcpy(zmq_msg_data(&o->parts[i]), parts[i].data, parts[i].len);
  }
  return submit(s, o);
}

int zr_zsock_send_msgs(zr_zsock *s, zmq_msg_t *msgs, size_t n) {
  ZR_ASSERT(s && !s->closing);
  if (n == 0 || !msgs) return zr_seterr(-EINVAL, "zsock: send of a message with no frames");
  zr_zsock_out *o = out_new(n);
  if (!o) {
    for (size_t i = 0; i < n; i++) {
      zmq_msg_close(&msgs[i]);
      zmq_msg_init(&msgs[i]);
    }
    return zr_seterr(-ENOMEM, "zsock: out of memory for a %zu-frame message", n);
  }
  for (size_t i = 0; i < n; i++) {
    zmq_msg_init(&o->parts[i]);
    zmq_msg_move(&o->parts[i], &msgs[i]);
  }
  return submit(s, o);
}

zr_zsock_stats zr_zsock_get_stats(const zr_zsock *s) {
  ZR_ASSERT(s);
  return s->st;
}

void *zr_zsock_raw(zr_zsock *s) {
  ZR_ASSERT(s);
  return s->zs;
}

int zr_zsock_read_key(const char *path, char out[41]) {
  FILE *f = fopen(path, "r");
  if (!f) return zr_seterr(-errno, "%s: cannot open: %s", path, strerror(errno));
  char line[256] = "";
  if (!fgets(line, sizeof line, f)) line[0] = '\0';
  fclose(f);
  char *s = line;
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strcspn(s, " \t\r\n");
  if (n != ZR_ZSOCK_Z85_KEY_LEN) return zr_seterr(-EINVAL, "%s: not a 40-character Z85 CURVE key", path);
  memcpy(out, s, n);
  out[n] = '\0';
  return 0;
}

int zr_zsock_decode(zr_frame_msg *msg, zmq_msg_t *parts, size_t n, const char *expect_job,
                    const zr_frame_limits *lim) {
  zr_bytes frames[ZR_FRAME_MAX_BULK + 2]; /* one more than allowed, so too many is reported */
  if (n > ZR_FRAME_MAX_BULK + 2) n = ZR_FRAME_MAX_BULK + 2;
  for (size_t i = 0; i < n; i++) frames[i] = (zr_bytes){zmq_msg_data(&parts[i]), zmq_msg_size(&parts[i])};
  return zr_frame_decode(msg, frames, n, expect_job, lim);
}
