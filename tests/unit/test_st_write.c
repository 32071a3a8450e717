/* Unit tests for the safetensors writer and model-directory sets (model/safetensors.h).
 *
 * - zr_st_write_file: every dtype and shape (scalar, empty, up to 8 dims) reads back
 *   bit-identical with the given metadata; the header is space-padded to 8 bytes as the
 *   reference writer does; bad input (duplicate / reserved / missing names, bad dtype or rank,
 *   negative dims, missing data, non-UTF-8 names) is refused with a message naming the tensor and
 *   leaves no file behind; an existing file is replaced whole.
 * - zr_st_write_dir: the transformers-written sharded fixture, re-written unsharded and sharded
 *   (and sharded again with another count, and unsharded again), reads back identical through
 *   zr_st_set_open_dir, with shard names, index contents and stale-file removal checked.
 * - Sets refuse inconsistent indexes: tensors missing from their shard, tensors in two shards,
 *   tensors not in the weight map, path names in the weight map, missing shards, bad JSON.
 * - zr_st_release: a 64 MiB tensor read through the mapping and released leaves the process's
 *   resident memory (>= 48 MiB less) and reads back unchanged; memory outside the mapping (a
 *   zr_st_parse buffer) is left alone. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "model/safetensors.h"
#include "tests/test.h"
#include "tests/unit/st_test_util.h"

static char scratch[PATH_MAX];

static const char *in_scratch(const char *name) {
  static char buf[4][PATH_MAX + 64];
  static int slot;
  char *p = buf[slot++ % 4];
  snprintf(p, PATH_MAX + 64, "%s/%s", scratch, name);
  return p;
}

static int tensors_equal(const zr_st_tensor *a, const zr_st_write_tensor *b, size_t nbytes) {
  if (strcmp(a->name, b->name) || a->dtype != b->dtype || a->ndim != b->ndim || a->nbytes != nbytes) return 0;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return 0;
  return nbytes == 0 || memcmp(a->data, b->data, nbytes) == 0;
}

/* ---- single files ------------------------------------------------------------------------- */

static void test_write_file(void) {
  static float f32[6] = {1.5f, -2.0f, 0.0f, -0.0f, 3.4e38f, 1e-40f};
  static uint16_t bf16[4] = {0x3f80, 0xc000, 0x7fc0, 0x0001};
  static uint16_t f16[3] = {0x3c00, 0x7c00, 0x8001};
  static double f64[2] = {3.141592653589793, -1e300};
  static int64_t i64[3] = {INT64_MIN, 151643, INT64_MAX};
  static int32_t i32[2] = {-7, 7};
  static int16_t i16[1] = {-300};
  static int8_t i8[2] = {-128, 127};
  static uint8_t u8[3] = {0, 200, 255};
  static uint8_t b1[2] = {1, 0};
  static uint8_t one[1] = {42};
  zr_st_write_tensor t[] = {
      {"a.f32", ZR_DT_F32, 2, {2, 3}, f32},
      {"b.bf16", ZR_DT_BF16, 1, {4}, bf16},
      {"c.f16", ZR_DT_F16, 3, {3, 1, 1}, f16},
      {"d.f64", ZR_DT_F64, 1, {2}, f64},
      {"e.i64", ZR_DT_I64, 1, {3}, i64},
      {"f.i32", ZR_DT_I32, 2, {1, 2}, i32},
      {"g.i16", ZR_DT_I16, 0, {0}, i16},
      {"h.i8", ZR_DT_I8, 1, {2}, i8},
      {"i.u8", ZR_DT_U8, 1, {3}, u8},
      {"j.bool", ZR_DT_BOOL, 1, {2}, b1},
      {"k.empty", ZR_DT_F32, 2, {0, 7}, NULL},
      {"l.rank8", ZR_DT_U8, 8, {1, 1, 1, 1, 1, 1, 1, 1}, one},
      {"m.unicode.\xc3\xa9\xe2\x82\xac", ZR_DT_U8, 1, {1}, one},
  };
  size_t n = sizeof t / sizeof t[0];
  size_t sizes[] = {24, 8, 6, 16, 24, 8, 2, 2, 3, 2, 0, 1, 1};
  const char *path = in_scratch("one.safetensors");
  int rc = zr_st_write_file(path, t, n, NULL);
  CHECK_INT(rc, 0);
  if (rc) fprintf(stderr, "  %s\n", zr_errmsg());

  /* raw layout: header length is a multiple of 8, padding is spaces, data starts right after */
  size_t len = 0;
  unsigned char *raw = st_read_file(path, &len);
  CHECK(raw != NULL);
  uint64_t hlen = 0;
  for (int i = 7; raw && i >= 0; i--) hlen = (hlen << 8) | raw[i];
  CHECK_INT(hlen % 8, 0);
  CHECK(raw && raw[8] == '{');
  size_t total = 0;
  for (size_t i = 0; i < n; i++) total += sizes[i];
  CHECK_INT(len, 8 + hlen + total);
  CHECK(raw && strstr((char *)raw + 8, "\"__metadata__\":{\"format\":\"pt\"}") != NULL);
  size_t tail = hlen;
  while (raw && tail > 0 && raw[8 + tail - 1] == ' ') tail--;
  CHECK(raw && raw[8 + tail - 1] == '}');
  CHECK(hlen - tail < 8);
  free(raw);

  zr_st_file *f = NULL;
  rc = zr_st_open(&f, path);
  CHECK_INT(rc, 0);
  if (rc == 0) {
    CHECK_INT(zr_st_count(f), n);
    for (size_t i = 0; i < n; i++) {
      /* given order is data order */
      CHECK(tensors_equal(zr_st_get(f, i), &t[i], sizes[i]));
      CHECK(zr_st_find(f, t[i].name) == zr_st_get(f, i));
    }
    CHECK_STR(zr_st_metadata(f, "format"), "pt");
    zr_st_close(&f);
  }
  CHECK_INT(st_count_entries(scratch, ".tmp."), 0);

  /* own metadata, and overwriting the file */
  const char *meta[] = {"format", "pt", "step", "12", "note", "caf\xc3\xa9", NULL};
  rc = zr_st_write_file(path, t, 2, meta);
  CHECK_INT(rc, 0);
  if (zr_st_open(&f, path) == 0) {
    CHECK_INT(zr_st_count(f), 2);
    CHECK_STR(zr_st_metadata(f, "step"), "12");
    CHECK_STR(zr_st_metadata(f, "note"), "caf\xc3\xa9");
    CHECK(zr_st_find(f, "c.f16") == NULL);
    zr_st_close(&f);
  } else {
    CHECK(0);
  }
  /* an empty file (no tensors) is valid */
  const char *none[] = {NULL};
  CHECK_INT(zr_st_write_file(in_scratch("none.safetensors"), NULL, 0, none), 0);
  if (zr_st_open(&f, in_scratch("none.safetensors")) == 0) {
    CHECK_INT(zr_st_count(f), 0);
    CHECK(zr_st_metadata(f, "format") == NULL);
    zr_st_close(&f);
  } else {
    CHECK(0);
  }
}

#define EXPECT_WRITE_ERR(tensors, n, meta, needle)                                   \
  do {                                                                                \
    zr_clearerr();                                                                    \
    CHECK(zr_st_write_file(in_scratch("bad.safetensors"), tensors, n, meta) < 0);     \
    CHECK_CONTAINS(zr_errmsg(), "bad.safetensors");                                   \
    CHECK_CONTAINS(zr_errmsg(), needle);                                              \
    struct stat st_;                                                                  \
    CHECK(stat(in_scratch("bad.safetensors"), &st_) != 0);                            \
  } while (0)

static void test_write_refusals(void) {
  static float x[4];
  zr_st_write_tensor dup[] = {{"w", ZR_DT_F32, 1, {1}, x}, {"v", ZR_DT_F32, 1, {1}, x}, {"w", ZR_DT_F32, 1, {2}, x}};
  EXPECT_WRITE_ERR(dup, 3, NULL, "duplicate tensor name 'w'");
  zr_st_write_tensor reserved[] = {{"__metadata__", ZR_DT_F32, 1, {1}, x}};
  EXPECT_WRITE_ERR(reserved, 1, NULL, "tensor name '__metadata__' is reserved");
  zr_st_write_tensor noname[] = {{"ok", ZR_DT_F32, 1, {1}, x}, {NULL, ZR_DT_F32, 1, {1}, x}};
  EXPECT_WRITE_ERR(noname, 2, NULL, "tensor #1 has no name");
  zr_st_write_tensor empty[] = {{"", ZR_DT_F32, 1, {1}, x}};
  EXPECT_WRITE_ERR(empty, 1, NULL, "tensor #0 has no name");
  zr_st_write_tensor baddt[] = {{"w", ZR_DT_COUNT, 1, {1}, x}};
  EXPECT_WRITE_ERR(baddt, 1, NULL, "tensor 'w': invalid dtype");
  zr_st_write_tensor rank[] = {{"w", ZR_DT_F32, 9, {1, 1, 1, 1, 1, 1, 1, 1}, x}};
  EXPECT_WRITE_ERR(rank, 1, NULL, "tensor 'w': 9 dimensions");
  zr_st_write_tensor neg[] = {{"w", ZR_DT_F32, 2, {2, -1}, x}};
  EXPECT_WRITE_ERR(neg, 1, NULL, "tensor 'w': negative dimension");
  zr_st_write_tensor ovf[] = {{"w", ZR_DT_F32, 3, {1LL << 40, 1LL << 40, 1LL << 40}, x}};
  EXPECT_WRITE_ERR(ovf, 1, NULL, "tensor 'w': shape overflows");
  zr_st_write_tensor nodata[] = {{"w", ZR_DT_F32, 1, {4}, NULL}};
  EXPECT_WRITE_ERR(nodata, 1, NULL, "tensor 'w': no data");
  zr_st_write_tensor badutf[] = {{"w\xff", ZR_DT_F32, 1, {1}, x}};
  EXPECT_WRITE_ERR(badutf, 1, NULL, "is not valid UTF-8");
  zr_st_write_tensor ok[] = {{"w", ZR_DT_F32, 1, {1}, x}};
  const char *badmeta[] = {"k", NULL, NULL};
  EXPECT_WRITE_ERR(ok, 1, badmeta, "__metadata__ key 'k'");
  const char *badmeta2[] = {"k\xff", "v", NULL};
  EXPECT_WRITE_ERR(ok, 1, badmeta2, "__metadata__ key");
  /* a directory that does not exist */
  zr_clearerr();
  CHECK(zr_st_write_file("/nonexistent/zerorl/x.safetensors", ok, 1, NULL) < 0);
  CHECK_CONTAINS(zr_errmsg(), "/nonexistent/zerorl/x.safetensors");
  CHECK_INT(st_count_entries(scratch, ".tmp."), 0);
}

/* ---- model directories -------------------------------------------------------------------- */

/* The set's tensors as writer input (views into the set, which must stay open). */
static zr_st_write_tensor *as_input(const zr_st_set *s, size_t *n, size_t **sizes) {
  *n = zr_st_set_count(s);
  zr_st_write_tensor *w = calloc(*n, sizeof *w);
  *sizes = calloc(*n, sizeof **sizes);
  for (size_t i = 0; i < *n; i++) {
    const zr_st_tensor *t = zr_st_set_get(s, i);
    w[i].name = t->name;
    w[i].dtype = t->dtype;
    w[i].ndim = t->ndim;
    memcpy(w[i].shape, t->shape, sizeof t->shape);
    w[i].data = t->data;
    (*sizes)[i] = t->nbytes;
  }
  return w;
}

static void check_dir(const char *dir, const zr_st_write_tensor *w, const size_t *sizes, size_t n) {
  zr_st_set *s = NULL;
  int rc = zr_st_set_open_dir(&s, dir);
  CHECK_INT(rc, 0);
  if (rc) {
    fprintf(stderr, "  %s\n", zr_errmsg());
    return;
  }
  CHECK_INT(zr_st_set_count(s), n);
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    const zr_st_tensor *t = zr_st_set_find(s, w[i].name);
    if (!t || !tensors_equal(t, &w[i], sizes[i])) bad++;
  }
  CHECK_INT(bad, 0);
  zr_st_set_close(&s);
}

static void test_write_dir(void) {
  zr_st_set *src = NULL;
  int rc = zr_st_set_open_dir(&src, st_fixture("safetensors", "qwen2_sharded"));
  CHECK_INT(rc, 0);
  if (rc) return;
  size_t n, *sizes;
  zr_st_write_tensor *w = as_input(src, &n, &sizes);
  size_t total = 0, biggest = 0;
  for (size_t i = 0; i < n; i++) {
    total += sizes[i];
    if (sizes[i] > biggest) biggest = sizes[i];
  }
  char dir[PATH_MAX + 64];
  snprintf(dir, sizeof dir, "%s", in_scratch("model"));

  /* unsharded (0 = never shard; a threshold above the total also gives one file) */
  CHECK_INT(zr_st_write_dir(dir, w, n, 0), 0);
  CHECK_INT(st_count_entries(dir, ".safetensors"), 1);
  CHECK_INT(st_count_entries(dir, "model.safetensors"), 1);
  check_dir(dir, w, sizes, n);
  CHECK_INT(zr_st_write_dir(dir, w, n, total), 0);
  CHECK_INT(st_count_entries(dir, "model-"), 0);
  check_dir(dir, w, sizes, n);

  /* sharded at 40000 bytes: shards respect the limit (single oversize tensors aside) */
  CHECK_INT(zr_st_write_dir(dir, w, n, 40000), 0);
  CHECK_INT(st_count_entries(dir, "model.safetensors.index.json"), 1);
  CHECK_INT(st_count_entries(dir, "model.safetensors") , 1); /* only the index matches */
  int nshards = st_count_entries(dir, "-of-");
  CHECK(nshards >= 3);
  char name[64];
  snprintf(name, sizeof name, "model-00001-of-%05d.safetensors", nshards);
  CHECK_INT(st_count_entries(dir, name), 1);
  for (int k = 1; k <= nshards; k++) {
    snprintf(name, sizeof name, "model/model-%05d-of-%05d.safetensors", k, nshards);
    zr_st_file *f = NULL;
    CHECK_INT(zr_st_open(&f, in_scratch(name)), 0);
    if (!f) continue;
    size_t bytes = 0;
    for (size_t i = 0; i < zr_st_count(f); i++) bytes += zr_st_get(f, i)->nbytes;
    CHECK(bytes <= 40000 || zr_st_count(f) == 1);
    CHECK_STR(zr_st_metadata(f, "format"), "pt");
    zr_st_close(&f);
  }
  check_dir(dir, w, sizes, n);
  /* the index: total_size and a weight map naming every tensor */
  json_error_t jerr;
  json_t *index = json_load_file(in_scratch("model/model.safetensors.index.json"), 0, &jerr);
  CHECK(index != NULL);
  CHECK_INT(json_integer_value(json_object_get(json_object_get(index, "metadata"), "total_size")), total);
  CHECK_INT(json_object_size(json_object_get(index, "weight_map")), n);
  json_decref(index);

  /* fewer, bigger shards: the old ones go */
  CHECK_INT(zr_st_write_dir(dir, w, n, total / 2 + biggest), 0);
  int fewer = st_count_entries(dir, "-of-");
  CHECK(fewer >= 2 && fewer < nshards);
  check_dir(dir, w, sizes, n);
  /* a shard per tensor, when every tensor is above the limit */
  CHECK_INT(zr_st_write_dir(dir, w, n, 1), 0);
  CHECK_INT(st_count_entries(dir, "-of-"), n);
  check_dir(dir, w, sizes, n);
  /* back to one file: index and shards go */
  CHECK_INT(zr_st_write_dir(dir, w, n, 0), 0);
  CHECK_INT(st_count_entries(dir, "-of-"), 0);
  CHECK_INT(st_count_entries(dir, "index.json"), 0);
  check_dir(dir, w, sizes, n);
  CHECK_INT(st_count_entries(dir, ".tmp."), 0);

  /* a directory that does not exist yet is created; a bad tensor list leaves nothing */
  CHECK_INT(zr_st_write_dir(in_scratch("fresh"), w, 3, 0), 0);
  check_dir(in_scratch("fresh"), w, sizes, 3);
  zr_st_write_tensor dup[2] = {w[0], w[0]};
  CHECK_INT(zr_st_write_dir(in_scratch("dup"), dup, 2, 0), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "duplicate tensor name");
  CHECK_INT(st_count_entries(in_scratch("dup"), "safetensors"), 0);
  free(w);
  free(sizes);
  zr_st_set_close(&src);
}

/* ---- inconsistent sets -------------------------------------------------------------------- */

static void write_text(const char *path, const char *text) { CHECK_INT(st_write_bytes(path, text, strlen(text)), 0); }

static void expect_set_error(const char *dir, int code, const char *needle) {
  zr_st_set *s = NULL;
  zr_clearerr();
  int rc = zr_st_set_open_dir(&s, dir);
  CHECK_INT(rc, code);
  CHECK(s == NULL);
  CHECK_CONTAINS(zr_errmsg(), needle);
  zr_st_set_close(&s);
}

static void test_bad_sets(void) {
  static float x[4] = {1, 2, 3, 4};
  char d[PATH_MAX + 64];
  snprintf(d, sizeof d, "%s", in_scratch("sets"));
  mkdir(d, 0755);
  expect_set_error(d, -ENOENT, "neither model.safetensors nor model.safetensors.index.json");
  expect_set_error(in_scratch("no-such-dir"), -ENOENT, "no-such-dir");

  zr_st_write_tensor a[] = {{"a", ZR_DT_F32, 1, {2}, x}, {"b", ZR_DT_F32, 1, {2}, x + 2}};
  zr_st_write_tensor c[] = {{"c", ZR_DT_F32, 1, {1}, x}, {"a", ZR_DT_F32, 1, {1}, x}};
  char p1[PATH_MAX + 96], p2[PATH_MAX + 96], ip[PATH_MAX + 96];
  snprintf(p1, sizeof p1, "%s/s1.safetensors", d);
  snprintf(p2, sizeof p2, "%s/s2.safetensors", d);
  snprintf(ip, sizeof ip, "%s/model.safetensors.index.json", d);
  CHECK_INT(zr_st_write_file(p1, a, 2, NULL), 0);
  CHECK_INT(zr_st_write_file(p2, c, 1, NULL), 0);

  write_text(ip, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"b\": \"s1.safetensors\", \"c\": \"s2.safetensors\"}}");
  /* a model.safetensors next to the index is ignored: the index wins */
  char single[PATH_MAX + 96];
  snprintf(single, sizeof single, "%s/model.safetensors", d);
  zr_st_write_tensor other[] = {{"zz", ZR_DT_F32, 1, {1}, x}};
  CHECK_INT(zr_st_write_file(single, other, 1, NULL), 0);
  zr_st_set *s = NULL;
  CHECK_INT(zr_st_set_open_dir(&s, d), 0);
  if (s) {
    CHECK(zr_st_set_find(s, "zz") == NULL);
    CHECK_INT(zr_st_set_count(s), 3);
    CHECK(zr_st_set_find(s, "c") != NULL);
    CHECK_STR(zr_st_set_get(s, 0)->name, "a"); /* shard order, then data order */
    CHECK_STR(zr_st_set_get(s, 2)->name, "c");
  }
  zr_st_set_close(&s);

  write_text(ip, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"b\": \"s2.safetensors\", \"c\": \"s2.safetensors\"}}");
  expect_set_error(d, -EINVAL, "tensor 'b' is listed in weight_map but not in shard 's2.safetensors'");
  write_text(ip, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"c\": \"s2.safetensors\"}}");
  expect_set_error(d, -EINVAL, "tensor 'b' in shard 's1.safetensors' is not listed in weight_map");
  CHECK_INT(zr_st_write_file(p2, c, 2, NULL), 0); /* now 'a' is in both shards */
  write_text(ip, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"b\": \"s1.safetensors\", \"c\": \"s2.safetensors\"}}");
  expect_set_error(d, -EINVAL, "tensor 'a' is in two shards: 's1.safetensors' and 's2.safetensors'");
  write_text(ip, "{\"weight_map\": {\"a\": \"../s1.safetensors\"}}");
  expect_set_error(d, -EINVAL, "tensor 'a': shard name '../s1.safetensors' is not a file name in the directory");
  write_text(ip, "{\"weight_map\": {\"a\": \"..\"}}");
  expect_set_error(d, -EINVAL, "shard name '..' is not a file name");
  write_text(ip, "{\"weight_map\": {\"a\": \"missing.safetensors\"}}");
  expect_set_error(d, -ENOENT, "missing.safetensors: cannot open");
  write_text(ip, "{\"weight_map\": {\"a\": 3}}");
  expect_set_error(d, -EINVAL, "weight_map entry of tensor 'a' is not a file name");
  write_text(ip, "{\"metadata\": {}}");
  expect_set_error(d, -EINVAL, "missing key 'weight_map'");
  write_text(ip, "{\"weight_map\": []}");
  expect_set_error(d, -EINVAL, "weight_map is not a JSON object");
  write_text(ip, "[]");
  expect_set_error(d, -EINVAL, "not a JSON object");
  write_text(ip, "{\"weight_map\": {\"a\": \"s1.safetensors\",}");
  expect_set_error(d, -EINVAL, "model.safetensors.index.json:1:");
  /* a corrupt shard is reported by its own path */
  write_text(p1, "garbage!garbage!");
  write_text(ip, "{\"weight_map\": {\"a\": \"s1.safetensors\"}}");
  expect_set_error(d, -EINVAL, "s1.safetensors: header length");
  /* an empty weight map is an empty set */
  write_text(ip, "{\"weight_map\": {}}");
  CHECK_INT(zr_st_set_open_dir(&s, d), 0);
  if (s) CHECK_INT(zr_st_set_count(s), 0);
  zr_st_set_close(&s);
}

/* resident memory of this process, MiB (/proc/self/statm) */
static double rss_mib(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, res = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &size, &res) != 2) res = 0;
    fclose(f);
  }
  return (double)res * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static double sum_floats(const void *p, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) {
    float v;
    memcpy(&v, (const char *)p + i * sizeof v, sizeof v);
    s += v;
  }
  return s;
}

static void test_release(void) {
  enum { N = 16 << 20 }; /* 64 MiB of floats */
  float *big = malloc((size_t)N * sizeof(float));
  CHECK(big != NULL);
  if (!big) return;
  for (size_t i = 0; i < N; i++) big[i] = (float)(i % 1000) * 0.5f;
  double want = sum_floats(big, N);
  zr_st_write_tensor t = {"big", ZR_DT_F32, 1, {N}, big};
  const char *path = in_scratch("big.safetensors");
  CHECK_INT(zr_st_write_file(path, &t, 1, NULL), 0);
  free(big);
  zr_st_file *f = NULL;
  CHECK_INT(zr_st_open(&f, path), 0);
  if (!f) return;
  const zr_st_tensor *bt = zr_st_find(f, "big");
  CHECK(sum_floats(bt->data, N) == want); /* every page now mapped in */
  double before = rss_mib();
  zr_st_release(f, bt->data, bt->nbytes);
  double after = rss_mib();
  fprintf(stderr, "release: resident %.0f MiB -> %.0f MiB\n", before, after);
  CHECK(before - after >= 48.0);
  CHECK(sum_floats(bt->data, N) == want); /* read again from the file */
  zr_st_release(f, (const char *)bt->data - 4096, 16); /* before the mapping: ignored */
  zr_st_close(&f);

  /* a file image in ordinary memory: release must not touch it */
  size_t len = 0;
  unsigned char *img = st_read_file(in_scratch("one.safetensors"), &len);
  CHECK(img != NULL);
  unsigned char *copy = img ? malloc(len) : NULL;
  if (img && copy) {
    memcpy(copy, img, len);
    CHECK_INT(zr_st_parse(&f, img, len, "memory"), 0);
    if (f) zr_st_release(f, img, len);
    CHECK(memcmp(img, copy, len) == 0);
    zr_st_close(&f);
  }
  free(copy);
  free(img);
}

int main(void) {
  if (!st_mkdtemp(scratch, sizeof scratch)) {
    fprintf(stderr, "FAIL: cannot create a scratch directory\n");
    return 1;
  }
  struct stat st;
  if (stat(st_fixture("safetensors", "qwen2_sharded"), &st) != 0) {
    fprintf(stderr, "FAIL: fixtures not found under %s (set ZERORL_SOURCE_DIR)\n", st_fixture("safetensors", NULL));
    return 1;
  }
  test_write_file();
  test_write_refusals();
  test_write_dir();
  test_bad_sets();
  test_release();
  st_rmtree(scratch);
  return TEST_DONE();
}
