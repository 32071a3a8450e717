#!/usr/bin/env bash
# weight_dist.sh: drives bench/weight_dist (see the top of bench/weight_dist.c) and measures the
# TCP bandwidth with iperf3 in the same run (apt-get install iperf3). Results: docs/scale.md,
# "Weight distribution".
#
#   bench/weight_dist.sh loopback BUILD_DIR
#       one publisher, 1/8/32 receivers over 127.0.0.1; 100 MB (3 rounds) and 1 GB (ROUNDS_1G,
#       default 1); iperf3 over loopback before and after.
#   bench/weight_dist.sh relay BUILD_DIR        (root: network namespaces)
#       every process is a "host" in its own network namespace on a bridge, each host's link
#       shaped to RATE (default 200mbit) each way with tbf, so the publisher's link is the
#       fan-out bottleneck like a real NIC; SIZE (default 32000000) to 1/4/8/16/32 receivers
#       without and with the relay tree (FANOUT, default 2); iperf3 over one host's link.
#
# Environment: ACTORS (list), ROUNDS, SIZE, RATE, FANOUT, CHUNK, TIMEOUT_MS.
set -euo pipefail
mode=${1:?usage: weight_dist.sh loopback|relay BUILD_DIR}
build=${2:?usage: weight_dist.sh loopback|relay BUILD_DIR}
bin=$build/bench/weight_dist
[ -x "$bin" ] || { echo "no $bin: cmake --build $build --target weight_dist" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "iperf3 missing: apt-get install -y iperf3" >&2; exit 1; }

# iperf3 -c ... -J: the receiver-side bits/s as Gbit/s
iperf_gbps() { python3 -c 'import json,sys; print("%.3f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'; }

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$mode" = loopback ]; then
  iperf3 -s -1 -B 127.0.0.1 -p 15201 >/dev/null 2>&1 &
  sleep 0.5
  bw1=$(iperf3 -c 127.0.0.1 -p 15201 -t 5 -J | iperf_gbps)
  echo "# iperf3 loopback (before): $bw1 Gbit/s"
  first=--header
  for size in ${SIZES:-100000000 1000000000}; do
    rounds=${ROUNDS:-3}
    [ "$size" -ge 500000000 ] && rounds=${ROUNDS_1G:-1}
    for n in ${ACTORS:-1 8 32}; do
      "$bin" --size "$size" --actors "$n" --rounds "$rounds" --iperf-gbps "$bw1" $first
      first=
    done
  done
  iperf3 -s -1 -B 127.0.0.1 -p 15201 >/dev/null 2>&1 &
  sleep 0.5
  bw2=$(iperf3 -c 127.0.0.1 -p 15201 -t 5 -J | iperf_gbps)
  echo "# iperf3 loopback (after): $bw2 Gbit/s (the table's ratio uses the first)"
  exit 0
fi

[ "$mode" = relay ] || { echo "mode is loopback or relay" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "relay mode needs root (ip netns)" >&2; exit 1; }
rate=${RATE:-200mbit}
size=${SIZE:-32000000}
fanout=${FANOUT:-2}
actors=${ACTORS:-1 4 8 16 32}
max=0
for n in $actors; do [ "$n" -gt "$max" ] && max=$n; done
pfx=wd$$
br=wdbr$$
hosts="pub $(seq 0 $((max - 1)))"
cleanup() {
  for h in $hosts; do ip netns del "$pfx-$h" 2>/dev/null || true; done
  ip link del "$br" 2>/dev/null || true
}
trap cleanup EXIT
ip link add "$br" type bridge
ip link set "$br" up
k=1
for h in $hosts; do
  ns=$pfx-$h
  ip netns add "$ns"
  ip link add "wh$$-$k" type veth peer name "wb$$-$k"
  ip link set "wh$$-$k" netns "$ns"
  ip link set "wb$$-$k" master "$br" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "10.77.$((k / 250)).$((k % 250 + 1))/16" dev "wh$$-$k"
  ip -n "$ns" link set "wh$$-$k" up
  # the host's upload (its side's egress) and download (the bridge side's egress)
  ip netns exec "$ns" tc qdisc add dev "wh$$-$k" root tbf rate "$rate" burst 256kb latency 100ms
  tc qdisc add dev "wb$$-$k" root tbf rate "$rate" burst 256kb latency 100ms
  k=$((k + 1))
done
# host 1 = publisher (10.77.0.2), receiver i = host i + 2 (10.77.0.(i+3)): --ip-fmt with %d = host + 1
ipfmt="10.77.0.%d"
[ "$max" -lt 240 ] || { echo "at most 240 receivers" >&2; exit 2; }
ipf() { printf "10.77.0.%d" $(($1 + 1)); }
ip netns exec "$pfx-pub" iperf3 -s -1 -B "$(ipf 1)" -p 15201 >/dev/null 2>&1 &
sleep 0.5
bw=$(ip netns exec "$pfx-0" iperf3 -c "$(ipf 1)" -p 15201 -t 5 -J | iperf_gbps)
echo "# one host's link: tbf $rate each way; iperf3 receiver 0 -> publisher: $bw Gbit/s; version $size bytes"
first=--header
for relay in 0 "$fanout"; do
  for n in $actors; do
    "$bin" --size "$size" --actors "$n" --rounds "${ROUNDS:-3}" --iperf-gbps "$bw" --netns "$pfx" \
      --ip-fmt "$ipfmt" --relay "$relay" --chunk "${CHUNK:-1048576}" --timeout-ms "${TIMEOUT_MS:-10000}" $first
    first=
  done
done
