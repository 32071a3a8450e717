/* rope.c: rotary inverse frequencies (hf_config.h zr_rope_init), computed the way
 * transformers.modeling_rope_utils (5.x) does: the model's default rope and
 * ROPE_INIT_FUNCTIONS["linear" | "dynamic" | "yarn" | "llama3"].
 *
 * transformers works on fp32 tensors with Python floats as scalars, so each step here is an fp32
 * operation where torch's is (a scalar is rounded to fp32 first; `x / tensor` is
 * `tensor.reciprocal() * x`), and a double operation where the Python code does plain float
 * arithmetic. The one libm difference left is pow: torch's fp32 pow may be an ulp off the
 * correctly rounded value computed here. */
#include <math.h>

#include "common/error.h"
#include "model/hf_config.h"

/* base ** (arange(0, dim, 2).float() / dim): the exponent is rounded to fp32 first. */
static float pos_freq(double base, int i, int dim) {
  float e = (float)(2 * i) / (float)dim;
  return (float)pow((double)(float)base, (double)e);
}

static void default_freqs(double base, int dim, float *inv) {
  for (int i = 0; i < dim / 2; i++) inv[i] = 1.0f / pos_freq(base, i, dim);
}

/* YaRN's inverse dimension formula (Python double arithmetic). */
static double correction_dim(double num_rotations, int dim, double base, int max_pos) {
  return (dim * log(max_pos / (num_rotations * 2 * M_PI))) / (2 * log(base));
}

static void yarn_freqs(const zr_model_config *c, int dim, float *inv) {
  double base = c->rope_theta, factor = c->rope_scaling.factor;
  int orig = c->rope_scaling.original_max_position_embeddings;
  double low = floor(correction_dim(c->rope_scaling.beta_fast, dim, base, orig));
  double high = ceil(correction_dim(c->rope_scaling.beta_slow, dim, base, orig));
  if (low < 0) low = 0;
  if (high > dim - 1) high = dim - 1;
  if (low == high) high += 0.001; /* prevent a singular ramp */
  float flow = (float)low, fspan = (float)(high - low), ffactor = (float)factor;
  for (int i = 0; i < dim / 2; i++) {
    float p = pos_freq(base, i, dim);
    float extrapolation = 1.0f / p, interpolation = 1.0f / (ffactor * p);
    float ramp = ((float)i - flow) / fspan;
    ramp = ramp < 0.0f ? 0.0f : ramp > 1.0f ? 1.0f : ramp;
    float extrapolation_factor = 1.0f - ramp;
    inv[i] = interpolation * (1.0f - extrapolation_factor) + extrapolation * extrapolation_factor;
  }
}

static void llama3_freqs(const zr_model_config *c, int dim, float *inv) {
  double factor = c->rope_scaling.factor, lo = c->rope_scaling.low_freq_factor, hi = c->rope_scaling.high_freq_factor;
  int old_ctx = c->rope_scaling.original_max_position_embeddings;
  float low_wavelen = (float)(old_ctx / lo), high_wavelen = (float)(old_ctx / hi);
  float ffactor = (float)factor, flo = (float)lo, fspan = (float)(hi - lo), fctx = (float)old_ctx;
  default_freqs(c->rope_theta, dim, inv);
  for (int i = 0; i < dim / 2; i++) {
    float f = inv[i];
    float wavelen = (1.0f / f) * (float)(2 * M_PI);
    float scaled = wavelen > low_wavelen ? f / ffactor : f;
    if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) {
      float smooth = ((1.0f / wavelen) * fctx - flo) / fspan;
      scaled = (1.0f - smooth) * scaled / ffactor + smooth * scaled;
    }
    inv[i] = scaled;
  }
}

void zr_rope_init(const zr_model_config *c, int seq_len, float *inv_freq, float *attention_scaling) {
  int dim = c->head_dim;
  ZR_ASSERT(dim > 0 && dim % 2 == 0);
  *attention_scaling = 1.0f;
  switch (c->rope_scaling.kind) {
    case ZR_ROPE_DEFAULT:
      default_freqs(c->rope_theta, dim, inv_freq);
      break;
    case ZR_ROPE_LINEAR:
      default_freqs(c->rope_theta, dim, inv_freq);
      for (int i = 0; i < dim / 2; i++) inv_freq[i] /= (float)c->rope_scaling.factor;
      break;
    case ZR_ROPE_DYNAMIC: {
      /* NTK-aware: the base grows once seq_len passes max_position_embeddings */
      double factor = c->rope_scaling.factor, max_pos = c->max_position_embeddings;
      double len = seq_len > c->max_position_embeddings ? seq_len : max_pos;
      double base = c->rope_theta * pow((factor * len / max_pos) - (factor - 1), (double)dim / (dim - 2));
      default_freqs(base, dim, inv_freq);
      break;
    }
    case ZR_ROPE_YARN: {
      yarn_freqs(c, dim, inv_freq);
      double af = c->rope_scaling.attention_factor;
      double factor = c->rope_scaling.factor;
      if (!(af > 0)) af = factor <= 1 ? 1.0 : 0.1 * log(factor) + 1.0;
      *attention_scaling = (float)af;
      break;
    }
    case ZR_ROPE_LLAMA3:
      llama3_freqs(c, dim, inv_freq);
      break;
  }
}
