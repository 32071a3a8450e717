/* Unit test of model/tokenizer against Hugging Face `tokenizers` outputs.
 *
 * Always runs (fixtures committed under tests/fixtures/tokenizers/, made by
 * tests/reference/make_tokenizer_fixtures.py):
 *   - llama3/, gpt2/, qwen2-pairs/: every golden line encoded with HF's defaults, without the
 *     post-processor, and with special tokens split as text; decoded with and without
 *     skip_special_tokens; streamed id by id (each piece whole UTF-8, pieces joined == decode);
 *     random id sequences (fragments of characters, specials, ids past the vocabulary) decoded
 *     batch and streamed against HF's decode, U+FFFD included;
 *   - round trips decode(encode(text)) == text (llama3: no normalizer, no prefix space);
 *   - qwen2-pairs with Split(pattern) pre-tokenizers probing regex edge cases;
 *   - the vocabulary API, tokenizer_config / generation_config ids;
 *   - errors: unsupported or broken tokenizer.json variants name the JSON path; invalid UTF-8.
 * With $ZERORL_SHARED_DATA/tokenizers/qwen3 present (skipped with a message otherwise): the
 * real Qwen3 tokenizer on golden.jsonl, golden-gsm8k-test.jsonl and the qwen3/ fixtures. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "model/tokenizer.h"
#include "tests/test.h"

static char fixtures[4096];

static int valid_utf8(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    unsigned c = u[i];
    size_t need = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!need || i + need > n) return 0;
    for (size_t k = 1; k < need; k++)
      if ((u[i + k] & 0xC0) != 0x80) return 0;
    if ((c == 0xE0 && u[i + 1] < 0xA0) || (c == 0xED && u[i + 1] > 0x9F) || (c == 0xF0 && u[i + 1] < 0x90) ||
        (c == 0xF4 && u[i + 1] > 0x8F))
      return 0;
    i += need;
  }
  return 1;
}

static size_t json_ids(const json_t *arr, int32_t **out) {
  size_t n = json_array_size(arr);
  *out = malloc((n + 1) * sizeof **out);
  for (size_t i = 0; i < n; i++) (*out)[i] = (int32_t)json_integer_value(json_array_get(arr, i));
  return n;
}

static int same_ids(const zr_tok_ids *got, const json_t *want) {
  if (got->n != json_array_size(want)) return 0;
  for (size_t i = 0; i < got->n; i++)
    if (got->ids[i] != json_integer_value(json_array_get(want, i))) return 0;
  return 1;
}

static int same_text(const zr_tok_text *got, const json_t *want) {
  return got->len == json_string_length(want) && memcmp(got->s, json_string_value(want), got->len) == 0;
}

/* Streams ids one by one; checks every piece is whole UTF-8; returns 1 if the joined text is
 * want. */
static int stream_matches(const zr_tok *tok, const int32_t *ids, size_t n, int skip, const json_t *want) {
  zr_tok_stream s;
  zr_tok_stream_init(&s, tok, skip);
  zr_tok_text piece = {0};
  char *all = NULL;
  size_t alen = 0;
  int ok = 1;
  for (size_t i = 0; i <= n; i++) {
    piece.len = 0;
    int rc = i < n ? zr_tok_stream_put(&s, ids[i], &piece) : zr_tok_stream_finish(&s, &piece);
    if (rc || !valid_utf8(piece.s, piece.len)) ok = 0;
    if (piece.len) {
      all = realloc(all, alen + piece.len);
      memcpy(all + alen, piece.s, piece.len);
      alen += piece.len;
    }
  }
  ok = ok && alen == json_string_length(want) && (alen == 0 || memcmp(all, json_string_value(want), alen) == 0);
  free(all);
  zr_tok_text_release(&piece);
  zr_tok_stream_release(&s);
  return ok;
}

static void show_mismatch(const char *file, int line, const char *what, const zr_tok_ids *got, const json_t *want) {
  fprintf(stderr, "  %s line %d: %s differ\n    zerorl:", file, line, what);
  for (size_t i = 0; i < got->n && i < 40; i++) fprintf(stderr, " %d", got->ids[i]);
  fprintf(stderr, "\n    HF:    ");
  for (size_t i = 0; i < json_array_size(want) && i < 40; i++)
    fprintf(stderr, " %lld", (long long)json_integer_value(json_array_get(want, i)));
  fprintf(stderr, "\n");
}

typedef struct {
  int lines, enc_bad, dec_bad, stream_bad, roundtrip_bad;
} tally;

/* One golden.jsonl: fields present decide what is checked. roundtrip: decode(encode(text,
 * PARSE_SPECIAL)) must equal text. */
static void run_golden(const zr_tok *tok, const char *path, int roundtrip, tally *t) {
  FILE *f = fopen(path, "r");
  CHECK(f != NULL);
  if (!f) return;
  zr_tok_encoder *enc = NULL;
  CHECK_INT(zr_tok_encoder_new(&enc, tok), 0);
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int ln = 0;
  zr_tok_ids ids = {0};
  zr_tok_text txt = {0};
  while ((n = getline(&line, &cap, f)) > 0) {
    ln++;
    json_error_t e;
    json_t *j = json_loadb(line, (size_t)n, JSON_ALLOW_NUL, &e);
    CHECK(j != NULL);
    if (!j) continue;
    t->lines++;
    const json_t *text = json_object_get(j, "text");
    static const struct {
      const char *key;
      unsigned flags;
    } modes[] = {{"ids", ZR_TOK_ENCODE_DEFAULT}, {"ids_no_add", ZR_TOK_PARSE_SPECIAL}, {"ids_split_special", ZR_TOK_ADD_SPECIAL}};
    for (size_t m = 0; m < 3 && text; m++) {
      const json_t *want = json_object_get(j, modes[m].key);
      if (!want) continue;
      ids.n = 0;
      int rc = zr_tok_encode(enc, json_string_value(text), json_string_length(text), modes[m].flags, &ids);
      if (rc || !same_ids(&ids, want)) {
        if (t->enc_bad++ < 5) show_mismatch(path, ln, modes[m].key, &ids, want);
      }
    }
    int32_t *gold;
    size_t ng = json_ids(json_object_get(j, "ids"), &gold);
    for (int skip = 0; skip < 2; skip++) {
      const json_t *want = json_object_get(j, skip ? "decoded_skip" : "decoded");
      if (!want) continue;
      txt.len = 0;
      if (zr_tok_decode(tok, gold, ng, skip, &txt) || !same_text(&txt, want)) {
        if (t->dec_bad++ < 5) fprintf(stderr, "  %s line %d: decode (skip=%d) differs: '%s'\n", path, ln, skip, txt.s);
      }
      if (!stream_matches(tok, gold, ng, skip, want)) {
        if (t->stream_bad++ < 5) fprintf(stderr, "  %s line %d: streamed decode (skip=%d) differs\n", path, ln, skip);
      }
    }
    if (roundtrip && text) {
      ids.n = 0;
      txt.len = 0;
      if (zr_tok_encode(enc, json_string_value(text), json_string_length(text), ZR_TOK_PARSE_SPECIAL, &ids) ||
          zr_tok_decode(tok, ids.ids, ids.n, 0, &txt) || !same_text(&txt, text))
        t->roundtrip_bad++;
    }
    free(gold);
    json_decref(j);
  }
  free(line);
  fclose(f);
  zr_tok_ids_release(&ids);
  zr_tok_text_release(&txt);
  zr_tok_encoder_free(&enc);
  CHECK(enc == NULL);
}

static void check_tally(const char *what, const tally *t, int min_lines) {
  fprintf(stderr, "%s: %d lines, %d encode / %d decode / %d stream / %d round-trip mismatches\n", what, t->lines,
          t->enc_bad, t->dec_bad, t->stream_bad, t->roundtrip_bad);
  CHECK(t->lines >= min_lines);
  CHECK_INT(t->enc_bad, 0);
  CHECK_INT(t->dec_bad, 0);
  CHECK_INT(t->stream_bad, 0);
  CHECK_INT(t->roundtrip_bad, 0);
}

static zr_tok *load_fixture(const char *name) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", fixtures, name);
  zr_tok *tok = NULL;
  int rc = zr_tok_load(&tok, path);
  if (rc) fprintf(stderr, "load %s: %s\n", path, zr_errmsg());
  CHECK_INT(rc, 0);
  return tok;
}

static void test_fixture(const char *name, int roundtrip) {
  zr_tok *tok = load_fixture(name);
  if (!tok) return;
  char path[4300], what[128];
  tally t = {0};
  snprintf(path, sizeof path, "%s/%s/golden.jsonl", fixtures, name);
  run_golden(tok, path, roundtrip, &t);
  snprintf(what, sizeof what, "%s/golden.jsonl", name);
  check_tally(what, &t, 600);
  tally r = {0};
  snprintf(path, sizeof path, "%s/%s/decode_random.jsonl", fixtures, name);
  run_golden(tok, path, 0, &r);
  snprintf(what, sizeof what, "%s/decode_random.jsonl", name);
  check_tally(what, &r, 200);
  zr_tok_free(&tok);
  CHECK(tok == NULL);
}

/* ---- vocabulary API ------------------------------------------------------------------- */

static void test_vocab(void) {
  zr_tok *tok = load_fixture("qwen2-pairs");
  if (!tok) return;
  /* the fixture's added tokens: <|endoftext|> 2260 ... café 2265, Ωmega 2266 */
  CHECK_INT(zr_tok_vocab_size(tok), 2267);
  CHECK_INT(zr_tok_token_to_id(tok, "<|im_end|>", 10), 2262);
  CHECK_INT(zr_tok_token_to_id(tok, "<think>", 7), 2263);
  CHECK_INT(zr_tok_token_to_id(tok, "no such token", 13), -1);
  size_t len = 0;
  CHECK_STR(zr_tok_id_to_token(tok, 2261, &len), "<|im_start|>");
  CHECK_INT(len, 12);
  CHECK(zr_tok_id_to_token(tok, 2267, NULL) == NULL);
  CHECK(zr_tok_id_to_token(tok, -1, NULL) == NULL);
  int32_t sp = zr_tok_token_to_id(tok, "\xc4\xa0", 2); /* "Ġ" */
  CHECK(sp >= 0);
  const char *b = zr_tok_id_to_bytes(tok, sp, &len);
  CHECK(b && len == 1 && b[0] == ' ');
  CHECK(zr_tok_is_special(tok, 2262));
  CHECK(!zr_tok_is_special(tok, 2263)); /* <think> is added but not special */
  CHECK(!zr_tok_is_special(tok, sp));
  const int32_t *ids;
  size_t n = zr_tok_special_ids(tok, &ids);
  CHECK_INT(n, 3);
  if (n == 3) {
    CHECK_INT(ids[0], 2260);
    CHECK_INT(ids[2], 2262);
  }
  CHECK_INT(zr_tok_bos_id(tok), -1);
  CHECK_INT(zr_tok_eos_id(tok), 2262);
  CHECK_INT(zr_tok_pad_id(tok), 2260);
  n = zr_tok_eos_ids(tok, &ids);
  CHECK_INT(n, 1);
  zr_tok_free(&tok);

  tok = load_fixture("llama3");
  if (!tok) return;
  int32_t bot = zr_tok_token_to_id(tok, "<|begin_of_text|>", 17), eot = zr_tok_token_to_id(tok, "<|eot_id|>", 10);
  int32_t eoft = zr_tok_token_to_id(tok, "<|end_of_text|>", 15);
  CHECK(bot >= 0 && eot >= 0 && eoft >= 0);
  CHECK_INT(zr_tok_bos_id(tok), bot);
  CHECK_INT(zr_tok_eos_id(tok), eot);
  n = zr_tok_eos_ids(tok, &ids); /* eos_token first, then generation_config's [end_of_text, eot] */
  CHECK_INT(n, 2);
  if (n == 2) {
    CHECK_INT(ids[0], eot);
    CHECK_INT(ids[1], eoft);
  }
  zr_tok_free(&tok);
}

/* ---- errors --------------------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  *len = fread(buf, 1, (size_t)n, f);
  buf[*len] = '\0';
  fclose(f);
  return buf;
}

/* Applies a JSON edit to the llama3 fixture and expects loading to fail naming `needle`. */
typedef void (*edit_fn)(json_t *root);

static void expect_refused(json_t *base, edit_fn edit, const char *needle) {
  json_t *root = json_deep_copy(base);
  edit(root);
  char *text = json_dumps(root, JSON_COMPACT);
  zr_tok *tok = NULL;
  int rc = zr_tok_parse(&tok, text, strlen(text), NULL, 0, "tokenizer.json");
  CHECK_INT(rc, -EINVAL);
  CHECK(tok == NULL);
  CHECK_CONTAINS(zr_errmsg(), needle);
  zr_tok_free(&tok);
  free(text);
  json_decref(root);
}

static json_t *pretok_item(json_t *r, size_t i) {
  return json_array_get(json_object_get(json_object_get(r, "pre_tokenizer"), "pretokenizers"), i);
}
static void e_unigram(json_t *r) { json_object_set_new(json_object_get(r, "model"), "type", json_string("Unigram")); }
static void e_lowercase(json_t *r) { json_object_set_new(r, "normalizer", json_pack("{s:s}", "type", "Lowercase")); }
static void e_seq_norm(json_t *r) {
  json_object_set_new(r, "normalizer", json_pack("{s:s,s:[{s:s},{s:s}]}", "type", "Sequence", "normalizers", "type",
                                                 "NFC", "type", "NFKC"));
}
static void e_metaspace(json_t *r) { json_object_set_new(r, "pre_tokenizer", json_pack("{s:s}", "type", "Metaspace")); }
static void e_removed(json_t *r) { json_object_set_new(pretok_item(r, 0), "behavior", json_string("Removed")); }
static void e_invert(json_t *r) { json_object_set_new(pretok_item(r, 0), "invert", json_true()); }
static void e_bad_regex(json_t *r) {
  json_object_set_new(pretok_item(r, 0), "pattern", json_pack("{s:s}", "Regex", "(unclosed"));
}
static void e_no_bytelevel(json_t *r) { json_array_remove(json_object_get(json_object_get(r, "pre_tokenizer"), "pretokenizers"), 1); }
static void e_wordpiece(json_t *r) { json_object_set_new(r, "decoder", json_pack("{s:s}", "type", "WordPiece")); }
static void e_no_decoder(json_t *r) { json_object_set_new(r, "decoder", json_null()); }
static void e_bert(json_t *r) { json_object_set_new(r, "post_processor", json_pack("{s:s}", "type", "BertProcessing")); }
static void e_truncation(json_t *r) { json_object_set_new(r, "truncation", json_pack("{s:i}", "max_length", 10)); }
static void e_merge_oov(json_t *r) {
  json_array_set_new(json_object_get(json_object_get(r, "model"), "merges"), 3, json_string("zz qq"));
}
static void e_merge_form(json_t *r) {
  json_array_set_new(json_object_get(json_object_get(r, "model"), "merges"), 0, json_string("abc"));
}
static void e_vocab_id(json_t *r) {
  json_object_set_new(json_object_get(json_object_get(r, "model"), "vocab"), "x", json_integer(99999999));
}
static void e_vocab_dup(json_t *r) {
  json_object_set_new(json_object_get(json_object_get(r, "model"), "vocab"), "\xc4\xa0zzz", json_integer(5));
}
static void e_byte_fallback(json_t *r) { json_object_set_new(json_object_get(r, "model"), "byte_fallback", json_true()); }
static void e_dropout(json_t *r) { json_object_set_new(json_object_get(r, "model"), "dropout", json_real(0.1)); }
static void e_prefix(json_t *r) {
  json_object_set_new(json_object_get(r, "model"), "continuing_subword_prefix", json_string("##"));
}
static void e_unk(json_t *r) { json_object_set_new(json_object_get(r, "model"), "unk_token", json_string("<unk>")); }
static void e_added(json_t *r) { json_array_set_new(json_object_get(r, "added_tokens"), 0, json_string("x")); }
static void e_no_model(json_t *r) { json_object_del(r, "model"); }

static void test_errors(void) {
  char path[4300];
  size_t len;
  snprintf(path, sizeof path, "%s/llama3/tokenizer.json", fixtures);
  char *text = read_file(path, &len);
  CHECK(text != NULL);
  if (!text) return;
  json_error_t e;
  json_t *base = json_loadb(text, len, 0, &e);
  CHECK(base != NULL);

  /* the unedited file loads */
  zr_tok *tok = NULL;
  CHECK_INT(zr_tok_parse(&tok, text, len, NULL, 0, "tokenizer.json"), 0);
  zr_tok_free(&tok);

  expect_refused(base, e_unigram, "tokenizer.json: model.type: Unigram is not supported");
  expect_refused(base, e_lowercase, "normalizer.type: Lowercase is not supported");
  expect_refused(base, e_seq_norm, "normalizer.normalizers[1].type: NFKC is not supported");
  expect_refused(base, e_metaspace, "pre_tokenizer.type: Metaspace is not supported");
  expect_refused(base, e_removed, "pre_tokenizer.pretokenizers[0].behavior: Removed is not supported");
  expect_refused(base, e_invert, "pre_tokenizer.pretokenizers[0].invert: true is not supported");
  expect_refused(base, e_bad_regex, "pre_tokenizer.pretokenizers[0].pattern: cannot compile the regex '(unclosed'");
  expect_refused(base, e_no_bytelevel, "pre_tokenizer: no ByteLevel pre-tokenizer");
  expect_refused(base, e_wordpiece, "decoder.type: WordPiece is not supported");
  expect_refused(base, e_no_decoder, "decoder: null is not supported");
  expect_refused(base, e_bert, "post_processor.type: BertProcessing is not supported");
  expect_refused(base, e_truncation, "truncation: truncation settings are not supported");
  expect_refused(base, e_merge_oov, "model.merges[3]: 'zz' is not in model.vocab");
  expect_refused(base, e_merge_form, "model.merges[0]: 'abc' is not two tokens separated by one space");
  expect_refused(base, e_vocab_id, "model.vocab: id 99999999 is out of range");
  expect_refused(base, e_vocab_dup, "id 5 is also");
  expect_refused(base, e_byte_fallback, "model.byte_fallback: true is not supported");
  expect_refused(base, e_dropout, "model.dropout: BPE dropout is not supported");
  expect_refused(base, e_prefix, "model.continuing_subword_prefix: ## is not supported");
  expect_refused(base, e_unk, "model.unk_token: '<unk>' is not in model.vocab");
  expect_refused(base, e_added, "added_tokens[0]: expected an object");
  expect_refused(base, e_no_model, "model: missing or not an object");

  /* not JSON: file, line and column */
  CHECK_INT(zr_tok_parse(&tok, "{\"model\": ", 10, NULL, 0, "bad.json"), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "bad.json:1:");
  /* a config naming an unknown token */
  const char *cfg = "{\"eos_token\": \"<|nope|>\"}";
  CHECK_INT(zr_tok_parse(&tok, text, len, cfg, strlen(cfg), "tokenizer.json"), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "eos_token: '<|nope|>' is not a token");
  /* config eos as an AddedToken object is accepted */
  cfg = "{\"eos_token\": {\"content\": \"<|eot_id|>\", \"lstrip\": false}, \"add_bos_token\": true}";
  CHECK_INT(zr_tok_parse(&tok, text, len, cfg, strlen(cfg), "tokenizer.json"), 0);
  if (tok) CHECK_INT(zr_tok_eos_id(tok), zr_tok_token_to_id(tok, "<|eot_id|>", 10));
  zr_tok_free(&tok);
  /* missing files */
  CHECK_INT(zr_tok_load(&tok, "/nonexistent/tokenizer.json"), -ENOENT);
  CHECK_CONTAINS(zr_errmsg(), "/nonexistent/tokenizer.json");
  CHECK_INT(zr_tok_load(&tok, "/"), -ENOENT);
  CHECK_CONTAINS(zr_errmsg(), "no tokenizer.json");

  json_decref(base);
  free(text);
}

static void test_invalid_utf8(void) {
  zr_tok *tok = load_fixture("gpt2");
  if (!tok) return;
  zr_tok_encoder *enc = NULL;
  CHECK_INT(zr_tok_encoder_new(&enc, tok), 0);
  zr_tok_ids ids = {0};
  CHECK_INT(zr_tok_encode(enc, "ok", 2, ZR_TOK_ENCODE_DEFAULT, &ids), 0);
  size_t before = ids.n;
  CHECK(before > 0);
  static const char *bad[] = {"ab\xff", "\xc3", "\xe2\x82", "\xed\xa0\x80", "\xc0\xaf", "x\xf4\x90\x80\x80"};
  static const int at[] = {2, 0, 0, 0, 0, 1};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    CHECK_INT(zr_tok_encode(enc, bad[i], strlen(bad[i]), ZR_TOK_ENCODE_DEFAULT, &ids), -EILSEQ);
    char want[64];
    snprintf(want, sizeof want, "not valid UTF-8 at byte %d", at[i]);
    CHECK_CONTAINS(zr_errmsg(), want);
    CHECK_INT(ids.n, before); /* out unchanged */
  }
  /* NUL is an ordinary character */
  ids.n = 0;
  CHECK_INT(zr_tok_encode(enc, "a\0b", 3, ZR_TOK_PARSE_SPECIAL, &ids), 0);
  zr_tok_text txt = {0};
  CHECK_INT(zr_tok_decode(tok, ids.ids, ids.n, 0, &txt), 0);
  CHECK(txt.len == 4 && memcmp(txt.s, " a\0b", 4) == 0); /* GPT-2 style adds a prefix space */
  zr_tok_text_release(&txt);
  zr_tok_ids_release(&ids);
  zr_tok_encoder_free(&enc);
  zr_tok_free(&tok);
}

/* Decoding fragments by hand: the bytes of a 4-byte character split over tokens, a truncated
 * character before an ASCII token, and the stream never emitting a partial character. */
static void test_stream_fragments(void) {
  zr_tok *tok = load_fixture("llama3");
  if (!tok) return;
  /* ByteLevel characters of bytes F0 9F 99 82 (U+1F642) and 'A' */
  const char *f0 = "\xc3\xb0", *x9f = "\xc5\x81", *x99 = "\xc4\xbb", *x82 = "\xc4\xa4";
  int32_t id_f0 = zr_tok_token_to_id(tok, f0, 2), id_9f = zr_tok_token_to_id(tok, x9f, 2);
  int32_t id_99 = zr_tok_token_to_id(tok, x99, 2), id_82 = zr_tok_token_to_id(tok, x82, 2);
  int32_t id_a = zr_tok_token_to_id(tok, "A", 1);
  CHECK(id_f0 >= 0 && id_9f >= 0 && id_99 >= 0 && id_82 >= 0 && id_a >= 0);
  zr_tok_stream s;
  zr_tok_stream_init(&s, tok, 0);
  zr_tok_text out = {0};
  int32_t emoji[] = {id_f0, id_9f, id_99};
  for (int i = 0; i < 3; i++) {
    CHECK_INT(zr_tok_stream_put(&s, emoji[i], &out), 0);
    CHECK_INT(out.len, 0); /* nothing until the character is complete */
  }
  CHECK_INT(zr_tok_stream_put(&s, id_82, &out), 0);
  CHECK(out.len == 4 && memcmp(out.s, "\xf0\x9f\x99\x82", 4) == 0);
  /* F0 9F then 'A': one U+FFFD for the two bytes, then A */
  out.len = 0;
  CHECK_INT(zr_tok_stream_put(&s, id_f0, &out), 0);
  CHECK_INT(zr_tok_stream_put(&s, id_9f, &out), 0);
  CHECK_INT(out.len, 0);
  CHECK_INT(zr_tok_stream_put(&s, id_a, &out), 0);
  CHECK_STR(out.s, "\xef\xbf\xbd" "A");
  /* a lone continuation byte is U+FFFD at once; a trailing lead byte at finish */
  out.len = 0;
  CHECK_INT(zr_tok_stream_put(&s, id_99, &out), 0);
  CHECK_STR(out.s, "\xef\xbf\xbd");
  CHECK_INT(zr_tok_stream_put(&s, id_f0, &out), 0);
  CHECK_STR(out.s, "\xef\xbf\xbd");
  CHECK_INT(zr_tok_stream_finish(&s, &out), 0);
  CHECK_STR(out.s, "\xef\xbf\xbd\xef\xbf\xbd");
  /* batch decode agrees */
  int32_t seq[] = {id_f0, id_9f, id_a, id_99, id_f0};
  zr_tok_text b = {0};
  CHECK_INT(zr_tok_decode(tok, seq, 5, 0, &b), 0);
  CHECK_STR(b.s, "\xef\xbf\xbd" "A" "\xef\xbf\xbd\xef\xbf\xbd");
  zr_tok_text_release(&b);
  zr_tok_text_release(&out);
  zr_tok_stream_release(&s);
  zr_tok_free(&tok);
}

/* split_patterns.jsonl: qwen2-pairs with its pre-tokenizer replaced by Split(pattern) +
 * ByteLevel, for Oniguruma-vs-PCRE2 edges (empty matches, anchors, \w \W \h \s \u, (?m)). */
static void test_split_patterns(void) {
  char path[4300];
  size_t len;
  snprintf(path, sizeof path, "%s/qwen2-pairs/tokenizer.json", fixtures);
  char *text = read_file(path, &len);
  CHECK(text != NULL);
  if (!text) return;
  json_error_t e;
  json_t *base = json_loadb(text, len, 0, &e);
  free(text);
  snprintf(path, sizeof path, "%s/qwen2-pairs/split_patterns.jsonl", fixtures);
  FILE *f = fopen(path, "r");
  CHECK(f != NULL && base != NULL);
  if (!f || !base) {
    if (f) fclose(f);
    json_decref(base);
    return;
  }
  char *line = NULL, *current = NULL;
  size_t cap = 0;
  ssize_t n;
  int lines = 0, bad = 0;
  zr_tok *tok = NULL;
  zr_tok_encoder *enc = NULL;
  zr_tok_ids ids = {0};
  while ((n = getline(&line, &cap, f)) > 0) {
    json_t *j = json_loadb(line, (size_t)n, 0, &e);
    const char *pat = json_string_value(json_object_get(j, "pattern"));
    const json_t *t = json_object_get(j, "text");
    if (!current || strcmp(current, pat) != 0) {
      free(current);
      current = strdup(pat);
      zr_tok_encoder_free(&enc);
      zr_tok_free(&tok);
      json_object_set_new(base, "pre_tokenizer",
                          json_pack("{s:s,s:[{s:s,s:{s:s},s:s,s:b},{s:s,s:b,s:b,s:b}]}", "type", "Sequence",
                                    "pretokenizers", "type", "Split", "pattern", "Regex", pat, "behavior", "Isolated",
                                    "invert", 0, "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 0,
                                    "use_regex", 0));
      char *js = json_dumps(base, JSON_COMPACT);
      int rc = zr_tok_parse(&tok, js, strlen(js), NULL, 0, "split");
      free(js);
      if (rc) fprintf(stderr, "pattern '%s': %s\n", pat, zr_errmsg());
      CHECK_INT(rc, 0);
      if (!rc) CHECK_INT(zr_tok_encoder_new(&enc, tok), 0);
    }
    lines++;
    ids.n = 0;
    if (!enc || zr_tok_encode(enc, json_string_value(t), json_string_length(t), ZR_TOK_ENCODE_DEFAULT, &ids) ||
        !same_ids(&ids, json_object_get(j, "ids"))) {
      if (bad++ < 5) fprintf(stderr, "  split pattern '%s' on '%s': ids differ\n", pat, json_string_value(t));
    }
    json_decref(j);
  }
  fprintf(stderr, "qwen2-pairs/split_patterns.jsonl: %d lines, %d mismatches\n", lines, bad);
  CHECK(lines >= 150);
  CHECK_INT(bad, 0);
  zr_tok_ids_release(&ids);
  zr_tok_encoder_free(&enc);
  zr_tok_free(&tok);
  free(current);
  free(line);
  fclose(f);
  json_decref(base);
}

/* ---- the real Qwen3 tokenizer (shared data) ------------------------------------------- */

static void test_qwen3(void) {
  char dir[4096], path[4200];
  const char *shared = getenv("ZERORL_SHARED_DATA");
  const char *src = getenv("ZERORL_SOURCE_DIR");
  if (shared) snprintf(dir, sizeof dir, "%s/tokenizers/qwen3", shared);
  else snprintf(dir, sizeof dir, "%s/../shared/data/tokenizers/qwen3", src ? src : ".");
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "SKIP (this part only): %s not found; set ZERORL_SHARED_DATA to check the real Qwen3 tokenizer\n",
            path);
    return;
  }
  zr_tok *tok = NULL;
  int rc = zr_tok_load(&tok, dir);
  if (rc) fprintf(stderr, "load %s: %s\n", dir, zr_errmsg());
  CHECK_INT(rc, 0);
  if (!tok) return;
  CHECK_INT(zr_tok_vocab_size(tok), 151669);
  CHECK_INT(zr_tok_eos_id(tok), 151645);
  CHECK_INT(zr_tok_pad_id(tok), 151643);
  tally a = {0}, b = {0}, c = {0}, d = {0};
  snprintf(path, sizeof path, "%s/golden.jsonl", dir);
  run_golden(tok, path, 0, &a);
  check_tally("qwen3 golden.jsonl (shared)", &a, 43);
  snprintf(path, sizeof path, "%s/golden-gsm8k-test.jsonl", dir);
  run_golden(tok, path, 1, &b);
  check_tally("qwen3 golden-gsm8k-test.jsonl (shared)", &b, 1319);
  snprintf(path, sizeof path, "%s/qwen3/golden.jsonl", fixtures);
  run_golden(tok, path, 0, &c);
  check_tally("qwen3/golden.jsonl (fixture)", &c, 600);
  snprintf(path, sizeof path, "%s/qwen3/decode_random.jsonl", fixtures);
  run_golden(tok, path, 0, &d);
  check_tally("qwen3/decode_random.jsonl (fixture)", &d, 200);
  zr_tok_free(&tok);
}

int main(void) {
  const char *src = getenv("ZERORL_SOURCE_DIR");
  if (src) {
    snprintf(fixtures, sizeof fixtures, "%s/tests/fixtures/tokenizers", src);
  } else { /* run by hand: next to this file */
    snprintf(fixtures, sizeof fixtures, "%s", __FILE__);
    char *slash = strrchr(fixtures, '/');
    if (slash) *slash = '\0';
    strncat(fixtures, "/../fixtures/tokenizers", sizeof fixtures - strlen(fixtures) - 1);
  }
  test_fixture("llama3", 1);
  test_fixture("gpt2", 0);
  test_fixture("qwen2-pairs", 0);
  test_split_patterns();
  test_vocab();
  test_errors();
  test_invalid_utf8();
  test_stream_fragments();
  test_qwen3();
  return TEST_DONE();
}
