/* codetest_internal.h: the parts of reward/codetest*.c, private to them.
 *
 * codetest.c          the API: options, spec parsing, dispatch, results.
 * codetest_extract.c  the last fenced code block of a completion.
 * codetest_compare.c  output comparison for stdin/stdout tests.
 * codetest_stdio.c    stdin/stdout tests: compile once, one jail per case.
 * codetest_assert.c   assert tests: the checker and worker jails and the verdict channel.
 * codetest_harness.c  the Python of the checker and the worker (see codetest.h for the design). */
#ifndef ZR_CODETEST_INTERNAL_H
#define ZR_CODETEST_INTERNAL_H

#include "reward/codetest.h"
#include "reward/lang.h"

extern const char zr_codetest_checker_py[];
extern const char zr_codetest_worker_py[];

/* Sizes out->cases for n tests, all ZR_CT_RUNTIME_ERROR with an empty detail. */
int zr_ct_result_alloc(zr_codetest_result *out, int n);
/* Every test fails with one status and reason (no code, compile error). */
int zr_ct_fail_all(zr_codetest_result *out, int n, zr_codetest_status st, const char *why);
/* Fills pass counts, fraction, all_passed and the overall status from the cases. */
void zr_ct_result_finish(zr_codetest_result *out);

int zr_ct_run_stdio(const char *code, const zr_lang *lang, const json_t *cases, const zr_codetest_opts *o,
                    zr_codetest_result *out);
int zr_ct_run_assert(const char *code, const zr_lang *lang, const char *test_code, const char *entry_point,
                     const zr_codetest_opts *o, zr_codetest_result *out);

#endif
