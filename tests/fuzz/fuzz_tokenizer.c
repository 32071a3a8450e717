/* libFuzzer target for model/tokenizer: encoding arbitrary bytes and decoding arbitrary ids with
 * the committed fixture tokenizers (tests/fixtures/tokenizers/, found through
 * $ZERORL_SOURCE_DIR or next to this file).
 *
 * Beyond "no crash, no leak, no sanitizer report" it checks:
 *   - bytes that are not valid UTF-8 are refused with -EILSEQ and leave the output untouched;
 *   - for valid UTF-8 x, with and without special-token parsing:
 *       qwen2-pairs (NFC normalizer): decode(encode(x)) == NFC(x)
 *       llama3 (no normalizer, ignore_merges): decode(encode(x)) == x
 *       gpt2 (prefix space, lstrip/rstrip/single_word tokens): encodes, every id is a token;
 *   - streaming decode, id by id, gives whole UTF-8 pieces whose concatenation equals the batch
 *     decode, for the ids above and for the input read as a sequence of random ids (including
 *     negative ids and ids past the vocabulary, which name no token and are skipped). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "common/error.h"
#include "model/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static zr_tok *toks[3]; /* qwen2-pairs, llama3, gpt2 */
static zr_tok_encoder *encs[3];

static void setup(void) {
  static const char *names[3] = {"qwen2-pairs", "llama3", "gpt2"};
  char base[4096];
  const char *src = getenv("ZERORL_SOURCE_DIR");
  if (src) {
    snprintf(base, sizeof base, "%s/tests/fixtures/tokenizers", src);
  } else {
    snprintf(base, sizeof base, "%s", __FILE__);
    char *slash = strrchr(base, '/');
    if (slash) *slash = '\0';
    strncat(base, "/../fixtures/tokenizers", sizeof base - strlen(base) - 1);
  }
  for (int i = 0; i < 3; i++) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", base, names[i]);
    if (zr_tok_load(&toks[i], path) || zr_tok_encoder_new(&encs[i], toks[i])) {
      fprintf(stderr, "fuzz_tokenizer: %s (set ZERORL_SOURCE_DIR to the checkout)\n", zr_errmsg());
      abort();
    }
  }
}

static int valid_utf8(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t need = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!need || i + need > n) return 0;
    for (size_t k = 1; k < need; k++)
      if ((s[i + k] & 0xC0) != 0x80) return 0;
    if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F) || (c == 0xF0 && s[i + 1] < 0x90) ||
        (c == 0xF4 && s[i + 1] > 0x8F))
      return 0;
    i += need;
  }
  return 1;
}

/* Streams ids and checks the pieces against the batch decode. */
static void check_stream(const zr_tok *tok, const int32_t *ids, size_t n, int skip) {
  zr_tok_text batch = {0}, piece = {0};
  if (zr_tok_decode(tok, ids, n, skip, &batch)) abort();
  if (!valid_utf8((const uint8_t *)batch.s, batch.len)) abort();
  zr_tok_stream s;
  zr_tok_stream_init(&s, tok, skip);
  size_t at = 0;
  for (size_t i = 0; i <= n; i++) {
    piece.len = 0;
    if (i < n ? zr_tok_stream_put(&s, ids[i], &piece) : zr_tok_stream_finish(&s, &piece)) abort();
    if (!valid_utf8((const uint8_t *)piece.s, piece.len)) abort(); /* never half a character */
    if (at + piece.len > batch.len || (piece.len && memcmp(batch.s + at, piece.s, piece.len) != 0)) abort();
    at += piece.len;
  }
  if (at != batch.len) abort();
  zr_tok_stream_release(&s);
  zr_tok_text_release(&batch);
  zr_tok_text_release(&piece);
}

static void check_encode(int which, const uint8_t *data, size_t size, int valid, const char *nfc, size_t nfc_len) {
  zr_tok *tok = toks[which];
  static const unsigned modes[2] = {ZR_TOK_PARSE_SPECIAL, 0};
  for (int m = 0; m < 2; m++) {
    zr_tok_ids ids = {0};
    int32_t sentinel = 7;
    ids.ids = malloc(sizeof *ids.ids);
    ids.ids[0] = sentinel;
    ids.n = ids.cap = 1;
    int rc = zr_tok_encode(encs[which], (const char *)data, size, modes[m], &ids);
    if (!valid) {
      if (rc != -EILSEQ || ids.n != 1 || ids.ids[0] != sentinel) abort();
      zr_tok_ids_release(&ids);
      return;
    }
    if (rc != 0 || ids.ids[0] != sentinel) abort();
    for (size_t i = 1; i < ids.n; i++)
      if (!zr_tok_id_to_token(tok, ids.ids[i], NULL)) abort();
    zr_tok_text text = {0};
    if (zr_tok_decode(tok, ids.ids + 1, ids.n - 1, 0, &text)) abort();
    /* qwen2-pairs' added token "café" decodes as "caf\ufffd" in HF too (its characters are all
     * in the ByteLevel alphabet, so é becomes the byte 0xE9): no round trip through it */
    if (which == 0 && !memmem(nfc, nfc_len, "caf\xc3\xa9", 5) &&
        (text.len != nfc_len || memcmp(text.s, nfc, nfc_len) != 0))
      abort();
    if (which == 1 && (text.len != size || memcmp(text.s, data, size) != 0)) abort();
    zr_tok_text_release(&text);
    check_stream(tok, ids.ids + 1, ids.n - 1, m);
    zr_tok_ids_release(&ids);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!toks[0]) setup();
  int valid = valid_utf8(data, size);
  utf8proc_uint8_t *nfc = NULL;
  utf8proc_ssize_t nfc_len = 0;
  if (valid) {
    nfc_len = utf8proc_map(data, (utf8proc_ssize_t)size, &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (nfc_len < 0) abort();
  }
  for (int i = 0; i < 3; i++) check_encode(i, data, size, valid, (const char *)nfc, (size_t)nfc_len);
  free(nfc);

  /* the bytes as random ids: pairs of bytes, spread over the vocabulary and a little past it */
  size_t n = size / 2;
  int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
  for (int t = 0; t < 3; t++) {
    int32_t range = zr_tok_vocab_size(toks[t]) + 8;
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)(((uint32_t)data[2 * i] << 8 | data[2 * i + 1]) % (uint32_t)range) - 4;
    check_stream(toks[t], ids, n, 0);
    check_stream(toks[t], ids, n, 1);
  }
  free(ids);
  return 0;
}
