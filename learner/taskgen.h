/* taskgen.h: built-in task generators (deterministic in their seed) and the reasoning traces
 * used for cold-start SFT. The generated tasks are ordinary zr_task values (tasks.h) appended
 * to a zr_taskset the caller owns.
 *
 * Kinds:
 *   arith      multi-digit addition, kind "exact". difficulty D (default 5, 1..30) = both
 *              operands have D digits with a nonzero leading digit. Prompt "A+B=" (meant for the
 *              raw template with a byte-level tokenizer); answer = the sum in decimal.
 *   countdown  TinyZero's game, kind "countdown". difficulty D (default 0 = 3 or 4 at random,
 *              else 2..6) numbers in [1, 99] and a target in [1, 999] reachable by + - * / using
 *              every number exactly once (intermediate results positive integers; the reward
 *              checker, zr_countdown_check, requires each number used once). Prompt: "Using the
 *              numbers [a, b, c], create an equation that equals T. You can use basic arithmetic
 *              operations (+, -, *, /) and each number can only be used once."
 *
 * Splits: a problem (arith: the unordered pair {A, B}; countdown: the sorted numbers and the
 * target) belongs to the held-out pool when a keyed hash of it, independent of any seed, is
 * 0 mod 16 (zr_taskgen_is_heldout). Train draws only problems outside the pool, held-out only
 * problems inside it, each from its own seed stream, so train and held-out sets are disjoint
 * for every pair of seeds. Within one call, problems are not repeated unless the problem space
 * is nearly exhausted (small difficulties): up to 64 draws are tried for a fresh one.
 * Ids: "KIND-DIFFICULTY-SPLIT-SEED-I" (e.g. "arith-5-train-7-0"); countdown with difficulty 0
 * uses "countdown-0-...".
 *
 * Traces (zr_taskgen_trace), R1 format "<think>...</think><answer>...</answer>":
 *   arith: one "a+b+c=s" step per digit, least significant first, c the carry in and s the
 *          full digit sum (so "8+5+0=13" shows the carry), comma separated; a final carry is
 *          the leading digit of the answer: "64607+11332=" gives
 *          "<think>7+2+0=9,0+3+0=3,6+3+0=9,4+1+0=5,6+1+0=7</think><answer>75939</answer>".
 *   countdown: a depth-first search in a fixed order; up to two dead ends are shown before the
 *          solution path, steps as "a+b=c" joined by ",", paths ended by " no;" / " yes":
 *          "<think>44+19=63,63+35=98 no;44+19=63,63-35=28 yes</think><answer>(44+19)-35</answer>".
 */
#ifndef ZR_TASKGEN_H
#define ZR_TASKGEN_H

#include <stddef.h>
#include <stdint.h>

#include "learner/tasks.h"

typedef enum { ZR_SPLIT_TRAIN = 0, ZR_SPLIT_HELDOUT = 1 } zr_split;

/* "train", "heldout" (also "test", "eval"). */
int zr_split_parse(const char *s, zr_split *out);
const char *zr_split_name(zr_split s);

/* Appends n tasks of kind ("arith", "countdown") to out. difficulty 0 = the kind's default.
 * -EINVAL (message says why) for an unknown kind or a difficulty out of range. */
int zr_taskgen(const char *kind, size_t n, uint64_t seed, int difficulty, zr_split split, zr_taskset *out);

/* The SFT completion for a generated (or any well-formed) exact "A+B=" or countdown task;
 * malloc'd into *completion. -EINVAL for other tasks, or a countdown task with no solution. */
int zr_taskgen_trace(const zr_task *t, char **completion);

/* 1 if the problem is in the held-out pool. arith: a, b decimal digit strings; countdown: see
 * zr_taskgen_countdown_heldout. */
int zr_taskgen_arith_heldout(const char *a, const char *b);
int zr_taskgen_countdown_heldout(const long *numbers, int n, long target);
/* For a generated task of either kind. */
int zr_taskgen_is_heldout(const zr_task *t);

/* Solves countdown: 1 with a fully parenthesised expression (outer parentheses dropped) in
 * expr[0..cap) using every number once, 0 when none exists, negative on error. */
int zr_countdown_solve(const long *numbers, int n, long target, char *expr, size_t cap);

#endif
