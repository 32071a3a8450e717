/* zerorl generate: sample completions of one prompt from a model directory on the CPU backend
 * (transformer.h's batched generate loop), for trying a model out and timing inference. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common/error.h"
#include "model/backend.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "tools/commands.h"

static const char generate_usage[] =
    "usage: zerorl generate --model DIR --prompt TEXT [options]\n"
    "\n"
    "Generates completions of TEXT with the model in DIR (config.json, safetensors weights and\n"
    "tokenizer.json, as `zerorl model init` or transformers write them) on the CPU backend and\n"
    "writes their text to stdout. Generation stops at the tokenizer's eos ids (tokenizer_config's\n"
    "eos_token and generation_config's eos_token_id), which are not printed, or after\n"
    "--max-new-tokens. Only token ids the tokenizer knows are sampled.\n"
    "\n"
    "  --model DIR           the model directory\n"
    "  --prompt TEXT         the prompt; wrapped in the ChatML user turn\n"
    "                        (<|im_start|>user\\nTEXT<|im_end|>\\n<|im_start|>assistant\\n) when the\n"
    "                        tokenizer has those tokens, unless --raw\n"
    "  --raw                 encode TEXT as it is (special tokens written in it still count)\n"
    "  --n N                 completions, generated together as one batch that shares one prefill\n"
    "                        of the prompt (default 1)\n"
    "  --temperature T       0 = greedy (default 1)\n"
    "  --top-p P             nucleus sampling (default 1 = off)\n"
    "  --top-k K             keep the K most likely tokens (default 0 = off)\n"
    "  --max-new-tokens M    at most M tokens per completion (default 256)\n"
    "  --seed S              sampling seed (default 0); completion i is keyed by (S, i), so the\n"
    "                        same seed gives the same completions\n"
    "  --threads T           CPU threads (default $ZERORL_THREADS, else every CPU)\n"
    "  --ignore-eos          do not stop at eos ids (always M tokens; for timing)\n"
    "\n"
    "Output: with --n 1 the completion followed by a newline. With --n N > 1 each completion is a\n"
    "block that starts with a header line '==> completion I/N <==' (I from 1) and ends with a\n"
    "newline. stderr gets one JSON line of statistics: prompt and generated token counts, load\n"
    "and generation seconds, generated tokens per second (all completions together, prefill\n"
    "included), threads and the peak resident memory.\n";

#define CMD "zerorl generate"

typedef struct {
  const char *model, *prompt;
  int raw, ignore_eos;
  long n, top_k, max_new, threads;
  unsigned long long seed;
  double temperature, top_p;
} gen_args;

static int num_arg(const char *flag, const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) {
    fprintf(stderr, CMD ": %s needs a number in %g..%g (got '%s')\n", flag, lo, hi, s);
    return 2;
  }
  *out = v;
  return 0;
}

static int int_arg(const char *flag, const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    fprintf(stderr, CMD ": %s needs an integer in %ld..%ld (got '%s')\n", flag, lo, hi, s);
    return 2;
  }
  *out = v;
  return 0;
}

static int parse_args(int argc, char **argv, gen_args *a) {
  memset(a, 0, sizeof *a);
  a->n = 1;
  a->temperature = 1;
  a->top_p = 1;
  a->max_new = 256;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int rc = 0;
    if (strcmp(o, "--raw") == 0) {
      a->raw = 1;
      continue;
    }
    if (strcmp(o, "--ignore-eos") == 0) {
      a->ignore_eos = 1;
      continue;
    }
    static const char *const valued[] = {"--model", "--prompt", "--n", "--temperature", "--top-p",
                                         "--top-k", "--max-new-tokens", "--seed", "--threads"};
    int known = 0;
    for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) known |= strcmp(o, valued[k]) == 0;
    if (!known) {
      fprintf(stderr, CMD ": unknown option '%s'\n%s", o, generate_usage);
      return 2;
    }
    if (!v) {
      fprintf(stderr, CMD ": %s needs a value\n", o);
      return 2;
    }
    i++;
    if (strcmp(o, "--model") == 0) a->model = v;
    else if (strcmp(o, "--prompt") == 0) a->prompt = v;
    else if (strcmp(o, "--n") == 0) rc = int_arg(o, v, 1, 4096, &a->n);
    else if (strcmp(o, "--temperature") == 0) rc = num_arg(o, v, 0, 1e6, &a->temperature);
    else if (strcmp(o, "--top-p") == 0) rc = num_arg(o, v, 1e-9, 1, &a->top_p);
    else if (strcmp(o, "--top-k") == 0) rc = int_arg(o, v, 0, 1L << 24, &a->top_k);
    else if (strcmp(o, "--max-new-tokens") == 0) rc = int_arg(o, v, 1, 1L << 20, &a->max_new);
    else if (strcmp(o, "--threads") == 0) rc = int_arg(o, v, 1, 1024, &a->threads);
    else if (strcmp(o, "--seed") == 0) {
      char *end;
      errno = 0;
      a->seed = strtoull(v, &end, 10);
      if (errno || end == v || *end || v[0] == '-') {
        fprintf(stderr, CMD ": --seed needs a non-negative integer (got '%s')\n", v);
        rc = 2;
      }
    }
    if (rc) return rc;
  }
  if (!a->model) {
    fprintf(stderr, CMD ": missing --model DIR\n%s", generate_usage);
    return 2;
  }
  if (!a->prompt) {
    fprintf(stderr, CMD ": missing --prompt TEXT\n%s", generate_usage);
    return 2;
  }
  return 0;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The prompt's ids: ChatML-wrapped when the tokenizer has the tokens and --raw is not given. */
static int encode_prompt(const zr_tok *tok, const gen_args *a, zr_tok_ids *ids) {
  zr_tok_encoder *enc = NULL;
  int rc = zr_tok_encoder_new(&enc, tok);
  if (rc) return rc;
  int chat = !a->raw && zr_tok_token_to_id(tok, "<|im_start|>", 12) >= 0 && zr_tok_token_to_id(tok, "<|im_end|>", 10) >= 0;
  if (chat) {
    static const char pre[] = "<|im_start|>user\n", post[] = "<|im_end|>\n<|im_start|>assistant\n";
    size_t n = strlen(a->prompt), len = sizeof pre - 1 + n + sizeof post - 1;
    char *text = malloc(len + 1);
    if (!text) {
      zr_tok_encoder_free(&enc);
      return zr_seterr(-ENOMEM, "out of memory");
    }
    snprintf(text, len + 1, "%s%s%s", pre, a->prompt, post);
    rc = zr_tok_encode(enc, text, len, ZR_TOK_ENCODE_DEFAULT, ids);
    free(text);
  } else {
    rc = zr_tok_encode(enc, a->prompt, strlen(a->prompt), ZR_TOK_ENCODE_DEFAULT, ids);
  }
  zr_tok_encoder_free(&enc);
  return rc;
}

int zr_cmd_generate(int argc, char **argv) {
  if (zr_cmd_wants_help(argc, argv)) {
    fputs(generate_usage, stdout);
    return 0;
  }
  gen_args a;
  int rc = parse_args(argc, argv, &a);
  if (rc) return rc;

  double t0 = now_s();
  zr_tok *tok = NULL;
  zr_backend *be = NULL;
  zr_tf *m = NULL;
  zr_tok_ids prompt = {0};
  zr_tok_text text = {0};
  int *prompts = NULL, *lens = NULL, *out = NULL;
  zr_gen_result *res = NULL;
  int status = 1;
  if ((rc = zr_tok_load(&tok, a.model)) || (rc = zr_backend_cpu_new(&be, (int)a.threads)) ||
      (rc = zr_tf_load(&m, a.model, be)) || (rc = encode_prompt(tok, &a, &prompt))) {
    fprintf(stderr, CMD ": %s\n", zr_errmsg());
    goto done;
  }
  const zr_model_config *c = zr_tf_config(m);
  int tv = zr_tok_vocab_size(tok);
  if (tv > c->vocab_size) {
    fprintf(stderr, CMD ": %s: the tokenizer has %d tokens but the model's vocab_size is %d\n", a.model, tv,
            c->vocab_size);
    goto done;
  }
  if (prompt.n == 0) {
    fprintf(stderr, CMD ": the prompt encodes to no tokens\n");
    goto done;
  }
  for (size_t i = 0; i < prompt.n; i++)
    if (prompt.ids[i] >= c->vocab_size) {
      fprintf(stderr, CMD ": prompt token %d is outside the model's vocabulary (%d)\n", prompt.ids[i], c->vocab_size);
      goto done;
    }
  int n = (int)a.n, plen = (int)prompt.n, max_new = (int)a.max_new;
  prompts = malloc((size_t)n * plen * sizeof *prompts);
  lens = malloc((size_t)n * sizeof *lens);
  out = malloc((size_t)n * max_new * sizeof *out);
  res = calloc((size_t)n, sizeof *res);
  if (!prompts || !lens || !out || !res) {
    fprintf(stderr, CMD ": out of memory\n");
    goto done;
  }
  for (int i = 0; i < n; i++) {
    lens[i] = plen;
    for (int j = 0; j < plen; j++) prompts[(size_t)i * plen + j] = prompt.ids[j];
  }
  const int32_t *eos;
  size_t n_eos = a.ignore_eos ? 0 : zr_tok_eos_ids(tok, &eos);
  int *stop = malloc((n_eos ? n_eos : 1) * sizeof *stop);
  if (!stop) {
    fprintf(stderr, CMD ": out of memory\n");
    goto done;
  }
  for (size_t i = 0; i < n_eos; i++) stop[i] = eos[i];
  zr_gen_config g = {.max_new_tokens = max_new,
                     .sampling = {.temperature = (float)a.temperature, .top_k = (int)a.top_k, .top_p = (float)a.top_p},
                     .seed = a.seed,
                     .stop_ids = stop,
                     .n_stop = (int)n_eos,
                     .vocab_limit = tv};
  double t1 = now_s();
  rc = zr_tf_generate(m, NULL, n, lens, prompts, NULL, &g, out, NULL, res);
  double t2 = now_s();
  free(stop);
  if (rc) {
    fprintf(stderr, CMD ": %s\n", zr_errmsg());
    goto done;
  }
  long total = 0;
  for (int i = 0; i < n; i++) {
    int k = res[i].n_tokens;
    total += k;
    text.len = 0;
    if (k > 0 && res[i].finish == ZR_FINISH_STOP) k--; /* the eos id itself is not printed */
    if ((rc = zr_tok_decode(tok, out + (size_t)i * max_new, (size_t)k, 0, &text))) {
      fprintf(stderr, CMD ": %s\n", zr_errmsg());
      goto done;
    }
    if (n > 1) printf("==> completion %d/%d <==\n", i + 1, n);
    fwrite(text.s ? text.s : "", 1, text.len, stdout);
    fputc('\n', stdout);
  }
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, CMD ": writing stdout: %s\n", strerror(errno));
    goto done;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double gen_s = t2 - t1;
  fprintf(stderr,
          "{\"prompt_tokens\":%d,\"n\":%d,\"new_tokens\":%ld,\"load_s\":%.3f,\"generate_s\":%.3f,"
          "\"tokens_per_s\":%.2f,\"threads\":%d,\"peak_rss_mb\":%.1f}\n",
          plen, n, total, t1 - t0, gen_s, gen_s > 0 ? (double)total / gen_s : 0.0, be->n_threads,
          (double)ru.ru_maxrss / 1024.0);
  status = 0;
done:
  zr_tok_ids_release(&prompt);
  zr_tok_text_release(&text);
  free(prompts);
  free(lens);
  free(out);
  free(res);
  zr_tf_free(&m);
  zr_backend_free(&be);
  zr_tok_free(&tok);
  return status;
}
