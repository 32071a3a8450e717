// sample_emu.cc: the GPU sampler's kernel (cuda/backend_cuda_sample.cu, k_sample) run on the CPU
// under a small SIMT emulation, against zr_sampler_pick: no GPU needed. The kernel text is
// included verbatim (sample_emu.sh cuts it from the .cu file into kernel_body.inc); every CUDA
// thread is a pthread, __syncthreads a barrier of the block, warp shuffles and ballots go through
// per-warp exchange buffers and barriers, shared-memory atomics are GCC __atomic builtins, and the
// explicitly rounded float intrinsics are plain IEEE operations (built with -ffp-contract=off).
// Blocks run one after another. It checks the kernel's logic and its barrier/warp protocol, not
// the compiler's code for a real GPU (tests/gpu/gpu_parity does that on a device).
//
//   sample_emu VOCAB [KEYS_PER_SETTING]   -> exit 0 when every draw equals zr_sampler_pick
#include <pthread.h>
#include <math.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmath>
extern "C" {
#include "model/sampler.h"
}
#include "model/sampler_philox.h"

struct dim3e { unsigned x; };
static __thread dim3e threadIdx;
static dim3e blockIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(x)
#define __shared__ static
using std::isfinite;
static inline int min(int a, int b) { return a < b ? a : b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
static inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
static inline float __double2float_rn(double d) { return (float)d; }
static inline double __ull2double_rn(unsigned long long v) { return (double)v; }
static inline unsigned long long __float2ull_rz(float f) { return (unsigned long long)f; }
static inline int __popc(unsigned v) { return __builtin_popcount(v); }
static inline int __ffs(int v) { return __builtin_ffs(v); }

enum { EMU_NT = 512 };
static pthread_barrier_t bar_block, bar_warp[EMU_NT / 32];
static union { double d; float f; int i; unsigned u; } xbuf[EMU_NT];
static int sc_count;
static void wbar() { pthread_barrier_wait(&bar_warp[threadIdx.x / 32]); }
static void __syncthreads() { pthread_barrier_wait(&bar_block); }
template <class T> static T xchg(T v, int o) {
  int t = threadIdx.x, base = t & ~31;
  memcpy(&xbuf[t], &v, sizeof v);
  wbar();
  T r;
  memcpy(&r, &xbuf[base + ((t & 31) ^ o)], sizeof r);
  wbar();
  return r;
}
static double __shfl_xor_sync(unsigned, double v, int o) { return xchg(v, o); }
static float __shfl_xor_sync(unsigned, float v, int o) { return xchg(v, o); }
static int __shfl_xor_sync(unsigned, int v, int o) { return xchg(v, o); }
static unsigned __ballot_sync(unsigned, bool p) {
  int t = threadIdx.x, base = t & ~31;
  xbuf[t].i = p;
  wbar();
  unsigned b = 0;
  for (int l = 0; l < 32; l++) b |= (unsigned)(xbuf[base + l].i != 0) << l;
  wbar();
  return b;
}
static int __syncthreads_count(bool p) {
  __atomic_add_fetch(&sc_count, (int)p, __ATOMIC_SEQ_CST);
  __syncthreads();
  int r = __atomic_load_n(&sc_count, __ATOMIC_SEQ_CST);
  __syncthreads();
  if (threadIdx.x == 0) sc_count = 0;
  __syncthreads();
  return r;
}
static unsigned atomicAdd(unsigned *a, unsigned v) { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); }
static unsigned long long atomicAdd(unsigned long long *a, unsigned long long v) { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); }

#include "kernel_body.inc"

struct args { const float *logits; size_t ld; int V; const zr_sample_req *reqs; float *ework; double *pwork; int nb; row_res *res; unsigned tid; };
static void *run(void *p) {
  args *a = (args *)p;
  threadIdx.x = a->tid;
  k_sample(a->logits, a->ld, a->V, a->reqs, a->ework, a->pwork, a->nb, a->res);
  return NULL;
}
static void launch(int m, const float *logits, size_t ld, int V, const zr_sample_req *reqs, row_res *res) {
  int nb = (V - V % 8 + 63) / 64 + 1;
  float *ework = (float *)malloc((size_t)m * V * sizeof(float));
  double *pwork = (double *)malloc((size_t)m * nb * sizeof(double));
  blockDim.x = EMU_NT; gridDim.x = m;
  pthread_barrier_init(&bar_block, NULL, EMU_NT);
  for (int w = 0; w < EMU_NT / 32; w++) pthread_barrier_init(&bar_warp[w], NULL, 32);
  static pthread_t th[EMU_NT];
  static args ar[EMU_NT];
  for (int b = 0; b < m; b++) {
    blockIdx.x = b;
    for (int t = 0; t < EMU_NT; t++) {
      ar[t] = (args){logits, ld, V, reqs, ework, pwork, nb, res, (unsigned)t};
      pthread_attr_t at; pthread_attr_init(&at); pthread_attr_setstacksize(&at, 256 << 10);
      if (pthread_create(&th[t], &at, run, &ar[t])) { perror("pthread_create"); exit(1); }
      pthread_attr_destroy(&at);
    }
    for (int t = 0; t < EMU_NT; t++) pthread_join(th[t], NULL);
  }
  free(ework); free(pwork);
}

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static double urand(void) { rs ^= rs >> 12, rs ^= rs << 25, rs ^= rs >> 27; return (double)((rs * 2685821657736338717ull) >> 11) / 9007199254740992.0; }
int main(int argc, char **argv) {
  const zr_sampling set[] = {{0,0,1,0},{1,0,1,0},{0.7f,0,1,0},{0.8f,40,1,0},{1,1,1,0},{1,50,0.9f,0},{1,0,0.95f,0},{1.3f,0,0.5f,0.02f},
    {1,0,1,0.1f},{1,0,1e-6f,0},{1,0,0,0},{1,3000,0.95f,0.02f},{0.6f,200,0.8f,0.05f},{1,0,0.9f,0},{0.9f,7,0.5f,0}};
  const int ns = sizeof set / sizeof set[0];
  int V = argc > 1 ? atoi(argv[1]) : 1000, per = argc > 2 ? atoi(argv[2]) : 2;
  size_t ld = V + (V > 10 ? 3 : 0);
  const int R = 6;
  float *x = (float *)calloc((size_t)R * ld, sizeof(float));
  for (int i = 0; i < V; i++) { double u1 = urand(), u2 = urand(); float nrm = (float)(sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2));
    x[i] = 3 * nrm; x[ld + i] = 2 * nrm + (i % 503 == 17 ? 12 + (float)(i % 7) : 0); x[2 * ld + i] = (float)floor(urand() * 16) / 4;
    x[3 * ld + i] = 0; x[4 * ld + i] = i % 2 ? 1.0f : 0.0f; x[5 * ld + i] = i % 3 == 0 ? -0.0f : (float)floor(urand() * 4); }
  int n = R * ns * per;
  zr_sample_req *rq = (zr_sample_req *)malloc(n * sizeof *rq);
  int j = 0;
  for (int r = 0; r < R; r++) for (int k = 0; k < ns; k++) for (int q = 0; q < per; q++, j++)
    rq[j] = (zr_sample_req){r, set[k], 7 + (uint64_t)r, (uint64_t)k, (uint64_t)(q * 37 + r)};
  row_res *res = (row_res *)calloc(n, sizeof *res);
  launch(n, x, ld, V, rq, res);
  float *scratch = (float *)malloc(zr_sampler_scratch_floats(V) * sizeof(float));
  int bad = 0; double worst = 0;
  for (j = 0; j < n; j++) {
    zr_sample w;
    int rc = zr_sampler_pick(&rq[j].s, x + (size_t)rq[j].row * ld, V, rq[j].seed, rq[j].sequence, rq[j].position, scratch, &w);
    if (rc || res[j].status || res[j].token != w.token) {
      if (bad++ < 10) printf("req %d row %d set t=%g k=%d p=%g mp=%g: kernel %d (status %d) cpu %d (rc %d)\n", j, rq[j].row, rq[j].s.temperature,
                             rq[j].s.top_k, rq[j].s.top_p, rq[j].s.min_p, res[j].token, res[j].status, w.token, rc);
      continue;
    }
    double d = fmax(fabs(res[j].lps - w.logprob_sampled), fabs(res[j].lpp - w.logprob_policy));
    worst = fmax(worst, d);
  }
  /* a NaN row */
  x[V / 2] = NAN;
  zr_sample_req q1 = {0, {1, 0, 1, 0}, 1, 0, 0};
  row_res r1;
  launch(1, x, ld, V, &q1, &r1);
  printf("V %d: %d of %d draws differ, worst |dlogp| %.3g; NaN row: status %d bad %d\n", V, bad, n, worst, r1.status, r1.bad);
  return bad || r1.status != 1 || r1.bad != V / 2;
}
