/* Integration test for common/redis (client + listeners), common/heartbeat and common/keys
 * against real redis-server processes that the test starts itself (tests/redis_server.h):
 *
 *   schema     every key of the schema written and read back through the async client
 *   heartbeat  the worker hash, its fields and TTL; delete on stop; expiry after a "crash"
 *   outage     kill -9 of the server: commands fail fast, the loop runs on; after a restart
 *              the client reconnects, on_connect and the listeners fire (one removing itself
 *              and the next one inside its callback) and the heartbeat reappears unaided
 *   hung       SIGSTOP of the server: the command timeout recycles the connection; only the
 *              listeners still added hear of the reconnection
 *   auth       --requirepass: right password, user + password, wrong / missing password
 *              reported (no hang); a refused TCP connect is reported, not hung; a client
 *              freed from its on_connect or from a listener's gives its listeners on_free
 *   shutdown   freeing a client calls pending callbacks once with NULL and every listener's
 *              on_free once; all handles close
 *
 * Every wait has a deadline. */
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>
#include <uv.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/heartbeat.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/util.h"
#include "tests/redis_server.h"
#include "tests/test.h"

#define JOB "itest-job"

static uv_loop_t loop;
static uv_timer_t ticker; /* keeps UV_RUN_ONCE from sleeping past a deadline */
static int ticks;

static void on_tick(uv_timer_t *t) { ticks++; }

/* Runs the loop until pred(arg) holds or timeout_ms passes; returns pred(arg). */
static int wait_for(int (*pred)(void *), void *arg, uint64_t timeout_ms) {
  uint64_t deadline = zr_clock_mono_ms() + timeout_ms;
  while (!(pred && pred(arg)) && zr_clock_mono_ms() < deadline) uv_run(&loop, UV_RUN_ONCE);
  return pred && pred(arg);
}

static void pump(uint64_t ms) { wait_for(NULL, NULL, ms); }

static int flag_set(void *p) { return *(int *)p != 0; }
static int is_connected(void *p) { return zr_redis_connected(p); }
static int is_disconnected(void *p) { return !zr_redis_connected(p); }

/* ---- a blocking command helper on top of the async client ------------------------------ */

#define MAXE 64
struct result {
  int done, null, type;
  long long integer;
  char str[256];
  int n; /* flattened strings / integers of an array reply, depth first */
  char e[MAXE][128];
};
static struct result res;

static void flatten(struct result *out, const redisReply *r) {
  if (r->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i < r->elements; i++) flatten(out, r->element[i]);
    return;
  }
  if (out->n >= MAXE) return;
  if (r->type == REDIS_REPLY_INTEGER)
    snprintf(out->e[out->n++], sizeof out->e[0], "%lld", r->integer);
  else if (r->type == REDIS_REPLY_NIL)
    snprintf(out->e[out->n++], sizeof out->e[0], "(nil)");
  else
    snprintf(out->e[out->n++], sizeof out->e[0], "%s", r->str);
}

static void capture(zr_redis *r, redisReply *reply, void *user) {
  struct result *out = user;
  out->done = 1;
  out->null = reply == NULL;
  if (!reply) return;
  out->type = reply->type;
  out->integer = reply->integer;
  if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS ||
      reply->type == REDIS_REPLY_ERROR)
    snprintf(out->str, sizeof out->str, "%s", reply->str);
  if (reply->type == REDIS_REPLY_ARRAY) flatten(out, reply);
}

/* Sends the NULL-terminated arguments and waits (2 s at most) for the reply. */
static struct result *cmd(zr_redis *r, const char *arg0, ...) {
  const char *argv[40];
  int argc = 0;
  va_list ap;
  va_start(ap, arg0);
  for (const char *a = arg0; a && argc < 40; a = va_arg(ap, const char *)) argv[argc++] = a;
  va_end(ap);
  memset(&res, 0, sizeof res);
  zr_redis_commandargv(r, capture, &res, argc, argv, NULL);
  if (!wait_for(flag_set, &res.done, 2000)) fprintf(stderr, "no reply to %s in 2 s\n", arg0);
  return &res;
}

static long long cmd_int(zr_redis *r, const char *a0, const char *a1) {
  struct result *x = cmd(r, a0, a1, NULL);
  return x->done && !x->null && x->type == REDIS_REPLY_INTEGER ? x->integer : -999;
}

/* The value after `field` in a flattened HGETALL / XRANGE reply, or NULL. */
static const char *field_of(const struct result *x, const char *field) {
  for (int i = 0; i + 1 < x->n; i++)
    if (strcmp(x->e[i], field) == 0) return x->e[i + 1];
  return NULL;
}

/* Polls EXISTS key every 50 ms until it is `want`; returns 1 if it got there in time. */
static int wait_exists(zr_redis *r, const char *key, int want, uint64_t timeout_ms) {
  uint64_t deadline = zr_clock_mono_ms() + timeout_ms;
  for (;;) {
    if (zr_redis_connected(r) && cmd_int(r, "EXISTS", key) == want) return 1;
    if (zr_clock_mono_ms() >= deadline) return 0;
    pump(50);
  }
}

/* ---- client fixtures --------------------------------------------------------------------- */

struct client {
  zr_redis *r;
  int connects;
};

static void on_connect(zr_redis *r, void *user) { ((struct client *)user)->connects++; }

static zr_redis *new_client(struct client *c, const char *sock, const char *host, int port,
                            const char *user, const char *password) {
  zr_redis_opts o;
  zr_redis_opts_init(&o);
  o.unix_path = sock;
  if (host) o.host = host;
  if (port) o.port = port;
  o.user = user;
  o.password = password;
  o.client_name = "zerorl-itest";
  o.connect_timeout_ms = 800;
  o.command_timeout_ms = 800;
  o.backoff_min_ms = 50;
  o.backoff_max_ms = 300;
  memset(c, 0, sizeof *c);
  c->r = zr_redis_new(&loop, &o, on_connect, c);
  if (!c->r) fprintf(stderr, "zr_redis_new: %s\n", zr_errmsg());
  return c->r;
}

/* ---- listeners ---------------------------------------------------------------------------- */

struct probe {
  zr_redis_listener l;
  int connects, frees;
  int order;    /* probe_seq at the latest on_connect: listeners are called newest first */
  int readd_rc; /* zr_redis_add_listener from inside on_free */
  /* what on_connect does besides counting */
  int remove_self;
  zr_redis_listener *remove_other;
  zr_redis **free_client;
};
static int probe_seq;

static void probe_connect(zr_redis *r, void *user) {
  struct probe *p = user;
  p->connects++;
  p->order = ++probe_seq;
  if (p->remove_self) zr_redis_remove_listener(r, &p->l);
  if (p->remove_other) zr_redis_remove_listener(r, p->remove_other);
  if (p->free_client) zr_redis_free(p->free_client);
}

static void probe_free(zr_redis *r, void *user) {
  struct probe *p = user;
  p->frees++;
  zr_redis_remove_listener(r, &p->l);            /* already taken off: a no-op */
  p->readd_rc = zr_redis_add_listener(r, &p->l); /* too late: -ESHUTDOWN */
}

static void probe_add(struct probe *p, zr_redis *r) {
  memset(p, 0, sizeof *p);
  zr_redis_listener_init(&p->l, probe_connect, probe_free, p);
  CHECK_INT(zr_redis_add_listener(r, &p->l), 0);
}

/* On the main client from the outage phase on, added in this order (so called in reverse):
 * `once` removes itself and `victim` at the first reconnection; `steady` stays. */
static struct probe steady, victim, once;

/* ---- schema ------------------------------------------------------------------------------ */

static void test_schema(zr_redis *r) {
  char key[ZR_KEY_MAX];
  struct result *x;

  CHECK_INT(zr_key_jobs(key, sizeof key, ZR_KEY_PREFIX_DEFAULT), 0);
  CHECK_INT(cmd(r, "SADD", key, JOB, NULL)->integer, 1);
  x = cmd(r, "SMEMBERS", key, NULL);
  CHECK_INT(x->n, 1);
  CHECK_STR(x->e[0], JOB);
  CHECK_STR(cmd(r, "TYPE", key, NULL)->str, "set");

  /* job hash: every field */
  CHECK_INT(zr_key_job(key, sizeof key, ZR_KEY_PREFIX_DEFAULT, JOB), 0);
  const char *argv[2 + 2 * ZR_JOB_FIELD_COUNT];
  char vals[ZR_JOB_FIELD_COUNT][64];
  int argc = 0;
  argv[argc++] = "HSET";
  argv[argc++] = key;
  for (int i = 0; i < ZR_JOB_FIELD_COUNT; i++) {
    snprintf(vals[i], sizeof vals[i], "value of %s", zr_job_fields[i]);
    argv[argc++] = zr_job_fields[i];
    argv[argc++] = vals[i];
  }
  memset(&res, 0, sizeof res);
  CHECK_INT(zr_redis_commandargv(r, capture, &res, argc, argv, NULL), 0);
  CHECK(wait_for(flag_set, &res.done, 2000));
  CHECK_INT(res.integer, ZR_JOB_FIELD_COUNT);
  x = cmd(r, "HGETALL", key, NULL);
  CHECK_INT(x->n, 2 * ZR_JOB_FIELD_COUNT);
  for (int i = 0; i < ZR_JOB_FIELD_COUNT; i++) CHECK_STR(field_of(x, zr_job_fields[i]), vals[i]);
  CHECK_INT(cmd(r, "HSET", key, ZR_JOB_STATE, ZR_JOB_STATE_RUNNING, NULL)->integer, 0);
  CHECK_STR(cmd(r, "HGET", key, ZR_JOB_STATE, NULL)->str, "running");
  CHECK_INT(zr_job_state_parse(res.str), ZR_JOB_RUNNING);
  CHECK_STR(cmd(r, "TYPE", key, NULL)->str, "hash");

  /* queue hash: every counter */
  CHECK_INT(zr_key_job_queue(key, sizeof key, ZR_KEY_PREFIX_DEFAULT, JOB), 0);
  for (int i = 0; i < ZR_QUEUE_FIELD_COUNT; i++) {
    char v[16];
    snprintf(v, sizeof v, "%d", 10 * i);
    CHECK_INT(cmd(r, "HSET", key, zr_queue_fields[i], v, NULL)->integer, 1);
  }
  CHECK_INT(cmd(r, "HINCRBY", key, ZR_QUEUE_RETRIES, "5", NULL)->integer, 55);
  x = cmd(r, "HGETALL", key, NULL);
  CHECK_INT(x->n, 2 * ZR_QUEUE_FIELD_COUNT);
  CHECK_STR(field_of(x, ZR_QUEUE_TASKS_PENDING), "0");
  CHECK_STR(field_of(x, ZR_QUEUE_GROUPS_READY), "40");
  CHECK_STR(field_of(x, ZR_QUEUE_RETRIES), "55");
  CHECK_STR(field_of(x, ZR_QUEUE_DROPPED_BAD), "80");
  CHECK_STR(cmd(r, "TYPE", key, NULL)->str, "hash");

  /* metrics stream */
  CHECK_INT(zr_key_job_metrics(key, sizeof key, ZR_KEY_PREFIX_DEFAULT, JOB), 0);
  x = cmd(r, "XADD", key, "*", "step", "1", "reward_mean", "0.5", "kl", "0.01", NULL);
  CHECK_INT(x->type, REDIS_REPLY_STRING);
  char id[sizeof res.str];
  snprintf(id, sizeof id, "%s", x->str);
  CHECK(strchr(id, '-') != NULL);
  cmd(r, "XADD", key, "*", "step", "2", "reward_mean", "0.75", "kl", "0.02", NULL);
  CHECK_INT(cmd_int(r, "XLEN", key), 2);
  x = cmd(r, "XRANGE", key, "-", "+", "COUNT", "1", NULL);
  CHECK_INT(x->n, 7);
  CHECK_STR(x->e[0], id);
  CHECK_STR(field_of(x, "reward_mean"), "0.5");
  x = cmd(r, "XREVRANGE", key, "+", "-", "COUNT", "1", NULL);
  CHECK_STR(field_of(x, "step"), "2");
  CHECK_STR(cmd(r, "TYPE", key, NULL)->str, "stream");

  /* events stream */
  char wkey[ZR_KEY_MAX];
  CHECK_INT(zr_key_worker(wkey, sizeof wkey, ZR_KEY_PREFIX_DEFAULT, JOB, "actor", "a1"), 0);
  CHECK_INT(zr_key_job_events(key, sizeof key, ZR_KEY_PREFIX_DEFAULT, JOB), 0);
  cmd(r, "XADD", key, "MAXLEN", "~", "1000", "*", "event", "worker_joined", "worker", wkey, NULL);
  CHECK_INT(res.type, REDIS_REPLY_STRING);
  x = cmd(r, "XRANGE", key, "-", "+", NULL);
  CHECK_INT(x->n, 5);
  CHECK_STR(field_of(x, "event"), "worker_joined");
  CHECK_STR(field_of(x, "worker"), "zerorl:worker:" JOB ":actor:a1");
  CHECK_STR(cmd(r, "TYPE", key, NULL)->str, "stream");

  /* the pattern operators use finds the job keys and nothing else */
  x = cmd(r, "KEYS", "zerorl:job:" JOB "*", NULL);
  CHECK_INT(x->n, 4);

  /* errors come back as error replies, not NULL */
  x = cmd(r, "HGET", key, "field", NULL); /* events is a stream: WRONGTYPE */
  CHECK(x->done && !x->null);
  CHECK_INT(x->type, REDIS_REPLY_ERROR);
  CHECK_CONTAINS(x->str, "WRONGTYPE");
  /* the printf-like form */
  memset(&res, 0, sizeof res);
  CHECK_INT(zr_redis_command(r, capture, &res, "HGET %s %s", "zerorl:job:" JOB, ZR_JOB_STATE), 0);
  CHECK(wait_for(flag_set, &res.done, 2000));
  CHECK_STR(res.str, "running");
}

/* ---- heartbeat --------------------------------------------------------------------------- */

struct done {
  int called, ok;
};
static void on_stopped(int ok, void *user) {
  struct done *d = user;
  d->called++;
  d->ok = ok;
}

static void test_heartbeat(zr_redis *r, zr_heartbeat *hb) {
  const char *key = zr_heartbeat_key(hb);
  CHECK_STR(key, "zerorl:worker:" JOB ":actor:w1");
  CHECK_INT(zr_heartbeat_set(hb, ZR_WORKER_THROUGHPUT, "123.5"), 0);
  CHECK_INT(zr_heartbeat_set(hb, ZR_WORKER_HOST, "elsewhere"), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "written by the heartbeat itself");
  CHECK_INT(zr_heartbeat_set(hb, ZR_WORKER_UPDATED_AT, "x"), -EINVAL);
  CHECK_INT(zr_heartbeat_set(hb, "", "x"), -EINVAL);

  CHECK_INT(zr_heartbeat_start(hb), 0);
  CHECK(wait_exists(r, key, 1, 2000));
  struct result *x = cmd(r, "HGETALL", key, NULL);
  char pid[16];
  snprintf(pid, sizeof pid, "%d", (int)getpid());
  CHECK_STR(field_of(x, ZR_WORKER_HOST), zr_hostname());
  CHECK_STR(field_of(x, ZR_WORKER_PID), pid);
  CHECK_STR(field_of(x, ZR_WORKER_STATE), "starting");
  CHECK_STR(field_of(x, ZR_WORKER_POLICY_VERSION), "0");
  CHECK_STR(field_of(x, ZR_WORKER_THROUGHPUT), "123.5");
  const char *started = field_of(x, ZR_WORKER_STARTED_AT);
  CHECK(started && strlen(started) == 24 && started[23] == 'Z');
  CHECK(field_of(x, ZR_WORKER_UPDATED_AT) != NULL);
  CHECK_STR(cmd(r, "TYPE", key, NULL)->str, "hash");
  long long pttl = cmd_int(r, "PTTL", key);
  CHECK(pttl > 0 && pttl <= 1000);

  /* updates show up at the next beat, or at once with zr_heartbeat_beat */
  CHECK_INT(zr_heartbeat_set(hb, ZR_WORKER_STATE, ZR_JOB_STATE_RUNNING), 0);
  CHECK_INT(zr_heartbeat_setf(hb, ZR_WORKER_POLICY_VERSION, "%d", 7), 0);
  CHECK_INT(zr_heartbeat_setf(hb, "tokens_per_s", "%.1f", 4321.0), 0);
  CHECK_INT(zr_heartbeat_beat(hb), 0);
  x = cmd(r, "HGETALL", key, NULL);
  CHECK_STR(field_of(x, ZR_WORKER_STATE), "running");
  CHECK_STR(field_of(x, ZR_WORKER_POLICY_VERSION), "7");
  CHECK_STR(field_of(x, "tokens_per_s"), "4321.0");
  char updated[sizeof res.e[0]];
  snprintf(updated, sizeof updated, "%s", field_of(x, ZR_WORKER_UPDATED_AT));

  /* it keeps beating: still there well after one ttl, with a fresh updated_at */
  pump(1300);
  CHECK_INT(cmd_int(r, "EXISTS", key), 1);
  x = cmd(r, "HGET", key, ZR_WORKER_UPDATED_AT, NULL);
  CHECK(strcmp(x->str, updated) > 0);
  pttl = cmd_int(r, "PTTL", key);
  CHECK(pttl > 0 && pttl <= 1000);

  /* clean stop deletes the key */
  struct done d = {0, 0};
  CHECK_INT(zr_heartbeat_stop(hb, ZR_HEARTBEAT_DELETE, on_stopped, &d), 0);
  CHECK(wait_for(flag_set, &d.called, 2000));
  CHECK_INT(d.called, 1);
  CHECK_INT(d.ok, 1);
  CHECK_INT(cmd_int(r, "EXISTS", key), 0);
  pump(300); /* no beat after the stop */
  CHECK_INT(cmd_int(r, "EXISTS", key), 0);

  /* a "crashed" worker: the key stays, then expires on its own within the ttl */
  CHECK_INT(zr_heartbeat_start(hb), 0);
  CHECK(wait_exists(r, key, 1, 2000));
  memset(&d, 0, sizeof d);
  CHECK_INT(zr_heartbeat_stop(hb, ZR_HEARTBEAT_KEEP, on_stopped, &d), 0);
  CHECK_INT(d.called, 1);
  uint64_t t0 = zr_clock_mono_ms();
  CHECK_INT(cmd_int(r, "EXISTS", key), 1);
  CHECK(wait_exists(r, key, 0, 1000 + 1000));
  uint64_t gone_after = zr_clock_mono_ms() - t0;
  fprintf(stderr, "heartbeat key expired %llu ms after the stop (ttl 1000)\n",
          (unsigned long long)gone_after);
  CHECK(gone_after >= 500); /* it expired by TTL, not by a DEL */
}

/* ---- outage and hung server -------------------------------------------------------------- */

struct count {
  int calls, nulls;
};
static void count_reply(zr_redis *r, redisReply *reply, void *user) {
  struct count *c = user;
  c->calls++;
  if (!reply) c->nulls++;
}

struct above {
  struct client *c;
  int n;
};
static int connects_above(void *p) {
  struct above *a = p;
  return a->c->connects > a->n;
}

static void test_outage(zr_test_redis *srv, struct client *cl, zr_heartbeat *hb) {
  zr_redis *r = cl->r;
  const char *key = zr_heartbeat_key(hb);
  CHECK_INT(zr_heartbeat_start(hb), 0);
  CHECK(wait_exists(r, key, 1, 2000));
  int before = cl->connects;
  probe_add(&steady, r);
  probe_add(&victim, r);
  probe_add(&once, r);
  once.remove_self = 1;
  once.remove_other = &victim.l; /* the listener that would be called next */

  /* a command in flight when the server dies gets a NULL reply */
  zr_test_redis_kill(srv);
  struct count inflight = {0, 0};
  CHECK_INT(zr_redis_command(r, count_reply, &inflight, "PING"), 0);
  CHECK(wait_for(is_disconnected, r, 2000));
  CHECK(wait_for(flag_set, &inflight.calls, 2000));
  CHECK_INT(inflight.calls, 1);
  CHECK_INT(inflight.nulls, 1);
  fprintf(stderr, "while down, last_error: %s\n", zr_redis_last_error(r));
  CHECK(zr_redis_last_error(r)[0] != '\0');

  /* while down: commands fail at once, callbacks run with NULL, the loop keeps running */
  int ticks0 = ticks;
  uint64_t worst_ms = 0;
  for (int i = 0; i < 20; i++) {
    struct count c = {0, 0};
    uint64_t t = zr_clock_mono_ns();
    CHECK_INT(zr_redis_command(r, count_reply, &c, "HGET %s %s", key, "state"), -ENOTCONN);
    t = (zr_clock_mono_ns() - t) / 1000000;
    if (t > worst_ms) worst_ms = t;
    CHECK_INT(c.calls, 1);
    CHECK_INT(c.nulls, 1);
    CHECK_INT(zr_redis_command(r, NULL, NULL, "PING"), -ENOTCONN); /* fire and forget */
    pump(30);
  }
  CHECK_CONTAINS(zr_errmsg(), "not connected");
  CHECK(worst_ms < 20);
  CHECK_INT(zr_heartbeat_beat(hb), -ENOTCONN);
  CHECK(ticks - ticks0 >= 20); /* ~600 ms at 10 ms per tick */
  CHECK_INT(cl->connects, before);
  CHECK_INT(steady.connects + victim.connects + once.connects, 0);

  /* restart on the same socket: reconnect, on_connect, heartbeat back, all unaided */
  CHECK_INT(zr_test_redis_restart(srv), 0);
  struct above arg = {cl, before};
  uint64_t t0 = zr_clock_mono_ms();
  CHECK(wait_for(connects_above, &arg, 3000));
  fprintf(stderr, "reconnected %llu ms after the restart\n",
          (unsigned long long)(zr_clock_mono_ms() - t0));
  CHECK_INT(cl->connects, before + 1);
  CHECK_INT(zr_redis_connect_count(r), (uint64_t)cl->connects);
  CHECK_INT(once.connects, 1); /* both saw the reconnection, newest first */
  CHECK_INT(steady.connects, 1);
  CHECK(once.order < steady.order);
  CHECK_INT(victim.connects, 0); /* removed by `once` before its turn */
  CHECK(wait_exists(r, key, 1, 1000));
  CHECK_INT(cmd_int(r, "EXISTS", "zerorl:jobs"), 0); /* a fresh server: the heartbeat rewrote it */
  CHECK_STR(cmd(r, "HGET", key, ZR_WORKER_STATE, NULL)->str, "running");
}

static void test_hung(zr_test_redis *srv, struct client *cl, zr_heartbeat *hb) {
  zr_redis *r = cl->r;
  int before = cl->connects;
  zr_test_redis_signal(srv, SIGSTOP);
  struct count c = {0, 0};
  uint64_t t0 = zr_clock_mono_ms();
  CHECK_INT(zr_redis_command(r, count_reply, &c, "PING"), 0);
  CHECK(wait_for(flag_set, &c.calls, 800 + 1500));
  uint64_t took = zr_clock_mono_ms() - t0;
  fprintf(stderr, "hung server detected after %llu ms (command timeout 800)\n",
          (unsigned long long)took);
  CHECK_INT(c.nulls, 1);
  CHECK(took >= 500); /* the oldest command may be a heartbeat write sent up to 200 ms before */
  CHECK_CONTAINS(zr_redis_last_error(r), "not answered in time");
  CHECK(!zr_redis_connected(r));
  pump(1000); /* reconnects hang in the handshake and time out too */
  CHECK(!zr_redis_connected(r));
  zr_test_redis_signal(srv, SIGCONT);
  struct above arg = {cl, before};
  CHECK(wait_for(connects_above, &arg, 3000));
  CHECK(wait_exists(r, zr_heartbeat_key(hb), 1, 1000));
  CHECK_INT(steady.connects, 1 + cl->connects - before); /* the listeners still added */
  CHECK_INT(once.connects, 1);
  CHECK_INT(victim.connects, 0);
}

/* ---- AUTH and refused connections -------------------------------------------------------- */

struct self_free {
  zr_redis *r;
  int connects;
};
static void free_in_callback(zr_redis *r, void *user) {
  struct self_free *s = user;
  s->connects++;
  zr_redis_free(&s->r);
}

static void test_auth(void) {
  zr_test_redis srv;
  if (zr_test_redis_start(&srv, -1, "s3cr3t-pw") != 0) {
    CHECK(0);
    zr_test_redis_stop(&srv);
    return;
  }
  char *logbuf = NULL;
  size_t loglen = 0;
  FILE *log = open_memstream(&logbuf, &loglen);
  zr_log_set_stream(log);

  struct client ok, okuser, bad, none, refused;
  new_client(&ok, NULL, "127.0.0.1", srv.port, NULL, "s3cr3t-pw");
  new_client(&okuser, NULL, "127.0.0.1", srv.port, "default", "s3cr3t-pw");
  new_client(&bad, NULL, "127.0.0.1", srv.port, NULL, "wrong-pw");
  new_client(&none, srv.sock, NULL, 0, NULL, NULL);
  new_client(&refused, NULL, "localhost", zr_test_redis_free_port(), NULL, NULL);

  CHECK(wait_for(is_connected, ok.r, 3000));
  CHECK(wait_for(is_connected, okuser.r, 3000));
  CHECK_INT(ok.connects, 1);
  CHECK_INT(okuser.connects, 1);
  CHECK_STR(cmd(ok.r, "SET", "k", "v", NULL)->str, "OK");
  CHECK_STR(cmd(okuser.r, "GET", "k", NULL)->str, "v");
  CHECK_STR(cmd(ok.r, "CLIENT", "GETNAME", NULL)->str, "zerorl-itest");

  pump(1000); /* the bad ones keep retrying; none must hang or connect */
  CHECK(!zr_redis_connected(bad.r));
  CHECK(!zr_redis_connected(none.r));
  CHECK(!zr_redis_connected(refused.r));
  CHECK_INT(bad.connects + none.connects + refused.connects, 0);
  CHECK_CONTAINS(zr_redis_last_error(bad.r), "AUTH failed");
  CHECK_CONTAINS(zr_redis_last_error(bad.r), "WRONGPASS");
  CHECK_CONTAINS(zr_redis_last_error(none.r), "requires a password");
  CHECK_CONTAINS(zr_redis_last_error(refused.r), "refused");
  struct count c = {0, 0};
  CHECK_INT(zr_redis_command(bad.r, count_reply, &c, "PING"), -ENOTCONN);
  CHECK_INT(c.nulls, 1);

  /* a client may free itself from its on_connect */
  struct self_free sf = {NULL, 0};
  zr_redis_opts o;
  zr_redis_opts_init(&o);
  o.unix_path = srv.sock;
  o.password = "s3cr3t-pw";
  o.db = 3;
  sf.r = zr_redis_new(&loop, &o, free_in_callback, &sf);
  CHECK(sf.r != NULL);
  struct probe sfp;
  probe_add(&sfp, sf.r);
  CHECK(wait_for(flag_set, &sf.connects, 3000));
  CHECK(sf.r == NULL);
  CHECK_INT(sfp.connects, 0); /* freed before the listeners' turn */
  CHECK_INT(sfp.frees, 1);
  CHECK_INT(sfp.readd_rc, -ESHUTDOWN);

  /* ... and so may a listener from its on_connect: the ones after it get on_free only */
  struct probe later, killer;
  zr_redis *lr = zr_redis_new(&loop, &o, NULL, NULL);
  CHECK(lr != NULL);
  probe_add(&later, lr);
  probe_add(&killer, lr);
  killer.free_client = &lr;
  CHECK(wait_for(flag_set, &killer.connects, 3000));
  CHECK(lr == NULL);
  CHECK_INT(killer.connects, 1);
  CHECK_INT(killer.frees, 1);
  CHECK_INT(later.connects, 0);
  CHECK_INT(later.frees, 1);
  CHECK_INT(later.readd_rc, -ESHUTDOWN);

  zr_redis_free(&ok.r);
  zr_redis_free(&okuser.r);
  zr_redis_free(&bad.r);
  zr_redis_free(&none.r);
  zr_redis_free(&refused.r);
  CHECK(ok.r == NULL && bad.r == NULL);
  pump(50);

  zr_log_set_stream(NULL);
  fclose(log);
  fprintf(stderr, "---- client log during the AUTH checks ----\n%s----\n", logbuf);
  CHECK_CONTAINS(logbuf, "AUTH failed");
  CHECK_CONTAINS(logbuf, "WRONGPASS");
  CHECK(strstr(logbuf, "wrong-pw") == NULL); /* passwords are never logged */
  CHECK(strstr(logbuf, "s3cr3t-pw") == NULL);
  free(logbuf);
  zr_test_redis_stop(&srv);
}

/* ---- options and shutdown ---------------------------------------------------------------- */

static void test_bad_options(zr_redis *r) {
  zr_redis_opts o;
  zr_redis_opts_init(&o);
  o.port = 70000;
  CHECK(zr_redis_new(&loop, &o, NULL, NULL) == NULL);
  CHECK_CONTAINS(zr_errmsg(), "port=70000");
  zr_redis_opts_init(&o);
  o.user = "u";
  CHECK(zr_redis_new(&loop, &o, NULL, NULL) == NULL);
  CHECK_CONTAINS(zr_errmsg(), "no password");
  zr_redis_opts_init(&o);
  o.backoff_min_ms = 10000;
  CHECK(zr_redis_new(&loop, &o, NULL, NULL) == NULL);
  zr_redis_opts_init(&o);
  o.unix_path =
      "/tmp/a-path-that-is-far-too-long-for-a-unix-socket-address-because-those-are-"
      "limited-to-about-one-hundred-and-eight-bytes";
  CHECK(zr_redis_new(&loop, &o, NULL, NULL) == NULL);

  zr_heartbeat_opts h;
  zr_heartbeat_opts_init(&h);
  h.job = JOB;
  h.role = "actor";
  h.id = "x";
  h.interval_ms = 1000;
  h.ttl_ms = 1000;
  CHECK(zr_heartbeat_new(r, &h) == NULL);
  CHECK_CONTAINS(zr_errmsg(), "must be above interval_ms");
  h.ttl_ms = 0;
  h.role = "trainer";
  CHECK(zr_heartbeat_new(r, &h) == NULL);
  CHECK_CONTAINS(zr_errmsg(), "role 'trainer'");
  h.role = "actor";
  h.id = "a:b";
  CHECK(zr_heartbeat_new(r, &h) == NULL);
  CHECK_CONTAINS(zr_errmsg(), "worker id");
}

static void test_free_with_pending(struct client *cl, zr_heartbeat **hb) {
  struct count c = {0, 0};
  for (int i = 0; i < 5; i++) CHECK_INT(zr_redis_command(cl->r, count_reply, &c, "PING"), 0);
  CHECK_INT(zr_heartbeat_beat(*hb), 0); /* a heartbeat write in flight, too */
  zr_redis_free(&cl->r);
  CHECK(cl->r == NULL);
  CHECK_INT(c.calls, 5);
  CHECK_INT(c.nulls, 5);
  CHECK_INT(steady.frees, 1); /* every listener still added, once */
  CHECK_INT(steady.readd_rc, -ESHUTDOWN);
  CHECK_INT(once.frees + victim.frees, 0);
  /* the client went first: its heartbeat is detached and quiet, and can still be freed */
  CHECK_INT(zr_heartbeat_beat(*hb), -ENOTCONN);
  struct done d = {0, 0};
  CHECK_INT(zr_heartbeat_stop(*hb, ZR_HEARTBEAT_DELETE, on_stopped, &d), -ENOTCONN);
  CHECK_INT(d.called, 1);
  CHECK_INT(d.ok, 0);
  zr_heartbeat_free(hb);
  CHECK(*hb == NULL);
}

int main(void) {
  if (!zr_test_redis_available()) TEST_SKIP("redis-server is not installed");
  uint64_t t_start = zr_clock_mono_ms();
  CHECK_INT(uv_loop_init(&loop), 0);
  uv_timer_init(&loop, &ticker);
  uv_timer_start(&ticker, on_tick, 10, 10);

  zr_test_redis srv;
  if (zr_test_redis_start(&srv, 0, NULL) != 0) {
    zr_test_redis_stop(&srv);
    fprintf(stderr, "FAIL: cannot start redis-server\n");
    return 1;
  }

  struct client cl;
  CHECK(new_client(&cl, srv.sock, NULL, 0, NULL, NULL) != NULL);
  CHECK(!zr_redis_connected(cl.r)); /* connecting starts on the loop */
  char endpoint[160];
  snprintf(endpoint, sizeof endpoint, "unix:%s", srv.sock);
  CHECK_STR(zr_redis_endpoint(cl.r), endpoint);
  CHECK(wait_for(is_connected, cl.r, 3000));
  CHECK_INT(cl.connects, 1);

  zr_heartbeat_opts h;
  zr_heartbeat_opts_init(&h);
  h.job = JOB;
  h.role = "actor";
  h.id = "w1";
  h.interval_ms = 200;
  h.ttl_ms = 1000;
  zr_heartbeat *hb = zr_heartbeat_new(cl.r, &h);
  CHECK(hb != NULL);

  uint64_t t = zr_clock_mono_ms();
#define PHASE(name, call)                                                                          \
  do {                                                                                             \
    t = zr_clock_mono_ms();                                                                        \
    call;                                                                                          \
    fprintf(stderr, "phase %-10s %5llu ms\n", name, (unsigned long long)(zr_clock_mono_ms() - t)); \
  } while (0)
  if (hb && cl.connects) {
    PHASE("options", test_bad_options(cl.r));
    PHASE("schema", test_schema(cl.r));
    PHASE("heartbeat", test_heartbeat(cl.r, hb));
    PHASE("outage", test_outage(&srv, &cl, hb));
    PHASE("hung", test_hung(&srv, &cl, hb));
    PHASE("auth", test_auth());
    PHASE("shutdown", test_free_with_pending(&cl, &hb));
  }
  zr_heartbeat_free(&hb);
  zr_redis_free(&cl.r);
  zr_test_redis_stop(&srv);

  /* every handle the client and heartbeats made is closed: only the ticker is left */
  uv_close((uv_handle_t *)&ticker, NULL);
  uint64_t deadline = zr_clock_mono_ms() + 2000;
  while (uv_run(&loop, UV_RUN_NOWAIT) && zr_clock_mono_ms() < deadline) usleep(1000);
  CHECK_INT(uv_loop_close(&loop), 0);
  fprintf(stderr, "total %llu ms\n", (unsigned long long)(zr_clock_mono_ms() - t_start));
  return TEST_DONE();
}
