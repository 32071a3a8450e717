/* test_status: the built `zerorl status` against a real redis-server filled the way a learner,
 * actors and reward workers fill it (key names from common/keys.h): the job list, one job's
 * hash, queues, live workers by role and last metrics entry, over TCP, a unix socket, with
 * AUTH and through --config; an unknown job and an unreachable Redis exit 2 with a clear
 * message. The binary: $ZERORL_BINARY_DIR/tools/zerorl. */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/keys.h"
#include "tests/redis_server.h"
#include "tests/test.h"

static char g_zerorl[1024];

/* Runs `zerorl status ARGS` (a shell fragment), returns the exit status; out gets stdout+stderr. */
static int run_status(const char *args, char *out, size_t cap) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "'%s' status %s 2>&1", g_zerorl, args);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void cmd_ok(redisContext *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(c, fmt, ap);
  va_end(ap);
  CHECK(r != NULL && r->type != REDIS_REPLY_ERROR);
  if (r && r->type == REDIS_REPLY_ERROR) fprintf(stderr, "redis: %s (%s)\n", r->str, fmt);
  if (r) freeReplyObject(r);
}

/* What the daemons publish for job `job` under `prefix`. */
static void fill(redisContext *c, const char *prefix, const char *job) {
  char k[ZR_KEY_MAX];
  CHECK_INT(zr_key_jobs(k, sizeof k, prefix), 0);
  cmd_ok(c, "SADD %s %s", k, job);
  CHECK_INT(zr_key_job(k, sizeof k, prefix, job), 0);
  cmd_ok(c, "HSET %s %s running %s 120 %s 118 %s 2 %s 4096 %s tcp://10.0.0.1:5555 %s 2026-11-28T16:40:01.123Z %s "
            "2026-11-28T17:00:00.000Z",
         k, ZR_JOB_STATE, ZR_JOB_STEP, ZR_JOB_POLICY_VERSION, ZR_JOB_EPOCH, ZR_JOB_CURSOR, ZR_JOB_ENDPOINT_WORK,
         ZR_JOB_STARTED_AT, ZR_JOB_UPDATED_AT);
  CHECK_INT(zr_key_job_queue(k, sizeof k, prefix, job), 0);
  cmd_ok(c, "HSET %s %s 12 %s 64 %s 7 %s 3 %s 1 %s 5 %s 2 %s 9 %s 0", k, ZR_QUEUE_TASKS_PENDING,
         ZR_QUEUE_TASKS_LEASED, ZR_QUEUE_ROLLOUTS_WAITING, ZR_QUEUE_ROLLOUTS_SCORING, ZR_QUEUE_GROUPS_READY,
         ZR_QUEUE_RETRIES, ZR_QUEUE_EXPIRED_LEASES, ZR_QUEUE_DROPPED_STALE, ZR_QUEUE_DROPPED_BAD);
  CHECK_INT(zr_key_job_metrics(k, sizeof k, prefix, job), 0);
  cmd_ok(c, "XADD %s * step 119 reward_mean 0.5 kl 0.01", k);
  cmd_ok(c, "XADD %s * step 120 reward_mean 0.75 kl 0.02 entropy 1.25", k);
  struct {
    const char *role, *id, *throughput;
  } w[] = {{ZR_ROLE_NAME_ACTOR, "gpu01-actor-0", "1234.5"},
           {ZR_ROLE_NAME_ACTOR, "gpu01-actor-1", "1180.0"},
           {ZR_ROLE_NAME_REWARD, "cpu07-reward-0", "42.0"},
           {ZR_ROLE_NAME_LEARNER, "gpu00-learner", NULL}};
  for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
    CHECK_INT(zr_key_worker(k, sizeof k, prefix, job, w[i].role, w[i].id), 0);
    cmd_ok(c, "HSET %s %s host-%d %s %d %s running %s 118 %s 2026-11-28T16:40:01.123Z %s 2026-11-28T17:00:00.000Z", k,
           ZR_WORKER_HOST, (int)i, ZR_WORKER_PID, 1000 + (int)i, ZR_WORKER_STATE, ZR_WORKER_POLICY_VERSION,
           ZR_WORKER_STARTED_AT, ZR_WORKER_UPDATED_AT);
    if (w[i].throughput) cmd_ok(c, "HSET %s %s %s", k, ZR_WORKER_THROUGHPUT, w[i].throughput);
    cmd_ok(c, "PEXPIRE %s 30000", k);
  }
  /* a role-specific figure */
  CHECK_INT(zr_key_worker(k, sizeof k, prefix, job, ZR_ROLE_NAME_REWARD, "cpu07-reward-0"), 0);
  cmd_ok(c, "HSET %s slots_busy 3", k);
  /* a worker of another job is not shown */
  CHECK_INT(zr_key_worker(k, sizeof k, prefix, "other", ZR_ROLE_NAME_ACTOR, "stranger"), 0);
  cmd_ok(c, "HSET %s state running", k);
}

int main(void) {
  const char *bin = getenv("ZERORL_BINARY_DIR");
  if (!bin) TEST_SKIP("ZERORL_BINARY_DIR is not set");
  snprintf(g_zerorl, sizeof g_zerorl, "%s/tools/zerorl", bin);
  if (access(g_zerorl, X_OK) != 0) TEST_SKIP("%s is not built", g_zerorl);
  if (!zr_test_redis_available()) TEST_SKIP("redis-server is not installed");

  zr_test_redis srv;
  if (zr_test_redis_start(&srv, -1, NULL) != 0) return 1;
  redisContext *c = redisConnectUnix(srv.sock);
  CHECK(c && !c->err);
  fill(c, "zerorl", "demo");
  fill(c, "staging:zerorl", "exp2");

  static char out[65536];
  char args[2048];

  /* the job list */
  snprintf(args, sizeof args, "--socket %s", srv.sock);
  CHECK_INT(run_status(args, out, sizeof out), 0);
  CHECK_CONTAINS(out, "1 job");
  CHECK_CONTAINS(out, "demo");
  CHECK_CONTAINS(out, "state=running step=120 policy_version=118 epoch=2");
  CHECK(strstr(out, "exp2") == NULL); /* another prefix */

  /* one job over TCP */
  snprintf(args, sizeof args, "--redis 127.0.0.1:%d --job demo", srv.port);
  CHECK_INT(run_status(args, out, sizeof out), 0);
  fputs(out, stderr);
  CHECK_CONTAINS(out, "job demo");
  CHECK_CONTAINS(out, "  state              running\n");
  CHECK_CONTAINS(out, "  step               120\n");
  CHECK_CONTAINS(out, "  policy_version     118\n");
  CHECK_CONTAINS(out, "  epoch              2\n");
  CHECK_CONTAINS(out, "  updated_at         2026-11-28T17:00:00.000Z\n");
  CHECK_CONTAINS(out, "  endpoint_work      tcp://10.0.0.1:5555\n");
  CHECK_CONTAINS(out, "  tasks_pending      12\n");
  CHECK_CONTAINS(out, "  tasks_leased       64\n");
  CHECK_CONTAINS(out, "  rollouts_waiting   7\n");
  CHECK_CONTAINS(out, "  dropped_stale      9\n");
  CHECK_CONTAINS(out, "workers: 4 live");
  CHECK_CONTAINS(out, "  actor (2)\n    gpu01-actor-0 state=running policy_version=118 throughput=1234.5");
  CHECK_CONTAINS(out, "    gpu01-actor-1 state=running policy_version=118 throughput=1180.0");
  CHECK_CONTAINS(out, "  reward (1)\n    cpu07-reward-0 state=running policy_version=118 throughput=42.0");
  CHECK_CONTAINS(out, "slots_busy=3");
  CHECK_CONTAINS(out, "  learner (1)\n    gpu00-learner state=running");
  CHECK_CONTAINS(out, " ttl=");
  CHECK(strstr(out, "stranger") == NULL);
  CHECK_CONTAINS(out, "metrics: last entry ");
  CHECK_CONTAINS(out, "step=120 reward_mean=0.75 kl=0.02 entropy=1.25");
  CHECK(strstr(out, "reward_mean=0.5 ") == NULL);

  /* another prefix, over the socket */
  snprintf(args, sizeof args, "--socket %s --prefix staging:zerorl --job exp2", srv.sock);
  CHECK_INT(run_status(args, out, sizeof out), 0);
  CHECK_CONTAINS(out, "job exp2");
  CHECK_CONTAINS(out, "workers: 4 live");

  /* a worker whose key expired is gone */
  char k[ZR_KEY_MAX];
  zr_key_worker(k, sizeof k, "zerorl", "demo", ZR_ROLE_NAME_ACTOR, "gpu01-actor-1");
  cmd_ok(c, "DEL %s", k);
  snprintf(args, sizeof args, "--socket %s --job demo", srv.sock);
  CHECK_INT(run_status(args, out, sizeof out), 0);
  CHECK_CONTAINS(out, "workers: 3 live");
  CHECK_CONTAINS(out, "  actor (1)\n");
  CHECK(strstr(out, "gpu01-actor-1") == NULL);

  /* --config: [redis] and [job] id from a job config */
  char ini[256];
  snprintf(ini, sizeof ini, "%s/job.ini", srv.dir);
  FILE *f = fopen(ini, "w");
  CHECK(f != NULL);
  if (f) {
    fprintf(f, "[job]\nid = demo\n[redis]\nsocket = %s\nprefix = zerorl\n", srv.sock);
    fclose(f);
  }
  snprintf(args, sizeof args, "--config %s", ini);
  CHECK_INT(run_status(args, out, sizeof out), 0);
  CHECK_CONTAINS(out, "job demo");
  CHECK_CONTAINS(out, "tasks_pending      12");

  /* --watch redraws until interrupted: two frames in ~1.3 s, then SIGINT exits 0 */
  snprintf(args, sizeof args, "--socket %s --job demo --watch 0.5 & pid=$!; sleep 1.3; kill -INT $pid; wait $pid",
           srv.sock);
  CHECK_INT(run_status(args, out, sizeof out), 0);
  {
    int frames = 0;
    for (const char *p = out; (p = strstr(p, "job demo (redis")); p++) frames++;
    CHECK(frames >= 2);
  }

  /* an unknown job */
  snprintf(args, sizeof args, "--socket %s --job nosuchjob", srv.sock);
  CHECK_INT(run_status(args, out, sizeof out), 2);
  CHECK_CONTAINS(out, "unknown job 'nosuchjob'");
  CHECK_CONTAINS(out, "known jobs: demo");

  /* a job id that cannot be a key component */
  snprintf(args, sizeof args, "--socket %s --job 'a:b'", srv.sock);
  CHECK_INT(run_status(args, out, sizeof out), 2);
  CHECK_CONTAINS(out, "job");

  /* usage errors */
  CHECK_INT(run_status("--bogus", out, sizeof out), 2);
  CHECK_CONTAINS(out, "unknown argument '--bogus'");
  CHECK_INT(run_status("--redis nohostport:x", out, sizeof out), 2);
  CHECK_INT(run_status("--help", out, sizeof out), 0);
  CHECK_CONTAINS(out, "usage: zerorl status");

  /* Redis with AUTH: no password is refused, the right one works */
  zr_test_redis auth;
  if (zr_test_redis_start(&auth, 0, "s3cr3t") == 0) {
    snprintf(args, sizeof args, "--socket %s", auth.sock);
    CHECK_INT(run_status(args, out, sizeof out), 2);
    CHECK_CONTAINS(out, "NOAUTH");
    snprintf(args, sizeof args, "--socket %s --password s3cr3t", auth.sock);
    CHECK_INT(run_status(args, out, sizeof out), 0);
    CHECK_CONTAINS(out, "0 jobs");
    zr_test_redis_stop(&auth);
  } else {
    CHECK(0);
  }

  /* unreachable Redis: a free port, a missing socket */
  redisFree(c);
  int port = srv.port;
  zr_test_redis_stop(&srv);
  snprintf(args, sizeof args, "--redis 127.0.0.1:%d --job demo", port);
  CHECK_INT(run_status(args, out, sizeof out), 2);
  CHECK_CONTAINS(out, "cannot connect to Redis at 127.0.0.1:");
  CHECK_CONTAINS(out, "refused");
  CHECK_INT(run_status("--socket /nonexistent/redis.sock", out, sizeof out), 2);
  CHECK_CONTAINS(out, "cannot connect to Redis at unix:/nonexistent/redis.sock");

  return TEST_DONE();
}
