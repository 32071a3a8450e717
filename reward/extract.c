/* extract.c: final-answer extraction from completions (see extract.h). */
#include "reward/extract.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"

static const struct {
  const char *name;
  zr_extractor ex;
} names[] = {
    {"auto", ZR_EXTRACT_AUTO},   {"answer", ZR_EXTRACT_ANSWER_TAG}, {"boxed", ZR_EXTRACT_BOXED},
    {"gsm8k", ZR_EXTRACT_GSM8K}, {"answer_is", ZR_EXTRACT_ANSWER_IS},
};

int zr_extractor_from_name(const char *name, zr_extractor *out) {
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (name && strcmp(name, names[i].name) == 0) {
      *out = names[i].ex;
      return 0;
    }
  }
  return zr_seterr(-EINVAL, "unknown answer extractor '%s' (auto, answer, boxed, gsm8k, answer_is)",
                   name ? name : "(null)");
}

const char *zr_extractor_name(zr_extractor ex) {
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].ex == ex) return names[i].name;
  return "?";
}

/* Last occurrence of needle in s[0..n) (case-sensitive); (size_t)-1 if none. */
static size_t rfind(const char *s, size_t n, const char *needle) {
  size_t m = strlen(needle);
  if (m > n) return (size_t)-1;
  for (size_t i = n - m + 1; i-- > 0;)
    if (s[i] == needle[0] && memcmp(s + i, needle, m) == 0) return i;
  return (size_t)-1;
}

/* Trims spaces, surrounding $ / \( \) / \[ \] / ** and one final '.' from a span. */
static void trim(const char *s, zr_span *sp) {
  size_t b = sp->start, e = sp->start + sp->len;
  for (int pass = 0; pass < 4; pass++) {
    while (b < e && isspace((unsigned char)s[b])) b++;
    while (e > b && isspace((unsigned char)s[e - 1])) e--;
    if (e > b && s[e - 1] == '.') e--;
    while (e > b && isspace((unsigned char)s[e - 1])) e--;
    if (e - b >= 2 && s[b] == '*' && s[b + 1] == '*') b += 2;
    if (e - b >= 2 && s[e - 1] == '*' && s[e - 2] == '*') e -= 2;
    if (e - b >= 2 && s[b] == '$' && s[e - 1] == '$') {
      b++;
      e--;
    } else if (e - b >= 4 && s[b] == '\\' && (s[b + 1] == '(' || s[b + 1] == '[') && s[e - 2] == '\\' &&
               (s[e - 1] == ')' || s[e - 1] == ']')) {
      b += 2;
      e -= 2;
    }
  }
  sp->start = b;
  sp->len = e - b;
}

int zr_extract_last_boxed(const char *s, size_t n, zr_span *out) {
  size_t end = n;
  size_t a = rfind(s, n, "\\boxed"), f = rfind(s, n, "\\fbox");
  while (end > 0) {
    if (a != (size_t)-1 && a >= end) a = rfind(s, end, "\\boxed");
    if (f != (size_t)-1 && f >= end) f = rfind(s, end, "\\fbox");
    size_t at;
    size_t cmdlen;
    if (a == (size_t)-1 && f == (size_t)-1) return 0;
    if (a == (size_t)-1 || (f != (size_t)-1 && f > a)) {
      at = f;
      cmdlen = 5;
    } else {
      at = a;
      cmdlen = 6;
    }
    size_t i = at + cmdlen;
    if (i < n && isalpha((unsigned char)s[i])) { /* \boxedx: some other command */
      end = at;
      continue;
    }
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    if (i < n && s[i] == '{') {
      int depth = 0;
      for (size_t j = i; j < n; j++) {
        if (s[j] == '\\' && j + 1 < n) {
          j++;
          continue;
        }
        if (s[j] == '{') depth++;
        else if (s[j] == '}' && --depth == 0) {
          out->start = i + 1;
          out->len = j - i - 1;
          trim(s, out);
          out->by = ZR_EXTRACT_BOXED;
          return 1;
        }
      }
      return 0; /* the last box is unclosed: truncated output */
    }
    if (i > at + cmdlen && i < n && s[i] != '$') {
      /* \boxed 5: one token */
      size_t j = i;
      while (j < n && !isspace((unsigned char)s[j]) && s[j] != '$') j++;
      out->start = i;
      out->len = j - i;
      trim(s, out);
      out->by = ZR_EXTRACT_BOXED;
      return out->len > 0;
    }
    end = at;
  }
  return 0;
}

static int extract_tag(const char *s, size_t n, zr_span *out) {
  size_t close = rfind(s, n, "</answer>");
  if (close == (size_t)-1) return 0;
  size_t open = rfind(s, close, "<answer>");
  if (open == (size_t)-1) return 0;
  zr_span in = {open + 8, close - open - 8, ZR_EXTRACT_ANSWER_TAG};
  zr_span bx;
  if (zr_extract_last_boxed(s + in.start, in.len, &bx)) {
    out->start = in.start + bx.start;
    out->len = bx.len;
  } else {
    *out = in;
    trim(s, out);
  }
  out->by = ZR_EXTRACT_ANSWER_TAG;
  return 1;
}

static int extract_gsm8k(const char *s, size_t n, zr_span *out) {
  size_t at = rfind(s, n, "####");
  if (at == (size_t)-1) return 0;
  size_t b = at + 4, e = b;
  while (e < n && s[e] != '\n') e++;
  out->start = b;
  out->len = e - b;
  trim(s, out);
  out->by = ZR_EXTRACT_GSM8K;
  return out->len > 0;
}

/* Case-insensitive last match of any phrase; returns the index just after it. */
static size_t rfind_phrase(const char *s, size_t n, const char *const *phrases, size_t np) {
  size_t best = (size_t)-1, best_end = 0;
  for (size_t p = 0; p < np; p++) {
    size_t m = strlen(phrases[p]);
    if (m > n) continue;
    for (size_t i = n - m + 1; i-- > 0;) {
      if (best != (size_t)-1 && i <= best) break;
      if (strncasecmp(s + i, phrases[p], m) == 0) {
        best = i;
        best_end = i + m;
        break;
      }
    }
  }
  return best == (size_t)-1 ? (size_t)-1 : best_end;
}

static int extract_answer_is(const char *s, size_t n, zr_span *out) {
  static const char *const phrases[] = {"answer is", "answer:", "answer**:", "answer: **", "answer is:"};
  size_t b = rfind_phrase(s, n, phrases, sizeof phrases / sizeof phrases[0]);
  if (b == (size_t)-1) return 0;
  while (b < n && (s[b] == ':' || s[b] == '*' || isspace((unsigned char)s[b])) && s[b] != '\n') b++;
  /* up to the end of the line, or a sentence end ". " that is not a decimal point */
  size_t e = b;
  int in_math = 0;
  while (e < n && s[e] != '\n') {
    if (s[e] == '$') in_math = !in_math;
    if (!in_math && s[e] == '.' && (e + 1 == n || isspace((unsigned char)s[e + 1]))) break;
    e++;
  }
  out->start = b;
  out->len = e - b;
  zr_span bx;
  if (zr_extract_last_boxed(s + b, e - b, &bx)) {
    out->start = b + bx.start;
    out->len = bx.len;
  }
  trim(s, out);
  out->by = ZR_EXTRACT_ANSWER_IS;
  return out->len > 0;
}

int zr_extract_answer(const char *text, size_t len, zr_extractor ex, size_t max_input, zr_span *out) {
  if (len > max_input)
    return zr_seterr(-E2BIG, "completion of %zu bytes exceeds the extraction limit of %zu", len, max_input);
  memset(out, 0, sizeof *out);
  switch (ex) {
    case ZR_EXTRACT_ANSWER_TAG: return extract_tag(text, len, out);
    case ZR_EXTRACT_BOXED: return zr_extract_last_boxed(text, len, out);
    case ZR_EXTRACT_GSM8K: return extract_gsm8k(text, len, out);
    case ZR_EXTRACT_ANSWER_IS: return extract_answer_is(text, len, out);
    case ZR_EXTRACT_AUTO:
      if (extract_tag(text, len, out)) return 1;
      if (zr_extract_last_boxed(text, len, out)) return 1;
      if (extract_answer_is(text, len, out)) return 1;
      return extract_gsm8k(text, len, out);
  }
  return 0;
}
