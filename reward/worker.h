/* worker.h: the reward worker behind `zerorl-reward` (DESIGN.md sections 3 and 4).
 *
 * A zr_rworker connects a DEALER to the learner's work endpoint and asks for rollouts only
 * when it has free slots: WorkRequest{role REWARD, free_capacity = free slots}, sent at start,
 * after every completed score and, while nothing arrives, every ask_interval_ms (so that a
 * restarted learner hears from it again). A WorkRequest states the worker's free slots at the
 * time it is sent; the learner's credit for the worker is the latest request's figure.
 *
 * Every incoming message goes through zr_frame_decode with the job id; a bad one (garbage,
 * wrong job, wrong version, not a ScoreRequest) is dropped, counted and logged at most once a
 * minute per sender and reason. A ScoreRequest becomes a job for a pool of `slots` worker
 * threads, which score it with zr_rworker_score (math, exact and countdown through the reward
 * scorer; code through zr_codetest_run_completion in the sandbox); the loop thread never
 * computes. Results come back through a uv_async_t and leave as ScoredRollout. A check whose
 * thread has not answered by its budget plus grace_ms is answered by the loop with status
 * TIMEOUT and timeout_reward, so a hung check never holds up the learner; its slot stays busy
 * until the thread returns.
 *
 * The worker keeps a heartbeat (common/heartbeat.h, role "reward") with the extra fields
 * slots, slots_busy, scored, timeouts and dropped_bad, and throughput in rollouts/s; Redis
 * being down never stops scoring.
 *
 * zr_rworker_drain (SIGTERM): stop asking, finish and send every job in flight (bounded by
 * their budgets), flush the socket, delete the heartbeat, then call done.
 *
 * Ownership: the caller owns the loop and the zmq context; the worker owns its socket, its
 * Redis client, its heartbeat, its threads and its jobs. Everything but zr_rworker_score runs
 * on the loop thread; zr_rworker_free joins the threads and releases memory from libuv close
 * callbacks, so keep running the loop afterwards. zr_rworker_score is thread-safe. */
#ifndef ZR_REWARD_WORKER_H
#define ZR_REWARD_WORKER_H

#include <stdint.h>
#include <uv.h>

#include "common/config.h"
#include "common/simdist.h"
#include "common/redis.h"
#include "common/zsock.h"
#include "reward/reward.h"
#include "zerorl.pb-c.h"

/* ---- scoring one request (any thread) ---------------------------------------------------- */

typedef struct {
  double reward;
  zr_verify_status status;
  int correct;
  zr_reward_component components[ZR_REWARD_MAX_COMPONENTS];
  int n_components;
  char detail[256];
  uint32_t score_ms;
} zr_rscore;

/* Scores req within budget_ms: a check that takes longer, or that ran out of its time, gets
 * status TIMEOUT and reward timeout_reward. A bad spec (unknown kind, extractor or reward
 * name, unparsable tests) gives status ERROR with a detail naming it. Never fails. */
void zr_rworker_score(const Zerorl__ScoreRequest *req, uint32_t budget_ms, double timeout_reward,
                      zr_rscore *out);

/* `[reward] engine = sim`: the simulated scorer, for scale tests without real checks. It sleeps
 * uniformly 0.5 .. 1.5 x mean_ms (on the calling worker thread, like a real check) and scores
 * reward 1 with probability p_correct, else 0: status OK, one "accuracy" component. The
 * request itself is not looked at beyond what the daemon echoes back. */
void zr_rworker_score_sim(double mean_ms, double p_correct, zr_simrng *rng, zr_rscore *out);

/* ---- the daemon -------------------------------------------------------------------------- */

typedef struct {
  const char *job_id;           /* required; messages of other jobs are dropped */
  const char *worker_id;        /* required: sender id and heartbeat key component */
  const char *endpoint;         /* the learner's work endpoint, e.g. tcp://host:5555 */
  int slots;                    /* checks at once (threads); >= 1 */
  uint32_t default_deadline_ms; /* budget of a request without deadline_ms */
  double timeout_reward;
  uint32_t ask_interval_ms;     /* re-ask period while nothing arrives; default 1000 */
  uint32_t grace_ms;            /* budget overrun before the loop answers TIMEOUT; default 2000 */
  zr_zsock_opts zsock;          /* DEALER options */
  zr_redis_opts redis;
  const char *key_prefix;       /* heartbeat key prefix; NULL = default */
  uint32_t heartbeat_interval_ms, heartbeat_ttl_ms; /* 0 = heartbeat defaults */
  bool sim;                     /* score with zr_rworker_score_sim (heartbeat field engine = sim) */
  double sim_score_ms, sim_correct;
} zr_rworker_opts;

/* Defaults for the optional fields; the caller sets job_id, worker_id, endpoint, slots. */
void zr_rworker_opts_init(zr_rworker_opts *o);

/* Fills o from a loaded, validated job config: job id, slots, deadlines, [net] socket options
 * and endpoint (learner_host with the port of learner_tasks), [redis] and [security]. String
 * fields point into c or into buffers (endpoint and CURVE keys, 64 + 3 * 41 bytes) the caller
 * passes in keybuf / epbuf. Returns 0 or -EINVAL with zr_errmsg() (no job id, unreadable key). */
int zr_rworker_opts_from_config(zr_rworker_opts *o, const zr_config *c, char *epbuf, size_t epcap,
                                char keybuf[3][41]);

typedef struct zr_rworker zr_rworker;

typedef struct {
  uint64_t received;    /* ScoreRequests accepted */
  uint64_t scored;      /* ScoredRollouts sent */
  uint64_t timeouts;    /* of which TIMEOUT */
  uint64_t dropped_bad; /* messages dropped by the checks */
  uint64_t asks;        /* WorkRequests sent */
  int busy;             /* slots in use now */
} zr_rworker_stats;

/* Creates the worker, connects its socket and Redis client, starts the threads, the
 * heartbeat and the first request. NULL with zr_errmsg() on failure. */
zr_rworker *zr_rworker_new(uv_loop_t *loop, void *zmq_ctx, const zr_rworker_opts *o);

typedef void (*zr_rworker_done_cb)(void *user);

/* Starts draining (see the top comment); done runs once, on the loop, when it is over.
 * Calling it again does nothing. */
void zr_rworker_drain(zr_rworker *w, zr_rworker_done_cb done, void *user);

zr_rworker_stats zr_rworker_get_stats(const zr_rworker *w);

/* Stops everything, joins the threads (unless a check is stuck past its budget, in which case
 * its memory is left behind), closes the socket and the Redis client; clears *w. NULL-safe. */
void zr_rworker_free(zr_rworker **w);

#endif
