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
#include <stdbool.h>

#include "common/keys.h"
#include "tests/integration/job_util.h"
#include "tests/redis_server.h"
#include "tests/test.h"

#define N_TASKS 48
#define G 4

static ju_daemons bin;
static ju_workdir work;
static zr_test_redis srv;

/* A job of the learner group: the job, and what each rank has of its own. */
typedef struct {
  ju_job job;                /* job.llog is not used: each rank has a log of its own */
  char log0[200], log1[200]; /* RUN/logs/learner0.log, RUN/logs/learner1.log */
  char dkey[256];            /* the ranks' rendezvous hash */
} dist_job;

static void job_init(dist_job *d, const char *name) {
  memset(d, 0, sizeof *d);
  ju_job *j = &d->job;
  ju_job_init(j, work.root, name, "dist-");
  snprintf(d->log0, sizeof d->log0, "%s/logs/learner0.log", j->run);
  snprintf(d->log1, sizeof d->log1, "%s/logs/learner1.log", j->run);
  zr_key_job_dist(d->dkey, sizeof d->dkey, ZR_KEY_PREFIX_DEFAULT, j->id);
  char sections[4096];
  snprintf(sections, sizeof sections,
           "[job]\nid = %s\nname = %s\nrun_dir = %s\n"
           "[model]\npath = %s\nthreads = 1\n"
           "[data]\ntrain = %s\ntemplate = raw\nepochs = 0\n"
           "[algo]\ngroup_size = %d\ngroups_per_batch = 4\nmax_new_tokens = 32\nupdates_per_batch = 2\n"
           "[actor]\nslots = 8\nmax_len = 80\nthreads = 1\nlease_margin = 500ms\nask_interval = 200ms\n"
           "[learner]\nlr = 1e-4\ntotal_steps = 6\ncheckpoint_every = 2\nlease = 5s\nscore_deadline = 3s\n"
           "drain_timeout = 4s\nmax_task_retries = 50\nmicro_batch_tokens = 256\ncollective_timeout = 3s\n"
           "[reward]\nengine = sim\nsim_correct = 0.5\n", /* rewards that differ: real optimizer steps */
           j->id, name, j->run, work.model, work.tasks, G);
  CHECK_INT(ju_write_config(j, sections, srv.sock, NULL), 0);
}

static pid_t start_rank_opt(const dist_job *d, int rank, const char *total_steps, bool resume) {
  char r[8], set[64];
  snprintf(r, sizeof r, "%d", rank);
  snprintf(set, sizeof set, "learner.total_steps=%s", total_steps);
  char *argv[] = {bin.learner, "--config", (char *)d->job.cfg, "--run-dir", (char *)d->job.run, "--world-size", "2",
                  "--rank", r, "--set", set, resume ? "--resume" : NULL, NULL};
  return ju_spawn(rank ? d->log1 : d->log0, argv);
}
static pid_t start_rank(const dist_job *d, int rank, const char *total_steps) {
  return start_rank_opt(d, rank, total_steps, false);
}

static pid_t start_actor(const ju_job *j) {
  char log[256];
  snprintf(log, sizeof log, "%s/logs/actor.log", j->run);
  char *argv[] = {bin.actor, "--config", (char *)j->cfg, "--id", "actor-1", "--threads", "1", NULL};
  return ju_spawn(log, argv);
}

static pid_t start_reward(const ju_job *j) {
  char log[256];
  snprintf(log, sizeof log, "%s/logs/reward.log", j->run);
  char *argv[] = {bin.reward, "--config", (char *)j->cfg, "--id", "rw-1", "--slots", "2", NULL};
  return ju_spawn(log, argv);
}

static void test_done(void) {
  int f0 = zr_test_failures;
  dist_job d;
  job_init(&d, "done");
  const ju_job *j = &d.job;
  pid_t r1 = start_rank(&d, 1, "6"); /* before rank 0: it waits for the Redis hash */
  ju_sleep_ms(300);
  pid_t r0 = start_rank(&d, 0, "6");
  pid_t rw = start_reward(j);
  pid_t a = start_actor(j);
  int c0 = ju_exit_code(r0, 240000);
  int c1 = ju_exit_code(r1, 20000);
  fprintf(stderr, "done: rank 0 exit %d, rank 1 exit %d\n", c0, c1);
  CHECK_INT(c0, 0);
  CHECK_INT(c1, 0);
  char *state = ju_hget(srv.sock, j->key, "state");
  CHECK(state && strcmp(state, "done") == 0);
  free(state);
  CHECK_INT(ju_hget_ll(srv.sock, j->key, "step"), 6);
  CHECK(!ju_exists(srv.sock, d.dkey));
  CHECK(ju_count_in_file(d.log0, "rank 0 of 2: gradients over zmq") == 1);
  CHECK(ju_count_in_file(d.log1, "rank 0 ended the job (exit code 0) at step 6") == 1);
  /* resume: rank 0 from its last checkpoint (--resume), rank 1 loads the same one */
  r1 = start_rank_opt(&d, 1, "8", false);
  r0 = start_rank_opt(&d, 0, "8", true);
  c0 = ju_exit_code(r0, 240000);
  c1 = ju_exit_code(r1, 20000);
  fprintf(stderr, "resume: rank 0 exit %d, rank 1 exit %d\n", c0, c1);
  CHECK_INT(c0, 0);
  CHECK_INT(c1, 0);
  CHECK_INT(ju_hget_ll(srv.sock, j->key, "step"), 8);
  CHECK(ju_count_in_file(d.log1, "ready at step 6 (") == 1);
  CHECK(ju_count_in_file(d.log1, "rank 0 ended the job (exit code 0) at step 8") == 1);
  ju_stop(a, SIGTERM, 5000);
  ju_stop(rw, SIGTERM, 5000);
  ju_show_log_on_failure(d.log0, f0, 5000);
  ju_show_log_on_failure(d.log1, f0, 5000);
}

static void test_kill(int victim) {
  int f0 = zr_test_failures;
  dist_job d;
  job_init(&d, victim ? "kill1" : "kill0");
  const ju_job *j = &d.job;
  pid_t r1 = start_rank(&d, 1, "100000");
  pid_t r0 = start_rank(&d, 0, "100000");
  pid_t rw = start_reward(j);
  pid_t a = start_actor(j);
  CHECK(ju_wait_lines(j->trained, 8, 120000)); /* two batches trained together */
  ju_stop(victim ? r1 : r0, SIGKILL, 2000);
  uint64_t t0 = ju_now_ms();
  int code = ju_exit_code(victim ? r0 : r1, 20000);
  uint64_t took = ju_now_ms() - t0;
  const char *log = victim ? d.log0 : d.log1;
  fprintf(stderr, "kill rank %d: rank %d exited %d after %llu ms\n", victim, 1 - victim, code, (unsigned long long)took);
  CHECK_INT(code, 1);
  CHECK(took <= 3000 + 8000);
  if (victim) /* found at its next send (the TCP connection is gone) or by its silence */
    CHECK(ju_count_in_file(log, "rank 1 is not connected") + ju_count_in_file(log, "rank 1 has not been heard") >= 1);
  else
    CHECK(ju_count_in_file(log, "rank 0 has not been heard") + ju_count_in_file(log, "rank 0 did not answer") >= 1);
  if (victim) {
    char *state = ju_hget(srv.sock, j->key, "state");
    CHECK(state && strcmp(state, "failed") == 0);
    free(state);
  }
  ju_stop(a, SIGTERM, 5000);
  ju_stop(rw, SIGTERM, 5000);
  ju_show_log_on_failure(log, f0, 5000);
}

static void test_kill1(void) { test_kill(1); }
static void test_kill0(void) { test_kill(0); }

int main(void) {
  ju_find_daemons_or_skip(&bin, ju_build_dir_or_skip());
  if (ju_start(&work, "/tmp/zrdist-XXXXXX", "ZR_JOB_KEEP", &srv) != 0) return 1;
  CHECK_INT(ju_init_tiny_model(bin.zerorl, work.model, 2, 64, 128), 0);
  CHECK_INT(ju_gen_arith(bin.zerorl, N_TASKS, false, work.tasks), 0);
  if (zr_test_failures) return TEST_DONE();
  const ju_scenario scenarios[] = {{"done", test_done}, {"kill1", test_kill1}, {"kill0", test_kill0}};
  ju_run_scenarios(scenarios, sizeof scenarios / sizeof *scenarios, ju_job_test_wanted);
  zr_test_redis_stop(&srv);
  return TEST_DONE();
}
