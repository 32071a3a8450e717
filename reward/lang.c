/* lang.c: the language table (see lang.h). */
#include "reward/lang.h"

#include <stddef.h>
#include <strings.h>

const char *const zr_lang_base_paths[] = {"/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc/ld.so.cache", NULL};

/* Python runs isolated (-I: no PYTHON* variables, no user site, no script directory on sys.path)
 * and without site (-S): site would pull host-specific .pth hooks and dist-packages into the
 * sandbox and costs ~5 ms per start. Without site the exit()/quit() builtins are missing, and
 * model-written programs use them, so a few lines put them back and then run main.py as
 * __main__ (the traceback gains one "<string>" frame). */
#define ZR_PY_BOOT                                                        \
  "import sys,builtins as _b\n"                                           \
  "class _Q:\n"                                                           \
  " def __init__(s,n):s.name=n\n"                                         \
  " def __repr__(s):return 'Use %s() or Ctrl-D (i.e. EOF) to exit'%s.name\n" \
  " def __call__(s,code=None):\n"                                         \
  "  import sys\n"                                                        \
  "  try:sys.stdin.close()\n"                                             \
  "  except BaseException:pass\n"                                         \
  "  raise SystemExit(code)\n"                                            \
  "_b.exit=_Q('exit');_b.quit=_Q('quit')\n"                               \
  "sys.argv[:]=sys.argv[1:]\n"                                            \
  "__file__=sys.argv[0]\n"                                                \
  "del _b,_Q,sys\n"                                                       \
  "exec(compile(open(__file__,'rb').read(),__file__,'exec'))\n"

static const char *const py_aliases[] = {"python", "py", "python3", "py3", NULL};
static const char *const c_aliases[] = {"c", "gcc", NULL};
static const char *const cpp_aliases[] = {"cpp", "c++", "cc", "cxx", "g++", NULL};
static const char *const no_paths[] = {NULL};

static const zr_lang langs[] = {
    {
        .name = "python3",
        .aliases = py_aliases,
        .source_file = "main.py",
        .compile_argv = {NULL},
        .binary_file = NULL,
        .run_argv = {"/usr/bin/python3", "-I", "-S", "-B", "-c", ZR_PY_BOOT, "main.py", NULL},
        .ro_paths = no_paths,
        .oom_marker = "MemoryError",
    },
    {
        .name = "c",
        .aliases = c_aliases,
        .source_file = "main.c",
        .compile_argv = {"/usr/bin/gcc", "-std=gnu17", "-O2", "-pipe", "-o", "main", "main.c", "-lm", NULL},
        .binary_file = "main",
        .run_argv = {"/work/main", NULL},
        .ro_paths = no_paths,
        .oom_marker = NULL,
        .compile_cpu_ms = 20000,
        .compile_memory_mb = 1024,
        .compile_procs = 32,
        .compile_tmpfs_mb = 128,
    },
    {
        .name = "cpp",
        .aliases = cpp_aliases,
        .source_file = "main.cpp",
        .compile_argv = {"/usr/bin/g++", "-std=gnu++17", "-O2", "-pipe", "-o", "main", "main.cpp", NULL},
        .binary_file = "main",
        .run_argv = {"/work/main", NULL},
        .ro_paths = no_paths,
        .oom_marker = "std::bad_alloc",
        .compile_cpu_ms = 30000,
        .compile_memory_mb = 1536,
        .compile_procs = 32,
        .compile_tmpfs_mb = 128,
    },
};
#define N_LANGS ((int)(sizeof langs / sizeof langs[0]))

const zr_lang *zr_lang_find(const char *name) {
  if (!name) return NULL;
  for (int i = 0; i < N_LANGS; i++) {
    if (strcasecmp(name, langs[i].name) == 0) return &langs[i];
    for (const char *const *a = langs[i].aliases; *a; a++)
      if (strcasecmp(name, *a) == 0) return &langs[i];
  }
  return NULL;
}

const zr_lang *zr_lang_at(int i) { return i >= 0 && i < N_LANGS ? &langs[i] : NULL; }

int zr_lang_is_compiled(const zr_lang *lang) { return lang && lang->compile_argv[0] != NULL; }
