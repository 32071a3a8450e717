/* test_tasks: learner/tasks.h. Loading every task kind (prompt and messages forms), every bad
 * input with its "PATH:LINE: FIELD: reason" message, task <-> JSON round trips, the prompt
 * templates, SFT files, dataset order (epochs, shuffle, determinism in the seed, cursor resume
 * giving the identical sequence, cursor JSON), and the task files the importers make from the
 * shared data ($ZERORL_SHARED_DATA, default $ZERORL_SOURCE_DIR/../shared/data; skipped when
 * absent). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "learner/tasks.h"
#include "reward/importers.h"
#include "tests/test.h"

static char tmpdir[256];

static const char *write_tmp(const char *name, const char *text) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "w");
  if (!f) return NULL;
  fputs(text, f);
  fclose(f);
  return path;
}

static const char good[] =
    "{\"id\": \"m1\", \"prompt\": \"What is 2+2?\", \"kind\": \"math\", \"answer\": \"4\", \"subject\": \"x\"}\n"
    "\n"
    "{\"id\": \"e1\", \"prompt\": \"12+30=\", \"kind\": \"exact\", \"answer\": 42, \"extractor\": \"answer\"}\r\n"
    "{\"id\": \"c1\", \"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", "
    "\"content\": \"Add.\"}], \"kind\": \"code\", \"tests\": {\"type\": \"stdio\", \"cases\": [{\"input\": \"1 2\\n\", "
    "\"output\": \"3\\n\"}]}}\n"
    "{\"id\": \"c2\", \"prompt\": \"def f(): ...\", \"kind\": \"code\", \"language\": \"cpp\", \"tests\": "
    "{\"type\": \"assert\", \"code\": \"assert f() == 1\", \"entry_point\": \"f\"}}\n"
    "   \n"
    "{\"id\": \"n1\", \"prompt\": \"Make 24\", \"kind\": \"countdown\", \"numbers\": [3, 8, 1], \"target\": 24}\n";

static void test_load_kinds(void) {
  const char *path = write_tmp("good.jsonl", good);
  zr_taskset *s = NULL;
  CHECK_INT(zr_taskset_load(&s, path), 0);
  if (!s) {
    fprintf(stderr, "load: %s\n", zr_errmsg());
    return;
  }
  CHECK_INT(zr_taskset_count(s), 5);
  const zr_task *t = zr_taskset_get(s, 0);
  CHECK_STR(t->id, "m1");
  CHECK_INT(t->kind, ZR_TASK_MATH);
  CHECK_STR(t->prompt, "What is 2+2?");
  CHECK_STR(t->answer, "4");
  CHECK(t->extractor == NULL && t->tests_json == NULL && t->numbers == NULL);
  t = zr_taskset_get(s, 1);
  CHECK_INT(t->kind, ZR_TASK_EXACT);
  CHECK_STR(t->answer, "42"); /* numbers become text */
  CHECK_STR(t->extractor, "answer");
  t = zr_taskset_get(s, 2);
  CHECK_INT(t->kind, ZR_TASK_CODE);
  CHECK(t->prompt == NULL);
  CHECK_INT(t->n_messages, 2);
  CHECK_STR(t->messages[1].role, "user");
  CHECK_STR(zr_task_prompt_text(t), "Add.");
  CHECK_STR(t->language, "python3");
  CHECK_STR(t->tests_json, "{\"type\":\"stdio\",\"cases\":[{\"input\":\"1 2\\n\",\"output\":\"3\\n\"}]}");
  t = zr_taskset_get(s, 3);
  CHECK_STR(t->language, "cpp");
  t = zr_taskset_get(s, 4);
  CHECK_INT(t->kind, ZR_TASK_COUNTDOWN);
  CHECK_INT(t->n_numbers, 3);
  CHECK_INT(t->numbers[1], 8);
  CHECK_INT(t->target, 24);
  zr_reward_task rv;
  zr_task_reward_view(t, &rv);
  CHECK(rv.kind == ZR_TASK_COUNTDOWN && rv.numbers == t->numbers && rv.n_numbers == 3 && rv.target == 24);
  CHECK_INT(zr_taskset_find(s, "c2"), 3);
  CHECK_INT(zr_taskset_find(s, "nope"), -1);

  /* round trip through JSON, and zr_taskset_add */
  zr_taskset *s2 = NULL;
  CHECK_INT(zr_taskset_new(&s2), 0);
  for (size_t i = 0; i < zr_taskset_count(s); i++) {
    char *line = NULL;
    CHECK_INT(zr_task_to_json(zr_taskset_get(s, i), &line), 0);
    json_t *o = json_loads(line, 0, NULL);
    zr_task back;
    CHECK(o != NULL);
    CHECK_INT(zr_task_from_json(o, "roundtrip", &back), 0);
    char *line2 = NULL;
    CHECK_INT(zr_task_to_json(&back, &line2), 0);
    CHECK_STR(line2, line);
    CHECK_INT(zr_taskset_add(s2, &back), 0);
    zr_task_release(&back);
    json_decref(o);
    free(line);
    free(line2);
  }
  char *l = NULL;
  zr_task_to_json(zr_taskset_get(s, 4), &l);
  CHECK_STR(l, "{\"id\":\"n1\",\"prompt\":\"Make 24\",\"kind\":\"countdown\",\"numbers\":[3,8,1],\"target\":24}");
  free(l);
  CHECK_INT(zr_taskset_count(s2), 5);
  CHECK_INT(zr_taskset_add(s2, zr_taskset_get(s, 0)), -EEXIST);
  CHECK_CONTAINS(zr_errmsg(), "duplicate id 'm1'");
  zr_task bad = *zr_taskset_get(s, 0);
  bad.id = "m-new";
  bad.answer = NULL;
  CHECK_INT(zr_taskset_add(s2, &bad), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "answer: missing");
  /* growth keeps lookups right */
  for (int i = 0; i < 1000; i++) {
    zr_task t2 = *zr_taskset_get(s, 0);
    char id[32];
    snprintf(id, sizeof id, "gen-%d", i);
    t2.id = id;
    CHECK_INT(zr_taskset_add(s2, &t2), 0);
  }
  CHECK_INT(zr_taskset_count(s2), 1005);
  CHECK_INT(zr_taskset_find(s2, "gen-777"), 5 + 777);
  CHECK_INT(zr_taskset_find(s2, "c1"), 2);
  zr_taskset_free(&s2);
  CHECK(s2 == NULL);
  zr_taskset_free(&s);
  CHECK(s == NULL);
}

/* one bad line after a good one: the error names path:2 and the field */
static void bad_line(const char *line, const char *want) {
  char text[4096];
  snprintf(text, sizeof text, "{\"id\": \"ok\", \"prompt\": \"p\", \"kind\": \"math\", \"answer\": \"1\"}\n%s\n", line);
  const char *path = write_tmp("bad.jsonl", text);
  char where[600];
  snprintf(where, sizeof where, "%s:2: %s", path, want);
  zr_taskset *s = (zr_taskset *)1;
  zr_clearerr();
  int rc = zr_taskset_load(&s, path);
  CHECK_INT(rc, -EINVAL);
  CHECK(s == NULL);
  CHECK_CONTAINS(zr_errmsg(), where);
}

static void test_errors(void) {
  bad_line("{\"id\": \"x\", \"prompt\": ", "json: invalid JSON");
  bad_line("[1, 2]", "line: expected a JSON object");
  bad_line("{\"prompt\": \"p\", \"kind\": \"math\", \"answer\": \"1\"}", "id: missing");
  bad_line("{\"id\": [1], \"prompt\": \"p\", \"kind\": \"math\", \"answer\": \"1\"}", "id: must be a string");
  bad_line("{\"id\": \"\", \"prompt\": \"p\", \"kind\": \"math\", \"answer\": \"1\"}", "id: must not be empty");
  bad_line("{\"id\": \"x\", \"kind\": \"math\", \"answer\": \"1\"}", "prompt: missing");
  bad_line("{\"id\": \"x\", \"prompt\": 3, \"kind\": \"math\", \"answer\": \"1\"}", "prompt: must be a string");
  bad_line("{\"id\": \"x\", \"prompt\": \"a\\u0000b\", \"kind\": \"math\", \"answer\": \"1\"}", "json: invalid JSON");
  bad_line("{\"id\": \"x\", \"prompt\": \"p\", \"answer\": \"1\"}", "kind: missing");
  bad_line("{\"id\": \"x\", \"prompt\": \"p\", \"kind\": \"poetry\", \"answer\": \"1\"}", "kind: unknown kind 'poetry'");
  bad_line("{\"id\": \"x\", \"prompt\": \"p\", \"kind\": \"math\"}", "answer: missing");
  bad_line("{\"id\": \"x\", \"prompt\": \"p\", \"kind\": \"exact\", \"answer\": \"\"}", "answer: must not be empty");
  bad_line("{\"id\": \"x\", \"prompt\": \"p\", \"kind\": \"exact\", \"answer\": [1]}", "answer: must be a string or a number");
  bad_line("{\"id\": \"x\", \"prompt\": \"p\", \"kind\": \"code\"}", "tests: missing");
  bad_line("{\"id\": \"x\", \"prompt\": \"p\", \"kind\": \"code\", \"tests\": []}", "tests: must be an object");
  bad_line("{\"id\": \"x\", \"prompt\": \"p\", \"kind\": \"code\", \"tests\": {\"cases\": []}}", "tests: missing string 'type'");
  bad_line("{\"id\": \"x\", \"prompt\": \"p\", \"kind\": \"countdown\", \"target\": 3}", "numbers: missing");
  bad_line("{\"id\": \"x\", \"prompt\": \"p\", \"kind\": \"countdown\", \"numbers\": [1, 2]}", "target: missing");
  bad_line("{\"id\": \"x\", \"prompt\": \"p\", \"kind\": \"countdown\", \"numbers\": [], \"target\": 1}", "numbers: must not be empty");
  bad_line("{\"id\": \"x\", \"prompt\": \"p\", \"kind\": \"countdown\", \"numbers\": [1, 2.5], \"target\": 1}",
           "numbers[1]: must be an integer");
  bad_line("{\"id\": \"x\", \"prompt\": \"p\", \"kind\": \"countdown\", \"numbers\": [1, -2], \"target\": 1}", "numbers: -2 out of range");
  bad_line("{\"id\": \"x\", \"prompt\": \"p\", \"kind\": \"countdown\", \"numbers\": [1], \"target\": 99999999999}", "target: 99999999999 out of range");
  bad_line("{\"id\": \"x\", \"prompt\": \"p\", \"kind\": \"countdown\", \"numbers\": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1], \"target\": 1}",
           "numbers: too many (17, limit 16)");
  bad_line("{\"id\": \"ok\", \"prompt\": \"p\", \"kind\": \"math\", \"answer\": \"1\"}", "id: duplicate id 'ok'");
  bad_line("{\"id\": \"x\", \"messages\": [], \"kind\": \"math\", \"answer\": \"1\"}", "messages: must not be empty");
  bad_line("{\"id\": \"x\", \"messages\": [{\"role\": \"user\"}], \"kind\": \"math\", \"answer\": \"1\"}", "messages[0].content: missing");
  bad_line("{\"id\": \"x\", \"messages\": [{\"role\": \"bot\", \"content\": \"c\"}], \"kind\": \"math\", \"answer\": \"1\"}",
           "messages[0].role: unknown role 'bot'");
  bad_line("{\"id\": \"x\", \"messages\": [{\"role\": \"system\", \"content\": \"c\"}], \"kind\": \"math\", \"answer\": \"1\"}",
           "messages: no user message");
  bad_line("{\"id\": \"x\", \"messages\": 5, \"kind\": \"math\", \"answer\": \"1\"}", "messages: must be an array");
  bad_line("{\"id\": \"x\", \"prompt\": \"p\", \"kind\": \"math\", \"answer\": \"1\", \"extractor\": \"magic\"}",
           "extractor: unknown extractor 'magic'");
  bad_line("{\"id\": \"x\", \"id\": \"y\", \"prompt\": \"p\", \"kind\": \"math\", \"answer\": \"1\"}", "json: invalid JSON");

  /* field size limits */
  size_t big = ZR_TASK_MAX_ID + 10;
  char *line = malloc(big + 200);
  strcpy(line, "{\"id\": \"");
  memset(line + 8, 'a', big);
  strcpy(line + 8 + big, "\", \"prompt\": \"p\", \"kind\": \"math\", \"answer\": \"1\"}");
  bad_line(line, "id: too long");
  free(line);
  size_t pb = ZR_TASK_MAX_PROMPT + 1;
  char *text = malloc(pb + 200);
  strcpy(text, "{\"id\": \"x\", \"kind\": \"math\", \"answer\": \"1\", \"prompt\": \"");
  size_t k = strlen(text);
  memset(text + k, 'p', pb);
  strcpy(text + k + pb, "\"}\n");
  const char *path = write_tmp("bigprompt.jsonl", text);
  zr_taskset *s = NULL;
  CHECK_INT(zr_taskset_load(&s, path), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), ":1: prompt: too long");
  free(text);
  /* line length: checked on the raw line before parsing (in-memory parser, 1 GiB-free) */
  size_t lb = (size_t)ZR_TASK_MAX_LINE + 1;
  char *huge = malloc(lb + 1);
  if (huge) {
    memset(huge, ' ', lb);
    huge[0] = '{';
    huge[lb] = '\0';
    CHECK_INT(zr_taskset_parse(&s, huge, lb, "mem"), -EINVAL);
    CHECK_CONTAINS(zr_errmsg(), "mem:1: line: too long");
    free(huge);
  }
  /* missing file */
  char missing[512];
  snprintf(missing, sizeof missing, "%s/nope.jsonl", tmpdir);
  CHECK_INT(zr_taskset_load(&s, missing), -ENOENT);
  CHECK_CONTAINS(zr_errmsg(), "nope.jsonl: cannot open");
  /* an empty file is an empty set */
  path = write_tmp("empty.jsonl", "\n\n");
  CHECK_INT(zr_taskset_load(&s, path), 0);
  CHECK_INT(zr_taskset_count(s), 0);
  zr_taskset_free(&s);
}

static void test_templates(void) {
  zr_template t;
  CHECK_INT(zr_template_parse("r1zero", &t), 0);
  CHECK_INT(t, ZR_TEMPLATE_R1ZERO);
  CHECK_INT(zr_template_parse("chatml", &t), 0);
  CHECK_INT(t, ZR_TEMPLATE_CHATML);
  CHECK_INT(zr_template_parse("raw", &t), 0);
  CHECK_INT(t, ZR_TEMPLATE_RAW);
  CHECK_INT(zr_template_parse("alpaca", &t), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "unknown prompt template 'alpaca'");
  CHECK_STR(zr_template_name(ZR_TEMPLATE_CHATML), "chatml");

  zr_task task;
  memset(&task, 0, sizeof task);
  task.id = "t";
  task.kind = ZR_TASK_EXACT;
  task.prompt = "64607+11332=";
  task.answer = "75939";
  char *out = NULL;
  CHECK_INT(zr_template_render(ZR_TEMPLATE_RAW, &task, &out), 0);
  CHECK_STR(out, "64607+11332=");
  free(out);
  CHECK_INT(zr_template_render(ZR_TEMPLATE_CHATML, &task, &out), 0);
  CHECK_STR(out, "<|im_start|>user\n64607+11332=<|im_end|>\n<|im_start|>assistant\n");
  free(out);
  CHECK_INT(zr_template_render(ZR_TEMPLATE_R1ZERO, &task, &out), 0);
  CHECK(strncmp(out, "A conversation between User and Assistant.", 42) == 0);
  CHECK_CONTAINS(out, "<think> reasoning process here </think> <answer> answer here </answer>");
  size_t n = strlen(out);
  const char *tail = "\nUser: 64607+11332=\nAssistant:";
  CHECK(n > strlen(tail) && strcmp(out + n - strlen(tail), tail) == 0);
  free(out);

  zr_message m[3] = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}};
  task.prompt = NULL;
  task.messages = m;
  task.n_messages = 2;
  CHECK_INT(zr_template_render(ZR_TEMPLATE_CHATML, &task, &out), 0);
  CHECK_STR(out, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  free(out);
  CHECK_INT(zr_template_render(ZR_TEMPLATE_RAW, &task, &out), 0);
  CHECK_STR(out, "Hi");
  free(out);
  CHECK_INT(zr_chatml_render(m, 3, false, &out), 0);
  CHECK_STR(out, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n");
  free(out);
}

static void test_sft(void) {
  const char *path = write_tmp("sft.jsonl",
                               "{\"prompt\": \"1+2=\", \"completion\": \"<think>1+2+0=3</think><answer>3</answer>\"}\n"
                               "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", "
                               "\"content\": \"Hello\"}]}\n");
  zr_sftset *s = NULL;
  CHECK_INT(zr_sftset_load(&s, path), 0);
  CHECK_INT(zr_sftset_count(s), 2);
  if (zr_sftset_count(s) == 2) {
    CHECK_STR(zr_sftset_get(s, 0)->prompt, "1+2=");
    CHECK_STR(zr_sftset_get(s, 0)->completion, "<think>1+2+0=3</think><answer>3</answer>");
    CHECK_STR(zr_sftset_get(s, 1)->prompt, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    CHECK_STR(zr_sftset_get(s, 1)->completion, "Hello<|im_end|>");
  }
  CHECK_INT(zr_sftset_add(s, "a", "b"), 0);
  CHECK_INT(zr_sftset_count(s), 3);
  zr_sftset_free(&s);
  CHECK(s == NULL);
  static const struct {
    const char *line, *want;
  } bad[] = {
      {"{\"prompt\": \"p\"}", ":2: completion: missing"},
      {"{\"completion\": \"c\"}", ":2: prompt: missing"},
      {"{\"prompt\": \"p\", \"completion\": 1}", ":2: completion: must be a string"},
      {"{\"prompt\": \"p\", \"completion\": \"\"}", ":2: completion: must not be empty"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}", ":2: messages: the last message must be the assistant's"},
      {"{\"messages\": [{\"role\": \"assistant\", \"content\": \"Hi\"}, {\"role\": \"user\", \"content\": \"x\"}]}",
       ":2: messages: the last message must be the assistant's"},
      {"nope", ":2: json: invalid JSON"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char text[1024];
    snprintf(text, sizeof text, "{\"prompt\": \"p\", \"completion\": \"c\"}\n%s\n", bad[i].line);
    CHECK_INT(zr_sftset_parse(&s, text, strlen(text), "sft.jsonl"), -EINVAL);
    CHECK_CONTAINS(zr_errmsg(), bad[i].want);
    CHECK(s == NULL);
  }
}

static void test_dataset(void) {
  zr_dataset d;
  CHECK_INT(zr_dataset_init(&d, 0, 1, 0, true), -EINVAL);
  /* no shuffle: 0..n-1 each epoch, then done */
  CHECK_INT(zr_dataset_init(&d, 5, 1, 2, false), 0);
  size_t idx;
  uint32_t ep;
  for (int e = 0; e < 2; e++)
    for (size_t i = 0; i < 5; i++) {
      CHECK_INT(zr_dataset_next(&d, &idx, &ep), 0);
      CHECK_INT(idx, i);
      CHECK_INT(ep, e);
    }
  CHECK_INT(zr_dataset_next(&d, &idx, &ep), 1);
  CHECK_INT(zr_dataset_next(&d, &idx, &ep), 1);

  /* shuffle: every epoch a permutation, epochs differ, seeds differ, same seed same order */
  const size_t sizes[] = {1, 2, 3, 7, 64, 100, 1000, 4097};
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
    size_t n = sizes[si];
    zr_dataset a, b, c;
    zr_dataset_init(&a, n, 42, 3, true);
    zr_dataset_init(&b, n, 42, 3, true);
    zr_dataset_init(&c, n, 43, 3, true);
    unsigned char *seen = calloc(n, 1);
    size_t *first = calloc(n, sizeof *first);
    int diff_epoch = 0, diff_seed = 0, moved = 0;
    for (uint32_t e = 0; e < 3; e++) {
      memset(seen, 0, n);
      for (size_t i = 0; i < n; i++) {
        size_t ia, ib, ic;
        uint32_t ea, eb, ec;
        CHECK_INT(zr_dataset_next(&a, &ia, &ea), 0);
        zr_dataset_next(&b, &ib, &eb);
        zr_dataset_next(&c, &ic, &ec);
        CHECK(ia < n);
        CHECK_INT(ea, e);
        CHECK(ia == ib && ea == eb);
        if (ia < n) {
          CHECK(!seen[ia]);
          seen[ia] = 1;
        }
        if (e == 0) first[i] = ia;
        else diff_epoch |= first[i] != ia;
        diff_seed |= ia != ic;
        moved |= ia != i;
      }
    }
    CHECK_INT(zr_dataset_next(&a, &idx, &ep), 1);
    if (n >= 7) CHECK(diff_epoch && diff_seed && moved);
    free(seen);
    free(first);
  }

  /* resume from a cursor (through JSON) anywhere gives the identical rest of the sequence */
  const size_t n = 37;
  zr_dataset ref;
  zr_dataset_init(&ref, n, 0xfeedfacecafebeefull, 4, true);
  size_t seq[4 * 37];
  for (size_t i = 0; i < 4 * n; i++) {
    uint32_t e;
    CHECK_INT(zr_dataset_next(&ref, &seq[i], &e), 0);
    CHECK_INT(e, i / n);
  }
  for (size_t stop = 0; stop <= 4 * n; stop += 5) {
    zr_dataset r1;
    zr_dataset_init(&r1, n, 0xfeedfacecafebeefull, 4, true);
    for (size_t i = 0; i < stop; i++) zr_dataset_next(&r1, &idx, &ep);
    zr_cursor cur;
    zr_dataset_get_cursor(&r1, &cur);
    json_t *j = zr_cursor_to_json(&cur);
    char *txt = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    json_t *j2 = json_loads(txt, 0, NULL);
    free(txt);
    zr_cursor back;
    CHECK_INT(zr_cursor_from_json(j2, &back), 0);
    json_decref(j2);
    CHECK(back.seed == cur.seed && back.epoch == cur.epoch && back.pos == cur.pos);
    zr_dataset r2;
    zr_dataset_init(&r2, n, 0 /* the cursor brings the seed */, 4, true);
    CHECK_INT(zr_dataset_set_cursor(&r2, &back), 0);
    for (size_t i = stop; i < 4 * n; i++) {
      CHECK_INT(zr_dataset_next(&r2, &idx, &ep), 0);
      CHECK_INT(idx, seq[i]);
    }
    CHECK_INT(zr_dataset_next(&r2, &idx, &ep), 1);
  }
  /* the order of an epoch is a pure function of (seed, epoch) */
  CHECK_INT(zr_dataset_index(&ref, 2, 5), seq[2 * n + 5]);

  /* cursor errors */
  zr_cursor bad = {1, 0, n + 1};
  CHECK_INT(zr_dataset_set_cursor(&ref, &bad), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "past the 37 tasks");
  zr_cursor late = {1, 5, 0};
  CHECK_INT(zr_dataset_set_cursor(&ref, &late), -EINVAL);
  zr_cursor end = {1, 3, n}; /* == epoch 4, pos 0: done */
  CHECK_INT(zr_dataset_set_cursor(&ref, &end), 0);
  CHECK_INT(zr_dataset_next(&ref, &idx, &ep), 1);
  zr_cursor bigseed = {UINT64_MAX, 7, 3}, rt;
  json_t *j = zr_cursor_to_json(&bigseed);
  CHECK(json_is_string(json_object_get(j, "seed")));
  CHECK_INT(zr_cursor_from_json(j, &rt), 0);
  CHECK(rt.seed == UINT64_MAX && rt.epoch == 7 && rt.pos == 3);
  json_decref(j);
  const char *bad_json[] = {"[]", "{\"epoch\": 0, \"pos\": 0}", "{\"seed\": -1, \"epoch\": 0, \"pos\": 0}",
                            "{\"seed\": \"12x\", \"epoch\": 0, \"pos\": 0}", "{\"seed\": 1, \"pos\": 0}",
                            "{\"seed\": 1, \"epoch\": 0, \"pos\": -3}", "{\"seed\": 1, \"epoch\": 5000000000, \"pos\": 0}"};
  for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++) {
    json_t *b = json_loads(bad_json[i], 0, NULL);
    CHECK_INT(zr_cursor_from_json(b, &rt), -EINVAL);
    CHECK_CONTAINS(zr_errmsg(), "dataset cursor");
    json_decref(b);
  }
}

/* the importers' output on the shared data loads as task sets */
static void test_shared(void) {
  const char *data = getenv("ZERORL_SHARED_DATA");
  char dir[1024];
  if (data) snprintf(dir, sizeof dir, "%s", data);
  else snprintf(dir, sizeof dir, "%s/../shared/data", getenv("ZERORL_SOURCE_DIR") ? getenv("ZERORL_SOURCE_DIR") : ".");
  if (access(dir, R_OK) != 0) {
    fprintf(stderr, "note: no shared data at %s; skipping the real datasets\n", dir);
    return;
  }
  static const struct {
    const char *file, *format;
    size_t n;
  } sets[] = {
      {"gsm8k/test.jsonl", "gsm8k", 1319},          {"math500/test.jsonl", "math", 500},
      {"aime2024/test.jsonl", "aime", 30},          {"humaneval/HumanEval.jsonl", "humaneval", 164},
      {"mbpp/sanitized-mbpp.jsonl", "mbpp", 427},   {"codecontests_sample/code_eval_code_contests.jsonl", "stdio", 0},
  };
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
    char in[1200], out[600];
    snprintf(in, sizeof in, "%s/%s", dir, sets[i].file);
    if (access(in, R_OK) != 0) continue;
    snprintf(out, sizeof out, "%s/imported-%zu.jsonl", tmpdir, i);
    FILE *f = fopen(out, "w");
    long n = 0;
    int rc = zr_import_file(zr_importer_find(sets[i].format), in, f, &n);
    fclose(f);
    CHECK_INT(rc, 0);
    zr_taskset *s = NULL;
    rc = zr_taskset_load(&s, out);
    if (rc) fprintf(stderr, "%s: %s\n", sets[i].file, zr_errmsg());
    CHECK_INT(rc, 0);
    CHECK_INT(zr_taskset_count(s), n);
    if (sets[i].n) CHECK_INT(n, sets[i].n);
    for (size_t k = 0; s && k < zr_taskset_count(s); k++) {
      char *r = NULL;
      CHECK_INT(zr_template_render(ZR_TEMPLATE_R1ZERO, zr_taskset_get(s, k), &r), 0);
      free(r);
    }
    zr_taskset_free(&s);
    unlink(out);
  }
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/zr-test-tasks-XXXXXX");
  if (!mkdtemp(tmpdir)) TEST_SKIP("cannot make a temporary directory");
  test_load_kinds();
  test_errors();
  test_templates();
  test_sft();
  test_dataset();
  test_shared();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", tmpdir);
  return TEST_DONE();
}
