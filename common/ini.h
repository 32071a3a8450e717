/* ini.h: the syntax of zerorl's INI files, and nothing else.
 *
 * `[section]` headers; `key = value` lines; comments are lines starting with `#` or `;`, and a
 * `#` or `;` preceded by whitespace ends an unquoted value. A value may be double-quoted (to
 * keep `#`, `;` or surrounding spaces; escapes \" and \\); otherwise it is the text with
 * surrounding whitespace trimmed. A UTF-8 byte-order mark and CRLF line ends are accepted; NUL
 * bytes are refused. What sections and keys mean is the caller's business (common/config.c).
 *
 * zr_ini_parse calls the handler once per section header (key == NULL) and once per key line,
 * with the 1-based line number, and stops at the first error, its own or the handler's. Its
 * own messages start "NAME:LINE: "; the strings passed to the handler live until it returns. */
#ifndef ZR_INI_H
#define ZR_INI_H

#include <stddef.h>

/* section is NULL for a key line before any header; key is NULL for a header line.
 * Returns 0 to go on, or a negative code (with zr_seterr) to stop. */
typedef int (*zr_ini_handler)(void *user, int line, const char *section, const char *key, const char *value);

/* Trims spaces and tabs from both ends of s, in place; returns the new start. */
char *zr_ini_trim(char *s);

int zr_ini_parse(const char *text, size_t len, const char *name, zr_ini_handler handler, void *user);

#endif
