/* hf_config.c: reading config.json (hf_config.h).
 *
 * What a missing key means follows transformers 5 (the config class defaults of Qwen2Config,
 * Qwen3Config and LlamaConfig, and RotaryEmbeddingConfigMixin for the rope keys), so a config
 * is read here as the same model transformers builds from it. Both layouts are read: the
 * legacy one (top-level rope_theta, rope_scaling, torch_dtype) and the transformers-5 one
 * (rope_parameters holding rope_theta, dtype). Keys the engine cannot honour are refused by
 * name; keys that do not change the model (initializer_range, use_cache, ...) are ignored, and
 * keys nobody here knows are ignored with a warning. The writer is in hf_config_write.c and
 * the rotary frequencies in rope.c. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "model/hf_config.h"

static const struct {
  const char *arch, *model_type;
  /* transformers' class defaults for keys a config.json may leave out */
  int vocab, hidden, inter, layers, heads, kv_heads, head_dim, max_pos, bos, eos;
} archs[] = {
    [ZR_ARCH_QWEN2] = {"Qwen2ForCausalLM", "qwen2", 151936, 4096, 22016, 32, 32, 32, 0, 32768, -1, -1},
    [ZR_ARCH_QWEN3] = {"Qwen3ForCausalLM", "qwen3", 151936, 4096, 22016, 32, 32, 32, 128, 32768, -1, -1},
    [ZR_ARCH_LLAMA] = {"LlamaForCausalLM", "llama", 32000, 4096, 11008, 32, 32, 0, 0, 2048, 1, 2},
};
#define N_ARCHS ((int)(sizeof archs / sizeof archs[0]))

const char *zr_arch_name(zr_arch a) { return (unsigned)a < (unsigned)N_ARCHS ? archs[a].arch : "?"; }

/* Keys read below, and keys that do not change the model. Anything else gets a warning. */
static const char *const known_keys[] = {
    "architectures", "model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act", "max_position_embeddings",
    "rope_theta", "rope_scaling", "rope_parameters", "partial_rotary_factor", "original_max_position_embeddings",
    "rms_norm_eps", "tie_word_embeddings", "attention_bias", "mlp_bias", "use_sliding_window", "sliding_window",
    "max_window_layers", "layer_types", "bos_token_id", "eos_token_id", "torch_dtype", "dtype",
    "quantization_config", "use_mrope", "attention_dropout",
    /* no effect on the model */
    "pad_token_id", "initializer_range", "use_cache", "transformers_version", "_name_or_path", "pretraining_tp",
    "output_attentions", "output_hidden_states", "return_dict", "id2label", "label2id", "problem_type",
    "is_encoder_decoder", "chunk_size_feed_forward", "torchscript", "tie_encoder_decoder", "tokenizer_class",
    "prefix", "sep_token_id", "decoder_start_token_id", "task_specific_params", "finetuning_task",
    "use_bfloat16", "_attn_implementation_autoset", "unsloth_version", "keys_to_ignore_at_inference",
    "max_length", "min_length", "do_sample", "temperature", "top_p", "top_k", "num_beams", "repetition_penalty",
    "bad_words_ids", "add_cross_attention", "cross_attention_hidden_size", "is_decoder", "pruned_heads",
    "tf_legacy_loss", "use_return_dict", "early_stopping", "length_penalty", "no_repeat_ngram_size",
    "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
    "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty", "suppress_tokens",
    "begin_suppress_tokens", "diversity_penalty", "num_beam_groups", "typical_p", "encoder_no_repeat_ngram_size",
    "auto_map",
};

typedef struct {
  const char *name; /* the file, for messages */
  const json_t *root;
} src;

/* ---- typed lookups: absent (and, where transformers treats it so, null) gives the default -- */

static const json_t *get(const src *s, const char *key) { return json_object_get(s->root, key); }

static int int_in(const char *name, const char *key, const json_t *v, long long lo, long long hi, int *out) {
  if (!json_is_integer(v)) return zr_seterr(-EINVAL, "%s: key '%s' must be an integer", name, key);
  long long x = json_integer_value(v);
  if (x < lo || x > hi)
    return zr_seterr(-EINVAL, "%s: key '%s' must be between %lld and %lld (got %lld)", name, key, lo, hi, x);
  *out = (int)x;
  return 0;
}

static int get_int(const src *s, const char *key, int def, long long lo, long long hi, int *out) {
  const json_t *v = get(s, key);
  if (!v) {
    *out = def;
    return 0;
  }
  return int_in(s->name, key, v, lo, hi, out);
}

static int num_in(const char *name, const char *key, const json_t *v, double lo, double *out) {
  if (!json_is_number(v)) return zr_seterr(-EINVAL, "%s: key '%s' must be a number", name, key);
  double x = json_number_value(v);
  if (!isfinite(x) || !(x > lo)) return zr_seterr(-EINVAL, "%s: key '%s' must be a number above %g (got %g)", name, key, lo, x);
  *out = x;
  return 0;
}

static int get_bool(const src *s, const char *key, bool def, bool *out) {
  const json_t *v = get(s, key);
  if (!v) {
    *out = def;
    return 0;
  }
  if (!json_is_boolean(v)) return zr_seterr(-EINVAL, "%s: key '%s' must be true or false", s->name, key);
  *out = json_is_true(v);
  return 0;
}

/* ---- the architecture ---------------------------------------------------------------------- */

static int find_arch(const src *s, zr_arch *out) {
  const json_t *a = get(s, "architectures"), *mt = get(s, "model_type");
  int by_arch = -1, by_type = -1;
  if (a && !json_is_null(a)) {
    if (!json_is_array(a) || json_array_size(a) == 0 || !json_is_string(json_array_get(a, 0)))
      return zr_seterr(-EINVAL, "%s: key 'architectures' must be a non-empty list of class names", s->name);
    const char *name = json_string_value(json_array_get(a, 0));
    for (int i = 0; i < N_ARCHS; i++)
      if (strcmp(name, archs[i].arch) == 0) by_arch = i;
    if (by_arch < 0)
      return zr_seterr(-EINVAL,
                       "%s: key 'architectures': unsupported architecture '%s' (zerorl runs Qwen2ForCausalLM, "
                       "Qwen3ForCausalLM and LlamaForCausalLM)",
                       s->name, name);
  }
  if (mt && !json_is_null(mt)) {
    if (!json_is_string(mt)) return zr_seterr(-EINVAL, "%s: key 'model_type' must be a string", s->name);
    for (int i = 0; i < N_ARCHS; i++)
      if (strcmp(json_string_value(mt), archs[i].model_type) == 0) by_type = i;
    if (by_type < 0 && by_arch < 0)
      return zr_seterr(-EINVAL, "%s: key 'model_type': unsupported model type '%s' (zerorl runs qwen2, qwen3 and llama)",
                       s->name, json_string_value(mt));
    if (by_arch >= 0 && by_type != by_arch)
      return zr_seterr(-EINVAL, "%s: key 'model_type' is '%s' but architectures names %s (model_type '%s')", s->name,
                       json_string_value(mt), archs[by_arch].arch, archs[by_arch].model_type);
  }
  if (by_arch < 0 && by_type < 0)
    return zr_seterr(-EINVAL, "%s: missing key 'architectures' (and 'model_type')", s->name);
  *out = (zr_arch)(by_arch >= 0 ? by_arch : by_type);
  return 0;
}

/* ---- rope ---------------------------------------------------------------------------------- */

/* The rope parameters: rope_scaling when it is a non-empty object, else rope_parameters (as
 * RotaryEmbeddingConfigMixin.convert_rope_params_to_dict picks them). */
static int rope_dict(const src *s, const json_t **out, const char **key) {
  *out = NULL;
  *key = NULL;
  const json_t *rs = get(s, "rope_scaling"), *rp = get(s, "rope_parameters");
  if (rs && !json_is_null(rs) && !json_is_object(rs))
    return zr_seterr(-EINVAL, "%s: key 'rope_scaling' must be an object or null", s->name);
  if (rp && !json_is_null(rp) && !json_is_object(rp))
    return zr_seterr(-EINVAL, "%s: key 'rope_parameters' must be an object or null", s->name);
  if (json_is_object(rs) && json_object_size(rs) > 0) {
    *out = rs;
    *key = "rope_scaling";
  } else if (json_is_object(rp)) {
    *out = rp;
    *key = "rope_parameters";
  }
  return 0;
}

/* A number inside the rope dict: absent/null -> *present = false. */
static int rope_num(const src *s, const json_t *d, const char *dkey, const char *key, double lo, double *out,
                    bool *present) {
  const json_t *v = d ? json_object_get(d, key) : NULL;
  *present = v && !json_is_null(v);
  if (!*present) return 0;
  char full[96];
  snprintf(full, sizeof full, "%s.%s", dkey, key);
  return num_in(s->name, full, v, lo, out);
}

static double yarn_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * log(scale) + 1.0; }

static int parse_rope(const src *s, zr_model_config *c) {
  const json_t *d;
  const char *dk;
  int rc = rope_dict(s, &d, &dk);
  if (rc) return rc;
  memset(&c->rope_scaling, 0, sizeof c->rope_scaling);
  /* theta: the dict's own, else the top-level key, else 10000 */
  const json_t *th = d ? json_object_get(d, "rope_theta") : NULL;
  const char *thk = "rope_theta";
  char full[96];
  if (th && !json_is_null(th)) {
    snprintf(full, sizeof full, "%s.rope_theta", dk);
    thk = full;
  } else {
    th = get(s, "rope_theta");
  }
  c->rope_theta = 10000.0;
  if (th && !json_is_null(th) && (rc = num_in(s->name, thk, th, 1, &c->rope_theta))) return rc;

  /* partial rotary embeddings are not implemented */
  const json_t *prf = get(s, "partial_rotary_factor");
  const char *prk = "partial_rotary_factor";
  if (d && json_object_get(d, "partial_rotary_factor")) {
    prf = json_object_get(d, "partial_rotary_factor");
    snprintf(full, sizeof full, "%s.partial_rotary_factor", dk);
    prk = full;
  }
  if (prf && !json_is_null(prf) && (!json_is_number(prf) || json_number_value(prf) != 1.0))
    return zr_seterr(-EINVAL, "%s: key '%s': partial rotary embeddings are not supported (only 1.0)", s->name, prk);
  if (!d) return 0;

  const char *type = "default", *tkey = "rope_type";
  const json_t *t = json_object_get(d, "rope_type");
  if (!t || json_is_null(t)) {
    t = json_object_get(d, "type");
    tkey = "type";
  }
  snprintf(full, sizeof full, "%s.%s", dk, tkey);
  if (t && !json_is_null(t)) {
    if (!json_is_string(t)) return zr_seterr(-EINVAL, "%s: key '%s' must be a string", s->name, full);
    type = json_string_value(t);
  }
  static const char *const kinds[] = {"default", "linear", "dynamic", "yarn", "llama3"};
  int kind = -1;
  for (int i = 0; i < 5; i++)
    if (strcmp(type, kinds[i]) == 0) kind = i;
  if (kind < 0)
    return zr_seterr(-EINVAL,
                     "%s: key '%s': rope type '%s' is not supported (zerorl implements default, linear, dynamic, "
                     "yarn and llama3)",
                     s->name, full, type);
  c->rope_scaling.kind = (zr_rope_kind)kind;

  /* keys each kind reads; others are ignored with a warning, as transformers warns */
  static const char *const allowed[5][10] = {
      {"rope_type", "type", "rope_theta", "partial_rotary_factor"},
      {"rope_type", "type", "rope_theta", "partial_rotary_factor", "factor"},
      {"rope_type", "type", "rope_theta", "partial_rotary_factor", "factor"},
      {"rope_type", "type", "rope_theta", "partial_rotary_factor", "factor", "original_max_position_embeddings",
       "attention_factor", "beta_fast", "beta_slow", "mscale"},
      {"rope_type", "type", "rope_theta", "partial_rotary_factor", "factor", "original_max_position_embeddings",
       "low_freq_factor", "high_freq_factor"},
  };
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)d, k, v) {
    if (json_is_object(v))
      return zr_seterr(-EINVAL, "%s: key '%s.%s': per-layer-type rope parameters are not supported", s->name, dk, k);
    int ok = kind == ZR_ROPE_YARN && (strcmp(k, "mscale_all_dim") == 0 || strcmp(k, "truncate") == 0);
    for (int i = 0; i < 10 && allowed[kind][i] && !ok; i++) ok = strcmp(k, allowed[kind][i]) == 0;
    if (!ok) ZR_WARN("hf_config", "%s: ignoring key '%s.%s' (not used by rope type %s)", s->name, dk, k, type);
  }
  if (kind == ZR_ROPE_DEFAULT) return 0;

  bool have;
  double factor = 0;
  if ((rc = rope_num(s, d, dk, "factor", 0, &factor, &have))) return rc;
  bool factor_null = json_is_null(json_object_get(d, "factor"));
  if (!have && !(kind == ZR_ROPE_YARN && factor_null))
    return zr_seterr(-EINVAL, "%s: missing key '%s.factor' (needed by rope type %s)", s->name, dk, type);
  if (have && factor < 1) /* transformers' validation: "factor field must be a float or int >= 1" */
    return zr_seterr(-EINVAL, "%s: key '%s.factor' must be at least 1 (got %g)", s->name, dk, factor);
  c->rope_scaling.factor = factor;

  if (kind == ZR_ROPE_LINEAR) return 0;
  if (kind == ZR_ROPE_DYNAMIC) {
    if (c->head_dim <= 2) /* the NTK exponent is dim / (dim - 2) */
      return zr_seterr(-EINVAL, "%s: key '%s': dynamic rope needs head_dim above 2 (got %d)", s->name, full,
                       c->head_dim);
    c->rope_scaling.original_max_position_embeddings = c->max_position_embeddings;
    return 0;
  }
  /* yarn and llama3: original_max_position_embeddings, top-level first (Phi3-style), then the
   * dict, then max_position_embeddings */
  int orig = c->max_position_embeddings;
  const json_t *o = get(s, "original_max_position_embeddings");
  const char *ok = "original_max_position_embeddings";
  if (!o || json_is_null(o)) {
    o = json_object_get(d, "original_max_position_embeddings");
    snprintf(full, sizeof full, "%s.original_max_position_embeddings", dk);
    ok = full;
  }
  if (o && !json_is_null(o) && (rc = int_in(s->name, ok, o, 1, INT_MAX, &orig))) return rc;
  c->rope_scaling.original_max_position_embeddings = orig;

  if (kind == ZR_ROPE_LLAMA3) {
    if ((rc = rope_num(s, d, dk, "low_freq_factor", 0, &c->rope_scaling.low_freq_factor, &have))) return rc;
    if (!have) return zr_seterr(-EINVAL, "%s: missing key '%s.low_freq_factor' (needed by rope type llama3)", s->name, dk);
    if ((rc = rope_num(s, d, dk, "high_freq_factor", 0, &c->rope_scaling.high_freq_factor, &have))) return rc;
    if (!have) return zr_seterr(-EINVAL, "%s: missing key '%s.high_freq_factor' (needed by rope type llama3)", s->name, dk);
    if (c->rope_scaling.high_freq_factor <= c->rope_scaling.low_freq_factor)
      return zr_seterr(-EINVAL, "%s: key '%s.high_freq_factor' must be above low_freq_factor", s->name, dk);
    return 0;
  }

  /* yarn */
  if (factor_null) c->rope_scaling.factor = (double)c->max_position_embeddings / orig;
  const json_t *tr = json_object_get(d, "truncate");
  if (tr && !json_is_null(tr) && !json_is_true(tr))
    return zr_seterr(-EINVAL, "%s: key '%s.truncate': only the truncated YaRN correction range (true) is supported",
                     s->name, dk);
  double bf = 0, bs = 0, af = 0, ms = 0, msa = 0;
  bool have_af, have_ms, have_msa;
  if ((rc = rope_num(s, d, dk, "beta_fast", -INFINITY, &bf, &have))) return rc;
  if (bf < 0) return zr_seterr(-EINVAL, "%s: key '%s.beta_fast' must not be negative", s->name, dk);
  c->rope_scaling.beta_fast = have && bf != 0 ? bf : 32; /* `or 32`: 0 means the default too */
  if ((rc = rope_num(s, d, dk, "beta_slow", -INFINITY, &bs, &have))) return rc;
  if (bs < 0) return zr_seterr(-EINVAL, "%s: key '%s.beta_slow' must not be negative", s->name, dk);
  c->rope_scaling.beta_slow = have && bs != 0 ? bs : 1;
  if ((rc = rope_num(s, d, dk, "attention_factor", 0, &af, &have_af))) return rc;
  if ((rc = rope_num(s, d, dk, "mscale", -INFINITY, &ms, &have_ms))) return rc;
  if ((rc = rope_num(s, d, dk, "mscale_all_dim", -INFINITY, &msa, &have_msa))) return rc;
  if (have_af) {
    c->rope_scaling.attention_factor = af;
  } else if (have_ms && have_msa && ms != 0 && msa != 0) {
    double f = c->rope_scaling.factor;
    c->rope_scaling.attention_factor = yarn_mscale(f, ms) / yarn_mscale(f, msa);
    if (!isfinite(c->rope_scaling.attention_factor) || !(c->rope_scaling.attention_factor > 0))
      return zr_seterr(-EINVAL, "%s: keys '%s.mscale' and '%s.mscale_all_dim' give attention factor %g", s->name, dk,
                       dk, c->rope_scaling.attention_factor);
  }
  return 0;
}

/* ---- the rest ------------------------------------------------------------------------------ */

static int parse_token_ids(const src *s, zr_arch arch, zr_model_config *c) {
  int rc;
  const json_t *b = get(s, "bos_token_id");
  c->bos_token_id = b ? -1 : archs[arch].bos;
  if (b && !json_is_null(b) && (rc = int_in(s->name, "bos_token_id", b, 0, INT_MAX, &c->bos_token_id))) return rc;
  const json_t *e = get(s, "eos_token_id");
  c->n_eos = 0;
  if (!e) {
    if (archs[arch].eos >= 0) c->eos_token_ids[c->n_eos++] = archs[arch].eos;
  } else if (json_is_array(e)) {
    if (json_array_size(e) > ZR_MAX_EOS)
      return zr_seterr(-EINVAL, "%s: key 'eos_token_id' lists %zu ids (at most %d)", s->name, json_array_size(e),
                       ZR_MAX_EOS);
    for (size_t i = 0; i < json_array_size(e); i++)
      if ((rc = int_in(s->name, "eos_token_id", json_array_get(e, i), 0, INT_MAX, &c->eos_token_ids[c->n_eos++])))
        return rc;
  } else if (!json_is_null(e)) {
    if ((rc = int_in(s->name, "eos_token_id", e, 0, INT_MAX, &c->eos_token_ids[0]))) return rc;
    c->n_eos = 1;
  }
  return 0;
}

static int parse_dtype(const src *s, zr_model_config *c) {
  const char *key = "dtype";
  const json_t *v = get(s, "dtype");
  if (!v || json_is_null(v)) {
    key = "torch_dtype";
    v = get(s, "torch_dtype");
  }
  c->torch_dtype = ZR_DT_F32;
  if (!v || json_is_null(v)) return 0;
  const char *t = json_is_string(v) ? json_string_value(v) : "";
  if (strcmp(t, "float32") == 0) c->torch_dtype = ZR_DT_F32;
  else if (strcmp(t, "float16") == 0) c->torch_dtype = ZR_DT_F16;
  else if (strcmp(t, "bfloat16") == 0) c->torch_dtype = ZR_DT_BF16;
  else return zr_seterr(-EINVAL, "%s: key '%s' must be \"float32\", \"float16\" or \"bfloat16\"", s->name, key);
  return 0;
}

/* Qwen2/Qwen3 sliding-window attention: refused when any layer would use it. */
static int check_sliding(const src *s, zr_model_config *c) {
  const json_t *lt = get(s, "layer_types");
  int n_sliding = 0;
  if (lt && !json_is_null(lt)) {
    if (!json_is_array(lt) || json_array_size(lt) != (size_t)c->num_layers)
      return zr_seterr(-EINVAL, "%s: key 'layer_types' must list one type per layer (%d)", s->name, c->num_layers);
    for (size_t i = 0; i < json_array_size(lt); i++) {
      const char *t = json_string_value(json_array_get(lt, i));
      if (t && strcmp(t, "sliding_attention") == 0) n_sliding++;
      else if (!t || strcmp(t, "full_attention") != 0)
        return zr_seterr(-EINVAL, "%s: key 'layer_types': layer %zu has type '%s' (only full_attention is supported)",
                         s->name, i, t ? t : "(not a string)");
    }
  }
  bool use = false;
  int rc = get_bool(s, "use_sliding_window", false, &use);
  if (rc || !use) return rc;
  const json_t *sw = get(s, "sliding_window");
  if (sw && json_is_null(sw)) return 0; /* no window size: every layer attends fully */
  int mwl = 0;
  if ((rc = get_int(s, "max_window_layers", 28, 0, INT_MAX, &mwl))) return rc;
  if (!lt || json_is_null(lt)) n_sliding = c->num_layers > mwl ? c->num_layers - mwl : 0;
  if (n_sliding > 0)
    return zr_seterr(-EINVAL,
                     "%s: key 'use_sliding_window' is true and %d layers would use sliding-window attention, which "
                     "zerorl does not implement",
                     s->name, n_sliding);
  return 0;
}

static int check_other_keys(const src *s, zr_arch arch, zr_model_config *c) {
  const json_t *v;
  int rc;
  if ((v = get(s, "hidden_act")) && !(json_is_string(v) && strcmp(json_string_value(v), "silu") == 0))
    return zr_seterr(-EINVAL, "%s: key 'hidden_act' is %s%s%s: only silu is supported", s->name,
                     json_is_string(v) ? "'" : "", json_is_string(v) ? json_string_value(v) : "not a string",
                     json_is_string(v) ? "'" : "");
  if ((v = get(s, "quantization_config")) && !json_is_null(v))
    return zr_seterr(-EINVAL, "%s: key 'quantization_config': quantized checkpoints are not supported", s->name);
  bool b = false;
  if ((rc = get_bool(s, "use_mrope", false, &b))) return rc;
  if (b) return zr_seterr(-EINVAL, "%s: key 'use_mrope' is true: multimodal rope is not supported", s->name);
  if ((v = get(s, "attention_dropout")) && !json_is_null(v) && !(json_is_number(v) && json_number_value(v) == 0))
    return zr_seterr(-EINVAL, "%s: key 'attention_dropout' must be 0 (attention dropout is not implemented)", s->name);
  if (arch == ZR_ARCH_LLAMA) {
    if ((rc = get_bool(s, "mlp_bias", false, &b))) return rc;
    if (b) return zr_seterr(-EINVAL, "%s: key 'mlp_bias' is true: MLP biases are not supported", s->name);
  } else if ((rc = check_sliding(s, c))) {
    return rc;
  }
  const char *k;
  json_t *val;
  json_object_foreach((json_t *)s->root, k, val) {
    size_t i = 0, n = sizeof known_keys / sizeof known_keys[0];
    while (i < n && strcmp(k, known_keys[i]) != 0) i++;
    if (i == n) ZR_WARN("hf_config", "%s: ignoring unknown key '%s'", s->name, k);
  }
  return 0;
}

static int parse_sizes(const src *s, zr_arch arch, zr_model_config *c) {
  int rc;
  if ((rc = get_int(s, "vocab_size", archs[arch].vocab, 1, INT_MAX, &c->vocab_size)) ||
      (rc = get_int(s, "hidden_size", archs[arch].hidden, 1, INT_MAX, &c->hidden_size)) ||
      (rc = get_int(s, "intermediate_size", archs[arch].inter, 1, INT_MAX, &c->intermediate_size)) ||
      (rc = get_int(s, "num_hidden_layers", archs[arch].layers, 1, 65536, &c->num_layers)) ||
      (rc = get_int(s, "num_attention_heads", archs[arch].heads, 1, 65536, &c->num_heads)) ||
      (rc = get_int(s, "max_position_embeddings", archs[arch].max_pos, 1, INT_MAX, &c->max_position_embeddings)))
    return rc;
  /* num_key_value_heads: null means "as many as attention heads" everywhere; absent means the
   * class default (32 for Qwen2/Qwen3, num_attention_heads for Llama) */
  const json_t *kv = get(s, "num_key_value_heads");
  const char *kv_note = "";
  if (!kv) {
    c->num_kv_heads = archs[arch].kv_heads ? archs[arch].kv_heads : c->num_heads;
    if (archs[arch].kv_heads) kv_note = ", the default when the key is absent";
  } else if (json_is_null(kv)) {
    c->num_kv_heads = c->num_heads;
  } else if ((rc = int_in(s->name, "num_key_value_heads", kv, 1, 65536, &c->num_kv_heads))) {
    return rc;
  }
  if (c->num_heads % c->num_kv_heads != 0)
    return zr_seterr(-EINVAL, "%s: key 'num_key_value_heads' (%d%s) does not divide num_attention_heads (%d)", s->name,
                     c->num_kv_heads, kv_note, c->num_heads);
  /* head_dim: explicit; else Qwen3's default 128; else hidden_size / num_attention_heads */
  const json_t *hd = get(s, "head_dim");
  if (hd && !json_is_null(hd)) {
    if ((rc = int_in(s->name, "head_dim", hd, 1, 65536, &c->head_dim))) return rc;
  } else if (!hd && archs[arch].head_dim) {
    c->head_dim = archs[arch].head_dim;
  } else {
    if (c->hidden_size % c->num_heads != 0)
      return zr_seterr(-EINVAL,
                       "%s: key 'hidden_size' (%d) is not divisible by num_attention_heads (%d) and there is no "
                       "head_dim",
                       s->name, c->hidden_size, c->num_heads);
    c->head_dim = c->hidden_size / c->num_heads;
  }
  if (c->head_dim % 2 != 0)
    return zr_seterr(-EINVAL, "%s: key 'head_dim' (%d) must be even for rotary embeddings", s->name, c->head_dim);
  const json_t *eps = get(s, "rms_norm_eps");
  c->rms_norm_eps = 1e-6;
  if (eps && (rc = num_in(s->name, "rms_norm_eps", eps, 0, &c->rms_norm_eps))) return rc;
  return 0;
}

int zr_hf_config_parse(zr_model_config *out, const char *text, size_t len, const char *name) {
  if (!name) name = "config.json";
  json_t *root = zr_json_parse(text, len, name);
  if (!root) return -EINVAL;
  src s = {name, root};
  zr_model_config c;
  memset(&c, 0, sizeof c);
  zr_arch arch = ZR_ARCH_QWEN2;
  int rc;
  if (!json_is_object(root)) {
    rc = zr_seterr(-EINVAL, "%s: not a JSON object", name);
    goto out;
  }
  if ((rc = find_arch(&s, &arch)) || (rc = parse_sizes(&s, arch, &c)) || (rc = parse_rope(&s, &c)) ||
      (rc = parse_token_ids(&s, arch, &c)) || (rc = parse_dtype(&s, &c)) ||
      (rc = get_bool(&s, "tie_word_embeddings", false, &c.tie_word_embeddings)) ||
      (rc = check_other_keys(&s, arch, &c)))
    goto out;
  c.arch = arch;
  /* Qwen2 always has q/k/v biases (and ignores attention_bias); Qwen3 and Llama follow it. */
  if (arch == ZR_ARCH_QWEN2) c.attention_bias = true;
  else if ((rc = get_bool(&s, "attention_bias", false, &c.attention_bias))) goto out;
  c.qk_norm = arch == ZR_ARCH_QWEN3;
  *out = c;
out:
  json_decref(root);
  return rc;
}

int zr_hf_config_load(zr_model_config *c, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    return zr_seterr(-e, "%s: cannot open: %s", path, strerror(e));
  }
  char *buf = NULL;
  size_t len = 0, cap = 0;
  int rc = 0;
  for (;;) {
    if (len == cap) {
      if (cap >= ((size_t)16 << 20)) {
        rc = zr_seterr(-EFBIG, "%s: larger than 16 MiB, not a config.json", path);
        break;
      }
      cap = cap ? 2 * cap : 8192;
      char *nb = realloc(buf, cap);
      if (!nb) {
        rc = zr_seterr(-ENOMEM, "%s: out of memory", path);
        break;
      }
      buf = nb;
    }
    size_t r = fread(buf + len, 1, cap - len, f);
    len += r;
    if (r == 0) {
      if (ferror(f)) rc = zr_seterr(-EIO, "%s: read error", path);
      break;
    }
  }
  fclose(f);
  if (rc == 0) rc = zr_hf_config_parse(c, buf, len, path);
  free(buf);
  return rc;
}
