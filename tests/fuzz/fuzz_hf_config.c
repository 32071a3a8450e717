/* libFuzzer target for model/hf_config.c: arbitrary bytes as config.json.
 *
 * Beyond "no crash, no leak, no sanitizer report": a refused config leaves the output
 * untouched and a message naming the file; an accepted one satisfies the invariants the
 * engine relies on (positive sizes, even head_dim, kv heads dividing heads, a supported rope
 * kind and dtype, at most ZR_MAX_EOS end ids) and zr_rope_init gives finite frequencies. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "model/hf_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int quiet;
  if (!quiet) {
    zr_log_set_level(ZR_LOG_OFF); /* unknown keys are warnings; keep the fuzzer's output clean */
    quiet = 1;
  }
  zr_model_config c, before;
  memset(&c, 0xa5, sizeof c);
  before = c;
  if (zr_hf_config_parse(&c, (const char *)data, size, "fuzz.json") != 0) {
    if (memcmp(&c, &before, sizeof c) != 0 || !strstr(zr_errmsg(), "fuzz.json")) abort();
    return 0;
  }
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.num_layers <= 0 || c.intermediate_size <= 0 ||
      c.num_heads <= 0 || c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0 || c.head_dim <= 0 ||
      c.head_dim % 2 != 0 || c.max_position_embeddings <= 0 || !(c.rope_theta > 0) || !(c.rms_norm_eps > 0) ||
      (unsigned)c.rope_scaling.kind > ZR_ROPE_LLAMA3 || c.n_eos < 0 || c.n_eos > ZR_MAX_EOS ||
      (c.torch_dtype != ZR_DT_F32 && c.torch_dtype != ZR_DT_F16 && c.torch_dtype != ZR_DT_BF16) ||
      (unsigned)c.arch > ZR_ARCH_LLAMA)
    abort();
  float *inv = malloc((size_t)c.head_dim / 2 * sizeof *inv), scale;
  if (!inv) abort();
  /* a context past the trained length (dynamic scaling), without overflowing int */
  int seq = c.max_position_embeddings > INT_MAX / 2 ? INT_MAX : 2 * c.max_position_embeddings;
  zr_rope_init(&c, seq, inv, &scale);
  for (int i = 0; i < c.head_dim / 2; i++)
    if (isnan(inv[i])) abort();
  free(inv);
  return 0;
}
