/* Simulated fleet with the real daemons (issue 9, item 4): one real zerorl-learner (mode rl, a
 * tiny random model: it really trains on the simulated groups and publishes new versions),
 * N_ACTORS real zerorl-actor processes with `[actor] engine = sim` and N_REWARDS real
 * zerorl-reward processes with `[reward] engine = sim`, against a private redis-server, on
 * ipc:// endpoints in a temporary directory. Checks:
 *
 *   - the job ends (learner exit 0) and every task is in trained.jsonl exactly once, although
 *     one actor is SIGTERMed mid-run (it drains: exit 0, heartbeat deleted) and another is
 *     SIGKILLed (its lease expires and is re-issued: expired_leases >= 1);
 *   - every actor's and reward worker's heartbeat says engine = sim; the learner counts no bad
 *     message (dropped_bad 0: token ids in the vocabulary, finite log-probs <= 0, versions
 *     never from the future) and trains: policy_version > 0, and the actors stamp the
 *     announced versions (their logs) without fetching a byte;
 *   - the completions follow the configured distribution: the mean of metrics.jsonl
 *     response_len_mean is within 15% of E[min(floor(Exp(mean)) + 1, max)], the share that ended
 *     at the length cap (finish_length) is near P(N >= max); the run cannot be faster than the
 *     fleet's decode speed allows (total tokens / (actors x slots x tokens_per_s));
 *   - bad sim settings are refused at start with exit 1 and a message naming the key.
 *
 * Every child is killed at exit; the temporary directory is removed (kept with ZR_JOB_KEEP=1). */
#include <math.h>
#include <stdbool.h>

#include "tests/integration/job_util.h"
#include "tests/redis_server.h"
#include "tests/test.h"

#define N_TASKS 160
#define G 4
#define N_ACTORS 20
#define N_REWARDS 4
#define SLOTS 4
#define TOK_MEAN 24
#define TOK_MAX 64
#define TOK_PER_S 60.0

static ju_daemons bin;
static ju_workdir work;
static zr_test_redis srv;
static ju_job job;         /* jt-sim */
static char metrics[300]; /* RUN/metrics.jsonl */

static void write_config(void) {
  char sections[4096];
  snprintf(sections, sizeof sections,
           "[job]\nid = %s\nname = sim\nrun_dir = %s\n"
           "[model]\npath = %s\nthreads = 1\n"
           "[data]\ntrain = %s\ntemplate = raw\nepochs = 1\n"
           "[algo]\ngroup_size = %d\ngroups_per_batch = 8\nmax_new_tokens = %d\nmax_staleness = 4\n"
           "[actor]\nslots = %d\nmax_len = 256\nthreads = 1\nlease_margin = 500ms\nask_interval = 200ms\n"
           "engine = sim\nsim_tokens_mean = %d\nsim_tokens_max = %d\nsim_tokens_per_s = %g\n"
           "[reward]\nengine = sim\nsim_score_time = 20ms\nsim_correct = 0.5\n"
           "[learner]\nlr = 1e-4\ntotal_steps = 100000\ncheckpoint_every = 0\nlease = 3s\nscore_deadline = 5s\n"
           "drain_timeout = 4s\nmax_task_retries = 50\n",
           job.id, job.run, work.model, work.tasks, G, TOK_MAX, SLOTS, TOK_MEAN, TOK_MAX, TOK_PER_S);
  CHECK_INT(ju_write_config(&job, sections, srv.sock, NULL), 0);
}

/* The worker ids: sim-actor-NN, sim-reward-N. */
static void actor_id(int i, char id[32]) { snprintf(id, 32, "sim-actor-%02d", i); }
static void reward_id(int i, char id[32]) { snprintf(id, 32, "sim-reward-%d", i); }

static pid_t start_actor(int i, const char *extra_set) {
  char log[400], id[32];
  actor_id(i, id);
  snprintf(log, sizeof log, "%s/logs/%s.log", job.run, id);
  char *argv[] = {bin.actor, "--config", job.cfg, "--id", id, "--set",
                  (char *)(extra_set ? extra_set : "actor.sim_seed=7"), NULL};
  return ju_spawn(log, argv);
}

static pid_t start_reward(int i) {
  char log[400], id[32];
  reward_id(i, id);
  snprintf(log, sizeof log, "%s/logs/%s.log", job.run, id);
  char *argv[] = {bin.reward, "--config", job.cfg, "--id", id, "--slots", "4", NULL};
  return ju_spawn(log, argv);
}

static char *worker_field(const char *role, const char *id, const char *field) {
  char key[300];
  snprintf(key, sizeof key, "zerorl:worker:%s:%s:%s", job.id, role, id);
  return ju_hget(srv.sock, key, field);
}

/* How many of the n workers of role (actor or reward) say engine = sim in their heartbeat; the
 * others are named on stderr. */
static int count_sim_heartbeats(const char *role, int n) {
  int sim = 0;
  for (int i = 0; i < n; i++) {
    char id[32];
    if (strcmp(role, "actor") == 0) actor_id(i, id);
    else reward_id(i, id);
    char *e = worker_field(role, id, "engine");
    if (e && strcmp(e, "sim") == 0) sim++;
    else fprintf(stderr, "%s %s heartbeat engine: %s\n", role, id, e ? e : "(none)");
    free(e);
  }
  return sim;
}

/* Runs daemon with one bad --set; CHECKs exit 1 and that stderr names want. */
static void expect_refused(const char *daemon, const char *set, const char *want) {
  char log[400];
  snprintf(log, sizeof log, "%s/logs/refused.log", job.run);
  unlink(log);
  char *argv[] = {(char *)daemon, "--config", job.cfg, "--set", (char *)set, NULL};
  pid_t p = ju_spawn(log, argv);
  int st = 0;
  CHECK(ju_wait(p, 20000, &st));
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
  char *text = ju_read_file(log);
  CHECK_CONTAINS(text, want);
  fprintf(stderr, "refused %s: %s", set, text ? text : "(no output)\n");
  free(text);
}

/* E[min(floor(X) + 1, max)] for X ~ Exp(mean): sum over k = 1..max of P(N >= k). */
static double expected_len(double mean, int max) {
  double s = 0;
  for (int k = 1; k <= max; k++) s += exp(-(double)(k - 1) / mean);
  return s;
}

/* Means of response_len_mean and finish_length over metrics.jsonl; the number of steps. */
static int metrics_means(double *len, double *fin_len) {
  FILE *f = fopen(metrics, "r");
  char line[65536];
  int n = 0;
  *len = *fin_len = 0;
  while (f && fgets(line, sizeof line, f)) {
    json_t *o = json_loads(line, 0, NULL);
    json_t *l = json_object_get(o, "response_len_mean"), *fl = json_object_get(o, "finish_length");
    if (json_is_number(l) && json_is_number(fl)) {
      *len += json_number_value(l);
      *fin_len += json_number_value(fl);
      n++;
    }
    json_decref(o);
  }
  if (f) fclose(f);
  if (n) *len /= n, *fin_len /= n;
  return n;
}

static void test_fleet(void) {
  int f0 = zr_test_failures;
  pid_t l = ju_start_learner(bin.learner, &job, NULL, false);
  pid_t rw[N_REWARDS], ac[N_ACTORS];
  for (int i = 0; i < N_REWARDS; i++) rw[i] = start_reward(i);
  for (int i = 0; i < N_ACTORS; i++) ac[i] = start_actor(i, NULL);
  CHECK(ju_wait_lines(job.trained, 8, 120000));
  uint64_t t_first = ju_now_ms();
  int lines_first = ju_count_lines(job.trained);

  /* heartbeats: every daemon says engine = sim */
  CHECK_INT(count_sim_heartbeats("actor", N_ACTORS), N_ACTORS);
  CHECK_INT(count_sim_heartbeats("reward", N_REWARDS), N_REWARDS);

  /* mid-run: one actor drains on SIGTERM, another dies */
  CHECK(ju_count_lines(job.trained) < N_TASKS * 3 / 4);
  kill(ac[0], SIGTERM);
  int st = 0;
  int ended = ju_wait(ac[0], 15000, &st);
  CHECK(ended && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  if (!ended) ju_stop(ac[0], SIGKILL, 1000);
  char *gone = worker_field("actor", "sim-actor-00", "engine");
  CHECK(gone == NULL); /* the drain deleted the heartbeat */
  free(gone);
  ju_stop(ac[1], SIGKILL, 2000);
  fprintf(stderr, "sim: SIGTERM to sim-actor-00, SIGKILL to sim-actor-01 after %d groups\n",
          ju_count_lines(job.trained));

  ju_expect_learner_done(job.name, job.trained, l, 240000);
  uint64_t t_done = ju_now_ms();
  ju_expect_exactly_once(job.name, job.trained, work.tasks, G, N_TASKS);
  CHECK_INT(ju_hget_ll(srv.sock, job.qkey, "dropped_bad"), 0);
  CHECK(ju_hget_ll(srv.sock, job.qkey, "expired_leases") >= 1);
  long long version = ju_hget_ll(srv.sock, job.key, "policy_version");
  fprintf(stderr, "sim: final policy version %lld\n", version);
  CHECK(version > 0);
  int stamped = 0;
  for (int i = 2; i < N_ACTORS; i++) {
    char log[400];
    snprintf(log, sizeof log, "%s/logs/sim-actor-%02d.log", job.run, i);
    if (ju_count_in_file(log, "weight version 1 announced: stamping it") == 1) stamped++;
    CHECK_INT(ju_count_in_file(log, "fetching weight version"), 0);
  }
  fprintf(stderr, "sim: %d of %d actors stamped version 1\n", stamped, N_ACTORS - 2);
  CHECK(stamped >= (N_ACTORS - 2) / 2);

  /* the distribution */
  double len = 0, fin_len = 0;
  int steps = metrics_means(&len, &fin_len);
  double want_len = expected_len(TOK_MEAN, TOK_MAX), want_fin = exp(-(double)(TOK_MAX - 1) / TOK_MEAN);
  fprintf(stderr, "sim: %d steps, response_len_mean %.2f (expected %.2f), finish_length %.3f (expected %.3f)\n",
          steps, len, want_len, fin_len, want_fin);
  CHECK(steps >= 3);
  CHECK(fabs(len - want_len) <= 0.15 * want_len);
  CHECK(fin_len >= want_fin / 3 && fin_len <= want_fin * 2.5);
  /* timing: the groups after the first ones took at least what the fleet's decode speed allows */
  double tokens = (double)(N_TASKS - lines_first) * G * want_len;
  double floor_s = tokens / (N_ACTORS * SLOTS * TOK_PER_S), took_s = (double)(t_done - t_first) / 1000.0;
  fprintf(stderr, "sim: %.1f s for %.0f tokens; the fleet's decode speed allows no less than %.1f s\n", took_s,
          tokens, floor_s);
  CHECK(took_s >= 0.8 * floor_s);

  /* the rest drain on SIGTERM and exit 0 */
  int ok = 0;
  for (int i = 2; i < N_ACTORS; i++) kill(ac[i], SIGTERM);
  for (int i = 0; i < N_REWARDS; i++) kill(rw[i], SIGTERM);
  for (int i = 2; i < N_ACTORS; i++) {
    st = 0;
    if (ju_wait(ac[i], 15000, &st) && WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
  }
  for (int i = 0; i < N_REWARDS; i++) {
    st = 0;
    if (ju_wait(rw[i], 15000, &st) && WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
  }
  CHECK_INT(ok, N_ACTORS - 2 + N_REWARDS);
  ju_show_log_on_failure(job.llog, f0, 6000);
}

static void test_refused(void) {
  expect_refused(bin.actor, "actor.sim_tokens_mean=-5", "[actor] sim_tokens_mean");
  expect_refused(bin.actor, "actor.sim_tokens_mean=2000", "[actor] sim_tokens_max");
  expect_refused(bin.actor, "actor.sim_tokens_per_s=0", "[actor] sim_tokens_per_s");
  expect_refused(bin.actor, "actor.engine=fast", "[actor] engine");
  expect_refused(bin.reward, "reward.sim_correct=1.5", "[reward] sim_correct");
  expect_refused(bin.reward, "reward.sim_score_time=-1s", "[reward] sim_score_time");
}

int main(void) {
  ju_find_daemons_or_skip(&bin, ju_build_dir_or_skip());
  if (ju_start(&work, "/tmp/zrsim-XXXXXX", "ZR_JOB_KEEP", &srv) != 0) return 1;
  ju_job_init(&job, work.root, "sim", "jt-");
  snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", job.run);
  CHECK_INT(ju_init_tiny_model(bin.zerorl, work.model, 2, 64, 128), 0);
  CHECK_INT(ju_gen_arith(bin.zerorl, N_TASKS, false, work.tasks), 0);
  if (zr_test_failures) return TEST_DONE();
  write_config();
  uint64_t t0 = ju_now_ms();
  test_refused();
  fprintf(stderr, "== refused: %.1f s\n", (double)(ju_now_ms() - t0) / 1000.0);
  t0 = ju_now_ms();
  test_fleet();
  ju_kill_all();
  fprintf(stderr, "== fleet: %.1f s\n", (double)(ju_now_ms() - t0) / 1000.0);
  zr_test_redis_stop(&srv);
  return TEST_DONE();
}
