/* importers.h: turn raw public datasets into zerorl task lines (DESIGN.md section 6).
 *
 * One converter per format, found by name in a table (zr_importer_find):
 *   gsm8k      {"question", "answer"}: kind math, answer = the text after the last "#### " with
 *              commas removed ("1,234" -> "1234").
 *   math       MATH / MATH-500 {"problem", "solution", "answer"?, "subject"|"type"?, "level"?,
 *              "unique_id"?}: kind math, answer = "answer" when present, else the last \boxed{}
 *              of "solution"; subject and level are kept as extra keys. Alias: math500.
 *   aime       {"id", "problem"|"question", "answer"}: kind math; the answer is kept as written
 *              ("025"), an integer answer becomes its digits. Alias: aime2024.
 *   humaneval  {"task_id", "prompt", "test", "entry_point"}: kind code, language python3, tests
 *              {"type": "assert", "code": prompt + "\n" + test, "entry_point"}. The prompt goes
 *              into the test code so that helpers the tests call (poly, encode_cyclic, ...) are
 *              the task's own, not the solution's (codetest.h); the harness calls check() with
 *              the entry point itself, so no "check(...)" line is appended (one at module level
 *              would run the prompt's stub before the harness swaps in the solution).
 *   mbpp       sanitized {"task_id", "prompt", "test_imports", "test_list"} or full {"task_id",
 *              "text", "test_setup_code", "test_list"}: kind code, language python3; the prompt is
 *              the task text followed by the asserts (as in the MBPP paper: the function name is
 *              only known from them); tests {"type": "assert", "code": imports + asserts,
 *              "entry_point": the function the first assert calls (preferring one the reference
 *              "code" defines, then one that is not a builtin)}.
 *   stdio      stdin/stdout contest problems: SandboxFusion's CodeContests sample {"id", "content",
 *              "labels" (JSON string or object: name, difficulty, source), "test" (JSON string or
 *              array of {"input": {"stdin"}, "output": {"stdout"}})} or the CodeContests schema
 *              {"name", "description", "public_tests", "private_tests", "generated_tests" (each
 *              {"input": [...], "output": [...]})}: kind code, tests {"type": "stdio", "cases"}
 *              from every test set present, language = a "language" string if the record has
 *              one, else python3. Alias: codecontests.
 * Ids: the dataset's own id ("HumanEval/0", "test/precalculus/807.json"); one that is only
 * digits (AIME's "60", MBPP's 11) gets the format name in front ("aime-60", "mbpp-11"); without
 * an id, "FORMAT-N" with N the record's line number.
 * Output keys come in a fixed order: id, prompt, kind, answer | language, tests, then the extras.
 * Errors are -EINVAL with zr_errmsg() naming the field ("field 'answer': no '#### ' line");
 * zr_import_file prefixes the file and line. */
#ifndef ZR_IMPORTERS_H
#define ZR_IMPORTERS_H

#include <jansson.h>
#include <stdio.h>

typedef struct {
  const char *name;    /* "gsm8k" */
  const char *alias;   /* another accepted name, or NULL */
  const char *summary; /* one line for --help */
  /* Converts one parsed record; n is its 1-based line (or record) number, for ids. */
  int (*convert)(const json_t *rec, long n, json_t **task);
} zr_importer;

/* The table, in a fixed order; *n gets its length. */
const zr_importer *zr_importers(size_t *n);

/* Finds a format by name or alias (case-sensitive); NULL when unknown. */
const zr_importer *zr_importer_find(const char *name);

/* Converts one record into a new task object (caller owns it). 0, or -EINVAL with a message
 * naming the field (and only the field: the caller adds where it was). */
int zr_import_record(const zr_importer *imp, const json_t *rec, long n, json_t **task);

/* Converts a whole file (path "-" is stdin) and writes one compact task line per record to out.
 * The file is JSONL (blank lines skipped) or one JSON array of records (then "record N" stands
 * for the line). Stops at the first bad record: returns -EINVAL with "FILE:LINE: FORMAT: field
 * 'x': reason" (-ENOENT when the file cannot be opened, -EIO when out cannot be written).
 * *n_out (may be NULL) counts the tasks written, also on failure. */
int zr_import_file(const zr_importer *imp, const char *path, FILE *out, long *n_out);

#endif
