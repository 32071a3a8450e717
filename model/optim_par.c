/* optim_par.c: slices of a range on pthreads (optim_par.h). */
#include "model/optim_par.h"

#include <pthread.h>
#include <unistd.h>

#define ZR_PAR_MAX 256

typedef struct {
  zr_par_fn fn;
  void *ctx;
  size_t begin, end;
} par_slice;

static void *par_main(void *arg) {
  par_slice *s = arg;
  s->fn(s->ctx, s->begin, s->end);
  return NULL;
}

int zr_par_auto_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) return 1;
  return n > ZR_PAR_MAX ? ZR_PAR_MAX : (int)n;
}

void zr_par_run(int threads, size_t n, size_t min_per_thread, zr_par_fn fn, void *ctx) {
  if (n == 0) return;
  size_t t = threads <= 0 ? (size_t)zr_par_auto_threads() : (size_t)threads;
  if (t > ZR_PAR_MAX) t = ZR_PAR_MAX;
  if (min_per_thread < 1) min_per_thread = 1;
  if (t > n / min_per_thread) t = n / min_per_thread;
  if (t < 1) t = 1;
  if (t == 1) {
    fn(ctx, 0, n);
    return;
  }
  par_slice slices[ZR_PAR_MAX];
  pthread_t tids[ZR_PAR_MAX];
  int started[ZR_PAR_MAX];
  for (size_t i = 0; i < t; i++) {
    slices[i] = (par_slice){fn, ctx, n / t * i + (i < n % t ? i : n % t), 0};
    slices[i].end = slices[i].begin + n / t + (i < n % t ? 1 : 0);
  }
  for (size_t i = 1; i < t; i++) started[i] = pthread_create(&tids[i], NULL, par_main, &slices[i]) == 0;
  fn(ctx, slices[0].begin, slices[0].end);
  for (size_t i = 1; i < t; i++) {
    if (started[i])
      pthread_join(tids[i], NULL);
    else
      fn(ctx, slices[i].begin, slices[i].end);
  }
}
