/* rewardjson.h: the JSON face of the reward library, used by `zerorl verify` and tests.
 *
 * A task is one DESIGN.md §6 task object ({"id", "kind": math|exact|countdown|code, "answer",
 * "numbers", "target", ...}); a verify request is one JSONL line {"task": {...}, "completion":
 * "...", "completion_tokens": N (optional)}; the response is one JSONL line {"id" (when the task
 * has one), "reward", "correct", "status", "components": {NAME: {"value", "weight", "status"}},
 * "detail"}. A malformed line gets a response with status "error" and a detail naming the
 * problem, so one bad line never stops a stream.
 * Ownership: returned strings are malloc'd and owned by the caller (free). */
#ifndef ZR_REWARDJSON_H
#define ZR_REWARDJSON_H

#include <jansson.h>
#include <stddef.h>

#include "reward/rewards.h"

#define ZR_TASK_MAX_NUMBERS 64

/* Reads task into out; string pointers point into task (valid while it lives), numbers are
 * copied into numbers[ZR_TASK_MAX_NUMBERS]. 0, or -EINVAL with a message naming the key. */
int zr_reward_task_from_json(const json_t *task, zr_reward_task *out, long *numbers);

/* The response object for a result (id may be NULL). Caller owns the reference. */
json_t *zr_reward_result_to_json(const zr_reward_result *r, const char *id);

/* Scores one request line; returns the response line (no newline), or NULL when out of memory.
 * *ok (may be NULL) is set to 0 when the line itself was malformed. */
char *zr_reward_score_line(const zr_reward_scorer *s, const char *line, size_t len, int *ok);

#endif
