/* mathcmp.h: scalar and relation comparison for the math verifier (internal to mathequal.c).
 *
 * A zr_mcmp holds one comparison's shared budget: the evaluation context (steps, precision)
 * and what happened (a bound hit, the method that decided). Functions return 1 (equal),
 * 0 (not equal) or a negative code when a bound was hit (c->why says which). */
#ifndef ZR_MATHCMP_H
#define ZR_MATHCMP_H

#include "reward/mathnum.h"
#include "reward/mathparse.h"

typedef struct {
  const zr_math_limits *lim;
  zr_mctx mc;
  const char *method;
  int depth; /* structural recursion depth */
  char why[96];
} zr_mcmp;

void zr_mcmp_init(zr_mcmp *c, const zr_math_limits *lim);

/* Scalars g and p, with \pm choices gm / pm (see zr_mctx.pm_mask). */
int zr_mcmp_scalar(zr_mcmp *c, const zr_mnode *g, unsigned gm, const zr_mnode *p, unsigned pm);

/* Two relations (ZR_MN_REL). */
int zr_mcmp_relation(zr_mcmp *c, const zr_mnode *g, const zr_mnode *p);

/* Number of \pm / \mp nodes in a tree. */
int zr_mcmp_count_pm(const zr_mnode *n);

/* 1 if the tree contains a variable. */
int zr_mcmp_has_vars(const zr_mnode *n);

#endif
