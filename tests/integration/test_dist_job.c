/* Whole-job integration test of a data-parallel learner group on CPUs: the real zerorl-learner
 * binary as rank 0 and rank 1 (`--world-size 2 --rank R`), a real actor and reward worker, a
 * real redis-server on a Unix socket; the ranks meet through Redis and ZeroMQ TCP on loopback.
 *
 * Rewards come from the reward worker's `sim` engine (1 with probability 0.5), so groups carry a
 * signal and the ranks really all-reduce gradients.
 *
 * 1. done: the group trains 6 optimizer steps; rank 0 ends the job (exit 0, Redis state done,
 *    metrics.jsonl has the steps), rank 1 hears the end and exits 0; the rendezvous hash is
 *    deleted.
 *    Then both are started again with total_steps 8, rank 0 with --resume: rank 1 loads the
 *    same checkpoint (step 6) and both end at step 8.
 * 2. rank 1 killed (SIGKILL) mid-job: rank 0 exits 1 within [learner] collective_timeout (3 s)
 *    plus slack, its log names rank 1, and the job state in Redis is failed.
 * 3. rank 0 killed: rank 1 exits 1 within the timeout plus slack, naming rank 0. */
#include <hiredis/hiredis.h>
#include <stdbool.h>

#include "common/keys.h"
#include "tests/integration/job_util.h"
#include "tests/redis_server.h"
#include "tests/test.h"

#define N_TASKS 48
#define G 4

static char root[64], zbin[1100], lbin[1100], abin[1100], rbin[1100];
static char model[256], tasks[256];
static zr_test_redis srv;

typedef struct {
  char name[32], job[64], dir[128], run[160], cfg[200], trained[200], log0[200], log1[200], key[256], dkey[256];
} job;

static void cleanup_root(void) {
  ju_kill_all();
  if (root[0] && !getenv("ZR_JOB_KEEP")) ju_run("rm -rf '%s'", root);
}

static void job_init(job *j, const char *name) {
  memset(j, 0, sizeof *j);
  snprintf(j->name, sizeof j->name, "%s", name);
  snprintf(j->job, sizeof j->job, "dist-%s", name);
  snprintf(j->dir, sizeof j->dir, "%s/%s", root, name);
  snprintf(j->run, sizeof j->run, "%s/run", j->dir);
  snprintf(j->cfg, sizeof j->cfg, "%s/config.ini", j->run);
  snprintf(j->trained, sizeof j->trained, "%s/trained.jsonl", j->run);
  snprintf(j->log0, sizeof j->log0, "%s/logs/learner0.log", j->run);
  snprintf(j->log1, sizeof j->log1, "%s/logs/learner1.log", j->run);
  zr_key_job(j->key, sizeof j->key, "zerorl", j->job);
  zr_key_job_dist(j->dkey, sizeof j->dkey, "zerorl", j->job);
  ju_run("mkdir -p '%s/logs'", j->run);
  char text[4096];
  snprintf(text, sizeof text,
           "[job]\nid = %s\nname = %s\nrun_dir = %s\n"
           "[model]\npath = %s\nthreads = 1\n"
           "[data]\ntrain = %s\ntemplate = raw\nepochs = 0\n"
           "[algo]\ngroup_size = %d\ngroups_per_batch = 4\nmax_new_tokens = 32\nupdates_per_batch = 2\n"
           "[actor]\nslots = 8\nmax_len = 80\nthreads = 1\nlease_margin = 500ms\nask_interval = 200ms\n"
           "[learner]\nlr = 1e-4\ntotal_steps = 6\ncheckpoint_every = 2\nlease = 5s\nscore_deadline = 3s\n"
           "drain_timeout = 4s\nmax_task_retries = 50\nmicro_batch_tokens = 256\ncollective_timeout = 3s\n"
           "[reward]\nengine = sim\nsim_correct = 0.5\n" /* rewards that differ: real optimizer steps */
           "[redis]\nsocket = %s\nheartbeat_interval = 300ms\nheartbeat_ttl = 2s\nbackoff_min = 50ms\n"
           "backoff_max = 300ms\n"
           "[net]\nlearner_tasks = ipc://%s/w\nlearner_weights = ipc://%s/c\nlearner_announce = ipc://%s/a\n",
           j->job, name, j->run, model, tasks, G, srv.sock, j->dir, j->dir, j->dir);
  CHECK_INT(ju_write_file(j->cfg, text), 0);
}

static pid_t start_rank_opt(const job *j, int rank, const char *total_steps, bool resume) {
  char r[8], set[64];
  snprintf(r, sizeof r, "%d", rank);
  snprintf(set, sizeof set, "learner.total_steps=%s", total_steps);
  char *argv[] = {lbin, "--config", (char *)j->cfg, "--run-dir", (char *)j->run, "--world-size", "2", "--rank", r,
                  "--set", set, resume ? "--resume" : NULL, NULL};
  return ju_spawn(rank ? j->log1 : j->log0, argv);
}
static pid_t start_rank(const job *j, int rank, const char *total_steps) {
  return start_rank_opt(j, rank, total_steps, false);
}

static pid_t start_actor(const job *j) {
  char log[256];
  snprintf(log, sizeof log, "%s/logs/actor.log", j->run);
  char *argv[] = {abin, "--config", (char *)j->cfg, "--id", "actor-1", "--threads", "1", NULL};
  return ju_spawn(log, argv);
}

static pid_t start_reward(const job *j) {
  char log[256];
  snprintf(log, sizeof log, "%s/logs/reward.log", j->run);
  char *argv[] = {rbin, "--config", (char *)j->cfg, "--id", "rw-1", "--slots", "2", NULL};
  return ju_spawn(log, argv);
}

static void show_log_on_failure(const char *path, int failures_before) {
  if (zr_test_failures == failures_before) return;
  char *s = ju_read_file(path);
  if (!s) return;
  size_t n = strlen(s);
  fprintf(stderr, "---- tail of %s ----\n%s\n", path, s + (n > 5000 ? n - 5000 : 0));
  free(s);
}

/* exit code of pid within timeout_ms, or -1 (then it is killed) */
static int exit_code(pid_t pid, int timeout_ms) {
  int st = 0;
  if (!ju_wait(pid, timeout_ms, &st)) {
    ju_stop(pid, SIGKILL, 1000);
    return -1;
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_done(void) {
  int f0 = zr_test_failures;
  job j;
  job_init(&j, "done");
  pid_t r1 = start_rank(&j, 1, "6"); /* before rank 0: it waits for the Redis hash */
  ju_sleep_ms(300);
  pid_t r0 = start_rank(&j, 0, "6");
  pid_t rw = start_reward(&j);
  pid_t a = start_actor(&j);
  int c0 = exit_code(r0, 240000);
  int c1 = exit_code(r1, 20000);
  fprintf(stderr, "done: rank 0 exit %d, rank 1 exit %d\n", c0, c1);
  CHECK_INT(c0, 0);
  CHECK_INT(c1, 0);
  char *state = ju_hget(srv.sock, j.key, "state");
  CHECK(state && strcmp(state, "done") == 0);
  free(state);
  CHECK_INT(ju_hget_ll(srv.sock, j.key, "step"), 6);
  CHECK(!ju_exists(srv.sock, j.dkey));
  CHECK(ju_count_in_file(j.log0, "rank 0 of 2: gradients over zmq") == 1);
  CHECK(ju_count_in_file(j.log1, "rank 0 ended the job (exit code 0) at step 6") == 1);
  /* resume: rank 0 from its last checkpoint (--resume), rank 1 loads the same one */
  r1 = start_rank_opt(&j, 1, "8", false);
  r0 = start_rank_opt(&j, 0, "8", true);
  c0 = exit_code(r0, 240000);
  c1 = exit_code(r1, 20000);
  fprintf(stderr, "resume: rank 0 exit %d, rank 1 exit %d\n", c0, c1);
  CHECK_INT(c0, 0);
  CHECK_INT(c1, 0);
  CHECK_INT(ju_hget_ll(srv.sock, j.key, "step"), 8);
  CHECK(ju_count_in_file(j.log1, "ready at step 6 (") == 1);
  CHECK(ju_count_in_file(j.log1, "rank 0 ended the job (exit code 0) at step 8") == 1);
  ju_stop(a, SIGTERM, 5000);
  ju_stop(rw, SIGTERM, 5000);
  show_log_on_failure(j.log0, f0);
  show_log_on_failure(j.log1, f0);
}

static void test_kill(int victim) {
  int f0 = zr_test_failures;
  job j;
  job_init(&j, victim ? "kill1" : "kill0");
  pid_t r1 = start_rank(&j, 1, "100000");
  pid_t r0 = start_rank(&j, 0, "100000");
  pid_t rw = start_reward(&j);
  pid_t a = start_actor(&j);
  CHECK(ju_wait_lines(j.trained, 8, 120000)); /* two batches trained together */
  ju_stop(victim ? r1 : r0, SIGKILL, 2000);
  uint64_t t0 = ju_now_ms();
  int code = exit_code(victim ? r0 : r1, 20000);
  uint64_t took = ju_now_ms() - t0;
  const char *log = victim ? j.log0 : j.log1;
  fprintf(stderr, "kill rank %d: rank %d exited %d after %llu ms\n", victim, 1 - victim, code, (unsigned long long)took);
  CHECK_INT(code, 1);
  CHECK(took <= 3000 + 8000);
  if (victim) /* found at its next send (the TCP connection is gone) or by its silence */
    CHECK(ju_count_in_file(log, "rank 1 is not connected") + ju_count_in_file(log, "rank 1 has not been heard") >= 1);
  else
    CHECK(ju_count_in_file(log, "rank 0 has not been heard") + ju_count_in_file(log, "rank 0 did not answer") >= 1);
  if (victim) {
    char *state = ju_hget(srv.sock, j.key, "state");
    CHECK(state && strcmp(state, "failed") == 0);
    free(state);
  }
  ju_stop(a, SIGTERM, 5000);
  ju_stop(rw, SIGTERM, 5000);
  show_log_on_failure(log, f0);
}

static void test_kill1(void) { test_kill(1); }
static void test_kill0(void) { test_kill(0); }

static bool want(const char *name) {
  const char *only = getenv("ZR_JOB_TEST");
  return !only || !*only || strstr(only, name) != NULL;
}

int main(void) {
  const char *bdir = getenv("ZERORL_BINARY_DIR");
  if (!bdir) TEST_SKIP("ZERORL_BINARY_DIR is not set (run through ctest)");
  if (!zr_test_redis_available()) TEST_SKIP("redis-server is not installed");
  snprintf(zbin, sizeof zbin, "%s/tools/zerorl", bdir);
  snprintf(lbin, sizeof lbin, "%s/learner/zerorl-learner", bdir);
  snprintf(abin, sizeof abin, "%s/actor/zerorl-actor", bdir);
  snprintf(rbin, sizeof rbin, "%s/reward/zerorl-reward", bdir);
  if (access(zbin, X_OK) || access(lbin, X_OK) || access(abin, X_OK) || access(rbin, X_OK))
    TEST_SKIP("daemon binaries are not built in %s", bdir);
  signal(SIGPIPE, SIG_IGN);
  snprintf(root, sizeof root, "/tmp/zrdist-XXXXXX");
  if (!mkdtemp(root)) return 1;
  atexit(cleanup_root);
  if (zr_test_redis_start(&srv, 0, NULL) != 0) return 1;
  snprintf(model, sizeof model, "%s/model", root);
  snprintf(tasks, sizeof tasks, "%s/train.jsonl", root);
  CHECK_INT(ju_run("'%s' model init --arch llama --layers 2 --hidden 64 --heads 4 --kv-heads 4 --intermediate 128 "
                   "--byte-vocab --add-tokens '<think>,</think>,<answer>,</answer>' --tie --out '%s' >/dev/null",
                   zbin, model),
            0);
  CHECK_INT(ju_run("'%s' data gen arith --n %d --difficulty 2 --out '%s' >/dev/null", zbin, N_TASKS, tasks), 0);
  if (zr_test_failures) return TEST_DONE();
  struct {
    const char *name;
    void (*fn)(void);
  } tests[] = {{"done", test_done}, {"kill1", test_kill1}, {"kill0", test_kill0}};
  for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
    if (!want(tests[i].name)) continue;
    uint64_t t0 = ju_now_ms();
    int f = zr_test_failures;
    tests[i].fn();
    ju_kill_all();
    fprintf(stderr, "== %s: %s in %.1f s\n", tests[i].name, zr_test_failures == f ? "ok" : "FAILED",
            (double)(ju_now_ms() - t0) / 1000.0);
  }
  zr_test_redis_stop(&srv);
  return TEST_DONE();
}
