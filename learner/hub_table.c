/* hub_table.c: open-addressing tables for the hub (see hub_table.h). */
#include "learner/hub_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static size_t mix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return (size_t)k;
}

void zr_hub_idmap_release(zr_hub_idmap *m) {
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

static size_t u64_find(const zr_hub_idmap *m, uint64_t key) {
  size_t mask = m->cap - 1, i = mix64(key) & mask;
  while (m->keys[i] && m->keys[i] != key) i = (i + 1) & mask;
  return i;
}

void *zr_hub_idmap_get(const zr_hub_idmap *m, uint64_t key) {
  if (!m->cap || !key) return NULL;
  size_t i = u64_find(m, key);
  return m->keys[i] ? m->vals[i] : NULL;
}

static int u64_grow(zr_hub_idmap *m) {
  size_t ncap = m->cap ? m->cap * 2 : 16;
  zr_hub_idmap nm = {calloc(ncap, sizeof(uint64_t)), calloc(ncap, sizeof(void *)), ncap, 0};
  if (!nm.keys || !nm.vals) {
    free(nm.keys);
    free(nm.vals);
    return -ENOMEM;
  }
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->keys[i]) continue;
    size_t j = u64_find(&nm, m->keys[i]);
    nm.keys[j] = m->keys[i];
    nm.vals[j] = m->vals[i];
    nm.n++;
  }
  free(m->keys);
  free(m->vals);
  *m = nm;
  return 0;
}

int zr_hub_idmap_put(zr_hub_idmap *m, uint64_t key, void *val) {
  if ((m->n + 1) * 2 > m->cap) {
    int rc = u64_grow(m);
    if (rc) return rc;
  }
  size_t i = u64_find(m, key);
  if (!m->keys[i]) m->n++;
  m->keys[i] = key;
  m->vals[i] = val;
  return 0;
}

void *zr_hub_idmap_del(zr_hub_idmap *m, uint64_t key) {
  if (!m->cap || !key) return NULL;
  size_t mask = m->cap - 1, i = u64_find(m, key);
  if (!m->keys[i]) return NULL;
  void *val = m->vals[i];
  /* backward-shift deletion: pull later members of the probe run into the hole */
  size_t hole = i, j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (!m->keys[j]) break;
    size_t home = mix64(m->keys[j]) & mask;
    /* j may move into hole when home is not cyclically within (hole, j] */
    int in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!in_range) {
      m->keys[hole] = m->keys[j];
      m->vals[hole] = m->vals[j];
      hole = j;
    }
  }
  m->keys[hole] = 0;
  m->vals[hole] = NULL;
  m->n--;
  return val;
}

/* ---- taskset ---------------------------------------------------------------------------- */

uint64_t zr_hub_keytab_hash(const char *task_id, uint32_t epoch) {
  return zr_checksum64(task_id, strlen(task_id)) ^ ((uint64_t)epoch * 0x9e3779b97f4a7c15ULL);
}

void zr_hub_keytab_release(zr_hub_keytab *t) {
  free(t->slots);
  memset(t, 0, sizeof *t);
}

static size_t ts_find(void *const *slots, size_t cap, const char *task_id, uint32_t epoch,
                      uint64_t hash) {
  size_t mask = cap - 1, i = mix64(hash) & mask;
  for (;;) {
    const zr_hub_keytab_key *k = slots[i];
    if (!k) return i;
    if (k->hash == hash && k->epoch == epoch && strcmp(k->task_id, task_id) == 0) return i;
    i = (i + 1) & mask;
  }
}

void *zr_hub_keytab_get(const zr_hub_keytab *t, const char *task_id, uint32_t epoch, uint64_t hash) {
  if (!t->cap) return NULL;
  return t->slots[ts_find(t->slots, t->cap, task_id, epoch, hash)];
}

static int ts_rebuild(zr_hub_keytab *t, size_t ncap, int (*keep)(void *, void *),
                      void (*drop)(void *, void *), void *arg) {
  void **ns = calloc(ncap, sizeof(void *));
  if (!ns) return -ENOMEM;
  size_t n = 0;
  for (size_t i = 0; i < t->cap; i++) {
    void *e = t->slots[i];
    if (!e) continue;
    if (keep && !keep(e, arg)) {
      if (drop) drop(e, arg);
      continue;
    }
    const zr_hub_keytab_key *k = e;
    ns[ts_find(ns, ncap, k->task_id, k->epoch, k->hash)] = e;
    n++;
  }
  free(t->slots);
  t->slots = ns;
  t->cap = ncap;
  t->n = n;
  return 0;
}

int zr_hub_keytab_put(zr_hub_keytab *t, void *entry) {
  if ((t->n + 1) * 2 > t->cap) {
    int rc = ts_rebuild(t, t->cap ? t->cap * 2 : 64, NULL, NULL, NULL);
    if (rc) return rc;
  }
  const zr_hub_keytab_key *k = entry;
  size_t i = ts_find(t->slots, t->cap, k->task_id, k->epoch, k->hash);
  if (!t->slots[i]) t->n++;
  t->slots[i] = entry;
  return 0;
}

int zr_hub_keytab_filter(zr_hub_keytab *t, int (*keep)(void *entry, void *arg),
                      void (*drop)(void *entry, void *arg), void *arg) {
  if (!t->cap) return 0;
  return ts_rebuild(t, t->cap, keep, drop, arg);
}
