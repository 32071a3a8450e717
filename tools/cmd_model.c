/* zerorl model: make a randomly initialised model directory (init) and describe one (info).
 *
 * init writes a complete Hugging Face model directory: config.json and model.safetensors (the
 * model engine's zr_tf_init_random and zr_tf_save), tokenizer.json and tokenizer_config.json
 * (copied from an existing tokenizer, or a byte-level tokenizer of the 256 byte tokens plus
 * three special tokens made here), and generation_config.json with the eos ids. The result
 * loads in transformers (AutoModelForCausalLM, AutoTokenizer) and in zerorl. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "model/backend.h"
#include "model/fileio.h"
#include "model/hf_config.h"
#include "model/safetensors.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "tools/commands.h"

static const char model_usage[] =
    "usage: zerorl model init --arch qwen2|qwen3|llama --layers N --hidden N --heads N --kv-heads N\n"
    "                         --intermediate N (--vocab-from PATH | --byte-vocab) --out DIR [options]\n"
    "       zerorl model info DIR\n"
    "\n"
    "init  writes a randomly initialised model to DIR (created; an existing model there is an\n"
    "      error unless --force): config.json, model.safetensors, tokenizer.json,\n"
    "      tokenizer_config.json and generation_config.json (eos ids: the tokenizer's eos\n"
    "      tokens, then <|endoftext|> when it is a special token). transformers'\n"
    "      AutoModelForCausalLM and AutoTokenizer load it, and so does zerorl. Weights follow\n"
    "      transformers' initialisation: matrices N(0, std^2), norm weights 1, biases 0,\n"
    "      deterministic in --seed.\n"
    "\n"
    "  --arch A           qwen2 (q/k/v biases), qwen3 (q/k RMSNorm) or llama\n"
    "  --layers N        decoder layers\n"
    "  --hidden N        hidden size\n"
    "  --heads N         attention heads\n"
    "  --kv-heads N      key/value heads (heads must be a multiple of it)\n"
    "  --intermediate N  MLP intermediate size\n"
    "  --head-dim N      per-head size (default hidden / heads; must be even)\n"
    "  --vocab-from PATH copy the tokenizer (PATH: a tokenizer.json, or a directory holding one;\n"
    "                    tokenizer_config.json next to it is copied too) and size the\n"
    "                    vocabulary from it\n"
    "  --byte-vocab      a byte-level BPE tokenizer of the 256 byte tokens (GPT-2 byte alphabet,\n"
    "                    id = byte value), no merges, then <|endoftext|> (256), <|im_start|> (257)\n"
    "                    and <|im_end|> (258) as special tokens; eos <|im_end|>, pad\n"
    "                    <|endoftext|>\n"
    "  --add-tokens LIST with --byte-vocab: comma-separated extra tokens (2-64 bytes each, no\n"
    "                    commas) added as added, non-special tokens after the specials (ids\n"
    "                    259...), e.g. '<think>,</think>,<answer>,</answer>' so that the R1\n"
    "                    tags are single tokens\n"
    "  --vocab N         model vocabulary size (default: the tokenizer's); may exceed the\n"
    "                    tokenizer's, as Qwen's 151936 does, never be below it\n"
    "  --tie             tie the LM head to the embedding (default: separate lm_head.weight)\n"
    "  --seed S          initialisation seed (default 0)\n"
    "  --std X           standard deviation of the matrices (default 0.02)\n"
    "  --dtype D         f32 (default) or bf16 weights on disk\n"
    "  --max-pos N       max_position_embeddings (default 32768)\n"
    "  --rope-theta X    rotary base (default 1000000 for Qwen, 500000 for Llama)\n"
    "  --force           overwrite a model already in DIR\n"
    "  --out DIR         the model directory to write\n"
    "\n"
    "info  prints a model directory's architecture, sizes, parameter count, weight dtypes and\n"
    "      its tokenizer's vocabulary size and special tokens.\n";

#define CMD "zerorl model"

/* ---- small helpers ------------------------------------------------------------------------ */

static int parse_long(const char *flag, const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    fprintf(stderr, CMD " init: %s needs an integer in %ld..%ld (got '%s')\n", flag, lo, hi, s);
    return 2;
  }
  *out = v;
  return 0;
}

static int parse_double(const char *flag, const char *s, double lo, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v > lo) || v > 1e30) {
    fprintf(stderr, CMD " init: %s needs a number above %g (got '%s')\n", flag, lo, s);
    return 2;
  }
  *out = v;
  return 0;
}

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

/* Reads a whole file; NULL with the error set. */
static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    zr_seterr(-errno, "%s: %s", path, strerror(errno));
    return NULL;
  }
  char *buf = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? 2 * cap : 1 << 16;
      char *p = realloc(buf, cap + 1);
      if (!p) {
        free(buf);
        fclose(f);
        zr_seterr(-ENOMEM, "%s: out of memory", path);
        return NULL;
      }
      buf = p;
    }
    size_t k = fread(buf + n, 1, cap - n, f);
    n += k;
    if (k == 0) break;
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(buf);
    zr_seterr(-EIO, "%s: read error", path);
    return NULL;
  }
  buf[n] = 0;
  *len = n;
  return buf;
}

static int copy_file(const char *from, const char *to) {
  size_t n;
  char *buf = read_file(from, &n);
  if (!buf) return -1;
  zr_file_piece p = {buf, n};
  int rc = zr_file_write_atomic(to, &p, 1);
  free(buf);
  return rc;
}

static int write_json(const char *path, json_t *j) {
  char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (!s) return zr_seterr(-ENOMEM, "%s: out of memory", path);
  size_t n = strlen(s);
  zr_file_piece p[2] = {{s, n}, {"\n", 1}};
  int rc = zr_file_write_atomic(path, p, 2);
  free(s);
  return rc;
}

/* ---- the byte-level tokenizer ------------------------------------------------------------- */

static const char *const byte_specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the others to U+0100.. */
static unsigned byte_to_codepoint(unsigned b) {
  int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  if (printable) return b;
  unsigned n = 0;
  for (unsigned c = 0; c < b; c++)
    if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) n++;
  return 256 + n;
}

static json_t *bytelevel_part(int trim_offsets) {
  return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", trim_offsets,
                   "use_regex", 1);
}

#define MAX_ADDED_TOKENS 256

typedef struct {
  char *buf;                        /* the LIST, split in place */
  const char *tok[MAX_ADDED_TOKENS];
  int n;
} added_tokens;

/* Splits --add-tokens: 0, or 2 with a message (empty, too short or long, duplicate, special). */
static int parse_added_tokens(const char *list, added_tokens *out) {
  out->n = 0;
  out->buf = strdup(list);
  if (!out->buf) return 1;
  for (char *p = out->buf;;) {
    char *comma = strchr(p, ',');
    if (comma) *comma = '\0';
    size_t n = strlen(p);
    if (n < 2 || n > 64) {
      fprintf(stderr, CMD " init: --add-tokens: token '%s' must be 2 to 64 bytes (single bytes are already tokens)\n", p);
      return 2;
    }
    for (size_t k = 0; k < sizeof byte_specials / sizeof byte_specials[0]; k++)
      if (strcmp(p, byte_specials[k]) == 0) {
        fprintf(stderr, CMD " init: --add-tokens: '%s' is already a special token\n", p);
        return 2;
      }
    for (int k = 0; k < out->n; k++)
      if (strcmp(p, out->tok[k]) == 0) {
        fprintf(stderr, CMD " init: --add-tokens: '%s' given twice\n", p);
        return 2;
      }
    if (out->n == MAX_ADDED_TOKENS) {
      fprintf(stderr, CMD " init: --add-tokens: more than %d tokens\n", MAX_ADDED_TOKENS);
      return 2;
    }
    out->tok[out->n++] = p;
    if (!comma) break;
    p = comma + 1;
  }
  return 0;
}

static json_t *byte_tokenizer_json(const added_tokens *extra) {
  json_t *vocab = json_object();
  for (unsigned b = 0; b < 256; b++) {
    unsigned cp = byte_to_codepoint(b);
    char s[4];
    if (cp < 0x80) {
      s[0] = (char)cp;
      s[1] = 0;
    } else {
      s[0] = (char)(0xC0 | (cp >> 6));
      s[1] = (char)(0x80 | (cp & 0x3F));
      s[2] = 0;
    }
    json_object_set_new(vocab, s, json_integer(b));
  }
  json_t *added = json_array();
  for (int i = 0; i < 3; i++)
    json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", 256 + i, "content",
                                           byte_specials[i], "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized",
                                           0, "special", 1));
  for (int i = 0; i < extra->n; i++)
    json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", 259 + i, "content",
                                           extra->tok[i], "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized",
                                           0, "special", 0));
  json_t *model = json_pack("{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:[]}", "type", "BPE", "dropout", "unk_token",
                            "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 0, "byte_fallback", 0,
                            "ignore_merges", 0, "vocab", vocab, "merges");
  return json_pack("{s:s, s:n, s:n, s:o, s:n, s:o, s:o, s:o, s:o}", "version", "1.0", "truncation", "padding",
                   "added_tokens", added, "normalizer", "pre_tokenizer", bytelevel_part(1), "post_processor",
                   bytelevel_part(0), "decoder", bytelevel_part(1), "model", model);
}

static json_t *byte_tokenizer_config(int max_pos, const added_tokens *extra) {
  json_t *dec = json_object();
  for (int i = 0; i < 3; i++) {
    char id[16];
    snprintf(id, sizeof id, "%d", 256 + i);
    json_object_set_new(dec, id,
                        json_pack("{s:s, s:b, s:b, s:b, s:b, s:b}", "content", byte_specials[i], "lstrip", 0,
                                  "normalized", 0, "rstrip", 0, "single_word", 0, "special", 1));
  }
  for (int i = 0; i < extra->n; i++) {
    char id[16];
    snprintf(id, sizeof id, "%d", 259 + i);
    json_object_set_new(dec, id,
                        json_pack("{s:s, s:b, s:b, s:b, s:b, s:b}", "content", extra->tok[i], "lstrip", 0,
                                  "normalized", 0, "rstrip", 0, "single_word", 0, "special", 0));
  }
  return json_pack("{s:b, s:b, s:o, s:[s,s], s:n, s:b, s:s, s:i, s:s, s:s, s:n}", "add_bos_token", 0,
                   "add_prefix_space", 0, "added_tokens_decoder", dec, "additional_special_tokens", "<|im_start|>",
                   "<|im_end|>", "bos_token", "clean_up_tokenization_spaces", 0, "eos_token", "<|im_end|>",
                   "model_max_length", max_pos, "pad_token", "<|endoftext|>", "tokenizer_class",
                   "PreTrainedTokenizerFast", "unk_token");
}

/* ---- model init --------------------------------------------------------------------------- */

typedef struct {
  const char *arch, *vocab_from, *out, *dtype, *add_tokens;
  int byte_vocab, tie, force;
  long layers, hidden, heads, kv_heads, intermediate, head_dim, vocab, max_pos;
  long long seed;
  double std, rope_theta;
} init_args;

static int parse_init(int argc, char **argv, init_args *a) {
  memset(a, 0, sizeof *a);
  a->std = 0.02;
  a->max_pos = 32768;
  a->dtype = "f32";
  const long BIG = 1L << 20;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int rc = 0;
    if (strcmp(o, "--byte-vocab") == 0) {
      a->byte_vocab = 1;
      continue;
    }
    if (strcmp(o, "--tie") == 0) {
      a->tie = 1;
      continue;
    }
    if (strcmp(o, "--force") == 0) {
      a->force = 1;
      continue;
    }
    if (strncmp(o, "--", 2) != 0) {
      fprintf(stderr, CMD " init: unexpected argument '%s'\n", o);
      return 2;
    }
    static const char *const valued[] = {"--arch", "--layers", "--hidden", "--heads", "--kv-heads",
                                         "--intermediate", "--head-dim", "--vocab-from", "--vocab", "--seed",
                                         "--std", "--dtype", "--max-pos", "--rope-theta", "--out",
                                         "--add-tokens"};
    int known = 0;
    for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) known |= strcmp(o, valued[k]) == 0;
    if (!known) {
      fprintf(stderr, CMD " init: unknown option '%s'\n%s", o, model_usage);
      return 2;
    }
    if (!v) {
      fprintf(stderr, CMD " init: %s needs a value\n", o);
      return 2;
    }
    i++;
    if (strcmp(o, "--arch") == 0) a->arch = v;
    else if (strcmp(o, "--vocab-from") == 0) a->vocab_from = v;
    else if (strcmp(o, "--out") == 0) a->out = v;
    else if (strcmp(o, "--dtype") == 0) a->dtype = v;
    else if (strcmp(o, "--add-tokens") == 0) a->add_tokens = v;
    else if (strcmp(o, "--layers") == 0) rc = parse_long(o, v, 1, 4096, &a->layers);
    else if (strcmp(o, "--hidden") == 0) rc = parse_long(o, v, 1, BIG, &a->hidden);
    else if (strcmp(o, "--heads") == 0) rc = parse_long(o, v, 1, 4096, &a->heads);
    else if (strcmp(o, "--kv-heads") == 0) rc = parse_long(o, v, 1, 4096, &a->kv_heads);
    else if (strcmp(o, "--intermediate") == 0) rc = parse_long(o, v, 1, BIG, &a->intermediate);
    else if (strcmp(o, "--head-dim") == 0) rc = parse_long(o, v, 2, 1024, &a->head_dim);
    else if (strcmp(o, "--vocab") == 0) rc = parse_long(o, v, 1, 1L << 24, &a->vocab);
    else if (strcmp(o, "--max-pos") == 0) rc = parse_long(o, v, 1, 1L << 24, &a->max_pos);
    else if (strcmp(o, "--std") == 0) rc = parse_double(o, v, 0, &a->std);
    else if (strcmp(o, "--rope-theta") == 0) rc = parse_double(o, v, 0, &a->rope_theta);
    else if (strcmp(o, "--seed") == 0) {
      long s;
      rc = parse_long(o, v, 0, LONG_MAX, &s);
      a->seed = s;
    }
    if (rc) return rc;
  }
  if (!a->arch) {
    fprintf(stderr, CMD " init: missing --arch (qwen2, qwen3 or llama)\n%s", model_usage);
    return 2;
  }
  if (strcmp(a->arch, "qwen2") && strcmp(a->arch, "qwen3") && strcmp(a->arch, "llama")) {
    fprintf(stderr, CMD " init: --arch: unknown architecture '%s' (qwen2, qwen3 or llama)\n", a->arch);
    return 2;
  }
  struct {
    const char *flag;
    long v;
  } req[] = {{"--layers", a->layers}, {"--hidden", a->hidden}, {"--heads", a->heads},
             {"--kv-heads", a->kv_heads}, {"--intermediate", a->intermediate}};
  for (size_t k = 0; k < sizeof req / sizeof req[0]; k++)
    if (!req[k].v) {
      fprintf(stderr, CMD " init: missing %s N\n%s", req[k].flag, model_usage);
      return 2;
    }
  if (!a->out) {
    fprintf(stderr, CMD " init: missing --out DIR\n%s", model_usage);
    return 2;
  }
  if (a->add_tokens && !a->byte_vocab) {
    fprintf(stderr, CMD " init: --add-tokens needs --byte-vocab\n");
    return 2;
  }
  if (!!a->byte_vocab == !!a->vocab_from) {
    fprintf(stderr, CMD " init: give exactly one of --vocab-from PATH and --byte-vocab\n");
    return 2;
  }
  if (strcmp(a->dtype, "f32") && strcmp(a->dtype, "bf16")) {
    fprintf(stderr, CMD " init: --dtype: unknown dtype '%s' (f32 or bf16)\n", a->dtype);
    return 2;
  }
  if (a->heads % a->kv_heads) {
    fprintf(stderr, CMD " init: --heads %ld is not a multiple of --kv-heads %ld\n", a->heads, a->kv_heads);
    return 2;
  }
  if (!a->head_dim) {
    if (a->hidden % a->heads) {
      fprintf(stderr, CMD " init: --hidden %ld is not divisible by --heads %ld (give --head-dim)\n", a->hidden,
              a->heads);
      return 2;
    }
    a->head_dim = a->hidden / a->heads;
  }
  if (a->head_dim % 2 || a->head_dim > 1024) {
    fprintf(stderr, CMD " init: head dim %ld must be even and at most 1024\n", a->head_dim);
    return 2;
  }
  return 0;
}

/* The source tokenizer: its tokenizer.json path and the directory that may hold its config. */
static int tokenizer_source(const char *path, char *json, size_t jcap, char *dir, size_t dcap) {
  if (is_dir(path)) {
    snprintf(dir, dcap, "%s", path);
    if (snprintf(json, jcap, "%s/tokenizer.json", path) >= (int)jcap) return zr_seterr(-ENAMETOOLONG, "%s: path too long", path);
  } else {
    snprintf(json, jcap, "%s", path);
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(dir, dcap, "%.*s", (int)(slash - path), path);
    else snprintf(dir, dcap, ".");
    if (!dir[0]) snprintf(dir, dcap, "/");
  }
  if (!exists(json)) return zr_seterr(-ENOENT, "%s: no such file", json);
  return 0;
}

static int write_generation_config(const char *dir, const zr_model_config *c, int pad_id) {
  char path[4200];
  snprintf(path, sizeof path, "%s/generation_config.json", dir);
  json_t *g = json_object();
  if (c->bos_token_id >= 0) json_object_set_new(g, "bos_token_id", json_integer(c->bos_token_id));
  if (c->n_eos == 1) {
    json_object_set_new(g, "eos_token_id", json_integer(c->eos_token_ids[0]));
  } else if (c->n_eos > 1) {
    json_t *e = json_array();
    for (int i = 0; i < c->n_eos; i++) json_array_append_new(e, json_integer(c->eos_token_ids[i]));
    json_object_set_new(g, "eos_token_id", e);
  }
  if (pad_id >= 0) json_object_set_new(g, "pad_token_id", json_integer(pad_id));
  json_object_set_new(g, "do_sample", json_false());
  int rc = write_json(path, g);
  json_decref(g);
  return rc;
}

static int cmd_init(int argc, char **argv) {
  init_args a;
  int rc = parse_init(argc, argv, &a);
  if (rc) return rc;
  char path[4200], src_json[4096], src_dir[4096];
  snprintf(path, sizeof path, "%s/config.json", a.out);
  if (!a.force && exists(path)) {
    fprintf(stderr, CMD " init: %s already holds a model (config.json); use --force to overwrite it\n", a.out);
    return 1;
  }

  /* the tokenizer first: it sizes the vocabulary and names the special tokens */
  zr_tok *tok = NULL;
  json_t *byte_json = NULL, *byte_cfg = NULL;
  added_tokens extra = {0};
  if (a.add_tokens && (rc = parse_added_tokens(a.add_tokens, &extra))) {
    free(extra.buf);
    return rc;
  }
  if (a.byte_vocab) {
    byte_json = byte_tokenizer_json(&extra);
    byte_cfg = byte_tokenizer_config((int)a.max_pos, &extra);
    free(extra.buf); /* json_pack copied the tokens */
    char *tj = json_dumps(byte_json, JSON_PRESERVE_ORDER), *tc = json_dumps(byte_cfg, JSON_PRESERVE_ORDER);
    rc = tj && tc ? zr_tok_parse(&tok, tj, strlen(tj), tc, strlen(tc), "byte-level tokenizer") : -ENOMEM;
    free(tj);
    free(tc);
  } else if (!(rc = tokenizer_source(a.vocab_from, src_json, sizeof src_json, src_dir, sizeof src_dir))) {
    rc = zr_tok_load(&tok, a.vocab_from);
  }
  if (rc) {
    fprintf(stderr, CMD " init: %s\n", zr_errmsg());
    json_decref(byte_json);
    json_decref(byte_cfg);
    return 1;
  }
  int tok_vocab = zr_tok_vocab_size(tok);
  if (a.vocab && a.vocab < tok_vocab) {
    fprintf(stderr, CMD " init: --vocab %ld is below the tokenizer's vocabulary size %d\n", a.vocab, tok_vocab);
    zr_tok_free(&tok);
    json_decref(byte_json);
    json_decref(byte_cfg);
    return 2;
  }

  zr_model_config c;
  memset(&c, 0, sizeof c);
  c.arch = strcmp(a.arch, "qwen2") == 0 ? ZR_ARCH_QWEN2 : strcmp(a.arch, "qwen3") == 0 ? ZR_ARCH_QWEN3 : ZR_ARCH_LLAMA;
  c.vocab_size = a.vocab ? (int)a.vocab : tok_vocab;
  c.hidden_size = (int)a.hidden;
  c.num_layers = (int)a.layers;
  c.num_heads = (int)a.heads;
  c.num_kv_heads = (int)a.kv_heads;
  c.head_dim = (int)a.head_dim;
  c.intermediate_size = (int)a.intermediate;
  c.max_position_embeddings = (int)a.max_pos;
  c.rope_theta = a.rope_theta > 0 ? a.rope_theta : c.arch == ZR_ARCH_LLAMA ? 500000.0 : 1000000.0;
  c.rope_scaling.kind = ZR_ROPE_DEFAULT;
  c.rms_norm_eps = c.arch == ZR_ARCH_LLAMA ? 1e-5 : 1e-6;
  c.tie_word_embeddings = a.tie;
  c.attention_bias = c.arch == ZR_ARCH_QWEN2;
  c.qk_norm = c.arch == ZR_ARCH_QWEN3;
  c.bos_token_id = zr_tok_bos_id(tok);
  const int32_t *eos;
  size_t n_eos = zr_tok_eos_ids(tok, &eos);
  for (size_t i = 0; i < n_eos && c.n_eos < ZR_MAX_EOS; i++) c.eos_token_ids[c.n_eos++] = eos[i];
  /* base models also stop at <|endoftext|> (Qwen's generation_config lists both) */
  int32_t eot = zr_tok_token_to_id(tok, "<|endoftext|>", 13);
  int have = 0;
  for (int i = 0; i < c.n_eos; i++) have |= c.eos_token_ids[i] == eot;
  if (eot >= 0 && zr_tok_is_special(tok, eot) && !have && c.n_eos < ZR_MAX_EOS) c.eos_token_ids[c.n_eos++] = eot;
  zr_dtype dt = strcmp(a.dtype, "bf16") == 0 ? ZR_DT_BF16 : ZR_DT_F32;
  c.torch_dtype = dt;
  int pad_id = zr_tok_pad_id(tok);
  zr_tok_free(&tok);

  zr_backend *be = NULL;
  zr_tf *m = NULL;
  int status = 1;
  if ((rc = zr_backend_cpu_new(&be, 0)) || (rc = zr_tf_new(&m, &c, be)) ||
      (rc = zr_tf_init_random(m, (uint64_t)a.seed, (float)a.std)) || (rc = zr_tf_save(m, a.out, dt, 0))) {
    fprintf(stderr, CMD " init: %s\n", zr_errmsg());
    goto out;
  }
  size_t n_params = zr_tf_n_params(m);
  /* tokenizer files */
  snprintf(path, sizeof path, "%s/tokenizer.json", a.out);
  if (a.byte_vocab) {
    rc = write_json(path, byte_json);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", a.out);
    if (!rc) rc = write_json(path, byte_cfg);
  } else {
    rc = copy_file(src_json, path);
    char cfrom[4200];
    snprintf(cfrom, sizeof cfrom, "%s/tokenizer_config.json", src_dir);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", a.out);
    if (!rc && exists(cfrom)) rc = copy_file(cfrom, path);
    else if (!rc) { /* transformers wants one; a minimal config naming the special tokens */
      json_t *tc = json_pack("{s:s}", "tokenizer_class", "PreTrainedTokenizerFast");
      if (c.n_eos > 0) {
        const char *s = NULL;
        zr_tok *t2 = NULL;
        if (zr_tok_load(&t2, src_json) == 0) s = zr_tok_id_to_token(t2, c.eos_token_ids[0], NULL);
        if (s) json_object_set_new(tc, "eos_token", json_string(s));
        zr_tok_free(&t2);
      }
      rc = write_json(path, tc);
      json_decref(tc);
    }
  }
  if (!rc) rc = write_generation_config(a.out, &c, pad_id);
  if (rc) {
    fprintf(stderr, CMD " init: %s\n", zr_errmsg());
    goto out;
  }
  printf("wrote %s: %s, %d layers, hidden %d, %d heads (%d kv, head_dim %d), intermediate %d, vocab %d "
         "(tokenizer %d), %zu parameters, %s%s\n",
         a.out, zr_arch_name(c.arch), c.num_layers, c.hidden_size, c.num_heads, c.num_kv_heads, c.head_dim,
         c.intermediate_size, c.vocab_size, tok_vocab, n_params, dt == ZR_DT_BF16 ? "bf16" : "f32",
         c.tie_word_embeddings ? ", tied embeddings" : "");
  status = 0;
out:
  zr_tf_free(&m);
  zr_backend_free(&be);
  json_decref(byte_json);
  json_decref(byte_cfg);
  return status;
}

/* ---- model info --------------------------------------------------------------------------- */

static const char *dtype_word(zr_dtype d) {
  return d == ZR_DT_BF16 ? "bfloat16" : d == ZR_DT_F16 ? "float16" : "float32";
}

/* 1234567 -> "1,234,567" */
static void commas(char *buf, size_t cap, unsigned long long v) {
  char t[32];
  int n = snprintf(t, sizeof t, "%llu", v), k = 0;
  size_t j = 0;
  for (int i = 0; i < n && j + 2 < cap; i++) {
    buf[j++] = t[i];
    k = n - i - 1;
    if (k > 0 && k % 3 == 0) buf[j++] = ',';
  }
  buf[j] = 0;
}

static void print_token(const zr_tok *tok, const char *label, int32_t id) {
  const char *s = id >= 0 ? zr_tok_id_to_token(tok, id, NULL) : NULL;
  if (s) printf("  %-14s %s (%d)\n", label, s, id);
  else printf("  %-14s -\n", label);
}

static int cmd_info(int argc, char **argv) {
  if (argc != 2 || argv[1][0] == '-') {
    fprintf(stderr, CMD " info: expected one model directory\n%s", model_usage);
    return 2;
  }
  const char *dir = argv[1];
  char path[4200];
  snprintf(path, sizeof path, "%s/config.json", dir);
  zr_model_config c;
  if (zr_hf_config_load(&c, path)) {
    fprintf(stderr, CMD " info: %s\n", zr_errmsg());
    return 1;
  }
  zr_st_set *set = NULL;
  if (zr_st_set_open_dir(&set, dir)) {
    fprintf(stderr, CMD " info: %s\n", zr_errmsg());
    return 1;
  }
  unsigned long long params = 0, bytes = 0;
  size_t n_dt[ZR_DT_COUNT] = {0}, n_t = zr_st_set_count(set);
  for (size_t i = 0; i < n_t; i++) {
    const zr_st_tensor *t = zr_st_set_get(set, i);
    if (strstr(t->name, "rotary_emb.inv_freq")) continue;
    unsigned long long numel = 1;
    for (int d = 0; d < t->ndim; d++) numel *= (unsigned long long)t->shape[d];
    params += numel;
    bytes += t->nbytes;
    n_dt[t->dtype]++;
  }
  zr_st_set_close(&set);
  char pbuf[40], bbuf[40];
  commas(pbuf, sizeof pbuf, params);
  commas(bbuf, sizeof bbuf, bytes);
  printf("model %s\n", dir);
  printf("  architecture   %s\n", zr_arch_name(c.arch));
  printf("  layers         %d\n", c.num_layers);
  printf("  hidden         %d\n", c.hidden_size);
  printf("  heads          %d (kv heads %d, head_dim %d)\n", c.num_heads, c.num_kv_heads, c.head_dim);
  printf("  intermediate   %d\n", c.intermediate_size);
  printf("  vocab          %d\n", c.vocab_size);
  printf("  max positions  %d\n", c.max_position_embeddings);
  printf("  rope theta     %g\n", c.rope_theta);
  printf("  rms norm eps   %g\n", c.rms_norm_eps);
  printf("  tied embedding %s\n", c.tie_word_embeddings ? "yes" : "no");
  printf("  attention bias %s, qk norm %s\n", c.attention_bias ? "yes" : "no", c.qk_norm ? "yes" : "no");
  printf("  parameters     %s (%.1fM)\n", pbuf, (double)params / 1e6);
  printf("  dtype          %s (config); weights:", dtype_word(c.torch_dtype));
  for (int d = 0; d < ZR_DT_COUNT; d++)
    if (n_dt[d]) printf(" %zu %s tensors", n_dt[d], zr_dtype_name((zr_dtype)d));
  printf(", %s bytes\n", bbuf);
  printf("  eos ids        ");
  for (int i = 0; i < c.n_eos; i++) printf("%s%d", i ? ", " : "", c.eos_token_ids[i]);
  printf("%s\n", c.n_eos ? "" : "-");

  zr_tok *tok = NULL;
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  if (!exists(path)) {
    printf("tokenizer: none (no tokenizer.json)\n");
    return 0;
  }
  if (zr_tok_load(&tok, dir)) {
    fprintf(stderr, CMD " info: %s\n", zr_errmsg());
    return 1;
  }
  int tv = zr_tok_vocab_size(tok);
  printf("tokenizer\n");
  printf("  vocab          %d%s\n", tv, tv > c.vocab_size ? "  (WARNING: above the model's vocab_size)" : "");
  print_token(tok, "bos", zr_tok_bos_id(tok));
  print_token(tok, "eos", zr_tok_eos_id(tok));
  print_token(tok, "pad", zr_tok_pad_id(tok));
  const int32_t *ids;
  size_t n = zr_tok_eos_ids(tok, &ids);
  printf("  stop ids       ");
  for (size_t i = 0; i < n; i++) printf("%s%s (%d)", i ? ", " : "", zr_tok_id_to_token(tok, ids[i], NULL), ids[i]);
  printf("%s\n", n ? "" : "-");
  n = zr_tok_special_ids(tok, &ids);
  printf("  special tokens %zu:", n);
  for (size_t i = 0; i < n && i < 16; i++) printf(" %s", zr_tok_id_to_token(tok, ids[i], NULL));
  printf("%s\n", n > 16 ? " ..." : "");
  zr_tok_free(&tok);
  return 0;
}

int zr_cmd_model(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    fputs(model_usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (zr_cmd_wants_help(argc - 1, argv + 1)) {
    fputs(model_usage, stdout);
    return 0;
  }
  if (strcmp(argv[1], "init") == 0) return cmd_init(argc - 1, argv + 1);
  if (strcmp(argv[1], "info") == 0) return cmd_info(argc - 1, argv + 1);
  fprintf(stderr, CMD ": unknown subcommand '%s'\n%s", argv[1], model_usage);
  return 2;
}
