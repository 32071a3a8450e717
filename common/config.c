/* config.c: the key table, value parsers, loading (through common/ini.h), overrides,
 * validation, printing and the generated reference. See config.h for the rules. */
#include "common/config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/ini.h"
#include "common/log.h"

/* ---- the key table ------------------------------------------------------------------------ */

typedef enum { T_STRING, T_INT, T_DOUBLE, T_BOOL, T_ENUM, T_DURATION, T_SIZE } key_type;

/* What a string value may contain, beyond "no control characters" and its length bounds. */
typedef enum {
  STR_TEXT,     /* anything */
  STR_IDENT,    /* letters, digits, '_', '-', '.', not starting with '.' (Redis keys, paths) */
  STR_ENDPOINT, /* a ZeroMQ endpoint: tcp://, ipc:// or inproc:// and something after it */
  STR_SECRET,   /* anything, never printed */
} str_check;

typedef struct {
  const char *section, *key;
  key_type type;
  str_check check;          /* T_STRING */
  const char *def;          /* the default, as it would be written in the file (unquoted) */
  int64_t min, max;         /* T_INT, T_DURATION (ms), T_SIZE (bytes); T_STRING: length */
  double dmin, dmax;        /* T_DOUBLE */
  const char *const *names; /* T_ENUM: allowed names, NULL-terminated; stored as the index */
  size_t offset;            /* of the field in zr_config */
  const char *help;
} key_def;

/* offsetof(zr_config, f), refusing to compile unless the field has type T. */
#define FIELD(f, T) (offsetof(zr_config, f) + 0 * sizeof(&((zr_config *)0)->f == (T *)0))
#define ROW(sec, k, fld, ctype, ...) \
  {.section = #sec, .key = #k, .offset = FIELD(sec.fld, ctype), __VA_ARGS__}
#define STRING(sec, k, chk, lo, hi, dflt, hlp) \
  ROW(sec, k, k, char *, .type = T_STRING, .check = chk, .min = lo, .max = hi, .def = dflt, .help = hlp)
#define INT(sec, k, lo, hi, dflt, hlp) \
  ROW(sec, k, k, int64_t, .type = T_INT, .min = lo, .max = hi, .def = dflt, .help = hlp)
#define DOUBLE(sec, k, lo, hi, dflt, hlp) \
  ROW(sec, k, k, double, .type = T_DOUBLE, .dmin = lo, .dmax = hi, .def = dflt, .help = hlp)
#define BOOL(sec, k, dflt, hlp) ROW(sec, k, k, bool, .type = T_BOOL, .def = dflt, .help = hlp)
#define ENUM(sec, k, nms, dflt, hlp) \
  ROW(sec, k, k, int, .type = T_ENUM, .names = nms, .def = dflt, .help = hlp)
#define DURATION(sec, k, lo, hi, dflt, hlp) \
  ROW(sec, k, k##_ms, int64_t, .type = T_DURATION, .min = lo, .max = hi, .def = dflt, .help = hlp)
#define SIZE(sec, k, lo, hi, dflt, hlp) \
  ROW(sec, k, k, int64_t, .type = T_SIZE, .min = lo, .max = hi, .def = dflt, .help = hlp)

#define MS(n) ((int64_t)(n))
#define SEC(n) (MS(n) * 1000)
#define MIN(n) (SEC(n) * 60)
#define HOUR(n) (MIN(n) * 60)
#define KIB(n) ((int64_t)(n) << 10)
#define GIB(n) ((int64_t)(n) << 30)

/* Sections in the order of the file and the docs. Those without rows yet are accepted, and any
 * key in them is an unknown key until the module that owns the section adds its rows. */
static const struct {
  const char *name, *about;
} sections[] = {
    {"job", "What the job is called, where its files go and how much it logs."},
    {"model", "The policy and reference models."},
    {"data", "Task sets and prompt templates."},
    {"algo", "Advantages, policy loss, KL and off-policy settings."},
    {"actor", "Generation and weight sync on actors."},
    {"reward", "Reward workers and the code sandbox."},
    {"learner", "The learner: batches, optimizer, checkpoints."},
    {"redis", "The Redis server that holds job state, heartbeats and metrics."},
    {"net", "ZeroMQ endpoints and socket options, the same for every daemon."},
    {"security", "ZeroMQ CURVE keys and the client allow-list: all four keys set, or none."},
};
#define NSECTIONS (sizeof sections / sizeof sections[0])

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
_Static_assert(ZR_LOG_DEBUG == 0 && ZR_LOG_INFO == 1 && ZR_LOG_WARN == 2 && ZR_LOG_ERROR == 3,
               "job.log_level stores a zr_log_level as the index into log_levels");

static const char *const templates[] = {"r1zero", "chatml", "raw", NULL};
static const char *const modes[] = {"rl", "sft", "rejection-sample", "eval", NULL};
static const char *const advantages[] = {"grpo", "dr_grpo", "rloo", "reinforce_pp", NULL};
static const char *const loss_aggs[] = {"token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm", NULL};
static const char *const kls[] = {"none", "k1", "k2", "k3", NULL};
static const char *const updates[] = {"finish", "inflight", NULL};
static const char *const schedules[] = {"constant", "linear", "cosine", NULL};
static const char *const dtypes[] = {"f32", "bf16", NULL};
static const char *const actor_engines[] = {"model", "sim", NULL};
static const char *const sim_dists[] = {"exponential", "uniform", "fixed", NULL};
static const char *const reward_engines[] = {"verifier", "sim", NULL};

static const key_def keys[] = {
    STRING(job, id, STR_IDENT, 0, 64, "",
           "Job id, used in Redis keys and the run directory; empty: a random id is generated at start."),
    STRING(job, name, STR_TEXT, 1, 256, "zerorl", "Human-readable job name, for status output and logs."),
    STRING(job, run_dir, STR_TEXT, 1, 4096, "runs",
           "Directory for metrics.jsonl, checkpoints, logs and plots."),
    ENUM(job, log_level, log_levels, "info", "Least severe log record written."),

    STRING(model, path, STR_TEXT, 0, 4096, "",
           "Hugging Face model directory of the initial policy (config.json, safetensors, tokenizer.json)."),
    STRING(model, ref_path, STR_TEXT, 0, 4096, "", "Reference model for the KL term; empty: the initial policy."),
    STRING(model, optimizer_from, STR_TEXT, 0, 4096, "",
           "A checkpoint whose AdamW moments the trainer starts from (RL after SFT: a fresh Adam's first steps can wreck a cold-start model); empty: a fresh optimizer."),
    STRING(model, backend, STR_IDENT, 1, 16, "cpu", "Compute backend: `cpu` or `cuda`."),
    INT(model, threads, 0, 1024, "0", "CPU backend threads of the learner; 0: every core."),
    INT(model, device, 0, 1024, "0", "CUDA device of the learner when `backend = cuda`."),
    ENUM(model, dtype, dtypes, "f32",
         "GEMM precision with `backend = cuda` (learner and actors): `f32`, or `bf16` (bf16 copies of the weights and bf16 GEMM inputs with fp32 accumulation; master weights, AdamW state and other ops stay fp32). The CPU backend always computes in fp32."),

    STRING(data, train, STR_TEXT, 0, 4096, "",
           "Training file: tasks JSONL (rl, rejection-sample, eval) or prompt/completion JSONL (sft); for rl also `gen:KIND:DIFFICULTY:N[:SEED]`, a built-in generator (`arith`, `countdown`)."),
    STRING(data, heldout, STR_TEXT, 0, 4096, "", "Held-out tasks JSONL for evaluation; empty: none."),
    ROW(data, template, template_, int, .type = T_ENUM, .names = templates, .def = "r1zero",
        .help = "Prompt template: `r1zero` (the R1-Zero paper's), `chatml` (the model's chat format) or `raw`."),
    BOOL(data, shuffle, "true", "Shuffle the tasks each epoch (deterministic in `seed`)."),
    INT(data, seed, 0, INT64_MAX, "0", "Seed of the data order."),
    INT(data, epochs, 0, 1000000, "1", "Passes over the training set; 0: until `[learner] total_steps`."),
    INT(data, max_prompt_tokens, 1, 1048576, "1024", "Longest prompt kept; longer tasks are skipped and logged."),

    ENUM(algo, mode, modes, "rl",
         "What the learner does: `rl`, `sft`, `rejection-sample` (keep correct completions) or `eval`."),
    ENUM(algo, advantage, advantages, "grpo", "Advantage estimator: `grpo`, `dr_grpo`, `rloo` or `reinforce_pp`."),
    INT(algo, group_size, 1, 1024, "8", "Completions sampled per task (G)."),
    INT(algo, groups_per_batch, 1, 65536, "32", "Groups per optimizer batch."),
    INT(algo, updates_per_batch, 1, 64, "1", "Minibatch updates per batch."),
    DOUBLE(algo, temperature, 0, 100, "1", "Sampling temperature of the actors (0: greedy)."),
    DOUBLE(algo, top_p, 0.000001, 1, "1", "Nucleus sampling mass; 1: off."),
    INT(algo, top_k, 0, 1000000, "0", "Top-k sampling; 0: off."),
    INT(algo, max_new_tokens, 1, 1048576, "1024", "Completion length cap."),
    STRING(algo, stop, STR_TEXT, 0, 1024, "</answer>", "Comma-separated stop strings (kept in the completion)."),
    DOUBLE(algo, eps_low, 0, 10, "0.2", "Lower clip range of the ratio (1 - eps_low)."),
    DOUBLE(algo, eps_high, 0, 10, "0.2", "Upper clip range of the ratio (1 + eps_high); DAPO's clip-higher uses 0.28."),
    DOUBLE(algo, dual_clip, 0, 100, "0", "Dual-clip constant c > 1 for negative advantages; 0: off."),
    BOOL(algo, gspo, "false", "GSPO: one sequence-level ratio per completion instead of per-token ratios."),
    ENUM(algo, loss_agg, loss_aggs, "token_mean",
         "Loss aggregation: `token_mean`, `seq_mean_token_mean` or `seq_mean_token_sum_norm`."),
    ENUM(algo, kl, kls, "none", "KL estimator against the reference: `none`, `k1`, `k2` or `k3`."),
    DOUBLE(algo, kl_beta, 0, 100, "0", "Coefficient of the KL term."),
    INT(algo, ref_refresh_steps, 0, INT64_MAX, "0", "Copy the policy into the reference every N steps; 0: never."),
    INT(algo, max_staleness, 0, 1000000, "1",
        "Oldest policy a trained token may come from, in versions behind the current one (older groups are dropped and re-sampled)."),
    DOUBLE(algo, is_cap, 0, 1000, "2", "Cap of the truncated importance weight; 0: off."),
    BOOL(algo, dynamic_sampling, "false", "Skip groups whose rewards are all equal and keep drawing until the batch is full."),
    DOUBLE(algo, reward_accuracy, -100, 100, "1", "Weight of the accuracy reward."),
    DOUBLE(algo, reward_format, -100, 100, "0.1", "Weight of the format reward."),
    INT(algo, eval_samples, 1, 1024, "1", "Samples per task in eval mode (pass@k and maj@k use k = this)."),

    INT(actor, slots, 1, 65536, "64", "Sequences an actor decodes together (continuous batching)."),
    INT(actor, max_len, 2, 1048576, "4096", "Prompt plus completion tokens per sequence slot."),
    ENUM(actor, update, updates, "inflight",
         "On a new policy version: `finish` running sequences on the old one first, or continue them on the new one (`inflight`)."),
    INT(actor, threads, 0, 1024, "0", "CPU backend threads of an actor; 0: every core."),
    DURATION(actor, lease_margin, MS(0), HOUR(1), "2s", "Hand back unfinished tasks this long before their lease expires."),
    DURATION(actor, weight_deadline, SEC(1), HOUR(2), "5m", "Abandon a weight version not fetched completely in this time."),
    DURATION(actor, chunk_timeout, MS(10), MIN(10), "10s", "Request a weight chunk again after this long without an answer."),
    INT(actor, max_chunks_in_flight, 1, 4096, "8", "Weight chunk requests outstanding at once."),
    STRING(actor, relay_listen, STR_TEXT, 0, 1024, "",
           "Re-serve the weight versions this actor holds to other actors on this ZeroMQ endpoint (e.g. `tcp://*:5600`), forming a relay tree so the learner's link is not the fan-out bottleneck (docs/scale.md); empty: off. Relaying actors find each other in Redis."),
    STRING(actor, relay_advertise, STR_TEXT, 0, 1024, "",
           "The endpoint other actors connect to for `relay_listen`; empty: `relay_listen` with `*` / `0.0.0.0` replaced by this host's name."),
    INT(actor, relay_fanout, 1, 64, "2", "Children per node of the weight relay tree (the learner is the root)."),
    DURATION(actor, ask_interval, MS(10), MIN(1), "1s", "Re-ask period for work while none arrives."),
    ENUM(actor, engine, actor_engines, "model",
         "`model`: generate with the policy in `[model] path`; `sim`: a simulated engine for scale tests (no weights loaded or fetched; completions of random in-vocabulary tokens whose lengths and timings follow the `sim_*` keys; tokens carry the latest announced policy version)."),
    ENUM(actor, sim_tokens_dist, sim_dists, "exponential",
         "`engine = sim`: shape of the completion lengths: `exponential` (mean `sim_tokens_mean`), `uniform` (1 .. 2 x mean - 1) or `fixed` (the mean); clipped to `sim_tokens_max` and the task's max_new_tokens."),
    INT(actor, sim_tokens_mean, 1, 1048576, "400", "`engine = sim`: mean completion length in tokens."),
    INT(actor, sim_tokens_max, 1, 1048576, "1024",
        "`engine = sim`: longest completion (longer draws end here with finish reason length); at least `sim_tokens_mean`."),
    DOUBLE(actor, sim_tokens_per_s, 0.001, 1e9, "400",
           "`engine = sim`: decode speed of one slot in tokens/s: a completion of n tokens takes n / this seconds."),
    INT(actor, sim_seed, 0, INT64_MAX, "0",
        "`engine = sim`: seed of the draws, mixed with the worker id (so actors differ and a fixed id repeats)."),

    DOUBLE(learner, lr, 0, 10, "1e-6", "Peak learning rate."),
    DOUBLE(learner, beta1, 0, 0.999999, "0.9", "AdamW beta1."),
    DOUBLE(learner, beta2, 0, 0.999999, "0.99", "AdamW beta2."),
    DOUBLE(learner, weight_decay, 0, 10, "0", "AdamW decoupled weight decay."),
    DOUBLE(learner, grad_clip, 0, 1e9, "1", "Gradient norm clip; 0: off."),
    ENUM(learner, lr_schedule, schedules, "constant", "Learning-rate schedule after warm-up: `constant`, `linear` or `cosine`."),
    INT(learner, warmup_steps, 0, INT64_MAX, "0", "Linear warm-up steps."),
    INT(learner, total_steps, 1, INT64_MAX, "1000", "Optimizer steps of the job (it ends there, or when the data's epochs end)."),
    INT(learner, micro_batch_tokens, 1, INT64_MAX, "16384", "Tokens per forward/backward; larger batches accumulate gradients."),
    INT(learner, checkpoint_every, 0, INT64_MAX, "100", "Write a checkpoint every N steps (and on SIGTERM); 0: only at the end."),
    INT(learner, keep_checkpoints, 1, 1000000, "3", "Checkpoints kept in the run directory."),
    ENUM(learner, publish_dtype, dtypes, "bf16", "Data type of published weights: `f32` or `bf16`."),
    SIZE(learner, chunk_bytes, KIB(4), GIB(1), "4MiB", "Size of a weight chunk."),
    INT(learner, keep_versions, 1, 1024, "3", "Published weight versions kept for slow actors."),
    DURATION(learner, lease, SEC(1), HOUR(24), "10m", "How long an actor holds a task before it is re-issued."),
    DURATION(learner, score_deadline, SEC(1), HOUR(1), "60s", "How long a reward worker holds a rollout before it is re-issued."),
    INT(learner, max_task_retries, 0, 1000, "5", "Re-issues of a task (expired leases, stale groups) before it is dropped."),
    DURATION(learner, drain_timeout, SEC(1), HOUR(1), "60s", "How long SIGTERM waits for work in flight before the final checkpoint."),
    INT(learner, seed, 0, INT64_MAX, "0", "Seed of sampling and everything random in the learner."),
    INT(learner, probe_every, 0, INT64_MAX, "0",
        "sft: greedy accuracy on the first `probe_tasks` tasks of `[data] heldout` every N steps (metrics.jsonl `probe_accuracy`); 0: never."),
    INT(learner, probe_tasks, 1, 1000000, "200", "sft: held-out tasks per probe."),
    DOUBLE(learner, stop_at_accuracy, 0, 1, "0",
           "sft: end the run (with a checkpoint) once a probe reaches this accuracy, e.g. to stop a cold start in the steep part of its curve; 0: never."),
    INT(learner, world_size, 1, 1024, "1",
        "Data-parallel learner processes (one per GPU); rank 0 runs the hub, the others only compute. `zerorl-learner --world-size` overrides it."),
    INT(learner, rank, 0, 1023, "0", "This learner process's rank in 0 .. world_size - 1. `zerorl-learner --rank` overrides it."),
    DURATION(learner, collective_timeout, MS(500), HOUR(2), "5m",
             "World size > 1: a rank that stays silent this long (no heartbeat, or no part in a collective) fails the whole group loudly instead of hanging."),
    STRING(learner, dist_host, STR_TEXT, 1, 255, "127.0.0.1",
           "World size > 1: the address rank 0 binds its collective sockets on (an ephemeral TCP port) and publishes in Redis for the other ranks."),

    INT(reward, slots, 1, 1024, "4",
        "Checks a reward worker runs at once (its worker threads); `zerorl-reward --slots` overrides it."),
    DURATION(reward, default_deadline, MS(100), HOUR(1), "30s",
             "Time budget of a score request that carries no `deadline_ms`; a check over its budget is a timeout."),
    DOUBLE(reward, timeout_reward, -999, 999, "0", "Reward reported for a check that ran out of its time budget."),
    ENUM(reward, engine, reward_engines, "verifier",
         "`verifier`: score with the task's rule-based verifier (math, exact, countdown, code in the sandbox); `sim`: a simulated scorer for scale tests (reward 1 with probability `sim_correct`, else 0, after `sim_score_time`)."),
    DURATION(reward, sim_score_time, MS(0), MIN(10), "5ms",
             "`engine = sim`: mean time of one check; each takes uniformly 0.5 .. 1.5 x this."),
    DOUBLE(reward, sim_correct, 0, 1, "0.3", "`engine = sim`: probability that a rollout is scored correct (reward 1)."),

    STRING(redis, host, STR_TEXT, 0, 255, "127.0.0.1",
           "Redis host name or address; not used when `socket` is set."),
    INT(redis, port, 1, 65535, "6379", "Redis TCP port; not used when `socket` is set."),
    STRING(redis, socket, STR_TEXT, 0, 107, "",
           "Unix socket path of the Redis server; when set it wins over `host` and `port`."),
    STRING(redis, user, STR_TEXT, 0, 256, "", "ACL user for AUTH; empty: the default user."),
    STRING(redis, password, STR_SECRET, 0, 4096, "", "Password for AUTH; empty: no AUTH."),
    INT(redis, db, 0, 2147483647, "0", "Database number (SELECT)."),
    STRING(redis, prefix, STR_IDENT, 1, 64, "zerorl",
           "First part of every key: `PREFIX:job:ID`, `PREFIX:worker:...`."),
    DURATION(redis, connect_timeout, MS(1), MIN(10), "5s", "Deadline for connecting to Redis."),
    DURATION(redis, command_timeout, MS(1), MIN(10), "10s", "Deadline for each command's reply."),
    DURATION(redis, backoff_min, MS(1), HOUR(1), "100ms",
             "First delay before reconnecting; it doubles after each failure up to `backoff_max`."),
    DURATION(redis, backoff_max, MS(1), HOUR(1), "30s",
             "Longest delay between reconnect attempts; at least `backoff_min`."),
    DURATION(redis, heartbeat_interval, MS(10), MIN(10), "2s",
             "How often a daemon refreshes its worker hash."),
    DURATION(redis, heartbeat_ttl, MS(10), HOUR(1), "10s",
             "TTL of the worker hash: a daemon silent this long is presumed gone; more than `heartbeat_interval`."),

    BOOL(redis, embedded, "true",
         "`zerorl run` starts a private redis-server on a unix socket in the run directory (and points every daemon at it); false: use `host`/`port`/`socket`."),

    STRING(net, learner_tasks, STR_ENDPOINT, 1, 1024, "tcp://*:5555",
           "Endpoint the learner binds for work requests, grants and rollouts (ROUTER)."),
    STRING(net, learner_weights, STR_ENDPOINT, 1, 1024, "tcp://*:5556",
           "Endpoint the learner binds for weight chunk requests (ROUTER)."),
    STRING(net, learner_announce, STR_ENDPOINT, 1, 1024, "tcp://*:5557",
           "Endpoint the learner binds for weight announcements (PUB)."),
    STRING(net, learner_host, STR_ENDPOINT, 1, 1024, "tcp://127.0.0.1",
           "Address actors and reward workers connect to; the ports come from the `learner_*` endpoints."),
    SIZE(net, max_msg_size, KIB(1), GIB(16), "256MiB", "Largest message a socket accepts (ZMQ_MAXMSGSIZE)."),
    INT(net, sndhwm, 1, 10000000, "1000", "Send high-water mark in messages (ZMQ_SNDHWM)."),
    INT(net, rcvhwm, 1, 10000000, "1000", "Receive high-water mark in messages (ZMQ_RCVHWM)."),
    DURATION(net, linger, MS(0), MIN(5), "1s",
             "How long a closing socket keeps trying to send queued messages (ZMQ_LINGER)."),
    DURATION(net, reconnect_ivl, MS(1), MIN(1), "100ms", "First reconnect interval (ZMQ_RECONNECT_IVL)."),
    DURATION(net, reconnect_ivl_max, MS(1), MIN(10), "5s",
             "Longest reconnect interval (ZMQ_RECONNECT_IVL_MAX); at least `reconnect_ivl`."),

    STRING(security, curve_secret_key_file, STR_TEXT, 0, 4096, "",
           "This daemon's CURVE secret key (`zerorl keygen`); empty: CURVE off."),
    STRING(security, curve_public_key_file, STR_TEXT, 0, 4096, "", "This daemon's CURVE public key."),
    STRING(security, curve_server_public_key_file, STR_TEXT, 0, 4096, "",
           "The learner's CURVE public key, which clients use to authenticate it."),
    STRING(security, allowed_clients_file, STR_TEXT, 0, 4096, "",
           "Public keys of the clients the learner accepts, one per line."),
};
#define NKEYS (sizeof keys / sizeof keys[0])

/* A parsed value, before it is stored in (or after it is read from) a zr_config field. */
typedef union {
  char *s;
  int64_t i; /* T_INT, T_DURATION, T_SIZE */
  double d;
  bool b;
  int e;
} value;

static int find_section(const char *name) {
  for (size_t i = 0; i < NSECTIONS; i++)
    if (strcmp(sections[i].name, name) == 0) return (int)i;
  return -1;
}

static int find_key(const char *section, const char *key) {
  for (size_t i = 0; i < NKEYS; i++)
    if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0) return (int)i;
  return -1;
}

static const key_def *must_find(const char *section, const char *key) {
  int i = find_key(section, key);
  ZR_ASSERT(i >= 0);
  return &keys[i];
}

/* ---- value parsers ------------------------------------------------------------------------ */

/* s, cut to fit in a message: at most 60 bytes, "..." marking a cut. */
static const char *clip(const char *s, char buf[64]) {
  if (strlen(s) <= 60) return s;
  memcpy(buf, s, 57);
  memcpy(buf + 57, "...", 4);
  return buf;
}

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* Reads one or more decimal digits at *p and moves past them. 0, -EINVAL (no digit) or -ERANGE
 * (more than 64 bits; *out is then UINT64_MAX). */
static int scan_digits(const char **p, uint64_t *out) {
  const char *s = *p;
  uint64_t v = 0;
  bool over = false;
  if (!is_digit(*s)) return -EINVAL;
  for (; is_digit(*s); s++) {
    unsigned d = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - d) / 10) over = true;
    v = over ? UINT64_MAX : v * 10 + d;
  }
  *p = s;
  *out = v;
  return over ? -ERANGE : 0;
}

int zr_config_parse_int(const char *text, int64_t *out) {
  char cb[64];
  const char *p = text;
  bool neg = *p == '-';
  uint64_t v;
  if (*p == '-' || *p == '+') p++;
  int rc = scan_digits(&p, &v);
  if (rc == -EINVAL || (rc == 0 && *p))
    return zr_seterr(-EINVAL, "'%s' is not an integer", clip(text, cb));
  if (rc == -ERANGE || v > (uint64_t)INT64_MAX + neg)
    return zr_seterr(-ERANGE, "'%s' does not fit in 64 bits", clip(text, cb));
  *out = neg ? (int64_t)(0 - v) : (int64_t)v; /* 0 - v wraps to the two's complement */
  return 0;
}

int zr_config_parse_double(const char *text, double *out) {
  char cb[64];
  /* Plain decimal notation only: strtod alone would also take "nan", "inf", hex floats and
   * leading whitespace. */
  if (!*text || strspn(text, "0123456789.eE+-") != strlen(text))
    return zr_seterr(-EINVAL, "'%s' is not a number", clip(text, cb));
  char *end;
  errno = 0;
  double d = strtod(text, &end);
  if (end == text || *end) return zr_seterr(-EINVAL, "'%s' is not a number", clip(text, cb));
  if (!isfinite(d)) return zr_seterr(-ERANGE, "'%s' is not a finite number", clip(text, cb));
  *out = d; /* an underflow to 0 or a subnormal is accepted: it is the nearest double */
  return 0;
}

int zr_config_parse_bool(const char *text, bool *out) {
  static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
  char cb[64];
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(text, yes[i]) == 0) return *out = true, 0;
    if (strcasecmp(text, no[i]) == 0) return *out = false, 0;
  }
  return zr_seterr(-EINVAL, "'%s' is not a boolean (use true/false, yes/no, on/off or 1/0)",
                   clip(text, cb));
}

/* A whole number followed by a unit from units[] (NULL-terminated names, with factors). */
static int parse_scaled(const char *text, const char *const *units, const int64_t *factors,
                        bool bare_ok, int64_t *out) {
  const char *p = text;
  uint64_t v = 0;
  int rc = scan_digits(&p, &v);
  if (rc == -EINVAL) return rc;
  size_t u = 0;
  while (units[u] && strcmp(units[u], p) != 0) u++;
  if (!units[u] && !(*p == '\0' && (bare_ok || v == 0))) return -EINVAL;
  int64_t f = units[u] ? factors[u] : 1;
  if (rc == -ERANGE || v > (uint64_t)(INT64_MAX / f)) return -ERANGE;
  *out = (int64_t)v * f;
  return 0;
}

int zr_config_parse_duration(const char *text, int64_t *ms) {
  static const char *const units[] = {"ms", "s", "m", "h", NULL};
  static const int64_t factors[] = {1, SEC(1), MIN(1), HOUR(1)};
  char cb[64];
  int rc = parse_scaled(text, units, factors, false, ms);
  if (rc == -EINVAL)
    return zr_seterr(rc, "'%s' is not a duration (use a whole number and a unit: 250ms, 30s, 5m, 2h)",
                     clip(text, cb));
  if (rc == -ERANGE) return zr_seterr(rc, "'%s' is too long a duration", clip(text, cb));
  return 0;
}

int zr_config_parse_size(const char *text, int64_t *bytes) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", NULL};
  static const int64_t factors[] = {1, KIB(1), KIB(1) << 10, GIB(1), GIB(1) << 10};
  char cb[64];
  int rc = parse_scaled(text, units, factors, true, bytes);
  if (rc == -EINVAL)
    return zr_seterr(rc, "'%s' is not a size (use bytes or a whole number and a unit: 64KiB, 256MiB, 1GiB)",
                     clip(text, cb));
  if (rc == -ERANGE) return zr_seterr(rc, "'%s' is too large a size", clip(text, cb));
  return 0;
}

/* ---- canonical text ----------------------------------------------------------------------- */

static void fmt_duration(int64_t ms, char *buf, size_t len) {
  if (ms != 0 && ms % HOUR(1) == 0) snprintf(buf, len, "%lldh", (long long)(ms / HOUR(1)));
  else if (ms != 0 && ms % MIN(1) == 0) snprintf(buf, len, "%lldm", (long long)(ms / MIN(1)));
  else if (ms != 0 && ms % SEC(1) == 0) snprintf(buf, len, "%llds", (long long)(ms / SEC(1)));
  else snprintf(buf, len, "%lldms", (long long)ms);
}

static void fmt_size(int64_t b, char *buf, size_t len) {
  static const char *const units[] = {"TiB", "GiB", "MiB", "KiB"};
  for (int i = 0; i < 4 && b != 0; i++) {
    int64_t f = KIB(1) << (10 * (3 - i));
    if (b % f == 0) {
      snprintf(buf, len, "%lld%s", (long long)(b / f), units[i]);
      return;
    }
  }
  snprintf(buf, len, "%lld", (long long)b);
}

/* The shortest text that reads back as the same double. */
static void fmt_double(double d, char *buf, size_t len) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, len, "%.*g", prec, d);
    if (strtod(buf, NULL) == d) return;
  }
}

/* A number of key k's kind (T_INT, T_DURATION, T_SIZE) as canonical text. */
static void fmt_number(const key_def *k, int64_t v, char *buf, size_t len) {
  if (k->type == T_DURATION) fmt_duration(v, buf, len);
  else if (k->type == T_SIZE) fmt_size(v, buf, len);
  else snprintf(buf, len, "%lld", (long long)v);
}

/* Canonical text of a non-string value. */
static void fmt_scalar(const key_def *k, value v, char *buf, size_t len) {
  switch (k->type) {
  case T_DOUBLE: fmt_double(v.d, buf, len); break;
  case T_BOOL: snprintf(buf, len, "%s", v.b ? "true" : "false"); break;
  case T_ENUM: snprintf(buf, len, "%s", k->names[v.e]); break;
  case T_INT:
  case T_DURATION:
  case T_SIZE: fmt_number(k, v.i, buf, len); break;
  case T_STRING: ZR_ASSERT(!"fmt_scalar on a string");
  }
}

/* ---- typed values -------------------------------------------------------------------------- */

static int check_string(const key_def *k, const char *text) {
  char cb[64];
  size_t n = strlen(text);
  if (n == 0 && k->min > 0) return zr_seterr(-EINVAL, "must not be empty");
  if (n < (size_t)k->min)
    return zr_seterr(-EINVAL, "value is %zu bytes long; the minimum is %lld", n, (long long)k->min);
  if (n > (size_t)k->max)
    return zr_seterr(-EINVAL, "value is %zu bytes long; the limit is %lld", n, (long long)k->max);
  switch (k->check) {
  case STR_TEXT: break;
  case STR_IDENT:
    if (strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != n ||
        text[0] == '.')
      return zr_seterr(-EINVAL, "'%s' may only contain letters, digits, '_', '-' and '.' (not first)",
                       clip(text, cb));
    break;
  case STR_ENDPOINT: {
    static const char *const schemes[] = {"tcp://", "ipc://", "inproc://"};
    bool ok = false;
    for (size_t i = 0; i < 3; i++) {
      size_t sl = strlen(schemes[i]);
      if (strncmp(text, schemes[i], sl) == 0 && text[sl] && !strpbrk(text, " \t")) ok = true;
    }
    if (!ok)
      return zr_seterr(-EINVAL, "'%s' is not a ZeroMQ endpoint (tcp://..., ipc://... or inproc://...)",
                       clip(text, cb));
    break;
  }
  case STR_SECRET:
    if (strcmp(text, "***") == 0)
      return zr_seterr(-EINVAL, "'***' is the placeholder a printed configuration shows for a secret; "
                                "write the real value");
    break;
  }
  return 0;
}

/* Parses text as key k's type and checks its range. On success a string value is a fresh copy
 * that the caller stores or frees. Errors carry only the reason ("70000 is out of range
 * 1..65535"); the caller adds where. */
static int parse_value(const key_def *k, const char *text, value *v) {
  char cb[64], lo[32], hi[32];
  for (const char *p = text; *p; p++)
    if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
      return zr_seterr(-EINVAL, "value contains a control character");
  int rc = 0;
  switch (k->type) {
  case T_STRING:
    if ((rc = check_string(k, text)) < 0) return rc;
    if (!(v->s = strdup(text))) return zr_seterr(-ENOMEM, "out of memory");
    return 0;
  case T_BOOL: return zr_config_parse_bool(text, &v->b);
  case T_ENUM: {
    char list[256] = "";
    for (int i = 0; k->names[i]; i++) {
      if (strcmp(k->names[i], text) == 0) return v->e = i, 0;
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", k->names[i]);
    }
    return zr_seterr(-EINVAL, "'%s' is not one of %s", clip(text, cb), list);
  }
  case T_DOUBLE:
    rc = zr_config_parse_double(text, &v->d);
    if (rc == -EINVAL) return rc;
    if (rc == -ERANGE || v->d < k->dmin || v->d > k->dmax) {
      fmt_double(k->dmin, lo, sizeof lo);
      fmt_double(k->dmax, hi, sizeof hi);
      return zr_seterr(-ERANGE, "%s is out of range %s..%s", clip(text, cb), lo, hi);
    }
    return 0;
  case T_INT: rc = zr_config_parse_int(text, &v->i); break;
  case T_DURATION: rc = zr_config_parse_duration(text, &v->i); break;
  case T_SIZE: rc = zr_config_parse_size(text, &v->i); break;
  }
  if (rc == -EINVAL) return rc;
  if (rc == -ERANGE || v->i < k->min || v->i > k->max) {
    fmt_number(k, k->min, lo, sizeof lo);
    fmt_number(k, k->max, hi, sizeof hi);
    return zr_seterr(-ERANGE, "%s is out of range %s..%s", clip(text, cb), lo, hi);
  }
  return 0;
}

static void *field(const zr_config *c, const key_def *k) { return (char *)c + k->offset; }

static value fetch(const zr_config *c, const key_def *k) {
  value v = {0};
  void *f = field(c, k);
  switch (k->type) {
  case T_STRING: v.s = *(char **)f; break;
  case T_DOUBLE: v.d = *(double *)f; break;
  case T_BOOL: v.b = *(bool *)f; break;
  case T_ENUM: v.e = *(int *)f; break;
  case T_INT:
  case T_DURATION:
  case T_SIZE: v.i = *(int64_t *)f; break;
  }
  return v;
}

/* Stores v in c's field, taking ownership of a string (and freeing the one it replaces). */
static void store(zr_config *c, const key_def *k, value v) {
  void *f = field(c, k);
  switch (k->type) {
  case T_STRING:
    free(*(char **)f);
    *(char **)f = v.s;
    break;
  case T_DOUBLE: *(double *)f = v.d; break;
  case T_BOOL: *(bool *)f = v.b; break;
  case T_ENUM: *(int *)f = v.e; break;
  case T_INT:
  case T_DURATION:
  case T_SIZE: *(int64_t *)f = v.i; break;
  }
}

static bool is_default(const zr_config *c, const key_def *k) {
  value cur = fetch(c, k), def;
  if (k->type == T_STRING) return strcmp(cur.s, k->def) == 0;
  int rc = parse_value(k, k->def, &def);
  ZR_ASSERT(rc == 0);
  switch (k->type) {
  case T_DOUBLE: return cur.d == def.d;
  case T_BOOL: return cur.b == def.b;
  case T_ENUM: return cur.e == def.e;
  default: return cur.i == def.i;
  }
}

/* ---- life cycle ---------------------------------------------------------------------------- */

int zr_config_init_defaults(zr_config *c) {
  memset(c, 0, sizeof *c);
  if (!(c->origins = calloc(NKEYS, sizeof *c->origins))) return zr_seterr(-ENOMEM, "config: out of memory");
  for (size_t i = 0; i < NKEYS; i++) {
    value v;
    int rc = parse_value(&keys[i], keys[i].def, &v);
    if (rc == -ENOMEM) {
      zr_config_release(c);
      return zr_seterr(rc, "config: out of memory");
    }
    if (rc < 0) { /* a default its own key refuses: a bug in the table */
      fprintf(stderr, "zerorl: bad default for [%s] %s: %s\n", keys[i].section, keys[i].key, zr_errmsg());
      abort();
    }
    store(c, &keys[i], v);
  }
  return 0;
}

void zr_config_release(zr_config *c) {
  for (size_t i = 0; i < NKEYS; i++)
    if (keys[i].type == T_STRING) free(*(char **)field(c, &keys[i]));
  if (c->origins)
    for (size_t i = 0; i < NKEYS; i++) free(c->origins[i]);
  free(c->origins);
  memset(c, 0, sizeof *c);
}

/* A deep copy, so that a load can fail without touching the caller's config. */
static int copy_config(zr_config *dst, const zr_config *src) {
  memset(dst, 0, sizeof *dst);
  if (!(dst->origins = calloc(NKEYS, sizeof *dst->origins))) goto oom;
  for (size_t i = 0; i < NKEYS; i++) {
    value v = fetch(src, &keys[i]);
    if (keys[i].type == T_STRING && !(v.s = strdup(v.s))) goto oom;
    store(dst, &keys[i], v);
    if (src->origins[i] && !(dst->origins[i] = strdup(src->origins[i]))) goto oom;
  }
  return 0;
oom:
  zr_config_release(dst);
  return zr_seterr(-ENOMEM, "config: out of memory");
}

static int set_origin(zr_config *c, size_t row, const char *origin) {
  char *copy = strdup(origin);
  if (!copy) return zr_seterr(-ENOMEM, "config: out of memory");
  free(c->origins[row]);
  c->origins[row] = copy;
  return 0;
}

/* ---- reading a file into the table (syntax: common/ini.c) -------------------------------- */

typedef struct {
  zr_config *c;
  const char *name; /* file name for messages */
  int section;      /* index into sections[], -1 before the first header */
  int seen[NKEYS];  /* line on which each key was set in this file; 0 = not yet */
} reader;

/* Prefixes the reason in zr_errmsg() with where it happened. */
static int wrap(int rc, const char *where, const char *section, const char *key) {
  char why[512], sb[64], kb[64];
  snprintf(why, sizeof why, "%s", zr_errmsg());
  return zr_seterr(rc, "%s: [%s] %s: %s", where, clip(section, sb), clip(key, kb), why);
}

static int on_ini_line(void *user, int line, const char *section_name, const char *key, const char *text) {
  reader *rd = user;
  char where[1024], sb[64], kb[64];
  snprintf(where, sizeof where, "%s:%d", rd->name, line);
  if (!key) {
    if ((rd->section = find_section(section_name)) < 0)
      return zr_seterr(-EINVAL, "%s: [%s]: unknown section", where, clip(section_name, sb));
    return 0;
  }
  if (rd->section < 0)
    return zr_seterr(-EINVAL, "%s: %s: key outside any section (add a [section] header above it)", where,
                     clip(key, kb));
  const char *section = sections[rd->section].name;
  int row = find_key(section, key);
  if (row < 0) return zr_seterr(-EINVAL, "%s: [%s] %s: unknown key", where, section, clip(key, kb));
  if (rd->seen[row])
    return zr_seterr(-EINVAL, "%s: [%s] %s: duplicate key (first set on line %d)", where, section, key,
                     rd->seen[row]);
  value v = {0};
  int rc = parse_value(&keys[row], text, &v);
  if (rc < 0) return wrap(rc, where, section, key);
  store(rd->c, &keys[row], v);
  rd->seen[row] = line;
  return set_origin(rd->c, (size_t)row, where);
}

/* Reads text (len bytes) into c, stopping at the first error. */
static int read_text(zr_config *c, const char *text, size_t len, const char *name) {
  reader rd = {.c = c, .name = name, .section = -1};
  return zr_ini_parse(text, len, name, on_ini_line, &rd);
}

static int load(zr_config *c, const char *text, size_t len, const char *name) {
  zr_config tmp;
  ZR_ASSERT(c->origins != NULL); /* zr_config_init_defaults first */
  int rc = copy_config(&tmp, c);
  if (rc < 0) return rc;
  if ((rc = read_text(&tmp, text, len, name)) < 0) {
    zr_config_release(&tmp);
    return rc;
  }
  zr_config_release(c);
  *c = tmp;
  return 0;
}

int zr_config_load_string(zr_config *c, const char *text, const char *name) {
  return load(c, text, strlen(text), name ? name : "<string>");
}

int zr_config_load_file(zr_config *c, const char *path) {
  enum { LIMIT = 1 << 20 };
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    return zr_seterr(-e, "%s: cannot open: %s", path, strerror(e));
  }
  char *buf = malloc(LIMIT + 1);
  if (!buf) {
    fclose(f);
    return zr_seterr(-ENOMEM, "config: out of memory");
  }
  errno = 0;
  size_t n = fread(buf, 1, LIMIT + 1, f);
  int rc = 0, e = errno;
  if (ferror(f)) rc = zr_seterr(-(e ? e : EIO), "%s: cannot read: %s", path, strerror(e ? e : EIO));
  else if (n > LIMIT) rc = zr_seterr(-EFBIG, "%s: larger than 1 MiB; not a configuration file", path);
  fclose(f);
  if (rc == 0) rc = load(c, buf, n, path);
  free(buf);
  return rc;
}

/* ---- overrides ----------------------------------------------------------------------------- */

int zr_config_set(zr_config *c, const char *assignment, const char *origin) {
  char ab[64], sb[64], kb[64], where[200];
  origin = origin ? origin : "--set";
  ZR_ASSERT(c->origins != NULL);
  char *copy = strdup(assignment);
  if (!copy) return zr_seterr(-ENOMEM, "config: out of memory");
  int rc = 0;
  char *eq = strchr(copy, '=');
  char *dot = eq ? memchr(copy, '.', (size_t)(eq - copy)) : NULL;
  if (!eq || !dot) {
    rc = zr_seterr(-EINVAL, "%s %s: expected section.key=value", origin, clip(assignment, ab));
    goto out;
  }
  *eq = *dot = '\0';
  char *section = zr_ini_trim(copy), *key = zr_ini_trim(dot + 1), *text = zr_ini_trim(eq + 1);
  int sec = find_section(section), row = sec < 0 ? -1 : find_key(section, key);
  /* Unknown names are shown without their value: it may be a mistyped password. */
  if (sec < 0) {
    rc = zr_seterr(-EINVAL, "%s %s.%s: [%s]: unknown section", origin, clip(section, sb), clip(key, kb),
                   clip(section, ab));
    goto out;
  }
  if (row < 0) {
    rc = zr_seterr(-EINVAL, "%s %s.%s: [%s] %s: unknown key", origin, section, clip(key, kb), section,
                   clip(key, ab));
    goto out;
  }
  const key_def *k = &keys[row];
  snprintf(where, sizeof where, "%s %s.%s=%s", origin, k->section, k->key,
           k->check == STR_SECRET && k->type == T_STRING ? "***" : clip(text, ab));
  value v;
  if ((rc = parse_value(k, text, &v)) < 0) {
    rc = wrap(rc, where, k->section, k->key);
    goto out;
  }
  if ((rc = set_origin(c, (size_t)row, origin)) < 0) {
    if (k->type == T_STRING) free(v.s);
    goto out;
  }
  store(c, k, v);
out:
  free(copy);
  return rc;
}

/* ---- cross-key rules ----------------------------------------------------------------------- */

/* "job.ini:7: " when the key was set somewhere, "" for a default. */
static const char *origin_prefix(const zr_config *c, const key_def *k, char *buf, size_t len) {
  const char *o = c->origins ? c->origins[k - keys] : NULL;
  snprintf(buf, len, "%s%s", o ? o : "", o ? ": " : "");
  return buf;
}

/* " (job.ini:6)" or " (default)". */
static const char *origin_note(const zr_config *c, const key_def *k, char *buf, size_t len) {
  const char *o = c->origins ? c->origins[k - keys] : NULL;
  snprintf(buf, len, " (%s)", o ? o : "default");
  return buf;
}

/* a must be greater than b (or at least b when !strict); both numbers of the same kind. */
static int check_order(const zr_config *c, const char *section, const char *ka, const char *kb,
                       bool strict) {
  const key_def *a = must_find(section, ka), *b = must_find(section, kb);
  int64_t va = fetch(c, a).i, vb = fetch(c, b).i;
  if (strict ? va > vb : va >= vb) return 0;
  char ta[32], tb[32], pre[300], note[300];
  fmt_number(a, va, ta, sizeof ta);
  fmt_number(b, vb, tb, sizeof tb);
  return zr_seterr(-EINVAL, "%s[%s] %s: %s must be %s [%s] %s = %s%s", origin_prefix(c, a, pre, sizeof pre),
                   section, ka, ta, strict ? "greater than" : "at least", section, kb, tb,
                   origin_note(c, b, note, sizeof note));
}

static int check_security(const zr_config *c) {
  static const char *const names[] = {"curve_secret_key_file", "curve_public_key_file",
                                      "curve_server_public_key_file", "allowed_clients_file"};
  char set[200] = "", missing[200] = "", pre[300] = "";
  int nset = 0;
  for (int i = 0; i < 4; i++) {
    const key_def *k = must_find("security", names[i]);
    bool on = fetch(c, k).s[0] != '\0';
    char *list = on ? set : missing;
    snprintf(list + strlen(list), 200 - strlen(list), "%s%s", *list ? ", " : "", names[i]);
    if (on && nset++ == 0) origin_prefix(c, k, pre, sizeof pre);
  }
  if (nset == 0 || nset == 4) return 0;
  return zr_seterr(-EINVAL, "%s[security] %s: not set, but %s %s (CURVE needs all four [security] keys, or none)",
                   pre, missing, set, nset == 1 ? "is" : "are");
}

int zr_config_validate(const zr_config *c) {
  char pre[300], note[300];
  int rc;
  if ((rc = check_order(c, "redis", "heartbeat_ttl", "heartbeat_interval", true)) < 0) return rc;
  if ((rc = check_order(c, "redis", "backoff_max", "backoff_min", false)) < 0) return rc;
  if ((rc = check_order(c, "net", "reconnect_ivl_max", "reconnect_ivl", false)) < 0) return rc;
  if ((rc = check_order(c, "actor", "sim_tokens_max", "sim_tokens_mean", false)) < 0) return rc;
  if (!c->redis.host[0] && !c->redis.socket[0])
    return zr_seterr(-EINVAL, "%s[redis] host: empty, and [redis] socket is not set either (set one)",
                     origin_prefix(c, must_find("redis", "host"), pre, sizeof pre));
  if (c->redis.user[0] && !c->redis.password[0])
    return zr_seterr(-EINVAL, "%s[redis] user: set, but [redis] password is empty (AUTH needs both)",
                     origin_prefix(c, must_find("redis", "user"), pre, sizeof pre));
  if (c->learner.rank >= c->learner.world_size)
    return zr_seterr(-EINVAL, "%s[learner] rank: %lld is not below [learner] world_size %lld",
                     origin_prefix(c, must_find("learner", "rank"), pre, sizeof pre), (long long)c->learner.rank,
                     (long long)c->learner.world_size);
  static const char *const endpoints[] = {"learner_tasks", "learner_weights", "learner_announce"};
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < i; j++) {
      const key_def *a = must_find("net", endpoints[i]), *b = must_find("net", endpoints[j]);
      if (strcmp(fetch(c, a).s, fetch(c, b).s) == 0)
        return zr_seterr(-EINVAL, "%s[net] %s: same endpoint as [net] %s%s; each needs its own",
                         origin_prefix(c, a, pre, sizeof pre), endpoints[i], endpoints[j],
                         origin_note(c, b, note, sizeof note));
    }
  return check_security(c);
}

/* ---- output -------------------------------------------------------------------------------- */

static void print_quoted(const char *s, FILE *out) {
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

void zr_config_print(const zr_config *c, FILE *out) {
  char buf[64];
  fprintf(out, "# zerorl configuration: every effective value. \"# changed\" marks a value that\n"
               "# differs from the default; secrets are shown as \"***\".\n");
  for (size_t s = 0; s < NSECTIONS; s++) {
    bool header = false;
    for (size_t i = 0; i < NKEYS; i++) {
      const key_def *k = &keys[i];
      if (strcmp(k->section, sections[s].name) != 0) continue;
      if (!header) fprintf(out, "\n[%s]\n", k->section);
      header = true;
      value v = fetch(c, k);
      bool secret = k->type == T_STRING && k->check == STR_SECRET && v.s[0];
      fprintf(out, "%s = ", k->key);
      if (k->type == T_STRING) print_quoted(secret ? "***" : v.s, out);
      else {
        fmt_scalar(k, v, buf, sizeof buf);
        fputs(buf, out);
      }
      if (secret) fputs("  # changed (secret, not shown)", out);
      else if (!is_default(c, k)) {
        fputs("  # changed (default ", out);
        if (k->type == T_STRING) print_quoted(k->def, out);
        else fputs(k->def, out);
        fputc(')', out);
      }
      fputc('\n', out);
    }
  }
}

int zr_config_get_text(const zr_config *c, const char *name, char *buf, size_t len) {
  char nb[64], sec[64];
  const char *dot = strchr(name, '.');
  int row = -1;
  if (dot && (size_t)(dot - name) < sizeof sec) {
    memcpy(sec, name, (size_t)(dot - name));
    sec[dot - name] = '\0';
    row = find_key(sec, dot + 1);
  }
  if (row < 0) return zr_seterr(-ENOENT, "%s: unknown configuration key", clip(name, nb));
  const key_def *k = &keys[row];
  char scalar[64];
  const char *text = scalar;
  if (k->type == T_STRING) text = fetch(c, k).s;
  else fmt_scalar(k, fetch(c, k), scalar, sizeof scalar);
  if (len == 0) return -ENOSPC;
  size_t n = strlen(text);
  size_t m = n < len ? n : len - 1;
  memcpy(buf, text, m);
  buf[m] = '\0';
  return n < len ? 0 : zr_seterr(-ENOSPC, "%s: value is %zu bytes; the buffer holds %zu", name, n, len - 1);
}

/* ---- docs/config.md ------------------------------------------------------------------------ */

/* Text for a Markdown table cell: '|' escaped. */
static void md_cell(const char *s, FILE *out) {
  for (; *s; s++) {
    if (*s == '|') fputc('\\', out);
    fputc(*s, out);
  }
}

static const char *type_name(key_type t) {
  static const char *const names[] = {"string", "int", "double", "bool", "enum", "duration", "size"};
  return names[t];
}

static void md_allowed(const key_def *k, FILE *out) {
  char lo[32], hi[32];
  switch (k->type) {
  case T_STRING:
    switch (k->check) {
    case STR_TEXT: break;
    case STR_IDENT: fputs("letters, digits, `_`, `-`, `.` (not first); ", out); break;
    case STR_ENDPOINT: fputs("`tcp://`, `ipc://` or `inproc://` endpoint; ", out); break;
    case STR_SECRET: fputs("secret, printed as `***`; ", out); break;
    }
    if (k->min > 0) fprintf(out, "%lld..%lld bytes", (long long)k->min, (long long)k->max);
    else fprintf(out, "at most %lld bytes", (long long)k->max);
    return;
  case T_BOOL: fputs("`true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`", out); return;
  case T_ENUM:
    for (int i = 0; k->names[i]; i++) fprintf(out, "%s`%s`", i ? ", " : "", k->names[i]);
    return;
  case T_DOUBLE:
    fmt_double(k->dmin, lo, sizeof lo);
    fmt_double(k->dmax, hi, sizeof hi);
    break;
  case T_INT:
  case T_DURATION:
  case T_SIZE:
    fmt_number(k, k->min, lo, sizeof lo);
    fmt_number(k, k->max, hi, sizeof hi);
    break;
  }
  fprintf(out, "%s..%s", lo, hi);
}

void zr_config_write_docs(FILE *out) {
  fputs("# Configuration reference\n"
        "\n"
        "This file is generated by `zerorl config docs` from the key table in `common/config.c`,\n"
        "and `tests/unit/test_config.c` checks that it is current: do not edit it by hand. To change a\n"
        "key, edit the table and regenerate this file.\n"
        "\n"
        "A job is configured by one INI file, and every key can be overridden on the command line with\n"
        "`--set section.key=value` (applied after the file, in order; surrounding whitespace is trimmed,\n"
        "and the value is otherwise taken verbatim: no quoting, no comments).\n"
        "\n"
        "## Syntax\n"
        "\n"
        "- `[section]` starts a section; `key = value` sets a key in it. Names are lower case and\n"
        "  case-sensitive. A key may appear once per file; a later file or `--set` overrides it.\n"
        "- Lines starting with `#` or `;` are comments. A `#` or `;` at the start of a value or after\n"
        "  whitespace ends an unquoted value.\n"
        "- Surrounding whitespace is trimmed. Write a value in double quotes to keep spaces, `#` or `;`;\n"
        "  inside quotes, `\\\"` is a quote and `\\\\` a backslash. Control characters other than tab\n"
        "  are refused.\n"
        "- Types: *int* and *double* are plain decimal numbers (no `nan`, `inf` or hex); *bool* is\n"
        "  `true`/`false`, `yes`/`no`, `on`/`off` or `1`/`0`; *duration* is a whole number and a unit,\n"
        "  `ms`, `s`, `m` or `h` (`250ms`, `30s`, `5m`, `2h`; a bare `0` is allowed); *size* is bytes,\n"
        "  or a whole number and `KiB`, `MiB`, `GiB` or `TiB` (`64KiB`, `256MiB`).\n"
        "- An unknown section or key, a value of the wrong type or out of range, a duplicate key and a\n"
        "  malformed line are errors that name the file, line, section and key, for example\n"
        "  `job.ini:7: [redis] port: 70000 is out of range 1..65535`.\n"
        "\n"
        "## Rules across keys\n"
        "\n"
        "- `[redis] heartbeat_ttl` must be greater than `[redis] heartbeat_interval`.\n"
        "- `[redis] backoff_max` must be at least `[redis] backoff_min`, and `[net] reconnect_ivl_max`\n"
        "  at least `[net] reconnect_ivl`.\n"
        "- `[redis] host` may be empty only when `[redis] socket` is set; `[redis] user` needs\n"
        "  `[redis] password`.\n"
        "- `[net] learner_tasks`, `learner_weights` and `learner_announce` must differ.\n"
        "- The four `[security]` keys are set together (CURVE on) or not at all (CURVE off).\n",
        out);
  for (size_t s = 0; s < NSECTIONS; s++) {
    fprintf(out, "\n## [%s]\n\n%s\n\n", sections[s].name, sections[s].about);
    bool any = false;
    for (size_t i = 0; i < NKEYS; i++) {
      const key_def *k = &keys[i];
      if (strcmp(k->section, sections[s].name) != 0) continue;
      if (!any) fputs("| key | type | default | allowed | description |\n| --- | --- | --- | --- | --- |\n", out);
      any = true;
      fprintf(out, "| `%s` | %s | `", k->key, type_name(k->type));
      if (k->type == T_STRING) fputc('"', out);
      md_cell(k->def, out);
      if (k->type == T_STRING) fputc('"', out);
      fputs("` | ", out);
      md_allowed(k, out);
      fputs(" | ", out);
      md_cell(k->help, out);
      fputs(" |\n", out);
    }
    if (!any) fputs("No keys yet: the section is accepted, and any key in it is an unknown key.\n", out);
  }
}
