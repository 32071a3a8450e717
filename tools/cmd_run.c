/* cmd_run.c: `zerorl run CONFIG`, the local cluster: one job on this machine with the real
 * daemons as child processes.
 *
 * It makes the run directory (RUN = [job] run_dir/<name>-<timestamp>, or --run-dir), writes
 * the effective configuration there (RUN/config.ini, with the job id, the run directory and
 * the Redis socket filled in) and starts, each with its output in RUN/logs/:
 *   - a private redis-server on RUN/redis.sock when [redis] embedded (the default);
 *   - zerorl-learner; in mode rl also --actors N zerorl-actor and --rewards M zerorl-reward.
 * It supervises them: a crashed actor or reward worker is restarted (at most --max-restarts
 * times each, with a growing delay); when the learner exits, the others get SIGTERM (SIGKILL
 * after 10 s) and `zerorl run` exits with the learner's status (0 = the job is done). Ctrl-C or
 * SIGTERM drain the learner (it checkpoints) and then stop the rest; a second Ctrl-C stops
 * everything at once. A progress line (stage, step/total, reward, accuracy, tokens/s, ETA) is
 * read from RUN/metrics.jsonl every second. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/error.h"
#include "common/util.h"
#include "tools/commands.h"

#define CMD "zerorl run"
#define MAX_CHILDREN 130

static const char usage_text[] =
    "usage: zerorl run CONFIG [--set section.key=value]... [--run-dir DIR] [--actors N] [--rewards M]\n"
    "                  [--resume] [--max-restarts K] [--quiet]\n"
    "\n"
    "Runs the job in CONFIG on this machine: a private redis-server (unless [redis] embedded =\n"
    "false), zerorl-learner and, in mode rl, N actors and M reward workers as child processes.\n"
    "Crashed actors and reward workers are restarted; when the learner ends, everything stops and\n"
    "the exit status is the learner's (0: the job is done). Ctrl-C drains the learner (checkpoint)\n"
    "and stops the rest; a second Ctrl-C stops at once.\n"
    "  --set S.K=V       override one key of CONFIG (repeatable)\n"
    "  --run-dir DIR     the run directory (default [job] run_dir/<name>-<timestamp>)\n"
    "  --actors N        actor processes in mode rl (default 1)\n"
    "  --rewards M       reward worker processes in mode rl (default 1)\n"
    "  --resume          continue the learner from the latest checkpoint in --run-dir\n"
    "  --max-restarts K  restarts allowed per actor or reward worker (default 5)\n"
    "  --quiet           no progress line\n"
    "Everything the run did is in the run directory: config.ini, logs/, metrics.jsonl,\n"
    "trained.jsonl (one line per group trained), checkpoints/, eval.json (mode eval),\n"
    "accepted.jsonl (mode rejection-sample).\n";

typedef struct child {
  uv_process_t proc;
  char name[64];
  char *argv[16];
  int argc;
  bool running, is_learner, is_redis, restartable;
  int restarts;
  uv_timer_t restart_timer;
  struct run_ctx *ctx;
} child;

typedef struct run_ctx {
  uv_loop_t *loop;
  char run_dir[PATH_MAX], bin_dir[PATH_MAX], config_path[PATH_MAX + 16], redis_sock[PATH_MAX + 16];
  child kids[MAX_CHILDREN];
  int n_kids;
  int max_restarts;
  bool stopping, quiet, tty;
  int signals, learner_status;
  uv_signal_t sigint, sigterm;
  uv_timer_t progress, kill_timer;
  uint64_t t0;
  int64_t total_steps;
  const char *mode_name;
  long metrics_pos;
  json_t *last_metrics;
} run_ctx;

/* ---- binaries ---------------------------------------------------------------------------- */

/* The daemon next to this program (installed: same bin dir) or in the build tree's folder. */
static int find_binary(const run_ctx *r, const char *name, const char *build_sub, char *out, size_t cap) {
  if ((size_t)snprintf(out, cap, "%s/%s", r->bin_dir, name) < cap && access(out, X_OK) == 0) return 0;
  if ((size_t)snprintf(out, cap, "%s/../%s/%s", r->bin_dir, build_sub, name) < cap && access(out, X_OK) == 0) return 0;
  const char *path = getenv("PATH");
  while (path && *path) {
    const char *e = strchr(path, ':');
    size_t n = e ? (size_t)(e - path) : strlen(path);
    if ((size_t)snprintf(out, cap, "%.*s/%s", (int)n, path, name) < cap && n && access(out, X_OK) == 0) return 0;
    path += n + (e ? 1 : 0);
  }
  return zr_seterr(-ENOENT, "cannot find %s next to zerorl (%s), in the build tree or in PATH", name, r->bin_dir);
}

/* ---- children ---------------------------------------------------------------------------- */

static void start_child(child *c);

static void on_restart(uv_timer_t *t) {
  child *c = t->data;
  if (!c->ctx->stopping) start_child(c);
}

static void maybe_exit_loop(run_ctx *r) {
  for (int i = 0; i < r->n_kids; i++)
    if (r->kids[i].running) return;
  uv_stop(r->loop);
}

static void stop_all(run_ctx *r, int sig) {
  r->stopping = true;
  for (int i = 0; i < r->n_kids; i++) {
    child *c = &r->kids[i];
    uv_timer_stop(&c->restart_timer);
    if (c->running && !c->is_redis) uv_process_kill(&c->proc, sig);
  }
  /* redis last: after every daemon is gone */
  bool others = false;
  for (int i = 0; i < r->n_kids; i++)
    if (r->kids[i].running && !r->kids[i].is_redis) others = true;
  if (!others)
    for (int i = 0; i < r->n_kids; i++)
      if (r->kids[i].running && r->kids[i].is_redis) uv_process_kill(&r->kids[i].proc, SIGTERM);
}

static void on_kill_timer(uv_timer_t *t) {
  run_ctx *r = t->data;
  fprintf(stderr, CMD ": processes still running after 10 s; sending SIGKILL\n");
  for (int i = 0; i < r->n_kids; i++)
    if (r->kids[i].running) uv_process_kill(&r->kids[i].proc, SIGKILL);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal) {
  child *c = p->data;
  run_ctx *r = c->ctx;
  c->running = false;
  uv_close((uv_handle_t *)p, NULL);
  if (c->is_learner) {
    r->learner_status = term_signal ? 128 + term_signal : (int)status;
    if (r->tty && !r->quiet) fputc('\n', stderr);
    fprintf(stderr, CMD ": learner exited (%s %d)\n", term_signal ? "signal" : "status",
            term_signal ? term_signal : (int)status);
    stop_all(r, SIGTERM);
    uv_timer_start(&r->kill_timer, on_kill_timer, 10000, 0);
  } else if (!r->stopping && c->restartable) {
    if (c->restarts >= r->max_restarts) {
      fprintf(stderr, CMD ": %s exited (status %lld, signal %d) and was restarted %d times already; giving up on it\n",
              c->name, (long long)status, term_signal, c->restarts);
    } else {
      c->restarts++;
      uint64_t delay = 500ull << (c->restarts > 5 ? 5 : c->restarts);
      fprintf(stderr, CMD ": %s exited (status %lld, signal %d); restarting in %llu ms (restart %d of %d)\n", c->name,
              (long long)status, term_signal, (unsigned long long)delay, c->restarts, r->max_restarts);
      uv_timer_start(&c->restart_timer, on_restart, delay, 0);
    }
  } else if (r->stopping) {
    stop_all(r, SIGTERM); /* redis once the daemons are gone */
  }
  maybe_exit_loop(r);
}

static void start_child(child *c) {
  run_ctx *r = c->ctx;
  char log[PATH_MAX + 80];
  snprintf(log, sizeof log, "%s/logs/%s.log", r->run_dir, c->name);
  int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, CMD ": cannot open %s: %s\n", log, strerror(errno));
    return;
  }
  uv_stdio_container_t io[3] = {{.flags = UV_IGNORE}, {.flags = UV_INHERIT_FD, .data.fd = fd},
                                {.flags = UV_INHERIT_FD, .data.fd = fd}};
  uv_process_options_t o = {0};
  o.file = c->argv[0];
  o.args = c->argv;
  o.exit_cb = on_exit_cb;
  o.stdio = io;
  o.stdio_count = 3;
  c->proc.data = c;
  int rc = uv_spawn(r->loop, &c->proc, &o);
  close(fd);
  if (rc < 0) {
    fprintf(stderr, CMD ": cannot start %s (%s): %s\n", c->name, c->argv[0], uv_strerror(rc));
    return;
  }
  c->running = true;
}

static child *add_child(run_ctx *r, const char *name, const char *bin) {
  child *c = &r->kids[r->n_kids++];
  memset(c, 0, sizeof *c);
  c->ctx = r;
  snprintf(c->name, sizeof c->name, "%s", name);
  c->argv[c->argc++] = strdup(bin);
  uv_timer_init(r->loop, &c->restart_timer);
  c->restart_timer.data = c;
  return c;
}

static void arg(child *c, const char *a) { c->argv[c->argc++] = strdup(a); }

/* ---- progress ---------------------------------------------------------------------------- */

static void read_metrics(run_ctx *r) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/metrics.jsonl", r->run_dir);
  FILE *f = fopen(path, "r");
  if (!f) return;
  fseek(f, r->metrics_pos, SEEK_SET);
  char line[65536];
  while (fgets(line, sizeof line, f)) {
    size_t n = strlen(line);
    if (n == 0 || line[n - 1] != '\n') break; /* a line being written */
    r->metrics_pos += (long)n;
    json_t *j = json_loads(line, 0, NULL);
    if (j) {
      json_decref(r->last_metrics);
      r->last_metrics = j;
    }
  }
  fclose(f);
}

static double num(const json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

static void on_progress(uv_timer_t *t) {
  run_ctx *r = t->data;
  read_metrics(r);
  if (r->quiet || !r->last_metrics) return;
  static uint64_t last_print;
  uint64_t now = zr_clock_mono_ms();
  if (!r->tty && now - last_print < 10000) return;
  last_print = now;
  double step = num(r->last_metrics, "step"), elapsed = (double)(now - r->t0) / 1000.0;
  double eta = step > 0 ? elapsed / step * ((double)r->total_steps - step) : NAN;
  char line[256];
  snprintf(line, sizeof line, "[%s] step %.0f/%lld  reward %.3f  acc %.3f  loss %.4f  %.0f tok/s  elapsed %.0fs  ETA %.0fs",
           r->mode_name, step, (long long)r->total_steps, num(r->last_metrics, "reward_mean"),
           num(r->last_metrics, "accuracy"), num(r->last_metrics, "loss"), num(r->last_metrics, "tokens_per_s"),
           elapsed, eta);
  if (r->tty) fprintf(stderr, "\r%-110s", line);
  else fprintf(stderr, "%s\n", line);
}

static void on_signal(uv_signal_t *s, int signum) {
  run_ctx *r = s->data;
  if (r->signals++ == 0) {
    fprintf(stderr, "\n" CMD ": %s: draining the learner (Ctrl-C again to stop at once)\n", strsignal(signum));
    for (int i = 0; i < r->n_kids; i++)
      if (r->kids[i].is_learner && r->kids[i].running) uv_process_kill(&r->kids[i].proc, SIGTERM);
  } else {
    fprintf(stderr, CMD ": stopping everything\n");
    stop_all(r, SIGKILL);
  }
}

/* ---- set-up ------------------------------------------------------------------------------ */

static int mkdir_p(const char *path) {
  char buf[PATH_MAX];
  if ((size_t)snprintf(buf, sizeof buf, "%s", path) >= sizeof buf) return zr_seterr(-ENAMETOOLONG, "%s: too long", path);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      mkdir(buf, 0755);
      *p = '/';
    }
  if (mkdir(buf, 0755) < 0 && errno != EEXIST) return zr_seterr(-errno, "mkdir %s: %s", buf, strerror(errno));
  return 0;
}

/* Waits (up to 5 s) for the unix socket of redis-server to appear. */
static int wait_for_socket(const char *path) {
  for (int i = 0; i < 500; i++) {
    if (access(path, F_OK) == 0) return 0;
    usleep(10000);
  }
  return zr_seterr(-ETIMEDOUT, "redis-server did not create %s within 5 s", path);
}

int zr_cmd_run(int argc, char **argv) {
  if (zr_cmd_wants_help(argc, argv)) {
    fputs(usage_text, stdout);
    return 0;
  }
  static const struct option longopts[] = {{"set", required_argument, NULL, 's'},
                                           {"run-dir", required_argument, NULL, 'd'},
                                           {"actors", required_argument, NULL, 'a'},
                                           {"rewards", required_argument, NULL, 'w'},
                                           {"resume", no_argument, NULL, 'r'},
                                           {"max-restarts", required_argument, NULL, 'm'},
                                           {"quiet", no_argument, NULL, 'q'},
                                           {NULL, 0, NULL, 0}};
  const char *sets[256], *run_dir = NULL;
  int nsets = 0, actors = 1, rewards = 1, max_restarts = 5;
  bool resume = false, quiet = false;
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    char *end = NULL;
    switch (ch) {
    case 's':
      if (nsets == 256) return fprintf(stderr, CMD ": too many --set\n"), 2;
      sets[nsets++] = optarg;
      break;
    case 'd': run_dir = optarg; break;
    case 'a':
    case 'w':
    case 'm': {
      long v = strtol(optarg, &end, 10);
      if (!*optarg || *end || v < 0 || v > 64) {
        fprintf(stderr, CMD ": --%s %s: expected an integer in 0..64\n",
                ch == 'a' ? "actors" : ch == 'w' ? "rewards" : "max-restarts", optarg);
        return 2;
      }
      if (ch == 'a') actors = (int)v;
      else if (ch == 'w') rewards = (int)v;
      else max_restarts = (int)v;
      break;
    }
    case 'r': resume = true; break;
    case 'q': quiet = true; break;
    default: fputs(usage_text, stderr); return 2;
    }
  }
  if (optind != argc - 1) {
    fprintf(stderr, CMD ": expected exactly one CONFIG file\n%s", usage_text);
    return 2;
  }
  const char *config_file = argv[optind];
  zr_config cfg;
  if (zr_config_init_defaults(&cfg) < 0) return 1;
  int rc = zr_config_load_file(&cfg, config_file);
  for (int i = 0; rc == 0 && i < nsets; i++) rc = zr_config_set(&cfg, sets[i], "--set");
  if (rc == 0) rc = zr_config_validate(&cfg);
  if (rc < 0) {
    fprintf(stderr, CMD ": %s\n", zr_errmsg());
    zr_config_release(&cfg);
    return 1;
  }
  static run_ctx r;
  memset(&r, 0, sizeof r);
  r.max_restarts = max_restarts;
  r.quiet = quiet;
  r.tty = isatty(2);
  r.total_steps = cfg.learner.total_steps;
  static const char *const modes[] = {"rl", "sft", "rejection-sample", "eval"};
  r.mode_name = modes[cfg.algo.mode];
  bool rl = cfg.algo.mode == 0 || cfg.algo.mode == 2;
  /* run directory */
  if (run_dir) {
    if ((size_t)snprintf(r.run_dir, sizeof r.run_dir, "%s", run_dir) >= sizeof r.run_dir) return 2;
  } else {
    char stamp[32];
    time_t now = time(NULL);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
    if ((size_t)snprintf(r.run_dir, sizeof r.run_dir, "%s/%s-%s", cfg.job.run_dir, cfg.job.name, stamp) >=
        sizeof r.run_dir) {
      fprintf(stderr, CMD ": [job] run_dir is too long\n");
      zr_config_release(&cfg);
      return 1;
    }
  }
  char logs[PATH_MAX + 8];
  snprintf(logs, sizeof logs, "%s/logs", r.run_dir);
  if (mkdir_p(logs) < 0) {
    fprintf(stderr, CMD ": %s\n", zr_errmsg());
    zr_config_release(&cfg);
    return 1;
  }
  char *abs = realpath(r.run_dir, NULL);
  if (abs) {
    snprintf(r.run_dir, sizeof r.run_dir, "%s", abs);
    free(abs);
  }
  /* where the daemons are */
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  self[n > 0 ? n : 0] = '\0';
  char *slash = strrchr(self, '/');
  if (slash) *slash = '\0';
  snprintf(r.bin_dir, sizeof r.bin_dir, "%s", self);
  char learner_bin[PATH_MAX], actor_bin[PATH_MAX], reward_bin[PATH_MAX], redis_bin[PATH_MAX];
  if (find_binary(&r, "zerorl-learner", "learner", learner_bin, sizeof learner_bin) < 0 ||
      (rl && find_binary(&r, "zerorl-actor", "actor", actor_bin, sizeof actor_bin) < 0) ||
      (rl && find_binary(&r, "zerorl-reward", "reward", reward_bin, sizeof reward_bin) < 0) ||
      (rl && cfg.redis.embedded && find_binary(&r, "redis-server", "none", redis_bin, sizeof redis_bin) < 0)) {
    fprintf(stderr, CMD ": %s\n", zr_errmsg());
    zr_config_release(&cfg);
    return 1;
  }
  /* the effective config: job id, run dir and (embedded) the Redis socket filled in */
  char buf[PATH_MAX + 64], id[ZR_ID_HEX_LEN + 1];
  if (!cfg.job.id[0] && resume) { /* the job resumed keeps its id (Redis keys, events) */
    zr_config prev;
    snprintf(buf, sizeof buf, "%s/config.ini", r.run_dir);
    if (zr_config_init_defaults(&prev) == 0 && zr_config_load_file(&prev, buf) == 0 && prev.job.id[0]) {
      snprintf(buf, sizeof buf, "job.id=%s", prev.job.id);
      zr_config_set(&cfg, buf, "zerorl run --resume");
    }
    zr_config_release(&prev);
  }
  if (!cfg.job.id[0]) {
    zr_id_new(id);
    snprintf(buf, sizeof buf, "job.id=%s", id);
    zr_config_set(&cfg, buf, "zerorl run");
  }
  snprintf(buf, sizeof buf, "job.run_dir=%s", r.run_dir);
  zr_config_set(&cfg, buf, "zerorl run");
  snprintf(r.redis_sock, sizeof r.redis_sock, "%s/redis.sock", r.run_dir);
  if (rl && cfg.redis.embedded) {
    if (strlen(r.redis_sock) > 107) {
      fprintf(stderr, CMD ": the run directory path is too long for a unix socket (%s); use a shorter --run-dir\n",
              r.redis_sock);
      zr_config_release(&cfg);
      return 1;
    }
    snprintf(buf, sizeof buf, "redis.socket=%s", r.redis_sock);
    zr_config_set(&cfg, buf, "zerorl run");
  }
  snprintf(r.config_path, sizeof r.config_path, "%s/config.ini", r.run_dir);
  FILE *cf = fopen(r.config_path, "w");
  if (!cf) {
    fprintf(stderr, CMD ": cannot write %s: %s\n", r.config_path, strerror(errno));
    zr_config_release(&cfg);
    return 1;
  }
  zr_config_print(&cfg, cf);
  fclose(cf);
  fprintf(stderr, CMD ": job %s (%s, mode %s), run directory %s\n", cfg.job.id, cfg.job.name, r.mode_name, r.run_dir);

  uv_loop_t loop;
  uv_loop_init(&loop);
  r.loop = &loop;
  r.t0 = zr_clock_mono_ms();
  if (rl && cfg.redis.embedded) {
    unlink(r.redis_sock);
    child *c = add_child(&r, "redis", redis_bin);
    c->is_redis = true;
    arg(c, "--port");
    arg(c, "0");
    arg(c, "--unixsocket");
    arg(c, r.redis_sock);
    arg(c, "--unixsocketperm");
    arg(c, "700");
    arg(c, "--dir");
    arg(c, r.run_dir);
    arg(c, "--save");
    arg(c, "");
    arg(c, "--appendonly");
    arg(c, "no");
    start_child(c);
    if (!c->running || wait_for_socket(r.redis_sock) < 0) {
      fprintf(stderr, CMD ": %s (see %s/logs/redis.log)\n", zr_errmsg(), r.run_dir);
      stop_all(&r, SIGKILL);
      uv_run(&loop, UV_RUN_DEFAULT);
      zr_config_release(&cfg);
      return 1;
    }
  }
  child *lc = add_child(&r, "learner", learner_bin);
  lc->is_learner = true;
  arg(lc, "--config");
  arg(lc, r.config_path);
  if (resume) arg(lc, "--resume");
  start_child(lc);
  if (!lc->running) {
    stop_all(&r, SIGKILL);
    uv_run(&loop, UV_RUN_DEFAULT);
    zr_config_release(&cfg);
    return 1;
  }
  for (int i = 0; rl && i < actors; i++) {
    char name[32];
    snprintf(name, sizeof name, "actor-%d", i);
    child *c = add_child(&r, name, actor_bin);
    c->restartable = true;
    arg(c, "--config");
    arg(c, r.config_path);
    arg(c, "--id");
    arg(c, name);
    start_child(c);
  }
  for (int i = 0; rl && i < rewards; i++) {
    char name[32];
    snprintf(name, sizeof name, "reward-%d", i);
    child *c = add_child(&r, name, reward_bin);
    c->restartable = true;
    arg(c, "--config");
    arg(c, r.config_path);
    arg(c, "--id");
    arg(c, name);
    start_child(c);
  }
  zr_config_release(&cfg);
  uv_signal_init(&loop, &r.sigint);
  uv_signal_init(&loop, &r.sigterm);
  r.sigint.data = r.sigterm.data = &r;
  uv_signal_start(&r.sigint, on_signal, SIGINT);
  uv_signal_start(&r.sigterm, on_signal, SIGTERM);
  uv_timer_init(&loop, &r.progress);
  uv_timer_init(&loop, &r.kill_timer);
  r.progress.data = r.kill_timer.data = &r;
  uv_timer_start(&r.progress, on_progress, 1000, 1000);
  uv_run(&loop, UV_RUN_DEFAULT);
  /* close what is left and finish the loop */
  uv_close((uv_handle_t *)&r.sigint, NULL);
  uv_close((uv_handle_t *)&r.sigterm, NULL);
  uv_close((uv_handle_t *)&r.progress, NULL);
  uv_close((uv_handle_t *)&r.kill_timer, NULL);
  for (int i = 0; i < r.n_kids; i++) {
    uv_close((uv_handle_t *)&r.kids[i].restart_timer, NULL);
    for (int a = 0; a < r.kids[i].argc; a++) free(r.kids[i].argv[a]);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  read_metrics(&r);
  if (r.tty && !r.quiet) fputc('\n', stderr);
  json_decref(r.last_metrics);
  fprintf(stderr, CMD ": %s; run directory %s\n", r.learner_status == 0 ? "job done" : "job FAILED", r.run_dir);
  return r.learner_status == 0 ? 0 : 1;
}
