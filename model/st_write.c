/* st_write.c: the safetensors writer (safetensors.h): one file, or a model directory with
 * optional sharding and model.safetensors.index.json, each file written atomically. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/json.h"
#include "model/fileio.h"
#include "model/safetensors.h"
#include "model/st_internal.h"

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Checks every tensor (name, dtype, shape, data) and that names are unique; fills sizes[i]. */
static int check_tensors(const char *path, const zr_st_write_tensor *t, size_t n, size_t *sizes) {
  for (size_t i = 0; i < n; i++) {
    const char *name = t[i].name;
    if (!name || !name[0]) return zr_seterr(-EINVAL, "%s: tensor #%zu has no name", path, i);
    if (strcmp(name, "__metadata__") == 0)
      return zr_seterr(-EINVAL, "%s: tensor name '__metadata__' is reserved", path);
    if ((unsigned)t[i].dtype >= ZR_DT_COUNT)
      return zr_seterr(-EINVAL, "%s: tensor '%s': invalid dtype %d", path, name, (int)t[i].dtype);
    if (t[i].ndim < 0 || t[i].ndim > ZR_ST_MAX_DIMS)
      return zr_seterr(-EINVAL, "%s: tensor '%s': %d dimensions (0 to %d supported)", path, name, t[i].ndim,
                       ZR_ST_MAX_DIMS);
    int rc = zr_st_nbytes(t[i].dtype, t[i].ndim, t[i].shape, &sizes[i]);
    if (rc == -EINVAL) return zr_seterr(rc, "%s: tensor '%s': negative dimension", path, name);
    if (rc < 0) return zr_seterr(rc, "%s: tensor '%s': shape overflows the element count", path, name);
    if (sizes[i] && !t[i].data) return zr_seterr(-EINVAL, "%s: tensor '%s': no data", path, name);
  }
  const char **names = malloc((n ? n : 1) * sizeof *names);
  if (!names) return zr_seterr(-ENOMEM, "%s: out of memory", path);
  for (size_t i = 0; i < n; i++) names[i] = t[i].name;
  qsort(names, n, sizeof *names, cmp_str);
  int rc = 0;
  for (size_t i = 1; i < n && rc == 0; i++)
    if (strcmp(names[i - 1], names[i]) == 0) rc = zr_seterr(-EINVAL, "%s: duplicate tensor name '%s'", path, names[i]);
  free(names);
  return rc;
}

static json_t *header_json(const char *path, const zr_st_write_tensor *t, size_t n, const size_t *sizes,
                           const char *const *meta) {
  json_t *root = json_object(), *m = json_object();
  if (!root || !m) goto oom;
  if (!meta) {
    json_object_set_new(m, "format", json_string("pt"));
  } else {
    for (size_t i = 0; meta[i]; i += 2) {
      json_t *v = meta[i + 1] ? json_string(meta[i + 1]) : NULL;
      if (!v || json_object_set_new(m, meta[i], v) != 0) {
        zr_seterr(-EINVAL, "%s: __metadata__ key '%s' needs a UTF-8 key and string value", path, meta[i]);
        goto fail;
      }
    }
  }
  json_object_set_new(root, "__metadata__", m);
  m = NULL;
  uint64_t off = 0;
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_object(), *shape = json_array(), *offs = json_array();
    if (!e || !shape || !offs) {
      json_decref(e);
      json_decref(shape);
      json_decref(offs);
      goto oom;
    }
    json_object_set_new(e, "dtype", json_string(zr_dtype_name(t[i].dtype)));
    for (int d = 0; d < t[i].ndim; d++) json_array_append_new(shape, json_integer((json_int_t)t[i].shape[d]));
    json_object_set_new(e, "shape", shape);
    json_array_append_new(offs, json_integer((json_int_t)off));
    json_array_append_new(offs, json_integer((json_int_t)(off + sizes[i])));
    json_object_set_new(e, "data_offsets", offs);
    off += sizes[i];
    if (json_object_set_new(root, t[i].name, e) != 0) {
      zr_seterr(-EINVAL, "%s: tensor name '%s' is not valid UTF-8", path, t[i].name);
      goto fail;
    }
  }
  return root;
oom:
  zr_seterr(-ENOMEM, "%s: out of memory building the header", path);
fail:
  json_decref(m);
  json_decref(root);
  return NULL;
}

/* Writes with sizes already checked by check_tensors. */
static int write_file(const char *path, const zr_st_write_tensor *t, size_t n, const size_t *sizes,
                      const char *const *meta) {
  json_t *root = header_json(path, t, n, sizes, meta);
  if (!root) return -EINVAL;
  char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(root);
  if (!text) return zr_seterr(-ENOMEM, "%s: out of memory serialising the header", path);
  size_t hlen = strlen(text), pad = (8 - hlen % 8) % 8;
  if (hlen + pad > ZR_ST_MAX_HEADER) {
    free(text);
    return zr_seterr(-E2BIG, "%s: header of %zu bytes exceeds the limit of %d", path, hlen, ZR_ST_MAX_HEADER);
  }
  zr_file_piece *pieces = malloc((n + 3) * sizeof *pieces);
  if (!pieces) {
    free(text);
    return zr_seterr(-ENOMEM, "%s: out of memory", path);
  }
  uint8_t lenbuf[8];
  uint64_t total = hlen + pad;
  for (int i = 0; i < 8; i++) lenbuf[i] = (uint8_t)(total >> (8 * i));
  static const char spaces[8] = "        ";
  pieces[0] = (zr_file_piece){lenbuf, 8};
  pieces[1] = (zr_file_piece){text, hlen};
  pieces[2] = (zr_file_piece){spaces, pad};
  for (size_t i = 0; i < n; i++) pieces[3 + i] = (zr_file_piece){t[i].data, sizes[i]};
  int rc = zr_file_write_atomic(path, pieces, n + 3);
  free(pieces);
  free(text);
  return rc;
}

int zr_st_write_file(const char *path, const zr_st_write_tensor *t, size_t n, const char *const *meta) {
  size_t *sizes = calloc(n ? n : 1, sizeof *sizes);
  if (!sizes) return zr_seterr(-ENOMEM, "%s: out of memory", path);
  int rc = check_tensors(path, t, n, sizes);
  if (rc == 0) rc = write_file(path, t, n, sizes, meta);
  free(sizes);
  return rc;
}

/* ---- model directories -------------------------------------------------------------------- */

#define SHARD_FMT "model-%05zu-of-%05zu.safetensors"

/* model-DDDDD-of-DDDDD.safetensors, as transformers names shards. */
static int is_shard_name(const char *s) {
  static const char pat[] = "model-#####-of-#####.safetensors";
  if (strlen(s) != sizeof pat - 1) return 0;
  for (size_t i = 0; pat[i]; i++)
    if (pat[i] == '#' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i]) return 0;
  return 1;
}

/* Removes shard files other than the keep[0..nkeep) names (all of them when nkeep is 0). */
static int remove_stale_shards(const char *dir, char (*keep)[40], size_t nkeep) {
  DIR *d = opendir(dir);
  if (!d) {
    int e = errno;
    return zr_seterr(-e, "%s: cannot list: %s", dir, strerror(e));
  }
  int rc = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!is_shard_name(de->d_name)) continue;
    int kept = 0;
    for (size_t i = 0; i < nkeep && !kept; i++) kept = strcmp(keep[i], de->d_name) == 0;
    if (kept) continue;
    char path[PATH_MAX];
    if ((rc = zr_st_path_join(path, sizeof path, dir, de->d_name)) < 0) break;
    if (unlink(path) != 0 && errno != ENOENT) {
      int e = errno;
      rc = zr_seterr(-e, "%s: cannot remove stale shard: %s", path, strerror(e));
      break;
    }
  }
  closedir(d);
  return rc;
}

static int remove_file(const char *dir, const char *name) {
  char path[PATH_MAX];
  int rc = zr_st_path_join(path, sizeof path, dir, name);
  if (rc < 0) return rc;
  if (unlink(path) != 0 && errno != ENOENT) {
    int e = errno;
    return zr_seterr(-e, "%s: cannot remove: %s", path, strerror(e));
  }
  return 0;
}

static int write_index(const char *dir, const zr_st_write_tensor *t, size_t n, const size_t *shard_of,
                       char (*names)[40], uint64_t total) {
  char path[PATH_MAX];
  int rc = zr_st_path_join(path, sizeof path, dir, "model.safetensors.index.json");
  if (rc < 0) return rc;
  json_t *root = json_object(), *meta = json_object(), *wm = json_object();
  if (!root || !meta || !wm) {
    json_decref(root);
    json_decref(meta);
    json_decref(wm);
    return zr_seterr(-ENOMEM, "%s: out of memory", path);
  }
  json_object_set_new(meta, "total_size", json_integer((json_int_t)total));
  json_object_set_new(root, "metadata", meta);
  for (size_t i = 0; i < n; i++) json_object_set_new(wm, t[i].name, json_string(names[shard_of[i]]));
  json_object_set_new(root, "weight_map", wm);
  char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
  json_decref(root);
  if (!text) return zr_seterr(-ENOMEM, "%s: out of memory", path);
  zr_file_piece p[2] = {{text, strlen(text)}, {"\n", 1}};
  rc = zr_file_write_atomic(path, p, 2);
  free(text);
  return rc;
}

/* Shards in the given order: a new shard starts when adding the next tensor would pass
 * shard_bytes; a tensor larger than shard_bytes gets a shard to itself. */
static int write_sharded(const char *dir, const zr_st_write_tensor *t, size_t n, const size_t *sizes,
                         size_t shard_bytes, uint64_t total) {
  size_t *shard_of = calloc(n ? n : 1, sizeof *shard_of);
  if (!shard_of) return zr_seterr(-ENOMEM, "%s: out of memory", dir);
  size_t nshards = 0, cur = 0;
  for (size_t i = 0; i < n; i++) {
    if (nshards == 0 || (cur > 0 && cur + sizes[i] > shard_bytes)) {
      nshards++;
      cur = 0;
    }
    shard_of[i] = nshards - 1;
    cur += sizes[i];
  }
  int rc = 0;
  char(*names)[40] = calloc(nshards, sizeof *names);
  if (!names) {
    rc = zr_seterr(-ENOMEM, "%s: out of memory", dir);
    goto out;
  }
  if (nshards > 99999) {
    rc = zr_seterr(-E2BIG, "%s: %zu shards (at most 99999)", dir, nshards);
    goto out;
  }
  for (size_t k = 0; k < nshards; k++) snprintf(names[k], sizeof names[k], SHARD_FMT, k + 1, nshards);
  for (size_t k = 0, first = 0; k < nshards; k++) {
    size_t last = first;
    while (last < n && shard_of[last] == k) last++;
    char path[PATH_MAX];
    if ((rc = zr_st_path_join(path, sizeof path, dir, names[k])) < 0) goto out;
    if ((rc = write_file(path, t + first, last - first, sizes + first, NULL)) < 0) goto out;
    first = last;
  }
  if ((rc = write_index(dir, t, n, shard_of, names, total)) < 0) goto out;
  if ((rc = remove_file(dir, "model.safetensors")) < 0) goto out;
  rc = remove_stale_shards(dir, names, nshards);
out:
  free(names);
  free(shard_of);
  return rc;
}

int zr_st_write_dir(const char *dir, const zr_st_write_tensor *t, size_t n, size_t shard_bytes) {
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    int e = errno;
    return zr_seterr(-e, "%s: cannot create directory: %s", dir, strerror(e));
  }
  size_t *sizes = calloc(n ? n : 1, sizeof *sizes);
  if (!sizes) return zr_seterr(-ENOMEM, "%s: out of memory", dir);
  int rc = check_tensors(dir, t, n, sizes);
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) total += sizes[i];
  if (rc == 0 && shard_bytes > 0 && total > shard_bytes) {
    rc = write_sharded(dir, t, n, sizes, shard_bytes, total);
  } else if (rc == 0) {
    char path[PATH_MAX];
    if ((rc = zr_st_path_join(path, sizeof path, dir, "model.safetensors")) == 0 &&
        (rc = write_file(path, t, n, sizes, NULL)) == 0 &&
        (rc = remove_file(dir, "model.safetensors.index.json")) == 0)
      rc = remove_stale_shards(dir, NULL, 0);
  }
  free(sizes);
  return rc;
}
