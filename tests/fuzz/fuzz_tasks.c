/* libFuzzer target for learner/tasks.h's JSONL parsers: arbitrary bytes as a task file and as
 * an SFT file.
 *
 * Beyond "no crash, no leak, no sanitizer report": a refused file leaves *out NULL and a message
 * that names the file ("fuzz.jsonl:LINE: ..."); an accepted task set has unique ids, every task
 * passes zr_task_validate, serialises with zr_task_to_json, re-parses to the same line and
 * renders in every template; an accepted SFT set has non-NULL prompt and completion strings. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/error.h"
#include "learner/tasks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_task(const zr_taskset *s, size_t i) {
  const zr_task *t = zr_taskset_get(s, i);
  if (zr_task_validate(t, "fuzz") != 0) abort();
  if (zr_taskset_find(s, t->id) != (long)i) abort();
  char *line = NULL;
  if (zr_task_to_json(t, &line) != 0) abort();
  json_t *o = json_loads(line, 0, NULL);
  if (!o) abort();
  zr_task back;
  if (zr_task_from_json(o, "roundtrip", &back) != 0) abort();
  char *line2 = NULL;
  if (zr_task_to_json(&back, &line2) != 0 || strcmp(line, line2) != 0) abort();
  for (int k = 0; k < 3; k++) {
    char *r = NULL;
    if (zr_template_render((zr_template)k, t, &r) != 0 || !r) abort();
    free(r);
  }
  zr_task_release(&back);
  json_decref(o);
  free(line);
  free(line2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  zr_taskset *s = (zr_taskset *)&s;
  zr_clearerr();
  if (zr_taskset_parse(&s, (const char *)data, size, "fuzz.jsonl") != 0) {
    if (s != NULL || !strstr(zr_errmsg(), "fuzz.jsonl:")) abort();
  } else {
    for (size_t i = 0; i < zr_taskset_count(s); i++) check_task(s, i);
    zr_taskset_free(&s);
  }
  zr_sftset *f = (zr_sftset *)&f;
  if (zr_sftset_parse(&f, (const char *)data, size, "fuzz.jsonl") != 0) {
    if (f != NULL || !strstr(zr_errmsg(), "fuzz.jsonl:")) abort();
  } else {
    for (size_t i = 0; i < zr_sftset_count(f); i++)
      if (!zr_sftset_get(f, i)->prompt || !zr_sftset_get(f, i)->completion) abort();
    zr_sftset_free(&f);
  }
  return 0;
}
