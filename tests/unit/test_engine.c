/* test_engine.c: the continuous-batching generation engine (actor/engine.h) on a tiny random
 * Qwen2 model with a byte-level tokenizer (256 byte tokens + 3 specials, built in memory):
 *   - many requests (different prompt lengths, G = 4, n_slots < total samples, mixed sampling
 *     settings) give exactly the tokens, log-probs (<= 1e-5) and finish reasons of one-request-at-
 *     a-time zr_tf_generate with the same seeds, while slots are refilled and groups admitted
 *     partially;
 *   - EOS, stop strings (spanning tokens; cut after the token completing it; text), LENGTH from
 *     max_new_tokens, from a full slot and max_new_tokens = 0;
 *   - a version switch mid-generation is recorded per token; cancel (queued, running, finished);
 *     admission pause; bad requests; zr_kv_copy_slot gives the same logits as a fresh prefill. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "actor/engine.h"
#include "common/error.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "tests/test.h"

#define VOCAB 272 /* 259 tokenizer ids + unused rows, so vocab_limit matters */
#define NTOK 259

/* ---- fixtures ------------------------------------------------------------------------------- */

static int printable(unsigned b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

static unsigned byte_cp(unsigned b) {
  if (printable(b)) return b;
  unsigned n = 0;
  for (unsigned c = 0; c < b; c++) n += !printable(c);
  return 256 + n;
}

static zr_tok *byte_tokenizer(void) {
  size_t cap = 1 << 16, n = 0;
  char *j = malloc(cap);
  n += (size_t)snprintf(j + n, cap - n,
                        "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":["
                        "{\"id\":256,\"content\":\"<|endoftext|>\",\"single_word\":false,\"lstrip\":false,"
                        "\"rstrip\":false,\"normalized\":false,\"special\":true},"
                        "{\"id\":257,\"content\":\"<|im_start|>\",\"single_word\":false,\"lstrip\":false,"
                        "\"rstrip\":false,\"normalized\":false,\"special\":true},"
                        "{\"id\":258,\"content\":\"<|im_end|>\",\"single_word\":false,\"lstrip\":false,"
                        "\"rstrip\":false,\"normalized\":false,\"special\":true}],"
                        "\"normalizer\":null,"
                        "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,"
                        "\"use_regex\":true},"
                        "\"post_processor\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":false,"
                        "\"use_regex\":true},"
                        "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,"
                        "\"use_regex\":true},"
                        "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"
                        "\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,\"fuse_unk\":false,"
                        "\"byte_fallback\":false,\"ignore_merges\":false,\"vocab\":{");
  for (unsigned b = 0; b < 256; b++) {
    unsigned cp = byte_cp(b);
    char s[8];
    if (cp == '"' || cp == '\\') snprintf(s, sizeof s, "\\%c", (char)cp);
    else if (cp < 0x80) snprintf(s, sizeof s, "%c", (char)cp);
    else snprintf(s, sizeof s, "%c%c", (char)(0xC0 | (cp >> 6)), (char)(0x80 | (cp & 0x3F)));
    n += (size_t)snprintf(j + n, cap - n, "%s\"%s\":%u", b ? "," : "", s, b);
  }
  n += (size_t)snprintf(j + n, cap - n, "},\"merges\":[]}}");
  const char *cfg = "{\"add_bos_token\":false,\"eos_token\":\"<|im_end|>\",\"pad_token\":\"<|endoftext|>\"}";
  zr_tok *tok = NULL;
  int rc = zr_tok_parse(&tok, j, n, cfg, strlen(cfg), "test byte tokenizer");
  if (rc) fprintf(stderr, "tokenizer: %s\n", zr_errmsg());
  free(j);
  return tok;
}

static zr_tf *tiny_model(zr_backend *be) {
  zr_model_config c = {0};
  c.arch = ZR_ARCH_QWEN2;
  c.vocab_size = VOCAB;
  c.hidden_size = 64;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 16;
  c.intermediate_size = 128;
  c.max_position_embeddings = 512;
  c.rope_theta = 10000;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = true;
  c.attention_bias = true;
  c.bos_token_id = -1;
  c.torch_dtype = ZR_DT_F32;
  zr_tf *m = NULL;
  if (zr_tf_new(&m, &c, be) || zr_tf_init_random(m, 7, 0.2f)) {
    fprintf(stderr, "model: %s\n", zr_errmsg());
    zr_tf_free(&m);
  }
  return m;
}

static uint64_t rnd_state = 12345;
static unsigned rnd(unsigned n) {
  rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (unsigned)(rnd_state >> 33) % n;
}

/* The reference: request alone through zr_tf_generate (G sequences, seq ids first + k). */
typedef struct {
  int *tok;
  float *lp;
  zr_gen_result *res;
} ref_out;

static void reference(zr_tf *m, int kv_max_len, const zr_engine_request *q, const int *eos, int n_eos, int vl,
                      ref_out *o) {
  int G = q->n_samples, mx = q->max_new_tokens > 0 ? q->max_new_tokens : 1;
  int *lens = malloc(G * sizeof(int)), *pr = malloc((size_t)G * q->prompt_len * sizeof(int));
  uint64_t *ids = malloc(G * sizeof(uint64_t));
  for (int k = 0; k < G; k++) {
    lens[k] = q->prompt_len;
    memcpy(pr + (size_t)k * q->prompt_len, q->prompt, q->prompt_len * sizeof(int));
    ids[k] = q->first_sample_index + (uint64_t)k;
  }
  o->tok = calloc((size_t)G * mx, sizeof(int));
  o->lp = calloc((size_t)G * mx, sizeof(float));
  o->res = calloc(G, sizeof(zr_gen_result));
  zr_gen_config g = {.max_new_tokens = q->max_new_tokens, .sampling = q->sampling, .seed = q->seed,
                     .stop_ids = eos, .n_stop = n_eos, .vocab_limit = vl};
  zr_kvcache *c = NULL;
  if (kv_max_len) CHECK_INT(zr_kv_new(&c, m, G, kv_max_len), 0);
  CHECK_INT(zr_tf_generate(m, c, G, lens, pr, ids, &g, o->tok, o->lp, o->res), 0);
  zr_kv_free(&c);
  free(lens);
  free(pr);
  free(ids);
}

static void ref_free(ref_out *o) {
  free(o->tok);
  free(o->lp);
  free(o->res);
}

/* Compares an engine output with the reference sample. */
static void check_same(const zr_engine_output *out, const zr_engine_request *q, const ref_out *r, uint64_t version) {
  int k = (int)(out->sample_index - q->first_sample_index), mx = q->max_new_tokens > 0 ? q->max_new_tokens : 1;
  CHECK(k >= 0 && k < q->n_samples);
  if (k < 0 || k >= q->n_samples) return;
  CHECK_INT(out->n_tokens, r->res[k].n_tokens);
  int n = out->n_tokens < r->res[k].n_tokens ? out->n_tokens : r->res[k].n_tokens, tok_ok = 1, ver_ok = 1;
  double md = 0;
  for (int i = 0; i < n; i++) {
    tok_ok &= out->tokens[i] == r->tok[(size_t)k * mx + i];
    double d = fabs((double)out->logprobs[i] - r->lp[(size_t)k * mx + i]);
    if (!(d <= md)) md = d;
    ver_ok &= out->versions[i] == version;
  }
  CHECK(tok_ok);
  if (!(md <= 1e-5)) fprintf(stderr, "logprob diff %g (req %llu k %d n %d lp0 %g vs %g)\n", md, (unsigned long long)out->req_id, k, n, n ? out->logprobs[0] : 0.0, n ? r->lp[(size_t)k * mx] : 0.0);
  CHECK(md <= 1e-5);
  CHECK(ver_ok);
  int want = r->res[k].finish == ZR_FINISH_STOP ? ZR_ENGINE_FINISH_EOS : ZR_ENGINE_FINISH_LENGTH;
  CHECK_INT(out->finish, want);
}

static int run_to_idle(zr_engine *e, int limit) {
  int steps = 0, a;
  while ((a = zr_engine_step(e)) > 0 && steps < limit) steps++;
  CHECK(a >= 0);
  return steps;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_kv_copy(zr_tf *m) {
  zr_kvcache *c = NULL;
  CHECK_INT(zr_kv_new(&c, m, 3, 32), 0);
  int prompt[7] = {5, 9, 200, 17, 3, 44, 100}, s0 = 0, s1 = 1, len = 7;
  float *l0 = malloc(3 * VOCAB * sizeof(float)), *l1 = malloc(3 * VOCAB * sizeof(float));
  CHECK_INT(zr_tf_prefill(m, c, 1, &s0, &len, prompt, l0), 0);
  CHECK_INT(zr_tf_prefill(m, c, 1, &s1, &len, prompt, l1), 0);
  CHECK_INT(zr_kv_copy_slot(c, 2, 0), 0);
  CHECK_INT(zr_kv_len(c, 2), 7);
  CHECK_INT(zr_kv_copy_slot(c, 0, 0), 0);
  CHECK(zr_kv_copy_slot(c, 3, 0) == -EINVAL);
  CHECK(zr_kv_copy_slot(c, 0, -1) == -EINVAL);
  /* decode two tokens in all three slots: copied slot 2 == prefilled slots */
  int slots[3] = {0, 1, 2}, toks[3] = {42, 42, 42};
  for (int step = 0; step < 2; step++) {
    CHECK_INT(zr_tf_decode(m, c, 3, slots, toks, l0), 0);
    CHECK(memcmp(l0, l0 + 2 * VOCAB, VOCAB * sizeof(float)) == 0);
    double md = 0;
    for (int i = 0; i < VOCAB; i++) md = fmax(md, fabs(l0[i] - l0[VOCAB + i]));
  CHECK(md <= 1e-5);
    toks[0] = toks[1] = toks[2] = 7;
  }
  /* copying a shorter slot over a longer one truncates it */
  zr_kv_clear(c, 1);
  CHECK_INT(zr_tf_prefill(m, c, 1, &s1, (int[]){2}, prompt, NULL), 0);
  CHECK_INT(zr_kv_copy_slot(c, 0, 1), 0);
  CHECK_INT(zr_kv_len(c, 0), 2);
  free(l0);
  free(l1);
  zr_kv_free(&c);
}

static void test_equivalence(zr_tf *m, const zr_tok *tok) {
  enum { R = 14, G = 4 };
  int eos[3] = {258, 10, 33};
  zr_engine_cfg cfg = {.n_slots = 6, .max_len = 96, .eos_ids = eos, .n_eos = 3, .vocab_limit = NTOK,
                       .initial_version = 3};
  zr_engine *e = NULL;
  CHECK_INT(zr_engine_new(&e, m, tok, &cfg), 0);
  if (!e) return;
  zr_engine_request q[R];
  int32_t prompts[R][40];
  ref_out ref[R];
  for (int r = 0; r < R; r++) {
    int pl = 1 + (int)rnd(39);
    for (int i = 0; i < pl; i++) prompts[r][i] = (int32_t)rnd(NTOK);
    zr_sampling s = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0};
    if (r % 4 == 1) s.top_p = 0.9f, s.temperature = 0.7f;
    if (r % 4 == 2) s.top_k = 20;
    if (r % 7 == 3) s.temperature = 0; /* greedy: all samples equal */
    q[r] = (zr_engine_request){.req_id = 1000 + r, .prompt = prompts[r], .prompt_len = pl, .n_samples = G,
                               .first_sample_index = (uint32_t)(r % 3) * 8, .sampling = s,
                               .max_new_tokens = 4 + (int)rnd(40), .seed = 99 + (uint64_t)r};
    if (r == 5) q[r].n_samples = 7; /* more samples than slots: admitted in parts */
    reference(m, 0, &q[r], eos, 3, NTOK, &ref[r]);
  }
  /* submit half, run a bit, submit the rest while running (continuous batching) */
  for (int r = 0; r < R / 2; r++) CHECK_INT(zr_engine_submit(e, &q[r]), 0);
  int got[R] = {0}, steps = 0, a;
  zr_engine_output out;
  for (int i = 0; i < 5; i++) {
    CHECK(zr_engine_step(e) > 0);
    steps++;
  }
  for (int r = R / 2; r < R; r++) CHECK_INT(zr_engine_submit(e, &q[r]), 0);
  zr_engine_stats_t st;
  zr_engine_stats(e, &st);
  CHECK_INT(st.active, 6);
  CHECK(st.queued_samples > 0);
  int eos_seen = 0, len_seen = 0;
  do {
    a = zr_engine_step(e);
    CHECK(a >= 0);
    steps++;
    while (zr_engine_poll(e, &out) == 1) {
      int r = (int)(out.req_id - 1000);
      CHECK(r >= 0 && r < R);
      if (r < 0 || r >= R) continue;
      got[r]++;
      check_same(&out, &q[r], &ref[r], 3);
      eos_seen += out.finish == ZR_ENGINE_FINISH_EOS;
      len_seen += out.finish == ZR_ENGINE_FINISH_LENGTH;
      CHECK(out.text != NULL);
      zr_tok_text t;
      zr_tok_text_init(&t);
      zr_tok_decode(tok, out.tokens, (size_t)out.n_tokens, 1, &t);
      CHECK(out.text_len == t.len && memcmp(out.text, t.s ? t.s : "", t.len) == 0);
      zr_tok_text_release(&t);
      CHECK(out.queue_ms >= 0 && out.generate_ms >= 0);
    }
  } while (a > 0 && steps < 10000);
  for (int r = 0; r < R; r++) CHECK_INT(got[r], q[r].n_samples);
  CHECK(eos_seen > 0);
  CHECK(len_seen > 0);
  zr_engine_stats(e, &st);
  CHECK_INT(st.active, 0);
  CHECK_INT(st.queued_samples, 0);
  CHECK_INT(st.finished_pending, 0);
  double occ = (double)st.occupancy_sum / (double)st.decode_steps;
  fprintf(stderr, "equivalence: %d steps, %llu decode calls, mean batch %.2f of 6, %llu prefills, %llu tokens\n", steps,
          (unsigned long long)st.decode_steps, occ, (unsigned long long)st.prefills,
          (unsigned long long)st.tokens_generated);
  CHECK(occ > 4.0); /* slots are refilled as sequences finish */
  CHECK(st.prefills >= R && st.prefills < (uint64_t)(R - 1) * G + 7); /* prefix sharing: fewer prefills than samples */
  for (int r = 0; r < R; r++) ref_free(&ref[r]);
  zr_engine_free(&e);
  CHECK(e == NULL);
}

/* LENGTH from a full slot (engine max_len) matches zr_tf_generate on a cache of the same size;
 * max_new_tokens = 0 finishes at once. */
static void test_length(zr_tf *m) {
  zr_engine_cfg cfg = {.n_slots = 3, .max_len = 16, .n_eos = 0};
  zr_engine *e = NULL;
  CHECK_INT(zr_engine_new(&e, m, NULL, &cfg), 0);
  if (!e) return;
  int32_t p[16];
  for (int i = 0; i < 16; i++) p[i] = (int32_t)(i * 13 % 256);
  zr_engine_request q = {.req_id = 1, .prompt = p, .prompt_len = 10, .n_samples = 2, .sampling = {1.0f, 0, 1.0f, 0},
                         .max_new_tokens = 30, .seed = 5};
  zr_engine_request full = q;
  full.req_id = 2, full.prompt_len = 16, full.n_samples = 1;
  zr_engine_request zero = q;
  zero.req_id = 3, zero.max_new_tokens = 0;
  ref_out ref, ref_full;
  reference(m, 16, &q, NULL, 0, VOCAB, &ref);
  reference(m, 16, &full, NULL, 0, VOCAB, &ref_full);
  CHECK_INT(zr_engine_submit(e, &q), 0);
  CHECK_INT(zr_engine_submit(e, &full), 0);
  CHECK_INT(zr_engine_submit(e, &zero), 0);
  run_to_idle(e, 100);
  zr_engine_output out;
  int n = 0;
  while (zr_engine_poll(e, &out) == 1) {
    n++;
    CHECK(out.text == NULL);
    CHECK_INT(out.finish, ZR_ENGINE_FINISH_LENGTH);
    if (out.req_id == 1) {
      CHECK_INT(out.n_tokens, 7); /* 16 - 10 + 1: the last token is not appended */
      check_same(&out, &q, &ref, 0);
    } else if (out.req_id == 2) {
      CHECK_INT(out.n_tokens, 1);
      check_same(&out, &full, &ref_full, 0);
    } else {
      CHECK_INT(out.req_id, 3);
      CHECK_INT(out.n_tokens, 0);
    }
  }
  CHECK_INT(n, 5);
  /* bad requests */
  zr_engine_request bad = q;
  bad.req_id = 9, bad.prompt_len = 17;
  CHECK_INT(zr_engine_submit(e, &bad), -EINVAL);
  bad.prompt_len = 0;
  CHECK_INT(zr_engine_submit(e, &bad), -EINVAL);
  bad = q, bad.req_id = 9, bad.n_samples = 0;
  CHECK_INT(zr_engine_submit(e, &bad), -EINVAL);
  int32_t badp[1] = {VOCAB};
  bad = q, bad.req_id = 9, bad.prompt = badp, bad.prompt_len = 1;
  CHECK_INT(zr_engine_submit(e, &bad), -EINVAL);
  bad = q, bad.req_id = 9, bad.sampling.top_p = 0;
  CHECK_INT(zr_engine_submit(e, &bad), -EINVAL);
  q.req_id = 11;
  CHECK_INT(zr_engine_submit(e, &q), 0);
  CHECK_INT(zr_engine_submit(e, &q), -EEXIST);
  ref_free(&ref);
  ref_free(&ref_full);
  zr_engine_free(&e); /* with a request queued: freed too */
}

/* Stop strings: greedy reference without stops, then a stop string taken from its bytes. */
static void test_stop(zr_tf *m, const zr_tok *tok) {
  zr_engine_cfg cfg = {.n_slots = 4, .max_len = 128, .n_eos = -1, .vocab_limit = 256};
  zr_engine *e = NULL;
  CHECK_INT(zr_engine_new(&e, m, tok, &cfg), 0);
  if (!e) return;
  int32_t p[5] = {72, 101, 108, 108, 111};
  zr_engine_request q = {.req_id = 1, .prompt = p, .prompt_len = 5, .n_samples = 2, .sampling = {0, 0, 1.0f, 0},
                         .max_new_tokens = 40, .seed = 1};
  CHECK_INT(zr_engine_submit(e, &q), 0);
  run_to_idle(e, 100);
  zr_engine_output out;
  CHECK_INT(zr_engine_poll(e, &out), 1);
  CHECK_INT(out.n_tokens, 40);
  int32_t full[40];
  memcpy(full, out.tokens, sizeof full);
  CHECK_INT(zr_engine_poll(e, &out), 1);
  CHECK_INT(zr_engine_poll(e, &out), 0);
  /* the stop string: bytes of tokens 6 and 7 (spans two tokens); where it first completes */
  char stop[3] = {(char)full[6], (char)full[7], 0}, stop2[2] = {(char)full[30], 0};
  int cut = -1;
  for (int i = 1; i < 40 && cut < 0; i++)
    if ((char)full[i - 1] == stop[0] && (char)full[i] == stop[1]) cut = i + 1;
  for (int i = 0; i < 40 && cut > 0; i++)
    if ((char)full[i] == stop2[0] && i + 1 < cut) cut = i + 1;
  if (!stop[0] || !stop[1] || !stop2[0]) {
    fprintf(stderr, "stop test: NUL byte in the greedy text; skipping the stop checks\n");
  } else {
    const char *stops[3] = {"", stop, stop2};
    q.req_id = 2, q.stop = stops, q.n_stop = 3;
    CHECK_INT(zr_engine_submit(e, &q), 0);
    run_to_idle(e, 100);
    for (int s = 0; s < 2; s++) {
      CHECK_INT(zr_engine_poll(e, &out), 1);
      CHECK_INT(out.finish, ZR_ENGINE_FINISH_STOP);
      CHECK_INT(out.n_tokens, cut);
      CHECK(memcmp(out.tokens, full, (size_t)cut * sizeof(int32_t)) == 0);
      zr_tok_text t;
      zr_tok_text_init(&t);
      zr_tok_decode(tok, full, (size_t)cut, 1, &t);
      CHECK(out.text && out.text_len == t.len && memcmp(out.text, t.s, t.len) == 0);
      zr_tok_text_release(&t);
    }
  }
  /* EOS from the tokenizer (n_eos = -1: <|im_end|> = 258): force it with vocab ids only 258? Use a
   * request whose greedy output we know: make the eos list explicit instead. */
  zr_engine_free(&e);
  int eos[1] = {full[3]};
  zr_engine_cfg c2 = {.n_slots = 2, .max_len = 128, .eos_ids = eos, .n_eos = 1, .vocab_limit = 256};
  CHECK_INT(zr_engine_new(&e, m, tok, &c2), 0);
  if (!e) return;
  q.req_id = 3, q.stop = NULL, q.n_stop = 0, q.n_samples = 1;
  CHECK_INT(zr_engine_submit(e, &q), 0);
  run_to_idle(e, 100);
  CHECK_INT(zr_engine_poll(e, &out), 1);
  int first = 0;
  while (full[first] != eos[0]) first++;
  CHECK_INT(out.finish, ZR_ENGINE_FINISH_EOS);
  CHECK_INT(out.n_tokens, first + 1);
  zr_engine_free(&e);
}

static void test_version_cancel_pause(zr_tf *m) {
  zr_engine_cfg cfg = {.n_slots = 4, .max_len = 64, .n_eos = 0, .initial_version = 1};
  zr_engine *e = NULL;
  CHECK_INT(zr_engine_new(&e, m, NULL, &cfg), 0);
  if (!e) return;
  int32_t p[6] = {1, 2, 3, 4, 5, 6};
  zr_engine_request q = {.req_id = 1, .prompt = p, .prompt_len = 6, .n_samples = 2, .sampling = {1.0f, 0, 1.0f, 0},
                         .max_new_tokens = 12, .seed = 77};
  ref_out ref;
  reference(m, 0, &q, NULL, 0, VOCAB, &ref);
  CHECK_INT(zr_engine_submit(e, &q), 0);
  for (int i = 0; i < 3; i++) CHECK_INT(zr_engine_step(e), 2); /* 1 prefill token + 3 decodes */
  zr_engine_set_version(e, 7);
  CHECK(zr_engine_version(e) == 7);
  run_to_idle(e, 100);
  zr_engine_output out;
  for (int s = 0; s < 2; s++) {
    CHECK_INT(zr_engine_poll(e, &out), 1);
    CHECK_INT(out.n_tokens, 12);
    int ok = 1;
    for (int i = 0; i < out.n_tokens; i++) ok &= out.versions[i] == (i < 4 ? 1u : 7u);
    CHECK(ok);
    int k = (int)out.sample_index;
    CHECK(memcmp(out.tokens, ref.tok + k * 12, 12 * sizeof(int)) == 0);
  }
  CHECK_INT(zr_engine_poll(e, &out), 0);
  ref_free(&ref);

  /* admission pause: nothing admitted, step returns 0 with the queue held */
  zr_engine_set_admit(e, false);
  q.req_id = 2;
  CHECK_INT(zr_engine_submit(e, &q), 0);
  CHECK_INT(zr_engine_step(e), 0);
  zr_engine_stats_t st;
  zr_engine_stats(e, &st);
  CHECK_INT(st.queued_samples, 2);
  CHECK_INT(st.active, 0);
  CHECK(!st.admitting);
  zr_engine_set_admit(e, true);
  CHECK_INT(zr_engine_step(e), 2);
  /* pause while running: running ones finish, then 0 */
  zr_engine_set_admit(e, false);
  q.req_id = 3;
  CHECK_INT(zr_engine_submit(e, &q), 0);
  run_to_idle(e, 100);
  zr_engine_stats(e, &st);
  CHECK_INT(st.active, 0);
  CHECK_INT(st.queued_samples, 2);
  CHECK_INT(st.finished_pending, 2);
  /* cancel: a finished-but-unpolled request, a queued one, a running one, an unknown id */
  CHECK_INT(zr_engine_cancel(e, 2), 2);
  CHECK_INT(zr_engine_cancel(e, 3), 2);
  CHECK_INT(zr_engine_cancel(e, 12345), 0);
  CHECK_INT(zr_engine_poll(e, &out), 0);
  zr_engine_set_admit(e, true);
  q.req_id = 4, q.n_samples = 3;
  CHECK_INT(zr_engine_submit(e, &q), 0);
  zr_engine_request q5 = q;
  q5.req_id = 5, q5.n_samples = 3;
  CHECK_INT(zr_engine_submit(e, &q5), 0);
  zr_engine_stats(e, &st);
  uint64_t pf = st.prefills;
  CHECK_INT(zr_engine_step(e), 4); /* 3 of request 4 and 1 of request 5 */
  zr_engine_stats(e, &st);
  CHECK(st.prefills == pf + 2); /* one prefill per request, shared by its samples */
  CHECK_INT(zr_engine_free_slots(e), 0);
  CHECK_INT(zr_engine_cancel(e, 4), 3);
  CHECK_INT(zr_engine_free_slots(e), 3);
  CHECK_INT(zr_engine_step(e), 3); /* the rest of request 5 joins (its prompt prefilled again) */
  zr_engine_stats(e, &st);
  CHECK(st.prefills == pf + 3);
  run_to_idle(e, 100);
  int n = 0;
  while (zr_engine_poll(e, &out) == 1) {
    CHECK(out.req_id == 5);
    n++;
  }
  CHECK_INT(n, 3);
  zr_engine_stats(e, &st);
  CHECK(st.samples_cancelled >= 7);
  /* cancel with a request running and queued, then free the engine with it running */
  q.req_id = 6;
  CHECK_INT(zr_engine_submit(e, &q), 0);
  CHECK(zr_engine_step(e) > 0);
  zr_engine_free(&e);
}

int main(void) {
  zr_backend *be = NULL;
  CHECK_INT(zr_backend_cpu_new(&be, 2), 0);
  zr_tok *tok = byte_tokenizer();
  CHECK(tok != NULL);
  zr_tf *m = be ? tiny_model(be) : NULL;
  CHECK(m != NULL);
  if (m && tok) {
    test_kv_copy(m);
    test_equivalence(m, tok);
    test_length(m);
    test_stop(m, tok);
    test_version_cancel_pause(m);
  }
  zr_tf_free(&m);
  zr_tok_free(&tok);
  zr_backend_free(&be);
  return TEST_DONE();
}
