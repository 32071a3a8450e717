#!/usr/bin/env bash
# chaos.sh: fault-injection supervisor for a whole zerorl job (issue 9, item 2).
#
# Runs one rl job with the real binaries: a private redis-server (unix socket), the learner,
# 2 actors and 2 reward workers. For --duration seconds it picks, at random moments, a random
# victim (an actor, a reward worker, the learner or redis-server) and SIGKILLs it (sometimes
# SIGTERMs it instead, and then checks that it drained and exited 0 within its deadline), and
# restarts it after a short delay: the learner with --resume (with --resume=auto before its
# first checkpoint, as systemd would), the others plain. After the chaos phase every daemon is
# left alone until the learner ends the job ([data] epochs = 1), and the invariants are
# checked from the learner's own records:
#   - RUN/trained.jsonl lists every (task_id, epoch) of the data set exactly once (none twice,
#     none missing, none unknown, each with G samples), as the learner rewrites it on resume;
#   - the last checkpoint's trained set is contained in trained.jsonl;
#   - the learner finished (exit 0, job hash state done) within --finish-timeout;
#   - every SIGTERM ended its daemon with exit 0 within its deadline (no hang);
#   - no daemon died by itself (a restarted daemon must keep running until killed).
# A summary (kills per role, restarts, tasks, groups, wall time) is printed at the end; exit 0
# when every invariant holds, 1 otherwise, 77 when a tool is missing (ctest skip).
#
# Usage: chaos.sh [--build DIR] [--duration S] [--seed N] [--tasks N] [--model DIR]
#                 [--work DIR] [--keep] [--mean-gap S] [--finish-timeout S]
#   --build DIR        build tree with learner/zerorl-learner etc. (default $ZERORL_BINARY_DIR
#                      or ./build)
#   --duration S       chaos phase length in seconds (default 60; the long run is 600)
#   --tasks N          tasks in the data set (default: 40 per second of chaos with --model, 60
#                      with the random model, at least 200: the job outlasts the chaos phase)
#   --zerorl PATH      the zerorl tool (default BUILD/tools/zerorl)
#   --model DIR        policy model (an SFT'd one gives nonzero rewards and real optimizer
#                      steps; default: a tiny random llama, reward 0 everywhere)
#   --mean-gap S       mean seconds between faults (default 4)
#   --keep             keep the work directory (default: removed when everything passed)
set -u
set -o pipefail
# shellcheck source=tests/fault/lib.sh
. "$(dirname "$0")/lib.sh"

BUILD=${ZERORL_BINARY_DIR:-$(pwd)/build}
DURATION=60
SEED=${CHAOS_SEED:-$$}
TASKS=0
MODEL=""
ZBIN=""
WORK=""
KEEP=0
MEAN_GAP=4
FINISH_TIMEOUT=0
G=4

while [ $# -gt 0 ]; do
  case "$1" in
  --build) BUILD=$2; shift 2 ;;
  --duration) DURATION=$2; shift 2 ;;
  --seed) SEED=$2; shift 2 ;;
  --tasks) TASKS=$2; shift 2 ;;
  --model) MODEL=$2; shift 2 ;;
  --zerorl) ZBIN=$2; shift 2 ;;
  --work) WORK=$2; shift 2 ;;
  --keep) KEEP=1; shift ;;
  --mean-gap) MEAN_GAP=$2; shift 2 ;;
  --finish-timeout) FINISH_TIMEOUT=$2; shift 2 ;;
  -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "chaos: unknown argument $1" >&2; exit 2 ;;
  esac
done
# an SFT'd model trains ~35 groups/s on 2 idle cores, the random one (reward 0, no step) ~60
PER_S=40
[ -n "$MODEL" ] || PER_S=60
[ "$TASKS" -gt 0 ] || TASKS=$((DURATION * PER_S < 200 ? 200 : DURATION * PER_S))
[ "$FINISH_TIMEOUT" -gt 0 ] || FINISH_TIMEOUT=$((120 + TASKS / 2))
RANDOM=$SEED

LBIN=$BUILD/learner/zerorl-learner
ABIN=$BUILD/actor/zerorl-actor
RBIN=$BUILD/reward/zerorl-reward
[ -n "$ZBIN" ] || ZBIN=$BUILD/tools/zerorl
for b in "$LBIN" "$ABIN" "$RBIN" "$ZBIN"; do
  [ -x "$b" ] || { echo "chaos: $b not built" >&2; exit 77; }
done
command -v redis-server >/dev/null || { echo "chaos: redis-server is not installed" >&2; exit 77; }
command -v redis-cli >/dev/null || { echo "chaos: redis-cli is not installed" >&2; exit 77; }
command -v python3 >/dev/null || { echo "chaos: python3 is needed for the checks" >&2; exit 77; }

[ -n "$WORK" ] || WORK=$(mktemp -d /tmp/zr-chaos.XXXXXX)
mkdir -p "$WORK"
RUN=$WORK/run
LOGS=$RUN/logs
mkdir -p "$LOGS"
SOCK=$WORK/redis.sock
JOB=chaos-$SEED
CFG=$WORK/config.ini
EVENTS=$WORK/chaos-events.log
: >"$EVENTS"

T0=$(date +%s.%N)
now() { date +%s.%N; }
elapsed() { awk -v a="$T0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "[chaos $(elapsed)s] $*" | tee -a "$EVENTS" >&2; }

FAIL=0
fail() { log "FAIL: $*"; FAIL=$((FAIL + 1)); }

# ---- processes ---------------------------------------------------------------------------
declare -A PID      # name -> pid (0 = down)
declare -A KILLS    # role -> SIGKILLs
declare -A TERMS    # role -> SIGTERMs
declare -A RESTARTS # role -> restarts
declare -A TERM_MAX # role -> longest SIGTERM exit, ms
NAMES="learner actor-1 actor-2 reward-1 reward-2 redis"
role_of() { case $1 in actor-*) echo actor ;; reward-*) echo reward ;; *) echo "$1" ;; esac; }
for r in learner actor reward redis; do KILLS[$r]=0; TERMS[$r]=0; RESTARTS[$r]=0; TERM_MAX[$r]=0; done
for n in $NAMES; do PID[$n]=0; done

alive() { # 1 while pid runs (a zombie is dead)
  local st
  st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

cleanup() {
  for n in $NAMES; do
    p=${PID[$n]:-0}
    [ "$p" -gt 0 ] && kill -KILL "$p" 2>/dev/null
  done
  wait 2>/dev/null
  if [ "$FAIL" -eq 0 ] && [ "$KEEP" -eq 0 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

start() { # name [resume]
  local n=$1 p
  case $n in
  redis)
    redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --save '' --appendonly no \
      --dir "$WORK" --logfile "$LOGS/redis.log" >/dev/null 2>&1 &
    p=$!
    # wait for the socket so the daemons' reconnect finds it
    for _ in $(seq 50); do redis-cli -s "$SOCK" ping >/dev/null 2>&1 && break; sleep 0.1; done
    ;;
  learner)
    local resume=()
    if [ "${2:-}" = resume ]; then
      if [ -e "$RUN/checkpoints/latest" ]; then resume=(--resume); else resume=(--resume=auto); fi
    fi
    "$LBIN" --config "$CFG" --run-dir "$RUN" "${resume[@]}" >>"$LOGS/learner.log" 2>&1 &
    p=$!
    ;;
  actor-*) "$ABIN" --config "$CFG" --id "$n" --threads 1 >>"$LOGS/$n.log" 2>&1 & p=$! ;;
  reward-*) "$RBIN" --config "$CFG" --id "$n" --slots 2 >>"$LOGS/$n.log" 2>&1 & p=$! ;;
  esac
  PID[$n]=$p
}

# SIGKILL name; returns once it is reaped.
kill9() {
  local n=$1 p=${PID[$1]}
  [ "$p" -gt 0 ] || return
  kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  PID[$n]=0
}

# SIGTERM name and wait up to limit_s for exit; checks exit 0. Returns 0 when it exited.
term() {
  local n=$1 limit=$2 p=${PID[$1]} t1 ms rc r
  [ "$p" -gt 0 ] || return 0
  r=$(role_of "$n")
  t1=$(date +%s%N)
  kill -TERM "$p" 2>/dev/null
  local deadline=$(($(date +%s%N) + limit * 1000000000))
  while alive "$p" && [ "$(date +%s%N)" -lt "$deadline" ]; do sleep 0.05; done
  ms=$((($(date +%s%N) - t1) / 1000000))
  if alive "$p"; then
    fail "$n (pid $p) still running ${limit}s after SIGTERM: hung; SIGKILLing it"
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    PID[$n]=0
    return 1
  fi
  wait "$p" 2>/dev/null
  rc=$?
  PID[$n]=0
  [ "$ms" -gt "${TERM_MAX[$r]}" ] && TERM_MAX[$r]=$ms
  if [ "$rc" -ne 0 ] && [ "$n" != redis ]; then fail "$n exited $rc after SIGTERM (want 0)"; fi
  log "$n exited $rc ${ms}ms after SIGTERM"
  return 0
}

# A daemon that is down although nobody killed it died by itself.
check_unexpected_exits() {
  for n in $NAMES; do
    p=${PID[$n]}
    [ "$p" -gt 0 ] || continue
    if ! alive "$p"; then
      wait "$p" 2>/dev/null
      rc=$?
      PID[$n]=0
      if [ "$n" = learner ] && [ "${JOB_DONE:-0}" = 1 ]; then continue; fi
      # the learner exits 0 by itself only when the job is over
      if [ "$n" = learner ] && [ "$rc" = 0 ]; then
        JOB_DONE=1
        LEARNER_RC=$rc
        log "learner ended the job (exit $rc)"
        continue
      fi
      fail "$n (pid $p) died by itself with status $rc (see $LOGS/$n.log)"
      start "$n" resume
      RESTARTS[$(role_of "$n")]=$((RESTARTS[$(role_of "$n")] + 1))
    fi
  done
}

# ---- the job -----------------------------------------------------------------------------
if [ -z "$MODEL" ]; then
  MODEL=$WORK/model
  "$ZBIN" model init --arch llama --layers 2 --hidden 64 --heads 4 --kv-heads 4 --intermediate 128 \
    --byte-vocab --add-tokens '<think>,</think>,<answer>,</answer>' --tie --out "$MODEL" >"$LOGS/model-init.log" 2>&1 ||
    { echo "chaos: model init failed" >&2; cat "$LOGS/model-init.log" >&2; exit 1; }
fi
TASKFILE=$WORK/tasks.jsonl
"$ZBIN" data gen arith --n "$TASKS" --seed "$SEED" --difficulty 2 --out "$TASKFILE" >/dev/null 2>&1 ||
  { echo "chaos: data gen failed" >&2; exit 1; }

DRAIN_S=4
cat >"$CFG" <<EOF
[job]
id = $JOB
name = chaos
run_dir = $RUN
[model]
path = $MODEL
threads = 1
[data]
train = $TASKFILE
template = raw
epochs = 1
[algo]
group_size = $G
groups_per_batch = 4
max_new_tokens = 40
stop = </answer>
[actor]
slots = 8
max_len = 96
threads = 1
lease_margin = 500ms
ask_interval = 200ms
[learner]
lr = 1e-5
total_steps = 1000000
checkpoint_every = 2
lease = 3s
score_deadline = 2s
drain_timeout = ${DRAIN_S}s
max_task_retries = 1000
[redis]
socket = $SOCK
heartbeat_interval = 300ms
heartbeat_ttl = 2s
backoff_min = 50ms
backoff_max = 300ms
[net]
learner_tasks = ipc://$WORK/w
learner_weights = ipc://$WORK/c
learner_announce = ipc://$WORK/a
EOF

log "seed $SEED, $TASKS tasks, G $G, chaos for ${DURATION}s, model $MODEL, work $WORK"
start redis
start learner
for n in reward-1 reward-2 actor-1 actor-2; do start "$n"; done

# ---- chaos phase -------------------------------------------------------------------------
JOB_DONE=0
LEARNER_RC=-1
END=$(($(date +%s) + DURATION))
VICTIMS=(learner actor-1 actor-2 reward-1 reward-2 redis)
while [ "$(date +%s)" -lt "$END" ] && [ "$JOB_DONE" = 0 ]; do
  # exponential-ish gap with mean MEAN_GAP: uniform in [0.25, 1.75] * MEAN_GAP
  gap=$(awk -v m="$MEAN_GAP" -v r=$RANDOM 'BEGIN { printf "%.2f", m * (0.25 + 1.5 * r / 32767) }')
  sleep "$gap"
  check_unexpected_exits
  [ "$JOB_DONE" = 0 ] || break
  v=${VICTIMS[$((RANDOM % ${#VICTIMS[@]}))]}
  r=$(role_of "$v")
  [ "${PID[$v]}" -gt 0 ] || continue
  groups=$(wc -l <"$RUN/trained.jsonl" 2>/dev/null || echo 0)
  if [ $((RANDOM % 5)) -eq 0 ] && [ "$v" != redis ]; then
    TERMS[$r]=$((TERMS[$r] + 1))
    log "SIGTERM $v (pid ${PID[$v]}) at $groups groups"
    if [ "$v" = learner ]; then term "$v" $((DRAIN_S + 5)); else term "$v" 15; fi
  else
    KILLS[$r]=$((KILLS[$r] + 1))
    log "SIGKILL $v (pid ${PID[$v]}) at $groups groups"
    kill9 "$v"
  fi
  # the learner may have ended the job while draining: then it is not restarted
  if [ "$v" = learner ] && [ "$(redis-cli -s "$SOCK" hget "zerorl:job:$JOB" state 2>/dev/null)" = done ] &&
    [ "$(wc -l <"$RUN/trained.jsonl")" -ge "$TASKS" ]; then
    JOB_DONE=1
    LEARNER_RC=0
    break
  fi
  delay=$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.2 + 2.3 * r / 32767 }')
  sleep "$delay"
  start "$v" resume
  RESTARTS[$r]=$((RESTARTS[$r] + 1))
  log "restarted $v (pid ${PID[$v]}) after ${delay}s"
done
log "chaos phase over"

# ---- let the job finish ------------------------------------------------------------------
FIN_DEADLINE=$(($(date +%s) + FINISH_TIMEOUT))
while [ "$JOB_DONE" = 0 ] && [ "$(date +%s)" -lt "$FIN_DEADLINE" ]; do
  sleep 0.5
  check_unexpected_exits
done
if [ "$JOB_DONE" = 0 ]; then
  fail "the job did not finish within ${FINISH_TIMEOUT}s after the chaos phase ($(wc -l <"$RUN/trained.jsonl") of $TASKS groups); learner queue: $(redis-cli -s "$SOCK" hgetall "zerorl:job:$JOB:queue" 2>/dev/null | paste -sd' ')"
  term learner $((DRAIN_S + 5))
elif [ "$LEARNER_RC" != 0 ]; then
  fail "the learner ended the job with exit $LEARNER_RC"
fi
STATE=$(redis-cli -s "$SOCK" hget "zerorl:job:$JOB" state 2>/dev/null)
[ "$JOB_DONE" = 0 ] || [ "$STATE" = done ] || fail "job hash state is '$STATE', want done"
# the workers drain on SIGTERM too (their deadline: drain 3 s + slack)
for n in actor-1 actor-2 reward-1 reward-2; do term "$n" 15; done
kill9 redis

# ---- invariants from the learner's records ------------------------------------------------
CHECK=$(zr_trained_check "$RUN" "$TASKFILE" "$G" "$JOB_DONE")
log "trained.jsonl: $CHECK"
zr_trained_assert "$CHECK" "$TASKS" "$JOB_DONE"
[ -n "$CHECK" ] || CHECK='{"lines":-1,"distinct":-1}'
field() { zr_json_field "$CHECK" "$1"; }

# ---- summary -----------------------------------------------------------------------------
count() { local c; c=$(grep -c -- "$1" "$2" 2>/dev/null); echo "${c:-0}"; }
steps=$(count '"step"' "$RUN/metrics.jsonl")
resumed=$(count '(resumed)' "$LOGS/learner.log")
trimmed=$(count 'dropped from trained.jsonl' "$LOGS/learner.log")
expired=$(count 'lease_expired' "$LOGS/learner.log")
scoreto=$(count 'score_timeout' "$LOGS/learner.log")
echo "==== chaos summary (seed $SEED) ===="
printf '%-8s %6s %6s %9s %14s\n' role SIGKILL SIGTERM restarts max_term_ms
for r in learner actor reward redis; do
  printf '%-8s %6d %6d %9d %14d\n' "$r" "${KILLS[$r]}" "${TERMS[$r]}" "${RESTARTS[$r]}" "${TERM_MAX[$r]}"
done
echo "tasks $TASKS, groups in trained.jsonl $(field lines) ($(field distinct) distinct), metrics lines $steps"
echo "learner resumes $resumed (trained.jsonl trimmed $trimmed times), lease_expired events $expired, score_timeout events $scoreto"
echo "job finished: $([ "$JOB_DONE" = 1 ] && echo yes || echo NO), state '$STATE', wall $(elapsed)s"
echo "result: $([ "$FAIL" -eq 0 ] && echo PASS || echo "FAIL ($FAIL)"), work dir $WORK$([ "$FAIL" -eq 0 ] && [ "$KEEP" -eq 0 ] && echo ' (removed)')"
[ "$FAIL" -eq 0 ]
