/* Integration test for the zerorl-actor daemon (actor/actor_main.c, actor/actor.h). The test plays
 * the learner through real sockets on loopback: a ROUTER for work (WorkRequest / WorkGrant /
 * Rollout / LeaseRelease), a PUB for WeightVersion announcements and a ROUTER serving weight
 * chunks (built here from a zr_tf, in the wire layout of learner/wpub.h). It makes a tiny model
 * with `zerorl model init`, starts a real redis-server and the real binary, and checks:
 *
 *   ask        the actor asks for work (role ACTOR, capacity slots / G, version 0: no
 *              announcement arrives, so it starts with the weights of [model] path)
 *   grant      3 tasks x G=4 greedy: 12 rollouts with the right ids, lengths, finite log-probs
 *              <= 0, token versions 0, finish reasons; tokens equal zr_tf_generate's
 *   weights    version 1 announced while long completions run: fetched and applied in flight
 *              (versions non-decreasing along every completion, later tokens carry 1)
 *   corrupt    version 2 with chunk 0 served once with a flipped byte: refetched, applied; greedy
 *              rollouts then equal zr_tf_generate with version 2's weights
 *   bad input  garbage and another job's grant on the work socket, garbage on the PUB: dropped,
 *              counted (heartbeat dropped_bad), the actor keeps working
 *   lease      a lease about to expire: its unfinished tasks come back in a LeaseRelease
 *   heartbeat  the worker hash exists while running, with state and policy_version
 *   drain      SIGTERM with work in flight: exit 0 within a few seconds, heartbeat deleted
 *
 * Every wait has a deadline. */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/frame.h"
#include "common/util.h"
#include "common/zsock.h"
#include "model/backend.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "tests/redis_server.h"
#include "tests/test.h"

#define JOB "actor-job"
#define WORKER_ID "actortest0000000000000000000001a"
#define SLOTS 8
#define MAX_LEN 2048
#define G 4
#define MAXRO 512
#define MAXTOK 2048

static uv_loop_t loop;
static zr_zsock *work, *wsrv, *pub;
static char bin[1024];

/* ---- the learner's side ------------------------------------------------------------------ */

typedef struct {
  uint64_t lease;
  char task_id[64];
  uint32_t epoch, sample;
  uint64_t group;
  int n_prompt, n;
  int32_t tokens[MAXTOK];
  uint64_t versions[MAXTOK];
  int finish;
  int bad_logprob;
} rollout;

static struct {
  uint8_t peer[256];
  size_t peer_len;
  uint8_t wpeer[256];
  size_t wpeer_len;
  int asks, bad_role, bad_decode, unexpected;
  uint32_t last_cap;
  uint64_t last_version;
  rollout *ro;
  int n_ro;
  int releases;
  char released[64][64];
  uint64_t released_lease[64];
  int n_released;
  int chunk_requests[4][64]; /* [version][index] */
} hub;

typedef struct {
  uint64_t version;
  uint8_t *buf;
  uint64_t total;
  uint32_t chunk_bytes, n_chunks;
  uint64_t *sums;
  Zerorl__TensorInfo *ti;
  Zerorl__TensorInfo **tip;
  uint64_t *shapes;
  size_t n_tensors;
  int corrupt_index; /* -1: none; else served once with a flipped byte */
} wver;

static wver versions[4];

static void on_work_msg(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  (void)s, (void)user;
  if (n < 2) return;
  size_t plen = zmq_msg_size(&parts[0]);
  if (plen <= sizeof hub.peer) {
    memcpy(hub.peer, zmq_msg_data(&parts[0]), plen);
    hub.peer_len = plen;
  }
  zr_bytes frames[8];
  for (size_t i = 1; i < n && i < 9; i++) frames[i - 1] = (zr_bytes){zmq_msg_data(&parts[i]), zmq_msg_size(&parts[i])};
  zr_frame_limits lim = zr_frame_limits_default();
  zr_frame_msg m;
  if (zr_frame_decode(&m, frames, n - 1, JOB, &lim) < 0) {
    fprintf(stderr, "hub: undecodable message: %s\n", zr_errmsg());
    hub.bad_decode++;
    return;
  }
  Zerorl__Envelope *e = m.env;
  if (e->body_case == ZERORL__ENVELOPE__BODY_WORK_REQUEST) {
    hub.asks++;
    if (e->work_request->role != ZERORL__ROLE__ROLE_ACTOR) hub.bad_role++;
    hub.last_cap = e->work_request->free_capacity;
    hub.last_version = e->work_request->policy_version;
  } else if (e->body_case == ZERORL__ENVELOPE__BODY_ROLLOUT && hub.n_ro < MAXRO) {
    const Zerorl__Rollout *r = e->rollout;
    rollout *o = &hub.ro[hub.n_ro++];
    memset(o, 0, sizeof *o);
    o->lease = r->lease_id;
    snprintf(o->task_id, sizeof o->task_id, "%s", r->task_id);
    o->epoch = r->epoch;
    o->sample = r->sample_index;
    o->group = r->group_id;
    o->n_prompt = (int)r->n_prompt_ids;
    o->n = (int)r->n_completion_ids;
    if (r->n_logprobs != r->n_completion_ids || r->n_token_versions != r->n_completion_ids) o->bad_logprob = 1;
    for (int i = 0; i < o->n && i < MAXTOK; i++) {
      o->tokens[i] = (int32_t)r->completion_ids[i];
      o->versions[i] = r->token_versions[i];
      if (!isfinite(r->logprobs[i]) || r->logprobs[i] > 0) o->bad_logprob = 1;
    }
    o->finish = r->finish_reason;
  } else if (e->body_case == ZERORL__ENVELOPE__BODY_LEASE_RELEASE) {
    hub.releases++;
    const Zerorl__LeaseRelease *lr = e->lease_release;
    for (size_t i = 0; i < lr->n_tasks && hub.n_released < 64; i++) {
      hub.released_lease[hub.n_released] = lr->lease_id;
      snprintf(hub.released[hub.n_released++], 64, "%s", lr->tasks[i]->task_id);
    }
  } else {
    hub.unexpected++;
  }
  zr_frame_msg_release(&m);
}

static void send_chunk(uint64_t version, uint32_t index) {
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  Zerorl__WeightChunk c = ZERORL__WEIGHT_CHUNK__INIT;
  c.version = version;
  c.chunk_index = index;
  wver *v = version < 4 ? &versions[version] : NULL;
  uint8_t *copy = NULL;
  const uint8_t *data = NULL;
  uint32_t len = 0;
  if (!v || !v->buf || index >= v->n_chunks) {
    c.error = "version gone";
  } else {
    c.offset = (uint64_t)index * v->chunk_bytes;
    len = (uint32_t)((v->total - c.offset) < v->chunk_bytes ? v->total - c.offset : v->chunk_bytes);
    c.length = len;
    c.checksum = v->sums[index];
    data = v->buf + c.offset;
    if (v->corrupt_index == (int)index) {
      copy = malloc(len);
      memcpy(copy, data, len);
      copy[len / 2] ^= 0x40;
      data = copy;
      v->corrupt_index = -1;
    }
  }
  env.body_case = ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK;
  env.weight_chunk = &c;
  uint8_t *buf = NULL;
  size_t blen = 0;
  CHECK_INT(zr_frame_encode(&env, JOB, "learner", data ? 1 : 0, &buf, &blen), 0);
  zr_zsock_part parts[3] = {{hub.wpeer, hub.wpeer_len}, {buf, blen}, {data, len}};
  CHECK_INT(zr_zsock_send(wsrv, parts, data ? 3 : 2), 0);
  free(buf);
  free(copy);
}

static void on_weights_msg(zr_zsock *s, zmq_msg_t *parts, size_t n, void *user) {
  (void)s, (void)user;
  if (n < 2) return;
  size_t plen = zmq_msg_size(&parts[0]);
  if (plen <= sizeof hub.wpeer) {
    memcpy(hub.wpeer, zmq_msg_data(&parts[0]), plen);
    hub.wpeer_len = plen;
  }
  zr_bytes frames[8];
  for (size_t i = 1; i < n && i < 9; i++) frames[i - 1] = (zr_bytes){zmq_msg_data(&parts[i]), zmq_msg_size(&parts[i])};
  zr_frame_limits lim = zr_frame_limits_default();
  zr_frame_msg m;
  if (zr_frame_decode(&m, frames, n - 1, JOB, &lim) < 0) {
    hub.bad_decode++;
    return;
  }
  if (m.env->body_case == ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK_REQUEST) {
    uint64_t v = m.env->weight_chunk_request->version;
    uint32_t i = m.env->weight_chunk_request->chunk_index;
    if (v < 4 && i < 64) hub.chunk_requests[v][i]++;
    send_chunk(v, i);
  } else {
    hub.unexpected++;
  }
  zr_frame_msg_release(&m);
}

/* Version `version` of m's weights, f32, tensors in table order packed end to end. */
static void build_version(zr_tf *m, uint64_t version, uint32_t chunk_bytes) {
  wver *v = &versions[version];
  memset(v, 0, sizeof *v);
  v->version = version;
  v->corrupt_index = -1;
  v->n_tensors = zr_tf_n_tensors(m);
  v->ti = calloc(v->n_tensors, sizeof *v->ti);
  v->tip = calloc(v->n_tensors, sizeof *v->tip);
  v->shapes = calloc(v->n_tensors * 2, sizeof *v->shapes);
  for (size_t i = 0; i < v->n_tensors; i++) v->total += zr_tf_tensor_at(m, i)->numel * 4;
  v->buf = malloc(v->total);
  uint64_t off = 0;
  for (size_t i = 0; i < v->n_tensors; i++) {
    const zr_tf_tensor *t = zr_tf_tensor_at(m, i);
    CHECK_INT(zr_tf_get_tensor(m, t->name, (float *)(v->buf + off), t->numel), 0);
    zerorl__tensor_info__init(&v->ti[i]);
    v->ti[i].name = (char *)t->name;
    v->ti[i].dtype = "f32";
    for (int d = 0; d < t->ndim; d++) v->shapes[i * 2 + d] = (uint64_t)t->shape[d];
    v->ti[i].shape = &v->shapes[i * 2];
    v->ti[i].n_shape = (size_t)t->ndim;
    v->ti[i].offset = off;
    v->ti[i].nbytes = t->numel * 4;
    v->tip[i] = &v->ti[i];
    off += t->numel * 4;
  }
  v->chunk_bytes = chunk_bytes;
  v->n_chunks = (uint32_t)((v->total + chunk_bytes - 1) / chunk_bytes);
  v->sums = calloc(v->n_chunks, sizeof *v->sums);
  for (uint32_t i = 0; i < v->n_chunks; i++) {
    uint64_t o = (uint64_t)i * chunk_bytes;
    uint64_t len = v->total - o < chunk_bytes ? v->total - o : chunk_bytes;
    v->sums[i] = zr_checksum64(v->buf + o, len);
  }
}

static void free_version(wver *v) {
  free(v->buf);
  free(v->sums);
  free(v->ti);
  free(v->tip);
  free(v->shapes);
  memset(v, 0, sizeof *v);
}

static void announce(uint64_t version, const char *job) {
  wver *v = &versions[version];
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  Zerorl__WeightVersion wv = ZERORL__WEIGHT_VERSION__INIT;
  wv.version = version;
  wv.step = version;
  wv.tensors = v->tip;
  wv.n_tensors = v->n_tensors;
  wv.total_bytes = v->total;
  wv.chunk_bytes = v->chunk_bytes;
  wv.chunk_checksums = v->sums;
  wv.n_chunk_checksums = v->n_chunks;
  wv.checksum = zr_checksum64(v->buf, v->total);
  wv.endpoint = "";
  env.body_case = ZERORL__ENVELOPE__BODY_WEIGHT_VERSION;
  env.weight_version = &wv;
  uint8_t *buf = NULL;
  size_t len = 0;
  CHECK_INT(zr_frame_encode(&env, job, "learner", 0, &buf, &len), 0);
  zr_zsock_part p = {buf, len};
  CHECK_INT(zr_zsock_send(pub, &p, 1), 0);
  free(buf);
}

typedef struct {
  const char *id;
  const int32_t *prompt;
  int prompt_len;
  uint32_t samples, first;
  float temperature;
  uint32_t max_new;
} task_spec;

static uint8_t *encode_grant(uint64_t lease, uint32_t lease_ms, const task_spec *ts, int n, const char *job,
                             size_t *len) {
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  Zerorl__WorkGrant g = ZERORL__WORK_GRANT__INIT;
  Zerorl__Task tasks[16], *tp[16];
  Zerorl__SamplingParams sp[16];
  uint32_t ids[16][64];
  for (int i = 0; i < n; i++) {
    zerorl__task__init(&tasks[i]);
    zerorl__sampling_params__init(&sp[i]);
    tasks[i].task_id = (char *)ts[i].id;
    tasks[i].epoch = 1;
    tasks[i].group_id = lease * 100 + (uint64_t)i;
    for (int k = 0; k < ts[i].prompt_len; k++) ids[i][k] = (uint32_t)ts[i].prompt[k];
    tasks[i].prompt_ids = ids[i];
    tasks[i].n_prompt_ids = (size_t)ts[i].prompt_len;
    tasks[i].samples = ts[i].samples;
    tasks[i].first_sample_index = ts[i].first;
    sp[i].temperature = ts[i].temperature;
    sp[i].top_p = 1;
    sp[i].max_new_tokens = ts[i].max_new;
    sp[i].seed = 42;
    tasks[i].sampling = &sp[i];
    tp[i] = &tasks[i];
  }
  g.lease_id = lease;
  g.lease_ms = lease_ms;
  g.deadline_ms = zr_clock_wall_ms() + lease_ms;
  g.tasks = tp;
  g.n_tasks = (size_t)n;
  env.body_case = ZERORL__ENVELOPE__BODY_WORK_GRANT;
  env.work_grant = &g;
  uint8_t *buf = NULL;
  CHECK_INT(zr_frame_encode(&env, job, "learner", 0, &buf, len), 0);
  return buf;
}

static void send_work_raw(const void *data, size_t len) {
  zr_zsock_part parts[2] = {{hub.peer, hub.peer_len}, {data, len}};
  CHECK_INT(zr_zsock_send(work, parts, 2), 0);
}

static void grant(uint64_t lease, uint32_t lease_ms, const task_spec *ts, int n) {
  size_t len = 0;
  uint8_t *buf = encode_grant(lease, lease_ms, ts, n, JOB, &len);
  send_work_raw(buf, len);
  free(buf);
}

/* ---- waiting ------------------------------------------------------------------------------ */

static pid_t child;
static int child_status = -1;

static void reap(void) {
  int st;
  if (child > 0 && waitpid(child, &st, WNOHANG) == child) {
    child_status = st;
    child = 0;
  }
}

static uv_timer_t ticker;
static void on_tick(uv_timer_t *t) { (void)t; }

static int wait_for(int (*pred)(void *), void *arg, uint64_t timeout_ms) {
  uint64_t deadline = zr_clock_mono_ms() + timeout_ms;
  while (!(pred && pred(arg)) && zr_clock_mono_ms() < deadline) {
    uv_run(&loop, UV_RUN_ONCE);
    reap();
  }
  return pred && pred(arg);
}
static void pump(uint64_t ms) { wait_for(NULL, NULL, ms); }

static int asks_over(void *p) { return hub.asks > (int)(intptr_t)p; }
static int rollouts_at_least(void *p) { return hub.n_ro >= (int)(intptr_t)p; }
static int releases_at_least(void *p) { return hub.releases >= (int)(intptr_t)p; }
static int child_gone(void *p) { (void)p; return child == 0; }
static int version_asked(void *p) { return hub.asks > 0 && hub.last_version == (uint64_t)(uintptr_t)p; }

static int count_lease(uint64_t lease) {
  int n = 0;
  for (int i = 0; i < hub.n_ro; i++) n += hub.ro[i].lease == lease;
  return n;
}

/* ---- reference generation ---------------------------------------------------------------- */

static const int32_t *eos_ids;
static int n_eos;

/* Greedy continuation of prompt with zr_tf_generate; returns the token count, *fin the finish. */
static int ref_greedy(zr_tf *m, const int32_t *prompt, int plen, int max_new, int vocab_limit, int *out, int *fin) {
  int pr[64];
  for (int i = 0; i < plen; i++) pr[i] = prompt[i];
  int stop[8];
  for (int i = 0; i < n_eos && i < 8; i++) stop[i] = eos_ids[i];
  zr_gen_config g;
  memset(&g, 0, sizeof g);
  g.max_new_tokens = max_new;
  g.sampling.temperature = 0;
  g.sampling.top_p = 1;
  g.seed = 42;
  g.stop_ids = stop;
  g.n_stop = n_eos < 8 ? n_eos : 8;
  g.vocab_limit = vocab_limit;
  zr_gen_result res;
  uint64_t seq = 0;
  CHECK_INT(zr_tf_generate(m, NULL, 1, &plen, pr, &seq, &g, out, NULL, &res), 0);
  *fin = res.finish == ZR_FINISH_STOP ? ZERORL__FINISH_REASON__FINISH_EOS : ZERORL__FINISH_REASON__FINISH_LENGTH;
  return res.n_tokens;
}

/* Checks every rollout of lease against the greedy reference of its task's prompt. */
static void check_greedy(zr_tf *m, uint64_t lease, const task_spec *ts, int n, int vocab_limit, uint64_t version) {
  int ref[MAXTOK];
  for (int t = 0; t < n; t++) {
    int fin = 0;
    int nref = ref_greedy(m, ts[t].prompt, ts[t].prompt_len, (int)ts[t].max_new, vocab_limit, ref, &fin);
    int seen = 0;
    for (int i = 0; i < hub.n_ro; i++) {
      rollout *o = &hub.ro[i];
      if (o->lease != lease || strcmp(o->task_id, ts[t].id) != 0) continue;
      seen++;
      CHECK_INT(o->n_prompt, ts[t].prompt_len);
      CHECK_INT(o->epoch, 1);
      CHECK_INT(o->group, lease * 100 + (uint64_t)t);
      CHECK(o->sample >= ts[t].first && o->sample < ts[t].first + ts[t].samples);
      CHECK_INT(o->bad_logprob, 0);
      CHECK_INT(o->n, nref);
      CHECK_INT(o->finish, fin);
      int same = o->n == nref;
      for (int k = 0; same && k < nref; k++) same = o->tokens[k] == ref[k];
      CHECK(same);
      int vok = 1;
      for (int k = 0; k < o->n; k++) vok &= o->versions[k] == version;
      CHECK(vok);
    }
    CHECK_INT(seen, (int)ts[t].samples);
  }
}

/* ---- redis ------------------------------------------------------------------------------------ */

static char *redis_hget(redisContext *c, const char *key, const char *field) {
  redisReply *r = redisCommand(c, "HGET %s %s", key, field);
  char *out = r && r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
  if (r) freeReplyObject(r);
  return out;
}

static long long redis_exists(redisContext *c, const char *key) {
  redisReply *r = redisCommand(c, "EXISTS %s", key);
  long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -999;
  if (r) freeReplyObject(r);
  return v;
}

static int wait_field(redisContext *c, const char *key, const char *field, const char *want) {
  uint64_t deadline = zr_clock_mono_ms() + 4000;
  for (;;) {
    char *v = redis_hget(c, key, field);
    int ok = v && strcmp(v, want) == 0;
    if (!ok && zr_clock_mono_ms() >= deadline) fprintf(stderr, "%s %s = %s, want %s\n", key, field, v ? v : "(nil)", want);
    free(v);
    if (ok) return 1;
    if (zr_clock_mono_ms() >= deadline) return 0;
    pump(50);
  }
}

static long long hget_int(redisContext *c, const char *key, const char *field) {
  char *v = redis_hget(c, key, field);
  long long x = v ? atoll(v) : -1;
  free(v);
  return x;
}

/* ---- process ------------------------------------------------------------------------------- */

static pid_t spawn(const char *cfg) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    execl(bin, bin, "--config", cfg, "--id", WORKER_ID, "--threads", "1", (char *)NULL);
    _exit(127);
  }
  return pid;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

static int run_cmd(const char *cmd, char *out, size_t cap) {
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int port_of(zr_zsock *s) {
  char ep[256];
  CHECK_INT(zr_zsock_last_endpoint(s, ep, sizeof ep), 0);
  const char *c = strrchr(ep, ':');
  return c ? atoi(c + 1) : 0;
}

/* A prompt whose greedy continuation of max_new tokens under m hits no eos (so it runs long). */
static int long_prompt(zr_tf *m, int vocab_limit, int max_new, int32_t *prompt, int *plen) {
  int *ref = malloc(sizeof(int) * (size_t)max_new);
  for (int s = 0; s < 40; s++) {
    *plen = 3 + s % 4;
    for (int i = 0; i < *plen; i++) prompt[i] = (int32_t)(32 + (s * 7 + i * 13) % 90);
    int fin;
    int n = ref_greedy(m, prompt, *plen, max_new, vocab_limit, ref, &fin);
    if (n == max_new && fin == ZERORL__FINISH_REASON__FINISH_LENGTH) {
      free(ref);
      return 1;
    }
  }
  free(ref);
  return 0;
}

int main(void) {
  const char *bdir = getenv("ZERORL_BINARY_DIR");
  if (!bdir) TEST_SKIP("ZERORL_BINARY_DIR is not set (run through ctest)");
  snprintf(bin, sizeof bin, "%s/actor/zerorl-actor", bdir);
  char tool[1024];
  snprintf(tool, sizeof tool, "%s/tools/zerorl", bdir);
  if (access(bin, X_OK) != 0 || access(tool, X_OK) != 0) {
    fprintf(stderr, "FAIL: %s or %s is missing\n", bin, tool);
    return 1;
  }
  if (!zr_test_redis_available()) TEST_SKIP("redis-server is not installed");
  uint64_t t0 = zr_clock_mono_ms();
  hub.ro = calloc(MAXRO, sizeof *hub.ro);

  zr_test_redis srv;
  if (zr_test_redis_start(&srv, 0, NULL) != 0) return 1;

  /* the model */
  char mdir[256], cmd[2048], out[4096];
  snprintf(mdir, sizeof mdir, "%s/model", srv.dir);
  snprintf(cmd, sizeof cmd,
           "'%s' model init --arch qwen2 --layers 2 --hidden 32 --heads 2 --kv-heads 1 --intermediate 64 "
           "--byte-vocab --seed 3 --std 0.5 --out '%s' 2>&1",
           tool, mdir);
  int st = run_cmd(cmd, out, sizeof out);
  if (st != 0) fprintf(stderr, "model init: %s\n", out);
  CHECK_INT(st, 0);
  zr_backend *be = NULL;
  zr_tf *m = NULL, *m2 = NULL;
  zr_tok *tok = NULL;
  CHECK_INT(zr_backend_cpu_new(&be, 1), 0);
  CHECK_INT(zr_tf_load(&m, mdir, be), 0);
  CHECK_INT(zr_tf_load(&m2, mdir, be), 0);
  CHECK_INT(zr_tok_load(&tok, mdir), 0);
  if (!m || !m2 || !tok) return 1;
  n_eos = (int)zr_tok_eos_ids(tok, &eos_ids);
  int vocab_limit = zr_tok_vocab_size(tok) < zr_tf_config(m)->vocab_size ? zr_tok_vocab_size(tok)
                                                                           : zr_tf_config(m)->vocab_size;

  /* the learner's sockets */
  CHECK_INT(uv_loop_init(&loop), 0);
  uv_timer_init(&loop, &ticker);
  uv_timer_start(&ticker, on_tick, 20, 20);
  void *ctx = zmq_ctx_new();
  work = zr_zsock_new(&loop, ctx, ZMQ_ROUTER, NULL, on_work_msg, NULL);
  wsrv = zr_zsock_new(&loop, ctx, ZMQ_ROUTER, NULL, on_weights_msg, NULL);
  pub = zr_zsock_new(&loop, ctx, ZMQ_PUB, NULL, NULL, NULL);
  CHECK(work && wsrv && pub);
  CHECK_INT(zr_zsock_bind(work, "tcp://127.0.0.1:*"), 0);
  CHECK_INT(zr_zsock_bind(wsrv, "tcp://127.0.0.1:*"), 0);
  CHECK_INT(zr_zsock_bind(pub, "tcp://127.0.0.1:*"), 0);

  /* ZERORL_TEST_ACTOR_UPDATE=finish runs the same checks with [actor] update = finish */
  const char *upd = getenv("ZERORL_TEST_ACTOR_UPDATE");
  int finish_mode = upd && strcmp(upd, "finish") == 0;
  char cfg[256], text[2048];
  snprintf(cfg, sizeof cfg, "%s/job.ini", srv.dir);
  snprintf(text, sizeof text,
           "[job]\nid = " JOB "\n\n[model]\npath = %s\n\n[algo]\ngroup_size = %d\n\n"
           "[actor]\nslots = %d\nmax_len = %d\nupdate = %s\nlease_margin = 1s\nask_interval = 200ms\n"
           "chunk_timeout = 500ms\n\n"
           "[redis]\nsocket = %s\nheartbeat_interval = 100ms\nheartbeat_ttl = 5s\nbackoff_min = 50ms\nbackoff_max = 500ms\n\n"
           "[net]\nlearner_host = tcp://127.0.0.1\nlearner_tasks = tcp://*:%d\nlearner_weights = tcp://*:%d\n"
           "learner_announce = tcp://*:%d\nlinger = 2s\n",
           mdir, G, SLOTS, MAX_LEN, finish_mode ? "finish" : "inflight", srv.sock, port_of(work), port_of(wsrv), port_of(pub));
  write_file(cfg, text);

  /* usage errors */
  snprintf(cmd, sizeof cmd, "'%s' --help", bin);
  CHECK_INT(run_cmd(cmd, out, sizeof out), 0);
  CHECK_CONTAINS(out, "--config FILE");
  snprintf(cmd, sizeof cmd, "'%s' --config '%s' --backend cuda 2>&1", bin, cfg);
  CHECK_INT(run_cmd(cmd, out, sizeof out), 1);
  CHECK_CONTAINS(out, "CUDA");

  child = spawn(cfg);
  CHECK(child > 0);

  /* ---- ask: no announcement, so it starts on version 0 ---- */
  CHECK(wait_for(asks_over, (void *)0, 20000));
  CHECK_INT(hub.last_cap, SLOTS / G);
  CHECK_INT(hub.last_version, 0);
  fprintf(stderr, "first ask after %llu ms\n", (unsigned long long)(zr_clock_mono_ms() - t0));

  /* ---- grant: 3 tasks x G=4, greedy ---- */
  static const int32_t p1[] = {72, 101, 108, 108, 111}, p2[] = {49, 43, 49, 61}, p3[] = {84, 104, 101, 32, 99, 97};
  task_spec ts1[3] = {{"t-a", p1, 5, G, 0, 0, 12}, {"t-b", p2, 4, G, 4, 0, 20}, {"t-c", p3, 6, G, 8, 0, 7}};
  grant(1, 60000, ts1, 3);
  CHECK(wait_for(rollouts_at_least, (void *)12, 20000));
  CHECK_INT(hub.n_ro, 12);
  check_greedy(m, 1, ts1, 3, vocab_limit, 0);
  fprintf(stderr, "12 rollouts after %llu ms\n", (unsigned long long)(zr_clock_mono_ms() - t0));

  /* ---- heartbeat ---- */
  char key[256];
  snprintf(key, sizeof key, "zerorl:worker:" JOB ":actor:" WORKER_ID);
  struct timeval tv = {2, 0};
  redisContext *rc = redisConnectUnixWithTimeout(srv.sock, tv);
  CHECK(rc && !rc->err);
  int have_redis = rc && !rc->err;
  if (have_redis) {
    redisSetTimeout(rc, tv);
    CHECK_INT(redis_exists(rc, key), 1);
    CHECK(wait_field(rc, key, "rollouts_sent", "12"));
    CHECK(wait_field(rc, key, "policy_version", "0"));
    CHECK(wait_field(rc, key, "state", "idle"));
  }

  /* ---- weights: version 1 announced while long completions run (inflight) ---- */
  int32_t lp[8];
  int lplen = 0;
  int have_long = long_prompt(m, vocab_limit, 1500, lp, &lplen);
  CHECK(have_long);
  CHECK_INT(zr_tf_init_random(m2, 7, 0.5f), 0);
  build_version(m2, 1, 16384);
  task_spec ts2[2] = {{"t-long1", lp, lplen, G, 0, 0, 1500}, {"t-long2", lp, lplen, G, 4, 0, 1500}};
  grant(2, 60000, ts2, 2);
  pump(30);
  announce(1, JOB);
  CHECK(wait_for(rollouts_at_least, (void *)20, 30000));
  int mixed = 0, nondecreasing = 1, ends_v1 = 0;
  for (int i = 12; i < hub.n_ro; i++) {
    rollout *o = &hub.ro[i];
    CHECK_INT(o->bad_logprob, 0);
    int has0 = 0, has1 = 0;
    for (int k = 0; k < o->n; k++) {
      if (k > 0 && o->versions[k] < o->versions[k - 1]) nondecreasing = 0;
      has0 |= o->versions[k] == 0;
      has1 |= o->versions[k] == 1;
    }
    mixed += has0 && has1;
    ends_v1 += o->n > 0 && o->versions[o->n - 1] == 1;
  }
  CHECK(nondecreasing);
  if (!finish_mode) CHECK(ends_v1 > 0);
  fprintf(stderr, "version 1: %d of 8 completions switched mid-generation, %d end on it; chunk requests %d\n",
          mixed, ends_v1, hub.chunk_requests[1][0]);
  /* inflight: running sequences continue on the new weights; finish: they end on the old ones */
  if (finish_mode) CHECK_INT(mixed, 0);
  else CHECK(mixed > 0);
  CHECK(wait_for(version_asked, (void *)1, 5000));
  if (have_redis) CHECK(wait_field(rc, key, "policy_version", "1"));

  /* ---- corrupt chunk: version 2, chunk 0 served once with a flipped byte ---- */
  CHECK_INT(zr_tf_init_random(m2, 8, 0.5f), 0);
  build_version(m2, 2, 16384);
  versions[2].corrupt_index = 0;
  announce(2, JOB);
  CHECK(wait_for(version_asked, (void *)2, 10000));
  CHECK(hub.chunk_requests[2][0] >= 2);
  fprintf(stderr, "version 2: chunk 0 requested %d times\n", hub.chunk_requests[2][0]);
  int before = hub.n_ro;
  grant(3, 60000, ts1, 3);
  CHECK(wait_for(rollouts_at_least, (void *)(intptr_t)(before + 12), 20000));
  check_greedy(m2, 3, ts1, 3, vocab_limit, 2);

  /* ---- bad input: dropped, counted, the actor keeps working ---- */
  send_work_raw("\xff\xfe garbage, not an envelope", 27);
  size_t wl = 0;
  uint8_t *wj = encode_grant(99, 60000, ts1, 1, "other-job", &wl);
  send_work_raw(wj, wl);
  free(wj);
  zr_zsock_part junk = {"junk on the pub socket", 22};
  CHECK_INT(zr_zsock_send(pub, &junk, 1), 0);
  announce(1, "other-job");
  before = hub.n_ro;
  grant(4, 60000, ts1, 1);
  CHECK(wait_for(rollouts_at_least, (void *)(intptr_t)(before + G), 20000));
  pump(200);
  CHECK_INT(count_lease(99), 0);
  CHECK_INT(count_lease(4), G);
  if (have_redis) {
    CHECK(wait_field(rc, key, "policy_version", "2"));
    pump(300);
    CHECK(hget_int(rc, key, "dropped_bad") >= 3);
  }

  /* ---- lease about to expire: unfinished tasks come back ---- */
  task_spec ts5[4] = {{"t-x1", lp, lplen, G, 0, 0, 1800}, {"t-x2", lp, lplen, G, 0, 0, 1800},
                      {"t-x3", lp, lplen, G, 0, 0, 1800}, {"t-x4", lp, lplen, G, 0, 0, 1800}};
  /* 100 ms of lease before the margin. The tiny random model sometimes ends all 16 samples on
   * early EOS even so, leaving nothing to hand back: then the lease is granted again (new id)
   * until a hand-back happens, so the release path is always exercised. */
  uint64_t lid = 0, rel_ms = 0;
  bool handed_back = false;
  for (int attempt = 0; attempt < 6 && !handed_back; attempt++) {
    lid = 5 + 100 * (uint64_t)attempt;
    int releases_before = hub.releases;
    uint64_t tl = zr_clock_mono_ms();
    grant(lid, 1100, ts5, 4);
    wait_for(releases_at_least, (void *)(intptr_t)(releases_before + 1), 3000);
    rel_ms = zr_clock_mono_ms() - tl;
    handed_back = hub.releases > releases_before;
    if (!handed_back) CHECK_INT(count_lease(lid), 4 * G); /* then every sample came back */
  }
  CHECK(handed_back);
  fprintf(stderr, "lease %llu released after %llu ms\n", (unsigned long long)lid, (unsigned long long)rel_ms);
  CHECK(rel_ms < 1100);
  pump(300);
  int n_rel5 = 0;
  for (int i = 0; i < hub.n_released; i++) n_rel5 += hub.released_lease[i] == lid;
  CHECK(n_rel5 >= 1);
  for (int t = 0; t < 4; t++) { /* every task either finished all samples or was handed back */
    int got = 0, rel = 0;
    for (int i = 0; i < hub.n_ro; i++) got += hub.ro[i].lease == lid && strcmp(hub.ro[i].task_id, ts5[t].id) == 0;
    for (int i = 0; i < hub.n_released; i++) rel += hub.released_lease[i] == lid && strcmp(hub.released[i], ts5[t].id) == 0;
    CHECK((got == G && rel == 0) || rel == 1);
  }

  /* ---- drain: SIGTERM with long work in flight ---- */
  int rel_before = hub.releases;
  grant(6, 60000, ts5, 4); /* 16 samples on 8 slots: some still queued at SIGTERM */
  pump(30);
  uint64_t td = zr_clock_mono_ms();
  CHECK(child > 0);
  if (child > 0) kill(child, SIGTERM);
  CHECK(wait_for(child_gone, NULL, 10000));
  uint64_t drain_ms = zr_clock_mono_ms() - td;
  pump(200);
  fprintf(stderr, "drain took %llu ms\n", (unsigned long long)drain_ms);
  CHECK(drain_ms < 6000);
  CHECK(child_status != -1 && WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0);
  int got6 = count_lease(6), rel6 = 0;
  for (int i = 0; i < hub.n_released; i++) rel6 += hub.released_lease[i] == 6;
  CHECK(got6 == 4 * G || (hub.releases > rel_before && rel6 >= 1));
  fprintf(stderr, "drain: %d rollouts of lease 6 sent, %d tasks handed back\n", got6, rel6);
  if (have_redis) CHECK_INT(redis_exists(rc, key), 0);

  CHECK_INT(hub.bad_role, 0);
  CHECK_INT(hub.bad_decode, 0);
  CHECK_INT(hub.unexpected, 0);
  fprintf(stderr, "asks=%d rollouts=%d releases=%d total %llu ms\n", hub.asks, hub.n_ro, hub.releases,
          (unsigned long long)(zr_clock_mono_ms() - t0));

  if (child > 0) {
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
  }
  if (rc) redisFree(rc);
  zr_zsock_free(&work);
  zr_zsock_free(&wsrv);
  zr_zsock_free(&pub);
  uv_close((uv_handle_t *)&ticker, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(&loop), 0);
  zmq_ctx_term(ctx);
  for (int i = 0; i < 4; i++) free_version(&versions[i]);
  zr_tok_free(&tok);
  zr_tf_free(&m);
  zr_tf_free(&m2);
  zr_backend_free(&be);
  free(hub.ro);
  unlink(cfg);
  zr_test_redis_stop(&srv);
  return TEST_DONE();
}
