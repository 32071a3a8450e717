/* mathlex.h: the tokenizer behind mathparse.h (internal to the math verifier).
 *
 * zr_mlex_run turns one answer (LaTeX or plain text) into an array of tokens. It drops
 * presentation (spacing commands, \left/\right, $, \boxed), decides what a \text{...} holds
 * (a number, a unit, "and"/"or", a word answer), maps Unicode operators (− × ÷ π √ ° ≤ ≥ ≠ ∞ ±
 * ∪ ∈) to their LaTeX meaning, and groups unambiguous digit separators ("{,}", ",\!", "\,").
 * Names and digit strings live in a pool owned by the zr_mlex result; zr_mlex_release frees it. */
#ifndef ZR_MATHLEX_H
#define ZR_MATHLEX_H

#include <stddef.h>

typedef enum {
  ZT_END = 0, ZT_NUM, ZT_SYM, ZT_CONST, ZT_FUNC, ZT_TEXT, ZT_UNIT, ZT_AND,
  ZT_PLUS, ZT_MINUS, ZT_STAR, ZT_SLASH, ZT_CARET, ZT_BANG, ZT_UNDERSCORE, ZT_PRIME,
  ZT_LPAR, ZT_RPAR, ZT_LBRK, ZT_RBRK, ZT_LBRACE, ZT_RBRACE, ZT_SETOPEN, ZT_SETCLOSE,
  ZT_COMMA, ZT_SEMI, ZT_COLON, ZT_PIPE, ZT_AMP, ZT_ROWSEP,
  ZT_FRAC, ZT_SQRT, ZT_BINOM, ZT_PM, ZT_MP, ZT_REL, ZT_CUP, ZT_PERCENT, ZT_DEGREE,
  ZT_MBEGIN, ZT_MEND, ZT_EMPTYSET,
} zr_mtok_kind;

typedef struct {
  zr_mtok_kind kind;
  int op;           /* CONST: ZR_MC_*; FUNC: ZR_MF_*; REL: ZR_MR_* */
  int ws;           /* whitespace (or a spacing command) right before this token */
  int glued;        /* COMMA written as "{,}" or ",\!": a digit-group separator */
  size_t pos;       /* byte offset in the input */
  /* NUM: digits in the pool: integer part, fractional part, repeating part; exponent */
  int ioff, ilen, foff, flen, roff, rlen;
  int has_point;
  long exp10;
  /* SYM / TEXT / UNIT: NUL-terminated name in the pool */
  int name;
} zr_mtok;

typedef struct {
  zr_mtok *t;
  int n, cap;
  char *pool;
  size_t pool_len, pool_cap;
} zr_mlex;

/* Tokenizes text[0..len) (len already checked against the limits); max_tokens bounds the
 * array. Returns 0, -EINVAL (a character or command it does not know; message says which),
 * -E2BIG or -ENOMEM. The token array always ends with ZT_END. */
int zr_mlex_run(zr_mlex *lx, const char *text, size_t len, int max_tokens);
void zr_mlex_release(zr_mlex *lx);

/* Recognisers shared with the rewards / normaliser: 1 if word (lower-case) is a unit word. */
int zr_mlex_is_unit(const char *word, size_t len);

#endif
