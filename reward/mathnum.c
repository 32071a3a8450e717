/* mathnum.c: exact (GMP) and numeric (MPFR complex) evaluation of math trees; see mathnum.h. */
#include "reward/mathnum.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

static int too_large(zr_mctx *c, const char *why) {
  snprintf(c->why, sizeof c->why, "%s", why);
  return zr_seterr(-E2BIG, "math check too large: %s", why);
}

/* One evaluation step; numeric steps cost more at high precision. */
static int step(zr_mctx *c) {
  c->steps += 1 + (long)(c->prec / 512);
  if (c->steps > c->lim->max_steps) return too_large(c, "step budget exhausted");
  return 0;
}

static long qbits(const mpq_t q) {
  return (long)(mpz_sizeinbase(mpq_numref(q), 2) + mpz_sizeinbase(mpq_denref(q), 2));
}

static int check_bits(zr_mctx *c, const mpq_t q) {
  return qbits(q) > c->lim->max_bits ? too_large(c, "number exceeds the bit limit") : 0;
}

/* ---- exact ---------------------------------------------------------------------------- */

/* Integer k-th root of a non-negative integer if exact: 1 and r set, else 0. */
static int exact_root_z(mpz_t r, const mpz_t a, unsigned long k) { return mpz_root(r, a, k) != 0; }

/* q^(1/k) exactly when it is rational (k >= 1). 1 if exact. Negative q only for odd k. */
static int exact_root_q(mpq_t out, const mpq_t q, unsigned long k) {
  int neg = mpq_sgn(q) < 0;
  if (neg && k % 2 == 0) return 0;
  mpz_t n, d;
  mpz_inits(n, d, NULL);
  mpz_abs(n, mpq_numref(q));
  int ok = exact_root_z(n, n, k) && exact_root_z(d, mpq_denref(q), k);
  if (ok) {
    if (neg) mpz_neg(n, n);
    mpq_set_num(out, n);
    mpq_set_den(out, d);
    mpq_canonicalize(out);
  }
  mpz_clears(n, d, NULL);
  return ok;
}

static int exact_pow(zr_mctx *c, mpq_t out, const mpq_t b, const mpq_t e) {
  if (mpz_cmp_ui(mpq_denref(e), 1) != 0) {
    /* rational exponent p/q: exact only if b is a perfect q-th power */
    if (!mpz_fits_slong_p(mpq_denref(e)) || mpz_get_si(mpq_denref(e)) > 64) return ZR_EX_INEXACT;
    unsigned long q = mpz_get_ui(mpq_denref(e));
    mpq_t r, p;
    mpq_inits(r, p, NULL);
    int ok = exact_root_q(r, b, q);
    int rc = ZR_EX_INEXACT;
    if (ok) {
      mpq_set_z(p, mpq_numref(e));
      rc = exact_pow(c, out, r, p);
    }
    mpq_clears(r, p, NULL);
    return rc;
  }
  if (mpq_sgn(b) == 0) {
    if (mpq_sgn(e) < 0) return ZR_EX_UNDEF;
    mpq_set_ui(out, mpq_sgn(e) == 0 ? 1 : 0, 1);
    return ZR_EX_OK;
  }
  /* |b| == 1 */
  if (mpz_cmpabs_ui(mpq_numref(b), 1) == 0 && mpz_cmp_ui(mpq_denref(b), 1) == 0) {
    int odd = mpz_odd_p(mpq_numref(e));
    mpq_set_si(out, (mpq_sgn(b) < 0 && odd) ? -1 : 1, 1);
    return ZR_EX_OK;
  }
  if (!mpz_fits_slong_p(mpq_numref(e))) return too_large(c, "exponent too large");
  long k = mpz_get_si(mpq_numref(e));
  long ak = k < 0 ? -k : k;
  if (ak > c->lim->max_exponent) return too_large(c, "exponent too large");
  /* log2 of the result's numerator and denominator, estimated before computing it */
  long en, ed;
  double mn = mpz_get_d_2exp(&en, mpq_numref(b)), md = mpz_get_d_2exp(&ed, mpq_denref(b));
  double lb = (double)en + __builtin_log2(mn < 0 ? -mn : mn) + (double)ed + __builtin_log2(md);
  if (lb * (double)ak > (double)c->lim->max_bits + 64.0) return too_large(c, "power exceeds the bit limit");
  mpz_t n, d;
  mpz_inits(n, d, NULL);
  mpz_pow_ui(n, mpq_numref(b), (unsigned long)ak);
  mpz_pow_ui(d, mpq_denref(b), (unsigned long)ak);
  if (k < 0) mpz_swap(n, d);
  if (mpz_sgn(d) < 0) {
    mpz_neg(d, d);
    mpz_neg(n, n);
  }
  mpq_set_num(out, n);
  mpq_set_den(out, d);
  mpq_canonicalize(out);
  mpz_clears(n, d, NULL);
  return check_bits(c, out);
}

/* n! for a non-negative integer n within the bounds. */
static int exact_fact(zr_mctx *c, mpq_t out, const mpq_t a) {
  if (mpz_cmp_ui(mpq_denref(a), 1) != 0) return ZR_EX_INEXACT;
  if (mpq_sgn(a) < 0) return ZR_EX_UNDEF;
  if (!mpz_fits_slong_p(mpq_numref(a))) return too_large(c, "factorial argument too large");
  long n = mpz_get_si(mpq_numref(a));
  if (n > c->lim->max_exponent) return too_large(c, "factorial argument too large");
  /* log2(n!) <= n log2 n */
  double bits = 0;
  for (long k = 2; k <= n && bits <= (double)c->lim->max_bits + 64; k++) bits += __builtin_log2((double)k);
  if (bits > (double)c->lim->max_bits) return too_large(c, "factorial exceeds the bit limit");
  mpz_t f;
  mpz_init(f);
  mpz_fac_ui(f, (unsigned long)n);
  mpq_set_z(out, f);
  mpz_clear(f);
  return ZR_EX_OK;
}

static int exact_binom(zr_mctx *c, mpq_t out, const mpq_t n, const mpq_t k) {
  if (mpz_cmp_ui(mpq_denref(n), 1) != 0 || mpz_cmp_ui(mpq_denref(k), 1) != 0) return ZR_EX_INEXACT;
  if (!mpz_fits_slong_p(mpq_numref(n)) || !mpz_fits_slong_p(mpq_numref(k))) return too_large(c, "binomial too large");
  long nn = mpz_get_si(mpq_numref(n)), kk = mpz_get_si(mpq_numref(k));
  if (kk < 0 || (nn >= 0 && kk > nn)) {
    mpq_set_ui(out, 0, 1);
    return ZR_EX_OK;
  }
  if (nn < 0) return ZR_EX_INEXACT;
  long m = kk < nn - kk ? kk : nn - kk;
  if (m > c->lim->max_exponent || (double)m * __builtin_log2((double)nn + 1) > (double)c->lim->max_bits)
    return too_large(c, "binomial exceeds the bit limit");
  mpz_t r;
  mpz_init(r);
  mpz_bin_uiui(r, (unsigned long)nn, (unsigned long)kk);
  mpq_set_z(out, r);
  mpz_clear(r);
  return ZR_EX_OK;
}

int zr_mnum_exact(zr_mctx *c, const zr_mnode *n, mpq_t out) {
  int rc = step(c);
  if (rc < 0) return rc;
  switch (n->kind) {
    case ZR_MN_NUM: mpq_set(out, n->q); return ZR_EX_OK;
    case ZR_MN_NEG: case ZR_MN_ABS: case ZR_MN_PERCENT: case ZR_MN_FACT:
      rc = zr_mnum_exact(c, n->k[0], out);
      if (rc != ZR_EX_OK) return rc;
      if (n->kind == ZR_MN_NEG) mpq_neg(out, out);
      else if (n->kind == ZR_MN_ABS) mpq_abs(out, out);
      else if (n->kind == ZR_MN_PERCENT) {
        mpq_t h;
        mpq_init(h);
        mpq_set_ui(h, 1, 100);
        mpq_mul(out, out, h);
        mpq_clear(h);
      } else {
        mpq_t a;
        mpq_init(a);
        mpq_set(a, out);
        rc = exact_fact(c, out, a);
        mpq_clear(a);
        return rc;
      }
      return ZR_EX_OK;
    case ZR_MN_ADD: case ZR_MN_SUB: case ZR_MN_MUL: case ZR_MN_DIV: case ZR_MN_POW: case ZR_MN_BINOM:
    case ZR_MN_ROOT: {
      mpq_t a, b;
      mpq_inits(a, b, NULL);
      rc = zr_mnum_exact(c, n->k[0], a);
      if (rc == ZR_EX_OK) rc = zr_mnum_exact(c, n->k[1], b);
      if (rc == ZR_EX_OK) {
        switch (n->kind) {
          case ZR_MN_ADD: mpq_add(out, a, b); rc = check_bits(c, out); break;
          case ZR_MN_SUB: mpq_sub(out, a, b); rc = check_bits(c, out); break;
          case ZR_MN_MUL:
            if (qbits(a) + qbits(b) > c->lim->max_bits + 64) rc = too_large(c, "product exceeds the bit limit");
            else {
              mpq_mul(out, a, b);
              rc = check_bits(c, out);
            }
            break;
          case ZR_MN_DIV:
            if (mpq_sgn(b) == 0) rc = ZR_EX_UNDEF;
            else if (qbits(a) + qbits(b) > c->lim->max_bits + 64) rc = too_large(c, "quotient exceeds the bit limit");
            else {
              mpq_div(out, a, b);
              rc = check_bits(c, out);
            }
            break;
          case ZR_MN_POW: rc = exact_pow(c, out, a, b); break;
          case ZR_MN_BINOM: rc = exact_binom(c, out, a, b); break;
          case ZR_MN_ROOT:
            if (mpz_cmp_ui(mpq_denref(b), 1) != 0 || mpq_sgn(b) <= 0 || mpz_cmp_ui(mpq_numref(b), 64) > 0)
              rc = ZR_EX_INEXACT;
            else
              rc = exact_root_q(out, a, mpz_get_ui(mpq_numref(b))) ? ZR_EX_OK : ZR_EX_INEXACT;
            break;
          default: rc = ZR_EX_INEXACT; break;
        }
      }
      mpq_clears(a, b, NULL);
      return rc;
    }
    case ZR_MN_PM: {
      int minus = (c->pm_mask >> (c->pm_next++ & 31)) & 1;
      if (n->op) minus = !minus;
      if (n->n == 1) {
        rc = zr_mnum_exact(c, n->k[0], out);
        if (rc == ZR_EX_OK && minus) mpq_neg(out, out);
        return rc;
      }
      mpq_t a, b;
      mpq_inits(a, b, NULL);
      rc = zr_mnum_exact(c, n->k[0], a);
      if (rc == ZR_EX_OK) rc = zr_mnum_exact(c, n->k[1], b);
      if (rc == ZR_EX_OK) {
        if (minus) mpq_sub(out, a, b);
        else mpq_add(out, a, b);
      }
      mpq_clears(a, b, NULL);
      return rc;
    }
    default: return ZR_EX_INEXACT;
  }
}

/* ---- complex MPFR --------------------------------------------------------------------- */

void zr_cx_init(zr_cx *z, mpfr_prec_t prec) {
  mpfr_init2(z->re, prec);
  mpfr_init2(z->im, prec);
  mpfr_set_zero(z->re, 1);
  mpfr_set_zero(z->im, 1);
}

void zr_cx_clear(zr_cx *z) {
  mpfr_clear(z->re);
  mpfr_clear(z->im);
}

static void cx_nan(zr_cx *z) {
  mpfr_set_nan(z->re);
  mpfr_set_nan(z->im);
}

static int cx_real(const zr_cx *z) { return mpfr_zero_p(z->im); }

static void cx_mul(zr_cx *o, const zr_cx *a, const zr_cx *b, mpfr_prec_t p) {
  if (cx_real(a) && cx_real(b)) {
    mpfr_mul(o->re, a->re, b->re, MPFR_RNDN);
    mpfr_set_zero(o->im, 1);
    return;
  }
  mpfr_t t1, t2, t3;
  mpfr_inits2(p, t1, t2, t3, (mpfr_ptr)0);
  mpfr_mul(t1, a->re, b->re, MPFR_RNDN);
  mpfr_mul(t2, a->im, b->im, MPFR_RNDN);
  mpfr_mul(t3, a->re, b->im, MPFR_RNDN);
  mpfr_mul(o->im, a->im, b->re, MPFR_RNDN);
  mpfr_add(o->im, o->im, t3, MPFR_RNDN);
  mpfr_sub(o->re, t1, t2, MPFR_RNDN);
  mpfr_clears(t1, t2, t3, (mpfr_ptr)0);
}

static void cx_div(zr_cx *o, const zr_cx *a, const zr_cx *b, mpfr_prec_t p) {
  if (mpfr_zero_p(b->re) && mpfr_zero_p(b->im)) {
    cx_nan(o);
    return;
  }
  if (cx_real(b)) {
    mpfr_div(o->re, a->re, b->re, MPFR_RNDN);
    mpfr_div(o->im, a->im, b->re, MPFR_RNDN);
    return;
  }
  mpfr_t den, t1, t2, re;
  mpfr_inits2(p, den, t1, t2, re, (mpfr_ptr)0);
  mpfr_sqr(den, b->re, MPFR_RNDN);
  mpfr_sqr(t1, b->im, MPFR_RNDN);
  mpfr_add(den, den, t1, MPFR_RNDN);
  mpfr_mul(t1, a->re, b->re, MPFR_RNDN);
  mpfr_mul(t2, a->im, b->im, MPFR_RNDN);
  mpfr_add(re, t1, t2, MPFR_RNDN);
  mpfr_mul(t1, a->im, b->re, MPFR_RNDN);
  mpfr_mul(t2, a->re, b->im, MPFR_RNDN);
  mpfr_sub(o->im, t1, t2, MPFR_RNDN);
  mpfr_div(o->re, re, den, MPFR_RNDN);
  mpfr_div(o->im, o->im, den, MPFR_RNDN);
  mpfr_clears(den, t1, t2, re, (mpfr_ptr)0);
}

/* principal log: ln|z| + i arg z */
static void cx_log(zr_cx *o, const zr_cx *a, mpfr_prec_t p) {
  if (mpfr_zero_p(a->re) && mpfr_zero_p(a->im)) {
    cx_nan(o);
    return;
  }
  mpfr_t m, ar;
  mpfr_inits2(p, m, ar, (mpfr_ptr)0);
  mpfr_hypot(m, a->re, a->im, MPFR_RNDN);
  if (mpfr_zero_p(a->im)) { /* a signed zero must not pick the branch: log(-1) = i pi */
    if (mpfr_sgn(a->re) < 0) mpfr_const_pi(ar, MPFR_RNDN);
    else mpfr_set_zero(ar, 1);
  } else {
    mpfr_atan2(ar, a->im, a->re, MPFR_RNDN);
  }
  mpfr_log(o->re, m, MPFR_RNDN);
  mpfr_set(o->im, ar, MPFR_RNDN);
  mpfr_clears(m, ar, (mpfr_ptr)0);
}

static void cx_exp(zr_cx *o, const zr_cx *a, mpfr_prec_t p) {
  mpfr_t m, s, co;
  mpfr_inits2(p, m, s, co, (mpfr_ptr)0);
  mpfr_exp(m, a->re, MPFR_RNDN);
  if (mpfr_zero_p(a->im)) {
    mpfr_set(o->re, m, MPFR_RNDN);
    mpfr_set_zero(o->im, 1);
  } else {
    mpfr_sin_cos(s, co, a->im, MPFR_RNDN);
    mpfr_mul(o->re, m, co, MPFR_RNDN);
    mpfr_mul(o->im, m, s, MPFR_RNDN);
  }
  mpfr_clears(m, s, co, (mpfr_ptr)0);
}

/* z^k for an integer k by repeated squaring. */
static void cx_powi(zr_cx *o, const zr_cx *z, long k, mpfr_prec_t p) {
  zr_cx base, acc;
  zr_cx_init(&base, p);
  zr_cx_init(&acc, p);
  mpfr_set(base.re, z->re, MPFR_RNDN);
  mpfr_set(base.im, z->im, MPFR_RNDN);
  mpfr_set_ui(acc.re, 1, MPFR_RNDN);
  unsigned long e = (unsigned long)(k < 0 ? -k : k);
  while (e) {
    if (e & 1) cx_mul(&acc, &acc, &base, p);
    e >>= 1;
    if (e) cx_mul(&base, &base, &base, p);
  }
  if (k < 0) {
    zr_cx one;
    zr_cx_init(&one, p);
    mpfr_set_ui(one.re, 1, MPFR_RNDN);
    cx_div(o, &one, &acc, p);
    zr_cx_clear(&one);
  } else {
    mpfr_set(o->re, acc.re, MPFR_RNDN);
    mpfr_set(o->im, acc.im, MPFR_RNDN);
  }
  zr_cx_clear(&base);
  zr_cx_clear(&acc);
}

static int cx_pow(zr_mctx *c, zr_cx *o, const zr_cx *z, const zr_cx *w) {
  mpfr_prec_t p = c->prec;
  if (mpfr_nan_p(z->re) || mpfr_nan_p(w->re) || mpfr_nan_p(z->im) || mpfr_nan_p(w->im)) {
    cx_nan(o);
    return 0;
  }
  int zero = mpfr_zero_p(z->re) && mpfr_zero_p(z->im);
  if (cx_real(w) && mpfr_integer_p(w->re)) {
    if (mpfr_cmpabs_ui(w->re, (unsigned long)c->lim->max_exponent) > 0) {
      /* |z| == 1 or 0 stays bounded; anything else is refused */
      mpfr_t m;
      mpfr_init2(m, p);
      mpfr_hypot(m, z->re, z->im, MPFR_RNDN);
      int unit = mpfr_cmp_ui(m, 1) == 0 || mpfr_zero_p(m);
      mpfr_clear(m);
      if (!unit) return too_large(c, "exponent too large");
    }
    if (zero && mpfr_sgn(w->re) < 0) {
      cx_nan(o);
      return 0;
    }
    if (mpfr_cmpabs_ui(w->re, 1u << 30) <= 0) {
      cx_powi(o, z, mpfr_get_si(w->re, MPFR_RNDN), p);
      return 0;
    }
  }
  if (mpfr_cmpabs_ui(w->re, (unsigned long)c->lim->max_exponent) > 0 || mpfr_cmpabs_ui(w->im, (unsigned long)c->lim->max_exponent) > 0)
    return too_large(c, "exponent too large");
  if (zero) {
    if (mpfr_sgn(w->re) > 0) {
      mpfr_set_zero(o->re, 1);
      mpfr_set_zero(o->im, 1);
    } else cx_nan(o);
    return 0;
  }
  if (cx_real(z) && cx_real(w) && mpfr_sgn(z->re) > 0) {
    mpfr_pow(o->re, z->re, w->re, MPFR_RNDN);
    mpfr_set_zero(o->im, 1);
    return 0;
  }
  zr_cx l;
  zr_cx_init(&l, p);
  cx_log(&l, z, p);
  cx_mul(&l, &l, w, p);
  cx_exp(o, &l, p);
  zr_cx_clear(&l);
  return 0;
}

static int lookup_var(const zr_mctx *c, const char *name) {
  for (int i = 0; i < c->nvars; i++)
    if (strcmp(c->names[i], name) == 0) return i;
  return -1;
}

/* sin / cos / tan ... of a complex argument */
static int cx_func(zr_mctx *c, int f, zr_cx *o, const zr_cx *a) {
  mpfr_prec_t p = c->prec;
  if (mpfr_nan_p(a->re) || mpfr_nan_p(a->im) || mpfr_inf_p(a->re) || mpfr_inf_p(a->im)) {
    cx_nan(o);
    return 0;
  }
  if (f >= ZR_MF_SIN && f <= ZR_MF_TANH && f != ZR_MF_ASIN && f != ZR_MF_ACOS && f != ZR_MF_ATAN) {
    if (mpfr_get_exp(a->re) > 64 || mpfr_get_exp(a->im) > 64) return too_large(c, "trigonometric argument too large");
  }
  int real = cx_real(a);
  switch (f) {
    case ZR_MF_LN: case ZR_MF_LOG: cx_log(o, a, p); return 0;
    case ZR_MF_EXP:
      if (mpfr_get_exp(a->re) > 40) return too_large(c, "exponential too large");
      cx_exp(o, a, p);
      return 0;
    case ZR_MF_SQRT: {
      zr_cx h;
      zr_cx_init(&h, p);
      mpfr_set_d(h.re, 0.5, MPFR_RNDN);
      int rc = cx_pow(c, o, a, &h);
      zr_cx_clear(&h);
      return rc;
    }
    default: break;
  }
  if (real) {
    mpfr_set_zero(o->im, 1);
    switch (f) {
      case ZR_MF_SIN: mpfr_sin(o->re, a->re, MPFR_RNDN); break;
      case ZR_MF_COS: mpfr_cos(o->re, a->re, MPFR_RNDN); break;
      case ZR_MF_TAN: mpfr_tan(o->re, a->re, MPFR_RNDN); break;
      case ZR_MF_SEC: mpfr_sec(o->re, a->re, MPFR_RNDN); break;
      case ZR_MF_CSC: mpfr_csc(o->re, a->re, MPFR_RNDN); break;
      case ZR_MF_COT: mpfr_cot(o->re, a->re, MPFR_RNDN); break;
      case ZR_MF_ASIN: mpfr_asin(o->re, a->re, MPFR_RNDN); break;
      case ZR_MF_ACOS: mpfr_acos(o->re, a->re, MPFR_RNDN); break;
      case ZR_MF_ATAN: mpfr_atan(o->re, a->re, MPFR_RNDN); break;
      case ZR_MF_SINH: mpfr_sinh(o->re, a->re, MPFR_RNDN); break;
      case ZR_MF_COSH: mpfr_cosh(o->re, a->re, MPFR_RNDN); break;
      case ZR_MF_TANH: mpfr_tanh(o->re, a->re, MPFR_RNDN); break;
      default: cx_nan(o); break;
    }
    if (mpfr_inf_p(o->re)) mpfr_set_nan(o->re); /* poles */
    return 0;
  }
  /* complex argument: sin, cos, sinh, cosh and their ratios */
  mpfr_t sr, cr, sh, ch;
  mpfr_inits2(p, sr, cr, sh, ch, (mpfr_ptr)0);
  zr_cx s, co;
  zr_cx_init(&s, p);
  zr_cx_init(&co, p);
  int hyper = f == ZR_MF_SINH || f == ZR_MF_COSH || f == ZR_MF_TANH;
  /* sinh(z) = -i sin(iz); cosh(z) = cos(iz) */
  mpfr_t x, y;
  mpfr_inits2(p, x, y, (mpfr_ptr)0);
  if (hyper) {
    mpfr_neg(x, a->im, MPFR_RNDN);
    mpfr_set(y, a->re, MPFR_RNDN);
  } else {
    mpfr_set(x, a->re, MPFR_RNDN);
    mpfr_set(y, a->im, MPFR_RNDN);
  }
  mpfr_sin_cos(sr, cr, x, MPFR_RNDN);
  mpfr_sinh_cosh(sh, ch, y, MPFR_RNDN);
  mpfr_mul(s.re, sr, ch, MPFR_RNDN);
  mpfr_mul(s.im, cr, sh, MPFR_RNDN);
  mpfr_mul(co.re, cr, ch, MPFR_RNDN);
  mpfr_mul(co.im, sr, sh, MPFR_RNDN);
  mpfr_neg(co.im, co.im, MPFR_RNDN);
  if (hyper) { /* sinh z = -i sin(iz): (re, im) -> (im, -re) */
    mpfr_swap(s.re, s.im);
    mpfr_neg(s.im, s.im, MPFR_RNDN);
  }
  zr_cx one;
  zr_cx_init(&one, p);
  mpfr_set_ui(one.re, 1, MPFR_RNDN);
  switch (f) {
    case ZR_MF_SIN: case ZR_MF_SINH: mpfr_set(o->re, s.re, MPFR_RNDN); mpfr_set(o->im, s.im, MPFR_RNDN); break;
    case ZR_MF_COS: case ZR_MF_COSH: mpfr_set(o->re, co.re, MPFR_RNDN); mpfr_set(o->im, co.im, MPFR_RNDN); break;
    case ZR_MF_TAN: case ZR_MF_TANH: cx_div(o, &s, &co, p); break;
    case ZR_MF_SEC: cx_div(o, &one, &co, p); break;
    case ZR_MF_CSC: cx_div(o, &one, &s, p); break;
    case ZR_MF_COT: cx_div(o, &co, &s, p); break;
    default: cx_nan(o); break; /* inverse trig of complex values: unsupported */
  }
  zr_cx_clear(&one);
  zr_cx_clear(&s);
  zr_cx_clear(&co);
  mpfr_clears(sr, cr, sh, ch, x, y, (mpfr_ptr)0);
  return 0;
}

/* Gamma-based factorial / binomial on real arguments. */
static int real_gamma1(zr_mctx *c, mpfr_t o, const mpfr_t x) {
  if (mpfr_cmp_si(x, (long)c->lim->max_exponent) > 0) return too_large(c, "factorial argument too large");
  if (mpfr_integer_p(x)) {
    if (mpfr_sgn(x) < 0) {
      mpfr_set_nan(o);
      return 0;
    }
    unsigned long k = mpfr_get_ui(x, MPFR_RNDN);
    if ((double)k * (double)c->prec > 2e8) return too_large(c, "factorial too costly at this precision");
    mpfr_fac_ui(o, k, MPFR_RNDN);
    return 0;
  }
  /* MPFR's gamma gets slow beyond a few thousand bits (Bernoulli numbers) */
  if (c->prec > 2048 || mpfr_cmpabs_ui(x, 100000) > 0) return too_large(c, "gamma of a non-integer too costly");
  mpfr_t t;
  mpfr_init2(t, c->prec);
  mpfr_add_ui(t, x, 1, MPFR_RNDN);
  if (mpfr_integer_p(t) && mpfr_sgn(t) <= 0) mpfr_set_nan(o);
  else mpfr_gamma(o, t, MPFR_RNDN);
  mpfr_clear(t);
  return 0;
}

static void note_magnitude(zr_mctx *c, const zr_cx *z) {
  if (mpfr_regular_p(z->re) && mpfr_get_exp(z->re) > c->max_exp) c->max_exp = mpfr_get_exp(z->re);
  if (mpfr_regular_p(z->im) && mpfr_get_exp(z->im) > c->max_exp) c->max_exp = mpfr_get_exp(z->im);
}

static int eval_rec(zr_mctx *c, const zr_mnode *n, zr_cx *out);

int zr_mnum_eval(zr_mctx *c, const zr_mnode *n, zr_cx *out) {
  int rc = eval_rec(c, n, out);
  if (rc == 0) note_magnitude(c, out);
  return rc;
}

static int eval_rec(zr_mctx *c, const zr_mnode *n, zr_cx *out) {
  int rc = step(c);
  if (rc < 0) return rc;
  mpfr_prec_t p = c->prec;
  switch (n->kind) {
    case ZR_MN_NUM:
      mpfr_set_q(out->re, n->q, MPFR_RNDN);
      mpfr_set_zero(out->im, 1);
      return 0;
    case ZR_MN_SYM: {
      int v = lookup_var(c, n->name);
      if (v < 0) cx_nan(out);
      else {
        mpfr_set(out->re, c->vals[v], MPFR_RNDN);
        mpfr_set_zero(out->im, 1);
      }
      return 0;
    }
    case ZR_MN_CONST:
      mpfr_set_zero(out->im, 1);
      switch (n->op) {
        case ZR_MC_PI: mpfr_const_pi(out->re, MPFR_RNDN); break;
        case ZR_MC_E: mpfr_set_ui(out->re, 1, MPFR_RNDN); mpfr_exp(out->re, out->re, MPFR_RNDN); break;
        case ZR_MC_I: mpfr_set_zero(out->re, 1); mpfr_set_ui(out->im, 1, MPFR_RNDN); break;
        default: mpfr_set_inf(out->re, 1); break;
      }
      return 0;
    case ZR_MN_TEXT: case ZR_MN_REL: case ZR_MN_TUPLE: case ZR_MN_SET: case ZR_MN_LIST:
    case ZR_MN_MATRIX: case ZR_MN_UNION:
      cx_nan(out);
      return 0;
    default: break;
  }
  int minus = 0;
  if (n->kind == ZR_MN_PM) {
    minus = (c->pm_mask >> (c->pm_next++ & 31)) & 1;
    if (n->op) minus = !minus;
  }
  zr_cx a, b;
  zr_cx_init(&a, p);
  zr_cx_init(&b, p);
  rc = zr_mnum_eval(c, n->k[0], &a);
  if (rc == 0 && n->n > 1) rc = zr_mnum_eval(c, n->k[1], &b);
  if (rc < 0) goto out;
  switch (n->kind) {
    case ZR_MN_NEG:
      mpfr_neg(out->re, a.re, MPFR_RNDN);
      mpfr_neg(out->im, a.im, MPFR_RNDN);
      break;
    case ZR_MN_ADD: case ZR_MN_SUB:
      if (n->kind == ZR_MN_ADD) {
        mpfr_add(out->re, a.re, b.re, MPFR_RNDN);
        mpfr_add(out->im, a.im, b.im, MPFR_RNDN);
      } else {
        mpfr_sub(out->re, a.re, b.re, MPFR_RNDN);
        mpfr_sub(out->im, a.im, b.im, MPFR_RNDN);
      }
      break;
    case ZR_MN_PM:
      if (n->n == 1) {
        mpfr_set(out->re, a.re, MPFR_RNDN);
        mpfr_set(out->im, a.im, MPFR_RNDN);
        if (minus) {
          mpfr_neg(out->re, out->re, MPFR_RNDN);
          mpfr_neg(out->im, out->im, MPFR_RNDN);
        }
      } else if (minus) {
        mpfr_sub(out->re, a.re, b.re, MPFR_RNDN);
        mpfr_sub(out->im, a.im, b.im, MPFR_RNDN);
      } else {
        mpfr_add(out->re, a.re, b.re, MPFR_RNDN);
        mpfr_add(out->im, a.im, b.im, MPFR_RNDN);
      }
      break;
    case ZR_MN_MUL: cx_mul(out, &a, &b, p); break;
    case ZR_MN_DIV: cx_div(out, &a, &b, p); break;
    case ZR_MN_POW:
      if (cx_real(&a) && mpfr_sgn(a.re) < 0 && cx_real(&b) && !mpfr_integer_p(b.re) && mpfr_number_p(b.re)) {
        /* (-8)^{1/3} = -2: a rational exponent with an odd denominator takes the real root */
        mpq_t e;
        mpq_init(e);
        int save = c->pm_next;
        long steps = c->steps;
        int ex = zr_mnum_exact(c, n->k[1], e);
        c->pm_next = save;
        c->steps = steps;
        if (ex == ZR_EX_OK && mpz_odd_p(mpq_denref(e)) && mpz_cmp_ui(mpq_denref(e), 1000) <= 0 &&
            mpz_cmpabs_ui(mpq_numref(e), (unsigned long)c->lim->max_exponent) <= 0) {
          unsigned long q = mpz_get_ui(mpq_denref(e));
          long pn = mpz_get_si(mpq_numref(e));
          mpfr_t r;
          mpfr_init2(r, p);
          mpfr_neg(r, a.re, MPFR_RNDN);
          mpfr_rootn_ui(r, r, q, MPFR_RNDN);
          if (pn % 2 != 0) mpfr_neg(r, r, MPFR_RNDN);
          mpfr_set(a.re, r, MPFR_RNDN);
          mpfr_set_si(b.re, pn, MPFR_RNDN);
          mpfr_clear(r);
        }
        mpq_clear(e);
      }
      rc = cx_pow(c, out, &a, &b);
      break;
    case ZR_MN_ROOT:
      if (cx_real(&a) && cx_real(&b) && mpfr_integer_p(b.re) && mpfr_sgn(b.re) > 0 && mpfr_cmp_ui(b.re, 1000) <= 0) {
        unsigned long k = mpfr_get_ui(b.re, MPFR_RNDN);
        if (mpfr_sgn(a.re) >= 0 || (k & 1)) {
          mpfr_rootn_ui(out->re, a.re, k, MPFR_RNDN);
          mpfr_set_zero(out->im, 1);
          break;
        }
      }
      {
        zr_cx inv, one;
        zr_cx_init(&inv, p);
        zr_cx_init(&one, p);
        mpfr_set_ui(one.re, 1, MPFR_RNDN);
        cx_div(&inv, &one, &b, p);
        rc = cx_pow(c, out, &a, &inv);
        zr_cx_clear(&inv);
        zr_cx_clear(&one);
      }
      break;
    case ZR_MN_FUNC:
      rc = cx_func(c, n->op, out, &a);
      if (rc == 0 && n->op == ZR_MF_LOG && n->n > 1) {
        zr_cx lb;
        zr_cx_init(&lb, p);
        cx_log(&lb, &b, p);
        cx_div(out, out, &lb, p);
        zr_cx_clear(&lb);
      }
      break;
    case ZR_MN_FACT:
      if (!cx_real(&a)) cx_nan(out);
      else {
        rc = real_gamma1(c, out->re, a.re);
        mpfr_set_zero(out->im, 1);
      }
      break;
    case ZR_MN_BINOM:
      if (!cx_real(&b) || !mpfr_integer_p(b.re) || mpfr_cmp_ui(b.re, 1000) > 0) {
        /* gamma form on reals */
        if (!cx_real(&a) || !cx_real(&b)) {
          cx_nan(out);
          break;
        }
        mpfr_t g1, g2, g3, d;
        mpfr_inits2(p, g1, g2, g3, d, (mpfr_ptr)0);
        mpfr_sub(d, a.re, b.re, MPFR_RNDN);
        rc = real_gamma1(c, g1, a.re);
        if (rc == 0) rc = real_gamma1(c, g2, b.re);
        if (rc == 0) rc = real_gamma1(c, g3, d);
        if (rc == 0) {
          mpfr_mul(g2, g2, g3, MPFR_RNDN);
          mpfr_div(out->re, g1, g2, MPFR_RNDN);
          mpfr_set_zero(out->im, 1);
        }
        mpfr_clears(g1, g2, g3, d, (mpfr_ptr)0);
      } else if (mpfr_sgn(b.re) < 0) {
        mpfr_set_zero(out->re, 1);
        mpfr_set_zero(out->im, 1);
      } else {
        /* n (n-1) ... (n-k+1) / k! for any n */
        long k = mpfr_get_si(b.re, MPFR_RNDN);
        zr_cx acc, term;
        zr_cx_init(&acc, p);
        zr_cx_init(&term, p);
        mpfr_set_ui(acc.re, 1, MPFR_RNDN);
        for (long j = 0; j < k; j++) {
          mpfr_sub_si(term.re, a.re, j, MPFR_RNDN);
          mpfr_set(term.im, a.im, MPFR_RNDN);
          cx_mul(&acc, &acc, &term, p);
          mpfr_div_si(acc.re, acc.re, j + 1, MPFR_RNDN);
          mpfr_div_si(acc.im, acc.im, j + 1, MPFR_RNDN);
        }
        mpfr_set(out->re, acc.re, MPFR_RNDN);
        mpfr_set(out->im, acc.im, MPFR_RNDN);
        zr_cx_clear(&acc);
        zr_cx_clear(&term);
      }
      break;
    case ZR_MN_ABS:
      mpfr_hypot(out->re, a.re, a.im, MPFR_RNDN);
      mpfr_set_zero(out->im, 1);
      break;
    case ZR_MN_PERCENT:
      mpfr_div_ui(out->re, a.re, 100, MPFR_RNDN);
      mpfr_div_ui(out->im, a.im, 100, MPFR_RNDN);
      break;
    case ZR_MN_DEGREE: {
      mpfr_t pi;
      mpfr_init2(pi, p);
      mpfr_const_pi(pi, MPFR_RNDN);
      mpfr_div_ui(pi, pi, 180, MPFR_RNDN);
      mpfr_mul(out->re, a.re, pi, MPFR_RNDN);
      mpfr_mul(out->im, a.im, pi, MPFR_RNDN);
      mpfr_clear(pi);
      break;
    }
    default: cx_nan(out); break;
  }
out:
  zr_cx_clear(&a);
  zr_cx_clear(&b);
  return rc;
}

/* ---- inspection ----------------------------------------------------------------------- */

int zr_mnum_vars(const zr_mnode *n, const char **names, int count, int max) {
  if (count < 0) return count;
  if (n->kind == ZR_MN_SYM) {
    int pos = 0;
    while (pos < count && strcmp(names[pos], n->name) < 0) pos++;
    if (pos < count && strcmp(names[pos], n->name) == 0) return count;
    if (count >= max) return zr_seterr(-E2BIG, "too many variables");
    memmove(names + pos + 1, names + pos, (size_t)(count - pos) * sizeof *names);
    names[pos] = n->name;
    return count + 1;
  }
  for (int i = 0; i < n->n && count >= 0; i++) count = zr_mnum_vars(n->k[i], names, count, max);
  return count;
}

long zr_mnum_literal_bits(const zr_mnode *n) {
  long best = 0;
  if (n->kind == ZR_MN_NUM) best = qbits(n->q);
  for (int i = 0; i < n->n; i++) {
    long b = zr_mnum_literal_bits(n->k[i]);
    if (b > best) best = b;
  }
  return best;
}
