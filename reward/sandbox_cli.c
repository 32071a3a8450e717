/* sandbox_cli.c: the sandbox's command line, shared by `zerorl sandbox` and the zerorl-sandbox
 * program: run a source file in a language, run an arbitrary command in a jail, measure runs
 * per second, show what the launcher found on this host. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "reward/sandbox.h"

extern char **environ;

static void usage(FILE *f, const char *prog) {
  fprintf(f,
          "usage: %s run --lang LANG [options] FILE\n"
          "       %s exec [options] [--ro PATH]... [--file NAME=HOSTFILE]... -- /ABS/PROGRAM [ARG]...\n"
          "       %s bench --lang LANG [-n RUNS] [-j JOBS] [options] FILE\n"
          "       %s info\n"
          "\n"
          "run    compiles FILE if LANG needs it (in a jail), runs it in a jail; the program's stdout\n"
          "       goes to stdout, its stderr to stderr, then one JSON line on stderr says how the run\n"
          "       ended: status (ok, runtime_error, timeout, memory_limit, output_limit, compile_error,\n"
          "       sandbox_error), exit code, signal, limits hit, timings, memory peak, cgroup mode.\n"
          "exec   runs an absolute path inside a jail (the base read-only view plus --ro paths), with\n"
          "       host files copied into /work by --file.\n"
          "bench  runs FILE RUNS times on JOBS threads, each jailed run followed by the same command\n"
          "       run bare (no jail), and prints one JSON line: median/p90/min latency of both, the\n"
          "       added median latency, runs per second of both.\n"
          "info   prints the languages and whether cgroup limits are available.\n"
          "\n"
          "options:\n"
          "  --stdin FILE          the program's standard input (default: empty)\n"
          "  --time-limit S        CPU seconds (default 5; may be fractional)\n"
          "  --wall-limit S        wall-clock seconds (default 2 * time limit + 1)\n"
          "  --memory-mb M         memory limit in MiB (default 512)\n"
          "  --max-procs N         processes and threads (default 64)\n"
          "  --output-limit BYTES  stdout cap (default 1048576)\n"
          "  --no-cgroup           rlimits only\n"
          "languages: python3 (python, py), c, cpp (c++)\n",
          prog, prog, prog, prog);
}

static int read_whole(const char *path, char **buf, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return zr_seterr(-errno, "cannot open '%s': %s", path, strerror(errno));
  size_t cap = 65536, n = 0;
  char *b = malloc(cap + 1);
  for (;;) {
    if (!b) {
      fclose(f);
      return zr_seterr(-ENOMEM, "out of memory reading '%s'", path);
    }
    size_t r = fread(b + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
    if (n == cap) {
      cap *= 2;
      char *nb = realloc(b, cap + 1);
      if (!nb) free(b);
      b = nb;
    }
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(b);
    return zr_seterr(-EIO, "cannot read '%s'", path);
  }
  b[n] = '\0';
  *buf = b;
  *len = n;
  return 0;
}

typedef struct {
  const char *lang, *stdin_file, *file;
  zr_sandbox_limits lim;
  int no_cgroup;
  int runs, jobs;
  const char *ro[32];
  int n_ro;
  const char *files[32];
  int n_files;
  char **cmd;
} cli_opts;

/* parses options into o; returns the index after them, or -1 (usage printed) */
static int parse_opts(int argc, char **argv, int i, cli_opts *o, const char *prog, int exec_mode) {
  for (; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (exec_mode && strcmp(a, "--") == 0) return i + 1;
    if (a[0] != '-' || strcmp(a, "-") == 0) {
      if (exec_mode) break;
      if (o->file) {
        fprintf(stderr, "%s: more than one FILE ('%s', '%s')\n", prog, o->file, a);
        return -1;
      }
      o->file = a;
      continue;
    }
    if (strcmp(a, "--no-cgroup") == 0) {
      o->no_cgroup = 1;
      continue;
    }
    if (!v) {
      fprintf(stderr, "%s: option %s needs a value\n", prog, a);
      return -1;
    }
    char *end = NULL;
    double d = strtod(v, &end);
    int numeric = end && *end == '\0' && d >= 0;
    if (strcmp(a, "--lang") == 0) o->lang = v;
    else if (strcmp(a, "--stdin") == 0) o->stdin_file = v;
    else if (strcmp(a, "--ro") == 0 && o->n_ro < 31) o->ro[o->n_ro++] = v;
    else if (strcmp(a, "--file") == 0 && o->n_files < 31) o->files[o->n_files++] = v;
    else if (numeric && strcmp(a, "--time-limit") == 0 && d > 0) o->lim.cpu_ms = (uint32_t)(d * 1000 + 0.5);
    else if (numeric && strcmp(a, "--wall-limit") == 0 && d > 0) o->lim.wall_ms = (uint32_t)(d * 1000 + 0.5);
    else if (numeric && strcmp(a, "--memory-mb") == 0 && d >= 1) o->lim.memory_mb = (uint32_t)d;
    else if (numeric && strcmp(a, "--max-procs") == 0 && d >= 1) o->lim.max_procs = (uint32_t)d;
    else if (numeric && strcmp(a, "--output-limit") == 0 && d >= 1) o->lim.stdout_cap = (size_t)d;
    else if (numeric && strcmp(a, "-n") == 0 && d >= 1) o->runs = (int)d;
    else if (numeric && strcmp(a, "-j") == 0 && d >= 1 && d <= 64) o->jobs = (int)d;
    else {
      fprintf(stderr, "%s: bad option or value: %s %s\n", prog, a, v);
      return -1;
    }
    i++;
  }
  return i;
}

static void print_json_line(const zr_sandbox_result *r, const zr_sandbox_limits *lim) {
  json_t *j = zr_sandbox_result_json(r, lim);
  char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
  fprintf(stderr, "%s\n", s ? s : "{}");
  free(s);
  json_decref(j);
}

static int cmd_run(cli_opts *o, const char *prog) {
  const zr_lang *lang = zr_lang_find(o->lang);
  if (!lang || !o->file) {
    fprintf(stderr, "%s run: %s\n", prog, !o->file ? "missing FILE" : "unknown or missing --lang");
    return 2;
  }
  char *src = NULL, *in = NULL;
  size_t src_len = 0, in_len = 0;
  if (read_whole(o->file, &src, &src_len) < 0 || (o->stdin_file && read_whole(o->stdin_file, &in, &in_len) < 0)) {
    fprintf(stderr, "%s run: %s\n", prog, zr_errmsg());
    free(src);
    return 1;
  }
  zr_sandbox_prog p;
  zr_sandbox_result r;
  int status = 1;
  int rc = zr_sandbox_prog_build(&p, lang, src, src_len, &r);
  if (rc != 0) {
    fwrite(r.err, 1, r.err_len, stderr);
    if (rc < 0) fprintf(stderr, "%s run: %s\n", prog, zr_errmsg());
    print_json_line(&r, &o->lim);
    zr_sandbox_result_release(&r);
    goto out;
  }
  zr_sandbox_result_release(&r);
  rc = zr_sandbox_prog_run(&p, in, in_len, &o->lim, &r);
  fwrite(r.out, 1, r.out_len, stdout);
  fflush(stdout);
  fwrite(r.err, 1, r.err_len, stderr);
  if (rc < 0) fprintf(stderr, "%s run: %s\n", prog, zr_errmsg());
  print_json_line(&r, &o->lim);
  status = r.status == ZR_SANDBOX_OK ? 0 : 1;
  zr_sandbox_result_release(&r);
out:
  zr_sandbox_prog_release(&p);
  free(src);
  free(in);
  return status;
}

static int cmd_exec(cli_opts *o, const char *prog) {
  if (!o->cmd || !o->cmd[0] || o->cmd[0][0] != '/') {
    fprintf(stderr, "%s exec: give an absolute program path after --\n", prog);
    return 2;
  }
  zr_sandbox_spec spec;
  zr_sandbox_spec_init(&spec);
  spec.limits = o->lim;
  spec.argv = (const char *const *)o->cmd;
  o->ro[o->n_ro] = NULL;
  spec.ro_paths = o->ro;
  spec.cgroup = o->no_cgroup ? ZR_SANDBOX_CGROUP_NONE : ZR_SANDBOX_CGROUP_AUTO;
  zr_sandbox_file files[32];
  char *bufs[32] = {0};
  char names[32][128];
  char *in = NULL;
  size_t in_len = 0;
  int status = 1;
  for (int i = 0; i < o->n_files; i++) {
    const char *eq = strchr(o->files[i], '=');
    size_t nl = eq ? (size_t)(eq - o->files[i]) : 0;
    if (!eq || nl == 0 || nl >= sizeof names[0]) {
      fprintf(stderr, "%s exec: --file wants NAME=HOSTFILE, not '%s'\n", prog, o->files[i]);
      status = 2;
      goto out;
    }
    memcpy(names[i], o->files[i], nl);
    names[i][nl] = '\0';
    size_t len;
    if (read_whole(eq + 1, &bufs[i], &len) < 0) {
      fprintf(stderr, "%s exec: %s\n", prog, zr_errmsg());
      goto out;
    }
    files[i] = (zr_sandbox_file){.name = names[i], .data = bufs[i], .len = len, .mode = 0755};
  }
  spec.files = files;
  spec.n_files = o->n_files;
  if (o->stdin_file && read_whole(o->stdin_file, &in, &in_len) < 0) {
    fprintf(stderr, "%s exec: %s\n", prog, zr_errmsg());
    goto out;
  }
  spec.stdin_data = in;
  spec.stdin_len = in_len;
  zr_sandbox_result r;
  int rc = zr_sandbox_run(&spec, &r);
  fwrite(r.out, 1, r.out_len, stdout);
  fflush(stdout);
  fwrite(r.err, 1, r.err_len, stderr);
  if (rc < 0) fprintf(stderr, "%s exec: %s\n", prog, zr_errmsg());
  print_json_line(&r, &o->lim);
  status = r.status == ZR_SANDBOX_OK ? 0 : 1;
  zr_sandbox_result_release(&r);
out:
  for (int i = 0; i < o->n_files; i++) free(bufs[i]);
  free(in);
  return status;
}

typedef struct {
  const zr_sandbox_prog *prog;
  const zr_sandbox_limits *lim;
  char *const *bare_argv; /* the same command without a jail, run in bare_dir */
  const char *bare_dir;
  int runs;
  double *lat, *setup, *bare;
  int ok;
} bench_job;

static double run_bare(const bench_job *b) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addchdir_np(&fa, b->bare_dir);
  pid_t pid;
  uint64_t t0 = zr_clock_mono_ns();
  if (posix_spawn(&pid, b->bare_argv[0], &fa, NULL, b->bare_argv, environ) == 0) waitpid(pid, NULL, 0);
  double ms = (double)(zr_clock_mono_ns() - t0) / 1e6;
  posix_spawn_file_actions_destroy(&fa);
  return ms;
}

/* alternates jailed and bare runs, so that both see the same load */
static void *bench_thread(void *arg) {
  bench_job *b = arg;
  for (int i = 0; i < b->runs; i++) {
    zr_sandbox_result r;
    uint64_t t0 = zr_clock_mono_ns();
    zr_sandbox_prog_run(b->prog, NULL, 0, b->lim, &r);
    b->lat[i] = (double)(zr_clock_mono_ns() - t0) / 1e6;
    b->setup[i] = r.setup_ms;
    if (r.status == ZR_SANDBOX_OK) b->ok++;
    zr_sandbox_result_release(&r);
    b->bare[i] = run_bare(b);
  }
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* writes the program where the bare runs find it: the source, or the binary as "main" */
static int bare_setup(const zr_sandbox_prog *p, char *dir, char **argv, char *binpath, size_t cap) {
  if (!mkdtemp(dir)) return -1;
  const zr_lang *l = p->lang;
  char path[256];
  int compiled = zr_lang_is_compiled(l);
  snprintf(path, sizeof path, "%s/%s", dir, compiled ? l->binary_file : l->source_file);
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  if (compiled) fwrite(p->binary, 1, p->binary_len, f);
  else fwrite(p->source, 1, p->source_len, f);
  fclose(f);
  chmod(path, 0755);
  int i = 0;
  for (; l->run_argv[i] && i < ZR_LANG_MAX_ARGS - 1; i++) argv[i] = (char *)l->run_argv[i];
  argv[i] = NULL;
  if (compiled) { /* /work/main -> DIR/main */
    snprintf(binpath, cap, "%s", path);
    argv[0] = binpath;
  }
  return 0;
}

static void bare_cleanup(const zr_sandbox_prog *p, const char *dir) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, zr_lang_is_compiled(p->lang) ? p->lang->binary_file : p->lang->source_file);
  unlink(path);
  rmdir(dir);
}

static int cmd_bench(cli_opts *o, const char *prog) {
  const zr_lang *lang = zr_lang_find(o->lang);
  if (!lang || !o->file) {
    fprintf(stderr, "%s bench: %s\n", prog, !o->file ? "missing FILE" : "unknown or missing --lang");
    return 2;
  }
  int runs = o->runs ? o->runs : 100, jobs = o->jobs ? o->jobs : 1;
  if (runs < jobs) runs = jobs;
  char *src = NULL;
  size_t len = 0;
  if (read_whole(o->file, &src, &len) < 0) {
    fprintf(stderr, "%s bench: %s\n", prog, zr_errmsg());
    return 1;
  }
  zr_sandbox_prog p;
  zr_sandbox_result cr;
  int rc = zr_sandbox_prog_build(&p, lang, src, len, &cr);
  free(src);
  if (rc != 0) {
    fprintf(stderr, "%s bench: %s\n", prog, rc < 0 ? zr_errmsg() : cr.message);
    zr_sandbox_result_release(&cr);
    zr_sandbox_prog_release(&p);
    return 1;
  }
  zr_sandbox_result_release(&cr);
  char dir[] = "/tmp/zr-bench-XXXXXX", binpath[256];
  char *bare_argv[ZR_LANG_MAX_ARGS];
  if (bare_setup(&p, dir, bare_argv, binpath, sizeof binpath) < 0) {
    fprintf(stderr, "%s bench: cannot stage the bare runs in %s: %s\n", prog, dir, strerror(errno));
    zr_sandbox_prog_release(&p);
    return 1;
  }
  double *lat = calloc((size_t)runs, sizeof *lat), *setup = calloc((size_t)runs, sizeof *setup),
         *bare = calloc((size_t)runs, sizeof *bare);
  bench_job jb[64];
  pthread_t th[64];
  int per = runs / jobs, extra = runs % jobs, off = 0;
  uint64_t t0 = zr_clock_mono_ns();
  for (int k = 0; k < jobs; k++) {
    int n = per + (k < extra);
    jb[k] = (bench_job){.prog = &p, .lim = &o->lim, .bare_argv = bare_argv, .bare_dir = dir, .runs = n,
                        .lat = lat + off, .setup = setup + off, .bare = bare + off};
    off += n;
    pthread_create(&th[k], NULL, bench_thread, &jb[k]);
  }
  int ok = 0;
  for (int k = 0; k < jobs; k++) {
    pthread_join(th[k], NULL);
    ok += jb[k].ok;
  }
  double total_s = (double)(zr_clock_mono_ns() - t0) / 1e9;
  double jail_s = 0, bare_s = 0;
  for (int i = 0; i < runs; i++) {
    jail_s += lat[i] / 1e3;
    bare_s += bare[i] / 1e3;
  }
  qsort(lat, (size_t)runs, sizeof *lat, cmp_double);
  qsort(setup, (size_t)runs, sizeof *setup, cmp_double);
  qsort(bare, (size_t)runs, sizeof *bare, cmp_double);
  /* runs per second: each thread spends jail_s/jobs in jails; scale to the jail share of time */
  double jail_rps = runs / (total_s * jail_s / (jail_s + bare_s));
  double bare_rps = runs / (total_s * bare_s / (jail_s + bare_s));
  printf("{\"lang\":\"%s\",\"runs\":%d,\"jobs\":%d,\"ok\":%d,\"median_ms\":%.3f,\"p90_ms\":%.3f,\"min_ms\":%.3f,"
         "\"median_setup_ms\":%.3f,\"bare_median_ms\":%.3f,\"bare_min_ms\":%.3f,\"added_median_ms\":%.3f,"
         "\"runs_per_s\":%.1f,\"bare_runs_per_s\":%.1f,\"cgroup\":\"%s\"}\n",
         lang->name, runs, jobs, ok, lat[runs / 2], lat[(runs * 9) / 10], lat[0], setup[runs / 2], bare[runs / 2],
         bare[0], lat[runs / 2] - bare[runs / 2], jail_rps, bare_rps, zr_sandbox_cgroup_mode(NULL));
  free(lat);
  free(setup);
  free(bare);
  bare_cleanup(&p, dir);
  zr_sandbox_prog_release(&p);
  return ok == runs ? 0 : 1;
}

int zr_sandbox_cli(int argc, char **argv, const char *prog) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout, prog);
    return argc < 2 ? 2 : 0;
  }
  for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout, prog);
      return 0;
    }
  cli_opts o;
  memset(&o, 0, sizeof o);
  zr_sandbox_limits_init(&o.lim);
  const char *cmd = argv[1];
  if (strcmp(cmd, "info") == 0) {
    const char *why = NULL;
    const char *mode = zr_sandbox_cgroup_mode(&why);
    printf("cgroup: %s%s%s\nlanguages:", mode, why && *why ? " - " : "", why ? why : "");
    for (int i = 0; zr_lang_at(i); i++) printf(" %s", zr_lang_at(i)->name);
    printf("\n");
    return 0;
  }
  int exec_mode = strcmp(cmd, "exec") == 0;
  if (!exec_mode && strcmp(cmd, "run") != 0 && strcmp(cmd, "bench") != 0) {
    fprintf(stderr, "%s: unknown subcommand '%s'\n", prog, cmd);
    usage(stderr, prog);
    return 2;
  }
  int next = parse_opts(argc, argv, 2, &o, prog, exec_mode);
  if (next < 0) return 2;
  if (o.no_cgroup) setenv("ZERORL_SANDBOX_CGROUP", "none", 1); /* read once, by the first probe */
  if (exec_mode) {
    o.cmd = next < argc ? argv + next : NULL;
    return cmd_exec(&o, prog);
  }
  return strcmp(cmd, "run") == 0 ? cmd_run(&o, prog) : cmd_bench(&o, prog);
}
