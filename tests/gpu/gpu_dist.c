/* gpu_dist: device check of the NCCL gradient plane (cuda/comm_nccl.h) and of a data-parallel
 * learner group on CUDA (learner/comm.h, trainer.h "Data parallelism").
 *
 * 1. one GPU or more: an NCCL communicator of world 1 made from a fresh ncclUniqueId (hex round
 *    trip, non-blocking init), ncclAvg all-reduce of 3M floats in 1M-float buckets on the CUDA
 *    backend's stream (world 1: the values come back unchanged), then abort: later calls fail.
 * 2. two GPUs or more (and redis-server installed): ranks 0 and 1 as processes on devices 0 and 1
 *    meet through Redis (ncclUniqueId published by rank 0), train STEPS RL steps of the tiny
 *    Qwen2 fixture with gradients averaged by NCCL; both end with identical weights, within a
 *    relative L2 of 1e-4 of world 1 on device 0 (GPU summation order differs more than on CPU).
 *    Then rank 1 is killed mid-step and rank 0 must fail naming rank 1 within the 5 s timeout.
 * Exit 0 passed, 1 failed, 77 no GPU. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "cuda/backend_cuda.h"
#include "cuda/comm_nccl.h"
#include "cuda/device.h"
#include "learner/comm.h"
#include "learner/trainer.h"
#include "model/transformer.h"
#include "tests/redis_server.h"
#include "tests/test.h"

#define STEPS 4
#define NS 16

static char model_dir[4200], tmp[256];
static zr_test_redis srv;

static int part_nccl1(void) {
  zr_backend *be = NULL;
  if (zr_backend_cuda_new(&be, 0)) {
    fprintf(stderr, "cuda backend: %s\n", zr_errmsg());
    return 1;
  }
  char hex[ZR_NCCL_ID_HEX];
  CHECK_INT(zr_nccl_unique_id(hex), 0);
  zr_nccl *n = NULL;
  int rc = zr_nccl_new(&n, hex, 0, 1, be, 30000);
  CHECK_INT(rc, 0);
  if (rc) {
    fprintf(stderr, "%s\n", zr_errmsg());
    zr_backend_free(&be);
    return 1;
  }
  const size_t N = 3u << 20;
  float *h = malloc(N * sizeof *h), *back = malloc(N * sizeof *back), *d = NULL;
  for (size_t i = 0; i < N; i++) h[i] = (float)(i % 1000) * 0.001f - 0.3f;
  CHECK_INT(be->alloc(be, (void **)&d, N * sizeof *d), 0);
  be->upload(be, d, h, N * sizeof *h);
  CHECK_INT(zr_nccl_all_reduce_avg(n, d, N, 1u << 20, 30000), 0);
  be->download(be, back, d, N * sizeof *back);
  CHECK(memcmp(h, back, N * sizeof *h) == 0);
  zr_nccl_abort(n);
  CHECK(zr_nccl_all_reduce_avg(n, d, N, 1u << 20, 30000) < 0);
  CHECK_CONTAINS(zr_errmsg(), "aborted");
  zr_nccl_free(&n);
  be->free(be, d);
  free(h);
  free(back);
  zr_backend_free(&be);
  fprintf(stderr, "gpu_dist: NCCL world 1 on device 0: init, ncclAvg all-reduce of %zu floats, abort: %s\n", N,
          zr_test_failures ? "FAILED" : "ok");
  return 0;
}

static void make_batch(int32_t tok[NS][40], float behav[NS][16], zr_rl_sample *s, int step, int vocab) {
  uint64_t st = 1000 + (uint64_t)step * 7919;
#define RND() (st = st * 6364136223846793005ULL + 1442695040888963407ULL, (uint32_t)(st >> 33))
  for (int i = 0; i < NS; i++) {
    int pl = 3 + (int)(RND() % 6), cl = 2 + (int)(RND() % 14);
    for (int k = 0; k < pl + cl; k++) tok[i][k] = (int32_t)(RND() % (uint32_t)vocab);
    for (int k = 0; k < cl; k++) behav[i][k] = -0.5f - (float)(RND() % 1000) * 4e-3f;
    double r = (RND() % 3 == 0) ? 1.0 : 0.0;
    if (i % 4 == 0) r = 1.0;
    if (i % 4 == 1) r = 0.0;
    s[i] = (zr_rl_sample){tok[i], pl, tok[i] + pl, cl, behav[i], r, i / 4};
  }
#undef RND
}

/* world 1 when key is NULL; writes tmp/<tag>.params; returns an exit code */
static int train(const char *key, int rank, int world, const char *tag, int steps) {
  zr_backend *be = NULL;
  zr_tf *pol = NULL;
  zr_trainer *t = NULL;
  zr_comm *comm = NULL;
  if (zr_backend_cuda_new(&be, rank) || zr_tf_load(&pol, model_dir, be)) {
    fprintf(stderr, "%s: %s\n", tag, zr_errmsg());
    return 10;
  }
  if (key) {
    zr_comm_opts o;
    zr_comm_opts_init(&o);
    o.rank = rank;
    o.world = world;
    o.key = key;
    o.redis_socket = srv.sock;
    o.timeout_ms = 5000;
    o.be = be;
    if (zr_comm_new(&comm, &o)) {
      fprintf(stderr, "%s: %s\n", tag, zr_errmsg());
      return 11;
    }
    fprintf(stderr, "%s: gradients over %s\n", tag, zr_comm_transport(comm));
  }
  zr_trainer_cfg c = zr_trainer_cfg_defaults();
  c.minibatches = 2;
  c.micro_batch_tokens = 24;
  c.lr = zr_lr_schedule_make(ZR_LR_CONSTANT, 1e-3);
  c.world_size = world;
  c.comm = comm;
  if (zr_trainer_new(&t, pol, NULL, &c)) {
    fprintf(stderr, "%s: %s\n", tag, zr_errmsg());
    return 12;
  }
  int32_t tok[NS][40];
  float behav[NS][16];
  zr_rl_sample s[NS];
  int code = 0;
  for (int i = 0; i < steps; i++) {
    make_batch(tok, behav, s, i % STEPS, zr_tf_config(pol)->vocab_size);
    zr_step_metrics m;
    int rc = zr_trainer_rl_step(t, s, NS, &m);
    if (rc && rc != -ERANGE) {
      fprintf(stderr, "%s: step %d: %s\n", tag, i, zr_errmsg());
      char path[400];
      snprintf(path, sizeof path, "%s/%s.err", tmp, tag);
      FILE *f = fopen(path, "w");
      if (f) fprintf(f, "%s\n", zr_errmsg()), fclose(f);
      code = 3;
      break;
    }
  }
  if (!code) {
    size_t n = zr_tf_n_floats(pol);
    float *h = malloc(n * sizeof *h);
    be->download(be, h, zr_tf_params(pol), n * sizeof *h);
    char path[400];
    snprintf(path, sizeof path, "%s/%s.params", tmp, tag);
    FILE *f = fopen(path, "wb");
    if (f) fwrite(h, sizeof *h, n, f), fclose(f);
    free(h);
  }
  zr_trainer_free(&t);
  zr_comm_free(&comm);
  zr_tf_free(&pol);
  zr_backend_free(&be);
  return code;
}

static float *load(const char *tag, size_t *n) {
  char path[400];
  snprintf(path, sizeof path, "%s/%s.params", tmp, tag);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f) / sizeof(float);
  fseek(f, 0, SEEK_SET);
  float *p = malloc(*n * sizeof *p);
  if (fread(p, sizeof *p, *n, f) != *n) *n = 0;
  fclose(f);
  return p;
}

static int wait_code(pid_t p) {
  int st;
  waitpid(p, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void part_world2(void) {
  pid_t p[2];
  for (int r = 0; r < 2; r++)
    if ((p[r] = fork()) == 0) _exit(train("zerorl:job:gpu-dist:dist", r, 2, r ? "w2r1" : "w2r0", STEPS));
  CHECK_INT(train(NULL, 0, 1, "w1", STEPS), 0);
  CHECK_INT(wait_code(p[0]), 0);
  CHECK_INT(wait_code(p[1]), 0);
  size_t n1 = 0, n2 = 0, n3 = 0;
  float *a = load("w1", &n1), *b = load("w2r0", &n2), *c = load("w2r1", &n3);
  CHECK(a && b && c && n1 == n2 && n2 == n3 && n1 > 0);
  if (a && b && c && n1 == n2 && n2 == n3) {
    double d2 = 0, r2 = 0;
    for (size_t i = 0; i < n1; i++) d2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), r2 += (double)a[i] * a[i];
    fprintf(stderr, "gpu_dist: world 2 (NCCL) vs world 1 after %d steps: relative L2 %.3g\n", STEPS, sqrt(d2 / r2));
    CHECK(sqrt(d2 / r2) <= 1e-4);
    CHECK(memcmp(b, c, n1 * sizeof *b) == 0);
  }
  free(a);
  free(b);
  free(c);
  /* rank 1 killed mid-job */
  for (int r = 0; r < 2; r++)
    if ((p[r] = fork()) == 0) _exit(train("zerorl:job:gpu-kill:dist", r, 2, r ? "k1" : "k0", 1000000));
  sleep(8);
  kill(p[1], SIGKILL);
  wait_code(p[1]);
  CHECK_INT(wait_code(p[0]), 3);
  char path[400], msg[1000] = "";
  snprintf(path, sizeof path, "%s/k0.err", tmp);
  FILE *f = fopen(path, "r");
  if (f) {
    if (!fgets(msg, sizeof msg, f)) msg[0] = 0;
    fclose(f);
  }
  fprintf(stderr, "gpu_dist: rank 1 killed: rank 0 says: %s", msg);
  CHECK(strstr(msg, "rank 1") || strstr(msg, "NCCL"));
}

int main(void) {
  char why[256];
  int ndev = zr_cuda_device_count(why, sizeof why);
  if (ndev <= 0) {
    fprintf(stderr, "gpu_dist: no GPU (%s): skipped\n", why);
    return 77;
  }
  if (!getenv("ZERORL_LOG_LEVEL")) zr_log_set_level(ZR_LOG_WARN);
  const char *s = getenv("ZERORL_SOURCE_DIR");
  char src[2048];
  snprintf(src, sizeof src, "%s", s ? s : __FILE__);
  if (!s) {
    char *p = strstr(src, "/tests/gpu/");
    if (p) *p = 0;
  }
  snprintf(model_dir, sizeof model_dir, "%s/tests/fixtures/loss/model", src);
  snprintf(tmp, sizeof tmp, "/tmp/zr-gpu-dist-XXXXXX");
  if (!mkdtemp(tmp)) return 1;
  if (part_nccl1()) return 1;
  if (ndev < 2) {
    fprintf(stderr, "gpu_dist: %d GPU: the 2-rank NCCL group needs 2 GPUs: skipped\n", ndev);
  } else if (!zr_test_redis_available()) {
    fprintf(stderr, "gpu_dist: redis-server is not installed: the 2-rank NCCL group is skipped\n");
  } else if (zr_test_redis_start(&srv, 0, NULL) == 0) {
    signal(SIGPIPE, SIG_IGN);
    part_world2();
    zr_test_redis_stop(&srv);
  } else {
    CHECK(0);
  }
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmp);
  return TEST_DONE();
}
