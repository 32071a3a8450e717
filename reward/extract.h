/* extract.h: finds the final answer in a model completion.
 *
 * Extractors (choose one per task by name, zr_extractor_from_name):
 *   "answer"  the content of the LAST <answer>...</answer> (R1 template); a \boxed{} inside it
 *             is unwrapped. An <answer> that is never closed is no answer.
 *   "boxed"   the content of the LAST \boxed{...} or \fbox{...} (nested braces matched), or
 *             "\boxed 5" (one token after a space). An unclosed \boxed{ is no answer.
 *   "gsm8k"   the rest of the line after the LAST "#### " (GSM8K's solution format).
 *   "answer_is" the text after the LAST "the answer is" / "final answer is" / "answer:"
 *             (case-insensitive, markdown ** allowed), up to the end of the line or sentence.
 *   "auto"    the first of these that finds something, in this order: answer, boxed,
 *             answer_is, gsm8k.
 * Finding nothing is a normal outcome (the caller reports ZR_VERIFY_NO_ANSWER), not an error.
 * Inputs are bounded: a completion longer than max_input bytes is refused with -E2BIG.
 * Ownership: the returned span points into the caller's text; nothing is allocated. */
#ifndef ZR_EXTRACT_H
#define ZR_EXTRACT_H

#include <stddef.h>

typedef enum {
  ZR_EXTRACT_AUTO = 0,
  ZR_EXTRACT_ANSWER_TAG,
  ZR_EXTRACT_BOXED,
  ZR_EXTRACT_GSM8K,
  ZR_EXTRACT_ANSWER_IS,
} zr_extractor;

typedef struct {
  size_t start, len; /* byte span of the answer in the text, trimmed of spaces, $ and a final '.' */
  zr_extractor by;   /* which extractor found it (useful for "auto") */
} zr_span;

/* Parses an extractor name ("auto", "answer", "boxed", "gsm8k", "answer_is"): 0 or -EINVAL. */
int zr_extractor_from_name(const char *name, zr_extractor *out);
const char *zr_extractor_name(zr_extractor ex);

/* Finds the answer in text[0..len): returns 1 (found, *out set), 0 (no answer) or -E2BIG when
 * len > max_input. */
int zr_extract_answer(const char *text, size_t len, zr_extractor ex, size_t max_input, zr_span *out);

/* The last \boxed{...}/\fbox{...} content of text[0..len): 1 found, 0 not. */
int zr_extract_last_boxed(const char *text, size_t len, zr_span *out);

#endif
