/* cpu_pool.h: the CPU backend's thread pool (internal to backend_cpu*.c).
 *
 * A fixed set of worker threads runs one parallel loop at a time: zr_pool_run splits [0, n) into
 * blocks of `grain` items that threads (the caller's included) take in turn until none are left,
 * and returns when every block is done. Workers spin briefly after a loop before sleeping, so the
 * many small ops of a decode step do not each pay a wake-up. The pool owns its threads; the
 * caller owns what fn writes. Only one host thread may call zr_pool_run on a pool at a time. */
#ifndef ZR_CPU_POOL_H
#define ZR_CPU_POOL_H

#include <stdint.h>

typedef struct zr_pool zr_pool;

/* fn handles items [begin, end); tid in [0, zr_pool_size) identifies the thread (per-thread
 * scratch), and is 0 for the caller. */
typedef void (*zr_pool_fn)(void *arg, int tid, int64_t begin, int64_t end);

/* n_threads >= 1 (1 = no worker threads, everything runs on the caller). */
int zr_pool_new(zr_pool **out, int n_threads);
void zr_pool_free(zr_pool **p);
int zr_pool_size(const zr_pool *p);

/* Runs fn over [0, n) in blocks of grain (>= 1) items. Small loops (n <= grain) run inline. */
void zr_pool_run(zr_pool *p, int64_t n, int64_t grain, zr_pool_fn fn, void *arg);

#endif
