/* ckpt.c: crash-safe checkpoints in RUN/checkpoints (see ckpt.h). */
#include "learner/ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "model/fileio.h"

#define CK_PATH 4096

static const char *const tokenizer_files[] = {"tokenizer.json",         "tokenizer_config.json",
                                              "generation_config.json", "special_tokens_map.json",
                                              "vocab.json",             "merges.txt"};

int64_t zr_ckpt_step_of(const char *path) {
  if (!path) return -1;
  size_t n = strlen(path);
  while (n > 0 && path[n - 1] == '/') n--;
  size_t b = n;
  while (b > 0 && path[b - 1] != '/') b--;
  const char *s = path + b;
  size_t len = n - b;
  if (len < 6 || strncmp(s, "step-", 5) != 0) return -1;
  int64_t v = 0;
  for (size_t i = 5; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    if (v > (INT64_MAX - 9) / 10) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

static int fmt_path(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fmt_path(char *out, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, cap, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= cap) return zr_seterr(-ENAMETOOLONG, "ckpt: path too long (%s...)", out);
  return 0;
}

static int mkdir_p(const char *dir) {
  char p[CK_PATH];
  if (zr_strlcpy(p, dir, sizeof p) >= sizeof p) return zr_seterr(-ENAMETOOLONG, "ckpt: path too long: %s", dir);
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    if (mkdir(p, 0755) != 0 && errno != EEXIST) return zr_seterr(-errno, "ckpt: mkdir %s: %s", p, strerror(errno));
    *s = '/';
  }
  if (mkdir(p, 0755) != 0 && errno != EEXIST) return zr_seterr(-errno, "ckpt: mkdir %s: %s", p, strerror(errno));
  return 0;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

static int rm_rf(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : zr_seterr(-errno, "ckpt: %s: %s", path, strerror(errno));
  if (nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS) != 0)
    return zr_seterr(-EIO, "ckpt: cannot remove %s: %s", path, strerror(errno));
  return 0;
}

static int fsync_path(const char *path, int dir) {
  int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0) return zr_seterr(-errno, "ckpt: open %s: %s", path, strerror(errno));
  int rc = 0;
  if (fsync(fd) != 0 && !(dir && (errno == EINVAL || errno == EBADF)))
    rc = zr_seterr(-errno, "ckpt: fsync %s: %s", path, strerror(errno));
  close(fd);
  return rc;
}

static int fsync_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)ftw;
  if (flag == FTW_F) return fsync_path(path, 0) < 0 ? -1 : 0;
  if (flag == FTW_DP || flag == FTW_D) return fsync_path(path, 1) < 0 ? -1 : 0;
  return 0;
}

/* fsyncs every file and directory under dir (depth first: dir itself last). */
static int fsync_tree(const char *dir) {
  if (nftw(dir, fsync_cb, 16, FTW_DEPTH | FTW_PHYS) != 0) {
    const char *m = zr_errmsg();
    return zr_seterr(-EIO, "ckpt: cannot sync %s%s%s", dir, *m ? ": " : "", m);
  }
  return 0;
}

static int copy_file(const char *src, const char *dst) {
  FILE *f = fopen(src, "rb");
  if (!f) return zr_seterr(-errno, "ckpt: open %s: %s", src, strerror(errno));
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  int rc = 0;
  while (buf) {
    if (n == cap) {
      char *b = realloc(buf, cap * 2);
      if (!b) break;
      buf = b;
      cap *= 2;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
  }
  if (!buf) rc = zr_seterr(-ENOMEM, "ckpt: out of memory copying %s", src);
  else if (ferror(f)) rc = zr_seterr(-EIO, "ckpt: read %s failed", src);
  else if (n == cap && !feof(f)) rc = zr_seterr(-ENOMEM, "ckpt: out of memory copying %s", src);
  fclose(f);
  if (rc == 0) {
    zr_file_piece p = {buf, n};
    rc = zr_file_write_atomic(dst, &p, 1);
  }
  free(buf);
  return rc;
}

typedef struct {
  int64_t step;
  char name[64];
} ck_entry;

static int cmp_entry(const void *a, const void *b) {
  int64_t x = ((const ck_entry *)a)->step, y = ((const ck_entry *)b)->step;
  return x < y ? -1 : x > y;
}

static int has_suffix(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && !strcmp(s + a - b, suf);
}

/* Lists the complete checkpoints of ck (sorted by step); with clean, removes .tmp/.del
 * leftovers. *out malloc'd (may be NULL when *n == 0). -ENOENT when ck does not exist. */
static int list_ckpts(const char *ck, int clean, ck_entry **out, size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  DIR *d = opendir(ck);
  if (!d) return errno == ENOENT ? -ENOENT : zr_seterr(-errno, "ckpt: opendir %s: %s", ck, strerror(errno));
  ck_entry *v = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    const char *nm = e->d_name;
    if (strncmp(nm, "step-", 5) != 0) continue;
    char path[CK_PATH];
    if (fmt_path(path, sizeof path, "%s/%s", ck, nm) < 0) continue;
    if (has_suffix(nm, ".tmp") || has_suffix(nm, ".del")) {
      if (clean) {
        ZR_WARN("ckpt", "removing leftover %s of an interrupted save", path);
        (void)rm_rf(path);
      }
      continue;
    }
    int64_t step = zr_ckpt_step_of(nm);
    if (step < 0 || strlen(nm) >= sizeof v->name) continue;
    struct stat st;
    char cfg[CK_PATH];
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (fmt_path(cfg, sizeof cfg, "%s/config.json", path) < 0 || access(cfg, F_OK) != 0) continue;
    if (n == cap) {
      size_t nc = cap ? 2 * cap : 16;
      ck_entry *nv = realloc(v, nc * sizeof *v);
      if (!nv) {
        rc = zr_seterr(-ENOMEM, "ckpt: out of memory");
        break;
      }
      v = nv;
      cap = nc;
    }
    v[n].step = step;
    zr_strlcpy(v[n].name, nm, sizeof v[n].name);
    n++;
  }
  closedir(d);
  if (rc < 0) {
    free(v);
    return rc;
  }
  if (n) qsort(v, n, sizeof *v, cmp_entry);
  *out = v;
  *n_out = n;
  return 0;
}

static int write_latest(const char *ck, const char *name) {
  char path[CK_PATH], line[80];
  int rc = fmt_path(path, sizeof path, "%s/%s", ck, ZR_CKPT_LATEST);
  if (rc < 0) return rc;
  int len = snprintf(line, sizeof line, "%s\n", name);
  zr_file_piece p = {line, (size_t)len};
  return zr_file_write_atomic(path, &p, 1);
}

/* Removes a complete checkpoint crash-safely: rename to .del, sync the directory, delete. */
static int remove_ckpt(const char *ck, const char *name) {
  char from[CK_PATH], to[CK_PATH];
  int rc = fmt_path(from, sizeof from, "%s/%s", ck, name);
  if (rc == 0) rc = fmt_path(to, sizeof to, "%s/%s.del", ck, name);
  if (rc < 0) return rc;
  if (rename(from, to) != 0) return zr_seterr(-errno, "ckpt: rename %s: %s", from, strerror(errno));
  (void)fsync_path(ck, 1);
  return rm_rf(to);
}

int zr_ckpt_save_dtype(const char *run_dir, int64_t step, zr_tf *m, zr_dtype dtype,
                       const char *tokenizer_src_dir, zr_ckpt_extra_fn save_extra, void *user,
                       int keep_last, char *out_dir, size_t cap) {
  ZR_ASSERT(run_dir && m);
  if (step < 0) return zr_seterr(-EINVAL, "ckpt: step %" PRId64 " is negative", step);
  char ck[CK_PATH], name[64], tmp[CK_PATH], fin[CK_PATH];
  snprintf(name, sizeof name, "step-%09" PRId64, step);
  int rc = fmt_path(ck, sizeof ck, "%s/%s", run_dir, ZR_CKPT_SUBDIR);
  if (rc == 0) rc = fmt_path(tmp, sizeof tmp, "%s/%s.tmp", ck, name);
  if (rc == 0) rc = fmt_path(fin, sizeof fin, "%s/%s", ck, name);
  if (rc < 0) return rc;
  if (out_dir && cap) {
    if (zr_strlcpy(out_dir, fin, cap) >= cap)
      return zr_seterr(-ENAMETOOLONG, "ckpt: %s does not fit in %zu bytes", fin, cap);
  }
  if ((rc = mkdir_p(ck)) < 0) return rc;
  if ((rc = rm_rf(tmp)) < 0) return rc;
  if (mkdir(tmp, 0755) != 0) return zr_seterr(-errno, "ckpt: mkdir %s: %s", tmp, strerror(errno));

  rc = zr_tf_save(m, tmp, dtype, 0);
  if (rc == 0 && tokenizer_src_dir) {
    for (size_t i = 0; rc == 0 && i < sizeof tokenizer_files / sizeof *tokenizer_files; i++) {
      char src[CK_PATH], dst[CK_PATH];
      rc = fmt_path(src, sizeof src, "%s/%s", tokenizer_src_dir, tokenizer_files[i]);
      if (rc == 0) rc = fmt_path(dst, sizeof dst, "%s/%s", tmp, tokenizer_files[i]);
      if (rc == 0 && access(src, F_OK) == 0) rc = copy_file(src, dst);
    }
  }
  if (rc == 0 && save_extra) {
    zr_clearerr();
    rc = save_extra(user, tmp);
    if (rc < 0 && !*zr_errmsg()) rc = zr_seterr(rc, "ckpt: save_extra failed for %s", tmp);
    if (rc > 0) rc = -EIO;
  }
  if (rc == 0) rc = fsync_tree(tmp);
  if (rc < 0) {
    char msg[512];
    zr_strlcpy(msg, zr_errmsg(), sizeof msg);
    (void)rm_rf(tmp);
    return zr_seterr(rc, "%s", msg);
  }

  /* publish: an older step-N is swapped out atomically, never deleted first */
  struct stat st;
  if (lstat(fin, &st) == 0) {
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, fin, RENAME_EXCHANGE) != 0) {
      int e = errno;
      char del[CK_PATH];
      /* no RENAME_EXCHANGE on this file system: move the old one to .del first (a crash in
       * between leaves the older checkpoints; zr_ckpt_latest cleans up) */
      if ((e == EINVAL || e == ENOSYS || e == ENOTSUP) && fmt_path(del, sizeof del, "%s.del", fin) == 0 &&
          rename(fin, del) == 0) {
        if (rename(tmp, fin) != 0) {
          e = errno;
          (void)rename(del, fin);
          (void)rm_rf(tmp);
          return zr_seterr(-e, "ckpt: rename %s -> %s: %s", tmp, fin, strerror(e));
        }
        (void)fsync_path(ck, 1);
        (void)rm_rf(del);
      } else {
        (void)rm_rf(tmp);
        return zr_seterr(-e, "ckpt: cannot replace %s: %s", fin, strerror(e));
      }
    } else {
      (void)fsync_path(ck, 1);
      (void)rm_rf(tmp); /* now the old one */
    }
  } else if (rename(tmp, fin) != 0) {
    int e = errno;
    (void)rm_rf(tmp);
    return zr_seterr(-e, "ckpt: rename %s -> %s: %s", tmp, fin, strerror(e));
  }
  if ((rc = fsync_path(ck, 1)) < 0) return rc;
  if ((rc = write_latest(ck, name)) < 0) return rc;

  if (keep_last > 0) {
    ck_entry *v;
    size_t n;
    if (list_ckpts(ck, 0, &v, &n) == 0) {
      size_t excess = n > (size_t)keep_last ? n - (size_t)keep_last : 0;
      for (size_t i = 0; i < n && excess > 0; i++) {
        if (v[i].step == step) continue;
        if (remove_ckpt(ck, v[i].name) < 0) ZR_WARN("ckpt", "%s", zr_errmsg());
        excess--;
      }
      free(v);
    }
  }
  ZR_INFO("ckpt", "wrote %s", fin);
  return 0;
}

int zr_ckpt_save(const char *run_dir, int64_t step, zr_tf *m, const char *tokenizer_src_dir,
                 zr_ckpt_extra_fn save_extra, void *user, int keep_last, char *out_dir, size_t cap) {
  return zr_ckpt_save_dtype(run_dir, step, m, ZR_DT_F32, tokenizer_src_dir, save_extra, user, keep_last, out_dir,
                            cap);
}

int zr_ckpt_latest_step(const char *run_dir, int64_t *step, char *out_dir, size_t cap) {
  ZR_ASSERT(run_dir);
  char ck[CK_PATH];
  int rc = fmt_path(ck, sizeof ck, "%s/%s", run_dir, ZR_CKPT_SUBDIR);
  if (rc < 0) return rc;
  ck_entry *v;
  size_t n;
  rc = list_ckpts(ck, 1, &v, &n);
  if (rc == -ENOENT || (rc == 0 && n == 0)) {
    free(v);
    return zr_seterr(-ENOENT, "ckpt: no complete checkpoint in %s", ck);
  }
  if (rc < 0) return rc;
  const ck_entry *best = &v[n - 1];
  char path[CK_PATH];
  rc = fmt_path(path, sizeof path, "%s/%s", ck, best->name);
  if (rc == 0 && out_dir && cap && zr_strlcpy(out_dir, path, cap) >= cap)
    rc = zr_seterr(-ENAMETOOLONG, "ckpt: %s does not fit in %zu bytes", path, cap);
  if (rc == 0) {
    if (step) *step = best->step;
    /* repair `latest` if a crash left it stale or pointing at a removed directory */
    char lp[CK_PATH], buf[80] = {0};
    if (fmt_path(lp, sizeof lp, "%s/%s", ck, ZR_CKPT_LATEST) == 0) {
      FILE *f = fopen(lp, "r");
      if (f) {
        if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
        fclose(f);
      }
      buf[strcspn(buf, "\r\n")] = 0;
      if (strcmp(buf, best->name) != 0) (void)write_latest(ck, best->name);
    }
  }
  free(v);
  return rc;
}

int zr_ckpt_latest(const char *run_dir, char *out_dir, size_t cap) {
  return zr_ckpt_latest_step(run_dir, NULL, out_dir, cap);
}
