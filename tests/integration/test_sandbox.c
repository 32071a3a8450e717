/* test_sandbox: the launcher end to end with real programs: what the jail looks like from
 * inside, stdin/stdout/stderr, exit codes and signals, every limit and the status it gives (CPU,
 * wall, memory with and without cgroups, output, file size, processes), the result channel,
 * collected files, groups of jails joined by pipes, sandbox errors, many jails from many
 * threads at once, and the time per `print(1)` against bare python3. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "reward/sandbox.h"
#include "tests/test.h"

extern char **environ;

static const char *py[] = {"/usr/bin/python3", "-I", "-S", "-c", NULL, NULL};

static int run_py(const char *code, zr_sandbox_spec *spec, zr_sandbox_result *r) {
  static const char *argv[6];
  memcpy(argv, py, sizeof argv);
  argv[4] = code;
  spec->argv = argv;
  int rc = zr_sandbox_run(spec, r);
  if (r->status != ZR_SANDBOX_OK)
    fprintf(stderr, "  run: %s (%s) rc=%d err=%.300s\n", zr_sandbox_status_name(r->status), r->message, rc, r->err);
  return rc;
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

static void test_inside(void) {
  zr_sandbox_spec s;
  zr_sandbox_spec_init(&s);
  zr_sandbox_result r;
  const char *code =
      "import os, sys\n"
      "st = {l.split(':')[0]: l.split(':', 1)[1].strip() for l in open('/proc/self/status')}\n"
      "print('uid', os.getuid(), os.geteuid(), os.getgid())\n"
      "print('groups', st['Groups'] or '-')\n"
      "print('caps', st['CapEff'], st['CapPrm'], st['CapBnd'], st['CapAmb'])\n"
      "print('nnp', st['NoNewPrivs'], 'seccomp', st['Seccomp'])\n"
      "print('pid', os.getpid(), os.getppid())\n"
      "print('cwd', os.getcwd(), 'host', os.uname().nodename)\n"
      "print('root', sorted(os.listdir('/')))\n"
      "print('dev', sorted(os.listdir('/dev')))\n"
      "print('env', sorted(os.environ))\n"
      "print('tty', os.isatty(0), os.isatty(1))\n"
      "print('sid', os.getsid(0) == os.getpid())\n"
      "print('net', sorted(os.listdir('/proc/self/net')) if os.path.exists('/proc/self/net') else '-')\n"
      "open('/tmp/x', 'w').write('y'); print('tmp', os.path.exists('/work/x'))\n";
  CHECK_INT(run_py(code, &s, &r), 0);
  CHECK_INT(r.status, ZR_SANDBOX_OK);
  fprintf(stderr, "%s", r.out);
  CHECK_CONTAINS(r.out, "uid 1000 1000 1000\n");
  CHECK_CONTAINS(r.out, "groups -\n");
  CHECK_CONTAINS(r.out, "caps 0000000000000000 0000000000000000 0000000000000000 0000000000000000\n");
  CHECK_CONTAINS(r.out, "nnp 1 seccomp 2\n");
  CHECK_CONTAINS(r.out, "pid 2 1\n"); /* the program is pid 2 under the jail's init */
  CHECK_CONTAINS(r.out, "cwd /work host zerorl\n");
  CHECK_CONTAINS(r.out, "root ['bin', 'dev', 'etc', 'lib', 'lib64', 'proc', 'sbin', 'tmp', 'usr', 'work']\n");
  CHECK_CONTAINS(r.out, "dev ['fd', 'full', 'null', 'random', 'stderr', 'stdin', 'stdout', 'urandom', 'zero']\n");
  CHECK_CONTAINS(r.out, "env ['HOME', 'LANG', 'LC_ALL', 'PATH', 'TMPDIR', 'USER']\n");
  CHECK_CONTAINS(r.out, "tty False False\n");
  CHECK_CONTAINS(r.out, "sid True\n");
  CHECK_CONTAINS(r.out, "tmp True\n");
  CHECK_STR(r.cgroup_mode, zr_sandbox_cgroup_mode(NULL));
  CHECK(r.setup_ms > 0 && r.setup_ms < r.wall_ms);
  CHECK(r.cpu_ms > 0);
  CHECK(r.memory_peak > 1 << 20);
  zr_sandbox_result_release(&r);
}

static void test_io(void) {
  zr_sandbox_spec s;
  zr_sandbox_spec_init(&s);
  zr_sandbox_result r;
  const char *in = "hello\nworld\n";
  s.stdin_data = in;
  s.stdin_len = strlen(in);
  static const char data[] = "file-content";
  zr_sandbox_file f = {.name = "data.txt", .data = data, .len = sizeof data - 1, .mode = 0600};
  s.files = &f;
  s.n_files = 1;
  CHECK_INT(run_py("import sys, os\n"
                   "print(sys.stdin.read().upper(), end='')\n"
                   "print(open('data.txt').read(), oct(os.stat('data.txt').st_mode & 0o777))\n"
                   "sys.stdin.seek(0); print(len(sys.stdin.read()))\n"
                   "print('err line', file=sys.stderr)\n"
                   "print(sorted(os.listdir('.')))\n",
                   &s, &r),
            0);
  CHECK_STR(r.out, "HELLO\nWORLD\nfile-content 0o600\n12\n['data.txt']\n"); /* stdin is not left in /work */
  CHECK_STR(r.err, "err line\n");
  CHECK_INT(r.exit_code, 0);
  zr_sandbox_result_release(&r);
  /* a large stdin: staged in /work (which grows by its size) and handed over as a file */
  zr_sandbox_spec_init(&s);
  size_t big = 8u << 20;
  char *bigin = malloc(big);
  for (size_t i = 0; i < big; i++) bigin[i] = (char)('a' + i % 26);
  s.stdin_data = bigin;
  s.stdin_len = big;
  s.limits.tmpfs_mb = 1;
  s.limits.memory_mb = 64;
  CHECK_INT(run_py("import sys, hashlib; d = sys.stdin.buffer.read(); print(len(d), d[:3], d[-1:])", &s, &r), 0);
  CHECK_STR(r.out, "8388608 b'abc' b't'\n");
  zr_sandbox_result_release(&r);
  free(bigin);
  /* no stdin: empty */
  zr_sandbox_spec_init(&s);
  CHECK_INT(run_py("import sys; print(repr(sys.stdin.read()))", &s, &r), 0);
  CHECK_STR(r.out, "''\n");
  zr_sandbox_result_release(&r);
}

static void test_exit_and_signals(void) {
  zr_sandbox_spec s;
  zr_sandbox_spec_init(&s);
  zr_sandbox_result r;
  CHECK_INT(run_py("import sys; print('x'); sys.exit(3)", &s, &r), 0);
  CHECK_INT(r.status, ZR_SANDBOX_RUNTIME_ERROR);
  CHECK_INT(r.exit_code, 3);
  CHECK_STR(r.out, "x\n");
  CHECK_CONTAINS(r.message, "exited with code 3");
  zr_sandbox_result_release(&r);
  CHECK_INT(run_py("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", &s, &r), 0);
  CHECK_INT(r.status, ZR_SANDBOX_RUNTIME_ERROR);
  CHECK_INT(r.signal, 11);
  CHECK_INT(r.exit_code, -1);
  CHECK_CONTAINS(r.message, "signal 11");
  zr_sandbox_result_release(&r);
  CHECK_INT(run_py("raise KeyError('k')", &s, &r), 0);
  CHECK_INT(r.status, ZR_SANDBOX_RUNTIME_ERROR);
  CHECK_CONTAINS(r.err, "KeyError: 'k'");
  zr_sandbox_result_release(&r);
}

static void test_time_limits(void) {
  zr_sandbox_spec s;
  zr_sandbox_spec_init(&s);
  zr_sandbox_result r;
  s.limits.cpu_ms = 1000;
  s.limits.wall_ms = 20000;
  CHECK_INT(run_py("while True: pass", &s, &r), 0);
  CHECK_INT(r.status, ZR_SANDBOX_TIMEOUT);
  CHECK(r.limits_hit & ZR_LIMIT_CPU);
  /* it burned CPU rather than waiting out the wall clock (rusage is tick-sampled and runs
   * low on a loaded machine, so only a clear majority of the limit is asserted) */
  CHECK(r.cpu_ms >= 600 && r.wall_ms < 20000);
  fprintf(stderr, "  cpu timeout: cpu %.0f ms wall %.0f ms (%s)\n", r.cpu_ms, r.wall_ms, r.message);
  zr_sandbox_result_release(&r);
  /* sleeping costs no CPU: the wall clock stops it */
  s.limits.cpu_ms = 5000;
  s.limits.wall_ms = 700;
  uint64_t t0 = zr_clock_mono_ns();
  CHECK_INT(run_py("import time; time.sleep(60)", &s, &r), 0);
  double ms = (double)(zr_clock_mono_ns() - t0) / 1e6;
  CHECK_INT(r.status, ZR_SANDBOX_TIMEOUT);
  CHECK(r.limits_hit & ZR_LIMIT_WALL);
  CHECK(ms >= 700 && ms < 3000);
  fprintf(stderr, "  wall timeout after %.0f ms (%s)\n", ms, r.message);
  zr_sandbox_result_release(&r);
  /* a fractional CPU limit is checked after the run */
  s.limits.cpu_ms = 300;
  s.limits.wall_ms = 10000;
  CHECK_INT(run_py("import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass", &s, &r), 0);
  CHECK_INT(r.status, ZR_SANDBOX_TIMEOUT);
  CHECK(r.limits_hit & ZR_LIMIT_CPU);
  zr_sandbox_result_release(&r);
}

static void test_memory(void) {
  zr_sandbox_spec s;
  zr_sandbox_spec_init(&s);
  zr_sandbox_result r;
  s.limits.memory_mb = 100;
  s.oom_marker = "MemoryError";
  /* touching pages past the cgroup limit: the OOM killer; one huge allocation: RLIMIT_AS */
  const char *touch = "x = bytearray(400 << 20)\nprint(len(x))\n";
  const char *grow = "a = []\nwhile True: a.append(' ' * (1 << 20))\n";
  if (strcmp(zr_sandbox_cgroup_mode(NULL), "none") != 0) {
    CHECK_INT(run_py(grow, &s, &r), 0);
    CHECK_INT(r.status, ZR_SANDBOX_MEMORY_LIMIT);
    CHECK(r.limits_hit & ZR_LIMIT_MEMORY);
    CHECK_STR(r.cgroup_mode, zr_sandbox_cgroup_mode(NULL));
    fprintf(stderr, "  memory (cgroup %s): %s, peak %.1f MiB\n", r.cgroup_mode, r.message, r.memory_peak / 1048576.0);
    CHECK(r.memory_peak <= (uint64_t)110 << 20);
    zr_sandbox_result_release(&r);
  }
  CHECK_INT(run_py(touch, &s, &r), 0);
  CHECK_INT(r.status, ZR_SANDBOX_MEMORY_LIMIT);
  zr_sandbox_result_release(&r);
  /* without a cgroup: RLIMIT_AS alone, and the result says so */
  s.cgroup = ZR_SANDBOX_CGROUP_NONE;
  CHECK_INT(run_py(grow, &s, &r), 0);
  CHECK_INT(r.status, ZR_SANDBOX_MEMORY_LIMIT);
  CHECK_STR(r.cgroup_mode, "none");
  CHECK_CONTAINS(r.err, "MemoryError");
  zr_sandbox_result_release(&r);
}

static void test_output_limits(void) {
  zr_sandbox_spec s;
  zr_sandbox_spec_init(&s);
  zr_sandbox_result r;
  s.limits.stdout_cap = 10000;
  CHECK_INT(run_py("while True: print('y' * 1000)", &s, &r), 0);
  CHECK_INT(r.status, ZR_SANDBOX_OUTPUT_LIMIT);
  CHECK(r.limits_hit & ZR_LIMIT_STDOUT);
  CHECK_INT(r.out_len, 10000);
  zr_sandbox_result_release(&r);
  s.limits.stderr_cap = 5000;
  CHECK_INT(run_py("import sys\nwhile True: sys.stderr.write('e' * 100)", &s, &r), 0);
  CHECK_INT(r.status, ZR_SANDBOX_OUTPUT_LIMIT);
  CHECK(r.limits_hit & ZR_LIMIT_STDERR);
  zr_sandbox_result_release(&r);
  /* exactly at the cap is fine */
  CHECK_INT(run_py("print('z' * 9999)", &s, &r), 0);
  CHECK_INT(r.status, ZR_SANDBOX_OK);
  CHECK_INT(r.out_len, 10000);
  zr_sandbox_result_release(&r);
  /* the file size limit: Python ignores SIGXFSZ and gets EFBIG; a C program is killed */
  s.limits.fsize_mb = 1;
  CHECK_INT(run_py("f = open('big', 'wb')\nf.write(b'0' * (2 << 20))\nf.flush()", &s, &r), 0);
  CHECK_INT(r.status, ZR_SANDBOX_RUNTIME_ERROR);
  CHECK_CONTAINS(r.err, "File too large");
  zr_sandbox_result_release(&r);
  zr_sandbox_prog prog;
  zr_sandbox_result cr;
  const char *c = "#include <stdio.h>\nint main(void){FILE*f=fopen(\"big\",\"wb\");for(int i=0;i<4096;i++)"
                  "fwrite(\"0123456789abcdef0123456789abcdef\",1,32*16/16,f),fflush(f);return 0;}\n";
  /* 4096 * 32 bytes = 128 KiB: under the limit */
  CHECK_INT(zr_sandbox_prog_build(&prog, zr_lang_find("c"), c, strlen(c), &cr), 0);
  zr_sandbox_result_release(&cr);
  zr_sandbox_limits lim = s.limits;
  lim.fsize_mb = 1;
  CHECK_INT(zr_sandbox_prog_run(&prog, NULL, 0, &lim, &r), 0);
  CHECK_INT(r.status, ZR_SANDBOX_OK);
  zr_sandbox_result_release(&r);
  zr_sandbox_prog_release(&prog);
  c = "#include <stdio.h>\nint main(void){FILE*f=fopen(\"big\",\"wb\");static char b[1<<16];"
      "for(int i=0;i<64;i++)fwrite(b,1,sizeof b,f),fflush(f);puts(\"done\");return 0;}\n";
  CHECK_INT(zr_sandbox_prog_build(&prog, zr_lang_find("c"), c, strlen(c), &cr), 0);
  zr_sandbox_result_release(&cr);
  lim.fsize_mb = 1; /* 64 * 64 KiB = 4 MiB */
  CHECK_INT(zr_sandbox_prog_run(&prog, NULL, 0, &lim, &r), 0);
  CHECK_INT(r.status, ZR_SANDBOX_OUTPUT_LIMIT);
  CHECK(r.limits_hit & ZR_LIMIT_FSIZE);
  CHECK_INT(r.signal, 25);
  zr_sandbox_result_release(&r);
  zr_sandbox_prog_release(&prog);
}

static void test_processes(void) {
  zr_sandbox_spec s;
  zr_sandbox_spec_init(&s);
  zr_sandbox_result r;
  s.limits.max_procs = 16;
  CHECK_INT(run_py("import os, time\nn = 0\n"
                   "for i in range(100):\n"
                   "    try:\n"
                   "        if os.fork() == 0:\n"
                   "            time.sleep(5); os._exit(0)\n"
                   "        n += 1\n"
                   "    except OSError: pass\n"
                   "print(n)\n",
                   &s, &r),
            0);
  int forked = atoi(r.out);
  fprintf(stderr, "  forked %d of 100 with max_procs 16 (limits_hit 0x%x)\n", forked, r.limits_hit);
  CHECK(forked > 0 && forked < 16);
  if (strcmp(r.cgroup_mode, "none") != 0) CHECK(r.limits_hit & ZR_LIMIT_PROCS);
  CHECK(r.wall_ms < 4000); /* the sleeping children did not hold the run open */
  zr_sandbox_result_release(&r);
}

static void test_channels(void) {
  zr_sandbox_spec s;
  zr_sandbox_spec_init(&s);
  zr_sandbox_result r;
  s.result_cap = 100;
  CHECK_INT(run_py("import os; os.write(3, b'result!'); print('out')", &s, &r), 0);
  CHECK_STR(r.result, "result!");
  CHECK_STR(r.out, "out\n");
  zr_sandbox_result_release(&r);
  CHECK_INT(run_py("import os\nwhile True: os.write(3, b'x' * 64)", &s, &r), 0);
  CHECK_INT(r.status, ZR_SANDBOX_OUTPUT_LIMIT);
  CHECK(r.limits_hit & ZR_LIMIT_RESULT);
  zr_sandbox_result_release(&r);
  /* without a result channel fd 3 does not exist */
  zr_sandbox_spec_init(&s);
  CHECK_INT(run_py("import os\ntry:\n    os.write(3, b'x')\nexcept OSError as e: print(e.errno)", &s, &r), 0);
  CHECK_STR(r.out, "9\n");
  zr_sandbox_result_release(&r);
  /* collect a file the program leaves */
  s.collect = "out.bin";
  CHECK_INT(run_py("open('out.bin', 'wb').write(bytes(range(256)) * 4)", &s, &r), 0);
  CHECK_INT(r.collected_len, 1024);
  CHECK(r.collected && r.collected[255] == 255 && r.collected[256] == 0);
  zr_sandbox_result_release(&r);
  CHECK_INT(run_py("pass", &s, &r), 0);
  CHECK(r.collected == NULL);
  zr_sandbox_result_release(&r);
  s.collect_cap = 100;
  CHECK_INT(run_py("open('out.bin', 'wb').write(b'x' * 101)", &s, &r), 0);
  CHECK(r.collected == NULL);
  zr_sandbox_result_release(&r);
}

/* two jails joined by pipes: one echoes what the other sends; the primary's end kills the other */
static void test_group(void) {
  int a[2], b[2];
  CHECK(pipe(a) == 0 && pipe(b) == 0);
  static const char *argv0[] = {"/usr/bin/python3", "-I", "-S", "-c",
                                "import os\nos.write(4, b'ping\\n')\nprint(os.read(5, 100).decode().strip())", NULL};
  static const char *argv1[] = {"/usr/bin/python3", "-I", "-S", "-c",
                                "import os, time\nd = os.read(4, 100)\nos.write(5, d.upper())\ntime.sleep(60)", NULL};
  int fds0[2] = {a[1], b[0]}, fds1[2] = {a[0], b[1]};
  zr_sandbox_spec specs[2];
  zr_sandbox_spec_init(&specs[0]);
  zr_sandbox_spec_init(&specs[1]);
  specs[0].argv = argv0;
  specs[0].pass_fds = fds0;
  specs[0].n_pass_fds = 2;
  specs[1].argv = argv1;
  specs[1].pass_fds = fds1;
  specs[1].n_pass_fds = 2;
  zr_sandbox_result r[2];
  int before = count_fds();
  uint64_t t0 = zr_clock_mono_ns();
  CHECK_INT(zr_sandbox_run_group(specs, 2, r, 0), 0);
  double ms = (double)(zr_clock_mono_ns() - t0) / 1e6;
  CHECK_INT(r[0].status, ZR_SANDBOX_OK);
  CHECK_STR(r[0].out, "PING\n");
  CHECK_INT(r[1].status, ZR_SANDBOX_KILLED);
  CHECK(ms < 5000);
  CHECK_INT(count_fds(), before - 4); /* the group closed the pipe ends it was given */
  zr_sandbox_result_release(&r[0]);
  zr_sandbox_result_release(&r[1]);
}

static void test_errors(void) {
  zr_sandbox_spec s;
  zr_sandbox_spec_init(&s);
  zr_sandbox_result r;
  static const char *missing[] = {"/usr/bin/no-such-program", NULL};
  s.argv = missing;
  CHECK(zr_sandbox_run(&s, &r) < 0);
  CHECK_INT(r.status, ZR_SANDBOX_SANDBOX_ERROR);
  CHECK_CONTAINS(r.message, "execve");
  CHECK_CONTAINS(zr_errmsg(), "No such file");
  zr_sandbox_result_release(&r);
  static const char *relative[] = {"python3", NULL};
  s.argv = relative;
  CHECK_INT(zr_sandbox_run(&s, &r), -EINVAL);
  CHECK_INT(r.status, ZR_SANDBOX_SANDBOX_ERROR);
  zr_sandbox_result_release(&r);
  zr_sandbox_file bad = {.name = "../evil", .data = "", .len = 0};
  s.argv = py;
  s.files = &bad;
  s.n_files = 1;
  CHECK_INT(zr_sandbox_run(&s, &r), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "bad work file name");
  zr_sandbox_result_release(&r);
  /* work files bigger than tmpfs_mb still fit: /work grows by the spec's own files */
  static char big[2 << 20];
  zr_sandbox_file f = {.name = "big", .data = big, .len = sizeof big};
  zr_sandbox_spec_init(&s);
  s.files = &f;
  s.n_files = 1;
  s.limits.tmpfs_mb = 1;
  CHECK_INT(run_py("print(1)", &s, &r), 0); /* /work grows by the spec's own files */
  CHECK_INT(r.status, ZR_SANDBOX_OK);
  zr_sandbox_result_release(&r);
}

typedef struct {
  int ok, runs;
} thread_arg;

static void *many(void *arg) {
  thread_arg *t = arg;
  for (int i = 0; i < t->runs; i++) {
    zr_sandbox_spec s;
    zr_sandbox_spec_init(&s);
    static const char *argv[] = {"/usr/bin/python3", "-I", "-S", "-c", "import sys; print(sum(map(int, sys.stdin.read().split())))", NULL};
    s.argv = argv;
    char in[64];
    snprintf(in, sizeof in, "%d %d", i, 1000);
    s.stdin_data = in;
    s.stdin_len = strlen(in);
    zr_sandbox_result r;
    if (zr_sandbox_run(&s, &r) == 0 && r.status == ZR_SANDBOX_OK && atoi(r.out) == i + 1000) t->ok++;
    zr_sandbox_result_release(&r);
  }
  return NULL;
}

static void test_threads(void) {
  int before = count_fds();
  pthread_t th[6];
  thread_arg args[6];
  uint64_t t0 = zr_clock_mono_ns();
  for (int i = 0; i < 6; i++) {
    args[i] = (thread_arg){0, 5};
    pthread_create(&th[i], NULL, many, &args[i]);
  }
  int ok = 0;
  for (int i = 0; i < 6; i++) {
    pthread_join(th[i], NULL);
    ok += args[i].ok;
  }
  double s = (double)(zr_clock_mono_ns() - t0) / 1e9;
  fprintf(stderr, "  6 threads x 5 runs: %d ok in %.2f s (%.1f runs/s)\n", ok, s, 30 / s);
  CHECK_INT(ok, 30);
  CHECK_INT(count_fds(), before);
  CHECK_INT(waitpid(-1, NULL, WNOHANG), -1); /* no children left behind */
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* the time per run of print(1), sandboxed and bare (fork + exec + wait of the same command) */
static void test_timing(void) {
  enum { N = 21 };
  double jail[N], bare[N], setup[N];
  static const char *argv[] = {"/usr/bin/python3", "-I", "-S", "-c", "print(1)", NULL};
  for (int i = 0; i < N; i++) {
    zr_sandbox_spec s;
    zr_sandbox_spec_init(&s);
    s.argv = argv;
    zr_sandbox_result r;
    uint64_t t0 = zr_clock_mono_ns();
    zr_sandbox_run(&s, &r);
    jail[i] = (double)(zr_clock_mono_ns() - t0) / 1e6;
    setup[i] = r.setup_ms;
    CHECK_STR(r.out, "1\n");
    zr_sandbox_result_release(&r);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    t0 = zr_clock_mono_ns();
    posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    waitpid(pid, NULL, 0);
    bare[i] = (double)(zr_clock_mono_ns() - t0) / 1e6;
    posix_spawn_file_actions_destroy(&fa);
  }
  qsort(jail, N, sizeof *jail, cmp_double);
  qsort(bare, N, sizeof *bare, cmp_double);
  qsort(setup, N, sizeof *setup, cmp_double);
  fprintf(stderr, "  print(1): sandboxed median %.1f ms (min %.1f, setup median %.1f), bare median %.1f ms (min %.1f): "
          "overhead %.1f ms median, %.1f ms min; cgroup %s\n",
          jail[N / 2], jail[0], setup[N / 2], bare[N / 2], bare[0], jail[N / 2] - bare[N / 2], jail[0] - bare[0],
          zr_sandbox_cgroup_mode(NULL));
  CHECK(jail[N / 2] < 2000);
}

int main(void) {
  const char *why = NULL;
  const char *mode = zr_sandbox_cgroup_mode(&why);
  fprintf(stderr, "cgroup mode: %s %s\n", mode, why);
  test_inside();
  test_io();
  test_exit_and_signals();
  test_time_limits();
  test_memory();
  test_output_limits();
  test_processes();
  test_channels();
  test_group();
  test_errors();
  test_threads();
  test_timing();
  return TEST_DONE();
}
