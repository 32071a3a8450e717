/* Integration test of the data-parallel learner group (learner/comm.h, trainer.h "Data
 * parallelism") on CPUs: every rank is a real process (fork), they meet through a real
 * redis-server (Unix socket) and talk over real ZeroMQ TCP on loopback.
 *
 * 1. comm basics, world 3: broadcast of bytes, host sum/max, the gradient average over several
 *    buckets (exact: (a + b + c) / 3 computed the way rank 0 does), the equality check naming the
 *    rank that differs, a barrier.
 * 2. equivalence: world 2 trains STEPS steps on the same batches as world 1 (tiny Qwen2 of
 *    tests/fixtures/loss, KL k3 to a reference, 2 minibatches per batch, micro-batches of 24
 *    tokens, grad clip, AdamW lr 1e-3). Both ranks must end bit-identical to each other, and
 *    rank 0's weights must match world 1's within a relative L2 error of 1e-5 (float summation
 *    order differs: each rank sums its share, then the shares are added); the step metrics
 *    (loss, entropy, KL, grad norm, token counts, ratio, IS max) match world 1 within
 *    1e-5 (|a - b| / (|a| + 0.01): relative, absolute 1e-7 near 0 as the loss is ~1e-3).
 *    World 3 too (a scale of 1/3 that is not exact).
 * 3. failures: rank 1 is killed (SIGKILL) mid-job; rank 0 must fail within
 *    collective_timeout (+ slack) with a message naming rank 1. Then the other way round: rank 0
 *    is killed and rank 1 must fail naming rank 0. A rank started with the wrong world size is
 *    refused with a message that says so. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "learner/comm.h"
#include "learner/trainer.h"
#include "model/backend.h"
#include "model/transformer.h"
#include "tests/redis_server.h"
#include "tests/test.h"

#define STEPS 4
#define GROUPS 4
#define GSIZE 4
#define NS (GROUPS * GSIZE)

static char model_dir[4200], tmp[4096];
static zr_test_redis srv;
static int key_seq;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void find_dirs(void) {
  const char *s = getenv("ZERORL_SOURCE_DIR");
  char src[2048];
  if (s) {
    snprintf(src, sizeof src, "%s", s);
  } else {
    snprintf(src, sizeof src, "%s", __FILE__);
    char *p = strstr(src, "/tests/integration/");
    if (p) *p = 0;
    else snprintf(src, sizeof src, ".");
  }
  snprintf(model_dir, sizeof model_dir, "%s/tests/fixtures/loss/model", src);
  const char *t = getenv("TMPDIR");
  snprintf(tmp, sizeof tmp, "%s/zr-dist-XXXXXX", t ? t : "/tmp");
  if (!mkdtemp(tmp)) {
    perror("mkdtemp");
    exit(1);
  }
}

static void opts_for(zr_comm_opts *o, const char *key, int rank, int world, int64_t timeout_ms, zr_backend *be) {
  zr_comm_opts_init(o);
  o->rank = rank;
  o->world = world;
  o->key = key;
  o->redis_socket = srv.sock;
  o->timeout_ms = timeout_ms;
  o->be = be;
}

/* writes text to tmp/name */
static void put_file(const char *name, const void *data, size_t len) {
  char path[4400];
  snprintf(path, sizeof path, "%s/%s", tmp, name);
  FILE *f = fopen(path, "wb");
  if (!f) return;
  fwrite(data, 1, len, f);
  fclose(f);
}
static size_t get_file(const char *name, void *buf, size_t cap) {
  char path[4400];
  snprintf(path, sizeof path, "%s/%s", tmp, name);
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

/* waits for pid until deadline; returns the exit status (or -1 on timeout: then it is killed) */
static int wait_exit(pid_t pid, uint64_t deadline, uint64_t *took_from) {
  for (;;) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      if (took_from) *took_from = now_ms() - *took_from;
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    if (now_ms() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return -1;
    }
    usleep(20000);
  }
}

/* ---- 1. comm basics --------------------------------------------------------------------------- */

#define NF 1000
static float basic_value(int rank, size_t i) { return (float)(rank + 1) * 0.37f + (float)i * 1e-3f * (float)(rank + 2); }

static int basics_child(const char *key, int rank) {
  zr_backend *be = NULL;
  if (zr_backend_cpu_new(&be, 1)) return 10;
  zr_comm_opts o;
  opts_for(&o, key, rank, 3, 20000, be);
  o.bucket_bytes = 256; /* 64 floats: 16 buckets */
  zr_comm *c = NULL;
  if (zr_comm_new(&c, &o)) {
    fprintf(stderr, "rank %d: %s\n", rank, zr_errmsg());
    return 11;
  }
  int bad = 0;
  /* broadcast */
  uint32_t tag = 7;
  const char *msg = "hello from rank 0";
  void *data = (void *)msg;
  size_t len = strlen(msg) + 1;
  if (zr_comm_bcast(c, &tag, &data, &len)) bad |= 1;
  if (rank > 0) {
    if (tag != 7 || len != strlen(msg) + 1 || strcmp(data, msg) != 0) bad |= 2;
    free(data);
  }
  /* host sum / max */
  double v[3] = {rank, 1, -rank};
  if (zr_comm_reduce_host(c, v, 3, ZR_COMM_SUM) || v[0] != 3 || v[1] != 3 || v[2] != -3) bad |= 4;
  double mx = rank * 10;
  if (zr_comm_reduce_host(c, &mx, 1, ZR_COMM_MAX) || mx != 20) bad |= 8;
  /* gradient average, bucketed */
  float *x = NULL;
  be->alloc(be, (void **)&x, NF * sizeof *x);
  for (size_t i = 0; i < NF; i++) x[i] = basic_value(rank, i);
  if (zr_comm_all_reduce_avg(c, x, NF)) bad |= 16;
  for (size_t i = 0; i < NF; i++) {
    float want = basic_value(0, i);
    want += basic_value(1, i);
    want += basic_value(2, i);
    want *= 1.0f / 3.0f;
    if (x[i] != want) {
      bad |= 32;
      break;
    }
  }
  be->free(be, x);
  /* equality: rank 2 differs */
  int rc = zr_comm_check_same(c, rank == 2 ? 43 : 42, "the test value");
  char line[600];
  snprintf(line, sizeof line, "%d %s", rc, rc ? zr_errmsg() : "");
  char name[32];
  snprintf(name, sizeof name, "same%d", rank);
  put_file(name, line, strlen(line) + 1);
  if (zr_comm_check_same(c, 5, "five")) bad |= 64;
  if (zr_comm_barrier(c)) bad |= 128;
  zr_comm_free(&c);
  zr_backend_free(&be);
  if (bad) fprintf(stderr, "rank %d: basics failed (mask %d): %s\n", rank, bad, zr_errmsg());
  return bad ? 20 : 0;
}

static void test_basics(void) {
  char key[64];
  snprintf(key, sizeof key, "zerorl:job:test%d:dist", key_seq++);
  pid_t pid[3];
  for (int r = 2; r >= 0; r--) { /* the others start before rank 0: they poll Redis */
    pid[r] = fork();
    if (pid[r] == 0) _exit(basics_child(key, r));
    if (r == 2) usleep(200000);
  }
  for (int r = 0; r < 3; r++) CHECK_INT(wait_exit(pid[r], now_ms() + 60000, NULL), 0);
  for (int r = 0; r < 3; r++) {
    char name[32], line[600] = "";
    snprintf(name, sizeof name, "same%d", r);
    get_file(name, line, sizeof line - 1);
    CHECK(atoi(line) == -EINVAL);
    CHECK_CONTAINS(line, "rank 2");
    CHECK_CONTAINS(line, "the test value");
  }
  /* the hash is gone after a clean end */
  redisContext *rc = redisConnectUnix(srv.sock);
  redisReply *rep = redisCommand(rc, "EXISTS %s", key);
  CHECK(rep && rep->integer == 0);
  freeReplyObject(rep);
  redisFree(rc);
}

/* ---- 2. equivalence ----------------------------------------------------------------------------- */

typedef struct {
  int32_t tok[NS][40];
  float behav[NS][16];
  zr_rl_sample s[NS];
} batch;

static uint64_t rng_state;
static uint32_t rnd(void) {
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t)(rng_state >> 33);
}

static void make_batch(batch *b, int step, int vocab) {
  rng_state = 1000 + (uint64_t)step * 7919;
  for (int i = 0; i < NS; i++) {
    int pl = 3 + (int)(rnd() % 6), cl = 2 + (int)(rnd() % 14);
    for (int k = 0; k < pl + cl; k++) b->tok[i][k] = (int32_t)(rnd() % (uint32_t)vocab);
    for (int k = 0; k < cl; k++) b->behav[i][k] = -0.5f - (float)(rnd() % 1000) * 4e-3f;
    int g = i / GSIZE;
    double reward = (rnd() % 3 == 0) ? 1.0 : 0.0;
    if (i % GSIZE == 0 && g % 2 == 0) reward = 1.0; /* most groups informative */
    if (i % GSIZE == 1 && g % 2 == 0) reward = 0.0;
    if (g == 3) reward = 0.5; /* one group with no signal: skipped the same way everywhere */
    b->s[i] = (zr_rl_sample){.prompt = b->tok[i], .prompt_len = pl, .completion = b->tok[i] + pl,
                             .completion_len = cl, .behav_logp = b->behav[i], .reward = reward, .group = g};
  }
}

static zr_trainer_cfg eq_cfg(int world, zr_comm *comm) {
  zr_trainer_cfg c = zr_trainer_cfg_defaults();
  c.loss.kl = ZR_KL_K3;
  c.loss.kl_beta = 0.04;
  c.loss.eps_high = 0.28;
  c.loss.is_cap = 2.0;
  c.minibatches = 2;
  c.micro_batch_tokens = 24;
  c.lr = zr_lr_schedule_make(ZR_LR_CONSTANT, 1e-3);
  c.max_grad_norm = 1.0;
  c.world_size = world;
  c.comm = comm;
  return c;
}

#define NMET 7
static void metrics_vec(const zr_step_metrics *m, double *v) {
  double x[NMET] = {m->loss, m->entropy, m->kl, m->grad_norm, (double)m->n_tokens, m->ratio_mean, m->is_weight_max};
  memcpy(v, x, sizeof x);
}

/* Trains STEPS steps; world 1 when key is NULL. Writes params and metrics to files named by
 * tag. Returns 0. */
static int train_run(const char *key, int rank, int world, const char *tag, int64_t timeout_ms, int max_steps) {
  zr_backend *be = NULL;
  zr_tf *pol = NULL, *ref = NULL;
  zr_trainer *t = NULL;
  zr_comm *comm = NULL;
  int code = 0;
  if (zr_backend_cpu_new(&be, 1) || zr_tf_load(&pol, model_dir, be) || zr_tf_load(&ref, model_dir, be)) {
    fprintf(stderr, "%s: load: %s\n", tag, zr_errmsg());
    return 10;
  }
  if (key) {
    zr_comm_opts o;
    opts_for(&o, key, rank, world, timeout_ms, be);
    o.bucket_bytes = 4096; /* many buckets */
    if (zr_comm_new(&comm, &o)) {
      fprintf(stderr, "%s: %s\n", tag, zr_errmsg());
      put_file(tag, zr_errmsg(), strlen(zr_errmsg()) + 1);
      return 11;
    }
  }
  zr_trainer_cfg cfg = eq_cfg(world, comm);
  if (zr_trainer_new(&t, pol, ref, &cfg)) {
    fprintf(stderr, "%s: trainer: %s\n", tag, zr_errmsg());
    return 12;
  }
  const int vocab = zr_tf_config(pol)->vocab_size;
  double *mets = calloc((size_t)max_steps * NMET, sizeof *mets);
  batch *b = malloc(sizeof *b);
  char marker[64];
  for (int st = 0; st < max_steps; st++) {
    make_batch(b, st % STEPS, vocab);
    zr_step_metrics m;
    int rc = zr_trainer_rl_step(t, b->s, NS, &m);
    if (rc && rc != -ERANGE) {
      char msg[1200];
      snprintf(msg, sizeof msg, "%d %llu %s", rc, (unsigned long long)now_ms(), zr_errmsg());
      fprintf(stderr, "%s: step %d: %s\n", tag, st, zr_errmsg());
      put_file(tag, msg, strlen(msg) + 1);
      code = 3;
      goto out;
    }
    if (st < STEPS) metrics_vec(&m, mets + st * NMET);
    snprintf(marker, sizeof marker, "%s.step", tag);
    put_file(marker, &st, sizeof st);
  }
  {
    size_t n = zr_tf_n_floats(pol);
    char name[64];
    snprintf(name, sizeof name, "%s.params", tag);
    put_file(name, zr_tf_params(pol), n * sizeof(float));
    snprintf(name, sizeof name, "%s.metrics", tag);
    put_file(name, mets, (size_t)STEPS * NMET * sizeof *mets);
    if (comm && zr_comm_check_same(comm, zr_comm_hash_floats(be, zr_tf_params(pol), n), "the weights after training")) {
      fprintf(stderr, "%s: %s\n", tag, zr_errmsg());
      code = 4;
    }
  }
out:
  free(mets);
  free(b);
  zr_trainer_free(&t);
  zr_comm_free(&comm);
  zr_tf_free(&ref);
  zr_tf_free(&pol);
  zr_backend_free(&be);
  return code;
}

static float *read_floats(const char *name, size_t n) {
  float *p = calloc(n, sizeof *p);
  if (get_file(name, p, n * sizeof *p) != n * sizeof *p) {
    free(p);
    return NULL;
  }
  return p;
}

static void test_equivalence(int world) {
  char key[64], tag[32];
  snprintf(key, sizeof key, "zerorl:job:test%d:dist", key_seq++);
  pid_t pid[4];
  for (int r = 0; r < world; r++) {
    pid[r] = fork();
    if (pid[r] == 0) {
      snprintf(tag, sizeof tag, "w%dr%d", world, r);
      _exit(train_run(key, r, world, tag, getenv("ZR_DIST_TIMEOUT") ? atoi(getenv("ZR_DIST_TIMEOUT")) : 60000, STEPS));
    }
  }
  char probe[8];
  if (get_file("w1.params", probe, sizeof probe) != sizeof probe) /* world 1, meanwhile, in this process */
    CHECK_INT(train_run(NULL, 0, 1, "w1", 0, STEPS), 0);
  for (int r = 0; r < world; r++) CHECK_INT(wait_exit(pid[r], now_ms() + 300000, NULL), 0);
  zr_backend *be = NULL;
  zr_tf *m = NULL;
  zr_backend_cpu_new(&be, 1);
  zr_tf_load(&m, model_dir, be);
  size_t n = zr_tf_n_floats(m);
  zr_tf_free(&m);
  zr_backend_free(&be);
  float *ref = read_floats("w1.params", n);
  CHECK(ref != NULL);
  for (int r = 0; r < world && ref; r++) {
    snprintf(tag, sizeof tag, "w%dr%d.params", world, r);
    float *p = read_floats(tag, n);
    CHECK(p != NULL);
    if (!p) continue;
    double d2 = 0, r2 = 0, dmax = 0;
    for (size_t i = 0; i < n; i++) {
      double d = (double)p[i] - (double)ref[i];
      d2 += d * d;
      r2 += (double)ref[i] * ref[i];
      if (fabs(d) > dmax) dmax = fabs(d);
    }
    double rel = sqrt(d2 / r2);
    fprintf(stderr, "world %d rank %d vs world 1 after %d steps: relative L2 %.3g, max abs %.3g (%zu params)\n", world,
            r, STEPS, rel, dmax, n);
    CHECK(rel <= 1e-5);
    if (r > 0) { /* every rank holds the very same weights */
      snprintf(tag, sizeof tag, "w%dr0.params", world);
      float *p0 = read_floats(tag, n);
      CHECK(p0 && memcmp(p0, p, n * sizeof *p) == 0);
      free(p0);
    }
    free(p);
  }
  double m1[STEPS * NMET], mw[STEPS * NMET];
  snprintf(tag, sizeof tag, "w%dr0.metrics", world);
  CHECK(get_file("w1.metrics", m1, sizeof m1) == sizeof m1 && get_file(tag, mw, sizeof mw) == sizeof mw);
  double worst = 0;
  int wi = 0;
  for (int i = 0; i < STEPS * NMET; i++) {
    double e = fabs(m1[i] - mw[i]) / (fabs(m1[i]) + 1e-2); /* relative, or absolute near 0 (the loss is ~1e-3) */
    if (e > worst) worst = e, wi = i;
  }
  fprintf(stderr, "worst metric: step %d index %d: %.9g vs %.9g\n", wi / NMET, wi % NMET, m1[wi], mw[wi]);
  fprintf(stderr, "world %d metrics vs world 1: worst relative error %.3g (loss, entropy, kl, grad_norm, tokens, "
                  "ratio, is_max over %d steps)\n", world, worst, STEPS);
  CHECK(worst <= 1e-5);
  free(ref);
}

/* ---- 3. failures ------------------------------------------------------------------------------- */

static void test_kill(int victim) {
  const int64_t timeout = 3000;
  char key[64];
  snprintf(key, sizeof key, "zerorl:job:test%d:dist", key_seq++);
  pid_t pid[2];
  for (int r = 0; r < 2; r++) {
    pid[r] = fork();
    if (pid[r] == 0) {
      char tag[32];
      snprintf(tag, sizeof tag, "k%dr%d", victim, r);
      _exit(train_run(key, r, 2, tag, timeout, 100000));
    }
  }
  /* wait until the victim has trained a step, then kill it mid-job */
  char marker[64];
  snprintf(marker, sizeof marker, "k%dr%d.step", victim, victim);
  uint64_t deadline = now_ms() + 120000;
  int st = -1;
  while (now_ms() < deadline && (get_file(marker, &st, sizeof st) != sizeof st || st < 1)) usleep(20000);
  CHECK(st >= 1);
  kill(pid[victim], SIGKILL);
  uint64_t killed = now_ms();
  waitpid(pid[victim], NULL, 0);
  const int other = 1 - victim;
  uint64_t took = killed;
  int code = wait_exit(pid[other], killed + (uint64_t)timeout + 15000, &took);
  char tag[32], msg[1200] = "";
  snprintf(tag, sizeof tag, "k%dr%d", victim, other);
  get_file(tag, msg, sizeof msg - 1);
  fprintf(stderr, "killed rank %d: rank %d exited with %d after %llu ms: %s\n", victim, other, code,
          (unsigned long long)took, msg);
  CHECK(code == 3);
  char want[32];
  snprintf(want, sizeof want, "rank %d", victim);
  CHECK_CONTAINS(msg, want);
  CHECK(took <= (uint64_t)timeout + 10000);
}

static void test_refusals(void) {
  char key[64];
  snprintf(key, sizeof key, "zerorl:job:test%d:dist", key_seq++);
  pid_t p0 = fork();
  if (p0 == 0) { /* rank 0 of 2 waits for 2 s: nobody valid comes */
    zr_comm_opts o;
    opts_for(&o, key, 0, 2, 2000, NULL);
    zr_comm *c = NULL;
    int rc = zr_comm_new(&c, &o);
    put_file("refuse0", zr_errmsg(), strlen(zr_errmsg()) + 1);
    _exit(rc ? 0 : 1);
  }
  usleep(300000);
  zr_comm_opts o;
  opts_for(&o, key, 1, 3, 1500, NULL); /* wrong world size */
  zr_comm *c = NULL;
  int rc = zr_comm_new(&c, &o);
  CHECK(rc < 0);
  CHECK_CONTAINS(zr_errmsg(), "world_size 2");
  CHECK_INT(wait_exit(p0, now_ms() + 20000, NULL), 0);
  char msg[600] = "";
  get_file("refuse0", msg, sizeof msg - 1);
  CHECK_CONTAINS(msg, "rank 1 did not join");
  /* no Redis at all */
  opts_for(&o, key, 1, 2, 600, NULL);
  o.redis_socket = "/nonexistent/redis.sock";
  CHECK(zr_comm_new(&c, &o) < 0);
  CHECK_CONTAINS(zr_errmsg(), "/nonexistent/redis.sock");
}

int main(void) {
  if (!zr_test_redis_available()) TEST_SKIP("redis-server is not installed");
  signal(SIGPIPE, SIG_IGN);
  if (!getenv("ZERORL_LOG_LEVEL")) zr_log_set_level(ZR_LOG_WARN);
  find_dirs();
  if (zr_test_redis_start(&srv, 0, NULL) != 0) return 1;
  const char *only = getenv("ZR_DIST_ONLY"); /* debugging: one part */
#define PART(name, call) \
  if (!only || strcmp(only, name) == 0) call
  PART("basics", test_basics());
  PART("eq2", test_equivalence(2));
  PART("eq3", test_equivalence(3));
  PART("kill1", test_kill(1));
  PART("kill0", test_kill(0));
  PART("refuse", test_refusals());
#undef PART
  zr_test_redis_stop(&srv);
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmp);
  return TEST_DONE();
}
