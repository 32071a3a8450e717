/* test.h: the minimal test harness used by every unit and integration test.
 *
 * A test program is a main() that calls CHECK* macros; failures print file, line and the
 * values involved and are counted; TEST_DONE() returns the exit status. A test that cannot run
 * here (no data directory, no tool) calls TEST_SKIP(reason), which exits 77 so that ctest
 * reports it as skipped, not passed. */
#ifndef ZR_TEST_H
#define ZR_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int zr_test_failures;
static int zr_test_checks;

#define CHECK(cond)                                                          \
  do {                                                                       \
    zr_test_checks++;                                                        \
    if (!(cond)) {                                                           \
      zr_test_failures++;                                                    \
      fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);        \
    }                                                                        \
  } while (0)

#define CHECK_INT(a, b)                                                                        \
  do {                                                                                         \
    long long zr_a_ = (long long)(a), zr_b_ = (long long)(b);                                  \
    zr_test_checks++;                                                                          \
    if (zr_a_ != zr_b_) {                                                                      \
      zr_test_failures++;                                                                      \
      fprintf(stderr, "FAIL %s:%d: %s == %s (%lld vs %lld)\n", __FILE__, __LINE__, #a, #b,     \
              zr_a_, zr_b_);                                                                   \
    }                                                                                          \
  } while (0)

#define CHECK_STR(a, b)                                                                        \
  do {                                                                                         \
    const char *zr_a_ = (a), *zr_b_ = (b);                                                     \
    zr_test_checks++;                                                                          \
    if (!zr_a_ || !zr_b_ || strcmp(zr_a_, zr_b_) != 0) {                                       \
      zr_test_failures++;                                                                      \
      fprintf(stderr, "FAIL %s:%d: %s == %s (\"%s\" vs \"%s\")\n", __FILE__, __LINE__, #a, #b, \
              zr_a_ ? zr_a_ : "(null)", zr_b_ ? zr_b_ : "(null)");                             \
    }                                                                                          \
  } while (0)

/* Checks that haystack contains needle (error messages). */
#define CHECK_CONTAINS(hay, needle)                                                            \
  do {                                                                                         \
    const char *zr_h_ = (hay), *zr_n_ = (needle);                                              \
    zr_test_checks++;                                                                          \
    if (!zr_h_ || !strstr(zr_h_, zr_n_)) {                                                     \
      zr_test_failures++;                                                                      \
      fprintf(stderr, "FAIL %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,      \
              zr_h_ ? zr_h_ : "(null)", zr_n_);                                                \
    }                                                                                          \
  } while (0)

#define TEST_SKIP(...)                     \
  do {                                     \
    fprintf(stderr, "SKIP: " __VA_ARGS__); \
    fprintf(stderr, "\n");                 \
    exit(77);                              \
  } while (0)

#define TEST_DONE()                                                                         \
  (fprintf(stderr, "%s: %d checks, %d failures\n", __FILE__, zr_test_checks, zr_test_failures), \
   zr_test_failures ? 1 : 0)

#endif
