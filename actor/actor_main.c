/* zerorl-actor: the actor daemon (actor/actor.h).
 *
 *   zerorl-actor --config FILE [--set section.key=value]... [--learner tcp://HOST] [--id ID]
 *                [--backend cpu|cuda] [--device N] [--threads N]
 *
 * Loads the job config and the policy model ([model] path: config.json, safetensors,
 * tokenizer.json, generation_config.json for the eos ids), connects to the learner, samples what
 * it is given and keeps its heartbeat in Redis; SIGTERM or SIGINT drain it (finish or hand back
 * the work in flight, delete the heartbeat) and it exits 0. Exit status 1: it could not start;
 * 2: usage.
 *
 * Under systemd (Type=notify) it sends READY=1 once the actor is up, WATCHDOG=1 from its loop and
 * STOPPING=1 when it starts draining (common/sdnotify.h). */
#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <uv.h>
#include <zmq.h>

#include "actor/actor.h"
#ifdef ZERORL_HAVE_CUDA
#include "cuda/backend_cuda.h"
#endif
#include "common/config.h"
#include "common/error.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/sdnotify.h"
#include "common/util.h"
#include "model/backend.h"
#include "model/hf_config.h"
#include "model/tokenizer.h"
#include "model/transformer.h"

#define PROG "zerorl-actor"
#define COMP_MAIN "actor"

static void usage(FILE *out) {
  fprintf(out,
          "usage: " PROG " --config FILE [--set section.key=value]... [--learner tcp://HOST] [--id ID]\n"
          "                    [--backend cpu|cuda] [--device N] [--threads N]\n"
          "\n"
          "Samples completions for the learner of the job in FILE ([job] id must be set) with the\n"
          "policy in [model] path, fetching new weight versions as the learner publishes them.\n"
          "  --config FILE        the job configuration (INI)\n"
          "  --set S.K=V          override one key (repeatable; applied after the file)\n"
          "  --discover           find the learner's endpoints in the job's Redis hash (written by the\n"
          "                       learner) instead of [net]\n"
          "  --learner tcp://HOST the learner's address (default [net] learner_host); the ports come\n"
          "                       from [net] learner_tasks, learner_weights and learner_announce\n"
          "  --id ID              worker id (default: a random 32-hex id)\n"
          "  --backend NAME       cpu or cuda (default [model] backend)\n"
          "  --device N           accelerator index for --backend cuda (default 0)\n"
          "  --threads N          CPU backend threads (default [actor] threads; 0 = every core)\n"
          "  --help               this text\n"
          "At start it waits briefly for the learner's weight announcement and fetches it; without\n"
          "one it generates with the weights of [model] path as policy version 0.\n"
          "With [actor] engine = sim it loads no model (only [model] path/config.json, for the\n"
          "vocabulary) and simulates generation with the [actor] sim_* settings (docs/scale.md).\n"
          "SIGTERM/SIGINT: stop asking, finish running sequences for a few seconds, hand back the\n"
          "rest (LeaseRelease), delete the heartbeat, exit 0.\n");
}

typedef struct {
  uv_loop_t loop;
  uv_signal_t sigterm, sigint;
  uv_timer_t finish;
  zr_actor *a;
  zr_sd_watchdog watchdog;
  int signals;
} app;

static void on_finish(uv_timer_t *t) {
  app *p = t->data;
  zr_actor_free(&p->a);
  zr_sd_watchdog_stop(&p->watchdog);
  uv_close((uv_handle_t *)&p->sigterm, NULL);
  uv_close((uv_handle_t *)&p->sigint, NULL);
  uv_close((uv_handle_t *)&p->finish, NULL);
}

static void on_drained(void *user) {
  app *p = user;
  uv_timer_start(&p->finish, on_finish, 0, 0); /* free the actor outside its own callbacks */
}

static void on_signal(uv_signal_t *s, int signum) {
  app *p = s->data;
  if (p->signals++ == 0) {
    ZR_INFO("actor", "%s: draining", strsignal(signum));
    zr_sd_notifyf("STOPPING=1\nSTATUS=draining (%s)", strsignal(signum));
    zr_actor_drain(p->a, on_drained, p);
  } else {
    ZR_INFO("actor", "%s again: still draining", strsignal(signum));
  }
}

static int parse_count(const char *opt, const char *text, int64_t lo, int64_t hi, int64_t *out) {
  if (zr_config_parse_int(text, out) < 0 || *out < lo || *out > hi) {
    fprintf(stderr, PROG ": %s %s: expected an integer in %lld..%lld\n", opt, text, (long long)lo, (long long)hi);
    return -1;
  }
  return 0;
}

/* --discover: the learner's endpoints from the job hash in Redis (PREFIX:job:JOB fields
 * endpoint_work, endpoint_weights (announcements) and endpoint_chunks), written by the
 * learner as clients reach them. One synchronous lookup at start-up. */
static int discover_learner(zr_config *cfg) {
  if (!cfg->job.id[0]) return zr_seterr(-EINVAL, "--discover: [job] id is not set");
  struct timeval tv = {(time_t)(cfg->redis.connect_timeout_ms / 1000), (suseconds_t)(cfg->redis.connect_timeout_ms % 1000) * 1000};
  redisContext *r = cfg->redis.socket[0] ? redisConnectUnixWithTimeout(cfg->redis.socket, tv)
                                         : redisConnectWithTimeout(cfg->redis.host, (int)cfg->redis.port, tv);
  if (!r || r->err) {
    int rc = zr_seterr(-ECONNREFUSED, "--discover: cannot reach Redis at %s: %s",
                       cfg->redis.socket[0] ? cfg->redis.socket : cfg->redis.host, r ? r->errstr : "out of memory");
    if (r) redisFree(r);
    return rc;
  }
  redisReply *rep = NULL;
  if (cfg->redis.password[0]) {
    rep = cfg->redis.user[0] ? redisCommand(r, "AUTH %s %s", cfg->redis.user, cfg->redis.password)
                             : redisCommand(r, "AUTH %s", cfg->redis.password);
    if (rep) freeReplyObject(rep);
  }
  if (cfg->redis.db) {
    rep = redisCommand(r, "SELECT %lld", (long long)cfg->redis.db);
    if (rep) freeReplyObject(rep);
  }
  char key[256];
  zr_key_job(key, sizeof key, cfg->redis.prefix, cfg->job.id);
  rep = redisCommand(r, "HMGET %s %s %s %s", key, ZR_JOB_ENDPOINT_WORK, ZR_JOB_ENDPOINT_WEIGHTS, ZR_JOB_ENDPOINT_CHUNKS);
  int rc = 0;
  if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 || rep->element[0]->type != REDIS_REPLY_STRING ||
      rep->element[1]->type != REDIS_REPLY_STRING || rep->element[2]->type != REDIS_REPLY_STRING) {
    rc = zr_seterr(-ENOENT, "--discover: %s has no learner endpoints (is the learner of job %s running?)", key,
                   cfg->job.id);
  } else {
    const char *names[3] = {"net.learner_tasks", "net.learner_announce", "net.learner_weights"};
    char assign[1200];
    for (int i = 0; rc == 0 && i < 3; i++) {
      snprintf(assign, sizeof assign, "%s=%s", names[i], rep->element[i]->str);
      rc = zr_config_set(cfg, assign, "--discover");
    }
    /* tcp://host:port: the host part is where all three live */
    const char *w = rep->element[0]->str, *colon = strrchr(w, ':');
    if (rc == 0 && strncmp(w, "tcp://", 6) == 0 && colon && colon > w + 6) {
      snprintf(assign, sizeof assign, "net.learner_host=%.*s", (int)(colon - w), w);
      rc = zr_config_set(cfg, assign, "--discover");
    }
    if (rc == 0) ZR_INFO(COMP_MAIN, "discovered the learner of job %s at %s", cfg->job.id, w);
  }
  if (rep) freeReplyObject(rep);
  redisFree(r);
  return rc;
}

/* engine = sim: no model, no tokenizer, no backend; the vocabulary size and eos ids come from
 * [model] path/config.json (the learner's policy), so token ids are ones the learner accepts. */
static int sim_setup(zr_actor_opts *o, const char *model_path) {
  char path[4200];
  snprintf(path, sizeof path, "%s/config.json", model_path);
  zr_model_config mc;
  int rc = zr_hf_config_load(&mc, path);
  if (rc < 0) {
    char why[512];
    snprintf(why, sizeof why, "%s", zr_errmsg());
    return zr_seterr(rc, "[actor] engine = sim: cannot read the vocabulary size from %s: %s", path, why);
  }
  o->sim.vocab = mc.vocab_size;
  o->sim.n_eos = 0;
  for (int i = 0; i < mc.n_eos && o->sim.n_eos < 8; i++)
    if (mc.eos_token_ids[i] >= 0 && mc.eos_token_ids[i] < mc.vocab_size) o->sim.eos_ids[o->sim.n_eos++] = mc.eos_token_ids[i];
  ZR_INFO("actor", "simulated engine: vocab %d (%s), %s completion lengths, mean %.0f, max %d tokens, %.1f tokens/s per slot; "
          "no model loaded, weight versions are followed without fetching", mc.vocab_size, path,
          o->sim.dist == ZR_SIMDIST_UNIFORM ? "uniform" : o->sim.dist == ZR_SIMDIST_FIXED ? "fixed" : "exponential",
          o->sim.tokens_mean, o->sim.tokens_max, o->sim.tokens_per_s);
  return 0;
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 's'},
      {"learner", required_argument, NULL, 'l'}, {"id", required_argument, NULL, 'i'},
      {"backend", required_argument, NULL, 'b'}, {"device", required_argument, NULL, 'd'},
      {"threads", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
      {"discover", no_argument, NULL, 'D'},
      {NULL, 0, NULL, 0}};
  const char *config = NULL, *learner = NULL, *id = NULL, *backend = NULL;
  const char *sets[256];
  int nsets = 0;
  int64_t threads = -1, device = 0;
  bool discover = false;
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
    case 'D': discover = true; break;
    case 'i': id = optarg; break;
    case 'b': backend = optarg; break;
    case 'd':
      if (parse_count("--device", optarg, 0, 1024, &device) < 0) return 2;
      break;
    case 't':
      if (parse_count("--threads", optarg, 0, 1024, &threads) < 0) return 2;
      break;
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
  if (rc == 0 && learner) {
    char assign[1200];
    if ((size_t)snprintf(assign, sizeof assign, "net.learner_host=%s", learner) >= sizeof assign)
      rc = zr_seterr(-EINVAL, "--learner: too long");
    else
      rc = zr_config_set(&cfg, assign, "--learner");
  }
  if (rc == 0 && discover) rc = discover_learner(&cfg);
  if (rc == 0) rc = zr_config_validate(&cfg);
  zr_actor_opts_buf obuf;
  zr_actor_opts o;
  if (rc == 0) rc = zr_actor_opts_from_config(&o, &cfg, &obuf);
  if (rc == 0 && !cfg.model.path[0])
    rc = zr_seterr(-EINVAL, "[model] path is not set: the actor needs the policy's model directory");
  if (rc < 0) {
    fprintf(stderr, PROG ": %s\n", zr_errmsg());
    zr_config_release(&cfg);
    return 1;
  }
  if (!getenv("ZERORL_LOG_LEVEL")) zr_log_set_level((zr_log_level)cfg.job.log_level);
  char gen_id[ZR_ID_HEX_LEN + 1];
  if (!id) {
    zr_id_new(gen_id);
    id = gen_id;
  }
  o.worker_id = id;
  if (!backend) backend = cfg.model.backend;
  if (threads < 0) threads = cfg.actor.threads;

  /* the model */
  zr_backend *be = NULL;
  zr_tf *m = NULL;
  zr_tok *tok = NULL;
  if (o.sim_engine) rc = sim_setup(&o, cfg.model.path);
  else if (strcmp(backend, "cpu") == 0) {
    rc = zr_backend_cpu_new(&be, (int)threads);
  } else if (strcmp(backend, "cuda") == 0) {
#ifdef ZERORL_HAVE_CUDA
    rc = zr_backend_cuda_new(&be, (int)device);
    if (rc == 0 && cfg.model.dtype == 1) rc = zr_backend_cuda_set_bf16(be, true); /* [model] dtype = bf16 */
#else
    (void)device;
    rc = zr_seterr(-ENOTSUP, "--backend cuda: this zerorl-actor was built without CUDA support (rebuild with "
                             "-DZERORL_CUDA=ON on a machine with nvcc), use --backend cpu");
#endif
  } else {
    rc = zr_seterr(-EINVAL, "--backend %s: expected cpu or cuda", backend);
  }
  if (rc == 0 && !o.sim_engine && (rc = zr_tf_load(&m, cfg.model.path, be)) < 0) {
    char why[512];
    snprintf(why, sizeof why, "%s", zr_errmsg());
    zr_seterr(rc, "cannot load the model in %s: %s", cfg.model.path, why);
  }
  if (rc == 0 && !o.sim_engine && (rc = zr_tok_load(&tok, cfg.model.path)) < 0) {
    char why[512];
    snprintf(why, sizeof why, "%s", zr_errmsg());
    zr_seterr(rc, "cannot load the tokenizer in %s: %s", cfg.model.path, why);
  }
  if (rc < 0) {
    fprintf(stderr, PROG ": %s\n", zr_errmsg());
    zr_tok_free(&tok);
    zr_tf_free(&m);
    zr_backend_free(&be);
    zr_config_release(&cfg);
    return 1;
  }
  if (!o.sim_engine) {
    const int32_t *eos;
    size_t n_eos = zr_tok_eos_ids(tok, &eos);
    if (n_eos == 0) ZR_WARN("actor", "%s names no eos token: samples end only at stop strings or length", cfg.model.path);
    ZR_INFO("actor", "model %s: %d layers, vocab %d, %zu eos id(s), backend %s", cfg.model.path,
            zr_tf_config(m)->num_layers, zr_tf_config(m)->vocab_size, n_eos, backend);
  }

  app p;
  memset(&p, 0, sizeof p);
  void *ctx = zmq_ctx_new();
  if (!ctx || uv_loop_init(&p.loop) != 0) {
    fprintf(stderr, PROG ": cannot create the ZeroMQ context or the event loop\n");
    zr_config_release(&cfg);
    return 1;
  }
  p.a = zr_actor_new(&p.loop, ctx, &o, m, tok);
  zr_config_release(&cfg); /* the actor copied what it keeps */
  if (!p.a) {
    fprintf(stderr, PROG ": %s\n", zr_errmsg());
    uv_run(&p.loop, UV_RUN_NOWAIT);
    uv_loop_close(&p.loop);
    zmq_ctx_term(ctx);
    zr_tok_free(&tok);
    zr_tf_free(&m);
    zr_backend_free(&be);
    return 1;
  }
  uv_signal_init(&p.loop, &p.sigterm);
  uv_signal_init(&p.loop, &p.sigint);
  uv_timer_init(&p.loop, &p.finish);
  p.sigterm.data = p.sigint.data = p.finish.data = &p;
  uv_signal_start(&p.sigterm, on_signal, SIGTERM);
  uv_signal_start(&p.sigint, on_signal, SIGINT);
  if (zr_sd_watchdog_start(&p.watchdog, &p.loop, 0) < 0) ZR_WARN("actor", "systemd watchdog: %s", zr_errmsg());
  if (zr_sd_notifyf("READY=1\nSTATUS=actor %s, %s", id, o.work_endpoint) < 0)
    ZR_WARN("actor", "systemd notify: %s", zr_errmsg());

  uv_run(&p.loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(&p.loop);
  if (rc != 0) ZR_WARN("actor", "event loop closed with handles open: %s", uv_strerror(rc));
  zmq_ctx_term(ctx); /* waits up to [net] linger for the last rollouts to leave */
  zr_tok_free(&tok);
  zr_tf_free(&m);
  zr_backend_free(&be);
  ZR_INFO("actor", "exit");
  return 0;
}
