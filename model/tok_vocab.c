/* tok_vocab.c: the tokenizer's storage: growable buffers, the id hash tables (by token string
 * and by decoded bytes), the merge table, and the vocabulary accessors of tokenizer.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/tok_internal.h"

/* ---- buffers -------------------------------------------------------------------------- */

static size_t grow_cap(size_t cap, size_t need) {
  size_t c = cap ? cap : 64;
  while (c < need) c *= 2;
  return c;
}

int tok_buf_reserve(tok_buf *b, size_t extra) {
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return 0;
  size_t cap = grow_cap(b->cap, need);
  char *p = realloc(b->p, cap);
  if (!p) return zr_seterr(-ENOMEM, "tokenizer: out of memory (%zu bytes)", cap);
  b->p = p;
  b->cap = cap;
  return 0;
}

int tok_buf_append(tok_buf *b, const void *data, size_t n) {
  int rc = tok_buf_reserve(b, n);
  if (rc) return rc;
  if (n) memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = '\0';
  return 0;
}

void tok_buf_release(tok_buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

void zr_tok_ids_init(zr_tok_ids *v) { memset(v, 0, sizeof *v); }

void zr_tok_ids_release(zr_tok_ids *v) {
  free(v->ids);
  memset(v, 0, sizeof *v);
}

void zr_tok_text_init(zr_tok_text *t) { memset(t, 0, sizeof *t); }

void zr_tok_text_release(zr_tok_text *t) {
  free(t->s);
  memset(t, 0, sizeof *t);
}

int tok_ids_reserve(zr_tok_ids *v, size_t extra) {
  size_t need = v->n + extra;
  if (need <= v->cap) return 0;
  size_t cap = grow_cap(v->cap, need);
  int32_t *p = realloc(v->ids, cap * sizeof *p);
  if (!p) return zr_seterr(-ENOMEM, "tokenizer: out of memory (%zu ids)", cap);
  v->ids = p;
  v->cap = cap;
  return 0;
}

int tok_text_append(zr_tok_text *t, const void *data, size_t n) {
  size_t need = t->len + n + 1;
  if (need > t->cap) {
    size_t cap = grow_cap(t->cap, need);
    char *p = realloc(t->s, cap);
    if (!p) return zr_seterr(-ENOMEM, "tokenizer: out of memory (%zu bytes)", cap);
    t->s = p;
    t->cap = cap;
  }
  if (n && data) memcpy(t->s + t->len, data, n);
  t->len += n;
  t->s[t->len] = '\0';
  return 0;
}

/* ---- id maps -------------------------------------------------------------------------- */


int tok_idmap_init(tok_idmap *m, size_t expected) {
  size_t cap = 64;
  while (cap < expected * 2) cap *= 2; /* load factor <= 0.5 */
  m->ids = calloc(cap, sizeof *m->ids);
  m->hashes = calloc(cap, sizeof *m->hashes);
  m->mask = (uint32_t)(cap - 1);
  if (!m->ids || !m->hashes) {
    tok_idmap_release(m);
    return zr_seterr(-ENOMEM, "tokenizer: out of memory (hash table of %zu slots)", cap);
  }
  return 0;
}

void tok_idmap_release(tok_idmap *m) {
  free(m->ids);
  free(m->hashes);
  memset(m, 0, sizeof *m);
}

static int key_equals(const zr_tok *tok, int use_bytes, int32_t id, const char *key, size_t len) {
  const zr_tok_entry *e = &tok->entries[id];
  if (use_bytes) return e->bytes_len == len && memcmp(tok->arena.p + e->bytes_off, key, len) == 0;
  return e->str_len == len && memcmp(tok->arena.p + e->str_off, key, len) == 0;
}

int32_t tok_idmap_put(tok_idmap *m, const zr_tok *tok, int use_bytes, const char *key, size_t len, int32_t id) {
  uint32_t h = tok_hash(key, len);
  for (uint32_t i = h & m->mask;; i = (i + 1) & m->mask) {
    if (m->ids[i] == 0) {
      m->ids[i] = (uint32_t)id + 1;
      m->hashes[i] = h;
      return -1;
    }
    if (m->hashes[i] == h && key_equals(tok, use_bytes, (int32_t)(m->ids[i] - 1), key, len))
      return (int32_t)(m->ids[i] - 1);
  }
}

int32_t tok_idmap_get(const tok_idmap *m, const zr_tok *tok, int use_bytes, const char *key, size_t len) {
  if (!m->ids) return -1;
  uint32_t h = tok_hash(key, len);
  for (uint32_t i = h & m->mask;; i = (i + 1) & m->mask) {
    if (m->ids[i] == 0) return -1;
    if (m->hashes[i] == h && key_equals(tok, use_bytes, (int32_t)(m->ids[i] - 1), key, len))
      return (int32_t)(m->ids[i] - 1);
  }
}

/* ---- merges --------------------------------------------------------------------------- */

int tok_merges_init(tok_merges *m, size_t expected) {
  size_t cap = 64;
  while (cap < expected * 2) cap *= 2;
  m->keys = malloc(cap * sizeof *m->keys);
  m->ranks = malloc(cap * sizeof *m->ranks);
  m->merged = malloc(cap * sizeof *m->merged);
  m->mask = cap - 1;
  if (!m->keys || !m->ranks || !m->merged) {
    tok_merges_release(m);
    return zr_seterr(-ENOMEM, "tokenizer: out of memory (merge table of %zu slots)", cap);
  }
  memset(m->keys, 0xff, cap * sizeof *m->keys);
  return 0;
}

void tok_merges_release(tok_merges *m) {
  free(m->keys);
  free(m->ranks);
  free(m->merged);
  memset(m, 0, sizeof *m);
}

void tok_merges_put(tok_merges *m, int32_t a, int32_t b, uint32_t rank, int32_t merged) {
  uint64_t key = tok_pair_key(a, b);
  uint64_t i = (key * 0x9E3779B97F4A7C15ull) >> 20 & m->mask;
  while (m->keys[i] != UINT64_MAX && m->keys[i] != key) i = (i + 1) & m->mask;
  m->keys[i] = key;
  m->ranks[i] = rank;
  m->merged[i] = merged;
}

/* ---- vocabulary accessors ------------------------------------------------------------- */

static int valid_id(const zr_tok *tok, int32_t id) {
  return id >= 0 && id < tok->n_entries && (tok->entries[id].flags & TOK_E_USED);
}

int32_t zr_tok_vocab_size(const zr_tok *tok) { return tok->n_entries; }

const char *zr_tok_id_to_token(const zr_tok *tok, int32_t id, size_t *len) {
  if (!valid_id(tok, id)) return NULL;
  if (len) *len = tok->entries[id].str_len;
  return tok_str(tok, id);
}

const char *zr_tok_id_to_bytes(const zr_tok *tok, int32_t id, size_t *len) {
  if (!valid_id(tok, id)) return NULL;
  if (len) *len = tok->entries[id].bytes_len;
  return tok_bytes(tok, id);
}

int32_t zr_tok_token_to_id(const zr_tok *tok, const char *token, size_t len) {
  return tok_idmap_get(&tok->by_str, tok, 0, token, len);
}

int zr_tok_is_special(const zr_tok *tok, int32_t id) {
  return valid_id(tok, id) && (tok->entries[id].flags & TOK_E_SPECIAL) != 0;
}

size_t zr_tok_special_ids(const zr_tok *tok, const int32_t **ids) {
  *ids = tok->special_ids;
  return tok->n_special;
}

int32_t zr_tok_bos_id(const zr_tok *tok) { return tok->bos_id; }
int32_t zr_tok_eos_id(const zr_tok *tok) { return tok->eos_id; }
int32_t zr_tok_pad_id(const zr_tok *tok) { return tok->pad_id; }

size_t zr_tok_eos_ids(const zr_tok *tok, const int32_t **ids) {
  *ids = tok->eos_ids;
  return tok->n_eos;
}
