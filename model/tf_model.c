/* tf_model.c: the transformer's tensor table and parameter/gradient buffers, loading and saving
 * Hugging Face directories, initialisation and accessors (transformer.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/log.h"
#include "model/tf_internal.h"

#define NAME_CAP 96
#define ALIGN_FLOATS 16

/* ---- the tensor table ------------------------------------------------------------------ */

static void add_tensor(zr_tf *m, const char *name, int ndim, int64_t s0, int64_t s1, bool no_decay) {
  zr_tf_tensor *t = &m->tensors[m->n_tensors];
  char *dst = m->names + m->n_tensors * NAME_CAP;
  snprintf(dst, NAME_CAP, "%s", name);
  t->name = dst;
  t->ndim = ndim;
  t->shape[0] = s0;
  t->shape[1] = ndim == 2 ? s1 : 0;
  t->numel = (size_t)s0 * (size_t)(ndim == 2 ? s1 : 1);
  t->offset = m->n_floats;
  t->no_decay = no_decay;
  m->n_floats += (t->numel + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
  m->n_params += t->numel;
  m->n_tensors++;
}

static bool o_bias(const zr_tf *m) { return m->cfg.attention_bias && m->cfg.arch != ZR_ARCH_QWEN2; }

/* Fills the table; with m->tensors NULL only counts. */
static size_t table(zr_tf *m) {
  const zr_model_config *c = &m->cfg;
  size_t per = 9 + (c->attention_bias ? 3 : 0) + (o_bias(m) ? 1 : 0) + (m->qk_norm ? 2 : 0);
  size_t count = 2 + (c->tie_word_embeddings ? 0 : 1) + per * (size_t)c->num_layers;
  if (!m->tensors) return count;
  char nm[NAME_CAP];
  add_tensor(m, "model.embed_tokens.weight", 2, m->vocab, m->d, false);
  for (int l = 0; l < m->n_layers; l++) {
#define T(suffix, nd, a, b, nodecay)                               \
  do {                                                             \
    snprintf(nm, sizeof nm, "model.layers.%d.%s", l, suffix);      \
    add_tensor(m, nm, nd, a, b, nodecay);                          \
  } while (0)
    T("input_layernorm.weight", 1, m->d, 0, true);
    T("self_attn.q_proj.weight", 2, m->qd, m->d, false);
    if (c->attention_bias) T("self_attn.q_proj.bias", 1, m->qd, 0, true);
    T("self_attn.k_proj.weight", 2, m->kvd, m->d, false);
    if (c->attention_bias) T("self_attn.k_proj.bias", 1, m->kvd, 0, true);
    T("self_attn.v_proj.weight", 2, m->kvd, m->d, false);
    if (c->attention_bias) T("self_attn.v_proj.bias", 1, m->kvd, 0, true);
    T("self_attn.o_proj.weight", 2, m->d, m->qd, false);
    if (o_bias(m)) T("self_attn.o_proj.bias", 1, m->d, 0, true);
    if (m->qk_norm) {
      T("self_attn.q_norm.weight", 1, m->hd, 0, true);
      T("self_attn.k_norm.weight", 1, m->hd, 0, true);
    }
    T("post_attention_layernorm.weight", 1, m->d, 0, true);
    T("mlp.gate_proj.weight", 2, m->ffn, m->d, false);
    T("mlp.up_proj.weight", 2, m->ffn, m->d, false);
    T("mlp.down_proj.weight", 2, m->d, m->ffn, false);
#undef T
  }
  add_tensor(m, "model.norm.weight", 1, m->d, 0, true);
  if (!c->tie_word_embeddings) add_tensor(m, "lm_head.weight", 2, m->vocab, m->d, false);
  ZR_ASSERT(m->n_tensors == count);
  return count;
}

const zr_tf_tensor *zr_tf_tensor_find(const zr_tf *m, const char *name) {
  for (size_t i = 0; i < m->n_tensors; i++)
    if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
  return NULL;
}

static float *lookup(zr_tf *m, float *buf, const char *fmt, int l) {
  char nm[NAME_CAP];
  snprintf(nm, sizeof nm, fmt, l);
  const zr_tf_tensor *t = zr_tf_tensor_find(m, nm);
  return t ? buf + t->offset : NULL;
}

static void resolve(zr_tf *m, float *buf, zr_tf_layer_w *lw, float **embed, float **norm, float **lm) {
  *embed = lookup(m, buf, "model.embed_tokens.weight", 0);
  *norm = lookup(m, buf, "model.norm.weight", 0);
  *lm = m->cfg.tie_word_embeddings ? *embed : lookup(m, buf, "lm_head.weight", 0);
  for (int l = 0; l < m->n_layers; l++) {
    zr_tf_layer_w *w = &lw[l];
    w->ln1 = lookup(m, buf, "model.layers.%d.input_layernorm.weight", l);
    w->wq = lookup(m, buf, "model.layers.%d.self_attn.q_proj.weight", l);
    w->bq = lookup(m, buf, "model.layers.%d.self_attn.q_proj.bias", l);
    w->wk = lookup(m, buf, "model.layers.%d.self_attn.k_proj.weight", l);
    w->bk = lookup(m, buf, "model.layers.%d.self_attn.k_proj.bias", l);
    w->wv = lookup(m, buf, "model.layers.%d.self_attn.v_proj.weight", l);
    w->bv = lookup(m, buf, "model.layers.%d.self_attn.v_proj.bias", l);
    w->wo = lookup(m, buf, "model.layers.%d.self_attn.o_proj.weight", l);
    w->bo = lookup(m, buf, "model.layers.%d.self_attn.o_proj.bias", l);
    w->qn = lookup(m, buf, "model.layers.%d.self_attn.q_norm.weight", l);
    w->kn = lookup(m, buf, "model.layers.%d.self_attn.k_norm.weight", l);
    w->ln2 = lookup(m, buf, "model.layers.%d.post_attention_layernorm.weight", l);
    w->wg = lookup(m, buf, "model.layers.%d.mlp.gate_proj.weight", l);
    w->wu = lookup(m, buf, "model.layers.%d.mlp.up_proj.weight", l);
    w->wd = lookup(m, buf, "model.layers.%d.mlp.down_proj.weight", l);
  }
}

/* ---- lifetime ------------------------------------------------------------------------------ */

static int check_config(const zr_model_config *c) {
  if (c->vocab_size <= 0 || c->hidden_size <= 0 || c->num_layers <= 0 || c->num_heads <= 0 ||
      c->num_kv_heads <= 0 || c->head_dim <= 0 || c->intermediate_size <= 0)
    return zr_seterr(-EINVAL, "model config: sizes must be positive (vocab %d, hidden %d, layers %d, heads %d/%d, "
                     "head_dim %d, intermediate %d)", c->vocab_size, c->hidden_size, c->num_layers, c->num_heads,
                     c->num_kv_heads, c->head_dim, c->intermediate_size);
  if (c->num_heads % c->num_kv_heads)
    return zr_seterr(-EINVAL, "model config: %d heads is not a multiple of %d kv heads", c->num_heads,
                     c->num_kv_heads);
  if (c->head_dim % 2 || c->head_dim > 1024)
    return zr_seterr(-EINVAL, "model config: head_dim %d must be even and <= 1024", c->head_dim);
  return 0;
}

int zr_tf_new(zr_tf **out, const zr_model_config *cfg, zr_backend *be) {
  *out = NULL;
  int rc = check_config(cfg);
  if (rc) return rc;
  zr_tf *m = calloc(1, sizeof *m);
  if (!m) return zr_seterr(-ENOMEM, "transformer: out of memory");
  m->cfg = *cfg;
  m->be = be;
  m->d = cfg->hidden_size;
  m->hq = cfg->num_heads;
  m->hkv = cfg->num_kv_heads;
  m->hd = cfg->head_dim;
  m->qd = m->hq * m->hd;
  m->kvd = m->hkv * m->hd;
  m->ffn = cfg->intermediate_size;
  m->vocab = cfg->vocab_size;
  m->n_layers = cfg->num_layers;
  m->eps = (float)cfg->rms_norm_eps;
  m->attn_scale = 1.0f / sqrtf((float)m->hd);
  m->qk_norm = cfg->qk_norm;
  size_t count = table(m);
  m->tensors = calloc(count, sizeof *m->tensors);
  m->names = calloc(count, NAME_CAP);
  m->lw = calloc((size_t)m->n_layers, sizeof *m->lw);
  m->lg = calloc((size_t)m->n_layers, sizeof *m->lg);
  if (!m->tensors || !m->names || !m->lw || !m->lg) {
    zr_tf_free(&m);
    return zr_seterr(-ENOMEM, "transformer: out of memory");
  }
  table(m);
  /* gradients are allocated on first use (zr_tf_ensure_grads): inference never pays for them */
  if ((rc = be->alloc(be, (void **)&m->params, m->n_floats * sizeof(float))) ||
      (rc = be->alloc(be, (void **)&m->inv_freq, (size_t)m->hd / 2 * sizeof(float)))) {
    zr_tf_free(&m);
    return rc;
  }
  if (be->weights_hint) be->weights_hint(be, m->params, m->n_floats); /* e.g. bf16 copies for GEMMs */
  resolve(m, m->params, m->lw, &m->embed, &m->norm, &m->lm_head);
  m->rope_len = -1;
  if ((rc = zr_tf_update_rope(m, 1))) {
    zr_tf_free(&m);
    return rc;
  }
  *out = m;
  return 0;
}

void zr_tf_free(zr_tf **pm) {
  zr_tf *m = *pm;
  if (!m) return;
  *pm = NULL;
  zr_tf_arena_release(m, &m->train);
  zr_tf_arena_release(m, &m->infer);
  if (m->be) {
    m->be->free(m->be, m->params);
    if (m->grads) m->be->free(m->be, m->grads);
    m->be->free(m->be, m->inv_freq);
  }
  free(m->tensors);
  free(m->names);
  free(m->lw);
  free(m->lg);
  free(m->tr_rows);
  free(m->h_int);
  free(m->h_f);
  free(m);
}

/* ---- accessors ------------------------------------------------------------------------------ */

const zr_model_config *zr_tf_config(const zr_tf *m) { return &m->cfg; }
zr_backend *zr_tf_backend(const zr_tf *m) { return m->be; }
void zr_tf_set_options(zr_tf *m, const zr_tf_options *opt) {
  if (opt->recompute != m->opt.recompute || opt->logprob_temperature != m->opt.logprob_temperature)
    m->have_train = false;
  m->opt = *opt;
}
zr_tf_options zr_tf_get_options(const zr_tf *m) { return m->opt; }
size_t zr_tf_n_tensors(const zr_tf *m) { return m->n_tensors; }
const zr_tf_tensor *zr_tf_tensor_at(const zr_tf *m, size_t i) { return i < m->n_tensors ? &m->tensors[i] : NULL; }
size_t zr_tf_n_floats(const zr_tf *m) { return m->n_floats; }
size_t zr_tf_n_params(const zr_tf *m) { return m->n_params; }
float *zr_tf_params(zr_tf *m) { return m->params; }
int zr_tf_ensure_grads(zr_tf *m) {
  if (m->grads) return 0;
  int rc = m->be->alloc(m->be, (void **)&m->grads, m->n_floats * sizeof(float)); /* zero-filled */
  if (rc) return rc;
  resolve(m, m->grads, m->lg, &m->g_embed, &m->g_norm, &m->g_lm_head);
  return 0;
}

float *zr_tf_grads(zr_tf *m) { return zr_tf_ensure_grads(m) ? NULL : m->grads; }
int zr_tf_zero_grads(zr_tf *m) {
  int rc = zr_tf_ensure_grads(m);
  if (rc == 0) m->be->zero(m->be, m->grads, m->n_floats * sizeof(float));
  return rc;
}

static int tensor_io(zr_tf *m, float *buf, const char *name, float *host, size_t n, bool to_model) {
  const zr_tf_tensor *t = zr_tf_tensor_find(m, name);
  if (!t) return zr_seterr(-ENOENT, "transformer: no tensor '%s' in this %s model", name, zr_arch_name(m->cfg.arch));
  if (n != t->numel)
    return zr_seterr(-EINVAL, "transformer: tensor '%s' has %zu elements, not %zu", name, t->numel, n);
  if (to_model)
    m->be->upload(m->be, buf + t->offset, host, n * sizeof(float));
  else
    m->be->download(m->be, host, buf + t->offset, n * sizeof(float));
  return 0;
}

int zr_tf_set_tensor(zr_tf *m, const char *name, const float *host, size_t n) {
  return tensor_io(m, m->params, name, (float *)host, n, true);
}
int zr_tf_get_tensor(zr_tf *m, const char *name, float *host, size_t n) {
  return tensor_io(m, m->params, name, host, n, false);
}
int zr_tf_get_grad(zr_tf *m, const char *name, float *host, size_t n) {
  int rc = zr_tf_ensure_grads(m);
  return rc ? rc : tensor_io(m, m->grads, name, host, n, false);
}

/* splitmix64 and Box-Muller: N(0,1) keyed by (seed, index) */
static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static double normal(uint64_t seed, uint64_t i) {
  double u1 = ((mix64(seed ^ mix64(2 * i)) >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
  double u2 = (mix64(seed ^ mix64(2 * i + 1)) >> 11) / 9007199254740992.0;
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

int zr_tf_init_random(zr_tf *m, uint64_t seed, float std) {
  float *host = malloc(m->n_floats * sizeof(float));
  if (!host) return zr_seterr(-ENOMEM, "transformer: out of memory for initialisation");
  memset(host, 0, m->n_floats * sizeof(float));
  for (size_t t = 0; t < m->n_tensors; t++) {
    const zr_tf_tensor *tt = &m->tensors[t];
    float *p = host + tt->offset;
    bool is_bias = strstr(tt->name, ".bias") != NULL;
    for (size_t i = 0; i < tt->numel; i++)
      p[i] = tt->ndim == 1 ? (is_bias ? 0.0f : 1.0f) : (float)(std * normal(seed, tt->offset + i));
  }
  m->be->upload(m->be, m->params, host, m->n_floats * sizeof(float));
  free(host);
  return 0;
}

/* ---- loading ------------------------------------------------------------------------------- */

static bool ignorable(const zr_tf *m, const char *name) {
  if (m->cfg.tie_word_embeddings && strcmp(name, "lm_head.weight") == 0) return true;
  size_t n = strlen(name), s = strlen("rotary_emb.inv_freq");
  return n >= s && strcmp(name + n - s, "rotary_emb.inv_freq") == 0;
}

int zr_tf_load_weights(zr_tf *m, const char *dir) {
  zr_st_set *set = NULL;
  m->have_train = false; /* saved activations belong to the old weights */
  int rc = zr_st_set_open_dir(&set, dir);
  if (rc) return rc;
  /* converted and uploaded in pieces, and each piece's file pages released after its copy: the
   * peak memory is the parameters plus one piece, not parameters + mapped file + largest tensor */
  enum { STAGE_FLOATS = 1 << 22 };
  float *stage = malloc(STAGE_FLOATS * sizeof(float));
  if (!stage) {
    zr_st_set_close(&set);
    return zr_seterr(-ENOMEM, "%s: out of memory loading weights", dir);
  }
  for (size_t i = 0; i < zr_st_set_count(set) && !rc; i++) { /* tensors we do not know */
    const zr_st_tensor *st = zr_st_set_get(set, i);
    if (!zr_tf_tensor_find(m, st->name) && !ignorable(m, st->name))
      rc = zr_seterr(-EINVAL, "%s: tensor '%s' is not part of a %s model with this config.json", dir, st->name,
                     zr_arch_name(m->cfg.arch));
  }
  for (size_t i = 0; i < m->n_tensors && !rc; i++) {
    const zr_tf_tensor *t = &m->tensors[i];
    const zr_st_tensor *st = zr_st_set_find(set, t->name);
    if (!st) {
      rc = zr_seterr(-EINVAL, "%s: tensor '%s' is missing", dir, t->name);
      break;
    }
    bool shape_ok = st->ndim == t->ndim;
    for (int k = 0; shape_ok && k < t->ndim; k++) shape_ok = st->shape[k] == t->shape[k];
    if (!shape_ok) {
      rc = zr_seterr(-EINVAL, "%s: tensor '%s' has shape [%" PRId64 "%s%" PRId64 "] (ndim %d), expected [%" PRId64
                     "%s%" PRId64 "]", dir, t->name, st->shape[0], st->ndim > 1 ? ", " : "",
                     st->ndim > 1 ? st->shape[1] : (int64_t)0, st->ndim, t->shape[0], t->ndim > 1 ? ", " : "",
                     t->ndim > 1 ? t->shape[1] : (int64_t)0);
      break;
    }
    if (st->dtype != ZR_DT_F32 && st->dtype != ZR_DT_F16 && st->dtype != ZR_DT_BF16) {
      rc = zr_seterr(-EINVAL, "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 weights load", dir, t->name,
                     zr_dtype_name(st->dtype));
      break;
    }
    size_t esz = zr_dtype_size(st->dtype);
    for (size_t at = 0; at < t->numel; at += STAGE_FLOATS) {
      size_t cnt = t->numel - at < STAGE_FLOATS ? t->numel - at : STAGE_FLOATS;
      const uint8_t *src = (const uint8_t *)st->data + at * esz;
      zr_dtype_to_f32(st->dtype, src, stage, cnt);
      m->be->upload(m->be, m->params + t->offset + at, stage, cnt * sizeof(float));
      zr_st_set_release(set, src, cnt * esz);
    }
  }
  free(stage);
  zr_st_set_close(&set);
  return rc;
}

int zr_tf_load(zr_tf **out, const char *dir, zr_backend *be) {
  *out = NULL;
  char path[4096];
  if (snprintf(path, sizeof path, "%s/config.json", dir) >= (int)sizeof path)
    return zr_seterr(-ENAMETOOLONG, "%s: path too long", dir);
  zr_model_config cfg;
  int rc = zr_hf_config_load(&cfg, path);
  if (rc) return rc;
  zr_tf *m;
  if ((rc = zr_tf_new(&m, &cfg, be))) return rc;
  if ((rc = zr_tf_load_weights(m, dir))) {
    zr_tf_free(&m);
    return rc;
  }
  *out = m;
  return 0;
}

/* ---- saving -------------------------------------------------------------------------------- */

static int mkdirs(const char *dir) {
  char p[4096];
  if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) return zr_seterr(-ENAMETOOLONG, "%s: path too long", dir);
  for (char *s = p + 1;; s++) {
    if (*s == '/' || *s == 0) {
      char c = *s;
      *s = 0;
      if (mkdir(p, 0755) != 0 && errno != EEXIST) return zr_seterr(-errno, "%s: cannot create directory: %s", p,
                                                                   strerror(errno));
      *s = c;
      if (!c) break;
    }
  }
  return 0;
}

int zr_tf_save(zr_tf *m, const char *dir, zr_dtype dtype, size_t shard_bytes) {
  if (dtype != ZR_DT_F32 && dtype != ZR_DT_F16 && dtype != ZR_DT_BF16)
    return zr_seterr(-EINVAL, "%s: weights can be saved as F32, F16 or BF16, not %s", dir, zr_dtype_name(dtype));
  int rc = mkdirs(dir);
  if (rc) return rc;
  size_t esz = zr_dtype_size(dtype);
  float *host = malloc(m->n_floats * sizeof(float));
  unsigned char *conv = dtype == ZR_DT_F32 ? NULL : malloc(m->n_floats * esz);
  zr_st_write_tensor *wt = calloc(m->n_tensors, sizeof *wt);
  if (!host || (dtype != ZR_DT_F32 && !conv) || !wt) {
    rc = zr_seterr(-ENOMEM, "%s: out of memory saving the model", dir);
    goto done;
  }
  m->be->download(m->be, host, m->params, m->n_floats * sizeof(float));
  for (size_t i = 0; i < m->n_tensors; i++) {
    const zr_tf_tensor *t = &m->tensors[i];
    wt[i].name = t->name;
    wt[i].dtype = dtype;
    wt[i].ndim = t->ndim;
    wt[i].shape[0] = t->shape[0];
    wt[i].shape[1] = t->shape[1];
    if (conv) {
      zr_f32_to_dtype(dtype, host + t->offset, conv + t->offset * esz, t->numel);
      wt[i].data = conv + t->offset * esz;
    } else {
      wt[i].data = host + t->offset;
    }
  }
  if ((rc = zr_st_write_dir(dir, wt, m->n_tensors, shard_bytes))) goto done;
  zr_model_config c = m->cfg;
  c.torch_dtype = dtype;
  char path[4096];
  snprintf(path, sizeof path, "%s/config.json", dir);
  rc = zr_hf_config_write(&c, path);
done:
  free(host);
  free(conv);
  free(wt);
  return rc;
}
