/* zerorl-learner: the learner daemon (learner/learner.h, docs/operations.md).
 *
 *   zerorl-learner --config FILE [--set section.key=value]... [--resume] [--run-dir DIR]
 *                  [--world-size N --rank R]
 *
 * Mode `rl` (and `rejection-sample`, which shares the hub) runs the hub, the trainer and the
 * weight publisher until the job ends; `sft` and `eval` run in this process alone. SIGTERM or
 * SIGINT drain (stop granting, wait for work in flight, checkpoint, exit 0); SIGHUP re-reads
 * the config file for the hot settings ([algo] max_staleness, reward_accuracy, reward_format,
 * [learner] lr). Exit status 0: the job is done; 1: it failed or could
 * not start; 2: usage or configuration error. Under systemd it sends READY=1, WATCHDOG=1 and STOPPING=1. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <zmq.h>

#include "common/config.h"
#include "common/error.h"
#include "common/log.h"
#include "common/sdnotify.h"
#include "learner/learner.h"

#define PROG "zerorl-learner"

static void usage(FILE *out) {
  fprintf(out,
          "usage: " PROG " --config FILE [--set section.key=value]... [--resume] [--run-dir DIR]\n"
          "       [--world-size N --rank R]\n"
          "\n"
          "Runs the learner of the job in FILE: [algo] mode rl (hub + trainer + weight publisher;\n"
          "actors and reward workers connect to it), rejection-sample (the same hub, no training:\n"
          "correct completions go to RUN_DIR/accepted.jsonl), sft (supervised fine-tuning on [data] train,\n"
          "prompt/completion JSONL) or eval (pass@1 / pass@k / maj@k of [model] path on [data] heldout,\n"
          "or [data] train when heldout is empty).\n"
          "  --config FILE   the job configuration (INI); see docs/config.md\n"
          "  --set S.K=V     override one key (repeatable; applied after the file)\n"
          "  --resume        continue from the latest checkpoint in the run directory (error if none)\n"
          "  --resume=auto   continue from it if there is one, else start fresh (systemd restarts)\n"
          "  --run-dir DIR   where metrics.jsonl, checkpoints and logs go (default [job] run_dir)\n"
          "  --world-size N  data-parallel learner processes, one per GPU ([learner] world_size); start\n"
          "                  N processes with the same config and [job] id, --rank 0 .. N-1: rank 0 runs\n"
          "                  the hub and publishes weights, the others only train; they meet through\n"
          "                  Redis, and a lost rank stops them all within [learner] collective_timeout\n"
          "  --rank R        this process's rank ([learner] rank)\n"
          "Signals: SIGTERM/SIGINT drain, checkpoint and exit 0; SIGHUP reloads [algo] max_staleness,\n"
          "reward_accuracy, reward_format, [learner] lr and the CURVE client allow-list.\n");
}

typedef struct {
  uv_loop_t loop;
  uv_signal_t sigterm, sigint, sighup;
  uv_timer_t finish;
  zr_learner *l;
  zr_sd_watchdog watchdog;
  const char *config_path;
  const char **sets;
  int nsets;
  zr_config cfg, reloaded;
  bool have_reloaded;
  int exit_code;
} app;

static void on_finish(uv_timer_t *t) {
  app *a = t->data;
  zr_learner_free(&a->l);
  zr_sd_watchdog_stop(&a->watchdog);
  uv_close((uv_handle_t *)&a->sigterm, NULL);
  uv_close((uv_handle_t *)&a->sigint, NULL);
  uv_close((uv_handle_t *)&a->sighup, NULL);
  uv_close((uv_handle_t *)&a->finish, NULL);
}

static void on_done(void *user, int code) {
  app *a = user;
  a->exit_code = code;
  uv_timer_start(&a->finish, on_finish, 0, 0);
}

static int load(app *a, zr_config *c) {
  if (zr_config_init_defaults(c) < 0) return -1;
  int rc = zr_config_load_file(c, a->config_path);
  for (int i = 0; rc == 0 && i < a->nsets; i++) rc = zr_config_set(c, a->sets[i], "--set");
  if (rc == 0) rc = zr_config_validate(c);
  return rc;
}

static void on_signal(uv_signal_t *s, int signum) {
  app *a = s->data;
  if (signum == SIGHUP) {
    zr_config c;
    if (load(a, &c) < 0) {
      ZR_WARN("learner", "SIGHUP: config not reloaded: %s", zr_errmsg());
      zr_config_release(&c);
      return;
    }
    if (a->have_reloaded) zr_config_release(&a->reloaded);
    a->reloaded = c;
    a->have_reloaded = true;
    zr_learner_reload(a->l, &a->reloaded);
    return;
  }
  ZR_INFO("learner", "%s: draining", strsignal(signum));
  zr_sd_notifyf("STOPPING=1\nSTATUS=draining (%s)", strsignal(signum));
  zr_learner_drain(a->l);
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                           {"set", required_argument, NULL, 's'},
                                           {"resume", optional_argument, NULL, 'r'},
                                           {"run-dir", required_argument, NULL, 'd'},
                                           {"world-size", required_argument, NULL, 'w'},
                                           {"rank", required_argument, NULL, 'R'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  static app a;
  const char *sets[256];
  zr_learner_opts o = {0};
  int ch;
  a.sets = sets;
  while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (ch) {
    case 'c': a.config_path = optarg; break;
    case 's':
      if (a.nsets == 256) {
        fprintf(stderr, PROG ": too many --set options\n");
        return 2;
      }
      sets[a.nsets++] = optarg;
      break;
    case 'r':
      if (optarg && strcmp(optarg, "auto") == 0) o.resume_auto = true;
      else if (!optarg) o.resume = true;
      else {
        fprintf(stderr, PROG ": --resume=%s: expected --resume or --resume=auto\n", optarg);
        return 2;
      }
      break;
    case 'd': o.run_dir = optarg; break;
    case 'w':
    case 'R': { /* sugar for --set learner.world_size=N / learner.rank=R, applied after the other --set */
      static char dist_sets[2][64];
      char *d = dist_sets[ch == 'w' ? 0 : 1];
      snprintf(d, sizeof dist_sets[0], "learner.%s=%s", ch == 'w' ? "world_size" : "rank", optarg);
      if (a.nsets == 256) {
        fprintf(stderr, PROG ": too many --set options\n");
        return 2;
      }
      sets[a.nsets++] = d;
      break;
    }
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc || !a.config_path) {
    if (!a.config_path) fprintf(stderr, PROG ": --config FILE is required\n");
    else fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    return 2;
  }
  if (load(&a, &a.cfg) < 0) { /* a configuration error: 2, so systemd does not restart it */
    fprintf(stderr, PROG ": %s\n", zr_errmsg());
    zr_config_release(&a.cfg);
    return 2;
  }
  if (!getenv("ZERORL_LOG_LEVEL")) zr_log_set_level((zr_log_level)a.cfg.job.log_level);
  int mode = a.cfg.algo.mode; /* rl, sft, rejection-sample, eval */
  if (a.cfg.learner.world_size > 1 && mode != 0) {
    fprintf(stderr, PROG ": [learner] world_size %lld: only [algo] mode = rl trains with several ranks\n",
            (long long)a.cfg.learner.world_size);
    zr_config_release(&a.cfg);
    return 2;
  }
  if (a.cfg.learner.rank > 0) { /* a compute-only rank of a data-parallel group */
    zr_sd_notify("READY=1");
    int code = zr_learner_run_rank(&a.cfg, &o);
    if (code != 0) fprintf(stderr, PROG ": rank %lld: %s\n", (long long)a.cfg.learner.rank, zr_errmsg());
    zr_config_release(&a.cfg);
    return code;
  }
  if (mode == 1 || mode == 3) {
    zr_sd_notify("READY=1");
    int code = zr_learner_run_offline(&a.cfg, &o);
    zr_config_release(&a.cfg);
    return code;
  }
  void *ctx = zmq_ctx_new();
  if (!ctx || uv_loop_init(&a.loop) != 0) {
    fprintf(stderr, PROG ": cannot create the ZeroMQ context or the event loop\n");
    return 1;
  }
  a.l = zr_learner_new(&a.loop, ctx, &a.cfg, &o);
  if (!a.l) {
    fprintf(stderr, PROG ": %s\n", zr_errmsg());
    uv_run(&a.loop, UV_RUN_DEFAULT);
    uv_loop_close(&a.loop);
    zmq_ctx_term(ctx);
    zr_config_release(&a.cfg);
    return 1;
  }
  zr_learner_on_done(a.l, on_done, &a);
  uv_signal_init(&a.loop, &a.sigterm);
  uv_signal_init(&a.loop, &a.sigint);
  uv_signal_init(&a.loop, &a.sighup);
  uv_timer_init(&a.loop, &a.finish);
  a.sigterm.data = a.sigint.data = a.sighup.data = a.finish.data = &a;
  uv_signal_start(&a.sigterm, on_signal, SIGTERM);
  uv_signal_start(&a.sigint, on_signal, SIGINT);
  uv_signal_start(&a.sighup, on_signal, SIGHUP);
  zr_sd_watchdog_start(&a.watchdog, &a.loop, 0);
  zr_sd_notify("READY=1\nSTATUS=running");
  uv_run(&a.loop, UV_RUN_DEFAULT);
  uv_loop_close(&a.loop);
  zmq_ctx_term(ctx);
  zr_config_release(&a.cfg);
  if (a.have_reloaded) zr_config_release(&a.reloaded);
  return a.exit_code;
}
