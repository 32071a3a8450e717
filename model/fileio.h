/* fileio.h: writing whole files so that a crash never leaves a half-written one.
 *
 * zr_file_write_atomic writes the pieces to a temporary file next to path (same directory,
 * so the rename stays on one file system), fsyncs it, renames it over path and fsyncs the
 * directory. Readers see the old file or the new one, never a mix. On failure the temporary is
 * removed and path is untouched. The caller owns the pieces. */
#ifndef ZR_FILEIO_H
#define ZR_FILEIO_H

#include <stddef.h>

typedef struct {
  const void *data;
  size_t len;
} zr_file_piece;

/* 0, or a negative errno with a message naming path. The file gets mode 0644. */
int zr_file_write_atomic(const char *path, const zr_file_piece *pieces, size_t n);

#endif
