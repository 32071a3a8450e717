/* safetensors.h: reading and writing Hugging Face safetensors files and model weight sets.
 *
 * Reader: zr_st_open mmaps a file read-only and validates everything before any tensor data
 * is touched: the 8-byte header length against the file size, the header JSON (objects,
 * duplicate names, __metadata__ of strings only), each tensor's dtype, shape (no overflow),
 * data_offsets (ordered, inside the data area, matching dtype size x element count) and that
 * tensors neither overlap nor leave holes. A corrupt file is an error naming the file and the
 * tensor, never a crash. The file owns the mapping; tensor views stay valid until zr_st_close.
 *
 * A set (zr_st_set) is a model directory's weights: `model.safetensors`, or the shards listed
 * in `model.safetensors.index.json` (weight_map checked: every listed tensor exists in its
 * shard, no tensor in two shards).
 *
 * Writer: tensors in the order given, header padded with spaces to a multiple of 8 bytes as
 * the reference implementation does, optional __metadata__ ({"format": "pt"} by default), so
 * transformers and the `safetensors` package load the result. zr_st_write_dir shards above a
 * size threshold as `model-00001-of-00003.safetensors` + `model.safetensors.index.json`.
 *
 * Errors: 0 or a negative errno-style code, with zr_errmsg() naming file and tensor. */
#ifndef ZR_SAFETENSORS_H
#define ZR_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ZR_ST_MAX_DIMS 8

typedef enum {
  ZR_DT_F32 = 0,
  ZR_DT_F16,
  ZR_DT_BF16,
  ZR_DT_F64,
  ZR_DT_I64,
  ZR_DT_I32,
  ZR_DT_I16,
  ZR_DT_I8,
  ZR_DT_U8,
  ZR_DT_BOOL,
  ZR_DT_COUNT
} zr_dtype;

/* "F32", "BF16", ... as safetensors spells them; size in bytes of one element. */
const char *zr_dtype_name(zr_dtype dt);
size_t zr_dtype_size(zr_dtype dt);
/* -1 for a name that is not one of ours (F8 kinds, U16, ...). */
int zr_dtype_parse(const char *name);

/* Conversions between a float dtype (F32, F16, BF16) and fp32. bf16 and f16 writes round to
 * nearest even; NaN stays NaN. */
void zr_dtype_to_f32(zr_dtype dt, const void *src, float *dst, size_t n);
void zr_f32_to_dtype(zr_dtype dt, const float *src, void *dst, size_t n);

typedef struct {
  const char *name;
  zr_dtype dtype;
  int ndim;
  int64_t shape[ZR_ST_MAX_DIMS];
  const void *data; /* inside the mapping; may be unaligned for dtypes wider than 1 byte */
  size_t nbytes;
} zr_st_tensor;

typedef struct zr_st_file zr_st_file;

int zr_st_open(zr_st_file **out, const char *path);
void zr_st_close(zr_st_file **f);
size_t zr_st_count(const zr_st_file *f);
const zr_st_tensor *zr_st_get(const zr_st_file *f, size_t i); /* in data-offset order */
const zr_st_tensor *zr_st_find(const zr_st_file *f, const char *name);
const char *zr_st_metadata(const zr_st_file *f, const char *key); /* NULL if absent */
/* Hands the pages that lie wholly inside [p, p + n) of f's mapping back to the kernel (they stop
 * counting in the process's resident memory; a later read maps them from the file again). For
 * a loader that has copied a tensor out; does nothing outside a zr_st_open mapping. */
void zr_st_release(const zr_st_file *f, const void *p, size_t n);

/* Validates a whole file image already in memory (what zr_st_open does after mmap); for the
 * fuzz target and for tests. On success *out lists the tensors (views into buf). */
int zr_st_parse(zr_st_file **out, const uint8_t *buf, size_t len, const char *name);

typedef struct zr_st_set zr_st_set;

/* dir holds model.safetensors or model.safetensors.index.json (the index wins if both). */
int zr_st_set_open_dir(zr_st_set **out, const char *dir);
void zr_st_set_close(zr_st_set **s);
size_t zr_st_set_count(const zr_st_set *s);
const zr_st_tensor *zr_st_set_get(const zr_st_set *s, size_t i);
const zr_st_tensor *zr_st_set_find(const zr_st_set *s, const char *name);
void zr_st_set_release(const zr_st_set *s, const void *p, size_t n); /* zr_st_release on its shard */

typedef struct {
  const char *name;
  zr_dtype dtype;
  int ndim;
  int64_t shape[ZR_ST_MAX_DIMS];
  const void *data; /* dtype elements, row-major */
} zr_st_write_tensor;

/* meta: NULL-terminated key, value, key, value, ... list, or NULL for {"format": "pt"}.
 * Writes to a temporary name and renames, so a crash never leaves a half-written file. */
int zr_st_write_file(const char *path, const zr_st_write_tensor *t, size_t n, const char *const *meta);

/* Writes model.safetensors into dir, or shards of at most shard_bytes each plus the index when
 * the total exceeds shard_bytes (0 = never shard). Removes stale weight files of the other
 * layout so the directory is unambiguous. */
int zr_st_write_dir(const char *dir, const zr_st_write_tensor *t, size_t n, size_t shard_bytes);

#endif
