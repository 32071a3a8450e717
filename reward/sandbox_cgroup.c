/* sandbox_cgroup.c: the per-run cgroup that caps a jail's memory (no swap), process count and
 * CPU share, and tells afterwards whether the OOM killer or the pids limit struck.
 *
 * The probe runs once per process: cgroup v2 when this process's own cgroup can hand memory
 * and pids controllers to children, else v1 when the memory and pids hierarchies are mounted
 * and this process's cgroups in them are writable (cpu is optional), else none. Runs create
 * "zerorl-sbx-PID-N" under this process's own cgroup(s) and remove it afterwards; groups left
 * by a process that died are swept at the first probe.
 * Joining: writing another process's pid to cgroup.procs takes the global cgroup threadgroup
 * lock, whose writer side waits for an RCU grace period (~10 ms on this kernel, every run). In
 * v1 a thread that writes "0" to "tasks" moves only itself and skips that lock, so the caller
 * opens the tasks files (the kernel checks the opener's credentials) and the jail's init, a
 * single-threaded process, moves itself before it does anything else. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "reward/sandbox_internal.h"

enum { V1_MEMORY = 0, V1_PIDS = 1, V1_CPU = 2 };

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int g_mode;
static char g_why[256];
static char g_base[3][200]; /* v1: memory, pids, cpu ("" if absent); v2: g_base[0] */
static int g_v2_cpu;
static atomic_ulong g_seq;

static int read_file(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t len = 0;
  while (len + 1 < cap) {
    ssize_t n = read(fd, buf + len, cap - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
  }
  close(fd);
  buf[len] = '\0';
  return (int)len;
}

static int write_file(const char *dir, const char *name, const char *value) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n = write(fd, value, strlen(value));
  int rc = n < 0 ? -errno : 0;
  close(fd);
  return rc;
}

/* 1 if the comma/space separated list has the exact token */
static int has_token(const char *list, const char *tok) {
  size_t l = strlen(tok);
  for (const char *p = list; (p = strstr(p, tok)); p += l) {
    int start = p == list || p[-1] == ',' || p[-1] == ' ';
    int end = p[l] == '\0' || p[l] == ',' || p[l] == ' ' || p[l] == '\n';
    if (start && end) return 1;
  }
  return 0;
}

static uint64_t keyed_value(const char *text, const char *key) {
  size_t l = strlen(key);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (strncmp(p, key, l) == 0 && p[l] == ' ') return strtoull(p + l + 1, NULL, 10);
  return 0;
}

/* this process's cgroup path for a v1 controller (or v2 when ctrl is NULL) */
static int own_path(const char *selfcg, const char *ctrl, char *out, size_t cap) {
  char line[512];
  for (const char *p = selfcg; *p;) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    if (len < sizeof line) {
      memcpy(line, p, len);
      line[len] = '\0';
      char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
      if (c2) {
        *c2 = '\0';
        int match = ctrl ? has_token(c1 + 1, ctrl) : (strcmp(line, "0:") == 0 || (line[0] == '0' && c1[1] == '\0'));
        if (match) {
          snprintf(out, cap, "%s", c2 + 1);
          return 0;
        }
      }
    }
    p += len + (nl ? 1 : 0);
  }
  return -1;
}

/* the mount point and root of the hierarchy (fstype "cgroup2", or "cgroup" with ctrl) */
static int find_mount(const char *mountinfo, const char *fstype, const char *ctrl, char *mnt, char *root, size_t cap) {
  char line[1024];
  for (const char *p = mountinfo; *p;) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    if (len < sizeof line) {
      memcpy(line, p, len);
      line[len] = '\0';
      char *sep = strstr(line, " - ");
      char f_root[256], f_mnt[256], f_type[64], f_src[64], f_opts[512];
      if (sep && sscanf(line, "%*s %*s %*s %255s %255s", f_root, f_mnt) == 2 &&
          sscanf(sep + 3, "%63s %63s %511s", f_type, f_src, f_opts) >= 2) {
        if (strcmp(f_type, fstype) == 0 && (!ctrl || has_token(f_opts, ctrl))) {
          snprintf(mnt, cap, "%s", f_mnt);
          snprintf(root, cap, "%s", f_root);
          return 0;
        }
      }
    }
    p += len + (nl ? 1 : 0);
  }
  return -1;
}

static int hierarchy_dir(const char *selfcg, const char *mountinfo, const char *fstype, const char *ctrl, char *out,
                         size_t cap) {
  char path[256], mnt[256], root[256];
  if (own_path(selfcg, ctrl, path, sizeof path) < 0) return -1;
  if (find_mount(mountinfo, fstype, ctrl, mnt, root, sizeof mnt) < 0) return -1;
  const char *rel = path;
  size_t rl = strlen(root);
  if (strcmp(root, "/") != 0) {
    if (strncmp(path, root, rl) != 0) return -1;
    rel = path + rl;
  }
  if (strcmp(rel, "/") == 0) rel = "";
  int n = snprintf(out, cap, "%s%s", mnt, rel);
  return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* removes groups named zerorl-sbx-PID-* whose PID no longer runs */
static void sweep(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    long pid;
    if (sscanf(e->d_name, "zerorl-sbx-%ld-", &pid) != 1 || pid <= 0) continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    rmdir(path);
  }
  closedir(d);
}

static void probe(void) {
  const char *env = getenv("ZERORL_SANDBOX_CGROUP");
  if (env && strcmp(env, "none") == 0) {
    snprintf(g_why, sizeof g_why, "disabled by ZERORL_SANDBOX_CGROUP=none");
    return;
  }
  static char selfcg[4096], mountinfo[65536];
  if (read_file("/proc/self/cgroup", selfcg, sizeof selfcg) <= 0 ||
      read_file("/proc/self/mountinfo", mountinfo, sizeof mountinfo) <= 0) {
    snprintf(g_why, sizeof g_why, "cannot read /proc/self/cgroup or /proc/self/mountinfo");
    return;
  }
  char dir[200], buf[512];
  int want_v1 = env && strcmp(env, "v1") == 0;
  if (!want_v1 && hierarchy_dir(selfcg, mountinfo, "cgroup2", NULL, dir, sizeof dir) == 0) {
    char path[512];
    snprintf(path, sizeof path, "%s/cgroup.controllers", dir);
    if (read_file(path, buf, sizeof buf) > 0 && has_token(buf, "memory") && has_token(buf, "pids")) {
      char sub[512];
      snprintf(path, sizeof path, "%s/cgroup.subtree_control", dir);
      if (read_file(path, sub, sizeof sub) >= 0 && (!has_token(sub, "memory") || !has_token(sub, "pids")))
        write_file(dir, "cgroup.subtree_control", has_token(buf, "cpu") ? "+memory +pids +cpu" : "+memory +pids");
      if (read_file(path, sub, sizeof sub) >= 0 && has_token(sub, "memory") && has_token(sub, "pids") &&
          access(dir, W_OK) == 0) {
        g_mode = 2;
        g_v2_cpu = has_token(sub, "cpu");
        snprintf(g_base[0], sizeof g_base[0], "%s", dir);
        sweep(dir);
        return;
      }
    }
  }
  static const char *const ctrls[3] = {"memory", "pids", "cpu"};
  int ok = 1;
  for (int i = 0; i < 3; i++) {
    g_base[i][0] = '\0';
    if (hierarchy_dir(selfcg, mountinfo, "cgroup", ctrls[i], dir, sizeof dir) == 0 && access(dir, W_OK) == 0)
      snprintf(g_base[i], sizeof g_base[i], "%s", dir);
    else if (i < 2)
      ok = 0;
  }
  if (ok) {
    g_mode = 1;
    for (int i = 0; i < 3; i++)
      if (g_base[i][0]) sweep(g_base[i]);
    return;
  }
  snprintf(g_why, sizeof g_why,
           "no writable cgroup v2 with memory+pids delegated, and no writable v1 memory and pids hierarchies");
}

int zr_sbx_cgroup_probe(const char **why) {
  pthread_once(&once, probe);
  if (why) *why = g_why;
  return g_mode;
}

static int make_group(zr_sbx_cgroup *cg, const char *base, const char *name) {
  char *dir = cg->dirs[cg->n_dirs];
  int n = snprintf(dir, sizeof cg->dirs[0], "%s/%s", base, name);
  if (n < 0 || (size_t)n >= sizeof cg->dirs[0]) return -ENAMETOOLONG;
  if (mkdir(dir, 0755) < 0) return -errno;
  cg->n_dirs++;
  return 0;
}

int zr_sbx_cgroup_create(zr_sbx_cgroup *cg, const zr_sandbox_limits *lim) {
  memset(cg, 0, sizeof *cg);
  cg->self_fds[0] = cg->self_fds[1] = cg->self_fds[2] = -1;
  int mode = zr_sbx_cgroup_probe(NULL);
  if (mode == 0) return 0;
  char name[64], val[64];
  snprintf(name, sizeof name, "zerorl-sbx-%ld-%lu", (long)getpid(), atomic_fetch_add(&g_seq, 1));
  uint64_t mem = (uint64_t)lim->memory_mb << 20;
  int rc;
  const char *step = "mkdir";
  if (mode == 2) {
    if ((rc = make_group(cg, g_base[0], name)) < 0) goto fail;
    snprintf(val, sizeof val, "%llu", (unsigned long long)mem);
    step = "memory.max";
    if ((rc = write_file(cg->dirs[0], "memory.max", val)) < 0) goto fail;
    write_file(cg->dirs[0], "memory.swap.max", "0");
    write_file(cg->dirs[0], "memory.oom.group", "1");
    snprintf(val, sizeof val, "%u", lim->max_procs);
    step = "pids.max";
    if ((rc = write_file(cg->dirs[0], "pids.max", val)) < 0) goto fail;
    if (g_v2_cpu && lim->cpus > 0) {
      snprintf(val, sizeof val, "%u 100000", lim->cpus * 100000u);
      write_file(cg->dirs[0], "cpu.max", val);
    }
  } else {
    if ((rc = make_group(cg, g_base[V1_MEMORY], name)) < 0) goto fail;
    snprintf(val, sizeof val, "%llu", (unsigned long long)mem);
    step = "memory.limit_in_bytes";
    if ((rc = write_file(cg->dirs[0], "memory.limit_in_bytes", val)) < 0) goto fail;
    write_file(cg->dirs[0], "memory.memsw.limit_in_bytes", val); /* absent without swap accounting */
    step = "mkdir pids";
    if ((rc = make_group(cg, g_base[V1_PIDS], name)) < 0) goto fail;
    snprintf(val, sizeof val, "%u", lim->max_procs);
    step = "pids.max";
    if ((rc = write_file(cg->dirs[1], "pids.max", val)) < 0) goto fail;
    if (g_base[V1_CPU][0] && lim->cpus > 0 && make_group(cg, g_base[V1_CPU], name) == 0) {
      snprintf(val, sizeof val, "%u", lim->cpus * 100000u);
      write_file(cg->dirs[2], "cpu.cfs_period_us", "100000");
      write_file(cg->dirs[2], "cpu.cfs_quota_us", val);
    }
    step = "open tasks";
    for (int i = 0; i < cg->n_dirs; i++) {
      char path[512];
      snprintf(path, sizeof path, "%s/tasks", cg->dirs[i]);
      if ((cg->self_fds[i] = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
        rc = -errno;
        goto fail;
      }
      cg->n_self_fds++;
    }
  }
  cg->mode = mode;
  return 0;
fail:
  zr_sbx_cgroup_destroy(cg);
  return zr_seterr(rc, "sandbox cgroup %s (%s): %s", name, step, strerror(-rc));
}

int zr_sbx_cgroup_attach(const zr_sbx_cgroup *cg, pid_t pid) {
  if (cg->mode != 2) return 0; /* v1: the jail joins by itself */
  char val[32];
  snprintf(val, sizeof val, "%ld", (long)pid);
  for (int i = 0; i < cg->n_dirs; i++) {
    int rc = write_file(cg->dirs[i], "cgroup.procs", val);
    if (rc < 0) return zr_seterr(rc, "sandbox cgroup %s: cannot add pid %ld: %s", cg->dirs[i], (long)pid, strerror(-rc));
  }
  return 0;
}

void zr_sbx_cgroup_stats_read(const zr_sbx_cgroup *cg, zr_sbx_cgroup_stats *st) {
  char path[512], buf[2048];
  memset(st, 0, sizeof *st);
  if (cg->mode == 2) {
    snprintf(path, sizeof path, "%s/memory.peak", cg->dirs[0]);
    if (read_file(path, buf, sizeof buf) > 0) st->memory_peak = strtoull(buf, NULL, 10);
    snprintf(path, sizeof path, "%s/memory.events", cg->dirs[0]);
    if (read_file(path, buf, sizeof buf) > 0) st->oom_kills = keyed_value(buf, "oom_kill");
    snprintf(path, sizeof path, "%s/pids.events", cg->dirs[0]);
    if (read_file(path, buf, sizeof buf) > 0) st->pids_max_hits = keyed_value(buf, "max");
  } else if (cg->mode == 1) {
    snprintf(path, sizeof path, "%s/memory.max_usage_in_bytes", cg->dirs[0]);
    if (read_file(path, buf, sizeof buf) > 0) st->memory_peak = strtoull(buf, NULL, 10);
    snprintf(path, sizeof path, "%s/memory.oom_control", cg->dirs[0]);
    if (read_file(path, buf, sizeof buf) > 0) st->oom_kills = keyed_value(buf, "oom_kill");
    if (cg->n_dirs > 1) {
      snprintf(path, sizeof path, "%s/pids.events", cg->dirs[1]);
      if (read_file(path, buf, sizeof buf) > 0) st->pids_max_hits = keyed_value(buf, "max");
    }
  }
}

void zr_sbx_cgroup_destroy(zr_sbx_cgroup *cg) {
  for (int i = 0; i < 3; i++)
    if (i < cg->n_self_fds && cg->self_fds[i] >= 0) close(cg->self_fds[i]);
  cg->n_self_fds = 0;
  for (int i = 0; i < cg->n_dirs; i++) {
    if (cg->mode == 2) write_file(cg->dirs[i], "cgroup.kill", "1");
    /* the jail's processes are gone once its init has been reaped; the kernel may still be
     * finishing their exit, so retry briefly */
    for (int tries = 0; tries < 200; tries++) {
      if (rmdir(cg->dirs[i]) == 0 || errno == ENOENT) break;
      if (errno != EBUSY) {
        zr_log_limited("sbx-rmdir", 60000, ZR_LOG_WARN, "sandbox", "cannot remove cgroup %s: %s", cg->dirs[i],
                       strerror(errno));
        break;
      }
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
    }
  }
  cg->n_dirs = 0;
  cg->mode = 0;
}
