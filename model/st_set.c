/* st_set.c: a model directory's weights (safetensors.h zr_st_set): model.safetensors, or the
 * shards listed in model.safetensors.index.json with the weight map cross-checked against the
 * shards' own headers. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/json.h"
#include "model/safetensors.h"
#include "model/st_internal.h"

struct zr_st_set {
  size_t n_files;
  zr_st_file **files;           /* shards in name order (one file when unsharded) */
  size_t n;
  const zr_st_tensor **tensors; /* shard order, then data-offset order within a shard */
  const zr_st_tensor **by_name; /* sorted by name */
};

int zr_st_path_join(char *out, size_t cap, const char *dir, const char *name) {
  if ((size_t)snprintf(out, cap, "%s/%s", dir, name) >= cap)
    return zr_seterr(-ENAMETOOLONG, "%s/%s: path too long", dir, name);
  return 0;
}

static int cmp_tensor_name(const void *a, const void *b) {
  return strcmp((*(const zr_st_tensor *const *)a)->name, (*(const zr_st_tensor *const *)b)->name);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Builds the flat tensor list and the name index over s->files. */
static int index_tensors(zr_st_set *s, const char *what) {
  size_t n = 0;
  for (size_t i = 0; i < s->n_files; i++) n += zr_st_count(s->files[i]);
  s->tensors = calloc(n ? n : 1, sizeof *s->tensors);
  s->by_name = calloc(n ? n : 1, sizeof *s->by_name);
  if (!s->tensors || !s->by_name) return zr_seterr(-ENOMEM, "%s: out of memory", what);
  for (size_t i = 0; i < s->n_files; i++)
    for (size_t j = 0; j < zr_st_count(s->files[i]); j++) s->tensors[s->n++] = zr_st_get(s->files[i], j);
  memcpy(s->by_name, s->tensors, n * sizeof *s->tensors);
  qsort(s->by_name, n, sizeof *s->by_name, cmp_tensor_name);
  for (size_t i = 1; i < n; i++)
    if (strcmp(s->by_name[i - 1]->name, s->by_name[i]->name) == 0)
      return zr_seterr(-EINVAL, "%s: tensor '%s' is in more than one shard", what, s->by_name[i]->name);
  return 0;
}

static size_t shard_index(const char *const *names, size_t n, const char *name) {
  const char **hit = bsearch(&name, names, n, sizeof *names, cmp_str);
  return hit ? (size_t)(hit - (const char **)names) : n;
}

/* Opens every shard named in the index and checks the weight map both ways: each listed
 * tensor is in the shard it is listed for, and each shard tensor is listed for that shard. */
static int open_index(zr_st_set *s, const char *dir, const char *index_path) {
  json_t *root = zr_json_load_file(index_path);
  if (!root) return -EINVAL;
  int rc = 0;
  const char **names = NULL;
  json_t *wm = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
  if (!json_is_object(root)) {
    rc = zr_seterr(-EINVAL, "%s: not a JSON object", index_path);
    goto out;
  }
  if (!json_is_object(wm)) {
    rc = zr_seterr(-EINVAL, "%s: %s", index_path, wm ? "weight_map is not a JSON object" : "missing key 'weight_map'");
    goto out;
  }
  size_t nw = json_object_size(wm);
  names = calloc(nw ? nw : 1, sizeof *names);
  if (!names) {
    rc = zr_seterr(-ENOMEM, "%s: out of memory", index_path);
    goto out;
  }
  size_t nn = 0;
  const char *tname;
  json_t *v;
  json_object_foreach(wm, tname, v) {
    if (!json_is_string(v)) {
      rc = zr_seterr(-EINVAL, "%s: weight_map entry of tensor '%s' is not a file name", index_path, tname);
      goto out;
    }
    const char *shard = json_string_value(v);
    if (shard[0] == '\0' || strchr(shard, '/') || strcmp(shard, ".") == 0 || strcmp(shard, "..") == 0) {
      rc = zr_seterr(-EINVAL, "%s: tensor '%s': shard name '%s' is not a file name in the directory", index_path,
                     tname, shard);
      goto out;
    }
    names[nn++] = shard;
  }
  qsort(names, nn, sizeof *names, cmp_str);
  size_t nu = 0;
  for (size_t i = 0; i < nn; i++)
    if (nu == 0 || strcmp(names[nu - 1], names[i]) != 0) names[nu++] = names[i];
  s->files = calloc(nu ? nu : 1, sizeof *s->files);
  if (!s->files) {
    rc = zr_seterr(-ENOMEM, "%s: out of memory", index_path);
    goto out;
  }
  for (size_t i = 0; i < nu; i++) {
    char path[PATH_MAX];
    if ((rc = zr_st_path_join(path, sizeof path, dir, names[i])) < 0) goto out;
    if ((rc = zr_st_open(&s->files[i], path)) < 0) goto out;
    s->n_files++;
  }
  json_object_foreach(wm, tname, v) {
    size_t k = shard_index(names, nu, json_string_value(v));
    if (!zr_st_find(s->files[k], tname)) {
      rc = zr_seterr(-EINVAL, "%s: tensor '%s' is listed in weight_map but not in shard '%s'", index_path, tname,
                     names[k]);
      goto out;
    }
  }
  for (size_t i = 0; i < nu; i++) {
    for (size_t j = 0; j < zr_st_count(s->files[i]); j++) {
      const char *t = zr_st_get(s->files[i], j)->name;
      json_t *listed = json_object_get(wm, t);
      if (!listed) {
        rc = zr_seterr(-EINVAL, "%s: tensor '%s' in shard '%s' is not listed in weight_map", index_path, t, names[i]);
        goto out;
      }
      if (strcmp(json_string_value(listed), names[i]) != 0) {
        rc = zr_seterr(-EINVAL, "%s: tensor '%s' is in two shards: '%s' and '%s'", index_path, t,
                       json_string_value(listed), names[i]);
        goto out;
      }
    }
  }
  rc = index_tensors(s, index_path);
out:
  free(names);
  json_decref(root);
  return rc;
}

int zr_st_set_open_dir(zr_st_set **out, const char *dir) {
  *out = NULL;
  char index_path[PATH_MAX], single[PATH_MAX];
  int rc;
  if ((rc = zr_st_path_join(index_path, sizeof index_path, dir, "model.safetensors.index.json")) < 0) return rc;
  if ((rc = zr_st_path_join(single, sizeof single, dir, "model.safetensors")) < 0) return rc;
  zr_st_set *s = calloc(1, sizeof *s);
  if (!s) return zr_seterr(-ENOMEM, "%s: out of memory", dir);
  if (file_exists(index_path)) {
    rc = open_index(s, dir, index_path);
  } else if (file_exists(single)) {
    s->files = calloc(1, sizeof *s->files);
    if (!s->files) rc = zr_seterr(-ENOMEM, "%s: out of memory", dir);
    else if ((rc = zr_st_open(&s->files[0], single)) == 0) {
      s->n_files = 1;
      rc = index_tensors(s, single);
    }
  } else {
    rc = zr_seterr(-ENOENT, "%s: neither model.safetensors nor model.safetensors.index.json is there", dir);
  }
  if (rc < 0) {
    zr_st_set_close(&s);
    return rc;
  }
  *out = s;
  return 0;
}

void zr_st_set_close(zr_st_set **ps) {
  zr_st_set *s = *ps;
  if (!s) return;
  for (size_t i = 0; i < s->n_files; i++) zr_st_close(&s->files[i]);
  free(s->files);
  free(s->tensors);
  free(s->by_name);
  free(s);
  *ps = NULL;
}

size_t zr_st_set_count(const zr_st_set *s) { return s->n; }

const zr_st_tensor *zr_st_set_get(const zr_st_set *s, size_t i) { return i < s->n ? s->tensors[i] : NULL; }

const zr_st_tensor *zr_st_set_find(const zr_st_set *s, const char *name) {
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(name, s->by_name[mid]->name);
    if (c == 0) return s->by_name[mid];
    if (c < 0) hi = mid;
    else lo = mid + 1;
  }
  return NULL;
}

void zr_st_set_release(const zr_st_set *s, const void *p, size_t n) {
  for (size_t i = 0; i < s->n_files; i++) zr_st_release(s->files[i], p, n);
}
