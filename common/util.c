#include "common/util.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/error.h"

static void fill_random(void *buf, size_t len) {
  unsigned char *p = buf;
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);
    ZR_ASSERT(n > 0); /* getrandom on Linux >= 3.17 does not fail for small sizes */
    p += n;
    len -= (size_t)n;
  }
}

void zr_id_new(char out[ZR_ID_HEX_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char raw[ZR_ID_HEX_LEN / 2];
  fill_random(raw, sizeof raw);
  for (size_t i = 0; i < sizeof raw; i++) {
    out[2 * i] = hex[raw[i] >> 4];
    out[2 * i + 1] = hex[raw[i] & 15];
  }
  out[ZR_ID_HEX_LEN] = '\0';
}

uint64_t zr_id_u64(void) {
  uint64_t v = 0;
  while (v == 0) fill_random(&v, sizeof v);
  return v;
}

uint64_t zr_checksum64(const void *data, size_t len) { return XXH3_64bits(data, len); }

struct zr_checksum_state {
  XXH3_state_t *xx;
};

zr_checksum_state *zr_checksum_begin(void) {
  zr_checksum_state *st = malloc(sizeof *st);
  ZR_ASSERT(st);
  st->xx = XXH3_createState();
  ZR_ASSERT(st->xx);
  XXH3_64bits_reset(st->xx);
  return st;
}

void zr_checksum_update(zr_checksum_state *st, const void *data, size_t len) {
  XXH3_64bits_update(st->xx, data, len);
}

uint64_t zr_checksum_end(zr_checksum_state *st) {
  uint64_t h = XXH3_64bits_digest(st->xx);
  XXH3_freeState(st->xx);
  free(st);
  return h;
}

size_t zr_strlcpy(char *dst, const char *src, size_t cap) {
  size_t n = strlen(src);
  if (cap > 0) {
    size_t m = n < cap - 1 ? n : cap - 1;
    memcpy(dst, src, m);
    dst[m] = '\0';
  }
  return n;
}

static char host[256];
static pthread_once_t host_once = PTHREAD_ONCE_INIT;
static void host_init(void) {
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') zr_strlcpy(host, "unknown", sizeof host);
}
const char *zr_hostname(void) {
  pthread_once(&host_once, host_init);
  return host;
}
