/* mathequal.h: decides whether a predicted math answer equals the gold answer.
 *
 * zr_math_equal parses both answers (mathparse.h) and compares the trees:
 *  - identical text (after dropping spaces, $, \left/\right, spacing commands) is equal at once;
 *  - numbers compare exactly as rationals (GMP): 0.5 = \frac{1}{2} = 50\% of 1 = 1/2;
 *    irrational values (\sqrt, \pi, e, logs, trig, i) compare numerically in MPFR at >= 256
 *    bits (more when the literals are large) with a relative tolerance of 2^-(prec/2+16);
 *  - a decimal written with >= approx_decimals fractional digits also matches a value within
 *    10^-k of it (0.3333 = 1/3, 1.4142 = \sqrt{2}); shorter decimals compare exactly;
 *  - expressions with variables are evaluated at `points` pseudo-random points (4 positive and
 *    2 negative by default, deterministic) and must agree at every point where either side is
 *    defined;
 *  - a percentage p% matches p and p/100; a degree value x° matches x and x·π/180;
 *  - "x = 5" (a variable or f(x) on the left), "x \in S" and chains "a = b = 5" reduce to their
 *    right side against a non-relation gold; a gold "y = 2x+1" matches "2x+1"; a relation
 *    against a relation compares lhs - rhs up to a constant factor (positive for inequalities,
 *    so x < 1 = -x > -1 and 2x+4y-3=0 = y=-x/2+3/4); a gold inequality in one variable matches
 *    the equivalent interval, never the reverse (a restated inequality is not an answer);
 *  - tuples compare in order; a two-element tuple/interval must have the same brackets
 *    ((0,9) != [0,9)); sets, comma lists and \pm expansions compare as unordered sets; a comma
 *    list also matches a tuple with the same elements in any order, a set never matches a
 *    tuple; matrices compare by shape and cells, and an n x 1 or 1 x n matrix matches an
 *    n-tuple; unions compare their parts as a set; word answers compare case-insensitively.
 * Every comparison runs within zr_math_limits; a bound that is hit gives ZR_VERIFY_TIMEOUT with a
 * detail saying which ("too large: exponent too large"), never unbounded work.
 *
 * zr_verify_math extracts the answer from a completion (extract.h) and compares it.
 * Ownership: verdicts are plain values owned by the caller; nothing is retained. */
#ifndef ZR_MATHEQUAL_H
#define ZR_MATHEQUAL_H

#include <stddef.h>

#include "reward/extract.h"
#include "reward/mathparse.h"
#include "reward/reward.h"

typedef struct {
  zr_verify_status status; /* OK, NO_ANSWER, TIMEOUT (a bound was hit), ERROR (gold unusable) */
  int equal;               /* 1 when status is OK and the answers are equal */
  char method[16];         /* how it was decided: string, exact, numeric, symbolic, approx, text,
                              relation, structure, parse */
  char detail[192];        /* a short human-readable reason */
  char answer[128];        /* the prediction that was compared (truncated) */
} zr_math_verdict;

/* Compares pred with gold. Returns 0 with *out filled (whatever the verdict), or -EINVAL for
 * NULL arguments. lim may be NULL for the defaults. */
int zr_math_equal(const char *pred, const char *gold, const zr_math_limits *lim, zr_math_verdict *out);

/* Same for spans that are not NUL-terminated. */
int zr_math_equal_n(const char *pred, size_t pred_len, const char *gold, size_t gold_len,
                    const zr_math_limits *lim, zr_math_verdict *out);

/* Extracts the answer from completion[0..len) with ex and compares it with gold. No answer gives
 * status ZR_VERIFY_NO_ANSWER; a completion longer than lim->max_input gives ZR_VERIFY_TIMEOUT. */
int zr_verify_math(const char *completion, size_t len, const char *gold, zr_extractor ex,
                   const zr_math_limits *lim, zr_math_verdict *out);

#endif
