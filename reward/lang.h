/* lang.h: the languages the code sandbox can run, as one static table.
 *
 * An entry says how a program in that language becomes a process inside the sandbox: the file
 * name the source is written to in the work directory (/work), the compile command (compiled
 * languages, run inside the sandbox with their own limits) and the binary it leaves, the run
 * command, the host paths the sandbox must show read-only, the fence tags that name the language
 * in a model's answer (```python, ```cpp) and the stderr marker that means "out of memory" when
 * an address-space limit, rather than the cgroup, stopped the program.
 *
 * The table is static and read-only; lookups return pointers into it that never need freeing. */
#ifndef ZR_LANG_H
#define ZR_LANG_H

#include <stdint.h>

#define ZR_LANG_MAX_ARGS 16

typedef struct {
  const char *name;           /* "python3", "c", "cpp" */
  const char *const *aliases; /* fence tags and other names, lower case, NULL-terminated */
  const char *source_file;    /* the source's name in /work ("main.py") */
  const char *compile_argv[ZR_LANG_MAX_ARGS]; /* NULL-terminated; compile_argv[0] NULL if interpreted */
  const char *binary_file;    /* what the compiler leaves in /work ("main"); NULL if interpreted */
  const char *run_argv[ZR_LANG_MAX_ARGS];     /* NULL-terminated */
  const char *const *ro_paths; /* host paths the run needs (besides the base set), NULL-terminated */
  const char *oom_marker;     /* stderr text that means memory exhaustion ("MemoryError") or NULL */
  /* limits of the compile step (compiled languages) */
  uint32_t compile_cpu_ms, compile_memory_mb, compile_procs, compile_tmpfs_mb;
} zr_lang;

/* The base set every sandbox shows read-only: /usr and the merged-/usr links (/bin, /lib, /lib64,
 * /sbin) and the dynamic linker cache. NULL-terminated. */
extern const char *const zr_lang_base_paths[];

/* Finds a language by name or alias, case-insensitively ("Python", "py", "c++", "cc").
 * NULL if unknown (not an error: callers decide). */
const zr_lang *zr_lang_find(const char *name);

/* The i-th table entry, or NULL past the end (for listings). */
const zr_lang *zr_lang_at(int i);

/* 1 if the language compiles before it runs. */
int zr_lang_is_compiled(const zr_lang *lang);

#endif
