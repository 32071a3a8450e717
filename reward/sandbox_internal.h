/* sandbox_internal.h: the pieces of the sandbox launcher, private to reward/sandbox*.c.
 *
 * sandbox.c        the caller's side: pipes, clone, uid/gid maps, cgroup attach, the poll loop
 *                  that drains outputs and enforces the deadline, the verdict.
 * sandbox_ns.c     the jail's side: code that runs in the cloned init (mounts, pivot_root,
 *                  work files, reaping, collecting a file) and in the program's process before
 *                  execve (fds, session, rlimits, capabilities, no_new_privs, seccomp). It runs
 *                  after a raw clone in a possibly multi-threaded process: no malloc, no stdio,
 *                  no locks, only system calls and plain memory.
 * sandbox_seccomp.c the syscall allow-list, compiled once per process to a BPF program.
 * sandbox_cgroup.c  cgroup v2/v1 detection and the per-run cgroup.
 * sandbox_result.c  default limits, names, result JSON (public API, no private state).
 * sandbox_prog.c    compile once / run many for the languages of lang.h (public API).
 * sandbox_cli.c     the command line shared by `zerorl sandbox` and zerorl-sandbox.
 *
 * The jail's init reports to the caller through a status pipe with fixed-size records; the
 * program's process reports a failure before execve through the exec pipe, whose end of file
 * (close-on-exec) tells the caller the moment the program started. */
#ifndef ZR_SANDBOX_INTERNAL_H
#define ZR_SANDBOX_INTERNAL_H

#include <linux/filter.h>
#include <stdint.h>
#include <sys/types.h>

#include "reward/sandbox.h"

#define ZR_SBX_UID 1000 /* the program's uid and gid inside the jail */
#define ZR_SBX_REC_MAGIC 0x7a72736bu

enum { ZR_SBX_REC_SETUP_ERR = 1, ZR_SBX_REC_EXEC_ERR = 2, ZR_SBX_REC_EXIT = 3 };

/* One record from the jail; written with a single write() (< PIPE_BUF, so atomic). */
typedef struct {
  uint32_t magic;
  uint32_t kind;
  int32_t err;     /* errno of the failed step */
  int32_t wstatus; /* REC_EXIT: the program's wait status */
  int64_t utime_us, stime_us, maxrss_kb;
  int64_t collected; /* REC_EXIT: bytes of spec.collect sent through the collect pipe, -1 none */
  char what[64];     /* the failed step */
  char detail[160];  /* its argument (a path) */
} zr_sbx_record;

/* Everything the jail's side needs, prepared by the caller before clone (the child reads its
 * copy; nothing in it is allocated after the clone). */
typedef struct {
  const zr_sandbox_spec *spec;
  int sync_r;    /* init reads "g" (maps written) then "c" (cgroup joined) */
  int status_w;  /* init's records */
  int exec_w;    /* the program's pre-exec failure record; EOF = execve happened */
  int collect_w; /* spec.collect's bytes, -1 if none */
  int out_w, err_w;
  int result_w; /* -1 if spec.result_cap == 0 */
  int max_fd;   /* the highest fd number among the above and spec.pass_fds */
  int privileged; /* the caller is root: drop supplementary groups in the jail */
  int mount_proc;
  const struct sock_fprog *filter; /* NULL: no seccomp */
  uint64_t as_bytes, stack_bytes, fsize_bytes;
  uint32_t cpu_s, cpu_ms, nofile, nproc;
  size_t collect_cap;
  char collect_name[128]; /* spec.collect, copied (the spec may point into memory init wipes) */
  const int *cgroup_self_fds; /* v1: init writes "0" to each to join the run's cgroups */
  int n_cgroup_self_fds;
  char work_opts[96];  /* tmpfs options of /work */
  char stdin_path[32]; /* where init stages stdin before handing it over as fd 0 */
  uintptr_t scrub_start, scrub_end; /* the caller's argv+environ strings, wiped in init */
  const char *const *envp;
  int last_cap;
} zr_sbx_child;

/* The jail's init: never returns. */
void zr_sbx_init_main(const zr_sbx_child *c) __attribute__((noreturn));

/* The seccomp program (built once per process). Returns 0 or a negative code with a message. */
int zr_sbx_seccomp_get(const struct sock_fprog **out);

/* ---- cgroups ---- */
typedef struct {
  int mode;            /* 0 none, 1 v1, 2 v2 */
  char dirs[3][256];   /* v1: memory, pids, cpu (cpu may be empty); v2: dirs[0] only */
  int n_dirs;
  /* v1: each dir's "tasks" file, opened by the caller: the jail's init writes "0" to move
   * itself, which skips the global lock (and its RCU grace period, ~10 ms here) that moving
   * another process by pid takes; the kernel checks the opener's credentials. -1 if unused. */
  int self_fds[3];
  int n_self_fds;
} zr_sbx_cgroup;

typedef struct {
  uint64_t memory_peak;
  uint64_t oom_kills;
  uint64_t pids_max_hits;
} zr_sbx_cgroup_stats;

/* Probes once: returns 0 none, 1 v1, 2 v2; *why explains "none". */
int zr_sbx_cgroup_probe(const char **why);
/* Creates the per-run group with the limits (and, for v1, opens its self_fds). Returns 0, or
 * negative (cg->mode = 0). */
int zr_sbx_cgroup_create(zr_sbx_cgroup *cg, const zr_sandbox_limits *lim);
/* Moves pid into the group (v2; v1 groups are joined by the jail itself through self_fds). */
int zr_sbx_cgroup_attach(const zr_sbx_cgroup *cg, pid_t pid);
void zr_sbx_cgroup_stats_read(const zr_sbx_cgroup *cg, zr_sbx_cgroup_stats *st);
void zr_sbx_cgroup_destroy(zr_sbx_cgroup *cg);

#endif
