/* rewards.h: the reward components of a completion and their weighted sum.
 *
 * Components (each a value; the task's reward is sum(value * weight) over the enabled ones):
 *   accuracy  math: zr_verify_math (1 equal / 0); exact: trimmed string equality, optional case
 *             folding (ASCII, Latin-1, Greek, Cyrillic); countdown: the answer is an arithmetic
 *             expression over + - * / and parentheses that uses each given number exactly once and
 *             evaluates exactly (GMP rationals) to the target; code: not supported here yet
 *             (status ERROR). The answer is found with the configured extractor (extract.h).
 *   format    1 if the completion matches a PCRE2 pattern, by default the R1 template
 *             ^\s*<think>...</think>\s*<answer>...</answer>\s*$ (one of each, not nested), else 0.
 *   language  share of the target language's script among the letters of the reasoning span
 *             (<think>...</think>, or the text before <answer>, or everything): en/fr/de/es/...
 *             Latin, zh Han, ja Han+kana, ko Hangul, ru Cyrillic, el Greek, ar Arabic, he Hebrew,
 *             hi Devanagari, th Thai. LaTeX commands and one-letter ASCII words (variables) are not
 *             counted. No letters gives 0.
 *   length    DAPO's soft overlong punishment on the completion's token count L:
 *             0 if L <= L_max - L_cache, ((L_max - L_cache) - L) / L_cache inside the cache
 *             window, -1 beyond L_max (so its weight is normally 1).
 * Ownership: a zr_reward_scorer owns its compiled pattern and a copy of its configuration; it is
 * read-only while scoring, so one scorer may serve several threads. Results are caller-owned
 * values (reward.h). */
#ifndef ZR_REWARDS_H
#define ZR_REWARDS_H

#include <stddef.h>

#include "reward/extract.h"
#include "reward/mathequal.h"
#include "reward/reward.h"

/* ---- format --------------------------------------------------------------------------- */

#define ZR_FORMAT_R1_PATTERN \
  "^\\s*<think>(?:(?!</?think>).)*+</think>\\s*<answer>(?:(?!</?answer>).)*+</answer>\\s*$"

typedef struct zr_format zr_format;

/* Compiles pattern (PCRE2, dot matches newlines; NULL = ZR_FORMAT_R1_PATTERN). -EINVAL with the
 * PCRE2 message and offset on a bad pattern. */
int zr_format_new(const char *pattern, zr_format **out);
void zr_format_free(zr_format **f);
/* 1 if text matches, 0 if not, -E2BIG if the match ran out of its step budget. */
int zr_format_check(const zr_format *f, const char *text, size_t len);

/* ---- language ------------------------------------------------------------------------- */

/* Share (0..1) of letters of text[0..len) that belong to lang's script; *letters (may be NULL)
 * receives the number of letters counted. -EINVAL for an unknown language code. */
int zr_reward_language(const char *text, size_t len, const char *lang, double *share, long *letters);

/* The reasoning span of a completion (see above). */
void zr_reasoning_span(const char *text, size_t len, size_t *start, size_t *span_len);

/* ---- length --------------------------------------------------------------------------- */

double zr_reward_overlong(long n_tokens, long l_max, long l_cache);

/* ---- countdown and exact match -------------------------------------------------------- */

/* 1 correct, 0 wrong (detail says why), for the expression answer[0..len). */
int zr_countdown_check(const char *answer, size_t len, const long *numbers, int n_numbers, long target,
                       char *detail, size_t detail_cap);

/* 1 if a and b are equal after trimming white space (and case folding when asked). */
int zr_exact_match(const char *a, size_t alen, const char *b, size_t blen, int casefold);

/* ---- weighted sum --------------------------------------------------------------------- */

typedef enum { ZR_TASK_MATH = 0, ZR_TASK_EXACT, ZR_TASK_COUNTDOWN, ZR_TASK_CODE } zr_task_kind;

typedef struct {
  zr_task_kind kind;
  const char *answer;    /* math / exact: the gold answer */
  const long *numbers;   /* countdown */
  int n_numbers;
  long target;
} zr_reward_task;

typedef struct {
  zr_extractor extractor;  /* default auto */
  zr_math_limits limits;
  double w_accuracy;       /* default 1 */
  double w_format;         /* default 0 (off) */
  double w_language;       /* default 0 (off) */
  double w_length;         /* default 0 (off); 1 for DAPO */
  const char *format_pattern; /* NULL: R1 template; copied by zr_reward_scorer_new */
  char language[8];        /* default "en" */
  long l_max, l_cache;     /* default 20480, 4096 (DAPO) */
  int exact_casefold;      /* default 0 */
} zr_reward_config;

void zr_reward_config_default(zr_reward_config *cfg);

typedef struct zr_reward_scorer zr_reward_scorer;

int zr_reward_scorer_new(const zr_reward_config *cfg, zr_reward_scorer **out);
void zr_reward_scorer_free(zr_reward_scorer **s);
const zr_reward_config *zr_reward_scorer_config(const zr_reward_scorer *s);

/* Scores completion[0..len) for task. n_tokens < 0 means unknown (the length component is then
 * left out). Returns 0 with *out filled; statuses (no answer, timeout, unsupported task) are in
 * out->status, not the return code; -EINVAL only for NULL arguments. */
int zr_reward_score(const zr_reward_scorer *s, const zr_reward_task *task, const char *completion,
                    size_t len, long n_tokens, zr_reward_result *out);

/* "ok", "no_answer", "timeout", "error" */
const char *zr_verify_status_name(zr_verify_status st);

#endif
