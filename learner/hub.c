/* hub.c: the learner's queue state machine (see hub.h for the model and the policies).
 *
 * Objects: a group (one (task, epoch) in flight) holds G slots; a lease holds the grant tasks
 * it covered; the task table records each (task, epoch)'s outcome. Lists are intrusive and
 * doubly linked: pending groups, ready groups, waiting slots, scoring slots, active leases,
 * ended leases. Lookups go through zr_hub_idmap (group, lease, score ids) and zr_hub_keytab. */
#include "learner/hub.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "learner/hub_table.h"

#define MAX_ENDED_LEASES 65536u

enum { SLOT_EMPTY, SLOT_WAITING, SLOT_SCORING, SLOT_SCORED };
enum { GROUP_PENDING, GROUP_LEASED, GROUP_COLLECTING, GROUP_READY };

typedef struct tentry {
  zr_hub_keytab_key key; /* first member: read by zr_hub_keytab */
  char *task_id;
  uint8_t outcome;    /* zr_hub_outcome */
  struct group *group;
} tentry;

typedef struct slot {
  struct group *g;
  uint32_t idx;
  uint8_t state;
  void *payload;
  uint64_t min_ver;
  uint64_t score_id;      /* current attempt (SCORING) */
  uint64_t score_deadline;
  char *score_worker;
  uint64_t *attempt_ids;  /* every score id issued for this slot (registered in hub->scores) */
  uint32_t n_attempts, cap_attempts;
  uint32_t returned;      /* attempts given back (timeout, worker gone) */
  double reward;
  int correct;
  int n_comp;
  double *comp;
  struct slot *prev, *next; /* waiting or scoring list */
} slot;

typedef struct group {
  uint64_t id;
  tentry *te;
  size_t task_index;
  uint32_t retries;
  uint8_t state;
  uint64_t lease_id; /* the active lease holding it (GROUP_LEASED) */
  uint32_t n_filled, n_scored;
  struct group *prev, *next; /* pending or ready list */
  slot slots[];
} group;

typedef struct ltask {
  uint64_t group_id;
  char *task_id;
  uint32_t epoch;
  uint32_t first, count;
} ltask;

typedef struct lease {
  uint64_t id;
  char *worker;
  uint64_t deadline;
  uint64_t ended_at;
  int active;
  size_t n_open; /* groups still bound to this lease */
  size_t n;
  ltask *t;
  struct lease *prev, *next; /* active or ended list */
} lease;

#define LIST(T) \
  struct {      \
    T *head;    \
    T *tail;    \
    size_t n;   \
  }

typedef LIST(group) glist;
typedef LIST(slot) slist;
typedef LIST(lease) llist;

#define LIST_UNLINK(l, x)                         \
  do {                                            \
    if ((x)->prev) (x)->prev->next = (x)->next;   \
    else (l)->head = (x)->next;                   \
    if ((x)->next) (x)->next->prev = (x)->prev;   \
    else (l)->tail = (x)->prev;                   \
    (x)->prev = (x)->next = NULL;                 \
    (l)->n--;                                     \
  } while (0)
#define LIST_APPEND(l, x)                         \
  do {                                            \
    (x)->next = NULL;                             \
    (x)->prev = (l)->tail;                        \
    if ((l)->tail) (l)->tail->next = (x);         \
    else (l)->head = (x);                         \
    (l)->tail = (x);                              \
    (l)->n++;                                     \
  } while (0)
#define LIST_PREPEND(l, x)                        \
  do {                                            \
    (x)->prev = NULL;                             \
    (x)->next = (l)->head;                        \
    if ((l)->head) (l)->head->prev = (x);         \
    else (l)->tail = (x);                         \
    (l)->head = (x);                              \
    (l)->n++;                                     \
  } while (0)

struct zr_hub {
  zr_hub_config cfg;
  uint64_t next_id;
  uint64_t now;
  int source_done;
  zr_hub_idmap groups, leases, scores;
  zr_hub_keytab tasks;
  glist pending, ready;
  slist waiting, scoring;
  llist active, ended;
  size_t live;       /* groups counted by admission */
  size_t n_leased;   /* groups in GROUP_LEASED */
  zr_hub_counts c;   /* counters (gauges filled in zr_hub_counts_get) */
  zr_hub_grant_task *gbuf;
  size_t gcap;
};

/* ---- small helpers ---------------------------------------------------------------------- */

static void *xcalloc(size_t n, size_t sz) {
  void *p = calloc(n ? n : 1, sz);
  ZR_ASSERT(p);
  return p;
}

static char *xstrdup(const char *s) {
  char *p = strdup(s ? s : "");
  ZR_ASSERT(p);
  return p;
}

static uint64_t new_id(zr_hub *h) {
  uint64_t id = h->next_id++;
  if (!id) id = h->next_id++;
  return id;
}

static void see(zr_hub *h, uint64_t now) {
  if (now > h->now) h->now = now;
}

static void emit(zr_hub *h, zr_hub_event_kind kind, const char *task_id, uint32_t epoch,
                 uint64_t group_id, uint64_t lease_id, const char *worker, uint32_t retries) {
  if (!h->cfg.event) return;
  zr_hub_event ev = {kind, task_id, epoch, group_id, lease_id, worker, retries};
  h->cfg.event(h->cfg.user, &ev);
}

static void free_payload(zr_hub *h, void *p) {
  if (!p) return;
  if (h->cfg.free_payload) h->cfg.free_payload(h->cfg.user, p);
  else free(p);
}

static uint64_t admission_limit(const zr_hub *h) {
  return ((uint64_t)h->cfg.max_staleness + 1) * h->cfg.groups_per_batch;
}

const char *zr_hub_result_name(zr_hub_result r) {
  switch (r) {
    case ZR_HUB_ACCEPTED: return "accepted";
    case ZR_HUB_DUPLICATE: return "duplicate";
    case ZR_HUB_UNKNOWN_LEASE: return "unknown_lease";
    case ZR_HUB_MISMATCH: return "mismatch";
    case ZR_HUB_UNKNOWN: return "unknown";
  }
  return "?";
}

/* ---- task table ------------------------------------------------------------------------- */

static tentry *task_get(const zr_hub *h, const char *task_id, uint32_t epoch) {
  return zr_hub_keytab_get(&h->tasks, task_id, epoch, zr_hub_keytab_hash(task_id, epoch));
}

static tentry *task_add(zr_hub *h, const char *task_id, uint32_t epoch) {
  tentry *te = xcalloc(1, sizeof *te);
  te->task_id = xstrdup(task_id);
  te->key.task_id = te->task_id;
  te->key.epoch = epoch;
  te->key.hash = zr_hub_keytab_hash(task_id, epoch);
  ZR_ASSERT(zr_hub_keytab_put(&h->tasks, te) == 0);
  return te;
}

/* ---- groups ----------------------------------------------------------------------------- */

static group *group_new(zr_hub *h, tentry *te, size_t task_index, uint32_t retries) {
  uint32_t G = h->cfg.group_size;
  group *g = xcalloc(1, sizeof *g + (size_t)G * sizeof(slot));
  g->id = new_id(h);
  g->te = te;
  g->task_index = task_index;
  g->retries = retries;
  for (uint32_t i = 0; i < G; i++) {
    g->slots[i].g = g;
    g->slots[i].idx = i;
  }
  te->outcome = ZR_HUB_OUTCOME_LIVE;
  te->group = g;
  ZR_ASSERT(zr_hub_idmap_put(&h->groups, g->id, g) == 0);
  h->live++;
  return g;
}

static void lease_end(zr_hub *h, lease *l);

/* Detaches g from its active lease (if any); ends the lease when it holds no group. */
static void group_unbind(zr_hub *h, group *g) {
  if (g->state != GROUP_LEASED) return;
  lease *l = zr_hub_idmap_get(&h->leases, g->lease_id);
  ZR_ASSERT(l && l->active && l->n_open > 0);
  g->lease_id = 0;
  g->state = GROUP_COLLECTING; /* unlisted; the caller files it */
  h->n_leased--;
  l->n_open--;
  if (l->n_open == 0) lease_end(h, l);
}

static void slot_clear_scoring(zr_hub *h, slot *s) {
  if (s->state != SLOT_SCORING) return;
  LIST_UNLINK(&h->scoring, s);
  free(s->score_worker);
  s->score_worker = NULL;
  s->score_id = 0;
}

/* Frees a group that leaves the hub (trained, filtered, stale, dropped); the task entry's
 * outcome must already be set by the caller. Payloads still held are freed. */
static void group_destroy(zr_hub *h, group *g) {
  if (g->state == GROUP_LEASED) group_unbind(h, g);
  else if (g->state == GROUP_PENDING) LIST_UNLINK(&h->pending, g);
  else if (g->state == GROUP_READY) LIST_UNLINK(&h->ready, g);
  for (uint32_t i = 0; i < h->cfg.group_size; i++) {
    slot *s = &g->slots[i];
    if (s->state == SLOT_WAITING) LIST_UNLINK(&h->waiting, s);
    slot_clear_scoring(h, s);
    for (uint32_t a = 0; a < s->n_attempts; a++) zr_hub_idmap_del(&h->scores, s->attempt_ids[a]);
    free(s->attempt_ids);
    free(s->comp);
    free_payload(h, s->payload);
  }
  if (g->te->group == g) g->te->group = NULL;
  zr_hub_idmap_del(&h->groups, g->id);
  h->live--;
  free(g);
}

static void task_drop(zr_hub *h, group *g) {
  h->c.tasks_dropped++;
  g->te->outcome = ZR_HUB_OUTCOME_DROPPED;
  emit(h, ZR_HUB_EV_TASK_DROPPED, g->te->task_id, g->te->key.epoch, g->id, 0, NULL, g->retries);
  group_destroy(h, g);
}

/* An unbound group with empty slots goes back to pending (one retry), or is dropped. */
static void group_give_back(zr_hub *h, group *g) {
  ZR_ASSERT(g->state != GROUP_LEASED && g->n_filled < h->cfg.group_size);
  g->retries++;
  h->c.retries++;
  if (g->retries > h->cfg.max_task_retries) {
    task_drop(h, g);
    return;
  }
  g->state = GROUP_PENDING;
  LIST_APPEND(&h->pending, g);
}

/* All samples scored: ready, or filtered by dynamic sampling. */
static void group_complete(zr_hub *h, group *g) {
  ZR_ASSERT(g->state == GROUP_COLLECTING);
  if (h->cfg.dynamic_sampling) {
    int all_equal = 1;
    for (uint32_t i = 1; i < h->cfg.group_size; i++)
      if (g->slots[i].reward != g->slots[0].reward) all_equal = 0;
    if (all_equal) {
      h->c.groups_filtered++;
      g->te->outcome = ZR_HUB_OUTCOME_FILTERED;
      emit(h, ZR_HUB_EV_GROUP_FILTERED, g->te->task_id, g->te->key.epoch, g->id, 0, NULL,
           g->retries);
      group_destroy(h, g);
      return;
    }
  }
  g->state = GROUP_READY;
  LIST_APPEND(&h->ready, g);
}

static void slot_set_score(zr_hub *h, slot *s, double reward, int correct, const double *comp,
                           int n_comp) {
  s->state = SLOT_SCORED;
  s->reward = reward;
  s->correct = correct ? 1 : 0;
  free(s->comp);
  s->comp = NULL;
  s->n_comp = 0;
  if (n_comp > 0 && comp) {
    s->comp = xcalloc((size_t)n_comp, sizeof(double));
    memcpy(s->comp, comp, (size_t)n_comp * sizeof(double));
    s->n_comp = n_comp;
  }
  group *g = s->g;
  g->n_scored++;
  if (g->n_scored == h->cfg.group_size) group_complete(h, g);
}

/* ---- leases ----------------------------------------------------------------------------- */

static void lease_free(lease *l) {
  for (size_t i = 0; i < l->n; i++) free(l->t[i].task_id);
  free(l->t);
  free(l->worker);
  free(l);
}

static void lease_forget(zr_hub *h, lease *l) {
  LIST_UNLINK(&h->ended, l);
  zr_hub_idmap_del(&h->leases, l->id);
  lease_free(l);
}

/* Moves an active lease to the ended list (it stays recognised for lease_keep_ms). */
static void lease_end(zr_hub *h, lease *l) {
  ZR_ASSERT(l->active);
  l->active = 0;
  l->ended_at = h->now;
  LIST_UNLINK(&h->active, l);
  LIST_APPEND(&h->ended, l);
  if (h->ended.n > MAX_ENDED_LEASES) lease_forget(h, h->ended.head);
}

/* The lease ran out (deadline or worker gone): its groups with empty slots go back. */
static void lease_expire(zr_hub *h, lease *l) {
  h->c.expired_leases++;
  emit(h, ZR_HUB_EV_LEASE_EXPIRED, NULL, 0, 0, l->id, l->worker, 0);
  for (size_t i = 0; i < l->n && l->active; i++) {
    group *g = zr_hub_idmap_get(&h->groups, l->t[i].group_id);
    if (!g || g->state != GROUP_LEASED || g->lease_id != l->id) continue;
    group_unbind(h, g); /* may end the lease when this was its last group */
    group_give_back(h, g);
  }
  ZR_ASSERT(!l->active);
}

/* ---- scoring ---------------------------------------------------------------------------- */

/* A scoring attempt came back without an answer (timeout, worker gone). */
static void score_return(zr_hub *h, slot *s) {
  group *g = s->g;
  emit(h, ZR_HUB_EV_SCORE_TIMEOUT, g->te->task_id, g->te->key.epoch, g->id, 0, s->score_worker,
       s->n_attempts);
  slot_clear_scoring(h, s);
  s->returned++;
  h->c.score_retries++;
  if (s->returned > h->cfg.max_score_retries) {
    h->c.score_failed++;
    emit(h, ZR_HUB_EV_SCORE_FAILED, g->te->task_id, g->te->key.epoch, g->id, 0, NULL,
         s->n_attempts);
    slot_set_score(h, s, h->cfg.failure_reward, 0, NULL, 0);
    return;
  }
  s->state = SLOT_WAITING;
  LIST_PREPEND(&h->waiting, s);
}

/* ---- public: life cycle ----------------------------------------------------------------- */

void zr_hub_config_init(zr_hub_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->group_size = 8;
  cfg->groups_per_batch = 16;
  cfg->max_staleness = 1;
  cfg->lease_ms = 600000;
  cfg->lease_keep_ms = 0;
  cfg->score_timeout_ms = 60000;
  cfg->max_task_retries = 3;
  cfg->max_score_retries = 3;
  cfg->failure_reward = 0.0;
  cfg->dynamic_sampling = 0;
}

zr_hub *zr_hub_new(const zr_hub_config *cfg) {
  if (!cfg->next_task) {
    zr_seterr(-EINVAL, "hub: config has no next_task callback");
    return NULL;
  }
  if (cfg->group_size == 0 || cfg->groups_per_batch == 0 || cfg->lease_ms == 0 ||
      cfg->score_timeout_ms == 0) {
    zr_seterr(-EINVAL,
              "hub: group_size (%u), groups_per_batch (%u), lease_ms (%llu) and "
              "score_timeout_ms (%llu) must be > 0",
              cfg->group_size, cfg->groups_per_batch, (unsigned long long)cfg->lease_ms,
              (unsigned long long)cfg->score_timeout_ms);
    return NULL;
  }
  zr_hub *h = calloc(1, sizeof *h);
  if (!h) {
    zr_seterr(-ENOMEM, "hub: out of memory");
    return NULL;
  }
  h->cfg = *cfg;
  if (!h->cfg.lease_keep_ms) h->cfg.lease_keep_ms = 4 * h->cfg.lease_ms;
  /* random base so ids of a restarted learner never match those of its previous life */
  h->next_id = (zr_id_u64() >> 2) | 1;
  return h;
}

static void tentry_drop(void *e, void *arg) {
  tentry *te = e;
  free(te->task_id);
  free(te);
}

void zr_hub_free(zr_hub **hp) {
  if (!hp || !*hp) return;
  zr_hub *h = *hp;
  /* groups: destroy through the group map (covers every state) */
  size_t ng = 0;
  group **all = xcalloc(h->groups.n, sizeof(group *));
  for (size_t i = 0; i < h->groups.cap; i++)
    if (h->groups.keys[i]) all[ng++] = h->groups.vals[i];
  for (size_t i = 0; i < ng; i++) group_destroy(h, all[i]);
  free(all);
  while (h->active.head) lease_end(h, h->active.head);
  while (h->ended.head) lease_forget(h, h->ended.head);
  for (size_t i = 0; i < h->tasks.cap; i++)
    if (h->tasks.slots[i]) tentry_drop(h->tasks.slots[i], NULL);
  zr_hub_keytab_release(&h->tasks);
  zr_hub_idmap_release(&h->groups);
  zr_hub_idmap_release(&h->leases);
  zr_hub_idmap_release(&h->scores);
  free(h->gbuf);
  free(h);
  *hp = NULL;
}

void zr_hub_set_max_staleness(zr_hub *h, uint32_t max_staleness) {
  h->cfg.max_staleness = max_staleness;
}

/* ---- public: leases --------------------------------------------------------------------- */

static void grant_push(zr_hub *h, lease **lp, const char *worker, uint64_t now, group *g,
                       zr_hub_lease *out) {
  lease *l = *lp;
  if (!l) {
    l = xcalloc(1, sizeof *l);
    l->id = new_id(h);
    l->worker = xstrdup(worker);
    l->deadline = now + h->cfg.lease_ms;
    l->active = 1;
    l->t = xcalloc(h->gcap, sizeof(ltask));
    ZR_ASSERT(zr_hub_idmap_put(&h->leases, l->id, l) == 0);
    LIST_APPEND(&h->active, l);
    *lp = l;
  }
  uint32_t G = h->cfg.group_size, lo = G, hi = 0;
  for (uint32_t i = 0; i < G; i++)
    if (g->slots[i].state == SLOT_EMPTY) {
      if (lo == G) lo = i;
      hi = i;
    }
  ZR_ASSERT(lo < G);
  ltask *t = &l->t[l->n++];
  t->group_id = g->id;
  t->task_id = xstrdup(g->te->task_id);
  t->epoch = g->te->key.epoch;
  t->first = lo;
  t->count = hi - lo + 1;
  g->state = GROUP_LEASED;
  g->lease_id = l->id;
  h->n_leased++;
  l->n_open++;
  zr_hub_grant_task *gt = &h->gbuf[out->n_tasks++];
  gt->task_index = g->task_index;
  gt->epoch = t->epoch;
  gt->task_id = g->te->task_id;
  gt->group_id = g->id;
  gt->first_sample_index = lo;
  gt->samples = t->count;
  gt->group_size = G;
  gt->retries = g->retries;
}

int zr_hub_grant(zr_hub *h, const char *worker_id, uint32_t capacity, uint64_t now_ms,
                 zr_hub_lease *out) {
  see(h, now_ms);
  memset(out, 0, sizeof *out);
  out->tasks = h->gbuf;
  if (capacity > h->gcap) {
    free(h->gbuf);
    h->gcap = capacity;
    h->gbuf = xcalloc(h->gcap, sizeof *h->gbuf);
    out->tasks = h->gbuf;
  }
  lease *l = NULL;
  int rc = 0;
  while (out->n_tasks < capacity) {
    group *g = h->pending.head;
    if (g) {
      LIST_UNLINK(&h->pending, g);
      grant_push(h, &l, worker_id, now_ms, g, out);
      continue;
    }
    if (h->source_done || h->live >= admission_limit(h)) break;
    zr_hub_task t = {0};
    int r = h->cfg.next_task(h->cfg.user, &t);
    if (r < 0) {
      rc = r;
      break;
    }
    if (r == 1) {
      h->source_done = 1;
      break;
    }
    ZR_ASSERT(t.task_id);
    tentry *te = task_get(h, t.task_id, t.epoch);
    if (te && te->outcome != ZR_HUB_OUTCOME_NONE) {
      h->c.tasks_skipped++;
      continue;
    }
    if (!te) te = task_add(h, t.task_id, t.epoch);
    g = group_new(h, te, t.task_index, 0);
    grant_push(h, &l, worker_id, now_ms, g, out);
  }
  if (l) {
    ltask *shrunk = realloc(l->t, l->n * sizeof(ltask));
    if (shrunk) l->t = shrunk;
    out->lease_id = l->id;
    out->deadline_ms = l->deadline;
  }
  return rc;
}

int zr_hub_release(zr_hub *h, uint64_t lease_id, const zr_hub_ref *refs, size_t n,
                   uint64_t now_ms) {
  see(h, now_ms);
  lease *l = zr_hub_idmap_get(&h->leases, lease_id);
  if (!l || !l->active)
    return zr_seterr(-ENOENT, "hub: release of %s lease %llu", l ? "ended" : "unknown",
                     (unsigned long long)lease_id);
  int count = 0;
  for (size_t i = 0; i < l->n && l->active; i++) {
    ltask *t = &l->t[i];
    if (n) {
      int named = 0;
      for (size_t k = 0; k < n && !named; k++)
        named = refs[k].group_id == t->group_id && refs[k].epoch == t->epoch &&
                refs[k].task_id && strcmp(refs[k].task_id, t->task_id) == 0;
      if (!named) continue;
    }
    group *g = zr_hub_idmap_get(&h->groups, t->group_id);
    if (!g || g->state != GROUP_LEASED || g->lease_id != l->id) continue;
    group_unbind(h, g);
    group_give_back(h, g);
    count++;
  }
  return count;
}

void zr_hub_tick(zr_hub *h, uint64_t now_ms) {
  see(h, now_ms);
  for (lease *l = h->active.head, *nx; l; l = nx) {
    nx = l->next;
    if (l->deadline <= now_ms) {
      lease_expire(h, l);
      nx = h->active.head; /* expiry may have changed the list; restart (expired ones left) */
    }
  }
  for (slot *s = h->scoring.head, *nx; s; s = nx) {
    nx = s->next;
    if (s->score_deadline <= now_ms) {
      score_return(h, s);
      nx = h->scoring.head;
    }
  }
  while (h->ended.head && h->ended.head->ended_at + h->cfg.lease_keep_ms <= now_ms)
    lease_forget(h, h->ended.head);
}

uint64_t zr_hub_next_deadline(const zr_hub *h) {
  uint64_t d = UINT64_MAX;
  for (const lease *l = h->active.head; l; l = l->next)
    if (l->deadline < d) d = l->deadline;
  for (const slot *s = h->scoring.head; s; s = s->next)
    if (s->score_deadline < d) d = s->score_deadline;
  if (h->ended.head && h->ended.head->ended_at + h->cfg.lease_keep_ms < d)
    d = h->ended.head->ended_at + h->cfg.lease_keep_ms;
  return d;
}

void zr_hub_worker_gone(zr_hub *h, const char *worker_id) {
  for (lease *l = h->active.head, *nx; l; l = nx) {
    nx = l->next;
    if (strcmp(l->worker, worker_id) == 0) {
      lease_expire(h, l);
      nx = h->active.head;
    }
  }
  for (slot *s = h->scoring.head, *nx; s; s = nx) {
    nx = s->next;
    if (strcmp(s->score_worker, worker_id) == 0) {
      score_return(h, s);
      nx = h->scoring.head;
    }
  }
}

/* ---- public: rollouts ------------------------------------------------------------------- */

zr_hub_result zr_hub_rollout(zr_hub *h, uint64_t lease_id, const char *task_id, uint32_t epoch,
                             uint64_t group_id, uint32_t sample_index, uint64_t min_token_version,
                             void *payload, uint64_t now_ms) {
  see(h, now_ms);
  lease *l = zr_hub_idmap_get(&h->leases, lease_id);
  if (!l) {
    h->c.dropped_bad++;
    return ZR_HUB_UNKNOWN_LEASE;
  }
  const ltask *t = NULL;
  for (size_t i = 0; i < l->n && !t; i++)
    if (l->t[i].group_id == group_id) t = &l->t[i];
  if (!t || !task_id || t->epoch != epoch || strcmp(t->task_id, task_id) != 0 ||
      sample_index < t->first || sample_index - t->first >= t->count) {
    h->c.dropped_bad++;
    return ZR_HUB_MISMATCH;
  }
  group *g = zr_hub_idmap_get(&h->groups, group_id);
  slot *s = g ? &g->slots[sample_index] : NULL;
  if (!s || s->state != SLOT_EMPTY) {
    h->c.duplicates++;
    return ZR_HUB_DUPLICATE;
  }
  s->payload = payload;
  s->min_ver = min_token_version;
  s->state = SLOT_WAITING;
  LIST_APPEND(&h->waiting, s);
  g->n_filled++;
  if (g->n_filled == h->cfg.group_size) {
    if (g->state == GROUP_PENDING) LIST_UNLINK(&h->pending, g);
    else if (g->state == GROUP_LEASED) group_unbind(h, g);
    g->state = GROUP_COLLECTING;
  }
  return ZR_HUB_ACCEPTED;
}

/* ---- public: scoring -------------------------------------------------------------------- */

int zr_hub_take_score(zr_hub *h, const char *worker_id, uint64_t now_ms, zr_hub_score_job *out) {
  see(h, now_ms);
  memset(out, 0, sizeof *out);
  slot *s = h->waiting.head;
  if (!s) return 1;
  LIST_UNLINK(&h->waiting, s);
  group *g = s->g;
  s->state = SLOT_SCORING;
  s->score_id = new_id(h);
  s->score_deadline = now_ms + h->cfg.score_timeout_ms;
  s->score_worker = xstrdup(worker_id);
  if (s->n_attempts == s->cap_attempts) {
    s->cap_attempts = s->cap_attempts ? s->cap_attempts * 2 : 2;
    s->attempt_ids = realloc(s->attempt_ids, s->cap_attempts * sizeof(uint64_t));
    ZR_ASSERT(s->attempt_ids);
  }
  s->attempt_ids[s->n_attempts++] = s->score_id;
  ZR_ASSERT(zr_hub_idmap_put(&h->scores, s->score_id, s) == 0);
  LIST_APPEND(&h->scoring, s);
  out->score_id = s->score_id;
  out->payload = s->payload;
  out->task_index = g->task_index;
  out->epoch = g->te->key.epoch;
  out->task_id = g->te->task_id;
  out->group_id = g->id;
  out->sample_index = s->idx;
  out->attempt = s->n_attempts;
  out->deadline_ms = s->score_deadline;
  return 0;
}

zr_hub_result zr_hub_scored(zr_hub *h, uint64_t score_id, double reward, int correct,
                            const double *components, int n_components, uint64_t now_ms) {
  see(h, now_ms);
  slot *s = zr_hub_idmap_get(&h->scores, score_id);
  if (!s) return ZR_HUB_UNKNOWN;
  if (s->state == SLOT_SCORED) {
    h->c.duplicates++;
    return ZR_HUB_DUPLICATE;
  }
  ZR_ASSERT(s->state == SLOT_WAITING || s->state == SLOT_SCORING);
  if (s->state == SLOT_WAITING) LIST_UNLINK(&h->waiting, s);
  else slot_clear_scoring(h, s);
  slot_set_score(h, s, reward, correct, components, n_components);
  return ZR_HUB_ACCEPTED;
}

/* ---- public: groups --------------------------------------------------------------------- */

int zr_hub_take_group(zr_hub *h, uint64_t current_version, zr_hub_group *out) {
  memset(out, 0, sizeof *out);
  uint32_t G = h->cfg.group_size;
  while (h->ready.head) {
    group *g = h->ready.head;
    uint64_t minv = UINT64_MAX;
    for (uint32_t i = 0; i < G; i++)
      if (g->slots[i].min_ver < minv) minv = g->slots[i].min_ver;
    uint64_t ms = h->cfg.max_staleness;
    if (current_version > ms && minv < current_version - ms) {
      /* too stale: re-train the task on fresh samples as a new group */
      h->c.dropped_stale++;
      h->c.retries++;
      tentry *te = g->te;
      size_t task_index = g->task_index;
      uint32_t retries = g->retries + 1;
      emit(h, ZR_HUB_EV_GROUP_STALE, te->task_id, te->key.epoch, g->id, 0, NULL, retries);
      group_destroy(h, g);
      if (retries > h->cfg.max_task_retries) {
        h->c.tasks_dropped++;
        te->outcome = ZR_HUB_OUTCOME_DROPPED;
        emit(h, ZR_HUB_EV_TASK_DROPPED, te->task_id, te->key.epoch, 0, 0, NULL, retries);
        continue;
      }
      group *ng = group_new(h, te, task_index, retries);
      ng->state = GROUP_PENDING;
      LIST_APPEND(&h->pending, ng);
      continue;
    }
    tentry *te = g->te;
    if (te->outcome == ZR_HUB_OUTCOME_TRAINED) h->c.double_trained++;
    ZR_ASSERT(te->outcome == ZR_HUB_OUTCOME_LIVE && te->group == g);
    out->task_index = g->task_index;
    out->epoch = te->key.epoch;
    out->task_id = xstrdup(te->task_id);
    out->group_id = g->id;
    out->group_size = G;
    out->min_token_version = minv;
    out->payloads = xcalloc(G, sizeof(void *));
    out->rewards = xcalloc(G, sizeof(double));
    out->correct = xcalloc(G, sizeof(int));
    out->n_components = xcalloc(G, sizeof(int));
    out->components = xcalloc(G, sizeof(double *));
    for (uint32_t i = 0; i < G; i++) {
      slot *s = &g->slots[i];
      out->payloads[i] = s->payload;
      s->payload = NULL;
      out->rewards[i] = s->reward;
      out->correct[i] = s->correct;
      out->n_components[i] = s->n_comp;
      out->components[i] = s->comp;
      s->comp = NULL;
    }
    te->outcome = ZR_HUB_OUTCOME_TRAINED;
    h->c.groups_trained++;
    group_destroy(h, g);
    return 0;
  }
  return 1;
}

void zr_hub_group_release(zr_hub *h, zr_hub_group *g) {
  if (!g) return;
  for (uint32_t i = 0; i < g->group_size; i++) {
    if (g->payloads) free_payload(h, g->payloads[i]);
    if (g->components) free(g->components[i]);
  }
  free(g->payloads);
  free(g->rewards);
  free(g->correct);
  free(g->n_components);
  free(g->components);
  free(g->task_id);
  memset(g, 0, sizeof *g);
}

/* ---- public: accounting ----------------------------------------------------------------- */

void zr_hub_counts_get(const zr_hub *h, zr_hub_counts *out) {
  *out = h->c;
  out->tasks_pending = h->pending.n;
  out->tasks_leased = h->n_leased;
  out->rollouts_waiting = h->waiting.n;
  out->rollouts_scoring = h->scoring.n;
  out->groups_ready = h->ready.n;
  out->groups_live = h->live;
  out->admission_limit = admission_limit(h);
}

int zr_hub_epoch_done(const zr_hub *h) { return h->source_done && h->live == 0; }

zr_hub_outcome zr_hub_outcome_of(const zr_hub *h, const char *task_id, uint32_t epoch) {
  const tentry *te = task_get(h, task_id, epoch);
  return te ? (zr_hub_outcome)te->outcome : ZR_HUB_OUTCOME_NONE;
}

size_t zr_hub_outcome_count(const zr_hub *h, uint32_t epoch, zr_hub_outcome outcome) {
  size_t n = 0;
  for (size_t i = 0; i < h->tasks.cap; i++) {
    const tentry *te = h->tasks.slots[i];
    if (te && te->key.epoch == epoch && te->outcome == outcome) n++;
  }
  return n;
}

/* ---- public: checkpoint ----------------------------------------------------------------- */

json_t *zr_hub_trained_to_json(const zr_hub *h) {
  json_t *done = json_array();
  for (size_t i = 0; i < h->tasks.cap; i++) {
    const tentry *te = h->tasks.slots[i];
    if (!te) continue;
    const char *what = te->outcome == ZR_HUB_OUTCOME_TRAINED    ? "trained"
                       : te->outcome == ZR_HUB_OUTCOME_FILTERED ? "filtered"
                                                                : NULL;
    if (!what) continue;
    json_array_append_new(done, json_pack("[s, I, s]", te->task_id, (json_int_t)te->key.epoch,
                                          what));
  }
  return json_pack("{s:i, s:o}", "version", 1, "done", done);
}

int zr_hub_trained_from_json(zr_hub *h, const json_t *j) {
  if (h->live) return zr_seterr(-EBUSY, "hub: cannot restore the trained set with %zu live groups", h->live);
  const json_t *done = json_is_object(j) ? json_object_get(j, "done") : NULL;
  const json_t *ver = json_is_object(j) ? json_object_get(j, "version") : NULL;
  if (!json_is_array(done) || !json_is_integer(ver) || json_integer_value(ver) != 1)
    return zr_seterr(-EINVAL, "hub trained set: want {\"version\":1,\"done\":[...]}");
  /* validate everything first so a bad entry changes nothing */
  for (size_t i = 0; i < json_array_size(done); i++) {
    const json_t *e = json_array_get(done, i);
    const json_t *w = json_array_get(e, 2);
    json_int_t ep = json_integer_value(json_array_get(e, 1));
    if (!json_is_array(e) || json_array_size(e) != 3 || !json_is_string(json_array_get(e, 0)) ||
        !json_is_integer(json_array_get(e, 1)) || ep < 0 || ep > (json_int_t)UINT32_MAX ||
        !json_is_string(w) ||
        (strcmp(json_string_value(w), "trained") && strcmp(json_string_value(w), "filtered")))
      return zr_seterr(-EINVAL,
                       "hub trained set: entry %zu must be [\"task_id\", epoch, "
                       "\"trained\"|\"filtered\"]",
                       i);
  }
  for (size_t i = 0; i < json_array_size(done); i++) {
    const json_t *e = json_array_get(done, i);
    const char *id = json_string_value(json_array_get(e, 0));
    uint32_t ep = (uint32_t)json_integer_value(json_array_get(e, 1));
    int trained = strcmp(json_string_value(json_array_get(e, 2)), "trained") == 0;
    tentry *te = task_get(h, id, ep);
    if (!te) te = task_add(h, id, ep);
    te->outcome = trained ? ZR_HUB_OUTCOME_TRAINED : ZR_HUB_OUTCOME_FILTERED;
  }
  return 0;
}

static int keep_epoch(void *e, void *arg) {
  const tentry *te = e;
  return te->outcome == ZR_HUB_OUTCOME_LIVE || te->key.epoch >= *(const uint32_t *)arg;
}

void zr_hub_forget_epochs_before(zr_hub *h, uint32_t epoch) {
  ZR_ASSERT(zr_hub_keytab_filter(&h->tasks, keep_epoch, tentry_drop, &epoch) == 0);
}
