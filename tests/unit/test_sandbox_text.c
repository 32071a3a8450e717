/* test_sandbox_text: the parts of the code sandbox that need no jail: the language table, code
 * block extraction from completions, output comparison, status names and result JSON. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reward/codetest.h"
#include "reward/lang.h"
#include "reward/sandbox.h"
#include "tests/test.h"

static void test_lang(void) {
  CHECK_STR(zr_lang_find("python3")->name, "python3");
  CHECK_STR(zr_lang_find("Python")->name, "python3");
  CHECK_STR(zr_lang_find("py")->name, "python3");
  CHECK_STR(zr_lang_find("c++")->name, "cpp");
  CHECK_STR(zr_lang_find("CPP")->name, "cpp");
  CHECK_STR(zr_lang_find("cc")->name, "cpp");
  CHECK_STR(zr_lang_find("c")->name, "c");
  CHECK(zr_lang_find("rust") == NULL);
  CHECK(zr_lang_find("text") == NULL);
  CHECK(zr_lang_find(NULL) == NULL);
  CHECK_INT(zr_lang_is_compiled(zr_lang_find("c")), 1);
  CHECK_INT(zr_lang_is_compiled(zr_lang_find("python3")), 0);
  int n = 0;
  for (int i = 0; zr_lang_at(i); i++) {
    const zr_lang *l = zr_lang_at(i);
    CHECK(l->run_argv[0] && l->run_argv[0][0] == '/'); /* the jail needs absolute paths */
    CHECK(l->source_file && !strchr(l->source_file, '/'));
    if (zr_lang_is_compiled(l)) CHECK(l->binary_file && l->compile_cpu_ms > 0 && l->compile_memory_mb > 0);
    n++;
  }
  CHECK(n >= 3);
}

static void extract(const char *text, const char *want_code, const char *want_tag) {
  char *code = NULL, tag[24];
  int rc = zr_codetest_extract(text, &code, tag);
  if (!want_code) {
    CHECK_INT(rc, -ENOENT);
    CHECK(code == NULL);
    return;
  }
  CHECK_INT(rc, 0);
  CHECK_STR(code, want_code);
  CHECK_STR(tag, want_tag);
  free(code);
}

static void test_extract(void) {
  extract("```python\nprint(1)\n```", "print(1)\n", "python");
  extract("text\n```py\na\n```\nmore\n```python\nb\n```\n", "b\n", "python");
  /* a later block in another language is still code; a later ```text block is not */
  extract("```python\na\n```\n```cpp\nint main(){}\n```\n", "int main(){}\n", "cpp");
  extract("```python\na = 1\n```\nOutput:\n```text\n1\n```\n", "a = 1\n", "python");
  /* untagged blocks count when nothing is tagged with a language; they beat other tags */
  extract("```\nx = 2\n```\n", "x = 2\n", "");
  extract("```output\n5\n```\n```\nx = 3\n```\n", "x = 3\n", "");
  extract("```python\nx = 4\n```\n```\n3\n```\n", "x = 4\n", "python");
  /* longer fences may contain shorter ones; ~~~ fences; closing may be indented */
  extract("````python\ns = '```'\n```\nstill code\n````\n", "s = '```'\n```\nstill code\n", "python");
  extract("~~~c\nint x;\n~~~\n", "int x;\n", "c");
  /* a fence indented in a list item: its indentation is removed from the body */
  extract("1. Code:\n   ```python\n   def f():\n       return 1\n   ```\n", "def f():\n    return 1\n", "python");
  /* tags: case folded, {.python} style, extra words ignored */
  extract("```Python3 title=x\nq\n```", "q\n", "python3");
  extract("```{.cpp}\nq\n```", "q\n", "cpp");
  /* CRLF bodies are kept as they are (Python and gcc accept them) */
  extract("```python\r\nprint(2)\r\n```\r\n", "print(2)\r\n", "python");
  /* empty block */
  extract("```python\n```", "", "python");
  /* no block, an unterminated block, inline backticks */
  extract("no code here", NULL, NULL);
  extract("```python\nprint('cut off", NULL, NULL);
  extract("use ``` inline ``` please", NULL, NULL);
  extract("``python\nx\n``", NULL, NULL);
  /* the complete block before an unterminated one wins */
  extract("```python\nok\n```\n```python\ncut", "ok\n", "python");
}

static int cmp(const char *got, const char *want, const zr_codetest_opts *o) {
  char why[160];
  return zr_codetest_compare(got, strlen(got), want, strlen(want), o, why, sizeof why);
}

static void test_compare(void) {
  zr_codetest_opts o;
  zr_codetest_opts_init(&o);
  CHECK_INT(cmp("3\n", "3\n", &o), 1);
  CHECK_INT(cmp("3", "3\n\n", &o), 1);
  CHECK_INT(cmp("  1   2\n3 ", "1 2 3", &o), 1); /* tokens ignore spacing and lines */
  CHECK_INT(cmp("1 2", "1 2 3", &o), 0);
  CHECK_INT(cmp("1 2 3 4", "1 2 3", &o), 0);
  CHECK_INT(cmp("", "", &o), 1);
  CHECK_INT(cmp("", "0", &o), 0);
  /* integers: exact at any size, leading zeros and '+' ignored */
  CHECK_INT(cmp("123456789012345678901234567890", "123456789012345678901234567890", &o), 1);
  CHECK_INT(cmp("123456789012345678901234567891", "123456789012345678901234567890", &o), 0);
  CHECK_INT(cmp("007", "7", &o), 1);
  CHECK_INT(cmp("+7", "7", &o), 1);
  CHECK_INT(cmp("-0", "0", &o), 1);
  CHECK_INT(cmp("-7", "7", &o), 0);
  CHECK_INT(cmp("1000000000000000001", "1000000000000000000", &o), 0);
  /* reals: within max(1e-6, 1e-6 * |want|) */
  CHECK_INT(cmp("1.0000001", "1", &o), 1);
  CHECK_INT(cmp("1.0", "1", &o), 1);
  CHECK_INT(cmp("1.00001", "1", &o), 0);
  CHECK_INT(cmp("1e6", "1000000.5", &o), 1);
  CHECK_INT(cmp("1000000.5", "1000002.5", &o), 0);
  CHECK_INT(cmp("0.333333", "0.3333333333", &o), 1);
  CHECK_INT(cmp("0.33333", "0.3333333333", &o), 0);
  CHECK_INT(cmp("nan", "nan", &o), 1); /* words */
  CHECK_INT(cmp("nan", "0", &o), 0);
  CHECK_INT(cmp("inf", "1e400", &o), 0);
  CHECK_INT(cmp("0x10", "16", &o), 0);
  CHECK_INT(cmp("1.5.", "1.5", &o), 0);
  CHECK_INT(cmp("YES", "yes", &o), 0);
  o.case_insensitive = 1;
  CHECK_INT(cmp("YES", "yes", &o), 1);
  o.case_insensitive = 0;
  o.abs_tol = 0;
  o.rel_tol = 0;
  CHECK_INT(cmp("1.0000001", "1", &o), 0);
  CHECK_INT(cmp("2.50", "2.5", &o), 1); /* numerically equal */
  zr_codetest_opts_init(&o);
  o.compare = ZR_CT_CMP_LINES;
  CHECK_INT(cmp("1 2\n3\n", "1 2\n3", &o), 1);
  CHECK_INT(cmp("1 2\r\n3\r\n\r\n", "1 2\n3\n", &o), 1);
  CHECK_INT(cmp("1 2 3\n", "1 2\n3\n", &o), 0);
  CHECK_INT(cmp("1\n\n2\n", "1\n2\n", &o), 0);
  CHECK_INT(cmp("a  b \n", "a b\n", &o), 1);
  char why[160];
  CHECK_INT(zr_codetest_compare("1\n5\n", 4, "1\n6\n", 4, &o, why, sizeof why), 0);
  CHECK_CONTAINS(why, "line 2");
  CHECK_CONTAINS(why, "expected '6', got '5'");
}

static void test_names_and_json(void) {
  CHECK_STR(zr_sandbox_status_name(ZR_SANDBOX_OK), "ok");
  CHECK_STR(zr_sandbox_status_name(ZR_SANDBOX_MEMORY_LIMIT), "memory_limit");
  CHECK_STR(zr_sandbox_status_name(ZR_SANDBOX_SANDBOX_ERROR), "sandbox_error");
  CHECK_STR(zr_codetest_status_name(ZR_CT_WRONG_ANSWER), "wrong_answer");
  CHECK_STR(zr_codetest_status_name(ZR_CT_COMPILE_ERROR), "compile_error");
  zr_sandbox_result r;
  memset(&r, 0, sizeof r);
  r.status = ZR_SANDBOX_TIMEOUT;
  r.limits_hit = ZR_LIMIT_WALL | ZR_LIMIT_PROCS;
  r.exit_code = -1;
  r.signal = 9;
  r.cgroup_mode = "v1";
  zr_sandbox_limits lim;
  zr_sandbox_limits_init(&lim);
  json_t *j = zr_sandbox_result_json(&r, &lim);
  char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  CHECK_CONTAINS(s, "\"status\":\"timeout\"");
  CHECK_CONTAINS(s, "\"limits_hit\":[\"wall\",\"processes\"]");
  CHECK_CONTAINS(s, "\"exit_code\":null");
  CHECK_CONTAINS(s, "\"signal\":9");
  CHECK_CONTAINS(s, "\"cgroup\":\"v1\"");
  CHECK_CONTAINS(s, "\"wall_ms\":11000"); /* the default wall limit: 2 * 5 s + 1 s */
  free(s);
  json_decref(j);
  zr_sandbox_limits_init(&lim);
  CHECK_INT(lim.cpu_ms, 5000);
  CHECK_INT(lim.memory_mb, 512);
  CHECK_INT(lim.stdout_cap, 1 << 20);
}

int main(void) {
  test_lang();
  test_extract();
  test_compare();
  test_names_and_json();
  return TEST_DONE();
}
