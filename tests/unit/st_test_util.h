/* st_test_util.h: helpers shared by the safetensors and HF config unit tests: where the
 * committed fixtures are, whole-file reads, and scratch directories that are removed again.
 * Everything here is static; each test program owns what it gets (free / st_rmtree). */
#ifndef ZR_ST_TEST_UTIL_H
#define ZR_ST_TEST_UTIL_H

#include <dirent.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* $ZERORL_SOURCE_DIR/tests/fixtures/<area>/<name> (or relative to the working directory). */
static inline const char *st_fixture(const char *area, const char *name) {
  static char buf[4][PATH_MAX];
  static int slot;
  const char *src = getenv("ZERORL_SOURCE_DIR");
  char *p = buf[slot++ % 4];
  snprintf(p, PATH_MAX, "%s/tests/fixtures/%s%s%s", src && *src ? src : ".", area, name ? "/" : "",
           name ? name : "");
  return p;
}

/* Whole file into a malloc'd buffer (NUL-terminated for text); NULL if unreadable. */
static inline unsigned char *st_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) {
    buf[n] = 0;
    *len = (size_t)n;
  }
  return buf;
}

static inline int st_write_bytes(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = fwrite(data, 1, len, f);
  return fclose(f) == 0 && w == len ? 0 : -1;
}

/* A fresh scratch directory under $TMPDIR (or /tmp); the caller removes it with st_rmtree. */
static inline char *st_mkdtemp(char *buf, size_t cap) {
  const char *tmp = getenv("TMPDIR");
  snprintf(buf, cap, "%s/zerorl-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  return mkdtemp(buf);
}

static inline int st_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static inline void st_rmtree(const char *dir) { nftw(dir, st_rm_one, 16, FTW_DEPTH | FTW_PHYS); }

/* Number of directory entries whose name contains needle. */
static inline int st_count_entries(const char *dir, const char *needle) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strstr(de->d_name, needle)) n++;
  closedir(d);
  return n;
}

/* A JSON number as double, accepting the strings "inf", "-inf" and "nan" the fixtures use. */
static inline double st_json_double(const json_t *v) {
  if (json_is_number(v)) return json_number_value(v);
  const char *s = json_string_value(v);
  if (s && strcmp(s, "inf") == 0) return INFINITY;
  if (s && strcmp(s, "-inf") == 0) return -INFINITY;
  return NAN;
}

#endif
