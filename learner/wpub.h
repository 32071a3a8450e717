/* wpub.h: the learner's weight publisher: snapshots of the policy parameters as immutable,
 * chunked, checksummed versions, and the set of recent versions the hub serves chunks from.
 *
 * Wire contract (DESIGN 4): the learner announces a WeightVersion (manifest of tensors in HF
 * names, dtype, total bytes, chunk size, xxh3-64 of every chunk and of the whole buffer,
 * endpoint) on its PUB socket; actors ask for chunks with WeightChunkRequest and get a
 * WeightChunk header plus one bulk frame of bytes, or WeightChunk.error when the version is
 * gone. This module holds no sockets and no threads: the daemon does the I/O.
 *
 * Threads and ownership.
 * - zr_wversion_build runs on the learner's compute thread (it reads the model and checksums
 *   the whole buffer: heavy). The zr_wversion it returns is immutable from then on and may be
 *   handed to the loop thread (e.g. through a uv_async_t queue).
 * - A zr_wpub belongs to the loop thread (not thread-safe). zr_wpub_add takes ownership of a
 *   version and frees the oldest ones beyond `keep`.
 * - Everything zr_wpub_announcement / zr_wpub_chunk return points into the version (borrowed):
 *   valid until that version is evicted by a later zr_wpub_add, or zr_wpub_free. zmq_send
 *   copies, so encode-and-send right away is always safe.
 *
 * Buffer layout: the tensors of the model's tensor table, in table order, packed end to end
 * (no alignment gaps) in the version's dtype ("f32" or "bf16", little-endian); TensorInfo gives
 * name, dtype, shape, offset and nbytes. Chunk i covers [i*chunk_bytes, min(total,
 * (i+1)*chunk_bytes)); n_chunks = ceil(total_bytes / chunk_bytes).
 *
 * Errors: 0 or a negative errno-style code with zr_errmsg() saying what. */
#ifndef ZR_WPUB_H
#define ZR_WPUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/transformer.h"
#include "zerorl.pb-c.h"

#define ZR_WPUB_DEFAULT_CHUNK_BYTES (4u << 20) /* 4 MiB */

typedef struct zr_wversion zr_wversion;
typedef struct zr_wpub zr_wpub;

/* Snapshots m's parameters as version `version` (produced by optimizer step `step`) in dtype
 * (ZR_DT_F32 or ZR_DT_BF16) cut into chunks of chunk_bytes (0 = ZR_WPUB_DEFAULT_CHUNK_BYTES; at
 * most 1 GiB). Builds the manifest and every checksum. -EINVAL for a bad dtype or chunk size,
 * -ENOMEM. Reads the model through zr_tf_get_tensor (any backend). */
int zr_wversion_build(zr_wversion **out, zr_tf *m, uint64_t version, uint64_t step, zr_dtype dtype,
                      uint32_t chunk_bytes);
void zr_wversion_free(zr_wversion **v);

uint64_t zr_wversion_number(const zr_wversion *v);
uint64_t zr_wversion_step(const zr_wversion *v);
uint64_t zr_wversion_total_bytes(const zr_wversion *v);
uint32_t zr_wversion_n_chunks(const zr_wversion *v);
uint64_t zr_wversion_checksum(const zr_wversion *v);
/* The flat buffer (total_bytes bytes). */
const void *zr_wversion_data(const zr_wversion *v);

/* A publisher that keeps the newest `keep` versions (keep >= 1). */
int zr_wpub_new(zr_wpub **out, int keep);
void zr_wpub_free(zr_wpub **p);

/* Takes ownership of v (always, also on error). Versions must increase: -EINVAL (v freed) when
 * v's number is not greater than the newest held. Frees the oldest versions beyond keep. */
int zr_wpub_add(zr_wpub *p, zr_wversion *v);

/* The newest version number; false (and *version untouched) when none is held yet. */
bool zr_wpub_latest_version(const zr_wpub *p, uint64_t *version);
/* Whether `version` is still held (chunks can be served). */
bool zr_wpub_has_version(const zr_wpub *p, uint64_t version);
int zr_wpub_n_versions(const zr_wpub *p);

/* Fills *wv (initialised here with ZERORL__WEIGHT_VERSION__INIT) as the announcement of
 * `version` (0 = the newest), endpoint = the ROUTER address actors send WeightChunkRequest to
 * (may be NULL: ""). Shallow: tensors, shapes and checksums point into the version, and
 * endpoint is the caller's string; nothing is allocated, nothing to free. The daemon sets
 * env.body_case = ZERORL__ENVELOPE__BODY_WEIGHT_VERSION, env.weight_version = wv and calls
 * zr_frame_encode(&env, job, sender, 0, ...). -ENOENT when the version is not held. */
int zr_wpub_announcement(const zr_wpub *p, uint64_t version, const char *endpoint,
                         Zerorl__WeightVersion *wv);

/* The same announcement, encoded as a whole frame-0 message (zr_frame_encode, no bulk frames)
 * into a malloc'd *buf the caller frees. -ENOENT when the version is not held. */
int zr_wpub_encode_announcement(const zr_wpub *p, uint64_t version, const char *endpoint,
                                const char *job_id, const char *sender_id, uint8_t **buf, size_t *len);

/* Chunk `index` of `version`: its bytes (*data, *len), its offset in the flat buffer and its
 * announced xxh3-64. 0; -ENOENT when the version is gone (answer with WeightChunk.error);
 * -ERANGE for an index >= n_chunks. Not const: it counts serves and honours
 * zr_wpub_corrupt_once (*data then points into a scratch copy owned by p, valid until the next
 * zr_wpub_chunk call). */
int zr_wpub_chunk(zr_wpub *p, uint64_t version, uint32_t index, const void **data, uint32_t *len,
                  uint64_t *offset, uint64_t *checksum);

/* Test / fault-injection hook: the next serve of chunk `index` of `version` returns bytes with
 * one byte flipped but the announced checksum, so the receiver must detect it and refetch.
 * Serves after that one are clean. -ENOENT / -ERANGE as zr_wpub_chunk. */
int zr_wpub_corrupt_once(zr_wpub *p, uint64_t version, uint32_t index);

typedef struct {
  uint64_t versions_added;
  uint64_t versions_evicted;
  uint64_t chunks_served;
  uint64_t bytes_served;
  uint64_t chunk_misses; /* requests for a version no longer held, or a bad index */
} zr_wpub_stats;

zr_wpub_stats zr_wpub_get_stats(const zr_wpub *p);

#endif
