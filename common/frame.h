/* frame.h: encoding and decoding of zerorl's multipart wire messages.
 *
 * Frame 0 is a protobuf Envelope (proto/zerorl.proto); bulk bytes follow in further frames.
 * The decoder is the gate every network input passes: before protobuf-c allocates anything it
 * checks frame sizes, scans the envelope's wire format (truncation, garbage), the protocol
 * version and the job id; it then unpacks with an allocation budget (protobuf-c 1.4 has no
 * limits of its own) and checks every string (length, UTF-8), every repeated field's count,
 * the type against the body, the bulk frame count, and each body's cross-field rules
 * (matching token/log-prob/version lengths, finite log-probs, chunk sizes). A message that
 * fails any check is rejected with one of the ZR_FRAME_E* codes and a message naming the
 * field; nothing is ever half-accepted.
 *
 * Ownership: zr_frame_decode fills a zr_frame_msg whose envelope the caller releases with
 * zr_frame_msg_release; bulk frames are views into the caller's frames (not copied).
 * zr_frame_encode returns a malloc'd buffer the caller frees. */
#ifndef ZR_FRAME_H
#define ZR_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "zerorl.pb-c.h"

#define ZR_PROTOCOL_VERSION ZERORL__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT
#define ZR_FRAME_MAX_BULK 4 /* bulk frames a message may carry (a weight chunk uses 1) */

/* Why a message was rejected. Negative so they travel like errno codes. */
enum {
  ZR_FRAME_ETRUNCATED = -1001, /* empty frame 0, or a field running past the end */
  ZR_FRAME_EOVERSIZED = -1002, /* a frame, a string, a count or the decoded size over its limit */
  ZR_FRAME_EVERSION = -1003,   /* protocol version is not ours */
  ZR_FRAME_EJOB = -1004,       /* job id is not the receiver's */
  ZR_FRAME_ETYPE = -1005,      /* unknown type, or type disagrees with the body */
  ZR_FRAME_EGARBAGE = -1006,   /* not a protobuf Envelope */
  ZR_FRAME_EFIELD = -1007,     /* a field breaks a rule (lengths differ, NaN log-prob, bad UTF-8) */
};

/* Short stable name of a ZR_FRAME_E* code ("truncated", "oversized", ...), for counters. */
const char *zr_frame_strerror(int code);

typedef struct {
  size_t max_envelope_bytes; /* frame 0 */
  size_t max_bulk_bytes;     /* each bulk frame */
  uint32_t max_bulk_frames;  /* at most ZR_FRAME_MAX_BULK */
  size_t max_string_bytes;   /* any string field */
  size_t max_repeated;       /* any repeated field's element count */
  size_t max_decoded_bytes;  /* memory protobuf-c may allocate for one message */
} zr_frame_limits;

/* Defaults: 64 MiB envelope, 256 MiB bulk frame, 1 bulk frame, 1 MiB strings, 4M elements,
 * 512 MiB decoded. */
zr_frame_limits zr_frame_limits_default(void);

typedef struct {
  const void *data;
  size_t len;
} zr_bytes;

typedef struct {
  Zerorl__Envelope *env;
  zr_bytes bulk[ZR_FRAME_MAX_BULK];
  size_t n_bulk;
} zr_frame_msg;

/* Stamps env (protocol version, job id, sender id, send time, type derived from the body,
 * bulk_frames = n_bulk) and packs it into a new buffer. Returns 0, or -EINVAL when no body is
 * set or job/sender are empty. */
int zr_frame_encode(Zerorl__Envelope *env, const char *job_id, const char *sender_id, uint32_t n_bulk,
                    uint8_t **out, size_t *out_len);

/* Decodes frames[0..n) (frame 0 = envelope). expect_job NULL accepts any job. Returns 0 and
 * fills msg, or a ZR_FRAME_E* code with zr_errmsg() naming the problem; msg is then empty. */
int zr_frame_decode(zr_frame_msg *msg, const zr_bytes *frames, size_t n, const char *expect_job,
                    const zr_frame_limits *lim);

void zr_frame_msg_release(zr_frame_msg *msg);

/* The MsgType that goes with a body case, or MSG_UNSPECIFIED. */
Zerorl__MsgType zr_frame_type_of(Zerorl__Envelope__BodyCase body);

#endif
