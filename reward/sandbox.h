/* sandbox.h: run an untrusted program in a throw-away jail and report what happened.
 *
 * zr_sandbox_run() starts the program as the grandchild of the caller inside fresh user, pid,
 * network, mount, ipc, uts and cgroup namespaces. The launcher's own first child is the pid
 * namespace's init: it builds the filesystem view (a read-only tmpfs root holding read-only bind
 * mounts of /usr, the merged-/usr links, the dynamic-linker cache and whatever else the spec
 * names; a private /proc; a /dev with null, zero, full, random and urandom; a size-capped tmpfs
 * work directory /work, also reachable as /tmp), forks the program and reaps everything.
 * The program runs as an unprivileged uid (1000 inside, nobody on the host when the caller is
 * root), in its own session (no controlling terminal), with PR_SET_NO_NEW_PRIVS, an empty
 * capability set, rlimits (CPU, address space, processes, file size, open files, stack, no
 * core dumps) and a seccomp-bpf allow-list (no ptrace, mount, namespaces, keyring, bpf, perf,
 * TIOCSTI, sockets other than AF_UNIX, ...). The network namespace is empty (loopback down).
 * Memory, process-count and (optional) CPU-share limits come from a per-run cgroup (v2, or v1
 * memory/pids/cpu hierarchies) that the jail's init joins before anything runs; when neither is
 * usable the launcher logs it once, falls back on rlimits and says so in every result
 * (cgroup = "none"). CPU time is cut at the exact limit by a CPU-time timer (SIGPROF) and, if
 * the program catches that, by RLIMIT_CPU at the next whole second.
 *
 * The jail's init is a copy of the caller's memory: it is not dumpable (nothing in the jail can
 * read /proc/1/mem or /proc/1/environ) and it wipes the caller's argv and environment strings,
 * which /proc/1/cmdline would show, before the program starts.
 *
 * The caller keeps a wall-clock deadline: when it passes, or stdout/stderr exceed their caps,
 * the launcher SIGKILLs the namespace's init, which takes every process in the jail with it.
 * When the program exits, init exits too, so orphans it left behind die at once.
 *
 * Ownership: the spec and everything it points to belong to the caller and are only read,
 * except spec.pass_fds, which zr_sandbox_run_group() closes once the jails hold them.
 * Results own their buffers (stdout, stderr, result channel, collected file); release them
 * with zr_sandbox_result_release(). Calls are thread-safe: many threads may run sandboxes at
 * the same time (the child side uses raw clone and no allocation, so it is fork-safe).
 *
 * Nothing the program writes is trusted: outputs arrive through pipes the launcher reads with
 * caps; a file it leaves behind (spec.collect, e.g. a compiled binary) is read by the jail's
 * init, inside the jail's view, with O_NOFOLLOW and a regular-file and size check, so a planted
 * symlink cannot make the launcher read a host file. */
#ifndef ZR_SANDBOX_H
#define ZR_SANDBOX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "reward/lang.h"

typedef enum {
  ZR_SANDBOX_OK = 0,         /* exited with status 0 within every limit */
  ZR_SANDBOX_RUNTIME_ERROR,  /* non-zero exit code or killed by a signal */
  ZR_SANDBOX_TIMEOUT,        /* CPU time or wall-clock limit (see limits_hit) */
  ZR_SANDBOX_MEMORY_LIMIT,   /* cgroup OOM kill, or the language's out-of-memory error */
  ZR_SANDBOX_OUTPUT_LIMIT,   /* stdout/stderr/result channel over its cap, or file size limit */
  ZR_SANDBOX_COMPILE_ERROR,  /* the compile step failed (zr_sandbox_prog_build only) */
  ZR_SANDBOX_SANDBOX_ERROR,  /* the jail could not be built or the program could not start */
  ZR_SANDBOX_KILLED,         /* stopped by the launcher because its group's primary ended */
} zr_sandbox_status;

/* limits_hit bits */
enum {
  ZR_LIMIT_CPU = 1 << 0,
  ZR_LIMIT_WALL = 1 << 1,
  ZR_LIMIT_MEMORY = 1 << 2,
  ZR_LIMIT_STDOUT = 1 << 3,
  ZR_LIMIT_STDERR = 1 << 4,
  ZR_LIMIT_RESULT = 1 << 5,
  ZR_LIMIT_FSIZE = 1 << 6,
  ZR_LIMIT_PROCS = 1 << 7,
};

typedef struct {
  uint32_t cpu_ms;      /* CPU time of the program (RLIMIT_CPU in whole seconds, checked in ms) */
  uint32_t wall_ms;     /* wall clock from start to the end of the jail; 0 = 2 * cpu_ms + 1000 */
  uint32_t memory_mb;   /* cgroup memory limit (RAM, no swap) */
  uint32_t as_mb;       /* RLIMIT_AS; 0 = memory_mb without a cgroup, 2 * memory_mb + 256 with one */
  uint32_t max_procs;   /* cgroup pids.max and RLIMIT_NPROC (processes and threads) */
  uint32_t fsize_mb;    /* RLIMIT_FSIZE */
  uint32_t nofile;      /* RLIMIT_NOFILE */
  uint32_t stack_mb;    /* RLIMIT_STACK */
  uint32_t tmpfs_mb;    /* size of /work (files written by the spec count too) */
  uint32_t cpus;        /* CPU-share cap in whole CPUs (cgroup cpu quota); 0 = no cap (the default:
                           a cpu cgroup costs ~10 ms per run here; RLIMIT_CPU counts all threads) */
  size_t stdout_cap;    /* bytes kept; more is an output limit */
  size_t stderr_cap;
} zr_sandbox_limits;

typedef struct {
  const char *name; /* plain file name inside /work: no '/', not "." or ".." */
  const void *data;
  size_t len;
  uint32_t mode; /* 0 = 0644 */
} zr_sandbox_file;

enum {
  ZR_SANDBOX_CGROUP_AUTO = 0, /* use cgroups when available ($ZERORL_SANDBOX_CGROUP=none turns them off) */
  ZR_SANDBOX_CGROUP_NONE = 1, /* run with rlimits only */
};

/* spec.flags */
enum {
  ZR_SANDBOX_NO_PROC = 1 << 0,    /* do not mount /proc */
  ZR_SANDBOX_NO_SECCOMP = 1 << 1, /* tests only: leave the syscall filter off to probe the other layers */
};

typedef struct {
  const char *const *argv;     /* argv[0]: absolute path inside the jail; NULL-terminated */
  const char *const *envp;     /* NULL = PATH, HOME=/work, TMPDIR=/work, LANG/LC_ALL=C.UTF-8 */
  const char *const *ro_paths; /* extra host paths shown read-only at the same place; NULL-terminated
                                  (the base set zr_lang_base_paths is always shown) */
  const zr_sandbox_file *files; /* written into /work before the program starts */
  int n_files;
  const char *stdin_data; /* the program's stdin (a file, seekable); NULL = empty */
  size_t stdin_len;
  const char *collect;  /* a file in /work to return after the run (e.g. the compiled binary) */
  size_t collect_cap;   /* 0 = 64 MiB */
  size_t result_cap;    /* > 0: fd 3 in the jail is a pipe captured into result (a harness channel) */
  const int *pass_fds;  /* caller's fds that become fds 4, 5, ... in the jail (pipes between jails);
                           closed by the launcher once the jails hold them */
  int n_pass_fds;
  const char *oom_marker; /* stderr text meaning "out of memory" (lang->oom_marker) */
  int cgroup;             /* ZR_SANDBOX_CGROUP_* */
  unsigned flags;         /* ZR_SANDBOX_NO_* */
  zr_sandbox_limits limits;
} zr_sandbox_spec;

typedef struct {
  zr_sandbox_status status;
  unsigned limits_hit; /* ZR_LIMIT_* bits: which limits stopped or constrained the run */
  int exit_code;       /* when it exited; -1 otherwise */
  int signal;          /* the signal that killed it; 0 if none */
  double wall_ms;      /* start of the launch to the end of the jail */
  double setup_ms;     /* start of the launch until the program's execve */
  double cpu_ms;       /* user + system CPU of the program and the children it waited for */
  uint64_t memory_peak; /* bytes: cgroup peak when available, else the program's max RSS */
  char *out;            /* stdout, NUL-terminated (out_len bytes before the NUL) */
  size_t out_len;
  char *err;
  size_t err_len;
  char *result; /* the fd-3 channel (spec.result_cap > 0) */
  size_t result_len;
  unsigned char *collected; /* spec.collect's bytes; NULL if it was absent or refused */
  size_t collected_len;
  const char *cgroup_mode; /* "v2", "v1" or "none": which limits backed this run (static string) */
  char message[256];       /* a human summary: the sandbox error, the signal, the limit hit */
} zr_sandbox_result;

/* Defaults: 5 s CPU, wall 2 * CPU + 1 s, 512 MiB, 64 processes, 16 MiB files, 64 open files,
 * 64 MiB stack, 64 MiB /work, no CPU-share cap, 1 MiB stdout, 64 KiB stderr. */
void zr_sandbox_limits_init(zr_sandbox_limits *lim);
/* Zeroes the spec and sets default limits. */
void zr_sandbox_spec_init(zr_sandbox_spec *spec);

/* Runs one program to the end. Returns 0 when the run happened (whatever the program did:
 * see out->status) and a negative code with zr_errmsg() when the jail could not be built
 * (out->status = ZR_SANDBOX_SANDBOX_ERROR and out->message say why). *out is always
 * initialised; release it either way. */
int zr_sandbox_run(const zr_sandbox_spec *spec, zr_sandbox_result *out);

/* Runs n jails at the same time (jails joined by pipes given in pass_fds). When primary >= 0,
 * the end of jail `primary` kills the others (status ZR_SANDBOX_KILLED if they were still
 * running). Returns 0, or the first negative code of a jail that could not be built (the others
 * are then killed). Every outs[i] is initialised. */
int zr_sandbox_run_group(const zr_sandbox_spec *specs, int n, zr_sandbox_result *outs, int primary);

void zr_sandbox_result_release(zr_sandbox_result *r);

/* "ok", "runtime_error", "timeout", "memory_limit", "output_limit", "compile_error",
 * "sandbox_error", "killed". */
const char *zr_sandbox_status_name(zr_sandbox_status s);

/* The run as one JSON object: status, exit_code, signal, limits_hit (names), wall_ms, setup_ms,
 * cpu_ms, memory_peak_mb, stdout_bytes, stderr_bytes, cgroup, limits, message. Caller owns it. */
json_t *zr_sandbox_result_json(const zr_sandbox_result *r, const zr_sandbox_limits *lim);

/* Which cgroup support this process found ("v2", "v1", "none") and, for "none", why. The probe
 * runs once per process; the first call logs a warning when it finds none. */
const char *zr_sandbox_cgroup_mode(const char **why);

/* ---- programs in a language (lang.h): compile once, run many times ---------------------- */

/* A program ready to run: the source for an interpreted language; the binary the compiler left
 * (built inside a jail) for a compiled one. Owns its buffers. */
typedef struct {
  const zr_lang *lang;
  char *source;
  size_t source_len;
  unsigned char *binary;
  size_t binary_len;
} zr_sandbox_prog;

/* Prepares prog from source. For compiled languages the compiler runs in a jail with the
 * language's compile limits; compile_out (may be NULL) receives that run, with status
 * ZR_SANDBOX_COMPILE_ERROR when the compiler failed or left no binary. Returns 0 when prog is
 * ready, 1 when the source did not compile (not an error), negative on sandbox failure. */
int zr_sandbox_prog_build(zr_sandbox_prog *prog, const zr_lang *lang, const char *source, size_t len,
                          zr_sandbox_result *compile_out);

/* Runs a prepared program with stdin and limits. Returns like zr_sandbox_run. The language's
 * oom marker and read-only paths are applied. */
int zr_sandbox_prog_run(const zr_sandbox_prog *prog, const char *stdin_data, size_t stdin_len,
                        const zr_sandbox_limits *lim, zr_sandbox_result *out);

/* Fills spec (zr_sandbox_spec_init'ed here) to run prog, for callers that run several jails at
 * once with zr_sandbox_run_group; spec points into prog, stdin_data, lim and *file, which must
 * outlive the run. Returns 0 or -EINVAL (a compiled language without a binary). */
int zr_sandbox_prog_spec(const zr_sandbox_prog *prog, const char *stdin_data, size_t stdin_len,
                         const zr_sandbox_limits *lim, zr_sandbox_spec *spec, zr_sandbox_file *file);

void zr_sandbox_prog_release(zr_sandbox_prog *prog);

/* ---- the command line: `zerorl sandbox ...` and the zerorl-sandbox program --------------- */

/* argv[0] is the command's name ("sandbox" or "zerorl-sandbox"); prog is how usage names it.
 * Returns the exit status: 0 the program ran and exited 0, 1 any other outcome, 2 usage. */
int zr_sandbox_cli(int argc, char **argv, const char *prog);

#endif
