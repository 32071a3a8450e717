/* job_util.h: helpers for the whole-job integration tests, the ones that run the real daemons
 * (test_job.c, test_dist_job.c, test_relay_job.c, test_sim_daemons.c, test_security.c): the
 * common start of their main() (the daemon binaries, or a skip; a temporary directory; a private
 * redis-server; a tiny model and tasks), one job's paths, Redis keys and config, child processes
 * of the daemons (never outliving the test), files, Redis look-ups, the exactly-once check of
 * RUN/trained.jsonl and the scenario runner. Header-only; for test programs only. */
#ifndef ZR_TEST_JOB_UTIL_H
#define ZR_TEST_JOB_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/keys.h"
#include "tests/redis_server.h"
#include "tests/test.h"

/* ---- clock ------------------------------------------------------------------------------- */

static inline uint64_t ju_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
static inline void ju_sleep_ms(unsigned ms) { usleep(ms * 1000u); }

/* ---- children ---------------------------------------------------------------------------- */

#define JU_MAX_KIDS 64
static pid_t ju_kids[JU_MAX_KIDS];

/* SIGKILL pid and, first, every descendant (zerorl run's children do not die with it). */
static inline void ju_kill_tree(pid_t pid, int sig) {
  DIR *d = opendir("/proc");
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      char *end;
      long p = strtol(e->d_name, &end, 10);
      if (*end || p <= 0) continue;
      char path[64], buf[512];
      snprintf(path, sizeof path, "/proc/%ld/stat", p);
      FILE *f = fopen(path, "r");
      if (!f) continue;
      size_t n = fread(buf, 1, sizeof buf - 1, f);
      fclose(f);
      buf[n] = '\0';
      char *rp = strrchr(buf, ')');
      int ppid = 0;
      char st;
      if (rp && sscanf(rp + 1, " %c %d", &st, &ppid) == 2 && ppid == pid) ju_kill_tree((pid_t)p, sig);
    }
    closedir(d);
  }
  kill(pid, sig);
}

static inline void ju_forget(pid_t pid) {
  for (int i = 0; i < JU_MAX_KIDS; i++)
    if (ju_kids[i] == pid) ju_kids[i] = 0;
}

static inline void ju_kill_all(void) {
  for (int i = 0; i < JU_MAX_KIDS; i++)
    if (ju_kids[i] > 0) {
      ju_kill_tree(ju_kids[i], SIGKILL);
      waitpid(ju_kids[i], NULL, 0);
      ju_kids[i] = 0;
    }
}

/* Starts argv (NULL-terminated) with stdout and stderr appended to log. */
static inline pid_t ju_spawn(const char *log, char *const argv[]) {
  static int registered;
  if (!registered) {
    atexit(ju_kill_all);
    registered = 1;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    execv(argv[0], argv);
    _exit(127);
  }
  for (int i = 0; i < JU_MAX_KIDS; i++)
    if (ju_kids[i] == 0) {
      ju_kids[i] = pid;
      break;
    }
  return pid;
}

/* Waits up to timeout_ms for pid to exit. 1 and *status when it did, 0 when not. */
static inline int ju_wait(pid_t pid, int timeout_ms, int *status) {
  uint64_t deadline = ju_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      ju_forget(pid);
      if (status) *status = st;
      return 1;
    }
    if (r < 0) {
      ju_forget(pid);
      if (status) *status = -1;
      return 1;
    }
    if (ju_now_ms() >= deadline) return 0;
    ju_sleep_ms(20);
  }
}

/* sig, then SIGKILL after grace_ms; always reaped. */
static inline void ju_stop(pid_t pid, int sig, int grace_ms) {
  if (pid <= 0) return;
  kill(pid, sig);
  if (!ju_wait(pid, grace_ms, NULL)) {
    ju_kill_tree(pid, SIGKILL);
    ju_wait(pid, 5000, NULL);
  }
}

/* pid's exit code within timeout_ms (128 + the signal when one ended it), or -1 when it had not
 * ended by then (it is killed). */
static inline int ju_exit_code(pid_t pid, int timeout_ms) {
  int st = 0;
  if (!ju_wait(pid, timeout_ms, &st)) {
    ju_stop(pid, SIGKILL, 1000);
    return -1;
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- files ------------------------------------------------------------------------------- */

static inline int ju_write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs(text, f);
  return fclose(f);
}

/* The whole file, NUL-terminated (caller frees), or NULL. */
static inline char *ju_read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (n + 4096 > cap) buf = realloc(buf, cap *= 2);
    size_t k = fread(buf + n, 1, cap - n - 1, f);
    if (k == 0) break;
    n += k;
  }
  fclose(f);
  buf[n] = '\0';
  return buf;
}

static inline int ju_count_lines(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int n = 0, c;
  while ((c = fgetc(f)) != EOF)
    if (c == '\n') n++;
  fclose(f);
  return n;
}

/* Occurrences of needle in the file. */
static inline int ju_count_in_file(const char *path, const char *needle) {
  char *s = ju_read_file(path);
  if (!s) return 0;
  int n = 0;
  for (char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
  free(s);
  return n;
}

/* Prints the last tail_bytes of the file to stderr, under "---- tail of PATH ----". */
static inline void ju_show_log_tail(const char *path, size_t tail_bytes) {
  char *s = ju_read_file(path);
  if (!s) return;
  size_t n = strlen(s);
  fprintf(stderr, "---- tail of %s ----\n%s\n", path, s + (n > tail_bytes ? n - tail_bytes : 0));
  free(s);
}

/* The same, when a CHECK failed since zr_test_failures was failures_before. */
static inline void ju_show_log_on_failure(const char *path, int failures_before, size_t tail_bytes) {
  if (zr_test_failures != failures_before) ju_show_log_tail(path, tail_bytes);
}

/* Waits until path has at least n lines; 1 when it did. */
static inline int ju_wait_lines(const char *path, int n, int timeout_ms) {
  uint64_t deadline = ju_now_ms() + (uint64_t)timeout_ms;
  while (ju_count_lines(path) < n) {
    if (ju_now_ms() >= deadline) return 0;
    ju_sleep_ms(20);
  }
  return 1;
}

static inline int ju_run(const char *fmt, ...) {
  char cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- Redis ------------------------------------------------------------------------------- */

/* One command over the Unix socket (1 s timeouts): the reply (freeReplyObject it), or NULL when
 * Redis cannot be reached. */
static inline redisReply *ju_command(const char *sock, const char *fmt, ...) {
  struct timeval tv = {1, 0};
  redisContext *c = redisConnectUnixWithTimeout(sock, tv);
  if (!c || c->err) {
    if (c) redisFree(c);
    return NULL;
  }
  redisSetTimeout(c, tv);
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(c, fmt, ap);
  va_end(ap);
  redisFree(c);
  return r;
}

/* HGET key field: malloc'd value or NULL (missing, or Redis down). */
static inline char *ju_hget(const char *sock, const char *key, const char *field) {
  redisReply *r = ju_command(sock, "HGET %s %s", key, field);
  char *v = r && r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
  if (r) freeReplyObject(r);
  return v;
}

static inline long long ju_hget_ll(const char *sock, const char *key, const char *field) {
  char *v = ju_hget(sock, key, field);
  long long n = v ? atoll(v) : -1;
  free(v);
  return n;
}

/* EXISTS key: 1, 0, or -1 when Redis cannot be reached. */
static inline int ju_exists(const char *sock, const char *key) {
  redisReply *r = ju_command(sock, "EXISTS %s", key);
  int v = r && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
  if (r) freeReplyObject(r);
  return v;
}

/* ---- trained.jsonl ----------------------------------------------------------------------- */

typedef struct {
  int lines;    /* groups listed */
  int twice;    /* (task, epoch) listed more than once */
  int missing;  /* tasks of the data set (epoch 0) not listed */
  int unknown;  /* listed tasks that are not in the data set */
  int bad;      /* unparsable lines or wrong sample lists */
} ju_trained;

/* Checks RUN/trained.jsonl against the task ids of the tasks JSONL (one epoch). */
static inline ju_trained ju_check_trained(const char *trained_path, const char *tasks_path, int group_size) {
  ju_trained t = {0};
  json_t *want = json_object(), *seen = json_object();
  FILE *f = fopen(tasks_path, "r");
  char line[65536];
  while (f && fgets(line, sizeof line, f)) {
    json_t *j = json_loads(line, 0, NULL);
    const char *id = j ? json_string_value(json_object_get(j, "id")) : NULL;
    if (id) json_object_set_new(want, id, json_true());
    json_decref(j);
  }
  if (f) fclose(f);
  f = fopen(trained_path, "r");
  while (f && fgets(line, sizeof line, f)) {
    t.lines++;
    json_t *j = json_loads(line, 0, NULL);
    const char *id = j ? json_string_value(json_object_get(j, "task_id")) : NULL;
    json_t *samples = j ? json_object_get(j, "samples") : NULL;
    if (!id || !json_is_integer(json_object_get(j, "epoch")) || !json_is_array(samples) ||
        (int)json_array_size(samples) != group_size) {
      t.bad++;
      json_decref(j);
      continue;
    }
    char key[600];
    snprintf(key, sizeof key, "%s#%lld", id, (long long)json_integer_value(json_object_get(j, "epoch")));
    if (json_object_get(seen, key)) {
      t.twice++;
      fprintf(stderr, "trained twice: %s\n", key);
    }
    json_object_set_new(seen, key, json_true());
    if (!json_object_get(want, id)) t.unknown++;
    json_decref(j);
  }
  if (f) fclose(f);
  const char *id;
  json_t *v;
  json_object_foreach(want, id, v) {
    char key[600];
    snprintf(key, sizeof key, "%s#0", id);
    if (!json_object_get(seen, key)) t.missing++;
  }
  json_decref(want);
  json_decref(seen);
  return t;
}

/* ---- the start of main(): binaries, temporary directory, Redis, model and tasks --------- */

/* The daemons under test, in the build tree. */
typedef struct {
  char zerorl[1100], learner[1100], actor[1100], reward[1100];
} ju_daemons;

/* $ZERORL_BINARY_DIR, the build tree; skips the test (exit 77) when it is not set (not run
 * through ctest) or redis-server is not installed. */
static inline const char *ju_build_dir_or_skip(void) {
  const char *build_dir = getenv("ZERORL_BINARY_DIR");
  if (!build_dir) TEST_SKIP("ZERORL_BINARY_DIR is not set (run through ctest)");
  if (!zr_test_redis_available()) TEST_SKIP("redis-server is not installed");
  return build_dir;
}

/* The daemons of build_dir; skips the test when one of them is not built. */
static inline void ju_find_daemons_or_skip(ju_daemons *d, const char *build_dir) {
  snprintf(d->zerorl, sizeof d->zerorl, "%s/tools/zerorl", build_dir);
  snprintf(d->learner, sizeof d->learner, "%s/learner/zerorl-learner", build_dir);
  snprintf(d->actor, sizeof d->actor, "%s/actor/zerorl-actor", build_dir);
  snprintf(d->reward, sizeof d->reward, "%s/reward/zerorl-reward", build_dir);
  if (access(d->zerorl, X_OK) || access(d->learner, X_OK) || access(d->actor, X_OK) || access(d->reward, X_OK))
    TEST_SKIP("daemon binaries are not built in %s", build_dir);
}

/* The test's temporary directory and the files its jobs share. */
typedef struct {
  char root[64];   /* ROOT, from mkdtemp */
  char model[256]; /* ROOT/model: ju_init_tiny_model */
  char tasks[256]; /* ROOT/train.jsonl: ju_gen_arith */
} ju_workdir;

static const ju_workdir *ju_workdir_at_exit;
static const char *ju_workdir_keep_var;

/* atexit: kills every child, then removes ROOT unless the environment variable named
 * ju_workdir_keep_var is set. */
static inline void ju_remove_workdir(void) {
  ju_kill_all();
  if (!getenv(ju_workdir_keep_var)) ju_run("rm -rf '%s'", ju_workdir_at_exit->root);
}

/* The start of every whole-job test: SIGPIPE ignored; w->root made from tmp_template
 * ("/tmp/zrNAME-XXXXXX"; at exit every child is killed and ROOT removed, unless the
 * environment variable keep_var is set); w->model and w->tasks named; a private redis-server
 * started in srv (Unix socket only). 0, or -1 when the directory or the server failed. */
static inline int ju_start(ju_workdir *w, const char *tmp_template, const char *keep_var, zr_test_redis *srv) {
  signal(SIGPIPE, SIG_IGN);
  snprintf(w->root, sizeof w->root, "%s", tmp_template);
  if (!mkdtemp(w->root)) return -1;
  ju_workdir_at_exit = w;
  ju_workdir_keep_var = keep_var;
  atexit(ju_remove_workdir);
  if (zr_test_redis_start(srv, 0, NULL) != 0) return -1;
  snprintf(w->model, sizeof w->model, "%s/model", w->root);
  snprintf(w->tasks, sizeof w->tasks, "%s/train.jsonl", w->root);
  return 0;
}

/* `zerorl model init` of a tiny random llama at out (byte vocabulary plus the <think> and
 * <answer> tags, tied embeddings, 4 heads); its exit code. */
static inline int ju_init_tiny_model(const char *zerorl, const char *out, int layers, int hidden, int intermediate) {
  return ju_run("'%s' model init --arch llama --layers %d --hidden %d --heads 4 --kv-heads 4 --intermediate %d "
                "--byte-vocab --add-tokens '<think>,</think>,<answer>,</answer>' --tie --out '%s' >/dev/null",
                zerorl, layers, hidden, intermediate, out);
}

/* `zerorl data gen arith` at difficulty 2: n tasks (sft: prompt/completion examples) at out;
 * its exit code. */
static inline int ju_gen_arith(const char *zerorl, int n, bool sft, const char *out) {
  return ju_run("'%s' data gen arith --n %d --difficulty 2%s --out '%s' >/dev/null", zerorl, n, sft ? " --sft" : "",
                out);
}

/* ---- one job: paths, Redis keys, config, learner ----------------------------------------- */

typedef struct {
  char name[32];     /* the scenario: messages, [job] name, DIR = ROOT/NAME */
  char id[64];       /* [job] id */
  char dir[128];     /* DIR: the ipc:// endpoints */
  char run[160];     /* RUN = DIR/run, the run directory; the daemons log to RUN/logs */
  char cfg[200];     /* RUN/config.ini */
  char trained[200]; /* RUN/trained.jsonl */
  char llog[200];    /* RUN/logs/learner.log */
  char key[256];     /* the job hash */
  char qkey[256];    /* the queue hash */
} ju_job;

/* Names j's paths (under root) and keys, id_prefix + name the job id; makes RUN/logs. */
static inline void ju_job_init(ju_job *j, const char *root, const char *name, const char *id_prefix) {
  memset(j, 0, sizeof *j);
  snprintf(j->name, sizeof j->name, "%s", name);
  snprintf(j->id, sizeof j->id, "%s%s", id_prefix, name);
  snprintf(j->dir, sizeof j->dir, "%s/%s", root, name);
  snprintf(j->run, sizeof j->run, "%s/run", j->dir);
  snprintf(j->cfg, sizeof j->cfg, "%s/config.ini", j->run);
  snprintf(j->trained, sizeof j->trained, "%s/trained.jsonl", j->run);
  snprintf(j->llog, sizeof j->llog, "%s/logs/learner.log", j->run);
  zr_key_job(j->key, sizeof j->key, ZR_KEY_PREFIX_DEFAULT, j->id);
  zr_key_job_queue(j->qkey, sizeof j->qkey, ZR_KEY_PREFIX_DEFAULT, j->id);
  ju_run("mkdir -p '%s/logs'", j->run);
}

/* Writes RUN/config.ini: sections (the test's own, from [job] on); [redis] with socket =
 * redis_socket (NULL: none, `zerorl run` starts its own server), then redis_more (lines, or
 * NULL) and the test timings (fast heartbeats and back-off); [net] with ipc:// endpoints in DIR.
 * 0 or -1. */
static inline int ju_write_config(const ju_job *j, const char *sections, const char *redis_socket,
                                  const char *redis_more) {
  char socket_line[256] = "";
  if (redis_socket) snprintf(socket_line, sizeof socket_line, "socket = %s\n", redis_socket);
  char text[8192];
  int n = snprintf(text, sizeof text,
                   "%s[redis]\n%s%sheartbeat_interval = 300ms\nheartbeat_ttl = 2s\nbackoff_min = 50ms\n"
                   "backoff_max = 300ms\n"
                   "[net]\nlearner_tasks = ipc://%s/w\nlearner_weights = ipc://%s/c\n"
                   "learner_announce = ipc://%s/a\n",
                   sections, socket_line, redis_more ? redis_more : "", j->dir, j->dir, j->dir);
  if (n < 0 || (size_t)n >= sizeof text) return -1;
  return ju_write_file(j->cfg, text);
}

/* Starts the learner binary on j's config and run directory, with one --set (or NULL) and
 * --resume when resume; its output goes to RUN/logs/learner.log. */
static inline pid_t ju_start_learner(const char *learner, const ju_job *j, const char *set, bool resume) {
  char *argv[10];
  int n = 0;
  argv[n++] = (char *)learner;
  argv[n++] = "--config";
  argv[n++] = (char *)j->cfg;
  argv[n++] = "--run-dir";
  argv[n++] = (char *)j->run;
  if (set) {
    argv[n++] = "--set";
    argv[n++] = (char *)set;
  }
  if (resume) argv[n++] = "--resume";
  argv[n] = NULL;
  return ju_spawn(j->llog, argv);
}

/* ---- shared checks ------------------------------------------------------------------- */

/* Waits for the learner to end the job and CHECKs exit 0; kills it after timeout_ms. name is
 * the scenario (for messages); trained the run's trained.jsonl. */
static inline void ju_expect_learner_done(const char *name, const char *trained, pid_t learner, int timeout_ms) {
  int st = 0;
  int ended = ju_wait(learner, timeout_ms, &st);
  CHECK(ended);
  if (!ended) {
    fprintf(stderr, "%s: learner still running after %d ms (%d groups trained); killing it\n", name, timeout_ms,
            ju_count_lines(trained));
    ju_stop(learner, SIGKILL, 1000);
    return;
  }
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) fprintf(stderr, "%s: learner status %d\n", name, st);
}

/* CHECKs that trained.jsonl lists every one of the n_tasks tasks of tasks_path exactly once. */
static inline void ju_expect_exactly_once(const char *name, const char *trained, const char *tasks_path,
                                          int group_size, int n_tasks) {
  ju_trained t = ju_check_trained(trained, tasks_path, group_size);
  fprintf(stderr, "%s: %d groups in trained.jsonl, %d twice, %d missing, %d unknown, %d bad\n", name, t.lines,
          t.twice, t.missing, t.unknown, t.bad);
  CHECK_INT(t.lines, n_tasks);
  CHECK_INT(t.twice, 0);
  CHECK_INT(t.missing, 0);
  CHECK_INT(t.unknown, 0);
  CHECK_INT(t.bad, 0);
}

/* ---- scenarios ---------------------------------------------------------------------------- */

typedef struct {
  const char *name;
  void (*run)(void);
} ju_scenario;

/* Scenario selection by ZR_JOB_TEST=name[,name]: a scenario runs when its name is in it (or it
 * is unset or empty). */
static inline bool ju_job_test_wanted(const char *name) {
  const char *only = getenv("ZR_JOB_TEST");
  return !only || !*only || strstr(only, name) != NULL;
}

/* Runs the n scenarios that want accepts, in order; after each, kills what it left running and
 * prints "== NAME: ok|FAILED in S s". */
static inline void ju_run_scenarios(const ju_scenario *scenarios, size_t n, bool (*want)(const char *name)) {
  for (size_t i = 0; i < n; i++) {
    if (!want(scenarios[i].name)) continue;
    uint64_t t0 = ju_now_ms();
    int failures_before = zr_test_failures;
    scenarios[i].run();
    ju_kill_all();
    fprintf(stderr, "== %s: %s in %.1f s\n", scenarios[i].name, zr_test_failures == failures_before ? "ok" : "FAILED",
            (double)(ju_now_ms() - t0) / 1000.0);
  }
}

#endif
