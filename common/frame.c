#include "common/frame.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"

const char *zr_frame_strerror(int code) {
  switch (code) {
    case 0: return "ok";
    case ZR_FRAME_ETRUNCATED: return "truncated";
    case ZR_FRAME_EOVERSIZED: return "oversized";
    case ZR_FRAME_EVERSION: return "wrong_version";
    case ZR_FRAME_EJOB: return "wrong_job";
    case ZR_FRAME_ETYPE: return "bad_type";
    case ZR_FRAME_EGARBAGE: return "garbage";
    case ZR_FRAME_EFIELD: return "bad_field";
    default: return "error";
  }
}

zr_frame_limits zr_frame_limits_default(void) {
  return (zr_frame_limits){
      .max_envelope_bytes = 64u << 20,
      .max_bulk_bytes = 256u << 20,
      .max_bulk_frames = 1,
      .max_string_bytes = 1u << 20,
      .max_repeated = 4u << 20,
      .max_decoded_bytes = 512u << 20,
  };
}

static const struct {
  Zerorl__Envelope__BodyCase body;
  Zerorl__MsgType type;
} body_types[] = {
    {ZERORL__ENVELOPE__BODY_WORK_REQUEST, ZERORL__MSG_TYPE__MSG_WORK_REQUEST},
    {ZERORL__ENVELOPE__BODY_WORK_GRANT, ZERORL__MSG_TYPE__MSG_WORK_GRANT},
    {ZERORL__ENVELOPE__BODY_ROLLOUT, ZERORL__MSG_TYPE__MSG_ROLLOUT},
    {ZERORL__ENVELOPE__BODY_LEASE_RELEASE, ZERORL__MSG_TYPE__MSG_LEASE_RELEASE},
    {ZERORL__ENVELOPE__BODY_SCORE_REQUEST, ZERORL__MSG_TYPE__MSG_SCORE_REQUEST},
    {ZERORL__ENVELOPE__BODY_SCORED_ROLLOUT, ZERORL__MSG_TYPE__MSG_SCORED_ROLLOUT},
    {ZERORL__ENVELOPE__BODY_WEIGHT_VERSION, ZERORL__MSG_TYPE__MSG_WEIGHT_VERSION},
    {ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK_REQUEST, ZERORL__MSG_TYPE__MSG_WEIGHT_CHUNK_REQUEST},
    {ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK, ZERORL__MSG_TYPE__MSG_WEIGHT_CHUNK},
};

Zerorl__MsgType zr_frame_type_of(Zerorl__Envelope__BodyCase body) {
  for (size_t i = 0; i < sizeof body_types / sizeof body_types[0]; i++)
    if (body_types[i].body == body) return body_types[i].type;
  return ZERORL__MSG_TYPE__MSG_UNSPECIFIED;
}

int zr_frame_encode(Zerorl__Envelope *env, const char *job_id, const char *sender_id, uint32_t n_bulk,
                    uint8_t **out, size_t *out_len) {
  Zerorl__MsgType type = zr_frame_type_of(env->body_case);
  if (type == ZERORL__MSG_TYPE__MSG_UNSPECIFIED)
    return zr_seterr(-EINVAL, "frame encode: envelope has no body");
  if (!job_id || !*job_id || !sender_id || !*sender_id)
    return zr_seterr(-EINVAL, "frame encode: job id and sender id must be set");
  env->protocol_version = ZR_PROTOCOL_VERSION;
  env->job_id = (char *)job_id;
  env->sender_id = (char *)sender_id;
  env->type = type;
  env->sent_at_ms = zr_clock_wall_ms();
  env->bulk_frames = n_bulk;
  size_t len = zerorl__envelope__get_packed_size(env);
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf) return zr_seterr(-ENOMEM, "frame encode: out of memory for %zu bytes", len);
  size_t packed = zerorl__envelope__pack(env, buf);
  ZR_ASSERT(packed == len);
  *out = buf;
  *out_len = len;
  return 0;
}

/* ---- stage 1: scan the envelope's top-level wire format without allocating --------------- */

typedef struct {
  uint64_t version;
  const uint8_t *job;
  size_t job_len;
  int have_job;
} envelope_peek;

static int read_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= len) return ZR_FRAME_ETRUNCATED;
    uint8_t b = p[(*pos)++];
    r |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return 0;
    }
  }
  return ZR_FRAME_EGARBAGE; /* more than 10 bytes */
}

static int peek_envelope(const uint8_t *p, size_t len, envelope_peek *pk) {
  size_t pos = 0;
  memset(pk, 0, sizeof *pk);
  while (pos < len) {
    uint64_t key, v;
    int rc = read_varint(p, len, &pos, &key);
    if (rc) return zr_seterr(rc, "envelope: %s field key at byte %zu", zr_frame_strerror(rc), pos);
    uint64_t field = key >> 3;
    unsigned wire = (unsigned)(key & 7);
    if (field == 0 || field > 536870911u)
      return zr_seterr(ZR_FRAME_EGARBAGE, "envelope: invalid field number at byte %zu", pos);
    switch (wire) {
      case 0:
        rc = read_varint(p, len, &pos, &v);
        if (rc) return zr_seterr(rc, "envelope: field %llu: %s varint", (unsigned long long)field, zr_frame_strerror(rc));
        if (field == 1) pk->version = v;
        break;
      case 1:
      case 5: {
        size_t w = wire == 1 ? 8 : 4;
        if (len - pos < w)
          return zr_seterr(ZR_FRAME_ETRUNCATED, "envelope: field %llu runs past the end", (unsigned long long)field);
        pos += w;
        break;
      }
      case 2:
        rc = read_varint(p, len, &pos, &v);
        if (rc) return zr_seterr(rc, "envelope: field %llu: %s length", (unsigned long long)field, zr_frame_strerror(rc));
        if (v > len - pos)
          return zr_seterr(ZR_FRAME_ETRUNCATED, "envelope: field %llu needs %llu bytes, %zu left",
                           (unsigned long long)field, (unsigned long long)v, len - pos);
        if (field == 2) {
          pk->job = p + pos;
          pk->job_len = (size_t)v;
          pk->have_job = 1;
        }
        pos += (size_t)v;
        break;
      default:
        return zr_seterr(ZR_FRAME_EGARBAGE, "envelope: field %llu has invalid wire type %u",
                         (unsigned long long)field, wire);
    }
    if ((field == 1 || field == 4 || field == 6) && wire != 0)
      return zr_seterr(ZR_FRAME_EGARBAGE, "envelope: field %llu has wire type %u, expected varint",
                       (unsigned long long)field, wire);
    if (field == 2 && wire != 2)
      return zr_seterr(ZR_FRAME_EGARBAGE, "envelope: job_id has wire type %u, expected bytes", wire);
  }
  return 0;
}

/* ---- stage 2: unpack under an allocation budget ------------------------------------------- */

typedef struct {
  size_t used, budget;
  int exceeded;
} alloc_budget;

static void *budget_alloc(void *data, size_t size) {
  alloc_budget *b = data;
  if (size > b->budget - b->used) {
    b->exceeded = 1;
    return NULL;
  }
  b->used += size;
  return malloc(size ? size : 1);
}

static void plain_free(void *data, void *ptr) { free(ptr); }

/* ---- stage 3: generic checks over every string and repeated field ------------------------- */

/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t k;
    unsigned cp;
    if (c >= 0xc2 && c <= 0xdf) k = 1, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) k = 2, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) k = 3, cp = c & 0x07;
    else return 0;
    if (n - i <= k) return 0;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + j] & 0x3f);
    }
    if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += k + 1;
  }
  return 1;
}

static int check_message(const ProtobufCMessage *m, const zr_frame_limits *lim, int depth) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  if (depth > 8) return zr_seterr(ZR_FRAME_EFIELD, "%s: nested too deep", d->name);
  /* protobuf-c keeps a key of field number 0 as an unknown field when it is spelled with a
   * redundant varint byte (0x81 0x00) and refuses the same key re-encoded in one byte: no such
   * message may be accepted (stage 1 checks only the envelope's own keys) */
  for (size_t u = 0; u < m->n_unknown_fields; u++)
    if (m->unknown_fields[u].tag == 0)
      return zr_seterr(ZR_FRAME_EGARBAGE, "%s: a field numbered 0 (invalid protobuf)", d->name);
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    const char *base = (const char *)m;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
      if (which != f->id) continue;
    }
    size_t count = 1;
    const void *const *items;
    const void *single;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      count = *(const size_t *)(base + f->quantifier_offset);
      if (count > lim->max_repeated)
        return zr_seterr(ZR_FRAME_EOVERSIZED, "%s.%s: %zu elements, limit %zu", d->name, f->name, count,
                         lim->max_repeated);
      if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE) continue;
      items = *(const void *const *const *)(base + f->offset);
    } else {
      if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE) continue;
      single = *(const void *const *)(base + f->offset);
      items = &single;
    }
    for (size_t k = 0; k < count; k++) {
      if (!items[k]) continue; /* an absent sub-message */
      if (f->type == PROTOBUF_C_TYPE_STRING) {
        const char *s = items[k];
        size_t n = strlen(s);
        if (n > lim->max_string_bytes)
          return zr_seterr(ZR_FRAME_EOVERSIZED, "%s.%s: string of %zu bytes, limit %zu", d->name, f->name,
                           n, lim->max_string_bytes);
        if (!utf8_valid((const unsigned char *)s, n))
          return zr_seterr(ZR_FRAME_EFIELD, "%s.%s: not valid UTF-8", d->name, f->name);
      } else {
        int rc = check_message(items[k], lim, depth + 1);
        if (rc) return rc;
      }
    }
  }
  return 0;
}

/* ---- stage 4: each body's own rules ------------------------------------------------------- */

static int check_rollout(const Zerorl__Rollout *r, const char *where) {
  if (!r) return zr_seterr(ZR_FRAME_EFIELD, "%s: rollout missing", where);
  if (!r->task_id[0]) return zr_seterr(ZR_FRAME_EFIELD, "%s: empty task_id", where);
  if (r->n_logprobs != r->n_completion_ids || r->n_token_versions != r->n_completion_ids)
    return zr_seterr(ZR_FRAME_EFIELD,
                     "%s task %s sample %u: %zu completion tokens but %zu logprobs and %zu versions", where,
                     r->task_id, r->sample_index, r->n_completion_ids, r->n_logprobs, r->n_token_versions);
  for (size_t i = 0; i < r->n_logprobs; i++)
    if (!isfinite(r->logprobs[i]) || r->logprobs[i] > 1e-3f)
      return zr_seterr(ZR_FRAME_EFIELD, "%s task %s sample %u: logprob %zu is %g (must be finite and <= 0)",
                       where, r->task_id, r->sample_index, i, (double)r->logprobs[i]);
  return 0;
}

static int check_body(const Zerorl__Envelope *e, const zr_bytes *bulk, size_t n_bulk) {
  switch (e->body_case) {
    case ZERORL__ENVELOPE__BODY_WORK_REQUEST:
      if (e->work_request->role != ZERORL__ROLE__ROLE_ACTOR && e->work_request->role != ZERORL__ROLE__ROLE_REWARD)
        return zr_seterr(ZR_FRAME_EFIELD, "WorkRequest: role %d is not actor or reward", (int)e->work_request->role);
      return 0;
    case ZERORL__ENVELOPE__BODY_WORK_GRANT:
      for (size_t i = 0; i < e->work_grant->n_tasks; i++) {
        const Zerorl__Task *t = e->work_grant->tasks[i];
        if (!t->task_id[0] || t->samples == 0)
          return zr_seterr(ZR_FRAME_EFIELD, "WorkGrant: task %zu has no id or zero samples", i);
        if (t->sampling && (!isfinite(t->sampling->temperature) || t->sampling->temperature < 0 ||
                            !isfinite(t->sampling->top_p) || t->sampling->top_p < 0 || t->sampling->top_p > 1))
          return zr_seterr(ZR_FRAME_EFIELD, "WorkGrant: task %s has bad sampling parameters", t->task_id);
      }
      return 0;
    case ZERORL__ENVELOPE__BODY_ROLLOUT:
      return check_rollout(e->rollout, "Rollout");
    case ZERORL__ENVELOPE__BODY_SCORE_REQUEST:
      return check_rollout(e->score_request->rollout, "ScoreRequest");
    case ZERORL__ENVELOPE__BODY_SCORED_ROLLOUT: {
      const Zerorl__ScoredRollout *s = e->scored_rollout;
      if (!isfinite(s->reward)) return zr_seterr(ZR_FRAME_EFIELD, "ScoredRollout %s: reward is not finite", s->task_id);
      for (size_t i = 0; i < s->n_components; i++)
        if (!isfinite(s->components[i]->value) || !isfinite(s->components[i]->weight))
          return zr_seterr(ZR_FRAME_EFIELD, "ScoredRollout %s: component %s is not finite", s->task_id,
                           s->components[i]->name);
      return 0;
    }
    case ZERORL__ENVELOPE__BODY_WEIGHT_VERSION: {
      const Zerorl__WeightVersion *w = e->weight_version;
      if (w->chunk_bytes == 0) return zr_seterr(ZR_FRAME_EFIELD, "WeightVersion %llu: chunk_bytes is 0", (unsigned long long)w->version);
      uint64_t chunks = w->total_bytes / w->chunk_bytes + (w->total_bytes % w->chunk_bytes != 0);
      if (w->n_chunk_checksums != chunks)
        return zr_seterr(ZR_FRAME_EFIELD, "WeightVersion %llu: %zu chunk checksums for %llu chunks",
                         (unsigned long long)w->version, w->n_chunk_checksums, (unsigned long long)chunks);
      for (size_t i = 0; i < w->n_tensors; i++) {
        const Zerorl__TensorInfo *t = w->tensors[i];
        if (t->offset > w->total_bytes || t->nbytes > w->total_bytes - t->offset)
          return zr_seterr(ZR_FRAME_EFIELD, "WeightVersion %llu: tensor %s lies outside the buffer",
                           (unsigned long long)w->version, t->name);
      }
      return 0;
    }
    case ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK: {
      const Zerorl__WeightChunk *c = e->weight_chunk;
      size_t want = c->error[0] ? 0 : 1;
      if (n_bulk != want)
        return zr_seterr(ZR_FRAME_EFIELD, "WeightChunk %u: %zu bulk frames, expected %zu", c->chunk_index, n_bulk, want);
      if (want && bulk[0].len != c->length)
        return zr_seterr(ZR_FRAME_EFIELD, "WeightChunk %u: header says %u bytes, frame has %zu", c->chunk_index,
                         c->length, bulk[0].len);
      return 0;
    }
    default:
      return 0;
  }
}

/* ---- the decoder -------------------------------------------------------------------------- */

static int decode(zr_frame_msg *msg, const zr_bytes *frames, size_t n, const char *expect_job,
                  const zr_frame_limits *lim) {
  if (n == 0 || frames[0].len == 0) return zr_seterr(ZR_FRAME_ETRUNCATED, "message has no envelope");
  if (frames[0].len > lim->max_envelope_bytes)
    return zr_seterr(ZR_FRAME_EOVERSIZED, "envelope of %zu bytes, limit %zu", frames[0].len, lim->max_envelope_bytes);
  size_t n_bulk = n - 1;
  uint32_t max_bulk = lim->max_bulk_frames < ZR_FRAME_MAX_BULK ? lim->max_bulk_frames : ZR_FRAME_MAX_BULK;
  if (n_bulk > max_bulk) return zr_seterr(ZR_FRAME_EOVERSIZED, "%zu bulk frames, limit %u", n_bulk, max_bulk);
  for (size_t i = 0; i < n_bulk; i++)
    if (frames[i + 1].len > lim->max_bulk_bytes)
      return zr_seterr(ZR_FRAME_EOVERSIZED, "bulk frame %zu of %zu bytes, limit %zu", i + 1, frames[i + 1].len,
                       lim->max_bulk_bytes);

  envelope_peek pk;
  int rc = peek_envelope(frames[0].data, frames[0].len, &pk);
  if (rc) return rc;
  if (pk.version != ZR_PROTOCOL_VERSION)
    return zr_seterr(ZR_FRAME_EVERSION, "protocol version %llu, expected %d", (unsigned long long)pk.version,
                     ZR_PROTOCOL_VERSION);
  if (expect_job && (!pk.have_job || pk.job_len != strlen(expect_job) || memcmp(pk.job, expect_job, pk.job_len) != 0))
    return zr_seterr(ZR_FRAME_EJOB, "message for job '%.*s', this is job '%s'", (int)(pk.job_len > 64 ? 64 : pk.job_len),
                     pk.have_job ? (const char *)pk.job : "", expect_job);

  alloc_budget budget = {0, lim->max_decoded_bytes, 0};
  ProtobufCAllocator alloc = {budget_alloc, plain_free, &budget};
  msg->env = zerorl__envelope__unpack(&alloc, frames[0].len, frames[0].data);
  if (!msg->env) {
    if (budget.exceeded)
      return zr_seterr(ZR_FRAME_EOVERSIZED, "decoding needs more than %zu bytes of memory", lim->max_decoded_bytes);
    return zr_seterr(ZR_FRAME_EGARBAGE, "frame 0 is not a valid Envelope (%zu bytes)", frames[0].len);
  }
  const Zerorl__Envelope *e = msg->env;
  rc = check_message(&e->base, lim, 0);
  if (rc) return rc;
  if (!e->sender_id[0]) return zr_seterr(ZR_FRAME_EFIELD, "envelope has no sender_id");
  Zerorl__MsgType body_type = zr_frame_type_of(e->body_case);
  if (body_type == ZERORL__MSG_TYPE__MSG_UNSPECIFIED)
    return zr_seterr(ZR_FRAME_ETYPE, "message type %d from %s has no body", (int)e->type, e->sender_id);
  if (e->type != body_type)
    return zr_seterr(ZR_FRAME_ETYPE, "message from %s says type %d but carries body %d", e->sender_id, (int)e->type,
                     (int)e->body_case);
  if (e->bulk_frames != n_bulk)
    return zr_seterr(ZR_FRAME_EFIELD, "message from %s announces %u bulk frames, %zu arrived", e->sender_id,
                     e->bulk_frames, n_bulk);
  for (size_t i = 0; i < n_bulk; i++) msg->bulk[i] = frames[i + 1];
  msg->n_bulk = n_bulk;
  return check_body(e, msg->bulk, n_bulk);
}

int zr_frame_decode(zr_frame_msg *msg, const zr_bytes *frames, size_t n, const char *expect_job,
                    const zr_frame_limits *lim) {
  memset(msg, 0, sizeof *msg);
  zr_frame_limits def;
  if (!lim) {
    def = zr_frame_limits_default();
    lim = &def;
  }
  int rc = decode(msg, frames, n, expect_job, lim);
  if (rc) zr_frame_msg_release(msg);
  return rc;
}

void zr_frame_msg_release(zr_frame_msg *msg) {
  if (msg->env) {
    ProtobufCAllocator alloc = {budget_alloc, plain_free, NULL};
    zerorl__envelope__free_unpacked(msg->env, &alloc);
  }
  memset(msg, 0, sizeof *msg);
}
