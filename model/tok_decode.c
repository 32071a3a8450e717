/* tok_decode.c: ids to text, whole sequences and streamed id by id.
 *
 * Hugging Face's ByteLevel decoder maps each token's characters back to bytes (a token with a
 * character outside the ByteLevel alphabet, such as an added token with a space, keeps its own
 * UTF-8 bytes), joins all bytes and converts them with String::from_utf8_lossy. zr_tok_entry
 * already holds each token's bytes, so decoding is concatenation plus the lossy conversion;
 * the stream runs the same conversion but holds back the start of an unfinished character. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/tok_internal.h"

static int keep(const zr_tok *tok, int32_t id, int skip_special) {
  if (id < 0 || id >= tok->n_entries) return 0;
  uint32_t f = tok->entries[id].flags;
  return (f & TOK_E_USED) && !(skip_special && (f & TOK_E_SPECIAL));
}

int zr_tok_decode(const zr_tok *tok, const int32_t *ids, size_t n, int skip_special, zr_tok_text *out) {
  size_t total = 0;
  for (size_t i = 0; i < n; i++)
    if (keep(tok, ids[i], skip_special)) total += tok->entries[ids[i]].bytes_len;
  size_t start = out->len;
  if (tok_text_append(out, NULL, total)) return -ENOMEM;
  char *p = out->s + start;
  for (size_t i = 0; i < n; i++) {
    if (!keep(tok, ids[i], skip_special)) continue;
    const zr_tok_entry *e = &tok->entries[ids[i]];
    memcpy(p, tok->arena.p + e->bytes_off, e->bytes_len);
    p += e->bytes_len;
  }
  if (tok_utf8_valid_prefix(out->s + start, total) == total) return 0;
  /* rare: invalid UTF-8; redo the appended bytes through the lossy conversion */
  char *raw = malloc(total ? total : 1);
  if (!raw) return zr_seterr(-ENOMEM, "tokenizer: out of memory (%zu bytes)", total);
  memcpy(raw, out->s + start, total);
  out->len = start;
  out->s[start] = '\0';
  long rc = tok_utf8_lossy((const unsigned char *)raw, total, 1, out);
  free(raw);
  return rc < 0 ? zr_seterr(-ENOMEM, "tokenizer: out of memory") : 0;
}

void zr_tok_stream_init(zr_tok_stream *s, const zr_tok *tok, int skip_special) {
  memset(s, 0, sizeof *s);
  s->tok = tok;
  s->skip_special = skip_special;
}

void zr_tok_stream_release(zr_tok_stream *s) { memset(s, 0, sizeof *s); }

int zr_tok_stream_put(zr_tok_stream *s, int32_t id, zr_tok_text *out) {
  const zr_tok *tok = s->tok;
  if (!keep(tok, id, s->skip_special)) return 0;
  const unsigned char *b = (const unsigned char *)tok_bytes(tok, id);
  size_t len = tok->entries[id].bytes_len;
  if (s->npending) {
    /* finish (or give up on) the pending character with at most 3 more bytes */
    unsigned char tmp[8];
    size_t take = len < 3 ? len : 3, np = (size_t)s->npending;
    memcpy(tmp, s->pending, np);
    memcpy(tmp + np, b, take);
    long c = tok_utf8_lossy(tmp, np + take, 0, out);
    if (c < 0) return zr_seterr(-ENOMEM, "tokenizer: out of memory");
    if ((size_t)c < np) { /* still unfinished: then everything fitted in tmp */
      memcpy(s->pending, tmp, np + take);
      s->npending = (int)(np + take);
      return 0;
    }
    b += (size_t)c - np;
    len -= (size_t)c - np;
    s->npending = 0;
  }
  long c = tok_utf8_lossy(b, len, 0, out);
  if (c < 0) return zr_seterr(-ENOMEM, "tokenizer: out of memory");
  s->npending = (int)(len - (size_t)c);
  memcpy(s->pending, b + c, (size_t)s->npending);
  return 0;
}

int zr_tok_stream_finish(zr_tok_stream *s, zr_tok_text *out) {
  long c = tok_utf8_lossy(s->pending, (size_t)s->npending, 1, out);
  s->npending = 0;
  return c < 0 ? zr_seterr(-ENOMEM, "tokenizer: out of memory") : 0;
}
