/* safetensors.c: the safetensors reader (safetensors.h): header validation, zr_st_parse over a
 * buffer and zr_st_open over an mmap of a file.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON (starting with '{', possibly
 * right-padded with spaces), then the data area. Every check the reference implementation makes
 * (huggingface/safetensors, tensor.rs) is made here before any tensor byte is looked at; in
 * addition duplicate names and unknown keys in a tensor entry are refused. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/json.h"
#include "model/safetensors.h"
#include "model/st_internal.h"

struct zr_st_file {
  char *name;            /* path or caller's name, for messages */
  void *map;             /* the mmap (zr_st_open) or NULL (zr_st_parse: the caller owns buf) */
  size_t map_len;
  size_t n;
  zr_st_tensor *tensors; /* in data-offset order */
  size_t *by_name;       /* indices into tensors, sorted by name */
  size_t n_meta;
  const char **meta;     /* key, value, key, value, ... */
  char *strings;         /* one allocation holding every name, key and value */
};

/* ---- helpers ------------------------------------------------------------------------------ */

static uint64_t le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static void shape_str(const zr_st_tensor *t, char *buf, size_t cap) {
  size_t o = 0;
  o += (size_t)snprintf(buf + o, cap - o, "[");
  for (int d = 0; d < t->ndim && o < cap; d++)
    o += (size_t)snprintf(buf + o, cap - o, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
  if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* Element count times element size, or -EOVERFLOW. */
int zr_st_nbytes(zr_dtype dt, int ndim, const int64_t *shape, size_t *out) {
  size_t n = zr_dtype_size(dt);
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0) return -EINVAL;
    uint64_t s = (uint64_t)shape[d];
    if (s != 0 && n > SIZE_MAX / s) return -EOVERFLOW;
    n *= (size_t)s;
  }
  *out = n;
  return 0;
}

static int cmp_offset(const void *a, const void *b) {
  const zr_st_tensor *x = a, *y = b;
  const uint8_t *px = x->data, *py = y->data;
  if (px != py) return px < py ? -1 : 1;
  if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
  return strcmp(x->name, y->name);
}

static int cmp_name(const void *a, const void *b, void *base) {
  const zr_st_tensor *t = base;
  return strcmp(t[*(const size_t *)a].name, t[*(const size_t *)b].name);
}

/* ---- header validation -------------------------------------------------------------------- */

/* One tensor entry: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}. Fills t
 * (data = data area + begin) after checking dtype, shape, and that [begin, end) lies inside the
 * data area and has exactly the size dtype x shape needs. */
static int parse_entry(const char *file, const char *name, json_t *v, const uint8_t *data, uint64_t data_len,
                       zr_st_tensor *t) {
  if (!json_is_object(v)) return zr_seterr(-EINVAL, "%s: tensor '%s': entry is not a JSON object", file, name);
  const char *key;
  json_t *val;
  json_t *jdt = NULL, *jshape = NULL, *joff = NULL;
  json_object_foreach(v, key, val) {
    if (strcmp(key, "dtype") == 0) jdt = val;
    else if (strcmp(key, "shape") == 0) jshape = val;
    else if (strcmp(key, "data_offsets") == 0) joff = val;
    else return zr_seterr(-EINVAL, "%s: tensor '%s': unexpected key '%s'", file, name, key);
  }
  if (!jdt || !jshape || !joff)
    return zr_seterr(-EINVAL, "%s: tensor '%s': missing '%s'", file, name,
                     !jdt ? "dtype" : !jshape ? "shape" : "data_offsets");
  if (!json_is_string(jdt)) return zr_seterr(-EINVAL, "%s: tensor '%s': dtype is not a string", file, name);
  int dt = zr_dtype_parse(json_string_value(jdt));
  if (dt < 0)
    return zr_seterr(-EINVAL, "%s: tensor '%s': unsupported dtype '%s'", file, name, json_string_value(jdt));
  t->dtype = (zr_dtype)dt;

  if (!json_is_array(jshape)) return zr_seterr(-EINVAL, "%s: tensor '%s': shape is not an array", file, name);
  size_t nd = json_array_size(jshape);
  if (nd > ZR_ST_MAX_DIMS)
    return zr_seterr(-EINVAL, "%s: tensor '%s': %zu dimensions (at most %d supported)", file, name, nd,
                     ZR_ST_MAX_DIMS);
  t->ndim = (int)nd;
  for (size_t d = 0; d < nd; d++) {
    json_t *s = json_array_get(jshape, d);
    if (!json_is_integer(s) || json_integer_value(s) < 0)
      return zr_seterr(-EINVAL, "%s: tensor '%s': shape[%zu] is not a non-negative integer", file, name, d);
    t->shape[d] = (int64_t)json_integer_value(s);
  }
  size_t need;
  if (zr_st_nbytes(t->dtype, t->ndim, t->shape, &need) < 0) {
    char sh[256];
    shape_str(t, sh, sizeof sh);
    return zr_seterr(-EINVAL, "%s: tensor '%s': shape %s overflows the element count", file, name, sh);
  }

  if (!json_is_array(joff) || json_array_size(joff) != 2 || !json_is_integer(json_array_get(joff, 0)) ||
      !json_is_integer(json_array_get(joff, 1)) || json_integer_value(json_array_get(joff, 0)) < 0 ||
      json_integer_value(json_array_get(joff, 1)) < 0)
    return zr_seterr(-EINVAL, "%s: tensor '%s': data_offsets is not [begin, end] of non-negative integers", file,
                     name);
  uint64_t b = (uint64_t)json_integer_value(json_array_get(joff, 0));
  uint64_t e = (uint64_t)json_integer_value(json_array_get(joff, 1));
  if (e < b)
    return zr_seterr(-EINVAL, "%s: tensor '%s': data_offsets [%llu, %llu] are out of order", file, name,
                     (unsigned long long)b, (unsigned long long)e);
  if (e > data_len)
    return zr_seterr(-EINVAL, "%s: tensor '%s': data_offsets [%llu, %llu] run past the end of the data area (%llu bytes)",
                     file, name, (unsigned long long)b, (unsigned long long)e, (unsigned long long)data_len);
  if (e - b != need) {
    char sh[256];
    shape_str(t, sh, sizeof sh);
    return zr_seterr(-EINVAL, "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but %s %s needs %zu", file,
                     name, (unsigned long long)b, (unsigned long long)e, (unsigned long long)(e - b),
                     zr_dtype_name(t->dtype), sh, need);
  }
  t->data = data + b;
  t->nbytes = need;
  return 0;
}

static int parse_metadata(const char *file, json_t *m, size_t *n_meta, size_t *strbytes) {
  if (json_is_null(m)) return 0;
  if (!json_is_object(m)) return zr_seterr(-EINVAL, "%s: __metadata__ is not a JSON object", file);
  const char *key;
  json_t *val;
  json_object_foreach(m, key, val) {
    if (!json_is_string(val))
      return zr_seterr(-EINVAL, "%s: __metadata__ value of '%s' is not a string", file, key);
    *n_meta += 1;
    *strbytes += strlen(key) + json_string_length(val) + 2;
  }
  return 0;
}

static char *stash(char **cursor, const char *s) {
  char *p = *cursor;
  size_t n = strlen(s) + 1;
  memcpy(p, s, n);
  *cursor += n;
  return p;
}

int zr_st_parse(zr_st_file **out, const uint8_t *buf, size_t len, const char *name) {
  *out = NULL;
  if (!name) name = "(buffer)";
  if (len < 8)
    return zr_seterr(-EINVAL, "%s: %zu bytes is too short for the 8-byte header length", name, len);
  uint64_t hlen = le64(buf);
  if (hlen > ZR_ST_MAX_HEADER)
    return zr_seterr(-EINVAL, "%s: header length %llu exceeds the limit of %d bytes", name,
                     (unsigned long long)hlen, ZR_ST_MAX_HEADER);
  if (hlen > len - 8)
    return zr_seterr(-EINVAL, "%s: header length %llu runs past the end of the file (%zu bytes)", name,
                     (unsigned long long)hlen, len);
  if (hlen == 0 || buf[8] != '{') return zr_seterr(-EINVAL, "%s: header does not start with '{'", name);
  const uint8_t *data = buf + 8 + hlen;
  uint64_t data_len = len - 8 - hlen;

  json_error_t jerr;
  json_t *root = json_loadb((const char *)buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) return zr_seterr(-EINVAL, "%s: header is not valid JSON (column %d): %s", name, jerr.column, jerr.text);
  int rc = 0;
  zr_st_file *f = NULL;
  if (!json_is_object(root)) {
    rc = zr_seterr(-EINVAL, "%s: header is not a JSON object", name);
    goto fail;
  }

  /* Count tensors, metadata and string bytes, then fill one allocation. */
  size_t n = 0, n_meta = 0, strbytes = strlen(name) + 1;
  const char *key;
  json_t *val;
  json_object_foreach(root, key, val) {
    if (strcmp(key, "__metadata__") == 0) {
      if ((rc = parse_metadata(name, val, &n_meta, &strbytes)) < 0) goto fail;
    } else {
      n++;
      strbytes += strlen(key) + 1;
    }
  }
  f = calloc(1, sizeof *f);
  if (!f || !(f->strings = malloc(strbytes)) || (n && !(f->tensors = calloc(n, sizeof *f->tensors))) ||
      (n && !(f->by_name = malloc(n * sizeof *f->by_name))) ||
      (n_meta && !(f->meta = malloc(2 * n_meta * sizeof *f->meta)))) {
    rc = zr_seterr(-ENOMEM, "%s: out of memory for %zu tensors", name, n);
    goto fail;
  }
  char *cur = f->strings;
  f->name = stash(&cur, name);
  json_object_foreach(root, key, val) {
    if (strcmp(key, "__metadata__") == 0) {
      if (json_is_object(val)) {
        const char *mk;
        json_t *mv;
        json_object_foreach(val, mk, mv) {
          f->meta[2 * f->n_meta] = stash(&cur, mk);
          f->meta[2 * f->n_meta + 1] = stash(&cur, json_string_value(mv));
          f->n_meta++;
        }
      }
      continue;
    }
    zr_st_tensor *t = &f->tensors[f->n];
    if ((rc = parse_entry(name, key, val, data, data_len, t)) < 0) goto fail;
    t->name = stash(&cur, key);
    f->n++;
  }

  /* The tensors must tile the data area: sorted by offset, each starts where the last ended. */
  if (f->n) qsort(f->tensors, f->n, sizeof *f->tensors, cmp_offset);
  const uint8_t *end = data;
  for (size_t i = 0; i < f->n; i++) {
    const zr_st_tensor *t = &f->tensors[i];
    const uint8_t *b = t->data;
    if (b < end) {
      rc = zr_seterr(-EINVAL, "%s: tensor '%s': data [%zu, %zu) overlaps tensor '%s'", name, t->name,
                     (size_t)(b - data), (size_t)(b - data) + t->nbytes, f->tensors[i - 1].name);
      goto fail;
    }
    if (b > end) {
      rc = zr_seterr(-EINVAL, "%s: tensor '%s': %zu-byte hole before its data at offset %zu", name, t->name,
                     (size_t)(b - end), (size_t)(b - data));
      goto fail;
    }
    end = b + t->nbytes;
  }
  if ((uint64_t)(end - data) != data_len) {
    rc = zr_seterr(-EINVAL, "%s: %llu bytes after the last tensor are not covered by any tensor", name,
                   (unsigned long long)(data_len - (uint64_t)(end - data)));
    goto fail;
  }
  for (size_t i = 0; i < f->n; i++) f->by_name[i] = i;
  if (f->n) qsort_r(f->by_name, f->n, sizeof *f->by_name, cmp_name, f->tensors);
  json_decref(root);
  *out = f;
  return 0;

fail:
  json_decref(root);
  if (f) {
    free(f->tensors);
    free(f->by_name);
    free(f->meta);
    free(f->strings);
    free(f);
  }
  return rc;
}

/* ---- files -------------------------------------------------------------------------------- */

int zr_st_open(zr_st_file **out, const char *path) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return zr_seterr(-e, "%s: cannot open: %s", path, strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return zr_seterr(-e, "%s: cannot stat: %s", path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return zr_seterr(-EINVAL, "%s: not a regular file", path);
  }
  size_t len = (size_t)st.st_size;
  if (len < 8) {
    close(fd);
    return zr_seterr(-EINVAL, "%s: %zu bytes is too short for the 8-byte header length", path, len);
  }
  void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd);
  if (map == MAP_FAILED) return zr_seterr(-e, "%s: cannot mmap %zu bytes: %s", path, len, strerror(e));
  int rc = zr_st_parse(out, map, len, path);
  if (rc < 0) {
    munmap(map, len);
    return rc;
  }
  (*out)->map = map;
  (*out)->map_len = len;
  return 0;
}

void zr_st_release(const zr_st_file *f, const void *p, size_t n) {
  uintptr_t base = (uintptr_t)f->map, a = (uintptr_t)p, page = (uintptr_t)sysconf(_SC_PAGESIZE);
  if (!f->map || a < base || n > f->map_len || a - base > f->map_len - n) return;
  uintptr_t s = (a + page - 1) / page * page, e = (a + n) / page * page;
  if (s < e) madvise((void *)s, e - s, MADV_DONTNEED); /* read-only private pages: nothing is lost */
}

void zr_st_close(zr_st_file **pf) {
  zr_st_file *f = *pf;
  if (!f) return;
  if (f->map) munmap(f->map, f->map_len);
  free(f->tensors);
  free(f->by_name);
  free(f->meta);
  free(f->strings);
  free(f);
  *pf = NULL;
}

size_t zr_st_count(const zr_st_file *f) { return f->n; }

const zr_st_tensor *zr_st_get(const zr_st_file *f, size_t i) { return i < f->n ? &f->tensors[i] : NULL; }

const zr_st_tensor *zr_st_find(const zr_st_file *f, const char *name) {
  size_t lo = 0, hi = f->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const zr_st_tensor *t = &f->tensors[f->by_name[mid]];
    int c = strcmp(name, t->name);
    if (c == 0) return t;
    if (c < 0) hi = mid;
    else lo = mid + 1;
  }
  return NULL;
}

const char *zr_st_metadata(const zr_st_file *f, const char *key) {
  for (size_t i = 0; i < f->n_meta; i++)
    if (strcmp(f->meta[2 * i], key) == 0) return f->meta[2 * i + 1];
  return NULL;
}

const char *zr_st_file_name(const zr_st_file *f) { return f->name; }
