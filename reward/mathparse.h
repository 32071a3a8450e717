/* mathparse.h: parses one math answer, written in LaTeX or plain text, into an expression tree.
 *
 * The parser is the first stage of the math verifier (mathequal.h compares two trees). It
 * understands the forms that answers to GSM8K / MATH / AIME style problems take: integers of any
 * size, decimals, scientific notation (1.5e3), repeating decimals (0.\overline{3}), fractions
 * (\frac \dfrac \tfrac \cfrac, a/b, \frac12), mixed numbers (3\frac{1}{2} is 3 + 1/2), percent
 * (\%, %, "percent"), degrees (^\circ, °, "degrees"), roots (\sqrt, \sqrt[n]), powers, \pi, e, i,
 * \infty, functions (\sin ... \ln \log_b \exp, n!, \binom), |x|, variables (x, x_1, \alpha),
 * implicit multiplication (2x, 2(x+1), 2\sqrt{3}), \pm / \mp, relations (= < > \le \ge \ne \in,
 * chains), tuples, intervals with open/closed ends, sets (\{...\}, {a,b}), unions (\cup),
 * matrices (pmatrix, bmatrix, vmatrix, matrix, array) and comma lists of several answers.
 * Presentation is ignored: $...$, \(...\), \[...\], \left / \right, \! \, \; \: \quad, ~,
 * \displaystyle, \boxed{} / \fbox{}, \text{} around numbers; a \text{} or bare word after an
 * expression is a unit and dropped ("125 \text{ miles}", "5 cm"); "and" / "or" separate answers.
 *
 * Thousands separators (documented decision): "{,}" and ",\!" always group digits; a plain ","
 * groups digits only outside brackets and when it has no space on either side and the run reads
 * d{1,3}(,ddd)+ ("1,000,000" is one number, "1, 000" and "(1,000)" are lists/tuples, "12,34" is
 * a list). "1\,000" and "1 000" (one space, 3-digit groups, outside brackets) also group digits.
 * Exponents take the whole number that follows (x^23 is x^{23}, unlike TeX). Bare "e" is Euler's
 * number and bare "i" the imaginary unit. \log without a base is the natural logarithm.
 *
 * Every input is bounded: length, nesting depth and node count (zr_math_limits); exceeding one
 * fails with -E2BIG before any work proportional to the excess is done.
 *
 * Ownership: zr_math_parse returns a zr_mexpr that owns every node (and their GMP numbers);
 * nodes are read-only to callers and live until zr_mexpr_free. */
#ifndef ZR_MATHPARSE_H
#define ZR_MATHPARSE_H

#include <gmp.h>
#include <stddef.h>

/* Bounds on one comparison (parse + evaluate). zr_math_limits_default fills sensible values. */
typedef struct {
  size_t max_len;        /* max bytes of one answer expression (default 2048) */
  size_t max_input;      /* max bytes of a completion handed to extraction (default 1 MiB) */
  int max_depth;         /* max nesting depth of brackets / operators (default 48) */
  int max_nodes;         /* max tree nodes per answer (default 2048) */
  int max_items;         /* max elements of a list / set / tuple / matrix (default 256) */
  long max_exponent;     /* max |integer exponent| (powers, 1e..., factorial arg) (default 100000) */
  long max_bits;         /* max bits of any exact intermediate number (default 32768) */
  long max_steps;        /* evaluation step budget per comparison (default 200000) */
  int points;            /* random points for expressions with variables (default 6) */
  int precision;         /* base MPFR precision in bits (default 256) */
  int approx_decimals;   /* a decimal with >= this many fractional digits may approximate an
                            exact value (|a-b| < 10^-k); fewer digits compare exactly (default 4) */
} zr_math_limits;

void zr_math_limits_default(zr_math_limits *lim);

typedef enum {
  ZR_MN_NUM,     /* rational literal: q; ndec fractional digits written (-1: repeating) */
  ZR_MN_SYM,     /* variable: name ("x", "x_1", "alpha") */
  ZR_MN_CONST,   /* op: ZR_MC_PI / ZR_MC_E / ZR_MC_I / ZR_MC_INF */
  ZR_MN_NEG,     /* -k[0] */
  ZR_MN_ADD,     /* k[0] + k[1] */
  ZR_MN_SUB,     /* k[0] - k[1] */
  ZR_MN_MUL,     /* k[0] * k[1] */
  ZR_MN_DIV,     /* k[0] / k[1] */
  ZR_MN_POW,     /* k[0] ^ k[1] */
  ZR_MN_ROOT,    /* k[1]-th root of k[0] (real root of a negative number for odd k[1]) */
  ZR_MN_FUNC,    /* op: ZR_MF_*; k[0] argument, k[1] log base (optional) */
  ZR_MN_FACT,    /* k[0]! */
  ZR_MN_BINOM,   /* binom(k[0], k[1]) */
  ZR_MN_ABS,     /* |k[0]| */
  ZR_MN_PERCENT, /* k[0] % */
  ZR_MN_DEGREE,  /* k[0] degrees */
  ZR_MN_PM,      /* k[0] ± k[1], or ±k[0] when n == 1; op 1 for \mp */
  ZR_MN_REL,     /* relation chain k[0] ops[0] k[1] ops[1] k[2] ... (ops: ZR_MR_*) */
  ZR_MN_TUPLE,   /* bracketed list of >= 2 items; open '(' or '[', close ')' or ']' */
  ZR_MN_SET,     /* {a, b, ...} (possibly empty) */
  ZR_MN_LIST,    /* several answers "a, b" / "a and b" (unordered) */
  ZR_MN_MATRIX,  /* rows x cols cells, row-major in k[] */
  ZR_MN_UNION,   /* k[0] \cup k[1] \cup ... */
  ZR_MN_TEXT,    /* a word answer: name (lower-cased) */
} zr_mnode_kind;

enum { ZR_MC_PI = 1, ZR_MC_E, ZR_MC_I, ZR_MC_INF };
enum {
  ZR_MF_SIN = 1, ZR_MF_COS, ZR_MF_TAN, ZR_MF_SEC, ZR_MF_CSC, ZR_MF_COT, ZR_MF_ASIN, ZR_MF_ACOS,
  ZR_MF_ATAN, ZR_MF_SINH, ZR_MF_COSH, ZR_MF_TANH, ZR_MF_LN, ZR_MF_LOG, ZR_MF_EXP, ZR_MF_SQRT
};
enum { ZR_MR_EQ = 1, ZR_MR_NE, ZR_MR_LT, ZR_MR_LE, ZR_MR_GT, ZR_MR_GE, ZR_MR_IN, ZR_MR_RATIO };

typedef struct zr_mnode zr_mnode;
struct zr_mnode {
  zr_mnode_kind kind;
  int op;            /* CONST / FUNC / PM / REL-less detail, see above */
  int n;             /* number of children */
  zr_mnode **k;      /* children */
  int *ops;          /* REL: n-1 relation operators */
  int rows, cols;    /* MATRIX */
  char open, close;  /* TUPLE brackets */
  int ndec;          /* NUM: fractional digits as written (0 integer, -1 repeating) */
  mpq_t q;           /* NUM value (initialised only for NUM) */
  char *name;        /* SYM / TEXT */
};

typedef struct zr_mexpr zr_mexpr;

/* Parses text[0..len). Returns 0 and *out, or -EINVAL (not an expression it understands; the
 * message says where), -E2BIG (a bound of lim was exceeded) or -ENOMEM. */
int zr_math_parse(const char *text, size_t len, const zr_math_limits *lim, zr_mexpr **out);
const zr_mnode *zr_mexpr_root(const zr_mexpr *e);
void zr_mexpr_free(zr_mexpr **e);

/* Writes a compact prefix rendering of the tree (for tests and details); truncates to cap. */
void zr_mnode_print(const zr_mnode *n, char *buf, size_t cap);

#endif
