#!/usr/bin/env bash
# sim_daemons.sh: how far one learner hub goes with REAL daemons (issue 9, item 4) - the
# process-level counterpart of bench/sim_fleet (which simulates the fleet inside one program).
#
#   bench/sim_daemons.sh BUILD_DIR MODEL_DIR TASKS_JSONL [ACTOR_COUNTS] [WINDOW_S]
#     e.g. bench/sim_daemons.sh build /tmp/m /tmp/tasks.jsonl "1 10 50 100" 15
#
# For each N it starts a private redis-server, ONE real zerorl-learner in mode rejection-sample
# (the whole hub without the optimizer step, as sim_fleet), REWARDS real zerorl-reward processes
# with [reward] engine = sim and N real zerorl-actor processes with [actor] engine = sim, all on
# ipc:// endpoints. The settings mirror sim_fleet's defaults: G = 8, 2 groups per actor (16
# slots), completion lengths exponential with mean 400 tokens, at most 1024, decoded at 400
# tokens/s per slot (so a sample takes ~1 s on average, like sim_fleet's --gen-ms 1000), 5 ms
# checks with reward 1 at p = 0.3, the actors' default 1 s re-ask. After a warm-up it measures
# over WINDOW_S seconds: scored rollouts/s (the reward workers' heartbeat counter `scored`),
# groups/s (queue hash groups_trained), the learner's CPU (all threads, and its busiest thread)
# from /proc, the mean and max RSS of the actor processes and of the reward processes, the CPU
# of the whole fleet, and the learner's dropped_bad (must be 0). One markdown row per N.
# Environment: REWARDS (4), REWARD_SLOTS (16), WARMUP_S (5), WORK (a temporary directory).
set -euo pipefail
build=${1:?usage: sim_daemons.sh BUILD_DIR MODEL_DIR TASKS_JSONL [ACTOR_COUNTS] [WINDOW_S]}
model=$(realpath "${2:?}")
tasks=$(realpath "${3:?}")
counts=${4:-"1 10 50 100"}
window=${5:-15}
rewards=${REWARDS:-4}
reward_slots=${REWARD_SLOTS:-16}
warmup=${WARMUP_S:-5}
work=${WORK:-$(mktemp -d /tmp/zr-simd.XXXXXX)}
build=$(realpath "$build")
hz=$(getconf CLK_TCK)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

ticks() { # utime+stime of a process (all threads)
  awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat" 2>/dev/null || echo 0
}
max_thread_ticks_all() { # "tid ticks" per thread of $1
  for t in /proc/"$1"/task/*; do
    awk -v t="${t##*/}" '{sub(/.*\) /, ""); print t, $12 + $13}' "$t/stat" 2>/dev/null || true
  done
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
sum_field() { # sum of a heartbeat field over workers of a role
  local s=0 v
  for k in $(redis-cli -s "$sock" --scan --pattern "zerorl:worker:$job:$1:*"); do
    v=$(redis-cli -s "$sock" HGET "$k" "$2")
    s=$((s + ${v:-0}))
  done
  echo "$s"
}

echo "date $(date -u +%F' '%H:%M' UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| actors | scored rollouts/s | groups/s | learner CPU (busiest thread) | actor RSS MiB mean / max | reward RSS MiB mean | fleet CPU (all actors + rewards) | dropped_bad |"
echo "|---|---|---|---|---|---|---|---|"
for n in $counts; do
  dir=$work/n$n
  rm -rf "$dir"
  mkdir -p "$dir/run" "$dir/logs"
  sock=$dir/redis.sock
  job=simd-$n
  live=$((n * 2 * 2 + 64))
  staleness=$((live / 64 + 1))
  cat >"$dir/config.ini" <<EOF
[job]
id = $job
name = simd
run_dir = $dir/run
log_level = warn
[model]
path = $model
threads = 1
[data]
train = $tasks
template = raw
epochs = 1000000
[algo]
mode = rejection-sample
group_size = 8
groups_per_batch = 64
max_staleness = $staleness
max_new_tokens = 1024
[actor]
slots = 16
max_len = 2048
engine = sim
sim_tokens_mean = 400
sim_tokens_max = 1024
sim_tokens_per_s = 400
[reward]
engine = sim
sim_score_time = 5ms
sim_correct = 0.3
[learner]
lease = 600s
score_deadline = 60s
checkpoint_every = 0
total_steps = 1000000
[redis]
socket = $sock
[net]
learner_tasks = ipc://$dir/w
learner_weights = ipc://$dir/c
learner_announce = ipc://$dir/a
EOF
  redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --save '' --appendonly no --dir "$dir" \
    --logfile "$dir/redis.log" --maxclients 20000 &
  rpid=$!
  pids=("$rpid")
  for _ in $(seq 100); do redis-cli -s "$sock" PING >/dev/null 2>&1 && break; sleep 0.05; done
  "$build/learner/zerorl-learner" --config "$dir/config.ini" >"$dir/logs/learner.log" 2>&1 &
  lpid=$!
  pids+=("$lpid")
  for _ in $(seq 600); do
    [ "$(redis-cli -s "$sock" HGET "zerorl:job:$job" state)" = running ] && break
    sleep 0.05
  done
  rw=()
  for i in $(seq "$rewards"); do
    "$build/reward/zerorl-reward" --config "$dir/config.ini" --id "r$i" --slots "$reward_slots" \
      >"$dir/logs/r$i.log" 2>&1 &
    rw+=($!)
  done
  ac=()
  for i in $(seq "$n"); do
    "$build/actor/zerorl-actor" --config "$dir/config.ini" --id "a$i" >"$dir/logs/a$i.log" 2>&1 &
    ac+=($!)
  done
  pids+=("${rw[@]}" "${ac[@]}")
  sleep "$warmup"
  t0=$(date +%s.%N)
  s0=$(sum_field reward scored)
  g0=$(redis-cli -s "$sock" HGET "zerorl:job:$job:queue" groups_trained)
  l0=$(ticks "$lpid")
  th0=$(max_thread_ticks_all "$lpid")
  f0=0
  for p in "${rw[@]}" "${ac[@]}"; do f0=$((f0 + $(ticks "$p"))); done
  sleep "$window"
  t1=$(date +%s.%N)
  s1=$(sum_field reward scored)
  g1=$(redis-cli -s "$sock" HGET "zerorl:job:$job:queue" groups_trained)
  l1=$(ticks "$lpid")
  th1=$(max_thread_ticks_all "$lpid")
  f1=0
  for p in "${rw[@]}" "${ac[@]}"; do f1=$((f1 + $(ticks "$p"))); done
  amean=0 amax=0
  for p in "${ac[@]}"; do
    r=$(rss_kb "$p")
    amean=$((amean + r))
    [ "$r" -gt "$amax" ] && amax=$r
  done
  rmean=0
  for p in "${rw[@]}"; do rmean=$((rmean + $(rss_kb "$p"))); done
  bad=$(redis-cli -s "$sock" HGET "zerorl:job:$job:queue" dropped_bad)
  alive=$(kill -0 "$lpid" 2>/dev/null && echo "" || echo " LEARNER DIED")
  busiest=$(join <(echo "$th0" | sort) <(echo "$th1" | sort) | awk '{d = $3 - $2; if (d > m) m = d} END {print m + 0}')
  awk -v n="$n" -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v g0="${g0:-0}" -v g1="${g1:-0}" \
    -v l0="$l0" -v l1="$l1" -v b="$busiest" -v hz="$hz" -v am="$amean" -v ax="$amax" -v rm="$rmean" \
    -v nr="$rewards" -v f0="$f0" -v f1="$f1" -v bad="${bad:-?}" -v alive="$alive" 'BEGIN {
      s = t1 - t0
      printf "| %d | %.0f | %.1f | %.0f%% (%.0f%%) | %.1f / %.1f | %.1f | %.0f%% | %s |%s\n", n, (s1 - s0) / s,
        (g1 - g0) / s, 100 * (l1 - l0) / hz / s, 100 * b / hz / s, am / n / 1024, ax / 1024, rm / nr / 1024,
        100 * (f1 - f0) / hz / s, bad, alive }'
  for p in "${ac[@]}" "${rw[@]}" "$lpid" "$rpid"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
done
