/* comm_nccl.cu: NCCL gradient averaging for the data-parallel learner group (comm_nccl.h). */
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cuda/backend_cuda_impl.h"
#include "cuda/comm_nccl.h"

struct zr_nccl {
  ncclComm_t comm;
  zr_backend *be;
  cudaEvent_t done;
  int rank, world;
  bool aborted;
};

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int nccl_err(zr_nccl *c, int code, const char *call, ncclResult_t r) {
  const char *last = c && c->comm ? ncclGetLastError(c->comm) : NULL;
  return zr_seterr(code, "NCCL rank %d of %d: %s: %s%s%s", c ? c->rank : -1, c ? c->world : 0, call,
                   ncclGetErrorString(r), last && last[0] ? ": " : "", last ? last : "");
}

/* Polls the communicator's state until it is not ncclInProgress (non-blocking mode). */
static int wait_ready(zr_nccl *c, const char *call, uint64_t deadline) {
  for (;;) {
    ncclResult_t st = ncclSuccess;
    ncclResult_t r = ncclCommGetAsyncError(c->comm, &st);
    if (r != ncclSuccess) return nccl_err(c, -EIO, "ncclCommGetAsyncError", r);
    if (st == ncclSuccess) return 0;
    if (st != ncclInProgress) {
      int rc = nccl_err(c, -EIO, call, st);
      zr_nccl_abort(c);
      return rc;
    }
    if (now_ms() >= deadline) {
      zr_nccl_abort(c);
      return zr_seterr(-ETIMEDOUT,
                       "NCCL rank %d of %d: %s did not complete within the collective timeout (a rank died or "
                       "hangs); communicator aborted",
                       c->rank, c->world, call);
    }
    usleep(1000);
  }
}

extern "C" int zr_nccl_unique_id(char hex[ZR_NCCL_ID_HEX]) {
  ncclUniqueId id;
  ncclResult_t r = ncclGetUniqueId(&id);
  if (r != ncclSuccess) return zr_seterr(-EIO, "NCCL: ncclGetUniqueId: %s", ncclGetErrorString(r));
  static const char digits[] = "0123456789abcdef";
  const unsigned char *b = (const unsigned char *)id.internal;
  for (int i = 0; i < NCCL_UNIQUE_ID_BYTES; i++) {
    hex[2 * i] = digits[b[i] >> 4];
    hex[2 * i + 1] = digits[b[i] & 15];
  }
  hex[2 * NCCL_UNIQUE_ID_BYTES] = 0;
  return 0;
}

static int unhex(const char *hex, ncclUniqueId *id) {
  if (strlen(hex) != 2 * NCCL_UNIQUE_ID_BYTES) return -1;
  for (int i = 0; i < NCCL_UNIQUE_ID_BYTES; i++) {
    int v = 0;
    for (int k = 0; k < 2; k++) {
      char ch = hex[2 * i + k];
      int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    id->internal[i] = (char)v;
  }
  return 0;
}

extern "C" int zr_nccl_new(zr_nccl **out, const char *hex_id, int rank, int world, zr_backend *be,
                           int64_t timeout_ms) {
  *out = NULL;
  if (!be || !be->name || strcmp(be->name, "cuda") != 0)
    return zr_seterr(-EINVAL, "NCCL: rank %d: the backend is not cuda", rank);
  ncclUniqueId id;
  if (!hex_id || unhex(hex_id, &id) < 0)
    return zr_seterr(-EINVAL, "NCCL: rank %d: the published nccl_id is not %d hex digits", rank,
                     2 * NCCL_UNIQUE_ID_BYTES);
  zr_nccl *c = (zr_nccl *)calloc(1, sizeof *c);
  if (!c) return zr_seterr(-ENOMEM, "NCCL: out of memory");
  c->be = be;
  c->rank = rank;
  c->world = world;
  cudaError_t e = cudaSetDevice(zr_cu(be)->device);
  if (e == cudaSuccess) e = cudaEventCreateWithFlags(&c->done, cudaEventDisableTiming);
  if (e != cudaSuccess) {
    free(c);
    return zr_cuda_err(-EIO, __FILE__, __LINE__, "cudaSetDevice/cudaEventCreate", cudaGetErrorString(e));
  }
  ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
  cfg.blocking = 0; /* every wait is polled against a deadline */
  ncclResult_t r = ncclCommInitRankConfig(&c->comm, world, id, rank, &cfg);
  int rc = 0;
  if (r != ncclSuccess && r != ncclInProgress) rc = nccl_err(c, -EIO, "ncclCommInitRankConfig", r);
  else if (c->comm) rc = wait_ready(c, "ncclCommInitRankConfig", now_ms() + (uint64_t)timeout_ms);
  else rc = zr_seterr(-EIO, "NCCL rank %d: ncclCommInitRankConfig returned no communicator", rank);
  if (rc < 0) {
    zr_nccl_free(&c);
    return rc;
  }
  *out = c;
  return 0;
}

extern "C" int zr_nccl_all_reduce_avg(zr_nccl *c, float *x, size_t n, size_t bucket_floats, int64_t timeout_ms) {
  if (c->aborted) return zr_seterr(-EPIPE, "NCCL rank %d: the communicator was aborted", c->rank);
  const uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
  cudaStream_t st = zr_cu_stream(c->be);
  if (bucket_floats == 0) bucket_floats = n ? n : 1;
  int rc;
  for (size_t off = 0; off < n; off += bucket_floats) {
    size_t len = n - off < bucket_floats ? n - off : bucket_floats;
    ncclResult_t r = ncclAllReduce(x + off, x + off, len, ncclFloat, ncclAvg, c->comm, st);
    if (r != ncclSuccess && r != ncclInProgress) {
      rc = nccl_err(c, -EIO, "ncclAllReduce", r);
      zr_nccl_abort(c);
      return rc;
    }
    if ((rc = wait_ready(c, "ncclAllReduce (enqueue)", deadline)) < 0) return rc;
  }
  cudaError_t e = cudaEventRecord(c->done, st);
  if (e != cudaSuccess) return zr_cuda_err(-EIO, __FILE__, __LINE__, "cudaEventRecord", cudaGetErrorString(e));
  for (;;) { /* the stream reaches the event, or NCCL reports an error, or the deadline passes */
    e = cudaEventQuery(c->done);
    if (e == cudaSuccess) return 0;
    if (e != cudaErrorNotReady) return zr_cuda_err(-EIO, __FILE__, __LINE__, "cudaEventQuery", cudaGetErrorString(e));
    ncclResult_t st2 = ncclSuccess;
    ncclResult_t r = ncclCommGetAsyncError(c->comm, &st2);
    if (r != ncclSuccess || (st2 != ncclSuccess && st2 != ncclInProgress)) {
      rc = nccl_err(c, -EIO, "ncclAllReduce (asynchronous error)", r != ncclSuccess ? r : st2);
      zr_nccl_abort(c);
      return rc;
    }
    if (now_ms() >= deadline) {
      zr_nccl_abort(c);
      return zr_seterr(-ETIMEDOUT,
                       "NCCL rank %d of %d: gradient all-reduce (%zu floats) did not complete within %lld ms (a rank "
                       "died or hangs); communicator aborted",
                       c->rank, c->world, n, (long long)timeout_ms);
    }
    usleep(200);
  }
}

extern "C" void zr_nccl_abort(zr_nccl *c) {
  if (!c || c->aborted || !c->comm) return;
  c->aborted = true;
  ncclCommAbort(c->comm);
}

extern "C" void zr_nccl_free(zr_nccl **cp) {
  zr_nccl *c = cp ? *cp : NULL;
  if (!c) return;
  *cp = NULL;
  if (c->comm && !c->aborted) {
    /* finalize flushes outstanding work; bounded like everything else, then destroy */
    ncclResult_t r = ncclCommFinalize(c->comm);
    if (r == ncclSuccess || r == ncclInProgress) {
      if (wait_ready(c, "ncclCommFinalize", now_ms() + 10000) == 0) ncclCommDestroy(c->comm);
    } else {
      ncclCommAbort(c->comm);
    }
  }
  if (c->done) cudaEventDestroy(c->done);
  free(c);
}
