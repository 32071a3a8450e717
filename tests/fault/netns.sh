#!/usr/bin/env bash
# netns.sh: multi-host fault test (issue 9, item 3). Network namespaces and veth pairs, made by
# the test itself, stand in for hosts: a "switch" namespace with a bridge, and one namespace per
# host, each joined to the bridge by a veth pair with a private 10.77.0.x/24 address (nothing
# leaves the machine):
#
#   learner host 10.77.0.1   zerorl-learner, redis-server (TCP on 10.77.0.1:6379)
#   actor1 host  10.77.0.2   zerorl-actor --id actor-1
#   actor2 host  10.77.0.3   zerorl-actor --id actor-2
#   reward host  10.77.0.4   zerorl-reward --id reward-1
#
# Every daemon reaches Redis over TCP through its link, so a cut link cuts its Redis traffic
# (heartbeats) as well as its ZeroMQ traffic. The test watches Redis through an extra unix
# socket of the same server, which no link cut touches.
#
# A short calibration job (no faults) measures the throughput, which sizes the main job so that
# it outlasts the scenarios. In the main job ([data] epochs = 1):
#   1. actor1's link is cut (ip link set down on the switch side) for longer than a lease:
#      its heartbeat key expires within heartbeat_ttl, the learner drops it and re-issues its
#      leases within [learner] lease, training goes on with actor2; after the link is restored
#      actor1's heartbeat comes back, the learner hears from it again and it sends rollouts;
#   2. delay and loss on the reward host's link for a while (tc netem when the kernel has it;
#      otherwise tc tbf kept busy by a bulk TCP flow, whose queue delays packets and drops the
#      excess, plus random drops by nftables numgen when nft works; the test prints which, and
#      the PING round trip it measured): training keeps progressing; then restored;
#   3. the learner host's link is cut briefly (shorter than a lease): training resumes.
# Time bounds (M = --margin), each printed with the measured value:
#   actor1's heartbeat key gone after the cut          heartbeat_ttl + M
#   the learner drops actor1 and re-issues its leases  lease + M
#   longest stall in training, scenario 1              lease + M
#   actor1 back after the restore (heartbeat key,      cut + lease + M (TCP retransmission
#     learner hears it, it sends rollouts)               backs off: a cut of C s resumes within ~C s)
#   longest stall in training, scenario 2              score_deadline + 5 s (hub re-issue) + M
#   longest stall in training, scenario 3              cut + lease + M; progress after the
#                                                      restore lease + M; heartbeats ttl + M
# Stalls come from RUN/trained.jsonl's line count, sampled every 100 ms. Also checked: the job
# ends by itself (learner exit 0, job state done); every (task, epoch) is in trained.jsonl
# exactly once (tests/fault/lib.sh, shared with chaos.sh); no daemon died; the workers drain
# and exit 0 on SIGTERM. Exit 0 when all hold, 1 otherwise, 77 (ctest skip) when not root,
# when namespaces, a bridge or veth pairs cannot be made, or when a tool is missing.
# Namespaces are named zr{sw,lrn,act1,act2,rwd}PID and removed on exit (also on failure or
# SIGTERM; those of a SIGKILLed run are removed by the next run).
#
# Usage: netns.sh [--build DIR] [--margin S] [--keep] [--work DIR] [--seed N]
#   --build DIR   build tree (default $ZERORL_BINARY_DIR or ./build)
#   --margin S    slack in whole seconds on every time bound, for a loaded machine (default 3)
#   --keep        keep the work directory (default: removed when everything passed)
set -u
set -o pipefail
# shellcheck source=tests/fault/lib.sh
. "$(dirname "$0")/lib.sh"

BUILD=${ZERORL_BINARY_DIR:-$(pwd)/build}
MARGIN=3
KEEP=0
WORK=""
SEED=$$
while [ $# -gt 0 ]; do
  case "$1" in
  --build) BUILD=$2; shift 2 ;;
  --margin) MARGIN=$2; shift 2 ;;
  --keep) KEEP=1; shift ;;
  --work) WORK=$2; shift 2 ;;
  --seed) SEED=$2; shift 2 ;;
  -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "netns: unknown argument $1" >&2; exit 2 ;;
  esac
done

skip() { echo "netns: SKIP: $*" >&2; exit 77; }
LBIN=$BUILD/learner/zerorl-learner
ABIN=$BUILD/actor/zerorl-actor
RBIN=$BUILD/reward/zerorl-reward
ZBIN=$BUILD/tools/zerorl
for b in "$LBIN" "$ABIN" "$RBIN" "$ZBIN"; do [ -x "$b" ] || skip "$b not built"; done
[ "$(id -u)" = 0 ] || skip "needs root for ip netns / veth / tc"
for t in ip tc redis-server redis-cli python3; do command -v "$t" >/dev/null || skip "$t is not installed"; done

# ---- settings (the bounds below follow from them) ----------------------------------------
LEASE_S=3          # [learner] lease: a silent actor is dropped and its leases re-issued after this
SCORE_S=2          # [learner] score_deadline (the hub re-issues an attempt 5 s after it)
HB_INT_MS=300      # [redis] heartbeat_interval
HB_TTL_S=2         # [redis] heartbeat_ttl: a cut worker's key is gone after this
CUT1_S=5           # scenario 1: actor1 cut (longer than a lease)
IMPAIR_S=8         # scenario 2: delay + loss on the reward host
CUT3_MS=1500       # scenario 3: learner cut (shorter than a lease and than heartbeat_ttl)
G=4

# unique names: parallel runs must not collide (namespace names are global)
SFX=$$
NS_SW=zrsw$SFX
NS_L=zrlrn$SFX
NS_A1=zract1$SFX
NS_A2=zract2$SFX
NS_R=zrrwd$SFX
HOSTS="L A1 A2 R"
declare -A NS=([L]=$NS_L [A1]=$NS_A1 [A2]=$NS_A2 [R]=$NS_R)
declare -A ADDR=([L]=10.77.0.1 [A1]=10.77.0.2 [A2]=10.77.0.3 [R]=10.77.0.4)
declare -A PORT=([L]=p-learner [A1]=p-actor1 [A2]=p-actor2 [R]=p-reward) # switch-side veth ends
LADDR=${ADDR[L]}

[ -n "$WORK" ] || WORK=$(mktemp -d /tmp/zr-netns.XXXXXX)
mkdir -p "$WORK"
LOGS=$WORK/logs
mkdir -p "$LOGS"
SOCK=$WORK/redis.sock
EVENTS=$WORK/events.log # "EPOCH NAME" lines: what the test did when
: >"$EVENTS"

T0=$(date +%s.%N)
now() { date +%s.%N; }
elapsed() { awk -v a="$T0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "[netns $(elapsed)s] $*" >&2; }
mark() { echo "$(now) $1" >>"$EVENTS"; log "$1${2:+: $2}"; }
FAIL=0
fail() { log "FAIL: $*"; FAIL=$((FAIL + 1)); }

declare -A PID # daemon name -> pid (0 = not running)
MONPID=0
NETNS_MADE=""
cleanup() {
  local n p
  for n in "${!PID[@]}"; do
    p=${PID[$n]}
    [ "$p" -gt 0 ] && kill -KILL "$p" 2>/dev/null
  done
  [ "$MONPID" -gt 0 ] && kill "$MONPID" 2>/dev/null
  for n in ${BULK_PIDS:-}; do kill "$n" 2>/dev/null; done
  wait 2>/dev/null
  for n in $NETNS_MADE; do ip netns del "$n" 2>/dev/null; done
  if [ "$FAIL" -eq 0 ] && [ "$KEEP" -eq 0 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ---- topology ----------------------------------------------------------------------------
# namespaces left by a run that was SIGKILLed (a ctest timeout): ours by name, their pid gone
for n in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
  if [[ $n =~ ^zr(sw|lrn|act1|act2|rwd)([0-9]+)$ ]] && [ ! -e "/proc/${BASH_REMATCH[2]}" ]; then
    ip netns del "$n" 2>/dev/null && log "removed stale namespace $n"
  fi
done
mkns() { ip netns add "$1" 2>"$LOGS/netns.err" || return 1; NETNS_MADE="$NETNS_MADE $1"; }
mkns "$NS_SW" || skip "cannot create a network namespace: $(cat "$LOGS/netns.err")"
ip -n "$NS_SW" link add br0 type bridge 2>"$LOGS/netns.err" || skip "cannot create a bridge: $(cat "$LOGS/netns.err")"
ip -n "$NS_SW" link set br0 up
ip -n "$NS_SW" link set lo up
for h in $HOSTS; do
  mkns "${NS[$h]}" || skip "cannot create a network namespace: $(cat "$LOGS/netns.err")"
  ip -n "$NS_SW" link add "${PORT[$h]}" type veth peer name eth0 netns "${NS[$h]}" 2>"$LOGS/netns.err" ||
    skip "cannot create a veth pair: $(cat "$LOGS/netns.err")"
  ip -n "$NS_SW" link set "${PORT[$h]}" master br0 up
  ip -n "${NS[$h]}" addr add "${ADDR[$h]}/24" dev eth0
  ip -n "${NS[$h]}" link set eth0 up
  ip -n "${NS[$h]}" link set lo up
done
log "hosts: learner ${ADDR[L]} ($NS_L), actor1 ${ADDR[A1]} ($NS_A1), actor2 ${ADDR[A2]} ($NS_A2), reward ${ADDR[R]} ($NS_R), bridge in $NS_SW"

link_down() { ip -n "$NS_SW" link set "${PORT[$1]}" down; }
link_up() { ip -n "$NS_SW" link set "${PORT[$1]}" up; }

# delay + loss: netem when the kernel has it, else tbf (+ nftables random drops when nft works)
EMUL=""
probe_emulation() {
  local p=probe$$
  ip -n "$NS_SW" link add "$p" type veth peer name "${p}b" 2>/dev/null || return
  if ip netns exec "$NS_SW" tc qdisc add dev "$p" root netem delay 10ms loss 1% 2>/dev/null; then
    EMUL=netem
  else
    EMUL=tbf
    if command -v nft >/dev/null &&
      ip netns exec "$NS_SW" nft -f - 2>/dev/null <<EOF; then
table inet zrprobe {
  chain out { type filter hook output priority 0; policy accept; oifname "$p" numgen random mod 100 < 1 drop; }
}
EOF
      EMUL=tbf+nft
      ip netns exec "$NS_SW" nft delete table inet zrprobe
    fi
  fi
  ip -n "$NS_SW" link del "$p" 2>/dev/null
}
probe_emulation
TBF="rate 1mbit burst 8kb latency 100ms"
case $EMUL in
netem) EMUL_TEXT="tc netem: delay 80ms +-20ms and 10% loss each way on the reward host's link" ;;
tbf*)
  EMUL_TEXT="no netem in this kernel: tc tbf ($TBF) each way on the reward host's link, kept busy by a bulk TCP flow each way (port 7777), so packets queue for up to 100 ms and the excess is tail-dropped"
  if [ "$EMUL" = tbf+nft ]; then
    EMUL_TEXT="$EMUL_TEXT, plus nftables 'numgen random mod 100 < 10 drop' on the reward host (10% random loss each way, the bulk flow spared)"
  else
    EMUL_TEXT="$EMUL_TEXT; no usable nft, so no random loss"
  fi
  ;;
*) skip "tc cannot shape a veth here" ;;
esac
log "delay/loss emulation: $EMUL_TEXT"

# bulk cross traffic for the tbf emulation: listens on 7777 (discards) and sends to peer:7777
cat >"$WORK/bulk.py" <<'PY'
import socket, sys, threading, time
me, peer = sys.argv[1], sys.argv[2]
def sink(c):
    while c.recv(65536):
        pass
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((me, 7777))
srv.listen(4)
def accept():
    while True:
        c, _ = srv.accept()
        threading.Thread(target=sink, args=(c,), daemon=True).start()
threading.Thread(target=accept, daemon=True).start()
buf = b"x" * 65536
while True:
    try:
        s = socket.create_connection((peer, 7777), timeout=2)
        s.settimeout(None)
        while True:
            s.sendall(buf)
    except OSError:
        time.sleep(0.1)
PY
BULK_PIDS=""
impair() { # host
  local h=$1 ns=${NS[$1]}
  case $EMUL in
  netem)
    ip netns exec "$ns" tc qdisc add dev eth0 root netem delay 80ms 20ms loss 10%
    ip netns exec "$NS_SW" tc qdisc add dev "${PORT[$h]}" root netem delay 80ms 20ms loss 10%
    ;;
  tbf*)
    # shellcheck disable=SC2086 # TBF is a list of words
    ip netns exec "$ns" tc qdisc add dev eth0 root tbf $TBF
    # shellcheck disable=SC2086
    ip netns exec "$NS_SW" tc qdisc add dev "${PORT[$h]}" root tbf $TBF
    if [ "$EMUL" = tbf+nft ]; then
      ip netns exec "$ns" nft -f - <<EOF
table inet zrloss {
  chain out { type filter hook output priority 0; policy accept; oifname "eth0" tcp sport != 7777 tcp dport != 7777 numgen random mod 100 < 10 counter drop; }
  chain in { type filter hook input priority 0; policy accept; iifname "eth0" tcp sport != 7777 tcp dport != 7777 numgen random mod 100 < 10 counter drop; }
}
EOF
    fi
    ip netns exec "$ns" python3 "$WORK/bulk.py" "${ADDR[$h]}" "$LADDR" >/dev/null 2>&1 &
    BULK_PIDS="$BULK_PIDS $!"
    ip netns exec "$NS_L" python3 "$WORK/bulk.py" "$LADDR" "${ADDR[$h]}" >/dev/null 2>&1 &
    BULK_PIDS="$BULK_PIDS $!"
    ;;
  esac
}
stop_bulk() {
  local p
  for p in $BULK_PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  BULK_PIDS=""
}
unimpair() { # host; IMPAIR_STATS says what the emulation did
  local h=$1 ns=${NS[$1]}
  IMPAIR_STATS="host qdisc: $(ip netns exec "$ns" tc -s qdisc show dev eth0 | awk '/Sent/ { print $2 " bytes " $4 " pkts, dropped " $7 " overlimits " $9 }' | head -1 | tr -d ',')"
  IMPAIR_STATS="$IMPAIR_STATS; switch qdisc: $(ip netns exec "$NS_SW" tc -s qdisc show dev "${PORT[$h]}" | awk '/Sent/ { print $2 " bytes " $4 " pkts, dropped " $7 " overlimits " $9 }' | head -1 | tr -d ',')"
  stop_bulk
  ip netns exec "$ns" tc qdisc del dev eth0 root 2>/dev/null
  ip netns exec "$NS_SW" tc qdisc del dev "${PORT[$h]}" root 2>/dev/null
  if [ "$EMUL" = tbf+nft ]; then
    IMPAIR_STATS="$IMPAIR_STATS; nft random drops: $(ip netns exec "$ns" nft list table inet zrloss | grep -o 'packets [0-9]*' | awk '{ s += $2 } END { print s + 0 }') packets"
    ip netns exec "$ns" nft delete table inet zrloss
  fi
}

# ---- Redis (TCP on the learner host; a unix socket for the test's own eyes) ---------------
ip netns exec "$NS_L" redis-server --bind "$LADDR" --port 6379 --protected-mode no --unixsocket "$SOCK" \
  --unixsocketperm 700 --save '' --appendonly no --dir "$WORK" --logfile "$LOGS/redis.log" >/dev/null 2>&1 &
PID[redis]=$!
for _ in $(seq 50); do redis-cli -s "$SOCK" ping >/dev/null 2>&1 && break; sleep 0.1; done
rcli() { redis-cli -s "$SOCK" "$@" 2>/dev/null; }
[ "$(rcli ping)" = PONG ] || { fail "redis-server did not start (see $LOGS/redis.log)"; exit 1; }
for h in A1 A2 R; do # the hosts reach each other through the bridge
  ok=0
  for _ in $(seq 30); do
    if ip netns exec "${NS[$h]}" redis-cli -h "$LADDR" ping 2>/dev/null | grep -q PONG; then ok=1; break; fi
    sleep 0.1
  done
  [ "$ok" = 1 ] || { fail "host $h cannot reach redis on $LADDR:6379"; exit 1; }
done

# ---- jobs ----------------------------------------------------------------------------------
MODEL=$WORK/model
"$ZBIN" model init --arch llama --layers 2 --hidden 64 --heads 4 --kv-heads 4 --intermediate 128 \
  --byte-vocab --add-tokens '<think>,</think>,<answer>,</answer>' --tie --out "$MODEL" >"$LOGS/model-init.log" 2>&1 ||
  { fail "model init failed: $(tail -3 "$LOGS/model-init.log")"; exit 1; }

write_cfg() { # cfg job run taskfile
  cat >"$1" <<EOF
[job]
id = $2
name = netns
run_dir = $3
[model]
path = $MODEL
threads = 1
[data]
train = $4
template = raw
epochs = 1
[algo]
group_size = $G
groups_per_batch = 8
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
checkpoint_every = 0
lease = ${LEASE_S}s
score_deadline = ${SCORE_S}s
drain_timeout = 4s
max_task_retries = 1000
[redis]
host = $LADDR
port = 6379
connect_timeout = 1s
command_timeout = 1s
heartbeat_interval = ${HB_INT_MS}ms
heartbeat_ttl = ${HB_TTL_S}s
backoff_min = 50ms
backoff_max = 300ms
[net]
learner_tasks = tcp://*:5555
learner_weights = tcp://*:5556
learner_announce = tcp://*:5557
learner_host = tcp://$LADDR
reconnect_ivl = 100ms
reconnect_ivl_max = 1s
EOF
}

start_daemons() { # cfg run
  local cfg=$1 run=$2
  ip netns exec "$NS_L" "$LBIN" --config "$cfg" --run-dir "$run" >>"$run/learner.log" 2>&1 &
  PID[learner]=$!
  ip netns exec "$NS_R" "$RBIN" --config "$cfg" --id reward-1 --slots 2 >>"$run/reward-1.log" 2>&1 &
  PID[reward-1]=$!
  ip netns exec "$NS_A1" "$ABIN" --config "$cfg" --id actor-1 --threads 1 >>"$run/actor-1.log" 2>&1 &
  PID[actor-1]=$!
  ip netns exec "$NS_A2" "$ABIN" --config "$cfg" --id actor-2 --threads 1 >>"$run/actor-2.log" 2>&1 &
  PID[actor-2]=$!
}

alive() { local st; st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1; [ -n "$st" ] && [ "$st" != Z ]; }

# A daemon that exits while it should run died by itself.
check_deaths() {
  local n p rc
  for n in actor-1 actor-2 reward-1 redis; do
    p=${PID[$n]:-0}
    [ "$p" -gt 0 ] || continue
    if ! alive "$p"; then
      wait "$p" 2>/dev/null
      rc=$?
      PID[$n]=0
      fail "$n (pid $p) died by itself with status $rc"
    fi
  done
}

# wait for the learner to end the job; sets LEARNER_RC (-1: still running after limit_s)
wait_learner() { # limit_s
  local deadline p=${PID[learner]}
  deadline=$(($(date +%s) + $1))
  LEARNER_RC=-1
  while alive "$p" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; check_deaths; done
  if ! alive "$p"; then
    wait "$p" 2>/dev/null
    LEARNER_RC=$?
    PID[learner]=0
  fi
}

# SIGTERM the workers; each must drain and exit 0 within 15 s
stop_workers() {
  local n p t1 rc
  for n in actor-1 actor-2 reward-1; do
    p=${PID[$n]}
    [ "$p" -gt 0 ] || continue
    kill -TERM "$p"
  done
  for n in actor-1 actor-2 reward-1; do
    p=${PID[$n]}
    [ "$p" -gt 0 ] || continue
    t1=$(date +%s)
    while alive "$p" && [ $(($(date +%s) - t1)) -lt 15 ]; do sleep 0.1; done
    if alive "$p"; then
      fail "$n (pid $p) still running 15 s after SIGTERM"
      kill -KILL "$p"
    fi
    wait "$p" 2>/dev/null
    rc=$?
    PID[$n]=0
    [ "$rc" = 0 ] || fail "$n exited $rc after SIGTERM (want 0)"
  done
}

lines_of() { local c=0; [ -f "$1" ] && c=$(wc -l <"$1"); echo "${c:-0}"; }

# the monitor: every 100 ms, one JSON line with the time, trained.jsonl's line count, which
# worker heartbeat keys exist and actor-1's rollouts_sent (over the unix socket)
cat >"$WORK/monitor.py" <<'PY'
import json, os, socket, sys, time
sock, job, trained, out = sys.argv[1:5]
keys = {w: "zerorl:worker:%s:%s" % (job, w) for w in ("actor:actor-1", "actor:actor-2", "reward:reward-1")}
def cmd(s, f, *args):
    s.sendall(("*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a.encode()), a) for a in args)).encode())
    line = f.readline().decode().rstrip("\r\n")
    if line[:1] == "$":
        n = int(line[1:])
        if n < 0: return None
        v = f.read(n + 2)[:-2].decode()
        return v
    if line[:1] == ":": return int(line[1:])
    return line[1:]
s = socket.socket(socket.AF_UNIX); s.connect(sock); f = s.makefile("rb")
n, pos = 0, 0
with open(out, "a") as o:
    while True:
        t = time.time()
        try:
            with open(trained, "rb") as tf:
                tf.seek(pos); data = tf.read(); pos += len(data); n += data.count(b"\n")
        except FileNotFoundError:
            pass
        rec = {"t": round(t, 3), "n": n}
        for w, k in keys.items():
            rec[w.split(":")[1]] = cmd(s, f, "EXISTS", k)
        rec["a1_sent"] = cmd(s, f, "HGET", keys["actor:actor-1"], "rollouts_sent")
        o.write(json.dumps(rec) + "\n"); o.flush()
        time.sleep(max(0.0, 0.1 - (time.time() - t)))
PY

# ---- calibration job: no faults; its throughput sizes the main job ------------------------
CAL_TASKS=300
CAL_RUN=$WORK/cal
mkdir -p "$CAL_RUN"
"$ZBIN" data gen arith --n "$CAL_TASKS" --seed "$SEED" --difficulty 2 --out "$WORK/cal-tasks.jsonl" >/dev/null 2>&1 ||
  { fail "data gen failed"; exit 1; }
write_cfg "$WORK/cal.ini" "netns-cal-$SFX" "$CAL_RUN" "$WORK/cal-tasks.jsonl"
mark cal_start
start_daemons "$WORK/cal.ini" "$CAL_RUN"
python3 "$WORK/monitor.py" "$SOCK" "netns-cal-$SFX" "$CAL_RUN/trained.jsonl" "$WORK/cal-monitor.jsonl" &
MONPID=$!
wait_learner 120
kill "$MONPID" 2>/dev/null
wait "$MONPID" 2>/dev/null
MONPID=0
[ "$LEARNER_RC" = 0 ] || { fail "calibration job did not finish cleanly (learner rc $LEARNER_RC, $(lines_of "$CAL_RUN/trained.jsonl")/$CAL_TASKS groups; see $CAL_RUN/learner.log)"; exit 1; }
stop_workers
mark cal_end
CAL=$(python3 - "$WORK/cal-monitor.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
inc = [r["t"] for a, r in zip(recs, recs[1:]) if r["n"] > a["n"]]
n = recs[-1]["n"]
span = inc[-1] - inc[0] if len(inc) > 1 else 1.0
gaps = [b - a for a, b in zip(inc, inc[1:])]
print("%.1f %.2f" % (n / max(span, 0.5), max(gaps) if gaps else 0.0))
PY
)
RATE=${CAL% *}
CAL_STALL=${CAL#* }
# the scenarios take ~30 s of wall time; size the job for twice that at the calibrated rate (the
# learner slows down a little as its trained set grows, so the real margin is a bit less)
TASKS=$(awk -v r="$RATE" 'BEGIN { n = int(r * 60); if (n < 600) n = 600; if (n > 12000) n = 12000; print n }')
log "calibration: $CAL_TASKS groups at $RATE groups/s, longest gap ${CAL_STALL}s without faults; main job: $TASKS tasks"

# ---- main job ------------------------------------------------------------------------------
JOB=netns-$SFX
RUN=$WORK/run
mkdir -p "$RUN"
TASKFILE=$WORK/tasks.jsonl
"$ZBIN" data gen arith --n "$TASKS" --seed "$SEED" --difficulty 2 --out "$TASKFILE" >/dev/null 2>&1 || { fail "data gen failed"; exit 1; }
write_cfg "$WORK/job.ini" "$JOB" "$RUN" "$TASKFILE"
start_daemons "$WORK/job.ini" "$RUN"
mark main_start
python3 "$WORK/monitor.py" "$SOCK" "$JOB" "$RUN/trained.jsonl" "$WORK/monitor.jsonl" &
MONPID=$!
HB_A1=zerorl:worker:$JOB:actor:actor-1

# wait until cond (a shell command) holds, up to limit_s; 0 when it did
wait_for() { # limit_s cmd...
  local deadline
  deadline=$(awk -v a="$(now)" -v l="$1" 'BEGIN { printf "%.3f", a + l }')
  shift
  while ! "$@"; do
    check_deaths
    if awk -v d="$deadline" -v t="$(now)" 'BEGIN { exit !(t > d) }'; then return 1; fi
    sleep 0.1
  done
}
# seconds left until duration_s after event
left_of() { # event duration_s
  awk -v c="$2" -v a="$(awk -v e="$1" '$2 == e { print $1 }' "$EVENTS")" -v t="$(now)" \
    'BEGIN { s = a + c - t; printf "%.2f", (s > 0 ? s : 0) }'
}
# round trips of a Redis PING from host to the learner host: "median X ms, max Y ms"
rtt_probe() { # host
  ip netns exec "${NS[$1]}" python3 - "$LADDR" 2>/dev/null <<'PY' || echo "no answer"
import socket, sys, time
s = socket.create_connection((sys.argv[1], 6379), timeout=5)
ts, start = [], time.time()
while len(ts) < 15 and time.time() - start < 3:  # the impairment lasts only a few seconds
    t = time.time()
    s.sendall(b"PING\r\n")
    buf = b""
    while not buf.endswith(b"\r\n"):
        buf += s.recv(64)
    ts.append((time.time() - t) * 1000)
    time.sleep(0.05)
ts.sort()
print("median %.1f ms, max %.1f ms over %d pings" % (ts[len(ts) // 2], ts[-1], len(ts)))
PY
}
# wait_for, then mark event on success or fail with message
expect() { # limit_s event message cmd...
  local limit=$1 event=$2 msg=$3
  shift 3
  if wait_for "$limit" "$@"; then mark "$event"; else fail "$msg"; fi
}
trained_ge() { [ "$(lines_of "$RUN/trained.jsonl")" -ge "$1" ]; }
hb_gone() { [ "$(rcli exists "$1")" = 0 ]; }
hb_back() { [ "$(rcli exists "$1")" = 1 ]; }
learner_running() { alive "${PID[learner]}"; }
need_job() { # scenario: the job must still have work left for it
  if ! learner_running || [ "$(lines_of "$RUN/trained.jsonl")" -ge $((TASKS * 9 / 10)) ]; then
    fail "the job is nearly over before scenario $1 ($(lines_of "$RUN/trained.jsonl")/$TASKS groups): the calibration underestimated the rate"
    return 1
  fi
}

wait_for 60 trained_ge 20 || fail "training did not start within 60 s ($(lines_of "$RUN/trained.jsonl") groups)"
wait_for 10 hb_back "$HB_A1" || fail "actor-1's heartbeat never appeared"
sleep 3
mark warm_end

# scenario 1: cut actor1's link for longer than a lease
if need_job 1; then
  mark s1_cut "actor1's link down for ${CUT1_S}s"
  link_down A1
  expect $((HB_TTL_S + MARGIN)) s1_hb_gone "actor-1's heartbeat key still there $((HB_TTL_S + MARGIN))s after the cut" hb_gone "$HB_A1"
  sleep "$(left_of s1_cut "$CUT1_S")"
  link_up A1
  S1_SENT=$(rcli hget "$HB_A1" rollouts_sent)
  mark s1_restore
  expect $((CUT1_S + LEASE_S + MARGIN)) s1_hb_back "actor-1's heartbeat not back $((CUT1_S + LEASE_S + MARGIN))s after the restore" hb_back "$HB_A1"
  a1_sends() { local v; v=$(rcli hget "$HB_A1" rollouts_sent); [ -n "$v" ] && [ "$v" -gt "${S1_SENT:-0}" ]; }
  S1_SENT=$(rcli hget "$HB_A1" rollouts_sent)
  expect $((CUT1_S + LEASE_S + MARGIN)) s1_a1_sends "actor-1 sent no rollout after it came back" a1_sends
  sleep 2
  mark s1_end
fi

# scenario 2: delay + loss on the reward host
if need_job 2; then
  RTT_BEFORE=$(rtt_probe R)
  mark s2_impair "$EMUL on the reward host's link for ${IMPAIR_S}s"
  impair R
  sleep 1
  RTT_DURING=$(rtt_probe R)
  sleep "$(left_of s2_impair "$IMPAIR_S")"
  unimpair R
  mark s2_restore "$IMPAIR_STATS"
  log "reward host -> redis round trip (PING): $RTT_BEFORE before, $RTT_DURING impaired"
  n0=$(lines_of "$RUN/trained.jsonl")
  wait_for $((SCORE_S + 5 + MARGIN)) trained_ge $((n0 + 1)) || fail "no progress within $((SCORE_S + 5 + MARGIN))s of restoring the reward host's link"
  sleep 2
  mark s2_end
fi

# scenario 3: cut the learner host's link briefly
if need_job 3; then
  mark s3_cut "learner's link down for ${CUT3_MS}ms"
  link_down L
  sleep "$(awk -v m="$CUT3_MS" 'BEGIN { printf "%.3f", m / 1000 }')"
  link_up L
  mark s3_restore
  n0=$(lines_of "$RUN/trained.jsonl")
  expect $((LEASE_S + MARGIN)) s3_progress "no progress within $((LEASE_S + MARGIN))s of restoring the learner's link" trained_ge $((n0 + 1))
  all_hb() { hb_back "$HB_A1" && hb_back "zerorl:worker:$JOB:actor:actor-2" && hb_back "zerorl:worker:$JOB:reward:reward-1"; }
  expect $((HB_TTL_S + MARGIN)) s3_hb_all "not every worker heartbeat is in Redis $((HB_TTL_S + MARGIN))s after the learner's link came back" all_hb
  sleep 2
  mark s3_end
fi

# ---- the end of the job ----------------------------------------------------------------------
log "scenarios over at $(lines_of "$RUN/trained.jsonl")/$TASKS groups; waiting for the job to end"
wait_learner 300
mark main_end
kill "$MONPID" 2>/dev/null
wait "$MONPID" 2>/dev/null
MONPID=0
if [ "$LEARNER_RC" = -1 ]; then
  fail "the job did not end within 300 s after the scenarios ($(lines_of "$RUN/trained.jsonl")/$TASKS groups)"
  kill -TERM "${PID[learner]}"
  wait_learner 15
elif [ "$LEARNER_RC" != 0 ]; then
  fail "the learner exited $LEARNER_RC (see $RUN/learner.log)"
fi
STATE=$(rcli hget "zerorl:job:$JOB" state)
[ "$STATE" = "done" ] || fail "job state is '$STATE', want done"
JOB_DONE=0
[ "$LEARNER_RC" = 0 ] && JOB_DONE=1
check_deaths
stop_workers

CHECK=$(zr_trained_check "$RUN" "$TASKFILE" "$G" "$JOB_DONE")
log "trained.jsonl: $CHECK"
zr_trained_assert "$CHECK" "$TASKS" "$JOB_DONE"

# ---- timings: stalls per scenario against their bounds ---------------------------------------
REPORT=$(python3 - "$WORK/monitor.jsonl" "$EVENTS" "$RUN/learner.log" "$LEASE_S" "$SCORE_S" "$HB_TTL_S" "$CUT1_S" "$CUT3_MS" "$MARGIN" <<'PY'
import calendar, json, re, sys, time
mon, evf, llog = sys.argv[1:4]
lease, score, ttl, cut1, cut3, margin = (float(x) for x in sys.argv[4:10])
cut3 /= 1000.0
recs = [json.loads(l) for l in open(mon)]
ev = {}
for line in open(evf):
    t, name = line.split()[:2]
    ev.setdefault(name, float(t))
inc = [r["t"] for a, r in zip(recs, recs[1:]) if r["n"] > a["n"]]
gaps = list(zip(inc, inc[1:]))
def stall(a, b):  # longest gap between two trained groups that overlaps [a, b]
    m = 0.0
    for x, y in gaps:
        if y >= a and x <= b: m = max(m, y - x)
    return m
def n_at(t):  # groups trained by time t (last sample at or before t)
    n = 0
    for r in recs:
        if r["t"] > t: break
        n = r["n"]
    return n
def trained_between(a, b):
    return n_at(b) - n_at(a)
def hb_missing(worker, a, b):  # samples in [a, b] in which worker's heartbeat key was absent
    return sum(1 for r in recs if a <= r["t"] <= b and r.get(worker) == 0)
def logtime(line):
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", line)
    if not m: return None
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) + float(m.group(2) or 0)
def first_log(pattern, after):
    for line in open(llog, errors="replace"):
        if re.search(pattern, line):
            t = logtime(line)
            if t is not None and t >= after: return t
    return None
def count_log(pattern, a, b):
    c = 0
    for line in open(llog, errors="replace"):
        if re.search(pattern, line):
            t = logtime(line)
            if t is not None and a <= t <= b: c += 1
    return c
out, fails = [], []
def row(name, value, bound, what):
    if value is None:
        out.append("%-44s %8s  (bound %5.1fs)  %s" % (name, "never", bound, what)); fails.append(name + ": never happened"); return
    ok = value <= bound
    out.append("%-44s %7.2fs  (bound %5.1fs) %s %s" % (name, value, bound, "ok  " if ok else "OVER", what))
    if not ok: fails.append("%s: %.2fs > %.1fs" % (name, value, bound))
def info(name, text): out.append("%-44s %s" % (name, text))
info("no-fault gap (main job, warm-up)", "%.2fs" % stall(ev["main_start"], ev.get("warm_end", ev["main_start"])))
if "s1_cut" in ev:
    c, r, e = ev["s1_cut"], ev.get("s1_restore"), ev.get("s1_end", ev.get("s1_restore"))
    row("s1 actor1 heartbeat key gone after cut", ev["s1_hb_gone"] - c if "s1_hb_gone" in ev else None, ttl + margin, "heartbeat_ttl + margin")
    left = first_log(r"event worker_left: actor actor-1", c)
    row("s1 learner drops actor-1, re-issues leases", left - c if left else None, lease + margin, "lease + margin")
    exp = first_log(r"event lease_expired: .*worker actor-1", c)
    info("s1 first lease of actor-1 expired after", "%.2fs" % (exp - c) if exp else "none (no lease held)")
    info("s1 groups trained while actor1 was cut", "%d (by actor2 alone)" % trained_between(c, r))
    if trained_between(c, r) == 0: fails.append("s1: nothing trained while actor1 was cut")
    for w in ("actor-2", "reward-1"):
        miss = hb_missing(w, c, r)
        if miss: fails.append("s1: %s's heartbeat key was missing in %d samples while only actor1 was cut" % (w, miss))
    info("s1 other heartbeats while actor1 was cut", "actor-2 and reward-1 present in every sample" if not any(hb_missing(w, c, r) for w in ("actor-2", "reward-1")) else "MISSING")
    row("s1 longest stall, cut..rejoin", stall(c, e), lease + margin, "lease + margin")
    if r:
        row("s1 actor1 heartbeat back after restore", ev["s1_hb_back"] - r if "s1_hb_back" in ev else None, cut1 + lease + margin, "cut (TCP back-off) + lease + margin")
        joined = first_log(r"event worker_joined: actor actor-1", r)
        row("s1 learner hears actor-1 again after restore", joined - r if joined else None, cut1 + lease + margin, "cut (TCP back-off) + lease + margin")
        row("s1 actor1 sends rollouts again after restore", ev["s1_a1_sends"] - r if "s1_a1_sends" in ev else None, cut1 + lease + margin, "cut (TCP back-off) + lease + margin")
if "s2_impair" in ev:
    a, r, e = ev["s2_impair"], ev.get("s2_restore"), ev.get("s2_end", ev.get("s2_restore"))
    span = r - a
    info("s2 groups trained under delay+loss", "%d in %.1fs (%.1f/s; %.1f/s in the 4 s before)" % (trained_between(a, r), span,
         trained_between(a, r) / span, trained_between(a - 4, a) / 4.0))
    if trained_between(a, r) == 0: fails.append("s2: nothing trained under delay+loss")
    row("s2 longest stall, impaired..end", stall(a, e), score + 5 + margin, "score_deadline + 5 s (re-issue) + margin")
    info("s2 score attempts re-issued (score_timeout)", "%d" % count_log(r"event score_timeout", a, e))
    info("s2 reward-1 heartbeat absent", "%.1fs of %.1fs" % (0.1 * hb_missing("reward-1", a, r), span))
if "s3_cut" in ev:
    c, r, e = ev["s3_cut"], ev.get("s3_restore"), ev.get("s3_end", ev.get("s3_restore"))
    row("s3 longest stall, cut..end", stall(c, e), cut3 + lease + margin, "cut + lease + margin")
    row("s3 progress after restore", ev["s3_progress"] - r if "s3_progress" in ev else None, lease + margin, "lease + margin")
    row("s3 every heartbeat present after restore", ev["s3_hb_all"] - r if "s3_hb_all" in ev else None, ttl + margin, "heartbeat_ttl + margin")
    info("s3 leases expired / workers dropped", "%d / %d" % (count_log(r"event lease_expired", c, e), count_log(r"event worker_left", c, e)))
tail_end = ev.get("main_end", recs[-1]["t"])
info("longest stall in the whole main job", "%.2fs" % stall(ev["main_start"] + 0.001, tail_end) if gaps else "-")
print("\n".join(out))
print("FAILS " + json.dumps(fails))
PY
)
echo "==== netns timings (bounds: lease ${LEASE_S}s, score_deadline ${SCORE_S}s, heartbeat_ttl ${HB_TTL_S}s, margin ${MARGIN}s) ===="
echo "$REPORT" | grep -v '^FAILS '
FAILS=$(echo "$REPORT" | sed -n 's/^FAILS //p')
if [ -z "$FAILS" ]; then
  fail "the timing analysis failed"
elif [ "$FAILS" != "[]" ]; then
  fail "time bounds: $FAILS"
fi
echo "delay/loss emulation: $EMUL_TEXT"
echo "  its effect: reward host -> learner host PING round trip ${RTT_BEFORE:-?} before, ${RTT_DURING:-?} impaired; ${IMPAIR_STATS:-}"
echo "calibration: $RATE groups/s; main job: $TASKS tasks, $(zr_json_field "$CHECK" lines 2>/dev/null) groups trained, state '$STATE', wall $(elapsed)s"
echo "result: $([ "$FAIL" -eq 0 ] && echo PASS || echo "FAIL ($FAIL)"), work dir $WORK$([ "$FAIL" -eq 0 ] && [ "$KEEP" -eq 0 ] && echo ' (removed)')"
[ "$FAIL" -eq 0 ]
