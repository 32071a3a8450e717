/* Unit tests for reward/extract: every extractor, the auto order, NO_ANSWER cases and the input
 * bound (a huge completion is refused quickly, a long one is scanned in linear time). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reward/extract.h"
#include "tests/test.h"

static const char *got(const char *text, zr_extractor ex) {
  static char buf[256];
  zr_span sp;
  int rc = zr_extract_answer(text, strlen(text), ex, 1u << 20, &sp);
  if (rc < 0) return "<error>";
  if (rc == 0) return "<none>";
  snprintf(buf, sizeof buf, "%.*s", (int)sp.len, text + sp.start);
  return buf;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void) {
  /* names */
  zr_extractor ex;
  CHECK_INT(zr_extractor_from_name("boxed", &ex), 0);
  CHECK_INT(ex, ZR_EXTRACT_BOXED);
  CHECK_INT(zr_extractor_from_name("gsm8k", &ex), 0);
  CHECK_INT(ex, ZR_EXTRACT_GSM8K);
  CHECK_INT(zr_extractor_from_name("nope", &ex), -EINVAL);
  CHECK_STR(zr_extractor_name(ZR_EXTRACT_ANSWER_IS), "answer_is");

  /* <answer> tags: the last one; \boxed inside is unwrapped; unclosed is no answer */
  CHECK_STR(got("<think>2+2</think>\n<answer> 4 </answer>", ZR_EXTRACT_ANSWER_TAG), "4");
  CHECK_STR(got("<answer>3</answer> wait <answer>5</answer>", ZR_EXTRACT_ANSWER_TAG), "5");
  CHECK_STR(got("<answer>The result is \\boxed{\\frac{1}{2}}.</answer>", ZR_EXTRACT_ANSWER_TAG), "\\frac{1}{2}");
  CHECK_STR(got("<answer>$x = 3$</answer>", ZR_EXTRACT_ANSWER_TAG), "x = 3");
  CHECK_STR(got("<think>...</think><answer>12", ZR_EXTRACT_ANSWER_TAG), "<none>");
  CHECK_STR(got("no tags here", ZR_EXTRACT_ANSWER_TAG), "<none>");
  CHECK_STR(got("</answer> backwards <answer>", ZR_EXTRACT_ANSWER_TAG), "<none>");

  /* \boxed: last, nested braces, \fbox, "\boxed 5", unclosed */
  CHECK_STR(got("first \\boxed{1} then \\boxed{2}", ZR_EXTRACT_BOXED), "2");
  CHECK_STR(got("so $\\boxed{\\frac{\\sqrt{3}}{2}}$.", ZR_EXTRACT_BOXED), "\\frac{\\sqrt{3}}{2}");
  CHECK_STR(got("\\boxed{\\{1, 2\\}}", ZR_EXTRACT_BOXED), "\\{1, 2\\}");
  CHECK_STR(got("\\fbox{7}", ZR_EXTRACT_BOXED), "7");
  CHECK_STR(got("\\boxed{1} and \\fbox{9}", ZR_EXTRACT_BOXED), "9");
  CHECK_STR(got("The answer is $\\boxed 5$.", ZR_EXTRACT_BOXED), "5");
  CHECK_STR(got("\\boxed{3} then \\boxed{4", ZR_EXTRACT_BOXED), "<none>");
  CHECK_STR(got("\\boxedthing{3}", ZR_EXTRACT_BOXED), "<none>");
  CHECK_STR(got("nothing", ZR_EXTRACT_BOXED), "<none>");
  CHECK_STR(got("\\boxed{}", ZR_EXTRACT_BOXED), "");

  /* GSM8K */
  CHECK_STR(got("She makes 9 * 2 = $18.\n#### 18", ZR_EXTRACT_GSM8K), "18");
  CHECK_STR(got("#### 1,000\n", ZR_EXTRACT_GSM8K), "1,000");
  CHECK_STR(got("#### 1\nmore\n#### -3", ZR_EXTRACT_GSM8K), "-3");
  CHECK_STR(got("no marker", ZR_EXTRACT_GSM8K), "<none>");
  CHECK_STR(got("####   \n", ZR_EXTRACT_GSM8K), "<none>");

  /* "the answer is" */
  CHECK_STR(got("Thus the answer is 42.", ZR_EXTRACT_ANSWER_IS), "42");
  CHECK_STR(got("The final answer is $\\frac{3}{4}$. I hope it is correct.", ZR_EXTRACT_ANSWER_IS), "\\frac{3}{4}");
  CHECK_STR(got("**Final Answer:** 3.5\nbye", ZR_EXTRACT_ANSWER_IS), "3.5");
  CHECK_STR(got("Answer: 12 apples", ZR_EXTRACT_ANSWER_IS), "12 apples");
  CHECK_STR(got("the answer is 1. No wait, the answer is 2.", ZR_EXTRACT_ANSWER_IS), "2");
  CHECK_STR(got("the answer is \\boxed{7} surely", ZR_EXTRACT_ANSWER_IS), "7");
  CHECK_STR(got("I don't know", ZR_EXTRACT_ANSWER_IS), "<none>");

  /* auto: answer tag > boxed > answer is > gsm8k */
  zr_span sp;
  const char *t1 = "\\boxed{1} <answer>2</answer>";
  CHECK_INT(zr_extract_answer(t1, strlen(t1), ZR_EXTRACT_AUTO, 1000, &sp), 1);
  CHECK_INT(sp.by, ZR_EXTRACT_ANSWER_TAG);
  CHECK_STR(got(t1, ZR_EXTRACT_AUTO), "2");
  CHECK_STR(got("the answer is 3 so \\boxed{4}", ZR_EXTRACT_AUTO), "4");
  CHECK_STR(got("#### 5\nthe answer is 6", ZR_EXTRACT_AUTO), "6");
  CHECK_STR(got("work\n#### 7", ZR_EXTRACT_AUTO), "7");
  CHECK_STR(got("just text 8", ZR_EXTRACT_AUTO), "<none>");
  CHECK_STR(got("", ZR_EXTRACT_AUTO), "<none>");

  /* bounds: over max_input is refused; a long input is scanned quickly */
  size_t big = 8u << 20;
  char *huge = malloc(big + 1);
  CHECK(huge != NULL);
  if (huge) {
    memset(huge, 'a', big);
    huge[big] = '\0';
    double t0 = now_s();
    CHECK_INT(zr_extract_answer(huge, big, ZR_EXTRACT_AUTO, 1u << 20, &sp), -E2BIG);
    /* many decoy "\boxedx" and "answer" markers: still linear */
    for (size_t i = 0; i + 8 < big; i += 8) memcpy(huge + i, "\\boxedx ", 8);
    memcpy(huge + big - 12, "\\boxed{42}  ", 12);
    CHECK_INT(zr_extract_answer(huge, big, ZR_EXTRACT_BOXED, big, &sp), 1);
    CHECK_INT(sp.len, 2);
    for (size_t i = 0; i + 8 < big; i += 8) memcpy(huge + i, "answer: ", 8);
    CHECK_INT(zr_extract_answer(huge, big, ZR_EXTRACT_AUTO, big, &sp), 1);
    double dt = now_s() - t0;
    fprintf(stderr, "extraction over 3 x 8 MiB: %.3f s\n", dt);
    CHECK(dt < 5.0);
    free(huge);
  }
  return TEST_DONE();
}
