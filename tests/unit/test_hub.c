/* test_hub.c: the learner hub's queue state machine: grants and admission control, lease
 * expiry and re-issue, release, rollout de-duplication, scoring on demand with timeouts,
 * dynamic sampling, staleness, retry limits, the trained-set checkpoint, and a randomized
 * simulation of unreliable actors and reward workers proving every (task, epoch) is trained
 * exactly once. Payloads are counted so leaks show even without ASan. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "learner/hub.h"
#include "tests/test.h"

/* ---- fixtures ---------------------------------------------------------------------------- */

static long live_payloads;
static int events[8];

typedef struct source {
  int n_tasks, n_epochs;
  int next; /* flat index: epoch * n_tasks + task */
  int fail_at; /* -1 none */
  char buf[32];
} source;

static int src_next(void *user, zr_hub_task *out) {
  source *s = user;
  if (s->fail_at >= 0 && s->next == s->fail_at) return -EIO;
  if (s->next >= s->n_tasks * s->n_epochs) return 1;
  int i = s->next % s->n_tasks, e = s->next / s->n_tasks;
  s->next++;
  snprintf(s->buf, sizeof s->buf, "t%d", i);
  out->task_index = (size_t)i;
  out->epoch = (uint32_t)e;
  out->task_id = s->buf;
  return 0;
}

static void pl_free(void *user, void *p) {
  (void)user;
  live_payloads--;
  free(p);
}

static void on_event(void *user, const zr_hub_event *ev) {
  (void)user;
  if (ev->kind > 0 && ev->kind < 8) events[ev->kind]++;
}

static void *pl_new(int tag) {
  int *p = malloc(sizeof *p);
  *p = tag;
  live_payloads++;
  return p;
}

static source SRC;

static zr_hub *mk(uint32_t G, uint32_t gpb, uint32_t stale, int n_tasks, int n_epochs,
                  zr_hub_config *tweak) {
  SRC = (source){n_tasks, n_epochs, 0, -1, {0}};
  zr_hub_config c;
  zr_hub_config_init(&c);
  if (tweak) c = *tweak;
  c.group_size = G;
  c.groups_per_batch = gpb;
  c.max_staleness = stale;
  if (!tweak) {
    c.lease_ms = 1000;
    c.score_timeout_ms = 100;
  }
  c.next_task = src_next;
  c.free_payload = pl_free;
  c.event = on_event;
  c.user = &SRC;
  memset(events, 0, sizeof events);
  zr_hub *h = zr_hub_new(&c);
  ZR_ASSERT(h);
  return h;
}

static zr_hub_counts counts(const zr_hub *h) {
  zr_hub_counts c;
  zr_hub_counts_get(h, &c);
  return c;
}

/* Copy of a grant task (the hub's strings are valid only until the next call). */
typedef struct gtask {
  char task_id[32];
  uint32_t epoch;
  uint64_t group_id;
  uint32_t first, samples;
  size_t task_index;
} gtask;

static size_t grant(zr_hub *h, const char *w, uint32_t cap, uint64_t now, uint64_t *lease,
                    gtask *out) {
  zr_hub_lease g;
  CHECK_INT(zr_hub_grant(h, w, cap, now, &g), 0);
  *lease = g.lease_id;
  for (size_t i = 0; i < g.n_tasks; i++) {
    snprintf(out[i].task_id, sizeof out[i].task_id, "%s", g.tasks[i].task_id);
    out[i].epoch = g.tasks[i].epoch;
    out[i].group_id = g.tasks[i].group_id;
    out[i].first = g.tasks[i].first_sample_index;
    out[i].samples = g.tasks[i].samples;
    out[i].task_index = g.tasks[i].task_index;
  }
  if (g.n_tasks) CHECK_INT(g.deadline_ms, now + 1000);
  return g.n_tasks;
}

/* Sends one rollout; frees the payload when the hub refuses it. */
static zr_hub_result roll(zr_hub *h, uint64_t lease, const gtask *t, uint32_t idx, uint64_t ver,
                          uint64_t now) {
  void *p = pl_new((int)idx);
  zr_hub_result r = zr_hub_rollout(h, lease, t->task_id, t->epoch, t->group_id, idx, ver, p, now);
  if (r != ZR_HUB_ACCEPTED) pl_free(NULL, p);
  return r;
}

static void fill(zr_hub *h, uint64_t lease, const gtask *t, uint64_t ver, uint64_t now) {
  for (uint32_t i = t->first; i < t->first + t->samples; i++) roll(h, lease, t, i, ver, now);
}

/* Scores everything waiting; reward from fn(sample_index). */
static int score_all(zr_hub *h, double (*fn)(uint32_t idx), uint64_t now) {
  zr_hub_score_job j;
  int n = 0;
  while (zr_hub_take_score(h, "rw", now, &j) == 0) {
    double r = fn ? fn(j.sample_index) : (double)(j.sample_index % 2);
    CHECK_INT(zr_hub_scored(h, j.score_id, r, r > 0, &r, 1, now), ZR_HUB_ACCEPTED);
    n++;
  }
  return n;
}

static double reward_const(uint32_t idx) { return 0.5; }

/* ---- tests ------------------------------------------------------------------------------- */

static void test_config(void) {
  zr_hub_config c;
  zr_hub_config_init(&c);
  CHECK(zr_hub_new(&c) == NULL);
  CHECK_CONTAINS(zr_errmsg(), "next_task");
  c.next_task = src_next;
  c.group_size = 0;
  CHECK(zr_hub_new(&c) == NULL);
  CHECK_CONTAINS(zr_errmsg(), "group_size");
  CHECK_STR(zr_hub_result_name(ZR_HUB_DUPLICATE), "duplicate");
  CHECK_STR(zr_hub_result_name(ZR_HUB_UNKNOWN_LEASE), "unknown_lease");
}

static void test_grant_sizing_admission(void) {
  /* G=4, 2 groups per batch, staleness 1: at most 4 groups live */
  zr_hub *h = mk(4, 2, 1, 10, 1, NULL);
  gtask t[8];
  uint64_t l1, l2, l3;
  CHECK_INT(grant(h, "a", 3, 0, &l1, t), 3);
  CHECK(l1 != 0);
  CHECK_INT(t[0].first, 0);
  CHECK_INT(t[0].samples, 4);
  CHECK_STR(t[0].task_id, "t0");
  CHECK_STR(t[2].task_id, "t2");
  CHECK(t[0].group_id != t[1].group_id);
  CHECK_INT(grant(h, "b", 3, 0, &l2, t + 3), 1); /* admission: only one more */
  CHECK(l2 != l1);
  CHECK_INT(grant(h, "c", 3, 0, &l3, t + 4), 0); /* empty grant is valid, no lease */
  CHECK_INT(l3, 0);
  zr_hub_counts c = counts(h);
  CHECK_INT(c.tasks_leased, 4);
  CHECK_INT(c.groups_live, 4);
  CHECK_INT(c.admission_limit, 4);
  CHECK_INT(grant(h, "c", 0, 0, &l3, t + 4), 0); /* capacity 0 */

  /* complete groups stay counted until the trainer takes them */
  for (int i = 0; i < 3; i++) fill(h, l1, &t[i], 0, 10);
  fill(h, l2, &t[3], 0, 10);
  CHECK_INT(score_all(h, NULL, 10), 16);
  c = counts(h);
  CHECK_INT(c.groups_ready, 4);
  CHECK_INT(c.tasks_leased, 0);
  CHECK_INT(grant(h, "c", 3, 20, &l3, t + 4), 0);
  zr_hub_group g;
  CHECK_INT(zr_hub_take_group(h, 0, &g), 0);
  zr_hub_group_release(h, &g);
  CHECK_INT(grant(h, "c", 3, 20, &l3, t + 4), 1);
  CHECK_STR(t[4].task_id, "t4");

  /* hot setting widens admission */
  zr_hub_set_max_staleness(h, 3); /* 8 groups */
  CHECK_INT(grant(h, "c", 10, 20, &l3, t), 4);
  CHECK_INT(counts(h).groups_live, 8);
  CHECK_INT(counts(h).admission_limit, 8);
  zr_hub_free(&h);
  CHECK(h == NULL);
  CHECK_INT(live_payloads, 0);
}

static void test_expiry_reissue(void) {
  zr_hub *h = mk(4, 2, 1, 5, 1, NULL);
  gtask t[4], u[4];
  uint64_t l1, l2;
  CHECK_INT(grant(h, "a", 1, 0, &l1, t), 1);
  CHECK_INT(zr_hub_next_deadline(h), 1000);
  CHECK_INT(roll(h, l1, &t[0], 0, 0, 5), ZR_HUB_ACCEPTED);
  CHECK_INT(roll(h, l1, &t[0], 2, 0, 5), ZR_HUB_ACCEPTED);
  zr_hub_tick(h, 999);
  CHECK_INT(counts(h).expired_leases, 0);
  zr_hub_tick(h, 1000);
  zr_hub_counts c = counts(h);
  CHECK_INT(c.expired_leases, 1);
  CHECK_INT(c.retries, 1);
  CHECK_INT(c.tasks_pending, 1);
  CHECK_INT(c.tasks_leased, 0);
  CHECK_INT(c.rollouts_waiting, 2);
  CHECK_INT(events[ZR_HUB_EV_LEASE_EXPIRED], 1);
  /* ended lease stays recognised for lease_keep_ms (4 * lease_ms) */
  CHECK_INT(zr_hub_next_deadline(h), 1000 + 4000);

  /* re-issued first, same group id, range covering the missing slots 1 and 3 */
  CHECK_INT(grant(h, "b", 2, 1100, &l2, u), 2);
  CHECK_INT(u[0].group_id, t[0].group_id);
  CHECK_INT(u[0].first, 1);
  CHECK_INT(u[0].samples, 3);
  CHECK_STR(u[1].task_id, "t1");
  CHECK_INT(u[1].samples, 4);
  CHECK_INT(roll(h, l2, &u[0], 2, 0, 1110), ZR_HUB_DUPLICATE); /* filled before */
  CHECK_INT(roll(h, l2, &u[0], 0, 0, 1110), ZR_HUB_MISMATCH);  /* outside the new range */
  CHECK_INT(roll(h, l2, &u[0], 1, 0, 1110), ZR_HUB_ACCEPTED);
  /* late rollout from the expired lease: slot 3 still empty -> accepted (useful work) */
  CHECK_INT(roll(h, l1, &t[0], 3, 0, 1120), ZR_HUB_ACCEPTED);
  CHECK_INT(roll(h, l1, &t[0], 3, 0, 1120), ZR_HUB_DUPLICATE);
  CHECK_INT(roll(h, l2, &u[0], 3, 0, 1120), ZR_HUB_DUPLICATE);
  CHECK_INT(roll(h, l1, &t[0], 1, 0, 1120), ZR_HUB_DUPLICATE);
  c = counts(h);
  CHECK_INT(c.duplicates, 4);
  CHECK_INT(c.dropped_bad, 1);
  CHECK_INT(c.tasks_leased, 1); /* only t1 still leased; group 0 is complete */
  CHECK_INT(c.rollouts_waiting, 4);
  /* after lease_keep_ms the ended lease is forgotten */
  zr_hub_tick(h, 5000);
  CHECK_INT(roll(h, l1, &t[0], 3, 0, 5000), ZR_HUB_UNKNOWN_LEASE);
  zr_hub_free(&h);
  CHECK_INT(live_payloads, 0);
}

static void test_late_after_expiry_completes(void) {
  /* the whole group arrives late on the expired lease while it waits in pending */
  zr_hub *h = mk(2, 2, 1, 5, 1, NULL);
  gtask t[2];
  uint64_t l1;
  CHECK_INT(grant(h, "a", 1, 0, &l1, t), 1);
  zr_hub_tick(h, 1000);
  CHECK_INT(counts(h).tasks_pending, 1);
  CHECK_INT(roll(h, l1, &t[0], 0, 0, 1001), ZR_HUB_ACCEPTED);
  CHECK_INT(roll(h, l1, &t[0], 1, 0, 1001), ZR_HUB_ACCEPTED);
  CHECK_INT(counts(h).tasks_pending, 0); /* complete: no longer re-issued */
  gtask u[2];
  uint64_t l2;
  CHECK_INT(grant(h, "b", 1, 1002, &l2, u), 1);
  CHECK_STR(u[0].task_id, "t1"); /* the next new task */
  zr_hub_free(&h);
  CHECK_INT(live_payloads, 0);
}

static void test_unknown_and_mismatch(void) {
  zr_hub *h = mk(4, 2, 1, 5, 2, NULL);
  gtask t[2];
  uint64_t l;
  CHECK_INT(grant(h, "a", 1, 0, &l, t), 1);
  CHECK_INT(roll(h, 12345, &t[0], 0, 0, 1), ZR_HUB_UNKNOWN_LEASE);
  CHECK_INT(roll(h, 0, &t[0], 0, 0, 1), ZR_HUB_UNKNOWN_LEASE);
  struct {
    const char *task;
    int epoch_delta;
    int group_delta;
    uint32_t idx;
  } bad[] = {{"t9", 0, 0, 0}, {"t0", 1, 0, 0}, {"t0", 0, 1, 0}, {"t0", 0, 0, 4}, {"", 0, 0, 0}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    gtask b = t[0];
    snprintf(b.task_id, sizeof b.task_id, "%s", bad[i].task);
    b.epoch += (uint32_t)bad[i].epoch_delta;
    b.group_id += (uint64_t)bad[i].group_delta;
    CHECK_INT(roll(h, l, &b, bad[i].idx, 0, 1), ZR_HUB_MISMATCH);
  }
  CHECK_INT(counts(h).dropped_bad, 2 + 5);
  CHECK_INT(counts(h).rollouts_waiting, 0);
  zr_hub_free(&h);
  CHECK_INT(live_payloads, 0);
}

static void test_release(void) {
  zr_hub *h = mk(2, 4, 1, 10, 1, NULL);
  gtask t[4], u[4];
  uint64_t l, l2;
  CHECK_INT(grant(h, "a", 3, 0, &l, t), 3);
  zr_hub_ref ref = {t[1].task_id, t[1].epoch, t[1].group_id};
  zr_hub_ref wrong = {t[1].task_id, t[1].epoch + 1, t[1].group_id};
  CHECK_INT(zr_hub_release(h, l, &wrong, 1, 1), 0);
  CHECK_INT(zr_hub_release(h, l, &ref, 1, 1), 1);
  CHECK_INT(zr_hub_release(h, l, &ref, 1, 1), 0); /* already given back */
  zr_hub_counts c = counts(h);
  CHECK_INT(c.tasks_pending, 1);
  CHECK_INT(c.tasks_leased, 2);
  CHECK_INT(c.retries, 1);
  CHECK_INT(c.expired_leases, 0);
  /* rollouts for a released group on the still-active lease: slot empty -> accepted */
  CHECK_INT(roll(h, l, &t[1], 0, 0, 2), ZR_HUB_ACCEPTED);
  CHECK_INT(grant(h, "b", 1, 3, &l2, u), 1);
  CHECK_INT(u[0].group_id, t[1].group_id);
  CHECK_INT(u[0].first, 1);
  CHECK_INT(u[0].samples, 1);
  fill(h, l, &t[0], 0, 4); /* t0 complete */
  CHECK_INT(zr_hub_release(h, l, NULL, 0, 5), 1); /* all that is left: t2 */
  CHECK_INT(zr_hub_release(h, l, NULL, 0, 5), -ENOENT); /* the lease ended */
  CHECK_INT(zr_hub_release(h, 777, NULL, 0, 5), -ENOENT);
  CHECK_CONTAINS(zr_errmsg(), "unknown lease");
  CHECK_INT(counts(h).tasks_pending, 1);
  CHECK_INT(counts(h).retries, 2);
  zr_hub_free(&h);
  CHECK_INT(live_payloads, 0);
}

static void test_scoring(void) {
  zr_hub *h = mk(2, 2, 1, 5, 1, NULL);
  gtask t[2];
  uint64_t l;
  zr_hub_score_job j, j2;
  CHECK_INT(zr_hub_take_score(h, "rw", 0, &j), 1); /* nothing waiting */
  CHECK_INT(grant(h, "a", 2, 0, &l, t), 2);
  CHECK_INT(roll(h, l, &t[1], 1, 0, 1), ZR_HUB_ACCEPTED);
  CHECK_INT(roll(h, l, &t[0], 0, 0, 2), ZR_HUB_ACCEPTED);
  CHECK_INT(counts(h).rollouts_waiting, 2);
  CHECK_INT(counts(h).rollouts_scoring, 0); /* nothing goes out unasked */
  /* FIFO */
  CHECK_INT(zr_hub_take_score(h, "rw", 10, &j), 0);
  CHECK_STR(j.task_id, "t1");
  CHECK_INT(j.sample_index, 1);
  CHECK_INT(*(int *)j.payload, 1);
  CHECK_INT(j.attempt, 1);
  CHECK_INT(j.deadline_ms, 110);
  CHECK_INT(j.group_id, t[1].group_id);
  CHECK_INT(j.task_index, 1);
  CHECK_INT(zr_hub_take_score(h, "rw", 10, &j2), 0);
  CHECK(j2.score_id != j.score_id);
  CHECK_STR(j2.task_id, "t0");
  CHECK_INT(counts(h).rollouts_scoring, 2);
  CHECK_INT(counts(h).rollouts_waiting, 0);
  CHECK_INT(zr_hub_next_deadline(h), 110);
  double comp[2] = {1.0, -0.5};
  CHECK_INT(zr_hub_scored(h, j.score_id, 0.5, 1, comp, 2, 20), ZR_HUB_ACCEPTED);
  CHECK_INT(zr_hub_scored(h, j.score_id, 0.7, 1, NULL, 0, 21), ZR_HUB_DUPLICATE);
  CHECK_INT(zr_hub_scored(h, 424242, 0.7, 1, NULL, 0, 21), ZR_HUB_UNKNOWN);
  CHECK_INT(counts(h).rollouts_scoring, 1);
  CHECK_INT(counts(h).duplicates, 1);
  zr_hub_free(&h);
  CHECK_INT(live_payloads, 0);
}

static void test_score_timeout_first_wins(void) {
  zr_hub_config c;
  zr_hub_config_init(&c);
  c.lease_ms = 1000;
  c.score_timeout_ms = 100;
  c.max_score_retries = 2;
  c.failure_reward = -1.0;
  zr_hub *h = mk(2, 2, 1, 5, 1, &c);
  gtask t[2];
  uint64_t l;
  zr_hub_score_job a, b, x;
  CHECK_INT(grant(h, "a", 1, 0, &l, t), 1);
  fill(h, l, &t[0], 0, 1);
  CHECK_INT(zr_hub_take_score(h, "rw1", 10, &a), 0);
  CHECK_INT(a.sample_index, 0);
  zr_hub_tick(h, 109);
  CHECK_INT(counts(h).score_retries, 0);
  zr_hub_tick(h, 110);
  CHECK_INT(counts(h).score_retries, 1);
  CHECK_INT(counts(h).rollouts_waiting, 2);
  CHECK_INT(events[ZR_HUB_EV_SCORE_TIMEOUT], 1);
  /* retried first (front of the queue), new id */
  CHECK_INT(zr_hub_take_score(h, "rw2", 120, &b), 0);
  CHECK_INT(b.sample_index, 0);
  CHECK_INT(b.attempt, 2);
  CHECK(b.score_id != a.score_id);
  /* the late answer of the first attempt still wins; the second is a duplicate */
  CHECK_INT(zr_hub_scored(h, a.score_id, 1.0, 1, NULL, 0, 130), ZR_HUB_ACCEPTED);
  CHECK_INT(counts(h).rollouts_scoring, 0);
  CHECK_INT(zr_hub_scored(h, b.score_id, 0.0, 0, NULL, 0, 131), ZR_HUB_DUPLICATE);
  /* the cancelled attempt no longer counts; the lease ended when the group filled (t=1) and
   * is remembered until 1 + 4 * lease_ms */
  CHECK_INT(zr_hub_next_deadline(h), 4001);

  /* sample 1 runs out of score retries: scored failure_reward */
  for (int i = 0; i < 3; i++) {
    CHECK_INT(zr_hub_take_score(h, "rw1", 200 + 200 * (uint64_t)i, &x), 0);
    CHECK_INT(x.sample_index, 1);
    CHECK_INT(x.attempt, i + 1);
    zr_hub_tick(h, 200 + 200 * (uint64_t)i + 100);
  }
  CHECK_INT(counts(h).score_failed, 1);
  CHECK_INT(events[ZR_HUB_EV_SCORE_FAILED], 1);
  CHECK_INT(counts(h).groups_ready, 1);
  CHECK_INT(zr_hub_scored(h, x.score_id, 1.0, 1, NULL, 0, 900), ZR_HUB_DUPLICATE);
  zr_hub_group g;
  CHECK_INT(zr_hub_take_group(h, 0, &g), 0);
  CHECK(g.rewards[0] == 1.0);
  CHECK(g.rewards[1] == -1.0);
  CHECK_INT(g.correct[1], 0);
  CHECK_INT(g.n_components[1], 0);
  zr_hub_group_release(h, &g);
  /* the group left the hub: its score ids are unknown now */
  CHECK_INT(zr_hub_scored(h, a.score_id, 1.0, 1, NULL, 0, 901), ZR_HUB_UNKNOWN);
  zr_hub_free(&h);
  CHECK_INT(live_payloads, 0);
}

static void test_worker_gone(void) {
  zr_hub *h = mk(2, 4, 1, 5, 1, NULL);
  gtask t[4], u[2];
  uint64_t la, lb;
  zr_hub_score_job j;
  CHECK_INT(grant(h, "actorA", 1, 0, &la, t), 1);
  CHECK_INT(grant(h, "actorB", 1, 0, &lb, u), 1);
  fill(h, la, &t[0], 0, 1);
  CHECK_INT(zr_hub_take_score(h, "rw1", 2, &j), 0);
  CHECK_INT(zr_hub_take_score(h, "rw2", 2, &j), 0);
  zr_hub_worker_gone(h, "rw1");
  zr_hub_counts c = counts(h);
  CHECK_INT(c.rollouts_scoring, 1);
  CHECK_INT(c.rollouts_waiting, 1);
  CHECK_INT(c.score_retries, 1);
  zr_hub_worker_gone(h, "actorB");
  c = counts(h);
  CHECK_INT(c.expired_leases, 1);
  CHECK_INT(c.tasks_pending, 1);
  CHECK_INT(c.tasks_leased, 0);
  zr_hub_worker_gone(h, "nobody");
  CHECK_INT(counts(h).expired_leases, 1);
  zr_hub_free(&h);
  CHECK_INT(live_payloads, 0);
}

static void test_dynamic_sampling(void) {
  zr_hub_config c;
  zr_hub_config_init(&c);
  c.lease_ms = 1000;
  c.score_timeout_ms = 100;
  c.dynamic_sampling = 1;
  zr_hub *h = mk(3, 1, 0, 3, 1, &c); /* admission: 1 group at a time */
  gtask t[2];
  uint64_t l;
  CHECK_INT(grant(h, "a", 2, 0, &l, t), 1);
  fill(h, l, &t[0], 0, 1);
  CHECK_INT(score_all(h, reward_const, 2), 3); /* all equal -> filtered */
  zr_hub_counts s = counts(h);
  CHECK_INT(s.groups_filtered, 1);
  CHECK_INT(s.groups_ready, 0);
  CHECK_INT(s.tasks_pending, 0); /* not retried */
  CHECK_INT(s.groups_live, 0);
  CHECK_INT(zr_hub_outcome_of(h, "t0", 0), ZR_HUB_OUTCOME_FILTERED);
  CHECK_INT(events[ZR_HUB_EV_GROUP_FILTERED], 1);
  CHECK_INT(live_payloads, 0);
  /* admission frees up: the hub simply pulls the next task */
  CHECK_INT(grant(h, "a", 2, 3, &l, t), 1);
  CHECK_STR(t[0].task_id, "t1");
  fill(h, l, &t[0], 0, 4);
  CHECK_INT(score_all(h, NULL, 5), 3); /* rewards 0,1,0 -> kept */
  CHECK_INT(counts(h).groups_ready, 1);
  zr_hub_group g;
  CHECK_INT(zr_hub_take_group(h, 0, &g), 0);
  CHECK_STR(g.task_id, "t1");
  zr_hub_group_release(h, &g);
  CHECK_INT(zr_hub_outcome_count(h, 0, ZR_HUB_OUTCOME_FILTERED), 1);
  CHECK_INT(zr_hub_outcome_count(h, 0, ZR_HUB_OUTCOME_TRAINED), 1);
  zr_hub_free(&h);
  CHECK_INT(live_payloads, 0);
}

static void test_take_group_contents(void) {
  zr_hub *h = mk(3, 2, 1, 5, 1, NULL);
  gtask t[2];
  uint64_t l;
  zr_hub_group g;
  CHECK_INT(zr_hub_take_group(h, 0, &g), 1);
  CHECK_INT(grant(h, "a", 2, 0, &l, t), 2);
  /* group 1 completes before group 0: ready order is completion order */
  for (uint32_t i = 3; i-- > 0;) roll(h, l, &t[1], i, 7 + i, 1);
  fill(h, l, &t[0], 9, 1);
  score_all(h, NULL, 2);
  CHECK_INT(zr_hub_take_group(h, 8, &g), 0);
  CHECK_STR(g.task_id, "t1");
  CHECK_INT(g.task_index, 1);
  CHECK_INT(g.group_id, t[1].group_id);
  CHECK_INT(g.group_size, 3);
  CHECK_INT(g.min_token_version, 7);
  for (int i = 0; i < 3; i++) {
    CHECK_INT(*(int *)g.payloads[i], i); /* sample order */
    CHECK(g.rewards[i] == (double)(i % 2));
    CHECK_INT(g.correct[i], i % 2);
    CHECK_INT(g.n_components[i], 1);
    CHECK(g.components[i][0] == (double)(i % 2));
  }
  /* the trainer may keep a payload */
  void *kept = g.payloads[1];
  g.payloads[1] = NULL;
  zr_hub_group_release(h, &g);
  CHECK(g.payloads == NULL);
  pl_free(NULL, kept);
  CHECK_INT(counts(h).groups_trained, 1);
  CHECK_INT(zr_hub_outcome_of(h, "t1", 0), ZR_HUB_OUTCOME_TRAINED);
  CHECK_INT(zr_hub_outcome_of(h, "t0", 0), ZR_HUB_OUTCOME_LIVE);
  CHECK_INT(zr_hub_outcome_of(h, "t4", 0), ZR_HUB_OUTCOME_NONE);
  /* a late rollout for the trained group: duplicate, never trained twice */
  CHECK_INT(roll(h, l, &t[1], 0, 9, 3), ZR_HUB_DUPLICATE);
  zr_hub_free(&h);
  CHECK_INT(live_payloads, 0);
}

static void test_staleness(void) {
  zr_hub *h = mk(2, 2, 1, 5, 1, NULL);
  gtask t[2], u[2];
  uint64_t l, l2;
  zr_hub_group g;
  CHECK_INT(grant(h, "a", 1, 0, &l, t), 1);
  fill(h, l, &t[0], 3, 1); /* sampled at version 3 */
  score_all(h, NULL, 2);
  /* version 4, staleness 1: 3 >= 4 - 1 -> fine; version 5: 3 < 4 -> stale */
  CHECK_INT(zr_hub_take_group(h, 5, &g), 1);
  zr_hub_counts c = counts(h);
  CHECK_INT(c.dropped_stale, 1);
  CHECK_INT(c.retries, 1);
  CHECK_INT(c.tasks_pending, 1);
  CHECK_INT(c.groups_live, 1);
  CHECK_INT(events[ZR_HUB_EV_GROUP_STALE], 1);
  CHECK_INT(zr_hub_outcome_of(h, "t0", 0), ZR_HUB_OUTCOME_LIVE);
  CHECK_INT(live_payloads, 0);
  /* re-queued as a fresh group of the same epoch, all samples */
  CHECK_INT(grant(h, "a", 1, 10, &l2, u), 1);
  CHECK_STR(u[0].task_id, "t0");
  CHECK_INT(u[0].epoch, 0);
  CHECK(u[0].group_id != t[0].group_id);
  CHECK_INT(u[0].first, 0);
  CHECK_INT(u[0].samples, 2);
  /* the old group's late samples are not mixed in */
  CHECK_INT(roll(h, l, &t[0], 0, 3, 11), ZR_HUB_DUPLICATE);
  fill(h, l2, &u[0], 5, 11);
  score_all(h, NULL, 12);
  /* raising max_staleness (hot) keeps older groups; here version 5 is fresh anyway */
  zr_hub_set_max_staleness(h, 0);
  CHECK_INT(zr_hub_take_group(h, 5, &g), 0);
  CHECK_INT(g.group_id, u[0].group_id);
  zr_hub_group_release(h, &g);
  CHECK_INT(counts(h).groups_trained, 1);
  zr_hub_free(&h);
  CHECK_INT(live_payloads, 0);
}

static void test_retry_limit(void) {
  zr_hub_config c;
  zr_hub_config_init(&c);
  c.lease_ms = 1000;
  c.score_timeout_ms = 100;
  c.max_task_retries = 2;
  zr_hub *h = mk(2, 2, 1, 1, 1, &c);
  gtask t[2];
  uint64_t l;
  uint64_t now = 0;
  for (int i = 0; i < 3; i++) {
    CHECK_INT(grant(h, "a", 1, now, &l, t), 1);
    CHECK_STR(t[0].task_id, "t0");
    if (i == 0) CHECK_INT(roll(h, l, &t[0], 0, 0, now), ZR_HUB_ACCEPTED);
    now += 1000;
    zr_hub_tick(h, now);
  }
  zr_hub_counts s = counts(h);
  CHECK_INT(s.tasks_dropped, 1);
  CHECK_INT(s.retries, 3);
  CHECK_INT(s.groups_live, 0);
  CHECK_INT(s.rollouts_waiting, 0);
  CHECK_INT(live_payloads, 0);
  CHECK_INT(events[ZR_HUB_EV_TASK_DROPPED], 1);
  CHECK_INT(zr_hub_outcome_of(h, "t0", 0), ZR_HUB_OUTCOME_DROPPED);
  CHECK_INT(grant(h, "a", 1, now, &l, t), 0); /* source exhausted */
  CHECK(zr_hub_epoch_done(h));
  zr_hub_free(&h);
}

static void test_source_error(void) {
  zr_hub *h = mk(2, 4, 1, 5, 1, NULL);
  SRC.fail_at = 2;
  zr_hub_lease g;
  CHECK_INT(zr_hub_grant(h, "a", 4, 0, &g), -EIO); /* the groups before the error stay */
  CHECK_INT(g.n_tasks, 2);
  CHECK(g.lease_id != 0);
  CHECK_INT(counts(h).tasks_leased, 2);
  SRC.fail_at = -1;
  CHECK_INT(zr_hub_grant(h, "a", 4, 0, &g), 0);
  CHECK_INT(g.n_tasks, 3); /* t2..t4, then the source is exhausted */
  CHECK_STR(g.tasks[0].task_id, "t2");
  zr_hub_free(&h);
}

static void test_json_roundtrip(void) {
  zr_hub_config c;
  zr_hub_config_init(&c);
  c.lease_ms = 1000;
  c.score_timeout_ms = 100;
  c.dynamic_sampling = 1;
  zr_hub *h = mk(2, 4, 1, 4, 1, &c);
  gtask t[4];
  uint64_t l;
  zr_hub_group g;
  CHECK_INT(grant(h, "a", 3, 0, &l, t), 3);
  fill(h, l, &t[0], 0, 1);
  score_all(h, NULL, 1);        /* t0: rewards 0,1 -> ready */
  fill(h, l, &t[1], 0, 1);
  score_all(h, reward_const, 1); /* t1: filtered */
  CHECK_INT(zr_hub_take_group(h, 0, &g), 0);
  zr_hub_group_release(h, &g);
  json_t *j = zr_hub_trained_to_json(h);
  char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
  CHECK_CONTAINS(s, "[\"t0\",0,\"trained\"]");
  CHECK_CONTAINS(s, "[\"t1\",0,\"filtered\"]");
  CHECK(strstr(s, "t2") == NULL); /* in flight: not saved */
  free(s);
  /* restoring into a busy hub is refused */
  CHECK_INT(zr_hub_trained_from_json(h, j), -EBUSY);
  zr_hub_free(&h);

  /* a resumed learner re-reads its cursor from the start: t0 and t1 are skipped */
  h = mk(2, 4, 1, 4, 1, NULL);
  CHECK_INT(zr_hub_trained_from_json(h, j), 0);
  json_decref(j);
  CHECK_INT(zr_hub_outcome_of(h, "t0", 0), ZR_HUB_OUTCOME_TRAINED);
  CHECK_INT(zr_hub_outcome_of(h, "t1", 0), ZR_HUB_OUTCOME_FILTERED);
  CHECK_INT(grant(h, "a", 4, 0, &l, t), 2);
  CHECK_STR(t[0].task_id, "t2");
  CHECK_STR(t[1].task_id, "t3");
  CHECK_INT(counts(h).tasks_skipped, 2);
  zr_hub_free(&h);

  /* bad documents change nothing */
  h = mk(2, 4, 1, 4, 1, NULL);
  const char *bad[] = {"[]", "{\"version\":2,\"done\":[]}", "{\"version\":1}",
                       "{\"version\":1,\"done\":[[\"a\",0,\"trained\"],[\"b\",-1,\"trained\"]]}",
                       "{\"version\":1,\"done\":[[\"a\",0,\"maybe\"]]}",
                       "{\"version\":1,\"done\":[[\"a\",0]]}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    json_t *b = json_loads(bad[i], 0, NULL);
    CHECK(b != NULL);
    CHECK_INT(zr_hub_trained_from_json(h, b), -EINVAL);
    json_decref(b);
  }
  CHECK_CONTAINS(zr_errmsg(), "entry 0");
  CHECK_INT(zr_hub_outcome_of(h, "a", 0), ZR_HUB_OUTCOME_NONE);
  /* forgetting old epochs */
  json_t *ok = json_loads("{\"version\":1,\"done\":[[\"a\",0,\"trained\"],[\"b\",1,\"trained\"]]}",
                          0, NULL);
  CHECK_INT(zr_hub_trained_from_json(h, ok), 0);
  json_decref(ok);
  zr_hub_forget_epochs_before(h, 1);
  CHECK_INT(zr_hub_outcome_of(h, "a", 0), ZR_HUB_OUTCOME_NONE);
  CHECK_INT(zr_hub_outcome_of(h, "b", 1), ZR_HUB_OUTCOME_TRAINED);
  zr_hub_free(&h);
}

static void test_free_with_everything_in_flight(void) {
  zr_hub *h = mk(3, 4, 1, 10, 1, NULL);
  gtask t[4];
  uint64_t l;
  zr_hub_score_job j;
  CHECK_INT(grant(h, "a", 4, 0, &l, t), 4);
  fill(h, l, &t[0], 0, 1);              /* ready after scoring */
  score_all(h, NULL, 1);
  fill(h, l, &t[1], 0, 1);              /* waiting */
  roll(h, l, &t[2], 0, 0, 1);           /* partial */
  CHECK_INT(zr_hub_take_score(h, "rw", 2, &j), 0); /* scoring */
  zr_hub_tick(h, 1000);                 /* lease expired: t2, t3 pending */
  CHECK(live_payloads > 0);
  zr_hub_free(&h);
  CHECK_INT(live_payloads, 0);
  zr_hub_free(&h); /* NULL is fine */
}

/* ---- randomized simulation --------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state % n);
}

typedef struct msg {
  uint64_t at;
  uint64_t lease;
  gtask t;
  uint32_t idx;
  uint64_t ver;
} msg;

typedef struct ans {
  uint64_t at;
  uint64_t score_id;
  double reward;
} ans;

#define SIM_TASKS 100
#define SIM_EPOCHS 2

/* retries: max_task_retries (large: no task may be dropped; small: drops allowed, but a
 * (task, epoch) is still never trained twice and every one ends trained, filtered or dropped). */
static void simulate(int dynamic, uint32_t retries, uint64_t seed) {
  rng_state = seed;
  zr_hub_config c;
  zr_hub_config_init(&c);
  c.lease_ms = 1000;
  c.score_timeout_ms = 300;
  c.max_task_retries = retries;
  c.max_score_retries = 1000;
  c.dynamic_sampling = dynamic;
  c.lease_keep_ms = 3000;
  zr_hub *h = mk(4, 4, 1, SIM_TASKS, SIM_EPOCHS, &c);
  int lossy = retries < 100;
  size_t cap_m = 1 << 16, n_m = 0, cap_a = 1 << 14, n_a = 0;
  msg *ms = calloc(cap_m, sizeof *ms);
  ans *as = calloc(cap_a, sizeof *as);
  int trained[SIM_EPOCHS][SIM_TASKS] = {{0}};
  uint64_t version = 0, now = 0, taken = 0;
  int steps = 0, bound_ok = 1;
  const char *actors[] = {"act0", "act1", "act2"};
  const char *rws[] = {"rw0", "rw1"};
  while (!zr_hub_epoch_done(h) && steps < 400000) {
    steps++;
    now += 1 + rnd(20);
    uint32_t act = rnd(100);
    if (act < 10) {
      /* an actor asks for work and will (mostly) produce it, late, twice, or never */
      zr_hub_lease g;
      const char *who = actors[rnd(3)];
      CHECK_INT(zr_hub_grant(h, who, 1 + rnd(3), now, &g), 0);
      int dies = rnd(10) == 0;
      for (size_t i = 0; i < g.n_tasks; i++) {
        for (uint32_t k = 0; k < g.tasks[i].samples; k++) {
          if (dies || rnd(20) == 0) continue; /* lost */
          int copies = rnd(10) == 0 ? 2 : 1;
          for (int cpy = 0; cpy < copies && n_m < cap_m; cpy++) {
            msg *m = &ms[n_m++];
            m->at = now + 10 + rnd(1500); /* some after the deadline */
            m->lease = g.lease_id;
            snprintf(m->t.task_id, sizeof m->t.task_id, "%s", g.tasks[i].task_id);
            m->t.epoch = g.tasks[i].epoch;
            m->t.group_id = g.tasks[i].group_id;
            m->idx = g.tasks[i].first_sample_index + k;
            m->ver = version > 0 && rnd(4) == 0 ? version - 1 : version;
          }
        }
      }
      if (dies && rnd(2)) zr_hub_worker_gone(h, who);
      if (!dies && g.n_tasks && rnd(30) == 0) zr_hub_release(h, g.lease_id, NULL, 0, now);
    } else if (act < 25) {
      /* a reward worker with credit takes a job; answers late, twice or never */
      zr_hub_score_job j;
      const char *who = rws[rnd(2)];
      if (zr_hub_take_score(h, who, now, &j) == 0 && n_a + 2 < cap_a) {
        uint32_t fate = rnd(20);
        if (fate != 0) {
          int copies = fate == 1 ? 2 : 1;
          for (int cpy = 0; cpy < copies; cpy++) {
            ans *a = &as[n_a++];
            a->at = now + 5 + rnd(fate == 2 ? 2000 : 250);
            a->score_id = j.score_id;
            a->reward = (double)rnd(2);
          }
        }
      }
      if (rnd(200) == 0) zr_hub_worker_gone(h, who);
    } else if (act < 30) {
      /* the trainer takes a group; the version moves on every 4 groups, sometimes jumps */
      zr_hub_group g;
      if (zr_hub_take_group(h, version, &g) == 0) {
        CHECK(g.epoch < SIM_EPOCHS && g.task_index < SIM_TASKS);
        trained[g.epoch][g.task_index]++;
        for (uint32_t i = 0; i < g.group_size; i++) CHECK(g.payloads[i] != NULL);
        zr_hub_group_release(h, &g);
        if (++taken % 4 == 0) version += 1 + (rnd(10) == 0);
      }
    }
    /* deliver due messages and answers (swap-remove) */
    for (size_t i = 0; i < n_m;) {
      if (ms[i].at <= now) {
        msg m = ms[i];
        ms[i] = ms[--n_m];
        roll(h, m.lease, &m.t, m.idx, m.ver, now);
      } else {
        i++;
      }
    }
    for (size_t i = 0; i < n_a;) {
      if (as[i].at <= now) {
        ans a = as[i];
        as[i] = as[--n_a];
        double comp = a.reward;
        zr_hub_scored(h, a.score_id, a.reward, a.reward > 0, &comp, 1, now);
      } else {
        i++;
      }
    }
    if (zr_hub_next_deadline(h) <= now) zr_hub_tick(h, now);
    zr_hub_counts s = counts(h);
    if (s.groups_live > s.admission_limit) bound_ok = 0;
  }
  CHECK(zr_hub_epoch_done(h));
  CHECK(bound_ok);
  zr_hub_counts s = counts(h);
  CHECK_INT(s.double_trained, 0);
  int twice = 0, missing = 0;
  for (int e = 0; e < SIM_EPOCHS; e++) {
    for (int i = 0; i < SIM_TASKS; i++) {
      char id[16];
      snprintf(id, sizeof id, "t%d", i);
      zr_hub_outcome o = zr_hub_outcome_of(h, id, (uint32_t)e);
      if (trained[e][i] > 1) twice++;
      if (o == ZR_HUB_OUTCOME_TRAINED && trained[e][i] != 1) missing++;
      if (o == ZR_HUB_OUTCOME_FILTERED && trained[e][i] != 0) twice++;
      if (o == ZR_HUB_OUTCOME_DROPPED && trained[e][i] != 0) twice++;
      if (o != ZR_HUB_OUTCOME_TRAINED && o != ZR_HUB_OUTCOME_FILTERED &&
          !(lossy && o == ZR_HUB_OUTCOME_DROPPED))
        missing++;
      if (!dynamic && !lossy && trained[e][i] != 1) missing++;
    }
    CHECK_INT(zr_hub_outcome_count(h, (uint32_t)e, ZR_HUB_OUTCOME_TRAINED) +
                  zr_hub_outcome_count(h, (uint32_t)e, ZR_HUB_OUTCOME_FILTERED) +
                  zr_hub_outcome_count(h, (uint32_t)e, ZR_HUB_OUTCOME_DROPPED),
              SIM_TASKS);
  }
  CHECK_INT(twice, 0);
  CHECK_INT(missing, 0);
  CHECK_INT(s.groups_trained + s.groups_filtered + s.tasks_dropped, SIM_TASKS * SIM_EPOCHS);
  if (!lossy) CHECK_INT(s.tasks_dropped, 0);
  if (lossy) CHECK(s.tasks_dropped > 0);
  /* the run must have exercised the unreliable paths */
  CHECK(s.expired_leases > 0);
  CHECK(s.duplicates > 0);
  CHECK(s.retries > 0);
  CHECK(s.score_retries > 0);
  CHECK(s.dropped_stale > 0);
  if (dynamic) CHECK(s.groups_filtered > 0);
  fprintf(stderr,
          "sim(dynamic=%d, max_task_retries=%u): %d steps, trained %llu filtered %llu dropped %llu "
          "expired %llu retries %llu duplicates %llu stale %llu score_retries %llu\n",
          dynamic, retries, steps, (unsigned long long)s.groups_trained,
          (unsigned long long)s.groups_filtered, (unsigned long long)s.tasks_dropped,
          (unsigned long long)s.expired_leases,
          (unsigned long long)s.retries, (unsigned long long)s.duplicates,
          (unsigned long long)s.dropped_stale, (unsigned long long)s.score_retries);
  /* undelivered messages and answers just die with the test */
  zr_hub_free(&h);
  free(ms);
  free(as);
  CHECK_INT(live_payloads, 0);
}

int main(void) {
  test_config();
  test_grant_sizing_admission();
  test_expiry_reissue();
  test_late_after_expiry_completes();
  test_unknown_and_mismatch();
  test_release();
  test_scoring();
  test_score_timeout_first_wins();
  test_worker_gone();
  test_dynamic_sampling();
  test_take_group_contents();
  test_staleness();
  test_retry_limit();
  test_source_error();
  test_json_roundtrip();
  test_free_with_everything_in_flight();
  for (uint64_t seed = 1; seed <= 8; seed++) simulate(0, 1000, seed * 0x9e3779b97f4a7c15ULL);
  for (uint64_t seed = 1; seed <= 8; seed++) simulate(1, 1000, seed * 0xd1b54a32d192ed03ULL);
  for (uint64_t seed = 1; seed <= 4; seed++) simulate(seed % 2, 1, seed * 0xbf58476d1ce4e5b9ULL);
  return TEST_DONE();
}
