/* mathnum.h: evaluates scalar expression trees (mathparse.h) for the math verifier.
 *
 * Two evaluators, both bounded by zr_math_limits and a step budget:
 *  - zr_mnum_exact: exact arithmetic over the rationals with GMP (integers of any size within
 *    max_bits, fractions, decimals, integer powers, perfect roots, factorials, binomials,
 *    percent). Before a power, factorial or binomial is computed its size is estimated, and an
 *    estimate beyond max_bits / max_exponent stops the evaluation with -E2BIG: 10^{10^{10}} is
 *    refused, never computed.
 *  - zr_mnum_eval: complex arithmetic in MPFR at a chosen precision, for irrational values
 *    (\sqrt, \pi, e, i, logs, trig) and for variables bound to sample values.
 * The context (zr_mctx) owns nothing but its step counter and the variable binding, which the
 * caller owns. */
#ifndef ZR_MATHNUM_H
#define ZR_MATHNUM_H

#include <gmp.h>
#include <mpfr.h>

#include "reward/mathparse.h"

typedef struct {
  const zr_math_limits *lim;
  long steps;
  mpfr_prec_t prec;
  int nvars;
  char **names;   /* variable names, sorted */
  mpfr_t *vals;   /* their current sample values (real) */
  unsigned pm_mask; /* \pm choices: bit j set takes '-' at the j-th \pm met in evaluation order */
  int pm_next;      /* reset to 0 before each evaluation */
  long max_exp;     /* largest binary exponent of any intermediate value seen (precision hint) */
  char why[96];     /* why a bound was hit */
} zr_mctx;

typedef struct {
  mpfr_t re, im;
} zr_cx;

enum { ZR_EX_OK = 0, ZR_EX_INEXACT = 1, ZR_EX_UNDEF = 2 };

/* Exact value of n into out: ZR_EX_OK, ZR_EX_INEXACT (symbols, irrational values, infinity),
 * ZR_EX_UNDEF (division by zero, 0^-1, (-1)!), or -E2BIG when a bound was hit (c->why). */
int zr_mnum_exact(zr_mctx *c, const zr_mnode *n, mpq_t out);

void zr_cx_init(zr_cx *z, mpfr_prec_t prec);
void zr_cx_clear(zr_cx *z);

/* Complex value of n under c's variable binding: 0 (out may be NaN where undefined), or
 * -E2BIG when a bound was hit (step budget, exponent size, overflow). */
int zr_mnum_eval(zr_mctx *c, const zr_mnode *n, zr_cx *out);

/* Collects the distinct variable names of n into names (sorted, at most max; pointers into the
 * tree). Returns the count, or -E2BIG when there are more than max. */
int zr_mnum_vars(const zr_mnode *n, const char **names, int count, int max);

/* Largest number of bits of any literal in n (to choose the MPFR precision). */
long zr_mnum_literal_bits(const zr_mnode *n);

#endif
