/* libFuzzer target for the tokenizer.json loader (model/tok_load*.c): arbitrary bytes as
 * tokenizer.json. Seeds: tests/fuzz/seeds/tokenizer_json/ (small tokenizers written by
 * tests/reference/make_tokenizer_fixtures.py), so mutations reach every section.
 *
 * A file that is refused must leave no tokenizer and a message; one that loads (possibly with
 * odd regexes, added tokens, merges or ids) must encode the input itself and a few fixed
 * strings without crashing, give only token ids, and decode (batch and streamed) identically. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "model/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const zr_tok *tok, const char *text, size_t len) {
  zr_tok_encoder *enc = NULL;
  if (zr_tok_encoder_new(&enc, tok)) abort();
  static const unsigned modes[3] = {ZR_TOK_ENCODE_DEFAULT, ZR_TOK_PARSE_SPECIAL, 0};
  for (int m = 0; m < 3; m++) {
    zr_tok_ids ids = {0};
    int rc = zr_tok_encode(enc, text, len, modes[m], &ids);
    if (rc == -EILSEQ) {
      if (ids.n) abort();
      break;
    }
    if (rc) { /* a pathological pattern may hit PCRE2's match or JIT stack limit: an error */
      if (!strstr(zr_errmsg(), "regex match failed") || ids.n) abort();
      break;
    }
    for (size_t i = 0; i < ids.n; i++)
      if (!zr_tok_id_to_token(tok, ids.ids[i], NULL)) abort();
    zr_tok_text batch = {0}, streamed = {0};
    if (zr_tok_decode(tok, ids.ids, ids.n, m == 2, &batch)) abort();
    zr_tok_stream s;
    zr_tok_stream_init(&s, tok, m == 2);
    for (size_t i = 0; i < ids.n; i++)
      if (zr_tok_stream_put(&s, ids.ids[i], &streamed)) abort();
    if (zr_tok_stream_finish(&s, &streamed)) abort();
    if (batch.len != streamed.len || (batch.len && memcmp(batch.s, streamed.s, batch.len) != 0)) abort();
    zr_tok_text_release(&batch);
    zr_tok_text_release(&streamed);
    zr_tok_ids_release(&ids);
  }
  zr_tok_encoder_free(&enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int quiet;
  if (!quiet) {
    zr_log_set_level(ZR_LOG_OFF); /* added-token id warnings */
    quiet = 1;
  }
  zr_tok *tok = NULL;
  zr_clearerr();
  int rc = zr_tok_parse(&tok, (const char *)data, size, NULL, 0, "fuzz.json");
  if (rc) {
    if (tok || zr_errmsg()[0] == '\0') abort();
    return 0;
  }
  static const char *texts[] = {"Hello, world! I'm here 123 ", "  \n\t x\u00a0y \xe4\xbd\xa0\xe5\xa5\xbd e\xcc\x81 ",
                                "<|endoftext|><|im_start|>user\n", "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd 'S 'll"};
  for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) exercise(tok, texts[i], strlen(texts[i]));
  exercise(tok, (const char *)data, size < 512 ? size : 512);
  const int32_t *ids;
  size_t n = zr_tok_special_ids(tok, &ids);
  for (size_t i = 0; i < n; i++)
    if (!zr_tok_is_special(tok, ids[i])) abort();
  zr_tok_free(&tok);
  return 0;
}
