/* zsock.h: ZeroMQ sockets driven by a libuv loop.
 *
 * A zr_zsock wraps one ZeroMQ socket and joins it to a uv_loop_t through a uv_poll_t on
 * ZMQ_FD. ZMQ_FD is edge-triggered, so the module re-checks ZMQ_EVENTS after every poll
 * wake-up, every send and every receive, and keeps a uv_idle_t running while work remains,
 * handling at most ZR_ZSOCK_BATCH messages per loop iteration so other handles stay served.
 *
 * Receiving: each complete multipart message is handed to the receive callback once, as an
 * array of zmq_msg_t parts. The module owns the parts: they are closed when the callback
 * returns (keep data with zmq_msg_copy or by copying bytes). Messages with more than
 * opts.max_parts frames are dropped and counted. The callback may send on any socket and may
 * free this socket (zr_zsock_free) safely.
 *
 * Sending never blocks: a message zmq will not take now (EAGAIN at the high-water mark) is kept
 * whole in a user-space FIFO and flushed, in order, when ZMQ_EVENTS reports POLLOUT. Messages are
 * never reordered and never half-sent. The FIFO holds at most opts.max_pending messages; beyond
 * that zr_zsock_send returns -ENOBUFS. Notes by socket type:
 *   - PUB (and RADIO) sockets drop messages at the HWM by design; zmq reports success, so the
 *     FIFO is never used and nothing tells the sender.
 *   - ROUTER sockets get ZMQ_ROUTER_MANDATORY: sending to an unknown or gone peer returns
 *     -EHOSTUNREACH instead of dropping silently. A queued message whose peer has gone by the
 *     time it is flushed is dropped, logged and counted in send_errors. The FIFO is shared by
 *     all peers, so one peer at its HWM holds back later messages to the others.
 *
 * Threads: a zr_zsock belongs to the thread running its loop; the zmq context may be shared.
 * Ownership: the caller owns the loop and the zmq context; the zr_zsock owns its zmq socket,
 * its libuv handles, its FIFO and the received parts. zr_zsock_free closes the zmq socket at
 * once (messages already handed to zmq are sent within linger_ms; messages still in the FIFO
 * are discarded) and releases memory when the loop runs the handles' close callbacks, so run
 * the loop (e.g. uv_run(loop, UV_RUN_NOWAIT)) before uv_loop_close. */
#ifndef ZR_ZSOCK_H
#define ZR_ZSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <zmq.h>

#include "common/frame.h"

/* Messages (received or flushed) handled per socket per loop iteration. */
#define ZR_ZSOCK_BATCH 256

/* Length of a Z85-encoded CURVE key (32 bytes). */
#define ZR_ZSOCK_Z85_KEY_LEN 40

typedef struct zr_zsock zr_zsock;

typedef struct {
  int64_t max_msg_bytes;    /* ZMQ_MAXMSGSIZE; peers sending more are disconnected. 256 MiB */
  int sndhwm;               /* ZMQ_SNDHWM, messages per peer. 1000 */
  int rcvhwm;               /* ZMQ_RCVHWM, messages per peer. 1000 */
  int linger_ms;            /* ZMQ_LINGER; -1 waits forever on context term. 1000 */
  int reconnect_ivl_ms;     /* ZMQ_RECONNECT_IVL. 100 */
  int reconnect_ivl_max_ms; /* ZMQ_RECONNECT_IVL_MAX (exponential back-off cap). 5000 */
  size_t max_parts;         /* most frames accepted in one received message. 8 */
  size_t max_pending;       /* most messages held in the user-space send FIFO. 100000 */
  const char *routing_id;   /* ZMQ_ROUTING_ID (identity) as a string, or NULL */
  /* CURVE: all NULL/false for plain sockets. A server sets curve_server and its public and
   * secret keys; a client sets its public and secret keys and the server's public key. Keys
   * are Z85 strings of 40 characters (zmq_curve_keypair). Any other mix is rejected. */
  bool curve_server;
  const char *curve_public_key;
  const char *curve_secret_key;
  const char *curve_server_key;
} zr_zsock_opts;

zr_zsock_opts zr_zsock_opts_default(void);

/* One frame to send: data is copied, so it may be released as soon as the call returns. */
typedef struct {
  const void *data;
  size_t len;
} zr_zsock_part;

typedef struct {
  uint64_t received;    /* complete messages handed to the receive callback */
  uint64_t sent;        /* messages handed to zmq (directly or from the FIFO) */
  uint64_t queued;      /* messages that went through the FIFO (cumulative) */
  uint64_t dropped;     /* received messages dropped for having more than max_parts frames */
  uint64_t send_errors; /* queued messages zmq refused when flushed (e.g. ROUTER peer gone) */
  size_t pending;       /* messages in the FIFO now */
} zr_zsock_stats;

/* Called once per complete message; parts[0..n) are valid only during the call. s may be freed
 * from inside (zr_zsock_free), after which the module touches nothing but its own memory. */
typedef void (*zr_zsock_recv_cb)(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user);

/* Creates a socket of zmq_type (ZMQ_DEALER, ZMQ_ROUTER, ...) on zmq_ctx, watched by loop.
 * opts NULL means zr_zsock_opts_default(). cb may be NULL for send-only sockets (anything
 * received is then discarded). Returns NULL with zr_errmsg() set on failure. */
zr_zsock *zr_zsock_new(uv_loop_t *loop, void *zmq_ctx, int zmq_type, const zr_zsock_opts *opts,
                       zr_zsock_recv_cb cb, void *user);

/* Stops watching, closes the zmq socket and sets *s to NULL; NULL-safe. See the top comment. */
void zr_zsock_free(zr_zsock **s);

/* 0, or a negative errno with a message naming the endpoint. */
int zr_zsock_bind(zr_zsock *s, const char *endpoint);
int zr_zsock_connect(zr_zsock *s, const char *endpoint);

/* Writes ZMQ_LAST_ENDPOINT (e.g. the port chosen for "tcp://127.0.0.1:*") into out. */
int zr_zsock_last_endpoint(zr_zsock *s, char *out, size_t cap);

/* Sends one message of n >= 1 frames, copying the data. Returns 0 when the message was handed
 * to zmq or queued in the FIFO; -ENOBUFS when the FIFO is full; -EHOSTUNREACH for a ROUTER
 * message to an unknown peer; another negative errno from zmq; each with zr_errmsg() set. */
int zr_zsock_send(zr_zsock *s, const zr_zsock_part *parts, size_t n);

/* Like zr_zsock_send, but takes ownership of n initialised zmq_msg_t frames (built with
 * zmq_msg_init_data for zero-copy). Whatever the result, msgs[] are left empty. */
int zr_zsock_send_msgs(zr_zsock *s, zmq_msg_t *msgs, size_t n);

zr_zsock_stats zr_zsock_get_stats(const zr_zsock *s);

/* Decodes a received multipart message (zr_frame_decode) from its zmq parts: parts[0..n) are
 * the envelope and its bulk frames (skip a ROUTER's identity frame before calling). */
int zr_zsock_decode(zr_frame_msg *msg, zmq_msg_t *parts, size_t n, const char *expect_job,
                    const zr_frame_limits *lim);

/* Reads a Z85 CURVE key (the first word of the file's first line, as `zerorl keygen` and
 * zmq_curve_keypair write them) into out. 0, or -errno / -EINVAL naming the file. */
int zr_zsock_read_key(const char *path, char out[ZR_ZSOCK_Z85_KEY_LEN + 1]);

/* The underlying zmq socket, for options this module does not cover (ZMQ_SUBSCRIBE, ...).
 * Do not send, receive or close through it. */
void *zr_zsock_raw(zr_zsock *s);

#endif
