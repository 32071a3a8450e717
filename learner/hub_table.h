/* hub_table.h: the small open-addressing hash tables behind zr_hub (private to learner/hub*.c).
 *
 * zr_hub_idmap maps non-zero 64-bit ids (lease, group, score ids) to pointers, linear probing with
 * backward-shift deletion, load <= 1/2. zr_hub_keytab maps (task_id, epoch) to caller-allocated
 * entries (the hub's zr_hub_tentry) keyed by xxh3 of the id plus the epoch, compared in full.
 * The tables own their slot arrays only, never the values. */
#ifndef ZR_HUB_TABLE_H
#define ZR_HUB_TABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct zr_hub_idmap {
  uint64_t *keys; /* 0 = empty */
  void **vals;
  size_t cap;     /* power of two or 0 */
  size_t n;
} zr_hub_idmap;

void zr_hub_idmap_release(zr_hub_idmap *m);
void *zr_hub_idmap_get(const zr_hub_idmap *m, uint64_t key);
/* Inserts or replaces; key != 0, val != NULL. 0 or -ENOMEM. */
int zr_hub_idmap_put(zr_hub_idmap *m, uint64_t key, void *val);
/* Removes key if present; returns its value or NULL. */
void *zr_hub_idmap_del(zr_hub_idmap *m, uint64_t key);

/* Entry stored in a zr_hub_keytab: the table reads hash, task_id and epoch. */
typedef struct zr_hub_keytab_key {
  uint64_t hash;
  const char *task_id;
  uint32_t epoch;
} zr_hub_keytab_key;

typedef struct zr_hub_keytab {
  void **slots;   /* each points to a struct whose first member is a zr_hub_keytab_key */
  size_t cap, n;
} zr_hub_keytab;

uint64_t zr_hub_keytab_hash(const char *task_id, uint32_t epoch);
void zr_hub_keytab_release(zr_hub_keytab *t);
void *zr_hub_keytab_get(const zr_hub_keytab *t, const char *task_id, uint32_t epoch, uint64_t hash);
/* Inserts an entry (not already present). 0 or -ENOMEM. */
int zr_hub_keytab_put(zr_hub_keytab *t, void *entry);
/* Rebuilds the table keeping entries for which keep(entry, arg) != 0; others are passed to
 * drop(entry, arg). 0 or -ENOMEM (then nothing changed). */
int zr_hub_keytab_filter(zr_hub_keytab *t, int (*keep)(void *entry, void *arg),
                      void (*drop)(void *entry, void *arg), void *arg);

#endif
