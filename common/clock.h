/* clock.h: time sources. Monotonic time for deadlines and durations (never goes backwards),
 * wall-clock time for records people read (timestamps in Redis, logs, metrics). */
#ifndef ZR_CLOCK_H
#define ZR_CLOCK_H

#include <stdint.h>

uint64_t zr_clock_mono_ns(void);
uint64_t zr_clock_mono_ms(void);
/* Milliseconds since the Unix epoch. */
uint64_t zr_clock_wall_ms(void);
/* Writes an RFC 3339 UTC timestamp with milliseconds ("2026-11-28T16:40:01.123Z"). */
void zr_clock_format_wall(uint64_t wall_ms, char out[32]);

#endif
