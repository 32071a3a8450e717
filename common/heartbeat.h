/* heartbeat.h: the worker heartbeat, the hash that says a daemon is alive.
 *
 * zr_heartbeat keeps the worker hash PREFIX:worker:JOB:ROLE:ID (common/keys.h) alive: every
 * interval it writes host, pid, state, policy_version, started_at, updated_at and the
 * caller's extra fields with HSET + PEXPIRE in one MULTI/EXEC, rewrites it as soon as the
 * client reconnects, and deletes it on a clean stop; a worker that dies simply lets it
 * expire. It is built on common/redis.h alone: it hears about reconnections and about its
 * client's end through a zr_redis_listener.
 *
 * Ownership: a heartbeat belongs to the caller, owns its timer and its copies of the field
 * names and values, and refers to (does not own) its client. Free heartbeats before their
 * client; a client freed first detaches them and they go quiet (they must still be freed).
 * zr_heartbeat_free releases the memory from libuv callbacks, so keep running the loop.
 * Everything runs on the client's loop thread; nothing is thread-safe. */
#ifndef ZR_HEARTBEAT_H
#define ZR_HEARTBEAT_H

#include <stdint.h>

#include "common/redis.h"

typedef struct zr_heartbeat zr_heartbeat;

typedef struct {
  const char *prefix;   /* key prefix; default ZR_KEY_PREFIX_DEFAULT */
  const char *job;      /* required */
  const char *role;     /* "actor", "reward", "learner" */
  const char *id;       /* the worker id */
  uint32_t interval_ms; /* default 2000 */
  uint32_t ttl_ms;      /* PEXPIRE of the hash, > interval_ms; default 3 x interval_ms */
} zr_heartbeat_opts;

void zr_heartbeat_opts_init(zr_heartbeat_opts *opts);

/* Creates a stopped heartbeat for the worker. Returns NULL (zr_errmsg()) for a bad key
 * component, a ttl not above the interval or a client being freed. state starts as "starting", policy_version
 * as "0"; host, pid and started_at are filled in now. */
zr_heartbeat *zr_heartbeat_new(zr_redis *r, const zr_heartbeat_opts *opts);

/* Sets a field written from the next beat on (state, policy_version, throughput or any
 * extra field). host, pid, started_at and updated_at are the heartbeat's own: -EINVAL. At
 * most 32 fields in all. A field, once written, stays in the hash until it is deleted. */
int zr_heartbeat_set(zr_heartbeat *hb, const char *field, const char *value);
int zr_heartbeat_setf(zr_heartbeat *hb, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Starts beating: writes the hash now (if connected) and every interval after. */
int zr_heartbeat_start(zr_heartbeat *hb);

/* Writes the hash now, e.g. right after a state change. -ENOTCONN while disconnected (the
 * next beat after reconnecting catches up). */
int zr_heartbeat_beat(zr_heartbeat *hb);

typedef enum {
  ZR_HEARTBEAT_DELETE, /* clean exit: DEL the hash, the worker is gone at once */
  ZR_HEARTBEAT_KEEP,   /* stop writing, leave the hash to expire (what a crash looks like) */
} zr_heartbeat_stop_mode;

/* ok: 1 when the DEL was answered (or nothing had to be deleted), 0 when it failed. */
typedef void (*zr_heartbeat_done_cb)(int ok, void *user);

/* Stops beating. done, if set, is called once when the DEL has been answered or has failed
 * (right away for ZR_HEARTBEAT_KEEP or while disconnected), so that a daemon can free its
 * client after it on shutdown. */
int zr_heartbeat_stop(zr_heartbeat *hb, zr_heartbeat_stop_mode mode, zr_heartbeat_done_cb done,
                      void *user);

/* The worker key, "zerorl:worker:JOB:ROLE:ID". */
const char *zr_heartbeat_key(const zr_heartbeat *hb);

/* Stops a running heartbeat with ZR_HEARTBEAT_DELETE and frees it (after its timer has
 * closed and its writes in flight have completed); clears *hb. */
void zr_heartbeat_free(zr_heartbeat **hb);

#endif
