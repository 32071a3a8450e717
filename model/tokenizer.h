/* tokenizer.h: byte-level BPE tokenizers read from Hugging Face `tokenizer.json` files.
 *
 * What it covers: the tokenizers of Qwen2/Qwen3, Llama-3 and GPT-2 (tested against HF on the
 * real Qwen3 file and on Llama-3- and GPT-2-style files trained by tests/reference/), and any
 * tokenizer.json built from the same parts: a BPE model (merges as "a b" strings
 * or [a, b] pairs, ignore_merges, optional unk_token), the NFC normalizer, Split pre-tokenizers
 * (behaviour Isolated, Oniguruma regexes such as the Qwen/Llama-3 patterns, run through PCRE2
 * with UTF and UCP, `\s` as Unicode White_Space like Oniguruma), the ByteLevel pre-tokenizer
 * (add_prefix_space, use_regex = the GPT-2 pattern) and decoder, added tokens (special or not,
 * single_word, lstrip, rstrip, normalized) and a TemplateProcessing post-processor (BOS).
 * Anything else is refused at load time with an error naming the JSON path, for example
 * "tokenizer.json: model.type: Unigram is not supported (only BPE)". Encoding and decoding
 * reproduce the Rust `tokenizers` library exactly (ids, and U+FFFD where its decode puts one).
 *
 * Ownership: zr_tok_load returns a tokenizer that the caller frees with zr_tok_free. After
 * loading it is immutable, so any number of threads may decode, use streams and look up the
 * vocabulary at once. Encoding needs scratch memory and a bounded cache of BPE results: each
 * thread that encodes owns a zr_tok_encoder (zr_tok_encoder_new / zr_tok_encoder_free), which
 * must not outlive its tokenizer. Results go into caller-owned growable buffers (zr_tok_ids,
 * zr_tok_text) that calls append to; the caller releases them. A zr_tok_stream is a small
 * embedded struct (no allocation) that decodes one sequence id by id.
 *
 * Errors: 0 or a negative errno-style code with a message in zr_errmsg(): -ENOENT (no such
 * file), -EINVAL (bad or unsupported tokenizer.json, naming the JSON path), -EILSEQ (text to
 * encode is not valid UTF-8; the message gives the byte offset), -ENOMEM. */
#ifndef ZR_TOKENIZER_H
#define ZR_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct zr_tok zr_tok;
typedef struct zr_tok_encoder zr_tok_encoder;

/* Growable outputs. Zero-initialise (or _init), pass to calls that append, release once. */
typedef struct {
  int32_t *ids;
  size_t n, cap;
} zr_tok_ids;

typedef struct {
  char *s; /* NUL-terminated whenever non-NULL; may contain NUL bytes from the text itself */
  size_t len, cap;
} zr_tok_text;

void zr_tok_ids_init(zr_tok_ids *v);
void zr_tok_ids_release(zr_tok_ids *v);
void zr_tok_text_init(zr_tok_text *t);
void zr_tok_text_release(zr_tok_text *t);

/* ---- loading -------------------------------------------------------------------------- */

/* path is a tokenizer.json file or a model directory holding one. A tokenizer_config.json
 * next to it, when present, gives bos/eos/pad token names and add_bos_token/add_eos_token;
 * a generation_config.json there adds its eos_token_id to zr_tok_eos_ids. */
int zr_tok_load(zr_tok **out, const char *path);

/* The same from memory (tests, fuzzing): json is tokenizer.json's text, config is
 * tokenizer_config.json's text or NULL; name prefixes error messages. */
int zr_tok_parse(zr_tok **out, const char *json, size_t len, const char *config, size_t config_len,
                 const char *name);

void zr_tok_free(zr_tok **tok);

/* ---- encoding ------------------------------------------------------------------------- */

enum {
  /* Special added tokens written in the text ("<|im_end|>") become their ids, as in Hugging
   * Face's default. Without it they are encoded as ordinary text (HF encode_special_tokens /
   * split_special_tokens); non-special added tokens are always matched. */
  ZR_TOK_PARSE_SPECIAL = 1u << 0,
  /* Add the tokens the post-processor adds (TemplateProcessing, e.g. Llama-3's BOS), or, when
   * tokenizer.json has no template, BOS/EOS as tokenizer_config's add_bos_token /
   * add_eos_token ask. HF's add_special_tokens=True. */
  ZR_TOK_ADD_SPECIAL = 1u << 1,
};
/* What HF's `tokenizer.encode(text)` does. */
#define ZR_TOK_ENCODE_DEFAULT (ZR_TOK_PARSE_SPECIAL | ZR_TOK_ADD_SPECIAL)

/* One per encoding thread; holds scratch buffers and a bounded BPE cache (a few MB). */
int zr_tok_encoder_new(zr_tok_encoder **out, const zr_tok *tok);
void zr_tok_encoder_free(zr_tok_encoder **enc);

/* Appends the ids of text[0..len) to out. text must be valid UTF-8 (-EILSEQ otherwise, out
 * unchanged); NUL bytes are ordinary characters. -EINVAL (out unchanged) only when a
 * pre-tokenizer regex hits PCRE2's match or JIT stack limit, which pathological patterns can. */
int zr_tok_encode(zr_tok_encoder *enc, const char *text, size_t len, unsigned flags, zr_tok_ids *out);

/* ---- decoding ------------------------------------------------------------------------- */

/* Appends the text of ids to out, as HF's decode(ids, skip_special_tokens): ids that name no
 * token are skipped, bytes that are not valid UTF-8 become U+FFFD (one per maximal invalid
 * subsequence, like Rust's String::from_utf8_lossy). */
int zr_tok_decode(const zr_tok *tok, const int32_t *ids, size_t n, int skip_special, zr_tok_text *out);

/* Streaming decode of one sequence: feed ids one at a time; each call appends only complete
 * characters (never half of a UTF-8 sequence). The concatenation of everything put and then
 * finished equals zr_tok_decode of all the ids, U+FFFD included. */
typedef struct {
  const zr_tok *tok;
  int skip_special;
  int npending;
  unsigned char pending[4]; /* the start of a character whose remaining bytes have not come yet */
} zr_tok_stream;

void zr_tok_stream_init(zr_tok_stream *s, const zr_tok *tok, int skip_special);
int zr_tok_stream_put(zr_tok_stream *s, int32_t id, zr_tok_text *out);
/* End of the sequence: a pending incomplete character becomes U+FFFD. The stream is then
 * empty and can decode a new sequence. */
int zr_tok_stream_finish(zr_tok_stream *s, zr_tok_text *out);
void zr_tok_stream_release(zr_tok_stream *s);

/* ---- vocabulary ----------------------------------------------------------------------- */

/* 1 + the largest id of the model vocabulary and added tokens (ids in between may be unused). */
int32_t zr_tok_vocab_size(const zr_tok *tok);
/* The token's string as tokenizer.json writes it ("Ġthe", "<|im_end|>"), NUL-terminated, or
 * NULL when no token has this id. *len (if len is not NULL) gets its length. */
const char *zr_tok_id_to_token(const zr_tok *tok, int32_t id, size_t *len);
/* The bytes the token decodes to (" the"), NUL-terminated (the bytes may hold NULs too), or
 * NULL. */
const char *zr_tok_id_to_bytes(const zr_tok *tok, int32_t id, size_t *len);
/* The id of a token string (model vocabulary or added token), or -1. */
int32_t zr_tok_token_to_id(const zr_tok *tok, const char *token, size_t len);
/* 1 if id is an added token marked special (skipped by skip_special). */
int zr_tok_is_special(const zr_tok *tok, int32_t id);
/* Ids of all special added tokens, ascending. Returns the count. */
size_t zr_tok_special_ids(const zr_tok *tok, const int32_t **ids);

/* From tokenizer_config.json: -1 when absent. */
int32_t zr_tok_bos_id(const zr_tok *tok);
int32_t zr_tok_eos_id(const zr_tok *tok);
int32_t zr_tok_pad_id(const zr_tok *tok);
/* Ids that end generation: tokenizer_config's eos_token, then the ids of eos_token_id in a
 * generation_config.json next to tokenizer.json (Qwen3: <|im_end|>, <|endoftext|>), without
 * repeats. Returns the count (0 when neither file names one). */
size_t zr_tok_eos_ids(const zr_tok *tok, const int32_t **ids);

#endif
