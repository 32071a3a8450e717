/* sandbox_seccomp.c: the jail's syscall allow-list, compiled once with libseccomp and kept as
 * a BPF program that the program's process installs right before execve.
 *
 * Policy: everything not listed fails with ENOSYS (so libc falls back from new calls such as
 * clone3 to old ones); the dangerous calls are listed explicitly with EPERM (ptrace and
 * process_vm_*, mount and the new mount API, namespaces, keyrings, bpf, perf, module and kexec
 * calls, userfaultfd, io_uring, personality, clock setting, ...). Conditional rules: socket and
 * socketpair only for AF_UNIX (the network namespace is empty anyway); clone only without
 * namespace flags; ioctl only for a short list of harmless requests, compared on the low 32 bits
 * the kernel uses (so TIOCSTI | 1 << 32 does not slip through, CVE-2019-10063); prctl only for a
 * few options. Syscalls of other architectures (x32, i386 via int 0x80) kill the process. */
#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "common/error.h"
#include "reward/sandbox_internal.h"

static const char *const allowed[] = {
    /* files and descriptors */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
    "open", "openat", "openat2", "creat", "close", "close_range", "stat", "fstat", "lstat", "newfstatat", "statx",
    "lseek", "access", "faccessat", "faccessat2", "dup", "dup2", "dup3", "pipe", "pipe2", "fcntl", "flock",
    "fsync", "fdatasync", "truncate", "ftruncate", "fallocate", "fadvise64", "readahead", "getdents",
    "getdents64", "getcwd", "chdir", "fchdir", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir",
    "link", "linkat", "unlink", "unlinkat", "symlink", "symlinkat", "readlink", "readlinkat", "chmod",
    "fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat", "umask", "mknod", "mknodat", "utime",
    "utimes", "utimensat", "futimesat", "statfs", "fstatfs", "sendfile", "copy_file_range", "splice", "tee",
    "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr", "inotify_init",
    "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "memfd_create", "sync_file_range",
    /* waiting */
    "select", "pselect6", "poll", "ppoll", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
    "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd", "signalfd4", "timerfd_create",
    "timerfd_settime", "timerfd_gettime", "futex", "futex_waitv", "nanosleep", "clock_nanosleep", "pause",
    "sched_yield", "restart_syscall",
    /* memory */
    "mmap", "munmap", "mprotect", "mremap", "madvise", "mincore", "msync", "brk", "pkey_mprotect",
    "pkey_alloc", "pkey_free", "get_mempolicy", "set_mempolicy", "mbind", "membarrier",
    /* processes, threads, signals (the pid namespace confines their targets) */
    "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "kill", "tkill", "tgkill",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait", "rt_sigsuspend",
    "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "pidfd_open", "pidfd_send_signal",
    "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "arch_prctl", "getpid", "getppid",
    "gettid", "getuid", "geteuid", "getgid", "getegid", "getgroups", "getresuid", "getresgid", "setuid",
    "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid", "getpgrp", "getpgid",
    "setpgid", "getsid", "setsid", "capget", "capset", "getpriority", "setpriority", "sched_getaffinity",
    "sched_setaffinity", "sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getattr", "sched_setattr",
    "sched_rr_get_interval", "getcpu", "seccomp", "landlock_create_ruleset", "landlock_add_rule",
    "landlock_restrict_self",
    /* time, limits, identity */
    "clock_gettime", "clock_getres", "gettimeofday", "time", "times", "getitimer", "setitimer", "alarm",
    "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete", "getrlimit",
    "setrlimit", "prlimit64", "getrusage", "sysinfo", "uname", "getrandom",
    /* AF_UNIX sockets (socket/socketpair themselves are conditional below) */
    "connect", "accept", "accept4", "bind", "listen", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg",
    "recvmmsg", "shutdown", "getsockname", "getpeername", "setsockopt", "getsockopt",
};

static const char *const denied[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "mount", "umount2", "pivot_root",
    "chroot", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr", "unshare",
    "setns", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "io_setup", "io_submit", "personality", "acct", "swapon", "swapoff", "reboot",
    "syslog", "quotactl", "lookup_dcookie", "vhangup", "modify_ldt", "iopl", "ioperm", "open_by_handle_at",
    "name_to_handle_at", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname",
    "setdomainname", "setgroups", "fanotify_init", "setxattr", "lsetxattr", "fsetxattr", "removexattr",
    "lremovexattr", "fremovexattr", "vmsplice", "memfd_secret", "mlock", "mlock2", "mlockall", "sync",
    "syncfs", "shmget", "shmat", "shmctl", "semget", "semop", "semtimedop", "msgget", "msgsnd", "msgrcv",
    "mq_open", "mq_timedsend", "mq_timedreceive", "socket", "socketpair",
};

/* ioctl requests a program may make (terminal queries, non-blocking and close-on-exec flags,
 * bytes available); TIOCSTI, TIOCLINUX and everything else are refused. */
static const unsigned long allowed_ioctls[] = {TCGETS, TIOCGWINSZ, TIOCGPGRP, FIONREAD, FIONBIO, FIOCLEX, FIONCLEX, FIOASYNC};
static const int allowed_prctls[] = {PR_SET_NAME, PR_GET_NAME, PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_GET_DUMPABLE,
                                     PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS, PR_GET_SECCOMP, PR_CAPBSET_READ,
                                     PR_GET_TIMERSLACK, PR_SET_TIMERSLACK, PR_SET_VMA, PR_GET_KEEPCAPS};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct sock_fprog prog;
static int build_rc;
static char build_err[256];

/* One argument comparison, every field set (libseccomp's SCMP_A* macros leave datum_b implicit,
 * which clang's -Wmissing-field-initializers rejects). */
static struct scmp_arg_cmp arg_cmp(unsigned arg, enum scmp_compare op, uint64_t a, uint64_t b) {
  return (struct scmp_arg_cmp){.arg = arg, .op = op, .datum_a = a, .datum_b = b};
}

static int add(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n, const struct scmp_arg_cmp *cmp) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR || nr < 0) return 0; /* not a syscall of this architecture */
  int rc = seccomp_rule_add_array(ctx, action, nr, n, cmp);
  if (rc < 0) snprintf(build_err, sizeof build_err, "seccomp rule for %s: %s", name, strerror(-rc));
  return rc;
}

static int build(void) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(ENOSYS));
  if (!ctx) return (snprintf(build_err, sizeof build_err, "seccomp_init failed"), -ENOMEM);
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc == 0) rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  /* a binary search over syscall numbers instead of a linear chain: a shorter program to load
   * and fewer instructions per syscall */
  if (rc == 0 && seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) < 0) { /* older libseccomp: linear */
  }
  for (size_t i = 0; rc == 0 && i < sizeof allowed / sizeof allowed[0]; i++) rc = add(ctx, SCMP_ACT_ALLOW, allowed[i], 0, NULL);
  for (size_t i = 0; rc == 0 && i < sizeof denied / sizeof denied[0]; i++) {
    if (strcmp(denied[i], "socket") == 0 || strcmp(denied[i], "socketpair") == 0) continue;
    rc = add(ctx, SCMP_ACT_ERRNO(EPERM), denied[i], 0, NULL);
  }
  /* sockets: AF_UNIX only */
  struct scmp_arg_cmp unix_only = arg_cmp(0, SCMP_CMP_EQ, AF_UNIX, 0);
  struct scmp_arg_cmp not_unix = arg_cmp(0, SCMP_CMP_NE, AF_UNIX, 0);
  if (rc == 0) rc = add(ctx, SCMP_ACT_ALLOW, "socket", 1, &unix_only);
  if (rc == 0) rc = add(ctx, SCMP_ACT_ERRNO(EPERM), "socket", 1, &not_unix);
  if (rc == 0) rc = add(ctx, SCMP_ACT_ALLOW, "socketpair", 1, &unix_only);
  if (rc == 0) rc = add(ctx, SCMP_ACT_ERRNO(EPERM), "socketpair", 1, &not_unix);
  /* clone: no new namespaces; clone3 hides its flags in memory, so it reports ENOSYS (the
   * default) and libc falls back to clone */
  const uint64_t ns_flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
                            CLONE_NEWNET | CLONE_NEWCGROUP;
  struct scmp_arg_cmp no_ns = arg_cmp(0, SCMP_CMP_MASKED_EQ, ns_flags, 0);
  if (rc == 0) rc = add(ctx, SCMP_ACT_ALLOW, "clone", 1, &no_ns);
  for (size_t i = 0; rc == 0 && i < sizeof allowed_ioctls / sizeof allowed_ioctls[0]; i++) {
    struct scmp_arg_cmp req = arg_cmp(1, SCMP_CMP_MASKED_EQ, 0xffffffffULL, allowed_ioctls[i]);
    rc = add(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &req);
  }
  for (size_t i = 0; rc == 0 && i < sizeof allowed_prctls / sizeof allowed_prctls[0]; i++) {
    struct scmp_arg_cmp opt = arg_cmp(0, SCMP_CMP_EQ, (uint64_t)allowed_prctls[i], 0);
    rc = add(ctx, SCMP_ACT_ALLOW, "prctl", 1, &opt);
  }
  if (rc < 0) {
    if (!build_err[0]) snprintf(build_err, sizeof build_err, "seccomp: %s", strerror(-rc));
    seccomp_release(ctx);
    return rc;
  }
  /* libseccomp 2.5 exports to an fd only */
  int fd = memfd_create("zerorl-seccomp", MFD_CLOEXEC);
  if (fd < 0) {
    rc = -errno;
    snprintf(build_err, sizeof build_err, "seccomp: memfd_create: %s", strerror(errno));
    seccomp_release(ctx);
    return rc;
  }
  rc = seccomp_export_bpf(ctx, fd);
  seccomp_release(ctx);
  off_t size = rc == 0 ? lseek(fd, 0, SEEK_END) : -1;
  if (rc < 0 || size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0) {
    close(fd);
    snprintf(build_err, sizeof build_err, "seccomp: export of the BPF program failed (%d)", rc);
    return rc < 0 ? rc : -EIO;
  }
  struct sock_filter *insns = malloc((size_t)size);
  if (!insns || pread(fd, insns, (size_t)size, 0) != size) {
    free(insns);
    close(fd);
    snprintf(build_err, sizeof build_err, "seccomp: reading the BPF program back failed");
    return -EIO;
  }
  close(fd);
  prog.len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
  prog.filter = insns; /* kept for the life of the process */
  return 0;
}

static void build_once(void) { build_rc = build(); }

int zr_sbx_seccomp_get(const struct sock_fprog **out) {
  pthread_once(&once, build_once);
  if (build_rc < 0) return zr_seterr(build_rc, "%s", build_err);
  *out = &prog;
  return 0;
}
