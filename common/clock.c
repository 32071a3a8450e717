#include "common/clock.h"

#include <stdio.h>
#include <time.h>

static uint64_t ns_of(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t zr_clock_mono_ns(void) { return ns_of(CLOCK_MONOTONIC); }
uint64_t zr_clock_mono_ms(void) { return ns_of(CLOCK_MONOTONIC) / 1000000ull; }
uint64_t zr_clock_wall_ms(void) { return ns_of(CLOCK_REALTIME) / 1000000ull; }

void zr_clock_format_wall(uint64_t wall_ms, char out[32]) {
  time_t secs = (time_t)(wall_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  /* the modulos bound every field's width for the compiler; real dates are unaffected */
  snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)(tm.tm_year + 1900) % 10000u,
           (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
           (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u, (unsigned)(wall_ms % 1000));
}
