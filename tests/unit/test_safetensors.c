/* Unit tests for the safetensors reader and the dtype conversions (model/safetensors.h).
 *
 * - Files written by the `safetensors` package (tests/fixtures/safetensors, made by
 *   tests/reference/make_safetensors_fixtures.py) decode exactly: names, dtypes, shapes,
 *   offsets, metadata and values (or sums) match the manifest, through zr_st_open (mmap) and
 *   zr_st_parse (memory) alike; the sharded directory transformers wrote opens as a set.
 * - Every kind of corruption is refused with a message naming the file and the tensor, and
 *   every truncation and thousands of random header mutations are handled without a crash.
 * - bf16/f16 <-> fp32 conversions agree bit for bit with torch (every f16 pattern, a sweep of
 *   bf16 patterns, fp32 rounding ties, subnormals, overflow, infinities; NaN stays NaN).
 * Writer round trips and set/index checks are in test_st_write.c. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/safetensors.h"
#include "tests/test.h"
#include "tests/unit/st_test_util.h"

/* ---- fixtures decode exactly -------------------------------------------------------------- */

static double element(const zr_st_tensor *t, size_t i) {
  const unsigned char *p = t->data;
  switch (t->dtype) {
    case ZR_DT_F32: case ZR_DT_F16: case ZR_DT_BF16: {
      float f;
      zr_dtype_to_f32(t->dtype, p + i * zr_dtype_size(t->dtype), &f, 1);
      return f;
    }
    case ZR_DT_F64: { double d; memcpy(&d, p + 8 * i, 8); return d; }
    case ZR_DT_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); return (double)v; }
    case ZR_DT_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case ZR_DT_I16: { int16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case ZR_DT_I8: return (int8_t)p[i];
    case ZR_DT_U8: case ZR_DT_BOOL: return p[i];
    default: return NAN;
  }
}

static int64_t element_i64(const zr_st_tensor *t, size_t i) {
  if (t->dtype == ZR_DT_I64) {
    int64_t v;
    memcpy(&v, (const char *)t->data + 8 * i, 8);
    return v;
  }
  return (int64_t)element(t, i);
}

static size_t numel(const zr_st_tensor *t) {
  size_t n = 1;
  for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
  return n;
}

static int same_double(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

/* Checks one file's tensors against its manifest entry. base is where offset 0 of the data
 * area is, derived from the first tensor. */
static void check_against_manifest(const zr_st_file *f, const json_t *entry, const char *fname) {
  const json_t *tensors = json_object_get(entry, "tensors");
  CHECK_INT(zr_st_count(f), json_array_size(tensors));
  if (zr_st_count(f) != json_array_size(tensors)) return;
  const json_t *t0 = json_array_get(tensors, 0);
  const unsigned char *base = (const unsigned char *)zr_st_get(f, 0)->data -
                              json_integer_value(json_array_get(json_object_get(t0, "data_offsets"), 0));
  size_t i;
  json_t *e;
  json_array_foreach(tensors, i, e) {
    const zr_st_tensor *t = zr_st_get(f, i);
    const char *name = json_string_value(json_object_get(e, "name"));
    CHECK_STR(t->name, name);
    CHECK(zr_st_find(f, name) == t);
    CHECK_STR(zr_dtype_name(t->dtype), json_string_value(json_object_get(e, "dtype")));
    const json_t *shape = json_object_get(e, "shape");
    CHECK_INT(t->ndim, json_array_size(shape));
    for (int d = 0; d < t->ndim && d < (int)json_array_size(shape); d++)
      CHECK_INT(t->shape[d], json_integer_value(json_array_get(shape, (size_t)d)));
    const json_t *offs = json_object_get(e, "data_offsets");
    CHECK_INT((const unsigned char *)t->data - base, json_integer_value(json_array_get(offs, 0)));
    CHECK_INT(t->nbytes, json_integer_value(json_array_get(offs, 1)) - json_integer_value(json_array_get(offs, 0)));
    const json_t *values = json_object_get(e, "values");
    size_t n = numel(t);
    if (values) {
      CHECK_INT(json_array_size(values), n);
      int bad = 0;
      for (size_t k = 0; k < n && k < json_array_size(values); k++) {
        const json_t *v = json_array_get(values, k);
        if (json_is_integer(v) && (t->dtype == ZR_DT_I64 || t->dtype == ZR_DT_I32 || t->dtype == ZR_DT_I16 ||
                                   t->dtype == ZR_DT_I8 || t->dtype == ZR_DT_U8)) {
          if (element_i64(t, k) != json_integer_value(v)) bad++;
        } else if (json_is_boolean(v) || t->dtype == ZR_DT_BOOL) {
          if (element(t, k) != (json_is_true(v) || json_integer_value(v) == 1 ? 1 : 0)) bad++;
        } else if (!same_double(element(t, k), st_json_double(v))) {
          bad++;
        }
      }
      if (bad) fprintf(stderr, "  %s: tensor %s: %d values differ\n", fname, name, bad);
      CHECK_INT(bad, 0);
    } else {
      double sum = 0, sumsq = 0;
      for (size_t k = 0; k < n; k++) {
        double x = element(t, k);
        sum += x;
        sumsq += x * x;
      }
      double want = json_number_value(json_object_get(e, "sum"));
      CHECK(fabs(sum - want) <= 1e-9 * (1 + fabs(want)));
      if (json_object_get(e, "sumsq")) {
        double wsq = json_number_value(json_object_get(e, "sumsq"));
        CHECK(fabs(sumsq - wsq) <= 1e-9 * (1 + fabs(wsq)));
        CHECK(element(t, 0) == json_number_value(json_object_get(e, "first")));
        CHECK(element(t, n - 1) == json_number_value(json_object_get(e, "last")));
      }
    }
  }
  const json_t *meta = json_object_get(entry, "metadata");
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)meta, k, v) CHECK_STR(zr_st_metadata(f, k), json_string_value(v));
  CHECK(zr_st_metadata(f, "no-such-key") == NULL);
  CHECK(zr_st_find(f, "no-such-tensor") == NULL);
  CHECK(zr_st_find(f, "") == NULL);
  CHECK(zr_st_get(f, zr_st_count(f)) == NULL);
}

static void test_fixture_files(const json_t *manifest) {
  const json_t *files = json_object_get(manifest, "files");
  CHECK_INT(json_object_size(files), 2);
  const char *fname;
  json_t *entry;
  json_object_foreach((json_t *)files, fname, entry) {
    const char *path = st_fixture("safetensors", fname);
    zr_st_file *f = NULL;
    int rc = zr_st_open(&f, path);
    CHECK_INT(rc, 0);
    if (rc < 0) {
      fprintf(stderr, "  %s\n", zr_errmsg());
      continue;
    }
    check_against_manifest(f, entry, fname);
    zr_st_close(&f);
    CHECK(f == NULL);
    zr_st_close(&f); /* closing twice is harmless */

    /* the same bytes through zr_st_parse */
    size_t len = 0;
    unsigned char *buf = st_read_file(path, &len);
    CHECK(buf != NULL);
    CHECK_INT(len, json_integer_value(json_object_get(entry, "file_size")));
    CHECK_INT(zr_st_parse(&f, buf, len, fname), 0);
    if (f) check_against_manifest(f, entry, fname);
    zr_st_close(&f);

    /* every proper prefix is refused (the data area must be covered exactly) */
    int accepted = 0;
    for (size_t cut = 0; cut < len; cut++) {
      zr_st_file *g = NULL;
      if (zr_st_parse(&g, buf, cut, fname) == 0) accepted++;
      zr_st_close(&g);
    }
    CHECK_INT(accepted, 0);
    free(buf);
  }
}

static void test_fixture_set(const json_t *manifest) {
  const json_t *set = json_object_get(json_object_get(manifest, "sets"), "qwen2_sharded");
  const json_t *wm = json_object_get(set, "weight_map");
  zr_st_set *s = NULL;
  int rc = zr_st_set_open_dir(&s, st_fixture("safetensors", "qwen2_sharded"));
  CHECK_INT(rc, 0);
  if (rc < 0) {
    fprintf(stderr, "  %s\n", zr_errmsg());
    return;
  }
  CHECK_INT(zr_st_set_count(s), json_object_size(wm));
  CHECK(json_object_size(json_object_get(set, "files")) >= 3); /* really sharded */
  const char *shard;
  json_t *entry;
  json_object_foreach(json_object_get(set, "files"), shard, entry) {
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(entry, "tensors"), i, e) {
      const char *name = json_string_value(json_object_get(e, "name"));
      const zr_st_tensor *t = zr_st_set_find(s, name);
      CHECK(t != NULL);
      if (!t) continue;
      CHECK_STR(json_string_value(json_object_get(wm, name)), shard);
      double sum = 0;
      for (size_t k = 0; k < numel(t); k++) sum += element(t, k);
      const json_t *vals = json_object_get(e, "values");
      double want = 0;
      if (vals) {
        for (size_t k = 0; k < json_array_size(vals); k++) want += st_json_double(json_array_get(vals, k));
      } else {
        want = json_number_value(json_object_get(e, "sum"));
      }
      CHECK(fabs(sum - want) <= 1e-9 * (1 + fabs(want)));
    }
  }
  /* set order: every tensor once, found by name */
  for (size_t i = 0; i < zr_st_set_count(s); i++) CHECK(zr_st_set_find(s, zr_st_set_get(s, i)->name) == zr_st_set_get(s, i));
  CHECK(zr_st_set_get(s, zr_st_set_count(s)) == NULL);
  CHECK(zr_st_set_find(s, "lm_head.bias") == NULL);
  zr_st_set_close(&s);
  CHECK(s == NULL);
}

/* ---- corruption --------------------------------------------------------------------------- */

/* An image: le64(len(header)), header, data_len bytes of 0x5a. */
static unsigned char *image(const char *header, size_t hlen, size_t data_len, size_t *len) {
  *len = 8 + hlen + data_len;
  unsigned char *buf = malloc(*len);
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
  memcpy(buf + 8, header, hlen);
  memset(buf + 8 + hlen, 0x5a, data_len);
  return buf;
}

/* Parsing header + data_len bytes must fail with a message containing the file name and each
 * of the (up to two) needles. */
#define EXPECT_BAD(header, data_len, n1, n2) expect_bad(__LINE__, header, sizeof(header) - 1, data_len, n1, n2)
static void expect_bad(int line, const char *header, size_t hlen, size_t data_len, const char *n1, const char *n2) {
  size_t len = 0;
  unsigned char *buf = image(header, hlen, data_len, &len);
  zr_st_file *f = NULL;
  zr_clearerr();
  int rc = zr_st_parse(&f, buf, len, "bad.safetensors");
  if (rc != -EINVAL || !strstr(zr_errmsg(), "bad.safetensors") || !strstr(zr_errmsg(), n1) ||
      (n2 && !strstr(zr_errmsg(), n2)))
    fprintf(stderr, "  (case at line %d: rc=%d msg=\"%s\")\n", line, rc, zr_errmsg());
  CHECK_INT(rc, -EINVAL);
  CHECK(f == NULL);
  CHECK_CONTAINS(zr_errmsg(), "bad.safetensors");
  CHECK_CONTAINS(zr_errmsg(), n1);
  if (n2) CHECK_CONTAINS(zr_errmsg(), n2);
  zr_st_close(&f);
  free(buf);
}

#define EXPECT_OK(header, data_len, count) expect_ok(__LINE__, header, sizeof(header) - 1, data_len, count)
static void expect_ok(int line, const char *header, size_t hlen, size_t data_len, size_t count) {
  size_t len = 0;
  unsigned char *buf = image(header, hlen, data_len, &len);
  zr_st_file *f = NULL;
  int rc = zr_st_parse(&f, buf, len, "ok.safetensors");
  if (rc) fprintf(stderr, "  (case at line %d: %s)\n", line, zr_errmsg());
  CHECK_INT(rc, 0);
  if (f) CHECK_INT(zr_st_count(f), count);
  zr_st_close(&f);
  free(buf);
}

static void test_corruption(void) {
  /* the 8-byte length itself */
  unsigned char tiny[7] = {2, 0, 0, 0, 0, 0, 0};
  zr_st_file *f = NULL;
  CHECK_INT(zr_st_parse(&f, tiny, sizeof tiny, "bad.safetensors"), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "bad.safetensors: 7 bytes is too short for the 8-byte header length");
  CHECK_INT(zr_st_parse(&f, tiny, 0, "bad.safetensors"), -EINVAL);
  unsigned char past[16] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
  CHECK_INT(zr_st_parse(&f, past, sizeof past, "bad.safetensors"), -EINVAL);
  CHECK_STR(zr_errmsg(), "bad.safetensors: header length 100 runs past the end of the file (16 bytes)");
  unsigned char huge[16] = {0x01, 0xe1, 0xf5, 0x05, 0, 0, 0, 0, '{', '}'}; /* 100000001 */
  CHECK_INT(zr_st_parse(&f, huge, sizeof huge, "bad.safetensors"), -EINVAL);
  CHECK_STR(zr_errmsg(), "bad.safetensors: header length 100000001 exceeds the limit of 100000000 bytes");
  unsigned char max[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};
  CHECK_INT(zr_st_parse(&f, max, sizeof max, "bad.safetensors"), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "exceeds the limit");
  unsigned char zero[8] = {0};
  CHECK_INT(zr_st_parse(&f, zero, sizeof zero, "bad.safetensors"), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "does not start with '{'");
  CHECK(f == NULL);

  /* header text */
  EXPECT_BAD("[1, 2]", 0, "header does not start with '{'", NULL);
  EXPECT_BAD(" {}", 0, "header does not start with '{'", NULL);
  EXPECT_BAD("{\"a\": {\"dtype\": \"F32\", ", 0, "header is not valid JSON", NULL);
  EXPECT_BAD("{} x", 0, "header is not valid JSON", NULL);
  EXPECT_BAD("{\"a\xff\": 1}", 0, "header is not valid JSON", NULL);
  EXPECT_BAD("{\"a\": 1}\0   ", 0, "header is not valid JSON", NULL);
  EXPECT_BAD("{\"a\": 5}", 0, "tensor 'a': entry is not a JSON object", NULL);
  EXPECT_BAD("{\"a\": null}", 0, "tensor 'a': entry is not a JSON object", NULL);
  EXPECT_BAD("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
             "\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
             8, "duplicate object key", "w");

  /* dtype */
  EXPECT_BAD("{\"w\": {\"dtype\": \"F8_E4M3\", \"shape\": [4], \"data_offsets\": [0, 4]}}", 4,
             "tensor 'w': unsupported dtype 'F8_E4M3'", NULL);
  EXPECT_BAD("{\"w\": {\"dtype\": \"f32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
             "tensor 'w': unsupported dtype 'f32'", NULL);
  EXPECT_BAD("{\"w\": {\"dtype\": 7, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "tensor 'w': dtype is not a string",
             NULL);
  EXPECT_BAD("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "tensor 'w': missing 'dtype'", NULL);
  EXPECT_BAD("{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, "tensor 'w': missing 'shape'", NULL);
  EXPECT_BAD("{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "tensor 'w': missing 'data_offsets'", NULL);
  EXPECT_BAD("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4], \"x\": 1}}", 4,
             "tensor 'w': unexpected key 'x'", NULL);

  /* shape */
  EXPECT_BAD("{\"w\": {\"dtype\": \"F32\", \"shape\": 4, \"data_offsets\": [0, 16]}}", 16,
             "tensor 'w': shape is not an array", NULL);
  EXPECT_BAD("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, -2], \"data_offsets\": [0, 16]}}", 16,
             "tensor 'w': shape[1] is not a non-negative integer", NULL);
  EXPECT_BAD("{\"w\": {\"dtype\": \"F32\", \"shape\": [2.0], \"data_offsets\": [0, 8]}}", 8,
             "tensor 'w': shape[0] is not a non-negative integer", NULL);
  EXPECT_BAD("{\"w\": {\"dtype\": \"U8\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 1]}}", 1,
             "tensor 'w': 9 dimensions (at most 8 supported)", NULL);
  EXPECT_BAD("{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 0]}}", 0,
             "tensor 'w': shape [4294967296, 4294967296] overflows", NULL);
  EXPECT_BAD("{\"w\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904], \"data_offsets\": [0, 0]}}", 0,
             "tensor 'w': shape [4611686018427387904] overflows", NULL);
  EXPECT_BAD("{\"w\": {\"dtype\": \"F32\", \"shape\": [99999999999999999999], \"data_offsets\": [0, 0]}}", 0,
             "header is not valid JSON", NULL);

  /* offsets */
  EXPECT_BAD("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}}", 8,
             "tensor 'w': data_offsets [8, 4] are out of order", NULL);
  EXPECT_BAD("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4,
             "tensor 'w': data_offsets is not [begin, end]", NULL);
  EXPECT_BAD("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4,
             "tensor 'w': data_offsets is not [begin, end]", NULL);
  EXPECT_BAD("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, \"4\"]}}", 4,
             "tensor 'w': data_offsets is not [begin, end]", NULL);
  EXPECT_BAD("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8,
             "tensor 'w': data_offsets [0, 16] run past the end of the data area (8 bytes)", NULL);
  EXPECT_BAD("{\"w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8,
             "tensor 'w': data_offsets [0, 8] hold 8 bytes but F32 [3] needs 12", NULL);
  EXPECT_BAD("{\"w\": {\"dtype\": \"BF16\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}}", 24,
             "tensor 'w': data_offsets [0, 24] hold 24 bytes but BF16 [2, 3] needs 12", NULL);
  EXPECT_BAD("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
             "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
             12, "tensor 'b': data [4, 12) overlaps tensor 'a'", NULL);
  EXPECT_BAD("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
             "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
             8, "overlaps tensor 'a'", NULL);
  EXPECT_BAD("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
             "\"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}",
             12, "tensor 'b': 4-byte hole before its data at offset 8", NULL);
  EXPECT_BAD("{\"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8,
             "tensor 'b': 4-byte hole before its data at offset 4", NULL);
  EXPECT_BAD("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 12,
             "8 bytes after the last tensor are not covered", NULL);
  EXPECT_BAD("{}", 1, "1 bytes after the last tensor are not covered", NULL);

  /* metadata */
  EXPECT_BAD("{\"__metadata__\": {\"format\": \"pt\", \"step\": 7}}", 0, "__metadata__ value of 'step' is not a string",
             NULL);
  EXPECT_BAD("{\"__metadata__\": {\"nested\": {\"a\": \"b\"}}}", 0, "__metadata__ value of 'nested' is not a string",
             NULL);
  EXPECT_BAD("{\"__metadata__\": [\"format\", \"pt\"]}", 0, "__metadata__ is not a JSON object", NULL);

  /* valid corner cases */
  EXPECT_OK("{}", 0, 0);
  EXPECT_OK("{}      ", 0, 0);
  EXPECT_OK("{\"__metadata__\": null}", 0, 0);
  EXPECT_OK("{\"__metadata__\": {}, \"s\": {\"dtype\": \"F64\", \"shape\": [], \"data_offsets\": [0, 8]}}", 8, 1);
  EXPECT_OK("{\"z\": {\"dtype\": \"F32\", \"shape\": [0, 5], \"data_offsets\": [4, 4]},"
            " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
            " \"y\": {\"dtype\": \"I8\", \"shape\": [0], \"data_offsets\": [4, 4]}}",
            4, 3);
  EXPECT_OK("{\"w\": {\"data_offsets\": [0, 3], \"shape\": [3], \"dtype\": \"BOOL\"}}", 3, 1);

  /* zr_st_open on things that are not safetensors files */
  char dir[PATH_MAX], path[PATH_MAX + 32];
  CHECK(st_mkdtemp(dir, sizeof dir) != NULL);
  CHECK_INT(zr_st_open(&f, "/nonexistent/zerorl/model.safetensors"), -ENOENT);
  CHECK_CONTAINS(zr_errmsg(), "/nonexistent/zerorl/model.safetensors: cannot open");
  CHECK_INT(zr_st_open(&f, dir), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "not a regular file");
  snprintf(path, sizeof path, "%s/empty.safetensors", dir);
  CHECK_INT(st_write_bytes(path, "", 0), 0);
  CHECK_INT(zr_st_open(&f, path), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "empty.safetensors: 0 bytes is too short");
  snprintf(path, sizeof path, "%s/bad.safetensors", dir);
  CHECK_INT(st_write_bytes(path, past, sizeof past), 0);
  CHECK_INT(zr_st_open(&f, path), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), path);
  CHECK_CONTAINS(zr_errmsg(), "runs past the end of the file");
  CHECK(f == NULL);
  st_rmtree(dir);
}

/* Random single-byte and length mutations of a real file: whatever is accepted must still be
 * self-consistent (tensors inside the buffer, tiling the data area). */
static void test_mutations(void) {
  size_t len = 0;
  unsigned char *orig = st_read_file(st_fixture("safetensors", "basic.safetensors"), &len);
  CHECK(orig != NULL);
  if (!orig) return;
  unsigned char *buf = malloc(len);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | orig[i];
  uint64_t x = 0x9e3779b97f4a7c15ull;
  int accepted = 0, rejected = 0;
  for (int iter = 0; iter < 20000; iter++) {
    memcpy(buf, orig, len);
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t pos = (size_t)(x % (8 + hlen));
    static const unsigned char interesting[] = {'0', '9', '-', '"', '{', '}', '[', ']', ',', ':', ' ', 0, 0xff, 'e', '.'};
    buf[pos] = (x >> 32) & 1 ? interesting[(x >> 40) % sizeof interesting] : (unsigned char)(x >> 48);
    zr_st_file *f = NULL;
    if (zr_st_parse(&f, buf, len, "mutant") == 0) {
      accepted++;
      size_t covered = 0;
      for (size_t i = 0; i < zr_st_count(f); i++) {
        const zr_st_tensor *t = zr_st_get(f, i);
        CHECK((const unsigned char *)t->data >= buf + 8 && (const unsigned char *)t->data + t->nbytes <= buf + len);
        covered += t->nbytes;
      }
      CHECK(covered <= len);
      zr_st_close(&f);
    } else {
      rejected++;
      CHECK(strstr(zr_errmsg(), "mutant") != NULL);
    }
  }
  fprintf(stderr, "  mutations: %d accepted (benign), %d rejected\n", accepted, rejected);
  CHECK(rejected > 10000);
  free(buf);
  free(orig);
}

/* ---- dtype conversions vs torch ------------------------------------------------------------ */

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static void test_dtype_names(void) {
  static const char *names[] = {"F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"};
  static const size_t sizes[] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1};
  for (int i = 0; i < ZR_DT_COUNT; i++) {
    CHECK_STR(zr_dtype_name((zr_dtype)i), names[i]);
    CHECK_INT(zr_dtype_size((zr_dtype)i), sizes[i]);
    CHECK_INT(zr_dtype_parse(names[i]), i);
  }
  CHECK_INT(zr_dtype_parse("U16"), -1);
  CHECK_INT(zr_dtype_parse("F8_E5M2"), -1);
  CHECK_INT(zr_dtype_parse("bf16"), -1);
  CHECK_INT(zr_dtype_parse(""), -1);
  CHECK_STR(zr_dtype_name(ZR_DT_COUNT), "?");
  CHECK_INT(zr_dtype_size(ZR_DT_COUNT), 0);
}

/* from (16-bit dtype, n) -> fp32 must equal torch's fp32 bit for bit (NaN: any NaN). */
static void check_to_f32(const zr_st_file *f, const char *src_name, const char *ref_name) {
  const zr_st_tensor *src = zr_st_find(f, src_name), *ref = zr_st_find(f, ref_name);
  CHECK(src && ref);
  if (!src || !ref) return;
  size_t n = src->nbytes / 2;
  CHECK_INT(ref->nbytes, 4 * n);
  float *got = malloc(n * sizeof *got), *want = malloc(n * sizeof *want);
  zr_dtype_to_f32(src->dtype, src->data, got, n);
  memcpy(want, ref->data, n * 4);
  int bad = 0, nans = 0;
  for (size_t i = 0; i < n; i++) {
    if (isnan(want[i])) {
      nans++;
      if (!isnan(got[i])) bad++;
    } else if (f32_bits(got[i]) != f32_bits(want[i])) {
      if (bad++ < 5) fprintf(stderr, "  %s[%zu]: got %08x want %08x\n", src_name, i, f32_bits(got[i]), f32_bits(want[i]));
    }
  }
  fprintf(stderr, "  %s -> f32: %zu values (%d NaN), %d differ from torch\n", src_name, n, nans, bad);
  CHECK_INT(bad, 0);
  CHECK(nans > 0);
  free(got);
  free(want);
}

static uint16_t u16_at(const void *p, size_t i) {
  uint16_t h;
  memcpy(&h, (const char *)p + 2 * i, 2);
  return h;
}

static void check_from_f32(const zr_st_file *f, const char *ref_name) {
  const zr_st_tensor *in = zr_st_find(f, "f32_in"), *ref = zr_st_find(f, ref_name);
  CHECK(in && ref);
  if (!in || !ref) return;
  size_t n = in->nbytes / 4;
  CHECK_INT(ref->nbytes, 2 * n);
  float *x = malloc(n * sizeof *x);
  uint16_t *got = malloc(n * sizeof *got);
  memcpy(x, in->data, 4 * n);
  zr_f32_to_dtype(ref->dtype, x, got, n);
  int bad = 0, nans = 0, ties = 0;
  for (size_t i = 0; i < n; i++) {
    uint16_t w = u16_at(ref->data, i), g = got[i];
    float gf, wf;
    zr_dtype_to_f32(ref->dtype, &g, &gf, 1);
    zr_dtype_to_f32(ref->dtype, &w, &wf, 1);
    if (isnan(x[i])) {
      nans++;
      if (!isnan(gf)) bad++;
      continue;
    }
    if (ref->dtype == ZR_DT_BF16 ? (f32_bits(x[i]) & 0xffff) == 0x8000 : (f32_bits(x[i]) & 0x1fff) == 0x1000) ties++;
    if (g != w && bad++ < 5) fprintf(stderr, "  f32 %08x -> %s: got %04x want %04x\n", f32_bits(x[i]), ref_name, g, w);
  }
  fprintf(stderr, "  f32 -> %s: %zu values (%d NaN, %d exact ties), %d differ from torch\n", ref_name, n, nans, ties,
          bad);
  CHECK_INT(bad, 0);
  CHECK(ties > 300);
  CHECK(nans >= 6);
  free(x);
  free(got);
}

static void test_dtype_conversions(void) {
  zr_st_file *f = NULL;
  int rc = zr_st_open(&f, st_fixture("safetensors", "dtype_conv.safetensors"));
  CHECK_INT(rc, 0);
  if (rc < 0) {
    fprintf(stderr, "  %s\n", zr_errmsg());
    return;
  }
  CHECK_INT(zr_st_find(f, "f16_all")->nbytes, 65536 * 2);
  check_to_f32(f, "f16_all", "f16_all_f32");
  check_to_f32(f, "bf16_pats", "bf16_pats_f32");
  check_from_f32(f, "f32_in_bf16");
  check_from_f32(f, "f32_in_f16");

  /* hand-picked cases with known answers */
  float in[] = {1.0f, -0.0f, INFINITY, -INFINITY, 65504.0f, 65520.0f, 1.00390625f, 1.01171875f, 5.9604645e-08f,
                2.9802322e-08f, 3.0e-08f, NAN};
  uint16_t want_f16[] = {0x3c00, 0x8000, 0x7c00, 0xfc00, 0x7bff, 0x7c00, 0x3c04, 0x3c0c, 0x0001, 0x0000, 0x0001};
  uint16_t want_bf16[] = {0x3f80, 0x8000, 0x7f80, 0xff80, 0x4780 /* 65504 rounds to 65536 */, 0x4780,
                          0x3f80 /* tie: down to even */, 0x3f82 /* tie: up to even */};
  uint16_t h[12], b[12];
  zr_f32_to_dtype(ZR_DT_F16, in, h, 12);
  zr_f32_to_dtype(ZR_DT_BF16, in, b, 12);
  for (int i = 0; i < 11; i++) CHECK_INT(h[i], want_f16[i]);
  for (int i = 0; i < 8; i++) CHECK_INT(b[i], want_bf16[i]);
  float back[2];
  zr_dtype_to_f32(ZR_DT_F16, &h[11], &back[0], 1);
  zr_dtype_to_f32(ZR_DT_BF16, &b[11], &back[1], 1);
  CHECK(isnan(back[0]) && isnan(back[1]));
  /* F32 -> F32 is a copy */
  float copy[12];
  zr_f32_to_dtype(ZR_DT_F32, in, copy, 12);
  CHECK(memcmp(copy, in, sizeof in) == 0);
  zr_dtype_to_f32(ZR_DT_F32, in, copy, 12);
  CHECK(memcmp(copy, in, sizeof in) == 0);
  zr_st_close(&f);
}

int main(void) {
  size_t mlen = 0;
  unsigned char *mtext = st_read_file(st_fixture("safetensors", "manifest.json"), &mlen);
  if (!mtext) { /* committed with the tests: missing means a broken checkout, not a skip */
    fprintf(stderr, "FAIL: fixtures not found under %s (set ZERORL_SOURCE_DIR)\n", st_fixture("safetensors", NULL));
    return 1;
  }
  json_error_t jerr;
  json_t *manifest = json_loadb((const char *)mtext, mlen, 0, &jerr);
  CHECK(manifest != NULL);
  free(mtext);

  test_dtype_names();
  test_fixture_files(manifest);
  test_fixture_set(manifest);
  test_corruption();
  test_mutations();
  test_dtype_conversions();
  json_decref(manifest);
  return TEST_DONE();
}
