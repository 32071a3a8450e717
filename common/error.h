/* error.h: how zerorl functions report failure.
 *
 * Functions that can fail return 0 on success or a negative errno-style code, and leave a
 * human-readable message for the caller in a thread-local buffer (zr_errmsg()). The message
 * names the facts a reader needs (which file and line, which key, which peer). Programmer
 * errors are assertions (ZR_ASSERT) that print file and line and abort. */
#ifndef ZR_ERROR_H
#define ZR_ERROR_H

#include <stdio.h>
#include <stdlib.h>

/* Records a message for the caller and returns code (negative), so that a failing path reads
 *   return zr_seterr(-EINVAL, "%s:%d: unknown key '%s'", file, line, key); */
int zr_seterr(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last message recorded on this thread ("" if none). Valid until the next zr_seterr. */
const char *zr_errmsg(void);

/* Clears the thread's message. */
void zr_clearerr(void);

#define ZR_ASSERT(cond)                                                                      \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      fprintf(stderr, "zerorl: assertion failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                               \
    }                                                                                        \
  } while (0)

#endif
