/* hf_config_write.c: writing config.json (hf_config.h zr_hf_config_write).
 *
 * The layout is the legacy one every consumer reads (top-level rope_theta and rope_scaling,
 * torch_dtype next to transformers 5's dtype), keys sorted as transformers writes them, numbers
 * in their shortest exact decimal form. Written atomically (fileio.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/fileio.h"
#include "model/hf_config.h"

/* Numbers as Python's repr writes them: integral values below 1e16 as "40.0", others in the
 * shortest %g form that reads back as exactly v. */
static void fmt_num(char *buf, size_t cap, double v) {
  if (v == floor(v) && fabs(v) < 1e16) {
    snprintf(buf, cap, "%.1f", v);
    return;
  }
  for (int p = 1; p <= 17; p++) {
    snprintf(buf, cap, "%.*g", p, v);
    if (strtod(buf, NULL) == v) break;
  }
  if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", cap - strlen(buf) - 1);
}

static const char *model_type(zr_arch a) {
  return a == ZR_ARCH_QWEN2 ? "qwen2" : a == ZR_ARCH_QWEN3 ? "qwen3" : "llama";
}

static const char *dtype_name(zr_dtype d) {
  return d == ZR_DT_BF16 ? "bfloat16" : d == ZR_DT_F16 ? "float16" : "float32";
}

static void write_rope_scaling(FILE *f, const zr_model_config *c) {
  char n[64];
  const char *kind[] = {"default", "linear", "dynamic", "yarn", "llama3"};
  if (c->rope_scaling.kind == ZR_ROPE_DEFAULT) {
    fprintf(f, "  \"rope_scaling\": null,\n");
    return;
  }
  fprintf(f, "  \"rope_scaling\": {\n");
  switch (c->rope_scaling.kind) {
    case ZR_ROPE_YARN:
      if (c->rope_scaling.attention_factor > 0) {
        fmt_num(n, sizeof n, c->rope_scaling.attention_factor);
        fprintf(f, "    \"attention_factor\": %s,\n", n);
      }
      fmt_num(n, sizeof n, c->rope_scaling.beta_fast);
      fprintf(f, "    \"beta_fast\": %s,\n", n);
      fmt_num(n, sizeof n, c->rope_scaling.beta_slow);
      fprintf(f, "    \"beta_slow\": %s,\n", n);
      fmt_num(n, sizeof n, c->rope_scaling.factor);
      fprintf(f, "    \"factor\": %s,\n", n);
      fprintf(f, "    \"original_max_position_embeddings\": %d,\n", c->rope_scaling.original_max_position_embeddings);
      break;
    case ZR_ROPE_LLAMA3:
      fmt_num(n, sizeof n, c->rope_scaling.factor);
      fprintf(f, "    \"factor\": %s,\n", n);
      fmt_num(n, sizeof n, c->rope_scaling.high_freq_factor);
      fprintf(f, "    \"high_freq_factor\": %s,\n", n);
      fmt_num(n, sizeof n, c->rope_scaling.low_freq_factor);
      fprintf(f, "    \"low_freq_factor\": %s,\n", n);
      fprintf(f, "    \"original_max_position_embeddings\": %d,\n", c->rope_scaling.original_max_position_embeddings);
      break;
    default: /* linear, dynamic */
      fmt_num(n, sizeof n, c->rope_scaling.factor);
      fprintf(f, "    \"factor\": %s,\n", n);
      break;
  }
  fprintf(f, "    \"rope_type\": \"%s\"\n  },\n", kind[c->rope_scaling.kind]);
}

int zr_hf_config_write(const zr_model_config *c, const char *path) {
  if ((unsigned)c->arch > ZR_ARCH_LLAMA || (unsigned)c->rope_scaling.kind > ZR_ROPE_LLAMA3 ||
      (c->torch_dtype != ZR_DT_F32 && c->torch_dtype != ZR_DT_F16 && c->torch_dtype != ZR_DT_BF16) || c->n_eos < 0 ||
      c->n_eos > ZR_MAX_EOS)
    return zr_seterr(-EINVAL, "%s: invalid model config (architecture, rope kind, dtype or eos count)", path);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return zr_seterr(-ENOMEM, "%s: out of memory", path);
  char n[64];
  bool qwen = c->arch != ZR_ARCH_LLAMA;
  fprintf(f, "{\n  \"architectures\": [\n    \"%s\"\n  ],\n", zr_arch_name(c->arch));
  if (c->arch != ZR_ARCH_QWEN2) fprintf(f, "  \"attention_bias\": %s,\n", c->attention_bias ? "true" : "false");
  fprintf(f, "  \"attention_dropout\": 0.0,\n");
  if (c->bos_token_id >= 0) fprintf(f, "  \"bos_token_id\": %d,\n", c->bos_token_id);
  else fprintf(f, "  \"bos_token_id\": null,\n");
  fprintf(f, "  \"dtype\": \"%s\",\n", dtype_name(c->torch_dtype));
  if (c->n_eos == 0) {
    fprintf(f, "  \"eos_token_id\": null,\n");
  } else if (c->n_eos == 1) {
    fprintf(f, "  \"eos_token_id\": %d,\n", c->eos_token_ids[0]);
  } else {
    fprintf(f, "  \"eos_token_id\": [\n");
    for (int i = 0; i < c->n_eos; i++) fprintf(f, "    %d%s\n", c->eos_token_ids[i], i + 1 < c->n_eos ? "," : "");
    fprintf(f, "  ],\n");
  }
  fprintf(f, "  \"head_dim\": %d,\n", c->head_dim);
  fprintf(f, "  \"hidden_act\": \"silu\",\n");
  fprintf(f, "  \"hidden_size\": %d,\n", c->hidden_size);
  fprintf(f, "  \"initializer_range\": 0.02,\n");
  fprintf(f, "  \"intermediate_size\": %d,\n", c->intermediate_size);
  fprintf(f, "  \"max_position_embeddings\": %d,\n", c->max_position_embeddings);
  if (!qwen) fprintf(f, "  \"mlp_bias\": false,\n");
  fprintf(f, "  \"model_type\": \"%s\",\n", model_type(c->arch));
  fprintf(f, "  \"num_attention_heads\": %d,\n", c->num_heads);
  fprintf(f, "  \"num_hidden_layers\": %d,\n", c->num_layers);
  fprintf(f, "  \"num_key_value_heads\": %d,\n", c->num_kv_heads);
  fmt_num(n, sizeof n, c->rms_norm_eps);
  fprintf(f, "  \"rms_norm_eps\": %s,\n", n);
  write_rope_scaling(f, c);
  fmt_num(n, sizeof n, c->rope_theta);
  fprintf(f, "  \"rope_theta\": %s,\n", n);
  if (qwen) fprintf(f, "  \"sliding_window\": null,\n");
  fprintf(f, "  \"tie_word_embeddings\": %s,\n", c->tie_word_embeddings ? "true" : "false");
  fprintf(f, "  \"torch_dtype\": \"%s\",\n", dtype_name(c->torch_dtype));
  fprintf(f, "  \"use_cache\": true,\n");
  if (qwen) fprintf(f, "  \"use_sliding_window\": false,\n");
  fprintf(f, "  \"vocab_size\": %d\n}\n", c->vocab_size);
  if (fclose(f) != 0 || !text) {
    free(text);
    return zr_seterr(-ENOMEM, "%s: out of memory", path);
  }
  zr_file_piece p = {text, len};
  int rc = zr_file_write_atomic(path, &p, 1);
  free(text);
  return rc;
}
