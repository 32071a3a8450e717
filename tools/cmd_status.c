/* zerorl status: what a job is doing, read from Redis (DESIGN.md section 5, docs/redis-keys.md).
 *
 * A command-line tool, so it uses synchronous hiredis with timeouts: the job hash, the queue
 * hash, the live workers (SCAN over PREFIX:worker:JOB:*, one HGETALL + PTTL each) and the last
 * metrics stream entry; without --job, the jobs in PREFIX:jobs. Key names come from
 * common/keys.h only. Exit status: 0 shown, 1 a Redis command failed, 2 usage error, Redis
 * unreachable or unknown job. */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/error.h"
#include "common/keys.h"
#include "tools/commands.h"

#define PROG "zerorl status"

static const char status_usage[] =
    "usage: zerorl status [--job JOB] [--watch [SECONDS]] [--redis HOST:PORT | --socket PATH | --config FILE]\n"
    "                     [--prefix PREFIX] [--password PW]\n"
    "\n"
    "Shows a job's state from Redis: the job hash (state, step, policy_version, epoch, ...), the\n"
    "learner's queues, the live workers by role (state, policy version, throughput, seconds\n"
    "until their heartbeat key expires) and the last metrics entry. Without --job it lists the\n"
    "jobs in PREFIX:jobs.\n"
    "  --job JOB          the job id (default: [job] id of --config, when set)\n"
    "  --watch [SECONDS]  redraw every SECONDS (default 2) until interrupted\n"
    "  --redis HOST:PORT  Redis over TCP (default 127.0.0.1:6379)\n"
    "  --socket PATH      Redis over a unix socket\n"
    "  --config FILE      take [redis] host, port, socket, user, password, db, prefix and [job] id\n"
    "                     from a job config\n"
    "  --prefix PREFIX    key prefix (default zerorl, or [redis] prefix of --config)\n"
    "  --password PW      AUTH password (or $REDISCLI_AUTH)\n"
    "Exit status: 0 shown; 1 a Redis command failed; 2 usage error, Redis unreachable or unknown job.\n";

typedef struct {
  char host[256];
  int port;
  char sock[1024];
  char user[128];
  char password[256];
  long db;
  char prefix[ZR_KEY_PREFIX_MAX + 1];
  char job[ZR_KEY_COMPONENT_MAX + 1];
} status_opts;

static volatile sig_atomic_t g_stop;
static void on_sigint(int sig) {
  (void)sig;
  g_stop = 1;
}

/* ---- Redis helpers ------------------------------------------------------------------- */

static redisContext *connect_redis(const status_opts *o, char *endpoint, size_t cap) {
  struct timeval tv = {2, 0};
  redisContext *c;
  if (o->sock[0]) {
    snprintf(endpoint, cap, "unix:%s", o->sock);
    c = redisConnectUnixWithTimeout(o->sock, tv);
  } else {
    snprintf(endpoint, cap, "%s:%d", o->host, o->port);
    c = redisConnectWithTimeout(o->host, o->port, tv);
  }
  if (!c || c->err) {
    zr_seterr(-ECONNREFUSED, "cannot connect to Redis at %s: %s", endpoint, c ? c->errstr : "out of memory");
    if (c) redisFree(c);
    return NULL;
  }
  struct timeval cmd = {5, 0};
  redisSetTimeout(c, cmd);
  redisReply *r = NULL;
  if (o->password[0]) {
    r = o->user[0] ? redisCommand(c, "AUTH %s %s", o->user, o->password) : redisCommand(c, "AUTH %s", o->password);
  } else {
    r = redisCommand(c, "PING");
  }
  if (!r || r->type == REDIS_REPLY_ERROR) {
    zr_seterr(-EACCES, "Redis at %s: %s", endpoint, r ? r->str : c->errstr);
    if (r) freeReplyObject(r);
    redisFree(c);
    return NULL;
  }
  freeReplyObject(r);
  if (o->db) {
    r = redisCommand(c, "SELECT %ld", o->db);
    if (!r || r->type == REDIS_REPLY_ERROR) {
      zr_seterr(-EINVAL, "Redis at %s: SELECT %ld: %s", endpoint, o->db, r ? r->str : c->errstr);
      if (r) freeReplyObject(r);
      redisFree(c);
      return NULL;
    }
    freeReplyObject(r);
  }
  return c;
}

/* Runs a command; on a failed command or an error reply returns NULL with a message. */
static redisReply *cmd(redisContext *c, const char *what, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(c, fmt, ap);
  va_end(ap);
  if (!r) {
    zr_seterr(-EIO, "%s: %s", what, c->errstr[0] ? c->errstr : "no reply");
    return NULL;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    zr_seterr(-EIO, "%s: %s", what, r->str);
    freeReplyObject(r);
    return NULL;
  }
  return r;
}

/* HGETALL reply lookup ("" when absent) */
static const char *hget(const redisReply *h, const char *field) {
  if (!h || h->type != REDIS_REPLY_ARRAY) return NULL;
  for (size_t i = 0; i + 1 < h->elements; i += 2)
    if (h->element[i]->type == REDIS_REPLY_STRING && strcmp(h->element[i]->str, field) == 0 &&
        h->element[i + 1]->type == REDIS_REPLY_STRING)
      return h->element[i + 1]->str;
  return NULL;
}

static int in_list(const char *s, const char *const *list, int n) {
  for (int i = 0; i < n; i++)
    if (strcmp(s, list[i]) == 0) return 1;
  return 0;
}

/* Prints a hash as aligned "  field  value" lines: the schema's fields first (those present),
 * then any others in Redis' order. */
static void print_hash(const redisReply *h, const char *const *fields, int nfields) {
  for (int i = 0; i < nfields; i++) {
    const char *v = hget(h, fields[i]);
    if (v) printf("  %-18s %s\n", fields[i], v);
  }
  for (size_t i = 0; i + 1 < h->elements; i += 2) {
    const redisReply *f = h->element[i], *v = h->element[i + 1];
    if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING && !in_list(f->str, fields, nfields))
      printf("  %-18s %s\n", f->str, v->str);
  }
}

/* ---- the views ------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int show_jobs(redisContext *c, const status_opts *o, const char *endpoint) {
  char key[ZR_KEY_MAX], jkey[ZR_KEY_MAX];
  if (zr_key_jobs(key, sizeof key, o->prefix) < 0) return 2;
  redisReply *r = cmd(c, key, "SMEMBERS %s", key);
  if (!r) return 1;
  printf("redis %s, prefix %s: %zu job%s\n", endpoint, o->prefix, r->elements, r->elements == 1 ? "" : "s");
  char **ids = calloc(r->elements + 1, sizeof *ids);
  size_t n = 0;
  for (size_t i = 0; ids && i < r->elements; i++)
    if (r->element[i]->type == REDIS_REPLY_STRING) ids[n++] = r->element[i]->str;
  if (ids) qsort(ids, n, sizeof *ids, cmp_str);
  for (size_t i = 0; i < n; i++) {
    printf("  %-24s", ids[i]);
    if (zr_key_job(jkey, sizeof jkey, o->prefix, ids[i]) == 0) {
      redisReply *h = cmd(c, jkey, "HGETALL %s", jkey);
      if (h && h->type == REDIS_REPLY_ARRAY) {
        static const char *const brief[] = {ZR_JOB_STATE, ZR_JOB_STEP, ZR_JOB_POLICY_VERSION, ZR_JOB_EPOCH,
                                            ZR_JOB_UPDATED_AT};
        if (h->elements == 0) printf(" (no job hash)");
        for (int k = 0; k < 5; k++) {
          const char *v = hget(h, brief[k]);
          if (v) printf(" %s=%s", brief[k], v);
        }
      }
      if (h) freeReplyObject(h);
    }
    printf("\n");
  }
  if (n) printf("'zerorl status --job JOB' shows one job.\n");
  free(ids);
  freeReplyObject(r);
  return 0;
}

typedef struct {
  char *key;  /* full key */
  char *role; /* points into key */
  char *id;
  redisReply *hash;
  long long pttl;
} worker_row;

static int cmp_worker(const void *a, const void *b) {
  const worker_row *x = a, *y = b;
  int d = strcmp(x->role, y->role);
  return d ? d : strcmp(x->id, y->id);
}

static int show_workers(redisContext *c, const status_opts *o) {
  char prefix[ZR_KEY_MAX];
  /* PREFIX:worker:JOB: built through the schema: the key of role "actor", id "x", cut after JOB: */
  if (zr_key_worker(prefix, sizeof prefix, o->prefix, o->job, ZR_ROLE_NAME_ACTOR, "x") < 0) return 2;
  size_t cut = strlen(prefix) - strlen(ZR_ROLE_NAME_ACTOR ":x");
  prefix[cut] = '\0';
  char pattern[ZR_KEY_MAX + 2];
  snprintf(pattern, sizeof pattern, "%s*", prefix);

  worker_row *rows = NULL;
  size_t n = 0, cap = 0;
  char cursor[32] = "0";
  int status = 0;
  do {
    redisReply *r = cmd(c, pattern, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
    if (!r) {
      status = 1;
      break;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
      freeReplyObject(r);
      zr_seterr(-EIO, "SCAN: unexpected reply");
      status = 1;
      break;
    }
    snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
    const redisReply *keys = r->element[1];
    for (size_t i = 0; i < keys->elements; i++) {
      const char *k = keys->element[i]->str;
      const char *rest = k + cut, *colon = strchr(rest, ':');
      if (!colon || strchr(colon + 1, ':')) continue; /* not PREFIX:worker:JOB:ROLE:ID */
      if (n == cap) {
        cap = cap ? 2 * cap : 16;
        worker_row *nr = realloc(rows, cap * sizeof *rows);
        if (!nr) break;
        rows = nr;
      }
      worker_row *w = &rows[n++];
      memset(w, 0, sizeof *w);
      w->key = strdup(k);
      w->role = w->key + cut;
      w->key[colon - k] = '\0';
      w->id = w->key + (colon - k) + 1;
    }
    freeReplyObject(r);
  } while (strcmp(cursor, "0") != 0);

  /* a key that expired between SCAN and HGETALL is gone: skip it */
  size_t live = 0;
  for (size_t i = 0; i < n; i++) {
    char full[ZR_KEY_MAX];
    if ((size_t)snprintf(full, sizeof full, "%s%s:%s", prefix, rows[i].role, rows[i].id) >= sizeof full) continue;
    rows[i].hash = cmd(c, full, "HGETALL %s", full);
    redisReply *t = cmd(c, full, "PTTL %s", full);
    rows[i].pttl = t && t->type == REDIS_REPLY_INTEGER ? t->integer : -2;
    if (t) freeReplyObject(t);
    if (rows[i].hash && rows[i].hash->type == REDIS_REPLY_ARRAY && rows[i].hash->elements > 0) live++;
  }
  if (n) qsort(rows, n, sizeof *rows, cmp_worker);
  printf("workers: %zu live\n", live);
  const char *role = "";
  for (size_t i = 0; i < n; i++) {
    worker_row *w = &rows[i];
    if (!w->hash || w->hash->type != REDIS_REPLY_ARRAY || w->hash->elements == 0) continue;
    if (strcmp(role, w->role) != 0) {
      size_t count = 0;
      for (size_t j = i; j < n && strcmp(rows[j].role, w->role) == 0; j++)
        if (rows[j].hash && rows[j].hash->elements) count++;
      printf("  %s (%zu)\n", w->role, count);
      role = w->role;
    }
    printf("    %s", w->id);
    static const char *const shown[] = {ZR_WORKER_STATE, ZR_WORKER_POLICY_VERSION, ZR_WORKER_THROUGHPUT,
                                        ZR_WORKER_HOST, ZR_WORKER_PID, ZR_WORKER_UPDATED_AT};
    for (int k = 0; k < 6; k++) {
      const char *v = hget(w->hash, shown[k]);
      if (v) printf(" %s=%s", shown[k], v);
    }
    /* role-specific figures */
    for (size_t j = 0; j + 1 < w->hash->elements; j += 2) {
      const char *f = w->hash->element[j]->str;
      if (!in_list(f, zr_worker_fields, ZR_WORKER_FIELD_COUNT) && w->hash->element[j + 1]->type == REDIS_REPLY_STRING)
        printf(" %s=%s", f, w->hash->element[j + 1]->str);
    }
    if (w->pttl >= 0) printf(" ttl=%.1fs", (double)w->pttl / 1000.0);
    else if (w->pttl == -1) printf(" ttl=none");
    printf("\n");
  }
  for (size_t i = 0; i < n; i++) {
    if (rows[i].hash) freeReplyObject(rows[i].hash);
    free(rows[i].key);
  }
  free(rows);
  return status;
}

static int show_metrics(redisContext *c, const status_opts *o) {
  char key[ZR_KEY_MAX];
  if (zr_key_job_metrics(key, sizeof key, o->prefix, o->job) < 0) return 2;
  redisReply *r = cmd(c, key, "XREVRANGE %s + - COUNT 1", key);
  if (!r) return 1;
  if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
    printf("metrics: none yet\n");
  } else {
    const redisReply *e = r->element[0];
    if (e->type == REDIS_REPLY_ARRAY && e->elements == 2 && e->element[0]->type == REDIS_REPLY_STRING) {
      printf("metrics: last entry %s\n ", e->element[0]->str);
      const redisReply *kv = e->element[1];
      int col = 1;
      for (size_t i = 0; i + 1 < kv->elements; i += 2) {
        int len = (int)(kv->element[i]->len + kv->element[i + 1]->len + 2);
        if (col + len > 100 && col > 1) {
          printf("\n ");
          col = 1;
        }
        printf(" %s=%s", kv->element[i]->str, kv->element[i + 1]->str);
        col += len;
      }
      printf("\n");
    }
  }
  freeReplyObject(r);
  return 0;
}

static int show_job(redisContext *c, const status_opts *o, const char *endpoint) {
  char key[ZR_KEY_MAX], jobs[ZR_KEY_MAX];
  if (zr_key_job(key, sizeof key, o->prefix, o->job) < 0 || zr_key_jobs(jobs, sizeof jobs, o->prefix) < 0) {
    fprintf(stderr, PROG ": %s\n", zr_errmsg());
    return 2;
  }
  redisReply *h = cmd(c, key, "HGETALL %s", key);
  if (!h) {
    fprintf(stderr, PROG ": %s\n", zr_errmsg());
    return 1;
  }
  redisReply *m = cmd(c, jobs, "SISMEMBER %s %s", jobs, o->job);
  int member = m && m->type == REDIS_REPLY_INTEGER && m->integer == 1;
  if (m) freeReplyObject(m);
  if (h->type != REDIS_REPLY_ARRAY || (h->elements == 0 && !member)) {
    freeReplyObject(h);
    fprintf(stderr, PROG ": unknown job '%s': no %s in Redis at %s, and it is not in %s", o->job, key, endpoint, jobs);
    redisReply *all = cmd(c, jobs, "SMEMBERS %s", jobs);
    if (all && all->type == REDIS_REPLY_ARRAY && all->elements) {
      fprintf(stderr, " (known jobs:");
      for (size_t i = 0; i < all->elements && i < 20; i++) fprintf(stderr, " %s", all->element[i]->str);
      fprintf(stderr, "%s)", all->elements > 20 ? " ..." : "");
    }
    if (all) freeReplyObject(all);
    fprintf(stderr, "\n");
    return 2;
  }
  printf("job %s (redis %s, key %s)\n", o->job, endpoint, key);
  if (h->elements == 0) printf("  (listed in %s but has no job hash yet)\n", jobs);
  print_hash(h, zr_job_fields, ZR_JOB_FIELD_COUNT);
  freeReplyObject(h);

  int status = 0;
  if (zr_key_job_queue(key, sizeof key, o->prefix, o->job) == 0) {
    redisReply *q = cmd(c, key, "HGETALL %s", key);
    if (!q) {
      fprintf(stderr, PROG ": %s\n", zr_errmsg());
      status = 1;
    } else {
      printf("queue:%s\n", q->elements ? "" : " none published yet");
      print_hash(q, zr_queue_fields, ZR_QUEUE_FIELD_COUNT);
      freeReplyObject(q);
    }
  }
  int rc = show_workers(c, o);
  if (rc) {
    fprintf(stderr, PROG ": %s\n", zr_errmsg());
    status = rc;
  }
  rc = show_metrics(c, o);
  if (rc) {
    fprintf(stderr, PROG ": %s\n", zr_errmsg());
    status = rc;
  }
  return status;
}

/* ---- options ---------------------------------------------------------------------------- */

static int load_config(status_opts *o, const char *file, int *have_job) {
  zr_config cfg;
  if (zr_config_init_defaults(&cfg) != 0 || zr_config_load_file(&cfg, file) != 0) {
    fprintf(stderr, PROG ": %s\n", zr_errmsg());
    zr_config_release(&cfg);
    return 2;
  }
  snprintf(o->host, sizeof o->host, "%s", cfg.redis.host[0] ? cfg.redis.host : "127.0.0.1");
  o->port = (int)cfg.redis.port;
  snprintf(o->sock, sizeof o->sock, "%s", cfg.redis.socket);
  snprintf(o->user, sizeof o->user, "%s", cfg.redis.user);
  snprintf(o->password, sizeof o->password, "%s", cfg.redis.password);
  o->db = (long)cfg.redis.db;
  snprintf(o->prefix, sizeof o->prefix, "%s", cfg.redis.prefix);
  if (cfg.job.id[0] && !*have_job) {
    snprintf(o->job, sizeof o->job, "%s", cfg.job.id);
    *have_job = 1;
  }
  zr_config_release(&cfg);
  return 0;
}

int zr_cmd_status(int argc, char **argv) {
  if (zr_cmd_wants_help(argc, argv)) {
    fputs(status_usage, stdout);
    return 0;
  }
  status_opts o;
  memset(&o, 0, sizeof o);
  snprintf(o.host, sizeof o.host, "127.0.0.1");
  o.port = 6379;
  snprintf(o.prefix, sizeof o.prefix, "%s", ZR_KEY_PREFIX_DEFAULT);
  const char *job = NULL, *redis = NULL, *sock = NULL, *config = NULL, *prefix = NULL, *password = NULL;
  double watch = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **slot = strcmp(a, "--job") == 0       ? &job
                        : strcmp(a, "--redis") == 0    ? &redis
                        : strcmp(a, "--socket") == 0   ? &sock
                        : strcmp(a, "--config") == 0   ? &config
                        : strcmp(a, "--prefix") == 0   ? &prefix
                        : strcmp(a, "--password") == 0 ? &password
                                                       : NULL;
    if (slot) {
      if (i + 1 >= argc) {
        fprintf(stderr, PROG ": %s needs a value\n%s", a, status_usage);
        return 2;
      }
      *slot = argv[++i];
    } else if (strcmp(a, "--watch") == 0) {
      watch = 2;
      if (i + 1 < argc && argv[i + 1][0] != '-') {
        char *end;
        watch = strtod(argv[++i], &end);
        if (*end || !(watch >= 0.1 && watch <= 86400)) {
          fprintf(stderr, PROG ": --watch %s: expected seconds in 0.1..86400\n", argv[i]);
          return 2;
        }
      }
    } else {
      fprintf(stderr, PROG ": unknown argument '%s'\n%s", a, status_usage);
      return 2;
    }
  }
  if (!!redis + !!sock + !!config > 1) {
    fprintf(stderr, PROG ": give at most one of --redis, --socket and --config\n");
    return 2;
  }
  int have_job = job != NULL;
  if (job) snprintf(o.job, sizeof o.job, "%s", job);
  if (config && load_config(&o, config, &have_job) != 0) return 2;
  if (redis) {
    const char *colon = strrchr(redis, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 6379;
    size_t hl = colon ? (size_t)(colon - redis) : strlen(redis);
    if ((colon && (*end || end == colon + 1)) || port < 1 || port > 65535 || hl == 0 || hl >= sizeof o.host) {
      fprintf(stderr, PROG ": --redis %s: expected HOST:PORT (port 1..65535)\n", redis);
      return 2;
    }
    memcpy(o.host, redis, hl);
    o.host[hl] = '\0';
    o.port = (int)port;
  }
  if (sock) snprintf(o.sock, sizeof o.sock, "%s", sock);
  if (prefix) snprintf(o.prefix, sizeof o.prefix, "%s", prefix);
  if (password) snprintf(o.password, sizeof o.password, "%s", password);
  else if (!o.password[0] && getenv("REDISCLI_AUTH")) snprintf(o.password, sizeof o.password, "%s", getenv("REDISCLI_AUTH"));
  if ((prefix && zr_key_check_prefix(o.prefix) < 0) || (have_job && zr_key_check_component("job", o.job) < 0)) {
    fprintf(stderr, PROG ": %s\n", zr_errmsg());
    return 2;
  }

  if (watch > 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
  }
  int tty = isatty(STDOUT_FILENO);
  int status = 0;
  redisContext *c = NULL;
  char endpoint[1100];
  do {
    if (!c) c = connect_redis(&o, endpoint, sizeof endpoint);
    if (watch > 0 && tty) printf("\033[H\033[2J");
    if (watch > 0) {
      char now[64];
      time_t t = time(NULL);
      strftime(now, sizeof now, "%Y-%m-%d %H:%M:%S", localtime(&t));
      printf("%s  (every %gs; Ctrl-C stops)\n", now, watch);
    }
    if (!c) {
      fprintf(stderr, PROG ": %s\n", zr_errmsg());
      status = 2;
    } else {
      status = have_job ? show_job(c, &o, endpoint) : show_jobs(c, &o, endpoint);
      if (status == 1 && (c->err || watch > 0)) { /* a lost connection: reconnect next time */
        redisFree(c);
        c = NULL;
      }
    }
    fflush(stdout);
    if (watch <= 0 || (status == 2 && c)) break; /* an unknown job stays unknown */
    struct timespec ts = {(time_t)watch, (long)((watch - (double)(time_t)watch) * 1e9)};
    while (!g_stop && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
  } while (!g_stop);
  if (c) redisFree(c);
  return g_stop ? 0 : status;
}
