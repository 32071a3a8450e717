/* ini.c: see ini.h.
 *
 * Our own reader rather than libinih's: the Debian build of inih (r55) passes no line numbers
 * to the handler, cuts lines at 200 bytes silently, treats " ;" inside a quoted value as a
 * comment, joins indented lines as multi-line values and is tuned through process-wide
 * globals; none of that fits "errors name the file, line and key". */
#include "common/ini.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

char *zr_ini_trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  char *e = s + strlen(s);
  while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
  *e = '\0';
  return s;
}

static bool is_comment_start(const char *s) { return *s == '#' || *s == ';'; }

/* Turns the text after '=' into the value, in place: a double-quoted value loses its quotes and
 * escapes; an unquoted one ends at a '#' or ';' that starts it or follows whitespace. */
static int unquote(char *s, char **out) {
  while (*s == ' ' || *s == '\t') s++;
  if (*s != '"') {
    for (char *p = s; *p; p++)
      if (is_comment_start(p) && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
        *p = '\0';
        break;
      }
    *out = zr_ini_trim(s);
    return 0;
  }
  char *w = s, *r = s + 1;
  while (*r != '"') {
    if (r[0] == '\0' || (r[0] == '\\' && r[1] == '\0')) return zr_seterr(-EINVAL, "unterminated quoted value");
    if (*r == '\\') {
      if (r[1] != '"' && r[1] != '\\')
        return zr_seterr(-EINVAL, "unknown escape in quoted value (only \\\" and \\\\)");
      r++;
    }
    *w++ = *r++;
  }
  *w = '\0';
  r = zr_ini_trim(r + 1);
  if (*r && !is_comment_start(r)) return zr_seterr(-EINVAL, "text after the closing quote");
  *out = s;
  return 0;
}

typedef struct {
  const char *name;
  int line;
  char *section; /* current section name, NULL before the first header */
  zr_ini_handler handler;
  void *user;
} reader;

static int read_line(reader *rd, char *s) {
  s = zr_ini_trim(s);
  if (!*s || is_comment_start(s)) return 0;
  if (*s == '[') {
    char *close = strchr(s, ']');
    if (!close) return zr_seterr(-EINVAL, "%s:%d: malformed section header (no closing ']')", rd->name, rd->line);
    char *rest = zr_ini_trim(close + 1);
    if (*rest && !is_comment_start(rest))
      return zr_seterr(-EINVAL, "%s:%d: malformed section header (text after ']')", rd->name, rd->line);
    *close = '\0';
    char *name = zr_ini_trim(s + 1);
    if (!*name) return zr_seterr(-EINVAL, "%s:%d: malformed section header (no name)", rd->name, rd->line);
    char *copy = strdup(name);
    if (!copy) return zr_seterr(-ENOMEM, "%s:%d: out of memory", rd->name, rd->line);
    free(rd->section);
    rd->section = copy;
    return rd->handler(rd->user, rd->line, rd->section, NULL, NULL);
  }
  char *eq = strchr(s, '=');
  if (!eq)
    return zr_seterr(-EINVAL, "%s:%d: malformed line (expected '[section]', 'key = value' or a comment)", rd->name,
                     rd->line);
  *eq = '\0';
  char *key = zr_ini_trim(s), *text = NULL;
  if (!*key) return zr_seterr(-EINVAL, "%s:%d: malformed line (no key before '=')", rd->name, rd->line);
  int rc = unquote(eq + 1, &text);
  if (rc < 0) {
    char why[256];
    snprintf(why, sizeof why, "%s", zr_errmsg());
    return zr_seterr(rc, "%s:%d: [%.60s] %.60s: %s", rd->name, rd->line, rd->section ? rd->section : "", key, why);
  }
  return rd->handler(rd->user, rd->line, rd->section, key, text);
}

int zr_ini_parse(const char *text, size_t len, const char *name, zr_ini_handler handler, void *user) {
  reader rd = {.name = name, .handler = handler, .user = user};
  char *buf = NULL;
  size_t cap = 0;
  int rc = 0;
  const char *p = text, *end = text + len;
  if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3; /* a UTF-8 byte-order mark */
  while (p < end && rc == 0) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    size_t n = (size_t)((eol ? eol : end) - p);
    rd.line++;
    if (n + 1 > cap) {
      char *nb = realloc(buf, n + 1);
      if (!nb) {
        rc = zr_seterr(-ENOMEM, "%s:%d: out of memory", name, rd.line);
        break;
      }
      buf = nb;
      cap = n + 1;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\r') buf[n - 1] = '\0';
    if (memchr(p, '\0', n)) rc = zr_seterr(-EINVAL, "%s:%d: NUL byte in line", name, rd.line);
    else rc = read_line(&rd, buf);
    p += n + 1;
  }
  free(buf);
  free(rd.section);
  return rc;
}
