/* taskgen.c: the built-in arith and countdown generators, their held-out pools and SFT traces
 * (taskgen.h). */
#include "learner/taskgen.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "learner/tasks_internal.h"

#define HELDOUT_KEY 0x5a52686f6c646f75ull /* fixed: the pools do not depend on any seed */
#define HELDOUT_MOD 16
#define ARITH_MAX_DIGITS 30
#define CD_MIN 2
#define CD_MAX 6
#define CD_MAX_NUMBER 99
#define CD_MAX_TARGET 999
#define CD_GEN_PRODUCT 1000000L /* generator: products stay below this */
#define CD_SOLVE_PRODUCT 1000000000000L

int zr_split_parse(const char *s, zr_split *out) {
  if (s && strcmp(s, "train") == 0) *out = ZR_SPLIT_TRAIN;
  else if (s && (strcmp(s, "heldout") == 0 || strcmp(s, "test") == 0 || strcmp(s, "eval") == 0)) *out = ZR_SPLIT_HELDOUT;
  else return zr_seterr(-EINVAL, "unknown split '%s' (train, heldout)", s ? s : "(null)");
  return 0;
}

const char *zr_split_name(zr_split s) { return s == ZR_SPLIT_HELDOUT ? "heldout" : "train"; }

/* ---- random numbers: splitmix64 over a per-(kind, split, seed) stream ------------------- */

typedef struct {
  uint64_t s;
} rng;

static uint64_t rng_next(rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint32_t rng_below(rng *r, uint32_t n) { return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32); }

static rng rng_stream(const char *kind, zr_split split, uint64_t seed) {
  char tag[64];
  snprintf(tag, sizeof tag, "%s/%s", kind, zr_split_name(split));
  rng r = {zr_hash_bytes_(tag, strlen(tag), seed)};
  return r;
}

/* ---- held-out pools -------------------------------------------------------------------- */

static int digits_only(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return 0;
  return 1;
}

/* numeric comparison of decimal strings without leading zeros */
static int numcmp(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la != lb) return la < lb ? -1 : 1;
  return strcmp(a, b);
}

static uint64_t arith_key(const char *a, const char *b) {
  if (numcmp(a, b) > 0) {
    const char *t = a;
    a = b;
    b = t;
  }
  char buf[2 * 64 + 2];
  int n = snprintf(buf, sizeof buf, "%s+%s", a, b);
  if (n < 0 || (size_t)n >= sizeof buf) n = (int)sizeof buf - 1;
  return zr_hash_bytes_(buf, (size_t)n, HELDOUT_KEY);
}

int zr_taskgen_arith_heldout(const char *a, const char *b) { return arith_key(a, b) % HELDOUT_MOD == 0; }

static int cmp_long(const void *x, const void *y) {
  long a = *(const long *)x, b = *(const long *)y;
  return (a > b) - (a < b);
}

static uint64_t countdown_key(const long *numbers, int n, long target) {
  long s[ZR_TASK_MAX_NUMBERS];
  if (n > ZR_TASK_MAX_NUMBERS) n = ZR_TASK_MAX_NUMBERS;
  memcpy(s, numbers, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof *s, cmp_long);
  char buf[ZR_TASK_MAX_NUMBERS * 24 + 32];
  size_t k = 0;
  for (int i = 0; i < n; i++) k += (size_t)snprintf(buf + k, sizeof buf - k, "%ld,", s[i]);
  k += (size_t)snprintf(buf + k, sizeof buf - k, "=%ld", target);
  return zr_hash_bytes_(buf, k, HELDOUT_KEY);
}

int zr_taskgen_countdown_heldout(const long *numbers, int n, long target) {
  return countdown_key(numbers, n, target) % HELDOUT_MOD == 0;
}

/* "A+B=" with A, B digit strings of at most 64 digits: 1 and the operands, else 0. */
static int parse_arith(const zr_task *t, char *a, char *b) {
  const char *p = zr_task_prompt_text(t);
  const char *plus = strchr(p, '+');
  if (!plus) return 0;
  size_t la = (size_t)(plus - p);
  const char *eq = strchr(plus + 1, '=');
  if (!eq || eq[1] != '\0') return 0;
  size_t lb = (size_t)(eq - plus - 1);
  if (la > 64 || lb > 64 || !digits_only(p, la) || !digits_only(plus + 1, lb)) return 0;
  memcpy(a, p, la);
  a[la] = '\0';
  memcpy(b, plus + 1, lb);
  b[lb] = '\0';
  return 1;
}

int zr_taskgen_is_heldout(const zr_task *t) {
  char a[65], b[65];
  if (t->kind == ZR_TASK_COUNTDOWN) return zr_taskgen_countdown_heldout(t->numbers, t->n_numbers, t->target);
  if (t->kind == ZR_TASK_EXACT && parse_arith(t, a, b)) return zr_taskgen_arith_heldout(a, b);
  return 0;
}

/* ---- a set of 64-bit problem keys, to avoid repeats within one call --------------------- */

typedef struct {
  uint64_t *k;
  size_t cap, n;
} keyset;

static int keyset_init(keyset *s, size_t n) {
  s->cap = 64;
  while (s->cap < 2 * n + 2) s->cap *= 2;
  s->n = 0;
  s->k = calloc(s->cap, sizeof *s->k);
  return s->k ? 0 : zr_seterr(-ENOMEM, "taskgen: out of memory");
}

/* 1 if added, 0 if present. Key 0 is stored as 1 (a negligible merge). */
static int keyset_add(keyset *s, uint64_t key) {
  if (!key) key = 1;
  size_t i = (size_t)key & (s->cap - 1);
  while (s->k[i]) {
    if (s->k[i] == key) return 0;
    i = (i + 1) & (s->cap - 1);
  }
  s->k[i] = key;
  s->n++;
  return 1;
}

static int keyset_has(const keyset *s, uint64_t key) {
  if (!key) key = 1;
  size_t i = (size_t)key & (s->cap - 1);
  while (s->k[i]) {
    if (s->k[i] == key) return 1;
    i = (i + 1) & (s->cap - 1);
  }
  return 0;
}

/* ---- arith ----------------------------------------------------------------------------- */

static void arith_operand(rng *r, int digits, char *out) {
  out[0] = (char)('1' + rng_below(r, 9));
  for (int i = 1; i < digits; i++) out[i] = (char)('0' + rng_below(r, 10));
  out[digits] = '\0';
}

/* sum of decimal strings into out (room for max(len) + 2) */
static void decimal_sum(const char *a, const char *b, char *out) {
  size_t la = strlen(a), lb = strlen(b), n = la > lb ? la : lb;
  char tmp[130];
  int carry = 0;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    int da = i < la ? a[la - 1 - i] - '0' : 0, db = i < lb ? b[lb - 1 - i] - '0' : 0;
    int s = da + db + carry;
    tmp[k++] = (char)('0' + s % 10);
    carry = s / 10;
  }
  if (carry) tmp[k++] = '1';
  for (size_t i = 0; i < k; i++) out[i] = tmp[k - 1 - i];
  out[k] = '\0';
}

/* ---- countdown search ------------------------------------------------------------------ */

typedef struct {
  long v;
  char e[192];
  int leaf;
} cd_item;

typedef struct {
  long target;
  /* the trace: steps of the current path, failures and the solution */
  char path[512];
  size_t path_len;
  char dead[2][512];
  char dead_first[2][64];
  int n_dead;
  int want_trace;
  char expr[192];
  long long visits;
} cd_search;

static int combine(long a, long b, int op, long bound, long *out) {
  switch (op) {
    case 0:
      *out = a + b;
      return 1;
    case 1:
      if (a <= b) return 0;
      *out = a - b;
      return 1;
    case 2:
      if (b != 0 && a > bound / b) return 0;
      *out = a * b;
      return 1;
    case 3:
      if (b <= 0 || a % b != 0) return 0;
      *out = a / b;
      return 1;
  }
  return 0;
}

static const char op_chars[] = "+-*/";

static int cd_dfs(cd_search *S, cd_item *pool, int n) {
  if (++S->visits > 20000000) return -1;
  if (n == 1) {
    if (pool[0].v == S->target) {
      snprintf(S->expr, sizeof S->expr, "%s", pool[0].e);
      return 1;
    }
    if (S->want_trace && S->n_dead < 2) {
      const char *first_end = strchr(S->path, ',');
      size_t fl = first_end ? (size_t)(first_end - S->path) : S->path_len;
      char first[64];
      snprintf(first, sizeof first, "%.*s", (int)(fl < 63 ? fl : 63), S->path);
      if (S->n_dead == 0 || strcmp(first, S->dead_first[S->n_dead - 1]) != 0) {
        snprintf(S->dead[S->n_dead], sizeof S->dead[0], "%s", S->path);
        snprintf(S->dead_first[S->n_dead], sizeof S->dead_first[0], "%s", first);
        S->n_dead++;
      }
    }
    return 0;
  }
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      for (int op = 0; op < 4; op++) {
        /* the larger operand first for - and /, either order for + and * */
        cd_item *x = &pool[i], *y = &pool[j];
        if ((op == 1 || op == 3) && x->v < y->v) {
          cd_item *t = x;
          x = y;
          y = t;
        }
        long v;
        if (!combine(x->v, y->v, op, CD_SOLVE_PRODUCT, &v) || v <= 0) continue;
        cd_item next[CD_MAX]; /* the new value first, so traces read "63+35" after "44+19=63" */
        int m = 1;
        for (int k = 0; k < n; k++)
          if (k != i && k != j) next[m++] = pool[k];
        cd_item *c = &next[0];
        c->v = v;
        c->leaf = 0;
        int w = snprintf(c->e, sizeof c->e, "%s%s%s%c%s%s%s", x->leaf ? "" : "(", x->e, x->leaf ? "" : ")", op_chars[op],
                         y->leaf ? "" : "(", y->e, y->leaf ? "" : ")");
        if (w < 0 || (size_t)w >= sizeof c->e) continue;
        size_t saved = S->path_len;
        int sw = snprintf(S->path + saved, sizeof S->path - saved, "%s%ld%c%ld=%ld", saved ? "," : "", x->v, op_chars[op],
                          y->v, v);
        if (sw < 0 || (size_t)sw >= sizeof S->path - saved) {
          S->path[saved] = '\0';
          continue;
        }
        S->path_len = saved + (size_t)sw;
        int rc = cd_dfs(S, next, m);
        if (rc) return rc;
        S->path_len = saved;
        S->path[saved] = '\0';
      }
  return 0;
}

static int cd_run(cd_search *S, const long *numbers, int n, long target, int want_trace) {
  if (n < 1 || n > CD_MAX) return zr_seterr(-EINVAL, "countdown: %d numbers (the solver takes 1..%d)", n, CD_MAX);
  memset(S, 0, sizeof *S);
  S->target = target;
  S->want_trace = want_trace;
  cd_item pool[CD_MAX];
  for (int i = 0; i < n; i++) {
    if (numbers[i] <= 0) return 0; /* the search keeps values positive */
    pool[i].v = numbers[i];
    pool[i].leaf = 1;
    snprintf(pool[i].e, sizeof pool[i].e, "%ld", numbers[i]);
  }
  int rc = cd_dfs(S, pool, n);
  if (rc < 0) return zr_seterr(-E2BIG, "countdown: search too large");
  return rc;
}

int zr_countdown_solve(const long *numbers, int n, long target, char *expr, size_t cap) {
  cd_search *S = malloc(sizeof *S);
  if (!S) return zr_seterr(-ENOMEM, "countdown: out of memory");
  int rc = cd_run(S, numbers, n, target, 0);
  if (rc == 1) {
    if (strlen(S->expr) >= cap) rc = zr_seterr(-ENOSPC, "countdown: expression longer than %zu bytes", cap);
    else memcpy(expr, S->expr, strlen(S->expr) + 1);
  }
  free(S);
  return rc;
}

/* One random construction with every number: 1 and *target, or 0 (retry). */
static int countdown_construct(rng *r, const long *numbers, int n, long *target) {
  long pool[CD_MAX];
  memcpy(pool, numbers, (size_t)n * sizeof *pool);
  while (n > 1) {
    int i = (int)rng_below(r, (uint32_t)n), j = (int)rng_below(r, (uint32_t)n - 1);
    if (j >= i) j++;
    long a = pool[i] > pool[j] ? pool[i] : pool[j], b = pool[i] > pool[j] ? pool[j] : pool[i];
    long v = 0;
    int ok = 0;
    for (int tries = 0; tries < 8 && !ok; tries++) ok = combine(a, b, (int)rng_below(r, 4), CD_GEN_PRODUCT, &v) && v > 0;
    if (!ok) ok = combine(a, b, 0, CD_GEN_PRODUCT, &v);
    int lo = i < j ? i : j, hi = i < j ? j : i;
    pool[lo] = v;
    pool[hi] = pool[n - 1];
    n--;
  }
  *target = pool[0];
  return *target >= 1 && *target <= CD_MAX_TARGET;
}

static int render_countdown_prompt(const long *numbers, int n, long target, char *out, size_t cap) {
  size_t k = (size_t)snprintf(out, cap, "Using the numbers [");
  for (int i = 0; i < n; i++) k += (size_t)snprintf(out + k, cap - k, "%s%ld", i ? ", " : "", numbers[i]);
  snprintf(out + k, cap - k,
           "], create an equation that equals %ld. You can use basic arithmetic operations (+, -, *, /) and each "
           "number can only be used once.",
           target);
  return 0;
}

/* ---- the generator --------------------------------------------------------------------- */

int zr_taskgen(const char *kind, size_t n, uint64_t seed, int difficulty, zr_split split, zr_taskset *out) {
  int is_arith;
  if (kind && strcmp(kind, "arith") == 0) is_arith = 1;
  else if (kind && strcmp(kind, "countdown") == 0) is_arith = 0;
  else return zr_seterr(-EINVAL, "taskgen: unknown kind '%s' (arith, countdown)", kind ? kind : "(null)");
  if (is_arith && difficulty == 0) difficulty = 5;
  if (is_arith && (difficulty < 1 || difficulty > ARITH_MAX_DIGITS))
    return zr_seterr(-EINVAL, "taskgen: arith difficulty %d out of range (1..%d digits)", difficulty, ARITH_MAX_DIGITS);
  if (!is_arith && difficulty != 0 && (difficulty < CD_MIN || difficulty > CD_MAX))
    return zr_seterr(-EINVAL, "taskgen: countdown difficulty %d out of range (0 = 3 or 4, else %d..%d numbers)", difficulty,
                     CD_MIN, CD_MAX);
  if (split != ZR_SPLIT_TRAIN && split != ZR_SPLIT_HELDOUT) return zr_seterr(-EINVAL, "taskgen: bad split %d", (int)split);
  keyset seen;
  int rc = keyset_init(&seen, n);
  if (rc) return rc;
  rng r = rng_stream(kind, split, seed);
  const int want_heldout = split == ZR_SPLIT_HELDOUT;
  for (size_t i = 0; i < n && rc == 0; i++) {
    char a[ARITH_MAX_DIGITS + 1], b[ARITH_MAX_DIGITS + 1];
    long nums[CD_MAX], target = 0;
    int nn = 0;
    uint64_t key = 0;
    int found = 0;
    for (int attempt = 0; attempt < 64 && rc == 0; attempt++) {
      int in_split = 0;
      for (long draws = 0; draws < 1000000 && !in_split; draws++) {
        if (is_arith) {
          arith_operand(&r, difficulty, a);
          arith_operand(&r, difficulty, b);
          key = arith_key(a, b);
        } else {
          nn = difficulty ? difficulty : 3 + (int)rng_below(&r, 2);
          for (int k = 0; k < nn; k++) nums[k] = 1 + (long)rng_below(&r, CD_MAX_NUMBER);
          if (!countdown_construct(&r, nums, nn, &target)) continue;
          key = countdown_key(nums, nn, target);
        }
        in_split = (key % HELDOUT_MOD == 0) == want_heldout;
      }
      if (!in_split)
        rc = zr_seterr(-EINVAL, "taskgen: no %s problems found for %s difficulty %d", zr_split_name(split), kind, difficulty);
      else if (!keyset_has(&seen, key) || attempt == 63)
        found = 1;
      if (found) break;
    }
    if (rc) break;
    keyset_add(&seen, key);
    char id[128], prompt[512], answer[ARITH_MAX_DIGITS + 2];
    snprintf(id, sizeof id, "%s-%d-%s-%" PRIu64 "-%zu", kind, difficulty, zr_split_name(split), seed, i);
    zr_task t;
    memset(&t, 0, sizeof t);
    t.id = id;
    t.prompt = prompt;
    if (is_arith) {
      t.kind = ZR_TASK_EXACT;
      snprintf(prompt, sizeof prompt, "%s+%s=", a, b);
      decimal_sum(a, b, answer);
      t.answer = answer;
      t.extractor = "answer";
    } else {
      t.kind = ZR_TASK_COUNTDOWN;
      render_countdown_prompt(nums, nn, target, prompt, sizeof prompt);
      t.numbers = nums;
      t.n_numbers = nn;
      t.target = target;
    }
    rc = zr_taskset_add(out, &t);
  }
  free(seen.k);
  return rc;
}

/* ---- traces ---------------------------------------------------------------------------- */

static int arith_trace(const char *a, const char *b, char **completion) {
  size_t la = strlen(a), lb = strlen(b), n = la > lb ? la : lb;
  size_t cap = 32 + n * 12 + 2 * (n + 2);
  char *out = malloc(cap);
  if (!out) return zr_seterr(-ENOMEM, "trace: out of memory");
  size_t k = (size_t)snprintf(out, cap, "<think>");
  int carry = 0;
  for (size_t i = 0; i < n; i++) {
    int da = i < la ? a[la - 1 - i] - '0' : 0, db = i < lb ? b[lb - 1 - i] - '0' : 0;
    int s = da + db + carry;
    k += (size_t)snprintf(out + k, cap - k, "%s%d+%d+%d=%d", i ? "," : "", da, db, carry, s);
    carry = s / 10;
  }
  char sum[132];
  decimal_sum(a, b, sum);
  snprintf(out + k, cap - k, "</think><answer>%s</answer>", sum);
  *completion = out;
  return 0;
}

int zr_taskgen_trace(const zr_task *t, char **completion) {
  *completion = NULL;
  char a[65], b[65];
  if (t->kind == ZR_TASK_EXACT && parse_arith(t, a, b)) return arith_trace(a, b, completion);
  if (t->kind != ZR_TASK_COUNTDOWN)
    return zr_seterr(-EINVAL, "trace: task '%s' is neither an \"A+B=\" exact task nor countdown", t->id ? t->id : "");
  cd_search *S = malloc(sizeof *S);
  if (!S) return zr_seterr(-ENOMEM, "trace: out of memory");
  int rc = cd_run(S, t->numbers, t->n_numbers, t->target, 1);
  if (rc == 0) rc = zr_seterr(-EINVAL, "trace: countdown task '%s' has no solution", t->id ? t->id : "");
  if (rc < 0) {
    free(S);
    return rc;
  }
  size_t cap = 3 * 520 + sizeof S->expr + 64;
  char *out = malloc(cap);
  if (!out) {
    free(S);
    return zr_seterr(-ENOMEM, "trace: out of memory");
  }
  size_t k = (size_t)snprintf(out, cap, "<think>");
  for (int i = 0; i < S->n_dead; i++) k += (size_t)snprintf(out + k, cap - k, "%s no;", S->dead[i]);
  k += (size_t)snprintf(out + k, cap - k, "%s yes</think><answer>%s</answer>", S->path, S->expr);
  free(S);
  *completion = out;
  return 0;
}
