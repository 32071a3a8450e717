/* rewards_lang.c: the language-consistency reward (see rewards.h): which script each letter of
 * the reasoning span belongs to, by Unicode code-point ranges. */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "reward/rewards.h"

typedef enum {
  SC_NONE = 0, SC_LATIN, SC_HAN, SC_KANA, SC_HANGUL, SC_CYRILLIC, SC_GREEK, SC_ARABIC, SC_HEBREW,
  SC_DEVANAGARI, SC_THAI, SC_OTHER
} script;

/* Script of a letter, SC_NONE for non-letters (digits, punctuation, symbols, marks, emoji). */
static script script_of(unsigned c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) return SC_LATIN;
  if (c < 0x80) return SC_NONE;
  if ((c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) || (c >= 0x1E00 && c <= 0x1EFF)) return SC_LATIN;
  if (c >= 0x370 && c <= 0x3FF && c != 0x37E && c != 0x387) return SC_GREEK;
  if (c >= 0x400 && c <= 0x52F) return SC_CYRILLIC;
  if (c >= 0x5D0 && c <= 0x5EA) return SC_HEBREW;
  if ((c >= 0x620 && c <= 0x64A) || (c >= 0x671 && c <= 0x6D3)) return SC_ARABIC;
  if (c >= 0x904 && c <= 0x939) return SC_DEVANAGARI;
  if (c >= 0xE01 && c <= 0xE30) return SC_THAI;
  if ((c >= 0x1100 && c <= 0x11FF) || (c >= 0x3130 && c <= 0x318F) || (c >= 0xAC00 && c <= 0xD7A3)) return SC_HANGUL;
  if ((c >= 0x3041 && c <= 0x3096) || (c >= 0x30A1 && c <= 0x30FA) || (c >= 0x31F0 && c <= 0x31FF)) return SC_KANA;
  if ((c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
      (c >= 0xF900 && c <= 0xFAFF))
    return SC_HAN;
  if (c >= 0x2000 && c <= 0x2BFF) return SC_NONE; /* punctuation, arrows, math operators */
  if (c >= 0x3000 && c <= 0x303F) return SC_NONE; /* CJK punctuation */
  if (c >= 0xFF00 && c <= 0xFFEF) {
    if ((c >= 0xFF21 && c <= 0xFF3A) || (c >= 0xFF41 && c <= 0xFF5A)) return SC_LATIN; /* fullwidth */
    return SC_NONE;
  }
  if (c >= 0x1F000) return SC_NONE; /* emoji and symbols */
  return SC_OTHER;
}

static const struct {
  const char *code;
  script a, b;
} langs[] = {
    {"en", SC_LATIN, SC_NONE}, {"fr", SC_LATIN, SC_NONE}, {"de", SC_LATIN, SC_NONE},
    {"es", SC_LATIN, SC_NONE}, {"it", SC_LATIN, SC_NONE}, {"pt", SC_LATIN, SC_NONE},
    {"nl", SC_LATIN, SC_NONE}, {"vi", SC_LATIN, SC_NONE}, {"id", SC_LATIN, SC_NONE},
    {"tr", SC_LATIN, SC_NONE}, {"pl", SC_LATIN, SC_NONE}, {"zh", SC_HAN, SC_NONE},
    {"ja", SC_HAN, SC_KANA},   {"ko", SC_HANGUL, SC_NONE}, {"ru", SC_CYRILLIC, SC_NONE},
    {"uk", SC_CYRILLIC, SC_NONE}, {"el", SC_GREEK, SC_NONE}, {"ar", SC_ARABIC, SC_NONE},
    {"he", SC_HEBREW, SC_NONE}, {"hi", SC_DEVANAGARI, SC_NONE}, {"th", SC_THAI, SC_NONE},
};

static int decode(const unsigned char *s, size_t n, unsigned *cp) {
  unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  int len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (!len || (size_t)len > n) {
    *cp = 0xFFFD;
    return 1;
  }
  unsigned v = c & (0x7F >> len);
  for (int i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) {
      *cp = 0xFFFD;
      return 1;
    }
    v = (v << 6) | (s[i] & 0x3F);
  }
  *cp = v;
  return len;
}

int zr_reward_language(const char *text, size_t len, const char *lang, double *share, long *letters) {
  script a = SC_NONE, b = SC_NONE;
  for (size_t i = 0; i < sizeof langs / sizeof langs[0]; i++)
    if (lang && strcmp(lang, langs[i].code) == 0) {
      a = langs[i].a;
      b = langs[i].b;
    }
  if (a == SC_NONE) return zr_seterr(-EINVAL, "language reward: unknown language '%s'", lang ? lang : "(null)");
  const unsigned char *s = (const unsigned char *)text;
  long total = 0, target = 0;
  size_t i = 0;
  while (i < len) {
    if (s[i] == '\\' && i + 1 < len && isalpha(s[i + 1])) { /* LaTeX command */
      i++;
      while (i < len && isalpha(s[i])) i++;
      continue;
    }
    if (isalpha(s[i]) && (i == 0 || !isalnum(s[i - 1])) && (i + 1 == len || !isalnum(s[i + 1]))) {
      i++; /* a one-letter ASCII word: a variable */
      continue;
    }
    unsigned cp;
    int k = decode(s + i, len - i, &cp);
    i += (size_t)k;
    script sc = script_of(cp);
    if (sc == SC_NONE) continue;
    total++;
    if (sc == a || (b != SC_NONE && sc == b)) target++;
  }
  if (letters) *letters = total;
  *share = total ? (double)target / (double)total : 0.0;
  return 0;
}

void zr_reasoning_span(const char *text, size_t len, size_t *start, size_t *span_len) {
  const char *open = memmem(text, len, "<think>", 7);
  size_t b = open ? (size_t)(open - text) + 7 : 0;
  const char *close = memmem(text + b, len - b, "</think>", 8);
  size_t e = len;
  if (close) e = (size_t)(close - text);
  else {
    const char *ans = memmem(text + b, len - b, "<answer>", 8);
    if (ans) e = (size_t)(ans - text);
  }
  *start = b;
  *span_len = e - b;
}
