/* mathparse.c: recursive-descent parser from tokens (mathlex.h) to the tree in mathparse.h. */
#include "reward/mathparse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "reward/mathlex.h"

struct zr_mexpr {
  zr_mnode **nodes;
  int n, cap;
  zr_mnode *root;
};

typedef struct {
  zr_mlex lx;
  int i;
  const zr_math_limits *lim;
  zr_mexpr *e;
  int depth;   /* grammar recursion: about 8 frames per nesting level, bounded by 8 * max_depth */
  int bracket; /* ( [ \{ nesting: plain "," never groups digits inside */
  int in_abs;
  int err;     /* first error code */
} parser;

void zr_math_limits_default(zr_math_limits *lim) {
  lim->max_len = 2048;
  lim->max_input = 1u << 20;
  lim->max_depth = 48;
  lim->max_nodes = 2048;
  lim->max_items = 256;
  lim->max_exponent = 100000;
  lim->max_bits = 32768;
  lim->max_steps = 200000;
  lim->points = 6;
  lim->precision = 256;
  lim->approx_decimals = 4;
}

/* ---- nodes ---------------------------------------------------------------------------- */

static void node_free(zr_mnode *n) {
  if (!n) return;
  if (n->kind == ZR_MN_NUM) mpq_clear(n->q);
  free(n->k);
  free(n->ops);
  free(n->name);
  free(n);
}

static int fail(parser *P, int code, const char *what) {
  if (!P->err) {
    const zr_mtok *t = &P->lx.t[P->i];
    P->err = zr_seterr(code, "%s at byte %zu", what, t->pos);
  }
  return P->err;
}

static zr_mnode *new_node(parser *P, zr_mnode_kind kind, int nk) {
  if (P->err) return NULL;
  if (P->e->n >= P->lim->max_nodes) {
    fail(P, -E2BIG, "math answer has too many parts (node limit)");
    return NULL;
  }
  if (P->e->n >= P->e->cap) {
    int cap = P->e->cap ? P->e->cap * 2 : 32;
    zr_mnode **nn = realloc(P->e->nodes, (size_t)cap * sizeof *nn);
    if (!nn) {
      fail(P, -ENOMEM, "out of memory");
      return NULL;
    }
    P->e->nodes = nn;
    P->e->cap = cap;
  }
  zr_mnode *n = calloc(1, sizeof *n);
  if (!n || (nk > 0 && !(n->k = calloc((size_t)nk, sizeof *n->k)))) {
    free(n);
    fail(P, -ENOMEM, "out of memory");
    return NULL;
  }
  n->kind = kind;
  n->n = nk;
  if (kind == ZR_MN_NUM) mpq_init(n->q);
  P->e->nodes[P->e->n++] = n;
  return n;
}

static zr_mnode *node1(parser *P, zr_mnode_kind kind, zr_mnode *a) {
  if (!a) return NULL;
  zr_mnode *n = new_node(P, kind, 1);
  if (n) n->k[0] = a;
  return n;
}

static zr_mnode *node2(parser *P, zr_mnode_kind kind, zr_mnode *a, zr_mnode *b) {
  if (!a || !b) return NULL;
  zr_mnode *n = new_node(P, kind, 2);
  if (n) {
    n->k[0] = a;
    n->k[1] = b;
  }
  return n;
}

static zr_mnode *int_node(parser *P, long v) {
  zr_mnode *n = new_node(P, ZR_MN_NUM, 0);
  if (n) mpq_set_si(n->q, v, 1);
  return n;
}

/* A growable child list for n-ary nodes. */
typedef struct {
  zr_mnode **v;
  int n, cap;
} kids;

static int kids_push(parser *P, kids *ks, zr_mnode *x) {
  if (!x) return -1;
  if (ks->n >= P->lim->max_items) {
    fail(P, -E2BIG, "too many elements in a list");
    return -1;
  }
  if (ks->n >= ks->cap) {
    int cap = ks->cap ? ks->cap * 2 : 4;
    zr_mnode **nv = realloc(ks->v, (size_t)cap * sizeof *nv);
    if (!nv) {
      fail(P, -ENOMEM, "out of memory");
      return -1;
    }
    ks->v = nv;
    ks->cap = cap;
  }
  ks->v[ks->n++] = x;
  return 0;
}

static zr_mnode *node_from_kids(parser *P, zr_mnode_kind kind, kids *ks) {
  zr_mnode *n = new_node(P, kind, 0);
  if (!n) {
    free(ks->v);
    return NULL;
  }
  n->k = ks->v; /* may be NULL for an empty set */
  n->n = ks->n;
  ks->v = NULL;
  return n;
}

/* ---- tokens --------------------------------------------------------------------------- */

static const zr_mtok *tok(const parser *P) { return &P->lx.t[P->i]; }
static const zr_mtok *tok_at(const parser *P, int off) {
  int j = P->i + off;
  return j < P->lx.n ? &P->lx.t[j] : &P->lx.t[P->lx.n - 1];
}
static zr_mtok_kind kind(const parser *P) { return P->lx.t[P->i].kind; }
static void advance(parser *P) {
  if (P->lx.t[P->i].kind != ZT_END) P->i++;
}
static int accept(parser *P, zr_mtok_kind k) {
  if (kind(P) == k) {
    advance(P);
    return 1;
  }
  return 0;
}
static const char *pool(const parser *P, int off) { return P->lx.pool + off; }

#define ENTER()                                              \
  do {                                                       \
    if (P->err) return NULL;                                 \
    if (++P->depth > 8 * P->lim->max_depth) {                \
      fail(P, -E2BIG, "math answer nested too deeply");      \
      return NULL;                                           \
    }                                                        \
  } while (0)
#define LEAVE(x)   \
  do {             \
    P->depth--;    \
    return (x);    \
  } while (0)

static zr_mnode *parse_item(parser *P);
static zr_mnode *parse_expr(parser *P);
static zr_mnode *parse_unary(parser *P);
static zr_mnode *parse_power(parser *P);
static zr_mnode *parse_primary(parser *P);

/* ---- numbers -------------------------------------------------------------------------- */

static int is_plain_int(const zr_mtok *t) { return t->kind == ZT_NUM && !t->has_point && t->exp10 == 0; }

/* Builds the rational value of digits int.frac(rep) * 10^exp10, within the limits. */
static zr_mnode *number_node(parser *P, const char *idig, int ilen, const char *fdig, int flen,
                             const char *rdig, int rlen, long exp10) {
  long digits = ilen + flen + rlen;
  long e = exp10 < 0 ? -exp10 : exp10;
  if (e > P->lim->max_exponent || (double)(digits + e) * 3.33 > (double)P->lim->max_bits) {
    fail(P, -E2BIG, "number too large");
    return NULL;
  }
  zr_mnode *n = new_node(P, ZR_MN_NUM, 0);
  if (!n) return NULL;
  char *buf = malloc((size_t)ilen + (size_t)flen + 2);
  if (!buf) {
    fail(P, -ENOMEM, "out of memory");
    return NULL;
  }
  memcpy(buf, idig, (size_t)ilen);
  memcpy(buf + ilen, fdig, (size_t)flen);
  buf[ilen + flen] = '\0';
  mpz_t num, den, t;
  mpz_inits(num, den, t, NULL);
  if (ilen + flen == 0) mpz_set_ui(num, 0);
  else mpz_set_str(num, buf, 10);
  mpz_ui_pow_ui(den, 10, (unsigned long)flen);
  if (rlen > 0) {
    /* 0.a(r) = (a*(10^r - 1) + r) / (10^f * (10^r - 1)) */
    char *rb = malloc((size_t)rlen + 1);
    if (!rb) {
      free(buf);
      mpz_clears(num, den, t, NULL);
      fail(P, -ENOMEM, "out of memory");
      return NULL;
    }
    memcpy(rb, rdig, (size_t)rlen);
    rb[rlen] = '\0';
    mpz_t r, nine;
    mpz_inits(r, nine, NULL);
    mpz_set_str(r, rb, 10);
    mpz_ui_pow_ui(nine, 10, (unsigned long)rlen);
    mpz_sub_ui(nine, nine, 1);
    mpz_mul(num, num, nine);
    mpz_add(num, num, r);
    mpz_mul(den, den, nine);
    mpz_clears(r, nine, NULL);
    free(rb);
  }
  if (exp10 > 0) {
    mpz_ui_pow_ui(t, 10, (unsigned long)exp10);
    mpz_mul(num, num, t);
  } else if (exp10 < 0) {
    mpz_ui_pow_ui(t, 10, (unsigned long)-exp10);
    mpz_mul(den, den, t);
  }
  mpq_set_num(n->q, num);
  mpq_set_den(n->q, den);
  mpq_canonicalize(n->q);
  mpz_clears(num, den, t, NULL);
  free(buf);
  if (rlen > 0) n->ndec = -1;
  else {
    long nd = flen - exp10;
    n->ndec = nd < 0 ? 0 : (int)(nd > 1000 ? 1000 : nd);
  }
  return n;
}

static zr_mnode *token_number(parser *P, const zr_mtok *t) {
  return number_node(P, pool(P, t->ioff), t->ilen, pool(P, t->foff), t->flen, pool(P, t->roff), t->rlen,
                     t->exp10);
}

/* Thousands: d{1,3}(,ddd)+ with plain commas (outside brackets, no spaces), glued separators
 * ({,} ,\!) anywhere, or single spaces between 3-digit groups outside brackets. */
static zr_mnode *parse_number(parser *P) {
  const zr_mtok *t = tok(P);
  if (is_plain_int(t) && t->ilen >= 1 && t->ilen <= 3) {
    int j = P->i;
    int groups = 0;
    int mode = 0; /* 1 comma, 2 glued, 3 space */
    for (;;) {
      const zr_mtok *c = &P->lx.t[j + 1];
      const zr_mtok *d = j + 2 < P->lx.n ? &P->lx.t[j + 2] : NULL;
      int m = 0;
      if (c->kind == ZT_COMMA && d && d->kind == ZT_NUM && d->ilen == 3 && d->exp10 == 0 && !d->rlen) {
        if (c->glued) m = 2;
        else if (!c->ws && !d->ws && P->bracket == 0) m = 1;
      } else if (c->kind == ZT_NUM && c->ws && c->ilen == 3 && c->exp10 == 0 && !c->rlen && P->bracket == 0 &&
                 (mode == 0 || mode == 3)) {
        m = 3;
      }
      if (!m || (mode && m != mode)) break;
      mode = m;
      j += m == 3 ? 1 : 2;
      groups++;
      if (P->lx.t[j].has_point) break;
    }
    if (groups > 0) {
      /* a space group must not be followed by a slash (mixed number "3 1/2" is handled below) */
      size_t cap = 0;
      char *dig = malloc((size_t)(groups + 1) * 3 + 4);
      if (!dig) {
        fail(P, -ENOMEM, "out of memory");
        return NULL;
      }
      const zr_mtok *last = t;
      for (int k = P->i; k <= j; k++) {
        const zr_mtok *x = &P->lx.t[k];
        if (x->kind != ZT_NUM) continue;
        memcpy(dig + cap, pool(P, x->ioff), (size_t)x->ilen);
        cap += (size_t)x->ilen;
        last = x;
      }
      zr_mnode *n = number_node(P, dig, (int)cap, pool(P, last->foff), last->flen, "", 0, 0);
      free(dig);
      P->i = j + 1;
      return n;
    }
  }
  zr_mnode *n = token_number(P, t);
  advance(P);
  if (!n) return NULL;
  /* mixed numbers: 3\frac{1}{2}, 3\frac12, "3 1/2" */
  if (is_plain_int(t)) {
    const zr_mtok *a = tok(P);
    if (a->kind == ZT_FRAC) {
      const zr_mtok *b1 = tok_at(P, 1), *b2 = tok_at(P, 2), *b3 = tok_at(P, 3), *b4 = tok_at(P, 4), *b5 = tok_at(P, 5);
      if (b1->kind == ZT_LBRACE && is_plain_int(b2) && b3->kind == ZT_RBRACE && b4->kind == ZT_LBRACE &&
          is_plain_int(b5) && tok_at(P, 6)->kind == ZT_RBRACE) {
        zr_mnode *num = token_number(P, b2), *den = token_number(P, b5);
        P->i += 7;
        return node2(P, ZR_MN_ADD, n, node2(P, ZR_MN_DIV, num, den));
      }
      if (is_plain_int(b1) && b1->ilen == 2) {
        const char *d = pool(P, b1->ioff);
        zr_mnode *num = int_node(P, d[0] - '0'), *den = int_node(P, d[1] - '0');
        P->i += 2;
        return node2(P, ZR_MN_ADD, n, node2(P, ZR_MN_DIV, num, den));
      }
    } else if (is_plain_int(a) && a->ws && tok_at(P, 1)->kind == ZT_SLASH && is_plain_int(tok_at(P, 2))) {
      zr_mnode *num = token_number(P, a), *den = token_number(P, tok_at(P, 2));
      if (num && den && mpq_cmp(num->q, den->q) < 0 && mpq_sgn(num->q) > 0) {
        P->i += 3;
        return node2(P, ZR_MN_ADD, n, node2(P, ZR_MN_DIV, num, den));
      }
    }
  }
  return n;
}

/* ---- arguments of \frac \sqrt \binom -------------------------------------------------- */

static zr_mnode *parse_brace_group(parser *P) {
  /* at '{': contents up to the matching '}' as one expression */
  advance(P);
  if (kind(P) == ZT_RBRACE) {
    fail(P, -EINVAL, "empty group");
    return NULL;
  }
  zr_mnode *x = parse_item(P);
  if (!x) return NULL;
  if (!accept(P, ZT_RBRACE)) {
    fail(P, -EINVAL, "expected '}'");
    return NULL;
  }
  return x;
}

static zr_mnode *parse_arg(parser *P) {
  ENTER();
  zr_mtok *t = &P->lx.t[P->i];
  zr_mnode *r;
  if (t->kind == ZT_LBRACE) r = parse_brace_group(P);
  else if (is_plain_int(t) && t->ilen > 1) {
    /* TeX takes one digit: \frac12 */
    r = int_node(P, pool(P, t->ioff)[0] - '0');
    t->ioff++;
    t->ilen--;
    t->ws = 0;
  } else if (t->kind == ZT_MINUS) {
    advance(P);
    r = node1(P, ZR_MN_NEG, parse_primary(P));
  } else r = parse_primary(P);
  LEAVE(r);
}

/* ---- primaries ------------------------------------------------------------------------ */

static int starts_primary(const parser *P, const zr_mtok *t) {
  switch (t->kind) {
    case ZT_NUM: case ZT_SYM: case ZT_CONST: case ZT_FUNC: case ZT_FRAC: case ZT_SQRT:
    case ZT_BINOM: case ZT_LPAR: case ZT_LBRACE:
      return 1;
    case ZT_PIPE: return !P->in_abs;
    default: return 0;
  }
}

static zr_mnode *parse_func(parser *P) {
  int fid = tok(P)->op;
  advance(P);
  zr_mnode *base = NULL, *power = NULL;
  if (fid == ZR_MF_LOG && accept(P, ZT_UNDERSCORE)) base = parse_arg(P);
  if (accept(P, ZT_CARET)) power = parse_arg(P);
  if (fid == ZR_MF_LOG && !base && accept(P, ZT_UNDERSCORE)) base = parse_arg(P);
  if (P->err) return NULL;
  zr_mnode *arg;
  if (kind(P) == ZT_LPAR || kind(P) == ZT_LBRACE) {
    arg = parse_primary(P);
  } else {
    arg = parse_power(P);
    /* \sin 2x: glued letters after a number belong to the argument */
    while (arg && (kind(P) == ZT_SYM || kind(P) == ZT_CONST) && !tok(P)->ws) arg = node2(P, ZR_MN_MUL, arg, parse_power(P));
  }
  if (!arg) return NULL;
  zr_mnode *f = new_node(P, ZR_MN_FUNC, base ? 2 : 1);
  if (!f) return NULL;
  f->op = fid;
  f->k[0] = arg;
  if (base) f->k[1] = base;
  if (power) {
    /* sin^{-1} is arcsin */
    if (power->kind == ZR_MN_NEG && power->k[0]->kind == ZR_MN_NUM && mpq_cmp_si(power->k[0]->q, 1, 1) == 0 &&
        fid >= ZR_MF_SIN && fid <= ZR_MF_TAN) {
      f->op = fid == ZR_MF_SIN ? ZR_MF_ASIN : fid == ZR_MF_COS ? ZR_MF_ACOS : ZR_MF_ATAN;
      return f;
    }
    return node2(P, ZR_MN_POW, f, power);
  }
  return f;
}

static zr_mnode *parse_bracket(parser *P) {
  char open = kind(P) == ZT_LPAR ? '(' : '[';
  advance(P);
  P->bracket++;
  kids ks = {0};
  if (kids_push(P, &ks, parse_item(P)) < 0) goto bad;
  while (kind(P) == ZT_COMMA || kind(P) == ZT_SEMI) {
    advance(P);
    if (kids_push(P, &ks, parse_item(P)) < 0) goto bad;
  }
  char close;
  if (kind(P) == ZT_RPAR) close = ')';
  else if (kind(P) == ZT_RBRK) close = ']';
  else {
    fail(P, -EINVAL, "expected ')' or ']'");
    goto bad;
  }
  advance(P);
  P->bracket--;
  if (ks.n == 1) {
    zr_mnode *x = ks.v[0];
    free(ks.v);
    if ((open == '(') != (close == ')')) {
      fail(P, -EINVAL, "mismatched brackets");
      return NULL;
    }
    return x;
  }
  zr_mnode *n = node_from_kids(P, ZR_MN_TUPLE, &ks);
  if (n) {
    n->open = open;
    n->close = close;
  }
  return n;
bad:
  free(ks.v);
  return NULL;
}

/* {a} is a group, {a, b} and \{a, b\} are sets, {} and \{\} empty sets. */
static zr_mnode *parse_set(parser *P, zr_mtok_kind close, int latex_group) {
  advance(P);
  if (!latex_group) P->bracket++;
  kids ks = {0};
  if (kind(P) != close) {
    if (kids_push(P, &ks, parse_item(P)) < 0) goto bad;
    while (kind(P) == ZT_COMMA || kind(P) == ZT_SEMI || kind(P) == ZT_AND) {
      advance(P);
      if (kids_push(P, &ks, parse_item(P)) < 0) goto bad;
    }
  }
  if (!accept(P, close)) {
    fail(P, -EINVAL, latex_group ? "expected '}'" : "expected '\\}'");
    goto bad;
  }
  if (!latex_group) P->bracket--;
  if (latex_group && ks.n == 1) {
    zr_mnode *x = ks.v[0];
    free(ks.v);
    return x;
  }
  return node_from_kids(P, ZR_MN_SET, &ks);
bad:
  free(ks.v);
  return NULL;
}

static zr_mnode *parse_matrix(parser *P) {
  advance(P);
  P->bracket++;
  kids ks = {0};
  int rows = 0, cols = -1, cur = 0;
  for (;;) {
    if (kind(P) == ZT_MEND) break;
    if (kind(P) == ZT_ROWSEP) { /* empty trailing row */
      advance(P);
      continue;
    }
    if (kids_push(P, &ks, parse_expr(P)) < 0) goto bad;
    cur++;
    if (accept(P, ZT_AMP)) continue;
    if (kind(P) == ZT_ROWSEP || kind(P) == ZT_MEND) {
      if (cols >= 0 && cur != cols) {
        fail(P, -EINVAL, "matrix rows of different lengths");
        goto bad;
      }
      cols = cur;
      cur = 0;
      rows++;
      accept(P, ZT_ROWSEP);
      continue;
    }
    fail(P, -EINVAL, "expected '&', '\\\\' or \\end in a matrix");
    goto bad;
  }
  advance(P);
  P->bracket--;
  if (rows == 0) {
    fail(P, -EINVAL, "empty matrix");
    goto bad;
  }
  zr_mnode *n = node_from_kids(P, ZR_MN_MATRIX, &ks);
  if (n) {
    n->rows = rows;
    n->cols = cols;
  }
  return n;
bad:
  free(ks.v);
  return NULL;
}

static zr_mnode *named(parser *P, zr_mnode_kind k, const char *name) {
  zr_mnode *n = new_node(P, k, 0);
  if (!n) return NULL;
  n->name = strdup(name);
  if (!n->name) fail(P, -ENOMEM, "out of memory");
  return n;
}

static zr_mnode *parse_primary(parser *P) {
  ENTER();
  zr_mnode *r = NULL;
  const zr_mtok *t = tok(P);
  switch (t->kind) {
    case ZT_NUM: r = parse_number(P); break;
    case ZT_SYM:
      r = named(P, ZR_MN_SYM, pool(P, t->name));
      advance(P);
      break;
    case ZT_CONST:
      r = new_node(P, ZR_MN_CONST, 0);
      if (r) r->op = t->op;
      advance(P);
      break;
    case ZT_FUNC: r = parse_func(P); break;
    case ZT_FRAC: {
      advance(P);
      zr_mnode *a = parse_arg(P);
      zr_mnode *b = a ? parse_arg(P) : NULL;
      r = node2(P, ZR_MN_DIV, a, b);
      break;
    }
    case ZT_BINOM: {
      advance(P);
      zr_mnode *a = parse_arg(P);
      zr_mnode *b = a ? parse_arg(P) : NULL;
      r = node2(P, ZR_MN_BINOM, a, b);
      break;
    }
    case ZT_SQRT: {
      advance(P);
      zr_mnode *idx = NULL;
      if (kind(P) == ZT_LBRK) {
        advance(P);
        P->bracket++;
        idx = parse_expr(P);
        P->bracket--;
        if (idx && !accept(P, ZT_RBRK)) fail(P, -EINVAL, "expected ']' after root index");
        if (P->err) break;
      }
      zr_mnode *a = parse_arg(P);
      if (!idx) idx = int_node(P, 2);
      r = node2(P, ZR_MN_ROOT, a, idx);
      break;
    }
    case ZT_LPAR: case ZT_LBRK: r = parse_bracket(P); break;
    case ZT_LBRACE: r = parse_set(P, ZT_RBRACE, 1); break;
    case ZT_SETOPEN: r = parse_set(P, ZT_SETCLOSE, 0); break;
    case ZT_EMPTYSET:
      advance(P);
      r = new_node(P, ZR_MN_SET, 0);
      break;
    case ZT_PIPE:
      if (P->in_abs) {
        fail(P, -EINVAL, "unexpected '|'");
        break;
      }
      advance(P);
      P->in_abs++;
      r = parse_expr(P);
      P->in_abs--;
      if (r && !accept(P, ZT_PIPE)) fail(P, -EINVAL, "expected closing '|'");
      r = P->err ? NULL : node1(P, ZR_MN_ABS, r);
      break;
    case ZT_MBEGIN: r = parse_matrix(P); break;
    case ZT_TEXT: case ZT_UNIT: {
      /* commentary before an expression ("\text{Answer: } 5") is skipped */
      if (starts_primary(P, tok_at(P, 1)) || tok_at(P, 1)->kind == ZT_MINUS || tok_at(P, 1)->kind == ZT_TEXT ||
          tok_at(P, 1)->kind == ZT_SETOPEN || tok_at(P, 1)->kind == ZT_MBEGIN) {
        advance(P);
        r = parse_unary(P);
      } else {
        r = named(P, ZR_MN_TEXT, pool(P, t->name));
        advance(P);
      }
      break;
    }
    case ZT_END: fail(P, -EINVAL, "unexpected end of answer"); break;
    default: fail(P, -EINVAL, "unexpected token"); break;
  }
  LEAVE(r);
}

/* ---- operators ------------------------------------------------------------------------ */

static zr_mnode *parse_postfix(parser *P) {
  zr_mnode *x = parse_primary(P);
  while (x) {
    if (kind(P) == ZT_BANG) x = node1(P, ZR_MN_FACT, x);
    else if (kind(P) == ZT_PERCENT) x = node1(P, ZR_MN_PERCENT, x);
    else if (kind(P) == ZT_DEGREE) x = node1(P, ZR_MN_DEGREE, x);
    else if (kind(P) == ZT_PRIME) { /* f'(x): keep the name distinct */
      if (x->kind == ZR_MN_SYM) {
        size_t l = strlen(x->name);
        char *nn = realloc(x->name, l + 2);
        if (!nn) {
          fail(P, -ENOMEM, "out of memory");
          return NULL;
        }
        nn[l] = '\'';
        nn[l + 1] = '\0';
        x->name = nn;
      }
    } else break;
    advance(P);
  }
  return x;
}

static zr_mnode *parse_power(parser *P) {
  ENTER();
  zr_mnode *b = parse_postfix(P);
  if (b && accept(P, ZT_CARET)) {
    zr_mnode *e;
    if (kind(P) == ZT_LBRACE) e = parse_brace_group(P);
    else e = parse_unary(P);
    b = node2(P, ZR_MN_POW, b, e);
    while (b && (kind(P) == ZT_BANG || kind(P) == ZT_PERCENT || kind(P) == ZT_DEGREE)) {
      b = node1(P, kind(P) == ZT_BANG ? ZR_MN_FACT : kind(P) == ZT_PERCENT ? ZR_MN_PERCENT : ZR_MN_DEGREE, b);
      advance(P);
    }
  }
  LEAVE(b);
}

static zr_mnode *parse_unary(parser *P) {
  ENTER();
  zr_mnode *r;
  if (accept(P, ZT_MINUS)) r = node1(P, ZR_MN_NEG, parse_unary(P));
  else if (accept(P, ZT_PLUS)) r = parse_unary(P);
  else if (kind(P) == ZT_PM || kind(P) == ZT_MP) {
    int mp = kind(P) == ZT_MP;
    advance(P);
    r = node1(P, ZR_MN_PM, parse_unary(P));
    if (r) r->op = mp;
  } else r = parse_power(P);
  LEAVE(r);
}

static zr_mnode *parse_term(parser *P) {
  ENTER();
  zr_mnode *a = parse_unary(P);
  while (a) {
    zr_mtok_kind k = kind(P);
    if (k == ZT_STAR) {
      advance(P);
      a = node2(P, ZR_MN_MUL, a, parse_unary(P));
    } else if (k == ZT_SLASH) {
      advance(P);
      a = node2(P, ZR_MN_DIV, a, parse_unary(P));
    } else if (k == ZT_UNIT || k == ZT_TEXT) {
      advance(P); /* a unit or a remark after a quantity */
    } else if (starts_primary(P, tok(P)) && !(k == ZT_NUM && tok_at(P, -1)->kind == ZT_NUM)) {
      a = node2(P, ZR_MN_MUL, a, parse_power(P));
    } else break;
  }
  LEAVE(a);
}

static zr_mnode *parse_expr(parser *P) {
  ENTER();
  zr_mnode *a;
  if (kind(P) == ZT_PM || kind(P) == ZT_MP) {
    int mp = kind(P) == ZT_MP;
    advance(P);
    a = node1(P, ZR_MN_PM, parse_term(P));
    if (a) a->op = mp;
  } else if (accept(P, ZT_MINUS)) {
    a = node1(P, ZR_MN_NEG, parse_term(P));
  } else {
    accept(P, ZT_PLUS);
    a = parse_term(P);
  }
  while (a) {
    zr_mtok_kind k = kind(P);
    if (k == ZT_PLUS) {
      advance(P);
      a = node2(P, ZR_MN_ADD, a, parse_term(P));
    } else if (k == ZT_MINUS) {
      advance(P);
      a = node2(P, ZR_MN_SUB, a, parse_term(P));
    } else if (k == ZT_PM || k == ZT_MP) {
      advance(P);
      a = node2(P, ZR_MN_PM, a, parse_term(P));
      if (a) a->op = k == ZT_MP;
    } else break;
  }
  LEAVE(a);
}

static zr_mnode *parse_union(parser *P) {
  zr_mnode *a = parse_expr(P);
  if (!a || kind(P) != ZT_CUP) return a;
  kids ks = {0};
  kids_push(P, &ks, a);
  while (!P->err && accept(P, ZT_CUP))
    if (kids_push(P, &ks, parse_expr(P)) < 0) break;
  if (P->err) {
    free(ks.v);
    return NULL;
  }
  return node_from_kids(P, ZR_MN_UNION, &ks);
}

static zr_mnode *parse_item(parser *P) {
  ENTER();
  zr_mnode *a = parse_union(P);
  if (!a || (kind(P) != ZT_REL && kind(P) != ZT_COLON)) LEAVE(a);
  kids ks = {0};
  int *ops = NULL, nops = 0;
  kids_push(P, &ks, a);
  while (!P->err && (kind(P) == ZT_REL || kind(P) == ZT_COLON)) {
    int op = kind(P) == ZT_REL ? tok(P)->op : ZR_MR_RATIO;
    advance(P);
    int *no = realloc(ops, (size_t)(nops + 1) * sizeof *no);
    if (!no) {
      fail(P, -ENOMEM, "out of memory");
      break;
    }
    ops = no;
    ops[nops++] = op;
    if (kids_push(P, &ks, parse_union(P)) < 0) break;
  }
  if (P->err) {
    free(ks.v);
    free(ops);
    LEAVE(NULL);
  }
  zr_mnode *n = node_from_kids(P, ZR_MN_REL, &ks);
  if (!n) {
    free(ops);
    LEAVE(NULL);
  }
  n->ops = ops;
  LEAVE(n);
}

static zr_mnode *parse_answer(parser *P) {
  kids ks = {0};
  if (kids_push(P, &ks, parse_item(P)) < 0) goto bad;
  while (kind(P) == ZT_COMMA || kind(P) == ZT_SEMI || kind(P) == ZT_AND) {
    advance(P);
    while (kind(P) == ZT_AND) advance(P); /* ", and" */
    if (kind(P) == ZT_END) break;         /* trailing comma */
    if (kids_push(P, &ks, parse_item(P)) < 0) goto bad;
  }
  if (kind(P) != ZT_END) {
    fail(P, -EINVAL, kind(P) == ZT_RPAR || kind(P) == ZT_RBRK || kind(P) == ZT_RBRACE ? "unbalanced bracket"
                                                                                         : "unexpected token");
    goto bad;
  }
  if (ks.n == 1) {
    zr_mnode *x = ks.v[0];
    free(ks.v);
    return x;
  }
  return node_from_kids(P, ZR_MN_LIST, &ks);
bad:
  free(ks.v);
  return NULL;
}

int zr_math_parse(const char *text, size_t len, const zr_math_limits *lim, zr_mexpr **out) {
  *out = NULL;
  zr_math_limits dl;
  if (!lim) {
    zr_math_limits_default(&dl);
    lim = &dl;
  }
  if (len > lim->max_len) return zr_seterr(-E2BIG, "math answer of %zu bytes exceeds the limit of %zu", len, lim->max_len);
  zr_mexpr *e = calloc(1, sizeof *e);
  if (!e) return zr_seterr(-ENOMEM, "out of memory");
  parser P = {.lim = lim, .e = e};
  int rc = zr_mlex_run(&P.lx, text, len, lim->max_nodes * 2 + 8);
  if (rc < 0) {
    zr_mexpr_free(&e);
    return rc;
  }
  if (P.lx.n == 1) {
    zr_mlex_release(&P.lx);
    zr_mexpr_free(&e);
    return zr_seterr(-EINVAL, "empty math answer");
  }
  e->root = parse_answer(&P);
  rc = P.err;
  if (!rc && !e->root) rc = zr_seterr(-EINVAL, "could not parse math answer");
  zr_mlex_release(&P.lx);
  if (rc < 0) {
    zr_mexpr_free(&e);
    return rc;
  }
  *out = e;
  return 0;
}

const zr_mnode *zr_mexpr_root(const zr_mexpr *e) { return e ? e->root : NULL; }

void zr_mexpr_free(zr_mexpr **pe) {
  if (!pe || !*pe) return;
  zr_mexpr *e = *pe;
  for (int i = 0; i < e->n; i++) node_free(e->nodes[i]);
  free(e->nodes);
  free(e);
  *pe = NULL;
}

/* ---- printing ------------------------------------------------------------------------- */

typedef struct {
  char *buf;
  size_t cap, len;
} sbuf;

static void sput(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sput(sbuf *s, const char *fmt, ...) {
  if (s->len + 1 >= s->cap) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
  va_end(ap);
  if (n > 0) s->len = s->len + (size_t)n >= s->cap ? s->cap - 1 : s->len + (size_t)n;
}

static const char *kind_name(zr_mnode_kind k) {
  static const char *const names[] = {"num", "sym", "const", "neg", "add", "sub", "mul", "div", "pow",
                                      "root", "func", "fact", "binom", "abs", "percent", "degree", "pm",
                                      "rel", "tuple", "set", "list", "matrix", "union", "text"};
  return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static void print_rec(const zr_mnode *n, sbuf *s, int depth) {
  if (depth > 64) {
    sput(s, "...");
    return;
  }
  switch (n->kind) {
    case ZR_MN_NUM: {
      if (mpz_sizeinbase(mpq_numref(n->q), 10) + mpz_sizeinbase(mpq_denref(n->q), 10) > 60) {
        sput(s, "<big>");
      } else {
        char *str = mpq_get_str(NULL, 10, n->q);
        sput(s, "%s", str);
        void (*freefn)(void *, size_t);
        mp_get_memory_functions(NULL, NULL, &freefn);
        freefn(str, strlen(str) + 1);
      }
      return;
    }
    case ZR_MN_SYM: sput(s, "%s", n->name); return;
    case ZR_MN_TEXT: sput(s, "\"%s\"", n->name); return;
    case ZR_MN_CONST: sput(s, "%s", n->op == ZR_MC_PI ? "pi" : n->op == ZR_MC_E ? "e" : n->op == ZR_MC_I ? "i" : "inf"); return;
    default: break;
  }
  sput(s, "(%s", kind_name(n->kind));
  if (n->kind == ZR_MN_FUNC) sput(s, ":%d", n->op);
  if (n->kind == ZR_MN_TUPLE) sput(s, "%c%c", n->open, n->close);
  if (n->kind == ZR_MN_MATRIX) sput(s, ":%dx%d", n->rows, n->cols);
  for (int i = 0; i < n->n; i++) {
    if (n->kind == ZR_MN_REL && i > 0) sput(s, " r%d", n->ops[i - 1]);
    sput(s, " ");
    print_rec(n->k[i], s, depth + 1);
  }
  sput(s, ")");
}

void zr_mnode_print(const zr_mnode *n, char *buf, size_t cap) {
  if (!cap) return;
  sbuf s = {buf, cap, 0};
  buf[0] = '\0';
  if (n) print_rec(n, &s, 0);
}
