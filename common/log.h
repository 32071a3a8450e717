/* log.h: structured, journald-friendly logging to stderr.
 *
 * One line per record: `TIME LEVEL component: message key=value ...`. Messages carry their
 * facts as key=value fields in the text (zr_log(ZR_LOG_WARN, "hub", "lease expired lease=%llu
 * tasks=%d", ...)). When stderr is connected to journald (JOURNAL_STREAM is set), each line
 * starts with a syslog priority prefix `<N>` and the timestamp is left to the journal.
 *
 * zr_log_limited() logs at most once per period for a given key (for example "bad-msg:" +
 * sender id) and reports how many repeats were suppressed when it next logs. The module owns
 * its state; it is safe to call from any thread. */
#ifndef ZR_LOG_H
#define ZR_LOG_H

#include <stdint.h>
#include <stdio.h>

typedef enum { ZR_LOG_DEBUG = 0, ZR_LOG_INFO, ZR_LOG_WARN, ZR_LOG_ERROR, ZR_LOG_OFF } zr_log_level;

/* Records below level are discarded. Default ZR_LOG_INFO, or $ZERORL_LOG_LEVEL. */
void zr_log_set_level(zr_log_level level);
zr_log_level zr_log_get_level(void);

/* Parses "debug", "info", "warn", "error", "off"; returns -1 for anything else. */
int zr_log_level_parse(const char *name);
const char *zr_log_level_name(zr_log_level level);

/* Redirects output (default stderr); for tests. NULL restores stderr. */
void zr_log_set_stream(FILE *stream);

void zr_log(zr_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like zr_log, but at most once per period_ms for each distinct key. Returns 1 if the record
 * was written, 0 if it was suppressed. */
int zr_log_limited(const char *key, uint64_t period_ms, zr_log_level level, const char *component,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define ZR_DEBUG(comp, ...) zr_log(ZR_LOG_DEBUG, comp, __VA_ARGS__)
#define ZR_INFO(comp, ...) zr_log(ZR_LOG_INFO, comp, __VA_ARGS__)
#define ZR_WARN(comp, ...) zr_log(ZR_LOG_WARN, comp, __VA_ARGS__)
#define ZR_ERROR(comp, ...) zr_log(ZR_LOG_ERROR, comp, __VA_ARGS__)

#endif
