/* heartbeat.c: the worker hash, rewritten every interval and after every reconnection
 * (see heartbeat.h). The heartbeat's listener on its client rewrites the hash when the
 * client (re)connects and detaches the heartbeat when the client is freed. */
#include "common/heartbeat.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/util.h"

#define LOG_PERIOD_MS 30000 /* a failing write is logged at most this often per worker key */
#define HB_MAX_FIELDS 32
#define HB_FIELD_MAX 64
#define HB_VALUE_MAX 1024

struct zr_heartbeat {
  zr_redis *r;                /* NULL once the client is freed */
  zr_redis_listener listener; /* on r while r is set */
  uv_timer_t timer;
  char key[ZR_KEY_MAX];
  uint32_t interval_ms, ttl_ms;
  int running;
  int freeing, timer_closed;
  int inflight; /* EXEC callbacks still to come */
  int nfields;
  char *names[HB_MAX_FIELDS], *values[HB_MAX_FIELDS];
};

/* Fields the heartbeat fills in itself. */
static int hb_owned(const char *field) {
  return strcmp(field, ZR_WORKER_HOST) == 0 || strcmp(field, ZR_WORKER_PID) == 0 ||
         strcmp(field, ZR_WORKER_STARTED_AT) == 0 || strcmp(field, ZR_WORKER_UPDATED_AT) == 0;
}

static int hb_put(zr_heartbeat *hb, const char *field, const char *value) {
  int i = 0;
  while (i < hb->nfields && strcmp(hb->names[i], field) != 0) i++;
  if (i == HB_MAX_FIELDS)
    return zr_seterr(-ENOSPC, "heartbeat %s: more than %d fields", hb->key, HB_MAX_FIELDS);
  char *v = strdup(value);
  char *n = i == hb->nfields ? strdup(field) : hb->names[i];
  if (!v || !n) {
    free(v);
    if (i == hb->nfields) free(n);
    return zr_seterr(-ENOMEM, "heartbeat: out of memory");
  }
  if (i == hb->nfields) {
    hb->names[i] = n;
    hb->nfields++;
  } else {
    free(hb->values[i]);
  }
  hb->values[i] = v;
  return 0;
}

static void hb_maybe_free(zr_heartbeat *hb) {
  if (!hb->freeing || !hb->timer_closed || hb->inflight > 0) return;
  for (int i = 0; i < hb->nfields; i++) {
    free(hb->names[i]);
    free(hb->values[i]);
  }
  free(hb);
}

static void on_hb_exec(zr_redis *r, redisReply *reply, void *user) {
  zr_heartbeat *hb = user;
  hb->inflight--;
  int ok = reply && reply->type == REDIS_REPLY_ARRAY;
  for (size_t i = 0; ok && i < reply->elements; i++)
    ok = reply->element[i]->type != REDIS_REPLY_ERROR;
  if (reply && !ok) { /* a NULL reply is a connection problem, which the client reports */
    const char *why = reply->type == REDIS_REPLY_ERROR ? reply->str : "transaction failed";
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++)
      if (reply->element[i]->type == REDIS_REPLY_ERROR) why = reply->element[i]->str;
    char key[ZR_KEY_MAX + 16];
    snprintf(key, sizeof key, "heartbeat:%s", hb->key);
    zr_log_limited(key, LOG_PERIOD_MS, ZR_LOG_WARN, "heartbeat", "write failed key=%s reply=\"%s\"",
                   hb->key, why);
  }
  hb_maybe_free(hb);
}

/* HSET all fields + PEXPIRE, as one transaction. */
static int hb_write(zr_heartbeat *hb) {
  zr_redis *r = hb->r;
  if (!zr_redis_connected(r))
    return zr_seterr(-ENOTCONN, "heartbeat %s: redis not connected", hb->key);
  char now[32];
  zr_clock_format_wall(zr_clock_wall_ms(), now);
  int rc = hb_put(hb, ZR_WORKER_UPDATED_AT, now);
  if (rc < 0) return rc;

  const char *argv[2 + 2 * HB_MAX_FIELDS];
  int argc = 0;
  argv[argc++] = "HSET";
  argv[argc++] = hb->key;
  for (int i = 0; i < hb->nfields; i++) {
    argv[argc++] = hb->names[i];
    argv[argc++] = hb->values[i];
  }
  char ttl[16];
  snprintf(ttl, sizeof ttl, "%u", hb->ttl_ms);
  rc = zr_redis_command(r, NULL, NULL, "MULTI");
  if (rc == 0) rc = zr_redis_commandargv(r, NULL, NULL, argc, argv, NULL);
  if (rc == 0) rc = zr_redis_command(r, NULL, NULL, "PEXPIRE %s %s", hb->key, ttl);
  if (rc < 0) return rc; /* the connection is going away; the transaction dies with it */
  hb->inflight++;
  return zr_redis_command(r, on_hb_exec, hb, "EXEC");
}

static void on_hb_timer(uv_timer_t *t) { hb_write(t->data); }

static void on_hb_timer_closed(uv_handle_t *h) {
  zr_heartbeat *hb = h->data;
  hb->timer_closed = 1;
  hb_maybe_free(hb);
}

/* The client (re)connected: rewrite the hash at once. */
static void on_client_connect(zr_redis *r, void *user) {
  zr_heartbeat *hb = user;
  if (hb->running) hb_write(hb);
}

/* The client is being freed (it has removed the listener): the heartbeat goes quiet. */
static void on_client_free(zr_redis *r, void *user) {
  zr_heartbeat *hb = user;
  hb->r = NULL;
  uv_timer_stop(&hb->timer);
}

void zr_heartbeat_opts_init(zr_heartbeat_opts *o) {
  memset(o, 0, sizeof *o);
  o->prefix = ZR_KEY_PREFIX_DEFAULT;
  o->interval_ms = 2000;
  o->ttl_ms = 6000;
}

zr_heartbeat *zr_heartbeat_new(zr_redis *r, const zr_heartbeat_opts *opts) {
  ZR_ASSERT(r != NULL && opts != NULL);
  char key[ZR_KEY_MAX];
  const char *prefix = opts->prefix ? opts->prefix : ZR_KEY_PREFIX_DEFAULT;
  if (zr_key_worker(key, sizeof key, prefix, opts->job, opts->role, opts->id) < 0) return NULL;
  uint32_t interval = opts->interval_ms ? opts->interval_ms : 2000;
  uint32_t ttl = opts->ttl_ms ? opts->ttl_ms : 3 * interval;
  if (ttl <= interval) {
    zr_seterr(-EINVAL, "heartbeat %s: ttl_ms %u must be above interval_ms %u", key, ttl, interval);
    return NULL;
  }
  zr_heartbeat *hb = calloc(1, sizeof *hb);
  if (!hb) {
    zr_seterr(-ENOMEM, "heartbeat: out of memory");
    return NULL;
  }
  memcpy(hb->key, key, sizeof key);
  hb->interval_ms = interval;
  hb->ttl_ms = ttl;
  char pid[16], now[32];
  snprintf(pid, sizeof pid, "%d", (int)getpid());
  zr_clock_format_wall(zr_clock_wall_ms(), now);
  int rc = hb_put(hb, ZR_WORKER_HOST, zr_hostname());
  if (rc == 0) rc = hb_put(hb, ZR_WORKER_PID, pid);
  if (rc == 0) rc = hb_put(hb, ZR_WORKER_STATE, ZR_JOB_STATE_STARTING);
  if (rc == 0) rc = hb_put(hb, ZR_WORKER_POLICY_VERSION, "0");
  if (rc == 0) rc = hb_put(hb, ZR_WORKER_STARTED_AT, now);
  if (rc == 0) rc = hb_put(hb, ZR_WORKER_UPDATED_AT, now);
  zr_redis_listener_init(&hb->listener, on_client_connect, on_client_free, hb);
  if (rc == 0) rc = zr_redis_add_listener(r, &hb->listener);
  if (rc < 0) {
    hb->freeing = hb->timer_closed = 1;
    hb_maybe_free(hb);
    return NULL;
  }
  uv_timer_init(zr_redis_loop(r), &hb->timer);
  hb->timer.data = hb;
  hb->r = r;
  return hb;
}

int zr_heartbeat_set(zr_heartbeat *hb, const char *field, const char *value) {
  ZR_ASSERT(hb != NULL && field != NULL && value != NULL);
  if (!field[0] || strlen(field) > HB_FIELD_MAX)
    return zr_seterr(-EINVAL, "heartbeat %s: field name '%s' is empty or longer than %d bytes",
                     hb->key, field, HB_FIELD_MAX);
  if (hb_owned(field))
    return zr_seterr(-EINVAL, "heartbeat %s: field '%s' is written by the heartbeat itself",
                     hb->key, field);
  if (strlen(value) > HB_VALUE_MAX)
    return zr_seterr(-EINVAL, "heartbeat %s: value of '%s' is longer than %d bytes", hb->key, field,
                     HB_VALUE_MAX);
  return hb_put(hb, field, value);
}

int zr_heartbeat_setf(zr_heartbeat *hb, const char *field, const char *fmt, ...) {
  char value[HB_VALUE_MAX + 2];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(value, sizeof value, fmt, ap);
  va_end(ap);
  return zr_heartbeat_set(hb, field, value);
}

int zr_heartbeat_start(zr_heartbeat *hb) {
  ZR_ASSERT(hb != NULL && !hb->freeing);
  if (!hb->r) return zr_seterr(-ENOTCONN, "heartbeat %s: its redis client is gone", hb->key);
  hb->running = 1;
  uv_timer_start(&hb->timer, on_hb_timer, hb->interval_ms, hb->interval_ms);
  hb_write(hb); /* while disconnected, the reconnection writes it */
  return 0;
}

int zr_heartbeat_beat(zr_heartbeat *hb) {
  ZR_ASSERT(hb != NULL && !hb->freeing);
  return hb_write(hb);
}

struct hb_stop {
  zr_heartbeat_done_cb done;
  void *user;
};

static void on_hb_deleted(zr_redis *r, redisReply *reply, void *user) {
  struct hb_stop s = *(struct hb_stop *)user;
  free(user);
  if (s.done) s.done(reply && reply->type == REDIS_REPLY_INTEGER, s.user);
}

int zr_heartbeat_stop(zr_heartbeat *hb, zr_heartbeat_stop_mode mode, zr_heartbeat_done_cb done,
                      void *user) {
  ZR_ASSERT(hb != NULL);
  hb->running = 0;
  uv_timer_stop(&hb->timer);
  if (mode == ZR_HEARTBEAT_KEEP) {
    if (done) done(1, user);
    return 0;
  }
  struct hb_stop *s = malloc(sizeof *s);
  if (!s) {
    if (done) done(0, user);
    return zr_seterr(-ENOMEM, "heartbeat: out of memory");
  }
  s->done = done;
  s->user = user;
  if (!hb->r) {
    on_hb_deleted(NULL, NULL, s);
    return zr_seterr(-ENOTCONN, "heartbeat %s: its redis client is gone", hb->key);
  }
  return zr_redis_command(hb->r, on_hb_deleted, s, "DEL %s", hb->key);
}

const char *zr_heartbeat_key(const zr_heartbeat *hb) { return hb->key; }

void zr_heartbeat_free(zr_heartbeat **hbp) {
  if (!hbp || !*hbp) return;
  zr_heartbeat *hb = *hbp;
  *hbp = NULL;
  if (hb->running) zr_heartbeat_stop(hb, ZR_HEARTBEAT_DELETE, NULL, NULL);
  if (hb->r) {
    zr_redis_remove_listener(hb->r, &hb->listener);
    hb->r = NULL;
  }
  hb->freeing = 1;
  uv_close((uv_handle_t *)&hb->timer, on_hb_timer_closed);
}
