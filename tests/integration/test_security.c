/* Security integration test: ZeroMQ CURVE with the learner's allow-list, and Redis AUTH/ACL,
 * with the real zerorl-learner, zerorl-actor and zerorl-reward on ipc:// endpoints and a real
 * redis-server. The model is a tiny random one (as in test_job.c); the job ends when its
 * epoch's tasks are all in RUN/trained.jsonl. Scenarios:
 *
 *   keygen   `zerorl keygen --out P`: P.key (mode 0600) and P.pub, one 40-character Z85 line
 *            each, a matching pair; a second run refuses to overwrite (exit 1, files unchanged),
 *            --force overwrites; --help; no --out is a usage error (2)
 *   curve    [security] on every daemon (keys from `zerorl keygen`; the actor's and the reward
 *            worker's public keys in the learner's allowed_clients_file). Before the actor starts:
 *            a raw DEALER with the actor's key gets a WorkGrant and a weight chunk (the probes
 *            are valid); one with an unknown key (zmq_curve_keypair) and one without CURVE send
 *            WorkRequests, a Rollout, a ScoredRollout and WeightChunkRequests to the work and
 *            weights endpoints for 3 s and get no answer at all, and nothing they sent reaches
 *            the learner (queue hash dropped_bad stays 0); the learner logs the refused key
 *            (once: rate-limited). Then the actor runs the job to the end, exactly once, and
 *            neither the actor's nor the reward worker's key is ever refused.
 *   half     a half-configured [security] section (only the secret key): learner, actor and
 *            reward worker each refuse to start (exit non-zero) naming the missing keys; a
 *            learner whose allowed_clients_file does not exist refuses to start naming it
 *   acl      redis-server with --requirepass and an ACL user (ACL SETUSER after start): the
 *            daemons authenticate with [redis] user/password; the job ends, its job hash (read
 *            back as that user) says done
 *   acl-bad  the learner's password is wrong: it logs "AUTH failed" (common/redis.c logs and
 *            retries with back-off), keeps training (Redis down never stops training), the job
 *            ends with exit 0, and the learner never wrote its job hash
 *
 * Tampered weight chunks (checksums) are covered by tests/integration/test_actor.c.
 * Every wait has a deadline; every child is killed at exit; the temporary directory is removed
 * (kept with ZR_SEC_KEEP=1). Run some scenarios only with ZR_SEC_TEST=name[,name]. */
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <zmq.h>

#include "common/frame.h"
#include "tests/integration/job_util.h"
#include "tests/redis_server.h"
#include "tests/test.h"

#define N_TASKS 16
#define G 4
#define TEST_SENDER "0123456789abcdef0123456789abcdef"

static ju_daemons bin;
static ju_workdir work;
static char keys[256]; /* ROOT/keys: zerorl keygen's pairs */
static zr_test_redis srv, acl;

static void show_log_on_failure(const char *path, int failures_before) {
  ju_show_log_on_failure(path, failures_before, 6000);
}

/* The job's directory and base config RUN/config.ini; Redis at redis_socket, redis_more: more
 * lines of the [redis] section (or NULL). */
static void job_init(ju_job *j, const char *name, const char *redis_socket, const char *redis_more) {
  ju_job_init(j, work.root, name, "sec-");
  char sections[4096];
  snprintf(sections, sizeof sections,
           "[job]\nid = %s\nname = %s\nrun_dir = %s\n"
           "[model]\npath = %s\nthreads = 1\n"
           "[data]\ntrain = %s\ntemplate = raw\nepochs = 1\n"
           "[algo]\ngroup_size = %d\ngroups_per_batch = 4\nmax_new_tokens = 32\n"
           "[actor]\nslots = 8\nmax_len = 96\nthreads = 1\nlease_margin = 500ms\nask_interval = 200ms\n"
           "[learner]\nlr = 1e-4\ntotal_steps = 100000\ncheckpoint_every = 0\nlease = 5s\nscore_deadline = 3s\n"
           "drain_timeout = 4s\nmax_task_retries = 50\n",
           j->id, name, j->run, work.model, work.tasks, G);
  CHECK_INT(ju_write_config(j, sections, redis_socket, redis_more), 0);
}

/* Writes RUN/<role>.ini: the base config plus a [security] section. */
static void role_config(const ju_job *j, const char *role, const char *security, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s.ini", j->run, role);
  char *base = ju_read_file(j->cfg);
  char text[8192];
  snprintf(text, sizeof text, "%s[security]\n%s", base ? base : "", security);
  free(base);
  CHECK_INT(ju_write_file(out, text), 0);
}

/* [security] of a daemon whose keys are keys/NAME.{key,pub}; the learner adds its allow-list. */
static void security_for(const char *name, const char *allowed, char *out, size_t cap) {
  int n = snprintf(out, cap,
           "curve_secret_key_file = %s/%s.key\ncurve_public_key_file = %s/%s.pub\n"
           "curve_server_public_key_file = %s/learner.pub\nallowed_clients_file = %s\n",
           keys, name, keys, name, keys, allowed);
  CHECK(n > 0 && (size_t)n < cap);
}

static pid_t spawn_role(const ju_job *j, const char *daemon, const char *cfg, const char *id, const char *set) {
  char log[256];
  snprintf(log, sizeof log, "%s/logs/%s.log", j->run, id);
  char *argv[16];
  int n = 0;
  argv[n++] = (char *)daemon;
  argv[n++] = "--config";
  argv[n++] = (char *)cfg;
  if (daemon == bin.learner) {
    argv[n++] = "--run-dir";
    argv[n++] = (char *)j->run;
  } else {
    argv[n++] = "--id";
    argv[n++] = (char *)id;
  }
  if (daemon == bin.actor) {
    argv[n++] = "--threads";
    argv[n++] = "1";
  }
  if (daemon == bin.reward) {
    argv[n++] = "--slots";
    argv[n++] = "2";
  }
  if (set) {
    argv[n++] = "--set";
    argv[n++] = (char *)set;
  }
  argv[n] = NULL;
  return ju_spawn(daemon == bin.learner ? j->llog : log, argv);
}

static void expect_learner_done(const ju_job *j, pid_t learner, int timeout_ms) {
  ju_expect_learner_done(j->name, j->trained, learner, timeout_ms);
}

static void expect_exactly_once(const ju_job *j) {
  ju_expect_exactly_once(j->name, j->trained, work.tasks, G, N_TASKS);
}

static char *read_key(const char *path) {
  static char k[4][64];
  static int i;
  char *out = k[i++ % 4];
  char *s = ju_read_file(path);
  out[0] = '\0';
  if (s) sscanf(s, "%63s", out);
  free(s);
  return out;
}

/* ---- keygen --------------------------------------------------------------------------------- */

static void test_keygen(void) {
  char p[300], sec[320], pub[320];
  snprintf(p, sizeof p, "%s/kg/a", work.root);
  ju_run("mkdir -p '%s/kg'", work.root);
  snprintf(sec, sizeof sec, "%s.key", p);
  snprintf(pub, sizeof pub, "%s.pub", p);
  CHECK_INT(ju_run("'%s' keygen --out '%s' >/dev/null", bin.zerorl, p), 0);
  struct stat st;
  CHECK(stat(sec, &st) == 0 && (st.st_mode & 0777) == 0600);
  CHECK(stat(pub, &st) == 0);
  char *s = ju_read_file(sec), *q = ju_read_file(pub);
  CHECK(s && strlen(s) == 41 && s[40] == '\n');
  CHECK(q && strlen(q) == 41 && q[40] == '\n');
  if (s && q && strlen(s) == 41 && strlen(q) == 41) {
    s[40] = q[40] = '\0';
    char derived[41];
    CHECK_INT(zmq_curve_public(derived, s), 0);
    CHECK_STR(derived, q); /* a matching pair */
  }
  /* no overwrite without --force; the files stay as they were */
  CHECK_INT(ju_run("'%s' keygen --out '%s' >/dev/null 2>&1", bin.zerorl, p), 1);
  char *s2 = ju_read_file(sec);
  CHECK(s && s2 && strncmp(s, s2, 40) == 0);
  free(s2);
  char other[320];
  snprintf(other, sizeof other, "%s/kg/b", work.root);
  CHECK_INT(ju_run("touch '%s.pub'; '%s' keygen --out '%s' >/dev/null 2>&1", other, bin.zerorl, other), 1);
  snprintf(other, sizeof other, "%s/kg/b.key", work.root);
  CHECK(access(other, F_OK) != 0); /* no half pair */
  /* --force overwrites, mode 0600 again */
  chmod(sec, 0644);
  CHECK_INT(ju_run("'%s' keygen --out '%s' --force >/dev/null", bin.zerorl, p), 0);
  s2 = ju_read_file(sec);
  CHECK(s && s2 && strncmp(s, s2, 40) != 0);
  CHECK(stat(sec, &st) == 0 && (st.st_mode & 0777) == 0600);
  free(s2);
  free(s);
  free(q);
  CHECK_INT(ju_run("'%s' keygen --help | grep -q 'PREFIX.key'", bin.zerorl), 0);
  CHECK_INT(ju_run("'%s' keygen >/dev/null 2>&1", bin.zerorl), 2);
  CHECK_INT(ju_run("'%s' --help | grep -q keygen", bin.zerorl), 0);
}

/* ---- probes: raw DEALERs -------------------------------------------------------------------- */

static void send_env(void *d, Zerorl__Envelope *env, const char *job_id) {
  uint8_t *buf = NULL;
  size_t len = 0;
  CHECK_INT(zr_frame_encode(env, job_id, TEST_SENDER, 0, &buf, &len), 0);
  if (buf) zmq_send(d, buf, len, ZMQ_DONTWAIT); /* a refused socket may be at its HWM: fine */
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

static void send_chunk_request(void *d, const char *job_id) {
  Zerorl__WeightChunkRequest r = ZERORL__WEIGHT_CHUNK_REQUEST__INIT;
  r.version = 0;
  r.chunk_index = 0;
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  env.body_case = ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK_REQUEST;
  env.weight_chunk_request = &r;
  send_env(d, &env, job_id);
}

/* a rollout for a lease that does not exist, and a score for an unknown score id: were they
 * to reach the learner, each would be counted in dropped_bad */
static void send_rollout_and_score(void *d, const char *job_id) {
  uint32_t prompt[4] = {'1', '+', '1', '='}, comp[2] = {'2', '2'};
  uint64_t versions[2] = {0};
  float lp[2] = {-1.0f, -1.0f};
  Zerorl__Rollout r = ZERORL__ROLLOUT__INIT;
  r.lease_id = 123456789;
  r.task_id = "no-such-task";
  r.n_prompt_ids = 4;
  r.prompt_ids = prompt;
  r.n_completion_ids = r.n_logprobs = r.n_token_versions = 2;
  r.completion_ids = comp;
  r.logprobs = lp;
  r.token_versions = versions;
  r.finish_reason = ZERORL__FINISH_REASON__FINISH_LENGTH;
  r.completion_text = "22";
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  env.body_case = ZERORL__ENVELOPE__BODY_ROLLOUT;
  env.rollout = &r;
  send_env(d, &env, job_id);
  Zerorl__ScoredRollout s = ZERORL__SCORED_ROLLOUT__INIT;
  s.score_id = 987654321987ull;
  s.task_id = "no-such-task";
  s.reward = 1.0;
  s.status = ZERORL__VERIFIER_STATUS__VERIFIER_OK;
  Zerorl__Envelope env2 = ZERORL__ENVELOPE__INIT;
  env2.body_case = ZERORL__ENVELOPE__BODY_SCORED_ROLLOUT;
  env2.scored_rollout = &s;
  send_env(d, &env2, job_id);
}

typedef struct {
  void *work, *weights;
} probe;

/* pub/sec NULL: no CURVE */
static probe probe_new(void *ctx, const ju_job *j, const char *pub, const char *sec, const char *srv_pub) {
  probe p;
  void **s[2] = {&p.work, &p.weights};
  const char *ep[2] = {"w", "c"};
  for (int i = 0; i < 2; i++) {
    *s[i] = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0, hwm = 100000;
    zmq_setsockopt(*s[i], ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(*s[i], ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (pub) {
      CHECK_INT(zmq_setsockopt(*s[i], ZMQ_CURVE_PUBLICKEY, pub, 40), 0);
      CHECK_INT(zmq_setsockopt(*s[i], ZMQ_CURVE_SECRETKEY, sec, 40), 0);
      CHECK_INT(zmq_setsockopt(*s[i], ZMQ_CURVE_SERVERKEY, srv_pub, 40), 0);
    }
    char e[200];
    snprintf(e, sizeof e, "ipc://%s/%s", j->dir, ep[i]);
    CHECK_INT(zmq_connect(*s[i], e), 0);
  }
  return p;
}

static void probe_free(probe *p) {
  zmq_close(p->work);
  zmq_close(p->weights);
}

/* The body case of the next message on s (its first frame), 0 when none is waiting. */
static int recv_body(void *s, Zerorl__Envelope **keep) {
  zmq_msg_t m;
  zmq_msg_init(&m);
  int body = 0;
  if (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) >= 0) {
    Zerorl__Envelope *e = zerorl__envelope__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
    body = e ? (int)e->body_case : -1;
    if (e && keep && !*keep && body == ZERORL__ENVELOPE__BODY_WORK_GRANT && e->work_grant->n_tasks > 0) *keep = e;
    else if (e) zerorl__envelope__free_unpacked(e, NULL);
    while (zmq_msg_more(&m) && zmq_msg_recv(&m, s, ZMQ_DONTWAIT) >= 0) {
    }
  }
  zmq_msg_close(&m);
  return body;
}

/* ---- curve ---------------------------------------------------------------------------------- */

static void make_keys(void) {
  const char *names[] = {"learner", "actor", "reward"};
  ju_run("mkdir -p '%s'", keys);
  for (int i = 0; i < 3; i++)
    CHECK_INT(ju_run("'%s' keygen --out '%s/%s' >/dev/null", bin.zerorl, keys, names[i]), 0);
}

static void test_curve(void) {
  int f0 = zr_test_failures;
  ju_job j;
  char allowed[200], sec[2048], lcfg[300], acfg[300], rcfg[300], kpath[300];
  job_init(&j, "curve", srv.sock, NULL);
  /* the allow-list: the actor's and the reward worker's public keys, with comments */
  snprintf(allowed, sizeof allowed, "%s/allowed_clients", j.dir);
  CHECK_INT(ju_run("{ echo '# clients of job sec-curve'; cat '%s/actor.pub'; echo; cat '%s/reward.pub'; } > '%s'",
                   keys, keys, allowed),
            0);
  security_for("learner", allowed, sec, sizeof sec);
  role_config(&j, "learner", sec, lcfg, sizeof lcfg);
  security_for("actor", allowed, sec, sizeof sec);
  role_config(&j, "actor", sec, acfg, sizeof acfg);
  security_for("reward", allowed, sec, sizeof sec);
  role_config(&j, "reward", sec, rcfg, sizeof rcfg);
  char lpub[64], apub[64], asec[64], rpub[64];
  snprintf(kpath, sizeof kpath, "%s/learner.pub", keys);
  snprintf(lpub, sizeof lpub, "%s", read_key(kpath));
  snprintf(kpath, sizeof kpath, "%s/actor.pub", keys);
  snprintf(apub, sizeof apub, "%s", read_key(kpath));
  snprintf(kpath, sizeof kpath, "%s/actor.key", keys);
  snprintf(asec, sizeof asec, "%s", read_key(kpath));
  snprintf(kpath, sizeof kpath, "%s/reward.pub", keys);
  snprintf(rpub, sizeof rpub, "%s", read_key(kpath));
  char upub[41], usec[41];
  CHECK_INT(zmq_curve_keypair(upub, usec), 0);

  pid_t l = spawn_role(&j, bin.learner, lcfg, "learner", NULL);
  pid_t rw = spawn_role(&j, bin.reward, rcfg, "rw-1", NULL);
  void *ctx = zmq_ctx_new();

  /* control: the actor's key is let in; grant and chunk prove the probes are valid */
  probe ok = probe_new(ctx, &j, apub, asec, lpub);
  Zerorl__Envelope *grant = NULL;
  bool chunk = false;
  uint64_t deadline = ju_now_ms() + 30000, next = 0;
  while ((!grant || !chunk) && ju_now_ms() < deadline) {
    if (ju_now_ms() >= next) {
      if (!grant) send_work_request(ok.work, j.id);
      if (!chunk) send_chunk_request(ok.weights, j.id);
      next = ju_now_ms() + 300;
    }
    recv_body(ok.work, &grant);
    if (recv_body(ok.weights, NULL) == ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK) chunk = true;
    ju_sleep_ms(10);
  }
  CHECK(grant != NULL);
  CHECK(chunk);
  if (grant) { /* give the lease back */
    const Zerorl__WorkGrant *g = grant->work_grant;
    Zerorl__TaskRef refs[64], *prefs[64];
    size_t nt = g->n_tasks < 64 ? g->n_tasks : 64;
    for (size_t i = 0; i < nt; i++) {
      Zerorl__TaskRef r = ZERORL__TASK_REF__INIT;
      r.task_id = g->tasks[i]->task_id;
      r.epoch = g->tasks[i]->epoch;
      r.group_id = g->tasks[i]->group_id;
      refs[i] = r;
      prefs[i] = &refs[i];
    }
    Zerorl__LeaseRelease rel = ZERORL__LEASE_RELEASE__INIT;
    rel.lease_id = g->lease_id;
    rel.n_tasks = nt;
    rel.tasks = prefs;
    Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
    env.body_case = ZERORL__ENVELOPE__BODY_LEASE_RELEASE;
    env.lease_release = &rel;
    send_env(ok.work, &env, j.id);
    zerorl__envelope__free_unpacked(grant, NULL);
  }

  /* intruders: an unknown key and no CURVE at all, 3 s of every kind of request */
  probe unknown = probe_new(ctx, &j, upub, usec, lpub);
  probe plain = probe_new(ctx, &j, NULL, NULL, NULL);
  int answers = 0;
  deadline = ju_now_ms() + 3000;
  next = 0;
  while (ju_now_ms() < deadline) {
    if (ju_now_ms() >= next) {
      probe *ps[2] = {&unknown, &plain};
      for (int i = 0; i < 2; i++) {
        send_work_request(ps[i]->work, j.id);
        send_rollout_and_score(ps[i]->work, j.id);
        send_chunk_request(ps[i]->weights, j.id);
      }
      next = ju_now_ms() + 300;
    }
    answers += recv_body(unknown.work, NULL) != 0;
    answers += recv_body(unknown.weights, NULL) != 0;
    answers += recv_body(plain.work, NULL) != 0;
    answers += recv_body(plain.weights, NULL) != 0;
    ju_sleep_ms(10);
  }
  CHECK_INT(answers, 0);
  ju_sleep_ms(1500); /* the queue hash is mirrored every second */
  long long dropped = ju_hget_ll(srv.sock, j.qkey, "dropped_bad");
  CHECK_INT(dropped, 0); /* none of their rollouts or scores reached the learner */
  char needle[128];
  snprintf(needle, sizeof needle, "refused a CURVE client: key not in the allow-list key=%s", upub);
  CHECK_INT(ju_count_in_file(j.llog, needle), 1); /* logged, rate-limited: once per key per minute */
  probe_free(&unknown);
  probe_free(&plain);
  probe_free(&ok);
  zmq_ctx_term(ctx);

  /* the real job */
  pid_t a = spawn_role(&j, bin.actor, acfg, "actor-1", NULL);
  expect_learner_done(&j, l, 60000);
  expect_exactly_once(&j);
  snprintf(needle, sizeof needle, "key=%s", apub);
  CHECK_INT(ju_count_in_file(j.llog, needle), 0);
  snprintf(needle, sizeof needle, "key=%s", rpub);
  CHECK_INT(ju_count_in_file(j.llog, needle), 0);
  CHECK(ju_count_in_file(j.llog, "CURVE allow-list loaded keys=2") == 1);
  ju_stop(a, SIGTERM, 5000);
  ju_stop(rw, SIGTERM, 5000);
  show_log_on_failure(j.llog, f0);
}

/* ---- half-configured [security] ---------------------------------------------------------- */

static void expect_refuses(const ju_job *j, const char *daemon, const char *cfg, const char *id, const char *needle) {
  char log[256];
  snprintf(log, sizeof log, "%s/logs/%s.log", j->run, id);
  pid_t p = spawn_role(j, daemon, cfg, id, NULL);
  int st = 0;
  int ended = ju_wait(p, 15000, &st);
  CHECK(ended);
  if (!ended) ju_stop(p, SIGKILL, 1000);
  CHECK(ended && WIFEXITED(st) && WEXITSTATUS(st) != 0);
  const char *daemon_log = daemon == bin.learner ? j->llog : log;
  CHECK(ju_count_in_file(daemon_log, needle) >= 1);
  if (ju_count_in_file(daemon_log, needle) < 1) show_log_on_failure(daemon_log, -1);
}

static void test_half(void) {
  ju_job j;
  char sec[1024], cfg[300], allowed[200];
  job_init(&j, "half", srv.sock, NULL);
  snprintf(sec, sizeof sec, "curve_secret_key_file = %s/actor.key\n", keys);
  role_config(&j, "half", sec, cfg, sizeof cfg);
  const char *missing = "[security] curve_public_key_file, curve_server_public_key_file, allowed_clients_file: not set";
  expect_refuses(&j, bin.learner, cfg, "learner", missing);
  expect_refuses(&j, bin.actor, cfg, "actor-h", missing);
  expect_refuses(&j, bin.reward, cfg, "reward-h", missing);
  /* complete, but the allow-list file does not exist: the learner names it */
  snprintf(allowed, sizeof allowed, "%s/no-such-allow-list", j.dir);
  security_for("learner", allowed, sec, sizeof sec);
  role_config(&j, "nolist", sec, cfg, sizeof cfg);
  expect_refuses(&j, bin.learner, cfg, "learner", "no-such-allow-list: cannot open the allow-list");
}

/* ---- Redis AUTH / ACL ------------------------------------------------------------------------ */

/* A command on the ACL server as user zrjob; malloc'd string reply or NULL. */
static char *acl_hget(const char *key, const char *field) {
  struct timeval tv = {1, 0};
  redisContext *c = redisConnectUnixWithTimeout(acl.sock, tv);
  if (!c || c->err) {
    if (c) redisFree(c);
    return NULL;
  }
  redisSetTimeout(c, tv);
  char *v = NULL;
  redisReply *r = redisCommand(c, "AUTH zrjob job-pw-1");
  if (r && r->type == REDIS_REPLY_STATUS) {
    freeReplyObject(r);
    r = redisCommand(c, "HGET %s %s", key, field);
    v = r && r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
  }
  if (r) freeReplyObject(r);
  redisFree(c);
  return v;
}

static int acl_setup(void) {
  if (acl.pid) return 0;
  if (zr_test_redis_start(&acl, 0, "admin-pw") != 0) return -1;
  struct timeval tv = {2, 0};
  redisContext *c = redisConnectUnixWithTimeout(acl.sock, tv);
  if (!c || c->err) return -1;
  redisReply *r = redisCommand(c, "AUTH admin-pw");
  int ok = r && r->type == REDIS_REPLY_STATUS;
  if (r) freeReplyObject(r);
  r = ok ? redisCommand(c, "ACL SETUSER zrjob on >job-pw-1 ~* &* +@all") : NULL;
  ok = r && r->type == REDIS_REPLY_STATUS;
  if (r) freeReplyObject(r);
  redisFree(c);
  CHECK(ok);
  return ok ? 0 : -1;
}

static void test_acl(void) {
  int f0 = zr_test_failures;
  if (acl_setup() < 0) {
    CHECK(0);
    return;
  }
  ju_job j;
  job_init(&j, "acl", acl.sock, "user = zrjob\npassword = job-pw-1\n");
  pid_t l = spawn_role(&j, bin.learner, j.cfg, "learner", NULL);
  pid_t rw = spawn_role(&j, bin.reward, j.cfg, "rw-1", NULL);
  pid_t a = spawn_role(&j, bin.actor, j.cfg, "actor-1", NULL);
  expect_learner_done(&j, l, 60000);
  expect_exactly_once(&j);
  char *state = acl_hget(j.key, "state");
  CHECK_STR(state, "done");
  free(state);
  CHECK_INT(ju_count_in_file(j.llog, "AUTH failed"), 0);
  ju_stop(a, SIGTERM, 5000);
  ju_stop(rw, SIGTERM, 5000);
  char alog[256];
  snprintf(alog, sizeof alog, "%s/logs/actor-1.log", j.run);
  CHECK_INT(ju_count_in_file(alog, "AUTH failed"), 0);
  show_log_on_failure(j.llog, f0);
}

static void test_acl_bad(void) {
  int f0 = zr_test_failures;
  if (acl_setup() < 0) {
    CHECK(0);
    return;
  }
  ju_job j;
  job_init(&j, "acl-bad", acl.sock, "user = zrjob\npassword = job-pw-1\n");
  pid_t l = spawn_role(&j, bin.learner, j.cfg, "learner", "redis.password=wrong-pw");
  pid_t rw = spawn_role(&j, bin.reward, j.cfg, "rw-1", NULL);
  pid_t a = spawn_role(&j, bin.actor, j.cfg, "actor-1", NULL);
  expect_learner_done(&j, l, 60000); /* training goes on without Redis */
  expect_exactly_once(&j);
  CHECK(ju_count_in_file(j.llog, "AUTH failed") >= 1);
  CHECK(ju_count_in_file(j.llog, "user=zrjob") >= 1);
  char *state = acl_hget(j.key, "state");
  CHECK(state == NULL); /* the learner never got in */
  free(state);
  ju_stop(a, SIGTERM, 5000);
  ju_stop(rw, SIGTERM, 5000);
  show_log_on_failure(j.llog, f0);
}

/* ---- main ---------------------------------------------------------------------------------- */

static bool want(const char *name) {
  const char *only = getenv("ZR_SEC_TEST");
  if (!only || !*only) return true;
  char buf[256];
  snprintf(buf, sizeof buf, ",%s,", only);
  char n[64];
  snprintf(n, sizeof n, ",%s,", name);
  return strstr(buf, n) != NULL;
}

int main(void) {
  const char *build_dir = ju_build_dir_or_skip();
  if (!zmq_has("curve")) TEST_SKIP("libzmq without CURVE");
  ju_find_daemons_or_skip(&bin, build_dir);
  if (ju_start(&work, "/tmp/zrsec-XXXXXX", "ZR_SEC_KEEP", &srv) != 0) return 1;
  snprintf(keys, sizeof keys, "%s/keys", work.root);
  CHECK_INT(ju_init_tiny_model(bin.zerorl, work.model, 2, 64, 128), 0);
  CHECK_INT(ju_gen_arith(bin.zerorl, N_TASKS, false, work.tasks), 0);
  make_keys();
  if (zr_test_failures) return TEST_DONE();

  const ju_scenario scenarios[] = {{"keygen", test_keygen}, {"curve", test_curve},     {"half", test_half},
                                   {"acl", test_acl},       {"acl-bad", test_acl_bad}};
  ju_run_scenarios(scenarios, sizeof scenarios / sizeof *scenarios, want);
  zr_test_redis_stop(&acl);
  zr_test_redis_stop(&srv);
  return TEST_DONE();
}
