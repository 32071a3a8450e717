/* zerorl tokenize / detokenize: JSONL text <-> token ids with a Hugging Face tokenizer.json,
 * one output line per input line, in order. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "model/tokenizer.h"
#include "tools/commands.h"

static const char tokenize_usage[] =
    "usage: zerorl tokenize --tokenizer PATH [--no-special] [--bench REPS]\n"
    "\n"
    "Reads JSONL from stdin, one {\"text\": \"...\"} object per line (other keys are ignored),\n"
    "and writes one {\"ids\": [...]} line per input line to stdout, in order. The ids are\n"
    "exactly those of Hugging Face tokenizers' encode(text): special tokens written in the text\n"
    "(\"<|im_end|>\") become their ids and the post-processor's tokens (Llama-3's BOS) are added.\n"
    "\n"
    "  --tokenizer PATH  a tokenizer.json file or a model directory holding one (with an\n"
    "                    optional tokenizer_config.json next to it)\n"
    "  --no-special      plain text: special tokens in the text are encoded as ordinary text\n"
    "                    and no BOS/EOS is added\n"
    "  --bench REPS      read all input first, encode it REPS times and print timings of the\n"
    "                    encoding alone (no loading, JSON or output) to stderr as one JSON line;\n"
    "                    stdout still gets the ids (once)\n"
    "\n"
    "A bad input line (not JSON, no string \"text\") stops the command: the lines before it have\n"
    "been written, stderr names the line number, and the exit status is 1.\n";

static const char detokenize_usage[] =
    "usage: zerorl detokenize --tokenizer PATH [--skip-special]\n"
    "\n"
    "Reads JSONL from stdin, one {\"ids\": [...]} object per line, and writes one\n"
    "{\"text\": \"...\"} line per input line to stdout, in order: Hugging Face's decode(ids).\n"
    "Bytes that are not valid UTF-8 become U+FFFD where Hugging Face puts one.\n"
    "\n"
    "  --tokenizer PATH  a tokenizer.json file or a model directory holding one\n"
    "  --skip-special    leave out special tokens (skip_special_tokens=True)\n"
    "\n"
    "A bad input line (not JSON, no \"ids\" array, an id that names no token) stops the command:\n"
    "the lines before it have been written, stderr names the line number, and the exit status\n"
    "is 1.\n";

typedef struct {
  const char *tokenizer;
  int no_special, skip_special;
  long bench;
} tok_args;

/* Returns 0, or the exit status for a usage error / --help. */
static int parse_args(int argc, char **argv, int encode, tok_args *a, const char *usage) {
  memset(a, 0, sizeof *a);
  if (zr_cmd_wants_help(argc, argv)) {
    fputs(usage, stdout);
    return -1;
  }
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (strcmp(o, "--tokenizer") == 0 && i + 1 < argc) {
      a->tokenizer = argv[++i];
    } else if (strncmp(o, "--tokenizer=", 12) == 0) {
      a->tokenizer = o + 12;
    } else if (encode && strcmp(o, "--no-special") == 0) {
      a->no_special = 1;
    } else if (encode && strcmp(o, "--bench") == 0 && i + 1 < argc) {
      char *end;
      a->bench = strtol(argv[++i], &end, 10);
      if (*end || a->bench < 1 || a->bench > 1000) {
        fprintf(stderr, "zerorl %s: --bench needs a repetition count in 1..1000\n", argv[0]);
        return 2;
      }
    } else if (!encode && strcmp(o, "--skip-special") == 0) {
      a->skip_special = 1;
    } else {
      fprintf(stderr, "zerorl %s: unknown or incomplete option '%s'\n%s", argv[0], o, usage);
      return 2;
    }
  }
  if (!a->tokenizer) {
    fprintf(stderr, "zerorl %s: missing --tokenizer PATH\n%s", argv[0], usage);
    return 2;
  }
  return 0;
}

/* Parses one input line; returns the object or NULL after printing an error. */
static json_t *parse_line(const char *cmd, const char *line, size_t len, long ln) {
  size_t k = 0;
  while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r' || line[k] == '\n')) k++;
  if (k == len) {
    fprintf(stderr, "zerorl %s: line %ld: empty line\n", cmd, ln);
    return NULL;
  }
  json_error_t e;
  json_t *j = json_loadb(line, len, JSON_ALLOW_NUL, &e);
  if (!j) {
    fprintf(stderr, "zerorl %s: line %ld: invalid JSON at column %d: %s\n", cmd, ln, e.column, e.text);
    return NULL;
  }
  if (!json_is_object(j)) {
    fprintf(stderr, "zerorl %s: line %ld: expected a JSON object\n", cmd, ln);
    json_decref(j);
    return NULL;
  }
  return j;
}

static void write_ids(FILE *out, const int32_t *ids, size_t n) {
  fputs("{\"ids\":[", out);
  char buf[16];
  for (size_t i = 0; i < n; i++) {
    int32_t v = ids[i];
    char *p = buf + sizeof buf;
    do {
      *--p = (char)('0' + v % 10);
      v /= 10;
    } while (v);
    if (i) fputc(',', out);
    fwrite(p, 1, (size_t)(buf + sizeof buf - p), out);
  }
  fputs("]}\n", out);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* --bench: all texts in memory, encoded reps times; timings to stderr, ids of the last pass to stdout. */
static int bench(zr_tok_encoder *enc, unsigned flags, long reps, FILE *in) {
  json_t *texts = json_array();
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  long ln = 0;
  int status = 0;
  while ((n = getline(&line, &cap, in)) > 0) {
    json_t *j = parse_line("tokenize", line, (size_t)n, ++ln);
    const json_t *t = j ? json_object_get(j, "text") : NULL;
    if (j && !json_is_string(t)) fprintf(stderr, "zerorl tokenize: line %ld: missing string \"text\"\n", ln);
    if (!json_is_string(t)) {
      json_decref(j);
      status = 1;
      break;
    }
    json_array_append(texts, (json_t *)t);
    json_decref(j);
  }
  free(line);
  size_t lines = json_array_size(texts), bytes = 0;
  for (size_t i = 0; i < lines; i++) bytes += json_string_length(json_array_get(texts, i));
  zr_tok_ids *ids = calloc(lines ? lines : 1, sizeof *ids);
  double *secs = calloc((size_t)reps, sizeof *secs);
  size_t tokens = 0;
  for (long r = 0; r < reps && !status; r++) {
    for (size_t i = 0; i < lines; i++) ids[i].n = 0;
    double t0 = now_s();
    for (size_t i = 0; i < lines; i++) {
      const json_t *t = json_array_get(texts, i);
      if (zr_tok_encode(enc, json_string_value(t), json_string_length(t), flags, &ids[i])) {
        fprintf(stderr, "zerorl tokenize: line %zu: %s\n", i + 1, zr_errmsg());
        status = 1;
        break;
      }
    }
    secs[r] = now_s() - t0;
  }
  if (!status) {
    for (size_t i = 0; i < lines; i++) {
      write_ids(stdout, ids[i].ids, ids[i].n);
      tokens += ids[i].n;
    }
    qsort(secs, (size_t)reps, sizeof *secs, cmp_double);
    double median = reps % 2 ? secs[reps / 2] : (secs[reps / 2 - 1] + secs[reps / 2]) / 2;
    fprintf(stderr,
            "{\"bench\":\"tokenize\",\"reps\":%ld,\"lines\":%zu,\"bytes\":%zu,\"tokens\":%zu,\"min_s\":%.6f,"
            "\"median_s\":%.6f,\"tokens_per_s\":%.0f}\n",
            reps, lines, bytes, tokens, secs[0], median, median > 0 ? (double)tokens / median : 0.0);
  }
  for (size_t i = 0; i < lines; i++) zr_tok_ids_release(&ids[i]);
  free(ids);
  free(secs);
  json_decref(texts);
  return status;
}

int zr_cmd_tokenize(int argc, char **argv) {
  tok_args a;
  int rc = parse_args(argc, argv, 1, &a, tokenize_usage);
  if (rc) return rc < 0 ? 0 : rc;
  zr_tok *tok = NULL;
  if (zr_tok_load(&tok, a.tokenizer)) {
    fprintf(stderr, "zerorl tokenize: %s\n", zr_errmsg());
    return 1;
  }
  zr_tok_encoder *enc = NULL;
  if (zr_tok_encoder_new(&enc, tok)) {
    fprintf(stderr, "zerorl tokenize: %s\n", zr_errmsg());
    zr_tok_free(&tok);
    return 1;
  }
  unsigned flags = a.no_special ? 0 : ZR_TOK_ENCODE_DEFAULT;
  int status = 0;
  if (a.bench) {
    status = bench(enc, flags, a.bench, stdin);
  } else {
    zr_tok_ids ids = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long ln = 0;
    while ((n = getline(&line, &cap, stdin)) > 0) {
      json_t *j = parse_line("tokenize", line, (size_t)n, ++ln);
      if (!j) {
        status = 1;
        break;
      }
      const json_t *t = json_object_get(j, "text");
      if (!json_is_string(t)) {
        fprintf(stderr, "zerorl tokenize: line %ld: missing string \"text\"\n", ln);
        json_decref(j);
        status = 1;
        break;
      }
      ids.n = 0;
      if (zr_tok_encode(enc, json_string_value(t), json_string_length(t), flags, &ids)) {
        fprintf(stderr, "zerorl tokenize: line %ld: %s\n", ln, zr_errmsg());
        json_decref(j);
        status = 1;
        break;
      }
      write_ids(stdout, ids.ids, ids.n);
      json_decref(j);
    }
    free(line);
    zr_tok_ids_release(&ids);
  }
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "zerorl tokenize: writing stdout: %s\n", strerror(errno));
    status = 1;
  }
  zr_tok_encoder_free(&enc);
  zr_tok_free(&tok);
  return status;
}

/* Writes s as a JSON string (UTF-8 kept, control characters escaped). */
static void write_json_string(FILE *out, const char *s, size_t n) {
  fputc('"', out);
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    fwrite(s + run, 1, i - run, out);
    run = i + 1;
    switch (c) {
      case '"': fputs("\\\"", out); break;
      case '\\': fputs("\\\\", out); break;
      case '\n': fputs("\\n", out); break;
      case '\r': fputs("\\r", out); break;
      case '\t': fputs("\\t", out); break;
      case '\b': fputs("\\b", out); break;
      case '\f': fputs("\\f", out); break;
      default: fprintf(out, "\\u%04x", c); break;
    }
  }
  fwrite(s + run, 1, n - run, out);
  fputc('"', out);
}

int zr_cmd_detokenize(int argc, char **argv) {
  tok_args a;
  int rc = parse_args(argc, argv, 0, &a, detokenize_usage);
  if (rc) return rc < 0 ? 0 : rc;
  zr_tok *tok = NULL;
  if (zr_tok_load(&tok, a.tokenizer)) {
    fprintf(stderr, "zerorl detokenize: %s\n", zr_errmsg());
    return 1;
  }
  int status = 0;
  zr_tok_text text = {0};
  int32_t *ids = NULL;
  size_t ids_cap = 0;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  long ln = 0;
  while (!status && (n = getline(&line, &cap, stdin)) > 0) {
    json_t *j = parse_line("detokenize", line, (size_t)n, ++ln);
    if (!j) {
      status = 1;
      break;
    }
    const json_t *arr = json_object_get(j, "ids");
    if (!json_is_array(arr)) {
      fprintf(stderr, "zerorl detokenize: line %ld: missing array \"ids\"\n", ln);
      status = 1;
    }
    size_t k = json_array_size(arr);
    if (!status && k > ids_cap) {
      ids_cap = k;
      ids = realloc(ids, ids_cap * sizeof *ids);
    }
    for (size_t i = 0; i < k && !status; i++) {
      const json_t *v = json_array_get(arr, i);
      json_int_t id = json_integer_value(v);
      if (!json_is_integer(v)) {
        fprintf(stderr, "zerorl detokenize: line %ld: ids[%zu] is not an integer\n", ln, i);
        status = 1;
      } else if (id < 0 || id >= zr_tok_vocab_size(tok) || !zr_tok_id_to_token(tok, (int32_t)id, NULL)) {
        fprintf(stderr, "zerorl detokenize: line %ld: ids[%zu] = %lld is not a token id of this tokenizer\n", ln, i,
                (long long)id);
        status = 1;
      }
      if (status) break;
      ids[i] = (int32_t)id;
    }
    if (!status) {
      text.len = 0;
      if (zr_tok_decode(tok, ids, k, a.skip_special, &text)) {
        fprintf(stderr, "zerorl detokenize: line %ld: %s\n", ln, zr_errmsg());
        status = 1;
      } else {
        fputs("{\"text\":", stdout);
        write_json_string(stdout, text.s, text.len);
        fputs("}\n", stdout);
      }
    }
    json_decref(j);
  }
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "zerorl detokenize: writing stdout: %s\n", strerror(errno));
    status = 1;
  }
  free(line);
  free(ids);
  zr_tok_text_release(&text);
  zr_tok_free(&tok);
  return status;
}
