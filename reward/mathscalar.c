/* mathscalar.c: comparing scalar values and relations (see mathcmp.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "reward/mathcmp.h"

#define MAX_VARS 16

void zr_mcmp_init(zr_mcmp *c, const zr_math_limits *lim) {
  memset(c, 0, sizeof *c);
  c->lim = lim;
  c->mc.lim = lim;
  c->mc.prec = lim->precision;
  c->method = "none";
}

int zr_mcmp_count_pm(const zr_mnode *n) {
  int k = n->kind == ZR_MN_PM;
  for (int i = 0; i < n->n; i++) k += zr_mcmp_count_pm(n->k[i]);
  return k;
}

int zr_mcmp_has_vars(const zr_mnode *n) {
  if (n->kind == ZR_MN_SYM) return 1;
  for (int i = 0; i < n->n; i++)
    if (zr_mcmp_has_vars(n->k[i])) return 1;
  return 0;
}

static int has_inf(const zr_mnode *n) {
  if (n->kind == ZR_MN_CONST && n->op == ZR_MC_INF) return 1;
  for (int i = 0; i < n->n; i++)
    if (has_inf(n->k[i])) return 1;
  return 0;
}

static int bound_hit(zr_mcmp *c, int rc) {
  if (!c->why[0]) snprintf(c->why, sizeof c->why, "%s", c->mc.why[0] ? c->mc.why : "bound exceeded");
  return rc;
}

/* k when n is a decimal literal (optionally negated) with >= approx_decimals digits, else 0. */
static int approx_digits(const zr_mcmp *c, const zr_mnode *n) {
  if (n->kind == ZR_MN_NEG) n = n->k[0];
  if (n->kind == ZR_MN_NUM && n->ndec >= c->lim->approx_decimals && c->lim->approx_decimals > 0) return n->ndec;
  return 0;
}

static int min_digits(int a, int b) {
  if (!a) return b;
  if (!b) return a;
  return a < b ? a : b;
}

/* x (a decimal with k digits) is v rounded (|x-v| <= 10^-k / 2) or truncated (|x| <= |v|,
 * |x-v| < 10^-k) to k digits; exact rationals. */
static int close_decimal_q(const mpq_t x, const mpq_t v, int k) {
  mpq_t d, t, ax, av;
  mpq_inits(d, t, ax, av, NULL);
  mpq_sub(d, x, v);
  mpq_abs(d, d);
  mpz_t p;
  mpz_init(p);
  mpz_ui_pow_ui(p, 10, (unsigned long)k);
  mpq_set_z(t, p);
  mpq_mul(d, d, t); /* |x-v| * 10^k */
  mpq_abs(ax, x);
  mpq_abs(av, v);
  int same_sign = mpq_sgn(x) * mpq_sgn(v) >= 0;
  mpq_set_ui(t, 1, 2);
  int r = mpq_cmp(d, t) <= 0 || (same_sign && mpq_cmp(ax, av) <= 0 && mpq_cmp_ui(d, 1, 1) < 0);
  mpz_clear(p);
  mpq_clears(d, t, ax, av, NULL);
  return r;
}

/* How two complex values relate: 1 close, 0 not, 2 both undefined. With dec_k > 0, a is a
 * decimal with dec_k digits that must be b rounded or truncated. */
static int cx_close(const zr_cx *a, const zr_cx *b, mpfr_prec_t prec, long tol_bits, int dec_k) {
  int an = mpfr_nan_p(a->re) || mpfr_nan_p(a->im), bn = mpfr_nan_p(b->re) || mpfr_nan_p(b->im);
  if (an && bn) return 2;
  if (an || bn) return 0;
  if (mpfr_inf_p(a->re) || mpfr_inf_p(b->re) || mpfr_inf_p(a->im) || mpfr_inf_p(b->im)) {
    return mpfr_inf_p(a->re) && mpfr_inf_p(b->re) && mpfr_sgn(a->re) == mpfr_sgn(b->re) &&
           mpfr_zero_p(a->im) && mpfr_zero_p(b->im);
  }
  mpfr_t dr, di, d, s, t;
  mpfr_inits2(prec, dr, di, d, s, t, (mpfr_ptr)0);
  mpfr_sub(dr, a->re, b->re, MPFR_RNDN);
  mpfr_sub(di, a->im, b->im, MPFR_RNDN);
  mpfr_hypot(d, dr, di, MPFR_RNDN);
  int r;
  if (dec_k > 0) {
    mpfr_set_ui(t, 10, MPFR_RNDN);
    mpfr_pow_si(t, t, -dec_k, MPFR_RNDN);
    mpfr_hypot(s, a->re, a->im, MPFR_RNDN);
    mpfr_t vb;
    mpfr_init2(vb, prec);
    mpfr_hypot(vb, b->re, b->im, MPFR_RNDN);
    int trunc = mpfr_cmp(s, vb) <= 0 && mpfr_cmp(d, t) < 0 && mpfr_sgn(a->re) * mpfr_sgn(b->re) >= 0;
    mpfr_div_2ui(t, t, 1, MPFR_RNDN);
    r = mpfr_cmp(d, t) <= 0 || trunc;
    mpfr_clear(vb);
  } else {
    mpfr_hypot(s, a->re, a->im, MPFR_RNDN);
    mpfr_hypot(t, b->re, b->im, MPFR_RNDN);
    if (mpfr_cmp(t, s) > 0) mpfr_swap(s, t);
    if (mpfr_cmp_ui(s, 1) < 0) mpfr_set_ui(s, 1, MPFR_RNDN);
    mpfr_mul_2si(s, s, -tol_bits, MPFR_RNDN);
    r = mpfr_cmp(d, s) <= 0;
  }
  mpfr_clears(dr, di, d, s, t, (mpfr_ptr)0);
  return r;
}

static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

static mpfr_prec_t choose_prec(const zr_mcmp *c, const zr_mnode *g, const zr_mnode *p) {
  long bits = zr_mnum_literal_bits(g);
  long b2 = zr_mnum_literal_bits(p);
  if (b2 > bits) bits = b2;
  long prec = c->lim->precision + 2 * bits;
  if (prec > 4 * c->lim->max_bits + 256) prec = 4 * c->lim->max_bits + 256;
  if (prec < MPFR_PREC_MIN) prec = MPFR_PREC_MIN;
  return (mpfr_prec_t)prec;
}

/* Evaluates n at the current binding with \pm mask m. */
static int eval_at(zr_mcmp *c, const zr_mnode *n, unsigned m, zr_cx *out) {
  c->mc.pm_mask = m;
  c->mc.pm_next = 0;
  int rc = zr_mnum_eval(&c->mc, n, out);
  if (rc < 0) return bound_hit(c, rc);
  if ((mpfr_inf_p(out->re) || mpfr_inf_p(out->im)) && !has_inf(n)) {
    snprintf(c->why, sizeof c->why, "value overflows");
    return zr_seterr(-E2BIG, "math check too large: value overflows");
  }
  return 0;
}

typedef struct {
  const char *names[MAX_VARS];
  mpfr_t vals[MAX_VARS];
  int n;
} binding;

static int bind_vars(zr_mcmp *c, binding *b, const zr_mnode *g, const zr_mnode *p) {
  int n = zr_mnum_vars(g, b->names, 0, MAX_VARS);
  if (n >= 0) n = zr_mnum_vars(p, b->names, n, MAX_VARS);
  if (n < 0) return n;
  b->n = n;
  for (int i = 0; i < n; i++) mpfr_init2(b->vals[i], c->mc.prec);
  c->mc.nvars = n;
  c->mc.names = (char **)b->names;
  c->mc.vals = b->vals;
  return n;
}

static void unbind(zr_mcmp *c, binding *b) {
  for (int i = 0; i < b->n; i++) mpfr_clear(b->vals[i]);
  c->mc.nvars = 0;
  c->mc.names = NULL;
  c->mc.vals = NULL;
}

/* Point j of the sample: ~2/3 positive, 1/3 negative values in (0.4, 2.6). */
static void set_point(binding *b, uint64_t *seed, int j) {
  for (int i = 0; i < b->n; i++) {
    double u = (double)(rng_next(seed) >> 11) / 9007199254740992.0;
    double v = 0.4 + 2.2 * u;
    if (j % 3 == 2) v = -v;
    mpfr_set_d(b->vals[i], v, MPFR_RNDN);
  }
}

int zr_mcmp_scalar(zr_mcmp *c, const zr_mnode *g, unsigned gm, const zr_mnode *p, unsigned pm) {
  int dec_k = min_digits(approx_digits(c, g), approx_digits(c, p));
  int vars = zr_mcmp_has_vars(g) || zr_mcmp_has_vars(p);
  if (!vars) {
    mpq_t a, b;
    mpq_inits(a, b, NULL);
    c->mc.prec = c->lim->precision; /* exact steps cost the base rate */
    c->mc.pm_mask = gm;
    c->mc.pm_next = 0;
    int ra = zr_mnum_exact(&c->mc, g, a);
    int rb = ra < 0 ? ra : (c->mc.pm_mask = pm, c->mc.pm_next = 0, zr_mnum_exact(&c->mc, p, b));
    int res = -1;
    if (ra < 0 || rb < 0) res = bound_hit(c, ra < 0 ? ra : rb);
    else if (ra == ZR_EX_OK && rb == ZR_EX_OK) {
      c->method = "exact";
      res = mpq_equal(a, b) != 0;
      if (!res && dec_k) {
        res = approx_digits(c, g) == dec_k ? close_decimal_q(a, b, dec_k) : close_decimal_q(b, a, dec_k);
        if (res) c->method = "approx";
      }
    } else if (ra == ZR_EX_UNDEF || rb == ZR_EX_UNDEF) {
      c->method = "exact";
      res = 0;
    }
    mpq_clears(a, b, NULL);
    if (res != -1) return res;
  }
  /* numeric */
  mpfr_prec_t prec = choose_prec(c, g, p);
  c->mc.prec = prec;
  long tol_bits = prec / 2 + 16;
  zr_cx a, b;
  zr_cx_init(&a, prec);
  zr_cx_init(&b, prec);
  int res = 0;
  if (!vars) {
    c->method = dec_k ? "approx" : "numeric";
    c->mc.max_exp = 0;
    int rc = eval_at(c, g, gm, &a);
    if (rc == 0) rc = eval_at(c, p, pm, &b);
    if (rc == 0 && c->mc.max_exp > (long)prec / 4) {
      /* large intermediates: redo with enough bits to see a difference of 1 */
      long np = c->lim->precision + 2 * c->mc.max_exp;
      if (np > 4 * c->lim->max_bits + 256) np = 4 * c->lim->max_bits + 256;
      prec = (mpfr_prec_t)np;
      tol_bits = prec / 2 + 16;
      c->mc.prec = prec;
      zr_cx_clear(&a);
      zr_cx_clear(&b);
      zr_cx_init(&a, prec);
      zr_cx_init(&b, prec);
      rc = eval_at(c, g, gm, &a);
      if (rc == 0) rc = eval_at(c, p, pm, &b);
    }
    if (rc < 0) res = rc;
    else if (dec_k && approx_digits(c, g) == dec_k) res = cx_close(&a, &b, prec, tol_bits, dec_k) == 1;
    else res = cx_close(&b, &a, prec, tol_bits, dec_k) == 1;
  } else {
    c->method = "symbolic";
    binding bd;
    int nv = bind_vars(c, &bd, g, p);
    if (nv < 0) {
      snprintf(c->why, sizeof c->why, "too many variables");
      res = -E2BIG;
    } else {
      uint64_t seed = 0x9E3779B97F4A7C15ull;
      int valid = 0, tries = 0, want = c->lim->points > 0 ? c->lim->points : 1;
      res = 1;
      while (valid < want && tries < 3 * want) {
        set_point(&bd, &seed, tries);
        tries++;
        int rc = eval_at(c, g, gm, &a);
        if (rc == 0) rc = eval_at(c, p, pm, &b);
        if (rc < 0) {
          res = rc;
          break;
        }
        int k = cx_close(&a, &b, prec, tol_bits / 2 + 8, dec_k);
        if (k == 2) continue;
        if (k == 0) {
          res = 0;
          break;
        }
        valid++;
      }
      if (res == 1 && valid < 2) res = 0; /* undefined nearly everywhere: cannot tell */
      unbind(c, &bd);
    }
  }
  zr_cx_clear(&a);
  zr_cx_clear(&b);
  return res;
}

/* ---- relations ------------------------------------------------------------------------ */

static int flip(int op) {
  switch (op) {
    case ZR_MR_GT: return ZR_MR_LT;
    case ZR_MR_GE: return ZR_MR_LE;
    case ZR_MR_LT: return ZR_MR_GT;
    case ZR_MR_LE: return ZR_MR_GE;
    default: return op;
  }
}

typedef struct {
  const zr_mnode *x[17];
  int ops[16];
  int n; /* operands */
} chain;

static int make_chain(const zr_mnode *r, chain *ch) {
  if (r->n > 17) return -1;
  int all_eq = 1, all_gt = 1;
  for (int i = 0; i < r->n - 1; i++) {
    if (r->ops[i] != ZR_MR_EQ) all_eq = 0;
    if (r->ops[i] != ZR_MR_GT && r->ops[i] != ZR_MR_GE) all_gt = 0;
  }
  if (all_eq && r->n > 2) { /* a = b = c: first = last */
    ch->n = 2;
    ch->x[0] = r->k[0];
    ch->x[1] = r->k[r->n - 1];
    ch->ops[0] = ZR_MR_EQ;
    return 0;
  }
  ch->n = r->n;
  for (int i = 0; i < r->n; i++) ch->x[i] = all_gt ? r->k[r->n - 1 - i] : r->k[i];
  for (int i = 0; i < r->n - 1; i++) ch->ops[i] = all_gt ? flip(r->ops[r->n - 2 - i]) : r->ops[i];
  return 0;
}

/* lhs - rhs of g and p proportional: ratio constant (positive when positive != 0). */
static int proportional(zr_mcmp *c, const zr_mnode *g0, const zr_mnode *g1, const zr_mnode *p0,
                        const zr_mnode *p1, int positive) {
  zr_mnode *gk[2] = {(zr_mnode *)g0, (zr_mnode *)g1}, *pk[2] = {(zr_mnode *)p0, (zr_mnode *)p1};
  zr_mnode gd = {.kind = ZR_MN_SUB, .n = 2, .k = gk}, pd = {.kind = ZR_MN_SUB, .n = 2, .k = pk};
  mpfr_prec_t prec = choose_prec(c, &gd, &pd);
  c->mc.prec = prec;
  long tol_bits = prec / 4 + 8;
  binding bd;
  if (bind_vars(c, &bd, &gd, &pd) < 0) {
    snprintf(c->why, sizeof c->why, "too many variables");
    return -E2BIG;
  }
  c->method = "relation";
  zr_cx a, b, r, r0;
  zr_cx_init(&a, prec);
  zr_cx_init(&b, prec);
  zr_cx_init(&r, prec);
  zr_cx_init(&r0, prec);
  uint64_t seed = 0xD1B54A32D192ED03ull;
  int res = 1, have_r0 = 0, valid = 0, tries = 0, want = c->lim->points > 0 ? c->lim->points : 1;
  while (valid < want && tries < 3 * want) {
    set_point(&bd, &seed, tries);
    tries++;
    int rc = eval_at(c, &gd, 0, &a);
    if (rc == 0) rc = eval_at(c, &pd, 0, &b);
    if (rc < 0) {
      res = rc;
      break;
    }
    int an = mpfr_nan_p(a.re) || mpfr_nan_p(a.im), bn = mpfr_nan_p(b.re) || mpfr_nan_p(b.im);
    if (an && bn) continue;
    if (an || bn) {
      res = 0;
      break;
    }
    zr_cx zero;
    zr_cx_init(&zero, prec);
    int az = cx_close(&a, &zero, prec, tol_bits, 0) == 1, bz = cx_close(&b, &zero, prec, tol_bits, 0) == 1;
    zr_cx_clear(&zero);
    if (az != bz) {
      res = 0;
      break;
    }
    valid++;
    if (az) continue;
    /* ratio */
    mpfr_div(r.re, a.re, b.re, MPFR_RNDN); /* placeholder when both real */
    if (!mpfr_zero_p(a.im) || !mpfr_zero_p(b.im)) {
      res = 0; /* complex values of a relation: not comparable */
      break;
    }
    mpfr_set_zero(r.im, 1);
    if (positive && mpfr_sgn(r.re) <= 0) {
      res = 0;
      break;
    }
    if (!have_r0) {
      mpfr_set(r0.re, r.re, MPFR_RNDN);
      mpfr_set_zero(r0.im, 1);
      have_r0 = 1;
    } else if (cx_close(&r, &r0, prec, tol_bits, 0) != 1) {
      res = 0;
      break;
    }
  }
  if (res == 1 && valid < 2) res = 0;
  zr_cx_clear(&a);
  zr_cx_clear(&b);
  zr_cx_clear(&r);
  zr_cx_clear(&r0);
  unbind(c, &bd);
  return res;
}

int zr_mcmp_relation(zr_mcmp *c, const zr_mnode *g, const zr_mnode *p) {
  chain cg, cp;
  if (make_chain(g, &cg) < 0 || make_chain(p, &cp) < 0 || cg.n != cp.n) return 0;
  for (int i = 0; i < cg.n - 1; i++)
    if (cg.ops[i] != cp.ops[i]) return 0;
  int ratio = cg.ops[0] == ZR_MR_RATIO;
  if (cg.n == 2 && !ratio && cg.ops[0] != ZR_MR_IN) {
    int vars = zr_mcmp_has_vars(g) || zr_mcmp_has_vars(p);
    if (!vars) {
      /* numeric statements: compare both sides in order */
      int r = zr_mcmp_scalar(c, cg.x[0], 0, cp.x[0], 0);
      if (r != 1) return r;
      return zr_mcmp_scalar(c, cg.x[1], 0, cp.x[1], 0);
    }
    int op = cg.ops[0];
    return proportional(c, cg.x[0], cg.x[1], cp.x[0], cp.x[1], op == ZR_MR_LT || op == ZR_MR_LE);
  }
  for (int i = 0; i < cg.n; i++) {
    int r = zr_mcmp_scalar(c, cg.x[i], 0, cp.x[i], 0);
    if (r != 1) return r;
  }
  return 1;
}
