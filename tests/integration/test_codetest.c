/* test_codetest: code tests end to end in the real sandbox: stdin/stdout tests in Python, C and
 * C++ (pass, wrong answer, runtime error, timeout, memory limit, output limit, compile error,
 * tolerance rules, parallel cases), assert tests in HumanEval and MBPP form (pass, wrong
 * answer, runtime error, timeout, syntax error, handles for user classes), and completions
 * with and without a code block. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "reward/codetest.h"
#include "tests/test.h"

static json_t *stdio_tests(int n, const char *const *io) {
  json_t *cases = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(cases, json_pack("{s:s,s:s}", "input", io[2 * i], "output", io[2 * i + 1]));
  return json_pack("{s:s,s:o}", "type", "stdio", "cases", cases);
}

static json_t *assert_tests(const char *code, const char *entry) {
  return entry ? json_pack("{s:s,s:s,s:s}", "type", "assert", "code", code, "entry_point", entry)
               : json_pack("{s:s,s:s}", "type", "assert", "code", code);
}

static zr_codetest_opts opts(double t) {
  zr_codetest_opts o;
  zr_codetest_opts_init(&o);
  o.time_limit_s = t;
  o.total_time_s = 30;
  return o;
}

/* runs and returns the result; prints the cases when verbose */
static zr_codetest_result run(const char *code, const char *lang, json_t *tests, const zr_codetest_opts *o) {
  zr_codetest_result r;
  int rc = zr_codetest_run(code, lang, tests, o, &r);
  if (rc < 0) fprintf(stderr, "run failed: %s\n", zr_errmsg());
  fprintf(stderr, "  [%s] %d/%d status=%s %.0f ms%s%s\n", r.language, r.n_passed, r.n_tests,
          zr_codetest_status_name(r.status), r.wall_ms, r.detail[0] ? " detail=" : "", r.detail);
  for (int i = 0; i < r.n_tests; i++)
    if (r.cases[i].status != ZR_CT_PASS)
      fprintf(stderr, "    case %d: %s %s\n", i, zr_codetest_status_name(r.cases[i].status), r.cases[i].detail);
  return r;
}

static const char *const sum_io[] = {"1 2\n", "3\n", "10 20\n", "30\n", "5 5\n", "11\n"};

static void test_stdio_python(void) {
  json_t *t = stdio_tests(3, sum_io);
  zr_codetest_opts o = opts(2);
  zr_codetest_result r = run("a, b = map(int, input().split())\nprint(a + b)\n", "python3", t, &o);
  CHECK_INT(r.n_tests, 3);
  CHECK_INT(r.n_passed, 2);
  CHECK_INT(r.cases[2].status, ZR_CT_WRONG_ANSWER);
  CHECK_CONTAINS(r.cases[2].detail, "expected '11', got '10'");
  CHECK(r.pass_fraction > 0.66 && r.pass_fraction < 0.67);
  CHECK_INT(r.all_passed, 0);
  CHECK_INT(r.status, ZR_CT_WRONG_ANSWER);
  zr_codetest_result_release(&r);

  /* exit() works without site; a non-zero exit is a runtime error even with the right output */
  r = run("import sys\na, b = map(int, input().split())\nprint(a + b)\nexit(0 if a != 5 else 3)\n", "py", t, &o);
  CHECK_INT(r.cases[0].status, ZR_CT_PASS);
  CHECK_INT(r.cases[2].status, ZR_CT_RUNTIME_ERROR);
  zr_codetest_result_release(&r);

  /* runtime error, timeout, memory limit, output limit */
  r = run("print(1 // 0)\n", "python3", t, &o);
  CHECK_INT(r.status, ZR_CT_RUNTIME_ERROR);
  CHECK_CONTAINS(r.cases[0].detail, "ZeroDivisionError");
  zr_codetest_result_release(&r);
  zr_codetest_opts quick = opts(1);
  quick.max_cases = 1;
  r = run("while True: pass\n", "python3", t, &quick);
  CHECK_INT(r.n_tests, 1);
  CHECK_INT(r.status, ZR_CT_TIMEOUT);
  zr_codetest_result_release(&r);
  quick.memory_mb = 128;
  r = run("x = bytearray(1 << 30)\nfor i in range(0, len(x), 4096): x[i] = 1\n", "python3", t, &quick);
  CHECK_INT(r.status, ZR_CT_MEMORY_LIMIT);
  zr_codetest_result_release(&r);
  r = run("s = 'x' * 65536\nwhile True: print(s)\n", "python3", t, &quick);
  CHECK_INT(r.status, ZR_CT_OUTPUT_LIMIT);
  zr_codetest_result_release(&r);
  /* stop at the first failure: the rest are not run and count as failed */
  zr_codetest_opts stop = opts(2);
  stop.stop_at_first_failure = 1;
  r = run("print(0)\n", "python3", t, &stop);
  CHECK_INT(r.n_passed, 0);
  CHECK_CONTAINS(r.cases[2].detail, "not run");
  zr_codetest_result_release(&r);
  json_decref(t);
}

static void test_stdio_numbers(void) {
  static const char *const io[] = {"", "0.333333333 1000000000000000000 YES\n"};
  json_t *t = stdio_tests(1, io);
  zr_codetest_opts o = opts(2);
  zr_codetest_result r = run("print('%.7f' % (1/3), 10**18, 'YES')\n", "python3", t, &o);
  CHECK_INT(r.status, ZR_CT_PASS); /* 0.3333333 is within 1e-6 */
  zr_codetest_result_release(&r);
  r = run("print(0.3334, 10**18, 'YES')\n", "python3", t, &o);
  CHECK_INT(r.status, ZR_CT_WRONG_ANSWER);
  zr_codetest_result_release(&r);
  r = run("print('0.333333333', 10**18 + 1, 'YES')\n", "python3", t, &o); /* integers are exact */
  CHECK_INT(r.status, ZR_CT_WRONG_ANSWER);
  zr_codetest_result_release(&r);
  r = run("print('0.333333333', 10**18, 'yes')\n", "python3", t, &o);
  CHECK_INT(r.status, ZR_CT_WRONG_ANSWER);
  zr_codetest_result_release(&r);
  o.case_insensitive = 1;
  r = run("print('0.333333333')\nprint(10**18, 'yes')\n", "python3", t, &o); /* tokens ignore lines */
  CHECK_INT(r.status, ZR_CT_PASS);
  zr_codetest_result_release(&r);
  o.compare = ZR_CT_CMP_LINES;
  r = run("print('0.333333333')\nprint(10**18, 'yes')\n", "python3", t, &o);
  CHECK_INT(r.status, ZR_CT_WRONG_ANSWER);
  zr_codetest_result_release(&r);
  /* printing a pass marker gets nothing */
  r = run("print('PASS\\nAll tests passed\\nOK')\n", "python3", t, &o);
  CHECK_INT(r.status, ZR_CT_WRONG_ANSWER);
  zr_codetest_result_release(&r);
  json_decref(t);
}

static void test_stdio_c_cpp(void) {
  json_t *t = stdio_tests(3, sum_io);
  zr_codetest_opts o = opts(2);
  o.parallel = 3;
  zr_codetest_result r = run("#include <stdio.h>\nint main(void){long a,b;if(scanf(\"%ld %ld\",&a,&b)!=2)return 1;"
                             "printf(\"%ld\\n\",a+b);return 0;}\n",
                             "c", t, &o);
  CHECK_INT(r.n_passed, 2);
  CHECK_STR(r.language, "c");
  zr_codetest_result_release(&r);
  r = run("#include <bits/stdc++.h>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b<<\"\\n\";}\n", "cpp", t, &o);
  CHECK_INT(r.n_passed, 2);
  CHECK_STR(r.language, "cpp");
  zr_codetest_result_release(&r);
  r = run("int main( { return 0; }\n", "c", t, &o);
  CHECK_INT(r.status, ZR_CT_COMPILE_ERROR);
  CHECK_INT(r.n_tests, 3);
  CHECK_INT(r.n_passed, 0);
  CHECK_CONTAINS(r.detail, "error");
  zr_codetest_result_release(&r);
  r = run("#include <stdlib.h>\nint main(void){int *p=0; return *p;}\n", "c", t, &o);
  CHECK_INT(r.status, ZR_CT_RUNTIME_ERROR);
  CHECK_CONTAINS(r.cases[0].detail, "signal 11");
  zr_codetest_result_release(&r);
  json_decref(t);
}

static const char *const he_test =
    "\n\nMETADATA = {'author': 'x'}\n\n\n"
    "def check(candidate):\n"
    "    assert candidate([1, 2, 3]) == 6\n"
    "    assert candidate([]) == 0\n"
    "    import math\n"
    "    for n in range(1, 6):\n"
    "        assert math.isclose(candidate([0.5] * n), 0.5 * n)\n"
    "    assert abs(candidate([10**20, 1]) - (10**20 + 1)) == 0\n";

static void test_assert_humaneval(void) {
  json_t *t = assert_tests(he_test, "total");
  zr_codetest_opts o = opts(2);
  zr_codetest_result r = run("def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n", "python3", t, &o);
  CHECK_INT(r.n_tests, 4);
  CHECK_INT(r.n_passed, 4);
  CHECK_INT(r.all_passed, 1);
  CHECK_INT(r.status, ZR_CT_PASS);
  zr_codetest_result_release(&r);
  r = run("def total(xs):\n    return len(xs)\n", "python3", t, &o);
  CHECK_INT(r.n_passed, 1); /* only the empty list */
  CHECK_INT(r.cases[0].status, ZR_CT_WRONG_ANSWER);
  zr_codetest_result_release(&r);
  r = run("def total(xs):\n    if not xs: return 0\n    raise ValueError('nope')\n", "python3", t, &o);
  CHECK_INT(r.cases[0].status, ZR_CT_RUNTIME_ERROR);
  CHECK_CONTAINS(r.cases[0].detail, "ValueError: nope");
  CHECK_INT(r.cases[1].status, ZR_CT_PASS);
  zr_codetest_result_release(&r);
  zr_codetest_opts quick = opts(1);
  r = run("def total(xs):\n    while True: pass\n", "python3", t, &quick);
  CHECK_INT(r.status, ZR_CT_TIMEOUT);
  CHECK_INT(r.n_passed, 0);
  zr_codetest_result_release(&r);
  r = run("def total(xs)\n    return 0\n", "python3", t, &o);
  CHECK_INT(r.status, ZR_CT_COMPILE_ERROR);
  CHECK_INT(r.n_tests, 4);
  zr_codetest_result_release(&r);
  r = run("import nonexistent_module_zz\n", "python3", t, &o);
  CHECK_INT(r.status, ZR_CT_RUNTIME_ERROR);
  CHECK_CONTAINS(r.cases[0].detail, "ModuleNotFoundError");
  zr_codetest_result_release(&r);
  quick.memory_mb = 128;
  r = run("def total(xs):\n    a = []\n    while True: a.append(bytearray(1 << 24))\n", "python3", t, &quick);
  CHECK_INT(r.status, ZR_CT_MEMORY_LIMIT);
  zr_codetest_result_release(&r);
  json_decref(t);
}

static void test_assert_mbpp(void) {
  json_t *t = assert_tests("import math\n"
                           "assert area(2) == 4\n"
                           "assert math.isclose(area(1.5), 2.25)\n"
                           "assert area(3) == 9\n",
                           "area");
  zr_codetest_opts o = opts(2);
  zr_codetest_result r = run("def area(x):\n    return x * x\n", "python3", t, &o);
  CHECK_INT(r.n_tests, 3);
  CHECK_INT(r.all_passed, 1);
  zr_codetest_result_release(&r);
  r = run("def area(x):\n    return x * x if x != 3 else 10\n", "python3", t, &o);
  CHECK_INT(r.n_passed, 2);
  CHECK_INT(r.cases[2].status, ZR_CT_WRONG_ANSWER);
  zr_codetest_result_release(&r);
  json_decref(t);
  /* user classes cross as handles: constructed and passed back, never compared */
  t = assert_tests("assert chain([Pair(5, 24), Pair(15, 25), Pair(27, 40)]) == 3\n"
                   "assert chain([Pair(1, 2)]) == 1\n",
                   "chain");
  r = run("class Pair:\n    def __init__(s, a, b): s.a, s.b = a, b\n"
          "def chain(ps):\n    return len(ps)\n",
          "python3", t, &o);
  CHECK_INT(r.all_passed, 1);
  zr_codetest_result_release(&r);
  json_decref(t);
  /* generators and other objects come back as handles: never equal to plain values */
  t = assert_tests("assert list(evens(5)) == [0, 2, 4]\n", "evens");
  r = run("def evens(n):\n    return (i for i in range(n) if i % 2 == 0)\n", "python3", t, &o);
  CHECK_INT(r.all_passed, 0);
  zr_codetest_result_release(&r);
  json_decref(t);
}

static void test_completion(void) {
  json_t *t = stdio_tests(2, sum_io);
  zr_codetest_opts o = opts(2);
  zr_codetest_result r;
  const char *completion =
      "Let me think.\n```python\nprint('draft')\n```\nBetter:\n\n```python\na, b = map(int, input().split())\n"
      "print(a + b)\n```\nExample output:\n```\n3\n```\n";
  CHECK_INT(zr_codetest_run_completion(completion, "python3", t, &o, &r), 0);
  CHECK_INT(r.all_passed, 1);
  zr_codetest_result_release(&r);
  CHECK_INT(zr_codetest_run_completion("I cannot solve this.", "python3", t, &o, &r), 1);
  CHECK_INT(r.n_tests, 2);
  CHECK_INT(r.status, ZR_CT_COMPILE_ERROR);
  zr_codetest_result_release(&r);
  /* any_language: a C++ block answers a task posed in Python */
  o.any_language = 1;
  CHECK_INT(zr_codetest_run_completion("```cpp\n#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b;}\n```",
                                       "python3", t, &o, &r),
            0);
  CHECK_STR(r.language, "cpp");
  CHECK_INT(r.all_passed, 1);
  zr_codetest_result_release(&r);
  json_decref(t);
  /* bad specs are errors, not verdicts */
  json_t *bad = json_pack("{s:s}", "type", "fuzzy");
  CHECK(zr_codetest_run("print(1)", "python3", bad, &o, &r) < 0);
  CHECK_CONTAINS(zr_errmsg(), "unknown tests type");
  zr_codetest_result_release(&r);
  json_decref(bad);
  bad = json_pack("{s:s,s:[{s:i}]}", "type", "stdio", "cases", "input", 3);
  CHECK(zr_codetest_run("print(1)", "python3", bad, &o, &r) < 0);
  zr_codetest_result_release(&r);
  json_decref(bad);
  t = assert_tests("assert f() == 1\n", "f");
  CHECK(zr_codetest_run("int f(){return 1;}", "c", t, &o, &r) < 0);
  CHECK_CONTAINS(zr_errmsg(), "need python3");
  zr_codetest_result_release(&r);
  json_decref(t);
}

int main(void) {
  test_stdio_python();
  test_stdio_numbers();
  test_stdio_c_cpp();
  test_assert_humaneval();
  test_assert_mbpp();
  test_completion();
  return TEST_DONE();
}
