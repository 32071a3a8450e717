/* sandbox_ns.c: the jail's side of the launcher (see sandbox_internal.h).
 *
 * zr_sbx_init_main() runs in the process the caller cloned into new user, pid, mount, network,
 * ipc, uts and cgroup namespaces: it is pid 1 of the jail. It builds the filesystem view in its
 * private mount namespace on a tmpfs mounted over /tmp, pivots into it, forks the program,
 * reaps every process until the program has exited, reports the program's wait status and
 * exits, which makes the kernel kill whatever is left in the pid namespace.
 *
 * Everything here runs after a raw clone() of a possibly multi-threaded caller: it must not
 * allocate, take locks or use stdio, and must call the kernel directly for the id-changing calls
 * that glibc would broadcast to (non-existent) sibling threads. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reward/sandbox_internal.h"

#define NEWROOT "/tmp" /* where the new root is assembled, in the jail's own mount namespace */
#define PATHCAP 512

/* ---- tiny string helpers (no allocation) ---- */

static void scopy(char *dst, size_t cap, const char *src) {
  size_t i = 0;
  if (src)
    for (; src[i] && i + 1 < cap; i++) dst[i] = src[i];
  dst[i] = '\0';
}

/* dst = a + b; returns 0, or -1 when it does not fit */
static int sjoin(char *dst, size_t cap, const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la + lb + 1 > cap) return -1;
  memcpy(dst, a, la);
  memcpy(dst + la, b, lb + 1);
  return 0;
}

static void send_record(int fd, uint32_t kind, const char *what, const char *detail, int err) {
  zr_sbx_record r;
  memset(&r, 0, sizeof r);
  r.magic = ZR_SBX_REC_MAGIC;
  r.kind = kind;
  r.err = err;
  r.collected = -1;
  scopy(r.what, sizeof r.what, what);
  scopy(r.detail, sizeof r.detail, detail);
  ssize_t n;
  do n = write(fd, &r, sizeof r);
  while (n < 0 && errno == EINTR);
}

static __attribute__((noreturn)) void init_fail(const zr_sbx_child *c, const char *what, const char *detail) {
  send_record(c->status_w, ZR_SBX_REC_SETUP_ERR, what, detail, errno);
  _exit(1);
}

/* ---- the filesystem view ---- */

static int mkdir_p(const char *path) {
  char buf[PATHCAP];
  scopy(buf, sizeof buf, path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) < 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(buf, 0755) < 0 && errno != EEXIST) return -1;
  return 0;
}

static int parent_dirs(const char *path) {
  char buf[PATHCAP];
  scopy(buf, sizeof buf, path);
  char *slash = strrchr(buf, '/');
  if (!slash || slash == buf || (size_t)(slash - buf) == strlen(NEWROOT)) return 0; /* the new root exists */
  *slash = '\0';
  return mkdir_p(buf);
}

static int touch(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return -1;
  close(fd);
  return 0;
}

/* Remounts a bind mount read-only, keeping the flags the kernel locks for a less privileged
 * mount namespace (nosuid/nodev/noexec/atime as the source has them). */
static int remount_ro(const char *dst) {
  struct statfs sf;
  if (statfs(dst, &sf) < 0) return -1;
  unsigned long fl = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV;
  if (sf.f_flags & ST_NOEXEC) fl |= MS_NOEXEC;
  if (sf.f_flags & ST_NOATIME) fl |= MS_NOATIME;
  if (sf.f_flags & ST_NODIRATIME) fl |= MS_NODIRATIME;
  if (sf.f_flags & ST_RELATIME) fl |= MS_RELATIME;
  return mount(NULL, dst, NULL, fl, NULL);
}

typedef struct {
  const char *bound[64]; /* directories bound so far: paths below them are already visible */
  int n;
} bind_state;

static int covered(const bind_state *bs, const char *path) {
  for (int i = 0; i < bs->n; i++) {
    size_t l = strlen(bs->bound[i]);
    if (strncmp(path, bs->bound[i], l) == 0 && (path[l] == '/' || path[l] == '\0')) return 1;
  }
  return 0;
}

/* Shows host `path` read-only at the same place in the new root: a symlink is recreated, a
 * directory or file is bind-mounted and made read-only; a missing path is skipped. */
static void bind_ro(const zr_sbx_child *c, bind_state *bs, const char *path) {
  char dst[PATHCAP];
  struct stat st;
  if (!path || path[0] != '/' || covered(bs, path)) return;
  if (lstat(path, &st) < 0) return;
  if (sjoin(dst, sizeof dst, NEWROOT, path) < 0) init_fail(c, "path too long", path);
  if (parent_dirs(dst) < 0) init_fail(c, "mkdir", dst);
  if (S_ISLNK(st.st_mode)) {
    char target[PATHCAP];
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) init_fail(c, "readlink", path);
    target[n] = '\0';
    if (symlink(target, dst) < 0 && errno != EEXIST) init_fail(c, "symlink", dst);
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    if (mkdir(dst, 0755) < 0 && errno != EEXIST) init_fail(c, "mkdir", dst);
  } else if (touch(dst) < 0) {
    init_fail(c, "create mount point", dst);
  }
  if (mount(path, dst, NULL, MS_BIND, NULL) < 0) init_fail(c, "bind mount", path);
  if (remount_ro(dst) < 0) init_fail(c, "remount read-only", path);
  if (S_ISDIR(st.st_mode) && bs->n < (int)(sizeof bs->bound / sizeof bs->bound[0])) bs->bound[bs->n++] = path;
}

static void setup_dev(const zr_sbx_child *c) {
  static const char *const nodes[] = {"null", "zero", "full", "random", "urandom"};
  static const char *const links[][2] = {
      {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}};
  char src[64], dst[64];
  if (mkdir(NEWROOT "/dev", 0755) < 0) init_fail(c, "mkdir", NEWROOT "/dev");
  if (mount("zr-dev", NEWROOT "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=16k,nr_inodes=64,mode=0755") < 0)
    init_fail(c, "mount tmpfs", "/dev");
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
    sjoin(src, sizeof src, "/dev/", nodes[i]);
    sjoin(dst, sizeof dst, NEWROOT "/dev/", nodes[i]);
    if (touch(dst) < 0) init_fail(c, "create mount point", dst);
    if (mount(src, dst, NULL, MS_BIND, NULL) < 0) init_fail(c, "bind mount", src);
  }
  if (c->mount_proc)
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
      sjoin(dst, sizeof dst, NEWROOT "/dev/", links[i][0]);
      if (symlink(links[i][1], dst) < 0) init_fail(c, "symlink", dst);
    }
  if (mount(NULL, NEWROOT "/dev", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) < 0)
    init_fail(c, "remount read-only", "/dev");
}

static void write_file(const zr_sbx_child *c, const char *dir, const char *name, const void *data, size_t len,
                       uint32_t mode) {
  char path[PATHCAP];
  if (sjoin(path, sizeof path, dir, name) < 0) init_fail(c, "path too long", name);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode ? mode : 0644);
  if (fd < 0) init_fail(c, "create work file", name);
  const char *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) init_fail(c, "write work file (is /work big enough?)", name);
    p += n;
    len -= (size_t)n;
  }
  if (mode && fchmod(fd, mode) < 0) init_fail(c, "chmod work file", name);
  close(fd);
}

/* Builds the view, pivots into it; returns the fd the program gets as stdin. */
static int build_root(const zr_sbx_child *c) {
  const zr_sandbox_spec *s = c->spec;
  bind_state bs = {.n = 0};
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) init_fail(c, "make mounts private", "/");
  if (mount("zr-root", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, "size=256k,nr_inodes=1024,mode=0755") < 0)
    init_fail(c, "mount tmpfs", "root");
  for (const char *const *p = zr_lang_base_paths; *p; p++) bind_ro(c, &bs, *p);
  if (s->ro_paths)
    for (const char *const *p = s->ro_paths; *p; p++) bind_ro(c, &bs, *p);
  setup_dev(c);
  if (c->mount_proc) {
    if (mkdir(NEWROOT "/proc", 0555) < 0) init_fail(c, "mkdir", NEWROOT "/proc");
    unsigned long fl = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (mount("proc", NEWROOT "/proc", "proc", fl, "subset=pid") < 0 && mount("proc", NEWROOT "/proc", "proc", fl, NULL) < 0)
      init_fail(c, "mount proc", "/proc");
  }
  if (mkdir(NEWROOT "/work", 0755) < 0) init_fail(c, "mkdir", NEWROOT "/work");
  if (mount("zr-work", NEWROOT "/work", "tmpfs", MS_NOSUID | MS_NODEV, c->work_opts) < 0)
    init_fail(c, "mount tmpfs", "/work");
  if (symlink("/work", NEWROOT "/tmp") < 0) init_fail(c, "symlink", NEWROOT "/tmp");
  for (int i = 0; i < s->n_files; i++)
    write_file(c, NEWROOT "/work/", s->files[i].name, s->files[i].data, s->files[i].len, s->files[i].mode);
  int in_fd;
  if (s->stdin_data && s->stdin_len > 0) {
    char path[PATHCAP];
    sjoin(path, sizeof path, NEWROOT "/work/", c->stdin_path);
    write_file(c, NEWROOT "/work/", c->stdin_path, s->stdin_data, s->stdin_len, 0400);
    in_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in_fd < 0 || unlink(path) < 0) init_fail(c, "stage stdin", path);
  } else {
    in_fd = open(NEWROOT "/dev/null", O_RDONLY | O_CLOEXEC);
    if (in_fd < 0) init_fail(c, "open", "/dev/null");
  }
  if (chdir(NEWROOT) < 0) init_fail(c, "chdir", NEWROOT);
  if (syscall(SYS_pivot_root, ".", ".") < 0) init_fail(c, "pivot_root", NEWROOT);
  if (umount2(".", MNT_DETACH) < 0) init_fail(c, "detach the old root", "/");
  if (chdir("/") < 0) init_fail(c, "chdir", "/");
  if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
    init_fail(c, "remount read-only", "root");
  if (chdir("/work") < 0) init_fail(c, "chdir", "/work");
  return in_fd;
}

/* ---- the program's process, from fork to execve ---- */

static __attribute__((noreturn)) void exec_fail(int fd, const char *what, const char *detail) {
  send_record(fd, ZR_SBX_REC_EXEC_ERR, what, detail, errno);
  _exit(127);
}

static void set_limit(int fd, int res, uint64_t soft, uint64_t hard, const char *name) {
  struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
  if (setrlimit(res, &rl) < 0) exec_fail(fd, "setrlimit", name);
}

static __attribute__((noreturn)) void program_main(const zr_sbx_child *c, int in_fd, int scrub_fd) {
  const zr_sandbox_spec *s = c->spec;
  int high = c->max_fd + 1;
  if (in_fd >= high) high = in_fd + 1;
  if (scrub_fd >= high) high = scrub_fd + 1;
  /* /proc/self belongs to us again (init is not dumpable); nothing else runs in the jail yet
   * that could read this copy of the caller's memory, and execve replaces it */
  prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  /* the exec and scrub pipes first, out of the way of the numbers the program gets */
  int exec_fd = fcntl(c->exec_w, F_DUPFD_CLOEXEC, high + 16);
  if (exec_fd < 0) exec_fail(c->exec_w, "dup", "exec pipe");
  scrub_fd = fcntl(scrub_fd, F_DUPFD_CLOEXEC, high + 16);
  if (scrub_fd < 0) exec_fail(exec_fd, "dup", "scrub pipe");
  if (setsid() < 0) exec_fail(exec_fd, "setsid", "");

  /* wanted[i] becomes fd i; -1 leaves fd i closed */
  int wanted[4 + 16];
  int n_wanted = 4 + s->n_pass_fds;
  wanted[0] = in_fd;
  wanted[1] = c->out_w;
  wanted[2] = c->err_w;
  wanted[3] = c->result_w;
  for (int i = 0; i < s->n_pass_fds; i++) wanted[4 + i] = s->pass_fds[i];
  int tmp[4 + 16];
  for (int i = 0; i < n_wanted; i++) {
    tmp[i] = -1;
    if (wanted[i] >= 0 && (tmp[i] = fcntl(wanted[i], F_DUPFD_CLOEXEC, high + 32)) < 0) exec_fail(exec_fd, "dup", "");
  }
  for (int i = 0; i < n_wanted; i++)
    if (tmp[i] >= 0 && dup2(tmp[i], i) < 0) exec_fail(exec_fd, "dup2", "");
  for (int i = 0; i < n_wanted; i++)
    if (tmp[i] < 0) close(i);
  /* everything else closes at execve (the exec pipe must stay open until then) */
  if (syscall(SYS_close_range, (unsigned)n_wanted, ~0u, CLOSE_RANGE_CLOEXEC) < 0)
    for (int fd = n_wanted; fd < high + 64; fd++)
      if (fd != exec_fd) close(fd);

  /* a clean signal state: nothing blocked, nothing ignored */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL);

  /* the OOM killer takes the program before the jail's init */
  if (c->mount_proc) {
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      if (write(fd, "1000", 4) < 0) { /* best effort */
      }
      close(fd);
    }
  }

  /* RLIMIT_CPU counts whole seconds; a CPU-time interval timer (kept across execve) stops the
   * program at the exact limit with SIGPROF, unless it catches that, when RLIMIT_CPU still does */
  struct itimerval itv = {.it_value = {.tv_sec = c->cpu_ms / 1000, .tv_usec = (c->cpu_ms % 1000) * 1000}};
  if (setitimer(ITIMER_PROF, &itv, NULL) < 0) exec_fail(exec_fd, "setitimer", "");
  set_limit(exec_fd, RLIMIT_CORE, 0, 0, "core");
  set_limit(exec_fd, RLIMIT_CPU, c->cpu_s, c->cpu_s + 1, "cpu");
  set_limit(exec_fd, RLIMIT_AS, c->as_bytes, c->as_bytes, "as");
  set_limit(exec_fd, RLIMIT_STACK, c->stack_bytes, c->stack_bytes, "stack");
  set_limit(exec_fd, RLIMIT_FSIZE, c->fsize_bytes, c->fsize_bytes, "fsize");
  set_limit(exec_fd, RLIMIT_NOFILE, c->nofile, c->nofile, "nofile");
  set_limit(exec_fd, RLIMIT_NPROC, c->nproc, c->nproc, "nproc");
  set_limit(exec_fd, RLIMIT_MEMLOCK, 0, 0, "memlock");
  set_limit(exec_fd, RLIMIT_MSGQUEUE, 0, 0, "msgqueue");

  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) exec_fail(exec_fd, "no_new_privs", "");
  for (int cap = 0; cap <= c->last_cap; cap++)
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) exec_fail(exec_fd, "drop bounding capability", "");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    exec_fail(exec_fd, "clear ambient capabilities", "");
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &hdr, data) < 0) exec_fail(exec_fd, "capset", "");
  if (c->filter && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, c->filter) < 0)
    exec_fail(exec_fd, "seccomp", "");
  char done;
  ssize_t n;
  do n = read(scrub_fd, &done, 1); /* init has wiped the caller's argv in its copy */
  while (n < 0 && errno == EINTR);
  if (n != 1) exec_fail(exec_fd, "wait for init", "");
  execve(s->argv[0], (char *const *)s->argv, (char *const *)c->envp);
  exec_fail(exec_fd, "execve", s->argv[0]);
}

/* ---- init ---- */

static void sort_ints(int *a, int n) {
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && a[j - 1] > a[j]; j--) {
      int t = a[j];
      a[j] = a[j - 1];
      a[j - 1] = t;
    }
}

/* Closes every fd of the caller's this process inherited except the jail's own. */
static void close_others(const zr_sbx_child *c) {
  int keep[8 + 16 + 3], n = 0;
  int fds[] = {c->sync_r, c->status_w, c->exec_w, c->collect_w, c->out_w, c->err_w, c->result_w};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    if (fds[i] >= 0) keep[n++] = fds[i];
  for (int i = 0; i < c->spec->n_pass_fds; i++) keep[n++] = c->spec->pass_fds[i];
  for (int i = 0; i < c->n_cgroup_self_fds; i++) keep[n++] = c->cgroup_self_fds[i];
  sort_ints(keep, n);
  unsigned lo = 0;
  for (int i = 0; i < n; i++) {
    if ((unsigned)keep[i] > lo) syscall(SYS_close_range, lo, (unsigned)keep[i] - 1, 0);
    lo = (unsigned)keep[i] + 1;
  }
  syscall(SYS_close_range, lo, ~0u, 0);
}

static void collect_file(const zr_sbx_child *c, zr_sbx_record *rec) {
  char buf[16384];
  rec->collected = -1;
  int fd = openat(AT_FDCWD, c->collect_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    scopy(rec->what, sizeof rec->what, "collect: cannot open (absent or a symlink)");
    return;
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > c->collect_cap) {
    scopy(rec->what, sizeof rec->what, "collect: not a regular file or too large");
    close(fd);
    return;
  }
  int64_t total = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if ((size_t)(total + n) > c->collect_cap) { /* it grew while we read: refuse it */
      close(fd);
      return;
    }
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(c->collect_w, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        close(fd);
        return;
      }
      off += w;
    }
    total += n;
  }
  close(fd);
  rec->collected = total;
}

void zr_sbx_init_main(const zr_sbx_child *c) {
  close_others(c);
  char go;
  ssize_t n;
  do n = read(c->sync_r, &go, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) _exit(2); /* the caller gave up (or died) before the maps were written */

  /* this is a copy of the caller's memory: nothing in the jail may read it (/proc/1/mem,
   * /proc/1/environ need a dumpable process); the caller's argv is wiped below */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (c->privileged && syscall(SYS_setgroups, 0, NULL) < 0) init_fail(c, "setgroups", "");
  if (syscall(SYS_setresgid, ZR_SBX_UID, ZR_SBX_UID, ZR_SBX_UID) < 0) init_fail(c, "setresgid", "");
  if (syscall(SYS_setresuid, ZR_SBX_UID, ZR_SBX_UID, ZR_SBX_UID) < 0) init_fail(c, "setresuid", "");
  /* setresuid to a non-zero uid clears the effective capabilities; take them back for the
   * mounts (they are ours in this user namespace) */
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) < 0) init_fail(c, "capget", "");
  data[0].effective = data[0].permitted;
  data[1].effective = data[1].permitted;
  if (syscall(SYS_capset, &hdr, data) < 0) init_fail(c, "capset", "");
  /* die with the caller's thread (set after the id changes, which clear it); the caller holds
   * the sync pipe's write end until the run ends, so a hang-up means it is already gone */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  struct pollfd pfd = {.fd = c->sync_r, .events = POLLIN};
  if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR))) _exit(2);
  if (sethostname("zerorl", 6) < 0) init_fail(c, "sethostname", "");

  int in_fd = build_root(c);

  /* with cgroup v2 the caller moves us into the run's cgroup while we build the view (moving
   * another process waits for an RCU grace period); the program must not start before that */
  do n = read(c->sync_r, &go, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) _exit(2);
  close(c->sync_r);
  /* cgroup v1: move ourselves into the run's cgroups, now that the work files and stdin are
   * staged (their pages stay charged to the caller, not to the program's memory budget) and
   * before the program exists (it inherits the cgroups) */
  for (int i = 0; i < c->n_cgroup_self_fds; i++) {
    if (write(c->cgroup_self_fds[i], "0", 1) != 1) init_fail(c, "join the run's cgroup", "");
    close(c->cgroup_self_fds[i]);
  }

  /* /proc/1/cmdline is readable by anyone in the jail and shows the caller's argv (this is a
   * copy of its memory): wipe the strings (and the environment's) in our copy once the program's
   * process has its own; it waits for that before execve. The spec may point into them (a CLI
   * passes argv through), which is why this happens only after the fork. */
  int scrub[2];
  if (pipe2(scrub, O_CLOEXEC) < 0) init_fail(c, "pipe", "");
  pid_t prog = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (prog < 0) init_fail(c, "fork", "");
  if (prog == 0) {
    close(scrub[1]);
    program_main(c, in_fd, scrub[0]);
  }
  close(scrub[0]);
  for (volatile char *p = (volatile char *)c->scrub_start; p < (volatile char *)c->scrub_end; p++) *p = 0;
  if (write(scrub[1], "s", 1) != 1) init_fail(c, "write", "scrub pipe");
  close(scrub[1]);
  close(in_fd);
  close(c->exec_w);
  close(c->out_w);
  close(c->err_w);
  if (c->result_w >= 0) close(c->result_w);
  for (int i = 0; i < c->spec->n_pass_fds; i++) close(c->spec->pass_fds[i]);

  zr_sbx_record rec;
  memset(&rec, 0, sizeof rec);
  rec.magic = ZR_SBX_REC_MAGIC;
  rec.kind = ZR_SBX_REC_EXIT;
  rec.collected = -1;
  for (;;) {
    int st;
    struct rusage ru;
    pid_t p = wait4(-1, &st, 0, &ru);
    if (p < 0) {
      if (errno == EINTR) continue;
      init_fail(c, "wait4", "");
    }
    if (p != prog) continue; /* an orphan reparented to us */
    rec.wstatus = st;
    rec.utime_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
    rec.stime_us = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
    rec.maxrss_kb = ru.ru_maxrss;
    break;
  }
  if (c->collect_w >= 0) {
    collect_file(c, &rec);
    close(c->collect_w);
  }
  ssize_t w;
  do w = write(c->status_w, &rec, sizeof rec);
  while (w < 0 && errno == EINTR);
  _exit(0);
}
