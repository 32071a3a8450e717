/* demo_recipe: the whole tiny-GRPO demo pipeline in one process, every knob on the command line,
 * to search for a recipe before it runs through the real daemons.
 *
 *   model init (random, byte-level vocabulary with the R1 tags as single tokens)
 *   -> cold-start SFT on zr_taskgen_trace traces (R1 format)
 *   -> eval before (held-out greedy exact match and sampled pass@1 at temperature 1)
 *   -> GRPO (zr_engine rollouts, zr_reward_scorer rewards, zr_trainer_rl_step)
 *   -> eval after.
 *
 * Token ids are those of `zerorl model init --byte-vocab --add-tokens
 * '<think>,</think>,<answer>,</answer>'`: byte b = id b (GPT-2 byte alphabet), 256 <|endoftext|>,
 * 257 <|im_start|>, 258 <|im_end|>, 259 <think>, 260 </think>, 261 <answer>, 262 </answer>.
 * Generation stops at </answer> (or <|im_end|>). The encoding/decoding is done here (ASCII tasks),
 * so no tokenizer file is needed.
 *
 * Moments: with --rl-carry 1 (default) the SAME zr_trainer continues from SFT into RL, so the
 * AdamW moments (and betas, weight decay) carry over; the schedule of both stages is computed here
 * and pushed with zr_trainer_set_lr before every step (the trainer's own schedule is constant).
 * With --rl-carry 0 a fresh trainer (fresh moments, --rl-beta2, --rl-wd) runs RL.
 *
 * Run with --help for every option. Prints one line per probe / stage and a final JSON summary. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actor/engine.h"
#include "common/error.h"
#include "learner/algo.h"
#include "learner/taskgen.h"
#include "learner/tasks.h"
#include "learner/trainer.h"
#include "model/backend.h"
#include "model/lr_schedule.h"
#include "model/transformer.h"
#include "reward/rewards.h"

#define VOCAB 263
#define ID_EOT 256
#define ID_IM_END 258
#define ID_THINK 259
static const char *TAGS[4] = {"<think>", "</think>", "<answer>", "</answer>"};
#define ID_ANSWER_END 262

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what, int rc) {
  fprintf(stderr, "demo_recipe: %s: rc %d: %s\n", what, rc, zr_errmsg());
  exit(1);
}
#define CK(call)                   \
  do {                             \
    int rc_ = (call);              \
    if (rc_ < 0) die(#call, rc_);  \
  } while (0)

static void save_ckpt(zr_tf *m, zr_trainer *tr, const char *dir) {
  char sub[4096];
  CK(zr_tf_save(m, dir, ZR_DT_F32, 0));
  snprintf(sub, sizeof sub, "%s/trainer", dir);
  CK(zr_trainer_save_state(tr, sub));
}

/* ---- options ------------------------------------------------------------------------------ */

typedef struct {
  const char *kind;
  int sft_dmin, sft_dmax, rl_dmin, rl_dmax, eval_d;
  int hidden, layers, heads, kv_heads, inter, tie;
  float init_std;
  uint64_t seed;
  int threads;
  /* SFT */
  int sft_steps, sft_batch, sft_warmup;
  double sft_lr, sft_min_ratio, sft_beta1, sft_beta2, sft_wd, sft_clip;
  int sft_tail_steps;      /* extra constant-lr steps after the cosine */
  double sft_tail_lr;
  int sft_probe_every, sft_probe_n;
  int sft_stop_at;         /* stop SFT once greedy probe >= this percent (0 = off) */
  int sft_stop_step;       /* stop SFT after this many steps (the schedule still spans --sft-steps) */
  /* RL */
  int rl_steps, rl_prompts, rl_g, rl_warmup, rl_carry, rl_max_new;
  double rl_temp, rl_lr, rl_min_ratio, rl_beta2, rl_wd, rl_clip;
  const char *rl_sched; /* constant | cosine | linear */
  const char *kl, *agg, *adv;
  double kl_beta, eps_low, eps_high, w_acc, w_fmt, is_cap;
  int stale, minibatches;
  double rl_time_limit;   /* stop RL after this many seconds (0 = off) */
  int probe_every, probe_n;
  /* eval */
  int eval_n, eval_samples, slots;
  int skip_final_sampled;
  const char *save_sft, *load_sft; /* checkpoint DIR (weights + trainer state in DIR/trainer) */
  int sft_save_every;              /* also save DIR/step-N every N SFT steps */
} opts;

static void defaults(opts *o) {
  memset(o, 0, sizeof *o);
  o->kind = "arith";
  o->sft_dmin = o->sft_dmax = 5;
  o->rl_dmin = o->rl_dmax = 5;
  o->eval_d = 5;
  o->hidden = 128, o->layers = 4, o->heads = 4, o->kv_heads = 0, o->inter = 352, o->tie = 1;
  o->init_std = 0.02f;
  o->seed = 1;
  o->threads = 2;
  o->sft_steps = 400, o->sft_batch = 64, o->sft_warmup = 30;
  o->sft_lr = 2e-3, o->sft_min_ratio = 0.1, o->sft_beta1 = 0.9, o->sft_beta2 = 0.95, o->sft_wd = 0.1;
  o->sft_clip = 1.0;
  o->sft_tail_lr = 0;
  o->sft_probe_every = 0, o->sft_probe_n = 200;
  o->rl_steps = 200, o->rl_prompts = 32, o->rl_g = 8, o->rl_warmup = 5, o->rl_carry = 1, o->rl_max_new = 0;
  o->rl_temp = 1.0, o->rl_lr = 3e-5, o->rl_min_ratio = 1.0, o->rl_beta2 = 0.99, o->rl_wd = 0.0, o->rl_clip = 1.0;
  o->rl_sched = "constant";
  o->kl = "none", o->agg = "token_mean", o->adv = "grpo";
  o->kl_beta = 0.0, o->eps_low = 0.2, o->eps_high = 0.2, o->w_acc = 1.0, o->w_fmt = 0.1, o->is_cap = 0;
  o->stale = 0, o->minibatches = 1;
  o->probe_every = 20, o->probe_n = 200;
  o->eval_n = 500, o->eval_samples = 1, o->slots = 256;
}

static void parse_range(const char *v, int *lo, int *hi) {
  char *e;
  *lo = (int)strtol(v, &e, 10);
  *hi = *e == '-' ? (int)strtol(e + 1, NULL, 10) : *lo;
}

static void usage(void) {
  fprintf(stderr,
          "usage: demo_recipe [options]  (defaults: the feasibility note's recipe C)\n"
          " task:  --kind arith|countdown  --sft-digits 5 | 3-5  --rl-digits 5  --eval-digits 5\n"
          " model: --hidden 128 --layers 4 --heads 4 --kv-heads H --inter 352 --tie 1 --init-std 0.02 --seed 1\n"
          "        --threads 2\n"
          " SFT:   --sft-steps 400 --sft-batch 64 --sft-lr 2e-3 --sft-warmup 30 --sft-min-ratio 0.1\n"
          "        --sft-beta1 0.9 --sft-beta2 0.95 --sft-wd 0.1 --sft-clip 1 --sft-tail-steps 0 --sft-tail-lr LR\n"
          "        --sft-probe-every 0 --sft-probe-n 200 --sft-stop-at PCT (stop SFT when greedy probe >= PCT)\n"
          "        --sft-stop-step N (stop after N steps; the cosine still spans --sft-steps)\n"
          " RL:    --rl-steps 200 --rl-prompts 32 --rl-g 8 --rl-temp 1 --rl-lr 3e-5 --rl-warmup 5\n"
          "        --rl-sched constant|cosine|linear --rl-min-ratio 1 --rl-carry 1 (same trainer: SFT moments)\n"
          "        --rl-beta2 0.99 --rl-wd 0 (fresh trainer only) --rl-clip 1 --rl-max-new N\n"
          "        --kl none|k1|k2|k3 --kl-beta 0 --agg token_mean|seq_mean_token_mean|seq_mean_token_sum_norm\n"
          "        --adv grpo|dr_grpo|rloo|reinforce_pp --eps-low 0.2 --eps-high 0.2 --is-cap 0\n"
          "        --w-acc 1 --w-fmt 0.1 --stale 0|1 (rollouts from the policy one update behind)\n"
          "        --minibatches 1 --rl-time-limit SEC --probe-every 20 --probe-n 200\n"
          " eval:  --eval-n 500 --eval-samples 1 --slots 256 --skip-final-sampled 0\n"
          " ckpt:  --save-sft DIR (after SFT) --sft-save-every N (DIR/step-N) --load-sft DIR (skip SFT; the\n"
          "        SFT flags beta1/beta2/wd must match the run that saved it)\n");
}

static void parse_args(int argc, char **argv, opts *o) {
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i];
    if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
      usage();
      exit(0);
    }
    if (i + 1 >= argc) {
      usage();
      exit(2);
    }
    const char *v = argv[++i];
#define I(name, field) else if (!strcmp(k, name)) o->field = atoi(v);
#define D(name, field) else if (!strcmp(k, name)) o->field = atof(v);
#define S(name, field) else if (!strcmp(k, name)) o->field = v;
    if (0) {
    }
    S("--kind", kind)
    else if (!strcmp(k, "--sft-digits")) parse_range(v, &o->sft_dmin, &o->sft_dmax);
    else if (!strcmp(k, "--rl-digits")) parse_range(v, &o->rl_dmin, &o->rl_dmax);
    I("--eval-digits", eval_d) I("--hidden", hidden) I("--layers", layers) I("--heads", heads)
    I("--kv-heads", kv_heads) I("--inter", inter) I("--tie", tie) D("--init-std", init_std)
    else if (!strcmp(k, "--seed")) o->seed = strtoull(v, NULL, 10);
    I("--threads", threads) I("--sft-steps", sft_steps) I("--sft-batch", sft_batch) I("--sft-warmup", sft_warmup)
    D("--sft-lr", sft_lr) D("--sft-min-ratio", sft_min_ratio) D("--sft-beta1", sft_beta1) D("--sft-beta2", sft_beta2)
    D("--sft-wd", sft_wd) D("--sft-clip", sft_clip) I("--sft-tail-steps", sft_tail_steps) D("--sft-tail-lr", sft_tail_lr)
    I("--sft-probe-every", sft_probe_every) I("--sft-probe-n", sft_probe_n) I("--sft-stop-at", sft_stop_at) I("--sft-stop-step", sft_stop_step)
    I("--rl-steps", rl_steps) I("--rl-prompts", rl_prompts) I("--rl-g", rl_g) I("--rl-warmup", rl_warmup)
    I("--rl-carry", rl_carry) I("--rl-max-new", rl_max_new) D("--rl-temp", rl_temp) D("--rl-lr", rl_lr)
    D("--rl-min-ratio", rl_min_ratio) D("--rl-beta2", rl_beta2) D("--rl-wd", rl_wd) D("--rl-clip", rl_clip)
    S("--rl-sched", rl_sched) S("--kl", kl) S("--agg", agg) S("--adv", adv) D("--kl-beta", kl_beta)
    D("--eps-low", eps_low) D("--eps-high", eps_high) D("--w-acc", w_acc) D("--w-fmt", w_fmt) D("--is-cap", is_cap)
    I("--stale", stale) I("--minibatches", minibatches) D("--rl-time-limit", rl_time_limit)
    I("--probe-every", probe_every) I("--probe-n", probe_n) I("--eval-n", eval_n) I("--eval-samples", eval_samples)
    I("--slots", slots) I("--skip-final-sampled", skip_final_sampled) S("--save-sft", save_sft)
    S("--load-sft", load_sft) I("--sft-save-every", sft_save_every)
    else {
      fprintf(stderr, "demo_recipe: unknown option %s\n", k);
      usage();
      exit(2);
    }
#undef I
#undef D
#undef S
  }
}

/* ---- tokens ------------------------------------------------------------------------------- */

typedef struct {
  int32_t *v;
  int n, cap;
} ivec;

static void ipush(ivec *a, int32_t x) {
  if (a->n == a->cap) {
    a->cap = a->cap ? 2 * a->cap : 64;
    a->v = realloc(a->v, (size_t)a->cap * sizeof *a->v);
  }
  a->v[a->n++] = x;
}

static void encode(const char *s, ivec *out) {
  out->n = 0;
  while (*s) {
    int hit = 0;
    for (int t = 0; t < 4; t++) {
      size_t l = strlen(TAGS[t]);
      if (!strncmp(s, TAGS[t], l)) {
        ipush(out, ID_THINK + t);
        s += l;
        hit = 1;
        break;
      }
    }
    if (!hit) ipush(out, (unsigned char)*s++);
  }
}

static size_t decode(const int32_t *ids, int n, char *buf, size_t cap) {
  size_t k = 0;
  for (int i = 0; i < n; i++) {
    const char *p = NULL;
    char one[2] = {0, 0};
    if (ids[i] < 256) {
      one[0] = (char)ids[i];
      p = one;
    } else if (ids[i] >= ID_THINK && ids[i] < ID_THINK + 4) {
      p = TAGS[ids[i] - ID_THINK];
    } else {
      continue; /* specials skipped */
    }
    size_t l = strlen(p);
    if (k + l + 1 >= cap) break;
    memcpy(buf + k, p, l);
    k += l;
  }
  buf[k] = 0;
  return k;
}

/* ---- tasks -------------------------------------------------------------------------------- */

static uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/* n train tasks with difficulties uniform in [dmin, dmax], fresh for this (stream, step). */
static zr_taskset *draw_tasks(const opts *o, int n, int dmin, int dmax, uint64_t stream, uint64_t step) {
  zr_taskset *s = NULL;
  CK(zr_taskset_new(&s));
  int nd = dmax - dmin + 1;
  int cnt[64] = {0};
  for (int i = 0; i < n; i++) cnt[(int)(mix(stream * 1000003ull + step * 7919ull + (uint64_t)i) % (uint64_t)nd)]++;
  for (int d = 0; d < nd; d++)
    if (cnt[d]) CK(zr_taskgen(o->kind, (size_t)cnt[d], mix(o->seed * 31 + stream * 1000003ull + step * 131ull + (uint64_t)d),
                              dmin + d, ZR_SPLIT_TRAIN, s));
  return s;
}

/* ---- generation + scoring ------------------------------------------------------------------ */

typedef struct {
  zr_engine *eng;
  zr_reward_scorer *scorer;
  int max_new;
} gen_ctx;

typedef struct {
  int task;      /* index in the taskset */
  int sample;    /* within the group */
  ivec toks;
  double reward;
  int correct, fmt;
} rollout;

static int cmp_rollout(const void *a, const void *b) {
  const rollout *x = a, *y = b;
  if (x->task != y->task) return x->task < y->task ? -1 : 1;
  return x->sample < y->sample ? -1 : x->sample > y->sample;
}

/* Generates g samples of each of the n tasks (temperature temp; 0 = greedy), scores them and
 * returns them ordered by (task, sample) in out[n * g] (caller frees toks). */
static void generate(gen_ctx *c, zr_taskset *ts, int n, int g, double temp, uint64_t seed, rollout *out,
                     uint64_t *ntok) {
  ivec p = {0};
  for (int i = 0; i < n; i++) {
    const zr_task *t = zr_taskset_get(ts, (size_t)i);
    encode(zr_task_prompt_text(t), &p);
    zr_engine_request r;
    memset(&r, 0, sizeof r);
    r.req_id = (uint64_t)i;
    r.prompt = p.v;
    r.prompt_len = p.n;
    r.n_samples = g;
    r.first_sample_index = (uint32_t)(i * g);
    r.sampling.temperature = (float)temp;
    r.sampling.top_p = 1.0f;
    r.max_new_tokens = c->max_new;
    r.seed = seed;
    CK(zr_engine_submit(c->eng, &r));
  }
  free(p.v);
  int got = 0;
  char text[8192];
  while (got < n * g) {
    int rc = zr_engine_step(c->eng);
    if (rc < 0) die("zr_engine_step", rc);
    zr_engine_output eo;
    while (zr_engine_poll(c->eng, &eo) == 1) {
      rollout *r = &out[got++];
      memset(r, 0, sizeof *r);
      r->task = (int)eo.req_id;
      r->sample = (int)(eo.sample_index - (uint32_t)(r->task * g));
      for (int j = 0; j < eo.n_tokens; j++) ipush(&r->toks, eo.tokens[j]);
      if (ntok) *ntok += (uint64_t)eo.n_tokens;
      size_t len = decode(eo.tokens, eo.n_tokens, text, sizeof text);
      zr_reward_task rt;
      zr_task_reward_view(zr_taskset_get(ts, (size_t)r->task), &rt);
      zr_reward_result res;
      CK(zr_reward_score(c->scorer, &rt, text, len, eo.n_tokens, &res));
      r->reward = res.reward;
      r->correct = res.correct == 1;
      for (int k = 0; k < res.n_components; k++)
        if (!strcmp(res.components[k].name, "format")) r->fmt = res.components[k].value > 0.5;
    }
    if (rc == 0 && got < n * g) {
      fprintf(stderr, "demo_recipe: engine idle with %d of %d samples\n", got, n * g);
      exit(1);
    }
  }
  qsort(out, (size_t)(n * g), sizeof *out, cmp_rollout);
}

typedef struct {
  double acc, fmt, secs, tok_s;
} evres;

static evres evaluate(gen_ctx *c, zr_taskset *ts, int n, int g, double temp, uint64_t seed) {
  rollout *r = calloc((size_t)(n * g), sizeof *r);
  uint64_t ntok = 0;
  double t0 = now_s();
  generate(c, ts, n, g, temp, seed, r, &ntok);
  evres e = {0};
  e.secs = now_s() - t0;
  e.tok_s = (double)ntok / e.secs;
  for (int i = 0; i < n * g; i++) {
    e.acc += r[i].correct;
    e.fmt += r[i].fmt;
    free(r[i].toks.v);
  }
  e.acc = 100.0 * e.acc / (n * g);
  e.fmt = 100.0 * e.fmt / (n * g);
  free(r);
  return e;
}

/* ---- main --------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  opts o;
  defaults(&o);
  parse_args(argc, argv, &o);
  for (int i = 0; i < argc; i++) printf("%s%s", argv[i], i + 1 < argc ? " " : "\n");
  double T0 = now_s();

  zr_backend *be = NULL;
  CK(zr_backend_cpu_new(&be, o.threads));

  /* tasks for evaluation (held-out) */
  zr_taskset *heldout = NULL;
  CK(zr_taskset_new(&heldout));
  CK(zr_taskgen(o.kind, (size_t)o.eval_n, 12345, o.eval_d, ZR_SPLIT_HELDOUT, heldout));
  int max_prompt = 0, max_comp = 0;
  {
    ivec tmp = {0};
    zr_taskset *probe = NULL;
    CK(zr_taskset_new(&probe));
    int dm = o.eval_d;
    if (o.rl_dmax > dm) dm = o.rl_dmax;
    if (o.sft_dmax > dm) dm = o.sft_dmax;
    CK(zr_taskgen(o.kind, 200, 777, dm, ZR_SPLIT_TRAIN, probe));
    zr_taskset *sets[2] = {heldout, probe};
    for (int k = 0; k < 2; k++)
      for (size_t i = 0; i < zr_taskset_count(sets[k]); i++) {
        const zr_task *t = zr_taskset_get(sets[k], i);
        encode(zr_task_prompt_text(t), &tmp);
        if (tmp.n > max_prompt) max_prompt = tmp.n;
        char *comp = NULL;
        CK(zr_taskgen_trace(t, &comp));
        encode(comp, &tmp);
        if (tmp.n > max_comp) max_comp = tmp.n;
        free(comp);
      }
    free(tmp.v);
    zr_taskset_free(&probe);
  }
  int max_new = o.rl_max_new ? o.rl_max_new : max_comp + 4;
  int max_len = max_prompt + max_new + 2;

  /* model */
  zr_model_config mc;
  memset(&mc, 0, sizeof mc);
  mc.arch = ZR_ARCH_LLAMA;
  mc.vocab_size = VOCAB;
  mc.hidden_size = o.hidden;
  mc.num_layers = o.layers;
  mc.num_heads = o.heads;
  mc.num_kv_heads = o.kv_heads ? o.kv_heads : o.heads;
  mc.head_dim = o.hidden / o.heads;
  mc.intermediate_size = o.inter;
  mc.max_position_embeddings = 4096;
  mc.rope_theta = 10000.0;
  mc.rope_scaling.kind = ZR_ROPE_DEFAULT;
  mc.rms_norm_eps = 1e-5;
  mc.tie_word_embeddings = o.tie != 0;
  mc.bos_token_id = -1;
  mc.eos_token_ids[0] = ID_IM_END;
  mc.eos_token_ids[1] = ID_EOT;
  mc.n_eos = 2;
  mc.torch_dtype = ZR_DT_F32;
  zr_tf *pol = NULL, *act = NULL, *ref = NULL;
  CK(zr_tf_new(&pol, &mc, be));
  CK(zr_tf_init_random(pol, o.seed, o.init_std));
  size_t nf = zr_tf_n_floats(pol);
  printf("model: %zu params, hidden %d layers %d heads %d inter %d tie %d; max_prompt %d max_new %d\n",
         zr_tf_n_params(pol), o.hidden, o.layers, o.heads, o.inter, o.tie, max_prompt, max_new);

  zr_loss_cfg lc = zr_loss_cfg_defaults();
  lc.eps_low = o.eps_low;
  lc.eps_high = o.eps_high;
  CK(zr_agg_kind_parse(o.agg, &lc.agg));
  CK(zr_kl_kind_parse(o.kl, &lc.kl));
  lc.kl_beta = o.kl_beta;
  lc.is_cap = o.is_cap;
  lc.sum_norm_len = max_new;
  if (lc.kl != ZR_KL_NONE) {
    CK(zr_tf_new(&ref, &mc, be));
  }

  zr_trainer_cfg tc = zr_trainer_cfg_defaults();
  tc.loss = lc;
  CK(zr_adv_kind_parse(o.adv, &tc.adv));
  tc.lr = zr_lr_schedule_make(ZR_LR_CONSTANT, o.sft_lr);
  tc.adamw.beta1 = o.sft_beta1;
  tc.adamw.beta2 = o.sft_beta2;
  tc.adamw.eps = 1e-8;
  tc.adamw.weight_decay = o.sft_wd;
  tc.max_grad_norm = o.sft_clip;
  tc.minibatches = o.minibatches;
  zr_trainer *tr = NULL;
  CK(zr_trainer_new(&tr, pol, ref, &tc));

  zr_reward_config rcfg;
  zr_reward_config_default(&rcfg);
  rcfg.w_accuracy = o.w_acc;
  rcfg.w_format = o.w_fmt;
  zr_reward_scorer *scorer = NULL;
  CK(zr_reward_scorer_new(&rcfg, &scorer));

  int32_t eos[2] = {ID_ANSWER_END, ID_IM_END};
  zr_engine_cfg ec;
  memset(&ec, 0, sizeof ec);
  ec.n_slots = o.slots;
  ec.max_len = max_len;
  ec.eos_ids = eos;
  ec.n_eos = 2;
  ec.vocab_limit = VOCAB;
  gen_ctx gpol = {0};
  gpol.scorer = scorer;
  gpol.max_new = max_new;
  CK(zr_engine_new(&gpol.eng, pol, NULL, &ec));

  /* ---- SFT ---- */
  double t_sft0 = now_s();
  zr_lr_schedule ss = zr_lr_schedule_make(ZR_LR_COSINE, o.sft_lr);
  ss.warmup_steps = o.sft_warmup;
  ss.total_steps = o.sft_steps;
  ss.min_lr_ratio = o.sft_min_ratio;
  CK(zr_lr_schedule_check(&ss));
  int total_sft = o.sft_steps + o.sft_tail_steps;
  uint64_t sft_tok = 0;
  double sft_train_s = 0, sft_probe_s = 0;
  zr_sft_sample *sb = calloc((size_t)o.sft_batch, sizeof *sb);
  ivec *pt = calloc((size_t)o.sft_batch, sizeof *pt), *ct = calloc((size_t)o.sft_batch, sizeof *ct);
  double last_loss = 0;
  int sft_done = 0;
  double c_sft0 = cpu_s();
  if (o.load_sft) {
    char sub[4096];
    CK(zr_tf_load_weights(pol, o.load_sft));
    snprintf(sub, sizeof sub, "%s/trainer", o.load_sft);
    CK(zr_trainer_load_state(tr, sub));
    total_sft = 0;
    printf("loaded SFT checkpoint %s (optimizer step %lld)\n", o.load_sft, (long long)zr_trainer_step_count(tr));
  }
  if (o.sft_stop_step > 0 && o.sft_stop_step < total_sft) total_sft = o.sft_stop_step;
  for (int s = 0; s < total_sft; s++) {
    double lr = s < o.sft_steps ? zr_lr_at(&ss, s) : (o.sft_tail_lr > 0 ? o.sft_tail_lr : o.sft_lr * o.sft_min_ratio);
    CK(zr_trainer_set_lr(tr, lr > 1e-30 ? lr : 1e-30));
    zr_taskset *ts = draw_tasks(&o, o.sft_batch, o.sft_dmin, o.sft_dmax, 1, (uint64_t)s);
    for (int i = 0; i < o.sft_batch; i++) {
      const zr_task *t = zr_taskset_get(ts, (size_t)i);
      encode(zr_task_prompt_text(t), &pt[i]);
      char *comp = NULL;
      CK(zr_taskgen_trace(t, &comp));
      encode(comp, &ct[i]);
      free(comp);
      sb[i].prompt = pt[i].v;
      sb[i].prompt_len = pt[i].n;
      sb[i].completion = ct[i].v;
      sb[i].completion_len = ct[i].n;
      sft_tok += (uint64_t)(pt[i].n + ct[i].n);
    }
    zr_step_metrics m;
    double t0 = now_s();
    CK(zr_trainer_sft_step(tr, sb, o.sft_batch, &m));
    sft_train_s += now_s() - t0;
    last_loss = m.loss;
    zr_taskset_free(&ts);
    sft_done = s + 1;
    if (o.save_sft && o.sft_save_every && (s + 1) % o.sft_save_every == 0) {
      char d[4096];
      snprintf(d, sizeof d, "%s/step-%d", o.save_sft, s + 1);
      save_ckpt(pol, tr, d);
    }
    if (o.sft_probe_every && (s + 1) % o.sft_probe_every == 0) {
      double t1 = now_s();
      evres g = evaluate(&gpol, heldout, o.sft_probe_n < o.eval_n ? o.sft_probe_n : o.eval_n, 1, 0.0, 7);
      sft_probe_s += now_s() - t1;
      printf("sft step %4d lr %.2e loss %.4f  probe greedy %5.1f fmt %5.1f  (%.0f s)\n", s + 1, lr, m.loss, g.acc,
             g.fmt, now_s() - t_sft0);
      fflush(stdout);
      if (o.sft_stop_at > 0 && g.acc >= o.sft_stop_at) break;
    } else if ((s + 1) % 50 == 0) {
      printf("sft step %4d lr %.2e loss %.4f  (%.0f s)\n", s + 1, lr, m.loss, now_s() - t_sft0);
      fflush(stdout);
    }
  }
  double t_sft = now_s() - t_sft0, c_sft = cpu_s() - c_sft0;
  if (o.save_sft && !o.load_sft) save_ckpt(pol, tr, o.save_sft);
  printf("SFT: %d steps in %.1f s (cpu %.1f s; train %.1f s, %.0f tok/s; probes %.1f s), final loss %.4f\n", sft_done,
         t_sft, c_sft, sft_train_s, (double)sft_tok / sft_train_s, sft_probe_s, last_loss);

  /* ---- eval before ---- */
  double t_ev0 = now_s();
  evres gb = evaluate(&gpol, heldout, o.eval_n, 1, 0.0, 7);
  evres sbv = evaluate(&gpol, heldout, o.eval_n, o.eval_samples, 1.0, 99);
  double t_ev_before = now_s() - t_ev0;
  printf("BEFORE RL: greedy %.1f (fmt %.1f)  sampled %.1f (fmt %.1f)  [%.1f s; greedy %.0f tok/s, sampled %.0f tok/s]\n",
         gb.acc, gb.fmt, sbv.acc, sbv.fmt, t_ev_before, gb.tok_s, sbv.tok_s);
  fflush(stdout);

  /* ---- RL ---- */
  if (ref) memcpy(zr_tf_params(ref), zr_tf_params(pol), nf * sizeof(float));
  if (!o.rl_carry) {
    zr_trainer_free(&tr);
    tc.adamw.beta2 = o.rl_beta2;
    tc.adamw.weight_decay = o.rl_wd;
    CK(zr_trainer_new(&tr, pol, ref, &tc));
  }
  gen_ctx gact = gpol;
  if (o.stale) {
    CK(zr_tf_new(&act, &mc, be));
    memcpy(zr_tf_params(act), zr_tf_params(pol), nf * sizeof(float));
    CK(zr_engine_new(&gact.eng, act, NULL, &ec));
  }
  zr_lr_schedule rs = zr_lr_schedule_make(ZR_LR_CONSTANT_WITH_WARMUP, o.rl_lr);
  if (!strcmp(o.rl_sched, "cosine")) rs.kind = ZR_LR_COSINE;
  else if (!strcmp(o.rl_sched, "linear")) rs.kind = ZR_LR_LINEAR;
  rs.warmup_steps = o.rl_warmup;
  rs.total_steps = o.rl_steps;
  rs.min_lr_ratio = o.rl_min_ratio < 1 ? o.rl_min_ratio : 0;
  if (rs.kind == ZR_LR_COSINE && o.rl_min_ratio >= 1) rs.min_lr_ratio = 1;
  CK(zr_lr_schedule_check(&rs));

  int P = o.rl_prompts, G = o.rl_g;
  rollout *ro = calloc((size_t)(P * G), sizeof *ro);
  zr_rl_sample *rsmp = calloc((size_t)(P * G), sizeof *rsmp);
  ivec *rp = calloc((size_t)P, sizeof *rp);
  double c_rl0 = cpu_s();
  double t_rl0 = now_s(), rl_gen_s = 0, rl_train_s = 0, rl_probe_s = 0;
  uint64_t rl_gen_tok = 0, rl_train_tok = 0;
  double acc_sum = 0, kept_sum = 0;
  int acc_n = 0;
  int rl_done = 0;
  for (int s = 0; s < o.rl_steps; s++) {
    if (o.rl_time_limit > 0 && now_s() - t_rl0 > o.rl_time_limit) break;
    zr_taskset *ts = draw_tasks(&o, P, o.rl_dmin, o.rl_dmax, 2, (uint64_t)s);
    double t0 = now_s();
    generate(&gact, ts, P, G, o.rl_temp, 1000 + (uint64_t)s, ro, &rl_gen_tok);
    rl_gen_s += now_s() - t0;
    if (o.stale) memcpy(zr_tf_params(act), zr_tf_params(pol), nf * sizeof(float));
    double acc = 0;
    for (int i = 0; i < P; i++) encode(zr_task_prompt_text(zr_taskset_get(ts, (size_t)i)), &rp[i]);
    int n = 0;
    for (int i = 0; i < P * G; i++) {
      acc += ro[i].correct;
      if (ro[i].toks.n < 1) continue; /* nothing generated: skip (cannot happen with max_new > 0) */
      rsmp[n].prompt = rp[ro[i].task].v;
      rsmp[n].prompt_len = rp[ro[i].task].n;
      rsmp[n].completion = ro[i].toks.v;
      rsmp[n].completion_len = ro[i].toks.n;
      rsmp[n].behav_logp = NULL;
      rsmp[n].reward = ro[i].reward;
      rsmp[n].group = ro[i].task;
      n++;
    }
    acc /= P * G;
    double lr = zr_lr_at(&rs, s);
    CK(zr_trainer_set_lr(tr, lr > 1e-30 ? lr : 1e-30));
    zr_step_metrics m;
    t0 = now_s();
    int rc = zr_trainer_rl_step(tr, rsmp, n, &m);
    if (rc < 0 && rc != -ERANGE) die("zr_trainer_rl_step", rc);
    rl_train_s += now_s() - t0;
    rl_train_tok += (uint64_t)m.n_tokens;
    for (int i = 0; i < P * G; i++) free(ro[i].toks.v), ro[i].toks.v = NULL, ro[i].toks.n = ro[i].toks.cap = 0;
    zr_taskset_free(&ts);
    acc_sum += acc;
    kept_sum += m.n_groups ? 1.0 - (double)m.groups_skipped / m.n_groups : 0;
    acc_n++;
    rl_done = s + 1;
    if (o.probe_every && (s + 1) % o.probe_every == 0) {
      double t1 = now_s();
      int pn = o.probe_n < o.eval_n ? o.probe_n : o.eval_n;
      evres pg = evaluate(&gpol, heldout, pn, 1, 0.0, 7);
      rl_probe_s += now_s() - t1;
      printf("rl step %4d lr %.2e  train acc %5.1f kept %4.2f ent %.3f kl %.4f gn %.2f len %.1f | probe greedy %5.1f "
             "fmt %5.1f | %.0f s (gen %.0f train %.0f probe %.0f)\n",
             s + 1, lr, 100 * acc_sum / acc_n, kept_sum / acc_n, m.entropy, m.kl, m.grad_norm, m.response_len_mean,
             pg.acc, pg.fmt, now_s() - t_rl0, rl_gen_s, rl_train_s, rl_probe_s);
      fflush(stdout);
      acc_sum = kept_sum = 0;
      acc_n = 0;
    }
  }
  double t_rl = now_s() - t_rl0, c_rl = cpu_s() - c_rl0;
  printf("RL: %d steps in %.1f s (cpu %.1f s; gen %.1f s, %.0f tok/s; train %.1f s, %.0f compl tok/s; probes %.1f s)\n", rl_done,
         t_rl, c_rl, rl_gen_s, rl_gen_tok / rl_gen_s, rl_train_s, rl_train_tok / rl_train_s, rl_probe_s);

  /* ---- eval after ---- */
  t_ev0 = now_s();
  evres ga = evaluate(&gpol, heldout, o.eval_n, 1, 0.0, 7);
  evres sa = {0};
  if (!o.skip_final_sampled) sa = evaluate(&gpol, heldout, o.eval_n, o.eval_samples, 1.0, 99);
  double t_ev_after = now_s() - t_ev0;
  double total = now_s() - T0;
  printf("process cpu %.1f s over %.1f s wall\n", cpu_s(), total);
  printf("AFTER RL:  greedy %.1f (fmt %.1f)  sampled %.1f (fmt %.1f)  [%.1f s]\n", ga.acc, ga.fmt, sa.acc, sa.fmt,
         t_ev_after);
  printf("DELTA: greedy %+.1f  sampled %+.1f   | times: sft %.0f  eval %.0f  rl %.0f  eval %.0f  total %.0f s\n",
         ga.acc - gb.acc, sa.acc - sbv.acc, t_sft, t_ev_before, t_rl, t_ev_after, total);
  printf("{\"greedy_before\": %.1f, \"greedy_after\": %.1f, \"sampled_before\": %.1f, \"sampled_after\": %.1f, "
         "\"sft_s\": %.1f, \"eval_before_s\": %.1f, \"rl_s\": %.1f, \"eval_after_s\": %.1f, \"total_s\": %.1f, "
         "\"sft_steps\": %d, \"rl_steps\": %d}\n",
         gb.acc, ga.acc, sbv.acc, sa.acc, t_sft, t_ev_before, t_rl, t_ev_after, total, sft_done, rl_done);

  for (int i = 0; i < o.sft_batch; i++) free(pt[i].v), free(ct[i].v);
  for (int i = 0; i < P; i++) free(rp[i].v);
  free(pt), free(ct), free(sb), free(rp), free(ro), free(rsmp);
  if (gact.eng != gpol.eng) zr_engine_free(&gact.eng);
  zr_engine_free(&gpol.eng);
  zr_trainer_free(&tr);
  zr_reward_scorer_free(&scorer);
  zr_tf_free(&act);
  zr_tf_free(&ref);
  zr_tf_free(&pol);
  zr_taskset_free(&heldout);
  zr_backend_free(&be);
  return 0;
}
