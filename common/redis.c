/* redis.c: hiredis async on libuv with reconnect, timeouts and listeners (see redis.h).
 *
 * Life of a connection (zr_conn): the client's timer fires, the host is resolved if it is a
 * name (uv_getaddrinfo), redisAsyncConnect*() starts a non-blocking connect, and AUTH,
 * SELECT, CLIENT SETNAME and PING are queued at once. The PING reply makes the connection
 * ready. Any failure detaches the zr_conn from the client (conn_lost) and arms the back-off
 * timer; hiredis frees its context, and the zr_conn itself is freed when its poll handle has
 * closed, which is after hiredis' last callback for it.
 *
 * hiredis 0.14.1 rules this code relies on (async.c): every reply callback runs exactly once,
 * with NULL when the context goes away; redisAsyncFree() called inside a reply callback is
 * deferred until the callback returns, but called inside the connect or disconnect callback
 * it would free the context under hiredis' feet, so those two callbacks only detach; a
 * failed connect calls onConnect(REDIS_ERR) and then frees the context without
 * onDisconnect; a context is freed right after its onDisconnect. */
#include "common/redis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/async.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

#define COMP "redis"
#define LOG_PERIOD_MS 30000 /* repeated connection problems are logged at most this often */

/* A command sent on a connection and not answered yet; oldest first, for the timeout. */
struct pending {
  struct pending *prev, *next;
  struct zr_conn *conn;
  zr_redis_reply_cb cb;
  void *user;
  uint64_t sent_ms;
};

/* One hiredis connection. It is the context's ev.data: the event hooks below are our own
 * libuv adapter (see ev_poll). */
typedef struct zr_conn {
  zr_redis *r;
  redisAsyncContext *ac; /* NULL once hiredis has released it (ev_cleanup) */
  uv_poll_t poll;
  int events; /* UV_READABLE | UV_WRITABLE wanted by hiredis */
  int lost;   /* detached from the client; hiredis may still be freeing the context */
  int ready;  /* handshake done */
  uint64_t started_ms;
  struct pending *head, *tail;
} zr_conn;

struct zr_redis {
  uv_loop_t *loop;
  zr_redis_opts o; /* numbers only: the strings are the copies below */
  char *host, *unix_path, *user, *password, *client_name;
  char endpoint[128];
  zr_redis_connect_cb on_connect;
  void *cb_user;

  zr_conn *conn;    /* the current connection (connecting or ready), or NULL */
  uv_timer_t timer; /* back-off delay while there is no connection, timeouts while there is */
  uint32_t tick_ms; /* how often timeouts are checked */
  uv_getaddrinfo_t gai;
  int resolving;
  unsigned failures; /* consecutive failed attempts, for the back-off */
  uint64_t connects;
  char last_error[256];
  zr_redis_listener *listeners; /* newest first */
  zr_redis_listener *cursor;    /* the next listener notify_connect calls */

  int closing;
  int refs; /* the timer, live zr_conns and a resolution in flight; freed at 0 */
};

static void on_timer(uv_timer_t *t);
static void notify_connect(zr_redis *r, zr_conn *c);

/* ---- helpers ----------------------------------------------------------------------------- */

static char *dup_opt(const char *s) { return s ? strdup(s) : NULL; }

static void maybe_free(zr_redis *r) {
  if (!r->closing || r->refs > 0) return;
  free(r->host);
  free(r->unix_path);
  free(r->user);
  free(r->password);
  free(r->client_name);
  free(r);
}

/* Records a connection problem for zr_redis_last_error() and logs it: at most once per
 * LOG_PERIOD_MS for each kind of repeated failure, every time when kind is NULL (the
 * transitions "lost" and "connected" are always logged, so the last line tells the state). */
static void problem(zr_redis *r, const char *kind, zr_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(zr_redis *r, const char *kind, zr_log_level level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->last_error, sizeof r->last_error, fmt, ap);
  va_end(ap);
  if (!kind) {
    zr_log(level, COMP, "%s", r->last_error);
    return;
  }
  char key[200];
  snprintf(key, sizeof key, "redis:%s:%s", r->endpoint, kind);
  zr_log_limited(key, LOG_PERIOD_MS, level, COMP, "%s", r->last_error);
}

/* ---- libuv event hooks for hiredis ---------------------------------------------------------
 * The adapter shipped with hiredis 0.14.1 (adapters/libuv.h) returns from its poll callback
 * when libuv reports an error, which libuv does for POLLERR (a refused TCP connect, a reset
 * connection): hiredis never hears of it and the connection hangs. These hooks do what
 * later hiredis releases do: on an error, run the handlers for every registered event so
 * that hiredis' own read/write finds the error and reports it. */

static void ev_poll(uv_poll_t *h, int status, int events) {
  zr_conn *c = h->data;
  int ev = status < 0 ? c->events : events;
  if (c->ac && (ev & UV_READABLE)) redisAsyncHandleRead(c->ac);
  if (c->ac && (ev & UV_WRITABLE)) redisAsyncHandleWrite(c->ac); /* ac may be gone now */
}

static void ev_update(zr_conn *c) {
  if (c->events)
    uv_poll_start(&c->poll, c->events, ev_poll);
  else
    uv_poll_stop(&c->poll);
}

static void ev_add_read(void *p) {
  zr_conn *c = p;
  c->events |= UV_READABLE;
  ev_update(c);
}

static void ev_del_read(void *p) {
  zr_conn *c = p;
  c->events &= ~UV_READABLE;
  ev_update(c);
}

static void ev_add_write(void *p) {
  zr_conn *c = p;
  c->events |= UV_WRITABLE;
  ev_update(c);
}

static void ev_del_write(void *p) {
  zr_conn *c = p;
  c->events &= ~UV_WRITABLE;
  ev_update(c);
}

static void on_poll_closed(uv_handle_t *h) {
  zr_conn *c = h->data;
  zr_redis *r = c->r;
  ZR_ASSERT(c->head == NULL); /* hiredis answered every command before its cleanup hook */
  free(c);
  r->refs--;
  maybe_free(r);
}

/* Called by hiredis while it frees the context, before closing the socket. */
static void ev_cleanup(void *p) {
  zr_conn *c = p;
  c->ac = NULL;
  uv_close((uv_handle_t *)&c->poll, on_poll_closed);
}

/* ---- connection life --------------------------------------------------------------------- */

static void schedule_reconnect(zr_redis *r) {
  if (r->closing) return;
  uint64_t delay = r->o.backoff_min_ms;
  for (unsigned i = 0; i < r->failures && delay < r->o.backoff_max_ms; i++) delay *= 2;
  if (delay > r->o.backoff_max_ms) delay = r->o.backoff_max_ms;
  delay = delay / 2 + zr_id_u64() % (delay / 2 + 1); /* "equal jitter": spread the herd */
  if (r->failures < 64) r->failures++;
  uv_timer_start(&r->timer, on_timer, delay, 0);
}

/* Checks timeouts while there is a connection; idle when nothing can time out. */
static void arm_watchdog(zr_redis *r) {
  zr_conn *c = r->conn;
  if (r->closing || !c) return;
  if (c->ready && !c->head)
    uv_timer_stop(&r->timer);
  else
    uv_timer_start(&r->timer, on_timer, r->tick_ms, 0);
}

/* Detaches c from the client and schedules the next attempt. Idempotent. */
static void conn_lost(zr_conn *c) {
  if (c->lost) return;
  c->lost = 1;
  zr_redis *r = c->r;
  if (r->conn == c) r->conn = NULL;
  schedule_reconnect(r);
}

/* Logs why a connection hiredis is tearing down went away (first report wins). */
static void conn_lost_by_hiredis(zr_conn *c, const redisAsyncContext *ac) {
  zr_redis *r = c->r;
  if (c->lost) return;
  if (!r->closing) {
    /* at onConnect(REDIS_ERR) the error is still in the sync context only */
    const char *why = ac->err ? ac->errstr : ac->c.err ? ac->c.errstr : "closed";
    if (c->ready)
      problem(r, NULL, ZR_LOG_WARN, "connection lost endpoint=%s error=\"%s\"", r->endpoint, why);
    else
      problem(r, "connect", ZR_LOG_WARN, "connection failed endpoint=%s error=\"%s\"", r->endpoint,
              why);
  }
  conn_lost(c);
}

/* Drops a connection of ours: pending commands get NULL replies (now, or right after the
 * hiredis callback we are in returns). */
static void recycle(zr_conn *c) {
  conn_lost(c);
  if (c->ac) redisAsyncFree(c->ac);
}

static void on_connected(const redisAsyncContext *ac, int status) {
  if (status != REDIS_OK) conn_lost_by_hiredis(ac->data, ac); /* hiredis frees ac next */
}

static void on_disconnected(const redisAsyncContext *ac, int status) {
  conn_lost_by_hiredis(ac->data, ac); /* hiredis frees ac next */
}

enum { HS_AUTH = 1, HS_SELECT, HS_NAME, HS_PING };

static void on_handshake(redisAsyncContext *ac, void *reply, void *priv) {
  zr_conn *c = ac->data;
  redisReply *rep = reply;
  zr_redis *r = c->r;
  int step = (int)(intptr_t)priv;
  if (!rep || c->lost) return; /* going away; reported elsewhere */
  if (rep->type == REDIS_REPLY_ERROR) {
    if (step == HS_AUTH)
      problem(r, "auth", ZR_LOG_ERROR,
              "AUTH failed, check the redis user and password endpoint=%s user=%s reply=\"%s\"",
              r->endpoint, r->user ? r->user : "(default)", rep->str);
    else if (strncmp(rep->str, "NOAUTH", 6) == 0)
      problem(r, "auth", ZR_LOG_ERROR,
              "AUTH failed: the server requires a password and none is configured "
              "endpoint=%s reply=\"%s\"",
              r->endpoint, rep->str);
    else
      problem(r, "handshake", ZR_LOG_ERROR, "%s failed endpoint=%s reply=\"%s\"",
              step == HS_SELECT ? "SELECT"
              : step == HS_NAME ? "CLIENT SETNAME"
                                : "PING",
              r->endpoint, rep->str);
    recycle(c);
    return;
  }
  if (step != HS_PING) return;

  c->ready = 1;
  r->failures = 0;
  r->connects++;
  zr_log(ZR_LOG_INFO, COMP, "connected endpoint=%s connects=%llu", r->endpoint,
         (unsigned long long)r->connects);
  arm_watchdog(r);
  notify_connect(r, c);
}

static void send_handshake(zr_conn *c) {
  zr_redis *r = c->r;
  redisAsyncContext *ac = c->ac;
  /* A command that cannot be queued leaves the handshake unfinished: the connect timeout
   * then recycles the connection. */
  if (r->password) {
    if (r->user)
      redisAsyncCommand(ac, on_handshake, (void *)(intptr_t)HS_AUTH, "AUTH %s %s", r->user,
                        r->password);
    else
      redisAsyncCommand(ac, on_handshake, (void *)(intptr_t)HS_AUTH, "AUTH %s", r->password);
  }
  if (r->o.db)
    redisAsyncCommand(ac, on_handshake, (void *)(intptr_t)HS_SELECT, "SELECT %d", r->o.db);
  if (r->client_name)
    redisAsyncCommand(ac, on_handshake, (void *)(intptr_t)HS_NAME, "CLIENT SETNAME %s",
                      r->client_name);
  redisAsyncCommand(ac, on_handshake, (void *)(intptr_t)HS_PING, "PING");
}

/* ip: a numeric address for TCP, NULL for the Unix socket. */
static void connect_to(zr_redis *r, const char *ip) {
  redisAsyncContext *ac =
      ip ? redisAsyncConnect(ip, r->o.port) : redisAsyncConnectUnix(r->unix_path);
  if (!ac || ac->err) {
    problem(r, "connect", ZR_LOG_WARN, "cannot connect endpoint=%s error=\"%s\"", r->endpoint,
            ac ? ac->errstr : "out of memory");
    if (ac) redisAsyncFree(ac);
    schedule_reconnect(r);
    return;
  }
  zr_conn *c = calloc(1, sizeof *c);
  int rc = c ? uv_poll_init(r->loop, &c->poll, ac->c.fd) : UV_ENOMEM;
  if (rc < 0) {
    problem(r, "connect", ZR_LOG_ERROR, "cannot watch the socket endpoint=%s error=\"%s\"",
            r->endpoint, uv_strerror(rc));
    free(c);
    redisAsyncFree(ac);
    schedule_reconnect(r);
    return;
  }
  c->r = r;
  c->ac = ac;
  c->poll.data = c;
  c->started_ms = zr_clock_mono_ms();
  r->refs++;
  r->conn = c;
  ac->data = c;
  ac->ev.data = c;
  ac->ev.addRead = ev_add_read;
  ac->ev.delRead = ev_del_read;
  ac->ev.addWrite = ev_add_write;
  ac->ev.delWrite = ev_del_write;
  ac->ev.cleanup = ev_cleanup;
  if (ip) redisEnableKeepAlive(&ac->c);
  redisAsyncSetConnectCallback(ac, on_connected); /* also starts watching for writability */
  redisAsyncSetDisconnectCallback(ac, on_disconnected);
  send_handshake(c);
  arm_watchdog(r);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  zr_redis *r = req->data;
  r->resolving = 0;
  r->refs--;
  char ip[INET6_ADDRSTRLEN] = "";
  if (status == 0 && res) {
    if (res->ai_family == AF_INET)
      uv_ip4_name((const struct sockaddr_in *)res->ai_addr, ip, sizeof ip);
    else if (res->ai_family == AF_INET6)
      uv_ip6_name((const struct sockaddr_in6 *)res->ai_addr, ip, sizeof ip);
  }
  uv_freeaddrinfo(res);
  if (r->closing) {
    maybe_free(r);
    return;
  }
  if (!ip[0]) {
    problem(r, "resolve", ZR_LOG_WARN, "cannot resolve host endpoint=%s error=\"%s\"", r->endpoint,
            status < 0 ? uv_strerror(status) : "no address");
    schedule_reconnect(r);
    return;
  }
  connect_to(r, ip);
}

static void start_attempt(zr_redis *r) {
  if (r->unix_path) {
    connect_to(r, NULL);
    return;
  }
  unsigned char addr[sizeof(struct in6_addr)];
  if (inet_pton(AF_INET, r->host, addr) == 1 || inet_pton(AF_INET6, r->host, addr) == 1) {
    connect_to(r, r->host);
    return;
  }
  /* hiredis would call getaddrinfo() on the loop thread; resolve on the thread pool instead */
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  r->gai.data = r;
  int rc = uv_getaddrinfo(r->loop, &r->gai, on_resolved, r->host, NULL, &hints);
  if (rc < 0) {
    problem(r, "resolve", ZR_LOG_WARN, "cannot resolve host endpoint=%s error=\"%s\"", r->endpoint,
            uv_strerror(rc));
    schedule_reconnect(r);
    return;
  }
  r->resolving = 1;
  r->refs++;
}

static void on_timer(uv_timer_t *t) {
  zr_redis *r = t->data;
  zr_conn *c = r->conn;
  if (r->closing) return;
  if (!c) { /* the back-off delay is over */
    if (!r->resolving) start_attempt(r);
    return;
  }
  uint64_t now = zr_clock_mono_ms();
  if (!c->ready && now - c->started_ms >= r->o.connect_timeout_ms) {
    problem(r, "connect", ZR_LOG_WARN,
            "connection not ready in time, retrying endpoint=%s timeout_ms=%u", r->endpoint,
            r->o.connect_timeout_ms);
    recycle(c);
    return;
  }
  if (c->ready && c->head && now - c->head->sent_ms >= r->o.command_timeout_ms) {
    problem(r, NULL, ZR_LOG_WARN,
            "command not answered in time, dropping the connection endpoint=%s timeout_ms=%u",
            r->endpoint, r->o.command_timeout_ms);
    recycle(c);
    return;
  }
  arm_watchdog(r);
}

static void on_timer_closed(uv_handle_t *h) {
  zr_redis *r = h->data;
  r->refs--;
  maybe_free(r);
}

/* ---- listeners ---------------------------------------------------------------------------
 * notify_connect walks the list with r->cursor, which unlinking moves past the listener it
 * takes out, so a callback may remove any listener. notify_free pops listeners off the head
 * before calling them and clears the cursor, which (with r->closing) ends a notify_connect
 * that it runs inside of. */

void zr_redis_listener_init(zr_redis_listener *l, zr_redis_connect_cb on_connect,
                            zr_redis_free_cb on_free, void *user) {
  ZR_ASSERT(l != NULL);
  l->on_connect = on_connect;
  l->on_free = on_free;
  l->user = user;
  l->next = NULL;
}

int zr_redis_add_listener(zr_redis *r, zr_redis_listener *l) {
  ZR_ASSERT(r != NULL && l != NULL);
  for (const zr_redis_listener *x = r->listeners; x; x = x->next) ZR_ASSERT(x != l);
  if (r->closing)
    return zr_seterr(-ESHUTDOWN, "redis: client is being freed endpoint=%s", r->endpoint);
  l->next = r->listeners;
  r->listeners = l;
  return 0;
}

void zr_redis_remove_listener(zr_redis *r, zr_redis_listener *l) {
  ZR_ASSERT(r != NULL && l != NULL);
  for (zr_redis_listener **pp = &r->listeners; *pp; pp = &(*pp)->next) {
    if (*pp != l) continue;
    *pp = l->next;
    if (r->cursor == l) r->cursor = l->next;
    l->next = NULL;
    return;
  }
}

/* After connection c became ready: the user's on_connect, then the listeners, for as long
 * as c stays the client's connection and the client is not freed. */
static void notify_connect(zr_redis *r, zr_conn *c) {
  if (r->on_connect && r->conn == c) r->on_connect(r, r->cb_user);
  r->cursor = r->listeners;
  while (r->cursor && !r->closing && r->conn == c) {
    zr_redis_listener *l = r->cursor;
    r->cursor = l->next;
    if (l->on_connect) l->on_connect(r, l->user);
  }
  r->cursor = NULL;
}

static void notify_free(zr_redis *r) {
  r->cursor = NULL;
  zr_redis_listener *l;
  while ((l = r->listeners)) {
    r->listeners = l->next;
    l->next = NULL;
    if (l->on_free) l->on_free(r, l->user);
  }
}

/* ---- client ------------------------------------------------------------------------------ */

void zr_redis_opts_init(zr_redis_opts *o) {
  memset(o, 0, sizeof *o);
  o->host = "127.0.0.1";
  o->port = 6379;
  o->connect_timeout_ms = 2000;
  o->command_timeout_ms = 5000;
  o->backoff_min_ms = 100;
  o->backoff_max_ms = 5000;
}

zr_redis *zr_redis_new(uv_loop_t *loop, const zr_redis_opts *opts, zr_redis_connect_cb on_connect,
                       void *user) {
  ZR_ASSERT(loop != NULL);
  zr_redis_opts o, d;
  zr_redis_opts_init(&d);
  o = opts ? *opts : d;
  if (!o.host) o.host = d.host;
  if (!o.port) o.port = d.port;
  if (!o.connect_timeout_ms) o.connect_timeout_ms = d.connect_timeout_ms;
  if (!o.command_timeout_ms) o.command_timeout_ms = d.command_timeout_ms;
  if (!o.backoff_min_ms) o.backoff_min_ms = d.backoff_min_ms;
  if (!o.backoff_max_ms) o.backoff_max_ms = d.backoff_max_ms;

  if (o.unix_path &&
      (!o.unix_path[0] || strlen(o.unix_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))) {
    zr_seterr(-EINVAL, "redis: unix socket path '%s' is empty or too long", o.unix_path);
    return NULL;
  }
  if (!o.unix_path && (o.port < 1 || o.port > 65535 || !o.host[0])) {
    zr_seterr(-EINVAL, "redis: bad address host='%s' port=%d", o.host, o.port);
    return NULL;
  }
  if (o.db < 0) {
    zr_seterr(-EINVAL, "redis: db %d is negative", o.db);
    return NULL;
  }
  if (o.user && !o.password) {
    zr_seterr(-EINVAL, "redis: user '%s' is set but no password", o.user);
    return NULL;
  }
  if (o.backoff_min_ms > o.backoff_max_ms) {
    zr_seterr(-EINVAL, "redis: backoff_min_ms %u is above backoff_max_ms %u", o.backoff_min_ms,
              o.backoff_max_ms);
    return NULL;
  }

  /* hiredis writes with write(2): a server that dies while we write raises SIGPIPE, whose
   * default action kills the process. Ignore it unless the program installed a handler. */
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);

  zr_redis *r = calloc(1, sizeof *r);
  if (!r) {
    zr_seterr(-ENOMEM, "redis: out of memory");
    return NULL;
  }
  r->loop = loop;
  r->o = o;
  r->host = dup_opt(o.host);
  r->unix_path = dup_opt(o.unix_path);
  r->user = dup_opt(o.user);
  r->password = dup_opt(o.password);
  r->client_name = dup_opt(o.client_name);
  r->o.host = r->o.unix_path = r->o.user = r->o.password = r->o.client_name = NULL; /* use r->* */
  if (!r->host || (o.unix_path && !r->unix_path) || (o.user && !r->user) ||
      (o.password && !r->password) || (o.client_name && !r->client_name)) {
    r->closing = 1;
    maybe_free(r);
    zr_seterr(-ENOMEM, "redis: out of memory");
    return NULL;
  }
  if (r->unix_path)
    snprintf(r->endpoint, sizeof r->endpoint, "unix:%s", r->unix_path);
  else if (strchr(r->host, ':'))
    snprintf(r->endpoint, sizeof r->endpoint, "[%s]:%d", r->host, o.port);
  else
    snprintf(r->endpoint, sizeof r->endpoint, "%s:%d", r->host, o.port);
  r->on_connect = on_connect;
  r->cb_user = user;
  uint32_t shortest =
      o.connect_timeout_ms < o.command_timeout_ms ? o.connect_timeout_ms : o.command_timeout_ms;
  r->tick_ms = shortest / 4 < 10 ? 10 : shortest / 4 > 250 ? 250 : shortest / 4;

  uv_timer_init(loop, &r->timer);
  r->timer.data = r;
  r->refs = 1;
  uv_timer_start(&r->timer, on_timer, 0, 0); /* first attempt on the next loop iteration */
  return r;
}

void zr_redis_free(zr_redis **rp) {
  if (!rp || !*rp) return;
  zr_redis *r = *rp;
  *rp = NULL;
  if (r->closing) return;
  r->closing = 1;
  notify_free(r);
  if (r->conn) recycle(r->conn);
  if (r->resolving) uv_cancel((uv_req_t *)&r->gai);
  uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}

int zr_redis_connected(const zr_redis *r) { return r && !r->closing && r->conn && r->conn->ready; }

uv_loop_t *zr_redis_loop(const zr_redis *r) { return r->loop; }
const char *zr_redis_endpoint(const zr_redis *r) { return r->endpoint; }
const char *zr_redis_last_error(const zr_redis *r) { return r->last_error; }
uint64_t zr_redis_connect_count(const zr_redis *r) { return r->connects; }

/* ---- commands ---------------------------------------------------------------------------- */

static void unlink_pending(zr_conn *c, struct pending *p) {
  if (p->prev)
    p->prev->next = p->next;
  else
    c->head = p->next;
  if (p->next)
    p->next->prev = p->prev;
  else
    c->tail = p->prev;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv) {
  struct pending *p = priv;
  zr_conn *c = p->conn;
  zr_redis *r = c->r;
  zr_redis_reply_cb cb = p->cb;
  void *user = p->user;
  unlink_pending(c, p);
  free(p);
  if (!reply) conn_lost_by_hiredis(c, ac); /* the context is going away */
  if (cb) cb(r, reply, user);
}

/* Registers a command about to be sent, or fails with -ENOTCONN. */
static struct pending *pending_new(zr_redis *r, zr_redis_reply_cb cb, void *user, int *rc) {
  if (!zr_redis_connected(r)) {
    *rc = -ENOTCONN;
    return NULL;
  }
  struct pending *p = calloc(1, sizeof *p);
  if (!p) {
    *rc = -ENOMEM;
    return NULL;
  }
  zr_conn *c = r->conn;
  p->conn = c;
  p->cb = cb;
  p->user = user;
  p->sent_ms = zr_clock_mono_ms();
  p->prev = c->tail;
  if (c->tail)
    c->tail->next = p;
  else
    c->head = p;
  c->tail = p;
  return p;
}

/* Finishes zr_redis_command*: status is what hiredis returned, or 1 if p could not be made. */
static int command_done(zr_redis *r, struct pending *p, int rc, int status, zr_redis_reply_cb cb,
                        void *user) {
  if (p && status == REDIS_OK) {
    if (!uv_is_active((uv_handle_t *)&r->timer)) arm_watchdog(r);
    return 0;
  }
  if (p) {
    unlink_pending(p->conn, p);
    free(p);
    rc = -EINVAL;
  }
  if (cb) cb(r, NULL, user);
  if (rc == -ENOTCONN) return zr_seterr(rc, "redis: not connected endpoint=%s", r->endpoint);
  if (rc == -ENOMEM) return zr_seterr(rc, "redis: out of memory");
  return zr_seterr(rc, "redis: command rejected by hiredis (bad format?) endpoint=%s", r->endpoint);
}

int zr_redis_command(zr_redis *r, zr_redis_reply_cb cb, void *user, const char *fmt, ...) {
  ZR_ASSERT(r != NULL && fmt != NULL);
  int rc = 0, status = REDIS_ERR;
  struct pending *p = pending_new(r, cb, user, &rc);
  if (p) {
    va_list ap;
    va_start(ap, fmt);
    status = redisvAsyncCommand(r->conn->ac, on_reply, p, fmt, ap);
    va_end(ap);
  }
  return command_done(r, p, rc, status, cb, user);
}

int zr_redis_commandargv(zr_redis *r, zr_redis_reply_cb cb, void *user, int argc, const char **argv,
                         const size_t *argvlen) {
  ZR_ASSERT(r != NULL && argc > 0 && argv != NULL);
  int rc = 0, status = REDIS_ERR;
  struct pending *p = pending_new(r, cb, user, &rc);
  if (p) status = redisAsyncCommandArgv(r->conn->ac, on_reply, p, argc, argv, argvlen);
  return command_done(r, p, rc, status, cb, user);
}
