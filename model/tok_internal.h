/* tok_internal.h: the tokenizer's private data structures, shared by model/tok_*.c only.
 *
 * Layout: every token (model vocabulary and added tokens) is one zr_tok_entry indexed by id;
 * its string as tokenizer.json writes it and the bytes it decodes to live in one arena. Two
 * open-addressing hash tables find ids by token string (API, merges at load time) and by
 * decoded bytes (BPE works on raw bytes: the ByteLevel mapping is a bijection, so "Ġthe" and
 * " the" name the same token and the per-byte transform never runs while encoding). Merges
 * live in a third table keyed by the pair of ids. The zr_tok owns all of it; nothing here
 * changes after loading. */
#ifndef ZR_TOK_INTERNAL_H
#define ZR_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "model/tokenizer.h"

/* ---- arena and growable buffers ------------------------------------------------------- */

typedef struct {
  char *p;
  size_t len, cap;
} tok_buf;

int tok_buf_reserve(tok_buf *b, size_t extra); /* room for extra more bytes (+1 for a NUL) */
int tok_buf_append(tok_buf *b, const void *data, size_t n);
void tok_buf_release(tok_buf *b);

/* Same growth rule for zr_tok_ids / zr_tok_text. tok_text_append with data NULL only makes
 * room for n bytes (and counts them). */
int tok_ids_reserve(zr_tok_ids *v, size_t extra);
int tok_text_append(zr_tok_text *t, const void *data, size_t n);

/* ---- vocabulary ----------------------------------------------------------------------- */

enum {
  TOK_E_USED = 1,     /* some token has this id */
  TOK_E_MODEL = 2,    /* in model.vocab */
  TOK_E_ADDED = 4,    /* in added_tokens */
  TOK_E_SPECIAL = 8,  /* added token with special: true */
  TOK_E_BYTES = 16,   /* the string is all ByteLevel characters, so it stands for raw bytes */
};

typedef struct {
  uint32_t str_off, str_len;     /* token string in the arena */
  uint32_t bytes_off, bytes_len; /* decoded bytes in the arena */
  uint32_t flags;
} zr_tok_entry;

/* Open addressing with linear probing; a slot holds id + 1 (0 = empty) and the key's hash. */
typedef struct {
  uint32_t *ids;
  uint32_t *hashes;
  uint32_t mask;
} tok_idmap;

typedef struct {
  uint64_t *keys; /* (left id << 32) | right id; UINT64_MAX = empty */
  uint32_t *ranks;
  int32_t *merged;
  uint64_t mask;
} tok_merges;

/* ---- added tokens --------------------------------------------------------------------- */

typedef struct {
  int32_t id;
  uint32_t off, len; /* text to match (normalized content for normalized tokens), in the arena */
  uint8_t special, single_word, lstrip, rstrip;
} tok_added;

/* Leftmost-longest matcher over a small set of added tokens (HF builds an Aho-Corasick
 * automaton with MatchKind::LeftmostLongest; a per-first-byte candidate list sorted longest
 * first gives the same matches). */
typedef struct {
  tok_added *tokens; /* sorted by first byte, then length descending */
  size_t n;
  uint32_t first[256]; /* index of the first token starting with this byte */
  uint32_t count[256];
} tok_matcher;

/* ---- pre-tokenizer stages ------------------------------------------------------------- */

typedef struct {
  pcre2_code *re;       /* Split pattern, or the GPT-2 pattern for ByteLevel use_regex; may be NULL */
  int jit;              /* re was JIT-compiled */
  int add_prefix_space; /* ByteLevel: prepend ' ' to a piece that does not start with one */
} tok_stage;

#define TOK_MAX_STAGES 8
#define TOK_MAX_EOS 8

struct zr_tok {
  zr_tok_entry *entries;
  int32_t n_entries; /* vocab size: largest id + 1 */
  tok_buf arena;
  tok_idmap by_str, by_bytes;
  tok_merges merges;
  int32_t byte_id[256]; /* id of the one-byte token for each byte, -1 if none */
  int ignore_merges;
  int32_t unk_id; /* -1 if none */
  int fuse_unk;

  int nfc;                 /* normalizer is NFC */
  tok_matcher raw_added;   /* added tokens with normalized: false, matched on the raw text */
  tok_matcher norm_added;  /* normalized: true, matched on the normalized text */
  tok_stage stages[TOK_MAX_STAGES];
  int n_stages;
  uint32_t max_ovector;

  int32_t *special_ids;
  size_t n_special;
  int32_t *prefix_ids, *suffix_ids; /* ZR_TOK_ADD_SPECIAL */
  size_t n_prefix, n_suffix;
  int has_template; /* post_processor has a TemplateProcessing */

  int32_t bos_id, eos_id, pad_id;
  int32_t eos_ids[TOK_MAX_EOS];
  size_t n_eos;
};

/* Hash of a short byte string (8 bytes at a time, splitmix64-style mixing); never 0, so that
 * 0 can mean "empty". Inline: it runs once per pre-tokenized word. */
static inline uint32_t tok_hash(const void *data, size_t len) {
  const unsigned char *p = (const unsigned char *)data;
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)len;
  while (len >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    p += 8;
    len -= 8;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) v |= (uint64_t)p[i] << (8 * i);
  h = (h ^ v) * 0x94D049BB133111EBull;
  h ^= h >> 31;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  uint32_t x = (uint32_t)h;
  return x ? x : 1;
}

int tok_idmap_init(tok_idmap *m, size_t expected);
void tok_idmap_release(tok_idmap *m);
/* Inserts id under key; returns the id already stored under an equal key, or -1 if new. */
int32_t tok_idmap_put(tok_idmap *m, const zr_tok *tok, int use_bytes, const char *key, size_t len, int32_t id);
int32_t tok_idmap_get(const tok_idmap *m, const zr_tok *tok, int use_bytes, const char *key, size_t len);

int tok_merges_init(tok_merges *m, size_t expected);
void tok_merges_release(tok_merges *m);
/* A later merge of the same pair replaces the earlier one, as in HF's HashMap. */
void tok_merges_put(tok_merges *m, int32_t a, int32_t b, uint32_t rank, int32_t merged);

static inline uint64_t tok_pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

/* Finds the merge of (a, b): returns its rank and sets *merged, or returns UINT32_MAX. */
static inline uint32_t tok_merges_get(const tok_merges *m, int32_t a, int32_t b, int32_t *merged) {
  uint64_t key = tok_pair_key(a, b);
  uint64_t i = (key * 0x9E3779B97F4A7C15ull) >> 20 & m->mask;
  for (;;) {
    uint64_t k = m->keys[i];
    if (k == key) {
      *merged = m->merged[i];
      return m->ranks[i];
    }
    if (k == UINT64_MAX) return UINT32_MAX;
    i = (i + 1) & m->mask;
  }
}

static inline const char *tok_str(const zr_tok *t, int32_t id) { return t->arena.p + t->entries[id].str_off; }
static inline const char *tok_bytes(const zr_tok *t, int32_t id) { return t->arena.p + t->entries[id].bytes_off; }

/* ---- BPE ----------------------------------------------------------------------------- */

typedef struct {
  int32_t id; /* -1 once merged into the symbol on its left */
  int32_t prev, next;
} tok_sym;

typedef struct {
  uint32_t rank, pos; /* pos: index of the left symbol */
  int32_t left, right, merged;
} tok_cand;

/* A direct-mapped cache of BPE results for short words: one 64-byte line per entry. */
#define TOK_CACHE_KEY 30
#define TOK_CACHE_IDS 7
typedef struct {
  uint32_t hash;
  uint8_t klen, nids;
  char key[TOK_CACHE_KEY];
  int32_t ids[TOK_CACHE_IDS];
} tok_cache_entry;

typedef struct {
  tok_sym *syms;
  size_t syms_cap;
  tok_cand *heap;
  size_t heap_cap;
  tok_cache_entry *cache;
  uint32_t cache_mask;
} tok_bpe;

int tok_bpe_init(tok_bpe *b, size_t cache_entries);
void tok_bpe_release(tok_bpe *b);
/* Appends the BPE ids of one pre-tokenized word (raw bytes) to out. */
int tok_bpe_word(tok_bpe *b, const zr_tok *tok, const char *word, size_t len, zr_tok_ids *out);

/* ---- byte level ----------------------------------------------------------------------- */

/* The ByteLevel alphabet: byte b is written as code point tok_byte_char[b]. */
extern const uint16_t tok_byte_char[256];
/* Decodes a ByteLevel string to raw bytes into out (capacity >= len). Returns the number of
 * bytes, or -1 if some character is not in the alphabet. */
long tok_bytelevel_decode(const char *s, size_t len, char *out);
/* Encodes raw bytes as a ByteLevel string into out (capacity >= 2 * len); returns its length. */
size_t tok_bytelevel_encode(const char *s, size_t len, char *out);

/* ---- UTF-8 ---------------------------------------------------------------------------- */

/* Returns len if s is valid UTF-8, else the offset of the first invalid byte. */
size_t tok_utf8_valid_prefix(const char *s, size_t len);
/* Decodes one code point at s (valid UTF-8 assumed); sets *n to its byte length. */
static inline uint32_t tok_utf8_next(const unsigned char *s, size_t *n) {
  unsigned c = s[0];
  if (c < 0x80) { *n = 1; return c; }
  if (c < 0xE0) { *n = 2; return ((c & 0x1Fu) << 6) | (s[1] & 0x3Fu); }
  if (c < 0xF0) { *n = 3; return ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu); }
  *n = 4;
  return ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
}
/* The start of the code point that ends at s[end) (valid UTF-8 assumed). */
size_t tok_utf8_prev(const char *s, size_t end);
/* Appends bytes to out, replacing invalid sequences with U+FFFD the way Rust's
 * String::from_utf8_lossy does. When final is 0, a trailing incomplete but so far valid
 * sequence is not consumed. Returns the number of bytes consumed, or -ENOMEM. */
long tok_utf8_lossy(const unsigned char *s, size_t len, int final, zr_tok_text *out);

/* Unicode classes with the Rust regex meaning used by added-token matching. */
int tok_is_white_space(uint32_t cp); /* White_Space (Rust \s, char::is_whitespace) */
int tok_is_word_char(uint32_t cp);   /* Rust regex \w: Alphabetic, M, Nd, Pc, Join_Control */

/* ---- normalizer (NFC) ----------------------------------------------------------------- */

/* NFC of s into out (replaced). Returns 0 or -ENOMEM/-EILSEQ. */
int tok_nfc(const char *s, size_t len, tok_buf *out, int32_t **cps, size_t *cps_cap);
/* 1 if s is certainly already NFC (every code point is one NFC never touches: no canonical
 * decomposition, combining class 0, never composed onto a preceding starter), so tok_nfc can be
 * skipped; 0 means "run tok_nfc" (the text may still turn out unchanged). s is valid UTF-8. */
int tok_nfc_trivially(const char *s, size_t len);

/* ---- loading helpers ------------------------------------------------------------------ */

/* Builds a matcher from tokens (copied); contents must already be in tok->arena. */
int tok_matcher_build(tok_matcher *m, const tok_added *tokens, size_t n, const zr_tok *tok);
void tok_matcher_release(tok_matcher *m);

/* Compiles an Oniguruma-syntax pattern (or a literal when literal is 1) for a Split stage.
 * where names the JSON path in errors. */
int tok_stage_compile(tok_stage *st, const char *pattern, size_t len, int literal, const char *name,
                      const char *where);
void tok_stage_release(tok_stage *st);

/* The pattern ByteLevel(use_regex: true) splits with (GPT-2's). */
extern const char tok_gpt2_pattern[];

/* tokenizer.json sections other than the model (tok_load_pipeline.c). name prefixes errors;
 * each function names the JSON path of what it refuses. */
int tok_load_normalizer(zr_tok *tok, const json_t *v, const char *name, const char *where);
int tok_load_pre_tokenizer(zr_tok *tok, const json_t *v, const char *name);
int tok_load_decoder(const json_t *v, const char *name, const char *where);
int tok_load_post_processor(zr_tok *tok, const json_t *v, const char *name, const char *where);

#endif
