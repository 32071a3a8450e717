/* cpu_pool.c: spin-then-sleep thread pool for the CPU backend (cpu_pool.h). */
#include "model/cpu_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/error.h"

#define SPIN_ITERS 2000

struct zr_pool {
  int n;              /* threads including the caller */
  pthread_t *threads; /* n - 1 workers */
  pthread_mutex_t mu;
  pthread_cond_t wake, done;
  /* the current loop */
  zr_pool_fn fn;
  void *arg;
  int64_t total, grain;
  _Atomic int64_t next;     /* next block start */
  _Atomic uint64_t gen;     /* bumped for every loop and for shutdown */
  _Atomic int pending;      /* workers still inside the current loop */
  int stop;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static void drain(zr_pool *p, int tid) {
  for (;;) {
    int64_t b = atomic_fetch_add_explicit(&p->next, p->grain, memory_order_relaxed);
    if (b >= p->total) break;
    int64_t e = b + p->grain < p->total ? b + p->grain : p->total;
    p->fn(p->arg, tid, b, e);
  }
}

typedef struct {
  zr_pool *p;
  int tid;
} worker_arg;

static void *worker(void *varg) {
  worker_arg *wa = varg;
  zr_pool *p = wa->p;
  int tid = wa->tid;
  free(wa);
  uint64_t seen = 0;
  for (;;) {
    uint64_t g;
    int spins = 0;
    while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && spins < SPIN_ITERS) {
      cpu_relax();
      spins++;
    }
    if (g == seen) {
      pthread_mutex_lock(&p->mu);
      while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen) pthread_cond_wait(&p->wake, &p->mu);
      pthread_mutex_unlock(&p->mu);
    }
    seen = g;
    if (p->stop) return NULL;
    drain(p, tid);
    if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
      pthread_mutex_lock(&p->mu);
      pthread_cond_signal(&p->done);
      pthread_mutex_unlock(&p->mu);
    }
  }
}

int zr_pool_new(zr_pool **out, int n_threads) {
  *out = NULL;
  ZR_ASSERT(n_threads >= 1);
  zr_pool *p = calloc(1, sizeof *p);
  if (!p) return zr_seterr(-ENOMEM, "thread pool: out of memory");
  p->n = n_threads;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  atomic_init(&p->next, 0);
  atomic_init(&p->gen, 0);
  atomic_init(&p->pending, 0);
  if (n_threads > 1) {
    p->threads = calloc((size_t)n_threads - 1, sizeof *p->threads);
    if (!p->threads) {
      zr_pool_free(&p);
      return zr_seterr(-ENOMEM, "thread pool: out of memory");
    }
  }
  for (int i = 1; i < n_threads; i++) {
    worker_arg *wa = malloc(sizeof *wa);
    if (wa) *wa = (worker_arg){p, i};
    int rc = wa ? pthread_create(&p->threads[i - 1], NULL, worker, wa) : ENOMEM;
    if (rc) {
      free(wa);
      p->n = i; /* threads 1..i-1 exist */
      zr_pool_free(&p);
      return zr_seterr(-rc, "thread pool: cannot start thread %d of %d", i, n_threads);
    }
  }
  *out = p;
  return 0;
}

void zr_pool_free(zr_pool **pp) {
  zr_pool *p = *pp;
  if (!p) return;
  *pp = NULL;
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (int i = 1; i < p->n; i++) pthread_join(p->threads[i - 1], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->done);
  free(p->threads);
  free(p);
}

int zr_pool_size(const zr_pool *p) { return p->n; }

void zr_pool_run(zr_pool *p, int64_t n, int64_t grain, zr_pool_fn fn, void *arg) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (p->n == 1 || n <= grain) {
    fn(arg, 0, 0, n);
    return;
  }
  p->fn = fn;
  p->arg = arg;
  p->total = n;
  p->grain = grain;
  atomic_store_explicit(&p->next, 0, memory_order_relaxed);
  atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  drain(p, 0);
  int spins = 0;
  while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0 && spins < SPIN_ITERS) {
    cpu_relax();
    spins++;
  }
  if (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
  }
}
