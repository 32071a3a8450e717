/* Whole-job integration test: the real zerorl-learner, zerorl-actor and zerorl-reward (and
 * `zerorl run`) against a real redis-server, on ipc:// endpoints in a temporary directory.
 * The model is a tiny random one (`zerorl model init`): every reward is 0, so every group is
 * skipped (no optimizer step, policy version stays 0) but still consumed, and an rl job ends
 * when the epoch's tasks are all in RUN/trained.jsonl. Scenarios:
 *
 *   actors     two actors of different speeds (slots 16 and 4); the fast one is SIGKILLed
 *              mid-run; its leases expire (lease 3s) and are re-issued; the job ends and every
 *              task appears exactly once in trained.jsonl
 *   reward     the reward worker is frozen, then SIGKILLed mid-run, another one is started: its
 *              scoring attempts time out (score_deadline 2s), are re-issued, the job ends
 *              exactly-once
 *   drain      SIGTERM to the learner mid-run: exit 0 within drain_timeout + 5 s, a checkpoint
 *              (RUN/checkpoints/latest), job hash state "done"; `zerorl-learner --resume` then
 *              finishes the epoch without training any (task, epoch) twice, covering all tasks
 *   redis      redis-server SIGKILLed mid-run and restarted 1 s (up to 8 s) later on the same socket:
 *              training goes on meanwhile, the job ends exactly-once, job and queue hashes exist
 *              again with state done and every group counted
 *   bad        garbage, another job's, another protocol version's messages, rollouts for an
 *              unknown lease / with mismatched lengths / a NaN log-prob / a token outside the
 *              vocabulary / another prompt, an unknown score id: each dropped and counted
 *              (queue hash dropped_bad), logged once per reason (rate-limited), and the learner
 *              then serves a real actor to the end of the job
 *   sft        mode sft, constant lr: 6 steps straight vs 3 steps then --resume to 6 (crossing
 *              epochs): identical per-step losses and byte-identical final model.safetensors
 *   status     `zerorl status --job J --socket RUN/redis.sock` against a live `zerorl run` job
 *              shows state running, the queue and the workers by role; SIGTERM to `zerorl run`
 *              drains and it exits 0
 *
 * Every wait has a deadline; every child is killed at exit (atexit + PR_SET_PDEATHSIG), the
 * temporary directory is removed (kept with ZR_JOB_KEEP=1). Run some scenarios only with
 * ZR_JOB_TEST=name[,name]. */
#include <math.h>
#include <stdbool.h>
#include <zmq.h>

#include "common/frame.h"
#include "tests/integration/job_util.h"
#include "tests/redis_server.h"
#include "tests/test.h"

#define N_TASKS 200
#define G 4

static ju_daemons bin;
static ju_workdir work;
static char sft_data[256]; /* ROOT/sft.jsonl */
static zr_test_redis srv;

/* The job's directory, config (RUN/config.ini) and keys. embedded_redis: no [redis] socket,
 * for `zerorl run`. */
static void job_init(ju_job *j, const char *name, bool embedded_redis) {
  ju_job_init(j, work.root, name, "jt-");
  char sections[4096];
  snprintf(sections, sizeof sections,
           "[job]\nid = %s\nname = %s\nrun_dir = %s\n"
           "[model]\npath = %s\nthreads = 1\n"
           "[data]\ntrain = %s\ntemplate = raw\nepochs = 1\n"
           "[algo]\ngroup_size = %d\ngroups_per_batch = 4\nmax_new_tokens = 48\n"
           "[actor]\nslots = 8\nmax_len = 96\nthreads = 1\nlease_margin = 500ms\nask_interval = 200ms\n"
           "[learner]\nlr = 1e-4\ntotal_steps = 100000\ncheckpoint_every = 0\nlease = 3s\nscore_deadline = 2s\n"
           "drain_timeout = 4s\nmax_task_retries = 50\n",
           j->id, name, j->run, work.model, work.tasks, G);
  CHECK_INT(ju_write_config(j, sections, embedded_redis ? NULL : srv.sock, NULL), 0);
}

static pid_t start_learner(const ju_job *j, bool resume) { return ju_start_learner(bin.learner, j, NULL, resume); }

/* (task, epoch) pairs recorded as trained in the latest checkpoint that are not in
 * trained.jsonl: work the resumed learner would skip although it was never trained. */
static int ckpt_trained_not_in_file(const ju_job *j) {
  char path[400], name[64] = "";
  snprintf(path, sizeof path, "%s/checkpoints/latest", j->run);
  char *latest = ju_read_file(path);
  if (latest) sscanf(latest, "%63s", name);
  free(latest);
  snprintf(path, sizeof path, "%s/checkpoints/%s/learner_state.json", j->run, name);
  json_t *st = json_load_file(path, 0, NULL);
  json_t *done = json_object_get(json_object_get(st, "trained"), "done");
  CHECK(json_is_array(done));
  json_t *seen = json_object();
  FILE *f = fopen(j->trained, "r");
  char line[65536];
  while (f && fgets(line, sizeof line, f)) {
    json_t *o = json_loads(line, 0, NULL);
    char key[600];
    snprintf(key, sizeof key, "%s#%lld", json_string_value(json_object_get(o, "task_id")),
             (long long)json_integer_value(json_object_get(o, "epoch")));
    json_object_set_new(seen, key, json_true());
    json_decref(o);
  }
  if (f) fclose(f);
  int n = 0;
  size_t i;
  json_t *e;
  json_array_foreach(done, i, e) {
    char key[600];
    snprintf(key, sizeof key, "%s#%lld", json_string_value(json_array_get(e, 0)),
             (long long)json_integer_value(json_array_get(e, 1)));
    if (!json_object_get(seen, key)) {
      fprintf(stderr, "checkpoint %s records %s as trained; trained.jsonl does not list it\n", name, key);
      n++;
    }
  }
  json_decref(seen);
  json_decref(st);
  return n;
}

static pid_t start_actor(const ju_job *j, const char *id, int slots) {
  char log[256], set[64];
  snprintf(log, sizeof log, "%s/logs/%s.log", j->run, id);
  snprintf(set, sizeof set, "actor.slots=%d", slots);
  char *argv[] = {bin.actor, "--config", (char *)j->cfg, "--id", (char *)id, "--threads", "1", "--set", set, NULL};
  return ju_spawn(log, argv);
}

static pid_t start_reward(const ju_job *j, const char *id) {
  char log[256];
  snprintf(log, sizeof log, "%s/logs/%s.log", j->run, id);
  char *argv[] = {bin.reward, "--config", (char *)j->cfg, "--id", (char *)id, "--slots", "2", NULL};
  return ju_spawn(log, argv);
}

static void expect_learner_done(const ju_job *j, pid_t learner, int timeout_ms) {
  ju_expect_learner_done(j->name, j->trained, learner, timeout_ms);
}

static void expect_exactly_once(const ju_job *j) {
  ju_expect_exactly_once(j->name, j->trained, work.tasks, G, N_TASKS);
}

static void show_log_on_failure(const char *path, int failures_before) {
  ju_show_log_on_failure(path, failures_before, 6000);
}

/* ---- 1: two actors, one killed ------------------------------------------------------------ */

static void test_actors(void) {
  int f0 = zr_test_failures;
  ju_job j;
  job_init(&j, "actors", false);
  pid_t l = start_learner(&j, false);
  pid_t rw = start_reward(&j, "rw-1");
  pid_t fast = start_actor(&j, "actor-fast", 16);
  pid_t slow = start_actor(&j, "actor-slow", 4);
  CHECK(ju_wait_lines(j.trained, N_TASKS / 5, 60000));
  int at_kill = ju_count_lines(j.trained);
  ju_stop(fast, SIGKILL, 2000);
  fprintf(stderr, "actors: SIGKILL to the fast actor after %d groups\n", at_kill);
  CHECK(at_kill < N_TASKS * 3 / 4); /* mid-run */
  expect_learner_done(&j, l, 90000);
  expect_exactly_once(&j);
  CHECK(ju_hget_ll(srv.sock, j.qkey, "expired_leases") >= 1);
  CHECK(ju_count_in_file(j.llog, "lease_expired: ") >= 1);
  CHECK(ju_count_in_file(j.llog, "worker actor-fast") >= 1); /* its lease, re-issued */
  ju_stop(slow, SIGTERM, 5000);
  ju_stop(rw, SIGTERM, 5000);
  show_log_on_failure(j.llog, f0);
}

/* ---- 2: reward worker killed, another started --------------------------------------------- */

static void test_reward(void) {
  int f0 = zr_test_failures;
  ju_job j;
  job_init(&j, "reward", false);
  pid_t l = start_learner(&j, false);
  pid_t rw1 = start_reward(&j, "rw-1");
  pid_t a = start_actor(&j, "actor-1", 16);
  CHECK(ju_wait_lines(j.trained, N_TASKS / 5, 60000));
  /* frozen first, so score requests are sure to be out to it when it dies */
  kill(rw1, SIGSTOP);
  ju_sleep_ms(1000);
  int at_kill = ju_count_lines(j.trained);
  ju_stop(rw1, SIGKILL, 2000);
  fprintf(stderr, "reward: SIGKILL to the reward worker after %d groups\n", at_kill);
  CHECK(at_kill < N_TASKS * 3 / 4);
  pid_t rw2 = start_reward(&j, "rw-2");
  expect_learner_done(&j, l, 90000);
  expect_exactly_once(&j);
  CHECK(ju_count_in_file(j.llog, "event score_timeout") >= 1);
  CHECK(ju_count_in_file(j.llog, "worker_joined: reward rw-2") == 1);
  ju_stop(a, SIGTERM, 5000);
  ju_stop(rw2, SIGTERM, 5000);
  show_log_on_failure(j.llog, f0);
}

/* ---- 3: SIGTERM to the learner, then --resume ---------------------------------------------- */

static void test_drain(void) {
  int f0 = zr_test_failures;
  ju_job j;
  job_init(&j, "drain", false);
  /* big batches: at SIGTERM the learner almost surely holds a partly assembled batch */
  pid_t l = ju_start_learner(bin.learner, &j, "algo.groups_per_batch=16", false);
  pid_t rw = start_reward(&j, "rw-1");
  pid_t a = start_actor(&j, "actor-1", 8);
  CHECK(ju_wait_lines(j.trained, N_TASKS / 4, 60000));
  ju_sleep_ms(250); /* lines come a batch at a time: let the next batch start filling */
  uint64_t t0 = ju_now_ms();
  kill(l, SIGTERM);
  int st = 0;
  int ended = ju_wait(l, 4000 + 5000, &st);
  uint64_t took = ju_now_ms() - t0;
  fprintf(stderr, "drain: learner exited %d after %llu ms (status %d)\n", ended, (unsigned long long)took, st);
  CHECK(ended);
  if (!ended) ju_stop(l, SIGKILL, 1000);
  CHECK(ended && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  char path[300];
  snprintf(path, sizeof path, "%s/checkpoints/latest", j.run);
  CHECK(access(path, F_OK) == 0);
  char *state = ju_hget(srv.sock, j.key, "state");
  CHECK_STR(state, "done");
  free(state);
  int n1 = ju_count_lines(j.trained);
  CHECK(n1 > 0 && n1 < N_TASKS);
  ju_trained t1 = ju_check_trained(j.trained, work.tasks, G);
  CHECK_INT(t1.twice, 0);
  CHECK_INT(ckpt_trained_not_in_file(&j), 0);
  /* the actor and reward worker stay; the resumed learner binds the same endpoints */
  pid_t l2 = ju_start_learner(bin.learner, &j, "algo.groups_per_batch=16", true);
  expect_learner_done(&j, l2, 90000);
  CHECK(ju_count_in_file(j.llog, "(resumed)") == 1);
  int n2 = ju_count_lines(j.trained) - n1;
  fprintf(stderr, "drain: %d groups before SIGTERM, %d after --resume\n", n1, n2);
  CHECK(n2 > 0);
  expect_exactly_once(&j);
  state = ju_hget(srv.sock, j.key, "state");
  CHECK_STR(state, "done");
  free(state);
  ju_stop(a, SIGTERM, 5000);
  ju_stop(rw, SIGTERM, 5000);
  show_log_on_failure(j.llog, f0);
}

/* ---- 4: Redis restarted mid-run ------------------------------------------------------------ */

static void test_redis(void) {
  int f0 = zr_test_failures;
  ju_job j;
  job_init(&j, "redis", false);
  pid_t l = start_learner(&j, false);
  pid_t rw = start_reward(&j, "rw-1");
  pid_t a = start_actor(&j, "actor-1", 8);
  CHECK(ju_wait_lines(j.trained, N_TASKS / 6, 60000));
  CHECK_INT(ju_exists(srv.sock, j.key), 1);
  int at_kill = ju_count_lines(j.trained);
  zr_test_redis_kill(&srv);
  /* down for 1 s, longer (up to 8 s) until a batch lands: batches take over 1 s under ASan */
  uint64_t t_kill = ju_now_ms();
  ju_sleep_ms(1000);
  while (ju_count_lines(j.trained) <= at_kill && ju_now_ms() < t_kill + 8000) ju_sleep_ms(50);
  int at_restart = ju_count_lines(j.trained);
  fprintf(stderr, "redis: killed after %d groups, %d groups %.1f s later\n", at_kill, at_restart,
          (double)(ju_now_ms() - t_kill) / 1000);
  CHECK(at_restart > at_kill); /* training went on without Redis */
  CHECK(at_kill < N_TASKS * 3 / 4);
  CHECK_INT(zr_test_redis_spawn(&srv), 0);
  expect_learner_done(&j, l, 90000);
  expect_exactly_once(&j);
  CHECK_INT(ju_exists(srv.sock, j.key), 1);
  CHECK_INT(ju_exists(srv.sock, j.qkey), 1);
  char *state = ju_hget(srv.sock, j.key, "state");
  CHECK_STR(state, "done");
  free(state);
  CHECK_INT(ju_hget_ll(srv.sock, j.qkey, "groups_trained"), N_TASKS);
  ju_stop(a, SIGTERM, 5000);
  ju_stop(rw, SIGTERM, 5000);
  show_log_on_failure(j.llog, f0);
}

/* ---- 5: bad messages ----------------------------------------------------------------------- */

#define TEST_SENDER "0123456789abcdef0123456789abcdef"

static void send_frames(void *d, const void *buf, size_t len) { CHECK(zmq_send(d, buf, len, 0) == (int)len); }

static void send_env(void *d, Zerorl__Envelope *env, const char *job_id) {
  uint8_t *buf = NULL;
  size_t len = 0;
  CHECK_INT(zr_frame_encode(env, job_id, TEST_SENDER, 0, &buf, &len), 0);
  if (buf) send_frames(d, buf, len);
  free(buf);
}

static void send_work_request(void *d, const char *job_id) {
  Zerorl__WorkRequest wr = ZERORL__WORK_REQUEST__INIT;
  wr.role = ZERORL__ROLE__ROLE_ACTOR;
  wr.free_capacity = 1;
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  env.body_case = ZERORL__ENVELOPE__BODY_WORK_REQUEST;
  env.work_request = &wr;
  send_env(d, &env, job_id);
}

typedef enum { RO_UNKNOWN_LEASE, RO_LENGTHS, RO_NAN, RO_VOCAB, RO_PROMPT } ro_kind;

static void send_bad_rollout(void *d, const char *job_id, const Zerorl__WorkGrant *g, ro_kind kind) {
  const Zerorl__Task *t = g->tasks[0];
  uint32_t prompt[256], comp[8] = {'1', '2', '3', '4', '5', '6', '7', '8'};
  uint64_t versions[8] = {0};
  float lp[8];
  for (int i = 0; i < 8; i++) lp[i] = -1.0f;
  size_t np = t->n_prompt_ids < 256 ? t->n_prompt_ids : 256;
  memcpy(prompt, t->prompt_ids, np * sizeof *prompt);
  Zerorl__Rollout r = ZERORL__ROLLOUT__INIT;
  r.lease_id = g->lease_id;
  r.task_id = t->task_id;
  r.epoch = t->epoch;
  r.group_id = t->group_id;
  r.sample_index = t->first_sample_index;
  r.n_prompt_ids = np;
  r.prompt_ids = prompt;
  r.n_completion_ids = r.n_logprobs = r.n_token_versions = 8;
  r.completion_ids = comp;
  r.logprobs = lp;
  r.token_versions = versions;
  r.finish_reason = ZERORL__FINISH_REASON__FINISH_LENGTH;
  r.completion_text = "12345678";
  switch (kind) {
  case RO_UNKNOWN_LEASE: r.lease_id = g->lease_id + 1000003; break;
  case RO_LENGTHS: r.n_logprobs = 7; break;
  case RO_NAN: lp[3] = NAN; break;
  case RO_VOCAB: comp[2] = 100000; break;
  case RO_PROMPT: prompt[0] ^= 1; break;
  }
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  env.body_case = ZERORL__ENVELOPE__BODY_ROLLOUT;
  env.rollout = &r;
  send_env(d, &env, job_id);
}

static long long wait_dropped(const ju_job *j, long long want, int timeout_ms) {
  uint64_t deadline = ju_now_ms() + (uint64_t)timeout_ms;
  long long v;
  while ((v = ju_hget_ll(srv.sock, j->qkey, "dropped_bad")) < want && ju_now_ms() < deadline) ju_sleep_ms(100);
  return v;
}

static void test_bad(void) {
  int f0 = zr_test_failures;
  ju_job j;
  job_init(&j, "bad", false);
  pid_t l = start_learner(&j, false);
  pid_t rw = start_reward(&j, "rw-1");
  void *ctx = zmq_ctx_new();
  void *d = zmq_socket(ctx, ZMQ_DEALER);
  int linger = 0, tmo = 500;
  zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
  zmq_setsockopt(d, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
  char ep[200];
  snprintf(ep, sizeof ep, "ipc://%s/w", j.dir);
  CHECK_INT(zmq_connect(d, ep), 0);
  /* a real grant first (re-asked until the learner is up): the bad rollouts name its task */
  Zerorl__Envelope *genv = NULL;
  zr_frame_msg gm = {0};
  uint64_t deadline = ju_now_ms() + 30000;
  while (!genv && ju_now_ms() < deadline) {
    send_work_request(d, j.id);
    uint8_t buf[65536];
    int n = zmq_recv(d, buf, sizeof buf, 0);
    if (n <= 0 || n > (int)sizeof buf) continue;
    zr_bytes fr = {buf, (size_t)n};
    zr_frame_limits lim = zr_frame_limits_default();
    if (zr_frame_decode(&gm, &fr, 1, j.id, &lim) == 0) {
      if (gm.env->body_case == ZERORL__ENVELOPE__BODY_WORK_GRANT && gm.env->work_grant->n_tasks > 0) genv = gm.env;
      else zr_frame_msg_release(&gm);
    }
  }
  CHECK(genv != NULL);
  if (!genv) {
    zmq_close(d);
    zmq_ctx_term(ctx);
    ju_stop(l, SIGKILL, 1000);
    ju_stop(rw, SIGKILL, 1000);
    show_log_on_failure(j.llog, f0);
    return;
  }
  const Zerorl__WorkGrant *g = genv->work_grant;
  CHECK(g->lease_id != 0);
  long long d0 = wait_dropped(&j, 0, 5000);
  CHECK_INT(d0, 0);

  /* 1: garbage */
  send_frames(d, "\xff\xfe garbage, not protobuf \x01\x02", 26);
  /* 2: another job's work request (must get no grant either) */
  send_work_request(d, "some-other-job");
  /* 3: another protocol version, packed by hand */
  {
    Zerorl__WorkRequest wr = ZERORL__WORK_REQUEST__INIT;
    wr.role = ZERORL__ROLE__ROLE_ACTOR;
    wr.free_capacity = 1;
    Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
    env.protocol_version = ZR_PROTOCOL_VERSION + 7;
    env.job_id = j.id;
    env.sender_id = TEST_SENDER;
    env.type = ZERORL__MSG_TYPE__MSG_WORK_REQUEST;
    env.body_case = ZERORL__ENVELOPE__BODY_WORK_REQUEST;
    env.work_request = &wr;
    uint8_t buf[512];
    size_t len = zerorl__envelope__pack(&env, buf);
    send_frames(d, buf, len);
  }
  /* 4-8: rollouts */
  send_bad_rollout(d, j.id, g, RO_UNKNOWN_LEASE);
  send_bad_rollout(d, j.id, g, RO_LENGTHS);
  send_bad_rollout(d, j.id, g, RO_NAN);
  send_bad_rollout(d, j.id, g, RO_VOCAB);
  send_bad_rollout(d, j.id, g, RO_PROMPT);
  /* 9: an unknown score id */
  {
    Zerorl__ScoredRollout s = ZERORL__SCORED_ROLLOUT__INIT;
    s.score_id = 987654321987ull;
    s.task_id = g->tasks[0]->task_id;
    s.reward = 1.0;
    s.status = ZERORL__VERIFIER_STATUS__VERIFIER_OK;
    Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
    env.body_case = ZERORL__ENVELOPE__BODY_SCORED_ROLLOUT;
    env.scored_rollout = &s;
    send_env(d, &env, j.id);
  }
  long long d1 = wait_dropped(&j, 9, 5000);
  fprintf(stderr, "bad: dropped_bad %lld -> %lld\n", d0, d1);
  CHECK_INT(d1, 9);
  /* the other job's request got no answer */
  uint8_t tmp[65536];
  CHECK(zmq_recv(d, tmp, sizeof tmp, ZMQ_DONTWAIT) < 0);
  /* the same garbage twice more: counted, not logged again */
  send_frames(d, "\xff\xfe garbage, not protobuf \x01\x02", 26);
  send_frames(d, "\xff\xfe garbage, not protobuf \x01\x02", 26);
  long long d2 = wait_dropped(&j, 11, 5000);
  CHECK_INT(d2, 11);
  CHECK(ju_count_in_file(j.llog, "dropped a message from") >= 7);
  CHECK_INT(ju_count_in_file(j.llog, ": unknown_lease ("), 1);
  CHECK_INT(ju_count_in_file(j.llog, ": token outside the vocabulary ("), 1);
  CHECK_INT(ju_count_in_file(j.llog, ": prompt differs ("), 1);
  CHECK_INT(ju_count_in_file(j.llog, ": unknown score id ("), 1);
  CHECK_INT(ju_count_in_file(j.llog, ": wrong_version ("), 1);
  CHECK_INT(ju_count_in_file(j.llog, ": wrong_job ("), 1);
  CHECK_INT(ju_count_in_file(j.llog, ": bad_field ("), 1); /* lengths and NaN: one reason, one line */
  CHECK_INT(ju_count_in_file(j.llog, ": garbage ("), 1);   /* three sent, one line */

  /* give the lease back, leave, and let a real actor do the job */
  {
    Zerorl__TaskRef ref = ZERORL__TASK_REF__INIT, *refs[1] = {&ref};
    ref.task_id = g->tasks[0]->task_id;
    ref.epoch = g->tasks[0]->epoch;
    ref.group_id = g->tasks[0]->group_id;
    Zerorl__LeaseRelease rel = ZERORL__LEASE_RELEASE__INIT;
    rel.lease_id = g->lease_id;
    rel.n_tasks = 1;
    rel.tasks = refs;
    Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
    env.body_case = ZERORL__ENVELOPE__BODY_LEASE_RELEASE;
    env.lease_release = &rel;
    send_env(d, &env, j.id);
  }
  zr_frame_msg_release(&gm);
  ju_sleep_ms(100);
  zmq_close(d);
  zmq_ctx_term(ctx);
  pid_t a = start_actor(&j, "actor-1", 16);
  expect_learner_done(&j, l, 90000);
  expect_exactly_once(&j);
  CHECK(ju_hget_ll(srv.sock, j.qkey, "dropped_bad") >= 11);
  ju_stop(a, SIGTERM, 5000);
  ju_stop(rw, SIGTERM, 5000);
  show_log_on_failure(j.llog, f0);
}

/* ---- 6: SFT checkpoint / resume determinism ------------------------------------------------ */

static int run_sft(const ju_job *j, int steps, bool resume) {
  char set_steps[64], set_train[300];
  snprintf(set_steps, sizeof set_steps, "learner.total_steps=%d", steps);
  snprintf(set_train, sizeof set_train, "data.train=%s", sft_data);
  char *argv[24];
  int n = 0;
  argv[n++] = bin.learner;
  argv[n++] = "--config";
  argv[n++] = (char *)j->cfg;
  argv[n++] = "--run-dir";
  argv[n++] = (char *)j->run;
  const char *sets[] = {"algo.mode=sft", set_train, set_steps, "learner.checkpoint_every=3",
                        "learner.lr_schedule=constant", "learner.lr=1e-3", "learner.weight_decay=0.01"};
  for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) {
    argv[n++] = "--set";
    argv[n++] = (char *)sets[i];
  }
  if (resume) argv[n++] = "--resume";
  argv[n] = NULL;
  return ju_exit_code(ju_spawn(j->llog, argv), 120000);
}

/* loss of each step 1..n from metrics.jsonl; count of lines */
static int read_losses(const char *path, double *loss, int cap) {
  FILE *f = fopen(path, "r");
  char line[65536];
  int n = 0;
  while (f && fgets(line, sizeof line, f)) {
    json_t *o = json_loads(line, 0, NULL);
    json_int_t step = json_integer_value(json_object_get(o, "step"));
    if (step >= 1 && step <= cap) loss[step - 1] = json_number_value(json_object_get(o, "loss"));
    n++;
    json_decref(o);
  }
  if (f) fclose(f);
  return n;
}

static void test_sft(void) {
  int f0 = zr_test_failures;
  /* mode sft on prompt/completion data: 10 examples, 4 a batch, 6 steps (2.4 epochs), the
   * resumed run starts in the middle of the second epoch */
  ju_job a, b;
  job_init(&a, "sft-a", false);
  job_init(&b, "sft-b", false);
  CHECK_INT(run_sft(&a, 6, false), 0);
  CHECK_INT(run_sft(&b, 3, false), 0);
  CHECK_INT(run_sft(&b, 6, true), 0);
  double la[6] = {0}, lb[6] = {0};
  char path[300];
  snprintf(path, sizeof path, "%s/metrics.jsonl", a.run);
  CHECK_INT(read_losses(path, la, 6), 6);
  snprintf(path, sizeof path, "%s/metrics.jsonl", b.run);
  CHECK_INT(read_losses(path, lb, 6), 6);
  for (int i = 0; i < 6; i++) {
    if (la[i] != lb[i]) fprintf(stderr, "sft: step %d loss %.17g straight vs %.17g resumed\n", i + 1, la[i], lb[i]);
    CHECK(la[i] == lb[i] && la[i] > 0 && isfinite(la[i]));
  }
  CHECK(la[5] < la[0]); /* it learns */
  char pa[300], pb[300];
  snprintf(pa, sizeof pa, "%s/checkpoints/step-000000006/model.safetensors", a.run);
  snprintf(pb, sizeof pb, "%s/checkpoints/step-000000006/model.safetensors", b.run);
  CHECK_INT(ju_run("cmp -s '%s' '%s'", pa, pb), 0);
  snprintf(pa, sizeof pa, "%s/checkpoints/step-000000006/optimizer.safetensors", a.run);
  snprintf(pb, sizeof pb, "%s/checkpoints/step-000000006/optimizer.safetensors", b.run);
  CHECK_INT(ju_run("cmp -s '%s' '%s'", pa, pb), 0);
  show_log_on_failure(b.llog, f0);
}

/* ---- 7: zerorl status against a live zerorl run job --------------------------------------- */

static void test_status(void) {
  int f0 = zr_test_failures;
  ju_job j;
  /* epochs 0: until total_steps, which a random model never reaches: the job stays up */
  job_init(&j, "status", true);
  char cfg[256];
  snprintf(cfg, sizeof cfg, "%s/job.ini", j.dir);
  CHECK_INT(ju_run("sed 's/^epochs = 1$/epochs = 0/' '%s' > '%s'", j.cfg, cfg), 0);
  char log[256];
  snprintf(log, sizeof log, "%s/zerorl-run.log", j.dir);
  char *argv[] = {bin.zerorl, "run", cfg, "--run-dir", j.run, "--quiet", NULL};
  pid_t run = ju_spawn(log, argv);
  char cmd[2048], out[16384] = "";
  snprintf(cmd, sizeof cmd, "'%s' status --job %s --socket '%s/redis.sock' 2>&1", bin.zerorl, j.id, j.run);
  uint64_t deadline = ju_now_ms() + 30000;
  int rc = -1;
  while (ju_now_ms() < deadline) {
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = '\0';
    int st = p ? pclose(p) : -1;
    rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (rc == 0 && strstr(out, "  actor (1)") && strstr(out, "  reward (1)") && strstr(out, "  learner (1)") &&
        strstr(out, "  state              running\n"))
      break;
    ju_sleep_ms(200);
  }
  CHECK_INT(rc, 0);
  CHECK_CONTAINS(out, "job jt-status");
  CHECK_CONTAINS(out, "  state              running\n");
  CHECK_CONTAINS(out, "  tasks_pending      ");
  CHECK_CONTAINS(out, "  tasks_leased       ");
  CHECK_CONTAINS(out, "  groups_trained     ");
  CHECK_CONTAINS(out, "workers: 3 live");
  CHECK_CONTAINS(out, "  actor (1)\n    actor-0 state=");
  CHECK_CONTAINS(out, "  reward (1)\n    reward-0 state=");
  CHECK_CONTAINS(out, "  learner (1)\n");
  if (zr_test_failures != f0) fprintf(stderr, "---- zerorl status ----\n%s\n", out);
  /* SIGTERM: the learner drains and checkpoints; everything stops; exit 0 */
  kill(run, SIGTERM);
  int st = 0;
  int ended = ju_wait(run, 30000, &st);
  CHECK(ended);
  if (!ended) ju_stop(run, SIGKILL, 1000);
  CHECK(ended && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  char path[300];
  snprintf(path, sizeof path, "%s/checkpoints/latest", j.run);
  CHECK(access(path, F_OK) == 0);
  show_log_on_failure(log, f0);
  show_log_on_failure(j.llog, f0);
}

/* ---- main ---------------------------------------------------------------------------------- */

int main(void) {
  ju_find_daemons_or_skip(&bin, ju_build_dir_or_skip());
  if (ju_start(&work, "/tmp/zrjob-XXXXXX", "ZR_JOB_KEEP", &srv) != 0) return 1;
  snprintf(sft_data, sizeof sft_data, "%s/sft.jsonl", work.root);
  CHECK_INT(ju_init_tiny_model(bin.zerorl, work.model, 4, 128, 256), 0);
  CHECK_INT(ju_gen_arith(bin.zerorl, N_TASKS, false, work.tasks), 0);
  CHECK_INT(ju_gen_arith(bin.zerorl, 10, true, sft_data), 0);
  if (zr_test_failures) return TEST_DONE();

  const ju_scenario scenarios[] = {{"actors", test_actors}, {"reward", test_reward}, {"drain", test_drain},
                                   {"redis", test_redis},   {"bad", test_bad},       {"sft", test_sft},
                                   {"status", test_status}};
  ju_run_scenarios(scenarios, sizeof scenarios / sizeof *scenarios, ju_job_test_wanted);
  zr_test_redis_stop(&srv);
  return TEST_DONE();
}
