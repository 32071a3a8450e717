/* sandbox.c: the caller's side of the launcher (see sandbox.h and sandbox_internal.h): start
 * jails, drain their pipes, enforce deadlines and output caps, and turn what happened into a
 * status. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "reward/sandbox_internal.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

#define MAX_PASS_FDS 16
#define DRAIN_GRACE_MS 500 /* after init is reaped, how long to wait for pipes to reach EOF */

static const char *const default_env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/work", "TMPDIR=/work",
                                          "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "USER=sandbox", NULL};

/* ---- process-wide facts, computed once ---- */

static pthread_once_t facts_once = PTHREAD_ONCE_INIT;
static uintptr_t g_scrub_start, g_scrub_end;
static int g_last_cap = 40;

static void facts_init(void) {
  char buf[4096];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n > 0) {
      buf[n] = '\0';
      char *p = strrchr(buf, ')');
      unsigned long long v[64];
      int field = 2; /* ')' closes field 2 */
      char *save = NULL;
      for (char *tok = p ? strtok_r(p + 1, " ", &save) : NULL; tok && field < 51; tok = strtok_r(NULL, " ", &save)) {
        field++;
        if (field >= 48) v[field - 48] = strtoull(tok, NULL, 10);
      }
      if (field >= 51 && v[0] && v[3] > v[0]) {
        g_scrub_start = (uintptr_t)v[0]; /* arg_start */
        g_scrub_end = (uintptr_t)v[3];   /* env_end */
      }
    }
  }
  fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, buf, 15);
    close(fd);
    if (n > 0) {
      buf[n] = '\0';
      g_last_cap = atoi(buf);
    }
  }
}

const char *zr_sandbox_cgroup_mode(const char **why) {
  static const char *const names[] = {"none", "v1", "v2"};
  static atomic_int warned;
  int mode = zr_sbx_cgroup_probe(why);
  if (mode == 0 && atomic_exchange(&warned, 1) == 0) {
    const char *w;
    zr_sbx_cgroup_probe(&w);
    ZR_WARN("sandbox", "running WITHOUT cgroup memory/pids limits (%s); memory is capped by RLIMIT_AS and "
            "process count by RLIMIT_NPROC only", w);
  }
  return names[mode];
}

/* ---- one jail ---- */

typedef struct {
  char *data;
  size_t len, cap, limit; /* keep at most limit bytes; more sets over */
  int over;
} capbuf;

typedef struct {
  const zr_sandbox_spec *spec;
  zr_sandbox_result *out;
  zr_sbx_child child;
  zr_sbx_cgroup cg;
  zr_sandbox_limits lim;
  pid_t pid;
  int pidfd;
  int sync_w, status_r, exec_r, out_r, err_r, result_r, collect_r;
  capbuf bout, berr, bres, bcol;
  unsigned char rec_raw[sizeof(zr_sbx_record)];
  size_t rec_len;
  zr_sbx_record rec, exec_rec;
  int have_rec, have_exec_rec;
  unsigned char exec_raw[sizeof(zr_sbx_record)];
  size_t exec_len;
  uint64_t t_start, t_exec, t_end, deadline;
  int started, reaped, done;
  int init_status;
  unsigned kill_reason; /* ZR_LIMIT_WALL, ZR_LIMIT_STDOUT/STDERR/RESULT, or KILL_GROUP */
  int start_rc;
} jail;

#define KILL_GROUP (1u << 30)

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static int capbuf_add(capbuf *b, const char *src, size_t n) {
  if (b->len + n > b->limit) {
    n = b->limit > b->len ? b->limit - b->len : 0;
    b->over = 1;
  }
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) return -ENOMEM;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, src, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

static int valid_name(const char *name) {
  return name && name[0] && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
         strlen(name) < 128;
}

static int make_pipe(int fds[2], int parent_reads) {
  if (pipe2(fds, O_CLOEXEC) < 0) return -errno;
  int pfd = parent_reads ? fds[0] : fds[1];
  fcntl(pfd, F_SETFL, fcntl(pfd, F_GETFL) | O_NONBLOCK);
  return 0;
}

static int write_proc_file(pid_t pid, const char *name, const char *text) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/%s", (long)pid, name);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n = write(fd, text, strlen(text));
  int rc = n == (ssize_t)strlen(text) ? 0 : (n < 0 ? -errno : -EIO);
  close(fd);
  return rc;
}

static void jail_init(jail *j, const zr_sandbox_spec *spec, zr_sandbox_result *out) {
  memset(j, 0, sizeof *j);
  j->spec = spec;
  j->out = out;
  j->pidfd = j->sync_w = j->status_r = j->exec_r = j->out_r = j->err_r = j->result_r = j->collect_r = -1;
  j->pid = -1;
  memset(out, 0, sizeof *out);
  out->exit_code = -1;
  out->cgroup_mode = "none";
}

static int jail_fail(jail *j, int rc, const char *msg) {
  j->start_rc = rc;
  j->out->status = ZR_SANDBOX_SANDBOX_ERROR;
  zr_strlcpy(j->out->message, msg, sizeof j->out->message);
  return rc;
}

static int jail_start(jail *j) {
  const zr_sandbox_spec *s = j->spec;
  char msg[512];
  pthread_once(&facts_once, facts_init);
  if (!s->argv || !s->argv[0] || s->argv[0][0] != '/')
    return jail_fail(j, zr_seterr(-EINVAL, "sandbox: argv[0] must be an absolute path"), zr_errmsg());
  if (s->n_files < 0 || (s->n_files > 0 && !s->files) || s->n_pass_fds < 0 || s->n_pass_fds > MAX_PASS_FDS)
    return jail_fail(j, zr_seterr(-EINVAL, "sandbox: bad files or pass_fds count"), zr_errmsg());
  for (int i = 0; i < s->n_files; i++)
    if (!valid_name(s->files[i].name))
      return jail_fail(j, zr_seterr(-EINVAL, "sandbox: bad work file name '%s'", s->files[i].name ? s->files[i].name : "(null)"),
                       zr_errmsg());
  if (s->collect && !valid_name(s->collect))
    return jail_fail(j, zr_seterr(-EINVAL, "sandbox: bad collect name '%s'", s->collect), zr_errmsg());

  j->lim = s->limits;
  zr_sandbox_limits *lim = &j->lim;
  if (lim->cpu_ms == 0) lim->cpu_ms = 5000;
  if (lim->wall_ms == 0) lim->wall_ms = 2 * lim->cpu_ms + 1000;
  if (lim->memory_mb == 0) lim->memory_mb = 512;
  if (lim->max_procs == 0) lim->max_procs = 64;
  if (lim->nofile == 0) lim->nofile = 64;
  if (lim->stack_mb == 0) lim->stack_mb = 8;
  if (lim->tmpfs_mb == 0) lim->tmpfs_mb = 64;
  if (lim->stdout_cap == 0) lim->stdout_cap = 1 << 20;
  if (lim->stderr_cap == 0) lim->stderr_cap = 64 << 10;

  const struct sock_fprog *filter = NULL;
  if (!(s->flags & ZR_SANDBOX_NO_SECCOMP)) {
    int rc = zr_sbx_seccomp_get(&filter);
    if (rc < 0) return jail_fail(j, rc, zr_errmsg());
  }

  /* cgroup */
  if (s->cgroup != ZR_SANDBOX_CGROUP_NONE) {
    zr_sandbox_cgroup_mode(NULL);
    if (zr_sbx_cgroup_create(&j->cg, lim) < 0)
      zr_log_limited("sbx-cg", 60000, ZR_LOG_WARN, "sandbox", "running a jail without cgroup limits: %s", zr_errmsg());
  }
  j->out->cgroup_mode = j->cg.mode == 2 ? "v2" : j->cg.mode == 1 ? "v1" : "none";

  /* pipes: [0] read end, [1] write end */
  int p_sync[2] = {-1, -1}, p_status[2] = {-1, -1}, p_exec[2] = {-1, -1}, p_out[2] = {-1, -1}, p_err[2] = {-1, -1},
      p_res[2] = {-1, -1}, p_col[2] = {-1, -1};
  int rc = 0;
  if ((rc = make_pipe(p_sync, 0)) || (rc = make_pipe(p_status, 1)) || (rc = make_pipe(p_exec, 1)) ||
      (rc = make_pipe(p_out, 1)) || (rc = make_pipe(p_err, 1)) || (s->result_cap && (rc = make_pipe(p_res, 1))) ||
      (s->collect && (rc = make_pipe(p_col, 1)))) {
    int fds[] = {p_sync[0], p_sync[1], p_status[0], p_status[1], p_exec[0], p_exec[1], p_out[0],
                 p_out[1],  p_err[0],  p_err[1],    p_res[0],    p_res[1],    p_col[0], p_col[1]};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
      if (fds[i] >= 0) close(fds[i]);
    zr_sbx_cgroup_destroy(&j->cg);
    return jail_fail(j, zr_seterr(rc, "sandbox: pipe: %s", strerror(-rc)), zr_errmsg());
  }
  j->sync_w = p_sync[1];
  j->status_r = p_status[0];
  j->exec_r = p_exec[0];
  j->out_r = p_out[0];
  j->err_r = p_err[0];
  j->result_r = p_res[0];
  j->collect_r = p_col[0];
  j->bout.limit = lim->stdout_cap;
  j->berr.limit = lim->stderr_cap;
  j->bres.limit = s->result_cap;
  j->bcol.limit = s->collect_cap ? s->collect_cap : (size_t)64 << 20;

  zr_sbx_child *c = &j->child;
  c->spec = s;
  c->sync_r = p_sync[0];
  c->status_w = p_status[1];
  c->exec_w = p_exec[1];
  c->out_w = p_out[1];
  c->err_w = p_err[1];
  c->result_w = p_res[1];
  c->collect_w = p_col[1];
  int maxfd = 0;
  int all[] = {c->sync_r, c->status_w, c->exec_w, c->out_w, c->err_w, c->result_w, c->collect_w};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (all[i] > maxfd) maxfd = all[i];
  for (int i = 0; i < s->n_pass_fds; i++)
    if (s->pass_fds[i] > maxfd) maxfd = s->pass_fds[i];
  for (int i = 0; i < j->cg.n_self_fds; i++)
    if (j->cg.self_fds[i] > maxfd) maxfd = j->cg.self_fds[i];
  c->max_fd = maxfd;
  c->privileged = geteuid() == 0;
  c->mount_proc = !(s->flags & ZR_SANDBOX_NO_PROC);
  c->filter = filter;
  uint64_t as_mb = lim->as_mb ? lim->as_mb : (j->cg.mode ? 2ull * lim->memory_mb + 256 : lim->memory_mb);
  c->as_bytes = as_mb << 20;
  c->stack_bytes = (uint64_t)lim->stack_mb << 20;
  c->fsize_bytes = lim->fsize_mb ? (uint64_t)lim->fsize_mb << 20 : RLIM_INFINITY;
  c->cpu_s = (lim->cpu_ms + 999) / 1000;
  c->cpu_ms = lim->cpu_ms;
  c->nofile = lim->nofile;
  /* with a pids cgroup, it should be what stops a fork bomb (so the result can say so);
   * RLIMIT_NPROC stays as the backstop a little above it */
  c->nproc = j->cg.mode ? lim->max_procs + 16 : lim->max_procs;
  c->collect_cap = j->bcol.limit;
  if (s->collect) zr_strlcpy(c->collect_name, s->collect, sizeof c->collect_name);
  size_t extra = s->stdin_len;
  for (int i = 0; i < s->n_files; i++) extra += s->files[i].len + 4096;
  snprintf(c->work_opts, sizeof c->work_opts, "size=%lluk,nr_inodes=4096,mode=0755",
           (unsigned long long)lim->tmpfs_mb * 1024 + extra / 1024 + 64);
  snprintf(c->stdin_path, sizeof c->stdin_path, ".zr-stdin");
  c->scrub_start = g_scrub_start;
  c->scrub_end = g_scrub_end;
  c->envp = s->envp ? s->envp : default_env;
  c->last_cap = g_last_cap;
  c->cgroup_self_fds = j->cg.self_fds;
  c->n_cgroup_self_fds = j->cg.n_self_fds;

  j->t_start = zr_clock_mono_ns();
  j->deadline = j->t_start + (uint64_t)lim->wall_ms * 1000000ull;
  int pidfd = -1;
  unsigned long flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
                        CLONE_NEWCGROUP | CLONE_PIDFD;
  /* no exit signal: the jail's init is invisible to waitpid(-1) elsewhere in the process */
  long pid = syscall(SYS_clone, flags, NULL, &pidfd, NULL, 0);
  if (pid == 0) zr_sbx_init_main(c);
  int clone_errno = errno;
  close(p_sync[0]);
  close(p_status[1]);
  close(p_exec[1]);
  close(p_out[1]);
  close(p_err[1]);
  if (p_res[1] >= 0) close(p_res[1]);
  if (p_col[1] >= 0) close(p_col[1]);
  if (pid < 0) {
    zr_sbx_cgroup_destroy(&j->cg);
    snprintf(msg, sizeof msg, "sandbox: clone with new namespaces failed: %s (are unprivileged user namespaces enabled?)",
             strerror(clone_errno));
    return jail_fail(j, zr_seterr(-clone_errno, "%s", msg), msg);
  }
  j->pid = (pid_t)pid;
  j->pidfd = pidfd;
  j->started = 1;

  /* identity maps: uid/gid 1000 inside is nobody on the host when we are root, else us */
  char map[64];
  if (c->privileged) {
    snprintf(map, sizeof map, "%d 65534 1\n", ZR_SBX_UID);
    rc = write_proc_file(j->pid, "uid_map", map);
    if (rc == 0) rc = write_proc_file(j->pid, "gid_map", map);
  } else {
    snprintf(map, sizeof map, "%d %ld 1\n", ZR_SBX_UID, (long)geteuid());
    rc = write_proc_file(j->pid, "uid_map", map);
    if (rc == 0) rc = write_proc_file(j->pid, "setgroups", "deny");
    if (rc == 0) {
      snprintf(map, sizeof map, "%d %ld 1\n", ZR_SBX_UID, (long)getegid());
      rc = write_proc_file(j->pid, "gid_map", map);
    }
  }
  /* "g": the maps are written, build the jail; "c": the cgroup is joined, start the program */
  if (rc < 0) {
    snprintf(msg, sizeof msg, "sandbox: writing the jail's uid/gid map failed: %s", strerror(-rc));
    rc = zr_seterr(rc, "%s", msg);
  } else if (write(j->sync_w, "g", 1) != 1) {
    rc = zr_seterr(-errno, "sandbox: cannot start the jail: %s", strerror(errno));
    snprintf(msg, sizeof msg, "%s", zr_errmsg());
  } else if (j->cg.mode && zr_sbx_cgroup_attach(&j->cg, j->pid) < 0) {
    rc = -EIO;
    snprintf(msg, sizeof msg, "%s", zr_errmsg());
  } else if (write(j->sync_w, "c", 1) != 1) {
    rc = zr_seterr(-errno, "sandbox: cannot start the jail: %s", strerror(errno));
    snprintf(msg, sizeof msg, "%s", zr_errmsg());
  }
  if (rc < 0) {
    kill(j->pid, SIGKILL);
    return jail_fail(j, rc, msg);
  }
  return 0;
}

static void jail_kill(jail *j, unsigned reason) {
  if (!j->started || j->reaped) return;
  if (!j->kill_reason) j->kill_reason = reason;
  kill(j->pid, SIGKILL);
}

/* drains one pipe; returns 1 at EOF */
static int drain(jail *j, int *fd, capbuf *b, unsigned limit_bit) {
  char buf[65536];
  for (;;) {
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n > 0) {
      if (b && !b->over) {
        if (capbuf_add(b, buf, (size_t)n) < 0) {
          jail_kill(j, ZR_LIMIT_STDOUT);
          b->over = 1;
        }
        if (b->over && limit_bit) jail_kill(j, limit_bit);
      }
      continue;
    }
    if (n == 0) {
      close_fd(fd);
      return 1;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) close_fd(fd);
    return *fd < 0;
  }
}

static void drain_records(jail *j, int *fd, unsigned char *raw, size_t *len, zr_sbx_record *rec, int *have) {
  for (;;) {
    ssize_t n = read(*fd, raw + *len, sizeof(zr_sbx_record) - *len);
    if (n > 0) {
      *len += (size_t)n;
      if (*len == sizeof(zr_sbx_record)) {
        zr_sbx_record r;
        memcpy(&r, raw, sizeof r);
        if (r.magic == ZR_SBX_REC_MAGIC && !*have) {
          *rec = r;
          rec->what[sizeof rec->what - 1] = '\0';
          rec->detail[sizeof rec->detail - 1] = '\0';
          *have = 1;
        }
        *len = 0;
      }
      continue;
    }
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
      close_fd(fd);
      return;
    }
    if (n < 0 && errno == EINTR) continue;
    return;
  }
}

static void jail_reap(jail *j) {
  if (j->reaped || !j->started) return;
  int st;
  pid_t r = waitpid(j->pid, &st, __WALL | WNOHANG);
  if (r == j->pid) {
    j->reaped = 1;
    j->init_status = st;
    j->t_end = zr_clock_mono_ns();
    close_fd(&j->pidfd);
  }
}

static int jail_pipes_open(const jail *j) {
  return j->status_r >= 0 || j->exec_r >= 0 || j->out_r >= 0 || j->err_r >= 0 || j->result_r >= 0 || j->collect_r >= 0;
}

static void jail_close_all(jail *j) {
  close_fd(&j->sync_w);
  close_fd(&j->status_r);
  close_fd(&j->exec_r);
  close_fd(&j->out_r);
  close_fd(&j->err_r);
  close_fd(&j->result_r);
  close_fd(&j->collect_r);
  close_fd(&j->pidfd);
}

static const char *signame(int sig) {
  const char *d = sigdescr_np(sig);
  return d ? d : "unknown signal";
}

static void jail_finish(jail *j) {
  zr_sandbox_result *o = j->out;
  const zr_sandbox_spec *s = j->spec;
  zr_sbx_cgroup_stats cst = {0};
  if (j->cg.mode) zr_sbx_cgroup_stats_read(&j->cg, &cst);
  zr_sbx_cgroup_destroy(&j->cg);
  jail_close_all(j);

  o->out = j->bout.data ? j->bout.data : calloc(1, 1);
  o->out_len = j->bout.len;
  o->err = j->berr.data ? j->berr.data : calloc(1, 1);
  o->err_len = j->berr.len;
  if (s->result_cap) {
    o->result = j->bres.data ? j->bres.data : calloc(1, 1);
    o->result_len = j->bres.len;
  } else {
    free(j->bres.data);
  }
  j->bout.data = j->berr.data = j->bres.data = NULL;
  if (j->have_rec && j->rec.kind == ZR_SBX_REC_EXIT && j->rec.collected >= 0 && !j->bcol.over &&
      (size_t)j->rec.collected == j->bcol.len) {
    o->collected = (unsigned char *)(j->bcol.data ? j->bcol.data : calloc(1, 1));
    o->collected_len = j->bcol.len;
  } else {
    free(j->bcol.data);
  }
  j->bcol.data = NULL;

  o->wall_ms = (double)(j->t_end - j->t_start) / 1e6;
  if (j->start_rc < 0) { /* failed after clone: jail_fail() said why */
    o->status = ZR_SANDBOX_SANDBOX_ERROR;
    return;
  }
  o->setup_ms = j->t_exec ? (double)(j->t_exec - j->t_start) / 1e6 : 0;
  const zr_sandbox_limits *lim = &j->lim;
  if (cst.pids_max_hits) o->limits_hit |= ZR_LIMIT_PROCS;
  if (j->bout.over) o->limits_hit |= ZR_LIMIT_STDOUT;
  if (j->berr.over) o->limits_hit |= ZR_LIMIT_STDERR;
  if (j->bres.over) o->limits_hit |= ZR_LIMIT_RESULT;

  if (j->have_rec && j->rec.kind == ZR_SBX_REC_SETUP_ERR) {
    o->status = ZR_SANDBOX_SANDBOX_ERROR;
    snprintf(o->message, sizeof o->message, "jail setup failed: %s %s: %s", j->rec.what, j->rec.detail,
             strerror(j->rec.err));
    j->start_rc = zr_seterr(-EIO, "sandbox: %s", o->message);
    return;
  }
  if (j->have_exec_rec) {
    o->status = ZR_SANDBOX_SANDBOX_ERROR;
    snprintf(o->message, sizeof o->message, "cannot start the program: %s %s: %s", j->exec_rec.what,
             j->exec_rec.detail, strerror(j->exec_rec.err));
    j->start_rc = zr_seterr(-(j->exec_rec.err ? j->exec_rec.err : EIO), "sandbox: %s", o->message);
    return;
  }
  int have_exit = j->have_rec && j->rec.kind == ZR_SBX_REC_EXIT;
  if (have_exit) {
    o->cpu_ms = (double)(j->rec.utime_us + j->rec.stime_us) / 1000.0;
    o->memory_peak = (uint64_t)j->rec.maxrss_kb * 1024;
  }
  if (cst.memory_peak) o->memory_peak = cst.memory_peak;
  if (j->kill_reason & KILL_GROUP) {
    o->status = ZR_SANDBOX_KILLED;
    snprintf(o->message, sizeof o->message, "stopped: the group's primary jail ended");
    if (have_exit) o->status = ZR_SANDBOX_OK; /* it had finished anyway */
    else return;
  }
  if (j->kill_reason & ZR_LIMIT_WALL) {
    o->status = ZR_SANDBOX_TIMEOUT;
    o->limits_hit |= ZR_LIMIT_WALL;
    snprintf(o->message, sizeof o->message, "wall-clock limit (%u ms) exceeded", lim->wall_ms);
    return;
  }
  if (j->kill_reason & (ZR_LIMIT_STDOUT | ZR_LIMIT_STDERR | ZR_LIMIT_RESULT)) {
    o->status = ZR_SANDBOX_OUTPUT_LIMIT;
    snprintf(o->message, sizeof o->message, "%s exceeded its cap of %zu bytes",
             j->bout.over ? "stdout" : j->berr.over ? "stderr" : "result channel",
             j->bout.over ? lim->stdout_cap : j->berr.over ? lim->stderr_cap : s->result_cap);
    return;
  }
  if (!have_exit) {
    if (cst.oom_kills) {
      o->status = ZR_SANDBOX_MEMORY_LIMIT;
      o->limits_hit |= ZR_LIMIT_MEMORY;
      snprintf(o->message, sizeof o->message, "memory limit (%u MiB) exceeded", lim->memory_mb);
    } else {
      o->status = ZR_SANDBOX_SANDBOX_ERROR;
      snprintf(o->message, sizeof o->message, "the jail's init ended without a report (wait status 0x%x)",
               (unsigned)j->init_status);
      j->start_rc = zr_seterr(-EIO, "sandbox: %s", o->message);
    }
    return;
  }
  int st = j->rec.wstatus;
  int cpu_over = o->cpu_ms > (double)lim->cpu_ms;
  int oom_text = s->oom_marker && o->err && strstr(o->err, s->oom_marker);
  if (WIFSIGNALED(st)) {
    int sig = WTERMSIG(st);
    o->signal = sig;
    /* SIGPROF comes from the CPU-time interval timer, SIGXCPU from RLIMIT_CPU; a SIGKILL is a
     * CPU timeout only when the CPU used says so (rusage is tick-sampled, so allow 10%) */
    if (sig == SIGXCPU || sig == SIGPROF || (sig == SIGKILL && o->cpu_ms >= 0.9 * lim->cpu_ms)) {
      o->status = ZR_SANDBOX_TIMEOUT;
      o->limits_hit |= ZR_LIMIT_CPU;
      snprintf(o->message, sizeof o->message, "CPU time limit (%u ms) exceeded", lim->cpu_ms);
    } else if (sig == SIGXFSZ) {
      o->status = ZR_SANDBOX_OUTPUT_LIMIT;
      o->limits_hit |= ZR_LIMIT_FSIZE;
      snprintf(o->message, sizeof o->message, "file size limit (%u MiB) exceeded", lim->fsize_mb);
    } else if (cst.oom_kills || oom_text) {
      o->status = ZR_SANDBOX_MEMORY_LIMIT;
      o->limits_hit |= ZR_LIMIT_MEMORY;
      snprintf(o->message, sizeof o->message, "memory limit (%u MiB) exceeded", lim->memory_mb);
    } else {
      o->status = ZR_SANDBOX_RUNTIME_ERROR;
      snprintf(o->message, sizeof o->message, "killed by signal %d (%s)", sig, signame(sig));
    }
    return;
  }
  o->exit_code = WEXITSTATUS(st);
  if (o->exit_code != 0) {
    if (cst.oom_kills || oom_text) {
      o->status = ZR_SANDBOX_MEMORY_LIMIT;
      o->limits_hit |= ZR_LIMIT_MEMORY;
      snprintf(o->message, sizeof o->message, "memory limit (%u MiB) exceeded (exit code %d)", lim->memory_mb,
               o->exit_code);
    } else if (cpu_over) {
      o->status = ZR_SANDBOX_TIMEOUT;
      o->limits_hit |= ZR_LIMIT_CPU;
      snprintf(o->message, sizeof o->message, "CPU time limit (%u ms) exceeded", lim->cpu_ms);
    } else {
      o->status = ZR_SANDBOX_RUNTIME_ERROR;
      snprintf(o->message, sizeof o->message, "exited with code %d", o->exit_code);
    }
    return;
  }
  if (cpu_over) {
    o->status = ZR_SANDBOX_TIMEOUT;
    o->limits_hit |= ZR_LIMIT_CPU;
    snprintf(o->message, sizeof o->message, "CPU time limit (%u ms) exceeded (%.0f ms used)", lim->cpu_ms, o->cpu_ms);
    return;
  }
  o->status = ZR_SANDBOX_OK;
  snprintf(o->message, sizeof o->message, "exited with code 0");
}

/* ---- the loop ---- */

int zr_sandbox_run_group(const zr_sandbox_spec *specs, int n, zr_sandbox_result *outs, int primary) {
  ZR_ASSERT(n > 0 && n <= 16);
  jail jails[16];
  int rc = 0;
  for (int i = 0; i < n; i++) jail_init(&jails[i], &specs[i], &outs[i]);
  for (int i = 0; i < n && rc == 0; i++)
    if (jail_start(&jails[i]) < 0) rc = jails[i].start_rc;
  /* the jails hold their copies of the pipes that join them; ours must go so that a jail sees
   * end-of-file when its peer dies */
  for (int i = 0; i < n; i++)
    for (int k = 0; k < specs[i].n_pass_fds; k++) close(specs[i].pass_fds[k]);
  if (rc < 0)
    for (int i = 0; i < n; i++) jail_kill(&jails[i], KILL_GROUP);

  struct pollfd pfds[16 * 8];
  struct {
    int jail;
    int which;
  } map[16 * 8];
  for (;;) {
    int np = 0, active = 0;
    uint64_t now = zr_clock_mono_ns();
    int64_t timeout_ms = -1;
    for (int i = 0; i < n; i++) {
      jail *j = &jails[i];
      if (!j->started || j->done) continue;
      if (j->reaped && (!jail_pipes_open(j) || now > j->t_end + DRAIN_GRACE_MS * 1000000ull)) {
        j->done = 1;
        continue;
      }
      active++;
      if (!j->reaped) {
        if (now >= j->deadline) {
          jail_kill(j, ZR_LIMIT_WALL);
        } else {
          int64_t left = (int64_t)((j->deadline - now) / 1000000ull) + 1;
          if (timeout_ms < 0 || left < timeout_ms) timeout_ms = left;
        }
      } else {
        int64_t left = (int64_t)((j->t_end + DRAIN_GRACE_MS * 1000000ull - now) / 1000000ull) + 1;
        if (timeout_ms < 0 || left < timeout_ms) timeout_ms = left;
      }
      int fds[7] = {j->pidfd, j->status_r, j->exec_r, j->out_r, j->err_r, j->result_r, j->collect_r};
      for (int w = 0; w < 7; w++) {
        if (fds[w] < 0) continue;
        pfds[np].fd = fds[w];
        pfds[np].events = POLLIN;
        pfds[np].revents = 0;
        map[np].jail = i;
        map[np].which = w;
        np++;
      }
      if (j->pidfd < 0 && !j->reaped && (timeout_ms < 0 || timeout_ms > 10)) timeout_ms = 10; /* no pidfd: poll */
    }
    if (!active) break;
    int pr = poll(pfds, (nfds_t)np, (int)(timeout_ms < 0 ? 1000 : timeout_ms > 1000 ? 1000 : timeout_ms));
    if (pr < 0 && errno != EINTR) {
      ZR_ERROR("sandbox", "poll failed: %s", strerror(errno));
      for (int i = 0; i < n; i++) jail_kill(&jails[i], KILL_GROUP);
    }
    for (int p = 0; pr > 0 && p < np; p++) {
      if (!pfds[p].revents) continue;
      jail *j = &jails[map[p].jail];
      switch (map[p].which) {
        case 0: jail_reap(j); break;
        case 1: drain_records(j, &j->status_r, j->rec_raw, &j->rec_len, &j->rec, &j->have_rec); break;
        case 2:
          drain_records(j, &j->exec_r, j->exec_raw, &j->exec_len, &j->exec_rec, &j->have_exec_rec);
          if (j->exec_r < 0 && !j->t_exec) j->t_exec = zr_clock_mono_ns();
          break;
        case 3: drain(j, &j->out_r, &j->bout, ZR_LIMIT_STDOUT); break;
        case 4: drain(j, &j->err_r, &j->berr, ZR_LIMIT_STDERR); break;
        case 5: drain(j, &j->result_r, &j->bres, ZR_LIMIT_RESULT); break;
        case 6: drain(j, &j->collect_r, &j->bcol, 0); break;
      }
    }
    for (int i = 0; i < n; i++) {
      jail *j = &jails[i];
      if (j->started && !j->reaped && j->pidfd < 0) jail_reap(j);
      if (primary >= 0 && i == primary && j->reaped)
        for (int k = 0; k < n; k++)
          if (k != primary) jail_kill(&jails[k], KILL_GROUP);
    }
  }
  for (int i = 0; i < n; i++) {
    jail *j = &jails[i];
    if (j->started) {
      if (!j->reaped) { /* cannot happen: the loop ends only when every jail is reaped */
        kill(j->pid, SIGKILL);
        waitpid(j->pid, &j->init_status, __WALL);
        j->reaped = 1;
        j->t_end = zr_clock_mono_ns();
      }
      jail_finish(j);
    } else {
      jail_close_all(j);
      free(j->bout.data);
      free(j->berr.data);
      free(j->bres.data);
      free(j->bcol.data);
      if (!outs[i].out) outs[i].out = calloc(1, 1);
      if (!outs[i].err) outs[i].err = calloc(1, 1);
      if (outs[i].status != ZR_SANDBOX_SANDBOX_ERROR) {
        outs[i].status = ZR_SANDBOX_KILLED;
        snprintf(outs[i].message, sizeof outs[i].message, "not started: another jail of the group failed");
      }
    }
    if (rc == 0 && j->start_rc < 0) rc = j->start_rc;
  }
  if (rc < 0) {
    /* the message of the first failing jail */
    for (int i = 0; i < n; i++)
      if (jails[i].start_rc < 0) {
        zr_seterr(jails[i].start_rc, "sandbox: %s", outs[i].message);
        break;
      }
  }
  return rc;
}

int zr_sandbox_run(const zr_sandbox_spec *spec, zr_sandbox_result *out) {
  return zr_sandbox_run_group(spec, 1, out, -1);
}
