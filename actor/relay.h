/* relay.h: actors re-serving weight versions to other actors (a relay tree), and the routing of
 * an actor's chunk requests between its parent relay and the learner.
 *
 * Why. When N actors fetch a version from the learner, N copies cross the learner's link, so
 * delivery time grows linearly with N. With `[actor] relay_listen` set, an actor also serves the
 * version it holds (the complete held version, and while it is still fetching, every chunk it has
 * already verified) on its own ROUTER; other actors fetch from it, the copies fan out over a
 * tree and delivery time grows with log(actors) instead (docs/scale.md, "Weight distribution").
 *
 * Trust. Nothing a relay sends is trusted: the receiver checks every chunk against the per-chunk
 * checksums the LEARNER announced, and the whole buffer against the learner's whole checksum
 * (zr_wsync_chunk). Versions are content-addressed: a WeightChunkRequest carries the version's
 * whole checksum and a relay serves only the version with that checksum.
 *
 * Routing (zr_relay_pump). The first request of a chunk goes to the parent relay (when one is set
 * and has not failed this version); every refetch (timeout, failed checksum, error reply) goes to
 * the learner. A parent that failed parent_max_failures chunks of the version being fetched is
 * not asked again for that version. A parent that has answered nothing at all for
 * parent_timeout_ms since a request was sent to it is down: its outstanding chunks go to the
 * learner at once and it is skipped, across versions, until 3 x parent_timeout_ms have passed or
 * the parent changes (without this, a dead parent would starve its children for as long as new
 * versions come faster than the request timeout: every new fetch would try the parent first).
 * So a lying relay costs a refetch from the learner and a dead one a request timeout: never bad
 * weights, never a hang.
 *
 * Serving. A request for a chunk this relay does not have yet (the version is being fetched, or
 * not announced here yet: announcements reach actors at slightly different times) is parked and
 * answered as soon as the chunk is verified (zr_relay_poke after each accepted chunk, and a 100 ms
 * timer), which pipelines the tree. Requests parked longer than park_ms, for a version older than
 * the newest one here, or beyond max_parked are answered with WeightChunk.error, which sends the
 * receiver to the learner at once.
 *
 * Parent choice (zr_relay_pick_parent): deterministic over the live relay endpoints (the actor
 * reads them from Redis, PREFIX:job:JOB:relays, see common/keys.h): sorted, they form a
 * fanout-ary tree rooted at the learner. A relay's parent always sorts before it, so actors whose
 * views of the list differ can never form a cycle.
 *
 * Threads and ownership: a zr_relay belongs to its loop thread, like the zr_wsync it serves from
 * (borrowed; it must outlive the relay). zr_relay_free closes the sockets at once and releases the
 * rest when the loop runs the close callbacks. */
#ifndef ZR_RELAY_H
#define ZR_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "actor/wsync.h"
#include "common/zsock.h"

typedef struct {
  const char *job_id, *sender_id; /* envelope fields (copied) */
  zr_zsock_opts zsock;            /* the ROUTER and the parent DEALER (routing_id is ignored) */
  const char *listen;             /* ROUTER bind address (tcp://0.0.0.0:5600); NULL or "" = don't serve */
  uint32_t park_ms;               /* longest a request waits for a chunk not here yet (5000) */
  uint32_t max_parked;            /* requests parked at once (4096) */
  uint32_t parent_max_failures;   /* chunks a parent may fail per version before it is dropped (3) */
  uint32_t parent_timeout_ms;     /* a parent that answers nothing for this long is skipped (10000; use the
                                     wsync request timeout) */
} zr_relay_opts;

void zr_relay_opts_init(zr_relay_opts *o);

typedef struct zr_relay zr_relay;

typedef struct {
  uint64_t served_chunks, served_bytes; /* chunks answered from this relay */
  uint64_t refused;                     /* answered with an error (not held, expired, too many) */
  uint64_t parked;                      /* requests that had to wait (cumulative) */
  uint64_t bad_requests;                /* undecodable or of another type */
  uint64_t to_parent, to_learner;       /* chunk requests sent by zr_relay_pump */
  uint64_t parent_failures;             /* chunks first asked of the parent and refetched */
  uint64_t parents_dropped;             /* versions for which the parent was given up */
  uint64_t parents_down;                /* times the parent answered nothing for parent_timeout_ms */
} zr_relay_stats;

/* ws: the actor's wsync (create it with keep_held so the complete version stays servable).
 * on_parent: receive callback for the parent DEALER's replies (WeightChunk), handled exactly as
 * the learner's: zr_wsync_chunk (or zr_wsync_refused for an error reply), then zr_relay_poke.
 * NULL with zr_errmsg() on failure (e.g. the listen address cannot be bound). */
zr_relay *zr_relay_new(uv_loop_t *loop, void *zmq_ctx, const zr_relay_opts *o, zr_wsync *ws,
                       zr_zsock_recv_cb on_parent, void *user);
void zr_relay_free(zr_relay **r);

/* The bound ROUTER address (e.g. tcp://0.0.0.0:41234); -ENOENT when not serving. */
int zr_relay_endpoint(zr_relay *r, char *out, size_t cap);

/* Sets the parent relay (NULL or "" = none: everything from the learner); reconnects only when it
 * changes. */
int zr_relay_set_parent(zr_relay *r, const char *endpoint);
const char *zr_relay_parent(const zr_relay *r); /* "" when none */

/* Sends the chunk requests the wsync wants now: first tries to the parent, refetches to
 * `learner` (a DEALER connected to the learner's chunk ROUTER). Returns how many were sent. */
int zr_relay_pump(zr_relay *r, zr_zsock *learner, uint64_t now_ms);

/* Answers the parked requests that can be answered now and expires old ones. Call after every
 * accepted chunk and every offer / take (a 100 ms timer also calls it). */
void zr_relay_poke(zr_relay *r, uint64_t now_ms);

/* Test hook: the next serve of chunk `index` (any version) has one byte flipped. */
void zr_relay_corrupt_once(zr_relay *r, uint32_t index);

zr_relay_stats zr_relay_get_stats(const zr_relay *r);

/* The parent of `self` in the relay tree over endpoints[0..n) (any order, duplicates ignored;
 * self may or may not be among them): sorted, node i (0-based) has node i/fanout - 1 as its
 * parent, node -1 being the learner. self not in the list (an actor that does not relay) gets a
 * relay chosen by a hash of self. Writes the parent's endpoint into out, or "" for the learner.
 * 0, or -ENOSPC / -ENOMEM / -EINVAL. */
int zr_relay_pick_parent(const char *const *endpoints, size_t n, const char *self, unsigned fanout, char *out,
                         size_t cap);

#endif
