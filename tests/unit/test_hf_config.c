/* Unit tests for model/hf_config.h against transformers (tests/fixtures/hf_config, made by
 * tests/reference/make_safetensors_fixtures.py).
 *
 * - Every fixture config (the hub configs of Qwen2.5-Math-1.5B, Qwen3-0.6B,
 *   DeepSeek-R1-Distill-Qwen-1.5B, Llama-3.2-1B, and variants: every rope kind in legacy and
 *   transformers-5 spelling, minimal configs that rely on class defaults, ...) parses to the
 *   fields transformers reads from it, including head_dim and the q/k/v/o bias and q/k-norm
 *   layout of the attention module transformers builds.
 * - zr_rope_init matches transformers' inv_freq and attention scaling for each config (dynamic:
 *   at several sequence lengths) within 1e-6 relative error.
 * - zr_hf_config_write -> zr_hf_config_load gives the same config and the same frequencies.
 * - Every refusal names the offending key, and a failed parse leaves the config untouched.
 * - The C side of the writer round trip: the transformers-written tiny Qwen2 is re-written with
 *   zr_st_write_dir (sharded and not) + zr_hf_config_write and reads back identical.
 *
 * `unit_hf_config --write-model DIR` writes those directories (DIR/single, DIR/sharded) and
 * every fixture config re-written (DIR/configs/NAME/config.json) for
 * tests/reference/check_written.py to load with transformers. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/log.h"
#include "model/hf_config.h"
#include "model/safetensors.h"
#include "tests/test.h"
#include "tests/unit/st_test_util.h"

static double max_rel_err;
static long rope_values, rope_exact;

static const char *kind_name(zr_rope_kind k) {
  static const char *n[] = {"default", "linear", "dynamic", "yarn", "llama3"};
  return n[k];
}

static double jnum(const json_t *o, const char *k, double def) {
  const json_t *v = json_object_get(o, k);
  return v && json_is_number(v) ? json_number_value(v) : def;
}

/* inv_freq vs a fixture list; relative error <= 1e-6 each. */
static void check_freqs(const char *name, const float *got, const json_t *want, size_t n) {
  CHECK_INT(json_array_size(want), n);
  int bad = 0;
  for (size_t i = 0; i < n && i < json_array_size(want); i++) {
    double w = json_number_value(json_array_get(want, i)), g = got[i];
    double rel = fabs(g - w) / fabs(w);
    if (rel > max_rel_err) max_rel_err = rel;
    rope_values++;
    if (g == w) rope_exact++;
    if (!(rel <= 1e-6) && bad++ < 3) fprintf(stderr, "  %s inv_freq[%zu]: got %.9g want %.9g\n", name, i, g, w);
  }
  CHECK_INT(bad, 0);
}

static void check_rope(const char *name, const zr_model_config *c, const json_t *e) {
  size_t half = (size_t)c->head_dim / 2;
  float *inv = malloc(half * sizeof *inv), scale = 0;
  zr_rope_init(c, 0, inv, &scale);
  check_freqs(name, inv, json_object_get(e, "inv_freq"), half);
  double ws = json_number_value(json_object_get(e, "attention_scaling"));
  CHECK(fabs(scale - ws) <= 1e-6 * ws);
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(e, "rope"), i, r) {
    int seq_len = (int)json_integer_value(json_object_get(r, "seq_len"));
    zr_rope_init(c, seq_len, inv, &scale);
    char what[128];
    snprintf(what, sizeof what, "%s@%d", name, seq_len);
    check_freqs(what, inv, json_object_get(r, "inv_freq"), half);
    CHECK(fabs(scale - json_number_value(json_object_get(r, "attention_scaling"))) <= 1e-6);
  }
  free(inv);
}

/* Fields transformers reads, from expected.json. */
static void check_fields(const char *name, const zr_model_config *c, const json_t *e) {
  int before = zr_test_failures;
  CHECK_STR(zr_arch_name(c->arch), json_string_value(json_object_get(e, "architecture")));
  CHECK_INT(c->vocab_size, json_integer_value(json_object_get(e, "vocab_size")));
  CHECK_INT(c->hidden_size, json_integer_value(json_object_get(e, "hidden_size")));
  CHECK_INT(c->num_layers, json_integer_value(json_object_get(e, "num_layers")));
  CHECK_INT(c->num_heads, json_integer_value(json_object_get(e, "num_heads")));
  CHECK_INT(c->num_kv_heads, json_integer_value(json_object_get(e, "num_kv_heads")));
  CHECK_INT(c->head_dim, json_integer_value(json_object_get(e, "head_dim")));
  CHECK_INT(c->num_heads * c->head_dim, json_integer_value(json_object_get(e, "q_out")));
  CHECK_INT(c->num_kv_heads * c->head_dim, json_integer_value(json_object_get(e, "k_out")));
  CHECK_INT(c->intermediate_size, json_integer_value(json_object_get(e, "intermediate_size")));
  CHECK_INT(c->max_position_embeddings, json_integer_value(json_object_get(e, "max_position_embeddings")));
  CHECK(c->rope_theta == json_number_value(json_object_get(e, "rope_theta")));
  CHECK_STR(kind_name(c->rope_scaling.kind), json_string_value(json_object_get(e, "rope_type")));
  const json_t *rp = json_object_get(e, "rope_parameters");
  if (c->rope_scaling.kind != ZR_ROPE_DEFAULT) CHECK(c->rope_scaling.factor == jnum(rp, "factor", -1));
  if (c->rope_scaling.kind == ZR_ROPE_LLAMA3 || c->rope_scaling.kind == ZR_ROPE_YARN)
    CHECK_INT(c->rope_scaling.original_max_position_embeddings, jnum(rp, "original_max_position_embeddings", -1));
  if (c->rope_scaling.kind == ZR_ROPE_LLAMA3) {
    CHECK(c->rope_scaling.low_freq_factor == jnum(rp, "low_freq_factor", -1));
    CHECK(c->rope_scaling.high_freq_factor == jnum(rp, "high_freq_factor", -1));
  }
  if (c->rope_scaling.kind == ZR_ROPE_YARN) {
    CHECK(c->rope_scaling.beta_fast == jnum(rp, "beta_fast", 32));
    CHECK(c->rope_scaling.beta_slow == jnum(rp, "beta_slow", 1));
    if (json_object_get(rp, "attention_factor"))
      CHECK(c->rope_scaling.attention_factor == jnum(rp, "attention_factor", -1));
  }
  CHECK(c->rms_norm_eps == json_number_value(json_object_get(e, "rms_norm_eps")));
  CHECK_INT(c->tie_word_embeddings, json_is_true(json_object_get(e, "tie_word_embeddings")));
  CHECK_INT(c->attention_bias, json_is_true(json_object_get(e, "attention_bias")));
  /* the engine's reading of attention_bias: Llama/Qwen3 put the bias on o_proj too, Qwen2 not */
  CHECK_INT(c->attention_bias && c->arch != ZR_ARCH_QWEN2, json_is_true(json_object_get(e, "o_proj_bias")));
  CHECK(!json_is_true(json_object_get(e, "mlp_bias")));
  CHECK_INT(c->qk_norm, json_is_true(json_object_get(e, "qk_norm")));
  CHECK_INT(c->bos_token_id, json_integer_value(json_object_get(e, "bos_token_id")));
  const json_t *eos = json_object_get(e, "eos_token_ids");
  CHECK_INT(c->n_eos, json_array_size(eos));
  for (int i = 0; i < c->n_eos && i < (int)json_array_size(eos); i++)
    CHECK_INT(c->eos_token_ids[i], json_integer_value(json_array_get(eos, (size_t)i)));
  CHECK_STR(zr_dtype_name(c->torch_dtype), json_string_value(json_object_get(e, "dtype")));
  if (zr_test_failures != before) fprintf(stderr, "  (in config %s)\n", name);
}

static int same_config(const zr_model_config *a, const zr_model_config *b) {
  return a->arch == b->arch && a->vocab_size == b->vocab_size && a->hidden_size == b->hidden_size &&
         a->num_layers == b->num_layers && a->num_heads == b->num_heads && a->num_kv_heads == b->num_kv_heads &&
         a->head_dim == b->head_dim && a->intermediate_size == b->intermediate_size &&
         a->max_position_embeddings == b->max_position_embeddings && a->rope_theta == b->rope_theta &&
         a->rope_scaling.kind == b->rope_scaling.kind && a->rope_scaling.factor == b->rope_scaling.factor &&
         a->rope_scaling.low_freq_factor == b->rope_scaling.low_freq_factor &&
         a->rope_scaling.high_freq_factor == b->rope_scaling.high_freq_factor &&
         a->rope_scaling.original_max_position_embeddings == b->rope_scaling.original_max_position_embeddings &&
         a->rope_scaling.beta_fast == b->rope_scaling.beta_fast && a->rope_scaling.beta_slow == b->rope_scaling.beta_slow &&
         a->rope_scaling.attention_factor == b->rope_scaling.attention_factor && a->rms_norm_eps == b->rms_norm_eps &&
         a->tie_word_embeddings == b->tie_word_embeddings && a->attention_bias == b->attention_bias &&
         a->qk_norm == b->qk_norm && a->bos_token_id == b->bos_token_id && a->n_eos == b->n_eos &&
         memcmp(a->eos_token_ids, b->eos_token_ids, sizeof a->eos_token_ids[0] * (size_t)a->n_eos) == 0 &&
         a->torch_dtype == b->torch_dtype;
}

static void check_round_trip(const char *name, const zr_model_config *c, const char *dir) {
  char path[PATH_MAX + 128];
  snprintf(path, sizeof path, "%s/%s.json", dir, name);
  int rc = zr_hf_config_write(c, path);
  CHECK_INT(rc, 0);
  zr_model_config d;
  memset(&d, 0, sizeof d);
  rc = zr_hf_config_load(&d, path);
  CHECK_INT(rc, 0);
  if (rc) fprintf(stderr, "  %s: %s\n", name, zr_errmsg());
  CHECK(same_config(c, &d));
  if (!same_config(c, &d)) fprintf(stderr, "  round trip of %s changed the config\n", name);
  size_t half = (size_t)c->head_dim / 2;
  float *a = malloc(half * sizeof *a), *b = malloc(half * sizeof *b), sa, sb;
  zr_rope_init(c, 3 * c->max_position_embeddings, a, &sa);
  zr_rope_init(&d, 3 * c->max_position_embeddings, b, &sb);
  CHECK(memcmp(a, b, half * sizeof *a) == 0 && sa == sb);
  free(a);
  free(b);
}

static void test_fixtures(const json_t *expected, const char *scratch) {
  const json_t *configs = json_object_get(expected, "configs");
  CHECK(json_object_size(configs) >= 20);
  const char *name;
  json_t *e;
  json_object_foreach((json_t *)configs, name, e) {
    char file[256];
    snprintf(file, sizeof file, "%s.json", name);
    zr_model_config c;
    int rc = zr_hf_config_load(&c, st_fixture("hf_config", file));
    CHECK_INT(rc, 0);
    if (rc) {
      fprintf(stderr, "  %s: %s\n", name, zr_errmsg());
      continue;
    }
    check_fields(name, &c, e);
    check_rope(name, &c, e);
    check_round_trip(name, &c, scratch);
  }
  fprintf(stderr, "  rope: %ld values, %ld bit-exact, max relative error %.3g\n", rope_values, rope_exact,
          max_rel_err);
  /* the tiny model transformers 5 wrote (rope_parameters, dtype, layer_types) */
  zr_model_config c;
  CHECK_INT(zr_hf_config_load(&c, st_fixture("safetensors", "qwen2_sharded/config.json")), 0);
  CHECK_INT(c.arch, ZR_ARCH_QWEN2);
  CHECK_INT(c.hidden_size, 32);
  CHECK_INT(c.head_dim, 8);
  CHECK_INT(c.num_kv_heads, 2);
  CHECK_INT(c.vocab_size, 96);
  CHECK_INT(c.torch_dtype, ZR_DT_F32);
  CHECK(c.rope_theta == 10000.0);
  CHECK_INT(c.n_eos, 1);
  CHECK_INT(c.eos_token_ids[0], 2);
  CHECK_INT(c.bos_token_id, 1);
  CHECK(c.attention_bias && !c.tie_word_embeddings && !c.qk_norm);
}

/* ---- refusals ------------------------------------------------------------------------------ */

static json_t *base_config(const char *fixture) {
  json_error_t jerr;
  json_t *v = json_load_file(st_fixture("hf_config", fixture), 0, &jerr);
  ZR_ASSERT(v);
  return v;
}

/* Applies `key = value_json` ("-" deletes) to a copy of fixture, parses, and expects failure
 * with a message naming the file and containing each needle. */
static void expect_refusal(int line, const char *fixture, const char *key, const char *value, const char *n1,
                           const char *n2) {
  json_t *root = base_config(fixture);
  if (strcmp(value, "-") == 0) {
    json_object_del(root, key);
  } else {
    json_error_t jerr;
    json_t *v = json_loads(value, JSON_DECODE_ANY, &jerr);
    ZR_ASSERT(v);
    json_object_set_new(root, key, v);
  }
  char *text = json_dumps(root, 0);
  zr_model_config c;
  memset(&c, 0x5a, sizeof c);
  zr_model_config before = c;
  zr_clearerr();
  int rc = zr_hf_config_parse(&c, text, strlen(text), "cfg.json");
  if (rc == 0 || !strstr(zr_errmsg(), n1) || (n2 && !strstr(zr_errmsg(), n2)))
    fprintf(stderr, "  (refusal case at line %d: %s=%s: rc=%d msg=\"%s\")\n", line, key, value, rc, zr_errmsg());
  CHECK_INT(rc, -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "cfg.json");
  CHECK_CONTAINS(zr_errmsg(), n1);
  if (n2) CHECK_CONTAINS(zr_errmsg(), n2);
  CHECK(memcmp(&c, &before, sizeof c) == 0); /* untouched */
  free(text);
  json_decref(root);
}
#define REFUSE(fx, key, value, n1, n2) expect_refusal(__LINE__, fx, key, value, n1, n2)

static void expect_ok(const char *fixture, const char *key, const char *value, zr_model_config *c) {
  json_t *root = base_config(fixture);
  json_error_t jerr;
  json_object_set_new(root, key, json_loads(value, JSON_DECODE_ANY, &jerr));
  char *text = json_dumps(root, 0);
  int rc = zr_hf_config_parse(c, text, strlen(text), "cfg.json");
  if (rc) fprintf(stderr, "  %s=%s: %s\n", key, value, zr_errmsg());
  CHECK_INT(rc, 0);
  free(text);
  json_decref(root);
}

static void test_refusals(void) {
  const char *q3 = "qwen3-0.6b.json", *q2 = "qwen2.5-math-1.5b.json", *ll = "llama-3.2-1b.json";
  REFUSE(q3, "architectures", "[\"MistralForCausalLM\"]", "key 'architectures'", "'MistralForCausalLM'");
  REFUSE(q3, "architectures", "\"Qwen3ForCausalLM\"", "key 'architectures'", NULL);
  REFUSE(q3, "architectures", "[]", "key 'architectures'", NULL);
  REFUSE(q3, "model_type", "\"llama\"", "key 'model_type'", "Qwen3ForCausalLM");
  REFUSE(q3, "model_type", "3", "key 'model_type'", NULL);
  REFUSE("llama-no-architectures.json", "model_type", "\"gemma\"", "key 'model_type'", "'gemma'");
  REFUSE("llama-no-architectures.json", "model_type", "-", "missing key 'architectures'", NULL);
  REFUSE(q3, "hidden_act", "\"gelu\"", "key 'hidden_act'", "silu");
  REFUSE(q3, "hidden_act", "null", "key 'hidden_act'", NULL);
  REFUSE(q3, "vocab_size", "\"big\"", "key 'vocab_size'", NULL);
  REFUSE(q3, "vocab_size", "0", "key 'vocab_size'", NULL);
  REFUSE(q3, "hidden_size", "-5", "key 'hidden_size'", NULL);
  REFUSE(q3, "num_hidden_layers", "1.5", "key 'num_hidden_layers'", NULL);
  REFUSE(q3, "intermediate_size", "null", "key 'intermediate_size'", NULL);
  REFUSE(q3, "max_position_embeddings", "4294967296", "key 'max_position_embeddings'", NULL);
  REFUSE(q3, "num_key_value_heads", "3", "key 'num_key_value_heads'", "(3)");
  REFUSE(q2, "num_key_value_heads", "-", "key 'num_key_value_heads'", "default when the key is absent");
  REFUSE(q3, "head_dim", "63", "key 'head_dim'", "even");
  REFUSE(q3, "head_dim", "0", "key 'head_dim'", NULL);
  REFUSE("llama-3.1-8b.json", "hidden_size", "4001", "key 'hidden_size'", "not divisible");
  REFUSE(q3, "rms_norm_eps", "0", "key 'rms_norm_eps'", NULL);
  REFUSE(q3, "rms_norm_eps", "\"1e-6\"", "key 'rms_norm_eps'", NULL);
  REFUSE(q3, "rope_theta", "-1", "key 'rope_theta'", NULL);
  REFUSE(q3, "rope_parameters", "{\"rope_theta\": \"x\"}", "key 'rope_parameters.rope_theta'", NULL);
  REFUSE(q3, "rope_parameters", "7", "key 'rope_parameters'", NULL);
  REFUSE(q3, "rope_parameters", "{\"full_attention\": {\"rope_type\": \"default\"}}",
         "key 'rope_parameters.full_attention'", NULL);
  REFUSE(q3, "rope_scaling", "[1]", "key 'rope_scaling'", NULL);
  REFUSE(q3, "rope_scaling", "{\"rope_type\": \"longrope\", \"short_factor\": [1], \"long_factor\": [1]}",
         "key 'rope_scaling.rope_type'", "'longrope'");
  REFUSE(q3, "rope_scaling", "{\"type\": \"su\", \"factor\": 2}", "key 'rope_scaling.type'", "'su'");
  REFUSE(q3, "rope_scaling", "{\"rope_type\": 4}", "key 'rope_scaling.rope_type'", NULL);
  REFUSE(q3, "rope_scaling", "{\"rope_type\": \"linear\"}", "key 'rope_scaling.factor'", NULL);
  REFUSE(q3, "rope_scaling", "{\"rope_type\": \"dynamic\", \"factor\": 0}", "key 'rope_scaling.factor'", NULL);
  REFUSE(q3, "rope_scaling", "{\"rope_type\": \"linear\", \"factor\": 0.5}", "key 'rope_scaling.factor'", "at least 1");
  REFUSE(q3, "rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4, \"beta_fast\": -1}",
         "key 'rope_scaling.beta_fast'", NULL);
  REFUSE(q3, "rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4, \"beta_slow\": -2}",
         "key 'rope_scaling.beta_slow'", NULL);
  REFUSE(q3, "rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4, \"mscale\": 1, \"mscale_all_dim\": -7.2135}",
         "'rope_scaling.mscale_all_dim' give attention factor", NULL);
  REFUSE(q3, "rope_theta", "1", "key 'rope_theta'", "above 1");
  REFUSE(q3, "rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4, \"truncate\": false}",
         "key 'rope_scaling.truncate'", NULL);
  REFUSE(q3, "rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4, \"original_max_position_embeddings\": 0}",
         "key 'rope_scaling.original_max_position_embeddings'", NULL);
  REFUSE("qwen3-yarn.json", "original_max_position_embeddings", "\"x\"", "key 'original_max_position_embeddings'", NULL);
  REFUSE(ll, "rope_scaling",
         "{\"rope_type\": \"llama3\", \"factor\": 8, \"high_freq_factor\": 4, \"original_max_position_embeddings\": 8192}",
         "key 'rope_scaling.low_freq_factor'", NULL);
  REFUSE(ll, "rope_scaling", "{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4, \"high_freq_factor\": 1}",
         "key 'rope_scaling.high_freq_factor'", NULL);
  REFUSE(q3, "partial_rotary_factor", "0.5", "key 'partial_rotary_factor'", NULL);
  REFUSE(q3, "rope_parameters", "{\"rope_type\": \"default\", \"partial_rotary_factor\": 0.25}",
         "key 'rope_parameters.partial_rotary_factor'", NULL);
  REFUSE(q2, "use_sliding_window", "true", "key 'use_sliding_window'", "7 layers");
  REFUSE(q2, "use_sliding_window", "1", "key 'use_sliding_window'", NULL);
  REFUSE(q2, "layer_types", "[\"full_attention\"]", "key 'layer_types'", "28");
  char lt[28 * 20 + 16] = "[";
  for (int i = 0; i < 28; i++) strcat(lt, i == 5 ? "\"linear_attention\"," : "\"full_attention\",");
  lt[strlen(lt) - 1] = ']';
  REFUSE(q2, "layer_types", lt, "key 'layer_types'", "layer 5 has type 'linear_attention'");
  REFUSE(q3, "tie_word_embeddings", "\"yes\"", "key 'tie_word_embeddings'", NULL);
  REFUSE(q3, "attention_bias", "1", "key 'attention_bias'", NULL);
  REFUSE(ll, "mlp_bias", "true", "key 'mlp_bias'", NULL);
  REFUSE(q3, "eos_token_id", "[1,2,3,4,5,6,7,8,9]", "key 'eos_token_id'", "at most 8");
  REFUSE(q3, "eos_token_id", "\"x\"", "key 'eos_token_id'", NULL);
  REFUSE(q3, "eos_token_id", "[1, \"x\"]", "key 'eos_token_id'", NULL);
  REFUSE(q3, "bos_token_id", "-3", "key 'bos_token_id'", NULL);
  REFUSE(q3, "torch_dtype", "\"float64\"", "key 'torch_dtype'", NULL);
  REFUSE(q3, "dtype", "\"int8\"", "key 'dtype'", NULL);
  REFUSE(q3, "quantization_config", "{\"quant_method\": \"awq\"}", "key 'quantization_config'", NULL);
  REFUSE(q2, "use_mrope", "true", "key 'use_mrope'", NULL);
  REFUSE(q3, "attention_dropout", "0.1", "key 'attention_dropout'", NULL);

  /* not JSON / not an object */
  zr_model_config c;
  CHECK_INT(zr_hf_config_parse(&c, "{\"a\": ", 6, "cfg.json"), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "cfg.json: invalid JSON");
  CHECK_INT(zr_hf_config_parse(&c, "[1]", 3, "cfg.json"), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "cfg.json: not a JSON object");
  CHECK_INT(zr_hf_config_load(&c, "/nonexistent/zerorl/config.json"), -ENOENT);
  CHECK_CONTAINS(zr_errmsg(), "/nonexistent/zerorl/config.json: cannot open");

  /* accepted: unknown keys (with a warning), sliding window named but unused, null window */
  expect_ok(q3, "some_future_key", "{\"x\": 1}", &c);
  expect_ok(q2, "sliding_window", "null", &c);
  expect_ok(q3, "rope_scaling", "{}", &c);
  CHECK_INT(c.rope_scaling.kind, ZR_ROPE_DEFAULT);
  expect_ok(q3, "rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": null, \"original_max_position_embeddings\": 10240}", &c);
  CHECK(c.rope_scaling.factor == 4.0); /* max_position_embeddings / original */
  expect_ok(q3, "partial_rotary_factor", "1.0", &c);
  expect_ok(q3, "eos_token_id", "[]", &c);
  CHECK_INT(c.n_eos, 0);
  expect_ok(q3, "head_dim", "null", &c);
  CHECK_INT(c.head_dim, 64); /* hidden_size / num_attention_heads */
  CHECK_STR(zr_arch_name(ZR_ARCH_QWEN2), "Qwen2ForCausalLM");
  CHECK_STR(zr_arch_name(ZR_ARCH_QWEN3), "Qwen3ForCausalLM");
  CHECK_STR(zr_arch_name(ZR_ARCH_LLAMA), "LlamaForCausalLM");
  CHECK_STR(zr_arch_name((zr_arch)7), "?");
}

/* ---- the model directory round trip ---------------------------------------------------------- */

/* Writes DIR/single and DIR/sharded from the tiny transformers model, and DIR/configs/NAME. */
static int write_model(const char *dir, const json_t *expected) {
  mkdir(dir, 0755);
  zr_model_config c;
  zr_st_set *src = NULL;
  int rc = zr_hf_config_load(&c, st_fixture("safetensors", "qwen2_sharded/config.json"));
  if (rc == 0) rc = zr_st_set_open_dir(&src, st_fixture("safetensors", "qwen2_sharded"));
  if (rc) {
    fprintf(stderr, "write-model: %s\n", zr_errmsg());
    return rc;
  }
  size_t n = zr_st_set_count(src);
  zr_st_write_tensor *w = calloc(n, sizeof *w);
  for (size_t i = 0; i < n; i++) {
    const zr_st_tensor *t = zr_st_set_get(src, i);
    w[i] = (zr_st_write_tensor){t->name, t->dtype, t->ndim, {0}, t->data};
    memcpy(w[i].shape, t->shape, sizeof t->shape);
  }
  char path[PATH_MAX + 128];
  const char *sub[] = {"single", "sharded"};
  for (int k = 0; k < 2 && rc == 0; k++) {
    snprintf(path, sizeof path, "%s/%s", dir, sub[k]);
    rc = zr_st_write_dir(path, w, n, k ? 30000 : 0);
    snprintf(path, sizeof path, "%s/%s/config.json", dir, sub[k]);
    if (rc == 0) rc = zr_hf_config_write(&c, path);
  }
  snprintf(path, sizeof path, "%s/configs", dir);
  mkdir(path, 0755);
  const char *name;
  json_t *e;
  json_object_foreach(json_object_get(expected, "configs"), name, e) {
    char file[256];
    snprintf(file, sizeof file, "%s.json", name);
    zr_model_config m;
    if (rc == 0) rc = zr_hf_config_load(&m, st_fixture("hf_config", file));
    snprintf(path, sizeof path, "%s/configs/%s", dir, name);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/configs/%s/config.json", dir, name);
    if (rc == 0) rc = zr_hf_config_write(&m, path);
  }
  if (rc) fprintf(stderr, "write-model: %s\n", zr_errmsg());
  free(w);
  zr_st_set_close(&src);
  return rc;
}

static void test_model_round_trip(const char *scratch, const json_t *expected) {
  char dir[PATH_MAX + 64];
  snprintf(dir, sizeof dir, "%s/model", scratch);
  CHECK_INT(write_model(dir, expected), 0);
  zr_st_set *src = NULL;
  CHECK_INT(zr_st_set_open_dir(&src, st_fixture("safetensors", "qwen2_sharded")), 0);
  zr_model_config want;
  CHECK_INT(zr_hf_config_load(&want, st_fixture("safetensors", "qwen2_sharded/config.json")), 0);
  const char *sub[] = {"single", "sharded"};
  for (int k = 0; k < 2 && src; k++) {
    char path[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/%s", dir, sub[k]);
    CHECK_INT(st_count_entries(path, "-of-"), k ? 4 : 0);
    zr_st_set *s = NULL;
    CHECK_INT(zr_st_set_open_dir(&s, path), 0);
    if (!s) continue;
    CHECK_INT(zr_st_set_count(s), zr_st_set_count(src));
    int bad = 0;
    for (size_t i = 0; i < zr_st_set_count(src); i++) {
      const zr_st_tensor *a = zr_st_set_get(src, i), *b = zr_st_set_find(s, a->name);
      if (!b || b->dtype != a->dtype || b->nbytes != a->nbytes || memcmp(a->data, b->data, a->nbytes) != 0) bad++;
    }
    CHECK_INT(bad, 0);
    zr_st_set_close(&s);
    zr_model_config got;
    snprintf(path, sizeof path, "%s/%s/config.json", dir, sub[k]);
    CHECK_INT(zr_hf_config_load(&got, path), 0);
    CHECK(same_config(&got, &want));
  }
  zr_st_set_close(&src);
}

int main(int argc, char **argv) {
  size_t len = 0;
  unsigned char *text = st_read_file(st_fixture("hf_config", "expected.json"), &len);
  if (!text) {
    fprintf(stderr, "FAIL: fixtures not found under %s (set ZERORL_SOURCE_DIR)\n", st_fixture("hf_config", NULL));
    return 1;
  }
  json_error_t jerr;
  json_t *expected = json_loadb((const char *)text, len, 0, &jerr);
  free(text);
  if (argc == 3 && strcmp(argv[1], "--write-model") == 0) {
    int rc = write_model(argv[2], expected);
    json_decref(expected);
    return rc ? 1 : 0;
  }
  char scratch[PATH_MAX];
  CHECK(st_mkdtemp(scratch, sizeof scratch) != NULL);
  zr_log_set_level(ZR_LOG_ERROR); /* the unknown-key warnings are expected here */
  test_fixtures(expected, scratch);
  test_refusals();
  test_model_round_trip(scratch, expected);
  st_rmtree(scratch);
  json_decref(expected);
  return TEST_DONE();
}
