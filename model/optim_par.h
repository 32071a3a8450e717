/* optim_par.h: internal to the optimizer (optim*.c): runs a function over contiguous slices of
 * [0, n) on plain pthreads started per call. The caller's thread takes slice 0. Slices are
 * contiguous and in order; results that must not depend on the thread count have to be formed
 * per element or per fixed block, never per slice. Nothing is owned past the call. */
#ifndef ZR_OPTIM_PAR_H
#define ZR_OPTIM_PAR_H

#include <stddef.h>

typedef void (*zr_par_fn)(void *ctx, size_t begin, size_t end);

/* threads: requested count (0 = one per online CPU); fewer are used so that each slice holds
 * at least min_per_thread items. If a thread cannot be started its slice runs on the caller's
 * thread, so the call always completes. */
void zr_par_run(int threads, size_t n, size_t min_per_thread, zr_par_fn fn, void *ctx);

/* The thread count 0 stands for (online CPUs, at least 1, at most 256). */
int zr_par_auto_threads(void);

#endif
