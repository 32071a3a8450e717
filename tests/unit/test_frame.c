/* Framing: every message type round-trips; every kind of bad frame is rejected with its code. */
#include <errno.h>
#include <math.h>

#include "common/error.h"
#include "common/frame.h"
#include "tests/test.h"

#define JOB "job-frame-test"
#define SENDER "0123456789abcdef0123456789abcdef"

/* With --write-seeds DIR, every message the round-trip test encodes is also written there as a
 * seed for the fuzz_frame corpus (one leading byte selects a single frame). */
static const char *seeds_dir;
static int seed_count;

static void write_seed(const uint8_t *buf, size_t len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/seed-%02d", seeds_dir, seed_count++);
  FILE *f = fopen(path, "wb");
  if (!f) return;
  fputc(0, f);
  fwrite(buf, 1, len, f);
  fclose(f);
}

/* Encodes env, decodes it back with default limits; returns the decode code. */
static int roundtrip(Zerorl__Envelope *env, zr_frame_msg *out, const zr_bytes *bulk, size_t n_bulk) {
  uint8_t *buf;
  size_t len;
  CHECK_INT(zr_frame_encode(env, JOB, SENDER, (uint32_t)n_bulk, &buf, &len), 0);
  if (seeds_dir && n_bulk == 0) write_seed(buf, len);
  zr_bytes frames[1 + ZR_FRAME_MAX_BULK] = {{buf, len}};
  for (size_t i = 0; i < n_bulk; i++) frames[i + 1] = bulk[i];
  zr_frame_limits lim = zr_frame_limits_default();
  int rc = zr_frame_decode(out, frames, 1 + n_bulk, JOB, &lim);
  free(buf);
  return rc;
}

static int encode_decode_bytes(Zerorl__Envelope *env, const char *expect_job, zr_frame_msg *out) {
  uint8_t *buf;
  size_t len;
  CHECK_INT(zr_frame_encode(env, JOB, SENDER, 0, &buf, &len), 0);
  zr_bytes f = {buf, len};
  int rc = zr_frame_decode(out, &f, 1, expect_job, NULL);
  free(buf);
  return rc;
}

static void test_roundtrip_all_types(void) {
  zr_frame_msg m;
  /* WorkRequest */
  {
    Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
    Zerorl__WorkRequest wr = ZERORL__WORK_REQUEST__INIT;
    wr.role = ZERORL__ROLE__ROLE_ACTOR;
    wr.free_capacity = 7;
    wr.policy_version = 42;
    wr.host = "node-1";
    env.body_case = ZERORL__ENVELOPE__BODY_WORK_REQUEST;
    env.work_request = &wr;
    CHECK_INT(roundtrip(&env, &m, NULL, 0), 0);
    CHECK_INT(m.env->type, ZERORL__MSG_TYPE__MSG_WORK_REQUEST);
    CHECK_INT(m.env->protocol_version, ZR_PROTOCOL_VERSION);
    CHECK_STR(m.env->job_id, JOB);
    CHECK_STR(m.env->sender_id, SENDER);
    CHECK(m.env->sent_at_ms > 1700000000000ull);
    CHECK_INT(m.env->work_request->free_capacity, 7);
    CHECK_INT(m.env->work_request->policy_version, 42);
    CHECK_STR(m.env->work_request->host, "node-1");
    zr_frame_msg_release(&m);
    CHECK(m.env == NULL);
  }
  /* WorkGrant with a task, its sampling parameters and verifier spec */
  {
    Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
    Zerorl__WorkGrant g = ZERORL__WORK_GRANT__INIT;
    Zerorl__Task t = ZERORL__TASK__INIT;
    Zerorl__SamplingParams sp = ZERORL__SAMPLING_PARAMS__INIT;
    Zerorl__VerifierSpec vs = ZERORL__VERIFIER_SPEC__INIT;
    Zerorl__RewardWeight rw = ZERORL__REWARD_WEIGHT__INIT;
    uint32_t prompt[] = {151644, 872, 198, 3838};
    char *stops[] = {"</answer>"};
    int64_t nums[] = {3, 7, 25};
    Zerorl__Task *tasks[] = {&t};
    Zerorl__RewardWeight *rws[] = {&rw};
    rw.name = "accuracy";
    rw.weight = 1.0;
    vs.kind = "countdown";
    vs.numbers = nums;
    vs.n_numbers = 3;
    vs.target = 46;
    vs.rewards = rws;
    vs.n_rewards = 1;
    sp.temperature = 1.0f;
    sp.top_p = 0.95f;
    sp.max_new_tokens = 512;
    sp.stop = stops;
    sp.n_stop = 1;
    sp.seed = 1234;
    t.task_id = "cd-17";
    t.epoch = 2;
    t.group_id = 99;
    t.prompt_ids = prompt;
    t.n_prompt_ids = 4;
    t.samples = 8;
    t.sampling = &sp;
    t.verifier = &vs;
    g.lease_id = 0xdeadbeefcafeull;
    g.deadline_ms = 1800000000000ull;
    g.lease_ms = 60000;
    g.tasks = tasks;
    g.n_tasks = 1;
    env.body_case = ZERORL__ENVELOPE__BODY_WORK_GRANT;
    env.work_grant = &g;
    CHECK_INT(roundtrip(&env, &m, NULL, 0), 0);
    const Zerorl__WorkGrant *d = m.env->work_grant;
    CHECK_INT(d->lease_id, 0xdeadbeefcafeull);
    CHECK_INT(d->n_tasks, 1);
    CHECK_STR(d->tasks[0]->task_id, "cd-17");
    CHECK_INT(d->tasks[0]->n_prompt_ids, 4);
    CHECK_INT(d->tasks[0]->prompt_ids[0], 151644);
    CHECK_INT(d->tasks[0]->samples, 8);
    CHECK_STR(d->tasks[0]->sampling->stop[0], "</answer>");
    CHECK_INT(d->tasks[0]->sampling->seed, 1234);
    CHECK_INT(d->tasks[0]->verifier->n_numbers, 3);
    CHECK_INT(d->tasks[0]->verifier->target, 46);
    CHECK_STR(d->tasks[0]->verifier->rewards[0]->name, "accuracy");
    zr_frame_msg_release(&m);
  }
  /* Rollout, LeaseRelease, ScoreRequest, ScoredRollout */
  {
    uint32_t comp[] = {11, 22, 33};
    float lp[] = {-0.5f, -1.25f, 0.0f};
    uint64_t ver[] = {4, 4, 5};
    Zerorl__Rollout r = ZERORL__ROLLOUT__INIT;
    r.lease_id = 5;
    r.task_id = "gsm8k-1";
    r.epoch = 1;
    r.group_id = 3;
    r.sample_index = 6;
    r.completion_ids = comp;
    r.n_completion_ids = 3;
    r.logprobs = lp;
    r.n_logprobs = 3;
    r.token_versions = ver;
    r.n_token_versions = 3;
    r.finish_reason = ZERORL__FINISH_REASON__FINISH_STOP;
    r.completion_text = "<think>2+2</think><answer>4</answer> \xc3\xa9\xe2\x82\xac";

    Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
    env.body_case = ZERORL__ENVELOPE__BODY_ROLLOUT;
    env.rollout = &r;
    CHECK_INT(roundtrip(&env, &m, NULL, 0), 0);
    CHECK_INT(m.env->rollout->n_logprobs, 3);
    CHECK(m.env->rollout->logprobs[1] == -1.25f);
    CHECK_INT(m.env->rollout->token_versions[2], 5);
    CHECK_STR(m.env->rollout->completion_text, r.completion_text);
    CHECK_INT(m.env->rollout->finish_reason, ZERORL__FINISH_REASON__FINISH_STOP);
    zr_frame_msg_release(&m);

    Zerorl__TaskRef tr = ZERORL__TASK_REF__INIT;
    Zerorl__TaskRef *trs[] = {&tr};
    tr.task_id = "gsm8k-2";
    tr.epoch = 1;
    Zerorl__LeaseRelease lr = ZERORL__LEASE_RELEASE__INIT;
    lr.lease_id = 5;
    lr.tasks = trs;
    lr.n_tasks = 1;
    Zerorl__Envelope env2 = ZERORL__ENVELOPE__INIT;
    env2.body_case = ZERORL__ENVELOPE__BODY_LEASE_RELEASE;
    env2.lease_release = &lr;
    CHECK_INT(roundtrip(&env2, &m, NULL, 0), 0);
    CHECK_STR(m.env->lease_release->tasks[0]->task_id, "gsm8k-2");
    zr_frame_msg_release(&m);

    Zerorl__ScoreRequest sr = ZERORL__SCORE_REQUEST__INIT;
    Zerorl__VerifierSpec vs = ZERORL__VERIFIER_SPEC__INIT;
    vs.kind = "math";
    vs.answer = "\\frac{1}{2}";
    sr.score_id = 77;
    sr.rollout = &r;
    sr.verifier = &vs;
    Zerorl__Envelope env3 = ZERORL__ENVELOPE__INIT;
    env3.body_case = ZERORL__ENVELOPE__BODY_SCORE_REQUEST;
    env3.score_request = &sr;
    CHECK_INT(roundtrip(&env3, &m, NULL, 0), 0);
    CHECK_INT(m.env->score_request->score_id, 77);
    CHECK_STR(m.env->score_request->verifier->answer, "\\frac{1}{2}");
    CHECK_INT(m.env->score_request->rollout->n_completion_ids, 3);
    zr_frame_msg_release(&m);

    Zerorl__RewardComponent c1 = ZERORL__REWARD_COMPONENT__INIT, c2 = ZERORL__REWARD_COMPONENT__INIT;
    Zerorl__RewardComponent *cs[] = {&c1, &c2};
    c1.name = "accuracy", c1.value = 1, c1.weight = 1, c1.status = "correct";
    c2.name = "format", c2.value = 1, c2.weight = 0.1;
    Zerorl__ScoredRollout so = ZERORL__SCORED_ROLLOUT__INIT;
    so.score_id = 77;
    so.task_id = "gsm8k-1";
    so.sample_index = 6;
    so.reward = 1.1;
    so.components = cs;
    so.n_components = 2;
    so.status = ZERORL__VERIFIER_STATUS__VERIFIER_OK;
    Zerorl__Envelope env4 = ZERORL__ENVELOPE__INIT;
    env4.body_case = ZERORL__ENVELOPE__BODY_SCORED_ROLLOUT;
    env4.scored_rollout = &so;
    CHECK_INT(roundtrip(&env4, &m, NULL, 0), 0);
    CHECK(fabs(m.env->scored_rollout->reward - 1.1) < 1e-12);
    CHECK_INT(m.env->scored_rollout->n_components, 2);
    CHECK_STR(m.env->scored_rollout->components[0]->status, "correct");
    zr_frame_msg_release(&m);
  }
  /* WeightVersion, WeightChunkRequest, WeightChunk with its bulk frame */
  {
    Zerorl__TensorInfo ti = ZERORL__TENSOR_INFO__INIT;
    Zerorl__TensorInfo *tis[] = {&ti};
    uint64_t shape[] = {4, 8};
    uint64_t sums[] = {1, 2, 3};
    ti.name = "model.embed_tokens.weight";
    ti.dtype = "bf16";
    ti.shape = shape;
    ti.n_shape = 2;
    ti.offset = 0;
    ti.nbytes = 64;
    Zerorl__WeightVersion wv = ZERORL__WEIGHT_VERSION__INIT;
    wv.version = 3;
    wv.tensors = tis;
    wv.n_tensors = 1;
    wv.total_bytes = 100;
    wv.chunk_bytes = 40;
    wv.chunk_checksums = sums;
    wv.n_chunk_checksums = 3;
    wv.checksum = 0xffffffffffffffffull;
    wv.endpoint = "tcp://10.0.0.1:5556";
    Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
    env.body_case = ZERORL__ENVELOPE__BODY_WEIGHT_VERSION;
    env.weight_version = &wv;
    CHECK_INT(roundtrip(&env, &m, NULL, 0), 0);
    CHECK_INT(m.env->weight_version->n_chunk_checksums, 3);
    CHECK(m.env->weight_version->checksum == 0xffffffffffffffffull);
    CHECK_INT(m.env->weight_version->tensors[0]->shape[1], 8);
    zr_frame_msg_release(&m);

    Zerorl__WeightChunkRequest wr = ZERORL__WEIGHT_CHUNK_REQUEST__INIT;
    wr.version = 3;
    wr.chunk_index = 2;
    Zerorl__Envelope env2 = ZERORL__ENVELOPE__INIT;
    env2.body_case = ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK_REQUEST;
    env2.weight_chunk_request = &wr;
    CHECK_INT(roundtrip(&env2, &m, NULL, 0), 0);
    CHECK_INT(m.env->weight_chunk_request->chunk_index, 2);
    zr_frame_msg_release(&m);

    uint8_t bytes[20];
    for (int i = 0; i < 20; i++) bytes[i] = (uint8_t)i;
    Zerorl__WeightChunk wc = ZERORL__WEIGHT_CHUNK__INIT;
    wc.version = 3;
    wc.chunk_index = 2;
    wc.offset = 80;
    wc.length = 20;
    Zerorl__Envelope env3 = ZERORL__ENVELOPE__INIT;
    env3.body_case = ZERORL__ENVELOPE__BODY_WEIGHT_CHUNK;
    env3.weight_chunk = &wc;
    zr_bytes bulk = {bytes, 20};
    CHECK_INT(roundtrip(&env3, &m, &bulk, 1), 0);
    CHECK_INT(m.n_bulk, 1);
    CHECK(m.bulk[0].data == bytes && m.bulk[0].len == 20);
    zr_frame_msg_release(&m);
    /* a chunk whose frame disagrees with its header */
    bulk.len = 19;
    CHECK_INT(roundtrip(&env3, &m, &bulk, 1), ZR_FRAME_EFIELD);
    CHECK_CONTAINS(zr_errmsg(), "header says 20 bytes");
  }
}

/* A small valid WorkRequest envelope, packed. */
static uint8_t *valid_bytes(size_t *len) {
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  Zerorl__WorkRequest wr = ZERORL__WORK_REQUEST__INIT;
  wr.role = ZERORL__ROLE__ROLE_REWARD;
  wr.free_capacity = 3;
  wr.host = "h";
  env.body_case = ZERORL__ENVELOPE__BODY_WORK_REQUEST;
  env.work_request = &wr;
  uint8_t *buf;
  ZR_ASSERT(zr_frame_encode(&env, JOB, SENDER, 0, &buf, len) == 0);
  return buf;
}

static void test_rejections(void) {
  zr_frame_msg m;
  size_t len;
  uint8_t *buf = valid_bytes(&len);

  /* no frames, empty frame */
  CHECK_INT(zr_frame_decode(&m, NULL, 0, JOB, NULL), ZR_FRAME_ETRUNCATED);
  zr_bytes empty = {buf, 0};
  CHECK_INT(zr_frame_decode(&m, &empty, 1, JOB, NULL), ZR_FRAME_ETRUNCATED);
  /* every strict prefix of a valid message is either truncated or (where it ends on a field
   * boundary) rejected later, never accepted with a different meaning and never a crash */
  int truncated = 0;
  for (size_t cut = 1; cut < len; cut++) {
    zr_bytes f = {buf, cut};
    int rc = zr_frame_decode(&m, &f, 1, JOB, NULL);
    CHECK(rc != 0);
    CHECK(m.env == NULL);
    truncated += rc == ZR_FRAME_ETRUNCATED;
  }
  CHECK(truncated > 0);
  /* cut inside the job id field: must say truncated */
  {
    zr_bytes f = {buf, 8};
    CHECK_INT(zr_frame_decode(&m, &f, 1, JOB, NULL), ZR_FRAME_ETRUNCATED);
    CHECK_CONTAINS(zr_errmsg(), "field 2 needs 14 bytes");
  }
  /* oversized envelope and bulk frames, too many frames */
  zr_frame_limits lim = zr_frame_limits_default();
  lim.max_envelope_bytes = len - 1;
  zr_bytes whole = {buf, len};
  CHECK_INT(zr_frame_decode(&m, &whole, 1, JOB, &lim), ZR_FRAME_EOVERSIZED);
  CHECK_CONTAINS(zr_errmsg(), "limit");
  lim = zr_frame_limits_default();
  lim.max_bulk_bytes = 4;
  zr_bytes two[2] = {{buf, len}, {buf, 5}};
  CHECK_INT(zr_frame_decode(&m, two, 2, JOB, &lim), ZR_FRAME_EOVERSIZED);
  zr_bytes five[5] = {{buf, len}, {buf, 1}, {buf, 1}, {buf, 1}, {buf, 1}};
  CHECK_INT(zr_frame_decode(&m, five, 5, JOB, NULL), ZR_FRAME_EOVERSIZED);
  /* a bulk frame the envelope did not announce */
  zr_bytes extra[2] = {{buf, len}, {buf, 1}};
  CHECK_INT(zr_frame_decode(&m, extra, 2, JOB, NULL), ZR_FRAME_EFIELD);
  CHECK_CONTAINS(zr_errmsg(), "announces 0 bulk frames");

  /* wrong job */
  CHECK_INT(zr_frame_decode(&m, &whole, 1, "another-job", NULL), ZR_FRAME_EJOB);
  CHECK_CONTAINS(zr_errmsg(), "another-job");
  CHECK_INT(zr_frame_decode(&m, &whole, 1, NULL, NULL), 0); /* NULL accepts any job */
  zr_frame_msg_release(&m);

  /* wrong version: re-encode with version 2 and with version absent */
  {
    Zerorl__Envelope *e = zerorl__envelope__unpack(NULL, len, buf);
    CHECK(e != NULL);
    for (uint32_t v = 0; v <= 2; v += 2) {
      e->protocol_version = v;
      size_t n2 = zerorl__envelope__get_packed_size(e);
      uint8_t *b2 = malloc(n2);
      zerorl__envelope__pack(e, b2);
      zr_bytes f = {b2, n2};
      CHECK_INT(zr_frame_decode(&m, &f, 1, JOB, NULL), ZR_FRAME_EVERSION);
      CHECK_CONTAINS(zr_errmsg(), "protocol version");
      free(b2);
    }
    /* type that disagrees with the body, unknown type, no body */
    e->protocol_version = ZR_PROTOCOL_VERSION;
    Zerorl__MsgType types[] = {ZERORL__MSG_TYPE__MSG_ROLLOUT, (Zerorl__MsgType)77};
    for (int i = 0; i < 2; i++) {
      e->type = types[i];
      size_t n2 = zerorl__envelope__get_packed_size(e);
      uint8_t *b2 = malloc(n2);
      zerorl__envelope__pack(e, b2);
      zr_bytes f = {b2, n2};
      CHECK_INT(zr_frame_decode(&m, &f, 1, JOB, NULL), ZR_FRAME_ETYPE);
      free(b2);
    }
    zerorl__envelope__free_unpacked(e, NULL);
  }
  {
    Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
    env.protocol_version = ZR_PROTOCOL_VERSION;
    env.job_id = JOB;
    env.sender_id = SENDER;
    env.type = ZERORL__MSG_TYPE__MSG_WORK_REQUEST;
    size_t n2 = zerorl__envelope__get_packed_size(&env);
    uint8_t b2[256];
    zerorl__envelope__pack(&env, b2);
    zr_bytes f = {b2, n2};
    CHECK_INT(zr_frame_decode(&m, &f, 1, JOB, NULL), ZR_FRAME_ETYPE);
    CHECK_CONTAINS(zr_errmsg(), "no body");
    uint8_t *out;
    size_t olen;
    CHECK_INT(zr_frame_encode(&env, JOB, SENDER, 0, &out, &olen), -EINVAL); /* encoder refuses too */
  }

  /* garbage: invalid wire types / field 0 */
  {
    uint8_t g1[] = {0x08, 0x01, 0x0f, 0x00}; /* field 1 ok, then wire type 7 */
    zr_bytes f = {g1, sizeof g1};
    CHECK_INT(zr_frame_decode(&m, &f, 1, JOB, NULL), ZR_FRAME_EGARBAGE);
    uint8_t g2[] = {0x00, 0x01};
    f = (zr_bytes){g2, sizeof g2};
    CHECK_INT(zr_frame_decode(&m, &f, 1, JOB, NULL), ZR_FRAME_EGARBAGE);
    uint8_t g3[12];
    memset(g3, 0xff, sizeof g3); /* an 11+ byte varint */
    f = (zr_bytes){g3, sizeof g3};
    CHECK_INT(zr_frame_decode(&m, &f, 1, JOB, NULL), ZR_FRAME_EGARBAGE);
    uint8_t g4[] = {0x12, 0x05, 'a', 'b'}; /* job id claims 5 bytes, has 2 */
    f = (zr_bytes){g4, sizeof g4};
    CHECK_INT(zr_frame_decode(&m, &f, 1, JOB, NULL), ZR_FRAME_ETRUNCATED);
    /* field 0 inside the body, its key spelled 0x81 0x00 (found by fuzz_frame: protobuf-c kept it
     * as an unknown field, and the re-encoded frame no longer decoded) */
    uint8_t g5[] = {0x08, 0x01, 0x12, 0x0e, 'j', 'o', 'b', '-', 'f', 'r', 'a', 'm', 'e', '-', 't', 'e', 's', 't',
                    0x1a, 0x20, '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f',
                    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f', 0x20, 0x01,
                    0x28, 0xc2, 0xa4, 0x8c, 0xab, 0xa2, 0x34, 0x52, 0x0e, 0x08, 0x01, 0x10, 0x07, 0x81, 0x00,
                    0x22, 0x06, 'n', 'o', 'd', 'e', '-', '1'};
    f = (zr_bytes){g5, sizeof g5};
    CHECK_INT(zr_frame_decode(&m, &f, 1, NULL, NULL), ZR_FRAME_EGARBAGE);
    CHECK_CONTAINS(zr_errmsg(), "numbered 0");
    g5[sizeof g5 - 10] = 0xf9; /* the same bytes with an unknown field 15 instead: accepted */
    CHECK_INT(zr_frame_decode(&m, &f, 1, NULL, NULL), 0);
    zr_frame_msg_release(&m);
  }
  free(buf);
}

static void test_field_rules(void) {
  zr_frame_msg m;
  uint32_t comp[] = {1, 2, 3};
  float lp[] = {-0.1f, NAN, -0.3f};
  uint64_t ver[] = {1, 1, 1};
  Zerorl__Rollout r = ZERORL__ROLLOUT__INIT;
  r.task_id = "t";
  r.completion_ids = comp;
  r.n_completion_ids = 3;
  r.logprobs = lp;
  r.n_logprobs = 3;
  r.token_versions = ver;
  r.n_token_versions = 3;
  Zerorl__Envelope env = ZERORL__ENVELOPE__INIT;
  env.body_case = ZERORL__ENVELOPE__BODY_ROLLOUT;
  env.rollout = &r;
  CHECK_INT(encode_decode_bytes(&env, JOB, &m), ZR_FRAME_EFIELD); /* NaN log-prob */
  CHECK_CONTAINS(zr_errmsg(), "logprob 1");
  lp[1] = 0.5f; /* positive log-prob */
  CHECK_INT(encode_decode_bytes(&env, JOB, &m), ZR_FRAME_EFIELD);
  lp[1] = -INFINITY;
  CHECK_INT(encode_decode_bytes(&env, JOB, &m), ZR_FRAME_EFIELD);
  lp[1] = -0.2f;
  CHECK_INT(encode_decode_bytes(&env, JOB, &m), 0);
  zr_frame_msg_release(&m);
  r.n_logprobs = 2; /* mismatched lengths */
  CHECK_INT(encode_decode_bytes(&env, JOB, &m), ZR_FRAME_EFIELD);
  CHECK_CONTAINS(zr_errmsg(), "3 completion tokens but 2 logprobs");
  r.n_logprobs = 3;
  r.n_token_versions = 1;
  CHECK_INT(encode_decode_bytes(&env, JOB, &m), ZR_FRAME_EFIELD);
  r.n_token_versions = 3;
  r.completion_text = "bad \xff\xfe utf8";
  CHECK_INT(encode_decode_bytes(&env, JOB, &m), ZR_FRAME_EFIELD);
  CHECK_CONTAINS(zr_errmsg(), "completion_text: not valid UTF-8");
  r.completion_text = "overlong \xc0\xaf";
  CHECK_INT(encode_decode_bytes(&env, JOB, &m), ZR_FRAME_EFIELD);
  r.completion_text = "surrogate \xed\xa0\x80";
  CHECK_INT(encode_decode_bytes(&env, JOB, &m), ZR_FRAME_EFIELD);
  r.completion_text = "";
  r.task_id = "";
  CHECK_INT(encode_decode_bytes(&env, JOB, &m), ZR_FRAME_EFIELD);
  r.task_id = "t";

  /* repeated-field count and decoded-memory limits */
  {
    uint8_t *buf;
    size_t len;
    CHECK_INT(zr_frame_encode(&env, JOB, SENDER, 0, &buf, &len), 0);
    zr_bytes f = {buf, len};
    zr_frame_limits lim = zr_frame_limits_default();
    lim.max_repeated = 2;
    CHECK_INT(zr_frame_decode(&m, &f, 1, JOB, &lim), ZR_FRAME_EOVERSIZED);
    CHECK_CONTAINS(zr_errmsg(), "completion_ids: 3 elements");
    lim = zr_frame_limits_default();
    lim.max_decoded_bytes = 64;
    CHECK_INT(zr_frame_decode(&m, &f, 1, JOB, &lim), ZR_FRAME_EOVERSIZED);
    CHECK_CONTAINS(zr_errmsg(), "memory");
    lim = zr_frame_limits_default();
    lim.max_string_bytes = 3;
    CHECK_INT(zr_frame_decode(&m, &f, 1, JOB, &lim), ZR_FRAME_EOVERSIZED); /* the job id */
    free(buf);
  }

  /* WeightVersion whose checksum list does not cover its chunks, tensor out of bounds */
  {
    uint64_t sums[] = {1, 2};
    Zerorl__WeightVersion wv = ZERORL__WEIGHT_VERSION__INIT;
    wv.total_bytes = 100;
    wv.chunk_bytes = 40;
    wv.chunk_checksums = sums;
    wv.n_chunk_checksums = 2;
    Zerorl__Envelope e2 = ZERORL__ENVELOPE__INIT;
    e2.body_case = ZERORL__ENVELOPE__BODY_WEIGHT_VERSION;
    e2.weight_version = &wv;
    CHECK_INT(encode_decode_bytes(&e2, JOB, &m), ZR_FRAME_EFIELD);
    CHECK_CONTAINS(zr_errmsg(), "2 chunk checksums for 3 chunks");
    wv.chunk_bytes = 0;
    CHECK_INT(encode_decode_bytes(&e2, JOB, &m), ZR_FRAME_EFIELD);
    wv.chunk_bytes = 50;
    Zerorl__TensorInfo ti = ZERORL__TENSOR_INFO__INIT;
    Zerorl__TensorInfo *tis[] = {&ti};
    ti.name = "w";
    ti.offset = 90;
    ti.nbytes = 11;
    wv.tensors = tis;
    wv.n_tensors = 1;
    CHECK_INT(encode_decode_bytes(&e2, JOB, &m), ZR_FRAME_EFIELD);
    CHECK_CONTAINS(zr_errmsg(), "outside the buffer");
  }
  /* WorkRequest with no role, ScoredRollout with NaN reward */
  {
    Zerorl__WorkRequest wr = ZERORL__WORK_REQUEST__INIT;
    Zerorl__Envelope e3 = ZERORL__ENVELOPE__INIT;
    e3.body_case = ZERORL__ENVELOPE__BODY_WORK_REQUEST;
    e3.work_request = &wr;
    CHECK_INT(encode_decode_bytes(&e3, JOB, &m), ZR_FRAME_EFIELD);
    Zerorl__ScoredRollout so = ZERORL__SCORED_ROLLOUT__INIT;
    so.reward = NAN;
    Zerorl__Envelope e4 = ZERORL__ENVELOPE__INIT;
    e4.body_case = ZERORL__ENVELOPE__BODY_SCORED_ROLLOUT;
    e4.scored_rollout = &so;
    CHECK_INT(encode_decode_bytes(&e4, JOB, &m), ZR_FRAME_EFIELD);
  }
}

/* Random garbage and random corruption of valid messages never crash and never leak. */
static void test_random_garbage(void) {
  uint64_t s = 0x9e3779b97f4a7c15ull;
  size_t len;
  uint8_t *valid = valid_bytes(&len);
  uint8_t buf[512];
  int accepted = 0;
  for (int iter = 0; iter < 200000; iter++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    size_t n;
    if (iter & 1) { /* pure noise */
      n = 1 + s % sizeof buf;
      uint64_t t = s;
      for (size_t i = 0; i < n; i++) {
        t ^= t << 13, t ^= t >> 7, t ^= t << 17;
        buf[i] = (uint8_t)t;
      }
    } else { /* a valid message with a few flipped bytes */
      n = len;
      memcpy(buf, valid, len);
      for (int k = 0; k < 3; k++) buf[(s >> (8 * k)) % len] ^= (uint8_t)(s >> 40);
    }
    zr_bytes f = {buf, n};
    zr_frame_msg m;
    int rc = zr_frame_decode(&m, &f, 1, JOB, NULL);
    if (rc == 0) {
      accepted++;
      CHECK(m.env != NULL && m.env->type == ZERORL__MSG_TYPE__MSG_WORK_REQUEST);
      zr_frame_msg_release(&m);
    } else {
      CHECK(rc <= ZR_FRAME_ETRUNCATED && rc >= ZR_FRAME_EFIELD);
      CHECK(m.env == NULL);
    }
  }
  fprintf(stderr, "random garbage: %d of 200000 accepted (corrupted-but-valid)\n", accepted);
  free(valid);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0) seeds_dir = argv[2];
  test_roundtrip_all_types();
  test_rejections();
  test_field_rules();
  test_random_garbage();
  CHECK_STR(zr_frame_strerror(ZR_FRAME_EJOB), "wrong_job");
  return TEST_DONE();
}
