/* tasks_order.c: the order a run walks a dataset in, and its resumable cursor (tasks.h).
 *
 * Epoch e visits every index once. With shuffle, position p of epoch e is P_k(p), where P_k is
 * a 6-round Feistel permutation of [0, 2^bits) (bits even, 2^bits >= n) keyed by
 * k = mix(seed, e), walked in cycles until the value falls in [0, n) (a bijection of [0, n);
 * fewer than 4 steps expected). Nothing is stored, so any (seed, epoch, pos) resumes exactly. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "learner/tasks.h"

static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static uint64_t feistel(uint64_t x, unsigned half, uint64_t key) {
  uint64_t mask = half >= 64 ? ~0ull : ((1ull << half) - 1);
  uint64_t l = x >> half, r = x & mask;
  for (uint64_t round = 0; round < 6; round++) {
    uint64_t f = mix64(r ^ mix64(key + round)) & mask;
    uint64_t nl = r;
    r = l ^ f;
    l = nl;
  }
  return (l << half) | r;
}

size_t zr_dataset_index(const zr_dataset *d, uint32_t epoch, uint64_t pos) {
  ZR_ASSERT(d->n > 0 && pos < d->n);
  if (!d->shuffle || d->n == 1) return (size_t)pos;
  unsigned bits = 2;
  while (bits < 64 && ((uint64_t)1 << bits) < (uint64_t)d->n) bits += 2;
  uint64_t key = mix64(d->seed ^ mix64(0x7461736b73ull + epoch)); /* "tasks" */
  uint64_t x = pos;
  do x = feistel(x, bits / 2, key);
  while (x >= d->n);
  return (size_t)x;
}

int zr_dataset_init(zr_dataset *d, size_t n, uint64_t seed, uint32_t max_epochs, bool shuffle) {
  memset(d, 0, sizeof *d);
  if (n == 0) return zr_seterr(-EINVAL, "dataset: no tasks");
  d->n = n;
  d->seed = seed;
  d->max_epochs = max_epochs;
  d->shuffle = shuffle;
  return 0;
}

int zr_dataset_next(zr_dataset *d, size_t *index, uint32_t *epoch) {
  ZR_ASSERT(d->n > 0);
  if (d->max_epochs && d->epoch >= d->max_epochs) return 1;
  *index = zr_dataset_index(d, d->epoch, d->pos);
  *epoch = d->epoch;
  if (++d->pos >= d->n) {
    d->pos = 0;
    d->epoch++;
  }
  return 0;
}

void zr_dataset_get_cursor(const zr_dataset *d, zr_cursor *c) {
  c->seed = d->seed;
  c->epoch = d->epoch;
  c->pos = d->pos;
}

int zr_dataset_set_cursor(zr_dataset *d, const zr_cursor *c) {
  if (c->pos > d->n)
    return zr_seterr(-EINVAL, "dataset cursor: position %" PRIu64 " past the %zu tasks (the task file changed?)", c->pos,
                     d->n);
  uint32_t epoch = c->epoch;
  uint64_t pos = c->pos;
  if (pos == d->n) {
    pos = 0;
    epoch++;
  }
  if (d->max_epochs && (epoch > d->max_epochs || (epoch == d->max_epochs && pos != 0)))
    return zr_seterr(-EINVAL, "dataset cursor: epoch %" PRIu32 " past the last (%" PRIu32 ")", c->epoch, d->max_epochs);
  d->seed = c->seed;
  d->epoch = epoch;
  d->pos = pos;
  return 0;
}

json_t *zr_cursor_to_json(const zr_cursor *c) {
  json_t *seed;
  if (c->seed <= (uint64_t)INT64_MAX) seed = json_integer((json_int_t)c->seed);
  else {
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, c->seed);
    seed = json_string(buf);
  }
  return json_pack("{s:o, s:I, s:I}", "seed", seed, "epoch", (json_int_t)c->epoch, "pos", (json_int_t)c->pos);
}

int zr_cursor_from_json(const json_t *j, zr_cursor *out) {
  if (!json_is_object(j)) return zr_seterr(-EINVAL, "dataset cursor: expected a JSON object");
  zr_cursor c = {0};
  json_t *s = json_object_get(j, "seed"), *e = json_object_get(j, "epoch"), *p = json_object_get(j, "pos");
  if (json_is_integer(s) && json_integer_value(s) >= 0) {
    c.seed = (uint64_t)json_integer_value(s);
  } else if (json_is_string(s)) {
    const char *t = json_string_value(s);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(t, &end, 10);
    if (!*t || *end || errno || t[0] == '-' || t[0] == ' ' || t[0] == '+')
      return zr_seterr(-EINVAL, "dataset cursor: seed: '%s' is not a decimal uint64", t);
    c.seed = (uint64_t)v;
  } else {
    return zr_seterr(-EINVAL, "dataset cursor: seed: missing or not a non-negative integer");
  }
  if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > (json_int_t)UINT32_MAX)
    return zr_seterr(-EINVAL, "dataset cursor: epoch: missing or not an integer in [0, 2^32)");
  if (!json_is_integer(p) || json_integer_value(p) < 0)
    return zr_seterr(-EINVAL, "dataset cursor: pos: missing or not a non-negative integer");
  c.epoch = (uint32_t)json_integer_value(e);
  c.pos = (uint64_t)json_integer_value(p);
  *out = c;
  return 0;
}
