/* tok_pretok.c: building the pieces the encoder splits text with: the added-token matcher and
 * the regexes of Split / ByteLevel pre-tokenizers.
 *
 * Hugging Face compiles pre-tokenizer regexes with Oniguruma (Ruby syntax); zerorl runs them
 * with PCRE2 (UTF, UCP, JIT). The two agree on the patterns tokenizers use except for a few
 * escapes, which are rewritten before compiling: `\s`/`\S` become \p{White_Space} (PCRE2's
 * \s also takes U+180E), `\w`/`\W` become Oniguruma's Letter|Mark|Decimal_Number|
 * Connector_Punctuation, `\h`/`\H` are Oniguruma's hex digits, `\uHHHH` becomes \x{HHHH},
 * and in inline option groups Ruby's `m` (dot matches newline) becomes PCRE2's `s`. `^`/`$`
 * are line anchors as in Ruby (PCRE2_MULTILINE). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/tok_internal.h"

const char tok_gpt2_pattern[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* ---- added-token matcher -------------------------------------------------------------- */

static int cmp_added(const void *pa, const void *pb, void *ctx) {
  const tok_added *a = pa, *b = pb;
  const char *arena = ctx;
  unsigned char fa = (unsigned char)arena[a->off], fb = (unsigned char)arena[b->off];
  if (fa != fb) return fa < fb ? -1 : 1;
  if (a->len != b->len) return a->len > b->len ? -1 : 1;
  return a->id < b->id ? -1 : a->id > b->id;
}

int tok_matcher_build(tok_matcher *m, const tok_added *tokens, size_t n, const zr_tok *tok) {
  memset(m, 0, sizeof *m);
  if (n == 0) return 0;
  m->tokens = malloc(n * sizeof *m->tokens);
  if (!m->tokens) return zr_seterr(-ENOMEM, "tokenizer: out of memory (added tokens)");
  memcpy(m->tokens, tokens, n * sizeof *tokens);
  m->n = n;
  qsort_r(m->tokens, n, sizeof *m->tokens, cmp_added, tok->arena.p);
  for (size_t i = n; i-- > 0;) {
    unsigned char f = (unsigned char)tok->arena.p[m->tokens[i].off];
    m->first[f] = (uint32_t)i;
    m->count[f]++;
  }
  return 0;
}

void tok_matcher_release(tok_matcher *m) {
  free(m->tokens);
  memset(m, 0, sizeof *m);
}

/* ---- regexes -------------------------------------------------------------------------- */

#define ONIG_WORD "\\p{L}\\p{M}\\p{Nd}\\p{Pc}"
#define ONIG_HEX "0-9a-fA-F"

static int is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* Rewrites an Oniguruma pattern for PCRE2 into out. */
static int translate(const char *p, size_t len, tok_buf *out, const char *name, const char *where) {
  int in_class = 0;
  for (size_t i = 0; i < len; i++) {
    char c = p[i];
    const char *rep = NULL;
    if (c == '\\' && i + 1 < len) {
      char e = p[++i];
      switch (e) {
        case 's': rep = "\\p{White_Space}"; break;
        case 'S': rep = "\\P{White_Space}"; break;
        case 'w': rep = in_class ? ONIG_WORD : "[" ONIG_WORD "]"; break;
        case 'h': rep = in_class ? ONIG_HEX : "[" ONIG_HEX "]"; break;
        case 'W':
        case 'H':
          if (in_class)
            return zr_seterr(-EINVAL, "%s: %s: \\%c inside a character class is not supported", name, where, e);
          rep = e == 'W' ? "[^" ONIG_WORD "]" : "[^" ONIG_HEX "]";
          break;
        case 'u':
          if (i + 4 < len && is_hex(p[i + 1]) && is_hex(p[i + 2]) && is_hex(p[i + 3]) && is_hex(p[i + 4])) {
            char x[16] = "\\x{";
            memcpy(x + 3, p + i + 1, 4);
            x[7] = '}';
            x[8] = '\0';
            if (tok_buf_append(out, x, 8)) return -ENOMEM;
            i += 4;
            continue;
          }
          break;
        default: break;
      }
      if (rep) {
        if (tok_buf_append(out, rep, strlen(rep))) return -ENOMEM;
      } else {
        char pair[2] = {'\\', e};
        if (tok_buf_append(out, pair, 2)) return -ENOMEM;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = 1;
      if (tok_buf_append(out, p + i, 1)) return -ENOMEM;
      /* a ']' right after '[' or '[^' is a literal */
      if (i + 1 < len && p[i + 1] == '^') {
        if (tok_buf_append(out, p + ++i, 1)) return -ENOMEM;
      }
      if (i + 1 < len && p[i + 1] == ']') {
        if (tok_buf_append(out, p + ++i, 1)) return -ENOMEM;
      }
      continue;
    }
    if (in_class && c == '[' && i + 1 < len && p[i + 1] == ':') { /* POSIX class [:alpha:] */
      const char *end = memchr(p + i + 2, ']', len - i - 2);
      if (end) {
        size_t n = (size_t)(end - (p + i)) + 1;
        if (tok_buf_append(out, p + i, n)) return -ENOMEM;
        i += n - 1;
        continue;
      }
    }
    if (in_class && c == '[')
      return zr_seterr(-EINVAL, "%s: %s: nested character classes are not supported", name, where);
    if (in_class && c == ']') in_class = 0;
    if (!in_class && c == '(' && i + 1 < len && p[i + 1] == '?') {
      /* inline options (?imx-imx) or (?imx-imx:...): Ruby's m is PCRE2's s */
      size_t j = i + 2;
      while (j < len && strchr("imx-", p[j]) && p[j]) j++;
      if (j < len && j > i + 2 && (p[j] == ':' || p[j] == ')')) {
        if (tok_buf_append(out, "(?", 2)) return -ENOMEM;
        for (size_t k = i + 2; k < j; k++) {
          char o = p[k] == 'm' ? 's' : p[k];
          if (tok_buf_append(out, &o, 1)) return -ENOMEM;
        }
        i = j - 1;
        continue;
      }
    }
    if (tok_buf_append(out, &c, 1)) return -ENOMEM;
  }
  return 0;
}

int tok_stage_compile(tok_stage *st, const char *pattern, size_t len, int literal, const char *name,
                      const char *where) {
  tok_buf pat = {0};
  int rc = 0;
  uint32_t opts = PCRE2_UTF | PCRE2_UCP;
  if (literal) {
    opts |= PCRE2_LITERAL;
    rc = tok_buf_append(&pat, pattern, len);
  } else {
    opts |= PCRE2_MULTILINE;
    rc = translate(pattern, len, &pat, name, where);
  }
  if (rc) goto out;
  int err;
  PCRE2_SIZE off;
  st->re = pcre2_compile((PCRE2_SPTR)(pat.p ? pat.p : ""), pat.len, opts, &err, &off, NULL);
  if (!st->re) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    rc = zr_seterr(-EINVAL, "%s: %s: cannot compile the regex '%.*s': %s", name, where, (int)len, pattern,
                   (const char *)msg);
    goto out;
  }
  st->jit = pcre2_jit_compile(st->re, PCRE2_JIT_COMPLETE) == 0;
out:
  tok_buf_release(&pat);
  return rc;
}

void tok_stage_release(tok_stage *st) {
  pcre2_code_free(st->re);
  memset(st, 0, sizeof *st);
}
