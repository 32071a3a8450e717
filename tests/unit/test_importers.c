/* test_importers: reward/importers.h on small inline samples of every format (fields, key
 * order, ids, errors naming file, line and field), then on the shared data when it is present
 * ($ZERORL_SHARED_DATA, default $ZERORL_SOURCE_DIR/../shared/data): record counts, every math
 * task accepted by zr_reward_task_from_json and scoring its own gold answer as correct, the
 * MBPP entry points, and the first 5 HumanEval / MBPP reference solutions passing their imported
 * tests in the real sandbox. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "reward/codetest.h"
#include "reward/importers.h"
#include "reward/rewardjson.h"
#include "reward/rewards.h"
#include "tests/test.h"

/* converts one inline record; returns the compact line (caller frees) or NULL with the error */
static char *conv(const char *format, const char *record, long n) {
  const zr_importer *imp = zr_importer_find(format);
  if (!imp) return NULL;
  json_error_t e;
  json_t *rec = json_loads(record, 0, &e);
  if (!rec) {
    fprintf(stderr, "bad test record: %s\n", e.text);
    return NULL;
  }
  json_t *t = NULL;
  int rc = zr_import_record(imp, rec, n, &t);
  json_decref(rec);
  if (rc < 0) return NULL;
  char *s = json_dumps(t, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(t);
  return s;
}

#define CHECK_CONV(format, record, want)        \
  do {                                          \
    char *got_ = conv(format, record, 7);       \
    CHECK_STR(got_ ? got_ : zr_errmsg(), want); \
    free(got_);                                 \
  } while (0)

#define CHECK_CONV_ERR(format, record, needle) \
  do {                                         \
    char *got_ = conv(format, record, 7);      \
    CHECK(got_ == NULL);                       \
    CHECK_CONTAINS(zr_errmsg(), needle);       \
    free(got_);                                \
  } while (0)

static void test_table(void) {
  size_t n;
  const zr_importer *t = zr_importers(&n);
  CHECK_INT(n, 6);
  for (size_t i = 0; i < n; i++) CHECK(zr_importer_find(t[i].name) == &t[i]);
  CHECK(zr_importer_find("math500") == zr_importer_find("math"));
  CHECK(zr_importer_find("aime2024") == zr_importer_find("aime"));
  CHECK(zr_importer_find("codecontests") == zr_importer_find("stdio"));
  CHECK(zr_importer_find("apps") == NULL);
  CHECK(zr_importer_find(NULL) == NULL);
}

static void test_gsm8k(void) {
  CHECK_CONV("gsm8k", "{\"question\": \"How many?\", \"answer\": \"2+2=<<2+2=4>>4\\n#### 1,234\"}",
             "{\"id\":\"gsm8k-7\",\"prompt\":\"How many?\",\"kind\":\"math\",\"answer\":\"1234\"}");
  /* the last #### wins, spaces and \r trimmed */
  CHECK_CONV("gsm8k", "{\"question\": \"Q\", \"answer\": \"#### 1\\n#### -5 \\r\\n\"}",
             "{\"id\":\"gsm8k-7\",\"prompt\":\"Q\",\"kind\":\"math\",\"answer\":\"-5\"}");
  CHECK_CONV_ERR("gsm8k", "{\"question\": \"Q\", \"answer\": \"it is 4\"}", "field 'answer': no '#### '");
  CHECK_CONV_ERR("gsm8k", "{\"question\": \"Q\", \"answer\": \"#### ,\"}", "field 'answer': nothing after");
  CHECK_CONV_ERR("gsm8k", "{\"answer\": \"#### 4\"}", "field 'question': missing");
  CHECK_CONV_ERR("gsm8k", "{\"question\": 3, \"answer\": \"#### 4\"}", "field 'question': must be a string");
}

static void test_math(void) {
  CHECK_CONV("math",
             "{\"problem\": \"P\", \"solution\": \"so \\\\boxed{2}\", \"answer\": \"\\\\frac{1}{2}\", \"subject\": "
             "\"Algebra\", \"level\": 3, \"unique_id\": \"test/algebra/1.json\"}",
             "{\"id\":\"test/algebra/1.json\",\"prompt\":\"P\",\"kind\":\"math\",\"answer\":\"\\\\frac{1}{2}\","
             "\"subject\":\"Algebra\",\"level\":3}");
  /* Hendrycks MATH: no answer field, the last \boxed of the solution; "type" is the subject */
  CHECK_CONV("math",
             "{\"problem\": \"P\", \"level\": \"Level 5\", \"type\": \"Geometry\", \"solution\": \"\\\\boxed{1} or "
             "$\\\\boxed{\\\\frac{\\\\pi}{2}}$.\"}",
             "{\"id\":\"math-7\",\"prompt\":\"P\",\"kind\":\"math\",\"answer\":\"\\\\frac{\\\\pi}{2}\","
             "\"subject\":\"Geometry\",\"level\":\"Level 5\"}");
  CHECK_CONV_ERR("math", "{\"problem\": \"P\", \"solution\": \"no box\"}", "field 'answer': missing, and 'solution' has no");
  CHECK_CONV_ERR("math", "{\"problem\": \"P\"}", "field 'answer': missing");
  CHECK_CONV_ERR("math", "{\"problem\": \"P\", \"answer\": [1]}", "field 'answer': must be a string");
  CHECK_CONV_ERR("math", "{\"problem\": \"P\", \"answer\": \"1\", \"level\": 2.5}", "field 'level'");
}

static void test_aime(void) {
  CHECK_CONV("aime", "{\"id\": \"60\", \"problem\": \"P\", \"question\": \"P\", \"answer\": \"025\", \"url\": \"u\"}",
             "{\"id\":\"aime-60\",\"prompt\":\"P\",\"kind\":\"math\",\"answer\":\"025\"}");
  CHECK_CONV("aime", "{\"question\": \"Q\", \"answer\": 25}",
             "{\"id\":\"aime-7\",\"prompt\":\"Q\",\"kind\":\"math\",\"answer\":\"25\"}");
  CHECK_CONV("aime", "{\"id\": \"2024-I-1\", \"problem\": \"P\", \"answer\": \"204\"}",
             "{\"id\":\"2024-I-1\",\"prompt\":\"P\",\"kind\":\"math\",\"answer\":\"204\"}");
  CHECK_CONV_ERR("aime", "{\"id\": 1, \"answer\": \"1\"}", "field 'problem' (or 'question'): missing");
  CHECK_CONV_ERR("aime", "{\"problem\": \"P\", \"answer\": \"  \"}", "field 'answer': empty");
  CHECK_CONV_ERR("aime", "{\"id\": [], \"problem\": \"P\", \"answer\": \"1\"}", "field 'id'");
}

static void test_humaneval(void) {
  CHECK_CONV("humaneval",
             "{\"task_id\": \"HumanEval/0\", \"prompt\": \"def f(x):\\n    \\\"\\\"\\\"doc\\\"\\\"\\\"\\n\", "
             "\"canonical_solution\": \"    return x\\n\", \"test\": \"def check(candidate):\\n    assert "
             "candidate(1) == 1\\n\", \"entry_point\": \"f\"}",
             "{\"id\":\"HumanEval/0\",\"prompt\":\"def f(x):\\n    \\\"\\\"\\\"doc\\\"\\\"\\\"\\n\",\"kind\":\"code\","
             "\"language\":\"python3\",\"tests\":{\"type\":\"assert\",\"code\":\"def f(x):\\n    "
             "\\\"\\\"\\\"doc\\\"\\\"\\\"\\n\\ndef check(candidate):\\n    assert candidate(1) == 1\\n\","
             "\"entry_point\":\"f\"}}");
  CHECK_CONV_ERR("humaneval", "{\"task_id\": \"H/1\", \"prompt\": \"p\", \"test\": \"assert 1\", \"entry_point\": \"f\"}",
                 "field 'test': no 'def check('");
  CHECK_CONV_ERR("humaneval", "{\"task_id\": \"H/1\", \"prompt\": \"p\", \"test\": \"def check(c): pass\"}",
                 "field 'entry_point': missing");
}

static void test_mbpp(void) {
  /* sanitized */
  CHECK_CONV("mbpp",
             "{\"source_file\": \"x\", \"task_id\": 2, \"prompt\": \"Find shared.\", \"code\": \"def sim(a, b):\\n  "
             "return set(a) & set(b)\", \"test_imports\": [\"import math\"], \"test_list\": [\"assert set(sim((3, "
             "4),(4, 5))) == set((4,))\", \"assert sim([], []) == set()\"]}",
             "{\"id\":\"mbpp-2\",\"prompt\":\"Find shared.\\nYour code should pass these tests:\\n\\nassert set(sim((3, "
             "4),(4, 5))) == set((4,))\\nassert sim([], []) == set()\\n\",\"kind\":\"code\",\"language\":\"python3\","
             "\"tests\":{\"type\":\"assert\",\"code\":\"import math\\nassert set(sim((3, 4),(4, 5))) == "
             "set((4,))\\nassert sim([], []) == set()\\n\",\"entry_point\":\"sim\"}}");
  /* full MBPP: text + test_setup_code; attribute calls and strings are not entry points */
  CHECK_CONV("mbpp",
             "{\"text\": \"Area.\", \"code\": \"\", \"task_id\": 9, \"test_setup_code\": \"import math\", "
             "\"test_list\": [\"assert math.isclose(area('f(x)', 2), 12.5)\"], \"challenge_test_list\": []}",
             "{\"id\":\"mbpp-9\",\"prompt\":\"Area.\\nYour code should pass these tests:\\n\\nassert "
             "math.isclose(area('f(x)', 2), 12.5)\\n\",\"kind\":\"code\",\"language\":\"python3\",\"tests\":{\"type\":"
             "\"assert\",\"code\":\"import math\\nassert math.isclose(area('f(x)', 2), 12.5)\\n\",\"entry_point\":"
             "\"area\"}}");
  /* MBPP/126 names its function sum: the reference code decides; without code, a builtin-only
   * assert still names the builtin */
  char *s = conv("mbpp", "{\"task_id\": 126, \"prompt\": \"p\", \"code\": \"def sum(a,b):\\n  return 1\", "
                         "\"test_list\": [\"assert sum(10,15) == 6\"]}", 1);
  CHECK_CONTAINS(s, "\"entry_point\":\"sum\"");
  free(s);
  s = conv("mbpp", "{\"task_id\": 1, \"prompt\": \"p\", \"test_list\": [\"assert sorted(top(3)) == [1]\"]}", 1);
  CHECK_CONTAINS(s, "\"entry_point\":\"top\"");
  free(s);
  s = conv("mbpp", "{\"task_id\": 1, \"prompt\": \"p\", \"test_list\": [\"assert len([1]) == 1\"]}", 1);
  CHECK_CONTAINS(s, "\"entry_point\":\"len\"");
  free(s);
  CHECK_CONV_ERR("mbpp", "{\"task_id\": 1, \"prompt\": \"p\", \"test_list\": []}", "field 'test_list': must be a non-empty");
  CHECK_CONV_ERR("mbpp", "{\"task_id\": 1, \"prompt\": \"p\", \"test_list\": [\"assert x == 1\"]}",
                 "field 'test_list': the first assert calls no function");
  CHECK_CONV_ERR("mbpp", "{\"task_id\": 1, \"prompt\": \"p\", \"test_list\": [\"assert f(1)\", 3]}",
                 "field 'test_list': item 1");
  CHECK_CONV_ERR("mbpp", "{\"task_id\": 1, \"test_list\": [\"assert f(1)\"]}", "field 'prompt' (or 'text'): missing");
  CHECK_CONV_ERR("mbpp", "{\"task_id\": 1, \"prompt\": \"p\", \"test_imports\": [1], \"test_list\": [\"assert f(1)\"]}",
                 "field 'test_imports'");
}

static void test_stdio(void) {
  /* SandboxFusion's sample: labels and test are JSON text inside strings */
  CHECK_CONV("stdio",
             "{\"content\": \"Add.\", \"id\": 0, \"labels\": \"{\\\"difficulty\\\":\\\"EASY\\\", \\\"name\\\":\\\"a1\\\", "
             "\\\"source\\\":\\\"CODECHEF\\\"}\", \"test\": \"[{\\\"input\\\":{\\\"stdin\\\":\\\"1 2\\\\n\\\"}, "
             "\\\"output\\\":{\\\"stdout\\\":\\\"3\\\\n\\\"}}]\", \"__internal_uuid__\": \"u\"}",
             "{\"id\":\"stdio-0\",\"prompt\":\"Add.\",\"kind\":\"code\",\"language\":\"python3\",\"tests\":{\"type\":"
             "\"stdio\",\"cases\":[{\"input\":\"1 2\\n\",\"output\":\"3\\n\"}]},\"name\":\"a1\",\"difficulty\":"
             "\"EASY\",\"source\":\"CODECHEF\"}");
  /* CodeContests schema: every test set, in order */
  CHECK_CONV("stdio",
             "{\"name\": \"1000_A. T\", \"description\": \"D\", \"language\": \"cpp\", \"public_tests\": {\"input\": "
             "[\"1\\n\"], \"output\": [\"1\\n\"]}, \"private_tests\": {\"input\": [\"2\\n\"], \"output\": [\"4\\n\"]}, "
             "\"generated_tests\": {\"input\": [], \"output\": []}}",
             "{\"id\":\"1000_A. T\",\"prompt\":\"D\",\"kind\":\"code\",\"language\":\"cpp\",\"tests\":{\"type\":"
             "\"stdio\",\"cases\":[{\"input\":\"1\\n\",\"output\":\"1\\n\"},{\"input\":\"2\\n\",\"output\":\"4\\n\"}]},"
             "\"name\":\"1000_A. T\"}");
  CHECK_CONV_ERR("stdio", "{\"content\": \"c\", \"test\": \"[\"}", "field 'test': invalid JSON");
  CHECK_CONV_ERR("stdio", "{\"content\": \"c\", \"test\": []}", "no test cases");
  CHECK_CONV_ERR("stdio", "{\"content\": \"c\", \"test\": [{\"input\": {\"stdin\": 1}, \"output\": \"x\"}]}",
                 "field 'test': case 0");
  CHECK_CONV_ERR("stdio", "{\"content\": \"c\", \"public_tests\": {\"input\": [\"1\"], \"output\": []}}",
                 "field 'public_tests'");
  CHECK_CONV_ERR("stdio", "{\"test\": []}", "field 'content' (or 'description'): missing");
  CHECK_CONV_ERR("stdio", "{\"content\": \"c\", \"labels\": \"[1]\", \"test\": [{\"input\": \"\", \"output\": \"\"}]}",
                 "field 'labels'");
}

/* writes text to a new temporary file; returns its path (static buffer per call site) */
static void write_tmp(char *path, size_t cap, const char *text) {
  snprintf(path, cap, "/tmp/zr_test_importers_XXXXXX");
  int fd = mkstemp(path);
  if (fd < 0) abort();
  size_t n = strlen(text);
  if (write(fd, text, n) != (ssize_t)n) abort();
  close(fd);
}

/* imports path into memory; returns rc, *text (caller frees) the output */
static int import_mem(const char *format, const char *path, char **text, long *n) {
  size_t len = 0;
  FILE *out = open_memstream(text, &len);
  if (!out) abort();
  int rc = zr_import_file(zr_importer_find(format), path, out, n);
  fclose(out);
  return rc;
}

static void test_files(void) {
  char path[64];
  char *out = NULL;
  long n = -1;
  /* JSONL with a blank line; a bad 4th line stops it and is named with its field */
  write_tmp(path, sizeof path,
            "{\"question\": \"a\", \"answer\": \"#### 1\"}\n\n{\"question\": \"b\", \"answer\": \"#### 2\"}\n"
            "{\"question\": \"c\", \"answer\": \"3\"}\n{\"question\": \"d\", \"answer\": \"#### 4\"}\n");
  int rc = import_mem("gsm8k", path, &out, &n);
  CHECK_INT(rc, -EINVAL);
  CHECK_INT(n, 2);
  char want[128];
  snprintf(want, sizeof want, "%s:4: gsm8k: field 'answer': no '#### '", path);
  CHECK_CONTAINS(zr_errmsg(), want);
  CHECK_STR(out, "{\"id\":\"gsm8k-1\",\"prompt\":\"a\",\"kind\":\"math\",\"answer\":\"1\"}\n"
                 "{\"id\":\"gsm8k-3\",\"prompt\":\"b\",\"kind\":\"math\",\"answer\":\"2\"}\n");
  free(out);
  unlink(path);
  /* leading blank lines keep the line numbers right; invalid JSON is named by line */
  write_tmp(path, sizeof path, "\n  \n{\"question\": \"a\", \"answer\": \"#### 1\"}\n{\"question\": \n");
  rc = import_mem("gsm8k", path, &out, &n);
  CHECK_INT(rc, -EINVAL);
  CHECK_INT(n, 1);
  CHECK_CONTAINS(out, "\"id\":\"gsm8k-3\"");
  snprintf(want, sizeof want, "%s:4: invalid JSON", path);
  CHECK_CONTAINS(zr_errmsg(), want);
  free(out);
  unlink(path);
  /* a record that is not an object */
  write_tmp(path, sizeof path, "[1]\n");
  rc = import_mem("aime", path, &out, &n);
  CHECK_INT(rc, -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), ":record 1: aime: the record must be a JSON object");
  free(out);
  unlink(path);
  /* one JSON array (sanitized-mbpp.json style), no trailing newline */
  write_tmp(path, sizeof path,
            "[\n  {\"task_id\": 1, \"prompt\": \"p\", \"test_list\": [\"assert f(1) == 2\"]},\n"
            "  {\"task_id\": 2, \"prompt\": \"q\", \"test_list\": [\"assert g(1) == 2\"]}\n]");
  rc = import_mem("mbpp", path, &out, &n);
  CHECK_INT(rc, 0);
  CHECK_INT(n, 2);
  CHECK_CONTAINS(out, "\"id\":\"mbpp-2\"");
  CHECK_CONTAINS(out, "\"entry_point\":\"g\"}}\n");
  free(out);
  unlink(path);
  /* empty file: no tasks, no error; missing file: -ENOENT naming it */
  write_tmp(path, sizeof path, "");
  rc = import_mem("math", path, &out, &n);
  CHECK_INT(rc, 0);
  CHECK_INT(n, 0);
  free(out);
  unlink(path);
  rc = import_mem("math", "/nonexistent/zr.jsonl", &out, &n);
  CHECK_INT(rc, -ENOENT);
  CHECK_CONTAINS(zr_errmsg(), "/nonexistent/zr.jsonl");
  free(out);
}

/* ---- shared data --------------------------------------------------------- */

typedef struct {
  json_t **v;
  long n;
} taskset;

static void taskset_free(taskset *s) {
  for (long i = 0; i < s->n; i++) json_decref(s->v[i]);
  free(s->v);
  s->v = NULL;
  s->n = 0;
}

/* imports a shared file; 0 when it is absent (reported), 1 when imported */
static int import_shared(const char *dir, const char *rel, const char *format, long want, taskset *out) {
  char path[1200];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  out->v = NULL;
  out->n = 0;
  if (access(path, R_OK) != 0) {
    fprintf(stderr, "SKIP part: %s absent\n", path);
    return 0;
  }
  char *text = NULL;
  long n = -1;
  int rc = import_mem(format, path, &text, &n);
  if (rc < 0) fprintf(stderr, "import %s: %s\n", rel, zr_errmsg());
  CHECK_INT(rc, 0);
  CHECK_INT(n, want);
  out->v = calloc((size_t)n + 1, sizeof *out->v);
  long lines = 0;
  for (char *p = text, *nl; p && *p; p = nl + 1) {
    nl = strchr(p, '\n');
    if (!nl) break;
    json_error_t e;
    json_t *t = json_loadb(p, (size_t)(nl - p), 0, &e);
    CHECK(json_is_object(t));
    if (t && lines < n) out->v[out->n++] = t;
    else json_decref(t);
    lines++;
  }
  CHECK_INT(lines, want);
  free(text);
  fprintf(stderr, "%s (%s): %ld tasks\n", rel, format, out->n);
  return 1;
}

/* every task is a valid reward task whose own gold answer scores correct */
static void check_gold(const taskset *s, const char *set) {
  zr_reward_config cfg;
  zr_reward_config_default(&cfg);
  zr_reward_scorer *sc = NULL;
  CHECK_INT(zr_reward_scorer_new(&cfg, &sc), 0);
  if (!sc) return;
  long ok = 0;
  for (long i = 0; i < s->n; i++) {
    zr_reward_task t;
    long numbers[ZR_TASK_MAX_NUMBERS];
    const char *id = json_string_value(json_object_get(s->v[i], "id"));
    if (zr_reward_task_from_json(s->v[i], &t, numbers) < 0) {
      fprintf(stderr, "  %s: task rejected: %s\n", id, zr_errmsg());
      continue;
    }
    char *completion = NULL;
    if (asprintf(&completion, "<think>x</think><answer>%s</answer>", t.answer) < 0) abort();
    zr_reward_result r;
    int rc = zr_reward_score(sc, &t, completion, strlen(completion), -1, &r);
    if (rc == 0 && r.correct == 1) ok++;
    else fprintf(stderr, "  %s: gold '%s' scored correct=%d status=%s (%s)\n", id, t.answer, r.correct,
                 zr_verify_status_name(r.status), r.detail);
    free(completion);
  }
  fprintf(stderr, "%s: %ld/%ld gold answers score correct\n", set, ok, s->n);
  CHECK_INT(ok, s->n);
  zr_reward_scorer_free(&sc);
}

/* the first k raw records' reference solutions pass their imported tests in the sandbox */
static void check_references(const char *dir, const char *rel, const taskset *s, const char *sol_key,
                             int with_prompt, int k) {
  char path[1200];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  FILE *f = fopen(path, "r");
  if (!f) return;
  zr_codetest_opts o;
  zr_codetest_opts_init(&o);
  o.time_limit_s = 20;
  o.total_time_s = 60;
  char *line = NULL;
  size_t cap = 0;
  int passed = 0, i = 0;
  for (; i < k && i < s->n && getline(&line, &cap, f) > 0; i++) {
    json_t *raw = json_loads(line, 0, NULL);
    const char *sol = json_string_value(json_object_get(raw, sol_key));
    const char *prompt = with_prompt ? json_string_value(json_object_get(raw, "prompt")) : "";
    CHECK(sol && prompt);
    char *completion = NULL;
    if (asprintf(&completion, "Here:\n```python\n%s%s\n```\n", prompt ? prompt : "", sol ? sol : "") < 0) abort();
    const json_t *task = s->v[i];
    zr_codetest_result r;
    int rc = zr_codetest_run_completion(completion, json_string_value(json_object_get(task, "language")),
                                        json_object_get(task, "tests"), &o, &r);
    const char *id = json_string_value(json_object_get(task, "id"));
    if (rc == 0 && r.all_passed && r.n_tests > 0) passed++;
    else fprintf(stderr, "  %s: rc %d, %d/%d passed, %s: %s\n", id, rc, r.n_passed, r.n_tests,
                 zr_codetest_status_name(r.status), r.detail);
    zr_codetest_result_release(&r);
    free(completion);
    json_decref(raw);
  }
  free(line);
  fclose(f);
  fprintf(stderr, "%s: %d/%d reference solutions pass\n", rel, passed, i);
  CHECK_INT(passed, i);
}

/* MBPP: the importer's entry point is a function the reference defines (the data test's rule) */
static void check_mbpp_entries(const char *dir, const taskset *s) {
  char path[1200];
  snprintf(path, sizeof path, "%s/mbpp/sanitized-mbpp.jsonl", dir);
  FILE *f = fopen(path, "r");
  if (!f) return;
  char *line = NULL;
  size_t cap = 0;
  long i = 0, ok = 0;
  for (; i < s->n && getline(&line, &cap, f) > 0; i++) {
    json_t *raw = json_loads(line, 0, NULL);
    const char *code = json_string_value(json_object_get(raw, "code"));
    const char *ep = json_string_value(json_object_get(json_object_get(s->v[i], "tests"), "entry_point"));
    char def[200], def_sp[200]; /* MBPP/392 writes "def get_max_sum (n)" */
    snprintf(def, sizeof def, "def %s(", ep ? ep : "?");
    snprintf(def_sp, sizeof def_sp, "def %s (", ep ? ep : "?");
    if (code && ep && (strstr(code, def) || strstr(code, def_sp))) ok++;
    else fprintf(stderr, "  %s: entry point '%s' not defined by the reference\n",
                 json_string_value(json_object_get(s->v[i], "id")), ep ? ep : "(null)");
    json_decref(raw);
  }
  free(line);
  fclose(f);
  fprintf(stderr, "mbpp: %ld/%ld entry points are functions of the reference\n", ok, i);
  CHECK_INT(ok, i);
}

static int test_shared_data(void) {
  const char *data = getenv("ZERORL_SHARED_DATA");
  char dir[1024];
  if (data) snprintf(dir, sizeof dir, "%s", data);
  else snprintf(dir, sizeof dir, "%s/../shared/data", getenv("ZERORL_SOURCE_DIR") ? getenv("ZERORL_SOURCE_DIR") : ".");
  if (access(dir, R_OK) != 0) return 0;
  int any = 0;
  taskset s;
  if (import_shared(dir, "gsm8k/test.jsonl", "gsm8k", 1319, &s)) {
    any = 1;
    check_gold(&s, "gsm8k test");
    taskset_free(&s);
  }
  if (import_shared(dir, "gsm8k/train.jsonl", "gsm8k", 7473, &s)) {
    any = 1;
    check_gold(&s, "gsm8k train");
    taskset_free(&s);
  }
  if (import_shared(dir, "math500/test.jsonl", "math", 500, &s)) {
    any = 1;
    CHECK_STR(json_string_value(json_object_get(s.v[0], "id")), "test/precalculus/807.json");
    CHECK_STR(json_string_value(json_object_get(s.v[0], "subject")), "Precalculus");
    check_gold(&s, "math500");
    taskset_free(&s);
  }
  if (import_shared(dir, "aime2024/test.jsonl", "aime", 30, &s)) {
    any = 1;
    CHECK_STR(json_string_value(json_object_get(s.v[0], "id")), "aime-60");
    CHECK_STR(json_string_value(json_object_get(s.v[0], "answer")), "204");
    check_gold(&s, "aime2024");
    taskset_free(&s);
  }
  if (import_shared(dir, "humaneval/HumanEval.jsonl", "humaneval", 164, &s)) {
    any = 1;
    CHECK_STR(json_string_value(json_object_get(s.v[0], "id")), "HumanEval/0");
    check_references(dir, "humaneval/HumanEval.jsonl", &s, "canonical_solution", 1, 5);
    taskset_free(&s);
  }
  if (import_shared(dir, "mbpp/sanitized-mbpp.jsonl", "mbpp", 427, &s)) {
    any = 1;
    check_mbpp_entries(dir, &s);
    check_references(dir, "mbpp/sanitized-mbpp.jsonl", &s, "code", 0, 5);
    taskset_free(&s);
  }
  if (import_shared(dir, "mbpp/sanitized-mbpp.json", "mbpp", 427, &s)) taskset_free(&s);
  if (import_shared(dir, "mbpp/mbpp.jsonl", "mbpp", 974, &s)) {
    CHECK_STR(json_string_value(json_object_get(s.v[0], "id")), "mbpp-1");
    CHECK_STR(json_string_value(json_object_get(json_object_get(s.v[0], "tests"), "entry_point")), "min_cost");
    taskset_free(&s);
  }
  if (import_shared(dir, "codecontests_sample/code_eval_code_contests.jsonl", "stdio", 20, &s)) {
    any = 1;
    for (long i = 0; i < s.n; i++) {
      size_t nc = json_array_size(json_object_get(json_object_get(s.v[i], "tests"), "cases"));
      CHECK(nc >= 35 && nc <= 331);
      CHECK_STR(json_string_value(json_object_get(s.v[i], "language")), "python3");
    }
    CHECK_STR(json_string_value(json_object_get(s.v[0], "id")), "stdio-0");
    taskset_free(&s);
  }
  return any;
}

int main(void) {
  test_table();
  test_gsm8k();
  test_math();
  test_aime();
  test_humaneval();
  test_mbpp();
  test_stdio();
  test_files();
  int data = test_shared_data();
  if (!data) fprintf(stderr, "SKIP part: shared data absent, only the inline samples ran\n");
  return TEST_DONE();
}
