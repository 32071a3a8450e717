/* comm_nccl.h: the NCCL gradient plane of a data-parallel learner group (learner/comm.h).
 *
 * Rank 0 makes an ncclUniqueId (zr_nccl_unique_id, as hex) and publishes it in Redis; every rank
 * then joins with zr_nccl_new. The communicator is created non-blocking (ncclConfig_t.blocking =
 * 0) so that initialisation and every collective are polled against a deadline: the state is
 * read with ncclCommGetAsyncError, completion of the work on the backend's stream with
 * cudaEventQuery; an error or the deadline aborts the communicator (ncclCommAbort) and returns
 * -ETIMEDOUT / -EIO with a message naming the NCCL call, the rank and the reason. Gradients are
 * averaged with ncclAllReduce(ncclFloat, ncclAvg) in place on the CUDA backend's stream, one call
 * per bucket. After an abort every call fails at once.
 *
 * Ownership: a zr_nccl borrows the CUDA backend (cuda/backend_cuda.h) it was made for. One host
 * thread at a time. */
#ifndef ZR_COMM_NCCL_H
#define ZR_COMM_NCCL_H

#include <stddef.h>
#include <stdint.h>

#include "model/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ZR_NCCL_ID_HEX 257 /* 128 bytes as hex, and a NUL */

typedef struct zr_nccl zr_nccl;

/* ncclGetUniqueId as 256 lowercase hex characters. 0 or -EIO with zr_errmsg(). */
int zr_nccl_unique_id(char hex[ZR_NCCL_ID_HEX]);

/* ncclCommInitRankConfig (non-blocking) on the backend's device, polled until timeout_ms. */
int zr_nccl_new(zr_nccl **out, const char *hex_id, int rank, int world, zr_backend *be, int64_t timeout_ms);

/* x[n] (device memory of the backend) := mean over ranks, buckets of bucket_floats, then waits
 * for the stream (deadline timeout_ms from the call). */
int zr_nccl_all_reduce_avg(zr_nccl *c, float *x, size_t n, size_t bucket_floats, int64_t timeout_ms);

/* ncclCommAbort (idempotent); later calls fail. */
void zr_nccl_abort(zr_nccl *c);
/* ncclCommFinalize + ncclCommDestroy (or nothing after an abort). NULL-safe; clears *c. */
void zr_nccl_free(zr_nccl **c);

#ifdef __cplusplus
}
#endif

#endif
