/* config.h: the job configuration file.
 *
 * A job is configured by one INI-style file with sections ([job] [model] [data] [algo] [actor]
 * [reward] [learner] [redis] [net] [security]); every key can be overridden on the command line
 * as `--set section.key=value`. This module owns the syntax, the key table (section, key, type,
 * default, allowed range, one-line help), parsing and validation of values, cross-key rules, the
 * effective-config printout and the generated reference docs/config.md.
 *
 * Who owns what: config.c holds the one static key table; a module that needs a setting adds a
 * row there and a field here, in its section's struct (docs/config.md is regenerated from the
 * table and a unit test checks it is current). The caller owns the zr_config value: it calls
 * zr_config_init_defaults, then zr_config_load_file, then zr_config_set for each --set, then
 * zr_config_validate, and finally zr_config_release, which frees every string. Strings in the
 * struct are owned by it; read them, never free or replace them directly.
 *
 * Syntax: `[section]` headers; `key = value` lines; comments are lines starting with `#` or `;`,
 * and a `#` or `;` preceded by whitespace ends an unquoted value. A value may be written in
 * double quotes (to keep `#`, `;` or surrounding spaces; the escapes are \" and \\); otherwise it
 * is the text with surrounding whitespace trimmed. Control characters other than tab are refused. Value types: string, int, double, bool
 * (true/false, yes/no, on/off, 1/0), enum, duration ("250ms", "30s", "5m", "2h"; stored as
 * milliseconds) and size ("4096", "64KiB", "256MiB", "1GiB"; stored as bytes).
 *
 * Errors: every function returns 0 or a negative errno-style code and leaves a message in
 * zr_errmsg() formatted `FILE:LINE: [section] key: reason` (for example
 * `job.ini:7: [redis] port: 70000 is out of range 1..65535`), or `--set redis.port=x: [redis]
 * port: ...` for overrides. Loading stops at the first error and leaves the config unchanged. */
#ifndef ZR_CONFIG_H
#define ZR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Every setting, by section. Durations are milliseconds (fields end in _ms), sizes are bytes.
 * An empty string means "not set" where the key's help says so. */
typedef struct zr_config {
  struct {
    char *id;      /* job id; "" = generate one at start */
    char *name;    /* human-readable job name */
    char *run_dir; /* where metrics, checkpoints and logs go */
    int log_level; /* a zr_log_level: ZR_LOG_DEBUG .. ZR_LOG_ERROR */
  } job;
  struct {
    char *path;     /* Hugging Face model directory of the initial policy */
    char *ref_path; /* reference model for KL; "" = the initial policy */
    char *optimizer_from; /* checkpoint whose AdamW moments the trainer starts with; "" = fresh */
    char *backend;  /* "cpu" or "cuda" */
    int64_t threads; /* CPU backend threads; 0 = all cores */
    int64_t device;  /* CUDA device of the learner */
    int dtype;       /* GEMM precision on the CUDA backend: index into {f32, bf16} */
  } model;
  struct {
    char *train;    /* tasks JSONL (rl, rejection-sample, eval) or prompt/completion JSONL (sft) */
    char *heldout;  /* tasks JSONL for evaluation; "" = none */
    int template_;  /* zr_template index: r1zero, chatml, raw */
    bool shuffle;
    int64_t seed;
    int64_t epochs; /* passes over the training set; 0 = until total_steps */
    int64_t max_prompt_tokens;
  } data;
  struct {
    int mode;       /* index into {rl, sft, rejection-sample, eval} */
    int advantage;  /* index into {grpo, dr_grpo, rloo, reinforce_pp} */
    int64_t group_size;
    int64_t groups_per_batch;
    int64_t updates_per_batch;
    double temperature;
    double top_p;
    int64_t top_k;
    int64_t max_new_tokens;
    char *stop;     /* comma-separated stop strings */
    double eps_low, eps_high, dual_clip;
    bool gspo;
    int loss_agg;   /* index into {token_mean, seq_mean_token_mean, seq_mean_token_sum_norm} */
    int kl;         /* index into {none, k1, k2, k3} */
    double kl_beta;
    int64_t ref_refresh_steps;
    int64_t max_staleness;
    double is_cap;
    bool dynamic_sampling;
    double reward_accuracy, reward_format; /* weights of the reward components */
    int64_t eval_samples; /* samples per task in eval mode (pass@k, maj@k) */
  } algo;
  struct {
    int64_t slots;      /* sequences decoded together */
    int64_t max_len;    /* prompt + completion tokens per slot */
    int update;         /* index into {finish, inflight} */
    int64_t threads;    /* CPU backend threads; 0 = all cores */
    int64_t lease_margin_ms;
    int64_t weight_deadline_ms;
    int64_t chunk_timeout_ms;
    int64_t max_chunks_in_flight;
    char *relay_listen;       /* "" = not a weight relay (actor/relay.h) */
    char *relay_advertise;    /* "" = relay_listen with this host's name */
    int64_t relay_fanout;
    int64_t ask_interval_ms;
    int engine;               /* index into {model, sim} */
    int sim_tokens_dist;      /* index into {exponential, uniform, fixed} (common/simdist.h) */
    int64_t sim_tokens_mean;  /* engine = sim: completion lengths, tokens */
    int64_t sim_tokens_max;
    double sim_tokens_per_s;  /* engine = sim: per slot */
    int64_t sim_seed;
  } actor;
  struct {
    double lr, beta1, beta2, weight_decay, grad_clip;
    int lr_schedule;    /* index into {constant, linear, cosine} */
    int64_t warmup_steps;
    int64_t total_steps;
    int64_t micro_batch_tokens;
    int64_t checkpoint_every;
    int64_t keep_checkpoints;
    int publish_dtype;  /* index into {f32, bf16} */
    int64_t chunk_bytes;
    int64_t keep_versions;
    int64_t lease_ms;
    int64_t score_deadline_ms;
    int64_t max_task_retries;
    int64_t drain_timeout_ms;
    int64_t seed;
    int64_t probe_every;      /* sft: greedy accuracy on [data] heldout every N steps; 0 = never */
    int64_t probe_tasks;      /* sft: held-out tasks per probe */
    double stop_at_accuracy;  /* sft: end the run once a probe reaches it; 0 = never */
    int64_t world_size;       /* data-parallel learner processes (learner/comm.h) */
    int64_t rank;             /* this process's rank, 0 .. world_size - 1; rank 0 runs the hub */
    int64_t collective_timeout_ms; /* a silent rank / collective fails the group after this */
    char *dist_host;          /* address rank 0 binds and publishes for the other ranks */
  } learner;
  struct {
    int64_t slots;               /* checks a reward worker runs at once */
    int64_t default_deadline_ms; /* budget of a ScoreRequest without deadline_ms */
    double timeout_reward;       /* reward reported with status TIMEOUT */
    int engine;                  /* index into {verifier, sim} */
    int64_t sim_score_time_ms;   /* engine = sim: mean time of a check */
    double sim_correct;          /* engine = sim: probability of reward 1 */
  } reward;
  struct {
    char *host;
    int64_t port;
    char *socket; /* unix socket path; when set it wins over host/port */
    char *user;   /* ACL user; "" = default user */
    char *password; /* "" = no AUTH */
    int64_t db;
    char *prefix; /* key prefix ("zerorl" -> zerorl:job:{id}) */
    int64_t connect_timeout_ms;
    int64_t command_timeout_ms;
    int64_t backoff_min_ms;
    int64_t backoff_max_ms;
    int64_t heartbeat_interval_ms;
    int64_t heartbeat_ttl_ms;
    bool embedded; /* `zerorl run` starts a private redis-server in the run directory */
  } redis;
  struct {
    char *learner_tasks;    /* endpoint the learner binds for tasks and rollouts (ROUTER) */
    char *learner_weights;  /* endpoint the learner binds for weight chunks (ROUTER) */
    char *learner_announce; /* endpoint the learner binds for announcements (PUB) */
    char *learner_host;     /* "tcp://host" actors and reward workers connect to */
    int64_t max_msg_size;   /* ZMQ_MAXMSGSIZE, bytes */
    int64_t sndhwm;
    int64_t rcvhwm;
    int64_t linger_ms;
    int64_t reconnect_ivl_ms;
    int64_t reconnect_ivl_max_ms;
  } net;
  struct {
    char *curve_secret_key_file; /* all four set = CURVE on; none set = off */
    char *curve_public_key_file;
    char *curve_server_public_key_file;
    char *allowed_clients_file;
  } security;
  /* config.c's bookkeeping: where each key's value came from ("job.ini:7", "--set"), by table
   * row; NULL entries are defaults. */
  char **origins;
} zr_config;

/* Fills c with every default (c's previous contents are ignored, not freed). 0 or -ENOMEM. */
int zr_config_init_defaults(zr_config *c);

/* Frees every string; c may be initialised again afterwards. Safe on a zeroed struct. */
void zr_config_release(zr_config *c);

/* Reads an INI file over the current values. On error c is unchanged. */
int zr_config_load_file(zr_config *c, const char *path);

/* The same for text in memory; name is used in messages (NULL = "<string>"). */
int zr_config_load_string(zr_config *c, const char *text, const char *name);

/* Applies one "section.key=value" override (the value is taken verbatim, surrounding whitespace
 * trimmed, no quote or comment processing). origin prefixes messages, e.g. "--set". */
int zr_config_set(zr_config *c, const char *assignment, const char *origin);

/* Cross-key rules (heartbeat_ttl > heartbeat_interval, complete [security], ...). 0 or
 * -EINVAL with a message naming the keys involved. */
int zr_config_validate(const zr_config *c);

/* The effective configuration as an INI file, by section; values that differ from the default
 * are marked with a "# changed" comment; secrets are printed as "***" (and "***" is refused as
 * a secret's value on load, so a printout with a secret in it cannot be loaded by mistake). */
void zr_config_print(const zr_config *c, FILE *out);

/* The value of "section.key" as canonical text (a string verbatim, a duration as "30s", a size
 * as "256MiB", ...), secrets included: do not log them. 0, -ENOENT for an unknown key, or
 * -ENOSPC if buf was too small (buf then holds a truncated, terminated prefix). */
int zr_config_get_text(const zr_config *c, const char *name, char *buf, size_t len);

/* Writes the Markdown reference (docs/config.md): syntax notes and one table per section. */
void zr_config_write_docs(FILE *out);

/* The value parsers behind the typed keys, for other inputs (command-line flags, environment).
 * Each returns 0 or -EINVAL / -ERANGE with a reason in zr_errmsg() ("'12x' is not an
 * integer"); ranges are the caller's to check. */
int zr_config_parse_int(const char *text, int64_t *out);
int zr_config_parse_double(const char *text, double *out); /* finite only */
int zr_config_parse_bool(const char *text, bool *out);
int zr_config_parse_duration(const char *text, int64_t *ms);
int zr_config_parse_size(const char *text, int64_t *bytes);

#endif
