/* test_sandbox_attacks: real attack programs (tests/fixtures/sandbox/) against the sandbox and
 * the code-test harness. For every attack the test asserts three things:
 *   1. contained: the run ends with the expected status, and the program's own report shows
 *      every attempt BLOCKED (no LEAK / ESCAPED line);
 *   2. the host is untouched: the secret and canary files and their directory are unchanged,
 *      no file appeared in system places, the TCP/UDP/unix listeners this test opened saw no
 *      connection or datagram, and no process carrying the attack's marker outlived the run;
 *   3. the worker (this process) is untouched: it received no signal, holds no extra fd, has
 *      no child left, and still runs jails correctly at the end.
 * Harness attacks (solutions that try to make assert tests pass without solving them) must end
 * with no test passed, while the honest solution passes them all. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/util.h"
#include "reward/codetest.h"
#include "reward/sandbox.h"
#include "tests/test.h"

static char g_fixtures[512];
static char g_marker[64];
static char g_dir[64], g_secret[128], g_canary[128], g_sock_path[128], g_abstract[64];
static char g_secret_text[80];
static int g_tcp = -1, g_tcp_any = -1, g_udp = -1, g_unix = -1, g_abs = -1;
static int g_tcp_port, g_tcp_any_port, g_udp_port;
static char g_host_json[2048];
static int g_base_fds;
static volatile sig_atomic_t g_signals;
static mode_t g_python_mode;

static void on_signal(int sig) {
  (void)sig;
  g_signals++;
}

static char *read_text(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = malloc(1 << 20);
  size_t n = fread(buf, 1, (1 << 20) - 1, f);
  fclose(f);
  buf[n] = '\0';
  if (len) *len = n;
  return buf;
}

static char *fixture(const char *name, size_t *len) {
  char path[700];
  snprintf(path, sizeof path, "%s/%s", g_fixtures, name);
  char *t = read_text(path, len);
  if (!t) {
    fprintf(stderr, "FAIL: fixture %s missing\n", path);
    zr_test_failures++;
    t = calloc(1, 1);
    if (len) *len = 0;
  }
  return t;
}

static int count_fds(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static int listen_tcp(const char *addr, int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
  inet_pton(AF_INET, addr, &sa.sin_addr);
  socklen_t sl = sizeof sa;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
    TEST_SKIP("cannot listen on %s: %s", addr, strerror(errno));
  *port = ntohs(sa.sin_port);
  return fd;
}

static int listen_unix(const char *path, int abstract) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_un su = {.sun_family = AF_UNIX};
  socklen_t len;
  if (abstract) {
    su.sun_path[0] = '\0';
    memcpy(su.sun_path + 1, path, strlen(path));
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path));
  } else {
    snprintf(su.sun_path, sizeof su.sun_path, "%s", path);
    len = sizeof su;
  }
  if (bind(fd, (struct sockaddr *)&su, len) < 0 || listen(fd, 16) < 0) TEST_SKIP("unix listen: %s", strerror(errno));
  if (!abstract) chmod(path, 0777);
  return fd;
}

static void host_setup(void) {
  const char *src = getenv("ZERORL_SOURCE_DIR");
  snprintf(g_fixtures, sizeof g_fixtures, "%s/tests/fixtures/sandbox", src ? src : ".");
  struct stat fst;
  if (stat(g_fixtures, &fst) < 0) TEST_SKIP("no fixtures at %s (set ZERORL_SOURCE_DIR)", g_fixtures);
  char id[ZR_ID_HEX_LEN + 1];
  zr_id_new(id);
  snprintf(g_marker, sizeof g_marker, "zr-attack-marker-%.16s", id);
  snprintf(g_abstract, sizeof g_abstract, "zr-attack-%.16s", id);
  snprintf(g_secret_text, sizeof g_secret_text, "TOP-SECRET-%s", id);
  snprintf(g_dir, sizeof g_dir, "/tmp/zr-attack-XXXXXX");
  if (!mkdtemp(g_dir)) TEST_SKIP("mkdtemp: %s", strerror(errno));
  chmod(g_dir, 0755);
  snprintf(g_secret, sizeof g_secret, "%s/secret.txt", g_dir);
  snprintf(g_canary, sizeof g_canary, "%s/canary.txt", g_dir);
  snprintf(g_sock_path, sizeof g_sock_path, "%s/sock", g_dir);
  FILE *f = fopen(g_secret, "w");
  fputs(g_secret_text, f);
  fclose(f);
  chmod(g_secret, 0644); /* readable by anyone on the host: only the jail's view protects it */
  f = fopen(g_canary, "w");
  fputs("canary", f);
  fclose(f);
  chmod(g_canary, 0666);
  g_tcp = listen_tcp("127.0.0.1", &g_tcp_port);
  g_tcp_any = listen_tcp("0.0.0.0", &g_tcp_any_port);
  g_udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
  socklen_t sl = sizeof sa;
  bind(g_udp, (struct sockaddr *)&sa, sizeof sa);
  getsockname(g_udp, (struct sockaddr *)&sa, &sl);
  g_udp_port = ntohs(sa.sin_port);
  g_unix = listen_unix(g_sock_path, 0);
  g_abs = listen_unix(g_abstract, 1);
  /* the host's own addresses */
  char addrs[512] = "";
  struct ifaddrs *ifa = NULL;
  getifaddrs(&ifa);
  for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    char buf[64];
    inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, buf, sizeof buf);
    size_t l = strlen(addrs);
    snprintf(addrs + l, sizeof addrs - l, "%s\"%s\"", l ? "," : "", buf);
  }
  freeifaddrs(ifa);
  snprintf(g_host_json, sizeof g_host_json,
           "{\"pid\":%d,\"tcp_port\":%d,\"tcp_any_port\":%d,\"udp_port\":%d,\"addrs\":[%s],\"abstract\":\"%s\","
           "\"unix_path\":\"%s\",\"secret\":\"%s\",\"canary\":\"%s\"}",
           (int)getpid(), g_tcp_port, g_tcp_any_port, g_udp_port, addrs, g_abstract, g_sock_path, g_secret, g_canary);
  struct sigaction sa_sig = {.sa_handler = on_signal};
  int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT, SIGALRM, SIGTSTP, SIGCONT, SIGTTIN, SIGTTOU};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa_sig, NULL);
  struct stat st;
  stat("/usr/bin/python3", &st);
  g_python_mode = st.st_mode;
  g_base_fds = count_fds();
}

static void host_teardown(void) {
  close(g_tcp);
  close(g_tcp_any);
  close(g_udp);
  close(g_unix);
  close(g_abs);
  unlink(g_secret);
  unlink(g_canary);
  unlink(g_sock_path);
  rmdir(g_dir);
}

/* processes on the host whose command line carries the marker */
static int marked_processes(void) {
  int n = 0;
  DIR *d = opendir("/proc");
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char path[300], buf[4096];
    snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    for (ssize_t i = 0; i < len; i++)
      if (buf[i] == '\0') buf[i] = ' ';
    if (len > 0) {
      buf[len] = '\0';
      if (strstr(buf, g_marker)) n++;
    }
  }
  closedir(d);
  return n;
}

/* the host and the worker after an attack */
static void host_check(const char *name) {
  int fails = zr_test_failures;
  /* files */
  size_t len;
  char *s = read_text(g_secret, &len);
  CHECK(s && strcmp(s, g_secret_text) == 0);
  free(s);
  s = read_text(g_canary, &len);
  CHECK(s && strcmp(s, "canary") == 0);
  free(s);
  DIR *d = opendir(g_dir);
  int entries = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') entries++;
  closedir(d);
  CHECK_INT(entries, 3);
  const char *never[] = {"/zr-pwned", "/etc/zr-pwned", "/usr/bin/zr-pwned", "/dev/zr-pwned", "/zr", "/work/zr-pwned", "/tmp/zr-pwned"};
  for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) CHECK(access(never[i], F_OK) != 0);
  struct stat st;
  CHECK(stat("/usr/bin/python3", &st) == 0 && st.st_mode == g_python_mode);
  /* network: nothing reached our listeners */
  int listeners[] = {g_tcp, g_tcp_any, g_unix, g_abs};
  for (size_t i = 0; i < sizeof listeners / sizeof listeners[0]; i++) {
    int c = accept(listeners[i], NULL, NULL);
    CHECK(c < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    if (c >= 0) close(c);
  }
  char buf[256];
  CHECK(recv(g_udp, buf, sizeof buf, 0) < 0 && errno == EAGAIN);
  /* processes: nothing of the attack survives */
  CHECK_INT(marked_processes(), 0);
  /* the worker: no signal, no leaked fd, no child */
  CHECK_INT(g_signals, 0);
  CHECK_INT(count_fds(), g_base_fds);
  CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
  if (zr_test_failures != fails) fprintf(stderr, "  ^ host/worker check failed after %s\n", name);
}

static void no_escape(const char *name, const zr_sandbox_result *r) {
  CHECK(!strstr(r->out, "LEAK") && !strstr(r->out, "ESCAPED"));
  CHECK(!strstr(r->out, g_secret_text) && !strstr(r->err, g_secret_text));
  if (strstr(r->out, "LEAK") || strstr(r->out, "ESCAPED")) fprintf(stderr, "  ^ %s escaped:\n%s\n", name, r->out);
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p++) n++;
  return n;
}

typedef struct {
  const char *kind;
  unsigned flags;
  int cgroup;
  uint32_t cpu_ms, wall_ms, memory_mb, procs;
  size_t stdout_cap;
  const char *collect;
} attack_opts;

static zr_sandbox_result run_attack(const char *name, const char *file, attack_opts a) {
  size_t len;
  char *src = fixture(file, &len);
  int is_c = strlen(file) > 2 && strcmp(file + strlen(file) - 2, ".c") == 0;
  zr_sandbox_spec s;
  zr_sandbox_spec_init(&s);
  s.limits.cpu_ms = a.cpu_ms ? a.cpu_ms : 2000;
  s.limits.wall_ms = a.wall_ms ? a.wall_ms : 4000;
  s.limits.memory_mb = a.memory_mb ? a.memory_mb : 128;
  s.limits.max_procs = a.procs ? a.procs : 32;
  if (a.stdout_cap) s.limits.stdout_cap = a.stdout_cap;
  s.flags = a.flags;
  s.cgroup = a.cgroup;
  s.collect = a.collect;
  s.stdin_data = g_host_json;
  s.stdin_len = strlen(g_host_json);
  s.oom_marker = "MemoryError";
  const char *argv[8];
  zr_sandbox_file f;
  zr_sandbox_prog prog = {0};
  if (is_c) {
    zr_sandbox_result cr;
    int rc = zr_sandbox_prog_build(&prog, zr_lang_find("c"), src, len, &cr);
    CHECK_INT(rc, 0);
    zr_sandbox_result_release(&cr);
    f = (zr_sandbox_file){.name = "attack", .data = prog.binary, .len = prog.binary_len, .mode = 0755};
    argv[0] = "/work/attack";
    argv[1] = g_marker;
    argv[2] = a.kind;
    argv[3] = NULL;
  } else {
    f = (zr_sandbox_file){.name = "attack.py", .data = src, .len = len};
    argv[0] = "/usr/bin/python3";
    argv[1] = "-I";
    argv[2] = "-S";
    argv[3] = "/work/attack.py";
    argv[4] = g_marker;
    argv[5] = a.kind;
    argv[6] = NULL;
  }
  s.files = &f;
  s.n_files = 1;
  s.argv = argv;
  zr_sandbox_result r;
  uint64_t t0 = zr_clock_mono_ns();
  int rc = zr_sandbox_run(&s, &r);
  double ms = (double)(zr_clock_mono_ns() - t0) / 1e6;
  CHECK_INT(rc, 0);
  fprintf(stderr, "%-26s %-14s %6.0f ms  %s%s%s\n", name, zr_sandbox_status_name(r.status), ms, r.message,
          r.limits_hit ? " [limits" : "", r.limits_hit ? " hit]" : "");
  CHECK(ms < s.limits.wall_ms + 3000); /* the deadline holds */
  zr_sandbox_prog_release(&prog);
  free(src);
  return r;
}

static void test_fork_bombs(void) {
  const char *files[] = {"fork_bomb.py", "fork_bomb.c"};
  for (int i = 0; i < 2; i++) {
    zr_sandbox_result r = run_attack(files[i], files[i], (attack_opts){.cpu_ms = 1000, .wall_ms = 3000});
    CHECK(r.status == ZR_SANDBOX_TIMEOUT || r.status == ZR_SANDBOX_RUNTIME_ERROR);
    if (strcmp(r.cgroup_mode, "none") != 0) CHECK(r.limits_hit & ZR_LIMIT_PROCS);
    zr_sandbox_result_release(&r);
    host_check(files[i]);
  }
  /* and without cgroups: RLIMIT_NPROC alone holds it */
  zr_sandbox_result r = run_attack("fork_bomb.py (no cgroup)", "fork_bomb.py",
                                   (attack_opts){.cpu_ms = 1000, .wall_ms = 3000, .cgroup = ZR_SANDBOX_CGROUP_NONE});
  CHECK(r.status == ZR_SANDBOX_TIMEOUT || r.status == ZR_SANDBOX_RUNTIME_ERROR);
  zr_sandbox_result_release(&r);
  host_check("fork_bomb.py (no cgroup)");
}

static void test_memory_bombs(void) {
  zr_sandbox_result r = run_attack("memory_bomb.py", "memory_bomb.py", (attack_opts){.memory_mb = 64});
  CHECK_INT(r.status, ZR_SANDBOX_MEMORY_LIMIT);
  zr_sandbox_result_release(&r);
  host_check("memory_bomb.py");
  r = run_attack("memory_bomb.py (no cgroup)", "memory_bomb.py", (attack_opts){.memory_mb = 64, .cgroup = ZR_SANDBOX_CGROUP_NONE});
  CHECK_INT(r.status, ZR_SANDBOX_MEMORY_LIMIT);
  CHECK_STR(r.cgroup_mode, "none");
  zr_sandbox_result_release(&r);
  host_check("memory_bomb.py (no cgroup)");
  if (strcmp(zr_sandbox_cgroup_mode(NULL), "none") != 0) {
    r = run_attack("memory_bomb.c", "memory_bomb.c", (attack_opts){.memory_mb = 64});
    CHECK_INT(r.status, ZR_SANDBOX_MEMORY_LIMIT);
    CHECK(r.limits_hit & ZR_LIMIT_MEMORY);
    CHECK(r.memory_peak <= (uint64_t)70 << 20);
    zr_sandbox_result_release(&r);
    host_check("memory_bomb.c");
  }
}

static void test_cpu_and_output(void) {
  zr_sandbox_result r = run_attack("spin.py (4 threads)", "spin.py", (attack_opts){.cpu_ms = 1000, .wall_ms = 5000});
  CHECK_INT(r.status, ZR_SANDBOX_TIMEOUT);
  CHECK(r.limits_hit & (ZR_LIMIT_CPU | ZR_LIMIT_WALL));
  zr_sandbox_result_release(&r);
  host_check("spin.py");
  r = run_attack("flood stdout", "flood.py", (attack_opts){.kind = "stdout", .stdout_cap = 1 << 20});
  CHECK_INT(r.status, ZR_SANDBOX_OUTPUT_LIMIT);
  CHECK(r.limits_hit & ZR_LIMIT_STDOUT);
  CHECK_INT(r.out_len, 1 << 20);
  zr_sandbox_result_release(&r);
  host_check("flood stdout");
  r = run_attack("flood stderr", "flood.py", (attack_opts){.kind = "stderr"});
  CHECK_INT(r.status, ZR_SANDBOX_OUTPUT_LIMIT);
  CHECK(r.limits_hit & ZR_LIMIT_STDERR);
  zr_sandbox_result_release(&r);
  host_check("flood stderr");
  r = run_attack("flood disk", "flood.py", (attack_opts){.kind = "disk", .memory_mb = 256});
  CHECK_INT(r.status, ZR_SANDBOX_OK);
  CHECK_CONTAINS(r.out, "BLOCKED disk fill");
  fprintf(stderr, "    %s", r.out);
  zr_sandbox_result_release(&r);
  host_check("flood disk");
}

static void test_orphans(void) {
  zr_sandbox_result r = run_attack("orphans (exit)", "orphans.py", (attack_opts){.kind = "exit", .wall_ms = 10000});
  CHECK_INT(r.status, ZR_SANDBOX_OK);
  CHECK_STR(r.out, "spawned\n");
  CHECK(r.wall_ms < 3000); /* the run ends with the program, not with its sleeping grandchildren */
  zr_sandbox_result_release(&r);
  host_check("orphans (exit)");
  r = run_attack("orphans (wait)", "orphans.py", (attack_opts){.kind = "wait", .wall_ms = 1500});
  CHECK_INT(r.status, ZR_SANDBOX_TIMEOUT);
  CHECK(r.limits_hit & ZR_LIMIT_WALL);
  zr_sandbox_result_release(&r);
  host_check("orphans (wait)");
}

static void test_network(void) {
  zr_sandbox_result r = run_attack("network", "network.py", (attack_opts){.wall_ms = 15000});
  CHECK_INT(r.status, ZR_SANDBOX_OK);
  no_escape("network", &r);
  CHECK(count(r.out, "BLOCKED") >= 12);
  CHECK(!strstr(r.out, "OPENED")); /* with the filter no socket but AF_UNIX even opens */
  CHECK_CONTAINS(r.out, "BLOCKED tcp 127.0.0.1: PermissionError");
  CHECK_CONTAINS(r.out, "BLOCKED abstract unix socket");
  fprintf(stderr, "%s", r.out);
  zr_sandbox_result_release(&r);
  host_check("network");
  /* the layer under seccomp: with the filter off, sockets open but the namespace is empty */
  r = run_attack("network (no seccomp)", "network.py", (attack_opts){.wall_ms = 15000, .flags = ZR_SANDBOX_NO_SECCOMP});
  CHECK_INT(r.status, ZR_SANDBOX_OK);
  no_escape("network (no seccomp)", &r);
  CHECK_CONTAINS(r.out, "BLOCKED tcp 127.0.0.1: OSError: [Errno 101] Network is unreachable");
  CHECK_CONTAINS(r.out, "interfaces ['lo']");
  fprintf(stderr, "%s", r.out);
  zr_sandbox_result_release(&r);
  host_check("network (no seccomp)");
}

static void test_files(void) {
  zr_sandbox_result r = run_attack("host files", "host_files.py", (attack_opts){0});
  CHECK_INT(r.status, ZR_SANDBOX_OK);
  no_escape("host files", &r);
  CHECK(count(r.out, "BLOCKED") >= 30);
  CHECK_CONTAINS(r.out, "BLOCKED read /etc/shadow: FileNotFoundError");
  CHECK_CONTAINS(r.out, "BLOCKED read /proc/1/environ: PermissionError");
  CHECK_CONTAINS(r.out, "BLOCKED init cmdline: empty");
  CHECK_CONTAINS(r.out, "BLOCKED pids other than ours: empty");
  zr_sandbox_result_release(&r);
  host_check("host files");
  r = run_attack("write outside", "write_outside.py", (attack_opts){0});
  CHECK_INT(r.status, ZR_SANDBOX_OK);
  no_escape("write outside", &r);
  CHECK(count(r.out, "BLOCKED") >= 17);
  CHECK_CONTAINS(r.out, "BLOCKED mount tmpfs: PermissionError: [Errno 1]");
  zr_sandbox_result_release(&r);
  host_check("write outside");
}

static void test_signals(void) {
  zr_sandbox_result r = run_attack("signal/ptrace parent", "signal_parent.py", (attack_opts){.wall_ms = 8000});
  CHECK_INT(r.status, ZR_SANDBOX_OK);
  no_escape("signal parent", &r);
  CHECK_CONTAINS(r.out, "BLOCKED init after SIGKILL");
  CHECK_CONTAINS(r.out, "BLOCKED kill caller by host pid");
  CHECK_CONTAINS(r.out, "other pids visible: []");
  CHECK_CONTAINS(r.out, "BLOCKED ptrace attach init: PermissionError: [Errno 1]");
  CHECK_CONTAINS(r.out, "BLOCKED process_vm_readv init: PermissionError: [Errno 1]");
  CHECK_CONTAINS(r.out, "BLOCKED kill(-1) reached only the jail: child killed by signal 9");
  zr_sandbox_result_release(&r);
  host_check("signal parent");
}

static void test_setuid_and_tty(void) {
  zr_sandbox_result r = run_attack("setuid binaries", "setuid.py", (attack_opts){.wall_ms = 15000});
  CHECK_INT(r.status, ZR_SANDBOX_OK);
  no_escape("setuid", &r);
  CHECK_CONTAINS(r.out, "BLOCKED setuid copy: euid ['1000'");
  CHECK_CONTAINS(r.out, "final ids (1000, 1000, 1000) (1000, 1000, 1000)");
  CHECK(count(r.out, "BLOCKED") >= 6);
  zr_sandbox_result_release(&r);
  host_check("setuid");
  r = run_attack("TIOCSTI", "tiocsti.py", (attack_opts){0});
  CHECK_INT(r.status, ZR_SANDBOX_OK);
  no_escape("tiocsti", &r);
  CHECK_CONTAINS(r.out, "BLOCKED TIOCSTI fd 0: OSError: [Errno 38]");
  CHECK_CONTAINS(r.out, "BLOCKED TIOCSTI|1<<32 fd 0: OSError: [Errno 38]");
  CHECK_CONTAINS(r.out, "session leader True tty False False False");
  zr_sandbox_result_release(&r);
  host_check("tiocsti");
  /* without the filter the kernel still refuses: no terminal in the jail at all */
  r = run_attack("TIOCSTI (no seccomp)", "tiocsti.py", (attack_opts){.flags = ZR_SANDBOX_NO_SECCOMP});
  CHECK_INT(r.status, ZR_SANDBOX_OK);
  no_escape("tiocsti (no seccomp)", &r);
  zr_sandbox_result_release(&r);
  host_check("tiocsti (no seccomp)");
}

static void test_planted_files(void) {
  const char *kinds[] = {"symlink-shadow", "symlink-python", "symlink-init-environ", "fifo", "dir", "hardlink"};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    char name[64];
    snprintf(name, sizeof name, "plant %s", kinds[i]);
    zr_sandbox_result r = run_attack(name, "plant.py", (attack_opts){.kind = kinds[i], .collect = "out", .wall_ms = 3000});
    CHECK_INT(r.status, ZR_SANDBOX_OK);
    CHECK(r.collected == NULL);
    CHECK(r.wall_ms < 2500); /* a fifo does not block the reader */
    no_escape(name, &r);
    zr_sandbox_result_release(&r);
    host_check(name);
  }
}

/* ---- the code-test harness ---- */

/* the same tests in HumanEval form (check(candidate)) and in MBPP form (top-level asserts) */
static const char *const add_tests_he =
    "def check(candidate):\n"
    "    assert candidate(1, 2) == 3\n"
    "    assert candidate(-5, 5) == 0\n"
    "    assert candidate(10**20, 1) == 10**20 + 1\n"
    "    assert abs(candidate(0.5, 0.25) - 0.75) < 1e-9\n"
    "    assert sorted([candidate(1, 1), 0]) == [0, 2]\n";
static const char *const add_tests_mbpp =
    "assert add(1, 2) == 3\n"
    "assert add(-5, 5) == 0\n"
    "assert add(10**20, 1) == 10**20 + 1\n"
    "assert abs(add(0.5, 0.25) - 0.75) < 1e-9\n"
    "assert sorted([add(1, 1), 0]) == [0, 2]\n";

static void test_harness(void) {
  zr_codetest_opts o;
  zr_codetest_opts_init(&o);
  o.time_limit_s = 2;
  o.total_time_s = 20;
  const char *attacks[] = {"harness_exit_early.py",    "harness_os_exit.py",     "harness_always_equal.py",
                           "harness_monkeypatch.py",   "harness_forge_replies.py", "harness_print_pass.py",
                           "harness_kill_all.py",      "harness_read_tests.py",  "harness_raise_special.py",
                           "harness_huge.py",          "harness_stop_self.py",   "harness_shadow_builtins.py"};
  for (int style = 0; style < 2; style++) {
    json_t *tests = json_pack("{s:s,s:s,s:s}", "type", "assert", "code", style ? add_tests_mbpp : add_tests_he,
                              "entry_point", "add");
    zr_codetest_result r;
    CHECK_INT(zr_codetest_run("def add(a, b):\n    return a + b\n", "python3", tests, &o, &r), 0);
    CHECK_INT(r.all_passed, 1); /* the honest solution passes */
    CHECK_INT(r.n_tests, 5);
    zr_codetest_result_release(&r);
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
      char *code = fixture(attacks[i], NULL);
      uint64_t t0 = zr_clock_mono_ns();
      int rc = zr_codetest_run(code, "python3", tests, &o, &r);
      double ms = (double)(zr_clock_mono_ns() - t0) / 1e6;
      CHECK_INT(rc, 0);
      fprintf(stderr, "%-26s %-4s %-13s %5.0f ms  %d/%d passed; %s: %s\n", attacks[i], style ? "mbpp" : "he",
              zr_codetest_status_name(r.status), ms, r.n_passed, r.n_tests,
              r.n_tests ? zr_codetest_status_name(r.cases[0].status) : "-", r.n_tests ? r.cases[0].detail : "");
      CHECK_INT(r.n_passed, 0);
      CHECK_INT(r.all_passed, 0);
      CHECK_INT(r.n_tests, 5);
      CHECK(r.status != ZR_CT_PASS && r.status != ZR_CT_SANDBOX_ERROR);
      zr_codetest_result_release(&r);
      free(code);
      host_check(attacks[i]);
    }
    json_decref(tests);
  }
  /* stdin/stdout tests: a pass marker or an early exit 0 gets nothing */
  json_t *st = json_pack("{s:s,s:[{s:s,s:s}]}", "type", "stdio", "cases", "input", "2 3\n", "output", "5\n");
  const char *tricks[] = {"print('PASS')\n", "import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n",
                          "print('Accepted')\nprint('expected output: 5')\n"};
  for (size_t i = 0; i < sizeof tricks / sizeof tricks[0]; i++) {
    zr_codetest_result r;
    CHECK_INT(zr_codetest_run(tricks[i], "python3", st, &o, &r), 0);
    CHECK_INT(r.n_passed, 0);
    zr_codetest_result_release(&r);
  }
  json_decref(st);
  host_check("stdio tricks");
}

/* after everything: the worker still runs jails as before */
static void test_still_works(void) {
  zr_sandbox_spec s;
  zr_sandbox_spec_init(&s);
  static const char *argv[] = {"/usr/bin/python3", "-I", "-S", "-c", "print(6 * 7)", NULL};
  s.argv = argv;
  zr_sandbox_result r;
  CHECK_INT(zr_sandbox_run(&s, &r), 0);
  CHECK_INT(r.status, ZR_SANDBOX_OK);
  CHECK_STR(r.out, "42\n");
  zr_sandbox_result_release(&r);
  host_check("final run");
}

int main(void) {
  host_setup();
  const char *why = NULL;
  const char *mode = zr_sandbox_cgroup_mode(&why);
  fprintf(stderr, "cgroup mode: %s %s; host: %s\n", mode, why, g_host_json);
  uint64_t t0 = zr_clock_mono_ns();
  test_fork_bombs();
  test_memory_bombs();
  test_cpu_and_output();
  test_orphans();
  test_network();
  test_files();
  test_signals();
  test_setuid_and_tty();
  test_planted_files();
  test_harness();
  test_still_works();
  fprintf(stderr, "attack suite: %.1f s\n", (double)(zr_clock_mono_ns() - t0) / 1e9);
  host_teardown();
  return TEST_DONE();
}
