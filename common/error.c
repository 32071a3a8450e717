#include "common/error.h"

#include <stdarg.h>

static _Thread_local char errbuf[1024];

int zr_seterr(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, sizeof errbuf, fmt, ap);
  va_end(ap);
  return code;
}

const char *zr_errmsg(void) { return errbuf; }

void zr_clearerr(void) { errbuf[0] = '\0'; }
