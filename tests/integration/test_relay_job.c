/* Whole-job test of the weight relay tree (actor/relay.h, docs/scale.md "Weight distribution")
 * with the real daemons: one zerorl-learner (mode rl, a tiny random model), N_ACTORS
 * zerorl-actor processes with `[actor] engine = model` (they fetch and apply every version) and
 * `relay_listen` on their own tcp://127.0.0.1 ports, `relay_fanout = 2`, one zerorl-reward with
 * `[reward] engine = sim` (rewards 1 with probability 0.5, so groups have a signal and the learner
 * steps and publishes a new version every batch), a private redis-server. Sorted by endpoint the
 * relays form the tree learner -> {r0, r1}, r0 -> {r2, r3}. Checks:
 *
 *   tree       every actor's heartbeat names the parent the tree gives it (relay_parent); r2
 *              and r3 receive verified chunks from their relay parent (weight_chunks_from_relay
 *              > 0), r0 and r1 from the learner only
 *   kill       r0 (parent of r2 and r3) is SIGKILLed mid-job: r2 and r3 fall back (r0 answers
 *              nothing for chunk_timeout: they log it and fetch from the learner, and apply a newer
 *              version well before r0's entry leaves the relay set, ZR_RELAY_TTL_MS; after that
 *              they re-pick their parent) and keep applying newer versions
 *   job        the learner exits 0, every task is in trained.jsonl exactly once, the surviving
 *              actors end on the job's final policy_version
 *   counts     the learner served (queue hash weight_chunks_served) fewer chunks than the actors
 *              received in all (sum of weight_chunks_from_learner + weight_chunks_from_relay);
 *              no actor dropped a bad message
 *
 * Every child is killed at exit; the temporary directory is removed (kept with ZR_JOB_KEEP=1). */
#include <hiredis/hiredis.h>
#include <stdbool.h>

#include "common/keys.h"
#include "tests/integration/job_util.h"
#include "tests/redis_server.h"
#include "tests/test.h"

#define N_TASKS 240
#define G 4
#define N_ACTORS 4
#define FANOUT 2

static ju_daemons bin;
static ju_workdir work;
static zr_test_redis srv;
static ju_job job;      /* jt-relay */
static char rkey[256]; /* the relay set */

typedef struct {
  char id[32], ep[64], log[1200];
  pid_t pid;
  bool dead;
  /* last heartbeat read */
  long long version, from_learner, from_relay, served, dropped;
  char parent[64];
} actor;

static actor act[N_ACTORS];
static int order[N_ACTORS]; /* act[] indices sorted by endpoint: the tree's node numbers */

static void write_config(void) {
  char sections[4096];
  snprintf(sections, sizeof sections,
           "[job]\nid = %s\nname = relay\nrun_dir = %s\n"
           "[model]\npath = %s\nthreads = 1\n"
           "[data]\ntrain = %s\ntemplate = raw\nepochs = 1\n"
           "[algo]\ngroup_size = %d\ngroups_per_batch = 2\nmax_new_tokens = 32\nmax_staleness = 16\n"
           "[actor]\nslots = 8\nmax_len = 96\nthreads = 1\nlease_margin = 500ms\nask_interval = 200ms\n"
           "chunk_timeout = 2s\nrelay_fanout = %d\n"
           "[reward]\nengine = sim\nsim_score_time = 100ms\nsim_correct = 0.5\n"
           "[learner]\nlr = 1e-4\ntotal_steps = 100000\ncheckpoint_every = 0\nlease = 3s\nscore_deadline = 5s\n"
           "drain_timeout = 4s\nmax_task_retries = 50\nchunk_bytes = 32KiB\n",
           job.id, job.run, work.model, work.tasks, G, FANOUT);
  CHECK_INT(ju_write_config(&job, sections, srv.sock, NULL), 0);
}

static pid_t start_actor(actor *x) {
  char set[128];
  snprintf(set, sizeof set, "actor.relay_listen=%s", x->ep);
  char *argv[] = {bin.actor, "--config", job.cfg, "--id", x->id, "--threads", "1", "--set", set, NULL};
  return ju_spawn(x->log, argv);
}

static pid_t start_reward(void) {
  char log[400];
  snprintf(log, sizeof log, "%s/logs/rw-1.log", job.run);
  char *argv[] = {bin.reward, "--config", job.cfg, "--id", "rw-1", "--slots", "2", NULL};
  return ju_spawn(log, argv);
}

/* Reads x's heartbeat hash; 0 when it exists. */
static int read_actor(actor *x) {
  char key[ZR_KEY_MAX];
  zr_key_worker(key, sizeof key, ZR_KEY_PREFIX_DEFAULT, job.id, "actor", x->id);
  char *v = ju_hget(srv.sock, key, "policy_version");
  if (!v) return -1;
  x->version = atoll(v);
  free(v);
  x->from_learner = ju_hget_ll(srv.sock, key, "weight_chunks_from_learner");
  x->from_relay = ju_hget_ll(srv.sock, key, "weight_chunks_from_relay");
  x->served = ju_hget_ll(srv.sock, key, "relay_chunks_served");
  x->dropped = ju_hget_ll(srv.sock, key, "dropped_bad");
  char *p = ju_hget(srv.sock, key, "relay_parent");
  snprintf(x->parent, sizeof x->parent, "%s", p ? p : "?");
  free(p);
  return 0;
}

/* The parent the tree gives node k (sorted position) among the live actors: endpoint or "learner". */
static const char *want_parent(int k) {
  int live[N_ACTORS], n = 0;
  for (int i = 0; i < N_ACTORS; i++)
    if (!act[order[i]].dead) live[n++] = order[i];
  int pos = -1;
  for (int i = 0; i < n; i++)
    if (live[i] == order[k]) pos = i;
  int p = pos / FANOUT;
  return p > 0 ? act[live[p - 1]].ep : "learner";
}

static void show(const char *when) {
  for (int k = 0; k < N_ACTORS; k++) {
    actor *x = &act[order[k]];
    fprintf(stderr, "%s: r%d %s %s%s v%lld parent=%s from_learner=%lld from_relay=%lld served=%lld\n", when, k, x->id,
            x->ep, x->dead ? " (killed)" : "", x->version, x->parent, x->from_learner, x->from_relay, x->served);
  }
}

static int cmp_ep(const void *a, const void *b) { return strcmp(act[*(const int *)a].ep, act[*(const int *)b].ep); }

int main(void) {
  ju_find_daemons_or_skip(&bin, ju_build_dir_or_skip());
  if (ju_start(&work, "/tmp/zrrelay-XXXXXX", "ZR_JOB_KEEP", &srv) != 0) return 1;
  ju_job_init(&job, work.root, "relay", "jt-");
  zr_key_job_relays(rkey, sizeof rkey, ZR_KEY_PREFIX_DEFAULT, job.id);
  CHECK_INT(ju_init_tiny_model(bin.zerorl, work.model, 4, 128, 256), 0);
  CHECK_INT(ju_gen_arith(bin.zerorl, N_TASKS, false, work.tasks), 0);
  write_config();
  if (zr_test_failures) return TEST_DONE();

  for (int i = 0; i < N_ACTORS; i++) {
    actor *x = &act[i];
    snprintf(x->id, sizeof x->id, "relay-actor-%d", i);
    int port = zr_test_redis_free_port();
    CHECK(port > 0);
    snprintf(x->ep, sizeof x->ep, "tcp://127.0.0.1:%d", port);
    snprintf(x->log, sizeof x->log, "%s/logs/relay-actor-%d.log", job.run, i);
    order[i] = i;
  }
  qsort(order, N_ACTORS, sizeof *order, cmp_ep);
  uint64_t t0 = ju_now_ms();
  pid_t learner = ju_start_learner(bin.learner, &job, NULL, false);
  pid_t rw = start_reward();
  for (int i = 0; i < N_ACTORS; i++) act[i].pid = start_actor(&act[i]);

  /* ---- tree: every parent as the tree says, chunks through the relays ---- */
  actor *r0 = &act[order[0]], *c1 = &act[order[2]], *c2 = &act[order[3]];
  bool formed = false;
  uint64_t deadline = ju_now_ms() + 120000;
  while (!formed && ju_now_ms() < deadline) {
    ju_sleep_ms(300);
    formed = true;
    for (int k = 0; k < N_ACTORS; k++) {
      actor *x = &act[order[k]];
      if (read_actor(x) < 0 || strcmp(x->parent, want_parent(k)) != 0) formed = false;
    }
    /* a few versions through the tree, so the kill below is mid-job with the tree working */
    formed = formed && c1->from_relay > 0 && c2->from_relay > 0 && r0->served > 0 && r0->version >= 2;
  }
  fprintf(stderr, "tree %s after %.1f s; %d groups trained\n", formed ? "formed" : "NOT formed",
          (double)(ju_now_ms() - t0) / 1000, ju_count_lines(job.trained));
  show("before the kill");
  CHECK(formed);
  for (int k = 0; k < N_ACTORS; k++) CHECK_STR(act[order[k]].parent, want_parent(k));
  CHECK(c1->from_relay > 0);
  CHECK(c2->from_relay > 0);
  CHECK(r0->served > 0);
  CHECK_INT(act[order[0]].from_relay, 0); /* the learner's children */
  CHECK_INT(act[order[1]].from_relay, 0);
  CHECK(ju_count_lines(job.trained) < N_TASKS * 3 / 4); /* still mid-job */
  redisReply *relays = ju_command(srv.sock, "ZCARD %s", rkey);
  CHECK(relays && relays->type == REDIS_REPLY_INTEGER && relays->integer == N_ACTORS);
  if (relays) freeReplyObject(relays);

  /* ---- kill: r0, the relay of r2 and r3 ---- */
  long long v_kill = ju_hget_ll(srv.sock, job.key, "policy_version");
  long long c1_learner = c1->from_learner, c2_learner = c2->from_learner;
  long long r0_received = r0->from_learner + r0->from_relay;
  ju_stop(r0->pid, SIGKILL, 2000);
  r0->dead = true;
  uint64_t t_kill = ju_now_ms();
  fprintf(stderr, "SIGKILL to r0 (%s) at policy version %lld, %d groups trained\n", r0->id, v_kill,
          ju_count_lines(job.trained));
  /* r2 and r3 fall back at once: r0 answers nothing for chunk_timeout (2 s), they fetch from the
   * learner (not only after r0's entry in the relay set expires, ZR_RELAY_TTL_MS) */
  bool moved = false;
  while (!moved && ju_now_ms() < t_kill + ZR_RELAY_TTL_MS) {
    ju_sleep_ms(200);
    moved = read_actor(c1) == 0 && read_actor(c2) == 0 && c1->version > v_kill && c2->version > v_kill;
  }
  fprintf(stderr, "r2 and r3 on a newer version (v%lld, v%lld) %.1f s after the kill\n", c1->version, c2->version,
          (double)(ju_now_ms() - t_kill) / 1000);
  CHECK(moved);

  /* ---- job: ends, exactly once ---- */
  ju_expect_learner_done(job.name, job.trained, learner, 300000);
  ju_expect_exactly_once(job.name, job.trained, work.tasks, G, N_TASKS);
  long long v_final = ju_hget_ll(srv.sock, job.key, "policy_version");
  long long served = ju_hget_ll(srv.sock, job.qkey, "weight_chunks_served");
  fprintf(stderr, "job done %.1f s after the kill: final policy version %lld\n", (double)(ju_now_ms() - t_kill) / 1000,
          v_final);
  CHECK(v_final > v_kill);

  /* the survivors end on the final version (the relays keep serving after the learner is gone) */
  bool latest = false;
  deadline = ju_now_ms() + 30000;
  while (!latest && ju_now_ms() < deadline) {
    latest = true;
    for (int k = 1; k < N_ACTORS; k++) {
      actor *x = &act[order[k]];
      if (read_actor(x) < 0 || x->version != v_final) latest = false;
    }
    if (!latest) ju_sleep_ms(300);
  }
  show("after the job");
  CHECK(latest);
  /* r2 and r3 fell back: newer versions after the kill, chunks from the learner again, and a
   * live parent by now (r0's entry expires from the relay set; they re-pick) */
  CHECK(c1->version > v_kill && c2->version > v_kill);
  CHECK(c1->from_learner > c1_learner);
  CHECK(c2->from_learner > c2_learner);
  CHECK(ju_count_in_file(c1->log, "answered nothing for 2000 ms; fetching from the learner") >= 1);
  CHECK(ju_count_in_file(c2->log, "answered nothing for 2000 ms; fetching from the learner") >= 1);
  if (ju_now_ms() - t_kill > ZR_RELAY_TTL_MS + 6000) {
    CHECK(strcmp(c1->parent, r0->ep) != 0);
    CHECK(strcmp(c2->parent, r0->ep) != 0);
  }
  /* counts */
  long long got = r0_received, from_relay = 0;
  for (int k = 1; k < N_ACTORS; k++) {
    actor *x = &act[order[k]];
    got += x->from_learner + x->from_relay;
    from_relay += x->from_relay;
    CHECK_INT(x->dropped, 0);
  }
  fprintf(stderr, "chunks: learner served %lld; actors received %lld (%lld from relays, r0 counted to its kill)\n",
          served, got, from_relay + r0->from_relay);
  CHECK(served > 0);
  CHECK(served < got);
  CHECK(from_relay > 0);

  /* a drained relay leaves the relay set at once (r0, killed, stays until it expires) */
  for (int k = 1; k < N_ACTORS; k++) {
    actor *x = &act[order[k]];
    int st = -1;
    kill(x->pid, SIGTERM);
    CHECK(ju_wait(x->pid, 15000, &st));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    redisReply *r = ju_command(srv.sock, "ZSCORE %s %s", rkey, x->ep);
    CHECK(r && r->type == REDIS_REPLY_NIL);
    if (r) freeReplyObject(r);
  }
  ju_stop(rw, SIGTERM, 5000);
  if (zr_test_failures) {
    ju_show_log_tail(job.llog, 4000);
    ju_show_log_tail(c1->log, 4000);
  }
  zr_test_redis_stop(&srv);
  return TEST_DONE();
}
