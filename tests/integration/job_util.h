/* job_util.h: helpers for the whole-job integration tests (tests/integration/test_job.c):
 * child processes of the real daemons (never outliving the test), files, Redis look-ups and
 * the exactly-once check of RUN/trained.jsonl. Header-only; for test programs only. */
#ifndef ZR_TEST_JOB_UTIL_H
#define ZR_TEST_JOB_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* HGET key field over the unix socket; malloc'd value or NULL (missing, or Redis down). */
static inline char *ju_hget(const char *sock, const char *key, const char *field) {
  struct timeval tv = {1, 0};
  redisContext *c = redisConnectUnixWithTimeout(sock, tv);
  if (!c || c->err) {
    if (c) redisFree(c);
    return NULL;
  }
  redisSetTimeout(c, tv);
  redisReply *r = redisCommand(c, "HGET %s %s", key, field);
  char *v = r && r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
  if (r) freeReplyObject(r);
  redisFree(c);
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
  struct timeval tv = {1, 0};
  redisContext *c = redisConnectUnixWithTimeout(sock, tv);
  if (!c || c->err) {
    if (c) redisFree(c);
    return -1;
  }
  redisSetTimeout(c, tv);
  redisReply *r = redisCommand(c, "EXISTS %s", key);
  int v = r && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
  if (r) freeReplyObject(r);
  redisFree(c);
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

#endif
