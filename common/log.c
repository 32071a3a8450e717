#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include "common/clock.h"

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};
/* syslog priorities for journald: debug=7, info=6, warning=4, err=3 */
static const int level_syslog[] = {7, 6, 4, 3, 3};

static struct {
  pthread_once_t once;
  pthread_mutex_t mu;
  zr_log_level level;
  FILE *stream;
  int journal;
} g = {PTHREAD_ONCE_INIT, PTHREAD_MUTEX_INITIALIZER, ZR_LOG_INFO, NULL, 0};

/* Rate-limit table: a small direct-mapped cache keyed by the hash of the caller's key. A
 * collision evicts the older key, which can only make logging more frequent, never hide a
 * first occurrence. */
#define LIMIT_SLOTS 512
struct limit_slot {
  uint64_t hash;
  uint64_t last_ms;
  uint64_t suppressed;
};
static struct limit_slot limits[LIMIT_SLOTS];

static void init_once(void) {
  const char *env = getenv("ZERORL_LOG_LEVEL");
  int lv = env ? zr_log_level_parse(env) : -1;
  if (lv >= 0) g.level = (zr_log_level)lv;
  g.journal = getenv("JOURNAL_STREAM") != NULL;
}

void zr_log_set_level(zr_log_level level) {
  pthread_once(&g.once, init_once);
  g.level = level;
}

zr_log_level zr_log_get_level(void) {
  pthread_once(&g.once, init_once);
  return g.level;
}

int zr_log_level_parse(const char *name) {
  for (int i = 0; i <= ZR_LOG_OFF; i++)
    if (strcasecmp(name, level_names[i]) == 0) return i;
  if (strcasecmp(name, "warning") == 0) return ZR_LOG_WARN;
  return -1;
}

const char *zr_log_level_name(zr_log_level level) {
  return level >= ZR_LOG_DEBUG && level <= ZR_LOG_OFF ? level_names[level] : "?";
}

void zr_log_set_stream(FILE *stream) {
  pthread_mutex_lock(&g.mu);
  g.stream = stream;
  pthread_mutex_unlock(&g.mu);
}

/* Writes one record; the caller holds g.mu. */
static void emit(zr_log_level level, const char *component, const char *suffix, const char *fmt,
                 va_list ap) {
  char line[4096];
  size_t n = 0;
  if (g.journal) {
    n = (size_t)snprintf(line, sizeof line, "<%d>%s %s: ", level_syslog[level], level_names[level],
                         component);
  } else {
    char ts[32];
    zr_clock_format_wall(zr_clock_wall_ms(), ts);
    n = (size_t)snprintf(line, sizeof line, "%s %-5s %s: ", ts, level_names[level], component);
  }
  if (n < sizeof line) {
    int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
    if (m > 0) n += (size_t)m;
  }
  if (n >= sizeof line - 1) n = sizeof line - 2; /* truncated: keep the line whole */
  if (suffix && n < sizeof line - 1) {
    int m = snprintf(line + n, sizeof line - n, "%s", suffix);
    if (m > 0) n += (size_t)m;
    if (n >= sizeof line - 1) n = sizeof line - 2;
  }
  /* one record is one line: newlines inside a message would split it in the journal */
  for (size_t i = 0; i < n; i++)
    if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
  line[n++] = '\n';
  FILE *out = g.stream ? g.stream : stderr;
  fwrite(line, 1, n, out);
  fflush(out);
}

void zr_log(zr_log_level level, const char *component, const char *fmt, ...) {
  pthread_once(&g.once, init_once);
  if (level < g.level || level >= ZR_LOG_OFF) return;
  va_list ap;
  va_start(ap, fmt);
  pthread_mutex_lock(&g.mu);
  emit(level, component, NULL, fmt, ap);
  pthread_mutex_unlock(&g.mu);
  va_end(ap);
}

int zr_log_limited(const char *key, uint64_t period_ms, zr_log_level level, const char *component,
                   const char *fmt, ...) {
  pthread_once(&g.once, init_once);
  if (level < g.level || level >= ZR_LOG_OFF) return 0;
  uint64_t h = XXH3_64bits(key, strlen(key)) | 1; /* 0 marks an empty slot */
  uint64_t now = zr_clock_mono_ms();
  int written = 0;
  pthread_mutex_lock(&g.mu);
  struct limit_slot *slot = &limits[h % LIMIT_SLOTS];
  if (slot->hash == h && now - slot->last_ms < period_ms) {
    slot->suppressed++;
  } else {
    char suffix[64] = "";
    if (slot->hash == h && slot->suppressed)
      snprintf(suffix, sizeof suffix, " repeated=%llu", (unsigned long long)slot->suppressed);
    slot->hash = h;
    slot->last_ms = now;
    slot->suppressed = 0;
    va_list ap;
    va_start(ap, fmt);
    emit(level, component, suffix[0] ? suffix : NULL, fmt, ap);
    va_end(ap);
    written = 1;
  }
  pthread_mutex_unlock(&g.mu);
  return written;
}
