/* st_internal.h: what the safetensors files (safetensors.c, st_set.c, st_write.c) share and no
 * other module needs. Not part of the public API. */
#ifndef ZR_ST_INTERNAL_H
#define ZR_ST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "model/safetensors.h"

/* The reference implementation's MAX_HEADER_SIZE: longer headers are refused unread. */
#define ZR_ST_MAX_HEADER 100000000

/* Bytes of a tensor of dtype and shape: 0, or -EINVAL (negative dim) / -EOVERFLOW. */
int zr_st_nbytes(zr_dtype dt, int ndim, const int64_t *shape, size_t *out);

/* The name the file was opened or parsed under (its path for zr_st_open). */
const char *zr_st_file_name(const zr_st_file *f);

/* dir + "/" + name into out[cap]; -ENAMETOOLONG (with a message) when it does not fit. */
int zr_st_path_join(char *out, size_t cap, const char *dir, const char *name);

#endif
