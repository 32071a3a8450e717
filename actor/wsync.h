/* wsync.h: the actor's weight-sync state machine: it takes WeightVersion announcements,
 * decides what to fetch, says which chunks to request when (in-flight window, per-request
 * timeout, whole-version deadline), checks every chunk and the whole buffer against the
 * announced xxh3-64 checksums, and finally writes the assembled version into the model.
 *
 * Pure: no sockets, no threads, no clock of its own (every call takes now_ms). The daemon's
 * loop thread feeds it announcements and chunk replies and sends the WeightChunkRequests it
 * asks for (to zr_wsync_endpoint()).
 *
 * Policy. A version is fetched when it is newer than the version held and than the one being
 * fetched; a newer announcement mid-fetch supersedes the current fetch (its bytes are dropped).
 * Chunks that fail their checksum, and requests unanswered after request_timeout_ms, are
 * requested again. A fetch not complete deadline_ms after it started is abandoned (the next
 * announcement of that or a newer version starts over). Every announcement is validated before
 * anything changes: a bad one returns -EINVAL (or -EMSGSIZE for a limit) with zr_errmsg()
 * naming the field, and never disturbs the fetch in progress.
 *
 * Threads and ownership. A zr_wsync belongs to one thread (the loop). Applying is heavy and
 * touches the model, so the daemon either calls zr_wsync_apply on the thread that owns the
 * model, or detaches the complete version with zr_wsync_take (loop thread), hands the
 * zr_wready to the compute thread, which calls zr_wready_apply between decode steps and frees
 * it. The wsync copies everything it needs out of announcements (the caller keeps ownership of
 * the protobuf). A zr_wready is reference-counted (atomically): with keep_held the wsync keeps
 * one reference to re-serve the version while the compute thread applies and frees its own. */
#ifndef ZR_WSYNC_H
#define ZR_WSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/transformer.h"
#include "zerorl.pb-c.h"

typedef struct {
  int max_inflight;            /* chunk requests outstanding at once (default 8) */
  uint32_t request_timeout_ms; /* re-request a chunk unanswered this long (default 2000) */
  uint32_t deadline_ms;        /* abandon a version not complete this long after the offer
                                * (default 120000) */
  uint64_t max_total_bytes;    /* largest version accepted (default 64 GiB) */
  uint32_t max_chunk_bytes;    /* largest chunk_bytes accepted (default 256 MiB, the frame limit) */
  uint32_t max_tensors;        /* most tensors in a manifest (default 1M) */
  bool keep_held;              /* relay: keep a reference to the held version's bytes after
                                * take / apply, so zr_wsync_serve can re-serve it (default off) */
  bool verify_only;            /* benchmarks: check every chunk and the whole-version checksum but
                                * keep no buffer (chunks arriving ahead of the in-order hash are
                                * held until it reaches them, then freed); take gives a version
                                * without bytes that cannot be applied (default off) */
} zr_wsync_cfg;

/* The defaults above. */
zr_wsync_cfg zr_wsync_cfg_default(void);

typedef struct {
  uint64_t bytes_received;     /* accepted chunk bytes */
  uint64_t chunks_received;    /* accepted chunks */
  uint64_t bad_chunks;         /* checksum mismatches */
  uint64_t bad_replies;        /* bad offset / length / index */
  uint64_t ignored_chunks;     /* other version, or duplicates */
  uint64_t requests;           /* chunk indices handed out by zr_wsync_requests */
  uint64_t refetches;          /* of which re-requests (timeout or bad checksum) */
  uint64_t timeouts;           /* requests that timed out */
  uint64_t bad_announcements;  /* offers rejected by validation */
  uint64_t versions_started;
  uint64_t versions_completed;
  uint64_t versions_abandoned; /* deadline, or whole-buffer checksum mismatch */
  uint64_t versions_superseded; /* a newer version arrived mid-fetch */
  uint64_t last_fetch_ms;      /* offer to complete, for the last completed version */
} zr_wsync_stats;

typedef struct zr_wsync zr_wsync;
typedef struct zr_wready zr_wready;

/* cfg NULL = defaults; zero fields take their default. */
int zr_wsync_new(zr_wsync **out, const zr_wsync_cfg *cfg);
void zr_wsync_free(zr_wsync **w);

/* Marks `version` as held without fetching (the actor loaded it from disk at start). */
void zr_wsync_set_held(zr_wsync *w, uint64_t version);
/* The version held (applied or taken); false before any. */
bool zr_wsync_held_version(const zr_wsync *w, uint64_t *version);
/* The version being fetched; false when idle (or when the fetch is complete). */
bool zr_wsync_fetching(const zr_wsync *w, uint64_t *version);
/* Where to send WeightChunkRequest for the version being fetched (its announcement's endpoint;
 * "" when idle or announced without one). Valid until the next offer. */
const char *zr_wsync_endpoint(const zr_wsync *w);

/* 1: starts fetching wv (newer than held and than the one being fetched; a fetch in progress
 * is superseded); 0: ignored (not newer); -EINVAL / -EMSGSIZE: bad announcement, counted,
 * zr_errmsg() names the field; nothing changed. */
int zr_wsync_offer(zr_wsync *w, const Zerorl__WeightVersion *wv, uint64_t now_ms);

/* Chunk indices to request now (never requested, failed their checksum, or timed out),
 * at most max and never more than max_inflight outstanding; marks them requested at now_ms.
 * Returns how many were written (0 when idle or everything is in flight). */
int zr_wsync_requests(zr_wsync *w, uint64_t now_ms, uint32_t *indices, int max);

/* A chunk reply (WeightChunk header + bulk frame). 0 accepted; 1 ignored (other version, not
 * fetching, or a duplicate); -EBADMSG the bytes fail the announced checksum (counted, the
 * chunk will be requested again); -EINVAL index, offset or length disagree with the manifest.
 * When the last chunk arrives the whole-buffer checksum is checked: on a mismatch the version
 * is abandoned and -EBADMSG returned. */
int zr_wsync_chunk(zr_wsync *w, uint64_t version, uint32_t index, uint64_t offset, const void *data,
                   size_t len, uint64_t now_ms);

/* Every chunk received and the whole-buffer checksum matches: ready to apply / take. */
bool zr_wsync_complete(const zr_wsync *w);

/* Abandons the fetch if it is past its deadline: returns 1 when it abandoned (counted), else 0.
 * Call from a timer (e.g. every request_timeout_ms / 2). */
int zr_wsync_tick(zr_wsync *w, uint64_t now_ms);

/* Writes every tensor of the complete version into m (fp32; bf16/f16 converted). The manifest's
 * names and shapes must match m's tensor table exactly (same set, same shapes); otherwise
 * -EINVAL naming the tensor and nothing is written. On success the version becomes the held
 * one, the buffer is freed and *version_out (may be NULL) is set. -EAGAIN when not complete. */
int zr_wsync_apply(zr_wsync *w, zr_tf *m, uint64_t *version_out);

/* Detaches the complete version (the wsync becomes idle and counts it as held). -EAGAIN when
 * not complete. */
int zr_wsync_take(zr_wsync *w, zr_wready **out);
/* As zr_wsync_apply, for a detached version (any thread; r is immutable). */
int zr_wready_apply(const zr_wready *r, zr_tf *m);
uint64_t zr_wready_version(const zr_wready *r);
void zr_wready_free(zr_wready **r);

zr_wsync_stats zr_wsync_get_stats(const zr_wsync *w);

/* ---- relaying (actor/relay.h) ----------------------------------------------------------------
 * A relay re-serves what its wsync holds, content-addressed by the whole-version checksum the
 * learner announced; receivers verify every chunk against the learner's checksums anyway. */

/* The whole-version checksum and number of the version being fetched; false when idle. */
bool zr_wsync_fetch_id(const zr_wsync *w, uint64_t *checksum, uint64_t *version);
/* How many times chunk `index` of the version being fetched has been handed out by
 * zr_wsync_requests (1 on its first request, more on refetches); 0 when idle or out of range. */
uint32_t zr_wsync_tries(const zr_wsync *w, uint32_t index);
/* A server answered chunk `index` of `version` with an error (it does not hold it): the chunk is
 * requested again at once instead of after request_timeout_ms. 0 when marked, 1 ignored. */
int zr_wsync_refused(zr_wsync *w, uint64_t version, uint32_t index);
/* Chunk `index` of the version whose whole checksum is `checksum`, if verified here: from the
 * fetch in progress (chunks already checked) or, with keep_held, from the held version. 0 with
 * *data (valid until the next zr_wsync_offer / take / apply / free), *len, *offset, *version;
 * -EAGAIN: that version is being fetched but this chunk is not verified yet; -ERANGE: index out
 * of range; -ENOENT: not held (*version, when not NULL, is then the newest version number held
 * or being fetched, 0 if none, so a server can tell "older than mine" from "not seen yet"). */
int zr_wsync_serve(const zr_wsync *w, uint64_t checksum, uint32_t index, const void **data, uint32_t *len,
                   uint64_t *offset, uint64_t *version);

#endif
