/* mathlex.c: tokenizer for math answers (see mathlex.h). */
#include "reward/mathlex.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "reward/mathparse.h"

typedef struct {
  zr_mlex *lx;
  const char *s;
  size_t len, i;
  int max_tokens;
  int ws; /* whitespace seen since the last token */
} lexer;

/* ---- units ---------------------------------------------------------------------------- */

static const char *const unit_words[] = {
    "cm", "mm", "km", "m2", "kg", "mg", "ml", "mph", "kph", "ft", "yd", "lb", "lbs", "oz", "hr",
    "hrs", "min", "mins", "sec", "secs", "meter", "metre", "centimeter", "centimetre",
    "millimeter", "kilometer", "kilometre", "mile", "foot", "feet", "inch", "inches", "yard",
    "gram", "kilogram", "pound", "ounce", "liter", "litre", "milliliter", "gallon", "quart",
    "pint", "cup", "second", "minute", "hour", "day", "week", "month", "year", "dollar", "cent",
    "euro", "unit", "square", "sq", "cubic", "cu", "point", "people", "person", "student",
    "page", "book", "apple", "ton", "tons", "times", "way", "digit", "integer", "number",
    "sqft", "item", "piece", "marble", "cookie", "egg", "box", "ticket", "candy", "candies",
    "child", "children", "mile per hour", "per", "each", "total", "th", "st", "nd", "rd",
    "radian", "rad", "calorie", "mph", "percentage", "meters", "kmh", "kilometers per hour",
    "hours", "o'clock", "pm", "am", "usd"};

int zr_mlex_is_unit(const char *w, size_t len) {
  if (len < 2) return 0;
  for (size_t u = 0; u < sizeof unit_words / sizeof unit_words[0]; u++) {
    size_t ul = strlen(unit_words[u]);
    if (ul == len && memcmp(w, unit_words[u], len) == 0) return 1;
    /* plurals: units, inches, boxes */
    if (len == ul + 1 && w[len - 1] == 's' && memcmp(w, unit_words[u], ul) == 0) return 1;
    if (len == ul + 2 && w[len - 2] == 'e' && w[len - 1] == 's' && memcmp(w, unit_words[u], ul) == 0)
      return 1;
  }
  return 0;
}

/* ---- token helpers -------------------------------------------------------------------- */

static int pool_add(lexer *L, const char *p, size_t n) {
  zr_mlex *lx = L->lx;
  if (lx->pool_len + n + 1 > lx->pool_cap) {
    size_t cap = lx->pool_cap ? lx->pool_cap : 256;
    while (cap < lx->pool_len + n + 1) cap *= 2;
    char *np = realloc(lx->pool, cap);
    if (!np) return -ENOMEM;
    lx->pool = np;
    lx->pool_cap = cap;
  }
  int off = (int)lx->pool_len;
  memcpy(lx->pool + off, p, n);
  lx->pool[off + n] = '\0';
  lx->pool_len += n + 1;
  return off;
}

static zr_mtok *push(lexer *L, zr_mtok_kind k, size_t pos) {
  zr_mlex *lx = L->lx;
  if (lx->n >= L->max_tokens) {
    zr_seterr(-E2BIG, "math answer has more than %d tokens", L->max_tokens);
    return NULL;
  }
  if (lx->n >= lx->cap) {
    int cap = lx->cap ? lx->cap * 2 : 32;
    zr_mtok *nt = realloc(lx->t, (size_t)cap * sizeof *nt);
    if (!nt) {
      zr_seterr(-ENOMEM, "out of memory");
      return NULL;
    }
    lx->t = nt;
    lx->cap = cap;
  }
  zr_mtok *t = &lx->t[lx->n++];
  memset(t, 0, sizeof *t);
  t->kind = k;
  t->pos = pos;
  t->ws = L->ws;
  L->ws = 0;
  return t;
}

#define PUSH(k, pos)                               \
  do {                                             \
    if (!push(L, (k), (pos))) return -E2BIG;       \
  } while (0)

static zr_mtok_kind last_kind(const lexer *L) {
  return L->lx->n ? L->lx->t[L->lx->n - 1].kind : ZT_END;
}

static int peek(const lexer *L, size_t off) { return L->i + off < L->len ? (unsigned char)L->s[L->i + off] : 0; }

static int starts(const lexer *L, const char *lit) {
  size_t n = strlen(lit);
  return L->i + n <= L->len && memcmp(L->s + L->i, lit, n) == 0;
}

static void skip_spaces(lexer *L) {
  while (L->i < L->len && isspace((unsigned char)L->s[L->i])) L->i++;
}

/* Finds the '}' matching the '{' at L->s[open]; returns its index or (size_t)-1. */
static size_t match_brace(const lexer *L, size_t open) {
  int depth = 0;
  for (size_t j = open; j < L->len; j++) {
    if (L->s[j] == '\\' && j + 1 < L->len) {
      j++;
      continue;
    }
    if (L->s[j] == '{') depth++;
    else if (L->s[j] == '}' && --depth == 0) return j;
  }
  return (size_t)-1;
}

/* ---- numbers -------------------------------------------------------------------------- */

/* 1 if s[j..] is exactly three digits followed by a non-digit. */
static int three_digits_at(const lexer *L, size_t j) {
  return j + 3 <= L->len && isdigit((unsigned char)L->s[j]) && isdigit((unsigned char)L->s[j + 1]) &&
         isdigit((unsigned char)L->s[j + 2]) && (j + 3 == L->len || !isdigit((unsigned char)L->s[j + 3]));
}

/* After a digit group: is there an unambiguous separator ("{,}", ",\!", "\,") then 3 digits?
 * Returns the index of the next group or 0. */
static size_t group_sep(const lexer *L, size_t j) {
  size_t k = 0;
  if (j + 3 <= L->len && memcmp(L->s + j, "{,}", 3) == 0) k = j + 3;
  else if (j + 3 <= L->len && memcmp(L->s + j, ",\\!", 3) == 0) k = j + 3;
  else if (j + 2 <= L->len && memcmp(L->s + j, "\\,", 2) == 0) k = j + 2;
  else return 0;
  while (k < L->len && L->s[k] == ' ') k++;
  return three_digits_at(L, k) ? k : 0;
}

static int lex_number(lexer *L) {
  size_t pos = L->i;
  char buf[64];
  /* integer part, with unambiguous group separators removed, into the pool */
  size_t start = L->i;
  int ioff = -1, ilen = 0;
  size_t j = L->i;
  /* collect digits possibly across separators */
  size_t cap = 0;
  char *digits = NULL;
  for (;;) {
    size_t b = j;
    while (j < L->len && isdigit((unsigned char)L->s[j])) j++;
    size_t n = j - b;
    char *nd = realloc(digits, cap + n + 1);
    if (!nd) {
      free(digits);
      return zr_seterr(-ENOMEM, "out of memory");
    }
    digits = nd;
    memcpy(digits + cap, L->s + b, n);
    cap += n;
    size_t nx = group_sep(L, j);
    if (!nx || cap == 0) break;
    j = nx;
  }
  (void)start;
  ioff = pool_add(L, digits ? digits : "", cap);
  ilen = (int)cap;
  free(digits);
  if (ioff < 0) return zr_seterr(-ENOMEM, "out of memory");
  int has_point = 0, foff = 0, flen = 0, roff = 0, rlen = 0;
  if (j < L->len && L->s[j] == '.') {
    size_t b = j + 1, e = b;
    while (e < L->len && isdigit((unsigned char)L->s[e])) e++;
    /* repeating part: \overline{ddd} or \bar{ddd} */
    size_t k = e;
    while (k < L->len && L->s[k] == ' ') k++;
    size_t rb = 0, re = 0;
    const char *ov = NULL;
    if (k + 10 <= L->len && memcmp(L->s + k, "\\overline{", 10) == 0) ov = "\\overline{";
    else if (k + 5 <= L->len && memcmp(L->s + k, "\\bar{", 5) == 0) ov = "\\bar{";
    if (ov) {
      rb = k + strlen(ov);
      re = rb;
      while (re < L->len && isdigit((unsigned char)L->s[re])) re++;
      if (re == rb || re >= L->len || L->s[re] != '}') ov = NULL;
    }
    if (e > b || ov) {
      has_point = 1;
      foff = pool_add(L, L->s + b, e - b);
      flen = (int)(e - b);
      if (foff < 0) return zr_seterr(-ENOMEM, "out of memory");
      j = e;
      if (ov) {
        roff = pool_add(L, L->s + rb, re - rb);
        rlen = (int)(re - rb);
        if (roff < 0) return zr_seterr(-ENOMEM, "out of memory");
        j = re + 1;
      }
    }
  }
  if (ilen == 0 && !has_point) return zr_seterr(-EINVAL, "bad number at byte %zu", pos);
  long exp10 = 0;
  /* scientific notation: e/E [+-] digits, not followed by a letter */
  if (j < L->len && (L->s[j] == 'e' || L->s[j] == 'E')) {
    size_t k = j + 1;
    int neg = 0;
    if (k < L->len && (L->s[k] == '+' || L->s[k] == '-')) neg = L->s[k++] == '-';
    size_t db = k;
    long v = 0;
    while (k < L->len && isdigit((unsigned char)L->s[k])) {
      if (v < 1000000000L) v = v * 10 + (L->s[k] - '0');
      k++;
    }
    if (k > db && (k == L->len || !isalpha((unsigned char)L->s[k]))) {
      exp10 = neg ? -v : v;
      j = k;
    }
  }
  (void)buf;
  zr_mtok *t = push(L, ZT_NUM, pos);
  if (!t) return -E2BIG;
  t->ioff = ioff;
  t->ilen = ilen;
  t->has_point = has_point;
  t->foff = foff;
  t->flen = flen;
  t->roff = roff;
  t->rlen = rlen;
  t->exp10 = exp10;
  L->i = j;
  return 0;
}

/* ---- words and commands --------------------------------------------------------------- */

typedef struct {
  const char *name;
  zr_mtok_kind kind;
  int op;
} cmd_entry;

static const cmd_entry funcs[] = {
    {"sin", ZT_FUNC, ZR_MF_SIN},     {"cos", ZT_FUNC, ZR_MF_COS},     {"tan", ZT_FUNC, ZR_MF_TAN},
    {"sec", ZT_FUNC, ZR_MF_SEC},     {"csc", ZT_FUNC, ZR_MF_CSC},     {"cot", ZT_FUNC, ZR_MF_COT},
    {"arcsin", ZT_FUNC, ZR_MF_ASIN}, {"arccos", ZT_FUNC, ZR_MF_ACOS}, {"arctan", ZT_FUNC, ZR_MF_ATAN},
    {"sinh", ZT_FUNC, ZR_MF_SINH},   {"cosh", ZT_FUNC, ZR_MF_COSH},   {"tanh", ZT_FUNC, ZR_MF_TANH},
    {"ln", ZT_FUNC, ZR_MF_LN},       {"log", ZT_FUNC, ZR_MF_LOG},     {"exp", ZT_FUNC, ZR_MF_EXP},
    {"sqrt", ZT_SQRT, 0},            {"pi", ZT_CONST, ZR_MC_PI},      {"infty", ZT_CONST, ZR_MC_INF},
    {"infinity", ZT_CONST, ZR_MC_INF}, {"inf", ZT_CONST, ZR_MC_INF},  {"and", ZT_AND, 0},
    {"or", ZT_AND, 0},               {"percent", ZT_PERCENT, 0},      {"degrees", ZT_DEGREE, 0},
    {"degree", ZT_DEGREE, 0},        {"deg", ZT_DEGREE, 0},
};

static const cmd_entry *find_entry(const cmd_entry *tab, size_t n, const char *w, size_t len) {
  for (size_t k = 0; k < n; k++)
    if (strlen(tab[k].name) == len && memcmp(tab[k].name, w, len) == 0) return &tab[k];
  return NULL;
}

static const char *const greek[] = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta",
    "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "rho", "sigma", "tau", "upsilon", "phi",
    "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Upsilon",
    "Phi", "Psi", "Omega", "ell"};

static int is_greek(const char *w, size_t len) {
  for (size_t k = 0; k < sizeof greek / sizeof greek[0]; k++)
    if (strlen(greek[k]) == len && memcmp(greek[k], w, len) == 0) return 1;
  return 0;
}

/* Appends an optional subscript (_x, _12, _{...} with letters/digits) to a symbol name. */
static int symbol_with_subscript(lexer *L, const char *base, size_t blen, size_t pos) {
  char name[96];
  if (blen >= 40) return zr_seterr(-EINVAL, "symbol name too long at byte %zu", pos);
  memcpy(name, base, blen);
  size_t n = blen;
  if (L->i < L->len && L->s[L->i] == '_') {
    size_t j = L->i + 1;
    if (j < L->len && L->s[j] == '{') {
      size_t e = match_brace(L, j);
      if (e != (size_t)-1 && e - j - 1 < 40) {
        int ok = 1;
        for (size_t k = j + 1; k < e; k++)
          if (!isalnum((unsigned char)L->s[k]) && L->s[k] != ' ') ok = 0;
        if (ok) {
          name[n++] = '_';
          for (size_t k = j + 1; k < e; k++)
            if (L->s[k] != ' ') name[n++] = L->s[k];
          L->i = e + 1;
        }
      }
    } else if (j < L->len && isalnum((unsigned char)L->s[j])) {
      name[n++] = '_';
      name[n++] = L->s[j];
      L->i = j + 1;
    }
  }
  int off = pool_add(L, name, n);
  if (off < 0) return zr_seterr(-ENOMEM, "out of memory");
  zr_mtok *t = push(L, ZT_SYM, pos);
  if (!t) return -E2BIG;
  t->name = off;
  return 0;
}

static int push_named(lexer *L, zr_mtok_kind k, const char *w, size_t len, size_t pos) {
  int off = pool_add(L, w, len);
  if (off < 0) return zr_seterr(-ENOMEM, "out of memory");
  zr_mtok *t = push(L, k, pos);
  if (!t) return -E2BIG;
  t->name = off;
  return 0;
}

/* Unit words follow a quantity; "in" after a number is inches. */
static int after_quantity(const lexer *L) {
  zr_mtok_kind k = last_kind(L);
  return k == ZT_NUM || k == ZT_RPAR || k == ZT_RBRACE || k == ZT_CONST || k == ZT_UNIT ||
         k == ZT_DEGREE || k == ZT_PERCENT || k == ZT_SYM || k == ZT_RBRK;
}

/* Swallows "^2", "^3", "^{2}" after a unit (cm^2). */
static void skip_unit_power(lexer *L) {
  size_t j = L->i;
  while (j < L->len && L->s[j] == ' ') j++;
  if (j < L->len && L->s[j] == '^') {
    j++;
    if (j < L->len && isdigit((unsigned char)L->s[j])) L->i = j + 1;
    else if (j + 2 < L->len && L->s[j] == '{' && isdigit((unsigned char)L->s[j + 1]) && L->s[j + 2] == '}')
      L->i = j + 3;
  }
}

/* A bare word in plain text (letters only). */
static int lex_word(lexer *L) {
  size_t pos = L->i, b = L->i;
  while (L->i < L->len && isalpha((unsigned char)L->s[L->i])) L->i++;
  size_t len = L->i - b;
  char low[64];
  if (len < sizeof low) {
    for (size_t k = 0; k < len; k++) low[k] = (char)tolower((unsigned char)L->s[b + k]);
    low[len] = '\0';
    const cmd_entry *e = find_entry(funcs, sizeof funcs / sizeof funcs[0], low, len);
    if (e) {
      zr_mtok *t = push(L, e->kind, pos);
      if (!t) return -E2BIG;
      t->op = e->op;
      return 0;
    }
    if (len >= 2 && after_quantity(L) && (zr_mlex_is_unit(low, len) || strcmp(low, "in") == 0)) {
      if (push_named(L, ZT_UNIT, low, len, pos) < 0) return -E2BIG;
      skip_unit_power(L);
      return 0;
    }
    if (len >= 4 || (len >= 2 && zr_mlex_is_unit(low, len))) return push_named(L, ZT_TEXT, low, len, pos);
  } else {
    return zr_seterr(-EINVAL, "word too long at byte %zu", pos);
  }
  /* short letter runs are products of single-letter symbols: xy = x*y */
  for (size_t k = 0; k < len; k++) {
    char c = L->s[b + k];
    if (k + 1 == len) {
      if (c == 'e' && !(L->i < L->len && L->s[L->i] == '_')) {
        zr_mtok *t = push(L, ZT_CONST, b + k);
        if (!t) return -E2BIG;
        t->op = ZR_MC_E;
      } else if (c == 'i' && !(L->i < L->len && L->s[L->i] == '_')) {
        zr_mtok *t = push(L, ZT_CONST, b + k);
        if (!t) return -E2BIG;
        t->op = ZR_MC_I;
      } else {
        int rc = symbol_with_subscript(L, &c, 1, b + k);
        if (rc < 0) return rc;
      }
    } else if (c == 'e' || c == 'i') {
      zr_mtok *t = push(L, ZT_CONST, b + k);
      if (!t) return -E2BIG;
      t->op = c == 'e' ? ZR_MC_E : ZR_MC_I;
    } else {
      int off = pool_add(L, &c, 1);
      if (off < 0) return zr_seterr(-ENOMEM, "out of memory");
      zr_mtok *t = push(L, ZT_SYM, b + k);
      if (!t) return -E2BIG;
      t->name = off;
    }
  }
  return 0;
}

/* \text{...} and friends: decide what the braces hold. L->i is at '{'. */
static int lex_text_arg(lexer *L, size_t pos) {
  size_t e = match_brace(L, L->i);
  if (e == (size_t)-1) return zr_seterr(-EINVAL, "unclosed \\text{ at byte %zu", pos);
  size_t b = L->i + 1;
  int wordy = 1, letters = 0;
  for (size_t k = b; k < e; k++) {
    unsigned char c = (unsigned char)L->s[k];
    if (isalpha(c)) letters++;
    else if (!(c == ' ' || c == '.' || c == ':' || c == ',' || c == '\'' || c == '!' || c == '?' || c == '-'))
      wordy = 0;
  }
  if (!wordy || letters == 0) {
    /* a number or an expression in text: keep the braces as a group */
    if (letters == 0) {
      int blank = 1;
      for (size_t k = b; k < e; k++)
        if (!isspace((unsigned char)L->s[k])) blank = 0;
      if (blank) {
        L->i = e + 1;
        L->ws = 1;
        return 0;
      }
    }
    return 0; /* caller lexes '{' next */
  }
  /* trimmed, lower-cased words */
  char w[128];
  size_t n = 0;
  size_t tb = b, te = e;
  while (tb < te && (isspace((unsigned char)L->s[tb]) || L->s[tb] == ',' || L->s[tb] == '.' || L->s[tb] == ':')) tb++;
  while (te > tb && (isspace((unsigned char)L->s[te - 1]) || L->s[te - 1] == '.' || L->s[te - 1] == ',' || L->s[te - 1] == ':')) te--;
  L->i = e + 1;
  if (te - tb >= sizeof w) return push_named(L, ZT_TEXT, "long text", 9, pos);
  for (size_t k = tb; k < te; k++) w[n++] = (char)tolower((unsigned char)L->s[k]);
  w[n] = '\0';
  if (n == 1 && isalpha((unsigned char)L->s[tb])) {
    /* \mathrm{e}, \text{C}: a single letter keeps its case */
    char c = L->s[tb];
    if (c == 'e' || c == 'i') {
      zr_mtok *t = push(L, ZT_CONST, pos);
      if (!t) return -E2BIG;
      t->op = c == 'e' ? ZR_MC_E : ZR_MC_I;
      return 0;
    }
    return symbol_with_subscript(L, &c, 1, pos);
  }
  if (strcmp(w, "and") == 0 || strcmp(w, "or") == 0 || strcmp(w, ",") == 0) {
    zr_mtok *t = push(L, ZT_AND, pos);
    return t ? 0 : -E2BIG;
  }
  if (strcmp(w, "degrees") == 0 || strcmp(w, "degree") == 0) {
    zr_mtok *t = push(L, ZT_DEGREE, pos);
    return t ? 0 : -E2BIG;
  }
  if (strcmp(w, "percent") == 0 || strcmp(w, "%") == 0) {
    zr_mtok *t = push(L, ZT_PERCENT, pos);
    return t ? 0 : -E2BIG;
  }
  const cmd_entry *fe = find_entry(funcs, sizeof funcs / sizeof funcs[0], w, n);
  if (fe && (fe->kind == ZT_FUNC || fe->kind == ZT_CONST || fe->kind == ZT_SQRT)) {
    zr_mtok *t = push(L, fe->kind, pos);
    if (!t) return -E2BIG;
    t->op = fe->op;
    return 0;
  }
  /* a unit phrase: every word a unit word (or "per") */
  int all_units = 1;
  for (size_t k = 0; k < n;) {
    while (k < n && !isalpha((unsigned char)w[k])) k++;
    size_t wb = k;
    while (k < n && isalpha((unsigned char)w[k])) k++;
    if (k > wb && !zr_mlex_is_unit(w + wb, k - wb)) all_units = 0;
  }
  if (all_units && after_quantity(L)) {
    if (push_named(L, ZT_UNIT, w, n, pos) < 0) return -E2BIG;
    skip_unit_power(L);
    return 0;
  }
  return push_named(L, ZT_TEXT, w, n, pos);
}

static const char *const skip_cmds[] = {
    "left", "right", "bigl", "bigr", "Bigl", "Bigr", "big", "Big", "bigg", "Bigg", "biggl",
    "biggr", "Biggl", "Biggr", "middle", "displaystyle", "textstyle", "scriptstyle", "limits",
    "nolimits", "quad", "qquad", "mathstrut", "strut", "boxed", "fbox", "framebox", "overline",
    "underline", "bar", "hat", "vec", "tilde", "dot", "ddot", "widehat", "widetilde", "overrightarrow",
    "phantom", "enspace", "thinspace", "negthinspace", "medspace", "thickspace", "smash", "color",
    "cancel", "leftarrow", "rightarrow", "to", "implies", "Rightarrow", "therefore", "ldotp",
    "noindent", "space", "nonumber", "notag", "rm", "bf", "it", "bm", "boldsymbol", "ensuremath"};

static const char *const text_cmds[] = {"text", "textrm", "textit", "textbf", "textnormal", "textsf",
                                        "texttt", "mathrm", "mathit", "mathbf", "mathsf", "mathtt",
                                        "mbox", "hbox", "operatorname", "textup", "mathnormal"};

static const cmd_entry latex_cmds[] = {
    {"frac", ZT_FRAC, 0},        {"dfrac", ZT_FRAC, 0},        {"tfrac", ZT_FRAC, 0},
    {"cfrac", ZT_FRAC, 0},       {"sqrt", ZT_SQRT, 0},         {"binom", ZT_BINOM, 0},
    {"dbinom", ZT_BINOM, 0},     {"tbinom", ZT_BINOM, 0},      {"pi", ZT_CONST, ZR_MC_PI},
    {"infty", ZT_CONST, ZR_MC_INF}, {"infin", ZT_CONST, ZR_MC_INF}, {"cdot", ZT_STAR, 0},
    {"times", ZT_STAR, 0},       {"ast", ZT_STAR, 0},          {"div", ZT_SLASH, 0},
    {"pm", ZT_PM, 0},            {"mp", ZT_MP, 0},             {"le", ZT_REL, ZR_MR_LE},
    {"leq", ZT_REL, ZR_MR_LE},   {"leqslant", ZT_REL, ZR_MR_LE}, {"ge", ZT_REL, ZR_MR_GE},
    {"geq", ZT_REL, ZR_MR_GE},   {"geqslant", ZT_REL, ZR_MR_GE}, {"ne", ZT_REL, ZR_MR_NE},
    {"neq", ZT_REL, ZR_MR_NE},   {"lt", ZT_REL, ZR_MR_LT},     {"gt", ZT_REL, ZR_MR_GT},
    {"approx", ZT_REL, ZR_MR_EQ}, {"equiv", ZT_REL, ZR_MR_EQ}, {"in", ZT_REL, ZR_MR_IN},
    {"cup", ZT_CUP, 0},          {"emptyset", ZT_EMPTYSET, 0}, {"varnothing", ZT_EMPTYSET, 0},
    {"circ", ZT_DEGREE, 0},      {"degree", ZT_DEGREE, 0},     {"lvert", ZT_PIPE, 0},
    {"rvert", ZT_PIPE, 0},       {"vert", ZT_PIPE, 0},         {"mid", ZT_PIPE, 0},
    {"langle", ZT_LPAR, 0},      {"rangle", ZT_RPAR, 0},       {"lbrace", ZT_SETOPEN, 0},
    {"rbrace", ZT_SETCLOSE, 0},  {"lbrack", ZT_LBRK, 0},       {"rbrack", ZT_RBRK, 0},
    {"prime", ZT_PRIME, 0},      {"colon", ZT_COLON, 0},       {"exp", ZT_FUNC, ZR_MF_EXP},
    {"ln", ZT_FUNC, ZR_MF_LN},   {"log", ZT_FUNC, ZR_MF_LOG},  {"lg", ZT_FUNC, ZR_MF_LOG},
    {"sin", ZT_FUNC, ZR_MF_SIN}, {"cos", ZT_FUNC, ZR_MF_COS},  {"tan", ZT_FUNC, ZR_MF_TAN},
    {"sec", ZT_FUNC, ZR_MF_SEC}, {"csc", ZT_FUNC, ZR_MF_CSC},  {"cot", ZT_FUNC, ZR_MF_COT},
    {"arcsin", ZT_FUNC, ZR_MF_ASIN}, {"arccos", ZT_FUNC, ZR_MF_ACOS}, {"arctan", ZT_FUNC, ZR_MF_ATAN},
    {"sinh", ZT_FUNC, ZR_MF_SINH}, {"cosh", ZT_FUNC, ZR_MF_COSH}, {"tanh", ZT_FUNC, ZR_MF_TANH},
};

static int is_in(const char *const *tab, size_t n, const char *w, size_t len) {
  for (size_t k = 0; k < n; k++)
    if (strlen(tab[k]) == len && memcmp(tab[k], w, len) == 0) return 1;
  return 0;
}

static const char *const matrix_envs[] = {"pmatrix", "bmatrix", "Bmatrix", "vmatrix", "Vmatrix",
                                          "matrix", "smallmatrix", "array"};

static int lex_env(lexer *L, int begin, size_t pos) {
  skip_spaces(L);
  if (L->i >= L->len || L->s[L->i] != '{') return zr_seterr(-EINVAL, "\\begin/\\end without {name} at byte %zu", pos);
  size_t e = match_brace(L, L->i);
  if (e == (size_t)-1) return zr_seterr(-EINVAL, "unclosed environment name at byte %zu", pos);
  const char *nm = L->s + L->i + 1;
  size_t nl = e - L->i - 1;
  if (nl && nm[nl - 1] == '*') nl--;
  L->i = e + 1;
  if (is_in(matrix_envs, sizeof matrix_envs / sizeof matrix_envs[0], nm, nl)) {
    if (begin && nl == 5 && memcmp(nm, "array", 5) == 0) {
      skip_spaces(L);
      if (L->i < L->len && L->s[L->i] == '{') {
        size_t ce = match_brace(L, L->i);
        if (ce == (size_t)-1) return zr_seterr(-EINVAL, "unclosed array column spec at byte %zu", pos);
        L->i = ce + 1;
      }
    }
    zr_mtok *t = push(L, begin ? ZT_MBEGIN : ZT_MEND, pos);
    return t ? 0 : -E2BIG;
  }
  L->ws = 1; /* align, aligned, cases, equation ...: transparent */
  return 0;
}

static int lex_command(lexer *L) {
  size_t pos = L->i;
  L->i++; /* backslash */
  if (L->i >= L->len) return zr_seterr(-EINVAL, "trailing backslash");
  char c = L->s[L->i];
  if (!isalpha((unsigned char)c)) {
    L->i++;
    switch (c) {
      case ',': case '!': case ';': case ':': case ' ': case '>': case '\n': case '/':
        L->ws = 1;
        return 0;
      case '{': return push(L, ZT_SETOPEN, pos) ? 0 : -E2BIG;
      case '}': return push(L, ZT_SETCLOSE, pos) ? 0 : -E2BIG;
      case '%': return push(L, ZT_PERCENT, pos) ? 0 : -E2BIG;
      case '$': case '#': case '(': case ')': case '[': case ']':
        L->ws = 1;
        return 0;
      case '\\': return push(L, ZT_ROWSEP, pos) ? 0 : -E2BIG;
      case '&': return push(L, ZT_AMP, pos) ? 0 : -E2BIG;
      case '|': return push(L, ZT_PIPE, pos) ? 0 : -E2BIG;
      default: return zr_seterr(-EINVAL, "unknown command '\\%c' at byte %zu", c, pos);
    }
  }
  size_t b = L->i;
  while (L->i < L->len && isalpha((unsigned char)L->s[L->i])) L->i++;
  const char *w = L->s + b;
  size_t len = L->i - b;
  if (is_in(skip_cmds, sizeof skip_cmds / sizeof skip_cmds[0], w, len)) {
    L->ws = 1;
    if ((len == 4 && memcmp(w, "left", 4) == 0) || (len == 5 && memcmp(w, "right", 5) == 0) ||
        (len == 6 && memcmp(w, "middle", 6) == 0)) {
      if (L->i < L->len && L->s[L->i] == '.') L->i++; /* \left. */
    }
    if (len == 5 && memcmp(w, "color", 5) == 0) {
      skip_spaces(L);
      if (L->i < L->len && L->s[L->i] == '{') {
        size_t e = match_brace(L, L->i);
        if (e != (size_t)-1) L->i = e + 1;
      }
    }
    return 0;
  }
  if ((len == 6 && (memcmp(w, "hspace", 6) == 0 || memcmp(w, "vspace", 6) == 0 || memcmp(w, "mathbb", 6) == 0)) ||
      (len == 3 && memcmp(w, "tag", 3) == 0) || (len == 5 && memcmp(w, "label", 5) == 0)) {
    int bb = len == 6 && memcmp(w, "mathbb", 6) == 0;
    skip_spaces(L);
    if (L->i < L->len && L->s[L->i] == '{') {
      size_t e = match_brace(L, L->i);
      if (e == (size_t)-1) return zr_seterr(-EINVAL, "unclosed argument at byte %zu", pos);
      if (bb) {
        char nm[48];
        int n = snprintf(nm, sizeof nm, "mathbb_%.*s", (int)(e - L->i - 1 < 30 ? e - L->i - 1 : 30), L->s + L->i + 1);
        L->i = e + 1;
        return push_named(L, ZT_TEXT, nm, (size_t)n, pos);
      }
      L->i = e + 1;
    } else if (bb && L->i < L->len && isalpha((unsigned char)L->s[L->i])) {
      char nm[16];
      int n = snprintf(nm, sizeof nm, "mathbb_%c", L->s[L->i]);
      L->i++;
      return push_named(L, ZT_TEXT, nm, (size_t)n, pos);
    }
    L->ws = 1;
    return 0;
  }
  if (is_in(text_cmds, sizeof text_cmds / sizeof text_cmds[0], w, len)) {
    skip_spaces(L);
    if (L->i < L->len && L->s[L->i] == '{') return lex_text_arg(L, pos);
    L->ws = 1;
    return 0;
  }
  if (len == 5 && memcmp(w, "begin", 5) == 0) return lex_env(L, 1, pos);
  if (len == 3 && memcmp(w, "end", 3) == 0) return lex_env(L, 0, pos);
  if ((len == 5 && memcmp(w, "ldots", 5) == 0) || (len == 4 && memcmp(w, "dots", 4) == 0) ||
      (len == 5 && memcmp(w, "cdots", 5) == 0) || (len == 5 && memcmp(w, "dotsc", 5) == 0))
    return push_named(L, ZT_TEXT, "...", 3, pos);
  const cmd_entry *e = find_entry(latex_cmds, sizeof latex_cmds / sizeof latex_cmds[0], w, len);
  if (e) {
    zr_mtok *t = push(L, e->kind, pos);
    if (!t) return -E2BIG;
    t->op = e->op;
    return 0;
  }
  if (is_greek(w, len)) return symbol_with_subscript(L, w, len, pos);
  return zr_seterr(-EINVAL, "unknown command '\\%.*s' at byte %zu", (int)(len > 40 ? 40 : len), w, pos);
}

/* ---- UTF-8 symbols -------------------------------------------------------------------- */

typedef struct {
  const char *utf8;
  zr_mtok_kind kind;
  int op;
} utf8_entry;

static const utf8_entry utf8_syms[] = {
    {"\xe2\x88\x92", ZT_MINUS, 0},          {"\xe2\x80\x93", ZT_MINUS, 0},
    {"\xc3\x97", ZT_STAR, 0},               {"\xc2\xb7", ZT_STAR, 0},
    {"\xe2\x8b\x85", ZT_STAR, 0},           {"\xe2\x88\x99", ZT_STAR, 0},
    {"\xc3\xb7", ZT_SLASH, 0},              {"\xcf\x80", ZT_CONST, ZR_MC_PI},
    {"\xe2\x88\x9a", ZT_SQRT, 0},           {"\xc2\xb0", ZT_DEGREE, 0},
    {"\xe2\x89\xa4", ZT_REL, ZR_MR_LE},     {"\xe2\x89\xa5", ZT_REL, ZR_MR_GE},
    {"\xe2\x89\xa0", ZT_REL, ZR_MR_NE},     {"\xe2\x88\x9e", ZT_CONST, ZR_MC_INF},
    {"\xc2\xb1", ZT_PM, 0},                 {"\xe2\x88\xaa", ZT_CUP, 0},
    {"\xe2\x88\x88", ZT_REL, ZR_MR_IN},     {"\xe2\x88\x85", ZT_EMPTYSET, 0},
    {"\xe2\x89\x88", ZT_REL, ZR_MR_EQ},
};

static int lex_utf8(lexer *L) {
  size_t pos = L->i;
  /* spaces: NBSP, thin spaces, narrow NBSP */
  if (starts(L, "\xc2\xa0")) {
    L->i += 2;
    L->ws = 1;
    return 0;
  }
  if (starts(L, "\xe2\x80\x89") || starts(L, "\xe2\x80\xaf") || starts(L, "\xe2\x80\x8a")) {
    L->i += 3;
    L->ws = 1;
    return 0;
  }
  for (size_t k = 0; k < sizeof utf8_syms / sizeof utf8_syms[0]; k++) {
    if (starts(L, utf8_syms[k].utf8)) {
      L->i += strlen(utf8_syms[k].utf8);
      zr_mtok *t = push(L, utf8_syms[k].kind, pos);
      if (!t) return -E2BIG;
      t->op = utf8_syms[k].op;
      return 0;
    }
  }
  return zr_seterr(-EINVAL, "unsupported character (byte 0x%02x) at byte %zu", (unsigned char)L->s[pos], pos);
}

/* ---- main loop ------------------------------------------------------------------------ */

int zr_mlex_run(zr_mlex *lx, const char *text, size_t len, int max_tokens) {
  memset(lx, 0, sizeof *lx);
  lexer L = {.lx = lx, .s = text, .len = len, .max_tokens = max_tokens};
  int rc = 0;
  while (L.i < L.len && rc == 0) {
    unsigned char c = (unsigned char)L.s[L.i];
    size_t pos = L.i;
    if (isspace(c) || c == '~' || c == '$') {
      L.i++;
      L.ws = 1;
      continue;
    }
    if (isdigit(c) || (c == '.' && isdigit(peek(&L, 1)))) {
      rc = lex_number(&L);
      continue;
    }
    if (isalpha(c)) {
      rc = lex_word(&L);
      continue;
    }
    if (c == '\\') {
      rc = lex_command(&L);
      continue;
    }
    if (c >= 0x80) {
      rc = lex_utf8(&L);
      continue;
    }
    zr_mtok_kind k = ZT_END;
    int op = 0;
    L.i++;
    switch (c) {
      case '+': k = ZT_PLUS; break;
      case '-': k = ZT_MINUS; break;
      case '*':
        k = ZT_STAR;
        if (peek(&L, 0) == '*') { /* ** as power */
          L.i++;
          k = ZT_CARET;
        }
        break;
      case '/': k = ZT_SLASH; break;
      case '^':
        /* ^\circ, ^{\circ}: degrees */
        if (starts(&L, "\\circ")) {
          L.i += 5;
          k = ZT_DEGREE;
        } else if (starts(&L, "{\\circ}")) {
          L.i += 7;
          k = ZT_DEGREE;
        } else if (starts(&L, "{ \\circ }")) {
          L.i += 9;
          k = ZT_DEGREE;
        } else {
          k = ZT_CARET;
        }
        break;
      case '!':
        if (peek(&L, 0) == '=') {
          L.i++;
          k = ZT_REL;
          op = ZR_MR_NE;
        } else {
          k = ZT_BANG;
        }
        break;
      case '_': k = ZT_UNDERSCORE; break;
      case '\'': k = ZT_PRIME; break;
      case '(': k = ZT_LPAR; break;
      case ')': k = ZT_RPAR; break;
      case '[': k = ZT_LBRK; break;
      case ']': k = ZT_RBRK; break;
      case '{':
        if (starts(&L, ",}")) { /* {,} digit group */
          L.i += 2;
          k = ZT_COMMA;
          op = 1;
        } else {
          k = ZT_LBRACE;
        }
        break;
      case '}': k = ZT_RBRACE; break;
      case ',':
        if (starts(&L, "\\!")) {
          L.i += 2;
          op = 1;
        }
        k = ZT_COMMA;
        break;
      case ';': k = ZT_SEMI; break;
      case ':': k = ZT_COLON; break;
      case '|': k = ZT_PIPE; break;
      case '&': k = ZT_AMP; break;
      case '%': k = ZT_PERCENT; break;
      case '=':
        if (peek(&L, 0) == '=') L.i++;
        k = ZT_REL;
        op = ZR_MR_EQ;
        break;
      case '<':
        k = ZT_REL;
        op = ZR_MR_LT;
        if (peek(&L, 0) == '=') {
          L.i++;
          op = ZR_MR_LE;
        }
        break;
      case '>':
        k = ZT_REL;
        op = ZR_MR_GT;
        if (peek(&L, 0) == '=') {
          L.i++;
          op = ZR_MR_GE;
        }
        break;
      case '.': case '"': case '?':
        L.ws = 1; /* sentence punctuation */
        continue;
      default:
        rc = zr_seterr(-EINVAL, "unexpected character '%c' at byte %zu", c, pos);
        continue;
    }
    zr_mtok *t = push(&L, k, pos);
    if (!t) {
      rc = -E2BIG;
      break;
    }
    t->op = op;
    if (k == ZT_COMMA) t->glued = op;
    if (k == ZT_COMMA) t->op = 0;
  }
  if (rc == 0 && !push(&L, ZT_END, L.len)) rc = -E2BIG;
  if (rc < 0) {
    zr_mlex_release(lx);
    return rc;
  }
  return 0;
}

void zr_mlex_release(zr_mlex *lx) {
  free(lx->t);
  free(lx->pool);
  memset(lx, 0, sizeof *lx);
}
