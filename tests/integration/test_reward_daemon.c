/* Integration test for the zerorl-reward daemon (reward/reward_main.c, reward/worker.h): the
 * test plays the learner hub. It starts a real redis-server, writes a job config, spawns the
 * real binary and answers its WorkRequests from a ROUTER on loopback:
 *
 *   refuse     a config without [job] id: exit 1 with a message naming it
 *   score      math right / wrong / no answer (with a format weight), countdown, a Python
 *              assert task in the sandbox: reward, status and components of each answer
 *   credit     the hub only sends what the latest WorkRequest asked for, and checks that every
 *              request's free_capacity plus the requests it holds never exceeds the slots
 *   bad input  a garbage frame and another job's request are dropped, counted (heartbeat
 *              field dropped_bad) and the worker keeps scoring
 *   heartbeat  zerorl:worker:JOB:reward:ID exists with state running and the slot count
 *   timeout    a code check over its deadline_ms answers TIMEOUT with the configured reward
 *   drain      SIGTERM while a slow code check runs: it is answered, no more asks, exit 0,
 *              the heartbeat key is deleted
 *
 * Every wait has a deadline. */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/frame.h"
#include "common/zsock.h"
#include "tests/redis_server.h"
#include "tests/test.h"

#define JOB "rd-job"
#define WORKER_ID "rdtest0worker0000000000000000001"
#define SLOTS 2
#define MAXREQ 64

static uv_loop_t loop;
static zr_zsock *router;
static char bin[1024];

/* ---- the hub ---------------------------------------------------------------------------- */

typedef struct {
  uint8_t *buf;
  size_t len;
  uint64_t id;
} queued;

typedef struct {
  int got;
  double reward;
  int status;
  uint32_t score_ms;
  char task_id[64], detail[256];
  int n;
  char name[8][32], cstatus[8][32];
  double value[8], weight[8];
} result;

static struct {
  uint8_t peer[256];
  size_t peer_len;
  int credit, outstanding, max_outstanding;
  int sent_since_ask; /* requests sent since the latest WorkRequest arrived (some may be in transit) */
  int asks, over_asks, bad_role, unexpected, bad_decode;
  queued q[MAXREQ];
  int qhead, qtail;
  int state[MAXREQ]; /* 0 never sent, 1 sent, 2 answered */
  result res[MAXREQ];
} hub;

static void pump_queue(void) {
  while (hub.credit > 0 && hub.qhead < hub.qtail && hub.peer_len) {
    queued *q = &hub.q[hub.qhead++];
    zr_zsock_part parts[2] = {{hub.peer, hub.peer_len}, {q->buf, q->len}};
    CHECK_INT(zr_zsock_send(router, parts, 2), 0);
    free(q->buf);
    q->buf = NULL;
    hub.credit--;
    hub.sent_since_ask++;
    hub.state[q->id] = 1;
    if (++hub.outstanding > hub.max_outstanding) hub.max_outstanding = hub.outstanding;
  }
}

static void on_hub_msg(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  (void)s, (void)user;
  if (n < 2) return;
  size_t plen = zmq_msg_size(&parts[0]);
  if (plen <= sizeof hub.peer) {
    memcpy(hub.peer, zmq_msg_data(&parts[0]), plen);
    hub.peer_len = plen;
  }
  zr_bytes frames[8];
  for (size_t i = 1; i < n && i < 9; i++) frames[i - 1] = (zr_bytes){zmq_msg_data(&parts[i]), zmq_msg_size(&parts[i])};
  zr_frame_limits lim = zr_frame_limits_default();
  zr_frame_msg m;
  if (zr_frame_decode(&m, frames, n - 1, JOB, &lim) < 0) {
    fprintf(stderr, "hub: undecodable message: %s\n", zr_errmsg());
    hub.bad_decode++;
    return;
  }
  Zerorl__Envelope *e = m.env;
  if (e->body_case == ZERORL__ENVELOPE__BODY_WORK_REQUEST) {
    const Zerorl__WorkRequest *wr = e->work_request;
    hub.asks++;
    if (wr->role != ZERORL__ROLE__ROLE_REWARD) hub.bad_role++;
    /* What the worker held when it asked is what the hub holds minus what is still on its way
     * to it, which is at most what was sent since the previous ask arrived. */
    if ((int)wr->free_capacity + hub.outstanding - hub.sent_since_ask > SLOTS) {
      fprintf(stderr, "hub: ask for %u with %d held (slots %d)\n", wr->free_capacity, hub.outstanding, SLOTS);
      hub.over_asks++;
    }
    /* The latest request sets the credit, less what may have crossed it. */
    hub.credit = (int)wr->free_capacity - hub.sent_since_ask;
    if (hub.credit < 0) hub.credit = 0;
    hub.sent_since_ask = 0;
  } else if (e->body_case == ZERORL__ENVELOPE__BODY_SCORED_ROLLOUT) {
    const Zerorl__ScoredRollout *sr = e->scored_rollout;
    if (sr->score_id >= MAXREQ || hub.state[sr->score_id] != 1) {
      fprintf(stderr, "hub: unexpected answer score_id=%llu\n", (unsigned long long)sr->score_id);
      hub.unexpected++;
    } else {
      hub.state[sr->score_id] = 2;
      hub.outstanding--;
      result *r = &hub.res[sr->score_id];
      r->got = 1;
      r->reward = sr->reward;
      r->status = sr->status;
      r->score_ms = sr->score_ms;
      snprintf(r->task_id, sizeof r->task_id, "%s", sr->task_id);
      snprintf(r->detail, sizeof r->detail, "%s", sr->detail);
      for (size_t i = 0; i < sr->n_components && i < 8; i++) {
        snprintf(r->name[i], 32, "%s", sr->components[i]->name);
        snprintf(r->cstatus[i], 32, "%s", sr->components[i]->status);
        r->value[i] = sr->components[i]->value;
        r->weight[i] = sr->components[i]->weight;
        r->n++;
      }
      fprintf(stderr, "hub: score_id=%llu reward=%g status=%d score_ms=%u detail=%s\n",
              (unsigned long long)sr->score_id, r->reward, r->status, r->score_ms, r->detail);
    }
  } else {
    hub.unexpected++;
  }
  zr_frame_msg_release(&m);
  pump_queue();
}

typedef struct {
  const char *kind, *completion, *answer, *tests_json, *language;
  int64_t numbers[4];
  size_t n_numbers;
  int64_t target;
  uint32_t deadline_ms;
  double w_accuracy, w_format; /* both 0: no weights sent (accuracy alone) */
} spec;

static uint8_t *encode_request(uint64_t id, const spec *sp, const char *job, size_t *len) {
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  Zerorl__ScoreRequest req = ZERORL__SCORE_REQUEST__INIT;
  Zerorl__Rollout ro = ZERORL__ROLLOUT__INIT;
  Zerorl__VerifierSpec v = ZERORL__VERIFIER_SPEC__INIT;
  Zerorl__RewardWeight wa = ZERORL__REWARD_WEIGHT__INIT, wf = ZERORL__REWARD_WEIGHT__INIT;
  Zerorl__RewardWeight *ws[2] = {&wa, &wf};
  char task_id[32];
  snprintf(task_id, sizeof task_id, "task-%llu", (unsigned long long)id);
  ro.task_id = task_id;
  ro.sample_index = (uint32_t)id;
  ro.completion_text = (char *)sp->completion;
  v.kind = (char *)sp->kind;
  if (sp->answer) v.answer = (char *)sp->answer;
  if (sp->tests_json) v.tests_json = (char *)sp->tests_json;
  if (sp->language) v.language = (char *)sp->language;
  v.numbers = (int64_t *)sp->numbers;
  v.n_numbers = sp->n_numbers;
  v.target = sp->target;
  if (sp->w_accuracy != 0 || sp->w_format != 0) {
    wa.name = "accuracy";
    wa.weight = sp->w_accuracy;
    wf.name = "format";
    wf.weight = sp->w_format;
    v.rewards = ws;
    v.n_rewards = 2;
  }
  req.score_id = id;
  req.rollout = &ro;
  req.verifier = &v;
  req.deadline_ms = sp->deadline_ms;
  env.body_case = ZERORL__ENVELOPE__BODY_SCORE_REQUEST;
  env.score_request = &req;
  uint8_t *buf = NULL;
  CHECK_INT(zr_frame_encode(&env, job, "hub", 0, &buf, len), 0);
  return buf;
}

static void enqueue(uint64_t id, const spec *sp) {
  ZR_ASSERT(hub.qtail < MAXREQ && id < MAXREQ);
  hub.q[hub.qtail].buf = encode_request(id, sp, JOB, &hub.q[hub.qtail].len);
  hub.q[hub.qtail++].id = id;
  pump_queue();
}

/* Sends one frame to the worker outside the credit (bad input). */
static void send_raw(const void *data, size_t len) {
  zr_zsock_part parts[2] = {{hub.peer, hub.peer_len}, {data, len}};
  CHECK_INT(zr_zsock_send(router, parts, 2), 0);
}

/* ---- waiting ------------------------------------------------------------------------------ */

static pid_t child;
static int child_status = -1;

static void reap(void) {
  int st;
  if (child > 0 && waitpid(child, &st, WNOHANG) == child) {
    child_status = st;
    child = 0;
  }
}

static uv_timer_t ticker;
static void on_tick(uv_timer_t *t) { (void)t; }

static int wait_for(int (*pred)(void *), void *arg, uint64_t timeout_ms) {
  uint64_t deadline = zr_clock_mono_ms() + timeout_ms;
  while (!(pred && pred(arg)) && zr_clock_mono_ms() < deadline) {
    uv_run(&loop, UV_RUN_ONCE);
    reap();
  }
  return pred && pred(arg);
}
static void pump(uint64_t ms) { wait_for(NULL, NULL, ms); }

static int has_asked(void *p) { (void)p; return hub.asks > 0; }
static int all_answered(void *p) { (void)p; return hub.outstanding == 0 && hub.qhead == hub.qtail; }
static int got(void *p) { return hub.res[(uintptr_t)p].got; }
static int child_gone_and_got(void *p) { return child == 0 && hub.res[(uintptr_t)p].got; }

/* ---- checks --------------------------------------------------------------------------------- */

static const result *res(uint64_t id) { return &hub.res[id]; }

static double comp_value(const result *r, const char *name, const char **status) {
  for (int i = 0; i < r->n; i++)
    if (strcmp(r->name[i], name) == 0) {
      if (status) *status = r->cstatus[i];
      return r->value[i];
    }
  if (status) *status = NULL;
  return -99;
}

static double absd(double x) { return x < 0 ? -x : x; }
#define CHECK_NEAR(a, b) CHECK(absd((double)(a) - (double)(b)) < 1e-9)

static char *redis_hget(redisContext *c, const char *key, const char *field) {
  redisReply *r = redisCommand(c, "HGET %s %s", key, field);
  char *out = r && r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
  if (r) freeReplyObject(r);
  return out;
}

static long long redis_int(redisContext *c, const char *cmd, const char *key) {
  redisReply *r = redisCommand(c, "%s %s", cmd, key);
  long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -999;
  if (r) freeReplyObject(r);
  return v;
}

/* Polls HGET until it equals want (3 s at most), pumping the hub meanwhile. */
static int wait_field(redisContext *c, const char *key, const char *field, const char *want) {
  uint64_t deadline = zr_clock_mono_ms() + 3000;
  for (;;) {
    char *v = redis_hget(c, key, field);
    int ok = v && strcmp(v, want) == 0;
    if (!ok && zr_clock_mono_ms() >= deadline) fprintf(stderr, "%s %s = %s, want %s\n", key, field, v ? v : "(nil)", want);
    free(v);
    if (ok) return 1;
    if (zr_clock_mono_ms() >= deadline) return 0;
    pump(50);
  }
}

/* ---- the daemon's process ------------------------------------------------------------------- */

static pid_t spawn(const char *cfg, const char *endpoint) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    execl(bin, bin, "--config", cfg, "--learner", endpoint, "--slots", "2", "--id", WORKER_ID, "--set",
          "reward.timeout_reward=-0.5", (char *)NULL);
    _exit(127);
  }
  return pid;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

/* A config without [job] id: the daemon refuses to start, saying why. */
static void test_refuse(const char *dir) {
  char cfg[256], cmd[1500], out[4096] = "";
  snprintf(cfg, sizeof cfg, "%s/noid.ini", dir);
  write_file(cfg, "[job]\nname = no id\n");
  snprintf(cmd, sizeof cmd, "'%s' --config '%s' 2>&1", bin, cfg);
  FILE *p = popen(cmd, "r");
  CHECK(p != NULL);
  if (!p) return;
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = '\0';
  int st = pclose(p);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
  CHECK_CONTAINS(out, "[job] id is not set");
  unlink(cfg);
}

int main(void) {
  const char *bdir = getenv("ZERORL_BINARY_DIR");
  if (!bdir) TEST_SKIP("ZERORL_BINARY_DIR is not set (run through ctest)");
  snprintf(bin, sizeof bin, "%s/reward/zerorl-reward", bdir);
  if (access(bin, X_OK) != 0) {
    fprintf(stderr, "FAIL: %s is missing (build the zerorl-reward target)\n", bin);
    return 1;
  }
  if (!zr_test_redis_available()) TEST_SKIP("redis-server is not installed");
  uint64_t t0 = zr_clock_mono_ms();

  zr_test_redis srv;
  if (zr_test_redis_start(&srv, 0, NULL) != 0) return 1;
  test_refuse(srv.dir);

  CHECK_INT(uv_loop_init(&loop), 0);
  uv_timer_init(&loop, &ticker);
  uv_timer_start(&ticker, on_tick, 20, 20);
  void *ctx = zmq_ctx_new();
  router = zr_zsock_new(&loop, ctx, ZMQ_ROUTER, NULL, on_hub_msg, NULL);
  CHECK(router != NULL);
  CHECK_INT(zr_zsock_bind(router, "tcp://127.0.0.1:*"), 0);
  char ep[256];
  CHECK_INT(zr_zsock_last_endpoint(router, ep, sizeof ep), 0);

  char cfg[256], text[1024];
  snprintf(cfg, sizeof cfg, "%s/job.ini", srv.dir);
  snprintf(text, sizeof text,
           "[job]\nid = " JOB "\n\n[reward]\nslots = 3\ndefault_deadline = 20s\ntimeout_reward = 0\n\n"
           "[redis]\nsocket = %s\nheartbeat_interval = 100ms\nheartbeat_ttl = 5s\nbackoff_min = 50ms\n"
           "backoff_max = 500ms\n\n[net]\nlinger = 2s\n",
           srv.sock);
  write_file(cfg, text);
  child = spawn(cfg, ep);
  CHECK(child > 0);

  /* ---- scoring ---- */
  CHECK(wait_for(has_asked, NULL, 20000));
  const char *tests = "{\"type\": \"assert\", \"code\": \"assert add(1, 2) == 3\\nassert add(-1, 1) == 0\\n\", "
                      "\"entry_point\": \"add\"}";
  spec right = {.kind = "math", .completion = "<think>6 * 7</think> <answer>42</answer>", .answer = "42",
                .w_accuracy = 1, .w_format = 0.5};
  spec wrong = right;
  wrong.completion = "<think>6 * 7 is about 41</think> <answer>41</answer>";
  spec none = right;
  none.completion = "I am not sure.";
  spec countdown = {.kind = "countdown", .completion = "<answer>3 * 5 + 7</answer>", .numbers = {3, 5, 7},
                    .n_numbers = 3, .target = 22};
  spec code = {.kind = "code", .completion = "Here:\n```python\ndef add(a, b):\n    return a + b\n```\n",
               .tests_json = tests, .language = "python3"};
  enqueue(1, &right);
  enqueue(2, &wrong);
  enqueue(3, &none);
  enqueue(4, &countdown);
  enqueue(5, &code);
  CHECK(wait_for(all_answered, NULL, 60000));
  const char *st;
  CHECK_NEAR(res(1)->reward, 1.5);
  CHECK_INT(res(1)->status, ZERORL__VERIFIER_STATUS__VERIFIER_OK);
  CHECK_STR(res(1)->task_id, "task-1");
  CHECK_NEAR(comp_value(res(1), "accuracy", &st), 1.0);
  CHECK_STR(st, "correct");
  CHECK_NEAR(comp_value(res(1), "format", &st), 1.0);
  CHECK_STR(st, "match");
  CHECK_NEAR(res(2)->reward, 0.5);
  CHECK_INT(res(2)->status, ZERORL__VERIFIER_STATUS__VERIFIER_OK);
  CHECK_NEAR(comp_value(res(2), "accuracy", &st), 0.0);
  CHECK_STR(st, "wrong");
  CHECK_NEAR(res(3)->reward, 0.0);
  CHECK_INT(res(3)->status, ZERORL__VERIFIER_STATUS__VERIFIER_NO_ANSWER);
  CHECK_NEAR(comp_value(res(3), "accuracy", &st), 0.0);
  CHECK_STR(st, "no_answer");
  CHECK_NEAR(comp_value(res(3), "format", &st), 0.0);
  CHECK_NEAR(res(4)->reward, 1.0);
  CHECK_INT(res(4)->status, ZERORL__VERIFIER_STATUS__VERIFIER_OK);
  CHECK_INT(res(4)->n, 1);
  CHECK_NEAR(res(5)->reward, 1.0);
  CHECK_INT(res(5)->status, ZERORL__VERIFIER_STATUS__VERIFIER_OK);
  CHECK_NEAR(comp_value(res(5), "accuracy", &st), 1.0);
  CHECK_STR(st, "correct");
  CHECK_CONTAINS(res(5)->detail, "passed 2/2");
  fprintf(stderr, "scored 5 in %llu ms since start\n", (unsigned long long)(zr_clock_mono_ms() - t0));

  /* ---- bad input: dropped and counted; the worker keeps scoring ---- */
  send_raw("\xff\xfe this is not an envelope", 26);
  size_t wl = 0;
  uint8_t *wj = encode_request(40, &right, "other-job", &wl);
  send_raw(wj, wl);
  free(wj);
  enqueue(6, &right);
  CHECK(wait_for(got, (void *)(uintptr_t)6, 20000));
  CHECK_NEAR(res(6)->reward, 1.5);
  CHECK_INT(hub.state[40], 0);

  /* ---- heartbeat ---- */
  char key[256];
  snprintf(key, sizeof key, "zerorl:worker:" JOB ":reward:" WORKER_ID);
  struct timeval tv = {2, 0};
  redisContext *rc = redisConnectUnixWithTimeout(srv.sock, tv);
  CHECK(rc && !rc->err);
  if (rc && !rc->err) {
    redisSetTimeout(rc, tv);
    CHECK_INT(redis_int(rc, "EXISTS", key), 1);
    CHECK(wait_field(rc, key, "dropped_bad", "2"));
    CHECK(wait_field(rc, key, "state", "running"));
    CHECK(wait_field(rc, key, "slots", "2"));
    CHECK(wait_field(rc, key, "scored", "6"));
    char *tp = redis_hget(rc, key, "throughput");
    CHECK(tp != NULL);
    free(tp);
    CHECK(redis_int(rc, "PTTL", key) > 0);
  }

  /* ---- a check over its budget: TIMEOUT with the configured reward ---- */
  spec slow_fail = code;
  slow_fail.completion = "```python\nimport time\ndef add(a, b):\n    time.sleep(30)\n    return a + b\n```\n";
  slow_fail.deadline_ms = 1500;
  uint64_t tt = zr_clock_mono_ms();
  enqueue(7, &slow_fail);
  CHECK(wait_for(got, (void *)(uintptr_t)7, 15000));
  CHECK_INT(res(7)->status, ZERORL__VERIFIER_STATUS__VERIFIER_TIMEOUT);
  CHECK_NEAR(res(7)->reward, -0.5);
  fprintf(stderr, "timeout answered after %llu ms\n", (unsigned long long)(zr_clock_mono_ms() - tt));

  /* ---- drain: SIGTERM with a slow check in flight ---- */
  spec slow_ok = code;
  slow_ok.completion = "```python\nimport time\ndef add(a, b):\n    time.sleep(0.7)\n    return a + b\n```\n";
  enqueue(8, &slow_ok);
  CHECK(wait_for(all_answered, NULL, 100) == 0); /* still running */
  CHECK_INT(hub.state[8], 1);
  pump(200); /* let the worker take it */
  uint64_t td = zr_clock_mono_ms();
  CHECK(child > 0);
  if (child > 0) kill(child, SIGTERM);
  CHECK(wait_for(child_gone_and_got, (void *)(uintptr_t)8, 30000));
  int asks_at_answer = hub.asks;
  pump(300);
  fprintf(stderr, "drain took %llu ms\n", (unsigned long long)(zr_clock_mono_ms() - td));
  CHECK_INT(res(8)->status, ZERORL__VERIFIER_STATUS__VERIFIER_OK);
  CHECK_NEAR(res(8)->reward, 1.0);
  CHECK_INT(hub.asks, asks_at_answer); /* no asks while draining */
  CHECK(child_status != -1 && WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0);
  if (child_status != -1 && !(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0))
    fprintf(stderr, "zerorl-reward: wait status %d\n", child_status);
  if (rc && !rc->err) CHECK_INT(redis_int(rc, "EXISTS", key), 0);

  /* ---- the hub's view of the whole conversation ---- */
  CHECK_INT(hub.over_asks, 0);
  CHECK_INT(hub.bad_role, 0);
  CHECK_INT(hub.unexpected, 0);
  CHECK_INT(hub.bad_decode, 0);
  CHECK(hub.max_outstanding <= SLOTS);
  CHECK_INT(hub.max_outstanding, SLOTS); /* the slots were used */
  fprintf(stderr, "asks=%d max_outstanding=%d total %llu ms\n", hub.asks, hub.max_outstanding,
          (unsigned long long)(zr_clock_mono_ms() - t0));

  if (child > 0) {
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
  }
  if (rc) redisFree(rc);
  zr_zsock_free(&router);
  uv_close((uv_handle_t *)&ticker, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(&loop), 0);
  zmq_ctx_term(ctx);
  unlink(cfg);
  zr_test_redis_stop(&srv);
  return TEST_DONE();
}
