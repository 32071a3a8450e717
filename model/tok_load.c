/* tok_load.c: reading tokenizer.json (+ tokenizer_config.json, generation_config.json) into a
 * zr_tok: the BPE model (vocab, merges), the added tokens, then the pipeline sections
 * (tok_load_pipeline.c), the added-token matchers and the special token names.
 *
 * Added tokens get their ids the way Hugging Face's deserializer gives them (it re-adds each
 * token in file order): a token whose content is already in the vocabulary takes that id,
 * any other takes the next free id after the model vocabulary. Well-formed files already
 * carry exactly these ids; a file that disagrees gets a warning, as in HF. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/log.h"
#include "model/tok_internal.h"

#define TOK_MAX_ID (1 << 24)

/* ---- entries -------------------------------------------------------------------------- */

static int set_entry(zr_tok *tok, int32_t id, const char *s, size_t n, uint32_t flags) {
  if (tok->arena.len + 2 * n + 2 >= UINT32_MAX)
    return zr_seterr(-EINVAL, "tokenizer: vocabulary strings exceed 4 GiB");
  zr_tok_entry *e = &tok->entries[id];
  e->str_off = (uint32_t)tok->arena.len;
  e->str_len = (uint32_t)n;
  int rc = tok_buf_append(&tok->arena, s, n);
  if (rc || (rc = tok_buf_reserve(&tok->arena, n + 2))) return rc; /* NUL, bytes, NUL (+1 spare) */
  tok->arena.len++; /* keep the NUL after the string */
  long b = tok_bytelevel_decode(s, n, tok->arena.p + tok->arena.len);
  if (b >= 0) {
    e->bytes_off = (uint32_t)tok->arena.len;
    e->bytes_len = (uint32_t)b;
    tok->arena.len += (size_t)b;
    tok->arena.p[tok->arena.len++] = '\0';
    tok->arena.p[tok->arena.len] = '\0';
    flags |= TOK_E_BYTES;
  } else {
    e->bytes_off = e->str_off;
    e->bytes_len = e->str_len;
  }
  e->flags = flags | TOK_E_USED;
  return 0;
}

static int alloc_entries(zr_tok *tok, int64_t n) {
  tok->entries = calloc((size_t)(n ? n : 1), sizeof *tok->entries);
  if (!tok->entries) return zr_seterr(-ENOMEM, "tokenizer: out of memory (%lld entries)", (long long)n);
  tok->n_entries = (int32_t)n;
  return 0;
}

/* ---- model ---------------------------------------------------------------------------- */

static int check_null_or_empty(const json_t *model, const char *key, const char *name) {
  const json_t *v = json_object_get(model, key);
  if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) return 0;
  return zr_seterr(-EINVAL, "%s: model.%s: %s is not supported (byte-level BPE uses none)", name, key,
                   json_is_string(v) ? json_string_value(v) : "a non-string value");
}

static int model_flags(zr_tok *tok, const json_t *model, const char *name) {
  const json_t *type = json_object_get(model, "type");
  if (type && (!json_is_string(type) || strcmp(json_string_value(type), "BPE") != 0))
    return zr_seterr(-EINVAL, "%s: model.type: %s is not supported (only BPE)", name,
                     json_is_string(type) ? json_string_value(type) : "(not a string)");
  const json_t *dropout = json_object_get(model, "dropout");
  if (dropout && !json_is_null(dropout) && !(json_is_number(dropout) && json_number_value(dropout) == 0.0))
    return zr_seterr(-EINVAL, "%s: model.dropout: BPE dropout is not supported (must be null)", name);
  int rc;
  if ((rc = check_null_or_empty(model, "continuing_subword_prefix", name))) return rc;
  if ((rc = check_null_or_empty(model, "end_of_word_suffix", name))) return rc;
  const json_t *bf = json_object_get(model, "byte_fallback");
  if (json_is_true(bf)) return zr_seterr(-EINVAL, "%s: model.byte_fallback: true is not supported", name);
  tok->fuse_unk = json_is_true(json_object_get(model, "fuse_unk"));
  tok->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
  return 0;
}

static int load_vocab(zr_tok *tok, const json_t *vocab, const char *name) {
  const char *key;
  size_t klen;
  json_t *v;
  json_object_keylen_foreach((json_t *)vocab, key, klen, v) {
    json_int_t id = json_integer_value(v);
    if (!json_is_integer(v) || id < 0 || id >= tok->n_entries)
      return zr_seterr(-EINVAL, "%s: model.vocab['%s']: expected an id in [0, %d)", name, key, tok->n_entries);
    if (tok->entries[id].flags & TOK_E_USED)
      return zr_seterr(-EINVAL, "%s: model.vocab['%s']: id %lld is also '%.*s'", name, key, (long long)id,
                       (int)tok->entries[id].str_len, tok_str(tok, (int32_t)id));
    int rc = set_entry(tok, (int32_t)id, key, klen, TOK_E_MODEL);
    if (rc) return rc;
    tok_idmap_put(&tok->by_str, tok, 0, key, klen, (int32_t)id);
    if (tok->entries[id].flags & TOK_E_BYTES) {
      int32_t old = tok_idmap_put(&tok->by_bytes, tok, 1, tok_bytes(tok, (int32_t)id), tok->entries[id].bytes_len,
                                  (int32_t)id);
      (void)old; /* ByteLevel is a bijection: distinct strings never share bytes */
    }
  }
  return 0;
}

static int32_t model_id(const zr_tok *tok, const char *s, size_t n) {
  int32_t id = tok_idmap_get(&tok->by_str, tok, 0, s, n);
  return id >= 0 && (tok->entries[id].flags & TOK_E_MODEL) ? id : -1;
}

static int load_merges(zr_tok *tok, const json_t *merges, const char *name) {
  size_t n = json_array_size(merges);
  int rc = tok_merges_init(&tok->merges, n);
  if (rc) return rc;
  tok_buf cat = {0};
  for (size_t i = 0; i < n && !rc; i++) {
    const json_t *m = json_array_get(merges, i);
    const char *a, *b;
    size_t alen, blen;
    if (json_is_string(m)) {
      a = json_string_value(m);
      const char *sp = memchr(a, ' ', json_string_length(m));
      if (!sp || memchr(sp + 1, ' ', json_string_length(m) - (size_t)(sp + 1 - a))) {
        rc = zr_seterr(-EINVAL, "%s: model.merges[%zu]: '%s' is not two tokens separated by one space", name, i, a);
        break;
      }
      alen = (size_t)(sp - a);
      b = sp + 1;
      blen = json_string_length(m) - alen - 1;
    } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
               json_is_string(json_array_get(m, 1))) {
      a = json_string_value(json_array_get(m, 0));
      alen = json_string_length(json_array_get(m, 0));
      b = json_string_value(json_array_get(m, 1));
      blen = json_string_length(json_array_get(m, 1));
    } else {
      rc = zr_seterr(-EINVAL, "%s: model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", name, i);
      break;
    }
    int32_t ia = model_id(tok, a, alen), ib = model_id(tok, b, blen);
    cat.len = 0;
    if ((rc = tok_buf_append(&cat, a, alen)) || (rc = tok_buf_append(&cat, b, blen))) break;
    int32_t im = model_id(tok, cat.p, cat.len);
    if (ia < 0 || ib < 0 || im < 0) {
      const char *missing = ia < 0 ? a : ib < 0 ? b : cat.p;
      int mlen = (int)(ia < 0 ? alen : ib < 0 ? blen : cat.len);
      rc = zr_seterr(-EINVAL, "%s: model.merges[%zu]: '%.*s' is not in model.vocab", name, i, mlen, missing);
      break;
    }
    tok_merges_put(&tok->merges, ia, ib, (uint32_t)i, im);
  }
  tok_buf_release(&cat);
  return rc;
}

/* ---- added tokens --------------------------------------------------------------------- */

typedef struct {
  const json_t *json;
  const char *content;
  size_t len;
  int32_t id;
  int special, single_word, lstrip, rstrip, normalized;
} added_def;

static int flag(const json_t *o, const char *key, int def, const char *name, size_t i, int *out) {
  const json_t *v = json_object_get(o, key);
  if (!v) {
    *out = def;
    return 0;
  }
  if (!json_is_boolean(v)) return zr_seterr(-EINVAL, "%s: added_tokens[%zu].%s: expected true or false", name, i, key);
  *out = json_is_true(v);
  return 0;
}

/* Reads added_tokens and assigns ids as HF does; model_size is the number of vocab entries. */
static int read_added(const json_t *list, size_t model_size, const zr_tok *tok, const char *name, added_def **out,
                      size_t *n_out, int64_t *max_id) {
  size_t n = json_array_size(list);
  added_def *defs = calloc(n ? n : 1, sizeof *defs);
  if (!defs) return zr_seterr(-ENOMEM, "tokenizer: out of memory");
  size_t k = 0;
  int64_t top = -1; /* largest id in HF's added-token map so far */
  for (size_t i = 0; i < n; i++) {
    const json_t *o = json_array_get(list, i);
    const json_t *c = json_object_get(o, "content"), *id = json_object_get(o, "id");
    if (!json_is_object(o) || !json_is_string(c) || !json_is_integer(id)) {
      free(defs);
      return zr_seterr(-EINVAL, "%s: added_tokens[%zu]: expected an object with \"id\" and \"content\"", name, i);
    }
    added_def d = {.json = o, .content = json_string_value(c), .len = json_string_length(c)};
    int rc;
    if ((rc = flag(o, "special", 0, name, i, &d.special)) || (rc = flag(o, "single_word", 0, name, i, &d.single_word)) ||
        (rc = flag(o, "lstrip", 0, name, i, &d.lstrip)) || (rc = flag(o, "rstrip", 0, name, i, &d.rstrip)) ||
        (rc = flag(o, "normalized", !d.special, name, i, &d.normalized))) {
      free(defs);
      return rc;
    }
    if (d.len == 0) continue; /* HF ignores empty tokens */
    /* the id HF gives it: an existing token's, else the next free one */
    int32_t have = tok_idmap_get(&tok->by_str, tok, 0, d.content, d.len);
    size_t j;
    for (j = 0; j < k; j++)
      if (defs[j].len == d.len && memcmp(defs[j].content, d.content, d.len) == 0) break;
    if (have >= 0) d.id = have;
    else if (j < k) d.id = defs[j].id;
    else if (top < 0) d.id = (int32_t)model_size;
    else d.id = (int32_t)(top >= (int64_t)model_size || model_size == 0 ? top + 1 : (int64_t)model_size);
    if (d.id > top) top = d.id;
    if (d.id != json_integer_value(id))
      ZR_WARN("tokenizer", "%s: added_tokens[%zu] '%s' has id %lld in the file but gets id %d (as in HF tokenizers)",
              name, i, d.content, (long long)json_integer_value(id), d.id);
    if (d.id >= TOK_MAX_ID) {
      free(defs);
      return zr_seterr(-EINVAL, "%s: added_tokens[%zu]: id %d is out of range", name, i, d.id);
    }
    if (d.id > *max_id) *max_id = d.id;
    if (j < k) defs[j] = d; /* the same content again: its later flags win */
    else defs[k++] = d;
  }
  *out = defs;
  *n_out = k;
  return 0;
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return x < y ? -1 : x > y;
}

/* Enters added tokens into the vocabulary and builds the two matchers. */
static int install_added(zr_tok *tok, const added_def *defs, size_t n) {
  tok_added *raw = calloc(n ? n : 1, sizeof *raw), *norm = calloc(n ? n : 1, sizeof *norm);
  tok->special_ids = calloc(n ? n : 1, sizeof *tok->special_ids);
  int rc = 0;
  if (!raw || !norm || !tok->special_ids) rc = zr_seterr(-ENOMEM, "tokenizer: out of memory");
  size_t nraw = 0, nnorm = 0;
  tok_buf nfc = {0};
  int32_t *cps = NULL;
  size_t cps_cap = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    const added_def *d = &defs[i];
    zr_tok_entry *e = &tok->entries[d->id];
    if ((e->flags & TOK_E_USED) && (e->str_len != d->len || memcmp(tok_str(tok, d->id), d->content, d->len) != 0)) {
      rc = zr_seterr(-EINVAL, "tokenizer: added token '%s' gets id %d, which model.vocab gives to '%.*s'", d->content,
                     d->id, (int)e->str_len, tok_str(tok, d->id));
      break;
    }
    if (!(e->flags & TOK_E_USED)) {
      if ((rc = set_entry(tok, d->id, d->content, d->len, TOK_E_ADDED))) break;
      tok_idmap_put(&tok->by_str, tok, 0, d->content, d->len, d->id);
    }
    e->flags |= TOK_E_ADDED;
    if (d->special) {
      e->flags |= TOK_E_SPECIAL;
      tok->special_ids[tok->n_special++] = d->id;
    }
    tok_added t = {.id = d->id, .off = e->str_off, .len = e->str_len, .special = (uint8_t)d->special,
                   .single_word = (uint8_t)d->single_word, .lstrip = (uint8_t)d->lstrip, .rstrip = (uint8_t)d->rstrip};
    if (d->normalized && tok->nfc) { /* match the NFC form of the content */
      if ((rc = tok_nfc(d->content, d->len, &nfc, &cps, &cps_cap))) break;
      t.off = (uint32_t)tok->arena.len;
      t.len = (uint32_t)nfc.len;
      if ((rc = tok_buf_append(&tok->arena, nfc.p, nfc.len + 1))) break; /* with its NUL */
    }
    if (d->normalized) norm[nnorm++] = t;
    else raw[nraw++] = t;
  }
  if (!rc) rc = tok_matcher_build(&tok->raw_added, raw, nraw, tok);
  if (!rc) rc = tok_matcher_build(&tok->norm_added, norm, nnorm, tok);
  if (!rc && tok->n_special) {
    qsort(tok->special_ids, tok->n_special, sizeof *tok->special_ids, cmp_i32);
    size_t u = 1;
    for (size_t i = 1; i < tok->n_special; i++)
      if (tok->special_ids[i] != tok->special_ids[u - 1]) tok->special_ids[u++] = tok->special_ids[i];
    tok->n_special = u;
  }
  free(raw);
  free(norm);
  free(cps);
  tok_buf_release(&nfc);
  return rc;
}

/* ---- tokenizer_config.json / generation_config.json ------------------------------------ */

static int config_token(const zr_tok *tok, const json_t *cfg, const char *key, const char *cname, int32_t *out) {
  *out = -1;
  const json_t *v = json_object_get(cfg, key);
  if (json_is_object(v)) v = json_object_get(v, "content"); /* {"content": ..., "lstrip": ...} */
  if (!v || json_is_null(v)) return 0;
  if (!json_is_string(v)) return zr_seterr(-EINVAL, "%s: %s: expected a string or null", cname, key);
  *out = zr_tok_token_to_id(tok, json_string_value(v), json_string_length(v));
  if (*out < 0) return zr_seterr(-EINVAL, "%s: %s: '%s' is not a token", cname, key, json_string_value(v));
  return 0;
}

static void add_eos(zr_tok *tok, int32_t id) {
  for (size_t i = 0; i < tok->n_eos; i++)
    if (tok->eos_ids[i] == id) return;
  if (tok->n_eos < TOK_MAX_EOS) tok->eos_ids[tok->n_eos++] = id;
}

static int load_config(zr_tok *tok, const json_t *cfg, const char *cname) {
  if (!json_is_object(cfg)) return zr_seterr(-EINVAL, "%s: expected a JSON object", cname);
  int rc;
  if ((rc = config_token(tok, cfg, "bos_token", cname, &tok->bos_id))) return rc;
  if ((rc = config_token(tok, cfg, "eos_token", cname, &tok->eos_id))) return rc;
  if ((rc = config_token(tok, cfg, "pad_token", cname, &tok->pad_id))) return rc;
  if (tok->eos_id >= 0) add_eos(tok, tok->eos_id);
  if (!tok->has_template) { /* tokenizer_config's add_bos_token / add_eos_token */
    if (json_is_true(json_object_get(cfg, "add_bos_token")) && tok->bos_id >= 0) {
      if (!(tok->prefix_ids = malloc(sizeof *tok->prefix_ids))) return zr_seterr(-ENOMEM, "tokenizer: out of memory");
      tok->prefix_ids[tok->n_prefix++] = tok->bos_id;
    }
    if (json_is_true(json_object_get(cfg, "add_eos_token")) && tok->eos_id >= 0) {
      if (!(tok->suffix_ids = malloc(sizeof *tok->suffix_ids))) return zr_seterr(-ENOMEM, "tokenizer: out of memory");
      tok->suffix_ids[tok->n_suffix++] = tok->eos_id;
    }
  }
  return 0;
}

static int load_generation_config(zr_tok *tok, const json_t *gen, const char *gname) {
  const json_t *v = json_object_get(gen, "eos_token_id");
  if (!v || json_is_null(v)) return 0;
  size_t n = json_is_array(v) ? json_array_size(v) : 1;
  for (size_t i = 0; i < n; i++) {
    const json_t *x = json_is_array(v) ? json_array_get(v, i) : v;
    json_int_t id = json_integer_value(x);
    if (!json_is_integer(x) || id < 0 || id >= tok->n_entries || !(tok->entries[id].flags & TOK_E_USED))
      return zr_seterr(-EINVAL, "%s: eos_token_id: expected token ids", gname);
    add_eos(tok, (int32_t)id);
  }
  return 0;
}

/* ---- the whole file ------------------------------------------------------------------- */

static int null_or_absent(const json_t *root, const char *key, const char *name) {
  const json_t *v = json_object_get(root, key);
  if (!v || json_is_null(v)) return 0;
  return zr_seterr(-EINVAL, "%s: %s: %s settings are not supported (must be null)", name, key, key);
}

static int build(zr_tok *tok, const json_t *root, const json_t *cfg, const json_t *gen, const char *name,
                 const char *cname, const char *gname) {
  if (!json_is_object(root)) return zr_seterr(-EINVAL, "%s: expected a JSON object", name);
  int rc;
  if ((rc = null_or_absent(root, "truncation", name)) || (rc = null_or_absent(root, "padding", name))) return rc;
  const json_t *model = json_object_get(root, "model");
  if (!json_is_object(model)) return zr_seterr(-EINVAL, "%s: model: missing or not an object", name);
  if ((rc = model_flags(tok, model, name))) return rc;
  const json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
  if (!json_is_object(vocab)) return zr_seterr(-EINVAL, "%s: model.vocab: missing or not an object", name);
  if (!json_is_array(merges)) return zr_seterr(-EINVAL, "%s: model.merges: missing or not an array", name);
  const json_t *added = json_object_get(root, "added_tokens");
  if (added && !json_is_null(added) && !json_is_array(added))
    return zr_seterr(-EINVAL, "%s: added_tokens: expected an array", name);

  /* ids: the model vocabulary first, then the added tokens on top */
  size_t nvocab = json_object_size(vocab);
  int64_t max_id = -1;
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)vocab, key, v) {
    if (json_is_integer(v) && json_integer_value(v) > max_id) max_id = json_integer_value(v);
  }
  if (max_id >= TOK_MAX_ID || max_id >= 8 * (int64_t)nvocab + 1024)
    return zr_seterr(-EINVAL, "%s: model.vocab: id %lld is out of range for %zu tokens", name, (long long)max_id, nvocab);
  /* the maps are sized for the vocabulary plus added tokens before entries exist */
  size_t nadded_json = json_array_size(added);
  if ((rc = tok_idmap_init(&tok->by_str, nvocab + nadded_json)) || (rc = tok_idmap_init(&tok->by_bytes, nvocab)))
    return rc;
  if ((rc = alloc_entries(tok, max_id + 1)) || (rc = load_vocab(tok, vocab, name))) return rc;
  added_def *defs = NULL;
  size_t ndefs = 0;
  int64_t max_all = max_id;
  if ((rc = read_added(added, nvocab, tok, name, &defs, &ndefs, &max_all))) return rc;
  if (max_all > max_id) { /* grow the entry table for ids above the vocabulary */
    zr_tok_entry *e = realloc(tok->entries, (size_t)(max_all + 1) * sizeof *e);
    if (!e) rc = zr_seterr(-ENOMEM, "tokenizer: out of memory");
    else {
      memset(e + tok->n_entries, 0, (size_t)(max_all + 1 - tok->n_entries) * sizeof *e);
      tok->entries = e;
      tok->n_entries = (int32_t)(max_all + 1);
    }
  }
  if (!rc) rc = load_merges(tok, merges, name);
  if (!rc) rc = tok_load_normalizer(tok, json_object_get(root, "normalizer"), name, "normalizer");
  if (!rc) rc = install_added(tok, defs, ndefs);
  free(defs);
  if (rc) return rc;

  for (int b = 0; b < 256; b++) {
    char s[2];
    tok->byte_id[b] = model_id(tok, s, tok_bytelevel_encode((const char *)&(char){(char)b}, 1, s));
  }
  tok->unk_id = -1;
  const json_t *unk = json_object_get(model, "unk_token");
  if (json_is_string(unk)) {
    tok->unk_id = model_id(tok, json_string_value(unk), json_string_length(unk));
    if (tok->unk_id < 0)
      return zr_seterr(-EINVAL, "%s: model.unk_token: '%s' is not in model.vocab", name, json_string_value(unk));
  }
  if ((rc = tok_load_pre_tokenizer(tok, json_object_get(root, "pre_tokenizer"), name))) return rc;
  if ((rc = tok_load_decoder(json_object_get(root, "decoder"), name, "decoder"))) return rc;
  if ((rc = tok_load_post_processor(tok, json_object_get(root, "post_processor"), name, "post_processor"))) return rc;
  if (cfg && (rc = load_config(tok, cfg, cname))) return rc;
  if (gen && (rc = load_generation_config(tok, gen, gname))) return rc;
  return 0;
}

static int build_new(zr_tok **out, const json_t *root, const json_t *cfg, const json_t *gen, const char *name,
                     const char *cname, const char *gname) {
  zr_tok *tok = calloc(1, sizeof *tok);
  if (!tok) return zr_seterr(-ENOMEM, "tokenizer: out of memory");
  tok->bos_id = tok->eos_id = tok->pad_id = tok->unk_id = -1;
  int rc = build(tok, root, cfg, gen, name, cname, gname);
  if (rc) {
    zr_tok_free(&tok);
    return rc;
  }
  *out = tok;
  return 0;
}

void zr_tok_free(zr_tok **tokp) {
  zr_tok *tok = *tokp;
  if (!tok) return;
  free(tok->entries);
  tok_buf_release(&tok->arena);
  tok_idmap_release(&tok->by_str);
  tok_idmap_release(&tok->by_bytes);
  tok_merges_release(&tok->merges);
  tok_matcher_release(&tok->raw_added);
  tok_matcher_release(&tok->norm_added);
  for (int i = 0; i < tok->n_stages; i++) tok_stage_release(&tok->stages[i]);
  free(tok->special_ids);
  free(tok->prefix_ids);
  free(tok->suffix_ids);
  free(tok);
  *tokp = NULL;
}

#define TOK_JSON_FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

int zr_tok_parse(zr_tok **out, const char *json, size_t len, const char *config, size_t config_len,
                 const char *name) {
  *out = NULL;
  json_error_t e;
  json_t *root = json_loadb(json, len, TOK_JSON_FLAGS, &e);
  if (!root) return zr_seterr(-EINVAL, "%s:%d:%d: %s", name, e.line, e.column, e.text);
  json_t *cfg = NULL;
  int rc = 0;
  if (config) {
    cfg = json_loadb(config, config_len, TOK_JSON_FLAGS, &e);
    if (!cfg) rc = zr_seterr(-EINVAL, "%s (tokenizer_config):%d:%d: %s", name, e.line, e.column, e.text);
  }
  if (!rc) rc = build_new(out, root, cfg, NULL, name, "tokenizer_config", NULL);
  json_decref(root);
  json_decref(cfg);
  return rc;
}

/* Loads dir/file if it exists; *v stays NULL when it does not. */
static int load_optional(const char *dir, const char *file, char *path, size_t cap, json_t **v) {
  *v = NULL;
  if ((size_t)snprintf(path, cap, "%s/%s", dir, file) >= cap)
    return zr_seterr(-ENAMETOOLONG, "%s/%s: path too long", dir, file);
  struct stat st;
  if (stat(path, &st) != 0) return 0;
  json_error_t e;
  *v = json_load_file(path, TOK_JSON_FLAGS, &e);
  if (!*v) return zr_seterr(-EINVAL, "%s:%d:%d: %s", path, e.line, e.column, e.text);
  return 0;
}

int zr_tok_load(zr_tok **out, const char *path) {
  *out = NULL;
  struct stat st;
  if (stat(path, &st) != 0) return zr_seterr(-ENOENT, "%s: no such file or directory", path);
  char file[4096], dir[4096], cpath[4096], gpath[4096];
  if (S_ISDIR(st.st_mode)) {
    snprintf(dir, sizeof dir, "%s", path);
    snprintf(file, sizeof file, "%s/tokenizer.json", path);
    if (stat(file, &st) != 0) return zr_seterr(-ENOENT, "%s: no tokenizer.json in this directory", path);
  } else {
    snprintf(file, sizeof file, "%s", path);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
  }
  json_error_t e;
  json_t *root = json_load_file(file, TOK_JSON_FLAGS, &e);
  if (!root) return zr_seterr(-EINVAL, "%s:%d:%d: %s", file, e.line, e.column, e.text);
  json_t *cfg = NULL, *gen = NULL;
  int rc = load_optional(dir, "tokenizer_config.json", cpath, sizeof cpath, &cfg);
  if (!rc) rc = load_optional(dir, "generation_config.json", gpath, sizeof gpath, &gen);
  if (!rc) rc = build_new(out, root, cfg, gen, file, cpath, gpath);
  json_decref(root);
  json_decref(cfg);
  json_decref(gen);
  return rc;
}
