/* codetest.h: score a model's code against a task's tests, in the sandbox (sandbox.h).
 *
 * The code is the last fenced block of the completion (```python ... ```, ```cpp, plain ```).
 * Tests come in the task format of DESIGN.md section 6:
 *   {"type": "stdio", "cases": [{"input": "...", "output": "..."}, ...]}
 *   {"type": "assert", "code": "...", "entry_point": "name"}   (HumanEval / MBPP style, Python)
 * Every test gets a status (pass, wrong answer, timeout, memory limit, runtime error, output
 * limit, compile error); the result reports the pass fraction and whether all passed.
 *
 * Who decides a verdict. The program under test never does:
 *  - stdio: each case runs in a fresh jail with the input as stdin; the expected output never
 *    enters a jail; the launcher compares the captured stdout with it here, in C (tokens or
 *    lines, numbers with a tolerance, integers exactly). Exit status 0 is required too.
 *  - assert: two jails run side by side, joined only by a pair of pipes. The WORKER jail loads
 *    the solution and answers calls. The CHECKER jail holds the test code and runs it with the
 *    entry point (and any other name the tests leave undefined) replaced by proxies: a call
 *    sends its arguments to the worker as plain data (None, bool, int, float, complex, str,
 *    bytes, list, tuple, dict, set, frozenset) and gets back plain data, rebuilt in the checker
 *    from JSON with the builtin types, or an opaque handle for anything else (equal only to
 *    itself). So every `==`, `abs(...) < eps`, `isclose`, loop or helper of the test code runs
 *    on builtin values in an interpreter that has never run the solution's code: an object
 *    whose __eq__ always says yes cannot cross, monkeypatching reaches only the worker,
 *    sys.exit(0)/os._exit before or during the tests just ends the worker (those tests fail,
 *    they do not pass), printed "PASS" markers go to a stdout nobody reads, and the expected
 *    values (in the test code) are never in the worker's jail. The checker reports one line
 *    per test on its own fd 3 (a pipe only the launcher reads; the worker has no path to it:
 *    different pid, mount and user namespaces), each tagged with a random per-run nonce the
 *    worker never sees; the launcher accepts only nonce-tagged lines, each test once, and a
 *    final "done" line, and turns anything missing into a failure.
 *  Names the tests use but do not define: builtins always stay the checker's own (a solution
 *  that redefines abs or sorted changes nothing), except the entry point, which wins even over
 *  a builtin of the same name (MBPP/126 calls its function `sum`); a module the solution imported
 *  (MBPP tests use the solution's `import sys`) is imported afresh by the checker; any other
 *  callable becomes a proxy.
 *  Limits of the design: the solution still chooses its return values (a test that only
 *  checks truthiness is as weak as it was); a test that calls a helper the test code does not
 *  define gets the solution's helper through the proxy (importers must put judging helpers into
 *  the test code, as the HumanEval importer in the tests puts the prompt's helpers there);
 *  arguments are passed by value (a test that checks in-place mutation of its argument cannot
 *  see it); values outside the plain types (generators, user classes) become handles; once a
 *  call times out the solution is still busy, so the remaining tests count as timeouts.
 *
 * Results own their case array (zr_codetest_result_release). Calls are thread-safe. */
#ifndef ZR_CODETEST_H
#define ZR_CODETEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  ZR_CT_PASS = 0,
  ZR_CT_WRONG_ANSWER,
  ZR_CT_TIMEOUT,
  ZR_CT_MEMORY_LIMIT,
  ZR_CT_RUNTIME_ERROR,
  ZR_CT_OUTPUT_LIMIT,
  ZR_CT_COMPILE_ERROR,
  ZR_CT_SANDBOX_ERROR, /* the sandbox failed: not the program's fault (the call returns < 0) */
} zr_codetest_status;

typedef enum {
  ZR_CT_CMP_TOKENS = 0, /* whitespace-separated tokens, line breaks ignored (testlib's wcmp) */
  ZR_CT_CMP_LINES,      /* same number of lines (trailing blank lines ignored), tokens per line */
} zr_codetest_cmp;

typedef struct {
  double time_limit_s;   /* CPU seconds per stdio case; per call (and for loading) in assert tests */
  double total_time_s;   /* budget for all cases / the whole assert run */
  uint32_t memory_mb;    /* per jail */
  zr_codetest_cmp compare;
  double abs_tol, rel_tol; /* a non-integer number token matches when |got-want| <= max(abs, rel*|want|) */
  int case_insensitive;  /* compare words ignoring ASCII case ("YES" == "yes") */
  int max_cases;         /* stdio: run at most this many cases (0 = all) */
  int stop_at_first_failure; /* stdio: the remaining cases are not run (and count as failed) */
  int parallel;          /* stdio: cases run at the same time (jails) */
  size_t output_cap;     /* stdout cap per case; at least 2 * expected + 4 KiB is always allowed */
  int any_language;      /* take the language of the code block's tag when it names one (stdio) */
} zr_codetest_opts;

typedef struct {
  zr_codetest_status status;
  double time_ms; /* wall time of the case's run (stdio) */
  char detail[200];
} zr_codetest_case;

typedef struct {
  zr_codetest_status status; /* PASS when every test passed, else the first failing test's status */
  int n_tests, n_passed;
  double pass_fraction;
  int all_passed;
  zr_codetest_case *cases; /* n_tests entries */
  double wall_ms;
  char language[16];
  char detail[512]; /* compiler message, harness notes */
} zr_codetest_result;

/* Defaults: 4 s per case/call, 60 s in all, 512 MiB, tokens, 1e-6 tolerances, case-sensitive,
 * every case, no early stop, 1 at a time, 1 MiB output, task language only. */
void zr_codetest_opts_init(zr_codetest_opts *o);

/* Finds the last fenced code block (``` or ~~~) in text. A block whose tag names a known
 * language wins over later untagged blocks, which win over blocks tagged otherwise (```text).
 * On success *code (caller frees) is the block's body and tag (may be NULL) its lower-cased
 * info word ("" if none). Returns 0, or -ENOENT when there is no complete block. */
int zr_codetest_extract(const char *text, char **code, char tag[24]);

/* Compares a program's output with the expected one; returns 1 when they match. why (may be
 * NULL) says where they first differ. */
int zr_codetest_compare(const char *got, size_t got_len, const char *want, size_t want_len,
                        const zr_codetest_opts *o, char *why, size_t why_cap);

/* Runs code (in language, a lang.h name or alias) against tests. Returns 0 when the tests ran
 * (see out->status and the cases), negative when the spec is bad (-EINVAL) or the sandbox
 * failed; *out is always initialised. */
int zr_codetest_run(const char *code, const char *language, const json_t *tests, const zr_codetest_opts *o,
                    zr_codetest_result *out);

/* Extracts the code from a completion and runs it. Returns 1 (not an error) when the
 * completion has no code block: every test then fails with ZR_CT_COMPILE_ERROR. */
int zr_codetest_run_completion(const char *completion, const char *language, const json_t *tests,
                               const zr_codetest_opts *o, zr_codetest_result *out);

void zr_codetest_result_release(zr_codetest_result *r);

/* "pass", "wrong_answer", "timeout", "memory_limit", "runtime_error", "output_limit",
 * "compile_error", "sandbox_error" */
const char *zr_codetest_status_name(zr_codetest_status s);

#endif
