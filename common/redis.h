/* redis.h: the Redis client every daemon uses, on its libuv loop, plus worker heartbeats.
 *
 * zr_redis wraps one hiredis asynchronous connection (hiredis 0.14.1 API) driven by the
 * caller's libuv loop. It connects in the background and reconnects by itself, with capped
 * exponential back-off and jitter, after a refused connect, a lost connection, an AUTH
 * failure or a timeout; it never blocks the loop (host names are resolved on the libuv
 * thread pool) and never exits the process. A connection is usable ("connected") only after
 * AUTH, SELECT and a PING have succeeded; on_connect then runs, after the first connection
 * and after every reconnection, so daemons can re-publish their state. Redis being down never
 * stops the caller: commands issued while disconnected fail at once with a NULL reply.
 *
 * A command whose reply does not arrive within command_timeout_ms, or a connection that is
 * not usable within connect_timeout_ms, means a hung server: the connection is dropped (its
 * pending commands get NULL replies) and a new one is made.
 *
 * Ownership: the caller owns the loop and must keep running it until zr_redis_free's close
 * callbacks have run (the client's memory is released from them). The client owns its
 * hiredis context, its timers and its copies of the option strings. Replies belong to
 * hiredis and are valid only during the reply callback. Everything here runs on the loop
 * thread; nothing is thread-safe. zr_redis_new() sets SIGPIPE to ignored if it still has its
 * default action, because hiredis writes with write(2) and a server dying mid-write would
 * otherwise kill the process.
 *
 * zr_heartbeat keeps the worker hash PREFIX:worker:JOB:ROLE:ID (common/keys.h) alive: every
 * interval it writes host, pid, state, policy_version, started_at, updated_at and the
 * caller's extra fields with HSET + PEXPIRE in one MULTI/EXEC, rewrites it as soon as the
 * client reconnects, and deletes it on a clean stop; a worker that dies simply lets it
 * expire. A heartbeat belongs to the caller and refers to its client; free heartbeats before
 * their client (a client freed first detaches them and they go quiet). */
#ifndef ZR_REDIS_H
#define ZR_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct zr_redis zr_redis;

typedef struct {
  const char *host;            /* default "127.0.0.1"; a name is resolved off the loop */
  int port;                    /* default 6379 */
  const char *unix_path;       /* a Unix socket; when set, host and port are not used */
  const char *user;            /* ACL user: AUTH user password; NULL: AUTH password */
  const char *password;        /* NULL: no AUTH */
  int db;                      /* SELECT db when not 0 */
  const char *client_name;     /* CLIENT SETNAME when set (shows in CLIENT LIST) */
  uint32_t connect_timeout_ms; /* connect + AUTH + SELECT + PING; default 2000 */
  uint32_t command_timeout_ms; /* oldest unanswered command; default 5000 */
  uint32_t backoff_min_ms;     /* first reconnect delay; default 100 */
  uint32_t backoff_max_ms;     /* cap of the doubling delay; default 5000 */
} zr_redis_opts;

/* Fills in the defaults (a zero field given to zr_redis_new also means "default"). */
void zr_redis_opts_init(zr_redis_opts *opts);

/* Called after every successful (re)connection, AUTH and SELECT included. */
typedef void (*zr_redis_connect_cb)(zr_redis *r, void *user);

/* Called exactly once per command: with the reply, or with NULL when the command failed
 * (not connected, connection lost, timeout, client freed). `reply` is freed after the
 * callback returns. The callback may issue commands and may free the client. */
typedef void (*zr_redis_reply_cb)(zr_redis *r, redisReply *reply, void *user);

/* Creates the client and starts connecting on the next loop iteration; opts NULL means all
 * defaults. Returns NULL (zr_errmsg() says why) for invalid options. */
zr_redis *zr_redis_new(uv_loop_t *loop, const zr_redis_opts *opts, zr_redis_connect_cb on_connect,
                       void *user);

/* Drops the connection, calls every pending command callback once with a NULL reply,
 * detaches the client's heartbeats, closes the timers and clears *r. Memory is released
 * from libuv close callbacks, so keep running the loop. Safe inside any callback. */
void zr_redis_free(zr_redis **r);

/* 1 when commands can be sent now (connected, authenticated, selected). */
int zr_redis_connected(const zr_redis *r);

/* "unix:/path" or "host:port", for log lines. */
const char *zr_redis_endpoint(const zr_redis *r);

/* The most recent connection problem ("AUTH failed: WRONGPASS ..."), "" if none yet. It is
 * kept after a later successful connection, for status pages. */
const char *zr_redis_last_error(const zr_redis *r);

/* Number of successful connections so far (1 after the first, +1 per reconnection). */
uint64_t zr_redis_connect_count(const zr_redis *r);

/* Sends a command in hiredis format ("HSET %s %s %b", key, field, buf, len). cb may be NULL
 * (fire and forget). Returns 0 when sent. When not connected returns -ENOTCONN and, if cb
 * is set, calls it with NULL before returning; a malformed format gives -EINVAL likewise.
 * Send MULTI ... EXEC in one go (without returning to the loop) so that nothing else on the
 * connection falls inside the transaction. */
int zr_redis_command(zr_redis *r, zr_redis_reply_cb cb, void *user, const char *fmt, ...);

/* Same with an argument vector; argvlen NULL means every argument is a C string. */
int zr_redis_commandargv(zr_redis *r, zr_redis_reply_cb cb, void *user, int argc, const char **argv,
                         const size_t *argvlen);

/* ---- heartbeats -------------------------------------------------------------------------- */

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
 * component or a ttl not above the interval. state starts as "starting", policy_version
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
