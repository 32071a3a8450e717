/* tasks.h: the learner's training data. Task files (DESIGN.md section 6), prompt templates,
 * cold-start SFT files and the order in which a run walks a dataset (resumable from a
 * checkpoint).
 *
 * Task JSONL, one object a line (blank lines skipped):
 *   id        string, unique in the file (required)
 *   prompt    string, or messages [{"role": "system"|"user"|"assistant", "content"}] (one of
 *             the two is required; with both, prompt wins for r1zero/raw and messages for chatml)
 *   kind      "math" | "exact" | "countdown" | "code" (required)
 *   answer    string or number (math, exact: required)
 *   tests     object (code: required; kept as JSON text), language (code; default "python3")
 *   numbers   array of 1..16 integers in [0, 1e9], target integer (countdown: required)
 *   extractor string (optional: a reward/extract.h extractor name, checked when loaded)
 * Strings must be non-empty (content may be empty) and hold no NUL byte.
 * Other keys (subject, level, ...) are ignored. Errors are -EINVAL with zr_errmsg()
 * "PATH:LINE: FIELD: reason" (-ENOENT/-EIO for the file, -ENOMEM); the first bad line stops
 * the load. Limits (ZR_TASK_MAX_*) bound the line and each field.
 *
 * Ownership: a zr_taskset owns its tasks and every string in them; zr_taskset_get returns a
 * pointer valid until the set is freed (or grows with zr_taskset_add). zr_taskset_add copies.
 * zr_template_render and zr_task_to_json return malloc'd text the caller frees.
 * A zr_dataset holds no memory: the permutation of epoch e is a pure function of (seed, e)
 * (a keyed Feistel permutation with cycle walking), so a checkpoint that stores the zr_cursor
 * restores the exact sequence. */
#ifndef ZR_TASKS_H
#define ZR_TASKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reward/rewards.h" /* zr_task_kind, zr_reward_task */

#define ZR_TASK_MAX_LINE (64u << 20)    /* bytes of one JSONL line (code tasks carry tests) */
#define ZR_TASK_MAX_ID 512u             /* bytes */
#define ZR_TASK_MAX_PROMPT (1u << 20)   /* bytes of prompt (and of each message) */
#define ZR_TASK_MAX_ANSWER (64u << 10)  /* bytes */
#define ZR_TASK_MAX_TESTS (64u << 20)   /* bytes of the tests object as JSON text */
#define ZR_TASK_MAX_MESSAGES 64
#define ZR_TASK_MAX_NUMBERS 16
#define ZR_TASK_MAX_NUMBER 1000000000L /* |numbers[i]|, |target| */

typedef struct {
  char *role;    /* "system", "user", "assistant" */
  char *content;
} zr_message;

typedef struct {
  char *id;
  zr_task_kind kind;     /* ZR_TASK_MATH, _EXACT, _COUNTDOWN, _CODE (reward/rewards.h) */
  char *prompt;          /* NULL when only messages were given */
  zr_message *messages;  /* NULL / 0 when only prompt was given */
  size_t n_messages;
  char *answer;          /* math, exact; else NULL */
  char *tests_json;      /* code: the raw tests object as compact JSON; else NULL */
  char *language;        /* code: e.g. "python3"; else NULL */
  long *numbers;         /* countdown; else NULL */
  int n_numbers;
  long target;
  char *extractor;       /* optional extractor name; NULL = the scorer's default */
} zr_task;

/* "math", "exact", "countdown", "code"; zr_task_kind_parse returns -EINVAL for anything else. */
const char *zr_task_kind_name(zr_task_kind k);
int zr_task_kind_parse(const char *s, zr_task_kind *out);

/* The text the r1zero/raw templates use: prompt, else the last user message's content. */
const char *zr_task_prompt_text(const zr_task *t);

/* Fills a reward/rewards.h task view that borrows t's strings and numbers (valid while t is). */
void zr_task_reward_view(const zr_task *t, zr_reward_task *out);

/* Checks one task (required fields for its kind, limits); what names it in the message. */
int zr_task_validate(const zr_task *t, const char *what);

/* Parses one task object (what = "PATH:LINE" for messages) into *out (caller owns it:
 * zr_task_release). Same rules as zr_taskset_load. */
int zr_task_from_json(const json_t *obj, const char *what, zr_task *out);

/* One compact JSONL line (no newline) in DESIGN section 6 key order: id, prompt|messages,
 * kind, answer | language, tests | numbers, target, extractor. */
int zr_task_to_json(const zr_task *t, char **line);

/* Frees the strings of a task filled by zr_task_from_json / zr_task_copy; zeroes it. */
void zr_task_release(zr_task *t);
int zr_task_copy(zr_task *dst, const zr_task *src);

/* ---- task sets ------------------------------------------------------------------------ */

typedef struct zr_taskset zr_taskset;

int zr_taskset_new(zr_taskset **out);                    /* empty set, for generators */
int zr_taskset_load(zr_taskset **out, const char *path); /* "-" reads stdin */
/* Parses JSONL text already in memory (what names it in errors, like a path). */
int zr_taskset_parse(zr_taskset **out, const char *buf, size_t len, const char *what);
size_t zr_taskset_count(const zr_taskset *s);
const zr_task *zr_taskset_get(const zr_taskset *s, size_t i); /* i < count */
/* Index of the task with this id, or -1. */
long zr_taskset_find(const zr_taskset *s, const char *id);
/* Validates and copies t in; -EEXIST (message names the id) if the id is already there. */
int zr_taskset_add(zr_taskset *s, const zr_task *t);
void zr_taskset_free(zr_taskset **s);

/* ---- prompt templates ----------------------------------------------------------------- */

typedef enum { ZR_TEMPLATE_R1ZERO, ZR_TEMPLATE_CHATML, ZR_TEMPLATE_RAW } zr_template;

/* "r1zero" (also "r1"), "chatml", "raw". */
int zr_template_parse(const char *s, zr_template *out);
const char *zr_template_name(zr_template t);

/* The prompt the model sees, malloc'd into *out.
 *   r1zero: "A conversation between User and Assistant. The user asks a question, and the
 *            Assistant solves it. The assistant first thinks about the reasoning process in the
 *            mind and then provides the user with the answer. The reasoning process and answer
 *            are enclosed within <think> </think> and <answer> </answer> tags, respectively,
 *            i.e., <think> reasoning process here </think> <answer> answer here </answer>.
 *            User: PROMPT\nAssistant:"
 *   chatml:  "<|im_start|>ROLE\nCONTENT<|im_end|>\n" for each message (or one user message
 *            holding the prompt), then "<|im_start|>assistant\n"
 *   raw:     the prompt text as is. */
int zr_template_render(zr_template t, const zr_task *task, char **out);

/* chatml rendering of a message list, ending with the open assistant turn when add_open. */
int zr_chatml_render(const zr_message *m, size_t n, bool add_open, char **out);

/* ---- cold-start SFT data -------------------------------------------------------------- */

/* JSONL lines {"prompt", "completion"} (used as is), or {"messages": [...]} whose last message
 * is the assistant's: prompt = chatml of the earlier messages with the open assistant turn,
 * completion = the last content followed by "<|im_end|>". Errors "PATH:LINE: FIELD: reason". */
typedef struct {
  char *prompt;
  char *completion;
} zr_sft_example;

typedef struct zr_sftset zr_sftset;

int zr_sftset_new(zr_sftset **out);
int zr_sftset_load(zr_sftset **out, const char *path);
int zr_sftset_parse(zr_sftset **out, const char *buf, size_t len, const char *what);
size_t zr_sftset_count(const zr_sftset *s);
const zr_sft_example *zr_sftset_get(const zr_sftset *s, size_t i); /* needs i < count */
int zr_sftset_add(zr_sftset *s, const char *prompt, const char *completion); /* copies */
void zr_sftset_free(zr_sftset **s);

/* ---- dataset order -------------------------------------------------------------------- */

/* Where a run is: the next item is position pos of epoch epoch's order. */
typedef struct {
  uint64_t seed;
  uint32_t epoch;
  uint64_t pos;
} zr_cursor;

typedef struct {
  size_t n;
  uint64_t seed;
  uint32_t max_epochs; /* 0 = unlimited */
  bool shuffle;
  uint32_t epoch;
  uint64_t pos;
} zr_dataset;

/* -EINVAL when n == 0. Starts at epoch 0, pos 0. Nothing to release. */
int zr_dataset_init(zr_dataset *d, size_t n, uint64_t seed, uint32_t max_epochs, bool shuffle);
/* The next index (in [0, n)) and its epoch: 0, or 1 when all max_epochs are done (then
 * the outputs are untouched and later calls keep returning 1). */
int zr_dataset_next(zr_dataset *d, size_t *index, uint32_t *epoch);
/* Position pos of epoch's order, without moving (pos < n). */
size_t zr_dataset_index(const zr_dataset *d, uint32_t epoch, uint64_t pos);
void zr_dataset_get_cursor(const zr_dataset *d, zr_cursor *c);
/* -EINVAL (message says why) when pos > n or epoch > max_epochs (max_epochs > 0). */
int zr_dataset_set_cursor(zr_dataset *d, const zr_cursor *c);

/* {"seed": S, "epoch": E, "pos": P} (a seed above INT64_MAX is written as a decimal string;
 * both forms are read). New reference; NULL only when out of memory. */
json_t *zr_cursor_to_json(const zr_cursor *c);
int zr_cursor_from_json(const json_t *j, zr_cursor *out);

#endif
