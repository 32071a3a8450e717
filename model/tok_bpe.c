/* tok_bpe.c: BPE on one pre-tokenized word, the way Hugging Face's Word::merge_all does it.
 *
 * The word's bytes become one symbol each (the id of its one-byte token; a byte without one
 * becomes unk_token, fused when fuse_unk, or is dropped when there is no unk_token). Then the
 * adjacent pair with the lowest merge rank is merged, leftmost first among equal ranks, until
 * no pair has a merge: a binary heap of candidate pairs ordered by (rank, position), entries
 * made stale by an earlier merge skipped when popped. With ignore_merges a word that is itself
 * a vocabulary token is that token. Results for short words go to a direct-mapped cache.
 * All memory belongs to the tok_bpe (grown as needed, never per token). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/tok_internal.h"

int tok_bpe_init(tok_bpe *b, size_t cache_entries) {
  memset(b, 0, sizeof *b);
  size_t n = 1;
  while (n < cache_entries) n *= 2;
  b->cache = aligned_alloc(64, n * sizeof *b->cache);
  if (!b->cache) return zr_seterr(-ENOMEM, "tokenizer: out of memory (BPE cache of %zu entries)", n);
  memset(b->cache, 0, n * sizeof *b->cache);
  b->cache_mask = (uint32_t)(n - 1);
  return 0;
}

void tok_bpe_release(tok_bpe *b) {
  free(b->syms);
  free(b->heap);
  free(b->cache);
  memset(b, 0, sizeof *b);
}

static int reserve(tok_bpe *b, size_t nsym) {
  if (nsym > b->syms_cap) {
    size_t cap = b->syms_cap ? b->syms_cap : 64;
    while (cap < nsym) cap *= 2;
    tok_sym *s = realloc(b->syms, cap * sizeof *s);
    if (!s) return zr_seterr(-ENOMEM, "tokenizer: out of memory (BPE word of %zu bytes)", nsym);
    b->syms = s;
    b->syms_cap = cap;
  }
  if (3 * nsym > b->heap_cap) {
    size_t cap = b->heap_cap ? b->heap_cap : 192;
    while (cap < 3 * nsym) cap *= 2;
    tok_cand *h = realloc(b->heap, cap * sizeof *h);
    if (!h) return zr_seterr(-ENOMEM, "tokenizer: out of memory (BPE word of %zu bytes)", nsym);
    b->heap = h;
    b->heap_cap = cap;
  }
  return 0;
}

static inline int cand_less(const tok_cand *a, const tok_cand *b) {
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static inline void heap_push(tok_cand *h, size_t *n, tok_cand c) {
  size_t i = (*n)++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!cand_less(&c, &h[parent])) break;
    h[i] = h[parent];
    i = parent;
  }
  h[i] = c;
}

/* Moves c down from slot i of the heap h[0..size) to its place. */
static inline void sift_down(tok_cand *h, size_t size, size_t i, tok_cand c) {
  for (;;) {
    size_t l = 2 * i + 1;
    if (l >= size) break;
    size_t m = l + 1 < size && cand_less(&h[l + 1], &h[l]) ? l + 1 : l;
    if (!cand_less(&h[m], &c)) break;
    h[i] = h[m];
    i = m;
  }
  h[i] = c;
}

static inline tok_cand heap_pop(tok_cand *h, size_t *n) {
  tok_cand top = h[0];
  tok_cand last = h[--(*n)];
  if (*n) sift_down(h, *n, 0, last);
  return top;
}

static inline void push_pair(const zr_tok *tok, tok_cand *heap, size_t *nheap, int32_t pos, int32_t left,
                             int32_t right) {
  int32_t merged;
  uint32_t rank = tok_merges_get(&tok->merges, left, right, &merged);
  if (rank != UINT32_MAX)
    heap_push(heap, nheap, (tok_cand){.rank = rank, .pos = (uint32_t)pos, .left = left, .right = right, .merged = merged});
}

/* Runs the merges; returns the number of symbols written to ids (capacity >= len). */
static size_t merge_word(tok_bpe *b, const zr_tok *tok, const unsigned char *w, size_t len, int32_t *ids) {
  tok_sym *s = b->syms;
  int32_t n = 0;
  int last_unk = 0;
  for (size_t i = 0; i < len; i++) {
    int32_t id = tok->byte_id[w[i]];
    if (id < 0) {
      if (tok->unk_id < 0) continue;
      if (tok->fuse_unk && last_unk) continue;
      id = tok->unk_id;
      last_unk = 1;
    } else {
      last_unk = 0;
    }
    s[n] = (tok_sym){.id = id, .prev = n - 1, .next = n + 1};
    n++;
  }
  if (n == 0) return 0;
  s[n - 1].next = -1;

  size_t nheap = 0; /* the word's pairs, then heapified in O(n) */
  for (int32_t i = 0; i + 1 < n; i++) {
    int32_t merged;
    uint32_t rank = tok_merges_get(&tok->merges, s[i].id, s[i + 1].id, &merged);
    if (rank != UINT32_MAX)
      b->heap[nheap++] = (tok_cand){.rank = rank, .pos = (uint32_t)i, .left = s[i].id, .right = s[i + 1].id, .merged = merged};
  }
  for (size_t i = nheap / 2; i-- > 0;) sift_down(b->heap, nheap, i, b->heap[i]);
  while (nheap) {
    tok_cand c = heap_pop(b->heap, &nheap);
    tok_sym *l = &s[c.pos];
    if (l->id != c.left || l->next < 0) continue;
    int32_t r = l->next;
    if (s[r].id != c.right) continue;
    l->id = c.merged;
    s[r].id = -1;
    l->next = s[r].next;
    if (l->next >= 0) s[l->next].prev = (int32_t)c.pos;
    if (l->prev >= 0) push_pair(tok, b->heap, &nheap, l->prev, s[l->prev].id, l->id);
    if (l->next >= 0) push_pair(tok, b->heap, &nheap, (int32_t)c.pos, l->id, s[l->next].id);
  }
  size_t k = 0;
  for (int32_t i = 0; i >= 0; i = s[i].next) ids[k++] = s[i].id;
  return k;
}

int tok_bpe_word(tok_bpe *b, const zr_tok *tok, const char *word, size_t len, zr_tok_ids *out) {
  const unsigned char *w = (const unsigned char *)word;
  if (len == 0) return 0;
  int rc = tok_ids_reserve(out, len);
  if (rc) return rc;
  if (len == 1 && tok->byte_id[w[0]] >= 0) {
    out->ids[out->n++] = tok->byte_id[w[0]];
    return 0;
  }
  if (tok->ignore_merges) {
    int32_t id = tok_idmap_get(&tok->by_bytes, tok, 1, word, len);
    if (id >= 0) {
      out->ids[out->n++] = id;
      return 0;
    }
  }
  tok_cache_entry *e = NULL;
  uint32_t h = 0;
  if (len <= TOK_CACHE_KEY) {
    h = tok_hash(word, len);
    e = &b->cache[h & b->cache_mask];
    if (e->hash == h && e->klen == len && memcmp(e->key, word, len) == 0) {
      memcpy(out->ids + out->n, e->ids, e->nids * sizeof *e->ids);
      out->n += e->nids;
      return 0;
    }
  }
  rc = reserve(b, len);
  if (rc) return rc;
  size_t k = merge_word(b, tok, w, len, out->ids + out->n);
  if (e && k <= TOK_CACHE_IDS) {
    e->hash = h;
    e->klen = (uint8_t)len;
    e->nids = (uint8_t)k;
    memcpy(e->key, word, len);
    memcpy(e->ids, out->ids + out->n, k * sizeof *e->ids);
  }
  out->n += k;
  return 0;
}
