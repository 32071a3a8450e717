/* hf_config.h: a Hugging Face model's config.json, as zerorl's model engine needs it.
 *
 * Supported architectures: Qwen2ForCausalLM, Qwen3ForCausalLM, LlamaForCausalLM. The reader
 * takes what those configs hold (sizes, heads, head_dim, rope_theta and rope_scaling, RMSNorm
 * eps, tied embeddings, attention bias, Qwen3's q/k norms, token ids, dtype) and refuses what
 * the engine cannot run with an error naming the key: another architecture, hidden_act other
 * than silu, a rope_scaling type it does not implement, sliding-window attention switched on,
 * inconsistent sizes (hidden_size not divisible by heads without an explicit head_dim, heads
 * not a multiple of kv heads). The writer emits a config.json that transformers loads as the
 * same model. zr_rope_init computes the rotary inverse frequencies exactly as transformers'
 * ROPE_INIT_FUNCTIONS does for each supported kind. */
#ifndef ZR_HF_CONFIG_H
#define ZR_HF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "model/safetensors.h"

typedef enum { ZR_ARCH_QWEN2 = 0, ZR_ARCH_QWEN3, ZR_ARCH_LLAMA } zr_arch;

/* rope_scaling "rope_type" (or legacy "type"): none/default, linear, dynamic, yarn, llama3. */
typedef enum { ZR_ROPE_DEFAULT = 0, ZR_ROPE_LINEAR, ZR_ROPE_DYNAMIC, ZR_ROPE_YARN, ZR_ROPE_LLAMA3 } zr_rope_kind;

#define ZR_MAX_EOS 8

typedef struct {
  zr_arch arch;
  int vocab_size;
  int hidden_size;
  int num_layers;          /* num_hidden_layers */
  int num_heads;           /* num_attention_heads */
  int num_kv_heads;        /* num_key_value_heads (null: num_heads; absent: transformers' class
                              default, num_heads for Llama and 32 for Qwen2/Qwen3) */
  int head_dim;            /* explicit, or hidden_size / num_heads (absent for Qwen3: 128, as
                              transformers' Qwen3Config) */
  int intermediate_size;
  int max_position_embeddings;
  double rope_theta;
  struct {
    zr_rope_kind kind;
    double factor;
    double low_freq_factor, high_freq_factor;    /* llama3 */
    int original_max_position_embeddings;        /* llama3, yarn, dynamic */
    double beta_fast, beta_slow;                 /* yarn (defaults 32, 1) */
    double attention_factor;                     /* yarn; 0 = derived from factor */
  } rope_scaling;
  double rms_norm_eps;
  bool tie_word_embeddings;
  bool attention_bias;     /* q/k/v projections have biases (Qwen2: always; Llama and Qwen3:
                              attention_bias, which then puts a bias on o_proj too) */
  bool qk_norm;            /* Qwen3: RMSNorm on q and k per head */
  int bos_token_id;        /* -1 if absent */
  int eos_token_ids[ZR_MAX_EOS];
  int n_eos;
  zr_dtype torch_dtype;    /* F32, F16 or BF16 (default F32 when absent) */
} zr_model_config;

const char *zr_arch_name(zr_arch a); /* "Qwen2ForCausalLM", ... */

/* Parses config.json text; name is used in messages. */
int zr_hf_config_parse(zr_model_config *c, const char *json, size_t len, const char *name);
int zr_hf_config_load(zr_model_config *c, const char *path);
/* Writes config.json (path is the file). */
int zr_hf_config_write(const zr_model_config *c, const char *path);

/* inv_freq[head_dim/2] and the attention scaling (1 except yarn) for sequence length seq_len
 * (only the dynamic kind depends on it). */
void zr_rope_init(const zr_model_config *c, int seq_len, float *inv_freq, float *attention_scaling);

#endif
