/* redis.h: the Redis client every daemon uses, on its libuv loop.
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
 * Other modules built on the client (common/heartbeat.h) hear about (re)connections and
 * about the client's end through listeners (zr_redis_listener), so that the client needs to
 * know nothing about them.
 *
 * Ownership: the caller owns the loop and must keep running it until zr_redis_free's close
 * callbacks have run (the client's memory is released from them). The client owns its
 * hiredis context, its timers and its copies of the option strings. Listeners belong to
 * whoever embeds them; the client only links them. Replies belong to hiredis and are valid
 * only during the reply callback. Everything here runs on the loop thread; nothing is
 * thread-safe. zr_redis_new() sets SIGPIPE to ignored if it still has its default action,
 * because hiredis writes with write(2) and a server dying mid-write would otherwise kill the
 * process. */
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

/* Calls every listener's on_free, drops the connection, calls every pending command
 * callback once with a NULL reply, closes the timers and clears *r. Memory is released
 * from libuv close callbacks, so keep running the loop. Safe inside any callback. */
void zr_redis_free(zr_redis **r);

/* 1 when commands can be sent now (connected, authenticated, selected). */
int zr_redis_connected(const zr_redis *r);

/* The loop the client runs on, for modules that add their own handles to it. */
uv_loop_t *zr_redis_loop(const zr_redis *r);

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

/* ---- listeners --------------------------------------------------------------------------- */

/* Called when the client is being freed (from zr_redis_free): commands fail from now on and
 * the listener has already been removed. */
typedef void (*zr_redis_free_cb)(zr_redis *r, void *user);

/* A listener is embedded in its owner's struct and linked into the client's list; it must
 * stay in place while it is added. After every successful (re)connection the client calls,
 * after its own on_connect, every listener's on_connect, newest listener first; a listener
 * added during those calls is not called for that connection (check zr_redis_connected()
 * when adding). zr_redis_free takes the listeners off the list one by one and calls each
 * one's on_free, once. Either callback may be NULL. Inside any callback it is safe to remove
 * any listener, to add one (except while the client is being freed), to send commands and
 * to free the client (the listeners not called yet then get on_free instead of on_connect). */
typedef struct zr_redis_listener {
  zr_redis_connect_cb on_connect;
  zr_redis_free_cb on_free;
  void *user;
  struct zr_redis_listener *next; /* the client's */
} zr_redis_listener;

void zr_redis_listener_init(zr_redis_listener *l, zr_redis_connect_cb on_connect,
                            zr_redis_free_cb on_free, void *user);

/* Adds l, which must not be added already. Returns 0, or -ESHUTDOWN when the client is
 * being freed (zr_redis_free was called, e.g. from inside an on_free). */
int zr_redis_add_listener(zr_redis *r, zr_redis_listener *l);

/* Removes l; no more calls reach it once this returns. A listener that is not added (or was
 * removed by zr_redis_free) is left alone. Do not call it once the client's memory may be
 * gone: after on_free, drop the pointer to the client. */
void zr_redis_remove_listener(zr_redis *r, zr_redis_listener *l);

#endif
