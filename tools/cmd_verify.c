/* zerorl verify: score completions offline, or time the math verifier.
 *
 *   zerorl verify [options] [FILE...]    reads JSONL requests {"task", "completion",
 *                                        "completion_tokens"?} (stdin when no FILE) and writes
 *                                        one JSONL response per line (rewardjson.h).
 *   zerorl verify --bench FILE [--repeat N] reads JSONL pairs {"gold", "pred"}, compares each with
 *                                        zr_math_equal in process, writes one JSONL verdict per
 *                                        pair and a timing summary on stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/json.h"
#include "reward/mathequal.h"
#include "reward/rewardjson.h"
#include "reward/rewards.h"
#include "tools/commands.h"

static const char verify_usage[] =
    "usage: zerorl verify [options] [FILE...]\n"
    "       zerorl verify --bench FILE [--repeat N]\n"
    "\n"
    "Reads JSONL requests {\"task\": {...}, \"completion\": \"...\", \"completion_tokens\": N} from the\n"
    "FILEs (or stdin) and writes one JSONL line per request: {\"id\", \"reward\", \"correct\",\n"
    "\"status\" (ok|no_answer|timeout|error), \"components\": {name: {value, weight, status}},\n"
    "\"detail\"}. Task kinds: math, exact, countdown (code: status error, not supported yet).\n"
    "\n"
    "options:\n"
    "  --extractor NAME         auto (default), answer, boxed, gsm8k, answer_is\n"
    "  --accuracy-weight W      weight of the accuracy component (default 1)\n"
    "  --format-weight W        weight of the format component (default 0: off)\n"
    "  --format-pattern RE      PCRE2 pattern for the format check (default: R1 template)\n"
    "  --language CODE          target language of the reasoning (default en)\n"
    "  --language-weight W      weight of the language component (default 0: off)\n"
    "  --length-weight W        weight of DAPO's overlong penalty (default 0: off; needs\n"
    "                           completion_tokens)\n"
    "  --length-max N           L_max (default 20480)\n"
    "  --length-cache N         L_cache (default 4096)\n"
    "  --casefold               exact tasks compare case-insensitively\n"
    "  --bench FILE             time zr_math_equal on JSONL pairs {\"gold\", \"pred\"}\n"
    "  --repeat N               bench: passes over the pairs (default 1)\n"
    "Exit status: 0 when every line was well-formed, 1 otherwise, 2 on a usage error.\n";

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int parse_double(const char *s, double *out) {
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || !end || end == s || *end) return -1;
  *out = v;
  return 0;
}

static int parse_long(const char *s, long *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || !end || end == s || *end) return -1;
  *out = v;
  return 0;
}

static int stream(const zr_reward_scorer *s, FILE *in, FILE *out) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int all_ok = 1;
  while ((n = getline(&line, &cap, in)) >= 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    if (n == 0) continue;
    int ok = 1;
    char *res = zr_reward_score_line(s, line, (size_t)n, &ok);
    if (!res) {
      fprintf(stderr, "zerorl verify: out of memory\n");
      free(line);
      return -1;
    }
    fprintf(out, "%s\n", res);
    free(res);
    if (!ok) all_ok = 0;
  }
  free(line);
  fflush(out);
  return all_ok ? 0 : 1;
}

typedef struct {
  char *gold, *pred;
} pair;

static int bench(const char *path, long repeat, const zr_math_limits *lim) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "zerorl verify: cannot open %s: %s\n", path, strerror(errno));
    return 1;
  }
  pair *pairs = NULL;
  size_t np = 0, cp = 0;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  long lineno = 0;
  int status = 0;
  while ((n = getline(&line, &cap, f)) >= 0) {
    lineno++;
    if (n <= 1) continue;
    char what[64];
    snprintf(what, sizeof what, "%s line %ld", path, lineno);
    json_t *o = zr_json_parse(line, (size_t)n, what);
    const char *g = NULL, *p = NULL;
    if (!o || zr_json_get_str(o, "gold", what, &g) < 0 || zr_json_get_str(o, "pred", what, &p) < 0) {
      fprintf(stderr, "zerorl verify: %s\n", zr_errmsg());
      json_decref(o);
      status = 1;
      continue;
    }
    if (np == cp) {
      cp = cp ? cp * 2 : 256;
      pair *nv = realloc(pairs, cp * sizeof *nv);
      if (!nv) abort();
      pairs = nv;
    }
    pairs[np].gold = strdup(g);
    pairs[np].pred = strdup(p);
    np++;
    json_decref(o);
  }
  free(line);
  fclose(f);
  zr_math_verdict *v = calloc(np ? np : 1, sizeof *v);
  if (!v) abort();
  double t0 = now_s();
  for (long r = 0; r < repeat; r++)
    for (size_t i = 0; i < np; i++) zr_math_equal(pairs[i].pred, pairs[i].gold, lim, &v[i]);
  double dt = now_s() - t0;
  for (size_t i = 0; i < np; i++) {
    json_t *o = json_object();
    json_object_set_new(o, "i", json_integer((json_int_t)i));
    json_object_set_new(o, "equal", json_boolean(v[i].equal));
    json_object_set_new(o, "status", json_string(zr_verify_status_name(v[i].status)));
    json_object_set_new(o, "method", json_string(v[i].method));
    char *s = zr_json_dump_line(o);
    printf("%s\n", s ? s : "{}");
    free(s);
    json_decref(o);
    free(pairs[i].gold);
    free(pairs[i].pred);
  }
  double checks = (double)np * (double)repeat;
  fprintf(stderr, "bench: %zu pairs x %ld passes = %.0f checks in %.3f s: %.0f checks/s (%.1f us/check)\n", np,
          repeat, checks, dt, dt > 0 ? checks / dt : 0.0, checks > 0 ? dt * 1e6 / checks : 0.0);
  free(v);
  free(pairs);
  return status;
}

int zr_cmd_verify(int argc, char **argv) {
  zr_clearerr();
  zr_reward_config cfg;
  zr_reward_config_default(&cfg);
  const char *bench_path = NULL;
  long repeat = 1;
  int nfiles = 0;
  char **files = calloc((size_t)argc + 1, sizeof *files);
  if (!files) return 1;
  int status = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    int takes = 1, bad = 0;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(verify_usage, stdout);
      free(files);
      return 0;
    } else if (strcmp(a, "--casefold") == 0) {
      cfg.exact_casefold = 1;
      takes = 0;
    } else if (a[0] == '-' && a[1] == '-' && !val) {
      fprintf(stderr, "zerorl verify: '%s' is unknown or needs a value\n%s", a, verify_usage);
      free(files);
      return 2;
    } else if (strcmp(a, "--extractor") == 0) {
      bad = zr_extractor_from_name(val, &cfg.extractor) < 0;
    } else if (strcmp(a, "--accuracy-weight") == 0) {
      bad = parse_double(val, &cfg.w_accuracy) < 0;
    } else if (strcmp(a, "--format-weight") == 0) {
      bad = parse_double(val, &cfg.w_format) < 0;
    } else if (strcmp(a, "--format-pattern") == 0) {
      cfg.format_pattern = val;
    } else if (strcmp(a, "--language") == 0) {
      bad = strlen(val) >= sizeof cfg.language;
      if (!bad) snprintf(cfg.language, sizeof cfg.language, "%s", val);
    } else if (strcmp(a, "--language-weight") == 0) {
      bad = parse_double(val, &cfg.w_language) < 0;
    } else if (strcmp(a, "--length-weight") == 0) {
      bad = parse_double(val, &cfg.w_length) < 0;
    } else if (strcmp(a, "--length-max") == 0) {
      bad = parse_long(val, &cfg.l_max) < 0;
    } else if (strcmp(a, "--length-cache") == 0) {
      bad = parse_long(val, &cfg.l_cache) < 0;
    } else if (strcmp(a, "--bench") == 0) {
      bench_path = val;
    } else if (strcmp(a, "--repeat") == 0) {
      bad = parse_long(val, &repeat) < 0 || repeat < 1;
    } else if (a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, "zerorl verify: unknown option '%s'\n%s", a, verify_usage);
      free(files);
      return 2;
    } else {
      files[nfiles++] = argv[i];
      takes = 0;
    }
    if (bad) {
      fprintf(stderr, "zerorl verify: bad value for %s%s%s\n", a, val ? ": " : "", val ? val : "");
      if (zr_errmsg()[0]) fprintf(stderr, "zerorl verify: %s\n", zr_errmsg());
      free(files);
      return 2;
    }
    i += takes;
  }
  if (bench_path) {
    status = bench(bench_path, repeat, &cfg.limits);
    free(files);
    return status;
  }
  zr_reward_scorer *s = NULL;
  if (zr_reward_scorer_new(&cfg, &s) < 0) {
    fprintf(stderr, "zerorl verify: %s\n", zr_errmsg());
    free(files);
    return 2;
  }
  if (nfiles == 0) {
    int rc = stream(s, stdin, stdout);
    status = rc != 0;
  }
  for (int i = 0; i < nfiles; i++) {
    FILE *f = strcmp(files[i], "-") == 0 ? stdin : fopen(files[i], "r");
    if (!f) {
      fprintf(stderr, "zerorl verify: cannot open %s: %s\n", files[i], strerror(errno));
      status = 1;
      continue;
    }
    if (stream(s, f, stdout) != 0) status = 1;
    if (f != stdin) fclose(f);
  }
  zr_reward_scorer_free(&s);
  free(files);
  return status;
}
