/* codetest_extract.c: the last fenced code block of a completion (CommonMark-like fences:
 * three or more backticks or tildes opening a line, closed by a line of at least as many of the
 * same character; the opening fence's indentation is removed from the body's lines). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "reward/codetest_internal.h"

typedef struct {
  const char *body; /* first body line */
  const char *end;  /* start of the closing fence line */
  size_t indent;
  char tag[24];
  int rank; /* 2 known language, 1 untagged, 0 other tag */
} block;

static const char *line_end(const char *p) {
  const char *e = strchr(p, '\n');
  return e ? e : p + strlen(p);
}

/* If the line at p is a fence, returns its length (>= 3) and sets *ch and *indent. */
static size_t fence_at(const char *p, const char *eol, char *ch, size_t *indent) {
  size_t ind = 0;
  while (p + ind < eol && (p[ind] == ' ' || p[ind] == '\t')) ind++;
  const char *q = p + ind;
  if (q >= eol || (*q != '`' && *q != '~')) return 0;
  size_t n = 0;
  while (q + n < eol && q[n] == *q) n++;
  if (n < 3) return 0;
  *ch = *q;
  *indent = ind;
  return n;
}

static int closes(const char *p, const char *eol, char ch, size_t len) {
  char c2;
  size_t ind, n = fence_at(p, eol, &c2, &ind);
  if (n < len || c2 != ch) return 0;
  for (const char *q = p + ind + n; q < eol; q++)
    if (!isspace((unsigned char)*q)) return 0;
  return 1;
}

int zr_codetest_extract(const char *text, char **code, char tag_out[24]) {
  *code = NULL;
  if (tag_out) tag_out[0] = '\0';
  if (!text) return zr_seterr(-ENOENT, "no text");
  block best = {0};
  int have = 0;
  for (const char *p = text; *p;) {
    const char *eol = line_end(p);
    char ch;
    size_t indent, len = fence_at(p, eol, &ch, &indent);
    if (len == 0 || (ch == '`' && memchr(p + indent + len, '`', (size_t)(eol - (p + indent + len))))) {
      p = *eol ? eol + 1 : eol;
      continue;
    }
    block b = {0};
    b.indent = indent;
    /* the tag: first word of the info string, lower-cased, without a leading '{' or '.' */
    const char *q = p + indent + len;
    while (q < eol && isspace((unsigned char)*q)) q++;
    while (q < eol && (*q == '{' || *q == '.')) q++;
    size_t t = 0;
    while (q < eol && !isspace((unsigned char)*q) && *q != '}' && t + 1 < sizeof b.tag) b.tag[t++] = (char)tolower((unsigned char)*q++);
    b.tag[t] = '\0';
    b.rank = t == 0 ? 1 : zr_lang_find(b.tag) ? 2 : 0;
    b.body = *eol ? eol + 1 : eol;
    const char *r = b.body;
    int closed = 0;
    while (*r) {
      const char *reol = line_end(r);
      if (closes(r, reol, ch, len)) {
        b.end = r;
        closed = 1;
        p = *reol ? reol + 1 : reol;
        break;
      }
      r = *reol ? reol + 1 : reol;
    }
    if (!closed) break; /* an unterminated block (a cut-off answer) is not code */
    if (!have || b.rank >= best.rank) {
      best = b;
      have = 1;
    }
  }
  if (!have) return zr_seterr(-ENOENT, "no complete fenced code block");
  /* copy the body, removing up to `indent` leading spaces from each line */
  size_t cap = (size_t)(best.end - best.body) + 1;
  char *out = malloc(cap);
  if (!out) return zr_seterr(-ENOMEM, "out of memory");
  size_t n = 0;
  for (const char *p = best.body; p < best.end;) {
    const char *eol = line_end(p);
    if (eol > best.end) eol = best.end;
    size_t skip = 0;
    while (skip < best.indent && p + skip < eol && (p[skip] == ' ' || p[skip] == '\t')) skip++;
    size_t l = (size_t)(eol - p) - skip;
    memcpy(out + n, p + skip, l);
    n += l;
    if (eol < best.end) out[n++] = '\n';
    p = eol < best.end ? eol + 1 : best.end;
  }
  out[n] = '\0';
  *code = out;
  if (tag_out) memcpy(tag_out, best.tag, sizeof best.tag);
  return 0;
}
