/* sim_fleet.c: how far one learner hub scales (issue 9, item 4).
 *
 * Starts a private redis-server and ONE real zerorl-learner (default [algo] mode
 * rejection-sample: the full hub - leases, admission, de-duplication, scoring dispatch, the
 * per-group record - without training, so the hub is what is measured), then runs N simulated
 * actors and M simulated reward workers against it: one ZeroMQ DEALER socket each, spread over
 * a few threads that each poll their sockets and keep a timer heap. They speak the real wire
 * protocol (common/frame.h): an actor sends WorkRequest (its free group slots), and for every
 * task of a WorkGrant produces G Rollouts after drawn generation times, with drawn completion
 * lengths, random in-vocabulary tokens and per-token log-probs; it asks again as slots free
 * (and every ask interval while idle). A reward worker sends WorkRequest (free slots), answers
 * each ScoreRequest with a ScoredRollout (random 0/1 reward) after a drawn delay and asks again.
 *
 * For each N in --actors it measures, over a window after a warm-up: rollouts/s scored,
 * groups/s recorded by the learner (queue hash groups_trained), messages/s through the hub
 * (every message the fleet sent or received), WorkRequest -> WorkGrant round-trip percentiles,
 * Redis ops/s (INFO stats), the learner's CPU (all threads, and its busiest thread = the loop)
 * from /proc, and the learner's dropped_bad (must stay 0: the simulated messages are valid).
 * It prints one markdown table row per N (docs/scale.md has the results).
 *
 *   sim_fleet --learner build/learner/zerorl-learner --model DIR --tasks FILE
 *             [--actors 1,10,100,500,1000] [--rewards 16] [--reward-slots 8] [--slots 2] [--group 8]
 *             [--gen-ms 1000] [--mean-len 400] [--max-new 1024] [--score-ms 5]
 *             [--warmup 3] [--window 10] [--threads 2] [--mode rejection-sample|rl] [--work DIR]
 *             [--ask-ms 1000]   (an actor's re-ask after an empty grant; the real actor's ask_interval)
 *
 * RLIMIT_NOFILE is raised to its hard limit first (each socket costs the fleet ~3 fds and the
 * learner 1; the learner, started here, inherits the limit). */

#include <errno.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/frame.h"
#include "common/simdist.h"

/* ---- options ------------------------------------------------------------------------------ */

static struct {
  const char *learner, *model, *tasks, *mode, *work, *redis_server;
  int actor_counts[16], n_counts;
  int rewards, reward_slots, slots, group, threads, max_new, mean_len;
  double gen_ms, score_ms, warmup_s, window_s, ask_ms;
} opt = {.mode = "rejection-sample", .redis_server = "redis-server", .rewards = 16, .reward_slots = 8,
         .slots = 2, .group = 8, .threads = 2, .max_new = 1024, .mean_len = 400, .gen_ms = 1000,
         .score_ms = 5, .warmup_s = 3, .window_s = 10, .ask_ms = 1000};

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* the draws (lengths, token ids, log-probs, latencies) are common/simdist.h's, the same the real
 * daemons' simulated engine and scorer use ([actor] engine = sim, [reward] engine = sim) */
static double rnd01(zr_simrng *s) { return zr_simrng_u01(s); }

/* ---- the fleet ---------------------------------------------------------------------------- */

typedef struct {
  uint64_t lease_id, group_id, version;
  char *task_id;
  uint32_t epoch, *prompt;
  size_t n_prompt;
  int remaining;
} sim_task;

typedef struct {
  void *s;
  char id[33];
  bool reward;
  int free;        /* actor: free group slots; reward: free scoring slots */
  bool asking;     /* a WorkRequest is out, not answered */
  uint64_t ask_us; /* when it went out */
} sim_peer;

enum { EV_SAMPLE, EV_ASK, EV_REPLY };
typedef struct {
  uint64_t t;
  int kind, peer;
  void *p;       /* sim_task (SAMPLE) or score job (REPLY) */
  uint32_t idx;  /* sample index */
} sim_ev;

typedef struct {
  uint64_t score_id, sample_index;
  uint32_t epoch;
  char *task_id;
} score_job;

typedef struct {
  _Atomic uint64_t sent, recvd, bytes_out, bytes_in, grants, empty_grants, rollouts, scored, bad_in;
} sim_counts;

typedef struct {
  int index;
  sim_peer *peers;
  int n_peers;
  sim_ev *heap;
  size_t n_heap, cap_heap;
  zr_simrng rng;
  sim_counts c;
  double *lat_ms; /* WorkRequest -> WorkGrant, measured window only */
  size_t n_lat, cap_lat;
  uint32_t *ids;
  float *lps;
  uint64_t *vers;
  char *text;
  pthread_t th;
} sim_thread;

static const char *g_job;
static atomic_bool g_stop, g_measuring;
static zr_frame_limits g_lim;

static void heap_push(sim_thread *t, sim_ev e) {
  if (t->n_heap == t->cap_heap) {
    t->cap_heap = t->cap_heap ? 2 * t->cap_heap : 1024;
    t->heap = realloc(t->heap, t->cap_heap * sizeof *t->heap);
  }
  size_t i = t->n_heap++;
  while (i > 0 && t->heap[(i - 1) / 2].t > e.t) {
    t->heap[i] = t->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  t->heap[i] = e;
}

static sim_ev heap_pop(sim_thread *t) {
  sim_ev top = t->heap[0], last = t->heap[--t->n_heap];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= t->n_heap) break;
    if (c + 1 < t->n_heap && t->heap[c + 1].t < t->heap[c].t) c++;
    if (t->heap[c].t >= last.t) break;
    t->heap[i] = t->heap[c];
    i = c;
  }
  if (t->n_heap) t->heap[i] = last;
  return top;
}

static void send_env(sim_thread *t, sim_peer *p, Zerorl__Envelope *env) {
  uint8_t *buf = NULL;
  size_t len = 0;
  if (zr_frame_encode(env, g_job, p->id, 0, &buf, &len) < 0) return;
  if (zmq_send(p->s, buf, len, ZMQ_DONTWAIT) == (int)len) {
    t->c.sent++;
    t->c.bytes_out += len;
  }
  free(buf);
}

static void ask(sim_thread *t, sim_peer *p) {
  Zerorl__WorkRequest wr = ZERORL__WORK_REQUEST__INIT;
  wr.role = p->reward ? ZERORL__ROLE__ROLE_REWARD : ZERORL__ROLE__ROLE_ACTOR;
  wr.free_capacity = p->free > 0 ? (uint32_t)p->free : 0;
  wr.host = "sim";
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  env.body_case = ZERORL__ENVELOPE__BODY_WORK_REQUEST;
  env.work_request = &wr;
  send_env(t, p, &env);
  p->asking = true;
  p->ask_us = now_us();
}

static uint64_t draw_ms_us(sim_thread *t, double mean_ms) { /* uniform in [0.5, 1.5] * mean */
  return (uint64_t)(zr_simdist_jitter_ms(mean_ms, &t->rng) * 1000.0);
}

static void on_grant(sim_thread *t, int pi, const Zerorl__WorkGrant *g) {
  sim_peer *p = &t->peers[pi];
  uint64_t now = now_us();
  if (p->asking) {
    p->asking = false;
    if (atomic_load(&g_measuring)) {
      if (t->n_lat == t->cap_lat) {
        t->cap_lat = t->cap_lat ? 2 * t->cap_lat : 4096;
        t->lat_ms = realloc(t->lat_ms, t->cap_lat * sizeof *t->lat_ms);
      }
      t->lat_ms[t->n_lat++] = (double)(now - p->ask_us) / 1000.0;
    }
  }
  t->c.grants++;
  if (g->n_tasks == 0) {
    t->c.empty_grants++;
    if (p->free > 0) heap_push(t, (sim_ev){now + (uint64_t)(opt.ask_ms * 1000), EV_ASK, pi, NULL, 0});
    return;
  }
  for (size_t i = 0; i < g->n_tasks; i++) {
    const Zerorl__Task *k = g->tasks[i];
    sim_task *st = calloc(1, sizeof *st);
    st->lease_id = g->lease_id;
    st->group_id = k->group_id;
    st->version = g->policy_version;
    st->task_id = strdup(k->task_id);
    st->epoch = k->epoch;
    st->n_prompt = k->n_prompt_ids;
    st->prompt = malloc((k->n_prompt_ids + 1) * sizeof *st->prompt);
    memcpy(st->prompt, k->prompt_ids, k->n_prompt_ids * sizeof *st->prompt);
    st->remaining = (int)k->samples;
    p->free--;
    for (uint32_t s = 0; s < k->samples; s++)
      heap_push(t, (sim_ev){now + draw_ms_us(t, opt.gen_ms), EV_SAMPLE, pi, st, k->first_sample_index + s});
  }
}

static void send_rollout(sim_thread *t, int pi, sim_task *st, uint32_t idx) {
  sim_peer *p = &t->peers[pi];
  /* length: exponential with mean mean_len, in [1, max_new] */
  int n = zr_simdist_tokens(ZR_SIMDIST_EXPONENTIAL, opt.mean_len, opt.max_new, &t->rng);
  for (int i = 0; i < n; i++) {
    t->ids[i] = 97 + zr_simrng_below(&t->rng, 26);
    t->text[i] = (char)t->ids[i];
    t->lps[i] = zr_simdist_logprob(&t->rng);
    t->vers[i] = st->version;
  }
  t->text[n] = '\0';
  Zerorl__Rollout r = ZERORL__ROLLOUT__INIT;
  r.lease_id = st->lease_id;
  r.task_id = st->task_id;
  r.epoch = st->epoch;
  r.group_id = st->group_id;
  r.sample_index = idx;
  r.n_prompt_ids = st->n_prompt;
  r.prompt_ids = st->prompt;
  r.n_completion_ids = r.n_logprobs = r.n_token_versions = (size_t)n;
  r.completion_ids = t->ids;
  r.logprobs = t->lps;
  r.token_versions = t->vers;
  r.finish_reason = n == opt.max_new ? ZERORL__FINISH_REASON__FINISH_LENGTH : ZERORL__FINISH_REASON__FINISH_STOP;
  r.completion_text = t->text;
  r.generate_ms = (uint32_t)opt.gen_ms;
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  env.body_case = ZERORL__ENVELOPE__BODY_ROLLOUT;
  env.rollout = &r;
  send_env(t, p, &env);
  t->c.rollouts++;
  if (--st->remaining == 0) {
    free(st->task_id);
    free(st->prompt);
    free(st);
    p->free++;
    if (!p->asking) ask(t, p);
  }
}

static void on_score_request(sim_thread *t, int pi, const Zerorl__ScoreRequest *sr) {
  sim_peer *p = &t->peers[pi];
  if (p->asking) p->asking = false;
  score_job *j = calloc(1, sizeof *j);
  j->score_id = sr->score_id;
  j->task_id = strdup(sr->rollout ? sr->rollout->task_id : "");
  j->epoch = sr->rollout ? sr->rollout->epoch : 0;
  j->sample_index = sr->rollout ? sr->rollout->sample_index : 0;
  p->free--;
  heap_push(t, (sim_ev){now_us() + draw_ms_us(t, opt.score_ms), EV_REPLY, pi, j, 0});
}

static void send_scored(sim_thread *t, int pi, score_job *j) {
  sim_peer *p = &t->peers[pi];
  Zerorl__ScoredRollout s = ZERORL__SCORED_ROLLOUT__INIT;
  s.score_id = j->score_id;
  s.task_id = j->task_id;
  s.epoch = j->epoch;
  s.sample_index = (uint32_t)j->sample_index;
  s.reward = rnd01(&t->rng) < 0.3 ? 1.0 : 0.0;
  s.status = ZERORL__VERIFIER_STATUS__VERIFIER_OK;
  s.score_ms = (uint32_t)opt.score_ms;
  Zerorl__RewardComponent acc = ZERORL__REWARD_COMPONENT__INIT, *accp = &acc;
  acc.name = "accuracy";
  acc.value = s.reward;
  acc.weight = 1;
  acc.status = s.reward > 0 ? "correct" : "wrong";
  s.n_components = 1;
  s.components = &accp;
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  env.body_case = ZERORL__ENVELOPE__BODY_SCORED_ROLLOUT;
  env.scored_rollout = &s;
  send_env(t, p, &env);
  t->c.scored++;
  free(j->task_id);
  free(j);
  p->free++;
  ask(t, p); /* the real worker re-announces its free slots after each answer */
}

static void on_message(sim_thread *t, int pi) {
  zmq_msg_t parts[ZR_FRAME_MAX_BULK + 1];
  size_t n = 0;
  for (;;) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, t->peers[pi].s, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&m);
      break;
    }
    int more = zmq_msg_more(&m);
    if (n < ZR_FRAME_MAX_BULK + 1) parts[n++] = m;
    else zmq_msg_close(&m);
    if (!more) break;
  }
  if (n == 0) return;
  zr_bytes frames[ZR_FRAME_MAX_BULK + 1];
  size_t bytes = 0;
  for (size_t i = 0; i < n; i++) {
    frames[i] = (zr_bytes){zmq_msg_data(&parts[i]), zmq_msg_size(&parts[i])};
    bytes += frames[i].len;
  }
  t->c.recvd++;
  t->c.bytes_in += bytes;
  zr_frame_msg msg;
  if (zr_frame_decode(&msg, frames, n, g_job, &g_lim) == 0) {
    switch (msg.env->body_case) {
    case ZERORL__ENVELOPE__BODY_WORK_GRANT: on_grant(t, pi, msg.env->work_grant); break;
    case ZERORL__ENVELOPE__BODY_SCORE_REQUEST: on_score_request(t, pi, msg.env->score_request); break;
    default: t->c.bad_in++; break;
    }
    zr_frame_msg_release(&msg);
  } else {
    t->c.bad_in++;
  }
  for (size_t i = 0; i < n; i++) zmq_msg_close(&parts[i]);
}

static void *thread_main(void *arg) {
  sim_thread *t = arg;
  zmq_pollitem_t *items = calloc((size_t)t->n_peers, sizeof *items);
  for (int i = 0; i < t->n_peers; i++) items[i] = (zmq_pollitem_t){t->peers[i].s, 0, ZMQ_POLLIN, 0};
  for (int i = 0; i < t->n_peers; i++) ask(t, &t->peers[i]);
  while (!atomic_load(&g_stop)) {
    uint64_t now = now_us();
    while (t->n_heap && t->heap[0].t <= now) {
      sim_ev e = heap_pop(t);
      sim_peer *p = &t->peers[e.peer];
      if (e.kind == EV_SAMPLE) send_rollout(t, e.peer, e.p, e.idx);
      else if (e.kind == EV_REPLY) send_scored(t, e.peer, e.p);
      else if (p->free > 0 && !p->asking) ask(t, p);
    }
    /* peers waiting on an answer that never came (e.g. the learner started late): re-ask */
    long timeout = t->n_heap ? (long)((t->heap[0].t - now) / 1000) : 100;
    if (timeout > 100) timeout = 100;
    int rc = zmq_poll(items, t->n_peers, timeout);
    if (rc < 0 && errno != EINTR) break;
    for (int i = 0; rc > 0 && i < t->n_peers; i++)
      if (items[i].revents & ZMQ_POLLIN) {
        /* drain this socket */
        int ev = 0;
        size_t sz = sizeof ev;
        do {
          on_message(t, i);
          zmq_getsockopt(t->peers[i].s, ZMQ_EVENTS, &ev, &sz);
        } while (ev & ZMQ_POLLIN);
      }
    now = now_us();
    for (int i = 0; i < t->n_peers; i++) {
      sim_peer *p = &t->peers[i];
      if (p->asking && now - p->ask_us > 2000000) ask(t, p);
      else if (!p->asking && p->free > 0 && p->reward && now - p->ask_us > 500000) ask(t, p);
    }
  }
  free(items);
  return NULL;
}

/* ---- processes, Redis, /proc -------------------------------------------------------------- */

static pid_t spawn(const char *log, char *const argv[]) {
  pid_t pid = fork();
  if (pid == 0) {
    FILE *f = freopen(log, "a", stdout);
    (void)f;
    dup2(1, 2);
    execvp(argv[0], argv);
    _exit(127);
  }
  return pid;
}

static redisContext *rconn(const char *sock) {
  struct timeval tv = {1, 0};
  redisContext *c = redisConnectUnixWithTimeout(sock, tv);
  if (!c || c->err) {
    if (c) redisFree(c);
    return NULL;
  }
  redisSetTimeout(c, tv);
  return c;
}

static long long info_field(redisContext *c, const char *field) {
  redisReply *r = redisCommand(c, "INFO stats");
  long long v = -1;
  if (r && r->type == REDIS_REPLY_STRING) {
    char *p = strstr(r->str, field);
    if (p) v = atoll(p + strlen(field) + 1);
  }
  if (r) freeReplyObject(r);
  return v;
}

static long long hget_ll(redisContext *c, const char *key, const char *field) {
  redisReply *r = redisCommand(c, "HGET %s %s", key, field);
  long long v = r && r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
  if (r) freeReplyObject(r);
  return v;
}

/* CPU ticks of pid: all threads (*total) and the busiest thread (*max). */
static void proc_ticks(pid_t pid, int n_max, long long *ids, long long *ticks, int *n) {
  char path[128];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  *n = 0;
  FILE *ls;
  char cmd[200];
  snprintf(cmd, sizeof cmd, "ls %s 2>/dev/null", path);
  if (!(ls = popen(cmd, "r"))) return;
  long long tid;
  while (*n < n_max && fscanf(ls, "%lld", &tid) == 1) {
    char sp[160], buf[1024];
    snprintf(sp, sizeof sp, "/proc/%d/task/%lld/stat", (int)pid, tid);
    FILE *f = fopen(sp, "r");
    if (!f) continue;
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = 0;
    char *rp = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    /* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    if (rp && sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2) {
      ids[*n] = tid;
      ticks[*n] = (long long)(ut + st);
      (*n)++;
    }
  }
  pclose(ls);
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double q) { return n ? v[(size_t)(q * (double)(n - 1))] : NAN; }

static uint64_t sum_counts(sim_thread *th, int nt, size_t off) {
  uint64_t s = 0;
  for (int i = 0; i < nt; i++) s += atomic_load((_Atomic uint64_t *)((char *)&th[i].c + off));
  return s;
}
#define SUM(field) sum_counts(th, nt, offsetof(sim_counts, field))

/* One measurement with N actors. Prints a table row; 0 or -1. */
static int run_one(int N, void *ctx_unused) {
  (void)ctx_unused;
  char dir[512], sock[600], cfg[600], llog[600], rlog[600], run[600], jobid[64];
  snprintf(dir, sizeof dir, "%s/n%d", opt.work, N);
  snprintf(sock, sizeof sock, "%s/redis.sock", dir);
  snprintf(cfg, sizeof cfg, "%s/config.ini", dir);
  snprintf(llog, sizeof llog, "%s/learner.log", dir);
  snprintf(rlog, sizeof rlog, "%s/redis.log", dir);
  snprintf(run, sizeof run, "%s/run", dir);
  snprintf(jobid, sizeof jobid, "sim-%d", N);
  g_job = jobid;
  char cmd[1400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, run);
  if (system(cmd) != 0) return -1;
  int live = N * opt.slots * 2 + 64, gpb = 64;
  int staleness = live / gpb + 1;
  FILE *f = fopen(cfg, "w");
  if (!f) return -1;
  fprintf(f,
          "[job]\nid = %s\nname = sim\nrun_dir = %s\nlog_level = warn\n[model]\npath = %s\nthreads = 1\n"
          "[data]\ntrain = %s\ntemplate = raw\nepochs = 1000000\n"
          "[algo]\nmode = %s\ngroup_size = %d\ngroups_per_batch = %d\nmax_staleness = %d\nmax_new_tokens = %d\n"
          "[learner]\nlease = 600s\nscore_deadline = 60s\ncheckpoint_every = 0\ntotal_steps = 1000000\n"
          "[redis]\nsocket = %s\n"
          "[net]\nlearner_tasks = ipc://%s/w\nlearner_weights = ipc://%s/c\nlearner_announce = ipc://%s/a\n",
          jobid, run, opt.model, opt.tasks, opt.mode, opt.group, gpb, staleness, opt.max_new, sock, dir, dir, dir);
  fclose(f);
  char *rargv[] = {(char *)opt.redis_server, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
                   "--save", "", "--appendonly", "no", "--dir", dir, "--logfile", rlog, NULL};
  pid_t rpid = spawn(rlog, rargv);
  redisContext *rc = NULL;
  for (int i = 0; i < 100 && !(rc = rconn(sock)); i++) usleep(50000);
  if (!rc) {
    fprintf(stderr, "sim_fleet: redis-server did not start (%s)\n", rlog);
    kill(rpid, SIGKILL);
    waitpid(rpid, NULL, 0);
    return -1;
  }
  char *largv[] = {(char *)opt.learner, "--config", cfg, NULL};
  pid_t lpid = spawn(llog, largv);
  char jkey[128], qkey[160];
  snprintf(jkey, sizeof jkey, "zerorl:job:%s", jobid);
  snprintf(qkey, sizeof qkey, "zerorl:job:%s:queue", jobid);
  for (int i = 0; i < 600; i++) { /* state running: sockets bound */
    redisReply *r = redisCommand(rc, "HGET %s state", jkey);
    bool up = r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "running") == 0;
    if (r) freeReplyObject(r);
    if (up) break;
    usleep(50000);
  }

  void *ctx = zmq_ctx_new();
  zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, N + opt.rewards + 64);
  zmq_ctx_set(ctx, ZMQ_IO_THREADS, 1);
  int nt = opt.threads;
  sim_thread *th = calloc((size_t)nt, sizeof *th);
  int total = N + opt.rewards;
  for (int i = 0; i < nt; i++) {
    th[i].index = i;
    th[i].peers = calloc((size_t)total, sizeof *th[i].peers);
    zr_simrng_seed(&th[i].rng, 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1) ^ (uint64_t)N);
    th[i].ids = malloc((size_t)opt.max_new * sizeof *th[i].ids);
    th[i].lps = malloc((size_t)opt.max_new * sizeof *th[i].lps);
    th[i].vers = malloc((size_t)opt.max_new * sizeof *th[i].vers);
    th[i].text = malloc((size_t)opt.max_new + 1);
  }
  char ep[600];
  snprintf(ep, sizeof ep, "ipc://%s/w", dir);
  int made = 0;
  for (int k = 0; k < total; k++) {
    sim_thread *t = &th[k % nt];
    sim_peer *p = &t->peers[t->n_peers];
    p->s = zmq_socket(ctx, ZMQ_DEALER);
    if (!p->s) {
      fprintf(stderr, "sim_fleet: socket %d: %s (raise ulimit -n / ZMQ_MAX_SOCKETS)\n", k, zmq_strerror(errno));
      break;
    }
    int linger = 0, hwm = 10000;
    zmq_setsockopt(p->s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(p->s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(p->s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_connect(p->s, ep) != 0) {
      fprintf(stderr, "sim_fleet: connect %s: %s\n", ep, zmq_strerror(errno));
      zmq_close(p->s);
      break;
    }
    p->reward = k >= N;
    p->free = p->reward ? opt.reward_slots : opt.slots;
    for (int h = 0; h < 32; h++) p->id[h] = "0123456789abcdef"[(int)(rnd01(&t->rng) * 16)];
    t->n_peers++;
    made++;
  }
  atomic_store(&g_stop, false);
  atomic_store(&g_measuring, false);
  for (int i = 0; i < nt; i++) pthread_create(&th[i].th, NULL, thread_main, &th[i]);

  usleep((useconds_t)(opt.warmup_s * 1e6));
  long long ids0[64], tk0[64], ids1[64], tk1[64];
  int n0, n1;
  uint64_t t0 = now_us();
  uint64_t s0 = SUM(sent), r0 = SUM(recvd), ro0 = SUM(rollouts), sc0 = SUM(scored), g0 = SUM(grants),
           e0 = SUM(empty_grants), bo0 = SUM(bytes_out);
  long long cmd0 = info_field(rc, "total_commands_processed"), gt0 = hget_ll(rc, qkey, "groups_trained");
  proc_ticks(lpid, 64, ids0, tk0, &n0);
  struct rusage ru0;
  getrusage(RUSAGE_SELF, &ru0);
  atomic_store(&g_measuring, true);
  usleep((useconds_t)(opt.window_s * 1e6));
  atomic_store(&g_measuring, false);
  uint64_t t1 = now_us();
  uint64_t s1 = SUM(sent), r1 = SUM(recvd), ro1 = SUM(rollouts), sc1 = SUM(scored), g1 = SUM(grants),
           e1 = SUM(empty_grants), bo1 = SUM(bytes_out);
  long long cmd1 = info_field(rc, "total_commands_processed"), gt1 = hget_ll(rc, qkey, "groups_trained");
  long long inst = info_field(rc, "instantaneous_ops_per_sec");
  proc_ticks(lpid, 64, ids1, tk1, &n1);
  struct rusage ru1;
  getrusage(RUSAGE_SELF, &ru1);
  long long waiting = hget_ll(rc, qkey, "rollouts_waiting"), pending = hget_ll(rc, qkey, "tasks_pending");
  long long dropped = hget_ll(rc, qkey, "dropped_bad"), dups = hget_ll(rc, qkey, "duplicates");
  atomic_store(&g_stop, true);
  for (int i = 0; i < nt; i++) pthread_join(th[i].th, NULL);
  bool learner_alive = waitpid(lpid, NULL, WNOHANG) == 0;

  double secs = (double)(t1 - t0) / 1e6, hz = (double)sysconf(_SC_CLK_TCK);
  long long ltot = 0, lmax = 0;
  for (int i = 0; i < n1; i++) {
    long long d = tk1[i];
    for (int j = 0; j < n0; j++)
      if (ids0[j] == ids1[i]) d -= tk0[j];
    ltot += d;
    if (d > lmax) lmax = d;
  }
  double sim_cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                   (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
  size_t nl = 0;
  for (int i = 0; i < nt; i++) nl += th[i].n_lat;
  double *lat = malloc((nl ? nl : 1) * sizeof *lat);
  nl = 0;
  for (int i = 0; i < nt; i++) {
    memcpy(lat + nl, th[i].lat_ms, th[i].n_lat * sizeof *lat);
    nl += th[i].n_lat;
  }
  qsort(lat, nl, sizeof *lat, cmp_d);
  /* a group slot frees when its slowest sample is done: E[max of G uniforms in [0.5, 1.5]] */
  double offered = (double)N * opt.slots * opt.group / (opt.gen_ms / 1000.0 * (0.5 + (double)opt.group / (opt.group + 1)));
  printf("| %d | %d | %.0f | %.0f | %.1f | %.0f | %.2f | %.1f / %.1f / %.1f / %.1f | %.0f (%.0f empty) | %.0f (inst %lld) | %.0f%% (loop %.0f%%) | %.0f%% | %lld | %lld | %lld |%s\n",
         N, made - opt.rewards, offered, (double)(sc1 - sc0) / secs, (double)(gt1 - gt0) / secs,
         (double)((s1 - s0) + (r1 - r0)) / secs, (double)(bo1 - bo0) / secs / 1e6, pct(lat, nl, 0.5),
         pct(lat, nl, 0.9), pct(lat, nl, 0.99), nl ? lat[nl - 1] : NAN, (double)(g1 - g0) / secs,
         (double)(e1 - e0) / secs, (double)(cmd1 - cmd0) / secs, inst, 100.0 * (double)ltot / hz / secs,
         100.0 * (double)lmax / hz / secs, 100.0 * sim_cpu / secs, waiting, pending, dropped,
         learner_alive ? "" : " LEARNER DIED");
  fflush(stdout);
  fprintf(stderr, "N=%d: rollouts sent %.0f/s, duplicates %lld, bad messages to the fleet %llu\n", N,
          (double)(ro1 - ro0) / secs, dups, (unsigned long long)SUM(bad_in));
  free(lat);
  for (int i = 0; i < nt; i++) {
    for (int k = 0; k < th[i].n_peers; k++) zmq_close(th[i].peers[k].s);
    while (th[i].n_heap) { /* leaks of in-flight task/score structs are bounded; free them */
      sim_ev e = heap_pop(&th[i]);
      if (e.kind == EV_REPLY) {
        free(((score_job *)e.p)->task_id);
        free(e.p);
      } else if (e.kind == EV_SAMPLE) {
        sim_task *st = e.p;
        if (--st->remaining == 0) {
          free(st->task_id);
          free(st->prompt);
          free(st);
        }
      }
    }
    free(th[i].heap);
    free(th[i].peers);
    free(th[i].lat_ms);
    free(th[i].ids);
    free(th[i].lps);
    free(th[i].vers);
    free(th[i].text);
  }
  free(th);
  zmq_ctx_term(ctx);
  kill(lpid, SIGKILL);
  waitpid(lpid, NULL, 0);
  redisFree(rc);
  kill(rpid, SIGKILL);
  waitpid(rpid, NULL, 0);
  return learner_alive ? 0 : -1;
}

static void usage(void) {
  fputs("usage: sim_fleet --learner PATH --model DIR --tasks FILE [--actors 1,10,100,500,1000] [--rewards M]\n"
        "       [--reward-slots S] [--slots GROUPS] [--group G] [--gen-ms MS] [--mean-len T] [--max-new T]\n"
        "       [--score-ms MS] [--warmup S] [--window S] [--threads T] [--mode rejection-sample|rl]\n"
        "       [--ask-ms MS] [--work DIR] [--redis-server PATH]\n",
        stderr);
}

int main(int argc, char **argv) {
  opt.actor_counts[0] = 1;
  opt.actor_counts[1] = 10;
  opt.actor_counts[2] = 100;
  opt.actor_counts[3] = 500;
  opt.actor_counts[4] = 1000;
  opt.n_counts = 5;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) return usage(), 2;
    i++;
    if (!strcmp(a, "--learner")) opt.learner = v;
    else if (!strcmp(a, "--model")) opt.model = v;
    else if (!strcmp(a, "--tasks")) opt.tasks = v;
    else if (!strcmp(a, "--mode")) opt.mode = v;
    else if (!strcmp(a, "--work")) opt.work = v;
    else if (!strcmp(a, "--redis-server")) opt.redis_server = v;
    else if (!strcmp(a, "--rewards")) opt.rewards = atoi(v);
    else if (!strcmp(a, "--reward-slots")) opt.reward_slots = atoi(v);
    else if (!strcmp(a, "--slots")) opt.slots = atoi(v);
    else if (!strcmp(a, "--group")) opt.group = atoi(v);
    else if (!strcmp(a, "--threads")) opt.threads = atoi(v);
    else if (!strcmp(a, "--max-new")) opt.max_new = atoi(v);
    else if (!strcmp(a, "--mean-len")) opt.mean_len = atoi(v);
    else if (!strcmp(a, "--gen-ms")) opt.gen_ms = atof(v);
    else if (!strcmp(a, "--score-ms")) opt.score_ms = atof(v);
    else if (!strcmp(a, "--warmup")) opt.warmup_s = atof(v);
    else if (!strcmp(a, "--window")) opt.window_s = atof(v);
    else if (!strcmp(a, "--ask-ms")) opt.ask_ms = atof(v);
    else if (!strcmp(a, "--actors")) {
      opt.n_counts = 0;
      char *s = strdup(v), *save = NULL;
      for (char *tok = strtok_r(s, ",", &save); tok && opt.n_counts < 16; tok = strtok_r(NULL, ",", &save))
        opt.actor_counts[opt.n_counts++] = atoi(tok);
      free(s);
    } else return usage(), 2;
  }
  if (!opt.learner || !opt.model || !opt.tasks || opt.threads < 1 || opt.threads > 64 || opt.slots < 1 ||
      opt.group < 1 || opt.rewards < 1 || opt.max_new < 1)
    return usage(), 2;
  char tmpl[] = "/tmp/zr-simfleet.XXXXXX";
  if (!opt.work) opt.work = mkdtemp(tmpl);
  mkdir(opt.work, 0755);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rlim_t want = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) perror("setrlimit");
    getrlimit(RLIMIT_NOFILE, &rl);
    fprintf(stderr, "sim_fleet: RLIMIT_NOFILE %llu (inherited by the learner), work dir %s\n",
            (unsigned long long)rl.rlim_cur, opt.work);
  }
  signal(SIGPIPE, SIG_IGN);
  g_lim = zr_frame_limits_default();
  printf("mode %s, G %d, %d group slots per actor, generation %.0f ms per sample (uniform 0.5-1.5x), "
         "completion length exp(mean %d) <= %d tokens, %d reward workers x %d slots, scoring %.0f ms, "
         "%d fleet threads, re-ask %.0f ms after an empty grant, warm-up %.0f s, window %.0f s\n\n",
         opt.mode, opt.group, opt.slots, opt.gen_ms, opt.mean_len, opt.max_new, opt.rewards, opt.reward_slots,
         opt.score_ms, opt.threads, opt.ask_ms, opt.warmup_s, opt.window_s);
  printf("| actors | sockets ok | offered rollouts/s | scored rollouts/s | groups/s | hub msgs/s | fleet->hub MB/s "
         "| lease RTT ms p50 / p90 / p99 / max | grants/s | Redis ops/s | learner CPU | fleet CPU "
         "| rollouts waiting | tasks pending | dropped_bad |\n");
  printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  fflush(stdout);
  int bad = 0;
  for (int i = 0; i < opt.n_counts; i++)
    if (run_one(opt.actor_counts[i], NULL) < 0) bad++;
  return bad ? 1 : 0;
}
