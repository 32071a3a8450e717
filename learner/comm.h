/* comm.h: the communicator of a data-parallel learner group (`zerorl-learner --world-size N
 * --rank R`, docs/training.md "Several learner processes").
 *
 * One process per rank. Rank 0 binds two ZeroMQ TCP sockets (ROUTER) on [learner] dist_host,
 * ephemeral ports, and publishes them in the job's Redis hash PREFIX:job:JOB:dist (common/keys.h
 * ZR_DIST_*) with a random generation id; the other ranks read that hash (polling until a
 * deadline), connect DEALER sockets and are admitted with a HELLO/WELCOME handshake that checks
 * rank, world size and generation (a stale hash left by a dead rank 0 is never joined).
 *
 * Two planes:
 * - control (always ZeroMQ): broadcast of bytes from rank 0 (batches, commands), small host
 *   reductions (metric sums and maxima), equality checks (parameter hashes), a barrier;
 * - gradients: zr_comm_all_reduce_avg over the backend's memory. On the CPU backend it goes over
 *   ZeroMQ too: a star at rank 0, bucket by bucket (bucket_bytes), summed in rank order and
 *   scaled by 1/world, the same bits sent back to every rank (so all ranks keep identical
 *   weights). On the CUDA backend it is NCCL (cuda/comm_nccl.h): ncclAllReduce with ncclAvg on
 *   the backend's stream, bucketed; the ncclUniqueId is made by rank 0 and published in the same
 *   Redis hash (field nccl_id).
 *
 * Failure: nothing waits forever. A heartbeat thread per process (its own socket pair) beats
 * every timeout/8; a peer silent for timeout_ms (dead, or its host gone) marks the communicator
 * failed with a message naming the rank. Every receive of a collective has the same deadline
 * and names the ranks that did not answer; NCCL work is polled (ncclCommGetAsyncError) against
 * it and the NCCL communicator is aborted on expiry. A rank that fails tells the others (ABORT
 * with its reason) when it still can. After a failure every call returns -EPIPE/-ETIMEDOUT at
 * once with the first message.
 *
 * Threads: the heartbeat thread is internal; every other call comes from one thread at a time
 * (the learner's compute thread, or the creating thread before / after it). zr_comm_failed may
 * be called from any thread.
 *
 * Ownership: the comm owns its ZeroMQ context, sockets, thread and the NCCL communicator; it
 * borrows the backend given at creation (which must outlive it). Rank 0 deletes the Redis hash
 * in zr_comm_free. */
#ifndef ZR_COMM_H
#define ZR_COMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/backend.h"

typedef struct zr_comm zr_comm;

typedef struct {
  int rank, world;              /* 0 <= rank < world, world >= 2 */
  const char *key;              /* the Redis hash (zr_key_job_dist) */
  const char *redis_host;       /* Redis, as [redis] says; redis_socket wins when set */
  int redis_port;
  const char *redis_socket;
  const char *redis_user, *redis_password; /* NULL or "" = none */
  int redis_db;
  const char *host;             /* rank 0: address to bind and publish (default "127.0.0.1") */
  int64_t timeout_ms;           /* join deadline, collective deadline, heartbeat silence limit */
  size_t bucket_bytes;          /* gradient bucket (default 16 MiB) */
  zr_backend *be;               /* the backend whose memory all_reduce_avg takes; "cuda" = NCCL */
} zr_comm_opts;

void zr_comm_opts_init(zr_comm_opts *o);

/* Rendezvous through Redis and the handshake; rank 0 waits for every other rank, the others for
 * rank 0, each until timeout_ms (the error names the ranks missing and the Redis key). With a
 * CUDA backend also creates the NCCL communicator (with the same deadline). */
int zr_comm_new(zr_comm **out, const zr_comm_opts *o);
/* Tells the peers (best effort) when the comm has failed or abort_why is set, deletes the Redis
 * hash on rank 0, stops the heartbeat thread, frees. NULL-safe; clears *c. */
void zr_comm_free(zr_comm **c);

int zr_comm_rank(const zr_comm *c);
int zr_comm_world(const zr_comm *c);
const char *zr_comm_transport(const zr_comm *c); /* "zmq" or "nccl" (of the gradients) */

/* x[n] in the backend's memory, in place: the mean over ranks. */
int zr_comm_all_reduce_avg(zr_comm *c, float *x, size_t n);

typedef enum { ZR_COMM_SUM = 0, ZR_COMM_MAX } zr_comm_op;
/* v[n] host doubles, in place, over the control plane (metrics). n <= 4096. */
int zr_comm_reduce_host(zr_comm *c, double *v, size_t n, zr_comm_op op);

/* Rank 0 sends (tag, data[len]) to every rank; on the others tag, data and len are set (data
 * malloc'd, caller frees; NULL when len is 0). Ranks > 0 wait with no deadline (rank 0 may be
 * waiting for rollouts) but fail as soon as rank 0 stops beating or aborts. */
int zr_comm_bcast(zr_comm *c, uint32_t *tag, void **data, size_t *len);

/* Every rank gives a value; -EINVAL on every rank unless all are equal (the message names the
 * first rank that differs and `what`). */
int zr_comm_check_same(zr_comm *c, uint64_t value, const char *what);
int zr_comm_barrier(zr_comm *c);

/* Non-zero (a negative code) once the comm has failed, with the first failure's message copied
 * to msg. Any thread. */
int zr_comm_failed(zr_comm *c, char *msg, size_t cap);

/* Marks the comm failed with `why`, tells the peers (ABORT) and aborts NCCL. */
void zr_comm_abort(zr_comm *c, const char *why);

/* xxh3-64 of the backend buffer x[n] (downloaded), for zr_comm_check_same of parameters. */
uint64_t zr_comm_hash_floats(zr_backend *be, const float *x, size_t n);

#endif
