/* util.h: small utilities every daemon needs: random ids, xxh3 checksums, bounded string
 * copies. Ids are 128-bit random values printed as 32 hex characters; they name workers,
 * leases and jobs and never repeat across restarts. */
#ifndef ZR_UTIL_H
#define ZR_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define ZR_ID_HEX_LEN 32

/* Fills out with 32 lowercase hex characters and a NUL, from getrandom(2). */
void zr_id_new(char out[ZR_ID_HEX_LEN + 1]);

/* A random 64-bit value (lease ids, nonces); never 0. */
uint64_t zr_id_u64(void);

/* xxh3-64 checksum of a buffer (weight chunks, whole versions). */
uint64_t zr_checksum64(const void *data, size_t len);

/* Streaming xxh3-64 over several buffers. */
typedef struct zr_checksum_state zr_checksum_state;
zr_checksum_state *zr_checksum_begin(void);
void zr_checksum_update(zr_checksum_state *st, const void *data, size_t len);
/* Returns the checksum and frees the state. */
uint64_t zr_checksum_end(zr_checksum_state *st);

/* Copies at most cap-1 bytes and always terminates; returns strlen(src) (truncated if >= cap). */
size_t zr_strlcpy(char *dst, const char *src, size_t cap);

/* The host name (or "unknown"), cached. */
const char *zr_hostname(void);

#endif
