/* mathequal.c: structural comparison of math answers and the public entry points (see
 * mathequal.h). Scalars and relations are compared in mathscalar.c. */
#include "reward/mathequal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "reward/mathcmp.h"

#define MAX_PM 4

static int cmp_item(zr_mcmp *c, const zr_mnode *g, const zr_mnode *p);
static int cmp_node(zr_mcmp *c, const zr_mnode *g, const zr_mnode *p);

static int is_scalar(const zr_mnode *n) {
  switch (n->kind) {
    case ZR_MN_REL: case ZR_MN_TUPLE: case ZR_MN_SET: case ZR_MN_LIST: case ZR_MN_MATRIX:
    case ZR_MN_UNION: case ZR_MN_TEXT:
      return 0;
    default: return 1;
  }
}

/* ---- unordered collections ------------------------------------------------------------ */

typedef struct {
  const zr_mnode *n;
  unsigned mask;
} elem;

typedef struct {
  elem *v;
  int n, cap;
  int overflow;
} elems;

static void elems_push(elems *es, const zr_mnode *n, unsigned m, int max) {
  if (es->n >= max) {
    es->overflow = 1;
    return;
  }
  if (es->n >= es->cap) {
    int cap = es->cap ? es->cap * 2 : 8;
    elem *nv = realloc(es->v, (size_t)cap * sizeof *nv);
    if (!nv) {
      es->overflow = 1;
      return;
    }
    es->v = nv;
    es->cap = cap;
  }
  es->v[es->n].n = n;
  es->v[es->n].mask = m;
  es->n++;
}

/* Flattens lists, sets, unions of sets and \pm expansions into elements. */
static void flatten(const zr_mnode *n, elems *es, int max, int depth) {
  if (depth > 8) {
    es->overflow = 1;
    return;
  }
  if (n->kind == ZR_MN_LIST || n->kind == ZR_MN_SET || (depth == 0 && n->kind == ZR_MN_TUPLE)) {
    for (int i = 0; i < n->n; i++) flatten(n->k[i], es, max, depth + 1);
    return;
  }
  /* an assignment whose value has \pm: x = \pm 3 */
  if (n->kind == ZR_MN_REL && n->n == 2 && n->ops[0] == ZR_MR_EQ && n->k[0]->kind == ZR_MN_SYM && is_scalar(n->k[1])) {
    int pm = zr_mcmp_count_pm(n->k[1]);
    if (pm > MAX_PM) {
      es->overflow = 1;
      return;
    }
    for (unsigned m = 0; m < (1u << pm); m++) elems_push(es, n, m, max);
    return;
  }
  if (n->kind == ZR_MN_UNION) {
    int all_sets = 1;
    for (int i = 0; i < n->n; i++)
      if (n->k[i]->kind != ZR_MN_SET) all_sets = 0;
    if (all_sets) {
      for (int i = 0; i < n->n; i++) flatten(n->k[i], es, max, depth + 1);
      return;
    }
  }
  int pm = is_scalar(n) ? zr_mcmp_count_pm(n) : 0;
  if (pm > MAX_PM) {
    es->overflow = 1;
    return;
  }
  for (unsigned m = 0; m < (1u << pm); m++) elems_push(es, n, m, max);
}

static const zr_mnode *unwrap(const zr_mnode *n, int is_pred);

static int cmp_elem(zr_mcmp *c, const elem *g, const elem *p) {
  const zr_mnode *gn = g->n, *pn = p->n;
  /* x = \pm 3 against x = 3, x = -3: assignments reduce to their values, keeping \pm choices */
  if (gn->kind == ZR_MN_REL && pn->kind == ZR_MN_REL) {
    const zr_mnode *gu = unwrap(gn, 0), *pu = unwrap(pn, 1);
    if (gu && pu && gu != gn && pu != pn && gn->k[0]->kind == ZR_MN_SYM && pn->k[0]->kind == ZR_MN_SYM &&
        strcmp(gn->k[0]->name, pn->k[0]->name) == 0 && is_scalar(gu) && is_scalar(pu))
      return zr_mcmp_scalar(c, gu, g->mask, pu, p->mask);
  } else if (pn->kind == ZR_MN_REL && is_scalar(gn)) {
    const zr_mnode *pu = unwrap(pn, 1);
    if (pu && is_scalar(pu)) return zr_mcmp_scalar(c, gn, g->mask, pu, p->mask);
  } else if (gn->kind == ZR_MN_REL && is_scalar(pn)) {
    const zr_mnode *gu = unwrap(gn, 0);
    if (gu && gu != gn && is_scalar(gu)) return zr_mcmp_scalar(c, gu, g->mask, pn, p->mask);
  }
  if (is_scalar(gn) && is_scalar(pn)) return zr_mcmp_scalar(c, gn, g->mask, pn, p->mask);
  return cmp_item(c, gn, pn);
}

/* Set equality: every element of one side equals some element of the other. */
static int cmp_unordered(zr_mcmp *c, const zr_mnode *g, const zr_mnode *p) {
  elems G = {0}, P = {0};
  flatten(g, &G, c->lim->max_items, 0);
  flatten(p, &P, c->lim->max_items, 0);
  int res = 1;
  char *pm = NULL;
  if (G.overflow || P.overflow) {
    snprintf(c->why, sizeof c->why, "too many elements");
    res = -E2BIG;
    goto out;
  }
  if (G.n == 0 || P.n == 0) {
    res = G.n == P.n;
    goto out;
  }
  pm = calloc((size_t)P.n, 1);
  if (!pm) {
    res = -ENOMEM;
    goto out;
  }
  for (int i = 0; i < G.n && res == 1; i++) {
    int found = 0;
    for (int j = 0; j < P.n && !found; j++) {
      int r = cmp_elem(c, &G.v[i], &P.v[j]);
      if (r < 0) {
        res = r;
        goto out;
      }
      if (r) {
        found = 1;
        pm[j] = 1;
      }
    }
    if (!found) res = 0;
  }
  for (int j = 0; j < P.n && res == 1; j++) {
    if (pm[j]) continue;
    int found = 0;
    for (int i = 0; i < G.n && !found; i++) {
      int r = cmp_elem(c, &G.v[i], &P.v[j]);
      if (r < 0) {
        res = r;
        goto out;
      }
      found = r;
    }
    if (!found) res = 0;
  }
out:
  free(pm);
  free(G.v);
  free(P.v);
  if (res >= 0) c->method = res && strcmp(c->method, "none") == 0 ? "structure" : c->method;
  return res;
}

/* ---- relations as intervals ----------------------------------------------------------- */

/* A gold inequality in one variable (x > a, a < x <= b, ...) as an interval; storage in iv. */
typedef struct {
  zr_mnode tuple, inf, ninf;
  zr_mnode *tk[2], *nk[1];
} interval_buf;

static const zr_mnode *rel_as_interval(const zr_mnode *r, interval_buf *b) {
  if (r->kind != ZR_MN_REL || r->n < 2 || r->n > 3) return NULL;
  memset(b, 0, sizeof *b);
  b->inf.kind = ZR_MN_CONST;
  b->inf.op = ZR_MC_INF;
  b->nk[0] = &b->inf;
  b->ninf.kind = ZR_MN_NEG;
  b->ninf.n = 1;
  b->ninf.k = b->nk;
  b->tuple.kind = ZR_MN_TUPLE;
  b->tuple.n = 2;
  b->tuple.k = b->tk;
  /* normalise to ascending: ops LT / LE */
  const zr_mnode *x[3];
  int ops[2];
  int asc = r->ops[0] == ZR_MR_LT || r->ops[0] == ZR_MR_LE;
  int desc = r->ops[0] == ZR_MR_GT || r->ops[0] == ZR_MR_GE;
  if (!asc && !desc) return NULL;
  for (int i = 0; i < r->n - 1; i++) {
    int a = r->ops[i] == ZR_MR_LT || r->ops[i] == ZR_MR_LE;
    if (a != asc || !(a || r->ops[i] == ZR_MR_GT || r->ops[i] == ZR_MR_GE)) return NULL;
  }
  for (int i = 0; i < r->n; i++) x[i] = asc ? r->k[i] : r->k[r->n - 1 - i];
  for (int i = 0; i < r->n - 1; i++) {
    int op = asc ? r->ops[i] : r->ops[r->n - 2 - i];
    ops[i] = (op == ZR_MR_LE || op == ZR_MR_GE) ? 1 : 0; /* closed */
  }
  if (r->n == 3) {
    if (x[1]->kind != ZR_MN_SYM || zr_mcmp_has_vars(x[0]) || zr_mcmp_has_vars(x[2])) return NULL;
    b->tk[0] = (zr_mnode *)x[0];
    b->tk[1] = (zr_mnode *)x[2];
    b->tuple.open = ops[0] ? '[' : '(';
    b->tuple.close = ops[1] ? ']' : ')';
    return &b->tuple;
  }
  if (x[0]->kind == ZR_MN_SYM && !zr_mcmp_has_vars(x[1])) { /* x < a */
    b->tk[0] = &b->ninf;
    b->tk[1] = (zr_mnode *)x[1];
    b->tuple.open = '(';
    b->tuple.close = ops[0] ? ']' : ')';
    return &b->tuple;
  }
  if (x[1]->kind == ZR_MN_SYM && !zr_mcmp_has_vars(x[0])) { /* a < x */
    b->tk[0] = (zr_mnode *)x[0];
    b->tk[1] = &b->inf;
    b->tuple.open = ops[0] ? '[' : '(';
    b->tuple.close = ')';
    return &b->tuple;
  }
  return NULL;
}

/* ---- structure ------------------------------------------------------------------------ */

static int cmp_seq(zr_mcmp *c, zr_mnode *const *g, zr_mnode *const *p, int n) {
  for (int i = 0; i < n; i++) {
    int r = cmp_item(c, g[i], p[i]);
    if (r != 1) return r;
  }
  c->method = "structure";
  return 1;
}

static int is_vector(const zr_mnode *m) { return m->kind == ZR_MN_MATRIX && (m->rows == 1 || m->cols == 1); }

static int cmp_node_rec(zr_mcmp *c, const zr_mnode *g, const zr_mnode *p);

static int cmp_node(zr_mcmp *c, const zr_mnode *g, const zr_mnode *p) {
  if (++c->depth > 32) {
    c->depth--;
    return 0;
  }
  int r = cmp_node_rec(c, g, p);
  c->depth--;
  return r;
}

static int cmp_node_rec(zr_mcmp *c, const zr_mnode *g, const zr_mnode *p) {
  int gcoll = g->kind == ZR_MN_LIST || g->kind == ZR_MN_SET, pcoll = p->kind == ZR_MN_LIST || p->kind == ZR_MN_SET;
  int gpm = is_scalar(g) && zr_mcmp_count_pm(g) > 0, ppm = is_scalar(p) && zr_mcmp_count_pm(p) > 0;
  /* a set never matches a tuple; a comma list matches a tuple in any order */
  if ((g->kind == ZR_MN_SET && p->kind == ZR_MN_TUPLE) || (p->kind == ZR_MN_SET && g->kind == ZR_MN_TUPLE)) return 0;
  if ((g->kind == ZR_MN_LIST && p->kind == ZR_MN_TUPLE) || (p->kind == ZR_MN_LIST && g->kind == ZR_MN_TUPLE))
    return cmp_unordered(c, g, p);
  if (!gcoll && !pcoll && ((gpm && !is_scalar(p)) || (ppm && !is_scalar(g)))) return 0;
  if (gcoll || pcoll || gpm || ppm) {
    int ok_g = gcoll || is_scalar(g) || g->kind == ZR_MN_TUPLE || g->kind == ZR_MN_REL || g->kind == ZR_MN_TEXT;
    int ok_p = pcoll || is_scalar(p) || p->kind == ZR_MN_TUPLE || p->kind == ZR_MN_REL || p->kind == ZR_MN_TEXT;
    if (ok_g && ok_p) return cmp_unordered(c, g, p);
    if (g->kind == ZR_MN_UNION && p->kind == ZR_MN_SET) return cmp_unordered(c, g, p);
    if (p->kind == ZR_MN_UNION && g->kind == ZR_MN_SET) return cmp_unordered(c, g, p);
    return 0;
  }
  if (g->kind == ZR_MN_REL && (p->kind == ZR_MN_TUPLE || p->kind == ZR_MN_UNION)) {
    interval_buf b;
    const zr_mnode *iv = rel_as_interval(g, &b);
    return iv ? cmp_node(c, iv, p) : 0;
  }
  if (g->kind == ZR_MN_TUPLE && p->kind == ZR_MN_TUPLE) {
    if (g->n != p->n) return 0;
    if (g->n == 2 && (g->open != p->open || g->close != p->close)) return 0;
    return cmp_seq(c, g->k, p->k, g->n);
  }
  if (g->kind == ZR_MN_MATRIX && p->kind == ZR_MN_MATRIX) {
    if (g->rows != p->rows || g->cols != p->cols) return 0;
    return cmp_seq(c, g->k, p->k, g->n);
  }
  if ((g->kind == ZR_MN_TUPLE && is_vector(p)) || (p->kind == ZR_MN_TUPLE && is_vector(g))) {
    if (g->n != p->n) return 0;
    return cmp_seq(c, g->k, p->k, g->n);
  }
  if (g->kind == ZR_MN_UNION && p->kind == ZR_MN_UNION) {
    if (g->n != p->n) return 0;
    /* parts as a set */
    char used[64] = {0};
    if (g->n > 64) return 0;
    for (int i = 0; i < g->n; i++) {
      int found = 0;
      for (int j = 0; j < p->n && !found; j++) {
        if (used[j]) continue;
        int r = cmp_node(c, g->k[i], p->k[j]);
        if (r < 0) return r;
        if (r) found = used[j] = 1;
      }
      if (!found) return 0;
    }
    return 1;
  }
  if (g->kind == ZR_MN_REL && p->kind == ZR_MN_REL) return zr_mcmp_relation(c, g, p);
  if (g->kind == ZR_MN_TEXT || p->kind == ZR_MN_TEXT) {
    c->method = "text";
    return g->kind == p->kind && strcasecmp(g->name, p->name) == 0;
  }
  if (is_scalar(g) && is_scalar(p)) {
    /* percent and degree marks on one side only */
    int gp = g->kind == ZR_MN_PERCENT, pp = p->kind == ZR_MN_PERCENT;
    if (gp && pp) return zr_mcmp_scalar(c, g->k[0], 0, p->k[0], 0);
    if (gp != pp) {
      const zr_mnode *pc = gp ? g : p, *other = gp ? p : g;
      int r = gp ? zr_mcmp_scalar(c, pc->k[0], 0, other, 0) : zr_mcmp_scalar(c, other, 0, pc->k[0], 0);
      if (r != 0) return r;
      return gp ? zr_mcmp_scalar(c, pc, 0, other, 0) : zr_mcmp_scalar(c, other, 0, pc, 0);
    }
    int gd = g->kind == ZR_MN_DEGREE, pd = p->kind == ZR_MN_DEGREE;
    if (gd && pd) return zr_mcmp_scalar(c, g->k[0], 0, p->k[0], 0);
    if (gd != pd) {
      const zr_mnode *dg = gd ? g : p, *other = gd ? p : g;
      int r = gd ? zr_mcmp_scalar(c, dg->k[0], 0, other, 0) : zr_mcmp_scalar(c, other, 0, dg->k[0], 0);
      if (r != 0) return r;
      return gd ? zr_mcmp_scalar(c, dg, 0, other, 0) : zr_mcmp_scalar(c, other, 0, dg, 0);
    }
    return zr_mcmp_scalar(c, g, 0, p, 0);
  }
  return 0;
}

/* "x", "x_1", "f(x)", "xy": what may stand left of an assignment. */
static int simple_lhs(const zr_mnode *n) {
  if (n->kind == ZR_MN_SYM) return 1;
  if (n->kind == ZR_MN_MUL) return simple_lhs(n->k[0]) && simple_lhs(n->k[1]);
  return 0;
}

static int all_ops(const zr_mnode *r, int op) {
  for (int i = 0; i < r->n - 1; i++)
    if (r->ops[i] != op) return 0;
  return 1;
}

/* The right side of an assignment-like relation for comparing against a non-relation. */
static const zr_mnode *unwrap(const zr_mnode *n, int is_pred) {
  if (n->kind != ZR_MN_REL) return n;
  if (n->n == 2 && n->ops[0] == ZR_MR_IN && simple_lhs(n->k[0])) return n->k[1];
  if (!all_ops(n, ZR_MR_EQ)) {
    /* S:S = 7:32 -> 7:32 */
    for (int i = n->n - 2; i >= 0; i--)
      if (n->ops[i] == ZR_MR_EQ) return NULL;
    return n;
  }
  if (simple_lhs(n->k[0])) return n->k[n->n - 1];
  if (is_pred) {
    int numeric = 1;
    for (int i = 0; i < n->n - 1; i++)
      if (zr_mcmp_has_vars(n->k[i])) numeric = 0;
    if (numeric) return n->k[n->n - 1];
  }
  return n;
}

static int ratio_tail_equal(zr_mcmp *c, const zr_mnode *rel, const zr_mnode *other) {
  /* rel has '=' mixed with ':'; compare the ratio after the last '=' with other */
  int last = -1;
  for (int i = 0; i < rel->n - 1; i++)
    if (rel->ops[i] == ZR_MR_EQ) last = i;
  if (last < 0 || other->kind != ZR_MN_REL || !all_ops(other, ZR_MR_RATIO)) return 0;
  int cnt = rel->n - 1 - last;
  if (cnt != other->n) return 0;
  for (int i = 0; i < cnt; i++)
    if (i > 0 && rel->ops[last + i] != ZR_MR_RATIO) return 0;
  return cmp_seq(c, rel->k + last + 1, other->k, cnt);
}

static int cmp_item(zr_mcmp *c, const zr_mnode *g, const zr_mnode *p) {
  if (g->kind == ZR_MN_REL && p->kind == ZR_MN_REL) {
    int gmix = !all_ops(g, ZR_MR_EQ) && !all_ops(g, ZR_MR_RATIO) && unwrap(g, 0) == NULL;
    int pmix = !all_ops(p, ZR_MR_EQ) && !all_ops(p, ZR_MR_RATIO) && unwrap(p, 1) == NULL;
    if (gmix && !pmix) return ratio_tail_equal(c, g, p);
    if (pmix && !gmix) return ratio_tail_equal(c, p, g);
    /* x \in S on both sides */
    const zr_mnode *gi = unwrap(g, 0), *pi = unwrap(p, 1);
    if (gi && pi && g->n == 2 && p->n == 2 && g->ops[0] == ZR_MR_IN && p->ops[0] == ZR_MR_IN) return cmp_node(c, gi, pi);
    return cmp_node(c, g, p);
  }
  if (p->kind == ZR_MN_REL) {
    const zr_mnode *u = unwrap(p, 1);
    if (!u) return 0;
    return cmp_node(c, g, u);
  }
  if (g->kind == ZR_MN_REL) {
    if (g->n == 2 && g->ops[0] == ZR_MR_IN && simple_lhs(g->k[0])) return cmp_node(c, g->k[1], p);
    if (all_ops(g, ZR_MR_EQ) && simple_lhs(g->k[0])) return cmp_node(c, g->k[g->n - 1], p);
    return cmp_node(c, g, p);
  }
  return cmp_node(c, g, p);
}

/* ---- string pre-check ----------------------------------------------------------------- */

/* Drops spaces, $, \left \right, spacing commands, \displaystyle, a trailing '.', a whole-answer
 * \text{...} wrapper, and maps \dfrac \tfrac to \frac. Output bounded by cap. */
static size_t squash(const char *s, size_t n, char *out, size_t cap) {
  static const char *const drop[] = {"\\left", "\\right", "\\displaystyle", "\\!", "\\,", "\\;", "\\:", "\\ ", "\\quad", "\\qquad"};
  size_t o = 0;
  for (size_t i = 0; i < n && o + 1 < cap;) {
    unsigned char ch = (unsigned char)s[i];
    if (isspace(ch) || ch == '$') {
      i++;
      continue;
    }
    int skipped = 0;
    for (size_t d = 0; d < sizeof drop / sizeof drop[0]; d++) {
      size_t l = strlen(drop[d]);
      if (i + l <= n && memcmp(s + i, drop[d], l) == 0 && !(l > 2 && i + l < n && isalpha((unsigned char)s[i + l]))) {
        i += l;
        skipped = 1;
        break;
      }
    }
    if (skipped) continue;
    if (i + 6 <= n && (memcmp(s + i, "\\dfrac", 6) == 0 || memcmp(s + i, "\\tfrac", 6) == 0)) {
      if (o + 5 >= cap) break;
      memcpy(out + o, "\\frac", 5);
      o += 5;
      i += 6;
      continue;
    }
    out[o++] = (char)ch;
    i++;
  }
  while (o > 0 && out[o - 1] == '.') o--;
  out[o] = '\0';
  /* whole-answer \text{...} */
  static const char *const wraps[] = {"\\text{", "\\textbf{", "\\mathrm{", "\\textrm{", "\\mbox{", "\\boxed{"};
  for (size_t w = 0; w < sizeof wraps / sizeof wraps[0]; w++) {
    size_t l = strlen(wraps[w]);
    if (o > l && memcmp(out, wraps[w], l) == 0 && out[o - 1] == '}') {
      int depth = 0, whole = 1;
      for (size_t i = l - 1; i < o; i++) {
        if (out[i] == '{') depth++;
        else if (out[i] == '}' && --depth == 0 && i != o - 1) whole = 0;
      }
      if (whole) {
        memmove(out, out + l, o - l - 1);
        o -= l + 1;
        out[o] = '\0';
      }
    }
  }
  return o;
}

static int all_alpha(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!isalpha((unsigned char)*s)) return 0;
  return 1;
}

static int string_equal(const char *a, size_t an, const char *b, size_t bn) {
  char x[512], y[512];
  if (an >= sizeof x || bn >= sizeof y) {
    return an == bn && memcmp(a, b, an) == 0;
  }
  size_t xn = squash(a, an, x, sizeof x), yn = squash(b, bn, y, sizeof y);
  if (xn == 0 || yn == 0) return 0;
  if (xn == yn && memcmp(x, y, xn) == 0) return 1;
  if (xn == yn && xn >= 3 && all_alpha(x) && all_alpha(y) && strcasecmp(x, y) == 0) return 1;
  return 0;
}

/* ---- entry points --------------------------------------------------------------------- */

static void set_answer(zr_math_verdict *out, const char *p, size_t n) {
  size_t k = n < sizeof out->answer - 1 ? n : sizeof out->answer - 1;
  memcpy(out->answer, p, k);
  out->answer[k] = '\0';
}

static void verdict(zr_math_verdict *out, zr_verify_status st, int eq, const char *method, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void verdict(zr_math_verdict *out, zr_verify_status st, int eq, const char *method, const char *fmt, ...) {
  out->status = st;
  out->equal = eq;
  snprintf(out->method, sizeof out->method, "%s", method);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out->detail, sizeof out->detail, fmt, ap);
  va_end(ap);
}

static int blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isspace((unsigned char)s[i])) return 0;
  return 1;
}

int zr_math_equal_n(const char *pred, size_t pn, const char *gold, size_t gn, const zr_math_limits *lim,
                    zr_math_verdict *out) {
  if (!pred || !gold || !out) return zr_seterr(-EINVAL, "zr_math_equal: NULL argument");
  zr_math_limits dl;
  if (!lim) {
    zr_math_limits_default(&dl);
    lim = &dl;
  }
  memset(out, 0, sizeof *out);
  set_answer(out, pred, pn);
  if (blank(pred, pn)) {
    verdict(out, ZR_VERIFY_NO_ANSWER, 0, "none", "empty answer");
    return 0;
  }
  if (pn > lim->max_len) {
    verdict(out, ZR_VERIFY_TIMEOUT, 0, "none", "too large: answer of %zu bytes (limit %zu)", pn, lim->max_len);
    return 0;
  }
  if (gn > lim->max_len) {
    verdict(out, ZR_VERIFY_ERROR, 0, "none", "gold answer of %zu bytes exceeds the limit %zu", gn, lim->max_len);
    return 0;
  }
  if (string_equal(pred, pn, gold, gn)) {
    verdict(out, ZR_VERIFY_OK, 1, "string", "identical text");
    return 0;
  }
  zr_mexpr *ge = NULL, *pe = NULL;
  int rc = zr_math_parse(gold, gn, lim, &ge);
  if (rc < 0) {
    verdict(out, rc == -E2BIG ? ZR_VERIFY_TIMEOUT : ZR_VERIFY_ERROR, 0, "parse", "gold answer: %s", zr_errmsg());
    return 0;
  }
  rc = zr_math_parse(pred, pn, lim, &pe);
  if (rc < 0) {
    if (rc == -E2BIG) verdict(out, ZR_VERIFY_TIMEOUT, 0, "parse", "too large: %s", zr_errmsg());
    else verdict(out, ZR_VERIFY_OK, 0, "parse", "unparseable answer: %s", zr_errmsg());
    zr_mexpr_free(&ge);
    return 0;
  }
  zr_mcmp c;
  zr_mcmp_init(&c, lim);
  int r = cmp_item(&c, zr_mexpr_root(ge), zr_mexpr_root(pe));
  if (r < 0) verdict(out, ZR_VERIFY_TIMEOUT, 0, c.method, "too large: %s", c.why[0] ? c.why : zr_errmsg());
  else verdict(out, ZR_VERIFY_OK, r, c.method, "%s (%ld steps)", r ? "equal" : "not equal", c.mc.steps);
  zr_mexpr_free(&ge);
  zr_mexpr_free(&pe);
  return 0;
}

int zr_math_equal(const char *pred, const char *gold, const zr_math_limits *lim, zr_math_verdict *out) {
  if (!pred || !gold) return zr_seterr(-EINVAL, "zr_math_equal: NULL argument");
  return zr_math_equal_n(pred, strlen(pred), gold, strlen(gold), lim, out);
}

int zr_verify_math(const char *completion, size_t len, const char *gold, zr_extractor ex,
                   const zr_math_limits *lim, zr_math_verdict *out) {
  if (!completion || !gold || !out) return zr_seterr(-EINVAL, "zr_verify_math: NULL argument");
  zr_math_limits dl;
  if (!lim) {
    zr_math_limits_default(&dl);
    lim = &dl;
  }
  memset(out, 0, sizeof *out);
  zr_span sp;
  int rc = zr_extract_answer(completion, len, ex, lim->max_input, &sp);
  if (rc < 0) {
    verdict(out, ZR_VERIFY_TIMEOUT, 0, "none", "too large: %s", zr_errmsg());
    return 0;
  }
  if (rc == 0) {
    verdict(out, ZR_VERIFY_NO_ANSWER, 0, "none", "no answer found (extractor %s)", zr_extractor_name(ex));
    return 0;
  }
  return zr_math_equal_n(completion + sp.start, sp.len, gold, strlen(gold), lim, out);
}
