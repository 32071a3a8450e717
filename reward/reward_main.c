/* zerorl-reward: the reward worker daemon (reward/worker.h, docs/reward.md).
 *
 *   zerorl-reward --config FILE [--set section.key=value]... [--learner ENDPOINT] [--slots N] [--id ID]
 *
 * Loads the job config, connects to the learner, scores what it is given and keeps its
 * heartbeat in Redis; SIGTERM or SIGINT drain it (finish and send the checks in flight, delete
 * the heartbeat) and it exits 0. Exit status 1: it could not start; 2: usage.
 *
 * Under systemd (Type=notify, deploy/systemd/zerorl-reward@.service) it sends READY=1 once the
 * worker is up, WATCHDOG=1 from its loop at half of WatchdogSec, and STOPPING=1 when it starts
 * draining (common/sdnotify.h); without $NOTIFY_SOCKET none of that happens. */
#include <errno.h>
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
#include "common/util.h"
#include "reward/worker.h"

#define PROG "zerorl-reward"

static void usage(FILE *out) {
  fprintf(out,
          "usage: " PROG " --config FILE [--set section.key=value]... [--learner ENDPOINT] [--slots N] [--id ID]\n"
          "\n"
          "Scores rollouts for the learner of the job in FILE ([job] id must be set).\n"
          "  --config FILE        the job configuration (INI)\n"
          "  --set S.K=V          override one key (repeatable; applied after the file)\n"
          "  --learner ENDPOINT   the learner's work endpoint (default: [net] learner_host with the\n"
          "                       port of [net] learner_tasks)\n"
          "  --slots N            checks at once (default [reward] slots)\n"
          "  --id ID              worker id (default: a random 32-hex id)\n"
          "With [reward] engine = sim it runs no checks: each rollout scores 1 with probability\n"
          "[reward] sim_correct after about [reward] sim_score_time (docs/scale.md).\n"
          "SIGTERM/SIGINT: finish the checks in flight, send them, delete the heartbeat, exit 0.\n");
}

typedef struct {
  uv_loop_t loop;
  uv_signal_t sigterm, sigint;
  uv_timer_t finish;
  zr_rworker *w;
  zr_sd_watchdog watchdog;
  int signals;
} app;

static void on_finish(uv_timer_t *t) {
  app *a = t->data;
  zr_rworker_free(&a->w);
  zr_sd_watchdog_stop(&a->watchdog);
  uv_close((uv_handle_t *)&a->sigterm, NULL);
  uv_close((uv_handle_t *)&a->sigint, NULL);
  uv_close((uv_handle_t *)&a->finish, NULL);
}

static void on_drained(void *user) {
  app *a = user;
  uv_timer_start(&a->finish, on_finish, 0, 0); /* free the worker outside its own callbacks */
}

static void on_signal(uv_signal_t *s, int signum) {
  app *a = s->data;
  if (a->signals++ == 0) {
    ZR_INFO("reward", "%s: draining", strsignal(signum));
    zr_sd_notifyf("STOPPING=1\nSTATUS=draining (%s)", strsignal(signum));
    zr_rworker_drain(a->w, on_drained, a);
  } else {
    ZR_INFO("reward", "%s again: still draining (%d checks in flight)", strsignal(signum),
            zr_rworker_get_stats(a->w).busy);
  }
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 's'},
      {"learner", required_argument, NULL, 'l'}, {"slots", required_argument, NULL, 'n'},
      {"id", required_argument, NULL, 'i'},      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *config = NULL, *learner = NULL, *id = NULL;
  const char *sets[256];
  int nsets = 0;
  int64_t slots = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (ch) {
    case 'c': config = optarg; break;
    case 's':
      if (nsets == 256) {
        fprintf(stderr, PROG ": too many --set options\n");
        return 2;
      }
      sets[nsets++] = optarg;
      break;
    case 'l': learner = optarg; break;
    case 'n':
      if (zr_config_parse_int(optarg, &slots) < 0 || slots < 1 || slots > 1024) {
        fprintf(stderr, PROG ": --slots %s: expected an integer in 1..1024\n", optarg);
        return 2;
      }
      break;
    case 'i': id = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc || !config) {
    if (!config) fprintf(stderr, PROG ": --config FILE is required\n");
    else fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    return 2;
  }

  zr_config cfg;
  if (zr_config_init_defaults(&cfg) < 0) {
    fprintf(stderr, PROG ": %s\n", zr_errmsg());
    return 1;
  }
  int rc = zr_config_load_file(&cfg, config);
  for (int i = 0; rc == 0 && i < nsets; i++) rc = zr_config_set(&cfg, sets[i], "--set");
  if (rc == 0) rc = zr_config_validate(&cfg);
  char endpoint[1100], keys[3][41], gen_id[ZR_ID_HEX_LEN + 1];
  zr_rworker_opts o;
  if (rc == 0) rc = zr_rworker_opts_from_config(&o, &cfg, endpoint, sizeof endpoint, keys);
  if (rc < 0) {
    fprintf(stderr, PROG ": %s\n", zr_errmsg());
    zr_config_release(&cfg);
    return 1;
  }
  if (!getenv("ZERORL_LOG_LEVEL")) zr_log_set_level((zr_log_level)cfg.job.log_level);
  if (learner) o.endpoint = learner;
  if (slots) o.slots = (int)slots;
  if (!id) {
    zr_id_new(gen_id);
    id = gen_id;
  }
  o.worker_id = id;

  app a;
  memset(&a, 0, sizeof a);
  void *ctx = zmq_ctx_new();
  if (!ctx || uv_loop_init(&a.loop) != 0) {
    fprintf(stderr, PROG ": cannot create the ZeroMQ context or the event loop\n");
    zr_config_release(&cfg);
    return 1;
  }
  a.w = zr_rworker_new(&a.loop, ctx, &o);
  zr_config_release(&cfg); /* the worker copied what it keeps */
  if (!a.w) {
    fprintf(stderr, PROG ": %s\n", zr_errmsg());
    uv_run(&a.loop, UV_RUN_NOWAIT);
    uv_loop_close(&a.loop);
    zmq_ctx_term(ctx);
    return 1;
  }
  uv_signal_init(&a.loop, &a.sigterm);
  uv_signal_init(&a.loop, &a.sigint);
  uv_timer_init(&a.loop, &a.finish);
  a.sigterm.data = a.sigint.data = a.finish.data = &a;
  uv_signal_start(&a.sigterm, on_signal, SIGTERM);
  uv_signal_start(&a.sigint, on_signal, SIGINT);
  if (zr_sd_notifyf("READY=1\nSTATUS=scoring for %s as %s (%d slots)", o.endpoint, id, o.slots) < 0)
    ZR_WARN("reward", "systemd notify: %s", zr_errmsg());
  if (zr_sd_watchdog_start(&a.watchdog, &a.loop, 0) < 0) ZR_WARN("reward", "systemd watchdog: %s", zr_errmsg());

  uv_run(&a.loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(&a.loop);
  if (rc != 0) ZR_WARN("reward", "event loop closed with handles open: %s", uv_strerror(rc));
  zmq_ctx_term(ctx); /* waits up to [net] linger for the last results to leave */
  ZR_INFO("reward", "exit");
  return 0;
}
