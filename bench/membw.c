/* membw: this machine's memory bandwidth and fp32 GEMM throughput, for the rooflines in
 * docs/perf.md.
 *
 *   membw [--mb MB] [--reps R] [--threads-max T] [--gemm]
 *
 * Bandwidth: STREAM-like kernels over arrays of MB MiB each (default 512, far beyond the caches)
 * with 1..T pthreads (default 2), each thread on its own contiguous slice; best of R repetitions
 * (default 5), in GB/s (1e9 bytes) of bytes the kernel must move (read = 4 B per float, triad =
 * 12 B per element, copy = 8, memset = 4; write-allocate traffic not counted, as in STREAM):
 *   read   s += a[i]                 (what a batch-1 decode does to its weights)
 *   memset a[i] = 0
 *   copy   b[i] = a[i]
 *   triad  a[i] = b[i] + q * c[i]
 * With --gemm: OpenBLAS sgemm GFLOP/s (best of R) at the shapes of the Qwen2.5-0.5B training
 * step (128 tokens) and decode (M = 1, 8, 16, 32), with openblas_set_num_threads(1) and (T).
 * Prints one JSON object per measurement. */
#include <cblas.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void openblas_set_num_threads(int);

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct {
  float *a, *b, *c;
  size_t n;
  int kind;
  double sum;
  pthread_barrier_t *bar;
  double t0, t1;
} job;

enum { READ, MEMSET, COPY, TRIAD, N_KINDS };
static const char *kind_name[] = {"read", "memset", "copy", "triad"};
static const double kind_bytes[] = {4, 4, 8, 12};

typedef float v8f __attribute__((vector_size(32), aligned(4)));

/* four independent 8-wide accumulators: enough adds in flight to be limited by memory */
__attribute__((target("avx2,fma"))) static double read_sum(const float *a, size_t n) {
  v8f s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 += *(const v8f *)(a + i);
    s1 += *(const v8f *)(a + i + 8);
    s2 += *(const v8f *)(a + i + 16);
    s3 += *(const v8f *)(a + i + 24);
  }
  v8f s = (s0 + s1) + (s2 + s3);
  double r = 0;
  for (int k = 0; k < 8; k++) r += s[k];
  for (; i < n; i++) r += a[i];
  return r;
}

__attribute__((target("avx2,fma"))) static void triad(float *a, const float *b, const float *c, size_t n) {
  const v8f q = {3, 3, 3, 3, 3, 3, 3, 3};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) *(v8f *)(a + i) = *(const v8f *)(b + i) + q * *(const v8f *)(c + i);
  for (; i < n; i++) a[i] = b[i] + 3.0f * c[i];
}

static void *run_job(void *arg) {
  job *j = arg;
  pthread_barrier_wait(j->bar);
  j->t0 = now_s();
  float *a = j->a, *b = j->b, *c = j->c;
  size_t n = j->n;
  switch (j->kind) {
  case READ: j->sum = read_sum(a, n); break;
  case MEMSET: memset(a, 0, n * sizeof(float)); break;
  case COPY: memcpy(b, a, n * sizeof(float)); break;
  case TRIAD: triad(a, b, c, n); break;
  }
  j->t1 = now_s();
  return NULL;
}

static double bandwidth(float *a, float *b, float *c, size_t n, int threads, int kind, int reps) {
  double best = 0;
  for (int r = 0; r < reps; r++) {
    pthread_t th[64];
    job jobs[64];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)threads);
    size_t per = n / threads / 16 * 16;
    for (int t = 0; t < threads; t++) {
      size_t o = per * t;
      jobs[t] = (job){a + o, b + o, c + o, t + 1 < threads ? per : n - o, kind, 0, &bar, 0, 0};
      pthread_create(&th[t], NULL, run_job, &jobs[t]);
    }
    double t0 = 1e300, t1 = 0;
    for (int t = 0; t < threads; t++) {
      pthread_join(th[t], NULL);
      if (jobs[t].t0 < t0) t0 = jobs[t].t0;
      if (jobs[t].t1 > t1) t1 = jobs[t].t1;
    }
    pthread_barrier_destroy(&bar);
    double gbs = kind_bytes[kind] * (double)n / (t1 - t0) / 1e9;
    if (gbs > best) best = gbs;
  }
  return best;
}

static void gemm_shape(const char *what, int m, int n, int k, int ta, int tb, int threads, int reps) {
  float *A = aligned_alloc(64, ((size_t)m * k * 4 + 63) / 64 * 64), *B = aligned_alloc(64, ((size_t)k * n * 4 + 63) / 64 * 64),
        *C = aligned_alloc(64, ((size_t)m * n * 4 + 63) / 64 * 64);
  for (size_t i = 0; i < (size_t)m * k; i++) A[i] = (float)(i % 7) * 0.1f;
  for (size_t i = 0; i < (size_t)k * n; i++) B[i] = (float)(i % 5) * 0.1f;
  memset(C, 0, (size_t)m * n * 4);
  openblas_set_num_threads(threads);
  double best = 1e300;
  for (int r = 0; r < reps + 1; r++) {
    double t0 = now_s();
    /* row-major: op(A) [m,k], op(B) [k,n] */
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, A,
                ta ? m : k, B, tb ? k : n, 0.0f, C, n);
    double dt = now_s() - t0;
    if (r > 0 && dt < best) best = dt;
  }
  printf("{\"gemm\":\"%s\",\"m\":%d,\"n\":%d,\"k\":%d,\"ta\":%d,\"tb\":%d,\"threads\":%d,\"best_s\":%.6f,\"gflops\":%.1f,"
         "\"weight_gbs\":%.1f}\n",
         what, m, n, k, ta, tb, threads, best, 2.0 * m * n * k / best / 1e9, (double)k * n * 4 / best / 1e9);
  fflush(stdout);
  free(A), free(B), free(C);
}

int main(int argc, char **argv) {
  size_t mb = 512;
  int reps = 5, tmax = 2, gemm = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = (size_t)atol(argv[++i]);
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--threads-max") && i + 1 < argc) tmax = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--gemm")) gemm = 1;
    else {
      fprintf(stderr, "usage: membw [--mb MB] [--reps R] [--threads-max T] [--gemm]\n");
      return 2;
    }
  }
  if (tmax < 1) tmax = 1;
  if (tmax > 64) tmax = 64;
  size_t n = mb * 1024 * 1024 / sizeof(float);
  float *a = aligned_alloc(64, n * 4), *b = aligned_alloc(64, n * 4), *c = aligned_alloc(64, n * 4);
  if (!a || !b || !c) return 1;
  for (size_t i = 0; i < n; i++) a[i] = 1.0f, b[i] = 2.0f, c[i] = 0.5f;
  for (int t = 1; t <= tmax; t++)
    for (int k = 0; k < N_KINDS; k++) {
      printf("{\"kernel\":\"%s\",\"threads\":%d,\"mib\":%zu,\"gbs\":%.2f}\n", kind_name[k], t, mb,
             bandwidth(a, b, c, n, t, k, reps));
      fflush(stdout);
    }
  free(a), free(b), free(c);
  if (gemm) {
    for (int t = 1; t <= tmax; t *= 2) {
      /* training, 128 tokens: forward x W^T, backward dx = dy W, dW = dy^T x */
      gemm_shape("fwd mlp up x[128,896] W[4864,896]^T", 128, 4864, 896, 0, 1, t, reps);
      gemm_shape("bwd dx dy[128,4864] W[4864,896]", 128, 896, 4864, 0, 0, t, reps);
      gemm_shape("bwd dW dy^T[4864,128] x[128,896]", 4864, 896, 128, 1, 0, t, reps);
      gemm_shape("lmhead chunk h[128,896] W[2048,896]^T", 128, 2048, 896, 0, 1, t, reps);
      gemm_shape("lmhead full h[128,896] W[151936,896]^T", 128, 151936, 896, 0, 1, t, reps > 2 ? 2 : reps);
      /* decode: M rows against the MLP up weight and the whole LM head */
      for (int m = 1; m <= 32; m *= 2) {
        if (m == 2 || m == 4) continue;
        gemm_shape("decode mlp up", m, 4864, 896, 0, 1, t, reps);
        gemm_shape("decode lmhead", m, 151936, 896, 0, 1, t, reps > 2 ? 2 : reps);
      }
    }
  }
  return 0;
}
