#include "common/keys.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"

const char *const zr_job_fields[ZR_JOB_FIELD_COUNT] = {
    ZR_JOB_STATE,      ZR_JOB_STEP,          ZR_JOB_POLICY_VERSION,   ZR_JOB_EPOCH,
    ZR_JOB_CURSOR,     ZR_JOB_ENDPOINT_WORK, ZR_JOB_ENDPOINT_WEIGHTS, ZR_JOB_ENDPOINT_CHUNKS,
    ZR_JOB_STARTED_AT, ZR_JOB_UPDATED_AT,
};

const char *const zr_queue_fields[ZR_QUEUE_FIELD_COUNT] = {
    ZR_QUEUE_TASKS_PENDING,    ZR_QUEUE_TASKS_LEASED,  ZR_QUEUE_ROLLOUTS_WAITING,
    ZR_QUEUE_ROLLOUTS_SCORING, ZR_QUEUE_GROUPS_READY,  ZR_QUEUE_RETRIES,
    ZR_QUEUE_EXPIRED_LEASES,   ZR_QUEUE_DROPPED_STALE, ZR_QUEUE_DROPPED_BAD,
};

const char *const zr_worker_fields[ZR_WORKER_FIELD_COUNT] = {
    ZR_WORKER_HOST,       ZR_WORKER_PID,        ZR_WORKER_STATE,      ZR_WORKER_POLICY_VERSION,
    ZR_WORKER_STARTED_AT, ZR_WORKER_UPDATED_AT, ZR_WORKER_THROUGHPUT,
};

static const char *const job_state_names[ZR_JOB_STATE_COUNT] = {
    ZR_JOB_STATE_STARTING, ZR_JOB_STATE_RUNNING, ZR_JOB_STATE_DRAINING,
    ZR_JOB_STATE_DONE,     ZR_JOB_STATE_FAILED,
};

/* indexed by zr_role */
static const char *const role_names[] = {NULL, ZR_ROLE_NAME_ACTOR, ZR_ROLE_NAME_REWARD,
                                         ZR_ROLE_NAME_LEARNER};
#define ROLE_SLOTS ((int)(sizeof role_names / sizeof role_names[0]))

/* ---- validation ------------------------------------------------------------------------ */

/* Describes why byte c may not appear in a key component, or NULL if it may. */
static const char *bad_char(unsigned char c, int colon_ok) {
  if (c == ' ' || (c >= '\t' && c <= '\r')) return "whitespace";
  if (c < 0x20 || c == 0x7f) return "a control character";
  if (c == ':' && !colon_ok) return "':'";
  if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') return "a glob character";
  return NULL;
}

/* Shared by prefix and component checks; `what` names the value in the message. */
static int check_value(const char *what, const char *value, size_t max, int colon_ok) {
  if (!value) return zr_seterr(-EINVAL, "redis key: %s is missing", what);
  size_t n = strlen(value);
  if (n == 0) return zr_seterr(-EINVAL, "redis key: %s is empty", what);
  if (n > max)
    return zr_seterr(-EINVAL, "redis key: %s is %zu bytes, longer than the limit of %zu", what, n,
                     max);
  for (size_t i = 0; i < n; i++) {
    const char *why = bad_char((unsigned char)value[i], colon_ok);
    if (why) {
      /* the value may hold the bad byte itself: print it escaped */
      return zr_seterr(-EINVAL, "redis key: %s '%.*s...' contains %s (byte 0x%02x at offset %zu)",
                       what, (int)i, value, why, (unsigned char)value[i], i);
    }
  }
  if (colon_ok && (value[0] == ':' || value[n - 1] == ':'))
    return zr_seterr(-EINVAL, "redis key: %s '%s' starts or ends with ':'", what, value);
  return 0;
}

int zr_key_check_prefix(const char *prefix) {
  return check_value("prefix", prefix, ZR_KEY_PREFIX_MAX, 1);
}

int zr_key_check_component(const char *what, const char *value) {
  return check_value(what, value, ZR_KEY_COMPONENT_MAX, 0);
}

/* ---- builders --------------------------------------------------------------------------- */

static int format_key(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int format_key(char *out, size_t cap, const char *fmt, ...) {
  ZR_ASSERT(out != NULL || cap == 0);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, cap, fmt, ap);
  va_end(ap);
  if (n < 0) return zr_seterr(-EINVAL, "redis key: cannot format key");
  if ((size_t)n >= cap) {
    if (cap > 0) out[0] = '\0';
    return zr_seterr(-ENOSPC, "redis key: buffer of %zu bytes is too small for a %d-byte key", cap,
                     n);
  }
  return 0;
}

/* Clears the output on a validation error so that a caller ignoring the code gets "". */
static int fail(char *out, size_t cap, int rc) {
  if (out && cap > 0) out[0] = '\0';
  return rc;
}

int zr_key_jobs(char *out, size_t cap, const char *prefix) {
  int rc = zr_key_check_prefix(prefix);
  if (rc < 0) return fail(out, cap, rc);
  return format_key(out, cap, "%s:jobs", prefix);
}

/* PREFIX:job:JOB plus an optional ":suffix" */
static int job_key(char *out, size_t cap, const char *prefix, const char *job, const char *suffix) {
  int rc = zr_key_check_prefix(prefix);
  if (rc == 0) rc = zr_key_check_component("job", job);
  if (rc < 0) return fail(out, cap, rc);
  return format_key(out, cap, "%s:job:%s%s%s", prefix, job, suffix ? ":" : "",
                    suffix ? suffix : "");
}

int zr_key_job(char *out, size_t cap, const char *prefix, const char *job) {
  return job_key(out, cap, prefix, job, NULL);
}

int zr_key_job_queue(char *out, size_t cap, const char *prefix, const char *job) {
  return job_key(out, cap, prefix, job, "queue");
}

int zr_key_job_metrics(char *out, size_t cap, const char *prefix, const char *job) {
  return job_key(out, cap, prefix, job, "metrics");
}

int zr_key_job_events(char *out, size_t cap, const char *prefix, const char *job) {
  return job_key(out, cap, prefix, job, "events");
}

int zr_key_job_dist(char *out, size_t cap, const char *prefix, const char *job) {
  return job_key(out, cap, prefix, job, "dist");
}

int zr_key_job_relays(char *out, size_t cap, const char *prefix, const char *job) {
  return job_key(out, cap, prefix, job, "relays");
}

int zr_key_worker(char *out, size_t cap, const char *prefix, const char *job, const char *role,
                  const char *id) {
  int rc = zr_key_check_prefix(prefix);
  if (rc == 0) rc = zr_key_check_component("job", job);
  if (rc == 0) rc = zr_key_check_component("role", role);
  if (rc == 0) rc = zr_role_parse(role) < 0 ? -EINVAL : 0;
  if (rc == 0) rc = zr_key_check_component("worker id", id);
  if (rc < 0) return fail(out, cap, rc);
  return format_key(out, cap, "%s:worker:%s:%s:%s", prefix, job, role, id);
}

/* ---- enumerations ---------------------------------------------------------------------- */

const char *zr_job_state_name(zr_job_state state) {
  return (int)state >= 0 && state < ZR_JOB_STATE_COUNT ? job_state_names[state] : "?";
}

int zr_job_state_parse(const char *name) {
  for (int i = 0; name && i < ZR_JOB_STATE_COUNT; i++)
    if (strcmp(name, job_state_names[i]) == 0) return i;
  return zr_seterr(-EINVAL,
                   "job state '%s' is not one of starting, running, draining, done, failed",
                   name ? name : "(null)");
}

const char *zr_role_name(zr_role role) {
  return (int)role > 0 && (int)role < ROLE_SLOTS ? role_names[role] : "?";
}

int zr_role_parse(const char *name) {
  for (int i = 1; name && i < ROLE_SLOTS; i++)
    if (strcmp(name, role_names[i]) == 0) return i;
  return zr_seterr(-EINVAL, "role '%s' is not one of actor, reward, learner",
                   name ? name : "(null)");
}
