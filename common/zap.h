/* zap.h: the CURVE client allow-list of a ZeroMQ server (the learner), as a ZAP handler.
 *
 * ZeroMQ asks a ZAP handler (RFC 27: a REP socket bound to "inproc://zeromq.zap.01" in the same
 * zmq context) whether each client that completes a CURVE handshake with any socket of that
 * context may connect. This module is that handler: it answers 200 for clients whose public key
 * is in the allow-list file and 400 for everyone else, driven by the owner's libuv loop through
 * a zr_zsock (ZMQ_REP). It must be started before the CURVE server sockets are bound, and stopped
 * after they are closed: while no handler is bound, libzmq lets every CURVE client in. Clients
 * that do not speak CURVE at all never reach the handler: libzmq refuses their handshake itself.
 *
 * The allow-list file holds one Z85 public key (40 characters, as `zerorl keygen` writes to
 * PREFIX.pub) per line; blank lines and lines starting with '#' are ignored, and a key may be
 * followed by whitespace and a '#' comment ('#' is a Z85 character, so a '#' inside a key is
 * part of it; no valid key starts with '#'). Any other line makes the whole file invalid (the
 * message names file and line). The file is read at start; zr_zap_reload() re-reads it (SIGHUP)
 * and keeps the old list when the new file is invalid.
 *
 * Every refused client is counted and logged (level warn, component "zap") with its key and
 * address, at most once per minute per key.
 *
 * Ownership: the caller owns the loop and the zmq context; the handler owns its socket and its
 * list. One handler per zmq context (ZeroMQ has one ZAP endpoint per context);
 * zr_zap_for_context() finds it, so that code holding only the context can reload or stop it.
 * Threads: a handler belongs to the thread running its loop. */
#ifndef ZR_ZAP_H
#define ZR_ZAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define ZR_ZAP_ENDPOINT "inproc://zeromq.zap.01"

/* ---- the allow-list -------------------------------------------------------------------- */

typedef struct {
  uint8_t (*keys)[32]; /* decoded public keys, sorted */
  size_t n;
} zr_zap_list;

/* Parses allow-list text; origin names it in messages (a file name). On success *out holds
 * the keys (release with zr_zap_list_release); on failure (-EINVAL, -ENOMEM, with zr_errmsg()
 * naming origin:line) *out is left empty. */
int zr_zap_list_parse(zr_zap_list *out, const char *text, const char *origin);

/* Reads and parses the file at path. 0, or -errno / -EINVAL naming the file. */
int zr_zap_list_load(zr_zap_list *out, const char *path);

bool zr_zap_list_has(const zr_zap_list *l, const uint8_t key[32]);

void zr_zap_list_release(zr_zap_list *l);

/* ---- the handler ----------------------------------------------------------------------- */

typedef struct zr_zap zr_zap;

typedef struct {
  uint64_t requests; /* ZAP requests answered */
  uint64_t accepted; /* 200: key in the list */
  uint64_t refused;  /* 400: key not in the list, or not a CURVE request */
  uint64_t bad;      /* malformed requests (answered 500) */
  uint64_t reloads;  /* successful zr_zap_reload calls */
  size_t keys;       /* keys in the list now */
} zr_zap_stats;

/* Reads allowed_clients_file and binds the ZAP endpoint of zmq_ctx, watched by loop. NULL with
 * zr_errmsg() set when the file is unreadable or invalid, or the context has a handler already. */
zr_zap *zr_zap_new(uv_loop_t *loop, void *zmq_ctx, const char *allowed_clients_file);

/* Unbinds, frees and sets *z to NULL; NULL-safe. Memory of the socket goes when the loop runs
 * its close callbacks. */
void zr_zap_free(zr_zap **z);

/* The handler of zmq_ctx, or NULL. */
zr_zap *zr_zap_for_context(void *zmq_ctx);

/* Re-reads the allow-list file. 0 (logged with the new count), or a negative errno with
 * zr_errmsg() set; then the previous list stays in force. */
int zr_zap_reload(zr_zap *z);

zr_zap_stats zr_zap_get_stats(const zr_zap *z);

#endif
