/* tok_encode.c: text to ids, in Hugging Face's order of steps:
 *   1. split out added tokens whose normalized flag is false, on the raw text;
 *   2. normalize (NFC) each remaining piece, then split out the normalized added tokens;
 *   3. pre-tokenize each remaining piece: every Split stage cuts it into matches and the gaps
 *      between them (behaviour Isolated, empty pieces dropped), then ByteLevel prepends a space
 *      when add_prefix_space and splits with the GPT-2 regex when use_regex;
 *   4. BPE each piece (tok_bpe.c), on raw bytes;
 *   5. add the post-processor's tokens.
 * The encoder owns every buffer these steps use, so encoding allocates only when a buffer
 * has to grow. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/tok_internal.h"

#define TOK_CACHE_ENTRIES 32768

struct zr_tok_encoder {
  const zr_tok *tok;
  pcre2_match_data *md;
  tok_bpe bpe;
  tok_buf nfc;
  int32_t *cps;
  size_t cps_cap;
  tok_buf prefixed[TOK_MAX_STAGES]; /* a piece with the space ByteLevel prepends */
  zr_tok_ids *out;
  unsigned flags;
};

int zr_tok_encoder_new(zr_tok_encoder **out, const zr_tok *tok) {
  *out = NULL;
  zr_tok_encoder *e = calloc(1, sizeof *e);
  if (!e) return zr_seterr(-ENOMEM, "tokenizer: out of memory (encoder)");
  e->tok = tok;
  e->md = pcre2_match_data_create(tok->max_ovector ? tok->max_ovector : 1, NULL);
  int rc = e->md ? tok_bpe_init(&e->bpe, TOK_CACHE_ENTRIES) : zr_seterr(-ENOMEM, "tokenizer: out of memory");
  if (rc) {
    zr_tok_encoder_free(&e);
    return rc;
  }
  *out = e;
  return 0;
}

void zr_tok_encoder_free(zr_tok_encoder **enc) {
  zr_tok_encoder *e = *enc;
  if (!e) return;
  pcre2_match_data_free(e->md);
  tok_bpe_release(&e->bpe);
  tok_buf_release(&e->nfc);
  free(e->cps);
  for (int i = 0; i < TOK_MAX_STAGES; i++) tok_buf_release(&e->prefixed[i]);
  free(e);
  *enc = NULL;
}

/* ---- step 3: pre-tokenizer stages ----------------------------------------------------- */

static int pretok(zr_tok_encoder *e, int stage, const char *s, size_t len);

/* Finds the next match of re in s[0..len) at or after from; returns 1 and sets [*ms, *me). */
static int next_match(zr_tok_encoder *e, const tok_stage *st, const char *s, size_t len, size_t from, size_t *ms,
                      size_t *me) {
  int rc = st->jit ? pcre2_jit_match(st->re, (PCRE2_SPTR)s, len, from, PCRE2_NO_UTF_CHECK, e->md, NULL)
                   : pcre2_match(st->re, (PCRE2_SPTR)s, len, from, PCRE2_NO_UTF_CHECK, e->md, NULL);
  if (rc == PCRE2_ERROR_NOMATCH) return 0;
  if (rc < 0) {
    PCRE2_UCHAR msg[128];
    pcre2_get_error_message(rc, msg, sizeof msg);
    return zr_seterr(-EINVAL, "tokenizer: regex match failed: %s", (const char *)msg);
  }
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
  *ms = ov[0];
  *me = ov[1];
  return 1;
}

/* Split with behaviour Isolated: each match and each gap between matches is a piece. Empty
 * matches follow Oniguruma's find_iter (as used by HF): one right where the previous match
 * ended is skipped by advancing one character. */
static int split_stage(zr_tok_encoder *e, int stage, const tok_stage *st, const char *s, size_t len) {
  size_t prev = 0, from = 0;
  int have_last = 0;
  size_t last_end = 0;
  while (from <= len) {
    size_t ms = 0, me = 0;
    int rc = next_match(e, st, s, len, from, &ms, &me);
    if (rc < 0) return rc;
    if (rc == 0) break;
    if (ms == me && have_last && last_end == from) {
      if (from >= len) break;
      size_t w;
      (void)tok_utf8_next((const unsigned char *)s + from, &w);
      from += w;
      continue;
    }
    from = me;
    have_last = 1;
    last_end = me;
    if (prev < ms && (rc = pretok(e, stage + 1, s + prev, ms - prev))) return rc;
    if (ms < me && (rc = pretok(e, stage + 1, s + ms, me - ms))) return rc;
    prev = me;
  }
  if (prev < len) return pretok(e, stage + 1, s + prev, len - prev);
  return 0;
}

static int pretok(zr_tok_encoder *e, int stage, const char *s, size_t len) {
  const zr_tok *tok = e->tok;
  if (len == 0) return 0;
  if (stage == tok->n_stages) return tok_bpe_word(&e->bpe, tok, s, len, e->out);
  const tok_stage *st = &tok->stages[stage];
  if (st->add_prefix_space && s[0] != ' ') {
    tok_buf *b = &e->prefixed[stage];
    b->len = 0;
    int rc = tok_buf_reserve(b, len + 1);
    if (rc) return rc;
    b->p[0] = ' ';
    memcpy(b->p + 1, s, len);
    b->len = len + 1;
    s = b->p;
    len = b->len;
  }
  if (!st->re) return pretok(e, stage + 1, s, len);
  return split_stage(e, stage, st, s, len);
}

/* ---- steps 1 and 2: added tokens and the normalizer ----------------------------------- */

/* Finds the leftmost-longest added token in s[from..len). */
static const tok_added *find_added(const zr_tok *tok, const tok_matcher *m, const char *s, size_t len, size_t from,
                                   size_t *at) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = from; i < len; i++) {
    uint32_t c = m->count[u[i]];
    if (!c) continue;
    const tok_added *t = &m->tokens[m->first[u[i]]];
    for (uint32_t k = 0; k < c; k++, t++) {
      if (t->len <= len - i && memcmp(s + i, tok->arena.p + t->off, t->len) == 0) {
        *at = i;
        return t;
      }
    }
  }
  return NULL;
}

static int word_before(const char *s, size_t at) {
  if (at == 0) return 0;
  size_t p = tok_utf8_prev(s, at), w;
  return tok_is_word_char(tok_utf8_next((const unsigned char *)s + p, &w));
}

static int word_after(const char *s, size_t len, size_t at) {
  size_t w;
  return at < len && tok_is_word_char(tok_utf8_next((const unsigned char *)s + at, &w));
}

typedef int (*gap_fn)(zr_tok_encoder *e, const char *s, size_t len);

/* HF's AddedVocabulary::find_matches: emits gaps through gap() and added tokens as ids. */
static int split_added(zr_tok_encoder *e, const tok_matcher *m, const char *s, size_t len, gap_fn gap) {
  const zr_tok *tok = e->tok;
  size_t start_offset = 0, from = 0, ms;
  const tok_added *t;
  int rc;
  while (from < len && (t = find_added(tok, m, s, len, from, &ms))) {
    size_t start = ms, stop = ms + t->len;
    from = stop;
    if (t->special && !(e->flags & ZR_TOK_PARSE_SPECIAL)) continue;
    if (t->single_word && (word_before(s, start) || word_after(s, len, stop))) continue;
    if (t->lstrip) {
      size_t ns = start, w;
      while (ns > 0) {
        size_t p = tok_utf8_prev(s, ns);
        if (!tok_is_white_space(tok_utf8_next((const unsigned char *)s + p, &w))) break;
        ns = p;
      }
      start = ns > start_offset ? ns : start_offset;
    }
    if (t->rstrip) {
      size_t w;
      while (stop < len && tok_is_white_space(tok_utf8_next((const unsigned char *)s + stop, &w))) stop += w;
    }
    if (start_offset < start && (rc = gap(e, s + start_offset, start - start_offset))) return rc;
    if ((rc = tok_ids_reserve(e->out, 1))) return rc;
    e->out->ids[e->out->n++] = t->id;
    start_offset = stop;
  }
  if (start_offset < len) return gap(e, s + start_offset, len - start_offset);
  return 0;
}

static int gap_pretok(zr_tok_encoder *e, const char *s, size_t len) { return pretok(e, 0, s, len); }

static int gap_normalize(zr_tok_encoder *e, const char *s, size_t len) {
  const zr_tok *tok = e->tok;
  if (tok->nfc && !tok_nfc_trivially(s, len)) {
    int rc = tok_nfc(s, len, &e->nfc, &e->cps, &e->cps_cap);
    if (rc) return rc;
    s = e->nfc.p;
    len = e->nfc.len;
  }
  if (tok->norm_added.n) return split_added(e, &tok->norm_added, s, len, gap_pretok);
  return pretok(e, 0, s, len);
}

/* ---- the whole pipeline --------------------------------------------------------------- */

static int append_ids(zr_tok_ids *out, const int32_t *ids, size_t n) {
  int rc = tok_ids_reserve(out, n);
  if (rc) return rc;
  if (n) memcpy(out->ids + out->n, ids, n * sizeof *ids);
  out->n += n;
  return 0;
}

int zr_tok_encode(zr_tok_encoder *e, const char *text, size_t len, unsigned flags, zr_tok_ids *out) {
  const zr_tok *tok = e->tok;
  size_t bad = tok_utf8_valid_prefix(text, len);
  if (bad != len) return zr_seterr(-EILSEQ, "tokenizer: text is not valid UTF-8 at byte %zu", bad);
  size_t n0 = out->n;
  e->out = out;
  e->flags = flags;
  int rc = 0;
  if (flags & ZR_TOK_ADD_SPECIAL) rc = append_ids(out, tok->prefix_ids, tok->n_prefix);
  if (!rc) {
    if (tok->raw_added.n) rc = split_added(e, &tok->raw_added, text, len, gap_normalize);
    else if (len) rc = gap_normalize(e, text, len);
  }
  if (!rc && (flags & ZR_TOK_ADD_SPECIAL)) rc = append_ids(out, tok->suffix_ids, tok->n_suffix);
  e->out = NULL;
  if (rc) out->n = n0;
  return rc;
}
