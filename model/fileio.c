/* fileio.c: atomic whole-file writes (fileio.h). */
#include "model/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    size_t chunk = len > ((size_t)1 << 30) ? ((size_t)1 << 30) : len;
    ssize_t w = write(fd, p, chunk);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

static void sync_dir_of(const char *path) {
  char dir[PATH_MAX];
  const char *slash = strrchr(path, '/');
  if (!slash) {
    strcpy(dir, ".");
  } else if (slash == path) {
    strcpy(dir, "/");
  } else {
    size_t n = (size_t)(slash - path);
    if (n >= sizeof dir) return;
    memcpy(dir, path, n);
    dir[n] = '\0';
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)fsync(fd); /* best effort: some file systems refuse fsync on directories */
  close(fd);
}

int zr_file_write_atomic(const char *path, const zr_file_piece *pieces, size_t n) {
  char tmp[PATH_MAX];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= sizeof tmp)
    return zr_seterr(-ENAMETOOLONG, "%s: path too long", path);
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return zr_seterr(-e, "%s: cannot create a temporary file next to it: %s", path, strerror(e));
  }
  int rc = 0;
  const char *what = "write";
  if (fchmod(fd, 0644) != 0) {
    rc = -errno;
    what = "chmod";
  }
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (pieces[i].len) rc = write_all(fd, pieces[i].data, pieces[i].len);
  if (rc == 0 && fsync(fd) != 0) {
    rc = -errno;
    what = "fsync";
  }
  if (close(fd) != 0 && rc == 0) {
    rc = -errno;
    what = "close";
  }
  if (rc == 0 && rename(tmp, path) != 0) {
    rc = -errno;
    what = "rename";
  }
  if (rc < 0) {
    unlink(tmp);
    return zr_seterr(rc, "%s: %s failed: %s", path, what, strerror(-rc));
  }
  sync_dir_of(path);
  return 0;
}
