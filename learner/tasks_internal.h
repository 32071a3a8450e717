/* tasks_internal.h: helpers shared by the files of the tasks module (tasks.c, tasks_text.c,
 * tasks_order.c, taskgen*.c); not part of the public API. */
#ifndef ZR_TASKS_INTERNAL_H
#define ZR_TASKS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

char *zr_strndup_(const char *s, size_t n);
/* FNV-1a with a key, finished with a 64-bit mixer. */
uint64_t zr_hash_bytes_(const void *p, size_t n, uint64_t key);
/* Reads a whole file ("-" = stdin) into a malloc'd, NUL-terminated buffer. */
int zr_read_all_(const char *path, char **buf, size_t *len);
/* Calls fn for each non-blank line of buf (without its "\n" or "\r\n"), with its 1-based
 * number; stops at the first nonzero return. A line over ZR_TASK_MAX_LINE bytes is -EINVAL
 * "WHAT:LINE: line: too long". */
int zr_jsonl_each_(const char *buf, size_t len, const char *what,
                   int (*fn)(const char *line, size_t len, long lineno, const char *what, void *ctx), void *ctx);

#endif
