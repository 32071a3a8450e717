/* tok_load_pipeline.c: the tokenizer.json sections around the model: normalizer,
 * pre_tokenizer, decoder and post_processor. Each accepts the forms byte-level BPE tokenizers
 * use and refuses anything else with an error naming the JSON path and what is supported, so
 * that a tokenizer zerorl cannot reproduce exactly is never used silently. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/tok_internal.h"

static const char *type_of(const json_t *v) {
  const json_t *t = json_object_get(v, "type");
  return json_is_string(t) ? json_string_value(t) : NULL;
}

/* Requires an object with a string "type"; returns it or NULL with the error set. */
static const char *require_type(const json_t *v, const char *name, const char *where, int *rc) {
  if (!json_is_object(v)) {
    *rc = zr_seterr(-EINVAL, "%s: %s: expected an object", name, where);
    return NULL;
  }
  const char *t = type_of(v);
  if (!t) *rc = zr_seterr(-EINVAL, "%s: %s.type: missing or not a string", name, where);
  return t;
}

/* Optional boolean member: absent or null gives def. */
static int get_bool(const json_t *v, const char *key, int def, const char *name, const char *where, int *out) {
  const json_t *b = json_object_get(v, key);
  if (!b || json_is_null(b)) {
    *out = def;
    return 0;
  }
  if (!json_is_boolean(b)) return zr_seterr(-EINVAL, "%s: %s.%s: expected true or false", name, where, key);
  *out = json_is_true(b);
  return 0;
}

/* ---- normalizer ----------------------------------------------------------------------- */

int tok_load_normalizer(zr_tok *tok, const json_t *v, const char *name, const char *where) {
  if (!v || json_is_null(v)) return 0;
  int rc = 0;
  const char *type = require_type(v, name, where, &rc);
  if (!type) return rc;
  if (strcmp(type, "NFC") == 0) {
    tok->nfc = 1;
    return 0;
  }
  if (strcmp(type, "Sequence") == 0) {
    const json_t *list = json_object_get(v, "normalizers");
    if (!json_is_array(list)) return zr_seterr(-EINVAL, "%s: %s.normalizers: expected an array", name, where);
    for (size_t i = 0; i < json_array_size(list); i++) {
      char sub[256];
      snprintf(sub, sizeof sub, "%s.normalizers[%zu]", where, i);
      if ((rc = tok_load_normalizer(tok, json_array_get(list, i), name, sub))) return rc;
    }
    return 0;
  }
  return zr_seterr(-EINVAL, "%s: %s.type: %s is not supported (supported: NFC, Sequence)", name, where, type);
}

/* ---- pre_tokenizer -------------------------------------------------------------------- */

static int add_stage(zr_tok *tok, const char *name, const char *where, tok_stage **out) {
  if (tok->n_stages == TOK_MAX_STAGES)
    return zr_seterr(-EINVAL, "%s: %s: more than %d pre-tokenizers are not supported", name, where, TOK_MAX_STAGES);
  *out = &tok->stages[tok->n_stages++];
  memset(*out, 0, sizeof **out);
  return 0;
}

static void note_captures(zr_tok *tok, const tok_stage *st) {
  uint32_t caps = 0;
  if (st->re && pcre2_pattern_info(st->re, PCRE2_INFO_CAPTURECOUNT, &caps) == 0 && caps + 1 > tok->max_ovector)
    tok->max_ovector = caps + 1;
}

static int load_split(zr_tok *tok, const json_t *v, const char *name, const char *where) {
  const json_t *pat = json_object_get(v, "pattern");
  const json_t *re = json_object_get(pat, "Regex"), *lit = json_object_get(pat, "String");
  const json_t *p = json_is_string(re) ? re : json_is_string(lit) ? lit : NULL;
  if (!json_is_object(pat) || !p)
    return zr_seterr(-EINVAL, "%s: %s.pattern: expected {\"Regex\": ...} or {\"String\": ...}", name, where);
  const json_t *beh = json_object_get(v, "behavior");
  if (!json_is_string(beh)) return zr_seterr(-EINVAL, "%s: %s.behavior: missing or not a string", name, where);
  if (strcmp(json_string_value(beh), "Isolated") != 0)
    return zr_seterr(-EINVAL, "%s: %s.behavior: %s is not supported (only Isolated)", name, where,
                     json_string_value(beh));
  int invert = 0, rc;
  if ((rc = get_bool(v, "invert", 0, name, where, &invert))) return rc;
  if (invert) return zr_seterr(-EINVAL, "%s: %s.invert: true is not supported", name, where);
  tok_stage *st = NULL;
  if ((rc = add_stage(tok, name, where, &st))) return rc;
  char w[300];
  snprintf(w, sizeof w, "%s.pattern", where);
  if ((rc = tok_stage_compile(st, json_string_value(p), json_string_length(p), p == lit, name, w))) return rc;
  note_captures(tok, st);
  return 0;
}

static int load_pretok(zr_tok *tok, const json_t *v, const char *name, const char *where, int *bytelevel) {
  int rc = 0;
  const char *type = require_type(v, name, where, &rc);
  if (!type) return rc;
  if (strcmp(type, "Sequence") == 0) {
    const json_t *list = json_object_get(v, "pretokenizers");
    if (!json_is_array(list)) return zr_seterr(-EINVAL, "%s: %s.pretokenizers: expected an array", name, where);
    for (size_t i = 0; i < json_array_size(list); i++) {
      char sub[256];
      snprintf(sub, sizeof sub, "%s.pretokenizers[%zu]", where, i);
      if ((rc = load_pretok(tok, json_array_get(list, i), name, sub, bytelevel))) return rc;
    }
    return 0;
  }
  if (strcmp(type, "Split") == 0) {
    if (*bytelevel)
      return zr_seterr(-EINVAL, "%s: %s: a Split after the ByteLevel pre-tokenizer is not supported", name, where);
    return load_split(tok, v, name, where);
  }
  if (strcmp(type, "ByteLevel") == 0) {
    if (*bytelevel) return zr_seterr(-EINVAL, "%s: %s: a second ByteLevel pre-tokenizer is not supported", name, where);
    *bytelevel = 1;
    int prefix = 1, use_regex = 1;
    if ((rc = get_bool(v, "add_prefix_space", 1, name, where, &prefix))) return rc;
    if ((rc = get_bool(v, "use_regex", 1, name, where, &use_regex))) return rc;
    tok_stage *st = NULL;
    if ((rc = add_stage(tok, name, where, &st))) return rc;
    st->add_prefix_space = prefix;
    if (use_regex) {
      if ((rc = tok_stage_compile(st, tok_gpt2_pattern, strlen(tok_gpt2_pattern), 0, name, where))) return rc;
      note_captures(tok, st);
    }
    return 0;
  }
  return zr_seterr(-EINVAL, "%s: %s.type: %s is not supported (supported: Sequence, Split, ByteLevel)", name, where,
                   type);
}

int tok_load_pre_tokenizer(zr_tok *tok, const json_t *v, const char *name) {
  if (!v || json_is_null(v))
    return zr_seterr(-EINVAL, "%s: pre_tokenizer: null is not supported (byte-level BPE needs a ByteLevel pre-tokenizer)",
                     name);
  int bytelevel = 0;
  int rc = load_pretok(tok, v, name, "pre_tokenizer", &bytelevel);
  if (rc) return rc;
  if (!bytelevel)
    return zr_seterr(-EINVAL, "%s: pre_tokenizer: no ByteLevel pre-tokenizer (only byte-level BPE is supported)", name);
  return 0;
}

/* ---- decoder -------------------------------------------------------------------------- */

int tok_load_decoder(const json_t *v, const char *name, const char *where) {
  if (!v || json_is_null(v))
    return zr_seterr(-EINVAL, "%s: %s: null is not supported (byte-level BPE needs the ByteLevel decoder)", name, where);
  int rc = 0;
  const char *type = require_type(v, name, where, &rc);
  if (!type) return rc;
  if (strcmp(type, "ByteLevel") == 0) return 0;
  if (strcmp(type, "Sequence") == 0) {
    const json_t *list = json_object_get(v, "decoders");
    if (!json_is_array(list) || json_array_size(list) != 1)
      return zr_seterr(-EINVAL, "%s: %s.decoders: only a Sequence of one ByteLevel decoder is supported", name, where);
    char sub[256];
    snprintf(sub, sizeof sub, "%s.decoders[0]", where);
    return tok_load_decoder(json_array_get(list, 0), name, sub);
  }
  return zr_seterr(-EINVAL, "%s: %s.type: %s is not supported (supported: ByteLevel)", name, where, type);
}

/* ---- post_processor ------------------------------------------------------------------- */

static int valid_token(const zr_tok *tok, json_int_t id) {
  return id >= 0 && id < tok->n_entries && (tok->entries[id].flags & TOK_E_USED);
}

static int template_piece(zr_tok *tok, const json_t *item, const json_t *specials, int after_a, const char *name,
                          const char *where) {
  const json_t *sp = json_object_get(item, "SpecialToken");
  const json_t *seq = json_object_get(item, "Sequence");
  if (json_is_object(seq)) {
    const json_t *sid = json_object_get(seq, "id");
    if (!json_is_string(sid) || strcmp(json_string_value(sid), "A") != 0)
      return zr_seterr(-EINVAL, "%s: %s.Sequence.id: expected \"A\" in the single template", name, where);
    if (after_a) return zr_seterr(-EINVAL, "%s: %s: sequence A appears twice", name, where);
    return 1;
  }
  const json_t *nm = json_object_get(sp, "id");
  if (!json_is_object(sp) || !json_is_string(nm))
    return zr_seterr(-EINVAL, "%s: %s: expected {\"SpecialToken\": {\"id\": ...}} or {\"Sequence\": ...}", name, where);
  const json_t *def = json_object_get(specials, json_string_value(nm));
  const json_t *ids = json_object_get(def, "ids");
  if (!json_is_array(ids))
    return zr_seterr(-EINVAL, "%s: %s: special token '%s' is not in special_tokens (or has no ids)", name, where,
                     json_string_value(nm));
  size_t n = json_array_size(ids);
  int32_t **dst = after_a ? &tok->suffix_ids : &tok->prefix_ids;
  size_t *cnt = after_a ? &tok->n_suffix : &tok->n_prefix;
  int32_t *p = realloc(*dst, (*cnt + n + 1) * sizeof *p);
  if (!p) return zr_seterr(-ENOMEM, "tokenizer: out of memory");
  *dst = p;
  for (size_t i = 0; i < n; i++) {
    const json_t *x = json_array_get(ids, i);
    if (!json_is_integer(x) || !valid_token(tok, json_integer_value(x)))
      return zr_seterr(-EINVAL, "%s: %s: special_tokens['%s'].ids[%zu] is not a token id", name, where,
                       json_string_value(nm), i);
    p[(*cnt)++] = (int32_t)json_integer_value(x);
  }
  return 0;
}

static int load_template(zr_tok *tok, const json_t *v, const char *name, const char *where) {
  if (tok->has_template)
    return zr_seterr(-EINVAL, "%s: %s: a second TemplateProcessing is not supported", name, where);
  const json_t *single = json_object_get(v, "single");
  const json_t *specials = json_object_get(v, "special_tokens");
  if (!json_is_array(single)) return zr_seterr(-EINVAL, "%s: %s.single: expected an array", name, where);
  int after_a = 0;
  for (size_t i = 0; i < json_array_size(single); i++) {
    char sub[300];
    snprintf(sub, sizeof sub, "%s.single[%zu]", where, i);
    int rc = template_piece(tok, json_array_get(single, i), specials, after_a, name, sub);
    if (rc < 0) return rc;
    if (rc == 1) after_a = 1;
  }
  if (!after_a) return zr_seterr(-EINVAL, "%s: %s.single: no {\"Sequence\": {\"id\": \"A\"}}", name, where);
  tok->has_template = 1;
  return 0;
}

int tok_load_post_processor(zr_tok *tok, const json_t *v, const char *name, const char *where) {
  if (!v || json_is_null(v)) return 0;
  int rc = 0;
  const char *type = require_type(v, name, where, &rc);
  if (!type) return rc;
  if (strcmp(type, "ByteLevel") == 0) return 0; /* changes offsets only */
  if (strcmp(type, "TemplateProcessing") == 0) return load_template(tok, v, name, where);
  if (strcmp(type, "Sequence") == 0) {
    const json_t *list = json_object_get(v, "processors");
    if (!json_is_array(list)) return zr_seterr(-EINVAL, "%s: %s.processors: expected an array", name, where);
    for (size_t i = 0; i < json_array_size(list); i++) {
      char sub[256];
      snprintf(sub, sizeof sub, "%s.processors[%zu]", where, i);
      if ((rc = tok_load_post_processor(tok, json_array_get(list, i), name, sub))) return rc;
    }
    return 0;
  }
  return zr_seterr(-EINVAL, "%s: %s.type: %s is not supported (supported: ByteLevel, TemplateProcessing, Sequence)",
                   name, where, type);
}
