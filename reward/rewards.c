/* rewards.c: format, length, countdown and exact-match rewards and the weighted sum (see
 * rewards.h). The language share lives in rewards_lang.c. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "reward/rewards.h"

#include <ctype.h>
#include <errno.h>
#include <gmp.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* ---- format --------------------------------------------------------------------------- */

struct zr_format {
  pcre2_code *re;
};

int zr_format_new(const char *pattern, zr_format **out) {
  *out = NULL;
  if (!pattern) pattern = ZR_FORMAT_R1_PATTERN;
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_DOTALL | PCRE2_UTF, &err, &off, NULL);
  if (!re) {
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(err, msg, sizeof msg);
    return zr_seterr(-EINVAL, "format pattern: %s at offset %zu", (const char *)msg, (size_t)off);
  }
  zr_format *f = calloc(1, sizeof *f);
  if (!f) {
    pcre2_code_free(re);
    return zr_seterr(-ENOMEM, "out of memory");
  }
  f->re = re;
  *out = f;
  return 0;
}

void zr_format_free(zr_format **pf) {
  if (!pf || !*pf) return;
  pcre2_code_free((*pf)->re);
  free(*pf);
  *pf = NULL;
}

int zr_format_check(const zr_format *f, const char *text, size_t len) {
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(f->re, NULL);
  pcre2_match_context *mc = pcre2_match_context_create(NULL);
  if (!md || !mc) {
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    return zr_seterr(-ENOMEM, "out of memory");
  }
  /* a budget proportional to the input: the default pattern needs a few steps per byte */
  pcre2_set_match_limit(mc, (uint32_t)(len > 100000000 ? 1000000000 : 64 * len + 100000));
  pcre2_set_depth_limit(mc, 100000);
  int rc = pcre2_match(f->re, (PCRE2_SPTR)text, len, 0, 0, md, mc);
  pcre2_match_data_free(md);
  pcre2_match_context_free(mc);
  if (rc >= 0) return 1;
  if (rc == PCRE2_ERROR_NOMATCH) return 0;
  if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT)
    return zr_seterr(-E2BIG, "format check ran out of its match budget");
  return 0; /* invalid UTF-8 and the like: not the expected format */
}

/* ---- length --------------------------------------------------------------------------- */

double zr_reward_overlong(long n, long l_max, long l_cache) {
  if (l_cache <= 0 || l_max <= 0) return n > l_max ? -1.0 : 0.0;
  long free_len = l_max - l_cache;
  if (n <= free_len) return 0.0;
  if (n > l_max) return -1.0;
  return (double)(free_len - n) / (double)l_cache;
}

/* ---- countdown ------------------------------------------------------------------------ */

typedef struct {
  const char *s;
  size_t n, i;
  int depth;
  long used[64];
  int nused;
  const char *err;
} cd_parser;

static void cd_skip(cd_parser *P) {
  while (P->i < P->n && isspace((unsigned char)P->s[P->i])) P->i++;
}

static int cd_expr(cd_parser *P, mpq_t out);

static int cd_factor(cd_parser *P, mpq_t out) {
  cd_skip(P);
  if (P->i >= P->n) {
    P->err = "expression ends early";
    return -1;
  }
  char c = P->s[P->i];
  if (c == '(') {
    if (++P->depth > 64) {
      P->err = "nested too deeply";
      return -1;
    }
    P->i++;
    if (cd_expr(P, out) < 0) return -1;
    cd_skip(P);
    if (P->i >= P->n || P->s[P->i] != ')') {
      P->err = "missing ')'";
      return -1;
    }
    P->i++;
    P->depth--;
    return 0;
  }
  if (isdigit((unsigned char)c)) {
    long v = 0;
    int digits = 0;
    while (P->i < P->n && isdigit((unsigned char)P->s[P->i])) {
      if (++digits > 15) {
        P->err = "number too long";
        return -1;
      }
      v = v * 10 + (P->s[P->i++] - '0');
    }
    if (P->nused >= 64) {
      P->err = "too many numbers";
      return -1;
    }
    P->used[P->nused++] = v;
    mpq_set_si(out, v, 1);
    return 0;
  }
  P->err = c == '-' ? "unary minus is not allowed" : "only digits, + - * / and parentheses are allowed";
  return -1;
}

static int cd_term(cd_parser *P, mpq_t out) {
  if (cd_factor(P, out) < 0) return -1;
  mpq_t r;
  mpq_init(r);
  int rc = 0;
  for (;;) {
    cd_skip(P);
    if (P->i >= P->n || (P->s[P->i] != '*' && P->s[P->i] != '/')) break;
    char op = P->s[P->i++];
    if ((rc = cd_factor(P, r)) < 0) break;
    if (op == '*') mpq_mul(out, out, r);
    else if (mpq_sgn(r) == 0) {
      P->err = "division by zero";
      rc = -1;
      break;
    } else mpq_div(out, out, r);
  }
  mpq_clear(r);
  return rc;
}

static int cd_expr(cd_parser *P, mpq_t out) {
  if (cd_term(P, out) < 0) return -1;
  mpq_t r;
  mpq_init(r);
  int rc = 0;
  for (;;) {
    cd_skip(P);
    if (P->i >= P->n || (P->s[P->i] != '+' && P->s[P->i] != '-')) break;
    char op = P->s[P->i++];
    if ((rc = cd_term(P, r)) < 0) break;
    if (op == '+') mpq_add(out, out, r);
    else mpq_sub(out, out, r);
  }
  mpq_clear(r);
  return rc;
}

static int cmp_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

static int detailf(char *d, size_t cap, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int detailf(char *d, size_t cap, int rc, const char *fmt, ...) {
  if (d && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d, cap, fmt, ap);
    va_end(ap);
  }
  return rc;
}

int zr_countdown_check(const char *a, size_t len, const long *numbers, int n_numbers, long target, char *detail,
                       size_t cap) {
  if (len > 1024) return detailf(detail, cap, 0, "answer too long");
  if (n_numbers < 0 || n_numbers > 64) return detailf(detail, cap, 0, "bad number list");
  /* an optional trailing "= target" */
  size_t elen = len;
  for (size_t i = 0; i < len; i++) {
    if (a[i] == '=') {
      elen = i;
      char *end = NULL;
      char buf[32];
      size_t rs = i + 1, re = len; /* the right-hand side without surrounding whitespace */
      while (rs < re && isspace((unsigned char)a[rs])) rs++;
      while (re > rs && isspace((unsigned char)a[re - 1])) re--;
      size_t rl = re - rs;
      if (rl == 0 || rl >= sizeof buf) return detailf(detail, cap, 0, "bad right-hand side");
      memcpy(buf, a + rs, rl);
      buf[rl] = '\0';
      long rhs = strtol(buf, &end, 10);
      if (!end || *end || end == buf) return detailf(detail, cap, 0, "bad right-hand side");
      if (rhs != target) return detailf(detail, cap, 0, "right-hand side %ld is not the target %ld", rhs, target);
      break;
    }
  }
  cd_parser P = {.s = a, .n = elen};
  mpq_t v;
  mpq_init(v);
  int rc = cd_expr(&P, v);
  cd_skip(&P);
  if (rc == 0 && P.i < P.n) {
    P.err = "only digits, + - * / and parentheses are allowed";
    rc = -1;
  }
  if (rc < 0) {
    mpq_clear(v);
    return detailf(detail, cap, 0, "%s", P.err ? P.err : "bad expression");
  }
  long given[64];
  memcpy(given, numbers, (size_t)n_numbers * sizeof *given);
  qsort(given, (size_t)n_numbers, sizeof *given, cmp_long);
  qsort(P.used, (size_t)P.nused, sizeof *P.used, cmp_long);
  int same = P.nused == n_numbers;
  for (int i = 0; same && i < n_numbers; i++) same = given[i] == P.used[i];
  if (!same) {
    mpq_clear(v);
    return detailf(detail, cap, 0, "must use each of the %d numbers exactly once (used %d numbers)", n_numbers, P.nused);
  }
  int ok = mpq_cmp_si(v, target, 1) == 0;
  if (!ok) {
    char *vs = NULL;
    if (mpz_sizeinbase(mpq_numref(v), 10) < 40) vs = mpq_get_str(NULL, 10, v);
    detailf(detail, cap, 0, "value %s is not the target %ld", vs ? vs : "(large)", target);
    if (vs) {
      void (*freefn)(void *, size_t);
      mp_get_memory_functions(NULL, NULL, &freefn);
      freefn(vs, strlen(vs) + 1);
    }
  } else {
    detailf(detail, cap, 1, "equals %ld", target);
  }
  mpq_clear(v);
  return ok;
}

/* ---- exact match ---------------------------------------------------------------------- */

/* Decodes one UTF-8 code point; returns bytes used (1 for invalid bytes, taken as Latin-1). */
static int utf8_next(const unsigned char *s, size_t n, unsigned *cp) {
  unsigned c = s[0];
  if (c < 0x80 || n < 2) {
    *cp = c;
    return 1;
  }
  if ((c & 0xE0) == 0xC0 && (s[1] & 0xC0) == 0x80) {
    *cp = ((c & 0x1F) << 6) | (s[1] & 0x3F);
    return 2;
  }
  if ((c & 0xF0) == 0xE0 && n >= 3 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80) {
    *cp = ((c & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    return 3;
  }
  if ((c & 0xF8) == 0xF0 && n >= 4 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80) {
    *cp = ((c & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    return 4;
  }
  *cp = c;
  return 1;
}

static unsigned fold(unsigned c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

static void trim_span(const char **s, size_t *n) {
  while (*n && isspace((unsigned char)(*s)[0])) {
    (*s)++;
    (*n)--;
  }
  while (*n && isspace((unsigned char)(*s)[*n - 1])) (*n)--;
}

int zr_exact_match(const char *a, size_t an, const char *b, size_t bn, int casefold) {
  trim_span(&a, &an);
  trim_span(&b, &bn);
  if (!casefold) return an == bn && memcmp(a, b, an) == 0;
  size_t i = 0, j = 0;
  while (i < an && j < bn) {
    unsigned x, y;
    i += (size_t)utf8_next((const unsigned char *)a + i, an - i, &x);
    j += (size_t)utf8_next((const unsigned char *)b + j, bn - j, &y);
    if (fold(x) != fold(y)) return 0;
  }
  return i == an && j == bn;
}

/* ---- weighted sum --------------------------------------------------------------------- */

struct zr_reward_scorer {
  zr_reward_config cfg;
  char *pattern;
  zr_format *format;
};

void zr_reward_config_default(zr_reward_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->extractor = ZR_EXTRACT_AUTO;
  zr_math_limits_default(&cfg->limits);
  cfg->w_accuracy = 1.0;
  snprintf(cfg->language, sizeof cfg->language, "en");
  cfg->l_max = 20480;
  cfg->l_cache = 4096;
}

int zr_reward_scorer_new(const zr_reward_config *cfg, zr_reward_scorer **out) {
  *out = NULL;
  zr_reward_scorer *s = calloc(1, sizeof *s);
  if (!s) return zr_seterr(-ENOMEM, "out of memory");
  s->cfg = *cfg;
  if (cfg->format_pattern && !(s->pattern = strdup(cfg->format_pattern))) {
    free(s);
    return zr_seterr(-ENOMEM, "out of memory");
  }
  s->cfg.format_pattern = s->pattern;
  int rc = zr_format_new(s->pattern, &s->format);
  if (rc == 0 && cfg->w_language != 0) {
    double sh;
    rc = zr_reward_language("", 0, cfg->language, &sh, NULL);
  }
  if (rc == 0 && cfg->l_cache > cfg->l_max)
    rc = zr_seterr(-EINVAL, "length reward: l_cache (%ld) exceeds l_max (%ld)", cfg->l_cache, cfg->l_max);
  if (rc < 0) {
    zr_reward_scorer_free(&s);
    return rc;
  }
  *out = s;
  return 0;
}

void zr_reward_scorer_free(zr_reward_scorer **ps) {
  if (!ps || !*ps) return;
  zr_format_free(&(*ps)->format);
  free((*ps)->pattern);
  free(*ps);
  *ps = NULL;
}

const zr_reward_config *zr_reward_scorer_config(const zr_reward_scorer *s) { return &s->cfg; }

const char *zr_verify_status_name(zr_verify_status st) {
  switch (st) {
    case ZR_VERIFY_OK: return "ok";
    case ZR_VERIFY_NO_ANSWER: return "no_answer";
    case ZR_VERIFY_TIMEOUT: return "timeout";
    default: return "error";
  }
}

static void add_component(zr_reward_result *r, const char *name, double value, double weight, const char *status) {
  if (r->n_components >= ZR_REWARD_MAX_COMPONENTS) return;
  zr_reward_component *c = &r->components[r->n_components++];
  snprintf(c->name, sizeof c->name, "%s", name);
  c->value = value;
  c->weight = weight;
  snprintf(c->status, sizeof c->status, "%s", status);
  r->reward += value * weight;
}

static const char *accuracy_status(zr_verify_status st, int correct) {
  if (st == ZR_VERIFY_OK) return correct ? "correct" : "wrong";
  return zr_verify_status_name(st);
}

int zr_reward_score(const zr_reward_scorer *s, const zr_reward_task *task, const char *text, size_t len,
                    long n_tokens, zr_reward_result *out) {
  if (!s || !task || !text || !out) return zr_seterr(-EINVAL, "zr_reward_score: NULL argument");
  memset(out, 0, sizeof *out);
  const zr_reward_config *cfg = &s->cfg;
  int correct = 0;
  zr_verify_status st = ZR_VERIFY_OK;
  if (len > cfg->limits.max_input) {
    st = ZR_VERIFY_TIMEOUT;
    snprintf(out->detail, sizeof out->detail, "too large: completion of %zu bytes (limit %zu)", len, cfg->limits.max_input);
  } else {
    switch (task->kind) {
      case ZR_TASK_MATH: {
        zr_math_verdict v;
        if (!task->answer) {
          st = ZR_VERIFY_ERROR;
          snprintf(out->detail, sizeof out->detail, "math task without an answer");
          break;
        }
        zr_verify_math(text, len, task->answer, cfg->extractor, &cfg->limits, &v);
        st = v.status;
        correct = v.status == ZR_VERIFY_OK && v.equal;
        if (v.status == ZR_VERIFY_NO_ANSWER) snprintf(out->detail, sizeof out->detail, "%s", v.detail);
        else snprintf(out->detail, sizeof out->detail, "answer '%.80s': %s: %.100s", v.answer, v.method, v.detail);
        break;
      }
      case ZR_TASK_EXACT: case ZR_TASK_COUNTDOWN: {
        zr_span sp;
        int rc = zr_extract_answer(text, len, cfg->extractor, cfg->limits.max_input, &sp);
        if (rc <= 0) {
          st = rc < 0 ? ZR_VERIFY_TIMEOUT : ZR_VERIFY_NO_ANSWER;
          snprintf(out->detail, sizeof out->detail, "no answer found (extractor %s)", zr_extractor_name(cfg->extractor));
          break;
        }
        if (task->kind == ZR_TASK_EXACT) {
          if (!task->answer) {
            st = ZR_VERIFY_ERROR;
            snprintf(out->detail, sizeof out->detail, "exact task without an answer");
            break;
          }
          correct = zr_exact_match(text + sp.start, sp.len, task->answer, strlen(task->answer), cfg->exact_casefold);
          snprintf(out->detail, sizeof out->detail, "answer '%.*s' %s", (int)(sp.len > 100 ? 100 : sp.len),
                   text + sp.start, correct ? "matches" : "does not match");
        } else {
          char why[160];
          correct = zr_countdown_check(text + sp.start, sp.len, task->numbers, task->n_numbers, task->target, why, sizeof why);
          snprintf(out->detail, sizeof out->detail, "answer '%.*s': %s", (int)(sp.len > 80 ? 80 : sp.len),
                   text + sp.start, why);
        }
        break;
      }
      case ZR_TASK_CODE:
      default:
        st = ZR_VERIFY_ERROR;
        snprintf(out->detail, sizeof out->detail, "code tasks not supported yet");
        break;
    }
  }
  out->status = st;
  out->correct = correct;
  add_component(out, "accuracy", correct ? 1.0 : 0.0, cfg->w_accuracy, accuracy_status(st, correct));
  if (cfg->w_format != 0) {
    int f = len > cfg->limits.max_input ? -E2BIG : zr_format_check(s->format, text, len);
    add_component(out, "format", f == 1 ? 1.0 : 0.0, cfg->w_format, f == 1 ? "match" : f < 0 ? "timeout" : "no_match");
  }
  if (cfg->w_language != 0) {
    size_t b, n;
    zr_reasoning_span(text, len, &b, &n);
    double share = 0;
    long letters = 0;
    zr_reward_language(text + b, n, cfg->language, &share, &letters);
    add_component(out, "language", share, cfg->w_language, letters ? cfg->language : "no_letters");
  }
  if (cfg->w_length != 0 && n_tokens >= 0) {
    double v = zr_reward_overlong(n_tokens, cfg->l_max, cfg->l_cache);
    add_component(out, "length", v, cfg->w_length, v == 0 ? "ok" : v <= -1 ? "overlong" : "soft_penalty");
  }
  return 0;
}
