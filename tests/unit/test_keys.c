/* Unit test for common/keys: every key builder, every field table, every rejection. */
#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "common/keys.h"
#include "tests/test.h"

#define P ZR_KEY_PREFIX_DEFAULT

static void test_builders(void) {
  char k[ZR_KEY_MAX];
  CHECK_INT(zr_key_jobs(k, sizeof k, P), 0);
  CHECK_STR(k, "zerorl:jobs");
  CHECK_INT(zr_key_job(k, sizeof k, P, "gsm8k-1"), 0);
  CHECK_STR(k, "zerorl:job:gsm8k-1");
  CHECK_INT(zr_key_job_queue(k, sizeof k, P, "gsm8k-1"), 0);
  CHECK_STR(k, "zerorl:job:gsm8k-1:queue");
  CHECK_INT(zr_key_job_metrics(k, sizeof k, P, "gsm8k-1"), 0);
  CHECK_STR(k, "zerorl:job:gsm8k-1:metrics");
  CHECK_INT(zr_key_job_events(k, sizeof k, P, "gsm8k-1"), 0);
  CHECK_STR(k, "zerorl:job:gsm8k-1:events");
  CHECK_INT(zr_key_worker(k, sizeof k, P, "gsm8k-1", "actor", "0123abcd"), 0);
  CHECK_STR(k, "zerorl:worker:gsm8k-1:actor:0123abcd");
  CHECK_INT(zr_key_worker(k, sizeof k, P, "j", "reward", "r1"), 0);
  CHECK_STR(k, "zerorl:worker:j:reward:r1");
  CHECK_INT(zr_key_worker(k, sizeof k, P, "j", "learner", "l"), 0);
  CHECK_STR(k, "zerorl:worker:j:learner:l");

  /* another prefix, with an inner ':' */
  CHECK_INT(zr_key_jobs(k, sizeof k, "staging:zerorl"), 0);
  CHECK_STR(k, "staging:zerorl:jobs");
  CHECK_INT(zr_key_job(k, sizeof k, "t", "x"), 0);
  CHECK_STR(k, "t:job:x");

  /* UTF-8 and punctuation other than the forbidden set are fine */
  CHECK_INT(zr_key_job(k, sizeof k, P, "math_v2.1-\xc3\xa9t\xc3\xa9{a}"), 0);
  CHECK_STR(k, "zerorl:job:math_v2.1-\xc3\xa9t\xc3\xa9{a}");
}

/* The longest possible components fit in ZR_KEY_MAX. */
static void test_limits(void) {
  char pre[ZR_KEY_PREFIX_MAX + 2], comp[ZR_KEY_COMPONENT_MAX + 2], k[ZR_KEY_MAX];
  memset(pre, 'p', ZR_KEY_PREFIX_MAX);
  pre[ZR_KEY_PREFIX_MAX] = '\0';
  memset(comp, 'c', ZR_KEY_COMPONENT_MAX);
  comp[ZR_KEY_COMPONENT_MAX] = '\0';
  CHECK_INT(zr_key_worker(k, sizeof k, pre, comp, "learner", comp), 0);
  CHECK_INT(strlen(k), ZR_KEY_PREFIX_MAX + 8 + ZR_KEY_COMPONENT_MAX + 9 + ZR_KEY_COMPONENT_MAX);
  CHECK_INT(zr_key_job_metrics(k, sizeof k, pre, comp), 0);
  CHECK_INT(zr_key_check_component("job", comp), 0);
  CHECK_INT(zr_key_check_prefix(pre), 0);

  /* one byte over */
  pre[ZR_KEY_PREFIX_MAX] = 'p';
  pre[ZR_KEY_PREFIX_MAX + 1] = '\0';
  comp[ZR_KEY_COMPONENT_MAX] = 'c';
  comp[ZR_KEY_COMPONENT_MAX + 1] = '\0';
  CHECK_INT(zr_key_jobs(k, sizeof k, pre), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "prefix is 65 bytes");
  CHECK_INT(zr_key_job(k, sizeof k, P, comp), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "job is 65 bytes");
  CHECK_INT(zr_key_worker(k, sizeof k, P, "j", "actor", comp), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "worker id is 65 bytes");
}

static void test_buffer_too_small(void) {
  char k[ZR_KEY_MAX];
  /* "zerorl:jobs" needs 12 bytes */
  CHECK_INT(zr_key_jobs(k, 12, P), 0);
  strcpy(k, "junk");
  CHECK_INT(zr_key_jobs(k, 11, P), -ENOSPC);
  CHECK_STR(k, "");
  CHECK_CONTAINS(zr_errmsg(), "too small");
  CHECK_INT(zr_key_jobs(NULL, 0, P), -ENOSPC);
  CHECK_INT(zr_key_job(k, 5, P, "j"), -ENOSPC);
  CHECK_INT(zr_key_job_queue(k, 18, P, "j"), -ENOSPC);
  CHECK_INT(zr_key_job_metrics(k, 10, P, "j"), -ENOSPC);
  CHECK_INT(zr_key_job_events(k, 10, P, "j"), -ENOSPC);
  CHECK_INT(zr_key_worker(k, 20, P, "j", "actor", "i"), -ENOSPC);
  CHECK_INT(zr_key_worker(k, sizeof "zerorl:worker:j:actor:i", P, "j", "actor", "i"), 0);
}

/* One bad value for a component: every builder that takes it rejects it, names it, and
 * leaves an empty key. */
struct bad {
  const char *value;
  const char *why; /* expected in the message */
};

static const struct bad bad_components[] = {
    {NULL, "is missing"},
    {"", "is empty"},
    {"a:b", "contains ':'"},
    {"a b", "contains whitespace"},
    {"a\tb", "contains whitespace"},
    {"a\nb", "contains whitespace"},
    {"a\x01"
     "b",
     "contains a control character"},
    {"a\x7f", "contains a control character"},
    {"a*", "contains a glob character"},
    {"a?", "contains a glob character"},
    {"[a", "contains a glob character"},
    {"a]", "contains a glob character"},
    {"a\\b", "contains a glob character"},
};
#define NBAD (sizeof bad_components / sizeof bad_components[0])

static void test_bad_job(void) {
  char k[ZR_KEY_MAX];
  typedef int (*job_fn)(char *, size_t, const char *, const char *);
  job_fn fns[] = {zr_key_job, zr_key_job_queue, zr_key_job_metrics, zr_key_job_events};
  for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
    for (size_t i = 0; i < NBAD; i++) {
      strcpy(k, "junk");
      zr_clearerr();
      CHECK_INT(fns[f](k, sizeof k, P, bad_components[i].value), -EINVAL);
      CHECK_STR(k, "");
      CHECK_CONTAINS(zr_errmsg(), "job");
      CHECK_CONTAINS(zr_errmsg(), bad_components[i].why);
    }
  }
  for (size_t i = 0; i < NBAD; i++) {
    CHECK_INT(zr_key_worker(k, sizeof k, P, bad_components[i].value, "actor", "id"), -EINVAL);
    CHECK_CONTAINS(zr_errmsg(), "job");
    CHECK_CONTAINS(zr_errmsg(), bad_components[i].why);
  }
}

static void test_bad_role_and_id(void) {
  char k[ZR_KEY_MAX];
  for (size_t i = 0; i < NBAD; i++) {
    strcpy(k, "junk");
    CHECK_INT(zr_key_worker(k, sizeof k, P, "j", bad_components[i].value, "id"), -EINVAL);
    CHECK_STR(k, "");
    CHECK_CONTAINS(zr_errmsg(), "role");
    CHECK_CONTAINS(zr_errmsg(), bad_components[i].why);

    CHECK_INT(zr_key_worker(k, sizeof k, P, "j", "actor", bad_components[i].value), -EINVAL);
    CHECK_STR(k, "");
    CHECK_CONTAINS(zr_errmsg(), "worker id");
    CHECK_CONTAINS(zr_errmsg(), bad_components[i].why);
  }
  /* a well-formed role that is not in the schema */
  CHECK_INT(zr_key_worker(k, sizeof k, P, "j", "actors", "id"), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "role 'actors' is not one of actor, reward, learner");
  CHECK_INT(zr_key_worker(k, sizeof k, P, "j", "Actor", "id"), -EINVAL);
}

static void test_bad_prefix(void) {
  char k[ZR_KEY_MAX];
  for (size_t i = 0; i < NBAD; i++) {
    if (bad_components[i].value && strchr(bad_components[i].value, ':')) continue;
    strcpy(k, "junk");
    CHECK_INT(zr_key_jobs(k, sizeof k, bad_components[i].value), -EINVAL);
    CHECK_STR(k, "");
    CHECK_CONTAINS(zr_errmsg(), "prefix");
    CHECK_CONTAINS(zr_errmsg(), bad_components[i].why);
    CHECK_INT(zr_key_job(k, sizeof k, bad_components[i].value, "j"), -EINVAL);
    CHECK_CONTAINS(zr_errmsg(), "prefix");
    CHECK_INT(zr_key_job_queue(k, sizeof k, bad_components[i].value, "j"), -EINVAL);
    CHECK_INT(zr_key_job_metrics(k, sizeof k, bad_components[i].value, "j"), -EINVAL);
    CHECK_INT(zr_key_job_events(k, sizeof k, bad_components[i].value, "j"), -EINVAL);
    CHECK_INT(zr_key_worker(k, sizeof k, bad_components[i].value, "j", "actor", "i"), -EINVAL);
    CHECK_CONTAINS(zr_errmsg(), "prefix");
  }
  CHECK_INT(zr_key_jobs(k, sizeof k, ":zerorl"), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "starts or ends with ':'");
  CHECK_INT(zr_key_jobs(k, sizeof k, "zerorl:"), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "starts or ends with ':'");
  /* the first bad component is the one reported */
  CHECK_INT(zr_key_worker(k, sizeof k, "", "a:b", "x", ""), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "prefix is empty");
  CHECK_INT(zr_key_worker(k, sizeof k, P, "a:b", "x", ""), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "job 'a...' contains ':'");
}

static void test_tables(void) {
  const char *job[] = {"state",      "step",          "policy_version",   "epoch",
                       "cursor",     "endpoint_work", "endpoint_weights", "endpoint_chunks",
                       "started_at", "updated_at"};
  CHECK_INT(sizeof job / sizeof job[0], ZR_JOB_FIELD_COUNT);
  for (int i = 0; i < ZR_JOB_FIELD_COUNT; i++) CHECK_STR(zr_job_fields[i], job[i]);

  const char *queue[] = {"tasks_pending",    "tasks_leased",  "rollouts_waiting",
                         "rollouts_scoring", "groups_ready",  "retries",
                         "expired_leases",   "dropped_stale", "dropped_bad"};
  CHECK_INT(sizeof queue / sizeof queue[0], ZR_QUEUE_FIELD_COUNT);
  for (int i = 0; i < ZR_QUEUE_FIELD_COUNT; i++) CHECK_STR(zr_queue_fields[i], queue[i]);

  const char *worker[] = {"host",       "pid",        "state",     "policy_version",
                          "started_at", "updated_at", "throughput"};
  CHECK_INT(sizeof worker / sizeof worker[0], ZR_WORKER_FIELD_COUNT);
  for (int i = 0; i < ZR_WORKER_FIELD_COUNT; i++) CHECK_STR(zr_worker_fields[i], worker[i]);

  /* every field name is itself a valid, distinct key component */
  for (int i = 0; i < ZR_JOB_FIELD_COUNT; i++) {
    CHECK_INT(zr_key_check_component("field", zr_job_fields[i]), 0);
    for (int j = 0; j < i; j++) CHECK(strcmp(zr_job_fields[i], zr_job_fields[j]) != 0);
  }
  for (int i = 0; i < ZR_QUEUE_FIELD_COUNT; i++)
    for (int j = 0; j < i; j++) CHECK(strcmp(zr_queue_fields[i], zr_queue_fields[j]) != 0);
}

static void test_states_and_roles(void) {
  const char *states[] = {"starting", "running", "draining", "done", "failed"};
  CHECK_INT(ZR_JOB_STATE_COUNT, 5);
  for (int i = 0; i < ZR_JOB_STATE_COUNT; i++) {
    CHECK_STR(zr_job_state_name((zr_job_state)i), states[i]);
    CHECK_INT(zr_job_state_parse(states[i]), i);
  }
  CHECK_STR(zr_job_state_name(ZR_JOB_STATE_COUNT), "?");
  CHECK_STR(zr_job_state_name((zr_job_state)-1), "?");
  CHECK_INT(zr_job_state_parse("Running"), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "job state 'Running' is not one of");
  CHECK_INT(zr_job_state_parse(NULL), -EINVAL);
  CHECK_STR(ZR_JOB_STATE_DRAINING, "draining");

  CHECK_INT(ZR_ROLE_ACTOR, 1); /* same numbers as proto Role */
  CHECK_INT(ZR_ROLE_REWARD, 2);
  CHECK_INT(ZR_ROLE_LEARNER, 3);
  CHECK_STR(zr_role_name(ZR_ROLE_ACTOR), "actor");
  CHECK_STR(zr_role_name(ZR_ROLE_REWARD), "reward");
  CHECK_STR(zr_role_name(ZR_ROLE_LEARNER), "learner");
  CHECK_STR(zr_role_name((zr_role)0), "?");
  CHECK_STR(zr_role_name((zr_role)4), "?");
  CHECK_INT(zr_role_parse("actor"), ZR_ROLE_ACTOR);
  CHECK_INT(zr_role_parse("reward"), ZR_ROLE_REWARD);
  CHECK_INT(zr_role_parse("learner"), ZR_ROLE_LEARNER);
  CHECK_INT(zr_role_parse("trainer"), -EINVAL);
  CHECK_CONTAINS(zr_errmsg(), "role 'trainer'");
  CHECK_INT(zr_role_parse(NULL), -EINVAL);
}

int main(void) {
  test_builders();
  test_limits();
  test_buffer_too_small();
  test_bad_job();
  test_bad_role_and_id();
  test_bad_prefix();
  test_tables();
  test_states_and_roles();
  return TEST_DONE();
}
