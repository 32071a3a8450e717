/* test_ckpt.c: checkpoints in a run directory: save / latest / keep_last, the saved directory
 * loads as a model equal to the original, and crashes at any point (simulated by the
 * leftovers they would leave) fall back to the newest complete checkpoint. */
#include <errno.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation" /* test paths are short */
#endif
#include <ftw.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "learner/ckpt.h"
#include "model/backend.h"
#include "model/transformer.h"
#include "tests/test.h"

static zr_tf *model(zr_backend *be, uint64_t seed) {
  zr_model_config c = {0};
  c.arch = ZR_ARCH_QWEN2;
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 8;
  c.intermediate_size = 64;
  c.max_position_embeddings = 128;
  c.rope_theta = 1e6;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = true;
  c.attention_bias = true;
  c.bos_token_id = -1;
  c.torch_dtype = ZR_DT_F32;
  zr_tf *m = NULL;
  if (zr_tf_new(&m, &c, be) != 0) {
    fprintf(stderr, "zr_tf_new: %s\n", zr_errmsg());
    exit(1);
  }
  CHECK_INT(zr_tf_init_random(m, seed, 0.3f), 0);
  return m;
}

static bool same_params(zr_tf *a, zr_tf *b, bool bf16) {
  if (zr_tf_n_tensors(a) != zr_tf_n_tensors(b)) return false;
  bool ok = true;
  for (size_t i = 0; ok && i < zr_tf_n_tensors(a); i++) {
    const zr_tf_tensor *t = zr_tf_tensor_at(a, i);
    float *x = malloc(t->numel * sizeof(float)), *y = malloc(t->numel * sizeof(float));
    ok = zr_tf_get_tensor(a, t->name, x, t->numel) == 0 && zr_tf_get_tensor(b, t->name, y, t->numel) == 0;
    for (size_t j = 0; ok && j < t->numel; j++)
      ok = bf16 ? fabsf(x[j] - y[j]) <= fabsf(x[j]) / 256 : x[j] == y[j];
    free(x);
    free(y);
  }
  return ok;
}

static bool exists(const char *dir, const char *name) {
  char p[4096];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return access(p, F_OK) == 0;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

static char *read_text(const char *path) {
  static char buf[256];
  buf[0] = 0;
  FILE *f = fopen(path, "r");
  if (!f) return buf;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}
static void rm_rf(const char *p) { nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static int count_entries(const char *dir) {
  int n = 0;
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "%s", dir);
  struct stat st;
  if (stat(cmd, &st) != 0) return -1;
  FILE *f;
  snprintf(cmd, sizeof cmd, "ls -1 '%s' | wc -l", dir);
  f = popen(cmd, "r");
  if (f) {
    if (fscanf(f, "%d", &n) != 1) n = -1;
    pclose(f);
  }
  return n;
}

typedef struct {
  int calls;
  int fail;
  int64_t step;
} extra_ctx;

static int save_extra(void *user, const char *dir) {
  extra_ctx *x = user;
  x->calls++;
  char p[4096], text[128];
  snprintf(p, sizeof p, "%s/trainer_state.json", dir);
  snprintf(text, sizeof text, "{\"step\": %lld, \"version\": %lld}\n", (long long)x->step, (long long)x->step);
  write_file(p, text);
  if (x->fail) return zr_seterr(-EIO, "save_extra: simulated failure");
  return 0;
}

int main(void) {
  zr_backend *be = NULL;
  if (zr_backend_cpu_new(&be, 2) != 0) return 1;
  char root[] = "/tmp/zr-ckpt-XXXXXX";
  if (!mkdtemp(root)) return 1;
  char run[4096], tok[4096], ck[4096], path[4096], out[4096];
  snprintf(run, sizeof run, "%s/run", root); /* does not exist yet: created */
  snprintf(tok, sizeof tok, "%s/tok", root);
  snprintf(ck, sizeof ck, "%s/checkpoints", run);
  mkdir(tok, 0755);
  snprintf(path, sizeof path, "%s/tokenizer.json", tok);
  write_file(path, "{\"model\": {\"type\": \"BPE\"}}\n");
  snprintf(path, sizeof path, "%s/tokenizer_config.json", tok);
  write_file(path, "{\"eos_token\": \"<|endoftext|>\"}\n");

  CHECK_INT(zr_ckpt_step_of("/a/b/step-000000123"), 123);
  CHECK_INT(zr_ckpt_step_of("step-7/"), 7);
  CHECK_INT(zr_ckpt_step_of("step-000000123.tmp"), -1);
  CHECK_INT(zr_ckpt_step_of("step-"), -1);
  CHECK_INT(zr_ckpt_step_of("latest"), -1);

  CHECK_INT(zr_ckpt_latest(run, out, sizeof out), -ENOENT); /* no run dir */

  zr_tf *m5 = model(be, 5), *m10 = model(be, 10), *m15 = model(be, 15), *m20 = model(be, 20);
  extra_ctx x = {0};
  x.step = 5;
  CHECK_INT(zr_ckpt_save(run, 5, m5, tok, save_extra, &x, 2, out, sizeof out), 0);
  CHECK_INT(x.calls, 1);
  snprintf(path, sizeof path, "%s/step-000000005", ck);
  CHECK_STR(out, path);
  CHECK(exists(out, "config.json"));
  CHECK(exists(out, "model.safetensors"));
  CHECK(exists(out, "tokenizer.json"));
  CHECK(exists(out, "tokenizer_config.json"));
  CHECK(!exists(out, "generation_config.json"));
  CHECK(exists(out, "trainer_state.json"));
  snprintf(path, sizeof path, "%s/latest", ck);
  CHECK_STR(read_text(path), "step-000000005\n");
  char got[4096];
  int64_t step = -1;
  CHECK_INT(zr_ckpt_latest_step(run, &step, got, sizeof got), 0);
  CHECK_STR(got, out);
  CHECK_INT(step, 5);
  zr_tf *l = NULL;
  CHECK_INT(zr_tf_load(&l, out, be), 0);
  CHECK(l && same_params(m5, l, false));
  zr_tf_free(&l);
  char small[8];
  CHECK_INT(zr_ckpt_latest(run, small, sizeof small), -ENAMETOOLONG);

  /* keep_last 2 */
  x.step = 10;
  CHECK_INT(zr_ckpt_save(run, 10, m10, tok, save_extra, &x, 2, NULL, 0), 0);
  x.step = 15;
  CHECK_INT(zr_ckpt_save(run, 15, m15, NULL, save_extra, &x, 2, NULL, 0), 0);
  x.step = 20;
  CHECK_INT(zr_ckpt_save(run, 20, m20, tok, NULL, NULL, 2, out, sizeof out), 0);
  CHECK(!exists(ck, "step-000000005") && !exists(ck, "step-000000010"));
  CHECK(exists(ck, "step-000000015") && exists(ck, "step-000000020"));
  CHECK_INT(count_entries(ck), 3); /* two checkpoints and latest */
  CHECK_INT(zr_ckpt_latest_step(run, &step, got, sizeof got), 0);
  CHECK_INT(step, 20);
  CHECK_STR(got, out);
  CHECK_STR(read_text(path), "step-000000020\n");

  /* a failing save_extra: abandoned, nothing left behind, latest unchanged */
  x.fail = 1;
  x.step = 25;
  CHECK_INT(zr_ckpt_save(run, 25, m5, tok, save_extra, &x, 2, NULL, 0), -EIO);
  CHECK_CONTAINS(zr_errmsg(), "simulated");
  x.fail = 0;
  CHECK(!exists(ck, "step-000000025") && !exists(ck, "step-000000025.tmp"));
  CHECK_INT(count_entries(ck), 3);
  CHECK_STR(read_text(path), "step-000000020\n");

  /* crash leftovers: a half-written .tmp (crash before the rename), a half-removed .del
   * (crash while pruning), a directory without config.json; latest naming a removed dir */
  snprintf(got, sizeof got, "%s/step-000000030.tmp", ck);
  mkdir(got, 0755);
  snprintf(got, sizeof got, "%s/step-000000030.tmp/model.safetensors", ck);
  write_file(got, "partial");
  snprintf(got, sizeof got, "%s/step-000000010.del", ck);
  mkdir(got, 0755);
  snprintf(got, sizeof got, "%s/step-000000040", ck);
  mkdir(got, 0755);
  write_file(path, "step-000000099\n");
  CHECK_INT(zr_ckpt_latest_step(run, &step, got, sizeof got), 0);
  CHECK_INT(step, 20);
  CHECK(!exists(ck, "step-000000030.tmp"));
  CHECK(!exists(ck, "step-000000010.del"));
  CHECK_STR(read_text(path), "step-000000020\n"); /* repaired */
  snprintf(got, sizeof got, "%s/step-000000040", ck);
  rmdir(got);

  /* the newest removed under latest's feet: fall back to the next complete one */
  rm_rf(out);
  CHECK_INT(zr_ckpt_latest_step(run, &step, got, sizeof got), 0);
  CHECK_INT(step, 15);
  CHECK_INT(zr_tf_load(&l, got, be), 0);
  CHECK(l && same_params(m15, l, false));
  zr_tf_free(&l);

  /* a crash after the rename but before latest was updated: the directory wins */
  x.step = 20;
  CHECK_INT(zr_ckpt_save(run, 20, m20, tok, save_extra, &x, 0, NULL, 0), 0);
  write_file(path, "step-000000015\n");
  CHECK_INT(zr_ckpt_latest_step(run, &step, NULL, 0), 0);
  CHECK_INT(step, 20);

  /* saving a step that already exists replaces it atomically */
  CHECK_INT(zr_ckpt_save(run, 15, m5, tok, save_extra, &x, 0, out, sizeof out), 0);
  CHECK_INT(zr_tf_load(&l, out, be), 0);
  CHECK(l && same_params(m5, l, false) && !same_params(m15, l, false));
  zr_tf_free(&l);
  CHECK(!exists(ck, "step-000000015.tmp"));
  CHECK_INT(count_entries(ck), 3);

  /* bf16 weights */
  CHECK_INT(zr_ckpt_save_dtype(run, 21, m10, ZR_DT_BF16, NULL, NULL, NULL, 2, out, sizeof out), 0);
  CHECK_INT(zr_tf_load(&l, out, be), 0);
  CHECK(l && same_params(m10, l, true));
  zr_tf_free(&l);
  CHECK(!exists(ck, "step-000000015") && exists(ck, "step-000000020") && exists(ck, "step-000000021"));
  CHECK_INT(zr_ckpt_save(run, -1, m10, NULL, NULL, NULL, 2, NULL, 0), -EINVAL);

  /* an empty checkpoints directory */
  char run2[4096];
  snprintf(run2, sizeof run2, "%s/run2/checkpoints", root);
  CHECK_INT(system((snprintf(got, sizeof got, "mkdir -p '%s'", run2), got)), 0);
  snprintf(run2, sizeof run2, "%s/run2", root);
  CHECK_INT(zr_ckpt_latest(run2, out, sizeof out), -ENOENT);
  CHECK_CONTAINS(zr_errmsg(), "no complete checkpoint");

  zr_tf_free(&m5);
  zr_tf_free(&m10);
  zr_tf_free(&m15);
  zr_tf_free(&m20);
  zr_backend_free(&be);
  rm_rf(root);
  return TEST_DONE();
}
